/* tier2.c - the cache's second tier: results and key-value rows in one private in-memory SQLite database, LRU-capped by estimated bytes. */
#include "tier2.h"

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
/* CACHE QUERY holds the tier-2 lock, which every tier-1 miss needs: bound its time and reply. */
#define QUERY_MAX_S   2.0
#define QUERY_MAX_OUT ((size_t)64 << 20)

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

enum {
    S_GET, S_DEL, S_TOUCH, S_INS, S_EVICT, S_DEL_IF, S_SWEEP, S_TOP,
    S_KV_GET, S_KV_OLD, S_KV_SET, S_KV_DEL, S_KV_DEL_EXPIRED, S_KV_EXPIRE, S_KV_SWEEP, S_N
};

static const char *const stmt_sql[S_N] = {
    [S_GET]   = "SELECT value, rows, expires_at, snap, hits, created_at, sql, tables, bytes"
                " FROM entries WHERE key=?1 AND fmt=?2",
    [S_DEL]   = "DELETE FROM entries WHERE key=?1 AND fmt=?2 RETURNING bytes",
    [S_TOUCH] = "UPDATE entries SET hits=hits+1, last_used=?3 WHERE key=?1 AND fmt=?2",
    [S_INS]   = "INSERT INTO entries(key, fmt, value, rows, expires_at, tables, hits, created_at, last_used,"
                " sql, bytes, snap) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
    [S_EVICT] = "DELETE FROM entries WHERE rowid=(SELECT rowid FROM entries ORDER BY last_used LIMIT 1)"
                " RETURNING bytes",
    [S_DEL_IF] = "DELETE FROM entries WHERE lc_pred(snap, expires_at) RETURNING bytes",
    [S_SWEEP] = "DELETE FROM entries WHERE expires_at<=?1 OR lc_pred(snap, expires_at)"
                " RETURNING bytes, expires_at<=?1",
    [S_TOP]   = "SELECT key, fmt, sql, hits, created_at, expires_at, bytes FROM entries"
                " ORDER BY hits DESC LIMIT ?1",
    [S_KV_GET] = "SELECT value, expires_at FROM kv WHERE key=?1",
    [S_KV_OLD] = "SELECT bytes FROM kv WHERE key=?1",
    [S_KV_SET] = "INSERT OR REPLACE INTO kv(key, value, expires_at, bytes) VALUES(?1, ?2, ?3, ?4)",
    [S_KV_DEL] = "DELETE FROM kv WHERE key=?1 RETURNING bytes, expires_at IS NULL OR expires_at>?2",
    [S_KV_DEL_EXPIRED] = "DELETE FROM kv WHERE key=?1 AND expires_at<=?2 RETURNING bytes",
    [S_KV_EXPIRE] = "UPDATE kv SET expires_at=?3 WHERE key=?1 AND (expires_at IS NULL OR expires_at>?2)",
    [S_KV_SWEEP] = "DELETE FROM kv WHERE expires_at<=?1 RETURNING bytes",
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
    /* CACHE QUERY's progress guard */
    double          q_deadline;
    buf            *q_out;
    char            q_denied[128];
};

static double real_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
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

tier2 *tier2_new(int64_t max_bytes, int64_t max_value, tier2_stale_fn stale, void *ud, char *err, size_t errlen)
{
    tier2 *t = calloc(1, sizeof *t);
    if (!t) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    pthread_mutex_init(&t->lock, NULL);
    t->max_bytes = max_bytes;
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
    /* No value is longer than an entry may be (keys are held to the same cap by cache.c); this also
     * bounds what a CACHE QUERY can allocate with zeroblob() or printf(). */
    int64_t lim = max_value * 2 + 65536;
    if (lim < (1 << 20))
        lim = 1 << 20;
    if (lim < 1000000000)
        sqlite3_limit(t->db, SQLITE_LIMIT_LENGTH, (int)lim);
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

void tier2_free(tier2 *t)
{
    if (!t)
        return;
    for (int i = 0; i < S_N; i++)
        sqlite3_finalize(t->st[i]);
    sqlite3_close_v2(t->db);
    pthread_mutex_destroy(&t->lock);
    free(t);
}

int64_t tier2_row_bytes(const tier2_row *r)
{
    return (int64_t)(2 * r->klen + r->vlen + r->sql_len + r->tables_len + r->snap_len) + ROW_OVERHEAD;
}

static int64_t kv_row_bytes(size_t klen, size_t vlen) { return (int64_t)(2 * klen + vlen) + ROW_OVERHEAD; }

int tier2_maybe_has(tier2 *t) { return atomic_load_explicit(&t->hint, memory_order_relaxed) > 0; }

/* ---- helpers; all assume t->lock -------------------------------------------------------- */

static void bind_key(sqlite3_stmt *st, const char *key, size_t klen, int fmt)
{
    sqlite3_bind_blob64(st, 1, key, klen, SQLITE_STATIC);
    sqlite3_bind_int(st, 2, fmt);
}

static void bind_text_key(sqlite3_stmt *st, const char *key, size_t klen)
{
    sqlite3_bind_text64(st, 1, key, klen, SQLITE_STATIC, SQLITE_UTF8);
}

static void done(sqlite3_stmt *st)
{
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
}

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

static int64_t do_delete_row(tier2 *t, const char *key, size_t klen, int fmt)
{
    sqlite3_stmt *st = t->st[S_DEL];
    bind_key(st, key, klen, fmt);
    int64_t n = do_drain_deleted(t, st, &t->entries, &t->bytes, NULL);
    set_hint(t);
    return n;
}

/* Evict least recently used results until the total is under the cap (or none is left). */
static void do_evict(tier2 *t)
{
    while (t->bytes + t->kv_bytes > t->max_bytes && t->entries > 0) {
        int64_t n = do_drain_deleted(t, t->st[S_EVICT], &t->entries, &t->bytes, NULL);
        if (n == 0)
            break; /* counters out of step with the table: cannot happen, but never spin */
        t->evictions += n;
    }
    set_hint(t);
}

/* ---- results ------------------------------------------------------------------------------ */

int tier2_put(tier2 *t, const tier2_row *r, double now)
{
    int64_t est = tier2_row_bytes(r);
    int ok = -1;
    pthread_mutex_lock(&t->lock);
    if (est > t->max_bytes - t->kv_bytes)
        goto out;
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
    if (rc != SQLITE_DONE)
        goto out;
    t->entries++;
    t->bytes += est;
    do_evict(t);
    ok = 0;
out:
    set_hint(t);
    pthread_mutex_unlock(&t->lock);
    return ok;
}

int tier2_get(tier2 *t, const char *key, size_t klen, int fmt, double now, tier2_hit_fn cb, void *ud)
{
    int res = TIER2_MISS, drop = 0, take = 0;
    pthread_mutex_lock(&t->lock);
    sqlite3_stmt *st = t->st[S_GET];
    bind_key(st, key, klen, fmt);
    if (sqlite3_step(st) == SQLITE_ROW) {
        tier2_row r = {
            .key = key, .klen = klen, .fmt = fmt,
            .value = sqlite3_column_blob(st, 0), .vlen = (size_t)sqlite3_column_bytes(st, 0),
            .rows = sqlite3_column_int64(st, 1),
            .expires_at = sqlite3_column_double(st, 2),
            .snap = (const char *)sqlite3_column_text(st, 3), .snap_len = (size_t)sqlite3_column_bytes(st, 3),
            .hits = sqlite3_column_int64(st, 4),
            .created_at = sqlite3_column_double(st, 5),
            .sql = (const char *)sqlite3_column_text(st, 6), .sql_len = (size_t)sqlite3_column_bytes(st, 6),
            .tables = (const char *)sqlite3_column_text(st, 7), .tables_len = (size_t)sqlite3_column_bytes(st, 7),
            .bytes = sqlite3_column_int64(st, 8),
        };
        if (!r.value)
            r.value = "";
        if (!r.snap)
            r.snap = "", r.snap_len = 0;
        if (!r.sql)
            r.sql = "", r.sql_len = 0;
        if (!r.tables)
            r.tables = "", r.tables_len = 0;
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
        do_delete_row(t, key, klen, fmt);
    } else if (res == TIER2_HIT) {
        st = t->st[S_TOUCH];
        bind_key(st, key, klen, fmt);
        sqlite3_bind_double(st, 3, now);
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
        tier2_row r = {
            .key = sqlite3_column_blob(st, 0), .klen = (size_t)sqlite3_column_bytes(st, 0),
            .fmt = sqlite3_column_int(st, 1),
            .sql = (const char *)sqlite3_column_text(st, 2), .sql_len = (size_t)sqlite3_column_bytes(st, 2),
            .hits = sqlite3_column_int64(st, 3),
            .created_at = sqlite3_column_double(st, 4),
            .expires_at = sqlite3_column_double(st, 5),
            .bytes = sqlite3_column_int64(st, 6),
        };
        if (!r.sql)
            r.sql = "", r.sql_len = 0;
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

static void bump(_Atomic uint64_t *gen, uint64_t *gen_out)
{
    uint64_t g = atomic_fetch_add_explicit(gen, 1, memory_order_acq_rel) + 1;
    if (gen_out)
        *gen_out = g;
}

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
    sqlite3_stmt *st = t->st[S_KV_OLD];
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
    st = t->st[S_KV_SET];
    bind_text_key(st, key, klen);
    sqlite3_bind_blob64(st, 2, val, vlen, SQLITE_STATIC);
    bind_expiry(st, 3, expires_at);
    sqlite3_bind_int64(st, 4, est);
    int rc = sqlite3_step(st);
    done(st);
    if (rc != SQLITE_DONE)
        goto out;
    t->kv_bytes += est - old;
    t->kv_keys += !found;
    bump(gen, gen_out);
    do_evict(t);
    ok = 0;
out:
    pthread_mutex_unlock(&t->lock);
    return ok;
}

/* Delete the row if it has expired by now; returns 1 if it did. */
static int do_kv_drop_expired(tier2 *t, const char *key, size_t klen, double now)
{
    sqlite3_stmt *st = t->st[S_KV_DEL_EXPIRED];
    bind_text_key(st, key, klen);
    sqlite3_bind_double(st, 2, now);
    return do_drain_deleted(t, st, &t->kv_keys, &t->kv_bytes, NULL) > 0;
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
    pthread_mutex_lock(&t->lock);
    sqlite3_stmt *st = t->st[S_KV_DEL];
    bind_text_key(st, key, klen);
    sqlite3_bind_double(st, 2, now);
    int64_t live = 0;
    int64_t n = do_drain_deleted(t, st, &t->kv_keys, &t->kv_bytes, &live);
    if (n > 0)
        bump(gen, NULL);
    pthread_mutex_unlock(&t->lock);
    return live > 0;
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
    pthread_mutex_lock(&t->lock);
    sqlite3_stmt *st = t->st[S_KV_EXPIRE];
    bind_text_key(st, key, klen);
    sqlite3_bind_double(st, 2, now);
    bind_expiry(st, 3, expires_at);
    int changed = sqlite3_step(st) == SQLITE_DONE && sqlite3_changes(t->db) > 0;
    done(st);
    if (changed)
        bump(gen, NULL);
    else
        do_kv_drop_expired(t, key, klen, now);
    pthread_mutex_unlock(&t->lock);
    return changed;
}

/* ---- CACHE QUERY ------------------------------------------------------------------------------ */

/* Pragmas that take an argument yet only read; any other PRAGMA could change the connection. */
static const char *const pragma_ok[] = {
    "table_info", "table_xinfo", "index_list", "index_info", "index_xinfo", "table_list",
    "page_count", "page_size", "freelist_count", NULL,
};

/* Installed only while CACHE QUERY prepares its statement: no files, no transactions left open on
 * the shared connection, no internal functions. Writes pass here and are refused by
 * sqlite3_stmt_readonly, which gives the clearer message. */
static int query_auth(void *ud, int action, const char *a, const char *b, const char *dbname, const char *trigger)
{
    tier2 *t = ud;
    (void)dbname;
    (void)trigger;
    const char *why = NULL;
    switch (action) {
    case SQLITE_ATTACH:
    case SQLITE_DETACH:
        why = "CACHE QUERY cannot attach databases";
        break;
    case SQLITE_TRANSACTION:
    case SQLITE_SAVEPOINT:
        why = "CACHE QUERY cannot control transactions";
        break;
    case SQLITE_PRAGMA:
        why = "CACHE QUERY allows only reading pragmas";
        for (const char *const *p = pragma_ok; *p; p++)
            if (a && strcasecmp(a, *p) == 0)
                why = NULL;
        break;
    case SQLITE_FUNCTION:
        if (b && (strcasecmp(b, "lc_pred") == 0 || strcasecmp(b, "load_extension") == 0))
            why = "CACHE QUERY cannot call that function";
        break;
    }
    if (!why)
        return SQLITE_OK;
    snprintf(t->q_denied, sizeof t->q_denied, "%s", why);
    return SQLITE_DENY;
}

static int query_progress(void *ud)
{
    tier2 *t = ud;
    return real_now() > t->q_deadline || t->q_out->len > QUERY_MAX_OUT || t->q_out->oom;
}

static int starts(const char *msg, const char *prefix) { return strncmp(msg, prefix, strlen(prefix)) == 0; }

static const char *sqlstate(int rc, const char *msg)
{
    switch (rc & 0xff) {
    case SQLITE_AUTH:      return "42501";
    case SQLITE_INTERRUPT: return "57014";
    case SQLITE_TOOBIG:    return "54000";
    case SQLITE_NOMEM:     return "53200";
    }
    if (starts(msg, "no such table") || starts(msg, "no such view")) return "42P01";
    if (starts(msg, "no such column")) return "42703";
    if (strstr(msg, "syntax error") || starts(msg, "incomplete input") || starts(msg, "unrecognized token"))
        return "42601";
    return "XX000";
}

static int query_fail(tier2 *t, buf *out, size_t start, const char *state, const char *msg)
{
    (void)t;
    buf_truncate(out, start);
    out->oom = 0;
    lp_put_error(out, state, msg);
    return -1;
}

static int do_query_error(tier2 *t, buf *out, size_t start, int rc)
{
    const char *msg = sqlite3_errmsg(t->db);
    if ((rc & 0xff) == SQLITE_AUTH && t->q_denied[0])
        msg = t->q_denied;
    else if ((rc & 0xff) == SQLITE_INTERRUPT)
        msg = "CACHE QUERY ran too long or its reply grew too large";
    return query_fail(t, out, start, sqlstate(rc, msg), msg);
}

static void put_value(lp_value *v, sqlite3_stmt *st, int i)
{
    switch (sqlite3_column_type(st, i)) {
    case SQLITE_NULL:
        *v = (lp_value){ LP_VAL_NULL, NULL, 0 };
        return;
    case SQLITE_BLOB:
        v->type = LP_VAL_BLOB;
        v->p = sqlite3_column_blob(st, i);
        v->n = (size_t)sqlite3_column_bytes(st, i);
        return;
    case SQLITE_INTEGER: v->type = LP_VAL_INT; break;
    case SQLITE_FLOAT:   v->type = LP_VAL_REAL; break;
    default:             v->type = LP_VAL_TEXT; break;
    }
    /* Numbers go out in SQLite's own text form, as the protocol promises. */
    v->p = (const char *)sqlite3_column_text(st, i);
    v->n = (size_t)sqlite3_column_bytes(st, i);
}

/* Step the statement to the end, encoding rows. Returns a SQLite code. */
static int do_query_run(sqlite3_stmt *st, lp_format fmt, buf *out, int64_t *rows)
{
    int ncols = sqlite3_column_count(st);
    const char **names = calloc((size_t)ncols + 1, sizeof *names);
    size_t *lens = calloc((size_t)ncols + 1, sizeof *lens);
    lp_value *vals = calloc((size_t)ncols + 1, sizeof *vals);
    int rc = SQLITE_NOMEM;
    if (!names || !lens || !vals)
        goto out;
    if (ncols > 0) {
        for (int i = 0; i < ncols; i++) {
            names[i] = sqlite3_column_name(st, i);
            if (!names[i])
                names[i] = "";
            lens[i] = strlen(names[i]);
        }
        lp_put_header(out, fmt, names, lens, ncols);
    }
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        for (int i = 0; i < ncols; i++)
            put_value(&vals[i], st, i);
        lp_put_row(out, fmt, vals, ncols);
        (*rows)++;
    }
    if (rc == SQLITE_DONE)
        rc = SQLITE_OK;
out:
    free(names);
    free(lens);
    free(vals);
    return rc;
}

int tier2_query(tier2 *t, const char *sql, size_t len, lp_format fmt, buf *out)
{
    size_t start = out->len;
    if (len > (size_t)1 << 20)
        return query_fail(t, out, start, "54000", "CACHE QUERY statement too long");
    pthread_mutex_lock(&t->lock);
    t->q_denied[0] = '\0';
    t->q_deadline = real_now() + QUERY_MAX_S;
    t->q_out = out;
    sqlite3_set_authorizer(t->db, query_auth, t);
    sqlite3_progress_handler(t->db, 10000, query_progress, t);
    sqlite3_stmt *st = NULL, *next = NULL;
    const char *tail = NULL;
    int ret = -1;
    int rc = sqlite3_prepare_v2(t->db, sql, (int)len, &st, &tail);
    if (rc != SQLITE_OK) {
        ret = do_query_error(t, out, start, rc);
        goto out;
    }
    if (!st) {
        ret = query_fail(t, out, start, "42601", "CACHE QUERY needs a statement");
        goto out;
    }
    /* Whatever follows must be only blanks and comments: preparing it yields no statement. */
    size_t used = (size_t)(tail - sql);
    if (used < len) {
        rc = sqlite3_prepare_v2(t->db, tail, (int)(len - used), &next, NULL);
        if (rc != SQLITE_OK || next) {
            ret = query_fail(t, out, start, "42601", "CACHE QUERY takes one statement");
            goto out;
        }
    }
    if (!sqlite3_stmt_readonly(st)) {
        ret = query_fail(t, out, start, "42501", "CACHE QUERY only reads");
        goto out;
    }
    int64_t rows = 0;
    rc = do_query_run(st, fmt, out, &rows);
    if (rc != SQLITE_OK) {
        ret = do_query_error(t, out, start, rc);
        goto out;
    }
    buf_printf(out, "+OK %lld rows\n", (long long)rows);
    ret = 0;
out:
    sqlite3_finalize(next);
    sqlite3_finalize(st);
    sqlite3_set_authorizer(t->db, NULL, NULL);
    sqlite3_progress_handler(t->db, 0, NULL, NULL);
    t->q_out = NULL;
    pthread_mutex_unlock(&t->lock);
    return ret;
}
