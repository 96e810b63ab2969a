/* pgwire.h - the PostgreSQL v3 wire protocol codec: framing, frontend message parsing, backend message encoding, type OIDs, CommandComplete tags; never touches a socket. */
#ifndef LC_PGWIRE_H
#define LC_PGWIRE_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"

/* ---- framing -------------------------------------------------------------------------- */

#define PGWIRE_HARD_MAX       ((size_t)1 << 30)  /* PostgreSQL's own limit (MaxAllocSize) */
#define PGWIRE_STARTUP_MAX    10000              /* MAX_STARTUP_PACKET_LENGTH */
#define PGWIRE_SSL_REQUEST    80877103
#define PGWIRE_GSSENC_REQUEST 80877104
#define PGWIRE_CANCEL_REQUEST 80877102
#define PGWIRE_PROTOCOL_3     196608             /* 3 << 16 | 0 */

typedef enum {
    PGWIRE_NEED_MORE = 0,        /* no complete message yet: read more */
    PGWIRE_MSG = 1,              /* a complete message, described in the pgwire_msg */
    PGWIRE_ERR_SHORT_LEN = -1,   /* length field below its minimum (4, or 8 for startup) */
    PGWIRE_ERR_TOO_LONG = -2,    /* length field above the configured cap */
    PGWIRE_ERR_STARTUP_LEN = -3, /* startup packet longer than PGWIRE_STARTUP_MAX */
} pgwire_frame_status;

/* One framed message; body points into the caller's input (zero copy). */
typedef struct pgwire_frame {
    char        type;     /* message type byte; 0 for a startup-phase packet */
    uint32_t    code;     /* startup phase: the request code / protocol version; else 0 */
    const char *body;     /* after the header (type, length and, for startup packets, the code) */
    size_t      body_len;
    size_t      total;    /* bytes the whole message occupies: consume this many */
} pgwire_msg;

/* Frame a startup-phase packet (no type byte) at the front of p[0..n). */
int pgwire_frame_startup(const char *p, size_t n, pgwire_msg *f);
/* Frame a normal message. max_len caps the length field (clamped to PGWIRE_HARD_MAX). An error
 * is fatal for the connection: the stream can no longer be trusted, send 08P01 and close. */
int pgwire_frame(const char *p, size_t n, size_t max_len, pgwire_msg *f);
/* Text for a negative pgwire_frame_status, for the ErrorResponse. */
const char *pgwire_frame_strerror(int status);

/* ---- frontend messages (all point into the message body; strings are NUL-terminated there) -- */

typedef struct pgwire_kv { const char *key, *value; } pgwire_kv;

#define PGWIRE_MAX_STARTUP_PARAMS 64
typedef struct pgwire_startup {
    uint16_t    major, minor;   /* 3.0, or 3.x with x > 0: answer NegotiateProtocolVersion */
    const char *user;           /* NULL when absent: reply 28000 "no PostgreSQL user name specified" */
    const char *database;       /* defaults to user, as in PostgreSQL */
    const char *application_name, *options, *client_encoding; /* NULL when absent */
    int         nparams;        /* every pair, including the above, in order */
    pgwire_kv   params[PGWIRE_MAX_STARTUP_PARAMS];
} pgwire_startup;

typedef struct pgwire_cancel { int32_t pid, key; } pgwire_cancel;

typedef struct pgwire_parse {
    const char *name;           /* "" = unnamed statement */
    const char *query;
    size_t      query_len;
    int         nparam_types;
    const char *param_types;    /* nparam_types big-endian int32 OIDs: use pgwire_parse_param_type */
} pgwire_parse;

typedef struct pgwire_bind {
    const char *portal, *statement;
    int         nparam_formats;   /* 0 (all text), 1 (applies to all) or nparams */
    const char *param_formats;
    int         nparams;
    const char *params;           /* nparams of (int32 length, -1 = NULL; bytes): pgwire_bind_params */
    int         nresult_formats;  /* 0, 1 or the column count (checked by the caller, who knows it) */
    const char *result_formats;
} pgwire_bind;

/* One Bind parameter. */
typedef struct pgwire_param {
    const char *p;
    int32_t     len;     /* -1: NULL */
    int16_t     format;  /* 0 text, 1 binary */
} pgwire_param;

/* Describe and Close: kind 'S' (statement) or 'P' (portal). */
typedef struct pgwire_target { char kind; const char *name; } pgwire_target;
typedef struct pgwire_execute { const char *portal; int32_t max_rows; /* <= 0: all */ } pgwire_execute;
typedef struct pgwire_sasl_initial {
    const char *mechanism;
    const char *data;    /* NULL when the client sent length -1 */
    size_t      len;
} pgwire_sasl_initial;

/* Each parser takes the body of a framed message and returns 0, or -1 with a message for an
 * ErrorResponse 08P01 in err. Nothing outside body[0..len) is ever read. Protocol versions other
 * than 3.x are refused by pgwire_parse_startup with PostgreSQL's own message. */
int pgwire_parse_startup(const char *body, size_t len, uint32_t code, pgwire_startup *m, char *err, size_t errlen);
int pgwire_parse_cancel(const char *body, size_t len, pgwire_cancel *m, char *err, size_t errlen);
int pgwire_parse_query(const char *body, size_t len, const char **sql, size_t *sql_len, char *err, size_t errlen);
int pgwire_parse_parse(const char *body, size_t len, pgwire_parse *m, char *err, size_t errlen);
int pgwire_parse_bind(const char *body, size_t len, pgwire_bind *m, char *err, size_t errlen);
int pgwire_parse_describe(const char *body, size_t len, pgwire_target *m, char *err, size_t errlen);
int pgwire_parse_close(const char *body, size_t len, pgwire_target *m, char *err, size_t errlen);
int pgwire_parse_execute(const char *body, size_t len, pgwire_execute *m, char *err, size_t errlen);
/* Sync, Flush, Terminate, CopyDone: the body must be empty. */
int pgwire_parse_empty(const char *body, size_t len, char *err, size_t errlen);
/* CopyData is the body itself; CopyFail carries one string. */
int pgwire_parse_copy_fail(const char *body, size_t len, const char **msg, char *err, size_t errlen);
/* 'p' messages: which one is meant depends on what the session asked for. */
int pgwire_parse_password(const char *body, size_t len, const char **password, char *err, size_t errlen);
int pgwire_parse_sasl_initial(const char *body, size_t len, pgwire_sasl_initial *m, char *err, size_t errlen);
/* SASLResponse: the whole body is the data. */
int pgwire_parse_sasl_response(const char *body, size_t len, const char **data, size_t *dlen, char *err, size_t errlen);

uint32_t pgwire_parse_param_type(const pgwire_parse *m, int i);
/* Format of parameter i (0 <= i < nparams) after the 0/1/n rule. */
int16_t pgwire_bind_param_format(const pgwire_bind *m, int i);
/* Format of result column i after the 0/1/n rule. */
int16_t pgwire_bind_result_format(const pgwire_bind *m, int i);
/* Fill out[0..min(nparams, max)); parse already validated every length. */
void pgwire_bind_params(const pgwire_bind *m, pgwire_param *out, int max);

/* ---- backend messages (appended to b) --------------------------------------------------- */

void pgwire_auth_ok(buf *b);
void pgwire_auth_cleartext(buf *b);
/* AuthenticationSASL listing the mechanisms (NULL-terminated array). */
void pgwire_auth_sasl(buf *b, const char *const *mechanisms);
void pgwire_auth_sasl_continue(buf *b, const void *data, size_t n);
void pgwire_auth_sasl_final(buf *b, const void *data, size_t n);
void pgwire_parameter_status(buf *b, const char *name, const char *value);
void pgwire_backend_key(buf *b, int32_t pid, int32_t key);
/* status: 'I' idle, 'T' in a transaction, 'E' in a failed transaction. */
void pgwire_ready(buf *b, char status);
void pgwire_command_complete(buf *b, const char *tag);
void pgwire_empty_query(buf *b);
void pgwire_parse_complete(buf *b);
void pgwire_bind_complete(buf *b);
void pgwire_close_complete(buf *b);
void pgwire_no_data(buf *b);
void pgwire_portal_suspended(buf *b);
void pgwire_parameter_description(buf *b, const uint32_t *oids, int n);
/* CopyInResponse, text format, ncols columns. */
void pgwire_copy_in_response(buf *b, int ncols);
/* NegotiateProtocolVersion: the newest minor version we speak and the options we ignored. */
void pgwire_negotiate_version(buf *b, int minor, const char *const *unknown, int n);
/* The single-byte answer to SSLRequest and GSSENCRequest: 'N', no encryption. */
void pgwire_refuse_encryption(buf *b);

typedef struct pgwire_error_fields {
    const char *severity;   /* ERROR, FATAL, PANIC, WARNING, NOTICE, ... (both S and V) */
    const char *sqlstate;   /* five characters */
    const char *message;
    const char *detail;     /* optional (NULL) */
    const char *hint;       /* optional */
    int         position;   /* 1-based character position in the query; 0: none */
} pgwire_error_fields;

void pgwire_error(buf *b, const pgwire_error_fields *e);
void pgwire_notice(buf *b, const pgwire_error_fields *e);
/* ErrorResponse with just severity "ERROR", a SQLSTATE and a message. */
void pgwire_error_simple(buf *b, const char *sqlstate, const char *message);

/* Builder for RowDescription and DataRow, whose field count comes first but is known only at the
 * end: the count and length are patched in pgwire_*_end. Plain state the caller keeps on its stack. */
typedef struct pgwire_builder {
    buf     *b;
    size_t   start;
    size_t   field;   /* DataRow: start of the open field's length, for the value encoders */
    uint32_t count;
} pgwire_builder;

void pgwire_rowdesc_begin(pgwire_builder *w, buf *b);
/* One column: table oid 0, attnum 0, typlen from the type, typmod -1. format 0 text, 1 binary. */
void pgwire_rowdesc_add(pgwire_builder *w, const char *name, uint32_t type_oid, int16_t format);
/* Returns -1 (nothing appended) when there are more than 65535 fields; 0 otherwise. */
int  pgwire_rowdesc_end(pgwire_builder *w);

void pgwire_datarow_begin(pgwire_builder *w, buf *b);
void pgwire_datarow_null(pgwire_builder *w);
/* A field's bytes as they go on the wire (text or binary alike). */
void pgwire_datarow_bytes(pgwire_builder *w, const void *p, size_t n);
/* Or stream a field: begin, append its bytes to w->b directly, end (which patches its length). */
void pgwire_datarow_field_begin(pgwire_builder *w);
void pgwire_datarow_field_end(pgwire_builder *w);
/* Returns -1 (nothing appended) when there are more than 65535 fields; 0 otherwise. */
int  pgwire_datarow_end(pgwire_builder *w);

/* ---- types (value conversions live in pgval.h) ------------------------------------------- */

/* Type OIDs (pg_type.h). */
enum {
    PGWIRE_BOOL = 16, PGWIRE_BYTEA = 17, PGWIRE_NAME = 19, PGWIRE_INT8 = 20, PGWIRE_INT2 = 21,
    PGWIRE_INT4 = 23, PGWIRE_TEXT = 25, PGWIRE_OID = 26, PGWIRE_JSON = 114, PGWIRE_FLOAT4 = 700,
    PGWIRE_FLOAT8 = 701, PGWIRE_UNKNOWN = 705, PGWIRE_BPCHAR = 1042, PGWIRE_VARCHAR = 1043,
    PGWIRE_DATE = 1082, PGWIRE_TIME = 1083, PGWIRE_TIMESTAMP = 1114, PGWIRE_TIMESTAMPTZ = 1184,
    PGWIRE_NUMERIC = 1700, PGWIRE_UUID = 2950, PGWIRE_JSONB = 3802,
};

/* Declared column type -> OID per the table in pgwire.c; 0 means "decide from the first value". */
uint32_t pgwire_oid_from_decltype(const char *decltype);
/* SQLite storage class (SQLITE_INTEGER..SQLITE_NULL) -> OID: integer 20, real 701, text 25,
 * blob 17, null 25. */
uint32_t pgwire_oid_from_sqlite_type(int sqlite_type);
/* pg_type.typlen for RowDescription: 1, 2, 4, 8, 16 or -1 (variable). */
int16_t pgwire_type_len(uint32_t oid);

/* ---- CommandComplete tags -------------------------------------------------------------------- */

/* PostgreSQL's tag for a statement (original SQL text) given the rows it returned and the rows it
 * changed: "SELECT 5", "INSERT 0 1", "UPDATE 3", "CREATE TABLE", ... Written into out (64 bytes
 * are always enough); returns out. */
const char *pgwire_command_tag(const char *sql, int64_t rows, int64_t changes, char *out, size_t outlen);

#endif
