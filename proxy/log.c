/* log.c - one line per event on stderr: timestamp, level, connection id, message. */
#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <sys/time.h>
#include <time.h>

static int log_level = LOG_INFO;
static const char *const level_names[] = {"ERROR", "WARN", "INFO", "DEBUG"};

void log_set_level(int level) { log_level = level; }
int log_enabled(int level) { return level <= log_level; }

void log_msg(int level, uint64_t conn_id, const char *fmt, ...)
{
    if (level > log_level)
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
    /* One write per line, so lines from several threads never interleave. */
    fwrite(line, 1, (size_t)n, stderr);
}
