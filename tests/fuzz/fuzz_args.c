/* fuzz_args.c - libFuzzer harness for CALL argument parsing (lp_parse_args, its JSON reader): a reference JSON grammar decides, values re-encode to the same arguments, the max_args bound holds. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "lineproto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#include "fuzz_check.h"

/* The nesting lineproto.c allows (LP_JSON_MAX_DEPTH): containers nested this deep are fine. */
#define REF_MAX_DEPTH 64

/* ---- a reference reader of RFC 8259 JSON, written apart from lineproto.c ---- */

typedef struct ref {
    const unsigned char *s;
    size_t               n, i;
} ref;

static int ref_peek(const ref *r) { return r->i < r->n ? r->s[r->i] : -1; }
static void ref_ws(ref *r)
{
    while (r->i < r->n && strchr(" \t\r\n", r->s[r->i]) && r->s[r->i])
        r->i++;
}
static int ref_hex4(ref *r, unsigned *v)
{
    *v = 0;
    for (int k = 0; k < 4; k++) {
        int c = ref_peek(r);
        int h = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
        if (h < 0)
            return 0;
        *v = *v << 4 | (unsigned)h;
        r->i++;
    }
    return 1;
}

/* A string; surrogates must pair, as lineproto.c requires (stricter than the RFC, by design). */
static int ref_string(ref *r)
{
    if (ref_peek(r) != '"')
        return 0;
    r->i++;
    for (;;) {
        int c = ref_peek(r);
        if (c < 0 || c < 0x20)
            return 0;
        r->i++;
        if (c == '"')
            return 1;
        if (c != '\\')
            continue;
        c = ref_peek(r);
        r->i++;
        if (c < 0)
            return 0;
        if (strchr("\"\\/bfnrt", c) && c)
            continue;
        if (c != 'u')
            return 0;
        unsigned cp, lo;
        if (!ref_hex4(r, &cp))
            return 0;
        if (cp >= 0xDC00 && cp <= 0xDFFF)
            return 0;
        if (cp >= 0xD800 && cp <= 0xDBFF) {
            if (ref_peek(r) != '\\')
                return 0;
            r->i++;
            if (ref_peek(r) != 'u')
                return 0;
            r->i++;
            if (!ref_hex4(r, &lo) || lo < 0xDC00 || lo > 0xDFFF)
                return 0;
        }
    }
}

static int ref_digits(ref *r)
{
    size_t at = r->i;
    while (ref_peek(r) >= '0' && ref_peek(r) <= '9')
        r->i++;
    return r->i > at;
}

static int ref_number(ref *r)
{
    if (ref_peek(r) == '-')
        r->i++;
    if (ref_peek(r) == '0')
        r->i++;
    else if (!ref_digits(r))
        return 0;
    if (ref_peek(r) == '.') {
        r->i++;
        if (!ref_digits(r))
            return 0;
    }
    if (ref_peek(r) == 'e' || ref_peek(r) == 'E') {
        r->i++;
        if (ref_peek(r) == '+' || ref_peek(r) == '-')
            r->i++;
        if (!ref_digits(r))
            return 0;
    }
    return 1;
}

static int ref_value(ref *r, int depth)
{
    int c = ref_peek(r);
    if (c == '"')
        return ref_string(r);
    if (c == '[' || c == '{') {
        if (depth >= REF_MAX_DEPTH)
            return 0;
        int close = c == '[' ? ']' : '}';
        r->i++;
        ref_ws(r);
        if (ref_peek(r) == close) {
            r->i++;
            return 1;
        }
        for (;;) {
            if (close == '}') {
                if (!ref_string(r))
                    return 0;
                ref_ws(r);
                if (ref_peek(r) != ':')
                    return 0;
                r->i++;
                ref_ws(r);
            }
            if (!ref_value(r, depth + 1))
                return 0;
            ref_ws(r);
            c = ref_peek(r);
            r->i++;
            if (c == close)
                return 1;
            if (c != ',')
                return 0;
            ref_ws(r);
        }
    }
    static const char *const lits[] = {"true", "false", "null"};
    for (int k = 0; k < 3; k++) {
        size_t l = strlen(lits[k]);
        if (r->n - r->i >= l && memcmp(r->s + r->i, lits[k], l) == 0) {
            r->i += l;
            return 1;
        }
    }
    return ref_number(r);
}

static int is_sep(unsigned char c) { return c == ' ' || c == '\t'; }

/* How many arguments s[0..n) holds by the reference rules, or -1 when it must be refused. */
static int ref_count(const unsigned char *s, size_t n)
{
    ref r = {s, n, 0};
    int count = 0;
    for (;;) {
        while (r.i < n && is_sep(s[r.i]))
            r.i++;
        if (r.i >= n)
            return count;
        int c = s[r.i];
        if (c == '"' || c == '[' || c == '{') {
            if (!ref_value(&r, 0))
                return -1;
            if (r.i < n && !is_sep(s[r.i]))
                return -1;
        } else {
            while (r.i < n && !is_sep(s[r.i]))
                r.i++;
        }
        count++;
    }
}

/* ---- checks ---- */

/* Write the parsed arguments back as a line that must parse to the same values. */
static void reencode(const lp_arg *a, int n, buf *b)
{
    for (int i = 0; i < n; i++) {
        if (i)
            buf_putc(b, ' ');
        switch (a[i].type) {
        case LP_ARG_NULL: buf_puts(b, "null"); break;
        case LP_ARG_INT:  buf_printf(b, "%lld", (long long)a[i].i); break;
        case LP_ARG_REAL: buf_printf(b, "%.17g", a[i].d); break;
        default:          lp_put_json_string(b, a[i].s, a[i].len); break;
        }
    }
}

/* Strict UTF-8 (no overlongs, surrogates or code points past U+10FFFF): what the JSON encoder keeps as is. */
static int utf8_ok(const unsigned char *s, size_t n)
{
    for (size_t i = 0; i < n;) {
        unsigned c = s[i], k, cp;
        if (c < 0x80) {
            i++;
            continue;
        }
        if ((c & 0xE0) == 0xC0)
            k = 1, cp = c & 0x1F;
        else if ((c & 0xF0) == 0xE0)
            k = 2, cp = c & 0x0F;
        else if ((c & 0xF8) == 0xF0)
            k = 3, cp = c & 0x07;
        else
            return 0;
        if (n - i <= k)
            return 0;
        for (unsigned j = 1; j <= k; j++) {
            if ((s[i + j] & 0xC0) != 0x80)
                return 0;
            cp = cp << 6 | (s[i + j] & 0x3F);
        }
        static const unsigned min[] = {0, 0x80, 0x800, 0x10000};
        if (cp < min[k] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
            return 0;
        i += k + 1;
    }
    return 1;
}

static void check_same(const lp_arg *x, const lp_arg *y)
{
    if (x->type == LP_ARG_REAL && y->type == LP_ARG_INT) {
        CHECK((double)y->i == x->d);   /* 1.0 comes back as the integer 1 */
        return;
    }
    CHECK(x->type == y->type);
    switch (x->type) {
    case LP_ARG_INT:  CHECK(x->i == y->i); break;
    case LP_ARG_REAL: CHECK(x->d == y->d); break;
    case LP_ARG_TEXT: CHECK(x->len == y->len && memcmp(x->s, y->s, x->len) == 0); break;
    default: break;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1 || size > 1 << 16)
        return 0;
    int max_args = data[0] % 20;   /* small, so that "too many arguments" is common */
    size_t n = size - 1;
    char *in = malloc(n ? n : 1);   /* exact size: an over-read is an ASan report */
    char *scratch = malloc(n ? n : 1);
    lp_arg *args = malloc(sizeof *args * (size_t)(max_args ? max_args : 1));
    CHECK(in && scratch && args);
    memcpy(in, data + 1, n);
    char err[80];
    memset(err, 'x', sizeof err);
    int r = lp_parse_args(in, n, args, max_args, scratch, err, sizeof err);

    int want = ref_count((const unsigned char *)in, n);
    CHECK(r >= LP_ARGS_TOO_MANY && r <= max_args);
    if (want < 0 || want > max_args) {
        /* Refused: bad JSON (-1) or too many (LP_ARGS_TOO_MANY), whichever the parser meets first
         * (past max_args arguments it stops before a bad one further on). */
        if (r >= 0)
            fprintf(stderr, "accepted [%.*s]: %d arguments, reference says %d\n", (int)n, in, r, want);
        CHECK(r == -1 || r == LP_ARGS_TOO_MANY);
        CHECK(want >= 0 || r == -1 || max_args < (int)n); /* too many needs max_args + 1 to fit */
    } else {
        if (r != want)
            fprintf(stderr, "[%.*s]: %d arguments, reference says %d (%s)\n", (int)n, in, r, want, r < 0 ? err : "");
        CHECK(r == want);
    }
    if (r < 0) {
        CHECK(memchr(err, '\0', sizeof err) != NULL && err[0] != '\0');
    } else {
        int all_utf8 = 1, finite = 1;
        for (int i = 0; i < r; i++) {
            if (args[i].type == LP_ARG_TEXT) {
                const char *p = args[i].s;
                size_t l = args[i].len;
                int in_line = p >= in && p <= in + n && l <= (size_t)(in + n - p);
                int in_scratch = p >= scratch && p <= scratch + n && l <= (size_t)(scratch + n - p);
                CHECK(in_line || in_scratch);
                all_utf8 &= utf8_ok((const unsigned char *)p, l);
            } else if (args[i].type == LP_ARG_REAL) {
                finite &= isfinite(args[i].d);
            } else {
                CHECK(args[i].type == LP_ARG_INT || args[i].type == LP_ARG_NULL);
            }
        }
        /* Parsing what the values encode to gives them back (text that is valid UTF-8, finite reals). */
        if (all_utf8 && finite) {
            buf b;
            buf_init(&b);
            reencode(args, r, &b);
            if (!b.oom) {
                char *s2 = malloc(b.len ? b.len : 1);
                lp_arg *again = malloc(sizeof *again * (size_t)(r ? r : 1));
                CHECK(s2 && again);
                int r2 = lp_parse_args(b.data, b.len, again, r, s2, err, sizeof err);
                if (r2 != r)
                    fprintf(stderr, "re-encoded [%.*s] gave %d arguments, not %d (%s)\n", (int)b.len, b.data, r2, r, err);
                CHECK(r2 == r);
                for (int i = 0; i < r; i++)
                    check_same(&args[i], &again[i]);
                free(again);
                free(s2);
            }
            buf_free(&b);
        }
    }
    free(args);
    free(scratch);
    free(in);
    return 0;
}
