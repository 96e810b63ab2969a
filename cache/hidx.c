/* hidx.c - an open-addressing index of pointers by 64-bit hash: linear probing, backward-shift deletion (no tombstones), grown at half full. */
#include "hidx.h"

#include <stdlib.h>

typedef struct slot {
    uint64_t h;
    void    *p; /* NULL: empty */
} slot;

struct hidx {
    slot  *slots;
    size_t mask; /* capacity - 1; capacity is a power of two */
    size_t n;
};

#define HIDX_MIN 64

hidx *hidx_new(void)
{
    hidx *x = malloc(sizeof *x);
    if (!x)
        return NULL;
    x->slots = calloc(HIDX_MIN, sizeof *x->slots);
    if (!x->slots) {
        free(x);
        return NULL;
    }
    x->mask = HIDX_MIN - 1;
    x->n = 0;
    return x;
}

void hidx_free(hidx *x)
{
    if (!x)
        return;
    free(x->slots);
    free(x);
}

/* Put (h, p) in the first free slot of its probe sequence; the caller made room. */
static void place(slot *slots, size_t mask, uint64_t h, void *p)
{
    size_t i = (size_t)h & mask;
    while (slots[i].p)
        i = (i + 1) & mask;
    slots[i] = (slot){h, p};
}

/* Double the capacity; -1 (unchanged) when out of memory. */
static int grow(hidx *x)
{
    size_t cap = (x->mask + 1) * 2;
    slot *ns = calloc(cap, sizeof *ns);
    if (!ns)
        return -1;
    for (size_t i = 0; i <= x->mask; i++)
        if (x->slots[i].p)
            place(ns, cap - 1, x->slots[i].h, x->slots[i].p);
    free(x->slots);
    /* Atomic stores only for hidx_prefetch, which reads these without the owner's lock. */
    __atomic_store_n(&x->slots, ns, __ATOMIC_RELAXED);
    __atomic_store_n(&x->mask, cap - 1, __ATOMIC_RELAXED);
    return 0;
}

int hidx_add(hidx *x, uint64_t h, void *p)
{
    /* At most half full: a miss then reads about two slots, one cache line. */
    if ((x->n + 1) * 2 > x->mask + 1 && grow(x) < 0)
        return -1;
    place(x->slots, x->mask, h, p);
    x->n++;
    return 0;
}

void *hidx_next(const hidx *x, uint64_t h, size_t *pos)
{
    /* *pos counts slots already probed from h's home, so a caller can resume. */
    for (size_t k = *pos; k <= x->mask; k++) {
        const slot *s = &x->slots[((size_t)h + k) & x->mask];
        if (!s->p)
            return NULL;
        if (s->h == h) {
            *pos = k + 1;
            return s->p;
        }
    }
    return NULL;
}

int hidx_del(hidx *x, uint64_t h, const void *p)
{
    size_t i = (size_t)h & x->mask;
    while (x->slots[i].p != p) {
        if (!x->slots[i].p)
            return 0;
        i = (i + 1) & x->mask;
    }
    /* Backward shift: move later members of the cluster into the hole when their home allows. */
    size_t j = i;
    for (;;) {
        x->slots[i].p = NULL;
        for (;;) {
            j = (j + 1) & x->mask;
            if (!x->slots[j].p) {
                x->n--;
                return 1;
            }
            size_t home = (size_t)x->slots[j].h & x->mask;
            /* j's entry may fill hole i unless its home lies cyclically in (i, j]. */
            if (i <= j ? (home <= i || home > j) : (home <= i && home > j))
                break;
        }
        x->slots[i] = x->slots[j];
        i = j;
    }
}

size_t hidx_count(const hidx *x) { return x->n; }

void hidx_prefetch(const hidx *x, uint64_t h)
{
    const slot *s = __atomic_load_n(&x->slots, __ATOMIC_RELAXED);
    size_t mask = __atomic_load_n(&x->mask, __ATOMIC_RELAXED);
    __builtin_prefetch(&s[(size_t)h & mask]); /* never dereferenced: the array may be freed meanwhile */
}

size_t hidx_slots(const hidx *x) { return x->mask + 1; }

void *hidx_at(const hidx *x, size_t i) { return i <= x->mask ? x->slots[i].p : NULL; }

size_t hidx_bytes(const hidx *x) { return x ? sizeof *x + (x->mask + 1) * sizeof *x->slots : 0; }
