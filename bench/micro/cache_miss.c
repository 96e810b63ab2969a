/* cache_miss.c - what the result cache itself costs a miss: lookup, leading it, storing the result and evicting, in-process. */
/* Not part of the build (it has its own main); from the repository's top directory, after `make`:
 *   cc -O2 -Iproxy -Icache bench/micro/cache_miss.c build/liblitecached.a -o /tmp/cache_miss \
 *      -lsqlite3 -levent_pthreads -levent -linih -lcrypto -pthread -lm
 *   /tmp/cache_miss [hot MiB (64)] [misses (2000000)] [always|repeat (always)]
 * One thread; every key is new, as in `litecached-bench miss`. The keys and results are shaped like
 * that workload's (a normalized point lookup plus its parameter; a 230-byte users row), and the hot
 * map is filled to its cap first, so each miss also evicts (cache_admission = always) or, with
 * repeat, is turned away (never seen before). Prints ns per miss for the lookup alone, and for the
 * whole round (lookup, store or refusal, eviction), with a run of hits for comparison. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cache.h"

static double now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static size_t make_key(char *k, unsigned long long i)
{
    return (size_t)snprintf(k, 128, "select * from users where id = ? and 77 > 0\x1f%llu", i);
}

int main(int argc, char **argv)
{
    long hot_mib = argc > 1 ? atol(argv[1]) : 64;
    long n = argc > 2 ? atol(argv[2]) : 2000000;
    int repeat = argc > 3 && strcmp(argv[3], "repeat") == 0;
    cache_config cfg = {.hot_bytes = hot_mib << 20, .max_bytes = 256 << 20, .max_entry_bytes = 1 << 20,
                        .hot_entry_bytes = 1 << 20, .shards = 16, .admit_repeat = repeat};
    char err[256];
    cache *c = cache_new(&cfg, err, sizeof err);
    if (!c) {
        fprintf(stderr, "cache_new: %s\n", err);
        return 1;
    }
    int users = cache_table_id(c, "users", 5);
    char row[230];
    memset(row, 'x', sizeof row);
    row[sizeof row - 1] = '\n';
    buf out;
    buf_init(&out);
    char key[128];
    cache_hit hit;
    unsigned long long next = 1;
    /* One miss: look up (leading it), then store. */
    double look_ns = 0;
    long counted = 0;
    for (int phase = 0; phase < 2; phase++) {
        long rounds = phase == 0 ? n : n / 2; /* phase 0 fills the cap (and more); phase 1 is measured */
        double t0 = now_ns();
        for (long r = 0; r < rounds; r++) {
            size_t klen = make_key(key, next++);
            double a = phase ? now_ns() : 0;
            uint64_t h = cache_key_hash(c, key, klen);
            int got = cache_get_hashed(c, key, klen, h, 0, &out, &hit, CACHE_LEAD_MISS);
            if (phase) {
                look_ns += now_ns() - a;
                counted++;
            }
            if (got != CACHE_LEAD) {
                fprintf(stderr, "key %llu: expected a miss to lead, got %d\n", next - 1, got);
                return 1;
            }
            cache_snap snap;
            cache_snapshot(c, &users, 1, &snap);
            cache_fill f = {.key = key, .klen = klen, .fmt = 0, .data = row, .len = sizeof row, .rows = 1,
                            .snap = &snap, .ttl_s = 3600, .sql = key, .sql_len = klen, .hashed = 1, .hash = h};
            cache_put(c, &f);
            buf_reset(&out);
        }
        if (phase) {
            double per = (now_ns() - t0) / (double)rounds;
            printf("miss, whole round (lookup, lead, %s): %.0f ns\n", repeat ? "refused" : "store, evict", per);
            printf("miss, the lookup alone:                        %.0f ns\n", look_ns / (double)counted);
        }
    }
    /* Hits on the most recently stored keys (10,000, or half of what the cap holds), for comparison;
     * with repeat, on the first keys: stored while every shard had room, and nothing evicted since. */
    cache_stats st;
    cache_get_stats(c, &st);
    unsigned long long recent = st.entries1 / 2 < 10000 ? (unsigned long long)st.entries1 / 2 : 10000;
    unsigned long long last = repeat ? recent : next - 1;
    long hits = n / 2;
    double t0 = now_ns();
    for (long r = 0; r < hits; r++) {
        size_t klen = make_key(key, last - (unsigned long long)r % recent);
        if (cache_get(c, key, klen, 0, &out, &hit, CACHE_LEAD_MISS) != CACHE_HIT) {
            fprintf(stderr, "expected a hit\n");
            return 1;
        }
        buf_reset(&out);
    }
    printf("hit (%llu recent keys, copy of the row):        %.0f ns\n", recent, (now_ns() - t0) / (double)hits);
    cache_get_stats(c, &st);
    printf("(tier 1: %lld entries, %lld bytes, %lld evictions, %lld refused; %ld MiB cap)\n", (long long)st.entries1,
           (long long)st.bytes1, (long long)st.evictions1, (long long)st.admission_rejects, hot_mib);
    buf_free(&out);
    cache_free(c);
    return 0;
}
