/* pgguc.c - PostgreSQL session parameters: what SHOW reports, SET and RESET change, and ParameterStatus announces; pure. */
#include "pgguc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "pgwire.h"

/* The parameters litecached knows. report: sent as ParameterStatus at start-up and when they
 * change (PostgreSQL's GUC_REPORT set); fixed: SET cannot change what the server really does, so
 * only values that mean the same are accepted. */
enum { G_PLAIN = 0, G_REPORT = 1, G_FIXED = 2 };
static const struct param {
    const char *name;   /* as SHOW titles it */
    const char *def;    /* NULL: from pgguc_init */
    int         flags;
    const char *desc;
} PARAMS[] = {
    {"application_name", NULL, G_REPORT, "Sets the application name to be reported in statistics and logs."},
    {"client_encoding", "UTF8", G_REPORT | G_FIXED, "Sets the client's character set encoding."},
    {"DateStyle", "ISO, MDY", G_REPORT, "Sets the display format for date and time values."},
    {"default_transaction_isolation", "serializable", G_PLAIN, "Sets the transaction isolation level of each new transaction."},
    {"default_transaction_read_only", "off", G_REPORT, "Sets the default read-only status of new transactions."},
    {"extra_float_digits", "1", G_PLAIN, "Sets the number of digits displayed for floating-point values."},
    {"in_hot_standby", "off", G_REPORT, "Shows whether hot standby is currently active."},
    {"integer_datetimes", "on", G_REPORT | G_FIXED, "Shows whether datetimes are integer based."},
    {"IntervalStyle", "postgres", G_REPORT, "Sets the display format for interval values."},
    {"is_superuser", NULL, G_REPORT | G_FIXED, "Shows whether the current user is a superuser."},
    {"lc_messages", "C", G_PLAIN, "Sets the language in which messages are displayed."},
    {"max_connections", NULL, G_FIXED, "Sets the maximum number of concurrent connections."},
    {"max_identifier_length", "63", G_FIXED, "Shows the maximum identifier length."},
    {"search_path", "\"$user\", public", G_PLAIN, "Sets the schema search order for names that are not schema-qualified."},
    {"server_encoding", "UTF8", G_REPORT | G_FIXED, "Shows the server (database) character set encoding."},
    {"server_version", "15.0", G_REPORT | G_FIXED, "Shows the server version."},
    {"server_version_num", "150000", G_FIXED, "Shows the server version as an integer."},
    {"session_authorization", NULL, G_REPORT | G_FIXED, "Sets the session user name."},
    {"standard_conforming_strings", "on", G_REPORT | G_FIXED, "Causes '...' strings to treat backslashes literally."},
    {"statement_timeout", "0", G_PLAIN, "Sets the maximum allowed duration of any statement."},
    {"TimeZone", "UTC", G_REPORT, "Sets the time zone for displaying and interpreting time stamps."},
    {"transaction_isolation", "serializable", G_PLAIN, "Sets the current transaction's isolation level."},
    {"transaction_read_only", "off", G_PLAIN, "Sets the current transaction's read-only status."},
};
#define NPARAMS (sizeof PARAMS / sizeof PARAMS[0])

struct pgguc {
    char *value[NPARAMS];  /* the current value of each known parameter */
    char *initial[NPARAMS];
    /* parameters we do not know, set by the client: kept so SHOW gives back what SET said */
    char **xname, **xvalue;
    int    nx;
};

static int find(const char *name)
{
    for (size_t i = 0; i < NPARAMS; i++)
        if (!strcasecmp(PARAMS[i].name, name))
            return (int)i;
    return -1;
}

static void set_str(char **slot, const char *v)
{
    char *c = strdup(v ? v : "");
    if (!c)
        return; /* out of memory: the old value stays */
    free(*slot);
    *slot = c;
}

pgguc *pgguc_new(const pgguc_init *in)
{
    pgguc *g = calloc(1, sizeof *g);
    if (!g)
        return NULL;
    char num[16];
    snprintf(num, sizeof num, "%d", in->max_connections);
    for (size_t i = 0; i < NPARAMS; i++) {
        const char *v = PARAMS[i].def;
        if (!strcmp(PARAMS[i].name, "application_name"))
            v = in->application_name ? in->application_name : "";
        else if (!strcmp(PARAMS[i].name, "is_superuser"))
            v = in->superuser ? "on" : "off";
        else if (!strcmp(PARAMS[i].name, "session_authorization"))
            v = in->user ? in->user : "";
        else if (!strcmp(PARAMS[i].name, "max_connections"))
            v = num;
        g->initial[i] = strdup(v);
        g->value[i] = strdup(v);
        if (!g->initial[i] || !g->value[i]) {
            pgguc_free(g);
            return NULL;
        }
    }
    return g;
}

void pgguc_free(pgguc *g)
{
    if (!g)
        return;
    for (size_t i = 0; i < NPARAMS; i++) {
        free(g->value[i]);
        free(g->initial[i]);
    }
    for (int i = 0; i < g->nx; i++) {
        free(g->xname[i]);
        free(g->xvalue[i]);
    }
    free(g->xname);
    free(g->xvalue);
    free(g);
}

void pgguc_put_startup(const pgguc *g, buf *out)
{
    for (size_t i = 0; i < NPARAMS; i++)
        if (PARAMS[i].flags & G_REPORT)
            pgwire_parameter_status(out, PARAMS[i].name, g->value[i]);
}

/* A value that means what the fixed parameter already is (e.g. client_encoding 'utf-8'). */
static int same_fixed(const char *name, const char *cur, const char *v)
{
    if (!strcasecmp(name, "client_encoding"))
        return !strcasecmp(v, "UTF8") || !strcasecmp(v, "UTF-8") || !strcasecmp(v, "unicode");
    return !strcasecmp(cur, v);
}

int pgguc_set(pgguc *g, const char *name, const char *value, buf *out, const char **state, char *msg, size_t msglen)
{
    int i = find(name);
    if (i < 0) {
        for (int k = 0; k < g->nx; k++)
            if (!strcasecmp(g->xname[k], name)) {
                set_str(&g->xvalue[k], value);
                return 0;
            }
        char **n = realloc(g->xname, sizeof *n * (size_t)(g->nx + 1));
        if (n)
            g->xname = n;
        char **v = realloc(g->xvalue, sizeof *v * (size_t)(g->nx + 1));
        if (v)
            g->xvalue = v;
        if (!n || !v || !(g->xname[g->nx] = strdup(name)))
            goto oom;
        if (!(g->xvalue[g->nx] = strdup(value))) {
            free(g->xname[g->nx]);
            goto oom;
        }
        g->nx++;
        return 0;
    }
    if ((PARAMS[i].flags & G_FIXED) && !same_fixed(PARAMS[i].name, g->value[i], value)) {
        *state = "0A000";
        snprintf(msg, msglen, "litecached cannot change %s (it is %s)", PARAMS[i].name, g->value[i]);
        return -1;
    }
    if (!(PARAMS[i].flags & G_FIXED))
        set_str(&g->value[i], value);
    if (PARAMS[i].flags & G_REPORT)
        pgwire_parameter_status(out, PARAMS[i].name, g->value[i]);
    return 0;
oom:
    *state = "53200";
    snprintf(msg, msglen, "out of memory");
    return -1;
}

void pgguc_reset(pgguc *g, const char *name, buf *out)
{
    int all = !strcasecmp(name, "all");
    for (size_t i = 0; i < NPARAMS; i++) {
        if ((!all && strcasecmp(PARAMS[i].name, name)) || !strcmp(g->value[i], g->initial[i]))
            continue;
        set_str(&g->value[i], g->initial[i]);
        if (PARAMS[i].flags & G_REPORT)
            pgwire_parameter_status(out, PARAMS[i].name, g->value[i]);
    }
    for (int k = 0; k < g->nx; k++)
        if (all || !strcasecmp(g->xname[k], name)) {
            free(g->xname[k]);
            free(g->xvalue[k]);
            g->xname[k] = g->xname[g->nx - 1];
            g->xvalue[k] = g->xvalue[g->nx - 1];
            g->nx--;
            k--;
        }
}

const char *pgguc_get(const pgguc *g, const char *name)
{
    int i = find(name);
    if (i >= 0)
        return g->value[i];
    for (int k = 0; k < g->nx; k++)
        if (!strcasecmp(g->xname[k], name))
            return g->xvalue[k];
    return NULL;
}

static void put_row(buf *out, const char *const *vals, int n)
{
    pgwire_builder w;
    pgwire_datarow_begin(&w, out);
    for (int i = 0; i < n; i++)
        pgwire_datarow_bytes(&w, vals[i], strlen(vals[i]));
    pgwire_datarow_end(&w);
}

int pgguc_show(const pgguc *g, const char *name, buf *out)
{
    pgwire_builder w;
    if (!strcasecmp(name, "all")) {
        pgwire_rowdesc_begin(&w, out);
        pgwire_rowdesc_add(&w, "name", PGWIRE_TEXT, 0);
        pgwire_rowdesc_add(&w, "setting", PGWIRE_TEXT, 0);
        pgwire_rowdesc_add(&w, "description", PGWIRE_TEXT, 0);
        pgwire_rowdesc_end(&w);
        for (size_t i = 0; i < NPARAMS; i++) {
            const char *v[3] = {PARAMS[i].name, g->value[i], PARAMS[i].desc};
            put_row(out, v, 3);
        }
        for (int k = 0; k < g->nx; k++) {
            const char *v[3] = {g->xname[k], g->xvalue[k], ""};
            put_row(out, v, 3);
        }
        pgwire_command_complete(out, "SHOW");
        return 0;
    }
    int i = find(name);
    const char *title = i >= 0 ? PARAMS[i].name : name, *val = pgguc_get(g, name);
    if (!val) {
        char msg[200];
        snprintf(msg, sizeof msg, "unrecognized configuration parameter \"%.120s\"", name);
        pgwire_error_simple(out, "42704", msg);
        return -1;
    }
    pgwire_rowdesc_begin(&w, out);
    pgwire_rowdesc_add(&w, title, PGWIRE_TEXT, 0);
    pgwire_rowdesc_end(&w);
    put_row(out, &val, 1);
    pgwire_command_complete(out, "SHOW");
    return 0;
}
