/* stats.c - process-wide counters behind STATS and /metrics: relaxed atomics, bumped from any thread. */
#include "stats.h"

#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

static _Atomic int64_t counters[STATS__COUNT];
static _Atomic int64_t cmds[STATS_CMD__COUNT];
static time_t started;

static const char *const counter_names[STATS__COUNT] = {
    "connections", "connections_total", "connections_refused", "connections_dropped",
    "queries", "reads", "writes", "errors", "writer_jobs", "writer_groups",
    "checkpoints", "checkpoints_incomplete", "slow_queries", "config_reloads", "config_reload_errors",
    "auth_ok", "auth_failed", "auth_delayed", "wal_syncs",
};
static const char *const cmd_names[STATS_CMD__COUNT] = {
    "cmd_sql", "cmd_call", "cmd_prepare", "cmd_deallocate", "cmd_batch",
    "cmd_format", "cmd_ping", "cmd_help", "cmd_quit", "cmd_stats",
    "cmd_cache", "cmd_kv", "cmd_backup", "cmd_auth", "cmd_replica",
};
static const char *const proto_names[STATS_PROTO__COUNT] = {"line", "pg"};

/* Requests by (protocol, command name) for protocols that name their own commands: a slot is
 * claimed once by a compare-and-swap of its name, then only counted, so no lock is ever taken. */
#define REQ_SLOTS 32
static _Atomic(const char *) req_names[STATS_PROTO__COUNT][REQ_SLOTS];
static _Atomic int64_t req_counts[STATS_PROTO__COUNT][REQ_SLOTS];
static _Atomic int64_t req_other[STATS_PROTO__COUNT];

/* Errors by SQLSTATE: open addressing over the 5 characters packed into a word (never 0). */
#define ERR_SLOTS 64
static _Atomic uint64_t err_keys[ERR_SLOTS];
static _Atomic int64_t err_counts[ERR_SLOTS];
static _Atomic int64_t err_other;

/* Latency buckets in milliseconds; group sizes in jobs. */
static const double lat_bounds[] = {0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000};
#define LAT_N ((int)(sizeof lat_bounds / sizeof lat_bounds[0]))
static _Atomic uint64_t lat_counts[LAT_N + 1];
static _Atomic int64_t lat_sum_ns;
static const double grp_bounds[] = {1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024};
#define GRP_N ((int)(sizeof grp_bounds / sizeof grp_bounds[0]))
static _Atomic uint64_t grp_counts[GRP_N + 1];
static _Atomic int64_t grp_sum;

void stats_init(void) { started = time(NULL); }

void stats_add(enum stats_counter c, int64_t n) { atomic_fetch_add_explicit(&counters[c], n, memory_order_relaxed); }

int64_t stats_get(enum stats_counter c) { return atomic_load_explicit(&counters[c], memory_order_relaxed); }

void stats_cmd_n(enum stats_cmd c, int64_t n) { atomic_fetch_add_explicit(&cmds[c], n, memory_order_relaxed); }

void stats_cmd(enum stats_cmd c) { atomic_fetch_add_explicit(&cmds[c], 1, memory_order_relaxed); }

int64_t stats_uptime(void) { return started ? (int64_t)(time(NULL) - started) : 0; }

void stats_request(enum stats_proto p, const char *command)
{
    for (int i = 0; i < REQ_SLOTS; i++) {
        const char *name = atomic_load_explicit(&req_names[p][i], memory_order_acquire);
        if (!name) {
            const char *expected = NULL;
            if (atomic_compare_exchange_strong(&req_names[p][i], &expected, command))
                name = command;
            else
                name = expected; /* another thread claimed it first: maybe for the same command */
        }
        if (name == command || strcmp(name, command) == 0) {
            atomic_fetch_add_explicit(&req_counts[p][i], 1, memory_order_relaxed);
            return;
        }
    }
    atomic_fetch_add_explicit(&req_other[p], 1, memory_order_relaxed);
}

static uint64_t pack_state(const char *s)
{
    uint64_t k = 0;
    for (int i = 0; i < 5 && s[i]; i++)
        k = k << 8 | (unsigned char)s[i];
    return k;
}

static _Thread_local int muted;

void stats_mute(int on) { muted = on; }

int stats_muted(void) { return muted; }

void stats_error(const char *sqlstate)
{
    if (muted)
        return;
    stats_add(STATS_ERRORS, 1);
    uint64_t k = sqlstate ? pack_state(sqlstate) : 0;
    if (!k) {
        atomic_fetch_add_explicit(&err_other, 1, memory_order_relaxed);
        return;
    }
    for (int n = 0, i = (int)(k % ERR_SLOTS); n < ERR_SLOTS; n++, i = (i + 1) % ERR_SLOTS) {
        uint64_t cur = atomic_load_explicit(&err_keys[i], memory_order_acquire);
        if (cur == 0) {
            uint64_t expected = 0;
            cur = atomic_compare_exchange_strong(&err_keys[i], &expected, k) ? k : expected;
        }
        if (cur == k) {
            atomic_fetch_add_explicit(&err_counts[i], 1, memory_order_relaxed);
            return;
        }
    }
    atomic_fetch_add_explicit(&err_other, 1, memory_order_relaxed);
}

static int bucket_of(const double *bounds, int n, double v)
{
    int i = 0;
    while (i < n && v > bounds[i])
        i++;
    return i;
}

void stats_latency(double ms)
{
    if (muted)
        return;
    if (ms < 0)
        ms = 0;
    atomic_fetch_add_explicit(&lat_counts[bucket_of(lat_bounds, LAT_N, ms)], 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&lat_sum_ns, (int64_t)(ms * 1e6), memory_order_relaxed);
}

void stats_group_commit(int n)
{
    atomic_fetch_add_explicit(&grp_counts[bucket_of(grp_bounds, GRP_N, n)], 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&grp_sum, n, memory_order_relaxed);
}

static void hist_read(stats_hist *out, const double *bounds, int n, _Atomic uint64_t *counts)
{
    out->n = n;
    out->bounds = bounds;
    for (int i = 0; i <= n; i++)
        out->counts[i] = atomic_load_explicit(&counts[i], memory_order_relaxed);
}

void stats_latency_hist(stats_hist *out)
{
    hist_read(out, lat_bounds, LAT_N, lat_counts);
    out->sum = (double)atomic_load_explicit(&lat_sum_ns, memory_order_relaxed) / 1e6;
}

void stats_group_hist(stats_hist *out)
{
    hist_read(out, grp_bounds, GRP_N, grp_counts);
    out->sum = (double)atomic_load_explicit(&grp_sum, memory_order_relaxed);
}

static int put_named(stats_named *out, int n, int max, const char *proto, const char *name, int64_t v)
{
    if (n >= max)
        return n;
    out[n].proto = proto;
    snprintf(out[n].name, sizeof out[n].name, "%s", name);
    out[n].value = v;
    return n + 1;
}

int stats_requests(stats_named *out, int max)
{
    int n = 0;
    for (int i = 0; i < STATS_CMD__COUNT; i++)
        n = put_named(out, n, max, proto_names[STATS_PROTO_LINE], cmd_names[i] + 4,
                      atomic_load_explicit(&cmds[i], memory_order_relaxed));
    for (int p = 0; p < STATS_PROTO__COUNT; p++) {
        for (int i = 0; i < REQ_SLOTS; i++) {
            const char *name = atomic_load_explicit(&req_names[p][i], memory_order_acquire);
            if (!name)
                break;
            n = put_named(out, n, max, proto_names[p], name, atomic_load_explicit(&req_counts[p][i], memory_order_relaxed));
        }
        int64_t other = atomic_load_explicit(&req_other[p], memory_order_relaxed);
        if (other)
            n = put_named(out, n, max, proto_names[p], "other", other);
    }
    return n;
}

int stats_errors_by_state(stats_named *out, int max)
{
    int n = 0;
    for (int i = 0; i < ERR_SLOTS; i++) {
        uint64_t k = atomic_load_explicit(&err_keys[i], memory_order_acquire);
        if (!k)
            continue;
        char code[6] = {0};
        for (int j = 4; j >= 0; j--, k >>= 8)
            code[j] = (char)(k & 0xff);
        n = put_named(out, n, max, NULL, code, atomic_load_explicit(&err_counts[i], memory_order_relaxed));
    }
    int64_t other = atomic_load_explicit(&err_other, memory_order_relaxed);
    if (other)
        n = put_named(out, n, max, NULL, "other", other);
    return n;
}

static void put_line(buf *out, const char *name, int64_t v)
{
    buf_putc(out, '=');
    buf_puts(out, name);
    buf_putc(out, '\t');
    buf_put_i64(out, v);
    buf_putc(out, '\n');
}

void stats_put_lines(buf *out)
{
    put_line(out, "uptime", stats_uptime());
    for (int i = 0; i < STATS__COUNT; i++)
        put_line(out, counter_names[i], stats_get(i));
    for (int i = 0; i < STATS_CMD__COUNT; i++)
        put_line(out, cmd_names[i], atomic_load_explicit(&cmds[i], memory_order_relaxed));
}
