/* convrow.c — stride-1 convolution of one sample on small planes, with the
 * filters in the vector lanes: convdirect.c's other tile shape.
 *
 * convdirect.c puts output positions in the lanes, on a zero-padded grid
 * whose dead columns it computes and discards: on planes a few pixels wide
 * (LeNet-5's 10x10 outputs on a 14-wide grid, VGG's 8x8 on a 10-wide one)
 * a third or more of its work is waste.  Here a tile is FBV vectors of VL
 * filters (weights packed [F/VL][K][VL], zero past F) by PB consecutive
 * output pixels of one row, ox0..ox0+PB-1; per kernel cell k it loads FBV
 * weight vectors and broadcasts PB inputs xp[q + off[k]] (the same padded
 * copy xp and offsets off[] as convdirect.c), FBV*PB FMA chains in
 * registers over all K cells.  PB >= ow, so a tile is a whole row and
 * only its pixels past ow are wasted.  The tile adds the bias and applies
 * relu or leaky in registers (the bias is a vector: one per lane); a
 * block of rows' tiles [pixel][FBV*VL] is then turned into y[f][oy][ox]
 * by one transpose.
 *
 * Used (cnnrt_convrow_use) with AVX-512 (VL 16, up to 24 chains) or AVX2
 * (VL 8, 12 chains), for f >= VL and rows of at most 12 pixels;
 * convdirect.c's cnnrt_direct_* call it, so conv.c sees one direct kernel.
 * The sums run over k in order, as there, so both tile shapes give the
 * same bits.  Not here: anything but stride 1 and one group.
 */
#include "cnnrt.h"
#include "gemm.h"

#include <string.h>

#if defined(__GNUC__) && !defined(__clang__)
#define ROW_PRAGMAS 1
#pragma GCC push_options
#pragma GCC optimize("fp-contract=fast")
#endif

#if defined(__GNUC__) && defined(__x86_64__)
#define ROW_X86 1
#else
#define ROW_X86 0
#endif

#define ROW_VL 16                   /* the packing's lanes: the widest variant's */

/* One tile: acc[v][i] = sum_k wv[v][k][:] * xq[off[k] + i], then
 * act(acc + bv[v]) (the bias and act of cnnrt_bias_act, lane-wise: the
 * same operations, so the same bits), stored as t[i][v*VL + l]. */
#define ROW_TILE(name, attr, vf, vi, VL, FBV, PB)                             \
    attr static void name(int K, const int *restrict off,                    \
                          const float *restrict wv0, long wvs,                \
                          const float *restrict xq, const float *restrict bv, \
                          int act, float alpha, float *restrict t)            \
    {                                                                         \
        vf acc[FBV][PB];                                                      \
        _Pragma("GCC unroll 16") for (int v = 0; v < FBV; v++)                \
            _Pragma("GCC unroll 16") for (int i = 0; i < PB; i++)             \
                acc[v][i] = (vf){ 0 };                                        \
        for (int k = 0; k < K; k++) {                                         \
            const float *xk = xq + off[k];                                    \
            vf wv[FBV];                                                       \
            _Pragma("GCC unroll 16") for (int v = 0; v < FBV; v++)            \
                memcpy(&wv[v], wv0 + v * wvs + (long)k * VL, sizeof(vf));     \
            _Pragma("GCC unroll 16") for (int i = 0; i < PB; i++)             \
                _Pragma("GCC unroll 16") for (int v = 0; v < FBV; v++)        \
                    acc[v][i] += wv[v] * xk[i];                               \
        }                                                                     \
        vf b[FBV], zero = { 0 };                                              \
        _Pragma("GCC unroll 16") for (int v = 0; v < FBV; v++)                \
            memcpy(&b[v], bv + v * VL, sizeof(vf));                           \
        _Pragma("GCC unroll 16") for (int i = 0; i < PB; i++)                 \
            _Pragma("GCC unroll 16") for (int v = 0; v < FBV; v++) {          \
                vf s = acc[v][i] + b[v];                                      \
                vi pos = s > zero;                                            \
                if (act == CNNRT_ACT_RELU)                                    \
                    s = (vf)((vi)s & pos);                                    \
                else if (act == CNNRT_ACT_LEAKY)                              \
                    s = (vf)((vi)s & pos) + alpha * (vf)((vi)s & ~pos);       \
                memcpy(t + (i * FBV + v) * VL, &s, sizeof(vf));               \
            }                                                                 \
    }

typedef void (*row_tile_fn)(int K, const int *off, const float *wv0, long wvs,
                            const float *xq, const float *bv, int act, float alpha, float *t);

#if ROW_X86
typedef float row_v16 __attribute__((vector_size(64)));
typedef float row_v8 __attribute__((vector_size(32)));
typedef int row_i16 __attribute__((vector_size(64)));
typedef int row_i8 __attribute__((vector_size(32)));
#define ROW_512 __attribute__((target("avx512f,avx2,fma")))
#define ROW_256 __attribute__((target("avx2,fma")))
/* the instantiated tiles, FBV x PB (row_tile's table) */
#define ROW_T512(FBV, PB) ROW_TILE(row512_##FBV##x##PB, ROW_512, row_v16, row_i16, 16, FBV, PB)
#define ROW_T256(FBV, PB) ROW_TILE(row256_##FBV##x##PB, ROW_256, row_v8, row_i8, 8, FBV, PB)
ROW_T512(1, 8) ROW_T512(2, 8) ROW_T512(3, 8)
ROW_T512(1, 10) ROW_T512(2, 10) ROW_T512(1, 12) ROW_T512(2, 12)
ROW_T256(1, 8) ROW_T256(1, 10) ROW_T256(1, 12)
#endif

/* The tile for fbv vectors by pb pixels, or NULL when not instantiated */
static row_tile_fn row_tile(int vl, int fbv, int pb)
{
#if ROW_X86
    static const row_tile_fn t512[3][3] = {
        { row512_1x8, row512_1x10, row512_1x12 },
        { row512_2x8, row512_2x10, row512_2x12 },
        { row512_3x8, NULL, NULL },
    };
    static const row_tile_fn t256[3] = { row256_1x8, row256_1x10, row256_1x12 };
    int pi = (pb - 8) / 2;              /* pb 8, 10, 12 (row_pb) */
    if (pi < 0 || pi > 2)
        return NULL;
    if (vl == 16 && fbv >= 1 && fbv <= 3)
        return t512[fbv - 1][pi];
    if (vl == 8 && fbv == 1)
        return t256[pi];
#endif
    (void)vl, (void)fbv, (void)pb;
    return NULL;
}

/* lanes of the selected variant (0: no row tiles), and the pixels of a
 * chunk for rows of ow: the smallest of 8, 10, 12 that holds it, 0 for
 * wider rows */
static int row_vl(void)
{
    switch (cnnrt_sgemm_variant()) {
    case CNNRT_GEMM_AVX512: return ROW_X86 ? 16 : 0;
    case CNNRT_GEMM_AVX2:   return ROW_X86 ? 8 : 0;
    default:                return 0;
    }
}

static int row_pb(int ow)
{
    int pb = ow < 8 ? 8 : (ow + 1) / 2 * 2;
    /* rows of 16 (VGG's 16x16 planes: 1x16 tiles, a broadcast per FMA)
     * ran 7-18% slower than convdirect.c's grid, which wastes 11% there */
    return pb <= 12 ? pb : 0;
}

int cnnrt_convrow_use(const cnnrt_conv *g)
{
    int vl = row_vl();
    return vl && g->f >= vl && g->groups == 1 && g->sh == 1 && g->sw == 1 &&
           row_pb(g->ow) > 0;
}

/* floats of the packed weights (the scratch's first part; convdirect.c
 * plans the rest after them) */
long cnnrt_convrow_wfloats(const cnnrt_conv *g)
{
    return (long)(g->f + ROW_VL - 1) / ROW_VL * ROW_VL * g->c * g->kh * g->kw;
}

/* wpk[v][k][l] = w[v*VL + l][k], 0 for filters past f */
void cnnrt_convrow_pack(const cnnrt_conv *g, const float *w, float *wpk)
{
    int vl = row_vl(), K = g->c * g->kh * g->kw, nv = (g->f + vl - 1) / vl;
    for (int v = 0; v < nv; v++) {
        int nf = g->f - v * vl < vl ? g->f - v * vl : vl;
        float *d = wpk + (long)v * K * vl;
        cnnrt_transpose(w + (long)v * vl * K, K, d, vl, nf, K);
        for (int k = 0; nf < vl && k < K; k++)
            memset(d + (long)k * vl + nf, 0, (size_t)(vl - nf) * sizeof *d);
    }
}

#define ROW_BLOCK 128            /* pixels of a row block (below) */

/* One sample: xp holds x's padded copy, off[] the cells' offsets, wpk the
 * packed weights; act is RELU, LEAKY or NONE (the caller does the rest).
 * The tiles of a block of whole rows (at most ROW_BLOCK pixels; a row is
 * one tile, pb >= ow) land in t[pixel][filter], already biased and
 * activated, and one transpose turns the block into y[f][pixels]: the
 * rows of a block are contiguous in every plane of y. */
void cnnrt_convrow_run(const cnnrt_conv *g, const float *wpk, const int *off, const float *xp,
                       const float *b, float *y, int act, float alpha)
{
    int vl = row_vl(), K = g->c * g->kh * g->kw, nv = (g->f + vl - 1) / vl;
    int pb = row_pb(g->ow), wp = g->w + 2 * g->pw, budget = vl == 16 ? 24 : 12;
    int rows = ROW_BLOCK / g->ow;
    long P = (long)g->oh * g->ow, wvs = (long)K * vl;
    /* a block's pixels, and the pb - ow a row's tile writes past it */
    float t[(ROW_BLOCK + 16) * 48], bv[48];
    for (int v0 = 0, fbv; v0 < nv; v0 += fbv) {
        fbv = budget / pb < nv - v0 ? budget / pb : nv - v0;
        while (!row_tile(vl, fbv, pb))
            fbv--;
        row_tile_fn fn = row_tile(vl, fbv, pb);
        int f0 = v0 * vl, nf = g->f - f0 < fbv * vl ? g->f - f0 : fbv * vl, ts = fbv * vl;
        for (int l = 0; l < ts; l++)
            bv[l] = b && l < nf ? b[f0 + l] : 0.0f;
        for (int oy0 = 0; oy0 < g->oh; oy0 += rows) {
            int nr = g->oh - oy0 < rows ? g->oh - oy0 : rows;
            for (int r = 0; r < nr; r++)
                fn(K, off, wpk + (long)v0 * wvs, wvs, xp + (long)(oy0 + r) * wp, bv, act,
                   alpha, t + (long)r * g->ow * ts);
            cnnrt_transpose(t, ts, y + f0 * P + (long)oy0 * g->ow, P, nr * g->ow, nf);
        }
    }
}

#ifdef ROW_PRAGMAS
#pragma GCC pop_options
#endif
