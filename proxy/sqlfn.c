/* sqlfn.c - SQL functions litecached puts in place of SQLite's own: printf() and format() with bounded work. */
#include "sqlfn.h"

#include <stdio.h>
#include <string.h>

/* The SQL arguments after the format, handed out in order; past the last one a conversion gets
 * 0, 0.0 or NULL, as SQLite's printf does. */
typedef struct args {
    sqlite3_value **v;
    int             n, i;
} args;

static sqlite3_value *next_arg(args *a) { return a->i < a->n ? a->v[a->i++] : NULL; }
static int  int_arg(args *a) { sqlite3_value *v = next_arg(a); return v ? (int)sqlite3_value_int64(v) : 0; }
static sqlite3_int64 int64_arg(args *a) { sqlite3_value *v = next_arg(a); return v ? sqlite3_value_int64(v) : 0; }
static double double_arg(args *a) { sqlite3_value *v = next_arg(a); return v ? sqlite3_value_double(v) : 0.0; }
static const char *text_arg(args *a) { sqlite3_value *v = next_arg(a); return v ? (const char *)sqlite3_value_text(v) : NULL; }

/* One conversion as SQLite's printf reads it: %[-+ #!0,]*(width|*)?(.(precision|*))?(l|ll)?type. */
typedef struct spec {
    char c;          /* the conversion character; 0 when the format ends inside the spec */
    char flags[8];   /* each flag once ('-' as written, not from a negative star), '+' or ' ' last */
    int  left;       /* '-' (or a negative * width) */
    int  width;      /* 0 when none */
    int  precision;  /* -1 when none */
    int  nlong;      /* how many 'l' */
    int  star_w, star_p;
    int  sw, sp;     /* the star arguments as given: SQLite's C mode reads them again itself */
    const char *end; /* just past the conversion character */
} spec;

static int is_flag(char c) { return c && strchr("-+ #!0,", c) != NULL; }

/* Parse the spec after '%' at p. Stars take their values from the arguments, in SQLite's order. */
static void parse_spec(const char *p, args *a, spec *s)
{
    memset(s, 0, sizeof *s);
    s->precision = -1;
    char prefix = 0;
    for (; is_flag(*p); p++) {
        if (*p == '+' || *p == ' ')
            prefix = *p; /* both set one thing: the last one counts */
        else if (!strchr(s->flags, *p))
            s->flags[strlen(s->flags)] = *p;
        if (*p == '-')
            s->left = 1;
    }
    if (prefix)
        s->flags[strlen(s->flags)] = prefix;
    if (*p == '*') {
        s->star_w = 1;
        int w = s->sw = int_arg(a);
        if (w < 0) {
            s->left = 1;
            w = w >= -2147483647 ? -w : 0;
        }
        s->width = w;
        p++;
    } else if (*p >= '1' && *p <= '9') {
        unsigned wx = 0;
        for (; *p >= '0' && *p <= '9'; p++)
            wx = wx * 10 + (unsigned)(*p - '0');
        s->width = (int)(wx & 0x7fffffff);
    }
    if (*p == '.') {
        p++;
        if (*p == '*') {
            s->star_p = 1;
            int pr = s->sp = int_arg(a);
            s->precision = pr >= 0 ? pr : pr >= -2147483647 ? -pr : -1;
            p++;
        } else {
            unsigned px = 0;
            for (; *p >= '0' && *p <= '9'; p++)
                px = px * 10 + (unsigned)(*p - '0');
            s->precision = (int)(px & 0x7fffffff);
        }
    }
    for (; *p == 'l' && s->nlong < 2; p++)
        s->nlong++;
    s->c = *p;
    s->end = *p ? p + 1 : p;
}

/* %c as SQLite 3.40 writes it (printf.c, etCHARX in SQL mode), but its repetitions are appended
 * by doubling instead of one call per copy. */
static void put_char(sqlite3_str *out, const spec *s, const char *t)
{
    char buf[4];
    int length = 1;
    buf[0] = 0;
    if (t) {
        unsigned char c = (unsigned char)*t++;
        buf[0] = (char)c;
        if ((c & 0xc0) == 0xc0)
            while (length < 4 && (*t & 0xc0) == 0x80)
                buf[length++] = *t++;
    }
    int width = s->width, precision = s->precision;
    if (precision > 1) {
        width -= precision - 1;
        if (width > 1 && !s->left) {
            sqlite3_str_appendchar(out, width - 1, ' ');
            width = 0;
        }
        /* precision - 1 copies: one, then as many as are there already, up to the count. */
        sqlite3_int64 copies = precision - 1, done = 1;
        int start = sqlite3_str_length(out);
        sqlite3_str_append(out, buf, length);
        while (done < copies && sqlite3_str_errcode(out) == SQLITE_OK) {
            sqlite3_int64 n = done < copies - done ? done : copies - done;
            /* The source is inside the string, which the append may move: copy from a snapshot. */
            sqlite3_str_appendchar(out, (int)(n * length), 0);
            if (sqlite3_str_errcode(out) != SQLITE_OK)
                break;
            char *z = sqlite3_str_value(out);
            memcpy(z + start + done * length, z + start, (size_t)(n * length));
            done += n;
        }
    }
    /* adjust_width_for_utf8: %c always counts characters, not bytes. */
    if (width > 0)
        for (int i = length - 1; i >= 0; i--)
            if ((buf[i] & 0xc0) == 0x80)
                width++;
    width -= length;
    if (width > 0 && !s->left)
        sqlite3_str_appendchar(out, width, ' ');
    sqlite3_str_append(out, buf, length);
    if (width > 0 && s->left)
        sqlite3_str_appendchar(out, width, ' ');
}

/* Hand one conversion to SQLite's own formatter (C mode runs the same code), stars as int
 * arguments, with "ll" for the integer conversions (SQL arguments are 64-bit). */
static void put_delegated(sqlite3_str *out, const spec *s, args *a)
{
    /* Rebuilt rather than copied: a format may repeat its flags without end. */
    char cspec[64];
    size_t n = 0;
    cspec[n++] = '%';
    for (const char *f = s->flags; *f; f++)
        cspec[n++] = *f;
    if (s->star_w)
        cspec[n++] = '*';
    else if (s->width > 0)
        n += (size_t)snprintf(cspec + n, 12, "%d", s->width);
    if (s->star_p)
        cspec[n++] = '.', cspec[n++] = '*';
    else if (s->precision >= 0)
        n += (size_t)snprintf(cspec + n, 13, ".%d", s->precision);
    int is_int = strchr("diuoxXr", s->c) != NULL;
    if (is_int) {
        cspec[n++] = 'l';
        cspec[n++] = 'l';
    }
    cspec[n++] = s->c == 'z' ? 's' : s->c; /* C's %z would free its argument */
    cspec[n] = 0;
    int stars[2], ns = 0;
    if (s->star_w)
        stars[ns++] = s->sw;
    if (s->star_p)
        stars[ns++] = s->sp;
#define PUT(...) (ns == 0 ? sqlite3_str_appendf(out, cspec __VA_ARGS__) \
                  : ns == 1 ? sqlite3_str_appendf(out, cspec, stars[0] __VA_ARGS__) \
                            : sqlite3_str_appendf(out, cspec, stars[0], stars[1] __VA_ARGS__))
    if (s->c == '%')
        PUT();
    else if (is_int || s->c == 'p')
        PUT(, int64_arg(a));
    else if (strchr("feEgG", s->c))
        PUT(, double_arg(a));
    else /* s z q Q w */
        PUT(, text_arg(a));
#undef PUT
}

static void fn_printf(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
    if (argc < 1)
        return;
    const char *fmt = (const char *)sqlite3_value_text(argv[0]);
    if (!fmt)
        return;
    sqlite3 *db = sqlite3_context_db_handle(ctx);
    int limit = sqlite3_limit(db, SQLITE_LIMIT_LENGTH, -1);
    sqlite3_str *out = sqlite3_str_new(db);
    args a = {argv + 1, argc - 1, 0};
    int toobig = 0;
    for (const char *p = fmt; *p && sqlite3_str_errcode(out) == SQLITE_OK;) {
        if (*p != '%') {
            const char *q = strchr(p, '%');
            size_t n = q ? (size_t)(q - p) : strlen(p);
            sqlite3_str_append(out, p, (int)n);
            p += n;
            continue;
        }
        if (!p[1]) { /* a lone % at the very end is written as it is */
            sqlite3_str_append(out, "%", 1);
            break;
        }
        spec s;
        parse_spec(p + 1, &a, &s);
        if (!s.c || !strchr("diuoxXrpfeEgGszqQwcn%", s.c))
            break; /* SQLite stops at a conversion it does not know, and so do we */
        /* Padded to its width, or %c repeated to its precision, the conversion alone would outgrow
         * every string SQLite may make. (A precision elsewhere truncates, or SQLite sizes it at once.) */
        if ((s.width > limit && s.c != 'n') || (s.precision > limit && s.c == 'c')) {
            toobig = 1;
            break;
        }
        if (s.c == 'c')
            put_char(out, &s, text_arg(&a));
        else if (s.c == 'n') /* writes nothing, takes no argument; yet the result is '' now, not NULL */
            sqlite3_str_append(out, "", 0);
        else
            put_delegated(out, &s, &a);
        p = s.end;
    }
    int err = toobig ? SQLITE_TOOBIG : sqlite3_str_errcode(out);
    int len = sqlite3_str_length(out);
    char *z = sqlite3_str_finish(out);
    if (err == SQLITE_TOOBIG)
        sqlite3_result_error_toobig(ctx);
    else if (err != SQLITE_OK)
        sqlite3_result_error_nomem(ctx);
    else if (z) /* nothing written at all is NULL, as SQLite's printf gives */
        sqlite3_result_text(ctx, z, len, SQLITE_TRANSIENT);
    sqlite3_free(z);
}

int sqlfn_install(sqlite3 *db)
{
    int flags = SQLITE_UTF8 | SQLITE_DETERMINISTIC;
    int rc = sqlite3_create_function(db, "printf", -1, flags, NULL, fn_printf, NULL, NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_create_function(db, "format", -1, flags, NULL, fn_printf, NULL, NULL);
    return rc;
}
