/* schema.c - brings the main database to this binary's schema version by running the embedded schema/ scripts in order. */
#include "schema.h"

#include <stdio.h>
#include <string.h>

#include "errmsg.h"

/* Defined by schema_embed.S: the files' bytes followed by a NUL. */
extern const char schema_sql_001_tables[];
extern const char schema_sql_002_stats[];
extern const char schema_sql_queries[];

/* Script i takes a database from version i to version i + 1. A schema change is a new file appended
 * here (and to schema_embed.S); a shipped script is never edited, since databases out there have
 * already run it. */
static const struct {
    const char *name;
    const char *sql;
} schema_scripts[] = {
    { "schema/001_tables.sql", schema_sql_001_tables },
    { "schema/002_stats.sql", schema_sql_002_stats },
};

#define SCHEMA_NSCRIPTS ((int)(sizeof schema_scripts / sizeof schema_scripts[0]))

int schema_version(void)
{
    return SCHEMA_NSCRIPTS;
}

const char *schema_queries_text(size_t *len)
{
    if (len)
        *len = strlen(schema_sql_queries);
    return schema_sql_queries;
}

static int schema_read_version(sqlite3 *db, int *version)
{
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &st, NULL);
    if (rc == SQLITE_OK) {
        rc = sqlite3_step(st);
        if (rc == SQLITE_ROW) {
            *version = sqlite3_column_int(st, 0);
            rc = SQLITE_OK;
        }
    }
    sqlite3_finalize(st);
    return rc;
}

/* Runs sql; on failure writes "<what>: <sqlite message>" to err. */
static int schema_exec(sqlite3 *db, const char *sql, const char *what, char *err, size_t errlen)
{
    char *msg = NULL;
    if (sqlite3_exec(db, sql, NULL, NULL, &msg) == SQLITE_OK)
        return 0;
    errmsg_set(err, errlen, "%s: %s", what, msg ? msg : sqlite3_errmsg(db));
    sqlite3_free(msg);
    return -1;
}

/* Some errors (SQLITE_FULL, SQLITE_IOERR, ...) have already rolled the transaction back. */
static void schema_rollback(sqlite3 *db)
{
    if (!sqlite3_get_autocommit(db))
        sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
}

static int schema_check_version(int have, int want, char *err, size_t errlen)
{
    if (have < 0) {
        errmsg_set(err, errlen, "database has PRAGMA user_version %d, which litecached never writes; refusing to touch it", have);
        return -1;
    }
    if (have > SCHEMA_NSCRIPTS) {
        errmsg_set(err, errlen,
                   "database schema version %d is newer than this litecached's (%d); refusing to touch it - run a newer litecached",
                   have, SCHEMA_NSCRIPTS);
        return -1;
    }
    if (have > want) {
        errmsg_set(err, errlen, "database schema version %d is past the requested version %d; migrations only go forward", have, want);
        return -1;
    }
    return 0;
}

int schema_apply_to(sqlite3 *db, int version, char *err, size_t errlen)
{
    if (version < 0 || version > SCHEMA_NSCRIPTS) {
        errmsg_set(err, errlen, "schema version %d does not exist (this litecached has 0..%d)", version, SCHEMA_NSCRIPTS);
        return -1;
    }

    /* Peek first: a database that is already current needs no write lock, so start-up neither
     * waits for another writer nor fails on a read-only file. Anything else is decided again
     * under BEGIN IMMEDIATE, in case another process migrates at the same time. */
    int have = 0;
    if (schema_read_version(db, &have) != SQLITE_OK) {
        errmsg_set(err, errlen, "reading PRAGMA user_version: %s", sqlite3_errmsg(db));
        return -1;
    }
    if (schema_check_version(have, version, err, errlen) < 0)
        return -1;
    if (have == version)
        return 0;

    if (schema_exec(db, "BEGIN IMMEDIATE", "BEGIN IMMEDIATE", err, errlen) < 0)
        return -1;
    if (schema_read_version(db, &have) != SQLITE_OK) {
        errmsg_set(err, errlen, "reading PRAGMA user_version: %s", sqlite3_errmsg(db));
        goto fail;
    }
    if (schema_check_version(have, version, err, errlen) < 0)
        goto fail;

    for (int v = have; v < version; v++)
        if (schema_exec(db, schema_scripts[v].sql, schema_scripts[v].name, err, errlen) < 0)
            goto fail;

    if (have != version) {
        char pragma[48];
        snprintf(pragma, sizeof pragma, "PRAGMA user_version = %d", version);
        if (schema_exec(db, pragma, "setting PRAGMA user_version", err, errlen) < 0)
            goto fail;
    }
    if (schema_exec(db, "COMMIT", "COMMIT", err, errlen) < 0)
        goto fail;
    return 0;

fail:
    schema_rollback(db);
    return -1;
}

/* Until the WAL holds a commit, every read transaction asks the kernel for the database's size
 * (one fstat per uncached read; with a commit in the WAL, SQLite takes the size from it), and a
 * clean shutdown checkpoints the WAL away. So an empty WAL gets one commit: user_version rewritten
 * with its own value, which changes nothing but adds a frame. Here, because user_version is this
 * file's to write; best effort: a read-only or busy file only keeps the fstat. */
void schema_prime_wal(sqlite3 *db)
{
    int nlog = -1, nckpt = -1, version;
    char pragma[48];
    if (sqlite3_wal_checkpoint_v2(db, NULL, SQLITE_CHECKPOINT_PASSIVE, &nlog, &nckpt) != SQLITE_OK || nlog != 0 ||
        schema_exec(db, "BEGIN IMMEDIATE", "BEGIN IMMEDIATE", NULL, 0) < 0)
        return;
    if (schema_read_version(db, &version) != SQLITE_OK)
        goto fail;
    snprintf(pragma, sizeof pragma, "PRAGMA user_version = %d", version);
    if (schema_exec(db, pragma, "", NULL, 0) == 0 && schema_exec(db, "COMMIT", "COMMIT", NULL, 0) == 0)
        return;
fail:
    schema_rollback(db);
}

int schema_apply(sqlite3 *db, char *err, size_t errlen)
{
    return schema_apply_to(db, SCHEMA_NSCRIPTS, err, errlen);
}
