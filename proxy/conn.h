/* conn.h - one client connection: explicit state, protocol chosen by the first byte, fairness and backpressure. */
#ifndef LC_CONN_H
#define LC_CONN_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "worker.h"
#include "writer.h"

typedef struct conn conn;

/* The most output held back while a writer job runs (conn_proto.hold_while_waiting): PostgreSQL's
 * send buffer is 8 KiB, and it flushes when that fills. */
#define CONN_HOLD_MAX 8192

/* A wire protocol spoken on a connection. */
typedef struct conn_proto {
    const char *name;
    /* Create the protocol's state for c; returns NULL on failure. */
    void  *(*open)(conn *c);
    /* Serve complete requests from data[0..len); return the bytes consumed. Ask conn_may_serve
     * before each request; stop when it says no. eof: the client will send nothing more. */
    size_t (*on_data)(conn *c, void *state, const char *data, size_t len, int eof);
    /* A job this protocol submitted has its reply (worker thread): append it, release the job. */
    void   (*on_job_done)(conn *c, void *state, writer_job *job);
    void   (*close)(conn *c, void *state);
    /* Is a request under way although all its input so far was consumed (a BATCH collecting its
     * lines, an overlong line being discarded, a login)? May be NULL (never). */
    int    (*in_request)(void *state);
    /* Append the error that ends a connection (a timeout), in this protocol's form. No session
     * state needed: a connection whose protocol is not known yet uses it too. */
    void   (*put_fatal)(buf *out, const char *sqlstate, const char *msg);
    /* Output appended before a writer job stays unsent until the job's reply joins it (up to
     * CONN_HOLD_MAX bytes): PostgreSQL sends ParseComplete and BindComplete only at Sync. */
    int    hold_while_waiting;
} conn_proto;

enum conn_state {
    CONN_ACTIVE,   /* serving requests */
    CONN_WAITING,  /* a writer job is in flight: input stays buffered until it returns */
    CONN_CLOSING,  /* flushing its last output */
};

/* Take over an accepted socket on worker w (worker thread). The acceptor has already counted it
 * in STATS_CONN_CURRENT; conn_free uncounts it. pg: PostgreSQL only (pg_port); else the first
 * byte tells. */
conn *conn_new(worker *w, int fd, uint64_t id, int pg);
/* Finish what is in flight, flush, close (shutdown). */
void conn_shutdown(conn *c);
/* Close now, dropping unsent output (a client that did not read its replies in time). */
void conn_abort(conn *c);

uint64_t             conn_id(const conn *c);
enum conn_state      conn_state_of(const conn *c);
const worker_shared *conn_shared(const conn *c);
db_conn             *conn_reader(const conn *c);
/* The client's address as text ("127.0.0.1", "::1"), or "?" when the socket cannot tell. */
void                 conn_peer(const conn *c, char *out, size_t outlen);
/* Where replies go. */
buf                 *conn_out(conn *c);
/* May the protocol serve one more request now? (not waiting, within the per-event budget, output
 * under the soft limit). A yes counts against the budget. */
int                  conn_may_serve(conn *c);
/* The connection waits for job, which some other thread completes by calling job->done(job)
 * (BACKUP runs this way); then on_job_done, as for the writer's jobs. */
void                 conn_await(conn *c, writer_job *job);
/* Send job to the writer; the connection waits until on_job_done. job->release frees it. */
void                 conn_submit(conn *c, writer_job *job);
/* Send a job nobody waits for (the rollback of a closing connection's transaction). */
void                 conn_submit_detached(conn *c, writer_job *job);
/* A job of some connection came back to its worker (worker thread): hands it to the connection,
 * or releases it when the connection has gone. */
void                 conn_job_returned(writer_job *job);
/* Output limits for a reply built in parts (a BATCH): between parts, is the unsent output past
 * output_hard_limit even after writing what the socket takes now? Then the client has been
 * dropped (as any client past the hard limit is) and the reply must stop growing: 1. */
int                  conn_out_over_limit(conn *c);
/* How many bytes the unsent output may still grow by before it passes output_hard_limit. */
size_t               conn_out_room(conn *c);
/* Drop unsent output and close now: a reply that cannot be delivered whole. why (logged) must be
 * a string literal: it is kept until the close. */
void                 conn_drop(conn *c, const char *why);
/* The job the connection waits for (conn_submit, conn_await), or NULL. A closing protocol asks
 * it: a BEGIN still queued at the writer opens a transaction nobody will end. */
writer_job          *conn_inflight_job(const conn *c);
/* Stop serving; close once the output is written (QUIT). */
void                 conn_close_after_flush(conn *c);

/* The clock conn_tick wants: CLOCK_MONOTONIC_COARSE in milliseconds. */
int64_t              conn_now_ms(void);
/* Apply the time limits at now_ms (worker thread, from a periodic timer): a started request not
 * finished within request_timeout_ms (08P01), output the client has not read for as long, a
 * connection idle for idle_timeout seconds (57P05). Any close it starts completes from the loop. */
void                 conn_tick(conn *c, int64_t now_ms);

#endif
