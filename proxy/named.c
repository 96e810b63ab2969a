/* named.c - parses yesql-style named-query files and keeps the queries in load order and by name. */
#include "named.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "errmsg.h"

/* One allocation per query: the public struct, then its name, SQL and origin strings. */
typedef struct nq_entry {
    nq_query q;
    size_t   name_len;
} nq_entry;

/* Queries are few and loaded once at start-up, then looked up on every CALL: a name-sorted array
 * searched by bisection is enough, and cannot fail at lookup time. */
struct nq_set {
    nq_entry **all;    /* load order, for nq_at */
    nq_entry **byname; /* sorted by name, for nq_find */
    size_t     n, cap;
};

/* The queries of one text, kept apart until the whole text has parsed, so that an error adds nothing. */
typedef struct nq_pending {
    nq_entry **v;
    size_t     n, cap;
} nq_pending;

nq_set *nq_new(void)
{
    return calloc(1, sizeof(nq_set));
}

void nq_free(nq_set *set)
{
    if (!set)
        return;
    for (size_t i = 0; i < set->n; i++)
        free(set->all[i]);
    free(set->all);
    free(set->byname);
    free(set);
}

size_t nq_count(const nq_set *set)
{
    return set ? set->n : 0;
}

const nq_query *nq_at(const nq_set *set, size_t i)
{
    return set && i < set->n ? &set->all[i]->q : NULL;
}

static int nq_namecmp(const char *a, size_t alen, const char *b, size_t blen)
{
    int c = memcmp(a, b, alen < blen ? alen : blen);
    if (c)
        return c;
    return alen < blen ? -1 : alen > blen;
}

static int nq_entry_cmp(const void *pa, const void *pb)
{
    const nq_entry *a = *(const nq_entry *const *)pa, *b = *(const nq_entry *const *)pb;
    return nq_namecmp(a->q.name, a->name_len, b->q.name, b->name_len);
}

static const nq_entry *nq_find_entry(const nq_set *set, const char *name, size_t len)
{
    size_t lo = 0, hi = set->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        const nq_entry *e = set->byname[mid];
        int c = nq_namecmp(name, len, e->q.name, e->name_len);
        if (c == 0)
            return e;
        if (c < 0)
            hi = mid;
        else
            lo = mid + 1;
    }
    return NULL;
}

const nq_query *nq_find(const nq_set *set, const char *name, size_t len)
{
    if (!set || !name)
        return NULL;
    const nq_entry *e = nq_find_entry(set, name, len);
    return e ? &e->q : NULL;
}

static int nq_is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\f' || c == '\v';
}

static int nq_is_ident_start(char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_';
}

static int nq_is_ident(char c)
{
    return nq_is_ident_start(c) || (c >= '0' && c <= '9');
}

/* True when the text holds something besides whitespace and comments, i.e. at least one statement. */
static int nq_has_sql(const char *p, const char *end)
{
    while (p < end) {
        if (nq_is_space(*p)) {
            p++;
        } else if (end - p >= 2 && p[0] == '-' && p[1] == '-') {
            while (p < end && *p != '\n')
                p++;
        } else if (end - p >= 2 && p[0] == '/' && p[1] == '*') {
            p += 2;
            while (end - p >= 2 && !(p[0] == '*' && p[1] == '/'))
                p++;
            p = end - p >= 2 ? p + 2 : end;
        } else {
            return 1;
        }
    }
    return 0;
}

/* A `-- name:` line, leading whitespace allowed; *rest is set just past the colon. */
static int nq_is_name_line(const char *p, const char *end, const char **rest)
{
    while (p < end && (*p == ' ' || *p == '\t'))
        p++;
    if (end - p < 2 || p[0] != '-' || p[1] != '-')
        return 0;
    p += 2;
    while (p < end && (*p == ' ' || *p == '\t'))
        p++;
    if (end - p < 5 || memcmp(p, "name:", 5) != 0)
        return 0;
    *rest = p + 5;
    return 1;
}

/* What a name line says, before the body is known. */
typedef struct nq_header {
    const char *name;
    size_t      name_len;
    int         ttl;
    int         nocache;
    int         line;
} nq_header;

static const char *nq_skip_blanks(const char *p, const char *end)
{
    while (p < end && (*p == ' ' || *p == '\t'))
        p++;
    return p;
}

static const char *nq_token_end(const char *p, const char *end)
{
    while (p < end && *p != ' ' && *p != '\t')
        p++;
    return p;
}

/* Parses "<ident> [attr…]" (the line after `name:`, without its line ending). */
static int nq_parse_header(const char *p, const char *end, nq_header *h, const char *origin, char *err, size_t errlen)
{
    p = nq_skip_blanks(p, end);
    const char *tok_end = nq_token_end(p, end);
    if (p == tok_end) {
        errmsg_set(err, errlen, "%s:%d: missing query name after `-- name:`", origin, h->line);
        return -1;
    }
    const char *q = p;
    if (nq_is_ident_start(*q))
        while (q < tok_end && nq_is_ident(*q))
            q++;
    if (q != tok_end || q == p) {
        errmsg_set(err, errlen, "%s:%d: bad query name '%.*s' (want letters, digits and _, not starting with a digit)",
                   origin, h->line, (int)(tok_end - p), p);
        return -1;
    }
    h->name = p;
    h->name_len = (size_t)(tok_end - p);
    h->ttl = -1;
    h->nocache = 0;

    for (p = nq_skip_blanks(tok_end, end); p < end; p = nq_skip_blanks(tok_end, end)) {
        tok_end = nq_token_end(p, end);
        size_t n = (size_t)(tok_end - p);
        if (n == 7 && memcmp(p, "nocache", 7) == 0) {
            if (h->nocache) {
                errmsg_set(err, errlen, "%s:%d: query '%.*s': nocache given twice", origin, h->line, (int)h->name_len, h->name);
                return -1;
            }
            h->nocache = 1;
        } else if (n >= 4 && memcmp(p, "ttl=", 4) == 0) {
            if (h->ttl >= 0) {
                errmsg_set(err, errlen, "%s:%d: query '%.*s': ttl given twice", origin, h->line, (int)h->name_len, h->name);
                return -1;
            }
            long long v = 0;
            const char *d = p + 4;
            if (d == tok_end)
                v = -1;
            for (; d < tok_end && v >= 0; d++) {
                if (*d < '0' || *d > '9' || v > (INT_MAX - (*d - '0')) / 10)
                    v = -1;
                else
                    v = v * 10 + (*d - '0');
            }
            if (v < 0) {
                errmsg_set(err, errlen, "%s:%d: query '%.*s': bad ttl '%.*s' (want ttl=N, N a whole number of seconds up to %d)",
                           origin, h->line, (int)h->name_len, h->name, (int)n, p, INT_MAX);
                return -1;
            }
            h->ttl = (int)v;
        } else {
            errmsg_set(err, errlen, "%s:%d: query '%.*s': unknown attribute '%.*s' (known: ttl=N, nocache)",
                       origin, h->line, (int)h->name_len, h->name, (int)n, p);
            return -1;
        }
    }
    return 0;
}

static int nq_pending_push(nq_pending *pd, nq_entry *e)
{
    if (pd->n == pd->cap) {
        size_t cap = pd->cap ? pd->cap * 2 : 16;
        nq_entry **v = realloc(pd->v, cap * sizeof *v);
        if (!v)
            return -1;
        pd->v = v;
        pd->cap = cap;
    }
    pd->v[pd->n++] = e;
    return 0;
}

static void nq_pending_free(nq_pending *pd)
{
    for (size_t i = 0; i < pd->n; i++)
        free(pd->v[i]);
    free(pd->v);
}

/* Turns a header and its body text into a pending entry: trims the body, turns CRLF into LF,
 * and checks that the name is new both to the set and to this text. */
static int nq_finish(nq_set *set, nq_pending *pd, const nq_header *h, const char *body, const char *body_end,
                     const char *origin, char *err, size_t errlen)
{
    while (body < body_end && nq_is_space(*body))
        body++;
    while (body_end > body && nq_is_space(body_end[-1]))
        body_end--;
    if (!nq_has_sql(body, body_end)) {
        errmsg_set(err, errlen, "%s:%d: query '%.*s' has an empty body", origin, h->line, (int)h->name_len, h->name);
        return -1;
    }

    const nq_entry *dup = nq_find_entry(set, h->name, h->name_len);
    for (size_t i = 0; !dup && i < pd->n; i++)
        if (nq_namecmp(h->name, h->name_len, pd->v[i]->q.name, pd->v[i]->name_len) == 0)
            dup = pd->v[i];
    if (dup) {
        errmsg_set(err, errlen, "%s:%d: duplicate query name '%.*s' (first defined at %s:%d)",
                   origin, h->line, (int)h->name_len, h->name, dup->q.origin, dup->q.line);
        return -1;
    }

    size_t body_len = (size_t)(body_end - body), origin_len = strlen(origin);
    nq_entry *e = malloc(sizeof *e + h->name_len + 1 + body_len + 1 + origin_len + 1);
    if (!e) {
        errmsg_set(err, errlen, "%s:%d: out of memory", origin, h->line);
        return -1;
    }
    char *name = (char *)(e + 1);
    memcpy(name, h->name, h->name_len);
    name[h->name_len] = '\0';

    char *sql = name + h->name_len + 1, *o = sql;
    for (const char *s = body; s < body_end; s++)
        if (!(*s == '\r' && s + 1 < body_end && s[1] == '\n'))
            *o++ = *s;
    *o = '\0';

    char *org = o + 1;
    memcpy(org, origin, origin_len + 1);

    e->q = (nq_query){ .name = name, .sql = sql, .ttl = h->ttl, .nocache = h->nocache, .origin = org, .line = h->line };
    e->name_len = h->name_len;
    if (nq_pending_push(pd, e) < 0) {
        free(e);
        errmsg_set(err, errlen, "%s:%d: out of memory", origin, h->line);
        return -1;
    }
    return 0;
}

/* Moves the pending entries into the set; all or nothing. */
static int nq_commit(nq_set *set, nq_pending *pd)
{
    if (pd->n == 0)
        return 0;
    size_t need = set->n + pd->n;
    if (need > set->cap) {
        size_t cap = set->cap ? set->cap : 16;
        while (cap < need)
            cap *= 2;
        nq_entry **all = realloc(set->all, cap * sizeof *all);
        if (!all)
            return -1;
        set->all = all;
        nq_entry **byname = realloc(set->byname, cap * sizeof *byname);
        if (!byname)
            return -1;
        set->byname = byname;
        set->cap = cap;
    }
    for (size_t i = 0; i < pd->n; i++) {
        set->all[set->n] = pd->v[i];
        set->byname[set->n] = pd->v[i];
        set->n++;
    }
    qsort(set->byname, set->n, sizeof *set->byname, nq_entry_cmp);
    pd->n = 0;
    return 0;
}

int nq_load_text(nq_set *set, const char *text, size_t len, const char *origin, char *err, size_t errlen)
{
    if (!origin)
        origin = "<text>";
    const char *p = text, *end = text + len;
    if (len >= 3 && memcmp(p, "\xEF\xBB\xBF", 3) == 0)
        p += 3; /* a UTF-8 byte order mark, as some Windows editors write */

    nq_pending pd = { 0 };
    nq_header h = { 0 };
    int have_header = 0, lineno = 0;
    const char *body = NULL;

    while (p < end) {
        lineno++;
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *line_end = nl ? nl : end, *next = nl ? nl + 1 : end;
        if (memchr(p, '\0', (size_t)(line_end - p))) {
            errmsg_set(err, errlen, "%s:%d: NUL byte in query text", origin, lineno);
            goto fail;
        }
        const char *content_end = line_end > p && line_end[-1] == '\r' ? line_end - 1 : line_end;

        const char *rest;
        if (nq_is_name_line(p, content_end, &rest)) {
            if (have_header && nq_finish(set, &pd, &h, body, p, origin, err, errlen) < 0)
                goto fail;
            h.line = lineno;
            if (nq_parse_header(rest, content_end, &h, origin, err, errlen) < 0)
                goto fail;
            have_header = 1;
            body = next;
        } else if (!have_header) {
            const char *s = nq_skip_blanks(p, content_end);
            if (s < content_end && !(content_end - s >= 2 && s[0] == '-' && s[1] == '-')) {
                errmsg_set(err, errlen, "%s:%d: text before the first `-- name:` line (only comments and blank lines may come first)",
                           origin, lineno);
                goto fail;
            }
        }
        p = next;
    }
    if (have_header && nq_finish(set, &pd, &h, body, end, origin, err, errlen) < 0)
        goto fail;
    if (nq_commit(set, &pd) < 0) {
        errmsg_set(err, errlen, "%s: out of memory", origin);
        goto fail;
    }
    nq_pending_free(&pd);
    return 0;

fail:
    nq_pending_free(&pd);
    return -1;
}

int nq_load_file(nq_set *set, const char *path, char *err, size_t errlen)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        errmsg_set(err, errlen, "%s: %s", path, strerror(errno));
        return -1;
    }
    char *data = NULL;
    size_t len = 0, cap = 0;
    errno = 0;
    for (;;) {
        if (cap - len < 4096) {
            cap = cap ? cap * 2 : 16384;
            char *d = realloc(data, cap);
            if (!d) {
                errmsg_set(err, errlen, "%s: out of memory", path);
                goto fail;
            }
            data = d;
        }
        size_t got = fread(data + len, 1, cap - len, f);
        len += got;
        if (got == 0)
            break;
    }
    if (ferror(f)) {
        /* fread sets errno on Linux (EISDIR for a directory, EIO, ...). */
        errmsg_set(err, errlen, "%s: %s", path, strerror(errno ? errno : EIO));
        goto fail;
    }
    fclose(f);
    int rc = nq_load_text(set, data, len, path, err, errlen);
    free(data);
    return rc;

fail:
    fclose(f);
    free(data);
    return -1;
}
