/* query.h - runs request bodies on a database connection: parameter plans, one item, a batch of items, line-protocol replies. */
#ifndef LC_QUERY_H
#define LC_QUERY_H

#include <stdint.h>

#include "buf.h"
#include "db.h"
#include "lineproto.h"

/* How positional CALL arguments reach the parameters of each statement of a body: named parameters
 * (:x @x $x) are distinct by name in order of first appearance, every anonymous ? is a new one. */
typedef struct query_plan query_plan;

/* Prepare every statement of sql[0..len) on db and build its plan. *readonly says whether all of
 * them only read. Returns NULL with err set (the SQLite problem, or transaction control in a body). */
query_plan *query_plan_build(db_conn *db, const char *sql, size_t len, int *readonly, char *err, size_t errlen);
/* The same, with the failure's SQLSTATE in state (6 bytes), mapped as a statement's run would map
 * it (42P01 no such table, 42703 no such column, 42501 refused, 42601 the rest of SQL's errors). */
query_plan *query_plan_build_ex(db_conn *db, const char *sql, size_t len, int *readonly, char *err, size_t errlen,
                                char *state);
void        query_plan_free(query_plan *p);
int         query_plan_nparams(const query_plan *p);
int         query_plan_nstmts(const query_plan *p);
/* "id, email" style list of parameter names for error messages. */
void        query_plan_describe(const query_plan *p, buf *out);

/* What the statements of a body touch, from the authorizer at prepare time. */
typedef struct query_analysis {
    unsigned    flags;                      /* OR of enum db_stmt_flag over the statements */
    int         nreads, nwrites;
    const char *reads[DB_STMT_MAX_TABLES];  /* valid until the next prepare on the connection */
    const char *writes[DB_STMT_MAX_TABLES];
    db_stmt    *one;                        /* the statement when there is only one; else NULL */
} query_analysis;

/* Walk the statements of sql[0..len) through db's statement cache and collect what they touch.
 * More than DB_STMT_MAX_TABLES tables in all sets DB_STMT_MANY. Returns a SQLite result code. */
int query_analyze(db_conn *db, const char *sql, size_t len, query_analysis *out);

/* One unit of work: a body with its arguments, or a reply decided before running. */
typedef struct query_item {
    const char       *sql;       /* one or more statements */
    size_t            len;
    const query_plan *plan;      /* NULL: a plain line, one statement, no parameters allowed */
    const lp_arg     *args;
    int               nargs;
    const char       *name;      /* named query, for messages; NULL for plain SQL */
    const char       *literal;   /* when set, the whole reply (e.g. "+PONG\n"): nothing runs */
    const char       *err_state; /* when set, the item fails with this SQLSTATE and err_msg */
    const char       *err_msg;
    int               ttl;       /* cache TTL from a named query's attributes; 0 when not given */
    int               nocache;   /* a named query marked nocache */
} query_item;

typedef struct query_limits {
    int64_t   max_result_bytes; /* also SQLite's length limit: no string or blob may be larger */
    int       timeout_ms;       /* statement_timeout: 0 = none */
    int64_t   max_result_rows;  /* 0 = none */
    int64_t   max_memory;       /* max_statement_memory: heap one statement may add; 0 = none */
    enum role role;             /* who asks: a statement beyond it fails with 42501 before it runs */
} query_limits;

/* The limits the settings put on a client of role r now (they may change on reload). */
query_limits query_limits_for(const config *cfg, enum role r);

/* What a body did, for its status. */
typedef struct query_outcome {
    int         wrote;      /* some statement was not read-only */
    int64_t     rows;       /* rows returned, all statements together */
    int64_t     changes;    /* rows changed by the statements themselves (not by triggers) */
    int64_t     last_id;    /* rowid of the last row this body inserted; 0 when none */
    double      ms;
    const char *extra;      /* more "key=value" text for the status, or NULL */
    int64_t     hit_age;    /* served from the cache: its age in seconds; -1 otherwise */
} query_outcome;

/* How results are written: the line protocol's encoders, or another protocol's. Every callback
 * appends to out. */
typedef struct query_sink query_sink;
struct query_sink {
    /* Once per statement that has columns, before its first row (also when it has none). */
    void (*columns)(const query_sink *k, sqlite3_stmt *st, int ncols, buf *out);
    void (*row)(const query_sink *k, sqlite3_stmt *st, int ncols, buf *out);
    /* After each statement (may be NULL). */
    void (*stmt_done)(const query_sink *k, sqlite3_stmt *st, int64_t rows, int64_t changes, buf *out);
    /* After the whole body: its status. */
    void (*done)(const query_sink *k, const query_outcome *o, buf *out);
    /* A failure: the one error reply. offset is where in the SQL SQLite saw it, or -1. */
    void (*error)(const query_sink *k, const char *state, const char *msg, int offset, buf *out);
    void *ud;
};

/* The line protocol's sinks. */
const query_sink *query_line_sink(lp_format fmt);

/* What query_run reports about a successful run, for the cache. */
typedef struct query_info {
    size_t  data_len;  /* bytes of data lines (result sets) before the status line */
    int64_t rows;
    double  ms;
} query_info;

/* Run one item, appending its whole reply (result sets, then its status) to out through sink.
 * Returns 0, or -1 when it failed: its reply is then exactly the sink's one error and, when state
 * is not NULL, the SQLSTATE is copied there (6 bytes). The caller owns transaction boundaries. */
int query_run(db_conn *db, const query_item *it, const query_sink *sink, const query_limits *lim, buf *out,
              char *state);
/* The same, with extra "key=value" text for the status (e.g. " cache=miss") and a report. Every
 * body that runs is timed into the latency histogram and, past slow_query_ms, logged. */
int query_run_ex(db_conn *db, const query_item *it, const query_sink *sink, const query_limits *lim, buf *out,
                 char *state, const char *status_extra, query_info *info);

/* The slow-query log: every body that runs for at least ms milliseconds (-1: none, 0: all) is
 * logged at WARN with its time, rows, cache use and SQL; argument values and SQL literals show as
 * ? unless with_params. Any thread; the server calls it at start-up and on reload. */
void query_set_slow_log(int ms, int with_params);
/* Append sql[0..len) on one line for a log: comments dropped, whitespace collapsed, and string,
 * number and blob literals replaced by ? unless literals is set. */
void query_sql_for_log(const char *sql, size_t len, int literals, buf *out);

/* How a batch runs one item: like query_run (0, or -1 with one -ERR line and the SQLSTATE), or
 * QUERY_BATCH_STOP: the reply cannot be delivered (its client was dropped), answer nothing more. */
typedef int (*query_runner)(void *ud, const query_item *it, buf *out, char *state);
#define QUERY_BATCH_STOP (-2)

/* Run items in order through run, each with its reply; after the first failure the rest are
 * answered "-ERR 25P02 batch aborted" without running. Returns the index of the failed item, -1,
 * or QUERY_BATCH_STOP when run said so. */
int query_run_batch(const query_item *items, int n, query_runner run, void *ud, buf *out, char *state);

/* The BATCH's final status line: "+OK batch <n>" or "-ERR <state> batch failed at line <k>". */
void query_put_batch_status(buf *out, int n, int failed, const char *state);

#endif
