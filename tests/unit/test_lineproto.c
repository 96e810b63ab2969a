/* test_lineproto.c - unit tests for the line protocol codec: framing, CALL arguments and reply encoding. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "buf.h"
#include "lineproto.h"

/* ---- framing helpers ---------------------------------------------------- */

/* What a connection would see: lines as text, a too-long line as "<TOO_LONG>". */
typedef struct feed {
    lp_framer f;
    char      in[4096];   /* unconsumed input, as a connection keeps it */
    size_t    len;
    size_t    peak;       /* most unconsumed bytes held between feeds */
    char      events[64][256];
    int       nevents;
} feed;

static void feed_init(feed *fd, size_t max_line)
{
    memset(fd, 0, sizeof *fd);
    lp_framer_init(&fd->f, max_line);
}

/* Append bytes and run the documented caller loop until the framer needs more. */
static void feed_bytes(feed *fd, const char *p, size_t n)
{
    assert_true(fd->len + n <= sizeof fd->in);
    memcpy(fd->in + fd->len, p, n);
    fd->len += n;
    for (;;) {
        size_t ll = 99, consumed = 99;
        lp_frame_result r = lp_frame(&fd->f, fd->in, fd->len, &ll, &consumed);
        assert_true(consumed <= fd->len);
        if (r == LP_LINE) {
            assert_true(ll <= fd->f.max_line);
            assert_true(ll < sizeof fd->events[0]);
            assert_int_equal(fd->in[consumed - 1], '\n');
            memcpy(fd->events[fd->nevents], fd->in, ll);
            fd->events[fd->nevents][ll] = '\0';
            fd->nevents++;
        } else if (r == LP_TOO_LONG) {
            strcpy(fd->events[fd->nevents++], "<TOO_LONG>");
        }
        memmove(fd->in, fd->in + consumed, fd->len - consumed);
        fd->len -= consumed;
        if (r == LP_NEED_MORE && consumed == 0)
            break;
    }
    if (fd->len > fd->peak)
        fd->peak = fd->len;
}

static void feed_str(feed *fd, const char *s) { feed_bytes(fd, s, strlen(s)); }

static void feed_bytewise(feed *fd, const char *s)
{
    for (; *s; s++)
        feed_bytes(fd, s, 1);
}

/* ---- framing ------------------------------------------------------------ */

static void test_frame_single_line(void **state)
{
    (void)state;
    feed fd;
    feed_init(&fd, 64);
    feed_str(&fd, "PING\n");
    assert_int_equal(fd.nevents, 1);
    assert_string_equal(fd.events[0], "PING");
    assert_int_equal(fd.len, 0);
}

static void test_frame_crlf(void **state)
{
    (void)state;
    feed fd;
    feed_init(&fd, 64);
    feed_str(&fd, "PING\r\nQUIT\r\n");
    assert_int_equal(fd.nevents, 2);
    assert_string_equal(fd.events[0], "PING");
    assert_string_equal(fd.events[1], "QUIT");
}

static void test_frame_only_one_cr_stripped(void **state)
{
    (void)state;
    feed fd;
    feed_init(&fd, 64);
    feed_str(&fd, "a\r\r\n");
    assert_int_equal(fd.nevents, 1);
    assert_string_equal(fd.events[0], "a\r");
}

static void test_frame_lone_cr_inside(void **state)
{
    (void)state;
    feed fd;
    feed_init(&fd, 64);
    feed_str(&fd, "a\rb\n\rc\n");
    assert_int_equal(fd.nevents, 2);
    assert_string_equal(fd.events[0], "a\rb");
    assert_string_equal(fd.events[1], "\rc");
}

static void test_frame_bytewise(void **state)
{
    (void)state;
    feed fd;
    feed_init(&fd, 64);
    feed_bytewise(&fd, "SELECT 1\r\nPING\nQ");
    assert_int_equal(fd.nevents, 2);
    assert_string_equal(fd.events[0], "SELECT 1");
    assert_string_equal(fd.events[1], "PING");
    assert_int_equal(fd.len, 1); /* "Q" waits for its newline */
}

static void test_frame_never_rescans(void **state)
{
    (void)state;
    lp_framer f;
    lp_framer_init(&f, 64);
    size_t ll, c;
    const char *s = "abcdef\n";
    assert_int_equal(lp_frame(&f, s, 3, &ll, &c), LP_NEED_MORE);
    assert_int_equal(c, 0);
    assert_int_equal(f.scanned, 3);
    assert_int_equal(lp_frame(&f, s, 5, &ll, &c), LP_NEED_MORE);
    assert_int_equal(f.scanned, 5);
    assert_int_equal(lp_frame(&f, s, 7, &ll, &c), LP_LINE);
    assert_int_equal(ll, 6);
    assert_int_equal(c, 7);
    assert_int_equal(f.scanned, 0);
}

static void test_frame_many_lines(void **state)
{
    (void)state;
    feed fd;
    feed_init(&fd, 64);
    feed_str(&fd, "one\ntwo\r\nthree\nfour\nfive");
    assert_int_equal(fd.nevents, 4);
    assert_string_equal(fd.events[0], "one");
    assert_string_equal(fd.events[1], "two");
    assert_string_equal(fd.events[2], "three");
    assert_string_equal(fd.events[3], "four");
    feed_str(&fd, "\n");
    assert_int_equal(fd.nevents, 5);
    assert_string_equal(fd.events[4], "five");
}

static void test_frame_empty_lines(void **state)
{
    (void)state;
    feed fd;
    feed_init(&fd, 64);
    feed_str(&fd, "\n\r\n\nx\n");
    assert_int_equal(fd.nevents, 4);
    assert_string_equal(fd.events[0], "");
    assert_string_equal(fd.events[1], "");
    assert_string_equal(fd.events[2], "");
    assert_string_equal(fd.events[3], "x");
}

static void test_frame_exactly_max_line(void **state)
{
    (void)state;
    feed fd;
    feed_init(&fd, 8);
    feed_str(&fd, "12345678\n");
    feed_str(&fd, "12345678\r\n");
    feed_bytewise(&fd, "12345678\r\n");
    assert_int_equal(fd.nevents, 3);
    for (int i = 0; i < 3; i++)
        assert_string_equal(fd.events[i], "12345678");
}

static void test_frame_max_line_plus_one(void **state)
{
    (void)state;
    feed fd;
    feed_init(&fd, 8);
    feed_str(&fd, "123456789\nok\n");
    assert_int_equal(fd.nevents, 2);
    assert_string_equal(fd.events[0], "<TOO_LONG>");
    assert_string_equal(fd.events[1], "ok");

    /* Byte by byte it is reported at the 9th byte, before its newline arrives. */
    feed_init(&fd, 8);
    feed_bytewise(&fd, "123456789");
    assert_int_equal(fd.nevents, 1);
    assert_string_equal(fd.events[0], "<TOO_LONG>");
    assert_int_equal(fd.len, 0);
    feed_str(&fd, "\nok\n");
    assert_int_equal(fd.nevents, 2);
    assert_string_equal(fd.events[1], "ok");
}

static void test_frame_pending_cr_at_limit(void **state)
{
    (void)state;
    lp_framer f;
    lp_framer_init(&f, 4);
    size_t ll, c;
    /* Four bytes and a '\r' may still be "abcd\r\n": wait rather than reject. */
    assert_int_equal(lp_frame(&f, "abcd\r", 5, &ll, &c), LP_NEED_MORE);
    assert_int_equal(c, 0);
    /* ...but a '\r' followed by anything else makes five bytes of content. */
    assert_int_equal(lp_frame(&f, "abcd\rx", 6, &ll, &c), LP_TOO_LONG);
    assert_int_equal(c, 6);
    assert_int_equal(lp_frame(&f, "\n", 1, &ll, &c), LP_NEED_MORE);
    assert_int_equal(c, 1);
    assert_int_equal(f.discarding, 0);

    lp_framer_init(&f, 4);
    assert_int_equal(lp_frame(&f, "abcd\r", 5, &ll, &c), LP_NEED_MORE);
    assert_int_equal(lp_frame(&f, "abcd\r\n", 6, &ll, &c), LP_LINE);
    assert_int_equal(ll, 4);
    assert_int_equal(c, 6);
}

static void test_frame_overlong_in_chunks(void **state)
{
    (void)state;
    feed fd;
    feed_init(&fd, 16);
    feed_str(&fd, "PING\n0123456789");
    assert_int_equal(fd.nevents, 1);
    feed_str(&fd, "0123456789");          /* 20 bytes: over the limit, no newline yet */
    assert_int_equal(fd.nevents, 2);
    assert_string_equal(fd.events[1], "<TOO_LONG>");
    assert_int_equal(fd.len, 0);          /* nothing of it is kept */
    for (int i = 0; i < 50; i++)
        feed_str(&fd, "0123456789");      /* discarded as it arrives, reported once */
    assert_int_equal(fd.nevents, 2);
    assert_int_equal(fd.len, 0);
    feed_str(&fd, "tail\r\nSELECT 1\nPI");
    assert_int_equal(fd.nevents, 3);
    assert_string_equal(fd.events[2], "SELECT 1");
    feed_str(&fd, "NG\n");
    assert_int_equal(fd.nevents, 4);
    assert_string_equal(fd.events[3], "PING");
    assert_true(fd.peak <= 17);
}

static void test_frame_overlong_complete(void **state)
{
    (void)state;
    feed fd;
    feed_init(&fd, 4);
    feed_str(&fd, "abcdefghij\nok\nabcdefgh\r\n\nx\n");
    assert_int_equal(fd.nevents, 5);
    assert_string_equal(fd.events[0], "<TOO_LONG>");
    assert_string_equal(fd.events[1], "ok");
    assert_string_equal(fd.events[2], "<TOO_LONG>");
    assert_string_equal(fd.events[3], "");
    assert_string_equal(fd.events[4], "x");
    assert_int_equal(fd.f.discarding, 0);

    /* One call: reported once, consumed through its newline, the next line left alone. */
    lp_framer f;
    lp_framer_init(&f, 4);
    size_t ll, c;
    assert_int_equal(lp_frame(&f, "abcdefg\nhi\n", 11, &ll, &c), LP_TOO_LONG);
    assert_int_equal(c, 8);
    assert_int_equal(f.discarding, 0);
    assert_int_equal(lp_frame(&f, "hi\n", 3, &ll, &c), LP_LINE);
    assert_int_equal(ll, 2);
}

static void test_frame_discard_end_returns_need_more(void **state)
{
    (void)state;
    lp_framer f;
    lp_framer_init(&f, 4);
    size_t ll, c;
    assert_int_equal(lp_frame(&f, "abcdefg", 7, &ll, &c), LP_TOO_LONG);
    assert_int_equal(c, 7);
    assert_int_equal(lp_frame(&f, "xx", 2, &ll, &c), LP_NEED_MORE);
    assert_int_equal(c, 2);
    /* The end of the discarded line: consumed > 0, so the caller must call again. */
    assert_int_equal(lp_frame(&f, "yy\nok\n", 6, &ll, &c), LP_NEED_MORE);
    assert_int_equal(c, 3);
    assert_int_equal(lp_frame(&f, "ok\n", 3, &ll, &c), LP_LINE);
    assert_int_equal(ll, 2);
    assert_int_equal(lp_frame(&f, "", 0, &ll, &c), LP_NEED_MORE);
    assert_int_equal(c, 0);
}

static void test_frame_zero_max_line(void **state)
{
    (void)state;
    feed fd;
    feed_init(&fd, 0);
    feed_str(&fd, "\n\r\nx\n\n");
    assert_int_equal(fd.nevents, 4);
    assert_string_equal(fd.events[0], "");
    assert_string_equal(fd.events[1], "");
    assert_string_equal(fd.events[2], "<TOO_LONG>");
    assert_string_equal(fd.events[3], "");
}

/* ---- CALL arguments ------------------------------------------------------- */

#define MAXA 16

typedef struct parsed {
    int    n;
    lp_arg a[MAXA];
    char   scratch[512];
    char   err[128];
} parsed;

static int parse_n(parsed *p, const char *s, size_t len, int max_args)
{
    memset(p, 0, sizeof *p);
    assert_true(len <= sizeof p->scratch);
    p->n = lp_parse_args(s, len, p->a, max_args, p->scratch, p->err, sizeof p->err);
    return p->n;
}

static int parse(parsed *p, const char *s) { return parse_n(p, s, strlen(s), MAXA); }

static void assert_text(const lp_arg *a, const char *want, size_t wlen)
{
    assert_int_equal(a->type, LP_ARG_TEXT);
    assert_int_equal(a->len, wlen);
    assert_memory_equal(a->s, want, wlen);
}

#define ASSERT_TEXT(a, lit) assert_text((a), (lit), sizeof(lit) - 1)

static void test_args_empty(void **state)
{
    (void)state;
    parsed p;
    assert_int_equal(parse(&p, ""), 0);
    assert_int_equal(parse(&p, "   \t  "), 0);
    assert_int_equal(parse_n(&p, "", 0, 0), 0);
}

static void test_args_json_scalars(void **state)
{
    (void)state;
    parsed p;
    assert_int_equal(parse(&p, "\"text\" 42 1.5 true false null -7 -0 0 1.5e3 2E-2 -0.0"), 12);
    ASSERT_TEXT(&p.a[0], "text");
    assert_int_equal(p.a[1].type, LP_ARG_INT);
    assert_int_equal(p.a[1].i, 42);
    assert_int_equal(p.a[2].type, LP_ARG_REAL);
    assert_true(p.a[2].d == 1.5);
    assert_int_equal(p.a[3].type, LP_ARG_INT);
    assert_int_equal(p.a[3].i, 1);
    assert_int_equal(p.a[4].type, LP_ARG_INT);
    assert_int_equal(p.a[4].i, 0);
    assert_int_equal(p.a[5].type, LP_ARG_NULL);
    assert_int_equal(p.a[6].type, LP_ARG_INT);
    assert_int_equal(p.a[6].i, -7);
    assert_int_equal(p.a[7].type, LP_ARG_INT);
    assert_int_equal(p.a[7].i, 0);
    assert_int_equal(p.a[8].type, LP_ARG_INT);
    assert_int_equal(p.a[9].type, LP_ARG_REAL);
    assert_true(p.a[9].d == 1500.0);
    assert_int_equal(p.a[10].type, LP_ARG_REAL);
    assert_true(p.a[10].d == 0.02);
    assert_int_equal(p.a[11].type, LP_ARG_REAL);
    assert_true(p.a[11].d == 0.0);
}

static void test_args_int_limits(void **state)
{
    (void)state;
    parsed p;
    assert_int_equal(parse(&p, "9223372036854775807 -9223372036854775808 9223372036854775808 "
                               "-9223372036854775809 123456789012345678901234567890"), 5);
    assert_int_equal(p.a[0].type, LP_ARG_INT);
    assert_true(p.a[0].i == INT64_MAX);
    assert_int_equal(p.a[1].type, LP_ARG_INT);
    assert_true(p.a[1].i == INT64_MIN);
    assert_int_equal(p.a[2].type, LP_ARG_REAL);
    assert_true(p.a[2].d == 9223372036854775808.0);
    assert_int_equal(p.a[3].type, LP_ARG_REAL);
    assert_true(p.a[3].d == -9223372036854775808.0);
    assert_int_equal(p.a[4].type, LP_ARG_REAL);
    assert_true(p.a[4].d > 1.2e29 && p.a[4].d < 1.3e29);
}

static void test_args_long_real(void **state)
{
    (void)state;
    /* Longer than parse_double's stack buffer. */
    char s[300] = "0.";
    memset(s + 2, '5', 200);
    s[202] = '\0';
    parsed p;
    assert_int_equal(parse(&p, s), 1);
    assert_int_equal(p.a[0].type, LP_ARG_REAL);
    assert_true(p.a[0].d > 0.555 && p.a[0].d < 0.556);
}

static void test_args_bare_words(void **state)
{
    (void)state;
    parsed p;
    assert_int_equal(parse(&p, "abc a@b.com 12abc 01 1. .5 +1 - 1e nullable True x\"y ] } , tru"), 16);
    ASSERT_TEXT(&p.a[0], "abc");
    ASSERT_TEXT(&p.a[1], "a@b.com");
    ASSERT_TEXT(&p.a[2], "12abc");
    ASSERT_TEXT(&p.a[3], "01");
    ASSERT_TEXT(&p.a[4], "1.");
    ASSERT_TEXT(&p.a[5], ".5");
    ASSERT_TEXT(&p.a[6], "+1");
    ASSERT_TEXT(&p.a[7], "-");
    ASSERT_TEXT(&p.a[8], "1e");
    ASSERT_TEXT(&p.a[9], "nullable");
    ASSERT_TEXT(&p.a[10], "True");
    ASSERT_TEXT(&p.a[11], "x\"y");
    ASSERT_TEXT(&p.a[12], "]");
    ASSERT_TEXT(&p.a[13], "}");
    ASSERT_TEXT(&p.a[14], ",");
    ASSERT_TEXT(&p.a[15], "tru");
}

static void test_args_bare_word_points_into_input(void **state)
{
    (void)state;
    parsed p;
    const char *s = "  hello ";
    assert_int_equal(parse(&p, s), 1);
    assert_ptr_equal(p.a[0].s, s + 2);
    assert_int_equal(p.a[0].len, 5);
}

static void test_args_nul_bytes(void **state)
{
    (void)state;
    parsed p;
    static const char s[] = "a\0b \"x\0y\"";
    /* NUL is part of a bare word... */
    assert_int_equal(parse_n(&p, s, 3, MAXA), 1);
    assert_text(&p.a[0], "a\0b", 3);
    /* ...but a raw control character inside a JSON string is not JSON. */
    assert_int_equal(parse_n(&p, s, sizeof s - 1, MAXA), -1);
    assert_non_null(strstr(p.err, "argument 2"));
    /* An escaped one is fine. */
    assert_int_equal(parse(&p, "\"x\\u0000y\""), 1);
    assert_text(&p.a[0], "x\0y", 3);
}

static void test_args_whitespace(void **state)
{
    (void)state;
    parsed p;
    assert_int_equal(parse(&p, " \t a \t\t b\t\"c d\"  \t"), 3);
    ASSERT_TEXT(&p.a[0], "a");
    ASSERT_TEXT(&p.a[1], "b");
    ASSERT_TEXT(&p.a[2], "c d");
}

static void test_args_escapes(void **state)
{
    (void)state;
    parsed p;
    assert_int_equal(parse(&p, "\"q\\\"b\\\\s\\/n\\nr\\rt\\tb\\bf\\f\" \"\""), 2);
    ASSERT_TEXT(&p.a[0], "q\"b\\s/n\nr\rt\tb\bf\f");
    ASSERT_TEXT(&p.a[1], "");
    assert_non_null(p.a[1].s);
}

static void test_args_unicode(void **state)
{
    (void)state;
    parsed p;
    assert_int_equal(parse(&p, "\"\\u0041\\u00e9\\u20AC\\ud83d\\ude00\" \"h\xc3\xa9llo\" caf\xc3\xa9"), 3);
    ASSERT_TEXT(&p.a[0], "A\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80");
    ASSERT_TEXT(&p.a[1], "h\xc3\xa9llo");
    ASSERT_TEXT(&p.a[2], "caf\xc3\xa9");
}

static void test_args_containers(void **state)
{
    (void)state;
    parsed p;
    const char *s = "[1, 2, \"a]b\"] {\"k\": {\"n\": [true, null, -1.5e2, \"}\\\"\"]}} [] {} [[[]]]";
    assert_int_equal(parse(&p, s), 5);
    ASSERT_TEXT(&p.a[0], "[1, 2, \"a]b\"]");
    assert_ptr_equal(p.a[0].s, s);
    ASSERT_TEXT(&p.a[1], "{\"k\": {\"n\": [true, null, -1.5e2, \"}\\\"\"]}}");
    ASSERT_TEXT(&p.a[2], "[]");
    ASSERT_TEXT(&p.a[3], "{}");
    ASSERT_TEXT(&p.a[4], "[[[]]]");

    assert_int_equal(parse(&p, "[ 1 ,\t2 ] x"), 2);
    ASSERT_TEXT(&p.a[0], "[ 1 ,\t2 ]");
    ASSERT_TEXT(&p.a[1], "x");
}

static void test_args_mixed(void **state)
{
    (void)state;
    parsed p;
    assert_int_equal(parse(&p, "getUser 42 \"a b\" {\"x\":1} null bob 3.25"), 7);
    ASSERT_TEXT(&p.a[0], "getUser");
    assert_int_equal(p.a[1].i, 42);
    ASSERT_TEXT(&p.a[2], "a b");
    ASSERT_TEXT(&p.a[3], "{\"x\":1}");
    assert_int_equal(p.a[4].type, LP_ARG_NULL);
    ASSERT_TEXT(&p.a[5], "bob");
    assert_true(p.a[6].d == 3.25);
}

static void expect_error(const char *s, const char *fragment)
{
    parsed p;
    assert_int_equal(parse(&p, s), -1);
    if (!strstr(p.err, fragment))
        fail_msg("input %s: error \"%s\" lacks \"%s\"", s, p.err, fragment);
}

static void test_args_errors(void **state)
{
    (void)state;
    expect_error("\"abc", "unterminated string");
    expect_error("a \"abc\\", "argument 2: unterminated string");
    expect_error("\"a\\qb\"", "bad escape");
    expect_error("\"\\u12\"", "bad \\u escape");
    expect_error("\"\\u12G4\"", "bad \\u escape");
    expect_error("\"\\ud83d\"", "lone high surrogate");
    expect_error("\"\\ud83dx\"", "lone high surrogate");
    expect_error("\"\\ud83d\\u0041\"", "lone high surrogate");
    expect_error("\"\\ude00\"", "lone low surrogate");
    expect_error("\"a\tb\"", "control character");
    expect_error("\"a\"b", "after JSON value");
    expect_error("[1]x", "after JSON value");
    expect_error("{}\"", "after JSON value");
    expect_error("[1,2", "unterminated JSON array");
    expect_error("[1,]", "bad JSON value");
    expect_error("[1 2]", "nesting");
    expect_error("[1}", "nesting");
    expect_error("{\"a\":1]", "nesting");
    expect_error("{a:1}", "string key");
    expect_error("{\"a\" 1}", "':'");
    expect_error("{\"a\":1", "unterminated JSON object");
    expect_error("[01]", "nesting");
    expect_error("[tru]", "bad JSON value");
    expect_error("[\"a\\x\"]", "bad escape");
    expect_error("[\"\\ud800\"]", "surrogate");
}

static void test_args_depth_limit(void **state)
{
    (void)state;
    char s[300];
    parsed p;
    for (int depth = 63; depth <= 65; depth++) {
        memset(s, '[', (size_t)depth);
        memset(s + depth, ']', (size_t)depth);
        s[2 * depth] = '\0';
        int n = parse(&p, s);
        if (depth <= 64)
            assert_int_equal(n, 1);
        else {
            assert_int_equal(n, -1);
            assert_non_null(strstr(p.err, "deep"));
        }
    }
}

static void test_args_max_args(void **state)
{
    (void)state;
    parsed p;
    assert_int_equal(parse_n(&p, "a b c", 5, 3), 3);
    assert_int_equal(parse_n(&p, "a b c  ", 7, 3), 3);
    assert_int_equal(parse_n(&p, "a b c d", 7, 3), LP_ARGS_TOO_MANY);
    assert_non_null(strstr(p.err, "too many"));
    assert_int_equal(parse_n(&p, "a", 1, 0), LP_ARGS_TOO_MANY);
    /* (len + 1) / 2 slots always suffice: the densest line is one-byte words, one space apart. */
    assert_int_equal(parse_n(&p, "a b c d", 7, 4), 4);
}

static void test_args_never_reads_past_len(void **state)
{
    (void)state;
    parsed p;
    /* Each input is cut short of what follows it in memory. */
    assert_int_equal(parse_n(&p, "\"abc\" tail", 4, MAXA), -1);
    assert_int_equal(parse_n(&p, "[1,2] tail", 4, MAXA), -1);
    assert_int_equal(parse_n(&p, "12345", 2, MAXA), 1);
    assert_int_equal(p.a[0].i, 12);
    assert_int_equal(parse_n(&p, "truex", 4, MAXA), 1);
    assert_int_equal(p.a[0].type, LP_ARG_INT);
    assert_int_equal(parse_n(&p, "\"\\u0041\"", 5, MAXA), -1);
    assert_int_equal(parse_n(&p, "\"\\ud83d\\ude00\"", 10, MAXA), -1);
}

/* ---- encoding ------------------------------------------------------------- */

static void assert_buf(buf *b, const char *want)
{
    size_t n = strlen(want);
    if (b->len != n || memcmp(b->data, want, n) != 0)
        fail_msg("got \"%.*s\" want \"%s\"", (int)b->len, b->data ? b->data : "", want);
}

static void test_tsv_escapes(void **state)
{
    (void)state;
    buf b;
    buf_init(&b);
    lp_put_tsv_escaped(&b, "a\\b\tc\nd\re\\N", 11);
    assert_buf(&b, "a\\\\b\\tc\\nd\\re\\\\N");
    buf_reset(&b);
    lp_put_tsv_escaped(&b, "", 0);
    assert_int_equal(b.len, 0);
    lp_put_tsv_escaped(&b, "x\0y\0", 4);
    assert_buf(&b, "x\\0y\\0");
    buf_free(&b);
}

static void test_tsv_header_and_row(void **state)
{
    (void)state;
    buf b;
    buf_init(&b);
    const char *names[] = { "id", "e\tmail" };
    lp_put_header(&b, LP_FMT_TSV, names, NULL, 2);
    assert_buf(&b, "#id\te\\tmail\n");

    buf_reset(&b);
    lp_value v[] = {
        { LP_VAL_INT, "1", 1 },
        { LP_VAL_REAL, "1.5", 3 },
        { LP_VAL_TEXT, "a\nb", 3 },
        { LP_VAL_NULL, NULL, 0 },
        { LP_VAL_BLOB, "\x00\xde\xAD\x7f", 4 },
        { LP_VAL_TEXT, "\\N", 2 },
        { LP_VAL_TEXT, "", 0 },
        { LP_VAL_BLOB, "", 0 },
    };
    lp_put_row(&b, LP_FMT_TSV, v, 8);
    assert_buf(&b, "=1\t1.5\ta\\nb\t\\N\t\\x00dead7f\t\\\\N\t\t\\x\n");
    buf_reset(&b);
    lp_put_row(&b, LP_FMT_TSV, v, 0);
    assert_buf(&b, "=\n");
    buf_free(&b);
}

static void test_json_header_and_row(void **state)
{
    (void)state;
    buf b;
    buf_init(&b);
    const char *names[] = { "id", "email", "q\"x" };
    const size_t lens[] = { 2, 5, 3 };
    lp_put_header(&b, LP_FMT_JSON, names, lens, 3);
    assert_buf(&b, "#[\"id\",\"email\",\"q\\\"x\"]\n");

    buf_reset(&b);
    lp_value v[] = {
        { LP_VAL_INT, "1", 1 },
        { LP_VAL_TEXT, "a@example.com", 13 },
        { LP_VAL_NULL, NULL, 0 },
        { LP_VAL_REAL, "1.0e+20", 7 },
        { LP_VAL_REAL, "-0.5", 4 },
        { LP_VAL_BLOB, "\x01\xff", 2 },
        { LP_VAL_INT, "-9223372036854775808", 20 },
    };
    lp_put_row(&b, LP_FMT_JSON, v, 7);
    assert_buf(&b, "=[1,\"a@example.com\",null,1.0e+20,-0.5,\"\\\\x01ff\",-9223372036854775808]\n");
    buf_reset(&b);
    lp_put_row(&b, LP_FMT_JSON, v, 0);
    assert_buf(&b, "=[]\n");
    buf_reset(&b);
    lp_put_header(&b, LP_FMT_JSON, names, lens, 0);
    assert_buf(&b, "#[]\n");
    buf_free(&b);
}

static void test_json_nonfinite_and_odd_numbers(void **state)
{
    (void)state;
    buf b;
    buf_init(&b);
    lp_value v[] = {
        { LP_VAL_REAL, "Inf", 3 },
        { LP_VAL_REAL, "-Inf", 4 },
        { LP_VAL_REAL, "NaN", 3 },
        { LP_VAL_REAL, "9.0e+999", 8 },  /* grammatical, but infinite */
        { LP_VAL_REAL, "-1e999", 6 },
        { LP_VAL_REAL, "1.", 2 },        /* not JSON: kept, as a string */
        { LP_VAL_INT, "007", 3 },
        { LP_VAL_INT, "", 0 },
        { LP_VAL_REAL, "1e5", 3 },
    };
    lp_put_row(&b, LP_FMT_JSON, v, 9);
    assert_buf(&b, "=[null,null,null,null,null,\"1.\",\"007\",\"\",1e5]\n");
    buf_free(&b);
}

static void test_json_string_escapes(void **state)
{
    (void)state;
    buf b;
    buf_init(&b);
    lp_put_json_string(&b, "\"\\/\n\r\t\b\f\x01\x1f\x7f\0z", 13);
    assert_buf(&b, "\"\\\"\\\\/\\n\\r\\t\\b\\f\\u0001\\u001f\x7f\\u0000z\"");
    buf_reset(&b);
    lp_put_json_string(&b, "", 0);
    assert_buf(&b, "\"\"");
    buf_free(&b);
}

static void test_json_string_utf8(void **state)
{
    (void)state;
    buf b;
    buf_init(&b);
    /* Valid sequences of each length pass through untouched. */
    const char *ok = "\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\xef\xbf\xbf\xf4\x8f\xbf\xbf";
    lp_put_json_string(&b, ok, strlen(ok));
    assert_int_equal(b.len, strlen(ok) + 2);
    assert_memory_equal(b.data + 1, ok, strlen(ok));

    struct { const char *in; const char *out; } cases[] = {
        { "a\xff" "b", "\"a\xef\xbf\xbd" "b\"" },             /* never a lead byte */
        { "\x80", "\"\xef\xbf\xbd\"" },                         /* stray continuation */
        { "\xc0\xaf", "\"\xef\xbf\xbd\xef\xbf\xbd\"" },         /* overlong '/' */
        { "\xe0\x80\x80", "\"\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\"" },
        { "\xed\xa0\x80", "\"\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\"" }, /* encoded surrogate */
        { "\xf4\x90\x80\x80", "\"\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\"" }, /* > U+10FFFF */
        { "\xe2\x82" "a", "\"\xef\xbf\xbd" "a\"" },            /* truncated: one U+FFFD */
        { "\xf0\x9f\x98", "\"\xef\xbf\xbd\"" },                 /* truncated at the end */
        { "\xe2\x82\"", "\"\xef\xbf\xbd\\\"\"" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        buf_reset(&b);
        lp_put_json_string(&b, cases[i].in, strlen(cases[i].in));
        assert_buf(&b, cases[i].out);
    }
    buf_free(&b);
}

static void test_json_roundtrip_through_args(void **state)
{
    (void)state;
    buf b;
    buf_init(&b);
    const char in[] = "tab\there \"q\" back\\slash \x01 \xe2\x82\xac nul\0end";
    lp_put_json_string(&b, in, sizeof in - 1);
    parsed p;
    assert_int_equal(parse_n(&p, b.data, b.len, MAXA), 1);
    assert_text(&p.a[0], in, sizeof in - 1);
    buf_free(&b);
}

static void test_error_line(void **state)
{
    (void)state;
    buf b;
    buf_init(&b);
    lp_put_error(&b, "54000", "line too long");
    assert_buf(&b, "-ERR 54000 line too long\n");
    buf_reset(&b);
    lp_put_error(&b, NULL, "boom");
    assert_buf(&b, "-ERR XX000 boom\n");
    buf_reset(&b);
    lp_put_error(&b, "42P01", "no such table: x\nnear line 2\r\nend\r");
    assert_buf(&b, "-ERR 42P01 no such table: x near line 2  end \n");
    buf_reset(&b);
    lp_put_error(&b, "bad\nstate", "m");
    assert_buf(&b, "-ERR XX000 m\n");
    buf_reset(&b);
    lp_put_error(&b, "4200", "m");
    assert_buf(&b, "-ERR XX000 m\n");
    buf_reset(&b);
    lp_put_error(&b, "23505", NULL);
    assert_buf(&b, "-ERR 23505 unknown error\n");
    buf_free(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_frame_single_line),
        cmocka_unit_test(test_frame_crlf),
        cmocka_unit_test(test_frame_only_one_cr_stripped),
        cmocka_unit_test(test_frame_lone_cr_inside),
        cmocka_unit_test(test_frame_bytewise),
        cmocka_unit_test(test_frame_never_rescans),
        cmocka_unit_test(test_frame_many_lines),
        cmocka_unit_test(test_frame_empty_lines),
        cmocka_unit_test(test_frame_exactly_max_line),
        cmocka_unit_test(test_frame_max_line_plus_one),
        cmocka_unit_test(test_frame_pending_cr_at_limit),
        cmocka_unit_test(test_frame_overlong_in_chunks),
        cmocka_unit_test(test_frame_overlong_complete),
        cmocka_unit_test(test_frame_discard_end_returns_need_more),
        cmocka_unit_test(test_frame_zero_max_line),
        cmocka_unit_test(test_args_empty),
        cmocka_unit_test(test_args_json_scalars),
        cmocka_unit_test(test_args_int_limits),
        cmocka_unit_test(test_args_long_real),
        cmocka_unit_test(test_args_bare_words),
        cmocka_unit_test(test_args_bare_word_points_into_input),
        cmocka_unit_test(test_args_nul_bytes),
        cmocka_unit_test(test_args_whitespace),
        cmocka_unit_test(test_args_escapes),
        cmocka_unit_test(test_args_unicode),
        cmocka_unit_test(test_args_containers),
        cmocka_unit_test(test_args_mixed),
        cmocka_unit_test(test_args_errors),
        cmocka_unit_test(test_args_depth_limit),
        cmocka_unit_test(test_args_max_args),
        cmocka_unit_test(test_args_never_reads_past_len),
        cmocka_unit_test(test_tsv_escapes),
        cmocka_unit_test(test_tsv_header_and_row),
        cmocka_unit_test(test_json_header_and_row),
        cmocka_unit_test(test_json_nonfinite_and_odd_numbers),
        cmocka_unit_test(test_json_string_escapes),
        cmocka_unit_test(test_json_string_utf8),
        cmocka_unit_test(test_json_roundtrip_through_args),
        cmocka_unit_test(test_error_line),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
