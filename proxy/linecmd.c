/* linecmd.c - the line protocol session: commands (CALL, PREPARE, BATCH, FORMAT, …) and SQL lines, routed to a reader or the writer. */
#include "linecmd.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <uthash.h>

#include <errno.h>
#include <pthread.h>
#include <sys/stat.h>
#include <time.h>

#include "auth.h"
#include "backup.h"
#include "catalog.h"
#include "lineproto.h"
#include "log.h"
#include "query.h"
#include "replica.h"
#include "stats.h"

/* Arguments of the KV commands; and the slots a CALL keeps between lines (more are allocated for
 * one line, up to max_params, and given back after it). */
#define LINECMD_MAX_ARGS 256

/* A statement made with PREPARE: local to the connection. */
typedef struct prepared {
    char          *name;
    char          *sql;
    size_t         len;
    query_plan    *plan;
    int            readonly;
    UT_hash_handle hh;
} prepared;

enum { BATCH_LINE_TOO_LONG = 1, BATCH_LINE_TOO_BIG = 2, BATCH_LINE_NUL = 3 };

typedef struct batch_line {
    size_t off, len;
    int    bad;  /* why the line is refused without running, or 0 */
} batch_line;

typedef struct line_sess {
    lp_framer   fr;
    lp_format   fmt;
    prepared   *prep;
    int         batch_n;      /* lines the pending BATCH announced; 0 when none */
    int         batch_got;
    buf         batch_text;   /* the collected lines, back to back */
    batch_line *blines;
    buf         scratch;      /* decoded CALL arguments of the line being served */
    buf         key;          /* the cache key of the read being served */
    int         txn;          /* enum writer_tx_state: an open transaction runs on the writer */
    struct resolved *res;     /* the line being understood (big: kept, not allocated per line) */
    enum role   role;         /* what this connection may do (admin under auth = trust) */
    int         authed;       /* may run more than PING, HELP, AUTH and QUIT */
    enum role   auth_role;    /* the role an AUTH in flight would grant */
    char        auth_user[64];
} line_sess;

/* A line, understood: what to run and with what, or the reply decided without running. */
typedef struct resolved {
    query_item it;
    lp_arg    *args;
    int        args_cap;
    int        readonly;
    char       msg[256];
} resolved;

/* A job for the writer that owns copies of everything its items point to. */
typedef struct line_job {
    writer_job  wj;
    query_item *items;
    lp_arg     *args;
    buf         arena;
} line_job;

static const char *const help_lines[] = {
    "<sql>\tany SQLite statement, one per line; a trailing ; is optional",
    "CALL <name> [args...]\trun a named query (or a PREPAREd one); args are JSON values or bare words",
    "PREPARE <name> AS <sql>\tprepare a statement for this connection, run it with CALL",
    "DEALLOCATE <name>|ALL\tforget a prepared statement",
    "BATCH <n>\tthe next n lines are one unit: all-or-nothing when any of them writes",
    "BEGIN | COMMIT | ROLLBACK\ta transaction: its statements, reads included, run on the writer",
    "FORMAT tsv|json\tchoose how rows are written",
    "BACKUP <name>\twrite a consistent online copy of the database into backup_dir",
    "CACHE STATS | FLUSH [table] | KEYS [n] | QUERY <select>\tlook into and manage the result cache",
    "SET <key> <value> [EX <seconds>]\tstore a value in the key-value tier",
    "GET <key> | DEL <key>... | TTL <key> | EXPIRE <key> <seconds>\tread, delete and age key-value entries",
    "REPLICA STATUS | CHECK\tthe in-memory read replica: state, size, lag; or every table compared with the file",
    "AUTH <user> <password>\tlog in as a user of users_file (needed first unless auth = trust)",
    "STATS\tserver counters",
    "PING\tanswers +PONG",
    "HELP\tthis list",
    "QUIT\tclose the connection",
};

static void reply_error(conn *c, const char *state, const char *msg)
{
    lp_put_error(conn_out(c), state, msg);
    stats_error(state);
}

static query_limits limits_of(const line_sess *s, conn *c)
{
    return query_limits_for(conn_shared(c)->cfg, s->role);
}

/* ---- understanding one line ------------------------------------------------ */

static int word_is(const char *w, size_t n, const char *kw)
{
    return strlen(kw) == n && strncasecmp(w, kw, n) == 0;
}

static void skip_space(const char **p, const char *end)
{
    while (*p < end && (**p == ' ' || **p == '\t'))
        (*p)++;
}

static size_t word_len(const char *p, const char *end)
{
    const char *q = p;
    while (q < end && *q != ' ' && *q != '\t')
        q++;
    return (size_t)(q - p);
}

/* ---- who may do what ------------------------------------------------------------ */

/* Is the connection's role at least r? If not, reply 42501 naming what was refused. */
static int require(line_sess *s, conn *c, enum role r, const char *what)
{
    if (s->role >= r)
        return 1;
    char msg[200];
    snprintf(msg, sizeof msg, "permission denied: %s needs the %s role (this is %s)", what, role_name(r),
             role_name(s->role));
    reply_error(c, "42501", msg);
    return 0;
}

/* AUTH <user> <password>: the password is the rest of the line, spaces included. The check runs
 * on the auth thread (PBKDF2 takes milliseconds, and a failing address is made to wait). */
static void cmd_auth(line_sess *s, conn *c, const char *p, const char *end)
{
    skip_space(&p, end);
    size_t ul = word_len(p, end);
    const char *pw = p + ul;
    skip_space(&pw, end);
    while (end > pw && end[-1] == '\r')
        end--;
    if (ul == 0 || pw == end) {
        reply_error(c, "42601", "usage: AUTH <user> <password>");
        return;
    }
    const worker_shared *sh = conn_shared(c);
    const users_list *users = sh->users;
    if (users_count(users) == 0) {
        reply_error(c, "28000", "AUTH: no users are configured (users_file is empty)");
        return;
    }
    snprintf(s->auth_user, sizeof s->auth_user, "%.*s", (int)(ul < sizeof s->auth_user ? ul : 0), p);
    const users_entry *who = s->auth_user[0] ? users_find(users, s->auth_user) : NULL;
    char addr[64];
    conn_peer(c, addr, sizeof addr);
    char *password = strndup(pw, (size_t)(end - pw));
    auth_req *r = password ? auth_req_new(who ? who->verifier : NULL, password, addr) : NULL;
    if (password) {
        explicit_bzero(password, strlen(password));
        free(password);
    }
    if (!r) {
        reply_error(c, "53200", "out of memory");
        return;
    }
    s->auth_role = who ? who->role : ROLE_READONLY;
    conn_await(c, auth_req_job(r));
    auth_submit(sh->auth, r);
}

/* The auth thread answered an AUTH. A failure leaves the connection as it was. */
static void auth_answered(line_sess *s, conn *c, auth_req *r)
{
    if (auth_req_ok(r)) {
        s->authed = 1;
        s->role = s->auth_role;
        buf_printf(conn_out(c), "+OK authenticated as %s role=%s\n", s->auth_user, role_name(s->role));
        return;
    }
    char msg[160], addr[64];
    snprintf(msg, sizeof msg, "password authentication failed for user \"%s\"", s->auth_user);
    conn_peer(c, addr, sizeof addr);
    log_msg(LOG_INFO, conn_id(c), "%s (from %s)", msg, addr);
    reply_error(c, "28P01", msg);
}

static void set_error(resolved *r, const char *state, const char *fmt, const char *a, size_t alen)
{
    snprintf(r->msg, sizeof r->msg, fmt, (int)alen, a);
    r->it.err_state = state;
    r->it.err_msg = r->msg;
    r->readonly = 1;
}

/* Room for n arguments in r; a line that needed more than LINECMD_MAX_ARGS gives them back, so
 * one huge CALL does not pin its slots to the connection. */
static int args_reserve(resolved *r, int n)
{
    if (n < LINECMD_MAX_ARGS)
        n = LINECMD_MAX_ARGS;
    if (n == r->args_cap)
        return 0;
    lp_arg *a = realloc(r->args, sizeof *a * (size_t)n);
    if (!a)
        return -1;
    r->args = a;
    r->args_cap = n;
    return 0;
}

/* CALL <name> [args]: find the query (this connection's PREPAREd ones first) and parse arguments. */
static void resolve_call(line_sess *s, conn *c, const char *p, const char *end, resolved *r)
{
    skip_space(&p, end);
    size_t nlen = word_len(p, end);
    if (nlen == 0) {
        set_error(r, "42601", "CALL needs a query name%.*s", "", 0);
        return;
    }
    const char *name = p;
    p += nlen;
    const query_plan *plan;
    prepared *pr;
    HASH_FIND(hh, s->prep, name, nlen, pr);
    if (pr) {
        r->it.sql = pr->sql;
        r->it.len = pr->len;
        r->it.name = pr->name;
        plan = pr->plan;
        r->readonly = pr->readonly;
    } else {
        const catalog_entry *e = catalog_find(conn_shared(c)->cat, name, nlen);
        if (!e) {
            set_error(r, "42883", "unknown named query '%.*s'", name, nlen);
            return;
        }
        r->it.sql = e->q->sql;
        r->it.len = strlen(e->q->sql);
        r->it.name = e->q->name;
        r->it.ttl = e->q->ttl > 0 ? e->q->ttl : 0;
        r->it.nocache = e->q->nocache;
        plan = e->plan;
        r->readonly = e->readonly;
    }
    /* Slots for as many arguments as the text can hold, within max_params. */
    int max = conn_shared(c)->cfg->max_params;
    size_t fit = (size_t)(end - p + 1) / 2;
    int want = fit < (size_t)max ? (int)fit : max;
    buf_reset(&s->scratch);
    if (buf_reserve(&s->scratch, (size_t)(end - p)) < 0 || args_reserve(r, want) < 0) {
        set_error(r, "53200", "out of memory%.*s", "", 0);
        return;
    }
    char why[160];
    int n = lp_parse_args(p, (size_t)(end - p), r->args, want, s->scratch.data, why, sizeof why);
    if (n == LP_ARGS_TOO_MANY) {
        char limit[16];
        snprintf(limit, sizeof limit, "%d", max);
        set_error(r, "54023", "too many arguments: more than max_params (%.*s)", limit, strlen(limit));
        return;
    }
    if (n < 0) {
        set_error(r, "22023", "%.*s", why, strlen(why));
        return;
    }
    if (n != query_plan_nparams(plan)) {
        buf names;
        buf_init(&names);
        query_plan_describe(plan, &names);
        snprintf(r->msg, sizeof r->msg, "%s takes %d argument%s (%.*s), got %d", r->it.name,
                 query_plan_nparams(plan), query_plan_nparams(plan) == 1 ? "" : "s",
                 (int)names.len, names.data ? names.data : "", n);
        buf_free(&names);
        r->it.err_state = "22023";
        r->it.err_msg = r->msg;
        r->readonly = 1;
        return;
    }
    r->it.plan = plan;
    r->it.args = r->args;
    r->it.nargs = n;
}

/* Statements that can only write, by their first word: they go to the writer without being
 * prepared here first (the writer prepares them anyway, and a unique INSERT would cost two). */
static int surely_writes(const char *p, const char *end)
{
    size_t wl = word_len(p, end);
    return word_is(p, wl, "INSERT") || word_is(p, wl, "UPDATE") || word_is(p, wl, "DELETE") ||
           word_is(p, wl, "REPLACE");
}

/* A SQL line: prepare it on this worker's reader to learn whether it writes. */
static void resolve_sql(conn *c, const char *line, size_t len, resolved *r)
{
    r->it.sql = line;
    r->it.len = len;
    const char *p = line, *end = line + len;
    skip_space(&p, end);
    if (surely_writes(p, end)) {
        r->readonly = 0;
        return;
    }
    db_conn *db = conn_reader(c);
    db_stmt *ds;
    size_t used;
    int rc = db_prepare(db, line, len, &ds, &used);
    if (rc != SQLITE_OK || !ds) {
        /* Running it reports the error exactly as SQLite words it. */
        r->readonly = 1;
        return;
    }
    if (db_stmt_flags(ds) & DB_STMT_TXN) {
        set_error(r, "0A000", "transaction control must stand alone at the start of a line%.*s", "", 0);
        return;
    }
    /* EXPLAIN of a write only describes it: a read, served here. */
    r->readonly = sqlite3_stmt_readonly(db_stmt_handle(ds)) || sqlite3_stmt_isexplain(db_stmt_handle(ds));
}

/* Understand a line that can stand inside a BATCH (SQL, CALL, PING); others are refused there. */
static void resolve_line(line_sess *s, conn *c, const char *line, size_t len, resolved *r)
{
    memset(&r->it, 0, sizeof r->it);
    r->readonly = 1;
    const char *p = line, *end = line + len;
    skip_space(&p, end);
    size_t wl = word_len(p, end);
    if (word_is(p, wl, "CALL")) {
        stats_cmd(STATS_CMD_CALL);
        resolve_call(s, c, p + wl, end, r);
    } else if (word_is(p, wl, "PING")) {
        stats_cmd(STATS_CMD_PING);
        r->it.literal = "+PONG\n";
    } else if (word_is(p, wl, "BATCH") || word_is(p, wl, "PREPARE") || word_is(p, wl, "DEALLOCATE") ||
               word_is(p, wl, "FORMAT") || word_is(p, wl, "QUIT") || word_is(p, wl, "HELP") ||
               word_is(p, wl, "STATS")) {
        set_error(r, "0A000", "%.*s is not allowed inside BATCH", p, wl);
    } else if (word_is(p, wl, "CACHE") || word_is(p, wl, "SET") || word_is(p, wl, "GET") || word_is(p, wl, "DEL") ||
               word_is(p, wl, "TTL") || word_is(p, wl, "EXPIRE") || word_is(p, wl, "BACKUP") ||
               word_is(p, wl, "AUTH") || word_is(p, wl, "REPLICA")) {
        set_error(r, "0A000", "%.*s is not allowed inside BATCH", p, wl);
    } else {
        stats_cmd(STATS_CMD_SQL);
        resolve_sql(c, line, len, r);
    }
}

/* ---- jobs for the writer ------------------------------------------------------ */

static void line_job_release(writer_job *wj)
{
    line_job *j = (line_job *)wj;
    buf_free(&j->wj.reply);
    buf_free(&j->arena);
    free(j->items);
    free(j->args);
    free(j);
}

/* Where a pointer of an item will point once the arena stops moving. */
typedef struct fixup {
    size_t sql_off, msg_off, args_first;
    int    sql_copied, msg_copied;
} fixup;

typedef struct job_builder {
    line_job *job;
    fixup    *fix;
    size_t   *arg_off;   /* per argument: its text's offset in the arena */
    int       n, nargs;
    int       args_cap;  /* room in job->args and arg_off: grown by doubling, not per line */
} job_builder;

static int jb_init(job_builder *b, int nitems, const line_sess *s, conn *c)
{
    memset(b, 0, sizeof *b);
    b->job = calloc(1, sizeof *b->job);
    b->fix = calloc(nitems ? (size_t)nitems : 1, sizeof *b->fix);
    if (b->job)
        b->job->items = calloc(nitems ? (size_t)nitems : 1, sizeof *b->job->items);
    if (!b->job || !b->fix || !b->job->items) {
        if (b->job)
            free(b->job->items);
        free(b->job);
        free(b->fix);
        return -1;
    }
    buf_init(&b->job->arena);
    buf_init(&b->job->wj.reply);
    b->job->wj.release = line_job_release;
    b->job->wj.limits = limits_of(s, c);
    return 0;
}

/* Copy a resolved line into the job: its SQL, error message and argument texts go to the arena. */
static int jb_add(job_builder *b, const resolved *r)
{
    line_job *j = b->job;
    query_item *it = &j->items[b->n];
    fixup *f = &b->fix[b->n];
    *it = r->it;
    if (r->it.sql) {
        f->sql_off = j->arena.len;
        f->sql_copied = 1;
        buf_append(&j->arena, r->it.sql, r->it.len);
    }
    if (r->it.err_msg) {
        f->msg_off = j->arena.len;
        f->msg_copied = 1;
        buf_append(&j->arena, r->it.err_msg, strlen(r->it.err_msg) + 1);
    }
    f->args_first = (size_t)b->nargs;
    if (r->it.nargs > 0) {
        if (b->nargs + r->it.nargs > b->args_cap) {
            int cap = b->args_cap ? b->args_cap * 2 : 8;
            while (cap < b->nargs + r->it.nargs)
                cap *= 2;
            lp_arg *a = realloc(j->args, sizeof *a * (size_t)cap);
            if (a)
                j->args = a;
            size_t *o = a ? realloc(b->arg_off, sizeof *o * (size_t)cap) : NULL;
            if (o)
                b->arg_off = o;
            if (!a || !o)
                return -1;
            b->args_cap = cap;
        }
        for (int i = 0; i < r->it.nargs; i++) {
            j->args[b->nargs + i] = r->it.args[i];
            b->arg_off[b->nargs + i] = j->arena.len;
            if (r->it.args[i].type == LP_ARG_TEXT)
                buf_append(&j->arena, r->it.args[i].s, r->it.args[i].len);
        }
        b->nargs += r->it.nargs;
    }
    b->n++;
    return j->arena.oom ? -1 : 0;
}

/* The arena is complete: turn offsets into pointers. */
static line_job *jb_finish(job_builder *b)
{
    line_job *j = b->job;
    for (int i = 0; i < b->nargs; i++)
        if (j->args[i].type == LP_ARG_TEXT)
            j->args[i].s = j->arena.data + b->arg_off[i];
    for (int i = 0; i < b->n; i++) {
        query_item *it = &j->items[i];
        if (b->fix[i].sql_copied)
            it->sql = j->arena.data + b->fix[i].sql_off;
        if (b->fix[i].msg_copied)
            it->err_msg = j->arena.data + b->fix[i].msg_off;
        if (it->nargs > 0)
            it->args = j->args + b->fix[i].args_first;
    }
    j->wj.items = j->items;
    j->wj.nitems = b->n;
    free(b->fix);
    free(b->arg_off);
    return j;
}

static void jb_abort(job_builder *b)
{
    line_job_release(&b->job->wj);
    free(b->fix);
    free(b->arg_off);
}

/* ---- running ------------------------------------------------------------------ */

static void count_item(const resolved *r)
{
    if (r->it.literal || r->it.err_state)
        return;
    stats_add(STATS_QUERIES, 1);
    stats_add(r->readonly ? STATS_READS : STATS_WRITES, 1);
}

typedef struct read_ctx {
    line_sess          *s;
    conn               *c;
    const query_limits *lim;
    const rcache_batch *batch; /* a read-only BATCH's snapshot, or NULL */
} read_ctx;

/* A read, through the result cache, else on this worker's connection. */
static int run_read(void *ud, const query_item *it, buf *out, char *state)
{
    read_ctx *rc = ud;
    return rcache_read(conn_shared(rc->c)->rc, conn_reader(rc->c), it, query_line_sink(rc->s->fmt), (int)rc->s->fmt,
                       rc->lim, out, state, &rc->s->key);
}

/* A BATCH's read: none once its reply so far passed output_hard_limit (the client was dropped),
 * so unread replies cannot pile up to max_batch times max_result_bytes. */
static int run_batch_read(void *ud, const query_item *it, buf *out, char *state)
{
    read_ctx *rc = ud;
    if (conn_out_over_limit(rc->c))
        return QUERY_BATCH_STOP;
    return rcache_read_batch(conn_shared(rc->c)->rc, rc->batch, it, query_line_sink(rc->s->fmt), (int)rc->s->fmt,
                             rc->lim, out, state, &rc->s->key);
}

static void submit(line_sess *s, conn *c, line_job *j, enum writer_tx tx)
{
    j->wj.fmt = s->fmt;
    j->wj.tx = tx;
    j->wj.session = conn_id(c);
    conn_submit(c, &j->wj);
}

/* Run one resolved line: reads here on the worker, writes (and, inside a transaction, everything)
 * through the writer. */
static void run_single(line_sess *s, conn *c, resolved *r)
{
    count_item(r);
    if (r->readonly && !s->txn) {
        query_limits lim = limits_of(s, c);
        read_ctx ctx = {s, c, &lim, NULL};
        run_read(&ctx, &r->it, conn_out(c), NULL);
        return;
    }
    job_builder b;
    if (jb_init(&b, 1, s, c) < 0 || jb_add(&b, r) < 0) {
        if (b.job)
            jb_abort(&b);
        reply_error(c, "53200", "out of memory");
        return;
    }
    line_job *j = jb_finish(&b);
    submit(s, c, j, s->txn ? WRITER_IN_TX : WRITER_PLAIN);
}

static void batch_reset(line_sess *s)
{
    s->batch_n = 0;
    s->batch_got = 0;
    buf_reset(&s->batch_text);
    free(s->blines);
    s->blines = NULL;
}

/* Every line of the BATCH is here: run them as one unit. */
/* A BATCH whose every line is a read found in the cache is answered from the cache alone: no line
 * is prepared, nothing runs. Returns 0 (nothing written) as soon as one line is not such a hit. */
static int batch_from_cache(line_sess *s, conn *c)
{
    if (s->txn)
        return 0;
    rcache *rc = conn_shared(c)->rc;
    const query_sink *sink = query_line_sink(s->fmt);
    int n = s->batch_n;
    const char **texts = malloc(sizeof *texts * (size_t)n);
    size_t *lens = malloc(sizeof *lens * (size_t)n);
    int ok = texts && lens;
    for (int i = 0; ok && i < n; i++) {
        batch_line *bl = &s->blines[i];
        /* A command, a write or anything SQLite never read successfully has no cache entry. */
        ok = !bl->bad && !word_is(s->batch_text.data + bl->off, word_len(s->batch_text.data + bl->off,
                                  s->batch_text.data + bl->off + bl->len), "CALL");
        texts[i] = s->batch_text.data + bl->off;
        lens[i] = bl->len;
    }
    /* Straight into the reply (taken back if a line misses: a copy less on the fast path). It may
     * not take the output past output_hard_limit: if it would, the lines run one by one instead,
     * where the limit is applied between them. */
    buf *out = conn_out(c);
    size_t start = out->len;
    out->limit = start + conn_out_room(c);
    ok = ok && rcache_try_hits(rc, texts, lens, n, sink, (int)s->fmt, out, &s->key);
    out->limit = 0;
    free(texts);
    free(lens);
    if (ok && out->oom) {
        buf_truncate(out, start);
        out->oom = 0;
        ok = 0;
    }
    if (!ok)
        return 0;
    query_put_batch_status(conn_out(c), s->batch_n, -1, NULL);
    stats_add(STATS_QUERIES, s->batch_n);
    stats_add(STATS_READS, s->batch_n);
    stats_cmd_n(STATS_CMD_SQL, s->batch_n);
    batch_reset(s);
    return 1;
}

static void run_batch(line_sess *s, conn *c)
{
    if (batch_from_cache(s, c))
        return;
    int n = s->batch_n;
    job_builder b;
    resolved *r = s->res;
    if (jb_init(&b, n, s, c) < 0) {
        for (int i = 0; i < n; i++)
            lp_put_error(conn_out(c), "53200", "out of memory");
        query_put_batch_status(conn_out(c), n, 0, "53200");
        batch_reset(s);
        return;
    }
    int writes = 0, oom = 0;
    for (int i = 0; i < n && !oom; i++) {
        batch_line *bl = &s->blines[i];
        if (bl->bad) {
            memset(&r->it, 0, sizeof r->it);
            if (bl->bad == BATCH_LINE_NUL)
                set_error(r, "22021", "a request may not contain a NUL byte%.*s", "", 0);
            else
                set_error(r, "54000", bl->bad == BATCH_LINE_TOO_LONG ? "line too long%.*s"
                                                                    : "BATCH larger than max_batch_bytes%.*s", "", 0);
        } else {
            resolve_line(s, c, s->batch_text.data + bl->off, bl->len, r);
        }
        count_item(r);
        writes |= !r->readonly;
        oom = jb_add(&b, r) < 0;
    }
    batch_reset(s);
    if (oom) {
        jb_abort(&b);
        for (int i = 0; i < n; i++)
            lp_put_error(conn_out(c), "53200", "out of memory");
        query_put_batch_status(conn_out(c), n, 0, "53200");
        return;
    }
    line_job *j = jb_finish(&b);
    j->wj.batch = 1;
    if (writes || s->txn) {
        /* The writer builds the whole reply before any of it is sent: bounded like the output
         * (a line whose result passes it fails with 54000, so the batch applies nothing). */
        j->wj.reply.limit = (size_t)conn_shared(c)->cfg->output_hard_limit;
        submit(s, c, j, s->txn ? WRITER_IN_TX : WRITER_PLAIN);
        return;
    }
    j->wj.fmt = s->fmt;
    /* Only reads: run here, in one read transaction (the README's "one snapshot"), which ends with
     * the batch however it stops (an error, a cancel, the output limit). */
    char state[6] = "";
    rcache_batch rb;
    rcache_batch_begin(conn_shared(c)->rc, conn_reader(c), &rb);
    read_ctx ctx = {s, c, &j->wj.limits, &rb};
    int failed = query_run_batch(j->items, n, run_batch_read, &ctx, conn_out(c), state);
    rcache_batch_end(&rb);
    if (failed != QUERY_BATCH_STOP)
        query_put_batch_status(conn_out(c), n, failed, state);
    line_job_release(&j->wj);
}

static void batch_collect(line_sess *s, conn *c, const char *line, size_t len, int bad)
{
    /* The lines wait in memory until the last arrives: bound them as a whole, too. */
    if (!bad && (int64_t)(s->batch_text.len + len) > conn_shared(c)->cfg->max_batch_bytes)
        bad = BATCH_LINE_TOO_BIG;
    batch_line *bl = &s->blines[s->batch_got++];
    bl->off = s->batch_text.len;
    bl->len = bad ? 0 : len;
    bl->bad = bad;
    if (!bad)
        buf_append(&s->batch_text, line, len);
    if (s->batch_got == s->batch_n)
        run_batch(s, c);
}

/* ---- commands that only the line protocol has ---------------------------------- */

static void cmd_batch(line_sess *s, conn *c, const char *p, const char *end)
{
    stats_cmd(STATS_CMD_BATCH);
    skip_space(&p, end);
    char tmp[24];
    size_t wl = word_len(p, end);
    const char *after = p + wl;
    skip_space(&after, end);
    if (wl == 0 || wl >= sizeof tmp || after != end) {
        reply_error(c, "42601", "usage: BATCH <n>");
        return;
    }
    memcpy(tmp, p, wl);
    tmp[wl] = '\0';
    char *e;
    long n = strtol(tmp, &e, 10);
    int max = conn_shared(c)->cfg->max_batch;
    if (*e || n < 1) {
        reply_error(c, "22023", "BATCH needs a line count of at least 1");
        return;
    }
    if (n > max) {
        char msg[96];
        snprintf(msg, sizeof msg, "BATCH of %ld lines is over max_batch (%d)", n, max);
        reply_error(c, "54000", msg);
        return;
    }
    s->blines = calloc((size_t)n, sizeof *s->blines);
    if (!s->blines) {
        reply_error(c, "53200", "out of memory");
        return;
    }
    s->batch_n = (int)n;
    s->batch_got = 0;
}

static void cmd_prepare(line_sess *s, conn *c, const char *p, const char *end)
{
    stats_cmd(STATS_CMD_PREPARE);
    skip_space(&p, end);
    size_t nlen = word_len(p, end);
    const char *name = p;
    p += nlen;
    skip_space(&p, end);
    size_t aslen = word_len(p, end);
    if (nlen == 0 || !word_is(p, aslen, "AS")) {
        reply_error(c, "42601", "usage: PREPARE <name> AS <sql>");
        return;
    }
    p += aslen;
    skip_space(&p, end);
    prepared *pr;
    HASH_FIND(hh, s->prep, name, nlen, pr);
    if (pr) {
        char msg[160];
        snprintf(msg, sizeof msg, "prepared statement \"%.*s\" already exists", (int)(nlen > 100 ? 100 : nlen), name);
        reply_error(c, "42P05", msg);
        return;
    }
    int readonly;
    char why[512], state[6];
    query_plan *plan = query_plan_build_ex(conn_reader(c), p, (size_t)(end - p), &readonly, why, sizeof why, state);
    if (!plan) {
        reply_error(c, state, why);
        return;
    }
    pr = calloc(1, sizeof *pr);
    if (pr) {
        pr->name = strndup(name, nlen);
        pr->sql = strndup(p, (size_t)(end - p));
    }
    if (!pr || !pr->name || !pr->sql) {
        if (pr) {
            free(pr->name);
            free(pr->sql);
        }
        free(pr);
        query_plan_free(plan);
        reply_error(c, "53200", "out of memory");
        return;
    }
    pr->len = (size_t)(end - p);
    pr->plan = plan;
    pr->readonly = readonly;
    HASH_ADD_KEYPTR(hh, s->prep, pr->name, nlen, pr);
    buf_printf(conn_out(c), "+OK prepared %s params=%d %s\n", pr->name, query_plan_nparams(plan),
               readonly ? "read" : "write");
}

static void prepared_free(prepared *pr)
{
    free(pr->name);
    free(pr->sql);
    query_plan_free(pr->plan);
    free(pr);
}

static void cmd_deallocate(line_sess *s, conn *c, const char *p, const char *end)
{
    stats_cmd(STATS_CMD_DEALLOCATE);
    skip_space(&p, end);
    size_t nlen = word_len(p, end);
    if (word_is(p, nlen, "PREPARE")) { /* DEALLOCATE PREPARE name, as PostgreSQL allows */
        p += nlen;
        skip_space(&p, end);
        nlen = word_len(p, end);
    }
    if (word_is(p, nlen, "ALL")) {
        prepared *pr, *tmp;
        int n = 0;
        HASH_ITER(hh, s->prep, pr, tmp) {
            HASH_DEL(s->prep, pr);
            prepared_free(pr);
            n++;
        }
        buf_printf(conn_out(c), "+OK %d deallocated\n", n);
        return;
    }
    prepared *pr;
    HASH_FIND(hh, s->prep, p, nlen, pr);
    if (!pr) {
        char msg[160];
        snprintf(msg, sizeof msg, "prepared statement \"%.*s\" does not exist", (int)(nlen > 100 ? 100 : nlen), p);
        reply_error(c, "26000", msg);
        return;
    }
    HASH_DEL(s->prep, pr);
    prepared_free(pr);
    buf_puts(conn_out(c), "+OK 1 deallocated\n");
}

static void cmd_format(line_sess *s, conn *c, const char *p, const char *end)
{
    stats_cmd(STATS_CMD_FORMAT);
    skip_space(&p, end);
    size_t wl = word_len(p, end);
    if (word_is(p, wl, "tsv"))
        s->fmt = LP_FMT_TSV;
    else if (word_is(p, wl, "json"))
        s->fmt = LP_FMT_JSON;
    else {
        reply_error(c, "22023", "usage: FORMAT tsv|json");
        return;
    }
    buf_printf(conn_out(c), "+OK format %s\n", s->fmt == LP_FMT_JSON ? "json" : "tsv");
}

static const char tx_aborted[] = "current transaction is aborted, commands ignored until end of transaction block";

enum tx_word { TX_NOT, TX_BEGIN, TX_COMMIT, TX_ROLLBACK, TX_SAVEPOINT, TX_ROLLBACK_TO, TX_BAD };

/* Transaction control is recognised by its first words, before SQLite sees it: the writer, not
 * the client's text, opens and ends transactions. */
/* Is the next word (after spaces; a word ends at a space, a tab or a ';') kw? Then step past it. */
static int tx_next(const char **q, const char *end, const char *kw)
{
    const char *p = *q;
    skip_space(&p, end);
    const char *w = p;
    while (p < end && *p != ' ' && *p != '\t' && *p != ';')
        p++;
    if (!word_is(w, (size_t)(p - w), kw))
        return 0;
    *q = p;
    return 1;
}

/* BEGIN [DEFERRED|IMMEDIATE|EXCLUSIVE] [TRANSACTION|WORK], START TRANSACTION, COMMIT|END
 * [TRANSACTION|WORK], ROLLBACK|ABORT [TRANSACTION|WORK], then only ';' and spaces: anything more is
 * TX_BAD (42601), never dropped, since the writer runs the word and not the line's text.
 * SAVEPOINT, RELEASE and ROLLBACK TO run as SQL, which checks the rest itself. */
static enum tx_word tx_word(const char *p, const char *end)
{
    const char *q = p;
    enum tx_word w;
    int noun = 1; /* TRANSACTION or WORK may follow */
    if (tx_next(&q, end, "BEGIN")) {
        w = TX_BEGIN;
        if (!tx_next(&q, end, "DEFERRED") && !tx_next(&q, end, "IMMEDIATE"))
            tx_next(&q, end, "EXCLUSIVE");
    } else if (tx_next(&q, end, "START")) {
        if (!tx_next(&q, end, "TRANSACTION"))
            return TX_NOT;
        w = TX_BEGIN;
        noun = 0;
    } else if (tx_next(&q, end, "COMMIT") || tx_next(&q, end, "END")) {
        w = TX_COMMIT;
    } else if (tx_next(&q, end, "ROLLBACK") || tx_next(&q, end, "ABORT")) {
        w = TX_ROLLBACK;
    } else if (tx_next(&q, end, "SAVEPOINT") || tx_next(&q, end, "RELEASE")) {
        return TX_SAVEPOINT;
    } else {
        return TX_NOT;
    }
    if (noun && !tx_next(&q, end, "TRANSACTION"))
        tx_next(&q, end, "WORK");
    if (w == TX_ROLLBACK && tx_next(&q, end, "TO"))
        return TX_ROLLBACK_TO; /* ROLLBACK [TRANSACTION] TO [SAVEPOINT] name */
    while (q < end && (*q == ' ' || *q == '\t' || *q == ';'))
        q++;
    return q == end ? w : TX_BAD;
}

static void serve_tx(line_sess *s, conn *c, enum tx_word w, const char *line, size_t len)
{
    stats_cmd(STATS_CMD_SQL);
    if (w == TX_BEGIN && s->txn) {
        reply_error(c, "25001", "there is already a transaction in progress");
        return;
    }
    if (w != TX_BEGIN && !s->txn) {
        reply_error(c, "25P01", "there is no transaction in progress");
        return;
    }
    /* As on the PostgreSQL port (pgrun.c run_sql): a failed transaction takes only its end, or a
     * ROLLBACK TO that the writer then judges (the savepoint must predate the failure). */
    if (w == TX_SAVEPOINT && s->txn == WRITER_TX_FAILED) {
        reply_error(c, "25P02", tx_aborted);
        return;
    }
    job_builder b;
    resolved *r = NULL;
    int nitems = w == TX_SAVEPOINT || w == TX_ROLLBACK_TO;
    if (jb_init(&b, nitems ? 1 : 0, s, c) < 0 || (nitems && !(r = calloc(1, sizeof *r)))) {
        if (b.job)
            jb_abort(&b);
        reply_error(c, "53200", "out of memory");
        return;
    }
    if (nitems) {
        r->it.sql = line;
        r->it.len = len;
        if (jb_add(&b, r) < 0) {
            free(r);
            jb_abort(&b);
            reply_error(c, "53200", "out of memory");
            return;
        }
        free(r);
    }
    line_job *j = jb_finish(&b);
    j->wj.savepoint_op = w == TX_SAVEPOINT ? WRITER_SP_SET : w == TX_ROLLBACK_TO ? WRITER_SP_ROLLBACK_TO : WRITER_SP_NONE;
    submit(s, c, j, w == TX_BEGIN ? WRITER_BEGIN : w == TX_COMMIT ? WRITER_COMMIT
                  : w == TX_ROLLBACK ? WRITER_ROLLBACK : WRITER_IN_TX);
}

typedef struct backup_job {
    writer_job wj;
    char       src[2048], dst[2048], name[256];
    int        busy_ms;
} backup_job;

static void backup_release(writer_job *wj)
{
    buf_free(&wj->reply);
    free(wj);
}

/* The copy runs on its own thread and connection: a worker keeps serving while it reads. */
static void *backup_main(void *arg)
{
    backup_job *j = arg;
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    char err[512];
    int64_t bytes = 0;
    if (backup_copy(j->src, j->dst, j->busy_ms, &bytes, err, sizeof err) < 0) {
        lp_put_error(&j->wj.reply, "58030", err);
        stats_error("58030");
    } else {
        clock_gettime(CLOCK_MONOTONIC, &t1);
        double ms = (double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e6;
        buf_printf(&j->wj.reply, "+OK backup %s bytes=%lld ms=%.3f\n", j->name, (long long)bytes, ms);
    }
    j->wj.done(&j->wj);
    return NULL;
}

static void cmd_backup(line_sess *s, conn *c, const char *p, const char *end)
{
    (void)s;
    skip_space(&p, end);
    size_t nlen = word_len(p, end);
    const char *after = p + nlen;
    skip_space(&after, end);
    if (nlen == 0 || after != end) {
        reply_error(c, "42601", "usage: BACKUP <name>");
        return;
    }
    if (!backup_name_ok(p, nlen)) {
        reply_error(c, "42501", "a backup name is letters, digits, '.', '_' and '-', without '/' or '..'");
        return;
    }
    const config *cfg = conn_shared(c)->cfg;
    if (mkdir(cfg->backup_dir, 0750) < 0 && errno != EEXIST) {
        char msg[300];
        snprintf(msg, sizeof msg, "cannot create backup_dir %s: %s", cfg->backup_dir, strerror(errno));
        reply_error(c, "58030", msg);
        return;
    }
    backup_job *j = calloc(1, sizeof *j);
    if (!j) {
        reply_error(c, "53200", "out of memory");
        return;
    }
    buf_init(&j->wj.reply);
    j->wj.release = backup_release;
    snprintf(j->src, sizeof j->src, "%s", cfg->db_path);
    snprintf(j->dst, sizeof j->dst, "%s/%.*s", cfg->backup_dir, (int)nlen, p);
    snprintf(j->name, sizeof j->name, "%.*s", (int)nlen, p);
    j->busy_ms = cfg->busy_timeout_ms;
    conn_await(c, &j->wj);
    pthread_t t;
    if (pthread_create(&t, NULL, backup_main, j) != 0) {
        lp_put_error(&j->wj.reply, "53000", "cannot start the backup thread");
        j->wj.done(&j->wj);
        return;
    }
    pthread_detach(t);
}

/* ---- the cache: CACHE …, and the key-value tier ------------------------------------ */

typedef struct keys_ctx {
    buf      *out;
    lp_format fmt;
    int       n;
} keys_ctx;

static void put_key_row(void *ud, const char *sql, size_t sql_len, int64_t hits, double age_s, int ttl_s,
                        int64_t bytes, int tier)
{
    keys_ctx *k = ud;
    char nums[4][24];
    lp_value v[6] = {{LP_VAL_TEXT, sql, sql_len}};
    int64_t ints[4] = {hits, (int64_t)age_s, ttl_s, bytes};
    for (int i = 0; i < 4; i++) {
        int n = snprintf(nums[i], sizeof nums[i], "%lld", (long long)ints[i]);
        v[i + 1] = (lp_value){LP_VAL_INT, nums[i], (size_t)n};
    }
    char t = (char)('0' + tier);
    v[5] = (lp_value){LP_VAL_INT, &t, 1};
    lp_put_row(k->out, k->fmt, v, 6);
    k->n++;
}

static void cmd_cache(line_sess *s, conn *c, const char *p, const char *end)
{
    stats_cmd(STATS_CMD_CACHE);
    rcache *rc = conn_shared(c)->rc;
    cache *ca = rcache_cache(rc);
    buf *out = conn_out(c);
    skip_space(&p, end);
    size_t wl = word_len(p, end);
    const char *arg = p + wl;
    skip_space(&arg, end);
    size_t al = word_len(arg, end);
    if (word_is(p, wl, "STATS")) {
        rcache_put_stats(rc, out);
        buf_puts(out, "+OK\n");
    } else if (!word_is(p, wl, "FLUSH") && !word_is(p, wl, "KEYS") && !word_is(p, wl, "QUERY")) {
        reply_error(c, "42601", "usage: CACHE STATS | CACHE FLUSH [table] | CACHE KEYS [n] | CACHE QUERY <select>");
    } else if (!require(s, c, ROLE_ADMIN, word_is(p, wl, "FLUSH") ? "CACHE FLUSH" : word_is(p, wl, "KEYS")
                        ? "CACHE KEYS" : "CACHE QUERY")) {
        /* KEYS and QUERY show other clients' statements and values: the admin's only. */
    } else if (word_is(p, wl, "FLUSH") && al == 0) {
        buf_printf(out, "+OK %lld flushed\n", (long long)cache_flush_all(ca));
    } else if (word_is(p, wl, "FLUSH")) {
        int id = cache_table_id(ca, arg, al);
        if (id < 0) {
            reply_error(c, "54000", "too many tables known to the cache");
            return;
        }
        buf_printf(out, "+OK %lld flushed\n", (long long)cache_flush_table(ca, id));
    } else if (word_is(p, wl, "KEYS")) {
        long n = 10;
        if (al) {
            char tmp[16];
            snprintf(tmp, sizeof tmp, "%.*s", (int)(al < 15 ? al : 15), arg);
            char *e;
            n = strtol(tmp, &e, 10);
            if (*e || n < 1 || n > 10000) {
                reply_error(c, "22023", "usage: CACHE KEYS [n], n from 1 to 10000");
                return;
            }
        }
        static const char *const names[] = {"sql", "hits", "age", "ttl", "bytes", "tier"};
        lp_put_header(out, s->fmt, names, NULL, 6);
        keys_ctx k = {out, s->fmt, 0};
        cache_top(ca, (int)n, put_key_row, &k);
        buf_printf(out, "+OK %d rows\n", k.n);
    } else if (word_is(p, wl, "QUERY") && arg < end) {
        cache_query(ca, arg, (size_t)(end - arg), s->fmt, out);
    } else {
        reply_error(c, "42601", "usage: CACHE STATS | CACHE FLUSH [table] | CACHE KEYS [n] | CACHE QUERY <select>");
    }
}

/* The text a key-value value is stored as, exactly as sent: a JSON string as its characters, any
 * other value (a number, true, null, an object, a bare word) as the token itself, so GET answers
 * 1.0 for 1.0 and 99999999999999999999 for that (decoded to a double, they came back altered). */
static size_t kv_text(const lp_arg *a, const char *tok, const char *end, const char **p)
{
    if (a->type == LP_ARG_TEXT) {
        *p = a->s;
        return a->len;
    }
    *p = tok;
    return word_len(tok, end);
}

/* DEL k1 k2 ...: every key a bare word, taken byte for byte like SET's and GET's (never decoded
 * as JSON), as many as the line holds. */
static void kv_del(cache *ca, buf *out, const char *p, const char *end)
{
    int deleted = 0;
    for (skip_space(&p, end); p < end; skip_space(&p, end)) {
        size_t kl = word_len(p, end);
        deleted += cache_kv_del(ca, p, kl);
        p += kl;
    }
    buf_printf(out, "+OK %d deleted\n", deleted);
}

static void cmd_kv(line_sess *s, conn *c, const char *cmd, size_t cl, const char *p, const char *end)
{
    stats_cmd(STATS_CMD_KV);
    if (!word_is(cmd, cl, "GET") && !word_is(cmd, cl, "TTL") && !require(s, c, ROLE_READWRITE, word_is(cmd, cl, "SET") ? "SET" : word_is(cmd, cl, "DEL") ? "DEL" : "EXPIRE"))
        return;
    cache *ca = rcache_cache(conn_shared(c)->rc);
    buf *out = conn_out(c);
    skip_space(&p, end);
    /* Keys are bare words, taken byte for byte. */
    size_t kl = word_len(p, end);
    const char *key = p;
    if (kl == 0) {
        reply_error(c, "42601", "a key is needed");
        return;
    }
    if (word_is(cmd, cl, "DEL")) {
        kv_del(ca, out, p, end);
        return;
    }
    p += kl;
    skip_space(&p, end);
    lp_arg args[4]; /* SET k v EX n takes the most: one more tells a usage error */
    char why[160];
    buf_reset(&s->scratch);
    if (buf_reserve(&s->scratch, (size_t)(end - p)) < 0) {
        reply_error(c, "53200", "out of memory");
        return;
    }
    int n = lp_parse_args(p, (size_t)(end - p), args, 4, s->scratch.data, why, sizeof why);
    if (n == LP_ARGS_TOO_MANY) {
        n = 4;
    } else if (n < 0) {
        reply_error(c, "22023", why);
        return;
    }
    if (word_is(cmd, cl, "GET") || word_is(cmd, cl, "TTL")) {
        if (n != 0) {
            reply_error(c, "42601", word_is(cmd, cl, "GET") ? "usage: GET <key>" : "usage: TTL <key>");
            return;
        }
        lp_value v;
        buf val;
        buf_init(&val);
        int found = 1;
        if (word_is(cmd, cl, "TTL")) {
            /* A row like any other: in json =[-1], as GET's value is =["x"]. */
            buf_put_i64(&val, cache_kv_ttl(ca, key, kl));
            v.type = LP_VAL_INT;
        } else {
            found = cache_kv_get(ca, key, kl, &val) == 1;
            v.type = LP_VAL_TEXT;
        }
        v.p = val.data ? val.data : "";
        v.n = val.len;
        if (found) {
            lp_put_row(out, s->fmt, &v, 1);
            buf_puts(out, "+OK 1 rows\n");
        } else {
            buf_puts(out, "+OK 0 rows\n");
        }
        buf_free(&val);
    } else if (word_is(cmd, cl, "SET")) {
        int64_t ttl = -1;
        if (n == 3 && args[1].type == LP_ARG_TEXT && args[1].len == 2 && strncasecmp(args[1].s, "EX", 2) == 0 &&
            args[2].type == LP_ARG_INT && args[2].i > 0)
            ttl = args[2].i;
        else if (n != 1) {
            reply_error(c, "42601", "usage: SET <key> <value> [EX <seconds>]");
            return;
        }
        const char *v;
        size_t vl = kv_text(&args[0], p, end, &v);
        int r = cache_kv_set(ca, key, kl, v, vl, ttl);
        if (r == CACHE_KV_TOO_BIG)
            reply_error(c, "53200", "the key or value is larger than cache_max_entry_bytes");
        else if (r < 0)
            reply_error(c, "53200", "the value does not fit in cache_max_bytes");
        else
            buf_puts(out, "+OK\n");
    } else { /* EXPIRE */
        if (n != 1 || args[0].type != LP_ARG_INT) {
            reply_error(c, "42601", "usage: EXPIRE <key> <seconds>");
            return;
        }
        buf_printf(out, "+OK %d updated\n", cache_kv_expire(ca, key, kl, args[0].i));
    }
}

/* A line that is SQL (or CALL): from the cache when it can, else resolved and run. probe: look the
 * line's own text up first (a CALL's entry is keyed by its body and arguments, never by the line,
 * so probing one would only cost a normalization and a lookup). */
static void serve_sql(line_sess *s, conn *c, const char *line, size_t len, int probe)
{
    if (s->txn == WRITER_TX_FAILED) {
        reply_error(c, "25P02", tx_aborted);
    } else if (probe && !s->txn && rcache_try_hit(conn_shared(c)->rc, line, len, query_line_sink(s->fmt), (int)s->fmt,
                                                  conn_out(c), &s->key, NULL)) {
        /* A cached read: answered without preparing anything. */
        stats_cmd(STATS_CMD_SQL);
        stats_add(STATS_QUERIES, 1);
        stats_add(STATS_READS, 1);
    } else {
        resolve_line(s, c, line, len, s->res);
        run_single(s, c, s->res);
    }
}

/* REPLICA STATUS: the replica's state as STATS lines; REPLICA CHECK: every table compared. */
static void cmd_replica(line_sess *s, conn *c, const char *p, const char *end)
{
    stats_cmd(STATS_CMD_REPLICA);
    struct replica *rep = conn_shared(c)->rep;
    buf *out = conn_out(c);
    skip_space(&p, end);
    size_t wl = word_len(p, end);
    const char *rest = p + wl;
    skip_space(&rest, end);
    if (rest < end && !(rest + 1 == end && *rest == '\r')) {
        reply_error(c, "42601", "REPLICA takes one word: STATUS or CHECK");
    } else if (word_is(p, wl, "STATUS")) {
        replica_put_status(rep, out);
        buf_puts(out, "+OK\n");
    } else if (word_is(p, wl, "CHECK") && !require(s, c, ROLE_ADMIN, "REPLICA CHECK")) {
        /* it holds the writer off while it compares every table */
    } else if (word_is(p, wl, "CHECK")) {
        char err[400];
        int64_t differing;
        size_t start = out->len;
        int n = replica_check(rep, conn_reader(c), out, &differing, err, sizeof err);
        if (n < 0) {
            out->len = start;
            reply_error(c, "55000", err);
        } else {
            buf_printf(out, "+OK %d rows differing=%lld\n", n, (long long)differing);
        }
    } else {
        reply_error(c, "42601", "REPLICA STATUS or REPLICA CHECK");
    }
}

static void serve_line(line_sess *s, conn *c, const char *line, size_t len)
{
    const char *p = line, *end = line + len;
    skip_space(&p, end);
    if (p == end || (p + 1 == end && *p == '\r'))
        return; /* an empty line is no request (inside a BATCH too), as in Redis' inline protocol */
    if (memchr(line, '\0', len)) {
        if (s->batch_n)
            batch_collect(s, c, NULL, 0, BATCH_LINE_NUL);
        else
            reply_error(c, "22021", "a request may not contain a NUL byte");
        return;
    }
    if (s->batch_n) {
        batch_collect(s, c, line, len, 0);
        return;
    }
    size_t wl = word_len(p, end);
    enum tx_word tw;
    if (!s->authed && !word_is(p, wl, "AUTH") && !word_is(p, wl, "PING") && !word_is(p, wl, "HELP") &&
        !word_is(p, wl, "QUIT")) {
        reply_error(c, "28000", "authentication required: AUTH <user> <password>");
    } else if (word_is(p, wl, "SELECT")) {
        /* The most common lines of all skip the list of command words. */
        serve_sql(s, c, line, len, 1);
    } else if (word_is(p, wl, "CALL")) {
        serve_sql(s, c, line, len, 0);
    } else if (word_is(p, wl, "PING")) {
        stats_cmd(STATS_CMD_PING);
        buf_puts(conn_out(c), "+PONG\n");
    } else if (word_is(p, wl, "QUIT")) {
        stats_cmd(STATS_CMD_QUIT);
        buf_puts(conn_out(c), "+BYE\n");
        conn_close_after_flush(c);
    } else if (word_is(p, wl, "HELP")) {
        stats_cmd(STATS_CMD_HELP);
        for (size_t i = 0; i < sizeof help_lines / sizeof *help_lines; i++) {
            buf_putc(conn_out(c), '=');
            buf_puts(conn_out(c), help_lines[i]);
            buf_putc(conn_out(c), '\n');
        }
        buf_puts(conn_out(c), "+OK\n");
    } else if (word_is(p, wl, "STATS")) {
        stats_cmd(STATS_CMD_STATS);
        stats_put_lines(conn_out(c));
        rcache_put_stats(conn_shared(c)->rc, conn_out(c));
        replica_put_stats(conn_shared(c)->rep, conn_out(c));
        buf_puts(conn_out(c), "+OK\n");
    } else if (word_is(p, wl, "BATCH")) {
        cmd_batch(s, c, p + wl, end);
    } else if (word_is(p, wl, "PREPARE")) {
        cmd_prepare(s, c, p + wl, end);
    } else if (word_is(p, wl, "DEALLOCATE")) {
        cmd_deallocate(s, c, p + wl, end);
    } else if (word_is(p, wl, "FORMAT")) {
        cmd_format(s, c, p + wl, end);
    } else if (word_is(p, wl, "AUTH")) {
        stats_cmd(STATS_CMD_AUTH);
        cmd_auth(s, c, p + wl, end);
    } else if (word_is(p, wl, "BACKUP")) {
        stats_cmd(STATS_CMD_BACKUP);
        if (require(s, c, ROLE_ADMIN, "BACKUP"))
            cmd_backup(s, c, p + wl, end);
    } else if (word_is(p, wl, "CACHE")) {
        cmd_cache(s, c, p + wl, end);
    } else if (word_is(p, wl, "REPLICA")) {
        cmd_replica(s, c, p + wl, end);
    } else if (word_is(p, wl, "SET") || word_is(p, wl, "GET") || word_is(p, wl, "DEL") || word_is(p, wl, "TTL") ||
               word_is(p, wl, "EXPIRE")) {
        cmd_kv(s, c, p, wl, p + wl, end);
    } else if ((tw = tx_word(p, end)) == TX_BAD) {
        stats_cmd(STATS_CMD_SQL);
        reply_error(c, "42601", "syntax error: a transaction command takes nothing after it (one statement per line)");
    } else if (tw != TX_NOT) {
        serve_tx(s, c, tw, line, len);
    } else {
        serve_sql(s, c, line, len, 1);
    }
}

/* ---- the protocol ---------------------------------------------------------------- */

static void *ls_open(conn *c)
{
    line_sess *s = calloc(1, sizeof *s);
    if (!s || !(s->res = calloc(1, sizeof *s->res))) {
        free(s);
        return NULL;
    }
    lp_framer_init(&s->fr, (size_t)conn_shared(c)->cfg->max_line);
    /* Under trust nobody is asked: the client is admin (an AUTH may still take a smaller role). */
    s->authed = conn_shared(c)->cfg->auth == CONFIG_AUTH_TRUST;
    s->role = s->authed ? ROLE_ADMIN : ROLE_READONLY;
    buf_init(&s->batch_text);
    buf_init(&s->scratch);
    buf_init(&s->key);
    return s;
}

static size_t ls_on_data(conn *c, void *state, const char *data, size_t len, int eof)
{
    line_sess *s = state;
    size_t off = 0;
    (void)eof; /* an unfinished last line is never run: it may be a cut-off statement */
    while (off < len && conn_state_of(c) == CONN_ACTIVE) {
        size_t line_len, consumed;
        lp_frame_result r = lp_frame(&s->fr, data + off, len - off, &line_len, &consumed);
        /* A line left unconsumed is found again next time: the framer restarts after LP_LINE. */
        if (r == LP_LINE && !conn_may_serve(c))
            break;
        const char *line = data + off;
        off += consumed;
        if (r == LP_NEED_MORE) {
            if (consumed == 0)
                break;
            continue; /* the end of a discarded line: complete lines may follow */
        }
        if (r == LP_TOO_LONG) {
            if (s->batch_n)
                batch_collect(s, c, NULL, 0, BATCH_LINE_TOO_LONG);
            else
                reply_error(c, "54000", "line too long");
            continue;
        }
        serve_line(s, c, line, line_len);
    }
    return off;
}

static void ls_on_job_done(conn *c, void *state, writer_job *job)
{
    line_sess *s = state;
    auth_req *ar = auth_req_of(job);
    if (ar) {
        auth_answered(s, c, ar);
        job->release(job);
        return;
    }
    if (job->tx != WRITER_PLAIN)
        s->txn = job->tx_state;
    if (job->reply.oom) /* cut short (output_hard_limit, or memory): the client would lose its place */
        conn_drop(c, "reply larger than output_hard_limit");
    else
        buf_append(conn_out(c), job->reply.data, job->reply.len);
    job->release(job);
}

static void ls_close(conn *c, void *state)
{
    line_sess *s = state;
    const writer_job *inflight = conn_inflight_job(c);
    if (s->txn || (inflight && inflight->tx == WRITER_BEGIN)) {
        /* The client left inside a transaction, or while its BEGIN is still queued: roll it back,
         * or the writer waits for nothing until idle_in_transaction_timeout. The writer runs jobs
         * in order, so this ABORT follows the BEGIN; after a failed BEGIN it finds nothing to end. */
        job_builder b;
        if (jb_init(&b, 0, s, c) == 0) {
            line_job *j = jb_finish(&b);
            j->wj.tx = WRITER_ABORT;
            j->wj.session = conn_id(c);
            conn_submit_detached(c, &j->wj);
        }
    }
    prepared *pr, *tmp;
    HASH_ITER(hh, s->prep, pr, tmp) {
        HASH_DEL(s->prep, pr);
        prepared_free(pr);
    }
    batch_reset(s);
    buf_free(&s->batch_text);
    buf_free(&s->scratch);
    buf_free(&s->key);
    free(s->res->args);
    free(s->res);
    free(s);
}

/* A BATCH still collecting its lines, or an overlong line still being discarded. */
static int ls_in_request(void *state)
{
    const line_sess *s = state;
    return s->batch_n != 0 || s->fr.discarding;
}

static void ls_put_fatal(buf *out, const char *state, const char *msg)
{
    lp_put_error(out, state, msg);
}

/* Replies before a write go out at once: each is a whole answer, which a pipelining client may use. */
const conn_proto linecmd_proto = {"line", ls_open, ls_on_data, ls_on_job_done, ls_close, ls_in_request, ls_put_fatal, 0};
