/* test_queries.c - the shipped named queries (schema/queries.sql): each parses, prepares against the schema, takes the documented arguments, and the tricky ones return the right rows. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "named.h"
#include "schema.h"

/* Every shipped query with its arguments in order of first appearance (what CALL passes
 * positionally), its ttl and nocache. Adding a query to queries.sql means adding it here. */
static const struct {
    const char *name, *params;
    int         ttl, nocache;
} want_queries[] = {
    { "createUser", ":email :password_hash :full_name :meta", -1, 0 },
    { "getUserById", ":id", -1, 0 },
    { "getUserByEmail", ":email", -1, 0 },
    { "searchUsersByMeta", ":key :value", -1, 0 },
    { "updateUser", ":id :email :full_name :meta", -1, 0 },
    { "updateUserMeta", ":id :key :value", -1, 0 },
    { "updateLastLogin", ":id", -1, 0 },
    { "getAllUsers", "", -1, 0 },
    { "getUsersBatch", ":ids", -1, 0 },
    { "getUsersWithPosts", ":ids", -1, 0 },
    { "getUserProfile", ":id", -1, 0 },
    { "getUserStats", ":id", 30, 0 },
    { "deleteUser", ":id", -1, 0 },
    { "createUserWithPreferences", ":email :password_hash :full_name :theme :language", -1, 0 },
    { "getUserPreferences", ":user_id", -1, 0 },
    { "updateUserPreferences", ":user_id :theme :language :notifications_enabled", -1, 0 },
    { "readItems", "", -1, 0 },
    { "getUserItems", ":user_id", -1, 0 },
    { "createItem", ":user_id :title :description", -1, 0 },
    { "updateItem", ":id :title :description", -1, 0 },
    { "setItemStatus", ":id :status", -1, 0 },
    { "deleteItem", ":id", -1, 0 },
    { "createPost", ":user_id :title :body", -1, 0 },
    { "getPostById", ":id", -1, 0 },
    { "getUserPosts", ":user_id", -1, 0 },
    { "updatePost", ":id :title :body", -1, 0 },
    { "viewPost", ":id", -1, 0 },
    { "likePost", ":id", -1, 0 },
    { "deletePost", ":id", -1, 0 },
    { "getTopPosts", ":limit", 30, 0 },
    { "createSession", ":user_id :token :ttl_seconds", -1, 0 },
    { "getSessionByToken", ":token", -1, 1 },
    { "deleteSession", ":token", -1, 0 },
    { "deleteExpiredSessions", "", -1, 0 },
    { "getStats", "", 10, 0 },
};
#define N_WANT (sizeof want_queries / sizeof want_queries[0])

static sqlite3 *db;
static nq_set  *queries;

static int setup(void **state)
{
    (void)state;
    char err[256] = "";
    if (sqlite3_open(":memory:", &db) != SQLITE_OK)
        return -1;
    sqlite3_db_config(db, SQLITE_DBCONFIG_DEFENSIVE, 1, NULL); /* as the server opens it */
    sqlite3_exec(db, "PRAGMA foreign_keys = ON", NULL, NULL, NULL);
    if (schema_apply(db, err, sizeof err) != 0) {
        print_error("schema_apply: %s\n", err);
        return -1;
    }
    size_t len = 0;
    const char *text = schema_queries_text(&len);
    queries = nq_new();
    if (nq_load_text(queries, text, len, "schema/queries.sql", err, sizeof err) != 0) {
        print_error("queries.sql: %s\n", err);
        return -1;
    }
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    nq_free(queries);
    sqlite3_close(db);
    return 0;
}

static void exec_ok(const char *sql)
{
    char *msg = NULL;
    if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK)
        fail_msg("%s\n  in: %s", msg, sql);
}

static void test_queries_prepare(void **state)
{
    (void)state;
    assert_int_equal(nq_count(queries), N_WANT);
    for (size_t i = 0; i < nq_count(queries); i++) {
        const nq_query *q = nq_at(queries, i);
        size_t w = 0;
        while (w < N_WANT && strcmp(want_queries[w].name, q->name) != 0)
            w++;
        if (w == N_WANT)
            fail_msg("query %s (queries.sql:%d) is not in want_queries", q->name, q->line);

        /* Walk the statements as the server will, collecting parameter names in order of first appearance. */
        char params[256] = "";
        int nstmt = 0, readonly = 1;
        for (const char *sql = q->sql; sql && *sql;) {
            sqlite3_stmt *st = NULL;
            const char *tail = NULL;
            if (sqlite3_prepare_v2(db, sql, -1, &st, &tail) != SQLITE_OK)
                fail_msg("query %s (queries.sql:%d): %s", q->name, q->line, sqlite3_errmsg(db));
            if (st) {
                nstmt++;
                readonly &= sqlite3_stmt_readonly(st) != 0;
                for (int p = 1; p <= sqlite3_bind_parameter_count(st); p++) {
                    const char *name = sqlite3_bind_parameter_name(st, p);
                    if (!name || name[0] != ':')
                        fail_msg("query %s: parameter %d is not a :name", q->name, p);
                    char word[80];
                    snprintf(word, sizeof word, " %s ", name);
                    char padded[260];
                    snprintf(padded, sizeof padded, " %s ", params);
                    if (!strstr(padded, word))
                        snprintf(params + strlen(params), sizeof params - strlen(params), "%s%s", params[0] ? " " : "", name);
                }
                sqlite3_finalize(st);
            }
            sql = tail;
        }
        if (nstmt == 0)
            fail_msg("query %s has no statement", q->name);
        if (strcmp(params, want_queries[w].params) != 0)
            fail_msg("query %s takes '%s', want_queries says '%s'", q->name, params, want_queries[w].params);
        assert_int_equal(q->ttl, want_queries[w].ttl);
        assert_int_equal(q->nocache, want_queries[w].nocache);
        /* a cached result of a write would skip the write */
        if (q->ttl >= 0 && !readonly)
            fail_msg("query %s has a ttl but writes", q->name);
    }
}

/* ------------------------------------------------------------------ running queries */

/* Runs a named query the way the server does: its statements in one transaction, arguments bound by
 * name, integers as integers. Arguments come as name, value pairs ending with a NULL name; a NULL
 * value is SQL NULL. Returns the rows as "a|b\n", result sets separated by "--\n", or "ERROR: …". */
static const char *run(const char *name, ...)
{
    static char out[8192];
    const char *names[8], *values[8];
    int nargs = 0;
    va_list ap;
    va_start(ap, name);
    for (const char *a; nargs < 8 && (a = va_arg(ap, const char *)) != NULL; nargs++) {
        names[nargs] = a;
        values[nargs] = va_arg(ap, const char *);
    }
    va_end(ap);

    const nq_query *q = nq_find(queries, name, strlen(name));
    if (!q)
        fail_msg("no query %s", name);
    out[0] = '\0';
    size_t len = 0;
    int sets = 0;
    exec_ok("BEGIN");
    for (const char *sql = q->sql; sql && *sql;) {
        sqlite3_stmt *st = NULL;
        if (sqlite3_prepare_v2(db, sql, -1, &st, &sql) != SQLITE_OK)
            fail_msg("%s: %s", name, sqlite3_errmsg(db));
        if (!st)
            continue;
        for (int p = 1; p <= sqlite3_bind_parameter_count(st); p++) {
            const char *pn = sqlite3_bind_parameter_name(st, p);
            int a = 0;
            while (a < nargs && strcmp(names[a], pn) != 0)
                a++;
            if (a == nargs)
                fail_msg("%s: no argument %s", name, pn);
            char *end = NULL;
            long long v = values[a] ? strtoll(values[a], &end, 10) : 0;
            if (!values[a])
                sqlite3_bind_null(st, p);
            else if (*values[a] && !*end)
                sqlite3_bind_int64(st, p, v);
            else
                sqlite3_bind_text(st, p, values[a], -1, SQLITE_TRANSIENT);
        }
        if (sqlite3_column_count(st) > 0 && sets++ > 0)
            len += (size_t)snprintf(out + len, sizeof out - len, "--\n");
        int rc;
        while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
            for (int c = 0; c < sqlite3_column_count(st); c++) {
                const unsigned char *t = sqlite3_column_text(st, c);
                len += (size_t)snprintf(out + len, sizeof out - len, "%s%s", c ? "|" : "", t ? (const char *)t : "NULL");
            }
            len += (size_t)snprintf(out + len, sizeof out - len, "\n");
        }
        if (rc != SQLITE_DONE) {
            snprintf(out, sizeof out, "ERROR: %s", sqlite3_errmsg(db));
            sqlite3_finalize(st);
            exec_ok("ROLLBACK");
            return out;
        }
        sqlite3_finalize(st);
    }
    exec_ok("COMMIT");
    return out;
}

static int starts(const char *s, const char *prefix)
{
    return strncmp(s, prefix, strlen(prefix)) == 0;
}

static const char *query_plan(const char *name)
{
    static char out[1024];
    sqlite3_stmt *st = NULL;
    char *eqp = sqlite3_mprintf("EXPLAIN QUERY PLAN %s", nq_find(queries, name, strlen(name))->sql);
    if (sqlite3_prepare_v2(db, eqp, -1, &st, NULL) != SQLITE_OK)
        fail_msg("%s: %s", eqp, sqlite3_errmsg(db));
    size_t len = 0;
    out[0] = '\0';
    while (sqlite3_step(st) == SQLITE_ROW)
        len += (size_t)snprintf(out + len, sizeof out - len, "%s\n", (const char *)sqlite3_column_text(st, 3));
    sqlite3_finalize(st);
    sqlite3_free(eqp);
    return out;
}

static void test_create_user_with_preferences(void **state)
{
    (void)state;
    assert_string_equal(run("createUser", ":email", "a@example.com", ":password_hash", "h", ":full_name", "Ann", ":meta", NULL, NULL), "1\n");
    /* the users insert fires the user_stats insert trigger; last_insert_rowid() must still be the user */
    assert_string_equal(run("createUserWithPreferences", ":email", "b@example.com", ":password_hash", "h", ":full_name", "Bob",
                            ":theme", "dark", ":language", NULL, NULL),
                        "2\n");
    assert_true(starts(run("getUserPreferences", ":user_id", "2", NULL), "1|2|dark|en|1|"));
    assert_string_equal(run("getUserStats", ":id", "2", NULL), "2|0|0|0|0|0\n");
    /* a failing second half must not leave the user behind */
    assert_string_equal(run("createUserWithPreferences", ":email", "c@example.com", ":password_hash", "h", ":full_name", "C",
                            ":theme", "neon", ":language", "fr", NULL),
                        "ERROR: CHECK constraint failed: theme IN ('light', 'dark', 'auto')");
    assert_string_equal(run("getUserByEmail", ":email", "c@example.com", NULL), "");
    assert_string_equal(run("getStats", NULL), "2|0|0|0|0\n");
    exec_ok("DELETE FROM users");
}

static void test_users_batch_and_posts(void **state)
{
    (void)state;
    exec_ok("INSERT INTO users (id, email, password_hash, full_name) VALUES (11, 'k@x', 'h', 'K'), (12, 'l@x', 'h', 'L'), (13, 'm@x', 'h', NULL);"
            "INSERT INTO posts (id, user_id, title, views, likes, created_at) VALUES"
            " (1, 11, 'old', 5, 1, '2024-01-01 10:00:00'), (2, 11, 'new', 7, 0, '2024-02-01 10:00:00'),"
            " (3, 12, 'only', 1, 1, '2024-01-15 10:00:00')");
    const char *got = run("getUsersBatch", ":ids", "[13, 11, 99]", NULL);
    assert_true(starts(got, "11|k@x|K|{}|"));
    assert_non_null(strstr(got, "\n13|m@x|NULL|{}|"));
    assert_null(strstr(got, "h|")); /* no password hashes in lists */
    assert_string_equal(run("getUsersBatch", ":ids", "[]", NULL), "");

    assert_string_equal(run("getUsersWithPosts", ":ids", "[11,12,13]", NULL),
                        "11|k@x|K|[{\"id\":2,\"title\":\"new\",\"views\":7,\"likes\":0,\"created_at\":\"2024-02-01 10:00:00\"},"
                        "{\"id\":1,\"title\":\"old\",\"views\":5,\"likes\":1,\"created_at\":\"2024-01-01 10:00:00\"}]\n"
                        "12|l@x|L|[{\"id\":3,\"title\":\"only\",\"views\":1,\"likes\":1,\"created_at\":\"2024-01-15 10:00:00\"}]\n"
                        "13|m@x|NULL|[]\n");

    assert_string_equal(run("getTopPosts", ":limit", "2", NULL),
                        "2|11|new|7|0|2024-02-01 10:00:00\n1|11|old|5|1|2024-01-01 10:00:00\n");
    assert_null(strstr(query_plan("getTopPosts"), "TEMP B-TREE"));

    got = run("getUserProfile", ":id", "11", NULL);
    assert_true(starts(got, "11|k@x|K|"));
    assert_non_null(strstr(got, "\n--\n11|2|12|1|0|0\n--\n2|new|7|0|2024-02-01 10:00:00\n1|old|5|1|2024-01-01 10:00:00\n"));

    assert_string_equal(run("viewPost", ":id", "3", NULL), "");
    assert_string_equal(run("likePost", ":id", "3", NULL), "");
    assert_string_equal(run("updatePost", ":id", "3", ":title", NULL, ":body", "text", NULL), "");
    assert_string_equal(run("getUserStats", ":id", "12", NULL), "12|1|2|2|0|0\n");
    assert_string_equal(run("deleteUser", ":id", "11", NULL), "");
    assert_string_equal(run("getStats", NULL), "2|1|0|0|0\n");
    exec_ok("DELETE FROM users");
}

static void test_update_user_and_meta_search(void **state)
{
    (void)state;
    exec_ok("UPDATE sqlite_sequence SET seq = 20 WHERE name = 'users'");
    assert_string_equal(run("createUser", ":email", "p@x", ":password_hash", "h", ":full_name", "Pat", ":meta", "{\"country\":\"NO\"}", NULL), "21\n");
    exec_ok("INSERT INTO users (email, password_hash) VALUES ('q@x', 'h')");
    /* NULL keeps the old value */
    assert_string_equal(run("updateUser", ":id", "21", ":email", NULL, ":full_name", "Patricia", ":meta", NULL, NULL), "");
    assert_string_equal(run("updateUserMeta", ":id", "21", ":key", "phone", ":value", "555-1234", NULL), "");
    const char *got = run("getUserById", ":id", "21", NULL);
    assert_true(starts(got, "21|p@x|h|Patricia|{\"country\":\"NO\",\"phone\":\"555-1234\"}|"));

    assert_true(starts(run("searchUsersByMeta", ":key", "phone", ":value", "555-1234", NULL), "21|p@x|"));
    assert_true(starts(run("searchUsersByMeta", ":key", "country", ":value", "NO", NULL), "21|p@x|"));
    assert_string_equal(run("searchUsersByMeta", ":key", "country", ":value", "SE", NULL), "");
    assert_string_equal(run("searchUsersByMeta", ":key", "nothing", ":value", "NO", NULL), "");
    const char *plan = query_plan("searchUsersByMeta");
    assert_non_null(strstr(plan, "idx_users_meta_phone"));
    assert_non_null(strstr(plan, "idx_users_meta_country"));

    assert_string_equal(run("updateUserPreferences", ":user_id", "21", ":theme", "auto", ":language", NULL, ":notifications_enabled", NULL, NULL), "");
    assert_string_equal(run("updateUserPreferences", ":user_id", "21", ":theme", NULL, ":language", "nb", ":notifications_enabled", "0", NULL), "");
    got = run("getUserPreferences", ":user_id", "21", NULL);
    assert_non_null(strstr(got, "|21|auto|nb|0|"));
    exec_ok("DELETE FROM users");
}

static void test_items_and_sessions(void **state)
{
    (void)state;
    exec_ok("INSERT INTO users (id, email, password_hash) VALUES (31, 's@x', 'h')");
    assert_string_equal(run("createItem", ":user_id", "31", ":title", "mine", ":description", NULL, NULL), "1\n");
    assert_string_equal(run("createItem", ":user_id", NULL, ":title", "nobody's", ":description", "d", NULL), "2\n");
    assert_string_equal(run("setItemStatus", ":id", "1", ":status", "archived", NULL), "");
    assert_string_equal(run("updateItem", ":id", "2", ":title", NULL, ":description", "d2", NULL), "");
    assert_string_equal(run("getStats", NULL), "1|0|1|1|0\n");
    assert_string_equal(run("getUserStats", ":id", "31", NULL), "31|0|0|0|1|0\n");
    assert_true(starts(run("getUserItems", ":user_id", "31", NULL), "1|31|mine|NULL|archived|"));
    assert_non_null(strstr(run("readItems", NULL), "\n2|NULL|nobody's|d2|active|"));
    assert_string_equal(run("deleteItem", ":id", "1", NULL), "");
    assert_string_equal(run("getStats", NULL), "1|0|1|0|0\n");

    assert_true(starts(run("createSession", ":user_id", "31", ":token", "tok", ":ttl_seconds", "3600", NULL), "1|"));
    assert_true(starts(run("createSession", ":user_id", "31", ":token", "old", ":ttl_seconds", "-60", NULL), "2|"));
    assert_true(starts(run("getSessionByToken", ":token", "tok", NULL), "1|31|tok|"));
    assert_string_equal(run("getSessionByToken", ":token", "old", NULL), "");
    assert_string_equal(run("deleteExpiredSessions", NULL), "");
    assert_int_equal(sqlite3_changes(db), 1);
    assert_string_equal(run("deleteSession", ":token", "tok", NULL), "");
    assert_int_equal(sqlite3_changes(db), 1);
    exec_ok("DELETE FROM users; DELETE FROM items");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_queries_prepare),
        cmocka_unit_test(test_create_user_with_preferences),
        cmocka_unit_test(test_users_batch_and_posts),
        cmocka_unit_test(test_update_user_and_meta_search),
        cmocka_unit_test(test_items_and_sessions),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
