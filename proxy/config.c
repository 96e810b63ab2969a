/* config.c - the settings table and all it drives: defaults, the INI file, the command line, --help and dump. */
#include "config.h"

#include <errno.h>
#include <ini.h>
#include <limits.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define KiB ((int64_t)1 << 10)
#define MiB ((int64_t)1 << 20)
#define GiB ((int64_t)1 << 30)

enum type { T_INT, T_INT64, T_SIZE, T_BOOL, T_ENUM, T_STRING };

/* T_INT64 is only a wider field: to the user it is an integer like any other. */
static const char *const type_names[] = {
    [T_INT] = "int", [T_INT64] = "int", [T_SIZE] = "size",
    [T_BOOL] = "bool", [T_ENUM] = "enum", [T_STRING] = "string",
};

struct word { const char *word; int value; };

struct setting {
    const char *name;
    enum type   type;
    size_t      offset;
    const char *def;            /* text, parsed like user input so the two can never disagree */
    int64_t     min, max;       /* numbers: the range; strings: min is the shortest length allowed */
    const struct word *words;   /* enums: the allowed words, NULL-terminated */
    bool        live;           /* may change on reload without a restart */
    const char *help;
};

enum { RESTART = false, LIVE = true };

/* The offset, and a compile error if the field's C type does not match the setting's type. */
#define FIELD(f, T) (offsetof(config, f) + 0 * sizeof(_Generic(((config *)0)->f, T: 1)))

#define S_INT(f, def, lo, hi, live, help)   { #f, T_INT,    FIELD(f, int),     def, lo, hi, NULL, live, help }
#define S_INT64(f, def, lo, hi, live, help) { #f, T_INT64,  FIELD(f, int64_t), def, lo, hi, NULL, live, help }
#define S_SIZE(f, def, lo, hi, live, help)  { #f, T_SIZE,   FIELD(f, int64_t), def, lo, hi, NULL, live, help }
#define S_BOOL(f, def, live, help)          { #f, T_BOOL,   FIELD(f, int),     def, 0, 1,   NULL, live, help }
#define S_ENUM(f, def, w, live, help)       { #f, T_ENUM,   FIELD(f, int),     def, 0, 0,   w,    live, help }
#define S_STRING(f, def, minlen, live, help) { #f, T_STRING, FIELD(f, char *), def, minlen, 0, NULL, live, help }

static const struct word synchronous_words[] = {
    { "normal", CONFIG_SYNC_NORMAL }, { "full", CONFIG_SYNC_FULL }, { NULL, 0 },
};
static const struct word temp_store_words[] = {
    { "default", CONFIG_TEMP_DEFAULT }, { "file", CONFIG_TEMP_FILE }, { "memory", CONFIG_TEMP_MEMORY }, { NULL, 0 },
};
static const struct word cache_mode_words[] = {
    { "off", CONFIG_CACHE_OFF }, { "all", CONFIG_CACHE_ALL }, { "expensive", CONFIG_CACHE_EXPENSIVE }, { NULL, 0 },
};
static const struct word cache_admission_words[] = {
    { "always", CONFIG_ADMIT_ALWAYS }, { "repeat", CONFIG_ADMIT_REPEAT }, { NULL, 0 },
};
static const struct word read_replica_words[] = {
    { "off", CONFIG_REPLICA_OFF }, { "memory", CONFIG_REPLICA_MEMORY }, { NULL, 0 },
};
static const struct word auth_words[] = {
    { "trust", CONFIG_AUTH_TRUST }, { "password", CONFIG_AUTH_PASSWORD },
    { "scram-sha-256", CONFIG_AUTH_SCRAM }, { NULL, 0 },
};
static const struct word log_level_words[] = {
    { "error", CONFIG_LOG_ERROR }, { "warn", CONFIG_LOG_WARN }, { "info", CONFIG_LOG_INFO },
    { "debug", CONFIG_LOG_DEBUG }, { NULL, 0 },
};

/* Alphabetical, so --help, config_dump and the shipped file read in the same order; the test checks it.
 * INT_MAX / INT64_MAX as a maximum means "no limit of ours" and shows as "min.." in --help. */
static const struct setting settings[] = {
    S_ENUM  (auth,               "trust", auth_words, LIVE, "how clients prove who they are: trust (nobody is asked), password or scram-sha-256"),
    S_STRING(backup_dir,         "backups", 1, LIVE, "directory where BACKUP <name> writes its copies"),
    S_STRING(bind,               "127.0.0.1", 1, RESTART, "address to listen on"),
    S_INT   (busy_timeout_ms,    "5000", 0, INT_MAX, RESTART, "milliseconds SQLite waits for a lock before giving up"),
    S_ENUM  (cache_admission,    "repeat", cache_admission_words, RESTART, "which misses a full tier 1 stores: always, or repeat (only a key missed before, so one-off reads do not evict)"),
    S_INT   (cache_demote_min_us, "100", 0, INT_MAX, RESTART, "tier 2 takes a result evicted from tier 1 (and read since it was stored) only if it took at least this many microseconds to compute; 0 = any"),
    S_SIZE  (cache_hot_bytes,    "64m", 0, INT64_MAX, RESTART, "tier 1 (in-process hot map) cap, in real bytes"),
    S_SIZE  (cache_max_bytes,    "256m", 0, INT64_MAX, RESTART, "tier 2 (in-memory SQLite cache database) cap"),
    S_SIZE  (cache_max_entry_bytes, "1m", 0, GiB, LIVE, "results larger than this are not cached"),
    S_INT   (cache_min_ms,       "5", 0, INT_MAX, LIVE, "with cache_mode=expensive, reads faster than this are not cached"),
    S_ENUM  (cache_mode,         "all", cache_mode_words, LIVE, "which reads are cached: all, expensive or off"),
    S_INT   (cache_shards,       "16", 1, 1024, RESTART, "tier 1 lock shards (rounded up to a power of two)"),
    S_INT   (cache_sweep_ms,     "1000", 10, 3600000, RESTART, "how often the sweep frees expired cache entries (1/8 of tier 1 at a time)"),
    S_INT   (cache_ttl,          "60", 1, INT_MAX, LIVE, "seconds a cached result is served"),
    S_STRING(db_path,            "data.db", 1, RESTART, "SQLite database file"),
    S_BOOL  (foreign_keys,       "on", RESTART, "enforce FOREIGN KEY constraints"),
    S_INT   (group_commit_max,   "1000", 1, 1000000, RESTART, "requests committed together in one transaction at most"),
    S_INT   (group_commit_wait_us, "0", 0, 1000000, RESTART, "microseconds the writer waits for a group to fill; 0 = none"),
    S_STRING(http_bind,          "127.0.0.1", 1, RESTART, "address of the HTTP endpoint (/metrics, /health, /stats)"),
    S_INT   (http_port,          "9188", 0, 65535, RESTART, "TCP port of the HTTP endpoint; 0 = none"),
    S_INT   (idle_in_transaction_timeout, "30", 1, 86400, LIVE, "seconds an open transaction may sit idle before it is rolled back"),
    S_INT   (idle_timeout,       "0", 0, 31536000, LIVE, "seconds a connection may sit idle (nothing sent or read) before it is closed (57P05); 0 = never"),
    S_STRING(log_file,           "", 0, LIVE, "file the log is appended to (reopened on SIGUSR1); empty = stderr"),
    S_ENUM  (log_level,          "info", log_level_words, LIVE, "least severe message written to the log"),
    S_BOOL  (log_parameters,     "off", LIVE, "the slow-query log shows argument values and literals instead of ?"),
    S_INT   (max_batch,          "10000", 1, 1000000, LIVE, "lines in one BATCH"),
    S_SIZE  (max_batch_bytes,    "64m", KiB, GiB, LIVE, "bytes of all the lines of one BATCH together"),
    S_INT   (max_connections,    "1024", 1, 1000000, LIVE, "clients connected at once; more are refused"),
    S_SIZE  (max_line,           "1m", 16, GiB, RESTART, "bytes in one request line"),
    S_INT   (max_params,         "32766", 1, 65535, LIVE, "arguments of one CALL and parameters of one PostgreSQL Bind (54023)"),
    S_SIZE  (max_result_bytes,   "64m", KiB, GiB, LIVE, "encoded bytes in one reply; a larger result is an error"),
    S_INT64 (max_result_rows,    "0", 0, INT64_MAX, LIVE, "rows in one reply; more is an error (54000); 0 = no limit of its own"),
    S_SIZE  (max_statement_memory, "256m", 0, INT64_MAX, LIVE, "heap one statement may take (sorts, DISTINCT, temp b-trees) before it is stopped (53200); 0 = no limit"),
    S_SIZE  (mmap_size,          "256m", 0, INT64_MAX, RESTART, "bytes of the database SQLite maps into memory"),
    S_SIZE  (output_hard_limit,  "64m", KiB, INT64_MAX, LIVE, "unsent output at which a client is disconnected"),
    S_SIZE  (output_soft_limit,  "1m", KiB, INT64_MAX, LIVE, "unsent output at which a client's requests stop being read"),
    S_INT   (pg_port,            "0", 0, 65535, RESTART, "a second TCP port that speaks only the PostgreSQL protocol; 0 = none"),
    S_INT   (port,               "5433", 1, 65535, RESTART, "TCP port to listen on"),
    S_STRING(query_files,        "", 0, RESTART, "extra named-query files, comma separated"),
    S_ENUM  (read_replica,       "off", read_replica_words, RESTART, "where uncached reads run: off (the database file) or memory (an in-memory replica)"),
    S_SIZE  (replica_max_bytes,  "1g", MiB, INT64_MAX, RESTART, "an in-memory replica larger than this is refused and reads stay on the file"),
    S_INT   (request_timeout_ms, "30000", 0, INT_MAX, LIVE, "milliseconds a client may take to finish a started request (line, message, BATCH, login); 0 = no limit"),
    S_INT   (requests_per_event, "64", 1, 100000, LIVE, "requests served for one client before others get a turn"),
    S_INT   (slow_query_ms,      "100", -1, INT_MAX, LIVE, "statements at least this slow are logged at WARN; 0 = all, -1 = none"),
    /* SQLite reads PRAGMA cache_size as an int, hence INT_MAX despite the 64-bit field. */
    S_INT64 (sqlite_cache_kb,    "64000", 0, INT_MAX, RESTART, "SQLite page cache per database connection, in KiB"),
    S_INT   (statement_timeout,  "30000", 0, INT_MAX, LIVE, "milliseconds a statement may run before it is stopped (57014); 0 = no limit"),
    S_INT   (stmt_cache_size,    "256", 1, 100000, RESTART, "prepared statements kept per database connection"),
    S_ENUM  (synchronous,        "normal", synchronous_words, RESTART, "when SQLite syncs to disk (PRAGMA synchronous)"),
    S_ENUM  (temp_store,         "memory", temp_store_words, RESTART, "where SQLite keeps temporary tables"),
    S_STRING(unix_socket_dir,    "", 0, RESTART, "directory of the Unix-domain sockets .s.PGSQL.<port> (and <pg_port>), named as PostgreSQL names them; empty = none"),
    S_STRING(users_file,         "", 0, RESTART, "users of both protocols: lines of <user> <role> <SCRAM verifier>; empty = none"),
    S_INT   (wal_autocheckpoint, "1000", 0, INT_MAX, RESTART, "WAL pages that trigger a checkpoint; 0 = never"),
    S_INT   (wal_checkpoint_pages, "10000", 1, INT_MAX, RESTART, "WAL pages past which the writer forces a checkpoint that waits briefly for readers"),
    S_INT   (workers,            "0", 0, 256, RESTART, "worker threads; 0 = one per CPU"),
};
#define NSETTINGS (sizeof settings / sizeof settings[0])

/* Older names still accepted, in files and on the command line: {old, current}. */
static const char *const aliases[][2] = {
    { "pg_auth", "auth" }, /* auth covered only PostgreSQL before the line protocol had AUTH */
};

static const struct setting *find_setting(const char *name, size_t len)
{
    for (size_t i = 0; i < sizeof aliases / sizeof aliases[0]; i++)
        if (strlen(aliases[i][0]) == len && memcmp(aliases[i][0], name, len) == 0)
            name = aliases[i][1], len = strlen(name);
    for (size_t i = 0; i < NSETTINGS; i++)
        if (strlen(settings[i].name) == len && memcmp(settings[i].name, name, len) == 0)
            return &settings[i];
    return NULL;
}

static void *field_of(config *cfg, const struct setting *s) { return (char *)cfg + s->offset; }
static const void *cfield_of(const config *cfg, const struct setting *s) { return (const char *)cfg + s->offset; }

/* ---- values as text ---- */

/* The largest unit that divides v exactly, so 1048576 prints as 1m and round-trips through parse_number. */
static void format_size(char *out, size_t outlen, int64_t v)
{
    static const struct { int64_t unit; char suffix; } units[] = { { GiB, 'g' }, { MiB, 'm' }, { KiB, 'k' } };
    for (size_t i = 0; i < sizeof units / sizeof units[0]; i++)
        if (v != 0 && v % units[i].unit == 0) {
            snprintf(out, outlen, "%lld%c", (long long)(v / units[i].unit), units[i].suffix);
            return;
        }
    snprintf(out, outlen, "%lld", (long long)v);
}

static void format_number(const struct setting *s, char *out, size_t outlen, int64_t v)
{
    if (s->type == T_SIZE)
        format_size(out, outlen, v);
    else
        snprintf(out, outlen, "%lld", (long long)v);
}

static const char *word_of(const struct setting *s, int v)
{
    for (const struct word *w = s->words; w->word; w++)
        if (w->value == v)
            return w->word;
    return "?";
}

/* Non-string values only; strings are printed straight from the struct since they have no length bound. */
static void format_value(const config *cfg, const struct setting *s, char *out, size_t outlen)
{
    const void *f = cfield_of(cfg, s);
    switch (s->type) {
    case T_INT:    snprintf(out, outlen, "%d", *(const int *)f); break;
    case T_INT64:  snprintf(out, outlen, "%lld", (long long)*(const int64_t *)f); break;
    case T_SIZE:   format_size(out, outlen, *(const int64_t *)f); break;
    case T_BOOL:   snprintf(out, outlen, "%s", *(const int *)f ? "on" : "off"); break;
    case T_ENUM:   snprintf(out, outlen, "%s", word_of(s, *(const int *)f)); break;
    case T_STRING: snprintf(out, outlen, "%s", *(char *const *)f ? *(char *const *)f : ""); break;
    }
}

/* "a|b|c" for enums and bools, "lo..hi" or "lo.." for numbers, "" when there is nothing to say. */
static void format_limits(const struct setting *s, char *out, size_t outlen)
{
    char lo[32], hi[32];
    size_t n = 0;
    out[0] = '\0';
    switch (s->type) {
    case T_INT: case T_INT64: case T_SIZE:
        format_number(s, lo, sizeof lo, s->min);
        if (s->max == INT_MAX || s->max == INT64_MAX)
            hi[0] = '\0';
        else
            format_number(s, hi, sizeof hi, s->max);
        snprintf(out, outlen, "%s..%s", lo, hi);
        break;
    case T_BOOL:
        snprintf(out, outlen, "on|off");
        break;
    case T_ENUM:
        for (const struct word *w = s->words; w->word && n < outlen; w++)
            n += (size_t)snprintf(out + n, outlen - n, "%s%s", w == s->words ? "" : "|", w->word);
        break;
    case T_STRING:
        break;
    }
}

/* ---- parsing ---- */

/* [-]digits, then (if suffix_ok) one of k/m/g in either case. *overflow is set when the number is
 * well-formed but does not fit in int64_t, so the caller can still say which limit it passed. */
static bool scan_number(const char *text, bool suffix_ok, int64_t *out, bool *overflow)
{
    const char *p = text;
    bool neg = *p == '-';
    int64_t v = 0;
    *overflow = false;
    if (neg)
        p++;
    if (*p < '0' || *p > '9')
        return false;
    for (; *p >= '0' && *p <= '9'; p++) {
        int d = *p - '0';
        if (v > (INT64_MAX - d) / 10)
            *overflow = true;
        else
            v = v * 10 + d;
    }
    if (suffix_ok && *p) {
        int64_t unit = 0;
        switch (*p) {
        case 'k': case 'K': unit = KiB; break;
        case 'm': case 'M': unit = MiB; break;
        case 'g': case 'G': unit = GiB; break;
        }
        if (!unit)
            return false;
        p++;
        if (v > INT64_MAX / unit)
            *overflow = true;
        else
            v *= unit;
    }
    if (*p)
        return false;
    *out = neg ? -v : v;
    return true;
}

static int parse_number(const struct setting *s, const char *text, int64_t *out, char *err, size_t errlen)
{
    bool overflow;
    int64_t v = 0;
    char limit[32];
    if (!scan_number(text, s->type == T_SIZE, &v, &overflow)) {
        if (s->type == T_SIZE)
            snprintf(err, errlen, "\"%s\" is not a size (bytes, or a number with k, m or g)", text);
        else
            snprintf(err, errlen, "\"%s\" is not an integer", text);
        return -1;
    }
    bool neg = text[0] == '-';
    if ((overflow && neg) || (!overflow && v < s->min)) {
        format_number(s, limit, sizeof limit, s->min);
        snprintf(err, errlen, "%s is below the minimum %s", text, limit);
        return -1;
    }
    if (overflow || v > s->max) {
        format_number(s, limit, sizeof limit, s->max);
        snprintf(err, errlen, "%s is above the maximum %s", text, limit);
        return -1;
    }
    *out = v;
    return 0;
}

static int parse_bool(const char *text, int *out, char *err, size_t errlen)
{
    static const char *const yes[] = { "on", "true", "yes", "1" };
    static const char *const no[]  = { "off", "false", "no", "0" };
    for (size_t i = 0; i < sizeof yes / sizeof yes[0]; i++) {
        if (strcasecmp(text, yes[i]) == 0) { *out = 1; return 0; }
        if (strcasecmp(text, no[i]) == 0)  { *out = 0; return 0; }
    }
    snprintf(err, errlen, "\"%s\" is not a boolean (on/off, true/false, yes/no or 1/0)", text);
    return -1;
}

static int parse_enum(const struct setting *s, const char *text, int *out, char *err, size_t errlen)
{
    char words[128];
    for (const struct word *w = s->words; w->word; w++)
        if (strcasecmp(text, w->word) == 0) {
            *out = w->value;
            return 0;
        }
    format_limits(s, words, sizeof words);
    snprintf(err, errlen, "\"%s\" is not one of %s", text, words);
    return -1;
}

/* Parses fully before storing, so a bad value leaves the old one in place. */
static int apply(config *cfg, const struct setting *s, const char *text, char *err, size_t errlen)
{
    void *f = field_of(cfg, s);
    int64_t v;
    int iv;
    switch (s->type) {
    case T_INT: case T_INT64: case T_SIZE:
        if (parse_number(s, text, &v, err, errlen) < 0)
            return -1;
        if (s->type == T_INT)
            *(int *)f = (int)v;   /* the table's limits keep every T_INT within int */
        else
            *(int64_t *)f = v;
        return 0;
    case T_BOOL:
        if (parse_bool(text, &iv, err, errlen) < 0)
            return -1;
        *(int *)f = iv;
        return 0;
    case T_ENUM:
        if (parse_enum(s, text, &iv, err, errlen) < 0)
            return -1;
        *(int *)f = iv;
        return 0;
    case T_STRING: {
        if ((int64_t)strlen(text) < s->min) {
            snprintf(err, errlen, "must not be empty");
            return -1;
        }
        char *copy = strdup(text);
        if (!copy) {
            snprintf(err, errlen, "out of memory");
            return -1;
        }
        free(*(char **)f);
        *(char **)f = copy;
        return 0;
    }
    }
    snprintf(err, errlen, "internal error: bad setting type");
    return -1;
}

int config_set(config *cfg, const char *name, const char *value, char *err, size_t errlen)
{
    const struct setting *s = find_setting(name, strlen(name));
    if (!s) {
        snprintf(err, errlen, "unknown setting");
        return -1;
    }
    return apply(cfg, s, value, err, errlen);
}

void config_defaults(config *cfg)
{
    char err[256];
    memset(cfg, 0, sizeof *cfg);
    for (size_t i = 0; i < NSETTINGS; i++)
        if (apply(cfg, &settings[i], settings[i].def, err, sizeof err) < 0) {
            /* A bad default is a bug in the table (or no memory at startup); nothing sensible to run with. */
            fprintf(stderr, "litecached: default of %s: %s\n", settings[i].name, err);
            abort();
        }
}

/* A string a reload replaced: kept until config_free, since another thread may still read it. */
struct retired {
    struct retired *next;
    char           *s;
};

void config_free(config *cfg)
{
    for (size_t i = 0; i < NSETTINGS; i++)
        if (settings[i].type == T_STRING) {
            char **p = field_of(cfg, &settings[i]);
            free(*p);
            *p = NULL;
        }
    free(cfg->config_path);
    cfg->config_path = NULL;
    for (struct retired *r = cfg->retired, *next; r; r = next) {
        next = r->next;
        free(r->s);
        free(r);
    }
    cfg->retired = NULL;
}

/* A deep copy, so a file can be applied to the copy and dropped whole if any line is bad. */
static int config_copy(config *dst, const config *src)
{
    *dst = *src;
    dst->config_path = NULL;
    dst->retired = NULL;
    for (size_t i = 0; i < NSETTINGS; i++)
        if (settings[i].type == T_STRING)
            *(char **)field_of(dst, &settings[i]) = NULL;
    bool ok = !src->config_path || (dst->config_path = strdup(src->config_path));
    for (size_t i = 0; ok && i < NSETTINGS; i++)
        if (settings[i].type == T_STRING) {
            char *const *from = cfield_of(src, &settings[i]);
            char **to = field_of(dst, &settings[i]);
            ok = !*from || (*to = strdup(*from));
        }
    if (!ok)
        config_free(dst);
    return ok ? 0 : -1;
}

int config_is_loopback(const char *addr)
{
    return !strncmp(addr, "127.", 4) || !strcmp(addr, "::1") || !strcasecmp(addr, "localhost");
}

int config_check(const config *cfg, char *err, size_t errlen)
{
    if (cfg->output_hard_limit < cfg->output_soft_limit) {
        char hard[32], soft[32];
        format_size(hard, sizeof hard, cfg->output_hard_limit);
        format_size(soft, sizeof soft, cfg->output_soft_limit);
        snprintf(err, errlen, "output_hard_limit (%s) must not be below output_soft_limit (%s)", hard, soft);
        return -1;
    }
    if (cfg->auth != CONFIG_AUTH_TRUST && (!cfg->users_file || !cfg->users_file[0])) {
        snprintf(err, errlen, "auth = %s needs users_file (nobody could log in)",
                 cfg->auth == CONFIG_AUTH_SCRAM ? "scram-sha-256" : "password");
        return -1;
    }
    if (cfg->auth == CONFIG_AUTH_TRUST && !config_is_loopback(cfg->bind)) {
        snprintf(err, errlen, "bind = %s reaches beyond this machine, but auth = trust would make anyone who "
                 "connects an admin: set auth = scram-sha-256 (or password) with a users_file, or bind 127.0.0.1",
                 cfg->bind);
        return -1;
    }
    if (cfg->pg_port != 0 && cfg->pg_port == cfg->port) {
        snprintf(err, errlen, "pg_port (%d) must differ from port: the main port speaks PostgreSQL too", cfg->pg_port);
        return -1;
    }
    return 0;
}

/* ---- the INI file ----
 * inih is fed through our own line reader because, as built on Debian (inih 55), it would otherwise:
 * give the handler no line number; keep parsing after an error; read an indented line as a continuation
 * of the previous value ("  workers = 4" after "port = 1" sets port to "workers = 4"); silently cut
 * lines longer than its fixed buffer; and accept a [section] that no key follows without a word. */

struct load {
    config     *cfg;
    const char *path;
    FILE       *fp;
    char       *line;
    size_t      cap;
    int         lineno;
    bool        failed;
    char       *err;
    size_t      errlen;
};

static char *fail_line(struct load *ld, const char *problem, const char *text)
{
    snprintf(ld->err, ld->errlen, "%s:%d: %s%s", ld->path, ld->lineno, problem, text);
    ld->failed = true;
    return NULL;   /* end of input, as far as inih knows: stops parsing at the first error */
}

static char *read_line(char *str, int num, void *stream)
{
    struct load *ld = stream;
    if (ld->failed)
        return NULL;
    ssize_t n = getline(&ld->line, &ld->cap, ld->fp);
    if (n < 0)
        return NULL;
    ld->lineno++;
    char *p = ld->line;
    if (n > 0 && p[n - 1] == '\n')
        p[--n] = '\0';
    if (n > 0 && p[n - 1] == '\r')
        p[--n] = '\0';
    if (ld->lineno == 1 && strncmp(p, "\xEF\xBB\xBF", 3) == 0)
        p += 3;
    while (*p == ' ' || *p == '\t')
        p++;
    if (*p == '\0' || *p == '#' || *p == ';') {
        snprintf(str, (size_t)num, "\n");
        return str;
    }
    if (*p == '[')
        return fail_line(ld, "sections are not used: every setting goes at the top level", "");
    if (!strpbrk(p, "=:"))
        return fail_line(ld, "expected \"name = value\", got: ", p);
    /* Room for the '\n' we add (inih treats a line without one as cut short) and the NUL. */
    if (strlen(p) + 2 > (size_t)num) {
        char limit[64];
        snprintf(limit, sizeof limit, "line is longer than %d characters", num - 2);
        return fail_line(ld, limit, "");
    }
    snprintf(str, (size_t)num, "%s\n", p);
    return str;
}

static int on_setting(void *user, const char *section, const char *name, const char *value)
{
    struct load *ld = user;
    char problem[256];
    if (ld->failed)
        return 1;
    if (section[0]) {   /* read_line rejects headers; this only guards against a BOM hiding one */
        fail_line(ld, "sections are not used: every setting goes at the top level", "");
        return 1;
    }
    if (!name[0]) {
        fail_line(ld, "expected \"name = value\", the name is missing", "");
        return 1;
    }
    if (!value)
        snprintf(problem, sizeof problem, "missing value");
    else if (config_set(ld->cfg, name, value, problem, sizeof problem) == 0)
        return 1;
    snprintf(ld->err, ld->errlen, "%s:%d: %s: %s", ld->path, ld->lineno, name, problem);
    ld->failed = true;
    return 1;   /* errors are tracked in ld, so inih's return value only reports its own */
}

int config_load_file(config *cfg, const char *path, char *err, size_t errlen)
{
    config next;
    struct load ld = { .cfg = &next, .path = path, .err = err, .errlen = errlen };
    ld.fp = fopen(path, "r");
    if (!ld.fp) {
        snprintf(err, errlen, "%s: cannot open: %s", path, strerror(errno));
        return -1;
    }
    if (config_copy(&next, cfg) < 0) {
        fclose(ld.fp);
        snprintf(err, errlen, "%s: out of memory", path);
        return -1;
    }
    int rc = ini_parse_stream(read_line, &ld, on_setting, &ld);
    if (!ld.failed && ferror(ld.fp)) {
        snprintf(err, errlen, "%s: cannot read: %s", path, strerror(errno));
        ld.failed = true;
    } else if (!ld.failed && rc != 0) {
        /* read_line screens out every syntax inih knows, so this is a line it read differently. */
        snprintf(err, errlen, "%s:%d: cannot parse this line", path, rc > 0 ? rc : ld.lineno);
        ld.failed = true;
    }
    free(ld.line);
    fclose(ld.fp);
    if (ld.failed) {
        config_free(&next);
        return -1;
    }
    config_free(cfg);
    *cfg = next;
    return 0;
}

/* ---- help and dump ---- */

void config_dump(const config *cfg, FILE *out)
{
    char value[64];
    for (size_t i = 0; i < NSETTINGS; i++) {
        const struct setting *s = &settings[i];
        if (s->type == T_STRING) {
            const char *v = *(char *const *)cfield_of(cfg, s);
            fprintf(out, "%s =%s%s\n", s->name, v && v[0] ? " " : "", v ? v : "");
        } else {
            format_value(cfg, s, value, sizeof value);
            fprintf(out, "%s = %s\n", s->name, value);
        }
    }
}

/* ---- the command line ---- */

/* Options that are not settings. Each returns an enum config_action: CONFIG_RUN to keep going. */
struct flag {
    const char *name;          /* the long form, without "--" */
    char        short_name;    /* 0 if none */
    const char *arg;           /* its value's name in --help, NULL if it takes none */
    int (*run)(config *cfg, const char *value);
    const char *help;
};

static int flag_config(config *cfg, const char *value)
{
    char *copy = strdup(value);
    if (!copy) {
        fprintf(stderr, "litecached: --config: out of memory\n");
        return CONFIG_EXIT_ERR;
    }
    free(cfg->config_path);
    cfg->config_path = copy;
    return CONFIG_RUN;
}

static int flag_help(config *cfg, const char *value)
{
    (void)cfg, (void)value;
    config_print_help(stdout);
    return CONFIG_EXIT_OK;
}

static int flag_version(config *cfg, const char *value)
{
    (void)cfg, (void)value;
    printf("litecached %s\n", LITECACHED_VERSION);
    return CONFIG_EXIT_OK;
}

static int flag_backup(config *cfg, const char *value)
{
    cfg->backup_to = value;
    return CONFIG_RUN;
}

static int flag_db(config *cfg, const char *value)
{
    cfg->db_flag = value;
    return CONFIG_RUN;
}

static int flag_check(config *cfg, const char *value)
{
    (void)value;
    cfg->check_only = 1;
    return CONFIG_RUN;
}

static int flag_make_verifier(config *cfg, const char *value)
{
    cfg->make_verifier = value;
    return CONFIG_RUN;
}

static const struct flag flags[] = {
    { "backup",  0,   "FILE", flag_backup,  "write a consistent copy of the database to FILE and exit (for cron)" },
    { "check-config", 0, NULL, flag_check,  "validate the settings (and the config file) and exit" },
    { "config",  'c', "FILE", flag_config,  "read settings from FILE; the command line overrides it" },
    { "db",      0,   "PATH", flag_db,      "the database file (the same as --db_path)" },
    { "help",    'h', NULL,   flag_help,    "print this help and exit" },
    { "make-verifier", 0, "PASSWORD", flag_make_verifier, "print a SCRAM-SHA-256 verifier of PASSWORD for users_file and exit" },
    { "version", 'V', NULL,   flag_version, "print the version and exit" },
};
#define NFLAGS (sizeof flags / sizeof flags[0])

void config_print_help(FILE *out)
{
    char head[64], def[64], limits[128];
    int width = 0;
    for (size_t i = 0; i < NSETTINGS; i++) {
        int w = snprintf(head, sizeof head, "--%s <%s>", settings[i].name, type_names[settings[i].type]);
        if (w > width)
            width = w;
    }
    fprintf(out, "Usage: litecached [-c FILE] [--SETTING VALUE | --SETTING=VALUE]...\n"
                 "Settings are taken from the defaults, then the -c file, then the command line.\n\nOptions:\n");
    for (size_t i = 0; i < NFLAGS; i++) {
        const struct flag *f = &flags[i];
        char shortform[8] = "";
        if (f->short_name)
            snprintf(shortform, sizeof shortform, "-%c, ", f->short_name);
        snprintf(head, sizeof head, "%s--%s%s%s", shortform, f->name, f->arg ? " " : "", f->arg ? f->arg : "");
        fprintf(out, "  %-*s  %s\n", width, head, f->help);
    }
    fprintf(out, "\nSettings (the same names go in the config file as \"name = value\"):\n");
    for (size_t i = 0; i < NSETTINGS; i++) {
        const struct setting *s = &settings[i];
        snprintf(head, sizeof head, "--%s <%s>", s->name, type_names[s->type]);
        if (s->type == T_STRING && !s->def[0])
            snprintf(def, sizeof def, "\"\"");
        else
            snprintf(def, sizeof def, "%s", s->def);
        format_limits(s, limits, sizeof limits);
        /* "live": a reload (SIGHUP) changes it without a restart. */
        fprintf(out, "  %-*s  %s (default: %s%s%s%s)\n", width, head, s->help, def, limits[0] ? "; " : "", limits,
                s->live ? "; live" : "");
    }
}

/* One option decoded from argv: exactly one of flag and setting is set. */
struct arg {
    const struct flag    *flag;
    const struct setting *setting;
    const char *shown;     /* the option as typed, without any "=value", for messages */
    int         shown_len;
    const char *value;     /* NULL for a flag that takes none */
};

static void unknown_option(const char *name, size_t len)
{
    /* "--max-connections" is the likeliest slip, since most programs spell options with dashes. */
    char fixed[64];
    const struct setting *s = NULL;
    if (len > 2 && len - 2 < sizeof fixed && name[0] == '-' && name[1] == '-') {
        memcpy(fixed, name + 2, len - 2);
        for (size_t i = 0; i < len - 2; i++)
            if (fixed[i] == '-')
                fixed[i] = '_';
        s = find_setting(fixed, len - 2);
    }
    if (s)
        fprintf(stderr, "litecached: %.*s: unknown option (did you mean --%s?)\n", (int)len, name, s->name);
    else
        fprintf(stderr, "litecached: %.*s: unknown option (see --help)\n", (int)len, name);
}

/* Decodes argv[*i], moving *i past a value taken from the next argument. Prints the problem and
 * returns -1 on an unknown option, a missing or unwanted value, or a positional argument. */
static int next_arg(int argc, char **argv, int *i, struct arg *a)
{
    const char *opt = argv[*i];
    const char *eq = NULL;
    memset(a, 0, sizeof *a);
    if (opt[0] != '-' || opt[1] == '\0') {
        fprintf(stderr, "litecached: unexpected argument \"%s\" (settings are given as --name value)\n", opt);
        return -1;
    }
    a->shown = opt;
    if (opt[1] == '-') {
        const char *name = opt + 2;
        eq = strchr(name, '=');
        size_t len = eq ? (size_t)(eq - name) : strlen(name);
        a->shown_len = (int)(len + 2);
        for (size_t k = 0; k < NFLAGS && !a->flag; k++)
            if (strlen(flags[k].name) == len && memcmp(flags[k].name, name, len) == 0)
                a->flag = &flags[k];
        if (!a->flag)
            a->setting = find_setting(name, len);
    } else {
        a->shown_len = (int)strlen(opt);
        for (size_t k = 0; k < NFLAGS && !a->flag && opt[2] == '\0'; k++)
            if (flags[k].short_name == opt[1])
                a->flag = &flags[k];
    }
    if (!a->flag && !a->setting) {
        unknown_option(a->shown, (size_t)a->shown_len);
        return -1;
    }
    bool wants_value = a->setting || a->flag->arg;
    if (eq && !wants_value) {
        fprintf(stderr, "litecached: %.*s: takes no value\n", a->shown_len, a->shown);
        return -1;
    }
    if (eq)
        a->value = eq + 1;
    else if (wants_value) {
        if (*i + 1 >= argc) {
            fprintf(stderr, "litecached: %.*s: missing value\n", a->shown_len, a->shown);
            return -1;
        }
        a->value = argv[++*i];
    }
    return 0;
}

int config_init(config *cfg, int argc, char **argv)
{
    char err[512];
    struct arg a;
    config_defaults(cfg);
    cfg->argc = argc;   /* for config_reload, which applies the command line again */
    cfg->argv = argv;

    /* First pass: check every option and run the flags, since -c must be read before any setting
     * it might override, wherever it appears. */
    for (int i = 1; i < argc; i++) {
        if (next_arg(argc, argv, &i, &a) < 0)
            return CONFIG_EXIT_ERR;
        if (a.flag) {
            int action = a.flag->run(cfg, a.value);
            if (action != CONFIG_RUN)
                return action;
        }
    }
    if (cfg->config_path && config_load_file(cfg, cfg->config_path, err, sizeof err) < 0) {
        fprintf(stderr, "litecached: %s\n", err);
        return CONFIG_EXIT_ERR;
    }
    for (int i = 1; i < argc; i++) {
        if (next_arg(argc, argv, &i, &a) < 0)   /* cannot fail: the first pass accepted it */
            return CONFIG_EXIT_ERR;
        if (a.setting && apply(cfg, a.setting, a.value, err, sizeof err) < 0) {
            fprintf(stderr, "litecached: %.*s: %s\n", a.shown_len, a.shown, err);
            return CONFIG_EXIT_ERR;
        }
    }
    if (cfg->db_flag && config_set(cfg, "db_path", cfg->db_flag, err, sizeof err) < 0) {
        fprintf(stderr, "litecached: --db: %s\n", err);
        return CONFIG_EXIT_ERR;
    }
    if (config_check(cfg, err, sizeof err) < 0) {
        fprintf(stderr, "litecached: %s\n", err);
        return CONFIG_EXIT_ERR;
    }
    return CONFIG_RUN;
}

/* ---- reload (SIGHUP) ---- */

/* The settings as config_init built them: defaults, then the file, then the command line. */
static int rebuild(config *next, const config *live, char *err, size_t errlen)
{
    struct arg a;
    if (config_load_file(next, live->config_path, err, errlen) < 0)
        return -1;
    for (int i = 1; i < live->argc; i++) {
        if (next_arg(live->argc, live->argv, &i, &a) < 0) { /* cannot fail: accepted at start-up */
            snprintf(err, errlen, "the command line no longer parses");
            return -1;
        }
        if (a.setting && apply(next, a.setting, a.value, err, errlen) < 0)
            return -1;
    }
    if (live->db_flag && config_set(next, "db_path", live->db_flag, err, errlen) < 0)
        return -1;
    return config_check(next, err, errlen);
}

/* Whether a and b hold the same value of s. */
static bool same_value(const config *a, const config *b, const struct setting *s)
{
    if (s->type == T_STRING) {
        const char *x = *(char *const *)cfield_of(a, s), *y = *(char *const *)cfield_of(b, s);
        return strcmp(x ? x : "", y ? y : "") == 0;
    }
    char x[64], y[64];
    format_value(a, s, x, sizeof x);
    format_value(b, s, y, sizeof y);
    return strcmp(x, y) == 0;
}

/* What would run if next were applied: a copy of live with next's LIVE values. 0, or -1 out of memory. */
static int effective(config *out, const config *live, const config *next)
{
    if (config_copy(out, live) < 0)
        return -1;
    for (size_t i = 0; i < NSETTINGS; i++) {
        const struct setting *s = &settings[i];
        if (!s->live)
            continue;
        void *to = field_of(out, s);
        const void *from = cfield_of(next, s);
        switch (s->type) {
        case T_STRING: {
            char *const *v = from;
            char *copy = *v ? strdup(*v) : NULL;
            if (*v && !copy) {
                config_free(out);
                return -1;
            }
            free(*(char **)to);
            *(char **)to = copy;
            break;
        }
        case T_INT64: case T_SIZE:
            *(int64_t *)to = *(const int64_t *)from;
            break;
        default:
            *(int *)to = *(const int *)from;
            break;
        }
    }
    return 0;
}

/* config_check on what would run after the reload. The file alone passing is not enough: its
 * RESTART values stay unapplied, and the LIVE ones must hold together with what runs instead
 * (auth = trust with the running non-loopback bind would open the server to the network). */
static int check_effective(const config *live, const config *next, char *err, size_t errlen)
{
    config eff;
    char why[512], kept[256] = "";
    size_t n = 0, nkept = 0;
    if (effective(&eff, live, next) < 0) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    int rc = config_check(&eff, why, sizeof why);
    config_free(&eff);
    if (rc == 0)
        return 0;
    for (size_t i = 0; i < NSETTINGS && n < sizeof kept; i++)
        if (!settings[i].live && !same_value(live, next, &settings[i])) {
            n += (size_t)snprintf(kept + n, sizeof kept - n, "%s%s", nkept ? ", " : "", settings[i].name);
            nkept++;
        }
    snprintf(err, errlen, "this file needs a restart: with the running %s (a reload cannot change %s), %s", kept,
             nkept == 1 ? "it" : "them", why);
    return -1;
}

/* Move s's value from next into live with an atomic store, as config.h's rule asks. */
static void store_live(config *live, config *next, const struct setting *s)
{
    void *to = field_of(live, s), *from = field_of(next, s);
    switch (s->type) {
    case T_INT64: case T_SIZE:
        atomic_store((_Atomic int64_t *)to, *(int64_t *)from);
        return;
    case T_STRING: {
        char *old = atomic_exchange((char *_Atomic *)to, *(char **)from);
        *(char **)from = NULL; /* live owns it now */
        struct retired *r = malloc(sizeof *r);
        if (r) {
            r->s = old;
            r->next = live->retired;
            live->retired = r;
        } /* else the old string leaks: never freeing it is the safe way to fail */
        return;
    }
    default:
        atomic_store((_Atomic int *)to, *(int *)from);
        return;
    }
}

int config_reload(config *live, config_change_fn fn, void *ud, char *err, size_t errlen)
{
    if (!live->config_path) {
        snprintf(err, errlen, "started without -c: there is no configuration file to read again");
        return -1;
    }
    config next;
    config_defaults(&next);
    if (rebuild(&next, live, err, errlen) < 0 || check_effective(live, &next, err, errlen) < 0) {
        config_free(&next);
        return -1;
    }
    int changed = 0;
    char from[256], to[256];
    for (size_t i = 0; i < NSETTINGS; i++) {
        const struct setting *s = &settings[i];
        if (same_value(live, &next, s))
            continue;
        format_value(live, s, from, sizeof from);
        format_value(&next, s, to, sizeof to);
        if (s->live) {
            store_live(live, &next, s);
            changed++;
        }
        if (fn)
            fn(ud, s->name, from, to, s->live);
    }
    config_free(&next);
    return changed;
}
