/* db.c - a connection to the main database: pragmas, a statement LRU, the sandbox authorizer, SQLSTATE mapping. */
#include "db.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <uthash.h>

#include "schema.h"

struct db_stmt {
    sqlite3_stmt  *st;
    unsigned       flags;
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
    char     denied[160];   /* why the authorizer refused, for a better message than "not authorized" */
};

/* Pragmas that take an argument yet only read; any other PRAGMA with an argument could change a
 * connection that many clients share, so it is refused. */
static const char *const pragma_read_args[] = {
    "table_info", "table_xinfo", "index_list", "index_info", "index_xinfo", "foreign_key_list",
    "foreign_key_check", "integrity_check", "quick_check", "table_list", NULL,
};

static int authorize(void *ud, int action, const char *a, const char *b, const char *dbname, const char *trigger)
{
    db_conn *db = ud;
    (void)dbname;
    switch (action) {
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
    db_conn *c = calloc(1, sizeof *c);
    if (!c) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    c->role = role;
    c->stmt_cap = cfg->stmt_cache_size;
    int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX | (role == DB_WRITER ? SQLITE_OPEN_CREATE : 0);
    int rc = sqlite3_open_v2(cfg->db_path, &c->db, flags, NULL);
    if (rc != SQLITE_OK) {
        snprintf(err, errlen, "%s: %s", cfg->db_path, c->db ? sqlite3_errmsg(c->db) : sqlite3_errstr(rc));
        goto fail;
    }
    sqlite3_extended_result_codes(c->db, 1);
    sqlite3_busy_timeout(c->db, cfg->busy_timeout_ms);
    sqlite3_db_config(c->db, SQLITE_DBCONFIG_DEFENSIVE, 1, NULL);
    sqlite3_db_config(c->db, SQLITE_DBCONFIG_ENABLE_LOAD_EXTENSION, 0, NULL);
    /* Triggers that bump updated_at guard themselves; recursion stays on so FK cascades fire triggers. */
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
    snprintf(sql, sizeof sql, "PRAGMA mmap_size=%lld", (long long)cfg->mmap_size);
    if (pragma(c->db, sql, err, errlen) < 0)
        goto fail;
    snprintf(sql, sizeof sql, "PRAGMA wal_autocheckpoint=%d", cfg->wal_autocheckpoint);
    if (pragma(c->db, sql, err, errlen) < 0)
        goto fail;
    snprintf(sql, sizeof sql, "PRAGMA foreign_keys=%s", cfg->foreign_keys ? "ON" : "OFF");
    if (pragma(c->db, sql, err, errlen) < 0)
        goto fail;
    if (role == DB_WRITER) {
        if (schema_apply(c->db, err, errlen) < 0)
            goto fail;
    } else if (pragma(c->db, "PRAGMA query_only=ON", err, errlen) < 0) {
        goto fail;
    }
    sqlite3_set_authorizer(c->db, authorize, c);
    return c;
fail:
    db_close(c);
    return NULL;
}

void db_close(db_conn *db)
{
    if (!db)
        return;
    db_stmt *s, *tmp;
    HASH_ITER(hh, db->stmts, s, tmp) {
        HASH_DEL(db->stmts, s);
        sqlite3_finalize(s->st);
        free(s->key);
        free(s);
    }
    sqlite3_close_v2(db->db);
    free(db);
}

sqlite3 *db_handle(db_conn *db) { return db->db; }

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
        sqlite3_finalize(old->st);
        free(old->key);
        free(old);
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

const char *db_errmsg(db_conn *db)
{
    if (db->denied[0] && sqlite3_errcode(db->db) == SQLITE_AUTH)
        return db->denied;
    return sqlite3_errmsg(db->db);
}

int db_exec(db_conn *db, const char *sql) { return sqlite3_exec(db->db, sql, NULL, NULL, NULL); }

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
