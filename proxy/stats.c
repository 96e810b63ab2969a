/* stats.c - process-wide counters behind STATS: relaxed atomics, bumped from any thread. */
#include "stats.h"

#include <stdatomic.h>
#include <time.h>

static _Atomic int64_t counters[STATS__COUNT];
static _Atomic int64_t cmds[STATS_CMD__COUNT];
static time_t started;

static const char *const counter_names[STATS__COUNT] = {
    "connections", "connections_total", "connections_refused", "connections_dropped",
    "queries", "reads", "writes", "errors", "writer_jobs", "writer_groups",
    "checkpoints",
};
static const char *const cmd_names[STATS_CMD__COUNT] = {
    "cmd_sql", "cmd_call", "cmd_prepare", "cmd_deallocate", "cmd_batch",
    "cmd_format", "cmd_ping", "cmd_help", "cmd_quit", "cmd_stats",
    "cmd_cache", "cmd_kv", "cmd_backup",
};

void stats_init(void) { started = time(NULL); }

void stats_add(enum stats_counter c, int64_t n) { atomic_fetch_add_explicit(&counters[c], n, memory_order_relaxed); }

int64_t stats_get(enum stats_counter c) { return atomic_load_explicit(&counters[c], memory_order_relaxed); }

void stats_cmd(enum stats_cmd c) { atomic_fetch_add_explicit(&cmds[c], 1, memory_order_relaxed); }

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
    put_line(out, "uptime", (int64_t)(time(NULL) - started));
    for (int i = 0; i < STATS__COUNT; i++)
        put_line(out, counter_names[i], stats_get(i));
    for (int i = 0; i < STATS_CMD__COUNT; i++)
        put_line(out, cmd_names[i], atomic_load_explicit(&cmds[i], memory_order_relaxed));
}
