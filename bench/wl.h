/* wl.h - the workloads: which requests each one sends, the set-up it needs (tables, warm keys) and populate. */
#ifndef BENCH_WL_H
#define BENCH_WL_H

#include <stdint.h>

#include "ctl.h"
#include "engine.h"

typedef enum wl_kind {
    WL_HIT, WL_MISS, WL_MIXED, WL_WRITE, WL_NAMED, WL_BATCH, WL_INPROC, WL_NONE
} wl_kind;

typedef struct wl_opts {
    wl_kind  kind;
    int      redis;        /* RESP GET/SET instead of the line protocol */
    uint64_t keys;         /* the hot set: ids 1..keys */
    double   hit_ratio;    /* mixed: the fraction of requests drawn from the hot set */
    int      zipf;         /* hot keys by Zipf (rank r -> id r) instead of uniformly */
    double   zipf_s;
    int      row_bytes;    /* > 0: read bench_kv(id, v) with v of this many bytes, not users */
    int      value_size;   /* write payload; Redis value size */
    int      batch_size;   /* batch: lines per BATCH */
    int      nocache;      /* put the nocache hint on every read */
    int      call;         /* point lookups as `CALL getUserById k` (one prepared statement) */
    const char *query;     /* named: the named query CALLed (getUserById) */
    int      ids;          /* named: > 0 passes a JSON array of this many ids from k on instead of k */
    uint64_t seed;
    int      connections;  /* total, for splitting the cold key sequence between connections */
    /* filled in by wl_setup */
    uint64_t max_id;       /* rows available to cold lookups */
    uint64_t nonce;        /* makes cold statements unique across runs against the same cache */
    char    *value;        /* value_size bytes of payload, NUL-terminated */
} wl_opts;

extern const char *const wl_names[];
wl_kind wl_parse(const char *name);

/* Tables, row counts and warming of the hot set, over a control connection. 0, or -1 with err. */
int     wl_setup(ctl *c, wl_opts *o, char *err, size_t errlen);
void    wl_cleanup(wl_opts *o);
eng_gen wl_gen(wl_opts *o);
/* Queries (statements) in one request: batch_size for batch, else 1. */
int     wl_queries_per_request(const wl_opts *o);
/* Whether the workload's queries are reads (for reconciling with STATS reads/writes). */
int     wl_is_write(const wl_opts *o);

/* Populate: `users` users, each with 2 items and 2 posts, in BATCHes of up to 10,000 users written
 * as multi-row INSERTs, over `conns` connections. 0, or -1 with err. */
typedef struct wl_populate_result {
    uint64_t users, rows, requests, lines, errors;
    uint64_t first_id;
    double   seconds;
    char     first_error[256];
} wl_populate_result;

int wl_populate(const char *host, int port, uint64_t users, int conns, wl_populate_result *res,
                char *err, size_t errlen);

#endif
