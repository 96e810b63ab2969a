/* pgcall.h - CALL name(args) for PostgreSQL clients: the statement parsed into a named query of the catalog and its arguments (literals or $n), so that it reaches the same cache entries as the line protocol's CALL. */
#ifndef LC_PGCALL_H
#define LC_PGCALL_H

#include <stddef.h>

#include "buf.h"
#include "catalog.h"
#include "lineproto.h"

/* Does the statement start with the keyword CALL? */
int pgcall_is(const char *sql, size_t len);

/* Parse "CALL name(arg, ...)" (PostgreSQL folds an unquoted name: found exactly, else ignoring
 * case). Literal arguments go to args as the line protocol would type them (integers, reals,
 * NULL, TRUE/FALSE as 1/0, 'text' unescaped into scratch, which is reset and must not be appended
 * to while args are in use); a $n argument sets params[i] = n (0 for a literal). A ::type cast
 * after an argument is ignored. Returns 0 with *entry and *nargs, or -1 with a SQLSTATE (42601
 * syntax, 42883 unknown query, 22023 wrong argument count, 54023 over max) and a message. */
int pgcall_parse(const catalog *cat, const char *sql, size_t len, lp_arg *args, int *params, int max,
                 buf *scratch, const catalog_entry **entry, int *nargs, const char **state, char *msg,
                 size_t msglen);

#endif
