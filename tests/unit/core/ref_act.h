/* ref_act.h — the activations (CNNRT_ACT_*) in double, written apart from
 * activ.c: the reference the core tests hold kernels' fused epilogues to.
 * Header only; not a test of the activations themselves (test_rt_kernels.c).
 */
#ifndef REF_ACT_H
#define REF_ACT_H

#include <math.h>

#include "cnnrt.h"

static inline double ref_act(int act, float alpha, double v)
{
    switch (act) {
    case CNNRT_ACT_RELU:    return v > 0 ? v : 0;
    case CNNRT_ACT_LEAKY:   return v > 0 ? v : alpha * v;
    case CNNRT_ACT_SIGMOID: return 1 / (1 + exp(-v));
    case CNNRT_ACT_TANH:    return tanh(v);
    case CNNRT_ACT_SILU:    return v / (1 + exp(-v));
    default:                return v;
    }
}

#endif
