/* extwatch.h - notices commits by other processes to the database file, so the cache never serves what they changed. */
#ifndef LC_EXTWATCH_H
#define LC_EXTWATCH_H

#include "cache.h"

typedef struct extwatch extwatch;

/* Watch db_path's WAL index (the -shm file, which the writer's open connection keeps alive).
 * Returns NULL (and the caller runs without detection, saying so) when it cannot be mapped. */
extwatch *extwatch_open(const char *db_path, cache *c, char *err, size_t errlen);
/* Only after every connection to the database has closed (it holds a descriptor of the -shm). */
void      extwatch_close(extwatch *w);

/* Before a read is answered (any thread): if anyone but our writer committed since we last looked,
 * everything cached is made stale first. One atomic load when nothing changed. */
void extwatch_check(extwatch *w);

/* The writer brackets each transaction it runs: begin right after BEGIN IMMEDIATE (a commit by
 * another process before it is caught here), end right after COMMIT or ROLLBACK (our own commit
 * is recorded as ours). Between the two the watch lock is held, so readers that notice our commit
 * wait until it is recorded instead of mistaking it for a foreign one. */
void extwatch_writer_begin(extwatch *w);
void extwatch_writer_end(extwatch *w);

/* Also tell fn (with the watch lock held, after the cache was made stale) about each foreign
 * commit noticed: the read replica marks itself stale this way. Call before the server runs. */
void extwatch_on_foreign(extwatch *w, void (*fn)(void *ud), void *ud);

/* Hold the watch lock (after noticing any foreign commit) so that no writer transaction is between
 * its begin and end: what our writer committed is all applied to whatever follows it (the read
 * replica). Release with extwatch_release; never call the writer's pair while holding it. */
void extwatch_hold(extwatch *w);
void extwatch_release(extwatch *w);

/* Foreign commits noticed so far. */
long extwatch_foreign_commits(extwatch *w);

#endif
