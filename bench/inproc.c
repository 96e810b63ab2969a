/* inproc.c - point lookups on SQLite in this process, one read-only connection per thread, prepared once. */
#include "inproc.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>

#include "zipf.h"

typedef struct ip_thread {
    const inproc_config *cfg;
    pthread_t tid;
    int       index;
    uint64_t  range;
    hist     *lat;
    uint64_t  queries, errors;
    char      error[200];
} ip_thread;

static _Atomic int ip_phase;   /* 0 warm-up, 1 measuring, 2 stop */

static uint64_t ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* The server's pragmas for readers (config defaults), so the comparison is of the path, not of
 * the page cache or mmap settings. Opened read-write but query_only: a SQLITE_OPEN_READONLY
 * connection to a WAL database that a live server is checkpointing can fail with "database is
 * locked" where a normal reader just waits (busy timeout) and goes on. */
static sqlite3 *open_db(const char *path, char *err, size_t errlen)
{
    sqlite3 *db = NULL;
    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL) != SQLITE_OK) {
        snprintf(err, errlen, "%s: %s", path, db ? sqlite3_errmsg(db) : "cannot open");
        sqlite3_close(db);
        return NULL;
    }
    sqlite3_busy_timeout(db, 10000);
    if (sqlite3_exec(db, "PRAGMA query_only = 1; PRAGMA cache_size = -64000; PRAGMA mmap_size = 268435456; "
                         "PRAGMA temp_store = memory", NULL, NULL, NULL) != SQLITE_OK) {
        snprintf(err, errlen, "%s: %s", path, sqlite3_errmsg(db));
        sqlite3_close(db);
        return NULL;
    }
    return db;
}

static void *ip_main(void *arg)
{
    ip_thread *t = arg;
    const inproc_config *cfg = t->cfg;
    sqlite3 *db = open_db(cfg->db_path, t->error, sizeof t->error);
    if (!db)
        return NULL;
    sqlite3_stmt *st = NULL;
    const char *sql = cfg->row_bytes > 0 ? "SELECT v FROM bench_kv WHERE id = ?" : "SELECT * FROM users WHERE id = ?";
    if (sqlite3_prepare_v3(db, sql, -1, SQLITE_PREPARE_PERSISTENT, &st, NULL) != SQLITE_OK) {
        snprintf(t->error, sizeof t->error, "%s", sqlite3_errmsg(db));
        sqlite3_close(db);
        return NULL;
    }
    zipf z;
    zipf_init(&z, t->range, cfg->zipf ? cfg->zipf_s : 0.0, cfg->seed * 1000003u + (uint64_t)t->index);
    volatile size_t sink = 0;
    for (;;) {
        int ph = atomic_load_explicit(&ip_phase, memory_order_relaxed);
        if (ph == 2)
            break;
        uint64_t t0 = ns();
        sqlite3_bind_int64(st, 1, (sqlite3_int64)zipf_next(&z));
        /* Materialize every column as text, as the server must to encode its reply. */
        int rc;
        while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
            int nc = sqlite3_column_count(st);
            for (int i = 0; i < nc; i++) {
                sqlite3_column_text(st, i);
                sink += (size_t)sqlite3_column_bytes(st, i);
            }
        }
        sqlite3_reset(st);
        if (rc != SQLITE_DONE) {
            t->errors++;
            if (!t->error[0])
                snprintf(t->error, sizeof t->error, "%s", sqlite3_errmsg(db));
            continue;
        }
        if (ph == 1 && atomic_load_explicit(&ip_phase, memory_order_relaxed) == 1) {
            hist_record(t->lat, (ns() - t0 + 500) / 1000);
            t->queries++;
        }
    }
    (void)sink;
    sqlite3_finalize(st);
    sqlite3_close(db);
    return NULL;
}

int inproc_run(const inproc_config *cfg, inproc_result *res)
{
    memset(res, 0, sizeof *res);
    hist_init(&res->lat);
    sqlite3 *db = open_db(cfg->db_path, res->error, sizeof res->error);
    if (!db)
        return -1;
    sqlite3_stmt *st = NULL;
    const char *q = cfg->row_bytes > 0 ? "SELECT coalesce(max(id), 0) FROM bench_kv" : "SELECT coalesce(max(id), 0) FROM users";
    if (sqlite3_prepare_v2(db, q, -1, &st, NULL) != SQLITE_OK || sqlite3_step(st) != SQLITE_ROW) {
        snprintf(res->error, sizeof res->error, "%s: %s", cfg->db_path, sqlite3_errmsg(db));
        sqlite3_finalize(st);
        sqlite3_close(db);
        return -1;
    }
    res->max_id = (uint64_t)sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    sqlite3_close(db);
    uint64_t range = cfg->keys && cfg->keys < res->max_id ? cfg->keys : res->max_id;
    if (range == 0) {
        snprintf(res->error, sizeof res->error, "%s: the table is empty (populate it first)", cfg->db_path);
        return -1;
    }
    int n = cfg->threads > 0 ? cfg->threads : 1;
    ip_thread *th = calloc((size_t)n, sizeof *th);
    if (!th)
        return -1;
    atomic_store(&ip_phase, cfg->warmup > 0 ? 0 : 1);
    for (int i = 0; i < n; i++) {
        th[i] = (ip_thread){ .cfg = cfg, .index = i, .range = range, .lat = malloc(sizeof(hist)) };
        if (!th[i].lat)
            return -1;
        hist_init(th[i].lat);
        pthread_create(&th[i].tid, NULL, ip_main, &th[i]);
    }
    if (cfg->warmup > 0) {
        usleep((useconds_t)(cfg->warmup * 1e6));
        atomic_store(&ip_phase, 1);
    }
    uint64_t t0 = ns();
    usleep((useconds_t)(cfg->duration * 1e6));
    atomic_store(&ip_phase, 2);
    res->seconds = (double)(ns() - t0) / 1e9;
    int rc = 0;
    for (int i = 0; i < n; i++) {
        pthread_join(th[i].tid, NULL);
        hist_merge(&res->lat, th[i].lat);
        res->queries += th[i].queries;
        res->errors += th[i].errors;
        if (th[i].error[0] && !res->error[0])
            snprintf(res->error, sizeof res->error, "%s", th[i].error);
        if (th[i].error[0] && th[i].errors == 0)
            rc = -1;   /* the thread could not even start (open, prepare) */
        free(th[i].lat);
    }
    free(th);
    return rc;
}
