/* test_zipf.c - the Zipf sampler: top-rank frequencies match k^-s / H(n,s), uniform at s = 0, range, determinism. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdlib.h>

#include "zipf.h"

#define DRAWS 1000000

/* Draw DRAWS ranks and compare the frequency of ranks 1..top with the exact probability.
 * A binomial frequency has standard deviation sqrt(p(1-p)/N); 5 of them is a tolerance that a
 * correct sampler fails with a chance of about 1e-6 per check, and a wrong one does not pass. */
static void check_top(uint64_t n, double s, int top, uint64_t seed)
{
    uint64_t *count = calloc((size_t)top + 1, sizeof *count);
    assert_non_null(count);
    zipf z;
    zipf_init(&z, n, s, seed);
    for (int i = 0; i < DRAWS; i++) {
        uint64_t k = zipf_next(&z);
        assert_true(k >= 1 && k <= n);
        if (k <= (uint64_t)top)
            count[k]++;
    }
    for (int k = 1; k <= top; k++) {
        double p = zipf_prob(n, s, (uint64_t)k);
        double f = (double)count[k] / DRAWS;
        double tol = 5 * sqrt(p * (1 - p) / DRAWS) + 1e-9;
        if (fabs(f - p) > tol)
            fail_msg("n=%llu s=%g rank %d: frequency %.6f, expected %.6f +/- %.6f",
                     (unsigned long long)n, s, k, f, p, tol);
    }
    free(count);
}

static void test_s099(void **state)  { (void)state; check_top(10000, 0.99, 10, 1); }
static void test_s1(void **state)    { (void)state; check_top(1000, 1.0, 10, 2); }
static void test_s12(void **state)   { (void)state; check_top(100000, 1.2, 10, 3); }
static void test_s05(void **state)   { (void)state; check_top(1000, 0.5, 10, 4); }
static void test_small_n(void **state) { (void)state; check_top(3, 1.0, 3, 5); }

/* s = 0: every rank equally likely; a chi-square over 100 ranks stays well under its 99.9% point. */
static void test_uniform(void **state)
{
    (void)state;
    enum { N = 100 };
    uint64_t count[N + 1] = {0};
    zipf z;
    zipf_init(&z, N, 0.0, 7);
    for (int i = 0; i < DRAWS; i++) {
        uint64_t k = zipf_next(&z);
        assert_true(k >= 1 && k <= N);
        count[k]++;
    }
    double e = (double)DRAWS / N, chi2 = 0;
    for (int k = 1; k <= N; k++)
        chi2 += (count[k] - e) * (count[k] - e) / e;
    if (chi2 > 148.2)   /* chi-square, 99 degrees of freedom, p = 0.001 */
        fail_msg("chi-square %.1f over 100 uniform ranks", chi2);
}

/* The same seed gives the same stream; a different seed does not. */
static void test_deterministic(void **state)
{
    (void)state;
    zipf a, b, c;
    zipf_init(&a, 1000000, 0.99, 42);
    zipf_init(&b, 1000000, 0.99, 42);
    zipf_init(&c, 1000000, 0.99, 43);
    int same_c = 0;
    for (int i = 0; i < 1000; i++) {
        uint64_t x = zipf_next(&a), y = zipf_next(&b), w = zipf_next(&c);
        assert_int_equal(x, y);
        same_c += x == w;
    }
    assert_true(same_c < 900);
}

static void test_n1(void **state)
{
    (void)state;
    zipf z;
    zipf_init(&z, 1, 1.0, 9);
    for (int i = 0; i < 100; i++)
        assert_int_equal(zipf_next(&z), 1);
}

static void test_rng_below(void **state)
{
    (void)state;
    zipf_rng r;
    zipf_rng_seed(&r, 11);
    for (int i = 0; i < 100000; i++) {
        assert_true(zipf_rng_below(&r, 7) < 7);
        double d = zipf_rng_double(&r);
        assert_true(d >= 0.0 && d < 1.0);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_s099),
        cmocka_unit_test(test_s1),
        cmocka_unit_test(test_s12),
        cmocka_unit_test(test_s05),
        cmocka_unit_test(test_small_n),
        cmocka_unit_test(test_uniform),
        cmocka_unit_test(test_deterministic),
        cmocka_unit_test(test_n1),
        cmocka_unit_test(test_rng_below),
    };
    return cmocka_run_group_tests_name("zipf", tests, NULL, NULL);
}
