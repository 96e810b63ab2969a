/* fuzz_check.h - the harnesses' one assertion: CHECK(c) prints the failed invariant and aborts. */
#ifndef LC_FUZZ_CHECK_H
#define LC_FUZZ_CHECK_H

#include <stdio.h>
#include <stdlib.h>

/* abort() rather than assert(): the check must survive -DNDEBUG builds of the harness. */
#define CHECK(c)                                                                         \
    do {                                                                                 \
        if (!(c)) {                                                                      \
            fprintf(stderr, "%s:%d: invariant failed: %s\n", __FILE__, __LINE__, #c);    \
            abort();                                                                     \
        }                                                                                \
    } while (0)

#endif
