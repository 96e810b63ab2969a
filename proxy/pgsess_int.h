/* pgsess_int.h - the PostgreSQL session's state and shared helpers, for its three parts only: pgsess.c (startup, auth, simple query), pgext.c (extended protocol), pgcopy.c (COPY FROM STDIN). */
#ifndef LC_PGSESS_INT_H
#define LC_PGSESS_INT_H

#include <stdint.h>

#include "buf.h"
#include "catalog.h"
#include "conn.h"
#include "lineproto.h"
#include "users.h"
#include "pgcancel.h"
#include "pgguc.h"
#include "pgsink.h"
#include "pgsql.h"
#include "pgwire.h"
#include "query.h"
#include "scram.h"
#include "writer.h"

/* Where the connection is in PostgreSQL's life cycle. */
enum pg_phase {
    PG_STARTUP,       /* waiting for StartupMessage (or SSLRequest, GSSENCRequest, CancelRequest) */
    PG_AUTH_PASSWORD, /* sent AuthenticationCleartextPassword */
    PG_AUTH_SASL,     /* sent AuthenticationSASL: waiting for SASLInitialResponse */
    PG_AUTH_SASL_FIN, /* sent AuthenticationSASLContinue: waiting for SASLResponse */
    PG_READY,         /* serving queries */
    PG_COPY_IN,       /* inside COPY FROM STDIN: CopyData / CopyDone / CopyFail */
    PG_DEAD,          /* closing: input is ignored */
};

/* What the writer job in flight belongs to, so on_job_done knows how to go on. */
enum pg_wait { PGW_NONE, PGW_QUERY, PGW_PORTAL, PGW_COPY, PGW_AUTH };

/* A simple Query whose statements cannot go to the writer as one job, or an extended-protocol
 * pipeline that writes before running more portals ahead of its Sync, runs in a transaction the
 * session opens and ends itself (pgrun.c implicit_block, pgext.c pipeline_begin), so that it is
 * still all or nothing. */
enum pgq_implicit { PGQ_IMPLICIT_NONE, PGQ_IMPLICIT_BEGIN, PGQ_IMPLICIT_RUN, PGQ_IMPLICIT_END };

/* What message handlers tell the input loop. */
enum pg_step {
    PGS_DONE,  /* the message is handled: consume it */
    PGS_AGAIN, /* a writer job is out: keep the message, it is handled again when the job is back */
    PGS_CLOSE, /* the connection ends (after its output is flushed) */
};

/* A query plan shared by a prepared statement and the jobs running it. Only the worker thread
 * touches the count (jobs are released there), so it needs no atomics. */
typedef struct pg_plan {
    query_plan *p;
    int         refs;
} pg_plan;

pg_plan *pg_plan_new(query_plan *p);
void     pg_plan_unref(pg_plan *pp);

/* One statement ready to run: the translation (or a CALL resolved against the catalog) plus its
 * arguments. Everything points into storage the caller keeps alive for the call. */
typedef struct pg_unit {
    pgsql_action        action;     /* what to do; PGSQL_SQL also for CALL */
    const pgsql_result *tr;         /* SET/SHOW/RESET/DEALLOCATE/DISCARD/NOOP details */
    const char         *orig;       /* the statement as the client wrote it */
    size_t              orig_len;
    int                 pos_base;   /* characters before it in the client's query string */
    query_item          it;         /* what runs: sql (translated, or a named query's body), plan, args */
    pg_plan            *owner;      /* holds it.plan when shared with jobs (NULL: static or none) */
    int                 nstmts;     /* SQLite statements in it.sql */
    int                 readonly;   /* 1 / 0, or -1: not known yet (found out on the reader) */
    int                 nparams;    /* $n the statement uses: that many arguments are needed */
    int                 is_call;
    const char         *tag_prefix; /* the tag worked out once (pgsink_tag_template), or NULL */
    int                 tag_count;
} pg_unit;

typedef struct pgext pgext;
typedef struct pgcopy pgcopy;

typedef struct pgsess {
    conn              *c;
    enum pg_phase      phase;
    int                txn;          /* enum writer_tx_state, as this session knows it */
    enum pg_wait       wait;
    int                ext_error;    /* extended protocol: an error happened, skip to Sync */
    /* who */
    char              *user, *database, *app;
    const users_entry *who;          /* NULL when users_file is empty (auth = trust) */
    enum role          role;         /* what the session may do, once authenticated */
    int                superuser;    /* role == ROLE_ADMIN, for SHOW is_superuser */
    char               addr[64];     /* the client's address, for slowing down failed logins */
    int32_t            pid, key;
    pgcancel_slot     *cancel;
    scram_state       *scram;
    pgsql_ctx          ctx;
    pgguc             *guc;          /* SET values, for SHOW */
    /* the simple Query being served: an own copy, since the input buffer lives only in on_data */
    struct {
        int         active;
        buf         text;
        pgsql_span *spans;
        size_t      n, i, cap;
        size_t      pos_byte;     /* chars = characters of text before byte pos_byte */
        int         chars;
        int         implicit;     /* enum pgq_implicit: the transaction wrapped around it, if any */
    } q;
    pgext             *ext;
    pgcopy            *copy;
    /* the input after the message being handled: the extended protocol looks ahead for its Sync */
    const char        *rest;
    size_t             rest_len;
    /* reused for every statement */
    pgsql_result       tr;
    pgsink             sink;
    buf                ckey;         /* cache keys */
    buf                scratch;      /* decoded CALL literals */
    lp_arg            *call_args;    /* PG_MAX_ARGS: a simple Query's CALL arguments */
} pgsess;

/* Arguments of CALL name(...) over PostgreSQL (then max_params too, when lower). */
#define PG_MAX_ARGS 256

/* ---- pgsess.c: helpers the other parts use ---- */

/* ErrorResponse (severity ERROR) to out, counted in STATS. */
void pgs_error(buf *out, const char *state, const char *msg);
/* 'I', 'T' or 'E'. */
char pgs_status(const pgsess *s);
/* Fill u to run named query e with these arguments. */
void pgs_call_unit(pg_unit *u, const catalog_entry *e, const lp_arg *args, int n);
/* Resolve a statement for running: CALL against the catalog, else the dialect translator.
 * Fills u (pointing into s->tr, orig and storage) and returns 0, or -1 with an ErrorResponse in
 * out (u->action PGSQL_ERROR). */
int  pgs_resolve(pgsess *s, const char *orig, size_t len, int pos_base, pg_unit *u, buf *out);
/* Run u, appending its complete PostgreSQL output (RowDescription, DataRows, CommandComplete, or
 * one ErrorResponse) to out, and return PGS_DONE with *failed set; or submit a writer job (the
 * output then comes to on_job_done with wait kind w) and return PGS_AGAIN. */
enum pg_step pgs_run_unit(pgsess *s, const pg_unit *u, buf *out, int *failed, enum pg_wait w);
/* A writer job's reply as PostgreSQL messages appended to out (the writer answers transaction
 * control in line-protocol text; that is translated here). Returns 1 when the job failed. */
int  pgs_job_output(pgsess *s, writer_job *job, buf *out);
/* The same for transaction control the session sent on its own (not the client): only a failure
 * is appended to out. Returns 1 when the job failed. */
int  pgs_tx_job_output(pgsess *s, writer_job *job, buf *out);
/* Submit a job with just transaction control (BEGIN, COMMIT, ROLLBACK). */
void pgs_submit_tx(pgsess *s, enum writer_tx tx, enum pg_wait w);

/* A writer job that owns copies of everything its items point to. */
typedef struct pg_job pg_job;
/* quiet: no output per item, only an error (COPY's inserts). */
pg_job *pgs_job_new(pgsess *s, int quiet);
/* Copy an item into the job (its SQL once per distinct pointer, its argument texts, its orig);
 * the job takes a reference on owner. meta: the statement for tags and positions (NULL: none). */
int  pgs_job_add(pg_job *j, const query_item *it, pg_plan *owner, const pgsink_stmt *meta);
int  pgs_job_items(const pg_job *j);
void pgs_job_submit(pgsess *s, pg_job *j, enum writer_tx tx, int savepoint_op, enum pg_wait w);
void pgs_job_free(pg_job *j);

/* The simple Query protocol. */
void pgs_query_start(pgsess *s, const char *sql, size_t len);
void pgs_query_job_done(pgsess *s, writer_job *job);
/* A simple Query resumes after its COPY ended (pgcopy.c calls it). */
void pgs_query_continue(pgsess *s);

/* ---- pgext.c: the extended protocol ---- */

pgext *pgext_new(void);
void   pgext_free(pgext *x);
/* Parse, Bind, Describe, Execute, Close, Sync, Flush. */
enum pg_step pgext_message(pgsess *s, const pgwire_msg *m);
/* A job submitted with PGW_PORTAL is back. */
void   pgext_job_done(pgsess *s, writer_job *job);
/* DEALLOCATE name / ALL (name NULL); returns 0, or -1 when the name is unknown. */
int    pgext_deallocate(pgsess *s, const char *name);
/* Is the pipeline's own transaction (several Executes before one Sync) what is open now? */
int    pgext_implicit(const pgsess *s);

/* ---- pgcopy.c: COPY FROM STDIN ---- */

/* Begin COPY for translation r (PGSQL_COPY_FROM_STDIN) of the statement at orig: CopyInResponse
 * goes out and the session enters PG_COPY_IN. Returns PGS_DONE (an error was written to out: the
 * Query goes on failing), or PGS_AGAIN (copy mode: the Query resumes when it ends). */
enum pg_step pgcopy_start(pgsess *s, const pgsql_result *r, buf *out);
/* CopyData, CopyDone, CopyFail (and anything else, which fails the COPY). */
enum pg_step pgcopy_message(pgsess *s, const pgwire_msg *m);
void   pgcopy_job_done(pgsess *s, writer_job *job);
/* The connection closes mid-COPY. */
void   pgcopy_free(pgsess *s);

#endif
