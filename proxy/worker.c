/* worker.c - a worker thread: its own event_base, read connection and clients; fed through an inbox and an eventfd. */
#include "worker.h"

#include <errno.h>
#include <event2/event.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include "conn.h"
#include "log.h"
#include "replica.h"
#include "stats.h"

typedef struct fd_node {
    int             fd;
    int             pg;
    struct fd_node *next;
} fd_node;

/* Locking: `lock` guards the inbox (new_fds, jobs, stop_requested), which other threads fill;
 * everything else belongs to the worker thread. do_drain_inbox() takes the lists under the lock
 * and works on them after releasing it. */
struct worker {
    int                  index;
    const worker_shared *sh;
    pthread_t            thread;
    struct event_base   *base;
    db_conn             *reader;
    int                  efd;
    struct event        *ev_inbox;
    struct event        *ev_grace;       /* shutdown: time left for clients to read their replies */
    struct event        *ev_tick;        /* the connections' time limits (conn_tick) */
    pthread_mutex_t      lock;
    fd_node             *new_fds;
    writer_job          *jobs, *jobs_tail; /* reuses writer_job.next once the writer is done with it */
    int                  stop_requested;
    _Atomic int          busy;           /* the worker thread is serving a request (read by the acceptor) */
    /* worker thread only */
    int                  stopping;
    int                  nconns;
    int                  jobs_out;       /* submitted jobs not yet returned */
    conn               **conns;          /* for shutdown */
    int                  conns_cap;
};

static _Atomic uint64_t next_conn_id = 1;

#define WORKER_SHUTDOWN_GRACE_S 5
/* How often time limits are checked: their resolution. One timer per worker, not one per
 * connection, so serving a request never re-arms a timer. */
#define WORKER_TICK_MS 250

static void wake(worker *w)
{
    uint64_t one = 1;
    ssize_t r = write(w->efd, &one, sizeof one);
    (void)r; /* a full counter still wakes the worker */
}

/* Assumes the lock. A wake-up is owed only when the inbox goes from empty to not: otherwise one
 * is already pending, and the worker takes the whole inbox at once. So the writer pays one
 * eventfd write per group it returns to a worker, not one per job. */
static int do_inbox_empty(worker *w) { return !w->new_fds && !w->jobs; }

static void maybe_exit(worker *w)
{
    if (w->stopping && w->nconns == 0 && w->jobs_out == 0)
        event_base_loopexit(w->base, NULL);
}

static void track(worker *w, conn *c)
{
    for (int i = 0; i < w->conns_cap; i++)
        if (!w->conns[i]) {
            w->conns[i] = c;
            return;
        }
    int cap = w->conns_cap ? w->conns_cap * 2 : 64;
    conn **p = realloc(w->conns, sizeof *p * (size_t)cap);
    if (!p)
        return; /* not tracked: it still closes on its own; shutdown just cannot hurry it */
    memset(p + w->conns_cap, 0, sizeof *p * (size_t)(cap - w->conns_cap));
    p[w->conns_cap] = c;
    w->conns = p;
    w->conns_cap = cap;
}

static void on_inbox(evutil_socket_t fd, short what, void *arg)
{
    worker *w = arg;
    (void)what;
    uint64_t n;
    ssize_t r = read(fd, &n, sizeof n);
    (void)r;
    pthread_mutex_lock(&w->lock);
    fd_node *fds = w->new_fds;
    writer_job *jobs = w->jobs;
    int stop = w->stop_requested;
    w->new_fds = NULL;
    w->jobs = NULL;
    pthread_mutex_unlock(&w->lock);

    while (jobs) {
        writer_job *next = jobs->next;
        jobs->next = NULL;
        w->jobs_out--;
        conn_job_returned(jobs);
        jobs = next;
    }
    while (fds) {
        fd_node *next = fds->next;
        conn *c = w->stopping ? NULL : conn_new(w, fds->fd, atomic_fetch_add(&next_conn_id, 1), fds->pg);
        if (c) {
            w->nconns++;
            track(w, c);
        } else {
            close(fds->fd);
            stats_add(STATS_CONN_CURRENT, -1); /* the acceptor counted it */
        }
        free(fds);
        fds = next;
    }
    if (stop && !w->stopping) {
        w->stopping = 1;
        for (int i = 0; i < w->conns_cap; i++)
            if (w->conns[i])
                conn_shutdown(w->conns[i]);
        /* A client that never reads its last replies must not hold the shutdown forever. */
        struct timeval grace = {WORKER_SHUTDOWN_GRACE_S, 0};
        if (w->ev_grace)
            event_add(w->ev_grace, &grace);
    }
    maybe_exit(w);
}

static void on_grace(evutil_socket_t fd, short what, void *arg)
{
    worker *w = arg;
    (void)fd;
    (void)what;
    for (int i = 0; i < w->conns_cap; i++)
        if (w->conns[i])
            conn_abort(w->conns[i]);
}

static void on_tick(evutil_socket_t fd, short what, void *arg)
{
    worker *w = arg;
    (void)fd;
    (void)what;
    const config *cfg = w->sh->cfg;
    if (cfg->request_timeout_ms <= 0 && cfg->idle_timeout <= 0)
        return;
    int64_t now = conn_now_ms();
    for (int i = 0; i < w->conns_cap; i++)
        if (w->conns[i])
            conn_tick(w->conns[i], now);
}

static void *worker_main(void *arg)
{
    worker *w = arg;
    pthread_setname_np(pthread_self(), "lc-worker");
    event_base_dispatch(w->base);
    return NULL;
}

worker *worker_start(int index, const worker_shared *sh, char *err, size_t errlen)
{
    worker *w = calloc(1, sizeof *w);
    if (!w) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    w->index = index;
    w->sh = sh;
    w->efd = -1;
    pthread_mutex_init(&w->lock, NULL);
    if (!(w->reader = db_open(sh->cfg, DB_READER, err, errlen)))
        goto fail;
    if (replica_attach(sh->rep, w->reader, err, errlen) < 0)
        goto fail;
    if (!(w->base = event_base_new())) {
        snprintf(err, errlen, "event_base_new failed");
        goto fail;
    }
    if ((w->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) < 0) {
        snprintf(err, errlen, "eventfd: %s", strerror(errno));
        goto fail;
    }
    w->ev_inbox = event_new(w->base, w->efd, EV_READ | EV_PERSIST, on_inbox, w);
    if (!w->ev_inbox || event_add(w->ev_inbox, NULL) < 0) {
        snprintf(err, errlen, "cannot watch the worker's eventfd");
        goto fail;
    }
    w->ev_grace = evtimer_new(w->base, on_grace, w);
    w->ev_tick = event_new(w->base, -1, EV_PERSIST, on_tick, w);
    struct timeval every = {0, WORKER_TICK_MS * 1000};
    if (!w->ev_tick || event_add(w->ev_tick, &every) < 0) {
        snprintf(err, errlen, "cannot start the worker's timer");
        goto fail;
    }
    if (pthread_create(&w->thread, NULL, worker_main, w) != 0) {
        snprintf(err, errlen, "cannot start worker thread %d", index);
        goto fail;
    }
    return w;
fail:
    if (w->ev_tick)
        event_free(w->ev_tick);
    if (w->ev_grace)
        event_free(w->ev_grace);
    if (w->ev_inbox)
        event_free(w->ev_inbox);
    if (w->efd >= 0)
        close(w->efd);
    if (w->base)
        event_base_free(w->base);
    replica_detach(w->reader);
    db_close(w->reader);
    free(w);
    return NULL;
}

void worker_add_conn(worker *w, int fd, int pg)
{
    fd_node *n = malloc(sizeof *n);
    if (!n) {
        close(fd);
        return;
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    n->fd = fd;
    n->pg = pg;
    pthread_mutex_lock(&w->lock);
    int was_empty = do_inbox_empty(w);
    n->next = w->new_fds;
    w->new_fds = n;
    pthread_mutex_unlock(&w->lock);
    if (was_empty)
        wake(w);
}

void worker_post_job(worker *w, writer_job *job)
{
    pthread_mutex_lock(&w->lock);
    /* FIFO through a tail pointer: the writer returns up to group_commit_max jobs at a time. (One
     * job per connection is in flight, so order across connections does not matter.) */
    job->next = NULL;
    int was_empty = do_inbox_empty(w);
    if (w->jobs)
        w->jobs_tail->next = job;
    else
        w->jobs = job;
    w->jobs_tail = job;
    pthread_mutex_unlock(&w->lock);
    if (was_empty)
        wake(w);
}

void worker_stop(worker *w)
{
    pthread_mutex_lock(&w->lock);
    w->stop_requested = 1;
    pthread_mutex_unlock(&w->lock);
    wake(w);
}

void worker_join(worker *w)
{
    pthread_join(w->thread, NULL);
    if (w->ev_tick)
        event_free(w->ev_tick);
    if (w->ev_grace)
        event_free(w->ev_grace);
    event_free(w->ev_inbox);
    close(w->efd);
    event_base_free(w->base);
    replica_detach(w->reader);
    db_close(w->reader);
    pthread_mutex_destroy(&w->lock);
    free(w->conns);
    free(w);
}

struct event_base *worker_base(worker *w) { return w->base; }
db_conn *worker_reader(worker *w) { return w->reader; }
const worker_shared *worker_shared_of(worker *w) { return w->sh; }
int worker_stopping(worker *w) { return w->stopping; }
int worker_busy(worker *w) { return atomic_load_explicit(&w->busy, memory_order_relaxed); }
void worker_set_busy(worker *w, int on) { atomic_store_explicit(&w->busy, on, memory_order_relaxed); }

void worker_conn_closed(worker *w, conn *c)
{
    for (int i = 0; i < w->conns_cap; i++)
        if (w->conns[i] == c) {
            w->conns[i] = NULL;
            break;
        }
    w->nconns--;
    maybe_exit(w);
}

void worker_job_submitted(worker *w) { w->jobs_out++; }
