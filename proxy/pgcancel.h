/* pgcancel.h - PostgreSQL query cancellation: a process-wide registry of (pid, key) -> the session's running statement, interrupted under a lock. */
#ifndef LC_PGCANCEL_H
#define LC_PGCANCEL_H

#include <sqlite3.h>
#include <stdint.h>

typedef struct pgcancel_slot pgcancel_slot;

/* Register a session: pid is derived from its connection id, key is random. NULL when out of
 * memory. Any thread. */
pgcancel_slot *pgcancel_register(uint64_t conn_id, int32_t *pid, int32_t *key);
/* The session is gone: after this no cancel can reach it. */
void pgcancel_unregister(pgcancel_slot *s);
/* A statement of this session starts on db (the worker's shared reader): from now until
 * pgcancel_end a cancel request interrupts db. */
void pgcancel_begin(pgcancel_slot *s, sqlite3 *db);
/* It ended. Returns 1 when a cancel interrupted it (the caller reports 57014), else 0. */
int  pgcancel_end(pgcancel_slot *s);
/* A CancelRequest: interrupt the statement of session (pid, key) if one is running now, on its
 * worker's reader or (through the hook) on the writer. Returns 1 when it interrupted something, 0
 * otherwise (unknown pid, wrong key, nothing running). */
int  pgcancel_request(int32_t pid, int32_t key);
/* Where a session's writes run: cancel(ud, conn_id) interrupts the write running for that
 * connection, if any, and returns 1 when it did. NULL turns it off (before the writer stops). */
void pgcancel_set_writer(int (*cancel)(void *ud, uint64_t conn_id), void *ud);

#endif
