/* pgval.c - PostgreSQL value conversions for the wire protocol: SQLite values to text/binary result fields, Bind parameters to SQLite values; pure. */
#include "pgval.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static int fail(const char **sqlstate, const char *code, char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

static int fail(const char **sqlstate, const char *code, char *err, size_t errlen, const char *fmt, ...)
{
    if (sqlstate)
        *sqlstate = code;
    if (errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
    }
    return -1;
}

static const char *type_name(uint32_t oid)
{
    switch (oid) {
    case PGWIRE_INT2:   return "smallint";
    case PGWIRE_INT4:   return "integer";
    case PGWIRE_INT8:   return "bigint";
    case PGWIRE_OID:    return "oid";
    case PGWIRE_FLOAT4: return "real";
    case PGWIRE_FLOAT8: return "double precision";
    case PGWIRE_NUMERIC: return "numeric";
    case PGWIRE_BOOL:   return "boolean";
    case PGWIRE_BYTEA:  return "bytea";
    case PGWIRE_UUID:   return "uuid";
    default:            return "text";
    }
}

int pgval_binary_supported(uint32_t oid)
{
    switch (oid) {
    case 0: case PGWIRE_INT2: case PGWIRE_INT4: case PGWIRE_INT8: case PGWIRE_OID:
    case PGWIRE_FLOAT4: case PGWIRE_FLOAT8: case PGWIRE_BOOL: case PGWIRE_BYTEA:
    case PGWIRE_TEXT: case PGWIRE_VARCHAR: case PGWIRE_BPCHAR: case PGWIRE_NAME:
    case PGWIRE_UNKNOWN: case PGWIRE_JSON: case PGWIRE_JSONB: case PGWIRE_UUID:
        return 1;
    default:
        return 0;
    }
}

/* ---- floats ------------------------------------------------------------------------------------ */

/* The shortest digit string that reads back as d, via %.*e and strtod: digits (no point, no
 * trailing zeros) and the decimal exponent of the first digit. */
static int shortest_digits(double d, int is_float4, char *digits, int *exp10)
{
    char tmp[40];
    int maxp = is_float4 ? 9 : 17;
    for (int p = 1; p <= maxp; p++) {
        snprintf(tmp, sizeof tmp, "%.*e", p - 1, d);
        int ok = is_float4 ? strtof(tmp, NULL) == (float)d : strtod(tmp, NULL) == d;
        if (ok || p == maxp)
            break;
    }
    /* tmp is "d.ddde[+-]xx" (d positive here) */
    int n = 0;
    const char *p = tmp;
    for (; *p && *p != 'e'; p++)
        if (isdigit((unsigned char)*p))
            digits[n++] = *p;
    while (n > 1 && digits[n - 1] == '0')
        n--;
    digits[n] = '\0';
    *exp10 = *p == 'e' ? atoi(p + 1) : 0;
    return n;
}

/* PostgreSQL's layout: fixed notation when -4 <= exponent < fixed_max, else d.ddde+XX. */
static int format_float(double d, int is_float4, int fixed_max, char *out)
{
    if (isnan(d))
        return sprintf(out, "NaN");
    if (isinf(d))
        return sprintf(out, d < 0 ? "-Infinity" : "Infinity");
    char *o = out;
    if (signbit(d)) {
        *o++ = '-';
        d = -d;
    }
    if (d == 0) {
        *o++ = '0';
        *o = '\0';
        return (int)(o - out);
    }
    char digits[24];
    int e, n = shortest_digits(d, is_float4, digits, &e);
    if (e >= -4 && e < fixed_max) {
        if (e < 0) {
            o += sprintf(o, "0.");
            for (int i = -1; i > e; i--)
                *o++ = '0';
            memcpy(o, digits, (size_t)n);
            o += n;
        } else {
            for (int i = 0; i <= e || i < n; i++) {
                if (i == e + 1)
                    *o++ = '.';
                *o++ = i < n ? digits[i] : '0';
            }
        }
        *o = '\0';
    } else {
        *o++ = digits[0];
        if (n > 1) {
            *o++ = '.';
            memcpy(o, digits + 1, (size_t)n - 1);
            o += n - 1;
        }
        o += sprintf(o, "e%c%02d", e < 0 ? '-' : '+', e < 0 ? -e : e);
    }
    return (int)(o - out);
}

int pgval_format_float8(double d, char *out) { return format_float(d, 0, 15, out); }
int pgval_format_float4(float f, char *out) { return format_float(f, 1, 6, out); }

/* numeric text: never an exponent (PostgreSQL's numeric_out), shortest digits of the double. */
static void put_numeric(buf *out, double d)
{
    if (isnan(d) || isinf(d)) {
        buf_puts(out, isnan(d) ? "NaN" : d < 0 ? "-Infinity" : "Infinity");
        return;
    }
    if (d == 0) {
        buf_putc(out, '0');
        return;
    }
    if (d < 0) {
        buf_putc(out, '-');
        d = -d;
    }
    char digits[24];
    int e, n = shortest_digits(d, 0, digits, &e);
    if (e < 0) {
        buf_puts(out, "0.");
        for (int i = -1; i > e; i--)
            buf_putc(out, '0');
        buf_append(out, digits, (size_t)n);
        return;
    }
    for (int i = 0; i <= e || i < n; i++) {
        if (i == e + 1)
            buf_putc(out, '.');
        buf_putc(out, i < n ? digits[i] : '0');
    }
}

/* ---- text input parsing (PostgreSQL's input functions, trimmed to what matters here) ---------- */

static void trim(const char **s, size_t *n)
{
    while (*n && isspace((unsigned char)**s))
        (*s)++, (*n)--;
    while (*n && isspace((unsigned char)(*s)[*n - 1]))
        (*n)--;
}

/* 0 ok, -1 syntax, -2 out of [min, max]. */
static int parse_int(const char *s, size_t n, int64_t min, int64_t max, int64_t *out)
{
    trim(&s, &n);
    int neg = 0;
    if (n && (*s == '-' || *s == '+'))
        neg = *s == '-', s++, n--;
    if (n == 0)
        return -1;
    uint64_t v = 0, lim = neg ? (uint64_t)0 - (uint64_t)min : (uint64_t)max;
    int over = 0;
    for (size_t i = 0; i < n; i++) {
        if (!isdigit((unsigned char)s[i]))
            return -1;
        unsigned dgt = (unsigned)(s[i] - '0');
        if (v > (lim - dgt) / 10)
            over = 1;
        else
            v = v * 10 + dgt;
    }
    if (over)
        return -2;
    *out = neg ? (int64_t)((uint64_t)0 - v) : (int64_t)v;
    return 0;
}

/* 0 ok, -1 syntax, -2 out of range. Accepts Infinity/inf/NaN as PostgreSQL's float8in does. */
static int parse_float(const char *s, size_t n, double *out)
{
    trim(&s, &n);
    const char *w = s;
    size_t wn = n;
    int neg = 0;
    if (wn && (*w == '-' || *w == '+'))
        neg = *w == '-', w++, wn--;
    if ((wn == 8 && !strncasecmp(w, "infinity", 8)) || (wn == 3 && !strncasecmp(w, "inf", 3))) {
        *out = neg ? -INFINITY : INFINITY;
        return 0;
    }
    if (wn == 3 && !strncasecmp(w, "nan", 3)) {
        *out = NAN;
        return 0;
    }
    if (n == 0 || n > 1000)
        return -1;
    char tmp[1001];
    memcpy(tmp, s, n);
    tmp[n] = '\0';
    for (size_t i = 0; i < n; i++)   /* strtod also takes hex and "nan(...)": PostgreSQL does not */
        if (!isdigit((unsigned char)tmp[i]) && !strchr("+-.eE", tmp[i]))
            return -1;
    char *end;
    errno = 0;
    double d = strtod(tmp, &end);
    if (end != tmp + n || end == tmp)
        return -1;
    if (errno == ERANGE && (d == 0 || isinf(d)))
        return -2;
    *out = d;
    return 0;
}

/* PostgreSQL's parse_bool: t/true/y/yes/on/1 and f/false/n/no/off/0, unique prefixes allowed. */
static int parse_bool(const char *s, size_t n, int *out)
{
    trim(&s, &n);
    static const struct { const char *w; size_t min; int v; } W[] = {
        { "true", 1, 1 }, { "yes", 1, 1 }, { "on", 2, 1 }, { "false", 1, 0 }, { "no", 1, 0 }, { "off", 2, 0 },
    };
    if (n == 1 && (*s == '1' || *s == '0')) {
        *out = *s == '1';
        return 0;
    }
    for (size_t i = 0; i < sizeof W / sizeof *W; i++)
        if (n >= W[i].min && n <= strlen(W[i].w) && !strncasecmp(s, W[i].w, n)) {
            *out = W[i].v;
            return 0;
        }
    return -1;
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* bytea input: "\x" hex (whitespace between pairs allowed) or the escape format. */
static int parse_bytea(const char *s, size_t n, buf *out, const char **sqlstate, char *err, size_t errlen)
{
    if (n >= 2 && s[0] == '\\' && s[1] == 'x') {
        for (size_t i = 2; i < n;) {
            if (isspace((unsigned char)s[i])) {
                i++;
                continue;
            }
            int hi = hexval(s[i]);
            if (hi < 0)
                return fail(sqlstate, "22P02", err, errlen, "invalid hexadecimal digit: \"%c\"", s[i]);
            if (i + 1 >= n)
                return fail(sqlstate, "22P02", err, errlen, "invalid hexadecimal data: odd number of digits");
            int lo = hexval(s[i + 1]);
            if (lo < 0)
                return fail(sqlstate, "22P02", err, errlen, "invalid hexadecimal digit: \"%c\"", s[i + 1]);
            buf_putc(out, (char)(hi << 4 | lo));
            i += 2;
        }
        return 0;
    }
    for (size_t i = 0; i < n;) {
        if (s[i] != '\\') {
            buf_putc(out, s[i++]);
        } else if (i + 1 < n && s[i + 1] == '\\') {
            buf_putc(out, '\\');
            i += 2;
        } else if (i + 3 < n && s[i + 1] >= '0' && s[i + 1] <= '3' && s[i + 2] >= '0' && s[i + 2] <= '7' &&
                   s[i + 3] >= '0' && s[i + 3] <= '7') {
            buf_putc(out, (char)((s[i + 1] - '0') << 6 | (s[i + 2] - '0') << 3 | (s[i + 3] - '0')));
            i += 4;
        } else {
            return fail(sqlstate, "22P02", err, errlen, "invalid input syntax for type bytea");
        }
    }
    return 0;
}

static void put_hex(buf *out, const void *p, size_t n)
{
    static const char H[] = "0123456789abcdef";
    const unsigned char *u = p;
    if (buf_reserve(out, 2 * n) < 0)
        return;
    for (size_t i = 0; i < n; i++) {
        out->data[out->len++] = H[u[i] >> 4];
        out->data[out->len++] = H[u[i] & 15];
    }
}

static int parse_uuid(const char *s, size_t n, unsigned char u[16])
{
    trim(&s, &n);
    int braces = n >= 2 && s[0] == '{' && s[n - 1] == '}';
    if (braces)
        s++, n -= 2;
    int k = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '-' && k % 4 == 0 && k > 0 && k < 32 && i + 1 < n && s[i + 1] != '-')
            continue;
        int h = hexval(s[i]);
        if (h < 0 || k >= 32)
            return -1;
        u[k / 2] = (unsigned char)(k % 2 ? u[k / 2] | h : h << 4);
        k++;
    }
    return k == 32 ? 0 : -1;
}

static void put_uuid(buf *out, const unsigned char *u)
{
    for (int i = 0; i < 16; i++) {
        if (i == 4 || i == 6 || i == 8 || i == 10)
            buf_putc(out, '-');
        put_hex(out, u + i, 1);
    }
}

/* ---- results ------------------------------------------------------------------------------------ */

static void put_double(buf *out, double d)
{
    char tmp[PGVAL_FLOAT_BUF];
    buf_append(out, tmp, (size_t)pgval_format_float8(d, tmp));
}

/* The value's natural text (integers in decimal, reals in float8 form, text/blob bytes). */
static void put_plain(buf *out, const pgval *v)
{
    switch (v->type) {
    case PGVAL_INT:   buf_put_i64(out, v->i); break;
    case PGVAL_FLOAT: put_double(out, v->d); break;
    case PGVAL_TEXT:
    case PGVAL_BLOB:  buf_append(out, v->p, v->n); break;
    default:          break;
    }
}

void pgval_to_text(buf *out, uint32_t oid, const pgval *v)
{
    int bv;
    char tmp[PGVAL_FLOAT_BUF];
    if (v->type == PGVAL_NULL)
        return;
    switch (oid) {
    case PGWIRE_BOOL:
        if (v->type == PGVAL_INT || v->type == PGVAL_FLOAT)
            buf_putc(out, (v->type == PGVAL_INT ? v->i != 0 : v->d != 0) ? 't' : 'f');
        else if (v->type == PGVAL_TEXT && parse_bool(v->p, v->n, &bv) == 0)
            buf_putc(out, bv ? 't' : 'f');
        else
            put_plain(out, v);
        return;
    case PGWIRE_BYTEA:
        buf_puts(out, "\\x");
        if (v->type == PGVAL_TEXT || v->type == PGVAL_BLOB) {
            put_hex(out, v->p, v->n);
        } else {
            buf t;
            buf_init(&t);
            put_plain(&t, v);
            put_hex(out, t.data, t.len);
            buf_free(&t);
        }
        return;
    case PGWIRE_FLOAT4:
        if (v->type == PGVAL_INT || v->type == PGVAL_FLOAT) {
            float f = v->type == PGVAL_INT ? (float)v->i : (float)v->d;
            buf_append(out, tmp, (size_t)pgval_format_float4(f, tmp));
            return;
        }
        break;
    case PGWIRE_FLOAT8:
        if (v->type == PGVAL_INT) {
            put_double(out, (double)v->i);
            return;
        }
        break;
    case PGWIRE_NUMERIC:
        if (v->type == PGVAL_FLOAT) {
            put_numeric(out, v->d);
            return;
        }
        break;
    default:
        break;
    }
    put_plain(out, v);
}

/* A value as an integer for the binary integer encoders: 0, or -1 (syntax) / -2 (range). */
static int as_int(const pgval *v, int64_t min, int64_t max, int64_t *out)
{
    switch (v->type) {
    case PGVAL_INT:
        if (v->i < min || v->i > max)
            return -2;
        *out = v->i;
        return 0;
    case PGVAL_FLOAT: {
        double r = rint(v->d);   /* PostgreSQL rounds floats assigned to integers */
        if (isnan(r))
            return -1;
        if (!(r >= -9223372036854775808.0 && r < 9223372036854775808.0) || (int64_t)r < min || (int64_t)r > max)
            return -2;
        *out = (int64_t)r;
        return 0;
    }
    case PGVAL_TEXT:
        return parse_int(v->p, v->n, min, max, out);
    default:
        return -1;
    }
}

int pgval_to_binary(buf *out, uint32_t oid, const pgval *v, const char **sqlstate, char *err, size_t errlen)
{
    int64_t i = 0;
    double d = 0;
    int rc, bv;
    unsigned char b[16];
    switch (oid) {
    case PGWIRE_INT2: case PGWIRE_INT4: case PGWIRE_INT8: case PGWIRE_OID: {
        int size = oid == PGWIRE_INT2 ? 2 : oid == PGWIRE_INT8 ? 8 : 4;
        int64_t min = oid == PGWIRE_OID ? 0 : size == 2 ? INT16_MIN : size == 4 ? INT32_MIN : INT64_MIN;
        int64_t max = oid == PGWIRE_OID ? UINT32_MAX : size == 2 ? INT16_MAX : size == 4 ? INT32_MAX : INT64_MAX;
        rc = as_int(v, min, max, &i);
        if (rc == -2)
            return fail(sqlstate, "22003", err, errlen, "%s out of range", type_name(oid));
        if (rc < 0)
            return fail(sqlstate, "22P02", err, errlen, "invalid input syntax for type %s", type_name(oid));
        for (int k = 0; k < size; k++)
            b[k] = (unsigned char)((uint64_t)i >> (8 * (size - 1 - k)));
        buf_append(out, b, (size_t)size);
        return 0;
    }
    case PGWIRE_FLOAT4: case PGWIRE_FLOAT8:
        if (v->type == PGVAL_INT)
            d = (double)v->i;
        else if (v->type == PGVAL_FLOAT)
            d = v->d;
        else if (v->type != PGVAL_TEXT || (rc = parse_float(v->p, v->n, &d)) == -1)
            return fail(sqlstate, "22P02", err, errlen, "invalid input syntax for type %s", type_name(oid));
        else if (rc == -2)
            return fail(sqlstate, "22003", err, errlen, "value out of range for type %s", type_name(oid));
        if (oid == PGWIRE_FLOAT4) {
            float f = (float)d;
            uint32_t u;
            memcpy(&u, &f, 4);
            for (int k = 0; k < 4; k++)
                b[k] = (unsigned char)(u >> (24 - 8 * k));
            buf_append(out, b, 4);
        } else {
            uint64_t u;
            memcpy(&u, &d, 8);
            for (int k = 0; k < 8; k++)
                b[k] = (unsigned char)(u >> (56 - 8 * k));
            buf_append(out, b, 8);
        }
        return 0;
    case PGWIRE_BOOL:
        if (v->type == PGVAL_INT)
            bv = v->i != 0;
        else if (v->type == PGVAL_FLOAT)
            bv = v->d != 0;
        else if (v->type != PGVAL_TEXT || parse_bool(v->p, v->n, &bv) < 0)
            return fail(sqlstate, "22P02", err, errlen, "invalid input syntax for type boolean");
        buf_putc(out, (char)bv);
        return 0;
    case PGWIRE_UUID:
        if (v->type == PGVAL_BLOB && v->n == 16)
            memcpy(b, v->p, 16);
        else if (v->type != PGVAL_TEXT || parse_uuid(v->p, v->n, b) < 0)
            return fail(sqlstate, "22P02", err, errlen, "invalid input syntax for type uuid");
        buf_append(out, b, 16);
        return 0;
    case PGWIRE_JSONB:
        buf_putc(out, 1);   /* jsonb's binary format: version 1, then the text */
        put_plain(out, v);
        return 0;
    default:
        if (!pgval_binary_supported(oid))
            return fail(sqlstate, "0A000", err, errlen, "binary output is not supported for type oid %u", oid);
        put_plain(out, v);   /* bytea, text-like, unknown: the bytes themselves */
        return 0;
    }
}

int pgval_datarow_field(pgwire_builder *w, uint32_t oid, int16_t format, const pgval *v,
                        const char **sqlstate, char *err, size_t errlen)
{
    if (v->type == PGVAL_NULL) {
        pgwire_datarow_null(w);
        return 0;
    }
    size_t mark = w->b->len;
    pgwire_datarow_field_begin(w);
    if (format == 1) {
        if (pgval_to_binary(w->b, oid, v, sqlstate, err, errlen) < 0) {
            buf_truncate(w->b, mark);
            return -1;
        }
    } else {
        pgval_to_text(w->b, oid, v);
    }
    pgwire_datarow_field_end(w);
    return 0;
}

/* ---- parameters -------------------------------------------------------------------------------- */

static int decode_text(uint32_t oid, const char *s, size_t n, buf *scratch, pgval *out,
                       const char **sqlstate, char *err, size_t errlen)
{
    int rc, bv;
    out->type = PGVAL_TEXT;
    out->p = s;
    out->n = n;
    switch (oid) {
    case PGWIRE_INT2: case PGWIRE_INT4: case PGWIRE_INT8: case PGWIRE_OID: {
        int64_t min = oid == PGWIRE_INT2 ? INT16_MIN : oid == PGWIRE_INT4 ? INT32_MIN : oid == PGWIRE_OID ? 0 : INT64_MIN;
        int64_t max = oid == PGWIRE_INT2 ? INT16_MAX : oid == PGWIRE_INT4 ? INT32_MAX : oid == PGWIRE_OID ? UINT32_MAX : INT64_MAX;
        rc = parse_int(s, n, min, max, &out->i);
        if (rc == -1)
            return fail(sqlstate, "22P02", err, errlen, "invalid input syntax for type %s: \"%.*s\"",
                        type_name(oid), (int)(n > 64 ? 64 : n), s);
        if (rc == -2)
            return fail(sqlstate, "22003", err, errlen, "value \"%.*s\" is out of range for type %s",
                        (int)(n > 64 ? 64 : n), s, type_name(oid));
        out->type = PGVAL_INT;
        return 0;
    }
    case PGWIRE_FLOAT4: case PGWIRE_FLOAT8: case PGWIRE_NUMERIC:
        /* numeric keeps exact integers as integers; others become doubles (SQLite has no decimal) */
        if (oid == PGWIRE_NUMERIC && parse_int(s, n, INT64_MIN, INT64_MAX, &out->i) == 0) {
            out->type = PGVAL_INT;
            return 0;
        }
        rc = parse_float(s, n, &out->d);
        if (rc == -1)
            return fail(sqlstate, "22P02", err, errlen, "invalid input syntax for type %s: \"%.*s\"",
                        type_name(oid), (int)(n > 64 ? 64 : n), s);
        if (rc == -2 || (oid == PGWIRE_FLOAT4 && isinf((float)out->d) && !isinf(out->d)))
            return fail(sqlstate, "22003", err, errlen, "\"%.*s\" is out of range for type %s",
                        (int)(n > 64 ? 64 : n), s, type_name(oid));
        if (oid == PGWIRE_FLOAT4)
            out->d = (float)out->d;
        out->type = PGVAL_FLOAT;
        return 0;
    case PGWIRE_BOOL:
        if (parse_bool(s, n, &bv) < 0)
            return fail(sqlstate, "22P02", err, errlen, "invalid input syntax for type boolean: \"%.*s\"",
                        (int)(n > 64 ? 64 : n), s);
        out->type = PGVAL_INT;
        out->i = bv;
        return 0;
    case PGWIRE_BYTEA: {
        size_t mark = scratch->len;
        if (parse_bytea(s, n, scratch, sqlstate, err, errlen) < 0) {
            buf_truncate(scratch, mark);
            return -1;
        }
        if (scratch->oom)
            return fail(sqlstate, "53200", err, errlen, "out of memory");
        out->type = PGVAL_BLOB;
        out->p = scratch->data ? scratch->data + mark : "";
        out->n = scratch->len - mark;
        return 0;
    }
    default:
        return 0;
    }
}

static uint64_t be_n(const char *p, size_t n)
{
    uint64_t v = 0;
    for (size_t i = 0; i < n; i++)
        v = v << 8 | (unsigned char)p[i];
    return v;
}

static int decode_binary(uint32_t oid, const char *p, size_t n, buf *scratch, pgval *out,
                         const char **sqlstate, char *err, size_t errlen)
{
    size_t want = 0;
    switch (oid) {
    case PGWIRE_INT2: want = 2; break;
    case PGWIRE_INT4: case PGWIRE_OID: case PGWIRE_FLOAT4: want = 4; break;
    case PGWIRE_INT8: case PGWIRE_FLOAT8: want = 8; break;
    case PGWIRE_BOOL: want = 1; break;
    case PGWIRE_UUID: want = 16; break;
    default: break;
    }
    if (want && n != want)
        return fail(sqlstate, "22P03", err, errlen, "incorrect binary data format for type %s", type_name(oid));
    uint64_t u = want && want <= 8 ? be_n(p, n) : 0;
    switch (oid) {
    case PGWIRE_INT2:  out->type = PGVAL_INT; out->i = (int16_t)u; return 0;
    case PGWIRE_INT4:  out->type = PGVAL_INT; out->i = (int32_t)u; return 0;
    case PGWIRE_OID:   out->type = PGVAL_INT; out->i = (int64_t)(uint32_t)u; return 0;
    case PGWIRE_INT8:  out->type = PGVAL_INT; out->i = (int64_t)u; return 0;
    case PGWIRE_BOOL:  out->type = PGVAL_INT; out->i = u != 0; return 0;
    case PGWIRE_FLOAT4: {
        uint32_t u32 = (uint32_t)u;
        float f;
        memcpy(&f, &u32, 4);
        out->type = PGVAL_FLOAT;
        out->d = f;
        return 0;
    }
    case PGWIRE_FLOAT8:
        out->type = PGVAL_FLOAT;
        memcpy(&out->d, &u, 8);
        return 0;
    case PGWIRE_UUID: {
        size_t mark = scratch->len;
        put_uuid(scratch, (const unsigned char *)p);
        if (scratch->oom)
            return fail(sqlstate, "53200", err, errlen, "out of memory");
        out->type = PGVAL_TEXT;
        out->p = scratch->data + mark;
        out->n = scratch->len - mark;
        return 0;
    }
    case PGWIRE_JSONB:
        if (n < 1 || p[0] != 1)
            return fail(sqlstate, "22P03", err, errlen, "unsupported jsonb version number");
        out->type = PGVAL_TEXT;
        out->p = p + 1;
        out->n = n - 1;
        return 0;
    case 0: case PGWIRE_BYTEA:
        /* An untyped binary parameter can only be taken as bytes. */
        out->type = PGVAL_BLOB;
        out->p = p;
        out->n = n;
        return 0;
    default:
        if (!pgval_binary_supported(oid))
            return fail(sqlstate, "0A000", err, errlen, "binary input is not supported for type oid %u", oid);
        out->type = PGVAL_TEXT;
        out->p = p;
        out->n = n;
        return 0;
    }
}

int pgval_param_decode(uint32_t oid, const pgwire_param *prm, buf *scratch, pgval *out,
                       const char **sqlstate, char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    if (prm->len < 0 || !prm->p) {
        out->type = PGVAL_NULL;
        return 0;
    }
    const char *p = prm->p;
    size_t n = (size_t)prm->len;
    if (prm->format == 1)
        return decode_binary(oid, p, n, scratch, out, sqlstate, err, errlen);
    if (prm->format != 0)
        return fail(sqlstate, "22023", err, errlen, "unsupported format code: %d", prm->format);
    if (memchr(p, '\0', n))
        return fail(sqlstate, "22021", err, errlen, "invalid byte sequence for encoding \"UTF8\": 0x00");
    return decode_text(oid, p, n, scratch, out, sqlstate, err, errlen);
}

/* Decode one value in the format `from` (0 text, 1 binary), then write it in the other one. */
static int convert(uint32_t oid, const char *p, size_t n, int16_t from, buf *out, const char **sqlstate,
                   char *err, size_t errlen)
{
    buf scratch;
    pgval v;
    buf_init(&scratch);
    pgwire_param prm = { p, (int32_t)n, from };
    int rc = n > INT32_MAX ? fail(sqlstate, "54000", err, errlen, "value too long")
                           : pgval_param_decode(oid, &prm, &scratch, &v, sqlstate, err, errlen);
    if (rc == 0 && from == 0)
        rc = pgval_to_binary(out, oid, &v, sqlstate, err, errlen);
    else if (rc == 0)
        pgval_to_text(out, oid, &v);
    buf_free(&scratch);
    return rc;
}

int pgval_text_to_binary(uint32_t oid, const char *s, size_t n, buf *out, const char **sqlstate,
                         char *err, size_t errlen)
{
    return convert(oid, s, n, 0, out, sqlstate, err, errlen);
}

int pgval_binary_to_text(uint32_t oid, const char *p, size_t n, buf *out, const char **sqlstate,
                         char *err, size_t errlen)
{
    return convert(oid, p, n, 1, out, sqlstate, err, errlen);
}

/* ---- COPY text format --------------------------------------------------------------------------- */

int pgval_copy_text_fields(char *line, size_t len, char delim, const char *null_str,
                            pgval_copy_field *out, int max)
{
    size_t nl = null_str ? strlen(null_str) : 0;
    size_t r = 0, w = 0;
    int n = 0;
    for (;;) {
        /* The raw field ends at the first delimiter not escaped by a backslash. */
        size_t start = r, end = r;
        while (end < len && line[end] != delim)
            end += line[end] == '\\' && end + 1 < len ? 2 : 1;
        if (end > len)
            end = len;
        if (n == max)
            return -1;
        pgval_copy_field *f = &out[n++];
        f->null = null_str && end - start == nl && memcmp(line + start, null_str, nl) == 0;
        f->p = line + w;
        size_t fw = w;
        while (r < end) {
            char c = line[r++];
            if (c != '\\' || r == end) {
                line[w++] = c;
                continue;
            }
            c = line[r++];
            switch (c) {
            case 'b': c = '\b'; break;
            case 'f': c = '\f'; break;
            case 'n': c = '\n'; break;
            case 'r': c = '\r'; break;
            case 't': c = '\t'; break;
            case 'v': c = '\v'; break;
            case 'x':
                if (r < end && hexval(line[r]) >= 0) {
                    int v = hexval(line[r++]);
                    if (r < end && hexval(line[r]) >= 0)
                        v = v * 16 + hexval(line[r++]);
                    c = (char)v;
                }
                break;
            default:
                if (c >= '0' && c <= '7') {
                    int v = c - '0';
                    for (int k = 0; k < 2 && r < end && line[r] >= '0' && line[r] <= '7'; k++)
                        v = v * 8 + (line[r++] - '0');
                    c = (char)v;
                }
                break;   /* any other char stands for itself */
            }
            line[w++] = c;
        }
        f->n = w - fw;
        if (f->null)
            f->n = 0;
        if (end >= len)
            return n;
        r = end + 1;   /* past the delimiter */
    }
}

