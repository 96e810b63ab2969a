/* cache_int.h - what cache.c (the hot map and results) and cache_ops.c (flush, sweep, stats, top, key-value front) share. Internal to cache/: nothing outside cache/ includes it. */
#ifndef LC_CACHE_INT_H
#define LC_CACHE_INT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#include "cache.h"
#include "flight.h"
#include "hidx.h"
#include "tier2.h"
#include "versions.h"

#define SQL_CAP         1024   /* bytes of statement text kept per entry, for CACHE KEYS */
#define COPY_UNDER_LOCK 4096   /* hits up to this size are copied under the shard lock; larger
                                  ones pin the payload and copy after unlocking */
#define FLIGHT_WAIT_S   10     /* a waiter gives up on a leader this slow and runs the query itself */

/* Encoded data of one format. Shared between the entry and readers copying it outside the lock:
 * the entry holds one reference; a reader takes one under the shard lock and drops it when done. */
typedef struct payload {
    _Atomic int refs;
    int64_t     rows;
    size_t      len;
    char        data[];
} payload;

enum { LIVE = 0, EXPIRED, STALE };

/* One key in the hot map: a result (its slots share one snapshot) or a key-value copy (slot 0,
 * no snapshot, kv set). Allocated in one piece with its tail: vers[ntab], ids[ntab], key, sql, and
 * then the small payloads of a fill (bit f of inl: slot f lives in the entry's own allocation, is
 * never pinned, since it is copied under the lock, and goes with the entry). */
typedef struct entry {
    uint64_t       h;                   /* the key's hash, for unlinking from the index */
    uint64_t       stamp;               /* shard tick when last put at the recent end of the LRU */
    struct entry  *lru_prev, *lru_next; /* also the garbage list's link once unlinked */
    payload       *slot[CACHE_NFMT];
    double         created, expires;    /* cache clock; expires is INFINITY for a key without TTL */
    int64_t        hits;
    int64_t        size;                /* real bytes: malloc_usable_size of it and its payloads */
    uint64_t       epoch;
    uint32_t       klen;
    uint32_t       sql_len;
    int16_t        ntab;
    uint8_t        kv;
    uint8_t        demote;              /* evicted alive: goes to tier 2 after the unlock */
    uint8_t        cheap;               /* computed faster than demote_min_us: not worth tier 2 */
    uint8_t        inl;                 /* slots held inside this allocation (bit per format) */
    uint64_t       tail[];
} entry;

static inline uint64_t *e_vers(entry *e) { return e->tail; }
static inline int *e_ids(entry *e) { return (int *)(e->tail + e->ntab); }
static inline char *e_key(entry *e) { return (char *)(e_ids(e) + e->ntab); }
static inline char *e_sql(entry *e) { return e_key(e) + e->klen; }

/* Locking: `lock` guards everything in the shard except kv_gen. A shard lock is never held while
 * taking the tier-2 lock (demotions and tier-2 reads happen after unlocking), nor while taking
 * another shard's lock; the versions' name lock is a leaf. hot_do_*() and the static do_*()
 * functions assume the shard lock; hot_drain() and anything touching tier 2 assume no lock.
 * kv_gen counts key-value writes to this shard's keys, bumped under the tier-2 lock (tier2.c): a
 * hot copy is installed only if no write happened since the value was read (see cache_kv_get).
 * Size bound: cap = hot_bytes / shards. bytes (every entry's real size) plus the two indexes
 * never exceed cap once an insert returns: eviction runs until they fit, and an entry larger than
 * cap is never linked (it goes to tier 2). So tier 1 as a whole stays within hot_bytes, with no
 * per-shard overshoot (only between an insert and its eviction, under the lock). */
typedef struct shard {
    _Alignas(64) pthread_mutex_t lock;
    hidx            *map, *kvmap; /* results by key hash; key-value copies by key hash */
    entry           *lru;         /* utlist DL: head is least recently used; both maps share it */
    hidx            *lru_map;     /* the head's index, hash and successor when it became the head */
    uint64_t         lru_h;       /* (for prefetching only: lru_succ may be stale) */
    entry           *lru_succ;
    flights         *flights;
    size_t           sweep_at[2];  /* where the incremental sweep resumes in map, kvmap */
    int64_t          bytes, results, kvs;
    uint64_t         tick;         /* counts links and moves to the recent end (entry.stamp) */
    int64_t          hits1, misses, evictions, invalidations, expirations, flight_waits, rejects;
    uint32_t        *door;         /* admission: tags of keys turned away once (cache_put) */
    uint32_t         door_mask;
    int64_t          overhead;     /* hot_do_bytes - bytes as of the last hot_do_evict */
    _Atomic uint64_t kv_gen;
} shard;

struct cache {
    cache_config    cfg;
    _Atomic int64_t max_entry_bytes; /* cfg's, until cache_set_max_entry_bytes (a reload) */
    int64_t         shard_cap;
    uint64_t        mask, seed;
    shard          *shards;
    vers           *v;
    tier2          *t2;
    _Atomic int64_t hits2, misses; /* counted outside any lock, on the slower paths (and the
                                      shards' misses: those under their locks) */
    /* Demotion to tier 2 runs on its own thread, so an eviction never puts a SQLite insert on a
     * worker's miss. Locking: dq_lock guards the queue; the thread takes no shard lock. The
     * queue is bounded by DEMOTE_QUEUE_BYTES: past it, evicted entries are simply dropped. */
    pthread_t       demoter;
    int             demoter_started, dq_stop, dq_busy;
    pthread_mutex_t dq_lock;
    pthread_cond_t  dq_wake;
    entry          *dq_head, *dq_tail;
    int64_t         dq_bytes;
};

#define DEMOTE_QUEUE_BYTES (16 << 20)

/* ---- shared helpers (cache.c); hot_do_*() assume the shard lock ------------------------- */

/* The cache clock: seconds of CLOCK_MONOTONIC_COARSE, unless a test set cache_set_clock. */
double   hot_now(void);
/* The key's 64-bit hash: low bits for the shard's index, bits 40.. for the shard. */
uint64_t hot_hash(cache *c, const char *key, size_t klen);
shard   *hot_shard(cache *c, uint64_t h);
/* A payload holding one reference (the creator's); NULL when out of memory. */
payload *hot_payload_new(const char *data, size_t len, int64_t rows);
/* Drop a reference; the last one frees. Any thread, any lock state. */
void     hot_payload_unref(payload *p);
/* A new, unlinked entry without slots; snap NULL for a key-value copy. NULL when out of memory. */
entry   *hot_entry_new(const char *key, size_t klen, const cache_snap *snap, const char *sql, size_t sql_len,
                       double created, double expires, int64_t hits);
/* The payloads of a fill that an entry can carry in its own allocation. */
typedef struct hot_src {
    int         fmt;
    const char *data;
    size_t      len;
    int64_t     rows;
} hot_src;
/* hot_entry_new with slots filled from src[0..n): payloads up to COPY_UNDER_LOCK bytes inside the
 * entry's allocation (one malloc and one free for the whole fill), larger ones on their own. */
entry   *hot_entry_new_filled(const char *key, size_t klen, const cache_snap *snap, const char *sql, size_t sql_len,
                              double created, double expires, const hot_src *src, int n);
/* Recompute e->size from its allocations (do it before linking, or adjust shard bytes around it). */
void     hot_entry_account(entry *e);
/* LIVE, EXPIRED or STALE (a result whose snapshot no longer matches the versions). */
int      hot_state(cache *c, entry *e, double now);
/* Put an unlinked entry on a garbage list, to be freed (and demoted if asked) by hot_drain. */
void     hot_gc_push(entry **gc, entry *e, int demote);
/* Free a garbage list; entries evicted alive go to tier 2 first. Call with no lock held. */
void     hot_drain(cache *c, entry *gc, double now);
/* Copy a payload into out under the lock if small; else pin it in *pin for after the unlock. */
void     hot_do_copy(payload *p, buf *out, payload **pin);
/* The shard's bytes as counted against its cap: entries, its indexes and its admission tags. */
int64_t  hot_do_bytes(shard *s);
entry   *hot_do_find(hidx *map, const char *key, size_t klen, uint64_t h);
/* Take e out of its map and the LRU, and its size off the shard; the caller owns it after. */
void     hot_do_unlink(shard *s, entry *e);
/* Link e (sized) as most recently used; -1, nothing linked, when the index cannot grow. */
int      hot_do_link(shard *s, entry *e, uint64_t h);
/* Make e the most recently used. */
void     hot_do_touch(shard *s, entry *e);
/* Evict from the LRU end until the shard fits its cap; results go on gc marked for demotion. */
void     hot_do_evict(cache *c, shard *s, entry **gc);

#endif
