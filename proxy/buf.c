/* buf.c - a growable byte buffer: the common currency of encoders, caches and replies. */
#include "buf.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void buf_init(buf *b) { memset(b, 0, sizeof *b); }

void buf_free(buf *b)
{
    free(b->data);
    memset(b, 0, sizeof *b);
}

int buf_reserve(buf *b, size_t n)
{
    if (b->oom)
        return -1;
    /* +1 keeps room for a terminating NUL that buf_detach and printf rely on. */
    if (b->len + n + 1 <= b->cap)
        return 0;
    if (b->limit && (n > b->limit || b->len > b->limit - n)) {
        b->oom = 1;
        return -1;
    }
    size_t cap = b->cap ? b->cap : 256;
    while (cap < b->len + n + 1) {
        if (cap > SIZE_MAX / 2) {
            b->oom = 1;
            return -1;
        }
        cap *= 2;
    }
    char *p = realloc(b->data, cap);
    if (!p) {
        b->oom = 1;
        return -1;
    }
    b->data = p;
    b->cap = cap;
    return 0;
}

void buf_append(buf *b, const void *p, size_t n)
{
    if (n == 0 || buf_reserve(b, n) < 0)
        return;
    memcpy(b->data + b->len, p, n);
    b->len += n;
}

void buf_putc(buf *b, char c)
{
    if (b->len + 2 <= b->cap) {
        b->data[b->len++] = c;
        return;
    }
    buf_append(b, &c, 1);
}

void buf_puts(buf *b, const char *s) { buf_append(b, s, strlen(s)); }

void buf_printf(buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char tmp[256];
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    if ((size_t)n < sizeof tmp) {
        buf_append(b, tmp, (size_t)n);
        return;
    }
    if (buf_reserve(b, (size_t)n) < 0)
        return;
    va_start(ap, fmt);
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}

void buf_put_i64(buf *b, int64_t v)
{
    char tmp[24];
    char *e = tmp + sizeof tmp, *p = e;
    uint64_t u = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
    do {
        *--p = (char)('0' + u % 10);
        u /= 10;
    } while (u);
    if (v < 0)
        *--p = '-';
    buf_append(b, p, (size_t)(e - p));
}

void buf_put_ms(buf *b, double ms)
{
    if (!(ms >= 0) || ms > 9e15) /* NaN, negative (a clock step) or absurd: print 0 */
        ms = 0;
    int64_t us = (int64_t)(ms * 1000.0 + 0.5);
    buf_put_i64(b, us / 1000);
    char frac[4] = {'.', (char)('0' + us / 100 % 10), (char)('0' + us / 10 % 10), (char)('0' + us % 10)};
    buf_append(b, frac, sizeof frac);
}

void buf_truncate(buf *b, size_t len)
{
    if (len < b->len)
        b->len = len;
}

char *buf_detach(buf *b, size_t *len)
{
    if (buf_reserve(b, 0) < 0) {
        buf_free(b);
        if (len)
            *len = 0;
        return NULL;
    }
    b->data[b->len] = '\0';
    char *p = b->data;
    if (len)
        *len = b->len;
    memset(b, 0, sizeof *b);
    return p;
}
