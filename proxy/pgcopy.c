/* pgcopy.c - COPY ... FROM STDIN (text format) for PostgreSQL clients: rows stream into writer jobs of bounded size, all inside one transaction. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pgsess_int.h"
#include "pgval.h"
#include "stats.h"

/* Rows per writer job: bounds what a COPY holds in memory while the writer works. Every job runs
 * in the same transaction, so a COPY still commits all or nothing. */
#define COPY_CHUNK_ROWS  10000
#define COPY_CHUNK_BYTES ((size_t)8 << 20)

enum copy_stage { C_RUN, C_WAIT_BEGIN, C_WAIT_CHUNK, C_WAIT_END };

struct pgcopy {
    enum copy_stage stage;
    int             implicit;   /* the COPY opened the transaction itself (no BEGIN from the client) */
    int             ending;     /* CopyDone arrived: commit once the last chunk is in */
    int             failed;     /* an error went out: roll back, then the Query fails */
    int             ncols;
    char            delim;
    char            null_str[16];
    buf             insert;     /* INSERT INTO t [(cols)] VALUES (?1, ..., ?n) */
    pg_plan        *plan;
    buf             partial;    /* a line cut across CopyData messages */
    buf             lines;      /* the chunk: complete lines, each ending in '\0' */
    int             nlines;
    int             eod;        /* the "\." line was seen: later data is ignored */
    int64_t         rows;       /* rows in chunks the writer has taken */
    int64_t         pending;    /* rows in the chunk with the writer */
};

void pgcopy_free(pgsess *s)
{
    pgcopy *cp = s->copy;
    if (!cp)
        return;
    buf_free(&cp->insert);
    buf_free(&cp->partial);
    buf_free(&cp->lines);
    pg_plan_unref(cp->plan);
    free(cp);
    s->copy = NULL;
}

/* Leave COPY mode; the Query goes on (or, after a failure, ends with ReadyForQuery). */
static void copy_end(pgsess *s, int failed)
{
    pgcopy_free(s);
    s->phase = PG_READY;
    if (failed) {
        s->q.i = s->q.n;
        if (s->txn == WRITER_TX_OPEN)
            s->txn = WRITER_TX_FAILED;
    }
    pgs_query_continue(s);
}

/* A failure: reported now (PostgreSQL does not wait for CopyDone); later COPY messages are dropped.
 * A transaction the COPY opened is rolled back first. */
static void copy_fail(pgsess *s, const char *state, const char *msg)
{
    pgcopy *cp = s->copy;
    if (msg)
        pgs_error(conn_out(s->c), state, msg);
    cp->failed = 1;
    if (cp->implicit && s->txn != WRITER_TX_NONE) {
        cp->stage = C_WAIT_END;
        pgs_submit_tx(s, WRITER_ROLLBACK, PGW_COPY);
        return;
    }
    copy_end(s, 1);
}

enum pg_step pgcopy_start(pgsess *s, const pgsql_result *r, buf *out)
{
    if (r->copy_format != 't') {
        pgs_error(out, "0A000", "COPY FROM STDIN: only the text format is supported");
        return PGS_DONE;
    }
    pgcopy *cp = calloc(1, sizeof *cp);
    if (!cp) {
        pgs_error(out, "53200", "out of memory");
        return PGS_DONE;
    }
    buf_init(&cp->insert);
    buf_init(&cp->partial);
    buf_init(&cp->lines);
    s->copy = cp;
    cp->delim = r->copy_delim;
    snprintf(cp->null_str, sizeof cp->null_str, "%s", r->copy_null);
    cp->ncols = r->ncols;
    char why[512];
    if (cp->ncols == 0) {
        /* No column list: every column of the table, in order. */
        buf q;
        buf_init(&q);
        buf_printf(&q, "SELECT * FROM %s", r->name);
        db_stmt *ds;
        size_t used;
        int rc = db_prepare(conn_reader(s->c), q.data ? q.data : "", q.len, &ds, &used);
        buf_free(&q);
        if (rc != SQLITE_OK || !ds) {
            snprintf(why, sizeof why, "relation \"%s\" does not exist", r->name);
            pgs_error(out, "42P01", why);
            pgcopy_free(s);
            return PGS_DONE;
        }
        cp->ncols = sqlite3_column_count(db_stmt_handle(ds));
        db_stmt_done(ds);
    }
    pgsql_copy_insert(r, cp->ncols, &cp->insert);
    int ro;
    query_plan *p = cp->insert.oom ? NULL
                  : query_plan_build(conn_reader(s->c), cp->insert.data, cp->insert.len, &ro, why, sizeof why);
    if (!p || !(cp->plan = pg_plan_new(p))) {
        pgs_error(out, strstr(why, "no such") ? "42P01" : "42601", p ? "out of memory" : why);
        pgcopy_free(s);
        return PGS_DONE;
    }
    stats_request(STATS_PROTO_PG, "copy");
    stats_add(STATS_QUERIES, 1);
    stats_add(STATS_WRITES, 1);
    pgwire_copy_in_response(out, cp->ncols);
    s->phase = PG_COPY_IN;
    if (s->txn == WRITER_TX_NONE) {
        /* Chunks are separate writer jobs: one transaction around them keeps the COPY atomic. */
        cp->implicit = 1;
        cp->stage = C_WAIT_BEGIN;
        pgs_submit_tx(s, WRITER_BEGIN, PGW_COPY);
    }
    return PGS_AGAIN;
}

/* Hand the collected lines to the writer as one job of INSERTs. */
static void flush_chunk(pgsess *s)
{
    pgcopy *cp = s->copy;
    pg_job *j = pgs_job_new(s, 1);
    pgval_copy_field f[PGSQL_MAX_COPY_COLS];
    lp_arg args[PGSQL_MAX_COPY_COLS];
    char msg[160];
    const char *state = "53200";
    snprintf(msg, sizeof msg, "out of memory");
    int ok = j != NULL && !cp->lines.oom;
    char *line = cp->lines.data;
    for (int i = 0; ok && i < cp->nlines; i++) {
        size_t len = strlen(line);
        int n = pgval_copy_text_fields(line, len, cp->delim, cp->null_str, f, PGSQL_MAX_COPY_COLS);
        if (n != cp->ncols) {
            state = "22P04";
            if (n >= 0 && n < cp->ncols)
                snprintf(msg, sizeof msg, "missing data for column %d (line %lld of the COPY data)", n + 1,
                         (long long)(cp->rows + i + 1));
            else
                snprintf(msg, sizeof msg, "extra data after last expected column (line %lld of the COPY data)",
                         (long long)(cp->rows + i + 1));
            ok = 0;
            break;
        }
        for (int k = 0; k < n; k++) {
            if (!f[k].null && memchr(f[k].p, '\0', f[k].n)) {
                /* An escape (\0, \x00) that decodes to NUL: PostgreSQL's encoding check refuses it. */
                state = "22021";
                snprintf(msg, sizeof msg, "invalid byte sequence for encoding \"UTF8\": 0x00");
                ok = 0;
                break;
            }
            memset(&args[k], 0, sizeof args[k]);
            args[k].type = f[k].null ? LP_ARG_NULL : LP_ARG_TEXT;
            args[k].s = f[k].p;
            args[k].len = f[k].n;
        }
        query_item it = {.sql = cp->insert.data, .len = cp->insert.len, .plan = cp->plan->p, .args = args, .nargs = n};
        ok = ok && pgs_job_add(j, &it, cp->plan, NULL) == 0;
        line += len + 1;
    }
    cp->pending = cp->nlines;
    buf_reset(&cp->lines);
    cp->nlines = 0;
    if (!ok) {
        pgs_job_free(j);
        copy_fail(s, state, msg);
        return;
    }
    cp->stage = C_WAIT_CHUNK;
    pgs_job_submit(s, j, WRITER_IN_TX, 0, PGW_COPY);
}

/* Everything is in: commit what the COPY opened, then answer COPY n. */
static void finish(pgsess *s)
{
    pgcopy *cp = s->copy;
    if (cp->nlines > 0) {
        flush_chunk(s);
        return;
    }
    if (cp->implicit) {
        cp->stage = C_WAIT_END;
        pgs_submit_tx(s, WRITER_COMMIT, PGW_COPY);
        return;
    }
    char tag[40];
    snprintf(tag, sizeof tag, "COPY %lld", (long long)cp->rows);
    pgwire_command_complete(conn_out(s->c), tag);
    copy_end(s, 0);
}

static void add_line(pgcopy *cp, const char *p, size_t n)
{
    if (n > 0 && p[n - 1] == '\r')
        n--; /* lines may end in \r\n */
    if (cp->eod)
        return;
    if (n == 2 && p[0] == '\\' && p[1] == '.') {
        cp->eod = 1; /* the end-of-data marker of old clients: not a row */
        return;
    }
    buf_append(&cp->lines, p, n);
    buf_putc(&cp->lines, '\0');
    cp->nlines++;
}

static void on_copy_data(pgsess *s, const char *p, size_t n)
{
    pgcopy *cp = s->copy;
    const char *end = p + n;
    /* Lines are kept '\0'-terminated, and PostgreSQL refuses the byte in UTF8 text anyway: the
     * whole COPY fails rather than a line being cut short (or two being joined). */
    if (!cp->eod && memchr(p, '\0', n)) {
        copy_fail(s, "22021", "invalid byte sequence for encoding \"UTF8\": 0x00");
        return;
    }
    /* A line is bounded as a message is (max_line): one without a newline cannot grow forever. */
    size_t max_line = (size_t)conn_shared(s->c)->cfg->max_line;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        if (!cp->eod && cp->partial.len + (size_t)((nl ? nl : end) - p) > max_line) {
            char msg[160];
            snprintf(msg, sizeof msg, "COPY line %lld is longer than max_line (%zu bytes)",
                     (long long)(cp->rows + cp->nlines + 1), max_line);
            copy_fail(s, "54000", msg);
            return;
        }
        if (!nl) {
            if (!cp->eod)
                buf_append(&cp->partial, p, (size_t)(end - p));
            break;
        }
        if (cp->partial.len) {
            buf_append(&cp->partial, p, (size_t)(nl - p));
            add_line(cp, cp->partial.data, cp->partial.len);
            buf_reset(&cp->partial);
        } else {
            add_line(cp, p, (size_t)(nl - p));
        }
        p = nl + 1;
    }
    if (cp->nlines >= COPY_CHUNK_ROWS || cp->lines.len >= COPY_CHUNK_BYTES || cp->partial.len >= COPY_CHUNK_BYTES)
        flush_chunk(s);
}

enum pg_step pgcopy_message(pgsess *s, const pgwire_msg *m)
{
    pgcopy *cp = s->copy;
    char err[300];
    switch (m->type) {
    case 'd':
        on_copy_data(s, m->body, m->body_len);
        return PGS_DONE;
    case 'c':
        if (cp->partial.len) {
            add_line(cp, cp->partial.data, cp->partial.len);
            buf_reset(&cp->partial);
        }
        cp->ending = 1;
        finish(s);
        return PGS_DONE;
    case 'f': {
        const char *why = "";
        pgwire_parse_copy_fail(m->body, m->body_len, &why, err, sizeof err);
        snprintf(err, sizeof err, "COPY from stdin failed: %.200s", why);
        copy_fail(s, "57014", err);
        return PGS_DONE;
    }
    case 'H': case 'S':
        return PGS_DONE; /* PostgreSQL ignores them in COPY mode */
    default:
        snprintf(err, sizeof err, "unexpected message type 0x%02X during COPY from stdin", (unsigned char)m->type);
        copy_fail(s, "08P01", err);
        return PGS_DONE;
    }
}

void pgcopy_job_done(pgsess *s, writer_job *job)
{
    pgcopy *cp = s->copy;
    if (!cp)
        return;
    buf *out = conn_out(s->c);
    /* Our own BEGIN / COMMIT / ROLLBACK answer nothing to the client unless they failed (a chunk's
     * INSERTs are quiet too). */
    int failed = pgs_tx_job_output(s, job, out);
    switch (cp->stage) {
    case C_WAIT_BEGIN:
        cp->stage = C_RUN;
        if (failed) {
            cp->implicit = 0; /* nothing to roll back */
            copy_fail(s, NULL, NULL);
        }
        return;
    case C_WAIT_CHUNK:
        cp->stage = C_RUN;
        if (failed) {
            copy_fail(s, NULL, NULL);
            return;
        }
        cp->rows += cp->pending;
        cp->pending = 0;
        if (cp->ending)
            finish(s);
        return;
    case C_WAIT_END:
        if (!cp->failed && !failed) {
            char tag[40];
            snprintf(tag, sizeof tag, "COPY %lld", (long long)cp->rows);
            pgwire_command_complete(out, tag);
        }
        copy_end(s, cp->failed || failed);
        return;
    default:
        return;
    }
}
