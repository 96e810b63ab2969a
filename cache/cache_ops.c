/* cache_ops.c - operations over both cache tiers (flush, sweep, stats, top, CACHE QUERY) and the key-value tier's hot front. */
#include "cache_int.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <utlist.h>

#include "topn.h"

/* ---- operations over both tiers ------------------------------------------------------------ */

/* Which entries remove_where drops; it may count them in the shard (it runs under its lock). */
typedef int (*drop_fn)(cache *c, shard *s, entry *e, double now, const void *arg);

/* Remove from every shard, one shard lock at a time, the entries drop() selects; returns how many
 * results it removed (key-value copies are not counted: they are only copies). */
static int64_t remove_where(cache *c, drop_fn drop, const void *arg, double now)
{
    int64_t n = 0;
    for (uint64_t i = 0; i <= c->mask; i++) {
        shard *s = &c->shards[i];
        entry *gc = NULL, *e, *tmp;
        pthread_mutex_lock(&s->lock);
        DL_FOREACH_SAFE2(s->lru, e, tmp, lru_next) /* results and key-value copies alike */
            if (drop(c, s, e, now, arg)) {
                n += !e->kv;
                hot_do_unlink(s, e);
                hot_gc_push(&gc, e, 0);
            }
        pthread_mutex_unlock(&s->lock);
        hot_drain(c, gc, now);
    }
    return n;
}

/* drop_fn: every result (not key-value copies). */
static int drop_result(cache *c, shard *s, entry *e, double now, const void *arg)
{
    (void)c, (void)s, (void)now, (void)arg;
    return !e->kv;
}

/* Drops the results; the key-value tier is data, not cache, and survives a flush. The epoch moves
 * first so that no result computed before the flush can be stored after it. */
int64_t cache_flush_all(cache *c)
{
    vers_bump_all(c->v);
    int64_t n = remove_where(c, drop_result, NULL, hot_now());
    return n + tier2_clear(c->t2);
}

/* ids[0..n) contains id. */
static int has_table(const int *ids, int n, int id)
{
    for (int i = 0; i < n; i++)
        if (ids[i] == id)
            return 1;
    return 0;
}

/* drop_fn: results that read the table *arg. */
static int drop_table(cache *c, shard *s, entry *e, double now, const void *arg)
{
    (void)c, (void)s, (void)now;
    return !e->kv && has_table(e_ids(e), e->ntab, *(const int *)arg);
}

/* tier2_pred_fn: rows that read the table *ud (or whose snapshot does not parse). */
static int t2_has_table(void *ud, const char *snap, size_t len, double expires_at)
{
    cache_snap s;
    (void)expires_at;
    return vers_snap_parse(snap, len, &s) < 0 || has_table(s.ids, s.n, *(int *)ud);
}

/* The table's version moves first, so fills that read it before the flush are refused. */
int64_t cache_flush_table(cache *c, int table_id)
{
    if (table_id < 0 || table_id >= VERS_MAX_TABLES)
        return 0;
    vers_bump(c->v, &table_id, 1);
    int64_t n = remove_where(c, drop_table, &table_id, hot_now());
    return n + tier2_delete_if(c->t2, t2_has_table, &table_id);
}

/* drop_fn: expired or stale entries, counted. */
static int drop_dead(cache *c, shard *s, entry *e, double now, const void *arg)
{
    (void)arg;
    int state = hot_state(c, e, now);
    if (state == LIVE)
        return 0;
    if (!e->kv)
        *(state == EXPIRED ? &s->expirations : &s->invalidations) += 1;
    return 1;
}

/* Index slots one sweep visits in each of a shard's two indexes. */
#define SWEEP_SLOTS 1024

/* Drop the dead entries among the next SWEEP_SLOTS slots of x, resuming at *at. */
static void sweep_index(cache *c, shard *s, hidx *x, size_t *at, double now, entry **gc)
{
    size_t n = hidx_slots(x);
    for (size_t k = 0; k < SWEEP_SLOTS && k < n; k++) {
        size_t i = (*at)++ % n;
        entry *e = hidx_at(x, i);
        if (e && drop_dead(c, s, e, now, NULL)) {
            hot_do_unlink(s, e);
            hot_gc_push(gc, e, 0);
        }
    }
}

/* Bounded work per call: a whole pass over a big tier 1 held each shard lock for milliseconds,
 * once a second, stalling the workers behind it. So each call visits a slice of each shard's
 * indexes, resuming where the last stopped; a small cache is covered in one call, 64 MiB of
 * entries in about eight. Dead entries are also dropped when looked up, and eviction takes the rest. */
void cache_sweep(cache *c)
{
    double now = hot_now();
    for (uint64_t i = 0; i <= c->mask; i++) {
        shard *s = &c->shards[i];
        entry *gc = NULL;
        pthread_mutex_lock(&s->lock);
        sweep_index(c, s, s->map, &s->sweep_at[0], now, &gc);
        sweep_index(c, s, s->kvmap, &s->sweep_at[1], now, &gc);
        pthread_mutex_unlock(&s->lock);
        hot_drain(c, gc, now);
    }
    tier2_sweep(c->t2, now);
}

/* entries1/entries2 count results (a tier-1 entry holds every format of a key, a tier-2 row one);
 * bytes1 is all of tier 1 (results, key-value copies and the hash tables), bytes2 all of tier 2
 * (results and key-value rows), each as counted against its cap. */
void cache_get_stats(cache *c, cache_stats *out)
{
    memset(out, 0, sizeof *out);
    for (uint64_t i = 0; i <= c->mask; i++) {
        shard *s = &c->shards[i];
        pthread_mutex_lock(&s->lock);
        out->hits1 += s->hits1;
        out->misses += s->misses;
        out->entries1 += s->results;
        out->bytes1 += hot_do_bytes(s);
        out->evictions1 += s->evictions;
        out->invalidations += s->invalidations;
        out->expirations += s->expirations;
        out->flight_waits += s->flight_waits;
        out->admission_rejects += s->rejects;
        pthread_mutex_unlock(&s->lock);
    }
    tier2_stats t;
    tier2_get_stats(c->t2, &t);
    out->hits2 = atomic_load_explicit(&c->hits2, memory_order_relaxed);
    out->misses += atomic_load_explicit(&c->misses, memory_order_relaxed);
    out->entries2 = t.entries;
    out->bytes2 = t.bytes + t.kv_bytes;
    out->evictions2 = t.evictions;
    out->invalidations += t.invalidations;
    out->expirations += t.expirations;
    out->kv_keys = t.kv_keys;
}

typedef struct top_ctx {
    topn  *t;
    double now;
} top_ctx;

/* tier2_row_fn: offer a tier-2 row to the top list. */
static void top_t2(void *ud, const tier2_row *r)
{
    top_ctx *x = ud;
    topn_offer(x->t, r->sql, r->sql_len, r->hits, x->now - r->created_at,
               (int)lround(r->expires_at - r->created_at), r->bytes, 2);
}

/* Callbacks run after every lock is released, so they may call back into the cache. */
void cache_top(cache *c, int n, cache_top_cb cb, void *ud)
{
    topn *t = n > 0 ? topn_new(n) : NULL;
    if (!t)
        return;
    double now = hot_now();
    for (uint64_t i = 0; i <= c->mask; i++) {
        shard *s = &c->shards[i];
        entry *e, *tmp;
        pthread_mutex_lock(&s->lock);
        DL_FOREACH_SAFE2(s->lru, e, tmp, lru_next)
            if (!e->kv && topn_wants(t, e->hits))
                topn_offer(t, e_sql(e), e->sql_len, e->hits, now - e->created,
                           (int)lround(e->expires - e->created), e->size, 1);
        pthread_mutex_unlock(&s->lock);
    }
    top_ctx x = { t, now };
    tier2_top(c->t2, n, top_t2, &x);
    topn_emit(t, cb, ud);
    topn_free(t);
}

int cache_query(cache *c, const char *sql, size_t len, lp_format fmt, buf *out)
{
    return tier2_query(c->t2, sql, len, fmt, out);
}

/* ---- key-value tier ---------------------------------------------------------------------------
 * Tier 2's kv table holds every key; the shard's kvmap holds hot copies (slot 0, no snapshot),
 * sharing the shard's LRU and byte cap with results. A write goes to tier 2 first, bumping the
 * shard's kv_gen under the tier-2 lock, then fixes the hot copy: installs its value if kv_gen is
 * still the one it produced (no later write), else just drops the copy. A read that misses the hot
 * map reads tier 2 together with kv_gen and installs its value only if kv_gen has not moved. So a
 * hot copy is only ever the latest value, and every thread sees a write once it has returned. */

/* Longer TTLs are clamped here, so seconds left always fit an int64_t (about 3,000 years). */
#define KV_MAX_TTL ((int64_t)100000000000)

/* Replace the key's hot copy with ne (holding p) if kv_gen is still gen, else just drop the copy.
 * Consumes ne and p (either may be NULL). */
static void kv_install(cache *c, shard *s, uint64_t h, const char *key, size_t klen, entry *ne, payload *p,
                       uint64_t gen, double now)
{
    entry *gc = NULL;
    if (ne && p) {
        ne->slot[0] = p;
        hot_entry_account(ne);
        if (ne->size > c->shard_cap) {
            hot_gc_push(&gc, ne, 0);
            ne = NULL;
        }
    } else {
        if (ne)
            hot_gc_push(&gc, ne, 0);
        hot_payload_unref(p);
        ne = NULL;
    }
    pthread_mutex_lock(&s->lock);
    entry *old = hot_do_find(s->kvmap, key, klen, h);
    if (old) {
        hot_do_unlink(s, old);
        hot_gc_push(&gc, old, 0);
    }
    if (ne) {
        if (atomic_load_explicit(&s->kv_gen, memory_order_acquire) != gen || hot_do_link(s, ne, h) < 0)
            hot_gc_push(&gc, ne, 0);
        else
            hot_do_evict(c, s, &gc);
    }
    pthread_mutex_unlock(&s->lock);
    hot_drain(c, gc, now);
}

/* A hot copy for a value, or NULL when it should not be cached in tier 1. */
static entry *kv_copy(cache *c, const char *key, size_t klen, const char *val, size_t vlen, double now,
                      double expires, payload **p)
{
    *p = NULL;
    if ((int64_t)vlen > c->cfg.hot_entry_bytes || c->shard_cap <= 0)
        return NULL;
    entry *ne = hot_entry_new(key, klen, NULL, NULL, 0, now, expires, 0);
    if (ne && !(*p = hot_payload_new(val, vlen, 0))) {
        free(ne);
        ne = NULL;
    }
    return ne;
}

int cache_kv_set(cache *c, const char *key, size_t klen, const char *val, size_t vlen, int64_t ttl_s)
{
    if (!c || !key || (!val && vlen))
        return -1;
    int64_t max_entry = atomic_load(&c->max_entry_bytes);
    if ((int64_t)vlen > max_entry || (int64_t)klen > max_entry)
        return CACHE_KV_TOO_BIG;
    double now = hot_now();
    double expires = ttl_s < 0 ? INFINITY : now + (double)(ttl_s > KV_MAX_TTL ? KV_MAX_TTL : ttl_s);
    uint64_t h = hot_hash(c, key, klen), gen;
    shard *s = hot_shard(c, h);
    if (tier2_kv_set(c->t2, key, klen, val ? val : "", vlen, expires, &s->kv_gen, &gen) < 0)
        return -1;
    payload *p;
    entry *ne = kv_copy(c, key, klen, val, vlen, now, expires, &p);
    kv_install(c, s, h, key, klen, ne, p, gen, now);
    return 0;
}

/* The hot copy's state: 1 live (value appended to out if given, *expires set), 0 none. An expired
 * copy is dropped. */
static int kv_hot(cache *c, shard *s, uint64_t h, const char *key, size_t klen, double now, buf *out,
                  double *expires)
{
    entry *gc = NULL;
    payload *pin = NULL;
    int found = 0;
    pthread_mutex_lock(&s->lock);
    entry *e = hot_do_find(s->kvmap, key, klen, h);
    if (e && now >= e->expires) {
        hot_do_unlink(s, e);
        hot_gc_push(&gc, e, 0);
    } else if (e) {
        found = 1;
        *expires = e->expires;
        hot_do_touch(s, e);
        if (out)
            hot_do_copy(e->slot[0], out, &pin);
    }
    pthread_mutex_unlock(&s->lock);
    if (pin) {
        buf_append(out, pin->data, pin->len);
        hot_payload_unref(pin);
    }
    hot_drain(c, gc, now);
    return found;
}

int cache_kv_get(cache *c, const char *key, size_t klen, buf *out)
{
    if (!c || !key || !out)
        return 0;
    double now = hot_now(), expires;
    uint64_t h = hot_hash(c, key, klen), gen;
    shard *s = hot_shard(c, h);
    if (kv_hot(c, s, h, key, klen, now, out, &expires))
        return 1;
    size_t start = out->len;
    if (!tier2_kv_get(c->t2, key, klen, now, out, &expires, &s->kv_gen, &gen))
        return 0;
    if (!out->oom) {
        payload *p;
        entry *ne = kv_copy(c, key, klen, out->data + start, out->len - start, now, expires, &p);
        if (ne)
            kv_install(c, s, h, key, klen, ne, p, gen, now);
    }
    return 1;
}

int cache_kv_del(cache *c, const char *key, size_t klen)
{
    if (!c || !key)
        return 0;
    double now = hot_now();
    uint64_t h = hot_hash(c, key, klen);
    shard *s = hot_shard(c, h);
    int n = tier2_kv_del(c->t2, key, klen, now, &s->kv_gen);
    kv_install(c, s, h, key, klen, NULL, NULL, 0, now);
    return n;
}

int64_t cache_kv_ttl(cache *c, const char *key, size_t klen)
{
    if (!c || !key)
        return -2;
    double now = hot_now(), expires;
    uint64_t h = hot_hash(c, key, klen);
    shard *s = hot_shard(c, h);
    if (!kv_hot(c, s, h, key, klen, now, NULL, &expires) && !tier2_kv_expiry(c->t2, key, klen, now, &expires))
        return -2;
    if (isinf(expires))
        return -1;
    /* The slack keeps now + 10 - now, which may come out a hair over 10, at 10. */
    double left = ceil(expires - now - 1e-6);
    return left < 0 ? 0 : (int64_t)left;
}

/* seconds <= 0 expires the key now, as Redis does. */
int cache_kv_expire(cache *c, const char *key, size_t klen, int64_t seconds)
{
    if (!c || !key)
        return 0;
    double now = hot_now();
    uint64_t h = hot_hash(c, key, klen);
    shard *s = hot_shard(c, h);
    int n = tier2_kv_expire(c->t2, key, klen, now, now + (double)(seconds > KV_MAX_TTL ? KV_MAX_TTL : seconds),
                            &s->kv_gen);
    if (n)
        kv_install(c, s, h, key, klen, NULL, NULL, 0, now);
    return n;
}
