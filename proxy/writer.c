/* writer.c - the one writer: owns the only write connection, commits queued jobs in groups, runs client transactions. */
#include "writer.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log.h"
#include "stats.h"
#include "walsync.h"

/* Locking: `lock` guards the queue (head, tail) and `stopping`; `run_lock` guards running and
 * cancel_hit, so that a cancel can only interrupt the job it was meant for; everything else (the
 * database connection, the open session) belongs to the writer thread, which runs jobs without
 * either lock. */
struct writer {
    db_conn        *db;
    writer_opts     opts;
    walsync        *ws;             /* opts.sync_wal: answers committed jobs once the WAL is synced */
    pthread_t       thread;
    pthread_mutex_t lock;
    pthread_cond_t  wake;
    pthread_cond_t  synced;         /* a WAL sync ended (on_sync_idle); take_more waits on it */
    writer_job     *head, *tail;
    int             stopping;
    _Atomic int     idle_tx_s;      /* opts.idle_tx_s, changed live by writer_set_idle_timeout */
    /* writer thread only */
    int             wal_pages;      /* frames in the WAL after the last commit (wal hook) */
    int             passive_pages;  /* PRAGMA wal_autocheckpoint, which our wal hook takes over */
    int             busy_ms;        /* PRAGMA busy_timeout (db.c's), put back after each checkpoint */
    int             ckpt_fails;     /* forced checkpoints in a row that could not finish */
    int             ckpt_delay_ms;  /* the backoff after the last of them; 0 after a success */
    int64_t         ckpt_next_ns;   /* CLOCK_MONOTONIC: no forced checkpoint before this (backoff) */
    uint64_t        session;        /* owner of the open client transaction; 0 when none */
    int             session_failed; /* a statement failed: only ROLLBACK (or COMMIT, which rolls back) now */
    int             pinned;         /* opts.pin holds a read transaction */
    int64_t         pin_reads;      /* STATS_READS when the pin was last decided on */
    int             idle_waits;     /* timed waits since the writer last had work */
    int             guarded;        /* groups left to run with a savepoint per job (run_group) */
    pthread_mutex_t run_lock;
    uint64_t        running;        /* session of the job being run; 0 between jobs */
    int             cancel_hit;     /* writer_cancel interrupted that job */
};

/* The pin. Each read transaction takes a shared lock on one of the WAL's read marks and drops it at
 * its end: two fcntl() calls per autocommit read, about a tenth of a cached-off point lookup's CPU.
 * SQLite skips both when another connection of this process already holds that mark, and readers
 * that start on the same WAL snapshot share a mark. So while the writer is idle it keeps a reader
 * of its own in a read transaction on the newest snapshot, and the workers' reads lock nothing in
 * the kernel. It lets go before every write transaction and checkpoint, which would otherwise have
 * to wait for it (a RESTART checkpoint) or could not start the WAL over (a write after a full
 * checkpoint), so it never holds back the WAL; it never reads data for anyone. When it is held:
 * do_idle_wait. */
static void pin_hold(writer *w)
{
    if (!w->opts.pin || w->pinned)
        return;
    /* db_exec keeps the statements prepared: this runs every 100 ms while reads go on. */
    w->pinned = db_exec(w->opts.pin, "BEGIN") == SQLITE_OK &&
                db_exec(w->opts.pin, "SELECT count(*) FROM sqlite_schema") == SQLITE_OK;
    if (!w->pinned && !sqlite3_get_autocommit(db_handle(w->opts.pin)))
        db_exec(w->opts.pin, "ROLLBACK");
}

static void pin_release(writer *w)
{
    if (w->pinned)
        db_exec(w->opts.pin, "COMMIT");
    w->pinned = 0;
}

static void hook_begin(writer *w)
{
    for (int h = 0; h < WRITER_MAX_HOOKS; h++)
        if (w->opts.hooks[h].begin)
            w->opts.hooks[h].begin(w->opts.hooks[h].ud);
}

static void hook_note(writer *w, const writer_job *job)
{
    for (int h = 0; h < WRITER_MAX_HOOKS; h++)
        for (int i = 0; w->opts.hooks[h].note && i < job->nitems; i++)
            w->opts.hooks[h].note(w->opts.hooks[h].ud, w->db, &job->items[i]);
}

static void hook_end(writer *w, int committed)
{
    for (int h = WRITER_MAX_HOOKS - 1; h >= 0; h--)
        if (w->opts.hooks[h].end)
            w->opts.hooks[h].end(w->opts.hooks[h].ud, committed);
}

typedef struct run_ctx {
    writer     *w;
    writer_job *job;
} run_ctx;

static int run_item(void *ud, const query_item *it, buf *out, char *state)
{
    run_ctx *rc = ud;
    return query_run(rc->w->db, it, rc->job->sink ? rc->job->sink : query_line_sink(rc->job->fmt), &rc->job->limits,
                     out, state);
}

/* Replace the job's reply with this error: for a batch, on its first line, 25P02 on the others and
 * then its status line. */
static void put_refusal(writer_job *job, const char *state, const char *msg)
{
    buf_reset(&job->reply);
    lp_put_error(&job->reply, state, msg);
    if (job->batch) {
        for (int i = 1; i < job->nitems; i++)
            lp_put_error(&job->reply, "25P02", "batch aborted");
        query_put_batch_status(&job->reply, job->nitems, 0, state);
    }
}

/* Run one job's items inside the current transaction; returns the failed index or -1. */
static int run_job(writer *w, writer_job *job)
{
    char state[6] = "";
    run_ctx ctx = {w, job};
    buf_reset(&job->reply);
    log_set_conn(job->session); /* lines logged while it runs (the slow-query log) name its client */
    hook_note(w, job);
    pthread_mutex_lock(&w->run_lock);
    w->running = job->session;
    w->cancel_hit = 0;
    pthread_mutex_unlock(&w->run_lock);
    int failed = query_run_batch(job->items, job->nitems, run_item, &ctx, &job->reply, state);
    pthread_mutex_lock(&w->run_lock);
    w->running = 0;
    job->cancelled = w->cancel_hit;
    pthread_mutex_unlock(&w->run_lock);
    if (job->batch)
        query_put_batch_status(&job->reply, job->nitems, failed, state);
    if (job->batch && job->reply.oom && job->reply.limit) {
        /* Cut short at output_hard_limit although every line kept to it: the error lines and the
         * status after a failure may not fit either. Refused whole instead, n short lines and the
         * status, so that the client keeps its place; and nothing is applied. */
        size_t limit = job->reply.limit;
        char msg[96];
        snprintf(msg, sizeof msg, "reply larger than output_hard_limit (%zu bytes)", limit);
        job->reply.limit = 0;
        put_refusal(job, "54000", msg);
        job->reply.limit = limit;
        failed = 0;
    }
    job->failed = failed;
    return failed;
}

/* The job's whole reply is this error. A batch still gets a reply per line, as when it fails by
 * itself (query_run_batch): its client reads n replies and then the batch's status line. */
static void reply_error(writer_job *job, const char *state, const char *msg)
{
    put_refusal(job, state, msg);
    job->failed = 0;
    stats_error(state);
}

static void fail_job(writer *w, writer_job *job, int rc)
{
    reply_error(job, db_sqlstate(w->db, rc), db_errmsg(w->db));
}

/* An error kept from when it happened: a ROLLBACK run after it replaces SQLite's own. */
typedef struct werr {
    char state[6];
    char msg[256];
} werr;

static void werr_take(writer *w, int rc, werr *e)
{
    snprintf(e->state, sizeof e->state, "%s", db_sqlstate(w->db, rc));
    snprintf(e->msg, sizeof e->msg, "%s", db_errmsg(w->db));
}

/* Answer every job of the list with e, except one a cancel stopped: it keeps its 57014. */
static void fail_all(writer_job *jobs, const werr *e)
{
    for (writer_job *j = jobs; j; j = j->next)
        if (!(j->cancelled && j->failed >= 0))
            reply_error(j, e->state, e->msg);
}

static int begin(writer *w)
{
    pin_release(w);
    int rc = db_exec(w->db, "BEGIN IMMEDIATE");
    if (rc == SQLITE_OK)
        hook_begin(w);
    return rc;
}

/* COMMIT, or ROLLBACK when it cannot; tells the hooks either way. Returns a SQLite code; when it
 * fails, *e holds COMMIT's error (a deferred foreign key's), taken before the ROLLBACK: read after
 * it, the connection would only say "not an error". */
static int commit(writer *w, werr *e)
{
    int rc = db_exec(w->db, "COMMIT");
    if (rc != SQLITE_OK) {
        werr_take(w, rc, e);
        if (!sqlite3_get_autocommit(db_handle(w->db)))
            db_exec(w->db, "ROLLBACK");
    }
    hook_end(w, rc == SQLITE_OK);
    return rc;
}

static void rollback(writer *w)
{
    if (!sqlite3_get_autocommit(db_handle(w->db)))
        db_exec(w->db, "ROLLBACK");
    hook_end(w, 0);
}

/* One job, one transaction: the fallback when a group cannot commit as a whole. A job a cancel
 * stopped (SQLite then rolls back the whole group) keeps its 57014 and is not run again. Returns
 * BEGIN's code; when BEGIN fails, the job is answered with *e, its error. */
static int run_alone(writer *w, writer_job *job, werr *e)
{
    if (job->cancelled && job->failed >= 0)
        return SQLITE_OK;
    int rc = begin(w);
    if (rc != SQLITE_OK) {
        werr_take(w, rc, e);
        reply_error(job, e->state, e->msg);
        return rc;
    }
    if (run_job(w, job) >= 0) {
        rollback(w);
        return SQLITE_OK;
    }
    if (commit(w, e) != SQLITE_OK)
        reply_error(job, e->state, e->msg);
    return SQLITE_OK;
}

static writer_job *do_take_group(writer *w, int limit, int *n);

/* walsync's idle callback: a sync has ended, so a group held open for it can commit now. */
static void on_sync_idle(void *ud)
{
    writer *w = ud;
    pthread_mutex_lock(&w->lock);
    pthread_cond_signal(&w->synced);
    pthread_mutex_unlock(&w->lock);
}

/* More jobs for a group whose jobs have all run, or NULL: commit it now. While the WAL sync thread
 * is busy, a commit made now would wait for the sync after the current one anyway; so the group
 * stays open until the sync ends, takes in what queued meanwhile (up to group_max jobs), and
 * commits right after running them: the sync thread is idle then, so nothing more is waited for.
 * The wait is on `synced`, not `wake`, so the jobs that queue meanwhile do not wake the writer one
 * by one: on this class of machine a sleep and a wake-up cost the writer more than running the
 * insert. One commit per sync, and about two wake-ups, instead of a commit per few jobs and a
 * wake-up per job. A transaction job (a client's BEGIN) waits at most for the sync under way. */
static writer_job *take_more(writer *w, int *n)
{
    writer_job *more = NULL;
    if (!w->ws)
        return NULL;
    pthread_mutex_lock(&w->lock);
    if (*n < w->opts.group_max && walsync_busy(w->ws)) {
        while (!w->stopping && walsync_busy(w->ws))
            pthread_cond_wait(&w->synced, &w->lock);
        if (!w->stopping && w->head && w->head->tx == WRITER_PLAIN) {
            int k;
            more = do_take_group(w, w->opts.group_max - *n, &k);
            *n += k;
        }
    }
    pthread_mutex_unlock(&w->lock);
    return more;
}

/* After a group that had to be run again with savepoints, this many more run with them from the
 * start: a load where jobs often fail would otherwise run most groups twice. */
#define WRITER_GUARDED_GROUPS 16

/* Run the group's jobs (taking more as take_more allows) in the open transaction without a
 * savepoint each, as long as every one succeeds. Returns NULL if all did; otherwise the
 * transaction is rolled back (or SQLite ended it) and it returns the last job it ran. */
static writer_job *run_unguarded(writer *w, writer_job *group, int *n)
{
    for (writer_job *j = group; j; j = j->next) {
        if (run_job(w, j) >= 0 || sqlite3_get_autocommit(db_handle(w->db))) {
            rollback(w);
            return j;
        }
        if (!j->next)
            j->next = take_more(w, n);
    }
    return NULL;
}

/* Group commit: one transaction for the whole group (*n jobs, and more that take_more adds to the
 * end of the list, counted into *n), in which a failing job fails alone. A savepoint per job does
 * that, but a SAVEPOINT and its RELEASE cost the writer a quarter of a single-row insert and jobs
 * rarely fail: so a group runs without them first, and only when a job fails is it rolled back and
 * run again with them (a job a cancel stopped keeps its 57014 and is not run again). If SQLite ends
 * the transaction itself (I/O error, disk full) or COMMIT fails, the group is rolled back and every
 * job is run again on its own, so each gets its true outcome. BEGIN IMMEDIATE asks nothing of the
 * jobs, so when it fails (another process holds the write lock past busy_timeout, an I/O error)
 * every job is answered with its error at once: run one by one, each would wait out busy_timeout
 * in turn and fail the same way. */
static void run_group(writer *w, writer_job *group, int *n)
{
    werr e;
    int broken = 0;
    writer_job *ran = NULL; /* the jobs up to it ran (and were counted) unguarded */
    int rc = begin(w);
    if (rc == SQLITE_OK && w->guarded > 0) {
        w->guarded--;
    } else if (rc == SQLITE_OK) {
        if (!(ran = run_unguarded(w, group, n)))
            goto commit;
        w->guarded = WRITER_GUARDED_GROUPS;
        rc = begin(w);
    }
    if (rc != SQLITE_OK) {
        werr_take(w, rc, &e);
        fail_all(group, &e);
        return;
    }
    int counted = ran != NULL;
    for (writer_job *j = group; j && !broken; j = j->next) {
        stats_mute(counted);
        if (j == ran)
            counted = 0;
        if (j->cancelled && j->failed >= 0)
            continue;
        db_exec(w->db, "SAVEPOINT job");
        if (run_job(w, j) >= 0)
            db_exec(w->db, "ROLLBACK TO job");
        db_exec(w->db, "RELEASE job");
        if (sqlite3_get_autocommit(db_handle(w->db)))
            broken = 1;
        else if (!j->next)
            j->next = take_more(w, n);
    }
    stats_mute(0);
commit:
    if (!broken && commit(w, &e) != SQLITE_OK)
        broken = 1;
    else if (broken)
        rollback(w);
    if (broken)
        for (writer_job *j = group; j; j = j->next)
            if (run_alone(w, j, &e) != SQLITE_OK) {
                fail_all(j->next, &e); /* the same BEGIN would fail them alike */
                break;
            }
}

static const char aborted_msg[] = "current transaction is aborted, commands ignored until end of transaction block";

/* SAVEPOINT, RELEASE or ROLLBACK TO in the open transaction, run bare: our own savepoint around it
 * would swallow the client's (RELEASE releases everything above it). PostgreSQL's rule: a failed
 * transaction takes only ROLLBACK TO, which recovers it when it names a savepoint from before the
 * failure. A transaction SQLite has ended itself (OR ROLLBACK, disk full, an interrupt) takes
 * none: in autocommit mode SAVEPOINT would open a new transaction, and COMMIT would then commit
 * what came after the end as if it were the client's whole transaction. */
static void run_savepoint_op(writer *w, writer_job *job)
{
    if (sqlite3_get_autocommit(db_handle(w->db)) ||
        (w->session_failed && job->savepoint_op != WRITER_SP_ROLLBACK_TO)) {
        /* session_failed is set already, or by the autocommit check after it */
        reply_error(job, "25P02", aborted_msg);
    } else if (run_job(w, job) >= 0) {
        w->session_failed = 1;
    } else if (job->savepoint_op == WRITER_SP_ROLLBACK_TO) {
        w->session_failed = 0;
    }
}

static void run_session_job(writer *w, writer_job *job)
{
    buf_reset(&job->reply);
    job->failed = -1;
    switch (job->tx) {
    case WRITER_BEGIN: {
        int rc = begin(w);
        if (rc != SQLITE_OK) {
            fail_job(w, job, rc);
            job->tx_state = WRITER_TX_NONE;
            return;
        }
        w->session = job->session;
        w->session_failed = 0;
        buf_puts(&job->reply, "+OK BEGIN\n");
        job->tx_state = WRITER_TX_OPEN;
        return;
    }
    case WRITER_IN_TX:
        if (job->savepoint_op) {
            run_savepoint_op(w, job);
        } else if (w->session_failed) {
            reply_error(job, "25P02", aborted_msg);
        } else {
            db_exec(w->db, "SAVEPOINT stmt");
            if (run_job(w, job) >= 0) {
                /* PostgreSQL's rule: after an error the transaction can only be ended. */
                w->session_failed = 1;
                db_exec(w->db, "ROLLBACK TO stmt");
            }
            db_exec(w->db, "RELEASE stmt");
        }
        /* SQLite may end the transaction itself (disk full, I/O error): then only ending it is left. */
        if (sqlite3_get_autocommit(db_handle(w->db)))
            w->session_failed = 1;
        job->tx_state = !w->session ? WRITER_TX_NONE : w->session_failed ? WRITER_TX_FAILED : WRITER_TX_OPEN;
        return;
    case WRITER_COMMIT: {
        /* A transaction SQLite has ended itself is failed too, whatever ran after its end. */
        werr e;
        if (w->session_failed || sqlite3_get_autocommit(db_handle(w->db))) {
            rollback(w);
            buf_puts(&job->reply, "+OK ROLLBACK\n");
        } else if (commit(w, &e) != SQLITE_OK) {
            reply_error(job, e.state, e.msg);
        } else {
            buf_puts(&job->reply, "+OK COMMIT\n");
        }
        break;
    }
    case WRITER_ROLLBACK:
    case WRITER_ABORT:
        rollback(w);
        buf_puts(&job->reply, "+OK ROLLBACK\n");
        break;
    default:
        break;
    }
    w->session = 0;
    w->session_failed = 0;
    job->tx_state = WRITER_TX_NONE;
}

/* A job about a transaction that is not (or no longer) open: it was rolled back after sitting
 * idle, or the client is confused. */
static void run_orphan(writer *w, writer_job *job)
{
    (void)w;
    job->tx_state = WRITER_TX_NONE;
    if (job->tx == WRITER_ABORT) {
        buf_reset(&job->reply);
        return;
    }
    reply_error(job, "25P03", "the transaction was rolled back: it sat idle longer than idle_in_transaction_timeout");
}

/* SQLite's automatic checkpoints are PASSIVE: under a steady read load they may never catch up,
 * and the WAL grows. Past checkpoint_pages we run one that waits for readers (briefly: see
 * maybe_checkpoint) and restarts the WAL from its beginning. */
static int on_wal(void *ud, sqlite3 *db, const char *name, int pages)
{
    writer *w = ud;
    w->wal_pages = pages;
    /* What SQLite's own hook would have done for wal_autocheckpoint. */
    if (w->passive_pages > 0 && pages >= w->passive_pages)
        sqlite3_wal_checkpoint_v2(db, name, SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
    return SQLITE_OK;
}

/* The forced checkpoint runs on the writer thread: every write waits while it does. So it waits
 * for readers at most CKPT_WAIT_NS, polling every CKPT_POLL_NS (SQLite's own busy handler sleeps
 * up to 100 ms a try), and one that cannot finish (a reader holds an older snapshot: another
 * process's open transaction, a long SELECT, a BACKUP) is not tried again for CKPT_BACKOFF_MIN_MS,
 * doubling per failure up to CKPT_BACKOFF_MAX_MS: a stuck reader costs the writer at most 250 ms
 * every 3.2 s, and a checkpoint is tried again within 3.2 s of its leaving. Why 250 ms: the
 * restart waits for the reads that began before the WAL was all copied back (those that begin
 * after read the database file and hold nothing up), so the wait must outlast a read, not a gap
 * between reads: with 30 ms, four clients scanning a table without pause on a loaded machine kept
 * every try from finishing, and the WAL grew past its bound. */
#define CKPT_WAIT_NS        250000000LL
#define CKPT_POLL_NS        100000L
#define CKPT_BACKOFF_MIN_MS 200
#define CKPT_BACKOFF_MAX_MS 3200

static int64_t mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* Busy handler of the forced checkpoint: retry until the deadline (*ud, mono_ns), then give up. */
static int ckpt_busy(void *ud, int tries)
{
    (void)tries; /* SQLite counts per lock, and a checkpoint waits for several: the deadline spans them */
    if (mono_ns() >= *(const int64_t *)ud)
        return 0;
    struct timespec ts = {0, CKPT_POLL_NS};
    nanosleep(&ts, NULL);
    return 1;
}

/* Past checkpoint_pages, and not backing off after a failure: a RESTART checkpoint. */
static void maybe_checkpoint(writer *w)
{
    if (w->session || w->wal_pages < w->opts.checkpoint_pages)
        return;
    int64_t now = mono_ns();
    if (now < w->ckpt_next_ns)
        return;
    int log = 0, done = 0;
    pin_release(w);
    sqlite3 *h = db_handle(w->db);
    int64_t deadline = now + CKPT_WAIT_NS;
    sqlite3_busy_handler(h, ckpt_busy, &deadline);
    int rc = sqlite3_wal_checkpoint_v2(h, NULL, SQLITE_CHECKPOINT_RESTART, &log, &done);
    sqlite3_busy_timeout(h, w->busy_ms);
    stats_add(STATS_CHECKPOINTS, 1);
    w->wal_pages = 0;
    if (rc == SQLITE_OK && done >= log) {
        if (w->ckpt_fails)
            log_info("checkpoint: finished, after %d that could not", w->ckpt_fails);
        w->ckpt_fails = 0;
        w->ckpt_delay_ms = 0;
        w->ckpt_next_ns = 0;
        return;
    }
    stats_add(STATS_CHECKPOINTS_INCOMPLETE, 1);
    w->ckpt_fails++;
    int delay_ms = w->ckpt_delay_ms ? w->ckpt_delay_ms * 2 : CKPT_BACKOFF_MIN_MS;
    if (delay_ms > CKPT_BACKOFF_MAX_MS)
        delay_ms = CKPT_BACKOFF_MAX_MS;
    w->ckpt_next_ns = mono_ns() + (int64_t)delay_ms * 1000000;
    /* A line per step of the backoff, none once at its longest: a reader left open for hours would
     * otherwise log every few seconds. STATS and /metrics keep counting. */
    if (delay_ms != w->ckpt_delay_ms)
        log_warn("checkpoint: %s (%d of %d pages); next try in %d ms%s",
                 rc != SQLITE_OK ? sqlite3_errstr(rc) : "incomplete", done, log, delay_ms,
                 delay_ms == CKPT_BACKOFF_MAX_MS ? " and so on, not logged until one finishes" : "");
    w->ckpt_delay_ms = delay_ms;
}

static void deliver(writer_job *job)
{
    job->next = NULL;
    job->done(job);
}

/* walsync's callback: the commit is on disk, or could not be put there. */
static void deliver_synced(writer_job *job, int sync_errno)
{
    if (sync_errno && job->failed < 0)
        reply_error(job, "58030", "the write was committed but could not be synced to disk (fdatasync of the WAL failed)");
    deliver(job);
}

/* Answer jobs that may have committed (a list): now, or once walsync has made their commit durable. */
static void deliver_committed(writer *w, writer_job *jobs)
{
    if (w->ws) {
        walsync_submit(w->ws, jobs);
        return;
    }
    while (jobs) {
        writer_job *next = jobs->next;
        deliver(jobs);
        jobs = next;
    }
}

/* Assumes the lock: remove and return the first queued job of the open session, or NULL. */
static writer_job *do_take_session_job(writer *w)
{
    writer_job *prev = NULL;
    for (writer_job *j = w->head; j; prev = j, j = j->next) {
        if (j->session != w->session || j->tx == WRITER_PLAIN || j->tx == WRITER_BEGIN)
            continue;
        if (prev)
            prev->next = j->next;
        else
            w->head = j->next;
        if (w->tail == j)
            w->tail = prev;
        j->next = NULL;
        return j;
    }
    return NULL;
}

static struct timespec deadline_after(int s, int us)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += s;
    ts.tv_nsec += (long)us * 1000;
    ts.tv_sec += ts.tv_nsec / 1000000000;
    ts.tv_nsec %= 1000000000;
    return ts;
}

/* Serve the open session until it ends: its jobs only; everyone else's writes wait. Assumes the
 * lock and returns with it held. */
static void do_serve_session(writer *w)
{
    struct timespec idle_until = deadline_after(atomic_load(&w->idle_tx_s), 0);
    while (w->session) {
        writer_job *job = do_take_session_job(w);
        if (!job) {
            if (w->stopping ||
                pthread_cond_timedwait(&w->wake, &w->lock, &idle_until) == ETIMEDOUT) {
                pthread_mutex_unlock(&w->lock);
                log_msg(LOG_INFO, w->session, "open transaction rolled back: %s",
                        w->stopping ? "server shutting down" : "idle_in_transaction_timeout");
                rollback(w);
                w->session = 0;
                w->session_failed = 0;
                pthread_mutex_lock(&w->lock);
            }
            continue;
        }
        pthread_mutex_unlock(&w->lock);
        run_session_job(w, job);
        if (job->tx == WRITER_COMMIT)
            deliver_committed(w, job);
        else
            deliver(job);
        maybe_checkpoint(w);
        pthread_mutex_lock(&w->lock);
        idle_until = deadline_after(atomic_load(&w->idle_tx_s), 0);
    }
}

/* Assumes the lock: take the next plain jobs, up to limit (at least one), stopping before any
 * transaction job. */
static writer_job *do_take_group(writer *w, int limit, int *n)
{
    writer_job *group = w->head, *last = group;
    *n = 1;
    while (last->next && *n < limit && last->next->tx == WRITER_PLAIN) {
        last = last->next;
        (*n)++;
    }
    w->head = last->next;
    if (!w->head)
        w->tail = NULL;
    last->next = NULL;
    return group;
}

/* Nothing queued: wait for work, and meanwhile decide about the pin. Assumes the lock. The pin is
 * taken after a quiet millisecond, not at once: between the groups of a write load it would cost
 * the writer more than it saves the readers. It is renewed every 100 ms while reads go on, and let
 * go after 100 ms without any, so that an idle server holds no lock that another process's
 * checkpoint or tool could want. */
static void do_idle_wait(writer *w)
{
    if (!w->opts.pin) {
        pthread_cond_wait(&w->wake, &w->lock);
        return;
    }
    struct timespec until = deadline_after(0, w->pinned || w->idle_waits > 0 ? 100000 : 1000);
    if (pthread_cond_timedwait(&w->wake, &w->lock, &until) != ETIMEDOUT || w->head) {
        w->idle_waits = 0;
        return;
    }
    int64_t reads = stats_get(STATS_READS);
    int reading = reads != w->pin_reads;
    w->pin_reads = reads;
    w->idle_waits++;
    pthread_mutex_unlock(&w->lock);
    /* Taken again while reads go on, so that it follows the newest snapshot: another process's
     * commits move it too, and an old snapshot would keep a checkpoint from finishing. */
    pin_release(w);
    if (reading)
        pin_hold(w);
    pthread_mutex_lock(&w->lock);
}

static void *writer_main(void *arg)
{
    writer *w = arg;
    pthread_setname_np(pthread_self(), "lc-writer");
    pthread_mutex_lock(&w->lock);
    for (;;) {
        if (w->session) {
            do_serve_session(w);
            continue;
        }
        if (!w->head) {
            if (w->stopping)
                break;
            do_idle_wait(w);
            continue;
        }
        writer_job *first = w->head;
        if (first->tx != WRITER_PLAIN) {
            w->head = first->next;
            if (!w->head)
                w->tail = NULL;
            first->next = NULL;
            pthread_mutex_unlock(&w->lock);
            if (first->tx == WRITER_BEGIN)
                run_session_job(w, first);
            else
                run_orphan(w, first);
            deliver(first);
            maybe_checkpoint(w);
            pthread_mutex_lock(&w->lock);
            continue;
        }
        if (w->opts.group_wait_us > 0 && !w->stopping) {
            /* Let a group fill a little: worth it only when each commit costs a sync. */
            struct timespec until = deadline_after(0, w->opts.group_wait_us);
            int n = 0;
            for (writer_job *j = w->head; j; j = j->next)
                n++;
            while (n < w->opts.group_max &&
                   pthread_cond_timedwait(&w->wake, &w->lock, &until) != ETIMEDOUT)
                for (n = 0, first = w->head; first; first = first->next)
                    n++;
        }
        int n;
        writer_job *group = do_take_group(w, w->opts.group_max, &n);
        pthread_mutex_unlock(&w->lock);

        run_group(w, group, &n);
        stats_add(STATS_WRITER_JOBS, n);
        stats_add(STATS_WRITER_GROUPS, 1);
        stats_group_commit(n);
        deliver_committed(w, group);
        maybe_checkpoint(w);
        pthread_mutex_lock(&w->lock);
    }
    pthread_mutex_unlock(&w->lock);
    pin_release(w);
    return NULL;
}

/* A PRAGMA's integer value; 0 when it cannot be read. */
static int pragma_int(sqlite3 *h, const char *sql)
{
    int v = 0;
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(h, sql, -1, &st, NULL) == SQLITE_OK) {
        if (sqlite3_step(st) == SQLITE_ROW)
            v = sqlite3_column_int(st, 0);
        sqlite3_finalize(st);
    }
    return v;
}

writer *writer_start(db_conn *db, const writer_opts *opts, char *err, size_t errlen)
{
    writer *w = calloc(1, sizeof *w);
    if (!w) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    w->db = db;
    w->opts = *opts;
    if (w->opts.group_max < 1)
        w->opts.group_max = 1;
    if (w->opts.idle_tx_s < 1)
        w->opts.idle_tx_s = 1;
    if (w->opts.checkpoint_pages < 1)
        w->opts.checkpoint_pages = 1;
    atomic_init(&w->idle_tx_s, w->opts.idle_tx_s);
    /* Replaces the wal_autocheckpoint hook: do what it did (a PASSIVE checkpoint every N pages), and
     * remember the WAL's size for the RESTART one. The busy timeout is read back from the connection,
     * as db.c set it, for maybe_checkpoint to restore. */
    sqlite3 *h = db_handle(db);
    w->passive_pages = pragma_int(h, "PRAGMA wal_autocheckpoint");
    w->busy_ms = pragma_int(h, "PRAGMA busy_timeout");
    /* Before walsync starts: its idle callback takes the lock and signals `synced`. */
    pthread_mutex_init(&w->lock, NULL);
    pthread_mutex_init(&w->run_lock, NULL);
    pthread_cond_init(&w->wake, NULL);
    pthread_cond_init(&w->synced, NULL);
    sqlite3_wal_hook(h, on_wal, w);
    if (w->opts.sync_wal &&
        !(w->ws = walsync_start(sqlite3_filename_wal(sqlite3_db_filename(h, "main")), deliver_synced, on_sync_idle, w,
                                err, errlen)))
        goto fail;
    if (pthread_create(&w->thread, NULL, writer_main, w) != 0) {
        snprintf(err, errlen, "cannot start the writer thread");
        walsync_stop(w->ws);
        goto fail;
    }
    return w;
fail:
    sqlite3_wal_hook(h, NULL, NULL); /* it would call on_wal with w freed */
    pthread_mutex_destroy(&w->lock);
    pthread_mutex_destroy(&w->run_lock);
    pthread_cond_destroy(&w->wake);
    pthread_cond_destroy(&w->synced);
    free(w);
    return NULL;
}

int writer_cancel(writer *w, uint64_t session)
{
    if (!w || !session)
        return 0;
    pthread_mutex_lock(&w->run_lock);
    int hit = w->running == session;
    if (hit) {
        sqlite3_interrupt(db_handle(w->db));
        w->cancel_hit = 1;
    }
    pthread_mutex_unlock(&w->run_lock);
    return hit;
}

void writer_set_idle_timeout(writer *w, int seconds)
{
    if (w && seconds >= 1)
        atomic_store(&w->idle_tx_s, seconds);
}

void writer_submit(writer *w, writer_job *job)
{
    job->next = NULL;
    job->failed = -1;
    job->cancelled = 0;
    job->tx_state = WRITER_TX_NONE;
    pthread_mutex_lock(&w->lock);
    if (w->tail)
        w->tail->next = job;
    else
        w->head = job;
    w->tail = job;
    pthread_mutex_unlock(&w->lock);
    /* Broadcast: the writer may be waiting either for any job or for one of its session's. After
     * the unlock, so that a woken writer does not run only to block on the lock still held here. */
    pthread_cond_broadcast(&w->wake);
}

void writer_stop(writer *w)
{
    if (!w)
        return;
    pthread_mutex_lock(&w->lock);
    w->stopping = 1;
    pthread_cond_broadcast(&w->wake);
    pthread_cond_broadcast(&w->synced);
    pthread_mutex_unlock(&w->lock);
    pthread_join(w->thread, NULL);
    walsync_stop(w->ws);
    /* A clean shutdown leaves no WAL behind to replay. */
    sqlite3_wal_checkpoint_v2(db_handle(w->db), NULL, SQLITE_CHECKPOINT_TRUNCATE, NULL, NULL);
    for (int h = 0; h < WRITER_MAX_HOOKS; h++)
        if (w->opts.hooks[h].detach)
            w->opts.hooks[h].detach(w->opts.hooks[h].ud);
    db_close(w->db);
    db_close(w->opts.pin);
    pthread_mutex_destroy(&w->lock);
    pthread_mutex_destroy(&w->run_lock);
    pthread_cond_destroy(&w->wake);
    pthread_cond_destroy(&w->synced);
    free(w);
}
