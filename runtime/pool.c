/* pool.c — kernels that move pixels around without learning anything:
 * max and average pooling, global average pooling, nearest-neighbour
 * upsampling and channel concatenation.
 *
 * All tensors are [n][c][h][w]; a "plane" is one channel of one sample
 * (n*c planes in all).  Pooling is floor mode: the compiler computed
 * oh = (h + 2*ph - kh)/sh + 1 (likewise ow) and the kernels trust it.
 * Not here: softmax and batchnorm (norm.c).
 */
#include "cnnrt.h"

#include <string.h>

/* The window of output (oy, ox) clipped to the input: rows [*y0, *y1),
 * columns [*x0, *x1).  Empty only when padding exceeds the kernel. */
static void pool_window(const cnnrt_pool *g, int oy, int ox,
                        int *y0, int *y1, int *x0, int *x1)
{
    int iy = oy * g->sh - g->ph, ix = ox * g->sw - g->pw;
    *y0 = iy < 0 ? 0 : iy;
    *y1 = iy + g->kh > g->h ? g->h : iy + g->kh;
    *x0 = ix < 0 ? 0 : ix;
    *x1 = ix + g->kw > g->w ? g->w : ix + g->kw;
}

/* Index in the plane of the first maximum of the window (row-major order),
 * or -1 for an empty window.  Padding never takes part. */
static long pool_argmax(const cnnrt_pool *g, const float *xp, int oy, int ox)
{
    int y0, y1, x0, x1;
    long best = -1;
    float m = 0;
    pool_window(g, oy, ox, &y0, &y1, &x0, &x1);
    for (int iy = y0; iy < y1; iy++)
        for (int ix = x0; ix < x1; ix++) {
            long i = (long)iy * g->w + ix;
            if (best < 0 || xp[i] > m) {
                m = xp[i];
                best = i;
            }
        }
    return best;
}

/* an empty window (only possible with pad > kernel/2) outputs 0 */
void cnnrt_maxpool_forward(const cnnrt_pool *g, int n, const float *x, float *y)
{
    long hw = (long)g->h * g->w, ohw = (long)g->oh * g->ow;
    for (long pl = 0; pl < (long)n * g->c; pl++) {
        const float *xp = x + pl * hw;
        float *yp = y + pl * ohw;
        for (int oy = 0; oy < g->oh; oy++)
            for (int ox = 0; ox < g->ow; ox++) {
                long i = pool_argmax(g, xp, oy, ox);
                yp[oy * g->ow + ox] = i < 0 ? 0.0f : xp[i];
            }
    }
}

/* dx = dy routed to each window's argmax, recomputed from x */
void cnnrt_maxpool_backward(const cnnrt_pool *g, int n, const float *x,
                            const float *dy, float *dx)
{
    long hw = (long)g->h * g->w, ohw = (long)g->oh * g->ow;
    memset(dx, 0, (size_t)(n * g->c * hw) * sizeof *dx);
    for (long pl = 0; pl < (long)n * g->c; pl++) {
        const float *xp = x + pl * hw, *dyp = dy + pl * ohw;
        float *dxp = dx + pl * hw;
        for (int oy = 0; oy < g->oh; oy++)
            for (int ox = 0; ox < g->ow; ox++) {
                long i = pool_argmax(g, xp, oy, ox);
                if (i >= 0)
                    dxp[i] += dyp[oy * g->ow + ox];
            }
    }
}

void cnnrt_avgpool_forward(const cnnrt_pool *g, int n, const float *x, float *y)
{
    long hw = (long)g->h * g->w, ohw = (long)g->oh * g->ow;
    float inv = 1.0f / (float)(g->kh * g->kw);
    for (long pl = 0; pl < (long)n * g->c; pl++) {
        const float *xp = x + pl * hw;
        float *yp = y + pl * ohw;
        for (int oy = 0; oy < g->oh; oy++)
            for (int ox = 0; ox < g->ow; ox++) {
                int y0, y1, x0, x1;
                float s = 0;
                pool_window(g, oy, ox, &y0, &y1, &x0, &x1);
                for (int iy = y0; iy < y1; iy++)
                    for (int ix = x0; ix < x1; ix++)
                        s += xp[(long)iy * g->w + ix];
                yp[oy * g->ow + ox] = s * inv;
            }
    }
}

void cnnrt_avgpool_backward(const cnnrt_pool *g, int n, const float *dy, float *dx)
{
    long hw = (long)g->h * g->w, ohw = (long)g->oh * g->ow;
    float inv = 1.0f / (float)(g->kh * g->kw);
    memset(dx, 0, (size_t)(n * g->c * hw) * sizeof *dx);
    for (long pl = 0; pl < (long)n * g->c; pl++) {
        const float *dyp = dy + pl * ohw;
        float *dxp = dx + pl * hw;
        for (int oy = 0; oy < g->oh; oy++)
            for (int ox = 0; ox < g->ow; ox++) {
                int y0, y1, x0, x1;
                float d = dyp[oy * g->ow + ox] * inv;
                pool_window(g, oy, ox, &y0, &y1, &x0, &x1);
                for (int iy = y0; iy < y1; iy++)
                    for (int ix = x0; ix < x1; ix++)
                        dxp[(long)iy * g->w + ix] += d;
            }
    }
}

/* ---- global average pooling: x [n][c][hw] -> y [n][c] ---- */
void cnnrt_gap_forward(int n, int c, int hw, const float *x, float *y)
{
    for (long pl = 0; pl < (long)n * c; pl++) {
        double s = 0;
        for (int i = 0; i < hw; i++)
            s += x[pl * hw + i];
        y[pl] = (float)(s / hw);
    }
}

void cnnrt_gap_backward(int n, int c, int hw, const float *dy, float *dx)
{
    for (long pl = 0; pl < (long)n * c; pl++) {
        float d = dy[pl] / (float)hw;
        for (int i = 0; i < hw; i++)
            dx[pl * hw + i] = d;
    }
}

/* ---- nearest upsampling: x [n][c][h][w] -> y [n][c][h*f][w*f],
 * y(oy, ox) = x(oy/f, ox/f) ---- */
void cnnrt_upsample_forward(int n, int c, int h, int w, int f, const float *x, float *y)
{
    long wf = (long)w * f;
    for (long row = 0; row < (long)n * c * h; row++) {
        const float *xr = x + row * w;
        float *yr = y + row * f * wf;           /* the f output rows of xr */
        for (int ix = 0; ix < w; ix++)
            for (int q = 0; q < f; q++)
                yr[(long)ix * f + q] = xr[ix];
        for (int r = 1; r < f; r++)
            memcpy(yr + r * wf, yr, (size_t)wf * sizeof *yr);
    }
}

/* dx(iy, ix) = sum of dy over its f x f block */
void cnnrt_upsample_backward(int n, int c, int h, int w, int f, const float *dy, float *dx)
{
    long wf = (long)w * f;
    for (long row = 0; row < (long)n * c * h; row++) {
        const float *dyr = dy + row * f * wf;
        float *dxr = dx + row * w;
        for (int ix = 0; ix < w; ix++) {
            float s = 0;
            for (int r = 0; r < f; r++)
                for (int q = 0; q < f; q++)
                    s += dyr[r * wf + (long)ix * f + q];
            dxr[ix] = s;
        }
    }
}

/* ---- concat along channels: per sample, y holds part 0's sizes[0] floats,
 * then part 1's, ...  Both directions are the same walk:
 *   to_y:  y-slice = part;   otherwise  part = y-slice (NULL parts skipped) */
static void concat_walk(int n, int k, const long *sizes, float *const *parts,
                        float *y, int to_y)
{
    long total = 0;
    for (int i = 0; i < k; i++)
        total += sizes[i];
    for (long s = 0; s < n; s++) {
        long off = s * total;
        for (int i = 0; i < k; i++) {
            float *part = parts[i] ? parts[i] + s * sizes[i] : NULL;
            size_t bytes = (size_t)sizes[i] * sizeof *y;
            if (to_y)
                memcpy(y + off, part, bytes);
            else if (part)
                memcpy(part, y + off, bytes);
            off += sizes[i];
        }
    }
}

void cnnrt_concat_forward(int n, int k, const float *const *xs, const long *sizes, float *y)
{
    /* the walk only reads the parts in this direction */
    concat_walk(n, k, sizes, (float *const *)xs, y, 1);
}

/* dxs[i] may be NULL for a part whose gradient nobody needs */
void cnnrt_concat_backward(int n, int k, const long *sizes, const float *dy, float *const *dxs)
{
    concat_walk(n, k, sizes, dxs, (float *)dy, 0);
}
