/* catalog.c - the named queries the server knows, each with its parameter plan, ready for CALL. */
#include "catalog.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "schema.h"

struct catalog {
    nq_set        *set;
    catalog_entry *entries; /* same order as the set */
    size_t         n;
};

static int load_files(nq_set *set, const char *list, char *err, size_t errlen)
{
    char *copy = strdup(list ? list : "");
    if (!copy) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    int rc = 0;
    char *save = NULL;
    for (char *tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        while (*tok == ' ' || *tok == '\t')
            tok++;
        char *end = tok + strlen(tok);
        while (end > tok && (end[-1] == ' ' || end[-1] == '\t'))
            *--end = '\0';
        if (*tok && nq_load_file(set, tok, err, errlen) < 0) {
            rc = -1;
            break;
        }
    }
    free(copy);
    return rc;
}

catalog *catalog_build(db_conn *db, const char *extra_files, char *err, size_t errlen)
{
    catalog *cat = calloc(1, sizeof *cat);
    if (!cat || !(cat->set = nq_new())) {
        free(cat);
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    size_t len;
    const char *text = schema_queries_text(&len);
    if (nq_load_text(cat->set, text, len, "schema/queries.sql", err, errlen) < 0 ||
        load_files(cat->set, extra_files, err, errlen) < 0)
        goto fail;
    cat->n = nq_count(cat->set);
    cat->entries = calloc(cat->n ? cat->n : 1, sizeof *cat->entries);
    if (!cat->entries) {
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    for (size_t i = 0; i < cat->n; i++) {
        catalog_entry *e = &cat->entries[i];
        e->q = nq_at(cat->set, i);
        char why[512];
        e->plan = query_plan_build(db, e->q->sql, strlen(e->q->sql), &e->readonly, why, sizeof why);
        if (!e->plan) {
            snprintf(err, errlen, "%s:%d: %s: %s", e->q->origin, e->q->line, e->q->name, why);
            goto fail;
        }
    }
    return cat;
fail:
    catalog_free(cat);
    return NULL;
}

void catalog_free(catalog *cat)
{
    if (!cat)
        return;
    for (size_t i = 0; i < cat->n; i++)
        query_plan_free(cat->entries[i].plan);
    free(cat->entries);
    nq_free(cat->set);
    free(cat);
}

const catalog_entry *catalog_find(const catalog *cat, const char *name, size_t len)
{
    const nq_query *q = nq_find(cat->set, name, len);
    if (!q)
        return NULL;
    for (size_t i = 0; i < cat->n; i++)
        if (cat->entries[i].q == q)
            return &cat->entries[i];
    return NULL;
}

size_t catalog_count(const catalog *cat) { return cat->n; }
const catalog_entry *catalog_at(const catalog *cat, size_t i) { return &cat->entries[i]; }
