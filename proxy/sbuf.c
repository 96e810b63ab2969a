/* sbuf.c - socket buffering apart from protocol handling: owns the fd, its libevent events and both buffers. */
#include "sbuf.h"

#include <errno.h>
#include <event2/event.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define SBUF_READ_CHUNK 16384

struct sbuf {
    int                fd;
    const sbuf_ops    *ops;
    void              *ctx;
    struct event      *ev_read, *ev_write, *ev_rescan;
    char              *in;          /* unconsumed input is in[in_start .. in_len) */
    size_t             in_start, in_len, in_cap, in_max;
    buf                out;         /* unsent output is out.data[out_off .. out.len) */
    size_t             out_off;
    int                reading;     /* the owner wants input */
    int                read_armed;  /* ev_read is added */
    int                write_armed;
    int                eof;
    const char        *closing;     /* set: close once the output is written */
};

static void update_read(sbuf *sb)
{
    int want = sb->reading && !sb->eof && !sb->closing;
    if (want && !sb->read_armed)
        event_add(sb->ev_read, NULL);
    else if (!want && sb->read_armed)
        event_del(sb->ev_read);
    sb->read_armed = want;
}

/* Hand the buffered input to the owner. The owner never frees us from on_data: every close it asks
 * for is deferred to the event loop (sbuf_close_when_flushed, sbuf_abort). */
static void deliver(sbuf *sb)
{
    size_t len = sb->in_len - sb->in_start;
    size_t used = sb->ops->on_data(sb->ctx, sb->in + sb->in_start, len, sb->eof);
    sb->in_start += used;
    if (sb->in_start == sb->in_len)
        sb->in_start = sb->in_len = 0;
}

static void fail(sbuf *sb, const char *why)
{
    sb->ops->on_close(sb->ctx, why);
}

static void on_read(evutil_socket_t fd, short what, void *arg)
{
    sbuf *sb = arg;
    (void)what;
    if (sb->in_start > 0 && sb->in_cap - sb->in_len < SBUF_READ_CHUNK) {
        memmove(sb->in, sb->in + sb->in_start, sb->in_len - sb->in_start);
        sb->in_len -= sb->in_start;
        sb->in_start = 0;
    }
    if (sb->in_cap - sb->in_len < SBUF_READ_CHUNK && sb->in_cap < sb->in_max) {
        size_t cap = sb->in_cap * 2;
        if (cap > sb->in_max)
            cap = sb->in_max;
        char *p = realloc(sb->in, cap);
        if (!p) {
            fail(sb, "out of memory");
            return;
        }
        sb->in = p;
        sb->in_cap = cap;
    }
    size_t room = sb->in_cap - sb->in_len;
    if (room == 0) {
        /* The owner holds in_max bytes it cannot consume yet: wait until it does. */
        sb->reading = 0;
        update_read(sb);
        return;
    }
    ssize_t n = recv(fd, sb->in + sb->in_len, room, 0);
    if (n < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
            return;
        fail(sb, strerror(errno));
        return;
    }
    if (n == 0) {
        sb->eof = 1;
        update_read(sb);
    }
    sb->in_len += (size_t)n;
    deliver(sb);
}

static void on_rescan(evutil_socket_t fd, short what, void *arg)
{
    sbuf *sb = arg;
    (void)fd;
    (void)what;
    if (sb->closing)
        return;
    deliver(sb);
}

static void write_some(sbuf *sb)
{
    while (sb->out_off < sb->out.len) {
        ssize_t n = send(sb->fd, sb->out.data + sb->out_off, sb->out.len - sb->out_off, MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK)
                break;
            /* The peer is gone: drop the output; the read side reports the close. */
            sb->out_off = sb->out.len;
            sb->eof = 1;
            if (!sb->closing)
                sb->closing = "write failed";
            break;
        }
        sb->out_off += (size_t)n;
    }
    if (sb->out_off == sb->out.len) {
        buf_reset(&sb->out);
        sb->out_off = 0;
    } else if (sb->out_off > (1u << 20) && sb->out_off > sb->out.len / 2) {
        memmove(sb->out.data, sb->out.data + sb->out_off, sb->out.len - sb->out_off);
        sb->out.len -= sb->out_off;
        sb->out_off = 0;
    }
    int want = sb->out.len > 0;
    if (want && !sb->write_armed)
        event_add(sb->ev_write, NULL);
    else if (!want && sb->write_armed)
        event_del(sb->ev_write);
    sb->write_armed = want;
}

static void on_write(evutil_socket_t fd, short what, void *arg)
{
    sbuf *sb = arg;
    (void)fd;
    (void)what;
    write_some(sb);
    if (sb->closing && sb->out.len == 0) {
        fail(sb, sb->closing);
        return;
    }
    sb->ops->on_drain(sb->ctx);
}

sbuf *sbuf_new(struct event_base *base, int fd, const sbuf_ops *ops, void *ctx, size_t in_max)
{
    sbuf *sb = calloc(1, sizeof *sb);
    if (!sb)
        return NULL;
    sb->fd = fd;
    sb->ops = ops;
    sb->ctx = ctx;
    sb->in_max = in_max < SBUF_READ_CHUNK ? SBUF_READ_CHUNK : in_max;
    sb->in_cap = SBUF_READ_CHUNK;
    sb->in = malloc(sb->in_cap);
    buf_init(&sb->out);
    sb->ev_read = event_new(base, fd, EV_READ | EV_PERSIST, on_read, sb);
    sb->ev_write = event_new(base, fd, EV_WRITE | EV_PERSIST, on_write, sb);
    sb->ev_rescan = event_new(base, -1, 0, on_rescan, sb);
    if (!sb->in || !sb->ev_read || !sb->ev_write || !sb->ev_rescan) {
        sbuf_free(sb);
        return NULL;
    }
    sb->reading = 1;
    update_read(sb);
    return sb;
}

void sbuf_free(sbuf *sb)
{
    if (!sb)
        return;
    if (sb->ev_read)
        event_free(sb->ev_read);
    if (sb->ev_write)
        event_free(sb->ev_write);
    if (sb->ev_rescan)
        event_free(sb->ev_rescan);
    close(sb->fd);
    free(sb->in);
    buf_free(&sb->out);
    free(sb);
}

buf *sbuf_out(sbuf *sb) { return &sb->out; }
size_t sbuf_pending(const sbuf *sb) { return sb->out.len - sb->out_off; }
size_t sbuf_buffered(const sbuf *sb) { return sb->in_len - sb->in_start; }
int sbuf_fd(const sbuf *sb) { return sb->fd; }

void sbuf_flush(sbuf *sb)
{
    write_some(sb);
    if (sb->closing && sb->out.len == 0)
        event_active(sb->ev_write, EV_WRITE, 0); /* close from the loop, never from inside a callback */
}

void sbuf_set_reading(sbuf *sb, int on)
{
    sb->reading = on;
    update_read(sb);
}

/* A zero timeout, not event_active: timers run after the next poll, so the sockets that became
 * ready meanwhile are served first. event_active would run us again in the same pass. */
void sbuf_rescan(sbuf *sb)
{
    static const struct timeval now = {0, 0};
    event_add(sb->ev_rescan, &now);
}

void sbuf_deliver(sbuf *sb) { deliver(sb); }

void sbuf_close_when_flushed(sbuf *sb, const char *why)
{
    if (!sb->closing)
        sb->closing = why;
    update_read(sb);
    sbuf_flush(sb);
}

void sbuf_abort(sbuf *sb, const char *why)
{
    buf_reset(&sb->out);
    sb->out_off = 0;
    sb->closing = why;
    update_read(sb);
    event_active(sb->ev_write, EV_WRITE, 0);
}
