/* fuzz_sqlfn.c - libFuzzer harness for litecached's printf(): any format and arguments give what SQLite's own printf gives (differential), or the too-big error where SQLite's quietly gives NULL. */
#include <math.h>
#include <sqlite3.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sqlfn.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#include "fuzz_check.h"

#define LIMIT 20000 /* SQLITE_LIMIT_LENGTH on both: SQLite's own %c loop stays quick below it */

static sqlite3 *theirs, *ours;
static sqlite3_stmt *st_theirs, *st_ours;

static void open_both(void)
{
    const char *sql = "SELECT printf(?1, ?2, ?3, ?4, ?5)";
    CHECK(sqlite3_open(":memory:", &theirs) == SQLITE_OK && sqlite3_open(":memory:", &ours) == SQLITE_OK);
    CHECK(sqlfn_install(ours) == SQLITE_OK);
    sqlite3_limit(theirs, SQLITE_LIMIT_LENGTH, LIMIT);
    sqlite3_limit(ours, SQLITE_LIMIT_LENGTH, LIMIT);
    CHECK(sqlite3_prepare_v2(theirs, sql, -1, &st_theirs, NULL) == SQLITE_OK);
    CHECK(sqlite3_prepare_v2(ours, sql, -1, &st_ours, NULL) == SQLITE_OK);
}

/* Input: a format, then after a NUL up to four arguments "kind byte + 8 bytes": numbers are kept
 * under LIMIT (a width or precision from an argument past it is slow in SQLite's own, the bug
 * fixed), and text that reads as a number stops the arguments there. */
static void bind_all(sqlite3_stmt *st, const char *fmt, size_t flen, const uint8_t *a, size_t alen)
{
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    sqlite3_bind_text(st, 1, fmt, (int)flen, SQLITE_STATIC);
    for (int i = 0; i < 4 && alen >= 9; i++, a += 9, alen -= 9) {
        int64_t v;
        memcpy(&v, a + 1, 8);
        switch (a[0] % 4) {
        case 0: sqlite3_bind_int64(st, i + 2, v % LIMIT); break; /* within (-LIMIT, LIMIT) */
        case 1: sqlite3_bind_double(st, i + 2, fmod((double)v / 1e6, LIMIT)); break;
        case 2: /* text, but never read as a big number by a star */
            if (strchr("0123456789+-. \t\n\r\f\v", a[1]))
                return;
            sqlite3_bind_text(st, i + 2, (const char *)a + 1, 8, SQLITE_STATIC);
            break;
        default: sqlite3_bind_null(st, i + 2); break;
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!theirs)
        open_both();
    const uint8_t *nul = memchr(data, 0, size);
    size_t flen = nul ? (size_t)(nul - data) : size;
    /* Digits written in the format itself are not bounded by the argument trick: skip long runs. */
    for (size_t i = 0, run = 0; i < flen; i++) {
        run = data[i] >= '0' && data[i] <= '9' ? run + 1 : 0;
        if (run > 4)
            return 0;
    }
    const uint8_t *args = nul ? nul + 1 : data + size;
    size_t alen = (size_t)(data + size - args);
    bind_all(st_theirs, (const char *)data, flen, args, alen);
    bind_all(st_ours, (const char *)data, flen, args, alen);
    int rt = sqlite3_step(st_theirs), ro = sqlite3_step(st_ours);
    CHECK(rt == SQLITE_ROW);
    if (ro != SQLITE_ROW) {
        /* Ours says too big where theirs gave NULL after overflowing. */
        CHECK(ro == SQLITE_TOOBIG && sqlite3_column_type(st_theirs, 0) == SQLITE_NULL);
        return 0;
    }
    int tt = sqlite3_column_type(st_theirs, 0), to = sqlite3_column_type(st_ours, 0);
    CHECK(tt == to);
    if (tt == SQLITE_TEXT) {
        int nt = sqlite3_column_bytes(st_theirs, 0), no = sqlite3_column_bytes(st_ours, 0);
        CHECK(nt == no);
        CHECK(nt == 0 || memcmp(sqlite3_column_blob(st_theirs, 0), sqlite3_column_blob(st_ours, 0), (size_t)nt) == 0);
    }
    return 0;
}
