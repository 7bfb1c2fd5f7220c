/* init.c — default parameter initialisation, as PyTorch does it for
 * nn.Conv2d and nn.Linear, plus the he/xavier/zeros overrides of `init=`.
 *
 * Every scheme here is a uniform distribution U(-bound, bound) drawing one
 * cnnrt_rng_uniform per element in order, so the same seed gives the same
 * parameters on every platform (PyTorch's own generator is not reproduced:
 * the distributions match, the numbers do not).  fan_in of a conv weight
 * [F, C/groups, KH, KW] is C/groups*KH*KW and fan_out is F*KH*KW; the caller
 * computes them.  Batchnorm's scale and shift use cnnrt_fill.
 */
#include "cnnrt.h"

#include <math.h>

static void init_uniform(cnnrt_rng *r, float *p, long size, double bound)
{
    for (long i = 0; i < size; i++)
        p[i] = (float)(bound * (2.0 * cnnrt_rng_uniform(r) - 1.0));
}

/* a zero fan (an empty tensor) would divide by zero; treat it as 1 */
static double init_fan(long fan)
{
    return fan > 0 ? (double)fan : 1.0;
}

void cnnrt_init_weight(cnnrt_rng *r, int how, float *w, long size,
                       long fan_in, long fan_out)
{
    switch (how) {
    case CNNRT_INIT_HE:
        init_uniform(r, w, size, sqrt(6.0 / init_fan(fan_in)));
        break;
    case CNNRT_INIT_XAVIER:
        init_uniform(r, w, size, sqrt(6.0 / init_fan(fan_in + fan_out)));
        break;
    case CNNRT_INIT_ZEROS:
        cnnrt_fill(w, size, 0);
        break;
    default:
        /* kaiming_uniform_(a=sqrt(5)): gain sqrt(2/(1+5)), bound
         * gain*sqrt(3/fan_in) = 1/sqrt(fan_in) */
        init_uniform(r, w, size, 1.0 / sqrt(init_fan(fan_in)));
        break;
    }
}

void cnnrt_init_bias(cnnrt_rng *r, int how, float *b, long size, long fan_in)
{
    if (how == CNNRT_INIT_ZEROS)
        cnnrt_fill(b, size, 0);
    else
        init_uniform(r, b, size, 1.0 / sqrt(init_fan(fan_in)));
}

void cnnrt_fill(float *p, long size, float v)
{
    for (long i = 0; i < size; i++)
        p[i] = v;
}
