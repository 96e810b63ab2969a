/* stats.h - process-wide counters behind STATS and /metrics: relaxed atomics, bumped from any thread. */
#ifndef LC_STATS_H
#define LC_STATS_H

#include <stdint.h>

#include "buf.h"

/* Commands counted one by one in STATS. */
enum stats_cmd {
    STATS_CMD_SQL, STATS_CMD_CALL, STATS_CMD_PREPARE, STATS_CMD_DEALLOCATE, STATS_CMD_BATCH,
    STATS_CMD_FORMAT, STATS_CMD_PING, STATS_CMD_HELP, STATS_CMD_QUIT, STATS_CMD_STATS,
    STATS_CMD_CACHE, STATS_CMD_KV, STATS_CMD_BACKUP, STATS_CMD_AUTH, STATS_CMD_REPLICA,
    STATS_CMD__COUNT
};

enum stats_counter {
    STATS_CONN_CURRENT, STATS_CONN_TOTAL, STATS_CONN_REFUSED, STATS_CONN_DROPPED,
    STATS_QUERIES, STATS_READS, STATS_WRITES, STATS_ERRORS, STATS_WRITER_JOBS, STATS_WRITER_GROUPS,
    STATS_CHECKPOINTS, STATS_CHECKPOINTS_INCOMPLETE, STATS_SLOW_QUERIES, STATS_RELOADS, STATS_RELOAD_ERRORS,
    STATS_AUTH_OK, STATS_AUTH_FAILED, STATS_AUTH_DELAYED, STATS_WAL_SYNCS,
    STATS__COUNT
};

/* The protocols a request can arrive by (the label of litecached_requests_total). */
enum stats_proto { STATS_PROTO_LINE, STATS_PROTO_PG, STATS_PROTO__COUNT };

void stats_init(void);
void stats_add(enum stats_counter c, int64_t n);
int64_t stats_get(enum stats_counter c);
/* A line-protocol command (STATS and the requests metric with protocol="line"). */
void stats_cmd(enum stats_cmd c);
void stats_cmd_n(enum stats_cmd c, int64_t n);
/* A request of any protocol by command name; command must outlive the process (a string literal).
 * Up to 32 distinct commands per protocol; past that they count as "other". */
void stats_request(enum stats_proto p, const char *command);
/* A failed request: bumps `errors` and the count of its 5-character SQLSTATE. */
void stats_error(const char *sqlstate);
/* A statement body ran for ms milliseconds (the latency histogram). */
void stats_latency(double ms);
/* While on, this thread's stats_error and stats_latency (and the slow-query log) count nothing:
 * the writer runs a job a second time when its group had to be run again, and it was counted. */
void stats_mute(int on);
int  stats_muted(void);
/* The writer committed a group of n jobs (the group-size histogram). */
void stats_group_commit(int n);
/* Seconds since stats_init. */
int64_t stats_uptime(void);
/* Append "=name\tvalue\n" lines for every counter. */
void stats_put_lines(buf *out);

/* ---- snapshots for /metrics ---- */

#define STATS_HIST_MAX 24

/* A histogram: per-bucket (not cumulative) counts, the last one past every bound (+Inf). */
typedef struct stats_hist {
    int           n;                          /* finite bounds */
    const double *bounds;                     /* ascending upper bounds, in the histogram's unit */
    uint64_t      counts[STATS_HIST_MAX + 1]; /* n + 1 used */
    double        sum;                        /* in the histogram's unit */
} stats_hist;

/* The latency histogram is in milliseconds; the group-size one in jobs. */
void stats_latency_hist(stats_hist *out);
void stats_group_hist(stats_hist *out);

typedef struct stats_named {
    const char *proto;    /* "line" or "pg" (requests only) */
    char        name[40]; /* a command, or a SQLSTATE ("other" when the table was full) */
    int64_t     value;
} stats_named;

/* Every request count (every line command, even at 0; other commands once seen). Returns how many
 * were written, at most max. */
int stats_requests(stats_named *out, int max);
/* Every SQLSTATE seen, with its count, then "other" if anything spilled. Returns how many. */
int stats_errors_by_state(stats_named *out, int max);

#endif
