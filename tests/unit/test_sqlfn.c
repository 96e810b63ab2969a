/* test_sqlfn.c - litecached's printf()/format() against SQLite's own, format by format, and its bounded work on huge %c precisions. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sqlfn.h"

static sqlite3 *theirs, *ours;

static int setup(void **state)
{
    (void)state;
    if (sqlite3_open(":memory:", &theirs) != SQLITE_OK || sqlite3_open(":memory:", &ours) != SQLITE_OK)
        return -1;
    return sqlfn_install(ours) == SQLITE_OK ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    sqlite3_close(theirs);
    sqlite3_close(ours);
    return 0;
}

/* typeof and hex of expr on db, or the error: "text:414243" / "error:string or blob too big". */
static void eval(sqlite3 *db, const char *expr, char *out, size_t n)
{
    char sql[1024];
    snprintf(sql, sizeof sql, "SELECT typeof(v) || ':' || hex(v) FROM (SELECT %s AS v)", expr);
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK) {
        snprintf(out, n, "prepare:%s", sqlite3_errmsg(db));
        return;
    }
    if (sqlite3_step(st) == SQLITE_ROW)
        snprintf(out, n, "%s", (const char *)sqlite3_column_text(st, 0));
    else
        snprintf(out, n, "error:%s", sqlite3_errmsg(db));
    sqlite3_finalize(st);
}

static const char *const exprs[] = {
    "printf('plain text')", "printf('%d|%i|%u', 42, -7, 9)", "printf('%5d|%-5d|%05d|%+d|% d', 42, 42, 42, 42, 42)",
    "printf('%,d', 1234567)", "printf('%x|%X|%o|%#x|%#o', 255, 255, 8, 255, 8)", "printf('%lld|%ld|%lu', 1, 2, 3)",
    "printf('%f|%.2f|%10.3f|%-10.1f|%e|%E|%g|%G', 3.14159, 3.14159, 3.14159, 3.14159, 31415.9, 0.00031, 1e20, 1e-20)",
    "printf('%.0f|%#.0f|%!.3f|%+.1e', 2.5, 2.5, 1.0, 12345.678)", "printf('%s|%10s|%-10s|%.2s|%!.2s', 'abc', 'abc', 'abc', 'abc', 'äöü')",
    "printf('%z|%q|%Q|%w', 'z', 'it''s', 'it''s', 'a\"b')", "printf('%q|%Q|%w|%s|%d|%f', NULL, NULL, NULL, NULL, NULL, NULL)",
    "printf('%c|%5c|%-5c|%.3c|%5.3c|%-5.3c|%.1c|%.0c', 'xyz', 'a', 'b', 'c', 'd', 'e', 'f', 'g')",
    "printf('%c|%.4c|%6.2c|%!5c|%-6.3c', 'äx', 'ä', '€', '😀', 'ö')", "printf('%c%c%c', '', NULL)",
    "printf('%*d|%-*d|%*d|%.*f|%*.*f', 6, 1, 6, 2, -6, 3, 2, 3.14159, 8, 3, 2.71828)",
    "printf('%.*c|%*c|%-*.*c', 4, 'q', -4, 'r', 5, 3, 's')", "printf('%d %d %d', 1)", "printf('%s and %s', 'one')",
    "printf('100%%|%5%|%-5%|%*%', 3)", "printf('%n|%5n|%d', 7)", "printf('%p|%r|%T|%d', 255, 3, 4, 5)",
    "printf('%y|%d', 1)", "printf('')", "printf('%s', '')", "printf('%.0s', 'abc')", "printf('%n')", "printf('tail %')", "printf('cut %5')", "printf('%-')", "printf(NULL)", "printf('%s', x'414243')",
    "printf('%d', '12abc')", "printf('%d|%f|%s', 3.9, '2.5', 42)", "printf('%s', 1.5)", "printf('%10.4s|', 'abcdefgh')",
    "printf('%.3q|%.3Q', 'it''s long', 'abcdef')", "printf('%050d|%-+8d|%08.3f', -42, 5, -3.5)",
    "printf('%.20e|%.15g', 1.0/3, 2.0/3)", "printf('%!.*s|%-!8s|', 2, 'ñandú', 'ñ')", "printf('%c', 127)",
    "format('%s=%d', 'n', 5)", "format('%.5c', 'z')", "printf('%1000d|', 1)", "printf('%.1000c|', 'k')",
    "length(printf('%.100000c', 'w'))", "printf('%.2000000000s|%.*%|%.*q', 'abc', 2000000000, 2000000000, 'x')",
};

static void test_same_as_sqlite(void **state)
{
    (void)state;
    char a[8192], b[8192];
    for (size_t i = 0; i < sizeof exprs / sizeof *exprs; i++) {
        eval(theirs, exprs[i], a, sizeof a);
        eval(ours, exprs[i], b, sizeof b);
        if (strcmp(a, b) != 0)
            fail_msg("%s:\n  sqlite: %.200s\n  ours:   %.200s", exprs[i], a, b);
    }
}

/* The case that kept a thread busy for 18 s in SQLite's own: now an error at once, and below the
 * limit the repetitions are still exact. */
static void test_huge_precision_is_too_big_at_once(void **state)
{
    (void)state;
    char b[256];
    sqlite3_limit(ours, SQLITE_LIMIT_LENGTH, 1000000);
    eval(ours, "printf('%.*c', 2000000000, 'x')", b, sizeof b);
    assert_string_equal(b, "error:string or blob too big");
    /* SQLite's own quietly gives NULL for these; an error says what happened. */
    eval(theirs, "printf('%2147483647d', 1)", b, sizeof b);
    assert_string_equal(b, "null:");
    eval(ours, "printf('%2147483647d', 1)", b, sizeof b);
    assert_string_equal(b, "error:string or blob too big");
    eval(ours, "printf('%.1000001c', 'x')", b, sizeof b);
    assert_string_equal(b, "error:string or blob too big");
    eval(ours, "printf('%.600000c%.600000c', 'x', 'y')", b, sizeof b); /* each fits, not both */
    assert_string_equal(b, "error:string or blob too big");
    eval(ours, "length(printf('%.999999c', 'x'))", b, sizeof b);
    assert_string_equal(b, "integer:393939393939"); /* hex of the text 999999 */
    eval(ours, "printf('%.999999c', 'x') = printf('%.999999c', 'x')", b, sizeof b);
    assert_string_equal(b, "integer:31");
    sqlite3_limit(ours, SQLITE_LIMIT_LENGTH, 1000000000);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_same_as_sqlite),
        cmocka_unit_test(test_huge_precision_is_too_big_at_once),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
