/* db.h - a connection to the main database: pragmas, a statement LRU, the sandbox authorizer, SQLSTATE mapping. */
#ifndef LC_DB_H
#define LC_DB_H

#include <sqlite3.h>
#include <stddef.h>

#include "config.h"
#include "role.h"

typedef struct db_conn db_conn;
typedef struct db_stmt db_stmt;

enum db_role { DB_READER, DB_WRITER, DB_REPLICA };

/* What the authorizer saw while a statement was prepared. */
enum db_stmt_flag {
    DB_STMT_TXN    = 1 << 0, /* BEGIN / COMMIT / ROLLBACK / SAVEPOINT / RELEASE */
    DB_STMT_NONDET = 1 << 1, /* calls random(), datetime(), changes(), …: its result is not cacheable */
    DB_STMT_DDL    = 1 << 2, /* changes the schema */
    DB_STMT_MANY   = 1 << 3, /* touches more tables than DB_STMT_MAX_TABLES */
    DB_STMT_EXPLAIN = 1 << 4, /* EXPLAIN or EXPLAIN QUERY PLAN: describes a plan, reads no rows */
    DB_STMT_ADMIN  = 1 << 5, /* a PRAGMA off the read-only allow list: the admin's, never cached */
    DB_STMT_PRAGMA_READ = 1 << 6, /* a PRAGMA on that list: it only reads, whatever SQLite says */
    DB_STMT_UNTRACKED = 1 << 7, /* reads what no table version covers (sqlite_sequence, a PRAGMA's
                                 * answer, dbstat): never cached */
};

#define DB_STMT_MAX_TABLES 32

/* Open the database file with the configured pragmas. A writer also applies the schema (WAL mode,
 * then schema_apply); readers are query_only. Returns NULL with a message in err. */
db_conn *db_open(const config *cfg, enum db_role role, char *err, size_t errlen);
/* The same at another path: DB_REPLICA opens a URI (the in-memory replica) as a reader, its pages mapped. */
db_conn *db_open_at(const config *cfg, const char *path, enum db_role role, char *err, size_t errlen);
void     db_close(db_conn *db);
/* synchronous = full with group commit: the writer's connection commits at normal and the writer
 * syncs the WAL itself, once for many commits (walsync.h). */
int      db_writer_syncs_wal(const config *cfg);
sqlite3 *db_handle(db_conn *db);
/* A file reader's companion connection to the in-memory replica, or NULL (the caller owns both). */
void     db_set_peer(db_conn *db, db_conn *peer);
db_conn *db_peer(db_conn *db);

/* Prepare the first statement of sql[0..len) through the LRU cache (keyed on those exact bytes).
 * *used is set to the bytes it spans, so a caller walks a multi-statement body. *out is NULL for a
 * body that is only whitespace or comments. Returns a SQLite result code; on error db_errmsg tells. */
int db_prepare(db_conn *db, const char *sql, size_t len, db_stmt **out, size_t *used);
/* Reset a statement after use so it holds no snapshot and no bindings. */
void db_stmt_done(db_stmt *s);
/* How many runs (ended with db_stmt_done) found that SQLite had prepared their statement again
 * because the schema changed: the flags and tables read before such a run described another
 * statement. A caller that acts on them after the run (stores a result under them, invalidates
 * by them) compares this count across the run. The next db_prepare of the text collects them anew. */
unsigned long db_reprepares(db_conn *db);
sqlite3_stmt *db_stmt_handle(db_stmt *s);
unsigned      db_stmt_flags(db_stmt *s);
/* Tables the statement reads (through views, subqueries, CTEs) or writes (triggers and foreign-key
 * cascades included), as the authorizer saw them when db_prepare last returned it. Names live until
 * the next db_prepare on the connection. */
int           db_stmt_reads(db_stmt *s, const char *const **names);
int           db_stmt_writes(db_stmt *s, const char *const **names);
/* May role r run the statement? NULL when it may; else the 42501 message, written into msg.
 * Checked at each run, not at prepare: one cached statement serves clients of every role. */
const char   *db_stmt_refusal(db_stmt *s, enum role r, char *msg, size_t msglen);
/* Slots for the layers above to memoize what they derive from the statement, one each; freed with
 * free() when the statement leaves the cache or is prepared anew after a schema change. */
enum db_memo { DB_MEMO_COLUMNS, DB_MEMO_TABLES, DB_NMEMO };
void        **db_stmt_memo(db_stmt *s, enum db_memo which);

/* The message of the last failure on this connection (ours when the authorizer refused). */
const char *db_errmsg(db_conn *db);
/* The SQLSTATE for a SQLite result code and the connection's last message. */
const char *db_sqlstate(db_conn *db, int rc);

/* Who runs the statements from now on: a schema change SQLite finds only while a statement runs
 * (it prepares it again) is refused below admin. The server's own work runs as admin. */
void db_set_role(db_conn *db, enum role r);

/* Give the statements run from now on until ms milliseconds from now (0: no limit); past it
 * SQLite stops them with SQLITE_INTERRUPT, which db_sqlstate reports as 57014. They may also
 * take max_memory more bytes of heap on this thread (0: no limit; see db_memory_init); past
 * that they stop the same way, reported as 53200. */
void db_set_limits(db_conn *db, int ms, int64_t max_memory);

/* Route SQLite's allocations through an allocator that counts, per thread, what they hold, so
 * db_set_limits can stop one runaway statement (a sort of an endless CTE) before it takes the
 * machine's memory. Call once, before any other SQLite call; without it memory is not limited. */
int db_memory_init(void);

/* Run SQL with no result wanted (BEGIN, COMMIT, ...). Returns a SQLite result code. */
int db_exec(db_conn *db, const char *sql);

#endif
