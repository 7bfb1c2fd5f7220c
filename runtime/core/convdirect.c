/* convdirect.c — stride-1 convolution of one sample without im2col: the
 * "implicit gemm" on a zero-padded copy of the input, for conv.c's forward
 * (and, with flipped weights, its input gradient).
 *
 * The input, c channels of h x w, is copied once per sample into xp, each
 * channel a zero-bordered plane of hp x wp (hp = h + 2ph, wp = w + 2pw).
 * An output pixel (oy, ox) is numbered q = oy*wp + ox on that padded grid,
 * so the input it reads through kernel cell k = (c, ki, kj) sits at
 * xp[q + off[k]], off[k] = c*hp*wp + ki*dh*wp + kj*dw, whatever oy is:
 *   y[f][q] = b[f] + sum_k w[f][k] * xp[q + off[k]],   q < Q = oh*wp,
 * one gemm-like product whose "B" is read in place, shifted per k.  The
 * columns ox >= ow of that grid are computed and discarded (2*pw of every
 * wp: 6% for 32-wide planes, 20% for 8-wide ones), which buys loads of
 * whole vectors of consecutive q.  A tile is FB filters x QB positions held
 * in registers over all K = c*kh*kw cells; the weights are packed once per
 * call as [K][FB] per block of filters, so each cell broadcasts FB floats
 * from one cache line.  The tile's epilogue adds the bias, applies relu or
 * leaky relu, and scatters its valid columns into y[f][oy][ox].
 *
 * Like gemm.c, the tile body is one C function instantiated per instruction
 * set (AVX-512: QB 32, AVX2: QB 16, baseline: QB 8; FB 8, 6, 4, 2 or 1, so any
 * filter count is blocks of those) and picked at run time with gemm.c's
 * selection (cnnrt_sgemm_variant).
 *
 * The sums run over k in order (one FMA chain per output), so the result
 * differs from the im2col path's blocked gemm by float rounding only.
 * On planes a few pixels wide the dead columns weigh: there (with AVX2 or
 * AVX-512 and enough filters) the samples go to convrow.c's tiles, which
 * put the filters in the lanes; cnnrt_direct_* choose, conv.c sees one
 * kernel.
 * Not here: strides other than 1, groups (conv.c falls back to im2col).
 */
#include "cnnrt.h"
#include "gemm.h"

#include <string.h>

#if defined(__GNUC__) && !defined(__clang__)
#define DIRECT_PRAGMAS 1
#pragma GCC push_options
#pragma GCC optimize("fp-contract=fast")
#endif

#if defined(__GNUC__) && defined(__x86_64__)
#define DIRECT_X86 1
#else
#define DIRECT_X86 0
#endif

#ifdef __GNUC__
#define DIRECT_INLINE static inline __attribute__((always_inline))
#else
#define DIRECT_INLINE static inline
#endif

/* keep v in a register: GCC would otherwise fold the load of an operand
 * used KB times into each FMA (KB loads, each crossing a cache line on
 * the unaligned grid, instead of one).  Not for clang, which does not fold
 * them that way and rejects a wide vector in "+v" outside a function
 * compiled for its width. */
#if DIRECT_X86 && !defined(__clang__)
#define DIRECT_REG(v) __asm__("" : "+v"(v))
#else
#define DIRECT_REG(v) (void)0
#endif

#define DIRECT_MAXFB 8
#define DIRECT_MAXQB 32

/* floats past the end of xp that a tile may read: the last tile runs up
 * to QB - 1 positions past Q, and its last kernel column (kw-1)*dw further
 * (Q + the largest off[k] is c*hp*wp + (kw-1)*dw) */
static long direct_slack(const cnnrt_conv *g)
{
    return DIRECT_MAXQB + (long)(g->kw - 1) * g->dw;
}

/* floats before off[]: the packed weights of either tile shape */
static long direct_wfloats(const cnnrt_conv *g)
{
    return cnnrt_convrow_wfloats(g);
}

long cnnrt_direct_scratch(const cnnrt_conv *g)
{
    long hp = g->h + 2L * g->ph, wp = g->w + 2L * g->pw;
    long K = (long)g->c * g->kh * g->kw;
    /* packed weights, off[] (ints in float slots), xp */
    return direct_wfloats(g) + K + g->c * hp * wp + direct_slack(g);
}

/* One row block: fb filters over every tile of qb positions; the weight of
 * filter i at cell k is wpk[k*ks + i*fs] (packed: wpk[K][fb], ks = fb,
 * fs = 1; or w itself, ks = 1, fs = K); act is applied when RELU or LEAKY
 * (the caller does the rest). */
DIRECT_INLINE void direct_block(int fb, int qb, int K, const int *restrict off,
                                const float *restrict wpk, long ks, long fs,
                                const float *restrict xp,
                                long Q, int wp, int ow, const float *b, int act,
                                float alpha, float *restrict y, long P)
{
    for (long q0 = 0; q0 < Q; q0 += qb) {
        float acc[DIRECT_MAXFB * DIRECT_MAXQB];
        const float *xq = xp + q0;
        for (int i = 0; i < fb; i++)
            for (int j = 0; j < qb; j++)
                acc[i * qb + j] = wpk[i * fs] * xq[off[0] + j];
        for (int k = 1; k < K; k++) {
            const float *xv = xq + off[k], *wv = wpk + k * ks;
            for (int i = 0; i < fb; i++)
                for (int j = 0; j < qb; j++)
                    acc[i * qb + j] += wv[i * fs] * xv[j];
        }
        /* epilogue: row segments of the padded grid inside this tile */
        float t[DIRECT_MAXFB * DIRECT_MAXQB];
        for (int i = 0; i < fb * qb; i++)
            t[i] = acc[i];
        long qe = q0 + qb < Q ? q0 + qb : Q;
        for (long q = q0; q < qe;) {
            long oy = q / wp;
            int ox = (int)(q - oy * wp);
            long run = wp - ox < qe - q ? wp - ox : qe - q;
            int valid = ow - ox < run ? ow - ox : (int)run;
            for (int i = 0; valid > 0 && i < fb; i++) {
                cnnrt_bias_act(y + i * P + oy * ow + ox, t + i * qb + (q - q0), valid,
                               b ? b[i] : 0.0f, act, alpha);
            }
            q += run;
        }
    }
}

typedef void (*direct_fn)(int fb, int K, const int *off, const float *wpk, long ks, long fs,
                          const float *xp, long Q, int wp, int ow, const float *b,
                          int act, float alpha, float *y, long P);

/* fb is one of 8, 6, 4, 2, 1: each a compile-time tile after inlining */
#define DIRECT_VARIANT(sfx, attr, qb)                                         \
    attr static void direct_##sfx(int fb, int K, const int *off,             \
                                  const float *wpk, long ks, long fs,        \
                                  const float *xp, long Q,                   \
                                  int wp, int ow, const float *b, int act,   \
                                  float alpha, float *y, long P)             \
    {                                                                         \
        switch (fb) {                                                         \
        case 8: direct_block(8, qb, K, off, wpk, ks, fs, xp, Q, wp, ow, b, act, alpha, y, P); break; \
        case 6: direct_block(6, qb, K, off, wpk, ks, fs, xp, Q, wp, ow, b, act, alpha, y, P); break; \
        case 4: direct_block(4, qb, K, off, wpk, ks, fs, xp, Q, wp, ow, b, act, alpha, y, P); break; \
        case 2: direct_block(2, qb, K, off, wpk, ks, fs, xp, Q, wp, ow, b, act, alpha, y, P); break; \
        default: direct_block(1, qb, K, off, wpk, ks, fs, xp, Q, wp, ow, b, act, alpha, y, P); break; \
        }                                                                     \
    }

DIRECT_VARIANT(generic, , 8)
#if DIRECT_X86
DIRECT_VARIANT(avx2, __attribute__((target("avx2,fma"))), 16)
DIRECT_VARIANT(avx512, __attribute__((target("avx512f,avx2,fma"))), 32)
#endif

static direct_fn direct_pick(void)
{
#if DIRECT_X86
    switch (cnnrt_sgemm_variant()) {
    case CNNRT_GEMM_AVX512: return direct_avx512;
    case CNNRT_GEMM_AVX2:   return direct_avx2;
    default: break;
    }
#endif
    return direct_generic;
}

/* the filter block that starts at f0 of f: 8 while 8 are left, then 6
 * (6 filters, as LeNet-5's first layer and the dx of its second, are one
 * tile of 12 FMA chains, not a 4 and a 2 of 8 and 4), 4, 2, 1 */
static int direct_fb(int f, int f0)
{
    int left = f - f0;
    return left >= 8 ? 8 : left >= 6 ? 6 : left >= 4 ? 4 : left >= 2 ? 2 : 1;
}

int cnnrt_direct_pack(const cnnrt_conv *g, const float *w, float *scratch, int samples)
{
    int K = g->c * g->kh * g->kw, row = cnnrt_convrow_use(g);
    float *wpk = scratch;
    int *off = (int *)(scratch + direct_wfloats(g));
    long hp = g->h + 2L * g->ph, wp = g->w + 2L * g->pw;
    /* one sample on the grid reads w in place: packing would read and
     * write every weight once more to save as many reads */
    int pack = row || samples != 1;
    if (pack && row)
        cnnrt_convrow_pack(g, w, wpk);
    for (int f0 = 0, fb; pack && !row && f0 < g->f; f0 += fb) {
        fb = direct_fb(g->f, f0);
        float *d = wpk + (long)f0 * K;
        for (int k = 0; k < K; k++)
            for (int i = 0; i < fb; i++)
                d[(long)k * fb + i] = w[(long)(f0 + i) * K + k];
    }
    for (int c = 0, k = 0; c < g->c; c++)
        for (int ki = 0; ki < g->kh; ki++)
            for (int kj = 0; kj < g->kw; kj++)
                off[k++] = (int)(c * hp * wp + (long)ki * g->dh * wp + (long)kj * g->dw);
    /* xp's borders and slack are zeroed here, once per call: the samples
     * only overwrite the interior */
    float *xp = (float *)off + K;
    memset(xp, 0, (size_t)(g->c * hp * wp + direct_slack(g)) * sizeof *xp);
    return pack;
}

void cnnrt_direct_sample(const cnnrt_conv *g, const float *scratch, const float *w,
                         const float *x, const float *b, float *y, int act, float alpha)
{
    int K = g->c * g->kh * g->kw;
    const float *wpk = w ? w : scratch;
    long ks = w ? 1 : 0, fs = w ? K : 1;    /* ks 0: the block's fb */
    const int *off = (const int *)(scratch + direct_wfloats(g));
    float *xp = (float *)off + K;
    int hp = g->h + 2 * g->ph, wp = g->w + 2 * g->pw;
    /* interior of xp; the borders stay zero from cnnrt_direct_pack */
    for (int c = 0; c < g->c; c++)
        for (int iy = 0; iy < g->h; iy++)
            memcpy(xp + ((long)c * hp + iy + g->ph) * wp + g->pw,
                   x + ((long)c * g->h + iy) * g->w, (size_t)g->w * sizeof *x);
    long Q = (long)g->oh * wp, P = (long)g->oh * g->ow;
    int fused = act == CNNRT_ACT_RELU || act == CNNRT_ACT_LEAKY;
    if (cnnrt_convrow_use(g)) {
        cnnrt_convrow_run(g, scratch, off, xp, b, y, fused ? act : CNNRT_ACT_NONE, alpha);
    } else {
        direct_fn fn = direct_pick();
        for (int f0 = 0, fb; f0 < g->f; f0 += fb) {
            fb = direct_fb(g->f, f0);
            fn(fb, K, off, wpk + (long)f0 * K, ks ? ks : fb, fs, xp, Q, wp, g->ow,
               b ? b + f0 : NULL, fused ? act : CNNRT_ACT_NONE, alpha, y + f0 * P, P);
        }
    }
    if (!fused && act != CNNRT_ACT_NONE)
        cnnrt_act_forward(NULL, act, alpha, g->f * P, y, y);
}

/* ---- dw of small stride-1 layers: dot products on the padded grid ----
 * dw[f][k] = sum over samples and q of dyp[f][q] * xp[q + off[k]], with
 * dy placed on the padded grid (dyp, 0 at ox >= ow and up to a whole
 * vector past Q).  The samples go in chunks (as many as fit in 128 KB of
 * scratch, one block of xp and dyp each); tiles of FB filters x KB cells
 * keep VL-lane partial sums in registers along q over every sample of a
 * chunk (LeNet-5's second conv has only 9 vectors of q per sample: per
 * sample, loading and storing the sums cost as much as the products);
 * between chunks they rest in acc[f][k][VL] (scratch), and the lanes are
 * added in a fixed order once per call. */
#define DWDOT_VL 16                 /* acc's lanes: the widest variant's */

static long dwdot_q(const cnnrt_conv *g)
{
    long q = (long)g->oh * (g->w + 2 * g->pw);
    return (q + DWDOT_VL - 1) / DWDOT_VL * DWDOT_VL;
}


/* One tile: FB filters x KB cells of vl-lane sums, in registers over the
 * sample's qn positions (explicit vectors: GCC's vectorizer built them
 * lane by lane).  acc keeps DWDOT_VL lanes per (f, k); a variant with
 * fewer lanes uses the first vl. */
#define DWDOT_TILE(name, vf, FB, KB)                                          \
    DIRECT_INLINE void name(int ns, long bs, long qn,                         \
                            const float *restrict dyp, long qs,               \
                            const float *restrict xp, const int *restrict off, \
                            float *restrict acc, long K)                      \
    {                                                                         \
        vf a[FB][KB];                                                         \
        for (int i = 0; i < FB; i++)                                          \
            for (int j = 0; j < KB; j++)                                      \
                memcpy(&a[i][j], acc + ((long)i * K + j) * DWDOT_VL, sizeof(vf)); \
        const float *xs[KB];                                                  \
        for (int j = 0; j < KB; j++)                                          \
            xs[j] = xp + off[j];                                              \
        for (long e = (long)ns * bs, s = 0; s < e; s += bs)                  \
        for (long q = s; q < s + qn; q += sizeof(vf) / sizeof(float)) {       \
            vf d[FB], x[KB];                                                  \
            for (int i = 0; i < FB; i++) {                                    \
                memcpy(&d[i], dyp + i * qs + q, sizeof(vf));                  \
                DIRECT_REG(d[i]);                                             \
            }                                                                 \
            for (int j = 0; j < KB; j++) {                                    \
                memcpy(&x[j], xs[j] + q, sizeof(vf));                         \
                DIRECT_REG(x[j]);                                             \
            }                                                                 \
            for (int i = 0; i < FB; i++)                                      \
                for (int j = 0; j < KB; j++)                                  \
                    a[i][j] += d[i] * x[j];                                   \
        }                                                                     \
        for (int i = 0; i < FB; i++)                                          \
            for (int j = 0; j < KB; j++)                                      \
                memcpy(acc + ((long)i * K + j) * DWDOT_VL, &a[i][j], sizeof(vf)); \
    }

typedef float dwdot_v16 __attribute__((vector_size(64)));
typedef float dwdot_v8 __attribute__((vector_size(32)));
typedef float dwdot_v4 __attribute__((vector_size(16)));

typedef void (*dwdot_fn)(int ns, long bs, int F, int K, long qn, const float *dyp,
                         const float *xp, const int *off, float *acc);

/* Every tile of one sample.  Filters in blocks of FB (LeNet-5's 6 as two
 * 3s, VGG's 32 as 4s), cells in blocks of KB, then the leftovers one
 * filter or one cell at a time.  FB*KB sums and FB+KB loads per step: 3x5
 * is 15 FMAs for 8 loads, 4x3 12 for 7. */
#define DWDOT_VARIANT(sfx, attr, vf)                                          \
    DWDOT_TILE(dwdot_##sfx##_4x3, vf, 4, 3)                                   \
    DWDOT_TILE(dwdot_##sfx##_3x5, vf, 3, 5)                                   \
    DWDOT_TILE(dwdot_##sfx##_4x1, vf, 4, 1)                                   \
    DWDOT_TILE(dwdot_##sfx##_3x1, vf, 3, 1)                                   \
    DWDOT_TILE(dwdot_##sfx##_1x3, vf, 1, 3)                                   \
    DWDOT_TILE(dwdot_##sfx##_1x1, vf, 1, 1)                                   \
    attr static void dwdot_##sfx(int ns, long bs, int F, int K, long qn,     \
                                 const float *dyp, const float *xp,           \
                                 const int *off, float *acc)                  \
    {                                                                         \
        int fb = F % 4 == 0 || F % 3 != 0 ? 4 : 3, kb = fb == 4 ? 3 : 5;      \
        int f0 = 0;                                                           \
        for (; f0 + fb <= F; f0 += fb) {                                      \
            const float *d = dyp + f0 * qn;                                   \
            float *ac = acc + (long)f0 * K * DWDOT_VL;                        \
            int k0 = 0;                                                       \
            for (; k0 + kb <= K; k0 += kb) {                                  \
                float *at = ac + (long)k0 * DWDOT_VL;                         \
                if (fb == 4) dwdot_##sfx##_4x3(ns, bs, qn, d, qn, xp, off + k0, at, K); \
                else dwdot_##sfx##_3x5(ns, bs, qn, d, qn, xp, off + k0, at, K);      \
            }                                                                 \
            for (; k0 < K; k0++) {                                            \
                float *at = ac + (long)k0 * DWDOT_VL;                         \
                if (fb == 4) dwdot_##sfx##_4x1(ns, bs, qn, d, qn, xp, off + k0, at, K); \
                else dwdot_##sfx##_3x1(ns, bs, qn, d, qn, xp, off + k0, at, K);      \
            }                                                                 \
        }                                                                     \
        for (; f0 < F; f0++) {                                                \
            const float *d = dyp + f0 * qn;                                   \
            float *ac = acc + (long)f0 * K * DWDOT_VL;                        \
            int k0 = 0;                                                       \
            for (; k0 + 3 <= K; k0 += 3)                                      \
                dwdot_##sfx##_1x3(ns, bs, qn, d, qn, xp, off + k0, ac + (long)k0 * DWDOT_VL, K); \
            for (; k0 < K; k0++)                                              \
                dwdot_##sfx##_1x1(ns, bs, qn, d, qn, xp, off + k0, ac + (long)k0 * DWDOT_VL, K); \
        }                                                                     \
    }

DWDOT_VARIANT(generic, , dwdot_v4)
#if DIRECT_X86
DWDOT_VARIANT(avx2, __attribute__((target("avx2,fma"))), dwdot_v8)
DWDOT_VARIANT(avx512, __attribute__((target("avx512f,avx2,fma"))), dwdot_v16)
#endif

static long dwdot_up(long n)
{
    return (n + DWDOT_VL - 1) / DWDOT_VL * DWDOT_VL;
}

/* where dyp starts in a block: a whole vector, so that with scratch on a
 * CNNRT_ALIGN boundary the loads of dy are aligned (those of x cannot be:
 * every kernel cell shifts them by its own offset) */
static long dwdot_dyo(const cnnrt_conv *g)
{
    long hp = g->h + 2L * g->ph, wp = g->w + 2L * g->pw;
    return dwdot_up(g->c * hp * wp + direct_slack(g));
}

/* floats of one sample's block in scratch: xp (c planes hp x wp, and the
 * slack a tile reads past them), then dyp (f rows of dwdot_q) */
static long dwdot_block(const cnnrt_conv *g)
{
    return dwdot_dyo(g) + g->f * dwdot_q(g);
}

/* samples per chunk: as many blocks as fit in 128 KB (L2), at most 16 */
static int dwdot_chunk(const cnnrt_conv *g)
{
    long s = 32768 / dwdot_block(g);
    return s < 1 ? 1 : s > 16 ? 16 : (int)s;
}

long cnnrt_dwdot_scratch(const cnnrt_conv *g)
{
    long K = (long)g->c * g->kh * g->kw;
    /* off[] (to a whole vector), the chunk's blocks, acc */
    return dwdot_up(K) + dwdot_chunk(g) * dwdot_block(g) + g->f * K * DWDOT_VL;
}

void cnnrt_dwdot(const cnnrt_conv *g, float *scratch, int n, const float *x, const float *dy,
                 float *dw)
{
    long K = (long)g->c * g->kh * g->kw, qn = dwdot_q(g), bs = dwdot_block(g);
    long hp = g->h + 2L * g->ph, wp = g->w + 2L * g->pw;
    long xs = (long)g->c * g->h * g->w, ys = (long)g->f * g->oh * g->ow;
    long dyo = dwdot_dyo(g);        /* dyp within a block */
    int *off = (int *)scratch, S = dwdot_chunk(g);
    float *blk = scratch + dwdot_up(K), *acc = blk + S * bs;
    for (int c = 0, k = 0; c < g->c; c++)
        for (int ki = 0; ki < g->kh; ki++)
            for (int kj = 0; kj < g->kw; kj++)
                off[k++] = (int)(c * hp * wp + (long)ki * g->dh * wp + (long)kj * g->dw);
    /* borders, dead columns and acc stay zero; the chunks overwrite the
     * interiors only */
    memset(blk, 0, (size_t)(cnnrt_dwdot_scratch(g) - dwdot_up(K)) * sizeof *blk);
    dwdot_fn fn = dwdot_generic;
#if DIRECT_X86
    switch (cnnrt_sgemm_variant()) {
    case CNNRT_GEMM_AVX512: fn = dwdot_avx512; break;
    case CNNRT_GEMM_AVX2:   fn = dwdot_avx2; break;
    default: break;
    }
#endif
    for (int s0 = 0; s0 < n; s0 += S) {
        int ns = n - s0 < S ? n - s0 : S;
        for (int s = 0; s < ns; s++) {
            float *xp = blk + s * bs, *dyp = xp + dyo;
            const float *xs0 = x + (s0 + s) * xs, *dys = dy + (s0 + s) * ys;
            for (int c = 0; c < g->c; c++)
                for (int iy = 0; iy < g->h; iy++)
                    memcpy(xp + ((long)c * hp + iy + g->ph) * wp + g->pw,
                           xs0 + ((long)c * g->h + iy) * g->w, (size_t)g->w * sizeof *x);
            for (int f = 0; f < g->f; f++)
                for (int oy = 0; oy < g->oh; oy++)
                    memcpy(dyp + f * qn + (long)oy * wp, dys + ((long)f * g->oh + oy) * g->ow,
                           (size_t)g->ow * sizeof *dy);
        }
        fn(ns, bs, g->f, (int)K, qn, blk + dyo, blk, off, acc);
    }
    for (long i = 0; i < g->f * K; i++) {
        float sum = 0;
        for (int v = 0; v < DWDOT_VL; v++)
            sum += acc[i * DWDOT_VL + v];
        dw[i] += sum;
    }
}

#ifdef DIRECT_PRAGMAS
#pragma GCC pop_options
#endif
