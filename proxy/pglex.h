/* pglex.h - a PostgreSQL SQL tokenizer (quotes, E'' and dollar quoting, nested comments, $n) for the dialect translator; pure. */
#ifndef LC_PGLEX_H
#define LC_PGLEX_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"

typedef enum {
    PGLEX_SPACE, PGLEX_COMMENT, PGLEX_IDENT, PGLEX_QIDENT /* "x" */, PGLEX_STRING /* '' */,
    PGLEX_ESTRING /* E'' */, PGLEX_NSTRING /* N'' */, PGLEX_XSTRING /* X'' */, PGLEX_BSTRING /* B'' */,
    PGLEX_USTRING /* U&'' */, PGLEX_DOLLAR /* $tag$..$tag$ */, PGLEX_NUMBER, PGLEX_PARAM /* $n */,
    PGLEX_OP, PGLEX_LPAREN, PGLEX_RPAREN, PGLEX_LBRACK, PGLEX_RBRACK, PGLEX_COMMA, PGLEX_SEMI,
    PGLEX_DOT, PGLEX_CAST /* :: */, PGLEX_OTHER,
    PGLEX_BAD,   /* an unterminated quote or comment: runs to the end of the input */
} pglex_kind;

typedef struct pglex_tok {
    pglex_kind kind;
    int32_t    si;        /* index among significant tokens; -1 for space and comments */
    uint32_t   off, len;  /* 32-bit: 16 bytes a token, inputs under 4 GiB */
} pglex_tok;

/* The tokens of one text: plain data, filled by pglex_run. Significant tokens (all but space and
 * comments) are also listed in sig[] so parsers can look around without skipping trivia. */
typedef struct pglex {
    const char *s;
    size_t      n;
    pglex_tok  *t;
    size_t      nt;
    uint32_t   *sig;      /* token index of each significant token */
    size_t      ns;
} pglex;

/* Tokenize s[0..n). Returns 0, or -1 when out of memory or n >= 4 GiB. Never fails on bad input:
 * an unterminated quote or comment becomes one PGLEX_BAD token. Memory: ~20 bytes a token. */
int  pglex_run(pglex *lx, const char *s, size_t n);
void pglex_free(pglex *lx);

/* Significant token k, or NULL when k is out of range. */
const pglex_tok *pglex_sig(const pglex *lx, long k);
int  pglex_is(const pglex *lx, long k, pglex_kind kind);
/* Is significant token k the unquoted word w (case-insensitive)? */
int  pglex_kw(const pglex *lx, long k, const char *w);
/* ... one of the NULL-terminated words? */
int  pglex_kw_in(const pglex *lx, long k, const char *const *ws);
/* Index of the token closing the ( or [ at k, or -1. */
long pglex_skip_group(const pglex *lx, long k);
/* A qualified name a.b.c starting at k: its last token, or -1. */
long pglex_name_chain(const pglex *lx, long k);

/* The value of a string-like token (STRING, ESTRING, NSTRING, DOLLAR, QIDENT) appended to b,
 * quotes removed and escapes decoded. Returns 0, or -1 with *why set (bad Unicode escape). */
int  pglex_string(const char *s, const pglex_tok *t, buf *b, const char **why);
/* An identifier's name: unquoted ones folded to lower case, quoted ones decoded. */
void pglex_ident(const char *s, const pglex_tok *t, char *out, size_t outlen);
/* Length of the "$tag$" opening at s[i], 0 if there is none. */
size_t pglex_dollar_tag(const char *s, size_t n, size_t i);

/* Append p[0..n) as a standard SQL string literal (quotes doubled). */
void pglex_put_literal(buf *b, const char *p, size_t n);
/* Append a comment token; a block comment holding nested ones (which SQLite would end at the
 * first close) keeps its text with the inner markers broken apart. */
void pglex_put_comment(buf *out, const char *s, const pglex_tok *t);
/* PostgreSQL's complaint about a PGLEX_BAD token starting at p ("unterminated quoted string"). */
const char *pglex_bad_message(const char *p);

/* Statements of a query string split at top-level semicolons; see pgsql_split. */
typedef struct pglex_span { size_t off, len; } pglex_span;
size_t pglex_split(const char *sql, size_t len, pglex_span *out, size_t max);

/* ---- token-level analyses for the translator (read-only over the significant tokens) ---------- */

/* Words that end an expression or join operands: never an alias, never a function name. */
int pglex_reserved(const pglex *lx, long k);
/* f(...) [FILTER (...)] [OVER (...) | OVER name] at k: its last token, or -1. */
long pglex_call_chain(const pglex *lx, long k);

typedef enum {
    PGLEX_TY_INT, PGLEX_TY_TEXT, PGLEX_TY_REAL, PGLEX_TY_NUMERIC, PGLEX_TY_BOOL, PGLEX_TY_BYTEA,
    PGLEX_TY_DROP,   /* reg* and oid: the cast is dropped, names stay names */
} pglex_tykind;

typedef struct pglex_type {
    pglex_tykind kind;
    const char  *pgname;   /* PostgreSQL's canonical name: "int4", "float8", ... */
    const char  *sqlite;   /* what to CAST to in SQLite: INTEGER, TEXT, REAL, NUMERIC, BLOB */
    char         name[64]; /* the name as written, lower-cased (for error messages) */
} pglex_type;

/* A PostgreSQL type name at k (multi-word names, modifiers, WITH TIME ZONE). Returns its last
 * token; -1 when there is no type name, -2 for an array type, -3 for a type we do not map. */
long pglex_type_at(const pglex *lx, long k, pglex_type *ty);

/* PostgreSQL's output column name for the unaliased select-list item spanning tokens [a, b]:
 * returns 1 with the name ("count", "?column?", "int4", ...), or 0 when the item already has an
 * alias, is a plain column reference or star (SQLite names those alike), or is parenthesised. */
int pglex_item_name(const pglex *lx, long a, long b, char *name, size_t nl);

#endif
