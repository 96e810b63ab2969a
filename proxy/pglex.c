/* pglex.c - a PostgreSQL SQL tokenizer (quotes, E'' and dollar quoting, nested comments, $n) for the dialect translator; pure. */
#include "pglex.h"

#include <ctype.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static int ident_start(unsigned char c) { return isalpha(c) || c == '_' || c >= 0x80; }
static int ident_char(unsigned char c) { return isalnum(c) || c == '_' || c == '$' || c >= 0x80; }
static int op_char(char c) { return c && strchr("+-*/<>=~!@#%^&|`?", c) != NULL; }

/* End of a quoted run opening at s[i] (q doubled escapes q; bs: backslash escapes), 0 if unterminated. */
static size_t quoted_end(const char *s, size_t n, size_t i, char q, int bs)
{
    for (size_t j = i + 1; j < n; j++) {
        if (bs && s[j] == '\\') {
            j++;
        } else if (s[j] == q) {
            if (j + 1 < n && s[j + 1] == q)
                j++;
            else
                return j + 1;
        }
    }
    return 0;
}

/* Length of "$tag$" at s[i], 0 if none. */
size_t pglex_dollar_tag(const char *s, size_t n, size_t i)
{
    size_t j = i + 1;
    if (j < n && s[j] != '$') {
        if (!ident_start((unsigned char)s[j]))
            return 0;
        while (j < n && ident_char((unsigned char)s[j]) && s[j] != '$')
            j++;
    }
    return j < n && s[j] == '$' ? j + 1 - i : 0;
}

/* One token at s[i]; sets t->kind and t->len (>= 1). PGLEX_BAD: unterminated, the rest of input. */
static void lex1(const char *s, size_t n, size_t i, pglex_tok *t)
{
    unsigned char c = (unsigned char)s[i];
    char d = i + 1 < n ? s[i + 1] : 0, e = i + 2 < n ? s[i + 2] : 0;
    size_t end = i + 1;
    int kind = PGLEX_OTHER;
    t->off = (uint32_t)i;
    if (isspace(c)) {
        while (end < n && isspace((unsigned char)s[end]))
            end++;
        kind = PGLEX_SPACE;
    } else if (c == '-' && d == '-') {
        while (end < n && s[end] != '\n')
            end++;
        kind = PGLEX_COMMENT;
    } else if (c == '/' && d == '*') {
        int depth = 1;   /* PostgreSQL block comments nest */
        for (end = i + 2; end < n && depth; end++) {
            if (s[end] == '/' && end + 1 < n && s[end + 1] == '*')
                depth++, end++;
            else if (s[end] == '*' && end + 1 < n && s[end + 1] == '/')
                depth--, end++;
        }
        kind = depth ? PGLEX_BAD : PGLEX_COMMENT;
    } else if (strchr("eEnNxXbB", (char)c) && c && d == '\'') {
        end = quoted_end(s, n, i + 1, '\'', c == 'e' || c == 'E');
        kind = !end ? PGLEX_BAD : (c == 'e' || c == 'E') ? PGLEX_ESTRING : (c == 'n' || c == 'N') ? PGLEX_NSTRING
             : (c == 'x' || c == 'X') ? PGLEX_XSTRING : PGLEX_BSTRING;
    } else if ((c == 'u' || c == 'U') && d == '&' && (e == '\'' || e == '"')) {
        end = quoted_end(s, n, i + 2, e, 0);
        kind = end ? PGLEX_USTRING : PGLEX_BAD;
    } else if (ident_start(c)) {
        while (end < n && ident_char((unsigned char)s[end]))
            end++;
        kind = PGLEX_IDENT;
    } else if (c == '"' || c == '\'') {
        end = quoted_end(s, n, i, (char)c, 0);
        kind = !end ? PGLEX_BAD : c == '"' ? PGLEX_QIDENT : PGLEX_STRING;
    } else if (c == '$') {
        size_t tl = pglex_dollar_tag(s, n, i);
        if (tl) {
            kind = PGLEX_BAD;
            for (size_t j = i + tl; j + tl <= n; j++)
                if (s[j] == '$' && memcmp(s + j, s + i, tl) == 0) {
                    end = j + tl;
                    kind = PGLEX_DOLLAR;
                    break;
                }
        } else if (isdigit((unsigned char)d)) {
            while (end < n && isdigit((unsigned char)s[end]))
                end++;
            kind = PGLEX_PARAM;
        }
    } else if (isdigit(c) || (c == '.' && isdigit((unsigned char)d))) {
        end = i;
        while (end < n && isdigit((unsigned char)s[end]))
            end++;
        if (end < n && s[end] == '.' && !(end + 1 < n && s[end + 1] == '.'))
            for (end++; end < n && isdigit((unsigned char)s[end]);)
                end++;
        if (end < n && (s[end] == 'e' || s[end] == 'E')) {
            size_t x = end + 1;
            if (x < n && (s[x] == '+' || s[x] == '-'))
                x++;
            if (x < n && isdigit((unsigned char)s[x]))
                for (end = x; end < n && isdigit((unsigned char)s[end]);)
                    end++;
        }
        kind = PGLEX_NUMBER;
    } else if (c == ':' && d == ':') {
        end = i + 2;
        kind = PGLEX_CAST;
    } else if (op_char((char)c)) {
        while (end < n && op_char(s[end]) && !(s[end] == '-' && end + 1 < n && s[end + 1] == '-') &&
               !(s[end] == '/' && end + 1 < n && s[end + 1] == '*'))
            end++;
        kind = PGLEX_OP;
    } else {
        static const char single[] = "()[],;.";
        static const int kinds[] = { PGLEX_LPAREN, PGLEX_RPAREN, PGLEX_LBRACK, PGLEX_RBRACK, PGLEX_COMMA, PGLEX_SEMI, PGLEX_DOT };
        const char *p = c ? strchr(single, c) : NULL;
        if (p)
            kind = kinds[p - single];
    }
    if (kind == PGLEX_BAD)
        end = n;
    t->kind = kind;
    t->len = (uint32_t)(end - i);
}

int pglex_run(pglex *lx, const char *s, size_t n)
{
    memset(lx, 0, sizeof *lx);
    lx->s = s;
    lx->n = n;
    if (n >= UINT32_MAX)
        return -1;
    size_t cap = 0;
    for (size_t i = 0; i < n;) {
        if (lx->nt == cap) {
            cap = cap ? cap * 2 : 64;
            pglex_tok *t = realloc(lx->t, cap * sizeof *t);
            uint32_t *g = realloc(lx->sig, cap * sizeof *g);
            if (t)
                lx->t = t;
            if (g)
                lx->sig = g;
            if (!t || !g) {
                pglex_free(lx);
                return -1;
            }
        }
        pglex_tok *t = &lx->t[lx->nt];
        lex1(s, n, i, t);
        t->si = -1;
        if (t->kind != PGLEX_SPACE && t->kind != PGLEX_COMMENT) {
            t->si = (int32_t)lx->ns;
            lx->sig[lx->ns++] = (uint32_t)lx->nt;
        }
        lx->nt++;
        i += t->len;
    }
    return 0;
}

void pglex_free(pglex *lx)
{
    free(lx->t);
    free(lx->sig);
    lx->t = NULL;
    lx->sig = NULL;
    lx->nt = lx->ns = 0;
}

const pglex_tok *pglex_sig(const pglex *lx, long k)
{
    return k >= 0 && (size_t)k < lx->ns ? &lx->t[lx->sig[k]] : NULL;
}

int pglex_is(const pglex *lx, long k, pglex_kind kind)
{
    const pglex_tok *t = pglex_sig(lx, k);
    return t && t->kind == kind;
}

int pglex_kw(const pglex *lx, long k, const char *w)
{
    const pglex_tok *t = pglex_sig(lx, k);
    /* words are given in lower case; the first letter rejects almost every call cheaply */
    if (!t || t->kind != PGLEX_IDENT || tolower((unsigned char)lx->s[t->off]) != w[0])
        return 0;
    return t->len == strlen(w) && !strncasecmp(lx->s + t->off, w, t->len);
}

int pglex_kw_in(const pglex *lx, long k, const char *const *ws)
{
    for (; *ws; ws++)
        if (pglex_kw(lx, k, *ws))
            return 1;
    return 0;
}

/* Index of the token closing the group opened at k, or -1. */
long pglex_skip_group(const pglex *lx, long k)
{
    int depth = 0;
    for (; pglex_sig(lx, k); k++) {
        int kd = pglex_sig(lx, k)->kind;
        if (kd == PGLEX_LPAREN || kd == PGLEX_LBRACK)
            depth++;
        else if ((kd == PGLEX_RPAREN || kd == PGLEX_RBRACK) && --depth == 0)
            return k;
    }
    return -1;
}

long pglex_name_chain(const pglex *lx, long k)
{
    if (!pglex_is(lx, k, PGLEX_IDENT) && !pglex_is(lx, k, PGLEX_QIDENT))
        return -1;
    while (pglex_is(lx, k + 1, PGLEX_DOT) && (pglex_is(lx, k + 2, PGLEX_IDENT) || pglex_is(lx, k + 2, PGLEX_QIDENT)))
        k += 2;
    return k;
}

static void put_utf8(buf *b, uint32_t cp)
{
    if (cp < 0x80) {
        buf_putc(b, (char)cp);
    } else if (cp < 0x800) {
        buf_putc(b, (char)(0xC0 | cp >> 6));
        buf_putc(b, (char)(0x80 | (cp & 0x3F)));
    } else if (cp < 0x10000) {
        buf_putc(b, (char)(0xE0 | cp >> 12));
        buf_putc(b, (char)(0x80 | (cp >> 6 & 0x3F)));
        buf_putc(b, (char)(0x80 | (cp & 0x3F)));
    } else {
        buf_putc(b, (char)(0xF0 | cp >> 18));
        buf_putc(b, (char)(0x80 | (cp >> 12 & 0x3F)));
        buf_putc(b, (char)(0x80 | (cp >> 6 & 0x3F)));
        buf_putc(b, (char)(0x80 | (cp & 0x3F)));
    }
}

static int hexdig(char c)
{
    return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

/* \u / \U escape of ndig hex digits at p; -1 when malformed. */
static long hex_cp(const char *p, const char *end, int ndig)
{
    long v = 0;
    if (end - p < ndig)
        return -1;
    for (int i = 0; i < ndig; i++) {
        int h = hexdig(p[i]);
        if (h < 0)
            return -1;
        v = v << 4 | h;
    }
    return v;
}

int pglex_string(const char *s, const pglex_tok *t, buf *b, const char **why)
{
    const char *p = s + t->off, *end = p + t->len;
    if (t->kind == PGLEX_DOLLAR) {
        size_t tl = pglex_dollar_tag(s, t->off + t->len, t->off);
        buf_append(b, p + tl, t->len - 2 * tl);
        return 0;
    }
    if (t->kind == PGLEX_QIDENT || t->kind == PGLEX_STRING) {
        char q = *p;
        for (p++, end--; p < end; p++) {
            if (*p == q)
                p++;   /* the first of a doubled quote */
            buf_putc(b, *p);
        }
        return 0;
    }
    int esc = t->kind == PGLEX_ESTRING;
    for (p += 2, end--; p < end; p++) {   /* after the E' / N' prefix */
        char c = *p;
        if (c == '\'') {
            buf_putc(b, '\'');
            p++;
            continue;
        }
        if (!esc || c != '\\') {
            buf_putc(b, c);
            continue;
        }
        c = *++p;
        if (c >= '0' && c <= '7') {
            int v = c - '0';
            for (int k = 0; k < 2 && p + 1 < end && p[1] >= '0' && p[1] <= '7'; k++)
                v = v * 8 + (*++p - '0');
            buf_putc(b, (char)v);
        } else if (c == 'x' && p + 1 < end && hexdig(p[1]) >= 0) {
            int v = hexdig(*++p);
            if (p + 1 < end && hexdig(p[1]) >= 0)
                v = v * 16 + hexdig(*++p);
            buf_putc(b, (char)v);
        } else if (c == 'u' || c == 'U') {
            int nd = c == 'u' ? 4 : 8;
            long cp = hex_cp(p + 1, end, nd);
            p += nd;
            if (cp >= 0xD800 && cp <= 0xDBFF && end - p > 6 && p[1] == '\\' && p[2] == 'u') {
                long lo = hex_cp(p + 3, end, 4);
                if (lo >= 0xDC00 && lo <= 0xDFFF) {
                    cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
                    p += 6;
                }
            }
            if (cp <= 0 || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) {
                *why = "invalid Unicode escape value";
                return -1;
            }
            put_utf8(b, (uint32_t)cp);
        } else {
            static const char from[] = "bfnrt", to[] = "\b\f\n\r\t";
            const char *m = c ? strchr(from, c) : NULL;
            buf_putc(b, m ? to[m - from] : c);
        }
    }
    return 0;
}

void pglex_ident(const char *s, const pglex_tok *t, char *out, size_t outlen)
{
    buf b;
    const char *why;
    buf_init(&b);
    if (t->kind == PGLEX_QIDENT)
        pglex_string(s, t, &b, &why);
    else
        for (size_t i = 0; i < t->len; i++)
            buf_putc(&b, (char)tolower((unsigned char)s[t->off + i]));
    snprintf(out, outlen, "%.*s", (int)b.len, b.data ? b.data : "");
    buf_free(&b);
}

/* A standard SQL string literal holding p[0..n). */
void pglex_put_literal(buf *b, const char *p, size_t n)
{
    buf_putc(b, '\'');
    for (size_t i = 0; i < n; i++) {
        if (p[i] == '\'')
            buf_putc(b, '\'');
        buf_putc(b, p[i]);
    }
    buf_putc(b, '\'');
}

/* A block comment that nests would end early in SQLite: keep it, with the inner markers broken. */
void pglex_put_comment(buf *out, const char *s, const pglex_tok *t)
{
    const char *p = s + t->off;
    if (t->len < 4 || p[0] != '/') {
        buf_append(out, p, t->len);
        return;
    }
    buf_puts(out, "/*");
    for (size_t i = 2; i < t->len - 2; i++) {
        buf_putc(out, p[i]);
        if ((p[i] == '/' && p[i + 1] == '*') || (p[i] == '*' && p[i + 1] == '/'))
            buf_putc(out, ' ');
    }
    buf_puts(out, "*/");
}

const char *pglex_bad_message(const char *p)
{
    if (*p == '"')
        return "unterminated quoted identifier";
    if (*p == '$')
        return "unterminated dollar-quoted string";
    if (*p == '/')
        return "unterminated /* comment";
    return "unterminated quoted string";
}

size_t pglex_split(const char *sql, size_t len, pglex_span *out, size_t max)
{
    pglex lx;
    size_t n = 0;
    if (pglex_run(&lx, sql, len) < 0)
        return 0;
    long first = -1, last = -1;
    for (size_t k = 0; k <= lx.ns; k++) {
        const pglex_tok *t = k < lx.ns ? pglex_sig(&lx, (long)k) : NULL;
        if (t && t->kind != PGLEX_SEMI) {
            if (first < 0)
                first = (long)k;
            last = (long)k;
            continue;
        }
        if (first >= 0) {
            const pglex_tok *a = pglex_sig(&lx, first), *z = pglex_sig(&lx, last);
            if (n < max)
                out[n] = (pglex_span){ a->off, z->off + z->len - a->off };
            n++;
        }
        first = -1;
    }
    pglex_free(&lx);
    return n;
}

/* ---- token-level analyses ---------------------------------------------------------------------- */

/* Sorted, for bsearch. */
static const char *const RESERVED[] = {
    "all", "and", "any", "array", "as", "asc", "between", "by", "case", "check", "collate",
    "conflict", "constraint", "cross", "default", "delete", "desc", "distinct", "do", "else", "end",
    "escape", "except", "exists", "false", "fetch", "filter", "for", "foreign", "from", "full",
    "group", "having", "if", "ilike", "in", "inner", "insert", "intersect", "into", "is", "isnull",
    "join", "key", "lateral", "left", "like", "limit", "natural", "not", "notnull", "null",
    "offset", "on", "only", "or", "order", "outer", "over", "partition", "primary", "recursive",
    "references", "return", "returning", "right", "select", "set", "similar", "some", "table",
    "then", "to", "true", "union", "unique", "unknown", "update", "using", "values", "when",
    "where", "window", "with",
};

static int cmp_word(const void *a, const void *b) { return strcmp(a, *(const char *const *)b); }

int pglex_reserved(const pglex *lx, long k)
{
    const pglex_tok *t = pglex_sig(lx, k);
    char w[16];
    if (!t || t->kind != PGLEX_IDENT || t->len >= sizeof w)
        return 0;
    for (size_t i = 0; i < t->len; i++)
        w[i] = (char)tolower((unsigned char)lx->s[t->off + i]);
    w[t->len] = '\0';
    return bsearch(w, RESERVED, sizeof RESERVED / sizeof *RESERVED, sizeof *RESERVED, cmp_word) != NULL;
}

long pglex_call_chain(const pglex *lx, long k)
{
    long e = pglex_name_chain(lx, k);
    if (e < 0 || !pglex_is(lx, e + 1, PGLEX_LPAREN) ||
        (e == k && pglex_reserved(lx, k) && !pglex_kw(lx, k, "exists")))
        return -1;
    if ((e = pglex_skip_group(lx, e + 1)) < 0)
        return -1;
    if (pglex_kw(lx, e + 1, "filter") && pglex_is(lx, e + 2, PGLEX_LPAREN))
        e = pglex_skip_group(lx, e + 2);
    if (e >= 0 && pglex_kw(lx, e + 1, "over"))
        e = pglex_is(lx, e + 2, PGLEX_LPAREN) ? pglex_skip_group(lx, e + 2) : e + 2;
    return e < (long)lx->ns ? e : -1;
}

static const struct { const char *name; pglex_tykind kind; const char *pg; } TYPES[] = {
    { "int", PGLEX_TY_INT, "int4" }, { "integer", PGLEX_TY_INT, "int4" }, { "int4", PGLEX_TY_INT, "int4" },
    { "int8", PGLEX_TY_INT, "int8" }, { "bigint", PGLEX_TY_INT, "int8" }, { "smallint", PGLEX_TY_INT, "int2" },
    { "int2", PGLEX_TY_INT, "int2" }, { "text", PGLEX_TY_TEXT, "text" }, { "varchar", PGLEX_TY_TEXT, "varchar" },
    { "char", PGLEX_TY_TEXT, "bpchar" }, { "character", PGLEX_TY_TEXT, "bpchar" },
    { "bpchar", PGLEX_TY_TEXT, "bpchar" }, { "name", PGLEX_TY_TEXT, "name" }, { "citext", PGLEX_TY_TEXT, "citext" },
    { "json", PGLEX_TY_TEXT, "json" }, { "jsonb", PGLEX_TY_TEXT, "jsonb" }, { "uuid", PGLEX_TY_TEXT, "uuid" },
    { "date", PGLEX_TY_TEXT, "date" }, { "time", PGLEX_TY_TEXT, "time" }, { "timetz", PGLEX_TY_TEXT, "timetz" },
    { "timestamp", PGLEX_TY_TEXT, "timestamp" }, { "timestamptz", PGLEX_TY_TEXT, "timestamptz" },
    { "float8", PGLEX_TY_REAL, "float8" }, { "double precision", PGLEX_TY_REAL, "float8" },
    { "float", PGLEX_TY_REAL, "float8" }, { "float4", PGLEX_TY_REAL, "float4" }, { "real", PGLEX_TY_REAL, "float4" },
    { "numeric", PGLEX_TY_NUMERIC, "numeric" }, { "decimal", PGLEX_TY_NUMERIC, "numeric" },
    { "bool", PGLEX_TY_BOOL, "bool" }, { "boolean", PGLEX_TY_BOOL, "bool" }, { "bytea", PGLEX_TY_BYTEA, "bytea" },
    { "regclass", PGLEX_TY_DROP, "regclass" }, { "regtype", PGLEX_TY_DROP, "regtype" },
    { "regproc", PGLEX_TY_DROP, "regproc" }, { "regprocedure", PGLEX_TY_DROP, "regprocedure" },
    { "regnamespace", PGLEX_TY_DROP, "regnamespace" }, { "regrole", PGLEX_TY_DROP, "regrole" },
    { "oid", PGLEX_TY_DROP, "oid" },
};
static const char *const SQLITE_TYPE[] = { "INTEGER", "TEXT", "REAL", "NUMERIC", "INTEGER", "BLOB", "TEXT" };

long pglex_type_at(const pglex *lx, long k, pglex_type *ty)
{
    char *name = ty->name;
    size_t nl = sizeof ty->name;
    name[0] = '\0';
    if (pglex_kw(lx, k, "pg_catalog") && pglex_is(lx, k + 1, PGLEX_DOT))
        k += 2;
    if (!pglex_is(lx, k, PGLEX_IDENT) && !pglex_is(lx, k, PGLEX_QIDENT))
        return -1;
    pglex_ident(lx->s, pglex_sig(lx, k), name, nl);
    if (!strcmp(name, "double") && pglex_kw(lx, k + 1, "precision"))
        k++, snprintf(name, nl, "double precision");
    else if ((!strcmp(name, "character") || !strcmp(name, "char")) && pglex_kw(lx, k + 1, "varying"))
        k++, snprintf(name, nl, "varchar");
    if (pglex_is(lx, k + 1, PGLEX_LPAREN) && (k = pglex_skip_group(lx, k + 1)) < 0)
        return -1;
    if ((!strcmp(name, "timestamp") || !strcmp(name, "time")) &&
        (pglex_kw(lx, k + 1, "with") || pglex_kw(lx, k + 1, "without")) && pglex_kw(lx, k + 2, "time") &&
        pglex_kw(lx, k + 3, "zone")) {
        if (pglex_kw(lx, k + 1, "with"))
            strcat(name, "tz");
        k += 3;
    }
    if (pglex_is(lx, k + 1, PGLEX_LBRACK))
        return -2;
    for (size_t i = 0; i < sizeof TYPES / sizeof *TYPES; i++)
        if (!strcmp(name, TYPES[i].name)) {
            ty->kind = TYPES[i].kind;
            ty->pgname = TYPES[i].pg;
            ty->sqlite = SQLITE_TYPE[TYPES[i].kind];
            return k;
        }
    return -3;
}

static const char *const KEYWORD_FUNCS[] = {
    "current_timestamp", "current_date", "current_time", "localtimestamp", "localtime", "current_user",
    "session_user", "user", "current_role", "current_catalog", "current_schema", NULL,
};

static int literal_kind(pglex_kind kd)
{
    return kd == PGLEX_NUMBER || kd == PGLEX_STRING || kd == PGLEX_ESTRING || kd == PGLEX_NSTRING ||
           kd == PGLEX_DOLLAR || kd == PGLEX_PARAM || kd == PGLEX_XSTRING;
}

int pglex_item_name(const pglex *lx, long a, long b, char *name, size_t nl)
{
    int depth = 0;
    pglex_type ty;
    for (long k = a; k <= b; k++) {
        depth += pglex_is(lx, k, PGLEX_LPAREN) || pglex_is(lx, k, PGLEX_LBRACK);
        depth -= pglex_is(lx, k, PGLEX_RPAREN) || pglex_is(lx, k, PGLEX_RBRACK);
        if (depth == 0 && pglex_kw(lx, k, "as"))
            return 0;
    }
    const pglex_tok *last = pglex_sig(lx, b), *prev = b > a ? pglex_sig(lx, b - 1) : NULL;
    if (last->kind == PGLEX_OP && last->len == 1 && lx->s[last->off] == '*')
        return 0;
    /* operand [::type]...: named after the operand when it has a name, else after the last type */
    long e = pglex_call_chain(lx, a), c;
    int named = e >= 0 && !pglex_kw(lx, a, "cast");
    if (e < 0 && pglex_kw(lx, a, "case")) {
        for (long d = 0, k = a; k <= b && e < 0; k++) {
            d += pglex_kw(lx, k, "case") - pglex_kw(lx, k, "end");
            if (d == 0)
                e = k;   /* CASE ... END */
        }
    } else if (e < 0 && (e = pglex_name_chain(lx, a)) >= 0) {
        named = !pglex_reserved(lx, a);   /* NULL::int is "int4", a::int is "a" */
    } else if (e < 0) {
        e = pglex_is(lx, a, PGLEX_LPAREN) ? pglex_skip_group(lx, a) : a;
    }
    const char *tn = NULL;
    while (e >= 0 && e < b && pglex_is(lx, e + 1, PGLEX_CAST) && (c = pglex_type_at(lx, e + 2, &ty)) >= 0) {
        tn = ty.pgname;
        e = c;
    }
    if (e == b && tn) {
        if (named)
            pglex_ident(lx->s, pglex_sig(lx, pglex_name_chain(lx, a)), name, nl);
        else
            snprintf(name, nl, "%s", tn);
        return 1;
    }
    if (prev && (last->kind == PGLEX_QIDENT || (last->kind == PGLEX_IDENT && !pglex_reserved(lx, b))) &&
        (literal_kind(prev->kind) || prev->kind == PGLEX_RPAREN || prev->kind == PGLEX_RBRACK ||
         prev->kind == PGLEX_QIDENT || (prev->kind == PGLEX_IDENT && !pglex_reserved(lx, b - 1))))
        return 0;   /* an alias without AS */
    if (a == b && last->kind == PGLEX_IDENT) {
        if (pglex_kw(lx, a, "true") || pglex_kw(lx, a, "false"))
            snprintf(name, nl, "bool");
        else if (pglex_kw(lx, a, "null"))
            snprintf(name, nl, "?column?");
        else if (pglex_kw_in(lx, a, KEYWORD_FUNCS))
            pglex_ident(lx->s, last, name, nl);
        else
            return 0;
        return 1;
    }
    if (pglex_name_chain(lx, a) == b || (pglex_is(lx, a, PGLEX_LPAREN) && pglex_skip_group(lx, a) == b))
        return 0;
    if (pglex_call_chain(lx, a) == b) {
        if (!pglex_kw(lx, a, "cast")) {
            pglex_ident(lx->s, pglex_sig(lx, pglex_name_chain(lx, a)), name, nl);
            return 1;
        }
        for (long k = a + 2, d = 0; k < b; k++) {
            d += pglex_is(lx, k, PGLEX_LPAREN) - pglex_is(lx, k, PGLEX_RPAREN);
            if (d == 0 && pglex_kw(lx, k, "as") && pglex_type_at(lx, k + 1, &ty) >= 0) {
                snprintf(name, nl, "%s", ty.pgname);
                return 1;
            }
        }
        return 0;
    }
    if (pglex_kw(lx, a, "case") && pglex_kw(lx, b, "end")) {
        snprintf(name, nl, "case");
        return 1;
    }
    if (b == a + 1 && literal_kind(pglex_sig(lx, b)->kind) && pglex_type_at(lx, a, &ty) == a) {
        snprintf(name, nl, "%s", ty.pgname);   /* date '2024-01-01' */
        return 1;
    }
    snprintf(name, nl, "?column?");
    return 1;
}
