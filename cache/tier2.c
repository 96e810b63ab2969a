/* tier2.c - the cache's second tier: results and key-value rows in one private in-memory SQLite database, LRU-capped by estimated bytes. */
#include "tier2.h"

#include <limits.h>
#include <math.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

/* Fixed per-row overhead in the estimate: the row header, the three index entries, page slack. */
#define ROW_OVERHEAD 100

static const char schema[] =
    "PRAGMA auto_vacuum=FULL;" /* hand freed pages back, so deleting rows frees memory */
    "PRAGMA temp_store=MEMORY;"
    "CREATE TABLE entries(key BLOB NOT NULL, fmt INTEGER NOT NULL, value BLOB NOT NULL, rows INTEGER,"
    " expires_at REAL, tables TEXT, hits INTEGER DEFAULT 0, created_at REAL, last_used REAL, sql TEXT,"
    " bytes INTEGER, snap TEXT, PRIMARY KEY(key, fmt));"
    "CREATE INDEX entries_last_used ON entries(last_used);"
    "CREATE INDEX entries_expires_at ON entries(expires_at);"
    "CREATE TABLE kv(key TEXT PRIMARY KEY, value BLOB, expires_at REAL, bytes INTEGER);"
    "CREATE INDEX kv_expires_at ON kv(expires_at);";

/* The hot paths avoid RETURNING: SQLite materializes it in a temporary b-tree, which cost more
 * than the row operation itself. Deletes look the row up (rowid, bytes) and delete by rowid. */
enum {
    S_GET, S_FIND, S_DEL, S_TOUCH, S_INS, S_LRU, S_DEL_IF, S_SWEEP, S_TOP,
    S_KV_GET, S_KV_FIND, S_KV_SET, S_KV_DEL, S_KV_EXPIRE, S_KV_SWEEP, S_BEGIN, S_COMMIT, S_N
};

static const char *const stmt_sql[S_N] = {
    [S_GET]   = "SELECT value, rows, expires_at, snap, hits, created_at, sql, tables, rowid, bytes"
                " FROM entries WHERE key=?1 AND fmt=?2",
    [S_FIND]  = "SELECT rowid, bytes FROM entries WHERE key=?1 AND fmt=?2",
    [S_DEL]   = "DELETE FROM entries WHERE rowid=?1",
    [S_TOUCH] = "UPDATE entries SET hits=hits+1, last_used=?2 WHERE rowid=?1",
    [S_INS]   = "INSERT INTO entries(key, fmt, value, rows, expires_at, tables, hits, created_at, last_used,"
                " sql, bytes, snap) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
    [S_LRU]   = "SELECT rowid, bytes FROM entries ORDER BY last_used LIMIT 1",
    [S_DEL_IF] = "DELETE FROM entries WHERE lc_pred(snap, expires_at) RETURNING bytes",
    [S_SWEEP] = "DELETE FROM entries WHERE expires_at<=?1 OR lc_pred(snap, expires_at)"
                " RETURNING bytes, expires_at<=?1",
    [S_TOP]   = "SELECT key, fmt, sql, hits, created_at, expires_at, bytes FROM entries"
                " ORDER BY hits DESC LIMIT ?1",
    [S_KV_GET] = "SELECT value, expires_at FROM kv WHERE key=?1",
    [S_KV_FIND] = "SELECT bytes, expires_at FROM kv WHERE key=?1",
    [S_KV_SET] = "INSERT OR REPLACE INTO kv(key, value, expires_at, bytes) VALUES(?1, ?2, ?3, ?4)",
    [S_KV_DEL] = "DELETE FROM kv WHERE key=?1",
    [S_KV_EXPIRE] = "UPDATE kv SET expires_at=?2 WHERE key=?1",
    [S_KV_SWEEP] = "DELETE FROM kv WHERE expires_at<=?1 RETURNING bytes",
    [S_BEGIN] = "BEGIN",
    [S_COMMIT] = "COMMIT",
};

/* Locking: `lock` guards the connection (opened NOMUTEX, so SQLite does no locking of its own),
 * every statement, and every counter below it. It is a leaf with respect to the hot map: cache.c
 * never holds a shard lock while calling in here, and nothing here calls back into cache.c except
 * the stale/pred callbacks, which only read atomics. */
struct tier2 {
    pthread_mutex_t lock;
    sqlite3        *db;
    sqlite3_stmt   *st[S_N];
    int64_t         max_bytes;
    tier2_stale_fn  stale;
    void           *stale_ud;
    tier2_pred_fn   pred;      /* set only for the duration of one tier2_delete_if or sweep */
    void           *pred_ud;
    int64_t         entries, bytes, kv_keys, kv_bytes;
    int64_t         evictions, expirations, invalidations;
    _Atomic int64_t hint;      /* entries, readable without the lock */
    /* The key filter (see filter_add); cur, gen_start and gen_exp are under the lock. */
    _Atomic uint64_t *filter[2];
    int               cur;
    double            gen_start, gen_exp[2];
};

/* A filter in front of the results, so that a tier-1 miss does not query SQLite (under this
 * module's lock) for a key that was never stored: under a stream of one-off reads, with a hot set
 * demoted here, that query was a large part of every miss. Two Bloom filters (two bits a key)
 * over the keys stored while each was current; lookups read both, without the lock. The other
 * one is cleared and made current only once every row stored while it was current has expired
 * (every result row has an expiry), so a live row is never filtered out. Deleted rows keep their
 * bits: a false positive only costs the lookup that would have happened anyway. */
#define FILTER_BITS     (1u << 22)  /* 512 KiB each: a few percent false positives at 256 MiB of rows */
#define FILTER_ROTATE_S 10.0

static uint64_t key_hash(const char *p, size_t n)
{
    uint64_t h = 0x9E3779B97F4A7C15ull ^ n, w;
    for (; n >= 8; p += 8, n -= 8) {
        memcpy(&w, p, 8);
        h = (h ^ w) * 0xff51afd7ed558ccdull;
        h ^= h >> 32;
    }
    w = 0;
    memcpy(&w, p, n);
    h = (h ^ w) * 0xc4ceb9fe1a85ec53ull;
    return h ^ (h >> 29);
}

/* Note a stored key (lock held). */
static void filter_add(tier2 *t, const char *key, size_t klen, double expires_at, double now)
{
    if (!t->filter[0])
        return;
    int other = !t->cur;
    if (now - t->gen_start >= FILTER_ROTATE_S && t->gen_exp[other] < now) {
        for (size_t i = 0; i < FILTER_BITS / 64; i++)
            atomic_store_explicit(&t->filter[other][i], 0, memory_order_relaxed);
        t->cur = other;
        t->gen_start = now;
        t->gen_exp[other] = -INFINITY;
    }
    uint64_t h = key_hash(key, klen);
    uint32_t a = (uint32_t)h % FILTER_BITS, b = (uint32_t)(h >> 32) % FILTER_BITS;
    atomic_fetch_or_explicit(&t->filter[t->cur][a / 64], 1ull << (a % 64), memory_order_relaxed);
    atomic_fetch_or_explicit(&t->filter[t->cur][b / 64], 1ull << (b % 64), memory_order_relaxed);
    if (expires_at > t->gen_exp[t->cur])
        t->gen_exp[t->cur] = expires_at;
}

int tier2_may_have(tier2 *t, const char *key, size_t klen)
{
    if (atomic_load_explicit(&t->hint, memory_order_relaxed) <= 0)
        return 0;
    if (!t->filter[0])
        return 1;
    uint64_t h = key_hash(key, klen);
    uint32_t a = (uint32_t)h % FILTER_BITS, b = (uint32_t)(h >> 32) % FILTER_BITS;
    for (int g = 0; g < 2; g++)
        if ((atomic_load_explicit(&t->filter[g][a / 64], memory_order_relaxed) >> (a % 64) & 1) &&
            (atomic_load_explicit(&t->filter[g][b / 64], memory_order_relaxed) >> (b % 64) & 1))
            return 1;
    return 0;
}

/* lc_pred(snap, expires_at): the row filter of the statement running now; NULL outside one. */
static void fn_pred(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
    tier2 *t = sqlite3_user_data(ctx);
    (void)argc;
    if (!t->pred) {
        sqlite3_result_null(ctx);
        return;
    }
    const char *snap = (const char *)sqlite3_value_text(argv[0]);
    size_t n = (size_t)sqlite3_value_bytes(argv[0]);
    double exp = sqlite3_value_type(argv[1]) == SQLITE_NULL ? INFINITY : sqlite3_value_double(argv[1]);
    sqlite3_result_int(ctx, t->pred(t->pred_ud, snap ? snap : "", snap ? n : 0, exp));
}

/* SQLITE_LIMIT_LENGTH for values of up to max_value bytes. No value is longer than an entry may be
 * (keys are held to the same cap by cache.c); the limit also bounds what a CACHE QUERY can allocate
 * with zeroblob() or printf(). SQLite holds it to its own hard limit. */
static int length_limit(int64_t max_value)
{
    if (max_value > (INT_MAX - 65536) / 2)
        return INT_MAX;
    int64_t lim = max_value * 2 + 65536;
    return lim < (1 << 20) ? 1 << 20 : (int)lim;
}

tier2 *tier2_new(int64_t max_bytes, int64_t max_value, tier2_stale_fn stale, void *ud, char *err, size_t errlen)
{
    tier2 *t = calloc(1, sizeof *t);
    if (!t) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    pthread_mutex_init(&t->lock, NULL);
    t->max_bytes = max_bytes;
    /* Without the filter (out of memory), every lookup simply goes to SQLite. */
    t->filter[0] = calloc(FILTER_BITS / 64, sizeof(uint64_t));
    t->filter[1] = calloc(FILTER_BITS / 64, sizeof(uint64_t));
    if (!t->filter[0] || !t->filter[1]) {
        free(t->filter[0]);
        free(t->filter[1]);
        t->filter[0] = t->filter[1] = NULL;
    }
    t->gen_exp[0] = t->gen_exp[1] = -INFINITY;
    t->stale = stale;
    t->stale_ud = ud;
    int rc = sqlite3_open_v2(":memory:", &t->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL);
    if (rc != SQLITE_OK)
        goto fail;
    /* CACHE QUERY must not reach the filesystem or load code, whatever it says. */
    sqlite3_limit(t->db, SQLITE_LIMIT_ATTACHED, 0);
    sqlite3_db_config(t->db, SQLITE_DBCONFIG_ENABLE_LOAD_EXTENSION, 0, NULL);
    sqlite3_db_config(t->db, SQLITE_DBCONFIG_DEFENSIVE, 1, NULL);
    sqlite3_db_config(t->db, SQLITE_DBCONFIG_TRUSTED_SCHEMA, 0, NULL);
    sqlite3_limit(t->db, SQLITE_LIMIT_LENGTH, length_limit(max_value));
    if ((rc = sqlite3_exec(t->db, schema, NULL, NULL, NULL)) != SQLITE_OK)
        goto fail;
    rc = sqlite3_create_function(t->db, "lc_pred", 2, SQLITE_UTF8 | SQLITE_DIRECTONLY, t, fn_pred, NULL, NULL);
    if (rc != SQLITE_OK)
        goto fail;
    for (int i = 0; i < S_N; i++)
        if ((rc = sqlite3_prepare_v3(t->db, stmt_sql[i], -1, SQLITE_PREPARE_PERSISTENT, &t->st[i], NULL)) != SQLITE_OK)
            goto fail;
    return t;
fail:
    snprintf(err, errlen, "tier 2: %s", t->db ? sqlite3_errmsg(t->db) : sqlite3_errstr(rc));
    tier2_free(t);
    return NULL;
}

void tier2_set_max_value(tier2 *t, int64_t max_value)
{
    int lim = length_limit(max_value);
    pthread_mutex_lock(&t->lock);
    /* Only ever raised: SQLite refuses to read a stored value longer than the limit, and rows kept
     * under a larger cap stay until they expire or are evicted. */
    if (lim > sqlite3_limit(t->db, SQLITE_LIMIT_LENGTH, -1))
        sqlite3_limit(t->db, SQLITE_LIMIT_LENGTH, lim);
    pthread_mutex_unlock(&t->lock);
}

void tier2_free(tier2 *t)
{
    if (!t)
        return;
    for (int i = 0; i < S_N; i++)
        sqlite3_finalize(t->st[i]);
    sqlite3_close_v2(t->db);
    pthread_mutex_destroy(&t->lock);
    free(t->filter[0]);
    free(t->filter[1]);
    free(t);
}

int64_t tier2_row_bytes(const tier2_row *r)
{
    return (int64_t)(2 * r->klen + r->vlen + r->sql_len + r->tables_len + r->snap_len) + ROW_OVERHEAD;
}

/* The accounted size of a key-value row (key twice, as for results). */
static int64_t kv_row_bytes(size_t klen, size_t vlen) { return (int64_t)(2 * klen + vlen) + ROW_OVERHEAD; }


/* ---- helpers; all assume t->lock -------------------------------------------------------- */

/* Bind (key, fmt) as ?1, ?2. */
static void bind_key(sqlite3_stmt *st, const char *key, size_t klen, int fmt)
{
    sqlite3_bind_blob64(st, 1, key, klen, SQLITE_STATIC);
    sqlite3_bind_int(st, 2, fmt);
}

/* Bind a key-value key as ?1 (TEXT, any bytes: compared with memcmp). */
static void bind_text_key(sqlite3_stmt *st, const char *key, size_t klen)
{
    sqlite3_bind_text64(st, 1, key, klen, SQLITE_STATIC, SQLITE_UTF8);
}

/* Ready a statement for its next use. */
static void done(sqlite3_stmt *st)
{
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
}

/* One transaction around a write and the evictions it causes: a commit per statement (with its
 * journal set up and torn down) cost more than the rows themselves. */
static void do_begin(tier2 *t)
{
    sqlite3_step(t->st[S_BEGIN]);
    sqlite3_reset(t->st[S_BEGIN]);
}

/* Ends do_begin's transaction. */
static void do_commit(tier2 *t)
{
    sqlite3_step(t->st[S_COMMIT]);
    sqlite3_reset(t->st[S_COMMIT]);
}

/* A column's bytes, never NULL (pointer first, then length, as SQLite asks). */
static void col_blob(sqlite3_stmt *st, int i, const char **p, size_t *n)
{
    *p = sqlite3_column_blob(st, i);
    *n = (size_t)sqlite3_column_bytes(st, i);
    if (!*p)
        *p = "", *n = 0;
}

static void col_text(sqlite3_stmt *st, int i, const char **p, size_t *n)
{
    *p = (const char *)sqlite3_column_text(st, i);
    *n = (size_t)sqlite3_column_bytes(st, i);
    if (!*p)
        *p = "", *n = 0;
}

/* Publish the entry count for tier2_may_have. */
static void set_hint(tier2 *t) { atomic_store_explicit(&t->hint, t->entries, memory_order_relaxed); }

/* Step a DELETE ... RETURNING bytes[, flag] to the end, taking the rows off the counters.
 * Returns rows deleted; *flagged counts rows whose second column was true. */
static int64_t do_drain_deleted(tier2 *t, sqlite3_stmt *st, int64_t *count, int64_t *bytes, int64_t *flagged)
{
    int64_t n = 0;
    while (sqlite3_step(st) == SQLITE_ROW) {
        n++;
        *bytes -= sqlite3_column_int64(st, 0);
        if (flagged && sqlite3_column_int(st, 1))
            (*flagged)++;
    }
    *count -= n;
    done(st);
    (void)t;
    return n;
}

/* Delete one result row, taking it off the counters. */
static void do_delete_rowid(tier2 *t, int64_t rowid, int64_t bytes)
{
    sqlite3_stmt *st = t->st[S_DEL];
    sqlite3_bind_int64(st, 1, rowid);
    int rc = sqlite3_step(st);
    done(st);
    if (rc == SQLITE_DONE && sqlite3_changes(t->db) > 0) {
        t->entries--;
        t->bytes -= bytes;
    }
    set_hint(t);
}

/* Delete the (key, fmt) row if there is one. */
static void do_delete_row(tier2 *t, const char *key, size_t klen, int fmt)
{
    sqlite3_stmt *st = t->st[S_FIND];
    bind_key(st, key, klen, fmt);
    int64_t rowid = 0, bytes = 0;
    int found = sqlite3_step(st) == SQLITE_ROW;
    if (found) {
        rowid = sqlite3_column_int64(st, 0);
        bytes = sqlite3_column_int64(st, 1);
    }
    done(st);
    if (found)
        do_delete_rowid(t, rowid, bytes);
}

/* Evict least recently used results until the total is under the cap (or none is left). */
static void do_evict(tier2 *t)
{
    while (t->bytes + t->kv_bytes > t->max_bytes && t->entries > 0) {
        sqlite3_stmt *st = t->st[S_LRU];
        int found = sqlite3_step(st) == SQLITE_ROW;
        int64_t rowid = found ? sqlite3_column_int64(st, 0) : 0, bytes = found ? sqlite3_column_int64(st, 1) : 0;
        done(st);
        if (!found)
            break; /* counters out of step with the table: cannot happen, but never spin */
        do_delete_rowid(t, rowid, bytes);
        t->evictions++;
    }
}

/* ---- results ------------------------------------------------------------------------------ */

int tier2_put(tier2 *t, const tier2_row *r, double now)
{
    int64_t est = tier2_row_bytes(r);
    int ok = -1;
    pthread_mutex_lock(&t->lock);
    if (est > t->max_bytes - t->kv_bytes)
        goto out;
    do_begin(t);
    do_delete_row(t, r->key, r->klen, r->fmt);
    sqlite3_stmt *st = t->st[S_INS];
    bind_key(st, r->key, r->klen, r->fmt);
    sqlite3_bind_blob64(st, 3, r->value, r->vlen, SQLITE_STATIC);
    sqlite3_bind_int64(st, 4, r->rows);
    sqlite3_bind_double(st, 5, r->expires_at);
    sqlite3_bind_text64(st, 6, r->tables, r->tables_len, SQLITE_STATIC, SQLITE_UTF8);
    sqlite3_bind_int64(st, 7, r->hits);
    sqlite3_bind_double(st, 8, r->created_at);
    sqlite3_bind_double(st, 9, now);
    sqlite3_bind_text64(st, 10, r->sql, r->sql_len, SQLITE_STATIC, SQLITE_UTF8);
    sqlite3_bind_int64(st, 11, est);
    sqlite3_bind_text64(st, 12, r->snap, r->snap_len, SQLITE_STATIC, SQLITE_UTF8);
    int rc = sqlite3_step(st);
    done(st);
    if (rc == SQLITE_DONE) {
        filter_add(t, r->key, r->klen, r->expires_at, now);
        t->entries++;
        t->bytes += est;
        do_evict(t);
        ok = 0;
    }
    do_commit(t);
out:
    set_hint(t);
    pthread_mutex_unlock(&t->lock);
    return ok;
}

int tier2_get(tier2 *t, const char *key, size_t klen, int fmt, double now, tier2_hit_fn cb, void *ud)
{
    int res = TIER2_MISS, drop = 0, take = 0;
    int64_t rowid = 0, bytes = 0;
    pthread_mutex_lock(&t->lock);
    sqlite3_stmt *st = t->st[S_GET];
    bind_key(st, key, klen, fmt);
    if (sqlite3_step(st) == SQLITE_ROW) {
        tier2_row r = { .key = key, .klen = klen, .fmt = fmt };
        col_blob(st, 0, &r.value, &r.vlen);
        r.rows = sqlite3_column_int64(st, 1);
        r.expires_at = sqlite3_column_double(st, 2);
        col_text(st, 3, &r.snap, &r.snap_len);
        r.hits = sqlite3_column_int64(st, 4);
        r.created_at = sqlite3_column_double(st, 5);
        col_text(st, 6, &r.sql, &r.sql_len);
        col_text(st, 7, &r.tables, &r.tables_len);
        r.bytes = sqlite3_column_int64(st, 9);
        rowid = sqlite3_column_int64(st, 8);
        bytes = r.bytes;
        if (r.expires_at <= now) {
            t->expirations++;
            drop = 1;
        } else if (t->stale(t->stale_ud, r.snap, r.snap_len)) {
            t->invalidations++;
            drop = 1;
        } else {
            res = TIER2_HIT;
            take = cb(ud, &r);
        }
    }
    done(st);
    if (drop || take) {
        do_delete_rowid(t, rowid, bytes);
    } else if (res == TIER2_HIT) {
        st = t->st[S_TOUCH];
        sqlite3_bind_int64(st, 1, rowid);
        sqlite3_bind_double(st, 2, now);
        sqlite3_step(st);
        done(st);
    }
    pthread_mutex_unlock(&t->lock);
    return res;
}

int64_t tier2_clear(tier2 *t)
{
    pthread_mutex_lock(&t->lock);
    int64_t n = t->entries;
    sqlite3_exec(t->db, "DELETE FROM entries", NULL, NULL, NULL);
    t->entries = 0;
    t->bytes = 0;
    set_hint(t);
    pthread_mutex_unlock(&t->lock);
    return n;
}

int64_t tier2_delete_if(tier2 *t, tier2_pred_fn pred, void *ud)
{
    pthread_mutex_lock(&t->lock);
    t->pred = pred;
    t->pred_ud = ud;
    int64_t n = do_drain_deleted(t, t->st[S_DEL_IF], &t->entries, &t->bytes, NULL);
    t->pred = NULL;
    t->pred_ud = NULL;
    set_hint(t);
    pthread_mutex_unlock(&t->lock);
    return n;
}

/* tier2_pred_fn for the sweep: stale rows (expired ones are matched in SQL). */
static int sweep_stale(void *ud, const char *snap, size_t len, double expires_at)
{
    tier2 *t = ud;
    (void)expires_at;
    return t->stale(t->stale_ud, snap, len);
}

void tier2_sweep(tier2 *t, double now)
{
    pthread_mutex_lock(&t->lock);
    t->pred = sweep_stale;
    t->pred_ud = t;
    sqlite3_stmt *st = t->st[S_SWEEP];
    sqlite3_bind_double(st, 1, now);
    int64_t expired = 0;
    int64_t n = do_drain_deleted(t, st, &t->entries, &t->bytes, &expired);
    t->pred = NULL;
    t->pred_ud = NULL;
    t->expirations += expired;
    t->invalidations += n - expired;
    st = t->st[S_KV_SWEEP];
    sqlite3_bind_double(st, 1, now);
    do_drain_deleted(t, st, &t->kv_keys, &t->kv_bytes, NULL);
    set_hint(t);
    pthread_mutex_unlock(&t->lock);
}

void tier2_top(tier2 *t, int n, tier2_row_fn cb, void *ud)
{
    pthread_mutex_lock(&t->lock);
    sqlite3_stmt *st = t->st[S_TOP];
    sqlite3_bind_int(st, 1, n);
    while (sqlite3_step(st) == SQLITE_ROW) {
        tier2_row r = { 0 };
        col_blob(st, 0, &r.key, &r.klen);
        r.fmt = sqlite3_column_int(st, 1);
        col_text(st, 2, &r.sql, &r.sql_len);
        r.hits = sqlite3_column_int64(st, 3);
        r.created_at = sqlite3_column_double(st, 4);
        r.expires_at = sqlite3_column_double(st, 5);
        r.bytes = sqlite3_column_int64(st, 6);
        cb(ud, &r);
    }
    done(st);
    pthread_mutex_unlock(&t->lock);
}

void tier2_get_stats(tier2 *t, tier2_stats *out)
{
    pthread_mutex_lock(&t->lock);
    *out = (tier2_stats){
        .entries = t->entries, .bytes = t->bytes, .kv_keys = t->kv_keys, .kv_bytes = t->kv_bytes,
        .evictions = t->evictions, .expirations = t->expirations, .invalidations = t->invalidations,
    };
    pthread_mutex_unlock(&t->lock);
}

/* ---- key-value rows ------------------------------------------------------------------------ */

/* Count a key-value write (under the tier-2 lock); *gen_out gets the new value. */
static void bump(_Atomic uint64_t *gen, uint64_t *gen_out)
{
    uint64_t g = atomic_fetch_add_explicit(gen, 1, memory_order_acq_rel) + 1;
    if (gen_out)
        *gen_out = g;
}

/* An expiry as a REAL, or NULL for none. */
static void bind_expiry(sqlite3_stmt *st, int i, double expires_at)
{
    if (isinf(expires_at))
        sqlite3_bind_null(st, i);
    else
        sqlite3_bind_double(st, i, expires_at);
}

int tier2_kv_set(tier2 *t, const char *key, size_t klen, const char *val, size_t vlen, double expires_at,
                 _Atomic uint64_t *gen, uint64_t *gen_out)
{
    int64_t est = kv_row_bytes(klen, vlen), old = 0;
    int found = 0, ok = -1;
    pthread_mutex_lock(&t->lock);
    sqlite3_stmt *st = t->st[S_KV_FIND];
    bind_text_key(st, key, klen);
    if (sqlite3_step(st) == SQLITE_ROW) {
        found = 1;
        old = sqlite3_column_int64(st, 0);
    }
    done(st);
    /* Results give way to key-value rows (they can be recomputed; these cannot), but key-value
     * rows alone never pass the cap. */
    if (t->kv_bytes - old + est > t->max_bytes)
        goto out;
    do_begin(t);
    st = t->st[S_KV_SET];
    bind_text_key(st, key, klen);
    sqlite3_bind_blob64(st, 2, val, vlen, SQLITE_STATIC);
    bind_expiry(st, 3, expires_at);
    sqlite3_bind_int64(st, 4, est);
    int rc = sqlite3_step(st);
    done(st);
    if (rc == SQLITE_DONE) {
        t->kv_bytes += est - old;
        t->kv_keys += !found;
        bump(gen, gen_out);
        do_evict(t);
        ok = 0;
    }
    do_commit(t);
out:
    pthread_mutex_unlock(&t->lock);
    return ok;
}

/* Delete the key's row: 1 if there was one, and *live whether it had not expired by now. */
static int do_kv_delete(tier2 *t, const char *key, size_t klen, double now, int only_expired, int *live)
{
    sqlite3_stmt *st = t->st[S_KV_FIND];
    bind_text_key(st, key, klen);
    int found = sqlite3_step(st) == SQLITE_ROW;
    int64_t bytes = found ? sqlite3_column_int64(st, 0) : 0;
    double exp = !found || sqlite3_column_type(st, 1) == SQLITE_NULL ? INFINITY : sqlite3_column_double(st, 1);
    done(st);
    *live = found && exp > now;
    if (!found || (only_expired && *live))
        return 0;
    st = t->st[S_KV_DEL];
    bind_text_key(st, key, klen);
    int rc = sqlite3_step(st);
    done(st);
    if (rc != SQLITE_DONE)
        return 0;
    t->kv_keys--;
    t->kv_bytes -= bytes;
    return 1;
}

/* Delete the key's row if it has expired; 1 if it did. */
static int do_kv_drop_expired(tier2 *t, const char *key, size_t klen, double now)
{
    int live;
    return do_kv_delete(t, key, klen, now, 1, &live);
}

/* Read the row's expiry: 1 live (and *exp), 0 absent or expired (then dropped). */
static int do_kv_lookup(tier2 *t, const char *key, size_t klen, double now, buf *out, double *exp)
{
    sqlite3_stmt *st = t->st[S_KV_GET];
    bind_text_key(st, key, klen);
    int found = 0, expired = 0;
    if (sqlite3_step(st) == SQLITE_ROW) {
        *exp = sqlite3_column_type(st, 1) == SQLITE_NULL ? INFINITY : sqlite3_column_double(st, 1);
        if (*exp <= now) {
            expired = 1;
        } else {
            found = 1;
            if (out) {
                const void *p = sqlite3_column_blob(st, 0);
                buf_append(out, p, (size_t)sqlite3_column_bytes(st, 0));
            }
        }
    }
    done(st);
    if (expired)
        do_kv_drop_expired(t, key, klen, now);
    return found;
}

int tier2_kv_get(tier2 *t, const char *key, size_t klen, double now, buf *out, double *expires_at,
                 _Atomic uint64_t *gen, uint64_t *gen_out)
{
    pthread_mutex_lock(&t->lock);
    int found = do_kv_lookup(t, key, klen, now, out, expires_at);
    /* Read under the lock, so it names exactly the writes this read saw. */
    *gen_out = atomic_load_explicit(gen, memory_order_acquire);
    pthread_mutex_unlock(&t->lock);
    return found;
}

int tier2_kv_del(tier2 *t, const char *key, size_t klen, double now, _Atomic uint64_t *gen)
{
    int live;
    pthread_mutex_lock(&t->lock);
    if (do_kv_delete(t, key, klen, now, 0, &live))
        bump(gen, NULL);
    pthread_mutex_unlock(&t->lock);
    return live;
}

int tier2_kv_expiry(tier2 *t, const char *key, size_t klen, double now, double *expires_at)
{
    pthread_mutex_lock(&t->lock);
    int found = do_kv_lookup(t, key, klen, now, NULL, expires_at);
    pthread_mutex_unlock(&t->lock);
    return found;
}

int tier2_kv_expire(tier2 *t, const char *key, size_t klen, double now, double expires_at, _Atomic uint64_t *gen)
{
    if (expires_at <= now)
        return tier2_kv_del(t, key, klen, now, gen);
    double exp;
    pthread_mutex_lock(&t->lock);
    int changed = do_kv_lookup(t, key, klen, now, NULL, &exp); /* drops an expired row */
    if (changed) {
        sqlite3_stmt *st = t->st[S_KV_EXPIRE];
        bind_text_key(st, key, klen);
        bind_expiry(st, 2, expires_at);
        changed = sqlite3_step(st) == SQLITE_DONE;
        done(st);
        bump(gen, NULL);
    }
    pthread_mutex_unlock(&t->lock);
    return changed;
}

sqlite3 *tier2_lock(tier2 *t)
{
    pthread_mutex_lock(&t->lock);
    return t->db;
}

void tier2_unlock(tier2 *t) { pthread_mutex_unlock(&t->lock); }
