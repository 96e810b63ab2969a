/* test_sqlnorm.c - unit tests for SQL cache keys: what merges, what must not, and a SQLite oracle over random statements. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <cmocka.h>
#include <sqlite3.h>

#include "buf.h"
#include "lineproto.h"
#include "sqlnorm.h"

/* ---- helpers ------------------------------------------------------------- */

/* The key of sql as a NUL-free printable string ("\0\0" terminator cut, "\0\1" shown as "\\0"),
 * in a static ring so a few can be compared in one expression. */
static const char *key(const char *sql)
{
    static char ring[8][4096];
    static int next;
    char *r = ring[next++ % 8];
    buf b;
    buf_init(&b);
    sqlnorm_hints h;
    sqlnorm_key(sql, strlen(sql), &b, &h);
    assert_false(b.oom);
    assert_true(b.len >= 2);
    assert_int_equal(b.data[b.len - 1], 0);
    assert_int_equal(b.data[b.len - 2], 0);
    size_t o = 0;
    for (size_t i = 0; i + 2 < b.len && o + 3 < sizeof ring[0]; i++) {
        if (b.data[i] == 0) {
            r[o++] = '\\';
            r[o++] = '0';
            i++;
        } else {
            r[o++] = b.data[i];
        }
    }
    r[o] = 0;
    buf_free(&b);
    return r;
}

static void key_raw(const char *sql, size_t len, buf *out, sqlnorm_hints *h)
{
    buf_reset(out);
    sqlnorm_key(sql, len, out, h);
    assert_false(out->oom);
}

#define SAME(a, b) assert_string_equal(key(a), key(b))
#define DIFF(a, b) assert_string_not_equal(key(a), key(b))
#define NORM(a, want) assert_string_equal(key(a), want)

/* ---- what merges ------------------------------------------------------------ */

static void test_case_of_keywords_and_identifiers(void **state)
{
    (void)state;
    SAME("SELECT * FROM Users WHERE ID = 1", "select * from users where id = 1");
    SAME("SELECT * FROM t WHERE a IS NOT NULL AND b LIKE 'x%' ORDER BY C DESC LIMIT 5",
         "select * from T where A is not null and B like 'x%' order by c desc limit 5");
    NORM("SELECT * FROM Users WHERE ID=1", "select * from users where id=1");
}

static void test_whitespace_runs(void **state)
{
    (void)state;
    SAME("SELECT * FROM users WHERE id=1", "select *  from users where id = 1;");
    SAME("SELECT *\n\tFROM users\r\n WHERE\fid = 1", "SELECT * FROM users WHERE id = 1");
    SAME("   SELECT * FROM t", "SELECT * FROM t   ");
    NORM("  select   *   from   t   where   a   <   b  ", "select * from t where a < b");
}

static void test_punctuation_spacing(void **state)
{
    (void)state;
    NORM("select * from t where f ( a , b ) = 1", "select * from t where f(a,b)=1");
    SAME("select * from t where a in ( 1 , 2 , 3 )", "select * from t where a in(1,2,3)");
    SAME("select * from t where a = ( select 1 )", "select * from t where a=(select 1)");
    NORM("select * from t where a == b", "select * from t where a==b");
    NORM("select 1 ; select 2 ;", "select 1;select 2");
}

static void test_trailing_semicolons_and_comments(void **state)
{
    (void)state;
    SAME("SELECT * FROM t", "SELECT * FROM t;");
    SAME("SELECT * FROM t", "SELECT * FROM t ; ; ");
    SAME("SELECT * FROM t", "SELECT * FROM t; -- done");
    SAME("SELECT * FROM t", "SELECT * FROM t; /* done */");
    SAME("SELECT * FROM t WHERE a=1", "SELECT * FROM t -- all of it\nWHERE /* the key */ a = 1");
    SAME("SELECT * FROM t WHERE a=1", "/* lead */ SELECT * FROM t WHERE a=1 -- trail");
    NORM(";", "");
    NORM("", "");
    NORM("  \n ", "");
    NORM("-- only a comment", "");
}

static void test_hints(void **state)
{
    (void)state;
    buf b;
    buf_init(&b);
    sqlnorm_hints h;
    const char *q = "SELECT /*+ ttl=300 */ * FROM t";
    key_raw(q, strlen(q), &b, &h);
    assert_int_equal(h.ttl, 300);
    assert_int_equal(h.nocache, 0);
    SAME(q, "SELECT * FROM t");
    SAME("SELECT * FROM t /*+ nocache */", "SELECT * FROM t");

    q = "select /*+ TTL=5, NoCache */ * from t where a=1 /*+ttl=7*/";
    key_raw(q, strlen(q), &b, &h);
    assert_int_equal(h.ttl, 7); /* the last one wins */
    assert_int_equal(h.nocache, 1);

    q = "select /*+ ttl=0 */ 1";
    key_raw(q, strlen(q), &b, &h);
    assert_int_equal(h.ttl, 0);

    q = "select /*+ ttl=2147483647 */ 1";
    key_raw(q, strlen(q), &b, &h);
    assert_int_equal(h.ttl, 2147483647);

    /* Bad values are ignored, keeping an earlier good one. */
    const char *bad[] = {
        "ttl=2147483648", "ttl=99999999999999999999999", "ttl=-1", "ttl=", "ttl=5x", "ttl = 5",
        "ttl=0x10", "ttlx=5", "nocachex", "cache",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char sql[128];
        snprintf(sql, sizeof sql, "select /*+ ttl=9 */ 1 from t /*+ %s */", bad[i]);
        key_raw(sql, strlen(sql), &b, &h);
        assert_int_equal(h.ttl, 9);
        assert_int_equal(h.nocache, 0);
    }

    /* Defaults, and not-hints: strings, plain comments, line comments, unterminated hint. */
    const char *none[] = {
        "select * from t",
        "select '/*+ ttl=5 nocache */' from t",
        "select * from t where a = '/*+ ttl=5 */'",
        "select * from t /* ttl=5 nocache */",
        "select * from t -- +ttl=5 nocache",
        "select \"/*+ ttl=5 */\" from t",
        "select [/*+ ttl=5 */] from t",
        "select $a(/*+ttl=5*/) from t",
    };
    for (size_t i = 0; i < sizeof none / sizeof none[0]; i++) {
        h.ttl = 42;
        h.nocache = 42;
        key_raw(none[i], strlen(none[i]), &b, &h);
        assert_int_equal(h.ttl, -1);
        assert_int_equal(h.nocache, 0);
    }
    q = "select 1 from t /*+ ttl=11";
    key_raw(q, strlen(q), &b, &h); /* an unterminated comment still is one: to the end */
    assert_int_equal(h.ttl, 11);
    DIFF("select '/*+ ttl=5 */' from t", "select '' from t");
    buf_free(&b);
}

/* ---- what must not merge -------------------------------------------------- */

static void test_literals_kept(void **state)
{
    (void)state;
    DIFF("select * from t where a='A'", "select * from t where a='a'");
    DIFF("select * from t where a='Hello  World'", "select * from t where a='Hello World'");
    DIFF("select * from t where a='it''s'", "select * from t where a='it' 's'");
    DIFF("select * from t where a='--x'", "select * from t where a=''");
    DIFF("select * from t where a='/* c */'", "select * from t where a=''");
    NORM("select * from t where a = '--x' and b = '/* y */'", "select * from t where a='--x' and b='/* y */'");
    NORM("select * from t where a='  A  B  '", "select * from t where a='  A  B  '");
}

static void test_quoted_identifiers_and_parameters_kept(void **state)
{
    (void)state;
    DIFF("select * from t where \"Id\"=1", "select * from t where \"id\"=1");
    DIFF("select * from t where [Id]=1", "select * from t where [id]=1");
    DIFF("select * from t where `Id`=1", "select * from t where `id`=1");
    DIFF("select * from t where \"id\"=1", "select * from t where id=1"); /* merging them is allowed, not done */
    DIFF("select * from t where id=:Id", "select * from t where id=:id");
    DIFF("select * from t where id=@Id", "select * from t where id=@id");
    DIFF("select * from t where id=$Id", "select * from t where id=$id");
    DIFF("select * from t where id=?1", "select * from t where id=?");
    NORM("SELECT * FROM T WHERE X = :Name AND Y = $A::B AND Z = @Q", "select * from t where x=:Name and y=$A::B and z=@Q");
}

static void test_tokens_never_fuse(void **state)
{
    (void)state;
    DIFF("select a - -1 from t", "select a from t");
    DIFF("a - -1", "a");
    NORM("a - -1", "a - -1");
    NORM("a--1", "a");
    DIFF("x <= 1", "x < = 1");
    NORM("x < = 1", "x < =1");
    NORM("x <= 1", "x <= 1");
    DIFF("x = = 1", "x == 1");
    DIFF("x ! = 1", "x != 1");
    DIFF("x > = 1", "x >= 1");
    DIFF("x < > 1", "x <> 1");
    DIFF("x < < 1", "x << 1");
    DIFF("x > > 1", "x >> 1");
    DIFF("x | | 1", "x || 1");
    DIFF("a / *b", "a /*b");
    DIFF("a - > b", "a -> b");
    DIFF("a -> > b", "a ->> b");
    DIFF("1 .5", "1.5");
    NORM("1 .5", "1 .5");
    DIFF("e 1", "e1");
    DIFF("x 'AB'", "x'AB'");
    DIFF("'a' 'b'", "'a''b'");
    DIFF("select $a (b) from t", "select $a(b) from t");
    DIFF("select :a (b) from t", "select :a(b) from t");
    DIFF("select 1 from t where a=$x (1)", "select 1 from t where a=$x(1)");
    NORM("select 1 from t where a = ( 1 )", "select 1 from t where a=(1)");
    /* A comment between two tokens is a separator too. */
    NORM("select 1 from t where a/**/-/**/-1", "select 1 from t where a - -1");
    NORM("select 1 from t where a</**/=1", "select 1 from t where a< =1");
    NORM("select 1 from t where 1/**/.5", "select 1 from t where 1 .5");
}

static void test_unterminated_and_odd_input(void **state)
{
    (void)state;
    const char *odd[] = {
        "select 'abc", "select \"abc", "select [abc", "select `abc", "select x'ab", "select x'abc'",
        "select 1 /* never closed", "select 1 /*", "select 1 /", "select 1 -- x", "select $a(b",
        "select $", "select :", "select ?", "select !", "select \x0b", "select \xef\xbb\xbf 1",
        "select \xc3\xa9", "/*/ select 1", "'", "\"", "[", "x'", "-", "/*", "$a(", "0x", "1e", "1e+",
        "select \xef\xbb\xbf\x0b, 1", "select a /**/\x0b", "a /**/\x0b b",
    };
    for (size_t i = 0; i < sizeof odd / sizeof odd[0]; i++) {
        char a[64];
        snprintf(a, sizeof a, "%s", key(odd[i]));
        assert_string_equal(a, key(odd[i]));
        /* Output is idempotent. */
        assert_string_equal(a, key(a));
    }
    DIFF("select 'abc", "select 'abc'");
    DIFF("select 1 /*", "select 1"); /* a slash-star at the very end is a slash and a star */
    DIFF("select * from t /*", "select * from t");
    NORM("select * from t /*", "select * from t /*"); /* still two tokens to SQLite */
    /* 3.40 ends a hex literal at its last hex digit: 0x1G is 0x1 and an identifier G. */
    NORM("select * from t where a=0x1G", "select * from t where a=0x1g");
    NORM("select * from t where a=0X1FG", "select * from t where a=0X1Fg");
    SAME("select 1 from t /* x", "select 1 from t");
    DIFF("select 1 /* x", "select 1"); /* in a result column: part of its name */
    DIFF("select 1 from t /*/", "select 1 from t /");
    SAME("select 1 from t /*/", "select 1 from t");
    DIFF("select x'ab", "select x'ab'");
    /* A BOM where a token starts is a space; inside an identifier it is part of it. */
    SAME("select \xef\xbb\xbf 1 from t", "select 1 from t");
    DIFF("select a\xef\xbb\xbf from t", "select a from t");
    /* \v cannot start a run of spaces but can continue one. */
    DIFF("select 1 from t where\x0b" "a", "select 1 from t where a");
    SAME("select 1 from t where \x0b" "a", "select 1 from t where a");
    /* An illegal \v token after a gap: a space before it would make it part of the space. */
    NORM("select 1 from t /**/\x0b", "select 1 from t\x0b");
    NORM("select \xef\xbb\xbf\x0b, 1", "select\x0b,1");
    DIFF("select 1 from t /**/\x0b", "select 1 from t \x0b");
}

static void test_nul_bytes(void **state)
{
    (void)state;
    buf b;
    buf_init(&b);
    sqlnorm_hints h;
    /* SQLite stops at NUL: a comment or string must not run past it. */
    const char in1[] = "select 1 -- x\0\nwhere a";
    key_raw(in1, sizeof in1 - 1, &b, &h);
    const char want1[] = "select 1 -- x\0\1 where a\0"; /* plus the terminator's second NUL */
    assert_int_equal(b.len, sizeof want1);
    assert_memory_equal(b.data, want1, sizeof want1);
    const char in2[] = "select * from t where a='x\0' or b=1";
    key_raw(in2, sizeof in2 - 1, &b, &h);
    const char want2[] = "select * from t where a='x\0\1' or b=1\0";
    assert_int_equal(b.len, sizeof want2);
    assert_memory_equal(b.data, want2, sizeof want2);
    const char in5[] = "select * from t where a=[x\0] /* y\0 */";
    key_raw(in5, sizeof in5 - 1, &b, &h);
    const char want5[] = "select * from t where a=[x\0\1] \0\1 */\0"; /* the comment stopped at the NUL */
    assert_int_equal(b.len, sizeof want5);
    assert_memory_equal(b.data, want5, sizeof want5);
    /* The NUL is escaped as 00 01, the terminator is 00 00. */
    const char in3[] = "a\0b";
    key_raw(in3, 3, &b, &h);
    assert_int_equal(b.len, 6);
    assert_memory_equal(b.data, "a\0\1b\0\0", 6);
    /* The string stops at the NUL, unterminated; what follows is read afresh. */
    const char in4[] = "'x\0y'";
    key_raw(in4, 5, &b, &h);
    assert_int_equal(b.len, 8);
    assert_memory_equal(b.data, "'x\0\1y'\0\0", 8);
    /* Never reads past len: the input is not NUL-terminated. */
    char *p = malloc(6);
    memcpy(p, "select", 6);
    key_raw(p, 6, &b, &h);
    assert_memory_equal(b.data, "select\0\0", 8);
    key_raw(p, 1, &b, &h);
    assert_memory_equal(b.data, "s\0\0", 3);
    free(p);
    key_raw(NULL, 0, &b, &h);
    assert_int_equal(b.len, 2);
    buf_free(&b);
}

static void test_blob_literals(void **state)
{
    (void)state;
    /* X'AB' and x'ab' are the same blob, but SQLite compares the literal text when matching
     * expressions, so none of them is merged. */
    DIFF("select * from t where a=X'AB'", "select * from t where a=x'ab'");
    DIFF("select * from t where a=X'AB'", "select * from t where a=x'AB'");
    DIFF("select * from t where a=x'AB'", "select * from t where a=x'ab'");
}

/* The places where SQLite keeps source text: result column names, CAST types, CTE columns. */
static void test_source_text_that_sqlite_keeps(void **state)
{
    (void)state;
    /* Result column names come from the text of the list. */
    DIFF("SELECT COUNT(*) FROM t", "select count(*) from t");
    DIFF("SELECT a+1 FROM t", "SELECT a + 1 FROM t");
    DIFF("SELECT a+1 /*x*/ FROM t", "SELECT a+1 FROM t");
    DIFF("SELECT a AS Foo FROM t", "SELECT a AS foo FROM t");
    DIFF("SELECT \"a+1\" FROM (SELECT a + 1 FROM t)", "SELECT \"a+1\" FROM (SELECT a+1 FROM t)");
    DIFF("SELECT * FROM (SELECT a  +  1 FROM t)", "SELECT * FROM (SELECT a + 1 FROM t)");
    DIFF("SELECT 1 RETURNING a+1", "SELECT 1 RETURNING a + 1");
    /* ... but not the gaps SQLite trims or never looks at. */
    SAME("SELECT  a+1 ,  b  FROM t", "select a+1,b from t");
    SAME("SELECT /* c */ a+1, /* d */ b FROM t", "select a+1,b from t");
    SAME("SELECT DISTINCT   a FROM t", "select distinct a from t");
    SAME("SELECT a FROM t WHERE B = 1 ORDER BY C", "SELECT a from T where b=1 order by c");
    SAME("SELECT a FROM t UNION SELECT b FROM u", "SELECT a FROM T  union  SELECT b  FROM u");
    SAME("SELECT (SELECT a FROM t) FROM u", "SELECT (SELECT a FROM t)  FROM  u");
    /* A BOM is a space to SQLite's tokenizer, but not to the trimming of a column's text. */
    DIFF("SELECT 1 \xef\xbb\xbf, 2 FROM t", "SELECT 1, 2 FROM t");
    SAME("SELECT \xef\xbb\xbf 1, \xef\xbb\xbf 2 FROM t", "SELECT 1, 2 FROM t");
    SAME("SELECT 1, 2 FROM t \xef\xbb\xbf WHERE a=1", "SELECT 1, 2 FROM t WHERE a=1");
    /* IS DISTINCT FROM does not end the list. */
    DIFF("SELECT a IS DISTINCT FROM b, c + 1 FROM t", "SELECT a IS DISTINCT FROM b, c+1 FROM t");
    /* CAST types, TRUE/FALSE and numbers are compared case-sensitively by SQLite. */
    DIFF("select * from t where CAST(a AS INT)=1", "select * from t where cast(a as int)=1");
    SAME("select * from t where CAST( a AS INT )=1", "select * from t where cast(A as INT)=1");
    DIFF("select * from t where cast(a as unsigned  big int)=1", "select * from t where cast(a as unsigned big int)=1");
    DIFF("select * from t where a=TRUE", "select * from t where a=true");
    DIFF("select * from t where a=1E5", "select * from t where a=1e5");
    DIFF("select * from t where a=0X1F", "select * from t where a=0x1f");
    /* CTE column lists name columns. */
    DIFF("WITH c(Foo) AS (SELECT 1) SELECT * FROM c", "with c(foo) as (select 1) select * from c");
    SAME("WITH c(Foo) AS (SELECT 1) SELECT * FROM c", "with C ( Foo ) as ( SELECT 1 ) select * FROM c");
    /* Statements that print or store their text are kept whole. */
    DIFF("EXPLAIN QUERY PLAN SELECT * FROM t AS Foo", "explain query plan select * from t as foo");
    DIFF("CREATE TABLE Foo(a)", "create table foo(a)");
    DIFF("PRAGMA table_info(Foo)", "pragma table_info(foo)");
}

/* ---- parameter values -------------------------------------------------------- */

static void args_key(buf *b, const lp_arg *a, int n)
{
    buf_reset(b);
    sqlnorm_key("select ?", 8, b, NULL);
    sqlnorm_key_args(b, a, n);
    assert_false(b->oom);
}

static int args_equal(const lp_arg *a, int na, const lp_arg *c, int nc)
{
    buf x, y;
    buf_init(&x);
    buf_init(&y);
    args_key(&x, a, na);
    args_key(&y, c, nc);
    int eq = x.len == y.len && memcmp(x.data, y.data, x.len) == 0;
    buf_free(&x);
    buf_free(&y);
    return eq;
}

static lp_arg A_NULL(void) { lp_arg a = { .type = LP_ARG_NULL }; return a; }
static lp_arg A_INT(int64_t v) { lp_arg a = { .type = LP_ARG_INT, .i = v }; return a; }
static lp_arg A_REAL(double v) { lp_arg a = { .type = LP_ARG_REAL, .d = v }; return a; }
static lp_arg A_TEXT(const char *s) { lp_arg a = { .type = LP_ARG_TEXT, .s = s, .len = strlen(s) }; return a; }

static void test_args_types_differ(void **state)
{
    (void)state;
    lp_arg v[] = { A_INT(1), A_REAL(1.0), A_TEXT("1"), A_NULL(), A_INT(0), A_REAL(0.0), A_REAL(-0.0), A_TEXT("") };
    int n = (int)(sizeof v / sizeof v[0]);
    for (int i = 0; i < n; i++)
        for (int j = 0; j < n; j++)
            assert_int_equal(args_equal(&v[i], 1, &v[j], 1), i == j);
    /* No args, one NULL arg and an empty text all differ. */
    lp_arg nul = A_NULL(), empty = A_TEXT("");
    assert_false(args_equal(NULL, 0, &nul, 1));
    assert_false(args_equal(NULL, 0, &empty, 1));
    assert_true(args_equal(NULL, 0, NULL, 0));
}

static void test_args_boundaries(void **state)
{
    (void)state;
    lp_arg a[] = { A_TEXT("a"), A_TEXT("bc") }, b[] = { A_TEXT("ab"), A_TEXT("c") };
    assert_false(args_equal(a, 2, b, 2));
    lp_arg c[] = { A_TEXT("a"), A_TEXT("") }, d[] = { A_TEXT("a") };
    assert_false(args_equal(c, 2, d, 1));
    lp_arg e[] = { A_INT(1), A_INT(2) }, f[] = { A_INT(1), A_INT(2) };
    assert_true(args_equal(e, 2, f, 2));
    /* Text that spells out another arg's encoding stays distinct. */
    char fake[16] = { 'I', 1, 0, 0, 0, 0, 0, 0, 0 };
    lp_arg g[] = { { .type = LP_ARG_TEXT, .s = fake, .len = 9 } }, h[] = { A_INT(1) };
    assert_false(args_equal(g, 1, h, 1));
    lp_arg i64[] = { A_INT(INT64_MIN) }, i64b[] = { A_INT(INT64_MAX) };
    assert_false(args_equal(i64, 1, i64b, 1));
}

static void test_args_many(void **state)
{
    (void)state;
    enum { N = 300 };
    lp_arg a[N], b[N];
    char texts[N][16];
    for (int i = 0; i < N; i++) {
        snprintf(texts[i], sizeof texts[i], "v%d", i);
        switch (i % 4) {
        case 0: a[i] = A_INT(i); break;
        case 1: a[i] = A_REAL(i / 3.0); break;
        case 2: a[i] = A_TEXT(texts[i]); break;
        default: a[i] = A_NULL(); break;
        }
        b[i] = a[i];
    }
    assert_true(args_equal(a, N, b, N));
    for (int i = 0; i < N; i += 37) {
        lp_arg keep = b[i];
        b[i] = (i % 4 == 3) ? A_INT(0) : A_NULL();
        assert_false(args_equal(a, N, b, N));
        b[i] = keep;
    }
    assert_false(args_equal(a, N, b, N - 1));
}

/* The SQL part is prefix-free: no SQL key is a prefix of another, so sql+args never collide. */
static void test_sql_part_prefix_free(void **state)
{
    (void)state;
    const char *sqls[] = { "select 1", "select 1 ", "select 12", "select '1'", "", "a\0", "a" };
    size_t lens[] = { 8, 9, 9, 10, 0, 2, 1 };
    buf x, y;
    buf_init(&x);
    buf_init(&y);
    for (size_t i = 0; i < 7; i++) {
        for (size_t j = 0; j < 7; j++) {
            key_raw(sqls[i], lens[i], &x, NULL);
            key_raw(sqls[j], lens[j], &y, NULL);
            if (x.len == y.len && memcmp(x.data, y.data, x.len) == 0)
                continue;
            size_t m = x.len < y.len ? x.len : y.len;
            assert_false(memcmp(x.data, y.data, m) == 0);
        }
    }
    buf_free(&x);
    buf_free(&y);
}

/* ---- random statements: generator ----------------------------------------------- */

static uint64_t rng_state;
static uint64_t rnd(void)
{
    uint64_t x = rng_state;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    rng_state = x;
    return x * 0x2545F4914F6CDD1DULL;
}
static int rn(int n) { return (int)(rnd() % (uint64_t)n); }

enum { G_KW, G_ID, G_LIT, G_OP, G_PUNCT, G_PARAM };

typedef struct gtok {
    char text[40];
    int  kind;
    int  span;      /* > 0: part of text SQLite keeps (a result column, a CAST type): rendered alike */
    int  keep_case; /* its case is significant: rendered alike */
} gtok;

typedef struct gstmt {
    gtok t[512];
    int  n;
    int  span;      /* current span id while generating, 0 outside */
    int  nspan;
    int  keep_case;
    int  depth;     /* expression nesting budget */
} gstmt;

static void push(gstmt *g, int kind, const char *text)
{
    if (g->n >= (int)(sizeof g->t / sizeof g->t[0]))
        return;
    gtok *t = &g->t[g->n++];
    snprintf(t->text, sizeof t->text, "%s", text);
    t->kind = kind;
    t->span = g->span;
    t->keep_case = g->keep_case || g->span;
}

static const char *pick(const char *const *list, int n) { return list[rn(n)]; }
#define PICK(arr) pick(arr, (int)(sizeof arr / sizeof arr[0]))

static void gen_select(gstmt *g, int simple);

static void gen_expr(gstmt *g)
{
    static const char *const cols[] = { "a", "b", "c", "t.a", "rowid" };
    static const char *const lits[] = {
        "1", "2", "0", "1.5", ".5", "1.", "1e2", "1E2", "0x10", "0X1f", "'x'", "'X'", "'it''s'", "'--x'",
        "'/*'", "'a  b'", "NULL", "x'AB'", "X'ab'", "TRUE", "false", "'/*+ ttl=5 */'", "''",
    };
    static const char *const params[] = { "?", "?2", ":p", ":P", "@q", "$r", "$s::t", "$u(v)" };
    static const char *const binops[] = {
        "+", "-", "*", "/", "%", "||", "=", "==", "<>", "!=", "<", "<=", ">", ">=", "AND", "OR",
        "IS", "<<", ">>", "&", "|", "LIKE", "GLOB", "->", "->>",
    };
    static const char *const funcs[] = { "abs", "lower", "UPPER", "length", "coalesce", "typeof", "max", "count" };
    static const char *const types[] = { "INT", "int", "TEXT", "Real", "NUMERIC" };
    if (--g->depth <= 0) {
        int r = rn(3);
        if (r == 0)
            push(g, G_ID, PICK(cols));
        else if (r == 1)
            push(g, G_LIT, PICK(lits));
        else
            push(g, G_PARAM, PICK(params));
        g->depth++;
        return;
    }
    switch (rn(16)) {
    case 0: case 1: push(g, G_ID, PICK(cols)); break;
    case 2: case 3: push(g, G_LIT, PICK(lits)); break;
    case 4: push(g, G_PARAM, PICK(params)); break;
    case 5: case 6: case 7: {
        const char *op = PICK(binops);
        gen_expr(g);
        push(g, op[0] >= 'A' ? G_KW : G_OP, op);
        gen_expr(g);
        break;
    }
    case 8:
        if (rn(2))
            push(g, G_OP, "-");
        else
            push(g, G_KW, "NOT");
        gen_expr(g);
        break;
    case 9:
        push(g, G_PUNCT, "(");
        gen_expr(g);
        push(g, G_PUNCT, ")");
        break;
    case 10: {
        const char *f = PICK(funcs);
        push(g, G_ID, f);
        push(g, G_PUNCT, "(");
        if (!strcmp(f, "count") && rn(2)) {
            push(g, G_OP, "*");
        } else {
            gen_expr(g);
            if (!strcmp(f, "coalesce") || !strcmp(f, "max")) {
                push(g, G_PUNCT, ",");
                gen_expr(g);
            }
        }
        push(g, G_PUNCT, ")");
        break;
    }
    case 11: {
        push(g, G_KW, "CAST");
        push(g, G_PUNCT, "(");
        gen_expr(g);
        push(g, G_KW, "AS");
        /* The type's text, inner spaces and comments included, is compared as a string. */
        int outer = g->span;
        if (!outer)
            g->span = ++g->nspan;
        int r = rn(7);
        if (r == 5) {
            push(g, G_ID, "unsigned");
            push(g, G_ID, "BIG");
            push(g, G_ID, "int");
        } else if (r == 6) {
            push(g, G_ID, "VARCHAR");
            push(g, G_PUNCT, "(");
            push(g, G_LIT, "10");
            push(g, G_PUNCT, ")");
        } else {
            push(g, G_ID, types[r]);
        }
        g->span = outer;
        push(g, G_PUNCT, ")");
        break;
    }
    case 12:
        push(g, G_KW, "CASE");
        push(g, G_KW, "WHEN");
        gen_expr(g);
        push(g, G_KW, "THEN");
        gen_expr(g);
        if (rn(2)) {
            push(g, G_KW, "ELSE");
            gen_expr(g);
        }
        push(g, G_KW, "END");
        break;
    case 13:
        gen_expr(g);
        if (rn(2))
            push(g, G_KW, "NOT");
        push(g, G_KW, "IN");
        push(g, G_PUNCT, "(");
        if (rn(2)) {
            gen_select(g, 1);
        } else {
            gen_expr(g);
            push(g, G_PUNCT, ",");
            gen_expr(g);
        }
        push(g, G_PUNCT, ")");
        break;
    case 14:
        push(g, G_PUNCT, "(");
        gen_select(g, 1);
        push(g, G_PUNCT, ")");
        break;
    default:
        gen_expr(g);
        push(g, G_KW, "IS");
        if (rn(2))
            push(g, G_KW, "NOT");
        push(g, G_KW, rn(3) ? "NULL" : "DISTINCT");
        if (!strcmp(g->t[g->n - 1].text, "DISTINCT")) {
            push(g, G_KW, "FROM");
            gen_expr(g);
        }
        break;
    }
    g->depth++;
}

/* One result column; its tokens form a span (or belong to the enclosing one). */
static void gen_item(gstmt *g)
{
    static const char *const aliases[] = { "x", "X", "Foo", "\"q r\"", "'s'" };
    int outer = g->span;
    if (!outer)
        g->span = ++g->nspan;
    int r = rn(8);
    if (r == 0) {
        push(g, G_OP, "*");
    } else if (r == 1) {
        push(g, G_ID, "t");
        push(g, G_OP, ".");
        push(g, G_OP, "*");
    } else {
        gen_expr(g);
        if (r == 2) {
            push(g, G_KW, "AS");
            push(g, G_ID, PICK(aliases));
        }
    }
    g->span = outer;
}

static void gen_select(gstmt *g, int simple)
{
    push(g, G_KW, "SELECT");
    if (rn(4) == 0)
        push(g, G_KW, rn(2) ? "DISTINCT" : "ALL");
    int items = simple ? 1 : 1 + rn(3);
    for (int i = 0; i < items; i++) {
        if (i)
            push(g, G_PUNCT, ",");
        gen_item(g);
    }
    push(g, G_KW, "FROM");
    int r = rn(6);
    if (r == 0) {
        /* A subquery whose column names come from its text, looked up by a quoted name. */
        push(g, G_PUNCT, "(");
        gen_select(g, rn(2));
        push(g, G_PUNCT, ")");
        push(g, G_ID, "s");
    } else if (r == 1) {
        push(g, G_ID, "t");
        push(g, G_KW, "JOIN");
        push(g, G_ID, "u");
        push(g, G_KW, "USING");
        push(g, G_PUNCT, "(");
        push(g, G_ID, "a");
        push(g, G_PUNCT, ")");
    } else {
        push(g, G_ID, rn(2) ? "t" : "T");
        if (rn(3) == 0) {
            push(g, G_KW, "AS");
            push(g, G_ID, "tt");
        }
    }
    if (rn(2)) {
        push(g, G_KW, "WHERE");
        gen_expr(g);
    }
    if (!simple && rn(4) == 0) {
        push(g, G_KW, "GROUP");
        push(g, G_KW, "BY");
        gen_expr(g);
    }
}

/* A column whose name is its text, for a quoted name to match or miss. */
static void gen_named_item(gstmt *g)
{
    g->span = ++g->nspan;
    switch (rn(4)) {
    case 0:
        push(g, G_ID, "a");
        push(g, G_OP, "+");
        push(g, G_LIT, "1");
        break;
    case 1:
        push(g, G_ID, "count");
        push(g, G_PUNCT, "(");
        push(g, G_OP, "*");
        push(g, G_PUNCT, ")");
        break;
    case 2:
        push(g, G_ID, "b");
        break;
    default:
        gen_expr(g);
        break;
    }
    g->span = 0;
}

static void gen_stmt(gstmt *g)
{
    static const char *const quoted[] = {
        "\"a+1\"", "\"a + 1\"", "\"A+1\"", "\"count(*)\"", "\"COUNT(*)\"", "\"count( * )\"", "\"b\"", "[a+1]",
    };
    memset(g, 0, sizeof *g);
    g->depth = 4;
    int r = rn(10);
    if (r == 0) {
        push(g, G_KW, "WITH");
        push(g, G_ID, "c");
        push(g, G_PUNCT, "(");
        g->keep_case = 1;
        push(g, G_ID, rn(2) ? "Foo" : "foo");
        push(g, G_PUNCT, ",");
        push(g, G_ID, rn(2) ? "Bar" : "bar");
        g->keep_case = 0;
        push(g, G_PUNCT, ")");
        push(g, G_KW, "AS");
        push(g, G_PUNCT, "(");
        push(g, G_KW, "SELECT");
        g->span = ++g->nspan;
        gen_expr(g);
        g->span = 0;
        push(g, G_PUNCT, ",");
        g->span = ++g->nspan;
        gen_expr(g);
        g->span = 0;
        push(g, G_KW, "FROM");
        push(g, G_ID, "t");
        push(g, G_PUNCT, ")");
        push(g, G_KW, "SELECT");
        g->span = ++g->nspan;
        push(g, G_OP, "*");
        g->span = 0;
        push(g, G_KW, "FROM");
        push(g, G_ID, "c");
    } else if (r == 1) {
        /* A quoted name that may or may not match a column named by its text. */
        push(g, G_KW, "SELECT");
        g->span = ++g->nspan;
        push(g, G_ID, PICK(quoted));
        g->span = 0;
        push(g, G_KW, "FROM");
        push(g, G_PUNCT, "(");
        push(g, G_KW, "SELECT");
        gen_named_item(g);
        push(g, G_KW, "FROM");
        push(g, G_ID, "t");
        push(g, G_PUNCT, ")");
    } else {
        gen_select(g, 0);
        if (rn(3) == 0) {
            push(g, G_KW, rn(2) ? "UNION" : "EXCEPT");
            gen_select(g, 0);
            if (rn(2)) {
                /* A compound's ORDER BY must match a result column by its expression. */
                push(g, G_KW, "ORDER");
                push(g, G_KW, "BY");
                gen_expr(g);
            }
        } else if (rn(3) == 0) {
            push(g, G_KW, "ORDER");
            push(g, G_KW, "BY");
            gen_expr(g);
            push(g, G_KW, rn(2) ? "DESC" : "asc");
        }
        if (rn(4) == 0) {
            push(g, G_KW, "LIMIT");
            push(g, G_LIT, "5");
        }
    }
}

/* ---- random statements: rendering ---------------------------------------------- */

static int is_word(const gtok *t) { return t->kind == G_KW || t->kind == G_ID || t->kind == G_PARAM || (t->kind == G_LIT && t->text[0] != '\'' && (t->text[0] | 0x20) != 'x'); }
static int is_punct(const gtok *t) { return t->kind == G_PUNCT && strchr("(),;", t->text[0]); }
static int is_sticky(const gtok *t) { return t->kind == G_PARAM && t->text[0] != '?'; }
static int is_safe_op(const gtok *t) { return t->kind == G_OP && strcmp(t->text, ".") != 0; }
static int is_eq(const gtok *t) { return t->kind == G_OP && (!strcmp(t->text, "=") || !strcmp(t->text, "==")); }

/* Whether sqlnorm may drop the gap between a and b (its documented rule); elsewhere a gap and
 * no gap are different keys, so both renderings must agree on having one. */
static int droppable(const gtok *a, const gtok *b)
{
    const char *fuse = "<>!=";
    if (is_punct(a) || (is_punct(b) && !is_sticky(a)))
        return 1;
    if (is_eq(a) && !strchr(fuse, b->text[0]))
        return 1;
    return is_eq(b) && !is_sticky(a) && !strchr(fuse, a->text[strlen(a->text) - 1]);
}

/* Whether a and b can touch without fusing into other tokens. */
static int may_touch(const gtok *a, const gtok *b)
{
    if (is_punct(a) || (is_punct(b) && !is_sticky(a)))
        return 1;
    if (is_word(a) && is_safe_op(b) && !is_sticky(a))
        return 1;
    if (is_safe_op(a) && is_word(b) && b->kind != G_PARAM)
        return 1;
    return 0;
}

static const char *const seps_any[] = {
    " ", "  ", "\n", "\t", "\r\n", "\f", " /* c */ ", "/**/", " -- c\n", " /*+ ttl=5 */ ", "\n\t ",
};
static const char *const seps_space[] = { " ", "  ", "\n", "\t", "\r\n", "\f", "\n \t" };

static void render_case(char *dst, const char *src, int style)
{
    size_t i = 0;
    for (; src[i]; i++) {
        char c = src[i];
        int up = style == 1 || (style == 2 && (i % 2)) || (style == 3 && (i * 5 + 1) % 3 == 0);
        if (src[0] == '"' || src[0] == '[' || src[0] == '\'' || src[0] == '`')
            up = -1;
        if (up == 1 && c >= 'a' && c <= 'z')
            c = (char)(c - 32);
        else if (up == 0 && c >= 'A' && c <= 'Z')
            c = (char)(c + 32);
        dst[i] = c;
    }
    dst[i] = 0;
}

/* Render g. Tokens and gaps that SQLite keeps as text come from `fixed` (the same for both
 * renderings); the rest from this rendering's own random choices. all_free: vary everything. */
typedef struct fixed_choice {
    int gap[512];
    int tcase[512];
} fixed_choice;

static void render(const gstmt *g, const fixed_choice *fx, int all_free, char *out, size_t cap)
{
    size_t o = 0;
    char tmp[64];
#define EMIT(s)                                                  \
    do {                                                         \
        const char *s_ = (s);                                    \
        size_t l_ = strlen(s_);                                  \
        if (o + l_ + 1 < cap) {                                  \
            memcpy(out + o, s_, l_);                             \
            o += l_;                                             \
        }                                                        \
    } while (0)
    if (rn(3) == 0)
        EMIT(rn(2) ? "  " : "/* lead */ ");
    for (int i = 0; i < g->n; i++) {
        const gtok *t = &g->t[i];
        if (i > 0) {
            const gtok *p = &g->t[i - 1];
            int touch = may_touch(p, t);
            int kept = !all_free && p->span && p->span == t->span;    /* inside a column's text */
            int trimmed = !all_free && p->span && p->span != t->span; /* after it: spaces only */
            if (kept) {
                int k = fx->gap[i];
                EMIT(k < 0 && touch ? "" : seps_any[(k < 0 ? -k : k) % (int)(sizeof seps_any / sizeof seps_any[0])]);
            } else {
                int drop = droppable(p, t);
                int none = touch && (drop ? rn(2) : fx->gap[i] < 0);
                if (all_free)
                    none = touch && rn(2);
                EMIT(none ? "" : trimmed ? PICK(seps_space) : PICK(seps_any));
            }
        }
        /* Literals outside kept text are written as generated: TRUE vs true is significant. */
        if (t->kind == G_KW || t->kind == G_ID || (t->kind == G_LIT && t->keep_case))
            render_case(tmp, t->text, (!all_free && t->keep_case) ? fx->tcase[i] : rn(4));
        else
            snprintf(tmp, sizeof tmp, "%s", t->text);
        EMIT(tmp);
    }
    switch (rn(5)) {
    case 0: EMIT(";"); break;
    case 1: EMIT(" ; -- end"); break;
    case 2: EMIT("  "); break;
    default: break;
    }
    out[o] = 0;
#undef EMIT
}

static void fixed_init(fixed_choice *fx)
{
    for (int i = 0; i < 512; i++) {
        fx->gap[i] = rn(3) == 0 ? -(1 + rn(40)) : rn(40);
        fx->tcase[i] = rn(4);
    }
}

/* ---- the SQLite oracle ------------------------------------------------------------ */

static sqlite3 *odb;

static void oracle_open(void)
{
    if (odb)
        return;
    assert_int_equal(sqlite3_open(":memory:", &odb), SQLITE_OK);
    const char *schema =
        "CREATE TABLE t(a INTEGER, b TEXT, c REAL);"
        "CREATE TABLE u(a INTEGER, d TEXT);"
        "CREATE INDEX tb ON t(b);"
        "CREATE INDEX tx ON t(CAST(a AS INT));"
        "INSERT INTO t VALUES(1,'x',1.5),(2,'X',NULL),(3,NULL,-2);"
        "INSERT INTO u VALUES(1,'d'),(5,'e');";
    assert_int_equal(sqlite3_exec(odb, schema, NULL, NULL, NULL), SQLITE_OK);
}

static int same_buf(const buf *x, const buf *y) { return x->len == y->len && (x->len == 0 || memcmp(x->data, y->data, x->len) == 0); }

static void put_text(buf *d, const char *s) { buf_puts(d, s ? s : "<null>"); buf_putc(d, '|'); }

/* How SQLite reads sql: per statement, its EXPLAIN program, result column names, parameter
 * names; or the error. Two texts that read the same must give the same description. */
static void describe(const char *sql, buf *d, int *ok)
{
    *ok = 1;
    buf_reset(d);
    const char *p = sql;
    while (*p) {
        sqlite3_stmt *st = NULL;
        const char *tail = NULL;
        if (sqlite3_prepare_v2(odb, p, -1, &st, &tail) != SQLITE_OK) {
            *ok = 0;
            buf_puts(d, "ERR ");
            buf_puts(d, sqlite3_errmsg(odb));
            return;
        }
        if (!st)
            break;
        for (int i = 0; i < sqlite3_column_count(st); i++)
            put_text(d, sqlite3_column_name(st, i));
        for (int i = 1; i <= sqlite3_bind_parameter_count(st); i++)
            put_text(d, sqlite3_bind_parameter_name(st, i));
        buf_printf(d, "ro=%d\n", sqlite3_stmt_readonly(st));
        /* The program: EXPLAIN of the statement's own text. */
        size_t sl = (size_t)(tail - p);
        char *ex = malloc(sl + 16);
        memcpy(ex, "EXPLAIN ", 8);
        memcpy(ex + 8, p, sl);
        ex[8 + sl] = 0;
        sqlite3_stmt *es = NULL;
        if (sqlite3_prepare_v2(odb, ex, -1, &es, NULL) == SQLITE_OK && es) {
            while (sqlite3_step(es) == SQLITE_ROW) {
                for (int c = 1; c < sqlite3_column_count(es); c++)
                    put_text(d, (const char *)sqlite3_column_text(es, c));
                buf_putc(d, '\n');
            }
        } else {
            buf_puts(d, "EXPLAIN failed\n");
        }
        sqlite3_finalize(es);
        free(ex);
        sqlite3_finalize(st);
        p = tail;
    }
}

/* If sqlnorm merges a and b, SQLite must read them alike: both fail (errors are never cached,
 * and their messages may differ, e.g. "incomplete input" without the final ";"), or both
 * prepare with identical programs, column names and parameters. Returns whether they merged. */
static int check_pair(const char *a, const char *b, int *both_ok)
{
    int eq = strcmp(key(a), key(b)) == 0;
    *both_ok = 0;
    if (!eq)
        return 0;
    buf da, db;
    buf_init(&da);
    buf_init(&db);
    int oka, okb;
    describe(a, &da, &oka);
    describe(b, &db, &okb);
    *both_ok = oka && okb;
    if ((oka || okb) && !same_buf(&da, &db)) {
        fprintf(stderr, "FALSE MERGE\n  a: %s\n  b: %s\n  key: %s\n--- a reads as:\n%.*s\n--- b reads as:\n%.*s\n",
                a, b, key(a), (int)da.len, da.data, (int)db.len, db.data);
        fail();
    }
    buf_free(&da);
    buf_free(&db);
    return 1;
}

/* The normalized text is itself SQL, and SQLite must read it as it reads the input. This is the
 * whole argument in one check: if it holds for every text, equal keys mean equal statements. */
static void check_self(const char *sql)
{
    char k[16384];
    snprintf(k, sizeof k, "%s", key(sql));
    buf da, db;
    buf_init(&da);
    buf_init(&db);
    int oka, okb;
    describe(sql, &da, &oka);
    describe(k, &db, &okb);
    if ((oka || okb) && !same_buf(&da, &db)) {
        fprintf(stderr, "NORMALIZED TEXT READS DIFFERENTLY\n  in:  %s\n  out: %s\n--- in reads as:\n%.*s\n--- out reads as:\n%.*s\n",
                sql, k, (int)da.len, da.data, (int)db.len, db.data);
        fail();
    }
    buf_free(&da);
    buf_free(&db);
}

static void test_oracle_known_pairs(void **state)
{
    (void)state;
    oracle_open();
    /* Pairs that differ only where SQLite ignores: must merge, and SQLite must agree. */
    const char *same[][2] = {
        { "SELECT * FROM t WHERE a=1", "select *  from T where A = 1;" },
        { "SELECT a, b FROM t WHERE b LIKE 'x%' ORDER BY a DESC LIMIT 2", "SELECT a,b from t where b like 'x%' order by a desc limit 2" },
        { "SELECT count(*) FROM t WHERE a IN (1, 2) AND b IS NOT NULL", "SELECT count(*) from t where a in(1,2)and b is not null" },
        { "SELECT a FROM t WHERE a - -1 > 0", "select a from t where a  -\t-1\n>  0" },
        { "SELECT \"a+1\" FROM (SELECT a+1 FROM t)", "select \"a+1\" from ( SELECT a+1 from T )" },
        { "WITH c(Foo) AS (SELECT a FROM t) SELECT * FROM c", "with C(Foo) as(select a from t)select * from c" },
        { "SELECT a FROM t WHERE CAST(a AS INT) = 1", "select a from t where cast( A as INT )=1" },
        { "SELECT a FROM t WHERE a = :p OR b = $q::r", "select a from t where a=:p or b=$q::r" },
        { "SELECT a FROM t /*+ ttl=5 */", "SELECT a FROM t" },
        { "SELECT CAST(a AS VARCHAR(10)) FROM t UNION SELECT 1 ORDER BY CAST(a AS VARCHAR(10) )",
          "SELECT CAST(a AS VARCHAR(10)) FROM t UNION SELECT 1 ORDER BY CAST( a AS VARCHAR(10))" },
    };
    for (size_t i = 0; i < sizeof same / sizeof same[0]; i++) {
        int ok;
        assert_true(check_pair(same[i][0], same[i][1], &ok));
        assert_true(ok);
    }
    /* Pairs SQLite reads differently: a naive normalizer would merge them. */
    const char *diff[][2] = {
        { "SELECT \"a+1\" FROM (SELECT a + 1 FROM t)", "SELECT \"a+1\" FROM (SELECT a+1 FROM t)" },
        { "SELECT CAST(a AS INT) FROM t UNION SELECT 1 ORDER BY CAST(a AS int)",
          "SELECT CAST(a AS INT) FROM t UNION SELECT 1 ORDER BY CAST(a AS INT)" },
        { "SELECT a IS TRUE FROM t UNION SELECT 1 ORDER BY a IS true", "SELECT a IS TRUE FROM t UNION SELECT 1 ORDER BY a IS TRUE" },
        { "SELECT a+1E0 FROM t UNION SELECT 1 ORDER BY a+1e0", "SELECT a+1E0 FROM t UNION SELECT 1 ORDER BY a+1E0" },
        { "SELECT x'AB' FROM t UNION SELECT 1 ORDER BY X'AB'", "SELECT x'AB' FROM t UNION SELECT 1 ORDER BY x'AB'" },
        { "SELECT CAST(a AS VARCHAR(10)) FROM t UNION SELECT 1 ORDER BY CAST(a AS VARCHAR(10 ))",
          "SELECT CAST(a AS VARCHAR(10)) FROM t UNION SELECT 1 ORDER BY CAST(a AS VARCHAR(10))" },
        { "SELECT CAST(a AS VARCHAR (10)) FROM t UNION SELECT 1 ORDER BY CAST(a AS VARCHAR /**/ (10))",
          "SELECT CAST(a AS VARCHAR (10)) FROM t UNION SELECT 1 ORDER BY CAST(a AS VARCHAR (10))" },
        { "SELECT COUNT(*) FROM t", "SELECT count(*) FROM t" },
        { "WITH c(Foo) AS (SELECT 1) SELECT * FROM c", "WITH c(foo) AS (SELECT 1) SELECT * FROM c" },
        { "SELECT 4 /*", "SELECT 4" },
        { "SELECT 1 \xef\xbb\xbf, 2", "SELECT 1, 2" },
    };
    for (size_t i = 0; i < sizeof diff / sizeof diff[0]; i++) {
        buf da, db;
        buf_init(&da);
        buf_init(&db);
        int oka, okb;
        describe(diff[i][0], &da, &oka);
        describe(diff[i][1], &db, &okb);
        /* Confirm the premise: SQLite does read them differently... */
        assert_false(same_buf(&da, &db));
        /* ...and the keys differ. */
        DIFF(diff[i][0], diff[i][1]);
        buf_free(&da);
        buf_free(&db);
    }
}

/* Random statements, each rendered twice with differently spaced, commented and cased text
 * where SQLite ignores it: the keys must be equal, and SQLite must read both alike. */
static void test_property_renderings_merge(void **state)
{
    (void)state;
    oracle_open();
    rng_state = 0x9E3779B97F4A7C15ULL;
    static gstmt g;
    static char r1[16384], r2[16384];
    int prepared = 0;
    for (int iter = 0; iter < 4000; iter++) {
        gen_stmt(&g);
        fixed_choice fx;
        fixed_init(&fx);
        render(&g, &fx, 0, r1, sizeof r1);
        render(&g, &fx, 0, r2, sizeof r2);
        if (strcmp(key(r1), key(r2)) != 0) {
            fprintf(stderr, "MISSED MERGE\n  a: %s\n  b: %s\n  ka: %s\n  kb: %s\n", r1, r2, key(r1), key(r2));
            fail();
        }
        int ok;
        check_pair(r1, r2, &ok);
        prepared += ok;
        check_self(r1);
        /* Normalizing a key's text gives the key again. */
        char k[16384];
        snprintf(k, sizeof k, "%s", key(r1));
        assert_string_equal(key(k), k);
    }
    /* The oracle is only as good as the share of statements SQLite accepts. */
    print_message("  %d of 4000 random statement pairs prepared and matched under EXPLAIN\n", prepared);
    assert_true(prepared > 1000);
}

/* Fully random renderings (the text SQLite keeps varies too): whenever the keys happen to be
 * equal, SQLite must read both alike. */
static void test_property_equal_keys_read_alike(void **state)
{
    (void)state;
    oracle_open();
    rng_state = 0xD1B54A32D192ED03ULL;
    static gstmt g;
    static char r1[16384], r2[16384];
    int merged = 0, prepared = 0;
    for (int iter = 0; iter < 4000; iter++) {
        gen_stmt(&g);
        fixed_choice fx;
        fixed_init(&fx);
        render(&g, &fx, 1, r1, sizeof r1);
        render(&g, &fx, 1, r2, sizeof r2);
        int ok;
        merged += check_pair(r1, r2, &ok);
        prepared += ok;
        check_self(r1);
    }
    print_message("  %d of 4000 free renderings merged (%d prepared)\n", merged, prepared);
    assert_true(merged > 0);
}

/* Change one token: the keys must differ, unless the change is only the case of a word that
 * is folded anyway. */
static void test_property_mutation_differs(void **state)
{
    (void)state;
    rng_state = 0x94D049BB133111EBULL;
    static gstmt g, m;
    static char r1[16384], r2[16384];
    static const char *const repl[] = {
        "a", "b", "zz", "1", "2", "1.0", "'x'", "'X'", "'x '", "+", "-", "*", "<", "<=", "=", "==", "(", ")", ",",
        "NULL", "AND", "OR", "?", "?1", ":p", ":q", "$r", "x'ab'", "X'AB'", "TRUE", "true", "\"a\"", "\"A\"", "[a]",
    };
    int checked = 0;
    for (int iter = 0; iter < 4000; iter++) {
        gen_stmt(&g);
        m = g;
        int at = rn(g.n);
        const char *nt = PICK(repl);
        gtok *t = &m.t[at];
        /* Only another token counts. The renderer may recase anything but quoted text, so a
         * replacement equal but for case is skipped. */
        int quoted = strchr("'\"[`", nt[0]) || strchr("'\"[`", t->text[0]);
        if (quoted ? strcmp(t->text, nt) == 0 : strcasecmp(t->text, nt) == 0)
            continue;
        snprintf(t->text, sizeof t->text, "%s", nt);
        if (strchr("(),", nt[0]))
            t->kind = G_PUNCT;
        else if (strchr("?:$", nt[0]))
            t->kind = G_PARAM;
        else if (strchr("+-*<=", nt[0]))
            t->kind = G_OP;
        else if (!strcmp(nt, "NULL") || !strcmp(nt, "AND") || !strcmp(nt, "OR"))
            t->kind = G_KW;
        else if (nt[0] >= 'a' && nt[0] <= 'z' && strcmp(nt, "true") != 0 && strcmp(nt, "x'ab'") != 0)
            t->kind = G_ID;
        else
            t->kind = G_LIT;
        fixed_choice fx;
        fixed_init(&fx);
        uint64_t again = rng_state;
        render(&g, &fx, 0, r1, sizeof r1);
        rng_state = again; /* the same free choices too, as far as they go */
        render(&m, &fx, 0, r2, sizeof r2);
        if (strcmp(key(r1), key(r2)) == 0) {
            fprintf(stderr, "MUTATION MERGED\n  a: %s\n  b: %s\n  key: %s\n", r1, r2, key(r1));
            fail();
        }
        checked++;
    }
    assert_true(checked > 3000);
}

/* Token soup (no SELECT, CAST, WITH...: no kept text at all) over the tricky tokens: any two
 * renderings merge, and SQLite reports the same (usually an error). */
static void test_property_token_soup(void **state)
{
    (void)state;
    oracle_open();
    rng_state = 0xBF58476D1CE4E5B9ULL;
    static const char *const words[] = {
        "a", "B", "e", "x", "X", "_z", "a$b", "\xc3\xa9t\xc3\xa9", "where", "AND", "or", "not", "NULL", "is", "in", "like",
        "between", "from", "group", "by", "order", "limit", "union", "as", "distinct", "all", "values", "update",
        "set", "delete", "insert", "into", "t", "u", "c",
    };
    static const char *const lits[] = {
        "1", ".5", "1.", "1e5", "1E5", "0x1F", "'it''s'", "'--x'", "'/*'", "\"Q\"", "[x y]", "`b`", "x'AB'",
        "X'ab'", "TRUE", "false", "'a  b'", "''", "0",
    };
    static const char *const params[] = { "?", "?3", ":p", ":P", "$a", "$a::b", "$a(x)", "@z", "#n" };
    static const char *const ops[] = {
        "-", "/", "*", "<", "=", ">", "!=", "!", "|", "||", ".", "+", "%", "&", "~", "<=", ">=", "<>", "==",
        "<<", ">>", "->", "->>",
    };
    static const char *const puncts[] = { "(", ")", ",", ";" };
    static gstmt g;
    static char r1[8192], r2[8192];
    for (int iter = 0; iter < 20000; iter++) {
        memset(&g, 0, sizeof g);
        int n = 1 + rn(12);
        for (int i = 0; i < n; i++) {
            switch (rn(5)) {
            case 0: push(&g, G_ID, PICK(words)); break;
            case 1: push(&g, G_LIT, PICK(lits)); g.t[g.n - 1].keep_case = 1; break;
            case 2: push(&g, G_PARAM, PICK(params)); break;
            case 3: push(&g, G_OP, PICK(ops)); break;
            default: push(&g, G_PUNCT, PICK(puncts)); break;
            }
        }
        fixed_choice fx;
        fixed_init(&fx);
        render(&g, &fx, 0, r1, sizeof r1);
        render(&g, &fx, 0, r2, sizeof r2);
        if (strcmp(key(r1), key(r2)) != 0) {
            fprintf(stderr, "SOUP MISSED MERGE\n  a: [%s]\n  b: [%s]\n  ka: %s\n  kb: %s\n", r1, r2, key(r1), key(r2));
            fail();
        }
        int ok;
        check_pair(r1, r2, &ok);
        check_self(r1);
        char k[8192];
        snprintf(k, sizeof k, "%s", key(r1));
        assert_string_equal(key(k), k);
    }
}

/* ---- speed ------------------------------------------------------------------------ */

static void test_speed(void **state)
{
    (void)state;
    const char *q = "SELECT id, email, name FROM users WHERE id = ? AND active = 1;";
    buf b;
    buf_init(&b);
    sqlnorm_hints h;
    enum { N = 2000000 };
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    size_t sink = 0;
    for (int i = 0; i < N; i++) {
        buf_reset(&b);
        sqlnorm_key(q, strlen(q), &b, &h);
        sink += b.len;
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double ns = ((double)(t1.tv_sec - t0.tv_sec) * 1e9 + (double)(t1.tv_nsec - t0.tv_nsec)) / N;
    print_message("  sqlnorm_key: %.1f ns per call for a %zu-byte SELECT (%zu)\n", ns, strlen(q), sink % 10);
    buf_free(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_case_of_keywords_and_identifiers),
        cmocka_unit_test(test_whitespace_runs),
        cmocka_unit_test(test_punctuation_spacing),
        cmocka_unit_test(test_trailing_semicolons_and_comments),
        cmocka_unit_test(test_hints),
        cmocka_unit_test(test_literals_kept),
        cmocka_unit_test(test_quoted_identifiers_and_parameters_kept),
        cmocka_unit_test(test_tokens_never_fuse),
        cmocka_unit_test(test_unterminated_and_odd_input),
        cmocka_unit_test(test_nul_bytes),
        cmocka_unit_test(test_blob_literals),
        cmocka_unit_test(test_source_text_that_sqlite_keeps),
        cmocka_unit_test(test_args_types_differ),
        cmocka_unit_test(test_args_boundaries),
        cmocka_unit_test(test_args_many),
        cmocka_unit_test(test_sql_part_prefix_free),
        cmocka_unit_test(test_oracle_known_pairs),
        cmocka_unit_test(test_property_renderings_merge),
        cmocka_unit_test(test_property_equal_keys_read_alike),
        cmocka_unit_test(test_property_mutation_differs),
        cmocka_unit_test(test_property_token_soup),
        cmocka_unit_test(test_speed),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    if (odb)
        sqlite3_close(odb);
    return rc;
}
