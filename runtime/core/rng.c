/* rng.c — the runtime's random numbers: xoshiro256** seeded by splitmix64,
 * and the few distributions initialisation, shuffling, dropout and
 * augmentation draw from.
 *
 * Reproducibility is the point.  The integer stream, cnnrt_rng_uniform and
 * cnnrt_shuffle use only integer arithmetic and exact conversions, so they
 * give the same numbers on every platform.  normal, gamma and beta go
 * through libm's log/sqrt/cos in double precision; a run repeats exactly on
 * one platform, and two platforms can only disagree where a libm result
 * differs in its last bit AND that bit decides a rounding to float or a
 * rejection test — which does not happen in practice, but is not promised.
 *
 * Not cryptographic, and not thread-safe per generator: give each thread
 * its own cnnrt_rng.
 */
#include "cnnrt.h"

#include <math.h>

static uint64_t rng_splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static uint64_t rng_rotl(uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}

/* splitmix64 never yields four zero words in a row, so the xoshiro state is
 * never the all-zero fixed point. */
void cnnrt_rng_seed(cnnrt_rng *r, uint64_t seed)
{
    for (int i = 0; i < 4; i++)
        r->s[i] = rng_splitmix64(&seed);
}

uint64_t cnnrt_rng_next(cnnrt_rng *r)
{
    uint64_t *s = r->s;
    uint64_t result = rng_rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rng_rotl(s[3], 45);
    return result;
}

/* the top 53 bits as a multiple of 2^-53: exact, in [0, 1) */
double cnnrt_rng_uniform(cnnrt_rng *r)
{
    return (double)(cnnrt_rng_next(r) >> 11) * 0x1.0p-53;
}

/* (0, 1]: safe to take the log of */
static double rng_uniform_pos(cnnrt_rng *r)
{
    return 1.0 - cnnrt_rng_uniform(r);
}

/* Box-Muller, one value per call: the generator state is four words and
 * nothing else, so the partner value is not cached. */
static double rng_normal_d(cnnrt_rng *r)
{
    const double two_pi = 6.283185307179586476925;
    double u1 = rng_uniform_pos(r);
    double u2 = cnnrt_rng_uniform(r);
    return sqrt(-2.0 * log(u1)) * cos(two_pi * u2);
}

float cnnrt_rng_normal(cnnrt_rng *r)
{
    return (float)rng_normal_d(r);
}

/* Marsaglia and Tsang (2000).  For shape < 1, Gamma(a) = Gamma(a+1) * U^(1/a).
 * shape <= 0 (or NaN) is a caller error and gives 0. */
double cnnrt_rng_gamma(cnnrt_rng *r, double shape)
{
    if (!(shape > 0))
        return 0;
    if (shape < 1) {
        double g = cnnrt_rng_gamma(r, shape + 1);
        return g * pow(rng_uniform_pos(r), 1.0 / shape);
    }
    double d = shape - 1.0 / 3.0;
    double c = 1.0 / sqrt(9.0 * d);
    for (;;) {
        double x = rng_normal_d(r);
        double v = 1 + c * x;
        if (v <= 0)
            continue;
        v = v * v * v;
        double u = rng_uniform_pos(r);
        double x2 = x * x;
        if (u < 1 - 0.0331 * x2 * x2)
            return d * v;
        if (log(u) < 0.5 * x2 + d * (1 - v + log(v)))
            return d * v;
    }
}

/* X/(X+Y) with X ~ Gamma(a), Y ~ Gamma(b).  With tiny a and b both draws
 * can underflow to 0; Beta(a, b) is then all but surely at 0 or 1, and it
 * picks 1 with probability a/(a+b), as the limit distribution does. */
double cnnrt_rng_beta(cnnrt_rng *r, double a, double b)
{
    double x = cnnrt_rng_gamma(r, a);
    double y = cnnrt_rng_gamma(r, b);
    if (x + y > 0)
        return x / (x + y);
    return cnnrt_rng_uniform(r) < a / (a + b) ? 1.0 : 0.0;
}

/* uniform in [0, bound) without modulo bias: reject the low 2^64 % bound
 * values so that every residue is equally often hit */
static uint64_t rng_below(cnnrt_rng *r, uint64_t bound)
{
    uint64_t threshold = (0 - bound) % bound;
    for (;;) {
        uint64_t x = cnnrt_rng_next(r);
        if (x >= threshold)
            return x % bound;
    }
}

/* Fisher-Yates: every permutation of idx equally likely */
void cnnrt_shuffle(cnnrt_rng *r, int *idx, int n)
{
    for (int i = n - 1; i > 0; i--) {
        int j = (int)rng_below(r, (uint64_t)i + 1);
        int t = idx[i];
        idx[i] = idx[j];
        idx[j] = t;
    }
}
