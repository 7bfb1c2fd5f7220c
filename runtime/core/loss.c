/* loss.c — the training losses, each returning the loss and writing the
 * gradient that starts the backward pass.
 *
 * Cross entropy and BCE take the logits z (before softmax / sigmoid) and
 * evaluate every log by log-sum-exp, so no probability ever reaches log():
 * the loss is finite for any finite z, however extreme.  Sums run in
 * double.  Not here: softmax and sigmoid themselves (norm.c, activ.c).
 */
#include "cnnrt.h"

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
    (void)ctx;
    double loss = 0;
    for (long pix = 0; pix < (long)n * hw; pix++) {
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
    return (float)(loss / n);
}

/* sigmoid + binary cross entropy, mean over count elements:
 *   -(y ln p + (1-y) ln(1-p)) = softplus(z) - y z      with p = sigmoid(z)
 *   dz = (p - y) / count
 * p may be NULL (recomputed from z); dz may be NULL. */
float cnnrt_bce_loss(cnnrt_ctx *ctx, long count, const float *z, const float *p,
                     const float *target, float *dz)
{
    (void)ctx;
    double loss = 0;
    for (long i = 0; i < count; i++) {
        loss += loss_softplus(z[i]) - (double)target[i] * z[i];
        if (dz) {
            double pi = p ? p[i] : 1.0 / (1.0 + exp(-(double)z[i]));
            dz[i] = (float)((pi - target[i]) / count);
        }
    }
    return (float)(loss / count);
}

/* mean over count elements of (p - y)^2; dp = 2(p - y)/count (may be NULL) */
float cnnrt_mse_loss(cnnrt_ctx *ctx, long count, const float *p, const float *target, float *dp)
{
    (void)ctx;
    double loss = 0;
    for (long i = 0; i < count; i++) {
        double d = (double)p[i] - target[i];
        loss += d * d;
        if (dp)
            dp[i] = (float)(2 * d / count);
    }
    return (float)(loss / count);
}
