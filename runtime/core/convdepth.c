/* convdepth.c — depthwise convolution (groups == c == f: one input channel
 * and one filter per group) as a direct stencil per plane, for conv.c,
 * which would otherwise unfold and multiply each one-channel group apart.
 *
 * Shapes (g = *geometry, per sample and channel a "plane"):
 *   x  [n][c][h][w]     w  [c][kh][kw]     b  [c] (may be NULL)
 *   y  [n][c][oh][ow]   scratch: cnnrt_depth_scratch(g) floats per thread
 *
 * The grid.  A plane of x, zero-padded to hp x wp (hp = h + 2ph, wp = w +
 * 2pw), is split by phase into sh*sw planes of hq x wq (hq = ceil(hp/sh),
 * wq = ceil(wp/sw)): element (a, m) of phase plane (rr, r) is padded pixel
 * (a*sh + rr, m*sw + r).  (Stride 1: one plane, the padded input.)  Output
 * pixel (oy, ox) is numbered j = oy*wq + ox, and kernel cell k = (ki, kj),
 * with ki*dh = qq*sh + rr and kj*dw = q*sw + r, reads the grid at j + off[k],
 * off[k] = (rr*sw + r)*S + qq*wq + q (S = hq*wq), whatever oy and ox are:
 *   forward:  out[j] = b + sum_k w[k] * grid[j + off[k]],   j < Q = oh*wq,
 * one long loop per plane with no clipping; the columns ox >= ow of each
 * grid row are computed and dropped (1 of 18 on 16-wide planes at stride
 * 1, 1 of 17 at stride 2), and the epilogue act runs on the kept columns.
 *   dx:       the transpose, as a gather per phase plane p: with dy on the
 *             same [oh][wq] grid (dropped columns 0) behind a zero margin
 *             M >= every local offset lo[k] = off[k] - p*S,
 *               dgrid_p[j] = sum over k of plane p of w[k] * dyg[M + j - lo[k]]
 *             (the same loop), then dx is dgrid without its padding;
 *   dw:       dw[k] += sum_j dyg[j] * grid[j + off[k]]: per channel and
 *             cell float lanes over all its planes, then summed in double.
 * The loops are plain C in tiles of DEPTH_QB-wide accumulators, one body per
 * instruction set as in gemm.c (picked by cnnrt_sgemm_variant).
 *
 * Threads: the forward and dx split planes, each computed whole by one
 * thread; dw splits channels, each summed over the samples in order, and
 * db is summed as conv.c does: no number depends on the thread count.  The
 * summation order differs from the im2col path's gemm, so results match it
 * up to float rounding only.
 * Not here: channel multipliers (f = k*c with groups = c) and kernels of
 * more than DEPTH_MAXTAPS cells (conv.c keeps im2col for those).
 */
#include "cnnrt.h"
#include "gemm.h"
#include "threads.h"

#include <string.h>

#if defined(__GNUC__) && !defined(__clang__)
#define DEPTH_PRAGMAS 1
#pragma GCC push_options
#pragma GCC optimize("fp-contract=fast")
#endif

#if defined(__GNUC__) && defined(__x86_64__)
#define DEPTH_X86 1
#else
#define DEPTH_X86 0
#endif

#ifdef __GNUC__
#define DEPTH_INLINE static inline __attribute__((always_inline))
#else
#define DEPTH_INLINE static inline
#endif

#define DEPTH_MAXTAPS 64    /* kernel cells at most (offsets on the stack) */
#define DEPTH_QB      64    /* the widest tile (4 AVX-512 vectors): loops run to
                               multiples of it */

/* ---- the loops, one body per instruction set ---- */

typedef void (*depth_stencil_fn)(const float *src, int nt, const long *off, const float *wt,
                                 float init, long n, float *out);
typedef void (*depth_dots_fn)(const float *dy, const float *src, int nt, const long *off,
                              long n, float *lanes);
typedef struct {
    depth_stencil_fn stencil;
    depth_dots_fn dots;
} depth_fns;

typedef float depth_v16 __attribute__((vector_size(64)));
typedef float depth_v8 __attribute__((vector_size(32)));
typedef float depth_v4 __attribute__((vector_size(16)));

/* A tile is DEPTH_NV vectors of type vf held in registers over all taps
 * (written with vector types: as plain loops GCC unrolls and jams the tap
 * loop and leaves most of it scalar).
 *   stencil: out[j] = init + sum_{t<nt} wt[t] * src[j + off[t]], j < n;
 *            reads src up to the next multiple of the tile past n (the
 *            grid's slack);
 *   dots:    lanes[t][l] += the products dy[j] * src[j + off[t]] of the
 *            j < n (n a multiple of DEPTH_QB) in lane l = j mod the tile
 *            (lanes [nt][DEPTH_QB], the tile's first floats of each used). */
#define DEPTH_NV 4
#define DEPTH_VARIANT(sfx, attr, vf)                                          \
    attr static void depth_stencil_##sfx(const float *src, int nt,           \
                                         const long *off, const float *wt,   \
                                         float init, long n, float *out)     \
    {                                                                         \
        enum { VL = sizeof(vf) / sizeof(float), QB = DEPTH_NV * VL };         \
        for (long j0 = 0; j0 < n; j0 += QB) {                                 \
            vf acc[DEPTH_NV];                                                 \
            for (int v = 0; v < DEPTH_NV; v++)                                \
                acc[v] = (vf){ 0 } + init;                                    \
            for (int t = 0; t < nt; t++) {                                    \
                const float *s = src + j0 + off[t];                           \
                vf w = (vf){ 0 } + wt[t];                                     \
                for (int v = 0; v < DEPTH_NV; v++) {                          \
                    vf x;                                                     \
                    memcpy(&x, s + v * VL, sizeof x);                         \
                    acc[v] += w * x;                                          \
                }                                                             \
            }                                                                 \
            if (n - j0 >= QB) {                                               \
                memcpy(out + j0, acc, sizeof acc);                            \
                continue;                                                     \
            }                                                                 \
            float t[QB];                                                      \
            memcpy(t, acc, sizeof acc);                                       \
            memcpy(out + j0, t, (size_t)(n - j0) * sizeof *t);                \
        }                                                                     \
    }                                                                         \
    attr static void depth_dots_##sfx(const float *dy, const float *src,     \
                                      int nt, const long *off, long n,       \
                                      float *lanes)                           \
    {                                                                         \
        enum { VL = sizeof(vf) / sizeof(float) };                             \
        for (int t = 0; t < nt; t++) {                                        \
            const float *s = src + off[t];                                    \
            vf acc[DEPTH_NV];                                                 \
            memcpy(acc, lanes + t * DEPTH_QB, sizeof acc);                    \
            for (long j0 = 0; j0 < n; j0 += DEPTH_NV * VL)                    \
                for (int v = 0; v < DEPTH_NV; v++) {                          \
                    vf x, e;                                                  \
                    memcpy(&x, s + j0 + v * VL, sizeof x);                    \
                    memcpy(&e, dy + j0 + v * VL, sizeof e);                   \
                    acc[v] += e * x;                                          \
                }                                                             \
            memcpy(lanes + t * DEPTH_QB, acc, sizeof acc);                    \
        }                                                                     \
    }                                                                         \
    static const depth_fns depth_##sfx = { depth_stencil_##sfx, depth_dots_##sfx };

DEPTH_VARIANT(generic, , depth_v4)
#if DEPTH_X86
DEPTH_VARIANT(avx2, __attribute__((target("avx2,fma"))), depth_v8)
DEPTH_VARIANT(avx512, __attribute__((target("avx512f,avx2,fma"))), depth_v16)
#endif

static const depth_fns *depth_pick(void)
{
#if DEPTH_X86
    switch (cnnrt_sgemm_variant()) {
    case CNNRT_GEMM_AVX512: return &depth_avx512;
    case CNNRT_GEMM_AVX2:   return &depth_avx2;
    default: break;
    }
#endif
    return &depth_generic;
}

/* ---- the grid (the top of the file) ---- */
typedef struct {
    int hq, wq, ph;         /* phase plane rows, columns; phase planes sh*sw */
    long S, Q, G;           /* phase plane, output grid, all planes: floats */
    long Qp;                /* Q up to a multiple of DEPTH_QB */
    long slack;             /* read past G: the widest tile and the largest q */
    long M;                 /* dx's margin before dyg: the largest lo[k] */
    long hw, P;             /* floats of an input plane, an output plane */
    int nt;                 /* taps: kh*kw */
    long off[DEPTH_MAXTAPS];
    /* dx's gather: the taps ordered by phase plane (then cell), as cells
     * bk[i], their planes bp[i] and offsets into dyg bo[i] = M - lo */
    int bk[DEPTH_MAXTAPS], bp[DEPTH_MAXTAPS];
    long bo[DEPTH_MAXTAPS];
} depth_grid;

static long depth_up(long v)
{
    return (v + DEPTH_QB - 1) / DEPTH_QB * DEPTH_QB;
}

static void depth_grid_of(const cnnrt_conv *g, depth_grid *d)
{
    int hp = g->h + 2 * g->ph, wp = g->w + 2 * g->pw;
    d->hq = (hp + g->sh - 1) / g->sh;
    d->wq = (wp + g->sw - 1) / g->sw;
    d->ph = g->sh * g->sw;
    d->S = (long)d->hq * d->wq;
    d->Q = (long)g->oh * d->wq;
    d->G = d->ph * d->S;
    d->Qp = depth_up(d->Q);
    d->nt = g->kh * g->kw;
    d->hw = (long)g->h * g->w;
    d->P = (long)g->oh * g->ow;
    d->M = 0;
    for (int ki = 0; ki < g->kh; ki++)
        for (int kj = 0; kj < g->kw; kj++) {
            int a = ki * g->dh, b = kj * g->dw;
            long lo = (long)(a / g->sh) * d->wq + b / g->sw;
            d->off[ki * g->kw + kj] = ((a % g->sh) * g->sw + b % g->sw) * d->S + lo;
            d->M = lo > d->M ? lo : d->M;
        }
    /* a tile runs to Qp (or a plane's S rounded up) past its offset */
    d->slack = DEPTH_QB + d->M;
    int i = 0;
    for (int p = 0; p < d->ph; p++)
        for (int k = 0; k < d->nt; k++)
            if (d->off[k] / d->S == p) {
                d->bk[i] = k;
                d->bp[i] = p;
                d->bo[i++] = d->M - (d->off[k] - p * d->S);
            }
}

/* floats of the three parts' layouts, each from the start of scratch:
 *   forward:  grid (G + slack), out (Q)
 *   dw:       grid (G + slack), dyg (Qp, zero past Q), lanes (kh*kw*DEPTH_QB)
 *   dx:       dyg (M + S rounded up + slack, zero outside the grid), dgrid (G) */
long cnnrt_depth_scratch(const cnnrt_conv *g)
{
    depth_grid d;
    depth_grid_of(g, &d);
    long fwd = d.G + d.slack + d.Qp + (long)d.nt * DEPTH_QB;
    long dx = d.M + depth_up(d.S) + d.slack + d.G;
    return fwd > dx ? fwd : dx;
}

int cnnrt_depth_use(const cnnrt_conv *g)
{
    return g->groups > 1 && g->groups == g->c && g->f == g->c &&
           (long)g->kh * g->kw <= DEPTH_MAXTAPS;
}

/* A row of w floats to its even and odd columns (back: the reverse).
 * Separate, with restrict parameters, so that the loops vectorize without
 * runtime overlap checks. */
static void depth_split2(float *restrict row, float *restrict ge, float *restrict go, int w,
                         int back)
{
    int half = w / 2;
    if (back)
        for (int m = 0; m < half; m++) {
            row[2 * m] = ge[m];
            row[2 * m + 1] = go[m];
        }
    else
        for (int m = 0; m < half; m++) {
            ge[m] = row[2 * m];
            go[m] = row[2 * m + 1];
        }
    if (w % 2 && back)
        row[w - 1] = ge[half];
    else if (w % 2)
        ge[half] = row[w - 1];
}

/* Copies plane x [h][w] into the grid, or (back != 0) the grid's inside
 * back into x.  The padding and slack are left as they are (zeroed once
 * per call by the caller).  Input row iy is padded row py = iy + ph, row
 * py / sh of the phase planes (py % sh, *); column ix = r + m*sw (r < sw)
 * is element (r + pw) / sw + m of column phase (r + pw) % sw. */
static void depth_grid_copy(const cnnrt_conv *g, const depth_grid *d, float *x,
                            float *grid, int back)
{
    int ry = g->ph % g->sh, qy = g->ph / g->sh;  /* of py, kept as iy steps */
    long c0 = (long)(g->pw % g->sw) * d->S + g->pw / g->sw;
    long c1 = (long)((g->pw + 1) % g->sw) * d->S + (g->pw + 1) / g->sw;
    for (int iy = 0; iy < g->h; iy++) {
        float *row = x + (long)iy * g->w;
        float *gr = grid + (long)ry * g->sw * d->S + (long)qy * d->wq;
        if (++ry == g->sh) {
            ry = 0;
            qy++;
        }
        if (g->sw == 1) {
            if (back)
                memcpy(row, gr + c0, (size_t)g->w * sizeof *row);
            else
                memcpy(gr + c0, row, (size_t)g->w * sizeof *row);
            continue;
        }
        if (g->sw == 2) {
            depth_split2(row, gr + c0, gr + c1, g->w, back);
            continue;
        }
        for (int r = 0; r < g->sw && r < g->w; r++) {
            float *gc = gr + (long)((r + g->pw) % g->sw) * d->S + (r + g->pw) / g->sw;
            for (int m = 0; r + m * g->sw < g->w; m++) {
                if (back)
                    row[r + m * g->sw] = gc[m];
                else
                    gc[m] = row[r + m * g->sw];
            }
        }
    }
}

/* dy plane [oh][ow] into its grid rows (pitch wq) at dyg */
static void depth_dy_copy(const cnnrt_conv *g, const depth_grid *d, const float *dy, float *dyg)
{
    for (int oy = 0; oy < g->oh; oy++)
        memcpy(dyg + (long)oy * d->wq, dy + (long)oy * g->ow, (size_t)g->ow * sizeof *dy);
}

/* ---- the calls, split over threads ---- */
typedef struct {
    cnnrt_ctx *ctx;
    const cnnrt_conv *g;
    const depth_grid *d;
    const depth_fns *fn;
    int n, act;
    float alpha;
    const float *x, *w, *b, *dy;
    float *y, *dx, *dw;
    int what;               /* DEPTH_FORWARD, DEPTH_DW, DEPTH_DX */
} depth_job;
enum { DEPTH_FORWARD, DEPTH_DW, DEPTH_DX };

/* planes [lo, hi) of the forward (plane = sample*c + channel) */
static void depth_forward_planes(const depth_job *j, const cnnrt_conv *g, const depth_grid *d,
                                 float *grid, long lo, long hi)
{
    long hw = d->hw, P = d->P, kk = d->nt;
    float *out = grid + d->G + d->slack;
    memset(grid, 0, (size_t)(d->G + d->slack) * sizeof *grid);
    for (long pl = lo; pl < hi; pl++) {
        int c = (int)(pl % g->c);
        float *y = j->y + pl * P;
        depth_grid_copy(g, d, (float *)(j->x + pl * hw), grid, 0);
        j->fn->stencil(grid, d->nt, d->off, j->w + c * kk, j->b ? j->b[c] : 0.0f, d->Q, out);
        for (int oy = 0; oy < g->oh; oy++)     /* the kept columns, through the act */
            cnnrt_act_forward(NULL, j->act, j->alpha, g->ow, out + (long)oy * d->wq,
                              y + (long)oy * g->ow);
    }
}

/* planes [lo, hi) of dx: per phase plane p its cells' gather */
static void depth_dx_planes(const depth_job *j, const cnnrt_conv *g, const depth_grid *d,
                            float *dyg, long lo, long hi)
{
    long hw = d->hw, P = d->P, kk = d->nt, dyn = d->M + depth_up(d->S) + d->slack;
    float *dgrid = dyg + dyn;
    memset(dyg, 0, (size_t)dyn * sizeof *dyg);
    for (long pl = lo; pl < hi; pl++) {
        const float *wk = j->w + (pl % g->c) * kk;
        depth_dy_copy(g, d, j->dy + pl * P, dyg + d->M);
        float wt[DEPTH_MAXTAPS];
        for (int i = 0; i < kk; i++)
            wt[i] = wk[d->bk[i]];
        for (int p = 0, i = 0; p < d->ph; p++) {    /* taps bk[i0..i) are plane p's */
            int i0 = i;
            while (i < kk && d->bp[i] == p)
                i++;
            j->fn->stencil(dyg, i - i0, d->bo + i0, wt + i0, 0.0f, d->S, dgrid + p * d->S);
        }
        depth_grid_copy(g, d, j->dx + pl * hw, dgrid, 1);
    }
}

/* channels [lo, hi) of dw: each cell's dots over the samples in order */
static void depth_dw_channels(const depth_job *j, const cnnrt_conv *g, const depth_grid *d,
                              float *grid, long lo, long hi)
{
    long hw = d->hw, P = d->P, kk = d->nt;
    float *dyg = grid + d->G + d->slack;
    float *lanes = dyg + d->Qp;
    memset(grid, 0, (size_t)(d->G + d->slack + d->Qp) * sizeof *grid);
    for (long c = lo; c < hi; c++) {
        memset(lanes, 0, (size_t)(kk * DEPTH_QB) * sizeof *lanes);
        for (int s = 0; s < j->n; s++) {
            long pl = (long)s * g->c + c;
            depth_grid_copy(g, d, (float *)(j->x + pl * hw), grid, 0);
            depth_dy_copy(g, d, j->dy + pl * P, dyg);
            j->fn->dots(dyg, grid, d->nt, d->off, d->Qp, lanes);
        }
        for (long k = 0; k < kk; k++) {
            double sum = 0;
            for (int l = 0; l < DEPTH_QB; l++)
                sum += lanes[k * DEPTH_QB + l];
            j->dw[c * kk + k] += (float)sum;
        }
    }
}

/* the part of thread tid: items [lo, hi) of j->what, with its scratch */
static void depth_part(void *arg, int tid, long lo, long hi)
{
    const depth_job *j = arg;
    float *scratch = cnnrt_par_scratch(j->ctx, tid);
    switch (j->what) {
    case DEPTH_FORWARD: depth_forward_planes(j, j->g, j->d, scratch, lo, hi); break;
    case DEPTH_DW:      depth_dw_channels(j, j->g, j->d, scratch, lo, hi); break;
    default:            depth_dx_planes(j, j->g, j->d, scratch, lo, hi); break;
    }
}

/* runs `what` over [0, items) on the context's threads when worth it */
static void depth_run(depth_job *j, int what, long items, double work)
{
    j->what = what;
    if (cnnrt_par_worth(j->ctx, work)) {
        cnnrt_par_for(j->ctx, items, 1, cnnrt_depth_scratch(j->g), depth_part, j);
        return;
    }
    depth_part(j, 0, 0, items);
}

void cnnrt_depth_forward(cnnrt_ctx *ctx, const cnnrt_conv *g, int n, const float *x,
                         const float *w, const float *b, float *y, int act, float alpha)
{
    depth_grid d;
    depth_grid_of(g, &d);
    depth_job j = { ctx, g, &d, depth_pick(), n, act, alpha, x, w, b, NULL, y, NULL, NULL, 0 };
    depth_run(&j, DEPTH_FORWARD, (long)n * g->c, (double)n * g->c * d.Q * d.nt);
}

void cnnrt_depth_backward(cnnrt_ctx *ctx, const cnnrt_conv *g, int n, const float *x,
                          const float *w, const float *dy, float *dx, float *dw, float *db)
{
    depth_grid d;
    depth_grid_of(g, &d);
    depth_job j = { ctx, g, &d, depth_pick(), n, 0, 0.0f, x, w, NULL, dy, NULL, dx, dw, 0 };
    long P = (long)g->oh * g->ow;
    double work = (double)n * g->c * d.Q * d.nt;
    for (int s = 0; db && s < n; s++)       /* conv.c's order: sample by sample */
        for (int f = 0; f < g->f; f++)
            db[f] += (float)cnnrt_sum(dy + ((long)s * g->f + f) * P, P);
    if (dw)                                 /* before dx, which may overwrite x */
        depth_run(&j, DEPTH_DW, g->c, work);
    if (dx)
        depth_run(&j, DEPTH_DX, (long)n * g->c, work);
}

#ifdef DEPTH_PRAGMAS
#pragma GCC pop_options
#endif
