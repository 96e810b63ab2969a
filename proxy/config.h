/* config.h - every setting of litecached: one table drives the INI file, the command line, --help and validation. */
#ifndef LC_CONFIG_H
#define LC_CONFIG_H

#include <stdint.h>
#include <stdio.h>

/* A macro so the build can stamp a release with -DLITECACHED_VERSION=... */
#ifndef LITECACHED_VERSION
#define LITECACHED_VERSION "0.1.0"
#endif

enum config_synchronous { CONFIG_SYNC_NORMAL = 1, CONFIG_SYNC_FULL = 2 };
enum config_temp_store  { CONFIG_TEMP_DEFAULT = 0, CONFIG_TEMP_FILE = 1, CONFIG_TEMP_MEMORY = 2 };
enum config_log_level   { CONFIG_LOG_ERROR, CONFIG_LOG_WARN, CONFIG_LOG_INFO, CONFIG_LOG_DEBUG };
enum config_cache_mode  { CONFIG_CACHE_OFF = 0, CONFIG_CACHE_ALL = 1, CONFIG_CACHE_EXPENSIVE = 2 };
enum config_cache_admission { CONFIG_ADMIT_ALWAYS = 0, CONFIG_ADMIT_REPEAT = 1 };
enum config_read_replica { CONFIG_REPLICA_OFF = 0, CONFIG_REPLICA_MEMORY = 1 };
enum config_auth        { CONFIG_AUTH_TRUST = 0, CONFIG_AUTH_PASSWORD = 1, CONFIG_AUTH_SCRAM = 2 };

/* The values, after defaults, file and command line have been applied. Strings are owned (config_free).
 *
 * Threads read these fields without locks while the server runs. SIGHUP (config_reload) changes
 * the settings flagged LIVE in config.c's table, so the rule is: every LIVE field is _Atomic here
 * (a plain read of it is then an atomic load; a reload stores each with an atomic store), and a
 * LIVE string is replaced, never freed, until config_free: a reader may still hold the old one.
 * A RESTART field never changes after start-up. A derived value cached elsewhere (the log level,
 * the writer's idle timeout, the cache's entry cap) is pushed by the reload; see server.c. */
typedef struct config {
    /* listening and who may connect */
    char   *bind;               /* address to listen on */
    _Atomic int auth;           /* enum config_auth: both protocols */
    char   *unix_socket_dir;    /* where .s.PGSQL.<port> is created; "" = no Unix-domain socket */
    char   *users_file;         /* "<user> <role> <verifier>" lines; "" = none */
    int     port;
    int     workers;            /* 0 = number of CPUs */
    _Atomic int max_connections;
    /* limits per connection */
    int64_t max_line;           /* bytes in one request line */
    _Atomic int max_batch;      /* lines in one BATCH */
    _Atomic int statement_timeout; /* milliseconds a statement may run; 0 = no limit */
    _Atomic int64_t max_batch_bytes;    /* bytes of all the lines of one BATCH */
    _Atomic int64_t max_result_bytes;   /* encoded bytes in one reply */
    _Atomic int64_t max_result_rows;    /* rows in one reply; 0 = no limit of its own */
    _Atomic int max_params;             /* arguments of one CALL, parameters of one Bind */
    _Atomic int64_t max_statement_memory; /* heap one statement may add; 0 = no limit */
    _Atomic int idle_timeout;           /* seconds a connection may sit idle; 0 = never closed for it */
    _Atomic int request_timeout_ms;     /* milliseconds to finish a started request; 0 = no limit */
    _Atomic int64_t output_soft_limit;  /* stop reading a client whose unsent output passes this */
    _Atomic int64_t output_hard_limit;  /* drop it past this */
    _Atomic int requests_per_event;     /* requests served for one client before others get a turn */
    /* main database */
    char   *db_path;
    int     synchronous;        /* enum config_synchronous */
    int64_t sqlite_cache_kb;    /* PRAGMA cache_size = -N */
    int     temp_store;         /* enum config_temp_store */
    int64_t mmap_size;
    int     wal_autocheckpoint;
    int     wal_checkpoint_pages; /* past this, the writer runs a RESTART checkpoint that waits briefly for readers */
    int     foreign_keys;       /* bool */
    int     busy_timeout_ms;
    int     stmt_cache_size;    /* prepared statements kept per database connection */
    char   *query_files;        /* extra named-query files, comma separated */
    /* the in-memory read replica */
    int     read_replica;       /* enum config_read_replica */
    int64_t replica_max_bytes;  /* a replica larger than this is refused (reads stay on the file) */
    /* the writer */
    int     group_commit_max;   /* requests in one commit group */
    int     group_commit_wait_us; /* extra wait for a group to fill; 0 = none */
    _Atomic int idle_in_transaction_timeout; /* seconds an open transaction may sit idle */
    char *_Atomic backup_dir;   /* where BACKUP <name> writes */
    /* result cache */
    _Atomic int cache_mode;     /* enum config_cache_mode */

    _Atomic int cache_min_ms;   /* with cache_mode=expensive: reads faster than this are not cached */
    _Atomic int cache_ttl;      /* seconds a result is served */
    int64_t cache_hot_bytes;    /* tier 1 (hot map) cap */
    int64_t cache_max_bytes;    /* tier 2 (in-memory SQLite) cap */
    _Atomic int64_t cache_max_entry_bytes; /* larger results are not cached */
    int     cache_shards;       /* tier 1 lock shards, a power of two */
    int     cache_admission;    /* enum config_cache_admission: which misses a full tier 1 stores */
    int     cache_demote_min_us; /* tier 2 takes an evicted result only if it took this long to compute */
    int     cache_sweep_ms;     /* how often expired entries are removed */
    /* PostgreSQL protocol */
    int     pg_port;            /* a second port, PostgreSQL only; 0 = none */
    /* logging and the HTTP endpoint */
    _Atomic int log_level;      /* enum config_log_level */
    char *_Atomic log_file;     /* "" = stderr */
    _Atomic int log_parameters; /* bool: the slow-query log shows argument values */
    _Atomic int slow_query_ms;  /* statements at least this slow are logged; -1 = none */
    char   *http_bind;          /* address of /metrics, /health, /stats */
    int     http_port;          /* 0 = no HTTP listener */
    /* not settings: the -c file and the command line, kept so a reload can read them again */
    char   *config_path;        /* NULL if none */
    int     argc;
    char  **argv;
    void   *retired;            /* strings replaced by reloads, freed by config_free (see above) */
    /* one-shot actions from the command line (they point into argv, which outlives them) */
    const char *backup_to;      /* --backup FILE: copy the database there and exit */
    const char *db_flag;        /* --db PATH: the database for --backup (same as --db_path) */
    int         check_only;     /* --check-config: validate the settings and exit */
    const char *make_verifier;  /* --make-verifier PASSWORD: print its SCRAM verifier and exit */
} config;

/* What the caller should do after config_init. */
enum config_action { CONFIG_RUN = 0, CONFIG_EXIT_OK = 1, CONFIG_EXIT_ERR = 2 };

/* Fill cfg from the defaults, then the file named by -c/--config (if any), then --<name> <value>
 * options; prints --help/--version output to stdout and errors (one line) to stderr. Returns an enum
 * config_action; cfg needs config_free whatever it returns. */
int config_init(config *cfg, int argc, char **argv);

/* Set cfg to the defaults only (tests and embedders). Whatever cfg held is overwritten, not freed. */
void config_defaults(config *cfg);

/* Apply an INI file on top of cfg, all or nothing: on error cfg is unchanged. Returns 0, or -1 with
 * "file:line: key: problem" in err. Does not run config_check. */
int config_load_file(config *cfg, const char *path, char *err, size_t errlen);

/* Apply one setting given as text (from the file or the command line). Returns 0, or -1 with the problem in err. */
int config_set(config *cfg, const char *name, const char *value, char *err, size_t errlen);

/* Check the rules that tie settings together (output_hard_limit >= output_soft_limit). Run once every
 * source has been applied, since the file and the command line may each set half of a pair.
 * Returns 0, or -1 with a problem naming both settings in err. */
int config_check(const config *cfg, char *err, size_t errlen);
/* 127.x.x.x, ::1 or localhost: an address only this machine reaches. */
int config_is_loopback(const char *addr);

/* Told about each setting a reload finds changed, as text: live = 1 when it now has the new value,
 * 0 when it is RESTART and keeps the old one. */
typedef void (*config_change_fn)(void *ud, const char *name, const char *from, const char *to, int live);

/* SIGHUP: build the settings again as config_init did (defaults, the -c file, then the command
 * line, which still wins), check them, and store every changed LIVE setting into live with atomic
 * stores (see the rule above), reporting each change to fn. Nothing changes when the file is bad,
 * or when its LIVE values fail config_check beside the RESTART values still running: returns -1
 * with the problem in err. Returns the number of LIVE settings changed. */
int config_reload(config *live, config_change_fn fn, void *ud, char *err, size_t errlen);

/* Write --help: usage, then every setting with its type, default, limits and one line of help. */
void config_print_help(FILE *out);

/* Write every setting as `name = value` lines, in the table's (alphabetical) order. */
void config_dump(const config *cfg, FILE *out);

/* Free the owned strings; cfg may be freed again or refilled by config_defaults afterwards. */
void config_free(config *cfg);

#endif
