/* fuzz_pgsql.c - libFuzzer harness for the PostgreSQL dialect translator: translate and split arbitrary text; results well-formed, output bounded, reuse of a result harmless. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "pgsql.h"
#include "pgwire.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#include "fuzz_check.h"

static pgsql_result reused;
static int reused_init;

static void check_result(const pgsql_result *r, int rc, size_t n)
{
    CHECK((rc == 0) == (r->action != PGSQL_ERROR));
    if (rc < 0) {
        CHECK(strlen(r->sqlstate) == 5);
        CHECK(r->message[0] != '\0');
        return;
    }
    CHECK(r->sql.len <= 16 * n + 4096);   /* the promised bound */
    if (r->sql.len)
        CHECK(r->sql.data[r->sql.len] == '\0');
    CHECK(r->nparams >= 0 && r->nparams <= 65535);
    if (r->action == PGSQL_SQL)
        CHECK(r->nstmts >= 1);
    if (r->action == PGSQL_COPY_FROM_STDIN) {
        CHECK(r->ncols >= 0 && r->ncols <= PGSQL_MAX_COPY_COLS);
        for (int i = 0; i < r->ncols; i++)
            CHECK(r->cols[i] >= r->colbuf.data && r->cols[i] < r->colbuf.data + r->colbuf.len);
        CHECK(r->copy_format == 't' || r->copy_format == 'c');
    }
    CHECK(memchr(r->name, '\0', sizeof r->name) != NULL);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!reused_init) {
        pgsql_result_init(&reused);
        reused_init = 1;
    }
    const char *s = (const char *)data;
    char *in = malloc(size ? size : 1);   /* exact size: over-reads hit the redzone */
    CHECK(in);
    memcpy(in, s, size);
    pgsql_ctx ctx = { "fuzz'user", "db", 7, NULL };

    pgsql_result r;
    pgsql_result_init(&r);
    int rc = pgsql_translate(in, size, &ctx, &r);
    check_result(&r, rc, size);

    /* a result reused across calls gives the same answer as a fresh one */
    int rc2 = pgsql_translate(in, size, &ctx, &reused);
    check_result(&reused, rc2, size);
    CHECK(rc == rc2 && r.action == reused.action && r.sql.len == reused.sql.len &&
          (r.sql.len == 0 || memcmp(r.sql.data, reused.sql.data, r.sql.len) == 0));
    pgsql_result_free(&r);

    /* split, then translate each statement */
    pgsql_span sp[64];
    size_t ns = pgsql_split(in, size, sp, 64);
    CHECK(ns <= size);
    size_t prev_end = 0;
    for (size_t i = 0; i < ns && i < 64; i++) {
        CHECK(sp[i].len > 0 && sp[i].off >= prev_end && sp[i].off + sp[i].len <= size);
        prev_end = sp[i].off + sp[i].len;
        char *stmt = malloc(sp[i].len);
        CHECK(stmt);
        memcpy(stmt, in + sp[i].off, sp[i].len);
        rc = pgsql_translate(stmt, sp[i].len, &ctx, &reused);
        check_result(&reused, rc, sp[i].len);
        CHECK(reused.action != PGSQL_EMPTY);   /* split leaves out empty statements */
        /* the tag finder copes with any statement text */
        char *z = malloc(sp[i].len + 1);
        CHECK(z);
        memcpy(z, stmt, sp[i].len);
        z[sp[i].len] = '\0';
        char tag[64];
        pgwire_command_tag(z, 1, 1, tag, sizeof tag);
        CHECK(memchr(tag, '\0', sizeof tag) != NULL);
        free(z);
        free(stmt);
    }
    free(in);
    return 0;
}
