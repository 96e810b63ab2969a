/* conn.c - one client connection: explicit state, protocol chosen by the first byte, fairness and backpressure. */
#include "conn.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <time.h>

#include "linecmd.h"
#include "pgsess.h"
#include "log.h"
#include "sbuf.h"
#include "stats.h"

struct conn {
    uint64_t          id;
    worker           *w;
    sbuf             *sb;
    const conn_proto *proto;
    void             *pstate;
    enum conn_state   state;
    writer_job       *job;          /* in flight when CONN_WAITING */
    int               budget;       /* requests left in this turn */
    int               out_paused;   /* stopped for backpressure until the output drains */
    int               eof;          /* the client half-closed */
    int               stalled;      /* a buffered request was turned away this turn */
    int               pg_only;      /* accepted on pg_port */
    int64_t           active_ms;    /* last input or output progress (conn_now_ms) */
    int64_t           partial_ms;   /* when the request under way began; 0 = none */
};

static void conn_free(conn *c)
{
    if (c->proto && c->proto->close)
        c->proto->close(c, c->pstate);
    if (c->job)
        c->job->owner = NULL; /* it comes back to the worker, which then releases it */
    sbuf_free(c->sb);
    stats_add(STATS_CONN_CURRENT, -1);
    worker_conn_closed(c->w, c);
    free(c);
}

/* A client that does not read cannot make the server hold more than output_hard_limit for it:
 * it is dropped, as Redis drops one past its client-output-buffer-limit. */
static void drop_now(conn *c, const char *why)
{
    stats_add(STATS_CONN_DROPPED, 1);
    c->state = CONN_CLOSING;
    sbuf_abort(c->sb, why); /* keeps the pointer: why is a string literal */
}

static void drop_over_limit(conn *c, size_t pending)
{
    log_msg(LOG_WARN, c->id, "dropped: %zu bytes of unread output passed output_hard_limit", pending);
    drop_now(c, "output hard limit");
}

/* After serving: push output out, apply the output limits, decide whether to read more.
 * stalled: conn_may_serve turned a buffered request away (budget spent or output over the soft
 * limit), so the input must be looked at again without waiting for the socket. */
static void after_serving(conn *c, int stalled)
{
    const config *cfg = worker_shared_of(c->w)->cfg;
    /* Held, the output leaves in one send with the job's reply: a send and a client wake-up less. */
    if (c->state != CONN_WAITING || !c->proto || !c->proto->hold_while_waiting ||
        sbuf_pending(c->sb) > CONN_HOLD_MAX)
        sbuf_flush(c->sb);
    size_t pending = sbuf_pending(c->sb);
    if (c->state == CONN_CLOSING)
        return;
    if ((int64_t)pending > cfg->output_hard_limit) {
        drop_over_limit(c, pending);
        return;
    }
    /* Re-decided after every flush: only output still unsent after it holds the client back (the
     * write event that sends it calls on_drain, which resumes). */
    c->out_paused = (int64_t)pending > cfg->output_soft_limit;
    if (worker_stopping(c->w) && c->state != CONN_WAITING) {
        c->state = CONN_CLOSING;
        sbuf_close_when_flushed(c->sb, "server shutting down");
    } else if (c->state == CONN_WAITING) {
        /* Reading stays as it is: what arrives meanwhile is only buffered (sbuf stops by itself
         * at in_max), and not switching the event off and on saves two epoll_ctl calls per write. */
    } else if (c->out_paused) {
        sbuf_set_reading(c->sb, 0);
    } else if (stalled) {
        /* Requests are still buffered: serve them after the other clients had a turn. */
        sbuf_set_reading(c->sb, 0);
        sbuf_rescan(c->sb);
    } else if (c->eof) {
        c->state = CONN_CLOSING;
        sbuf_close_when_flushed(c->sb, "client closed");
    } else {
        sbuf_set_reading(c->sb, 1);
    }
}

/* After the protocol had the input: is a request left half-received? Then request_timeout_ms runs
 * from its start. A request still coming in after others completed starts its own clock, unless
 * the protocol says one request spans them all (the lines of a BATCH, the steps of a login). */
static void note_partial(conn *c, size_t left, int served, int64_t now)
{
    int inreq = c->proto && c->proto->in_request && c->proto->in_request(c->pstate);
    int mid = c->state == CONN_ACTIVE && !c->stalled && !c->out_paused && (left > 0 || inreq);
    if (!mid)
        c->partial_ms = 0;
    else if (!c->partial_ms || (served && !inreq))
        c->partial_ms = now;
}

static size_t on_data(void *ctx, const char *data, size_t len, int eof)
{
    conn *c = ctx;
    c->eof = eof;
    c->active_ms = conn_now_ms();
    if (c->state != CONN_ACTIVE || c->out_paused)
        return 0;
    if (!c->proto) {
        if (len == 0) {
            after_serving(c, 0);
            return 0;
        }
        /* A PostgreSQL client's first packet starts with a zero byte (its length, under 16 MiB);
         * a line never does. */
        c->proto = c->pg_only || data[0] == '\0' ? &pgsess_proto : &linecmd_proto;
        c->pstate = c->proto->open(c);
        if (!c->pstate) {
            c->state = CONN_CLOSING;
            sbuf_abort(c->sb, "out of memory");
            return len;
        }
    }
    int budget = c->budget = worker_shared_of(c->w)->cfg->requests_per_event;
    c->stalled = 0;
    log_set_conn(c->id); /* lines logged while serving it (the slow-query log) name it */
    worker_set_busy(c->w, 1);
    size_t used = c->proto->on_data(c, c->pstate, data, len, eof);
    worker_set_busy(c->w, 0);
    after_serving(c, c->stalled);
    note_partial(c, len - used, c->budget < budget, c->active_ms);
    return used;
}

static void on_drain(void *ctx)
{
    conn *c = ctx;
    const config *cfg = worker_shared_of(c->w)->cfg;
    c->active_ms = conn_now_ms();
    if (c->out_paused && (int64_t)sbuf_pending(c->sb) <= cfg->output_soft_limit / 2) {
        c->out_paused = 0;
        sbuf_rescan(c->sb);
    }
}

static void on_close(void *ctx, const char *why)
{
    conn *c = ctx;
    log_msg(LOG_DEBUG, c->id, "closed: %s", why);
    conn_free(c);
}

static const sbuf_ops conn_sbuf_ops = {on_data, on_drain, on_close};

conn *conn_new(worker *w, int fd, uint64_t id, int pg)
{
    conn *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    c->id = id;
    c->w = w;
    c->pg_only = pg;
    const config *cfg = worker_shared_of(w)->cfg;
    /* Room for one maximal line plus what arrives behind it. */
    c->sb = sbuf_new(worker_base(w), fd, &conn_sbuf_ops, c, (size_t)cfg->max_line + 65536);
    if (!c->sb) {
        free(c);
        return NULL;
    }
    stats_add(STATS_CONN_TOTAL, 1);
    c->active_ms = conn_now_ms();
    /* On pg_port the startup packet is a request the client owes from the start (PostgreSQL's
     * authentication_timeout); on the shared port a silent client may be a person at nc. */
    c->partial_ms = pg ? c->active_ms : 0;
    return c;
}

void conn_shutdown(conn *c)
{
    /* One waiting on the writer closes when its job is back (after_serving sees the shutdown). */
    if (c->state == CONN_ACTIVE)
        after_serving(c, 0);
}

void conn_abort(conn *c)
{
    if (c->state == CONN_CLOSING && sbuf_pending(c->sb) == 0)
        return;
    c->state = CONN_CLOSING;
    sbuf_abort(c->sb, "server shutting down: output not read in time");
}

uint64_t conn_id(const conn *c) { return c->id; }
enum conn_state conn_state_of(const conn *c) { return c->state; }
const worker_shared *conn_shared(const conn *c) { return worker_shared_of(c->w); }
db_conn *conn_reader(const conn *c) { return worker_reader(c->w); }
buf *conn_out(conn *c) { return sbuf_out(c->sb); }

void conn_peer(const conn *c, char *out, size_t outlen)
{
    struct sockaddr_storage ss;
    socklen_t sl = sizeof ss;
    const void *a = NULL;
    if (getpeername(sbuf_fd(c->sb), (struct sockaddr *)&ss, &sl) == 0) {
        if (ss.ss_family == AF_INET)
            a = &((struct sockaddr_in *)&ss)->sin_addr;
        else if (ss.ss_family == AF_INET6)
            a = &((struct sockaddr_in6 *)&ss)->sin6_addr;
        else if (ss.ss_family == AF_UNIX) {
            snprintf(out, outlen, "[local]"); /* what PostgreSQL's logs call it */
            return;
        }
    }
    if (!a || !inet_ntop(ss.ss_family, a, out, (socklen_t)outlen))
        snprintf(out, outlen, "?");
}

int conn_may_serve(conn *c)
{
    if (c->state != CONN_ACTIVE)
        return 0;
    if (c->budget <= 0 || (int64_t)sbuf_pending(c->sb) > worker_shared_of(c->w)->cfg->output_soft_limit) {
        c->stalled = 1;
        return 0;
    }
    c->budget--;
    return 1;
}

static void job_done(writer_job *job) { worker_post_job(job->owner_ctx, job); }

void conn_await(conn *c, writer_job *job)
{
    job->owner = c;
    job->owner_ctx = c->w;
    job->done = job_done;
    c->job = job;
    c->state = CONN_WAITING;
    worker_job_submitted(c->w);
}

void conn_submit(conn *c, writer_job *job)
{
    conn_await(c, job);
    writer_submit(worker_shared_of(c->w)->wr, job);
}

void conn_submit_detached(conn *c, writer_job *job)
{
    job->owner = NULL;
    job->owner_ctx = c->w;
    job->done = job_done;
    worker_job_submitted(c->w);
    writer_submit(worker_shared_of(c->w)->wr, job);
}

void conn_job_returned(writer_job *job)
{
    conn *c = job->owner;
    if (!c) {
        job->release(job);
        return;
    }
    c->job = NULL;
    c->state = CONN_ACTIVE;
    worker_set_busy(c->w, 1);
    c->proto->on_job_done(c, c->pstate, job);
    worker_set_busy(c->w, 0);
    /* Serve what queued up behind the write now (a PostgreSQL client's Sync, say), so that its reply
     * leaves in the same send as the job's; on_data then flushes. A rescan would cost two epoll_ctl
     * calls (reading off and on again) and a second send. */
    if (c->state == CONN_ACTIVE && !c->out_paused && sbuf_buffered(c->sb) > 0)
        sbuf_deliver(c->sb);
    else
        after_serving(c, 0);
}

int conn_out_over_limit(conn *c)
{
    if (c->state == CONN_CLOSING)
        return 1;
    int64_t hard = worker_shared_of(c->w)->cfg->output_hard_limit;
    if ((int64_t)sbuf_pending(c->sb) <= hard)
        return 0;
    sbuf_flush(c->sb); /* a client that reads may take it: only what it leaves counts */
    size_t pending = sbuf_pending(c->sb);
    if ((int64_t)pending <= hard)
        return 0;
    drop_over_limit(c, pending);
    return 1;
}

size_t conn_out_room(conn *c)
{
    int64_t room = worker_shared_of(c->w)->cfg->output_hard_limit - (int64_t)sbuf_pending(c->sb);
    return room > 0 ? (size_t)room : 0;
}

void conn_drop(conn *c, const char *why)
{
    log_msg(LOG_WARN, c->id, "dropped: %s", why);
    drop_now(c, why);
}

writer_job *conn_inflight_job(const conn *c) { return c->job; }

void conn_close_after_flush(conn *c)
{
    c->state = CONN_CLOSING;
    sbuf_close_when_flushed(c->sb, "quit");
}

int64_t conn_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* End the connection with a last error line; a client that does not read gets none. */
static void time_out(conn *c, const char *state, const char *msg)
{
    const conn_proto *p = c->proto ? c->proto : c->pg_only ? &pgsess_proto : &linecmd_proto;
    log_msg(LOG_INFO, c->id, "closed: %s", msg);
    stats_error(state);
    c->state = CONN_CLOSING;
    if (sbuf_pending(c->sb) > 0) {
        sbuf_abort(c->sb, msg);
        return;
    }
    p->put_fatal(conn_out(c), state, msg);
    sbuf_close_when_flushed(c->sb, msg);
    if (sbuf_pending(c->sb) > 0) /* not even room for the error: the socket is full */
        sbuf_abort(c->sb, msg);
}

void conn_tick(conn *c, int64_t now)
{
    const config *cfg = worker_shared_of(c->w)->cfg;
    int64_t request_ms = cfg->request_timeout_ms, idle_ms = (int64_t)cfg->idle_timeout * 1000;
    char msg[128];
    if (c->state == CONN_WAITING)
        return; /* the server, not the client, is behind: the writer has its own limits */
    if (request_ms > 0 && sbuf_pending(c->sb) > 0 && now - c->active_ms > request_ms) {
        /* Replies nobody reads hold memory (up to output_hard_limit), closing or not. */
        log_msg(LOG_INFO, c->id, "dropped: output not read for %lld ms (request_timeout_ms)", (long long)(now - c->active_ms));
        stats_add(STATS_CONN_DROPPED, 1);
        c->state = CONN_CLOSING;
        sbuf_abort(c->sb, "output not read in time");
    } else if (c->state != CONN_ACTIVE) {
        return;
    } else if (request_ms > 0 && c->partial_ms && now - c->partial_ms > request_ms) {
        snprintf(msg, sizeof msg, "request not completed within request_timeout_ms (%lld ms)", (long long)request_ms);
        time_out(c, "08P01", msg);
    } else if (idle_ms > 0 && now - c->active_ms > idle_ms) {
        snprintf(msg, sizeof msg, "terminating connection due to idle timeout (%d s)", cfg->idle_timeout);
        time_out(c, "57P05", msg);
    }
}
