/* walsync.h - makes commits durable in batches: one fdatasync of the WAL answers every commit made since the last one. */
#ifndef LC_WALSYNC_H
#define LC_WALSYNC_H

#include <stddef.h>

typedef struct walsync walsync;
typedef struct writer_job writer_job;

/* Called on the sync thread for each job once the WAL holding its commit is on disk (sync_errno 0),
 * or once syncing it failed (the errno). */
typedef void (*walsync_done)(writer_job *job, int sync_errno);

/* Open the WAL file at wal_path (which must exist), make its directory entry durable, start the
 * sync thread. idle(ud), if given, is called on the sync thread each time a sync ends with nothing
 * queued for the next. NULL with err filled on failure. */
walsync *walsync_start(const char *wal_path, walsync_done done, void (*idle)(void *ud), void *ud,
                       char *err, size_t errlen);
/* Queue jobs whose commits are in the WAL (a list linked by ->next, NULL-terminated): each is
 * answered after the next sync. Any thread. */
void walsync_submit(walsync *ws, writer_job *jobs);
/* Whether a sync is under way or about to start (jobs are queued for it). Any thread. */
int walsync_busy(walsync *ws);
/* Sync and answer whatever is queued, then stop the thread and close the file. */
void walsync_stop(walsync *ws);

#endif
