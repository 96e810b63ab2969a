/* pgrun.c - running PostgreSQL statements: CALL of named queries, the simple Query protocol (implicit transaction blocks), reads through the cache, writes and transactions through the writer, SET/SHOW. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "pgcall.h"
#include "pgsess_int.h"
#include "rcache.h"
#include "stats.h"

static int word_at(const char *p, const char *end, const char *w)
{
    size_t n = strlen(w);
    return (size_t)(end - p) >= n && !strncasecmp(p, w, n) &&
           (p + n == end || !(isalnum((unsigned char)p[n]) || p[n] == '_'));
}

static void skip_ws(const char **p, const char *end)
{
    while (*p < end && isspace((unsigned char)**p))
        (*p)++;
}

/* ---- CALL name(args) ---- */

void pgs_call_unit(pg_unit *u, const catalog_entry *e, const lp_arg *args, int n)
{
    u->action = PGSQL_SQL;
    u->is_call = 1;
    u->it.sql = e->q->sql;
    u->it.len = strlen(e->q->sql);
    u->it.plan = e->plan;
    u->it.name = e->q->name;
    u->it.ttl = e->q->ttl > 0 ? e->q->ttl : 0;
    u->it.nocache = e->q->nocache;
    u->it.args = args;
    u->it.nargs = n;
    u->nstmts = query_plan_nstmts(e->plan);
    u->readonly = e->readonly;
}

int pgs_resolve(pgsess *s, const char *orig, size_t len, int pos_base, pg_unit *u, buf *out)
{
    memset(u, 0, sizeof *u);
    u->orig = orig;
    u->orig_len = len;
    u->pos_base = pos_base;
    u->readonly = -1;
    if (pgcall_is(orig, len)) {
        int params[PG_MAX_ARGS], n;
        const catalog_entry *e;
        const char *state;
        char msg[300];
        int max = conn_shared(s->c)->cfg->max_params < PG_MAX_ARGS ? conn_shared(s->c)->cfg->max_params : PG_MAX_ARGS;
        if (pgcall_parse(conn_shared(s->c)->cat, orig, len, s->call_args, params, max, &s->scratch, &e,
                           &n, &state, msg, sizeof msg) < 0)
            goto fail;
        for (int i = 0; i < n; i++)
            if (params[i]) {
                state = "42P02";
                snprintf(msg, sizeof msg, "there is no parameter $%d", params[i]);
                goto fail;
            }
        pgs_call_unit(u, e, s->call_args, n);
        return 0;
    fail:
        pgs_error(out, state, msg);
        u->action = PGSQL_ERROR;
        return -1;
    }
    if (pgsql_translate(orig, len, &s->ctx, &s->tr) < 0) {
        pgs_error(out, s->tr.sqlstate, s->tr.message);
        u->action = PGSQL_ERROR;
        return -1;
    }
    u->action = s->tr.action;
    u->tr = &s->tr;
    u->it.sql = s->tr.sql.data ? s->tr.sql.data : "";
    u->it.len = s->tr.sql.len;
    u->nstmts = s->tr.nstmts;
    u->nparams = s->tr.nparams;
    return 0;
}

/* ---- writer jobs ----------------------------------------------------------------------------------- */

struct pg_job {
    writer_job   wj;
    pgsink       sink;
    query_item  *items;
    pgsink_stmt *meta;
    pg_plan    **owners;
    size_t      *sql_off, *orig_off;  /* into arena; orig_off SIZE_MAX: no orig */
    size_t      *tag_off;             /* into arena: meta's tag_prefix; SIZE_MAX: none */
    int         *args_first;
    int          n, cap;
    lp_arg      *args;
    size_t      *arg_off;
    int          nargs, argcap;
    buf          arena;
    size_t       last_len, last_off;  /* the previous item's SQL in the arena */
};

void pgs_job_free(pg_job *j)
{
    if (!j)
        return;
    for (int i = 0; i < j->n; i++)
        pg_plan_unref(j->owners[i]);
    pgsink_free(&j->sink);
    buf_free(&j->wj.reply);
    buf_free(&j->arena);
    free(j->items);
    free(j->meta);
    free(j->owners);
    free(j->sql_off);
    free(j->orig_off);
    free(j->tag_off);
    free(j->args_first);
    free(j->args);
    free(j->arg_off);
    free(j);
}

static void job_release(writer_job *wj) { pgs_job_free((pg_job *)wj); }

pg_job *pgs_job_new(pgsess *s, int quiet)
{
    pg_job *j = calloc(1, sizeof *j);
    if (!j)
        return NULL;
    buf_init(&j->arena);
    buf_init(&j->wj.reply);
    pgsink_init(&j->sink);
    j->sink.quiet = quiet;
    j->wj.release = job_release;
    j->wj.limits = query_limits_for(conn_shared(s->c)->cfg, s->role);
    return j;
}

int pgs_job_items(const pg_job *j) { return j->n; }

static int grow(void **p, size_t elem, int cap)
{
    void *q = realloc(*p, elem * (size_t)cap);
    if (!q)
        return -1;
    *p = q;
    return 0;
}

int pgs_job_add(pg_job *j, const query_item *it, pg_plan *owner, const pgsink_stmt *meta)
{
    if (j->n == j->cap) {
        int cap = j->cap ? j->cap * 2 : 4;
        if (grow((void **)&j->items, sizeof *j->items, cap) || grow((void **)&j->meta, sizeof *j->meta, cap) ||
            grow((void **)&j->owners, sizeof *j->owners, cap) || grow((void **)&j->sql_off, sizeof *j->sql_off, cap) ||
            grow((void **)&j->orig_off, sizeof *j->orig_off, cap) || grow((void **)&j->tag_off, sizeof *j->tag_off, cap) ||
            grow((void **)&j->args_first, sizeof *j->args_first, cap))
            return -1;
        j->cap = cap;
    }
    if (j->nargs + it->nargs > j->argcap) {
        int cap = j->argcap ? j->argcap * 2 : 16;
        while (cap < j->nargs + it->nargs)
            cap *= 2;
        if (grow((void **)&j->args, sizeof *j->args, cap) || grow((void **)&j->arg_off, sizeof *j->arg_off, cap))
            return -1;
        j->argcap = cap;
    }
    int k = j->n;
    j->items[k] = *it;
    /* The same text as the previous item (COPY's rows share one INSERT): kept once. */
    if (j->n > 0 && it->len == j->last_len && !memcmp(it->sql, j->arena.data + j->last_off, it->len)) {
        j->sql_off[k] = j->last_off;
    } else {
        j->sql_off[k] = j->arena.len;
        buf_append(&j->arena, it->sql, it->len);
        buf_putc(&j->arena, '\0');
        j->last_len = it->len;
        j->last_off = j->sql_off[k];
    }
    j->meta[k] = meta ? *meta : (pgsink_stmt){0};
    /* Copied, as it may not outlive the job: without it the writer would lex orig for the tag of
     * every statement it runs (a quarter of its work on a prepared single-row INSERT). */
    j->meta[k].tag_prefix = NULL;
    j->tag_off[k] = (size_t)-1;
    if (meta && meta->tag_prefix) {
        j->tag_off[k] = j->arena.len;
        buf_puts(&j->arena, meta->tag_prefix);
        buf_putc(&j->arena, '\0');
    }
    j->orig_off[k] = (size_t)-1;
    if (meta && meta->orig) {
        j->orig_off[k] = j->arena.len;
        buf_append(&j->arena, meta->orig, meta->orig_len);
        buf_putc(&j->arena, '\0');
    }
    j->args_first[k] = j->nargs;
    for (int i = 0; i < it->nargs; i++) {
        j->args[j->nargs] = it->args[i];
        j->arg_off[j->nargs] = j->arena.len;
        if (it->args[i].type == LP_ARG_TEXT || it->args[i].type == LP_ARG_BLOB)
            buf_append(&j->arena, it->args[i].s, it->args[i].len);
        j->nargs++;
    }
    j->owners[k] = owner;
    if (owner)
        owner->refs++;
    j->n++;
    return j->arena.oom ? -1 : 0;
}

void pgs_job_submit(pgsess *s, pg_job *j, enum writer_tx tx, int savepoint_op, enum pg_wait w)
{
    /* The arena stops moving now: offsets become pointers. */
    for (int i = 0; i < j->nargs; i++)
        if (j->args[i].type == LP_ARG_TEXT || j->args[i].type == LP_ARG_BLOB)
            j->args[i].s = j->arena.data + j->arg_off[i];
    for (int i = 0; i < j->n; i++) {
        query_item *it = &j->items[i];
        it->sql = j->arena.data + j->sql_off[i];
        it->args = it->nargs ? j->args + j->args_first[i] : NULL;
        pgsink_stmt *m = &j->meta[i];
        if (m->ran) {
            m->ran = it->sql;
            m->ran_len = it->len;
        }
        if (j->orig_off[i] != (size_t)-1)
            m->orig = j->arena.data + j->orig_off[i];
        if (j->tag_off[i] != (size_t)-1)
            m->tag_prefix = j->arena.data + j->tag_off[i];
        /* A named query's name and a fixed tag point to static or catalog text: left as they are. */
    }
    pgsink_start(&j->sink, j->meta, j->n);
    j->sink.restartable = 1;
    j->wj.items = j->items;
    j->wj.nitems = j->n;
    j->wj.sink = &j->sink.k;
    j->wj.tx = tx;
    j->wj.session = conn_id(s->c);
    j->wj.savepoint_op = savepoint_op;
    if (tx == WRITER_ABORT) {
        conn_submit_detached(s->c, &j->wj);
        return;
    }
    s->wait = w;
    conn_submit(s->c, &j->wj);
}

void pgs_submit_tx(pgsess *s, enum writer_tx tx, enum pg_wait w)
{
    pg_job *j = pgs_job_new(s, 0);
    if (!j) {
        pgs_error(conn_out(s->c), "53200", "out of memory");
        return;
    }
    pgs_job_submit(s, j, tx, 0, w);
}

int pgs_job_output(pgsess *s, writer_job *job, buf *out)
{
    (void)s;
    pg_job *j = (pg_job *)job;
    const buf *r = &job->reply;
    if (r->len > 0 && (r->data[0] == '+' || r->data[0] == '-')) {
        /* The writer's own answers (transaction control, a transaction it refused or rolled
         * back) are line-protocol text: "+OK COMMIT", "-ERR 25P02 message". */
        const char *nl = memchr(r->data, '\n', r->len);
        size_t n = nl ? (size_t)(nl - r->data) : r->len;
        char line[512];
        snprintf(line, sizeof line, "%.*s", (int)(n < sizeof line ? n : sizeof line - 1), r->data);
        if (line[0] == '+') {
            pgwire_command_complete(out, !strncmp(line, "+OK ", 4) ? line + 4 : "OK");
            return 0;
        }
        char state[6] = "XX000";
        const char *msg = line;
        if (!strncmp(line, "-ERR ", 5) && strlen(line) >= 11) {
            memcpy(state, line + 5, 5);
            msg = line + 11;
        }
        pgs_error(out, state, msg);
        return 1;
    }
    if (j->sink.failed) {
        /* What the writer appended after the error ("batch aborted" lines) is not ours to send. */
        buf_append(out, r->data, j->sink.err_end);
        return 1;
    }
    buf_append(out, r->data, r->len);
    return job->failed >= 0;
}

/* ---- one statement ---------------------------------------------------------------------------------- */

static pgsink_stmt unit_meta(const pg_unit *u)
{
    pgsink_stmt m = {u->orig, u->orig_len, u->it.sql, u->it.len, u->pos_base, NULL, u->tag_prefix, u->tag_count};
    if (u->is_call) {
        /* The tag comes from the named query's body; positions in it mean nothing to the client. */
        m.orig = u->it.sql;
        m.orig_len = u->it.len;
        m.ran = NULL;
    }
    return m;
}

/* SAVEPOINT, RELEASE, ROLLBACK TO: run bare by the writer, inside a transaction only. */
static const char *savepoint_word(const char *sql, size_t len)
{
    const char *p = sql, *end = sql + len;
    skip_ws(&p, end);
    if (word_at(p, end, "SAVEPOINT"))
        return "SAVEPOINT";
    if (word_at(p, end, "RELEASE"))
        return "RELEASE";
    if (!word_at(p, end, "ROLLBACK"))
        return NULL;
    p += 8;
    skip_ws(&p, end);
    if (word_at(p, end, "TRANSACTION") || word_at(p, end, "WORK")) {
        p += word_at(p, end, "WORK") ? 4 : 11;
        skip_ws(&p, end);
    }
    return word_at(p, end, "TO") ? "ROLLBACK TO SAVEPOINT" : NULL;
}

static enum pg_step submit_unit(pgsess *s, const pg_unit *u, enum writer_tx tx, int savepoint_op, enum pg_wait w,
                                buf *out, int *failed)
{
    pg_job *j = pgs_job_new(s, 0);
    pgsink_stmt m = unit_meta(u);
    if (!j || pgs_job_add(j, &u->it, u->owner, &m) < 0) {
        pgs_job_free(j);
        pgs_error(out, "53200", "out of memory");
        *failed = 1;
        return PGS_DONE;
    }
    stats_add(STATS_QUERIES, 1);
    stats_add(STATS_WRITES, 1);
    pgs_job_submit(s, j, tx, savepoint_op, w);
    return PGS_AGAIN;
}

/* A read on this worker's reader, through the cache (PostgreSQL text slot). */
static int run_read(pgsess *s, const pg_unit *u, buf *out)
{
    const worker_shared *sh = conn_shared(s->c);
    pgsink_stmt m = unit_meta(u);
    pgsink_start(&s->sink, &m, 1);
    query_limits lim = query_limits_for(sh->cfg, s->role);
    db_conn *db = conn_reader(s->c);
    stats_add(STATS_QUERIES, 1);
    stats_add(STATS_READS, 1);
    /* With a read replica an uncached read runs on the reader's replica connection. */
    pgcancel_begin(s->cancel, db_handle(db_peer(db) ? db_peer(db) : db));
    int r = rcache_read(sh->rc, db, &u->it, &s->sink.k, RCACHE_PG_TEXT, &lim, out, NULL, &s->ckey);
    pgcancel_end(s->cancel);
    return r < 0;
}

/* Does this plain statement only read? Prepared on the reader (a failure: let the run report it). */
static int plain_readonly(pgsess *s, const pg_unit *u, int *txn_ctl)
{
    db_stmt *ds;
    size_t used;
    *txn_ctl = 0;
    if (db_prepare(conn_reader(s->c), u->it.sql, u->it.len, &ds, &used) != SQLITE_OK || !ds)
        return 1;
    *txn_ctl = (db_stmt_flags(ds) & DB_STMT_TXN) != 0;
    return sqlite3_stmt_readonly(db_stmt_handle(ds));
}

static enum pg_step run_sql(pgsess *s, const pg_unit *u0, buf *out, int *failed, enum pg_wait w)
{
    pg_unit tmp = *u0, *u = &tmp;
    const char *sp = u->is_call ? NULL : savepoint_word(u->it.sql, u->it.len);
    if (s->txn == WRITER_TX_FAILED && !(sp && !strcmp(sp, "ROLLBACK TO SAVEPOINT"))) {
        pgs_error(out, "25P02", "current transaction is aborted, commands ignored until end of transaction block");
        return *failed = 1, PGS_DONE;
    }
    if (u->nparams > u->it.nargs) {
        char msg[64];
        snprintf(msg, sizeof msg, "there is no parameter $%d", u->it.nargs + 1);
        pgs_error(out, "42P02", msg);
        return *failed = 1, PGS_DONE;
    }
    if (sp) {
        /* PostgreSQL refuses savepoints in an implicit transaction too: a multi-statement Query's,
         * or a pipeline's (an Execute after another before Sync). */
        if (s->txn == WRITER_TX_NONE || s->q.implicit || pgext_implicit(s)) {
            char msg[96];
            snprintf(msg, sizeof msg, "%s can only be used in transaction blocks", sp);
            pgs_error(out, "25P01", msg);
            return *failed = 1, PGS_DONE;
        }
        return submit_unit(s, u, WRITER_IN_TX, strcmp(sp, "ROLLBACK TO SAVEPOINT") ? WRITER_SP_SET : WRITER_SP_ROLLBACK_TO,
                           w, out, failed);
    }
    /* Several SQLite statements (TRUNCATE a, b) need a plan so that one item runs them all. */
    pg_plan *built = NULL;
    if (!u->it.plan && u->nstmts > 1) {
        char why[512];
        int ro;
        query_plan *p = query_plan_build(conn_reader(s->c), u->it.sql, u->it.len, &ro, why, sizeof why);
        if (!p) {
            pgs_error(out, "42601", why);
            return *failed = 1, PGS_DONE;
        }
        if (!(built = pg_plan_new(p))) {
            pgs_error(out, "53200", "out of memory");
            return *failed = 1, PGS_DONE;
        }
        u->it.plan = p;
        u->owner = built;
        u->readonly = ro;
    }
    enum pg_step st = PGS_DONE;
    if (s->txn != WRITER_TX_NONE) {
        /* Inside a transaction everything runs on the writer and sees the transaction's writes. */
        st = submit_unit(s, u, WRITER_IN_TX, 0, w, out, failed);
    } else {
        const worker_shared *sh = conn_shared(s->c);
        if (!u->it.plan && !u->it.nargs) {
            pgsink_stmt m = unit_meta(u);
            pgsink_start(&s->sink, &m, 1);
            if (rcache_try_hit(sh->rc, u->it.sql, u->it.len, &s->sink.k, RCACHE_PG_TEXT, out, &s->ckey, NULL)) {
                stats_add(STATS_QUERIES, 1);
                stats_add(STATS_READS, 1);
                return PGS_DONE;
            }
        }
        int txn_ctl = 0;
        if (u->readonly < 0)
            u->readonly = u->it.plan ? 0 : plain_readonly(s, u, &txn_ctl);
        if (txn_ctl) {
            pgs_error(out, "0A000", "this transaction control statement is not supported");
            *failed = 1;
        } else if (u->readonly) {
            *failed = run_read(s, u, out);
        } else {
            st = submit_unit(s, u, WRITER_PLAIN, 0, w, out, failed);
        }
    }
    pg_plan_unref(built);
    return st;
}

static void put_tag(buf *out, const pg_unit *u)
{
    char tag[64];
    pgwire_command_complete(out, pgwire_command_tag(u->orig, 0, 0, tag, sizeof tag));
}

/* BEGIN / COMMIT / ROLLBACK: the writer owns transactions; outside one PostgreSQL only warns. */
static enum pg_step run_tx(pgsess *s, const pg_unit *u, buf *out, int *failed, enum pg_wait w)
{
    pgwire_error_fields warn = {"WARNING", NULL, NULL, NULL, NULL, 0};
    if (u->action == PGSQL_BEGIN) {
        if (s->txn == WRITER_TX_FAILED) {
            pgs_error(out, "25P02", "current transaction is aborted, commands ignored until end of transaction block");
            return *failed = 1, PGS_DONE;
        }
        if (s->txn == WRITER_TX_OPEN) {
            warn.sqlstate = "25001";
            warn.message = "there is already a transaction in progress";
            pgwire_notice(out, &warn);
            pgwire_command_complete(out, "BEGIN");
            return PGS_DONE;
        }
        pgs_submit_tx(s, WRITER_BEGIN, w);
        return PGS_AGAIN;
    }
    if (s->txn == WRITER_TX_NONE) {
        warn.sqlstate = "25P01";
        warn.message = "there is no transaction in progress";
        pgwire_notice(out, &warn);
        pgwire_command_complete(out, u->action == PGSQL_COMMIT ? "COMMIT" : "ROLLBACK");
        return PGS_DONE;
    }
    /* COMMIT of a failed transaction rolls back and says so, as PostgreSQL does. */
    pgs_submit_tx(s, u->action == PGSQL_COMMIT && s->txn == WRITER_TX_OPEN ? WRITER_COMMIT : WRITER_ROLLBACK, w);
    return PGS_AGAIN;
}

enum pg_step pgs_run_unit(pgsess *s, const pg_unit *u, buf *out, int *failed, enum pg_wait w)
{
    *failed = 0;
    const pgsql_result *r = u->tr;
    const char *state;
    char msg[200];
    switch (u->action) {
    case PGSQL_SQL:
        return run_sql(s, u, out, failed, w);
    case PGSQL_BEGIN: case PGSQL_COMMIT: case PGSQL_ROLLBACK:
        return run_tx(s, u, out, failed, w);
    case PGSQL_EMPTY:
        pgwire_empty_query(out);
        return PGS_DONE;
    case PGSQL_ERROR:
        pgs_error(out, r->sqlstate, r->message);
        return *failed = 1, PGS_DONE;
    default:
        break;
    }
    if (s->txn == WRITER_TX_FAILED) {
        pgs_error(out, "25P02", "current transaction is aborted, commands ignored until end of transaction block");
        return *failed = 1, PGS_DONE;
    }
    switch (u->action) {
    case PGSQL_NOOP:
        if (r->notice) {
            pgwire_error_fields n = {"NOTICE", "00000", r->notice, NULL, NULL, 0};
            pgwire_notice(out, &n);
        }
        put_tag(out, u);
        break;
    case PGSQL_SET:
        if (pgguc_set(s->guc, r->name, r->value.data ? r->value.data : "", out, &state, msg, sizeof msg) < 0) {
            pgs_error(out, state, msg);
            return *failed = 1, PGS_DONE;
        }
        pgwire_command_complete(out, "SET");
        break;
    case PGSQL_RESET:
        pgguc_reset(s->guc, r->name, out);
        pgwire_command_complete(out, "RESET");
        break;
    case PGSQL_SHOW:
        if (pgguc_show(s->guc, r->name, out) < 0) {
            stats_error("42704");
            *failed = 1;
        }
        break;
    case PGSQL_DEALLOCATE:
        if (pgext_deallocate(s, strcmp(r->name, "all") ? r->name : NULL) < 0) {
            snprintf(msg, sizeof msg, "prepared statement \"%.100s\" does not exist", r->name);
            pgs_error(out, "26000", msg);
            return *failed = 1, PGS_DONE;
        }
        pgwire_command_complete(out, strcmp(r->name, "all") ? "DEALLOCATE" : "DEALLOCATE ALL");
        break;
    case PGSQL_DISCARD:
        if (s->txn != WRITER_TX_NONE) {
            pgs_error(out, "25001", "DISCARD cannot run inside a transaction block");
            return *failed = 1, PGS_DONE;
        }
        if (!strcmp(r->name, "all") || !strcmp(r->name, "plans"))
            pgext_deallocate(s, NULL);
        if (!strcmp(r->name, "all"))
            pgguc_reset(s->guc, "all", out);
        snprintf(msg, sizeof msg, "DISCARD %s", r->name);
        for (char *p = msg; *p; p++)
            *p = (char)toupper((unsigned char)*p);
        pgwire_command_complete(out, msg);
        break;
    case PGSQL_COPY_FROM_STDIN:
        pgs_error(out, "0A000", "COPY FROM STDIN is supported in a simple Query message only");
        return *failed = 1, PGS_DONE;
    default:
        pgs_error(out, "XX000", "unexpected statement kind");
        return *failed = 1, PGS_DONE;
    }
    return PGS_DONE;
}

/* ---- the simple Query protocol ------------------------------------------------------------------------ */

/* Characters of the query text before byte off (positions in errors count characters). */
static int chars_before(pgsess *s, size_t off)
{
    if (off < s->q.pos_byte) {
        s->q.pos_byte = 0;
        s->q.chars = 0;
    }
    for (; s->q.pos_byte < off; s->q.pos_byte++)
        s->q.chars += ((unsigned char)s->q.text.data[s->q.pos_byte] & 0xC0) != 0x80;
    return s->q.chars;
}

static void query_finish(pgsess *s)
{
    if (s->q.implicit == PGQ_IMPLICIT_RUN && s->txn != WRITER_TX_NONE) {
        /* The implicit transaction ends: committed, or rolled back after a failure. */
        s->q.implicit = PGQ_IMPLICIT_END;
        pgs_submit_tx(s, s->txn == WRITER_TX_OPEN ? WRITER_COMMIT : WRITER_ROLLBACK, PGW_QUERY);
        if (s->wait == PGW_QUERY)
            return; /* pgs_query_job_done finishes */
    }
    s->q.implicit = 0;
    pgwire_ready(conn_out(s->c), pgs_status(s));
    s->q.active = 0;
}

/* The rest of the Query is skipped; an open transaction is now failed. */
static void query_failed(pgsess *s)
{
    s->q.i = s->q.n;
    if (s->txn == WRITER_TX_OPEN)
        s->txn = WRITER_TX_FAILED;
}

/* Several statements outside a transaction are one implicit transaction in PostgreSQL (all or
 * nothing). When they are all plain SQL and some write, they go to the writer as one job. When
 * some write but others cannot join that job (SET, CALL, $n, COPY, ...), the run is wrapped in a
 * transaction of its own (q.implicit): BEGIN now, COMMIT or ROLLBACK in query_finish, neither
 * shown to the client. Only a query that reads, or that has its own BEGIN/COMMIT/ROLLBACK, runs
 * statement by statement. Returns 1 when a job went out. */
static int implicit_block(pgsess *s)
{
    if (s->txn != WRITER_TX_NONE || s->q.n < 2)
        return 0;
    pg_job *j = pgs_job_new(s, 0);
    int writes = 0, single = j != NULL, txctl = 0;
    buf junk; /* errors are reported by the one-by-one run instead */
    buf_init(&junk);
    for (size_t i = 0; !txctl && i < s->q.n; i++) {
        pgsql_span sp = s->q.spans[i];
        pg_unit u;
        const char *text = s->q.text.data + sp.off;
        if (pgs_resolve(s, text, sp.len, chars_before(s, sp.off), &u, &junk) < 0) {
            single = 0; /* it fails when its turn comes */
            continue;
        }
        txctl = u.action == PGSQL_BEGIN || u.action == PGSQL_COMMIT || u.action == PGSQL_ROLLBACK;
        writes |= u.action == PGSQL_COPY_FROM_STDIN || (u.is_call && !u.readonly);
        if (u.is_call || u.action != PGSQL_SQL || u.nparams > 0 || savepoint_word(u.it.sql, u.it.len)) {
            single = 0;
            continue;
        }
        pg_plan *built = NULL;
        int txn_ctl = 0;
        if (u.nstmts > 1) {
            char why[256];
            int ro;
            query_plan *p = query_plan_build(conn_reader(s->c), u.it.sql, u.it.len, &ro, why, sizeof why);
            single = single && p && (built = pg_plan_new(p)) != NULL;
            u.it.plan = p;
            u.owner = built;
            writes |= !ro;
        } else {
            writes |= !plain_readonly(s, &u, &txn_ctl);
            txctl = txn_ctl;
        }
        pgsink_stmt m = unit_meta(&u);
        single = single && pgs_job_add(j, &u.it, u.owner, &m) == 0;
        pg_plan_unref(built);
    }
    buf_free(&junk);
    if (single && writes && !txctl) {
        stats_add(STATS_QUERIES, (int64_t)s->q.n);
        stats_add(STATS_WRITES, (int64_t)s->q.n);
        s->q.i = s->q.n;
        pgs_job_submit(s, j, WRITER_PLAIN, 0, PGW_QUERY);
        return 1;
    }
    pgs_job_free(j);
    if (!writes || txctl)
        return 0;
    s->q.implicit = PGQ_IMPLICIT_BEGIN;
    pgs_submit_tx(s, WRITER_BEGIN, PGW_QUERY);
    if (s->wait == PGW_QUERY)
        return 1;
    s->q.implicit = 0; /* out of memory, said so: nothing runs */
    s->q.i = s->q.n;
    return 0;
}

void pgs_query_start(pgsess *s, const char *sql, size_t len)
{
    stats_request(STATS_PROTO_PG, "query");
    buf_reset(&s->q.text);
    buf_append(&s->q.text, sql, len);
    buf_putc(&s->q.text, '\0');
    s->q.active = 1;
    s->q.i = s->q.n = 0;
    s->q.pos_byte = 0;
    s->q.chars = 0;
    if (s->q.text.oom) {
        pgs_error(conn_out(s->c), "53200", "out of memory");
        query_finish(s);
        return;
    }
    size_t n = pgsql_split(s->q.text.data, len, s->q.spans, s->q.cap);
    if (n > s->q.cap) {
        pgsql_span *sp = realloc(s->q.spans, n * sizeof *sp);
        if (!sp) {
            pgs_error(conn_out(s->c), "53200", "out of memory");
            query_finish(s);
            return;
        }
        s->q.spans = sp;
        s->q.cap = n;
        pgsql_split(s->q.text.data, len, s->q.spans, s->q.cap);
    }
    s->q.n = n;
    if (n == 0) {
        pgwire_empty_query(conn_out(s->c));
        query_finish(s);
        return;
    }
    if (implicit_block(s))
        return;
    pgs_query_continue(s);
}

void pgs_query_continue(pgsess *s)
{
    buf *out = conn_out(s->c);
    while (s->q.i < s->q.n) {
        pgsql_span sp = s->q.spans[s->q.i++];
        pg_unit u;
        int failed = 0;
        if (pgs_resolve(s, s->q.text.data + sp.off, sp.len, chars_before(s, sp.off), &u, out) < 0) {
            query_failed(s);
            break;
        }
        if (u.action == PGSQL_COPY_FROM_STDIN) {
            if (s->txn == WRITER_TX_FAILED) {
                pgs_error(out, "25P02", "current transaction is aborted, commands ignored until end of transaction block");
                query_failed(s);
                break;
            }
            if (pgcopy_start(s, &s->tr, out) == PGS_AGAIN)
                return; /* COPY mode: pgcopy calls pgs_query_continue when it ends */
            query_failed(s);
            break;
        }
        if (pgs_run_unit(s, &u, out, &failed, PGW_QUERY) == PGS_AGAIN)
            return; /* pgs_query_job_done goes on */
        if (failed) {
            query_failed(s);
            break;
        }
    }
    query_finish(s);
}

int pgs_tx_job_output(pgsess *s, writer_job *job, buf *out)
{
    buf tmp;
    buf_init(&tmp);
    int failed = pgs_job_output(s, job, &tmp);
    if (failed)
        buf_append(out, tmp.data, tmp.len);
    buf_free(&tmp);
    return failed;
}

void pgs_query_job_done(pgsess *s, writer_job *job)
{
    if (s->q.implicit == PGQ_IMPLICIT_BEGIN || s->q.implicit == PGQ_IMPLICIT_END) {
        /* The implicit transaction's own BEGIN / COMMIT: the client sees only a failure. */
        int failed = pgs_tx_job_output(s, job, conn_out(s->c));
        if (s->q.implicit == PGQ_IMPLICIT_END) {
            s->q.implicit = 0;
            query_finish(s);
            return;
        }
        s->q.implicit = PGQ_IMPLICIT_RUN;
        if (failed)
            query_failed(s);
        pgs_query_continue(s);
        return;
    }
    if (pgs_job_output(s, job, conn_out(s->c)))
        query_failed(s);
    pgs_query_continue(s);
}
