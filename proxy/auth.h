/* auth.h - password checks off the event loop, with repeated failures from one address slowed down. */
#ifndef LC_AUTH_H
#define LC_AUTH_H

#include <stddef.h>
#include <stdint.h>

#include "writer.h"

typedef struct auth auth;
typedef struct auth_req auth_req;

/* Failures from one address before its attempts are delayed; then each failure doubles the
 * delay, from AUTH_DELAY_MIN_MS up to AUTH_DELAY_MAX_MS. A success forgets the address. */
#define AUTH_FREE_FAILURES 3
#define AUTH_DELAY_MIN_MS  250
#define AUTH_DELAY_MAX_MS  8000

/* Start the thread that checks passwords (PBKDF2 takes milliseconds: never on a worker). */
auth *auth_start(char *err, size_t errlen);
/* Answer everything still queued at once (no delays), then stop the thread and free. */
void  auth_stop(auth *a);
/* From now on answer queued requests without waiting out their delays (shutdown has begun). */
void  auth_hurry(auth *a);

/* A request: does password match verifier? verifier NULL means the user is unknown: the same
 * work is done on a decoy, so the answer takes as long. password NULL asks only to wait out the
 * address's delay and count a failure (a SCRAM exchange that already failed). addr is the
 * client's address, the unit of slowing down. NULL when out of memory. */
auth_req   *auth_req_new(const char *verifier, const char *password, const char *addr);
/* The job to hand to conn_await; its done() runs (on the auth thread) once the answer is known,
 * its release() frees the request. */
writer_job *auth_req_job(auth_req *r);
/* The request a job returned by the auth thread belongs to, or NULL for any other job. */
auth_req   *auth_req_of(writer_job *job);
/* After done(): 1 when the password matched. */
int         auth_req_ok(const auth_req *r);
/* Queue r (after conn_await(c, auth_req_job(r))). */
void        auth_submit(auth *a, auth_req *r);
/* Record a success that needed no check here (a SCRAM exchange that passed): forgets addr.
 * Every outcome lands in STATS (auth_ok, auth_failed, auth_delayed). */
void        auth_succeeded(auth *a, const char *addr);

#endif
