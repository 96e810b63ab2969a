/* report.c - printing results: the human table, the batch table, JSON and CSV. */
#include "report.h"

#include <math.h>
#include <string.h>

const char *report_fmt_us(uint64_t us, char *out, size_t n)
{
    if (us < 1000)
        snprintf(out, n, "%lluus", (unsigned long long)us);
    else if (us < 1000000)
        snprintf(out, n, "%.2fms", (double)us / 1e3);
    else
        snprintf(out, n, "%.2fs", (double)us / 1e6);
    return out;
}

static void label(const report_row *r, char *out, size_t n)
{
    if (isnan(r->param))
        snprintf(out, n, "%s", r->workload);
    else if (strcmp(r->workload, "batch") == 0)
        snprintf(out, n, "batch %g", r->param);
    else
        snprintf(out, n, "%s %g", r->workload, r->param);
    if (strcmp(r->protocol, "line") != 0) {
        size_t l = strlen(out);
        snprintf(out + l, n - l, " (%s)", r->protocol);
    }
}

void report_table(FILE *f, const report_row *rows, int n)
{
    fprintf(f, "%-20s %5s %5s %10s %11s %11s %8s %8s %8s %8s %8s %7s %6s\n", "workload", "conns", "depth",
            "requests", "requests/s", "queries/s", "p50", "p90", "p99", "p99.9", "max", "errors", "hits");
    for (int i = 0; i < n; i++) {
        const report_row *r = &rows[i];
        char l[64], a[16], b[16], c[16], d[16], e[16], h[16];
        label(r, l, sizeof l);
        if (isnan(r->hit_ratio))
            snprintf(h, sizeof h, "-");
        else
            snprintf(h, sizeof h, "%.1f%%", r->hit_ratio * 100);
        fprintf(f, "%-20s %5d %5d %10llu %11.0f %11.0f %8s %8s %8s %8s %8s %7llu %6s\n", l, r->connections,
                r->depth, (unsigned long long)r->requests, r->rps, r->qps, report_fmt_us(r->p50, a, sizeof a),
                report_fmt_us(r->p90, b, sizeof b), report_fmt_us(r->p99, c, sizeof c),
                report_fmt_us(r->p999, d, sizeof d), report_fmt_us(r->max, e, sizeof e),
                (unsigned long long)(r->errors + r->lost), h);
    }
}

/* The design notes' table: time per request is the mean latency of one BATCH, per-query time that
 * divided by the batch size, and queries/s the batch size times requests/s. */
void report_batch_table(FILE *f, const report_row *rows, int n)
{
    fprintf(f, "%10s %12s %16s %16s %12s %10s\n", "batch size", "requests/s", "time/request", "per-query time",
            "queries/s", "p99");
    for (int i = 0; i < n; i++) {
        const report_row *r = &rows[i];
        char a[16], b[16];
        double per_q = r->qpr > 0 ? r->mean / r->qpr : 0;
        char pq[24];
        if (per_q < 10)
            snprintf(pq, sizeof pq, "%.2fus", per_q);
        else
            report_fmt_us((uint64_t)(per_q + 0.5), pq, sizeof pq);
        fprintf(f, "%10d %12.0f %16s %16s %12.0f %10s\n", r->qpr, r->rps,
                report_fmt_us((uint64_t)(r->mean + 0.5), a, sizeof a), pq, r->qps,
                report_fmt_us(r->p99, b, sizeof b));
    }
}

static void json_str(FILE *f, const char *s)
{
    fputc('"', f);
    for (; *s; s++) {
        unsigned char ch = (unsigned char)*s;
        if (ch == '"' || ch == '\\')
            fprintf(f, "\\%c", ch);
        else if (ch < 0x20)
            fprintf(f, "\\u%04x", ch);
        else
            fputc(ch, f);
    }
    fputc('"', f);
}

static void json_num(FILE *f, double v)
{
    if (isnan(v) || isinf(v))
        fputs("null", f);
    else if (v == floor(v) && fabs(v) < 1e15)
        fprintf(f, "%.0f", v);
    else
        fprintf(f, "%.6g", v);
}

static void json_i64(FILE *f, int64_t v)
{
    if (v < 0)
        fputs("null", f);
    else
        fprintf(f, "%lld", (long long)v);
}

static void json_pop(FILE *f, const report_populate *p)
{
    fprintf(f, "{\"users\":%llu,\"rows\":%llu,\"first_id\":%llu,\"seconds\":", (unsigned long long)p->users,
            (unsigned long long)p->rows, (unsigned long long)p->first_id);
    json_num(f, p->seconds);
    fputs(",\"users_per_s\":", f);
    json_num(f, p->seconds > 0 ? round((double)p->users / p->seconds) : NAN);
    fputc('}', f);
}

static void json_row(FILE *f, const report_row *r, const report_populate *pop)
{
    fputs("{\"workload\":", f);
    json_str(f, r->workload);
    fputs(",\"protocol\":", f);
    json_str(f, r->protocol);
    if (strcmp(r->workload, "batch") == 0) {
        fprintf(f, ",\"batch_size\":%d", r->qpr);
    } else if (strcmp(r->workload, "mixed") == 0) {
        fputs(",\"hit_ratio_target\":", f);
        json_num(f, r->param);
    }
    fprintf(f, ",\"threads\":%d,\"connections\":%d,\"depth\":%d,\"queries_per_request\":%d,\"requests\":%llu,",
            r->threads, r->connections, r->depth, r->qpr, (unsigned long long)r->requests);
    fputs("\"seconds\":", f);
    json_num(f, r->seconds);
    fputs(",\"requests_per_s\":", f);
    json_num(f, round(r->rps));
    fputs(",\"queries_per_s\":", f);
    json_num(f, round(r->qps));
    fprintf(f, ",\"latency_us\":{\"p50\":%llu,\"p90\":%llu,\"p99\":%llu,\"p99_9\":%llu,\"max\":%llu,\"mean\":",
            (unsigned long long)r->p50, (unsigned long long)r->p90, (unsigned long long)r->p99,
            (unsigned long long)r->p999, (unsigned long long)r->max);
    json_num(f, round(r->mean * 10) / 10);
    fputc('}', f);
    if (strcmp(r->workload, "batch") == 0) {
        fputs(",\"time_per_request_us\":", f);
        json_num(f, round(r->mean * 10) / 10);
        fputs(",\"per_query_us\":", f);
        json_num(f, r->qpr ? round(r->mean / r->qpr * 1000) / 1000 : NAN);
    }
    fprintf(f, ",\"sent\":%llu,\"completed\":%llu,\"errors\":%llu,\"lost\":%llu,\"connection_failures\":%d,",
            (unsigned long long)r->sent, (unsigned long long)r->completed, (unsigned long long)r->errors,
            (unsigned long long)r->lost, r->conn_failures);
    fputs("\"hit_ratio\":", f);
    json_num(f, isnan(r->hit_ratio) ? NAN : round(r->hit_ratio * 1e6) / 1e6);
    fputs(",\"stats_delta\":", f);
    if (r->have_stats) {
        fputs("{\"queries\":", f);
        json_i64(f, r->d_queries);
        fputs(",\"reads\":", f);
        json_i64(f, r->d_reads);
        fputs(",\"writes\":", f);
        json_i64(f, r->d_writes);
        fputs(",\"errors\":", f);
        json_i64(f, r->d_errors);
        fputs(",\"cache_hits\":", f);
        json_i64(f, r->d_hits);
        fputs(",\"cache_misses\":", f);
        json_i64(f, r->d_misses);
        fputc('}', f);
    } else {
        fputs("null", f);
    }
    fprintf(f, ",\"tool_sent\":{\"queries\":%llu,\"reads\":%llu,\"writes\":%llu}",
            (unsigned long long)r->tool_queries, (unsigned long long)r->tool_reads, (unsigned long long)r->tool_writes);
    if (pop && pop->done) {
        fputs(",\"populate\":", f);
        json_pop(f, pop);
    }
    fputs(",\"first_error\":", f);
    if (r->first_error[0])
        json_str(f, r->first_error);
    else
        fputs("null", f);
    fputc('}', f);
}

void report_json(FILE *f, const report_row *rows, int n, int array, const report_populate *pop)
{
    if (n == 0) {   /* populate alone */
        fputs("{\"workload\":\"populate\",\"populate\":", f);
        if (pop && pop->done)
            json_pop(f, pop);
        else
            fputs("null", f);
        fputs("}\n", f);
        return;
    }
    if (array)
        fputc('[', f);
    for (int i = 0; i < n; i++) {
        if (i)
            fputc(',', f);
        json_row(f, &rows[i], i == 0 ? pop : NULL);
    }
    if (array)
        fputc(']', f);
    fputc('\n', f);
}

void report_csv(FILE *f, const report_row *rows, int n)
{
    fputs("workload,param,protocol,threads,connections,depth,queries_per_request,requests,seconds,requests_per_s,"
          "queries_per_s,p50_us,p90_us,p99_us,p999_us,max_us,mean_us,errors,lost,hit_ratio\n", f);
    for (int i = 0; i < n; i++) {
        const report_row *r = &rows[i];
        fprintf(f, "%s,", r->workload);
        if (!isnan(r->param))
            fprintf(f, "%g", r->param);
        fprintf(f, ",%s,%d,%d,%d,%d,%llu,%.3f,%.0f,%.0f,%llu,%llu,%llu,%llu,%llu,%.1f,%llu,%llu,", r->protocol,
                r->threads, r->connections, r->depth, r->qpr, (unsigned long long)r->requests, r->seconds, r->rps,
                r->qps, (unsigned long long)r->p50, (unsigned long long)r->p90, (unsigned long long)r->p99,
                (unsigned long long)r->p999, (unsigned long long)r->max, r->mean, (unsigned long long)r->errors,
                (unsigned long long)r->lost);
        if (!isnan(r->hit_ratio))
            fprintf(f, "%.6f", r->hit_ratio);
        fputc('\n', f);
    }
}
