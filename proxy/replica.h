/* replica.h - the in-memory read replica: a memdb copy of the database that uncached reads run on, kept current by the writer with session changesets. */
#ifndef LC_REPLICA_H
#define LC_REPLICA_H

#include <stdint.h>

#include "buf.h"
#include "config.h"
#include "db.h"
#include "extwatch.h"

typedef struct replica replica;

/* What STATS, REPLICA STATUS and /metrics show. */
typedef struct replica_stats {
    int     on;               /* reads run on the replica */
    int     stale;            /* a commit by another process is not in it yet (the next read rebuilds it) */
    int64_t bytes;            /* its size now */
    int64_t max_bytes;        /* replica_max_bytes */
    int64_t lag_changesets;   /* committed, not applied yet (only while an apply is under way) */
    int64_t lag_bytes;
    int64_t applied;          /* changesets applied */
    int64_t applied_bytes;
    int64_t rebuilds;         /* full copies: start, schema changes, foreign commits, divergence */
    int64_t conflicts;        /* changes that did not apply cleanly (each forced a rebuild) */
    int64_t skipped;          /* commits that wrote nothing: nothing replicated (the dirty flag) */
    int64_t apply_ns;         /* the writer's time making and applying changesets */
} replica_stats;

/* With read_replica = memory: copy the database (wdb, the writer's connection, before the writer
 * starts) into a shared in-memory database and attach a session to wdb that records every change.
 * A database over replica_max_bytes is refused: the replica stays off, reads run on the file, and
 * the reason is logged and shown by REPLICA STATUS. Returns NULL when read_replica = off. */
replica *replica_open(const config *cfg, db_conn *wdb, extwatch *watch, char *err, size_t errlen);
/* After the writer has stopped: the session and statements on wdb go; then the replica. */
void     replica_free(replica *r);

/* A worker's file reader gets its companion connection to the replica (db_peer); detach closes it. */
int  replica_attach(replica *r, db_conn *file_db, char *err, size_t errlen);
void replica_detach(db_conn *file_db);

/* Around an uncached read on a worker: returns the connection to run it on (the replica, shared
 * with the writer's applies, or file_db when the replica is off) and must be paired with
 * replica_read_end. A commit by another process noticed here is copied in first. */
db_conn *replica_read_begin(replica *r, db_conn *file_db);
void     replica_read_end(replica *r, db_conn *file_db, db_conn *used);

/* The writer's hooks (writer thread; ud is the replica), nested inside the cache's so that the
 * watch lock is held: end applies the transaction's changeset before anything is acknowledged
 * (or rebuilds after a schema change); detach drops the session before the connection closes. */
void replica_hook_end(void *ud, int committed);
void replica_hook_detach(void *ud);

void replica_get_stats(replica *r, replica_stats *s);
/* "=name\tvalue" lines for STATS, all numbers (on, size, lag, applies, rebuilds); r may be NULL. */
void replica_put_stats(replica *r, buf *out);
/* REPLICA STATUS: the same, after the state in words (memory, file, off), why it is on the file,
 * and replica_max_bytes. */
void replica_put_status(replica *r, buf *out);
/* REPLICA CHECK: every table of the file (through file_db) against the replica, row for row, at
 * one consistent point: "#table\tmain_rows\treplica_rows\tdiffering" and a row per table into out.
 * Returns the number of tables, or -1 (message in err) when there is no replica to check. */
int  replica_check(replica *r, db_conn *file_db, buf *out, int64_t *differing, char *err, size_t errlen);

#endif
