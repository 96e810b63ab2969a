/* named.h - named queries: yesql-style files (`-- name: getUserById ttl=30`) loaded into a registry. */
#ifndef LC_NAMED_H
#define LC_NAMED_H

#include <stddef.h>

typedef struct nq_query {
    const char *name;
    const char *sql;     /* the whole body: one or more statements, comments kept */
    int         ttl;     /* cache TTL in seconds from `ttl=N`; -1 when not given */
    int         nocache; /* `nocache` given */
    const char *origin;  /* file it came from */
    int         line;    /* line of its `-- name:` */
} nq_query;

typedef struct nq_set nq_set;

nq_set *nq_new(void);
void    nq_free(nq_set *set);

/* Parse a file's text. A `-- name: <ident> [attr…]` line starts a query; its body runs to the
 * next such line. Errors (duplicate name, empty body, unknown attribute, bad name) name origin:line.
 * Returns 0, or -1 with the message in err; on error nothing from this text is added. */
int nq_load_text(nq_set *set, const char *text, size_t len, const char *origin, char *err, size_t errlen);
int nq_load_file(nq_set *set, const char *path, char *err, size_t errlen);

/* Case-sensitive lookup; NULL when absent. */
const nq_query *nq_find(const nq_set *set, const char *name, size_t len);
size_t          nq_count(const nq_set *set);
/* The i-th query in load order. */
const nq_query *nq_at(const nq_set *set, size_t i);

#endif
