/* zipf.c - xoshiro256** and the rejection-inversion Zipf sampler (as in Apache Commons RNG). */
#include "zipf.h"

#include <math.h>

static uint64_t rotl(uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}

/* splitmix64 spreads a small seed over the 256-bit state, as xoshiro's authors recommend. */
void zipf_rng_seed(zipf_rng *r, uint64_t seed)
{
    for (int i = 0; i < 4; i++) {
        uint64_t z = (seed += UINT64_C(0x9e3779b97f4a7c15));
        z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
        z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
        r->s[i] = z ^ (z >> 31);
    }
}

uint64_t zipf_rng_next(zipf_rng *r)
{
    uint64_t *s = r->s;
    uint64_t result = rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
}

double zipf_rng_double(zipf_rng *r)
{
    return (double)(zipf_rng_next(r) >> 11) * 0x1.0p-53;
}

/* Lemire's multiply-shift; the tiny bias (n / 2^64) does not matter for key choice. */
uint64_t zipf_rng_below(zipf_rng *r, uint64_t n)
{
    return (uint64_t)(((unsigned __int128)zipf_rng_next(r) * n) >> 64);
}

/* log(1+x)/x and (exp(x)-1)/x, accurate near 0 where s is close to 1. */
static double helper1(double x)
{
    return fabs(x) > 1e-8 ? log1p(x) / x : 1.0 - x * (0.5 - x * (1.0 / 3.0 - 0.25 * x));
}

static double helper2(double x)
{
    return fabs(x) > 1e-8 ? expm1(x) / x : 1.0 + x * 0.5 * (1.0 + x * (1.0 / 3.0) * (1.0 + 0.25 * x));
}

/* H(x) = integral of x^-s, shifted so that it is continuous at s = 1: (x^(1-s) - 1) / (1 - s). */
static double h_integral(double x, double s)
{
    double lx = log(x);
    return helper2((1.0 - s) * lx) * lx;
}

static double h(double x, double s)
{
    return exp(-s * log(x));
}

static double h_integral_inv(double x, double s)
{
    double t = x * (1.0 - s);
    if (t < -1.0)
        t = -1.0;   /* rounding can push it just past the domain */
    return exp(helper1(t) * x);
}

void zipf_init(zipf *z, uint64_t n, double s, uint64_t seed)
{
    z->n = n ? n : 1;
    z->s = s < 0 ? 0 : s;
    zipf_rng_seed(&z->rng, seed);
    z->h_x1 = h_integral(1.5, z->s) - 1.0;
    z->h_n = h_integral((double)z->n + 0.5, z->s);
    z->sdiv = 2.0 - h_integral_inv(h_integral(2.5, z->s) - h(2.0, z->s), z->s);
}

uint64_t zipf_next(zipf *z)
{
    if (z->s == 0.0)
        return 1 + zipf_rng_below(&z->rng, z->n);
    for (;;) {
        double u = z->h_n + zipf_rng_double(&z->rng) * (z->h_x1 - z->h_n);
        double x = h_integral_inv(u, z->s);
        double kd = floor(x + 0.5);
        if (kd < 1)
            kd = 1;
        else if (kd > (double)z->n)
            kd = (double)z->n;
        /* Accept at once in the region where the hat is known to be below the density
         * (k - x <= sdiv), else compare u with the integral of the hat over [k-1/2, k+1/2]. */
        if (kd - x <= z->sdiv || u >= h_integral(kd + 0.5, z->s) - h(kd, z->s))
            return (uint64_t)kd;
    }
}

double zipf_prob(uint64_t n, double s, uint64_t k)
{
    if (k < 1 || k > n)
        return 0.0;
    double sum = 0.0;
    for (uint64_t i = n; i >= 1; i--)   /* smallest terms first, for accuracy */
        sum += pow((double)i, -s);
    return pow((double)k, -s) / sum;
}
