/* conv_dw.c — the weight gradient of conv.c's kernel-major path split over
 * threads, so that its unfolding runs in parallel too.
 *
 * Serially (conv.c) each sample s is turned channels-last (xt), unfolded
 * into colt[P][K] with K in (ki, kj, c) order, and t[Fg][K] (+)= dy_s .
 * colt, beta 0 for the first sample and 1 after.  Here thread i owns the
 * columns [k0, k1) of t (k0 a multiple of cnnrt_sgemm_split()) and walks all
 * the samples in order: its own xt, only its columns of colt (in its own
 * scratch, row stride k1 - k0), and the product onto its columns of t.
 * Every element of t sees the same products added in the same order as
 * serially (gemm.h's column-block promise), so t is bit-identical for any
 * thread count; the xt of a sample is made by every thread (a ninth of the
 * unfolding for 3x3 kernels), which is the price of not waiting for each
 * other.  Scratch per thread: the call's cnnrt_conv_scratch layout, col
 * and xt parts (t itself is thread 0's, shared, columns apart).
 * Not here: dx and db (conv.c), the im2col path of convs with < 4
 * channels per group, whose dw stays serial over the unfolding.
 */
#include "cnnrt.h"
#include "gemm.h"
#include "threads.h"

#include <string.h>

typedef struct {
    cnnrt_ctx *ctx;
    const cnnrt_conv *g;
    int n;
    const float *x, *dy;
    float *t;
} dw_job;

/* colt[p][k - k0] for k in [k0, k1): the runs of one (ki, kj) are cg
 * channels long in xt (channels-last), cut to [k0, k1) */
static void dw_unfold_cols(const cnnrt_conv *g, int cg, const float *xt, long k0, long k1,
                           float *colt)
{
    long width = k1 - k0, per_ki = (long)g->kw * cg;
    for (int oy = 0; oy < g->oh; oy++)
        for (int ox = 0; ox < g->ow; ox++) {
            float *r = colt + ((long)oy * g->ow + ox) * width - k0;
            for (long k = k0; k < k1;) {
                int ki = (int)(k / per_ki), kj = (int)(k % per_ki / cg), c = (int)(k % cg);
                long len = cg - c < k1 - k ? cg - c : k1 - k;
                int iy = oy * g->sh - g->ph + ki * g->dh, ix = ox * g->sw - g->pw + kj * g->dw;
                if (iy >= 0 && iy < g->h && ix >= 0 && ix < g->w)
                    memcpy(r + k, xt + ((long)iy * g->w + ix) * cg + c, (size_t)len * sizeof *r);
                else
                    memset(r + k, 0, (size_t)len * sizeof *r);
                k += len;
            }
        }
}

static void dw_part(void *arg, int tid, long k0, long k1)
{
    const dw_job *j = arg;
    const cnnrt_conv *g = j->g;
    int G = g->groups, cg = g->c / G, fg = g->f / G;
    int kg = cg * g->kh * g->kw, P = g->oh * g->ow;
    long hw = (long)g->h * g->w;
    float *colt = cnnrt_par_scratch(j->ctx, tid), *xt = colt + (long)kg * P;
    for (int s = 0; s < j->n; s++)
        for (int gi = 0; gi < G; gi++) {
            const float *xg = j->x + ((long)s * g->c + (long)gi * cg) * hw;
            for (long p = 0; p < hw; p++)
                for (int c = 0; c < cg; c++)
                    xt[p * cg + c] = xg[c * hw + p];
            dw_unfold_cols(g, cg, xt, k0, k1, colt);
            cnnrt_sgemm(0, 0, fg, (int)(k1 - k0), P, 1.0f,
                        j->dy + ((long)s * g->f + (long)gi * fg) * P, P, colt, (int)(k1 - k0),
                        s == 0 ? 0.0f : 1.0f, j->t + (long)gi * fg * kg + k0, kg);
        }
}

int cnnrt_conv_dw_split(cnnrt_ctx *ctx, const cnnrt_conv *g, int n, const float *x,
                        const float *dy, float *t)
{
    int cg = g->c / g->groups, kg = cg * g->kh * g->kw;
    double work = (double)n * g->f * kg * g->oh * g->ow;
    int split = cnnrt_sgemm_split();
    if (kg <= split || !cnnrt_par_worth(ctx, work))
        return 0;
    dw_job j = { ctx, g, n, x, dy, t };
    cnnrt_par_for(ctx, kg, split, cnnrt_conv_scratch(g), dw_part, &j);
    return 1;
}
