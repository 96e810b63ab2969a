/* backup.c - consistent online copies of the database with SQLite's backup API. */
#include "backup.h"

#include <sqlite3.h>
#include <stdatomic.h>
#include <stdio.h>
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

int backup_copy(const char *src, const char *dst, int busy_ms, int64_t *bytes, char *err, size_t errlen)
{
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
