/* test_config.c - the settings table: defaults, value parsing, the INI file, the command line and the shipped file. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "config.h"

/* ---- helpers ---- */

static char g_out[16384], g_err[4096];   /* what the last run_init wrote to stdout and stderr */
static char g_path[256];                 /* the last file written by write_conf */

static void read_all(FILE *f, char *buf, size_t len)
{
    rewind(f);
    size_t n = fread(buf, 1, len - 1, f);
    buf[n] = '\0';
    fclose(f);
}

/* config_init writes to the real stdout/stderr, so swap the descriptors underneath them. */
static int run_init(config *cfg, const char *const *args)
{
    char *argv[32];
    int argc = 0;
    argv[argc++] = (char *)"litecached";
    for (; *args; args++)
        argv[argc++] = (char *)*args;
    argv[argc] = NULL;

    fflush(stdout);
    fflush(stderr);
    FILE *out = tmpfile(), *err = tmpfile();
    assert_non_null(out);
    assert_non_null(err);
    int saved_out = dup(1), saved_err = dup(2);
    dup2(fileno(out), 1);
    dup2(fileno(err), 2);
    int rc = config_init(cfg, argc, argv);
    fflush(stdout);
    fflush(stderr);
    dup2(saved_out, 1);
    dup2(saved_err, 2);
    close(saved_out);
    close(saved_err);
    read_all(out, g_out, sizeof g_out);
    read_all(err, g_err, sizeof g_err);
    return rc;
}
#define INIT(cfg, ...) run_init(cfg, (const char *const[]){ __VA_ARGS__, NULL })

static const char *write_conf(const char *text)
{
    snprintf(g_path, sizeof g_path, "/tmp/test_config_XXXXXX");
    int fd = mkstemp(g_path);
    assert_true(fd >= 0);
    size_t len = strlen(text);
    assert_int_equal(write(fd, text, len), (ssize_t)len);
    close(fd);
    return g_path;
}

/* Loads text as a file on top of cfg; the error, if any, is left in err. */
static int load_text(config *cfg, const char *text, char *err, size_t errlen)
{
    int rc = config_load_file(cfg, write_conf(text), err, errlen);
    unlink(g_path);
    return rc;
}

/* The file must fail with "<path><suffix>", e.g. suffix ":3: port: ...". */
static void assert_file_error(const char *text, const char *suffix)
{
    config cfg;
    char err[512], want[512];
    config_defaults(&cfg);
    assert_int_equal(load_text(&cfg, text, err, sizeof err), -1);
    snprintf(want, sizeof want, "%s%s", g_path, suffix);
    assert_string_equal(err, want);
    config_free(&cfg);
}

static void assert_set_error(const char *name, const char *value, const char *want)
{
    config cfg;
    char err[256] = "";
    config_defaults(&cfg);
    assert_int_equal(config_set(&cfg, name, value, err, sizeof err), -1);
    assert_string_equal(err, want);
    config_free(&cfg);
}

static char *dump(const config *cfg)
{
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    assert_non_null(f);
    config_dump(cfg, f);
    fclose(f);
    return text;
}

static char *defaults_dump(void)
{
    config cfg;
    config_defaults(&cfg);
    char *text = dump(&cfg);
    config_free(&cfg);
    return text;
}

/* ---- defaults ---- */

static void test_defaults(void **state)
{
    (void)state;
    config cfg;
    config_defaults(&cfg);
    assert_string_equal(cfg.bind, "127.0.0.1");
    assert_int_equal(cfg.port, 5433);
    assert_int_equal(cfg.workers, 0);
    assert_int_equal(cfg.max_connections, 1024);
    assert_int_equal(cfg.max_line, 1 << 20);
    assert_int_equal(cfg.max_batch, 10000);
    assert_int_equal(cfg.max_result_bytes, 64 << 20);
    assert_int_equal(cfg.output_soft_limit, 1 << 20);
    assert_int_equal(cfg.output_hard_limit, 64 << 20);
    assert_int_equal(cfg.requests_per_event, 64);
    assert_string_equal(cfg.db_path, "data.db");
    assert_int_equal(cfg.synchronous, CONFIG_SYNC_NORMAL);
    assert_int_equal(cfg.sqlite_cache_kb, 64000);
    assert_int_equal(cfg.temp_store, CONFIG_TEMP_MEMORY);
    assert_int_equal(cfg.mmap_size, 268435456);
    assert_int_equal(cfg.wal_autocheckpoint, 1000);
    assert_int_equal(cfg.foreign_keys, 1);
    assert_int_equal(cfg.busy_timeout_ms, 5000);
    assert_int_equal(cfg.stmt_cache_size, 256);
    assert_string_equal(cfg.query_files, "");
    assert_int_equal(cfg.log_level, CONFIG_LOG_INFO);
    assert_null(cfg.config_path);
    assert_int_equal(config_check(&cfg, NULL, 0), 0);
    config_free(&cfg);
    config_free(&cfg);   /* freeing twice is harmless: the pointers are cleared */
}

/* The dump is in table order; the table must be alphabetical and hold all 21 settings. */
static void test_table_alphabetical(void **state)
{
    (void)state;
    char *text = defaults_dump();
    char prev[64] = "", name[64];
    int count = 0;
    for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
        assert_int_equal(sscanf(line, "%63s =", name), 1);
        assert_true(strcmp(prev, name) < 0);
        snprintf(prev, sizeof prev, "%s", name);
        count++;
    }
    assert_true(count >= 22); /* grows as settings are added; catches a dump that stops early */
    free(text);
}

/* ---- config_set, one type at a time ---- */

static void test_int(void **state)
{
    (void)state;
    config cfg;
    char err[256];
    config_defaults(&cfg);
    assert_int_equal(config_set(&cfg, "port", "1", err, sizeof err), 0);
    assert_int_equal(cfg.port, 1);
    assert_int_equal(config_set(&cfg, "port", "65535", err, sizeof err), 0);
    assert_int_equal(cfg.port, 65535);
    assert_int_equal(config_set(&cfg, "port", "007", err, sizeof err), 0);
    assert_int_equal(cfg.port, 7);
    assert_int_equal(config_set(&cfg, "workers", "0", err, sizeof err), 0);
    assert_int_equal(config_set(&cfg, "wal_autocheckpoint", "2147483647", err, sizeof err), 0);
    assert_int_equal(cfg.wal_autocheckpoint, 2147483647);
    assert_int_equal(config_set(&cfg, "sqlite_cache_kb", "2000000", err, sizeof err), 0);
    assert_int_equal(cfg.sqlite_cache_kb, 2000000);
    /* a failed set leaves the old value */
    assert_int_equal(config_set(&cfg, "port", "70000", err, sizeof err), -1);
    assert_int_equal(cfg.port, 7);
    config_free(&cfg);

    assert_set_error("port", "70000", "70000 is above the maximum 65535");
    assert_set_error("port", "0", "0 is below the minimum 1");
    assert_set_error("port", "-1", "-1 is below the minimum 1");
    assert_set_error("port", "abc", "\"abc\" is not an integer");
    assert_set_error("port", "", "\"\" is not an integer");
    assert_set_error("port", "5433x", "\"5433x\" is not an integer");
    assert_set_error("port", " 5433", "\" 5433\" is not an integer");
    assert_set_error("port", "+5433", "\"+5433\" is not an integer");
    assert_set_error("port", "1k", "\"1k\" is not an integer");
    assert_set_error("port", "99999999999999999999", "99999999999999999999 is above the maximum 65535");
    assert_set_error("port", "-99999999999999999999", "-99999999999999999999 is below the minimum 1");
    assert_set_error("workers", "257", "257 is above the maximum 256");
    assert_set_error("max_connections", "1000001", "1000001 is above the maximum 1000000");
    assert_set_error("max_batch", "0", "0 is below the minimum 1");
    assert_set_error("requests_per_event", "100001", "100001 is above the maximum 100000");
    assert_set_error("stmt_cache_size", "0", "0 is below the minimum 1");
    assert_set_error("busy_timeout_ms", "-5", "-5 is below the minimum 0");
    assert_set_error("wal_autocheckpoint", "2147483648", "2147483648 is above the maximum 2147483647");
    /* KiB already: a suffix would be read as bytes of KiB, so it is refused */
    assert_set_error("sqlite_cache_kb", "64m", "\"64m\" is not an integer");
    assert_set_error("sqlite_cache_kb", "2147483648", "2147483648 is above the maximum 2147483647");
}

static void test_size(void **state)
{
    (void)state;
    static const struct { const char *text; int64_t bytes; } ok[] = {
        { "16", 16 }, { "1k", 1024 }, { "1K", 1024 }, { "3m", 3 << 20 }, { "3M", 3 << 20 },
        { "1g", 1 << 30 }, { "1G", 1 << 30 }, { "1048576", 1 << 20 }, { "0001k", 1024 },
    };
    config cfg;
    char err[256];
    config_defaults(&cfg);
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        assert_int_equal(config_set(&cfg, "max_line", ok[i].text, err, sizeof err), 0);
        assert_int_equal(cfg.max_line, ok[i].bytes);
    }
    assert_int_equal(config_set(&cfg, "mmap_size", "0", err, sizeof err), 0);
    assert_int_equal(cfg.mmap_size, 0);
    assert_int_equal(config_set(&cfg, "mmap_size", "8g", err, sizeof err), 0);
    assert_int_equal(cfg.mmap_size, INT64_C(8) << 30);
    assert_int_equal(config_set(&cfg, "mmap_size", "9223372036854775807", err, sizeof err), 0);
    assert_int_equal(cfg.mmap_size, INT64_MAX);
    assert_int_equal(config_set(&cfg, "output_soft_limit", "1k", err, sizeof err), 0);
    assert_int_equal(cfg.output_soft_limit, 1024);
    config_free(&cfg);

    assert_set_error("max_line", "15", "15 is below the minimum 16");
    assert_set_error("max_line", "2g", "2g is above the maximum 1g");
    assert_set_error("max_line", "1073741825", "1073741825 is above the maximum 1g");
    assert_set_error("max_result_bytes", "1023", "1023 is below the minimum 1k");
    assert_set_error("max_result_bytes", "-1k", "-1k is below the minimum 1k");
    assert_set_error("output_hard_limit", "100", "100 is below the minimum 1k");
    assert_set_error("mmap_size", "8589934592g", "8589934592g is above the maximum 9223372036854775807");
    static const char *const bad[] = { "1x", "k", "1kb", "1.5m", "1 m", "", "m1", "1kk", "0x10" };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char want[128];
        snprintf(want, sizeof want, "\"%s\" is not a size (bytes, or a number with k, m or g)", bad[i]);
        assert_set_error("max_line", bad[i], want);
    }
}

static void test_bool(void **state)
{
    (void)state;
    static const char *const yes[] = { "on", "true", "yes", "1", "ON", "True", "YES" };
    static const char *const no[]  = { "off", "false", "no", "0", "OFF", "False", "No" };
    config cfg;
    char err[256];
    config_defaults(&cfg);
    for (size_t i = 0; i < sizeof yes / sizeof yes[0]; i++) {
        assert_int_equal(config_set(&cfg, "foreign_keys", no[i], err, sizeof err), 0);
        assert_int_equal(cfg.foreign_keys, 0);
        assert_int_equal(config_set(&cfg, "foreign_keys", yes[i], err, sizeof err), 0);
        assert_int_equal(cfg.foreign_keys, 1);
    }
    config_free(&cfg);
    assert_set_error("foreign_keys", "maybe", "\"maybe\" is not a boolean (on/off, true/false, yes/no or 1/0)");
    assert_set_error("foreign_keys", "2", "\"2\" is not a boolean (on/off, true/false, yes/no or 1/0)");
    assert_set_error("foreign_keys", "", "\"\" is not a boolean (on/off, true/false, yes/no or 1/0)");
}

static void test_enum(void **state)
{
    (void)state;
    config cfg;
    char err[256];
    config_defaults(&cfg);
    assert_int_equal(config_set(&cfg, "synchronous", "FULL", err, sizeof err), 0);
    assert_int_equal(cfg.synchronous, CONFIG_SYNC_FULL);
    assert_int_equal(config_set(&cfg, "synchronous", "Normal", err, sizeof err), 0);
    assert_int_equal(cfg.synchronous, CONFIG_SYNC_NORMAL);
    assert_int_equal(config_set(&cfg, "temp_store", "default", err, sizeof err), 0);
    assert_int_equal(cfg.temp_store, CONFIG_TEMP_DEFAULT);
    assert_int_equal(config_set(&cfg, "temp_store", "file", err, sizeof err), 0);
    assert_int_equal(cfg.temp_store, CONFIG_TEMP_FILE);
    assert_int_equal(config_set(&cfg, "log_level", "error", err, sizeof err), 0);
    assert_int_equal(cfg.log_level, CONFIG_LOG_ERROR);
    assert_int_equal(config_set(&cfg, "log_level", "warn", err, sizeof err), 0);
    assert_int_equal(cfg.log_level, CONFIG_LOG_WARN);
    assert_int_equal(config_set(&cfg, "log_level", "DEBUG", err, sizeof err), 0);
    assert_int_equal(cfg.log_level, CONFIG_LOG_DEBUG);
    config_free(&cfg);
    assert_set_error("synchronous", "fast", "\"fast\" is not one of normal|full");
    assert_set_error("synchronous", "2", "\"2\" is not one of normal|full");
    assert_set_error("temp_store", "ram", "\"ram\" is not one of default|file|memory");
    assert_set_error("log_level", "trace", "\"trace\" is not one of error|warn|info|debug");
}

static void test_string(void **state)
{
    (void)state;
    config cfg;
    char err[256];
    config_defaults(&cfg);
    /* each set replaces (and frees) the previous copy; the sanitizer build catches a leak */
    assert_int_equal(config_set(&cfg, "db_path", "/var/lib/a.db", err, sizeof err), 0);
    assert_int_equal(config_set(&cfg, "db_path", "/var/lib/b.db", err, sizeof err), 0);
    assert_string_equal(cfg.db_path, "/var/lib/b.db");
    assert_int_equal(config_set(&cfg, "query_files", "a.sql,b.sql", err, sizeof err), 0);
    assert_string_equal(cfg.query_files, "a.sql,b.sql");
    assert_int_equal(config_set(&cfg, "query_files", "", err, sizeof err), 0);
    assert_string_equal(cfg.query_files, "");
    assert_int_equal(config_set(&cfg, "bind", "", err, sizeof err), -1);
    assert_string_equal(err, "must not be empty");
    assert_string_equal(cfg.bind, "127.0.0.1");
    config_free(&cfg);
    assert_set_error("db_path", "", "must not be empty");
    assert_set_error("no_such_setting", "1", "unknown setting");
    assert_set_error("Port", "1", "unknown setting");   /* names are exact, as on the command line */
}

/* ---- the file ---- */

static void test_file_ok(void **state)
{
    (void)state;
    config cfg;
    char err[512];
    config_defaults(&cfg);
    assert_int_equal(load_text(&cfg,
        "# a full-line comment\n"
        "; another kind\n"
        "   # an indented comment\n"
        "\n"
        "port = 6000\n"
        "  workers = 4\n"                   /* indented: a setting of its own, not a continuation */
        "max_line=2k\n"
        "bind = ::1\n"                      /* ':' in a value is fine once '=' came first */
        "db_path = /tmp/x=y.db\n"
        "synchronous = full ; inline ';' comments are cut by inih\n"
        "log_level = debug\r\n"             /* CRLF */
        "\t foreign_keys = off\n"
        "query_files = a.sql,b.sql\n"
        "port = 6001",                      /* the last one wins; no final newline */
        err, sizeof err), 0);
    assert_int_equal(cfg.port, 6001);
    assert_int_equal(cfg.workers, 4);
    assert_int_equal(cfg.max_line, 2048);
    assert_string_equal(cfg.bind, "::1");
    assert_string_equal(cfg.db_path, "/tmp/x=y.db");
    assert_int_equal(cfg.synchronous, CONFIG_SYNC_FULL);
    assert_int_equal(cfg.log_level, CONFIG_LOG_DEBUG);
    assert_int_equal(cfg.foreign_keys, 0);
    assert_string_equal(cfg.query_files, "a.sql,b.sql");
    assert_int_equal(cfg.busy_timeout_ms, 5000);   /* untouched settings keep their values */
    config_free(&cfg);

    /* a UTF-8 byte order mark and an empty file are both fine */
    config_defaults(&cfg);
    assert_int_equal(load_text(&cfg, "\xEF\xBB\xBFport = 7000\n", err, sizeof err), 0);
    assert_int_equal(cfg.port, 7000);
    assert_int_equal(load_text(&cfg, "", err, sizeof err), 0);
    assert_int_equal(cfg.port, 7000);
    config_free(&cfg);
}

static void test_file_long_line(void **state)
{
    (void)state;
    config cfg;
    char err[512], text[1024], path[400];
    /* near the limit still works, and is not cut */
    memset(path, 'a', 180);
    path[180] = '\0';
    snprintf(text, sizeof text, "db_path = %s\n", path);
    config_defaults(&cfg);
    assert_int_equal(load_text(&cfg, text, err, sizeof err), 0);
    assert_string_equal(cfg.db_path, path);
    config_free(&cfg);
    /* past inih's buffer: refused, rather than silently cut */
    memset(path, 'a', 300);
    path[300] = '\0';
    snprintf(text, sizeof text, "port = 1\ndb_path = %s\n", path);
    config_defaults(&cfg);
    assert_int_equal(load_text(&cfg, text, err, sizeof err), -1);
    char want[300];
    snprintf(want, sizeof want, "%s:2: line is longer than ", g_path);
    assert_memory_equal(err, want, strlen(want));
    assert_int_equal(cfg.port, 5433);
    config_free(&cfg);
}

static void test_file_errors(void **state)
{
    (void)state;
    assert_file_error("port = 1\n\nport = 70000\n", ":3: port: 70000 is above the maximum 65535");
    assert_file_error("# c\nnope = 1\n", ":2: nope: unknown setting");
    assert_file_error("port = 1\nworkers = many\n", ":2: workers: \"many\" is not an integer");
    assert_file_error("max_line = 1q\n", ":1: max_line: \"1q\" is not a size (bytes, or a number with k, m or g)");
    assert_file_error("foreign_keys = sure\n", ":1: foreign_keys: \"sure\" is not a boolean (on/off, true/false, yes/no or 1/0)");
    assert_file_error("temp_store = disk\n", ":1: temp_store: \"disk\" is not one of default|file|memory");
    assert_file_error("bind =\n", ":1: bind: must not be empty");
    assert_file_error("port = 1\n[litecached]\nport = 2\n",
                      ":2: sections are not used: every setting goes at the top level");
    assert_file_error("port = 1\n  [oops]\n", ":2: sections are not used: every setting goes at the top level");
    assert_file_error("port = 1\njust words\n", ":2: expected \"name = value\", got: just words");
    assert_file_error("= 5\n", ":1: expected \"name = value\", the name is missing");
    /* only ';' starts an inline comment; a trailing '#' stays part of the value */
    assert_file_error("port = 6000 # six thousand\n", ":1: port: \"6000 # six thousand\" is not an integer");
    /* the first error is the one reported, and nothing of the file is applied */
    config cfg;
    char err[512], want[512];
    config_defaults(&cfg);
    assert_int_equal(load_text(&cfg, "workers = 3\nport = x\nnope = 1\nbad line\n", err, sizeof err), -1);
    snprintf(want, sizeof want, "%s:2: port: \"x\" is not an integer", g_path);
    assert_string_equal(err, want);
    assert_int_equal(cfg.workers, 0);
    assert_int_equal(load_text(&cfg, "workers = 3\nbad line\nport = x\n", err, sizeof err), -1);
    snprintf(want, sizeof want, "%s:2: expected \"name = value\", got: bad line", g_path);
    assert_string_equal(err, want);
    assert_int_equal(cfg.workers, 0);
    /* a missing file */
    assert_int_equal(config_load_file(&cfg, "/nonexistent/litecached.conf", err, sizeof err), -1);
    assert_string_equal(err, "/nonexistent/litecached.conf: cannot open: No such file or directory");
    /* a directory opens, then fails to read */
    assert_int_equal(config_load_file(&cfg, "/tmp", err, sizeof err), -1);
    assert_memory_equal(err, "/tmp: cannot read: ", strlen("/tmp: cannot read: "));
    config_free(&cfg);
}

/* ---- the command line ---- */

static void test_cli_settings(void **state)
{
    (void)state;
    config cfg;
    assert_int_equal(INIT(&cfg, "--port", "6000", "--max_line=4k", "--bind=::1", "--db_path=a=b.db",
                          "--synchronous", "full", "--query_files=", "--port=6001"), CONFIG_RUN);
    assert_string_equal(g_err, "");
    assert_string_equal(g_out, "");
    assert_int_equal(cfg.port, 6001);   /* later options win */
    assert_int_equal(cfg.max_line, 4096);
    assert_string_equal(cfg.bind, "::1");
    assert_string_equal(cfg.db_path, "a=b.db");
    assert_int_equal(cfg.synchronous, CONFIG_SYNC_FULL);
    assert_string_equal(cfg.query_files, "");
    config_free(&cfg);

    assert_int_equal(run_init(&cfg, (const char *const[]){ NULL }), CONFIG_RUN);
    char *got = dump(&cfg), *want = defaults_dump();
    assert_string_equal(got, want);
    free(got);
    free(want);
    config_free(&cfg);
}

/* The file is applied first, the command line over it, wherever -c appears among the options. */
static void test_cli_overrides_file(void **state)
{
    (void)state;
    config cfg;
    char path[256];
    snprintf(path, sizeof path, "%s", write_conf("port = 6000\nworkers = 3\nlog_level = warn\n"));
    char eq[300];
    snprintf(eq, sizeof eq, "--config=%s", path);

    assert_int_equal(INIT(&cfg, "--port", "7000", "-c", path), CONFIG_RUN);
    assert_int_equal(cfg.port, 7000);
    assert_int_equal(cfg.workers, 3);
    assert_int_equal(cfg.log_level, CONFIG_LOG_WARN);
    assert_string_equal(cfg.config_path, path);
    config_free(&cfg);

    assert_int_equal(INIT(&cfg, "--config", path, "--log_level=error"), CONFIG_RUN);
    assert_int_equal(cfg.port, 6000);
    assert_int_equal(cfg.log_level, CONFIG_LOG_ERROR);
    config_free(&cfg);

    assert_int_equal(INIT(&cfg, eq, "--workers", "5"), CONFIG_RUN);
    assert_int_equal(cfg.port, 6000);
    assert_int_equal(cfg.workers, 5);
    config_free(&cfg);
    unlink(path);
}

static void test_cli_errors(void **state)
{
    (void)state;
    static const struct { const char *args[4]; const char *err; } cases[] = {
        { { "--port", "abc" },        "litecached: --port: \"abc\" is not an integer\n" },
        { { "--port=70000" },         "litecached: --port: 70000 is above the maximum 65535\n" },
        { { "--port" },               "litecached: --port: missing value\n" },
        { { "-c" },                   "litecached: -c: missing value\n" },
        { { "--bogus", "1" },         "litecached: --bogus: unknown option (see --help)\n" },
        { { "--bogus=1" },            "litecached: --bogus: unknown option (see --help)\n" },
        { { "--max-line", "1k" },     "litecached: --max-line: unknown option (did you mean --max_line?)\n" },
        { { "-x" },                   "litecached: -x: unknown option (see --help)\n" },
        { { "-cfile" },               "litecached: -cfile: unknown option (see --help)\n" },
        { { "--" },                   "litecached: --: unknown option (see --help)\n" },
        { { "--help=yes" },           "litecached: --help: takes no value\n" },
        { { "serve" },                "litecached: unexpected argument \"serve\" (settings are given as --name value)\n" },
        { { "-" },                    "litecached: unexpected argument \"-\" (settings are given as --name value)\n" },
        { { "--port", "1", "extra" }, "litecached: unexpected argument \"extra\" (settings are given as --name value)\n" },
        { { "--bind", "" },           "litecached: --bind: must not be empty\n" },
        { { "-c", "/nonexistent/x.conf" },
          "litecached: /nonexistent/x.conf: cannot open: No such file or directory\n" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        config cfg;
        assert_int_equal(run_init(&cfg, cases[i].args), CONFIG_EXIT_ERR);
        assert_string_equal(g_err, cases[i].err);
        assert_string_equal(g_out, "");
        config_free(&cfg);
    }
}

static void test_cli_file_error(void **state)
{
    (void)state;
    config cfg;
    char path[256], want[512];
    snprintf(path, sizeof path, "%s", write_conf("# litecached\n\nport = 70000\n"));
    assert_int_equal(INIT(&cfg, "-c", path, "--port", "1"), CONFIG_EXIT_ERR);
    snprintf(want, sizeof want, "litecached: %s:3: port: 70000 is above the maximum 65535\n", path);
    assert_string_equal(g_err, want);
    config_free(&cfg);
    unlink(path);
}

static void test_help_and_version(void **state)
{
    (void)state;
    config cfg;
    assert_int_equal(INIT(&cfg, "--help"), CONFIG_EXIT_OK);
    assert_non_null(strstr(g_out, "Usage: litecached"));
    assert_non_null(strstr(g_out, "  --port <int>"));
    assert_non_null(strstr(g_out, "TCP port to listen on (default: 5433; 1..65535)\n"));
    assert_non_null(strstr(g_out, "(default: 1m; 16..1g)\n"));
    assert_non_null(strstr(g_out, "(default: normal; normal|full)\n"));
    assert_non_null(strstr(g_out, "(default: on; on|off)\n"));
    assert_non_null(strstr(g_out, "(default: 5000; 0..)\n"));
    assert_string_equal(g_err, "");
    config_free(&cfg);

    /* every setting has its line */
    char *names = defaults_dump(), name[64], want[80];
    for (char *line = strtok(names, "\n"); line; line = strtok(NULL, "\n")) {
        sscanf(line, "%63s", name);
        snprintf(want, sizeof want, "\n  --%s <", name);
        assert_non_null(strstr(g_out, want));
    }
    free(names);

    /* --help wins over a later bad value, since it acts as soon as it is read */
    assert_int_equal(INIT(&cfg, "-h", "--port", "abc"), CONFIG_EXIT_OK);
    assert_non_null(strstr(g_out, "Usage: litecached"));
    config_free(&cfg);

    assert_int_equal(INIT(&cfg, "--version"), CONFIG_EXIT_OK);
    assert_string_equal(g_out, "litecached " LITECACHED_VERSION "\n");
    config_free(&cfg);
    assert_int_equal(INIT(&cfg, "-V"), CONFIG_EXIT_OK);
    assert_string_equal(g_out, "litecached 0.1.0\n");
    assert_string_equal(g_err, "");
    config_free(&cfg);
}

/* output_hard_limit >= output_soft_limit is judged once file and command line are both applied. */
static void test_cross_check(void **state)
{
    (void)state;
    config cfg;
    char err[256];
    config_defaults(&cfg);
    assert_int_equal(config_set(&cfg, "output_soft_limit", "2m", err, sizeof err), 0);
    assert_int_equal(config_set(&cfg, "output_hard_limit", "1m", err, sizeof err), 0);
    assert_int_equal(config_check(&cfg, err, sizeof err), -1);
    assert_string_equal(err, "output_hard_limit (1m) must not be below output_soft_limit (2m)");
    assert_int_equal(config_set(&cfg, "output_hard_limit", "2m", err, sizeof err), 0);
    assert_int_equal(config_check(&cfg, err, sizeof err), 0);   /* equal is fine */
    config_free(&cfg);

    char path[256];
    snprintf(path, sizeof path, "%s", write_conf("output_soft_limit = 100m\n"));
    /* the file alone breaks the rule (hard stays at 64m) ... */
    assert_int_equal(INIT(&cfg, "-c", path), CONFIG_EXIT_ERR);
    assert_string_equal(g_err, "litecached: output_hard_limit (64m) must not be below output_soft_limit (100m)\n");
    config_free(&cfg);
    /* ... and the command line may mend it */
    assert_int_equal(INIT(&cfg, "-c", path, "--output_hard_limit", "200m"), CONFIG_RUN);
    assert_int_equal(cfg.output_hard_limit, 200 << 20);
    config_free(&cfg);
    /* a file loaded alone is not judged: the command line has not had its say yet */
    config_defaults(&cfg);
    assert_int_equal(config_load_file(&cfg, path, err, sizeof err), 0);
    config_free(&cfg);
    unlink(path);
}

/* ---- the shipped file ---- */

static void shipped_path(char *out, size_t len)
{
    const char *src = getenv("LITECACHED_SRC");
    snprintf(out, len, "%s%sconfig/litecached.conf", src ? src : "", src ? "/" : "");
}

static void test_shipped_file_is_defaults(void **state)
{
    (void)state;
    config cfg;
    char path[512], err[512];
    shipped_path(path, sizeof path);
    config_defaults(&cfg);
    if (config_load_file(&cfg, path, err, sizeof err) < 0)
        fail_msg("%s", err);
    assert_int_equal(config_check(&cfg, err, sizeof err), 0);
    char *got = dump(&cfg), *want = defaults_dump();
    assert_string_equal(got, want);
    free(got);
    free(want);
    config_free(&cfg);
}

static void test_shipped_file_has_every_setting(void **state)
{
    (void)state;
    char path[512];
    shipped_path(path, sizeof path);
    FILE *f = fopen(path, "r");
    if (!f)
        fail_msg("cannot open %s (run from the repo root or set LITECACHED_SRC)", path);
    static char text[16384];
    read_all(f, text, sizeof text);

    char *names = defaults_dump(), name[64];
    for (char *line = strtok(names, "\n"); line; line = strtok(NULL, "\n")) {
        sscanf(line, "%63s", name);
        /* exactly one "name =" at the start of a line, and a comment right above it */
        int found = 0;
        size_t nlen = strlen(name);
        for (const char *p = text; p; p = strchr(p, '\n'), p = p ? p + 1 : NULL) {
            if (strncmp(p, name, nlen) != 0 || strncmp(p + nlen, " =", 2) != 0)
                continue;
            found++;
            assert_true(p - text >= 2);
            const char *prev = p - 2;
            while (prev > text && prev[-1] != '\n')
                prev--;
            if (*prev != '#')
                fail_msg("%s: no comment line above %s", path, name);
        }
        if (found != 1)
            fail_msg("%s: %s appears %d times, want 1", path, name, found);
    }
    free(names);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_table_alphabetical),
        cmocka_unit_test(test_int),
        cmocka_unit_test(test_size),
        cmocka_unit_test(test_bool),
        cmocka_unit_test(test_enum),
        cmocka_unit_test(test_string),
        cmocka_unit_test(test_file_ok),
        cmocka_unit_test(test_file_long_line),
        cmocka_unit_test(test_file_errors),
        cmocka_unit_test(test_cli_settings),
        cmocka_unit_test(test_cli_overrides_file),
        cmocka_unit_test(test_cli_errors),
        cmocka_unit_test(test_cli_file_error),
        cmocka_unit_test(test_help_and_version),
        cmocka_unit_test(test_cross_check),
        cmocka_unit_test(test_shipped_file_is_defaults),
        cmocka_unit_test(test_shipped_file_has_every_setting),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
