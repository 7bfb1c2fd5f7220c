/* conv.c — 2-D convolution (cross-correlation, as PyTorch) by im2col and
 * gemm, one sample and one group at a time.
 *
 * Shapes (g = *geometry, G = groups, Cg = c/G, Fg = f/G, P = oh*ow):
 *   x  [n][c][h][w]        w  [f][Cg][kh][kw]     b  [f] (may be NULL)
 *   y  [n][f][oh][ow]      scratch: cnnrt_conv_scratch(g) floats
 * Per sample and group, with K = Cg*kh*kw:
 *   col[K][P] = unfold(x)                        (im2col; zero padding)
 *   y[Fg][P]  = w[Fg][K] . col[K][P] + b         (then the epilogue act)
 *   dw[Fg][K] += dy[Fg][P] . col[K][P]^T
 *   dx        = fold(w[Fg][K]^T . dy[Fg][P])     (col2im, summing overlaps)
 * A 1x1 convolution with stride 1 and no padding needs no unfolding: x is
 * col, and dx is the gemm's output.
 *
 * dw's product has P contiguous in both operands, so the gemm would have to
 * transpose col (K*P floats per sample) to pack it.  With Cg >= 4 channels
 * the backward instead builds the transpose directly, "kernel-major": x is
 * turned channels-last (Cg*H*W floats), then row p of colt[P][K] holds the
 * patch of output pixel p in (ki, kj, c) order, copied in runs of Cg (or
 * kw*Cg) floats; t[Fg][K] += dy . colt needs no transposing, and t is
 * permuted into dw's (c, ki, kj) order once per call.
 *
 * Stride-1 convolutions with one group skip im2col altogether (forward,
 * and dx as the stride-1 convolution of dy with the flipped weights): the
 * direct kernel of convdirect.c, with bias and relu in its epilogue.
 *
 * 3x3 ones with many channels and tiles take Winograd's F(2x2, 3x3)
 * instead, forward and dx (convwino.c, where cnnrt_wino_use says), and dw
 * (where cnnrt_wino_dw_use says; before dx, with the whole scratch).
 *
 * Depthwise layers (groups == c == f) skip all of this: convdepth.c's
 * stencil, per plane (cnnrt_depth_use).
 *
 * Not here: the gemm (gemm.c), the activations (activ.c); geometry is
 * trusted (the compiler checked it).
 */
#include "cnnrt.h"
#include "gemm.h"
#include "threads.h"

#include <string.h>

/* 1x1, stride 1, no padding: the input already is the column matrix */
static int conv_pointwise(const cnnrt_conv *g)
{
    return g->kh == 1 && g->kw == 1 && g->sh == 1 && g->sw == 1 &&
           g->ph == 0 && g->pw == 0;
}

/* the kernel-major dw path (see the top of the file) */
static int conv_kernel_major(const cnnrt_conv *g)
{
    return g->c / g->groups >= 4;
}

/* stride 1, one group: the forward by convdirect.c */
static int conv_direct(const cnnrt_conv *g)
{
    return g->sh == 1 && g->sw == 1 && g->groups == 1;
}

/* The geometry of dx as a convolution: dy [f][oh][ow], padded by the
 * kernel's reach less the forward padding, against the flipped weights
 * wf[c][f][kh][kw] gives dx [c][h][w]. */
static cnnrt_conv conv_dx_shape(const cnnrt_conv *g)
{
    return (cnnrt_conv){ g->f, g->oh, g->ow, g->c, g->h, g->w, g->kh, g->kw, 1, 1,
                         (g->kh - 1) * g->dh - g->ph, (g->kw - 1) * g->dw - g->pw,
                         g->dh, g->dw, 1 };
}

/* dx by convdirect.c: 0 when that padding would be negative, for fewer
 * than 4 channels (1-filter tiles) or small planes that convrow.c does not
 * take (then conv.c folds dcol as before). */
static int conv_dx_geom(const cnnrt_conv *g, cnnrt_conv *d)
{
    *d = conv_dx_shape(g);
    if (!conv_direct(g) || d->ph < 0 || d->pw < 0 || g->c < 4)
        return 0;
    /* on planes of 64 pixels or fewer a third of the grid tiles is
     * padding, and the gemm and fold are as fast; convrow.c's tiles are
     * not (VGG's 8x8, 128 -> 64 channels: 4.5 -> 3.0 ms at batch 64) */
    return (long)g->h * g->w > 64 || cnnrt_convrow_use(d);
}

/* dx by Winograd (convwino.c) for a call of n samples, on any plane (n < 0:
 * for some n, the scratch's question) */
static int conv_dx_wino(const cnnrt_conv *g, cnnrt_conv *d, int n)
{
    *d = conv_dx_shape(g);
    if (!conv_direct(g))
        return 0;
    return n < 0 ? cnnrt_wino_geom(d) : cnnrt_wino_use(d, n);
}

/* wf[c][f][ki][kj] = w[f][c][kh-1-ki][kw-1-kj] */
static void conv_flip(const cnnrt_conv *g, const float *w, float *wf)
{
    long kk = (long)g->kh * g->kw;
    for (long f = 0; f < g->f; f++)
        for (long c = 0; c < g->c; c++)
            for (long k = 0; k < kk; k++)
                wf[(c * g->f + f) * kk + k] = w[(f * g->c + c) * kk + (kk - 1 - k)];
}

/* the backward's scratch before the dx region: what dw needs */
static long conv_dw_scratch(const cnnrt_conv *g);

/* Scratch layout, in floats (K = Cg*kh*kw, P = oh*ow, HW = h*w):
 *   col   K*P    col, dcol or colt of one sample and group (not pointwise)
 *   xt    Cg*HW  one sample and group channels-last (kernel-major only;
 *                for a pointwise conv it is colt itself)
 *   t     F*K    dw in (ki, kj, c) order, all groups (kernel-major, not
 *                pointwise), summed over the samples of the call */
/* dw on the padded grid (see below): stride 1, no dilation, one group,
 * kernel-major (>= 4 channels), not 1x1, and more than 80% of the grid's
 * columns real (oh*ow > 0.8 oh*wp: on 8x8 planes padded by 1, and 14x14
 * ones without padding under a 5x5 kernel, the colt gemm was faster) */
static int conv_dw_padded(const cnnrt_conv *g)
{
    return conv_direct(g) && g->dh == 1 && g->dw == 1 && conv_kernel_major(g) &&
           !conv_pointwise(g) && g->ow * 10 > (g->w + 2 * g->pw) * 8;
}

/* floats of the padded dw's xtp: hp*wp pixels of c channels, and the
 * (kw-1)*c floats the last rows of the gemm's B run past them */
static long conv_xtp_floats(const cnnrt_conv *g)
{
    return ((long)g->h + 2 * g->ph) * (g->w + 2 * g->pw) * g->c + (long)g->kw * g->c;
}

/* dw of stride-1 layers by convdirect.c's dot products: one group, not
 * 1x1, not on the padded grid's gemm (above), and the partial sums
 * (f*K*16 floats) at most 256 KB: the layers with fewer than 4 channels,
 * and small planes such as LeNet-5's conv2 (6 -> 16 on 14x14: 259 us at
 * batch 64 against 376 for the kernel-major gemm, whose colt copies cost
 * as much as its products).  VGG's 8x8 planes of 64 channels have too
 * many sums (their gemm runs at 75% of peak). */
static int conv_dw_dot(const cnnrt_conv *g)
{
    return conv_direct(g) && !conv_pointwise(g) && !conv_dw_padded(g) &&
           (long)g->f * g->c * g->kh * g->kw * 16 <= 65536;
}

static long conv_dw_scratch(const cnnrt_conv *g)
{
    if (conv_dw_padded(g)) {        /* xtp, dyp, t */
        long q = (long)g->oh * (g->w + 2 * g->pw), k = (long)g->c * g->kh * g->kw;
        return conv_xtp_floats(g) + g->f * q + g->f * k;
    }
    long cg = g->c / g->groups, hw = (long)g->h * g->w;
    long k = cg * g->kh * g->kw, col = k * g->oh * g->ow, need;
    if (conv_pointwise(g))
        need = conv_kernel_major(g) ? cg * hw : 0;
    else
        need = col + (conv_kernel_major(g) ? cg * hw + g->f * k : 0);
    /* the dot path, or (with a dx that folds dcol) the one above */
    if (conv_dw_dot(g) && cnnrt_dwdot_scratch(g) > need)
        need = cnnrt_dwdot_scratch(g);
    return need;
}

/* the largest of: the forward (direct, or col), the backward (dw's part,
 * then for a direct dx the flipped weights and the direct kernel's) */
long cnnrt_conv_scratch(const cnnrt_conv *g)
{
    if (cnnrt_depth_use(g))
        return cnnrt_depth_scratch(g);
    long bwd = conv_dw_scratch(g), fwd = bwd, dx = 0;
    cnnrt_conv d;
    if (conv_direct(g))
        fwd = cnnrt_direct_scratch(g);
    if (cnnrt_wino_geom(g) && cnnrt_wino_scratch(g) > fwd)
        fwd = cnnrt_wino_scratch(g);
    if (conv_dx_geom(g, &d))
        dx = cnnrt_direct_scratch(&d);
    if (conv_dx_wino(g, &d, -1) && cnnrt_wino_scratch(&d) > dx)
        dx = cnnrt_wino_scratch(&d);
    if (dx)                 /* the flipped weights, then the kernel's */
        bwd += (long)g->f * g->c * g->kh * g->kw + dx;
    if (cnnrt_wino_geom(g) && cnnrt_wino_dw_scratch(g) > bwd)
        bwd = cnnrt_wino_dw_scratch(g);     /* dw by Winograd, done before dx */
    return fwd > bwd ? fwd : bwd;
}

void cnnrt_span(int nout, int stride, int off, int nin, int *lo, int *hi)
{
    int l = off >= 0 ? 0 : (-off + stride - 1) / stride;
    int h = nin - off <= 0 ? 0 : (nin - off + stride - 1) / stride;
    if (h > nout)
        h = nout;
    if (l > h)
        l = h;
    *lo = l;
    *hi = h;
}

static void conv_zero(float *p, long n)
{
    if (n > 0)
        memset(p, 0, (size_t)n * sizeof *p);
}

/* The im2col correspondence for cg channels of one sample, in one of two
 * directions:  dx == NULL: col[K][P] = x (unfold, padding reads as 0);
 *              dx != NULL: dx += col  (fold; dx zeroed by the caller; the
 *                          entries of col that fall in the padding are
 *                          zeroed on the way, col being scratch).
 * Row (c*kh + ki)*kw + kj of col (a "slice") holds, at column oy*ow + ox,
 * the input pixel (oy*sh - ph + ki*dh, ox*sw - pw + kj*dw) of channel c. */
static void conv_unfold(const cnnrt_conv *g, int cg, const float *x,
                        float *col, float *dx)
{
    long hw = (long)g->h * g->w, P = (long)g->oh * g->ow;
    /* Stride 1 and ow == w: output row oy reads input row oy + yoff with
     * the same column shift, so a whole slice is one copy at a constant
     * offset (d -> d + shift), and only the columns that fall off the
     * sides, read from the neighbouring row, need zeroing afterwards. */
    int linear = g->sh == 1 && g->sw == 1 && g->ow == g->w;
    for (int c = 0; c < cg; c++)
        for (int ki = 0; ki < g->kh; ki++)
            for (int kj = 0; kj < g->kw; kj++) {
                float *row = col + ((long)(c * g->kh + ki) * g->kw + kj) * P;
                int yoff = ki * g->dh - g->ph, xoff = kj * g->dw - g->pw;
                int ylo, yhi, xlo, xhi;
                cnnrt_span(g->oh, g->sh, yoff, g->h, &ylo, &yhi);
                cnnrt_span(g->ow, g->sw, xoff, g->w, &xlo, &xhi);
                if (linear) {
                    long shift = c * hw + (long)yoff * g->w + xoff;
                    long d0 = (long)ylo * g->ow, d1 = (long)yhi * g->ow;
                    /* [a, b): the part of [d0, d1) whose input index lies in
                     * channel c; what is cut off is side columns only */
                    long a = d0 > c * hw - shift ? d0 : c * hw - shift;
                    long b = d1 < (c + 1) * hw - shift ? d1 : (c + 1) * hw - shift;
                    if (a > d1)
                        a = d1;
                    if (b < a)
                        b = a;
                    if (!dx) {
                        conv_zero(row, a);
                        if (b > a)          /* one long run: memcpy's */
                            memcpy(row + a, x + a + shift, (size_t)(b - a) * sizeof *row);
                        conv_zero(row + b, P - b);
                    }
                    for (int oy = ylo; oy < yhi; oy++) {
                        conv_zero(row + (long)oy * g->ow, xlo);
                        conv_zero(row + (long)oy * g->ow + xhi, g->ow - xhi);
                    }
                    for (long d = a; dx && d < b; d++)
                        dx[d + shift] += row[d];
                    continue;
                }
                for (int oy = 0; oy < g->oh; oy++) {
                    float *r = row + (long)oy * g->ow;
                    int inside = oy >= ylo && oy < yhi;
                    /* input index of ox is base + ox*sw, >= 0 for ox >= xlo */
                    long base = c * hw + (long)(oy * g->sh + yoff) * g->w + xoff;
                    if (dx) {
                        for (int ox = xlo; inside && ox < xhi; ox++)
                            dx[base + (long)ox * g->sw] += r[ox];
                        continue;
                    }
                    if (!inside) {
                        conv_zero(r, g->ow);
                        continue;
                    }
                    conv_zero(r, xlo);
                    if (g->sw == 1)         /* vectorized; no memcpy call */
                        for (int ox = xlo; ox < xhi; ox++)
                            r[ox] = x[base + ox];
                    else
                        for (int ox = xlo; ox < xhi; ox++)
                            r[ox] = x[base + (long)ox * g->sw];
                    conv_zero(r + xhi, g->ow - xhi);
                }
            }
}

/* xt[pix][c] = x[c][pix] for cg channels of hw pixels */
static void conv_to_hwc(const float *x, int cg, long hw, float *xt)
{
    cnnrt_transpose(x, hw, xt, cg, cg, (int)hw);
}

/* colt[p][(ki*kw + kj)*cg + c] = pixel (iy, ix) of channel c, from the
 * channels-last xt, or 0 in the padding (the layout is in the file's top
 * comment).  Each valid (ki, kj) is a run of cg floats; with dw == 1 the
 * valid kj of one ki are a single run. */
static void conv_unfold_rows(const cnnrt_conv *g, int cg, const float *xt,
                             float *colt)
{
    long K = (long)g->kh * g->kw * cg, run = (long)g->kw * cg;
    for (int oy = 0; oy < g->oh; oy++)
        for (int ox = 0; ox < g->ow; ox++) {
            float *r = colt + ((long)oy * g->ow + ox) * K;
            int iy0 = oy * g->sh - g->ph, ix0 = ox * g->sw - g->pw, jlo, jhi;
            cnnrt_span(g->kw, g->dw, ix0, g->w, &jlo, &jhi);
            for (int ki = 0; ki < g->kh; ki++, r += run) {
                int iy = iy0 + ki * g->dh;
                if (iy < 0 || iy >= g->h) {
                    conv_zero(r, run);
                    continue;
                }
                const float *src = xt + ((long)iy * g->w + ix0) * cg;
                conv_zero(r, (long)jlo * cg);
                if (g->dw == 1 && jhi > jlo)
                    memcpy(r + (long)jlo * cg, src + (long)jlo * cg,
                           (size_t)(jhi - jlo) * cg * sizeof *r);
                else
                    for (int kj = jlo; kj < jhi; kj++)
                        memcpy(r + (long)kj * cg, src + (long)kj * g->dw * cg,
                               (size_t)cg * sizeof *r);
                conv_zero(r + (long)jhi * cg, run - (long)jhi * cg);
            }
        }
}

/* The kernel-major dw without colt (conv_dw_padded): on the padded grid
 * of convdirect.c (q = oy*wp + ox, Q = oh*wp), with x channels-last and
 * zero-bordered in xtp[hp*wp][c] and dy in dyp[f][Q] (0 at ox >= ow), the
 * row of colt for ki is xtp + (q + ki*wp)*c: a matrix of Q rows of kw*c
 * floats at the uniform stride c, overlapping, read in place by the gemm:
 *   t[f][ki][kj][c] (+)= dyp[f][Q] . xtp_ki[Q][kw*c]     for each ki.
 * xtp's borders and dyp's dead columns are zeroed once per call (first). */
static void conv_dw_sample(const cnnrt_conv *g, const float *x, const float *dy,
                           float *scratch, int first, float beta)
{
    int C = g->c, F = g->f, wp = g->w + 2 * g->pw;
    long Q = (long)g->oh * wp, P = (long)g->oh * g->ow, K = (long)C * g->kh * g->kw;
    float *xtp = scratch, *dyp = xtp + conv_xtp_floats(g), *t = dyp + F * Q;
    if (first) {
        memset(xtp, 0, (size_t)conv_xtp_floats(g) * sizeof *xtp);
        memset(dyp, 0, (size_t)(F * Q) * sizeof *dyp);
    }
    for (int iy = 0; iy < g->h; iy++)
        cnnrt_transpose(x + (long)iy * g->w, (long)g->h * g->w,
                        xtp + ((long)(iy + g->ph) * wp + g->pw) * C, C, C, g->w);
    for (int f = 0; f < F; f++)
        for (int oy = 0; oy < g->oh; oy++)
            memcpy(dyp + f * Q + (long)oy * wp, dy + f * P + (long)oy * g->ow,
                   (size_t)g->ow * sizeof *dy);
    cnnrt_sgemm_blocks(F, g->kw * C, (int)Q, g->kh, dyp, (int)Q, xtp, C, (long)wp * C,
                       beta, t, (int)K, (long)g->kw * C);
}

/* dw[f][c][k] += t[f][k][c] for f < nf, k < kk (kernel cells), c < cg */
static void conv_add_kernel_major(const float *t, int nf, int cg, int kk, float *dw)
{
    for (long f = 0; f < nf; f++)
        for (int k = 0; k < kk; k++)
            for (int c = 0; c < cg; c++)
                dw[(f * cg + c) * kk + k] += t[(f * kk + k) * cg + c];
}

/* ctx->scratch for a conv call that needs it when `needed`: without a
 * context, or without the scratch the call needs, the numbers would be
 * wrong or the call would crash: a programming error (cnnrt_misuse). */
static float *conv_scratch(cnnrt_ctx *ctx, const cnnrt_conv *g, int needed, const char *fn)
{
    if (!ctx)
        cnnrt_misuse("%s: NULL kernel context", fn);
    if (needed && !ctx->scratch)
        cnnrt_misuse("%s: ctx->scratch is NULL; the call needs cnnrt_conv_scratch() = %ld floats",
                     fn, cnnrt_conv_scratch(g));
    return ctx->scratch;
}

/* Samples [s0, s1) of a call of n with this scratch; the products run on
 * the threads of `par` (NULL: on this thread).  The kernel is chosen by
 * the call's n, never by the split, so that the threads do not change a
 * bit. */
static void conv_forward_range(cnnrt_ctx *par, const cnnrt_conv *g, int n, int s0, int s1,
                               const float *x, const float *w, const float *b, float *y,
                               int act, float alpha, float *scratch)
{
    int G = g->groups, cg = g->c / G, fg = g->f / G;
    int kg = cg * g->kh * g->kw, P = g->oh * g->ow;
    long hw = (long)g->h * g->w, xs = g->c * hw, ys = (long)g->f * P;
    int pw = conv_pointwise(g);
    if (cnnrt_wino_use(g, n)) {
        cnnrt_wino_forward(g, s1 - s0, x + s0 * xs, w, b, y + s0 * ys, act, alpha, scratch);
        return;
    }
    if (conv_direct(g)) {
        /* packs w into this scratch, unless for one sample (then the
         * packing would cost as much as the reads it saves) */
        int packed = cnnrt_direct_pack(g, w, scratch, s1 - s0);
        for (int s = s0; s < s1; s++)
            cnnrt_direct_sample(g, scratch, packed ? NULL : w, x + s * xs, b, y + s * ys, act,
                                alpha);
        return;
    }
    for (int s = s0; s < s1; s++) {
        float *yo = y + s * ys;
        for (int gi = 0; gi < G; gi++) {
            const float *xg = x + s * xs + gi * cg * hw, *col = xg;
            float *yg = yo + (long)gi * fg * P;
            if (!pw) {
                conv_unfold(g, cg, xg, scratch, NULL);
                col = scratch;
            }
            /* the bias goes in first; the gemm then adds onto it */
            for (int f = 0; b && f < fg; f++)
                for (int p = 0; p < P; p++)
                    yg[(long)f * P + p] = b[gi * fg + f];
            cnnrt_sgemm_par(par, 0, 0, fg, P, kg, 1.0f, w + (long)gi * fg * kg, kg,
                            col, P, b ? 1.0f : 0.0f, yg, P);
        }
        if (act != CNNRT_ACT_NONE)
            cnnrt_act_forward(par, act, alpha, ys, yo, yo);
    }
}

/* ---- threads: a call with at least as many samples as threads splits
 * the samples (each computed exactly as alone, with its thread's scratch);
 * a smaller one splits each product's output columns instead.  The
 * backward sums dw and db over the samples in their order, so those are
 * split along their own elements, never along the samples. ---- */
typedef struct {
    cnnrt_ctx *ctx;
    const cnnrt_conv *g;
    const float *x, *w, *b, *dy;
    float *y, *dx;
    int act, n;             /* n: the call's samples */
    float alpha;
} conv_job;

static void conv_forward_part(void *arg, int tid, long lo, long hi)
{
    const conv_job *j = arg;
    conv_forward_range(NULL, j->g, j->n, (int)lo, (int)hi, j->x, j->w, j->b, j->y, j->act,
                       j->alpha, cnnrt_par_scratch(j->ctx, tid));
}

/* split the samples of a call?  (see conv_job) */
static int conv_split(cnnrt_ctx *ctx, const cnnrt_conv *g, int n)
{
    double work = (double)n * g->f * g->oh * g->ow * (g->c / g->groups) * g->kh * g->kw;
    return n >= cnnrt_par_threads(ctx) && cnnrt_par_worth(ctx, work);
}

void cnnrt_conv_forward(cnnrt_ctx *ctx, const cnnrt_conv *g, int n, const float *x,
                        const float *w, const float *b, float *y,
                        int act, float alpha)
{
    if (cnnrt_depth_use(g)) {               /* scratch: the phase layout */
        conv_scratch(ctx, g, g->sw > 1, "cnnrt_conv_forward");
        cnnrt_depth_forward(ctx, g, n, x, w, b, y, act, alpha);
        return;
    }
    float *scratch = conv_scratch(ctx, g, !conv_pointwise(g) || conv_direct(g), "cnnrt_conv_forward");
    if (conv_split(ctx, g, n)) {
        conv_job j = { ctx, g, x, w, b, NULL, y, NULL, act, n, alpha };
        cnnrt_par_for(ctx, n, 1, cnnrt_conv_scratch(g), conv_forward_part, &j);
        return;
    }
    conv_forward_range(ctx, g, n, 0, n, x, w, b, y, act, alpha, scratch);
}

/* dx of samples [s0, s1) from dy (after the epilogue's backward), with
 * this scratch; the products run on the threads of `par` (NULL: here). */
static void conv_dx_range(cnnrt_ctx *par, const cnnrt_conv *g, int n, int s0, int s1,
                          const float *w, const float *dy, float *dx, float *scratch)
{
    int G = g->groups, cg = g->c / G, fg = g->f / G;
    int kg = cg * g->kh * g->kw, P = g->oh * g->ow;
    long hw = (long)g->h * g->w, xs = g->c * hw, ys = (long)g->f * P;
    cnnrt_conv dg;
    if (conv_dx_wino(g, &dg, n)) {     /* the layout below */
        float *wf = scratch + conv_dw_scratch(g);
        conv_flip(g, w, wf);
        cnnrt_wino_forward(&dg, s1 - s0, dy + s0 * ys, wf, NULL, dx + s0 * xs,
                           CNNRT_ACT_NONE, 0.0f, wf + (long)g->f * kg);
        return;
    }
    if (conv_dx_geom(g, &dg)) {
        /* the direct dx: w flipped, then packed, in this scratch (dw is
         * done with it: the layout of cnnrt_conv_scratch) */
        float *wf = scratch + conv_dw_scratch(g), *dsc = wf + (long)g->f * kg;
        conv_flip(g, w, wf);
        cnnrt_direct_pack(&dg, wf, dsc, 2);    /* always packed: wf is scratch too */
        for (int s = s0; s < s1; s++)
            for (int gi = 0; gi < G; gi++)
                cnnrt_direct_sample(&dg, dsc, NULL, dy + s * ys + (long)gi * fg * P, NULL,
                                    dx + s * xs + gi * cg * hw, CNNRT_ACT_NONE, 0.0f);
        return;
    }
    for (int s = s0; s < s1; s++)
        for (int gi = 0; gi < G; gi++) {
            const float *dyg = dy + s * ys + (long)gi * fg * P;
            const float *wg = w + (long)gi * fg * kg;
            long xo = s * xs + gi * cg * hw;
            if (conv_pointwise(g)) {
                cnnrt_sgemm_par(par, 1, 0, kg, P, fg, 1.0f, wg, kg, dyg, P, 0.0f,
                                dx + xo, P);
                continue;
            }
            cnnrt_sgemm_par(par, 1, 0, kg, P, fg, 1.0f, wg, kg, dyg, P, 0.0f, scratch, P);
            memset(dx + xo, 0, (size_t)(cg * hw) * sizeof *dx);
            conv_unfold(g, cg, NULL, scratch, dx + xo);
        }
}

static void conv_dx_part(void *arg, int tid, long lo, long hi)
{
    const conv_job *j = arg;
    conv_dx_range(NULL, j->g, j->n, (int)lo, (int)hi, j->w, j->dy, j->dx,
                  cnnrt_par_scratch(j->ctx, tid));
}

/* dy becomes the gradient before the epilogue act (in place).  dx (may be
 * NULL) is overwritten; dw and db (either may be NULL) accumulate.
 * Order: the epilogue's backward, db and dw summed over the samples in
 * order (their products split by columns; the kernel-major dw with its
 * unfolding, conv_dw.c), then dx sample by sample (split by samples).  dx may reuse x's buffer: dw has read all of x by then. */
void cnnrt_conv_backward(cnnrt_ctx *ctx, const cnnrt_conv *g, int n, const float *x,
                         const float *w, const float *y, float *dy,
                         int act, float alpha,
                         float *dx, float *dw, float *db)
{
    if (cnnrt_depth_use(g)) {               /* scratch: dw's rows, the phase layout */
        conv_scratch(ctx, g, dw || (dx && g->sw > 1), "cnnrt_conv_backward");
        if (act != CNNRT_ACT_NONE)
            cnnrt_act_backward(ctx, act, alpha, (long)n * g->f * g->oh * g->ow, NULL, y, dy, dy);
        cnnrt_depth_backward(ctx, g, n, x, w, dy, dx, dw, db);
        return;
    }
    int G = g->groups, cg = g->c / G, fg = g->f / G;
    int kg = cg * g->kh * g->kw, P = g->oh * g->ow;
    long hw = (long)g->h * g->w, xs = g->c * hw, ys = (long)g->f * P;
    int pw = conv_pointwise(g), km = conv_kernel_major(g), dwp = conv_dw_padded(g);
    cnnrt_conv dg;
    int ddx = dx && (conv_dx_geom(g, &dg) || conv_dx_wino(g, &dg, n));
    float *scratch = conv_scratch(ctx, g, (!pw && (dw || dx)) || (km && dw) || ddx,
                                  "cnnrt_conv_backward");
    float *xt = NULL, *t = NULL;            /* the layout above cnnrt_conv_scratch */
    if (km) {
        xt = scratch + (pw ? 0 : (long)kg * P);
        t = xt + cg * hw;
    }
    /* one thread: the epilogue's backward and db plane by plane, the sum
     * reading what the act just wrote from L1 (the same operations, in
     * the same order, as the two passes the threads take) */
    int fuse_db = act != CNNRT_ACT_NONE && db && cnnrt_par_threads(ctx) == 1;
    if (fuse_db)
        for (long pl = 0; pl < (long)n * g->f; pl++) {
            cnnrt_act_backward(NULL, act, alpha, P, NULL, y + pl * P, dy + pl * P, dy + pl * P);
            db[pl % g->f] += (float)cnnrt_sum(dy + pl * P, P);
        }
    else if (act != CNNRT_ACT_NONE)
        cnnrt_act_backward(ctx, act, alpha, n * ys, NULL, y, dy, dy);
    if (dw && cnnrt_wino_dw_use(g, n)) {    /* convwino.c; the paths below skip dw */
        cnnrt_wino_dw(ctx, g, n, x, dy, dw, scratch);
        dw = NULL;
    }
    /* the dot path (sums kept in scratch across samples; dx runs after) */
    int dwd = dw && conv_dw_dot(g);
    if (dwp)                                /* conv_dw_sample's layout */
        t = scratch + conv_xtp_floats(g) + (long)g->f * g->oh * (g->w + 2 * g->pw);
    if (dwd)
        cnnrt_dwdot(g, scratch, n, x, dy, dw);
    /* the column split of the kernel-major dw (conv_dw.c) knows only its
     * own layout: the padded-grid and dot paths run serially */
    int dw_split = dw && km && !pw && !dwp && !dwd && cnnrt_conv_dw_split(ctx, g, n, x, dy, t);
    for (int s = 0; s < n; s++) {
        float *dyo = dy + s * ys;
        for (int f = 0; db && !fuse_db && f < g->f; f++)
            db[f] += (float)cnnrt_sum(dyo + (long)f * P, P);
        for (int gi = 0; dw && !dw_split && !dwd && gi < G; gi++) {
            const float *dyg = dyo + (long)gi * fg * P;
            long xo = s * xs + gi * cg * hw;
            if (dwp) {
                conv_dw_sample(g, x + xo, dyg, scratch, s == 0, s == 0 ? 0.0f : 1.0f);
            } else if (km) {
                /* colt[P][K]: xt itself when pointwise (then K is already
                 * dw's order and the product goes straight into dw) */
                conv_to_hwc(x + xo, cg, hw, xt);
                if (pw) {
                    cnnrt_sgemm_par(ctx, 0, 0, fg, kg, P, 1.0f, dyg, P, xt, kg, 1.0f,
                                    dw + (long)gi * fg * kg, kg);
                } else {
                    conv_unfold_rows(g, cg, xt, scratch);
                    cnnrt_sgemm_par(ctx, 0, 0, fg, kg, P, 1.0f, dyg, P, scratch, kg,
                                    s == 0 ? 0.0f : 1.0f, t + (long)gi * fg * kg, kg);
                }
            } else {
                const float *col = x + xo;
                if (!pw) {
                    conv_unfold(g, cg, x + xo, scratch, NULL);
                    col = scratch;
                }
                cnnrt_sgemm_par(ctx, 0, 1, fg, kg, P, 1.0f, dyg, P, col, P, 1.0f,
                                dw + (long)gi * fg * kg, kg);
            }
        }
    }
    if (dw && km && !pw && !dwd && n > 0)
        conv_add_kernel_major(t, g->f, cg, g->kh * g->kw, dw);
    if (!dx)
        return;
    /* scratch held col or colt for dw; it is free again for dcol */
    if (conv_split(ctx, g, n)) {
        conv_job j = { ctx, g, NULL, w, NULL, dy, NULL, dx, act, n, alpha };
        cnnrt_par_for(ctx, n, 1, cnnrt_conv_scratch(g), conv_dx_part, &j);
        return;
    }
    conv_dx_range(ctx, g, n, 0, n, w, dy, dx, scratch);
}
