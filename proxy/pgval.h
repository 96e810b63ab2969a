/* pgval.h - PostgreSQL value conversions for the wire protocol: SQLite values to text/binary result fields, Bind parameters to SQLite values; pure. */
#ifndef LC_PGVAL_H
#define LC_PGVAL_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "pgwire.h"

/* A SQLite-shaped value. The type codes equal SQLite's (SQLITE_INTEGER..SQLITE_NULL), so
 * sqlite3_column_type() results can be used directly. */
typedef enum { PGVAL_INT = 1, PGVAL_FLOAT = 2, PGVAL_TEXT = 3, PGVAL_BLOB = 4, PGVAL_NULL = 5 } pgval_type;
typedef struct pgval {
    pgval_type  type;
    int64_t     i;
    double      d;
    const char *p;   /* TEXT / BLOB bytes (TEXT need not be NUL-terminated) */
    size_t      n;
} pgval;

/* Can pgval_to_binary encode this type? (A client asking binary for another type gets 0A000.) */
int pgval_binary_supported(uint32_t oid);

/* PostgreSQL's float output (extra_float_digits >= 1, the default since PostgreSQL 12: shortest
 * round-trip): "1.5", "1e+100", "1e-05", "Infinity", "-Infinity", "NaN", "-0".
 * out needs PGVAL_FLOAT_BUF bytes; returns the length. */
#define PGVAL_FLOAT_BUF 32
int pgval_format_float8(double d, char *out);
int pgval_format_float4(float f, char *out);

/* Result value -> PostgreSQL text form for the column's type, appended to out: bool t/f, bytea
 * \x + hex, floats as above, numeric never in exponent form. A NULL appends nothing. */
void pgval_to_text(buf *out, uint32_t oid, const pgval *v);
/* Result value -> binary form. Returns 0, or -1 with *sqlstate (22003 out of range, 22P02 bad
 * input, 0A000 unsupported type) and err. Nothing is appended on failure. */
int pgval_to_binary(buf *out, uint32_t oid, const pgval *v, const char **sqlstate,
                    char *err, size_t errlen);
/* A DataRow field from a value: NULL, or text / binary per format; -1 as pgval_to_binary. */
int pgval_datarow_field(pgwire_builder *w, uint32_t oid, int16_t format, const pgval *v,
                        const char **sqlstate, char *err, size_t errlen);

/* Bind parameter -> a value to bind into SQLite. Text parameters of integer, float, bool and
 * bytea types are converted as PostgreSQL's input functions would (so they bind as numbers /
 * blobs); other text stays text. Binary parameters are decoded per type (0A000 for types without
 * a binary decoder here). A decoded bytea lands in scratch: out->p is valid until scratch is next
 * appended to. Returns 0, or -1 with *sqlstate (22P02, 22003, 0A000, 08P01) and err. */
int pgval_param_decode(uint32_t oid, const pgwire_param *prm, buf *scratch, pgval *out,
                       const char **sqlstate, char *err, size_t errlen);
/* Text form of a parameter -> binary form, and back (per oid); -1 as above. */
int pgval_text_to_binary(uint32_t oid, const char *s, size_t n, buf *out, const char **sqlstate,
                         char *err, size_t errlen);
int pgval_binary_to_text(uint32_t oid, const char *p, size_t n, buf *out, const char **sqlstate,
                         char *err, size_t errlen);

/* ---- COPY FROM STDIN, text format ------------------------------------------------------------ */

typedef struct pgval_copy_field { const char *p; size_t n; int null; } pgval_copy_field;

/* Split one line (without its '\n') into fields, decoding backslash escapes in place (the line
 * shrinks; fields point into it). A field equal to null_str ("\\N" by default) before decoding is
 * NULL. Returns the field count, or -1 when there are more than max fields. "\\." alone is the
 * end-of-data marker: check for it before calling. */
int pgval_copy_text_fields(char *line, size_t len, char delim, const char *null_str,
                            pgval_copy_field *out, int max);

#endif
