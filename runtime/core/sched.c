/* sched.c — what the generated `_update` does around the optimizer step
 * (docs/LANGUAGE-EXT.md sections 8-10): the learning rate of a step under
 * a schedule, clipping the gradients by their global norm, and the
 * exponential moving average of the weights.
 *
 * All three are pure functions of their arguments (the step count, the
 * buffers), so a model that keeps its step count in its checkpoint resumes
 * bit for bit.  They follow PyTorch (1.13) where it has the feature:
 * StepLR; LinearLR then CosineAnnealingLR in a SequentialLR;
 * clip_grad_norm_; and the YOLOX ramp of the EMA decay, which
 * torch.optim.swa_utils.AveragedModel computes with that avg_fn
 * (tests/fixtures/make_sched.py).  ctx is unused (one loop each, no
 * scratch).  Scalars are computed in double, as
 * PyTorch computes them in Python.  Not here: the optimizer steps (optim.c).
 */
#include "cnnrt.h"

#include <math.h>

#define SCHED_PI 3.14159265358979323846

/* step counts from 1: the first update is step 1, iteration i = step - 1 */
float cnnrt_lr_at(const cnnrt_sched *s, long step, long steps_per_epoch, int epochs)
{
    long i = step > 0 ? step - 1 : 0;
    long spe = steps_per_epoch > 0 ? steps_per_epoch : 1;
    double lr = s->lr;
    if (s->kind == CNNRT_SCHED_STEP) {
        long k = s->every > 0 ? i / spe / s->every : 0;
        for (long j = 0; j < k; j++)        /* StepLR multiplies, epoch by epoch */
            lr *= s->gamma;
        return (float)lr;
    }
    if (s->kind != CNNRT_SCHED_COSINE)
        return (float)lr;
    long w = (long)floor(s->warmup * (double)spe + 0.5);
    long t = (long)(epochs > 0 ? epochs : 1) * spe;
    if (i < w)
        return (float)(lr * (double)(i + 1) / (double)(w + 1));
    if (t <= w)
        return (float)lr;
    if (i > t)
        i = t;                              /* past the end: stays at the floor */
    double lo = s->min_ratio * lr;
    return (float)(lo + (lr - lo) * (1 + cos(SCHED_PI * (double)(i - w) / (double)(t - w))) / 2);
}

/* torch.nn.utils.clip_grad_norm_(norm_type=2): the norm of the whole
 * buffer (its padding is zero), scaled by max_norm / (norm + 1e-6) when
 * that is below 1. */
float cnnrt_clip_grad_norm(cnnrt_ctx *ctx, long size, float *g, float max_norm)
{
    (void)ctx;
    double sum = 0;
    for (long i = 0; i < size; i++)
        sum += (double)g[i] * g[i];
    double norm = sqrt(sum);
    double coef = max_norm / (norm + 1e-6);
    if (coef < 1) {
        float c = (float)coef;
        for (long i = 0; i < size; i++)
            g[i] *= c;
    }
    return (float)norm;
}

/* YOLOX's ModelEMA: d = decay * (1 - exp(-updates / 2000)),
 * ema = d * ema + (1 - d) * w; `updates` counts from 1. */
void cnnrt_ema_update(cnnrt_ctx *ctx, long size, float *ema, const float *w, float decay,
                      long updates)
{
    (void)ctx;
    double d = decay * (1 - exp(-(double)updates / 2000.0));
    float df = (float)d, rf = (float)(1 - d);
    for (long i = 0; i < size; i++)
        ema[i] = df * ema[i] + rf * w[i];
}
