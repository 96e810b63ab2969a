/* stats.h - process-wide counters behind STATS: relaxed atomics, bumped from any thread. */
#ifndef LC_STATS_H
#define LC_STATS_H

#include <stdint.h>

#include "buf.h"

/* Commands counted one by one in STATS. */
enum stats_cmd {
    STATS_CMD_SQL, STATS_CMD_CALL, STATS_CMD_PREPARE, STATS_CMD_DEALLOCATE, STATS_CMD_BATCH,
    STATS_CMD_FORMAT, STATS_CMD_PING, STATS_CMD_HELP, STATS_CMD_QUIT, STATS_CMD_STATS,
    STATS_CMD_CACHE, STATS_CMD_KV, STATS_CMD_BACKUP,
    STATS_CMD__COUNT
};

enum stats_counter {
    STATS_CONN_CURRENT, STATS_CONN_TOTAL, STATS_CONN_REFUSED, STATS_CONN_DROPPED,
    STATS_QUERIES, STATS_READS, STATS_WRITES, STATS_ERRORS, STATS_WRITER_JOBS, STATS_WRITER_GROUPS,
    STATS_CHECKPOINTS,
    STATS__COUNT
};

void stats_init(void);
void stats_add(enum stats_counter c, int64_t n);
int64_t stats_get(enum stats_counter c);
void stats_cmd(enum stats_cmd c);
/* Append "=name\tvalue\n" lines for every counter. */
void stats_put_lines(buf *out);

#endif
