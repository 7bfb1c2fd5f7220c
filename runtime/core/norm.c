/* norm.c — kernels that normalise across elements: softmax over channels
 * and batch normalisation.
 *
 * Shapes: x, y [n][c][hw].  Softmax normalises over the c channels of each
 * of the n*hw pixels; batchnorm over the n*hw values of each channel.
 * Not here: the losses that fuse softmax and sigmoid with their logs
 * (loss.c).
 */
#include "cnnrt.h"
#include "threads.h"

#include <math.h>

/* Softmax works on up to NORM_CHUNK pixels of one sample at a time, with
 * per-pixel state in small arrays, so every loop over channels runs along
 * contiguous pixels (hw == 1 degenerates to one pixel, channels contiguous). */
#define NORM_CHUNK 64

/* ---- threads: softmax splits the samples (each range the same call with
 * a NULL context on its samples), batchnorm the channels (all of a
 * channel's sums stay on one thread, in the serial order): the same
 * numbers for any split. ---- */
enum { NM_SOFTMAX, NM_SOFTMAX_BWD, NM_BN, NM_BN_BWD };
typedef struct {
    int kind, n, c, hw;
    const float *x, *y, *dy, *gamma, *beta, *mean, *invstd;
    float *out, *rmean, *rvar, *smean, *sinvstd, *dgamma, *dbeta;
    float momentum, eps, alpha;
    int training, act;
} nm_job;

static void bn_forward_channels(const nm_job *j, int c0, int c1);
static void bn_backward_channels(const nm_job *j, int c0, int c1);

static void nm_part(void *arg, int tid, long lo, long hi)
{
    const nm_job *j = arg;
    long o = lo * j->c * j->hw;
    (void)tid;
    switch (j->kind) {
    case NM_SOFTMAX:
        cnnrt_softmax_forward(NULL, (int)(hi - lo), j->c, j->hw, j->x + o, j->out + o);
        break;
    case NM_SOFTMAX_BWD:
        cnnrt_softmax_backward(NULL, (int)(hi - lo), j->c, j->hw, j->y + o, j->dy + o, j->out + o);
        break;
    case NM_BN:
        bn_forward_channels(j, (int)lo, (int)hi);
        break;
    default:
        bn_backward_channels(j, (int)lo, (int)hi);
    }
}

/* runs j over `items` (samples or channels), split when worth it; 1 when
 * split (softmax), and for batchnorm always 1 (the serial case runs here) */
static int nm_run(cnnrt_ctx *ctx, const nm_job *j, int items)
{
    double work = 4.0 * j->n * j->c * j->hw;
    if (items > 1 && cnnrt_par_worth(ctx, work)) {
        cnnrt_par_for(ctx, items, 1, 0, nm_part, (void *)j);
        return 1;
    }
    if (j->kind == NM_BN || j->kind == NM_BN_BWD) {
        nm_part((void *)j, 0, 0, items);
        return 1;
    }
    return 0;
}

/* y may alias x */
void cnnrt_softmax_forward(cnnrt_ctx *ctx, int n, int c, int hw, const float *x, float *y)
{
    nm_job j = { .kind = NM_SOFTMAX, .n = n, .c = c, .hw = hw, .x = x, .out = y };
    if (nm_run(ctx, &j, n))
        return;
    for (int s = 0; s < n; s++)
        for (int p0 = 0; p0 < hw; p0 += NORM_CHUNK) {
            int np = hw - p0 < NORM_CHUNK ? hw - p0 : NORM_CHUNK;
            const float *xs = x + (long)s * c * hw + p0;
            float *ys = y + (long)s * c * hw + p0;
            float m[NORM_CHUNK], z[NORM_CHUNK];
            for (int j = 0; j < np; j++) {
                m[j] = xs[j];
                z[j] = 0;
            }
            for (int ch = 1; ch < c; ch++)
                for (int j = 0; j < np; j++)
                    m[j] = xs[(long)ch * hw + j] > m[j] ? xs[(long)ch * hw + j] : m[j];
            for (int ch = 0; ch < c; ch++)
                for (int j = 0; j < np; j++) {
                    float e = expf(xs[(long)ch * hw + j] - m[j]);
                    ys[(long)ch * hw + j] = e;
                    z[j] += e;                  /* >= 1: the max gives e = 1 */
                }
            for (int j = 0; j < np; j++)
                z[j] = 1.0f / z[j];
            for (int ch = 0; ch < c; ch++)
                for (int j = 0; j < np; j++)
                    ys[(long)ch * hw + j] *= z[j];
        }
}

/* dx = y * (dy - sum_c y*dy), per pixel; dx may alias dy */
void cnnrt_softmax_backward(cnnrt_ctx *ctx, int n, int c, int hw, const float *y,
                            const float *dy, float *dx)
{
    nm_job j = { .kind = NM_SOFTMAX_BWD, .n = n, .c = c, .hw = hw, .y = y, .dy = dy, .out = dx };
    if (nm_run(ctx, &j, n))
        return;
    for (int s = 0; s < n; s++)
        for (int p0 = 0; p0 < hw; p0 += NORM_CHUNK) {
            int np = hw - p0 < NORM_CHUNK ? hw - p0 : NORM_CHUNK;
            long o = (long)s * c * hw + p0;
            float d[NORM_CHUNK];
            for (int j = 0; j < np; j++)
                d[j] = 0;
            for (int ch = 0; ch < c; ch++)
                for (int j = 0; j < np; j++)
                    d[j] += y[o + (long)ch * hw + j] * dy[o + (long)ch * hw + j];
            for (int ch = 0; ch < c; ch++)
                for (int j = 0; j < np; j++) {
                    long i = o + (long)ch * hw + j;
                    dx[i] = y[i] * (dy[i] - d[j]);
                }
        }
}

/* ---- batchnorm ----
 * Training: per channel, the batch mean mu and biased variance var (over
 * N = n*hw values) normalise x; the running statistics move towards mu and
 * the UNBIASED variance var*N/(N-1), as PyTorch:
 *   running = (1 - momentum)*running + momentum*batch.
 * Evaluation: the running statistics normalise x and are not changed.
 * Either way y = gamma*(x - mu)*invstd + beta with invstd = 1/sqrt(var+eps),
 * and mu, invstd are stored in mean[], invstd[] when those are not NULL
 * (as floats: the backward sees mu rounded, which matters only for a mean
 * some 10^4 times its spread).  gamma/beta NULL act as 1/0; rmean/rvar may
 * be NULL in training. */

/* Sum over the n*hw values i of channel ch of (a[i] - sa) * (b[i] - sb),
 * (b NULL: of a[i] - sa), in 8 double lanes so that the loop vectorizes. */
static double bn_sum(int n, int c, int hw, int ch, const float *a, double sa,
                     const float *b, double sb)
{
    double lane[8] = { 0 }, t = 0;
    for (int s = 0; s < n; s++) {
        long o = ((long)s * c + ch) * hw;
        const float *ap = a + o, *bp = b ? b + o : NULL;
        int i = 0;
        for (; i + 8 <= hw; i += 8)
            for (int j = 0; j < 8; j++)
                lane[j] += (ap[i + j] - sa) * (bp ? bp[i + j] - sb : 1.0);
        for (; i < hw; i++)
            t += (ap[i] - sa) * (bp ? bp[i] - sb : 1.0);
    }
    for (int j = 0; j < 8; j++)
        t += lane[j];
    return t;
}

void cnnrt_batchnorm_forward(cnnrt_ctx *ctx, int n, int c, int hw, const float *x,
                             const float *gamma, const float *beta,
                             float *rmean, float *rvar, float momentum,
                             float eps, int training, float *y,
                             float *mean, float *invstd, int act, float alpha)
{
    nm_job j = { .kind = NM_BN, .n = n, .c = c, .hw = hw, .x = x, .gamma = gamma,
                 .beta = beta, .rmean = rmean, .rvar = rvar, .momentum = momentum,
                 .eps = eps, .training = training, .out = y, .smean = mean,
                 .sinvstd = invstd, .act = act, .alpha = alpha };
    nm_run(ctx, &j, c);
}

/* channels [c0, c1) of cnnrt_batchnorm_forward */
static void bn_forward_channels(const nm_job *j, int c0, int c1)
{
    int n = j->n, c = j->c, hw = j->hw, act = j->act;
    const float *x = j->x, *gamma = j->gamma, *beta = j->beta;
    float *rmean = j->rmean, *rvar = j->rvar, *y = j->out, *mean = j->smean, *invstd = j->sinvstd;
    float momentum = j->momentum, alpha = j->alpha;
    double N = (double)n * hw;
    for (int ch = c0; ch < c1; ch++) {
        double mu, var;
        if (j->training) {
            mu = bn_sum(n, c, hw, ch, x, 0.0, NULL, 0.0) / N;
            var = bn_sum(n, c, hw, ch, x, mu, x, mu) / N;   /* two passes */
            if (rmean)
                rmean[ch] = (float)((1 - momentum) * rmean[ch] + momentum * mu);
            if (rvar)
                rvar[ch] = (float)((1 - momentum) * rvar[ch]
                                   + momentum * (N > 1 ? var * N / (N - 1) : var));
        } else {
            mu = rmean[ch];
            var = rvar[ch];
        }
        float is = (float)(1.0 / sqrt(var + j->eps));
        if (mean)
            mean[ch] = (float)mu;
        if (invstd)
            invstd[ch] = is;
        /* y = (x - m)*scale + shift with m = mu rounded to float: x - m is
         * exact when x is close to m, and shift carries the rounding
         * (mu - m) back in, so a mean far above the spread costs nothing */
        float scale = (gamma ? gamma[ch] : 1.0f) * is, m = (float)mu;
        float shift = (float)((beta ? beta[ch] : 0.0) - (mu - m) * scale);
        for (int s = 0; s < n; s++) {
            long o = ((long)s * c + ch) * hw;
            for (int i = 0; i < hw; i++)
                y[o + i] = (x[o + i] - m) * scale + shift;
            if (act != CNNRT_ACT_NONE)      /* the epilogue, while y is in cache */
                cnnrt_act_forward(NULL, act, alpha, hw, y + o, y + o);
        }
    }
}

/* Backward of the training-mode forward (batch statistics), per channel
 * with xh = (x - mean)*invstd:
 *   dbeta += sum dy,  dgamma += sum dy*xh,
 *   dx = gamma*invstd/N * (N*dy - sum dy - xh * sum dy*xh).
 * dx (may be NULL, may alias dy) is overwritten; dgamma, dbeta (may be
 * NULL) accumulate.  With a fused activation, dy is first turned (in
 * place) into the gradient before it, from the saved output y. */
void cnnrt_batchnorm_backward(cnnrt_ctx *ctx, int n, int c, int hw, const float *x,
                              const float *gamma, const float *mean,
                              const float *invstd, const float *y, float *dy,
                              int act, float alpha,
                              float *dx, float *dgamma, float *dbeta)
{
    if (act != CNNRT_ACT_NONE)
        cnnrt_act_backward(ctx, act, alpha, (long)n * c * hw, NULL, y, dy, dy);
    nm_job j = { .kind = NM_BN_BWD, .n = n, .c = c, .hw = hw, .x = x, .gamma = gamma,
                 .mean = mean, .invstd = invstd, .dy = dy, .out = dx, .dgamma = dgamma,
                 .dbeta = dbeta };
    nm_run(ctx, &j, c);
}

/* channels [c0, c1) of cnnrt_batchnorm_backward, after the epilogue's */
static void bn_backward_channels(const nm_job *j, int c0, int c1)
{
    int n = j->n, c = j->c, hw = j->hw;
    const float *x = j->x, *gamma = j->gamma, *dy = j->dy;
    float *dx = j->out, *dgamma = j->dgamma, *dbeta = j->dbeta;
    double N = (double)n * hw;
    for (int ch = c0; ch < c1; ch++) {
        float mu = j->mean[ch], is = j->invstd[ch];
        double sdy = bn_sum(n, c, hw, ch, dy, 0.0, NULL, 0.0);
        double sdyx = bn_sum(n, c, hw, ch, dy, 0.0, x, mu) * is;
        if (dbeta)
            dbeta[ch] += (float)sdy;
        if (dgamma)
            dgamma[ch] += (float)sdyx;
        if (!dx)
            continue;
        float k = (gamma ? gamma[ch] : 1.0f) * is;
        float a = (float)(sdy / N), b = (float)(sdyx / N);
        for (int s = 0; s < n; s++) {
            long o = ((long)s * c + ch) * hw;
            for (int i = 0; i < hw; i++)
                dx[o + i] = k * (dy[o + i] - a - (x[o + i] - mu) * is * b);
        }
    }
}
