/* pgsess.c - the PostgreSQL protocol session: the state machine, startup (SSL/GSS refusal, cancel requests, protocol negotiation), authentication (trust, password, SCRAM-SHA-256) and the message loop. */
#include "pgsess.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth.h"
#include "log.h"
#include "pgsess_int.h"
#include "stats.h"

/* ---- small helpers the other parts share ------------------------------------------------------ */

void pgs_error(buf *out, const char *state, const char *msg)
{
    pgwire_error_simple(out, state, msg);
    stats_error(state);
}

char pgs_status(const pgsess *s)
{
    return s->txn == WRITER_TX_FAILED ? 'E' : s->txn == WRITER_TX_OPEN ? 'T' : 'I';
}

pg_plan *pg_plan_new(query_plan *p)
{
    pg_plan *pp = malloc(sizeof *pp);
    if (!pp) {
        query_plan_free(p);
        return NULL;
    }
    pp->p = p;
    pp->refs = 1;
    return pp;
}

void pg_plan_unref(pg_plan *pp)
{
    if (pp && --pp->refs == 0) {
        query_plan_free(pp->p);
        free(pp);
    }
}

/* A FATAL error ends the connection once it is written, as PostgreSQL does. */
static void ps_put_fatal(buf *out, const char *state, const char *msg);

static enum pg_step fatal(pgsess *s, const char *state, const char *msg)
{
    ps_put_fatal(conn_out(s->c), state, msg);
    stats_error(state);
    s->phase = PG_DEAD;
    conn_close_after_flush(s->c);
    return PGS_CLOSE;
}

/* ---- startup and authentication ----------------------------------------------------------------- */

static int set_str(char **dst, const char *v)
{
    free(*dst);
    *dst = strdup(v ? v : "");
    return *dst ? 0 : -1;
}

/* Authenticated: tell the client about the session and open it for queries. */
static enum pg_step auth_ok(pgsess *s)
{
    buf *out = conn_out(s->c);
    const worker_shared *sh = conn_shared(s->c);
    /* Nobody but a listed user gets this far once users_file has users (see on_startup). */
    s->role = s->who ? s->who->role : ROLE_ADMIN;
    s->superuser = s->role == ROLE_ADMIN;
    pgguc_init gi = {s->user, s->app, s->superuser, sh->cfg->max_connections};
    s->guc = pgguc_new(&gi);
    s->cancel = pgcancel_register(conn_id(s->c), &s->pid, &s->key);
    if (!s->guc || !s->cancel)
        return fatal(s, "53200", "out of memory");
    s->ctx = (pgsql_ctx){s->user, s->database, s->pid, NULL};
    pgwire_auth_ok(out);
    pgguc_put_startup(s->guc, out);
    pgwire_backend_key(out, s->pid, s->key);
    pgwire_ready(out, 'I');
    s->phase = PG_READY;
    log_msg(LOG_DEBUG, conn_id(s->c), "postgres: user %s database %s application %s", s->user, s->database,
            s->app[0] ? s->app : "-");
    return PGS_DONE;
}

static enum pg_step auth_failed(pgsess *s)
{
    char msg[200];
    snprintf(msg, sizeof msg, "password authentication failed for user \"%.100s\"", s->user);
    log_msg(LOG_INFO, conn_id(s->c), "postgres: %s (from %s)", msg, s->addr);
    return fatal(s, "28P01", msg);
}

/* Hand a password check (or, with password NULL, only the wait a failing address has earned) to
 * the auth thread; pgsess_auth_done goes on once it answers. */
static enum pg_step auth_async(pgsess *s, const char *password)
{
    auth_req *r = auth_req_new(s->who ? s->who->verifier : NULL, password, s->addr);
    if (!r)
        return fatal(s, "53200", "out of memory");
    conn_await(s->c, auth_req_job(r));
    s->wait = PGW_AUTH;
    auth_submit(conn_shared(s->c)->auth, r);
    return PGS_DONE;
}

/* The auth thread answered. */
static void auth_done(pgsess *s, writer_job *job)
{
    auth_req *r = auth_req_of(job);
    if (r && auth_req_ok(r))
        auth_ok(s);
    else
        auth_failed(s);
}

static enum pg_step on_startup(pgsess *s, const pgwire_msg *m)
{
    buf *out = conn_out(s->c);
    char err[256];
    if (m->code == PGWIRE_SSL_REQUEST || m->code == PGWIRE_GSSENC_REQUEST) {
        /* No encryption: the client then goes on in the clear on the same socket (or gives up). */
        pgwire_refuse_encryption(out);
        return PGS_DONE;
    }
    if (m->code == PGWIRE_CANCEL_REQUEST) {
        pgwire_cancel cr;
        if (pgwire_parse_cancel(m->body, m->body_len, &cr, err, sizeof err) == 0 && pgcancel_request(cr.pid, cr.key))
            log_msg(LOG_INFO, conn_id(s->c), "postgres: cancel request for pid %d", (int)cr.pid);
        /* PostgreSQL answers a cancel request with nothing at all, whatever became of it. */
        s->phase = PG_DEAD;
        conn_close_after_flush(s->c);
        return PGS_CLOSE;
    }
    pgwire_startup st;
    if (pgwire_parse_startup(m->body, m->body_len, m->code, &st, err, sizeof err) < 0)
        return fatal(s, (m->code >> 16) == 3 ? "08P01" : "0A000", err);
    if (!st.user || !st.user[0])
        return fatal(s, "28000", "no PostgreSQL user name specified in startup packet");
    /* Protocol options (_pq_.*) and minor versions past 3.0 are declined, not failed. */
    const char *unknown[PGWIRE_MAX_STARTUP_PARAMS];
    int nunknown = 0;
    for (int i = 0; i < st.nparams; i++)
        if (!strncmp(st.params[i].key, "_pq_.", 5))
            unknown[nunknown++] = st.params[i].key;
    if (st.minor > 0 || nunknown > 0)
        pgwire_negotiate_version(out, 0, unknown, nunknown);
    if (set_str(&s->user, st.user) < 0 || set_str(&s->database, st.database ? st.database : st.user) < 0 ||
        set_str(&s->app, st.application_name) < 0)
        return fatal(s, "53200", "out of memory");
    const worker_shared *sh = conn_shared(s->c);
    s->who = users_find(sh->users, s->user);
    conn_peer(s->c, s->addr, sizeof s->addr);
    switch (sh->cfg->auth) {
    case CONFIG_AUTH_PASSWORD:
        pgwire_auth_cleartext(out);
        s->phase = PG_AUTH_PASSWORD;
        return PGS_DONE;
    case CONFIG_AUTH_SCRAM: {
        /* An unknown user still gets a full exchange (on a made-up salt) that ends in failure, so
         * a client cannot tell a missing user from a wrong password. */
        if (!(s->scram = scram_new(s->who ? s->who->verifier : NULL, s->user)))
            return fatal(s, "58000", "could not start SCRAM authentication");
        static const char *const mechs[] = {SCRAM_MECHANISM, NULL};
        pgwire_auth_sasl(out, mechs);
        s->phase = PG_AUTH_SASL;
        return PGS_DONE;
    }
    default:
        /* trust asks for no password, but once users_file lists users only they may connect, each
         * with its role (as PgBouncer's auth_type = trust). */
        if (!s->who && users_count(sh->users) > 0) {
            char msg[160];
            snprintf(msg, sizeof msg, "role \"%.100s\" does not exist", s->user);
            return fatal(s, "28000", msg);
        }
        stats_add(STATS_AUTH_OK, 1);
        return auth_ok(s);
    }
}

static enum pg_step on_auth(pgsess *s, const pgwire_msg *m)
{
    char err[256];
    if (m->type != 'p')
        return fatal(s, "08P01", "expected a password response");
    if (s->phase == PG_AUTH_PASSWORD) {
        const char *pw;
        if (pgwire_parse_password(m->body, m->body_len, &pw, err, sizeof err) < 0)
            return fatal(s, "08P01", err);
        /* PBKDF2 takes milliseconds: the auth thread runs it (an unknown user on a decoy). */
        return auth_async(s, pw);
    }
    buf msg;
    buf_init(&msg);
    scram_status st;
    int first = s->phase == PG_AUTH_SASL;
    if (first) {
        pgwire_sasl_initial in;
        if (pgwire_parse_sasl_initial(m->body, m->body_len, &in, err, sizeof err) < 0)
            return fatal(s, "08P01", err);
        if (strcmp(in.mechanism, SCRAM_MECHANISM) != 0)
            return fatal(s, "08P01", "client selected an invalid SASL authentication mechanism");
        if (!in.data)
            return fatal(s, "08P01", "malformed SCRAM message (no client-first-message)");
        st = scram_server_first(s->scram, in.data, in.len, &msg, err, sizeof err);
        if (st == SCRAM_OK)
            pgwire_auth_sasl_continue(conn_out(s->c), msg.data, msg.len);
    } else {
        const char *data;
        size_t dlen;
        if (pgwire_parse_sasl_response(m->body, m->body_len, &data, &dlen, err, sizeof err) < 0)
            return fatal(s, "08P01", err);
        st = scram_server_final(s->scram, data, dlen, &msg, err, sizeof err);
        if (st == SCRAM_OK)
            pgwire_auth_sasl_final(conn_out(s->c), msg.data, msg.len);
    }
    buf_free(&msg);
    switch (st) {
    case SCRAM_OK:
        if (!first) {
            auth_succeeded(conn_shared(s->c)->auth, s->addr);
            return auth_ok(s);
        }
        s->phase = PG_AUTH_SASL_FIN;
        return PGS_DONE;
    case SCRAM_FAIL:     return auth_async(s, NULL); /* counted, and answered after any delay due */
    case SCRAM_PROTOCOL: return fatal(s, "08P01", err);
    default:             return fatal(s, "58000", "SCRAM authentication failed internally");
    }
}

/* ---- serving ------------------------------------------------------------------------------------- */

static enum pg_step on_ready(pgsess *s, const pgwire_msg *m)
{
    buf *out = conn_out(s->c);
    char err[256];
    /* After an extended-protocol error PostgreSQL ignores every message until Sync, a simple
     * Query or a FunctionCall too (only Terminate still ends the session). */
    if (s->ext_error && (m->type == 'Q' || m->type == 'F'))
        return PGS_DONE;
    switch (m->type) {
    case 'Q': {
        const char *sql;
        size_t len;
        if (pgwire_parse_query(m->body, m->body_len, &sql, &len, err, sizeof err) < 0)
            return fatal(s, "08P01", err);
        pgs_query_start(s, sql, len);
        return PGS_DONE;
    }
    case 'P': case 'B': case 'D': case 'E': case 'C': case 'S': case 'H':
        return pgext_message(s, m);
    case 'X':
        s->phase = PG_DEAD;
        conn_close_after_flush(s->c);
        return PGS_CLOSE;
    case 'd': case 'c': case 'f':
        /* COPY messages after the COPY ended (it failed early): dropped, as PostgreSQL does. */
        return PGS_DONE;
    case 'F':
        /* A FunctionCall is a request of its own, as a Query: PostgreSQL ends it with
         * ReadyForQuery (libpq's PQfn waits for it), not by skipping to a Sync. */
        pgs_error(out, "0A000", "the fast-path function call interface is not supported");
        pgwire_ready(out, pgs_status(s));
        return PGS_DONE;
    default:
        snprintf(err, sizeof err, "invalid frontend message type %d", (unsigned char)m->type);
        return fatal(s, "08P01", err);
    }
}

static void *ps_open(conn *c)
{
    rcache_pg_client(conn_shared(c)->rc);
    pgsess *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    s->c = c;
    s->phase = PG_STARTUP;
    buf_init(&s->q.text);
    buf_init(&s->ckey);
    buf_init(&s->scratch);
    pgsql_result_init(&s->tr);
    pgsink_init(&s->sink);
    s->call_args = calloc(PG_MAX_ARGS, sizeof *s->call_args);
    s->ext = pgext_new();
    if (!s->call_args || !s->ext) {
        pgext_free(s->ext);
        free(s->call_args);
        free(s);
        return NULL;
    }
    return s;
}

static size_t ps_on_data(conn *c, void *state, const char *data, size_t len, int eof)
{
    pgsess *s = state;
    size_t off = 0;
    /* A message must fit in what the connection buffers: max_line bounds it, as for a line. */
    size_t max_msg = (size_t)conn_shared(c)->cfg->max_line;
    (void)eof; /* an unfinished message is never acted on */
    while (off < len && conn_state_of(c) == CONN_ACTIVE) {
        if (s->phase == PG_DEAD)
            return len;
        pgwire_msg m;
        int r = s->phase == PG_STARTUP ? pgwire_frame_startup(data + off, len - off, &m)
                                       : pgwire_frame(data + off, len - off, max_msg, &m);
        if (r == PGWIRE_NEED_MORE)
            break;
        if (r < 0) {
            /* The stream cannot be trusted past a bad length: say why and close. */
            fatal(s, r == PGWIRE_ERR_TOO_LONG ? "54000" : "08P01", pgwire_frame_strerror(r));
            return len;
        }
        /* CopyData is part of one request (the COPY): it does not count against the budget. */
        if (m.type != 'd' && !conn_may_serve(c))
            break;
        enum pg_step st;
        s->rest = data + off + m.total;
        s->rest_len = len - off - m.total;
        switch (s->phase) {
        case PG_STARTUP:  st = on_startup(s, &m); break;
        case PG_READY:    st = on_ready(s, &m); break;
        case PG_COPY_IN:  st = pgcopy_message(s, &m); break;
        default:          st = on_auth(s, &m); break;
        }
        if (st == PGS_AGAIN)
            break;
        off += m.total;
        if (st == PGS_CLOSE)
            return len;
    }
    return off;
}

static void ps_on_job_done(conn *c, void *state, writer_job *job)
{
    pgsess *s = state;
    (void)c;
    if (job->tx != WRITER_PLAIN)
        s->txn = job->tx_state;
    enum pg_wait w = s->wait;
    s->wait = PGW_NONE;
    switch (w) {
    case PGW_QUERY:  pgs_query_job_done(s, job); break;
    case PGW_PORTAL: pgext_job_done(s, job); break;
    case PGW_COPY:   pgcopy_job_done(s, job); break;
    case PGW_AUTH:   auth_done(s, job); break;
    default:         break;
    }
    job->release(job);
}

static void ps_close(conn *c, void *state)
{
    pgsess *s = state;
    /* A BEGIN still queued at the writer leaves s->txn NONE, yet opens a transaction once it runs:
     * the writer runs jobs in order, so an ABORT sent now rolls it back (or, if the BEGIN failed,
     * is an orphan the writer drops). The line protocol's ls_close asks the same way. */
    const writer_job *inflight = conn_inflight_job(c);
    if (s->txn || (inflight && inflight->tx == WRITER_BEGIN)) {
        /* The client left inside a transaction: roll it back, or the writer waits for nothing. */
        pg_job *j = pgs_job_new(s, 0);
        if (j) /* WRITER_ABORT goes out detached: nobody waits for its reply */
            pgs_job_submit(s, j, WRITER_ABORT, 0, PGW_NONE);
    }
    pgcopy_free(s);
    pgcancel_unregister(s->cancel);
    scram_free(s->scram);
    pgext_free(s->ext);
    pgguc_free(s->guc);
    pgsql_result_free(&s->tr);
    pgsink_free(&s->sink);
    buf_free(&s->q.text);
    free(s->q.spans);
    buf_free(&s->ckey);
    buf_free(&s->scratch);
    free(s->call_args);
    free(s->user);
    free(s->database);
    free(s->app);
    free(s);
}

/* Startup and login are one request: the client owes the next step. */
static int ps_in_request(void *state)
{
    const pgsess *s = state;
    return s->phase < PG_READY;
}

static void ps_put_fatal(buf *out, const char *state, const char *msg)
{
    pgwire_error_fields e = {"FATAL", state, msg, NULL, NULL, 0};
    pgwire_error(out, &e);
}

const conn_proto pgsess_proto = {"postgres", ps_open, ps_on_data, ps_on_job_done, ps_close, ps_in_request, ps_put_fatal, 1};
