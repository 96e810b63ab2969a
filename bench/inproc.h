/* inproc.h - the in-process baseline: the same point lookups run straight on SQLite, no server, no network. */
#ifndef BENCH_INPROC_H
#define BENCH_INPROC_H

#include <stdint.h>

#include "hist.h"

typedef struct inproc_config {
    const char *db_path;
    int         threads;
    double      duration;     /* seconds */
    double      warmup;
    uint64_t    keys;         /* 0: every id up to max(id) */
    int         row_bytes;    /* > 0: bench_kv, as the hit workload reads it */
    int         zipf;
    double      zipf_s;
    uint64_t    seed;
} inproc_config;

typedef struct inproc_result {
    hist     lat;             /* per lookup, microseconds */
    uint64_t queries;
    uint64_t errors;          /* lookups that failed (the first one's message in error) */
    double   seconds;
    uint64_t max_id;
    char     error[256];
} inproc_result;

int inproc_run(const inproc_config *cfg, inproc_result *res);

#endif
