/* test_users.c - the users_file (user, role, SCRAM verifier) and the cancel registry. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "users.h"
#include "pgcancel.h"
#include "scram.h"

static char verifier[256];

static int setup(void **state)
{
    (void)state;
    buf v;
    buf_init(&v);
    const uint8_t salt[16] = "0123456789abcdef";
    assert_int_equal(scram_make_verifier_salt("pw", salt, sizeof salt, 4096, &v), 0);
    snprintf(verifier, sizeof verifier, "%.*s", (int)v.len, v.data);
    buf_free(&v);
    return 0;
}

static users_list *parse(const char *text, char *err, size_t errlen)
{
    return users_parse(text, strlen(text), "users", err, errlen);
}

static void test_users_file(void **state)
{
    (void)state;
    char text[1024], err[256];
    snprintf(text, sizeof text, "# comment\n\n  alice admin %s\nbob\treadonly\t%s\r\ncarol readwrite %s", verifier,
             verifier, verifier);
    users_list *a = parse(text, err, sizeof err);
    assert_non_null(a);
    assert_int_equal(users_count(a), 3);
    const users_entry *u = users_find(a, "bob");
    assert_non_null(u);
    assert_int_equal(u->role, ROLE_READONLY);
    assert_string_equal(u->verifier, verifier);
    assert_int_equal(users_find(a, "carol")->role, ROLE_READWRITE);
    assert_int_equal(users_find(a, "alice")->role, ROLE_ADMIN);
    assert_null(users_find(a, "dave"));
    assert_int_equal(scram_check_password(users_find(a, "alice")->verifier, "pw"), 1);
    assert_int_equal(scram_check_password(users_find(a, "alice")->verifier, "pW"), 0);
    assert_string_equal(role_name(ROLE_READWRITE), "readwrite");
    users_free(a);
    /* nobody at all: an empty path */
    a = users_load("", err, sizeof err);
    assert_non_null(a);
    assert_int_equal(users_count(a), 0);
    users_free(a);
}

static void test_users_file_errors(void **state)
{
    (void)state;
    char text[1024], err[256];
    assert_null(parse("alice admin\n", err, sizeof err));
    assert_string_equal(err, "users:1: want \"<user> <role> <verifier>\"");
    snprintf(text, sizeof text, "\nalice root %s\n", verifier);
    assert_null(parse(text, err, sizeof err));
    assert_non_null(strstr(err, "users:2: alice: role \"root\""));
    assert_null(parse("alice admin md5abcdef\n", err, sizeof err));
    assert_non_null(strstr(err, "not a SCRAM-SHA-256 verifier"));
    snprintf(text, sizeof text, "alice admin %s\nalice readonly %s\n", verifier, verifier);
    assert_null(parse(text, err, sizeof err));
    assert_string_equal(err, "users:2: alice: listed twice");
    snprintf(text, sizeof text, "alice admin %s extra\n", verifier);
    assert_null(parse(text, err, sizeof err));
    assert_null(users_load("/nonexistent/users", err, sizeof err));
    assert_non_null(strstr(err, "cannot open"));
}

static void test_cancel_registry(void **state)
{
    (void)state;
    int32_t pid1, key1, pid2, key2;
    pgcancel_slot *a = pgcancel_register(7, &pid1, &key1);
    pgcancel_slot *b = pgcancel_register(7 + ((uint64_t)1 << 31), &pid2, &key2); /* folds onto the same pid */
    assert_non_null(a);
    assert_non_null(b);
    assert_int_equal(pid1, 7);
    assert_int_not_equal(pid2, pid1);
    sqlite3 *db;
    assert_int_equal(sqlite3_open(":memory:", &db), SQLITE_OK);
    /* nothing running: nothing to interrupt */
    assert_int_equal(pgcancel_request(pid1, key1), 0);
    pgcancel_begin(a, db);
    assert_int_equal(pgcancel_request(pid1, key1 ^ 1), 0); /* wrong key */
    assert_int_equal(pgcancel_request(pid2, key2), 0);     /* b runs nothing */
    assert_int_equal(pgcancel_request(pid1, key1), 1);
    assert_int_equal(pgcancel_end(a), 1);
    assert_int_equal(pgcancel_end(a), 0);
    pgcancel_unregister(a);
    assert_int_equal(pgcancel_request(pid1, key1), 0);     /* gone */
    pgcancel_unregister(b);
    sqlite3_close(db);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_users_file),
        cmocka_unit_test(test_users_file_errors),
        cmocka_unit_test(test_cancel_registry),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
