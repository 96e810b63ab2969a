/* unixsock.h - the Unix-domain listening socket <dir>/.s.PGSQL.<port>: created safely, removed at exit. */
#ifndef LC_UNIXSOCK_H
#define LC_UNIXSOCK_H

#include <stddef.h>

/* <dir>/.s.PGSQL.<port> into out. -1 when it does not fit out or a sockaddr_un. */
int unixsock_path(const char *dir, int port, char *out, size_t outlen);
/* A non-blocking listening socket bound to path, replacing a stale socket file (one nobody
 * listens on). -1 with err filled when path is too long, is another file, or a server listens. */
int unixsock_listen(const char *path, int backlog, char *err, size_t errlen);

#endif
