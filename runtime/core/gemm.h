/* gemm.h — internal to the runtime's kernels: the single-precision matrix
 * product under conv.c and dense.c, and two small helpers several kernel
 * files share.  Not part of the public API (cnnrt.h): generated code never
 * calls these; they carry the cnnrt_ prefix only so the library exports
 * nothing outside its namespace.
 *
 * Row-major throughout:
 *   C[m][n] (row stride ldc) = alpha * op(A)[m][k] * op(B)[k][n] + beta * C
 *   op(A) = A stored [m][k] (lda)  when transa == 0,  A^T of [k][m] otherwise;
 *   op(B) = B stored [k][n] (ldb)  when transb == 0,  B^T of [n][k] otherwise.
 * beta == 0 never reads C (it may hold garbage or NaN).  C must not overlap
 * A or B.  No allocation: packing buffers live on the stack (at most about
 * 64 KB, less for small products).  Reentrant; single-threaded.
 */
#ifndef CNNRT_GEMM_H
#define CNNRT_GEMM_H

#include "cnnrt_abi.h"   /* cnnrt_conv */

void cnnrt_sgemm(int transa, int transb, int m, int n, int k, float alpha,
                 const float *a, int lda, const float *b, int ldb,
                 float beta, float *c, int ldc);

/* A x B^T (transa 0, transb 1) with at most this many rows takes the dot
 * path: each element of C a dot product in a fixed order (gemm.c) that
 * does not depend on m, on the other rows or columns, or on a split. */
#define CNNRT_SGEMM_DOT_MAXM 8

/* The dot path with the dense layer's epilogue, for m <= CNNRT_SGEMM_DOT_MAXM:
 * C[m][n] = act(A[m][k] . B[n][k]^T + bias) (bias [n], NULL: none; act a
 * CNNRT_ACT_* with its alpha).  The same bits as C = bias in every row,
 * cnnrt_sgemm(0, 1, .., alpha 1, beta 1 (0 without bias)), then
 * cnnrt_act_forward. */
void cnnrt_sgemm_dot(int m, int n, int k, const float *a, int lda, const float *b,
                     int ldb, float *c, int ldc, const float *bias, int act, float alpha);

/* nb products that share A: C + i*cstep = A[m][k] . (B + i*bstep)[k][n]
 * + beta*C for i < nb (no transposes, alpha 1), as one: each packed block
 * of A serves every B.  The same bits as nb cnnrt_sgemm calls.  (conv.c's
 * padded-grid dw: one B per kernel row, each a shifted view of one
 * buffer.) */
void cnnrt_sgemm_blocks(int m, int n, int k, int nb, const float *a, int lda,
                        const float *b, int ldb, long bstep, float beta,
                        float *c, int ldc, long cstep);

/* The same product split over the threads of ctx (gemm_par.c) in blocks of
 * output columns that start on multiples of cnnrt_sgemm_split(): bit-
 * identical to cnnrt_sgemm for any thread count, because cnnrt_sgemm
 * computes a block of columns starting at such a multiple exactly as it
 * computes those columns within the whole product.  cnnrt_sgemm_split() is
 * the selected micro-kernel's NR, a multiple of the dot path's column tile
 * (4); a change of tile shapes must keep that so. */
int cnnrt_sgemm_split(void);
struct cnnrt_ctx;
void cnnrt_sgemm_par(struct cnnrt_ctx *ctx, int transa, int transb, int m, int n, int k,
                     float alpha, const float *a, int lda, const float *b, int ldb,
                     float beta, float *c, int ldc);

/* Which micro-kernel cnnrt_sgemm uses.  AUTO (the default) picks the widest
 * the CPU supports; the others exist so tests can check every variant.
 * Returns 1 when `variant` is available and now selected, 0 otherwise (the
 * selection is then unchanged).  A process-wide setting, for tests only. */
enum { CNNRT_GEMM_AUTO, CNNRT_GEMM_GENERIC, CNNRT_GEMM_AVX2, CNNRT_GEMM_AVX512 };
int cnnrt_sgemm_select(int variant);
/* the variant AUTO resolves to, or the forced one: CNNRT_GEMM_GENERIC.. */
int cnnrt_sgemm_variant(void);

/* ---- stride-1 convolution without im2col (convdirect.c, convrow.c) ----
 * scratch: cnnrt_direct_scratch(g) floats.  _pack sets it up once per call
 * of `samples` samples: the padding zeroed, and w [f][c][kh][kw] packed
 * unless a one-sample call can read w in place (returns 0 then).  Then
 * _sample computes one sample: y [f][oh][ow] = conv(x [c][h][w]) + b (b may
 * be NULL), then act, with the packed weights (w NULL) or w read in place
 * (when _pack returned 0).  Groups must be 1 and strides 1. */
long cnnrt_direct_scratch(const cnnrt_conv *g);
int cnnrt_direct_pack(const cnnrt_conv *g, const float *w, float *scratch, int samples);
void cnnrt_direct_sample(const cnnrt_conv *g, const float *scratch, const float *w,
                         const float *x, const float *b, float *y, int act, float alpha);
/* convrow.c: the filters-in-lanes tiles the two above use on small planes */
int cnnrt_convrow_use(const cnnrt_conv *g);
long cnnrt_convrow_wfloats(const cnnrt_conv *g);
void cnnrt_convrow_pack(const cnnrt_conv *g, const float *w, float *wpk);
void cnnrt_convrow_run(const cnnrt_conv *g, const float *wpk, const int *off, const float *xp,
                       const float *b, float *y, int act, float alpha);
/* dw of a stride-1 layer with one group as dot products on the same grid:
 * dw [f][c][kh][kw] += the sums over n samples of x [n][c][h][w] and
 * dy [n][f][oh][ow]; scratch cnnrt_dwdot_scratch(g) floats. */
long cnnrt_dwdot_scratch(const cnnrt_conv *g);
void cnnrt_dwdot(const cnnrt_conv *g, float *scratch, int n, const float *x, const float *dy,
                 float *dw);

/* ---- 3x3 stride-1 convolution by Winograd F(2x2, 3x3) (convwino.c) ----
 * _geom: the geometries it may take (3x3, stride and dilation 1, one
 * group, padding <= 2, >= 32 channels in and out); _use: those, for a call
 * of n samples, where it pays.  _forward computes n samples: y [n][f][oh][ow]
 * = conv(x [n][c][h][w], w [f][c][3][3]) + b (b may be NULL), then act,
 * with cnnrt_wino_scratch(g) floats of scratch; each sample's result
 * depends on that sample only (not on n or its neighbours). */
int cnnrt_wino_geom(const cnnrt_conv *g);
int cnnrt_wino_use(const cnnrt_conv *g, int n);
long cnnrt_wino_scratch(const cnnrt_conv *g);
void cnnrt_wino_forward(const cnnrt_conv *g, int n, const float *x, const float *w,
                        const float *b, float *y, int act, float alpha, float *scratch);
/* _dw: dw [f][c][3][3] += the weight gradient of n samples, x [n][c][h][w]
 * and dy [n][f][oh][ow] (the gradient before the act), for a geometry
 * _geom takes, with cnnrt_wino_dw_scratch(g) floats of scratch; its
 * products split over ctx's threads, the bits independent of their number.
 * _dw_use: where it pays. */
int cnnrt_wino_dw_use(const cnnrt_conv *g, int n);
long cnnrt_wino_dw_scratch(const cnnrt_conv *g);
void cnnrt_wino_dw(struct cnnrt_ctx *ctx, const cnnrt_conv *g, int n, const float *x,
                   const float *dy, float *dw, float *scratch);

/* ---- depthwise convolution (convdepth.c): groups == c == f ----
 * _use: conv.c sends this geometry there (depthwise, at most 64 kernel
 * cells).  scratch: cnnrt_depth_scratch(g) floats per thread (the whole of
 * cnnrt_conv_scratch for such a layer).  _forward is cnnrt_conv_forward;
 * _backward is cnnrt_conv_backward after the epilogue's backward (dy is
 * the gradient before the act; dx, dw, db as there, each may be NULL). */
int cnnrt_depth_use(const cnnrt_conv *g);
long cnnrt_depth_scratch(const cnnrt_conv *g);
void cnnrt_depth_forward(cnnrt_ctx *ctx, const cnnrt_conv *g, int n, const float *x,
                         const float *w, const float *b, float *y, int act, float alpha);
void cnnrt_depth_backward(cnnrt_ctx *ctx, const cnnrt_conv *g, int n, const float *x,
                          const float *w, const float *dy, float *dx, float *dw, float *db);

/* ---- helpers shared by the kernel files ---- */
/* The lanes of two vectors a, b picked by constant indices (0..N-1 from a,
 * N..2N-1 from b): clang's and GCC 12's __builtin_shufflevector, older
 * GCC's __builtin_shuffle (whose mask is a vector of type vi). */
#if defined(__clang__) || (defined(__GNUC__) && __GNUC__ >= 12)
#define CNNRT_SHUF(vi, a, b, ...) __builtin_shufflevector(a, b, __VA_ARGS__)
#else
#define CNNRT_SHUF(vi, a, b, ...) __builtin_shuffle(a, b, (vi){ __VA_ARGS__ })
#endif

/* dst[j*ldd + i] = src[i*lds + j] for i < rows, j < cols (gemm.c; in
 * vector blocks) */
void cnnrt_transpose(const float *src, long lds, float *dst, long ldd, int rows, int cols);
/* d[j] = act(s[j] + bias) for j < n, act RELU, LEAKY or anything else
 * for none: the epilogue of the direct kernels' tiles (inline, so that it
 * takes each caller's instruction set) */
static inline void cnnrt_bias_act(float *d, const float *s, int n, float bias, int act,
                                  float alpha)
{
    if (act == CNNRT_ACT_RELU)
        for (int j = 0; j < n; j++) {
            float v = s[j] + bias;
            d[j] = v > 0 ? v : 0.0f;
        }
    else if (act == CNNRT_ACT_LEAKY)
        for (int j = 0; j < n; j++) {
            float v = s[j] + bias, pos = v > 0 ? v : 0.0f, neg = v > 0 ? 0.0f : v;
            d[j] = pos + alpha * neg;
        }
    else
        for (int j = 0; j < n; j++)
            d[j] = s[j] + bias;
}
/* sum of x[0..n) in double, in 8 lanes so that it vectorizes (gemm.c) */
double cnnrt_sum(const float *x, long n);
/* the output positions o in [0, nout) whose input coordinate o*stride + off
 * lies in [0, nin), as [*lo, *hi) (conv.c; pool.c uses it too) */
void cnnrt_span(int nout, int stride, int off, int nin, int *lo, int *hi);
/* A caller broke a kernel's contract in a way that would silently produce
 * wrong numbers or crash (an unknown activation, a NULL context where
 * scratch is needed): "cnnrt: " and the message on stderr, then abort(),
 * as a failed assert would.  Never for bad input data (activ.c). */
#if defined(__GNUC__)
__attribute__((format(printf, 1, 2), noreturn))
#endif
void cnnrt_misuse(const char *fmt, ...);

#endif
