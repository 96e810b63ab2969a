/* applier.h - applies session changesets to a copy of their database with statements prepared once per table, not once per changeset. */
#ifndef LC_APPLIER_H
#define LC_APPLIER_H

#include <sqlite3.h>

typedef struct applier applier;

/* On db (which the caller keeps open longer). NULL when out of memory. */
applier *applier_new(sqlite3 *db);
void     applier_free(applier *a);
/* The schema changed (the copy was made again): forget every prepared statement. */
void     applier_reset(applier *a);

/* Apply a changeset inside the caller's transaction. A change that does not land exactly (an insert
 * whose row exists, an update or delete whose row is missing, a table whose shape differs) stops
 * it: SQLITE_ABORT, and the copy is no longer an exact one. Old values are not compared (the
 * caller checks the copy by other means). Returns a SQLite code. */
int      applier_apply(applier *a, int n, void *changeset);

#endif
