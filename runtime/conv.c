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
 * Not here: the gemm (gemm.c), the activations (activ.c); no direct or
 * Winograd algorithms; geometry is trusted (the compiler checked it).
 */
#include "cnnrt.h"
#include "gemm.h"

#include <string.h>

/* 1x1, stride 1, no padding: the input already is the column matrix */
static int conv_pointwise(const cnnrt_conv *g)
{
    return g->kh == 1 && g->kw == 1 && g->sh == 1 && g->sw == 1 &&
           g->ph == 0 && g->pw == 0;
}

long cnnrt_conv_scratch(const cnnrt_conv *g)
{
    if (conv_pointwise(g))
        return 0;
    return (long)(g->c / g->groups) * g->kh * g->kw * g->oh * g->ow;
}

/* Output positions o in [0, nout) whose input coordinate o*stride + off
 * lies inside [0, nin): the half-open range [*lo, *hi). */
static void conv_span(int nout, int stride, int off, int nin, int *lo, int *hi)
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

/* The im2col correspondence for cg channels of one sample, in one of two
 * directions:  dx == NULL: col[K][P] = x (unfold, padding reads as 0);
 *              dx != NULL: dx += col  (fold; dx zeroed by the caller).
 * Row (c*kh + ki)*kw + kj of col holds, at column oy*ow + ox, the input
 * pixel (oy*sh - ph + ki*dh, ox*sw - pw + kj*dw) of channel c. */
static void conv_unfold(const cnnrt_conv *g, int cg, const float *x,
                        float *col, float *dx)
{
    long hw = (long)g->h * g->w, P = (long)g->oh * g->ow;
    for (int c = 0; c < cg; c++)
        for (int ki = 0; ki < g->kh; ki++)
            for (int kj = 0; kj < g->kw; kj++) {
                float *row = col + ((long)(c * g->kh + ki) * g->kw + kj) * P;
                int yoff = ki * g->dh - g->ph, xoff = kj * g->dw - g->pw;
                int ylo, yhi, xlo, xhi;
                conv_span(g->oh, g->sh, yoff, g->h, &ylo, &yhi);
                conv_span(g->ow, g->sw, xoff, g->w, &xlo, &xhi);
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
                        memset(r, 0, (size_t)g->ow * sizeof *r);
                        continue;
                    }
                    for (int ox = 0; ox < xlo; ox++)
                        r[ox] = 0;
                    if (g->sw == 1 && xhi > xlo)
                        memcpy(r + xlo, x + base + xlo,
                               (size_t)(xhi - xlo) * sizeof *r);
                    else if (g->sw != 1)
                        for (int ox = xlo; ox < xhi; ox++)
                            r[ox] = x[base + (long)ox * g->sw];
                    for (int ox = xhi; ox < g->ow; ox++)
                        r[ox] = 0;
                }
            }
}

void cnnrt_conv_forward(const cnnrt_conv *g, int n, const float *x,
                        const float *w, const float *b, float *y,
                        int act, float alpha, float *scratch)
{
    int G = g->groups, cg = g->c / G, fg = g->f / G;
    int kg = cg * g->kh * g->kw, P = g->oh * g->ow;
    long hw = (long)g->h * g->w, xs = g->c * hw, ys = (long)g->f * P;
    int pw = conv_pointwise(g);
    for (int s = 0; s < n; s++) {
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
            cnnrt_sgemm(0, 0, fg, P, kg, 1.0f, w + (long)gi * fg * kg, kg,
                        col, P, b ? 1.0f : 0.0f, yg, P);
        }
        if (act != CNNRT_ACT_NONE)
            cnnrt_act_forward(act, alpha, ys, yo, yo);
    }
}

/* dy becomes the gradient before the epilogue act (in place).  dx (may be
 * NULL) is overwritten; dw and db (either may be NULL) accumulate. */
void cnnrt_conv_backward(const cnnrt_conv *g, int n, const float *x,
                         const float *w, const float *y, float *dy,
                         int act, float alpha,
                         float *dx, float *dw, float *db, float *scratch)
{
    int G = g->groups, cg = g->c / G, fg = g->f / G;
    int kg = cg * g->kh * g->kw, P = g->oh * g->ow;
    long hw = (long)g->h * g->w, xs = g->c * hw, ys = (long)g->f * P;
    int pw = conv_pointwise(g);
    for (int s = 0; s < n; s++) {
        float *dyo = dy + s * ys;
        if (act != CNNRT_ACT_NONE)
            cnnrt_act_backward(act, alpha, ys, NULL, y + s * ys, dyo, dyo);
        for (int f = 0; db && f < g->f; f++) {
            float t = 0;
            for (int p = 0; p < P; p++)
                t += dyo[(long)f * P + p];
            db[f] += t;
        }
        for (int gi = 0; gi < G; gi++) {
            const float *dyg = dyo + (long)gi * fg * P;
            const float *wg = w + (long)gi * fg * kg;
            long xo = s * xs + gi * cg * hw;
            if (dw) {
                const float *col = x + xo;
                if (!pw) {
                    conv_unfold(g, cg, x + xo, scratch, NULL);
                    col = scratch;
                }
                cnnrt_sgemm(0, 1, fg, kg, P, 1.0f, dyg, P, col, P, 1.0f,
                            dw + (long)gi * fg * kg, kg);
            }
            if (!dx)
                continue;
            if (pw) {
                cnnrt_sgemm(1, 0, kg, P, fg, 1.0f, wg, kg, dyg, P, 0.0f,
                            dx + xo, P);
                continue;
            }
            /* scratch held col for dw; it is free again for dcol */
            cnnrt_sgemm(1, 0, kg, P, fg, 1.0f, wg, kg, dyg, P, 0.0f, scratch, P);
            memset(dx + xo, 0, (size_t)(cg * hw) * sizeof *dx);
            conv_unfold(g, cg, NULL, scratch, dx + xo);
        }
    }
}
