/* ctl.h - a blocking control connection for set-up and STATS: one request at a time, or a pipelined run of them. */
#ifndef BENCH_CTL_H
#define BENCH_CTL_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "buf.h"

typedef struct ctl {
    int  fd;
    int  redis;          /* frame replies as RESP instead of status lines */
    buf  in;             /* bytes read and not yet consumed */
    size_t pos;
    char err[256];
} ctl;

/* Queries the tool itself sent outside the measured load (set-up, warming), so that a test can
 * reconcile the server's STATS with what the tool did. STATS requests are not queries. */
typedef struct ctl_counts {
    uint64_t queries, reads, writes;
} ctl_counts;
extern ctl_counts ctl_sent;

/* host:port, or a Unix-domain socket when host starts with '/': a directory's .s.PGSQL.<port> (as
 * libpq finds PostgreSQL's and litecached's), else the socket file itself (Redis's unixsocket). */
int  ctl_resolve(const char *host, int port, struct sockaddr_storage *addr, socklen_t *addrlen, char *err, size_t errlen);
int  ctl_connect(ctl *c, const char *host, int port, int redis);
void ctl_close(ctl *c);
/* Send raw bytes (one or more request lines). 0 or -1. */
int  ctl_send(ctl *c, const char *data, size_t len);
/* Read one line protocol response. Data lines are appended to data (if not NULL), the status
 * line (without newline) copied to status. Returns 1 for +, 0 for -, -1 on I/O error. */
int  ctl_response(ctl *c, buf *data, char *status, size_t slen);
/* Read one RESP reply (simple, error, integer, bulk). 1 ok, 0 error or nil, -1 I/O error. */
int  ctl_resp_reply(ctl *c, char *line, size_t llen);
/* Send one line and read its response; a query counted as a read or a write. */
int  ctl_request(ctl *c, const char *line, int is_write, buf *data, char *status, size_t slen);
/* A single value: the first field of the first row of a read. 0, or -1 (err set). */
int  ctl_scalar(ctl *c, const char *sql, char *out, size_t olen);

#define CTL_MAX_STATS 160
typedef struct ctl_stats {
    int  n;
    char name[CTL_MAX_STATS][48];
    int64_t value[CTL_MAX_STATS];
} ctl_stats;

int     ctl_stats_get(ctl *c, ctl_stats *st);
/* The value of a counter, or -1 when the server does not report it. */
int64_t ctl_stat(const ctl_stats *st, const char *name);

#endif
