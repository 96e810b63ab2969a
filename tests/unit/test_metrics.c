/* test_metrics.c - the Prometheus exposition: format rules (HELP/TYPE once, names, _total, cumulative histograms), values, escaping; STATS as JSON; SQL for the slow-query log. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "metrics.h"
#include "query.h"
#include "stats.h"

#define MAXFAM 64

/* What the checker learned about one metric family. */
typedef struct family {
    char name[128];
    char type[16];
    int  helps, types, samples;
} family;

static family fams[MAXFAM];
static int nfams;

static family *find_family(const char *name)
{
    for (int i = 0; i < nfams; i++)
        if (strcmp(fams[i].name, name) == 0)
            return &fams[i];
    return NULL;
}

static int matches(const char *re, const char *s)
{
    regex_t r;
    assert_int_equal(regcomp(&r, re, REG_EXTENDED | REG_NOSUB), 0);
    int ok = regexec(&r, s, 0, NULL, 0) == 0;
    regfree(&r);
    return ok;
}

/* The family a sample belongs to: a histogram's _bucket/_sum/_count go to their base name. */
static family *family_of_sample(const char *name)
{
    family *f = find_family(name);
    if (f)
        return f;
    static const char *const suffixes[] = {"_bucket", "_sum", "_count"};
    for (int i = 0; i < 3; i++) {
        size_t n = strlen(name), k = strlen(suffixes[i]);
        if (n > k && strcmp(name + n - k, suffixes[i]) == 0) {
            char base[128];
            snprintf(base, sizeof base, "%.*s", (int)(n - k), name);
            f = find_family(base);
            if (f && strcmp(f->type, "histogram") == 0)
                return f;
        }
    }
    return NULL;
}

/* Parse one label set "{k="v",...}" starting at p; returns the end, checks names and escapes. */
static const char *check_labels(const char *p, char *le, size_t lelen)
{
    le[0] = '\0';
    if (*p != '{')
        return p;
    p++;
    while (*p != '}') {
        char key[64];
        int n = 0;
        while (*p && *p != '=' && n < 63)
            key[n++] = *p++;
        key[n] = '\0';
        if (!matches("^[a-zA-Z_][a-zA-Z0-9_]*$", key))
            fail_msg("bad label name '%s'", key);
        assert_int_equal(*p++, '=');
        assert_int_equal(*p++, '"');
        char val[256];
        n = 0;
        for (; *p != '"'; p++) {
            assert_true(*p && *p != '\n');
            if (*p == '\\') {
                p++;
                if (*p != '\\' && *p != '"' && *p != 'n')
                    fail_msg("bad escape \\%c in a label value", *p);
            }
            if (n < 255)
                val[n++] = *p;
        }
        val[n] = '\0';
        p++;
        if (strcmp(key, "le") == 0)
            snprintf(le, lelen, "%.63s", val);
        if (*p == ',')
            p++;
        else
            assert_int_equal(*p, '}');
    }
    return p + 1;
}

/* Check the whole exposition: every rule of format 0.0.4 that litecached relies on. */
static void check_exposition(const char *text)
{
    nfams = 0;
    char *copy = strdup(text), *save = NULL;
    assert_non_null(copy);
    assert_true(strlen(text) > 0 && text[strlen(text) - 1] == '\n');
    double last_le = -1, last_cum = -1;
    char hist_name[128] = "";
    for (char *line = strtok_r(copy, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        char name[128], rest[512];
        if (strncmp(line, "# HELP ", 7) == 0 || strncmp(line, "# TYPE ", 7) == 0) {
            assert_int_equal(sscanf(line + 7, "%127s %511[^\n]", name, rest), 2);
            if (!matches("^[a-zA-Z_:][a-zA-Z0-9_:]*$", name))
                fail_msg("bad metric name '%s'", name);
            family *f = find_family(name);
            if (!f) {
                assert_true(nfams < MAXFAM);
                f = &fams[nfams++];
                memset(f, 0, sizeof *f);
                snprintf(f->name, sizeof f->name, "%s", name);
            }
            assert_int_equal(f->samples, 0); /* HELP and TYPE come before the samples */
            if (line[2] == 'H') {
                f->helps++;
            } else {
                f->types++;
                snprintf(f->type, sizeof f->type, "%.15s", rest);
                assert_true(matches("^(counter|gauge|histogram)$", rest));
                if (strcmp(rest, "counter") == 0 && !matches("_total$", name))
                    fail_msg("counter %s does not end in _total", name);
            }
            continue;
        }
        assert_int_not_equal(line[0], '#');
        int n = 0;
        while (line[n] && line[n] != '{' && line[n] != ' ')
            n++;
        snprintf(name, sizeof name, "%.*s", n, line);
        family *f = family_of_sample(name);
        if (!f)
            fail_msg("sample %s has no # HELP / # TYPE", name);
        assert_int_equal(f->helps, 1);
        assert_int_equal(f->types, 1);
        f->samples++;
        char le[64];
        const char *p = check_labels(line + n, le, sizeof le);
        assert_int_equal(*p, ' ');
        char *end;
        double v = strtod(p + 1, &end);
        assert_true(end != p + 1 && *end == '\0');
        if (strcmp(f->type, "histogram") == 0) {
            if (strcmp(hist_name, f->name) != 0) {
                snprintf(hist_name, sizeof hist_name, "%s", f->name);
                last_le = -1;
                last_cum = -1;
            }
            if (matches("_bucket$", name)) {
                double bound = strcmp(le, "+Inf") == 0 ? 1e300 : strtod(le, NULL);
                assert_true(le[0]);
                assert_true(bound > last_le);   /* bounds ascend */
                assert_true(v >= last_cum);     /* counts are cumulative */
                last_le = bound;
                last_cum = v;
            } else if (matches("_count$", name)) {
                assert_true(last_le == 1e300);  /* the +Inf bucket came last */
                assert_true(v == last_cum);     /* and equals the count */
            }
        }
    }
    for (int i = 0; i < nfams; i++) {
        if (fams[i].helps != 1 || fams[i].types != 1)
            fail_msg("%s: %d HELP, %d TYPE", fams[i].name, fams[i].helps, fams[i].types);
    }
    free(copy);
}

static void render_all(buf *out)
{
    static stats_named requests[128], errors[128];
    metrics_input in = {.version = "1.2.3", .sqlite_version = "3.40.1", .uptime_s = 7};
    for (int i = 0; i < STATS__COUNT; i++)
        in.counters[i] = stats_get(i);
    in.requests = requests;
    in.nrequests = stats_requests(requests, 128);
    in.errors = errors;
    in.nerrors = stats_errors_by_state(errors, 128);
    stats_latency_hist(&in.latency);
    stats_group_hist(&in.groups);
    in.have_cache = 1;
    in.cache = (cache_stats){.hits1 = 5, .hits2 = 2, .misses = 3, .entries1 = 4, .bytes1 = 4096, .entries2 = 1,
                             .bytes2 = 100, .evictions1 = 1, .invalidations = 6, .flight_waits = 2};
    in.foreign_commits = 1;
    in.wal_bytes = 32768;
    metrics_render(&in, out);
    assert_false(out->oom);
    buf_putc(out, '\0');
    out->len--;
}

static void test_exposition_format(void **state)
{
    (void)state;
    stats_init();
    stats_cmd(STATS_CMD_SQL);
    stats_cmd(STATS_CMD_SQL);
    stats_cmd(STATS_CMD_CALL);
    stats_request(STATS_PROTO_PG, "Query");
    stats_request(STATS_PROTO_PG, "Parse");
    stats_request(STATS_PROTO_PG, "Query");
    stats_error("42P01");
    stats_error("42P01");
    stats_error("23505");
    stats_latency(0.03);
    stats_latency(3);
    stats_latency(7000);
    stats_group_commit(1);
    stats_group_commit(5);
    stats_group_commit(2000);
    buf out;
    buf_init(&out);
    render_all(&out);
    check_exposition(out.data);
    const char *want[] = {
        "litecached_build_info{version=\"1.2.3\",sqlite=\"3.40.1\"} 1\n",
        "litecached_requests_total{protocol=\"line\",command=\"sql\"} 2\n",
        "litecached_requests_total{protocol=\"line\",command=\"call\"} 1\n",
        "litecached_requests_total{protocol=\"line\",command=\"batch\"} 0\n",
        "litecached_requests_total{protocol=\"pg\",command=\"Query\"} 2\n",
        "litecached_requests_total{protocol=\"pg\",command=\"Parse\"} 1\n",
        "litecached_errors_total{sqlstate=\"42P01\"} 2\n",
        "litecached_errors_total{sqlstate=\"23505\"} 1\n",
        /* 0.03 ms and 3 ms are at most 5 ms; 7 s only in +Inf */
        "litecached_statement_duration_seconds_bucket{le=\"5e-05\"} 1\n",
        "litecached_statement_duration_seconds_bucket{le=\"0.005\"} 2\n",
        "litecached_statement_duration_seconds_bucket{le=\"5\"} 2\n",
        "litecached_statement_duration_seconds_bucket{le=\"+Inf\"} 3\n",
        "litecached_statement_duration_seconds_count 3\n",
        "litecached_statement_duration_seconds_sum 7.00303\n",
        "litecached_writer_group_size_bucket{le=\"1\"} 1\n",
        "litecached_writer_group_size_bucket{le=\"8\"} 2\n",
        "litecached_writer_group_size_bucket{le=\"+Inf\"} 3\n",
        "litecached_writer_group_size_sum 2006\n",
        "litecached_cache_hits_total{tier=\"1\"} 5\n",
        "litecached_cache_hits_total{tier=\"2\"} 2\n",
        "litecached_cache_bytes{tier=\"1\"} 4096\n",
        "litecached_cache_misses_total 3\n",
        "litecached_wal_bytes 32768\n",
        "litecached_uptime_seconds 7\n",
        "# TYPE litecached_statement_duration_seconds histogram\n",
        "# TYPE litecached_connections gauge\n",
    };
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++)
        if (!strstr(out.data, want[i]))
            fail_msg("missing: %s", want[i]);
    buf_free(&out);
}

/* More distinct SQLSTATEs than slots: the rest go to "other", and nothing is lost. */
static void test_errors_overflow(void **state)
{
    (void)state;
    static stats_named errors[128];
    int64_t before = stats_get(STATS_ERRORS);
    for (int i = 0; i < 100; i++) {
        char code[6] = {'Z', (char)('0' + i / 10 % 10), (char)('0' + i % 10), 'Q', 'Q', '\0'};
        stats_error(code);
    }
    assert_int_equal(stats_get(STATS_ERRORS) - before, 100);
    int n = stats_errors_by_state(errors, 128);
    int64_t total = 0, other = 0;
    for (int i = 0; i < n; i++) {
        total += errors[i].value;
        if (strcmp(errors[i].name, "other") == 0)
            other = errors[i].value;
        else
            assert_int_equal(strlen(errors[i].name), 5);
    }
    assert_int_equal(total, stats_get(STATS_ERRORS));
    assert_true(other > 0);
    assert_true(n <= 65);
    buf out;
    buf_init(&out);
    render_all(&out);
    check_exposition(out.data);
    assert_non_null(strstr(out.data, "litecached_errors_total{sqlstate=\"other\"} "));
    buf_free(&out);
}

static void test_escaping_and_numbers(void **state)
{
    (void)state;
    buf out;
    buf_init(&out);
    metrics_family(&out, "x_total", "counter", "a \\ back\nslash");
    metrics_sample(&out, "x_total", (const char *const[]){"k", "a\"b\\c\nd", NULL}, 1.5);
    buf_putc(&out, '\0');
    assert_string_equal(out.data, "# HELP x_total a \\\\ back\\nslash\n# TYPE x_total counter\n"
                                  "x_total{k=\"a\\\"b\\\\c\\nd\"} 1.5\n");
    check_exposition(out.data);
    static const struct { double v; const char *s; } nums[] = {
        {0, "0"}, {42, "42"}, {-3, "-3"}, {0.25, "0.25"}, {5e-05, "5e-05"}, {1e300, "1e+300"}, {1.0 / 0.0, "+Inf"},
    };
    for (size_t i = 0; i < sizeof nums / sizeof nums[0]; i++) {
        buf_reset(&out);
        metrics_put_number(&out, nums[i].v);
        buf_putc(&out, '\0');
        assert_string_equal(out.data, nums[i].s);
    }
    buf_free(&out);
}

static void test_lines_to_json(void **state)
{
    (void)state;
    buf out;
    buf_init(&out);
    const char lines[] = "=uptime\t12\n=cache_hit_ratio\t0.5000\n=odd\tx\"y\n=neg\t-3\nnot a line\n";
    metrics_lines_to_json(lines, sizeof lines - 1, &out);
    buf_putc(&out, '\0');
    assert_string_equal(out.data, "{\"uptime\":12,\"cache_hit_ratio\":0.5000,\"odd\":\"x\\\"y\",\"neg\":-3}");
    buf_reset(&out);
    metrics_lines_to_json("", 0, &out);
    buf_putc(&out, '\0');
    assert_string_equal(out.data, "{}");
    buf_free(&out);
}

static void sql_log(const char *sql, int literals, const char *want)
{
    buf out;
    buf_init(&out);
    query_sql_for_log(sql, strlen(sql), literals, &out);
    buf_putc(&out, '\0');
    assert_string_equal(out.data, want);
    buf_free(&out);
}

/* The slow-query log's SQL: one line, literals elided unless asked for. */
static void test_sql_for_log(void **state)
{
    (void)state;
    sql_log("SELECT * FROM users WHERE email = 'ann@example.com' AND id > 42", 0,
            "SELECT * FROM users WHERE email = ? AND id > ?");
    sql_log("SELECT * FROM users WHERE email = 'ann@example.com' AND id > 42", 1,
            "SELECT * FROM users WHERE email = 'ann@example.com' AND id > 42");
    sql_log("  SELECT\n\t1.5e-3, x'00ff', 'it''s', t1.c2, \"col 1\", [x], `y`  -- a comment\n FROM t2 /* c */;", 0,
            "SELECT ?, ?, ?, t1.c2, \"col 1\", [x], `y` FROM t2 ;");
    sql_log("WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x+1 FROM c WHERE x<100000) SELECT count(*) FROM c", 0,
            "WITH RECURSIVE c(x) AS (SELECT ? UNION ALL SELECT x+? FROM c WHERE x<?) SELECT count(*) FROM c");
    sql_log("SELECT * FROM users WHERE id = :id", 0, "SELECT * FROM users WHERE id = :id");
    sql_log("SELECT 'unterminated", 0, "SELECT ?");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_exposition_format),
        cmocka_unit_test(test_errors_overflow),
        cmocka_unit_test(test_escaping_and_numbers),
        cmocka_unit_test(test_lines_to_json),
        cmocka_unit_test(test_sql_for_log),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
