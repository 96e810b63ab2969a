/* topn.h - keeps the n most-hit entries seen (a min-heap), for CACHE TOP over both tiers. Internal to cache/. */
#ifndef LC_TOPN_H
#define LC_TOPN_H

#include <stdint.h>

#include "cache.h"

typedef struct topn topn;

topn *topn_new(int n);
void  topn_free(topn *t);
/* 1 when an entry with these hits would be kept (lets callers skip copying the others). */
int   topn_wants(const topn *t, int64_t hits);
/* Offer an entry; sql is copied. */
void  topn_offer(topn *t, const char *sql, size_t sql_len, int64_t hits, double age_s, int ttl_s,
                 int64_t bytes, int tier);
/* Call cb for each kept entry, most hits first. */
void  topn_emit(topn *t, cache_top_cb cb, void *ud);

#endif
