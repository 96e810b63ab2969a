/* pgstmt.h - whole-statement forms of the PostgreSQL dialect (SET, SHOW, BEGIN, COPY, TRUNCATE, DROP lists, VACUUM, ALTER TABLE ADD PRIMARY KEY, ...), recognised by their leading keywords; pure. */
#ifndef LC_PGSTMT_H
#define LC_PGSTMT_H

#include "buf.h"
#include "pglex.h"
#include "pgsql.h"

/* Look at significant tokens [0, ns) of lx (one statement, trailing semicolons excluded). Returns
 * 1 when it is a whole-statement form and r is filled (maybe with PGSQL_ERROR), 0 when the
 * statement is ordinary SQL for the expression translator. */
int pgstmt_translate(const pglex *lx, long ns, pgsql_result *r);

/* Put r into PGSQL_ERROR with a SQLSTATE and message; returns -1. */
int pgstmt_error(pgsql_result *r, const char *sqlstate, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Append the (possibly qualified) table name at token k to out as SQL text, dropping a "public."
 * schema; system catalogs are refused (0A000). Returns its last token, or -1 with r's error set. */
long pgstmt_name(const pglex *lx, long k, buf *out, pgsql_result *r);

#endif
