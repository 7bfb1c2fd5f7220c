/* activ.c — elementwise kernels: the activations (standalone or fused as a
 * producer's epilogue), prelu, dropout and add.
 *
 * Every function here walks flat float arrays; shapes only matter to prelu
 * (one slope per channel).  Not here: softmax and batchnorm (norm.c), which
 * reduce across elements.
 */
#include "cnnrt.h"
#include "gemm.h"
#include "threads.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* (gemm.h) a broken kernel contract: say so and stop, as assert would */
void cnnrt_misuse(const char *fmt, ...)
{
    va_list ap;
    fputs("cnnrt: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    abort();
}

static void act_die(const char *what, int act)
{
    cnnrt_misuse("%s (act %d)", what, act);
}

static float act_sigmoid(float x)
{
    return 1.0f / (1.0f + expf(-x));    /* expf overflow gives 0, not NaN */
}

/* The kernels here work in place on their output (after copying the input
 * there, unless it is the same buffer): one pointer read and written at the
 * same index vectorizes, where GCC's overlap check would send the usual
 * in-place call (y == x, dx == dy) down its scalar path. */
static void act_copy(long len, const float *src, float *dst)
{
    if (dst != src)
        memcpy(dst, src, (size_t)len * sizeof *dst);
}

/* ---- threads: the kernels here are elementwise (prelu: per sample), so
 * a call cuts its items into ranges and each range is the same call, with
 * a NULL context, on its part of every array: the same numbers for any
 * split.  Prelu's backward (a per-channel sum over the samples) and
 * dropout's forward (one RNG stream) stay serial. ---- */
enum { EW_ACT, EW_ACT_BWD, EW_DROP_BWD, EW_ADD, EW_PRELU };
typedef struct {
    int kind, act;
    float alpha;
    long unit;              /* floats of an item: 1, or a sample for prelu */
    const float *a, *b, *c; /* inputs, by kind: x | x y dy | mask dy | a b | x */
    float *y;
    int ch, hw;             /* prelu */
    const float *slope;     /* prelu */
} ew_job;

static const float *ew_at(const float *p, long o)
{
    return p ? p + o : NULL;
}

static void ew_part(void *arg, int tid, long lo, long hi)
{
    const ew_job *j = arg;
    long o = lo * j->unit, len = (hi - lo) * j->unit;
    const float *a = ew_at(j->a, o), *b = ew_at(j->b, o), *c = ew_at(j->c, o);
    float *y = j->y + o;
    (void)tid;
    switch (j->kind) {
    case EW_ACT:      cnnrt_act_forward(NULL, j->act, j->alpha, len, a, y); break;
    case EW_ACT_BWD:  cnnrt_act_backward(NULL, j->act, j->alpha, len, a, b, c, y); break;
    case EW_DROP_BWD: cnnrt_dropout_backward(NULL, len, a, b, y); break;
    case EW_ADD:      cnnrt_add_forward(NULL, len, a, b, y, j->act, j->alpha); break;
    default:          cnnrt_prelu_forward(NULL, (int)(hi - lo), j->ch, j->hw, a, j->slope, y);
    }
}

/* 1 when the call ran split over the threads of ctx (items of j.unit) */
static int ew_split(cnnrt_ctx *ctx, ew_job j, long items)
{
    if (!cnnrt_par_worth(ctx, (double)items * j.unit))
        return 0;
    cnnrt_par_for(ctx, items, j.unit == 1 ? 1024 : 1, 0, ew_part, &j);
    return 1;
}

void cnnrt_act_forward(cnnrt_ctx *ctx, int act, float alpha, long len, const float *x, float *y)
{
    if (ew_split(ctx, (ew_job){ EW_ACT, act, alpha, 1, x, NULL, NULL, y, 0, 0, NULL }, len))
        return;
    act_copy(len, x, y);
    switch (act) {
    case CNNRT_ACT_NONE:
        break;
    case CNNRT_ACT_RELU:
        for (long i = 0; i < len; i++)
            y[i] = y[i] > 0 ? y[i] : 0.0f;
        break;
    case CNNRT_ACT_LEAKY:
        for (long i = 0; i < len; i++) {
            float t = y[i], pos = t > 0 ? t : 0.0f, neg = t > 0 ? 0.0f : t;
            y[i] = pos + alpha * neg;           /* selects, which vectorize */
        }
        break;
    case CNNRT_ACT_SIGMOID:
        for (long i = 0; i < len; i++)
            y[i] = act_sigmoid(y[i]);
        break;
    case CNNRT_ACT_TANH:
        for (long i = 0; i < len; i++)
            y[i] = tanhf(y[i]);
        break;
    case CNNRT_ACT_SILU:
        for (long i = 0; i < len; i++)
            y[i] = y[i] * act_sigmoid(y[i]);
        break;
    default:
        act_die("unknown activation", act);
    }
}

/* d *= f'(x) over len floats, in place; see cnnrt_act_backward for which
 * of x and y each activation reads. */
static void act_grad(int act, float alpha, long len, const float *x,
                     const float *y, float *d)
{
    const float *v = x ? x : y;     /* relu, leaky: the sign source */
    switch (act) {
    case CNNRT_ACT_NONE:
        break;
    case CNNRT_ACT_RELU:
        for (long i = 0; i < len; i++)
            d[i] = v[i] > 0 ? d[i] : 0.0f;
        break;
    case CNNRT_ACT_LEAKY:
        for (long i = 0; i < len; i++) {
            float t = d[i], pos = v[i] > 0 ? t : 0.0f, neg = v[i] > 0 ? 0.0f : t;
            d[i] = pos + alpha * neg;
        }
        break;
    case CNNRT_ACT_SIGMOID:
        for (long i = 0; i < len; i++) {
            float s = y ? y[i] : act_sigmoid(x[i]);
            d[i] *= s * (1.0f - s);
        }
        break;
    case CNNRT_ACT_TANH:
        for (long i = 0; i < len; i++) {
            float t = y ? y[i] : tanhf(x[i]);
            d[i] *= 1.0f - t * t;
        }
        break;
    case CNNRT_ACT_SILU:
        for (long i = 0; i < len; i++) {
            float s = act_sigmoid(x[i]);
            d[i] *= s * (1.0f + x[i] * (1.0f - s));
        }
        break;
    default:
        act_die("unknown activation", act);
    }
}

/* dx = dy * f'(x).  The derivative is taken from whichever of x (input) and
 * y (output) the activation needs: relu and leaky relu read x when given,
 * else the sign of y (the same for alpha >= 0); sigmoid and tanh read y when
 * given, else recompute it from x; silu needs x.  At x == 0 relu and leaky
 * relu take the left slope, as PyTorch does.  dx may be dy, x or y itself
 * (a planner may hand a dead input's buffer to the gradient), not a partial
 * overlap. */
void cnnrt_act_backward(cnnrt_ctx *ctx, int act, float alpha, long len, const float *x,
                        const float *y, const float *dy, float *dx)
{
    if (ew_split(ctx, (ew_job){ EW_ACT_BWD, act, alpha, 1, x, y, dy, dx, 0, 0, NULL }, len))
        return;
    if (!x && !y && act != CNNRT_ACT_NONE)
        act_die("activation backward needs x or y", act);
    /* y alone cannot give silu's derivative (silu is not one-to-one), so a
     * producer must not carry silu as a fused epilogue in training: its
     * backward would arrive here with x == NULL. */
    if (act == CNNRT_ACT_SILU && !x)
        act_die("silu backward needs the pre-activation x; "
                "do not fuse silu into a layer that is trained", act);
    if (dx == dy) {
        act_grad(act, alpha, len, x, y, dx);
        return;
    }
    /* through a block in L1, so that dx may also be x or y */
    float t[256];
    for (long i0 = 0; i0 < len; i0 += 256) {
        long m = len - i0 < 256 ? len - i0 : 256;
        memcpy(t, dy + i0, (size_t)m * sizeof *t);
        act_grad(act, alpha, m, x ? x + i0 : NULL, y ? y + i0 : NULL, t);
        memcpy(dx + i0, t, (size_t)m * sizeof *t);
    }
}

/* ---- prelu: x, y [n][c][hw], a [c] ---- */
void cnnrt_prelu_forward(cnnrt_ctx *ctx, int n, int c, int hw, const float *x, const float *a,
                         float *y)
{
    if (ew_split(ctx, (ew_job){ EW_PRELU, 0, 0, (long)c * hw, x, NULL, NULL, y, c, hw, a }, n))
        return;
    for (long s = 0; s < (long)n * c; s++) {
        const float *xp = x + s * hw;
        float *yp = y + s * hw, ac = a[s % c];
        for (int i = 0; i < hw; i++)
            yp[i] = xp[i] > 0 ? xp[i] : ac * xp[i];
    }
}

/* dx (may be NULL) is overwritten; da (may be NULL) accumulates
 * sum of dy*x over the non-positive x of its channel. */
void cnnrt_prelu_backward(cnnrt_ctx *ctx, int n, int c, int hw, const float *x, const float *a,
                          const float *dy, float *dx, float *da)
{
    (void)ctx;
    for (long s = 0; s < (long)n * c; s++) {
        const float *xp = x + s * hw, *dyp = dy + s * hw;
        float ac = a[s % c];
        double g = 0;
        for (int i = 0; i < hw; i++) {
            int pos = xp[i] > 0;
            if (dx)
                dx[s * hw + i] = pos ? dyp[i] : ac * dyp[i];
            g += pos ? 0.0 : (double)dyp[i] * xp[i];
        }
        if (da)
            da[s % c] += (float)g;
    }
}

/* ---- dropout: mask[i] is 0 (dropped) or 1/(1-p) (kept, scaled) ----
 * Training draws one uniform per element from r and keeps it when
 * u >= p, so p = 0 keeps all and p >= 1 drops all.  Outside training y = x
 * and mask is not written (it may be NULL then). */
void cnnrt_dropout_forward(cnnrt_ctx *ctx, cnnrt_rng *r, float p, int training, long len,
                           const float *x, float *y, float *mask)
{
    (void)ctx;
    if (!training) {
        act_copy(len, x, y);
        return;
    }
    float keep = p < 1 ? 1.0f / (1.0f - p) : 0.0f;
    for (long i = 0; i < len; i++) {
        mask[i] = p > 0 && cnnrt_rng_uniform(r) < p ? 0.0f : keep;
        y[i] = x[i] * mask[i];
    }
}

/* dx may alias dy (in place, as everywhere in this file) */
void cnnrt_dropout_backward(cnnrt_ctx *ctx, long len, const float *mask, const float *dy, float *dx)
{
    if (ew_split(ctx, (ew_job){ EW_DROP_BWD, 0, 0, 1, mask, dy, NULL, dx, 0, 0, NULL }, len))
        return;
    act_copy(len, dy, dx);
    for (long i = 0; i < len; i++)
        dx[i] *= mask[i];
}

/* y may alias a or b: y becomes one operand, then adds the other */
/* y = act(a + b), a block at a time so the activation reads what the add
 * just wrote while it is still in cache (one pass over memory) */
void cnnrt_add_forward(cnnrt_ctx *ctx, long len, const float *a, const float *b, float *y,
                       int act, float alpha)
{
    enum { BLOCK = 1024 };
    if (ew_split(ctx, (ew_job){ EW_ADD, act, alpha, 1, a, b, NULL, y, 0, 0, NULL }, len))
        return;
    for (long i = 0; i < len; i += BLOCK) {
        long k = len - i < BLOCK ? len - i : BLOCK;
        const float *bb = b + i;
        if (y + i == bb)
            bb = a + i;
        else
            act_copy(k, a + i, y + i);
        for (long j = 0; j < k; j++)
            y[i + j] += bb[j];
        if (act != CNNRT_ACT_NONE)
            cnnrt_act_forward(NULL, act, alpha, k, y + i, y + i);
    }
}
