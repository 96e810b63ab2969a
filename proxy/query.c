/* query.c - runs request bodies on a database connection: parameter plans, one item, a batch of items, line-protocol replies. */
#include "query.h"
#include "log.h"
#include "stats.h"

#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <limits.h>
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
    char state[6];
    return query_plan_build_ex(db, sql, len, readonly, err, errlen, state);
}

query_plan *query_plan_build_ex(db_conn *db, const char *sql, size_t len, int *readonly, char *err, size_t errlen,
                                char *state)
{
    snprintf(state, 6, "42601");
    query_plan *p = calloc(1, sizeof *p);
    if (!p) {
        snprintf(state, 6, "53200");
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
            snprintf(state, 6, "%s", db_sqlstate(db, rc));
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
        if (!sqlite3_stmt_readonly(st) && !sqlite3_stmt_isexplain(st)) /* EXPLAIN only describes a write */
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
    snprintf(state, 6, "53200");
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
        case LP_ARG_BLOB: rc = sqlite3_bind_blob64(st, i, a->s, a->len, SQLITE_STATIC); break;
        default:          rc = sqlite3_bind_text64(st, i, a->s, a->len, SQLITE_STATIC, SQLITE_UTF8); break;
        }
        if (rc != SQLITE_OK)
            return rc;
    }
    return SQLITE_OK;
}

static void line_columns(const query_sink *k, sqlite3_stmt *st, int ncols, buf *out)
{
    lp_format fmt = (lp_format)(intptr_t)k->ud;
    const char *names[64] = {0};
    size_t lens[64] = {0};
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

static void line_row(const query_sink *k, sqlite3_stmt *st, int ncols, buf *out)
{
    lp_format fmt = (lp_format)(intptr_t)k->ud;
    if (ncols > 2000) { /* SQLite's own column limit; a bound for the array below */
        out->oom = 1;
        return;
    }
    lp_value vals[ncols];
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

/* Hand-built, not printf: this line goes out with every reply, cache hits included. */
static void line_done(const query_sink *k, const query_outcome *o, buf *out)
{
    (void)k;
    buf_append(out, "+OK ", 4);
    if (o->wrote) {
        buf_put_i64(out, o->changes);
        buf_append(out, " changed last_id=", 17);
        buf_put_i64(out, o->last_id);
    } else {
        buf_put_i64(out, o->rows);
        buf_append(out, " rows", 5);
    }
    buf_append(out, " ms=", 4);
    buf_put_ms(out, o->ms);
    if (o->extra)
        buf_puts(out, o->extra);
    if (o->hit_age >= 0) {
        buf_append(out, " cache=hit age=", 15);
        buf_put_i64(out, o->hit_age);
    }
    buf_putc(out, '\n');
}

static void line_error(const query_sink *k, const char *state, const char *msg, int offset, buf *out)
{
    (void)k;
    (void)offset;
    lp_put_error(out, state, msg);
}

static const query_sink line_sinks[2] = {
    {line_columns, line_row, NULL, line_done, line_error, (void *)(intptr_t)LP_FMT_TSV},
    {line_columns, line_row, NULL, line_done, line_error, (void *)(intptr_t)LP_FMT_JSON},
};

const query_sink *query_line_sink(lp_format fmt) { return &line_sinks[fmt == LP_FMT_JSON]; }



static int fail(const query_sink *k, buf *out, size_t start, const char *state, const char *msg, int offset,
                char *state_out)
{
    stats_error(state);
    buf_truncate(out, start);
    out->oom = 0;
    k->error(k, state, msg, offset, out);
    if (state_out)
        snprintf(state_out, 6, "%s", state);
    return -1;
}

static int fail_db(const query_sink *k, db_conn *db, int rc, buf *out, size_t start, char *state_out)
{
    return fail(k, out, start, db_sqlstate(db, rc), db_errmsg(db), sqlite3_error_offset(db_handle(db)), state_out);
}

/* run_stmt's answer when the reply reached max_result_rows. Not a SQLite code (they are all
 * positive): sqlite3_step may return any of those itself, SQLITE_FULL for a full disk. */
enum { RUN_TOO_MANY_ROWS = -1 };

/* Step one prepared statement to the end, encoding its rows. Returns a SQLite code; SQLITE_TOOBIG
 * when the reply outgrew the limit, RUN_TOO_MANY_ROWS when it reached max_result_rows. */
static int run_stmt(sqlite3_stmt *st, const query_sink *k, const query_limits *lim, buf *out, size_t start,
                    int64_t *rows)
{
    int ncols = sqlite3_column_count(st);
    int rc = sqlite3_step(st);
    /* Columns go out after the first step, so a protocol can type them from the first row. */
    if (ncols > 0 && (rc == SQLITE_ROW || rc == SQLITE_DONE))
        k->columns(k, st, ncols, out);
    for (; rc == SQLITE_ROW; rc = sqlite3_step(st)) {
        if (lim->max_result_rows > 0 && *rows >= lim->max_result_rows) {
            rc = RUN_TOO_MANY_ROWS;
            break;
        }
        k->row(k, st, ncols, out);
        (*rows)++;
        if ((int64_t)(out->len - start) > lim->max_result_bytes || out->oom) {
            rc = SQLITE_TOOBIG;
            break;
        }
    }
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
    out->flags = 0;
    out->nreads = out->nwrites = 0;
    out->one = NULL;
    size_t off = 0;
    int nstmts = 0;
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
        out->one = nstmts++ == 0 ? ds : NULL;
        const char *const *names;
        int k = db_stmt_reads(ds, &names);
        add_names(out, out->reads, &out->nreads, names, k);
        k = db_stmt_writes(ds, &names);
        add_names(out, out->writes, &out->nwrites, names, k);
    }
    return SQLITE_OK;
}

query_limits query_limits_for(const config *cfg, enum role r)
{
    query_limits lim = {cfg->max_result_bytes, cfg->statement_timeout, cfg->max_result_rows,
                        cfg->max_statement_memory, r};
    return lim;
}

int query_run(db_conn *db, const query_item *it, const query_sink *sink, const query_limits *lim, buf *out,
              char *state)
{
    return query_run_ex(db, it, sink, lim, out, state, NULL, NULL);
}

/* query_run_ex without the timing around it. */
static int run_body(db_conn *db, const query_item *it, const query_sink *sink, const query_limits *lim, buf *out,
                    char *state, const char *status_extra, query_info *info)
{
    size_t start = out->len;
    if (info)
        memset(info, 0, sizeof *info);
    if (it->literal) {
        buf_puts(out, it->literal);
        return 0;
    }
    if (it->err_state)
        return fail(sink, out, start, it->err_state, it->err_msg, -1, state);
    double t0 = now_ms();
    sqlite3 *h = db_handle(db);
    db_set_limits(db, lim->timeout_ms, lim->max_memory);
    db_set_role(db, lim->role);
    /* No value may outgrow the reply it would have to fit in: zeroblob(1e9), a group_concat over a
     * runaway CTE and the like fail with SQLITE_TOOBIG (54000) before they allocate it. */
    sqlite3_limit(h, SQLITE_LIMIT_LENGTH, lim->max_result_bytes < INT_MAX ? (int)lim->max_result_bytes : INT_MAX);
    /* Zero it so last_id reports only a row this item inserted: the writer's connection is shared. */
    sqlite3_set_last_insert_rowid(h, 0);
    query_outcome o = {.extra = status_extra, .hit_age = -1};
    int idx = 0;
    size_t off = 0;
    while (off < it->len && !is_blank(it->sql + off, it->len - off)) {
        db_stmt *ds;
        size_t used;
        int rc = db_prepare(db, it->sql + off, it->len - off, &ds, &used);
        if (rc != SQLITE_OK)
            return fail_db(sink, db, rc, out, start, state);
        off += used;
        if (!ds)
            break;
        sqlite3_stmt *st = db_stmt_handle(ds);
        const char *why = NULL, *code = NULL;
        char refused[200];
        if ((why = db_stmt_refusal(ds, lim->role, refused, sizeof refused)) != NULL) {
            code = "42501";
        } else if (!it->plan) {
            if (off < it->len && !is_blank(it->sql + off, it->len - off))
                code = "42601", why = "one statement per line: use BATCH or a named query for several";
            else if (sqlite3_bind_parameter_count(st) > 0)
                code = "42P02", why = "this statement has parameters: PREPARE it, then CALL it with arguments";
        } else if (idx >= it->plan->nstmts) {
            code = "XX000", why = "statement plan does not match its body";
        } else if ((rc = bind_args(st, it->plan, idx, it->args)) != SQLITE_OK) {
            db_stmt_done(ds);
            return fail_db(sink, db, rc, out, start, state);
        }
        if (code) {
            db_stmt_done(ds);
            return fail(sink, out, start, code, why, -1, state);
        }
        int readonly = sqlite3_stmt_readonly(st) || sqlite3_stmt_isexplain(st);
        int64_t rows = 0;
        /* sqlite3_changes64 keeps the last INSERT, UPDATE or DELETE's count (maybe another
         * client's: the writer is shared) through a statement that changes no row, as DDL: the
         * total, which counts every changed row, tells whether this one changed any. */
        int64_t total_before = sqlite3_total_changes64(h);
        rc = run_stmt(st, sink, lim, out, start, &rows);
        if (rc == SQLITE_TOOBIG || rc == RUN_TOO_MANY_ROWS) {
            db_stmt_done(ds);
            char msg[128];
            if (rc == SQLITE_TOOBIG && out->oom && out->limit)
                snprintf(msg, sizeof msg, "reply larger than output_hard_limit (%zu bytes)", out->limit);
            else if (rc == SQLITE_TOOBIG)
                snprintf(msg, sizeof msg, "result larger than max_result_bytes (%lld bytes)", (long long)lim->max_result_bytes);
            else
                snprintf(msg, sizeof msg, "result has more than max_result_rows (%lld) rows", (long long)lim->max_result_rows);
            return fail(sink, out, start, "54000", msg, -1, state);
        }
        if (rc != SQLITE_OK) {
            /* Read the message before reset, which may replace it. */
            int r = fail_db(sink, db, rc, out, start, state);
            db_stmt_done(ds);
            return r;
        }
        /* Read the counts after the reset: with RETURNING, SQLite settles them only then. */
        db_stmt_done(ds);
        int64_t changes = readonly || sqlite3_total_changes64(h) == total_before ? 0 : sqlite3_changes64(h);
        if (!readonly)
            o.wrote = 1;
        o.changes += changes;
        o.rows += rows;
        if (sink->stmt_done)
            sink->stmt_done(sink, st, rows, changes, out);
        idx++;
    }
    if (idx == 0)
        return fail(sink, out, start, "42601", "empty statement", -1, state);
    o.ms = now_ms() - t0;
    o.last_id = sqlite3_last_insert_rowid(h);
    if (info) {
        info->data_len = out->len - start;
        info->rows = o.rows;
        info->ms = o.ms;
    }
    sink->done(sink, &o, out);
    if (out->oom && out->limit) { /* the status line did not fit under the limit */
        char msg[128];
        snprintf(msg, sizeof msg, "reply larger than output_hard_limit (%zu bytes)", out->limit);
        return fail(sink, out, start, "54000", msg, -1, state);
    }
    if (out->oom)
        return fail(sink, out, start, "53200", "out of memory", -1, state);
    return 0;
}

/* ---- the slow-query log ---- */

/* Pushed by the server at start-up and on reload; off until then (tests, tools). */
static _Atomic int slow_ms = -1;
static _Atomic int slow_params;

void query_set_slow_log(int ms, int with_params)
{
    atomic_store_explicit(&slow_ms, ms, memory_order_relaxed);
    atomic_store_explicit(&slow_params, with_params, memory_order_relaxed);
}

static int ident_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '$' ||
           (unsigned char)c >= 0x80;
}

/* Copy a quoted span (string or identifier) starting at sql[i]; returns the index after it. */
static size_t quoted_end(const char *sql, size_t len, size_t i, char close)
{
    for (i++; i < len; i++)
        if (sql[i] == close) {
            if (close != ']' && i + 1 < len && sql[i + 1] == close) {
                i++; /* a doubled quote stands for itself */
                continue;
            }
            return i + 1;
        }
    return len;
}

void query_sql_for_log(const char *sql, size_t len, int literals, buf *out)
{
    int space = 0;
    size_t start = out->len;
    for (size_t i = 0; i < len;) {
        char c = sql[i];
        size_t end = i + 1;
        int literal = 0, comment = 0;
        if (c == ' ' || c == '\t' || c == '\n' || c == '\r') {
            space = 1;
            i++;
            continue;
        }
        if (c == '-' && i + 1 < len && sql[i + 1] == '-') {
            const char *nl = memchr(sql + i, '\n', len - i);
            end = nl ? (size_t)(nl - sql) : len;
            comment = 1;
        } else if (c == '/' && i + 1 < len && sql[i + 1] == '*') {
            const char *close = memmem(sql + i + 2, len - i - 2, "*/", 2);
            end = close ? (size_t)(close - sql) + 2 : len;
            comment = 1;
        } else if (c == '\'') {
            end = quoted_end(sql, len, i, '\'');
            literal = 1;
        } else if ((c == 'x' || c == 'X') && i + 1 < len && sql[i + 1] == '\'' && (i == 0 || !ident_char(sql[i - 1]))) {
            end = quoted_end(sql, len, i + 1, '\'');
            literal = 1;
        } else if (c == '"' || c == '`' || c == '[') {
            end = quoted_end(sql, len, i, c == '[' ? ']' : c);
        } else if (((c >= '0' && c <= '9') || (c == '.' && i + 1 < len && sql[i + 1] >= '0' && sql[i + 1] <= '9')) &&
                   (i == 0 || !ident_char(sql[i - 1]))) {
            /* 12, 1.5e-3, 0x1F: the digits, letters and dots that follow, and a sign after an exponent */
            while (end < len && (ident_char(sql[end]) || sql[end] == '.' ||
                                 ((sql[end] == '+' || sql[end] == '-') && (sql[end - 1] == 'e' || sql[end - 1] == 'E'))))
                end++;
            literal = 1;
        } else if (ident_char(c)) {
            while (end < len && ident_char(sql[end]))
                end++;
        }
        if (comment) {
            space = 1;
            i = end;
            continue;
        }
        if (space && out->len > start)
            buf_putc(out, ' ');
        space = 0;
        if (literal && !literals)
            buf_putc(out, '?');
        else
            buf_append(out, sql + i, end - i);
        i = end;
    }
}

/* One WARN line: how long, how many rows, whether the cache was in play, then what ran. */
static void log_slow(const query_item *it, double ms, int64_t rows, const char *status_extra, const char *state)
{
    int params = atomic_load_explicit(&slow_params, memory_order_relaxed);
    buf line;
    buf_init(&line);
    buf_printf(&line, "slow query: ms=%.3f rows=%lld cache=%s", ms, (long long)rows,
               status_extra && strstr(status_extra, "cache=miss") ? "miss" : "off");
    if (state && state[0])
        buf_printf(&line, " error=%s", state);
    if (it->name)
        buf_printf(&line, " call=%s", it->name);
    if (it->plan) {
        buf_puts(&line, " args=[");
        for (int i = 0; i < it->nargs; i++) {
            const lp_arg *a = &it->args[i];
            if (i)
                buf_putc(&line, ',');
            if (!params)
                buf_putc(&line, '?');
            else if (a->type == LP_ARG_NULL)
                buf_puts(&line, "null");
            else if (a->type == LP_ARG_INT)
                buf_printf(&line, "%lld", (long long)a->i);
            else if (a->type == LP_ARG_REAL)
                buf_printf(&line, "%.17g", a->d);
            else
                lp_put_json_string(&line, a->s, a->len > 200 ? 200 : a->len);
        }
        buf_putc(&line, ']');
    }
    buf_puts(&line, " sql=");
    query_sql_for_log(it->sql, it->len, params, &line);
    if (!line.oom)
        log_msg(LOG_WARN, log_conn(), "%.*s", (int)line.len, line.data);
    buf_free(&line);
}

int query_run_ex(db_conn *db, const query_item *it, const query_sink *sink, const query_limits *lim, buf *out,
                 char *state, const char *status_extra, query_info *info)
{
    if (it->literal || it->err_state) /* nothing runs: neither timed nor logged */
        return run_body(db, it, sink, lim, out, state, status_extra, info);
    query_info local;
    char st[6] = "";
    double t0 = now_ms();
    int r = run_body(db, it, sink, lim, out, st, status_extra, info ? info : &local);
    double ms = now_ms() - t0;
    if (state && r < 0)
        memcpy(state, st, sizeof st);
    stats_latency(ms);
    int threshold = atomic_load_explicit(&slow_ms, memory_order_relaxed);
    if (threshold >= 0 && ms >= threshold && !stats_muted()) {
        stats_add(STATS_SLOW_QUERIES, 1);
        log_slow(it, ms, r == 0 ? (info ? info : &local)->rows : 0, status_extra, st);
    }
    return r;
}

int query_run_batch(const query_item *items, int n, query_runner run, void *ud, buf *out, char *state)
{
    int failed = -1;
    for (int i = 0; i < n; i++) {
        if (failed >= 0) {
            lp_put_error(out, "25P02", "batch aborted");
            continue;
        }
        int r = run(ud, &items[i], out, state);
        if (r == QUERY_BATCH_STOP)
            return QUERY_BATCH_STOP;
        if (r < 0)
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
