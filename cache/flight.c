/* flight.c - single-flight records: while one leader computes a (key, fmt), the other askers wait on it instead of running the same query. */
#include "flight.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <utlist.h>

/* Referenced by the list (until flight_end) and by each waiter (until it wakes); the last reference
 * frees it, so a waiter never touches freed memory however late it is scheduled. refs and done are
 * guarded by the caller's mutex. */
struct flight {
    struct flight *prev, *next;
    pthread_cond_t cv;
    uint64_t       h;
    int            fmt, refs, done;
    size_t         klen;
    char           key[];
};

flight *flight_find(flight *list, const char *key, size_t klen, uint64_t h, int fmt)
{
    flight *f;
    DL_FOREACH(list, f)
        if (f->h == h && f->fmt == fmt && f->klen == klen && memcmp(f->key, key, klen) == 0)
            return f;
    return NULL;
}

flight *flight_start(flight **list, const char *key, size_t klen, uint64_t h, int fmt)
{
    flight *f = malloc(sizeof *f + klen);
    if (!f)
        return NULL;
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC); /* the wait's deadline ignores clock changes */
    int rc = pthread_cond_init(&f->cv, &ca);
    pthread_condattr_destroy(&ca);
    if (rc != 0) {
        free(f);
        return NULL;
    }
    f->h = h;
    f->fmt = fmt;
    f->refs = 1;
    f->done = 0;
    f->klen = klen;
    memcpy(f->key, key, klen);
    DL_APPEND(*list, f);
    return f;
}

/* Drop a reference; the last one frees. */
static void unref(flight *f)
{
    if (--f->refs == 0) {
        pthread_cond_destroy(&f->cv);
        free(f);
    }
}

int flight_waiters(flight *list, const char *key, size_t klen, uint64_t h, int fmt)
{
    flight *f = flight_find(list, key, klen, h, fmt);
    return f ? f->refs - 1 : 0; /* the list holds one reference, each waiter one more */
}

void flight_end(flight **list, const char *key, size_t klen, uint64_t h, int fmt)
{
    flight *f = flight_find(*list, key, klen, h, fmt);
    if (!f)
        return;
    DL_DELETE(*list, f);
    f->done = 1;
    pthread_cond_broadcast(&f->cv);
    unref(f);
}

int flight_wait(flight *f, pthread_mutex_t *mu, int timeout_s)
{
    struct timespec dl;
    clock_gettime(CLOCK_MONOTONIC, &dl);
    dl.tv_sec += timeout_s;
    f->refs++;
    int rc = 0;
    while (!f->done && rc != ETIMEDOUT)
        rc = pthread_cond_timedwait(&f->cv, mu, &dl);
    int finished = f->done;
    unref(f);
    return finished;
}

void flight_free_all(flight **list)
{
    flight *f, *tmp;
    DL_FOREACH_SAFE(*list, f, tmp) {
        DL_DELETE(*list, f);
        pthread_cond_destroy(&f->cv);
        free(f);
    }
}
