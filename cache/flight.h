/* flight.h - single-flight records: while one leader computes a (key, fmt), the other askers wait on it instead of running the same query. Internal to cache/. */
#ifndef LC_FLIGHT_H
#define LC_FLIGHT_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

typedef struct flight flight;

/* Every function here assumes the caller holds the mutex that guards the list (cache.c: the shard
 * lock); flight_wait waits on a condition variable with that same mutex. */
flight *flight_find(flight *list, const char *key, size_t klen, uint64_t h, int fmt);
/* Record a new leader; NULL when out of memory. */
flight *flight_start(flight **list, const char *key, size_t klen, uint64_t h, int fmt);
/* How many askers wait on the (key, fmt) leader's record; 0 when there is none. */
int     flight_waiters(flight *list, const char *key, size_t klen, uint64_t h, int fmt);
/* The leader is done (stored or gave up): unlist the record and wake every waiter. */
void    flight_end(flight **list, const char *key, size_t klen, uint64_t h, int fmt);
/* Wait until f ends: 1, or 0 after timeout_s seconds. f stays valid while waiting (refcounted). */
int     flight_wait(flight *f, pthread_mutex_t *mu, int timeout_s);
/* At teardown, with no waiters left. */
void    flight_free_all(flight **list);

#endif
