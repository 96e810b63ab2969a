/* log.c - one line per event on stderr or log_file: timestamp, level, connection id, message. */
#include "log.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

static _Atomic int log_level = LOG_INFO;
static const char *const level_names[] = {"ERROR", "WARN", "INFO", "DEBUG"};
static _Thread_local uint64_t current_conn;

/* Main thread only: the file fd 2 points at, and a copy of the stderr we started with. */
static char *log_path;
static int   saved_stderr = -1;

void log_set_level(int level) { atomic_store_explicit(&log_level, level, memory_order_relaxed); }
int log_enabled(int level) { return level <= atomic_load_explicit(&log_level, memory_order_relaxed); }

void log_set_conn(uint64_t conn_id) { current_conn = conn_id; }
uint64_t log_conn(void) { return current_conn; }

void log_msg(int level, uint64_t conn_id, const char *fmt, ...)
{
    if (!log_enabled(level))
        return;
    struct timeval tv;
    gettimeofday(&tv, NULL);
    struct tm tm;
    gmtime_r(&tv.tv_sec, &tm);
    char line[1024];
    int n = snprintf(line, sizeof line, "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ %-5s ",
                     tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                     (long)(tv.tv_usec / 1000), level_names[level]);
    if (conn_id && n < (int)sizeof line)
        n += snprintf(line + n, sizeof line - (size_t)n, "c%llu ", (unsigned long long)conn_id);
    if (n < (int)sizeof line) {
        va_list ap;
        va_start(ap, fmt);
        n += vsnprintf(line + n, sizeof line - (size_t)n, fmt, ap);
        va_end(ap);
    }
    if (n >= (int)sizeof line)
        n = (int)sizeof line - 1;
    line[n++] = '\n';
    /* One write per line, so lines from several threads never interleave (O_APPEND keeps each
     * whole at the end of the file), and a dup2 by log_reopen between two lines loses neither. */
    ssize_t r;
    do
        r = write(STDERR_FILENO, line, (size_t)n);
    while (r < 0 && errno == EINTR);
}

static int open_onto_stderr(const char *path, char *err, size_t errlen)
{
    int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
    if (fd < 0) {
        snprintf(err, errlen, "log_file %s: %s", path, strerror(errno));
        return -1;
    }
    if (saved_stderr < 0)
        saved_stderr = fcntl(STDERR_FILENO, F_DUPFD_CLOEXEC, 3);
    int rc = fd == STDERR_FILENO ? 0 : dup2(fd, STDERR_FILENO);
    if (rc < 0)
        snprintf(err, errlen, "log_file %s: dup2: %s", path, strerror(errno));
    if (fd != STDERR_FILENO)
        close(fd);
    return rc < 0 ? -1 : 0;
}

int log_open(const char *path, char *err, size_t errlen)
{
    if (!path || !path[0]) {
        if (log_path && saved_stderr >= 0)
            dup2(saved_stderr, STDERR_FILENO);
        free(log_path);
        log_path = NULL;
        return 0;
    }
    char *copy = strdup(path);
    if (!copy) {
        snprintf(err, errlen, "log_file: out of memory");
        return -1;
    }
    if (open_onto_stderr(path, err, errlen) < 0) {
        free(copy);
        return -1;
    }
    free(log_path);
    log_path = copy;
    return 0;
}

int log_reopen(char *err, size_t errlen)
{
    return log_path ? open_onto_stderr(log_path, err, errlen) : 0;
}
