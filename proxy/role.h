/* role.h - what a client may do: the three roles of users_file, most privileged first. */
#ifndef LC_ROLE_H
#define LC_ROLE_H

/* Ordered: a role may do everything a smaller value may. Zero is the least privilege, so a
 * structure someone forgot to fill in grants nothing. */
enum role {
    ROLE_READONLY = 0,  /* reads, cache reads, GET/TTL */
    ROLE_READWRITE = 1, /* reads and DML, the key-value tier, transactions */
    ROLE_ADMIN = 2,     /* everything: DDL, admin PRAGMAs, BACKUP, CACHE FLUSH/KEYS/QUERY */
};

/* "admin", "readwrite", "readonly". */
static inline const char *role_name(enum role r)
{
    return r == ROLE_ADMIN ? "admin" : r == ROLE_READWRITE ? "readwrite" : r == ROLE_READONLY ? "readonly" : "?";
}

#endif
