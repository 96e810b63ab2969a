/* pgsql.h - the PostgreSQL-to-SQLite dialect translator: rewrites PostgreSQL SQL text outside quotes and comments, and recognises session-level statements; pure. */
#ifndef LC_PGSQL_H
#define LC_PGSQL_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "pglex.h"

/* What the translator may need to know about the session. */
typedef struct pgsql_ctx {
    const char *user;       /* current_user, session_user, user */
    const char *database;   /* current_database(), current_catalog */
    int32_t     pid;        /* pg_backend_pid() */
    const char *version;    /* version(); NULL: "PostgreSQL 15.0 (litecached)" */
} pgsql_ctx;

typedef enum {
    PGSQL_SQL,             /* run sql: nstmts statements separated by "; " */
    PGSQL_EMPTY,           /* only whitespace and comments: EmptyQueryResponse */
    PGSQL_NOOP,            /* nothing to run (VACUUM without ANALYZE, LOCK, CHECKPOINT, ADD FOREIGN KEY):
                            * just the CommandComplete tag, and the notice if set */
    PGSQL_SET,             /* SET name = value (local: SET LOCAL) */
    PGSQL_RESET,           /* RESET name, or SET name TO DEFAULT; name "all" for RESET ALL */
    PGSQL_SHOW,            /* SHOW name; "all" for SHOW ALL */
    PGSQL_BEGIN,           /* sql is "BEGIN" (isolation levels and access modes dropped) */
    PGSQL_COMMIT,          /* sql is "COMMIT" (also END) */
    PGSQL_ROLLBACK,        /* sql is "ROLLBACK" (also ABORT); ROLLBACK TO is PGSQL_SQL */
    PGSQL_COPY_FROM_STDIN, /* name = table, columns, copy_* options */
    PGSQL_DEALLOCATE,      /* DEALLOCATE [PREPARE] name; "all" */
    PGSQL_DISCARD,         /* DISCARD ALL/PLANS/SEQUENCES/TEMP: name */
    PGSQL_ERROR,           /* sqlstate + message for an ErrorResponse */
} pgsql_action;

#define PGSQL_MAX_COPY_COLS 256

typedef struct pgsql_result {
    pgsql_action action;
    buf          sql;        /* translated SQL, NUL-terminated (sql.len excludes the NUL) */
    int          nstmts;     /* statements in sql */
    int          nparams;    /* highest $n seen (0: none) */
    char         name[128];  /* SET/RESET/SHOW/DEALLOCATE/DISCARD: lower-cased name;
                              * COPY: the table as SQL text (quoted if it was, "public." dropped) */
    buf          value;      /* SET: the value, NUL-terminated, quotes removed, list items joined by ", " */
    int          local;      /* SET LOCAL */
    /* COPY FROM STDIN */
    int          ncols;                          /* 0: all columns, in table order */
    const char  *cols[PGSQL_MAX_COPY_COLS];      /* as SQL text; point into colbuf */
    buf          colbuf;
    char         copy_format;                    /* 't' text, 'c' csv */
    char         copy_delim;                     /* '\t' (text) or ',' (csv) unless given */
    char         copy_quote;                     /* csv: '"' unless given */
    char         copy_null[16];                  /* "\\N" (text) or "" (csv) unless given */
    int          copy_header;                    /* csv HEADER: skip the first line */
    /* PGSQL_ERROR */
    char         sqlstate[6];
    char         message[256];
    /* optional NOTICE to send before CommandComplete (static text) */
    const char  *notice;
} pgsql_result;

void pgsql_result_init(pgsql_result *r);
void pgsql_result_free(pgsql_result *r);

/* Translate one statement (trailing semicolons allowed; a second statement is an error 42601, as
 * for PostgreSQL's Parse). Returns 0, or -1 with action PGSQL_ERROR. r is reset first, so one
 * result can be reused across calls. Input longer than PGSQL_MAX_INPUT is refused (54000). */
#define PGSQL_MAX_INPUT ((size_t)16 << 20)
int pgsql_translate(const char *sql, size_t len, const pgsql_ctx *ctx, pgsql_result *r);

/* For a PGSQL_COPY_FROM_STDIN result: "INSERT INTO <table> [(<cols>)] VALUES (?1, ..., ?n)"
 * appended to out; ncols is the table's column count, used when no column list was given. */
void pgsql_copy_insert(const pgsql_result *r, int ncols, buf *out);

/* A statement's place in a query string: { size_t off, len; }. */
typedef pglex_span pgsql_span;

/* Split a simple-Query string into statements at top-level semicolons (never inside quotes,
 * dollar quotes, quoted identifiers or comments). Statements holding only whitespace and comments
 * are left out; a span runs from the statement's first token to the end of its last one. Writes
 * up to max spans and returns how many there are (which may exceed max). */
size_t pgsql_split(const char *sql, size_t len, pgsql_span *out, size_t max);

#endif
