/* test_pgguc.c - PostgreSQL session parameters: the start-up ParameterStatus set, SET/RESET/SHOW and what litecached refuses to change. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "pgguc.h"

static uint32_t be32(const char *p)
{
    const unsigned char *u = (const unsigned char *)p;
    return (uint32_t)u[0] << 24 | (uint32_t)u[1] << 16 | (uint32_t)u[2] << 8 | u[3];
}

/* Does out hold ParameterStatus name=value? */
static int has_status(const buf *out, const char *name, const char *value)
{
    for (size_t off = 0; off + 5 <= out->len;) {
        size_t len = be32(out->data + off + 1);
        const char *body = out->data + off + 5;
        if (out->data[off] == 'S' && !strcmp(body, name) && !strcmp(body + strlen(name) + 1, value))
            return 1;
        off += 1 + len;
    }
    return 0;
}

static pgguc *make(void)
{
    pgguc_init in = {"alice", "myapp", 1, 100};
    pgguc *g = pgguc_new(&in);
    assert_non_null(g);
    return g;
}

static void test_startup(void **state)
{
    (void)state;
    pgguc *g = make();
    buf out;
    buf_init(&out);
    pgguc_put_startup(g, &out);
    assert_true(has_status(&out, "server_version", "15.0"));
    assert_true(has_status(&out, "server_encoding", "UTF8"));
    assert_true(has_status(&out, "client_encoding", "UTF8"));
    assert_true(has_status(&out, "DateStyle", "ISO, MDY"));
    assert_true(has_status(&out, "integer_datetimes", "on"));
    assert_true(has_status(&out, "standard_conforming_strings", "on"));
    assert_true(has_status(&out, "TimeZone", "UTC"));
    assert_true(has_status(&out, "IntervalStyle", "postgres"));
    assert_true(has_status(&out, "application_name", "myapp"));
    assert_true(has_status(&out, "is_superuser", "on"));
    assert_true(has_status(&out, "session_authorization", "alice"));
    assert_false(has_status(&out, "search_path", "\"$user\", public")); /* not a reported one */
    buf_free(&out);
    pgguc_free(g);
}

static void test_set_show_reset(void **state)
{
    (void)state;
    pgguc *g = make();
    buf out;
    buf_init(&out);
    const char *st;
    char msg[128];
    assert_int_equal(pgguc_set(g, "application_name", "other", &out, &st, msg, sizeof msg), 0);
    assert_true(has_status(&out, "application_name", "other")); /* reported on change */
    assert_string_equal(pgguc_get(g, "APPLICATION_NAME"), "other");
    assert_int_equal(pgguc_set(g, "search_path", "a, b", &out, &st, msg, sizeof msg), 0);
    assert_string_equal(pgguc_get(g, "search_path"), "a, b");
    assert_int_equal(pgguc_set(g, "my.custom", "x", &out, &st, msg, sizeof msg), 0);
    assert_string_equal(pgguc_get(g, "my.custom"), "x");
    /* the same meaning is accepted, another encoding is not */
    assert_int_equal(pgguc_set(g, "client_encoding", "utf-8", &out, &st, msg, sizeof msg), 0);
    assert_int_equal(pgguc_set(g, "client_encoding", "LATIN1", &out, &st, msg, sizeof msg), -1);
    assert_string_equal(st, "0A000");
    assert_int_equal(pgguc_set(g, "server_version", "16", &out, &st, msg, sizeof msg), -1);
    buf_reset(&out);
    pgguc_reset(g, "application_name", &out);
    assert_true(has_status(&out, "application_name", "myapp"));
    pgguc_reset(g, "all", &out);
    assert_null(pgguc_get(g, "my.custom"));
    assert_string_equal(pgguc_get(g, "search_path"), "\"$user\", public");
    /* SHOW: RowDescription titled with the parameter's own spelling, one row, SHOW */
    buf_reset(&out);
    assert_int_equal(pgguc_show(g, "datestyle", &out), 0);
    assert_int_equal(out.data[0], 'T');
    assert_string_equal(out.data + 7, "DateStyle");
    assert_non_null(memmem(out.data, out.len, "ISO, MDY", 8));
    assert_non_null(memmem(out.data, out.len, "SHOW", 5));
    buf_reset(&out);
    assert_int_equal(pgguc_show(g, "nope", &out), -1);
    assert_int_equal(out.data[0], 'E');
    assert_non_null(memmem(out.data, out.len, "42704", 5));
    buf_reset(&out);
    assert_int_equal(pgguc_show(g, "all", &out), 0);
    assert_non_null(memmem(out.data, out.len, "max_connections", 15));
    buf_free(&out);
    pgguc_free(g);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_startup),
        cmocka_unit_test(test_set_show_reset),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
