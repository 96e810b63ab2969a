/* fuzz_lineproto.c - libFuzzer harness for the line protocol codec: framing under any split, argument parsing, encoder output validity. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "lineproto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#include "fuzz_check.h"

#define MAX_ARGS 8

/* ---- independent checkers (deliberately not sharing code with lineproto.c) ---- */

static int utf8_valid(const unsigned char *s, size_t n)
{
    size_t i = 0;
    while (i < n) {
        unsigned char c = s[i];
        size_t k;
        uint32_t cp;
        if (c < 0x80) {
            i++;
            continue;
        } else if ((c & 0xE0) == 0xC0) {
            k = 1;
            cp = c & 0x1F;
        } else if ((c & 0xF0) == 0xE0) {
            k = 2;
            cp = c & 0x0F;
        } else if ((c & 0xF8) == 0xF0) {
            k = 3;
            cp = c & 0x07;
        } else {
            return 0;
        }
        if (n - i <= k)
            return 0;
        for (size_t j = 1; j <= k; j++) {
            if ((s[i + j] & 0xC0) != 0x80)
                return 0;
            cp = cp << 6 | (s[i + j] & 0x3F);
        }
        static const uint32_t min[] = { 0, 0x80, 0x800, 0x10000 };
        if (cp < min[k] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
            return 0;
        i += k + 1;
    }
    return 1;
}

static int is_hex(unsigned char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

/* s[0..n) is exactly one JSON string literal in valid UTF-8. */
static void check_json_string(const unsigned char *s, size_t n)
{
    CHECK(n >= 2 && s[0] == '"' && s[n - 1] == '"');
    CHECK(utf8_valid(s, n));
    for (size_t i = 1; i < n - 1; i++) {
        CHECK(s[i] >= 0x20);
        CHECK(s[i] != '"');
        if (s[i] == '\\') {
            i++;
            CHECK(i < n - 1);
            CHECK(strchr("\"\\/bfnrtu", s[i]) != NULL);
            if (s[i] == 'u') {
                CHECK(n - 1 - i > 4);
                for (int k = 1; k <= 4; k++)
                    CHECK(is_hex(s[i + (size_t)k]));
                i += 4;
            }
        }
    }
}

/* TSV-unescape and compare: the escaping must be lossless and leave no raw TAB, LF, CR or NUL. */
static void check_tsv_roundtrip(const char *orig, size_t n)
{
    buf b;
    buf_init(&b);
    lp_put_tsv_escaped(&b, orig, n);
    if (b.oom) {
        buf_free(&b);
        return;
    }
    size_t o = 0;
    for (size_t i = 0; i < b.len; i++) {
        char c = b.data[i];
        CHECK(c != '\t' && c != '\n' && c != '\r' && c != '\0');
        if (c == '\\') {
            CHECK(i + 1 < b.len);
            char e = b.data[++i];
            CHECK(e == '\\' || e == 't' || e == 'n' || e == 'r' || e == '0');
            c = e == '\\' ? '\\' : e == 't' ? '\t' : e == 'n' ? '\n' : e == 'r' ? '\r' : '\0';
        }
        CHECK(o < n && orig[o] == c);
        o++;
    }
    CHECK(o == n);
    buf_free(&b);
}

/* Encoding then parsing back a string is the identity whenever the string was valid UTF-8. */
static void check_json_roundtrip(const char *orig, size_t n)
{
    buf b;
    buf_init(&b);
    lp_put_json_string(&b, orig, n);
    if (b.oom) {
        buf_free(&b);
        return;
    }
    check_json_string((const unsigned char *)b.data, b.len);
    char *scratch = malloc(b.len ? b.len : 1);
    CHECK(scratch);
    lp_arg a[2];
    char err[128];
    int r = lp_parse_args(b.data, b.len, a, 2, scratch, err, sizeof err);
    CHECK(r == 1);
    CHECK(a[0].type == LP_ARG_TEXT);
    if (utf8_valid((const unsigned char *)orig, n))
        CHECK(a[0].len == n && memcmp(a[0].s, orig, n) == 0);
    free(scratch);
    buf_free(&b);
}

/* ---- framing ---- */

/* Events serialised so that runs with different splits can be compared byte for byte. */
static void ev_line(buf *ev, const char *p, size_t n)
{
    buf_putc(ev, 'L');
    buf_append(ev, &n, sizeof n);
    buf_append(ev, p, n);
}

static void ev_too_long(buf *ev) { buf_putc(ev, 'T'); }

/* What the framer must report, computed the obvious way on the whole input. */
static void reference_frame(const char *s, size_t n, size_t max_line, buf *ev)
{
    size_t start = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] != '\n')
            continue;
        size_t len = i - start;
        if (len > 0 && s[i - 1] == '\r')
            len--;
        if (len > max_line)
            ev_too_long(ev);
        else
            ev_line(ev, s + start, len);
        start = i + 1;
    }
    size_t rest = n - start;
    if (rest > 0 && s[n - 1] == '\r')
        rest--;
    if (rest > max_line)
        ev_too_long(ev);
}

/* Feed s in chunks ending at cuts[] (ascending, last == n) through the documented caller loop. */
static void run_frame(const char *s, size_t n, size_t max_line, const size_t *cuts, int ncuts, buf *ev)
{
    lp_framer f;
    lp_framer_init(&f, max_line);
    char *in = malloc(n ? n : 1);
    CHECK(in);
    size_t len = 0, pos = 0;
    for (int c = 0; c < ncuts; c++) {
        CHECK(cuts[c] >= pos && cuts[c] <= n);
        memcpy(in + len, s + pos, cuts[c] - pos);
        len += cuts[c] - pos;
        pos = cuts[c];
        for (int guard = 0;; guard++) {
            CHECK(guard <= (int)n + 2);
            size_t ll = (size_t)-1, consumed = (size_t)-1;
            lp_frame_result r = lp_frame(&f, in, len, &ll, &consumed);
            CHECK(consumed <= len);
            CHECK(f.scanned <= len);
            if (r == LP_LINE) {
                CHECK(ll <= max_line);
                CHECK(consumed >= ll + 1 && consumed <= ll + 2);
                CHECK(in[consumed - 1] == '\n');
                CHECK(memchr(in, '\n', ll) == NULL);
                ev_line(ev, in, ll);
            } else if (r == LP_TOO_LONG) {
                CHECK(ll == 0);
                CHECK(consumed > 0);
                ev_too_long(ev);
            } else {
                CHECK(r == LP_NEED_MORE);
                CHECK(ll == 0);
            }
            memmove(in, in + consumed, len - consumed);
            len -= consumed;
            if (r == LP_NEED_MORE && consumed == 0)
                break;
        }
        /* The memory bound the framer promises between reads. */
        CHECK(len <= max_line + 1);
    }
    free(in);
}

/* ---- arguments ---- */

static void check_args(const char *line, size_t n)
{
    char *scratch = malloc(n ? n : 1);
    CHECK(scratch);
    lp_arg a[MAX_ARGS];
    char err[96];
    memset(err, 'x', sizeof err);
    int r = lp_parse_args(line, n, a, MAX_ARGS, scratch, err, sizeof err);
    CHECK(r == -1 || r == LP_ARGS_TOO_MANY || (r >= 0 && r <= MAX_ARGS));
    if (r < 0) {
        CHECK(memchr(err, '\0', sizeof err) != NULL);
        CHECK(err[0] != '\0');
    }
    for (int i = 0; i < r; i++) {
        if (a[i].type != LP_ARG_TEXT)
            continue;
        const char *p = a[i].s;
        size_t l = a[i].len;
        int in_line = p >= line && p <= line + n && l <= (size_t)(line + n - p);
        int in_scratch = p >= scratch && p <= scratch + n && l <= (size_t)(scratch + n - p);
        CHECK(in_line || in_scratch);
        /* Encoding what was parsed must stay valid, and usually be lossless. */
        check_json_roundtrip(p, l);
        check_tsv_roundtrip(p, l);
    }
    free(scratch);
}

/* ---- reply encoders ---- */

/* A JSON row or header: sigil, one JSON array, one newline, valid UTF-8 throughout. */
static void check_json_line(const buf *b, char sigil)
{
    CHECK(b->len >= 4);
    CHECK(b->data[0] == sigil && b->data[1] == '[');
    CHECK(b->data[b->len - 1] == '\n' && b->data[b->len - 2] == ']');
    CHECK(memchr(b->data, '\n', b->len - 1) == NULL);
    CHECK(memchr(b->data, '\r', b->len) == NULL);
    CHECK(utf8_valid((const unsigned char *)b->data, b->len));
    /* The argument parser validates arrays as JSON, so let it judge the encoder's output. */
    size_t n = b->len - 2;
    char *scratch = malloc(n);
    CHECK(scratch);
    lp_arg a[2];
    char err[96];
    int r = lp_parse_args(b->data + 1, n, a, 2, scratch, err, sizeof err);
    if (r != 1)
        fprintf(stderr, "bad JSON line: %.*s (%s)\n", (int)b->len, b->data, r < 0 ? err : "?");
    CHECK(r == 1);
    CHECK(a[0].type == LP_ARG_TEXT && a[0].len == n);
    free(scratch);
}

static void check_tsv_line(const buf *b, char sigil, int ncols)
{
    CHECK(b->len >= 2 && b->data[0] == sigil && b->data[b->len - 1] == '\n');
    CHECK(memchr(b->data, '\n', b->len - 1) == NULL);
    CHECK(memchr(b->data, '\r', b->len) == NULL);
    int tabs = 0;
    for (size_t i = 0; i < b->len; i++)
        tabs += b->data[i] == '\t';
    CHECK(tabs == (ncols > 0 ? ncols - 1 : 0));
}

static void check_encoders(const char *s, size_t n, uint8_t sel)
{
    /* Cut the bytes into up to six values; sel picks their types. */
    enum { NV = 6 };
    lp_value v[NV];
    const char *names[NV];
    size_t lens[NV];
    size_t pos = 0;
    for (int i = 0; i < NV; i++) {
        size_t take = (n - pos) / (size_t)(NV - i);
        v[i].type = (lp_val_type)((sel / (unsigned)(i + 1) + (unsigned)i) % 5u);
        v[i].p = s + pos;
        v[i].n = take;
        names[i] = s + pos;
        lens[i] = take;
        pos += take;
    }
    buf b;
    buf_init(&b);

    lp_put_row(&b, LP_FMT_JSON, v, NV);
    if (!b.oom)
        check_json_line(&b, '=');
    buf_reset(&b);
    lp_put_header(&b, LP_FMT_JSON, names, lens, NV);
    if (!b.oom)
        check_json_line(&b, '#');
    buf_reset(&b);
    lp_put_row(&b, LP_FMT_TSV, v, NV);
    if (!b.oom)
        check_tsv_line(&b, '=', NV);
    buf_reset(&b);
    lp_put_header(&b, LP_FMT_TSV, names, lens, NV);
    if (!b.oom)
        check_tsv_line(&b, '#', NV);

    /* Every value typed as a number, to hit the number-or-fallback path on arbitrary text. */
    for (int i = 0; i < NV; i++)
        v[i].type = (i & 1) ? LP_VAL_REAL : LP_VAL_INT;
    buf_reset(&b);
    lp_put_row(&b, LP_FMT_JSON, v, NV);
    if (!b.oom)
        check_json_line(&b, '=');

    check_json_roundtrip(s, n);
    check_tsv_roundtrip(s, n);

    /* The error line: one line, whatever the message holds. */
    char *msg = malloc(n + 1);
    CHECK(msg);
    memcpy(msg, s, n);
    msg[n] = '\0';
    char state[6] = { 0 };
    memcpy(state, s, n < 5 ? n : 5);
    buf_reset(&b);
    lp_put_error(&b, (sel & 1) ? state : NULL, msg);
    if (!b.oom) {
        CHECK(b.len >= 12 && memcmp(b.data, "-ERR ", 5) == 0 && b.data[10] == ' ');
        CHECK(b.data[b.len - 1] == '\n');
        CHECK(memchr(b.data, '\n', b.len - 1) == NULL);
        CHECK(memchr(b.data, '\r', b.len) == NULL);
    }
    free(msg);
    buf_free(&b);
}

static int same_events(const buf *x, const buf *y)
{
    return x->len == y->len && (x->len == 0 || memcmp(x->data, y->data, x->len) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 3)
        return 0;
    /* Small limits so that overlong lines, the '\r' at the limit and exact fits are all common. */
    size_t max_line = data[0] % 65;
    const char *s = (const char *)data + 3;
    size_t n = size - 3;

    buf want, got;
    buf_init(&want);
    buf_init(&got);
    reference_frame(s, n, max_line, &want);

    size_t whole[1] = { n };
    run_frame(s, n, max_line, whole, 1, &got);
    CHECK(same_events(&got, &want));

    size_t a = n ? data[1] % (n + 1) : 0, b = n ? data[2] % (n + 1) : 0;
    size_t cuts[3] = { a < b ? a : b, a < b ? b : a, n };
    buf_reset(&got);
    run_frame(s, n, max_line, cuts, 3, &got);
    CHECK(same_events(&got, &want));

    if (n <= 512) {
        size_t each[512];
        for (size_t i = 0; i < n; i++)
            each[i] = i + 1;
        buf_reset(&got);
        run_frame(s, n, max_line, each, (int)n, &got);
        CHECK(same_events(&got, &want));
    }

    /* Parse every line (including overlong ones: the parser has no length limit of its own). */
    size_t start = 0;
    for (size_t i = 0; i <= n; i++) {
        if (i == n || s[i] == '\n') {
            check_args(s + start, i - start);
            start = i + 1;
        }
    }

    check_encoders(s, n, data[1]);

    buf_free(&want);
    buf_free(&got);
    return 0;
}
