/* test_hist.c - the latency histogram: bucket error bound, percentiles of known distributions, merge, extremes, empty. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>

#include "hist.h"

static hist *h;

static int setup(void **state)
{
    (void)state;
    h = malloc(sizeof *h);
    if (!h)
        return -1;
    hist_init(h);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    free(h);
    return 0;
}

/* |got - want| <= want / 128 (the relative width of a bucket), or 1 below 256 where buckets are exact. */
static void assert_close(uint64_t got, uint64_t want)
{
    uint64_t tol = want / 128 + 1;
    uint64_t d = got > want ? got - want : want - got;
    if (d > tol)
        fail_msg("got %llu, want %llu (+/- %llu)", (unsigned long long)got, (unsigned long long)want,
                 (unsigned long long)tol);
}

static void test_empty(void **state)
{
    (void)state;
    assert_int_equal(hist_count(h), 0);
    assert_int_equal(hist_percentile(h, 50), 0);
    assert_int_equal(hist_percentile(h, 99.9), 0);
    assert_int_equal(hist_max(h), 0);
    assert_int_equal(hist_min(h), 0);
    assert_true(hist_mean(h) == 0.0);
}

/* Every value maps to a bucket that contains it and is at most 1/128 of it wide (exact below 256). */
static void test_bucket_bounds(void **state)
{
    (void)state;
    for (uint64_t v = 0; v < HIST_MAX_US; v = v < 1000 ? v + 1 : v + v / 97 + 1) {
        uint64_t lo = hist_lowest_equiv(v), hi = hist_highest_equiv(v);
        assert_true(lo <= v && v <= hi);
        if (v < 256)
            assert_true(lo == v && hi == v);
        else
            assert_true((hi - lo + 1) * 128 <= lo);
        /* neighbours: the next bucket starts right after this one */
        if (hi + 1 <= HIST_MAX_US)
            assert_int_equal(hist_lowest_equiv(hi + 1), hi + 1);
    }
}

/* 1..100000 once each: the p-th percentile is p * 1000 within the bucket bound. */
static void test_uniform_percentiles(void **state)
{
    (void)state;
    for (uint64_t v = 1; v <= 100000; v++)
        hist_record(h, v);
    assert_int_equal(hist_count(h), 100000);
    assert_close(hist_percentile(h, 50), 50000);
    assert_close(hist_percentile(h, 90), 90000);
    assert_close(hist_percentile(h, 99), 99000);
    assert_close(hist_percentile(h, 99.9), 99900);
    assert_int_equal(hist_percentile(h, 100), 100000);
    assert_int_equal(hist_max(h), 100000);
    assert_int_equal(hist_min(h), 1);
    assert_int_equal(hist_percentile(h, 0), 1);
    assert_true(hist_mean(h) > 50000.4 && hist_mean(h) < 50000.6);
}

/* A bimodal distribution: 99% at 100 us, 1% at 10 ms; p99 is still the fast mode, p99.5 the slow one. */
static void test_bimodal(void **state)
{
    (void)state;
    hist_record_n(h, 100, 9900);
    hist_record_n(h, 10000, 100);
    assert_int_equal(hist_percentile(h, 50), 100);
    assert_int_equal(hist_percentile(h, 99), 100);
    assert_close(hist_percentile(h, 99.5), 10000);
    assert_int_equal(hist_percentile(h, 100), 10000);
}

/* Small values are exact (1 us resolution). */
static void test_small_exact(void **state)
{
    (void)state;
    for (uint64_t v = 0; v < 200; v++)
        hist_record(h, v);
    assert_int_equal(hist_percentile(h, 50), 99);
    assert_int_equal(hist_percentile(h, 100), 199);
    assert_int_equal(hist_min(h), 0);
}

static void test_merge(void **state)
{
    (void)state;
    hist *b = malloc(sizeof *b);
    assert_non_null(b);
    hist_init(b);
    for (uint64_t v = 1; v <= 50000; v++)
        hist_record(h, v);
    for (uint64_t v = 50001; v <= 100000; v++)
        hist_record(b, v);
    hist_merge(h, b);
    assert_int_equal(hist_count(h), 100000);
    assert_close(hist_percentile(h, 50), 50000);
    assert_close(hist_percentile(h, 75), 75000);
    assert_int_equal(hist_max(h), 100000);
    assert_int_equal(hist_min(h), 1);
    /* merging an empty histogram changes nothing, min included */
    hist_init(b);
    hist_merge(h, b);
    assert_int_equal(hist_count(h), 100000);
    assert_int_equal(hist_min(h), 1);
    /* merging into an empty one copies */
    hist_merge(b, h);
    assert_int_equal(hist_count(b), 100000);
    assert_int_equal(hist_percentile(b, 50), hist_percentile(h, 50));
    free(b);
}

/* Values past 60 s are clamped into the last bucket but max stays exact; 0 is recordable. */
static void test_extremes(void **state)
{
    (void)state;
    hist_record(h, 0);
    hist_record(h, HIST_MAX_US / 2);
    hist_record(h, UINT64_C(1) << 40);
    assert_int_equal(hist_count(h), 3);
    assert_int_equal(hist_min(h), 0);
    assert_int_equal(hist_max(h), UINT64_C(1) << 40);
    assert_int_equal(hist_percentile(h, 0), 0);
    assert_close(hist_percentile(h, 60), HIST_MAX_US / 2);
    /* everything from 60 s up shares the last bucket, which answers the exact max */
    assert_int_equal(hist_percentile(h, 90), UINT64_C(1) << 40);
    assert_int_equal(hist_percentile(h, 100), UINT64_C(1) << 40);
    /* a single value: every percentile is that value exactly */
    hist_init(h);
    hist_record(h, 123457);
    assert_int_equal(hist_percentile(h, 0), 123457);
    assert_int_equal(hist_percentile(h, 50), 123457);
    assert_int_equal(hist_percentile(h, 100), 123457);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_empty, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bucket_bounds, setup, teardown),
        cmocka_unit_test_setup_teardown(test_uniform_percentiles, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bimodal, setup, teardown),
        cmocka_unit_test_setup_teardown(test_small_exact, setup, teardown),
        cmocka_unit_test_setup_teardown(test_merge, setup, teardown),
        cmocka_unit_test_setup_teardown(test_extremes, setup, teardown),
    };
    return cmocka_run_group_tests_name("hist", tests, NULL, NULL);
}
