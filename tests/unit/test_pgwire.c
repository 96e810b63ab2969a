/* test_pgwire.c - unit tests for the PostgreSQL wire codec: framing, every parser over good, truncated and padded bytes, exact encoder bytes, OIDs, CommandComplete tags. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "buf.h"
#include "pgwire.h"

/* ---- helpers ----------------------------------------------------------------------------------- */

static void i16(buf *b, int v) { char q[2] = { (char)(v >> 8), (char)v }; buf_append(b, q, 2); }
static void i32(buf *b, int64_t v)
{
    uint32_t u = (uint32_t)v;
    char q[4] = { (char)(u >> 24), (char)(u >> 16), (char)(u >> 8), (char)u };
    buf_append(b, q, 4);
}
static void cstr(buf *b, const char *s) { buf_append(b, s, strlen(s) + 1); }

/* Copy into an exact-size heap block, so ASan catches any read past the end. */
static char *exact(const void *p, size_t n)
{
    char *c = malloc(n ? n : 1);
    memcpy(c, p, n);
    return c;
}

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

typedef int (*parse_fn)(const char *body, size_t len, char *err, size_t errlen);

/* Every strict prefix of a good body must be rejected with a message, never read past the end. */
static void prefixes_fail(const buf *body, parse_fn fn)
{
    for (size_t n = 0; n < body->len; n++) {
        char *c = exact(body->data, n);
        char err[160] = "";
        assert_int_equal(fn(c, n, err, sizeof err), -1);
        assert_true(err[0] != '\0');
        free(c);
    }
    /* and so must one trailing byte too many */
    buf more;
    buf_init(&more);
    buf_append(&more, body->data, body->len);
    buf_putc(&more, 'x');
    char *c = exact(more.data, more.len);
    char err[160] = "";
    assert_int_equal(fn(c, more.len, err, sizeof err), -1);
    free(c);
    buf_free(&more);
}

/* ---- framing ----------------------------------------------------------------------------------- */

static void test_frame_startup(void **state)
{
    (void)state;
    pgwire_msg f;
    const char ssl[] = "\0\0\0\x08\x04\xd2\x16\x2f";
    for (size_t n = 0; n < 8; n++)
        assert_int_equal(pgwire_frame_startup(ssl, n, &f), n < 4 ? PGWIRE_NEED_MORE : PGWIRE_NEED_MORE);
    assert_int_equal(pgwire_frame_startup(ssl, 8, &f), PGWIRE_MSG);
    assert_int_equal(f.code, PGWIRE_SSL_REQUEST);
    assert_int_equal(f.total, 8);
    assert_int_equal(f.body_len, 0);
    const char gss[] = "\0\0\0\x08\x04\xd2\x16\x30";
    assert_int_equal(pgwire_frame_startup(gss, 8, &f), PGWIRE_MSG);
    assert_int_equal(f.code, PGWIRE_GSSENC_REQUEST);
    const char cancel[] = "\0\0\0\x10\x04\xd2\x16\x2e\0\0\0\x07\0\0\0\x09";
    assert_int_equal(pgwire_frame_startup(cancel, 16, &f), PGWIRE_MSG);
    assert_int_equal(f.code, PGWIRE_CANCEL_REQUEST);
    pgwire_cancel c;
    char err[128];
    assert_int_equal(pgwire_parse_cancel(f.body, f.body_len, &c, err, sizeof err), 0);
    assert_int_equal(c.pid, 7);
    assert_int_equal(c.key, 9);
    assert_int_equal(pgwire_parse_cancel(f.body, 7, &c, err, sizeof err), -1);
    /* lengths judged from the first four bytes, before the body arrives */
    assert_int_equal(pgwire_frame_startup("\0\0\0\x07", 4, &f), PGWIRE_ERR_SHORT_LEN);
    assert_int_equal(pgwire_frame_startup("\0\0\0\0", 4, &f), PGWIRE_ERR_SHORT_LEN);
    assert_int_equal(pgwire_frame_startup("\xff\xff\xff\xff", 4, &f), PGWIRE_ERR_SHORT_LEN);
    assert_int_equal(pgwire_frame_startup("\0\0\x27\x11", 4, &f), PGWIRE_ERR_STARTUP_LEN);  /* 10001 */
    assert_int_equal(pgwire_frame_startup("\0\0\x27\x10", 4, &f), PGWIRE_NEED_MORE);        /* 10000 */
    assert_string_equal(pgwire_frame_strerror(PGWIRE_ERR_STARTUP_LEN), "invalid length of startup packet");
}

static void test_frame_messages(void **state)
{
    (void)state;
    pgwire_msg f;
    const char two[] = "S\0\0\0\x04Q\0\0\0\x0dSELECT 1\0";
    assert_int_equal(pgwire_frame(two, 0, 0, &f), PGWIRE_NEED_MORE);
    assert_int_equal(pgwire_frame(two, 4, 0, &f), PGWIRE_NEED_MORE);
    assert_int_equal(pgwire_frame(two, 5, 0, &f), PGWIRE_MSG);
    assert_int_equal(f.type, 'S');
    assert_int_equal(f.body_len, 0);
    assert_int_equal(f.total, 5);
    const char *q = two + 5;
    assert_int_equal(pgwire_frame(q, 13, 0, &f), PGWIRE_NEED_MORE);
    assert_int_equal(pgwire_frame(q, 14, 0, &f), PGWIRE_MSG);
    assert_int_equal(f.type, 'Q');
    assert_int_equal(f.body_len, 9);
    assert_ptr_equal(f.body, q + 5);
    /* limits */
    assert_int_equal(pgwire_frame("Q\0\0\0\x03", 5, 0, &f), PGWIRE_ERR_SHORT_LEN);
    assert_int_equal(pgwire_frame("Q\x80\0\0\0", 5, 0, &f), PGWIRE_ERR_SHORT_LEN);   /* negative */
    assert_int_equal(pgwire_frame("Q\x40\0\0\x01", 5, 0, &f), PGWIRE_ERR_TOO_LONG);  /* 1 GiB + 1 */
    assert_int_equal(pgwire_frame("Q\x40\0\0\0", 5, 0, &f), PGWIRE_NEED_MORE);       /* exactly 1 GiB */
    assert_int_equal(pgwire_frame("Q\0\0\x04\x01", 5, 1024, &f), PGWIRE_ERR_TOO_LONG);
    assert_int_equal(pgwire_frame("Q\0\0\x04\0", 5, 1024, &f), PGWIRE_NEED_MORE);
    assert_int_equal(pgwire_frame("Q\x40\0\0\x01", 5, (size_t)1 << 40, &f), PGWIRE_ERR_TOO_LONG);
}

/* ---- parsers ------------------------------------------------------------------------------------ */

static int startup_fn(const char *b, size_t n, char *err, size_t el)
{
    pgwire_startup m;
    return pgwire_parse_startup(b, n, PGWIRE_PROTOCOL_3, &m, err, el);
}

static void test_parse_startup(void **state)
{
    (void)state;
    buf b;
    buf_init(&b);
    cstr(&b, "user");
    cstr(&b, "alice");
    cstr(&b, "database");
    cstr(&b, "bench");
    cstr(&b, "application_name");
    cstr(&b, "psql");
    cstr(&b, "client_encoding");
    cstr(&b, "UTF8");
    cstr(&b, "_pq_.x");
    cstr(&b, "1");
    buf_putc(&b, '\0');
    pgwire_startup m;
    char err[160];
    char *c = exact(b.data, b.len);
    assert_int_equal(pgwire_parse_startup(c, b.len, PGWIRE_PROTOCOL_3, &m, err, sizeof err), 0);
    assert_int_equal(m.major, 3);
    assert_int_equal(m.minor, 0);
    assert_string_equal(m.user, "alice");
    assert_string_equal(m.database, "bench");
    assert_string_equal(m.application_name, "psql");
    assert_string_equal(m.client_encoding, "UTF8");
    assert_null(m.options);
    assert_int_equal(m.nparams, 5);
    assert_string_equal(m.params[4].key, "_pq_.x");
    assert_ptr_equal(m.user, c + 5);   /* zero copy */
    free(c);
    prefixes_fail(&b, startup_fn);
    /* protocol 3.2 parses (the session answers NegotiateProtocolVersion); 2.0 does not */
    assert_int_equal(pgwire_parse_startup(b.data, b.len, 3 << 16 | 2, &m, err, sizeof err), 0);
    assert_int_equal(m.minor, 2);
    assert_int_equal(pgwire_parse_startup(b.data, b.len, 2 << 16, &m, err, sizeof err), -1);
    assert_string_equal(err, "unsupported frontend protocol 2.0: server supports 3.0 to 3.0");
    /* database defaults to the user; no user is reported as NULL for the session's 28000 */
    buf_reset(&b);
    cstr(&b, "user");
    cstr(&b, "bob");
    buf_putc(&b, '\0');
    assert_int_equal(pgwire_parse_startup(b.data, b.len, PGWIRE_PROTOCOL_3, &m, err, sizeof err), 0);
    assert_string_equal(m.database, "bob");
    assert_int_equal(pgwire_parse_startup("\0", 1, PGWIRE_PROTOCOL_3, &m, err, sizeof err), 0);
    assert_null(m.user);
    assert_null(m.database);
    assert_int_equal(pgwire_parse_startup("", 0, PGWIRE_PROTOCOL_3, &m, err, sizeof err), -1);
    /* too many parameters */
    buf_reset(&b);
    for (int i = 0; i <= PGWIRE_MAX_STARTUP_PARAMS; i++) {
        cstr(&b, "k");
        cstr(&b, "v");
    }
    buf_putc(&b, '\0');
    assert_int_equal(pgwire_parse_startup(b.data, b.len, PGWIRE_PROTOCOL_3, &m, err, sizeof err), -1);
    buf_free(&b);
}

static int query_fn(const char *b, size_t n, char *err, size_t el)
{
    const char *s;
    size_t l;
    return pgwire_parse_query(b, n, &s, &l, err, el);
}

static void test_parse_query(void **state)
{
    (void)state;
    buf b;
    buf_init(&b);
    cstr(&b, "SELECT 1; SELECT 2");
    const char *s;
    size_t l;
    char err[160];
    assert_int_equal(pgwire_parse_query(b.data, b.len, &s, &l, err, sizeof err), 0);
    assert_string_equal(s, "SELECT 1; SELECT 2");
    assert_int_equal(l, 18);
    prefixes_fail(&b, query_fn);
    assert_int_equal(pgwire_parse_query("a\0b\0", 4, &s, &l, err, sizeof err), -1);
    assert_string_equal(err, "invalid Query message format: unexpected trailing data");
    buf_free(&b);
}

static int parse_fn_(const char *b, size_t n, char *err, size_t el)
{
    pgwire_parse m;
    return pgwire_parse_parse(b, n, &m, err, el);
}

static void test_parse_parse(void **state)
{
    (void)state;
    buf b;
    buf_init(&b);
    cstr(&b, "s1");
    cstr(&b, "SELECT $1, $2");
    i16(&b, 2);
    i32(&b, 23);
    i32(&b, 25);
    pgwire_parse m;
    char err[160];
    assert_int_equal(pgwire_parse_parse(b.data, b.len, &m, err, sizeof err), 0);
    assert_string_equal(m.name, "s1");
    assert_string_equal(m.query, "SELECT $1, $2");
    assert_int_equal(m.query_len, 13);
    assert_int_equal(m.nparam_types, 2);
    assert_int_equal(pgwire_parse_param_type(&m, 0), 23);
    assert_int_equal(pgwire_parse_param_type(&m, 1), 25);
    assert_int_equal(pgwire_parse_param_type(&m, 2), 0);
    prefixes_fail(&b, parse_fn_);
    buf_reset(&b);
    cstr(&b, "");
    cstr(&b, "SELECT 1");
    i16(&b, -1);
    assert_int_equal(pgwire_parse_parse(b.data, b.len, &m, err, sizeof err), -1);
    buf_reset(&b);
    cstr(&b, "");
    cstr(&b, "SELECT 1");
    i16(&b, 3);     /* claims 3 OIDs, carries 1 */
    i32(&b, 23);
    assert_int_equal(pgwire_parse_parse(b.data, b.len, &m, err, sizeof err), -1);
    assert_string_equal(err, "invalid Parse message format: count exceeds message length");
    buf_free(&b);
}

static int bind_fn(const char *b, size_t n, char *err, size_t el)
{
    pgwire_bind m;
    return pgwire_parse_bind(b, n, &m, err, el);
}

static void test_parse_bind(void **state)
{
    (void)state;
    buf b;
    buf_init(&b);
    cstr(&b, "p1");
    cstr(&b, "s1");
    i16(&b, 3);
    i16(&b, 0);
    i16(&b, 1);
    i16(&b, 0);
    i16(&b, 3);
    i32(&b, 2);
    buf_append(&b, "42", 2);
    i32(&b, 4);
    buf_append(&b, "\0\0\0\x07", 4);
    i32(&b, -1);
    i16(&b, 1);
    i16(&b, 1);
    pgwire_bind m;
    char err[160];
    char *c = exact(b.data, b.len);
    assert_int_equal(pgwire_parse_bind(c, b.len, &m, err, sizeof err), 0);
    assert_string_equal(m.portal, "p1");
    assert_string_equal(m.statement, "s1");
    assert_int_equal(m.nparams, 3);
    assert_int_equal(pgwire_bind_param_format(&m, 0), 0);
    assert_int_equal(pgwire_bind_param_format(&m, 1), 1);
    assert_int_equal(pgwire_bind_result_format(&m, 0), 1);
    assert_int_equal(pgwire_bind_result_format(&m, 5), 1);   /* one code applies to all */
    pgwire_param ps[3];
    pgwire_bind_params(&m, ps, 3);
    assert_int_equal(ps[0].len, 2);
    assert_memory_equal(ps[0].p, "42", 2);
    assert_int_equal(ps[0].format, 0);
    assert_int_equal(ps[1].len, 4);
    assert_int_equal(ps[1].format, 1);
    assert_int_equal(ps[2].len, -1);
    assert_null(ps[2].p);
    free(c);
    prefixes_fail(&b, bind_fn);

    /* no formats, no params, no result formats */
    buf_reset(&b);
    cstr(&b, "");
    cstr(&b, "");
    i16(&b, 0);
    i16(&b, 0);
    i16(&b, 0);
    assert_int_equal(pgwire_parse_bind(b.data, b.len, &m, err, sizeof err), 0);
    assert_int_equal(pgwire_bind_result_format(&m, 3), 0);
    /* two formats for three parameters */
    buf_reset(&b);
    cstr(&b, "");
    cstr(&b, "");
    i16(&b, 2);
    i16(&b, 0);
    i16(&b, 0);
    i16(&b, 3);
    for (int i = 0; i < 3; i++)
        i32(&b, -1);
    i16(&b, 0);
    assert_int_equal(pgwire_parse_bind(b.data, b.len, &m, err, sizeof err), -1);
    assert_string_equal(err, "bind message has 2 parameter formats but 3 parameters");
    /* format code 2, length -2, a length past the end */
    const struct { int fmt, len; } bad[] = { { 2, 1 }, { 0, -2 }, { 0, 1000 } };
    for (int k = 0; k < 3; k++) {
        buf_reset(&b);
        cstr(&b, "");
        cstr(&b, "");
        i16(&b, 1);
        i16(&b, bad[k].fmt);
        i16(&b, 1);
        i32(&b, bad[k].len);
        buf_putc(&b, 'x');
        i16(&b, 0);
        assert_int_equal(pgwire_parse_bind(b.data, b.len, &m, err, sizeof err), -1);
    }
    buf_free(&b);
}

static int describe_fn(const char *b, size_t n, char *err, size_t el)
{
    pgwire_target t;
    return pgwire_parse_describe(b, n, &t, err, el);
}
static int execute_fn(const char *b, size_t n, char *err, size_t el)
{
    pgwire_execute e;
    return pgwire_parse_execute(b, n, &e, err, el);
}
static int sasl_fn(const char *b, size_t n, char *err, size_t el)
{
    pgwire_sasl_initial s;
    return pgwire_parse_sasl_initial(b, n, &s, err, el);
}
static int pw_fn(const char *b, size_t n, char *err, size_t el)
{
    const char *p;
    return pgwire_parse_password(b, n, &p, err, el);
}
static int fail_fn(const char *b, size_t n, char *err, size_t el)
{
    const char *p;
    return pgwire_parse_copy_fail(b, n, &p, err, el);
}

static void test_parse_small_messages(void **state)
{
    (void)state;
    char err[160];
    buf b;
    buf_init(&b);
    pgwire_target t;
    buf_putc(&b, 'S');
    cstr(&b, "stmt");
    assert_int_equal(pgwire_parse_describe(b.data, b.len, &t, err, sizeof err), 0);
    assert_int_equal(t.kind, 'S');
    assert_string_equal(t.name, "stmt");
    prefixes_fail(&b, describe_fn);
    assert_int_equal(pgwire_parse_close("P\0", 2, &t, err, sizeof err), 0);
    assert_int_equal(t.kind, 'P');
    assert_string_equal(t.name, "");
    assert_int_equal(pgwire_parse_close("X\0", 2, &t, err, sizeof err), -1);

    buf_reset(&b);
    cstr(&b, "portal");
    i32(&b, 100);
    pgwire_execute e;
    assert_int_equal(pgwire_parse_execute(b.data, b.len, &e, err, sizeof err), 0);
    assert_string_equal(e.portal, "portal");
    assert_int_equal(e.max_rows, 100);
    prefixes_fail(&b, execute_fn);

    assert_int_equal(pgwire_parse_empty("", 0, err, sizeof err), 0);
    assert_int_equal(pgwire_parse_empty("x", 1, err, sizeof err), -1);

    buf_reset(&b);
    cstr(&b, "SCRAM-SHA-256");
    i32(&b, 5);
    buf_append(&b, "n,,ab", 5);
    pgwire_sasl_initial s;
    assert_int_equal(pgwire_parse_sasl_initial(b.data, b.len, &s, err, sizeof err), 0);
    assert_string_equal(s.mechanism, "SCRAM-SHA-256");
    assert_int_equal(s.len, 5);
    assert_memory_equal(s.data, "n,,ab", 5);
    prefixes_fail(&b, sasl_fn);
    buf_reset(&b);
    cstr(&b, "SCRAM-SHA-256");
    i32(&b, -1);
    assert_int_equal(pgwire_parse_sasl_initial(b.data, b.len, &s, err, sizeof err), 0);
    assert_null(s.data);
    buf_reset(&b);
    cstr(&b, "SCRAM-SHA-256");
    i32(&b, -5);
    assert_int_equal(pgwire_parse_sasl_initial(b.data, b.len, &s, err, sizeof err), -1);

    const char *d;
    size_t dl;
    assert_int_equal(pgwire_parse_sasl_response("c=biws", 6, &d, &dl, err, sizeof err), 0);
    assert_int_equal(dl, 6);

    buf_reset(&b);
    cstr(&b, "hunter2");
    const char *pw;
    assert_int_equal(pgwire_parse_password(b.data, b.len, &pw, err, sizeof err), 0);
    assert_string_equal(pw, "hunter2");
    prefixes_fail(&b, pw_fn);
    buf_reset(&b);
    cstr(&b, "client gave up");
    assert_int_equal(pgwire_parse_copy_fail(b.data, b.len, &pw, err, sizeof err), 0);
    assert_string_equal(pw, "client gave up");
    prefixes_fail(&b, fail_fn);
    buf_free(&b);
}

/* ---- encoders ------------------------------------------------------------------------------------ */

static void test_encode_auth_and_startup(void **state)
{
    (void)state;
    buf b;
    buf_init(&b);
    pgwire_auth_ok(&b);
    BYTES(&b, "R\0\0\0\x08\0\0\0\0");
    buf_reset(&b);
    pgwire_auth_cleartext(&b);
    BYTES(&b, "R\0\0\0\x08\0\0\0\x03");
    buf_reset(&b);
    const char *mech[] = { "SCRAM-SHA-256", NULL };
    pgwire_auth_sasl(&b, mech);
    BYTES(&b, "R\0\0\0\x17\0\0\0\x0aSCRAM-SHA-256\0\0");
    buf_reset(&b);
    pgwire_auth_sasl_continue(&b, "r=abc", 5);
    BYTES(&b, "R\0\0\0\x0d\0\0\0\x0br=abc");
    buf_reset(&b);
    pgwire_auth_sasl_final(&b, "v=xy", 4);
    BYTES(&b, "R\0\0\0\x0c\0\0\0\x0cv=xy");
    buf_reset(&b);
    pgwire_parameter_status(&b, "client_encoding", "UTF8");
    BYTES(&b, "S\0\0\0\x19" "client_encoding\0UTF8\0");
    buf_reset(&b);
    pgwire_backend_key(&b, 0x01020304, -1);
    BYTES(&b, "K\0\0\0\x0c\x01\x02\x03\x04\xff\xff\xff\xff");
    buf_reset(&b);
    pgwire_ready(&b, 'T');
    BYTES(&b, "Z\0\0\0\x05T");
    buf_reset(&b);
    pgwire_refuse_encryption(&b);
    BYTES(&b, "N");
    buf_reset(&b);
    const char *unk[] = { "_pq_.foo" };
    pgwire_negotiate_version(&b, 0, unk, 1);
    BYTES(&b, "v\0\0\0\x15\0\x03\0\0\0\0\0\x01_pq_.foo\0");
    buf_free(&b);
}

static void test_encode_extended_and_misc(void **state)
{
    (void)state;
    buf b;
    buf_init(&b);
    pgwire_command_complete(&b, "SELECT 1");
    BYTES(&b, "C\0\0\0\x0dSELECT 1\0");
    buf_reset(&b);
    pgwire_empty_query(&b);
    pgwire_parse_complete(&b);
    pgwire_bind_complete(&b);
    pgwire_close_complete(&b);
    pgwire_no_data(&b);
    pgwire_portal_suspended(&b);
    BYTES(&b, "I\0\0\0\x04" "1\0\0\0\x04" "2\0\0\0\x04" "3\0\0\0\x04" "n\0\0\0\x04" "s\0\0\0\x04");
    buf_reset(&b);
    uint32_t oids[2] = { 23, 25 };
    pgwire_parameter_description(&b, oids, 2);
    BYTES(&b, "t\0\0\0\x0e\0\x02\0\0\0\x17\0\0\0\x19");
    buf_reset(&b);
    pgwire_parameter_description(&b, NULL, 0);
    BYTES(&b, "t\0\0\0\x06\0\0");
    buf_reset(&b);
    pgwire_copy_in_response(&b, 2);
    BYTES(&b, "G\0\0\0\x0b\0\0\x02\0\0\0\0");
    buf_free(&b);
}

static void test_encode_errors(void **state)
{
    (void)state;
    buf b;
    buf_init(&b);
    pgwire_error_simple(&b, "42601", "syntax error");
    BYTES(&b, "E\0\0\0\x28SERROR\0VERROR\0C42601\0Msyntax error\0\0");
    buf_reset(&b);
    pgwire_error_fields e = { "NOTICE", "00000", "hi", "more", "try", 7 };
    pgwire_notice(&b, &e);
    BYTES(&b, "N\0\0\0\x2eSNOTICE\0VNOTICE\0C00000\0Mhi\0Dmore\0Htry\0P7\0\0");
    buf_reset(&b);
    pgwire_error_fields f = { "FATAL", "28P01", "password authentication failed for user \"x\"", NULL, NULL, 0 };
    pgwire_error(&b, &f);
    assert_int_equal(b.data[0], 'E');
    assert_memory_equal(b.data + 5, "SFATAL\0VFATAL\0C28P01\0M", 22);
    assert_int_equal(b.data[b.len - 1], '\0');
    buf_free(&b);
}

static void test_encode_rows(void **state)
{
    (void)state;
    buf b;
    buf_init(&b);
    pgwire_builder w;
    pgwire_rowdesc_begin(&w, &b);
    pgwire_rowdesc_add(&w, "a", PGWIRE_INT4, 0);
    pgwire_rowdesc_add(&w, "bb", PGWIRE_TEXT, 1);
    assert_int_equal(pgwire_rowdesc_end(&w), 0);
    BYTES(&b, "T\0\0\0\x2f\0\x02"
              "a\0" "\0\0\0\0" "\0\0" "\0\0\0\x17" "\0\x04" "\xff\xff\xff\xff" "\0\0"
              "bb\0" "\0\0\0\0" "\0\0" "\0\0\0\x19" "\xff\xff" "\xff\xff\xff\xff" "\0\x01");
    buf_reset(&b);
    buf_puts(&b, "prefix");
    pgwire_datarow_begin(&w, &b);
    pgwire_datarow_bytes(&w, "42", 2);
    pgwire_datarow_null(&w);
    pgwire_datarow_bytes(&w, "", 0);
    pgwire_datarow_field_begin(&w);
    buf_puts(&b, "xyz");
    pgwire_datarow_field_end(&w);
    assert_int_equal(pgwire_datarow_end(&w), 0);
    BYTES(&b, "prefix" "D\0\0\0\x1b\0\x04" "\0\0\0\x02" "42" "\xff\xff\xff\xff" "\0\0\0\0" "\0\0\0\x03xyz");
    /* an empty row */
    buf_reset(&b);
    pgwire_datarow_begin(&w, &b);
    pgwire_datarow_end(&w);
    BYTES(&b, "D\0\0\0\x06\0\0");
    /* more than 65535 fields: refused, nothing left behind */
    buf_reset(&b);
    buf_puts(&b, "keep");
    pgwire_datarow_begin(&w, &b);
    for (int i = 0; i < 65536; i++)
        pgwire_datarow_null(&w);
    assert_int_equal(pgwire_datarow_end(&w), -1);
    BYTES(&b, "keep");
    buf_free(&b);
}

/* ---- types and tags --------------------------------------------------------------------------------- */

static void test_oids(void **state)
{
    (void)state;
    struct { const char *t; uint32_t oid; } c[] = {
        { "INTEGER", 20 }, { "int8", 20 }, { "bigint", 20 }, { "int", 23 }, { "INT4", 23 },
        { "smallint", 21 }, { "int2", 21 }, { "real", 701 }, { "FLOAT", 701 }, { "double", 701 },
        { "double precision", 701 }, { "DOUBLE  PRECISION", 701 }, { "float8", 701 }, { "float4", 700 },
        { "numeric", 1700 }, { "NUMERIC(10,2)", 1700 }, { "decimal(5)", 1700 }, { "bool", 16 },
        { "BOOLEAN", 16 }, { "blob", 17 }, { "bytea", 17 }, { "date", 1082 }, { "datetime", 1114 },
        { "timestamp", 1114 }, { "timestamptz", 1184 }, { "timestamp with time zone", 1184 },
        { "json", 114 }, { "jsonb", 3802 }, { "text", 25 }, { "varchar", 1043 }, { "VARCHAR(20)", 1043 },
        { "varchar ( 20 )", 1043 }, { "character varying(8)", 1043 }, { "char(22)", 1042 },
        { "character", 1042 }, { "bpchar", 1042 }, { "uuid", 2950 }, { "", 0 }, { "  ", 0 },
        { "whatever", 0 }, { "int[]", 0 }, { "varchar2", 0 },
        { "a very long type name that overflows the normalisation buffer", 0 },
    };
    for (size_t i = 0; i < sizeof c / sizeof *c; i++)
        assert_int_equal(pgwire_oid_from_decltype(c[i].t), c[i].oid);
    assert_int_equal(pgwire_oid_from_decltype(NULL), 0);
    assert_int_equal(pgwire_oid_from_sqlite_type(1), 20);
    assert_int_equal(pgwire_oid_from_sqlite_type(2), 701);
    assert_int_equal(pgwire_oid_from_sqlite_type(3), 25);
    assert_int_equal(pgwire_oid_from_sqlite_type(4), 17);
    assert_int_equal(pgwire_oid_from_sqlite_type(5), 25);
    assert_int_equal(pgwire_type_len(PGWIRE_INT8), 8);
    assert_int_equal(pgwire_type_len(PGWIRE_BOOL), 1);
    assert_int_equal(pgwire_type_len(PGWIRE_TEXT), -1);
    assert_int_equal(pgwire_type_len(PGWIRE_UUID), 16);
}

static void test_command_tags(void **state)
{
    (void)state;
    struct { const char *sql; int64_t rows, changes; const char *tag; } c[] = {
        { "SELECT 1", 1, 0, "SELECT 1" },
        { "  select * from t", 5, 0, "SELECT 5" },
        { "/* c /* nested */ */ -- x\n SELECT 1", 1, 0, "SELECT 1" },
        { "(SELECT 1) UNION (SELECT 2)", 2, 0, "SELECT 2" },
        { "VALUES (1), (2)", 2, 0, "SELECT 2" },
        { "TABLE t", 3, 0, "SELECT 3" },
        { "insert into t values (1)", 0, 1, "INSERT 0 1" },
        { "INSERT INTO t VALUES (1) RETURNING id", 1, 1, "INSERT 0 1" },
        { "UPDATE t SET a = 1", 0, 7, "UPDATE 7" },
        { "delete from t", 0, 0, "DELETE 0" },
        { "WITH x AS (SELECT 1) SELECT * FROM x", 1, 0, "SELECT 1" },
        { "with recursive x(n) as (select 1 union all select n+1 from x where n < 3) select n from x", 3, 0, "SELECT 3" },
        { "WITH a AS (SELECT ')'), b AS MATERIALIZED (SELECT $$ ) $$) INSERT INTO t SELECT 1", 0, 1, "INSERT 0 1" },
        { "WITH d AS (DELETE FROM t RETURNING *) SELECT count(*) FROM d", 1, 0, "SELECT 1" },
        { "WITH u AS NOT MATERIALIZED (SELECT 1) UPDATE t SET a = 2", 0, 4, "UPDATE 4" },
        { "BEGIN", 0, 0, "BEGIN" },
        { "begin isolation level serializable", 0, 0, "BEGIN" },
        { "START TRANSACTION", 0, 0, "START TRANSACTION" },
        { "COMMIT", 0, 0, "COMMIT" },
        { "end", 0, 0, "COMMIT" },
        { "ROLLBACK", 0, 0, "ROLLBACK" },
        { "abort", 0, 0, "ROLLBACK" },
        { "ROLLBACK TO SAVEPOINT a", 0, 0, "ROLLBACK" },
        { "create table t(a int)", 0, 0, "CREATE TABLE" },
        { "CREATE TEMP TABLE IF NOT EXISTS t (a int)", 0, 0, "CREATE TABLE" },
        { "create unlogged table pgbench_accounts(aid int)", 0, 0, "CREATE TABLE" },
        { "CREATE TABLE t AS SELECT 1", 1, 1, "SELECT 1" },
        { "CREATE TABLE public.t AS SELECT 1", 1, 1, "SELECT 1" },
        { "CREATE UNIQUE INDEX i ON t(a)", 0, 0, "CREATE INDEX" },
        { "CREATE OR REPLACE VIEW v AS SELECT 1", 0, 0, "CREATE VIEW" },
        { "CREATE MATERIALIZED VIEW v AS SELECT 1", 0, 0, "CREATE MATERIALIZED VIEW" },
        { "drop table if exists a, b", 0, 0, "DROP TABLE" },
        { "DROP INDEX i", 0, 0, "DROP INDEX" },
        { "alter table pgbench_branches add primary key (bid)", 0, 0, "ALTER TABLE" },
        { "SET extra_float_digits = 3", 0, 0, "SET" },
        { "RESET ALL", 0, 0, "RESET" },
        { "SHOW server_version", 1, 0, "SHOW" },
        { "COPY pgbench_accounts FROM STDIN", 100000, 100000, "COPY 100000" },
        { "vacuum analyze pgbench_branches", 0, 0, "VACUUM" },
        { "ANALYZE t", 0, 0, "ANALYZE" },
        { "analyse", 0, 0, "ANALYZE" },
        { "truncate pgbench_history", 0, 0, "TRUNCATE TABLE" },
        { "SAVEPOINT s1", 0, 0, "SAVEPOINT" },
        { "RELEASE SAVEPOINT s1", 0, 0, "RELEASE" },
        { "DEALLOCATE ALL", 0, 0, "DEALLOCATE ALL" },
        { "DEALLOCATE PREPARE s", 0, 0, "DEALLOCATE" },
        { "DISCARD ALL", 0, 0, "DISCARD ALL" },
        { "LOCK TABLE t", 0, 0, "LOCK TABLE" },
        { "explain select 1", 1, 0, "EXPLAIN" },
        { "", 0, 0, "" },
        { "-- only a comment", 0, 0, "" },
        { "WITH", 0, 0, "" },
        { "WITH x AS (", 0, 0, "" },
        { "WITH x AS (SELECT 'unterminated", 0, 0, "" },
    };
    char out[64];
    for (size_t i = 0; i < sizeof c / sizeof *c; i++) {
        pgwire_command_tag(c[i].sql, c[i].rows, c[i].changes, out, sizeof out);
        if (strcmp(out, c[i].tag))
            fprintf(stderr, "%s -> %s\n", c[i].sql, out);
        assert_string_equal(out, c[i].tag);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_frame_startup),
        cmocka_unit_test(test_frame_messages),
        cmocka_unit_test(test_parse_startup),
        cmocka_unit_test(test_parse_query),
        cmocka_unit_test(test_parse_parse),
        cmocka_unit_test(test_parse_bind),
        cmocka_unit_test(test_parse_small_messages),
        cmocka_unit_test(test_encode_auth_and_startup),
        cmocka_unit_test(test_encode_extended_and_misc),
        cmocka_unit_test(test_encode_errors),
        cmocka_unit_test(test_encode_rows),
        cmocka_unit_test(test_oids),
        cmocka_unit_test(test_command_tags),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
