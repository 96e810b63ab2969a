/* pgstmt.c - whole-statement forms of the PostgreSQL dialect (SET, SHOW, BEGIN, COPY, TRUNCATE, DROP lists, VACUUM, ALTER TABLE ADD PRIMARY KEY, ...), recognised by their leading keywords; pure. */
#include "pgstmt.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#define KW(k, w) pglex_kw(lx, (k), (w))
#define IS(k, kind) pglex_is(lx, (k), (kind))

int pgstmt_error(pgsql_result *r, const char *sqlstate, const char *fmt, ...)
{
    r->action = PGSQL_ERROR;
    snprintf(r->sqlstate, sizeof r->sqlstate, "%s", sqlstate);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->message, sizeof r->message, fmt, ap);
    va_end(ap);
    return -1;
}

static int syntax(const pglex *lx, long k, pgsql_result *r)
{
    const pglex_tok *t = pglex_sig(lx, k);
    if (!t)
        return pgstmt_error(r, "42601", "syntax error at end of input");
    return pgstmt_error(r, "42601", "syntax error at or near \"%.*s\"", (int)(t->len > 40 ? 40 : t->len),
                        lx->s + t->off);
}

long pgstmt_name(const pglex *lx, long k, buf *out, pgsql_result *r)
{
    long e = pglex_name_chain(lx, k);
    if (e < 0)
        return syntax(lx, k, r);
    const pglex_tok *f = pglex_sig(lx, k);
    if (KW(k, "pg_catalog") || KW(k, "information_schema") ||
        (e == k && f->kind == PGLEX_IDENT && f->len > 3 && !strncasecmp(lx->s + f->off, "pg_", 3)))
        return pgstmt_error(r, "0A000", "feature not supported: system catalog %.*s",
                            (int)pglex_sig(lx, k)->len, lx->s + pglex_sig(lx, k)->off);
    if (KW(k, "public") && e > k)
        k += 2;
    const pglex_tok *a = pglex_sig(lx, k), *z = pglex_sig(lx, e);
    buf_append(out, lx->s + a->off, z->off + z->len - a->off);
    return e;
}

/* Lower-cased dotted name at k into out; returns its last token or -1. */
static long plain_name(const pglex *lx, long k, char *out, size_t outlen)
{
    long e = pglex_name_chain(lx, k);
    size_t n = 0;
    out[0] = '\0';
    for (long i = k; e >= 0 && i <= e; i += 2) {
        char part[128];
        pglex_ident(lx->s, pglex_sig(lx, i), part, sizeof part);
        n += (size_t)snprintf(out + n, n < outlen ? outlen - n : 0, "%s%s", i > k ? "." : "", part);
        if (n >= outlen)
            return -1;
    }
    return e;
}

/* Append s to the string in dst[cap], truncating (index names longer than 127 bytes are cut). */
static void append(char *dst, size_t cap, const char *s)
{
    size_t n = strlen(dst), m = strlen(s);
    if (n + m >= cap)
        m = cap - 1 - n;
    memcpy(dst + n, s, m);
    dst[n + m] = '\0';
}

static void set_name(pgsql_result *r, const char *name)
{
    snprintf(r->name, sizeof r->name, "%s", name);
}

/* ---- SET / RESET / SHOW ----------------------------------------------------------------------- */

/* SET values: literals (decoded), numbers (with sign), words (lower-cased), joined by ", ". */
static int set_values(const pglex *lx, long k, long ns, pgsql_result *r)
{
    if (k >= ns)
        return syntax(lx, k, r);
    for (; k < ns; k++) {
        const pglex_tok *t = pglex_sig(lx, k);
        const char *why;
        char word[128];
        switch (t->kind) {
        case PGLEX_STRING: case PGLEX_ESTRING: case PGLEX_NSTRING: case PGLEX_DOLLAR: case PGLEX_QIDENT:
            if (pglex_string(lx->s, t, &r->value, &why) < 0)
                return pgstmt_error(r, "22P02", "%s", why);
            break;
        case PGLEX_IDENT:
            pglex_ident(lx->s, t, word, sizeof word);
            buf_puts(&r->value, word);
            break;
        case PGLEX_OP:
            if (t->len != 1 || (lx->s[t->off] != '-' && lx->s[t->off] != '+') || !IS(k + 1, PGLEX_NUMBER))
                return syntax(lx, k, r);
            if (lx->s[t->off] == '-')
                buf_putc(&r->value, '-');
            t = pglex_sig(lx, ++k);
            /* fall through */
        case PGLEX_NUMBER:
            buf_append(&r->value, lx->s + t->off, t->len);
            break;
        default:
            return syntax(lx, k, r);
        }
        if (k + 1 < ns) {
            if (!IS(k + 1, PGLEX_COMMA) || k + 2 >= ns)
                return syntax(lx, k + 1, r);
            buf_puts(&r->value, ", ");
            k++;
        }
    }
    buf_putc(&r->value, '\0');
    r->value.len--;
    return 1;
}

static int stmt_set(const pglex *lx, long ns, pgsql_result *r)
{
    long k = 1;
    char name[128];
    r->action = PGSQL_SET;
    if (KW(k, "local"))
        r->local = 1, k++;
    else if (KW(k, "session") && !KW(k + 1, "characteristics") && !KW(k + 1, "authorization"))
        k++;
    int sess = KW(k, "session") && KW(k + 1, "characteristics");
    if (KW(k, "transaction") || sess) {
        /* Transaction modes: SQLite transactions are serializable; the session only records them. */
        k += sess ? 4 : 1;
        if (KW(k, "isolation") && KW(k + 1, "level")) {
            set_name(r, sess ? "default_transaction_isolation" : "transaction_isolation");
            for (k += 2; k < ns && IS(k, PGLEX_IDENT); k++) {
                pglex_ident(lx->s, pglex_sig(lx, k), name, sizeof name);
                buf_printf(&r->value, "%s%s", r->value.len ? " " : "", name);
            }
        } else if (KW(k, "read") && (KW(k + 1, "only") || KW(k + 1, "write"))) {
            set_name(r, sess ? "default_transaction_read_only" : "transaction_read_only");
            buf_puts(&r->value, KW(k + 1, "only") ? "on" : "off");
            k += 2;
        } else if (KW(k, "deferrable") || (KW(k, "not") && KW(k + 1, "deferrable"))) {
            set_name(r, sess ? "default_transaction_deferrable" : "transaction_deferrable");
            buf_puts(&r->value, KW(k, "not") ? "off" : "on");
            k += KW(k, "not") ? 2 : 1;
        } else {
            return syntax(lx, k, r);
        }
        buf_putc(&r->value, '\0');
        r->value.len--;
        return 1;   /* further modes after a comma are accepted and ignored */
    }
    if (KW(k, "time") && KW(k + 1, "zone")) {
        set_name(r, "timezone");
        k += 2;
        if (KW(k, "local") || KW(k, "default")) {
            r->action = PGSQL_RESET;
            return k + 1 == ns ? 1 : syntax(lx, k + 1, r);
        }
        return set_values(lx, k, ns, r);
    }
    if (KW(k, "names") || KW(k, "schema") || KW(k, "role")) {
        set_name(r, KW(k, "names") ? "client_encoding" : KW(k, "schema") ? "search_path" : "role");
        return set_values(lx, k + 1, ns, r);
    }
    if (KW(k, "session") && KW(k + 1, "authorization")) {
        set_name(r, "session_authorization");
        return set_values(lx, k + 2, ns, r);
    }
    long e = plain_name(lx, k, name, sizeof name);
    if (e < 0)
        return syntax(lx, k, r);
    set_name(r, name);
    k = e + 1;
    const pglex_tok *t = pglex_sig(lx, k);
    if (!(KW(k, "to") || (t && t->kind == PGLEX_OP && t->len == 1 && lx->s[t->off] == '=')))
        return syntax(lx, k, r);
    if (KW(k + 1, "default") && k + 2 == ns) {
        r->action = PGSQL_RESET;
        return 1;
    }
    return set_values(lx, k + 1, ns, r);
}

/* RESET x and SHOW x share their special names. */
static int stmt_name_only(const pglex *lx, long ns, pgsql_result *r, pgsql_action action)
{
    char name[128];
    long k = 1, e;
    r->action = action;
    if (KW(k, "all")) {
        set_name(r, "all");
        e = k;
    } else if (KW(k, "time") && KW(k + 1, "zone")) {
        set_name(r, "timezone");
        e = k + 1;
    } else if (KW(k, "transaction") && KW(k + 1, "isolation") && KW(k + 2, "level")) {
        set_name(r, "transaction_isolation");
        e = k + 2;
    } else if (KW(k, "session") && KW(k + 1, "authorization")) {
        set_name(r, "session_authorization");
        e = k + 1;
    } else {
        if ((e = plain_name(lx, k, name, sizeof name)) < 0)
            return syntax(lx, k, r);
        set_name(r, name);
    }
    return e + 1 == ns ? 1 : syntax(lx, e + 1, r);
}

/* ---- table lists: TRUNCATE, DROP, VACUUM, ANALYZE ------------------------------------------------ */

static void add_stmt(pgsql_result *r, const char *head, const char *name, size_t nlen)
{
    if (r->nstmts++)
        buf_puts(&r->sql, "; ");
    buf_puts(&r->sql, head);
    buf_append(&r->sql, name, nlen);
}

/* name [, name ...] from k, each becoming "<head><name>"; cols: allow "(columns)" after names,
 * star: allow a "*" (descendant tables). Returns the token after the list, or -1. */
static long name_list(const pglex *lx, long k, long ns, const char *head, int cols, int star, pgsql_result *r)
{
    buf name;
    buf_init(&name);
    for (;;) {
        if (KW(k, "only"))
            k++;
        buf_reset(&name);
        long e = pgstmt_name(lx, k, &name, r);
        if (e < 0)
            break;
        add_stmt(r, head, name.data, name.len);
        k = e + 1;
        if (star && IS(k, PGLEX_OP) && pglex_sig(lx, k)->len == 1 && lx->s[pglex_sig(lx, k)->off] == '*')
            k++;
        if (cols && IS(k, PGLEX_LPAREN))
            k = pglex_skip_group(lx, k) + 1;
        if (k <= 0 || !IS(k, PGLEX_COMMA) || k + 1 >= ns)
            break;
        k++;
    }
    buf_free(&name);
    return r->action == PGSQL_ERROR ? -1 : k;
}

static int finish_sql(pgsql_result *r)
{
    buf_putc(&r->sql, '\0');
    r->sql.len--;
    if (r->sql.oom)
        return pgstmt_error(r, "53200", "out of memory");
    return 1;
}

static int stmt_truncate(const pglex *lx, long ns, pgsql_result *r)
{
    /* PostgreSQL's TRUNCATE empties tables at once; DELETE without WHERE is SQLite's fast path. */
    long k = KW(1, "table") ? 2 : 1;
    if ((k = name_list(lx, k, ns, "DELETE FROM ", 0, 1, r)) < 0)
        return 1;
    if ((KW(k, "restart") || KW(k, "continue")) && KW(k + 1, "identity"))
        k += 2;
    if (KW(k, "cascade") || KW(k, "restrict"))
        k++;
    return k == ns ? finish_sql(r) : syntax(lx, k, r);
}

static int stmt_drop(const pglex *lx, long ns, pgsql_result *r)
{
    char head[40];
    long k = 2;
    const char *what = KW(1, "table") ? "TABLE" : KW(1, "view") ? "VIEW" : "INDEX";
    if (KW(k, "concurrently"))
        k++;
    int ifx = KW(k, "if") && KW(k + 1, "exists");
    snprintf(head, sizeof head, "DROP %s %s", what, ifx ? "IF EXISTS " : "");
    if ((k = name_list(lx, k + 2 * ifx, ns, head, 0, 0, r)) < 0)
        return 1;
    if (KW(k, "cascade") || KW(k, "restrict"))
        k++;
    return k == ns ? finish_sql(r) : syntax(lx, k, r);
}

/* VACUUM [FULL|FREEZE|VERBOSE|ANALYZE ...] [(options)] [tables] and ANALYZE [VERBOSE] [tables]:
 * SQLite's VACUUM rewrites the whole database file and cannot run inside a transaction, so it
 * is never run on a client's behalf; only the ANALYZE part is kept. */
static int stmt_vacuum(const pglex *lx, long ns, pgsql_result *r, int analyze)
{
    long k = 1;
    if (IS(k, PGLEX_LPAREN)) {
        long e = pglex_skip_group(lx, k);
        if (e < 0)
            return syntax(lx, ns, r);
        for (long i = k; i < e; i++)
            analyze |= KW(i, "analyze") || KW(i, "analyse");
        k = e + 1;
    }
    static const char *const opts[] = { "full", "freeze", "verbose", "analyze", "analyse", NULL };
    for (; pglex_kw_in(lx, k, opts) && !IS(k + 1, PGLEX_DOT); k++)
        analyze |= KW(k, "analyze") || KW(k, "analyse");
    if (!analyze) {
        r->action = PGSQL_NOOP;
        return 1;
    }
    if (k < ns && (k = name_list(lx, k, ns, "ANALYZE ", 1, 0, r)) < 0)
        return 1;
    if (k != ns)
        return syntax(lx, k, r);
    if (r->nstmts == 0)
        add_stmt(r, "ANALYZE", "", 0);
    return finish_sql(r);
}

/* ---- ALTER TABLE ... ADD PRIMARY KEY / UNIQUE / FOREIGN KEY ------------------------------------- */

static int stmt_alter(const pglex *lx, long ns, pgsql_result *r)
{
    long k = 2;
    if (KW(k, "if") && KW(k + 1, "exists"))
        k += 2;
    if (KW(k, "only"))
        k++;
    buf table;
    buf_init(&table);
    long e = pgstmt_name(lx, k, &table, r);
    char tname[128] = "", cname[128] = "";
    if (e >= 0)
        pglex_ident(lx->s, pglex_sig(lx, e), tname, sizeof tname);
    k = e + 1;
    long con = -1;
    int rc = 0;
    if (e < 0 || !KW(k, "add")) {
        rc = e < 0;
        goto out;
    }
    k++;
    if (KW(k, "constraint") && (IS(k + 1, PGLEX_IDENT) || IS(k + 1, PGLEX_QIDENT)))
        con = k + 1, k += 2;
    int pk = KW(k, "primary") && KW(k + 1, "key");
    if (KW(k, "foreign") || KW(k, "check")) {
        if (KW(k, "check")) {
            pgstmt_error(r, "0A000", "feature not supported: ALTER TABLE ADD CHECK");
            rc = 1;
        } else {
            /* SQLite cannot add a foreign key to an existing table; pgbench's -I f only asks. */
            r->action = PGSQL_NOOP;
            r->notice = "foreign key constraints are not enforced by litecached; ADD FOREIGN KEY ignored";
            rc = 1;
        }
        goto out;
    }
    if (!pk && !KW(k, "unique"))
        goto out;   /* other ALTER TABLE forms go to SQLite as they are */
    k += pk ? 2 : 1;
    if (!IS(k, PGLEX_LPAREN)) {
        syntax(lx, k, r);
        rc = 1;
        goto out;
    }
    long close = pglex_skip_group(lx, k);
    if (close < 0 || close + 1 != ns) {
        syntax(lx, close < 0 ? ns : close + 1, r);
        rc = 1;
        goto out;
    }
    /* The index PostgreSQL would have made: <table>_pkey, or <table>_<cols>_key. */
    buf cols;
    buf_init(&cols);
    append(cname, sizeof cname, tname);
    for (long i = k + 1; i < close; i++) {
        const pglex_tok *t = pglex_sig(lx, i);
        if (t->kind == PGLEX_COMMA) {
            buf_puts(&cols, ", ");
        } else if (t->kind == PGLEX_IDENT || t->kind == PGLEX_QIDENT) {
            char c[128];
            pglex_ident(lx->s, t, c, sizeof c);
            if (!pk) {
                append(cname, sizeof cname, "_");
                append(cname, sizeof cname, c);
            }
            buf_append(&cols, lx->s + t->off, t->len);
        } else {
            syntax(lx, i, r);
            rc = 1;
            buf_free(&cols);
            goto out;
        }
    }
    append(cname, sizeof cname, pk ? "_pkey" : "_key");
    buf_puts(&r->sql, "CREATE UNIQUE INDEX IF NOT EXISTS ");
    if (con >= 0) {
        buf_append(&r->sql, lx->s + pglex_sig(lx, con)->off, pglex_sig(lx, con)->len);
    } else {
        int simple = (islower((unsigned char)cname[0]) || cname[0] == '_');
        for (char *p = cname; *p; p++)
            simple &= islower((unsigned char)*p) || isdigit((unsigned char)*p) || *p == '_';
        buf_printf(&r->sql, simple ? "%s" : "\"%s\"", cname);
    }
    buf_printf(&r->sql, " ON %.*s (%.*s)", (int)table.len, table.data, (int)cols.len, cols.data);
    buf_free(&cols);
    r->nstmts = 1;
    rc = finish_sql(r);
out:
    buf_free(&table);
    return rc;
}

/* ---- COPY ... FROM STDIN ------------------------------------------------------------------------ */

/* One-character option value from a string literal. */
static int copy_char(const pglex *lx, long k, char *out, pgsql_result *r)
{
    buf v;
    const char *why;
    buf_init(&v);
    int ok = (IS(k, PGLEX_STRING) || IS(k, PGLEX_ESTRING)) && pglex_string(lx->s, pglex_sig(lx, k), &v, &why) == 0 &&
             v.len == 1;
    if (ok)
        *out = v.data[0];
    buf_free(&v);
    return ok ? 0 : pgstmt_error(r, "22023", "COPY delimiter and quote must be a single one-byte character");
}

static int stmt_copy(const pglex *lx, long ns, pgsql_result *r)
{
    long k = 1;
    buf tb;
    buf_init(&tb);
    if (IS(k, PGLEX_LPAREN))
        return pgstmt_error(r, "0A000", "feature not supported: COPY (query) TO"), 1;
    long e = pgstmt_name(lx, k, &tb, r);
    if (e < 0)
        return 1;
    snprintf(r->name, sizeof r->name, "%.*s", (int)tb.len, tb.data);
    buf_free(&tb);
    k = e + 1;
    if (IS(k, PGLEX_LPAREN)) {
        for (k++; IS(k, PGLEX_IDENT) || IS(k, PGLEX_QIDENT); k += 2) {
            if (r->ncols == PGSQL_MAX_COPY_COLS)
                return pgstmt_error(r, "54011", "too many columns in COPY"), 1;
            const pglex_tok *t = pglex_sig(lx, k);
            buf_append(&r->colbuf, lx->s + t->off, t->len);
            buf_putc(&r->colbuf, '\0');
            r->ncols++;
            if (!IS(k + 1, PGLEX_COMMA))
                break;
        }
        if (!IS(k + 1, PGLEX_RPAREN) || r->ncols == 0)
            return syntax(lx, k + 1, r), 1;
        k += 2;
    }
    if (KW(k, "to"))
        return pgstmt_error(r, "0A000", "feature not supported: COPY TO"), 1;
    if (!KW(k, "from"))
        return syntax(lx, k, r), 1;
    if (!KW(k + 1, "stdin"))
        return pgstmt_error(r, "0A000", "feature not supported: COPY FROM a file or program (use STDIN)"), 1;
    k += 2;
    int csv = 0, have_delim = 0, have_null = 0;
    char delim = '\t', quote = '"';
    buf nul;
    buf_init(&nul);
    int paren = 0;
    if (KW(k, "with"))
        k++;
    if (IS(k, PGLEX_LPAREN))
        paren = 1, k++;
    const char *why;
    while (k < ns && r->action != PGSQL_ERROR) {
        if (paren && IS(k, PGLEX_RPAREN)) {
            paren = 0, k++;
            continue;
        }
        if (paren && IS(k, PGLEX_COMMA)) {
            k++;
            continue;
        }
        int has_arg = !IS(k + 1, PGLEX_COMMA) && !IS(k + 1, PGLEX_RPAREN) && k + 1 < ns;
        if (KW(k, "format") && has_arg) {
            csv = KW(k + 1, "csv");
            if (KW(k + 1, "binary"))
                pgstmt_error(r, "0A000", "feature not supported: COPY BINARY");
            else if (!csv && !KW(k + 1, "text"))
                pgstmt_error(r, "22023", "COPY format not recognized");
            k += 2;
        } else if (KW(k, "csv")) {
            csv = 1, k++;
        } else if (KW(k, "binary")) {
            pgstmt_error(r, "0A000", "feature not supported: COPY BINARY");
        } else if (KW(k, "header")) {
            r->copy_header = 1;
            k += (paren && has_arg) ? 2 : 1;
            if (paren && has_arg && (KW(k - 1, "false") || KW(k - 1, "off") || (IS(k - 1, PGLEX_NUMBER) &&
                                                                              lx->s[pglex_sig(lx, k - 1)->off] == '0')))
                r->copy_header = 0;
        } else if (KW(k, "delimiter") || KW(k, "quote") || KW(k, "escape")) {
            char c = 0;
            int which = KW(k, "delimiter") ? 0 : KW(k, "quote") ? 1 : 2;
            k += KW(k + 1, "as") ? 2 : 1;
            if (copy_char(lx, k, &c, r) == 0) {
                if (which == 0)
                    delim = c, have_delim = 1;
                else if (which == 1)
                    quote = c;
            }
            k++;
        } else if (KW(k, "null")) {
            k += KW(k + 1, "as") ? 2 : 1;
            buf_reset(&nul);
            if (!(IS(k, PGLEX_STRING) || IS(k, PGLEX_ESTRING)) || pglex_string(lx->s, pglex_sig(lx, k), &nul, &why) < 0 ||
                nul.len >= sizeof r->copy_null)
                syntax(lx, k, r);
            have_null = 1;
            k++;
        } else if (KW(k, "freeze") || KW(k, "encoding") || KW(k, "force_not_null") || KW(k, "force_null") ||
                   KW(k, "force_quote")) {
            /* Accepted and ignored: no frozen tuples in SQLite, UTF8 only, no forced quoting. */
            k += (paren && has_arg) ? 2 : 1;
            if (paren && IS(k - 1, PGLEX_LPAREN))
                k = pglex_skip_group(lx, k - 1) + 1;
        } else {
            syntax(lx, k, r);
        }
    }
    if (r->action != PGSQL_ERROR && paren)
        syntax(lx, k, r);
    if (r->action != PGSQL_ERROR) {
        r->action = PGSQL_COPY_FROM_STDIN;
        r->copy_format = csv ? 'c' : 't';
        r->copy_delim = have_delim ? delim : csv ? ',' : '\t';
        r->copy_quote = quote;
        if (have_null)
            snprintf(r->copy_null, sizeof r->copy_null, "%.*s", (int)nul.len, nul.data ? nul.data : "");
        else
            snprintf(r->copy_null, sizeof r->copy_null, "%s", csv ? "" : "\\N");
        const char *p = r->colbuf.data;
        for (int i = 0; i < r->ncols; i++, p += strlen(p) + 1)
            r->cols[i] = p;
    }
    buf_free(&nul);
    return 1;
}

/* ---- dispatch ------------------------------------------------------------------------------------- */

static const char *const UNSUPPORTED[] = {
    "listen", "unlisten", "notify", "prepare", "execute", "do", "grant", "revoke", "comment", "cluster",
    "reindex", "refresh", "security", "reassign", "import", "load", "fetch", "move", "declare", "close",
    "call", "merge", NULL,
};
static const char *const OBJECTS[] = {
    "extension", "schema", "sequence", "function", "procedure", "type", "domain", "role", "user",
    "database", "publication", "subscription", "policy", "rule", "materialized", "aggregate", "operator",
    "language", "server", "tablespace", "collation", "cast", "conversion", "event", "foreign",
    "statistics", "group", NULL,
};

int pgstmt_translate(const pglex *lx, long ns, pgsql_result *r)
{
    static const char *const tx[] = { "work", "transaction", NULL };
    if (KW(0, "set"))
        return stmt_set(lx, ns, r), 1;
    if (KW(0, "reset"))
        return stmt_name_only(lx, ns, r, PGSQL_RESET), 1;
    if (KW(0, "show"))
        return stmt_name_only(lx, ns, r, PGSQL_SHOW), 1;
    if (KW(0, "begin") || (KW(0, "start") && KW(1, "transaction"))) {
        /* Isolation levels and access modes are dropped: SQLite transactions are serializable. */
        r->action = PGSQL_BEGIN;
        buf_puts(&r->sql, "BEGIN");
        r->nstmts = 1;
        return finish_sql(r);
    }
    if (KW(0, "commit") || KW(0, "end") || KW(0, "rollback") || KW(0, "abort")) {
        int commit = KW(0, "commit") || KW(0, "end");
        long k = 1 + pglex_kw_in(lx, 1, tx);
        if (!commit && KW(k, "to"))
            return 0;   /* ROLLBACK TO SAVEPOINT: SQLite's own syntax */
        if (KW(1, "prepared"))
            return pgstmt_error(r, "0A000", "feature not supported: two-phase commit"), 1;
        if (KW(k, "and") && KW(k + 1, "chain"))
            return pgstmt_error(r, "0A000", "feature not supported: AND CHAIN"), 1;
        if (KW(k, "and") && KW(k + 1, "no") && KW(k + 2, "chain"))
            k += 3;
        if (k != ns)
            return syntax(lx, k, r), 1;
        r->action = commit ? PGSQL_COMMIT : PGSQL_ROLLBACK;
        buf_puts(&r->sql, commit ? "COMMIT" : "ROLLBACK");
        r->nstmts = 1;
        return finish_sql(r);
    }
    if (KW(0, "truncate"))
        return stmt_truncate(lx, ns, r), 1;
    if (KW(0, "drop") && (KW(1, "table") || KW(1, "view") || KW(1, "index")))
        return stmt_drop(lx, ns, r), 1;
    if (KW(0, "vacuum"))
        return stmt_vacuum(lx, ns, r, 0), 1;
    if (KW(0, "analyze") || KW(0, "analyse")) {
        r->action = PGSQL_SQL;
        return stmt_vacuum(lx, ns, r, 1), 1;
    }
    if (KW(0, "copy"))
        return stmt_copy(lx, ns, r);
    if (KW(0, "alter") && KW(1, "table"))
        return stmt_alter(lx, ns, r);
    if (KW(0, "deallocate") || KW(0, "discard")) {
        long k = 1 + (KW(0, "deallocate") && KW(1, "prepare"));
        char name[128];
        long e = plain_name(lx, k, name, sizeof name);
        if (e < 0 || e + 1 != ns)
            return syntax(lx, e < 0 ? k : e + 1, r), 1;
        r->action = KW(0, "discard") ? PGSQL_DISCARD : PGSQL_DEALLOCATE;
        set_name(r, name);
        return 1;
    }
    if (KW(0, "lock") || KW(0, "checkpoint")) {
        /* One writer at a time already: table locks have nothing left to protect. */
        r->action = PGSQL_NOOP;
        return 1;
    }
    const pglex_tok *t = pglex_sig(lx, 0);
    if (pglex_kw_in(lx, 0, UNSUPPORTED))
        return pgstmt_error(r, "0A000", "feature not supported: %.*s", (int)t->len, lx->s + t->off), 1;
    if ((KW(0, "create") || KW(0, "drop") || KW(0, "alter")) &&
        (pglex_kw_in(lx, 1, OBJECTS) || (KW(1, "or") && KW(2, "replace") && pglex_kw_in(lx, 3, OBJECTS)))) {
        long k = KW(1, "or") ? 3 : 1;
        const pglex_tok *o = pglex_sig(lx, k);
        return pgstmt_error(r, "0A000", "feature not supported: %.*s %.*s", (int)t->len, lx->s + t->off,
                            (int)o->len, lx->s + o->off), 1;
    }
    return 0;
}
