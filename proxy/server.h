/* server.h - the listening socket, the worker threads and the writer, started and stopped together. */
#ifndef LC_SERVER_H
#define LC_SERVER_H

#include "config.h"

/* Open the database, start the writer and the workers, listen, and serve until SIGINT/SIGTERM;
 * then stop accepting, finish what is in flight and close the database cleanly.
 * Returns the process exit status. */
int server_run(const config *cfg);

#endif
