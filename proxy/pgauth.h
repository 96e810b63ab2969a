/* pgauth.h - PostgreSQL users: the users_file (user, role, SCRAM verifier), loaded once at start-up and read-only after. */
#ifndef LC_PGAUTH_H
#define LC_PGAUTH_H

#include <stddef.h>

typedef struct pgauth pgauth;

/* What a user may do; enforced by a later issue, stored now. */
enum pgauth_role { PGAUTH_ADMIN = 0, PGAUTH_READWRITE = 1, PGAUTH_READONLY = 2 };

typedef struct pgauth_user {
    const char      *name;
    enum pgauth_role role;
    const char      *verifier; /* SCRAM-SHA-256$<iter>:<salt>$<StoredKey>:<ServerKey> */
} pgauth_user;

/* Load path (NULL or "" = nobody): lines "<user> <role> <verifier>", blank lines and # comments
 * allowed. Returns NULL with "file:line: problem" in err. */
pgauth *pgauth_load(const char *path, char *err, size_t errlen);
/* The same from text in memory (tests); name is used in messages. */
pgauth *pgauth_parse(const char *text, size_t len, const char *name, char *err, size_t errlen);
void    pgauth_free(pgauth *a);
/* The user, or NULL when unknown. */
const pgauth_user *pgauth_find(const pgauth *a, const char *user);
size_t  pgauth_count(const pgauth *a);
const char *pgauth_role_name(enum pgauth_role r);

#endif
