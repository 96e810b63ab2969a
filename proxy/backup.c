/* backup.c - consistent online copies of the database with SQLite's backup API. */
#include "backup.h"

#include <dirent.h>
#include <errno.h>
#include <libgen.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int backup_name_ok(const char *name, size_t len)
{
    if (len == 0 || len > 200 || (len == 1 && name[0] == '.') || (len == 2 && name[0] == '.' && name[1] == '.'))
        return 0;
    for (size_t i = 0; i < len; i++) {
        char ch = name[i];
        if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') || ch == '.' ||
              ch == '_' || ch == '-'))
            return 0;
    }
    return 1;
}

/* The pid in a temporary copy's name ("<name>.tmp-<pid>-<n>", optionally "-journal"), or 0 when
 * the name is not of that form. */
static long temp_owner(const char *name)
{
    const char *t = NULL;
    for (const char *p = strstr(name, ".tmp-"); p; p = strstr(p + 1, ".tmp-"))
        t = p;
    if (!t || t == name)
        return 0;
    char *end;
    errno = 0;
    long pid = strtol(t + 5, &end, 10);
    if (errno || pid <= 0 || end == t + 5 || *end != '-' || end[1] < '0' || end[1] > '9')
        return 0;
    strtoul(end + 1, &end, 10);
    return *end == '\0' || strcmp(end, "-journal") == 0 ? pid : 0;
}

/* Delete the temporary copies (and their journals) that dead processes left in dst's directory:
 * a crash or a killed cron job mid-copy leaves one as big as the database, and nothing else would
 * ever remove it. A copy of a live process, this one's included, may still be under way. */
static void sweep_dead_copies(const char *dst)
{
    char *copy = strdup(dst);
    DIR *d = copy ? opendir(dirname(copy)) : NULL;
    free(copy);
    if (!d)
        return;
    for (struct dirent *e; (e = readdir(d));) {
        long pid = temp_owner(e->d_name);
        if (pid > 0 && pid != (long)getpid() && kill((pid_t)pid, 0) != 0 && errno == ESRCH)
            unlinkat(dirfd(d), e->d_name, 0);
    }
    closedir(d);
}

int backup_copy(const char *src, const char *dst, int busy_ms, int64_t *bytes, char *err, size_t errlen)
{
    sweep_dead_copies(dst);
    /* A temporary file of this copy's own: copies of one name made at once (two BACKUPs, the CLI
     * beside the server) would delete or rename each other's half-written file. The last rename
     * wins, and each puts a whole copy in place. */
    static _Atomic unsigned seq;
    char tmp[4096];
    if (snprintf(tmp, sizeof tmp, "%s.tmp-%ld-%u", dst, (long)getpid(), atomic_fetch_add(&seq, 1)) >=
        (int)sizeof tmp) {
        snprintf(err, errlen, "path too long");
        return -1;
    }
    sqlite3 *from = NULL, *to = NULL;
    int rc = sqlite3_open_v2(src, &from, SQLITE_OPEN_READONLY, NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_open_v2(tmp, &to, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL);
    if (rc != SQLITE_OK) {
        snprintf(err, errlen, "%s", sqlite3_errmsg(to ? to : from));
        goto out;
    }
    sqlite3_busy_timeout(from, busy_ms);
    sqlite3_backup *b = sqlite3_backup_init(to, "main", from, "main");
    if (!b) {
        rc = SQLITE_ERROR;
        snprintf(err, errlen, "%s", sqlite3_errmsg(to));
        goto out;
    }
    /* All pages in one step: one read transaction, so the copy is one snapshot. */
    rc = sqlite3_backup_step(b, -1);
    sqlite3_backup_finish(b);
    if (rc != SQLITE_DONE) {
        snprintf(err, errlen, "%s", sqlite3_errstr(rc));
        goto out;
    }
    rc = sqlite3_close(to);
    to = NULL;
    if (rc != SQLITE_OK || rename(tmp, dst) != 0) {
        snprintf(err, errlen, "cannot move the copy into place at %s", dst);
        rc = SQLITE_ERROR;
        goto out;
    }
    struct stat st;
    if (bytes)
        *bytes = stat(dst, &st) == 0 ? (int64_t)st.st_size : 0;
    rc = SQLITE_OK;
out:
    sqlite3_close(to);
    sqlite3_close(from);
    if (rc != SQLITE_OK)
        unlink(tmp);
    return rc == SQLITE_OK ? 0 : -1;
}
