/* sqlnorm.c - cache keys from SQL text: SQLite's own tokenizer, folding case and whitespace only where SQLite cannot see the difference. */
#include "sqlnorm.h"

#include <limits.h>
#include <stdint.h>
#include <string.h>

/*
 * THE INVARIANT. SQLite's tokenizer (sqlite3GetToken, ported below byte for byte from 3.40) reads
 * the output as the same token sequence as the input, except that
 *   - whitespace and comments between two tokens became one space or nothing, and
 *   - ASCII letters of unquoted identifiers and keywords may be lowercased.
 * Spaces are dropped only next to a token that can neither extend nor be extended: ( ) , ;
 * (unless the left token is a $x/:x/@x/#x parameter, whose Tcl form "$x(...)" swallows a
 * following "(" and anything up to a space or ")"), = or == unless the other side is one of
 * < > ! = (which would fuse into <= >= != ==), and before an illegal \v token (which a space
 * before it would turn into more space). Every other gap keeps exactly one space, and
 * adjacent tokens stay adjacent, so no two tokens ever fuse ("- -1" never becomes "--1", a comment).
 * Equal token sequences are the same statement to SQLite's parser, which looks at nothing else...
 *
 * ...except in the places where SQLite keeps the source text itself, which therefore stay exact:
 *   - Result column lists (after SELECT and RETURNING). A column without AS is named by its
 *     source text, comments and inner whitespace included ("a+1  -- x"), which is both the reply
 *     header and a name that a quoted identifier can match: SELECT "a+1" FROM (SELECT a + 1 FROM t)
 *     returns the string 'a+1', the same with "a+1" inside returns numbers. Inside a list only the
 *     gaps after SELECT / DISTINCT / ALL / a top-level comma (not part of any span), and
 *     comment-free gaps before a top-level comma or the end of the list (trimmed by SQLite), are
 *     normalized; everything else there, case included, is copied as written.
 *   - CAST(x AS type): the type text is compared with strcmp() when SQLite matches expressions
 *     (a compound SELECT's ORDER BY CAST(a AS int) fails against CAST(a AS INT)). Same for TRUE
 *     and FALSE, numbers (1E5 vs 1e5) and blob literals (X'AB' vs x'AB'): never folded.
 *   - CTE column lists, WITH c(Foo): they name result columns. Their case is kept.
 *   - EXPLAIN, PRAGMA, CREATE, ALTER and ATTACH statements echo or store names and text
 *     (EXPLAIN QUERY PLAN prints aliases, CREATE stores its text): kept whole after the keyword.
 * Parameter names, string literals and quoted identifiers are tokens, hence never touched.
 *
 * A NUL byte ends SQLite's input, so every scan below stops at NUL exactly as SQLite's does (the
 * text before it is normalized as SQLite reads it); the NUL itself is kept as a token of its own.
 *
 * KEY FORMAT. The normalized text, with any 0x00 byte written as 0x00 0x01, then 0x00 0x00.
 * No other 0x00 is written, so the SQL part is prefix-free: reading up to the first 0x00 0x00
 * recovers it, and key(sql1)+X == key(sql2)+Y implies key(sql1) == key(sql2) and X == Y.
 * sqlnorm_key_args appends a count and self-delimiting typed values, so the whole key is too.
 */

/* ---- SQLite's character classes (tokenize.c, ASCII build) ---- */

enum { C_ID = 1, C_SPACE = 2 };
/* IdChar(): letters, digits, '_', '$' and every byte >= 0x80. sqlite3Isspace(): includes \v,
 * which may continue a run of spaces but cannot start one. */
static const unsigned char ctab[256] = {
    ['0' ... '9'] = C_ID, ['A' ... 'Z'] = C_ID, ['a' ... 'z'] = C_ID, ['_'] = C_ID, ['$'] = C_ID,
    [0x80 ... 0xFF] = C_ID,
    [' '] = C_SPACE, ['\t'] = C_SPACE, ['\n'] = C_SPACE, ['\v'] = C_SPACE, ['\f'] = C_SPACE, ['\r'] = C_SPACE,
};

static inline int is_digit(unsigned c) { return c - '0' < 10; }
static inline int is_xdigit(unsigned c) { return c - '0' < 10 || (c | 0x20) - 'a' < 6; }
static inline int is_alpha(unsigned c) { return (c | 0x20) - 'a' < 26; }
static inline int is_idchar(unsigned c) { return ctab[c & 0xFF] & C_ID; }
static inline int is_space(unsigned c) { return ctab[c & 0xFF] & C_SPACE; }

/* The byte at i, or 0 past the end: SQLite reads a NUL-terminated copy, so the end is a NUL. */
static inline unsigned at(const unsigned char *s, size_t n, size_t i) { return i < n ? s[i] : 0; }

enum { K_GAP, K_ID, K_NUM, K_STR, K_QID, K_BLOB, K_VAR, K_OP, K_OTHER };

/* Length of the token at s[i] (s[i] != 0) and its kind; *comment is set for a comment gap.
 * A port of sqlite3GetToken() from SQLite 3.40: the boundaries must match it exactly. */
static size_t lex(const unsigned char *s, size_t n, size_t i, int *kind, int *comment)
{
#define AT(k) at(s, n, i + (k))
    unsigned c = s[i], ch;
    size_t j;
    *comment = 0;
    switch (c) {
    case ' ': case '\t': case '\n': case '\f': case '\r':
        for (j = 1; i + j < n && is_space(s[i + j]); j++) {}
        *kind = K_GAP;
        return j;
    case '-':
        if (AT(1) == '-') {
            for (j = 2; (ch = AT(j)) != 0 && ch != '\n'; j++) {}
            *kind = K_GAP;
            *comment = 1;
            return j;
        }
        *kind = K_OP;
        if (AT(1) == '>')
            return 2 + (AT(2) == '>');
        return 1;
    case '/':
        *kind = K_OP;
        /* A slash-star that ends the input is a slash and a star, not an empty comment. */
        if (AT(1) != '*' || AT(2) == 0)
            return 1;
        for (j = 3, ch = AT(2); (ch != '*' || AT(j) != '/') && (ch = AT(j)) != 0; j++) {}
        if (ch)
            j++;
        *kind = K_GAP;
        *comment = 1;
        return j;
    case '(': case ')': case ';': case '+': case '*': case '%': case ',': case '&': case '~':
        *kind = K_OP;
        return 1;
    case '=':
        *kind = K_OP;
        return 1 + (AT(1) == '=');
    case '<':
        *kind = K_OP;
        ch = AT(1);
        return (ch == '=' || ch == '>' || ch == '<') ? 2 : 1;
    case '>':
        *kind = K_OP;
        ch = AT(1);
        return (ch == '=' || ch == '>') ? 2 : 1;
    case '!': /* alone it is illegal; "!=" is an operator */
        *kind = K_OP;
        return AT(1) == '=' ? 2 : 1;
    case '|':
        *kind = K_OP;
        return AT(1) == '|' ? 2 : 1;
    case '\'': case '"': case '`':
        for (j = 1; (ch = AT(j)) != 0; j++) {
            if (ch == c) {
                if (AT(j + 1) == c)
                    j++;
                else
                    break;
            }
        }
        if (ch == 0) { /* unterminated: one illegal token up to the end */
            *kind = K_OTHER;
            return j;
        }
        *kind = c == '\'' ? K_STR : K_QID;
        return j + 1;
    case '.':
        if (!is_digit(AT(1))) {
            *kind = K_OP;
            return 1;
        }
        /* fall through - ".5" is a number */
    case '0': case '1': case '2': case '3': case '4':
    case '5': case '6': case '7': case '8': case '9':
        *kind = K_NUM;
        if (c == '0' && (AT(1) | 0x20) == 'x' && is_xdigit(AT(2))) {
            /* 3.40 stops a hex literal at its last digit: 0x1g is 0x1 followed by g. */
            for (j = 3; is_xdigit(AT(j)); j++) {}
            return j;
        }
        for (j = 0; is_digit(AT(j)); j++) {}
        if (AT(j) == '.')
            for (j++; is_digit(AT(j)); j++) {}
        if ((AT(j) | 0x20) == 'e' &&
            (is_digit(AT(j + 1)) || ((AT(j + 1) == '+' || AT(j + 1) == '-') && is_digit(AT(j + 2)))))
            for (j += 2; is_digit(AT(j)); j++) {}
        while (is_idchar(AT(j))) /* "1abc": one illegal token */
            j++;
        return j;
    case '[':
        for (j = 1, ch = '['; ch != ']' && (ch = AT(j)) != 0; j++) {}
        *kind = ch == ']' ? K_QID : K_OTHER;
        return j;
    case '?':
        for (j = 1; is_digit(AT(j)); j++) {}
        *kind = K_VAR;
        return j;
    case '$': case '@': case '#': case ':': {
        int named = 0;
        *kind = K_VAR;
        for (j = 1; (ch = AT(j)) != 0; j++) {
            if (is_idchar(ch)) {
                named = 1;
            } else if (ch == '(' && named) {
                /* Tcl array syntax $a(...): everything up to a space or ")" belongs to the name. */
                do {
                    j++;
                } while ((ch = AT(j)) != 0 && !is_space(ch) && ch != ')');
                if (ch == ')')
                    j++;
                break;
            } else if (ch == ':' && AT(j + 1) == ':') {
                j++;
            } else {
                break;
            }
        }
        return j;
    }
    case 'x': case 'X':
        if (AT(1) == '\'') {
            for (j = 2; is_xdigit(AT(j)); j++) {}
            *kind = K_BLOB;
            if (AT(j) != '\'' || j % 2) {
                *kind = K_OTHER;
                while ((ch = AT(j)) != 0 && ch != '\'')
                    j++;
            }
            if (AT(j))
                j++;
            return j;
        }
        break;
    case 0xEF: /* a UTF-8 byte order mark where a token starts is a space */
        if (AT(1) == 0xBB && AT(2) == 0xBF) {
            *kind = K_GAP;
            return 3;
        }
        break;
    default:
        if (!is_alpha(c) && c != '_' && c < 0x80) {
            *kind = K_OTHER;
            return 1;
        }
        break;
    }
    for (j = 1; i + j < n && is_idchar(s[i + j]); j++) {}
    *kind = K_ID;
    return j;
#undef AT
}

/* ---- the few words that steer normalization ---- */

enum {
    W_NONE, W_SELECT, W_DISTINCT, W_ALL, W_FROM, W_LIST_END, W_WITH, W_RECURSIVE, W_CAST, W_AS,
    W_KEEP_STMT, W_TRUEFALSE,
};

static int eq_ci(const unsigned char *p, const char *w, size_t n)
{
    for (size_t k = 0; k < n; k++)
        if ((p[k] | 0x20) != (unsigned char)w[k]) /* w is lowercase letters: |0x20 matches only its letter */
            return 0;
    return 1;
}

/* Identifiers are most tokens, so the length and first letter pick at most one candidate. */
static int word(const unsigned char *p, size_t n)
{
    if (n < 2 || n > 9)
        return W_NONE;
#define IS(w, code) return eq_ci(p + 1, (w) + 1, n - 1) ? (code) : W_NONE
    switch ((n << 8) | (p[0] | 0x20)) {
    case 2 << 8 | 'a': IS("as", W_AS);
    case 3 << 8 | 'a': IS("all", W_ALL);
    case 4 << 8 | 'f': IS("from", W_FROM);
    case 4 << 8 | 'w': IS("with", W_WITH);
    case 4 << 8 | 'c': IS("cast", W_CAST);
    case 4 << 8 | 't': IS("true", W_TRUEFALSE);
    case 5 << 8 | 'w': IS("where", W_LIST_END);
    case 5 << 8 | 'g': IS("group", W_LIST_END);
    case 5 << 8 | 'o': IS("order", W_LIST_END);
    case 5 << 8 | 'l': IS("limit", W_LIST_END);
    case 5 << 8 | 'u': IS("union", W_LIST_END);
    case 5 << 8 | 'f': IS("false", W_TRUEFALSE);
    case 5 << 8 | 'a': IS("alter", W_KEEP_STMT);
    case 6 << 8 | 's': IS("select", W_SELECT);
    case 6 << 8 | 'h': IS("having", W_LIST_END);
    case 6 << 8 | 'e': IS("except", W_LIST_END);
    case 6 << 8 | 'p': IS("pragma", W_KEEP_STMT);
    case 6 << 8 | 'c': IS("create", W_KEEP_STMT);
    case 6 << 8 | 'a': IS("attach", W_KEEP_STMT);
    case 7 << 8 | 'e': IS("explain", W_KEEP_STMT);
    case 8 << 8 | 'd': IS("distinct", W_DISTINCT);
    case 9 << 8 | 'r':
        if (eq_ci(p, "returning", 9)) return W_SELECT;
        IS("recursive", W_RECURSIVE);
    case 9 << 8 | 'i': IS("intersect", W_LIST_END);
    }
    return W_NONE;
#undef IS
}

/* ---- hints ---- */

static void parse_hints(const unsigned char *p, size_t n, sqlnorm_hints *h)
{
    size_t i = 0;
    while (i < n) {
        while (i < n && (is_space(p[i]) || p[i] == ','))
            i++;
        size_t w = i;
        while (i < n && !is_space(p[i]) && p[i] != ',')
            i++;
        size_t wl = i - w;
        if (wl == 7 && eq_ci(p + w, "nocache", 7)) {
            h->nocache = 1;
        } else if (wl > 4 && eq_ci(p + w, "ttl", 3) && p[w + 3] == '=') {
            int64_t v = 0;
            size_t k;
            for (k = w + 4; k < i && is_digit(p[k]) && v <= INT_MAX; k++)
                v = v * 10 + (p[k] - '0');
            if (k == i && v <= INT_MAX) /* all digits and in range, else the hint is ignored */
                h->ttl = (int)v;
        }
    }
}

/* ---- the normalizer ---- */

enum { RG_NONE, RG_LIST, RG_CAST, RG_STMT }; /* the verbatim regions described at the top */

typedef struct norm {
    int64_t  depth;      /* parentheses open */
    int      rg;
    int64_t  rg_depth;   /* depth at which the region's list / CAST lives */
    int64_t  cte_depth;  /* > 0: inside a CTE column list that opened at this depth */
    uint64_t castmask;   /* bit d-1: the parenthesis at depth d was opened by CAST */
    int      free_after; /* the gap after the previous token lies outside every kept span */
    int      after_select;
    int      stmt_tokens; /* tokens so far in this statement */
    int      seen_with;
    /* the previous token, for the gap before the next one */
    int      have_prev;
    int      prev_word;
    int      prev_punct;  /* '(' ')' ',' ';' '=' (also for "==") or 0 */
    unsigned prev_last;
    int      prev_kind;
    unsigned prev_first;
    int      prev2_word;  /* and the token before it */
    int      prev2_punct;
} norm;

/* A named parameter: its Tcl form "$a(...)" would swallow a following "(". */
static inline int prev_sticky(const norm *st) { return st->prev_kind == K_VAR && st->prev_first != '?'; }

static inline int fuses_with_eq(unsigned c) { return c == '<' || c == '>' || c == '!' || c == '='; }

/* Whether a normalized gap between the previous token and one (punct, first byte) may vanish. */
static int gap_droppable(const norm *st, int punct, unsigned first)
{
    /* \v where a token starts is an illegal token, but after a space it would continue the space:
     * so no space before it (and nothing before it extends into it). */
    if (first == '\v')
        return 1;
    int a = st->prev_punct;
    if (a == '(' || a == ')' || a == ',' || a == ';')
        return 1;
    if (a == '=' && !fuses_with_eq(first))
        return 1;
    if (prev_sticky(st))
        return 0;
    if (punct == '(' || punct == ')' || punct == ',' || punct == ';')
        return 1;
    if (punct == '=' && !fuses_with_eq(st->prev_last))
        return 1;
    return 0;
}

static inline char *put_lower(char *o, const unsigned char *p, size_t n)
{
    for (size_t k = 0; k < n; k++) {
        unsigned c = p[k];
        *o++ = (char)(c - 'A' < 26 ? c + 32 : c);
    }
    return o;
}

void sqlnorm_key(const char *sql, size_t len, buf *out, sqlnorm_hints *hints)
{
    const unsigned char *s = (const unsigned char *)sql;
    if (hints) {
        hints->ttl = -1;
        hints->nocache = 0;
    }
    if (len == 0)
        s = (const unsigned char *)"";
    /* Output never outgrows the input plus one extra byte per NUL and the terminator, so one
     * reservation makes the loop below allocation-free. */
    size_t nuls = 0;
    for (const unsigned char *p = s, *e = s + len; (p = memchr(p, 0, (size_t)(e - p))) != NULL; p++)
        nuls++;
    if (buf_reserve(out, len + nuls + 2) < 0)
        return;
    char *const base = out->data + out->len;
    char *o = base;
    char *trail = NULL; /* where a run of trailing ';' starts in the output */

    norm st;
    memset(&st, 0, sizeof st);
    size_t gap = SIZE_MAX; /* start of the pending gap, which ends where the next token starts */
    int gap_text = 0; /* the gap holds a comment or a BOM, not only spaces */

    size_t i = 0;
    for (;;) {
        int kind = K_OTHER, comment = 0;
        size_t tl = 0;
        if (i < len) {
            if (s[i] == 0)
                tl = 1;
            else
                tl = lex(s, len, i, &kind, &comment);
            if (kind == K_GAP) {
                if (gap == SIZE_MAX) {
                    gap = i;
                    gap_text = 0;
                }
                /* SQLite trims only spaces off a column's text: a comment or BOM stays in it. */
                if (comment || s[i] == 0xEF)
                    gap_text = 1;
                if (comment) {
                    if (hints && s[i] == '/' && tl >= 3 && s[i + 2] == '+') {
                        size_t body_end = (tl >= 5 && s[i + tl - 2] == '*' && s[i + tl - 1] == '/') ? tl - 2 : tl;
                        parse_hints(s + i + 3, body_end - 3, hints);
                    }
                }
                i += tl;
                continue;
            }
        }
        const int eof = i >= len;
        const unsigned c = eof ? 0 : s[i];
        int punct = 0, w = W_NONE;
        if (!eof && kind == K_OP) {
            if (tl == 1 && (c == '(' || c == ')' || c == ',' || c == ';'))
                punct = (int)c;
            else if (c == '=')
                punct = '=';
        } else if (!eof && kind == K_ID) {
            w = word(s + i, tl);
        }

        /* Does this token close the result column list (or pass one of its top-level commas)? */
        int boundary = 0;
        if (st.rg == RG_LIST) {
            if (eof || punct == ';')
                boundary = 1;
            else if (st.depth == st.rg_depth)
                boundary = punct == ')' || punct == ',' || w == W_LIST_END ||
                           (w == W_FROM && st.prev_word != W_DISTINCT); /* not IS [NOT] DISTINCT FROM */
        }

        /* The gap before this token. */
        char *before_gap = o;
        int gap_kept = 0;
        if (gap != SIZE_MAX) {
            if (st.have_prev) {
                int verbatim = 0;
                switch (st.rg) {
                case RG_LIST:
                    verbatim = !st.free_after && (gap_text || !boundary);
                    break;
                case RG_CAST:
                    verbatim = !st.free_after && (gap_text || eof || !(punct == ')' && st.depth == st.rg_depth));
                    break;
                case RG_STMT:
                    verbatim = gap_text || !(eof || punct == ';');
                    break;
                }
                if (verbatim) {
                    gap_kept = 1;
                    memcpy(o, s + gap, i - gap);
                    o += i - gap;
                } else if (!eof && !gap_droppable(&st, punct, c)) {
                    *o++ = ' ';
                }
            }
            gap = SIZE_MAX;
        }
        if (eof)
            break;

        /* Regions that end before this token. */
        if (punct == ';')
            st.rg = RG_NONE;
        else if (st.rg == RG_LIST && boundary && punct != ',')
            st.rg = RG_NONE;
        else if (st.rg == RG_CAST && punct == ')' && st.depth == st.rg_depth)
            st.rg = RG_NONE;

        /* The token itself. */
        if (punct == ';') {
            /* A space before it goes too (it may follow a $param); a kept gap is column text. */
            if (!trail)
                trail = gap_kept ? o : before_gap;
        } else {
            trail = NULL;
        }
        if (c == 0) {
            *o++ = 0; /* escaped: see KEY FORMAT */
            *o++ = 1;
        } else if (kind == K_ID && w != W_TRUEFALSE &&
                   ((st.rg == RG_NONE && st.cte_depth == 0) ||
                    (st.rg == RG_LIST && st.after_select && (w == W_DISTINCT || w == W_ALL)))) {
            o = put_lower(o, s + i, tl);
        } else if (tl <= 16) {
            for (size_t k = 0; k < tl; k++)
                o[k] = (char)s[i + k];
            o += tl;
        } else {
            memcpy(o, s + i, tl);
            o += tl;
        }

        /* State after the token. */
        int free_after = 0, after_select = 0;
        if (punct == '(') {
            st.depth++;
            if (st.depth >= 1 && st.depth <= 64) {
                uint64_t bit = (uint64_t)1 << (st.depth - 1);
                st.castmask = st.prev_word == W_CAST ? st.castmask | bit : st.castmask & ~bit;
            }
            /* WITH [RECURSIVE] name ( or , name ( after a WITH: a CTE column list (or, after a
             * comma, maybe a function call, whose case is then kept for nothing). */
            int name = st.prev_kind == K_ID || st.prev_kind == K_QID || st.prev_kind == K_STR;
            int lead = st.prev2_word == W_WITH || st.prev2_word == W_RECURSIVE || (st.prev2_punct == ',' && st.seen_with);
            if (st.rg == RG_NONE && st.cte_depth == 0 && name && lead)
                st.cte_depth = st.depth;
        } else if (punct == ')') {
            if (st.cte_depth && st.depth == st.cte_depth)
                st.cte_depth = 0;
            st.depth--;
        } else if (punct == ';') {
            st.depth = 0;
            st.castmask = 0;
            st.cte_depth = 0;
            st.seen_with = 0;
            st.stmt_tokens = -1;
        }
        if (st.rg == RG_NONE && kind == K_ID) {
            if (w == W_SELECT) {
                st.rg = RG_LIST;
                st.rg_depth = st.depth;
                free_after = after_select = 1;
            } else if (w == W_KEEP_STMT && st.stmt_tokens == 0) {
                st.rg = RG_STMT;
            } else if (w == W_AS && st.depth >= 1 &&
                       (st.depth > 64 || (st.castmask >> (st.depth - 1) & 1))) {
                /* Past 64 levels CAST is not tracked: any AS is taken for one, which only keeps more. */
                st.rg = RG_CAST;
                st.rg_depth = st.depth;
                free_after = 1;
            }
        } else if (st.rg == RG_LIST && st.depth == st.rg_depth) {
            if (punct == ',' || (st.after_select && (w == W_DISTINCT || w == W_ALL)))
                free_after = 1;
        }
        if (w == W_WITH)
            st.seen_with = 1;
        st.free_after = free_after;
        st.after_select = after_select;
        st.stmt_tokens++;
        st.have_prev = 1;
        st.prev2_word = st.prev_word;
        st.prev2_punct = st.prev_punct;
        st.prev_word = w;
        st.prev_punct = punct;
        st.prev_last = s[i + tl - 1];
        st.prev_kind = kind;
        st.prev_first = c;
        i += tl;
    }
    if (trail)
        o = trail;
    *o++ = 0;
    *o++ = 0;
    out->len += (size_t)(o - base);
}

/* ---- parameter values ---- */

static void put_le(buf *out, uint64_t v, int nbytes)
{
    char b[8];
    for (int k = 0; k < nbytes; k++)
        b[k] = (char)(v >> (8 * k));
    buf_append(out, b, (size_t)nbytes);
}

void sqlnorm_key_args(buf *out, const lp_arg *args, int nargs)
{
    if (nargs < 0)
        nargs = 0;
    /* The count makes the list self-delimiting even if the caller appends more after it. */
    put_le(out, (uint64_t)nargs, 4);
    for (int k = 0; k < nargs; k++) {
        const lp_arg *a = &args[k];
        switch (a->type) {
        case LP_ARG_NULL:
            buf_putc(out, 'N');
            break;
        case LP_ARG_INT:
            buf_putc(out, 'I');
            put_le(out, (uint64_t)a->i, 8);
            break;
        case LP_ARG_REAL: {
            /* The bits, not the value: -0.0 and 0.0 bind differently (SQLite prints "-0.0"). */
            uint64_t bits;
            memcpy(&bits, &a->d, sizeof bits);
            buf_putc(out, 'R');
            put_le(out, bits, 8);
            break;
        }
        case LP_ARG_TEXT:
            buf_putc(out, 'T');
            put_le(out, (uint64_t)a->len, 8);
            buf_append(out, a->s, a->len);
            break;
        case LP_ARG_BLOB:
            buf_putc(out, 'B');
            put_le(out, (uint64_t)a->len, 8);
            buf_append(out, a->s, a->len);
            break;
        default: /* not a type we know: unique per value of the enum, never equal to the above */
            buf_putc(out, '?');
            put_le(out, (uint64_t)(uint32_t)a->type, 4);
            break;
        }
    }
}
