/* server.c - the listening socket, the worker threads and the writer, started and stopped together. */
#include "server.h"

#include <arpa/inet.h>
#include <errno.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <event2/thread.h>
#include <netdb.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "catalog.h"
#include "db.h"
#include "log.h"
#include "rcache.h"
#include "stats.h"
#include "worker.h"
#include "writer.h"

typedef struct server {
    const config          *cfg;
    struct event_base     *base;
    struct evconnlistener *listener;
    struct event          *sweep;
    worker               **workers;
    int                    nworkers;
    unsigned               next;
    worker_shared          shared;
} server;

static const char too_many[] = "-ERR 53300 too many connections\n";

static void on_accept(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa, int salen, void *arg)
{
    server *s = arg;
    (void)l;
    (void)sa;
    (void)salen;
    if (stats_get(STATS_CONN_CURRENT) >= s->cfg->max_connections) {
        /* Best effort: the socket is fresh, so the short reply fits its buffer. */
        ssize_t r = send(fd, too_many, sizeof too_many - 1, MSG_NOSIGNAL | MSG_DONTWAIT);
        (void)r;
        close(fd);
        stats_add(STATS_CONN_REFUSED, 1);
        return;
    }
    /* Counted here, not on the worker, so a burst of accepts cannot overshoot max_connections. */
    stats_add(STATS_CONN_CURRENT, 1);
    worker_add_conn(s->workers[s->next++ % (unsigned)s->nworkers], fd);
}

static void on_signal(evutil_socket_t sig, short what, void *arg)
{
    server *s = arg;
    (void)what;
    log_info("received %s: shutting down", sig == SIGINT ? "SIGINT" : "SIGTERM");
    event_base_loopbreak(s->base);
}

/* Expired entries are never served; this only gives their memory back. */
static void on_sweep(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    cache_sweep(rcache_cache(arg));
}

static struct evconnlistener *listen_on(server *s)
{
    struct addrinfo hints = {0}, *res = NULL;
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
    char port[16];
    snprintf(port, sizeof port, "%d", s->cfg->port);
    int rc = getaddrinfo(s->cfg->bind, port, &hints, &res);
    if (rc != 0) {
        log_error("bind %s: %s", s->cfg->bind, gai_strerror(rc));
        return NULL;
    }
    struct evconnlistener *l = evconnlistener_new_bind(
        s->base, on_accept, s, LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE | LEV_OPT_CLOSE_ON_EXEC, 1024,
        res->ai_addr, (int)res->ai_addrlen);
    if (!l)
        log_error("cannot listen on %s:%d: %s", s->cfg->bind, s->cfg->port, strerror(errno));
    freeaddrinfo(res);
    return l;
}

static int cpu_count(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (int)n : 1;
}

int server_run(const config *cfg)
{
    server s = {.cfg = cfg};
    char err[1024];
    int status = 1;
    writer *wr = NULL;
    catalog *cat = NULL;
    struct event *sigint = NULL, *sigterm = NULL;

    signal(SIGPIPE, SIG_IGN);
    evthread_use_pthreads();
    stats_init();
    log_set_level(cfg->log_level);

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
    rcache *rc = rcache_new(cfg, err, sizeof err);
    if (!rc) {
        log_error("cache: %s", err);
        db_close(wdb);
        catalog_free(cat);
        return 1;
    }
    writer_opts wo = {
        .group_max = cfg->group_commit_max,
        .group_wait_us = cfg->group_commit_wait_us,
        .idle_tx_s = cfg->idle_in_transaction_timeout,
        .checkpoint_pages = cfg->wal_checkpoint_pages,
        .hooks = {rc, rcache_hook_begin, rcache_hook_note, rcache_hook_end},
    };
    if (!(wr = writer_start(wdb, &wo, err, sizeof err))) {
        log_error("%s", err);
        db_close(wdb);
        catalog_free(cat);
        rcache_free(rc);
        return 1;
    }
    s.shared = (worker_shared){cfg, wr, cat, rc};
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
    if (!(s.listener = listen_on(&s)))
        goto out;
    s.sweep = event_new(s.base, -1, EV_PERSIST, on_sweep, rc);
    struct timeval every = {cfg->cache_sweep_ms / 1000, (cfg->cache_sweep_ms % 1000) * 1000};
    event_add(s.sweep, &every);
    sigint = evsignal_new(s.base, SIGINT, on_signal, &s);
    sigterm = evsignal_new(s.base, SIGTERM, on_signal, &s);
    event_add(sigint, NULL);
    event_add(sigterm, NULL);
    log_info("litecached %s listening on %s:%d, database %s, %d workers, %zu named queries",
             LITECACHED_VERSION, cfg->bind, cfg->port, cfg->db_path, s.nworkers, catalog_count(cat));
    event_base_dispatch(s.base);
    status = 0;
out:
    /* Stop accepting first, then let every worker finish its clients, then the writer its queue. */
    if (s.listener)
        evconnlistener_free(s.listener);
    for (int i = 0; i < s.nworkers; i++)
        if (s.workers && s.workers[i])
            worker_stop(s.workers[i]);
    for (int i = 0; i < s.nworkers; i++)
        if (s.workers && s.workers[i])
            worker_join(s.workers[i]);
    writer_stop(wr);
    rcache_free(rc);
    catalog_free(cat);
    if (s.sweep)
        event_free(s.sweep);
    if (sigint)
        event_free(sigint);
    if (sigterm)
        event_free(sigterm);
    if (s.base)
        event_base_free(s.base);
    free(s.workers);
    log_info("stopped");
    return status;
}
