/* pgguc.h - PostgreSQL session parameters: what SHOW reports, SET and RESET change, and ParameterStatus announces; pure. */
#ifndef LC_PGGUC_H
#define LC_PGGUC_H

#include "buf.h"

typedef struct pgguc pgguc;

/* The values a session starts with that are not constants. */
typedef struct pgguc_init {
    const char *user;             /* session_authorization */
    const char *application_name; /* from the startup packet; NULL = "" */
    int         superuser;        /* is_superuser */
    int         max_connections;
} pgguc_init;

pgguc *pgguc_new(const pgguc_init *init);
void   pgguc_free(pgguc *g);
/* Every ParameterStatus a client gets after authentication. */
void   pgguc_put_startup(const pgguc *g, buf *out);
/* SET name = value (name lower-case). Reported parameters get a ParameterStatus in out. Returns
 * 0, or -1 with a SQLSTATE and message for an ErrorResponse (a value litecached cannot honour). */
int    pgguc_set(pgguc *g, const char *name, const char *value, buf *out, const char **state, char *msg,
                 size_t msglen);
/* RESET name, or "all". */
void   pgguc_reset(pgguc *g, const char *name, buf *out);
/* SHOW name (or "all"): RowDescription, DataRows and CommandComplete "SHOW" into out. Returns 0,
 * or -1 with the ErrorResponse (42704, unknown parameter) in out. */
int    pgguc_show(const pgguc *g, const char *name, buf *out);
/* The current value, or NULL when unknown. */
const char *pgguc_get(const pgguc *g, const char *name);

#endif
