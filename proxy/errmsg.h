/* errmsg.h - an error message written into a caller's buffer: how the parsers say what they refused. */
#ifndef LC_ERRMSG_H
#define LC_ERRMSG_H

#include <stddef.h>

/* printf into err[0..errlen), always terminated; nothing when err is NULL or errlen is 0. */
void errmsg_set(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

#endif
