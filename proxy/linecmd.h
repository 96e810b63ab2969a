/* linecmd.h - the line protocol session: commands (CALL, PREPARE, BATCH, FORMAT, …) and SQL lines, routed to a reader or the writer. */
#ifndef LC_LINECMD_H
#define LC_LINECMD_H

#include "conn.h"

extern const conn_proto linecmd_proto;

#endif
