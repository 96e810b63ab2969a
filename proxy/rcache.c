/* rcache.c - reads through the result cache (keys, policy, fills) and the writer's side of invalidation. */
#include "rcache.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "extwatch.h"
#include "log.h"
#include "pgsink.h"
#include "replica.h"
#include "sqlnorm.h"

struct rcache {
    const config *cfg;
    cache        *c;
    extwatch     *watch;
    replica      *rep;        /* uncached reads run there when set (read_replica = memory) */
    /* writer thread only: what the current transaction may change */
    int           wids[256];
    int           nwids;
    int           wall;       /* DDL, or too many tables: every entry goes stale */
    db_conn      *wdb;        /* the writer's connection, once a note of this transaction named it */
    unsigned long wreprepares; /* db_reprepares(wdb) at that first note */
    _Atomic int   pg_seen;    /* a PostgreSQL client has connected since start */
    _Atomic int   line_seen;  /* a line client has read through the cache (as TSV) since start */
};

rcache *rcache_new(const config *cfg, char *err, size_t errlen)
{
    rcache *rc = calloc(1, sizeof *rc);
    if (!rc) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    rc->cfg = cfg;
    int shards = 1;
    while (shards < cfg->cache_shards)
        shards <<= 1;
    cache_config cc = {
        .hot_bytes = cfg->cache_hot_bytes,
        .max_bytes = cfg->cache_max_bytes,
        .max_entry_bytes = cfg->cache_max_entry_bytes,
        /* One entry may take at most 1/64 of a shard, so the LRU always has room to work with. */
        .hot_entry_bytes = cfg->cache_hot_bytes / shards / 4,
        .shards = shards,
        .admit_repeat = cfg->cache_admission == CONFIG_ADMIT_REPEAT,
        .demote_min_us = cfg->cache_demote_min_us,
    };
    if (!(rc->c = cache_new(&cc, err, errlen))) {
        free(rc);
        return NULL;
    }
    char why[512];
    if (!(rc->watch = extwatch_open(cfg->db_path, rc->c, why, sizeof why)))
        log_warn("writes by other processes will not be noticed by the cache: %s", why);
    return rc;
}

void rcache_free(rcache *rc)
{
    if (!rc)
        return;
    extwatch_close(rc->watch);
    cache_free(rc->c);
    free(rc);
}

cache *rcache_cache(rcache *rc) { return rc->c; }
extwatch *rcache_watch(rcache *rc) { return rc->watch; }
void rcache_set_replica(rcache *rc, replica *rep) { rc->rep = rep; }
replica *rcache_replica(rcache *rc) { return rc->rep; }

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* Key = normalized SQL, a 0x00 separator the normalizer never emits unescaped, then the arguments. */
/* Normalizing costs a few hundred ns per statement, more than the rest of a hit; clients send the
 * same texts again and again. So each thread remembers, in a two-way set-associative table, the
 * normalized form of the texts it saw last: big enough for a hot set of thousands of distinct
 * literal-laden lines (a BATCH of point lookups), where a 1,024-slot table missed most of the
 * time. Bounded: MEMO_SETS * 2 entries of at most MEMO_MAX_TEXT bytes each (typically ~100 bytes,
 * under 1 MiB a thread); freed when the thread exits. */
#define MEMO_SETS     4096
#define MEMO_SLOTS    (MEMO_SETS * 2)
#define MEMO_MAX_TEXT 512

typedef struct memo_slot {
    uint64_t      hash;
    uint32_t      len, keylen;
    sqlnorm_hints hints;
    char         *text;   /* len bytes of SQL, then keylen bytes of its normalized form */
} memo_slot;

static pthread_key_t  memo_key;
static pthread_once_t memo_once = PTHREAD_ONCE_INIT;

static void memo_free(void *p)
{
    memo_slot *m = p;
    for (int i = 0; i < MEMO_SLOTS; i++)
        free(m[i].text);
    free(m);
}

static void memo_init(void) { pthread_key_create(&memo_key, memo_free); }

static uint64_t text_hash(const char *p, size_t n)
{
    uint64_t h = 0xcbf29ce484222325ull ^ n;
    for (; n >= 8; p += 8, n -= 8) {
        uint64_t w;
        memcpy(&w, p, 8);
        h = (h ^ w) * 0x100000001b3ull;
        h ^= h >> 29;
    }
    while (n--)
        h = (h ^ (unsigned char)*p++) * 0x100000001b3ull;
    return h ^ (h >> 32);
}

/* The key only frees the memo at thread exit; the pointer is read from _Thread_local (every read
 * looks it up, and pthread_once with pthread_getspecific cost more than the memo lookup itself). */
static _Thread_local memo_slot *memo_mine;

/* This thread's memo, or NULL when out of memory. */
static memo_slot *memo_get(void)
{
    memo_slot *m = memo_mine;
    if (m)
        return m;
    pthread_once(&memo_once, memo_init);
    if ((m = calloc(MEMO_SLOTS, sizeof *m)) && pthread_setspecific(memo_key, m) != 0) {
        free(m);
        m = NULL;
    }
    return memo_mine = m;
}

/* Append the normalized form of sql, whose text_hash is hash, to key through memo m (may be NULL). */
static void norm_sql_memo(memo_slot *m, const char *sql, size_t len, uint64_t hash, buf *key, sqlnorm_hints *h)
{
    if (len > MEMO_MAX_TEXT) {
        sqlnorm_key(sql, len, key, h);
        return;
    }
    memo_slot *set = m ? &m[(hash % MEMO_SETS) * 2] : NULL, *slot = NULL;
    for (int w = 0; set && w < 2; w++) {
        memo_slot *x = &set[w];
        if (x->text && x->hash == hash && x->len == len && memcmp(x->text, sql, len) == 0) {
            buf_append(key, x->text + len, x->keylen);
            *h = x->hints;
            if (w == 1) { /* the most recent of the set goes first; the other is replaced next */
                memo_slot t = set[0];
                set[0] = set[1];
                set[1] = t;
            }
            return;
        }
    }
    if (set) { /* the older way makes room: the newcomer goes first */
        free(set[1].text);
        set[1] = set[0];
        set[0] = (memo_slot){0};
        slot = &set[0];
    }
    size_t start = key->len;
    sqlnorm_key(sql, len, key, h);
    size_t klen = key->len - start;
    char *text = slot && !key->oom ? malloc(len + klen) : NULL;
    if (!text)
        return;
    memcpy(text, sql, len);
    memcpy(text + len, key->data + start, klen);
    *slot = (memo_slot){hash, (uint32_t)len, (uint32_t)klen, *h, text};
}

/* Append the normalized form of sql to key (through this thread's memo). */
static void norm_sql(const char *sql, size_t len, buf *key, sqlnorm_hints *h)
{
    if (len > MEMO_MAX_TEXT) {
        sqlnorm_key(sql, len, key, h);
        return;
    }
    norm_sql_memo(memo_get(), sql, len, text_hash(sql, len), key, h);
}

static void make_key(const char *sql, size_t len, const lp_arg *args, int nargs, buf *key, sqlnorm_hints *h)
{
    buf_reset(key);
    norm_sql(sql, len, key, h);
    sqlnorm_key_args(key, args, nargs);
}

/* The hit's status; returns the clock it read, for the next line of a batch. */
static double put_hit_status(const query_sink *sink, buf *out, const cache_hit *hit, double t0)
{
    double t1 = now_ms();
    query_outcome o = {.rows = hit->rows, .ms = t1 - t0, .hit_age = (int64_t)hit->age_s};
    sink->done(sink, &o, out);
    return t1;
}

/* rcache_try_hit, serving only an entry stored under versions not newer than stamp. */
static int try_hit(rcache *rc, const char *sql, size_t len, const query_sink *sink, int slot, buf *out,
                   buf *scratch, double *clock, uint64_t stamp)
{
    if (rc->cfg->cache_mode == CONFIG_CACHE_OFF)
        return 0;
    double t0 = clock && *clock > 0 ? *clock : now_ms();
    sqlnorm_hints h;
    make_key(sql, len, NULL, 0, scratch, &h);
    if (h.nocache || h.ttl >= 0) /* a hinted ttl bounds the age it is served: rcache_read judges it */
        return 0;
    cache_hit hit;
    uint64_t kh = cache_key_hash(rc->c, scratch->data, scratch->len);
    cache_prefetch(rc->c, kh); /* as in rcache_read */
    extwatch_check(rc->watch);
    size_t start = out->len;
    if (cache_get_hashed(rc->c, scratch->data, scratch->len, kh, slot, out, &hit, CACHE_PROBE) != CACHE_HIT)
        return 0;
    if (hit.newest > stamp) {
        buf_truncate(out, start);
        return 0;
    }
    double t1 = put_hit_status(sink, out, &hit, t0);
    if (clock)
        *clock = t1;
    return 1;
}

int rcache_try_hit(rcache *rc, const char *sql, size_t len, const query_sink *sink, int slot, buf *out,
                   buf *scratch, double *clock)
{
    return try_hit(rc, sql, len, sink, slot, out, scratch, clock, UINT64_MAX);
}

/* The BATCH fast path. Each hit is a chain of dependent cache misses (memo set, memo text, index
 * slot, entry, payload), so the lines go through it in stages, each issuing its line's next load
 * for all lines before any waits on one: hash the texts and prefetch their memo sets; prefetch the
 * memo texts; make the keys and prefetch their index slots; then look up. */
#define BATCH_STAGED_MAX 1024

int rcache_try_hits(rcache *rc, const char *const *sql, const size_t *len, int n, const query_sink *sink, int slot,
                    buf *out, buf *scratch)
{
    if (rc->cfg->cache_mode == CONFIG_CACHE_OFF || n <= 0)
        return 0;
    /* One snapshot (see rcache_batch_begin): every hit shows the state as of this stamp. */
    extwatch_check(rc->watch); /* first: a foreign commit it finds is then older than the stamp */
    uint64_t stamp = cache_stamp(rc->c);
    if (n > BATCH_STAGED_MAX) { /* rare: one at a time */
        size_t start = out->len;
        double clock = 0;
        for (int i = 0; i < n; i++)
            if (!try_hit(rc, sql[i], len[i], sink, slot, out, scratch, &clock, stamp)) {
                buf_truncate(out, start);
                return 0;
            }
        return 1;
    }
    double clock = now_ms();
    memo_slot *m = memo_get();
    uint64_t th[BATCH_STAGED_MAX], ch[BATCH_STAGED_MAX];
    size_t koff[BATCH_STAGED_MAX + 1];
    for (int i = 0; i < n; i++) {
        th[i] = text_hash(sql[i], len[i]);
        if (m)
            __builtin_prefetch(&m[(th[i] % MEMO_SETS) * 2]);
    }
    for (int i = 0; m && i < n; i++) {
        memo_slot *set = &m[(th[i] % MEMO_SETS) * 2];
        for (int w = 0; w < 2; w++)
            if (set[w].text && set[w].hash == th[i])
                __builtin_prefetch(set[w].text);
    }
    buf_reset(scratch);
    for (int i = 0; i < n; i++) {
        sqlnorm_hints h;
        koff[i] = scratch->len;
        norm_sql_memo(m, sql[i], len[i], th[i], scratch, &h);
        sqlnorm_key_args(scratch, NULL, 0); /* exactly the key rcache_try_hit makes */
        if (h.nocache || h.ttl >= 0 || scratch->oom)
            return 0;
        ch[i] = cache_key_hash(rc->c, scratch->data + koff[i], scratch->len - koff[i]);
        cache_prefetch(rc->c, ch[i]);
    }
    koff[n] = scratch->len;
    size_t start = out->len;
    for (int i = 0; i < n; i++) {
        cache_hit hit;
        if (cache_get_hashed(rc->c, scratch->data + koff[i], koff[i + 1] - koff[i], ch[i], slot, out, &hit,
                             CACHE_PROBE) != CACHE_HIT || hit.newest > stamp) {
            buf_truncate(out, start);
            return 0;
        }
        clock = put_hit_status(sink, out, &hit, clock);
    }
    return 1;
}

/* Run the item on the reader; several statements read one snapshot (a batch's, when it has one). */
static int run(db_conn *db, const query_item *it, const query_sink *sink, const query_limits *lim, buf *out,
               char *state, const char *extra, query_info *info)
{
    int txn = it->plan && query_plan_nstmts(it->plan) > 1 && sqlite3_get_autocommit(db_handle(db));
    if (txn)
        db_exec(db, "BEGIN");
    int r = query_run_ex(db, it, sink, lim, out, state, extra, info);
    if (txn)
        db_exec(db, "COMMIT");
    return r;
}

/* A miss is encoded for the other protocol too, in the same run, and both slots are stored: a
 * line client's fill serves a PostgreSQL client and the other way round. Only the TSV and the
 * PostgreSQL text slots are paired (JSON keeps to itself), and only for one statement (several
 * result sets are not one PostgreSQL result). The second encoding is dropped when it outgrows
 * the entry limit. */
typedef struct tee {
    query_sink        k;
    const query_sink *a;     /* the caller's: writes the reply */
    const query_sink *b;     /* the other encoding: writes side */
    buf              *side;
    int64_t           cap;
    int               on;
} tee;

static void tee_check(tee *t)
{
    if (t->side->oom || (int64_t)t->side->len > t->cap)
        t->on = 0;
}

static void tee_columns(const query_sink *k, sqlite3_stmt *st, int ncols, buf *out)
{
    tee *t = k->ud;
    t->a->columns(t->a, st, ncols, out);
    if (t->on) {
        t->b->columns(t->b, st, ncols, t->side);
        tee_check(t);
    }
}

static void tee_row(const query_sink *k, sqlite3_stmt *st, int ncols, buf *out)
{
    tee *t = k->ud;
    t->a->row(t->a, st, ncols, out);
    if (t->on) {
        t->b->row(t->b, st, ncols, t->side);
        tee_check(t);
    }
}

static void tee_stmt_done(const query_sink *k, sqlite3_stmt *st, int64_t rows, int64_t changes, buf *out)
{
    tee *t = k->ud;
    if (t->a->stmt_done)
        t->a->stmt_done(t->a, st, rows, changes, out);
}

static void tee_done(const query_sink *k, const query_outcome *o, buf *out)
{
    tee *t = k->ud;
    t->a->done(t->a, o, out);
}

static void tee_error(const query_sink *k, const char *state, const char *msg, int offset, buf *out)
{
    tee *t = k->ud;
    t->a->error(t->a, state, msg, offset, out);
}

/* The second encoding's buffer, one per thread and kept between misses (a miss grew a fresh one
 * from 256 bytes each time); NULL when out of memory. Freed when the thread exits. */
#define SIDE_KEEP (64 << 10) /* a bigger one is given back after use */

static pthread_key_t  side_key;
static pthread_once_t side_once = PTHREAD_ONCE_INIT;

static void side_free(void *p)
{
    buf_free(p);
    free(p);
}

static void side_init(void) { pthread_key_create(&side_key, side_free); }

static buf *side_get(void)
{
    pthread_once(&side_once, side_init);
    buf *b = pthread_getspecific(side_key);
    if (!b && (b = malloc(sizeof *b))) {
        buf_init(b);
        if (pthread_setspecific(side_key, b) != 0) {
            free(b);
            b = NULL;
        }
    }
    if (b)
        buf_reset(b);
    return b;
}

/* Done with the thread's side buffer: keep it unless it grew big. */
static void side_put(buf *b)
{
    if (b && b->cap > SIDE_KEEP)
        buf_free(b);
}

void rcache_pg_client(rcache *rc)
{
    if (!atomic_load_explicit(&rc->pg_seen, memory_order_relaxed))
        atomic_store_explicit(&rc->pg_seen, 1, memory_order_relaxed);
}

/* The slot a miss in this slot also fills, or -1. A line miss pays for the PostgreSQL encoding
 * (a second pass over the row, and most of the entry's bytes: the RowDescription) only once a
 * PostgreSQL client has connected; a server that only ever serves the line protocol never reads it.
 * The other way round alike: a PostgreSQL miss pays for the TSV encoding (a tenth of its
 * instructions under pgbench -S, callgrind: more than the rest of the cache's work for it) only once
 * a line client has read through the cache. */
static int paired_slot(rcache *rc, int slot, const query_item *it)
{
    if (it->plan && query_plan_nstmts(it->plan) != 1)
        return -1;
    if (slot == RCACHE_LINE_TSV)
        return atomic_load_explicit(&rc->pg_seen, memory_order_relaxed) ? RCACHE_PG_TEXT : -1;
    if (slot == RCACHE_PG_TEXT)
        return atomic_load_explicit(&rc->line_seen, memory_order_relaxed) ? RCACHE_LINE_TSV : -1;
    return -1;
}

/* A read that did not come from the cache: in batch b's snapshot when given, else on the replica
 * when there is one, else on the file. */
static int run_uncached(rcache *rc, db_conn *file_db, const rcache_batch *b, const query_item *it,
                        const query_sink *sink, const query_limits *lim, buf *out, char *state, const char *extra)
{
    if (b)
        return run(b->db, it, sink, lim, out, state, extra, NULL);
    db_conn *db = replica_read_begin(rc->rep, file_db);
    int r = run(db, it, sink, lim, out, state, extra, NULL);
    replica_read_end(rc->rep, file_db, db);
    return r;
}

/* Table ids of one statement: its reads' then its writes', as table_ids returns them. */
typedef struct ids_memo {
    int nreads, nwrites;
    int ids[];
} ids_memo;

/* The cache's ids of a's tables, its reads' then its writes', into ids (room for both lists): 0, or
 * -1 when a name cannot be registered. Looking each name up costs a miss more than the rest of its
 * analysis; a statement's tables change only when the schema does (db.c then drops the memo with
 * the statement's old tables), so one statement's ids are kept with it in the statement cache. */
static int table_ids(rcache *rc, const query_analysis *a, int *ids)
{
    int n = a->nreads + a->nwrites;
    void **slot = a->one ? db_stmt_memo(a->one, DB_MEMO_TABLES) : NULL;
    ids_memo *m = slot ? *slot : NULL;
    if (m && m->nreads == a->nreads && m->nwrites == a->nwrites) {
        memcpy(ids, m->ids, sizeof(int) * (size_t)n);
        return 0;
    }
    for (int i = 0; i < n; i++) {
        const char *name = i < a->nreads ? a->reads[i] : a->writes[i - a->nreads];
        if ((ids[i] = cache_table_id(rc->c, name, strlen(name))) < 0)
            return -1;
    }
    if (slot && (m = malloc(sizeof *m + sizeof(int) * (size_t)n))) {
        m->nreads = a->nreads;
        m->nwrites = a->nwrites;
        memcpy(m->ids, ids, sizeof(int) * (size_t)n);
        free(*slot);
        *slot = m;
    }
    return 0;
}

/* A run's time as cache_fill.cost_us: at least 1, since 0 there means "not known". */
static uint32_t cost_us(double ms)
{
    double us = ms * 1000;
    return us >= UINT32_MAX ? UINT32_MAX : us >= 1 ? (uint32_t)us : 1;
}

/* We lead the miss on scratch's key (or gave up waiting for its leader): every path ends with
 * cache_put or cache_abandon for it. With lean (admission will most likely turn the fill away) no
 * second encoding is made for it. Inside batch b (db is then its connection) the result is stored
 * only if it names the batch's state (see rcache_batch_begin). */
static int fill(rcache *rc, db_conn *db, const rcache_batch *b, const query_item *it, const query_sink *sink,
                int slot, const query_limits *lim, buf *out, char *state, buf *scratch, const sqlnorm_hints *hp,
                uint64_t kh, int lean)
{
    sqlnorm_hints h = *hp;
    query_analysis a;
    int ids[2 * DB_STMT_MAX_TABLES];
    int cacheable = query_analyze(db, it->sql, it->len, &a) == SQLITE_OK && a.nwrites == 0 &&
                    !(a.flags & (DB_STMT_NONDET | DB_STMT_MANY | DB_STMT_DDL | DB_STMT_TXN | DB_STMT_EXPLAIN |
                               DB_STMT_ADMIN | DB_STMT_UNTRACKED)) &&
                    table_ids(rc, &a, ids) == 0;
    if (!cacheable) {
        cache_abandon_hashed(rc->c, scratch->data, scratch->len, kh, slot);
        return run(db, it, sink, lim, out, state, " cache=off", NULL);
    }
    /* The versions are read before the query starts its snapshot: a write that commits in between
     * bumps them, so what we store can never outlive the data it was read from. */
    cache_snap snap;
    cache_snapshot(rc->c, ids, a.nreads, &snap);
    if (b && cache_snap_newest(&snap) > b->stamp) {
        /* A table was bumped since the batch's snapshot began: the snapshot may be older than these
         * versions, and what it reads must not be stored under them. */
        cache_abandon_hashed(rc->c, scratch->data, scratch->len, kh, slot);
        return run(db, it, sink, lim, out, state, " cache=miss", NULL);
    }
    size_t start = out->len;
    query_info info;
    int other = lean ? -1 : paired_slot(rc, slot, it);
    buf *side = other >= 0 ? side_get() : NULL;
    pgsink pk;
    tee t;
    if (!side)
        other = -1;
    if (other >= 0) {
        pgsink_init(&pk);
        pk.rows_only = 1;
        pk.memo = a.one ? db_stmt_memo(a.one, DB_MEMO_COLUMNS) : NULL;
        t = (tee){{tee_columns, tee_row, tee_stmt_done, tee_done, tee_error, &t},
                  sink, other == RCACHE_PG_TEXT ? &pk.k : query_line_sink(LP_FMT_TSV), side,
                  rc->cfg->cache_max_entry_bytes, 1};
    }
    unsigned long reprepares = db_reprepares(db);
    int r = run(db, it, other >= 0 ? &t.k : sink, lim, out, state, " cache=miss", &info);
    if (other >= 0)
        pgsink_free(&pk);
    /* The schema changed before the run: it ran another statement than the one analyzed, whose
     * tables (and determinism) this entry would wrongly claim. The next miss analyzes it anew. */
    int keep = r == 0 && db_reprepares(db) == reprepares && (int64_t)info.data_len <= rc->cfg->cache_max_entry_bytes &&
               (rc->cfg->cache_mode != CONFIG_CACHE_EXPENSIVE || info.ms >= rc->cfg->cache_min_ms);
    /* A hint of ttl=0 means "answer, but do not keep". */
    int ttl = h.ttl >= 0 ? h.ttl : it->ttl > 0 ? it->ttl : rc->cfg->cache_ttl;
    if (!keep || ttl == 0) {
        cache_abandon_hashed(rc->c, scratch->data, scratch->len, kh, slot);
        side_put(side);
        return r;
    }
    cache_fill f = {
        .key = scratch->data, .klen = scratch->len, .fmt = slot,
        .data = out->data + start, .len = info.data_len, .rows = info.rows,
        .snap = &snap, .ttl_s = ttl, .sql = it->sql, .sql_len = it->len, .hashed = 1, .hash = kh,
        .cost_us = cost_us(info.ms),
    };
    if (other >= 0 && t.on) {
        /* The same snapshot: the entry takes the second slot beside the first, in the same put. */
        f.also = 1;
        f.fmt2 = other;
        f.data2 = side->data;
        f.len2 = side->len;
    }
    /* The versions were read before the run, so it may also have read a commit not bumped yet (the
     * writer bumps right after COMMIT). The watch makes us wait for any such bump, which then makes
     * the put refuse the stale snapshot: an entry holds exactly the state its versions name, which
     * a batch's hits count on (rcache_batch_begin). */
    extwatch_check(rc->watch);
    cache_put(rc->c, &f);
    side_put(side);
    return r;
}

/* rcache_read, inside batch b when not NULL (file_db is then b->db). */
static int read_in(rcache *rc, db_conn *file_db, const rcache_batch *b, const query_item *it, const query_sink *sink,
                   int slot, const query_limits *lim, buf *out, char *state, buf *scratch)
{
    if (it->literal || it->err_state)
        return query_run(file_db, it, sink, lim, out, state); /* nothing to run, nothing to cache */
    if (rc->cfg->cache_mode == CONFIG_CACHE_OFF || it->nocache || (b && b->nocache))
        return run_uncached(rc, file_db, b, it, sink, lim, out, state, " cache=off");
    if (slot == RCACHE_LINE_TSV && !atomic_load_explicit(&rc->line_seen, memory_order_relaxed))
        atomic_store_explicit(&rc->line_seen, 1, memory_order_relaxed);
    double t0 = now_ms();
    sqlnorm_hints h;
    make_key(it->sql, it->len, it->args, it->nargs, scratch, &h);
    /* The hints are not part of the key, so a hinted statement shares its entry with the plain
     * form: ttl=0 ("never keep") is never served from it either. */
    if (h.nocache || h.ttl == 0)
        return run_uncached(rc, file_db, b, it, sink, lim, out, state, " cache=off");
    cache_hit hit;
    uint64_t kh = cache_key_hash(rc->c, scratch->data, scratch->len);
    /* The key's index slot is most likely not in the CPU caches: let it load while the watch
     * reads the -shm header (which must come before the lookup: a foreign commit it finds bumps
     * the versions the lookup checks). */
    cache_prefetch(rc->c, kh);
    extwatch_check(rc->watch);
    size_t start = out->len;
    int got = cache_get_hashed(rc->c, scratch->data, scratch->len, kh, slot, out, &hit, CACHE_LEAD_MISS);
    if (got == CACHE_HIT && h.ttl > 0 && hit.age_s >= h.ttl) {
        /* Older than this statement's hinted ttl allows (stored by a form with a longer one): a
         * plain miss, whose fill replaces the entry as a leader's would. */
        buf_truncate(out, start);
        got = CACHE_MISS;
    } else if (got == CACHE_HIT && b && hit.newest > b->stamp) {
        /* Stored after the batch's snapshot began: it may show a later state. A plain miss, whose
         * fill reads the snapshot (and stores nothing, its tables being newer than the batch). */
        buf_truncate(out, start);
        got = CACHE_MISS;
    }
    if (got == CACHE_HIT) {
        put_hit_status(sink, out, &hit, t0);
        return 0;
    }
    if (b)
        return fill(rc, file_db, b, it, sink, slot, lim, out, state, scratch, &h, kh,
                    got == CACHE_LEAD && hit.fill_unlikely);
    /* A miss runs on the replica (if any) from its analysis to its end, under the replica's lock. */
    db_conn *db = replica_read_begin(rc->rep, file_db);
    int r = fill(rc, db, NULL, it, sink, slot, lim, out, state, scratch, &h, kh,
                 got == CACHE_LEAD && hit.fill_unlikely);
    replica_read_end(rc->rep, file_db, db);
    return r;
}

int rcache_read(rcache *rc, db_conn *file_db, const query_item *it, const query_sink *sink, int slot,
                const query_limits *lim, buf *out, char *state, buf *scratch)
{
    return read_in(rc, file_db, NULL, it, sink, slot, lim, out, state, scratch);
}

/* Why a batch's lines agree, hits included. Versions are stamps of one sequence, bumped after the
 * commit they cover (cache_stamp); and a fill stores only once every commit its run may have read
 * is bumped (the watch before cache_put), so an entry holds exactly the commits to its tables
 * stamped up to its versions. Let D be the state of the commits stamped up to b->stamp. A hit
 * served with versions not newer than b->stamp, still fresh when served (after b->stamp was read),
 * has had no bump of its tables since the stamp: it shows D. The transaction's snapshot S starts
 * after b->stamp was read, so it holds every commit of D; and once a line's lookup (after its own
 * extwatch_check, which waits for the bumps of whatever S holds) finds its tables not newer than
 * b->stamp, S holds no other commit to them: on those tables S is D. A line that finds them newer
 * reads S and stores nothing (fill). So every line shows S. The fast path (rcache_try_hits) has no
 * S: all its hits show D by the same rule, read once before its lookups. */
void rcache_batch_begin(rcache *rc, db_conn *db, rcache_batch *b)
{
    b->db = db;
    b->stamp = cache_stamp(rc->c); /* before the snapshot starts */
    db_set_limits(db, 0, 0); /* the last request's statement_timeout must not stop these */
    /* BEGIN alone takes no snapshot, the first read does: take it now, before any line is served.
     * Without it (out of memory, I/O errors) the lines still share whatever transaction there is,
     * and the cache stays out of it, since a hit could not be matched to the snapshot. */
    b->nocache = db_exec(db, "BEGIN") != SQLITE_OK || db_exec(db, "SELECT count(*) FROM sqlite_schema") != SQLITE_OK;
}

void rcache_batch_end(rcache_batch *b)
{
    sqlite3 *h = db_handle(b->db);
    if (sqlite3_get_autocommit(h))
        return; /* an error already ended it */
    db_set_limits(b->db, 0, 0);
    if (db_exec(b->db, "COMMIT") != SQLITE_OK && !sqlite3_get_autocommit(h))
        db_exec(b->db, "ROLLBACK");
}

int rcache_read_batch(rcache *rc, const rcache_batch *b, const query_item *it, const query_sink *sink, int slot,
                      const query_limits *lim, buf *out, char *state, buf *scratch)
{
    return read_in(rc, b->db, b, it, sink, slot, lim, out, state, scratch);
}

void rcache_hook_begin(void *ud)
{
    rcache *rc = ud;
    rc->nwids = 0;
    rc->wall = 0;
    rc->wdb = NULL;
    extwatch_writer_begin(rc->watch);
}

void rcache_hook_note(void *ud, db_conn *wdb, const query_item *it)
{
    rcache *rc = ud;
    if (!it->sql || it->literal || it->err_state)
        return;
    if (!rc->wdb) {
        rc->wdb = wdb;
        rc->wreprepares = db_reprepares(wdb);
    }
    query_analysis a;
    if (query_analyze(wdb, it->sql, it->len, &a) != SQLITE_OK || (a.flags & (DB_STMT_DDL | DB_STMT_MANY))) {
        /* A statement we cannot see into (it will fail anyway, or it changes the schema). */
        rc->wall = 1;
        return;
    }
    int ids[2 * DB_STMT_MAX_TABLES];
    if (table_ids(rc, &a, ids) != 0) {
        rc->wall = 1;
        return;
    }
    for (int i = 0; i < a.nwrites && !rc->wall; i++) {
        int id = ids[a.nreads + i];
        if (rc->nwids == (int)(sizeof rc->wids / sizeof rc->wids[0])) {
            rc->wall = 1;
            break;
        }
        int seen = 0;
        for (int j = 0; j < rc->nwids && !seen; j++)
            seen = rc->wids[j] == id;
        if (!seen)
            rc->wids[rc->nwids++] = id;
    }
}

void rcache_hook_end(void *ud, int committed)
{
    rcache *rc = ud;
    /* A statement the schema changed under (a trigger added, a table dropped since it was first
     * prepared) wrote what its note could not know. */
    if (rc->wdb && db_reprepares(rc->wdb) != rc->wreprepares)
        rc->wall = 1;
    if (committed) {
        if (rc->wall)
            cache_bump_all(rc->c);
        else if (rc->nwids)
            cache_bump(rc->c, rc->wids, rc->nwids);
    }
    rc->nwids = 0;
    rc->wall = 0;
    rc->wdb = NULL;
    extwatch_writer_end(rc->watch);
}

static void stat_line(buf *out, const char *name, long long v)
{
    buf_printf(out, "=%s\t%lld\n", name, v);
}

int64_t rcache_foreign_commits(rcache *rc) { return extwatch_foreign_commits(rc->watch); }

void rcache_put_stats(rcache *rc, buf *out)
{
    cache_stats s;
    cache_get_stats(rc->c, &s);
    int64_t lookups = s.hits1 + s.hits2 + s.misses;
    stat_line(out, "cache_hits", s.hits1 + s.hits2);
    stat_line(out, "cache_hits_tier1", s.hits1);
    stat_line(out, "cache_hits_tier2", s.hits2);
    stat_line(out, "cache_misses", s.misses);
    buf_printf(out, "=cache_hit_ratio\t%.4f\n", lookups ? (double)(s.hits1 + s.hits2) / (double)lookups : 0.0);
    stat_line(out, "cache_entries_tier1", s.entries1);
    stat_line(out, "cache_bytes_tier1", s.bytes1);
    stat_line(out, "cache_entries_tier2", s.entries2);
    stat_line(out, "cache_bytes_tier2", s.bytes2);
    stat_line(out, "cache_evictions_tier1", s.evictions1);
    stat_line(out, "cache_evictions_tier2", s.evictions2);
    stat_line(out, "cache_invalidations", s.invalidations);
    stat_line(out, "cache_expirations", s.expirations);
    stat_line(out, "cache_singleflight_waits", s.flight_waits);
    stat_line(out, "cache_admission_rejects", s.admission_rejects);
    stat_line(out, "cache_kv_keys", s.kv_keys);
    stat_line(out, "cache_foreign_commits", extwatch_foreign_commits(rc->watch));
}
