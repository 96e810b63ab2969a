/* zipf.h - a seeded PRNG and a Zipf(n, s) sampler by rejection-inversion (Hörmann & Derflinger 1996). */
#ifndef BENCH_ZIPF_H
#define BENCH_ZIPF_H

#include <stdint.h>

/* xoshiro256**: fast, small state, and the same stream for the same seed on every machine,
 * so a benchmark run can be repeated key for key. */
typedef struct zipf_rng {
    uint64_t s[4];
} zipf_rng;

void     zipf_rng_seed(zipf_rng *r, uint64_t seed);
uint64_t zipf_rng_next(zipf_rng *r);
double   zipf_rng_double(zipf_rng *r);               /* uniform in [0, 1) */
uint64_t zipf_rng_below(zipf_rng *r, uint64_t n);    /* uniform in [0, n), n > 0 */

/* Ranks 1..n with P(k) proportional to k^-s. s = 0 is uniform. Rejection-inversion needs O(1)
 * memory and time per draw whatever n is (no table of n harmonic numbers), which matters for
 * key spaces of millions. */
typedef struct zipf {
    uint64_t n;
    double   s;
    double   h_x1, h_n, sdiv;   /* precomputed constants of the method */
    zipf_rng rng;
} zipf;

void     zipf_init(zipf *z, uint64_t n, double s, uint64_t seed);
uint64_t zipf_next(zipf *z);                          /* a rank in 1..n */
/* The exact probability of rank k (sums n terms once per call: for tests and sizing only). */
double   zipf_prob(uint64_t n, double s, uint64_t k);

#endif
