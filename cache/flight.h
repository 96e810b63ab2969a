/* flight.h - single-flight records: while one leader computes a (key, fmt), the other askers wait on it instead of running the same query. Internal to cache/. */
#ifndef LC_FLIGHT_H
#define LC_FLIGHT_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

typedef struct flight  flight;
typedef struct flights flights; /* one shard's records, its waiters' condition variable, a spare */

/* An empty set; NULL when out of memory. flights_free: at teardown, with no waiters left. */
flights *flights_new(void);
void     flights_free(flights *set);

/* Every function below assumes the caller holds the mutex that guards the set (cache.c: the shard
 * lock); flight_wait waits on the set's condition variable with that same mutex. */
flight *flight_find(const flights *set, const char *key, size_t klen, uint64_t h, int fmt);
/* Record a new leader; NULL when out of memory. */
flight *flight_start(flights *set, const char *key, size_t klen, uint64_t h, int fmt);
/* How many askers wait on the (key, fmt) leader's record; 0 when there is none. */
int     flight_waiters(const flights *set, const char *key, size_t klen, uint64_t h, int fmt);
/* The leader is done (stored or gave up): unlist the record and wake every waiter. */
void    flight_end(flights *set, const char *key, size_t klen, uint64_t h, int fmt);
/* Wait until f ends: 1, or 0 after timeout_s seconds. f stays valid while waiting (refcounted). */
int     flight_wait(flights *set, flight *f, pthread_mutex_t *mu, int timeout_s);

#endif
