/* test_pgcall.c - CALL name(args) from PostgreSQL clients: names, literal and $n arguments typed as the line protocol types them, and the errors. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "catalog.h"
#include "config.h"
#include "db.h"
#include "pgcall.h"

static config   cfg;
static db_conn *wdb;
static catalog *cat;
static char     path[64];

static int setup(void **state)
{
    (void)state;
    char err[512];
    snprintf(path, sizeof path, "/tmp/test_pgcall_%d.db", (int)getpid());
    config_defaults(&cfg);
    assert_int_equal(config_set(&cfg, "db_path", path, err, sizeof err), 0);
    wdb = db_open(&cfg, DB_WRITER, err, sizeof err);
    if (!wdb)
        fail_msg("%s", err);
    cat = catalog_build(wdb, "", err, sizeof err);
    if (!cat)
        fail_msg("%s", err);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    catalog_free(cat);
    db_close(wdb);
    config_free(&cfg);
    char p[80];
    unlink(path);
    snprintf(p, sizeof p, "%s-wal", path);
    unlink(p);
    snprintf(p, sizeof p, "%s-shm", path);
    unlink(p);
    return 0;
}

static int parse(const char *sql, lp_arg *args, int *params, buf *scratch, const catalog_entry **e, int *n,
                 const char **st, char *msg)
{
    return pgcall_parse(cat, sql, strlen(sql), args, params, 16, scratch, e, n, st, msg, 200);
}

static void test_call_forms(void **state)
{
    (void)state;
    lp_arg a[16];
    int p[16], n;
    const catalog_entry *e;
    const char *st;
    char msg[200];
    buf sc;
    buf_init(&sc);
    assert_true(pgcall_is("call x()", 8));
    assert_false(pgcall_is("calls", 5));
    /* the unquoted name is folded by the client's habit: found whatever its case */
    assert_int_equal(parse("CALL getuserbyid(42);", a, p, &sc, &e, &n, &st, msg), 0);
    assert_string_equal(e->q->name, "getUserById");
    assert_int_equal(n, 1);
    assert_int_equal(a[0].type, LP_ARG_INT);
    assert_int_equal(a[0].i, 42);
    assert_int_equal(p[0], 0);
    /* literals typed as the line protocol types them; $n referenced; casts ignored */
    assert_int_equal(parse("call \"createUser\"( 'it''s', $2::text , NULL, -1.5 )", a, p, &sc, &e, &n, &st, msg), 0);
    assert_int_equal(n, 4);
    assert_int_equal(a[0].type, LP_ARG_TEXT);
    assert_int_equal(a[0].len, 4);
    assert_memory_equal(a[0].s, "it's", 4);
    assert_int_equal(p[1], 2);
    assert_int_equal(a[2].type, LP_ARG_NULL);
    assert_int_equal(a[3].type, LP_ARG_REAL);
    assert_true(a[3].d == -1.5);
    assert_int_equal(parse("CALL getUserById(TRUE)", a, p, &sc, &e, &n, &st, msg), 0);
    assert_int_equal(a[0].type, LP_ARG_INT);
    assert_int_equal(a[0].i, 1);
    buf_free(&sc);
}

static void test_call_errors(void **state)
{
    (void)state;
    lp_arg a[16];
    int p[16], n;
    const catalog_entry *e;
    const char *st;
    char msg[200];
    buf sc;
    buf_init(&sc);
    assert_int_equal(parse("CALL nosuch(1)", a, p, &sc, &e, &n, &st, msg), -1);
    assert_string_equal(st, "42883");
    assert_int_equal(parse("CALL getUserById(1, 2)", a, p, &sc, &e, &n, &st, msg), -1);
    assert_string_equal(st, "22023");
    assert_non_null(strstr(msg, "takes 1 argument"));
    assert_int_equal(parse("CALL getUserById(1", a, p, &sc, &e, &n, &st, msg), -1);
    assert_string_equal(st, "42601");
    assert_int_equal(parse("CALL getUserById('x)", a, p, &sc, &e, &n, &st, msg), -1);
    assert_string_equal(st, "42601");
    assert_int_equal(parse("CALL getUserById(1) extra", a, p, &sc, &e, &n, &st, msg), -1);
    assert_string_equal(st, "42601");
    assert_int_equal(parse("CALL getUserById(foo)", a, p, &sc, &e, &n, &st, msg), -1);
    assert_string_equal(st, "42601");
    assert_int_equal(parse("CALL (1)", a, p, &sc, &e, &n, &st, msg), -1);
    buf_free(&sc);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_call_forms),
        cmocka_unit_test(test_call_errors),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
