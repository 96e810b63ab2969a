/* main.c - litecached's entry point: settings, then the server. */
#include "config.h"
#include "server.h"

int main(int argc, char **argv)
{
    config cfg;
    int action = config_init(&cfg, argc, argv);
    if (action != CONFIG_RUN) {
        config_free(&cfg);
        return action == CONFIG_EXIT_OK ? 0 : 2;
    }
    int status = server_run(&cfg);
    config_free(&cfg);
    return status;
}
