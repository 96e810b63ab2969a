/* fuzz_sqlnorm.c - libFuzzer harness for SQL cache keys: bounds, key format, idempotence, and (with -DFUZZ_SQLITE) that SQLite reads the key's text as it reads the input. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* strcasestr */
#endif
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "buf.h"
#include "lineproto.h"
#include "sqlnorm.h"

#ifdef FUZZ_SQLITE
#include <sqlite3.h>
#endif

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#include "fuzz_check.h"

#ifdef FUZZ_SQLITE
/* How SQLite reads sql: per statement its EXPLAIN program, column and parameter names; or "ERR".
 * Errors are never cached, so two failing texts count as alike whatever their messages. */
static sqlite3 *db;

static void describe(const char *sql, buf *d, int *ok)
{
    *ok = 1;
    buf_reset(d);
    const char *p = sql;
    while (*p) {
        sqlite3_stmt *st = NULL;
        const char *tail = NULL;
        if (sqlite3_prepare_v2(db, p, -1, &st, &tail) != SQLITE_OK) {
            *ok = 0;
            return;
        }
        if (!st)
            break;
        for (int i = 0; i < sqlite3_column_count(st); i++) {
            const char *n = sqlite3_column_name(st, i);
            buf_puts(d, n ? n : "<null>");
            buf_putc(d, '|');
        }
        for (int i = 1; i <= sqlite3_bind_parameter_count(st); i++) {
            const char *n = sqlite3_bind_parameter_name(st, i);
            buf_puts(d, n ? n : "?");
            buf_putc(d, '|');
        }
        buf_printf(d, "ro=%d\n", sqlite3_stmt_readonly(st));
        size_t sl = (size_t)(tail - p);
        char *ex = malloc(sl + 9);
        CHECK(ex);
        memcpy(ex, "EXPLAIN ", 8);
        memcpy(ex + 8, p, sl);
        ex[8 + sl] = 0;
        sqlite3_stmt *es = NULL;
        if (sqlite3_prepare_v2(db, ex, -1, &es, NULL) == SQLITE_OK && es) {
            while (sqlite3_step(es) == SQLITE_ROW) {
                for (int c = 1; c < sqlite3_column_count(es); c++) {
                    const char *v = (const char *)sqlite3_column_text(es, c);
                    buf_puts(d, v ? v : "<null>");
                    buf_putc(d, '|');
                }
                buf_putc(d, '\n');
            }
        } else {
            buf_puts(d, "EXPLAIN failed\n");
        }
        sqlite3_finalize(es);
        free(ex);
        sqlite3_finalize(st);
        p = tail;
    }
}

static void oracle(const char *in, const char *norm)
{
    if (!db) {
        CHECK(sqlite3_open(":memory:", &db) == SQLITE_OK);
        CHECK(sqlite3_exec(db,
                           "CREATE TABLE t(a INTEGER, b TEXT, c REAL);"
                           "CREATE TABLE u(a INTEGER, d TEXT);"
                           "CREATE INDEX tx ON t(CAST(a AS INT));",
                           NULL, NULL, NULL) == SQLITE_OK);
    }
    /* Some pragmas act while being prepared, which would change the reading of the second text. */
    if (strcasestr(in, "pragma"))
        return;
    buf a, b;
    buf_init(&a);
    buf_init(&b);
    int oka, okb;
    describe(in, &a, &oka);
    describe(norm, &b, &okb);
    if ((oka || okb) && (oka != okb || a.len != b.len || (a.len && memcmp(a.data, b.data, a.len) != 0))) {
        fprintf(stderr, "SQLite reads the normalized text differently\n  in:   [%s]\n  norm: [%s]\n--- in:\n%.*s\n--- norm:\n%.*s\n",
                in, norm, (int)a.len, a.data, (int)b.len, b.data);
        abort();
    }
    buf_free(&a);
    buf_free(&b);
}
#endif

/* Decode what sqlnorm_key_args wrote and compare with the arguments: the encoding is injective. */
static void check_args_roundtrip(const buf *k, size_t at, const lp_arg *args, int n)
{
    const unsigned char *p = (const unsigned char *)k->data + at, *e = (const unsigned char *)k->data + k->len;
#define LE(nb, out)                                        \
    do {                                                   \
        CHECK((size_t)(e - p) >= (nb));                    \
        uint64_t v_ = 0;                                   \
        for (int b_ = (nb) - 1; b_ >= 0; b_--)             \
            v_ = v_ << 8 | p[b_];                          \
        p += (nb);                                         \
        (out) = v_;                                        \
    } while (0)
    uint64_t cnt;
    LE(4, cnt);
    CHECK(cnt == (uint64_t)n);
    for (int i = 0; i < n; i++) {
        CHECK(p < e);
        unsigned char tag = *p++;
        uint64_t v;
        switch (args[i].type) {
        case LP_ARG_NULL: CHECK(tag == 'N'); break;
        case LP_ARG_INT: CHECK(tag == 'I'); LE(8, v); CHECK((int64_t)v == args[i].i); break;
        case LP_ARG_REAL: {
            CHECK(tag == 'R');
            LE(8, v);
            CHECK(memcmp(&v, &args[i].d, 8) == 0);
            break;
        }
        default:
            CHECK(tag == 'T');
            LE(8, v);
            CHECK(v == args[i].len && (size_t)(e - p) >= v && memcmp(p, args[i].s, v) == 0);
            p += v;
            break;
        }
    }
    CHECK(p == e);
#undef LE
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 1 << 16)
        return 0;
    /* An exact-size copy, so reading past len is an ASan report. */
    char *in = malloc(size ? size : 1);
    CHECK(in);
    if (size)
        memcpy(in, data, size);
    size_t nuls = 0;
    for (size_t i = 0; i < size; i++)
        nuls += in[i] == 0;

    buf k;
    buf_init(&k);
    sqlnorm_hints h = { 12345, 12345 };
    sqlnorm_key(in, size, &k, &h);
    CHECK(!k.oom);
    CHECK(h.ttl >= -1 && (h.nocache == 0 || h.nocache == 1));

    /* Format: text with every 00 written 00 01, then 00 00; never longer than the input allows. */
    CHECK(k.len >= 2 && k.data[k.len - 2] == 0 && k.data[k.len - 1] == 0);
    CHECK(k.len <= size + nuls + 2);
    size_t tl = k.len - 2, escaped = 0;
    for (size_t i = 0; i < tl; i++) {
        if (k.data[i] == 0) {
            CHECK(i + 1 < tl && k.data[i + 1] == 1);
            escaped++;
            i++;
        }
    }
    CHECK(escaped <= nuls);

    /* The bytes after len never matter: the same length inside a longer buffer gives the same key. */
    char *wide = malloc(size + 8);
    CHECK(wide);
    if (size)
        memcpy(wide, in, size);
    memcpy(wide + size, "'/*--\"[x", 8);
    buf k2;
    buf_init(&k2);
    sqlnorm_key(wide, size, &k2, NULL);
    CHECK(k2.len == k.len && memcmp(k2.data, k.data, k.len) == 0);
    free(wide);

    /* Idempotent: the key's text normalizes to itself, with the same hints dropped or kept. */
    if (nuls == 0) {
        buf_reset(&k2);
        sqlnorm_key(k.data, tl, &k2, NULL);
        if (k2.len != k.len || memcmp(k2.data, k.data, k.len) != 0) {
            fprintf(stderr, "not idempotent\n  in:  [%.*s]\n  key: [%.*s]\n  2nd: [%.*s]\n", (int)size, in,
                    (int)tl, k.data, (int)(k2.len - 2), k2.data);
            abort();
        }
#ifdef FUZZ_SQLITE
        char *a = malloc(size + 1), *b = malloc(tl + 1);
        CHECK(a && b);
        memcpy(a, in, size);
        a[size] = 0;
        memcpy(b, k.data, tl);
        b[tl] = 0;
        if (size <= 4096)
            oracle(a, b);
        free(a);
        free(b);
#endif
    }

    /* Arguments made from the input, appended after the SQL part and decoded back. */
    lp_arg args[8];
    int n = 0;
    for (size_t i = 0; i + 1 < size && n < 8; n++) {
        unsigned t = (unsigned char)in[i] % 4, l = (unsigned char)in[i + 1] % 16;
        i += 2;
        if (l > size - i)
            l = (unsigned)(size - i);
        lp_arg *a = &args[n];
        memset(a, 0, sizeof *a);
        a->type = (lp_arg_type)t;
        if (t == LP_ARG_INT && l >= 8)
            memcpy(&a->i, in + i, 8);
        else if (t == LP_ARG_REAL && l >= 8)
            memcpy(&a->d, in + i, 8);
        a->s = in + i;
        a->len = l;
        i += l;
    }
    size_t at = k.len;
    sqlnorm_key_args(&k, args, n);
    CHECK(!k.oom);
    check_args_roundtrip(&k, at, args, n);

    buf_free(&k);
    buf_free(&k2);
    free(in);
    return 0;
}
