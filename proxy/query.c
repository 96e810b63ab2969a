/* query.c - runs request bodies on a database connection: parameter plans, one item, a batch of items, line-protocol replies. */
#include "query.h"
#include "stats.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

struct query_plan {
    int    nparams;
    char **names;     /* nparams entries; "?" for anonymous ones */
    int    nstmts;
    int   *stmt_first; /* per statement, offset into map */
    int   *map;        /* per bind slot of each statement, the argument index */
    int    nmap;
};

static int is_blank(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (s[i] != ' ' && s[i] != '\t' && s[i] != '\n' && s[i] != '\r' && s[i] != ';')
            return 0;
    return 1;
}

void query_plan_free(query_plan *p)
{
    if (!p)
        return;
    for (int i = 0; i < p->nparams; i++)
        free(p->names[i]);
    free(p->names);
    free(p->stmt_first);
    free(p->map);
    free(p);
}

static int plan_param(query_plan *p, const char *name)
{
    if (name && name[0] != '?') {
        for (int i = 0; i < p->nparams; i++)
            if (strcmp(p->names[i], name + 1) == 0)
                return i;
    }
    char **names = realloc(p->names, sizeof *names * (size_t)(p->nparams + 1));
    if (!names)
        return -1;
    p->names = names;
    names[p->nparams] = strdup(name && name[0] != '?' ? name + 1 : "?");
    if (!names[p->nparams])
        return -1;
    return p->nparams++;
}

static int plan_grow(int **arr, int n)
{
    int *a = realloc(*arr, sizeof *a * (size_t)(n + 1));
    if (!a)
        return -1;
    *arr = a;
    return 0;
}

query_plan *query_plan_build(db_conn *db, const char *sql, size_t len, int *readonly, char *err, size_t errlen)
{
    query_plan *p = calloc(1, sizeof *p);
    if (!p) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    *readonly = 1;
    size_t off = 0;
    while (off < len && !is_blank(sql + off, len - off)) {
        db_stmt *ds;
        size_t used;
        int rc = db_prepare(db, sql + off, len - off, &ds, &used);
        if (rc != SQLITE_OK) {
            snprintf(err, errlen, "%s", db_errmsg(db));
            goto fail;
        }
        off += used;
        if (!ds)
            break;
        sqlite3_stmt *st = db_stmt_handle(ds);
        if (db_stmt_flags(ds) & DB_STMT_TXN) {
            snprintf(err, errlen, "transaction control is not allowed here: a body already runs in one transaction");
            goto fail;
        }
        if (!sqlite3_stmt_readonly(st))
            *readonly = 0;
        if (plan_grow(&p->stmt_first, p->nstmts) < 0)
            goto oom;
        p->stmt_first[p->nstmts++] = p->nmap;
        int count = sqlite3_bind_parameter_count(st);
        for (int i = 1; i <= count; i++) {
            const char *name = sqlite3_bind_parameter_name(st, i);
            int idx;
            if (name && name[0] == '?') {
                /* ?NNN: the NNN-th argument. */
                idx = atoi(name + 1) - 1;
                while (p->nparams <= idx)
                    if (plan_param(p, NULL) < 0)
                        goto oom;
            } else if ((idx = plan_param(p, name)) < 0) {
                goto oom;
            }
            if (plan_grow(&p->map, p->nmap) < 0)
                goto oom;
            p->map[p->nmap++] = idx;
        }
    }
    if (p->nstmts == 0) {
        snprintf(err, errlen, "empty statement");
        goto fail;
    }
    return p;
oom:
    snprintf(err, errlen, "out of memory");
fail:
    query_plan_free(p);
    return NULL;
}

int query_plan_nparams(const query_plan *p) { return p->nparams; }
int query_plan_nstmts(const query_plan *p) { return p->nstmts; }

void query_plan_describe(const query_plan *p, buf *out)
{
    for (int i = 0; i < p->nparams; i++) {
        if (i)
            buf_puts(out, ", ");
        buf_puts(out, p->names[i]);
    }
}

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static int bind_args(sqlite3_stmt *st, const query_plan *p, int stmt_idx, const lp_arg *args)
{
    int count = sqlite3_bind_parameter_count(st);
    int first = p->stmt_first[stmt_idx];
    for (int i = 1; i <= count; i++) {
        const lp_arg *a = &args[p->map[first + i - 1]];
        int rc;
        switch (a->type) {
        case LP_ARG_NULL: rc = sqlite3_bind_null(st, i); break;
        case LP_ARG_INT:  rc = sqlite3_bind_int64(st, i, a->i); break;
        case LP_ARG_REAL: rc = sqlite3_bind_double(st, i, a->d); break;
        default:          rc = sqlite3_bind_text64(st, i, a->s, a->len, SQLITE_STATIC, SQLITE_UTF8); break;
        }
        if (rc != SQLITE_OK)
            return rc;
    }
    return SQLITE_OK;
}

static void put_header(buf *out, lp_format fmt, sqlite3_stmt *st, int ncols)
{
    const char *names[64];
    size_t lens[64];
    const char **np = names;
    size_t *lp = lens;
    if (ncols > 64) {
        np = malloc(sizeof *np * (size_t)ncols);
        lp = malloc(sizeof *lp * (size_t)ncols);
        if (!np || !lp) {
            free(np == names ? NULL : np);
            free(lp == lens ? NULL : lp);
            out->oom = 1;
            return;
        }
    }
    for (int i = 0; i < ncols; i++) {
        const char *n = sqlite3_column_name(st, i);
        np[i] = n ? n : "";
        lp[i] = strlen(np[i]);
    }
    lp_put_header(out, fmt, np, lp, ncols);
    if (np != names) {
        free(np);
        free(lp);
    }
}

static void put_row(buf *out, lp_format fmt, sqlite3_stmt *st, int ncols, lp_value *vals)
{
    for (int i = 0; i < ncols; i++) {
        lp_value *v = &vals[i];
        switch (sqlite3_column_type(st, i)) {
        case SQLITE_NULL:
            v->type = LP_VAL_NULL;
            v->p = NULL;
            v->n = 0;
            continue;
        case SQLITE_INTEGER: v->type = LP_VAL_INT; break;
        case SQLITE_FLOAT:   v->type = LP_VAL_REAL; break;
        case SQLITE_BLOB:
            v->type = LP_VAL_BLOB;
            v->p = sqlite3_column_blob(st, i);
            v->n = (size_t)sqlite3_column_bytes(st, i);
            continue;
        default: v->type = LP_VAL_TEXT; break;
        }
        /* Numbers take SQLite's own text form, as the protocol promises. */
        v->p = (const char *)sqlite3_column_text(st, i);
        v->n = (size_t)sqlite3_column_bytes(st, i);
    }
    lp_put_row(out, fmt, vals, ncols);
}

static int fail(buf *out, size_t start, const char *state, const char *msg, char *state_out)
{
    stats_add(STATS_ERRORS, 1);
    buf_truncate(out, start);
    out->oom = 0;
    lp_put_error(out, state, msg);
    if (state_out)
        snprintf(state_out, 6, "%s", state);
    return -1;
}

static int fail_db(db_conn *db, int rc, buf *out, size_t start, char *state_out)
{
    return fail(out, start, db_sqlstate(db, rc), db_errmsg(db), state_out);
}

/* Step one prepared statement to the end, encoding its rows. Returns a SQLite code; SQLITE_TOOBIG
 * when the reply outgrew the limit. */
static int run_stmt(sqlite3_stmt *st, lp_format fmt, const query_limits *lim, buf *out, size_t start, int64_t *rows)
{
    int ncols = sqlite3_column_count(st);
    lp_value small[32];
    lp_value *vals = small;
    if (ncols > 32 && !(vals = malloc(sizeof *vals * (size_t)ncols)))
        return SQLITE_NOMEM;
    if (ncols > 0)
        put_header(out, fmt, st, ncols);
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        put_row(out, fmt, st, ncols, vals);
        (*rows)++;
        if ((int64_t)(out->len - start) > lim->max_result_bytes || out->oom) {
            rc = SQLITE_TOOBIG;
            break;
        }
    }
    if (vals != small)
        free(vals);
    return rc == SQLITE_DONE ? SQLITE_OK : rc;
}

static void add_names(query_analysis *a, const char **dst, int *n, const char *const *names, int k)
{
    for (int i = 0; i < k; i++) {
        int seen = 0;
        for (int j = 0; j < *n && !seen; j++)
            seen = strcasecmp(dst[j], names[i]) == 0;
        if (seen)
            continue;
        if (*n == DB_STMT_MAX_TABLES) {
            a->flags |= DB_STMT_MANY;
            return;
        }
        dst[(*n)++] = names[i];
    }
}

int query_analyze(db_conn *db, const char *sql, size_t len, query_analysis *out)
{
    memset(out, 0, sizeof *out);
    size_t off = 0;
    while (off < len && !is_blank(sql + off, len - off)) {
        db_stmt *ds;
        size_t used;
        int rc = db_prepare(db, sql + off, len - off, &ds, &used);
        if (rc != SQLITE_OK)
            return rc;
        off += used;
        if (!ds)
            break;
        out->flags |= db_stmt_flags(ds);
        const char *const *names;
        int k = db_stmt_reads(ds, &names);
        add_names(out, out->reads, &out->nreads, names, k);
        k = db_stmt_writes(ds, &names);
        add_names(out, out->writes, &out->nwrites, names, k);
    }
    return SQLITE_OK;
}

int query_run(db_conn *db, const query_item *it, lp_format fmt, const query_limits *lim, buf *out, char *state)
{
    return query_run_ex(db, it, fmt, lim, out, state, NULL, NULL);
}

int query_run_ex(db_conn *db, const query_item *it, lp_format fmt, const query_limits *lim, buf *out,
                 char *state, const char *status_extra, query_info *info)
{
    size_t start = out->len;
    if (it->literal) {
        buf_puts(out, it->literal);
        return 0;
    }
    if (it->err_state)
        return fail(out, start, it->err_state, it->err_msg, state);
    double t0 = now_ms();
    sqlite3 *h = db_handle(db);
    /* Zero it so last_id reports only a row this item inserted: the writer's connection is shared. */
    sqlite3_set_last_insert_rowid(h, 0);
    int64_t rows = 0, changes = 0;
    int wrote = 0, idx = 0;
    size_t off = 0;
    while (off < it->len && !is_blank(it->sql + off, it->len - off)) {
        db_stmt *ds;
        size_t used;
        int rc = db_prepare(db, it->sql + off, it->len - off, &ds, &used);
        if (rc != SQLITE_OK)
            return fail_db(db, rc, out, start, state);
        off += used;
        if (!ds)
            break;
        sqlite3_stmt *st = db_stmt_handle(ds);
        if (!it->plan) {
            if (off < it->len && !is_blank(it->sql + off, it->len - off)) {
                db_stmt_done(ds);
                return fail(out, start, "42601", "one statement per line: use BATCH or a named query for several", state);
            }
            if (sqlite3_bind_parameter_count(st) > 0) {
                db_stmt_done(ds);
                return fail(out, start, "42P02", "this statement has parameters: PREPARE it, then CALL it with arguments", state);
            }
        } else if (idx >= it->plan->nstmts) {
            db_stmt_done(ds);
            return fail(out, start, "XX000", "statement plan does not match its body", state);
        } else if ((rc = bind_args(st, it->plan, idx, it->args)) != SQLITE_OK) {
            db_stmt_done(ds);
            return fail_db(db, rc, out, start, state);
        }
        int readonly = sqlite3_stmt_readonly(st);
        rc = run_stmt(st, fmt, lim, out, start, &rows);
        if (rc == SQLITE_TOOBIG) {
            db_stmt_done(ds);
            char msg[128];
            snprintf(msg, sizeof msg, "result larger than max_result_bytes (%lld bytes)", (long long)lim->max_result_bytes);
            return fail(out, start, "54000", msg, state);
        }
        if (rc != SQLITE_OK) {
            /* Read the message before reset, which may replace it. */
            int r = fail_db(db, rc, out, start, state);
            db_stmt_done(ds);
            return r;
        }
        /* Read the counts after the reset: with RETURNING, SQLite settles them only then. */
        db_stmt_done(ds);
        if (!readonly) {
            wrote = 1;
            changes += sqlite3_changes64(h);
        }
        idx++;
    }
    if (idx == 0)
        return fail(out, start, "42601", "empty statement", state);
    double ms = now_ms() - t0;
    if (info) {
        info->data_len = out->len - start;
        info->rows = rows;
        info->ms = ms;
    }
    if (wrote) {
        sqlite3_int64 last = sqlite3_last_insert_rowid(h);
        buf_printf(out, "+OK %lld changed last_id=%lld ms=%.3f%s\n", (long long)changes,
                   (long long)last, ms, status_extra ? status_extra : "");
    } else {
        buf_printf(out, "+OK %lld rows ms=%.3f%s\n", (long long)rows, ms, status_extra ? status_extra : "");
    }
    if (out->oom)
        return fail(out, start, "53200", "out of memory", state);
    return 0;
}

int query_run_batch(const query_item *items, int n, query_runner run, void *ud, buf *out, char *state)
{
    int failed = -1;
    for (int i = 0; i < n; i++) {
        if (failed >= 0) {
            lp_put_error(out, "25P02", "batch aborted");
            continue;
        }
        if (run(ud, &items[i], out, state) < 0)
            failed = i;
    }
    return failed;
}

void query_put_batch_status(buf *out, int n, int failed, const char *state)
{
    if (failed < 0) {
        buf_printf(out, "+OK batch %d\n", n);
        return;
    }
    char msg[96];
    snprintf(msg, sizeof msg, "batch failed at line %d; nothing was applied", failed + 1);
    lp_put_error(out, state && state[0] ? state : "XX000", msg);
}
