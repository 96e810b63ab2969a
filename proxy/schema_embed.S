/* schema_embed.S - the SQL files of schema/ embedded read-only and NUL-terminated, for schema.c. */

/* Paths are relative to the repository root, where make runs the compiler; GNU as resolves
 * .incbin against its working directory. */
#define SCHEMA_EMBED(sym, path) \
    .global sym;                \
    .type sym, @object;         \
    .balign 8;                  \
sym:                            \
    .incbin path;               \
    .byte 0;                    \
    .size sym, . - sym

    .section .rodata
SCHEMA_EMBED(schema_sql_001_tables, "schema/001_tables.sql")
SCHEMA_EMBED(schema_sql_002_stats, "schema/002_stats.sql")
SCHEMA_EMBED(schema_sql_queries, "schema/queries.sql")

/* No executable stack: without this note the linker assumes one is needed and warns. */
    .section .note.GNU-stack,"",@progbits
