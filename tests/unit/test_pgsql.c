/* test_pgsql.c - unit tests for the PostgreSQL dialect translator: every rewrite with its exact output, pgbench's statements, whole-statement actions, splitting, and SQLite as the oracle that the output prepares (and runs). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <sqlite3.h>

#include "buf.h"
#include "pgsql.h"

static const pgsql_ctx CTX = { "alice", "bench", 4242, "PostgreSQL 15.0 (litecached 0.1 on SQLite 3.40.1)" };
static sqlite3 *db;   /* in-memory, holding the pgbench tables and a general table t */

static const char *const PGBENCH_DDL[] = {
    "create table pgbench_history(tid int,bid int,aid    int,delta int,mtime timestamp,filler char(22))",
    "create table pgbench_tellers(tid int not null,bid int,tbalance int,filler char(84)) with (fillfactor=100)",
    "create table pgbench_accounts(aid    int not null,bid int,abalance int,filler char(84)) with (fillfactor=100)",
    "create table pgbench_branches(bid int not null,bbalance int,filler char(88)) with (fillfactor=100)",
    "create table t (id serial primary key, a int, b text, x text, y float8, z timestamp, w text, name text, "
    "flag boolean, data bytea, created timestamptz default now())",
};

/* Every statement in sql must prepare (and, with run, execute) on d. */
static void oracle(sqlite3 *d, const char *sql, int run)
{
    const char *p = sql;
    while (*p) {
        sqlite3_stmt *st = NULL;
        const char *tail = NULL;
        int rc = sqlite3_prepare_v2(d, p, -1, &st, &tail);
        if (rc != SQLITE_OK)
            fprintf(stderr, "SQLite cannot prepare: %s\n  error: %s\n", p, sqlite3_errmsg(d));
        assert_int_equal(rc, SQLITE_OK);
        if (st && run) {
            while ((rc = sqlite3_step(st)) == SQLITE_ROW)
                ;
            if (rc != SQLITE_DONE)
                fprintf(stderr, "SQLite cannot run: %s\n  error: %s\n", p, sqlite3_errmsg(d));
            assert_int_equal(rc, SQLITE_DONE);
        }
        sqlite3_finalize(st);
        p = tail;
    }
}

static pgsql_result R;

static pgsql_result *tr(const char *sql)
{
    pgsql_translate(sql, strlen(sql), &CTX, &R);
    return &R;
}

/* Translate to exactly want, and prove SQLite takes it. */
static void check_on(sqlite3 *d, const char *sql, const char *want, int run)
{
    pgsql_result *r = tr(sql);
    if (r->action == PGSQL_ERROR)
        fprintf(stderr, "%s\n  -> error %s %s\n", sql, r->sqlstate, r->message);
    else if (strcmp(r->sql.data ? r->sql.data : "", want))
        fprintf(stderr, "%s\n  -> %s\n  wanted %s\n", sql, r->sql.data, want);
    assert_true(r->action != PGSQL_ERROR);
    assert_string_equal(r->sql.data ? r->sql.data : "", want);
    oracle(d, r->sql.data, run);
}
#define CHECK(sql, want) check_on(db, (sql), (want), 0)

static void check_error(const char *sql, const char *state, const char *msg_part)
{
    pgsql_result *r = tr(sql);
    if (r->action != PGSQL_ERROR)
        fprintf(stderr, "%s\n  -> %s (expected error %s)\n", sql, r->sql.data, state);
    assert_int_equal(r->action, PGSQL_ERROR);
    assert_string_equal(r->sqlstate, state);
    if (!strstr(r->message, msg_part))
        fprintf(stderr, "%s\n  -> message %s\n", sql, r->message);
    assert_non_null(strstr(r->message, msg_part));
}

static int setup(void **state)
{
    (void)state;
    pgsql_result_init(&R);
    assert_int_equal(sqlite3_open(":memory:", &db), SQLITE_OK);
    for (size_t i = 0; i < sizeof PGBENCH_DDL / sizeof *PGBENCH_DDL; i++) {
        assert_int_equal(tr(PGBENCH_DDL[i])->action, PGSQL_SQL);
        oracle(db, R.sql.data, 1);
    }
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    sqlite3_close(db);
    pgsql_result_free(&R);
    return 0;
}

/* ---- expression rewrites ----------------------------------------------------------------------- */

static void test_params(void **state)
{
    (void)state;
    CHECK("SELECT a FROM t WHERE a = $1 AND b = $2", "SELECT a FROM t WHERE a = ?1 AND b = ?2");
    assert_int_equal(R.nparams, 2);
    CHECK("UPDATE t SET a = $2 WHERE id = $1", "UPDATE t SET a = ?2 WHERE id = ?1");
    assert_int_equal(R.nparams, 2);
    CHECK("SELECT b FROM t WHERE a = $10", "SELECT b FROM t WHERE a = ?10");
    assert_int_equal(R.nparams, 10);
    CHECK("SELECT b FROM t WHERE a = $01", "SELECT b FROM t WHERE a = ?1");
    /* never inside quotes, quoted identifiers, dollar quotes or comments */
    CHECK("SELECT '$1' AS a, $q$ $2 $q$ AS b /* $3 */ -- $4\n", "SELECT '$1' AS a, ' $2 ' AS b /* $3 */ -- $4\n");
    assert_int_equal(R.nparams, 0);
    CHECK("SELECT \"$1\" FROM (SELECT 1 AS \"$1\") s", "SELECT \"$1\" FROM (SELECT 1 AS \"$1\") s");
    assert_int_equal(R.nparams, 0);
    check_error("SELECT $0", "42P02", "there is no parameter $0");
    check_error("SELECT $99999999999999999999", "42P02", "there is no parameter");
}

static void test_casts(void **state)
{
    (void)state;
    CHECK("SELECT $1::int", "SELECT CAST(?1 AS INTEGER) AS \"int4\"");
    CHECK("SELECT a::text FROM t", "SELECT CAST(a AS TEXT) AS \"a\" FROM t");
    CHECK("SELECT t.a::bigint, f::float8 FROM (SELECT 1 AS f) s, t",
          "SELECT CAST(t.a AS INTEGER) AS \"a\", CAST(f AS REAL) AS \"f\" FROM (SELECT 1 AS f) s, t");
    CHECK("SELECT y::double precision, y::numeric(10,2), y::real FROM t",
          "SELECT CAST(y AS REAL) AS \"y\", CAST(y AS NUMERIC) AS \"y\", CAST(y AS REAL) AS \"y\" FROM t");
    CHECK("SELECT b::varchar(20), b::character varying, b::char(3), b::json, b::jsonb FROM t",
          "SELECT CAST(b AS TEXT) AS \"b\", CAST(b AS TEXT) AS \"b\", CAST(b AS TEXT) AS \"b\", CAST(b AS TEXT) AS \"b\", "
          "CAST(b AS TEXT) AS \"b\" FROM t");
    CHECK("SELECT z::date, z::timestamp with time zone, z::timestamptz FROM t",
          "SELECT CAST(z AS TEXT) AS \"z\", CAST(z AS TEXT) AS \"z\", CAST(z AS TEXT) AS \"z\" FROM t");
    CHECK("SELECT (a + 1)::int8, lower(b)::text, 1::int::text FROM t",
          "SELECT CAST((a + 1) AS INTEGER) AS \"int8\", CAST(lower(b) AS TEXT) AS \"lower\", "
          "CAST(CAST(1 AS INTEGER) AS TEXT) AS \"text\" FROM t");
    CHECK("SELECT a FROM t WHERE a = $1::int4 AND b = 'x'::text", "SELECT a FROM t WHERE a = CAST(?1 AS INTEGER) AND b = 'x'");
    /* boolean and bytea literals: SQLite has neither type, so fold them */
    CHECK("SELECT 't'::bool, 'true'::boolean, 'off'::bool, ' yes '::boolean",
          "SELECT 1 AS \"bool\", 1 AS \"bool\", 0 AS \"bool\", 1 AS \"bool\"");
    CHECK("SELECT flag::bool FROM t", "SELECT CAST(flag AS INTEGER) AS \"flag\" FROM t");
    CHECK("SELECT '\\x0102'::bytea, 'ab'::bytea, E'\\\\x41'::bytea", "SELECT X'0102' AS \"bytea\", X'6162' AS \"bytea\", X'41' AS \"bytea\"");
    CHECK("SELECT 'pgbench_accounts'::regclass, 42::oid", "SELECT 'pgbench_accounts' AS \"regclass\", 42 AS \"oid\"");
    CHECK("SELECT CAST(a AS int8), CAST('t' AS boolean), CAST('\\x41' AS bytea), CAST(b AS varchar(3)) FROM t",
          "SELECT CAST(a AS INTEGER) AS \"int8\", 1 AS \"bool\", X'41' AS \"bytea\", CAST(b AS TEXT) AS \"varchar\" FROM t");
    CHECK("SELECT a :: int FROM t", "SELECT CAST(a  AS INTEGER) AS \"a\" FROM t");
    CHECK("SELECT CASE WHEN a > 0 THEN 1 ELSE 2 END::text, NULL::int FROM t",
          "SELECT CAST(CASE WHEN a > 0 THEN 1 ELSE 2 END AS TEXT) AS \"text\", CAST(NULL AS INTEGER) AS \"int4\" FROM t");
    CHECK("SELECT (SELECT 1)::text", "SELECT CAST((SELECT 1 AS \"?column?\") AS TEXT) AS \"text\"");
    CHECK("SELECT date '2024-01-02', timestamp '2024-01-02 03:04:05', int '5', boolean 'f'",
          "SELECT '2024-01-02' AS \"date\", '2024-01-02 03:04:05' AS \"timestamp\", CAST('5' AS INTEGER) AS \"int4\", "
          "0 AS \"bool\"");
    check_error("SELECT 'maybe'::bool", "22P02", "boolean");
    check_error("SELECT '\\xZZ'::bytea", "22P02", "hexadecimal");
    check_error("SELECT a::int[] FROM t", "0A000", "array type int[]");
    check_error("SELECT a::interval FROM t", "0A000", "type interval");
    check_error("SELECT interval '1 day'", "0A000", "interval");
    check_error("SELECT a::frobnicator FROM t", "0A000", "type frobnicator");
    check_error("SELECT ::int", "42601", "::");
}

static void test_strings(void **state)
{
    (void)state;
    CHECK("SELECT E'a\\nb'", "SELECT 'a\nb' AS \"?column?\"");
    CHECK("SELECT E'it\\'s', E'it''s', e'\\\\', E'\\t\\r\\b\\f'",
          "SELECT 'it''s' AS \"?column?\", 'it''s' AS \"?column?\", '\\' AS \"?column?\", '\t\r\b\f' AS \"?column?\"");
    CHECK("SELECT E'\\x41\\101\\u00e9\\U0001F600\\uD83D\\uDE00\\q'", "SELECT 'AAé😀😀q' AS \"?column?\"");
    CHECK("SELECT $$it's$$, $tag$ a $$ b $tag$, $$$$", "SELECT 'it''s' AS \"?column?\", ' a $$ b ' AS \"?column?\", '' AS \"?column?\"");
    CHECK("SELECT N'national', X'0aff'", "SELECT 'national' AS \"?column?\", X'0aff' AS \"?column?\"");
    /* standard strings keep their backslashes (standard_conforming_strings = on) */
    CHECK("SELECT 'a\\nb', 'it''s'", "SELECT 'a\\nb' AS \"?column?\", 'it''s' AS \"?column?\"");
    check_error("SELECT E'\\000'", "22021", "0x00");
    check_error("SELECT E'\\uD800'", "22P02", "Unicode escape");
    check_error("SELECT E'\\u12'", "22P02", "Unicode escape");
    check_error("SELECT B'0101'", "0A000", "bit string");
    check_error("SELECT U&'d\\0061t'", "0A000", "Unicode escape");
}

static void test_functions(void **state)
{
    (void)state;
    CHECK("SELECT now()", "SELECT strftime('%Y-%m-%d %H:%M:%f','now') AS \"now\"");
    CHECK("SELECT current_timestamp, CURRENT_TIMESTAMP(3), localtimestamp, transaction_timestamp()",
          "SELECT strftime('%Y-%m-%d %H:%M:%f','now') AS \"current_timestamp\", strftime('%Y-%m-%d %H:%M:%f','now') AS "
          "\"current_timestamp\", strftime('%Y-%m-%d %H:%M:%f','now') AS \"localtimestamp\", "
          "strftime('%Y-%m-%d %H:%M:%f','now') AS \"transaction_timestamp\"");
    CHECK("SELECT a FROM t WHERE z < now()", "SELECT a FROM t WHERE z < strftime('%Y-%m-%d %H:%M:%f','now')");
    CHECK("SELECT version()", "SELECT 'PostgreSQL 15.0 (litecached 0.1 on SQLite 3.40.1)' AS \"version\"");
    CHECK("SELECT current_database(), current_catalog, current_schema(), current_schema",
          "SELECT 'bench' AS \"current_database\", 'bench' AS \"current_catalog\", 'public' AS \"current_schema\", "
          "'public' AS \"current_schema\"");
    CHECK("SELECT current_user, session_user, user, pg_backend_pid()",
          "SELECT 'alice' AS \"current_user\", 'alice' AS \"session_user\", 'alice' AS \"user\", 4242 AS \"pg_backend_pid\"");
    CHECK("SELECT pg_catalog.version()", "SELECT 'PostgreSQL 15.0 (litecached 0.1 on SQLite 3.40.1)' AS \"version\"");
    /* a quote in a user name is escaped */
    pgsql_ctx odd = { "o'neil", NULL, 0, NULL };
    const char *q = "SELECT current_user, current_database(), version()";
    pgsql_translate(q, strlen(q), &odd, &R);
    assert_string_equal(R.sql.data, "SELECT 'o''neil' AS \"current_user\", '' AS \"current_database\", "
                                    "'PostgreSQL 15.0 (litecached)' AS \"version\"");
}

static void test_keywords(void **state)
{
    (void)state;
    CHECK("SELECT true, false", "SELECT 1 AS \"bool\", 0 AS \"bool\"");
    CHECK("SELECT a FROM t WHERE flag = true OR flag IS TRUE OR flag IS NOT FALSE",
          "SELECT a FROM t WHERE flag = 1 OR flag IS TRUE OR flag IS NOT FALSE");
    CHECK("INSERT INTO t (flag) VALUES (true)", "INSERT INTO t (flag) VALUES (1)");
    CHECK("SELECT a FROM t WHERE b ILIKE 'x%' OR b NOT ILIKE $1", "SELECT a FROM t WHERE b LIKE 'x%' OR b NOT LIKE ?1");
    CHECK("SELECT a FROM t LIMIT ALL", "SELECT a FROM t LIMIT -1");
    CHECK("SELECT a FROM t WHERE id = 1 FOR UPDATE", "SELECT a FROM t WHERE id = 1 ");
    CHECK("SELECT a FROM t FOR NO KEY UPDATE OF t NOWAIT", "SELECT a FROM t ");
    CHECK("SELECT * FROM public.t", "SELECT * FROM t");
    check_error("SELECT DISTINCT ON (a) a FROM t", "0A000", "DISTINCT ON");
}

static void test_select_names(void **state)
{
    (void)state;
    CHECK("SELECT count(*) FROM t", "SELECT count(*) AS \"count\" FROM t");
    CHECK("select count(*) from pgbench_branches", "select count(*) AS \"count\" from pgbench_branches");
    CHECK("SELECT count(*) AS n, count(*) n, count(a) \"N\" FROM t", "SELECT count(*) AS n, count(*) n, count(a) \"N\" FROM t");
    CHECK("SELECT a, count(*) FROM t GROUP BY a HAVING count(*) > 1 ORDER BY count(*)",
          "SELECT a, count(*) AS \"count\" FROM t GROUP BY a HAVING count(*) > 1 ORDER BY count(*)");
    CHECK("SELECT * FROM (SELECT count(*) FROM t) s", "SELECT * FROM (SELECT count(*) AS \"count\" FROM t) s");
    CHECK("SELECT DISTINCT max(a), sum(a) + 1, * FROM t", "SELECT DISTINCT max(a) AS \"max\", sum(a) + 1 AS \"?column?\", * FROM t");
    CHECK("SELECT t.*, a, t.b, (a), 1, 'x', NULL, $1 FROM t",
          "SELECT t.*, a, t.b, (a), 1 AS \"?column?\", 'x' AS \"?column?\", NULL AS \"?column?\", ?1 AS \"?column?\" FROM t");
    CHECK("SELECT row_number() OVER (ORDER BY a), max(a) FILTER (WHERE a > 0), CASE WHEN a > 0 THEN 1 END FROM t",
          "SELECT row_number() OVER (ORDER BY a) AS \"row_number\", max(a) FILTER (WHERE a > 0) AS \"max\", "
          "CASE WHEN a > 0 THEN 1 END AS \"case\" FROM t");
    CHECK("SELECT a IS DISTINCT FROM b, EXISTS (SELECT 1) FROM t",
          "SELECT a IS DISTINCT FROM b AS \"?column?\", EXISTS (SELECT 1 AS \"?column?\") AS \"exists\" FROM t");
    CHECK("SELECT 1 UNION SELECT count(*) FROM t", "SELECT 1 AS \"?column?\" UNION SELECT count(*) AS \"count\" FROM t");
    CHECK("INSERT INTO t (a) SELECT count(*) FROM t RETURNING id, a",
          "INSERT INTO t (a) SELECT count(*) AS \"count\" FROM t RETURNING id, a");
    CHECK("WITH c AS (SELECT count(*) FROM t) SELECT count FROM c",
          "WITH c AS (SELECT count(*) AS \"count\" FROM t) SELECT count FROM c");
    /* the alias lands before comments and whitespace that follow the item */
    CHECK("SELECT count(*) /* n */ , 2\nFROM t", "SELECT count(*) AS \"count\" /* n */ , 2 AS \"?column?\"\nFROM t");
}

static void test_generate_series(void **state)
{
    (void)state;
    CHECK("SELECT * FROM generate_series(1, 3)",
          "SELECT * FROM (WITH RECURSIVE __lc_gs(\"generate_series\") AS (SELECT 1 WHERE 1 <= 3 UNION ALL SELECT "
          "\"generate_series\" + 1 FROM __lc_gs WHERE \"generate_series\" + 1 <= 3) SELECT \"generate_series\" FROM "
          "__lc_gs) AS generate_series");
    CHECK("SELECT i FROM generate_series($1, $2 * 2) AS g(i)",
          "SELECT i FROM (WITH RECURSIVE __lc_gs(\"i\") AS (SELECT ?1 WHERE ?1 <= (?2 * 2) UNION ALL SELECT \"i\" + 1 "
          "FROM __lc_gs WHERE \"i\" + 1 <= (?2 * 2)) SELECT \"i\" FROM __lc_gs) AS g");
    /* results, not just preparation */
    struct { const char *sql, *want; } run[] = {
        { "SELECT * FROM generate_series(1, 5)", "1,2,3,4,5," },
        { "SELECT x FROM generate_series(10, 1, -3) x", "10,7,4,1," },
        { "SELECT x FROM generate_series(1, 10, 4) AS x", "1,5,9," },
        { "SELECT n FROM generate_series(5, 1) n", "" },
        { "SELECT g.v * 2 FROM generate_series(1, 3) AS g(v) ORDER BY 1 DESC", "6,4,2," },
        { "SELECT count(*) FROM t, generate_series(1, 4)", "0," },
        { "SELECT s FROM generate_series(1, 2) s JOIN generate_series(2, 3) u ON s = u", "2," },
    };
    for (size_t i = 0; i < sizeof run / sizeof *run; i++) {
        pgsql_result *r = tr(run[i].sql);
        assert_int_equal(r->action, PGSQL_SQL);
        sqlite3_stmt *st;
        assert_int_equal(sqlite3_prepare_v2(db, r->sql.data, -1, &st, NULL), SQLITE_OK);
        char got[128] = "";
        while (sqlite3_step(st) == SQLITE_ROW)
            snprintf(got + strlen(got), sizeof got - strlen(got), "%s,", sqlite3_column_text(st, 0));
        if (strcmp(got, run[i].want))
            fprintf(stderr, "%s -> %s (%s)\n", run[i].sql, got, r->sql.data);
        assert_string_equal(got, run[i].want);
        sqlite3_finalize(st);
    }
    check_error("SELECT generate_series(1, 3)", "0A000", "generate_series() outside FROM");
    check_error("SELECT * FROM generate_series(1)", "42883", "generate_series");
    check_error("SELECT * FROM generate_series(1, 2, 3, 4)", "42883", "generate_series");
    check_error("SELECT * FROM generate_series(1, 2) AS WHERE", "42601", "syntax error");
}

/* ---- comments, quotes, splitting ---------------------------------------------------------------- */

static void test_comments_and_quotes(void **state)
{
    (void)state;
    CHECK("-- ::int $1 now()\nSELECT a FROM t", "-- ::int $1 now()\nSELECT a FROM t");
    CHECK("SELECT a /* 'x' now() /* nested ::int */ still comment */ FROM t",
          "SELECT a /* 'x' now() / * nested ::int * / still comment */ FROM t");
    CHECK("SELECT '--', '/*', 'now()', 'true', '::int' FROM t",
          "SELECT '--' AS \"?column?\", '/*' AS \"?column?\", 'now()' AS \"?column?\", 'true' AS \"?column?\", "
          "'::int' AS \"?column?\" FROM t");
    CHECK("SELECT \"now\", \"true\" FROM (SELECT 1 AS \"now\", 2 AS \"true\") s",
          "SELECT \"now\", \"true\" FROM (SELECT 1 AS \"now\", 2 AS \"true\") s");
    CHECK("SELECT a FROM t;", "SELECT a FROM t");
    CHECK("SELECT a FROM t ; ; ", "SELECT a FROM t ");
    check_error("SELECT 1; SELECT 2", "42601", "multiple commands");
    check_error("SELECT 'abc", "42601", "unterminated quoted string");
    check_error("SELECT \"abc", "42601", "unterminated quoted identifier");
    check_error("SELECT $x$abc", "42601", "unterminated dollar-quoted string");
    check_error("SELECT 1 /* a /* b */", "42601", "unterminated /* comment");
    check_error("SELECT E'abc\\'", "42601", "unterminated quoted string");
    const char *empties[] = { "", "   ", "-- only a comment", "/* c */ ;", ";", "\n;;\n" };
    for (size_t i = 0; i < sizeof empties / sizeof *empties; i++) {
        assert_int_equal(pgsql_translate(empties[i], strlen(empties[i]), &CTX, &R), 0);
        assert_int_equal(R.action, PGSQL_EMPTY);
    }
}

static void test_split(void **state)
{
    (void)state;
    const char *q = "SELECT ';'; SELECT $$;$$ ; -- ;\n SELECT 3 /* ; */;;  ;  INSERT INTO t VALUES (E'\\';')";
    pgsql_span sp[8];
    size_t n = pgsql_split(q, strlen(q), sp, 8);
    assert_int_equal(n, 4);
    assert_int_equal(sp[0].off, 0);
    assert_int_equal(sp[0].len, 10);
    assert_memory_equal(q + sp[1].off, "SELECT $$;$$", sp[1].len);
    assert_memory_equal(q + sp[2].off, "SELECT 3", sp[2].len);
    assert_memory_equal(q + sp[3].off, "INSERT INTO t VALUES (E'\\';')", sp[3].len);
    assert_int_equal(pgsql_split(q, strlen(q), sp, 2), 4);   /* the count, even beyond max */
    assert_int_equal(pgsql_split(";;  ; -- x", 10, sp, 8), 0);
    assert_int_equal(pgsql_split("", 0, sp, 8), 0);
    assert_int_equal(pgsql_split("select 1", 8, sp, 8), 1);
    assert_int_equal(sp[0].len, 8);
    n = pgsql_split("select 1; select 'a;b", 21, sp, 8);   /* unterminated: runs to the end */
    assert_int_equal(n, 2);
    assert_int_equal(sp[1].len, 11);
    n = pgsql_split("BEGIN; UPDATE t SET a = 1; COMMIT;", 34, sp, 8);
    assert_int_equal(n, 3);
}

/* ---- whole statements ----------------------------------------------------------------------------- */

static void expect_set(const char *sql, pgsql_action action, const char *name, const char *value)
{
    pgsql_result *r = tr(sql);
    if (r->action != action)
        fprintf(stderr, "%s -> action %d (%s)\n", sql, r->action, r->message);
    assert_int_equal(r->action, action);
    assert_string_equal(r->name, name);
    if (value)
        assert_string_equal(r->value.data, value);
}

static void test_set_show(void **state)
{
    (void)state;
    expect_set("SET extra_float_digits = 3", PGSQL_SET, "extra_float_digits", "3");
    expect_set("SET client_encoding TO 'UTF8'", PGSQL_SET, "client_encoding", "UTF8");
    expect_set("SET DateStyle = ISO", PGSQL_SET, "datestyle", "iso");
    expect_set("SET datestyle TO 'ISO', 'MDY'", PGSQL_SET, "datestyle", "ISO, MDY");
    expect_set("set SESSION statement_timeout = -5", PGSQL_SET, "statement_timeout", "-5");
    expect_set("SET application_name = E'my\\tapp'", PGSQL_SET, "application_name", "my\tapp");
    expect_set("SET search_path = \"$user\", public", PGSQL_SET, "search_path", "$user, public");
    expect_set("SET my.custom_setting = 'x'", PGSQL_SET, "my.custom_setting", "x");
    expect_set("SET TIME ZONE 'UTC'", PGSQL_SET, "timezone", "UTC");
    expect_set("SET NAMES 'UTF8'", PGSQL_SET, "client_encoding", "UTF8");
    expect_set("SET SESSION CHARACTERISTICS AS TRANSACTION ISOLATION LEVEL READ COMMITTED", PGSQL_SET,
               "default_transaction_isolation", "read committed");
    expect_set("SET TRANSACTION ISOLATION LEVEL SERIALIZABLE", PGSQL_SET, "transaction_isolation", "serializable");
    expect_set("SET TRANSACTION READ ONLY", PGSQL_SET, "transaction_read_only", "on");
    expect_set("SET LOCAL work_mem = '64MB'", PGSQL_SET, "work_mem", "64MB");
    assert_true(R.local);
    expect_set("SET work_mem TO DEFAULT", PGSQL_RESET, "work_mem", NULL);
    expect_set("SET TIME ZONE LOCAL", PGSQL_RESET, "timezone", NULL);
    expect_set("RESET ALL", PGSQL_RESET, "all", NULL);
    expect_set("RESET statement_timeout", PGSQL_RESET, "statement_timeout", NULL);
    expect_set("SHOW server_version", PGSQL_SHOW, "server_version", NULL);
    expect_set("show default_transaction_isolation;", PGSQL_SHOW, "default_transaction_isolation", NULL);
    expect_set("SHOW TRANSACTION ISOLATION LEVEL", PGSQL_SHOW, "transaction_isolation", NULL);
    expect_set("SHOW TIME ZONE", PGSQL_SHOW, "timezone", NULL);
    expect_set("SHOW ALL", PGSQL_SHOW, "all", NULL);
    expect_set("SHOW \"DateStyle\"", PGSQL_SHOW, "DateStyle", NULL);
    check_error("SET", "42601", "syntax error");
    check_error("SET x", "42601", "syntax error");
    check_error("SET x =", "42601", "syntax error");
    check_error("SET x = 1,", "42601", "syntax error");
    check_error("SET x = (1)", "42601", "syntax error");
    check_error("SHOW a b", "42601", "syntax error");
}

static void expect_tx(const char *sql, pgsql_action action, const char *sqlout)
{
    pgsql_result *r = tr(sql);
    assert_int_equal(r->action, action);
    assert_string_equal(r->sql.data, sqlout);
    oracle(db, sqlout, 0);
}

static void test_transactions(void **state)
{
    (void)state;
    expect_tx("BEGIN", PGSQL_BEGIN, "BEGIN");
    expect_tx("begin work", PGSQL_BEGIN, "BEGIN");
    expect_tx("BEGIN ISOLATION LEVEL REPEATABLE READ READ WRITE", PGSQL_BEGIN, "BEGIN");
    expect_tx("START TRANSACTION ISOLATION LEVEL SERIALIZABLE, READ ONLY", PGSQL_BEGIN, "BEGIN");
    expect_tx("COMMIT", PGSQL_COMMIT, "COMMIT");
    expect_tx("END;", PGSQL_COMMIT, "COMMIT");
    expect_tx("commit transaction and no chain", PGSQL_COMMIT, "COMMIT");
    expect_tx("ROLLBACK WORK", PGSQL_ROLLBACK, "ROLLBACK");
    expect_tx("ABORT", PGSQL_ROLLBACK, "ROLLBACK");
    CHECK("SAVEPOINT s1", "SAVEPOINT s1");
    CHECK("RELEASE SAVEPOINT s1", "RELEASE SAVEPOINT s1");
    CHECK("ROLLBACK TO SAVEPOINT s1", "ROLLBACK TO SAVEPOINT s1");
    CHECK("ROLLBACK TRANSACTION TO s1", "ROLLBACK TRANSACTION TO s1");
    check_error("COMMIT AND CHAIN", "0A000", "AND CHAIN");
    check_error("COMMIT PREPARED 'x'", "0A000", "two-phase");
    check_error("COMMIT now", "42601", "syntax error");
}

static void test_ddl(void **state)
{
    (void)state;
    sqlite3 *e;
    assert_int_equal(sqlite3_open(":memory:", &e), SQLITE_OK);
    check_on(e, "create table pgbench_history(tid int,bid int,aid    int,delta int,mtime timestamp,filler char(22))",
             "create table pgbench_history(tid int,bid int,aid    int,delta int,mtime timestamp,filler char(22))", 1);
    check_on(e, "create unlogged table pgbench_tellers(tid int not null,bid int,tbalance int,filler char(84)) with (fillfactor=100)",
             "create  table pgbench_tellers(tid int not null,bid int,tbalance int,filler char(84)) ", 1);
    check_on(e, "CREATE TABLE IF NOT EXISTS s (id bigserial PRIMARY KEY, n text DEFAULT now(), f boolean DEFAULT true) "
                "WITH (fillfactor = 90) TABLESPACE fast",
             "CREATE TABLE IF NOT EXISTS s (id INTEGER PRIMARY KEY, n text DEFAULT (strftime('%Y-%m-%d %H:%M:%f','now')), "
             "f boolean DEFAULT 1)  ", 1);
    check_on(e, "CREATE INDEX CONCURRENTLY s_n ON s USING btree (n) WITH (fillfactor = 50)", "CREATE INDEX  s_n ON s  (n) ", 1);
    check_on(e, "ALTER TABLE public.s ADD COLUMN k serial", "ALTER TABLE s ADD COLUMN k INTEGER", 1);
    check_error("CREATE TABLE p (a int) PARTITION BY RANGE (a)", "0A000", "PARTITION");
    check_error("CREATE TABLE c (b int) INHERITS (p)", "0A000", "INHERITS");
    check_error("CREATE EXTENSION pgcrypto", "0A000", "CREATE EXTENSION");
    check_error("CREATE SEQUENCE s_seq", "0A000", "CREATE SEQUENCE");
    check_error("create or replace function f() returns int as $$ select 1 $$ language sql", "0A000", "function");
    check_error("LISTEN chan", "0A000", "LISTEN");
    check_error("DO $$ BEGIN END $$", "0A000", "DO");
    sqlite3_close(e);
}

static void test_table_lists(void **state)
{
    (void)state;
    CHECK("truncate table pgbench_accounts, pgbench_branches, pgbench_history, pgbench_tellers",
          "DELETE FROM pgbench_accounts; DELETE FROM pgbench_branches; DELETE FROM pgbench_history; DELETE FROM pgbench_tellers");
    assert_int_equal(R.nstmts, 4);
    CHECK("TRUNCATE ONLY t RESTART IDENTITY CASCADE", "DELETE FROM t");
    CHECK("truncate pgbench_history", "DELETE FROM pgbench_history");
    CHECK("TRUNCATE public.t *", "DELETE FROM t");
    CHECK("DROP TABLE IF EXISTS t, \"Other\" CASCADE", "DROP TABLE IF EXISTS t; DROP TABLE IF EXISTS \"Other\"");
    assert_int_equal(R.nstmts, 2);
    CHECK("DROP INDEX CONCURRENTLY IF EXISTS i", "DROP INDEX IF EXISTS i");
    CHECK("drop view if exists v", "DROP VIEW IF EXISTS v");
    CHECK("vacuum analyze pgbench_branches", "ANALYZE pgbench_branches");
    CHECK("VACUUM (VERBOSE, ANALYZE) pgbench_tellers, pgbench_accounts (aid)",
          "ANALYZE pgbench_tellers; ANALYZE pgbench_accounts");
    CHECK("VACUUM ANALYZE", "ANALYZE");
    CHECK("ANALYZE VERBOSE t", "ANALYZE t");
    CHECK("analyse", "ANALYZE");
    const char *noops[] = { "vacuum pgbench_branches", "VACUUM", "VACUUM FULL t", "LOCK TABLE t IN ACCESS EXCLUSIVE MODE",
                            "CHECKPOINT" };
    for (size_t i = 0; i < sizeof noops / sizeof *noops; i++) {
        assert_int_equal(tr(noops[i])->action, PGSQL_NOOP);
        assert_int_equal(R.sql.len, 0);
    }
    check_error("TRUNCATE", "42601", "syntax error");
    check_error("TRUNCATE a b", "42601", "syntax error");
    check_error("DROP TABLE a,", "42601", "syntax error");
    check_error("TRUNCATE pg_catalog.pg_class", "0A000", "system catalog");
}

static void test_alter_table(void **state)
{
    (void)state;
    sqlite3 *e;
    assert_int_equal(sqlite3_open(":memory:", &e), SQLITE_OK);
    oracle(e, "CREATE TABLE pgbench_branches(bid int, x int, y int); CREATE TABLE \"My T\"(a int)", 1);
    check_on(e, "alter table pgbench_branches add primary key (bid)",
             "CREATE UNIQUE INDEX IF NOT EXISTS pgbench_branches_pkey ON pgbench_branches (bid)", 1);
    check_on(e, "ALTER TABLE ONLY pgbench_branches ADD CONSTRAINT br_xy UNIQUE (x, y)",
             "CREATE UNIQUE INDEX IF NOT EXISTS br_xy ON pgbench_branches (x, y)", 1);
    check_on(e, "ALTER TABLE pgbench_branches ADD UNIQUE (x, y)",
             "CREATE UNIQUE INDEX IF NOT EXISTS pgbench_branches_x_y_key ON pgbench_branches (x, y)", 1);
    check_on(e, "ALTER TABLE \"My T\" ADD PRIMARY KEY (a)", "CREATE UNIQUE INDEX IF NOT EXISTS \"My T_pkey\" ON \"My T\" (a)", 1);
    pgsql_result *r = tr("alter table pgbench_tellers add constraint pgbench_tellers_bid_fkey foreign key (bid) "
                         "references pgbench_branches");
    assert_int_equal(r->action, PGSQL_NOOP);
    assert_non_null(r->notice);
    check_on(e, "ALTER TABLE pgbench_branches ADD COLUMN z text", "ALTER TABLE pgbench_branches ADD COLUMN z text", 1);
    check_on(e, "ALTER TABLE pgbench_branches RENAME COLUMN z TO w", "ALTER TABLE pgbench_branches RENAME COLUMN z TO w", 1);
    check_error("ALTER TABLE t ADD CHECK (a > 0)", "0A000", "CHECK");
    check_error("ALTER TABLE t ADD PRIMARY KEY (a) DEFERRABLE", "42601", "syntax error");
    check_error("ALTER TABLE t ADD PRIMARY KEY (a + 1)", "42601", "syntax error");
    sqlite3_close(e);
}

static void test_copy(void **state)
{
    (void)state;
    pgsql_result *r = tr("copy pgbench_accounts from stdin");
    assert_int_equal(r->action, PGSQL_COPY_FROM_STDIN);
    assert_string_equal(r->name, "pgbench_accounts");
    assert_int_equal(r->ncols, 0);
    assert_int_equal(r->copy_format, 't');
    assert_int_equal(r->copy_delim, '\t');
    assert_string_equal(r->copy_null, "\\N");
    assert_int_equal(r->copy_header, 0);
    buf b;
    buf_init(&b);
    pgsql_copy_insert(r, 4, &b);
    buf_putc(&b, '\0');
    assert_string_equal(b.data, "INSERT INTO pgbench_accounts VALUES (?1, ?2, ?3, ?4)");
    oracle(db, b.data, 0);

    r = tr("copy pgbench_accounts from stdin with (freeze on)");
    assert_int_equal(r->action, PGSQL_COPY_FROM_STDIN);
    assert_string_equal(r->name, "pgbench_accounts");

    r = tr("COPY public.t (a, \"B\") FROM STDIN WITH (FORMAT csv, HEADER true, DELIMITER ';', NULL 'NA', QUOTE '''')");
    assert_int_equal(r->action, PGSQL_COPY_FROM_STDIN);
    assert_string_equal(r->name, "t");
    assert_int_equal(r->ncols, 2);
    assert_string_equal(r->cols[0], "a");
    assert_string_equal(r->cols[1], "\"B\"");
    assert_int_equal(r->copy_format, 'c');
    assert_int_equal(r->copy_delim, ';');
    assert_int_equal(r->copy_quote, '\'');
    assert_string_equal(r->copy_null, "NA");
    assert_int_equal(r->copy_header, 1);
    buf_reset(&b);
    pgsql_copy_insert(r, 99, &b);
    buf_putc(&b, '\0');
    assert_string_equal(b.data, "INSERT INTO t (a, \"B\") VALUES (?1, ?2)");

    r = tr("copy t from stdin csv header");
    assert_int_equal(r->copy_format, 'c');
    assert_int_equal(r->copy_delim, ',');
    assert_string_equal(r->copy_null, "");
    assert_int_equal(r->copy_header, 1);
    r = tr("COPY t FROM STDIN WITH DELIMITER AS '|' NULL AS ''");
    assert_int_equal(r->copy_delim, '|');
    assert_string_equal(r->copy_null, "");
    r = tr("COPY t FROM STDIN (HEADER false, FORMAT text);");
    assert_int_equal(r->action, PGSQL_COPY_FROM_STDIN);
    assert_int_equal(r->copy_header, 0);
    buf_free(&b);
    check_error("COPY t TO STDOUT", "0A000", "COPY TO");
    check_error("COPY (SELECT 1) TO STDOUT", "0A000", "COPY (query)");
    check_error("COPY t FROM '/etc/passwd'", "0A000", "STDIN");
    check_error("COPY t FROM STDIN (FORMAT binary)", "0A000", "BINARY");
    check_error("COPY t FROM STDIN BINARY", "0A000", "BINARY");
    check_error("COPY t FROM STDIN (DELIMITER 'ab')", "22023", "single one-byte");
    check_error("COPY t FROM STDIN (FORMAT csv", "42601", "syntax error");
    check_error("COPY t (a FROM STDIN", "42601", "syntax error");
    check_error("COPY t FROM STDIN WITH (bogus 1)", "42601", "syntax error");
}

static void test_misc_statements(void **state)
{
    (void)state;
    assert_int_equal(tr("DEALLOCATE ALL")->action, PGSQL_DEALLOCATE);
    assert_string_equal(R.name, "all");
    assert_int_equal(tr("deallocate prepare \"S_1\"")->action, PGSQL_DEALLOCATE);
    assert_string_equal(R.name, "S_1");
    assert_int_equal(tr("DISCARD ALL")->action, PGSQL_DISCARD);
    assert_string_equal(R.name, "all");
    check_error("select * from pg_type where typname = 'hstore'", "0A000", "pg_type");
    check_error("SELECT t.oid FROM pg_catalog.pg_type t", "0A000", "pg_catalog.pg_type");
    check_error("SELECT * FROM information_schema.tables", "0A000", "information_schema");
    check_error("PREPARE p AS SELECT 1", "0A000", "PREPARE");
}

/* ---- pgbench end to end ---------------------------------------------------------------------------- */

static void test_pgbench(void **state)
{
    (void)state;
    sqlite3 *e;
    assert_int_equal(sqlite3_open(":memory:", &e), SQLITE_OK);
    /* pgbench -i, server-side generation (-I dtGvp), scale 1, then its TPC-B-like script */
    const char *init[] = {
        "drop table if exists pgbench_accounts, pgbench_branches, pgbench_history, pgbench_tellers",
        "create table pgbench_history(tid int,bid int,aid    int,delta int,mtime timestamp,filler char(22))",
        "create table pgbench_tellers(tid int not null,bid int,tbalance int,filler char(84)) with (fillfactor=100)",
        "create table pgbench_accounts(aid    int not null,bid int,abalance int,filler char(84)) with (fillfactor=100)",
        "create table pgbench_branches(bid int not null,bbalance int,filler char(88)) with (fillfactor=100)",
        "begin",
        "truncate table pgbench_accounts, pgbench_branches, pgbench_history, pgbench_tellers",
        "insert into pgbench_branches(bid,bbalance) select bid, 0 from generate_series(1, 1) as bid",
        "insert into pgbench_tellers(tid,bid,tbalance) select tid, (tid - 1) / 10 + 1, 0 from generate_series(1, 10) as tid",
        "insert into pgbench_accounts(aid,bid,abalance,filler) select aid, (aid - 1) / 100000 + 1, 0, '' "
        "from generate_series(1, 100000) as aid",
        "commit",
        "vacuum analyze pgbench_branches",
        "vacuum analyze pgbench_tellers",
        "vacuum analyze pgbench_accounts",
        "vacuum analyze pgbench_history",
        "alter table pgbench_branches add primary key (bid)",
        "alter table pgbench_tellers add primary key (tid)",
        "alter table pgbench_accounts add primary key (aid)",
        /* before a run (without -n) */
        "vacuum pgbench_branches",
        "vacuum pgbench_tellers",
        "truncate pgbench_history",
        "vacuum pgbench_history",
    };
    for (size_t i = 0; i < sizeof init / sizeof *init; i++) {
        pgsql_result *r = tr(init[i]);
        if (r->action == PGSQL_ERROR)
            fprintf(stderr, "%s: %s\n", init[i], r->message);
        assert_true(r->action != PGSQL_ERROR);
        if (r->sql.len)
            oracle(e, r->sql.data, 1);
    }
    sqlite3_stmt *st;
    /* pgbench reads the scale with this query and the column named count */
    assert_int_equal(tr("select count(*) from pgbench_branches")->action, PGSQL_SQL);
    assert_int_equal(sqlite3_prepare_v2(e, R.sql.data, -1, &st, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    assert_string_equal(sqlite3_column_name(st, 0), "count");
    assert_int_equal(sqlite3_column_int(st, 0), 1);
    sqlite3_finalize(st);
    assert_int_equal(sqlite3_prepare_v2(e, "SELECT count(*), sum(bid), max(aid) FROM pgbench_accounts", -1, &st, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    assert_int_equal(sqlite3_column_int(st, 0), 100000);
    assert_int_equal(sqlite3_column_int(st, 1), 100000);
    assert_int_equal(sqlite3_column_int(st, 2), 100000);
    sqlite3_finalize(st);

    /* the transaction script, -M extended / prepared: $n parameters bound by number */
    const char *script[] = {
        "BEGIN;",
        "UPDATE pgbench_accounts SET abalance = abalance + $1 WHERE aid = $2;",
        "SELECT abalance FROM pgbench_accounts WHERE aid = $1;",
        "UPDATE pgbench_tellers SET tbalance = tbalance + $1 WHERE tid = $2;",
        "UPDATE pgbench_branches SET bbalance = bbalance + $1 WHERE bid = $2;",
        "INSERT INTO pgbench_history (tid, bid, aid, delta, mtime) VALUES ($1, $2, $3, $4, CURRENT_TIMESTAMP);",
        "END;",
    };
    const int args[][4] = { { 0 }, { -17, 42 }, { 42 }, { -17, 3 }, { -17, 1 }, { 3, 1, 42, -17 }, { 0 } };
    const int nargs[] = { 0, 2, 1, 2, 2, 4, 0 };
    for (size_t i = 0; i < sizeof script / sizeof *script; i++) {
        pgsql_result *r = tr(script[i]);
        assert_true(r->action == PGSQL_SQL || r->action == PGSQL_BEGIN || r->action == PGSQL_COMMIT);
        assert_int_equal(r->nparams, nargs[i]);
        assert_int_equal(sqlite3_prepare_v2(e, r->sql.data, -1, &st, NULL), SQLITE_OK);
        for (int j = 0; j < nargs[i]; j++)
            sqlite3_bind_int(st, j + 1, args[i][j]);
        int rc = sqlite3_step(st);
        if (i == 2) {
            assert_int_equal(rc, SQLITE_ROW);
            assert_int_equal(sqlite3_column_int(st, 0), -17);
            assert_string_equal(sqlite3_column_name(st, 0), "abalance");
        } else {
            assert_int_equal(rc, SQLITE_DONE);
        }
        sqlite3_finalize(st);
    }
    /* -M simple: \set variables substituted as text */
    CHECK("UPDATE pgbench_accounts SET abalance = abalance + -4242 WHERE aid = 57943;",
          "UPDATE pgbench_accounts SET abalance = abalance + -4242 WHERE aid = 57943");
    assert_int_equal(sqlite3_prepare_v2(e, "SELECT count(*), typeof(mtime), length(mtime) FROM pgbench_history", -1, &st, NULL),
                     SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    assert_int_equal(sqlite3_column_int(st, 0), 1);
    assert_string_equal((const char *)sqlite3_column_text(st, 1), "text");
    assert_int_equal(sqlite3_column_int(st, 2), 23);   /* YYYY-MM-DD HH:MM:SS.SSS */
    sqlite3_finalize(st);
    sqlite3_close(e);
}

static void test_driver_startup(void **state)
{
    (void)state;
    /* psql, psycopg2, node-postgres and JDBC at connect time */
    CHECK("SELECT version()", "SELECT 'PostgreSQL 15.0 (litecached 0.1 on SQLite 3.40.1)' AS \"version\"");
    expect_set("SET extra_float_digits = 3", PGSQL_SET, "extra_float_digits", "3");
    expect_set("SET application_name = 'PostgreSQL JDBC Driver'", PGSQL_SET, "application_name", "PostgreSQL JDBC Driver");
    expect_set("SHOW server_version", PGSQL_SHOW, "server_version", NULL);
    expect_set("SET DateStyle=ISO", PGSQL_SET, "datestyle", "iso");
    expect_set("SHOW default_transaction_isolation", PGSQL_SHOW, "default_transaction_isolation", NULL);
    check_error("SELECT oid, typname FROM pg_type WHERE typname IN ('hstore')", "0A000", "pg_type");
    CHECK("select current_schema(), current_user", "select 'public' AS \"current_schema\", 'alice' AS \"current_user\"");
}

/* ---- limits ------------------------------------------------------------------------------------- */

static void test_limits(void **state)
{
    (void)state;
    buf b;
    buf_init(&b);
    for (int i = 0; i < 300; i++)
        buf_putc(&b, '(');
    buf_putc(&b, '1');
    for (int i = 0; i < 300; i++)
        buf_putc(&b, ')');
    buf_putc(&b, '\0');
    pgsql_result *r = tr(b.data);
    assert_int_equal(r->action, PGSQL_ERROR);
    assert_string_equal(r->sqlstate, "54001");
    /* unbalanced parentheses pass through for SQLite to reject */
    assert_int_equal(tr("SELECT (1")->action, PGSQL_SQL);
    assert_int_equal(tr("SELECT 1)")->action, PGSQL_SQL);
    /* nested generate_series cannot blow up the output */
    buf_reset(&b);
    buf_puts(&b, "SELECT * FROM generate_series(1, 2)");
    for (int i = 0; i < 40; i++) {
        buf c;
        buf_init(&c);
        buf_printf(&c, "SELECT * FROM generate_series((%.*s), 3)", (int)b.len, b.data);
        buf_free(&b);
        b = c;
    }
    buf_putc(&b, '\0');
    r = tr(b.data);
    assert_true(r->action == PGSQL_ERROR || r->sql.len <= 16 * strlen(b.data) + 4096);
    buf_free(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_params),
        cmocka_unit_test(test_casts),
        cmocka_unit_test(test_strings),
        cmocka_unit_test(test_functions),
        cmocka_unit_test(test_keywords),
        cmocka_unit_test(test_select_names),
        cmocka_unit_test(test_generate_series),
        cmocka_unit_test(test_comments_and_quotes),
        cmocka_unit_test(test_split),
        cmocka_unit_test(test_set_show),
        cmocka_unit_test(test_transactions),
        cmocka_unit_test(test_ddl),
        cmocka_unit_test(test_table_lists),
        cmocka_unit_test(test_alter_table),
        cmocka_unit_test(test_copy),
        cmocka_unit_test(test_misc_statements),
        cmocka_unit_test(test_pgbench),
        cmocka_unit_test(test_driver_startup),
        cmocka_unit_test(test_limits),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
