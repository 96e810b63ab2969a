/* db.c - a connection to the main database: pragmas, a statement LRU, the sandbox authorizer, SQLSTATE mapping. */
#include "db.h"

#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <strings.h>
#include <uthash.h>

#include "schema.h"
#include "sqlfn.h"

typedef struct db_tables {
    int   n;
    char *names[DB_STMT_MAX_TABLES];
} db_tables;

struct db_stmt {
    sqlite3_stmt  *st;
    db_conn       *db;
    int            reprepares; /* SQLITE_STMTSTATUS_REPREPARE when flags and tables were collected */
    unsigned       flags;
    char          *admin_what; /* with DB_STMT_ADMIN|DB_STMT_DDL: what needs the admin ("PRAGMA x") */
    db_tables      reads, writes;
    void          *memo[DB_NMEMO];
    size_t         used;    /* bytes of the key the statement spans */
    char          *key;     /* the exact text it was prepared from (the rest of the body included) */
    size_t         keylen;
    UT_hash_handle hh;      /* uthash keeps insertion order: re-adding on use makes the head the LRU end */
};

struct db_conn {
    sqlite3 *db;
    enum db_role role;
    db_stmt *stmts;
    db_stmt *last;          /* the statement db_prepare returned last (a read's miss asks twice) */
    int      stmt_cap;
    unsigned prep_flags;    /* collected by the authorizer during one prepare */
    db_tables prep_reads, prep_writes;
    char     denied[160];   /* why the authorizer refused, for a better message than "not authorized" */
    int      refused;       /* db_prepare refused the statement itself (denied says why) */
    char     prep_admin[48]; /* what makes the statement being prepared the admin's, or "" */
    int      preparing;     /* inside db_prepare: else the authorizer is asked from a running statement */
    unsigned long reprepared; /* runs that found their statement prepared again by SQLite */
    enum role run_role;     /* who runs statements now (db_set_role); ROLE_ADMIN for the server's own */
    int64_t  deadline_ns;   /* statement_timeout: CLOCK_MONOTONIC ns, 0 = none (owner thread only) */
    int      timed_out;     /* the last interrupt was ours */
    int64_t  mem_base;      /* this thread's SQLite heap when the limits were set */
    int64_t  mem_max;       /* max_statement_memory: bytes past mem_base; 0 = none */
    int      out_of_memory; /* the last interrupt was for memory */
    db_conn *peer;          /* a reader's connection to the in-memory replica (not owned) */
};

/* SQLite's heap held by this thread: what it allocated minus what it freed. A block freed by
 * another thread skews both counts, which is why only growth during one statement is judged. */
static _Thread_local int64_t thread_heap;

static void *mem_malloc(int n)
{
    void *p = malloc((size_t)n);
    if (p)
        thread_heap += (int64_t)malloc_usable_size(p);
    return p;
}

static void mem_free(void *p)
{
    if (p) {
        thread_heap -= (int64_t)malloc_usable_size(p);
        free(p);
    }
}

static void *mem_realloc(void *p, int n)
{
    int64_t before = p ? (int64_t)malloc_usable_size(p) : 0;
    void *q = realloc(p, (size_t)n);
    if (q)
        thread_heap += (int64_t)malloc_usable_size(q) - before;
    return q;
}

static int mem_size(void *p) { return p ? (int)malloc_usable_size(p) : 0; }
static int mem_roundup(int n) { return (n + 7) & ~7; }
static int mem_init(void *ud) { (void)ud; return SQLITE_OK; }
static void mem_shutdown(void *ud) { (void)ud; }

int db_memory_init(void)
{
    static const sqlite3_mem_methods methods = {
        mem_malloc, mem_free, mem_realloc, mem_size, mem_roundup, mem_init, mem_shutdown, NULL,
    };
    /* SQLite's memory statistics take a global mutex on every allocation, which all workers then
     * fight over; we do not read them. */
    sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
    return sqlite3_config(SQLITE_CONFIG_MALLOC, &methods) == SQLITE_OK ? 0 : -1;
}

/* PRAGMAs every role may run: they only read. These take an argument that names what to read. */
static const char *const pragma_read_args[] = {
    "table_info", "table_xinfo", "index_list", "index_info", "index_xinfo", "foreign_key_list",
    "foreign_key_check", "integrity_check", "quick_check", "table_list", NULL,
};

/* ... and these only read when given no value. database_list is not here: it shows the file's path. */
static const char *const pragma_read_bare[] = {
    "application_id", "collation_list", "data_version", "encoding", "freelist_count", "function_list",
    "journal_mode", "module_list", "page_count", "page_size", "pragma_list", "schema_version",
    "user_version", NULL,
};

/* PRAGMAs refused to every role, admin included: they would break what litecached promises (a
 * WAL file, foreign keys, durability, a sound schema) on connections every client shares, or
 * undo what the server set up on them: wal_autocheckpoint installs SQLite's own WAL hook in place
 * of the writer's (its checkpoints stop and the WAL grows without end); busy_timeout, cache_size
 * and temp_store come from the configuration. */
static const char *const pragma_never[] = {
    "writable_schema", "journal_mode", "locking_mode", "query_only", "synchronous", "foreign_keys",
    "ignore_check_constraints", "recursive_triggers", "schema_version", "temp_store_directory",
    "data_store_directory", "trusted_schema", "cell_size_check", "mmap_size", "user_version", "application_id",
    "wal_autocheckpoint", "busy_timeout", "cache_size", "temp_store", NULL,
};

/* ... and these set a connection's behaviour, which stays set after the statement: on a connection
 * every client shares (the writer; a worker's reader), for all the clients after it. They change
 * later writes (max_page_count, defer_foreign_keys, secure_delete), the answers to other clients'
 * queries (case_sensitive_like, reverse_unordered_selects, count_changes, the column names) or the
 * process (the heap limits). Reading one (no value) stays the admin's. */
static const char *const pragma_shared[] = {
    "max_page_count", "journal_size_limit", "cache_spill", "defer_foreign_keys", "secure_delete",
    "case_sensitive_like", "reverse_unordered_selects", "automatic_index", "legacy_alter_table",
    "count_changes", "full_column_names", "short_column_names", "empty_result_callbacks", "threads",
    "analysis_limit", "soft_heap_limit", "hard_heap_limit", "fullfsync", "checkpoint_fullfsync", NULL,
};

static int in_list(const char *const *list, const char *name)
{
    for (; *list; list++)
        if (strcasecmp(name, *list) == 0)
            return 1;
    return 0;
}

/* Functions whose result is not fixed by their arguments and the data: a read calling one is never cached.
 * The date and time functions are here whole: with 'now' (or no argument) they read the clock. */
static const char *const nondet_functions[] = {
    "random", "randomblob", "changes", "total_changes", "last_insert_rowid", "date", "time",
    "datetime", "julianday", "strftime", "unixepoch", "current_date", "current_time",
    "current_timestamp", "sqlite_offset", NULL,
};

/* Tables whose rows no write note covers, so no cached read of them could be invalidated: an
 * INSERT into an AUTOINCREMENT table updates sqlite_sequence in its own code, asking no
 * authorizer; a PRAGMA as a table (pragma_page_count, pragma_data_version) answers from the file's
 * state, and the authorizer sees only the pragma's name; dbstat reports the file's pages. */
static int untracked(const char *table)
{
    return strcasecmp(table, "sqlite_sequence") == 0 || strncasecmp(table, "pragma_", 7) == 0 ||
           strcasecmp(table, "dbstat") == 0;
}

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

/* How a schema change is named in a refusal. */
static const char *ddl_name(int action)
{
    switch (action) {
    case SQLITE_CREATE_INDEX: case SQLITE_CREATE_TEMP_INDEX:     return "CREATE INDEX";
    case SQLITE_CREATE_TABLE: case SQLITE_CREATE_TEMP_TABLE:     return "CREATE TABLE";
    case SQLITE_CREATE_TRIGGER: case SQLITE_CREATE_TEMP_TRIGGER: return "CREATE TRIGGER";
    case SQLITE_CREATE_VIEW: case SQLITE_CREATE_TEMP_VIEW:       return "CREATE VIEW";
    case SQLITE_DROP_INDEX: case SQLITE_DROP_TEMP_INDEX:         return "DROP INDEX";
    case SQLITE_DROP_TABLE: case SQLITE_DROP_TEMP_TABLE:         return "DROP TABLE";
    case SQLITE_DROP_TRIGGER: case SQLITE_DROP_TEMP_TRIGGER:     return "DROP TRIGGER";
    case SQLITE_DROP_VIEW: case SQLITE_DROP_TEMP_VIEW:           return "DROP VIEW";
    case SQLITE_ALTER_TABLE:                                     return "ALTER TABLE";
    case SQLITE_CREATE_VTABLE:                                   return "CREATE VIRTUAL TABLE";
    case SQLITE_DROP_VTABLE:                                     return "DROP TABLE";
    case SQLITE_REINDEX:                                         return "REINDEX";
    default:                                                     return "ANALYZE";
    }
}

/* Does this schema change create an object in the temp schema? CREATE TEMP says so in the action;
 * CREATE TABLE temp.x (and an index or virtual table there) only in the schema's name. */
static int creates_temp(int action, const char *dbname)
{
    switch (action) {
    case SQLITE_CREATE_TEMP_INDEX: case SQLITE_CREATE_TEMP_TABLE: case SQLITE_CREATE_TEMP_TRIGGER:
    case SQLITE_CREATE_TEMP_VIEW:
        return 1;
    case SQLITE_CREATE_INDEX: case SQLITE_CREATE_TABLE: case SQLITE_CREATE_TRIGGER: case SQLITE_CREATE_VIEW:
    case SQLITE_CREATE_VTABLE:
        return dbname && strcasecmp(dbname, "temp") == 0;
    default:
        return 0;
    }
}

static int authorize(void *ud, int action, const char *a, const char *b, const char *dbname, const char *trigger)
{
    db_conn *db = ud;
    /* Refused to every role: a client's temporary table or trigger lives on a connection every client
     * shares and outlives its session; one named like a main table then takes the others' writes
     * (acknowledged, and never in the file), or a temp trigger runs on them. */
    if (creates_temp(action, dbname)) {
        snprintf(db->denied, sizeof db->denied, "CREATE TEMP %s is not allowed: temporary objects would stay on a "
                 "connection every client shares, in the way of other clients' statements", ddl_name(action) + 7);
        return SQLITE_DENY;
    }
    switch (action) {
    case SQLITE_READ:
        tables_add(db, &db->prep_reads, a);
        if (a && untracked(a))
            db->prep_flags |= DB_STMT_UNTRACKED;
        /* A PRAGMA as a table (SELECT * FROM pragma_database_list) runs its PRAGMA only when
         * stepped, past this check: judge it here, by the same lists. */
        if (a && strncasecmp(a, "pragma_", 7) == 0 && !in_list(pragma_read_args, a + 7) &&
            !in_list(pragma_read_bare, a + 7)) {
            db->prep_flags |= DB_STMT_ADMIN;
            if (!db->prep_admin[0])
                snprintf(db->prep_admin, sizeof db->prep_admin, "PRAGMA %.40s", a + 7);
        }
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
    case SQLITE_CREATE_TEMP_INDEX: case SQLITE_CREATE_TEMP_TABLE: case SQLITE_CREATE_TEMP_TRIGGER:
    case SQLITE_CREATE_TEMP_VIEW: case SQLITE_DROP_TEMP_INDEX: case SQLITE_DROP_TEMP_TABLE:
    case SQLITE_DROP_TEMP_TRIGGER: case SQLITE_DROP_TEMP_VIEW:
        /* SQLite prepares a statement again when the schema changed under it, inside step: a
         * DROP ... IF EXISTS first prepared with nothing to drop asks only then. */
        if (!db->preparing && db->run_role != ROLE_ADMIN) {
            snprintf(db->denied, sizeof db->denied, "permission denied: %s needs the admin role (this is %s)",
                     ddl_name(action), role_name(db->run_role));
            return SQLITE_DENY;
        }
        db->prep_flags |= DB_STMT_DDL;
        if (!db->prep_admin[0])
            snprintf(db->prep_admin, sizeof db->prep_admin, "%s", ddl_name(action));
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
        if (trigger != NULL)
            return SQLITE_OK;
        if (in_list(pragma_read_args, a) || (b == NULL && in_list(pragma_read_bare, a))) {
            db->prep_flags |= DB_STMT_PRAGMA_READ | DB_STMT_UNTRACKED;
            return SQLITE_OK;
        }
        if (b != NULL || strcasecmp(a, "writable_schema") == 0) {
            if (in_list(pragma_never, a)) {
                snprintf(db->denied, sizeof db->denied,
                         "PRAGMA %s cannot be set: the server's connections depend on it", a);
                return SQLITE_DENY;
            }
            if (in_list(pragma_shared, a)) {
                snprintf(db->denied, sizeof db->denied,
                         "PRAGMA %s cannot be set: it would stay set on a connection every client shares", a);
                return SQLITE_DENY;
            }
        }
        /* Any other PRAGMA, read or set, is the admin's. */
        db->prep_flags |= DB_STMT_ADMIN;
        if (!db->prep_admin[0])
            snprintf(db->prep_admin, sizeof db->prep_admin, "PRAGMA %.40s", a);
        return SQLITE_OK;
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
    if (c->mem_max && thread_heap - c->mem_base > c->mem_max) {
        c->out_of_memory = 1;
        return 1;
    }
    return 0;
}

void db_set_role(db_conn *db, enum role r)
{
    db->run_role = r;
    db->denied[0] = '\0';
}

void db_set_limits(db_conn *db, int ms, int64_t max_memory)
{
    db->deadline_ns = ms > 0 ? mono_ns() + (int64_t)ms * 1000000 : 0;
    db->timed_out = 0;
    db->mem_base = thread_heap;
    db->mem_max = max_memory;
    db->out_of_memory = 0;
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

int db_writer_syncs_wal(const config *cfg)
{
    return cfg->synchronous == CONFIG_SYNC_FULL && cfg->group_commit_max > 1;
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
    c->run_role = ROLE_ADMIN;
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
    /* The writer's commits then only write the WAL: walsync.c syncs it before they are answered. */
    int sync = role == DB_WRITER && db_writer_syncs_wal(cfg) ? CONFIG_SYNC_NORMAL : cfg->synchronous;
    snprintf(sql, sizeof sql, "PRAGMA synchronous=%s", sync_names[sync]);
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
        schema_prime_wal(c->db);
    } else if (pragma(c->db, "PRAGMA query_only=ON", err, errlen) < 0) {
        goto fail;
    }
    sqlite3_set_authorizer(c->db, authorize, c);
    if (sqlfn_install(c->db) != SQLITE_OK) {
        snprintf(err, errlen, "cannot install printf(): %s", sqlite3_errmsg(c->db));
        db_close(c);
        return NULL;
    }
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
    for (int i = 0; i < DB_NMEMO; i++)
        free(s->memo[i]);
    free(s->admin_what);
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

/* Skip whitespace and comments from p; returns where the next token starts. */
static const char *skip_blank(const char *p, const char *end)
{
    for (;;) {
        while (p < end && strchr(" \t\r\n\f", *p))
            p++;
        if (end - p >= 2 && p[0] == '-' && p[1] == '-') {
            while (p < end && *p != '\n')
                p++;
        } else if (end - p >= 2 && p[0] == '/' && p[1] == '*') {
            const char *q = p + 2;
            while (q + 1 < end && !(q[0] == '*' && q[1] == '/'))
                q++;
            p = q + 1 < end ? q + 2 : end;
        } else {
            return p;
        }
    }
}

static int is_word_char(char c) { return c == '_' || (c >= '0' && c <= '9') || ((c | 0x20) >= 'a' && (c | 0x20) <= 'z'); }

/* Does the word kw start at p (case-insensitive, whole word)? */
static int word_at(const char *p, const char *end, const char *kw)
{
    size_t n = strlen(kw);
    return (size_t)(end - p) >= n && strncasecmp(p, kw, n) == 0 && (p + n == end || !is_word_char(p[n]));
}

/* VACUUM is refused to everyone: VACUUM INTO writes a file anywhere the server may write, and a plain
 * VACUUM cannot run inside the transaction every write runs in. SQLite asks no authorizer at
 * prepare time for either, so the statement's first word tells. 1 when refused (denied says why). */
static int refuse_vacuum(db_conn *db, const char *sql, size_t len)
{
    const char *end = sql + len, *p = skip_blank(sql, end);
    if (!word_at(p, end, "VACUUM"))
        return 0;
    int into = 0;
    for (p += 6; p < end && !into; p++)
        into = !is_word_char(p[-1]) && word_at(p, end, "INTO");
    snprintf(db->denied, sizeof db->denied, into ? "VACUUM INTO is not allowed (it writes a file): use BACKUP <name>"
             : "VACUUM is not allowed while serving: every write runs inside the writer's transaction");
    db->refused = 1;
    return 1;
}

/* Prepare the first statement of sql[0..len) with the authorizer collecting into db's scratch lists. */
static int collect(db_conn *db, const char *sql, size_t len, sqlite3_stmt **st, const char **tail)
{
    db->prep_flags = 0;
    db->denied[0] = '\0';
    db->refused = 0;
    db->prep_admin[0] = '\0';
    tables_clear(&db->prep_reads);
    tables_clear(&db->prep_writes);
    *st = NULL;
    *tail = NULL;
    if (len > (size_t)INT32_MAX)
        return SQLITE_TOOBIG;
    db->preparing = 1;
    int rc = sqlite3_prepare_v3(db->db, sql, (int)len, SQLITE_PREPARE_PERSISTENT, st, tail);
    db->preparing = 0;
    /* A refused CREATE asks SQLite to check the schema, and a reader whose copy is stale then
     * answers SQLITE_SCHEMA (every time: the refusal comes before the schema is read again). */
    if (rc != SQLITE_OK && db->denied[0]) {
        db->refused = 1;
        rc = SQLITE_AUTH;
    }
    return rc;
}

/* Give s what the authorizer collected for st, its new SQLite statement. */
static void adopt(db_conn *db, db_stmt *s, sqlite3_stmt *st)
{
    s->st = st;
    s->db = db;
    s->reprepares = st ? sqlite3_stmt_status(st, SQLITE_STMTSTATUS_REPREPARE, 0) : 0;
    s->flags = db->prep_flags;
    if (db->prep_admin[0] && !(s->admin_what = strdup(db->prep_admin)))
        s->flags |= DB_STMT_ADMIN | DB_STMT_MANY; /* fail closed: admin only, never cached */
    /* The authorizer sees the explained statement's tables, as if it ran: only SQLite knows it will not. */
    if (st && sqlite3_stmt_isexplain(st))
        s->flags |= DB_STMT_EXPLAIN;
    /* Hand the collected names over to the statement; the scratch is then empty, as db_stmt_done
     * expects it of a run's start. */
    s->reads = db->prep_reads;
    s->writes = db->prep_writes;
    db->prep_reads.n = 0;
    db->prep_writes.n = 0;
    db->prep_flags = 0;
    db->prep_admin[0] = '\0';
}

/* SQLite prepared s again inside a step since its flags and tables were collected (the schema
 * changed: a view redefined, a trigger added, a table dropped): what it reads, writes and calls
 * may differ now. */
static int stale(const db_stmt *s)
{
    return s->st && sqlite3_stmt_status(s->st, SQLITE_STMTSTATUS_REPREPARE, 0) != s->reprepares;
}

/* Prepare a stale statement anew so the authorizer sees it whole again; what the layers above
 * memoized from the old one goes too. On failure s stays stale and the caller gets the error. */
static int refresh(db_conn *db, db_stmt *s)
{
    sqlite3_stmt *st;
    const char *tail;
    int rc = collect(db, s->key, s->used, &st, &tail);
    if (rc != SQLITE_OK || !st) {
        sqlite3_finalize(st);
        return rc != SQLITE_OK ? rc : SQLITE_SCHEMA;
    }
    sqlite3_finalize(s->st);
    tables_clear(&s->reads);
    tables_clear(&s->writes);
    free(s->admin_what);
    s->admin_what = NULL;
    for (int i = 0; i < DB_NMEMO; i++) {
        free(s->memo[i]);
        s->memo[i] = NULL;
    }
    adopt(db, s, st);
    return SQLITE_OK;
}

/* A statement found in the cache, made current if the schema changed under it. The scratch lists
 * are emptied for the run to come: if SQLite prepares the statement again inside it, they hold
 * what the authorizer saw then, for db_stmt_done. */
static int reuse(db_conn *db, db_stmt *s, db_stmt **out, size_t *used)
{
    int rc = stale(s) ? refresh(db, s) : SQLITE_OK;
    if (rc != SQLITE_OK)
        return rc;
    db->prep_flags = 0;
    db->prep_admin[0] = '\0';
    tables_clear(&db->prep_reads);
    tables_clear(&db->prep_writes);
    *out = s->st ? s : NULL;
    *used = s->used;
    return SQLITE_OK;
}

int db_prepare(db_conn *db, const char *sql, size_t len, db_stmt **out, size_t *used)
{
    db_stmt *s = db->last;
    /* The same text again, as when a cache miss's analysis is followed by its run: no hashing. */
    if (s && s->keylen == len && memcmp(s->key, sql, len) == 0)
        return reuse(db, s, out, used);
    HASH_FIND(hh, db->stmts, sql, len, s);
    if (s) {
        db->last = s;
        /* Move to the most-recently-used end, with the hash it already has: hashing the text
         * again was a visible share of the writer's time (three statements a write). */
        unsigned hv = s->hh.hashv;
        HASH_DEL(db->stmts, s);
        HASH_ADD_KEYPTR_BYHASHVALUE(hh, db->stmts, s->key, s->keylen, hv, s);
        return reuse(db, s, out, used);
    }
    sqlite3_stmt *st;
    const char *tail;
    int rc = collect(db, sql, len, &st, &tail);
    if (rc != SQLITE_OK)
        return rc;
    if (st && refuse_vacuum(db, sql, tail ? (size_t)(tail - sql) : len)) {
        sqlite3_finalize(st);
        return SQLITE_AUTH;
    }
    s = calloc(1, sizeof *s);
    char *key = malloc(len ? len : 1);
    if (!s || !key) {
        free(s);
        free(key);
        sqlite3_finalize(st);
        return SQLITE_NOMEM;
    }
    memcpy(key, sql, len);
    adopt(db, s, st);
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
        if (old == db->last)
            db->last = NULL;
        stmt_free(old);
    }
    db->last = s;
    *out = st ? s : NULL;
    *used = s->used;
    return SQLITE_OK;
}

const char *db_stmt_refusal(db_stmt *s, enum role r, char *msg, size_t msglen)
{
    if (r == ROLE_ADMIN)
        return NULL;
    if (s->flags & (DB_STMT_DDL | DB_STMT_ADMIN)) {
        snprintf(msg, msglen, "permission denied: %s needs the admin role (this is %s)",
                 s->admin_what ? s->admin_what : "this statement", role_name(r));
        return msg;
    }
    /* SQLite calls some PRAGMAs writers even bare (journal_mode): the allow list knows better. */
    if (r == ROLE_READONLY && !sqlite3_stmt_readonly(s->st) && !(s->flags & DB_STMT_PRAGMA_READ)) {
        if (s->writes.n > 0)
            snprintf(msg, msglen, "permission denied for table %s: role readonly may only read", s->writes.names[0]);
        else
            snprintf(msg, msglen, "permission denied: role readonly may only read");
        return msg;
    }
    return NULL;
}

static int same_tables(const db_tables *a, const db_tables *b)
{
    if (a->n != b->n)
        return 0;
    for (int i = 0; i < a->n; i++)
        if (strcmp(a->names[i], b->names[i]) != 0)
            return 0;
    return 1;
}

/* Did the authorizer, while SQLite prepared s again during its run, see what it saw before? Most
 * schema changes leave a statement as it was (another table's), and SQLite also prepares one
 * again when a binding it planned for changes (LIKE ?): then s is current as it stands. */
static int unchanged(const db_conn *db, const db_stmt *s)
{
    return db->prep_flags == (s->flags & ~(unsigned)DB_STMT_EXPLAIN) &&
           strcmp(db->prep_admin, s->admin_what ? s->admin_what : "") == 0 &&
           same_tables(&db->prep_reads, &s->reads) && same_tables(&db->prep_writes, &s->writes);
}

void db_stmt_done(db_stmt *s)
{
    if (stale(s)) {
        if (unchanged(s->db, s))
            s->reprepares = sqlite3_stmt_status(s->st, SQLITE_STMTSTATUS_REPREPARE, 0);
        else
            s->db->reprepared++;
    }
    sqlite3_reset(s->st);
    sqlite3_clear_bindings(s->st);
}

unsigned long db_reprepares(db_conn *db) { return db->reprepared; }
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

void **db_stmt_memo(db_stmt *s, enum db_memo which) { return &s->memo[which]; }

const char *db_errmsg(db_conn *db)
{
    if (db->timed_out && (sqlite3_errcode(db->db) & 0xff) == SQLITE_INTERRUPT)
        return "canceling statement due to statement timeout";
    if (db->out_of_memory && (sqlite3_errcode(db->db) & 0xff) == SQLITE_INTERRUPT)
        return "canceling statement: it used more memory than max_statement_memory";
    if (db->denied[0] && (db->refused || sqlite3_errcode(db->db) == SQLITE_AUTH))
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
    if (db && db->out_of_memory && (rc & 0xff) == SQLITE_INTERRUPT)
        return "53200";
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
        /* load_extension() switched off; sqlite_master under SQLITE_DBCONFIG_DEFENSIVE */
        if (starts(msg, "not authorized") || strstr(msg, "may not be modified")) return "42501";
        if (strstr(msg, "ambiguous column name")) return "42702";
        if (starts(msg, "no such savepoint")) return "3B001";
        return "42000";
    }
    return "XX000";
}
