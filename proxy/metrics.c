/* metrics.c - the Prometheus text exposition (format 0.0.4) of litecached's counters, and STATS as JSON: pure rendering into a buf. */
#include "metrics.h"


#include <math.h>
#include <stdio.h>
#include <string.h>

#include "lineproto.h"

void metrics_put_number(buf *out, double v)
{
    if (isnan(v))
        buf_puts(out, "NaN");
    else if (isinf(v))
        buf_puts(out, v > 0 ? "+Inf" : "-Inf");
    else if (v == floor(v) && fabs(v) < 1e15)
        buf_printf(out, "%lld", (long long)v);
    else
        buf_printf(out, "%.15g", v);
}

/* HELP text escapes \ and newline; label values also ". */
static void put_escaped(buf *out, const char *s, int quote)
{
    for (; *s; s++) {
        if (*s == '\\')
            buf_puts(out, "\\\\");
        else if (*s == '\n')
            buf_puts(out, "\\n");
        else if (*s == '"' && quote)
            buf_puts(out, "\\\"");
        else
            buf_putc(out, *s);
    }
}

void metrics_family(buf *out, const char *name, const char *type, const char *help)
{
    buf_printf(out, "# HELP %s ", name);
    put_escaped(out, help, 0);
    buf_printf(out, "\n# TYPE %s %s\n", name, type);
}

static void put_labels(buf *out, const char *const *labels, const char *le)
{
    int any = 0;
    for (int i = 0; labels && labels[i]; i += 2) {
        buf_puts(out, any++ ? "," : "{");
        buf_printf(out, "%s=\"", labels[i]);
        put_escaped(out, labels[i + 1] ? labels[i + 1] : "", 1);
        buf_putc(out, '"');
    }
    if (le) {
        buf_puts(out, any++ ? "," : "{");
        buf_printf(out, "le=\"%s\"", le);
    }
    if (any)
        buf_putc(out, '}');
}

void metrics_sample(buf *out, const char *name, const char *const *labels, double value)
{
    buf_puts(out, name);
    put_labels(out, labels, NULL);
    buf_putc(out, ' ');
    metrics_put_number(out, value);
    buf_putc(out, '\n');
}

void metrics_histogram(buf *out, const char *name, const char *help, const stats_hist *h, double scale)
{
    metrics_family(out, name, "histogram", help);
    uint64_t cum = 0;
    char le[48];
    for (int i = 0; i <= h->n; i++) {
        cum += h->counts[i];
        buf le_buf;
        buf_init(&le_buf);
        if (i < h->n)
            metrics_put_number(&le_buf, h->bounds[i] * scale);
        else
            buf_puts(&le_buf, "+Inf");
        snprintf(le, sizeof le, "%.*s", (int)le_buf.len, le_buf.data ? le_buf.data : "");
        buf_free(&le_buf);
        buf_printf(out, "%s_bucket", name);
        put_labels(out, NULL, le);
        buf_printf(out, " %llu\n", (unsigned long long)cum);
    }
    buf_printf(out, "%s_sum ", name);
    metrics_put_number(out, h->sum * scale);
    buf_printf(out, "\n%s_count %llu\n", name, (unsigned long long)cum);
}

/* A family with one unlabelled sample. */
static void single(buf *out, const char *name, const char *type, const char *help, double v)
{
    metrics_family(out, name, type, help);
    metrics_sample(out, name, NULL, v);
}

/* A family with one sample per tier of the cache. */
static void tiers(buf *out, const char *name, const char *type, const char *help, int64_t t1, int64_t t2)
{
    metrics_family(out, name, type, help);
    metrics_sample(out, name, (const char *const[]){"tier", "1", NULL}, (double)t1);
    metrics_sample(out, name, (const char *const[]){"tier", "2", NULL}, (double)t2);
}

static void render_cache(const metrics_input *in, buf *out)
{
    const cache_stats *c = &in->cache;
    tiers(out, "litecached_cache_hits_total", "counter", "Reads answered from the result cache, by tier.", c->hits1,
          c->hits2);
    single(out, "litecached_cache_misses_total", "counter", "Cacheable reads not found in the cache (they ran).",
           (double)c->misses);
    tiers(out, "litecached_cache_entries", "gauge", "Results held in the cache, by tier.", c->entries1, c->entries2);
    tiers(out, "litecached_cache_bytes", "gauge", "Bytes held by the cache, by tier.", c->bytes1, c->bytes2);
    tiers(out, "litecached_cache_evictions_total", "counter", "Entries evicted to stay within the tier's cap.",
          c->evictions1, c->evictions2);
    single(out, "litecached_cache_invalidations_total", "counter",
           "Entries dropped because a table they read was written.", (double)c->invalidations);
    single(out, "litecached_cache_expirations_total", "counter", "Entries dropped at the end of their TTL.",
           (double)c->expirations);
    single(out, "litecached_cache_singleflight_waits_total", "counter",
           "Reads that waited for another client's identical read instead of running it.", (double)c->flight_waits);
    single(out, "litecached_cache_admission_rejects_total", "counter",
           "Misses not stored because the cache was full and the key had not missed before (cache_admission).",
           (double)c->admission_rejects);
    single(out, "litecached_cache_kv_keys", "gauge", "Keys in the key-value tier.", (double)c->kv_keys);
    single(out, "litecached_cache_foreign_commits_total", "counter",
           "Commits by other processes noticed through the WAL (each makes every entry stale).",
           (double)in->foreign_commits);
}

static void render_replica(const replica_stats *r, buf *out)
{
    single(out, "litecached_replica_up", "gauge",
           "1 while uncached reads run on the in-memory replica; 0 when it was refused or dropped.", r->on);
    single(out, "litecached_replica_bytes", "gauge", "Size of the in-memory replica.", (double)r->bytes);
    single(out, "litecached_replica_lag_changesets", "gauge",
           "Committed changesets not yet applied to the replica (writes are acknowledged after).",
           (double)r->lag_changesets);
    single(out, "litecached_replica_lag_bytes", "gauge", "Bytes of those changesets.", (double)r->lag_bytes);
    single(out, "litecached_replica_stale", "gauge",
           "1 while a commit by another process waits to be copied in (before the next read).", r->stale);
    single(out, "litecached_replica_changesets_applied_total", "counter", "Changesets applied to the replica.",
           (double)r->applied);
    single(out, "litecached_replica_changeset_bytes_total", "counter", "Bytes of the changesets applied.",
           (double)r->applied_bytes);
    single(out, "litecached_replica_apply_seconds_total", "counter",
           "Writer time spent making changesets and applying them to the replica.", (double)r->apply_ns / 1e9);
    single(out, "litecached_replica_rebuilds_total", "counter",
           "Full copies of the database into the replica (start, schema change, foreign commit).", (double)r->rebuilds);
}

void metrics_render(const metrics_input *in, buf *out)
{
    const int64_t *k = in->counters;
    metrics_family(out, "litecached_build_info", "gauge", "Versions of litecached and of its SQLite library; always 1.");
    metrics_sample(out, "litecached_build_info",
                   (const char *const[]){"version", in->version, "sqlite", in->sqlite_version, NULL}, 1);
    single(out, "litecached_uptime_seconds", "gauge", "Seconds since the server started.", (double)in->uptime_s);

    single(out, "litecached_connections", "gauge", "Clients connected now.", (double)k[STATS_CONN_CURRENT]);
    single(out, "litecached_connections_total", "counter", "Client connections accepted.", (double)k[STATS_CONN_TOTAL]);
    single(out, "litecached_connections_refused_total", "counter", "Connections refused at max_connections.",
           (double)k[STATS_CONN_REFUSED]);
    single(out, "litecached_connections_dropped_total", "counter",
           "Clients disconnected for not reading their replies (output_hard_limit).", (double)k[STATS_CONN_DROPPED]);

    metrics_family(out, "litecached_requests_total", "counter", "Requests, by protocol and command.");
    for (int i = 0; i < in->nrequests; i++)
        metrics_sample(out, "litecached_requests_total",
                       (const char *const[]){"protocol", in->requests[i].proto, "command", in->requests[i].name, NULL},
                       (double)in->requests[i].value);
    metrics_family(out, "litecached_queries_total", "counter", "Statements run or answered from the cache, by kind.");
    metrics_sample(out, "litecached_queries_total", (const char *const[]){"kind", "read", NULL}, (double)k[STATS_READS]);
    metrics_sample(out, "litecached_queries_total", (const char *const[]){"kind", "write", NULL}, (double)k[STATS_WRITES]);
    metrics_family(out, "litecached_errors_total", "counter", "Requests that failed, by SQLSTATE.");
    for (int i = 0; i < in->nerrors; i++)
        metrics_sample(out, "litecached_errors_total", (const char *const[]){"sqlstate", in->errors[i].name, NULL},
                       (double)in->errors[i].value);
    single(out, "litecached_slow_queries_total", "counter", "Statements that took at least slow_query_ms.",
           (double)k[STATS_SLOW_QUERIES]);
    metrics_histogram(out, "litecached_statement_duration_seconds",
                      "Time to run a statement body on SQLite (cache hits excluded).", &in->latency, 1e-3);

    single(out, "litecached_writer_jobs_total", "counter", "Write requests the writer committed or failed.",
           (double)k[STATS_WRITER_JOBS]);
    metrics_histogram(out, "litecached_writer_group_size", "Write requests committed together in one transaction.",
                      &in->groups, 1);
    single(out, "litecached_checkpoints_total", "counter", "WAL checkpoints the writer forced past wal_checkpoint_pages.",
           (double)k[STATS_CHECKPOINTS]);
    single(out, "litecached_checkpoints_incomplete_total", "counter",
           "Forced WAL checkpoints a reader of an older snapshot kept from finishing (tried again after a growing delay).",
           (double)k[STATS_CHECKPOINTS_INCOMPLETE]);
    if (in->wal_bytes >= 0)
        single(out, "litecached_wal_bytes", "gauge", "Size of the database's write-ahead log file.", (double)in->wal_bytes);

    if (in->have_cache)
        render_cache(in, out);
    if (in->have_replica)
        render_replica(&in->replica, out);

    metrics_family(out, "litecached_config_reloads_total", "counter", "Configuration reloads (SIGHUP), by result.");
    metrics_sample(out, "litecached_config_reloads_total", (const char *const[]){"result", "ok", NULL},
                   (double)k[STATS_RELOADS]);
    metrics_sample(out, "litecached_config_reloads_total", (const char *const[]){"result", "error", NULL},
                   (double)k[STATS_RELOAD_ERRORS]);
    metrics_family(out, "litecached_auth_total", "counter", "Authentication attempts (AUTH, PostgreSQL startup), by result.");
    metrics_sample(out, "litecached_auth_total", (const char *const[]){"result", "ok", NULL}, (double)k[STATS_AUTH_OK]);
    metrics_sample(out, "litecached_auth_total", (const char *const[]){"result", "failed", NULL},
                   (double)k[STATS_AUTH_FAILED]);
    single(out, "litecached_auth_delayed_total", "counter",
           "Authentication attempts held back because their address had failed repeatedly.", (double)k[STATS_AUTH_DELAYED]);
}

static int is_number(const char *s, size_t n)
{
    if (n == 0)
        return 0;
    size_t i = s[0] == '-';
    if (i == n || s[i] < '0' || s[i] > '9')
        return 0;
    for (; i < n; i++)
        if (!strchr("0123456789.eE+-", s[i]))
            return 0;
    return 1;
}

void metrics_lines_to_json(const char *lines, size_t len, buf *out)
{
    int any = 0;
    buf_putc(out, '{');
    for (size_t off = 0; off < len;) {
        const char *nl = memchr(lines + off, '\n', len - off);
        size_t end = nl ? (size_t)(nl - lines) : len;
        const char *line = lines + off;
        size_t n = end - off;
        off = end + 1;
        if (n < 2 || line[0] != '=')
            continue;
        const char *tab = memchr(line, '\t', n);
        if (!tab)
            continue;
        size_t klen = (size_t)(tab - line) - 1, vlen = n - klen - 2;
        if (any++)
            buf_putc(out, ',');
        lp_put_json_string(out, line + 1, klen);
        buf_putc(out, ':');
        if (is_number(tab + 1, vlen))
            buf_append(out, tab + 1, vlen);
        else
            lp_put_json_string(out, tab + 1, vlen);
    }
    buf_putc(out, '}');
}
