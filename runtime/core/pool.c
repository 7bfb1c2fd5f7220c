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

/* ---- 2x2 windows, stride 2, no padding: the common case, in vectors ----
 * Windows are disjoint, so output row oy reads exactly the row pair
 * 2*oy, 2*oy+1 and its backward writes exactly that pair: a chunk of VL
 * outputs from column ox takes 2*VL floats of each row from column 2*ox,
 * split into even columns (cells a, c of the windows) and odd (b, d) by
 * two-vector shuffles, and the backward writes that block whole (dy at
 * the chosen cell, 0 elsewhere) instead of clearing dx and scattering.
 * Rows of ow >= VL outputs go in chunks, the last one moved back to end at
 * ow (it rewrites a few outputs with the same values).  A floor-mode odd
 * h or w leaves a last row or column that no window reads: the backward
 * zeroes it.  Same results as pool_row_max: first maximum in window order
 * (a, b, c, d), strictly greater replaces, y 0 and idx -1 for a window
 * with nothing above -inf.  The backward with idx trusts that each idx is
 * a cell of its own window (the forward's). */
typedef float pool_v4 __attribute__((vector_size(16)));
typedef int pool_i4 __attribute__((vector_size(16)));
typedef float pool_v8 __attribute__((vector_size(32)));
typedef int pool_i8 __attribute__((vector_size(32)));
typedef float pool_v16 __attribute__((vector_size(64)));
typedef int pool_i16 __attribute__((vector_size(64)));

/* index lists: the even lanes of two vectors (also 2*lane), the odd ones,
 * and the two halves of their interleaving (the inverse) */
#define POOL_EVEN4  0, 2, 4, 6
#define POOL_ODD4   1, 3, 5, 7
#define POOL_ZLO4   0, 4, 1, 5
#define POOL_ZHI4   2, 6, 3, 7
#define POOL_EVEN8  0, 2, 4, 6, 8, 10, 12, 14
#define POOL_ODD8   1, 3, 5, 7, 9, 11, 13, 15
#define POOL_ZLO8   0, 8, 1, 9, 2, 10, 3, 11
#define POOL_ZHI8   4, 12, 5, 13, 6, 14, 7, 15
#define POOL_EVEN16 0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30
#define POOL_ODD16  1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31
#define POOL_ZLO16  0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23
#define POOL_ZHI16  8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31

#ifdef __GNUC__
#define POOL_INLINE static inline __attribute__((always_inline))
#else
#define POOL_INLINE static inline
#endif

/* lanes of k (all ones or zero) pick a, the others b */
#define POOL_SEL(vi, k, a, b) (((vi)(a) & (k)) | ((vi)(b) & ~(k)))

/* One instruction set's VL-lane kernels: pool2_max (the maxima of a chunk
 * as masks: b beat a, d beat c, the pair c|d beat a|b, the window has a
 * cell above -inf), pool2_put (a chunk's dx block), and the forward and
 * backward over `planes` planes. */
#define POOL2_VARIANT(sfx, attr, vf, vi, VL, EVEN, ODD, ZLO, ZHI)             \
    attr POOL_INLINE void pool2_max_##sfx(const float *r0, long w, vf *m,    \
                                          vi *gab, vi *gcd, vi *gt, vi *ok)   \
    {                                                                         \
        vf p0, p1, q0, q1;                                                    \
        memcpy(&p0, r0, sizeof p0);                                           \
        memcpy(&p1, r0 + VL, sizeof p1);                                      \
        memcpy(&q0, r0 + w, sizeof q0);                                       \
        memcpy(&q1, r0 + w + VL, sizeof q1);                                  \
        vf a = CNNRT_SHUF(vi, p0, p1, EVEN);                                  \
        vf b = CNNRT_SHUF(vi, p0, p1, ODD);                                   \
        vf c = CNNRT_SHUF(vi, q0, q1, EVEN);                                  \
        vf d = CNNRT_SHUF(vi, q0, q1, ODD);                                   \
        *gab = b > a;                                                         \
        *gcd = d > c;                                                         \
        vf mab = (vf)POOL_SEL(vi, *gab, b, a), mcd = (vf)POOL_SEL(vi, *gcd, d, c); \
        *gt = mcd > mab;                                                      \
        *m = (vf)POOL_SEL(vi, *gt, mcd, mab);                                 \
        *ok = *m > -INFINITY;                                                 \
    }                                                                         \
    /* dx at the row pair r0, r0+w from column 2*ox: 0 + dy where k? is set   \
     * (the bits of the memset-and-add it replaces: -0 becomes +0), else 0 */ \
    attr POOL_INLINE void pool2_put_##sfx(float *r0, long w, vf dy, vi ka,    \
                                          vi kb, vi kc, vi kd)                \
    {                                                                         \
        vf d = dy + 0.0f;                                                     \
        vf a = (vf)((vi)d & ka), b = (vf)((vi)d & kb);                        \
        vf c = (vf)((vi)d & kc), e = (vf)((vi)d & kd);                        \
        vf o[4] = { CNNRT_SHUF(vi, a, b, ZLO),                                \
                    CNNRT_SHUF(vi, a, b, ZHI),                                \
                    CNNRT_SHUF(vi, c, e, ZLO),                                \
                    CNNRT_SHUF(vi, c, e, ZHI) };                              \
        memcpy(r0, &o[0], sizeof o[0]);                                       \
        memcpy(r0 + VL, &o[1], sizeof o[1]);                                  \
        memcpy(r0 + w, &o[2], sizeof o[2]);                                   \
        memcpy(r0 + w + VL, &o[3], sizeof o[3]);                              \
    }                                                                         \
    /* the forward's chunk at r0 (x) from column 2*ox: y and idx at o */     \
    attr POOL_INLINE void pool2_fwd_##sfx(const float *r0, long w, int i0,    \
                                          float *y, float *idx)               \
    {                                                                         \
        vf m;                                                                 \
        vi gab, gcd, gt, ok;                                                  \
        pool2_max_##sfx(r0, w, &m, &gab, &gcd, &gt, &ok);                     \
        vf yv = (vf)((vi)m & ok);                                             \
        memcpy(y, &yv, sizeof yv);                                            \
        if (idx) {                                                            \
            vi at = i0 + (vi){ EVEN } + (gt & (int)w) - POOL_SEL(vi, gt, gcd, gab); \
            vf f = __builtin_convertvector(at | ~ok, vf);                     \
            memcpy(idx, &f, sizeof f);                                        \
        }                                                                     \
    }                                                                         \
    /* the backward's: dx block at r0 from dy, and idx or (NULL) x at xr */   \
    attr POOL_INLINE void pool2_bwd_##sfx(float *r0, long w, int i0,          \
                                          const float *xr, const float *idx,  \
                                          const float *dy)                    \
    {                                                                         \
        vf d, pa = (float)i0 + __builtin_convertvector((vi){ EVEN }, vf);     \
        vi ka, kb, kc, kd;                                                    \
        memcpy(&d, dy, sizeof d);                                             \
        if (idx) {                                                            \
            vf iv;                                                            \
            memcpy(&iv, idx, sizeof iv);                                      \
            ka = iv == pa;                                                    \
            kb = iv == pa + 1.0f;                                             \
            kc = iv == pa + (float)w;                                         \
            kd = iv == pa + (float)(w + 1);                                   \
        } else {                                                              \
            vf m;                                                             \
            vi gab, gcd, gt, ok;                                              \
            pool2_max_##sfx(xr, w, &m, &gab, &gcd, &gt, &ok);                 \
            vi top = ok & ~gt, bot = ok & gt;                                 \
            ka = top & ~gab;                                                  \
            kb = top & gab;                                                   \
            kc = bot & ~gcd;                                                  \
            kd = bot & gcd;                                                   \
        }                                                                     \
        pool2_put_##sfx(r0, w, d, ka, kb, kc, kd);                            \
    }                                                                         \
    /* Both directions over `planes` planes: the forward when dx is NULL     \
     * (y, idx written; idx may be NULL), else the backward (dx written from  \
     * dy and idx, or x when idx is NULL). */                                 \
    attr static void pool2_run_##sfx(const cnnrt_pool *g, long planes,       \
                                     const float *x, float *y, float *idx,    \
                                     const float *dy, float *dx)              \
    {                                                                         \
        long w = g->w, hw = (long)g->h * w, ohw = (long)g->oh * g->ow;        \
        int ow = g->ow;                                                       \
        for (long pl = 0; pl < planes; pl++) {                                \
            for (int oy = 0; oy < g->oh; oy++) {                              \
                int i0 = 2 * oy * (int)w;       /* plane index of r0[0] */    \
                long r0 = pl * hw + i0, o = pl * ohw + (long)oy * ow;         \
                for (int ox = 0;; ox += VL) {                                 \
                    if (ox > ow - VL)                                         \
                        ox = ow - VL;                                         \
                    float *io = idx ? idx + o + ox : NULL;                    \
                    if (dx)                                                   \
                        pool2_bwd_##sfx(dx + r0 + 2 * ox, w, i0 + 2 * ox,     \
                                        io ? NULL : x + r0 + 2 * ox, io,      \
                                        dy + o + ox);                         \
                    else                                                      \
                        pool2_fwd_##sfx(x + r0 + 2 * ox, w, i0 + 2 * ox,      \
                                        y + o + ox, io);                      \
                    if (ox + VL >= ow)                                        \
                        break;                                                \
                }                                                             \
            }                                                                 \
            if (dx)                                                           \
                pool2_edges(g, dx + pl * hw);                                 \
        }                                                                     \
    }

/* dx of the row and column a floor-mode odd h or w leaves out of every
 * window: 0 */
static void pool2_edges(const cnnrt_pool *g, float *dxp)
{
    long w = g->w, rows = 2L * g->oh;
    for (long r = 0; r < rows && 2 * g->ow < w; r++)
        for (long ix = 2L * g->ow; ix < w; ix++)
            dxp[r * w + ix] = 0;
    if (rows < g->h)
        memset(dxp + rows * w, 0, (size_t)((g->h - rows) * w) * sizeof *dxp);
}

POOL2_VARIANT(v4, , pool_v4, pool_i4, 4, POOL_EVEN4, POOL_ODD4, POOL_ZLO4, POOL_ZHI4)
#if defined(__GNUC__) && defined(__x86_64__)
#define POOL_X86 1
POOL2_VARIANT(v8, __attribute__((target("avx2"))), pool_v8, pool_i8, 8, POOL_EVEN8, POOL_ODD8,
              POOL_ZLO8, POOL_ZHI8)
POOL2_VARIANT(v16, __attribute__((target("avx512f,avx2"))), pool_v16, pool_i16, 16,
              POOL_EVEN16, POOL_ODD16, POOL_ZLO16, POOL_ZHI16)
#endif

typedef struct {
    int vl;
    void (*run)(const cnnrt_pool *g, long planes, const float *x, float *y, float *idx,
                const float *dy, float *dx);
} Pool2Kernel;

/* The kernels for g, widest first, as the selected instruction set
 * (cnnrt_sgemm_variant, as for gemm) allows; NULL when g is not 2x2/s2
 * unpadded or its rows are narrower than every chunk (those and all other
 * shapes go by taps). */
static const Pool2Kernel *pool2_pick(const cnnrt_pool *g)
{
    static const Pool2Kernel kernels[] = {
#ifdef POOL_X86
        { 16, pool2_run_v16 },
        { 8, pool2_run_v8 },
#endif
        { 4, pool2_run_v4 },
    };
    static const int widest[] = { [CNNRT_GEMM_GENERIC] = 4, [CNNRT_GEMM_AVX2] = 8,
                                  [CNNRT_GEMM_AVX512] = 16 };
    if (g->kh != 2 || g->kw != 2 || g->sh != 2 || g->sw != 2 || g->ph != 0 || g->pw != 0)
        return NULL;
    int vl = widest[cnnrt_sgemm_variant()];
    for (unsigned k = 0; k < sizeof kernels / sizeof kernels[0]; k++)
        if (kernels[k].vl <= vl && kernels[k].vl <= g->ow)
            return &kernels[k];
    return NULL;
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
    const Pool2Kernel *k2 = pool2_pick(g);
    if (k2) {
        k2->run(g, (long)n * g->c, x, y, idx, NULL, NULL);
        return;
    }
    long hw = (long)g->h * g->w, ohw = (long)g->oh * g->ow;
    PoolTap t[g->kh * g->kw];
    float m[g->ow];
    int at[g->ow];
    for (long pl = 0; pl < (long)n * g->c; pl++)
        for (int oy = 0; oy < g->oh; oy++) {
            long o = pl * ohw + (long)oy * g->ow;
            pool_row_max(g, x + pl * hw, oy, t, m, at);
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
    const Pool2Kernel *k2 = pool2_pick(g);
    if (k2) {
        k2->run(g, (long)n * g->c, x, NULL, (float *)idx, dy, dx);  /* idx only read */
        return;
    }
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
                pool_row_max(g, x + pl * hw, oy, t, m, at);
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
