/* test_applier.c - session changesets applied by the applier leave the copy equal to the source; a copy that drifted is refused with SQLITE_ABORT. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#define SQLITE_ENABLE_SESSION 1
#define SQLITE_ENABLE_PREUPDATE_HOOK 1
#include <sqlite3.h>
#include <stdio.h>
#include <string.h>

#include "applier.h"

static const char *const schema =
    "CREATE TABLE t (id INTEGER PRIMARY KEY, a TEXT, b REAL, c BLOB);"
    "CREATE TABLE \"odd \"\"name\" (k1 TEXT, k2 INTEGER, v, PRIMARY KEY (k1, k2)) WITHOUT ROWID;";

static void exec(sqlite3 *db, const char *sql)
{
    char *err = NULL;
    int rc = sqlite3_exec(db, sql, NULL, NULL, &err);
    if (rc != SQLITE_OK)
        fail_msg("%s: %s", sql, err ? err : sqlite3_errstr(rc));
}

/* Every row of both tables, as text, in key order. */
static void dump(sqlite3 *db, char *out, size_t len)
{
    sqlite3_stmt *st;
    const char *q = "SELECT 't', id, a, b, quote(c) FROM t UNION ALL SELECT 'o', k1, k2, v, NULL FROM \"odd \"\"name\" "
                    "ORDER BY 1, 2, 3";
    assert_int_equal(sqlite3_prepare_v2(db, q, -1, &st, NULL), SQLITE_OK);
    size_t n = 0;
    out[0] = '\0';
    while (sqlite3_step(st) == SQLITE_ROW && n < len)
        for (int i = 0; i < 5 && n < len; i++) {
            const unsigned char *v = sqlite3_column_text(st, i);
            n += (size_t)snprintf(out + n, len - n, "%s|", v ? (const char *)v : "NULL");
        }
    sqlite3_finalize(st);
}

/* Run sql on src under a session and apply its changeset to dst. Returns the applier's code. */
static int replay(sqlite3 *src, sqlite3 *dst, applier *a, const char *sql)
{
    sqlite3_session *s;
    assert_int_equal(sqlite3session_create(src, "main", &s), SQLITE_OK);
    assert_int_equal(sqlite3session_attach(s, NULL), SQLITE_OK);
    exec(src, sql);
    int n = 0;
    void *p = NULL;
    assert_int_equal(sqlite3session_changeset(s, &n, &p), SQLITE_OK);
    sqlite3session_delete(s);
    exec(dst, "BEGIN");
    int rc = applier_apply(a, n, p);
    exec(dst, rc == SQLITE_OK ? "COMMIT" : "ROLLBACK");
    sqlite3_free(p);
    return rc;
}

static void assert_same(sqlite3 *x, sqlite3 *y)
{
    char a[4096], b[4096];
    dump(x, a, sizeof a);
    dump(y, b, sizeof b);
    assert_string_equal(a, b);
}

/* Two in-memory databases with the test schema, and an applier onto the second. */
static applier *open_pair(sqlite3 **src, sqlite3 **dst)
{
    assert_int_equal(sqlite3_open(":memory:", src), SQLITE_OK);
    assert_int_equal(sqlite3_open(":memory:", dst), SQLITE_OK);
    exec(*src, schema);
    exec(*dst, schema);
    applier *a = applier_new(*dst);
    assert_non_null(a);
    return a;
}

static void test_inserts_updates_deletes(void **state)
{
    (void)state;
    sqlite3 *src, *dst;
    applier *a = open_pair(&src, &dst);
    assert_int_equal(replay(src, dst, a,
                            "INSERT INTO t VALUES (1, 'one', 1.5, x'00ff'), (2, NULL, NULL, NULL), (3, 'x', 3, 'c');"
                            "INSERT INTO \"odd \"\"name\" VALUES ('a', 1, 'v1'), ('a', 2, NULL)"),
                     SQLITE_OK);
    assert_same(src, dst);
    /* Updates of some columns (NULL included), a key change (a delete and an insert), deletes. */
    assert_int_equal(replay(src, dst, a,
                            "UPDATE t SET a = NULL, b = 2.25 WHERE id = 1; UPDATE t SET c = x'01' WHERE id = 2;"
                            "UPDATE t SET id = 30 WHERE id = 3; DELETE FROM \"odd \"\"name\" WHERE k2 = 1;"
                            "UPDATE \"odd \"\"name\" SET v = 'new' WHERE k1 = 'a'"),
                     SQLITE_OK);
    assert_same(src, dst);
    /* Changes undone inside the transaction leave nothing to apply. */
    assert_int_equal(replay(src, dst, a,
                            "BEGIN; INSERT INTO t VALUES (9, 'gone', 0, NULL); SAVEPOINT s; DELETE FROM t;"
                            "ROLLBACK TO s; DELETE FROM t WHERE id = 9; COMMIT"),
                     SQLITE_OK);
    assert_same(src, dst);
    applier_free(a);
    sqlite3_close(src);
    sqlite3_close(dst);
}

static void test_drift_is_refused(void **state)
{
    (void)state;
    sqlite3 *src, *dst;
    applier *a = open_pair(&src, &dst);
    exec(dst, "INSERT INTO t VALUES (1, 'already here', 0, NULL)");
    assert_int_equal(replay(src, dst, a, "INSERT INTO t VALUES (1, 'new', 0, NULL)"), SQLITE_ABORT);
    exec(dst, "DELETE FROM t");
    /* The row to update is missing on the copy. */
    assert_int_equal(replay(src, dst, a, "UPDATE t SET a = 'changed' WHERE id = 1"), SQLITE_ABORT);
    assert_int_equal(replay(src, dst, a, "DELETE FROM t WHERE id = 1"), SQLITE_ABORT);
    /* A table of another shape on the copy. */
    applier_reset(a);
    exec(dst, "DROP TABLE t; CREATE TABLE t (id INTEGER PRIMARY KEY, a TEXT)");
    assert_int_equal(replay(src, dst, a, "INSERT INTO t VALUES (5, 'x', 1, NULL)"), SQLITE_SCHEMA);
    applier_free(a);
    sqlite3_close(src);
    sqlite3_close(dst);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_inserts_updates_deletes),
        cmocka_unit_test(test_drift_is_refused),
    };
    return cmocka_run_group_tests_name("applier", tests, NULL, NULL);
}
