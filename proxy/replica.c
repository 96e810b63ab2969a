/* replica.c - the in-memory read replica: a memdb copy of the database that uncached reads run on, kept current by the writer with session changesets. */
/* The session API is declared only for builds that ask for it; Debian's libsqlite3 has it compiled in. */
#define SQLITE_ENABLE_SESSION 1
#define SQLITE_ENABLE_PREUPDATE_HOOK 1
#include <sqlite3.h>

#include "replica.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "applier.h"
#include "lineproto.h"
#include "log.h"

#define REPLICA_MAX_NOPK 64

/* Locking. `rw` is the replica's own lock: every read on a replica connection holds it shared;
 * applying a changeset and rebuilding hold it exclusive, so a reader sees a whole commit or none
 * (memdb has no WAL, hence no snapshot of its own). Both writers of the replica (the writer
 * thread's end hook, a worker rebuilding after a foreign commit) first hold the extwatch lock,
 * which the writer holds from BEGIN to COMMIT: so the copy and the changesets never cross, and the
 * lock order is always watch lock, then rw. The fields marked "under watch" change only with the
 * watch lock held; "writer" ones belong to the writer thread. */
struct replica {
    const config    *cfg;
    extwatch        *watch;
    char             uri[96];          /* file:/litecached-replica-<pid>-<n>?vfs=memdb, shared by name */
    sqlite3         *apply;            /* writes into the replica; keeps the shared memdb alive */
    applier         *applier;          /* its statements, on apply */
    pthread_rwlock_t rw;
    _Atomic int      on;
    _Atomic int      stale;
    char             why[320];         /* why it is off (set once, before on goes 0) */
    /* under watch */
    int              schema_version;   /* the main database's, as of the last copy */
    unsigned         counter;          /* change counter we last wrote into the replica's header */
    int              nnopk;
    char            *nopk[REPLICA_MAX_NOPK]; /* tables without a primary key: the session skips them */
    int              copy[REPLICA_MAX_NOPK]; /* ... and this one was written: copy it whole */
    buf              seq;              /* sqlite_sequence as last copied (the session skips it too) */
    int              gen;              /* bumped by each copy, so the writer re-prepares */
    /* writer */
    db_conn         *wconn;
    sqlite3         *wdb;
    sqlite3_session *sess;
    sqlite3_stmt    *st_schema, *st_seq;
    int              st_gen;
    /* counters */
    _Atomic int64_t  bytes, lag_changesets, lag_bytes, applied, applied_bytes, rebuilds, conflicts, skipped;
    _Atomic int64_t  apply_ns;        /* writer time spent making and applying changesets */
};

static int64_t mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static _Atomic unsigned replica_seq;

/* ---- small helpers on raw connections ---- */

static int64_t int_query(sqlite3 *db, const char *sql)
{
    sqlite3_stmt *st;
    int64_t v = -1;
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
        return -1;
    if (sqlite3_step(st) == SQLITE_ROW)
        v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return v;
}

static sqlite3_file *memfile(sqlite3 *db)
{
    sqlite3_file *f = NULL;
    if (sqlite3_file_control(db, "main", SQLITE_FCNTL_FILE_POINTER, &f) != SQLITE_OK)
        return NULL;
    return f;
}

static int64_t replica_size(replica *r)
{
    sqlite3_file *f = memfile(r->apply);
    sqlite3_int64 sz = 0;
    if (!f || f->pMethods->xFileSize(f, &sz) != SQLITE_OK)
        return 0;
    return sz;
}

static void put32(unsigned char *p, unsigned v)
{
    p[0] = (unsigned char)(v >> 24);
    p[1] = (unsigned char)(v >> 16);
    p[2] = (unsigned char)(v >> 8);
    p[3] = (unsigned char)v;
}

/* sqlite_sequence as "name\x1fseq\x1e..." text, to see whether it moved. */
static void seq_text(sqlite3_stmt *st, buf *out)
{
    buf_reset(out);
    while (st && sqlite3_step(st) == SQLITE_ROW) {
        const unsigned char *name = sqlite3_column_text(st, 0);
        buf_printf(out, "%s\x1f%lld\x1e", name ? (const char *)name : "", (long long)sqlite3_column_int64(st, 1));
    }
    if (st)
        sqlite3_reset(st);
}

static void nopk_clear(replica *r)
{
    for (int i = 0; i < r->nnopk; i++)
        free(r->nopk[i]);
    r->nnopk = 0;
}

/* Tables where no column is part of a primary key: the session cannot record their changes, so a
 * commit that touches one copies it whole. (WITHOUT ROWID tables always have one.) */
static void find_nopk(replica *r)
{
    nopk_clear(r);
    sqlite3_stmt *st;
    const char *sql = "SELECT m.name FROM sqlite_schema m WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite\\_%' "
                      "ESCAPE '\\' AND NOT EXISTS (SELECT 1 FROM pragma_table_info(m.name) WHERE pk > 0)";
    if (sqlite3_prepare_v2(r->apply, sql, -1, &st, NULL) != SQLITE_OK)
        return;
    while (sqlite3_step(st) == SQLITE_ROW && r->nnopk < REPLICA_MAX_NOPK) {
        char *name = strdup((const char *)sqlite3_column_text(st, 0));
        if (name) {
            r->copy[r->nnopk] = 0;
            r->nopk[r->nnopk++] = name;
        }
    }
    sqlite3_finalize(st);
}

/* ---- building the copy ---- */

static void turn_off(replica *r, const char *why)
{
    if (!atomic_load(&r->on))
        return;
    snprintf(r->why, sizeof r->why, "%s", why);
    atomic_store(&r->on, 0);
    log_error("read replica dropped: %s; reads run on the database file from now on", why);
}

/* Copy src (a connection to the main database, outside any transaction) into the replica whole.
 * Assumes the watch lock and rw held exclusively. Returns 0, or -1 with the reason in why. */
static int copy_from(replica *r, sqlite3 *src, char *why, size_t whylen)
{
    int64_t pages = int_query(src, "PRAGMA page_count"), psize = int_query(src, "PRAGMA page_size");
    if (pages < 0 || psize <= 0) {
        snprintf(why, whylen, "cannot read the database's size: %s", sqlite3_errmsg(src));
        return -1;
    }
    /* Known before anything is copied: a backup copies every page, free ones included. */
    if (pages * psize > r->cfg->replica_max_bytes) {
        snprintf(why, whylen, "the database is %lld bytes, more than replica_max_bytes (%lld)",
                 (long long)(pages * psize), (long long)r->cfg->replica_max_bytes);
        return -1;
    }
    int schema = (int)int_query(src, "PRAGMA schema_version");
    /* Readers have seen change counters up to the current one, never above it. */
    unsigned char cur[4] = {0};
    sqlite3_file *af = memfile(r->apply);
    if (af && af->pMethods->xRead(af, cur, 4, 24) == SQLITE_OK) {
        unsigned now = (unsigned)cur[0] << 24 | (unsigned)cur[1] << 16 | (unsigned)cur[2] << 8 | cur[3];
        if (now > r->counter)
            r->counter = now;
    }
    /* A connection of its own for the copy: the backup leaves the destination's header saying
     * WAL (the source's), which memdb cannot open, so it is mended below through the VFS, behind
     * every pager's back; a pager that saw the copy would keep the wrong page 1 cached. */
    sqlite3 *tmp = NULL;
    int rc = sqlite3_open_v2(r->uri, &tmp, SQLITE_OPEN_READWRITE | SQLITE_OPEN_URI | SQLITE_OPEN_NOMUTEX, NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_exec(tmp, "PRAGMA journal_mode=MEMORY", NULL, NULL, NULL);
    sqlite3_backup *b = rc == SQLITE_OK ? sqlite3_backup_init(tmp, "main", src, "main") : NULL;
    if (b) {
        rc = sqlite3_backup_step(b, -1);
        int frc = sqlite3_backup_finish(b);
        rc = rc == SQLITE_DONE ? frc : rc;
    } else if (rc == SQLITE_OK) {
        rc = sqlite3_errcode(tmp);
    }
    sqlite3_file *f = rc == SQLITE_OK ? memfile(tmp) : NULL;
    if (rc == SQLITE_OK && f) {
        /* Bytes 18-19: rollback journal, not WAL. Bytes 24 and 92: a change counter no reader has
         * seen, so every replica connection drops its cached pages. */
        unsigned char v[4] = {1, 1, 0, 0};
        rc = f->pMethods->xWrite(f, v, 2, 18);
        put32(v, ++r->counter);
        if (rc == SQLITE_OK)
            rc = f->pMethods->xWrite(f, v, 4, 24);
        if (rc == SQLITE_OK)
            rc = f->pMethods->xWrite(f, v, 4, 92);
    }
    if (rc != SQLITE_OK)
        snprintf(why, whylen, "copying the database into memory failed: %s",
                 rc == SQLITE_FULL ? "it grew past replica_max_bytes" : tmp ? sqlite3_errmsg(tmp) : sqlite3_errstr(rc));
    sqlite3_close(tmp);
    if (rc != SQLITE_OK)
        return -1;
    r->schema_version = schema;
    find_nopk(r);
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(r->apply, "SELECT name, seq FROM sqlite_sequence ORDER BY name", -1, &st, NULL) != SQLITE_OK)
        st = NULL;
    seq_text(st, &r->seq);
    sqlite3_finalize(st);
    r->gen++;
    applier_reset(r->applier);
    atomic_store(&r->stale, 0);
    atomic_store(&r->bytes, replica_size(r));
    atomic_fetch_add(&r->rebuilds, 1);
    return 0;
}

/* Assumes the watch lock: rebuild from src, or drop the replica when that fails. */
static void do_rebuild(replica *r, sqlite3 *src)
{
    char why[256];
    pthread_rwlock_wrlock(&r->rw);
    if (copy_from(r, src, why, sizeof why) < 0)
        turn_off(r, why);
    pthread_rwlock_unlock(&r->rw);
}

static void on_foreign(void *ud)
{
    replica *r = ud;
    atomic_store(&r->stale, 1);
}

/* ---- the session on the writer's connection ---- */

static int session_filter(void *ud, const char *table)
{
    replica *r = ud;
    for (int i = 0; i < r->nnopk; i++)
        if (strcmp(r->nopk[i], table) == 0)
            r->copy[i] = 1;
    return 1;
}

/* A fresh session (3.40 has no way to empty one): attached to every table as it is first written. */
static int new_session(replica *r)
{
    if (r->sess)
        sqlite3session_delete(r->sess);
    r->sess = NULL;
    int rc = sqlite3session_create(r->wdb, "main", &r->sess);
    if (rc == SQLITE_OK) {
        sqlite3session_table_filter(r->sess, session_filter, r);
        rc = sqlite3session_attach(r->sess, NULL);
    }
    return rc;
}

/* Writer thread: its statements on wdb follow the replica's copies (a new schema, a new sqlite_sequence). */
static void prepare_writer_stmts(replica *r)
{
    if (r->st_gen == r->gen && r->st_schema)
        return;
    sqlite3_finalize(r->st_schema);
    sqlite3_finalize(r->st_seq);
    r->st_schema = r->st_seq = NULL;
    if (sqlite3_prepare_v2(r->wdb, "PRAGMA schema_version", -1, &r->st_schema, NULL) != SQLITE_OK)
        r->st_schema = NULL;
    if (sqlite3_prepare_v2(r->wdb, "SELECT name, seq FROM sqlite_sequence ORDER BY name", -1, &r->st_seq, NULL) !=
        SQLITE_OK)
        r->st_seq = NULL;
    r->st_gen = r->gen;
}

static int schema_changed(replica *r)
{
    if (!r->st_schema)
        return 1;
    int v = sqlite3_step(r->st_schema) == SQLITE_ROW ? sqlite3_column_int(r->st_schema, 0) : -1;
    sqlite3_reset(r->st_schema);
    return v != r->schema_version;
}

/* Copy one table whole from wdb into the replica (assumes an open transaction on apply). */
static int copy_table(replica *r, const char *table)
{
    char *sel = sqlite3_mprintf("SELECT * FROM main.\"%w\"", table);
    char *del = sqlite3_mprintf("DELETE FROM main.\"%w\"", table);
    sqlite3_stmt *s = NULL, *ins = NULL;
    int rc = sel && del ? sqlite3_prepare_v2(r->wdb, sel, -1, &s, NULL) : SQLITE_NOMEM;
    if (rc == SQLITE_OK)
        rc = sqlite3_exec(r->apply, del, NULL, NULL, NULL);
    if (rc == SQLITE_OK) {
        int n = sqlite3_column_count(s);
        buf q;
        buf_init(&q);
        buf_printf(&q, "INSERT INTO main.\"%s\" VALUES (", table); /* names with a quote: prepare fails, we rebuild */
        for (int i = 0; i < n; i++)
            buf_puts(&q, i ? ",?" : "?");
        buf_putc(&q, ')');
        rc = q.oom ? SQLITE_NOMEM : sqlite3_prepare_v2(r->apply, q.data, (int)q.len, &ins, NULL);
        buf_free(&q);
        while (rc == SQLITE_OK && sqlite3_step(s) == SQLITE_ROW) {
            for (int i = 0; i < n; i++)
                sqlite3_bind_value(ins, i + 1, sqlite3_column_value(s, i));
            rc = sqlite3_step(ins) == SQLITE_DONE ? SQLITE_OK : sqlite3_errcode(r->apply);
            sqlite3_reset(ins);
        }
    }
    sqlite3_finalize(s);
    sqlite3_finalize(ins);
    sqlite3_free(sel);
    sqlite3_free(del);
    return rc;
}

/* sqlite_sequence has no primary key either; it is a few rows, copied when it moved. */
static int sync_sequence(replica *r, buf *now)
{
    seq_text(r->st_seq, now);
    if (now->len == r->seq.len && (now->len == 0 || memcmp(now->data, r->seq.data, now->len) == 0))
        return SQLITE_OK;
    int rc = copy_table(r, "sqlite_sequence");
    if (rc == SQLITE_OK) {
        buf_reset(&r->seq);
        buf_append(&r->seq, now->data, now->len);
    }
    return rc;
}

/* One transaction on the replica: the changeset, then the tables the session cannot see. */
static int apply_changes(replica *r, int n, void *p)
{
    int rc = sqlite3_exec(r->apply, "BEGIN", NULL, NULL, NULL);
    if (rc == SQLITE_OK && n > 0 && (rc = applier_apply(r->applier, n, p)) == SQLITE_ABORT)
        atomic_fetch_add(&r->conflicts, 1);
    for (int i = 0; i < r->nnopk; i++) {
        if (rc == SQLITE_OK && r->copy[i])
            rc = copy_table(r, r->nopk[i]);
        r->copy[i] = 0;
    }
    buf now;
    buf_init(&now);
    if (rc == SQLITE_OK)
        rc = sync_sequence(r, &now);
    buf_free(&now);
    if (rc == SQLITE_OK)
        rc = sqlite3_exec(r->apply, "COMMIT", NULL, NULL, NULL);
    if (rc != SQLITE_OK && !sqlite3_get_autocommit(r->apply))
        sqlite3_exec(r->apply, "ROLLBACK", NULL, NULL, NULL);
    return rc;
}

void replica_hook_end(void *ud, int committed)
{
    replica *r = ud;
    if (!r->sess)
        return;
    int dirty = !sqlite3session_isempty(r->sess);
    for (int i = 0; i < r->nnopk && !dirty; i++)
        dirty = r->copy[i];
    if (!atomic_load(&r->on) || !committed) {
        if (dirty)
            new_session(r);
        return;
    }
    /* The last client statement's statement_timeout must not stop a copy or an apply halfway. */
    db_set_limits(r->wconn, 0, 0);
    prepare_writer_stmts(r);
    if (atomic_load(&r->stale) || schema_changed(r)) {
        /* A new schema (or a foreign commit): the session's view of the tables is stale too. */
        new_session(r);
        do_rebuild(r, r->wdb);
        return;
    }
    if (!dirty) {
        /* The notes' dirty flag: nothing was written, nothing to replicate. (sqlite_sequence
         * cannot move without a write to a table with a primary key, which the session sees.) */
        atomic_fetch_add(&r->skipped, 1);
        return;
    }
    int n = 0;
    void *p = NULL;
    int64_t t0 = mono_ns();
    int rc = sqlite3session_changeset(r->sess, &n, &p);
    if (rc == SQLITE_OK)
        rc = new_session(r);
    if (rc != SQLITE_OK) {
        sqlite3_free(p);
        log_warn("read replica: cannot record the changes (%s); copying the database again", sqlite3_errstr(rc));
        new_session(r);
        do_rebuild(r, r->wdb);
        return;
    }
    atomic_fetch_add(&r->lag_changesets, 1);
    atomic_fetch_add(&r->lag_bytes, n);
    pthread_rwlock_wrlock(&r->rw);
    rc = apply_changes(r, n, p);
    if (rc == SQLITE_OK)
        atomic_store(&r->bytes, replica_size(r));
    pthread_rwlock_unlock(&r->rw);
    atomic_fetch_sub(&r->lag_changesets, 1);
    atomic_fetch_sub(&r->lag_bytes, n);
    sqlite3_free(p);
    atomic_fetch_add(&r->apply_ns, mono_ns() - t0);
    if (rc == SQLITE_OK) {
        atomic_fetch_add(&r->applied, 1);
        atomic_fetch_add(&r->applied_bytes, n);
        return;
    }
    if (rc == SQLITE_FULL) {
        char why[160];
        snprintf(why, sizeof why, "it grew past replica_max_bytes (%lld)", (long long)r->cfg->replica_max_bytes);
        turn_off(r, why);
        return;
    }
    log_warn("read replica: a changeset did not apply (%s); copying the database again", sqlite3_errstr(rc));
    do_rebuild(r, r->wdb);
}

void replica_hook_detach(void *ud)
{
    replica *r = ud;
    if (r->sess)
        sqlite3session_delete(r->sess);
    sqlite3_finalize(r->st_schema);
    sqlite3_finalize(r->st_seq);
    r->sess = NULL;
    r->st_schema = r->st_seq = NULL;
}

/* ---- life cycle ---- */

replica *replica_open(const config *cfg, db_conn *wdb, extwatch *watch, char *err, size_t errlen)
{
    if (cfg->read_replica != CONFIG_REPLICA_MEMORY)
        return NULL;
    replica *r = calloc(1, sizeof *r);
    if (!r) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    r->cfg = cfg;
    r->watch = watch;
    r->wconn = wdb;
    r->wdb = db_handle(wdb);
    buf_init(&r->seq);
    pthread_rwlockattr_t ra;
    pthread_rwlockattr_init(&ra);
    /* Writer first: a steady stream of reads must not hold an apply (and the acknowledgement) off. */
    pthread_rwlockattr_setkind_np(&ra, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
    pthread_rwlock_init(&r->rw, &ra);
    pthread_rwlockattr_destroy(&ra);
    snprintf(r->uri, sizeof r->uri, "file:/litecached-replica-%ld-%u?vfs=memdb", (long)getpid(),
             atomic_fetch_add(&replica_seq, 1));
    int rc = sqlite3_open_v2(r->uri, &r->apply,
                             SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_URI | SQLITE_OPEN_NOMUTEX, NULL);
    if (rc == SQLITE_OK) {
        /* Triggers and cascades already ran on the main database: their effects are in the changeset. */
        sqlite3_db_config(r->apply, SQLITE_DBCONFIG_ENABLE_TRIGGER, 0, NULL);
        sqlite3_int64 limit = cfg->replica_max_bytes;
        sqlite3_file_control(r->apply, "main", SQLITE_FCNTL_SIZE_LIMIT, &limit);
        rc = sqlite3_exec(r->apply, "PRAGMA journal_mode=MEMORY; PRAGMA foreign_keys=OFF; PRAGMA mmap_size=0",
                          NULL, NULL, NULL);
    }
    if (rc == SQLITE_OK && !(r->applier = applier_new(r->apply)))
        rc = SQLITE_NOMEM;
    if (rc != SQLITE_OK) {
        snprintf(err, errlen, "read replica: %s", r->apply ? sqlite3_errmsg(r->apply) : sqlite3_errstr(rc));
        replica_free(r);
        return NULL;
    }
    atomic_store(&r->on, 1);
    char why[256];
    extwatch_hold(watch);
    int ok = copy_from(r, r->wdb, why, sizeof why) == 0;
    extwatch_release(watch);
    if (!ok) {
        snprintf(r->why, sizeof r->why, "refused: %s", why);
        atomic_store(&r->on, 0);
        log_warn("read_replica = memory refused: %s; reads are served from the database file", why);
        return r;
    }
    if ((rc = new_session(r)) != SQLITE_OK) {
        snprintf(err, errlen, "read replica: cannot start a session: %s", sqlite3_errstr(rc));
        replica_free(r);
        return NULL;
    }
    extwatch_on_foreign(watch, on_foreign, r);
    if (!watch)
        log_warn("read replica: commits by other processes will not reach it (no watch on the WAL index)");
    log_info("read replica: %lld bytes in memory", (long long)atomic_load(&r->bytes));
    return r;
}

void replica_free(replica *r)
{
    if (!r)
        return;
    extwatch_on_foreign(r->watch, NULL, NULL);
    replica_hook_detach(r);
    nopk_clear(r);
    buf_free(&r->seq);
    applier_free(r->applier);
    sqlite3_close(r->apply);
    pthread_rwlock_destroy(&r->rw);
    free(r);
}

int replica_attach(replica *r, db_conn *file_db, char *err, size_t errlen)
{
    if (!r || !atomic_load(&r->on))
        return 0;
    db_conn *peer = db_open_at(r->cfg, r->uri, DB_REPLICA, err, errlen);
    if (!peer)
        return -1;
    db_set_peer(file_db, peer);
    return 0;
}

void replica_detach(db_conn *file_db)
{
    if (!file_db)
        return;
    db_close(db_peer(file_db));
    db_set_peer(file_db, NULL);
}

/* ---- reads ---- */

db_conn *replica_read_begin(replica *r, db_conn *file_db)
{
    db_conn *peer = db_peer(file_db);
    if (!r || !peer || !atomic_load_explicit(&r->on, memory_order_relaxed))
        return file_db;
    extwatch_check(r->watch);
    if (atomic_load(&r->stale)) {
        /* Copied from this worker's own connection to the file, with the writer held off. */
        extwatch_hold(r->watch);
        if (atomic_load(&r->stale) && atomic_load(&r->on)) {
            db_set_limits(file_db, 0, 0);
            do_rebuild(r, db_handle(file_db));
        }
        extwatch_release(r->watch);
    }
    pthread_rwlock_rdlock(&r->rw);
    if (!atomic_load(&r->on)) {
        pthread_rwlock_unlock(&r->rw);
        return file_db;
    }
    return peer;
}

void replica_read_end(replica *r, db_conn *file_db, db_conn *used)
{
    if (r && used != file_db)
        pthread_rwlock_unlock(&r->rw);
}

/* ---- stats ---- */

void replica_get_stats(replica *r, replica_stats *s)
{
    memset(s, 0, sizeof *s);
    if (!r)
        return;
    s->on = atomic_load(&r->on);
    s->stale = atomic_load(&r->stale);
    s->bytes = atomic_load(&r->bytes);
    s->max_bytes = r->cfg->replica_max_bytes;
    s->lag_changesets = atomic_load(&r->lag_changesets);
    s->lag_bytes = atomic_load(&r->lag_bytes);
    s->applied = atomic_load(&r->applied);
    s->applied_bytes = atomic_load(&r->applied_bytes);
    s->rebuilds = atomic_load(&r->rebuilds);
    s->conflicts = atomic_load(&r->conflicts);
    s->skipped = atomic_load(&r->skipped);
    s->apply_ns = atomic_load(&r->apply_ns);
}

void replica_put_stats(replica *r, buf *out)
{
    replica_stats s;
    replica_get_stats(r, &s);
    buf_printf(out, "=replica_on\t%d\n", s.on);
    buf_printf(out, "=replica_bytes\t%lld\n", (long long)s.bytes);
    buf_printf(out, "=replica_lag_changesets\t%lld\n", (long long)s.lag_changesets);
    buf_printf(out, "=replica_lag_bytes\t%lld\n", (long long)s.lag_bytes);
    buf_printf(out, "=replica_stale\t%d\n", s.stale);
    buf_printf(out, "=replica_changesets_applied\t%lld\n", (long long)s.applied);
    buf_printf(out, "=replica_changeset_bytes\t%lld\n", (long long)s.applied_bytes);
    buf_printf(out, "=replica_commits_skipped\t%lld\n", (long long)s.skipped);
    buf_printf(out, "=replica_apply_ms\t%.3f\n", (double)s.apply_ns / 1e6);
    buf_printf(out, "=replica_rebuilds\t%lld\n", (long long)s.rebuilds);
    buf_printf(out, "=replica_conflicts\t%lld\n", (long long)s.conflicts);
}

void replica_put_status(replica *r, buf *out)
{
    int on = r && atomic_load(&r->on);
    buf_printf(out, "=replica\t%s\n", !r ? "off" : on ? "memory" : "file");
    if (r && !on && r->why[0]) {
        buf_puts(out, "=replica_reason\t");
        lp_put_tsv_escaped(out, r->why, strlen(r->why));
        buf_putc(out, '\n');
    }
    if (r)
        buf_printf(out, "=replica_max_bytes\t%lld\n", (long long)r->cfg->replica_max_bytes);
    replica_put_stats(r, out);
}

/* ---- REPLICA CHECK ---- */

static int same_value(sqlite3_stmt *a, sqlite3_stmt *b, int i)
{
    int t = sqlite3_column_type(a, i);
    if (t != sqlite3_column_type(b, i))
        return 0;
    switch (t) {
    case SQLITE_NULL:    return 1;
    case SQLITE_INTEGER: return sqlite3_column_int64(a, i) == sqlite3_column_int64(b, i);
    case SQLITE_FLOAT: {
        double x = sqlite3_column_double(a, i), y = sqlite3_column_double(b, i);
        return memcmp(&x, &y, sizeof x) == 0;
    }
    default: {
        const void *x = t == SQLITE_TEXT ? (const void *)sqlite3_column_text(a, i) : sqlite3_column_blob(a, i);
        const void *y = t == SQLITE_TEXT ? (const void *)sqlite3_column_text(b, i) : sqlite3_column_blob(b, i);
        int n = sqlite3_column_bytes(a, i);
        return n == sqlite3_column_bytes(b, i) && (n == 0 || memcmp(x, y, (size_t)n) == 0);
    }
    }
}

static int same_row(sqlite3_stmt *a, sqlite3_stmt *b)
{
    int n = sqlite3_column_count(a);
    if (n != sqlite3_column_count(b))
        return 0;
    for (int i = 0; i < n; i++)
        if (!same_value(a, b, i))
            return 0;
    return 1;
}

/* Both sides in rowid order (or by every column for a WITHOUT ROWID table), merged on the rowid:
 * a row missing on one side or different counts once. */
static int64_t compare_table(sqlite3 *fa, sqlite3 *fb, const char *table, int64_t *na, int64_t *nb)
{
    char *q = sqlite3_mprintf("SELECT rowid, * FROM main.\"%w\" ORDER BY rowid", table);
    sqlite3_stmt *a = NULL, *b = NULL;
    int keyed = 1;
    if (!q || sqlite3_prepare_v2(fa, q, -1, &a, NULL) != SQLITE_OK) {
        sqlite3_free(q);
        keyed = 0;
        q = sqlite3_mprintf("SELECT * FROM main.\"%w\" ORDER BY 1, 2, 3, 4, 5, 6, 7, 8", table);
        if (!q || sqlite3_prepare_v2(fa, q, -1, &a, NULL) != SQLITE_OK) {
            sqlite3_free(q);
            q = sqlite3_mprintf("SELECT * FROM main.\"%w\" ORDER BY 1", table);
            if (!q || sqlite3_prepare_v2(fa, q, -1, &a, NULL) != SQLITE_OK)
                a = NULL;
        }
    }
    if (a && sqlite3_prepare_v2(fb, q, -1, &b, NULL) != SQLITE_OK)
        b = NULL;
    sqlite3_free(q);
    int64_t diff = 0;
    *na = *nb = 0;
    int ra = a ? sqlite3_step(a) : SQLITE_DONE, rb = b ? sqlite3_step(b) : SQLITE_DONE;
    if (!b)
        diff++; /* the table is missing from the replica */
    while (ra == SQLITE_ROW || rb == SQLITE_ROW) {
        int step_a = ra == SQLITE_ROW, step_b = rb == SQLITE_ROW;
        if (step_a && step_b && keyed) {
            sqlite3_int64 ka = sqlite3_column_int64(a, 0), kb = sqlite3_column_int64(b, 0);
            step_a = ka <= kb;
            step_b = kb <= ka;
        }
        if (step_a && step_b)
            diff += !same_row(a, b);
        else
            diff++;
        if (step_a) {
            (*na)++;
            ra = sqlite3_step(a);
        }
        if (step_b) {
            (*nb)++;
            rb = sqlite3_step(b);
        }
    }
    sqlite3_finalize(a);
    sqlite3_finalize(b);
    return diff;
}

int replica_check(replica *r, db_conn *file_db, buf *out, int64_t *differing, char *err, size_t errlen)
{
    *differing = 0;
    db_conn *peer = file_db ? db_peer(file_db) : NULL;
    if (!r || !peer || !atomic_load(&r->on)) {
        snprintf(err, errlen, "there is no read replica (%s)", !r ? "read_replica = off" : r->why[0] ? r->why : "off");
        return -1;
    }
    /* The watch lock keeps the writer between transactions, so the file and the replica hold the
     * same commits; a foreign commit noticed on the way is copied in first. */
    extwatch_hold(r->watch);
    db_set_limits(file_db, 0, 0);
    db_set_limits(peer, 0, 0);
    if (atomic_load(&r->stale) && atomic_load(&r->on))
        do_rebuild(r, db_handle(file_db));
    pthread_rwlock_rdlock(&r->rw);
    sqlite3 *fa = db_handle(file_db), *fb = db_handle(peer);
    int ntables = 0;
    sqlite3_stmt *st = NULL;
    sqlite3_exec(fa, "BEGIN", NULL, NULL, NULL);
    sqlite3_exec(fb, "BEGIN", NULL, NULL, NULL);
    buf_puts(out, "#table\tmain_rows\treplica_rows\tdiffering\n");
    if (sqlite3_prepare_v2(fa, "SELECT name FROM sqlite_schema WHERE type = 'table' ORDER BY name", -1, &st, NULL) ==
        SQLITE_OK) {
        while (sqlite3_step(st) == SQLITE_ROW) {
            const char *name = (const char *)sqlite3_column_text(st, 0);
            int64_t na, nb, d = compare_table(fa, fb, name, &na, &nb);
            buf_putc(out, '=');
            lp_put_tsv_escaped(out, name, strlen(name));
            buf_printf(out, "\t%lld\t%lld\t%lld\n", (long long)na, (long long)nb, (long long)d);
            *differing += d;
            ntables++;
        }
    }
    sqlite3_finalize(st);
    sqlite3_exec(fa, "COMMIT", NULL, NULL, NULL);
    sqlite3_exec(fb, "COMMIT", NULL, NULL, NULL);
    pthread_rwlock_unlock(&r->rw);
    extwatch_release(r->watch);
    return ntables;
}
