/* server.h - the listening socket, the worker threads and the writer, started and stopped together. */
#ifndef LC_SERVER_H
#define LC_SERVER_H

#include "config.h"

/* Open the database, start the writer and the workers, listen (and serve HTTP on http_port), and
 * serve until SIGINT/SIGTERM; then stop accepting, finish what is in flight and close the database
 * cleanly. SIGHUP reloads cfg's LIVE settings from its file, SIGUSR1 reopens log_file.
 * Returns the process exit status. */
int server_run(config *cfg);

#endif
