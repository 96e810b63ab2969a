/* walsync.c - makes commits durable in batches: one fdatasync of the WAL answers every commit made since the last one. */
#include "walsync.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "stats.h"
#include "writer.h"

/* Why a thread of its own: with synchronous = full SQLite syncs inside COMMIT, so the writer sat
 * idle for a whole fdatasync per group, and the jobs that queued meanwhile waited for it to finish
 * before their own group could even start. Here the writer commits with synchronous = normal (the
 * WAL is written, not synced) and moves on to the next group while this thread syncs; one sync covers
 * every commit written before it began, as PostgreSQL's WAL flush covers every commit record before
 * its LSN. A job is answered only after a sync that began after its commit, so what is acknowledged
 * is on disk. Checkpoints still sync in SQLite itself (synchronous = normal does), before they copy
 * the WAL into the database file.
 *
 * The writer asks walsync_busy() before it commits: while a sync is under way a commit made now
 * could not be answered before the next sync anyway, so it keeps its group open and adds to it what
 * queues meanwhile (writer.c, take_more); `idle` tells it when the sync is over.
 *
 * Locking: `lock` guards head, tail, syncing and stopping. fd is only synced, by this thread. `idle`
 * is called without the lock (it takes the writer's, which is held around walsync_busy). */
struct walsync {
    int             fd;
    walsync_done    done;
    void          (*idle)(void *ud);
    void           *idle_ud;
    int             syncing;        /* between taking a list and having synced it */
    pthread_t       thread;
    pthread_mutex_t lock;
    pthread_cond_t  wake;
    writer_job     *head, *tail;
    int             stopping;
};

static void *walsync_main(void *arg)
{
    walsync *ws = arg;
    pthread_setname_np(pthread_self(), "lc-walsync");
    pthread_mutex_lock(&ws->lock);
    for (;;) {
        if (!ws->head) {
            if (ws->stopping)
                break;
            pthread_cond_wait(&ws->wake, &ws->lock);
            continue;
        }
        writer_job *jobs = ws->head;
        ws->head = ws->tail = NULL;
        ws->syncing = 1;
        pthread_mutex_unlock(&ws->lock);
        /* fdatasync syncs the file, whichever descriptor names it: SQLite's own writes are covered. */
        int err = fdatasync(ws->fd) == 0 ? 0 : errno;
        stats_add(STATS_WAL_SYNCS, 1);
        /* Tell the writer before answering: its commit then overlaps the answering. */
        pthread_mutex_lock(&ws->lock);
        ws->syncing = 0;
        int now_idle = !ws->head;
        pthread_mutex_unlock(&ws->lock);
        if (now_idle && ws->idle)
            ws->idle(ws->idle_ud);
        if (err)
            log_error("fdatasync of the WAL failed: %s; the writes it held are answered with an error", strerror(err));
        while (jobs) {
            writer_job *next = jobs->next;
            ws->done(jobs, err);
            jobs = next;
        }
        pthread_mutex_lock(&ws->lock);
    }
    pthread_mutex_unlock(&ws->lock);
    return NULL;
}

/* A new file's name is durable only once its directory is synced (what SQLite's DIRSYNC does). */
static int sync_dir_of(const char *path)
{
    char *copy = strdup(path);
    if (!copy)
        return -1;
    int dfd = open(dirname(copy), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    free(copy);
    if (dfd < 0)
        return -1;
    int rc = fsync(dfd);
    close(dfd);
    return rc;
}

walsync *walsync_start(const char *wal_path, walsync_done done, void (*idle)(void *ud), void *ud,
                       char *err, size_t errlen)
{
    walsync *ws = calloc(1, sizeof *ws);
    if (!ws) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    ws->done = done;
    ws->idle = idle;
    ws->idle_ud = ud;
    ws->fd = open(wal_path, O_RDWR | O_CLOEXEC);
    if (ws->fd < 0 || sync_dir_of(wal_path) < 0) {
        snprintf(err, errlen, "%s: %s", wal_path, strerror(errno));
        if (ws->fd >= 0)
            close(ws->fd);
        free(ws);
        return NULL;
    }
    pthread_mutex_init(&ws->lock, NULL);
    pthread_cond_init(&ws->wake, NULL);
    if (pthread_create(&ws->thread, NULL, walsync_main, ws) != 0) {
        snprintf(err, errlen, "cannot start the WAL sync thread");
        pthread_mutex_destroy(&ws->lock);
        pthread_cond_destroy(&ws->wake);
        close(ws->fd);
        free(ws);
        return NULL;
    }
    return ws;
}

void walsync_submit(walsync *ws, writer_job *jobs)
{
    if (!jobs)
        return;
    writer_job *last = jobs;
    while (last->next)
        last = last->next;
    pthread_mutex_lock(&ws->lock);
    if (ws->tail)
        ws->tail->next = jobs;
    else
        ws->head = jobs;
    ws->tail = last;
    pthread_mutex_unlock(&ws->lock);
    pthread_cond_signal(&ws->wake); /* after the unlock: the woken thread's first step is to lock */
}

int walsync_busy(walsync *ws)
{
    pthread_mutex_lock(&ws->lock);
    int busy = ws->syncing || ws->head;
    pthread_mutex_unlock(&ws->lock);
    return busy;
}

void walsync_stop(walsync *ws)
{
    if (!ws)
        return;
    pthread_mutex_lock(&ws->lock);
    ws->stopping = 1;
    pthread_cond_signal(&ws->wake);
    pthread_mutex_unlock(&ws->lock);
    pthread_join(ws->thread, NULL);
    close(ws->fd);
    pthread_mutex_destroy(&ws->lock);
    pthread_cond_destroy(&ws->wake);
    free(ws);
}
