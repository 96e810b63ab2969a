/* worker.h - a worker thread: its own event_base, read connection and clients; fed through an inbox and an eventfd. */
#ifndef LC_WORKER_H
#define LC_WORKER_H

#include "auth.h"
#include "catalog.h"
#include "config.h"
#include "db.h"
#include "users.h"
#include "rcache.h"
#include "writer.h"

struct event_base;
typedef struct worker worker;

/* What every worker shares, read-only once the server runs. */
typedef struct worker_shared {
    const config  *cfg;
    writer        *wr;
    const catalog *cat;
    rcache        *rc;
    const users_list *_Atomic users; /* users_file; SIGHUP swaps in a fresh copy */
    auth          *auth;   /* checks passwords off the event loop */
    struct replica *rep;   /* the in-memory read replica, or NULL (read_replica = off) */
} worker_shared;

/* Open the worker's read connection and start its thread. Returns NULL with err set. */
worker *worker_start(int index, const worker_shared *sh, char *err, size_t errlen);
/* Hand a freshly accepted socket to the worker (any thread); pg: it speaks PostgreSQL only
 * (pg_port), else the protocol is told by its first byte. */
void worker_add_conn(worker *w, int fd, int pg);
/* Is the worker inside a client's request right now (running a statement)? Any thread; a hint. */
int  worker_busy(worker *w);
/* The worker's thread enters (1) or leaves (0) a client's request (conn.c calls it). */
void worker_set_busy(worker *w, int on);
/* A writer job of one of this worker's connections is done (called on the writer thread). */
void worker_post_job(worker *w, writer_job *job);
/* Ask the worker to finish its clients and exit; worker_join waits for it and frees it. */
void worker_stop(worker *w);
void worker_join(worker *w);

/* For the connections living on this worker (worker thread only). */
struct event_base   *worker_base(worker *w);
db_conn             *worker_reader(worker *w);
const worker_shared *worker_shared_of(worker *w);
int                  worker_stopping(worker *w);
/* A connection of this worker closed (conn.c calls it). */
struct conn;
void worker_conn_closed(worker *w, struct conn *c);
/* A connection sent a job to the writer: the worker will not exit before it is back. */
void worker_job_submitted(worker *w);

#endif
