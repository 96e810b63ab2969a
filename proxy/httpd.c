/* httpd.c - the HTTP endpoint on the main thread's event_base: /metrics (Prometheus), /health and /stats (JSON). */
#include "httpd.h"


#include <errno.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/event.h>
#include <event2/http.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "lineproto.h"
#include "log.h"
#include "metrics.h"
#include "stats.h"

/* /health: the check runs on a thread of its own, since SQLite may spend seconds retrying a WAL
 * lock another process holds, and the main loop accepts every client. Past the deadline the answer
 * is 503 whatever the check later finds. */
#define HTTPD_HEALTH_BUSY_MS 1000
#define HTTPD_HEALTH_DEADLINE_MS 2000
#define HTTPD_MAX_NAMED 128

typedef struct health_job health_job;

struct httpd {
    struct evhttp     *http;
    struct event_base *base;
    const config      *cfg;
    rcache            *rc;
    health_job        *jobs;      /* main thread only */
    pthread_mutex_t    lock;      /* guards running */
    pthread_cond_t     idle;
    int                running;   /* health threads not yet finished */
};

/* One /health request. The main thread owns it; the check thread only fills ok/why, then hands
 * it back through event_base_once. It is freed once answered and its thread is done. */
struct health_job {
    httpd                  *h;
    struct evhttp_request  *req;       /* NULL once answered, or when the client went away */
    struct event           *deadline;
    char                    db_path[4096];
    int                     ok, answered, checked;
    char                    why[256];
    health_job             *next;
};

static void reply(struct evhttp_request *req, int code, const char *reason, const char *type, const buf *body)
{
    struct evbuffer *evb = evbuffer_new();
    if (!evb) {
        evhttp_send_error(req, 500, "out of memory");
        return;
    }
    if (body->oom) {
        evbuffer_free(evb);
        evhttp_send_error(req, 500, "out of memory");
        return;
    }
    evbuffer_add(evb, body->data ? body->data : "", body->len);
    struct evkeyvalq *h = evhttp_request_get_output_headers(req);
    evhttp_add_header(h, "Content-Type", type);
    evhttp_add_header(h, "Cache-Control", "no-store");
    evhttp_send_reply(req, code, reason, evb);
    evbuffer_free(evb);
}

static int64_t wal_bytes(const char *db_path)
{
    char path[4096];
    struct stat st;
    snprintf(path, sizeof path, "%s-wal", db_path);
    return stat(path, &st) == 0 ? (int64_t)st.st_size : 0;
}

static void serve_metrics(httpd *h, buf *out)
{
    metrics_input in = {.version = LITECACHED_VERSION, .sqlite_version = sqlite3_libversion()};
    stats_named requests[HTTPD_MAX_NAMED], errors[HTTPD_MAX_NAMED];
    in.uptime_s = stats_uptime();
    for (int i = 0; i < STATS__COUNT; i++)
        in.counters[i] = stats_get(i);
    in.requests = requests;
    in.nrequests = stats_requests(requests, HTTPD_MAX_NAMED);
    in.errors = errors;
    in.nerrors = stats_errors_by_state(errors, HTTPD_MAX_NAMED);
    stats_latency_hist(&in.latency);
    stats_group_hist(&in.groups);
    if (h->rc) {
        in.have_cache = 1;
        cache_get_stats(rcache_cache(h->rc), &in.cache);
        in.foreign_commits = rcache_foreign_commits(h->rc);
        if (rcache_replica(h->rc)) {
            in.have_replica = 1;
            replica_get_stats(rcache_replica(h->rc), &in.replica);
        }
    }
    in.wal_bytes = wal_bytes(h->cfg->db_path);
    metrics_render(&in, out);
}

/* A trivial read on a connection of its own: it answers only if the file is there, is a
 * database, and is not locked away from readers. */
static int database_answers(const config *cfg, char *why, size_t whylen)
{
    sqlite3 *db = NULL;
    int rc = sqlite3_open_v2(cfg->db_path, &db, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX, NULL);
    if (rc == SQLITE_OK) {
        sqlite3_busy_timeout(db, HTTPD_HEALTH_BUSY_MS);
        rc = sqlite3_exec(db, "SELECT count(*) FROM sqlite_schema", NULL, NULL, NULL);
    }
    if (rc != SQLITE_OK)
        snprintf(why, whylen, "%s", db ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
    sqlite3_close(db);
    return rc == SQLITE_OK;
}

static void health_body(int ok, const char *why, buf *out)
{
    buf_printf(out, "{\"status\":\"%s\",\"version\":\"%s\",\"uptime\":%lld,\"connections\":%lld", ok ? "ok" : "unavailable",
               LITECACHED_VERSION, (long long)stats_uptime(), (long long)stats_get(STATS_CONN_CURRENT));
    if (!ok) {
        buf_puts(out, ",\"error\":");
        lp_put_json_string(out, why, strlen(why));
    }
    buf_puts(out, "}\n");
}

static void health_release(health_job *j)
{
    if (!j->answered || !j->checked)
        return;
    for (health_job **p = &j->h->jobs; *p; p = &(*p)->next)
        if (*p == j) {
            *p = j->next;
            break;
        }
    event_free(j->deadline);
    free(j);
}

static void health_answer(health_job *j, int ok, const char *why)
{
    if (j->answered)
        return;
    j->answered = 1;
    if (j->req) {
        buf body;
        buf_init(&body);
        health_body(ok, why, &body);
        evhttp_connection_set_closecb(evhttp_request_get_connection(j->req), NULL, NULL);
        reply(j->req, ok ? 200 : 503, ok ? "OK" : "Service Unavailable", "application/json", &body);
        buf_free(&body);
        j->req = NULL;
    }
}

/* The client closed before the answer: never touch its request again. */
static void on_health_client_gone(struct evhttp_connection *evcon, void *arg)
{
    (void)evcon;
    health_job *j = arg;
    j->req = NULL;
}

static void on_health_deadline(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    health_job *j = arg;
    health_answer(j, 0, "the database did not answer in time");
    health_release(j);
}

static void on_health_checked(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    health_job *j = arg;
    j->checked = 1;
    health_answer(j, j->ok, j->why);
    health_release(j);
}

static void *health_main(void *arg)
{
    health_job *j = arg;
    httpd *h = j->h;
    config c = {.db_path = j->db_path};
    j->ok = database_answers(&c, j->why, sizeof j->why);
    pthread_mutex_lock(&h->lock);
    /* Past httpd_free's wait the loop never runs again, and the once-event is simply freed. */
    struct timeval now = {0, 0};
    if (event_base_once(h->base, -1, EV_TIMEOUT, on_health_checked, j, &now) < 0)
        log_warn("health check: cannot hand the result back");
    h->running--;
    pthread_cond_broadcast(&h->idle);
    pthread_mutex_unlock(&h->lock);
    return NULL;
}

static void serve_health(httpd *h, struct evhttp_request *req)
{
    health_job *j = calloc(1, sizeof *j);
    pthread_t t;
    if (j)
        j->deadline = evtimer_new(h->base, on_health_deadline, j);
    if (!j || !j->deadline) {
        free(j);
        evhttp_send_error(req, 500, "out of memory");
        return;
    }
    j->h = h;
    j->req = req;
    snprintf(j->db_path, sizeof j->db_path, "%s", h->cfg->db_path);
    j->next = h->jobs;
    h->jobs = j;
    evhttp_connection_set_closecb(evhttp_request_get_connection(req), on_health_client_gone, j);
    struct timeval deadline = {HTTPD_HEALTH_DEADLINE_MS / 1000, (HTTPD_HEALTH_DEADLINE_MS % 1000) * 1000};
    event_add(j->deadline, &deadline);
    pthread_mutex_lock(&h->lock);
    h->running++;
    int rc = pthread_create(&t, NULL, health_main, j);
    if (rc != 0)
        h->running--;
    pthread_mutex_unlock(&h->lock);
    if (rc != 0) {
        j->checked = 1;
        health_answer(j, 0, "cannot start the check");
        health_release(j);
        return;
    }
    pthread_detach(t);
}

static void serve_stats(httpd *h, buf *out)
{
    buf lines;
    buf_init(&lines);
    stats_put_lines(&lines);
    if (h->rc) {
        rcache_put_stats(h->rc, &lines);
        replica_put_stats(rcache_replica(h->rc), &lines);
    }
    metrics_lines_to_json(lines.data ? lines.data : "", lines.len, out);
    buf_putc(out, '\n');
    out->oom |= lines.oom;
    buf_free(&lines);
}

static void on_request(struct evhttp_request *req, void *arg)
{
    httpd *h = arg;
    static const char *const paths[] = {"/metrics", "/health", "/stats"};
    const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
    const char *path = uri ? evhttp_uri_get_path(uri) : NULL;
    int route = -1;
    for (int i = 0; path && i < 3; i++)
        if (strcmp(path, paths[i]) == 0)
            route = i;
    buf body;
    buf_init(&body);
    if (route < 0) {
        buf_puts(&body, "not found: try /metrics, /health or /stats\n");
        reply(req, 404, "Not Found", "text/plain; charset=utf-8", &body);
    } else if (evhttp_request_get_command(req) != EVHTTP_REQ_GET) {
        evhttp_add_header(evhttp_request_get_output_headers(req), "Allow", "GET");
        buf_puts(&body, "method not allowed: only GET\n");
        reply(req, 405, "Method Not Allowed", "text/plain; charset=utf-8", &body);
    } else if (route == 0) {
        serve_metrics(h, &body);
        reply(req, 200, "OK", "text/plain; version=0.0.4; charset=utf-8", &body);
    } else if (route == 1) {
        serve_health(h, req); /* answers later, from the main loop */
    } else {
        serve_stats(h, &body);
        reply(req, 200, "OK", "application/json", &body);
    }
    buf_free(&body);
}

httpd *httpd_start(struct event_base *base, const config *cfg, rcache *rc, char *err, size_t errlen)
{
    httpd *h = calloc(1, sizeof *h);
    if (!h || !(h->http = evhttp_new(base))) {
        free(h);
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    h->cfg = cfg;
    h->rc = rc;
    h->base = base;
    pthread_mutex_init(&h->lock, NULL);
    pthread_cond_init(&h->idle, NULL);
    /* Every method reaches on_request, so that the answer to one we do not serve is 405, not 501. */
    evhttp_set_allowed_methods(h->http, EVHTTP_REQ_GET | EVHTTP_REQ_POST | EVHTTP_REQ_HEAD | EVHTTP_REQ_PUT |
                                            EVHTTP_REQ_DELETE | EVHTTP_REQ_OPTIONS | EVHTTP_REQ_TRACE |
                                            EVHTTP_REQ_CONNECT | EVHTTP_REQ_PATCH);
    evhttp_set_timeout(h->http, 30);
    evhttp_set_max_headers_size(h->http, 16384);
    evhttp_set_max_body_size(h->http, 65536);
    evhttp_set_gencb(h->http, on_request, h);
    if (!evhttp_bind_socket_with_handle(h->http, cfg->http_bind, (ev_uint16_t)cfg->http_port)) {
        snprintf(err, errlen, "cannot listen on http %s:%d: %s", cfg->http_bind, cfg->http_port, strerror(errno));
        httpd_free(h);
        return NULL;
    }
    return h;
}

void httpd_free(httpd *h)
{
    if (!h)
        return;
    evhttp_free(h->http); /* closes every connection: pending /health requests are marked gone */
    pthread_mutex_lock(&h->lock);
    while (h->running > 0)
        pthread_cond_wait(&h->idle, &h->lock);
    pthread_mutex_unlock(&h->lock);
    while (h->jobs) {
        health_job *j = h->jobs;
        h->jobs = j->next;
        event_free(j->deadline);
        free(j);
    }
    pthread_mutex_destroy(&h->lock);
    pthread_cond_destroy(&h->idle);
    free(h);
}
