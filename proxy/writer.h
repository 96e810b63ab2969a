/* writer.h - the one writer: owns the only write connection, commits queued jobs in groups, runs client transactions. */
#ifndef LC_WRITER_H
#define LC_WRITER_H

#include <stdint.h>

#include "buf.h"
#include "db.h"
#include "lineproto.h"
#include "query.h"

typedef struct writer writer;
typedef struct writer_job writer_job;

/* What a job asks of the writer. */
enum writer_tx {
    WRITER_PLAIN,    /* commit with whatever else is queued (group commit) */
    WRITER_BEGIN,    /* open a transaction owned by the job's session */
    WRITER_IN_TX,    /* run inside the session's open transaction */
    WRITER_COMMIT,   /* commit it (rolled back instead if it had failed) */
    WRITER_ROLLBACK, /* roll it back */
    WRITER_ABORT,    /* the session went away: roll back, nobody is told */
};

/* Where the session's transaction stands after the job, for the submitter to track. */
enum writer_tx_state { WRITER_TX_NONE, WRITER_TX_OPEN, WRITER_TX_FAILED };

/* A WRITER_IN_TX job that is a savepoint command, as its submitter's parser saw it (the writer
 * does not read the SQL's words again, so both agree on what a line is). */
enum writer_sp {
    WRITER_SP_NONE,
    WRITER_SP_SET,         /* SAVEPOINT or RELEASE */
    WRITER_SP_ROLLBACK_TO, /* ROLLBACK TO: recovers a failed transaction when it succeeds */
};

/* A message from a worker to the writer and back. The submitter fills the first part and owns
 * the items' memory; the writer fills the reply and calls done() from its own thread (or walsync's). */
struct writer_job {
    const query_item *items;
    int               nitems;
    int               batch;     /* a reply per item, then the BATCH status line */
    lp_format         fmt;
    const query_sink *sink;      /* how replies are encoded; NULL: the line protocol in fmt */
    query_limits      limits;
    enum writer_tx    tx;
    uint64_t          session;   /* who sent it: transactions belong to a session */
    int               savepoint_op; /* enum writer_sp: run bare, without the writer's own savepoint */
    void            (*done)(writer_job *job);
    void            (*release)(writer_job *job); /* frees the job and everything it owns */
    void             *owner;     /* the submitting connection; NULL once it has gone */
    void             *owner_ctx; /* its worker, where done() sends the job back */
    /* set by the writer */
    buf               reply;
    int               failed;    /* index of the failed item, or -1 */
    int               tx_state;  /* enum writer_tx_state */
    int               cancelled; /* writer_cancel interrupted it while it ran */
    writer_job       *next;      /* queue link, the writer's until done() */
};

/* Told about every transaction the writer runs, so a cache can invalidate what it changed:
 * begin after BEGIN, note for each item run inside, end after COMMIT (1) or ROLLBACK (0), all
 * before anything is acknowledged. detach once the thread has stopped, before the connection
 * closes. Any member may be NULL. */
typedef struct writer_hooks {
    void *ud;
    void (*begin)(void *ud);
    void (*note)(void *ud, db_conn *db, const query_item *it);
    void (*end)(void *ud, int committed);
    void (*detach)(void *ud);
} writer_hooks;

/* Several sets nest: begin and note run in order, end in reverse (the first set's end is last). */
#define WRITER_MAX_HOOKS 2

typedef struct writer_opts {
    int          group_max;       /* jobs in one commit */
    int          group_wait_us;   /* extra wait for a group to fill */
    int          idle_tx_s;       /* an open transaction idle this long is rolled back */
    int          checkpoint_pages; /* WAL pages past which a RESTART checkpoint runs after a commit */
    int          sync_wal;        /* commits only write the WAL; jobs are answered after walsync syncs it */
    db_conn     *pin;             /* optional reader the writer keeps in a read transaction while idle (its own) */
    writer_hooks hooks[WRITER_MAX_HOOKS]; /* optional; unused sets stay zero */
} writer_opts;

/* Start the writer thread on db (which it then owns, with opts->pin). */
writer *writer_start(db_conn *db, const writer_opts *opts, char *err, size_t errlen);
/* Queue a job; its done() runs on the writer thread (or, with sync_wal, the WAL sync thread) once it
 * has committed, durably, or failed. */
void writer_submit(writer *w, writer_job *job);
/* Interrupt the statement the writer is running for session now, if any (a PostgreSQL cancel
 * request). Returns 1 when it did. Any thread. */
int  writer_cancel(writer *w, uint64_t session);
/* idle_in_transaction_timeout changed (a reload): any thread; counts from the next idle wait. */
void writer_set_idle_timeout(writer *w, int seconds);
/* Finish every queued job (an open transaction is rolled back), stop, checkpoint, close. */
void writer_stop(writer *w);

#endif
