/* server.c - the listening socket, the worker threads and the writer, started and stopped together. */
#include "server.h"

#include <arpa/inet.h>
#include <errno.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <event2/thread.h>
#include <netdb.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "catalog.h"
#include "db.h"
#include "httpd.h"
#include "log.h"
#include "pgcancel.h"
#include "pgwire.h"
#include "unixsock.h"
#include "users.h"
#include "rcache.h"
#include "replica.h"
#include "sdnotify.h"
#include "stats.h"
#include "worker.h"
#include "writer.h"

typedef struct server {
    config                *cfg;      /* SIGHUP changes its LIVE settings (config.h) */
    struct event_base     *base;
    struct evconnlistener *listener;
    struct evconnlistener *pg_listener; /* pg_port: PostgreSQL only */
    struct evconnlistener *unix_listener, *unix_pg_listener; /* the same two, on unix_socket_dir */
    char                   unix_path[128], unix_pg_path[128]; /* removed at exit; "" = none */
    struct event          *sweep;
    struct event          *accept_retry; /* re-enables the listeners after accept ran out of fds */
    int64_t                accept_logged_ms; /* when that was last logged (monotonic); 0 = never */
    unsigned               accept_fails;  /* failed accepts since */
    worker               **workers;
    int                    nworkers;
    unsigned               next;
    worker_shared          shared;
    writer                *wr;
    httpd                 *http;
    /* users_file copies replaced by reloads: a session may still point into one, so they are
     * freed only at exit (past the array's end, never). */
    const users_list          *old_users[16];
    int                    nold_users;
} server;

static const char too_many[] = "-ERR 53300 too many connections\n";

static void accept_conn(server *s, evutil_socket_t fd, int pg)
{
    if (stats_get(STATS_CONN_CURRENT) >= s->cfg->max_connections) {
        /* Best effort: the socket is fresh, so the short reply fits its buffer. On pg_port it is
         * what PostgreSQL sends (its clients read it as the answer to their startup packet); on
         * the shared port the protocol is not known yet, and the line's reply is the readable one. */
        ssize_t r;
        if (pg) {
            buf b;
            buf_init(&b);
            pgwire_error_fields e = {"FATAL", "53300", "sorry, too many clients already", NULL, NULL, 0};
            pgwire_error(&b, &e);
            r = b.oom ? 0 : send(fd, b.data, b.len, MSG_NOSIGNAL | MSG_DONTWAIT);
            buf_free(&b);
        } else {
            r = send(fd, too_many, sizeof too_many - 1, MSG_NOSIGNAL | MSG_DONTWAIT);
        }
        (void)r;
        close(fd);
        stats_add(STATS_CONN_REFUSED, 1);
        return;
    }
    /* Counted here, not on the worker, so a burst of accepts cannot overshoot max_connections. */
    stats_add(STATS_CONN_CURRENT, 1);
    /* Round robin, passing over a worker that is busy running a statement right now: a
     * PostgreSQL cancel request must reach a worker that can act on it while the statement it
     * cancels still runs. */
    unsigned n = (unsigned)s->nworkers, pick = s->next++ % n;
    for (unsigned k = 0; k < n && worker_busy(s->workers[pick]); k++)
        pick = (pick + 1) % n;
    worker_add_conn(s->workers[pick], fd, pg);
}

static void on_accept(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa, int salen, void *arg)
{
    (void)l;
    (void)sa;
    (void)salen;
    accept_conn(arg, fd, 0);
}

static void on_accept_pg(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa, int salen, void *arg)
{
    (void)l;
    (void)sa;
    (void)salen;
    accept_conn(arg, fd, 1);
}

static int all_listeners(server *s, struct evconnlistener *out[4])
{
    struct evconnlistener *all[4] = {s->listener, s->pg_listener, s->unix_listener, s->unix_pg_listener};
    int n = 0;
    for (int i = 0; i < 4; i++)
        if (all[i])
            out[n++] = all[i];
    return n;
}

#define ACCEPT_RETRY_MS 100
#define ACCEPT_LOG_EVERY_MS 10000

/* accept() failed for a reason other than a connection gone before it was taken: out of file
 * descriptors (EMFILE, ENFILE) or kernel memory. The pending connection stays queued, so the
 * listener would be readable again at once and libevent would retry (and log) in a busy loop.
 * As memcached does, stop listening and try again a little later; a connection that closes
 * meanwhile frees the descriptor the retry needs (and each close lets one more in, so an episode
 * may end and start again many times a second: it is logged at most every ACCEPT_LOG_EVERY_MS). */
static void on_accept_error(struct evconnlistener *l, void *arg)
{
    server *s = arg;
    int err = EVUTIL_SOCKET_ERROR();
    (void)l;
    struct evconnlistener *ls[4];
    for (int i = 0, n = all_listeners(s, ls); i < n; i++)
        evconnlistener_disable(ls[i]);
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    int64_t now = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
    s->accept_fails++;
    if (!s->accept_logged_ms || now - s->accept_logged_ms >= ACCEPT_LOG_EVERY_MS) {
        log_warn("accept: %s: new connections wait, retried every %d ms (%u failed accepts since this was last logged)",
                 strerror(err), ACCEPT_RETRY_MS, s->accept_fails);
        s->accept_logged_ms = now;
        s->accept_fails = 0;
    }
    struct timeval later = {0, ACCEPT_RETRY_MS * 1000};
    event_add(s->accept_retry, &later);
}

static void on_accept_retry(evutil_socket_t fd, short what, void *arg)
{
    server *s = arg;
    (void)fd;
    (void)what;
    struct evconnlistener *ls[4];
    for (int i = 0, n = all_listeners(s, ls); i < n; i++)
        evconnlistener_enable(ls[i]);
}

static void on_signal(evutil_socket_t sig, short what, void *arg)
{
    server *s = arg;
    (void)what;
    log_info("received %s: shutting down", sig == SIGINT ? "SIGINT" : "SIGTERM");
    event_base_loopbreak(s->base);
}

/* Values derived from LIVE settings and kept outside the config: pushed at start and on reload. */
static void apply_live(server *s)
{
    char err[512];
    log_set_level(s->cfg->log_level);
    query_set_slow_log(s->cfg->slow_query_ms, s->cfg->log_parameters);
    writer_set_idle_timeout(s->wr, s->cfg->idle_in_transaction_timeout);
    cache_set_max_entry_bytes(rcache_cache(s->shared.rc), s->cfg->cache_max_entry_bytes);
    /* Reopening the same file is harmless, so a changed log_file needs no comparison. */
    if (log_open(s->cfg->log_file, err, sizeof err) < 0)
        log_error("%s", err);
}

static void on_change(void *ud, const char *name, const char *from, const char *to, int live)
{
    (void)ud;
    if (live)
        log_info("reload: %s changed from %s to %s", name, from, to);
    else
        log_warn("reload: %s changed: needs a restart (running with %s; the file now says %s)", name, from, to);
}

/* users_file is read again on every reload: adding a user needs no restart. */
static void reload_users(server *s)
{
    char err[512];
    users_list *fresh = users_load(s->cfg->users_file, err, sizeof err);
    if (!fresh) {
        log_error("reload: users_file not read again, the current users are kept: %s", err);
        return;
    }
    const users_list *old = atomic_exchange(&s->shared.users, fresh);
    if (s->nold_users < (int)(sizeof s->old_users / sizeof s->old_users[0]))
        s->old_users[s->nold_users++] = old;
}

/* SIGHUP: read the file again; a bad file changes nothing. */
static void on_reload(evutil_socket_t sig, short what, void *arg)
{
    server *s = arg;
    char err[512];
    (void)sig;
    (void)what;
    sdnotify_send("RELOADING=1");
    int n = config_reload(s->cfg, on_change, s, err, sizeof err);
    if (n < 0) {
        stats_add(STATS_RELOAD_ERRORS, 1);
        log_error("reload failed, the running settings are kept: %s", err);
    } else {
        apply_live(s);
        reload_users(s);
        stats_add(STATS_RELOADS, 1);
        log_info("reload: %s read again, %d setting%s changed live", s->cfg->config_path, n, n == 1 ? "" : "s");
    }
    sdnotify_send("READY=1");
}

/* SIGUSR1: logrotate has renamed the log file; write to a new one of the same name. */
static void on_reopen(evutil_socket_t sig, short what, void *arg)
{
    char err[512];
    (void)sig;
    (void)what;
    (void)arg;
    if (log_reopen(err, sizeof err) < 0)
        log_error("reopening the log: %s", err);
    else
        log_info("log file reopened");
}

/* Expired entries are never served; this only gives their memory back. */
static void on_sweep(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    cache_sweep(rcache_cache(arg));
}

static struct evconnlistener *listen_on(server *s, int port_num, evconnlistener_cb cb)
{
    struct addrinfo hints = {0}, *res = NULL;
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
    char port[16];
    snprintf(port, sizeof port, "%d", port_num);
    int rc = getaddrinfo(s->cfg->bind, port, &hints, &res);
    if (rc != 0) {
        log_error("bind %s: %s", s->cfg->bind, gai_strerror(rc));
        return NULL;
    }
    struct evconnlistener *l = evconnlistener_new_bind(
        s->base, cb, s, LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE | LEV_OPT_CLOSE_ON_EXEC, 1024,
        res->ai_addr, (int)res->ai_addrlen);
    if (!l)
        log_error("cannot listen on %s:%d: %s", s->cfg->bind, port_num, strerror(errno));
    freeaddrinfo(res);
    return l;
}

/* The Unix-domain twin of the TCP port port_num: path records the file for removal at exit. */
static struct evconnlistener *listen_unix(server *s, int port_num, evconnlistener_cb cb, char *path, size_t pathlen)
{
    char err[512];
    if (unixsock_path(s->cfg->unix_socket_dir, port_num, path, pathlen) < 0) {
        log_error("unix_socket_dir = %s: the socket path %s/.s.PGSQL.%d is too long for a Unix-domain socket",
                  s->cfg->unix_socket_dir, s->cfg->unix_socket_dir, port_num);
        path[0] = '\0';
        return NULL;
    }
    int fd = unixsock_listen(path, 1024, err, sizeof err);
    if (fd < 0) {
        log_error("%s", err);
        path[0] = '\0';
        return NULL;
    }
    struct evconnlistener *l = evconnlistener_new(s->base, cb, s, LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC, -1, fd);
    if (!l) {
        log_error("cannot watch %s", path);
        close(fd);
        unlink(path);
        path[0] = '\0';
    }
    return l;
}

/* pgcancel's way to the writer: a cancel request for a connection whose write is running. */
static int cancel_write(void *ud, uint64_t conn_id) { return writer_cancel(ud, conn_id); }

static int cpu_count(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (int)n : 1;
}

int server_run(config *cfg)
{
    server s = {.cfg = cfg};
    char err[1024];
    int status = 1;
    writer *wr = NULL;
    catalog *cat = NULL;
    users_list *users = NULL;
    auth *au = NULL;
    struct event *sigint = NULL, *sigterm = NULL, *sighup = NULL, *sigusr1 = NULL;

    /* Must precede the first sqlite3 call. */
    if (db_memory_init() < 0)
        log_warn("cannot install SQLite's allocator: max_statement_memory is not enforced");
    signal(SIGPIPE, SIG_IGN);
    evthread_use_pthreads();
    stats_init();
    log_set_level(cfg->log_level);
    if (log_open(cfg->log_file, err, sizeof err) < 0) {
        log_error("%s", err);
        return 1;
    }
    query_set_slow_log(cfg->slow_query_ms, cfg->log_parameters);

    /* The writer opens first: it creates the file, switches it to WAL and applies the schema. */
    db_conn *wdb = db_open(cfg, DB_WRITER, err, sizeof err);
    if (!wdb) {
        log_error("%s", err);
        return 1;
    }
    cat = catalog_build(wdb, cfg->query_files, err, sizeof err);
    if (!cat) {
        log_error("named queries: %s", err);
        db_close(wdb);
        return 1;
    }
    users = users_load(cfg->users_file, err, sizeof err);
    if (!users) {
        log_error("users_file: %s", err);
        db_close(wdb);
        catalog_free(cat);
        return 1;
    }
    rcache *rc = rcache_new(cfg, err, sizeof err);
    if (!rc) {
        log_error("cache: %s", err);
        db_close(wdb);
        catalog_free(cat);
        users_free(users);
        return 1;
    }
    /* Before the writer starts: the copy is taken from its connection, which then carries the session. */
    replica *rep = replica_open(cfg, wdb, rcache_watch(rc), err, sizeof err);
    if (!rep && cfg->read_replica != CONFIG_REPLICA_OFF) {
        log_error("%s", err);
        db_close(wdb);
        catalog_free(cat);
        rcache_free(rc);
        users_free(users);
        return 1;
    }
    rcache_set_replica(rc, rep);
    writer_opts wo = {
        .group_max = cfg->group_commit_max,
        .group_wait_us = cfg->group_commit_wait_us,
        .sync_wal = db_writer_syncs_wal(cfg),
        /* Without it reads still work; each just locks its WAL read mark in the kernel. */
        .pin = db_open(cfg, DB_READER, err, sizeof err),
        .idle_tx_s = cfg->idle_in_transaction_timeout,
        .checkpoint_pages = cfg->wal_checkpoint_pages,
        /* The replica's end runs first, inside the cache's: changes are in the replica before the
         * cache's versions move, and both before the acknowledgement. */
        .hooks = {{rc, rcache_hook_begin, rcache_hook_note, rcache_hook_end, NULL},
                  {rep, NULL, NULL, rep ? replica_hook_end : NULL, rep ? replica_hook_detach : NULL}},
    };
    if (!(wr = writer_start(wdb, &wo, err, sizeof err))) {
        log_error("%s", err);
        replica_free(rep);
        db_close(wo.pin);
        db_close(wdb);
        catalog_free(cat);
        rcache_free(rc);
        users_free(users);
        return 1;
    }
    s.wr = wr;
    pgcancel_set_writer(cancel_write, wr);
    if (!(au = auth_start(err, sizeof err))) {
        log_error("%s", err);
        goto out;
    }
    s.shared = (worker_shared){cfg, wr, cat, rc, users, au, rep};
    s.nworkers = cfg->workers > 0 ? cfg->workers : cpu_count();
    s.workers = calloc((size_t)s.nworkers, sizeof *s.workers);
    if (!s.workers || !(s.base = event_base_new()))
        goto out;
    for (int i = 0; i < s.nworkers; i++) {
        if (!(s.workers[i] = worker_start(i, &s.shared, err, sizeof err))) {
            log_error("worker %d: %s", i, err);
            goto out;
        }
    }
    /* The main TCP port opens last: a client (or a test, or a health check) that can connect to
     * it finds the other endpoints listening too. */
    if (cfg->http_port && !(s.http = httpd_start(s.base, cfg, rc, err, sizeof err))) {
        log_error("%s", err);
        goto out;
    }
    if (cfg->unix_socket_dir[0]) {
        if (!(s.unix_listener = listen_unix(&s, cfg->port, on_accept, s.unix_path, sizeof s.unix_path)))
            goto out;
        if (cfg->pg_port &&
            !(s.unix_pg_listener = listen_unix(&s, cfg->pg_port, on_accept_pg, s.unix_pg_path, sizeof s.unix_pg_path)))
            goto out;
    }
    if (cfg->pg_port && !(s.pg_listener = listen_on(&s, cfg->pg_port, on_accept_pg)))
        goto out;
    if (!(s.listener = listen_on(&s, cfg->port, on_accept)))
        goto out;
    if (!(s.accept_retry = evtimer_new(s.base, on_accept_retry, &s)))
        goto out;
    struct evconnlistener *ls[4];
    for (int i = 0, n = all_listeners(&s, ls); i < n; i++)
        evconnlistener_set_error_cb(ls[i], on_accept_error);
    s.sweep = event_new(s.base, -1, EV_PERSIST, on_sweep, rc);
    struct timeval every = {cfg->cache_sweep_ms / 1000, (cfg->cache_sweep_ms % 1000) * 1000};
    event_add(s.sweep, &every);
    sigint = evsignal_new(s.base, SIGINT, on_signal, &s);
    sigterm = evsignal_new(s.base, SIGTERM, on_signal, &s);
    sighup = evsignal_new(s.base, SIGHUP, on_reload, &s);
    sigusr1 = evsignal_new(s.base, SIGUSR1, on_reopen, &s);
    event_add(sigint, NULL);
    event_add(sigterm, NULL);
    event_add(sighup, NULL);
    event_add(sigusr1, NULL);
    log_info("litecached %s listening on %s:%d, database %s, %d workers, %zu named queries",
             LITECACHED_VERSION, cfg->bind, cfg->port, cfg->db_path, s.nworkers, catalog_count(cat));
    if (cfg->pg_port)
        log_info("PostgreSQL protocol also on %s:%d", cfg->bind, cfg->pg_port);
    if (s.unix_path[0])
        log_info("also listening on %s%s%s", s.unix_path, s.unix_pg_path[0] ? " and, PostgreSQL only, " : "",
                 s.unix_pg_path);
    if (cfg->http_port)
        log_info("metrics on http://%s:%d/metrics", cfg->http_bind, cfg->http_port);
    sdnotify_send("READY=1");
    event_base_dispatch(s.base);
    sdnotify_send("STOPPING=1");
    status = 0;
out:
    /* Stop accepting first, then let every worker finish its clients, then the writer its queue. */
    if (s.listener)
        evconnlistener_free(s.listener);
    if (s.pg_listener)
        evconnlistener_free(s.pg_listener);
    if (s.unix_listener)
        evconnlistener_free(s.unix_listener);
    if (s.unix_pg_listener)
        evconnlistener_free(s.unix_pg_listener);
    /* Only files this server created: a refused start never removes another server's socket. */
    if (s.unix_path[0])
        unlink(s.unix_path);
    if (s.unix_pg_path[0])
        unlink(s.unix_pg_path);
    httpd_free(s.http);
    auth_hurry(au); /* a login held back for a failing address must not hold up the exit */
    for (int i = 0; i < s.nworkers; i++)
        if (s.workers && s.workers[i])
            worker_stop(s.workers[i]);
    for (int i = 0; i < s.nworkers; i++)
        if (s.workers && s.workers[i])
            worker_join(s.workers[i]);
    auth_stop(au);
    pgcancel_set_writer(NULL, NULL);
    writer_stop(wr);
    replica_free(rep);
    rcache_free(rc);
    catalog_free(cat);
    /* The current users (a reload may have replaced the start-up copy), then the replaced ones. */
    users_free((users_list *)atomic_load(&s.shared.users));
    for (int i = 0; i < s.nold_users; i++)
        users_free((users_list *)s.old_users[i]);
    if (s.sweep)
        event_free(s.sweep);
    if (s.accept_retry)
        event_free(s.accept_retry);
    if (sigint)
        event_free(sigint);
    if (sigterm)
        event_free(sigterm);
    if (sighup)
        event_free(sighup);
    if (sigusr1)
        event_free(sigusr1);
    if (s.base)
        event_base_free(s.base);
    free(s.workers);
    log_info("stopped");
    return status;
}
