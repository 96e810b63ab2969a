/* extwatch.c - notices commits by other processes to the database file, so the cache never serves what they changed. */
#include "extwatch.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

/* SQLite's WAL index header starts the -shm file; its third 32-bit word, iChange, grows by one with
 * every committed transaction, whoever commits it (checkpoints and WAL restarts leave it alone). */
#define SHM_MAP_BYTES 136
#define ICHANGE_WORD  2

/* Locking: `lock` serializes the slow path of readers with the writer's transactions; `known` is
 * written only under it and read without it (an atomic), so the common case takes no lock. */
struct extwatch {
    volatile uint32_t *shm;
    int                fd;   /* kept open: see extwatch_open */
    cache             *c;
    pthread_mutex_t    lock;
    _Atomic uint32_t   known;
    _Atomic long       foreign;
    void             (*on_foreign)(void *ud); /* told under the lock, after the cache */
    void              *on_foreign_ud;
};

static uint32_t current(extwatch *w) { return __atomic_load_n(&w->shm[ICHANGE_WORD], __ATOMIC_ACQUIRE); }

extwatch *extwatch_open(const char *db_path, cache *c, char *err, size_t errlen)
{
    char path[4096];
    snprintf(path, sizeof path, "%s-shm", db_path);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return NULL;
    }
    void *p = mmap(NULL, SHM_MAP_BYTES, PROT_READ, MAP_SHARED, fd, 0);
    if (p == MAP_FAILED) {
        snprintf(err, errlen, "mmap %s: %s", path, strerror(errno));
        close(fd);
        return NULL;
    }
    extwatch *w = calloc(1, sizeof *w);
    if (!w) {
        munmap(p, SHM_MAP_BYTES);
        close(fd);
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    /* Closing any descriptor of a file drops every POSIX lock the process holds on it, SQLite's
     * included: its lock on the -shm that tells other processes "the WAL index is in use". Without
     * it the next process to open the database rebuilds the index (iChange back to 0, a false
     * foreign commit) under our feet. So the descriptor stays open until every connection closed. */
    w->fd = fd;
    w->shm = p;
    w->c = c;
    pthread_mutex_init(&w->lock, NULL);
    atomic_store(&w->known, current(w));
    return w;
}

void extwatch_close(extwatch *w)
{
    if (!w)
        return;
    munmap((void *)w->shm, SHM_MAP_BYTES);
    close(w->fd);
    pthread_mutex_destroy(&w->lock);
    free(w);
}

/* Assumes the lock: anything between `known` and now is a foreign commit. */
static void do_reconcile(extwatch *w)
{
    uint32_t cur = current(w);
    if (cur != atomic_load(&w->known)) {
        cache_bump_all(w->c);
        if (w->on_foreign)
            w->on_foreign(w->on_foreign_ud);
        atomic_fetch_add(&w->foreign, 1);
        atomic_store(&w->known, cur);
    }
}

void extwatch_check(extwatch *w)
{
    if (!w || current(w) == atomic_load_explicit(&w->known, memory_order_acquire))
        return;
    pthread_mutex_lock(&w->lock);
    do_reconcile(w);
    pthread_mutex_unlock(&w->lock);
}

void extwatch_writer_begin(extwatch *w)
{
    if (!w)
        return;
    pthread_mutex_lock(&w->lock);
    do_reconcile(w);
}

void extwatch_writer_end(extwatch *w)
{
    if (!w)
        return;
    /* We held SQLite's write lock since begin, so the only commit since then is ours. */
    atomic_store(&w->known, current(w));
    pthread_mutex_unlock(&w->lock);
}

void extwatch_on_foreign(extwatch *w, void (*fn)(void *ud), void *ud)
{
    if (!w)
        return;
    pthread_mutex_lock(&w->lock);
    w->on_foreign = fn;
    w->on_foreign_ud = ud;
    pthread_mutex_unlock(&w->lock);
}

void extwatch_hold(extwatch *w)
{
    if (!w)
        return;
    pthread_mutex_lock(&w->lock);
    do_reconcile(w);
}

void extwatch_release(extwatch *w)
{
    if (w)
        pthread_mutex_unlock(&w->lock);
}

long extwatch_foreign_commits(extwatch *w) { return w ? atomic_load(&w->foreign) : 0; }
