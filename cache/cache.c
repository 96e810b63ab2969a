/* cache.c - the result cache: tier 1 (a sharded hash-indexed hot map, LRU and byte-capped per shard), lookups with single flight, puts, demotion to and promotion from tier 2. */
#include "cache_int.h"

#include <malloc.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <utlist.h>

/* ---- clock, hash ---------------------------------------------------------------------- */

static _Atomic(double (*)(void)) clock_hook;

void cache_set_clock(double (*now)(void)) { atomic_store(&clock_hook, now); }

/* Seconds; the hook is read relaxed: tests set it before starting threads. */
double hot_now(void)
{
    double (*hook)(void) = atomic_load_explicit(&clock_hook, memory_order_relaxed);
    if (hook)
        return hook();
    /* The coarse clock (a few ms resolution) costs ~5 ns against ~35 ns for CLOCK_MONOTONIC here,
     * half of a whole tier-1 hit; TTLs are whole seconds. */
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* 64-bit hash, 8 bytes a step. The low bits pick the slot in a shard's index, the high ones pick the
 * shard, so a shard's keys still spread over its buckets. Seeded per cache against chosen keys. */
static uint64_t hash_bytes(uint64_t seed, const char *p, size_t n)
{
    const uint64_t k1 = 0x9E3779B97F4A7C15ull, k2 = 0xC2B2AE3D27D4EB4Full;
    uint64_t h = seed ^ (n * k1), w;
    for (; n >= 8; p += 8, n -= 8) {
        memcpy(&w, p, 8);
        h ^= w * k2;
        h = ((h << 31) | (h >> 33)) * k1;
    }
    w = 0;
    memcpy(&w, p, n);
    h ^= w * k2;
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdull;
    h ^= h >> 33;
    h *= 0xc4ceb9fe1a85ec53ull;
    h ^= h >> 33;
    return h;
}

/* The key's hash with this cache's seed. */
uint64_t hot_hash(cache *c, const char *key, size_t klen) { return hash_bytes(c->seed, key, klen); }

/* The shard of a hash: high bits, so that the index's low bits stay spread within a shard. */
shard *hot_shard(cache *c, uint64_t h) { return &c->shards[(h >> 40) & c->mask]; }

/* ---- payloads and entries ------------------------------------------------------------- */

/* A copy of data with one reference. */
payload *hot_payload_new(const char *data, size_t len, int64_t rows)
{
    payload *p = malloc(sizeof *p + len);
    if (!p)
        return NULL;
    atomic_init(&p->refs, 1);
    p->rows = rows;
    p->len = len;
    if (len)
        memcpy(p->data, data, len);
    return p;
}

/* The last reference frees; acq_rel so the freeing thread sees every reader done. */
void hot_payload_unref(payload *p)
{
    if (p && atomic_fetch_sub_explicit(&p->refs, 1, memory_order_acq_rel) == 1)
        free(p);
}

/* Cut statement text to SQL_CAP without splitting a UTF-8 sequence. */
static size_t sql_cap(const char *sql, size_t n)
{
    if (!sql)
        return 0;
    if (n <= SQL_CAP)
        return n;
    n = SQL_CAP;
    while (n > 0 && ((unsigned char)sql[n] & 0xC0) == 0x80)
        n--;
    return n;
}

/* Bytes of an entry's header and tail, rounded up so that a payload may follow. */
static size_t entry_base(size_t klen, int ntab, size_t sql_len)
{
    size_t n = sizeof(entry) + (size_t)ntab * (sizeof(uint64_t) + sizeof(int)) + klen + sql_len;
    return (n + 7) & ~(size_t)7;
}

/* Bytes a payload of len takes inside an entry (8-aligned, so the next one is too). */
static size_t inline_bytes(size_t len) { return (sizeof(payload) + len + 7) & ~(size_t)7; }

/* An unlinked entry with room for extra bytes of payloads after its tail. */
static entry *entry_alloc(const char *key, size_t klen, const cache_snap *snap, const char *sql, size_t sql_len,
                          double created, double expires, int64_t hits, size_t extra)
{
    sql_len = sql_cap(sql, sql_len);
    int ntab = snap ? snap->n : 0;
    if (klen > UINT32_MAX)
        return NULL;
    entry *e = malloc(entry_base(klen, ntab, sql_len) + extra);
    if (!e)
        return NULL;
    memset(e, 0, sizeof *e);
    e->ntab = (int16_t)ntab;
    e->kv = !snap;
    e->klen = (uint32_t)klen;
    e->sql_len = (uint32_t)sql_len;
    e->created = created;
    e->expires = expires;
    e->hits = hits;
    if (snap) {
        e->epoch = snap->epoch;
        memcpy(e_vers(e), snap->vers, (size_t)ntab * sizeof(uint64_t));
        memcpy(e_ids(e), snap->ids, (size_t)ntab * sizeof(int));
    }
    memcpy(e_key(e), key, klen);
    if (sql_len)
        memcpy(e_sql(e), sql, sql_len);
    return e;
}

/* A new, unlinked entry without slots; snap NULL for a key-value copy. NULL when out of memory. */
entry *hot_entry_new(const char *key, size_t klen, const cache_snap *snap, const char *sql, size_t sql_len,
                        double created, double expires, int64_t hits)
{
    return entry_alloc(key, klen, snap, sql, sql_len, created, expires, hits, 0);
}

/* Small payloads ride in the entry: a miss then costs one allocation instead of three, and the
 * eviction of its victim one free. */
entry *hot_entry_new_filled(const char *key, size_t klen, const cache_snap *snap, const char *sql, size_t sql_len,
                            double created, double expires, const hot_src *src, int n)
{
    size_t extra = 0;
    for (int i = 0; i < n; i++)
        if (src[i].len <= COPY_UNDER_LOCK)
            extra += inline_bytes(src[i].len);
    entry *e = entry_alloc(key, klen, snap, sql, sql_len, created, expires, 0, extra);
    if (!e)
        return NULL;
    char *at = (char *)e + entry_base(klen, e->ntab, e->sql_len);
    for (int i = 0; i < n; i++) {
        payload *p;
        if (src[i].len <= COPY_UNDER_LOCK) {
            p = (payload *)(void *)at;
            at += inline_bytes(src[i].len);
            atomic_init(&p->refs, 1);
            p->rows = src[i].rows;
            p->len = src[i].len;
            if (src[i].len)
                memcpy(p->data, src[i].data, src[i].len);
            e->inl |= (uint8_t)(1u << src[i].fmt);
        } else if (!(p = hot_payload_new(src[i].data, src[i].len, src[i].rows))) {
            e->slot[src[i].fmt] = NULL;
            continue; /* a cache: the entry simply lacks that format */
        }
        e->slot[src[i].fmt] = p;
    }
    return e;
}

/* Real bytes: what malloc handed out for the entry (struct, tail, inline payloads) and each
 * payload of its own. */
void hot_entry_account(entry *e)
{
    size_t n = malloc_usable_size(e);
    for (int i = 0; i < CACHE_NFMT; i++)
        if (e->slot[i] && !(e->inl & (1u << i)))
            n += malloc_usable_size(e->slot[i]);
    e->size = (int64_t)n;
}

/* Free an unlinked entry and drop its payload references (readers may still hold theirs). */
static void entry_free(entry *e)
{
    for (int i = 0; i < CACHE_NFMT; i++)
        if (!(e->inl & (1u << i)))
            hot_payload_unref(e->slot[i]);
    free(e);
}

/* The snapshot an entry was filled under. */
static void entry_snap(entry *e, cache_snap *s)
{
    s->n = e->ntab;
    s->epoch = e->epoch;
    memcpy(s->ids, e_ids(e), (size_t)e->ntab * sizeof(int));
    memcpy(s->vers, e_vers(e), (size_t)e->ntab * sizeof(uint64_t));
}

/* LIVE, EXPIRED or STALE; key-value copies have no snapshot and only expire. */
int hot_state(cache *c, entry *e, double now)
{
    if (now >= e->expires)
        return EXPIRED;
    if (!e->kv && !vers_fresh(c->v, e_ids(e), e_vers(e), e->ntab, e->epoch))
        return STALE;
    return LIVE;
}

/* Same tables at the same versions and epoch: the two fills saw the same data. */
static int same_snapshot(entry *a, entry *b)
{
    return a->ntab == b->ntab && a->epoch == b->epoch &&
           memcmp(e_ids(a), e_ids(b), (size_t)a->ntab * sizeof(int)) == 0 &&
           memcmp(e_vers(a), e_vers(b), (size_t)a->ntab * sizeof(uint64_t)) == 0;
}

/* Queue an unlinked entry for hot_drain; demote asks for tier 2 if it is still live by then. */
void hot_gc_push(entry **gc, entry *e, int demote)
{
    e->demote = (uint8_t)demote;
    e->lru_next = *gc;
    *gc = e;
}

/* ---- tier 2 glue ------------------------------------------------------------------------ */

/* tier2_stale_fn: a row is stale when its snapshot text no longer matches (or does not parse). */
static int t2_stale(void *ud, const char *snap, size_t len)
{
    cache *c = ud;
    cache_snap s;
    if (vers_snap_parse(snap, len, &s) < 0)
        return 1;
    return !vers_fresh(c->v, s.ids, s.vers, s.n, s.epoch);
}

/* Store one result in tier 2 (no lock held). */
static void t2_store(cache *c, const char *key, size_t klen, int fmt, const payload *p, const cache_snap *snap,
                     const char *sql, size_t sql_len, double created, double expires, int64_t hits, double now)
{
    buf st, names;
    buf_init(&st);
    buf_init(&names);
    vers_snap_text(snap, &st);
    vers_names_text(c->v, snap, &names);
    if (!st.oom && !names.oom) {
        tier2_row r = {
            .key = key, .klen = klen, .fmt = fmt, .value = p->data, .vlen = p->len, .rows = p->rows,
            .created_at = created, .expires_at = expires, .hits = hits,
            .sql = sql ? sql : "", .sql_len = sql_cap(sql, sql_len),
            .tables = names.data, .tables_len = names.len, .snap = st.data, .snap_len = st.len,
        };
        tier2_put(c->t2, &r, now);
    }
    buf_free(&st);
    buf_free(&names);
}

/* Free what a locked section took out of the hot map; entries evicted alive go to tier 2 first.
 * Call with no lock held. */
/* Store a live entry's every slot in tier 2. */
static void demote(cache *c, entry *e, double now)
{
    if (hot_state(c, e, now) != LIVE)
        return;
    cache_snap s;
    entry_snap(e, &s);
    for (int f = 0; f < CACHE_NFMT; f++)
        if (e->slot[f])
            t2_store(c, e_key(e), e->klen, f, e->slot[f], &s, e_sql(e), e->sql_len, e->created, e->expires,
                     e->hits, now);
}

static void *demoter_main(void *arg)
{
    cache *c = arg;
    pthread_setname_np(pthread_self(), "lc-demoter");
    pthread_mutex_lock(&c->dq_lock);
    for (;;) {
        while (!c->dq_head && !c->dq_stop)
            pthread_cond_wait(&c->dq_wake, &c->dq_lock);
        entry *e = c->dq_head;
        if (!e)
            break; /* stopping, and nothing left */
        c->dq_head = e->lru_next;
        if (!c->dq_head)
            c->dq_tail = NULL;
        c->dq_bytes -= e->size;
        c->dq_busy = 1;
        pthread_mutex_unlock(&c->dq_lock);
        if (!c->dq_stop)
            demote(c, e, hot_now());
        entry_free(e);
        pthread_mutex_lock(&c->dq_lock);
        c->dq_busy = 0;
    }
    pthread_mutex_unlock(&c->dq_lock);
    return NULL;
}

void hot_drain(cache *c, entry *gc, double now)
{
    while (gc) {
        entry *e = gc;
        gc = e->lru_next;
        if (e->demote && c->demoter_started) {
            pthread_mutex_lock(&c->dq_lock);
            int take = c->dq_bytes + e->size <= DEMOTE_QUEUE_BYTES;
            if (take) {
                e->lru_next = NULL;
                if (c->dq_tail)
                    c->dq_tail->lru_next = e;
                else
                    c->dq_head = e;
                c->dq_tail = e;
                c->dq_bytes += e->size;
                pthread_cond_signal(&c->dq_wake);
            }
            pthread_mutex_unlock(&c->dq_lock);
            if (take)
                continue;
        }
        /* No thread, or its queue is full: demote here, which also slows evictions to its pace. */
        if (e->demote)
            demote(c, e, now);
        entry_free(e);
    }
}

void cache_quiesce(cache *c)
{
    pthread_mutex_lock(&c->dq_lock);
    while (c->demoter_started && (c->dq_head || c->dq_busy)) {
        pthread_mutex_unlock(&c->dq_lock);
        struct timespec ts = {0, 1000000};
        nanosleep(&ts, NULL);
        pthread_mutex_lock(&c->dq_lock);
    }
    pthread_mutex_unlock(&c->dq_lock);
}

/* ---- the hot map; all do_*() assume the shard lock ----------------------------------------- */

int64_t hot_do_bytes(shard *s)
{
    size_t door = s->door ? (s->door_mask + 1) * sizeof *s->door : 0;
    return s->bytes + (int64_t)(hidx_bytes(s->map) + hidx_bytes(s->kvmap) + door);
}

/* The entry for key in map, or NULL. Only an entry with the same 64-bit hash is touched. */
entry *hot_do_find(hidx *map, const char *key, size_t klen, uint64_t h)
{
    size_t pos = 0;
    entry *e;
    while ((e = hidx_next(map, h, &pos)))
        if (e->klen == klen && memcmp(e_key(e), key, klen) == 0)
            return e;
    return NULL;
}

/* Remember where the new LRU head sits in its index. Called only when the head changed to an
 * entry whose line the list operation has just touched, so it costs no cache miss. */
static void note_head(shard *s)
{
    entry *e = s->lru;
    s->lru_map = e ? (e->kv ? s->kvmap : s->map) : NULL;
    s->lru_h = e ? e->h : 0;
    s->lru_succ = e ? e->lru_next : NULL;
}

/* Out of its map and the LRU; the caller owns it. */
void hot_do_unlink(shard *s, entry *e)
{
    hidx_del(e->kv ? s->kvmap : s->map, e->h, e);
    if (e->kv)
        s->kvs--;
    else
        s->results--;
    int head = s->lru == e;
    DL_DELETE2(s->lru, e, lru_prev, lru_next);
    if (head)
        note_head(s);
    s->bytes -= e->size;
}

/* Link e as most recently used; -1 (nothing linked) when the index cannot grow. */
int hot_do_link(shard *s, entry *e, uint64_t h)
{
    e->h = h;
    if (hidx_add(e->kv ? s->kvmap : s->map, h, e) < 0)
        return -1;
    DL_APPEND2(s->lru, e, lru_prev, lru_next);
    if (s->lru == e)
        note_head(s);
    e->stamp = ++s->tick;
    s->bytes += e->size;
    if (e->kv)
        s->kvs++;
    else
        s->results++;
    return 0;
}

/* Small payloads are copied at once (cheaper than two atomic operations); large ones are pinned so
 * the shard lock is not held across a long copy. */
void hot_do_copy(payload *p, buf *out, payload **pin)
{
    if (p->len <= COPY_UNDER_LOCK) {
        buf_append(out, p->data, p->len);
        return;
    }
    atomic_fetch_add_explicit(&p->refs, 1, memory_order_relaxed); /* the entry's own ref keeps it alive */
    *pin = p;
}

/* Move to the most recently used end, unless e is already among the most recent eighth: fewer
 * than that many entries went to the recent end after it, so it is far from eviction, and a hit
 * then touches no neighbour (each one a cache miss). Exact LRU below 16 entries. */
void hot_do_touch(shard *s, entry *e)
{
    if (s->tick - e->stamp < (uint64_t)(s->results + s->kvs) / 8 + 1)
        return;
    int head = s->lru == e;
    DL_DELETE2(s->lru, e, lru_prev, lru_next);
    DL_APPEND2(s->lru, e, lru_prev, lru_next);
    if (head)
        note_head(s);
    e->stamp = ++s->tick;
}

/* Evict from the LRU end until the shard fits; live results that were hit, and that cost enough to
 * compute again, are demoted by hot_drain. */
void hot_do_evict(cache *c, shard *s, entry **gc)
{
    while (s->lru && hot_do_bytes(s) > c->shard_cap) {
        entry *e = s->lru;
        hot_do_unlink(s, e);
        s->evictions++;
        /* Key-value copies are already in tier 2. A result nobody read again since it was stored
         * is not worth a tier-2 insert: under a scan of one-off reads, that insert is most of the
         * cost of a miss, for an entry that will not be asked for. Nor is one that is cheap to
         * compute again: a demotion (a SQLite insert into the cache database, and its share of
         * tier 2's evictions) costs on the order of 100 µs of CPU, and a tier-2 hit is itself a
         * SQLite lookup, so a point read gains nothing there. Under pgbench -S (reads uniform over
         * five times what tier 1 holds) demotions took 9% of the server's CPU for 1% of its reads. */
        hot_gc_push(gc, e, !e->kv && e->hits > 0 && !e->cheap);
    }
    s->overhead = hot_do_bytes(s) - s->bytes;
}

/* Admission (the doorkeeper of TinyLFU, without its frequency sketch). Under LRU alone, every
 * one-off read of a full cache evicts a result that may be read again: a scan of distinct reads
 * flushes the hot set, and each of its misses pays for an entry and an eviction that buy nothing.
 * So once storing would evict, a key is stored only on evidence that it comes back: its second
 * miss within the window of the shard's tag table (a key turned away leaves its tag there until
 * another key's tag takes the slot; so does a result dropped as expired or stale, whose key was
 * read again), or another client waiting on the same miss right now. The table holds one
 * 32-bit tag per 512 bytes of the shard's cap, about as many as the shard holds entries (a result
 * entry takes 400-1,000 bytes), and counts against the cap from the start (made when first needed,
 * it would have had to evict to fit, and its first victims would have been the hot set). */
#define DOOR_BYTES_PER_TAG 512

/* The slot is bits 16..31 of the hash, and all 32 bits of the tag must still vary among the keys
 * of one slot of one shard (bits 40.. pick the shard): a tag that repeated the slot's bits matched
 * another key's about once in 2^20 to 2^23 checks and admitted it. Never 0, the empty slot. */
static uint32_t  door_tag(uint64_t h) { return ((uint32_t)h ^ (uint32_t)(h >> 32)) | 1; }
static uint32_t *door_slot(const shard *s, uint64_t h) { return &s->door[(h >> 16) & s->door_mask]; }

/* The shard's tag table for cap bytes: a power of two from 16 to 65,536 tags; NULL when out of memory. */
static uint32_t *door_new(int64_t cap, uint32_t *mask)
{
    int64_t want = cap / DOOR_BYTES_PER_TAG, n = 16;
    while (n * 2 <= want && n < 65536)
        n *= 2;
    *mask = (uint32_t)n - 1;
    return calloc((size_t)n, sizeof(uint32_t));
}

/* At least what malloc hands out for n bytes: glibc rounds a heap chunk up by under 16 bytes, an
 * mmapped one (128 KiB and up, by default) to a page. */
static size_t alloc_max(size_t n) { return n + (n >= (128 << 10) ? 4096 : 16); }

/* At least the bytes the fill's entry will count (hot_entry_account) once built, both encodings
 * included: under-counting would admit a fill that evicts, and every such eviction leaves room
 * for the next one alike, so a scan would stream through the cache after all. */
static int64_t fill_bytes_max(const cache_fill *f, int also)
{
    size_t base = entry_base(f->klen, f->snap->n, sql_cap(f->sql, f->sql_len)), own = 0;
    const size_t lens[2] = {f->len, f->len2};
    for (int i = 0; i < 1 + (also != 0); i++) {
        if (lens[i] <= COPY_UNDER_LOCK)
            base += inline_bytes(lens[i]);
        else
            own += alloc_max(sizeof(payload) + lens[i]);
    }
    return (int64_t)(alloc_max(base) + own);
}

/* Whether the fill goes in, bytes_in being at least what it adds (fill_bytes_max); counts a
 * refusal. */
static int do_admit(cache *c, shard *s, const cache_fill *f, uint64_t h, int64_t bytes_in)
{
    /* overhead rather than hot_do_bytes: the indexes' own lines stay out of a refusal */
    if (s->bytes + s->overhead + bytes_in <= c->shard_cap)
        return 1;
    uint32_t *slot = door_slot(s, h), tag = door_tag(h);
    if (*slot == tag || flight_waiters(s->flights, f->key, f->klen, h, f->fmt) > 0) {
        *slot = 0;
        return 1;
    }
    *slot = tag;
    s->rejects++;
    return 0;
}

/* Assumes the lock: whether do_admit will most likely refuse a fill of key h: no room in the shard
 * for an entry of the shard's average size (at least the smallest one of this key), and h's tag not
 * in the door. Only a hint: a full shard keeps less than an entry free, and with the smallest size
 * alone most refused fills were not foreseen (under pgbench -S, all of them), so their leaders made
 * the second encoding for nothing. A fill smaller than foreseen may still go in, with its one
 * encoding; a waiter that arrives before the fill still gets it in. */
static int do_refusal_likely(cache *c, shard *s, uint64_t h, size_t klen)
{
    if (!s->door || *door_slot(s, h) == door_tag(h))
        return 0;
    int64_t n = s->results + s->kvs, want = (int64_t)(sizeof(entry) + klen);
    if (n > 0 && s->bytes / n > want)
        want = s->bytes / n;
    return s->bytes + s->overhead + want > c->shard_cap;
}

/* Drop e from the map because of its state, counting why. */
static void do_drop(shard *s, entry *e, int state, entry **gc)
{
    hot_do_unlink(s, e);
    if (!e->kv) {
        if (state == EXPIRED)
            s->expirations++;
        else if (state == STALE)
            s->invalidations++;
        if (s->door)
            *door_slot(s, e->h) = door_tag(e->h); /* asked for again: admitted at its next fill */
    }
    hot_gc_push(gc, e, 0);
}

/* Does ne hold a payload in every format old does? */
static int covers(const entry *ne, const entry *old)
{
    for (int f = 0; f < CACHE_NFMT; f++)
        if (old->slot[f] && !ne->slot[f])
            return 0;
    return 1;
}

/* Store ne's slots under its key: into the present entry when it is live with the same snapshot
 * and keeps a format ne lacks (ne is then discarded; the entry's age stays its oldest payload's),
 * else as ne, replacing whatever was there: a statement whose ttl hint found the entry too old
 * refills it, and its age must start again. Consumes ne. */
static void do_store(cache *c, shard *s, uint64_t h, entry *ne, double now, entry **gc)
{
    entry *old = hot_do_find(s->map, e_key(ne), ne->klen, h);
    if (old) {
        int state = hot_state(c, old, now);
        if (state == LIVE && same_snapshot(old, ne) && covers(ne, old)) {
            ne->hits += old->hits;
        } else if (state == LIVE && same_snapshot(old, ne)) {
            for (int f = 0; f < CACHE_NFMT; f++)
                if (ne->slot[f]) {
                    /* The old payload goes with ne, freed (after any reader's copy) by the drain.
                     * A payload inside ne's allocation cannot outlive ne: old gets a copy (rare:
                     * a fill of a format the entry lacked); if that fails old keeps its own. */
                    payload *p = ne->slot[f];
                    unsigned bit = 1u << f;
                    if ((ne->inl & bit) && !(p = hot_payload_new(p->data, p->len, p->rows)))
                        continue;
                    payload *prev = old->slot[f];
                    int prev_inl = (old->inl & bit) != 0;
                    old->slot[f] = p;
                    old->inl &= (uint8_t)~bit;
                    /* ne frees prev with itself, unless prev lives in old's allocation. */
                    ne->slot[f] = prev_inl ? NULL : prev;
                    ne->inl &= (uint8_t)~bit;
                }
            s->bytes -= old->size;
            hot_entry_account(old);
            s->bytes += old->size;
            if (ne->expires < old->expires)
                old->expires = ne->expires;
            old->hits += ne->hits;
            hot_do_touch(s, old);
            hot_gc_push(gc, ne, 0);
            hot_do_evict(c, s, gc);
            return;
        }
        do_drop(s, old, state, gc);
    }
    hot_entry_account(ne);
    if (hot_do_link(s, ne, h) < 0) {
        hot_gc_push(gc, ne, 0);
        return;
    }
    hot_do_evict(c, s, gc);
}

/* A lookup in the hot map. On a hit fills *hit and either copies the data into out or, for a large
 * payload, pins it in *pin for the caller to copy after unlocking. */
static int do_lookup(cache *c, shard *s, const char *key, size_t klen, uint64_t h, int fmt, double now,
                     buf *out, cache_hit *hit, payload **pin, entry **gc)
{
    entry *e = hot_do_find(s->map, key, klen, h);
    if (!e)
        return CACHE_MISS;
    int state = hot_state(c, e, now);
    if (state != LIVE) {
        do_drop(s, e, state, gc);
        return CACHE_MISS;
    }
    payload *p = e->slot[fmt];
    if (!p)
        return CACHE_MISS;
    e->hits++;
    s->hits1++;
    hot_do_touch(s, e);
    if (hit) {
        uint64_t newest = e->epoch;
        for (int i = 0; i < e->ntab; i++)
            if (e_vers(e)[i] > newest)
                newest = e_vers(e)[i];
        *hit = (cache_hit){ .rows = p->rows, .age_s = now - e->created, .tier = 1, .newest = newest };
    }
    hot_do_copy(p, out, pin);
    return CACHE_HIT;
}

/* ---- results ----------------------------------------------------------------------------- */

typedef struct promo {
    cache     *c;
    buf       *out;
    cache_hit *hit;
    double     now;
    entry     *ne;
    payload   *p;
} promo;

/* A live tier-2 row: copy it out, and take it out of tier 2 if it can live in tier 1. */
static int promo_hit(void *ud, const tier2_row *r)
{
    promo *pr = ud;
    cache *c = pr->c;
    cache_snap snap;
    int parsed = vers_snap_parse(r->snap, r->snap_len, &snap) == 0;
    if (pr->hit)
        *pr->hit = (cache_hit){ .rows = r->rows, .age_s = pr->now - r->created_at, .tier = 2,
                                .newest = parsed ? vers_snap_newest(&snap) : UINT64_MAX };
    if (parsed && (int64_t)r->vlen <= c->cfg.hot_entry_bytes && c->shard_cap > 0) {
        pr->ne = hot_entry_new(r->key, r->klen, &snap, r->sql, r->sql_len, r->created_at, r->expires_at, r->hits + 1);
        pr->p = hot_payload_new(r->value, r->vlen, r->rows);
        if (pr->ne && pr->p &&
            (int64_t)(malloc_usable_size(pr->ne) + malloc_usable_size(pr->p)) <= c->shard_cap)
            return 1;
        free(pr->ne);
        free(pr->p);
        pr->ne = NULL;
        pr->p = NULL;
    }
    buf_append(pr->out, r->value, r->vlen);
    return 0;
}

/* The tier-2 half of a lookup (no lock held): 1 on a hit, with the data in out; a row that fits
 * tier 1 moves there. */
static int t2_lookup(cache *c, shard *s, uint64_t h, const char *key, size_t klen, int fmt, double now,
                     buf *out, cache_hit *hit)
{
    if (!tier2_may_have(c->t2, key, klen))
        return 0;
    promo pr = { .c = c, .out = out, .hit = hit, .now = now };
    if (tier2_get(c->t2, key, klen, fmt, now, promo_hit, &pr) != TIER2_HIT)
        return 0;
    atomic_fetch_add_explicit(&c->hits2, 1, memory_order_relaxed);
    if (pr.ne) {
        buf_append(out, pr.p->data, pr.p->len);
        entry *gc = NULL;
        pthread_mutex_lock(&s->lock);
        pr.ne->slot[fmt] = pr.p;
        do_store(c, s, h, pr.ne, now, &gc);
        pthread_mutex_unlock(&s->lock);
        hot_drain(c, gc, now);
    }
    return 1;
}

/* A leader's put will most likely evict the LRU head of a full shard: start loading the lines
 * that eviction touches (the head, its index slot, its successor) now, so that they arrive while
 * the query runs instead of stalling the put one after the other. */
static void prefetch_victim(cache *c, shard *s)
{
    if (!s->lru || hot_do_bytes(s) < c->shard_cap - c->shard_cap / 16)
        return;
    /* From the shard's note of the head, not the head itself: reading it here would stall. */
    __builtin_prefetch(s->lru, 1);
    hidx_prefetch(s->lru_map, s->lru_h);
    if (s->lru_succ)
        __builtin_prefetch(s->lru_succ, 1); /* a hint: it may have moved or been freed since */
}

/* Every call ends as exactly one of hits1, hits2 or misses (a leader's call is a miss). A waiter
 * holds no lock while it sleeps (the condition variable releases the shard lock). */
int cache_get(cache *c, const char *key, size_t klen, int fmt, buf *out, cache_hit *hit, int lead)
{
    if (!c || !key)
        return CACHE_MISS;
    return cache_get_hashed(c, key, klen, hot_hash(c, key, klen), fmt, out, hit, lead);
}

uint64_t cache_key_hash(cache *c, const char *key, size_t klen) { return hot_hash(c, key, klen); }

/* No lock: the index may be growing meanwhile, and a prefetch of a stale address is harmless. The
 * shard's first line holds its lock, taken next. */
void cache_prefetch(cache *c, uint64_t h)
{
    shard *s = hot_shard(c, h);
    __builtin_prefetch(s, 1);
    hidx_prefetch(s->map, h);
}

int cache_get_hashed(cache *c, const char *key, size_t klen, uint64_t h, int fmt, buf *out, cache_hit *hit,
                     int lead)
{
    if (!c || !key || !out || fmt < 0 || fmt >= CACHE_NFMT)
        return CACHE_MISS;
    hit->fill_unlikely = 0;
    shard *s = hot_shard(c, h);
    double now = hot_now();
    int looked_t2 = 0, res = CACHE_MISS;
    entry *gc = NULL;
    payload *pin = NULL;
    pthread_mutex_lock(&s->lock);
    for (;;) {
        if (do_lookup(c, s, key, klen, h, fmt, now, out, hit, &pin, &gc) == CACHE_HIT) {
            res = CACHE_HIT;
            break;
        }
        if (!looked_t2) {
            looked_t2 = 1;
            /* With the key surely not in tier 2 and a lead asked for, the lock is kept: one lookup,
             * then the flight (a row demoted meanwhile only makes this a miss that could have hit). */
            if (lead == CACHE_LEAD_MISS && !tier2_may_have(c->t2, key, klen))
                goto flight;
            pthread_mutex_unlock(&s->lock);
            hot_drain(c, gc, now);
            gc = NULL;
            if (lead == CACHE_PROBE)
                return CACHE_MISS; /* tier 1 only, and not counted: the real lookup follows */
            if (t2_lookup(c, s, h, key, klen, fmt, now, out, hit))
                return CACHE_HIT;
            if (!lead) {
                atomic_fetch_add_explicit(&c->misses, 1, memory_order_relaxed);
                return CACHE_MISS;
            }
            pthread_mutex_lock(&s->lock);
            continue; /* the hot map again: a put may have landed while unlocked */
        }
    flight:;
        flight *f = flight_find(s->flights, key, klen, h, fmt);
        if (!f) {
            res = flight_start(s->flights, key, klen, h, fmt) ? CACHE_LEAD : CACHE_MISS;
            if (res == CACHE_LEAD && !(hit->fill_unlikely = do_refusal_likely(c, s, h, klen)))
                prefetch_victim(c, s); /* a refused fill evicts nothing */
            break;
        }
        s->flight_waits++;
        /* Given up on a slow leader: a plain miss. The caller runs the query itself, and its put may
         * store the result and end that leader's flight early, which only wakes the flight's waiters
         * sooner: they find the stored result (version-checked like any other). */
        if (!flight_wait(s->flights, f, &s->lock, FLIGHT_WAIT_S))
            break;
        /* The leader stored or gave up: look again in both tiers; if it is still a miss, lead
         * (or, if another waiter got there first, wait for that one). */
        now = hot_now();
        looked_t2 = 0;
    }
    if (res != CACHE_HIT)
        s->misses++; /* here, not in the shared atomic: two workers' misses would bounce its line */
    pthread_mutex_unlock(&s->lock);
    if (pin) {
        buf_append(out, pin->data, pin->len);
        hot_payload_unref(pin);
    }
    hot_drain(c, gc, now);
    return res;
}

/* Put straight into tier 2 (too big for tier 1). */
static void put_tier2(cache *c, const cache_fill *f, int fmt, const payload *p, double now)
{
    t2_store(c, f->key, f->klen, fmt, p, f->snap, f->sql, f->sql_len, now, now + f->ttl_s, 0, now);
}

/* Whether a payload of len bytes may go into tier 1. */
static int hot_fits(cache *c, size_t len) { return (int64_t)len <= c->cfg.hot_entry_bytes && c->shard_cap > 0; }

/* Store a fill's payloads in tier 2 only (too big for tier 1). */
static void put_tier2_only(cache *c, const cache_fill *f, const hot_src *src, int n, double now)
{
    for (int i = 0; i < n; i++) {
        payload *p = hot_payload_new(src[i].data, src[i].len, src[i].rows);
        if (p)
            put_tier2(c, f, src[i].fmt, p, now);
        hot_payload_unref(p);
    }
}

void cache_put(cache *c, const cache_fill *f)
{
    if (!c || !f || !f->key || f->fmt < 0 || f->fmt >= CACHE_NFMT)
        return;
    uint64_t h = f->hashed ? f->hash : hot_hash(c, f->key, f->klen);
    shard *s = hot_shard(c, h);
    entry *ne = NULL, *gc = NULL;
    int64_t max_entry = atomic_load(&c->max_entry_bytes);
    int also = f->also && f->fmt2 >= 0 && f->fmt2 < CACHE_NFMT && f->fmt2 != f->fmt &&
               (f->data2 || f->len2 == 0) && (int64_t)f->len2 <= max_entry;
    int ok = f->snap && f->ttl_s > 0 && (f->data || f->len == 0) &&
             (int64_t)f->len <= max_entry && (int64_t)f->klen <= max_entry &&
             vers_valid(c->v, f->snap) &&
             vers_fresh(c->v, f->snap->ids, f->snap->vers, f->snap->n, f->snap->epoch); /* never store stale */
    if (ok && s->door && hot_fits(c, f->len)) {
        /* Decided before the entry is built: a refused fill costs no allocation and no copy. */
        pthread_mutex_lock(&s->lock);
        int admit = do_admit(c, s, f, h, fill_bytes_max(f, also));
        if (!admit)
            flight_end(s->flights, f->key, f->klen, h, f->fmt);
        pthread_mutex_unlock(&s->lock);
        if (!admit)
            return;
    }
    double now = hot_now();
    /* The key's index slot, read again under the lock once the entry is built: the lookup that
     * missed was a whole query ago, and the slot has most likely left the CPU caches since. */
    cache_prefetch(c, h);
    if (ok) {
        hot_src src[2] = {{f->fmt, f->data, f->len, f->rows}, {f->fmt2, f->data2, f->len2, f->rows}};
        /* In tier 1 go the first encoding, and the second beside it if it fits too; what does not
         * goes to tier 2 (before the waiters are woken, so that they find it). */
        int n1 = hot_fits(c, f->len) ? 1 + (also && hot_fits(c, f->len2)) : 0;
        while (n1 > 0) {
            ne = hot_entry_new_filled(f->key, f->klen, f->snap, f->sql, f->sql_len, now, now + f->ttl_s, src, n1);
            if (!ne)
                break;
            ne->cheap = f->cost_us > 0 && f->cost_us < (uint32_t)c->cfg.demote_min_us;
            hot_entry_account(ne);
            if (ne->size <= c->shard_cap && ne->slot[f->fmt])
                break;
            entry_free(ne); /* over a shard: try without the second encoding, then tier 2 alone */
            ne = NULL;
            n1--;
        }
        int in1 = ne ? n1 : 0;
        put_tier2_only(c, f, src + in1, 1 + also - in1, now);
    }
    pthread_mutex_lock(&s->lock);
    if (ne)
        do_store(c, s, h, ne, now, &gc);
    flight_end(s->flights, f->key, f->klen, h, f->fmt);
    pthread_mutex_unlock(&s->lock);
    hot_drain(c, gc, now);
}

void cache_abandon(cache *c, const char *key, size_t klen, int fmt)
{
    if (c && key)
        cache_abandon_hashed(c, key, klen, hot_hash(c, key, klen), fmt);
}

void cache_abandon_hashed(cache *c, const char *key, size_t klen, uint64_t h, int fmt)
{
    if (!c || !key)
        return;
    shard *s = hot_shard(c, h);
    pthread_mutex_lock(&s->lock);
    flight_end(s->flights, key, klen, h, fmt);
    pthread_mutex_unlock(&s->lock);
}

/* ---- table versions ----------------------------------------------------------------------- */

int cache_table_id(cache *c, const char *name, size_t len) { return vers_table_id(c->v, name, len); }
void cache_snapshot(cache *c, const int *ids, int n, cache_snap *out) { vers_snapshot(c->v, ids, n, out); }
void cache_bump(cache *c, const int *ids, int n) { vers_bump(c->v, ids, n); }
void cache_bump_all(cache *c) { vers_bump_all(c->v); }
uint64_t cache_stamp(cache *c) { return vers_stamp(c->v); }
uint64_t cache_snap_newest(const cache_snap *s) { return vers_snap_newest(s); }

/* ---- life cycle ----------------------------------------------------------------------------- */

cache *cache_new(const cache_config *cfg, char *err, size_t errlen)
{
    if (!cfg || cfg->shards < 1 || cfg->shards > 65536 || (cfg->shards & (cfg->shards - 1)) ||
        cfg->hot_bytes < 0 || cfg->max_bytes < 0 || cfg->max_entry_bytes < 0 || cfg->hot_entry_bytes < 0) {
        snprintf(err, errlen, "cache: bad configuration (shards must be a power of two, sizes >= 0)");
        return NULL;
    }
    cache *c = calloc(1, sizeof *c);
    if (!c)
        goto oom;
    pthread_mutex_init(&c->dq_lock, NULL);
    pthread_cond_init(&c->dq_wake, NULL);
    c->cfg = *cfg;
    atomic_init(&c->max_entry_bytes, cfg->max_entry_bytes);
    c->shard_cap = cfg->hot_bytes / cfg->shards;
    c->mask = (uint64_t)cfg->shards - 1;
    if (getrandom(&c->seed, sizeof c->seed, GRND_NONBLOCK) != sizeof c->seed)
        c->seed = (uint64_t)time(NULL) ^ (uint64_t)(uintptr_t)c;
    c->shards = aligned_alloc(_Alignof(shard), sizeof(shard) * (size_t)cfg->shards);
    if (!c->shards)
        goto oom;
    memset(c->shards, 0, sizeof(shard) * (size_t)cfg->shards);
    for (int i = 0; i < cfg->shards; i++) {
        pthread_mutex_init(&c->shards[i].lock, NULL);
        atomic_init(&c->shards[i].kv_gen, 0);
        if (!(c->shards[i].map = hidx_new()) || !(c->shards[i].kvmap = hidx_new()) ||
            !(c->shards[i].flights = flights_new()))
            goto oom;
        if (cfg->admit_repeat && c->shard_cap > 0 &&
            !(c->shards[i].door = door_new(c->shard_cap, &c->shards[i].door_mask)))
            goto oom;
        c->shards[i].overhead = hot_do_bytes(&c->shards[i]);
    }
    if (!(c->v = vers_new()))
        goto oom;
    if (!(c->t2 = tier2_new(cfg->max_bytes, cfg->max_entry_bytes, t2_stale, c, err, errlen))) {
        cache_free(c);
        return NULL;
    }
    /* Without the thread, demotion simply happens inline: slower misses, same results. */
    c->demoter_started = pthread_create(&c->demoter, NULL, demoter_main, c) == 0;
    return c;
oom:
    snprintf(err, errlen, "cache: out of memory");
    cache_free(c);
    return NULL;
}

void cache_set_max_entry_bytes(cache *c, int64_t n)
{
    /* Tier 2 first, so a fill the new cap lets in never finds SQLite's limit still the old one. */
    tier2_set_max_value(c->t2, n);
    atomic_store(&c->max_entry_bytes, n);
}

void cache_free(cache *c)
{
    if (!c)
        return;
    if (c->demoter_started) {
        pthread_mutex_lock(&c->dq_lock);
        c->dq_stop = 1;
        pthread_cond_signal(&c->dq_wake);
        pthread_mutex_unlock(&c->dq_lock);
        pthread_join(c->demoter, NULL);
    }
    pthread_mutex_destroy(&c->dq_lock);
    pthread_cond_destroy(&c->dq_wake);
    for (uint64_t i = 0; c->shards && i <= c->mask; i++) {
        shard *s = &c->shards[i];
        entry *e, *tmp;
        DL_FOREACH_SAFE2(s->lru, e, tmp, lru_next) /* every linked entry, results and copies */
            entry_free(e);
        hidx_free(s->map);
        hidx_free(s->kvmap);
        free(s->door);
        flights_free(s->flights);
        pthread_mutex_destroy(&s->lock);
    }
    free(c->shards);
    vers_free(c->v);
    tier2_free(c->t2);
    free(c);
}
