/* versions.c - table names to ids, and the version counters that decide whether a cached result is still current. */
#include "versions.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#define MAX_NAME   1024                    /* longer names are not registered (the read is then not cached) */
#define NAME_SLOTS (VERS_MAX_TABLES * 2)    /* the name index stays at most half full */

typedef struct vname {
    int    id;
    size_t len;
    char   name[]; /* lowercased, NUL-terminated */
} vname;

/* Locking: `lock` serializes registrations (names, n, and filling index slots). Every miss looks
 * its tables up, so lookups take no lock: the index is open-addressed and append-only, a slot is
 * published with release once its name is complete and never changes after. The counters are
 * atomics read without a lock: a writer bumps with release after its commit, a reader snapshots
 * with acquire before its query, so a snapshot never shows a version newer than the data the
 * query then reads.
 * A version (and the epoch) is not a count of its own but a stamp: the value `seq` took at its last
 * bump. So versions of different tables compare, and "not newer than seq as read at t" means "not
 * bumped after t", which is how a read-only BATCH keeps its cache hits on one snapshot (rcache.c).
 * That needs bumps in stamp order, each published whole before seq shows it: `bump_lock`
 * serializes them (once per commit; readers never take it). */
struct vers {
    pthread_mutex_t  lock;
    pthread_mutex_t  bump_lock;
    _Atomic(vname *) index[NAME_SLOTS];
    const char      *names[VERS_MAX_TABLES];
    _Atomic int      n;
    _Atomic uint64_t seq;
    _Atomic uint64_t epoch;
    _Atomic uint64_t v[VERS_MAX_TABLES];
};

vers *vers_new(void)
{
    vers *v = calloc(1, sizeof *v);
    if (!v)
        return NULL;
    pthread_mutex_init(&v->lock, NULL);
    pthread_mutex_init(&v->bump_lock, NULL);
    for (int i = 0; i < VERS_MAX_TABLES; i++)
        atomic_init(&v->v[i], 0);
    for (int i = 0; i < NAME_SLOTS; i++)
        atomic_init(&v->index[i], NULL);
    atomic_init(&v->seq, 0);
    atomic_init(&v->epoch, 0);
    atomic_init(&v->n, 0);
    return v;
}

void vers_free(vers *v)
{
    if (!v)
        return;
    for (int i = 0; i < NAME_SLOTS; i++)
        free(atomic_load_explicit(&v->index[i], memory_order_relaxed));
    pthread_mutex_destroy(&v->lock);
    pthread_mutex_destroy(&v->bump_lock);
    free(v);
}

/* The id of low[0..len) in the index, or -1; *slot is where the probe stopped (a free slot). */
static int find_name(vers *v, const char *low, size_t len, size_t *slot)
{
    uint64_t h = 0xcbf29ce484222325ull;
    for (size_t i = 0; i < len; i++)
        h = (h ^ (unsigned char)low[i]) * 0x100000001b3ull;
    for (size_t i = (size_t)h % NAME_SLOTS;; i = (i + 1) % NAME_SLOTS) {
        vname *e = atomic_load_explicit(&v->index[i], memory_order_acquire);
        if (!e) {
            *slot = i;
            return -1;
        }
        if (e->len == len && memcmp(e->name, low, len) == 0)
            return e->id;
    }
}

int vers_table_id(vers *v, const char *name, size_t len)
{
    if (!name || len == 0 || len > MAX_NAME)
        return -1;
    char low[MAX_NAME + 1];
    for (size_t i = 0; i < len; i++)
        low[i] = (name[i] >= 'A' && name[i] <= 'Z') ? (char)(name[i] + 32) : name[i];
    low[len] = '\0';
    size_t slot;
    int id = find_name(v, low, len, &slot);
    if (id >= 0)
        return id;
    pthread_mutex_lock(&v->lock);
    /* Again under the lock: another thread may have registered it meanwhile. */
    id = find_name(v, low, len, &slot);
    int n = atomic_load_explicit(&v->n, memory_order_relaxed);
    vname *e;
    if (id < 0 && n < VERS_MAX_TABLES && (e = malloc(sizeof *e + len + 1))) {
        memcpy(e->name, low, len + 1);
        e->len = len;
        e->id = id = n;
        v->names[n] = e->name;
        atomic_store_explicit(&v->index[slot], e, memory_order_release);
        atomic_store_explicit(&v->n, n + 1, memory_order_release);
    }
    pthread_mutex_unlock(&v->lock);
    return id;
}

void vers_snapshot(vers *v, const int *ids, int n, cache_snap *out)
{
    if (n < 0)
        n = 0;
    if (n > CACHE_MAX_TABLES)
        n = CACHE_MAX_TABLES;
    out->n = n;
    /* The epoch first: a bump_all racing with us then shows up in the epoch or in nothing. */
    out->epoch = atomic_load_explicit(&v->epoch, memory_order_acquire);
    for (int i = 0; i < n; i++) {
        out->ids[i] = ids[i];
        out->vers[i] = (ids[i] >= 0 && ids[i] < VERS_MAX_TABLES)
                           ? atomic_load_explicit(&v->v[ids[i]], memory_order_acquire)
                           : UINT64_MAX; /* never equal to a real version, so never served */
    }
}

/* The stores of a bump go out before seq shows its stamp: a reader that sees seq at x also sees
 * every bump up to x, and any bump it has not seen carries a stamp above x. */
void vers_bump(vers *v, const int *ids, int n)
{
    pthread_mutex_lock(&v->bump_lock);
    uint64_t x = atomic_load_explicit(&v->seq, memory_order_relaxed) + 1;
    for (int i = 0; i < n; i++)
        if (ids[i] >= 0 && ids[i] < VERS_MAX_TABLES)
            atomic_store_explicit(&v->v[ids[i]], x, memory_order_release);
    atomic_store_explicit(&v->seq, x, memory_order_release);
    pthread_mutex_unlock(&v->bump_lock);
}

void vers_bump_all(vers *v)
{
    pthread_mutex_lock(&v->bump_lock);
    uint64_t x = atomic_load_explicit(&v->seq, memory_order_relaxed) + 1;
    atomic_store_explicit(&v->epoch, x, memory_order_release);
    atomic_store_explicit(&v->seq, x, memory_order_release);
    pthread_mutex_unlock(&v->bump_lock);
}

uint64_t vers_stamp(vers *v) { return atomic_load_explicit(&v->seq, memory_order_acquire); }

uint64_t vers_snap_newest(const cache_snap *s)
{
    uint64_t m = s->epoch;
    for (int i = 0; i < s->n; i++)
        if (s->vers[i] > m)
            m = s->vers[i];
    return m;
}

int vers_fresh(vers *v, const int *ids, const uint64_t *vs, int n, uint64_t epoch)
{
    if (atomic_load_explicit(&v->epoch, memory_order_acquire) != epoch)
        return 0;
    for (int i = 0; i < n; i++) {
        if (ids[i] < 0 || ids[i] >= VERS_MAX_TABLES)
            return 0;
        if (atomic_load_explicit(&v->v[ids[i]], memory_order_acquire) != vs[i])
            return 0;
    }
    return 1;
}

int vers_valid(vers *v, const cache_snap *s)
{
    if (s->n < 0 || s->n > CACHE_MAX_TABLES)
        return 0;
    int n = atomic_load_explicit(&v->n, memory_order_acquire), ok = 1;
    for (int i = 0; i < s->n; i++)
        if (s->ids[i] < 0 || s->ids[i] >= n)
            ok = 0;
    return ok;
}

void vers_snap_text(const cache_snap *s, buf *out)
{
    for (int i = 0; i < s->n; i++)
        buf_printf(out, "%s%d:%" PRIu64, i ? "," : "", s->ids[i], s->vers[i]);
    buf_printf(out, ";%" PRIu64, s->epoch);
}

/* Parse an unsigned decimal at *p (bounded by end); -1 when there is none. */
static int parse_u64(const char **p, const char *end, uint64_t *out)
{
    const char *q = *p;
    uint64_t x = 0;
    if (q >= end || *q < '0' || *q > '9')
        return -1;
    while (q < end && *q >= '0' && *q <= '9') {
        uint64_t d = (uint64_t)(*q - '0');
        if (x > (UINT64_MAX - d) / 10)
            return -1;
        x = x * 10 + d;
        q++;
    }
    *p = q;
    *out = x;
    return 0;
}

int vers_snap_parse(const char *p, size_t n, cache_snap *out)
{
    const char *end = p + n;
    uint64_t x;
    out->n = 0;
    while (p < end && *p != ';') {
        if (out->n == CACHE_MAX_TABLES || parse_u64(&p, end, &x) < 0 || x >= VERS_MAX_TABLES)
            return -1;
        out->ids[out->n] = (int)x;
        if (p >= end || *p++ != ':' || parse_u64(&p, end, &out->vers[out->n]) < 0)
            return -1;
        out->n++;
        if (p < end && *p == ',')
            p++;
    }
    if (p >= end || *p++ != ';' || parse_u64(&p, end, &out->epoch) < 0 || p != end)
        return -1;
    return 0;
}

void vers_names_text(vers *v, const cache_snap *s, buf *out)
{
    pthread_mutex_lock(&v->lock);
    for (int i = 0; i < s->n; i++) {
        const char *name = (s->ids[i] >= 0 && s->ids[i] < atomic_load(&v->n)) ? v->names[s->ids[i]] : "?";
        buf_printf(out, "%s%s:%" PRIu64, i ? "," : "", name, s->vers[i]);
    }
    pthread_mutex_unlock(&v->lock);
    buf_printf(out, ";%" PRIu64, s->epoch);
}
