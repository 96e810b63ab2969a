/* test_reload.c - config_reload (SIGHUP): LIVE settings change, RESTART ones are reported and kept, the command line still wins, a bad file changes nothing. */
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

static char path[64];
static char seen[2048];

static void write_conf(const char *text)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static void note(void *ud, const char *name, const char *from, const char *to, int live)
{
    (void)ud;
    size_t n = strlen(seen);
    snprintf(seen + n, sizeof seen - n, "%s %s %s->%s;", live ? "live" : "restart", name, from, to);
}

static int setup(void **state)
{
    (void)state;
    snprintf(path, sizeof path, "/tmp/test_reload.%d.conf", (int)getpid());
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    unlink(path);
    return 0;
}

static void test_reload(void **state)
{
    (void)state;
    write_conf("cache_ttl = 60\nport = 6000\nlog_level = info\nbackup_dir = one\n");
    char *argv[] = {"litecached", "-c", path, "--max_batch", "5", NULL};
    config cfg;
    char err[512];
    assert_int_equal(config_init(&cfg, 5, argv), CONFIG_RUN);
    assert_int_equal(cfg.cache_ttl, 60);
    assert_int_equal(cfg.max_batch, 5);
    const char *old_dir = cfg.backup_dir;

    write_conf("cache_ttl = 10\nport = 6001\nlog_level = debug\nmax_batch = 50\nbackup_dir = two\n");
    seen[0] = '\0';
    assert_int_equal(config_reload(&cfg, note, NULL, err, sizeof err), 3);
    assert_string_equal(seen, "live backup_dir one->two;live cache_ttl 60->10;live log_level info->debug;"
                              "restart port 6000->6001;");
    assert_int_equal(cfg.cache_ttl, 10);
    assert_int_equal(cfg.log_level, CONFIG_LOG_DEBUG);
    assert_int_equal(cfg.port, 6000);   /* RESTART: kept */
    assert_int_equal(cfg.max_batch, 5); /* the command line still wins */
    assert_string_equal(cfg.backup_dir, "two");
    assert_string_equal(old_dir, "one"); /* a reader holding the old string may still use it */

    /* The same file again: nothing to do, but the RESTART difference is reported again. */
    seen[0] = '\0';
    assert_int_equal(config_reload(&cfg, note, NULL, err, sizeof err), 0);
    assert_string_equal(seen, "restart port 6000->6001;");

    /* A bad file: an error naming file:line, and nothing changes. */
    write_conf("cache_ttl = 5\ncache_ttl = 0\n");
    seen[0] = '\0';
    assert_int_equal(config_reload(&cfg, note, NULL, err, sizeof err), -1);
    assert_non_null(strstr(err, ":2: cache_ttl:"));
    assert_string_equal(seen, "");
    assert_int_equal(cfg.cache_ttl, 10);

    /* A file that breaks a cross-setting rule is refused as a whole, too. */
    write_conf("output_soft_limit = 2m\noutput_hard_limit = 1m\n");
    assert_int_equal(config_reload(&cfg, note, NULL, err, sizeof err), -1);
    assert_non_null(strstr(err, "output_hard_limit"));
    assert_int_equal(cfg.output_hard_limit, 64 << 20);

    /* A missing file. */
    unlink(path);
    assert_int_equal(config_reload(&cfg, note, NULL, err, sizeof err), -1);
    assert_non_null(strstr(err, "cannot open"));
    config_free(&cfg);
}

/* The rules are checked on what would run: the file's LIVE values with the RESTART values running. */
static void test_reload_checks_what_would_run(void **state)
{
    (void)state;
    write_conf("bind = 0.0.0.0\nauth = scram-sha-256\nusers_file = users\n");
    char *argv[] = {"litecached", "-c", path, NULL};
    config cfg;
    char err[512];
    assert_int_equal(config_init(&cfg, 3, argv), CONFIG_RUN);

    /* Valid on its own, but trust would go live on the running 0.0.0.0. */
    write_conf("bind = 127.0.0.1\nauth = trust\nusers_file = users\n");
    seen[0] = '\0';
    assert_int_equal(config_reload(&cfg, note, NULL, err, sizeof err), -1);
    assert_non_null(strstr(err, "with the running bind (a reload cannot change it), bind = 0.0.0.0"));
    assert_string_equal(seen, "");
    assert_int_equal(cfg.auth, CONFIG_AUTH_SCRAM);

    /* The same rule passes with the users_file kept: scram to password is fine live. */
    write_conf("bind = 0.0.0.0\nauth = password\nusers_file = users\n");
    assert_int_equal(config_reload(&cfg, note, NULL, err, sizeof err), 1);
    assert_int_equal(cfg.auth, CONFIG_AUTH_PASSWORD);
    config_free(&cfg);

    /* Started with trust and no users_file: scram cannot go live while the users_file that goes with it waits. */
    write_conf("auth = trust\n");
    assert_int_equal(config_init(&cfg, 3, argv), CONFIG_RUN);
    write_conf("auth = scram-sha-256\nusers_file = users\n");
    seen[0] = '\0';
    assert_int_equal(config_reload(&cfg, note, NULL, err, sizeof err), -1);
    assert_non_null(strstr(err, "with the running users_file (a reload cannot change it), auth = scram-sha-256 needs"));
    assert_string_equal(seen, "");
    assert_int_equal(cfg.auth, CONFIG_AUTH_TRUST);
    config_free(&cfg);
}

static void test_reload_without_a_file(void **state)
{
    (void)state;
    char *argv[] = {"litecached", NULL};
    config cfg;
    char err[512];
    assert_int_equal(config_init(&cfg, 1, argv), CONFIG_RUN);
    assert_int_equal(config_reload(&cfg, note, NULL, err, sizeof err), -1);
    assert_non_null(strstr(err, "without -c"));
    config_free(&cfg);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_reload, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reload_checks_what_would_run, setup, teardown),
        cmocka_unit_test(test_reload_without_a_file),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
