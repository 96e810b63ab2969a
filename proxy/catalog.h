/* catalog.h - the named queries the server knows, each with its parameter plan, ready for CALL. */
#ifndef LC_CATALOG_H
#define LC_CATALOG_H

#include "db.h"
#include "named.h"
#include "query.h"

typedef struct catalog catalog;

typedef struct catalog_entry {
    const nq_query   *q;
    query_plan       *plan;
    int               readonly; /* every statement only reads: runs on a worker, not the writer */
} catalog_entry;

/* Load the shipped queries and every file of the comma-separated list, and plan each on db.
 * Returns NULL with "file:line: name: problem" in err. Read-only once built: shared by all threads. */
catalog *catalog_build(db_conn *db, const char *extra_files, char *err, size_t errlen);
void     catalog_free(catalog *cat);
const catalog_entry *catalog_find(const catalog *cat, const char *name, size_t len);
size_t   catalog_count(const catalog *cat);
const catalog_entry *catalog_at(const catalog *cat, size_t i);

#endif
