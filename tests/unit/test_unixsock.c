/* test_unixsock.c - the Unix-domain socket: its name, the sun_path limit, and which files already at the path it replaces (never a live one, even one too busy to accept). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "unixsock.h"

static char dir[64];
static char path[160];

static int setup(void **state)
{
    (void)state;
    snprintf(dir, sizeof dir, "/tmp/lc-unixsock.XXXXXX");
    if (!mkdtemp(dir))
        return -1;
    return unixsock_path(dir, 5433, path, sizeof path);
}

static int teardown(void **state)
{
    (void)state;
    unlink(path);
    rmdir(dir);
    return 0;
}

static int connect_to(const char *p)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    if (strlen(p) >= sizeof sa.sun_path)
        return -1;
    memcpy(sa.sun_path, p, strlen(p) + 1);
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    int rc = connect(fd, (struct sockaddr *)&sa, sizeof sa);
    close(fd);
    return rc;
}

static void test_name_and_length_limit(void **state)
{
    (void)state;
    char out[256], longdir[256];
    assert_int_equal(unixsock_path("/run/lc", 6432, out, sizeof out), 0);
    assert_string_equal(out, "/run/lc/.s.PGSQL.6432");
    /* sun_path holds 107 bytes and a NUL: a 107-byte path fits, a 108-byte one does not. */
    size_t tail = strlen("/.s.PGSQL.5433");
    memset(longdir, 'd', sizeof longdir);
    longdir[0] = '/';
    longdir[107 - tail] = '\0';
    assert_int_equal(unixsock_path(longdir, 5433, out, sizeof out), 0);
    assert_int_equal(strlen(out), 107);
    longdir[107 - tail] = 'd';
    longdir[108 - tail] = '\0';
    assert_int_equal(unixsock_path(longdir, 5433, out, sizeof out), -1);
    /* and an output buffer too small */
    assert_int_equal(unixsock_path("/run/lc", 6432, out, 10), -1);

    char err[256];
    assert_int_equal(unixsock_listen("/tmp/" "0123456789012345678901234567890123456789012345678901234567890123456789"
                                     "0123456789012345678901234567890123456789", 8, err, sizeof err), -1);
    assert_non_null(strstr(err, "too long"));
}

static void test_listens_and_replaces_only_a_stale_socket(void **state)
{
    (void)state;
    char err[256] = "";
    int fd = unixsock_listen(path, 8, err, sizeof err);
    assert_true(fd >= 0);
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_true(S_ISSOCK(st.st_mode));
    assert_int_equal(st.st_mode & 0777, 0777);
    assert_int_equal(connect_to(path), 0);

    /* Live: refused, and the first listener keeps its file. */
    assert_int_equal(unixsock_listen(path, 8, err, sizeof err), -1);
    assert_non_null(strstr(err, "another server is listening"));
    assert_int_equal(connect_to(path), 0);

    /* Stale (closed without unlinking, as after kill -9): replaced. */
    close(fd);
    assert_int_equal(connect_to(path), -1);
    fd = unixsock_listen(path, 8, err, sizeof err);
    assert_true(fd >= 0);
    assert_int_equal(connect_to(path), 0);
    close(fd);
}

/* A live server too busy to accept (its backlog full) is still live, and the check must not wait
 * for it: the probe's connect is non-blocking. SIGALRM turns a hang into a failure. */
static void test_a_full_backlog_is_live_and_does_not_block(void **state)
{
    (void)state;
    int lfd = socket(AF_UNIX, SOCK_STREAM, 0);
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    memcpy(sa.sun_path, path, strlen(path) + 1);
    assert_int_equal(bind(lfd, (struct sockaddr *)&sa, sizeof sa), 0);
    assert_int_equal(listen(lfd, 0), 0);
    int fds[16], n = 0, full = 0;
    while (n < 16 && !full) {
        fds[n] = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0);
        if (connect(fds[n], (struct sockaddr *)&sa, sizeof sa) < 0 && errno == EAGAIN)
            full = 1;
        n++;
    }
    assert_true(full);
    char err[256] = "";
    alarm(10);
    assert_int_equal(unixsock_listen(path, 8, err, sizeof err), -1);
    alarm(0);
    assert_non_null(strstr(err, "another server is listening"));
    for (int i = 0; i < n; i++)
        close(fds[i]);
    close(lfd);
}

static void test_never_replaces_another_kind_of_file(void **state)
{
    (void)state;
    char err[256] = "";
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs("keep me\n", f);
    fclose(f);
    assert_int_equal(unixsock_listen(path, 8, err, sizeof err), -1);
    assert_non_null(strstr(err, "is not a socket"));
    char back[16] = "";
    f = fopen(path, "r");
    assert_non_null(f);
    assert_non_null(fgets(back, sizeof back, f));
    fclose(f);
    assert_string_equal(back, "keep me\n");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_name_and_length_limit),
        cmocka_unit_test_setup_teardown(test_listens_and_replaces_only_a_stale_socket, setup, teardown),
        cmocka_unit_test_setup_teardown(test_a_full_backlog_is_live_and_does_not_block, setup, teardown),
        cmocka_unit_test_setup_teardown(test_never_replaces_another_kind_of_file, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
