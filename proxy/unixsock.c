/* unixsock.c - the Unix-domain listening socket <dir>/.s.PGSQL.<port>: created safely, removed at exit. */
#include "unixsock.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

/* The name PostgreSQL and PgBouncer give their sockets, so that libpq clients (psql -h <dir>
 * -p <port>, psycopg2 host=<dir>, node-postgres) find ours without being told a file name. */
int unixsock_path(const char *dir, int port, char *out, size_t outlen)
{
    int n = snprintf(out, outlen, "%s/.s.PGSQL.%d", dir, port);
    return n < 0 || (size_t)n >= outlen || (size_t)n >= sizeof ((struct sockaddr_un *)0)->sun_path ? -1 : 0;
}

static int fill_addr(struct sockaddr_un *sa, const char *path)
{
    memset(sa, 0, sizeof *sa);
    sa->sun_family = AF_UNIX;
    if (strlen(path) >= sizeof sa->sun_path)
        return -1;
    memcpy(sa->sun_path, path, strlen(path) + 1);
    return 0;
}

/* A socket file left by a server that died (kill -9) refuses connections: only then is it ours
 * to replace. A live server's socket, or a file that is not a socket, is never removed. */
static int clear_stale(const char *path, const struct sockaddr_un *sa, char *err, size_t errlen)
{
    struct stat st;
    if (lstat(path, &st) < 0)
        return errno == ENOENT ? 0 : (snprintf(err, errlen, "%s: %s", path, strerror(errno)), -1);
    if (!S_ISSOCK(st.st_mode)) {
        snprintf(err, errlen, "%s exists and is not a socket: not replacing it", path);
        return -1;
    }
    /* Non-blocking: a live server whose backlog is full would hold a blocking connect. */
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        snprintf(err, errlen, "socket: %s", strerror(errno));
        return -1;
    }
    int live = connect(fd, (const struct sockaddr *)sa, sizeof *sa) == 0 || errno == EAGAIN;
    int why = errno;
    close(fd);
    if (live) {
        snprintf(err, errlen, "another server is listening on %s", path);
        return -1;
    }
    if (why != ECONNREFUSED) {
        snprintf(err, errlen, "%s: %s", path, strerror(why));
        return -1;
    }
    if (unlink(path) < 0 && errno != ENOENT) {
        snprintf(err, errlen, "cannot remove the stale socket %s: %s", path, strerror(errno));
        return -1;
    }
    return 0;
}

int unixsock_listen(const char *path, int backlog, char *err, size_t errlen)
{
    struct sockaddr_un sa;
    if (fill_addr(&sa, path) < 0) {
        snprintf(err, errlen, "%s: path too long for a Unix-domain socket (at most %zu bytes)", path,
                 sizeof sa.sun_path - 1);
        return -1;
    }
    if (clear_stale(path, &sa, err, errlen) < 0)
        return -1;
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        snprintf(err, errlen, "socket: %s", strerror(errno));
        return -1;
    }
    /* 0777, as PostgreSQL and PgBouncer make theirs: the directory's permissions decide. */
    if (bind(fd, (struct sockaddr *)&sa, sizeof sa) < 0 || chmod(path, 0777) < 0 || listen(fd, backlog) < 0) {
        snprintf(err, errlen, "cannot listen on %s: %s", path, strerror(errno));
        close(fd);
        return -1;
    }
    return fd;
}
