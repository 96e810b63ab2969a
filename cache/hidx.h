/* hidx.h - an open-addressing index of pointers by 64-bit hash: the hot map's lookup structure (one probe of adjacent slots instead of a walk through scattered entries). */
#ifndef LC_HIDX_H
#define LC_HIDX_H

#include <stddef.h>
#include <stdint.h>

typedef struct hidx hidx;

/* An empty index; NULL when out of memory. */
hidx  *hidx_new(void);
void   hidx_free(hidx *x);
/* Add p under hash h (several pointers may share a hash). 0, or -1 when the index cannot grow. */
int    hidx_add(hidx *x, uint64_t h, void *p);
/* The pointers stored under h, one per call: start with *pos = 0; NULL when there are no more.
 * The caller compares its keys: equal hashes are candidates, not matches. */
void  *hidx_next(const hidx *x, uint64_t h, size_t *pos);
/* Remove p, stored under h. 1 removed, 0 not there. */
int    hidx_del(hidx *x, uint64_t h, const void *p);
size_t hidx_count(const hidx *x);
/* A hint to load the slot where h's probe starts. Safe without the owner's lock (it reads the
 * slot array's address atomically, and prefetching a stale one does no harm). */
void   hidx_prefetch(const hidx *x, uint64_t h);
/* For scans: the number of slots, and the pointer in slot i (NULL when empty). A deletion may
 * move a later pointer into an earlier slot, and a growth reorders all: a scan that deletes as it
 * goes may miss some pointers or see some twice, never a freed one. */
size_t hidx_slots(const hidx *x);
void  *hidx_at(const hidx *x, size_t i);
/* Bytes the index itself takes (its header and slot array). */
size_t hidx_bytes(const hidx *x);

#endif
