/* pgsql.c - the PostgreSQL-to-SQLite dialect translator: rewrites PostgreSQL SQL text outside quotes and comments, and recognises session-level statements; pure. */
#include "pgsql.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "pglex.h"
#include "pgstmt.h"
#include "pgval.h"
#include "pgwire.h"

/* now() and friends. SQLite's 'now' is fixed for one sqlite3_step(), PostgreSQL's for one
 * transaction; milliseconds, not microseconds; no time zone suffix (the session runs in UTC). */
#define NOW_SQL "strftime('%Y-%m-%d %H:%M:%f','now')"
#define DEFAULT_VERSION "PostgreSQL 15.0 (litecached)"
#define MAX_DEPTH 200
#define NONE ((size_t)-1)

enum { LV_TOP, LV_PAREN, LV_CALL, LV_CAST, LV_GS, LV_BRACK, LV_CASE };
enum { CL_NONE, CL_SELECT, CL_FROM, CL_OTHER };
enum { ST_OTHER, ST_CREATE_TABLE, ST_CREATE_INDEX, ST_ALTER_TABLE };

/* One nesting level: the top, or an open (, [ or CASE. */
typedef struct level {
    int    kind, clause;
    size_t open;                    /* out offset of the '(' */
    size_t call_start;              /* out offset where the operand this group forms starts */
    long   item_first, item_last;   /* select-list item being read: its significant tokens */
    size_t item_end;                /* out offset just after the item */
    size_t opnd, opnd_end;          /* out span of the latest primary expression (NONE: none) */
    long   opnd_lit;                /* that primary is this single string literal, else -1 */
    int    ncomma;
    size_t comma[2];                /* generate_series: out offsets of its argument commas */
} level;

typedef struct tr {
    const pglex     *lx;
    const char      *s;
    long             ns;            /* significant tokens of the statement (before any ';') */
    size_t           bound;         /* output size limit */
    const pgsql_ctx *ctx;
    pgsql_result    *r;
    buf             *out;
    level            lv[MAX_DEPTH];
    int              depth, stmt, err, no_note;
    long             skipped_dot;   /* a "schema." prefix was dropped up to this '.' */
    size_t           end_tok;       /* token index where the statement ends (its ';' or the end) */
} tr;

static int fail(tr *x, const char *state, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int fail(tr *x, const char *state, const char *fmt, ...)
{
    char msg[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (!x->err)
        pgstmt_error(x->r, state, "%s", msg);
    x->err = 1;
    return -1;
}

static const pglex_tok *S(const tr *x, long k) { return k < x->ns ? pglex_sig(x->lx, k) : NULL; }
static int is(const tr *x, long k, pglex_kind kd) { return k < x->ns && pglex_is(x->lx, k, kd); }
static int kw(const tr *x, long k, const char *w) { return k < x->ns && pglex_kw(x->lx, k, w); }
static int kw_in(const tr *x, long k, const char *const *w) { return k < x->ns && pglex_kw_in(x->lx, k, w); }
static level *cur(tr *x) { return &x->lv[x->depth]; }

static void emit(tr *x, long k)
{
    const pglex_tok *t = S(x, k);
    buf_append(x->out, x->s + t->off, t->len);
}

static void insert_at(buf *b, size_t at, const char *p, size_t n)
{
    if (at > b->len || buf_reserve(b, n) < 0)
        return;
    memmove(b->data + at + n, b->data + at, b->len - at);
    memcpy(b->data + at, p, n);
    b->len += n;
}

/* ---- types ---------------------------------------------------------------------------------- */

/* A type name at k, or an error saying why not. */
static long parse_type(tr *x, long k, pglex_type *ti)
{
    long e = pglex_type_at(x->lx, k, ti);
    if (e == -1)
        return fail(x, "42601", "syntax error: type name expected");
    if (e == -2)
        return fail(x, "0A000", "feature not supported: array type %s[]", ti->name);
    if (e == -3)
        return fail(x, "0A000", "feature not supported: type %s", ti->name);
    return e;
}

/* The string literal at out[start..end) cast to ti: text-like types keep the literal, bool and
 * bytea literals become 1/0 and X'..' (SQLite has neither type). 1 if handled, 0 if not. */
static int cast_literal(tr *x, size_t start, size_t end, const pglex_type *ti)
{
    if (ti->kind == PGLEX_TY_TEXT) {
        buf_truncate(x->out, end);
        return 1;
    }
    if (ti->kind != PGLEX_TY_BOOL && ti->kind != PGLEX_TY_BYTEA)
        return 0;
    buf v, bin;
    buf_init(&v);
    buf_init(&bin);
    pglex_tok lit = { PGLEX_STRING, 0, (uint32_t)start, (uint32_t)(end - start) };
    const char *why, *state = NULL;
    char err[160];
    pglex_string(x->out->data, &lit, &v, &why);
    uint32_t oid = ti->kind == PGLEX_TY_BOOL ? PGWIRE_BOOL : PGWIRE_BYTEA;
    if (pgval_text_to_binary(oid, v.data ? v.data : "", v.len, &bin, &state, err, sizeof err) < 0) {
        fail(x, state ? state : "22P02", "%s", err);
    } else if (v.oom || bin.oom || (ti->kind == PGLEX_TY_BOOL && bin.len != 1)) {
        fail(x, "53200", "out of memory");
    } else {
        buf_truncate(x->out, start);
        if (ti->kind == PGLEX_TY_BOOL) {
            buf_putc(x->out, bin.data[0] ? '1' : '0');
        } else {
            static const char H[] = "0123456789ABCDEF";
            buf_puts(x->out, "X'");
            for (size_t i = 0; i < bin.len; i++) {
                buf_putc(x->out, H[(unsigned char)bin.data[i] >> 4]);
                buf_putc(x->out, H[bin.data[i] & 15]);
            }
            buf_putc(x->out, '\'');
        }
    }
    buf_free(&v);
    buf_free(&bin);
    return 1;
}

/* The latest operand of L, cast: CAST(operand AS type), or a rewritten literal. */
static void apply_cast(tr *x, level *L, const pglex_type *ti)
{
    if (ti->kind == PGLEX_TY_DROP)
        return;
    if (L->opnd_lit >= 0 && cast_literal(x, L->opnd, L->opnd_end, ti)) {
        L->opnd_end = x->out->len;
        if (ti->kind != PGLEX_TY_TEXT)
            L->opnd_lit = -1;
        return;
    }
    insert_at(x->out, L->opnd, "CAST(", 5);
    buf_printf(x->out, " AS %s)", ti->sqlite);
    L->opnd_lit = -1;
    L->opnd_end = x->out->len;
}

static void finish_item(tr *x, level *L)
{
    char name[128];
    if (L->clause == CL_SELECT && L->item_first >= 0 && !x->err &&
        pglex_item_name(x->lx, L->item_first, L->item_last, name, sizeof name)) {
        buf a;
        buf_init(&a);
        buf_puts(&a, " AS \"");
        for (char *p = name; *p; p++) {
            if (*p == '"')
                buf_putc(&a, '"');
            buf_putc(&a, *p);
        }
        buf_putc(&a, '"');
        insert_at(x->out, L->item_end, a.data, a.len);
        buf_free(&a);
    }
    L->item_first = -1;
}

static void note_item(tr *x, level *L, long first, long last)
{
    if (L->clause != CL_SELECT)
        return;
    if (L->item_first < 0)
        L->item_first = first;
    L->item_last = last;
    L->item_end = x->out->len;
}

/* ---- groups ------------------------------------------------------------------------------------ */

static long open_group(tr *x, long k, int kind)
{
    level *L = cur(x);
    size_t before = x->out->len, start = before;
    const pglex_tok *p = k > 0 ? S(x, k - 1) : NULL;
    if (kind == LV_PAREN && p && L->opnd != NONE && x->skipped_dot != k - 1 &&
        ((p->kind == PGLEX_IDENT && (!pglex_reserved(x->lx, k - 1) || kw(x, k - 1, "exists"))) || p->kind == PGLEX_QIDENT)) {
        kind = kw(x, k - 1, "cast") ? LV_CAST : LV_CALL;
        start = L->opnd;
    }
    if (kind == LV_BRACK && L->opnd != NONE)
        start = L->opnd;
    if (x->depth + 1 >= MAX_DEPTH)
        return fail(x, "54001", "statement is too complex (nesting deeper than %d)", MAX_DEPTH - 1);
    level *N = &x->lv[++x->depth];
    memset(N, 0, sizeof *N);
    N->kind = kind;
    N->open = before;
    N->call_start = start;
    N->opnd = NONE;
    N->opnd_lit = -1;
    N->item_first = -1;
    emit(x, k);
    return k;
}

static int simple_arg(const char *p, size_t n)
{
    size_t i = (n && (*p == '-' || *p == '?')) ? 1 : 0;
    if (i == n)
        return 0;
    for (; i < n; i++)
        if (!isalnum((unsigned char)p[i]) && p[i] != '.' && p[i] != '_')
            return 0;
    return 1;
}

/* generate_series(a, b [, step]) in FROM: SQLite here has no such table function, so it becomes a
 * recursive CTE in a subquery whose one column takes the alias's name, as PostgreSQL names it. */
static long gs_close(tr *x, long k)
{
    level *C = cur(x);
    buf *o = x->out;
    size_t at[4] = { C->open + 1, 0, 0, 0 }, to[3];
    int nargs = C->ncomma + 1;
    if (nargs < 2 || nargs > 3)
        return fail(x, "42883", "function generate_series() with %d argument%s is not supported",
                    nargs, nargs == 1 ? "" : "s");
    for (int i = 0; i < nargs; i++) {
        to[i] = i + 1 < nargs ? C->comma[i] : o->len;
        at[i + 1] = to[i] + 1;
    }
    buf arg[3], g;
    for (int i = 0; i < 3; i++)
        buf_init(&arg[i]);
    for (int i = 0; i < nargs; i++) {
        size_t p = at[i], q = to[i];
        while (p < q && isspace((unsigned char)o->data[p]))
            p++;
        while (q > p && isspace((unsigned char)o->data[q - 1]))
            q--;
        int wrap = !simple_arg(o->data + p, q - p);
        buf_printf(&arg[i], "%s%.*s%s", wrap ? "(" : "", (int)(q - p), o->data + p, wrap ? ")" : "");
        buf_putc(&arg[i], '\0');
    }
    size_t start = C->call_start;
    x->depth--;
    cur(x)->opnd = NONE;
    long j = k + 1, alias = -1, col = -1;
    int as = kw(x, j, "as");
    j += as;
    if ((is(x, j, PGLEX_IDENT) && !pglex_reserved(x->lx, j)) || is(x, j, PGLEX_QIDENT))
        alias = j++;
    else if (as)
        fail(x, "42601", "syntax error after AS");
    if (alias >= 0 && is(x, j, PGLEX_LPAREN) && (is(x, j + 1, PGLEX_IDENT) || is(x, j + 1, PGLEX_QIDENT)) &&
        is(x, j + 2, PGLEX_RPAREN))
        col = j + 1, j += 3;
    char cn[128], c[140];
    const pglex_tok *ct = S(x, col >= 0 ? col : alias);
    if (ct && ct->kind == PGLEX_QIDENT)
        snprintf(c, sizeof c, "%.*s", (int)ct->len, x->s + ct->off);
    else {
        if (ct)
            pglex_ident(x->s, ct, cn, sizeof cn);
        snprintf(c, sizeof c, "\"%s\"", ct ? cn : "generate_series");
    }
    const char *A = arg[0].data, *B = arg[1].data, *st = nargs == 3 ? arg[2].data : NULL;
    buf_init(&g);
    buf_printf(&g, "(WITH RECURSIVE __lc_gs(%s) AS (SELECT %s WHERE ", c, A);
    if (st)
        buf_printf(&g, "CASE WHEN %s > 0 THEN %s <= %s ELSE %s >= %s END UNION ALL SELECT %s + %s FROM __lc_gs "
                       "WHERE %s <> 0 AND CASE WHEN %s > 0 THEN %s + %s <= %s ELSE %s + %s >= %s END",
                   st, A, B, A, B, c, st, st, st, c, st, B, c, st, B);
    else
        buf_printf(&g, "%s <= %s UNION ALL SELECT %s + 1 FROM __lc_gs WHERE %s + 1 <= %s", A, B, c, c, B);
    buf_printf(&g, ") SELECT %s FROM __lc_gs) AS ", c);
    if (alias >= 0)
        buf_append(&g, x->s + S(x, alias)->off, S(x, alias)->len);
    else
        buf_puts(&g, "generate_series");
    if (start + g.len > x->bound)
        fail(x, "54000", "statement is too large after translation");
    buf_truncate(o, start);
    if (!x->err)
        buf_append(o, g.data, g.len);
    buf_free(&g);
    for (int i = 0; i < 3; i++)
        buf_free(&arg[i]);
    return x->err ? -1 : alias >= 0 ? j - 1 : k;
}

static long close_group(tr *x, long k)
{
    if (x->depth == 0) {   /* unbalanced: leave it for SQLite to report */
        emit(x, k);
        cur(x)->opnd = NONE;
        return k;
    }
    level *C = cur(x);
    finish_item(x, C);
    if (C->kind == LV_GS)
        return gs_close(x, k);
    size_t start = C->call_start;
    x->depth--;
    level *L = cur(x);
    emit(x, k);
    L->opnd = start;
    L->opnd_end = x->out->len;
    L->opnd_lit = -1;
    note_item(x, L, k, k);
    return k;
}

/* CAST(expr AS type): the type is mapped; CAST('t' AS boolean) and bytea literals are folded. */
static long cast_as(tr *x, long k)
{
    level *L = cur(x);
    pglex_type ti;
    long e = parse_type(x, k + 1, &ti);
    if (e < 0)
        return -1;
    if (L->opnd_lit >= 0 && L->opnd == L->open + 1 && is(x, e + 1, PGLEX_RPAREN) &&
        (ti.kind == PGLEX_TY_BOOL || ti.kind == PGLEX_TY_BYTEA || ti.kind == PGLEX_TY_TEXT)) {
        cast_literal(x, L->opnd, L->opnd_end, &ti);
        size_t start = L->call_start, from = L->opnd, n = x->out->len - from;
        memmove(x->out->data + start, x->out->data + from, n);
        buf_truncate(x->out, start + n);
        x->depth--;
        level *P = cur(x);
        P->opnd = start;
        P->opnd_end = x->out->len;
        P->opnd_lit = -1;
        note_item(x, P, e + 1, e + 1);
        return e + 1;
    }
    buf_printf(x->out, "AS %s", ti.sqlite);
    L->opnd = NONE;
    return e;
}


/* ---- identifiers and keywords ------------------------------------------------------------------- */

static int from_position(tr *x, long k)
{
    return kw(x, k - 1, "from") || kw(x, k - 1, "join") || kw(x, k - 1, "lateral") ||
           (is(x, k - 1, PGLEX_COMMA) && cur(x)->clause == CL_FROM);
}

static void set_operand(tr *x, size_t before, long lit)
{
    level *L = cur(x);
    L->opnd = before;
    L->opnd_end = x->out->len;
    L->opnd_lit = lit;
}

static void put_value_literal(tr *x, const char *v)
{
    pglex_put_literal(x->out, v ? v : "", v ? strlen(v) : 0);
}

/* Last token before the end of the current level (its closing ')' or the statement's end). */
static long level_end(tr *x, long k)
{
    for (int d = 0; k < x->ns; k++) {
        d += is(x, k, PGLEX_LPAREN) - is(x, k, PGLEX_RPAREN);
        if (d < 0)
            break;
    }
    return k - 1;
}

static long handle(tr *x, long k);

static long ident(tr *x, long k)
{
    static const char *const nows[] = { "now", "transaction_timestamp", "statement_timestamp", "clock_timestamp", NULL };
    static const char *const users[] = { "current_user", "session_user", "user", "current_role", NULL };
    static const char *const serials[] = { "serial", "serial4", "serial8", "bigserial", "smallserial", "serial2", NULL };
    static const char *const clause_end[] = { "where", "group", "having", "order", "limit", "offset", "union",
                                              "intersect", "except", "window", "returning", "on", "using", NULL };
    level *L = cur(x);
    buf *o = x->out;
    size_t before = o->len;
    const pglex_tok *t = S(x, k);
    int call = is(x, k + 1, PGLEX_LPAREN), empty_call = call && is(x, k + 2, PGLEX_RPAREN);
    const pgsql_ctx *c = x->ctx;

    if (is(x, k - 1, PGLEX_DOT) && x->skipped_dot != k - 1) {   /* a qualified name goes on */
        emit(x, k);
        if (L->opnd == NONE)
            L->opnd = before;
        L->opnd_end = o->len;
        return k;
    }
    if (L->kind == LV_CAST && kw(x, k, "as"))
        return cast_as(x, k);
    /* CASE ... END is a group too, so that CASE ... END::text casts all of it */
    if (kw(x, k, "case"))
        return open_group(x, k, LV_CASE);
    if (kw(x, k, "end") && L->kind == LV_CASE)
        return close_group(x, k);
    if (kw(x, k, "select")) {
        L->clause = CL_SELECT;
        L->item_first = -1;
        x->no_note = 1;
        if (kw(x, k + 1, "distinct") && kw(x, k + 2, "on"))
            return fail(x, "0A000", "feature not supported: SELECT DISTINCT ON");
    } else if ((kw(x, k, "distinct") || kw(x, k, "all")) && kw(x, k - 1, "select")) {
        x->no_note = 1;
    } else if ((kw(x, k, "from") && !kw(x, k - 1, "distinct")) || kw(x, k, "join")) {
        L->clause = CL_FROM;
    } else if (L->clause == CL_FROM && kw_in(x, k, clause_end)) {
        L->clause = CL_OTHER;
    }
    /* schemas: public is SQLite's main; system catalogs do not exist here */
    if ((kw(x, k, "public") || kw(x, k, "pg_catalog")) && is(x, k + 1, PGLEX_DOT) && S(x, k + 2)) {
        if (kw(x, k, "pg_catalog") && !is(x, k + 3, PGLEX_LPAREN) && !is(x, k - 1, PGLEX_CAST))
            return fail(x, "0A000", "feature not supported: system catalog pg_catalog.%.*s",
                        (int)S(x, k + 2)->len, x->s + S(x, k + 2)->off);
        x->skipped_dot = k + 1;
        x->no_note = 1;
        return k + 1;
    }
    if (kw(x, k, "information_schema"))
        return fail(x, "0A000", "feature not supported: information_schema");
    if (t->len > 3 && !strncasecmp(x->s + t->off, "pg_", 3) && !call && from_position(x, k))
        return fail(x, "0A000", "feature not supported: system catalog %.*s", (int)t->len, x->s + t->off);
    if (kw(x, k, "true") || kw(x, k, "false")) {
        /* IS TRUE keeps its meaning (truthiness, not equality with 1) */
        if (kw(x, k - 1, "is") || (kw(x, k - 1, "not") && kw(x, k - 2, "is")))
            emit(x, k);
        else
            buf_putc(o, kw(x, k, "true") ? '1' : '0');
        set_operand(x, before, -1);
        return k;
    }
    if (kw(x, k, "ilike")) {   /* SQLite's LIKE already ignores ASCII case */
        buf_puts(o, "LIKE");
        L->opnd = NONE;
        return k;
    }
    if (kw(x, k, "all") && kw(x, k - 1, "limit")) {
        buf_puts(o, "-1");
        return k;
    }
    long e = k;
    if (kw_in(x, k, nows) && empty_call) {
        e = k + 2;
    } else if (kw(x, k, "current_timestamp") || kw(x, k, "localtimestamp")) {
        if (call && (e = pglex_skip_group(x->lx, k + 1)) < 0)
            return fail(x, "42601", "syntax error at end of input");
    } else {
        e = -1;
    }
    if (e >= 0) {
        /* a DEFAULT clause takes only a literal or a parenthesised expression */
        buf_puts(o, kw(x, k - 1, "default") ? "(" NOW_SQL ")" : NOW_SQL);
        set_operand(x, before, -1);
        return e;
    }
    /* session functions become literals */
    e = empty_call ? k + 2 : k;
    if (kw(x, k, "version") && empty_call)
        put_value_literal(x, c && c->version ? c->version : DEFAULT_VERSION);
    else if ((kw(x, k, "current_database") && empty_call) || (kw(x, k, "current_catalog") && !call))
        put_value_literal(x, c ? c->database : NULL);
    else if (kw(x, k, "current_schema") && (empty_call || !call))
        put_value_literal(x, "public");
    else if (kw_in(x, k, users) && !call)
        put_value_literal(x, c ? c->user : NULL);
    else if (kw(x, k, "pg_backend_pid") && empty_call)
        buf_printf(o, "%d", c ? (int)c->pid : 0);
    else
        e = -1;
    if (e >= 0) {
        set_operand(x, before, -1);
        return e;
    }
    if (kw(x, k, "generate_series") && call) {
        if (!from_position(x, k))
            return fail(x, "0A000", "feature not supported: generate_series() outside FROM");
        emit(x, k);
        set_operand(x, before, -1);
        if (open_group(x, k + 1, LV_PAREN) < 0)
            return -1;
        cur(x)->kind = LV_GS;
        cur(x)->call_start = before;
        return k + 1;
    }
    /* typed literals: date '2024-01-01', boolean 't', bytea '\x00', interval '1 day' */
    pglex_type ty;
    const pglex_tok *nx = S(x, k + 1);
    if (nx && (nx->kind == PGLEX_STRING || nx->kind == PGLEX_ESTRING || nx->kind == PGLEX_DOLLAR) &&
        !is(x, k - 1, PGLEX_CAST)) {
        if (kw(x, k, "interval"))
            return fail(x, "0A000", "feature not supported: type interval");
        if (pglex_type_at(x->lx, k, &ty) == k) {
            if (handle(x, k + 1) < 0)
                return -1;
            apply_cast(x, cur(x), &ty);
            return k + 1;
        }
    }
    if (x->stmt != ST_OTHER && x->depth == 0) {
        if (kw(x, k, "unlogged") && k <= 2)
            return k;
        if (kw(x, k, "with") && call)   /* storage parameters: WITH (fillfactor=100) */
            return pglex_skip_group(x->lx, k + 1);
        if (kw(x, k, "tablespace") && S(x, k + 1))
            return k + 1;
        if (x->stmt == ST_CREATE_INDEX && (kw(x, k, "concurrently") ||
                                          (kw(x, k, "using") && is(x, k + 2, PGLEX_LPAREN))))
            return kw(x, k, "using") ? k + 1 : k;
        if (x->stmt == ST_CREATE_TABLE && (kw(x, k, "inherits") || (kw(x, k, "partition") && kw(x, k + 1, "by"))))
            return fail(x, "0A000", "feature not supported: %.*s", (int)t->len, x->s + t->off);
    }
    if ((x->stmt == ST_CREATE_TABLE || x->stmt == ST_ALTER_TABLE) && kw_in(x, k, serials) &&
        (is(x, k - 1, PGLEX_IDENT) || is(x, k - 1, PGLEX_QIDENT))) {
        /* INTEGER PRIMARY KEY is SQLite's auto-numbered rowid; without PRIMARY KEY no sequence. */
        buf_puts(o, "INTEGER");
        return k;
    }
    if (kw(x, k, "for") && (kw(x, k + 1, "update") || kw(x, k + 1, "share") || kw(x, k + 1, "no") ||
                            (kw(x, k + 1, "key") && kw(x, k + 2, "share")))) {
        /* row locks: SQLite has one writer at a time, so FOR UPDATE has nothing to add */
        x->no_note = 1;
        return level_end(x, k);
    }
    emit(x, k);
    if (pglex_reserved(x->lx, k) && !kw(x, k, "null"))
        L->opnd = NONE;   /* keywords are not operands: "SELECT ::int" is an error */
    else if (!is(x, k - 1, PGLEX_DOT) || L->opnd == NONE)
        L->opnd = before;
    L->opnd_end = o->len;
    L->opnd_lit = -1;
    return k;
}

/* ---- the token loop ------------------------------------------------------------------------------ */

static long handle(tr *x, long k)
{
    const pglex_tok *t = S(x, k);
    level *L = cur(x);
    buf *o = x->out;
    size_t before = o->len;
    const char *why;
    switch (t->kind) {
    case PGLEX_LPAREN:
        return open_group(x, k, LV_PAREN);
    case PGLEX_LBRACK:
        return open_group(x, k, LV_BRACK);
    case PGLEX_RPAREN: case PGLEX_RBRACK:
        return close_group(x, k);
    case PGLEX_COMMA:
        if (L->kind == LV_GS) {
            if (L->ncomma == 2)
                return fail(x, "42883", "function generate_series() with more than 3 arguments is not supported");
            L->comma[L->ncomma++] = before;
        }
        emit(x, k);
        L->opnd = NONE;
        return k;
    case PGLEX_CAST: {
        pglex_type ty;
        if (L->opnd == NONE)
            return fail(x, "42601", "syntax error at or near \"::\"");
        long e = parse_type(x, k + 1, &ty);
        if (e >= 0)
            apply_cast(x, L, &ty);
        return e;
    }
    case PGLEX_PARAM: {
        /* $n -> ?n: SQLite binds numbered parameters by number, so $2 before $1 still works */
        long n = 0;
        for (size_t i = 1; i < t->len && n <= 65535; i++)
            n = n * 10 + (x->s[t->off + i] - '0');
        if (n < 1 || n > 65535)
            return fail(x, "42P02", "there is no parameter $%.*s", (int)(t->len > 12 ? 11 : t->len - 1), x->s + t->off + 1);
        buf_printf(o, "?%ld", n);
        if (n > x->r->nparams)
            x->r->nparams = (int)n;
        set_operand(x, before, -1);
        return k;
    }
    case PGLEX_STRING:
        emit(x, k);
        set_operand(x, before, k);
        return k;
    case PGLEX_ESTRING: case PGLEX_NSTRING: case PGLEX_DOLLAR: {
        /* E'a\nb' and $$..$$ become standard literals holding the decoded characters */
        buf v;
        buf_init(&v);
        int rc = pglex_string(x->s, t, &v, &why);
        if (rc < 0)
            fail(x, "22P02", "%s", why);
        else if (v.len && memchr(v.data, '\0', v.len))
            rc = fail(x, "22021", "invalid byte sequence for encoding \"UTF8\": 0x00");
        else
            pglex_put_literal(o, v.data ? v.data : "", v.len);
        buf_free(&v);
        set_operand(x, before, k);
        return rc < 0 ? -1 : k;
    }
    case PGLEX_BSTRING:
        return fail(x, "0A000", "feature not supported: bit string literals");
    case PGLEX_USTRING:
        return fail(x, "0A000", "feature not supported: Unicode escape literals (U&'...')");
    case PGLEX_XSTRING: case PGLEX_NUMBER:
        emit(x, k);
        set_operand(x, before, -1);
        return k;
    case PGLEX_QIDENT:
        emit(x, k);
        if (!is(x, k - 1, PGLEX_DOT) || L->opnd == NONE)
            L->opnd = before;
        L->opnd_end = o->len;
        L->opnd_lit = -1;
        return k;
    case PGLEX_IDENT:
        return ident(x, k);
    case PGLEX_DOT:
        emit(x, k);
        return k;
    default:
        emit(x, k);
        L->opnd = NONE;
        return k;
    }
}

static long process(tr *x, long k)
{
    level *L = cur(x);
    static const char *const select_end[] = { "from", "into", "where", "group", "having", "window", "order",
                                              "limit", "offset", "union", "intersect", "except", "fetch",
                                              "returning", NULL };
    if (L->clause == CL_SELECT) {
        if (is(x, k, PGLEX_COMMA)) {
            finish_item(x, L);
            emit(x, k);
            L->opnd = NONE;
            return k;
        }
        if ((kw_in(x, k, select_end) && !(kw(x, k, "from") && kw(x, k - 1, "distinct"))) ||
            (kw(x, k, "for") && !is(x, k - 1, PGLEX_LPAREN)))
            finish_item(x, L);
    }
    int lvl = x->depth;
    x->no_note = 0;
    long last = handle(x, k);
    if (last >= k && !x->err && !x->no_note && lvl <= x->depth && !is(x, k, PGLEX_RPAREN) &&
        !is(x, k, PGLEX_RBRACK))
        note_item(x, &x->lv[lvl], k, last);
    return last;
}

static void translate_body(tr *x)
{
    const pglex *lx = x->lx;
    if (pglex_kw(lx, 0, "create")) {
        long k = 1;
        static const char *const mods[] = { "temp", "temporary", "unlogged", "global", "local", "unique", NULL };
        while (pglex_kw_in(lx, k, mods))
            k++;
        x->stmt = pglex_kw(lx, k, "table") ? ST_CREATE_TABLE : pglex_kw(lx, k, "index") ? ST_CREATE_INDEX : ST_OTHER;
    } else if (pglex_kw(lx, 0, "alter") && pglex_kw(lx, 1, "table")) {
        x->stmt = ST_ALTER_TABLE;
    }
    level *top = &x->lv[0];
    memset(top, 0, sizeof *top);
    top->opnd = NONE;
    top->opnd_lit = -1;
    top->item_first = -1;
    for (size_t i = 0; i < x->end_tok && !x->err; i++) {
        const pglex_tok *t = &lx->t[i];
        if (t->si < 0) {
            if (t->kind == PGLEX_COMMENT)
                pglex_put_comment(x->out, x->s, t);
            else
                buf_append(x->out, x->s + t->off, t->len);
            continue;
        }
        long last = process(x, t->si);
        if (last < 0 || x->err)
            break;
        i = lx->sig[last < t->si ? t->si : last];
        if (x->out->len > x->bound)
            fail(x, "54000", "statement is too large after translation");
    }
    if (!x->err) {
        x->depth = 0;
        finish_item(x, top);
    }
}

/* ---- API ---------------------------------------------------------------------------------------- */

void pgsql_result_init(pgsql_result *r)
{
    memset(r, 0, sizeof *r);
    buf_init(&r->sql);
    buf_init(&r->value);
    buf_init(&r->colbuf);
}

void pgsql_result_free(pgsql_result *r)
{
    buf_free(&r->sql);
    buf_free(&r->value);
    buf_free(&r->colbuf);
    memset(r, 0, sizeof *r);
}

static void result_reset(pgsql_result *r)
{
    buf sql = r->sql, value = r->value, colbuf = r->colbuf;
    memset(r, 0, sizeof *r);
    r->sql = sql;
    r->value = value;
    r->colbuf = colbuf;
    buf_reset(&r->sql);
    buf_reset(&r->value);
    buf_reset(&r->colbuf);
}

int pgsql_translate(const char *sql, size_t len, const pgsql_ctx *ctx, pgsql_result *r)
{
    result_reset(r);
    if (len > PGSQL_MAX_INPUT)
        return pgstmt_error(r, "54000", "statement too long (%zu bytes)", len);
    pglex lx;
    if (pglex_run(&lx, sql, len) < 0)
        return pgstmt_error(r, "53200", "out of memory");
    long ns = (long)lx.ns;
    for (long k = 0; k < (long)lx.ns; k++) {
        const pglex_tok *t = pglex_sig(&lx, k);
        if (t->kind == PGLEX_BAD) {
            pgstmt_error(r, "42601", "%s at or near \"%.*s\"", pglex_bad_message(sql + t->off),
                         (int)(t->len > 20 ? 20 : t->len), sql + t->off);
            break;
        }
        if (t->kind == PGLEX_SEMI && ns == (long)lx.ns)
            ns = k;
        else if (t->kind != PGLEX_SEMI && ns < (long)lx.ns) {
            pgstmt_error(r, "42601", "cannot insert multiple commands into a prepared statement");
            break;
        }
    }
    if (r->action == PGSQL_ERROR) {
        pglex_free(&lx);
        return -1;
    }
    pglex view = lx;   /* the statement's tokens: lookahead never crosses its ';' */
    view.ns = (size_t)ns;
    if (ns == 0) {
        r->action = PGSQL_EMPTY;
    } else if (!pgstmt_translate(&view, ns, r)) {
        tr *x = calloc(1, sizeof *x);
        if (!x) {
            pglex_free(&lx);
            return pgstmt_error(r, "53200", "out of memory");
        }
        x->lx = &view;
        x->s = sql;
        x->ns = ns;
        x->bound = 16 * len + 4096;
        x->ctx = ctx;
        x->r = r;
        x->out = &r->sql;
        x->skipped_dot = -1;
        x->end_tok = ns < (long)lx.ns ? lx.sig[ns] : lx.nt;
        r->action = PGSQL_SQL;
        r->nstmts = 1;
        translate_body(x);
        free(x);
    }
    pglex_free(&lx);
    if (r->action == PGSQL_ERROR)
        return -1;
    if (r->sql.oom || r->value.oom || r->colbuf.oom)
        return pgstmt_error(r, "53200", "out of memory");
    buf_putc(&r->sql, '\0');
    r->sql.len--;
    return 0;
}

size_t pgsql_split(const char *sql, size_t len, pgsql_span *out, size_t max)
{
    return pglex_split(sql, len, out, max);
}

void pgsql_copy_insert(const pgsql_result *r, int ncols, buf *out)
{
    buf_printf(out, "INSERT INTO %s ", r->name);
    if (r->ncols > 0) {
        buf_putc(out, '(');
        for (int i = 0; i < r->ncols; i++)
            buf_printf(out, "%s%s", i ? ", " : "", r->cols[i]);
        buf_puts(out, ") ");
        ncols = r->ncols;
    }
    buf_puts(out, "VALUES (");
    for (int i = 0; i < ncols; i++)
        buf_printf(out, "%s?%d", i ? ", " : "", i + 1);
    buf_putc(out, ')');
}
