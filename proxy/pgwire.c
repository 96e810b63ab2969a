/* pgwire.c - the PostgreSQL v3 wire protocol codec: framing, frontend message parsing, backend message encoding, type OIDs, CommandComplete tags; never touches a socket. */
#include "pgwire.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "pglex.h"

/* ---- byte order ------------------------------------------------------------------------ */

static uint32_t be32(const char *p)
{
    const unsigned char *u = (const unsigned char *)p;
    return (uint32_t)u[0] << 24 | (uint32_t)u[1] << 16 | (uint32_t)u[2] << 8 | u[3];
}

static uint16_t be16(const char *p)
{
    const unsigned char *u = (const unsigned char *)p;
    return (uint16_t)(u[0] << 8 | u[1]);
}

static void put_i32(buf *b, uint32_t v)
{
    char q[4] = { (char)(v >> 24), (char)(v >> 16), (char)(v >> 8), (char)v };
    buf_append(b, q, 4);
}

static void put_i16(buf *b, uint16_t v)
{
    char q[2] = { (char)(v >> 8), (char)v };
    buf_append(b, q, 2);
}

static void patch_i32(buf *b, size_t at, uint32_t v)
{
    if (b->oom || at + 4 > b->len)
        return;
    b->data[at] = (char)(v >> 24);
    b->data[at + 1] = (char)(v >> 16);
    b->data[at + 2] = (char)(v >> 8);
    b->data[at + 3] = (char)v;
}

/* ---- framing ----------------------------------------------------------------------------- */

int pgwire_frame_startup(const char *p, size_t n, pgwire_msg *f)
{
    memset(f, 0, sizeof *f);
    if (n < 4)
        return PGWIRE_NEED_MORE;
    int32_t len = (int32_t)be32(p);
    /* Judge the length before waiting for the body, so a bogus one never makes us buffer. */
    if (len < 8)
        return PGWIRE_ERR_SHORT_LEN;
    if (len > PGWIRE_STARTUP_MAX)
        return PGWIRE_ERR_STARTUP_LEN;
    if (n < (size_t)len)
        return PGWIRE_NEED_MORE;
    f->code = be32(p + 4);
    f->body = p + 8;
    f->body_len = (size_t)len - 8;
    f->total = (size_t)len;
    return PGWIRE_MSG;
}

int pgwire_frame(const char *p, size_t n, size_t max_len, pgwire_msg *f)
{
    memset(f, 0, sizeof *f);
    if (n < 5)
        return PGWIRE_NEED_MORE;
    uint32_t len = be32(p + 1);
    if (max_len == 0 || max_len > PGWIRE_HARD_MAX)
        max_len = PGWIRE_HARD_MAX;
    if ((int32_t)len < 4)
        return PGWIRE_ERR_SHORT_LEN;
    if (len > max_len)
        return PGWIRE_ERR_TOO_LONG;
    if (n - 1 < len)
        return PGWIRE_NEED_MORE;
    f->type = p[0];
    f->body = p + 5;
    f->body_len = len - 4;
    f->total = (size_t)len + 1;
    return PGWIRE_MSG;
}

const char *pgwire_frame_strerror(int status)
{
    switch (status) {
    case PGWIRE_ERR_SHORT_LEN:   return "invalid message length";
    case PGWIRE_ERR_TOO_LONG:    return "message too long";
    case PGWIRE_ERR_STARTUP_LEN: return "invalid length of startup packet";
    default:                     return "invalid message";
    }
}

/* ---- frontend messages ----------------------------------------------------------------------- */

/* A cursor over one message body; every getter fails rather than read past the end. */
typedef struct rd {
    const char *p;
    size_t      n, at;
    char       *err;
    size_t      errlen;
    const char *what;   /* message name for error texts */
} rd;

static int rd_fail(rd *r, const char *problem)
{
    if (r->errlen)
        snprintf(r->err, r->errlen, "invalid %s message format: %s", r->what, problem);
    return -1;
}

static int rd_str(rd *r, const char **s)
{
    const char *z = memchr(r->p + r->at, '\0', r->n - r->at);
    if (!z)
        return rd_fail(r, "string is not NUL-terminated");
    *s = r->p + r->at;
    r->at = (size_t)(z - r->p) + 1;
    return 0;
}

static int rd_i16(rd *r, int16_t *v)
{
    if (r->n - r->at < 2)
        return rd_fail(r, "message truncated");
    *v = (int16_t)be16(r->p + r->at);
    r->at += 2;
    return 0;
}

static int rd_i32(rd *r, int32_t *v)
{
    if (r->n - r->at < 4)
        return rd_fail(r, "message truncated");
    *v = (int32_t)be32(r->p + r->at);
    r->at += 4;
    return 0;
}

/* n items of size sz must fit what is left. */
static int rd_skip(rd *r, size_t count, size_t sz, const char **start)
{
    if (count > (r->n - r->at) / sz)
        return rd_fail(r, "count exceeds message length");
    *start = r->p + r->at;
    r->at += count * sz;
    return 0;
}

static int rd_end(rd *r)
{
    return r->at == r->n ? 0 : rd_fail(r, "unexpected trailing data");
}

static int rd_formats(rd *r, int16_t count, const char *fmts)
{
    for (int i = 0; i < count; i++) {
        int16_t f = (int16_t)be16(fmts + 2 * i);
        if (f != 0 && f != 1)
            return rd_fail(r, "unsupported format code");
    }
    return 0;
}

#define RD(name) rd r = { body, len, 0, err, errlen, name }

int pgwire_parse_startup(const char *body, size_t len, uint32_t code, pgwire_startup *m, char *err, size_t errlen)
{
    RD("startup");
    memset(m, 0, sizeof *m);
    m->major = (uint16_t)(code >> 16);
    m->minor = (uint16_t)code;
    if (m->major != 3) {
        if (errlen)
            snprintf(err, errlen, "unsupported frontend protocol %u.%u: server supports 3.0 to 3.0",
                     m->major, m->minor);
        return -1;
    }
    for (;;) {
        const char *k, *v;
        if (rd_str(&r, &k) < 0)
            return rd_fail(&r, "expected terminator as last byte");
        if (*k == '\0')
            break;
        if (rd_str(&r, &v) < 0)
            return rd_fail(&r, "parameter without a value");
        if (m->nparams == PGWIRE_MAX_STARTUP_PARAMS)
            return rd_fail(&r, "too many parameters");
        m->params[m->nparams++] = (pgwire_kv){ k, v };
        if (!strcmp(k, "user"))
            m->user = v;
        else if (!strcmp(k, "database"))
            m->database = v;
        else if (!strcmp(k, "application_name"))
            m->application_name = v;
        else if (!strcmp(k, "options"))
            m->options = v;
        else if (!strcmp(k, "client_encoding"))
            m->client_encoding = v;
    }
    if (rd_end(&r) < 0)
        return rd_fail(&r, "expected terminator as last byte");
    if ((!m->database || !*m->database) && m->user)
        m->database = m->user;
    return 0;
}

int pgwire_parse_cancel(const char *body, size_t len, pgwire_cancel *m, char *err, size_t errlen)
{
    RD("cancel request");
    return rd_i32(&r, &m->pid) < 0 || rd_i32(&r, &m->key) < 0 ? -1 : rd_end(&r);
}

int pgwire_parse_query(const char *body, size_t len, const char **sql, size_t *sql_len, char *err, size_t errlen)
{
    RD("Query");
    if (rd_str(&r, sql) < 0 || rd_end(&r) < 0)
        return -1;
    *sql_len = len - 1;
    return 0;
}

int pgwire_parse_parse(const char *body, size_t len, pgwire_parse *m, char *err, size_t errlen)
{
    RD("Parse");
    int16_t n;
    memset(m, 0, sizeof *m);
    if (rd_str(&r, &m->name) < 0 || rd_str(&r, &m->query) < 0 || rd_i16(&r, &n) < 0)
        return -1;
    m->query_len = strlen(m->query);
    if (n < 0)
        return rd_fail(&r, "negative parameter count");
    m->nparam_types = n;
    if (rd_skip(&r, (size_t)n, 4, &m->param_types) < 0)
        return -1;
    return rd_end(&r);
}

int pgwire_parse_bind(const char *body, size_t len, pgwire_bind *m, char *err, size_t errlen)
{
    RD("Bind");
    int16_t nf, np, nr;
    memset(m, 0, sizeof *m);
    if (rd_str(&r, &m->portal) < 0 || rd_str(&r, &m->statement) < 0 || rd_i16(&r, &nf) < 0)
        return -1;
    if (nf < 0)
        return rd_fail(&r, "negative format count");
    if (rd_skip(&r, (size_t)nf, 2, &m->param_formats) < 0 || rd_formats(&r, nf, m->param_formats) < 0 ||
        rd_i16(&r, &np) < 0)
        return -1;
    if (np < 0)
        return rd_fail(&r, "negative parameter count");
    if (nf > 1 && nf != np) {
        if (errlen)
            snprintf(err, errlen, "bind message has %d parameter formats but %d parameters", nf, np);
        return -1;
    }
    m->nparam_formats = nf;
    m->nparams = np;
    m->params = r.p + r.at;
    for (int i = 0; i < np; i++) {
        int32_t l;
        const char *skip;
        if (rd_i32(&r, &l) < 0)
            return -1;
        if (l < -1)
            return rd_fail(&r, "invalid parameter length");
        if (l > 0 && rd_skip(&r, (size_t)l, 1, &skip) < 0)
            return -1;
    }
    if (rd_i16(&r, &nr) < 0)
        return -1;
    if (nr < 0)
        return rd_fail(&r, "negative result format count");
    m->nresult_formats = nr;
    if (rd_skip(&r, (size_t)nr, 2, &m->result_formats) < 0 || rd_formats(&r, nr, m->result_formats) < 0)
        return -1;
    return rd_end(&r);
}

static int parse_target(rd *r, pgwire_target *m)
{
    if (r->n < 1)
        return rd_fail(r, "message truncated");
    m->kind = r->p[0];
    r->at = 1;
    if (m->kind != 'S' && m->kind != 'P')
        return rd_fail(r, "invalid target type (expected 'S' or 'P')");
    return rd_str(r, &m->name) < 0 ? -1 : rd_end(r);
}

int pgwire_parse_describe(const char *body, size_t len, pgwire_target *m, char *err, size_t errlen)
{
    RD("Describe");
    return parse_target(&r, m);
}

int pgwire_parse_close(const char *body, size_t len, pgwire_target *m, char *err, size_t errlen)
{
    RD("Close");
    return parse_target(&r, m);
}

int pgwire_parse_execute(const char *body, size_t len, pgwire_execute *m, char *err, size_t errlen)
{
    RD("Execute");
    return rd_str(&r, &m->portal) < 0 || rd_i32(&r, &m->max_rows) < 0 ? -1 : rd_end(&r);
}

int pgwire_parse_empty(const char *body, size_t len, char *err, size_t errlen)
{
    RD("empty");
    return rd_end(&r);
}

int pgwire_parse_copy_fail(const char *body, size_t len, const char **msg, char *err, size_t errlen)
{
    RD("CopyFail");
    return rd_str(&r, msg) < 0 ? -1 : rd_end(&r);
}

int pgwire_parse_password(const char *body, size_t len, const char **password, char *err, size_t errlen)
{
    RD("password");
    return rd_str(&r, password) < 0 ? -1 : rd_end(&r);
}

int pgwire_parse_sasl_initial(const char *body, size_t len, pgwire_sasl_initial *m, char *err, size_t errlen)
{
    RD("SASLInitialResponse");
    int32_t l;
    memset(m, 0, sizeof *m);
    if (rd_str(&r, &m->mechanism) < 0 || rd_i32(&r, &l) < 0)
        return -1;
    if (l < -1)
        return rd_fail(&r, "invalid data length");
    if (l >= 0) {
        if (rd_skip(&r, (size_t)l, 1, &m->data) < 0)
            return -1;
        m->len = (size_t)l;
    }
    return rd_end(&r);
}

int pgwire_parse_sasl_response(const char *body, size_t len, const char **data, size_t *dlen, char *err, size_t errlen)
{
    (void)err;
    (void)errlen;
    *data = body;
    *dlen = len;
    return 0;
}

uint32_t pgwire_parse_param_type(const pgwire_parse *m, int i)
{
    return i >= 0 && i < m->nparam_types ? be32(m->param_types + 4 * i) : 0;
}

static int16_t format_at(const char *fmts, int n, int i)
{
    if (n == 0 || i < 0)
        return 0;
    if (n == 1)
        return (int16_t)be16(fmts);
    return i < n ? (int16_t)be16(fmts + 2 * i) : 0;
}

int16_t pgwire_bind_param_format(const pgwire_bind *m, int i)
{
    return format_at(m->param_formats, m->nparam_formats, i);
}

int16_t pgwire_bind_result_format(const pgwire_bind *m, int i)
{
    return format_at(m->result_formats, m->nresult_formats, i);
}

void pgwire_bind_params(const pgwire_bind *m, pgwire_param *out, int max)
{
    const char *p = m->params;
    for (int i = 0; i < m->nparams && i < max; i++) {
        int32_t l = (int32_t)be32(p);
        p += 4;
        out[i].len = l;
        out[i].p = l >= 0 ? p : NULL;
        out[i].format = pgwire_bind_param_format(m, i);
        if (l > 0)
            p += l;
    }
}

/* ---- backend messages ------------------------------------------------------------------------ */

static size_t msg_begin(buf *b, char type)
{
    size_t start = b->len;
    buf_putc(b, type);
    put_i32(b, 0);
    return start;
}

static void msg_end(buf *b, size_t start)
{
    patch_i32(b, start + 1, (uint32_t)(b->len - start - 1));
}

static void put_str(buf *b, const char *s)
{
    buf_append(b, s, strlen(s) + 1);
}

static void simple(buf *b, char type)
{
    buf_putc(b, type);
    put_i32(b, 4);
}

static void auth(buf *b, uint32_t code, const void *data, size_t n)
{
    size_t s = msg_begin(b, 'R');
    put_i32(b, code);
    buf_append(b, data, n);
    msg_end(b, s);
}

void pgwire_auth_ok(buf *b) { auth(b, 0, NULL, 0); }
void pgwire_auth_cleartext(buf *b) { auth(b, 3, NULL, 0); }
void pgwire_auth_sasl_continue(buf *b, const void *data, size_t n) { auth(b, 11, data, n); }
void pgwire_auth_sasl_final(buf *b, const void *data, size_t n) { auth(b, 12, data, n); }

void pgwire_auth_sasl(buf *b, const char *const *mechanisms)
{
    size_t s = msg_begin(b, 'R');
    put_i32(b, 10);
    for (; *mechanisms; mechanisms++)
        put_str(b, *mechanisms);
    buf_putc(b, '\0');
    msg_end(b, s);
}

void pgwire_parameter_status(buf *b, const char *name, const char *value)
{
    size_t s = msg_begin(b, 'S');
    put_str(b, name);
    put_str(b, value);
    msg_end(b, s);
}

void pgwire_backend_key(buf *b, int32_t pid, int32_t key)
{
    buf_putc(b, 'K');
    put_i32(b, 12);
    put_i32(b, (uint32_t)pid);
    put_i32(b, (uint32_t)key);
}

void pgwire_ready(buf *b, char status)
{
    buf_putc(b, 'Z');
    put_i32(b, 5);
    buf_putc(b, status);
}

void pgwire_command_complete(buf *b, const char *tag)
{
    size_t s = msg_begin(b, 'C');
    put_str(b, tag);
    msg_end(b, s);
}

void pgwire_empty_query(buf *b) { simple(b, 'I'); }
void pgwire_parse_complete(buf *b) { simple(b, '1'); }
void pgwire_bind_complete(buf *b) { simple(b, '2'); }
void pgwire_close_complete(buf *b) { simple(b, '3'); }
void pgwire_no_data(buf *b) { simple(b, 'n'); }
void pgwire_portal_suspended(buf *b) { simple(b, 's'); }
void pgwire_refuse_encryption(buf *b) { buf_putc(b, 'N'); }

void pgwire_parameter_description(buf *b, const uint32_t *oids, int n)
{
    size_t s = msg_begin(b, 't');
    put_i16(b, (uint16_t)n);
    for (int i = 0; i < n; i++)
        put_i32(b, oids[i]);
    msg_end(b, s);
}

void pgwire_copy_in_response(buf *b, int ncols)
{
    size_t s = msg_begin(b, 'G');
    buf_putc(b, 0);
    put_i16(b, (uint16_t)ncols);
    for (int i = 0; i < ncols; i++)
        put_i16(b, 0);
    msg_end(b, s);
}

void pgwire_negotiate_version(buf *b, int minor, const char *const *unknown, int n)
{
    size_t s = msg_begin(b, 'v');
    put_i32(b, (uint32_t)(3 << 16 | minor));
    put_i32(b, (uint32_t)n);
    for (int i = 0; i < n; i++)
        put_str(b, unknown[i]);
    msg_end(b, s);
}

static void error_like(buf *b, char type, const pgwire_error_fields *e)
{
    size_t s = msg_begin(b, type);
    const char *sev = e->severity ? e->severity : "ERROR";
    buf_putc(b, 'S');
    put_str(b, sev);
    buf_putc(b, 'V');
    put_str(b, sev);
    buf_putc(b, 'C');
    put_str(b, e->sqlstate ? e->sqlstate : "XX000");
    buf_putc(b, 'M');
    put_str(b, e->message ? e->message : "");
    if (e->detail) {
        buf_putc(b, 'D');
        put_str(b, e->detail);
    }
    if (e->hint) {
        buf_putc(b, 'H');
        put_str(b, e->hint);
    }
    if (e->position > 0) {
        buf_putc(b, 'P');
        buf_printf(b, "%d", e->position);
        buf_putc(b, '\0');
    }
    buf_putc(b, '\0');
    msg_end(b, s);
}

void pgwire_error(buf *b, const pgwire_error_fields *e) { error_like(b, 'E', e); }
void pgwire_notice(buf *b, const pgwire_error_fields *e) { error_like(b, 'N', e); }

void pgwire_error_simple(buf *b, const char *sqlstate, const char *message)
{
    pgwire_error_fields e = { "ERROR", sqlstate, message, NULL, NULL, 0 };
    error_like(b, 'E', &e);
}

/* ---- RowDescription / DataRow ----------------------------------------------------------------- */

static void builder_begin(pgwire_builder *w, buf *b, char type)
{
    w->b = b;
    w->count = 0;
    w->field = 0;
    w->start = msg_begin(b, type);
    put_i16(b, 0);
}

static int builder_end(pgwire_builder *w)
{
    buf *b = w->b;
    if (w->count > 0xFFFF) {
        buf_truncate(b, w->start);
        return -1;
    }
    if (!b->oom && w->start + 7 <= b->len) {
        b->data[w->start + 5] = (char)(w->count >> 8);
        b->data[w->start + 6] = (char)w->count;
    }
    msg_end(b, w->start);
    return 0;
}

void pgwire_rowdesc_begin(pgwire_builder *w, buf *b) { builder_begin(w, b, 'T'); }
int pgwire_rowdesc_end(pgwire_builder *w) { return builder_end(w); }

void pgwire_rowdesc_add(pgwire_builder *w, const char *name, uint32_t type_oid, int16_t format)
{
    buf *b = w->b;
    put_str(b, name);
    put_i32(b, 0);                                 /* table oid */
    put_i16(b, 0);                                 /* attnum */
    put_i32(b, type_oid);
    put_i16(b, (uint16_t)pgwire_type_len(type_oid));
    put_i32(b, 0xFFFFFFFFu);                       /* typmod -1 */
    put_i16(b, (uint16_t)format);
    w->count++;
}

void pgwire_datarow_begin(pgwire_builder *w, buf *b) { builder_begin(w, b, 'D'); }
int pgwire_datarow_end(pgwire_builder *w) { return builder_end(w); }

void pgwire_datarow_null(pgwire_builder *w)
{
    put_i32(w->b, 0xFFFFFFFFu);
    w->count++;
}

void pgwire_datarow_bytes(pgwire_builder *w, const void *p, size_t n)
{
    put_i32(w->b, (uint32_t)n);
    buf_append(w->b, p, n);
    w->count++;
}

void pgwire_datarow_field_begin(pgwire_builder *w)
{
    w->field = w->b->len;
    put_i32(w->b, 0);
}

void pgwire_datarow_field_end(pgwire_builder *w)
{
    patch_i32(w->b, w->field, (uint32_t)(w->b->len - w->field - 4));
    w->count++;
}

/* ---- types ------------------------------------------------------------------------------------ */

/* CHAR/CHARACTER map to bpchar (1042) as in PostgreSQL; we do not blank-pad, so clients see the
 * stored text. INTEGER is int8 because SQLite integers are 64-bit; INT stays int4 (pgbench). */
/* With its length: a result's columns are looked up on every cache fill, so most names are skipped
 * by length before any compare. */
#define DT(name, oid) { name, sizeof name - 1, oid }
static const struct { const char *name; size_t len; uint32_t oid; } DECLTYPES[] = {
    DT("INTEGER", 20), DT("INT8", 20), DT("BIGINT", 20),
    DT("INT", 23), DT("INT4", 23),
    DT("SMALLINT", 21), DT("INT2", 21),
    DT("REAL", 701), DT("FLOAT", 701), DT("DOUBLE", 701), DT("DOUBLE PRECISION", 701), DT("FLOAT8", 701),
    DT("FLOAT4", 700),
    DT("NUMERIC", 1700), DT("DECIMAL", 1700),
    DT("BOOL", 16), DT("BOOLEAN", 16),
    DT("BLOB", 17), DT("BYTEA", 17),
    DT("DATE", 1082), DT("TIME", 1083),
    DT("DATETIME", 1114), DT("TIMESTAMP", 1114), DT("TIMESTAMP WITHOUT TIME ZONE", 1114),
    DT("TIMESTAMPTZ", 1184), DT("TIMESTAMP WITH TIME ZONE", 1184),
    DT("JSON", 114), DT("JSONB", 3802),
    DT("TEXT", 25),
    DT("VARCHAR", 1043), DT("CHARACTER VARYING", 1043),
    DT("CHAR", 1042), DT("CHARACTER", 1042), DT("BPCHAR", 1042),
    DT("UUID", 2950),
};
#undef DT

uint32_t pgwire_oid_from_decltype(const char *decltype)
{
    if (!decltype)
        return 0;
    /* Upper-case the words before any "(size)", one space between words. */
    char norm[48];
    size_t n = 0;
    for (const char *p = decltype; *p && *p != '('; p++) {
        if (*p == '[')
            return 0;   /* arrays: no array support, let the values decide */
        char ch = *p;
        if (ch == ' ' || (ch >= '\t' && ch <= '\r')) { /* isspace in the C locale, inline */
            if (n > 0 && norm[n - 1] != ' ' && n < sizeof norm - 1)
                norm[n++] = ' ';
            continue;
        }
        if (n >= sizeof norm - 1)
            return 0;
        norm[n++] = ch >= 'a' && ch <= 'z' ? (char)(ch - 32) : ch;
    }
    while (n > 0 && norm[n - 1] == ' ')
        n--;
    norm[n] = '\0';
    for (size_t i = 0; i < sizeof DECLTYPES / sizeof *DECLTYPES; i++)
        if (DECLTYPES[i].len == n && !memcmp(norm, DECLTYPES[i].name, n))
            return DECLTYPES[i].oid;
    return 0;
}

uint32_t pgwire_oid_from_sqlite_type(int sqlite_type)
{
    switch (sqlite_type) {
    case 1:  return PGWIRE_INT8;
    case 2:  return PGWIRE_FLOAT8;
    case 4:  return PGWIRE_BYTEA;
    default: return PGWIRE_TEXT;   /* text, and NULL: an all-NULL column reads fine as text */
    }
}

int16_t pgwire_type_len(uint32_t oid)
{
    switch (oid) {
    case PGWIRE_BOOL:   return 1;
    case PGWIRE_INT2:   return 2;
    case PGWIRE_INT4: case PGWIRE_OID: case PGWIRE_FLOAT4: case PGWIRE_DATE: return 4;
    case PGWIRE_INT8: case PGWIRE_FLOAT8: case PGWIRE_TIME: case PGWIRE_TIMESTAMP:
    case PGWIRE_TIMESTAMPTZ: return 8;
    case PGWIRE_UUID:   return 16;
    case PGWIRE_NAME:   return 64;
    default:            return -1;
    }
}

/* ---- CommandComplete tags -------------------------------------------------------------------- */

/* Significant token k upper-cased into w ("" when it is not a word). */
static void upper_word(const pglex *lx, long k, char *w, size_t wl)
{
    const pglex_tok *t = pglex_sig(lx, k);
    size_t n = 0;
    if (t && t->kind == PGLEX_IDENT)
        for (; n < t->len && n + 1 < wl; n++)
            w[n] = (char)toupper((unsigned char)lx->s[t->off + n]);
    w[n] = '\0';
}

/* The token after WITH's common table expressions: name [(cols)] AS [NOT] [MATERIALIZED] (...), ... */
static long after_with(const pglex *lx, long k)
{
    k += pglex_kw(lx, k, "recursive");
    while (pglex_name_chain(lx, k) >= 0) {
        k = pglex_name_chain(lx, k) + 1;
        if (pglex_is(lx, k, PGLEX_LPAREN))
            k = pglex_skip_group(lx, k) + 1;
        if (k <= 0 || !pglex_kw(lx, k, "as"))
            return -1;
        k++;
        k += pglex_kw(lx, k, "not");
        k += pglex_kw(lx, k, "materialized");
        if (!pglex_is(lx, k, PGLEX_LPAREN) || (k = pglex_skip_group(lx, k)) < 0)
            return -1;
        if (!pglex_is(lx, ++k, PGLEX_COMMA))
            return k;
        k++;
    }
    return -1;
}

const char *pgwire_command_tag(const char *sql, int64_t rows, int64_t changes, char *out, size_t outlen)
{
    static const char *const mods[] = { "or", "replace", "temp", "temporary", "unlogged", "global", "local",
                                        "unique", "trusted", "procedural", "default", NULL };
    char w[32] = "", w2[32] = "", w3[32] = "";
    pglex lx;
    long k = 0;
    snprintf(out, outlen, "%s", "");
    if (pglex_run(&lx, sql, strlen(sql)) < 0)
        return out;
    while (pglex_is(&lx, k, PGLEX_LPAREN))
        k++;
    if (pglex_kw(&lx, k, "with"))
        k = after_with(&lx, k + 1);
    upper_word(&lx, k, w, sizeof w);
    upper_word(&lx, k + 1, w2, sizeof w2);
    long long r = rows, c = changes;
    if (!strcmp(w, "SELECT") || !strcmp(w, "VALUES") || !strcmp(w, "TABLE")) {
        snprintf(out, outlen, "SELECT %lld", r);
    } else if (!strcmp(w, "INSERT")) {
        snprintf(out, outlen, "INSERT 0 %lld", c);   /* the 0 was an OID, always 0 since PostgreSQL 12 */
    } else if (!strcmp(w, "UPDATE") || !strcmp(w, "DELETE") || !strcmp(w, "MERGE")) {
        snprintf(out, outlen, "%s %lld", w, c);
    } else if (!strcmp(w, "COPY") || !strcmp(w, "FETCH") || !strcmp(w, "MOVE")) {
        snprintf(out, outlen, "%s %lld", w, r);
    } else if (!strcmp(w, "START") || !strcmp(w, "END") || !strcmp(w, "ABORT") || !strcmp(w, "TRUNCATE") ||
               !strcmp(w, "LOCK") || !strcmp(w, "ANALYSE")) {
        static const char *const from[] = { "START", "END", "ABORT", "TRUNCATE", "LOCK", "ANALYSE" };
        static const char *const to[] = { "START TRANSACTION", "COMMIT", "ROLLBACK", "TRUNCATE TABLE", "LOCK TABLE", "ANALYZE" };
        for (int i = 0; i < 6; i++)
            if (!strcmp(w, from[i]))
                snprintf(out, outlen, "%s", to[i]);
    } else if (!strcmp(w, "DEALLOCATE")) {
        upper_word(&lx, k + 1 + pglex_kw(&lx, k + 1, "prepare"), w2, sizeof w2);
        snprintf(out, outlen, !strcmp(w2, "ALL") ? "DEALLOCATE ALL" : "DEALLOCATE");
    } else if (!strcmp(w, "DISCARD") || (!strcmp(w, "PREPARE") && !strcmp(w2, "TRANSACTION"))) {
        snprintf(out, outlen, "%s %s", w, w2);
    } else if (!strcmp(w, "CREATE") || !strcmp(w, "DROP") || !strcmp(w, "ALTER")) {
        long j = k + 1;
        while (pglex_kw_in(&lx, j, mods))
            j++;
        upper_word(&lx, j, w2, sizeof w2);
        upper_word(&lx, j + 1, w3, sizeof w3);
        if (!strcmp(w2, "MATERIALIZED") || !strcmp(w2, "FOREIGN") || !strcmp(w2, "EVENT") ||
            !strcmp(w2, "TEXT") || !strcmp(w2, "ACCESS")) {
            snprintf(out, outlen, "%s %s %s", w, w2, w3);
        } else if (!strcmp(w, "CREATE") && !strcmp(w2, "TABLE")) {
            /* CREATE TABLE name AS ... reports the rows it wrote, as PostgreSQL does */
            j++;
            if (pglex_kw(&lx, j, "if") && pglex_kw(&lx, j + 1, "not") && pglex_kw(&lx, j + 2, "exists"))
                j += 3;
            j = pglex_name_chain(&lx, j);
            if (j >= 0 && pglex_kw(&lx, j + 1, "as"))
                snprintf(out, outlen, "SELECT %lld", r);
            else
                snprintf(out, outlen, "CREATE TABLE");
        } else {
            snprintf(out, outlen, "%s %s", w, w2);
        }
    } else {
        snprintf(out, outlen, "%s", w);   /* BEGIN, COMMIT, ROLLBACK, SET, SHOW, VACUUM, ... */
    }
    pglex_free(&lx);
    return out;
}
