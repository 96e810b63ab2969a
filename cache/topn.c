/* topn.c - keeps the n most-hit entries seen (a min-heap), for CACHE TOP over both tiers. */
#include "topn.h"

#include <stdlib.h>
#include <string.h>

typedef struct item {
    char   *sql;
    size_t  sql_len;
    int64_t hits, bytes;
    double  age_s;
    int     ttl_s, tier;
} item;

/* A min-heap on hits: the root is the weakest kept entry, the one a better offer replaces. */
struct topn {
    int  cap, n;
    item it[];
};

topn *topn_new(int n)
{
    if (n < 0)
        n = 0;
    topn *t = calloc(1, sizeof *t + (size_t)n * sizeof(item));
    if (t)
        t->cap = n;
    return t;
}

void topn_free(topn *t)
{
    if (!t)
        return;
    for (int i = 0; i < t->n; i++)
        free(t->it[i].sql);
    free(t);
}

int topn_wants(const topn *t, int64_t hits) { return t->n < t->cap || (t->cap > 0 && hits > t->it[0].hits); }

/* Exchange two heap items. */
static void swap(item *a, item *b)
{
    item x = *a;
    *a = *b;
    *b = x;
}

/* Restore the heap below i after the root was replaced. */
static void sift_down(topn *t, int i)
{
    for (;;) {
        int l = 2 * i + 1, r = l + 1, m = i;
        if (l < t->n && t->it[l].hits < t->it[m].hits)
            m = l;
        if (r < t->n && t->it[r].hits < t->it[m].hits)
            m = r;
        if (m == i)
            return;
        swap(&t->it[i], &t->it[m]);
        i = m;
    }
}

void topn_offer(topn *t, const char *sql, size_t sql_len, int64_t hits, double age_s, int ttl_s,
                int64_t bytes, int tier)
{
    if (!topn_wants(t, hits))
        return;
    char *copy = malloc(sql_len + 1);
    if (!copy)
        return;
    memcpy(copy, sql, sql_len);
    copy[sql_len] = '\0';
    item x = { copy, sql_len, hits, bytes, age_s, ttl_s, tier };
    if (t->n < t->cap) {
        int i = t->n++;
        t->it[i] = x;
        while (i > 0 && t->it[(i - 1) / 2].hits > t->it[i].hits) {
            swap(&t->it[i], &t->it[(i - 1) / 2]);
            i = (i - 1) / 2;
        }
        return;
    }
    free(t->it[0].sql);
    t->it[0] = x;
    sift_down(t, 0);
}

/* qsort order: most hits first. */
static int by_hits_desc(const void *a, const void *b)
{
    const item *x = a, *y = b;
    return (x->hits < y->hits) - (x->hits > y->hits);
}

void topn_emit(topn *t, cache_top_cb cb, void *ud)
{
    qsort(t->it, (size_t)t->n, sizeof(item), by_hits_desc);
    for (int i = 0; i < t->n; i++)
        cb(ud, t->it[i].sql, t->it[i].sql_len, t->it[i].hits, t->it[i].age_s, t->it[i].ttl_s,
           t->it[i].bytes, t->it[i].tier);
}
