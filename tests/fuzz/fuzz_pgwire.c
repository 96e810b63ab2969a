/* fuzz_pgwire.c - libFuzzer harness for the PostgreSQL wire codec: framing under any split, every frontend parser, value conversions, encoder output re-framed. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "pgval.h"
#include "pgwire.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#include "fuzz_check.h"

static const char *body_lo, *body_hi;   /* the message being parsed */

static void in_body(const char *p, size_t n)
{
    CHECK(p >= body_lo && p <= body_hi && n <= (size_t)(body_hi - p));
}

static void in_body_str(const char *s)
{
    CHECK(s >= body_lo && s < body_hi);
    in_body(s, strlen(s) + 1);   /* the NUL must be inside too */
}

static void check_err(int rc, const char *err, size_t errlen)
{
    CHECK(rc == 0 || rc == -1);
    if (rc < 0) {
        CHECK(memchr(err, '\0', errlen) != NULL);
        CHECK(err[0] != '\0');
    }
}

static const uint32_t OIDS[] = { 0, 16, 17, 20, 21, 23, 25, 26, 114, 700, 701, 1042, 1043, 1082, 1114, 1700, 2950, 3802 };
#define NOIDS (sizeof OIDS / sizeof *OIDS)

/* Decode, re-encode and (for types with an exact text form) round-trip one parameter. */
static void check_value(uint32_t oid, const pgwire_param *prm)
{
    buf scratch, out, back, again;
    buf_init(&scratch);
    buf_init(&out);
    buf_init(&back);
    buf_init(&again);
    pgval v;
    const char *st = NULL;
    char err[160];
    memset(err, 'x', sizeof err);
    int rc = pgval_param_decode(oid, prm, &scratch, &v, &st, err, sizeof err);
    check_err(rc, err, sizeof err);
    if (rc < 0) {
        CHECK(st && strlen(st) == 5);
    } else {
        CHECK(v.type >= PGVAL_INT && v.type <= PGVAL_NULL);
        pgval_to_text(&out, oid, &v);
        rc = pgval_to_binary(&back, oid, &v, &st, err, sizeof err);
        check_err(rc, err, sizeof err);
        /* integers: binary -> text -> binary is the identity */
        if (rc == 0 && (oid == 20 || oid == 21 || oid == 23) && !out.oom) {
            CHECK(pgval_text_to_binary(oid, out.data ? out.data : "", out.len, &again, &st, err, sizeof err) == 0);
            CHECK(again.len == back.len && memcmp(again.data, back.data, back.len) == 0);
        }
        /* floats: their text form reads back to the same bits (NaN aside) */
        if (rc == 0 && oid == 701 && v.type == PGVAL_FLOAT && v.d == v.d && !out.oom) {
            buf_reset(&again);
            CHECK(pgval_text_to_binary(oid, out.data, out.len, &again, &st, err, sizeof err) == 0);
            CHECK(again.len == 8 && memcmp(again.data, back.data, 8) == 0);
        }
    }
    buf_free(&scratch);
    buf_free(&out);
    buf_free(&back);
    buf_free(&again);
}

static void parse_all(char type, const char *b, size_t n, uint8_t sel)
{
    char err[160];
    int rc;
    body_lo = b;
    body_hi = b + n;
    const char *s;
    size_t l;
    rc = pgwire_parse_query(b, n, &s, &l, err, sizeof err);
    check_err(rc, err, sizeof err);
    if (rc == 0) {
        in_body_str(s);
        CHECK(l == strlen(s));
        char tag[64];
        pgwire_command_tag(s, 1, 2, tag, sizeof tag);
        CHECK(memchr(tag, '\0', sizeof tag) != NULL);
    }
    pgwire_parse p;
    rc = pgwire_parse_parse(b, n, &p, err, sizeof err);
    check_err(rc, err, sizeof err);
    if (rc == 0) {
        in_body_str(p.name);
        in_body_str(p.query);
        in_body(p.param_types, 4 * (size_t)p.nparam_types);
        for (int i = 0; i < p.nparam_types; i++)
            (void)pgwire_parse_param_type(&p, i);
    }
    pgwire_bind bd;
    rc = pgwire_parse_bind(b, n, &bd, err, sizeof err);
    check_err(rc, err, sizeof err);
    if (rc == 0) {
        in_body_str(bd.portal);
        in_body_str(bd.statement);
        CHECK(bd.nparam_formats == 0 || bd.nparam_formats == 1 || bd.nparam_formats == bd.nparams);
        pgwire_param *ps = calloc((size_t)bd.nparams + 1, sizeof *ps);
        CHECK(ps);
        pgwire_bind_params(&bd, ps, bd.nparams);
        for (int i = 0; i < bd.nparams; i++) {
            CHECK(ps[i].format == 0 || ps[i].format == 1);
            if (ps[i].len >= 0)
                in_body(ps[i].p, (size_t)ps[i].len);
            else
                CHECK(ps[i].len == -1 && ps[i].p == NULL);
            check_value(OIDS[(sel + (unsigned)i) % NOIDS], &ps[i]);
        }
        for (int i = 0; i < bd.nresult_formats + 2; i++) {
            int16_t f = pgwire_bind_result_format(&bd, i);
            CHECK(f == 0 || f == 1);
        }
        /* echo the parameters back as a DataRow: it must frame as exactly one message */
        buf row;
        buf_init(&row);
        pgwire_builder w;
        pgwire_datarow_begin(&w, &row);
        for (int i = 0; i < bd.nparams; i++)
            if (ps[i].len < 0)
                pgwire_datarow_null(&w);
            else
                pgwire_datarow_bytes(&w, ps[i].p, (size_t)ps[i].len);
        if (pgwire_datarow_end(&w) == 0 && !row.oom) {
            pgwire_msg f;
            CHECK(pgwire_frame(row.data, row.len, 0, &f) == PGWIRE_MSG);
            CHECK(f.type == 'D' && f.total == row.len);
        }
        buf_free(&row);
        free(ps);
    }
    pgwire_target t;
    rc = pgwire_parse_describe(b, n, &t, err, sizeof err);
    check_err(rc, err, sizeof err);
    if (rc == 0) {
        CHECK(t.kind == 'S' || t.kind == 'P');
        in_body_str(t.name);
    }
    check_err(pgwire_parse_close(b, n, &t, err, sizeof err), err, sizeof err);
    pgwire_execute e;
    rc = pgwire_parse_execute(b, n, &e, err, sizeof err);
    check_err(rc, err, sizeof err);
    if (rc == 0)
        in_body_str(e.portal);
    check_err(pgwire_parse_empty(b, n, err, sizeof err), err, sizeof err);
    rc = pgwire_parse_copy_fail(b, n, &s, err, sizeof err);
    check_err(rc, err, sizeof err);
    rc = pgwire_parse_password(b, n, &s, err, sizeof err);
    check_err(rc, err, sizeof err);
    if (rc == 0)
        in_body_str(s);
    pgwire_sasl_initial si;
    rc = pgwire_parse_sasl_initial(b, n, &si, err, sizeof err);
    check_err(rc, err, sizeof err);
    if (rc == 0) {
        in_body_str(si.mechanism);
        if (si.data)
            in_body(si.data, si.len);
    }
    pgwire_startup su;
    rc = pgwire_parse_startup(b, n, (uint32_t)(3u << 16 | (unsigned char)type), &su, err, sizeof err);
    check_err(rc, err, sizeof err);
    if (rc == 0) {
        CHECK(su.nparams <= PGWIRE_MAX_STARTUP_PARAMS);
        for (int i = 0; i < su.nparams; i++) {
            in_body_str(su.params[i].key);
            in_body_str(su.params[i].value);
        }
    }
    pgwire_cancel cn;
    check_err(pgwire_parse_cancel(b, n, &cn, err, sizeof err), err, sizeof err);
    /* COPY text rows over a private, mutable copy */
    char *line = malloc(n ? n : 1);
    CHECK(line);
    memcpy(line, b, n);
    pgval_copy_field f[16];
    int nf = pgval_copy_text_fields(line, n, (sel & 1) ? ',' : '\t', "\\N", f, 16);
    CHECK(nf >= -1 && nf <= 16);
    for (int i = 0; i < nf; i++)
        CHECK(f[i].p >= line && f[i].p + f[i].n <= line + n);
    free(line);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2)
        return 0;
    uint8_t sel = data[0];
    size_t cap = 16 + (size_t)data[1] * 8;   /* small caps so that TOO_LONG is common */
    const char *s = (const char *)data + 2;
    size_t n = size - 2;
    /* an exact-size copy, so that reading past the end is caught */
    char *in = malloc(n ? n : 1);
    CHECK(in);
    memcpy(in, s, n);

    size_t pos = 0;
    int startup = (sel & 2) != 0;
    for (int guard = 0; pos < n && guard < 10000; guard++) {
        pgwire_msg f;
        int rc = startup ? pgwire_frame_startup(in + pos, n - pos, &f) : pgwire_frame(in + pos, n - pos, cap, &f);
        CHECK(rc >= PGWIRE_ERR_STARTUP_LEN && rc <= PGWIRE_MSG);
        if (rc != PGWIRE_MSG) {
            CHECK(pgwire_frame_strerror(rc) != NULL);
            break;
        }
        CHECK(f.total > 0 && f.total <= n - pos);
        CHECK(f.body >= in + pos && f.body + f.body_len == in + pos + f.total);
        if (startup)
            CHECK(f.total >= 8 && f.total <= PGWIRE_STARTUP_MAX);
        else
            CHECK(f.total - 1 <= cap);
        /* parse a copy of exactly the body, so that any over-read hits the redzone */
        char *body = malloc(f.body_len ? f.body_len : 1);
        CHECK(body);
        memcpy(body, f.body, f.body_len);
        parse_all(f.type, body, f.body_len, sel);
        free(body);
        pos += f.total;
        startup = 0;
    }
    free(in);
    return 0;
}
