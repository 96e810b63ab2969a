/* engine.h - the load engine: N threads, each with its own event_base, driving pipelined connections and timing every response. */
#ifndef BENCH_ENGINE_H
#define BENCH_ENGINE_H

#include <stdint.h>

#include "hist.h"

struct evbuffer;

typedef enum eng_proto { ENG_LINE, ENG_REDIS } eng_proto;

/* A request generator. conn_init runs once per connection on its thread and returns that
 * connection's private state (so generators need no locks); next appends one request to out and
 * returns how many replies frame it: status lines (+/-) for the line protocol, RESP replies for
 * redis. next returns 0 when it has nothing more to send (populate's last chunk). */
typedef struct eng_gen {
    void  *ud;
    void *(*conn_init)(void *ud, int conn_index);
    void  (*conn_free)(void *ud, void *cs);
    int   (*next)(void *ud, void *cs, struct evbuffer *out);
} eng_gen;

/* One progress sample, about 4 times a second. */
typedef struct eng_tick {
    double   elapsed;      /* seconds since the start, warm-up included */
    int      measuring;    /* 0 during warm-up */
    double   rps;          /* completions per second over the last interval */
    uint64_t p99_us;       /* p99 over the last interval */
    uint64_t errors;
} eng_tick;

typedef struct eng_config {
    const char *host;
    int         port;
    int         threads;
    int         connections;  /* in total, spread over the threads */
    int         depth;        /* requests in flight per connection */
    double      warmup;       /* seconds before measuring starts */
    double      duration;     /* seconds measured; <= 0: see requests */
    uint64_t    requests;     /* requests measured when duration <= 0; 0 = until next() returns 0 */
    double      drain_timeout;/* seconds to wait for replies still in flight at the end */
    eng_proto   proto;
    eng_gen     gen;
    void      (*tick)(void *ud, const eng_tick *t);  /* may be NULL */
    void       *tick_ud;
} eng_config;

typedef struct eng_result {
    hist     lat;              /* latency of the measured requests, microseconds */
    uint64_t requests;         /* measured: sent after warm-up, answered inside the window */
    double   seconds;          /* length of the measured window */
    uint64_t sent;             /* every request sent, warm-up and drain included */
    uint64_t completed;        /* every request answered */
    uint64_t errors;           /* answered requests with at least one -ERR (or RESP error) */
    uint64_t lost;             /* sent but never answered (connection lost, drain timeout) */
    int      conn_failures;    /* connections that failed or were closed by the server */
    char     first_error[256]; /* the first error seen, for the user */
} eng_result;

/* Run to completion; returns 0 when every connection could be opened, -1 when none could. */
int  eng_run(const eng_config *cfg, eng_result *res);
double eng_now(void);   /* monotonic seconds */

#endif
