/* check.h - --check-config beyond the settings: the files the configuration names are there and make sense. */
#ifndef LC_CHECK_H
#define LC_CHECK_H

#include <stddef.h>

#include "config.h"

/* Check what a start would trip over: db_path's directory exists; backup_dir, if it exists, is a
 * directory; log_file can be appended to; every query_files file parses and each named query plans
 * against a scratch copy of the schema (the shipped one, plus the tables, views and triggers of
 * db_path when it exists). Writes nothing the server uses. Returns 0, or -1 with the first
 * problem in err ("file:line: name: problem" for a named query). */
int check_config_files(const config *cfg, char *err, size_t errlen);

#endif
