/* sbuf.h - socket buffering apart from protocol handling: owns the fd, its libevent events and both buffers. */
#ifndef LC_SBUF_H
#define LC_SBUF_H

#include <stddef.h>

#include "buf.h"

struct event_base;
typedef struct sbuf sbuf;

typedef struct sbuf_ops {
    /* data[0..len) is all unconsumed input, oldest first; return how many bytes were consumed.
     * eof says the peer will send nothing more. */
    size_t (*on_data)(void *ctx, const char *data, size_t len, int eof);
    /* Some output was written after the socket had been full. */
    void (*on_drain)(void *ctx);
    /* The connection is gone (peer reset, I/O error, or a close that finished flushing); the owner
     * frees itself and the sbuf. The sbuf is not touched again after this call. */
    void (*on_close)(void *ctx, const char *why);
} sbuf_ops;

/* Take over fd (non-blocking). in_max caps the unconsumed input held at once. */
sbuf *sbuf_new(struct event_base *base, int fd, const sbuf_ops *ops, void *ctx, size_t in_max);
/* Close the fd and free everything (no callback). */
void sbuf_free(sbuf *sb);

/* The output buffer: append replies, then call sbuf_flush. */
buf   *sbuf_out(sbuf *sb);
/* Bytes appended but not yet written to the socket. */
size_t sbuf_pending(const sbuf *sb);
/* Input received and not yet consumed by the owner. */
size_t sbuf_buffered(const sbuf *sb);
/* Write what the socket takes now; the rest goes when it is writable. */
void   sbuf_flush(sbuf *sb);
/* Stop or resume reading from the socket (backpressure, waiting on the writer, fairness). */
void   sbuf_set_reading(sbuf *sb, int on);
/* Call on_data again from the event loop soon, with the input already buffered. */
void   sbuf_rescan(sbuf *sb);
/* Call on_data now, with the input already buffered (not from inside an sbuf callback). */
void   sbuf_deliver(sbuf *sb);
/* Stop reading; once the output is written, close and report on_close(why). */
void   sbuf_close_when_flushed(sbuf *sb, const char *why);
/* Drop unsent output and close from the event loop (a client past its hard output limit). */
void   sbuf_abort(sbuf *sb, const char *why);
int    sbuf_fd(const sbuf *sb);

#endif
