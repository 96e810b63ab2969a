/* log.h - one line per event on stderr or log_file: timestamp, level, connection id, message. */
#ifndef LC_LOG_H
#define LC_LOG_H

#include <stddef.h>
#include <stdint.h>

enum log_level { LOG_ERROR, LOG_WARN, LOG_INFO, LOG_DEBUG };

/* Any thread, any time: the level is an atomic. */
void log_set_level(int level);
int  log_enabled(int level);
/* conn_id 0 means "not about a connection". */
void log_msg(int level, uint64_t conn_id, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Send the log (and everything else written to stderr) to path, opened for appending; "" or NULL
 * goes back to the original stderr. Main thread only; other threads may log meanwhile, since the
 * new file replaces fd 2 in one dup2. Returns 0, or -1 with the problem in err (the old
 * destination is kept). */
int  log_open(const char *path, char *err, size_t errlen);
/* Open the current log file again (after logrotate renamed it). 0 when there is none. */
int  log_reopen(char *err, size_t errlen);

/* The connection the calling thread is serving, for lines logged deep inside a request. */
void     log_set_conn(uint64_t conn_id);
uint64_t log_conn(void);

#define log_error(...) log_msg(LOG_ERROR, 0, __VA_ARGS__)
#define log_warn(...)  log_msg(LOG_WARN, 0, __VA_ARGS__)
#define log_info(...)  log_msg(LOG_INFO, 0, __VA_ARGS__)
#define log_debug(...) do { if (log_enabled(LOG_DEBUG)) log_msg(LOG_DEBUG, 0, __VA_ARGS__); } while (0)

#endif
