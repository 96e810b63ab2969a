/* test_pgsink.c - the PostgreSQL result sink: RowDescription types, DataRow text, tags, errors and their positions, the cache's rows-only form, and the helpers that reshape its output for Describe and binary Execute. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>
#include <sqlite3.h>

#include "pgsink.h"
#include "pgwire.h"

static sqlite3 *db;

static int setup(void **state)
{
    (void)state;
    assert_int_equal(sqlite3_open(":memory:", &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db,
        "CREATE TABLE t(i INTEGER, n INT, r REAL, b BOOLEAN, x BLOB, s TEXT, ts DATETIME);"
        "INSERT INTO t VALUES (1, 2, 1.5, 1, X'00ff', 'a', '2024-01-02T03:04:05');"
        "INSERT INTO t VALUES (NULL, 3, NULL, 0, NULL, NULL, '2024-01-02 03:04:06');", NULL, NULL, NULL), SQLITE_OK);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    sqlite3_close(db);
    return 0;
}

static uint32_t be32(const char *p)
{
    const unsigned char *u = (const unsigned char *)p;
    return (uint32_t)u[0] << 24 | (uint32_t)u[1] << 16 | (uint32_t)u[2] << 8 | u[3];
}

/* Run sql through the sink the way query.c does: columns after the first step, rows, done. */
static void run(pgsink *s, const char *sql, buf *out)
{
    sqlite3_stmt *st;
    assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
    int n = sqlite3_column_count(st), rc = sqlite3_step(st);
    int64_t rows = 0;
    if (n)
        s->k.columns(&s->k, st, n, out);
    for (; rc == SQLITE_ROW; rc = sqlite3_step(st), rows++)
        s->k.row(&s->k, st, n, out);
    assert_int_equal(rc, SQLITE_DONE);
    sqlite3_finalize(st);
    query_outcome o = {.rows = rows};
    s->k.done(&s->k, &o, out);
}

/* The next message's type and body (after the length). */
static const char *next_msg(const buf *b, size_t *off, char *type, size_t *len)
{
    assert_true(*off + 5 <= b->len);
    *type = b->data[*off];
    *len = be32(b->data + *off + 1) - 4;
    const char *body = b->data + *off + 5;
    *off += 5 + *len;
    return body;
}

static void test_rowdesc_types_and_rows(void **state)
{
    (void)state;
    pgsink s;
    pgsink_init(&s);
    pgsink_stmt meta = {"SELECT * FROM t", 15, "SELECT * FROM t", 15, 0, NULL, NULL, 0};
    pgsink_start(&s, &meta, 1);
    buf out;
    buf_init(&out);
    run(&s, "SELECT i, n, r, b, x, s, ts, 1 + 1, 'lit' FROM t ORDER BY rowid", &out);
    size_t off = 0, len;
    char type;
    const char *body = next_msg(&out, &off, &type, &len);
    assert_int_equal(type, 'T');
    uint32_t oids[16];
    assert_int_equal(pgsink_rowdesc_oids(out.data, 5 + len, oids, 16), 9);
    /* declared types, then the first row's value types for expressions */
    const uint32_t want[9] = {PGWIRE_INT8, PGWIRE_INT4, PGWIRE_FLOAT8, PGWIRE_BOOL, PGWIRE_BYTEA, PGWIRE_TEXT,
                              PGWIRE_TIMESTAMP, PGWIRE_INT8, PGWIRE_TEXT};
    assert_memory_equal(oids, want, sizeof want);
    assert_string_equal(body + 2, "i");
    /* first row: text forms, bool as t, blob as \x, ISO 'T' written as a space */
    body = next_msg(&out, &off, &type, &len);
    assert_int_equal(type, 'D');
    const char *want_row[9] = {"1", "2", "1.5", "t", "\\x00ff", "a", "2024-01-02 03:04:05", "2", "lit"};
    const char *p = body + 2;
    for (int i = 0; i < 9; i++) {
        uint32_t n = be32(p);
        assert_int_equal(n, strlen(want_row[i]));
        assert_memory_equal(p + 4, want_row[i], n);
        p += 4 + n;
    }
    /* second row: NULLs are -1 */
    body = next_msg(&out, &off, &type, &len);
    assert_int_equal(type, 'D');
    assert_int_equal(be32(body + 2), 0xFFFFFFFFu);
    body = next_msg(&out, &off, &type, &len);
    assert_int_equal(type, 'C');
    assert_string_equal(body, "SELECT 2");
    assert_int_equal(off, out.len);
    buf_free(&out);
    pgsink_free(&s);
}

static void test_rows_only_and_quiet(void **state)
{
    (void)state;
    pgsink s;
    pgsink_init(&s);
    s.rows_only = 1;
    buf out;
    buf_init(&out);
    run(&s, "SELECT n FROM t", &out);
    size_t off = 0, len;
    char type;
    next_msg(&out, &off, &type, &len);
    assert_int_equal(type, 'T');
    next_msg(&out, &off, &type, &len);
    next_msg(&out, &off, &type, &len);
    assert_int_equal(type, 'D');
    assert_int_equal(off, out.len); /* no CommandComplete: the cache stores exactly this */
    s.k.error(&s.k, "42P01", "no", -1, &out);
    assert_int_equal(off, out.len);
    buf_reset(&out);
    s.rows_only = 0;
    s.quiet = 1;
    pgsink_start(&s, NULL, 0);
    run(&s, "SELECT n FROM t", &out);
    assert_int_equal(out.len, 0);
    s.k.error(&s.k, "23505", "dup", -1, &out);
    assert_int_equal(out.data[0], 'E');
    assert_true(s.failed);
    assert_int_equal(s.err_end, out.len);
    buf_free(&out);
    pgsink_free(&s);
}

static void test_tags_per_statement(void **state)
{
    (void)state;
    pgsink s;
    pgsink_init(&s);
    pgsink_stmt meta[3] = {
        {"insert into t(n) values (9)", 27, NULL, 0, 0, NULL, NULL, 0},
        {"UPDATE t SET n = 1", 18, NULL, 0, 0, NULL, NULL, 0},
        {"CALL x()", 8, NULL, 0, 0, "CALL", NULL, 0},
    };
    pgsink_start(&s, meta, 3);
    buf out;
    buf_init(&out);
    query_outcome o = {.wrote = 1, .changes = 1};
    s.k.done(&s.k, &o, &out);
    o.changes = 3;
    s.k.done(&s.k, &o, &out);
    s.k.done(&s.k, &o, &out);
    size_t off = 0, len;
    char type;
    assert_string_equal(next_msg(&out, &off, &type, &len), "INSERT 0 1");
    assert_string_equal(next_msg(&out, &off, &type, &len), "UPDATE 3");
    assert_string_equal(next_msg(&out, &off, &type, &len), "CALL");
    /* A writer job run again from its start: a restartable sink starts over at the first statement. */
    s.restartable = 1;
    buf_reset(&out);
    o.changes = 1;
    s.k.done(&s.k, &o, &out);
    off = 0;
    assert_string_equal(next_msg(&out, &off, &type, &len), "INSERT 0 1");
    buf_free(&out);
    pgsink_free(&s);
}

static void test_tag_template(void **state)
{
    (void)state;
    char p[64];
    assert_int_equal(pgsink_tag_template("select 1", p, sizeof p), 1);
    assert_string_equal(p, "SELECT ");
    assert_int_equal(pgsink_tag_template("INSERT INTO t VALUES (1)", p, sizeof p), 2);
    assert_string_equal(p, "INSERT 0 ");
    assert_int_equal(pgsink_tag_template("delete from t", p, sizeof p), 2);
    assert_string_equal(p, "DELETE ");
    assert_int_equal(pgsink_tag_template("create table x(a int)", p, sizeof p), 0);
    assert_string_equal(p, "CREATE TABLE");
    /* the worked-out form gives what the lexing one gives */
    pgsink s;
    pgsink_init(&s);
    char pre[64];
    int kind = pgsink_tag_template("UPDATE t SET n = 1", pre, sizeof pre);
    pgsink_stmt st = {"UPDATE t SET n = 1", 18, NULL, 0, 0, NULL, pre, kind};
    pgsink_start(&s, &st, 1);
    buf out;
    buf_init(&out);
    query_outcome o = {.wrote = 1, .changes = 1234567890123};
    s.k.done(&s.k, &o, &out);
    size_t off = 0, len;
    char type;
    assert_string_equal(next_msg(&out, &off, &type, &len), "UPDATE 1234567890123");
    buf_free(&out);
    pgsink_free(&s);
}

/* The value of field f in an ErrorResponse body, or NULL. */
static const char *field(const char *body, size_t len, char f)
{
    for (size_t i = 0; i < len && body[i];) {
        if (body[i] == f)
            return body + i + 1;
        i += strlen(body + i) + 1;
    }
    return NULL;
}

static void test_errors_and_positions(void **state)
{
    (void)state;
    /* orig == ran: the offset maps, counted in characters, after what precedes in the query */
    pgsink_stmt st = {"SELECT ünï, bad", 17, "SELECT ünï, bad", 17, 3, NULL, NULL, 0};
    assert_int_equal(pgsink_position(&st, 14), 3 + 12 + 1);
    /* the translation differs before the offset: no position */
    pgsink_stmt tr = {"SELECT x::int, bad", 18, "SELECT CAST(x AS INTEGER), bad", 30, 0, NULL, NULL, 0};
    assert_int_equal(pgsink_position(&tr, 27), 0);
    assert_int_equal(pgsink_position(&tr, 7), 8);
    pgsink s;
    pgsink_init(&s);
    pgsink_start(&s, &st, 1);
    buf out;
    buf_init(&out);
    s.k.error(&s.k, "42703", "no such column: bad", 14, &out);
    size_t off = 0, len;
    char type;
    const char *body = next_msg(&out, &off, &type, &len);
    assert_int_equal(type, 'E');
    assert_string_equal(field(body, len, 'S'), "ERROR");
    assert_string_equal(field(body, len, 'V'), "ERROR");
    assert_string_equal(field(body, len, 'C'), "42703");
    assert_string_equal(field(body, len, 'M'), "no such column: bad");
    assert_string_equal(field(body, len, 'P'), "16");
    /* an interrupted statement is a cancelled one */
    buf_reset(&out);
    pgsink_start(&s, &st, 1);
    s.k.error(&s.k, "57014", "interrupted", -1, &out);
    off = 0;
    body = next_msg(&out, &off, &type, &len);
    assert_string_equal(field(body, len, 'M'), "canceling statement due to user request");
    assert_null(field(body, len, 'P'));
    buf_free(&out);
    pgsink_free(&s);
}

static void test_reshape_formats_and_binary(void **state)
{
    (void)state;
    pgsink s;
    pgsink_init(&s);
    pgsink_stmt meta = {"SELECT", 6, NULL, 0, 0, NULL, NULL, 0};
    pgsink_start(&s, &meta, 1);
    buf out, t, d;
    buf_init(&out);
    buf_init(&t);
    buf_init(&d);
    run(&s, "SELECT n, s, r FROM t WHERE n = 2", &out);
    char type;
    size_t tlen = pgsink_msg(out.data, out.len, &type);
    assert_int_equal(type, 'T');
    size_t dlen = pgsink_msg(out.data + tlen, out.len - tlen, &type);
    assert_int_equal(type, 'D');
    /* one code for all columns: binary */
    int16_t one = 1;
    assert_int_equal(pgsink_rowdesc_with_formats(out.data, tlen, &one, 1, &t), 0);
    assert_int_equal(t.len, tlen);
    assert_int_equal(t.data[tlen - 1], 1); /* the last column's format code */
    int16_t three[3] = {1, 0, 1};
    assert_int_equal(pgsink_rowdesc_with_formats(out.data, tlen, three, 2, &t), -1);
    uint32_t oids[3];
    assert_int_equal(pgsink_rowdesc_oids(out.data, tlen, oids, 3), 3);
    const char *state_ = NULL;
    char err[128];
    assert_int_equal(pgsink_datarow_binary(out.data + tlen, dlen, oids, 3, three, 3, &d, &state_, err, sizeof err), 0);
    /* int4 2 as 4 bytes, 'a' as text, float8 1.5 as 8 bytes */
    const char *p = d.data + 7;
    assert_int_equal(be32(p), 4);
    assert_int_equal(be32(p + 4), 2);
    p += 8;
    assert_int_equal(be32(p), 1);
    assert_int_equal(p[4], 'a');
    p += 5;
    assert_int_equal(be32(p), 8);
    assert_int_equal(be32(p + 4), 0x3FF80000u);
    assert_int_equal((size_t)(p + 12 - d.data), d.len);
    /* a malformed row is refused, not trusted */
    assert_int_equal(pgsink_datarow_binary(out.data + tlen, dlen - 1, oids, 3, three, 3, &d, &state_, err, sizeof err), -1);
    buf_free(&out);
    buf_free(&t);
    buf_free(&d);
    pgsink_free(&s);
}

static void test_rowdesc_of_prepared(void **state)
{
    (void)state;
    sqlite3_stmt *st;
    assert_int_equal(sqlite3_prepare_v2(db, "SELECT n, s, n + 1 AS e FROM t", -1, &st, NULL), SQLITE_OK);
    buf out;
    buf_init(&out);
    pgsink_rowdesc_of(st, &out);
    uint32_t oids[3];
    assert_int_equal(pgsink_rowdesc_oids(out.data, out.len, oids, 3), 3);
    assert_int_equal(oids[0], PGWIRE_INT4);
    assert_int_equal(oids[1], PGWIRE_TEXT);
    assert_int_equal(oids[2], PGWIRE_TEXT); /* no declared type and no row yet */
    sqlite3_finalize(st);
    buf_reset(&out);
    assert_int_equal(sqlite3_prepare_v2(db, "DELETE FROM t WHERE 0", -1, &st, NULL), SQLITE_OK);
    pgsink_rowdesc_of(st, &out);
    assert_int_equal(out.len, 5);
    assert_int_equal(out.data[0], 'n'); /* NoData */
    sqlite3_finalize(st);
    buf_free(&out);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rowdesc_types_and_rows),
        cmocka_unit_test(test_rows_only_and_quiet),
        cmocka_unit_test(test_tags_per_statement),
        cmocka_unit_test(test_tag_template),
        cmocka_unit_test(test_errors_and_positions),
        cmocka_unit_test(test_reshape_formats_and_binary),
        cmocka_unit_test(test_rowdesc_of_prepared),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
