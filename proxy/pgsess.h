/* pgsess.h - the PostgreSQL protocol session (v3): psql, libpq, JDBC, psycopg2 and node-postgres clients on the same port as the line protocol, through the same cache and writer. */
#ifndef LC_PGSESS_H
#define LC_PGSESS_H

#include "conn.h"

/* conn.c picks it for a connection whose first byte is 0 (every startup packet's is), or for
 * every connection on pg_port. */
extern const conn_proto pgsess_proto;

#endif
