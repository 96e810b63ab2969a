/* lineproto.c - the line protocol's codec: request framing, CALL argument parsing and reply encoding; never touches a socket. */
#include "lineproto.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "errmsg.h"

/* ======================================================================== */
/* framing                                                                  */
/* ======================================================================== */

void lp_framer_init(lp_framer *f, size_t max_line)
{
    f->max_line = max_line;
    f->scanned = 0;
    f->discarding = 0;
}

/* How the caller drives it (one connection, `in` is its unconsumed input):
 *
 *     for (;;) {
 *         r = lp_frame(&f, in.data, in.len, &line_len, &consumed);
 *         if (r == LP_LINE)          handle(in.data, line_len);   // before dropping: it points into in
 *         else if (r == LP_TOO_LONG) reply "-ERR 54000 line too long";
 *         drop the first `consumed` bytes of in;
 *         if (r == LP_NEED_MORE && consumed == 0) break;          // now wait for the socket
 *     }
 *
 * Stopping at the first LP_NEED_MORE is a bug: the call that finds the end of a discarded line
 * returns LP_NEED_MORE with consumed > 0, and complete lines may already sit behind it.
 * Dropping exactly *consumed bytes (no more, no fewer) is what keeps f->scanned meaningful; after
 * LP_NEED_MORE with consumed == 0 the caller may append bytes but must not remove any.
 * Between reads the caller holds at most max_line + 1 unconsumed bytes (an overlong line is
 * reported and consumed as soon as it shows, and discarding consumes everything it sees), so a
 * client streaming an endless line costs no more than that plus one read's worth of buffer. */
lp_frame_result lp_frame(lp_framer *f, const char *in, size_t len, size_t *line_len, size_t *consumed)
{
    *line_len = 0;
    *consumed = 0;

    if (f->discarding) {
        const char *nl = len ? memchr(in, '\n', len) : NULL;
        f->scanned = 0;
        if (!nl) {
            *consumed = len;
            return LP_NEED_MORE;
        }
        *consumed = (size_t)(nl - in) + 1;
        f->discarding = 0;
        return LP_NEED_MORE;
    }

    /* A caller that shrank the buffer behind our back gets a rescan rather than a skipped newline. */
    if (f->scanned > len)
        f->scanned = 0;

    const char *nl = len > f->scanned ? memchr(in + f->scanned, '\n', len - f->scanned) : NULL;
    if (nl) {
        size_t end = (size_t)(nl - in);
        size_t n = end;
        if (n > 0 && in[n - 1] == '\r')
            n--;
        f->scanned = 0;
        *consumed = end + 1;
        if (n > f->max_line)
            return LP_TOO_LONG;
        *line_len = n;
        return LP_LINE;
    }

    f->scanned = len;
    /* Without a newline the line holds at least len bytes, less one if the last is the first half
     * of a "\r\n"; past max_line it can only be too long, so say so now instead of buffering it. */
    size_t least = len;
    if (least > 0 && in[least - 1] == '\r')
        least--;
    if (least > f->max_line) {
        f->scanned = 0;
        f->discarding = 1;
        *consumed = len;
        return LP_TOO_LONG;
    }
    return LP_NEED_MORE;
}

/* ======================================================================== */
/* CALL arguments                                                           */
/* ======================================================================== */

#define LP_JSON_MAX_DEPTH 64

static int is_sep(char c) { return c == ' ' || c == '\t'; }
static int is_json_ws(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }
static int is_digit(char c) { return c >= '0' && c <= '9'; }

/* Length of the JSON number at s[0..len), or 0 if s does not start with one. *is_int is set when
 * it has neither fraction nor exponent. Only the prefix is checked; the caller decides what may follow. */
static size_t json_number_len(const char *s, size_t len, int *is_int)
{
    size_t i = 0;
    if (i < len && s[i] == '-')
        i++;
    if (i >= len || !is_digit(s[i]))
        return 0;
    if (s[i] == '0')
        i++;
    else
        while (i < len && is_digit(s[i]))
            i++;
    int integral = 1;
    if (i < len && s[i] == '.') {
        i++;
        if (i >= len || !is_digit(s[i]))
            return 0;
        while (i < len && is_digit(s[i]))
            i++;
        integral = 0;
    }
    if (i < len && (s[i] == 'e' || s[i] == 'E')) {
        i++;
        if (i < len && (s[i] == '+' || s[i] == '-'))
            i++;
        if (i >= len || !is_digit(s[i]))
            return 0;
        while (i < len && is_digit(s[i]))
            i++;
        integral = 0;
    }
    if (is_int)
        *is_int = integral;
    return i;
}

static int hex_val(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

static int read_hex4(const char *s, size_t len, size_t i, unsigned *out)
{
    if (len - i < 4)
        return -1;
    unsigned v = 0;
    for (int k = 0; k < 4; k++) {
        int h = hex_val(s[i + (size_t)k]);
        if (h < 0)
            return -1;
        v = v << 4 | (unsigned)h;
    }
    *out = v;
    return 0;
}

static size_t put_utf8(char *o, unsigned cp)
{
    if (cp < 0x80) {
        o[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        o[0] = (char)(0xC0 | cp >> 6);
        o[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        o[0] = (char)(0xE0 | cp >> 12);
        o[1] = (char)(0x80 | (cp >> 6 & 0x3F));
        o[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    o[0] = (char)(0xF0 | cp >> 18);
    o[1] = (char)(0x80 | (cp >> 12 & 0x3F));
    o[2] = (char)(0x80 | (cp >> 6 & 0x3F));
    o[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

/* Scan the JSON string whose opening quote is s[*pos]; on success *pos is just past the closing
 * quote. With out non-NULL the decoded bytes are written there (never more than the raw length,
 * which is why a scratch of len bytes always suffices) and *outlen is set. Returns 0, or -1 with
 * a reason in *why. */
static int json_string(const char *s, size_t len, size_t *pos, char *out, size_t *outlen, const char **why)
{
    size_t i = *pos + 1, o = 0;
    for (;;) {
        if (i >= len) {
            *why = "unterminated string";
            return -1;
        }
        unsigned char c = (unsigned char)s[i];
        if (c == '"') {
            i++;
            break;
        }
        if (c < 0x20) {
            *why = "control character in string";
            return -1;
        }
        if (c != '\\') {
            if (out)
                out[o] = (char)c;
            o++;
            i++;
            continue;
        }
        if (++i >= len) {
            *why = "unterminated string";
            return -1;
        }
        char e = s[i++], d;
        switch (e) {
        case '"': d = '"'; break;
        case '\\': d = '\\'; break;
        case '/': d = '/'; break;
        case 'b': d = '\b'; break;
        case 'f': d = '\f'; break;
        case 'n': d = '\n'; break;
        case 'r': d = '\r'; break;
        case 't': d = '\t'; break;
        case 'u': {
            unsigned cp, lo;
            if (read_hex4(s, len, i, &cp) < 0) {
                *why = "bad \\u escape";
                return -1;
            }
            i += 4;
            if (cp >= 0xDC00 && cp <= 0xDFFF) {
                *why = "lone low surrogate";
                return -1;
            }
            if (cp >= 0xD800 && cp <= 0xDBFF) {
                if (len - i < 6 || s[i] != '\\' || s[i + 1] != 'u' || read_hex4(s, len, i + 2, &lo) < 0 ||
                    lo < 0xDC00 || lo > 0xDFFF) {
                    *why = "lone high surrogate";
                    return -1;
                }
                i += 6;
                cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
            }
            char tmp[4];
            size_t k = put_utf8(tmp, cp);
            if (out)
                memcpy(out + o, tmp, k);
            o += k;
            continue;
        }
        default:
            *why = "bad escape in string";
            return -1;
        }
        if (out)
            out[o] = d;
        o++;
    }
    *pos = i;
    if (outlen)
        *outlen = o;
    return 0;
}

static size_t skip_json_ws(const char *s, size_t len, size_t i)
{
    while (i < len && is_json_ws(s[i]))
        i++;
    return i;
}

static int json_value(const char *s, size_t len, size_t *pos, int depth, const char **why);

/* Object or array starting at s[*pos]; recursion is bounded by LP_JSON_MAX_DEPTH. */
static int json_container(const char *s, size_t len, size_t *pos, int depth, const char **why)
{
    if (depth >= LP_JSON_MAX_DEPTH) {
        *why = "JSON nested too deeply";
        return -1;
    }
    char close = s[*pos] == '{' ? '}' : ']';
    int is_obj = close == '}';
    size_t i = skip_json_ws(s, len, *pos + 1);
    if (i < len && s[i] == close) {
        *pos = i + 1;
        return 0;
    }
    for (;;) {
        if (is_obj) {
            if (i >= len || s[i] != '"') {
                *why = i >= len ? "unterminated JSON object" : "expected a string key in JSON object";
                return -1;
            }
            if (json_string(s, len, &i, NULL, NULL, why) < 0)
                return -1;
            i = skip_json_ws(s, len, i);
            if (i >= len || s[i] != ':') {
                *why = i >= len ? "unterminated JSON object" : "expected ':' in JSON object";
                return -1;
            }
            i = skip_json_ws(s, len, i + 1);
        }
        if (json_value(s, len, &i, depth + 1, why) < 0)
            return -1;
        i = skip_json_ws(s, len, i);
        if (i >= len) {
            *why = is_obj ? "unterminated JSON object" : "unterminated JSON array";
            return -1;
        }
        if (s[i] == close) {
            *pos = i + 1;
            return 0;
        }
        if (s[i] != ',') {
            *why = "bad JSON nesting or missing ','";
            return -1;
        }
        i = skip_json_ws(s, len, i + 1);
    }
}

static int json_value(const char *s, size_t len, size_t *pos, int depth, const char **why)
{
    size_t i = *pos;
    if (i >= len) {
        *why = "missing JSON value";
        return -1;
    }
    char c = s[i];
    if (c == '"')
        return json_string(s, len, pos, NULL, NULL, why);
    if (c == '[' || c == '{')
        return json_container(s, len, pos, depth, why);
    static const char *const lits[] = { "true", "false", "null" };
    for (size_t k = 0; k < sizeof lits / sizeof lits[0]; k++) {
        size_t n = strlen(lits[k]);
        if (len - i >= n && memcmp(s + i, lits[k], n) == 0) {
            *pos = i + n;
            return 0;
        }
    }
    size_t n = json_number_len(s + i, len - i, NULL);
    if (n == 0) {
        *why = "bad JSON value";
        return -1;
    }
    *pos = i + n;
    return 0;
}

/* Integer text that passed json_number_len; 0 when it does not fit an int64. */
static int parse_i64(const char *s, size_t n, int64_t *out)
{
    int neg = s[0] == '-';
    uint64_t limit = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX, v = 0;
    for (size_t i = (size_t)neg; i < n; i++) {
        unsigned dgt = (unsigned)(s[i] - '0');
        if (v > (limit - dgt) / 10)
            return 0;
        v = v * 10 + dgt;
    }
    if (!neg)
        *out = (int64_t)v;
    else if (v == (uint64_t)INT64_MAX + 1) /* its magnitude has no int64 to negate */
        *out = INT64_MIN;
    else
        *out = -(int64_t)v;
    return 1;
}

/* strtod wants a NUL-terminated string and our token is a slice; JSON numbers are plain ASCII
 * and the server never calls setlocale, so strtod's '.' is the decimal point. */
static int parse_double(const char *s, size_t n, double *out)
{
    char tmp[128];
    char *p = n < sizeof tmp ? tmp : malloc(n + 1);
    if (!p)
        return -1;
    memcpy(p, s, n);
    p[n] = '\0';
    *out = strtod(p, NULL);
    if (p != tmp)
        free(p);
    return 0;
}

int lp_parse_args(const char *s, size_t len, lp_arg *args, int max_args,
                  char *scratch, char *err, size_t errlen)
{
    size_t i = 0, used = 0;
    int n = 0;
    if (err && errlen)
        err[0] = '\0';
    for (;;) {
        while (i < len && is_sep(s[i]))
            i++;
        if (i >= len)
            return n;
        if (n >= max_args) {
            errmsg_set(err, errlen, "too many arguments (at most %d)", max_args < 0 ? 0 : max_args);
            return LP_ARGS_TOO_MANY;
        }
        lp_arg *a = &args[n];
        memset(a, 0, sizeof *a);
        size_t start = i;
        const char *why = NULL;
        char c = s[i];

        if (c == '"') {
            size_t olen = 0;
            if (json_string(s, len, &i, scratch + used, &olen, &why) < 0)
                goto bad;
            a->type = LP_ARG_TEXT;
            a->s = scratch + used;
            a->len = olen;
            used += olen;
        } else if (c == '[' || c == '{') {
            if (json_container(s, len, &i, 0, &why) < 0)
                goto bad;
            a->type = LP_ARG_TEXT;
            a->s = s + start;
            a->len = i - start;
        } else {
            /* A bare word runs to the next separator; it is a JSON literal or number only if the
             * whole word is one, so `12abc` and `nullable` stay text. */
            while (i < len && !is_sep(s[i]))
                i++;
            const char *w = s + start;
            size_t wl = i - start;
            int is_int = 0;
            if (wl == 4 && memcmp(w, "true", 4) == 0) {
                a->type = LP_ARG_INT;
                a->i = 1;
            } else if (wl == 5 && memcmp(w, "false", 5) == 0) {
                a->type = LP_ARG_INT;
                a->i = 0;
            } else if (wl == 4 && memcmp(w, "null", 4) == 0) {
                a->type = LP_ARG_NULL;
            } else if (json_number_len(w, wl, &is_int) == wl) {
                if (is_int && parse_i64(w, wl, &a->i)) {
                    a->type = LP_ARG_INT;
                } else {
                    a->type = LP_ARG_REAL;
                    if (parse_double(w, wl, &a->d) < 0) {
                        errmsg_set(err, errlen, "argument %d: out of memory", n + 1);
                        return -1;
                    }
                }
            } else {
                a->type = LP_ARG_TEXT;
                a->s = w;
                a->len = wl;
            }
        }
        if (i < len && !is_sep(s[i])) {
            why = "unexpected characters after JSON value (missing space?)";
            goto bad;
        }
        n++;
        continue;
    bad:
        errmsg_set(err, errlen, "argument %d: %s", n + 1, why);
        return -1;
    }
}

/* ======================================================================== */
/* reply encoding                                                           */
/* ======================================================================== */

static const char hexdig[] = "0123456789abcdef";

void lp_put_tsv_escaped(buf *b, const char *s, size_t n)
{
    if (!s) {
        s = "";
        n = 0;
    }
    size_t run = 0;
    for (size_t i = 0; i < n; i++) {
        char e;
        switch (s[i]) {
        case '\\': e = '\\'; break;
        case '\t': e = 't'; break;
        case '\n': e = 'n'; break;
        case '\r': e = 'r'; break;
        case '\0': e = '0'; break; /* a raw NUL would cut the field short for C string readers */
        default: continue;
        }
        buf_append(b, s + run, i - run);
        char esc[2] = { '\\', e };
        buf_append(b, esc, 2);
        run = i + 1;
    }
    buf_append(b, s + run, n - run);
}

/* Length of the well-formed UTF-8 sequence at s[0..n), or 0 with *bad set to how many bytes form
 * the maximal ill-formed prefix (Unicode's "substitution of maximal subparts": one U+FFFD each). */
static size_t utf8_seq(const unsigned char *s, size_t n, size_t *bad)
{
    unsigned char c = s[0];
    size_t need;
    unsigned char lo = 0x80, hi = 0xBF;
    if (c < 0x80)
        return 1;
    if (c >= 0xC2 && c <= 0xDF)
        need = 1;
    else if (c >= 0xE0 && c <= 0xEF) {
        need = 2;
        if (c == 0xE0)
            lo = 0xA0; /* overlong */
        if (c == 0xED)
            hi = 0x9F; /* surrogates */
    } else if (c >= 0xF0 && c <= 0xF4) {
        need = 3;
        if (c == 0xF0)
            lo = 0x90; /* overlong */
        if (c == 0xF4)
            hi = 0x8F; /* past U+10FFFF */
    } else {
        *bad = 1;
        return 0;
    }
    size_t k = 1;
    for (; k <= need; k++) {
        if (k >= n || s[k] < lo || s[k] > hi) {
            *bad = k;
            return 0;
        }
        lo = 0x80;
        hi = 0xBF;
    }
    return k;
}

void lp_put_json_string(buf *b, const char *s, size_t n)
{
    if (!s) {
        s = "";
        n = 0;
    }
    const unsigned char *u = (const unsigned char *)s;
    buf_putc(b, '"');
    size_t run = 0, i = 0;
    while (i < n) {
        unsigned char c = u[i];
        if (c >= 0x20 && c != '"' && c != '\\' && c < 0x80) {
            i++;
            continue;
        }
        if (c >= 0x80) {
            size_t bad = 0, k = utf8_seq(u + i, n - i, &bad);
            if (k) {
                i += k;
                continue;
            }
            buf_append(b, s + run, i - run);
            buf_append(b, "\xEF\xBF\xBD", 3);
            i += bad;
            run = i;
            continue;
        }
        buf_append(b, s + run, i - run);
        char esc[6] = { '\\', 0, 0, 0, 0, 0 };
        size_t el = 2;
        switch (c) {
        case '"': esc[1] = '"'; break;
        case '\\': esc[1] = '\\'; break;
        case '\n': esc[1] = 'n'; break;
        case '\r': esc[1] = 'r'; break;
        case '\t': esc[1] = 't'; break;
        case '\b': esc[1] = 'b'; break;
        case '\f': esc[1] = 'f'; break;
        default:
            esc[1] = 'u';
            esc[2] = '0';
            esc[3] = '0';
            esc[4] = hexdig[c >> 4];
            esc[5] = hexdig[c & 15];
            el = 6;
        }
        buf_append(b, esc, el);
        i++;
        run = i;
    }
    buf_append(b, s + run, n - run);
    buf_putc(b, '"');
}

static void put_hex(buf *b, const unsigned char *p, size_t n)
{
    char tmp[128];
    size_t t = 0;
    for (size_t i = 0; i < n; i++) {
        tmp[t++] = hexdig[p[i] >> 4];
        tmp[t++] = hexdig[p[i] & 15];
        if (t == sizeof tmp) {
            buf_append(b, tmp, t);
            t = 0;
        }
    }
    buf_append(b, tmp, t);
}

static int ci_eq(const char *s, size_t n, const char *lit)
{
    size_t m = strlen(lit);
    if (n != m)
        return 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (c >= 'A' && c <= 'Z')
            c = (char)(c - 'A' + 'a');
        if (c != lit[i])
            return 0;
    }
    return 1;
}

/* SQLite's text for a number is trusted only as far as it is a JSON number: "Inf"/"NaN" (and a
 * grammatical "9.0e+999" that overflows) become null, and anything else odd is kept as a string
 * so the row still parses. */
static void put_json_number(buf *b, lp_val_type type, const char *p, size_t n)
{
    int is_int = 0;
    if (n > 0 && json_number_len(p, n, &is_int) == n) {
        double d = 0;
        if (type == LP_VAL_REAL && !is_int && parse_double(p, n, &d) == 0 && !isfinite(d)) {
            buf_puts(b, "null");
            return;
        }
        buf_append(b, p, n);
        return;
    }
    if (type == LP_VAL_REAL) {
        const char *q = p;
        size_t m = n;
        if (m > 0 && (q[0] == '-' || q[0] == '+')) {
            q++;
            m--;
        }
        if (ci_eq(q, m, "inf") || ci_eq(q, m, "infinity") || ci_eq(q, m, "nan")) {
            buf_puts(b, "null");
            return;
        }
    }
    lp_put_json_string(b, p, n);
}

void lp_put_header(buf *b, lp_format fmt, const char *const *names, const size_t *lens, int ncols)
{
    buf_putc(b, '#');
    if (fmt == LP_FMT_JSON)
        buf_putc(b, '[');
    for (int i = 0; i < ncols; i++) {
        const char *nm = names[i] ? names[i] : "";
        size_t nl = lens ? lens[i] : strlen(nm);
        if (i > 0)
            buf_putc(b, fmt == LP_FMT_JSON ? ',' : '\t');
        if (fmt == LP_FMT_JSON)
            lp_put_json_string(b, nm, nl);
        else
            lp_put_tsv_escaped(b, nm, nl);
    }
    if (fmt == LP_FMT_JSON)
        buf_putc(b, ']');
    buf_putc(b, '\n');
}

void lp_put_row(buf *b, lp_format fmt, const lp_value *vals, int ncols)
{
    int json = fmt == LP_FMT_JSON;
    buf_putc(b, '=');
    if (json)
        buf_putc(b, '[');
    for (int i = 0; i < ncols; i++) {
        const lp_value *v = &vals[i];
        const char *p = v->p ? v->p : "";
        size_t n = v->p ? v->n : 0;
        if (i > 0)
            buf_putc(b, json ? ',' : '\t');
        switch (v->type) {
        case LP_VAL_NULL:
            buf_puts(b, json ? "null" : "\\N");
            break;
        case LP_VAL_INT:
        case LP_VAL_REAL:
            if (json)
                put_json_number(b, v->type, p, n);
            else
                lp_put_tsv_escaped(b, p, n);
            break;
        case LP_VAL_BLOB:
            /* "\\x" in JSON is the string backslash-x, the same text TSV carries. */
            buf_puts(b, json ? "\"\\\\x" : "\\x");
            put_hex(b, (const unsigned char *)p, n);
            if (json)
                buf_putc(b, '"');
            break;
        case LP_VAL_TEXT:
        default:
            if (json)
                lp_put_json_string(b, p, n);
            else
                lp_put_tsv_escaped(b, p, n);
            break;
        }
    }
    if (json)
        buf_putc(b, ']');
    buf_putc(b, '\n');
}

/* A SQLSTATE is five of [0-9A-Z]; anything else would let a caller's bug break the status line. */
static int valid_sqlstate(const char *s)
{
    for (int i = 0; i < 5; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'A' && s[i] <= 'Z')))
            return 0;
    return s[5] == '\0';
}

void lp_put_error(buf *b, const char *sqlstate, const char *msg)
{
    buf_puts(b, "-ERR ");
    buf_puts(b, sqlstate && valid_sqlstate(sqlstate) ? sqlstate : "XX000");
    buf_putc(b, ' ');
    if (!msg || !*msg)
        msg = "unknown error";
    /* A CR or LF in the message would end the status line early and desync the client. */
    const char *run = msg, *p = msg;
    for (; *p; p++) {
        if (*p == '\r' || *p == '\n') {
            buf_append(b, run, (size_t)(p - run));
            buf_putc(b, ' ');
            run = p + 1;
        }
    }
    buf_append(b, run, (size_t)(p - run));
    buf_putc(b, '\n');
}
