/* pgsink.c - results in the PostgreSQL protocol: a query_sink writing RowDescription, DataRow, CommandComplete and ErrorResponse, and the pure helpers that reshape that output for Describe, Execute and binary formats. */
#include "pgsink.h"

#include <stdlib.h>
#include <string.h>

#include "pgval.h"
#include "pgwire.h"

static uint32_t rd32(const char *p)
{
    const unsigned char *u = (const unsigned char *)p;
    return (uint32_t)u[0] << 24 | (uint32_t)u[1] << 16 | (uint32_t)u[2] << 8 | u[3];
}

static uint16_t rd16(const char *p)
{
    const unsigned char *u = (const unsigned char *)p;
    return (uint16_t)(u[0] << 8 | u[1]);
}

uint32_t pgsink_column_oid(sqlite3_stmt *st, int i)
{
    uint32_t oid = pgwire_oid_from_decltype(sqlite3_column_decltype(st, i));
    return oid ? oid : pgwire_oid_from_sqlite_type(sqlite3_column_type(st, i));
}

void pgsink_rowdesc_of(sqlite3_stmt *st, buf *out)
{
    int n = sqlite3_column_count(st);
    if (n == 0) {
        pgwire_no_data(out);
        return;
    }
    pgwire_builder w;
    pgwire_rowdesc_begin(&w, out);
    for (int i = 0; i < n; i++) {
        uint32_t oid = pgwire_oid_from_decltype(sqlite3_column_decltype(st, i));
        const char *name = sqlite3_column_name(st, i);
        pgwire_rowdesc_add(&w, name ? name : "?column?", oid ? oid : PGWIRE_TEXT, 0);
    }
    if (pgwire_rowdesc_end(&w) < 0)
        out->oom = 1;
}

/* ---- the sink -------------------------------------------------------------------------------- */

static const pgsink_stmt *cur_stmt(const pgsink *s)
{
    return s->stmts && s->cur < s->nstmts ? &s->stmts[s->cur] : NULL;
}

int pgsink_tag_template(const char *sql, char *prefix, size_t len)
{
    /* Two different counts tell which one the tag shows, if any. */
    char a[64], b[64];
    pgwire_command_tag(sql, 1234567, 7654321, a, sizeof a);
    pgwire_command_tag(sql, 2345678, 8765432, b, sizeof b);
    size_t n = strlen(a);
    int kind = 0;
    if (n > 7 && !strcmp(a + n - 7, "1234567") && !strcmp(b + n - 7, "2345678"))
        kind = 1;
    else if (n > 7 && !strcmp(a + n - 7, "7654321") && !strcmp(b + n - 7, "8765432"))
        kind = 2;
    if (kind)
        a[n - 7] = '\0';
    snprintf(prefix, len, "%s", a);
    return kind;
}

static void put_tag(pgsink *s, const pgsink_stmt *st, int64_t rows, int64_t changes, buf *out)
{
    char tag[64];
    const char *t;
    (void)s;
    if (st && st->tag)
        t = st->tag;
    else if (st && st->tag_prefix && st->tag_count) {
        /* By hand: this runs once per statement, and printf is not cheap. */
        size_t n = strlen(st->tag_prefix);
        int64_t v = st->tag_count == 1 ? rows : changes;
        char digits[24];
        int k = 0;
        uint64_t u = v < 0 ? 0 - (uint64_t)v : (uint64_t)v;
        do
            digits[k++] = (char)('0' + u % 10);
        while ((u /= 10) && k < 24);
        if (n + (size_t)k + 2 > sizeof tag)
            n = 0;
        memcpy(tag, st->tag_prefix, n);
        if (v < 0)
            tag[n++] = '-';
        while (k)
            tag[n++] = digits[--k];
        tag[n] = '\0';
        t = tag;
    }
    else if (st && st->tag_prefix)
        t = st->tag_prefix;
    else
        t = pgwire_command_tag(st ? st->orig : "SELECT", rows, changes, tag, sizeof tag);
    pgwire_command_complete(out, t);
}

/* The writer may run a job's items again from the start: its reply is then empty again. */
static void maybe_restart(pgsink *s, const buf *out)
{
    if (s->restartable && out->len == 0) {
        s->cur = 0;
        s->failed = 0;
        s->err_end = 0;
        s->open = s->split = 0;
    }
}

/* What a memo slot holds: the RowDescription of a statement whose column types all come from
 * declarations (so no run's values change it), for the SQLite preparation it was made from. */
typedef struct colmemo {
    int      reprepares; /* SQLITE_STMTSTATUS_REPREPARE then: a schema change re-prepares */
    int      ncols;
    size_t   rdlen;
    uint32_t oids[];     /* ncols oids, then rdlen bytes of RowDescription */
} colmemo;

static void sk_columns(const query_sink *k, sqlite3_stmt *st, int ncols, buf *out)
{
    pgsink *s = k->ud;
    maybe_restart(s, out);
    if (s->quiet)
        return;
    if (s->open && !s->rows_only) {
        /* A body with several result sets: each ends with its own CommandComplete. */
        char tag[32];
        snprintf(tag, sizeof tag, "SELECT %lld", (long long)s->set_rows);
        pgwire_command_complete(out, tag);
        s->split = 1;
    }
    if (ncols > s->cap) {
        uint32_t *o = realloc(s->oids, sizeof *o * (size_t)ncols);
        if (!o) {
            out->oom = 1;
            return;
        }
        s->oids = o;
        s->cap = ncols;
    }
    s->ncols = ncols;
    s->open = 1;
    s->set_rows = 0;
    int reprepares = s->memo ? sqlite3_stmt_status(st, SQLITE_STMTSTATUS_REPREPARE, 0) : 0;
    colmemo *m = s->memo ? *s->memo : NULL;
    if (m && m->ncols == ncols && m->reprepares == reprepares) {
        memcpy(s->oids, m->oids, sizeof *s->oids * (size_t)ncols);
        buf_append(out, (const char *)(m->oids + ncols), m->rdlen);
        return;
    }
    size_t start = out->len;
    int declared = 1; /* every type comes from a declaration, none from this run's first row */
    pgwire_builder w;
    pgwire_rowdesc_begin(&w, out);
    for (int i = 0; i < ncols; i++) {
        uint32_t oid = pgwire_oid_from_decltype(sqlite3_column_decltype(st, i));
        declared &= oid != 0;
        s->oids[i] = oid ? oid : pgwire_oid_from_sqlite_type(sqlite3_column_type(st, i));
        const char *name = sqlite3_column_name(st, i);
        pgwire_rowdesc_add(&w, name ? name : "?column?", s->oids[i], 0);
    }
    if (pgwire_rowdesc_end(&w) < 0)
        out->oom = 1;
    if (s->memo && declared && !out->oom) {
        size_t rdlen = out->len - start;
        colmemo *nm = malloc(sizeof *nm + sizeof *nm->oids * (size_t)ncols + rdlen);
        if (nm) {
            *nm = (colmemo){reprepares, ncols, rdlen};
            memcpy(nm->oids, s->oids, sizeof *s->oids * (size_t)ncols);
            memcpy(nm->oids + ncols, out->data + start, rdlen);
            free(*s->memo);
            *s->memo = nm;
        }
    }
}

static void sk_row(const query_sink *k, sqlite3_stmt *st, int ncols, buf *out)
{
    pgsink *s = k->ud;
    if (s->quiet)
        return;
    if (ncols > s->ncols) {
        out->oom = 1;
        return;
    }
    pgwire_builder w;
    pgwire_datarow_begin(&w, out);
    for (int i = 0; i < ncols; i++) {
        pgval v;
        switch (sqlite3_column_type(st, i)) {
        case SQLITE_NULL:
            pgwire_datarow_null(&w);
            continue;
        case SQLITE_INTEGER:
            v.type = PGVAL_INT;
            v.i = sqlite3_column_int64(st, i);
            break;
        case SQLITE_FLOAT:
            v.type = PGVAL_FLOAT;
            v.d = sqlite3_column_double(st, i);
            break;
        case SQLITE_BLOB:
            v.type = PGVAL_BLOB;
            v.p = sqlite3_column_blob(st, i);
            v.n = (size_t)sqlite3_column_bytes(st, i);
            break;
        default:
            v.type = PGVAL_TEXT;
            v.p = (const char *)sqlite3_column_text(st, i);
            v.n = (size_t)sqlite3_column_bytes(st, i);
            break;
        }
        pgwire_datarow_field_begin(&w);
        if (v.type == PGVAL_TEXT && (s->oids[i] == PGWIRE_TIMESTAMP || s->oids[i] == PGWIRE_TIMESTAMPTZ) &&
            v.n >= 19 && v.p[10] == 'T') {
            /* ISO 8601 text as stored by some clients ("2024-01-02T03:04:05"): PostgreSQL writes a
             * space there, and drivers' timestamp parsers expect it. */
            buf_append(out, v.p, 10);
            buf_putc(out, ' ');
            buf_append(out, v.p + 11, v.n - 11);
        } else {
            pgval_to_text(out, s->oids[i], &v);
        }
        pgwire_datarow_field_end(&w);
    }
    if (pgwire_datarow_end(&w) < 0)
        out->oom = 1;
    s->set_rows++;
}

static void sk_done(const query_sink *k, const query_outcome *o, buf *out)
{
    pgsink *s = k->ud;
    maybe_restart(s, out);
    if (s->rows_only)
        return;
    if (!s->quiet)
        put_tag(s, cur_stmt(s), s->split ? s->set_rows : o->rows, o->changes, out);
    s->open = s->split = 0;
    s->cur++;
}

static void sk_error(const query_sink *k, const char *state, const char *msg, int offset, buf *out)
{
    pgsink *s = k->ud;
    maybe_restart(s, out);
    if (s->rows_only)
        return;
    const pgsink_stmt *st = cur_stmt(s);
    pgwire_error_fields e = {"ERROR", state, msg, NULL, NULL, 0};
    if (!strcmp(state, "57014"))
        e.message = "canceling statement due to user request"; /* only a cancel request interrupts */
    if (st && offset >= 0)
        e.position = pgsink_position(st, offset);
    pgwire_error(out, &e);
    s->failed = 1;
    s->err_end = out->len;
    s->open = s->split = 0;
    s->cur++;
}

void pgsink_init(pgsink *s)
{
    memset(s, 0, sizeof *s);
    s->k = (query_sink){sk_columns, sk_row, NULL, sk_done, sk_error, s};
}

void pgsink_free(pgsink *s)
{
    free(s->oids);
    s->oids = NULL;
    s->cap = 0;
}

void pgsink_start(pgsink *s, const pgsink_stmt *stmts, int n)
{
    s->stmts = stmts;
    s->nstmts = n;
    s->cur = 0;
    s->failed = 0;
    s->err_end = 0;
    s->open = s->split = 0;
    s->set_rows = 0;
}

/* ---- reshaping -------------------------------------------------------------------------------- */

size_t pgsink_msg(const char *p, size_t n, char *type)
{
    if (n < 5)
        return 0;
    size_t len = (size_t)rd32(p + 1) + 1;
    if (len < 5 || len > n)
        return 0;
    *type = p[0];
    return len;
}

/* Walk the fields of RowDescription t: calls back with the offset of each field's fixed part. */
static int rowdesc_walk(const char *t, size_t n, size_t *fixed, int max)
{
    char type;
    if (pgsink_msg(t, n, &type) != n || type != 'T' || n < 7)
        return -1;
    int count = rd16(t + 5);
    size_t off = 7;
    for (int i = 0; i < count; i++) {
        const char *z = memchr(t + off, '\0', n - off);
        if (!z)
            return -1;
        off = (size_t)(z - t) + 1;
        if (off + 18 > n)
            return -1;
        if (i < max)
            fixed[i] = off;
        off += 18;
    }
    return off == n ? count : -1;
}

int pgsink_rowdesc_oids(const char *t, size_t n, uint32_t *oids, int max)
{
    size_t stack[64], *fixed = max <= 64 ? stack : malloc(sizeof *fixed * (size_t)max);
    if (!fixed)
        return -1;
    int count = rowdesc_walk(t, n, fixed, max);
    for (int i = 0; i < count && i < max; i++)
        oids[i] = rd32(t + fixed[i] + 6);
    if (fixed != stack)
        free(fixed);
    return count;
}

static int16_t format_of(const int16_t *fmts, int nfmts, int i)
{
    return nfmts == 0 ? 0 : nfmts == 1 ? fmts[0] : fmts[i];
}

int pgsink_rowdesc_with_formats(const char *t, size_t n, const int16_t *fmts, int nfmts, buf *out)
{
    int count = rowdesc_walk(t, n, NULL, 0);
    if (count < 0 || (nfmts > 1 && nfmts != count))
        return -1;
    size_t stack[64], *fixed = count <= 64 ? stack : malloc(sizeof *fixed * (size_t)count);
    if (!fixed) {
        out->oom = 1;
        return 0;
    }
    rowdesc_walk(t, n, fixed, count);
    size_t start = out->len;
    buf_append(out, t, n);
    for (int i = 0; i < count && !out->oom; i++) {
        char *f = out->data + start + fixed[i] + 16;
        uint16_t v = (uint16_t)format_of(fmts, nfmts, i);
        f[0] = (char)(v >> 8);
        f[1] = (char)v;
    }
    if (fixed != stack)
        free(fixed);
    return 0;
}

int pgsink_datarow_binary(const char *d, size_t n, const uint32_t *oids, int ncols, const int16_t *fmts,
                          int nfmts, buf *out, const char **state, char *err, size_t errlen)
{
    char type;
    if (pgsink_msg(d, n, &type) != n || type != 'D' || n < 7 || rd16(d + 5) != ncols) {
        *state = "XX000";
        snprintf(err, errlen, "malformed DataRow");
        return -1;
    }
    pgwire_builder w;
    size_t start = out->len;
    pgwire_datarow_begin(&w, out);
    size_t off = 7;
    for (int i = 0; i < ncols; i++) {
        if (off + 4 > n)
            goto bad;
        int32_t len = (int32_t)rd32(d + off);
        off += 4;
        if (len < 0) {
            pgwire_datarow_null(&w);
            continue;
        }
        if ((size_t)len > n - off)
            goto bad;
        if (format_of(fmts, nfmts, i) == 1) {
            pgwire_datarow_field_begin(&w);
            if (pgval_text_to_binary(oids[i], d + off, (size_t)len, out, state, err, errlen) < 0) {
                buf_truncate(out, start);
                return -1;
            }
            pgwire_datarow_field_end(&w);
        } else {
            pgwire_datarow_bytes(&w, d + off, (size_t)len);
        }
        off += (size_t)len;
    }
    pgwire_datarow_end(&w);
    return 0;
bad:
    buf_truncate(out, start);
    *state = "XX000";
    snprintf(err, errlen, "malformed DataRow");
    return -1;
}

int pgsink_position(const pgsink_stmt *st, int offset)
{
    if (!st->orig || !st->ran || offset < 0 || (size_t)offset > st->ran_len || (size_t)offset > st->orig_len ||
        memcmp(st->orig, st->ran, (size_t)offset) != 0)
        return 0;
    /* PostgreSQL counts characters, not bytes: skip UTF-8 continuation bytes. */
    int chars = 0;
    for (int i = 0; i < offset; i++)
        chars += ((unsigned char)st->orig[i] & 0xC0) != 0x80;
    return st->pos_base + chars + 1;
}
