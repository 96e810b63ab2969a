/* sqlfn.h - SQL functions litecached puts in place of SQLite's own: printf() and format() with bounded work. */
#ifndef LC_SQLFN_H
#define LC_SQLFN_H

#include <sqlite3.h>

/* Replace printf() and format() on db. SQLite 3.40's own spends a loop step per character of a
 * %c precision even after the result has outgrown SQLITE_LIMIT_LENGTH (printf('%.*c', 2000000000,
 * 'x') keeps a thread busy for 18 s, out of statement_timeout's reach, since no bytecode runs).
 * These give the same text for every format SQLite's do (tests/unit/test_sqlfn.c compares them),
 * repeat %c by doubling, and fail with SQLITE_TOOBIG (54000) at once when a width or precision
 * alone passes the length limit. The one difference: a result past SQLITE_LIMIT_LENGTH is that
 * error, where SQLite's quietly returns NULL. Returns a SQLite result code. */
int sqlfn_install(sqlite3 *db);

#endif
