/* writer.c - the one writer: owns the only write connection and commits queued jobs in groups. */
#include "writer.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "stats.h"

/* Locking: `lock` guards head/tail/stopping only; the database connection is touched by the
 * writer thread alone, so running jobs needs no lock. */
struct writer {
    db_conn        *db;
    int             group_max;
    pthread_t       thread;
    pthread_mutex_t lock;
    pthread_cond_t  wake;
    writer_job     *head, *tail;
    int             stopping;
};

typedef struct run_ctx {
    writer     *w;
    writer_job *job;
} run_ctx;

static int run_item(void *ud, const query_item *it, buf *out, char *state)
{
    run_ctx *rc = ud;
    return query_run(rc->w->db, it, rc->job->fmt, &rc->job->limits, out, state);
}

/* Run one job's items inside the current transaction; returns the failed index or -1. */
static int run_job(writer *w, writer_job *job)
{
    char state[6] = "";
    run_ctx ctx = {w, job};
    buf_reset(&job->reply);
    int failed = query_run_batch(job->items, job->nitems, run_item, &ctx, &job->reply, state);
    if (job->batch)
        query_put_batch_status(&job->reply, job->nitems, failed, state);
    job->failed = failed;
    return failed;
}

static void fail_job(writer *w, writer_job *job, int rc)
{
    buf_reset(&job->reply);
    lp_put_error(&job->reply, db_sqlstate(w->db, rc), db_errmsg(w->db));
    if (job->batch)
        query_put_batch_status(&job->reply, job->nitems, 0, db_sqlstate(w->db, rc));
    job->failed = 0;
}

/* One job, one transaction: the fallback when a group cannot commit as a whole. */
static void run_alone(writer *w, writer_job *job)
{
    int rc = db_exec(w->db, "BEGIN IMMEDIATE");
    if (rc != SQLITE_OK) {
        fail_job(w, job, rc);
        return;
    }
    if (run_job(w, job) >= 0) {
        db_exec(w->db, "ROLLBACK");
        return;
    }
    rc = db_exec(w->db, "COMMIT");
    if (rc != SQLITE_OK) {
        fail_job(w, job, rc);
        db_exec(w->db, "ROLLBACK");
    }
}

/* Group commit: one transaction for the whole group, a savepoint per job so that a failing job
 * fails alone. If SQLite ends the transaction itself (I/O error, disk full) or COMMIT fails, the
 * group is rolled back and every job is run again on its own, so each gets its true outcome. */
static void run_group(writer *w, writer_job *group)
{
    sqlite3 *h = db_handle(w->db);
    int rc = db_exec(w->db, "BEGIN IMMEDIATE");
    int broken = rc != SQLITE_OK;
    for (writer_job *j = group; j && !broken; j = j->next) {
        db_exec(w->db, "SAVEPOINT job");
        if (run_job(w, j) >= 0)
            db_exec(w->db, "ROLLBACK TO job");
        db_exec(w->db, "RELEASE job");
        if (sqlite3_get_autocommit(h))
            broken = 1;
    }
    if (!broken && db_exec(w->db, "COMMIT") != SQLITE_OK)
        broken = 1;
    if (broken) {
        if (!sqlite3_get_autocommit(h))
            db_exec(w->db, "ROLLBACK");
        for (writer_job *j = group; j; j = j->next)
            run_alone(w, j);
    }
}

static void *writer_main(void *arg)
{
    writer *w = arg;
    for (;;) {
        pthread_mutex_lock(&w->lock);
        while (!w->head && !w->stopping)
            pthread_cond_wait(&w->wake, &w->lock);
        if (!w->head) {
            pthread_mutex_unlock(&w->lock);
            break;
        }
        /* Whatever queued while the previous group committed joins this one, up to group_max. */
        writer_job *group = w->head, *last = group;
        int n = 1;
        while (last->next && n < w->group_max) {
            last = last->next;
            n++;
        }
        w->head = last->next;
        if (!w->head)
            w->tail = NULL;
        last->next = NULL;
        pthread_mutex_unlock(&w->lock);

        run_group(w, group);
        stats_add(STATS_WRITER_JOBS, n);
        while (group) {
            writer_job *next = group->next;
            group->next = NULL;
            group->done(group);
            group = next;
        }
    }
    return NULL;
}

writer *writer_start(db_conn *db, int group_max, char *err, size_t errlen)
{
    writer *w = calloc(1, sizeof *w);
    if (!w) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    w->db = db;
    w->group_max = group_max > 0 ? group_max : 1;
    pthread_mutex_init(&w->lock, NULL);
    pthread_cond_init(&w->wake, NULL);
    if (pthread_create(&w->thread, NULL, writer_main, w) != 0) {
        snprintf(err, errlen, "cannot start the writer thread");
        free(w);
        return NULL;
    }
    return w;
}

void writer_submit(writer *w, writer_job *job)
{
    job->next = NULL;
    job->failed = -1;
    pthread_mutex_lock(&w->lock);
    if (w->tail)
        w->tail->next = job;
    else
        w->head = job;
    w->tail = job;
    pthread_cond_signal(&w->wake);
    pthread_mutex_unlock(&w->lock);
}

void writer_stop(writer *w)
{
    if (!w)
        return;
    pthread_mutex_lock(&w->lock);
    w->stopping = 1;
    pthread_cond_signal(&w->wake);
    pthread_mutex_unlock(&w->lock);
    pthread_join(w->thread, NULL);
    /* A clean shutdown leaves no WAL behind to replay. */
    sqlite3_wal_checkpoint_v2(db_handle(w->db), NULL, SQLITE_CHECKPOINT_TRUNCATE, NULL, NULL);
    db_close(w->db);
    pthread_mutex_destroy(&w->lock);
    pthread_cond_destroy(&w->wake);
    free(w);
}
