/* check.c - --check-config beyond the settings: the files the configuration names are there and make sense. */
#include "check.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "catalog.h"
#include "db.h"

/* The directory part of path ("." for a bare name). */
static void dir_of(const char *path, char *out, size_t outlen)
{
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s", path);
    snprintf(out, outlen, "%s", dirname(tmp));
}

static int check_paths(const config *cfg, char *err, size_t errlen)
{
    char dir[4096];
    struct stat st;
    dir_of(cfg->db_path, dir, sizeof dir);
    if (stat(dir, &st) < 0 || !S_ISDIR(st.st_mode)) {
        snprintf(err, errlen, "db_path %s: directory %s does not exist", cfg->db_path, dir);
        return -1;
    }
    if (stat(cfg->backup_dir, &st) == 0 && !S_ISDIR(st.st_mode)) {
        snprintf(err, errlen, "backup_dir %s: not a directory", cfg->backup_dir);
        return -1;
    }
    const char *log = cfg->log_file;
    if (log && log[0]) {
        /* Opened without O_CREAT: checking must not create it; a missing file needs its directory. */
        int fd = open(log, O_WRONLY | O_APPEND | O_CLOEXEC);
        if (fd >= 0) {
            close(fd);
        } else if (errno != ENOENT) {
            snprintf(err, errlen, "log_file %s: %s", log, strerror(errno));
            return -1;
        } else {
            dir_of(log, dir, sizeof dir);
            if (access(dir, W_OK) < 0) {
                snprintf(err, errlen, "log_file %s: directory %s: %s", log, dir, strerror(errno));
                return -1;
            }
        }
    }
    return 0;
}

/* Bring over what a live database has beyond the shipped schema (tables added by hand, their
 * views and triggers), so named queries over them plan too. Objects already there are skipped. */
static void copy_user_schema(const char *from, sqlite3 *to)
{
    sqlite3 *src = NULL;
    sqlite3_stmt *st = NULL;
    if (sqlite3_open_v2(from, &src, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK &&
        sqlite3_prepare_v2(src,
                           "SELECT sql FROM sqlite_schema WHERE sql IS NOT NULL AND name NOT LIKE 'sqlite_%' "
                           "ORDER BY CASE type WHEN 'table' THEN 0 WHEN 'index' THEN 1 WHEN 'view' THEN 2 ELSE 3 END",
                           -1, &st, NULL) == SQLITE_OK) {
        while (sqlite3_step(st) == SQLITE_ROW)
            sqlite3_exec(to, (const char *)sqlite3_column_text(st, 0), NULL, NULL, NULL); /* "already exists" is fine */
    }
    sqlite3_finalize(st);
    sqlite3_close(src);
}

static int check_queries(const config *cfg, char *err, size_t errlen)
{
    char dir[] = "/tmp/litecached-check.XXXXXX", path[64];
    if (!mkdtemp(dir)) {
        snprintf(err, errlen, "cannot make a scratch directory: %s", strerror(errno));
        return -1;
    }
    snprintf(path, sizeof path, "%s/schema.db", dir);
    /* A shallow copy pointing at the scratch file; its strings stay cfg's. */
    config scratch = *cfg;
    scratch.db_path = path;
    char why[1024];
    int rc = -1;
    db_conn *db = db_open(&scratch, DB_WRITER, why, sizeof why);
    if (!db) {
        snprintf(err, errlen, "cannot build a scratch copy of the schema: %s", why);
    } else {
        if (access(cfg->db_path, F_OK) == 0)
            copy_user_schema(cfg->db_path, db_handle(db));
        catalog *cat = catalog_build(db, cfg->query_files, why, sizeof why);
        if (!cat)
            snprintf(err, errlen, "named queries: %s", why);
        rc = cat ? 0 : -1;
        catalog_free(cat);
        db_close(db);
    }
    static const char *const suffixes[] = {"", "-wal", "-shm"};
    for (int i = 0; i < 3; i++) {
        char f[96];
        snprintf(f, sizeof f, "%s%s", path, suffixes[i]);
        unlink(f);
    }
    rmdir(dir);
    return rc;
}

int check_config_files(const config *cfg, char *err, size_t errlen)
{
    if (check_paths(cfg, err, errlen) < 0)
        return -1;
    return check_queries(cfg, err, errlen);
}
