/* db.c - a connection to the main database: pragmas, a statement LRU, the sandbox authorizer, SQLSTATE mapping. */
#include "db.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <strings.h>
#include <uthash.h>

#include "schema.h"

typedef struct db_tables {
    int   n;
    char *names[DB_STMT_MAX_TABLES];
} db_tables;

struct db_stmt {
    sqlite3_stmt  *st;
    unsigned       flags;
    db_tables      reads, writes;
    void          *memo;
    size_t         used;    /* bytes of the key the statement spans */
    char          *key;     /* the exact text it was prepared from (the rest of the body included) */
    size_t         keylen;
    UT_hash_handle hh;      /* uthash keeps insertion order: re-adding on use makes the head the LRU end */
};

struct db_conn {
    sqlite3 *db;
    enum db_role role;
    db_stmt *stmts;
    int      stmt_cap;
    unsigned prep_flags;    /* collected by the authorizer during one prepare */
    db_tables prep_reads, prep_writes;
    char     denied[160];   /* why the authorizer refused, for a better message than "not authorized" */
    int64_t  deadline_ns;   /* statement_timeout: CLOCK_MONOTONIC ns, 0 = none (owner thread only) */
    int      timed_out;     /* the last interrupt was ours */
    db_conn *peer;          /* a reader's connection to the in-memory replica (not owned) */
};

/* Pragmas that take an argument yet only read; any other PRAGMA with an argument could change a
 * connection that many clients share, so it is refused. */
static const char *const pragma_read_args[] = {
    "table_info", "table_xinfo", "index_list", "index_info", "index_xinfo", "foreign_key_list",
    "foreign_key_check", "integrity_check", "quick_check", "table_list", NULL,
};

/* Functions whose result is not fixed by their arguments and the data: a read calling one is never cached.
 * The date and time functions are here whole: with 'now' (or no argument) they read the clock. */
static const char *const nondet_functions[] = {
    "random", "randomblob", "changes", "total_changes", "last_insert_rowid", "date", "time",
    "datetime", "julianday", "strftime", "unixepoch", "current_date", "current_time",
    "current_timestamp", "sqlite_offset", NULL,
};

static void tables_add(db_conn *db, db_tables *t, const char *name)
{
    if (!name || !*name)
        return;
    for (int i = 0; i < t->n; i++)
        if (strcasecmp(t->names[i], name) == 0)
            return;
    if (t->n == DB_STMT_MAX_TABLES) {
        db->prep_flags |= DB_STMT_MANY;
        return;
    }
    char *copy = strdup(name);
    if (!copy) {
        db->prep_flags |= DB_STMT_MANY; /* unknown tables: the caller treats it as uncacheable */
        return;
    }
    t->names[t->n++] = copy;
}

static void tables_clear(db_tables *t)
{
    for (int i = 0; i < t->n; i++)
        free(t->names[i]);
    t->n = 0;
}

static int authorize(void *ud, int action, const char *a, const char *b, const char *dbname, const char *trigger)
{
    db_conn *db = ud;
    (void)dbname;
    switch (action) {
    case SQLITE_READ:
        tables_add(db, &db->prep_reads, a);
        return SQLITE_OK;
    case SQLITE_INSERT:
    case SQLITE_UPDATE:
    case SQLITE_DELETE:
        /* Trigger bodies and foreign-key cascades are authorized too, so their tables land here. */
        tables_add(db, &db->prep_writes, a);
        return SQLITE_OK;
    case SQLITE_FUNCTION:
        for (const char *const *f = nondet_functions; *f; f++)
            if (b && strcasecmp(b, *f) == 0)
                db->prep_flags |= DB_STMT_NONDET;
        return SQLITE_OK;
    case SQLITE_CREATE_INDEX: case SQLITE_CREATE_TABLE: case SQLITE_CREATE_TRIGGER:
    case SQLITE_CREATE_VIEW: case SQLITE_DROP_INDEX: case SQLITE_DROP_TABLE: case SQLITE_DROP_TRIGGER:
    case SQLITE_DROP_VIEW: case SQLITE_ALTER_TABLE: case SQLITE_CREATE_VTABLE: case SQLITE_DROP_VTABLE:
    case SQLITE_REINDEX: case SQLITE_ANALYZE:
        db->prep_flags |= DB_STMT_DDL;
        return SQLITE_OK;
    case SQLITE_TRANSACTION:
    case SQLITE_SAVEPOINT:
        db->prep_flags |= DB_STMT_TXN;
        return SQLITE_OK;
    case SQLITE_ATTACH:
    case SQLITE_DETACH:
        snprintf(db->denied, sizeof db->denied, "%s is not allowed", action == SQLITE_ATTACH ? "ATTACH" : "DETACH");
        return SQLITE_DENY;
    case SQLITE_PRAGMA:
        if (b == NULL || trigger != NULL)
            return SQLITE_OK;
        for (const char *const *p = pragma_read_args; *p; p++)
            if (strcasecmp(a, *p) == 0)
                return SQLITE_OK;
        snprintf(db->denied, sizeof db->denied, "PRAGMA %s with a value is not allowed", a);
        return SQLITE_DENY;
    default:
        return SQLITE_OK;
    }
}

static int64_t mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int on_progress(void *ud)
{
    db_conn *c = ud;
    if (c->deadline_ns && mono_ns() > c->deadline_ns) {
        c->timed_out = 1;
        return 1;
    }
    return 0;
}

void db_set_timeout(db_conn *db, int ms)
{
    db->deadline_ns = ms > 0 ? mono_ns() + (int64_t)ms * 1000000 : 0;
    db->timed_out = 0;
}

static int pragma(sqlite3 *db, const char *sql, char *err, size_t errlen)
{
    char *msg = NULL;
    int rc = sqlite3_exec(db, sql, NULL, NULL, &msg);
    if (rc != SQLITE_OK) {
        snprintf(err, errlen, "%s: %s", sql, msg ? msg : sqlite3_errstr(rc));
        sqlite3_free(msg);
        return -1;
    }
    return 0;
}

static int set_wal(sqlite3 *db, char *err, size_t errlen)
{
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(db, "PRAGMA journal_mode=WAL", -1, &st, NULL) != SQLITE_OK) {
        snprintf(err, errlen, "journal_mode: %s", sqlite3_errmsg(db));
        return -1;
    }
    int ok = sqlite3_step(st) == SQLITE_ROW && strcasecmp((const char *)sqlite3_column_text(st, 0), "wal") == 0;
    sqlite3_finalize(st);
    if (!ok) {
        snprintf(err, errlen, "could not switch the database to WAL mode: %s", sqlite3_errmsg(db));
        return -1;
    }
    return 0;
}

db_conn *db_open(const config *cfg, enum db_role role, char *err, size_t errlen)
{
    return db_open_at(cfg, cfg->db_path, role, err, errlen);
}

db_conn *db_open_at(const config *cfg, const char *path, enum db_role role, char *err, size_t errlen)
{
    db_conn *c = calloc(1, sizeof *c);
    if (!c) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    c->role = role;
    c->stmt_cap = cfg->stmt_cache_size;
    int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX | (role == DB_WRITER ? SQLITE_OPEN_CREATE : 0) |
                (role == DB_REPLICA ? SQLITE_OPEN_URI : 0);
    int rc = sqlite3_open_v2(path, &c->db, flags, NULL);
    if (rc != SQLITE_OK) {
        snprintf(err, errlen, "%s: %s", path, c->db ? sqlite3_errmsg(c->db) : sqlite3_errstr(rc));
        goto fail;
    }
    sqlite3_extended_result_codes(c->db, 1);
    sqlite3_busy_timeout(c->db, cfg->busy_timeout_ms);
    sqlite3_db_config(c->db, SQLITE_DBCONFIG_DEFENSIVE, 1, NULL);
    sqlite3_db_config(c->db, SQLITE_DBCONFIG_ENABLE_LOAD_EXTENSION, 0, NULL);
    /* Recursive triggers on, so INSERT OR REPLACE runs the delete triggers of the rows it replaces and
     * the statistics stay right; the updated_at triggers guard themselves against recursion. */
    char sql[160];
    static const char *const sync_names[] = {"OFF", "NORMAL", "FULL"};
    static const char *const temp_names[] = {"DEFAULT", "FILE", "MEMORY"};
    if (role == DB_WRITER && set_wal(c->db, err, errlen) < 0)
        goto fail;
    snprintf(sql, sizeof sql, "PRAGMA synchronous=%s", sync_names[cfg->synchronous]);
    if (pragma(c->db, sql, err, errlen) < 0)
        goto fail;
    snprintf(sql, sizeof sql, "PRAGMA cache_size=-%lld", (long long)cfg->sqlite_cache_kb);
    if (pragma(c->db, sql, err, errlen) < 0)
        goto fail;
    snprintf(sql, sizeof sql, "PRAGMA temp_store=%s", temp_names[cfg->temp_store]);
    if (pragma(c->db, sql, err, errlen) < 0)
        goto fail;
    /* The replica's pages are RAM already: mapped whole, they are read in place, not copied into a cache. */
    snprintf(sql, sizeof sql, "PRAGMA mmap_size=%lld",
             (long long)(role == DB_REPLICA ? cfg->replica_max_bytes : cfg->mmap_size));
    if (pragma(c->db, sql, err, errlen) < 0)
        goto fail;
    snprintf(sql, sizeof sql, "PRAGMA wal_autocheckpoint=%d", cfg->wal_autocheckpoint);
    if (pragma(c->db, sql, err, errlen) < 0)
        goto fail;
    snprintf(sql, sizeof sql, "PRAGMA foreign_keys=%s", cfg->foreign_keys ? "ON" : "OFF");
    if (pragma(c->db, sql, err, errlen) < 0)
        goto fail;
    if (pragma(c->db, "PRAGMA recursive_triggers=ON", err, errlen) < 0)
        goto fail;
    if (role == DB_WRITER) {
        if (schema_apply(c->db, err, errlen) < 0)
            goto fail;
    } else if (pragma(c->db, "PRAGMA query_only=ON", err, errlen) < 0) {
        goto fail;
    }
    sqlite3_set_authorizer(c->db, authorize, c);
    /* Every few thousand VM steps: cheap next to the statement, and a runaway one stops in time. */
    sqlite3_progress_handler(c->db, 4000, on_progress, c);
    return c;
fail:
    db_close(c);
    return NULL;
}

static void stmt_free(db_stmt *s)
{
    sqlite3_finalize(s->st);
    tables_clear(&s->reads);
    tables_clear(&s->writes);
    free(s->memo);
    free(s->key);
    free(s);
}

void db_close(db_conn *db)
{
    if (!db)
        return;
    db_stmt *s, *tmp;
    HASH_ITER(hh, db->stmts, s, tmp) {
        HASH_DEL(db->stmts, s);
        stmt_free(s);
    }
    tables_clear(&db->prep_reads);
    tables_clear(&db->prep_writes);
    sqlite3_close_v2(db->db);
    free(db);
}

sqlite3 *db_handle(db_conn *db) { return db->db; }
void db_set_peer(db_conn *db, db_conn *peer) { db->peer = peer; }
db_conn *db_peer(db_conn *db) { return db->peer; }

int db_prepare(db_conn *db, const char *sql, size_t len, db_stmt **out, size_t *used)
{
    db_stmt *s;
    HASH_FIND(hh, db->stmts, sql, len, s);
    if (s) {
        /* Move to the most-recently-used end. */
        HASH_DEL(db->stmts, s);
        HASH_ADD_KEYPTR(hh, db->stmts, s->key, s->keylen, s);
        *out = s->st ? s : NULL;
        *used = s->used;
        return SQLITE_OK;
    }
    db->prep_flags = 0;
    db->denied[0] = '\0';
    tables_clear(&db->prep_reads);
    tables_clear(&db->prep_writes);
    sqlite3_stmt *st = NULL;
    const char *tail = NULL;
    if (len > (size_t)INT32_MAX)
        return SQLITE_TOOBIG;
    int rc = sqlite3_prepare_v3(db->db, sql, (int)len, SQLITE_PREPARE_PERSISTENT, &st, &tail);
    if (rc != SQLITE_OK)
        return rc;
    s = calloc(1, sizeof *s);
    char *key = malloc(len ? len : 1);
    if (!s || !key) {
        free(s);
        free(key);
        sqlite3_finalize(st);
        return SQLITE_NOMEM;
    }
    memcpy(key, sql, len);
    s->st = st;
    s->flags = db->prep_flags;
    /* The authorizer sees the explained statement's tables, as if it ran: only SQLite knows it will not. */
    if (st && sqlite3_stmt_isexplain(st))
        s->flags |= DB_STMT_EXPLAIN;
    /* Hand the collected names over to the statement. */
    s->reads = db->prep_reads;
    s->writes = db->prep_writes;
    db->prep_reads.n = 0;
    db->prep_writes.n = 0;
    s->used = tail ? (size_t)(tail - sql) : len;
    s->key = key;
    s->keylen = len;
    HASH_ADD_KEYPTR(hh, db->stmts, s->key, s->keylen, s);
    /* Evict from the least-recently-used end; statements are reset between uses, so none is busy. */
    while ((int)HASH_COUNT(db->stmts) > db->stmt_cap) {
        db_stmt *old = db->stmts;
        if (old == s)
            break;
        HASH_DEL(db->stmts, old);
        stmt_free(old);
    }
    *out = st ? s : NULL;
    *used = s->used;
    return SQLITE_OK;
}

void db_stmt_done(db_stmt *s)
{
    sqlite3_reset(s->st);
    sqlite3_clear_bindings(s->st);
}

sqlite3_stmt *db_stmt_handle(db_stmt *s) { return s->st; }
unsigned db_stmt_flags(db_stmt *s) { return s->flags; }

int db_stmt_reads(db_stmt *s, const char *const **names)
{
    *names = (const char *const *)s->reads.names;
    return s->reads.n;
}

int db_stmt_writes(db_stmt *s, const char *const **names)
{
    *names = (const char *const *)s->writes.names;
    return s->writes.n;
}

void **db_stmt_memo(db_stmt *s) { return &s->memo; }

const char *db_errmsg(db_conn *db)
{
    if (db->timed_out && (sqlite3_errcode(db->db) & 0xff) == SQLITE_INTERRUPT)
        return "canceling statement due to statement timeout";
    if (db->denied[0] && sqlite3_errcode(db->db) == SQLITE_AUTH)
        return db->denied;
    return sqlite3_errmsg(db->db);
}

/* Through the statement cache: BEGIN, COMMIT, SAVEPOINT and RELEASE run for every write, and
 * sqlite3_exec would parse them anew each time. */
int db_exec(db_conn *db, const char *sql)
{
    size_t len = strlen(sql), used;
    db_stmt *ds;
    int rc = db_prepare(db, sql, len, &ds, &used);
    if (rc != SQLITE_OK || !ds)
        return rc;
    if (used < len) /* more than one statement: not what the callers do, but keep it correct */
        return sqlite3_exec(db->db, sql, NULL, NULL, NULL);
    /* statement_timeout is for clients' statements: never stop a COMMIT or ROLLBACK halfway. */
    int64_t deadline = db->deadline_ns;
    db->deadline_ns = 0;
    while ((rc = sqlite3_step(ds->st)) == SQLITE_ROW)
        ;
    sqlite3_reset(ds->st);
    db->deadline_ns = deadline;
    return rc == SQLITE_DONE ? SQLITE_OK : rc;
}

static int starts(const char *msg, const char *prefix) { return strncmp(msg, prefix, strlen(prefix)) == 0; }

const char *db_sqlstate(db_conn *db, int rc)
{
    const char *msg = db ? sqlite3_errmsg(db->db) : "";
    switch (rc) {
    case SQLITE_CONSTRAINT_UNIQUE:
    case SQLITE_CONSTRAINT_PRIMARYKEY: return "23505";
    case SQLITE_CONSTRAINT_FOREIGNKEY: return "23503";
    case SQLITE_CONSTRAINT_CHECK:      return "23514";
    case SQLITE_CONSTRAINT_NOTNULL:    return "23502";
    case SQLITE_CONSTRAINT_TRIGGER:    return "P0001"; /* RAISE(ABORT, …) in a trigger */
    }
    switch (rc & 0xff) {
    case SQLITE_CONSTRAINT: return "23000";
    case SQLITE_AUTH:       return "42501";
    case SQLITE_BUSY:
    case SQLITE_LOCKED:     return "40001";
    case SQLITE_INTERRUPT:  return "57014";
    case SQLITE_TOOBIG:     return "54000";
    case SQLITE_NOMEM:      return "53200";
    case SQLITE_FULL:       return "53100";
    case SQLITE_READONLY:   return "25006";
    case SQLITE_MISMATCH:   return "42804";
    case SQLITE_RANGE:      return "22023";
    case SQLITE_ERROR:
        if (starts(msg, "no such table") || starts(msg, "no such view")) return "42P01";
        if (starts(msg, "no such column") || strstr(msg, "has no column named")) return "42703";
        if (starts(msg, "no such function") || strstr(msg, "wrong number of arguments to function")) return "42883";
        if (strstr(msg, "syntax error") || starts(msg, "incomplete input") || starts(msg, "unrecognized token")) return "42601";
        if (strstr(msg, "already exists")) return "42P07";
        if (starts(msg, "too many levels of trigger recursion")) return "54001";
        if (strstr(msg, "ambiguous column name")) return "42702";
        return "42000";
    }
    return "XX000";
}
