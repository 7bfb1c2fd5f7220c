/* optim.c — the optimizer steps of LANGUAGE.md section 5, one call per
 * parameter buffer, following torch.optim (1.13) formula for formula and, as
 * far as C allows, in the same order of float operations, so that a run
 * agrees with PyTorch to rounding (tests/fixtures/optim.txt holds PyTorch's
 * numbers).
 *
 * Invariants: state buffers (v, r, s) start at zero and belong to one
 * parameter buffer; `step` counts updates from 1 and is the same for every
 * buffer of a model; the gradient g includes weight decay only inside the
 * step (g itself is not modified but zeroed at the end, ready for the next
 * accumulation).  Scalars derived from hyperparameters are computed in
 * double, as PyTorch computes them in Python, then used as floats.
 * Not here: learning-rate schedules, gradient clipping, dampening, amsgrad,
 * centered rmsprop.
 */
#include "cnnrt.h"
#include "gemm.h"
#include "threads.h"

#include <math.h>

/* ---- threads: every update is elementwise, so a call cuts the buffer
 * into ranges and each range is the same call, with a NULL context, on
 * its part: the same numbers for any split. ---- */
enum { OPT_SGD, OPT_ADAGRAD, OPT_RMSPROP, OPT_ADAM };
typedef struct {
    int kind, nesterov;
    float *w, *g, *s, *r;
    float lr, a, b, eps, wd;    /* a: momentum, rho or b1; b: b2 */
    long step;
} opt_job;

static void opt_part(void *arg, int tid, long lo, long hi)
{
    const opt_job *j = arg;
    long len = hi - lo;
    float *w = j->w + lo, *g = j->g + lo, *s = j->s ? j->s + lo : NULL;
    float *r = j->r ? j->r + lo : NULL;
    (void)tid;
    switch (j->kind) {
    case OPT_SGD:
        cnnrt_sgd_update(NULL, len, w, g, s, j->lr, j->a, j->wd, j->nesterov, j->step);
        break;
    case OPT_ADAGRAD: cnnrt_adagrad_update(NULL, len, w, g, r, j->lr, j->eps, j->wd); break;
    case OPT_RMSPROP: cnnrt_rmsprop_update(NULL, len, w, g, r, j->lr, j->a, j->eps, j->wd); break;
    default:
        cnnrt_adam_update(NULL, len, w, g, s, r, j->lr, j->a, j->b, j->eps, j->wd, j->step);
    }
}

/* 1 when the call ran split over the threads of ctx */
static int opt_split(cnnrt_ctx *ctx, opt_job j, long size)
{
    if (!cnnrt_par_worth(ctx, 4.0 * size))
        return 0;
    cnnrt_par_for(ctx, size, 1024, 0, opt_part, &j);
    return 1;
}

/* torch.optim.SGD with dampening 0.  The first momentum step sets v = g
 * (PyTorch clones the gradient into a fresh buffer); later ones
 * v = momentum*v + g.  Nesterov steps along g + momentum*v. */
void cnnrt_sgd_update(cnnrt_ctx *ctx, long size, float *w, float *g, float *v, float lr,
                      float momentum, float wd, int nesterov, long step)
{
    if (opt_split(ctx, (opt_job){ OPT_SGD, nesterov, w, g, v, NULL, lr, momentum, 0, 0, wd, step },
                  size))
        return;
    for (long i = 0; i < size; i++) {
        float d = g[i];
        if (wd != 0)
            d = d + wd * w[i];
        if (momentum != 0) {
            v[i] = step <= 1 ? d : momentum * v[i] + d;
            d = nesterov ? d + momentum * v[i] : v[i];
        }
        w[i] = w[i] + -lr * d;
        g[i] = 0;
    }
}

/* torch.optim.Adagrad with lr_decay 0 and initial accumulator 0 */
void cnnrt_adagrad_update(cnnrt_ctx *ctx, long size, float *w, float *g, float *r, float lr,
                          float eps, float wd)
{
    if (opt_split(ctx, (opt_job){ OPT_ADAGRAD, 0, w, g, NULL, r, lr, 0, 0, eps, wd, 0 }, size))
        return;
    for (long i = 0; i < size; i++) {
        float d = g[i];
        if (wd != 0)
            d = d + wd * w[i];
        r[i] = r[i] + d * d;
        w[i] = w[i] + -lr * (d / (sqrtf(r[i]) + eps));
        g[i] = 0;
    }
}

/* torch.optim.RMSprop, not centered, no momentum; rho is PyTorch's alpha */
void cnnrt_rmsprop_update(cnnrt_ctx *ctx, long size, float *w, float *g, float *r, float lr,
                          float rho, float eps, float wd)
{
    if (opt_split(ctx, (opt_job){ OPT_RMSPROP, 0, w, g, NULL, r, lr, rho, 0, eps, wd, 0 }, size))
        return;
    const float one_minus_rho = (float)(1.0 - (double)rho);
    for (long i = 0; i < size; i++) {
        float d = g[i];
        if (wd != 0)
            d = d + wd * w[i];
        r[i] = r[i] * rho + one_minus_rho * (d * d);
        w[i] = w[i] + -lr * (d / (sqrtf(r[i]) + eps));
        g[i] = 0;
    }
}

/* torch.optim.Adam (not AdamW: the decay goes through the moments).
 * PyTorch places eps after the bias correction of the second moment:
 *   w -= lr/(1-b1^t) * s / (sqrt(r)/sqrt(1-b2^t) + eps). */
/* The Adam loop, one body per instruction set (as gemm.c picks them):
 * sqrtf and the divisions are correctly rounded at every width and
 * contraction into FMAs is off, so every variant gives the same bits.
 * It vectorizes when sqrtf need not set errno (the library is built with
 * -fno-math-errno, RTOPT in the Makefile; r >= 0, so it never would). */
#if defined(__GNUC__) && !defined(__clang__)
#define OPTIM_PRAGMAS 1
#pragma GCC push_options
#pragma GCC optimize("fp-contract=off")
#endif
#ifdef __GNUC__
#define ADAM_INLINE static inline __attribute__((always_inline))
#else
#define ADAM_INLINE static inline
#endif
ADAM_INLINE void adam_loop(long size, float *restrict w, float *restrict g, float *restrict s,
                           float *restrict r, float b1, float b2, float eps, float wd,
                           float step_size, float bc2_sqrt, float one_minus_b1,
                           float one_minus_b2)
{
    for (long i = 0; i < size; i++) {
        float d = g[i];
        if (wd != 0)
            d = d + wd * w[i];
        s[i] = s[i] * b1 + one_minus_b1 * d;
        r[i] = r[i] * b2 + one_minus_b2 * (d * d);
        float denom = sqrtf(r[i]) / bc2_sqrt + eps;
        w[i] = w[i] + -step_size * (s[i] / denom);
        g[i] = 0;
    }
}

#define ADAM_VARIANT(sfx, attr)                                               \
    attr static void adam_##sfx(long size, float *w, float *g, float *s,     \
                                float *r, float b1, float b2, float eps,     \
                                float wd, float ss, float bs, float o1,      \
                                float o2)                                    \
    {                                                                         \
        adam_loop(size, w, g, s, r, b1, b2, eps, wd, ss, bs, o1, o2);         \
    }
ADAM_VARIANT(generic, )
#if defined(__GNUC__) && defined(__x86_64__)
#define ADAM_X86 1
ADAM_VARIANT(avx2, __attribute__((target("avx2"))))
ADAM_VARIANT(avx512, __attribute__((target("avx512f,avx2"))))
#endif
#ifdef OPTIM_PRAGMAS
#pragma GCC pop_options
#endif

void cnnrt_adam_update(cnnrt_ctx *ctx, long size, float *w, float *g, float *s, float *r,
                       float lr, float b1, float b2, float eps, float wd, long t)
{
    if (opt_split(ctx, (opt_job){ OPT_ADAM, 0, w, g, s, r, lr, b1, b2, eps, wd, t }, size))
        return;
    const double bc1 = 1.0 - pow((double)b1, (double)t);
    const double bc2 = 1.0 - pow((double)b2, (double)t);
    const float step_size = (float)((double)lr / bc1);
    const float bc2_sqrt = (float)sqrt(bc2);
    const float one_minus_b1 = (float)(1.0 - (double)b1);
    const float one_minus_b2 = (float)(1.0 - (double)b2);
    typedef void (*adam_fn)(long, float *, float *, float *, float *, float, float, float,
                            float, float, float, float, float);
    static const adam_fn by_isa[] = {
        [CNNRT_GEMM_GENERIC] = adam_generic,
#ifdef ADAM_X86
        [CNNRT_GEMM_AVX2] = adam_avx2, [CNNRT_GEMM_AVX512] = adam_avx512,
#endif
    };
    by_isa[cnnrt_sgemm_variant()](size, w, g, s, r, b1, b2, eps, wd, step_size, bc2_sqrt,
                                  one_minus_b1, one_minus_b2);
}
