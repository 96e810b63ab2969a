/* main.c - litecached's entry point: settings, then the server (or a one-shot --backup / --check-config). */
#include <stdio.h>

#include "backup.h"
#include "config.h"
#include "server.h"

static int one_shot(const config *cfg)
{
    if (cfg->check_only) {
        printf("litecached: configuration %s is valid\n", cfg->config_path ? cfg->config_path : "(defaults)");
        return 0;
    }
    char err[512];
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
    int status = cfg.check_only || cfg.backup_to ? one_shot(&cfg) : server_run(&cfg);
    config_free(&cfg);
    return status;
}
