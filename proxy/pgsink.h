/* pgsink.h - results in the PostgreSQL protocol: a query_sink writing RowDescription, DataRow, CommandComplete and ErrorResponse, and the pure helpers that reshape that output for Describe, Execute and binary formats. */
#ifndef LC_PGSINK_H
#define LC_PGSINK_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "query.h"

/* What the sink knows about one statement of a run (a job may run several, in order). */
typedef struct pgsink_stmt {
    const char *orig;     /* the statement as the client wrote it: its tag, and error positions */
    size_t      orig_len;
    const char *ran;      /* the SQL that ran (translated): offsets are mapped back when it agrees with orig */
    size_t      ran_len;
    int         pos_base; /* characters of the client's query string before orig */
    const char *tag;      /* a fixed CommandComplete tag, or NULL to derive it from orig */
    const char *tag_prefix; /* or, worked out once (pgsink_tag_template): the tag up to its count */
    int         tag_count;  /* what follows tag_prefix: 0 nothing, 1 rows, 2 changes */
} pgsink_stmt;

/* Public because it lives on the caller's stack or inside a job (no allocation per read); the
 * fields under "private" are the sink's own. */
typedef struct pgsink {
    query_sink         k;         /* hand &k to query_run / rcache_read / writer_job.sink */
    int                rows_only; /* only RowDescription + DataRows (the cache's form): done and error write nothing */
    int                quiet;     /* only errors (COPY's inserts) */
    int                restartable; /* a writer job's: output that starts again at 0 means the writer
                                     * runs the job again from its first item (group commit fallback) */
    void             **memo;      /* NULL, or the db_stmt_memo slot of the one statement that runs: its
                                   * RowDescription is kept there and reused while SQLite has not
                                   * re-prepared it (a cache fill encodes every miss twice) */
    const pgsink_stmt *stmts;     /* the statements, in run order; done() or error() moves to the next */
    int                nstmts;
    int                cur;
    /* set by the run */
    int                failed;    /* error() ran */
    size_t             err_end;   /* out->len just after the ErrorResponse */
    /* private */
    uint32_t          *oids;
    int                ncols, cap;
    int                open;      /* a RowDescription went out; its CommandComplete did not yet */
    int                split;     /* a run with several result sets: each got its own CommandComplete */
    int64_t            set_rows;
} pgsink;

void pgsink_init(pgsink *s);
void pgsink_free(pgsink *s);
/* Before a run: these statements, starting with the first. */
void pgsink_start(pgsink *s, const pgsink_stmt *stmts, int n);

/* The type of result column i: the declared type when it maps to one, else the first row's value
 * type (the caller has stepped once). The same rule as RowDescription uses. */
uint32_t pgsink_column_oid(sqlite3_stmt *st, int i);
/* A RowDescription from a prepared (unstepped) statement: declared types, else text. For
 * Describe of a statement, before any row exists. */
void pgsink_rowdesc_of(sqlite3_stmt *st, buf *out);

/* ---- reshaping the sink's output (pure) ------------------------------------------------- */

/* The CommandComplete tag of statement sql with its count left out, so that a statement run many
 * times is not lexed each time: "SELECT " (returns 1: rows follow), "UPDATE " (2: changes follow),
 * or a whole tag such as "CREATE TABLE" (0). prefix needs 64 bytes. */
int pgsink_tag_template(const char *sql, char *prefix, size_t len);

/* The message at p[0..n): its type byte and total size (header included); 0 when incomplete. */
size_t pgsink_msg(const char *p, size_t n, char *type);
/* Number of fields of a RowDescription message t[0..n) and their type OIDs (up to max); -1 when
 * malformed. */
int pgsink_rowdesc_oids(const char *t, size_t n, uint32_t *oids, int max);
/* Copy RowDescription t[0..n) to out with each column's format code set by the Bind rule (0, 1 or
 * n codes). Returns 0, or -1 when nfmts is neither 0, 1 nor the column count. */
int pgsink_rowdesc_with_formats(const char *t, size_t n, const int16_t *fmts, int nfmts, buf *out);
/* Copy DataRow d[0..n) (text fields) to out, converting the columns asked in binary from their
 * text form per oid. Returns 0, or -1 with *state and err (the value does not convert). */
int pgsink_datarow_binary(const char *d, size_t n, const uint32_t *oids, int ncols, const int16_t *fmts,
                          int nfmts, buf *out, const char **state, char *err, size_t errlen);
/* The 1-based character position in the client's text for an SQLite error offset in ran, or 0
 * when it cannot be mapped (ran and orig differ before it). */
int pgsink_position(const pgsink_stmt *st, int offset);

#endif
