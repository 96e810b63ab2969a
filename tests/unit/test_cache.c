/* test_cache.c - the result cache: both tiers, versions, TTLs, byte caps, single flight, CACHE QUERY, the key-value tier, and a threaded stress. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cache.h"

/* ---- helpers ------------------------------------------------------------------------------ */

static double fake_t = 1000.0;
static double fake_clock(void) { return fake_t; }

static cache *mk_adm(int64_t hot, int64_t max, int64_t max_entry, int64_t hot_entry, int shards, int admit_repeat)
{
    cache_config cfg = { .hot_bytes = hot, .max_bytes = max, .max_entry_bytes = max_entry,
                         .hot_entry_bytes = hot_entry, .shards = shards, .admit_repeat = admit_repeat };
    char err[256] = "";
    cache *c = cache_new(&cfg, err, sizeof err);
    if (!c)
        fail_msg("cache_new: %s", err);
    return c;
}

static cache *mk(int64_t hot, int64_t max, int64_t max_entry, int64_t hot_entry, int shards)
{
    return mk_adm(hot, max, max_entry, hot_entry, shards, 0);
}

static cache *mk_default(void) { return mk(1 << 20, 4 << 20, 64 << 10, 16 << 10, 4); }

static int tid(cache *c, const char *name) { return cache_table_id(c, name, strlen(name)); }

/* Put data under key for fmt, with a snapshot of the given tables taken now. */
static void put_n(cache *c, const char *key, int fmt, const char *data, size_t len, const int *ids, int n, int ttl)
{
    cache_snap snap;
    cache_snapshot(c, ids, n, &snap);
    char sql[300];
    snprintf(sql, sizeof sql, "SELECT /* %s */", key);
    cache_fill f = { .key = key, .klen = strlen(key), .fmt = fmt, .data = data, .len = len, .rows = 1,
                     .snap = &snap, .ttl_s = ttl, .sql = sql, .sql_len = strlen(sql) };
    cache_put(c, &f);
}

static void put(cache *c, const char *key, int fmt, const char *data, const int *ids, int n, int ttl)
{
    put_n(c, key, fmt, data, strlen(data), ids, n, ttl);
}

/* Look up; on a hit the data is in got (NUL-terminated) and the tier in *tier. */
static char got[1 << 17];
static int get(cache *c, const char *key, int fmt, int *tier)
{
    buf b;
    buf_init(&b);
    cache_hit h = { 0 };
    cache_quiesce(c); /* evicted entries reach tier 2 on the demotion thread */
    int r = cache_get(c, key, strlen(key), fmt, &b, &h, 0);
    got[0] = '\0';
    if (r == CACHE_HIT) {
        assert_true(b.len < sizeof got);
        memcpy(got, b.data, b.len);
        got[b.len] = '\0';
    } else {
        assert_int_equal(b.len, 0);
    }
    if (tier)
        *tier = r == CACHE_HIT ? h.tier : 0;
    buf_free(&b);
    return r;
}

/* Lead a miss on key and give it up: whether the cache said its fill would most likely be refused. */
static int fill_unlikely(cache *c, const char *key)
{
    buf b;
    buf_init(&b);
    cache_hit h = { 0 };
    assert_int_equal(cache_get(c, key, strlen(key), 0, &b, &h, CACHE_LEAD_MISS), CACHE_LEAD);
    cache_abandon(c, key, strlen(key), 0);
    buf_free(&b);
    return h.fill_unlikely;
}

static cache_stats stats(cache *c)
{
    cache_stats s;
    cache_quiesce(c);
    cache_get_stats(c, &s);
    return s;
}

static char qout[1 << 16];
static const char *query(cache *c, const char *sql, lp_format fmt)
{
    buf b;
    buf_init(&b);
    cache_quiesce(c);
    cache_query(c, sql, strlen(sql), fmt, &b);
    size_t n = b.len < sizeof qout - 1 ? b.len : sizeof qout - 1;
    memcpy(qout, b.data ? b.data : "", n);
    qout[n] = '\0';
    buf_free(&b);
    /* The status ends with " ms=<elapsed>", which varies: check it is there, then drop it. */
    char *ms = strstr(qout, " ms=");
    if (ms && qout[0] != '-') {
        char *nl = strchr(ms, '\n');
        assert_non_null(nl);
        memmove(ms, nl, strlen(nl) + 1);
    }
    return qout;
}

static int64_t query_int(cache *c, const char *sql)
{
    const char *r = query(c, sql, LP_FMT_TSV);
    const char *eq = strchr(r, '=');
    assert_non_null(eq);
    return strtoll(eq + 1, NULL, 10);
}

static int setup(void **state)
{
    (void)state;
    fake_t = 1000.0;
    cache_set_clock(fake_clock);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    cache_set_clock(NULL);
    return 0;
}

/* ---- results ---------------------------------------------------------------------------------- */

static void test_put_get_formats(void **state)
{
    (void)state;
    cache *c = mk_default();
    int users = tid(c, "users"), tier;
    assert_int_equal(tid(c, "USERS"), users);
    assert_int_not_equal(tid(c, "orders"), users);

    assert_int_equal(get(c, "q1", 0, NULL), CACHE_MISS);
    put(c, "q1", 0, "=1\tann\n", &users, 1, 60);
    assert_int_equal(get(c, "q1", 0, &tier), CACHE_HIT);
    assert_string_equal(got, "=1\tann\n");
    assert_int_equal(tier, 1);
    assert_int_equal(get(c, "q1", 1, NULL), CACHE_MISS);   /* no JSON slot yet */
    assert_int_equal(get(c, "q2", 0, NULL), CACHE_MISS);   /* another key */
    assert_int_equal(get(c, "q", 0, NULL), CACHE_MISS);    /* a prefix is another key */

    /* A second format with the same snapshot becomes a second slot of the same entry. */
    put(c, "q1", 1, "=[1,\"ann\"]\n", &users, 1, 60);
    assert_int_equal(get(c, "q1", 1, NULL), CACHE_HIT);
    assert_string_equal(got, "=[1,\"ann\"]\n");
    assert_int_equal(get(c, "q1", 0, NULL), CACHE_HIT);
    assert_string_equal(got, "=1\tann\n");
    cache_stats s = stats(c);
    assert_int_equal(s.entries1, 1);
    assert_int_equal(s.hits1, 3);
    assert_int_equal(s.misses, 4);

    /* After a write, a fill for one format replaces the entry: the other slot is gone. */
    cache_bump(c, &users, 1);
    put(c, "q1", 1, "=[2]\n", &users, 1, 60);
    assert_int_equal(get(c, "q1", 1, NULL), CACHE_HIT);
    assert_string_equal(got, "=[2]\n");
    assert_int_equal(get(c, "q1", 0, NULL), CACHE_MISS);
    assert_int_equal(stats(c).entries1, 1);

    /* Bad formats never hit or store. */
    assert_int_equal(get(c, "q1", CACHE_NFMT, NULL), CACHE_MISS);
    put(c, "q9", -1, "x", &users, 1, 60);
    assert_int_equal(stats(c).entries1, 1);
    cache_free(c);
}

static void test_ttl_expiry(void **state)
{
    (void)state;
    cache *c = mk_default();
    int t = tid(c, "t");
    put(c, "k", 0, "data", &t, 1, 10);
    fake_t += 9.9;
    assert_int_equal(get(c, "k", 0, NULL), CACHE_HIT);
    fake_t += 0.1;
    assert_int_equal(get(c, "k", 0, NULL), CACHE_MISS);
    cache_stats s = stats(c);
    assert_int_equal(s.expirations, 1);
    assert_int_equal(s.entries1, 0);
    assert_int_equal(get(c, "k", 0, NULL), CACHE_MISS);
    assert_int_equal(stats(c).expirations, 1);
    /* ttl <= 0 is not stored */
    put(c, "k0", 0, "data", &t, 1, 0);
    assert_int_equal(stats(c).entries1, 0);
    cache_free(c);
}

static void test_versions(void **state)
{
    (void)state;
    cache *c = mk_default();
    int users = tid(c, "users"), orders = tid(c, "orders"), both[2] = { users, orders };
    put(c, "both", 0, "b", both, 2, 60);
    put(c, "orders", 0, "o", &orders, 1, 60);
    put(c, "none", 0, "n", NULL, 0, 60);

    cache_bump(c, &users, 1);
    assert_int_equal(get(c, "both", 0, NULL), CACHE_MISS);
    assert_int_equal(stats(c).invalidations, 1);
    assert_int_equal(get(c, "orders", 0, NULL), CACHE_HIT);
    assert_int_equal(get(c, "none", 0, NULL), CACHE_HIT);

    cache_bump_all(c);
    assert_int_equal(get(c, "orders", 0, NULL), CACHE_MISS);
    assert_int_equal(get(c, "none", 0, NULL), CACHE_MISS);
    cache_stats s = stats(c);
    assert_int_equal(s.invalidations, 3);
    assert_int_equal(s.entries1, 0);

    /* A fill whose snapshot went stale before the put is refused. */
    cache_snap snap;
    cache_snapshot(c, &orders, 1, &snap);
    cache_bump(c, &orders, 1);
    cache_fill f = { .key = "late", .klen = 4, .fmt = 0, .data = "x", .len = 1, .snap = &snap, .ttl_s = 60 };
    cache_put(c, &f);
    assert_int_equal(get(c, "late", 0, NULL), CACHE_MISS);
    s = stats(c);
    assert_int_equal(s.entries1 + s.entries2, 0);
    /* and so is one after bump_all */
    cache_snapshot(c, &orders, 1, &snap);
    cache_bump_all(c);
    cache_put(c, &f);
    assert_int_equal(stats(c).entries1, 0);
    /* an unregistered table id is refused too */
    int bogus = 4000;
    put(c, "bogus", 0, "x", &bogus, 1, 60);
    assert_int_equal(stats(c).entries1, 0);
    cache_free(c);
}

static void test_table_registry_full(void **state)
{
    (void)state;
    cache *c = mk_default();
    char name[32];
    int last = -2;
    for (int i = 0; i < 4096; i++) {
        snprintf(name, sizeof name, "t%d", i);
        last = tid(c, name);
        assert_int_equal(last, i);
    }
    assert_int_equal(tid(c, "one_too_many"), -1);
    assert_int_equal(tid(c, "T4095"), 4095);
    assert_int_equal(cache_table_id(c, "", 0), -1);
    cache_free(c);
}

/* Bytes one entry adds in a fresh 1-shard cache (all test entries have the same sizes). */
/* The bytes one entry of value v counts (keys "key-A" ...), and what a one-shard map counts besides. */
static void entry_sizes_of(const char *v, int64_t *entry, int64_t *table)
{
    cache *c = mk(1 << 20, 1 << 20, 1 << 16, 1 << 16, 1);
    int t = tid(c, "t");
    put(c, "key-A", 0, v, &t, 1, 60);
    int64_t one = stats(c).bytes1;
    put(c, "key-B", 0, v, &t, 1, 60);
    *entry = stats(c).bytes1 - one;
    *table = one - *entry;
    cache_free(c);
}

static void entry_sizes(int64_t *entry, int64_t *table) { entry_sizes_of("0123456789", entry, table); }

static void test_lru_demote_promote(void **state)
{
    (void)state;
    int64_t esz, tsz;
    entry_sizes(&esz, &tsz);
    assert_true(esz > 100 && esz < 1000);
    assert_true(tsz > 0);
    /* Room for three entries and a half. */
    cache *c = mk(tsz + 3 * esz + esz / 2, 1 << 20, 1 << 16, 1 << 16, 1);
    int t = tid(c, "t"), tier;
    put(c, "key-A", 0, "0123456789", &t, 1, 60);
    put(c, "key-B", 0, "0123456789", &t, 1, 60);
    put(c, "key-C", 0, "0123456789", &t, 1, 60);
    cache_stats s = stats(c);
    assert_int_equal(s.entries1, 3);
    assert_int_equal(s.bytes1, tsz + 3 * esz);
    /* Read each once (an entry never read again is not worth demoting), A last: B is the LRU. */
    assert_int_equal(get(c, "key-B", 0, &tier), CACHE_HIT);
    assert_int_equal(get(c, "key-C", 0, &tier), CACHE_HIT);
    assert_int_equal(get(c, "key-A", 0, &tier), CACHE_HIT);
    put(c, "key-D", 0, "0123456789", &t, 1, 60);
    s = stats(c);
    assert_int_equal(s.entries1, 3);
    assert_int_equal(s.evictions1, 1);
    assert_int_equal(s.entries2, 1);
    assert_true(s.bytes1 <= tsz + 3 * esz + esz / 2);
    assert_int_equal(query_int(c, "SELECT count(*) FROM entries WHERE key = CAST('key-B' AS BLOB)"), 1);

    /* B comes back from tier 2, and is promoted: now C (the LRU) goes down. */
    assert_int_equal(get(c, "key-B", 0, &tier), CACHE_HIT);
    assert_int_equal(tier, 2);
    assert_string_equal(got, "0123456789");
    assert_int_equal(get(c, "key-B", 0, &tier), CACHE_HIT);
    assert_int_equal(tier, 1);
    assert_int_equal(get(c, "key-C", 0, &tier), CACHE_HIT);
    assert_int_equal(tier, 2);
    s = stats(c);
    assert_int_equal(s.hits2, 2);
    assert_int_equal(s.evictions1, 3); /* B, then C when B came back, then A when C came back */
    assert_int_equal(s.entries1, 3);
    assert_int_equal(s.entries2, 1);
    /* The tier-2 row shows names and versions for people. */
    assert_string_equal(query(c, "SELECT tables, sql, hits FROM entries", LP_FMT_TSV),
                        "#tables\tsql\thits\n=t:0;0\tSELECT /* key-A */\t1\n+OK 1 rows\n");
    /* A stale row in tier 2 is dropped when looked up, and counted. */
    cache_bump(c, &t, 1);
    assert_int_equal(get(c, "key-A", 0, NULL), CACHE_MISS);
    s = stats(c);
    assert_int_equal(s.entries2, 0);
    assert_int_equal(s.invalidations, 1);
    cache_free(c);
}

/* Tier 2's key filter: a key never stored is not looked for there, and a live row stays visible
 * across the filter's rotations (every 10 s) for as long as it lives, a long TTL included. */
static void test_tier2_filter_keeps_live_rows(void **state)
{
    (void)state;
    cache *c = mk_default();
    int t = tid(c, "t");
    static char big[20 << 10]; /* over hot_entry_bytes: straight to tier 2 */
    memset(big, 'y', sizeof big);
    put_n(c, "long-lived", 0, big, sizeof big, &t, 1, 3600);
    put_n(c, "short", 0, big, sizeof big, &t, 1, 5);
    int tier = 0;
    for (int i = 0; i < 30; i++) {
        char key[32];
        snprintf(key, sizeof key, "k%d", i);
        put_n(c, key, 0, big, sizeof big, &t, 1, 1); /* each put may rotate the filter */
        fake_t += 11;
        assert_int_equal(get(c, "long-lived", 0, &tier), CACHE_HIT);
        assert_int_equal(tier, 2);
        assert_int_equal(get(c, "never stored", 0, NULL), CACHE_MISS);
    }
    assert_int_equal(get(c, "short", 0, NULL), CACHE_MISS); /* expired long ago */
    cache_free(c);
}

/* 100,000 distinct entries of varied sizes through a small cache: the caps hold, the counts add up. */
static void test_unread_entries_are_not_demoted(void **state)
{
    (void)state;
    int64_t esz, tsz;
    entry_sizes(&esz, &tsz);
    cache *c = mk(tsz + 2 * esz + esz / 2, 1 << 20, 1 << 16, 1 << 16, 1);
    int t = tid(c, "t");
    put(c, "key-A", 0, "0123456789", &t, 1, 60);
    put(c, "key-B", 0, "0123456789", &t, 1, 60);
    put(c, "key-C", 0, "0123456789", &t, 1, 60); /* evicts A, which nobody read */
    cache_stats s = stats(c);
    assert_int_equal(s.evictions1, 1);
    assert_int_equal(s.entries2, 0);
    assert_int_equal(get(c, "key-A", 0, NULL), CACHE_MISS);
    cache_free(c);
}

/* Admission (admit_repeat): while there is room every fill is stored; once a fill would evict, a
 * key is stored only when it comes back: its second fill, or after its entry was dropped as stale. */
static void test_admission_repeat(void **state)
{
    (void)state;
    int64_t esz, tsz;
    entry_sizes(&esz, &tsz);
    /* Three entries, half of one spare, and the tag table a 1-shard cache this small gets (16 tags). */
    const int64_t cap = tsz + 3 * esz + esz / 2 + 16 * 4;
    cache *c = mk_adm(cap, 1 << 20, 1 << 16, 1 << 16, 1, 1);
    int t = tid(c, "t");
    const char *v = "0123456789";
    put(c, "key-A", 0, v, &t, 1, 60);
    put(c, "key-B", 0, v, &t, 1, 60);
    assert_false(fill_unlikely(c, "key-D")); /* room: a leader makes everything storing needs */
    put(c, "key-C", 0, v, &t, 1, 60);
    cache_stats s = stats(c);
    assert_int_equal(s.entries1, 3);
    assert_int_equal(s.admission_rejects, 0);
    /* Full: a key seen for the first time is answered but not stored, and evicts nothing; its
     * leader is told so beforehand (and skips the second encoding). */
    assert_true(fill_unlikely(c, "key-D"));
    put(c, "key-D", 0, v, &t, 1, 60);
    s = stats(c);
    assert_int_equal(s.admission_rejects, 1);
    assert_int_equal(s.entries1, 3);
    assert_int_equal(s.evictions1, 0);
    assert_true(s.bytes1 <= cap);
    assert_int_equal(get(c, "key-D", 0, NULL), CACHE_MISS);
    assert_int_equal(get(c, "key-A", 0, NULL), CACHE_HIT);
    /* It comes back: stored, evicting the least recently used (B). */
    assert_false(fill_unlikely(c, "key-D"));
    put(c, "key-D", 0, v, &t, 1, 60);
    s = stats(c);
    assert_int_equal(s.admission_rejects, 1);
    assert_int_equal(s.evictions1, 1);
    assert_int_equal(get(c, "key-D", 0, NULL), CACHE_HIT);
    assert_int_equal(get(c, "key-B", 0, NULL), CACHE_MISS);
    /* A write makes every entry stale; a read that finds its entry stale is evidence enough: the
     * refill is stored at once although the shard is still full of (stale) entries. */
    cache_bump(c, &t, 1);
    assert_int_equal(get(c, "key-A", 0, NULL), CACHE_MISS);
    put(c, "key-X", 0, v, &t, 1, 60); /* fits in the room A's entry left: full again */
    assert_int_equal(stats(c).entries1, 3);
    put(c, "key-A", 0, v, &t, 1, 60);
    assert_int_equal(get(c, "key-A", 0, NULL), CACHE_HIT);
    /* ... but a key never seen still is not. */
    put(c, "key-F", 0, v, &t, 1, 60);
    assert_int_equal(get(c, "key-F", 0, NULL), CACHE_MISS);
    s = stats(c);
    assert_int_equal(s.admission_rejects, 2);
    assert_true(s.bytes1 <= cap);
    cache_free(c);
}

/* Two million keys never seen before through a full 32 MiB shard (65,536 tags): once it is full,
 * every one is turned away and nothing more is evicted (filling it did evict some: the index's
 * growth takes room). A tag that repeated the bits that pick its slot had only 20 bits that varied
 * among a slot's keys, so it matched another key's about once in 2^20 checks, admitting it and
 * evicting an entry: this caught that 85% of the time. With 32 varying bits the odds of a false
 * admission here are about 1 in 2,000. */
static void test_admission_tags_do_not_collide(void **state)
{
    (void)state;
    cache *c = mk_adm(32 << 20, 1 << 20, 1 << 16, 1 << 16, 1, 1);
    int t = tid(c, "t");
    char key[40];
    const int full = 150000, n = 2000000;
    for (int i = 0; i < full; i++) {
        snprintf(key, sizeof key, "key-%d", i);
        put(c, key, 0, "0123456789", &t, 1, 60);
    }
    cache_stats s = stats(c);
    int64_t evicted = s.evictions1, refused = s.admission_rejects;
    assert_true(s.entries1 > 10000 && refused > 0);
    for (int i = 0; i < n; i++) {
        snprintf(key, sizeof key, "new-%d", i);
        put(c, key, 0, "0123456789", &t, 1, 60);
    }
    s = stats(c);
    assert_int_equal(s.evictions1, evicted);
    assert_int_equal(s.admission_rejects, refused + n);
    cache_free(c);
}

static void sleep_ms(int ms);

/* A thread asking for key, as a client that finds another one leading its miss: hit is set when
 * the answer is a hit with exactly the data want, then done. */
typedef struct waiter {
    cache      *c;
    const char *key, *want;
    _Atomic int done, hit;
} waiter;

static void *waiter_main(void *arg)
{
    waiter *w = arg;
    buf b;
    buf_init(&b);
    cache_hit h;
    int r = cache_get(w->c, w->key, strlen(w->key), 0, &b, &h, CACHE_LEAD_MISS);
    atomic_store(&w->hit, r == CACHE_HIT && b.len == strlen(w->want) && memcmp(b.data, w->want, b.len) == 0);
    atomic_store(&w->done, 1);
    buf_free(&b);
    return NULL;
}

/* A full shard, and a key other clients wait on while its leader runs: stored at the first fill
 * (a stampede is evidence), and every waiter gets the hit. */

static void test_admission_waiters(void **state)
{
    (void)state;
    cache_set_clock(NULL);
    int64_t esz, tsz;
    entry_sizes(&esz, &tsz);
    cache *c = mk_adm(tsz + 2 * esz + esz / 2 + 16 * 4, 1 << 20, 1 << 16, 1 << 16, 1, 1);
    int t = tid(c, "t");
    put(c, "key-A", 0, "0123456789", &t, 1, 60);
    put(c, "key-B", 0, "0123456789", &t, 1, 60);
    buf b;
    buf_init(&b);
    cache_hit h;
    assert_int_equal(cache_get(c, "hot", 3, 0, &b, &h, CACHE_LEAD_MISS), CACHE_LEAD);
    waiter w = { .c = c, .key = "hot", .want = "=42\n" };
    pthread_t th;
    pthread_create(&th, NULL, waiter_main, &w);
    while (stats(c).flight_waits < 1) /* the waiter is asleep on our flight */
        sleep_ms(1);
    put(c, "hot", 0, "=42\n", &t, 1, 60);
    pthread_join(th, NULL);
    assert_true(w.hit);
    assert_int_equal(stats(c).admission_rejects, 0);
    buf_free(&b);
    cache_free(c);
}

/* Tier 2 takes an evicted result that was read again only if it took demote_min_us or more to
 * compute (a cheap one is as quick to compute again as to fetch from tier 2); a fill whose cost is
 * not known (0) goes down as before. */
static void put_cost(cache *c, const char *key, uint32_t cost_us)
{
    int t = tid(c, "t");
    cache_snap snap;
    cache_snapshot(c, &t, 1, &snap);
    cache_fill f = { .key = key, .klen = strlen(key), .fmt = 0, .data = "0123456789", .len = 10, .rows = 1,
                     .snap = &snap, .ttl_s = 60, .sql = "SELECT 1", .sql_len = 8, .cost_us = cost_us };
    cache_put(c, &f);
}

static void test_demote_only_what_costs(void **state)
{
    (void)state;
    int64_t esz, tsz;
    entry_sizes(&esz, &tsz);
    cache_config cfg = { .hot_bytes = tsz + 3 * esz + esz / 2, .max_bytes = 1 << 20, .max_entry_bytes = 1 << 16,
                         .hot_entry_bytes = 1 << 16, .shards = 1, .demote_min_us = 100 };
    char err[128];
    cache *c = cache_new(&cfg, err, sizeof err);
    assert_non_null(c);
    put_cost(c, "key-A", 50);  /* cheaper than demote_min_us */
    put_cost(c, "key-B", 500); /* dearer */
    put_cost(c, "key-C", 0);   /* not known */
    assert_int_equal(get(c, "key-A", 0, NULL), CACHE_HIT); /* each read again, A the LRU */
    assert_int_equal(get(c, "key-B", 0, NULL), CACHE_HIT);
    assert_int_equal(get(c, "key-C", 0, NULL), CACHE_HIT);
    put_cost(c, "key-D", 50); /* evicts A: dropped */
    assert_int_equal(stats(c).evictions1, 1);
    assert_int_equal(stats(c).entries2, 0);
    put_cost(c, "key-E", 50); /* evicts B: demoted */
    assert_int_equal(stats(c).entries2, 1);
    put_cost(c, "key-F", 50); /* evicts C: demoted */
    assert_int_equal(stats(c).evictions1, 3);
    assert_int_equal(stats(c).entries2, 2);
    assert_int_equal(get(c, "key-A", 0, NULL), CACHE_MISS);
    int tier;
    assert_int_equal(get(c, "key-B", 0, &tier), CACHE_HIT);
    assert_int_equal(tier, 2);
    cache_free(c);
}

/* The leader's hint that its fill will be refused (so it skips the second encoding) weighs the
 * shard's average entry, not the smallest entry a key could make: a full shard keeps up to an entry
 * free, mostly more than the smallest. */
static void test_refusal_foreseen_by_average_size(void **state)
{
    (void)state;
    char v[301];
    memset(v, 'x', 300);
    v[300] = '\0';
    int64_t esz, tsz;
    entry_sizes_of(v, &esz, &tsz);
    cache *c = mk_adm(tsz + 3 * esz + esz * 4 / 5 + 16 * 4, 1 << 20, 1 << 16, 1 << 16, 1, 1);
    int t = tid(c, "t");
    put(c, "key-A", 0, v, &t, 1, 60);
    put(c, "key-B", 0, v, &t, 1, 60);
    put(c, "key-C", 0, v, &t, 1, 60);
    assert_int_equal(stats(c).entries1, 3);
    assert_true(fill_unlikely(c, "key-D")); /* 4/5 of an entry free: an entry like the others will not fit */
    put(c, "key-D", 0, v, &t, 1, 60);
    assert_int_equal(stats(c).admission_rejects, 1);
    assert_int_equal(stats(c).entries1, 3);
    assert_false(fill_unlikely(c, "key-D")); /* it came back: admitted */
    cache_free(c);
}

/* The waiters of one shard share a condition variable: the end of another key's flight wakes the
 * waiter, which must go back to sleep until its own leader is done, then find that result. */

static void test_flight_own_leader(void **state)
{
    (void)state;
    cache_set_clock(NULL);
    cache *c = mk(1 << 20, 4 << 20, 64 << 10, 16 << 10, 1); /* one shard: both flights share it */
    int t = tid(c, "t");
    buf b;
    buf_init(&b);
    cache_hit h;
    assert_int_equal(cache_get(c, "key-A", 5, 0, &b, &h, CACHE_LEAD_MISS), CACHE_LEAD);
    assert_int_equal(cache_get(c, "key-B", 5, 0, &b, &h, CACHE_LEAD_MISS), CACHE_LEAD);
    waiter w = { .c = c, .key = "key-A", .want = "=42\n" };
    pthread_t th;
    pthread_create(&th, NULL, waiter_main, &w);
    while (stats(c).flight_waits < 1)
        sleep_ms(1);
    cache_abandon(c, "key-B", 5, 0); /* B's leader gives up: its end wakes the shard's waiters */
    sleep_ms(50);
    assert_int_equal(atomic_load(&w.done), 0); /* still waiting for A */
    /* B's record is reused by the shard's next leader, and that flight works as any other. */
    assert_int_equal(cache_get(c, "key-C", 5, 0, &b, &h, CACHE_LEAD_MISS), CACHE_LEAD);
    assert_int_equal(cache_get(c, "key-B", 5, 0, &b, &h, CACHE_LEAD_MISS), CACHE_LEAD);
    put(c, "key-A", 0, "=42\n", &t, 1, 60);
    pthread_join(th, NULL);
    assert_true(atomic_load(&w.hit));
    assert_int_equal(stats(c).flight_waits, 1);
    cache_abandon(c, "key-B", 5, 0);
    cache_abandon(c, "key-C", 5, 0);
    buf_free(&b);
    cache_free(c);
}

static void test_byte_caps(void **state)
{
    (void)state;
    const int64_t hot = 1 << 20, max = 4 << 20, hot_entry = 16 << 10, max_entry = 64 << 10;
    const int shards = 8, n = 100000;
    cache *c = mk(hot, max, max_entry, hot_entry, shards);
    int t = tid(c, "t");
    static char data[40 << 10];
    memset(data, 'x', sizeof data);
    char key[64];
    int64_t biggest = 0, stored = 0;
    uint32_t rnd = 12345;
    for (int i = 0; i < n; i++) {
        rnd = rnd * 1103515245u + 12345u;
        size_t len = 16 + (rnd >> 8) % 2000;
        if (i % 97 == 0)
            len = 20000 + (rnd >> 8) % 20000; /* over hot_entry_bytes: straight to tier 2 */
        snprintf(key, sizeof key, "SELECT * FROM t WHERE id = %d", i);
        put_n(c, key, 0, data, len, &t, 1, 3600);
        if (len <= (size_t)hot_entry)
            assert_int_equal(get(c, key, 0, NULL), CACHE_HIT); /* read once: worth demoting */
        stored++;
        if ((int64_t)len > biggest)
            biggest = (int64_t)len;
        if (i % 10000 == 0) {
            cache_stats s = stats(c);
            assert_true(s.bytes1 <= hot);
            assert_true(s.bytes2 <= max);
        }
    }
    cache_stats s = stats(c);
    /* The bound is strict: eviction runs until the shard fits, and no entry is larger than a shard. */
    assert_true(s.bytes1 <= hot);
    assert_true(s.bytes1 > hot / 2);
    assert_true(s.bytes2 <= max);
    assert_true(s.bytes2 > max / 2);
    /* Every entry is somewhere or was evicted from tier 2 (tier-1 evictions were demoted). */
    assert_int_equal(s.entries1 + s.entries2 + s.evictions2, stored);
    assert_int_equal(query_int(c, "SELECT count(*) FROM entries"), s.entries2);
    assert_int_equal(query_int(c, "SELECT sum(bytes) FROM entries"), s.bytes2);
    fprintf(stderr, "    caps: entries1=%lld bytes1=%lld entries2=%lld bytes2=%lld evictions1=%lld evictions2=%lld\n",
            (long long)s.entries1, (long long)s.bytes1, (long long)s.entries2, (long long)s.bytes2,
            (long long)s.evictions1, (long long)s.evictions2);
    cache_free(c);
}

static void test_entry_size_limits(void **state)
{
    (void)state;
    cache *c = mk(1 << 20, 4 << 20, 8192, 1024, 2);
    int t = tid(c, "t"), tier;
    static char data[10000];
    memset(data, 'y', sizeof data);
    put_n(c, "big", 0, data, 2000, &t, 1, 60);   /* over hot_entry_bytes: tier 2 only */
    put_n(c, "huge", 0, data, 9000, &t, 1, 60);  /* over max_entry_bytes: not stored */
    put_n(c, "small", 0, data, 1000, &t, 1, 60);
    cache_stats s = stats(c);
    assert_int_equal(s.entries1, 1);
    assert_int_equal(s.entries2, 1);
    assert_int_equal(get(c, "big", 0, &tier), CACHE_HIT);
    assert_int_equal(tier, 2);
    assert_int_equal(strlen(got), 2000);
    assert_int_equal(get(c, "big", 0, &tier), CACHE_HIT); /* never promoted */
    assert_int_equal(tier, 2);
    assert_int_equal(get(c, "huge", 0, NULL), CACHE_MISS);
    assert_int_equal(get(c, "small", 0, &tier), CACHE_HIT);
    assert_int_equal(tier, 1);
    assert_int_equal(query_int(c, "SELECT hits FROM entries"), 2);
    cache_free(c);
}

/* A reload may move max_entry_bytes both ways while the cache holds entries. */
static void test_entry_size_limit_changes(void **state)
{
    (void)state;
    cache *c = mk(1 << 20, 8 << 20, 8192, 1024, 2);
    int t = tid(c, "t");
    /* Past the 1 MiB SQLite length limit tier 2 starts with for an 8 KiB cap, so it must grow too. */
    const size_t large = 3 << 19;
    char *data = malloc(large);
    assert_non_null(data);
    memset(data, 'z', large);
    put_n(c, "large", 0, data, large, &t, 1, 60);
    assert_int_equal(get(c, "large", 0, NULL), CACHE_MISS);
    assert_int_equal(cache_kv_set(c, "k", 1, data, 9000, -1), CACHE_KV_TOO_BIG);

    cache_set_max_entry_bytes(c, 2 << 20);
    put_n(c, "large", 0, data, large, &t, 1, 60);
    assert_int_equal(query_int(c, "SELECT count(*) FROM entries WHERE key = CAST('large' AS BLOB)"), 1);
    assert_int_equal(cache_kv_set(c, "k", 1, data, large, -1), 0);
    buf b;
    buf_init(&b);
    assert_int_equal(cache_kv_get(c, "k", 1, &b), 1);
    assert_int_equal(b.len, large);

    /* Lowered: new fills are held to it, but what was stored stays readable until it goes. */
    cache_set_max_entry_bytes(c, 8192);
    put_n(c, "large2", 0, data, large, &t, 1, 60);
    assert_int_equal(query_int(c, "SELECT count(*) FROM entries WHERE key = CAST('large2' AS BLOB)"), 0);
    assert_int_equal(cache_kv_set(c, "k2", 2, data, 9000, -1), CACHE_KV_TOO_BIG);
    b.len = 0;
    assert_int_equal(cache_kv_get(c, "k", 1, &b), 1);
    assert_int_equal(b.len, large);
    cache_hit h = { 0 };
    b.len = 0;
    assert_int_equal(cache_get(c, "large", 5, 0, &b, &h, 0), CACHE_HIT);
    assert_int_equal(b.len, large);
    buf_free(&b);
    free(data);
    cache_free(c);
}

static void test_flush(void **state)
{
    (void)state;
    cache *c = mk(1 << 20, 4 << 20, 8192, 1024, 4);
    int users = tid(c, "users"), orders = tid(c, "orders"), both[2] = { users, orders };
    static char big[3000];
    memset(big, 'z', sizeof big);
    put(c, "u1", 0, "a", &users, 1, 60);
    put(c, "u1", 1, "a", &users, 1, 60);         /* a second slot: still one entry */
    put(c, "u2", 0, "a", &users, 1, 60);
    put_n(c, "u3", 0, big, sizeof big, both, 2, 60); /* tier 2 */
    put(c, "o1", 0, "a", &orders, 1, 60);
    put_n(c, "o2", 0, big, sizeof big, &orders, 1, 60);
    assert_int_equal(cache_kv_set(c, "session", 7, "v", 1, -1), 0);
    cache_stats s = stats(c);
    assert_int_equal(s.entries1, 3);
    assert_int_equal(s.entries2, 2);

    assert_int_equal(cache_flush_table(c, users), 3);
    assert_int_equal(get(c, "o1", 0, NULL), CACHE_HIT);
    assert_int_equal(get(c, "u2", 0, NULL), CACHE_MISS);
    /* A fill that read users before the flush is refused after it. */
    cache_snap snap;
    cache_snapshot(c, &users, 1, &snap);
    cache_flush_table(c, users);
    cache_fill f = { .key = "u9", .klen = 2, .fmt = 0, .data = "x", .len = 1, .snap = &snap, .ttl_s = 60 };
    cache_put(c, &f);
    assert_int_equal(get(c, "u9", 0, NULL), CACHE_MISS);

    assert_int_equal(cache_flush_all(c), 2);
    s = stats(c);
    assert_int_equal(s.entries1 + s.entries2, 0);
    assert_int_equal(s.bytes2 > 0, 1); /* the key-value row */
    assert_int_equal(s.kv_keys, 1);    /* KV is not flushed */
    buf b;
    buf_init(&b);
    assert_int_equal(cache_kv_get(c, "session", 7, &b), 1);
    buf_free(&b);
    assert_int_equal(cache_flush_table(c, -1), 0);
    cache_free(c);
}

static void test_sweep(void **state)
{
    (void)state;
    cache *c = mk(1 << 20, 4 << 20, 8192, 1024, 4);
    int t = tid(c, "t"), u = tid(c, "u");
    static char big[3000];
    memset(big, 'z', sizeof big);
    put(c, "short1", 0, "a", &t, 1, 10);
    put_n(c, "short2", 0, big, sizeof big, &t, 1, 10);
    put(c, "long1", 0, "a", &t, 1, 100);
    put_n(c, "long2", 0, big, sizeof big, &t, 1, 100);
    put(c, "stale1", 0, "a", &u, 1, 100);
    put_n(c, "stale2", 0, big, sizeof big, &u, 1, 100);
    cache_kv_set(c, "kshort", 6, "v", 1, 10);
    cache_kv_set(c, "klong", 5, "v", 1, 100);
    cache_kv_set(c, "kforever", 8, "v", 1, -1);
    cache_stats s = stats(c);
    assert_int_equal(s.entries1, 3);
    assert_int_equal(s.entries2, 3);
    assert_int_equal(s.kv_keys, 3);
    int64_t kvbytes = s.bytes2;

    fake_t += 50;
    cache_bump(c, &u, 1);
    cache_sweep(c);
    s = stats(c);
    assert_int_equal(s.entries1, 1);
    assert_int_equal(s.entries2, 1);
    assert_int_equal(s.expirations, 2);
    assert_int_equal(s.invalidations, 2);
    assert_int_equal(s.kv_keys, 2);
    assert_true(s.bytes2 < kvbytes);
    assert_int_equal(get(c, "long1", 0, NULL), CACHE_HIT);
    assert_int_equal(get(c, "long2", 0, NULL), CACHE_HIT);
    fake_t += 1000;
    cache_sweep(c);
    s = stats(c);
    assert_int_equal(s.entries1 + s.entries2, 0);
    assert_int_equal(s.kv_keys, 1);
    cache_free(c);
}

typedef struct top_row {
    char    sql[64];
    int64_t hits;
    int     tier, ttl;
} top_row;
static top_row tops[16];
static int ntops;

static void top_cb(void *ud, const char *sql, size_t sql_len, int64_t hits, double age_s, int ttl_s,
                   int64_t bytes, int tier)
{
    (void)ud;
    assert_true(age_s >= 0);
    assert_true(bytes > 0);
    top_row *r = &tops[ntops++];
    snprintf(r->sql, sizeof r->sql, "%.*s", (int)sql_len, sql);
    r->hits = hits;
    r->tier = tier;
    r->ttl = ttl_s;
}

static void test_top(void **state)
{
    (void)state;
    cache *c = mk(1 << 20, 4 << 20, 8192, 1024, 4);
    int t = tid(c, "t");
    static char big[3000];
    memset(big, 'z', sizeof big);
    put(c, "A", 0, "a", &t, 1, 60);
    put(c, "B", 0, "b", &t, 1, 60);
    put(c, "C", 0, "c", &t, 1, 60);
    put_n(c, "D", 0, big, sizeof big, &t, 1, 30);
    for (int i = 0; i < 5; i++)
        get(c, "A", 0, NULL);
    for (int i = 0; i < 3; i++)
        get(c, "D", 0, NULL);
    for (int i = 0; i < 2; i++)
        get(c, "B", 0, NULL);
    get(c, "C", 0, NULL);
    ntops = 0;
    cache_top(c, 10, top_cb, NULL);
    assert_int_equal(ntops, 4);
    assert_string_equal(tops[0].sql, "SELECT /* A */");
    assert_int_equal(tops[0].hits, 5);
    assert_int_equal(tops[0].tier, 1);
    assert_int_equal(tops[0].ttl, 60);
    assert_string_equal(tops[1].sql, "SELECT /* D */");
    assert_int_equal(tops[1].hits, 3);
    assert_int_equal(tops[1].tier, 2);
    assert_int_equal(tops[1].ttl, 30);
    assert_string_equal(tops[2].sql, "SELECT /* B */");
    assert_string_equal(tops[3].sql, "SELECT /* C */");
    ntops = 0;
    cache_top(c, 2, top_cb, NULL);
    assert_int_equal(ntops, 2);
    assert_int_equal(tops[0].hits, 5);
    assert_int_equal(tops[1].hits, 3);
    ntops = 0;
    cache_top(c, 0, top_cb, NULL);
    assert_int_equal(ntops, 0);
    cache_free(c);
}

static void test_query(void **state)
{
    (void)state;
    cache *c = mk(1 << 20, 4 << 20, 8192, 1024, 4);
    int t = tid(c, "t");
    static char big[3000];
    memset(big, 'z', sizeof big);
    put_n(c, "D", 0, big, sizeof big, &t, 1, 30);
    put_n(c, "E", 1, big, sizeof big, &t, 1, 30);
    assert_string_equal(query(c, "SELECT count(*) FROM entries", LP_FMT_TSV), "#count(*)\n=2\n+OK 1 rows\n");
    assert_string_equal(query(c, "select count(*) AS n from entries;  -- trailing comment\n", LP_FMT_JSON),
                        "#[\"n\"]\n=[2]\n+OK 1 rows\n");
    assert_string_equal(query(c, "SELECT fmt, rows FROM entries WHERE fmt = 7", LP_FMT_TSV), "#fmt\trows\n+OK 0 rows\n");
    assert_string_equal(query(c, "SELECT x'00ff', 1.5, NULL", LP_FMT_TSV),
                        "#x'00ff'\t1.5\tNULL\n=\\x00ff\t1.5\t\\N\n+OK 1 rows\n");
    assert_string_equal(query(c, "DELETE FROM entries", LP_FMT_TSV), "-ERR 42501 CACHE QUERY only reads\n");
    assert_string_equal(query(c, "CREATE TABLE x(a)", LP_FMT_TSV), "-ERR 42501 CACHE QUERY only reads\n");
    assert_true(strncmp(query(c, "ATTACH '/tmp/lc_attack.db' AS x", LP_FMT_TSV), "-ERR 42501 ", 11) == 0);
    assert_int_equal(access("/tmp/lc_attack.db", F_OK), -1);
    assert_true(strncmp(query(c, "VACUUM INTO '/tmp/lc_attack.db'", LP_FMT_TSV), "-ERR ", 5) == 0);
    assert_int_equal(access("/tmp/lc_attack.db", F_OK), -1);
    assert_true(strncmp(query(c, "BEGIN", LP_FMT_TSV), "-ERR 42501 ", 11) == 0);
    assert_true(strncmp(query(c, "PRAGMA writable_schema=1", LP_FMT_TSV), "-ERR 42501 ", 11) == 0);
    assert_true(strncmp(query(c, "SELECT lc_pred(snap, 1) FROM entries", LP_FMT_TSV), "-ERR 42501 ", 11) == 0);
    assert_true(strncmp(query(c, "SELEC 1", LP_FMT_TSV), "-ERR 42601 ", 11) == 0);
    assert_true(strncmp(query(c, "SELECT 1; SELECT 2", LP_FMT_TSV), "-ERR 42601 ", 11) == 0);
    assert_true(strncmp(query(c, "", LP_FMT_TSV), "-ERR 42601 ", 11) == 0);
    assert_true(strncmp(query(c, "SELECT * FROM nope", LP_FMT_TSV), "-ERR 42P01 ", 11) == 0);
    assert_true(strncmp(query(c, "SELECT nope FROM entries", LP_FMT_TSV), "-ERR 42703 ", 11) == 0);
    query(c, "PRAGMA table_info(kv)", LP_FMT_TSV);
    assert_true(strlen(qout) > 11);
    assert_string_equal(qout + strlen(qout) - 11, "+OK 4 rows\n");
    /* the tier still works afterwards (no transaction or authorizer left behind) */
    assert_int_equal(get(c, "D", 0, NULL), CACHE_HIT);
    put_n(c, "F", 0, big, sizeof big, &t, 1, 30);
    assert_int_equal(query_int(c, "SELECT count(*) FROM entries"), 3);
    cache_free(c);
}

/* ---- key-value tier ------------------------------------------------------------------------------ */

static int kv_get(cache *c, const char *k)
{
    buf b;
    buf_init(&b);
    int r = cache_kv_get(c, k, strlen(k), &b);
    snprintf(got, sizeof got, "%.*s", (int)b.len, b.data ? b.data : "");
    buf_free(&b);
    return r;
}

static void test_kv(void **state)
{
    (void)state;
    cache *c = mk(1 << 20, 4 << 20, 8192, 1024, 4);
    assert_int_equal(kv_get(c, "a"), 0);
    assert_int_equal(cache_kv_ttl(c, "a", 1), -2);
    assert_int_equal(cache_kv_set(c, "a", 1, "one", 3, -1), 0);
    assert_int_equal(kv_get(c, "a"), 1);
    assert_string_equal(got, "one");
    assert_int_equal(kv_get(c, "a"), 1); /* from the hot copy now */
    assert_string_equal(got, "one");
    assert_int_equal(cache_kv_ttl(c, "a", 1), -1);
    assert_int_equal(cache_kv_set(c, "a", 1, "uno", 3, 10), 0); /* SET replaces value and TTL */
    assert_int_equal(kv_get(c, "a"), 1);
    assert_string_equal(got, "uno");
    assert_int_equal(cache_kv_ttl(c, "a", 1), 10);
    fake_t += 4.5;
    assert_int_equal(cache_kv_ttl(c, "a", 1), 6); /* ceil(5.5) */
    assert_int_equal(cache_kv_expire(c, "a", 1, 100), 1);
    assert_int_equal(cache_kv_ttl(c, "a", 1), 100);
    fake_t += 99;
    assert_int_equal(kv_get(c, "a"), 1);
    fake_t += 1;
    assert_int_equal(kv_get(c, "a"), 0); /* expired: absent, and removed */
    assert_int_equal(cache_kv_ttl(c, "a", 1), -2);
    assert_int_equal(stats(c).kv_keys, 0);
    assert_int_equal(cache_kv_expire(c, "a", 1, 5), 0);

    assert_int_equal(cache_kv_set(c, "b", 1, "two", 3, 10), 0);
    assert_int_equal(cache_kv_set(c, "b", 1, "deux", 4, -1), 0);
    assert_int_equal(cache_kv_ttl(c, "b", 1), -1);
    assert_int_equal(cache_kv_del(c, "b", 1), 1);
    assert_int_equal(cache_kv_del(c, "b", 1), 0);
    assert_int_equal(kv_get(c, "b"), 0);
    assert_int_equal(cache_kv_set(c, "b", 1, "trois", 5, 10), 0);
    assert_int_equal(cache_kv_expire(c, "b", 1, 0), 1); /* EXPIRE 0: gone now */
    assert_int_equal(kv_get(c, "b"), 0);
    assert_int_equal(cache_kv_set(c, "b", 1, "x", 1, INT64_MAX), 0); /* clamped, no overflow */
    assert_int_equal(cache_kv_ttl(c, "b", 1), 100000000000);
    assert_int_equal(cache_kv_expire(c, "b", 1, INT64_MAX), 1);
    assert_int_equal(cache_kv_ttl(c, "b", 1), 100000000000);
    assert_int_equal(cache_kv_expire(c, "b", 1, -5), 1);
    assert_int_equal(cache_kv_ttl(c, "b", 1), -2);

    /* binary keys and values, an empty value, a key an SQL key could also be */
    assert_int_equal(cache_kv_set(c, "k\0x", 3, "v\0w", 3, -1), 0);
    buf b;
    buf_init(&b);
    assert_int_equal(cache_kv_get(c, "k\0x", 3, &b), 1);
    assert_int_equal(b.len, 3);
    assert_memory_equal(b.data, "v\0w", 3);
    buf_free(&b);
    assert_int_equal(kv_get(c, "k"), 0);
    assert_int_equal(cache_kv_set(c, "empty", 5, "", 0, -1), 0);
    assert_int_equal(kv_get(c, "empty"), 1);
    assert_string_equal(got, "");
    int t = tid(c, "t");
    put(c, "samekey", 0, "result", &t, 1, 60);
    assert_int_equal(cache_kv_set(c, "samekey", 7, "kv", 2, -1), 0);
    assert_int_equal(kv_get(c, "samekey"), 1);
    assert_string_equal(got, "kv");
    assert_int_equal(get(c, "samekey", 0, NULL), CACHE_HIT);
    assert_string_equal(got, "result");
    cache_bump_all(c); /* versions never touch key-value rows */
    assert_int_equal(kv_get(c, "samekey"), 1);

    /* over the caps: refused */
    static char big[9000];
    assert_int_equal(cache_kv_set(c, "big", 3, big, sizeof big, -1), CACHE_KV_TOO_BIG);
    assert_int_equal(stats(c).kv_keys, 3);
    cache_free(c);
}

static void test_kv_cap(void **state)
{
    (void)state;
    cache *c = mk(64 << 10, 64 << 10, 8192, 1024, 1);
    static char v[8000];
    char k[32];
    int ok = 0;
    for (int i = 0; i < 20; i++) {
        snprintf(k, sizeof k, "key%d", i);
        ok += cache_kv_set(c, k, strlen(k), v, sizeof v, -1) == 0;
    }
    cache_stats s = stats(c);
    assert_int_equal(ok, 8); /* 8000 + 2*4 + 100 bytes each under a 64 KiB cap */
    assert_int_equal(s.kv_keys, 8);
    assert_true(s.bytes2 <= 64 << 10);
    /* a key-value row pushes results out */
    cache_free(c);
    c = mk(64 << 10, 64 << 10, 8192, 100, 1);
    int t = tid(c, "t");
    put_n(c, "r1", 0, v, 5000, &t, 1, 60);
    put_n(c, "r2", 0, v, 5000, &t, 1, 60);
    for (int i = 0; i < 7; i++) {
        snprintf(k, sizeof k, "key%d", i);
        assert_int_equal(cache_kv_set(c, k, strlen(k), v, sizeof v, -1), 0);
    }
    s = stats(c);
    assert_int_equal(s.entries2, 1); /* 7 rows of 8108 bytes and one result of 5129 fit, not two */
    assert_int_equal(s.evictions2, 1);
    assert_int_equal(get(c, "r2", 0, NULL), CACHE_HIT); /* the older one went */
    assert_true(s.bytes2 <= 64 << 10);
    cache_free(c);
}

/* ---- threads ---------------------------------------------------------------------------------- */

/* cmocka's asserts longjmp, which only the main thread may do: threads count failures instead. */
static _Atomic int thread_errors;
#define CHECK(cond)                                                                     \
    do {                                                                                \
        if (!(cond)) {                                                                  \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond);    \
            atomic_fetch_add(&thread_errors, 1);                                        \
        }                                                                               \
    } while (0)

typedef struct sf {
    cache            *c;
    pthread_barrier_t go;
    _Atomic int       leads, hits, misses, abandon_first;
} sf;

static void sleep_ms(int ms)
{
    struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };
    nanosleep(&ts, NULL);
}

static void *sf_thread(void *arg)
{
    sf *x = arg;
    buf b;
    buf_init(&b);
    cache_hit h;
    pthread_barrier_wait(&x->go);
    int r = cache_get(x->c, "hot", 3, 0, &b, &h, 1);
    if (r == CACHE_LEAD) {
        int n = atomic_fetch_add(&x->leads, 1);
        sleep_ms(50);
        if (n == 0 && x->abandon_first) {
            cache_abandon(x->c, "hot", 3, 0);
        } else {
            int t = 0;
            cache_snap snap;
            cache_snapshot(x->c, &t, 1, &snap);
            cache_fill f = { .key = "hot", .klen = 3, .fmt = 0, .data = "=42\n", .len = 4, .rows = 1,
                             .snap = &snap, .ttl_s = 60 };
            cache_put(x->c, &f);
        }
    } else if (r == CACHE_HIT) {
        atomic_fetch_add(&x->hits, 1);
        CHECK(b.len == 4 && memcmp(b.data, "=42\n", 4) == 0);
    } else {
        atomic_fetch_add(&x->misses, 1);
    }
    buf_free(&b);
    return NULL;
}

static void run_sf(sf *x, int n)
{
    pthread_t th[64];
    pthread_barrier_init(&x->go, NULL, (unsigned)n);
    for (int i = 0; i < n; i++)
        pthread_create(&th[i], NULL, sf_thread, x);
    for (int i = 0; i < n; i++)
        pthread_join(th[i], NULL);
    pthread_barrier_destroy(&x->go);
}

static void test_single_flight(void **state)
{
    (void)state;
    cache_set_clock(NULL);
    sf x = { .c = mk_default() };
    tid(x.c, "t");
    run_sf(&x, 32);
    cache_stats s = stats(x.c);
    assert_int_equal(thread_errors, 0);
    assert_int_equal(x.leads, 1);
    assert_int_equal(x.hits, 31);
    assert_int_equal(x.misses, 0);
    /* A thread scheduled after the put gets a plain hit without waiting. */
    assert_true(s.flight_waits > 0 && s.flight_waits <= 31);
    fprintf(stderr, "    single flight: flight_waits=%lld\n", (long long)s.flight_waits);
    assert_int_equal(s.hits1, 31);
    assert_int_equal(s.misses, 1);
    cache_free(x.c);
}

static void test_single_flight_abandon(void **state)
{
    (void)state;
    cache_set_clock(NULL);
    sf x = { .c = mk_default(), .abandon_first = 1 };
    tid(x.c, "t");
    run_sf(&x, 8);
    cache_stats s = stats(x.c);
    assert_int_equal(thread_errors, 0);
    /* The first leader gave up; one waiter took over and stored; the rest hit. */
    assert_int_equal(x.leads, 2);
    assert_int_equal(x.hits, 6);
    assert_int_equal(x.misses, 0);
    assert_true(s.flight_waits >= 6);
    cache_free(x.c);
}

/* Key-value reads must never go back in time, and a writer must read its own write, even while
 * the hot copy is churned out by other keys and refilled by readers racing the writer. */
typedef struct kvrace {
    cache      *c;
    _Atomic int done;
    int         n;
} kvrace;

static int64_t kv_read_int(cache *c, const char *k, buf *b)
{
    buf_reset(b);
    if (!cache_kv_get(c, k, strlen(k), b))
        return -1;
    buf_putc(b, '\0');
    return strtoll(b->data, NULL, 10);
}

static void *kv_writer(void *arg)
{
    kvrace *x = arg;
    buf b;
    buf_init(&b);
    char v[32];
    for (int i = 1; i <= x->n; i++) {
        int len = snprintf(v, sizeof v, "%d", i);
        CHECK(cache_kv_set(x->c, "ctr", 3, v, (size_t)len, i % 7 ? -1 : 100) == 0);
        CHECK(kv_read_int(x->c, "ctr", &b) == i);
        char k[16];
        int kl = snprintf(k, sizeof k, "fill%d", i % 40);
        cache_kv_set(x->c, k, (size_t)kl, "0123456789012345678901234567890123456789", 40, -1);
        if (i % 11 == 0)
            CHECK(cache_kv_expire(x->c, "ctr", 3, 1000) == 1);
    }
    atomic_store(&x->done, 1);
    buf_free(&b);
    return NULL;
}

static void *kv_reader(void *arg)
{
    kvrace *x = arg;
    buf b;
    buf_init(&b);
    int64_t last = 0;
    char k[16];
    for (int i = 0; !atomic_load(&x->done); i++) {
        int64_t v = kv_read_int(x->c, "ctr", &b);
        CHECK(v == -1 ? last == 0 : v >= last);
        if (v > last)
            last = v;
        snprintf(k, sizeof k, "fill%d", i % 40);
        kv_read_int(x->c, k, &b);
    }
    CHECK(kv_read_int(x->c, "ctr", &b) == x->n);
    buf_free(&b);
    return NULL;
}

static void test_kv_threads(void **state)
{
    (void)state;
    cache_set_clock(NULL);
    kvrace x = { .c = mk(4096, 1 << 20, 8192, 1024, 1), .n = 3000 };
    pthread_t th[4];
    pthread_create(&th[0], NULL, kv_writer, &x);
    for (int i = 1; i < 4; i++)
        pthread_create(&th[i], NULL, kv_reader, &x);
    for (int i = 0; i < 4; i++)
        pthread_join(th[i], NULL);
    assert_int_equal(thread_errors, 0);
    cache_stats s = stats(x.c);
    assert_true(s.evictions1 > 0); /* the hot copies really were churned */
    assert_int_equal(s.kv_keys, 41);
    cache_free(x.c);
}

typedef struct stress {
    cache      *c;
    int         seed;
    int         ids[4];
    int64_t     gets;
} stress;

/* Random gets (as a server would: snapshot, get with lead, then put or abandon), plain puts, writes,
 * and key-value traffic over 400 keys whose size and content are fixed by the key, so any hit can
 * be checked. */
static void *stress_thread(void *arg)
{
    stress *x = arg;
    uint32_t r = (uint32_t)x->seed * 2654435761u + 1;
    char *data = calloc(1, 24 << 10);
    if (!data)
        abort();
    buf b;
    buf_init(&b);
    char key[32], tag[16];
    for (int i = 0; i < 20000; i++) {
        r = r * 1103515245u + 12345u;
        int k = (int)((r >> 8) % 400), op = (int)((r >> 20) % 100), fmt = (int)(r >> 28) % 2;
        snprintf(key, sizeof key, "q%d", k);
        snprintf(tag, sizeof tag, "%07d", k);
        memcpy(data, tag, 8);
        int ids[2] = { x->ids[k % 4], x->ids[(k / 4) % 4] };
        size_t len = (k % 50 == 0) ? 20000 : (size_t)(10 + k * 20); /* over 4 KiB: pinned, not copied under the lock */
        if (op < 70) {
            buf_reset(&b);
            cache_hit h;
            cache_snap snap;
            cache_snapshot(x->c, ids, 2, &snap); /* before "running the query" */
            int res = cache_get(x->c, key, strlen(key), fmt, &b, &h, 1);
            x->gets++;
            if (res == CACHE_HIT) {
                CHECK(b.len == len && memcmp(b.data, tag, 8) == 0);
                CHECK(h.tier == 1 || h.tier == 2);
            } else if (res == CACHE_LEAD) {
                if (op % 10 == 0) {
                    cache_abandon(x->c, key, strlen(key), fmt);
                } else {
                    cache_fill f = { .key = key, .klen = strlen(key), .fmt = fmt, .data = data, .len = len,
                                     .rows = 1, .snap = &snap, .ttl_s = 1 + (int)(r % 5), .sql = key,
                                     .sql_len = strlen(key) };
                    cache_put(x->c, &f);
                }
            } else {
                CHECK(!"a leader-seeking get returned a plain miss");
            }
        } else if (op < 78) {
            cache_snap snap;
            cache_snapshot(x->c, ids, 2, &snap);
            cache_fill f = { .key = key, .klen = strlen(key), .fmt = fmt, .data = data, .len = len, .rows = 1,
                             .snap = &snap, .ttl_s = 60 };
            cache_put(x->c, &f);
        } else if (op < 79) {
            cache_bump(x->c, &ids[0], 1);
        } else if (op < 88) {
            cache_kv_set(x->c, key, strlen(key), data, len % 3000, (op % 2) ? 5 : -1);
        } else if (op < 97) {
            buf_reset(&b);
            if (cache_kv_get(x->c, key, strlen(key), &b)) {
                CHECK(b.len == len % 3000 && memcmp(b.data, tag, b.len < 8 ? b.len : 8) == 0);
            }
        } else if (op < 99) {
            cache_kv_del(x->c, key, strlen(key));
        } else if (i % 100 == 0) {
            cache_sweep(x->c);
        } else if (i % 1000 == 1) {
            cache_bump_all(x->c);
        }
    }
    buf_free(&b);
    free(data);
    return NULL;
}

static void test_stress(void **state)
{
    (void)state;
    cache_set_clock(NULL);
    cache *c = mk(1 << 20, 512 << 10, 32 << 10, 16 << 10, 4);
    stress x[4];
    pthread_t th[4];
    int ids[4] = { tid(c, "a"), tid(c, "b"), tid(c, "c"), tid(c, "d") };
    for (int i = 0; i < 4; i++) {
        x[i] = (stress){ .c = c, .seed = i + 1 };
        memcpy(x[i].ids, ids, sizeof ids);
        pthread_create(&th[i], NULL, stress_thread, &x[i]);
    }
    int64_t gets = 0;
    for (int i = 0; i < 4; i++) {
        pthread_join(th[i], NULL);
        gets += x[i].gets;
    }
    cache_stats s = stats(c);
    assert_int_equal(thread_errors, 0);
    assert_int_equal(s.hits1 + s.hits2 + s.misses, gets);
    assert_true(s.bytes1 <= 1 << 20);
    assert_true(s.bytes2 <= 512 << 10);
    assert_int_equal(query_int(c, "SELECT count(*) FROM entries"), s.entries2);
    assert_int_equal(query_int(c, "SELECT count(*) FROM kv"), s.kv_keys);
    assert_int_equal(query_int(c, "SELECT coalesce(sum(bytes), 0) FROM entries") +
                     query_int(c, "SELECT coalesce(sum(bytes), 0) FROM kv"), s.bytes2);
    fprintf(stderr, "    stress: gets=%lld hits1=%lld hits2=%lld misses=%lld waits=%lld inval=%lld evict1=%lld evict2=%lld\n",
            (long long)gets, (long long)s.hits1, (long long)s.hits2, (long long)s.misses,
            (long long)s.flight_waits, (long long)s.invalidations, (long long)s.evictions1,
            (long long)s.evictions2);
    cache_flush_all(c);
    s = stats(c);
    assert_int_equal(s.entries1 + s.entries2, 0);
    cache_free(c);
}

/* Not a check: what a tier-1 hit of a 100-byte entry costs on this machine. */
static void test_hit_cost(void **state)
{
    (void)state;
    cache_set_clock(NULL);
    cache *c = mk_default();
    int t = tid(c, "t");
    char data[100];
    memset(data, 'h', sizeof data);
    const char *key = "SELECT id, name, email FROM users WHERE id = ?\x01\x00\x00\x00\x00\x00\x00\x00\x2a";
    size_t klen = 56;
    cache_snap snap;
    cache_snapshot(c, &t, 1, &snap);
    cache_fill f = { .key = key, .klen = klen, .fmt = 0, .data = data, .len = sizeof data, .rows = 1,
                     .snap = &snap, .ttl_s = 60 };
    cache_put(c, &f);
    buf b;
    buf_init(&b);
    cache_hit h;
    const int n = 1000000;
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (int i = 0; i < n; i++) {
        buf_reset(&b);
        if (cache_get(c, key, klen, 0, &b, &h, 1) != CACHE_HIT)
            fail();
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double ns = ((double)(t1.tv_sec - t0.tv_sec) * 1e9 + (double)(t1.tv_nsec - t0.tv_nsec)) / n;
    fprintf(stderr, "    tier-1 hit, 100-byte entry, %zu-byte key: %.1f ns/op\n", klen, ns);
    buf_free(&b);
    cache_free(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_put_get_formats, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ttl_expiry, setup, teardown),
        cmocka_unit_test_setup_teardown(test_versions, setup, teardown),
        cmocka_unit_test_setup_teardown(test_table_registry_full, setup, teardown),
        cmocka_unit_test_setup_teardown(test_lru_demote_promote, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unread_entries_are_not_demoted, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tier2_filter_keeps_live_rows, setup, teardown),
        cmocka_unit_test_setup_teardown(test_admission_repeat, setup, teardown),
        cmocka_unit_test_setup_teardown(test_admission_waiters, setup, teardown),
        cmocka_unit_test_setup_teardown(test_flight_own_leader, setup, teardown),
        cmocka_unit_test_setup_teardown(test_refusal_foreseen_by_average_size, setup, teardown),
        cmocka_unit_test_setup_teardown(test_demote_only_what_costs, setup, teardown),
        cmocka_unit_test_setup_teardown(test_admission_tags_do_not_collide, setup, teardown),
        cmocka_unit_test_setup_teardown(test_byte_caps, setup, teardown),
        cmocka_unit_test_setup_teardown(test_entry_size_limits, setup, teardown),
        cmocka_unit_test_setup_teardown(test_entry_size_limit_changes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_flush, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sweep, setup, teardown),
        cmocka_unit_test_setup_teardown(test_top, setup, teardown),
        cmocka_unit_test_setup_teardown(test_query, setup, teardown),
        cmocka_unit_test_setup_teardown(test_kv, setup, teardown),
        cmocka_unit_test_setup_teardown(test_kv_cap, setup, teardown),
        cmocka_unit_test_setup_teardown(test_single_flight, setup, teardown),
        cmocka_unit_test_setup_teardown(test_single_flight_abandon, setup, teardown),
        cmocka_unit_test_setup_teardown(test_kv_threads, setup, teardown),
        cmocka_unit_test_setup_teardown(test_stress, setup, teardown),
        cmocka_unit_test_setup_teardown(test_hit_cost, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
