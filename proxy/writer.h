/* writer.h - the one writer: owns the only write connection and commits queued jobs in groups. */
#ifndef LC_WRITER_H
#define LC_WRITER_H

#include "buf.h"
#include "db.h"
#include "lineproto.h"
#include "query.h"

typedef struct writer writer;
typedef struct writer_job writer_job;

/* A message from a worker to the writer and back. The submitter fills the first part and owns
 * the items' memory; the writer fills the reply and calls done() from its own thread. */
struct writer_job {
    const query_item *items;
    int               nitems;
    int               batch;     /* a reply per item, then the BATCH status line */
    lp_format         fmt;
    query_limits      limits;
    void            (*done)(writer_job *job);
    void            (*release)(writer_job *job); /* frees the job and everything it owns */
    void             *owner;     /* the submitting connection; NULL once it has gone */
    void             *owner_ctx; /* its worker, where done() sends the job back */
    buf               reply;     /* set by the writer */
    int               failed;    /* index of the failed item, or -1 */
    writer_job       *next;      /* queue link, the writer's */
};

/* Start the writer thread on db (which it then owns). group_max bounds the jobs in one commit. */
writer *writer_start(db_conn *db, int group_max, char *err, size_t errlen);
/* Queue a job; its done() runs on the writer thread once its group has committed or failed. */
void writer_submit(writer *w, writer_job *job);
/* Finish every queued job, stop the thread, close the connection. */
void writer_stop(writer *w);

#endif
