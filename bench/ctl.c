/* ctl.c - the blocking control connection: set-up statements, warming, STATS snapshots. */
#include "ctl.h"

#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#define CTL_TIMEOUT_MS 60000   /* a populate batch or a big warm-up may take a while */

ctl_counts ctl_sent;

int ctl_resolve(const char *host, int port, struct sockaddr_storage *addr, socklen_t *addrlen, char *err, size_t errlen)
{
    if (host[0] == '/') {
        /* libpq's rule: a host that is a directory holds .s.PGSQL.<port>; else it is the socket. */
        struct sockaddr_un *un = (struct sockaddr_un *)addr;
        struct stat st;
        int n = stat(host, &st) == 0 && S_ISDIR(st.st_mode)
                    ? snprintf(un->sun_path, sizeof un->sun_path, "%s/.s.PGSQL.%d", host, port)
                    : snprintf(un->sun_path, sizeof un->sun_path, "%s", host);
        if (n < 0 || (size_t)n >= sizeof un->sun_path) {
            snprintf(err, errlen, "%s: path too long for a Unix-domain socket", host);
            return -1;
        }
        un->sun_family = AF_UNIX;
        *addrlen = sizeof *un;
        return 0;
    }
    struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM }, *ai = NULL;
    char ps[16];
    snprintf(ps, sizeof ps, "%d", port);
    int rc = getaddrinfo(host, ps, &hints, &ai);
    if (rc != 0 || !ai) {
        snprintf(err, errlen, "cannot resolve %s: %s", host, gai_strerror(rc));
        return -1;
    }
    memcpy(addr, ai->ai_addr, ai->ai_addrlen);
    *addrlen = ai->ai_addrlen;
    freeaddrinfo(ai);
    return 0;
}

int ctl_connect(ctl *c, const char *host, int port, int redis)
{
    memset(c, 0, sizeof *c);
    c->fd = -1;
    c->redis = redis;
    buf_init(&c->in);
    struct sockaddr_storage addr = {0};
    socklen_t addrlen;
    if (ctl_resolve(host, port, &addr, &addrlen, c->err, sizeof c->err) < 0)
        return -1;
    int e = 0;
    int fd = socket(addr.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        e = errno;
    else if (connect(fd, (struct sockaddr *)&addr, addrlen) == 0)
        c->fd = fd;
    else {
        e = errno;
        close(fd);
    }
    if (c->fd < 0) {
        snprintf(c->err, sizeof c->err, "cannot connect to %s:%d: %s", host, port, strerror(e ? e : ECONNREFUSED));
        return -1;
    }
    int one = 1;
    if (addr.ss_family != AF_UNIX)
        setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    return 0;
}

void ctl_close(ctl *c)
{
    if (c->fd >= 0)
        close(c->fd);
    c->fd = -1;
    buf_free(&c->in);
}

int ctl_send(ctl *c, const char *data, size_t len)
{
    while (len > 0) {
        ssize_t n = send(c->fd, data, len, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            snprintf(c->err, sizeof c->err, "send: %s%s", strerror(errno),
                     errno == EPIPE || errno == ECONNRESET ? " (the server closed the connection)" : "");
            return -1;
        }
        data += n;
        len -= (size_t)n;
    }
    return 0;
}

/* One line from the socket, without its newline: a pointer into c->in valid until the next read. */
static const char *read_line(ctl *c, size_t *len)
{
    for (;;) {
        char *start = c->in.data + c->pos;
        char *nl = c->in.len > c->pos ? memchr(start, '\n', c->in.len - c->pos) : NULL;
        if (nl) {
            *len = (size_t)(nl - start);
            if (*len && start[*len - 1] == '\r')
                (*len)--;
            c->pos = (size_t)(nl - c->in.data) + 1;
            return start;
        }
        if (c->pos > 0) {   /* keep only the unconsumed tail */
            memmove(c->in.data, c->in.data + c->pos, c->in.len - c->pos);
            c->in.len -= c->pos;
            c->pos = 0;
        }
        if (buf_reserve(&c->in, 65536) < 0) {
            snprintf(c->err, sizeof c->err, "out of memory");
            return NULL;
        }
        struct pollfd pfd = { .fd = c->fd, .events = POLLIN };
        int pr = poll(&pfd, 1, CTL_TIMEOUT_MS);
        if (pr == 0) {
            snprintf(c->err, sizeof c->err, "no reply within %d s", CTL_TIMEOUT_MS / 1000);
            return NULL;
        }
        ssize_t n = pr < 0 ? -1 : recv(c->fd, c->in.data + c->in.len, c->in.cap - c->in.len, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            snprintf(c->err, sizeof c->err, "%s", n == 0 ? "the server closed the connection" : strerror(errno));
            return NULL;
        }
        c->in.len += (size_t)n;
    }
}

int ctl_response(ctl *c, buf *data, char *status, size_t slen)
{
    for (;;) {
        size_t len;
        const char *l = read_line(c, &len);
        if (!l)
            return -1;
        if (len && (l[0] == '+' || l[0] == '-')) {
            if (status)
                snprintf(status, slen, "%.*s", (int)len, l);
            return l[0] == '+';
        }
        if (data) {
            buf_append(data, l, len);
            buf_putc(data, '\n');
        }
    }
}

int ctl_resp_reply(ctl *c, char *line, size_t llen)
{
    size_t len;
    const char *l = read_line(c, &len);
    if (!l)
        return -1;
    if (line)
        snprintf(line, llen, "%.*s", (int)len, l);
    if (len && l[0] == '$') {
        long n = strtol(l + 1, NULL, 10);
        if (n < 0)
            return 0;
        /* the payload holds no newline in our use (values we SET ourselves) */
        if (!read_line(c, &len))
            return -1;
        return 1;
    }
    return len && l[0] != '-';
}

int ctl_request(ctl *c, const char *line, int is_write, buf *data, char *status, size_t slen)
{
    size_t n = strlen(line);
    if (ctl_send(c, line, n) < 0 || (n && line[n - 1] != '\n' && ctl_send(c, "\n", 1) < 0))
        return -1;
    ctl_sent.queries++;
    if (is_write)
        ctl_sent.writes++;
    else
        ctl_sent.reads++;
    return ctl_response(c, data, status, slen);
}

int ctl_scalar(ctl *c, const char *sql, char *out, size_t olen)
{
    buf data;
    buf_init(&data);
    char status[256];
    int rc = ctl_request(c, sql, 0, &data, status, sizeof status);
    if (rc != 1) {
        if (rc == 0)
            snprintf(c->err, sizeof c->err, "%.80s: %.160s", sql, status);
        buf_free(&data);
        return -1;
    }
    out[0] = '\0';
    /* data: "#header\n=value\t...\n" */
    buf_putc(&data, '\0');
    char *row = strstr(data.data, "\n=");
    if (row) {
        row += 2;
        size_t k = strcspn(row, "\t\n");
        snprintf(out, olen, "%.*s", (int)k, row);
    }
    buf_free(&data);
    return 0;
}

int ctl_stats_get(ctl *c, ctl_stats *st)
{
    st->n = 0;
    if (ctl_send(c, "STATS\n", 6) < 0)
        return -1;
    for (;;) {
        size_t len;
        const char *l = read_line(c, &len);
        if (!l)
            return -1;
        if (len && (l[0] == '+' || l[0] == '-'))
            return l[0] == '+' ? 0 : -1;
        if (len < 2 || l[0] != '=' || st->n >= CTL_MAX_STATS)
            continue;
        const char *tab = memchr(l, '\t', len);
        if (!tab)
            continue;
        size_t nl = (size_t)(tab - l - 1);
        if (nl >= sizeof st->name[0])
            continue;
        memcpy(st->name[st->n], l + 1, nl);
        st->name[st->n][nl] = '\0';
        char num[32];
        size_t vl = len - (size_t)(tab + 1 - l);
        snprintf(num, sizeof num, "%.*s", (int)(vl < 31 ? vl : 31), tab + 1);
        /* ratios come as decimals; counters are integers. Keep integers exact, ratios x 1e6. */
        if (strchr(num, '.'))
            st->value[st->n] = (int64_t)(strtod(num, NULL) * 1e6);
        else
            st->value[st->n] = strtoll(num, NULL, 10);
        st->n++;
    }
}

int64_t ctl_stat(const ctl_stats *st, const char *name)
{
    for (int i = 0; i < st->n; i++)
        if (strcmp(st->name[i], name) == 0)
            return st->value[i];
    return -1;
}
