/* hist.h - a log-bucketed latency histogram (HdrHistogram-like): 2 significant digits, microseconds, 0 .. 60 s. */
#ifndef BENCH_HIST_H
#define BENCH_HIST_H

#include <stdint.h>

/* 256 sub-buckets per power of two, of which the upper 128 are used above the first: a value
 * lands in a bucket no wider than 1/128 of it, so any percentile is exact to < 1% (2 significant
 * digits). Counts are fixed-size, so recording never allocates and merging is a plain sum. */
#define HIST_SUB_BITS   8                              /* log2 of the sub-bucket count */
#define HIST_HALF       (1u << (HIST_SUB_BITS - 1))    /* 128 */
#define HIST_MAX_US     UINT64_C(60000000)             /* 60 s; larger values are clamped */
#define HIST_BUCKETS    19                             /* buckets above the first: 2^(18+8) > 60 s */
#define HIST_COUNTS     ((HIST_BUCKETS + 1) * HIST_HALF)

typedef struct hist {
    uint64_t counts[HIST_COUNTS];
    uint64_t total;
    uint64_t min;     /* exact, unclamped; UINT64_MAX when empty */
    uint64_t max;     /* exact, unclamped; 0 when empty */
    double   sum;     /* for the mean */
} hist;

void     hist_init(hist *h);
/* Record one value in microseconds. */
void     hist_record(hist *h, uint64_t us);
void     hist_record_n(hist *h, uint64_t us, uint64_t n);
/* dst += src. */
void     hist_merge(hist *dst, const hist *src);
/* The value at percentile p (0..100): the largest value that falls in the same bucket as the
 * p-th ranked sample, clamped to the exact min and max; 0 when empty. */
uint64_t hist_percentile(const hist *h, double p);
uint64_t hist_max(const hist *h);   /* 0 when empty */
uint64_t hist_min(const hist *h);   /* 0 when empty */
uint64_t hist_count(const hist *h);
double   hist_mean(const hist *h);  /* 0 when empty */

/* Bucket geometry, exposed for the unit tests: the lowest and highest value sharing v's bucket. */
uint64_t hist_lowest_equiv(uint64_t v);
uint64_t hist_highest_equiv(uint64_t v);

#endif
