/* fold.c — batchnorm folded into the preceding convolution's weights, for
 * inference builds (cnnc's fold-batchnorm pass).  The generated code calls
 * it after every _init and _load, keeping the original parameters (so
 * parameter files stay the same) and running the conv on the folded copy.
 */
#include <math.h>
#include "cnnrt.h"

void cnnrt_fold_batchnorm(cnnrt_ctx *ctx, int filters, long per, const float *w, const float *b,
                          const float *gamma, const float *beta, const float *mean,
                          const float *var, float eps, float *fw, float *fb)
{
    (void)ctx;
    for (int f = 0; f < filters; f++) {
        float s = gamma[f] / sqrtf(var[f] + eps);
        for (long k = 0; k < per; k++)
            fw[f * per + k] = w[f * per + k] * s;
        fb[f] = ((b ? b[f] : 0.0f) - mean[f]) * s + beta[f];
    }
}
