/* schema.h - the SQL files of schema/, compiled into the binary and applied idempotently at start-up. */
#ifndef LC_SCHEMA_H
#define LC_SCHEMA_H

#include <sqlite3.h>
#include <stddef.h>

/* The schema version this binary brings (PRAGMA user_version after schema_apply). */
int schema_version(void);

/* Create or migrate the main database in one transaction, keyed on PRAGMA user_version:
 * a new file gets everything, an older version gets the migrations after it, the current version
 * is left alone, and a newer version is refused. Returns 0, or -1 with a message in err. */
int schema_apply(sqlite3 *db, char *err, size_t errlen);

/* schema_apply, stopping at version `version` (0..schema_version()); tests use it to build an older
 * database and migrate it. A database already past `version` is refused like a newer one. */
int schema_apply_to(sqlite3 *db, int version, char *err, size_t errlen);
/* Give an empty WAL one commit (user_version rewritten with its own value), so that reads need no
 * fstat each to learn the file's size. Best effort, after schema_apply. */
void schema_prime_wal(sqlite3 *db);

/* The shipped named queries (schema/queries.sql), NUL-terminated. */
const char *schema_queries_text(size_t *len);

#endif
