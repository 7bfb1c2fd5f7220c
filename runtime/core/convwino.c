/* convwino.c — 3x3 stride-1 convolution by Winograd's minimal filtering
 * F(2x2, 3x3), for conv.c's forward (and, with flipped weights, its input
 * gradient): 16 multiplies per 2x2 output tile and (c, f) pair instead of
 * 36, the multiplies done as 16 independent gemms.
 *
 * With tiles of 2x2 outputs (th x tw per plane, th = ceil(oh/2), tw =
 * ceil(ow/2); a tile reads the 4x4 input patch at (2ty - ph, 2tx - pw),
 * zero outside the plane), the 16 points xi = 4a + b of the transformed
 * domain:
 *   U[xi][c][f] = (G g[f][c] G^T)[a][b]     g the 3x3 kernel, once per call
 *   V[xi][c][t] = (B^T d[c][t] B)[a][b]     d tile t's 4x4 input patch
 *   M[xi][f][t] = sum_c U[xi][f][c] V[xi][c][t]      (cnnrt_sgemm)
 *   y[f][tile t] = A^T M[.][f][t] A + b[f], then relu / leaky relu
 * with G = [1 0 0; 1/2 1/2 1/2; 1/2 -1/2 1/2; 0 0 1],
 * B^T = [1 0 -1 0; 0 1 1 0; 0 -1 1 0; 0 1 0 -1], A^T = [1 1 1 0; 0 1 -1 -1].
 * The tiles of a call's samples are taken a chunk of WINO_ROWS tile rows at
 * a time (rows of consecutive samples run on into each other), so that V
 * and M of a chunk stay in L2 and the gemms have many columns even on small
 * planes.  Every transform is element-wise across tiles, and the gemm sums
 * each element over c in an order that depends neither on the number of
 * columns nor on a column's position (gemm.c): an output depends on its own
 * sample only, bit for bit, whatever samples share its chunk and however
 * the threads split the call.
 *
 * Accuracy: not the direct sum's rounding.  The transforms add up to 4
 * inputs (V) and 9 products (y) around the products, so the error grows
 * by a small factor: on inputs and weights in [-1, 1) (|y| up to ~25-35)
 * y and dx were within 6e-6 to 1.2e-5 of the double-precision sums for
 * 32..64 channels (the direct kernels: ~6e-6); test_rt_kernels.c holds
 * them to 1e-5 absolute + 1e-5 relative.  F(4x4, 3x3) would save more
 * products but lose about a digit more; it is not here.
 *
 * The transforms are one C body each, instantiated per instruction set and
 * picked with gemm.c's selection (cnnrt_sgemm_variant), as convdirect.c's.
 * conv.c decides where this path runs (cnnrt_wino_use).
 *
 * dw (cnnrt_wino_dw, at the end of the file) is the forward's transpose:
 * by linearity, dw[f][c] += G^T (sum over tiles t of Z[.][f][t] (.)
 * V[.][c][t]) G with Z = A dy_t A^T, dy_t the 2x2 block of dy at tile t.
 * Its error, relative to the sums of |dy x|: up to 1.4e-7 measured
 * (test_rt_wino.c); absolute, about twice the direct gemm's.
 * Not here: other kernel sizes, strides, dilations or groups.
 */
#include "cnnrt.h"
#include "gemm.h"
#include "threads.h"

#include <string.h>

#if defined(__GNUC__) && defined(__x86_64__)
#define WINO_X86 1
#else
#define WINO_X86 0
#endif

#if defined(__GNUC__) && !defined(__clang__)
#define WINO_IVDEP _Pragma("GCC ivdep")
#else
#define WINO_IVDEP
#endif

#ifdef __GNUC__
#define WINO_INLINE static inline __attribute__((always_inline))
#else
#define WINO_INLINE static inline
#endif

/* floats of V and M of one chunk: 2^18 (1 MB, L2's size here), but at
 * least WINO_MINCOLS tiles (the gemms' columns), which many channels on
 * small planes need more than L2 for (64 -> 128 channels on 8x8: 1.5 MB).
 * Measured at batch 64 on VGG's layers: 0.5 MB chunks were 5-30% slower,
 * 2 MB ones 10% slower on 32x32 planes and 5-10% faster on 16x16 and 8x8. */
#define WINO_CHUNK 262144L
#define WINO_MINCOLS 128

/* V[xi] and M[xi] start this many floats past the end of V[xi - 1] and
 * M[xi - 1]: their 16 streams would otherwise sit a multiple of 4 KB apart
 * and evict each other from L1's sets (the input transform ran 2x slower) */
#define WINO_SKEW 48

/* floats from V[xi] (or M[xi]) to V[xi + 1]: rows of nt columns */
static long wino_xstride(int rows, long nt)
{
    return rows * nt + WINO_SKEW;
}

/* B^T applied to 4 values d0..d3 (a row of a tile's patch, or a column
 * of its row halves): o0..o3, the same 4 formulas everywhere */
#define WINO_BT(d0, d1, d2, d3, o0, o1, o2, o3)                               \
    ((o0) = (d0) - (d2), (o1) = (d1) + (d2), (o2) = (d2) - (d1), (o3) = (d1) - (d3))

typedef struct {
    int th, tw;         /* tiles per plane: rows, columns */
    int wp;             /* a padded input row: 2*tw + 2 >= w + 2*pw floats */
    int rows;           /* tile rows per chunk (>= 1) */
    long u, v, m;       /* floats of U, of V and M at full chunks */
} wino_shape;

static wino_shape wino_shape_of(const cnnrt_conv *g)
{
    wino_shape s;
    s.th = (g->oh + 1) / 2;
    s.tw = (g->ow + 1) / 2;
    s.wp = 2 * s.tw + 2;
    s.rows = (int)(WINO_CHUNK / (16L * (g->c + g->f) * s.tw));
    if (s.rows < (WINO_MINCOLS + s.tw - 1) / s.tw)
        s.rows = (WINO_MINCOLS + s.tw - 1) / s.tw;
    s.u = 16 * wino_xstride(g->c, g->f);
    s.v = 16 * wino_xstride(g->c, (long)s.rows * s.tw);
    s.m = 16 * wino_xstride(g->f, (long)s.rows * s.tw);
    return s;
}

int cnnrt_wino_geom(const cnnrt_conv *g)
{
    return g->kh == 3 && g->kw == 3 && g->sh == 1 && g->sw == 1 && g->dh == 1 &&
           g->dw == 1 && g->groups == 1 && g->ph >= 0 && g->ph <= 2 && g->pw >= 0 &&
           g->pw <= 2 && g->c >= 32 && g->f >= 32;
}

/* Where it was faster than convdirect.c / convrow.c (one thread, AVX-512,
 * VGG's layers, forward and dx): 32 or more channels in and out, and at
 * least 128 tiles in the call, or 64 with 64+ input channels.  Fewer tiles
 * leave the filter transform unpaid and the gemms narrow (64 -> 128 on 8x8
 * at batch 1, 16 tiles: 105 us against 55; 32 -> 64 on 16x16 at batch 1,
 * 64 tiles: 49 against 47; but 64 -> 64 there: forward 88 -> 85 us, dx
 * 102 -> 93); 3 input channels lose 2x at any batch. */
int cnnrt_wino_use(const cnnrt_conv *g, int n)
{
    long t = (long)n * ((g->oh + 1) / 2) * ((g->ow + 1) / 2);
    return cnnrt_wino_geom(g) && (t >= 128 || (t >= 64 && g->c >= 64));
}

/* dw by Winograd where it was faster than conv.c's gemms (one thread,
 * AVX-512): at 16 or more tiles in the call.  VGG's layers at batch 64:
 * 195-225 -> 250-410 GFLOP/s (32 -> 32 on 32x32 gains least: its x and
 * dy transposes cost a quarter of the time); at batch 1, 16 tiles (8x8)
 * were a tie, 4 (4x4) 1.45x slower (M's fixed cost, 16*f*c per call),
 * 16 (4x4 at batch 4) 1.25x faster. */
int cnnrt_wino_dw_use(const cnnrt_conv *g, int n)
{
    return cnnrt_wino_geom(g) && (long)n * ((g->oh + 1) / 2) * ((g->ow + 1) / 2) >= 16;
}

/* U[xi][c][f] = (G g[f][c] G^T)[xi] from w [f][c][3][3] (u [16][c][f],
 * wino_xstride from one xi to the next: the gemms' A transposed, which
 * gemm.c packs by copying), 16 filters at a time in the lanes */
WINO_INLINE void wino_filter_body(const cnnrt_conv *g, const float *w, float *restrict u)
{
    long us = wino_xstride(g->c, g->f);
    for (int c = 0; c < g->c; c++)
        for (int f0 = 0; f0 < g->f; f0 += 16) {
            int fb = g->f - f0 < 16 ? g->f - f0 : 16;
            float k[9][16], t[4][3][16];
            for (int j = 0; j < fb; j++)
                for (int e = 0; e < 9; e++)
                    k[e][j] = w[((long)(f0 + j) * g->c + c) * 9 + e];
            for (int e = 0; e < 3; e++)             /* t = G g: rows */
                for (int j = 0; j < fb; j++) {
                    t[0][e][j] = k[e][j];
                    t[1][e][j] = 0.5f * (k[e][j] + k[3 + e][j] + k[6 + e][j]);
                    t[2][e][j] = 0.5f * (k[e][j] - k[3 + e][j] + k[6 + e][j]);
                    t[3][e][j] = k[6 + e][j];
                }
            for (int a = 0; a < 4; a++) {           /* t G^T: columns */
                float *ua = u + 4L * a * us + (long)c * g->f + f0;
                for (int j = 0; j < fb; j++) {
                    ua[j] = t[a][0][j];
                    ua[us + j] = 0.5f * (t[a][0][j] + t[a][1][j] + t[a][2][j]);
                    ua[2 * us + j] = 0.5f * (t[a][0][j] - t[a][1][j] + t[a][2][j]);
                    ua[3 * us + j] = t[a][2][j];
                }
            }
        }
}

/* The row half of B^T d B for padded row ip of one plane xc [h][w]: for
 * b < 4, hb[b*ldh + tx] = (d B)[b] of tile column tx, d the 4 floats of
 * the row at columns 2tx - pw .. 2tx - pw + 3 (0 outside the plane, and
 * the whole row 0 outside it).  The tiles whose 4 columns are all inside
 * read x in place (vectorized); the one or two at each side go singly
 * (a padded copy of the row was slower: its loads wait on the copy's
 * stores). */
WINO_INLINE void wino_hrow(const cnnrt_conv *g, int tw, const float *xc, int ip,
                           float *restrict hb, long ldh)
{
    int iy = ip - g->ph, pw = g->pw, w = g->w;
    float *h0 = hb, *h1 = hb + ldh, *h2 = hb + 2 * ldh, *h3 = hb + 3 * ldh;
    if (iy < 0 || iy >= g->h) {
        for (int tx = 0; tx < tw; tx++)
            h0[tx] = h1[tx] = h2[tx] = h3[tx] = 0.0f;
        return;
    }
    const float *xr = xc + (long)iy * w;
    /* tiles [lo, hi) read columns 2tx - pw .. 2tx - pw + 3, all in [0, w) */
    int lo = (pw + 1) / 2, hi = (w + pw - 4) / 2 + 1;
    if (hi > tw)
        hi = tw;
    if (hi < lo)
        hi = lo;
    for (int tx = lo; tx < hi; tx++) {
        const float *d = xr + 2 * tx - pw;
        WINO_BT(d[0], d[1], d[2], d[3], h0[tx], h1[tx], h2[tx], h3[tx]);
    }
    for (int tx = 0; tx < tw; tx++) {
        if (tx == lo)
            tx = hi;
        if (tx >= tw)
            break;
        float d[4];
        for (int k = 0; k < 4; k++) {
            int ix = 2 * tx - pw + k;
            d[k] = ix >= 0 && ix < w ? xr[ix] : 0.0f;
        }
        WINO_BT(d[0], d[1], d[2], d[3], h0[tx], h1[tx], h2[tx], h3[tx]);
    }
}

/* The tile rows from r on, up to rend, that lie in one sample: sample
 * *smp, its tile rows [*ty0, the value returned). */
WINO_INLINE int wino_run(const wino_shape *s, long r, long rend, long *smp, int *ty0)
{
    *smp = r / s->th;
    *ty0 = (int)(r - *smp * s->th);
    return rend - r < s->th - *ty0 ? *ty0 + (int)(rend - r) : s->th;
}

/* floats of the transforms' buffer (after U, V, M in the scratch): the
 * row halves of a plane, even and odd padded rows apart, [2][4][th+1][tw]
 * (the output transform's [4][th][tw] fits there), then 2 rows of wp */
static long wino_buf(const wino_shape *s)
{
    return 8L * (s->th + 1) * s->tw + 2L * s->wp;
}

/* V of tile rows [r0, r0 + nr) (row r: sample r / th, ty = r % th, of x
 * [samples][c][h][w]) into v [16][c][nr*tw] (row stride ldv = nr*tw,
 * wino_xstride from one xi to the next).
 * Per channel and run of tile rows [ty0, ty1) of one sample, the row
 * half of its padded rows 2ty0 .. 2ty1 + 1 first, each input row once
 * though two tile rows read it: even rows (relative to 2ty0) into
 * he [4][th+1][tw], odd ones into ho; tile row ty then reads rows
 * he, ho, he + tw, ho + tw at (ty - ty0)*tw, so the column half B^T (d B)
 * is one flat loop over the run's tiles. */
WINO_INLINE void wino_in_body(const cnnrt_conv *g, const wino_shape *s, const float *x,
                              long r0, int nr, float *restrict v, long ldv,
                              float *restrict buf)
{
    int tw = s->tw;
    long hw = (long)g->h * g->w, ldh = (s->th + 1L) * tw, cs = wino_xstride(g->c, ldv);
    float *he = buf, *ho = buf + 4 * ldh;
    for (int c = 0; c < g->c; c++)
        for (long r = r0; r < r0 + nr;) {
            long smp;
            int ty0, ty1 = wino_run(s, r, r0 + nr, &smp, &ty0);
            const float *xc = x + (smp * g->c + c) * hw;
            for (int i = 0; i < 2 * (ty1 - ty0) + 2; i++)
                wino_hrow(g, tw, xc, 2 * ty0 + i, (i % 2 ? ho : he) + (long)(i / 2) * tw, ldh);
            long nt = (long)(ty1 - ty0) * tw;
            float *vr = v + (long)c * ldv + (r - r0) * tw;
            for (int b = 0; b < 4; b++) {
                const float *p0 = he + b * ldh, *p1 = ho + b * ldh;
                const float *p2 = p0 + tw, *p3 = p1 + tw;
                float *v0 = vr + b * cs, *v1 = v0 + 4 * cs, *v2 = v1 + 4 * cs,
                      *v3 = v2 + 4 * cs;
                for (long t = 0; t < nt; t++)
                    WINO_BT(p0[t], p1[t], p2[t], p3[t], v0[t], v1[t], v2[t], v3[t]);
            }
            r += ty1 - ty0;
        }
}

/* y of tile rows [r0, r0 + nr) (as above; y [samples][f][oh][ow]) from
 * m [16][f][nr*tw] (row stride ldm, wino_xstride from one xi to the
 * next): A^T M A, then the bias and act.  Per filter and run of tile rows
 * of one sample, the 2x2 outputs of every tile into q [4][run*tw] in one
 * flat loop, then each tile row's two output rows interleaved into
 * e0, e1 [wp] and stored through the epilogue. */
WINO_INLINE void wino_out_body(const cnnrt_conv *g, const wino_shape *s, const float *m,
                               long ldm, long r0, int nr, const float *b, float *y,
                               int act, float alpha, float *restrict buf)
{
    int tw = s->tw;
    long P = (long)g->oh * g->ow, xs = wino_xstride(g->f, ldm), ldq = (long)s->th * tw;
    float *q = buf, *e0 = buf + 8L * (s->th + 1) * tw, *e1 = e0 + s->wp;
    for (int f = 0; f < g->f; f++)
        for (long r = r0; r < r0 + nr;) {
            long smp;
            int ty0, ty1 = wino_run(s, r, r0 + nr, &smp, &ty0);
            long nt = (long)(ty1 - ty0) * tw;
            const float *mp = m + (long)f * ldm + (r - r0) * tw;
            for (long t = 0; t < nt; t++) {
                float sm[4], df[4];             /* A^T M: column sums, differences */
                for (int c = 0; c < 4; c++) {
                    float m0 = mp[c * xs + t], m1 = mp[(4 + c) * xs + t];
                    float m2 = mp[(8 + c) * xs + t], m3 = mp[(12 + c) * xs + t];
                    sm[c] = m0 + m1 + m2;
                    df[c] = m1 - m2 - m3;
                }
                q[t] = sm[0] + sm[1] + sm[2];
                q[ldq + t] = sm[1] - sm[2] - sm[3];
                q[2 * ldq + t] = df[0] + df[1] + df[2];
                q[3 * ldq + t] = df[1] - df[2] - df[3];
            }
            float bias = b ? b[f] : 0.0f;
            for (int ty = ty0; ty < ty1; ty++) {
                const float *qt = q + (long)(ty - ty0) * tw;
                for (int j = 0; j < tw; j++) {
                    e0[2 * j] = qt[j];
                    e0[2 * j + 1] = qt[ldq + j];
                    e1[2 * j] = qt[2 * ldq + j];
                    e1[2 * j + 1] = qt[3 * ldq + j];
                }
                float *yr = y + (smp * g->f + f) * P + 2L * ty * g->ow;
                cnnrt_bias_act(yr, e0, g->ow, bias, act, alpha);
                if (2 * ty + 1 < g->oh)
                    cnnrt_bias_act(yr + g->ow, e1, g->ow, bias, act, alpha);
            }
            r += ty1 - ty0;
        }
}

/* The row half d B of one padded row at channel ch: d its 4 columns, c
 * floats apart */
WINO_INLINE void wino_dw_hrow(const float *d, long c, float h[4])
{
    WINO_BT(d[0], d[c], d[2 * c], d[3 * c], h[0], h[1], h[2], h[3]);
}

/* column b of B^T (d B) into v[xi*vs], xi = 4a + b; and row a of
 * Z = (A dy) A^T into z[xi*zs], xi = 4a .. 4a + 3, from row a (u, w) of
 * A dy: (u, u + w, u - w, -w).  (Unrolled by hand: GCC vectorizes the
 * loops around them only without inner loops.) */
#define WINO_DW_VCOL(b)                                                  \
    WINO_BT(h0[b], h1[b], h2[b], h3[b], vt[(b) * vs], vt[(4 + (b)) * vs], \
            vt[(8 + (b)) * vs], vt[(12 + (b)) * vs])
#define WINO_DW_ZROW(a, u, w)                                            \
    do {                                                                 \
        zt[4 * (a) * zs] = (u);                                          \
        zt[(4 * (a) + 1) * zs] = (u) + (w);                              \
        zt[(4 * (a) + 2) * zs] = (u) - (w);                              \
        zt[(4 * (a) + 3) * zs] = -(w);                                   \
    } while (0)

/* V and Z of one tile row's tw tiles from the rings: x0..x3 its 4 padded
 * input rows [wp][c], y0, y1 its 2 rows of dy [2tw][f]; tile tx into
 * v[xi*vs + tx*c + ch] and z[xi*zs + tx*f + fi].  Element-wise along the
 * channels (the vector lanes). */
WINO_INLINE void wino_dw_tiles_body(int tw, int c, int f, const float *x0, const float *x1,
                                    const float *x2, const float *x3, const float *y0,
                                    const float *y1, float *restrict v, long vs,
                                    float *restrict z, long zs)
{
    for (int tx = 0; tx < tw; tx++) {
        long o = 2L * tx * c;
        /* the 16 streams of v (and of z) never meet (vs, zs >= a row):
         * without ivdep GCC would not vectorize across them */
        WINO_IVDEP
        for (int ch = 0; ch < c; ch++) {
            float h0[4], h1[4], h2[4], h3[4];
            float *vt = v + (long)tx * c + ch;
            wino_dw_hrow(x0 + o + ch, c, h0);
            wino_dw_hrow(x1 + o + ch, c, h1);
            wino_dw_hrow(x2 + o + ch, c, h2);
            wino_dw_hrow(x3 + o + ch, c, h3);
            WINO_DW_VCOL(0);
            WINO_DW_VCOL(1);
            WINO_DW_VCOL(2);
            WINO_DW_VCOL(3);
        }
        const float *e0 = y0 + 2L * tx * f, *e1 = y1 + 2L * tx * f;
        WINO_IVDEP
        for (int fi = 0; fi < f; fi++) {
            /* dy_t = [p q; r s]: A dy has rows (p, q), (p + r, q + s),
             * (p - r, q - s), (-r, -s) */
            float p = e0[fi], q = e0[f + fi], r = e1[fi], sv = e1[f + fi];
            float *zt = z + (long)tx * f + fi;
            WINO_DW_ZROW(0, p, q);
            WINO_DW_ZROW(1, p + r, q + sv);
            WINO_DW_ZROW(2, p - r, q - sv);
            WINO_DW_ZROW(3, -r, -sv);
        }
    }
}

typedef void (*wino_filter_fn)(const cnnrt_conv *g, const float *w, float *u);
typedef void (*wino_in_fn)(const cnnrt_conv *g, const wino_shape *s, const float *x,
                           long r0, int nr, float *v, long ldv, float *buf);
typedef void (*wino_out_fn)(const cnnrt_conv *g, const wino_shape *s, const float *m,
                            long ldm, long r0, int nr, const float *b, float *y, int act,
                            float alpha, float *buf);
typedef void (*wino_dw_tiles_fn)(int tw, int c, int f, const float *x0, const float *x1,
                                 const float *x2, const float *x3, const float *y0,
                                 const float *y1, float *v, long vs, float *z, long zs);

/* GCC -O2's "very cheap" vectorizer refuses loops whose trip count (c,
 * f) is not a known multiple of the lanes: the dw transforms take the
 * dynamic cost model (2.5x faster at 32 channels) */
#if defined(__GNUC__) && !defined(__clang__)
#define WINO_DW_OPT __attribute__((optimize("vect-cost-model=dynamic")))
#else
#define WINO_DW_OPT
#endif

#define WINO_VARIANT(sfx, attr)                                                      \
    attr static void wino_filter_##sfx(const cnnrt_conv *g, const float *w, float *u) \
    {                                                                                \
        wino_filter_body(g, w, u);                                                   \
    }                                                                                \
    attr static void wino_in_##sfx(const cnnrt_conv *g, const wino_shape *s,        \
                                   const float *x, long r0, int nr, float *v,       \
                                   long ldv, float *buf)                             \
    {                                                                                \
        wino_in_body(g, s, x, r0, nr, v, ldv, buf);                                  \
    }                                                                                \
    attr static void wino_out_##sfx(const cnnrt_conv *g, const wino_shape *s,       \
                                    const float *m, long ldm, long r0, int nr,      \
                                    const float *b, float *y, int act, float alpha, \
                                    float *buf)                                      \
    {                                                                                \
        wino_out_body(g, s, m, ldm, r0, nr, b, y, act, alpha, buf);                  \
    }                                                                                \
    attr WINO_DW_OPT static void wino_dw_tiles_##sfx(                                \
        int tw, int c, int f, const float *x0, const float *x1, const float *x2,     \
        const float *x3, const float *y0, const float *y1, float *v, long vs,        \
        float *z, long zs)                                                           \
    {                                                                                \
        wino_dw_tiles_body(tw, c, f, x0, x1, x2, x3, y0, y1, v, vs, z, zs);          \
    }

WINO_VARIANT(generic, )
#if WINO_X86
WINO_VARIANT(avx2, __attribute__((target("avx2,fma"))))
WINO_VARIANT(avx512, __attribute__((target("avx512f,avx2,fma"))))
#endif

static long wino_buf(const wino_shape *s);

/* U, V, M, then the transforms' buffer */
long cnnrt_wino_scratch(const cnnrt_conv *g)
{
    wino_shape s = wino_shape_of(g);
    return s.u + s.v + s.m + wino_buf(&s);
}

/* n samples: y [n][f][oh][ow] = conv(x [n][c][h][w], w [f][c][3][3]) + b
 * (b may be NULL), then act; scratch: cnnrt_wino_scratch(g) floats. */
void cnnrt_wino_forward(const cnnrt_conv *g, int n, const float *x, const float *w,
                        const float *b, float *y, int act, float alpha, float *scratch)
{
    wino_shape s = wino_shape_of(g);
    float *u = scratch, *v = u + s.u, *m = v + s.v, *buf = m + s.m;
    wino_filter_fn filter = wino_filter_generic;
    wino_in_fn in = wino_in_generic;
    wino_out_fn out = wino_out_generic;
#if WINO_X86
    switch (cnnrt_sgemm_variant()) {
    case CNNRT_GEMM_AVX512:
        filter = wino_filter_avx512;
        in = wino_in_avx512;
        out = wino_out_avx512;
        break;
    case CNNRT_GEMM_AVX2:
        filter = wino_filter_avx2;
        in = wino_in_avx2;
        out = wino_out_avx2;
        break;
    }
#endif
    filter(g, w, u);
    long rows = (long)n * s.th;
    for (long r0 = 0; r0 < rows; r0 += s.rows) {
        int nr = rows - r0 < s.rows ? (int)(rows - r0) : s.rows;
        long nt = (long)nr * s.tw;              /* the gemms' columns */
        in(g, &s, x, r0, nr, v, nt, buf);
        for (int xi = 0; xi < 16; xi++)
            cnnrt_sgemm(1, 0, g->f, (int)nt, g->c, 1.0f, u + xi * wino_xstride(g->c, g->f), g->f,
                        v + xi * wino_xstride(g->c, nt), (int)nt, 0.0f,
                        m + xi * wino_xstride(g->f, nt),
                        (int)nt);
        out(g, &s, m, nt, r0, nr, b, y, act, alpha, buf);
    }
    /* the output transform applied relu and leaky relu; the rest now */
    if (act != CNNRT_ACT_NONE && act != CNNRT_ACT_RELU && act != CNNRT_ACT_LEAKY)
        cnnrt_act_forward(NULL, act, alpha, (long)n * g->f * g->oh * g->ow, y, y);
}

/* ---- dw: the weight gradient ----
 * With Z[xi][f][t] = (A dy_t A^T)[xi] (dy_t the 2x2 outputs of filter f at
 * tile t, 0 past oh and ow) and V as above, for every pair (f, c)
 *   M[xi][c][f] = sum over the call's tiles t of V[xi][c][t] Z[xi][f][t]
 *   dw[f][c] += G^T M[.][c][f] G                           (3x3)
 * (the forward y = A^T (U (.) V) A, differentiated: <dy, A^T (U (.) V) A>
 * = <A dy A^T (.) V, U>, and U = G g G^T).  Here the tiles are the gemms'
 * depth, so the operands are laid out channels-last: per chunk of tile
 * rows V[xi][t][c] and Z[xi][t][f], and the gemm M[xi][c][f] (+)=
 * V[xi]^T Z[xi] packs A by copying and reads B in place (M transposed:
 * the filters, usually the more, as the gemm's columns were 8-11% faster
 * on VGG's 32 -> 64 and 64 -> 128 layers).  To build them channels-last,
 * x and dy are transposed a row at a time into rings (below) and the
 * transforms run along the channels. */

/* floats of the rings: xr[4][wp][c], padded input row p in slot p % 4
 * (the 4 rows a tile row reads; the next tile row keeps two of them), and
 * yr[2][2tw][f], the tile row's two rows of dy, both zero outside the
 * planes */
static long wino_dw_rings(const cnnrt_conv *g, const wino_shape *s)
{
    return 4L * s->wp * g->c + 4L * s->tw * g->f;
}

/* padded row p of plane set xs [c][h][w] into xr [wp][c] */
static void wino_dw_xrow(const cnnrt_conv *g, const wino_shape *s, const float *xs, int p,
                         float *xr)
{
    int iy = p - g->ph, c = g->c;
    if (iy < 0 || iy >= g->h) {
        memset(xr, 0, sizeof *xr * (size_t)s->wp * c);
        return;
    }
    memset(xr, 0, sizeof *xr * (size_t)g->pw * c);
    cnnrt_transpose(xs + (long)iy * g->w, (long)g->h * g->w, xr + (long)g->pw * c, c, c, g->w);
    memset(xr + (long)(g->pw + g->w) * c, 0, sizeof *xr * (size_t)(s->wp - g->pw - g->w) * c);
}

/* row oy of dy's planes ds [f][oh][ow] into yr [2tw][f] */
static void wino_dw_yrow(const cnnrt_conv *g, const wino_shape *s, const float *ds, int oy,
                         float *yr)
{
    int f = g->f;
    if (oy >= g->oh) {
        memset(yr, 0, sizeof *yr * (size_t)2 * s->tw * f);
        return;
    }
    cnnrt_transpose(ds + (long)oy * g->ow, (long)g->oh * g->ow, yr, f, f, g->ow);
    memset(yr + (long)g->ow * f, 0, sizeof *yr * (size_t)(2 * s->tw - g->ow) * f);
}

/* dw [f][c][3][3] += G^T M[.][c][f] G for m [16][c][f] (ms from one xi
 * to the next) */
static void wino_dw_out(const cnnrt_conv *g, const float *m, long ms, float *dw)
{
    for (long c = 0; c < g->c; c++)
        for (long f = 0; f < g->f; f++) {
            const float *me = m + c * g->f + f;
            float t[3][4];                          /* G^T M: rows */
            for (int b = 0; b < 4; b++) {
                float m0 = me[b * ms], m1 = me[(4 + b) * ms];
                float m2 = me[(8 + b) * ms], m3 = me[(12 + b) * ms];
                t[0][b] = m0 + 0.5f * (m1 + m2);
                t[1][b] = 0.5f * (m1 - m2);
                t[2][b] = 0.5f * (m1 + m2) + m3;
            }
            float *o = dw + (f * g->c + c) * 9;     /* (G^T M) G: columns */
            for (int i = 0; i < 3; i++) {
                o[3 * i] += t[i][0] + 0.5f * (t[i][1] + t[i][2]);
                o[3 * i + 1] += 0.5f * (t[i][1] - t[i][2]);
                o[3 * i + 2] += 0.5f * (t[i][1] + t[i][2]) + t[i][3];
            }
        }
}

/* M [16][c][f] (wino_xstride from one xi to the next: s.u floats), V
 * and Z of a chunk, then the rings */
long cnnrt_wino_dw_scratch(const cnnrt_conv *g)
{
    wino_shape s = wino_shape_of(g);
    return s.u + s.v + s.m + wino_dw_rings(g, &s);
}

/* The tiles are taken in chunks of tile rows as the forward's (V and Z
 * of a chunk: its s.v and s.m floats), in order, and each chunk's gemms
 * add into M: the order of the sums over tiles depends on g and n only.
 * The gemms split over ctx's threads by columns of M (f), which leaves
 * every element's bits as they are (gemm.h). */
void cnnrt_wino_dw(cnnrt_ctx *ctx, const cnnrt_conv *g, int n, const float *x,
                   const float *dy, float *dw, float *scratch)
{
    wino_shape s = wino_shape_of(g);
    int c = g->c, f = g->f, tw = s.tw;
    long ms = wino_xstride(c, f), hw = (long)g->h * g->w, P = (long)g->oh * g->ow;
    float *m = scratch, *v = m + s.u, *z = v + s.v, *xr = z + s.m;
    float *yr = xr + 4L * s.wp * c;
    long xrs = (long)s.wp * c, yrs = 2L * tw * f;       /* a ring's slots */
    wino_dw_tiles_fn tiles = wino_dw_tiles_generic;
#if WINO_X86
    switch (cnnrt_sgemm_variant()) {
    case CNNRT_GEMM_AVX512:
        tiles = wino_dw_tiles_avx512;
        break;
    case CNNRT_GEMM_AVX2:
        tiles = wino_dw_tiles_avx2;
        break;
    }
#endif
    long rows = (long)n * s.th;
    if (rows <= 0)
        return;
    for (long r0 = 0; r0 < rows; r0 += s.rows) {
        int nr = rows - r0 < s.rows ? (int)(rows - r0) : s.rows;
        long nt = (long)nr * tw, vs = wino_xstride(c, nt), zs = wino_xstride(f, nt);
        for (long r = r0; r < r0 + nr; r++) {
            long smp = r / s.th;
            int ty = (int)(r % s.th);
            const float *xs = x + smp * c * hw, *ds = dy + smp * f * P;
            /* padded rows 2ty .. 2ty + 3; the first two are in the ring
             * already unless the sample starts here (the ring outlives
             * the chunks) */
            for (int p = ty == 0 ? 0 : 2 * ty + 2; p < 2 * ty + 4; p++)
                wino_dw_xrow(g, &s, xs, p, xr + (p % 4) * xrs);
            wino_dw_yrow(g, &s, ds, 2 * ty, yr);
            wino_dw_yrow(g, &s, ds, 2 * ty + 1, yr + yrs);
            int p0 = 2 * ty;
            tiles(tw, c, f, xr + (p0 % 4) * xrs, xr + ((p0 + 1) % 4) * xrs,
                  xr + ((p0 + 2) % 4) * xrs, xr + ((p0 + 3) % 4) * xrs, yr, yr + yrs,
                  v + (r - r0) * tw * c, vs, z + (r - r0) * tw * f, zs);
        }
        for (int xi = 0; xi < 16; xi++)
            cnnrt_sgemm_par(ctx, 1, 0, c, f, (int)nt, 1.0f, v + xi * vs, c, z + xi * zs, f,
                            r0 == 0 ? 0.0f : 1.0f, m + xi * ms, f);
    }
    wino_dw_out(g, m, ms, dw);
}
