/* test_schema.c - the embedded schema: versioning and migration, tables and indexes, updated_at and stats triggers. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "schema.h"

/* ------------------------------------------------------------------ helpers */

static void exec_ok_at(sqlite3 *db, const char *sql, const char *file, int line)
{
    char *msg = NULL;
    if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK) {
        print_error("%s:%d: %s\n  in: %s\n", file, line, msg ? msg : "?", sql);
        sqlite3_free(msg);
        _fail(file, line);
    }
}
#define exec_ok(db, sql) exec_ok_at((db), (sql), __FILE__, __LINE__)

static void execf(sqlite3 *db, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *sql = sqlite3_vmprintf(fmt, ap);
    va_end(ap);
    exec_ok(db, sql);
    sqlite3_free(sql);
}

/* The error code of running sql, for statements that must fail. */
static int exec_rc(sqlite3 *db, const char *sql)
{
    return sqlite3_exec(db, sql, NULL, NULL, NULL);
}

static int64_t scalar(sqlite3 *db, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *sql = sqlite3_vmprintf(fmt, ap);
    va_end(ap);
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
        fail_msg("prepare %s: %s", sql, sqlite3_errmsg(db));
    int64_t v = sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int64(st, 0) : INT64_MIN;
    sqlite3_finalize(st);
    sqlite3_free(sql);
    return v;
}

/* The first column of the first row as text ("" when NULL or no row), in a static buffer. */
static const char *text1(sqlite3 *db, const char *fmt, ...)
{
    static char out[512];
    va_list ap;
    va_start(ap, fmt);
    char *sql = sqlite3_vmprintf(fmt, ap);
    va_end(ap);
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
        fail_msg("prepare %s: %s", sql, sqlite3_errmsg(db));
    out[0] = '\0';
    if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_text(st, 0))
        snprintf(out, sizeof out, "%s", (const char *)sqlite3_column_text(st, 0));
    sqlite3_finalize(st);
    sqlite3_free(sql);
    return out;
}

/* A :memory: database set up as the server sets up its connections, with the schema applied. */
static sqlite3 *open_db_rt(int recursive_triggers)
{
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open(":memory:", &db), SQLITE_OK);
    sqlite3_db_config(db, SQLITE_DBCONFIG_DEFENSIVE, 1, NULL);
    exec_ok(db, "PRAGMA foreign_keys = ON");
    execf(db, "PRAGMA recursive_triggers = %d", recursive_triggers);
    char err[256] = "";
    if (schema_apply(db, err, sizeof err) != 0)
        fail_msg("schema_apply: %s", err);
    return db;
}

/* recursive_triggers on: the harder case for the triggers, and what SQLITE_DEFAULT_RECURSIVE_TRIGGERS builds give. */
static sqlite3 *open_db(void)
{
    return open_db_rt(1);
}

static void add_user(sqlite3 *db, int id)
{
    execf(db, "INSERT INTO users (id, email, password_hash) VALUES (%d, 'u%d@example.com', 'h')", id, id);
}

/* ------------------------------------------------------------------ recompute check */

#define EXPECTED_USER_STATS                                                                                   \
    "WITH pc AS (SELECT user_id, count(*) AS n, sum(views) AS v, sum(likes) AS l FROM posts GROUP BY user_id),"  \
    " ic AS (SELECT user_id, count(*) AS n, sum(status IS 'active') AS a FROM items"                          \
    "        WHERE user_id IS NOT NULL GROUP BY user_id),"                                                    \
    " e AS (SELECT u.id, coalesce(pc.n, 0), coalesce(pc.v, 0), coalesce(pc.l, 0), coalesce(ic.n, 0), coalesce(ic.a, 0)" \
    "       FROM users u LEFT JOIN pc ON pc.user_id = u.id LEFT JOIN ic ON ic.user_id = u.id),"          \
    " a AS (SELECT user_id, post_count, total_views, total_likes, item_count, active_items FROM user_stats) "

#define EXPECTED_GLOBAL_STATS                                                                                 \
    "WITH e AS (SELECT 1, (SELECT count(*) FROM users), (SELECT count(*) FROM posts),"                      \
    "  (SELECT count(*) FROM items WHERE status = 'active'), (SELECT count(*) FROM items WHERE status = 'archived')," \
    "  (SELECT count(*) FROM items WHERE status = 'deleted')),"                                              \
    " a AS (SELECT id, users, posts, items_active, items_archived, items_deleted FROM global_stats) "

static void print_rows(sqlite3 *db, const char *label, const char *sql)
{
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
        return;
    while (sqlite3_step(st) == SQLITE_ROW) {
        print_error("  %s:", label);
        for (int i = 0; i < sqlite3_column_count(st); i++)
            print_error(" %s", sqlite3_column_text(st, i) ? (const char *)sqlite3_column_text(st, i) : "NULL");
        print_error("\n");
    }
    sqlite3_finalize(st);
}

/* Compares user_stats and global_stats with a GROUP BY recomputation from the base tables. */
static void check_recompute(sqlite3 *db, const char *when)
{
    int64_t bad = scalar(db, EXPECTED_USER_STATS
                         "SELECT (SELECT count(*) FROM (SELECT * FROM e EXCEPT SELECT * FROM a))"
                         " + (SELECT count(*) FROM (SELECT * FROM a EXCEPT SELECT * FROM e))");
    bad += scalar(db, EXPECTED_GLOBAL_STATS
                  "SELECT (SELECT count(*) FROM (SELECT * FROM e EXCEPT SELECT * FROM a))"
                  " + (SELECT count(*) FROM (SELECT * FROM a EXCEPT SELECT * FROM e))");
    if (bad != 0) {
        print_error("stats differ from the base tables %s\n", when);
        print_rows(db, "user expected", EXPECTED_USER_STATS "SELECT * FROM e EXCEPT SELECT * FROM a");
        print_rows(db, "user stored  ", EXPECTED_USER_STATS "SELECT * FROM a EXCEPT SELECT * FROM e");
        print_rows(db, "global expected", EXPECTED_GLOBAL_STATS "SELECT * FROM e");
        print_rows(db, "global stored  ", EXPECTED_GLOBAL_STATS "SELECT * FROM a");
        fail();
    }
}

/* ------------------------------------------------------------------ versioning */

static void test_fresh_apply(void **state)
{
    (void)state;
    sqlite3 *db = open_db();
    assert_true(schema_version() >= 2);
    assert_int_equal(scalar(db, "PRAGMA user_version"), schema_version());
    assert_int_equal(scalar(db, "SELECT count(*) FROM global_stats"), 1);
    assert_int_equal(scalar(db, "SELECT users + posts + items_active + items_archived + items_deleted FROM global_stats"), 0);
    assert_int_equal(scalar(db, "SELECT count(*) FROM pragma_foreign_key_check"), 0);
    sqlite3_close(db);
}

static void test_apply_twice_keeps_data(void **state)
{
    (void)state;
    sqlite3 *db = open_db();
    add_user(db, 1);
    exec_ok(db, "INSERT INTO posts (user_id, title, views) VALUES (1, 'p', 7)");
    char err[256] = "";
    assert_int_equal(schema_apply(db, err, sizeof err), 0);
    assert_int_equal(schema_apply(db, err, sizeof err), 0);
    assert_int_equal(scalar(db, "PRAGMA user_version"), schema_version());
    assert_int_equal(scalar(db, "SELECT count(*) FROM users"), 1);
    assert_int_equal(scalar(db, "SELECT total_views FROM user_stats WHERE user_id = 1"), 7);
    check_recompute(db, "after re-applying");
    sqlite3_close(db);
}

/* A database file reopened by a later start, even read-only: nothing to do, and no write lock needed. */
static void test_reopen_file_keeps_data(void **state)
{
    (void)state;
    char path[] = "/tmp/test_schema_XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    sqlite3 *db = NULL;
    char err[256] = "";
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    exec_ok(db, "PRAGMA journal_mode = WAL; PRAGMA foreign_keys = ON");
    assert_int_equal(schema_apply(db, err, sizeof err), 0);
    add_user(db, 1);
    sqlite3_close(db);

    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    assert_int_equal(schema_apply(db, err, sizeof err), 0);
    assert_int_equal(scalar(db, "SELECT users FROM global_stats"), 1);
    sqlite3_close(db);

    assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    if (schema_apply(db, err, sizeof err) != 0)
        fail_msg("read-only: %s", err);
    assert_int_equal(scalar(db, "SELECT count(*) FROM user_stats"), 1);
    sqlite3_close(db);
    char side[64];
    unlink(path);
    snprintf(side, sizeof side, "%s-wal", path);
    unlink(side);
    snprintf(side, sizeof side, "%s-shm", path);
    unlink(side);
}

static void test_newer_version_refused(void **state)
{
    (void)state;
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open(":memory:", &db), SQLITE_OK);
    exec_ok(db, "PRAGMA user_version = 99");
    char err[256] = "";
    assert_int_equal(schema_apply(db, err, sizeof err), -1);
    assert_non_null(strstr(err, "99"));
    assert_non_null(strstr(err, "newer"));
    assert_int_equal(scalar(db, "SELECT count(*) FROM sqlite_schema"), 0);
    assert_int_equal(scalar(db, "PRAGMA user_version"), 99);
    sqlite3_close(db);
}

static void test_migrate_from_v1_backfills_stats(void **state)
{
    (void)state;
    sqlite3 *db = NULL;
    char err[256] = "";
    assert_int_equal(sqlite3_open(":memory:", &db), SQLITE_OK);
    exec_ok(db, "PRAGMA foreign_keys = ON");
    assert_int_equal(schema_apply_to(db, 1, err, sizeof err), 0);
    assert_int_equal(scalar(db, "PRAGMA user_version"), 1);
    assert_int_equal(scalar(db, "SELECT count(*) FROM sqlite_schema WHERE name = 'user_stats'"), 0);
    add_user(db, 1);
    add_user(db, 2);
    exec_ok(db, "INSERT INTO posts (user_id, title, views, likes) VALUES (1, 'a', 3, 1), (1, 'b', 4, 2), (2, 'c', 5, 0);"
                "INSERT INTO items (user_id, title, status) VALUES (1, 'i', 'active'), (NULL, 'j', 'archived'), (2, 'k', 'deleted')");
    assert_int_equal(schema_apply(db, err, sizeof err), 0);
    assert_int_equal(scalar(db, "PRAGMA user_version"), schema_version());
    assert_int_equal(scalar(db, "SELECT post_count * 100 + total_views FROM user_stats WHERE user_id = 1"), 207);
    check_recompute(db, "after migrating from version 1");
    /* and the migrated triggers keep it right */
    exec_ok(db, "DELETE FROM users WHERE id = 1");
    check_recompute(db, "after a cascade on a migrated database");
    sqlite3_close(db);
}

static void test_failing_script_is_named(void **state)
{
    (void)state;
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open(":memory:", &db), SQLITE_OK);
    /* Claims version 1 without its tables, so 002_stats.sql fails on the missing users table. */
    exec_ok(db, "PRAGMA user_version = 1");
    char err[256] = "";
    assert_int_equal(schema_apply(db, err, sizeof err), -1);
    assert_non_null(strstr(err, "schema/002_stats.sql"));
    assert_int_equal(scalar(db, "PRAGMA user_version"), 1);
    assert_int_equal(scalar(db, "SELECT count(*) FROM sqlite_schema"), 0);
    assert_true(sqlite3_get_autocommit(db));
    sqlite3_close(db);
}

static void test_apply_inside_transaction_fails_cleanly(void **state)
{
    (void)state;
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open(":memory:", &db), SQLITE_OK);
    exec_ok(db, "BEGIN");
    char err[256] = "";
    assert_int_equal(schema_apply(db, err, sizeof err), -1);
    assert_non_null(strstr(err, "BEGIN IMMEDIATE"));
    exec_ok(db, "ROLLBACK");
    assert_int_equal(schema_apply(db, err, sizeof err), 0);
    sqlite3_close(db);
}

/* A database the Node prototype left behind: the notes' tables and self-recursing triggers, user_version 0. */
static void test_adopts_prototype_database(void **state)
{
    (void)state;
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open(":memory:", &db), SQLITE_OK);
    exec_ok(db, "PRAGMA foreign_keys = ON; PRAGMA recursive_triggers = ON;"
                "CREATE TABLE users (id INTEGER PRIMARY KEY AUTOINCREMENT, email TEXT NOT NULL UNIQUE,"
                " password_hash TEXT NOT NULL, full_name TEXT, meta TEXT DEFAULT '{}',"
                " created_at DATETIME DEFAULT CURRENT_TIMESTAMP, updated_at DATETIME DEFAULT CURRENT_TIMESTAMP,"
                " last_login DATETIME, is_active INTEGER DEFAULT 1,"
                " role TEXT DEFAULT 'user' CHECK(role IN ('user', 'admin', 'moderator')));"
                "CREATE TABLE user_stats (user_id INTEGER PRIMARY KEY, post_count INTEGER DEFAULT 0, total_views INTEGER DEFAULT 0);"
                "CREATE TRIGGER update_users_timestamp AFTER UPDATE ON users BEGIN"
                " UPDATE users SET updated_at = CURRENT_TIMESTAMP WHERE id = NEW.id; END;"
                "INSERT INTO users (email, password_hash) VALUES ('old@example.com', 'h');");
    /* the notes' trigger really does run away with recursive triggers on */
    assert_int_not_equal(exec_rc(db, "UPDATE users SET full_name = 'x'"), SQLITE_OK);
    char err[256] = "";
    if (schema_apply(db, err, sizeof err) != 0)
        fail_msg("schema_apply: %s", err);
    exec_ok(db, "UPDATE users SET full_name = 'x'");
    assert_int_equal(scalar(db, "SELECT count(*) FROM users"), 1);
    assert_int_equal(scalar(db, "SELECT count(*) FROM pragma_table_info('user_stats')"), 6);
    check_recompute(db, "after adopting a prototype database");
    sqlite3_close(db);
}

/* ------------------------------------------------------------------ shape */

static void test_tables_have_expected_columns(void **state)
{
    (void)state;
    static const struct {
        const char *table, *columns;
    } want[] = {
        { "users", "id INTEGER,email TEXT,password_hash TEXT,full_name TEXT,meta TEXT,created_at DATETIME,"
                   "updated_at DATETIME,last_login DATETIME,is_active INTEGER,role TEXT" },
        { "items", "id INTEGER,user_id INTEGER,title TEXT,description TEXT,status TEXT,created_at DATETIME,updated_at DATETIME" },
        { "sessions", "id INTEGER,user_id INTEGER,token TEXT,expires_at DATETIME,created_at DATETIME" },
        { "user_preferences", "id INTEGER,user_id INTEGER,theme TEXT,language TEXT,notifications_enabled INTEGER,"
                              "created_at DATETIME,updated_at DATETIME" },
        { "posts", "id INTEGER,user_id INTEGER,title TEXT,body TEXT,views INTEGER,likes INTEGER,created_at DATETIME,updated_at DATETIME" },
        { "user_stats", "user_id INTEGER,post_count INTEGER,total_views INTEGER,total_likes INTEGER,item_count INTEGER,active_items INTEGER" },
        { "global_stats", "id INTEGER,users INTEGER,posts INTEGER,items_active INTEGER,items_archived INTEGER,items_deleted INTEGER" },
    };
    sqlite3 *db = open_db();
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        const char *got = text1(db, "SELECT group_concat(name || ' ' || type, ',') FROM (SELECT name, type FROM pragma_table_info(%Q) ORDER BY cid)",
                                want[i].table);
        assert_string_equal(got, want[i].columns);
    }
    /* the foreign keys cascade */
    assert_int_equal(scalar(db, "SELECT count(*) FROM (SELECT 'items' AS t UNION ALL SELECT 'sessions' UNION ALL SELECT 'user_preferences'"
                                " UNION ALL SELECT 'posts' UNION ALL SELECT 'user_stats') AS tl, pragma_foreign_key_list(tl.t) AS fk"
                                " WHERE fk.\"table\" = 'users' AND fk.\"to\" = 'id' AND fk.on_delete = 'CASCADE'"),
                     5);
    sqlite3_close(db);
}

static void test_every_index_exists(void **state)
{
    (void)state;
    static const char *const want[][2] = {
        { "idx_users_email", "users" },        { "idx_items_user_id", "items" },         { "idx_items_status", "items" },
        { "idx_sessions_token", "sessions" },  { "idx_sessions_user_id", "sessions" },   { "idx_users_meta_phone", "users" },
        { "idx_users_meta_country", "users" }, { "idx_posts_user_id", "posts" },         { "idx_posts_user_created", "posts" },
        { "idx_posts_views", "posts" },
    };
    sqlite3 *db = open_db();
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++)
        assert_string_equal(text1(db, "SELECT tbl_name FROM sqlite_schema WHERE type = 'index' AND name = %Q", want[i][0]), want[i][1]);
    assert_non_null(strstr(text1(db, "SELECT sql FROM sqlite_schema WHERE name = 'idx_users_meta_country'"), "json_extract(meta, '$.country')"));
    assert_non_null(strstr(text1(db, "SELECT sql FROM sqlite_schema WHERE name = 'idx_posts_user_created'"), "created_at DESC"));
    sqlite3_close(db);
}

static void test_check_constraints(void **state)
{
    (void)state;
    sqlite3 *db = open_db();
    add_user(db, 1);
    assert_int_equal(exec_rc(db, "INSERT INTO users (email, password_hash, role) VALUES ('r@x', 'h', 'root')"), SQLITE_CONSTRAINT);
    assert_int_equal(exec_rc(db, "UPDATE users SET role = 'superuser' WHERE id = 1"), SQLITE_CONSTRAINT);
    assert_int_equal(exec_rc(db, "INSERT INTO items (user_id, title, status) VALUES (1, 't', 'bogus')"), SQLITE_CONSTRAINT);
    assert_int_equal(exec_rc(db, "INSERT INTO user_preferences (user_id, theme) VALUES (1, 'neon')"), SQLITE_CONSTRAINT);
    assert_int_equal(exec_rc(db, "INSERT INTO global_stats (id) VALUES (2)"), SQLITE_CONSTRAINT);
    assert_int_equal(exec_rc(db, "INSERT INTO posts (user_id, title) VALUES (42, 'orphan')"), SQLITE_CONSTRAINT);
    exec_ok(db, "INSERT INTO users (email, password_hash, role) VALUES ('m@x', 'h', 'moderator')");
    exec_ok(db, "INSERT INTO user_preferences (user_id, theme) VALUES (1, 'auto')");
    check_recompute(db, "after rejected statements");
    sqlite3_close(db);
}

/* ------------------------------------------------------------------ updated_at */

static void sleep_ms(int ms)
{
    struct timespec ts = { 0, (long)ms * 1000000L };
    nanosleep(&ts, NULL);
}

static void check_updated_at(sqlite3 *db, const char *table, const char *set_clause)
{
    char before[64], after[64];
    snprintf(before, sizeof before, "%s", text1(db, "SELECT updated_at FROM %s WHERE id = 1", table));
    assert_int_equal(strlen(before), 19); /* CURRENT_TIMESTAMP, whole seconds */

    execf(db, "UPDATE %s SET %s WHERE id = 1", table, set_clause);
    snprintf(after, sizeof after, "%s", text1(db, "SELECT updated_at FROM %s WHERE id = 1", table));
    assert_int_equal(strlen(after), 23); /* milliseconds */
    assert_string_not_equal(before, after);
    assert_true(strcmp(after, before) > 0);

    /* again at once: very likely the same millisecond, which must be a quiet no-op for the trigger */
    snprintf(before, sizeof before, "%s", after);
    execf(db, "UPDATE %s SET %s WHERE id = 1", table, set_clause);
    snprintf(after, sizeof after, "%s", text1(db, "SELECT updated_at FROM %s WHERE id = 1", table));
    assert_true(strcmp(after, before) >= 0);

    sleep_ms(3);
    snprintf(before, sizeof before, "%s", after);
    execf(db, "UPDATE %s SET %s WHERE id = 1", table, set_clause);
    snprintf(after, sizeof after, "%s", text1(db, "SELECT updated_at FROM %s WHERE id = 1", table));
    assert_true(strcmp(after, before) > 0);

    /* a client that sets updated_at itself wins */
    execf(db, "UPDATE %s SET %s, updated_at = '2001-02-03 04:05:06' WHERE id = 1", table, set_clause);
    assert_string_equal(text1(db, "SELECT updated_at FROM %s WHERE id = 1", table), "2001-02-03 04:05:06");
}

static void updated_at_all_tables(int recursive_triggers)
{
    sqlite3 *db = open_db_rt(recursive_triggers);
    add_user(db, 1);
    exec_ok(db, "INSERT INTO items (id, user_id, title) VALUES (1, 1, 'i');"
                "INSERT INTO user_preferences (id, user_id) VALUES (1, 1);"
                "INSERT INTO posts (id, user_id, title, views) VALUES (1, 1, 'p', 5)");
    check_updated_at(db, "users", "full_name = coalesce(full_name, '') || 'x'");
    check_updated_at(db, "items", "description = coalesce(description, '') || 'x'");
    check_updated_at(db, "user_preferences", "language = language || 'x'");
    check_updated_at(db, "posts", "views = views + 1");
    /* four increments of views, each counted once although the updated_at bump updates posts again */
    assert_int_equal(scalar(db, "SELECT total_views FROM user_stats WHERE user_id = 1"), 9);
    check_recompute(db, "after updated_at bumps");
    sqlite3_close(db);
}

static void test_updated_at_recursive_triggers_on(void **state)
{
    (void)state;
    updated_at_all_tables(1);
}

static void test_updated_at_recursive_triggers_off(void **state)
{
    (void)state;
    updated_at_all_tables(0);
}

/* ------------------------------------------------------------------ stats, case by case */

static void expect_user(sqlite3 *db, int uid, const char *want)
{
    const char *got = text1(db, "SELECT post_count || ' ' || total_views || ' ' || total_likes || ' ' || item_count || ' ' || active_items"
                                " FROM user_stats WHERE user_id = %d", uid);
    if (strcmp(got, want) != 0)
        fail_msg("user_stats of user %d: got '%s', want '%s'", uid, got, want);
}

static void expect_global(sqlite3 *db, const char *want)
{
    const char *got = text1(db, "SELECT users || ' ' || posts || ' ' || items_active || ' ' || items_archived || ' ' || items_deleted"
                                " FROM global_stats");
    if (strcmp(got, want) != 0)
        fail_msg("global_stats: got '%s', want '%s'", got, want);
}

static void test_stats_each_trigger(void **state)
{
    (void)state;
    sqlite3 *db = open_db();
    /*                                   posts views likes items active */
    add_user(db, 1);
    expect_user(db, 1, "0 0 0 0 0");
    expect_global(db, "1 0 0 0 0");
    add_user(db, 2);

    exec_ok(db, "INSERT INTO posts (id, user_id, title, views, likes) VALUES (10, 1, 'p', 5, 2)");
    expect_user(db, 1, "1 5 2 0 0");
    expect_global(db, "2 1 0 0 0");
    exec_ok(db, "UPDATE posts SET views = 15, likes = 3 WHERE id = 10");
    expect_user(db, 1, "1 15 3 0 0");
    exec_ok(db, "UPDATE posts SET title = 'only the title' WHERE id = 10");
    expect_user(db, 1, "1 15 3 0 0");
    /* The stats triggers are deltas, so a second firing on the updated_at bump would not show in the
     * counts; the row changes do: the post, its updated_at bump and two user_stats UPDATEs, no more. */
    exec_ok(db, "UPDATE posts SET updated_at = '2000-01-01 00:00:00' WHERE id = 10"); /* so the bump is sure to happen */
    int64_t before = sqlite3_total_changes64(db);
    exec_ok(db, "UPDATE posts SET views = views + 0 WHERE id = 10");
    assert_int_equal(sqlite3_total_changes64(db) - before, 4);
    exec_ok(db, "UPDATE posts SET user_id = 2 WHERE id = 10");
    expect_user(db, 1, "0 0 0 0 0");
    expect_user(db, 2, "1 15 3 0 0");
    exec_ok(db, "UPDATE posts SET user_id = 1, views = 1, likes = 1 WHERE id = 10");
    expect_user(db, 1, "1 1 1 0 0");
    expect_user(db, 2, "0 0 0 0 0");
    exec_ok(db, "DELETE FROM posts WHERE id = 10");
    expect_user(db, 1, "0 0 0 0 0");
    expect_global(db, "2 0 0 0 0");

    exec_ok(db, "INSERT INTO items (id, user_id, title) VALUES (20, 1, 'i')"); /* status defaults to active */
    expect_user(db, 1, "0 0 0 1 1");
    expect_global(db, "2 0 1 0 0");
    exec_ok(db, "UPDATE items SET status = 'archived' WHERE id = 20");
    expect_user(db, 1, "0 0 0 1 0");
    expect_global(db, "2 0 0 1 0");
    exec_ok(db, "UPDATE items SET user_id = NULL WHERE id = 20");
    expect_user(db, 1, "0 0 0 0 0");
    expect_global(db, "2 0 0 1 0");
    exec_ok(db, "UPDATE items SET user_id = 2, status = 'active' WHERE id = 20");
    expect_user(db, 2, "0 0 0 1 1");
    expect_global(db, "2 0 1 0 0");
    exec_ok(db, "UPDATE items SET user_id = 1 WHERE id = 20");
    expect_user(db, 1, "0 0 0 1 1");
    expect_user(db, 2, "0 0 0 0 0");
    exec_ok(db, "UPDATE items SET status = NULL WHERE id = 20"); /* the CHECK lets NULL through */
    expect_user(db, 1, "0 0 0 1 0");
    expect_global(db, "2 0 0 0 0");
    exec_ok(db, "UPDATE items SET status = 'deleted' WHERE id = 20");
    expect_global(db, "2 0 0 0 1");
    exec_ok(db, "UPDATE items SET updated_at = '2000-01-01 00:00:00' WHERE id = 20");
    before = sqlite3_total_changes64(db);
    exec_ok(db, "UPDATE items SET title = 'only the title' WHERE id = 20");
    assert_int_equal(sqlite3_total_changes64(db) - before, 2); /* the item and its updated_at bump: no stats */
    expect_user(db, 1, "0 0 0 1 0");
    exec_ok(db, "INSERT INTO items (id, user_id, title, status) VALUES (21, NULL, 'nobody''s', 'archived')");
    expect_global(db, "2 0 0 1 1");
    exec_ok(db, "DELETE FROM items WHERE id = 21");
    exec_ok(db, "DELETE FROM items WHERE id = 20");
    expect_user(db, 1, "0 0 0 0 0");
    expect_global(db, "2 0 0 0 0");

    /* an upsert's DO UPDATE is an UPDATE */
    exec_ok(db, "INSERT INTO posts (id, user_id, title, views) VALUES (11, 1, 'p', 4)");
    exec_ok(db, "INSERT INTO posts (id, user_id, title, views) VALUES (11, 2, 'p', 6)"
                " ON CONFLICT(id) DO UPDATE SET views = excluded.views, user_id = excluded.user_id");
    expect_user(db, 1, "0 0 0 0 0");
    expect_user(db, 2, "1 6 0 0 0");
    /* REPLACE deletes the old row, with delete triggers since recursive_triggers is on */
    exec_ok(db, "INSERT OR REPLACE INTO posts (id, user_id, title, views) VALUES (11, 1, 'p', 8)");
    expect_user(db, 1, "1 8 0 0 0");
    expect_user(db, 2, "0 0 0 0 0");
    expect_global(db, "2 1 0 0 0");

    /* deleting a user cascades through posts and items, whose triggers may find user_stats gone */
    exec_ok(db, "INSERT INTO posts (user_id, title, views, likes) VALUES (1, 'a', 1, 1), (1, 'b', 2, 2), (2, 'c', 3, 3);"
                "INSERT INTO items (user_id, title, status) VALUES (1, 'x', 'active'), (1, 'y', 'archived'), (1, 'z', 'deleted'), (2, 'w', 'active');"
                "INSERT INTO sessions (user_id, token, expires_at) VALUES (1, 't1', '2999-01-01');"
                "INSERT INTO user_preferences (user_id) VALUES (1)");
    expect_global(db, "2 4 2 1 1");
    exec_ok(db, "DELETE FROM users WHERE id = 1");
    assert_int_equal(scalar(db, "SELECT count(*) FROM user_stats WHERE user_id = 1"), 0);
    assert_int_equal(scalar(db, "SELECT count(*) FROM sessions") + scalar(db, "SELECT count(*) FROM user_preferences"), 0);
    expect_user(db, 2, "1 3 3 1 1");
    expect_global(db, "1 1 1 0 0");
    check_recompute(db, "after the single cases");
    sqlite3_close(db);
}

/* With foreign_keys off nothing cascades: the user's stats row must still go, and the orphans stay counted globally. */
static void test_stats_without_foreign_keys(void **state)
{
    (void)state;
    sqlite3 *db = open_db();
    exec_ok(db, "PRAGMA foreign_keys = OFF");
    add_user(db, 1);
    add_user(db, 2);
    exec_ok(db, "INSERT INTO posts (user_id, title, views) VALUES (1, 'a', 5);"
                "INSERT INTO items (user_id, title) VALUES (1, 'i')");
    exec_ok(db, "DELETE FROM users WHERE id = 1");
    assert_int_equal(scalar(db, "SELECT count(*) FROM user_stats WHERE user_id = 1"), 0);
    expect_global(db, "1 1 1 0 0");
    exec_ok(db, "UPDATE posts SET user_id = 2");
    expect_user(db, 2, "1 5 0 0 0");
    check_recompute(db, "with foreign keys off");
    sqlite3_close(db);
}

/* ------------------------------------------------------------------ stats, random mix */

static uint64_t rng_state;

static uint32_t rnd(uint32_t n)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (uint32_t)((rng_state >> 11) % n);
}

/* A random existing row id of table, or 0 when it is empty. */
static int64_t pick(sqlite3 *db, const char *table)
{
    int64_t n = scalar(db, "SELECT count(*) FROM %s", table);
    if (n <= 0)
        return 0;
    return scalar(db, "SELECT id FROM %s ORDER BY id LIMIT 1 OFFSET %u", table, rnd((uint32_t)n));
}

static const char *random_status(void)
{
    static const char *const s[] = { "'active'", "'active'", "'archived'", "'deleted'", "NULL" };
    return s[rnd(5)];
}

enum { OP_USER_ADD, OP_USER_DEL, OP_POST_ADD, OP_POST_MOVE, OP_POST_COUNTS, OP_POST_TITLE, OP_POST_DEL, OP_POST_REPLACE,
       OP_POST_UPSERT, OP_ITEM_ADD, OP_ITEM_STATUS, OP_ITEM_OWNER, OP_ITEM_BOTH, OP_ITEM_DEL, OP_BULK, OP_ROLLBACK, OP_N };

static void random_mix(int recursive_triggers, uint64_t seed, int ops)
{
    sqlite3 *db = open_db_rt(recursive_triggers);
    rng_state = seed;
    int done[OP_N] = { 0 }, next_user = 1, cascades = 0;
    for (int i = 0; i < 20; i++, next_user++)
        add_user(db, next_user);

    for (int i = 0; i < ops; i++) {
        static const int weights[OP_N] = { 8, 4, 15, 6, 8, 3, 5, 2, 2, 15, 8, 6, 3, 5, 3, 1 };
        int roll = (int)rnd(94), op = 0;
        while (roll >= weights[op])
            roll -= weights[op++];
        if (op == OP_POST_REPLACE && !recursive_triggers)
            op = OP_POST_UPSERT; /* REPLACE skips delete triggers then; the schema documents it */
        int64_t u = pick(db, "users"), u2 = pick(db, "users"), p = pick(db, "posts"), it = pick(db, "items");
        if (u == 0)
            op = OP_USER_ADD;
        else if ((op >= OP_POST_MOVE && op <= OP_POST_UPSERT && op != OP_POST_REPLACE && p == 0) ||
                 (op >= OP_ITEM_STATUS && op <= OP_ITEM_DEL && it == 0))
            op = op < OP_ITEM_ADD ? OP_POST_ADD : OP_ITEM_ADD;
        char owner[32];
        if (rnd(5) == 0)
            snprintf(owner, sizeof owner, "NULL");
        else
            snprintf(owner, sizeof owner, "%lld", (long long)u2);

        switch (op) {
        case OP_USER_ADD:
            add_user(db, next_user++);
            break;
        case OP_USER_DEL:
            if (scalar(db, "SELECT post_count + item_count FROM user_stats WHERE user_id = %lld", (long long)u) > 0)
                cascades++;
            execf(db, "DELETE FROM users WHERE id = %lld", (long long)u);
            break;
        case OP_POST_ADD:
            execf(db, "INSERT INTO posts (user_id, title, views, likes) VALUES (%lld, 't', %u, %u)", (long long)u, rnd(1000), rnd(100));
            break;
        case OP_POST_MOVE:
            execf(db, "UPDATE posts SET user_id = %lld WHERE id = %lld", (long long)u2, (long long)p);
            break;
        case OP_POST_COUNTS:
            if (rnd(2))
                execf(db, "UPDATE posts SET views = views + %u WHERE id = %lld", rnd(50), (long long)p);
            else
                execf(db, "UPDATE posts SET views = %u, likes = %u WHERE id = %lld", rnd(1000), rnd(100), (long long)p);
            break;
        case OP_POST_TITLE:
            execf(db, "UPDATE posts SET title = 'retitled %d' WHERE id = %lld", i, (long long)p);
            break;
        case OP_POST_DEL:
            execf(db, "DELETE FROM posts WHERE id = %lld", (long long)p);
            break;
        case OP_POST_REPLACE:
            execf(db, "INSERT OR REPLACE INTO posts (id, user_id, title, views, likes) VALUES (%lld, %lld, 'r', %u, %u)",
                  (long long)(p ? p : 100000 + i), (long long)u2, rnd(1000), rnd(100));
            break;
        case OP_POST_UPSERT:
            execf(db, "INSERT INTO posts (id, user_id, title, views, likes) VALUES (%lld, %lld, 'u', %u, %u)"
                      " ON CONFLICT(id) DO UPDATE SET user_id = excluded.user_id, views = excluded.views, likes = posts.likes + 1",
                  (long long)p, (long long)u2, rnd(1000), rnd(100));
            break;
        case OP_ITEM_ADD:
            execf(db, "INSERT INTO items (user_id, title, status) VALUES (%s, 'i', %s)", owner, random_status());
            break;
        case OP_ITEM_STATUS:
            execf(db, "UPDATE items SET status = %s WHERE id = %lld", random_status(), (long long)it);
            break;
        case OP_ITEM_OWNER:
            execf(db, "UPDATE items SET user_id = %s WHERE id = %lld", owner, (long long)it);
            break;
        case OP_ITEM_BOTH:
            execf(db, "UPDATE items SET user_id = %s, status = %s, title = 'both' WHERE id = %lld", owner, random_status(), (long long)it);
            break;
        case OP_ITEM_DEL:
            execf(db, "DELETE FROM items WHERE id = %lld", (long long)it);
            break;
        case OP_BULK:
            if (rnd(2))
                execf(db, "UPDATE posts SET views = views + 1, likes = likes + 2 WHERE user_id = %lld", (long long)u);
            else
                execf(db, "UPDATE items SET status = 'archived' WHERE user_id = %lld AND status IS 'active'", (long long)u);
            break;
        case OP_ROLLBACK:
            execf(db, "SAVEPOINT sp; DELETE FROM users WHERE id = %lld;"
                      " INSERT INTO items (user_id, title) VALUES (NULL, 'gone'); ROLLBACK TO sp; RELEASE sp",
                  (long long)u);
            break;
        }
        done[op]++;
        if (i % 250 == 249) {
            char when[64];
            snprintf(when, sizeof when, "after op %d (seed %llu)", i, (unsigned long long)seed);
            check_recompute(db, when);
        }
    }
    check_recompute(db, "at the end of the random mix");
    for (int op = 0; op < OP_N; op++)
        if (op != OP_POST_REPLACE || recursive_triggers)
            if (done[op] == 0)
                fail_msg("operation %d never ran", op);
    assert_true(cascades >= 10);
    assert_true(scalar(db, "SELECT count(*) FROM posts") > 50);
    assert_true(scalar(db, "SELECT count(*) FROM items WHERE user_id IS NULL") > 5);
    sqlite3_close(db);
}

static void test_stats_random_mix(void **state)
{
    (void)state;
    random_mix(1, 0x9E3779B97F4A7C15ull, 3000);
}

static void test_stats_random_mix_without_recursive_triggers(void **state)
{
    (void)state;
    random_mix(0, 0xD1B54A32D192ED03ull, 2000);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fresh_apply),
        cmocka_unit_test(test_apply_twice_keeps_data),
        cmocka_unit_test(test_reopen_file_keeps_data),
        cmocka_unit_test(test_newer_version_refused),
        cmocka_unit_test(test_migrate_from_v1_backfills_stats),
        cmocka_unit_test(test_failing_script_is_named),
        cmocka_unit_test(test_apply_inside_transaction_fails_cleanly),
        cmocka_unit_test(test_adopts_prototype_database),
        cmocka_unit_test(test_tables_have_expected_columns),
        cmocka_unit_test(test_every_index_exists),
        cmocka_unit_test(test_check_constraints),
        cmocka_unit_test(test_updated_at_recursive_triggers_on),
        cmocka_unit_test(test_updated_at_recursive_triggers_off),
        cmocka_unit_test(test_stats_each_trigger),
        cmocka_unit_test(test_stats_without_foreign_keys),
        cmocka_unit_test(test_stats_random_mix),
        cmocka_unit_test(test_stats_random_mix_without_recursive_triggers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
