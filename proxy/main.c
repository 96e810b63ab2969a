/* main.c - litecached's entry point: settings, then the server (or a one-shot --backup / --check-config / --make-verifier). */
#include <stdio.h>

#include "backup.h"
#include "check.h"
#include "config.h"
#include "users.h"
#include "scram.h"
#include "server.h"

static int one_shot(const config *cfg)
{
    char err[512];
    if (cfg->make_verifier) {
        buf v;
        buf_init(&v);
        if (scram_make_verifier(cfg->make_verifier, SCRAM_DEFAULT_ITERATIONS, &v) < 0 || v.oom) {
            fprintf(stderr, "litecached: cannot make a verifier (no randomness?)\n");
            buf_free(&v);
            return 1;
        }
        printf("%.*s\n", (int)v.len, v.data);
        buf_free(&v);
        return 0;
    }
    if (cfg->check_only) {
        users_list *users = users_load(cfg->users_file, err, sizeof err);
        if (!users) {
            fprintf(stderr, "litecached: users_file: %s\n", err);
            return 2;
        }
        users_free(users);
        if (check_config_files(cfg, err, sizeof err) < 0) {
            fprintf(stderr, "litecached: %s\n", err);
            return 2;
        }
        printf("litecached: configuration %s is valid\n", cfg->config_path ? cfg->config_path : "(defaults)");
        return 0;
    }
    int64_t bytes = 0;
    if (backup_copy(cfg->db_path, cfg->backup_to, cfg->busy_timeout_ms, &bytes, err, sizeof err) < 0) {
        fprintf(stderr, "litecached: backup of %s failed: %s\n", cfg->db_path, err);
        return 1;
    }
    printf("litecached: %s copied to %s (%lld bytes)\n", cfg->db_path, cfg->backup_to, (long long)bytes);
    return 0;
}

int main(int argc, char **argv)
{
    config cfg;
    int action = config_init(&cfg, argc, argv);
    if (action != CONFIG_RUN) {
        config_free(&cfg);
        return action == CONFIG_EXIT_OK ? 0 : 2;
    }
    int status = cfg.check_only || cfg.backup_to || cfg.make_verifier ? one_shot(&cfg) : server_run(&cfg);
    config_free(&cfg);
    return status;
}
