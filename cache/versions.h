/* versions.h - table names to ids, and the version counters that decide whether a cached result is still current. Internal to cache/. */
#ifndef LC_VERSIONS_H
#define LC_VERSIONS_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "cache.h"

#define VERS_MAX_TABLES 4096 /* distinct table names; beyond, cache_table_id returns -1 */

typedef struct vers vers;

vers *vers_new(void);
void  vers_free(vers *v);

/* Stable id of a name, ASCII case-insensitive; -1 when the registry is full. Takes the name lock. */
int  vers_table_id(vers *v, const char *name, size_t len);
void vers_snapshot(vers *v, const int *ids, int n, cache_snap *out);
void vers_bump(vers *v, const int *ids, int n);
void vers_bump_all(vers *v);
/* The stamp of the latest bump (versions and the epoch are such stamps): every bump it covers is visible. */
uint64_t vers_stamp(vers *v);
/* The newest of a snapshot's versions and its epoch. */
uint64_t vers_snap_newest(const cache_snap *s);
/* 1 when every version and the epoch still equal the current ones (lock-free, acquire loads). */
int  vers_fresh(vers *v, const int *ids, const uint64_t *vs, int n, uint64_t epoch);
/* 1 when the snapshot is well formed: n in range, every id registered. */
int  vers_valid(vers *v, const cache_snap *s);

/* "id:version,...;epoch" (what tier 2 keeps to re-check a row) and its parser (0, or -1). */
void vers_snap_text(const cache_snap *s, buf *out);
int  vers_snap_parse(const char *p, size_t n, cache_snap *out);
/* "name:version,...;epoch", for an operator reading tier 2. */
void vers_names_text(vers *v, const cache_snap *s, buf *out);

#endif
