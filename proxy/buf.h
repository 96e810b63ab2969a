/* buf.h - a growable byte buffer: the common currency of encoders, caches and replies. */
#ifndef LC_BUF_H
#define LC_BUF_H

#include <stddef.h>
#include <stdint.h>

/* A plain struct on purpose: encoders append to it on hot paths, and callers embed it. */
typedef struct buf {
    char  *data;
    size_t len;
    size_t cap;
    int    oom;   /* set once an allocation failed; later appends are dropped */
    size_t limit; /* 0, or the length it may not grow past: growing further sets oom (bounds a
                   * reply someone else builds, e.g. a BATCH's; checked only when it reallocates) */
} buf;

void buf_init(buf *b);
void buf_free(buf *b);
/* Forget the contents, keep the allocation. */
static inline void buf_reset(buf *b) { b->len = 0; b->oom = 0; }
/* Make room for n more bytes; returns 0, or -1 (and sets oom) when memory runs out. */
int  buf_reserve(buf *b, size_t n);
void buf_append(buf *b, const void *p, size_t n);
void buf_putc(buf *b, char c);
void buf_puts(buf *b, const char *s);
void buf_printf(buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void buf_put_i64(buf *b, int64_t v);
/* A non-negative duration in milliseconds with three decimals ("0.042"), without printf's cost. */
void buf_put_ms(buf *b, double ms);
/* Cut the buffer back to len bytes (used to drop a half-written reply). */
void buf_truncate(buf *b, size_t len);
/* Hand over the allocation to the caller (NUL-terminated); b is left empty. */
char *buf_detach(buf *b, size_t *len);

#endif
