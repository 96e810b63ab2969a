/* pgext.c - the PostgreSQL extended query protocol: Parse, Bind, Describe, Execute, Sync, Close, Flush over named and unnamed statements and portals. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uthash.h>

#include "pgcall.h"
#include "pgsess_int.h"
#include "pgval.h"
#include "stats.h"

/* A prepared statement. Shared by the map and by each portal bound from it (refs). */
typedef struct pgx_stmt {
    char                *name;
    UT_hash_handle       hh;
    int                  refs;
    char                *orig;        /* the query as the client sent it */
    size_t               orig_len;
    pgsql_action         action;
    pgsql_result        *tr;          /* what a non-SQL statement does (SET name, SHOW name, ...) */
    char                *sql;         /* translated SQL */
    size_t               sql_len;
    int                  nstmts;
    pg_plan             *plan;        /* parameters or several statements: the plan that binds them */
    int                  readonly;    /* -1: found out when it runs */
    int                  ncols1;      /* columns + 1, once stmt_columns knew them; 0: not yet */
    int                  nparams;
    uint32_t            *ptypes;      /* nparams OIDs; 0 = unspecified */
    char                 tag_prefix[64]; /* its CommandComplete tag without the count */
    int                  tag_count;
    const catalog_entry *call;        /* CALL of a named query */
    lp_arg              *cargs;       /* its literal arguments */
    int                 *cparams;     /* per argument: 0 literal, n: $n */
    int                  ncargs;
    buf                  cscratch;    /* the literals' unescaped texts */
} pgx_stmt;

enum { P_NEW, P_RUNNING, P_DONE };

/* A portal: a bound statement and, once run, its whole output (materialized: no SQLite statement
 * stays open across messages on the shared reader). */
typedef struct pgx_portal {
    char          *name;
    UT_hash_handle hh;
    pgx_stmt      *st;
    lp_arg        *args;
    int            nargs;
    buf            arena;     /* argument texts and blobs */
    int16_t       *fmts;      /* result format codes (0, 1 or one per column) */
    int            nfmts;
    int            state;
    int            failed;
    buf            res;       /* [RowDescription][DataRow...][tail: CommandComplete, notices, or the error] */
    buf            desc;      /* RowDescription or NoData that Describe sent before the run; empty: none */
    size_t         rd_len;    /* the RowDescription at the front; 0: none */
    size_t         next;      /* the next DataRow to send */
    size_t         tail;      /* where the DataRows end */
} pgx_portal;

struct pgext {
    pgx_stmt   *stmts;
    pgx_portal *portals;
    pgx_portal *running;   /* the portal whose job is with the writer */
    pgx_portal *spare;     /* a freed unnamed portal, reused (pgbench binds one per transaction) */
    int         implicit;  /* enum pgq_implicit: the pipeline's own transaction, until Sync */
    buf         scratch;
};

pgext *pgext_new(void)
{
    pgext *x = calloc(1, sizeof *x);
    if (x)
        buf_init(&x->scratch);
    return x;
}

static void stmt_unref(pgx_stmt *st)
{
    if (!st || --st->refs > 0)
        return;
    free(st->name);
    free(st->orig);
    if (st->tr) {
        pgsql_result_free(st->tr);
        free(st->tr);
    }
    free(st->sql);
    pg_plan_unref(st->plan);
    free(st->ptypes);
    free(st->cargs);
    free(st->cparams);
    buf_free(&st->cscratch);
    free(st);
}

static void portal_free(pgx_portal *p)
{
    if (!p)
        return;
    stmt_unref(p->st);
    free(p->name);
    free(p->args);
    free(p->fmts);
    buf_free(&p->arena);
    buf_free(&p->res);
    buf_free(&p->desc);
    free(p);
}

static void portal_drop(pgext *x, pgx_portal *p)
{
    HASH_DEL(x->portals, p);
    if (p->name[0] == '\0' && !x->spare) {
        /* Keep the allocations of the unnamed portal for the next Bind. */
        stmt_unref(p->st);
        p->st = NULL;
        x->spare = p;
        return;
    }
    portal_free(p);
}

static void drop_portals(pgext *x)
{
    pgx_portal *p, *tmp;
    HASH_ITER(hh, x->portals, p, tmp)
        portal_drop(x, p);
}

void pgext_free(pgext *x)
{
    if (!x)
        return;
    pgx_portal *p, *ptmp;
    HASH_ITER(hh, x->portals, p, ptmp) {
        HASH_DEL(x->portals, p);
        portal_free(p);
    }
    portal_free(x->spare);
    pgx_stmt *st, *stmp;
    HASH_ITER(hh, x->stmts, st, stmp) {
        HASH_DEL(x->stmts, st);
        stmt_unref(st);
    }
    buf_free(&x->scratch);
    free(x);
}

int pgext_deallocate(pgsess *s, const char *name)
{
    pgext *x = s->ext;
    pgx_stmt *st, *tmp;
    if (!name) {
        HASH_ITER(hh, x->stmts, st, tmp)
            if (st->name[0]) {
                HASH_DEL(x->stmts, st);
                stmt_unref(st);
            }
        return 0;
    }
    HASH_FIND_STR(x->stmts, name, st);
    if (!st || !name[0])
        return -1;
    HASH_DEL(x->stmts, st);
    stmt_unref(st);
    return 0;
}

int pgext_implicit(const pgsess *s)
{
    return s->ext->implicit != PGQ_IMPLICIT_NONE;
}

/* An error in the extended protocol: reported once, then everything up to Sync is skipped. */
static enum pg_step ext_fail(pgsess *s, const char *state, const char *msg)
{
    pgs_error(conn_out(s->c), state, msg);
    s->ext_error = 1;
    if (s->txn == WRITER_TX_OPEN)
        s->txn = WRITER_TX_FAILED;
    return PGS_DONE;
}

/* ---- Parse ------------------------------------------------------------------------------------------ */

static enum pg_step on_parse(pgsess *s, const char *body, size_t len)
{
    pgext *x = s->ext;
    char err[300];
    pgwire_parse m;
    if (pgwire_parse_parse(body, len, &m, err, sizeof err) < 0)
        return ext_fail(s, "08P01", err);
    stats_request(STATS_PROTO_PG, "parse");
    pgx_stmt *old;
    HASH_FIND_STR(x->stmts, m.name, old);
    if (old && m.name[0]) {
        snprintf(err, sizeof err, "prepared statement \"%.100s\" already exists", m.name);
        return ext_fail(s, "42P05", err);
    }
    pgx_stmt *st = calloc(1, sizeof *st);
    if (!st || !(st->name = strdup(m.name)) || !(st->orig = strndup(m.query, m.query_len))) {
        if (st)
            free(st->name);
        free(st);
        return ext_fail(s, "53200", "out of memory");
    }
    st->refs = 1;
    st->orig_len = m.query_len;
    st->readonly = -1;
    buf_init(&st->cscratch);
    const char *state = "53200";
    if (pgcall_is(st->orig, st->orig_len)) {
        st->cargs = calloc(PG_MAX_ARGS, sizeof *st->cargs);
        st->cparams = calloc(PG_MAX_ARGS, sizeof *st->cparams);
        if (!st->cargs || !st->cparams) {
            snprintf(err, sizeof err, "out of memory");
            goto fail;
        }
        int max = conn_shared(s->c)->cfg->max_params < PG_MAX_ARGS ? conn_shared(s->c)->cfg->max_params : PG_MAX_ARGS;
        if (pgcall_parse(conn_shared(s->c)->cat, st->orig, st->orig_len, st->cargs, st->cparams, max,
                           &st->cscratch, &st->call, &st->ncargs, &state, err, sizeof err) < 0)
            goto fail;
        st->action = PGSQL_SQL;
        st->readonly = st->call->readonly;
        for (int i = 0; i < st->ncargs; i++)
            if (st->cparams[i] > st->nparams)
                st->nparams = st->cparams[i];
    } else {
        if (pgsql_translate(st->orig, st->orig_len, &s->ctx, &s->tr) < 0) {
            state = s->tr.sqlstate;
            snprintf(err, sizeof err, "%s", s->tr.message);
            goto fail;
        }
        st->action = s->tr.action;
        st->nstmts = s->tr.nstmts;
        st->nparams = s->tr.nparams;
        if (st->action == PGSQL_SQL) {
            if (!(st->sql = strndup(s->tr.sql.data, s->tr.sql.len))) {
                snprintf(err, sizeof err, "out of memory");
                goto fail;
            }
            st->sql_len = s->tr.sql.len;
        } else {
            /* The statement keeps its own translation: s->tr is reused by the next one. */
            st->tr = malloc(sizeof *st->tr);
            if (!st->tr) {
                snprintf(err, sizeof err, "out of memory");
                goto fail;
            }
            pgsql_result_init(st->tr);
            if (pgsql_translate(st->orig, st->orig_len, &s->ctx, st->tr) < 0) {
                state = st->tr->sqlstate;
                snprintf(err, sizeof err, "%s", st->tr->message);
                goto fail;
            }
        }
    }
    if (m.nparam_types > st->nparams)
        st->nparams = m.nparam_types;
    if (st->nparams > conn_shared(s->c)->cfg->max_params) {
        state = "54023";
        snprintf(err, sizeof err, "too many parameters: %d, more than max_params (%d)", st->nparams,
                 (int)conn_shared(s->c)->cfg->max_params);
        goto fail;
    }
    if (st->nparams > 0 && !(st->ptypes = calloc((size_t)st->nparams, sizeof *st->ptypes))) {
        snprintf(err, sizeof err, "out of memory");
        goto fail;
    }
    for (int i = 0; i < m.nparam_types; i++)
        st->ptypes[i] = pgwire_parse_param_type(&m, i);
    if (st->action == PGSQL_SQL && !st->call && (st->nparams > 0 || st->nstmts > 1)) {
        int ro;
        query_plan *p = query_plan_build(conn_reader(s->c), st->sql, st->sql_len, &ro, err, sizeof err);
        if (!p) {
            state = "42601";
            if (strstr(err, "no such table"))
                state = "42P01";
            else if (strstr(err, "no such column"))
                state = "42703";
            goto fail;
        }
        if (!(st->plan = pg_plan_new(p))) {
            snprintf(err, sizeof err, "out of memory");
            goto fail;
        }
        st->readonly = ro;
    }
    /* Executed many times: its tag is worked out once, not lexed on every run. */
    st->tag_count = pgsink_tag_template(st->call ? st->call->q->sql : st->orig, st->tag_prefix, sizeof st->tag_prefix);
    if (old) {
        HASH_DEL(x->stmts, old);
        stmt_unref(old);
    }
    HASH_ADD_KEYPTR(hh, x->stmts, st->name, strlen(st->name), st);
    pgwire_parse_complete(conn_out(s->c));
    return PGS_DONE;
fail:
    stmt_unref(st);
    return ext_fail(s, state, err);
}

/* ---- Bind -------------------------------------------------------------------------------------------- */

/* An untyped text argument of CALL takes the type a bare word has in the line protocol (42 is an
 * integer there), so that both protocols reach the same cache entry. */
static void infer_number(lp_arg *a)
{
    char tmp[64], *e;
    if (a->type != LP_ARG_TEXT || a->len == 0 || a->len >= sizeof tmp)
        return;
    memcpy(tmp, a->s, a->len);
    tmp[a->len] = '\0';
    long long v = strtoll(tmp, &e, 10);
    if (!*e) {
        a->type = LP_ARG_INT;
        a->i = v;
        return;
    }
    double d = strtod(tmp, &e);
    if (!*e) {
        a->type = LP_ARG_REAL;
        a->d = d;
    }
}

static pgx_portal *portal_new(pgext *x, const char *name)
{
    pgx_portal *p = NULL;
    if (!name[0] && x->spare) {
        p = x->spare;
        x->spare = NULL;
        free(p->name);
        p->name = NULL;
    } else if ((p = calloc(1, sizeof *p))) {
        buf_init(&p->arena);
        buf_init(&p->res);
        buf_init(&p->desc);
    }
    if (!p)
        return NULL;
    buf_reset(&p->arena);
    buf_reset(&p->res);
    buf_reset(&p->desc);
    p->nargs = p->nfmts = 0;
    p->state = P_NEW;
    p->failed = 0;
    p->rd_len = p->next = p->tail = 0;
    if (!(p->name = strdup(name))) {
        portal_free(p);
        return NULL;
    }
    return p;
}

/* The statement prepared on the reader, to learn its columns before it runs; NULL when it is
 * not SQL or SQLite cannot prepare it (running it then reports why). */
static db_stmt *stmt_probe(pgsess *s, const pgx_stmt *st)
{
    const char *sql = st->call ? st->call->q->sql : st->sql;
    db_stmt *ds;
    size_t used;
    if (st->action != PGSQL_SQL || !sql || db_prepare(conn_reader(s->c), sql, strlen(sql), &ds, &used) != SQLITE_OK)
        return NULL;
    return ds;
}

/* Columns the statement returns, or -1 when that is not known before it runs. Kept once known,
 * so a client that binds per-column formats every time pays for one prepare. */
static int stmt_columns(pgsess *s, pgx_stmt *st)
{
    if (st->action == PGSQL_SHOW)
        return 1;
    if (st->action != PGSQL_SQL)
        return 0;
    if (st->ncols1)
        return st->ncols1 - 1;
    db_stmt *ds = stmt_probe(s, st);
    if (!ds)
        return -1;
    int n = sqlite3_column_count(db_stmt_handle(ds));
    db_stmt_done(ds);
    st->ncols1 = n + 1;
    return n;
}

static enum pg_step on_bind(pgsess *s, const char *body, size_t len)
{
    pgext *x = s->ext;
    char err[300];
    pgwire_bind m;
    if (pgwire_parse_bind(body, len, &m, err, sizeof err) < 0)
        return ext_fail(s, "08P01", err);
    stats_request(STATS_PROTO_PG, "bind");
    pgx_stmt *st;
    HASH_FIND_STR(x->stmts, m.statement, st);
    if (!st) {
        snprintf(err, sizeof err, "prepared statement \"%.100s\" does not exist", m.statement);
        return ext_fail(s, "26000", err);
    }
    if (m.nparams > conn_shared(s->c)->cfg->max_params) {
        snprintf(err, sizeof err, "too many parameters: %d, more than max_params (%d)", m.nparams,
                 (int)conn_shared(s->c)->cfg->max_params);
        return ext_fail(s, "54023", err);
    }
    if (m.nparams != st->nparams) {
        snprintf(err, sizeof err, "bind message supplies %d parameters, but prepared statement \"%.100s\" requires %d",
                 m.nparams, m.statement, st->nparams);
        return ext_fail(s, "08P01", err);
    }
    if (m.nparam_formats > 1 && m.nparam_formats != m.nparams) {
        snprintf(err, sizeof err, "bind message has %d parameter formats but %d parameters", m.nparam_formats,
                 m.nparams);
        return ext_fail(s, "08P01", err);
    }
    /* As PostgreSQL, one format per column is checked at Bind, before anything runs (a write
     * with RETURNING must not commit and then fail); a statement without columns ignores them. */
    int ncols;
    if (m.nresult_formats > 1 && (ncols = stmt_columns(s, st)) > 0 && ncols != m.nresult_formats) {
        snprintf(err, sizeof err, "bind message has %d result formats but query has %d columns", m.nresult_formats,
                 ncols);
        return ext_fail(s, "08P01", err);
    }
    pgx_portal *old;
    HASH_FIND_STR(x->portals, m.portal, old);
    if (old && m.portal[0]) {
        snprintf(err, sizeof err, "portal \"%.100s\" already exists", m.portal);
        return ext_fail(s, "42P03", err);
    }
    if (old)
        portal_drop(x, old);
    pgx_portal *p = portal_new(x, m.portal);
    int nargs = st->call ? st->ncargs : m.nparams;
    if (!p || (nargs > 0 && !(p->args = realloc(p->args, sizeof *p->args * (size_t)nargs))) ||
        (m.nresult_formats > 0 && !(p->fmts = realloc(p->fmts, sizeof *p->fmts * (size_t)m.nresult_formats)))) {
        portal_free(p);
        return ext_fail(s, "53200", "out of memory");
    }
    p->st = st;
    st->refs++;
    /* Parameters: decoded, their bytes copied into the portal's arena (offsets first: it grows). */
    pgwire_param prm[64], *prms = m.nparams <= 64 ? prm : malloc(sizeof *prms * (size_t)m.nparams);
    lp_arg vals[64], *v = m.nparams <= 64 ? vals : malloc(sizeof *v * (size_t)m.nparams);
    size_t offs[64], *off = m.nparams <= 64 ? offs : malloc(sizeof *off * (size_t)m.nparams);
    if (!prms || !v || !off) {
        portal_free(p);
        p = NULL;
        snprintf(err, sizeof err, "out of memory");
    }
    const char *state = "53200";
    if (p)
        pgwire_bind_params(&m, prms, m.nparams);
    for (int i = 0; p && i < m.nparams; i++) {
        pgval pv;
        buf_reset(&x->scratch);
        uint32_t oid = st->ptypes ? st->ptypes[i] : 0;
        if (pgval_param_decode(oid, &prms[i], &x->scratch, &pv, &state, err, sizeof err) < 0) {
            portal_free(p);
            p = NULL;
            break;
        }
        memset(&v[i], 0, sizeof v[i]);
        off[i] = p->arena.len;
        switch (pv.type) {
        case PGVAL_NULL:  v[i].type = LP_ARG_NULL; break;
        case PGVAL_INT:   v[i].type = LP_ARG_INT; v[i].i = pv.i; break;
        case PGVAL_FLOAT: v[i].type = LP_ARG_REAL; v[i].d = pv.d; break;
        default:
            v[i].type = pv.type == PGVAL_BLOB ? LP_ARG_BLOB : LP_ARG_TEXT;
            v[i].len = pv.n;
            buf_append(&p->arena, pv.p, pv.n);
            break;
        }
    }
    if (p && p->arena.oom) {
        portal_free(p);
        p = NULL;
        snprintf(err, sizeof err, "out of memory");
    }
    for (int i = 0; p && i < m.nparams; i++)
        if (v[i].type == LP_ARG_TEXT || v[i].type == LP_ARG_BLOB)
            v[i].s = p->arena.data + off[i];
    if (p) {
        if (st->call) {
            for (int i = 0; i < st->ncargs; i++) {
                p->args[i] = st->cparams[i] ? v[st->cparams[i] - 1] : st->cargs[i];
                if (st->cparams[i] && !st->ptypes[st->cparams[i] - 1])
                    infer_number(&p->args[i]);
            }
        } else if (nargs > 0) {
            memcpy(p->args, v, sizeof *v * (size_t)nargs);
        }
        p->nargs = nargs;
        p->nfmts = m.nresult_formats;
        for (int i = 0; i < m.nresult_formats; i++)
            p->fmts[i] = pgwire_bind_result_format(&m, i);
        HASH_ADD_KEYPTR(hh, x->portals, p->name, strlen(p->name), p);
    }
    if (prms != prm)
        free(prms);
    if (v != vals)
        free(v);
    if (off != offs)
        free(off);
    if (!p)
        return ext_fail(s, state, err);
    pgwire_bind_complete(conn_out(s->c));
    return PGS_DONE;
}

/* ---- running a portal ----------------------------------------------------------------------------------- */

/* The run is complete: find the RowDescription, the DataRows and the tail in its output. */
static void portal_ready(pgx_portal *p, int failed)
{
    char type;
    size_t n, off = 0;
    p->state = P_DONE;
    p->failed = failed;
    p->rd_len = 0;
    if ((n = pgsink_msg(p->res.data, p->res.len, &type)) && type == 'T') {
        p->rd_len = n;
        off = n;
    }
    p->next = off;
    while ((n = pgsink_msg(p->res.data + off, p->res.len - off, &type)) && type == 'D')
        off += n;
    p->tail = off;
}

/* Does running the statement write, as far as is known without preparing it: 0 no, 1 yes, -1 not known. */
static int writes_known(const pgx_stmt *st)
{
    if (st->call)
        return !st->call->readonly;
    if (st->action != PGSQL_SQL)
        return 0;
    if (st->readonly >= 0)
        return !st->readonly;
    return st->nstmts > 1 ? 1 : -1;
}

/* May running the statement write? Asks SQLite when not known; unknown counts as yes. */
static int may_write(pgsess *s, const pgx_stmt *st)
{
    int w = writes_known(st);
    if (w >= 0)
        return w;
    db_stmt *ds = stmt_probe(s, st);
    if (!ds)
        return 1;
    int ro = sqlite3_stmt_readonly(db_stmt_handle(ds));
    db_stmt_done(ds);
    return !ro;
}

/* May Describe run the portal to learn its column types from its first row? Only a read (or SHOW):
 * PostgreSQL runs a portal on Execute alone, and a read run early changes nothing. SQLite calls
 * SAVEPOINT read-only, so transaction control counts as no read. */
static int describe_runs(pgsess *s, const pgx_stmt *st)
{
    if (st->action == PGSQL_SHOW)
        return 1;
    if (st->action != PGSQL_SQL)
        return 0;
    int w = writes_known(st);
    if (w >= 0)
        return !w; /* a plan refuses transaction control; a named query is never one */
    db_stmt *ds = stmt_probe(s, st);
    if (!ds)
        return 0; /* described from the statement, which says why it cannot be prepared */
    int ro = sqlite3_stmt_readonly(db_stmt_handle(ds)) && !(db_stmt_flags(ds) & DB_STMT_TXN);
    db_stmt_done(ds);
    return ro;
}

/* The RowDescription (declared types, else text) or NoData of statement st, without running it.
 * Returns 0, or -1 with *state and err when SQLite cannot prepare it (out untouched). */
static int stmt_rowdesc(pgsess *s, const pgx_stmt *st, buf *out, const char **state, char *err, size_t errlen)
{
    const char *sql = st->call ? st->call->q->sql : st->sql;
    db_conn *db = conn_reader(s->c);
    db_stmt *ds = NULL;
    size_t used;
    int rc;
    if (st->action == PGSQL_SQL && sql && (rc = db_prepare(db, sql, strlen(sql), &ds, &used)) != SQLITE_OK) {
        *state = db_sqlstate(db, rc);
        snprintf(err, errlen, "%s", db_errmsg(db));
        return -1;
    }
    if (!ds) {
        pgwire_no_data(out); /* not SQL (SET, BEGIN, ...), or an empty query */
        return 0;
    }
    pgsink_rowdesc_of(db_stmt_handle(ds), out);
    db_stmt_done(ds);
    return 0;
}

/* The RowDescription the portal's rows go out under: the one Describe sent before the run, else
 * the run's own. *len is 0 when there are no columns. */
static const char *portal_rowdesc(const pgx_portal *p, size_t *len)
{
    char type;
    if (!p->desc.len) {
        *len = p->rd_len;
        return p->res.data;
    }
    *len = pgsink_msg(p->desc.data, p->desc.len, &type) && type == 'T' ? p->desc.len : 0;
    return p->desc.data;
}

/* Columns of RowDescription rd[0..len): 0 when len is 0, -1 when malformed. */
static int rowdesc_count(const char *rd, size_t len)
{
    return len ? pgsink_rowdesc_oids(rd, len, NULL, 0) : 0;
}

/* Does the client's input hold more to run before the next Sync than portal `name` (another
 * Bind, an Execute of another portal), or is the Sync not there yet? */
static int more_before_sync(const pgsess *s, const char *name)
{
    const char *r = s->rest;
    size_t n = s->rest_len, nlen = strlen(name) + 1;
    while (n >= 5) {
        size_t len = ((size_t)(unsigned char)r[1] << 24) | ((size_t)(unsigned char)r[2] << 16) |
                     ((size_t)(unsigned char)r[3] << 8) | (unsigned char)r[4];
        if (len < 4 || len + 1 > n)
            return 1; /* not all here: cannot tell */
        if (r[0] == 'S')
            return 0;
        if (r[0] != 'P' && r[0] != 'D' && r[0] != 'C' && r[0] != 'H' &&
            (r[0] != 'E' || len - 4 < nlen || memcmp(r + 5, name, nlen) != 0))
            return 1;
        r += len + 1;
        n -= len + 1;
    }
    return 1;
}

/* PostgreSQL commits an implicit transaction at Sync, not at each Execute: a write followed by
 * more portals before the Sync runs inside a transaction the session opens now (BEGIN goes out,
 * the message is handled again once it is back) and ends at Sync. A lone Execute before its Sync
 * (pgbench, node-postgres) still commits with its group. Returns 1 when BEGIN went out. */
static int pipeline_begin(pgsess *s, const pgx_portal *p)
{
    pgext *x = s->ext;
    /* Cheapest first: a read known as one (pgbench -S) needs no look-ahead, and a lone Execute
     * (the common case) no prepare. */
    if (s->txn != WRITER_TX_NONE || writes_known(p->st) == 0 || !more_before_sync(s, p->name) ||
        !may_write(s, p->st))
        return 0;
    x->implicit = PGQ_IMPLICIT_BEGIN;
    pgs_submit_tx(s, WRITER_BEGIN, PGW_PORTAL);
    if (s->wait == PGW_PORTAL)
        return 1;
    x->implicit = PGQ_IMPLICIT_NONE; /* out of memory, said so */
    s->ext_error = 1;
    return 0;
}

static enum pg_step portal_run(pgsess *s, pgx_portal *p)
{
    pgx_stmt *st = p->st;
    pg_unit u;
    memset(&u, 0, sizeof u);
    if (st->call) {
        pgs_call_unit(&u, st->call, p->args, p->nargs);
    } else {
        u.action = st->action;
        u.tr = st->tr;
        u.it.sql = st->sql ? st->sql : "";
        u.it.len = st->sql_len;
        u.it.plan = st->plan ? st->plan->p : NULL;
        u.owner = st->plan;
        u.it.args = p->args;
        u.it.nargs = p->nargs;
        u.nstmts = st->nstmts;
        u.nparams = st->nparams;
        u.readonly = st->readonly;
    }
    if (s->ext->implicit == PGQ_IMPLICIT_RUN && st->action == PGSQL_BEGIN) {
        /* BEGIN turns the pipeline's transaction into the client's, as in PostgreSQL. */
        s->ext->implicit = PGQ_IMPLICIT_NONE;
        pgwire_command_complete(&p->res, "BEGIN");
        portal_ready(p, 0);
        return PGS_DONE;
    }
    u.orig = st->orig;
    u.orig_len = st->orig_len;
    u.tag_prefix = st->tag_prefix;
    u.tag_count = st->tag_count;
    buf_reset(&p->res);
    int failed = 0;
    if (pgs_run_unit(s, &u, &p->res, &failed, PGW_PORTAL) == PGS_AGAIN) {
        p->state = P_RUNNING;
        s->ext->running = p;
        return PGS_AGAIN;
    }
    portal_ready(p, failed);
    return PGS_DONE;
}

void pgext_job_done(pgsess *s, writer_job *job)
{
    pgext *x = s->ext;
    if (x->implicit == PGQ_IMPLICIT_BEGIN || x->implicit == PGQ_IMPLICIT_END) {
        /* The pipeline's own BEGIN / COMMIT: the client sees only a failure. The message that
         * sent it (Execute, Describe, Sync) is handled again next. */
        int failed = pgs_tx_job_output(s, job, conn_out(s->c));
        int began = x->implicit == PGQ_IMPLICIT_BEGIN;
        x->implicit = began && !failed ? PGQ_IMPLICIT_RUN : PGQ_IMPLICIT_NONE;
        if (began && failed)
            s->ext_error = 1; /* its error is out: skip to Sync */
        return;
    }
    pgx_portal *p = s->ext->running;
    s->ext->running = NULL;
    if (p)
        portal_ready(p, pgs_job_output(s, job, &p->res));
}

/* The portal's error, sent as the answer to this message; then skip to Sync. */
static enum pg_step portal_error(pgsess *s, pgx_portal *p)
{
    /* The error is the last message of the output. */
    size_t off = p->tail, n;
    char type;
    while ((n = pgsink_msg(p->res.data + off, p->res.len - off, &type)) && type != 'E')
        off += n;
    buf_append(conn_out(s->c), p->res.data + off, p->res.len - off);
    s->ext_error = 1;
    if (s->txn == WRITER_TX_OPEN)
        s->txn = WRITER_TX_FAILED;
    return PGS_DONE;
}

static pgx_portal *find_portal(pgsess *s, const char *name)
{
    pgx_portal *p;
    HASH_FIND_STR(s->ext->portals, name, p);
    return p;
}

static int wants_binary(const pgx_portal *p)
{
    for (int i = 0; i < p->nfmts; i++)
        if (p->fmts[i] == 1)
            return 1;
    return 0;
}

static enum pg_step on_describe(pgsess *s, const char *body, size_t len)
{
    char err[300];
    pgwire_target t;
    if (pgwire_parse_describe(body, len, &t, err, sizeof err) < 0)
        return ext_fail(s, "08P01", err);
    buf *out = conn_out(s->c);
    if (t.kind == 'P') {
        pgx_portal *p = find_portal(s, t.name);
        if (!p) {
            snprintf(err, sizeof err, "portal \"%.100s\" does not exist", t.name);
            return ext_fail(s, "34000", err);
        }
        if (p->state == P_NEW && !describe_runs(s, p->st)) {
            /* Only Execute runs it (a write never executed must not happen): its columns come from
             * the statement, and Execute sends its rows under this description. */
            const char *state = "53200";
            if (!p->desc.len && stmt_rowdesc(s, p->st, &p->desc, &state, err, sizeof err) < 0)
                return ext_fail(s, state, err);
            if (p->desc.oom) {
                buf_reset(&p->desc);
                return ext_fail(s, "53200", "out of memory");
            }
        } else if (p->state == P_NEW && portal_run(s, p) == PGS_AGAIN) {
            /* A read: the types of its expressions come from the first row, so it runs now
             * (Execute then sends its rows). */
            return PGS_AGAIN;
        }
        if (p->failed)
            return portal_error(s, p);
        size_t rd_len;
        const char *rd = portal_rowdesc(p, &rd_len);
        if (!rd_len)
            pgwire_no_data(out);
        else if (!p->nfmts)
            buf_append(out, rd, rd_len);
        else if (pgsink_rowdesc_with_formats(rd, rd_len, p->fmts, p->nfmts, out) < 0)
            return ext_fail(s, "08P01", "bind message has a result format count that does not match the columns");
        return PGS_DONE;
    }
    pgx_stmt *st;
    HASH_FIND_STR(s->ext->stmts, t.name, st);
    if (!st) {
        snprintf(err, sizeof err, "prepared statement \"%.100s\" does not exist", t.name);
        return ext_fail(s, "26000", err);
    }
    uint32_t types[64], *ty = st->nparams <= 64 ? types : malloc(sizeof *ty * (size_t)st->nparams);
    if (!ty)
        return ext_fail(s, "53200", "out of memory");
    /* Unspecified parameter types: litecached does not infer them; clients then send text. */
    for (int i = 0; i < st->nparams; i++)
        ty[i] = st->ptypes[i] ? st->ptypes[i] : PGWIRE_TEXT;
    pgwire_parameter_description(out, ty, st->nparams);
    if (ty != types)
        free(ty);
    /* Columns before any row exists: declared types, else text. */
    const char *state;
    if (st->action == PGSQL_SHOW) {
        buf tmp;
        buf_init(&tmp);
        char type;
        size_t n;
        if (pgguc_show(s->guc, st->tr->name, &tmp) == 0 && (n = pgsink_msg(tmp.data, tmp.len, &type)) && type == 'T')
            buf_append(out, tmp.data, n);
        else
            pgwire_no_data(out);
        buf_free(&tmp);
    } else if (stmt_rowdesc(s, st, out, &state, err, sizeof err) < 0) {
        pgwire_no_data(out); /* running it reports why */
    }
    return PGS_DONE;
}

static enum pg_step on_execute(pgsess *s, const char *body, size_t len)
{
    char err[300];
    pgwire_execute e;
    if (pgwire_parse_execute(body, len, &e, err, sizeof err) < 0)
        return ext_fail(s, "08P01", err);
    pgx_portal *p = find_portal(s, e.portal);
    if (!p) {
        snprintf(err, sizeof err, "portal \"%.100s\" does not exist", e.portal);
        return ext_fail(s, "34000", err);
    }
    if (p->state == P_NEW) {
        if (pipeline_begin(s, p))
            return PGS_AGAIN;
        stats_request(STATS_PROTO_PG, "execute");
        if (portal_run(s, p) == PGS_AGAIN)
            return PGS_AGAIN;
    }
    if (p->failed)
        return portal_error(s, p);
    buf *out = conn_out(s->c);
    /* Described before it ran: the rows go out as described. A column without a declared type was
     * described as text, which its value's text form is; only the column count can differ (the
     * schema changed in between), as PostgreSQL's plan cache would refuse. */
    size_t rd_len;
    const char *rd = portal_rowdesc(p, &rd_len);
    if (p->desc.len && rowdesc_count(rd, rd_len) != rowdesc_count(p->res.data, p->rd_len))
        return ext_fail(s, "0A000", "cached plan must not change result type");
    /* No RowDescription (INSERT, DDL, an empty query): PostgreSQL ignores the result formats. */
    int binary = rd_len && wants_binary(p);
    uint32_t oids[64], *oid = oids;
    int ncols = 0;
    if (binary) {
        ncols = pgsink_rowdesc_oids(rd, rd_len, oids, 64);
        if (ncols > 64 && (oid = malloc(sizeof *oid * (size_t)ncols)))
            pgsink_rowdesc_oids(rd, rd_len, oid, ncols);
        if (!oid || ncols < 0 || (p->nfmts > 1 && p->nfmts != ncols)) {
            if (oid != oids)
                free(oid);
            return ext_fail(s, "08P01", "bind message has a result format count that does not match the columns");
        }
    }
    int64_t sent = 0;
    char type;
    size_t n;
    const char *state = NULL;
    while (p->next < p->tail && (e.max_rows <= 0 || sent < e.max_rows) &&
           (n = pgsink_msg(p->res.data + p->next, p->tail - p->next, &type))) {
        if (!binary)
            buf_append(out, p->res.data + p->next, n);
        else if (pgsink_datarow_binary(p->res.data + p->next, n, oid, ncols, p->fmts, p->nfmts, out, &state, err,
                                       sizeof err) < 0)
            break;
        p->next += n;
        sent++;
    }
    if (oid != oids)
        free(oid);
    if (state)
        return ext_fail(s, state, err);
    if (p->next < p->tail) {
        pgwire_portal_suspended(out);
        return PGS_DONE;
    }
    /* Done: the tail (CommandComplete, and whatever came with it) ends this Execute. */
    buf_append(out, p->res.data + p->tail, p->res.len - p->tail);
    return PGS_DONE;
}

static enum pg_step on_close(pgsess *s, const char *body, size_t len)
{
    char err[300];
    pgwire_target t;
    if (pgwire_parse_close(body, len, &t, err, sizeof err) < 0)
        return ext_fail(s, "08P01", err);
    if (t.kind == 'P') {
        pgx_portal *p = find_portal(s, t.name);
        if (p)
            portal_drop(s->ext, p);
    } else {
        pgx_stmt *st;
        HASH_FIND_STR(s->ext->stmts, t.name, st);
        if (st) {
            HASH_DEL(s->ext->stmts, st);
            stmt_unref(st);
        }
    }
    pgwire_close_complete(conn_out(s->c));
    return PGS_DONE;
}

enum pg_step pgext_message(pgsess *s, const pgwire_msg *m)
{
    char err[128];
    if (m->type == 'S') {
        if (pgwire_parse_empty(m->body, m->body_len, err, sizeof err) < 0)
            return ext_fail(s, "08P01", err);
        if (s->ext->implicit == PGQ_IMPLICIT_RUN && s->txn != WRITER_TX_NONE) {
            s->ext->implicit = PGQ_IMPLICIT_END;
            pgs_submit_tx(s, s->txn == WRITER_TX_OPEN ? WRITER_COMMIT : WRITER_ROLLBACK, PGW_PORTAL);
            if (s->wait == PGW_PORTAL)
                return PGS_AGAIN; /* handled again once it is back */
        }
        s->ext->implicit = PGQ_IMPLICIT_NONE;
        s->ext_error = 0;
        /* Outside a transaction block, Sync ends the implicit one, and its portals with it. */
        if (s->txn == WRITER_TX_NONE)
            drop_portals(s->ext);
        pgwire_ready(conn_out(s->c), pgs_status(s));
        return PGS_DONE;
    }
    if (s->ext_error)
        return PGS_DONE; /* skipped until Sync */
    switch (m->type) {
    case 'P': return on_parse(s, m->body, m->body_len);
    case 'B': return on_bind(s, m->body, m->body_len);
    case 'D': return on_describe(s, m->body, m->body_len);
    case 'E': return on_execute(s, m->body, m->body_len);
    case 'C': return on_close(s, m->body, m->body_len);
    default:  return PGS_DONE; /* Flush: output goes out after every batch of input anyway */
    }
}
