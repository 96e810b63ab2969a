/* users.c - who may connect: the users_file (user, role, SCRAM verifier), read at start-up and on reload, read-only after. */
#include "users.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "scram.h"

struct users_list {
    users_entry *users;
    size_t       n;
    char        *text;   /* the file's bytes, cut into NUL-terminated words the users point to */
};

void users_free(users_list *a)
{
    if (!a)
        return;
    free(a->users);
    free(a->text);
    free(a);
}

static int is_space(char c) { return c == ' ' || c == '\t' || c == '\r'; }

/* Cut the next word of [*p, end) in place; NULL when there is none. */
static char *next_word(char **p, char *end)
{
    while (*p < end && is_space(**p))
        (*p)++;
    if (*p >= end)
        return NULL;
    char *w = *p;
    while (*p < end && !is_space(**p))
        (*p)++;
    if (*p < end)
        *(*p)++ = '\0';
    else
        **p = '\0'; /* end points at the line's '\n' or the text's NUL: ours to overwrite */
    return w;
}

users_list *users_parse(const char *text, size_t len, const char *name, char *err, size_t errlen)
{
    users_list *a = calloc(1, sizeof *a);
    if (!a || !(a->text = malloc(len + 1))) {
        free(a);
        snprintf(err, errlen, "%s: out of memory", name);
        return NULL;
    }
    memcpy(a->text, text, len);
    a->text[len] = '\0';
    size_t cap = 0;
    int lineno = 0;
    for (char *line = a->text, *stop = a->text + len; line < stop; ) {
        lineno++;
        char *nl = memchr(line, '\n', (size_t)(stop - line));
        char *end = nl ? nl : stop;
        char *p = line;
        line = nl ? nl + 1 : stop;
        char *user = next_word(&p, end);
        if (!user || user[0] == '#')
            continue;
        char *role = next_word(&p, end), *verifier = next_word(&p, end), *extra = next_word(&p, end);
        if (!role || !verifier || extra) {
            snprintf(err, errlen, "%s:%d: want \"<user> <role> <verifier>\"", name, lineno);
            goto fail;
        }
        int r = -1;
        for (int i = ROLE_READONLY; i <= ROLE_ADMIN; i++)
            if (!strcmp(role, role_name((enum role)i)))
                r = i;
        if (r < 0) {
            snprintf(err, errlen, "%s:%d: %s: role \"%s\" is not admin, readwrite or readonly", name, lineno,
                     user, role);
            goto fail;
        }
        scram_verifier v;
        if (scram_parse_verifier(verifier, &v) < 0) {
            snprintf(err, errlen, "%s:%d: %s: not a SCRAM-SHA-256 verifier (make one with litecached "
                     "--make-verifier PASSWORD)", name, lineno, user);
            goto fail;
        }
        if (users_find(a, user)) {
            snprintf(err, errlen, "%s:%d: %s: listed twice", name, lineno, user);
            goto fail;
        }
        if (a->n == cap) {
            cap = cap ? cap * 2 : 8;
            users_entry *u = realloc(a->users, cap * sizeof *u);
            if (!u) {
                snprintf(err, errlen, "%s: out of memory", name);
                goto fail;
            }
            a->users = u;
        }
        a->users[a->n++] = (users_entry){user, (enum role)r, verifier};
    }
    return a;
fail:
    users_free(a);
    return NULL;
}

users_list *users_load(const char *path, char *err, size_t errlen)
{
    if (!path || !path[0])
        return users_parse("", 0, "users_file", err, errlen);
    FILE *f = fopen(path, "r");
    if (!f) {
        snprintf(err, errlen, "%s: cannot open: %s", path, strerror(errno));
        return NULL;
    }
    buf b;
    buf_init(&b);
    char chunk[4096];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0)
        buf_append(&b, chunk, n);
    int bad = ferror(f);
    fclose(f);
    if (bad || b.oom) {
        snprintf(err, errlen, "%s: cannot read", path);
        buf_free(&b);
        return NULL;
    }
    users_list *a = users_parse(b.data ? b.data : "", b.len, path, err, errlen);
    buf_free(&b);
    return a;
}

const users_entry *users_find(const users_list *a, const char *user)
{
    /* A handful of users: a scan is all it takes. */
    for (size_t i = 0; a && i < a->n; i++)
        if (!strcmp(a->users[i].name, user))
            return &a->users[i];
    return NULL;
}

size_t users_count(const users_list *a) { return a ? a->n : 0; }
