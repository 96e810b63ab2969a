/* test_named.c - the named-query parser: format, attributes, lookup, and errors that point at origin:line. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "named.h"

static nq_set *set;
static char    err[512];

static int setup(void **state)
{
    (void)state;
    set = nq_new();
    err[0] = '\0';
    return set ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    nq_free(set);
    set = NULL;
    return 0;
}

static int load(const char *text, const char *origin)
{
    return nq_load_text(set, text, strlen(text), origin, err, sizeof err);
}

static const nq_query *find(const char *name)
{
    return nq_find(set, name, strlen(name));
}

/* Loading must fail with exactly this message and add nothing. */
static void expect_error(const char *text, const char *origin, const char *want)
{
    size_t before = nq_count(set);
    assert_int_equal(load(text, origin), -1);
    assert_string_equal(err, want);
    assert_int_equal(nq_count(set), before);
}

static void test_basics(void **state)
{
    (void)state;
    assert_int_equal(load("-- queries.sql - a header comment\n"
                          "\n"
                          "-- name: getUserById\n"
                          "SELECT * FROM users WHERE id = :id;\n"
                          "\n"
                          "-- name: getAllUsers\n"
                          "\n"
                          "   SELECT *\n"
                          "     FROM users;   \n"
                          "\n",
                          "q.sql"),
                     0);
    assert_int_equal(nq_count(set), 2);
    const nq_query *a = nq_at(set, 0), *b = nq_at(set, 1);
    assert_string_equal(a->name, "getUserById");
    assert_string_equal(a->sql, "SELECT * FROM users WHERE id = :id;");
    assert_int_equal(a->ttl, -1);
    assert_int_equal(a->nocache, 0);
    assert_string_equal(a->origin, "q.sql");
    assert_int_equal(a->line, 3);
    assert_string_equal(b->name, "getAllUsers");
    assert_string_equal(b->sql, "SELECT *\n     FROM users;");
    assert_int_equal(b->line, 6);
    assert_null(nq_at(set, 2));

    assert_ptr_equal(find("getAllUsers"), b);
    assert_ptr_equal(nq_find(set, "getUserByIdXYZ", 11), a); /* by length, no NUL needed */
    assert_null(find("getUser"));
    assert_null(find("getuserbyid"));
    assert_null(find(""));
    assert_null(nq_find(NULL, "x", 1));
    assert_int_equal(nq_count(NULL), 0);
}

static void test_attributes(void **state)
{
    (void)state;
    assert_int_equal(load("-- name: a ttl=30\nSELECT 1;\n"
                          "-- name: b nocache\nSELECT 2;\n"
                          "--name:c\tnocache   ttl=0  \nSELECT 3;\n"
                          "  --   name:   d   \nSELECT 4;\n"
                          "-- name: e ttl=2147483647\nSELECT 5;\n",
                          "attrs.sql"),
                     0);
    assert_int_equal(find("a")->ttl, 30);
    assert_int_equal(find("a")->nocache, 0);
    assert_int_equal(find("b")->ttl, -1);
    assert_int_equal(find("b")->nocache, 1);
    assert_int_equal(find("c")->ttl, 0);
    assert_int_equal(find("c")->nocache, 1);
    assert_int_equal(find("d")->ttl, -1);
    assert_int_equal(find("e")->ttl, 2147483647);
    assert_string_equal(find("d")->sql, "SELECT 4;");
}

static void test_multi_statement_bodies_and_comments(void **state)
{
    (void)state;
    const char *text = "-- name: createUserWithPreferences\n"
                       "-- Two statements, one transaction.\n"
                       "INSERT INTO users (email) VALUES (:email);\n"
                       "/* block comment; with a semicolon */\n"
                       "INSERT INTO user_preferences (user_id) VALUES (last_insert_rowid());\n"
                       "-- name: other\n"
                       "SELECT '-- name: is not special inside a line';\n";
    assert_int_equal(load(text, "multi.sql"), 0);
    assert_string_equal(find("createUserWithPreferences")->sql,
                        "-- Two statements, one transaction.\n"
                        "INSERT INTO users (email) VALUES (:email);\n"
                        "/* block comment; with a semicolon */\n"
                        "INSERT INTO user_preferences (user_id) VALUES (last_insert_rowid());");
    assert_string_equal(find("other")->sql, "SELECT '-- name: is not special inside a line';");
}

static void test_crlf_and_no_trailing_newline(void **state)
{
    (void)state;
    assert_int_equal(load("\xEF\xBB\xBF-- exported on Windows\r\n"
                          "-- name: one ttl=5\r\n"
                          "SELECT 1\r\n"
                          "  FROM t;\r\n"
                          "\r\n"
                          "-- name: two nocache\r\n"
                          "SELECT 2",
                          "crlf.sql"),
                     0);
    assert_string_equal(find("one")->sql, "SELECT 1\n  FROM t;");
    assert_int_equal(find("one")->ttl, 5);
    assert_int_equal(find("one")->line, 2);
    assert_string_equal(find("two")->sql, "SELECT 2");
    assert_int_equal(find("two")->nocache, 1);
    assert_int_equal(find("two")->line, 6);
    /* errors count CRLF lines too */
    expect_error("-- name: x\r\nSELECT 1;\r\n-- name: y ttl=soon\r\nSELECT 2;\r\n", "crlf2.sql",
                 "crlf2.sql:3: query 'y': bad ttl 'ttl=soon' (want ttl=N, N a whole number of seconds up to 2147483647)");
}

static void test_empty_and_comment_only_texts(void **state)
{
    (void)state;
    assert_int_equal(load("", "empty.sql"), 0);
    assert_int_equal(load("\n\n-- nothing here yet\n   \n", "comments.sql"), 0);
    assert_int_equal(nq_count(set), 0);
}

static void test_errors_name_origin_and_line(void **state)
{
    (void)state;
    assert_int_equal(load("-- name: a\nSELECT 1;\n", "first.sql"), 0);

    expect_error("-- name: b\nSELECT 1;\n\n-- name: b\nSELECT 2;\n", "dup.sql",
                 "dup.sql:4: duplicate query name 'b' (first defined at dup.sql:1)");
    expect_error("\n-- name: a\nSELECT 1;\n", "second.sql",
                 "second.sql:2: duplicate query name 'a' (first defined at first.sql:1)");
    expect_error("-- name: c\nSELECT 1;\n-- name: d ttl=10 cache\nSELECT 2;\n", "attr.sql",
                 "attr.sql:3: query 'd': unknown attribute 'cache' (known: ttl=N, nocache)");
    expect_error("-- name: c ttl=-1\nSELECT 1;\n", "neg.sql",
                 "neg.sql:1: query 'c': bad ttl 'ttl=-1' (want ttl=N, N a whole number of seconds up to 2147483647)");
    expect_error("-- name: c ttl=\nSELECT 1;\n", "none.sql",
                 "none.sql:1: query 'c': bad ttl 'ttl=' (want ttl=N, N a whole number of seconds up to 2147483647)");
    expect_error("-- name: c ttl=2147483648\nSELECT 1;\n", "big.sql",
                 "big.sql:1: query 'c': bad ttl 'ttl=2147483648' (want ttl=N, N a whole number of seconds up to 2147483647)");
    expect_error("-- name: c ttl=1 ttl=2\nSELECT 1;\n", "twice.sql", "twice.sql:1: query 'c': ttl given twice");
    expect_error("-- name: c nocache nocache\nSELECT 1;\n", "twice.sql", "twice.sql:1: query 'c': nocache given twice");
    expect_error("\n\n-- name: 1abc\nSELECT 1;\n", "name.sql",
                 "name.sql:3: bad query name '1abc' (want letters, digits and _, not starting with a digit)");
    expect_error("-- name: get-user\nSELECT 1;\n", "name.sql",
                 "name.sql:1: bad query name 'get-user' (want letters, digits and _, not starting with a digit)");
    expect_error("-- name: ok\nSELECT 1;\n-- name:   \nSELECT 1;\n", "name.sql", "name.sql:3: missing query name after `-- name:`");
    expect_error("-- name: e\nSELECT 1;\n-- name: empty\n\n   \n-- name: f\nSELECT 2;\n", "body.sql",
                 "body.sql:3: query 'empty' has an empty body");
    expect_error("-- name: onlycomments\n-- TODO\n/* later */\n", "body.sql", "body.sql:1: query 'onlycomments' has an empty body");
    expect_error("-- name: last\n", "body.sql", "body.sql:1: query 'last' has an empty body");
    expect_error("-- header\nSELECT 1;\n-- name: g\nSELECT 2;\n", "junk.sql",
                 "junk.sql:2: text before the first `-- name:` line (only comments and blank lines may come first)");
    const char nul[] = "-- name: h\nSELECT 1;\nSELECT '\0';\n";
    assert_int_equal(nq_load_text(set, nul, sizeof nul - 1, "nul.sql", err, sizeof err), -1);
    assert_string_equal(err, "nul.sql:3: NUL byte in query text");
    /* a NULL origin still yields a usable message */
    assert_int_equal(nq_load_text(set, "x", 1, NULL, err, sizeof err), -1);
    assert_string_equal(err, "<text>:1: text before the first `-- name:` line (only comments and blank lines may come first)");

    assert_int_equal(nq_count(set), 1);
    assert_null(find("c"));
    assert_null(find("e"));
}

static void test_many_queries_keep_order_and_lookup(void **state)
{
    (void)state;
    char *text = malloc(64 * 1000);
    assert_non_null(text);
    size_t len = 0;
    /* reverse alphabetical, so load order and name order differ */
    for (int i = 999; i >= 0; i--)
        len += (size_t)sprintf(text + len, "-- name: q%03d ttl=%d\nSELECT %d;\n", i, i, i);
    assert_int_equal(nq_load_text(set, text, len, "many.sql", err, sizeof err), 0);
    free(text);
    assert_int_equal(nq_load_text(set, "-- name: extra\nSELECT 0;\n", 25, "more.sql", err, sizeof err), 0);
    assert_int_equal(nq_count(set), 1001);
    for (int i = 0; i < 1000; i++) {
        char name[16];
        snprintf(name, sizeof name, "q%03d", i);
        const nq_query *q = find(name);
        assert_non_null(q);
        assert_int_equal(q->ttl, i);
        assert_ptr_equal(nq_at(set, (size_t)(999 - i)), q);
    }
    assert_string_equal(nq_at(set, 1000)->name, "extra");
    assert_string_equal(find("extra")->origin, "more.sql");
}

static void test_load_file(void **state)
{
    (void)state;
    char path[] = "/tmp/test_named_XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    const char *text = "-- name: fromFile ttl=7\nSELECT 1;";
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
    assert_int_equal(nq_load_file(set, path, err, sizeof err), 0);
    assert_string_equal(find("fromFile")->origin, path);
    assert_int_equal(find("fromFile")->ttl, 7);

    /* the error names the file that has the problem */
    assert_int_equal(nq_load_file(set, path, err, sizeof err), -1);
    char want[256];
    snprintf(want, sizeof want, "%s:1: duplicate query name 'fromFile' (first defined at %s:1)", path, path);
    assert_string_equal(err, want);
    unlink(path);

    assert_int_equal(nq_load_file(set, "/nonexistent/queries.sql", err, sizeof err), -1);
    assert_string_equal(err, "/nonexistent/queries.sql: No such file or directory");
    assert_int_equal(nq_load_file(set, "/tmp", err, sizeof err), -1);
    assert_string_equal(err, "/tmp: Is a directory");
    assert_int_equal(nq_count(set), 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_basics, setup, teardown),
        cmocka_unit_test_setup_teardown(test_attributes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_multi_statement_bodies_and_comments, setup, teardown),
        cmocka_unit_test_setup_teardown(test_crlf_and_no_trailing_newline, setup, teardown),
        cmocka_unit_test_setup_teardown(test_empty_and_comment_only_texts, setup, teardown),
        cmocka_unit_test_setup_teardown(test_errors_name_origin_and_line, setup, teardown),
        cmocka_unit_test_setup_teardown(test_many_queries_keep_order_and_lookup, setup, teardown),
        cmocka_unit_test_setup_teardown(test_load_file, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
