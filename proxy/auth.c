/* auth.c - password checks off the event loop, with repeated failures from one address slowed down. */
#include "auth.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "buf.h"
#include "scram.h"
#include "stats.h"

#define AUTH_ADDRS      1024            /* addresses remembered; the stalest is forgotten first */
#define AUTH_FORGET_MS  (15 * 60 * 1000) /* a failure this old no longer counts */
#define AUTH_ADDR_LEN   64

struct auth_req {
    writer_job wj;       /* first: conn_await's handle */
    char      *verifier; /* NULL: unknown user */
    char      *password; /* NULL: only wait and count a failure */
    char       addr[AUTH_ADDR_LEN];
    int64_t    due_ms;   /* not answered before this (the address's delay) */
    int        ok;
    auth_req  *next;
};

typedef struct addr_entry {
    char    addr[AUTH_ADDR_LEN]; /* "" = free */
    int     fails;
    int64_t next_ms;  /* the next attempt from here is not answered before this */
    int64_t last_ms;  /* the last failure */
} addr_entry;

/* Locking: lock guards queue, stopping, hurry and addrs. do_x() assumes it is held. The checks
 * themselves run outside it, so a slow PBKDF2 never blocks a worker that submits. */
struct auth {
    pthread_t       th;
    pthread_mutex_t lock;
    pthread_cond_t  cond;
    auth_req       *queue;
    int             stopping, hurry;
    addr_entry      addrs[AUTH_ADDRS];
    char           *decoy;    /* a verifier for unknown users: the same work, always a failure */
};

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int64_t delay_ms(int fails)
{
    if (fails < AUTH_FREE_FAILURES)
        return 0;
    int64_t d = AUTH_DELAY_MIN_MS;
    for (int i = AUTH_FREE_FAILURES; i < fails && d < AUTH_DELAY_MAX_MS; i++)
        d *= 2;
    return d < AUTH_DELAY_MAX_MS ? d : AUTH_DELAY_MAX_MS;
}

/* The entry of addr, made (over the stalest one when full) if need be. */
static addr_entry *do_addr(auth *a, const char *addr, int64_t now)
{
    addr_entry *free_e = NULL, *stalest = &a->addrs[0];
    for (int i = 0; i < AUTH_ADDRS; i++) {
        addr_entry *e = &a->addrs[i];
        if (e->addr[0] && now - e->last_ms > AUTH_FORGET_MS)
            e->addr[0] = '\0';
        if (!e->addr[0]) {
            if (!free_e)
                free_e = e;
            continue;
        }
        if (!strcmp(e->addr, addr))
            return e;
        if (e->last_ms < stalest->last_ms)
            stalest = e;
    }
    addr_entry *e = free_e ? free_e : stalest;
    memset(e, 0, sizeof *e);
    snprintf(e->addr, sizeof e->addr, "%s", addr);
    e->last_ms = now;
    return e;
}

static void do_record(auth *a, const char *addr, int ok, int64_t now)
{
    addr_entry *e = do_addr(a, addr, now);
    if (ok) {
        e->addr[0] = '\0';
        return;
    }
    e->fails++;
    e->last_ms = now;
    int64_t next = now + delay_ms(e->fails);
    if (next > e->next_ms)
        e->next_ms = next;
}

/* The queued request to answer first, unlinked; NULL when none is due (*wait_ms says how long). */
static auth_req *do_take_due(auth *a, int64_t now, int64_t *wait_ms)
{
    auth_req **best = NULL;
    for (auth_req **p = &a->queue; *p; p = &(*p)->next)
        if (!best || (*p)->due_ms < (*best)->due_ms)
            best = p;
    if (!best)
        return NULL;
    if (!a->hurry && !a->stopping && (*best)->due_ms > now) {
        *wait_ms = (*best)->due_ms - now;
        return NULL;
    }
    auth_req *r = *best;
    *best = r->next;
    return r;
}

static void *auth_main(void *arg)
{
    auth *a = arg;
    pthread_setname_np(pthread_self(), "lc-auth");
    pthread_mutex_lock(&a->lock);
    for (;;) {
        int64_t wait = -1;
        auth_req *r = do_take_due(a, mono_ms(), &wait);
        if (!r) {
            if (a->stopping)
                break;
            if (wait < 0) {
                pthread_cond_wait(&a->cond, &a->lock);
            } else {
                struct timespec ts;
                clock_gettime(CLOCK_MONOTONIC, &ts);
                int64_t ns = ts.tv_nsec + (wait % 1000) * 1000000;
                ts.tv_sec += wait / 1000 + ns / 1000000000;
                ts.tv_nsec = ns % 1000000000;
                pthread_cond_timedwait(&a->cond, &a->lock, &ts);
            }
            continue;
        }
        int stopping = a->stopping;
        pthread_mutex_unlock(&a->lock);
        if (r->password && !stopping) {
            /* An unknown user is checked against the decoy too, and fails all the same. */
            int match = scram_check_password(r->verifier ? r->verifier : a->decoy, r->password);
            r->ok = r->verifier != NULL && match;
        }
        stats_add(r->ok ? STATS_AUTH_OK : STATS_AUTH_FAILED, 1);
        pthread_mutex_lock(&a->lock);
        if (!stopping)
            do_record(a, r->addr, r->ok, mono_ms());
        pthread_mutex_unlock(&a->lock);
        r->wj.done(&r->wj);
        pthread_mutex_lock(&a->lock);
    }
    pthread_mutex_unlock(&a->lock);
    return NULL;
}

auth *auth_start(char *err, size_t errlen)
{
    auth *a = calloc(1, sizeof *a);
    buf decoy;
    buf_init(&decoy);
    if (!a || scram_make_verifier("decoy", SCRAM_DEFAULT_ITERATIONS, &decoy) < 0 || decoy.oom) {
        snprintf(err, errlen, "authentication: out of memory or no randomness");
        buf_free(&decoy);
        free(a);
        return NULL;
    }
    a->decoy = strndup(decoy.data, decoy.len);
    buf_free(&decoy);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&a->cond, &ca);
    pthread_condattr_destroy(&ca);
    pthread_mutex_init(&a->lock, NULL);
    if (!a->decoy || pthread_create(&a->th, NULL, auth_main, a) != 0) {
        snprintf(err, errlen, "authentication: cannot start its thread");
        pthread_cond_destroy(&a->cond);
        pthread_mutex_destroy(&a->lock);
        free(a->decoy);
        free(a);
        return NULL;
    }
    return a;
}

void auth_hurry(auth *a)
{
    if (!a)
        return;
    pthread_mutex_lock(&a->lock);
    a->hurry = 1;
    pthread_cond_signal(&a->cond);
    pthread_mutex_unlock(&a->lock);
}

void auth_stop(auth *a)
{
    if (!a)
        return;
    pthread_mutex_lock(&a->lock);
    a->stopping = 1;
    pthread_cond_signal(&a->cond);
    pthread_mutex_unlock(&a->lock);
    pthread_join(a->th, NULL);
    pthread_cond_destroy(&a->cond);
    pthread_mutex_destroy(&a->lock);
    free(a->decoy);
    free(a);
}

static void req_release(writer_job *job)
{
    auth_req *r = (auth_req *)job;
    if (r->password) /* do not leave a password in freed memory */
        explicit_bzero(r->password, strlen(r->password));
    free(r->password);
    free(r->verifier);
    free(r);
}

auth_req *auth_req_new(const char *verifier, const char *password, const char *addr)
{
    auth_req *r = calloc(1, sizeof *r);
    if (!r)
        return NULL;
    r->wj.release = req_release;
    r->wj.failed = -1;
    snprintf(r->addr, sizeof r->addr, "%s", addr ? addr : "?");
    if ((verifier && !(r->verifier = strdup(verifier))) || (password && !(r->password = strdup(password)))) {
        req_release(&r->wj);
        return NULL;
    }
    return r;
}

writer_job *auth_req_job(auth_req *r) { return &r->wj; }
auth_req   *auth_req_of(writer_job *job) { return job && job->release == req_release ? (auth_req *)job : NULL; }
int         auth_req_ok(const auth_req *r) { return r->ok; }

void auth_submit(auth *a, auth_req *r)
{
    pthread_mutex_lock(&a->lock);
    int64_t now = mono_ms();
    addr_entry *e = do_addr(a, r->addr, now);
    r->due_ms = e->next_ms > now ? e->next_ms : now;
    if (r->due_ms > now)
        stats_add(STATS_AUTH_DELAYED, 1);
    /* Attempts sent together from one address wait their turns, one delay apart. */
    if (e->fails >= AUTH_FREE_FAILURES)
        e->next_ms = r->due_ms + delay_ms(e->fails);
    r->next = a->queue;
    a->queue = r;
    pthread_cond_signal(&a->cond);
    pthread_mutex_unlock(&a->lock);
}

void auth_succeeded(auth *a, const char *addr)
{
    pthread_mutex_lock(&a->lock);
    do_record(a, addr, 1, mono_ms());
    pthread_mutex_unlock(&a->lock);
    stats_add(STATS_AUTH_OK, 1);
}
