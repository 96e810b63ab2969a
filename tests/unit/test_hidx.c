/* test_hidx.c - the hot map's index: adds, finds, deletes (backward shift across clusters and the wrap), growth, shared hashes, against a plain reference. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>

#include "hidx.h"

/* Every pointer stored under h, counted; 1 when p is among them. */
static int holds(hidx *x, uint64_t h, const void *p, int *n)
{
    size_t pos = 0;
    void *q;
    int found = 0;
    *n = 0;
    while ((q = hidx_next(x, h, &pos))) {
        (*n)++;
        found |= q == p;
    }
    return found;
}

static void test_basic(void **state)
{
    (void)state;
    hidx *x = hidx_new();
    assert_non_null(x);
    int a, b, c, n;
    assert_int_equal(hidx_add(x, 7, &a), 0);
    assert_int_equal(hidx_add(x, 7, &b), 0); /* a shared hash: both are candidates */
    assert_int_equal(hidx_add(x, 7 + 64, &c), 0); /* same home slot, other hash */
    assert_true(holds(x, 7, &a, &n) && n == 2);
    assert_true(holds(x, 7, &b, &n) && n == 2);
    assert_true(holds(x, 7 + 64, &c, &n) && n == 1);
    assert_false(holds(x, 8, &a, &n));
    assert_int_equal(n, 0);
    assert_int_equal(hidx_del(x, 7, &a), 1);
    assert_int_equal(hidx_del(x, 7, &a), 0);
    assert_true(holds(x, 7, &b, &n) && n == 1);
    assert_true(holds(x, 7 + 64, &c, &n) && n == 1); /* shifted back, still found */
    assert_int_equal(hidx_count(x), 2);
    assert_true(hidx_bytes(x) > 0);
    hidx_free(x);
}

/* Hashes from a small range make long clusters, wrapping around the end of the array. */
static void test_random_against_reference(void **state)
{
    (void)state;
    enum { N = 5000 };
    static uint64_t hs[N];
    static char in[N], items[N];
    hidx *x = hidx_new();
    assert_non_null(x);
    srand(42);
    size_t count = 0;
    for (int round = 0; round < 200000; round++) {
        int i = rand() % N;
        if (!in[i]) {
            hs[i] = (rand() % 4 == 0) ? (uint64_t)(rand() % 8) : ((uint64_t)rand() << 32 | (uint64_t)rand());
            assert_int_equal(hidx_add(x, hs[i], &items[i]), 0);
            in[i] = 1;
            count++;
        } else {
            assert_int_equal(hidx_del(x, hs[i], &items[i]), 1);
            in[i] = 0;
            count--;
        }
        if (round % 10000 == 0)
            for (int k = 0; k < N; k++) {
                int n;
                assert_int_equal(holds(x, in[k] ? hs[k] : 0xdeadbeefULL, &items[k], &n), in[k]);
            }
    }
    assert_int_equal(hidx_count(x), count);
    hidx_free(x);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_basic),
        cmocka_unit_test(test_random_against_reference),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
