/* flight.c - single-flight records: while one leader computes a (key, fmt), the other askers wait on it instead of running the same query. */
#include "flight.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <utlist.h>

/* Referenced by the set's list (until flight_end) and by each waiter (until it wakes); the last
 * reference releases it, so a waiter never touches freed memory however late it is scheduled. refs
 * and done are guarded by the caller's mutex. */
struct flight {
    struct flight *prev, *next;
    uint64_t       h;
    int            fmt, refs, done;
    size_t         klen, cap;      /* cap: the bytes key[] has room for */
    char           key[];
};

/* Every miss leads a flight, and nearly every flight ends with nobody waiting on it. So the set
 * keeps one condition variable for all its waiters (a record needs none of its own: no init and
 * destroy per miss), broadcast only when the ending flight has a waiter; a waiter woken for
 * another key's flight looks at its own record's done and sleeps again. And the set keeps the last
 * released record for the next leader, so that a miss costs no allocation for its flight. */
struct flights {
    flight        *list;
    flight        *spare;          /* released, for reuse; NULL when none */
    int            waiting;        /* askers asleep in flight_wait: with none, no record has a waiter */
    pthread_cond_t cv;
};

#define SPARE_MAX_KEY 1024 /* a longer key's record is freed, not kept: the spare stays small */

flights *flights_new(void)
{
    flights *set = calloc(1, sizeof *set);
    if (!set)
        return NULL;
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC); /* the wait's deadline ignores clock changes */
    int rc = pthread_cond_init(&set->cv, &ca);
    pthread_condattr_destroy(&ca);
    if (rc != 0) {
        free(set);
        return NULL;
    }
    return set;
}

void flights_free(flights *set)
{
    if (!set)
        return;
    flight *f, *tmp;
    DL_FOREACH_SAFE(set->list, f, tmp) {
        DL_DELETE(set->list, f);
        free(f);
    }
    free(set->spare);
    pthread_cond_destroy(&set->cv);
    free(set);
}

flight *flight_find(const flights *set, const char *key, size_t klen, uint64_t h, int fmt)
{
    flight *f;
    DL_FOREACH(set->list, f)
        if (f->h == h && f->fmt == fmt && f->klen == klen && memcmp(f->key, key, klen) == 0)
            return f;
    return NULL;
}

flight *flight_start(flights *set, const char *key, size_t klen, uint64_t h, int fmt)
{
    flight *f = set->spare;
    if (f && f->cap >= klen) {
        set->spare = NULL;
    } else {
        size_t cap = klen < 128 ? 128 : klen;
        if (!(f = malloc(sizeof *f + cap)))
            return NULL;
        f->cap = cap;
    }
    f->h = h;
    f->fmt = fmt;
    f->refs = 1;
    f->done = 0;
    f->klen = klen;
    memcpy(f->key, key, klen);
    DL_APPEND(set->list, f);
    return f;
}

/* Drop a reference; the last one keeps the record as the spare, or frees it. */
static void unref(flights *set, flight *f)
{
    if (--f->refs > 0)
        return;
    if (f->cap <= SPARE_MAX_KEY && (!set->spare || set->spare->cap < f->cap)) {
        free(set->spare);
        set->spare = f;
    } else {
        free(f);
    }
}

int flight_waiters(const flights *set, const char *key, size_t klen, uint64_t h, int fmt)
{
    flight *f = set->waiting ? flight_find(set, key, klen, h, fmt) : NULL;
    return f ? f->refs - 1 : 0; /* the list holds one reference, each waiter one more */
}

void flight_end(flights *set, const char *key, size_t klen, uint64_t h, int fmt)
{
    flight *f = flight_find(set, key, klen, h, fmt);
    if (!f)
        return;
    DL_DELETE(set->list, f);
    f->done = 1;
    if (f->refs > 1)
        pthread_cond_broadcast(&set->cv);
    unref(set, f);
}

int flight_wait(flights *set, flight *f, pthread_mutex_t *mu, int timeout_s)
{
    struct timespec dl;
    clock_gettime(CLOCK_MONOTONIC, &dl);
    dl.tv_sec += timeout_s;
    f->refs++;
    set->waiting++;
    int rc = 0;
    while (!f->done && rc != ETIMEDOUT)
        rc = pthread_cond_timedwait(&set->cv, mu, &dl);
    set->waiting--;
    int finished = f->done;
    unref(set, f);
    return finished;
}
