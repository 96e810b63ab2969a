/* rcache.h - reads through the result cache (keys, policy, fills) and the writer's side of invalidation. */
#ifndef LC_RCACHE_H
#define LC_RCACHE_H

#include "buf.h"
#include "cache.h"
#include "config.h"
#include "db.h"
#include "query.h"

typedef struct rcache rcache;

/* The cache and its watch on db_path; call after the writer has opened the database. */
rcache *rcache_new(const config *cfg, char *err, size_t errlen);
void    rcache_free(rcache *rc);
cache  *rcache_cache(rcache *rc);
/* The watch on other processes' commits (NULL when it could not be set up). */
struct extwatch *rcache_watch(rcache *rc);
/* Uncached reads run on the replica's connection paired with the worker's reader from now on
 * (read_replica = memory); the cache itself is unchanged. Call before the server runs. */
struct replica;
void            rcache_set_replica(rcache *rc, struct replica *rep);
struct replica *rcache_replica(rcache *rc);

/* Cache slots: one encoding of a result per slot. */
enum rcache_slot { RCACHE_LINE_TSV = 0, RCACHE_LINE_JSON = 1, RCACHE_PG_TEXT = 2 };

/* A plain SQL line that is in the cache: answer it (data, then the status) and return 1;
 * otherwise 0. Never touches SQLite. scratch is the caller's, for the key. clock, when not NULL:
 * in, the time (ms, CLOCK_MONOTONIC) the lookup started, or 0 to read it; out, after a hit, the
 * time its status was written (lines answered back to back read the clock once each). */
int rcache_try_hit(rcache *rc, const char *sql, size_t len, const query_sink *sink, int slot, buf *out,
                   buf *scratch, double *clock);

/* The lines sql[i][0..len[i]) of a BATCH, all answered from the cache as rcache_try_hit would,
 * one after the other into out, returning 1; or 0 with out unchanged as soon as one is not a hit. */
int rcache_try_hits(rcache *rc, const char *const *sql, const size_t *len, int n, const query_sink *sink, int slot,
                    buf *out, buf *scratch);

/* A PostgreSQL client connected: from now on a line-protocol miss also stores the PostgreSQL
 * encoding of its result (a PostgreSQL miss always stores the line encoding too). */
void rcache_pg_client(rcache *rc);

/* A read: served from the cache, or run on db, answered and stored by the cache policy. The
 * status carries cache=hit|miss|off. Returns like query_run. */
int rcache_read(rcache *rc, db_conn *db, const query_item *it, const query_sink *sink, int slot,
                const query_limits *lim, buf *out, char *state, buf *scratch);

/* A read-only BATCH: its lines read one snapshot, cache hits included (the argument is in rcache.c). */
typedef struct rcache_batch {
    db_conn  *db;      /* the worker's connection to the file (never the replica), in a read transaction */
    uint64_t  stamp;   /* cache_stamp before the snapshot began: hits and fills must not be newer */
    int       nocache; /* the snapshot could not be taken up front: no line uses the cache */
} rcache_batch;

/* Start b on db with its snapshot taken; always pair with rcache_batch_end, however the batch stops. */
void rcache_batch_begin(rcache *rc, db_conn *db, rcache_batch *b);
/* End b's read transaction (it never outlives the batch on the worker's shared connection). */
void rcache_batch_end(rcache_batch *b);
/* rcache_read for a line of batch b: run in its snapshot, served from the cache only when it agrees. */
int  rcache_read_batch(rcache *rc, const rcache_batch *b, const query_item *it, const query_sink *sink, int slot,
                       const query_limits *lim, buf *out, char *state, buf *scratch);

/* The writer's hooks (writer thread only; ud is the rcache). Around each transaction: begin after
 * BEGIN IMMEDIATE; note what each item may change; end after COMMIT (committed = 1: the noted tables
 * get new versions, so no cached result of them is served again) or ROLLBACK (committed = 0). */
void rcache_hook_begin(void *ud);
void rcache_hook_note(void *ud, db_conn *wdb, const query_item *it);
void rcache_hook_end(void *ud, int committed);

/* Commits by other processes noticed so far (each made every cached result stale). */
int64_t rcache_foreign_commits(rcache *rc);

/* "=name\tvalue" lines for STATS and CACHE STATS. */
void rcache_put_stats(rcache *rc, buf *out);

#endif
