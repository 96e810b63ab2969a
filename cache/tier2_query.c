/* tier2_query.c - CACHE QUERY: one read-only statement over the tier-2 database, encoded with the line protocol; it cannot write, attach files, or hold the tier-2 lock for long. */
#include "tier2.h"

#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

/* The statement holds the tier-2 lock, which every tier-1 miss needs: bound its time and reply. */
#define QUERY_MAX_S   2.0
#define QUERY_MAX_OUT ((size_t)64 << 20)

/* One CACHE QUERY's state, seen by the authorizer and the progress handler. */
typedef struct query {
    double deadline;
    buf   *out;
    size_t start;       /* out's length before the reply */
    char   denied[128]; /* why the authorizer refused, for a better message than "not authorized" */
} query;

/* The real clock: a CACHE QUERY deadline must pass even under a test's frozen clock. */
static double real_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Pragmas that take an argument yet only read; any other PRAGMA could change the connection. */
static const char *const pragma_ok[] = {
    "table_info", "table_xinfo", "index_list", "index_info", "index_xinfo", "table_list",
    "page_count", "page_size", "freelist_count", NULL,
};

/* Installed only while CACHE QUERY prepares its statement: no files, no transactions left open on
 * the shared connection, no internal functions. Writes pass here and are refused by
 * sqlite3_stmt_readonly, which gives the clearer message. */
static int query_auth(void *ud, int action, const char *a, const char *b, const char *dbname, const char *trigger)
{
    query *q = ud;
    (void)dbname;
    (void)trigger;
    const char *why = NULL;
    switch (action) {
    case SQLITE_ATTACH:
    case SQLITE_DETACH:
        why = "CACHE QUERY cannot attach databases";
        break;
    case SQLITE_TRANSACTION:
    case SQLITE_SAVEPOINT:
        why = "CACHE QUERY cannot control transactions";
        break;
    case SQLITE_PRAGMA:
        why = "CACHE QUERY allows only reading pragmas";
        for (const char *const *p = pragma_ok; *p; p++)
            if (a && strcasecmp(a, *p) == 0)
                why = NULL;
        break;
    case SQLITE_FUNCTION:
        if (b && (strcasecmp(b, "lc_pred") == 0 || strcasecmp(b, "load_extension") == 0))
            why = "CACHE QUERY cannot call that function";
        break;
    }
    if (!why)
        return SQLITE_OK;
    snprintf(q->denied, sizeof q->denied, "%s", why);
    return SQLITE_DENY;
}

/* Interrupts the statement past its time or reply budget. */
static int query_progress(void *ud)
{
    query *q = ud;
    return real_now() > q->deadline || q->out->len - q->start > QUERY_MAX_OUT || q->out->oom;
}

/* SQLite's error message starts with prefix. */
static int starts(const char *msg, const char *prefix) { return strncmp(msg, prefix, strlen(prefix)) == 0; }

/* A SQLSTATE for a SQLite error: by code, then by the message's wording. */
static const char *sqlstate(int rc, const char *msg)
{
    switch (rc & 0xff) {
    case SQLITE_AUTH:      return "42501";
    case SQLITE_INTERRUPT: return "57014";
    case SQLITE_TOOBIG:    return "54000";
    case SQLITE_NOMEM:     return "53200";
    }
    if (strstr(msg, "not authorized")) return "42501";
    if (starts(msg, "no such table") || starts(msg, "no such view")) return "42P01";
    if (starts(msg, "no such column")) return "42703";
    if (strstr(msg, "syntax error") || starts(msg, "incomplete input") || starts(msg, "unrecognized token"))
        return "42601";
    return "XX000";
}

/* Replace whatever the reply had with one error line; returns -1. */
static int query_fail(buf *out, size_t start, const char *state, const char *msg)
{
    buf_truncate(out, start);
    out->oom = 0;
    lp_put_error(out, state, msg);
    return -1;
}

/* The error line for a failed prepare or step: the authorizer's reason, a limit, or SQLite's message. */
static int query_error(sqlite3 *db, query *q, int rc)
{
    const char *msg = sqlite3_errmsg(db);
    if (q->denied[0])
        return query_fail(q->out, q->start, "42501", q->denied);
    if ((rc & 0xff) == SQLITE_INTERRUPT)
        msg = "CACHE QUERY ran too long or its reply grew too large";
    else if (q->out->oom || q->out->len - q->start > QUERY_MAX_OUT)
        msg = "CACHE QUERY reply too large";
    return query_fail(q->out, q->start, sqlstate(rc, msg), msg);
}

/* Column i of the current row as a protocol value (pointers valid until the next step). */
static void put_value(lp_value *v, sqlite3_stmt *st, int i)
{
    switch (sqlite3_column_type(st, i)) {
    case SQLITE_NULL:
        *v = (lp_value){ LP_VAL_NULL, NULL, 0 };
        return;
    case SQLITE_BLOB:
        v->type = LP_VAL_BLOB;
        v->p = sqlite3_column_blob(st, i);
        v->n = (size_t)sqlite3_column_bytes(st, i);
        return;
    case SQLITE_INTEGER: v->type = LP_VAL_INT; break;
    case SQLITE_FLOAT:   v->type = LP_VAL_REAL; break;
    default:             v->type = LP_VAL_TEXT; break;
    }
    /* Numbers go out in SQLite's own text form, as the protocol promises. */
    v->p = (const char *)sqlite3_column_text(st, i);
    v->n = (size_t)sqlite3_column_bytes(st, i);
}

/* Step the statement to the end, encoding its rows into out. Returns a SQLite code. */
static int run_select(sqlite3_stmt *st, lp_format fmt, buf *out, size_t start, int64_t *rows)
{
    int ncols = sqlite3_column_count(st);
    const char **names = calloc((size_t)ncols + 1, sizeof *names);
    size_t *lens = calloc((size_t)ncols + 1, sizeof *lens);
    lp_value *vals = calloc((size_t)ncols + 1, sizeof *vals);
    int rc = SQLITE_NOMEM;
    if (!names || !lens || !vals)
        goto out;
    if (ncols > 0) {
        for (int i = 0; i < ncols; i++) {
            names[i] = sqlite3_column_name(st, i);
            if (!names[i])
                names[i] = "";
            lens[i] = strlen(names[i]);
        }
        lp_put_header(out, fmt, names, lens, ncols);
    }
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        for (int i = 0; i < ncols; i++)
            put_value(&vals[i], st, i);
        lp_put_row(out, fmt, vals, ncols);
        (*rows)++;
        if (out->len - start > QUERY_MAX_OUT || out->oom) {
            rc = SQLITE_TOOBIG;
            break;
        }
    }
    if (rc == SQLITE_DONE)
        rc = SQLITE_OK;
out:
    free(names);
    free(lens);
    free(vals);
    return rc;
}

int tier2_query(tier2 *t, const char *sql, size_t len, lp_format fmt, buf *out)
{
    query q = { .out = out, .start = out->len };
    if (len > (size_t)1 << 20)
        return query_fail(out, q.start, "54000", "CACHE QUERY statement too long");
    double t0 = real_now();
    sqlite3 *db = tier2_lock(t);
    q.deadline = t0 + QUERY_MAX_S;
    sqlite3_set_authorizer(db, query_auth, &q);
    sqlite3_progress_handler(db, 10000, query_progress, &q);
    sqlite3_stmt *st = NULL, *next = NULL;
    const char *tail = NULL;
    int ret = -1;
    int rc = sqlite3_prepare_v2(db, sql, (int)len, &st, &tail);
    if (rc != SQLITE_OK) {
        ret = query_error(db, &q, rc);
        goto out;
    }
    if (!st) {
        ret = query_fail(out, q.start, "42601", "CACHE QUERY needs a statement");
        goto out;
    }
    /* Whatever follows must be only blanks and comments: preparing it yields no statement. */
    size_t used = (size_t)(tail - sql);
    if (used < len) {
        rc = sqlite3_prepare_v2(db, tail, (int)(len - used), &next, NULL);
        if (rc != SQLITE_OK || next) {
            ret = query_fail(out, q.start, "42601", "CACHE QUERY takes one statement");
            goto out;
        }
    }
    if (!sqlite3_stmt_readonly(st)) {
        ret = query_fail(out, q.start, "42501", "CACHE QUERY only reads");
        goto out;
    }
    int64_t rows = 0;
    rc = run_select(st, fmt, out, q.start, &rows);
    if (rc != SQLITE_OK) {
        ret = query_error(db, &q, rc);
        goto out;
    }
    buf_printf(out, "+OK %lld rows ms=%.3f\n", (long long)rows, (real_now() - t0) * 1e3);
    ret = 0;
out:
    sqlite3_finalize(next);
    sqlite3_finalize(st);
    sqlite3_set_authorizer(db, NULL, NULL);
    sqlite3_progress_handler(db, 0, NULL, NULL);
    tier2_unlock(t);
    return ret;
}
