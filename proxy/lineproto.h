/* lineproto.h - the line protocol's codec: request framing, CALL argument parsing and reply encoding; never touches a socket. */
#ifndef LC_LINEPROTO_H
#define LC_LINEPROTO_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"

/* ---- framing ------------------------------------------------------------ */

/* Resumable line framer. It remembers how far it has scanned, so feeding it the same growing
 * buffer again costs only the new bytes, and whether it is discarding an overlong line. */
typedef struct lp_framer {
    size_t max_line;   /* longest accepted line, excluding the "\n" / "\r\n" */
    size_t scanned;    /* bytes of the current buffer already searched for '\n' */
    int    discarding; /* inside a line that was already reported too long */
} lp_framer;

typedef enum {
    LP_NEED_MORE = 0, /* no complete line yet: read more, call again with the grown buffer */
    LP_LINE,          /* a line is buf[0 .. *line_len) without its "\n" or "\r\n" */
    LP_TOO_LONG,      /* the current line passed max_line: reply 54000 once; its rest is discarded */
} lp_frame_result;

void lp_framer_init(lp_framer *f, size_t max_line);

/* Look at buf[0..len) (the unconsumed input, oldest byte first). Always sets *consumed: the bytes
 * the caller must drop from the front before the next call (for LP_LINE the line and its
 * terminator; while discarding, whatever was discarded; for LP_NEED_MORE usually 0). */
lp_frame_result lp_frame(lp_framer *f, const char *buf, size_t len, size_t *line_len, size_t *consumed);

/* ---- CALL arguments ----------------------------------------------------- */

/* LP_ARG_BLOB never comes from a line (PostgreSQL bytea parameters): bytes in s/len, bound as a blob. */
typedef enum { LP_ARG_NULL, LP_ARG_INT, LP_ARG_REAL, LP_ARG_TEXT, LP_ARG_BLOB } lp_arg_type;

typedef struct lp_arg {
    lp_arg_type type;
    int64_t     i;    /* LP_ARG_INT (true = 1, false = 0) */
    double      d;    /* LP_ARG_REAL */
    const char *s;    /* LP_ARG_TEXT, LP_ARG_BLOB: not NUL-terminated; points into the input or the scratch */
    size_t      len;
} lp_arg;

/* Split s[0..len) on spaces/tabs into arguments: JSON values ("text" with escapes decoded, 42, 1.5,
 * true, false, null; an object or array becomes its JSON text, verbatim) or bare words (text).
 * Decoded strings go into scratch, which must hold at least len bytes. Returns the number of
 * arguments, or -1 with a message in err (bad JSON), or LP_ARGS_TOO_MANY (more than max_args;
 * err says so too). s[0..len) holds at most (len + 1) / 2 arguments, so that many slots always do. */
#define LP_ARGS_TOO_MANY (-2)
int lp_parse_args(const char *s, size_t len, lp_arg *args, int max_args,
                  char *scratch, char *err, size_t errlen);

/* ---- reply encoding ------------------------------------------------------ */

typedef enum { LP_FMT_TSV = 0, LP_FMT_JSON = 1 } lp_format;

typedef enum { LP_VAL_NULL, LP_VAL_INT, LP_VAL_REAL, LP_VAL_TEXT, LP_VAL_BLOB } lp_val_type;

/* One value of a row. For INT and REAL, p/n hold SQLite's own text form of the number. */
typedef struct lp_value {
    lp_val_type type;
    const char *p;
    size_t      n;
} lp_value;

/* "#name1\tname2\n" (TSV, names escaped) or "#[\"name1\",\"name2\"]\n" (JSON). */
void lp_put_header(buf *b, lp_format fmt, const char *const *names, const size_t *lens, int ncols);
/* "=v1\tv2\n" or "=[v1,v2]\n": TSV escapes \\ \t \n \r, NULL is \N, a blob is \x + lowercase hex;
 * JSON types integers and reals as numbers (non-finite reals as null), NULL as null, blobs as "\\x…". */
void lp_put_row(buf *b, lp_format fmt, const lp_value *vals, int ncols);
/* Append text escaped for TSV (\\ \t \n \r). */
void lp_put_tsv_escaped(buf *b, const char *s, size_t n);
/* Append a JSON string literal, quotes included; invalid UTF-8 bytes become U+FFFD. */
void lp_put_json_string(buf *b, const char *s, size_t n);
/* "-ERR <sqlstate> <message>\n", the message flattened to one line. */
void lp_put_error(buf *b, const char *sqlstate, const char *msg);

#endif
