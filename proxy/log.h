/* log.h - one line per event on stderr: timestamp, level, connection id, message. */
#ifndef LC_LOG_H
#define LC_LOG_H

#include <stdint.h>

enum log_level { LOG_ERROR, LOG_WARN, LOG_INFO, LOG_DEBUG };

void log_set_level(int level);
int  log_enabled(int level);
/* conn_id 0 means "not about a connection". */
void log_msg(int level, uint64_t conn_id, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

#define log_error(...) log_msg(LOG_ERROR, 0, __VA_ARGS__)
#define log_warn(...)  log_msg(LOG_WARN, 0, __VA_ARGS__)
#define log_info(...)  log_msg(LOG_INFO, 0, __VA_ARGS__)
#define log_debug(...) do { if (log_enabled(LOG_DEBUG)) log_msg(LOG_DEBUG, 0, __VA_ARGS__); } while (0)

#endif
