/* test_walsync.c - the WAL sync thread: answers every queued job after a sync, in order, drains on stop, reports a failed sync to each job, and says when it is idle. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "walsync.h"
#include "writer.h"

#define NJOBS 64

/* What done() saw, in the order it saw it. */
static pthread_mutex_t seen_lock = PTHREAD_MUTEX_INITIALIZER;
static writer_job     *seen[NJOBS];
static int             seen_errno[NJOBS];
static int             seen_idles[NJOBS]; /* idle calls made before the job was answered */
static int             nseen;
static int             nidle;

static void count_idle(void *ud)
{
    (void)ud;
    pthread_mutex_lock(&seen_lock);
    nidle++;
    pthread_mutex_unlock(&seen_lock);
}

static void done(writer_job *job, int sync_errno)
{
    pthread_mutex_lock(&seen_lock);
    if (nseen < NJOBS) {
        seen[nseen] = job;
        seen_errno[nseen] = sync_errno;
        seen_idles[nseen] = nidle;
        nseen++;
    }
    pthread_mutex_unlock(&seen_lock);
}

/* Submit jobs[0..n) as lists of `chunk`, from this thread. */
static void submit_all(walsync *ws, writer_job *jobs, int n, int chunk)
{
    for (int i = 0; i < n; i += chunk) {
        int end = i + chunk < n ? i + chunk : n;
        for (int k = i; k < end; k++)
            jobs[k].next = k + 1 < end ? &jobs[k + 1] : NULL;
        walsync_submit(ws, &jobs[i]);
    }
}

static char *temp_path(const char *name)
{
    static char path[256];
    snprintf(path, sizeof path, "/tmp/test_walsync.%d.%s", (int)getpid(), name);
    return path;
}

/* A WAL file to sync, at temp_path(name). */
static char *make_wal(const char *name)
{
    char *path = temp_path(name);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs("frames", f);
    fclose(f);
    return path;
}

static void test_answers_each_job_once_in_order(void **state)
{
    (void)state;
    char *path = make_wal("wal");
    char err[256];
    walsync *ws = walsync_start(path, done, NULL, NULL, err, sizeof err);
    assert_non_null(ws);
    static writer_job jobs[NJOBS];
    memset(jobs, 0, sizeof jobs);
    nseen = 0;
    submit_all(ws, jobs, NJOBS, 5);
    walsync_stop(ws); /* drains: every job is answered before it returns */
    assert_int_equal(nseen, NJOBS);
    for (int i = 0; i < NJOBS; i++) {
        assert_ptr_equal(seen[i], &jobs[i]);
        assert_int_equal(seen_errno[i], 0);
    }
    unlink(path);
}

static void test_a_failed_sync_is_reported_to_every_job(void **state)
{
    (void)state;
    /* fdatasync on a FIFO fails (EINVAL): what a disk error looks like to the thread. */
    char *path = temp_path("fifo");
    unlink(path);
    assert_int_equal(mkfifo(path, 0600), 0);
    char err[256];
    walsync *ws = walsync_start(path, done, NULL, NULL, err, sizeof err);
    assert_non_null(ws);
    static writer_job jobs[8];
    memset(jobs, 0, sizeof jobs);
    nseen = 0;
    submit_all(ws, jobs, 8, 3);
    walsync_stop(ws);
    assert_int_equal(nseen, 8);
    for (int i = 0; i < 8; i++)
        assert_int_not_equal(seen_errno[i], 0);
    unlink(path);
}

static int answered(void)
{
    pthread_mutex_lock(&seen_lock);
    int n = nseen;
    pthread_mutex_unlock(&seen_lock);
    return n;
}

/* The writer holds its next group open while walsync_busy() and commits it when idle() says the
 * sync is over: idle must come once the sync has ended, before the jobs are answered (the commit
 * then overlaps the answering), and busy must be false by then. */
static void test_idle_is_told_when_a_sync_ends(void **state)
{
    (void)state;
    char *path = make_wal("idle");
    char err[256];
    nseen = nidle = 0;
    walsync *ws = walsync_start(path, done, count_idle, NULL, err, sizeof err);
    assert_non_null(ws);
    assert_false(walsync_busy(ws));
    static writer_job jobs[4];
    memset(jobs, 0, sizeof jobs);
    for (int i = 0; i < 4; i++) {
        walsync_submit(ws, &jobs[i]);
        while (answered() < i + 1)
            usleep(100);
        assert_int_equal(seen_idles[i], i + 1); /* one sync each, its idle before its answer */
        assert_false(walsync_busy(ws));
    }
    walsync_stop(ws);
    assert_int_equal(nidle, 4);
    unlink(path);
}

static void test_a_missing_wal_is_an_error(void **state)
{
    (void)state;
    char err[256] = "";
    walsync *ws = walsync_start("/nonexistent-dir/data.db-wal", done, NULL, NULL, err, sizeof err);
    assert_null(ws);
    assert_non_null(strstr(err, "/nonexistent-dir/data.db-wal"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_answers_each_job_once_in_order),
        cmocka_unit_test(test_a_failed_sync_is_reported_to_every_job),
        cmocka_unit_test(test_idle_is_told_when_a_sync_ends),
        cmocka_unit_test(test_a_missing_wal_is_an_error),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
