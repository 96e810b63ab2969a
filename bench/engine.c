/* engine.c - the load engine: threads, pipelined connections, reply framing by status lines (or RESP), phases and timing. */
/* Its sockets are driven by hand (a persistent read event; a write event only while the kernel is
 * full), not by bufferevents: those cost an ioctl and two epoll_ctl per request, more CPU than the
 * server spends on a cache hit, and the generator shares the machine with the server it measures. */
#include "engine.h"

#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/thread.h>
#include <event2/util.h>

#include "ctl.h"

/* Phases, set by the main thread only. Threads read them on every send and every reply. */
enum { PH_WARMUP, PH_MEASURE, PH_DRAIN, PH_STOP };

#define STALL_SECONDS 30.0  /* no reply at all for this long with requests in flight: give up */

typedef struct pending {
    uint64_t t_ns;        /* when it was queued for sending */
    int      remaining;   /* replies (status lines) still to come */
    uint8_t  measured;
    uint8_t  err;
} pending;

struct eng_thread;

typedef struct eng_conn {
    struct eng_thread  *th;
    evutil_socket_t     fd;       /* -1 once closed */
    struct event       *rev;      /* persistent: replies */
    struct event       *wev;      /* armed while connecting, and while out does not fit the socket */
    int                 wev_armed;/* kept here: asking libevent (event_pending) takes its lock every request */
    struct evbuffer    *out;
    void    *cs;          /* the generator's state for this connection */
    pending *ring;
    int      head, count, cap;
    int      connected, finished;   /* finished: idle for good, or dead */
    /* line protocol framing: only the first byte of each line matters */
    int      bol, in_status, status_err;
    /* RESP framing: the header line's type and number, then payload bytes to skip */
    int      rtype, neg, in_header;
    int64_t  num;
    uint64_t skip;
    /* the text of the first error line, captured once per thread */
    int      capturing;
} eng_conn;

typedef struct run run;

typedef struct eng_thread {
    run               *r;
    pthread_t          tid;
    struct event_base *base;
    struct event      *timer;
    eng_conn          *conns;
    int                nconns, first_index;
    hist               lat, win;          /* private to the thread */
    pthread_mutex_t    mu;
    hist               live;              /* win, handed over for the progress line */
    _Atomic uint64_t   completed, measured_done, errors, sent;
    _Atomic int64_t    inflight;
    _Atomic int        finished;          /* connections finished (idle or dead) */
    _Atomic int        failures;
    _Atomic uint64_t   last_done_ns;
    char               first_error[256];
    size_t             errlen;
    char               rbuf[65536];       /* replies are scanned in place, never kept */
} eng_thread;

struct run {
    const eng_config *cfg;
    struct sockaddr_storage addr;
    socklen_t         addrlen;
    _Atomic int       phase;
    _Atomic uint64_t  budget;             /* measured requests handed out (requests mode) */
    eng_thread       *th;
    int               nthreads;
};

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

double eng_now(void)
{
    return (double)now_ns() / 1e9;
}

static void set_error(eng_thread *th, const char *msg)
{
    if (th->first_error[0] == '\0')
        snprintf(th->first_error, sizeof th->first_error, "%s", msg);
}

static void finish_conn(eng_conn *c)
{
    if (!c->finished) {
        c->finished = 1;
        atomic_fetch_add_explicit(&c->th->finished, 1, memory_order_relaxed);
    }
}

/* Queue one request, or mark the connection finished when there is nothing more to send. */
static int issue(eng_conn *c)
{
    eng_thread *th = c->th;
    run *r = th->r;
    const eng_config *cfg = r->cfg;
    if (c->finished || c->count >= c->cap)
        return 0;
    int ph = atomic_load_explicit(&r->phase, memory_order_acquire);
    if (ph >= PH_DRAIN)
        return 0;
    int measured = ph == PH_MEASURE;
    if (measured && cfg->duration <= 0 && cfg->requests > 0 &&
        atomic_fetch_add_explicit(&r->budget, 1, memory_order_relaxed) >= cfg->requests) {
        finish_conn(c);
        return 0;
    }
    int n = cfg->gen.next(cfg->gen.ud, c->cs, c->out);
    if (n <= 0) {
        finish_conn(c);
        return 0;
    }
    int slot = (c->head + c->count) % c->cap;
    c->ring[slot] = (pending){ .t_ns = now_ns(), .remaining = n, .measured = (uint8_t)measured };
    c->count++;
    atomic_fetch_add_explicit(&th->sent, 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&th->inflight, 1, memory_order_relaxed);
    return 1;
}

static void fill(eng_conn *c)
{
    while (c->count < c->cap && issue(c))
        ;
}

/* One reply line (or RESP reply) arrived for the request at the head of the ring. */
static void on_reply(eng_conn *c, int err)
{
    eng_thread *th = c->th;
    if (c->count == 0) {
        set_error(th, "protocol: a reply arrived with no request in flight");
        return;
    }
    pending *p = &c->ring[c->head];
    if (err)
        p->err = 1;
    if (--p->remaining > 0)
        return;
    uint64_t t = now_ns();
    c->head = (c->head + 1) % c->cap;
    c->count--;
    atomic_fetch_add_explicit(&th->inflight, -1, memory_order_relaxed);
    atomic_fetch_add_explicit(&th->completed, 1, memory_order_relaxed);
    if (p->err)
        atomic_fetch_add_explicit(&th->errors, 1, memory_order_relaxed);
    if (p->measured && atomic_load_explicit(&th->r->phase, memory_order_acquire) == PH_MEASURE) {
        uint64_t us = (t - p->t_ns + 500) / 1000;
        hist_record(&th->lat, us);
        hist_record(&th->win, us);
        atomic_fetch_add_explicit(&th->measured_done, 1, memory_order_relaxed);
        atomic_store_explicit(&th->last_done_ns, t, memory_order_relaxed);
    }
    issue(c);
}

/* Keep the text of the first error line a thread sees: the user wants to know what went wrong. */
static void capture(eng_conn *c, const char *p, size_t n, int end)
{
    eng_thread *th = c->th;
    size_t room = sizeof th->first_error - 1 - th->errlen;
    if (n > room)
        n = room;
    memcpy(th->first_error + th->errlen, p, n);
    th->errlen += n;
    th->first_error[th->errlen] = '\0';
    if (end) {
        while (th->errlen && th->first_error[th->errlen - 1] == '\r')
            th->first_error[--th->errlen] = '\0';
        c->capturing = 0;
    }
}

/* Line protocol: a reply ends at each line whose first byte is + or -; data lines are skipped
 * with memchr, so a large result costs one scan and no copy. */
static void scan_line(eng_conn *c, const char *p, size_t len)
{
    const char *end = p + len;
    while (p < end) {
        if (c->bol) {
            c->bol = 0;
            c->in_status = *p == '+' || *p == '-';
            c->status_err = *p == '-';
            if (c->status_err && c->th->first_error[0] == '\0' && c->th->errlen == 0)
                c->capturing = 1;
        }
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        if (c->capturing)
            capture(c, p, (size_t)((nl ? nl : end) - p), nl != NULL);
        if (!nl)
            return;
        p = nl + 1;
        c->bol = 1;
        if (c->in_status)
            on_reply(c, c->status_err);
    }
}

/* RESP (only what GET and SET answer): +simple, -error, :integer, $bulk with payload, $-1 nil. */
static void scan_resp(eng_conn *c, const char *p, size_t len)
{
    const char *end = p + len;
    while (p < end) {
        if (c->skip) {
            size_t k = (size_t)(end - p) < c->skip ? (size_t)(end - p) : c->skip;
            p += k;
            c->skip -= k;
            if (c->skip == 0)
                on_reply(c, 0);
            continue;
        }
        if (c->bol) {
            c->bol = 0;
            c->rtype = *p++;
            c->num = 0;
            c->neg = 0;
            if (c->rtype == '-' && c->th->first_error[0] == '\0' && c->th->errlen == 0)
                c->capturing = 1;
            continue;
        }
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *stop = nl ? nl : end;
        if (c->rtype == '$') {
            for (const char *q = p; q < stop; q++) {
                if (*q == '-')
                    c->neg = 1;
                else if (*q >= '0' && *q <= '9')
                    c->num = c->num * 10 + (*q - '0');
            }
        } else if (c->capturing) {
            capture(c, p, (size_t)(stop - p), nl != NULL);
        }
        if (!nl)
            return;
        p = nl + 1;
        c->bol = 1;
        switch (c->rtype) {
        case '$':
            if (c->neg) {
                set_error(c->th, "redis: GET answered nil (key not set)");
                on_reply(c, 1);
            } else {
                c->skip = (uint64_t)c->num + 2;   /* payload and its CRLF */
            }
            break;
        case '+':
        case ':':
            on_reply(c, 0);
            break;
        case '-':
            on_reply(c, 1);
            break;
        default:
            set_error(c->th, "redis: unexpected reply type (only GET and SET replies are framed)");
            on_reply(c, 1);
        }
    }
}

/* Also frees a connection whose set-up stopped half way (any of its parts may be NULL). */
static void close_conn(eng_conn *c)
{
    if (c->fd < 0)
        return;
    if (c->rev)
        event_free(c->rev);
    if (c->wev)
        event_free(c->wev);
    if (c->out)
        evbuffer_free(c->out);
    evutil_closesocket(c->fd);
    c->fd = -1;
    c->rev = c->wev = NULL;
    c->out = NULL;
}

/* The connection failed or the server closed it: what it had in flight is lost. e: errno, or 0 for EOF. */
static void fail_conn(eng_conn *c, int e)
{
    eng_thread *th = c->th;
    if (atomic_load(&th->r->phase) != PH_STOP) {
        char msg[200];
        if (!c->connected)
            snprintf(msg, sizeof msg, "cannot connect to %s:%d: %s", th->r->cfg->host, th->r->cfg->port,
                     e ? strerror(e) : "connection failed");
        else if (e == 0)
            snprintf(msg, sizeof msg, "the server closed a connection (%d requests in flight)", c->count);
        else
            snprintf(msg, sizeof msg, "connection error: %s", strerror(e));
        set_error(th, msg);
        atomic_fetch_add(&th->failures, 1);
    }
    atomic_fetch_add_explicit(&th->inflight, -c->count, memory_order_relaxed);
    close_conn(c);
    finish_conn(c);
}

/* Send what the replies just read made us queue, with one writev, in the same turn of the loop; the
 * write event stays armed exactly while the kernel could not take it all. */
static void flush(eng_conn *c)
{
    if (evbuffer_get_length(c->out) > 0 && evbuffer_write(c->out, c->fd) < 0 && errno != EAGAIN && errno != EINTR) {
        fail_conn(c, errno);
        return;
    }
    int want = evbuffer_get_length(c->out) > 0;
    if (want != c->wev_armed) {
        if (want)
            event_add(c->wev, NULL);
        else
            event_del(c->wev);
        c->wev_armed = want;
    }
}

static void on_connected(eng_conn *c)
{
    int e = 0;
    socklen_t len = sizeof e;
    if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &e, &len) < 0)
        e = errno;
    if (e) {
        fail_conn(c, e);
        return;
    }
    int one = 1;
    if (c->th->r->addr.ss_family != AF_UNIX)
        setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    c->connected = 1;
    event_add(c->rev, NULL);
    fill(c);
    flush(c);
}

/* The pending connect finished, or the kernel has room for what was left over. */
static void on_writable(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    eng_conn *c = arg;
    if (c->connected)
        flush(c);
    else
        on_connected(c); /* which flushes */
}

static void on_readable(evutil_socket_t fd, short what, void *arg)
{
    (void)what;
    eng_conn *c = arg;
    int redis = c->th->r->cfg->proto == ENG_REDIS;
    for (;;) {
        ssize_t n = recv(fd, c->th->rbuf, sizeof c->th->rbuf, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno == EAGAIN)
            break;
        if (n <= 0) {
            fail_conn(c, n == 0 ? 0 : errno);
            return;
        }
        if (redis)
            scan_resp(c, c->th->rbuf, (size_t)n);
        else
            scan_line(c, c->th->rbuf, (size_t)n);
        if ((size_t)n < sizeof c->th->rbuf)
            break;
    }
    flush(c);
}

static void on_timer(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    eng_thread *th = arg;
    if (atomic_load(&th->r->phase) == PH_STOP) {
        event_base_loopbreak(th->base);
        return;
    }
    pthread_mutex_lock(&th->mu);
    hist_merge(&th->live, &th->win);
    pthread_mutex_unlock(&th->mu);
    hist_init(&th->win);
}

static void *thread_main(void *arg)
{
    eng_thread *th = arg;
    run *r = th->r;
    const eng_config *cfg = r->cfg;
    for (int i = 0; i < th->nconns; i++) {
        eng_conn *c = &th->conns[i];
        c->th = th;
        c->bol = 1;
        c->cap = cfg->depth;
        c->ring = calloc((size_t)cfg->depth, sizeof *c->ring);
        c->cs = cfg->gen.conn_init ? cfg->gen.conn_init(cfg->gen.ud, th->first_index + i) : NULL;
        c->fd = socket(r->addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (c->fd < 0) {
            fail_conn(c, errno);
            continue;
        }
        c->rev = event_new(th->base, c->fd, EV_READ | EV_PERSIST, on_readable, c);
        c->wev = event_new(th->base, c->fd, EV_WRITE | EV_PERSIST, on_writable, c);
        c->out = evbuffer_new();
        if (!c->ring || !c->rev || !c->wev || !c->out) {
            set_error(th, "out of memory");
            atomic_fetch_add(&th->failures, 1);
            close_conn(c);
            finish_conn(c);
            continue;
        }
        /* A Unix socket connects at once; TCP says EINPROGRESS and the write event completes it. */
        if (connect(c->fd, (struct sockaddr *)&r->addr, r->addrlen) == 0)
            on_connected(c);
        else if (errno == EINPROGRESS)
            c->wev_armed = event_add(c->wev, NULL) == 0;
        else
            fail_conn(c, errno);
    }
    struct timeval tv = { 0, 50000 };
    event_add(th->timer, &tv);
    event_base_dispatch(th->base);
    return NULL;
}

static int resolve(run *r, const char *host, int port, char *err, size_t errlen)
{
    socklen_t len;
    if (ctl_resolve(host, port, &r->addr, &len, err, errlen) < 0)
        return -1;
    r->addrlen = len;
    return 0;
}

int eng_run(const eng_config *cfg, eng_result *res)
{
    memset(res, 0, sizeof *res);
    hist_init(&res->lat);
    run r = { .cfg = cfg };
    if (resolve(&r, cfg->host, cfg->port, res->first_error, sizeof res->first_error) < 0) {
        res->conn_failures = cfg->connections;
        return -1;
    }
    static int threads_ready;
    if (!threads_ready) {
        evthread_use_pthreads();
        threads_ready = 1;
    }
    int nth = cfg->threads < cfg->connections ? cfg->threads : cfg->connections;
    if (nth < 1)
        nth = 1;
    r.nthreads = nth;
    r.th = calloc((size_t)nth, sizeof *r.th);
    hist *tickh = malloc(sizeof *tickh);
    if (!r.th || !tickh) {
        free(r.th);
        free(tickh);
        snprintf(res->first_error, sizeof res->first_error, "out of memory");
        return -1;
    }
    double t0 = eng_now();
    atomic_store(&r.phase, cfg->warmup > 0 ? PH_WARMUP : PH_MEASURE);
    double mstart = t0, mend = 0;
    for (int t = 0; t < nth; t++) {
        eng_thread *th = &r.th[t];
        th->r = &r;
        th->first_index = (int)((int64_t)cfg->connections * t / nth);
        th->nconns = (int)((int64_t)cfg->connections * (t + 1) / nth) - th->first_index;
        th->conns = calloc((size_t)th->nconns, sizeof *th->conns);
        th->base = event_base_new();
        th->timer = th->base ? event_new(th->base, -1, EV_PERSIST, on_timer, th) : NULL;
        hist_init(&th->lat);
        hist_init(&th->win);
        hist_init(&th->live);
        pthread_mutex_init(&th->mu, NULL);
        if (!th->conns || !th->timer || pthread_create(&th->tid, NULL, thread_main, th) != 0) {
            fprintf(stderr, "litecached-bench: cannot start thread %d\n", t);
            exit(1);
        }
    }

    /* The main thread only watches: phase changes, progress, and the end. */
    double next_tick = t0 + 0.25, last_tick = t0, last_progress = t0, drain_until = 0;
    uint64_t last_measured = 0, last_completed = 0;
    for (;;) {
        usleep(2000);
        double now = eng_now();
        int ph = atomic_load(&r.phase);
        int finished = 0, failures = 0;
        int64_t inflight = 0;
        uint64_t measured = 0, completed = 0, errors = 0;
        for (int t = 0; t < nth; t++) {
            finished += atomic_load(&r.th[t].finished);
            failures += atomic_load(&r.th[t].failures);
            inflight += atomic_load(&r.th[t].inflight);
            measured += atomic_load(&r.th[t].measured_done);
            completed += atomic_load(&r.th[t].completed);
            errors += atomic_load(&r.th[t].errors);
        }
        if (completed != last_completed || inflight == 0)
            last_progress = now;
        last_completed = completed;
        if (failures >= cfg->connections) {
            mend = now;
            break;
        }
        if (ph == PH_WARMUP && now - t0 >= cfg->warmup) {
            mstart = now;
            atomic_store(&r.phase, PH_MEASURE);
            ph = PH_MEASURE;
        }
        if (finished >= cfg->connections && inflight == 0) {
            uint64_t last = 0;
            for (int t = 0; t < nth; t++)
                if (atomic_load(&r.th[t].last_done_ns) > last)
                    last = atomic_load(&r.th[t].last_done_ns);
            mend = last ? (double)last / 1e9 : now;
            if (ph == PH_DRAIN)
                mend = drain_until - cfg->drain_timeout;
            break;
        }
        if (ph == PH_MEASURE && cfg->duration > 0 && now - mstart >= cfg->duration) {
            mend = now;
            drain_until = now + cfg->drain_timeout;
            atomic_store(&r.phase, PH_DRAIN);
            ph = PH_DRAIN;
        }
        if (ph == PH_DRAIN && (inflight == 0 || now >= drain_until)) {
            mend = drain_until - cfg->drain_timeout;
            break;
        }
        if (now - last_progress > STALL_SECONDS) {
            snprintf(res->first_error, sizeof res->first_error,
                     "no reply for %.0f s with %lld requests in flight", STALL_SECONDS, (long long)inflight);
            mend = now;
            break;
        }
        if (cfg->tick && now >= next_tick) {
            hist_init(tickh);
            for (int t = 0; t < nth; t++) {
                pthread_mutex_lock(&r.th[t].mu);
                hist_merge(tickh, &r.th[t].live);
                hist_init(&r.th[t].live);
                pthread_mutex_unlock(&r.th[t].mu);
            }
            eng_tick tk = { .elapsed = now - t0, .measuring = ph != PH_WARMUP,
                            .rps = (double)(measured - last_measured) / (now - last_tick),
                            .p99_us = hist_percentile(tickh, 99), .errors = errors };
            cfg->tick(cfg->tick_ud, &tk);
            last_measured = measured;
            last_tick = now;
            next_tick = now + 0.25;
        }
    }
    atomic_store(&r.phase, PH_STOP);
    int failures = 0;
    for (int t = 0; t < nth; t++) {
        eng_thread *th = &r.th[t];
        pthread_join(th->tid, NULL);
        hist_merge(&res->lat, &th->lat);
        res->sent += th->sent;
        res->completed += th->completed;
        res->errors += th->errors;
        failures += th->failures;
        for (int i = 0; i < th->nconns; i++) {
            eng_conn *c = &th->conns[i];
            res->lost += (uint64_t)c->count;
            close_conn(c);
            if (cfg->gen.conn_free)
                cfg->gen.conn_free(cfg->gen.ud, c->cs);
            free(c->ring);
        }
        if (res->first_error[0] == '\0' && th->first_error[0])
            snprintf(res->first_error, sizeof res->first_error, "%s", th->first_error);
        event_free(th->timer);
        event_base_free(th->base);
        pthread_mutex_destroy(&th->mu);
        free(th->conns);
    }
    res->conn_failures = failures;
    res->requests = hist_count(&res->lat);
    res->seconds = mend > mstart ? mend - mstart : 0;
    free(r.th);
    free(tickh);
    return failures >= cfg->connections ? -1 : 0;
}
