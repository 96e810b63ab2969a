/* svg.h - a dependency-free chart: requests/s (left axis) and p99 latency (right axis) against one variable. */
#ifndef BENCH_SVG_H
#define BENCH_SVG_H

/* Write FILE.svg with two polylines over the same x values; logx for batch sizes. 0, or -1 (errno). */
int svg_plot(const char *path, const char *title, const char *xlabel, int logx,
             const double *x, const double *rps, const double *p99_ms, int n);

#endif
