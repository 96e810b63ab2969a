/* sqlnorm.h - cache keys from SQL text: normalization that never merges two different statements, and comment hints. */
#ifndef LC_SQLNORM_H
#define LC_SQLNORM_H

#include <stddef.h>

#include "buf.h"
#include "lineproto.h"

// Comment hints, written `/*+ ttl=300 */` or `/*+ nocache */` anywhere outside quotes.
typedef struct sqlnorm_hints {
    int ttl;      /* -1 when not given */
    int nocache;
} sqlnorm_hints;

/* Append to out a normalized form of sql[0..len): comments removed (hints are read into *hints),
 * whitespace runs collapsed and dropped next to ( ) , ; =, ASCII letters outside quotes lowercased,
 * a trailing ; dropped; string literals, quoted identifiers and blob literals kept byte for byte.
 * Two texts map to the same form only if SQLite would read them as the same statement. */
void sqlnorm_key(const char *sql, size_t len, buf *out, sqlnorm_hints *hints);

/* Append the parameter values to a key: each typed and length-prefixed, so no two lists collide. */
void sqlnorm_key_args(buf *out, const lp_arg *args, int nargs);

#endif
