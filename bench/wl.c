/* wl.c - workload request generators, their set-up (tables, warming) and the fast populate. */
#include "wl.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>

#include "zipf.h"

const char *const wl_names[] = { "hit", "miss", "mixed", "write", "named", "batch", "inproc", "none" };

wl_kind wl_parse(const char *name)
{
    for (int k = 0; k < WL_NONE; k++)
        if (strcmp(name, wl_names[k]) == 0)
            return (wl_kind)k;
    return WL_NONE;
}

int wl_queries_per_request(const wl_opts *o)
{
    return o->kind == WL_BATCH ? o->batch_size : 1;
}

int wl_is_write(const wl_opts *o)
{
    return o->kind == WL_WRITE;
}

/* ---- key choice ---------------------------------------------------------------------------
 *
 * Hot keys are ids 1..keys, warmed before measuring, drawn uniformly or by Zipf (rank r is id r).
 * Cold keys are never repeated: connection i of C takes the sequence numbers i, i+C, i+2C, ...; a
 * sequence number maps to an id cycling over every row, and the statement carries a salt
 * `AND <salt> > 0` made of a per-run nonce and the pass over the ids. SQLite folds the constant
 * away, but the cache keys on the text (literals included), so each cold statement is a genuine
 * miss, also across runs against the same server within the cache TTL.
 *
 * Sizing rule for `mixed --hit-ratio R`: each request is hot with probability R, else cold. Every
 * hot request hits (the hot set is warmed and far below the cache's capacity) and every cold one
 * misses, so the steady-state hit ratio is R exactly, whatever the distribution inside the hot
 * set. (Zipf over one key space would make the ratio depend on the cache size and TTL, and need a
 * numeric solve per R; this makes it a parameter.) */

typedef struct wl_conn {
    zipf     z;            /* hot keys; s = 0 when uniform */
    zipf_rng rng;          /* hot or cold, and write keys */
    uint64_t cold_seq;
    uint64_t cold_salt;    /* --call: 1 + the salt of this connection's PREPAREd cold lookup; 0 before */
    int      prepared;     /* write --call: this connection's PREPARE went out */
} wl_conn;

static void *conn_init(void *ud, int idx)
{
    wl_opts *o = ud;
    wl_conn *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    uint64_t seed = o->seed * 1000003u + (uint64_t)idx;
    zipf_init(&c->z, o->keys, o->zipf ? o->zipf_s : 0.0, seed);
    zipf_rng_seed(&c->rng, seed ^ UINT64_C(0x5bd1e995));
    c->cold_seq = (uint64_t)idx;
    return c;
}

static void conn_free(void *ud, void *cs)
{
    (void)ud;
    free(cs);
}

static const char *read_head(const wl_opts *o)
{
    if (o->row_bytes > 0)
        return o->nocache ? "/*+ nocache */ SELECT v FROM bench_kv WHERE id = " : "SELECT v FROM bench_kv WHERE id = ";
    return o->nocache ? "/*+ nocache */ SELECT * FROM users WHERE id = " : "SELECT * FROM users WHERE id = ";
}

/* head, then k in decimal, then a newline, at p (room for strlen(head) + 21); returns the end. */
static char *put_u64_line(char *p, const char *head, uint64_t k)
{
    size_t n = strlen(head);
    memcpy(p, head, n);
    p += n;
    char digits[20];
    int d = 0;
    do
        digits[d++] = (char)('0' + k % 10);
    while ((k /= 10) > 0);
    while (d)
        *p++ = digits[--d];
    *p++ = '\n';
    return p;
}

/* The hot lookup line of key k. By hand, not printf: at a million lookups a second the load
 * generator's own formatting was a tenth of its time, on cores it shares with the server. */
static const char *hot_head(const wl_opts *o)
{
    return o->call && o->row_bytes == 0 ? "CALL getUserById " : read_head(o);
}

static void put_hot(const wl_opts *o, struct evbuffer *out, uint64_t k)
{
    char line[128];
    evbuffer_add(out, line, (size_t)(put_u64_line(line, hot_head(o), k) - line));
}

/* A cold lookup; with --call, a parameterized one. A named query cannot carry the salt, and the
 * same `CALL getUserById k` would hit entries left by an earlier run (or by the hot set), so each
 * connection PREPAREs the lookup with the salt in its text, once per pass over the ids: that
 * request is the PREPARE alone (counted like any other), the next ones CALL it. */
static void put_cold(const wl_opts *o, wl_conn *c, struct evbuffer *out)
{
    uint64_t range = o->max_id > o->keys ? o->max_id : o->keys;
    uint64_t seq = c->cold_seq;
    uint64_t salt = o->nonce + seq / range;
    if (o->call && o->row_bytes == 0 && c->cold_salt != salt + 1) {
        c->cold_salt = salt + 1;
        /* Named after the pass: a connection that passes over every id prepares a second one, and
         * PREPARE of a name the connection already has is an error (42P05). */
        evbuffer_add_printf(out, "PREPARE lcmiss%llu AS %sSELECT * FROM users WHERE id = ? AND %llu > 0\n",
                            (unsigned long long)(seq / range), o->nocache ? "/*+ nocache */ " : "", (unsigned long long)salt);
        return;
    }
    c->cold_seq += (uint64_t)o->connections;
    if (o->call && o->row_bytes == 0) {
        evbuffer_add_printf(out, "CALL lcmiss%llu %llu\n", (unsigned long long)(seq / range), (unsigned long long)(1 + seq % range));
        return;
    }
    evbuffer_add_printf(out, "%s%llu AND %llu > 0\n", read_head(o), (unsigned long long)(1 + seq % range),
                        (unsigned long long)salt);
}

static void put_redis(struct evbuffer *out, const char *cmd, const char *key, const char *val, size_t vlen)
{
    size_t kl = strlen(key);
    if (val)
        evbuffer_add_printf(out, "*3\r\n$%zu\r\n%s\r\n$%zu\r\n%s\r\n$%zu\r\n", strlen(cmd), cmd, kl, key, vlen);
    else
        evbuffer_add_printf(out, "*2\r\n$%zu\r\n%s\r\n$%zu\r\n%s\r\n", strlen(cmd), cmd, kl, key);
    if (val) {
        evbuffer_add(out, val, vlen);
        evbuffer_add(out, "\r\n", 2);
    }
}

static int next(void *ud, void *cs, struct evbuffer *out)
{
    wl_opts *o = ud;
    wl_conn *c = cs;
    char key[48];
    if (!c)
        return 0;
    if (o->redis) {
        if (o->kind == WL_WRITE) {
            snprintf(key, sizeof key, "w:%llu", (unsigned long long)(1 + zipf_rng_below(&c->rng, 1000000)));
            put_redis(out, "SET", key, o->value, (size_t)o->value_size);
        } else {
            snprintf(key, sizeof key, "key:%llu", (unsigned long long)zipf_next(&c->z));
            put_redis(out, "GET", key, NULL, 0);
        }
        return 1;
    }
    switch (o->kind) {
    case WL_HIT:
        put_hot(o, out, zipf_next(&c->z));
        return 1;
    case WL_MISS:
        put_cold(o, c, out);
        return 1;
    case WL_MIXED:
        if (zipf_rng_double(&c->rng) < o->hit_ratio)
            put_hot(o, out, zipf_next(&c->z));
        else
            put_cold(o, c, out);
        return 1;
    case WL_WRITE:
        if (o->call) {
            /* A parameterized insert, as an application sends it: prepared once per connection
             * (that first request is counted like the others). */
            if (!c->prepared) {
                c->prepared = 1;
                evbuffer_add_printf(out, "PREPARE benchw AS INSERT INTO bench_w(k, v) VALUES (?, ?)\n");
                return 1;
            }
            evbuffer_add_printf(out, "CALL benchw %llu %s\n",
                                (unsigned long long)(1 + zipf_rng_below(&c->rng, 1000000)), o->value);
            return 1;
        }
        evbuffer_add_printf(out, "INSERT INTO bench_w(k, v) VALUES (%llu, '%s')\n",
                            (unsigned long long)(1 + zipf_rng_below(&c->rng, 1000000)), o->value);
        return 1;
    case WL_NAMED: {
        unsigned long long k = (unsigned long long)zipf_next(&c->z);
        evbuffer_add_printf(out, "CALL %s ", o->query ? o->query : "getUserById");
        if (o->ids <= 0) {
            evbuffer_add_printf(out, "%llu\n", k);
            return 1;
        }
        for (int i = 0; i < o->ids; i++)
            evbuffer_add_printf(out, "%c%llu", i ? ',' : '[', k + (unsigned long long)i);
        evbuffer_add_printf(out, "]\n");
        return 1;
    }
    case WL_BATCH: {
        /* The whole request formatted in one piece, added to the output once. */
        const char *head = hot_head(o);
        size_t room = 32 + (size_t)o->batch_size * (strlen(head) + 21);
        char stack[8192], *b = room <= sizeof stack ? stack : malloc(room);
        if (!b)
            return 0;
        char *p = put_u64_line(b, "BATCH ", (uint64_t)o->batch_size);
        for (int i = 0; i < o->batch_size; i++)
            p = put_u64_line(p, head, zipf_next(&c->z));
        evbuffer_add(out, b, (size_t)(p - b));
        if (b != stack)
            free(b);
        return o->batch_size + 1;   /* one status per line, then the batch's own */
    }
    default:
        return 0;
    }
}

eng_gen wl_gen(wl_opts *o)
{
    return (eng_gen){ .ud = o, .conn_init = conn_init, .conn_free = conn_free, .next = next };
}

/* ---- set-up ------------------------------------------------------------------------------ */

static int exec_write(ctl *c, const char *sql, char *err, size_t errlen)
{
    char status[256];
    int rc = ctl_request(c, sql, 1, NULL, status, sizeof status);
    if (rc != 1) {
        snprintf(err, errlen, "%.100s: %.150s", sql, rc < 0 ? c->err : status);
        return -1;
    }
    return 0;
}

/* Send `n` requests already in b (pipelined) and read their n responses; errors fail the set-up. */
static int flush_pipeline(ctl *c, buf *b, uint64_t n, char *err, size_t errlen)
{
    if (n == 0)
        return 0;
    if (ctl_send(c, b->data, b->len) < 0) {
        snprintf(err, errlen, "%s", c->err);
        return -1;
    }
    buf_reset(b);
    char status[256];
    int bad = 0;
    for (uint64_t i = 0; i < n; i++) {
        int rc = c->redis ? ctl_resp_reply(c, status, sizeof status) : ctl_response(c, NULL, status, sizeof status);
        if (rc < 0) {
            snprintf(err, errlen, "warming: %s", c->err);
            return -1;
        }
        if (rc == 0 && !bad++)
            snprintf(err, errlen, "warming: %.200s", status);
    }
    return bad ? -1 : 0;
}

/* bench_kv holds exactly ids 1..keys with values of row_bytes bytes, or is rebuilt. */
static int ensure_kv(ctl *c, wl_opts *o, char *err, size_t errlen)
{
    if (exec_write(c, "CREATE TABLE IF NOT EXISTS bench_kv(id INTEGER PRIMARY KEY, v TEXT NOT NULL)", err, errlen) < 0)
        return -1;
    char q[200], v[64];
    snprintf(q, sizeof q, "SELECT count(*) = %llu AND min(length(v)) = %d AND max(length(v)) = %d AND max(id) = count(*) FROM bench_kv",
             (unsigned long long)o->keys, o->row_bytes, o->row_bytes);
    if (ctl_scalar(c, q, v, sizeof v) < 0) {
        snprintf(err, errlen, "%s", c->err);
        return -1;
    }
    if (strcmp(v, "1") == 0)
        return 0;
    if (exec_write(c, "DELETE FROM bench_kv", err, errlen) < 0)
        return -1;
    buf b;
    buf_init(&b);
    const uint64_t per_line = 500, lines_per_batch = 200;
    uint64_t k = 1;
    int rc = 0;
    while (k <= o->keys && rc == 0) {
        uint64_t lines = 0;
        size_t hdr = b.len;
        buf_puts(&b, "BATCH 0000000000\n");   /* count patched below */
        for (; lines < lines_per_batch && k <= o->keys; lines++) {
            buf_puts(&b, "INSERT INTO bench_kv(id, v) VALUES ");
            for (uint64_t i = 0; i < per_line && k <= o->keys; i++, k++)
                buf_printf(&b, "%s(%llu, printf('%%.*c', %d, 'v'))", i ? "," : "", (unsigned long long)k, o->row_bytes);
            buf_putc(&b, '\n');
        }
        char num[11];
        snprintf(num, sizeof num, "%010llu", (unsigned long long)lines);
        memcpy(b.data + hdr + 6, num, 10);
        ctl_sent.queries += lines;
        ctl_sent.writes += lines;
        rc = flush_pipeline(c, &b, lines + 1, err, errlen);
    }
    buf_free(&b);
    return rc;
}

int wl_setup(ctl *c, wl_opts *o, char *err, size_t errlen)
{
    o->nonce = ((uint64_t)time(NULL) * 1000003u ^ (uint64_t)getpid() * 7919u) % UINT64_C(1000000000000);
    free(o->value);
    o->value = malloc((size_t)o->value_size + 1);
    if (!o->value) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    memset(o->value, 'v', (size_t)o->value_size);
    o->value[o->value_size] = '\0';
    buf b;
    buf_init(&b);
    if (o->redis) {
        if (o->kind != WL_HIT && o->kind != WL_WRITE) {
            snprintf(err, errlen, "--protocol redis runs the hit (GET) and write (SET) workloads only");
            return -1;
        }
        int rc = 0;
        uint64_t n = 0;
        for (uint64_t k = 1; o->kind == WL_HIT && k <= o->keys && rc == 0; k++) {
            char key[48];
            snprintf(key, sizeof key, "key:%llu", (unsigned long long)k);
            buf_printf(&b, "*3\r\n$3\r\nSET\r\n$%zu\r\n%s\r\n$%d\r\n", strlen(key), key, o->value_size);
            buf_append(&b, o->value, (size_t)o->value_size);
            buf_puts(&b, "\r\n");
            if (++n == 1000 || k == o->keys) {
                rc = flush_pipeline(c, &b, n, err, errlen);
                n = 0;
            }
        }
        buf_free(&b);
        return rc;
    }
    char v[64];
    if (o->row_bytes > 0) {
        if (ensure_kv(c, o, err, errlen) < 0)
            return -1;
        o->max_id = o->keys;
    } else {
        if (ctl_scalar(c, "SELECT coalesce(max(id), 0) FROM users", v, sizeof v) < 0) {
            snprintf(err, errlen, "%s", c->err);
            return -1;
        }
        o->max_id = strtoull(v, NULL, 10);
        int reads = o->kind == WL_HIT || o->kind == WL_MIXED || o->kind == WL_NAMED || o->kind == WL_BATCH;
        if (reads && o->max_id < o->keys) {
            if (o->max_id > 0) {
                fprintf(stderr, "note: users has ids up to %llu only; --keys %llu lowered to match\n",
                        (unsigned long long)o->max_id, (unsigned long long)o->keys);
                o->keys = o->max_id;
            } else {
                fprintf(stderr, "note: users is empty (use --populate N); lookups find no row\n");
            }
        }
    }
    if (o->kind == WL_WRITE &&
        exec_write(c, "CREATE TABLE IF NOT EXISTS bench_w(id INTEGER PRIMARY KEY, k INTEGER NOT NULL, v TEXT NOT NULL)",
                   err, errlen) < 0)
        return -1;
    /* Warm the hot set: every hot statement twice, exactly as the load will send it (a full cache
     * with cache_admission = repeat stores a key at its second miss). */
    int warm = o->kind == WL_HIT || o->kind == WL_BATCH || (o->kind == WL_MIXED && o->hit_ratio > 0);
    int rc = 0;
    uint64_t n = 0;
    for (int pass = 0; pass < 2; pass++)
        for (uint64_t k = 1; warm && !o->nocache && k <= o->keys && rc == 0; k++) {
            buf_printf(&b, "%s%llu\n", read_head(o), (unsigned long long)k);
            ctl_sent.queries++;
            ctl_sent.reads++;
            if (++n == 1000 || k == o->keys) {
                rc = flush_pipeline(c, &b, n, err, errlen);
                n = 0;
            }
        }
    buf_free(&b);
    return rc;
}

void wl_cleanup(wl_opts *o)
{
    free(o->value);
    o->value = NULL;
}

/* ---- populate ------------------------------------------------------------------------------
 *
 * Through the server, as any client would write: the server runs a BATCH holding writes as one
 * transaction on its writer, so the cost per row is SQLite's insert (plus the statistics
 * triggers), not a commit. Each BATCH line CALLs a PREPAREd multi-row INSERT with its values as
 * parameters: a literal 100-row INSERT was a new statement text each time, and parsing and
 * compiling it on the (single) writer thread was about half the writer's time; parameters are
 * parsed by the worker that reads the line, in parallel, and the writer only binds and steps.
 * Each connection PREPAREs the statements it needs before its first use (one per table and row
 * count: POP_ROWS, and a chunk's remainder). A BATCH carries POP_CHUNK users (and their 2 items
 * and 2 posts); several connections keep the writer busy while the next chunk is being formatted
 * and sent. Ids are assigned explicitly from the chunk number, so connections never collide and
 * posts and items can name their user.
 *
 * Index-friendly values, because inserting into the middle of a large index dirties a page per row
 * once the index outgrows the page cache: emails are zero-padded (user000000042@...) so the email
 * indexes grow at one end, and views grow with the id (k / 10) so idx_posts_views does too; that
 * alone made populate about 1.5x faster at a million users. */

#define POP_CHUNK 10000
#define POP_ROWS  50     /* rows per CALL: 5 columns x 50 rows = 250 parameters (a CALL takes 256) */
#define POP_PREP  8      /* distinct (table, rows) statements a connection may prepare */

typedef struct pop_state {
    uint64_t first_id, users, chunks;
    _Atomic uint64_t next_chunk;
    _Atomic uint64_t lines;
} pop_state;

typedef struct pop_conn {
    pop_state *ps;
    int        prepared[POP_PREP]; /* table * 1000 + rows, for the statements this connection made */
    int        nprepared;
} pop_conn;

static void *pop_conn_init(void *ud, int idx)
{
    (void)idx;
    pop_conn *pc = calloc(1, sizeof *pc);
    if (pc)
        pc->ps = ud;
    return pc;
}

static void pop_conn_free(void *ud, void *cs)
{
    (void)ud;
    free(cs);
}

static const char *const pop_tables[3] = {
    "users(id, email, password_hash, full_name, meta)", "items(user_id, title, description)",
    "posts(user_id, title, body, views, likes)",
};
static const int pop_cols[3] = {5, 3, 5};

/* PREPARE (into out) the insert of `rows` rows into table t unless this connection has it; returns
 * the status lines that adds (0 or 1). */
static int pop_prepare(pop_conn *pc, struct evbuffer *out, int t, int rows)
{
    int id = t * 1000 + rows;
    for (int i = 0; i < pc->nprepared; i++)
        if (pc->prepared[i] == id)
            return 0;
    if (pc->nprepared < POP_PREP)
        pc->prepared[pc->nprepared++] = id;
    evbuffer_add_printf(out, "PREPARE pop%d_%d AS INSERT INTO %s VALUES ", t, rows, pop_tables[t]);
    for (int r = 0; r < rows; r++) {
        evbuffer_add(out, r ? ",(?" : "(?", r ? 3 : 2);
        for (int c = 1; c < pop_cols[t]; c++)
            evbuffer_add(out, ",?", 2);
        evbuffer_add(out, ")", 1);
    }
    evbuffer_add(out, "\n", 1);
    return 1;
}

/* One CALL line: rows [first, first + rows) of table t, where row r of items and posts is the
 * (r % 2 + 1)-th of user lo + r / 2. */
static void pop_call(struct evbuffer *out, int t, uint64_t lo, uint64_t first, int rows)
{
    evbuffer_add_printf(out, "CALL pop%d_%d", t, rows);
    for (uint64_t r = first; r < first + (uint64_t)rows; r++) {
        unsigned long long k = t == 0 ? lo + r : lo + r / 2;
        int j = (int)(r % 2) + 1;
        if (t == 0)
            evbuffer_add_printf(out, " %llu \"user%09llu@bench.example\" \"pbkdf2$bench\" \"User %llu\" {\"n\":%llu}",
                                k, k, k, k % 100);
        else if (t == 1)
            evbuffer_add_printf(out, " %llu \"item %d of user %llu\" \"a benchmark item\"", k, j, k);
        else
            evbuffer_add_printf(out, " %llu \"post %d of user %llu\" \"a benchmark post body\" %llu %llu", k, j, k,
                                k / 10, k % 50);
    }
    evbuffer_add(out, "\n", 1);
}

static int pop_next(void *ud, void *cs, struct evbuffer *out)
{
    (void)ud;
    pop_conn *pc = cs;
    if (!pc)
        return 0;
    pop_state *ps = pc->ps;
    uint64_t ch = atomic_fetch_add(&ps->next_chunk, 1);
    if (ch >= ps->chunks)
        return 0;
    uint64_t lo = ps->first_id + ch * POP_CHUNK;
    uint64_t hi = lo + POP_CHUNK;
    if (hi > ps->first_id + ps->users)
        hi = ps->first_id + ps->users;
    uint64_t nrows[3] = {hi - lo, 2 * (hi - lo), 2 * (hi - lo)};
    int statuses = 0, lines = 0;
    for (int t = 0; t < 3; t++) {
        statuses += pop_prepare(pc, out, t, POP_ROWS);
        if (nrows[t] % POP_ROWS)
            statuses += pop_prepare(pc, out, t, (int)(nrows[t] % POP_ROWS));
        lines += (int)((nrows[t] + POP_ROWS - 1) / POP_ROWS);
    }
    evbuffer_add_printf(out, "BATCH %d\n", lines);
    for (int t = 0; t < 3; t++)
        for (uint64_t r = 0; r < nrows[t]; r += POP_ROWS)
            pop_call(out, t, lo, r, (int)(nrows[t] - r < POP_ROWS ? nrows[t] - r : POP_ROWS));
    atomic_fetch_add(&ps->lines, (uint64_t)lines);
    return statuses + lines + 1;
}

int wl_populate(const char *host, int port, uint64_t users, int conns, wl_populate_result *res,
                char *err, size_t errlen)
{
    memset(res, 0, sizeof *res);
    ctl c;
    if (ctl_connect(&c, host, port, 0) < 0) {
        snprintf(err, errlen, "%s", c.err);
        ctl_close(&c);
        return -1;
    }
    char v[64];
    int rc = ctl_scalar(&c, "SELECT coalesce(max(id), 0) FROM users", v, sizeof v);
    if (rc < 0)
        snprintf(err, errlen, "%s", c.err);
    ctl_close(&c);
    if (rc < 0)
        return -1;
    pop_state ps = { .first_id = strtoull(v, NULL, 10) + 1, .users = users };
    ps.chunks = (users + POP_CHUNK - 1) / POP_CHUNK;
    if (conns < 1)
        conns = 1;
    if ((uint64_t)conns > ps.chunks)
        conns = ps.chunks ? (int)ps.chunks : 1;
    eng_config cfg = {
        .host = host, .port = port, .threads = 2, .connections = conns, .depth = 1,
        .drain_timeout = 60, .proto = ENG_LINE,
        .gen = { .ud = &ps, .conn_init = pop_conn_init, .conn_free = pop_conn_free, .next = pop_next },
    };
    eng_result *er = malloc(sizeof *er);
    if (!er) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    double t0 = eng_now();
    int erc = users ? eng_run(&cfg, er) : 0;
    res->seconds = eng_now() - t0;
    res->users = users;
    res->first_id = ps.first_id;
    res->rows = users * 5;
    res->requests = users ? er->sent : 0;
    res->lines = atomic_load(&ps.lines);
    res->errors = users ? er->errors + er->lost + (uint64_t)er->conn_failures : 0;
    if (users)
        snprintf(res->first_error, sizeof res->first_error, "%s", er->first_error);
    ctl_sent.queries += res->lines;
    ctl_sent.writes += res->lines;
    free(er);
    if (erc < 0 || res->errors) {
        snprintf(err, errlen, "populate failed: %s", res->first_error[0] ? res->first_error : "errors");
        return -1;
    }
    return 0;
}
