/* applier.c - applies session changesets to a copy of their database with statements prepared once per table, not once per changeset. */
/* The session API is declared only for builds that ask for it; Debian's libsqlite3 has it compiled in. */
#define SQLITE_ENABLE_SESSION 1
#define SQLITE_ENABLE_PREUPDATE_HOOK 1
#include <sqlite3.h>

#include "applier.h"

#include <stdlib.h>
#include <string.h>

#include "buf.h"

/* sqlite3changeset_apply prepares its statements (and reads the table's shape) anew on every call,
 * hundreds of microseconds per group commit; these stay prepared until the schema changes. */
typedef struct table {
    char         *name;
    int           ncol;
    sqlite3_stmt *ins, *del, *upd;
    struct table *next;
} table;

struct applier {
    sqlite3 *db;
    table   *tables;
};

applier *applier_new(sqlite3 *db)
{
    applier *a = calloc(1, sizeof *a);
    if (a)
        a->db = db;
    return a;
}

void applier_reset(applier *a)
{
    while (a && a->tables) {
        table *t = a->tables;
        a->tables = t->next;
        sqlite3_finalize(t->ins);
        sqlite3_finalize(t->del);
        sqlite3_finalize(t->upd);
        free(t->name);
        free(t);
    }
}

void applier_free(applier *a)
{
    applier_reset(a);
    free(a);
}

static void put_name(buf *q, const char *name)
{
    buf_putc(q, '"');
    for (; *name; name++)
        buf_puts(q, *name == '"' ? "\"\"" : (char[]){*name, 0});
    buf_putc(q, '"');
}

/* INSERT with every column; DELETE and UPDATE by the primary key, whose columns the changeset marks
 * (abpk). UPDATE sets column i to ?(2i+1) when ?(2i+2) is 1 (the column changed), else keeps it;
 * the key follows from ?(2n+1). Column names come from the copy itself. */
static int prepare_table(applier *a, table *t, const unsigned char *abpk)
{
    sqlite3_stmt *cols;
    char *sql = sqlite3_mprintf("SELECT name FROM pragma_table_info(%Q) ORDER BY cid", t->name);
    int rc = sql ? sqlite3_prepare_v2(a->db, sql, -1, &cols, NULL) : SQLITE_NOMEM;
    sqlite3_free(sql);
    if (rc != SQLITE_OK)
        return rc;
    buf ins, del, upd, where;
    buf_init(&ins);
    buf_init(&del);
    buf_init(&upd);
    buf_init(&where);
    int n = 0, nkey = 0;
    buf_puts(&ins, "INSERT INTO main.");
    put_name(&ins, t->name);
    buf_puts(&ins, " VALUES (");
    buf_puts(&upd, "UPDATE main.");
    put_name(&upd, t->name);
    buf_puts(&upd, " SET ");
    while (sqlite3_step(cols) == SQLITE_ROW) {
        const char *col = (const char *)sqlite3_column_text(cols, 0);
        if (n >= t->ncol) {
            n++;
            break;
        }
        buf_printf(&ins, "%s?%d", n ? "," : "", n + 1);
        buf_puts(&upd, n ? ", " : "");
        put_name(&upd, col);
        buf_printf(&upd, " = CASE WHEN ?%d THEN ?%d ELSE ", 2 * n + 2, 2 * n + 1);
        put_name(&upd, col);
        buf_puts(&upd, " END");
        if (abpk[n]) {
            buf_puts(&where, nkey ? " AND " : " WHERE ");
            put_name(&where, col);
            buf_printf(&where, " IS ?%d", 2 * t->ncol + 1 + n);
            nkey++;
        }
        n++;
    }
    sqlite3_finalize(cols);
    buf_putc(&ins, ')');
    buf_puts(&del, "DELETE FROM main.");
    put_name(&del, t->name);
    buf_append(&del, where.data ? where.data : "", where.len);
    buf_append(&upd, where.data ? where.data : "", where.len);
    rc = n != t->ncol || nkey == 0 ? SQLITE_SCHEMA
         : ins.oom || del.oom || upd.oom ? SQLITE_NOMEM
                                         : SQLITE_OK;
    if (rc == SQLITE_OK)
        rc = sqlite3_prepare_v3(a->db, ins.data, (int)ins.len, SQLITE_PREPARE_PERSISTENT, &t->ins, NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_prepare_v3(a->db, del.data, (int)del.len, SQLITE_PREPARE_PERSISTENT, &t->del, NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_prepare_v3(a->db, upd.data, (int)upd.len, SQLITE_PREPARE_PERSISTENT, &t->upd, NULL);
    buf_free(&ins);
    buf_free(&del);
    buf_free(&upd);
    buf_free(&where);
    return rc;
}

static table *table_for(applier *a, const char *name, int ncol, const unsigned char *abpk, int *rc)
{
    for (table *t = a->tables; t; t = t->next)
        if (strcmp(t->name, name) == 0) {
            *rc = t->ncol == ncol ? SQLITE_OK : SQLITE_SCHEMA;
            return t;
        }
    table *t = calloc(1, sizeof *t);
    if (!t || !(t->name = strdup(name))) {
        free(t);
        *rc = SQLITE_NOMEM;
        return NULL;
    }
    t->ncol = ncol;
    t->next = a->tables;
    a->tables = t; /* kept even when it fails to prepare: reset drops it */
    *rc = prepare_table(a, t, abpk);
    return t;
}

/* Bind the changeset's values for column i: old (DELETE, the key) or new (INSERT, UPDATE). */
static int bind_change(sqlite3_changeset_iter *it, int op, int ncol, const unsigned char *abpk, sqlite3_stmt *st)
{
    sqlite3_value *v;
    int rc = SQLITE_OK;
    for (int i = 0; i < ncol && rc == SQLITE_OK; i++) {
        if (op == SQLITE_INSERT) {
            if ((rc = sqlite3changeset_new(it, i, &v)) == SQLITE_OK)
                rc = sqlite3_bind_value(st, i + 1, v);
            continue;
        }
        if (op == SQLITE_UPDATE) {
            v = NULL;
            if ((rc = sqlite3changeset_new(it, i, &v)) != SQLITE_OK)
                break;
            sqlite3_bind_int(st, 2 * i + 2, v != NULL);
            rc = v ? sqlite3_bind_value(st, 2 * i + 1, v) : sqlite3_bind_null(st, 2 * i + 1);
        }
        if (rc == SQLITE_OK && abpk[i] && (rc = sqlite3changeset_old(it, i, &v)) == SQLITE_OK)
            rc = sqlite3_bind_value(st, 2 * ncol + 1 + i, v);
    }
    return rc;
}

int applier_apply(applier *a, int n, void *changeset)
{
    sqlite3_changeset_iter *it;
    int rc = sqlite3changeset_start(&it, n, changeset);
    if (rc != SQLITE_OK)
        return rc;
    while (rc == SQLITE_OK && sqlite3changeset_next(it) == SQLITE_ROW) {
        const char *name;
        int ncol, op, indirect, npk;
        unsigned char *abpk;
        if ((rc = sqlite3changeset_op(it, &name, &ncol, &op, &indirect)) != SQLITE_OK ||
            (rc = sqlite3changeset_pk(it, &abpk, &npk)) != SQLITE_OK)
            break;
        table *t = table_for(a, name, ncol, abpk, &rc);
        if (rc != SQLITE_OK)
            break;
        sqlite3_stmt *st = op == SQLITE_INSERT ? t->ins : op == SQLITE_DELETE ? t->del : t->upd;
        rc = bind_change(it, op, ncol, abpk, st);
        if (rc == SQLITE_OK) {
            int step = sqlite3_step(st);
            rc = step != SQLITE_DONE ? (sqlite3_errcode(a->db) == SQLITE_OK ? SQLITE_ERROR : sqlite3_errcode(a->db))
                 : sqlite3_changes(a->db) != 1 ? SQLITE_ABORT
                                               : SQLITE_OK;
        }
        sqlite3_reset(st);
        sqlite3_clear_bindings(st);
    }
    int frc = sqlite3changeset_finalize(it);
    if ((rc & 0xff) == SQLITE_CONSTRAINT)
        rc = SQLITE_ABORT; /* the row was there already: the copy had drifted */
    return rc != SQLITE_OK ? rc : frc;
}
