/* backup.h - consistent online copies of the database with SQLite's backup API. */
#ifndef LC_BACKUP_H
#define LC_BACKUP_H

#include <stddef.h>
#include <stdint.h>

/* Copy the database at src into dst as one consistent snapshot, while others keep writing. The
 * copy goes to dst.tmp and is renamed into place, so dst is never a half copy. Returns 0, or -1
 * with a message in err. */
int backup_copy(const char *src, const char *dst, int busy_ms, int64_t *bytes, char *err, size_t errlen);

/* A name BACKUP accepts: letters, digits, '.', '_', '-'; no '/', not "." or "..", not empty. */
int backup_name_ok(const char *name, size_t len);

#endif
