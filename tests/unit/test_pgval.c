/* test_pgval.c - unit tests for PostgreSQL value conversions: float output, result values to text and binary, Bind parameters (text and binary) to SQLite values, round trips, COPY text rows. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "buf.h"
#include "pgval.h"
#include "pgwire.h"

#define BYTES(b, lit) assert_bytes((b), lit, sizeof(lit) - 1)
static void assert_bytes(const buf *b, const char *want, size_t n)
{
    if (b->len != n || memcmp(b->data, want, n) != 0) {
        fprintf(stderr, "got %zu bytes:", b->len);
        for (size_t i = 0; i < b->len; i++)
            fprintf(stderr, " %02x", (unsigned char)b->data[i]);
        fprintf(stderr, "\n");
    }
    assert_int_equal(b->len, n);
    assert_memory_equal(b->data, want, n);
}

/* ---- values -------------------------------------------------------------------------------------- */

static void test_float_format(void **state)
{
    (void)state;
    char o[PGVAL_FLOAT_BUF];
    struct { double d; const char *s; } f8[] = {
        { 1.5, "1.5" }, { 0.1, "0.1" }, { 0.1 + 0.2, "0.30000000000000004" }, { 100, "100" },
        { 1e100, "1e+100" }, { 1e15, "1e+15" }, { 123456789012345.0, "123456789012345" },
        { 1e-5, "1e-05" }, { 0.0001, "0.0001" }, { -0.0, "-0" }, { 0.0, "0" }, { -2.5, "-2.5" },
        { 1.7976931348623157e308, "1.7976931348623157e+308" }, { 5e-324, "5e-324" },
        { 1234567.125, "1234567.125" }, { 1.2345678901234567e-7, "1.2345678901234566e-07" },
        { 3.0e-4, "0.0003" }, { 1e14, "100000000000000" }, { 12345.678e-200, "1.2345678e-196" },
    };
    for (size_t i = 0; i < sizeof f8 / sizeof *f8; i++) {
        pgval_format_float8(f8[i].d, o);
        assert_string_equal(o, f8[i].s);
    }
    pgval_format_float8(INFINITY, o);
    assert_string_equal(o, "Infinity");
    pgval_format_float8(-INFINITY, o);
    assert_string_equal(o, "-Infinity");
    pgval_format_float8(NAN, o);
    assert_string_equal(o, "NaN");
    struct { float f; const char *s; } f4[] = {
        { 1.5f, "1.5" }, { 0.1f, "0.1" }, { 1e6f, "1e+06" }, { 123456.0f, "123456" },
        { 3.4028235e38f, "3.4028235e+38" }, { 1e-5f, "1e-05" }, { 16777217.0f, "1.6777216e+07" },
    };
    for (size_t i = 0; i < sizeof f4 / sizeof *f4; i++) {
        pgval_format_float4(f4[i].f, o);
        assert_string_equal(o, f4[i].s);
    }
}

static char *text_of(uint32_t oid, pgval v)
{
    static buf b;
    buf_free(&b);
    pgval_to_text(&b, oid, &v);
    buf_putc(&b, '\0');
    return b.data;
}

#define VI(x) ((pgval){ PGVAL_INT, (x), 0, NULL, 0 })
#define VF(x) ((pgval){ PGVAL_FLOAT, 0, (x), NULL, 0 })
#define VT(s) ((pgval){ PGVAL_TEXT, 0, 0, (s), sizeof(s) - 1 })
#define VB(s) ((pgval){ PGVAL_BLOB, 0, 0, (s), sizeof(s) - 1 })
#define VN ((pgval){ PGVAL_NULL, 0, 0, NULL, 0 })

static void test_value_to_text(void **state)
{
    (void)state;
    assert_string_equal(text_of(PGWIRE_BOOL, VI(1)), "t");
    assert_string_equal(text_of(PGWIRE_BOOL, VI(0)), "f");
    assert_string_equal(text_of(PGWIRE_BOOL, VI(-5)), "t");
    assert_string_equal(text_of(PGWIRE_BOOL, VT("true")), "t");
    assert_string_equal(text_of(PGWIRE_BOOL, VT("off")), "f");
    assert_string_equal(text_of(PGWIRE_BOOL, VT("maybe")), "maybe");
    assert_string_equal(text_of(PGWIRE_BYTEA, VB("\x01\xab\x00")), "\\x01" "ab00");
    assert_string_equal(text_of(PGWIRE_BYTEA, VT("AB")), "\\x41" "42");
    assert_string_equal(text_of(PGWIRE_BYTEA, VB("")), "\\x");
    assert_string_equal(text_of(PGWIRE_INT8, VI(INT64_MIN)), "-9223372036854775808");
    assert_string_equal(text_of(PGWIRE_INT4, VI(42)), "42");
    assert_string_equal(text_of(PGWIRE_INT4, VF(2.5)), "2.5");
    assert_string_equal(text_of(PGWIRE_FLOAT8, VF(1.5)), "1.5");
    assert_string_equal(text_of(PGWIRE_FLOAT8, VI(3)), "3");
    assert_string_equal(text_of(PGWIRE_FLOAT8, VF(INFINITY)), "Infinity");
    assert_string_equal(text_of(PGWIRE_FLOAT4, VF(0.1)), "0.1");
    assert_string_equal(text_of(PGWIRE_NUMERIC, VF(1e20)), "100000000000000000000");
    assert_string_equal(text_of(PGWIRE_NUMERIC, VF(1e-5)), "0.00001");
    assert_string_equal(text_of(PGWIRE_NUMERIC, VF(-12.25)), "-12.25");
    assert_string_equal(text_of(PGWIRE_NUMERIC, VI(7)), "7");
    assert_string_equal(text_of(PGWIRE_NUMERIC, VF(NAN)), "NaN");
    assert_string_equal(text_of(PGWIRE_TEXT, VT("héllo")), "héllo");
    assert_string_equal(text_of(PGWIRE_TEXT, VF(0.5)), "0.5");
    assert_string_equal(text_of(PGWIRE_TEXT, VN), "");
    assert_string_equal(text_of(0, VI(-1)), "-1");
    text_of(0, VN);   /* frees the static buffer's contents for the next call */
}

static int to_bin(uint32_t oid, pgval v, buf *b, const char **st)
{
    char err[128];
    buf_reset(b);
    *st = NULL;
    return pgval_to_binary(b, oid, &v, st, err, sizeof err);
}

static void test_value_to_binary(void **state)
{
    (void)state;
    buf b;
    buf_init(&b);
    const char *st;
    assert_int_equal(to_bin(PGWIRE_INT4, VI(42), &b, &st), 0);
    BYTES(&b, "\0\0\0\x2a");
    assert_int_equal(to_bin(PGWIRE_INT2, VI(-2), &b, &st), 0);
    BYTES(&b, "\xff\xfe");
    assert_int_equal(to_bin(PGWIRE_INT8, VI(-1), &b, &st), 0);
    BYTES(&b, "\xff\xff\xff\xff\xff\xff\xff\xff");
    assert_int_equal(to_bin(PGWIRE_INT2, VI(40000), &b, &st), -1);
    assert_string_equal(st, "22003");
    assert_int_equal(b.len, 0);
    assert_int_equal(to_bin(PGWIRE_INT4, VI(2147483648LL), &b, &st), -1);
    assert_int_equal(to_bin(PGWIRE_INT4, VF(2.5), &b, &st), 0);
    BYTES(&b, "\0\0\0\x02");   /* rounds half to even, like rint() */
    assert_int_equal(to_bin(PGWIRE_INT8, VF(1e19), &b, &st), -1);
    assert_string_equal(st, "22003");
    assert_int_equal(to_bin(PGWIRE_INT4, VT(" 7 "), &b, &st), 0);
    BYTES(&b, "\0\0\0\x07");
    assert_int_equal(to_bin(PGWIRE_INT4, VT("x"), &b, &st), -1);
    assert_string_equal(st, "22P02");
    assert_int_equal(to_bin(PGWIRE_INT4, VB("\x01"), &b, &st), -1);
    assert_int_equal(to_bin(PGWIRE_FLOAT8, VF(1.5), &b, &st), 0);
    BYTES(&b, "\x3f\xf8\0\0\0\0\0\0");
    assert_int_equal(to_bin(PGWIRE_FLOAT8, VI(2), &b, &st), 0);
    BYTES(&b, "\x40\0\0\0\0\0\0\0");
    assert_int_equal(to_bin(PGWIRE_FLOAT4, VF(1.5), &b, &st), 0);
    BYTES(&b, "\x3f\xc0\0\0");
    assert_int_equal(to_bin(PGWIRE_FLOAT8, VT("-Infinity"), &b, &st), 0);
    BYTES(&b, "\xff\xf0\0\0\0\0\0\0");
    assert_int_equal(to_bin(PGWIRE_BOOL, VI(1), &b, &st), 0);
    BYTES(&b, "\x01");
    assert_int_equal(to_bin(PGWIRE_BOOL, VT("f"), &b, &st), 0);
    BYTES(&b, "\0");
    assert_int_equal(to_bin(PGWIRE_BYTEA, VB("\0\x01"), &b, &st), 0);
    BYTES(&b, "\0\x01");
    assert_int_equal(to_bin(PGWIRE_TEXT, VT("abc"), &b, &st), 0);
    BYTES(&b, "abc");
    assert_int_equal(to_bin(PGWIRE_VARCHAR, VI(12), &b, &st), 0);
    BYTES(&b, "12");
    assert_int_equal(to_bin(PGWIRE_JSONB, VT("{}"), &b, &st), 0);
    BYTES(&b, "\x01{}");
    assert_int_equal(to_bin(PGWIRE_UUID, VT("a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"), &b, &st), 0);
    BYTES(&b, "\xa0\xee\xbc\x99\x9c\x0b\x4e\xf8\xbb\x6d\x6b\xb9\xbd\x38\x0a\x11");
    assert_int_equal(to_bin(PGWIRE_UUID, VT("a0eebc99"), &b, &st), -1);
    assert_int_equal(to_bin(PGWIRE_NUMERIC, VI(1), &b, &st), -1);
    assert_string_equal(st, "0A000");
    assert_int_equal(to_bin(PGWIRE_TIMESTAMP, VT("2024-01-01"), &b, &st), -1);
    assert_false(pgval_binary_supported(PGWIRE_DATE));
    assert_true(pgval_binary_supported(PGWIRE_INT8));
    buf_free(&b);
}

static int decode(uint32_t oid, int16_t fmt, const char *p, int32_t len, buf *scratch, pgval *v, const char **st)
{
    char err[160];
    pgwire_param prm = { p, len, fmt };
    *st = NULL;
    return pgval_param_decode(oid, &prm, scratch, v, st, err, sizeof err);
}

static void test_param_decode_text(void **state)
{
    (void)state;
    buf s;
    buf_init(&s);
    pgval v;
    const char *st;
    assert_int_equal(decode(PGWIRE_INT4, 0, "42", 2, &s, &v, &st), 0);
    assert_int_equal(v.type, PGVAL_INT);
    assert_int_equal(v.i, 42);
    assert_int_equal(decode(PGWIRE_INT4, 0, " -7 ", 4, &s, &v, &st), 0);
    assert_int_equal(v.i, -7);
    assert_int_equal(decode(PGWIRE_INT4, 0, "2147483648", 10, &s, &v, &st), -1);
    assert_string_equal(st, "22003");
    assert_int_equal(decode(PGWIRE_INT4, 0, "-2147483648", 11, &s, &v, &st), 0);
    assert_int_equal(v.i, INT32_MIN);
    assert_int_equal(decode(PGWIRE_INT2, 0, "32768", 5, &s, &v, &st), -1);
    assert_int_equal(decode(PGWIRE_INT4, 0, "abc", 3, &s, &v, &st), -1);
    assert_string_equal(st, "22P02");
    assert_int_equal(decode(PGWIRE_INT4, 0, "", 0, &s, &v, &st), -1);
    assert_int_equal(decode(PGWIRE_INT4, 0, "-", 1, &s, &v, &st), -1);
    assert_int_equal(decode(PGWIRE_INT8, 0, "-9223372036854775808", 20, &s, &v, &st), 0);
    assert_int_equal(v.i, INT64_MIN);
    assert_int_equal(decode(PGWIRE_INT8, 0, "9223372036854775808", 19, &s, &v, &st), -1);
    assert_string_equal(st, "22003");
    assert_int_equal(decode(PGWIRE_FLOAT8, 0, "1.5e3", 5, &s, &v, &st), 0);
    assert_int_equal(v.type, PGVAL_FLOAT);
    assert_true(v.d == 1500.0);
    assert_int_equal(decode(PGWIRE_FLOAT8, 0, "Infinity", 8, &s, &v, &st), 0);
    assert_true(isinf(v.d) && v.d > 0);
    assert_int_equal(decode(PGWIRE_FLOAT8, 0, "-inf", 4, &s, &v, &st), 0);
    assert_true(isinf(v.d) && v.d < 0);
    assert_int_equal(decode(PGWIRE_FLOAT8, 0, "NaN", 3, &s, &v, &st), 0);
    assert_true(isnan(v.d));
    assert_int_equal(decode(PGWIRE_FLOAT8, 0, "0x10", 4, &s, &v, &st), -1);
    assert_int_equal(decode(PGWIRE_FLOAT8, 0, "1e999", 5, &s, &v, &st), -1);
    assert_string_equal(st, "22003");
    assert_int_equal(decode(PGWIRE_FLOAT4, 0, "1e39", 4, &s, &v, &st), -1);
    assert_int_equal(decode(PGWIRE_NUMERIC, 0, "12", 2, &s, &v, &st), 0);
    assert_int_equal(v.type, PGVAL_INT);
    assert_int_equal(decode(PGWIRE_NUMERIC, 0, "12.5", 4, &s, &v, &st), 0);
    assert_int_equal(v.type, PGVAL_FLOAT);
    const char *yes[] = { "t", "true", "TRUE", "yes", "y", "on", "1", " tr " };
    const char *no[] = { "f", "false", "no", "n", "off", "of", "0" };
    for (size_t i = 0; i < 8; i++) {
        assert_int_equal(decode(PGWIRE_BOOL, 0, yes[i], (int32_t)strlen(yes[i]), &s, &v, &st), 0);
        assert_int_equal(v.i, 1);
    }
    for (size_t i = 0; i < 7; i++) {
        assert_int_equal(decode(PGWIRE_BOOL, 0, no[i], (int32_t)strlen(no[i]), &s, &v, &st), 0);
        assert_int_equal(v.i, 0);
    }
    assert_int_equal(decode(PGWIRE_BOOL, 0, "o", 1, &s, &v, &st), -1);
    assert_int_equal(decode(PGWIRE_BOOL, 0, "maybe", 5, &s, &v, &st), -1);
    buf_reset(&s);
    assert_int_equal(decode(PGWIRE_BYTEA, 0, "\\x01" "Ab ff", 9, &s, &v, &st), 0);
    assert_int_equal(v.type, PGVAL_BLOB);
    assert_int_equal(v.n, 3);
    assert_memory_equal(v.p, "\x01\xab\xff", 3);
    assert_int_equal(decode(PGWIRE_BYTEA, 0, "\\x0", 3, &s, &v, &st), -1);
    assert_int_equal(decode(PGWIRE_BYTEA, 0, "\\xzz", 4, &s, &v, &st), -1);
    assert_int_equal(decode(PGWIRE_BYTEA, 0, "a\\\\b\\0" "01", 8, &s, &v, &st), 0);
    assert_int_equal(v.n, 4);
    assert_memory_equal(v.p, "a\\b\x01", 4);
    assert_int_equal(decode(PGWIRE_BYTEA, 0, "\\9", 2, &s, &v, &st), -1);
    assert_int_equal(decode(PGWIRE_BYTEA, 0, "\\0" "0", 3, &s, &v, &st), -1);
    const char *txt = "hello";
    assert_int_equal(decode(PGWIRE_TEXT, 0, txt, 5, &s, &v, &st), 0);
    assert_int_equal(v.type, PGVAL_TEXT);
    assert_ptr_equal(v.p, txt);
    assert_int_equal(decode(0, 0, "12", 2, &s, &v, &st), 0);
    assert_int_equal(v.type, PGVAL_TEXT);   /* untyped: SQLite's affinity decides */
    assert_int_equal(decode(PGWIRE_INT4, 0, NULL, -1, &s, &v, &st), 0);
    assert_int_equal(v.type, PGVAL_NULL);
    assert_int_equal(decode(PGWIRE_TEXT, 0, "a\0b", 3, &s, &v, &st), -1);
    assert_string_equal(st, "22021");
    assert_int_equal(decode(PGWIRE_TEXT, 2, "a", 1, &s, &v, &st), -1);
    buf_free(&s);
}

static void test_param_decode_binary(void **state)
{
    (void)state;
    buf s;
    buf_init(&s);
    pgval v;
    const char *st;
    assert_int_equal(decode(PGWIRE_INT4, 1, "\xff\xff\xff\xfe", 4, &s, &v, &st), 0);
    assert_int_equal(v.i, -2);
    assert_int_equal(decode(PGWIRE_INT2, 1, "\x80\0", 2, &s, &v, &st), 0);
    assert_int_equal(v.i, -32768);
    assert_int_equal(decode(PGWIRE_INT8, 1, "\x7f\xff\xff\xff\xff\xff\xff\xff", 8, &s, &v, &st), 0);
    assert_int_equal(v.i, INT64_MAX);
    assert_int_equal(decode(PGWIRE_INT4, 1, "\0\0\x01", 3, &s, &v, &st), -1);
    assert_string_equal(st, "22P03");
    assert_int_equal(decode(PGWIRE_FLOAT8, 1, "\x3f\xf8\0\0\0\0\0\0", 8, &s, &v, &st), 0);
    assert_true(v.d == 1.5);
    assert_int_equal(decode(PGWIRE_FLOAT4, 1, "\x3f\xc0\0\0", 4, &s, &v, &st), 0);
    assert_true(v.d == 1.5);
    assert_int_equal(decode(PGWIRE_BOOL, 1, "\x01", 1, &s, &v, &st), 0);
    assert_int_equal(v.i, 1);
    assert_int_equal(decode(PGWIRE_BYTEA, 1, "\0\x01", 2, &s, &v, &st), 0);
    assert_int_equal(v.type, PGVAL_BLOB);
    assert_int_equal(v.n, 2);
    assert_int_equal(decode(0, 1, "xy", 2, &s, &v, &st), 0);
    assert_int_equal(v.type, PGVAL_BLOB);
    assert_int_equal(decode(PGWIRE_TEXT, 1, "xy", 2, &s, &v, &st), 0);
    assert_int_equal(v.type, PGVAL_TEXT);
    assert_int_equal(decode(PGWIRE_UUID, 1, "\xa0\xee\xbc\x99\x9c\x0b\x4e\xf8\xbb\x6d\x6b\xb9\xbd\x38\x0a\x11", 16, &s, &v, &st), 0);
    assert_int_equal(v.n, 36);
    assert_memory_equal(v.p, "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11", 36);
    assert_int_equal(decode(PGWIRE_JSONB, 1, "\x01[]", 3, &s, &v, &st), 0);
    assert_int_equal(v.n, 2);
    assert_int_equal(decode(PGWIRE_JSONB, 1, "\x02[]", 3, &s, &v, &st), -1);
    assert_int_equal(decode(PGWIRE_NUMERIC, 1, "\0\0", 2, &s, &v, &st), -1);
    assert_string_equal(st, "0A000");
    buf_free(&s);
}

static void roundtrip(uint32_t oid, const char *text, const char *bin, size_t binlen, const char *back)
{
    buf b, t;
    buf_init(&b);
    buf_init(&t);
    const char *st;
    char err[128];
    assert_int_equal(pgval_text_to_binary(oid, text, strlen(text), &b, &st, err, sizeof err), 0);
    assert_bytes(&b, bin, binlen);
    assert_int_equal(pgval_binary_to_text(oid, b.data, b.len, &t, &st, err, sizeof err), 0);
    assert_int_equal(t.len, strlen(back));
    assert_memory_equal(t.data, back, t.len);
    buf_free(&b);
    buf_free(&t);
}

static void test_text_binary_roundtrip(void **state)
{
    (void)state;
    roundtrip(PGWIRE_INT2, "-300", "\xfe\xd4", 2, "-300");
    roundtrip(PGWIRE_INT4, "123456", "\0\x01\xe2\x40", 4, "123456");
    roundtrip(PGWIRE_INT8, "-9223372036854775808", "\x80\0\0\0\0\0\0\0", 8, "-9223372036854775808");
    roundtrip(PGWIRE_FLOAT8, "0.1", "\x3f\xb9\x99\x99\x99\x99\x99\x9a", 8, "0.1");
    roundtrip(PGWIRE_FLOAT4, "0.1", "\x3d\xcc\xcc\xcd", 4, "0.1");
    roundtrip(PGWIRE_FLOAT8, "NaN", "\x7f\xf8\0\0\0\0\0\0", 8, "NaN");
    roundtrip(PGWIRE_BOOL, "yes", "\x01", 1, "t");
    roundtrip(PGWIRE_BYTEA, "\\x00" "ff", "\0\xff", 2, "\\x00" "ff");
    roundtrip(PGWIRE_TEXT, "plain", "plain", 5, "plain");
    roundtrip(PGWIRE_UUID, "{A0EEBC99-9C0B4EF8-BB6D-6BB9BD380A11}",
              "\xa0\xee\xbc\x99\x9c\x0b\x4e\xf8\xbb\x6d\x6b\xb9\xbd\x38\x0a\x11", 16,
              "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11");
    buf b;
    buf_init(&b);
    const char *st;
    char err[128];
    assert_int_equal(pgval_text_to_binary(PGWIRE_INT4, "1.5", 3, &b, &st, err, sizeof err), -1);
    assert_string_equal(st, "22P02");
    assert_int_equal(pgval_binary_to_text(PGWIRE_INT8, "\0", 1, &b, &st, err, sizeof err), -1);
    buf_free(&b);
}

static void test_datarow_values(void **state)
{
    (void)state;
    buf b;
    buf_init(&b);
    pgwire_builder w;
    const char *st;
    char err[128];
    pgval vals[] = { VI(7), VN, VT("x"), VF(0.5) };
    pgwire_datarow_begin(&w, &b);
    assert_int_equal(pgval_datarow_field(&w, PGWIRE_INT4, 1, &vals[0], &st, err, sizeof err), 0);
    assert_int_equal(pgval_datarow_field(&w, PGWIRE_INT4, 1, &vals[1], &st, err, sizeof err), 0);
    assert_int_equal(pgval_datarow_field(&w, PGWIRE_TEXT, 0, &vals[2], &st, err, sizeof err), 0);
    assert_int_equal(pgval_datarow_field(&w, PGWIRE_FLOAT8, 0, &vals[3], &st, err, sizeof err), 0);
    /* a failed binary field leaves the row as it was */
    assert_int_equal(pgval_datarow_field(&w, PGWIRE_INT2, 1, &vals[2], &st, err, sizeof err), -1);
    pgwire_datarow_end(&w);
    BYTES(&b, "D\0\0\0\x1e\0\x04" "\0\0\0\x04\0\0\0\x07" "\xff\xff\xff\xff" "\0\0\0\x01x" "\0\0\0\x03" "0.5");
    buf_free(&b);
}

static void test_copy_fields(void **state)
{
    (void)state;
    char line[] = "1\t\\N\tx\\ty\\\\z\t\t\\101\\x41\\q";
    pgval_copy_field f[8];
    int n = pgval_copy_text_fields(line, strlen(line), '\t', "\\N", f, 8);
    assert_int_equal(n, 5);
    assert_int_equal(f[0].n, 1);
    assert_memory_equal(f[0].p, "1", 1);
    assert_true(f[1].null);
    assert_false(f[0].null);
    assert_int_equal(f[2].n, 5);
    assert_memory_equal(f[2].p, "x\ty\\z", 5);
    assert_int_equal(f[3].n, 0);
    assert_false(f[3].null);
    assert_int_equal(f[4].n, 3);
    assert_memory_equal(f[4].p, "AAq", 3);
    char two[] = "a\tb";
    assert_int_equal(pgval_copy_text_fields(two, 3, '\t', "\\N", f, 1), -1);
    char empty[] = "";
    assert_int_equal(pgval_copy_text_fields(empty, 0, '\t', "\\N", f, 8), 1);
    assert_int_equal(f[0].n, 0);
    /* an escaped delimiter stays in the field */
    char esc[] = "a\\\tb\tc";
    assert_int_equal(pgval_copy_text_fields(esc, strlen(esc), '\t', "\\N", f, 8), 2);
    assert_memory_equal(f[0].p, "a\tb", 3);
    /* pgbench's rows */
    char pg[] = "1\t1\t0\t";
    assert_int_equal(pgval_copy_text_fields(pg, strlen(pg), '\t', "\\N", f, 8), 4);
    assert_int_equal(f[3].n, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_float_format),
        cmocka_unit_test(test_value_to_text),
        cmocka_unit_test(test_value_to_binary),
        cmocka_unit_test(test_param_decode_text),
        cmocka_unit_test(test_param_decode_binary),
        cmocka_unit_test(test_text_binary_roundtrip),
        cmocka_unit_test(test_datarow_values),
        cmocka_unit_test(test_copy_fields),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
