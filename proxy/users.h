/* users.h - who may connect: the users_file (user, role, SCRAM verifier), read at start-up and on reload, read-only after. */
#ifndef LC_USERS_H
#define LC_USERS_H

#include <stddef.h>

#include "role.h"

typedef struct users_list users_list;

typedef struct users_entry {
    const char      *name;
    enum role        role;
    const char      *verifier; /* SCRAM-SHA-256$<iter>:<salt>$<StoredKey>:<ServerKey> */
} users_entry;

/* Load path (NULL or "" = nobody): lines "<user> <role> <verifier>", blank lines and # comments
 * allowed. Returns NULL with "file:line: problem" in err. */
users_list *users_load(const char *path, char *err, size_t errlen);
/* The same from text in memory (tests); name is used in messages. */
users_list *users_parse(const char *text, size_t len, const char *name, char *err, size_t errlen);
void        users_free(users_list *a);
/* The user, or NULL when unknown. */
const users_entry *users_find(const users_list *a, const char *user);
size_t      users_count(const users_list *a);

#endif
