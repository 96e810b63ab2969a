/* report.h - one row per measured run, printed as a table, the design notes' batch table, JSON or CSV. */
#ifndef BENCH_REPORT_H
#define BENCH_REPORT_H

#include <stdint.h>
#include <stdio.h>

typedef struct report_row {
    char     workload[16];
    char     protocol[8];
    double   param;          /* batch size or hit-ratio target; NaN when the workload has none */
    int      threads, connections, depth, qpr;
    uint64_t requests;       /* measured */
    double   seconds, rps, qps;
    uint64_t p50, p90, p99, p999, max;   /* microseconds */
    double   mean;
    uint64_t sent, completed, errors, lost;
    int      conn_failures;
    double   hit_ratio;      /* from the STATS delta; NaN when unknown */
    int      have_stats;
    int64_t  d_queries, d_reads, d_writes, d_errors, d_hits, d_misses;   /* -1: not reported */
    uint64_t tool_queries, tool_reads, tool_writes;  /* everything this run sent, set-up included */
    char     first_error[256];
} report_row;

typedef struct report_populate {
    int      done;
    uint64_t users, rows, first_id;
    double   seconds;
} report_populate;

/* "850us", "1.25ms", "2.50s" */
const char *report_fmt_us(uint64_t us, char *out, size_t n);
void report_table(FILE *f, const report_row *rows, int n);
void report_batch_table(FILE *f, const report_row *rows, int n);
void report_json(FILE *f, const report_row *rows, int n, int array, const report_populate *pop);
void report_csv(FILE *f, const report_row *rows, int n);

#endif
