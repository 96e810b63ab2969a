/* test_db.c - the sandbox of db.c: what the authorizer refuses to everyone, and what db_stmt_refusal lets each role run. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "db.h"

static config  cfg;
static db_conn *wdb;
static char    dir[] = "/tmp/litecached-test-db-XXXXXX";
static char    path[64];

static int setup(void **state)
{
    (void)state;
    char err[256];
    if (!mkdtemp(dir))
        return -1;
    snprintf(path, sizeof path, "%s/data.db", dir);
    config_defaults(&cfg);
    free(cfg.db_path);
    cfg.db_path = strdup(path);
    wdb = db_open(&cfg, DB_WRITER, err, sizeof err);
    if (!wdb)
        fprintf(stderr, "db_open: %s\n", err);
    return wdb ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    db_close(wdb);
    config_free(&cfg);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    return system(cmd) == 0 ? 0 : -1;
}

/* Prepare sql; NULL when refused at prepare time (then *msg is the message). */
static db_stmt *prep(const char *sql, const char **msg)
{
    db_stmt *s = NULL;
    size_t used;
    int rc = db_prepare(wdb, sql, strlen(sql), &s, &used);
    *msg = rc == SQLITE_OK ? NULL : db_errmsg(wdb);
    if (rc != SQLITE_OK)
        assert_string_equal(db_sqlstate(wdb, rc), "42501");
    return rc == SQLITE_OK ? s : NULL;
}

/* Which roles may run sql: a bit per role (1 readonly, 2 readwrite, 4 admin); -1 refused at prepare. */
static int allowed(const char *sql)
{
    const char *msg;
    db_stmt *s = prep(sql, &msg);
    if (!s)
        return -1;
    int bits = 0;
    char why[200];
    for (int r = ROLE_READONLY; r <= ROLE_ADMIN; r++) {
        const char *m = db_stmt_refusal(s, (enum role)r, why, sizeof why);
        if (!m)
            bits |= 1 << r;
        else
            assert_true(strlen(m) > 10);
    }
    return bits;
}

static void test_roles(void **state)
{
    (void)state;
    assert_int_equal(allowed("SELECT * FROM users"), 7);
    assert_int_equal(allowed("SELECT * FROM pragma_table_info('users')"), 7);
    assert_int_equal(allowed("PRAGMA table_info(users)"), 7);
    assert_int_equal(allowed("PRAGMA journal_mode"), 7); /* SQLite calls it a writer; it only reads */
    assert_int_equal(allowed("PRAGMA user_version"), 7);
    assert_int_equal(allowed("BEGIN"), 7);
    assert_int_equal(allowed("INSERT INTO users(email, password_hash) VALUES ('a', 'b')"), 6);
    assert_int_equal(allowed("DELETE FROM posts"), 6);
    assert_int_equal(allowed("CREATE TABLE t(a)"), 4);
    assert_int_equal(allowed("DROP INDEX IF EXISTS nope"), 6); /* nothing to drop: SQLite asks nobody */
    assert_int_equal(allowed("PRAGMA database_list"), 4);
    assert_int_equal(allowed("SELECT file FROM pragma_database_list"), 4);
    assert_int_equal(allowed("PRAGMA user_version"), 7); /* setting it is refused: the schema counts on it */
    assert_int_equal(allowed("PRAGMA cache_size"), 4); /* reading a setting is the admin's; setting it is refused */
    assert_int_equal(allowed("PRAGMA wal_autocheckpoint"), 4);
}

static void test_refused_to_everyone(void **state)
{
    (void)state;
    static const char *const never[] = {
        "ATTACH DATABASE '/tmp/x.db' AS x", "DETACH DATABASE main", "VACUUM", "  /* c */ vacuum main",
        "VACUUM INTO '/tmp/x.db'", "VACUUM main INTO '/tmp/x.db'", "PRAGMA writable_schema = 1",
        "PRAGMA writable_schema", "PRAGMA journal_mode = delete", "PRAGMA main.journal_mode = memory",
        "PRAGMA foreign_keys = 0", "PRAGMA query_only = false", "PRAGMA synchronous = off",
        "PRAGMA schema_version = 1", "PRAGMA user_version = 9", "CREATE TEMP VIEW v AS SELECT 1",
        "CREATE TEMP TABLE t(a)", "CREATE TABLE temp.t(a)",
        "CREATE TEMP TRIGGER tr AFTER INSERT ON users BEGIN SELECT 1; END",
        "PRAGMA wal_autocheckpoint = 0", "PRAGMA busy_timeout = 1", "PRAGMA main.max_page_count = 100",
        "PRAGMA cache_size = 10", "PRAGMA temp_store = file", "PRAGMA defer_foreign_keys = on",
        "PRAGMA case_sensitive_like = 1", "PRAGMA count_changes = 1", "PRAGMA hard_heap_limit = 1000", NULL,
    };
    for (const char *const *p = never; *p; p++) {
        const char *msg;
        assert_null(prep(*p, &msg));
        assert_non_null(msg);
        assert_true(strstr(msg, "not allowed") || strstr(msg, "cannot be set"));
    }
    /* A word that only looks like VACUUM is not refused. */
    assert_int_equal(allowed("SELECT 1 AS vacuum_count"), 7);
}

static void test_refusal_names_what(void **state)
{
    (void)state;
    const char *msg;
    char why[200];
    db_stmt *s = prep("CREATE INDEX i ON users(full_name)", &msg);
    assert_non_null(s);
    assert_string_equal(db_stmt_refusal(s, ROLE_READWRITE, why, sizeof why),
                        "permission denied: CREATE INDEX needs the admin role (this is readwrite)");
    s = prep("UPDATE users SET full_name = 'x'", &msg);
    assert_string_equal(db_stmt_refusal(s, ROLE_READONLY, why, sizeof why),
                        "permission denied for table users: role readonly may only read");
    assert_null(db_stmt_refusal(s, ROLE_READWRITE, why, sizeof why));
    s = prep("PRAGMA compile_options", &msg);
    assert_true(db_stmt_flags(s) & DB_STMT_ADMIN);
}

/* A statement prepared when there was nothing to drop asks the authorizer only when SQLite
 * prepares it again inside step, after the schema changed: still refused below admin. */
static void test_reprepared_ddl(void **state)
{
    (void)state;
    const char *msg;
    db_stmt *s = prep("DROP INDEX IF EXISTS i_late", &msg);
    assert_non_null(s);
    assert_false(db_stmt_flags(s) & DB_STMT_DDL);
    db_set_role(wdb, ROLE_ADMIN);
    assert_int_equal(db_exec(wdb, "CREATE INDEX i_late ON users(full_name)"), SQLITE_OK);
    db_set_role(wdb, ROLE_READWRITE);
    int rc = sqlite3_step(db_stmt_handle(s));
    assert_int_equal(rc, SQLITE_AUTH);
    assert_string_equal(db_sqlstate(wdb, rc), "42501");
    assert_string_equal(db_errmsg(wdb), "permission denied: DROP INDEX needs the admin role (this is readwrite)");
    db_stmt_done(s);
    db_set_role(wdb, ROLE_ADMIN);
    assert_int_equal(sqlite3_step(db_stmt_handle(s)), SQLITE_DONE);
    db_stmt_done(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_roles),
        cmocka_unit_test(test_refused_to_everyone),
        cmocka_unit_test(test_refusal_names_what),
        cmocka_unit_test(test_reprepared_ddl),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
