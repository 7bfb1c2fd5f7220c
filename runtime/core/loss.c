/* loss.c — the training losses, each returning the loss and writing the
 * gradient that starts the backward pass.
 *
 * Cross entropy and BCE take the logits z (before softmax / sigmoid) and
 * evaluate every log by log-sum-exp, so no probability ever reaches log():
 * the loss is finite for any finite z, however extreme.  Sums run in
 * double.  Not here: softmax and sigmoid themselves (norm.c, activ.c).
 */
#include "cnnrt.h"
#include "threads.h"

#include <math.h>

/* log(sum_c exp(z[c*stride])) without overflow: max + log(sum exp(z - max)) */
static double loss_lse(const float *z, int c, long stride)
{
    double m = z[0], s = 0;
    for (int ch = 1; ch < c; ch++)
        if (z[ch * stride] > m)
            m = z[ch * stride];
    for (int ch = 0; ch < c; ch++)
        s += exp(z[ch * stride] - m);
    return m + log(s);
}

/* ---- threads: a loss is a sum over items (pixels or elements) cut into
 * fixed chunks of LOSS_CHUNK items or more (at most LOSS_MAXCHUNKS of
 * them, however many threads there are); each chunk's sum and dz are
 * computed alone, in item order, and the chunk sums are added in chunk
 * order.  So the loss is the same for any thread count, and a call of up
 * to LOSS_CHUNK items is one chunk: exactly the plain serial sum. ---- */
#define LOSS_CHUNK 4096L
#define LOSS_MAXCHUNKS 64
enum { LOSS_XENT, LOSS_BCE, LOSS_MSE };
typedef struct {
    int kind, n, c, hw;
    long count, chunk;
    const float *z, *p, *target;
    float *dz;
    double part[LOSS_MAXCHUNKS];
} loss_job;

static double xent_items(const loss_job *j, long lo, long hi);
static double bce_items(const loss_job *j, long lo, long hi);
static double mse_items(const loss_job *j, long lo, long hi);

static void loss_part(void *arg, int tid, long lo, long hi)
{
    loss_job *j = arg;
    (void)tid;
    for (long k = lo; k < hi; k++) {
        long a = k * j->chunk, b = a + j->chunk < j->count ? a + j->chunk : j->count;
        j->part[k] = j->kind == LOSS_XENT ? xent_items(j, a, b)
                   : j->kind == LOSS_BCE ? bce_items(j, a, b) : mse_items(j, a, b);
    }
}

/* the sum over j->count items, by chunks as above */
static double loss_sum(cnnrt_ctx *ctx, loss_job *j, double work)
{
    long nchunks = (j->count + LOSS_CHUNK - 1) / LOSS_CHUNK;
    if (nchunks > LOSS_MAXCHUNKS)
        nchunks = LOSS_MAXCHUNKS;
    if (nchunks < 1)
        nchunks = 1;
    j->chunk = (j->count + nchunks - 1) / nchunks;
    if (nchunks > 1 && cnnrt_par_worth(ctx, work))
        cnnrt_par_for(ctx, nchunks, 1, 0, loss_part, j);
    else
        loss_part(j, 0, 0, nchunks);
    double sum = 0;
    for (long k = 0; k < nchunks; k++)
        sum += j->part[k];
    return sum;
}

/* log(1 + e^v) without overflow or cancellation */
static double loss_softplus(double v)
{
    return (v > 0 ? v : 0) + log1p(exp(-fabs(v)));
}

/* z, p, target, dz: [n][c][hw]; softmax over c at each pixel.
 *   loss = (1/n) sum over samples and pixels of -sum_c y ln p
 *        = (1/n) sum (sum_c y) lse(z) - sum_c y z
 *   dz   = (p * sum_c y - y) / n,  which is (p - y)/n for the probability
 *          targets the contract asks for, and the exact gradient otherwise.
 * p may be NULL (then it is recomputed from z); dz may be NULL. */
float cnnrt_xent_loss(cnnrt_ctx *ctx, int n, int c, int hw, const float *z, const float *p,
                      const float *target, float *dz)
{
    loss_job j = { .kind = LOSS_XENT, .n = n, .c = c, .hw = hw, .count = (long)n * hw,
                   .z = z, .p = p, .target = target, .dz = dz };
    return (float)(loss_sum(ctx, &j, 8.0 * n * c * hw) / n);
}

/* pixels [lo, hi) of cnnrt_xent_loss: their loss, and their dz */
static double xent_items(const loss_job *j, long lo, long hi)
{
    int n = j->n, c = j->c, hw = j->hw;
    const float *z = j->z, *p = j->p, *target = j->target;
    float *dz = j->dz;
    double loss = 0;
    for (long pix = lo; pix < hi; pix++) {
        long o = pix / hw * c * hw + pix % hw;  /* channel 0 of this pixel */
        double lse = loss_lse(z + o, c, hw), sy = 0;
        for (int ch = 0; ch < c; ch++) {
            long i = o + (long)ch * hw;
            sy += target[i];
            loss += target[i] * (lse - z[i]);
        }
        for (int ch = 0; dz && ch < c; ch++) {
            long i = o + (long)ch * hw;
            double pi = p ? p[i] : exp(z[i] - lse);
            dz[i] = (float)((pi * sy - target[i]) / n);
        }
    }
    return loss;
}

/* sigmoid + binary cross entropy, mean over count elements:
 *   -(y ln p + (1-y) ln(1-p)) = softplus(z) - y z      with p = sigmoid(z)
 *   dz = (p - y) / count
 * p may be NULL (recomputed from z); dz may be NULL. */
float cnnrt_bce_loss(cnnrt_ctx *ctx, long count, const float *z, const float *p,
                     const float *target, float *dz)
{
    loss_job j = { .kind = LOSS_BCE, .count = count, .z = z, .p = p, .target = target, .dz = dz };
    return (float)(loss_sum(ctx, &j, 8.0 * count) / count);
}

static double bce_items(const loss_job *j, long lo, long hi)
{
    const float *z = j->z, *p = j->p, *target = j->target;
    long count = j->count;
    double loss = 0;
    for (long i = lo; i < hi; i++) {
        loss += loss_softplus(z[i]) - (double)target[i] * z[i];
        if (j->dz) {
            double pi = p ? p[i] : 1.0 / (1.0 + exp(-(double)z[i]));
            j->dz[i] = (float)((pi - target[i]) / count);
        }
    }
    return loss;
}

/* mean over count elements of (p - y)^2; dp = 2(p - y)/count (may be NULL) */
float cnnrt_mse_loss(cnnrt_ctx *ctx, long count, const float *p, const float *target, float *dp)
{
    loss_job j = { .kind = LOSS_MSE, .count = count, .p = p, .target = target, .dz = dp };
    return (float)(loss_sum(ctx, &j, 2.0 * count) / count);
}

static double mse_items(const loss_job *j, long lo, long hi)
{
    double loss = 0;
    for (long i = lo; i < hi; i++) {
        double d = (double)j->p[i] - j->target[i];
        loss += d * d;
        if (j->dz)
            j->dz[i] = (float)(2 * d / j->count);
    }
    return loss;
}
