/* metrics.h - the Prometheus text exposition (format 0.0.4) of litecached's counters, and STATS as JSON: pure rendering into a buf. */
#ifndef LC_METRICS_H
#define LC_METRICS_H

#include <stdint.h>

#include "buf.h"
#include "cache.h"
#include "replica.h"
#include "stats.h"

/* Everything one scrape shows, gathered by the caller (httpd.c) so that rendering is pure. */
typedef struct metrics_input {
    const char        *version;          /* litecached's */
    const char        *sqlite_version;
    int64_t            uptime_s;
    int64_t            counters[STATS__COUNT];
    const stats_named *requests;         /* by protocol and command */
    int                nrequests;
    const stats_named *errors;           /* by SQLSTATE */
    int                nerrors;
    stats_hist         latency;          /* milliseconds; rendered in seconds */
    stats_hist         groups;           /* writer group sizes, in jobs */
    int                have_cache;       /* the cache families are left out without one */
    cache_stats        cache;
    int64_t            foreign_commits;
    int64_t            wal_bytes;        /* -1: unknown (no WAL file) */
    int                have_replica;     /* read_replica = memory: the replica families */
    replica_stats      replica;
} metrics_input;

/* Append the whole exposition: every family once, each with # HELP and # TYPE. */
void metrics_render(const metrics_input *in, buf *out);

/* ---- the pieces, for a family added elsewhere ---- */

/* "# HELP name help" (help escaped) and "# TYPE name type". */
void metrics_family(buf *out, const char *name, const char *type, const char *help);
/* One sample line. labels is NULL or alternating key, value strings ending with NULL; values are
 * escaped (\\, \", \n). */
void metrics_sample(buf *out, const char *name, const char *const *labels, double value);
/* A whole histogram family: _bucket lines with cumulative counts (le in unit * scale), the +Inf
 * bucket, _sum and _count, which equals the +Inf bucket. */
void metrics_histogram(buf *out, const char *name, const char *help, const stats_hist *h, double scale);
/* A number as Prometheus (and Go's strconv 'g') writes it: integers plainly, +Inf/-Inf/NaN. */
void metrics_put_number(buf *out, double v);

/* STATS' "=name\tvalue\n" lines as one JSON object on one line: {"name":value,...}. Values that
 * are not numbers become JSON strings. */
void metrics_lines_to_json(const char *lines, size_t len, buf *out);

#endif
