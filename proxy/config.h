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

/* The values, after defaults, file and command line have been applied. Strings are owned (config_free). */
typedef struct config {
    /* listening */
    char   *bind;               /* address to listen on */
    int     port;
    int     workers;            /* 0 = number of CPUs */
    int     max_connections;
    /* limits per connection */
    int64_t max_line;           /* bytes in one request line */
    int     max_batch;          /* lines in one BATCH */
    int64_t max_batch_bytes;    /* bytes of all the lines of one BATCH */
    int64_t max_result_bytes;   /* encoded bytes in one reply */
    int64_t output_soft_limit;  /* stop reading a client whose unsent output passes this */
    int64_t output_hard_limit;  /* drop it past this */
    int     requests_per_event; /* requests served for one client before others get a turn */
    /* main database */
    char   *db_path;
    int     synchronous;        /* enum config_synchronous */
    int64_t sqlite_cache_kb;    /* PRAGMA cache_size = -N */
    int     temp_store;         /* enum config_temp_store */
    int64_t mmap_size;
    int     wal_autocheckpoint;
    int     wal_checkpoint_pages; /* past this, the writer runs a RESTART checkpoint that waits for readers */
    int     foreign_keys;       /* bool */
    int     busy_timeout_ms;
    int     stmt_cache_size;    /* prepared statements kept per database connection */
    char   *query_files;        /* extra named-query files, comma separated */
    /* the writer */
    int     group_commit_max;   /* requests in one commit group */
    int     group_commit_wait_us; /* extra wait for a group to fill; 0 = none */
    int     idle_in_transaction_timeout; /* seconds an open transaction may sit idle */
    char   *backup_dir;         /* where BACKUP <name> writes */
    /* result cache */
    int     cache_mode;         /* enum config_cache_mode */
    int     cache_min_ms;       /* with cache_mode=expensive: reads faster than this are not cached */
    int     cache_ttl;          /* seconds a result is served */
    int64_t cache_hot_bytes;    /* tier 1 (hot map) cap */
    int64_t cache_max_bytes;    /* tier 2 (in-memory SQLite) cap */
    int64_t cache_max_entry_bytes; /* larger results are not cached */
    int     cache_shards;       /* tier 1 lock shards, a power of two */
    int     cache_sweep_ms;     /* how often expired entries are removed */
    /* logging */
    int     log_level;          /* enum config_log_level */
    /* not a setting: the -c file, kept so a reload can read it again; NULL if none */
    char   *config_path;
    /* one-shot actions from the command line (they point into argv, which outlives them) */
    const char *backup_to;      /* --backup FILE: copy the database there and exit */
    const char *db_flag;        /* --db PATH: the database for --backup (same as --db_path) */
    int         check_only;     /* --check-config: validate the settings and exit */
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

/* Write --help: usage, then every setting with its type, default, limits and one line of help. */
void config_print_help(FILE *out);

/* Write every setting as `name = value` lines, in the table's (alphabetical) order. */
void config_dump(const config *cfg, FILE *out);

/* Free the owned strings; cfg may be freed again or refilled by config_defaults afterwards. */
void config_free(config *cfg);

#endif
