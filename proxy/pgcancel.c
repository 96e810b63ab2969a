/* pgcancel.c - PostgreSQL query cancellation: a process-wide registry of (pid, key) -> the session's running statement, interrupted under a lock. */
#include "pgcancel.h"

#include <pthread.h>
#include <stdlib.h>
#include <sys/random.h>
#include <uthash.h>

/* Lock order: the registry lock, then a slot's lock. A slot's lock is held by its session only
 * while it flips `running`, and by a canceller while it calls sqlite3_interrupt: so an interrupt
 * can only land while that session's own statement runs. The reader is shared by every session of
 * a worker, but the worker runs one statement at a time, so no other client's statement can be
 * running on it in that window. */
struct pgcancel_slot {
    int32_t         pid, key;
    uint64_t        conn;        /* the connection: its writes run on the writer under this id */
    pthread_mutex_t lock;
    sqlite3        *running;     /* the connection our statement runs on; NULL when none */
    int             interrupted; /* a cancel hit the running statement */
    UT_hash_handle  hh;
};

static pthread_mutex_t registry_lock = PTHREAD_MUTEX_INITIALIZER;
static pgcancel_slot  *registry;
static int           (*writer_cancel_fn)(void *ud, uint64_t conn_id); /* under registry_lock */
static void           *writer_ud;

static int32_t random_key(void)
{
    uint32_t k = 0;
    if (getrandom(&k, sizeof k, 0) != (ssize_t)sizeof k)
        k = (uint32_t)rand() ^ ((uint32_t)rand() << 16);
    return (int32_t)(k & 0x7fffffff);
}

pgcancel_slot *pgcancel_register(uint64_t conn_id, int32_t *pid, int32_t *key)
{
    pgcancel_slot *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    pthread_mutex_init(&s->lock, NULL);
    s->key = random_key();
    s->conn = conn_id;
    pthread_mutex_lock(&registry_lock);
    /* Connection ids are unique; folded into 31 bits they repeat only after 2^31 connections, and
     * then the probe below moves on to a free pid. */
    int32_t p = (int32_t)(conn_id & 0x7fffffff);
    for (;;) {
        if (p <= 0)
            p = 1;
        pgcancel_slot *old;
        HASH_FIND(hh, registry, &p, sizeof p, old);
        if (!old)
            break;
        p++;
    }
    s->pid = p;
    HASH_ADD(hh, registry, pid, sizeof s->pid, s);
    pthread_mutex_unlock(&registry_lock);
    *pid = s->pid;
    *key = s->key;
    return s;
}

void pgcancel_unregister(pgcancel_slot *s)
{
    if (!s)
        return;
    pthread_mutex_lock(&registry_lock);
    HASH_DEL(registry, s);
    pthread_mutex_unlock(&registry_lock);
    pthread_mutex_destroy(&s->lock);
    free(s);
}

void pgcancel_begin(pgcancel_slot *s, sqlite3 *db)
{
    pthread_mutex_lock(&s->lock);
    s->running = db;
    s->interrupted = 0;
    pthread_mutex_unlock(&s->lock);
}

int pgcancel_end(pgcancel_slot *s)
{
    pthread_mutex_lock(&s->lock);
    s->running = NULL;
    int hit = s->interrupted;
    s->interrupted = 0;
    pthread_mutex_unlock(&s->lock);
    return hit;
}

int pgcancel_request(int32_t pid, int32_t key)
{
    int done = 0;
    pthread_mutex_lock(&registry_lock);
    pgcancel_slot *s;
    HASH_FIND(hh, registry, &pid, sizeof pid, s);
    if (s && s->key == key) {
        pthread_mutex_lock(&s->lock);
        if (s->running) {
            sqlite3_interrupt(s->running);
            s->interrupted = 1;
            done = 1;
        }
        pthread_mutex_unlock(&s->lock);
        /* Not reading: it may be writing (the lock order is this registry's lock, then the writer's). */
        if (!done && writer_cancel_fn)
            done = writer_cancel_fn(writer_ud, s->conn);
    }
    pthread_mutex_unlock(&registry_lock);
    return done;
}

void pgcancel_set_writer(int (*cancel)(void *ud, uint64_t conn_id), void *ud)
{
    pthread_mutex_lock(&registry_lock);
    writer_cancel_fn = cancel;
    writer_ud = ud;
    pthread_mutex_unlock(&registry_lock);
}
