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
#include "gemm.h"
#include "threads.h"

#include <math.h>
#include <string.h>

/* The windows of one output row, as "taps": one per kernel cell (ky, kx)
 * that lands inside the input for some ox, in row-major window order.  Tap
 * t covers the plane indices base + ox*sw for ox in [lo, hi); base may be
 * negative, the indices used never are.  Walking the taps of a row with ox
 * innermost visits every window's cells in window order, with no clipping
 * in the inner loops. */
typedef struct {
    long base;
    int lo, hi;
} PoolTap;

static int pool_taps(const cnnrt_pool *g, int oy, PoolTap *t)
{
    int nt = 0;
    for (int ky = 0; ky < g->kh; ky++) {
        int iy = oy * g->sh - g->ph + ky;
        if (iy < 0 || iy >= g->h)
            continue;                           /* padding never counts */
        for (int kx = 0; kx < g->kw; kx++) {
            int off = kx - g->pw;
            t[nt].base = (long)iy * g->w + off;
            cnnrt_span(g->ow, g->sw, off, g->w, &t[nt].lo, &t[nt].hi);
            nt++;
        }
    }
    return nt;
}

/* The first maximum of every window of output row oy (strictly greater
 * replaces, so ties keep the earliest cell): value in m[ox], plane index in
 * at[ox], or at[ox] = -1 when no cell exceeds -inf (an all-padding window,
 * possible only when pad > kernel/2, or a window of -inf).  Which cell a
 * NaN input leaves as the maximum is unspecified. */
static void pool_row_max(const cnnrt_pool *g, const float *xp, int oy,
                         PoolTap *t, float *m, int *at)
{
    int nt = pool_taps(g, oy, t);
    for (int ox = 0; ox < g->ow; ox++) {
        m[ox] = -INFINITY;
        at[ox] = -1;
    }
    for (int k = 0; k < nt; k++) {
        int lo = t[k].lo, hi = t[k].hi, sw = g->sw;
        long base = t[k].base;
        for (int ox = lo; ox < hi; ox++) {
            int i = (int)(base + (long)ox * sw);
            float v = xp[i], mo = m[ox];
            int gt = v > mo;                    /* branch-free: data is random */
            m[ox] = v > mo ? v : mo;
            at[ox] += gt * (i - at[ox]);
        }
    }
}

/* The same for the common 2x2, stride 2, unpadded pooling, with the four
 * cells compared pairwise (first maximum wins ties) in a loop GCC
 * vectorizes. */
static void pool_row_max2(const cnnrt_pool *g, const float *xp, int oy,
                          float *m, int *at)
{
    const float *r0 = xp + 2L * oy * g->w, *r1 = r0 + g->w;
    int i0 = 2 * oy * g->w, w = g->w, ow = g->ow;
    for (int ox = 0; ox < ow; ox++) {
        float a = r0[2 * ox], b = r0[2 * ox + 1], c = r1[2 * ox], d = r1[2 * ox + 1];
        int ia = i0 + 2 * ox;
        float mab = b > a ? b : a, mcd = d > c ? d : c;
        int iab = b > a ? ia + 1 : ia, icd = d > c ? ia + w + 1 : ia + w;
        m[ox] = mcd > mab ? mcd : mab;
        at[ox] = mcd > mab ? icd : iab;
    }
}

static void pool_max_row(const cnnrt_pool *g, const float *xp, int oy,
                         PoolTap *t, float *m, int *at)
{
    if (g->kh == 2 && g->kw == 2 && g->sh == 2 && g->sw == 2 && g->ph == 0 && g->pw == 0)
        pool_row_max2(g, xp, oy, m, at);
    else
        pool_row_max(g, xp, oy, t, m, at);
}

/* ---- threads: every kernel here works sample by sample, so a call cuts
 * its samples into ranges and each range is the same call, with a NULL
 * context, on its samples: the same numbers for any split. ---- */
enum { PL_MAX, PL_MAX_BWD, PL_AVG, PL_AVG_BWD, PL_GAP, PL_GAP_BWD, PL_UP, PL_UP_BWD };
typedef struct {
    int kind;
    const cnnrt_pool *g;
    int c, h, w, f;         /* gap: hw in h; upsample: all four */
    long xs, ys;            /* floats per sample of the input side, output side */
    const float *x, *idx, *dy;  /* input side; output side (idx: maxpool's) */
    float *y, *yidx, *dx;       /* output side; input side */
} pl_job;

static const float *pl_at(const float *p, long o)
{
    return p ? p + o : NULL;
}

static void pl_part(void *arg, int tid, long lo, long hi)
{
    const pl_job *j = arg;
    int n = (int)(hi - lo);
    const float *x = pl_at(j->x, lo * j->xs), *idx = pl_at(j->idx, lo * j->ys);
    const float *dy = pl_at(j->dy, lo * j->ys);
    float *y = j->y ? j->y + lo * j->ys : NULL, *dx = j->dx ? j->dx + lo * j->xs : NULL;
    float *yidx = j->yidx ? j->yidx + lo * j->ys : NULL;
    (void)tid;
    switch (j->kind) {
    case PL_MAX:     cnnrt_maxpool_forward(NULL, j->g, n, x, y, yidx); break;
    case PL_MAX_BWD: cnnrt_maxpool_backward(NULL, j->g, n, x, idx, dy, dx); break;
    case PL_AVG:     cnnrt_avgpool_forward(NULL, j->g, n, x, y); break;
    case PL_AVG_BWD: cnnrt_avgpool_backward(NULL, j->g, n, dy, dx); break;
    case PL_GAP:     cnnrt_gap_forward(NULL, n, j->c, j->h, x, y); break;
    case PL_GAP_BWD: cnnrt_gap_backward(NULL, n, j->c, j->h, dy, dx); break;
    case PL_UP:      cnnrt_upsample_forward(NULL, n, j->c, j->h, j->w, j->f, x, y); break;
    default:         cnnrt_upsample_backward(NULL, n, j->c, j->h, j->w, j->f, dy, dx);
    }
}

/* xs and ys of a pooling call */
#define PL_STRIDES(g) (long)(g)->c * (g)->h * (g)->w, (long)(g)->c * (g)->oh * (g)->ow

/* 1 when the call ran split over the threads of ctx */
static int pl_split(cnnrt_ctx *ctx, pl_job j, int n, double work)
{
    if (n < 2 || !cnnrt_par_worth(ctx, work))
        return 0;
    cnnrt_par_for(ctx, n, 1, 0, pl_part, &j);
    return 1;
}

/* windows with no cell above -inf (see pool_row_max) output 0 */
void cnnrt_maxpool_forward(cnnrt_ctx *ctx, const cnnrt_pool *g, int n, const float *x,
                           float *y, float *idx)
{
    if (pl_split(ctx, (pl_job){ PL_MAX, g, 0, 0, 0, 0, PL_STRIDES(g), x, NULL, NULL, y, idx, NULL },
                 n, (double)n * g->c * g->oh * g->ow * g->kh * g->kw))
        return;
    long hw = (long)g->h * g->w, ohw = (long)g->oh * g->ow;
    PoolTap t[g->kh * g->kw];
    float m[g->ow];
    int at[g->ow];
    for (long pl = 0; pl < (long)n * g->c; pl++)
        for (int oy = 0; oy < g->oh; oy++) {
            long o = pl * ohw + (long)oy * g->ow;
            pool_max_row(g, x + pl * hw, oy, t, m, at);
            for (int ox = 0; ox < g->ow; ox++)
                y[o + ox] = at[ox] < 0 ? 0.0f : m[ox];
            if (idx)
                for (int ox = 0; ox < g->ow; ox++)
                    idx[o + ox] = (float)at[ox];
        }
}

/* dx = dy routed to each window's first maximum: the positions the
 * forward saved in idx, or (idx == NULL) recomputed from x */
void cnnrt_maxpool_backward(cnnrt_ctx *ctx, const cnnrt_pool *g, int n, const float *x,
                            const float *idx, const float *dy, float *dx)
{
    if (pl_split(ctx, (pl_job){ PL_MAX_BWD, g, 0, 0, 0, 0, PL_STRIDES(g), x, idx, dy, NULL, NULL,
                                dx },
                 n, (double)n * g->c * (g->h * g->w + g->oh * g->ow * (idx ? 1 : g->kh * g->kw))))
        return;
    long hw = (long)g->h * g->w, ohw = (long)g->oh * g->ow;
    PoolTap t[g->kh * g->kw];
    float m[g->ow];
    int at[g->ow];
    memset(dx, 0, (size_t)(n * g->c * hw) * sizeof *dx);
    for (long pl = 0; pl < (long)n * g->c; pl++)
        for (int oy = 0; oy < g->oh; oy++) {
            long o = pl * ohw + (long)oy * g->ow;
            if (idx)
                for (int ox = 0; ox < g->ow; ox++)
                    at[ox] = (int)idx[o + ox];
            else
                pool_max_row(g, x + pl * hw, oy, t, m, at);
            for (int ox = 0; ox < g->ow; ox++)
                if (at[ox] >= 0)
                    dx[pl * hw + at[ox]] += dy[o + ox];
        }
}

/* the divisor is always kh*kw: padded cells count as zeros */
void cnnrt_avgpool_forward(cnnrt_ctx *ctx, const cnnrt_pool *g, int n, const float *x, float *y)
{
    if (pl_split(ctx, (pl_job){ PL_AVG, g, 0, 0, 0, 0, PL_STRIDES(g), x, NULL, NULL, y, NULL,
                                NULL },
                 n, (double)n * g->c * g->oh * g->ow * g->kh * g->kw))
        return;
    long hw = (long)g->h * g->w, ohw = (long)g->oh * g->ow;
    float inv = 1.0f / (float)(g->kh * g->kw);
    PoolTap t[g->kh * g->kw];
    for (long pl = 0; pl < (long)n * g->c; pl++)
        for (int oy = 0; oy < g->oh; oy++) {
            const float *xp = x + pl * hw;
            float *yr = y + pl * ohw + (long)oy * g->ow;
            int nt = pool_taps(g, oy, t);
            for (int ox = 0; ox < g->ow; ox++)
                yr[ox] = 0;
            for (int k = 0; k < nt; k++)
                for (int ox = t[k].lo; ox < t[k].hi; ox++)
                    yr[ox] += xp[t[k].base + (long)ox * g->sw];
            for (int ox = 0; ox < g->ow; ox++)
                yr[ox] *= inv;
        }
}

void cnnrt_avgpool_backward(cnnrt_ctx *ctx, const cnnrt_pool *g, int n, const float *dy, float *dx)
{
    if (pl_split(ctx, (pl_job){ PL_AVG_BWD, g, 0, 0, 0, 0, PL_STRIDES(g), NULL, NULL, dy, NULL,
                                NULL, dx },
                 n, (double)n * g->c * g->oh * g->ow * g->kh * g->kw))
        return;
    long hw = (long)g->h * g->w, ohw = (long)g->oh * g->ow;
    float inv = 1.0f / (float)(g->kh * g->kw);
    PoolTap t[g->kh * g->kw];
    memset(dx, 0, (size_t)(n * g->c * hw) * sizeof *dx);
    for (long pl = 0; pl < (long)n * g->c; pl++)
        for (int oy = 0; oy < g->oh; oy++) {
            const float *dyr = dy + pl * ohw + (long)oy * g->ow;
            float *dxp = dx + pl * hw;
            int nt = pool_taps(g, oy, t);
            for (int k = 0; k < nt; k++)
                for (int ox = t[k].lo; ox < t[k].hi; ox++)
                    dxp[t[k].base + (long)ox * g->sw] += dyr[ox] * inv;
        }
}

/* ---- global average pooling: x [n][c][hw] -> y [n][c] ---- */
void cnnrt_gap_forward(cnnrt_ctx *ctx, int n, int c, int hw, const float *x, float *y)
{
    if (pl_split(ctx, (pl_job){ PL_GAP, NULL, c, hw, 0, 0, (long)c * hw, c, x, NULL, NULL, y, NULL,
                                NULL },
                 n, (double)n * c * hw))
        return;
    for (long pl = 0; pl < (long)n * c; pl++)
        y[pl] = (float)(cnnrt_sum(x + pl * hw, hw) / hw);
}

void cnnrt_gap_backward(cnnrt_ctx *ctx, int n, int c, int hw, const float *dy, float *dx)
{
    if (pl_split(ctx, (pl_job){ PL_GAP_BWD, NULL, c, hw, 0, 0, (long)c * hw, c, NULL, NULL, dy,
                                NULL, NULL, dx },
                 n, (double)n * c * hw))
        return;
    for (long pl = 0; pl < (long)n * c; pl++) {
        float d = dy[pl] / (float)hw;
        for (int i = 0; i < hw; i++)
            dx[pl * hw + i] = d;
    }
}

/* ---- nearest upsampling: x [n][c][h][w] -> y [n][c][h*f][w*f],
 * y(oy, ox) = x(oy/f, ox/f) ---- */
void cnnrt_upsample_forward(cnnrt_ctx *ctx, int n, int c, int h, int w, int f, const float *x,
                            float *y)
{
    long up = (long)c * h * w * f * f;
    if (pl_split(ctx, (pl_job){ PL_UP, NULL, c, h, w, f, (long)c * h * w, up, x, NULL, NULL, y,
                                NULL, NULL },
                 n, (double)n * up))
        return;
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
void cnnrt_upsample_backward(cnnrt_ctx *ctx, int n, int c, int h, int w, int f,
                             const float *dy, float *dx)
{
    long up = (long)c * h * w * f * f;
    if (pl_split(ctx, (pl_job){ PL_UP_BWD, NULL, c, h, w, f, (long)c * h * w, up, NULL, NULL, dy,
                                NULL, NULL, dx },
                 n, (double)n * up))
        return;
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

void cnnrt_concat_forward(cnnrt_ctx *ctx, int n, int k, const float *const *xs,
                          const long *sizes, float *y)
{
    (void)ctx;
    /* the walk only reads the parts in this direction */
    concat_walk(n, k, sizes, (float *const *)xs, y, 1);
}

/* dxs[i] may be NULL for a part whose gradient nobody needs */
void cnnrt_concat_backward(cnnrt_ctx *ctx, int n, int k, const long *sizes, const float *dy,
                           float *const *dxs)
{
    (void)ctx;
    concat_walk(n, k, sizes, dxs, (float *)dy, 0);
}
