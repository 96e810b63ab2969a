/* pgcall.c - CALL name(args) for PostgreSQL clients: the statement parsed into a named query of the catalog and its arguments (literals or $n), so that it reaches the same cache entries as the line protocol's CALL. */
#include "pgcall.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static int word_at(const char *p, const char *end, const char *w)
{
    size_t n = strlen(w);
    return (size_t)(end - p) >= n && !strncasecmp(p, w, n) &&
           (p + n == end || !(isalnum((unsigned char)p[n]) || p[n] == '_'));
}

int pgcall_is(const char *sql, size_t len)
{
    return word_at(sql, sql + len, "CALL");
}

static void skip_ws(const char **p, const char *end)
{
    while (*p < end && isspace((unsigned char)**p))
        (*p)++;
}

/* The named query for an identifier: exact first, then PostgreSQL's case folding of an unquoted
 * name (getUserById arrives as getuserbyid). */
static const catalog_entry *find_named(const catalog *cat, const char *name, size_t len, int quoted)
{
    const catalog_entry *e = catalog_find(cat, name, len);
    for (size_t i = 0; !e && !quoted && i < catalog_count(cat); i++) {
        const catalog_entry *c = catalog_at(cat, i);
        if (strlen(c->q->name) == len && !strncasecmp(c->q->name, name, len))
            e = c;
    }
    return e;
}

int pgcall_parse(const catalog *cat, const char *sql, size_t len, lp_arg *args, int *params, int max,
                 buf *scratch, const catalog_entry **entry, int *nargs, const char **state, char *msg,
                 size_t msglen)
{
    const char *p = sql + 4, *end = sql + len;
    *state = "42601";
    while (end > p && (isspace((unsigned char)end[-1]) || end[-1] == ';'))
        end--;
    skip_ws(&p, end);
    const char *name = p;
    int quoted = p < end && *p == '"';
    if (quoted) {
        name = ++p;
        while (p < end && *p != '"')
            p++;
        if (p == end) {
            snprintf(msg, msglen, "syntax error in CALL: unterminated quoted name");
            return -1;
        }
    } else {
        while (p < end && (isalnum((unsigned char)*p) || *p == '_'))
            p++;
    }
    size_t nlen = (size_t)(p - name);
    p += quoted;
    if (nlen == 0) {
        snprintf(msg, msglen, "syntax error in CALL: a procedure name is needed");
        return -1;
    }
    /* Literal texts are unescaped into scratch, which must not move while args point into it. */
    buf_reset(scratch);
    if (buf_reserve(scratch, len + 1) < 0) {
        *state = "53200";
        snprintf(msg, msglen, "out of memory");
        return -1;
    }
    int n = 0;
    skip_ws(&p, end);
    if (p < end && *p == '(') {
        p++;
        skip_ws(&p, end);
        while (p < end && *p != ')') {
            if (n == max) {
                *state = "54023";
                snprintf(msg, msglen, "CALL with more than %d arguments", max);
                return -1;
            }
            lp_arg *a = &args[n];
            params[n] = 0;
            memset(a, 0, sizeof *a);
            const char *q = p;
            if (*q == '\'') {
                a->type = LP_ARG_TEXT;
                a->s = scratch->data + scratch->len;
                for (q++;; q++) {
                    if (q >= end) {
                        snprintf(msg, msglen, "syntax error in CALL: unterminated string");
                        return -1;
                    }
                    if (*q == '\'' && q + 1 < end && q[1] == '\'')
                        q++;
                    else if (*q == '\'')
                        break;
                    scratch->data[scratch->len++] = *q;
                }
                a->len = (size_t)(scratch->data + scratch->len - a->s);
                q++;
            } else if (*q == '$') {
                long v = 0;
                for (q++; q < end && isdigit((unsigned char)*q) && v < 100000; q++)
                    v = v * 10 + (*q - '0');
                if (v < 1 || v > 65535) {
                    snprintf(msg, msglen, "syntax error in CALL: bad parameter number");
                    return -1;
                }
                params[n] = (int)v;
            } else if (word_at(q, end, "NULL")) {
                a->type = LP_ARG_NULL;
                q += 4;
            } else if (word_at(q, end, "TRUE") || word_at(q, end, "FALSE")) {
                a->type = LP_ARG_INT;
                a->i = (*q == 't' || *q == 'T');
                q += a->i ? 4 : 5;
            } else {
                char tmp[64], *e1;
                size_t k = 0;
                while (q + k < end && k < sizeof tmp - 1 && (isalnum((unsigned char)q[k]) || strchr("+-.", q[k])))
                    k++;
                memcpy(tmp, q, k);
                tmp[k] = '\0';
                long long iv = strtoll(tmp, &e1, 10);
                if (k && !*e1) {
                    a->type = LP_ARG_INT;
                    a->i = iv;
                } else if (k && (a->d = strtod(tmp, &e1), !*e1)) {
                    a->type = LP_ARG_REAL;
                } else {
                    snprintf(msg, msglen, "syntax error in CALL at or near \"%.*s\"", (int)(k ? k : 1), q);
                    return -1;
                }
                q += k;
            }
            /* A cast (1::int, $1::text) changes nothing litecached can use. */
            skip_ws(&q, end);
            if (end - q >= 2 && q[0] == ':' && q[1] == ':')
                for (q += 2; q < end && (isalnum((unsigned char)*q) || *q == '_' || *q == ' '); q++)
                    ;
            n++;
            p = q;
            skip_ws(&p, end);
            if (p < end && *p == ',') {
                p++;
                skip_ws(&p, end);
            } else if (p < end && *p != ')') {
                snprintf(msg, msglen, "syntax error in CALL at or near \"%.*s\"", (int)(end - p > 20 ? 20 : end - p), p);
                return -1;
            }
        }
        if (p == end) {
            snprintf(msg, msglen, "syntax error in CALL: missing \")\"");
            return -1;
        }
        p++;
        skip_ws(&p, end);
    }
    if (p != end) {
        snprintf(msg, msglen, "syntax error in CALL at or near \"%.*s\"", (int)(end - p > 20 ? 20 : end - p), p);
        return -1;
    }
    const catalog_entry *e = find_named(cat, name, nlen, quoted);
    if (!e) {
        *state = "42883";
        snprintf(msg, msglen, "unknown named query '%.*s'", (int)(nlen > 100 ? 100 : nlen), name);
        return -1;
    }
    if (n != query_plan_nparams(e->plan)) {
        buf names;
        buf_init(&names);
        query_plan_describe(e->plan, &names);
        *state = "22023";
        snprintf(msg, msglen, "%s takes %d argument%s (%.*s), got %d", e->q->name, query_plan_nparams(e->plan),
                 query_plan_nparams(e->plan) == 1 ? "" : "s", (int)names.len, names.data ? names.data : "", n);
        buf_free(&names);
        return -1;
    }
    *entry = e;
    *nargs = n;
    return 0;
}

