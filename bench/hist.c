/* hist.c - the latency histogram: HdrHistogram's bucket layout with fixed precision and range. */
#include "hist.h"

#include <string.h>

/* Bucket b (b >= 1) holds values in [2^(b+7), 2^(b+8)) with a step of 2^b; bucket 0 holds
 * 0..255 with a step of 1. The index arithmetic is HdrHistogram's: count index =
 * (bucket + 1) * 128 + (sub - 128), where sub = v >> bucket lies in [128, 256) above bucket 0. */
static int bucket_of(uint64_t v)
{
    return (63 - __builtin_clzll(v | ((1u << HIST_SUB_BITS) - 1))) - (HIST_SUB_BITS - 1);
}

static uint64_t clampv(uint64_t v)
{
    return v > HIST_MAX_US ? HIST_MAX_US : v;
}

static unsigned index_of(uint64_t v)
{
    v = clampv(v);
    int b = bucket_of(v);
    uint64_t sub = v >> b;
    return (unsigned)(((uint64_t)(b + 1) << (HIST_SUB_BITS - 1)) + (sub - HIST_HALF));
}

/* Inverse of index_of: the lowest value of count index i. */
static uint64_t value_of(unsigned i)
{
    int b = (int)(i >> (HIST_SUB_BITS - 1)) - 1;
    uint64_t sub = (i & (HIST_HALF - 1)) + HIST_HALF;
    if (b < 0) {          /* the lower half of bucket 0 */
        sub -= HIST_HALF;
        b = 0;
    }
    return sub << b;
}

static uint64_t width_of(unsigned i)
{
    int b = (int)(i >> (HIST_SUB_BITS - 1)) - 1;
    return (uint64_t)1 << (b < 0 ? 0 : b);
}

uint64_t hist_lowest_equiv(uint64_t v)
{
    return value_of(index_of(v));
}

uint64_t hist_highest_equiv(uint64_t v)
{
    unsigned i = index_of(v);
    return value_of(i) + width_of(i) - 1;
}

void hist_init(hist *h)
{
    memset(h, 0, sizeof *h);
    h->min = UINT64_MAX;
}

void hist_record_n(hist *h, uint64_t us, uint64_t n)
{
    if (n == 0)
        return;
    h->counts[index_of(us)] += n;
    h->total += n;
    h->sum += (double)us * (double)n;
    if (us < h->min)
        h->min = us;
    if (us > h->max)
        h->max = us;
}

void hist_record(hist *h, uint64_t us)
{
    hist_record_n(h, us, 1);
}

void hist_merge(hist *dst, const hist *src)
{
    if (src->total == 0)
        return;
    for (unsigned i = 0; i < HIST_COUNTS; i++)
        dst->counts[i] += src->counts[i];
    dst->total += src->total;
    dst->sum += src->sum;
    if (src->min < dst->min)
        dst->min = src->min;
    if (src->max > dst->max)
        dst->max = src->max;
}

uint64_t hist_percentile(const hist *h, double p)
{
    if (h->total == 0)
        return 0;
    if (p < 0)
        p = 0;
    if (p > 100)
        p = 100;
    /* The rank of the sample at p, 1-based, rounded up the way HdrHistogram does (at least 1). */
    double want = p / 100.0 * (double)h->total;
    uint64_t rank = (uint64_t)want;
    if ((double)rank < want)
        rank++;
    if (rank < 1)
        rank = 1;
    uint64_t seen = 0;
    for (unsigned i = 0; i < HIST_COUNTS; i++) {
        seen += h->counts[i];
        if (seen >= rank) {
            /* the bucket of the max (past 60 s: of every clamped value) answers the exact max */
            if (i == index_of(h->max))
                return h->max;
            uint64_t v = value_of(i) + width_of(i) - 1;
            if (v > h->max)
                v = h->max;
            if (v < h->min)
                v = h->min;
            return v;
        }
    }
    return h->max;
}

uint64_t hist_max(const hist *h)
{
    return h->total ? h->max : 0;
}

uint64_t hist_min(const hist *h)
{
    return h->total ? h->min : 0;
}

uint64_t hist_count(const hist *h)
{
    return h->total;
}

double hist_mean(const hist *h)
{
    return h->total ? h->sum / (double)h->total : 0.0;
}
