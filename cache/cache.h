/* cache.h - the result cache: tier 1 a sharded hash-indexed hot map, tier 2 an in-memory SQLite database, table versions, single flight, key-value tier. */
#ifndef LC_CACHE_H
#define LC_CACHE_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "lineproto.h"

typedef struct cache cache;

#define CACHE_MAX_TABLES 32 /* a read of more tables is not cached */
#define CACHE_NFMT 4        /* encoding slots per entry: line TSV, line JSON, and room for PostgreSQL */

typedef struct cache_config {
    int64_t hot_bytes;       /* tier 1 cap, real bytes including overhead */
    int64_t max_bytes;       /* tier 2 cap */
    int64_t max_entry_bytes; /* a result larger than this is not cached at all */
    int64_t hot_entry_bytes; /* a result larger than this skips tier 1 and lives in tier 2 only */
    int     shards;          /* tier 1 shards (a power of two), each with its own lock */
    int     admit_repeat;    /* admission: when storing would evict, store only a key seen before (cache_put) */
    int     demote_min_us;   /* tier 2 takes an evicted result only if it took this long to compute */
} cache_config;

cache *cache_new(const cache_config *cfg, char *err, size_t errlen);
void   cache_free(cache *c);
/* Change cfg's max_entry_bytes while the cache is in use (a reload); entries already stored stay. */
void   cache_set_max_entry_bytes(cache *c, int64_t n);

/* ---- table versions ------------------------------------------------------------ */

/* Stable id of a table name (ASCII case-insensitive), registered on first sight. Thread-safe. */
int cache_table_id(cache *c, const char *name, size_t len);

/* The versions of a query's tables, read BEFORE the query runs: an entry is served only while
 * every one of them, and the global epoch, is unchanged. */
typedef struct cache_snap {
    int      n;
    int      ids[CACHE_MAX_TABLES];
    uint64_t vers[CACHE_MAX_TABLES];
    uint64_t epoch;
} cache_snap;

void cache_snapshot(cache *c, const int *ids, int n, cache_snap *out);
/* After a commit that changed these tables (the writer, before it acknowledges). */
void cache_bump(cache *c, const int *ids, int n);
/* Everything is stale (DDL, a write by another process). */
void cache_bump_all(cache *c);
/* Versions and the epoch are stamps of one sequence, so "not bumped since" is one comparison.
 * The latest stamp (every bump up to it is visible to the caller), and a snapshot's newest. */
uint64_t cache_stamp(cache *c);
uint64_t cache_snap_newest(const cache_snap *s);

/* ---- results -------------------------------------------------------------------- */

typedef struct cache_fill {
    const char       *key;     /* normalized SQL + parameter values */
    size_t            klen;
    int               fmt;     /* encoding slot, 0 .. CACHE_NFMT-1 */
    const char       *data;    /* the encoded data lines, exactly as a hit sends them */
    size_t            len;
    int64_t           rows;
    const cache_snap *snap;
    int               ttl_s;   /* > 0 */
    const char       *sql;     /* the statement as written, for CACHE KEYS */
    size_t            sql_len;
    /* Optionally a second encoding of the same result, stored in the same entry in one go. */
    int               also;
    int               fmt2;
    const char       *data2;
    size_t            len2;
    /* Optionally the key's cache_key_hash, when the caller has it (saves hashing the key again). */
    int               hashed;
    uint64_t          hash;
    /* Microseconds the result took to compute; 0 = not known (then it is demoted like any other). */
    uint32_t          cost_us;
} cache_fill;

typedef struct cache_hit {
    int64_t rows;
    double  age_s;
    int     tier;  /* 1 or 2 */
    uint64_t newest; /* the newest of the versions and epoch it was stored under (cache_stamp) */
    /* On CACHE_LEAD: admission would turn this key's fill away if it were decided now (the shard
     * is full and the key has not come back). A leader may then skip what only storing needs. */
    int     fill_unlikely;
} cache_hit;

enum cache_result { CACHE_MISS = 0, CACHE_HIT = 1, CACHE_LEAD = 2 };
/* The lead argument of cache_get: look only, lead a miss, or only glance at tier 1 (a fast path
 * that is followed by a real lookup on a miss: not counted). */
enum cache_get_mode { CACHE_LOOK = 0, CACHE_LEAD_MISS = 1, CACHE_PROBE = 2 };

/* Look up (key, fmt). A valid, unexpired hit appends its data to out and fills *hit. On a miss
 * with lead set: if another thread is already computing the same (key, fmt) this waits for it and
 * looks again (counted as a single-flight wait); otherwise the caller becomes the leader
 * (CACHE_LEAD) and must end with cache_put or cache_abandon for that (key, fmt). A plain CACHE_MISS
 * with lead set (a leader slower than 10 s, or no memory for a flight) leaves the caller
 * free to put or abandon as a leader would: either ends the flight, if any, early. */
int  cache_get(cache *c, const char *key, size_t klen, int fmt, buf *out, cache_hit *hit, int lead);
/* cache_get with the key's hash already computed by cache_key_hash. */
int      cache_get_hashed(cache *c, const char *key, size_t klen, uint64_t h, int fmt, buf *out, cache_hit *hit,
                          int lead);
uint64_t cache_key_hash(cache *c, const char *key, size_t klen);
/* A hint: start loading where the hot map keeps the key of hash h (for lookups about to come). */
void     cache_prefetch(cache *c, uint64_t h);
/* Store a result, and its second encoding when f->also (ends the caller's leadership of (key,
 * fmt)). Results over max_entry_bytes, or whose snapshot is already stale, are not stored. */
void cache_put(cache *c, const cache_fill *f);
/* The leader will not store (error, not cacheable): wake the waiters, who then run it themselves. */
void cache_abandon(cache *c, const char *key, size_t klen, int fmt);
/* cache_abandon with the key's cache_key_hash. */
void cache_abandon_hashed(cache *c, const char *key, size_t klen, uint64_t h, int fmt);

/* ---- operations ------------------------------------------------------------------ */

int64_t cache_flush_all(cache *c);                 /* entries dropped */
int64_t cache_flush_table(cache *c, int table_id); /* entries that read the table, dropped */
/* Drop expired and stale entries from both tiers; run it periodically from one thread. Each call
 * visits a slice of tier 1 (see cache_ops.c), so a big cache is covered over several calls. */
void    cache_sweep(cache *c);

typedef struct cache_stats {
    int64_t hits1, hits2, misses;
    int64_t entries1, bytes1, entries2, bytes2;
    int64_t evictions1, evictions2, invalidations, expirations, flight_waits;
    int64_t admission_rejects; /* fills not stored because they would have evicted a key seen only once */
    int64_t kv_keys;
} cache_stats;
void cache_get_stats(cache *c, cache_stats *out);

/* The n entries with most hits, across both tiers, most hit first. */
typedef void (*cache_top_cb)(void *ud, const char *sql, size_t sql_len, int64_t hits, double age_s,
                             int ttl_s, int64_t bytes, int tier);
void cache_top(cache *c, int n, cache_top_cb cb, void *ud);

/* CACHE QUERY: run one read-only statement over the tier-2 database, encoding its rows with the
 * line protocol into out followed by the status line. Returns 0, or -1 with one -ERR line in out. */
int cache_query(cache *c, const char *sql, size_t len, lp_format fmt, buf *out);

/* ---- key-value tier (sessions, API responses) ------------------------------------- */

enum { CACHE_KV_TOO_BIG = -2 };
/* ttl_s < 0: no expiry. Returns 0; CACHE_KV_TOO_BIG when the key or value is over max_entry_bytes;
 * -1 when out of memory or over the cap. */
int     cache_kv_set(cache *c, const char *key, size_t klen, const char *val, size_t vlen, int64_t ttl_s);
/* Appends the value to out; 1 found, 0 absent or expired. */
int     cache_kv_get(cache *c, const char *key, size_t klen, buf *out);
int     cache_kv_del(cache *c, const char *key, size_t klen);                    /* 1 deleted, 0 absent */
int64_t cache_kv_ttl(cache *c, const char *key, size_t klen);                    /* seconds left; -1 none; -2 absent */
int     cache_kv_expire(cache *c, const char *key, size_t klen, int64_t seconds); /* 1 set, 0 absent */

/* Wait until every evicted entry has reached tier 2 (demotion runs on a thread of its own). */
void cache_quiesce(cache *c);

/* Tests only: replace the clock (seconds, monotonic). NULL restores the real one. */
void cache_set_clock(double (*now)(void));

#endif
