/* tier2.h - the cache's second tier: one in-memory SQLite database holding results that fell out of (or never fit) the hot map, and the key-value rows. Internal to cache/. */
#ifndef LC_TIER2_H
#define LC_TIER2_H

#include <sqlite3.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "lineproto.h"

typedef struct tier2 tier2;

/* Decides whether a stored snapshot ("id:version,...;epoch") is stale; called under the tier-2
 * lock, so it must only read atomics. Returns 1 stale, 0 fresh. */
typedef int (*tier2_stale_fn)(void *ud, const char *snap, size_t len);
/* A row filter for tier2_delete_if (same rules as above). Returns 1 to delete. */
typedef int (*tier2_pred_fn)(void *ud, const char *snap, size_t len, double expires_at);

/* One result row, as stored and as read back (pointers are only valid during a callback). */
typedef struct tier2_row {
    const char *key;
    size_t      klen;
    int         fmt;
    const char *value;
    size_t      vlen;
    int64_t     rows;
    double      created_at, expires_at;
    int64_t     hits;
    const char *sql;
    size_t      sql_len;
    const char *tables; /* "name:version,...;epoch", for people */
    size_t      tables_len;
    const char *snap;   /* "id:version,...;epoch", for tier2_stale_fn */
    size_t      snap_len;
    int64_t     bytes;  /* accounted size; set by tier 2 */
} tier2_row;

/* A valid hit: copy what is needed. Return 1 to take the row out of tier 2 (promoted), 0 to keep it. */
typedef int (*tier2_hit_fn)(void *ud, const tier2_row *r);
typedef void (*tier2_row_fn)(void *ud, const tier2_row *r);

typedef struct tier2_stats {
    int64_t entries, bytes, kv_keys, kv_bytes;
    int64_t evictions, expirations, invalidations;
} tier2_stats;

enum { TIER2_MISS = 0, TIER2_HIT = 1 };

tier2 *tier2_new(int64_t max_bytes, int64_t max_value, tier2_stale_fn stale, void *ud, char *err, size_t errlen);
void   tier2_free(tier2 *t);
/* The longest value (tier2_new's max_value) changed: SQLite's length limit grows to fit it, never shrinks. */
void   tier2_set_max_value(tier2 *t, int64_t max_value);

/* The accounted size of a row (key twice: the PRIMARY KEY index holds a copy). */
int64_t tier2_row_bytes(const tier2_row *r);
/* A hint without the lock: 0 means no result of this key (any format) was stored in tier 2 and
 * is still live, as of a moment ago; 1 means it may be there. */
int     tier2_may_have(tier2 *t, const char *key, size_t klen);

/* Store (or replace) a result; evicts least recently used results to stay under the cap.
 * Returns 0, or -1 when it cannot fit. */
int     tier2_put(tier2 *t, const tier2_row *r, double now);
/* Look up (key, fmt); an expired or stale row is deleted and counted. On a hit calls cb, then
 * deletes the row if cb returned 1, else counts the hit on it. Returns TIER2_HIT or TIER2_MISS. */
int     tier2_get(tier2 *t, const char *key, size_t klen, int fmt, double now, tier2_hit_fn cb, void *ud);
int64_t tier2_clear(tier2 *t);                                       /* rows dropped */
int64_t tier2_delete_if(tier2 *t, tier2_pred_fn pred, void *ud);     /* rows dropped */
/* Drop expired and stale results and expired key-value rows; they are counted. */
void    tier2_sweep(tier2 *t, double now);
/* The n rows with most hits, most first. */
void    tier2_top(tier2 *t, int n, tier2_row_fn cb, void *ud);
void    tier2_get_stats(tier2 *t, tier2_stats *out);
/* CACHE QUERY (tier2_query.c): see cache_query in cache.h. */
int     tier2_query(tier2 *t, const char *sql, size_t len, lp_format fmt, buf *out);
/* The connection, with the tier-2 lock held until tier2_unlock; for tier2_query.c only. */
sqlite3 *tier2_lock(tier2 *t);
void     tier2_unlock(tier2 *t);

/* ---- key-value rows (the authoritative copy; the hot map only caches them) ----------------
 * Every change bumps *gen while the tier-2 lock is held, so the hot map can tell whether a value
 * it read is still the latest (see cache.c). expires_at is INFINITY for no expiry. */
int     tier2_kv_set(tier2 *t, const char *key, size_t klen, const char *val, size_t vlen, double expires_at,
                     _Atomic uint64_t *gen, uint64_t *gen_out);
/* 1 found (value appended to out, *expires_at set, *gen_out = *gen at the read), 0 absent or expired. */
int     tier2_kv_get(tier2 *t, const char *key, size_t klen, double now, buf *out, double *expires_at,
                     _Atomic uint64_t *gen, uint64_t *gen_out);
/* 1 deleted a live row, 0 absent or already expired. */
int     tier2_kv_del(tier2 *t, const char *key, size_t klen, double now, _Atomic uint64_t *gen);
/* 1 and *expires_at, or 0 absent or expired. */
int     tier2_kv_expiry(tier2 *t, const char *key, size_t klen, double now, double *expires_at);
/* 1 changed, 0 absent or expired. */
int     tier2_kv_expire(tier2 *t, const char *key, size_t klen, double now, double expires_at, _Atomic uint64_t *gen);

#endif
