/* svg.c - the chart behind --plot, written by hand so that plotting needs no gnuplot. */
#include "svg.h"

#include <math.h>
#include <stdio.h>

#define W 820
#define H 460
#define ML 90   /* margins: room for the axis labels */
#define MR 90
#define MT 50
#define MB 60

/* A round upper bound for an axis: 1, 2 or 5 times a power of ten. */
static double nice_max(double v)
{
    if (v <= 0)
        return 1;
    double p = pow(10, floor(log10(v)));
    double m = v / p;
    return (m <= 1 ? 1 : m <= 2 ? 2 : m <= 5 ? 5 : 10) * p;
}

static double xpos(double v, double lo, double hi, int logx)
{
    double t;
    if (logx)
        t = hi > lo ? (log10(v) - log10(lo)) / (log10(hi) - log10(lo)) : 0.5;
    else
        t = hi > lo ? (v - lo) / (hi - lo) : 0.5;
    return ML + t * (W - ML - MR);
}

static double ypos(double v, double top)
{
    return H - MB - v / top * (H - MT - MB);
}

static void series(FILE *f, const double *x, const double *y, int n, double lo, double hi, int logx,
                   double top, const char *color)
{
    fprintf(f, "<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"2\" points=\"", color);
    for (int i = 0; i < n; i++)
        fprintf(f, "%.1f,%.1f ", xpos(x[i], lo, hi, logx), ypos(y[i], top));
    fputs("\"/>\n", f);
    for (int i = 0; i < n; i++)
        fprintf(f, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"3.5\" fill=\"%s\"/>\n", xpos(x[i], lo, hi, logx),
                ypos(y[i], top), color);
}

int svg_plot(const char *path, const char *title, const char *xlabel, int logx,
             const double *x, const double *rps, const double *p99_ms, int n)
{
    FILE *f = fopen(path, "w");
    if (!f)
        return -1;
    double lo = n ? x[0] : 0, hi = n ? x[0] : 1, rmax = 0, pmax = 0;
    for (int i = 0; i < n; i++) {
        if (x[i] < lo)
            lo = x[i];
        if (x[i] > hi)
            hi = x[i];
        if (rps[i] > rmax)
            rmax = rps[i];
        if (p99_ms[i] > pmax)
            pmax = p99_ms[i];
    }
    if (logx && lo <= 0)
        logx = 0;
    rmax = nice_max(rmax);
    pmax = nice_max(pmax);
    fprintf(f, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" font-family=\"sans-serif\" "
               "font-size=\"12\">\n<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n", W, H);
    fprintf(f, "<text x=\"%d\" y=\"28\" text-anchor=\"middle\" font-size=\"16\">%s</text>\n", W / 2, title);
    /* grid and both y axes: 5 divisions */
    for (int i = 0; i <= 5; i++) {
        double y = ypos(rmax * i / 5, rmax);
        fprintf(f, "<line x1=\"%d\" y1=\"%.1f\" x2=\"%d\" y2=\"%.1f\" stroke=\"#ddd\"/>\n", ML, y, W - MR, y);
        fprintf(f, "<text x=\"%d\" y=\"%.1f\" text-anchor=\"end\" fill=\"#1f5fbf\">%.0f</text>\n", ML - 6, y + 4,
                rmax * i / 5);
        fprintf(f, "<text x=\"%d\" y=\"%.1f\" fill=\"#c0392b\">%.3g</text>\n", W - MR + 6, y + 4, pmax * i / 5);
    }
    /* x labels from the right, skipping one that would overlap the last drawn (0.99 next to 1) */
    double last_label = 1e9;
    for (int i = n - 1; i >= 0; i--) {
        double xp = xpos(x[i], lo, hi, logx);
        fprintf(f, "<line x1=\"%.1f\" y1=\"%d\" x2=\"%.1f\" y2=\"%d\" stroke=\"#eee\"/>\n", xp, MT, xp, H - MB);
        if (fabs(last_label - xp) >= 30) {
            fprintf(f, "<text x=\"%.1f\" y=\"%d\" text-anchor=\"middle\">%g</text>\n", xp, H - MB + 18, x[i]);
            last_label = xp;
        }
    }
    fprintf(f, "<rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" fill=\"none\" stroke=\"#444\"/>\n", ML, MT,
            W - ML - MR, H - MT - MB);
    fprintf(f, "<text x=\"%d\" y=\"%d\" text-anchor=\"middle\">%s%s</text>\n", W / 2, H - 15, xlabel,
            logx ? " (log scale)" : "");
    fprintf(f, "<text transform=\"translate(22,%d) rotate(-90)\" text-anchor=\"middle\" fill=\"#1f5fbf\">"
               "requests/s</text>\n", H / 2);
    fprintf(f, "<text transform=\"translate(%d,%d) rotate(90)\" text-anchor=\"middle\" fill=\"#c0392b\">"
               "p99 latency (ms)</text>\n", W - 22, H / 2);
    series(f, x, rps, n, lo, hi, logx, rmax, "#1f5fbf");
    series(f, x, p99_ms, n, lo, hi, logx, pmax, "#c0392b");
    fputs("</svg>\n", f);
    return fclose(f) == 0 ? 0 : -1;
}
