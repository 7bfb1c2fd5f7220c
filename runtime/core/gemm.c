/* gemm.c — cnnrt_sgemm (see gemm.h): a cache-blocked single-precision
 * matrix product in the Goto/BLIS shape, in plain C99 that GCC vectorizes.
 *
 * Structure, outermost first:
 *   pc: K in blocks of KC            (beta applies to the first block only)
 *   ic: M in blocks of MC            op(A) block packed into MR-row panels
 *   jr: N in panels of NR            op(B) panel packed when transposed or
 *                                    ragged, else read in place (rows of NR
 *                                    floats, stride ldb)
 *   ir: the MR-row panels of A       micro-kernel: an MR x NR tile of C held
 *                                    in registers over the whole KC block
 * so one B panel (KC x NR) stays in L1 while the A block (MC x KC) streams
 * from L2.  A x B^T with at most CNNRT_SGEMM_DOT_MAXM rows (dense layers at small
 * batch, the weight gradient of convs with few filters) skips all that:
 * packing B would transpose all of it for a few rows of output, so each C
 * element is a dot product instead, vectorized along k.
 *
 * The micro-kernel is one generic body (gemm_micro) instantiated per
 * instruction set with the tile shape that suits it; the shapes are the ones
 * GCC 12 turns into clean broadcast+FMA loops with every accumulator in a
 * register: AVX-512 8x32, AVX2+FMA 4x24, baseline 4x12.  With GCC or clang
 * on x86-64 the AVX variants are compiled with target attributes and picked
 * at run time from the CPU (function multi-versioning by hand: target_clones
 * would compile one body, hence one tile shape, for every ISA, and a shape
 * that fills AVX-512's 32 registers spills on AVX2's 16); elsewhere only the
 * baseline exists.
 *
 * Also here: cnnrt_sum, the one reduction the other kernels share.
 * Not here: threading, complex types, strides other than row-major.
 */
#include "gemm.h"
#include "cnnrt.h"     /* cnnrt_act_forward, the dot path's epilogue */

#include <stdint.h>
#include <string.h>

/* Let a*b+c become an FMA (ISO C mode turns contraction off).  Scoped to
 * this file, which matters when the runtime is pasted into one unit. */
#if defined(__GNUC__) && !defined(__clang__)
#define GEMM_PRAGMAS 1
#pragma GCC push_options
#pragma GCC optimize("fp-contract=fast")
#endif

/* clang warns that a wide vector argument of a helper compiled without
 * AVX changes the ABI: the helpers are always inlined into their ISA's
 * variant, so no call with that ABI exists */
#if defined(__clang__)
#pragma clang diagnostic ignored "-Wpsabi"
#endif

#if defined(__GNUC__) && defined(__x86_64__)
#define GEMM_X86 1
#else
#define GEMM_X86 0
#endif

#ifdef __GNUC__
#define GEMM_INLINE static inline __attribute__((always_inline))
#else
#define GEMM_INLINE static inline
#endif

#define GEMM_KC    128      /* depth of a packed block */
#define GEMM_MC    96       /* rows of a packed A block; a multiple of every MR */
#define GEMM_MAXMR 8
#define GEMM_MAXNR 48

static int gemm_min(int a, int b) { return a < b ? a : b; }

/* ---- transposing: dst[j*ldd + i] = src[i*lds + j], i < rows, j < cols ----
 * The packing of A (and conv.c's channels-last copies) is a transpose;
 * element by element it is a scattered store per float.  In 8x8 blocks
 * (AVX2 and up: three rounds of two-vector shuffles in registers) or 4x4
 * (baseline) it is whole-vector loads and stores; the edges go one by
 * one.  A copy: the same bits whatever the path.  The loops over the
 * block are unrolled by pragma: GCC -O2 kept r[] on the stack otherwise,
 * copied in 16-byte halves, and each 32-byte load of it stalled on store
 * forwarding (LeNet-5 batch 1: 8.25 -> 7.95 us). */
typedef float gemm_t8 __attribute__((vector_size(32)));
typedef int gemm_i8 __attribute__((vector_size(32)));
typedef float gemm_t4 __attribute__((vector_size(16)));
typedef int gemm_i4 __attribute__((vector_size(16)));

#define GEMM_SHUF8(a, b, ...) CNNRT_SHUF(gemm_i8, a, b, __VA_ARGS__)
#define GEMM_SHUF4(a, b, ...) CNNRT_SHUF(gemm_i4, a, b, __VA_ARGS__)

GEMM_INLINE void gemm_tr8(const float *src, long lds, float *dst, long ldd)
{
    gemm_t8 r[8], t[8], u[8];
    _Pragma("GCC unroll 8") for (int i = 0; i < 8; i++)
        memcpy(&r[i], src + i * lds, sizeof r[i]);
    _Pragma("GCC unroll 8") for (int i = 0; i < 8; i += 2) {
        t[i] = GEMM_SHUF8(r[i], r[i + 1], 0, 8, 1, 9, 4, 12, 5, 13);
        t[i + 1] = GEMM_SHUF8(r[i], r[i + 1], 2, 10, 3, 11, 6, 14, 7, 15);
    }
    _Pragma("GCC unroll 8") for (int i = 0; i < 8; i += 4)
        _Pragma("GCC unroll 2") for (int h = 0; h < 2; h++) {
            u[i + 2 * h] = GEMM_SHUF8(t[i + h], t[i + h + 2], 0, 1, 8, 9, 4, 5, 12, 13);
            u[i + 2 * h + 1] = GEMM_SHUF8(t[i + h], t[i + h + 2], 2, 3, 10, 11, 6, 7, 14, 15);
        }
    _Pragma("GCC unroll 4") for (int j = 0; j < 4; j++) {
        gemm_t8 lo = GEMM_SHUF8(u[j], u[j + 4], 0, 1, 2, 3, 8, 9, 10, 11);
        gemm_t8 hi = GEMM_SHUF8(u[j], u[j + 4], 4, 5, 6, 7, 12, 13, 14, 15);
        memcpy(dst + j * ldd, &lo, sizeof lo);
        memcpy(dst + (j + 4) * ldd, &hi, sizeof hi);
    }
}

GEMM_INLINE void gemm_tr4(const float *src, long lds, float *dst, long ldd)
{
    gemm_t4 r[4], t[4];
    for (int i = 0; i < 4; i++)
        memcpy(&r[i], src + i * lds, sizeof r[i]);
    t[0] = GEMM_SHUF4(r[0], r[1], 0, 4, 1, 5);
    t[1] = GEMM_SHUF4(r[0], r[1], 2, 6, 3, 7);
    t[2] = GEMM_SHUF4(r[2], r[3], 0, 4, 1, 5);
    t[3] = GEMM_SHUF4(r[2], r[3], 2, 6, 3, 7);
    for (int j = 0; j < 2; j++) {
        gemm_t4 lo = GEMM_SHUF4(t[j], t[j + 2], 0, 1, 4, 5);
        gemm_t4 hi = GEMM_SHUF4(t[j], t[j + 2], 2, 3, 6, 7);
        memcpy(dst + (2 * j) * ldd, &lo, sizeof lo);
        memcpy(dst + (2 * j + 1) * ldd, &hi, sizeof hi);
    }
}

/* b x b blocks, then the edges element by element */
#define GEMM_TRANSPOSE(sfx, attr, b, tile)                                    \
    attr static void gemm_transpose_##sfx(const float *src, long lds, float *dst, \
                                          long ldd, int rows, int cols)       \
    {                                                                         \
        int i = 0;                                                            \
        for (; i + b <= rows; i += b) {                                       \
            int j = 0;                                                        \
            for (; j + b <= cols; j += b)                                     \
                tile(src + i * lds + j, lds, dst + j * ldd + i, ldd);         \
            for (; j < cols; j++)                                             \
                for (int ii = i; ii < i + b; ii++)                            \
                    dst[j * ldd + ii] = src[ii * lds + j];                    \
        }                                                                     \
        for (; i < rows; i++)                                                 \
            for (int j = 0; j < cols; j++)                                    \
                dst[j * ldd + i] = src[i * lds + j];                          \
    }

GEMM_TRANSPOSE(generic, , 4, gemm_tr4)
#if GEMM_X86
GEMM_TRANSPOSE(avx2, __attribute__((target("avx2,fma"))), 8, gemm_tr8)
#endif

void cnnrt_transpose(const float *src, long lds, float *dst, long ldd, int rows, int cols)
{
#if GEMM_X86
    if (cnnrt_sgemm_variant() != CNNRT_GEMM_GENERIC) {
        gemm_transpose_avx2(src, lds, dst, ldd, rows, cols);
        return;
    }
#endif
    gemm_transpose_generic(src, lds, dst, ldd, rows, cols);
}

/* ---- packing ----
 * A panel is kc rows (p) of `width` floats: dst[p*width + j].  Element
 * (p, j) is src[p*ld + j] (the source runs along j), or src[j*ld + p] when
 * `across` (the source runs along p, and packing transposes it).  Columns
 * nn..width are zero.  A block of op(A) is ceil(mc/mr) panels of width mr
 * (j = the row of A); a panel of op(B) has width nr (j = the column). */
static void gemm_pack(int across, const float *src, long ld, int kc, int nn,
                      int width, float *dst)
{
    if (!across && nn == width && (width == 4 || width == 8)) {
        /* whole panels of MR (4 or 8): copies of a constant size, which
         * GCC makes vector moves (the loop below it kept scalar: 15% of
         * Winograd dw's time, whose Z is packed by copying) */
        for (int p = 0; p < kc; p++) {
            const float *s = src + (long)p * ld;
            float *d = dst + (long)p * width;
            if (width == 8)
                memcpy(d, s, 8 * sizeof *d);
            else
                memcpy(d, s, 4 * sizeof *d);
        }
        return;
    }
    if (!across) {
        for (int p = 0; p < kc; p++) {
            const float *s = src + (long)p * ld;
            float *d = dst + (long)p * width;
            for (int j = 0; j < nn; j++)
                d[j] = s[j];
            for (int j = nn; j < width; j++)
                d[j] = 0;
        }
        return;
    }
    cnnrt_transpose(src, ld, dst, width, nn, kc);
    for (int p = 0; nn < width && p < kc; p++)
        for (int j = nn; j < width; j++)
            dst[(long)p * width + j] = 0;
}

/* rows [0, mc) and columns [0, kc) of op(A) starting at `a` */
static void gemm_pack_a(int ta, const float *a, long lda, int mc, int kc,
                        int mr, float *dst)
{
    for (int i0 = 0; i0 < mc; i0 += mr, dst += (long)kc * mr)
        gemm_pack(!ta, ta ? a + i0 : a + (long)i0 * lda, lda, kc,
                  gemm_min(mr, mc - i0), mr, dst);
}

/* ---- the micro-kernel ----
 * tile = sum over p < kc of a[p][0..mr) (outer) b[p][0..nr), kc >= 1;
 * a is a packed A panel, b a B panel with row stride ldb.  Writes the
 * m x n corner (m <= mr, n <= nr) of C as alpha*tile + beta*C.
 * mr and nr are compile-time constants after inlining, so `acc` lives in
 * registers; the first product initialises it (no zeroing pass). */
GEMM_INLINE void gemm_micro(int mr, int nr, int kc, const float *restrict a,
                            const float *restrict b, long ldb,
                            float *restrict c, long ldc, int m, int n,
                            float alpha, float beta)
{
    float acc[GEMM_MAXMR * GEMM_MAXNR];
    for (int i = 0; i < mr; i++)
        for (int j = 0; j < nr; j++)
            acc[i * nr + j] = a[i] * b[j];
    for (int p = 1; p < kc; p++) {
        const float *ap = a + (long)p * mr, *bp = b + (long)p * ldb;
        for (int i = 0; i < mr; i++)
            for (int j = 0; j < nr; j++)
                acc[i * nr + j] += ap[i] * bp[j];
    }
    if (m == mr && n == nr) {
        if (beta == 0) {
            for (int i = 0; i < mr; i++)
                for (int j = 0; j < nr; j++)
                    c[i * ldc + j] = alpha * acc[i * nr + j];
        } else {
            for (int i = 0; i < mr; i++)
                for (int j = 0; j < nr; j++)
                    c[i * ldc + j] = alpha * acc[i * nr + j] + beta * c[i * ldc + j];
        }
        return;
    }
    /* partial tile: spill the registers whole, then copy the corner */
    float t[GEMM_MAXMR * GEMM_MAXNR];
    for (int i = 0; i < mr; i++)
        for (int j = 0; j < nr; j++)
            t[i * nr + j] = acc[i * nr + j];
    for (int i = 0; i < m; i++)
        for (int j = 0; j < n; j++)
            c[i * ldc + j] = alpha * t[i * nr + j]
                             + (beta == 0 ? 0.0f : beta * c[i * ldc + j]);
}

/* One B panel against every A panel of a packed block of mc rows. */
GEMM_INLINE void gemm_panel(int mr, int nr, int kc, int mc, const float *pa,
                            const float *pb, long ldb, float *c, long ldc,
                            int nn, float alpha, float beta)
{
    for (int i = 0; i < mc; i += mr)
        gemm_micro(mr, nr, kc, pa + (long)i * kc, pb, ldb, c + (long)i * ldc,
                   ldc, gemm_min(mr, mc - i), nn, alpha, beta);
}

/* ---- the dot-product path ----
 * For a few rows of op(A) against a transposed B, packing B (a transpose
 * of all of it) would cost more than the product itself; this is also the
 * dense layer at batch 1..8, where x [n][in] meets w [out][in].  Each C
 * element is a dot product of two rows contiguous in p, in a fixed order
 * that no tile shape, neighbouring rows or columns, or thread split change:
 *   lane v (v < vl) sums a[p]*b[p] over p = v, v+vl, .. < kv = k - k%vl
 *     from 0, one FMA a step (where the ISA has FMA; a multiply and an
 *     add without);
 *   s = the vl lanes added as a tree: lane v + lane v+vl/2 for v < vl/2,
 *     and so on down to one (gemm_hsum);
 *   s += a[p]*b[p] for p = kv .. k-1 in turn, one FMA each (or not, as
 *     above);
 *   C = alpha*s + (beta == 0 ? 0 : beta*C).
 * The lanes live in vector registers, a tile of ti rows of A by tj rows of
 * B at a time, and never leave them but as the finished sum. */
typedef float gemm_t16 __attribute__((vector_size(64)));

/* the tree of lane sums above */
GEMM_INLINE float gemm_hsum4(gemm_t4 v)
{
    return (v[0] + v[2]) + (v[1] + v[3]);
}
GEMM_INLINE float gemm_hsum8(gemm_t8 v)
{
    gemm_t4 lo, hi;
    memcpy(&lo, &v, sizeof lo);
    memcpy(&hi, (const char *)&v + sizeof lo, sizeof hi);
    return gemm_hsum4(lo + hi);
}
GEMM_INLINE float gemm_hsum16(gemm_t16 v)
{
    gemm_t8 lo, hi;
    memcpy(&lo, &v, sizeof lo);
    memcpy(&hi, (const char *)&v + sizeof lo, sizeof hi);
    return gemm_hsum8(lo + hi);
}

/* One tile, C[ti][tj] (row stride ldc) = alpha * the sums + beta * old,
 * old[ii*ldo + jj] being C itself (ldo = ldc) or a row repeated (ldo = 0:
 * the dense layer's bias).  V is a vector of vl floats; ti <= 2 and
 * tj <= 8 are constants after inlining, so `acc` is registers. */
#define GEMM_DOT_TILE(V, vl)                                                  \
    GEMM_INLINE void gemm_dot_tile##vl(int ti, int tj, int k,                 \
                                       const float *restrict a, long lda,     \
                                       const float *restrict b, long ldb,     \
                                       float *restrict c, long ldc,           \
                                       float alpha, float beta,               \
                                       const float *old, long ldo)            \
    {                                                                         \
        V acc[2][8], av[2], bv;                                               \
        int kv = k / vl * vl;                                                 \
        for (int ii = 0; ii < ti; ii++)                                       \
            for (int jj = 0; jj < tj; jj++)                                   \
                acc[ii][jj] = (V){ 0 };                                       \
        for (int p = 0; p < kv; p += vl) {                                    \
            for (int ii = 0; ii < ti; ii++)                                   \
                memcpy(&av[ii], a + ii * lda + p, sizeof(V));                 \
            for (int jj = 0; jj < tj; jj++) {                                 \
                memcpy(&bv, b + jj * ldb + p, sizeof(V));                     \
                for (int ii = 0; ii < ti; ii++)                               \
                    acc[ii][jj] += av[ii] * bv;                               \
            }                                                                 \
        }                                                                     \
        for (int ii = 0; ii < ti; ii++)                                       \
            for (int jj = 0; jj < tj; jj++) {                                 \
                float s = gemm_hsum##vl(acc[ii][jj]);                         \
                for (int p = kv; p < k; p++)                                  \
                    s += a[ii * lda + p] * b[jj * ldb + p];                   \
                c[ii * ldc + jj] = alpha * s                                  \
                    + (beta == 0 ? 0.0f : beta * old[ii * ldo + jj]);         \
            }                                                                 \
    }
GEMM_DOT_TILE(gemm_t4, 4)
GEMM_DOT_TILE(gemm_t8, 8)
GEMM_DOT_TILE(gemm_t16, 16)

typedef void (*gemm_dot_tile_fn)(int ti, int tj, int k, const float *a, long lda,
                                 const float *b, long ldb, float *c, long ldc,
                                 float alpha, float beta, const float *old, long ldo);

/* The epilogue of the dense layer, fused into the dot path (gemm.h,
 * cnnrt_sgemm_dot): `bias` (NULL: none) stands for C's old values in every
 * row, and `act` (CNNRT_ACT_*) follows on each row of C. */
typedef struct {
    const float *bias;
    int act;
    float alpha;
} gemm_epi;

/* The tile at row i, column j: ti x tj, or ti x 1 at the ragged edge
 * (ti and tj constants in every call, so each call gets its own body). */
GEMM_INLINE void gemm_dot_at(gemm_dot_tile_fn tile, int ti, int tj, int edge, int i, int j,
                             int k, const float *a, long lda, const float *b, long ldb,
                             float *c, long ldc, float alpha, float beta,
                             const float *old, long ldo)
{
    a += i * lda;
    b += j * ldb;
    c += i * ldc + j;
    old += i * ldo + j;
    if (edge)
        tile(ti, 1, k, a, lda, b, ldb, c, ldc, alpha, beta, old, ldo);
    else
        tile(ti, tj, k, a, lda, b, ldb, c, ldc, alpha, beta, old, ldo);
}

/* C[m][n] = alpha * A[m][k] * B[n][k]^T + beta*C, then the epilogue (NULL:
 * none).  Columns in blocks of tj1 (those B rows stay in L1 while every row
 * of A passes), the rows of A two at a time in tiles of tj2 columns (tj1 a
 * multiple of tj2), a last odd row in one tile of tj1; the columns past
 * the last whole block one at a time. */
GEMM_INLINE void gemm_dot(int tj1, int tj2, gemm_dot_tile_fn tile, int m, int n, int k,
                          const float *a, long lda, const float *b, long ldb,
                          float *c, long ldc, float alpha, float beta,
                          const gemm_epi *epi)
{
    const float *old = epi && epi->bias ? epi->bias : c;
    long ldo = epi && epi->bias ? 0 : ldc;
    /* one row (the dense layer at batch 1: a matrix-vector product whose
     * B streams from L2): tiles of 1 x 4, then single columns; 1 x 8 read
     * 8 rows of B at once and ran slower (LeNet-5's 120x400 from L2,
     * alone: 1.4-1.5 -> 1.1-1.4 us; 84x120: 0.45 -> 0.41) */
    int j1 = 0;
    for (; m == 1 && j1 + 4 <= n; j1 += 4)
        gemm_dot_at(tile, 1, 4, 0, 0, j1, k, a, lda, b, ldb, c, ldc, alpha, beta, old, ldo);
    for (; m == 1 && j1 < n; j1++)
        gemm_dot_at(tile, 1, 1, 1, 0, j1, k, a, lda, b, ldb, c, ldc, alpha, beta, old, ldo);
    for (int j = 0; m > 1 && j < n;) {
        int edge = n - j < tj1, w = edge ? 1 : tj1, i = 0;
        for (; i + 2 <= m; i += 2)
            for (int jj = j; jj < j + w; jj += tj2)
                gemm_dot_at(tile, 2, tj2, edge, i, jj, k, a, lda, b, ldb, c, ldc,
                            alpha, beta, old, ldo);
        if (i < m)
            gemm_dot_at(tile, 1, tj1, edge, i, j, k, a, lda, b, ldb, c, ldc, alpha, beta,
                        old, ldo);
        j += w;
    }
    for (int i = 0; epi && epi->act != CNNRT_ACT_NONE && i < m; i++)
        cnnrt_act_forward(NULL, epi->act, epi->alpha, n, c + i * ldc, c + i * ldc);
}

typedef void (*gemm_panel_fn)(int kc, int mc, const float *pa, const float *pb,
                              long ldb, float *c, long ldc, int nn,
                              float alpha, float beta);
typedef void (*gemm_dot_fn)(int m, int n, int k, const float *a, long lda,
                            const float *b, long ldb, float *c, long ldc,
                            float alpha, float beta, const gemm_epi *epi);

/* One instantiation per instruction set: the same body, its own tile. */
#define GEMM_VARIANT(sfx, attr, mr, nr, vl, tj1, tj2)                                   \
    attr static void gemm_panel_##sfx(int kc, int mc, const float *pa,       \
                                      const float *pb, long ldb, float *c,    \
                                      long ldc, int nn, float alpha,          \
                                      float beta)                             \
    {                                                                         \
        gemm_panel(mr, nr, kc, mc, pa, pb, ldb, c, ldc, nn, alpha, beta);     \
    }                                                                         \
    attr static void gemm_dot_##sfx(int m, int n, int k, const float *a,      \
                                    long lda, const float *b, long ldb,       \
                                    float *c, long ldc, float alpha,          \
                                    float beta, const gemm_epi *epi)          \
    {                                                                         \
        gemm_dot(tj1, tj2, gemm_dot_tile##vl, m, n, k, a, lda, b, ldb, c, ldc, \
                 alpha, beta, epi);                                           \
    }

/* dot tiles (tj1, tj2): 8 or 16 accumulators, in 16 registers or 32 */
GEMM_VARIANT(generic, , 4, 12, 4, 8, 4)
#if GEMM_X86
GEMM_VARIANT(avx2, __attribute__((target("avx2,fma"))), 4, 24, 8, 8, 4)
GEMM_VARIANT(avx512, __attribute__((target("avx512f,avx2,fma"))), 8, 32, 16, 8, 8)
#endif

#if GEMM_X86
/* AVX-512's wide tile, 8x48: 3 loads and 8 broadcasts per 24 FMAs against
 * 2 and 8 per 16 (dense layers' dw and dx at batch 64: 157 -> 205 and
 * 182 -> 230 GFLOP/s); gemm_run says where (not n = 256: the dense
 * forward lost 10%) */
__attribute__((target("avx512f,avx2,fma")))
static void gemm_panel_avx512w(int kc, int mc, const float *pa, const float *pb, long ldb,
                               float *c, long ldc, int nn, float alpha, float beta)
{
    gemm_panel(8, 48, kc, mc, pa, pb, ldb, c, ldc, nn, alpha, beta);
}
#endif

typedef struct {
    int mr, nr;
    gemm_panel_fn panel;
    gemm_dot_fn dot;
    gemm_panel_fn wide;     /* the same mr by 48 columns, or NULL */
} gemm_kernel;

static const gemm_kernel gemm_kernels[] = {
    [CNNRT_GEMM_GENERIC] = { 4, 12, gemm_panel_generic, gemm_dot_generic, NULL },
#if GEMM_X86
    [CNNRT_GEMM_AVX2]    = { 4, 24, gemm_panel_avx2, gemm_dot_avx2, NULL },
    [CNNRT_GEMM_AVX512]  = { 8, 32, gemm_panel_avx512, gemm_dot_avx512, gemm_panel_avx512w },
#endif
};

static int gemm_forced = CNNRT_GEMM_AUTO;

static int gemm_supported(int v)
{
    switch (v) {
    case CNNRT_GEMM_GENERIC:
        return 1;
#if GEMM_X86
    case CNNRT_GEMM_AVX2:
        __builtin_cpu_init();
        return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    case CNNRT_GEMM_AVX512:
        __builtin_cpu_init();
        return __builtin_cpu_supports("avx512f") && gemm_supported(CNNRT_GEMM_AVX2);
#endif
    default:
        return 0;
    }
}

int cnnrt_sgemm_variant(void)
{
    if (gemm_forced != CNNRT_GEMM_AUTO)
        return gemm_forced;
    for (int v = CNNRT_GEMM_AVX512; v > CNNRT_GEMM_GENERIC; v--)
        if (gemm_supported(v))
            return v;
    return CNNRT_GEMM_GENERIC;
}

int cnnrt_sgemm_select(int variant)
{
    if (variant != CNNRT_GEMM_AUTO && !gemm_supported(variant))
        return 0;
    gemm_forced = variant;
    return 1;
}

/* (gemm.h) column blocks that start on multiples of NR are computed as in
 * the whole product: the threads' split */
int cnnrt_sgemm_split(void)
{
    return gemm_kernels[cnnrt_sgemm_variant()].nr;
}

/* C = beta*C, for the degenerate products (k == 0 or alpha == 0). */
static void gemm_scale(int m, int n, float beta, float *c, long ldc)
{
    for (int i = 0; i < m; i++)
        for (int j = 0; j < n; j++)
            c[i * ldc + j] = beta == 0 ? 0.0f : beta * c[i * ldc + j];
}

/* 64-byte aligned start inside a buffer with 16 spare floats */
static float *gemm_align(float *p)
{
    return (float *)(((uintptr_t)p + 63) & ~(uintptr_t)63);
}

/* The product with nb column blocks of B and C (gemm.h, cnnrt_sgemm_blocks):
 * each packed A block serves the panels of every B block. */
static void gemm_run(int transa, int transb, int m, int n, int k, float alpha,
                     const float *a, int lda, const float *b, int ldb, long bstep,
                     float beta, float *c, int ldc, long cstep, int nb)
{
    if (m <= 0 || n <= 0 || nb <= 0)
        return;
    if (k <= 0 || alpha == 0) {
        for (int bi = 0; bi < nb; bi++)
            gemm_scale(m, n, beta, c + bi * cstep, ldc);
        return;
    }
    const gemm_kernel *kn = &gemm_kernels[cnnrt_sgemm_variant()];
    int mr = kn->mr, nr = kn->nr;
    if (transb && !transa && m <= CNNRT_SGEMM_DOT_MAXM) {
        for (int bi = 0; bi < nb; bi++)
            kn->dot(m, n, k, a, lda, b + bi * bstep, ldb, c + bi * cstep, ldc, alpha, beta,
                    NULL);
        return;
    }
    gemm_panel_fn panel = kn->panel;
    /* the wide tile for wide products (n >= 1024: on conv dw's n of 96
     * to 384 it was 1-2% slower), where n rounded up to 48s is within 2%
     * of n rounded up to nr (the same bits either way: each C element
     * sums in order) */
    if (kn->wide && n >= 1024 &&
        (long)(n + 47) / 48 * 48 * 50 <= (long)(n + nr - 1) / nr * nr * 51) {
        panel = kn->wide;
        nr = 48;
    }
    int kcap = gemm_min(k, GEMM_KC);
    int mcap = (gemm_min(m, GEMM_MC) + mr - 1) / mr * mr;
    float pabuf[mcap * kcap + 16], pbbuf[kcap * nr + 16];
    float *pa = gemm_align(pabuf), *pb = gemm_align(pbbuf);

    for (int p0 = 0; p0 < k; p0 += GEMM_KC) {
        int kc = gemm_min(GEMM_KC, k - p0);
        float bet = p0 == 0 ? beta : 1.0f;
        for (int i0 = 0; i0 < m; i0 += GEMM_MC) {
            int mc = gemm_min(GEMM_MC, m - i0);
            const float *ablk = transa ? a + (long)p0 * lda + i0
                                       : a + (long)i0 * lda + p0;
            gemm_pack_a(transa, ablk, lda, mc, kc, mr, pa);
            for (int bi = 0; bi < nb; bi++)
                for (int j0 = 0; j0 < n; j0 += nr) {
                    int nn = gemm_min(nr, n - j0);
                    const float *bb = b + bi * bstep;
                    const float *bblk = transb ? bb + (long)j0 * ldb + p0
                                               : bb + (long)p0 * ldb + j0;
                    float *cblk = c + bi * cstep + (long)i0 * ldc + j0;
                    /* Untransposed B is read in place (its rows are the
                     * panel's rows); measured no slower than packing even
                     * when many A panels reuse it.  Transposed or ragged
                     * panels are packed. */
                    if (!transb && nn == nr) {
                        panel(kc, mc, pa, bblk, ldb, cblk, ldc, nn, alpha, bet);
                    } else {
                        gemm_pack(transb, bblk, ldb, kc, nn, nr, pb);
                        panel(kc, mc, pa, pb, nr, cblk, ldc, nn, alpha, bet);
                    }
                }
        }
    }
}

void cnnrt_sgemm(int transa, int transb, int m, int n, int k, float alpha,
                 const float *a, int lda, const float *b, int ldb,
                 float beta, float *c, int ldc)
{
    gemm_run(transa, transb, m, n, k, alpha, a, lda, b, ldb, 0, beta, c, ldc, 0, 1);
}

void cnnrt_sgemm_blocks(int m, int n, int k, int nb, const float *a, int lda,
                        const float *b, int ldb, long bstep, float beta,
                        float *c, int ldc, long cstep)
{
    gemm_run(0, 0, m, n, k, 1.0f, a, lda, b, ldb, bstep, beta, c, ldc, cstep, nb);
}

void cnnrt_sgemm_dot(int m, int n, int k, const float *a, int lda, const float *b,
                     int ldb, float *c, int ldc, const float *bias, int act, float alpha)
{
    gemm_epi epi = { bias, act, alpha };
    if (m > 0 && n > 0)
        gemm_kernels[cnnrt_sgemm_variant()].dot(m, n, k, a, lda, b, ldb, c, ldc, 1.0f,
                                                bias ? 1.0f : 0.0f, &epi);
}

/* lanes summed in a fixed order: the same input gives the same bits */
double cnnrt_sum(const float *x, long n)
{
    double acc[8] = { 0 }, s = 0;
    long i = 0;
    for (; i + 8 <= n; i += 8)
        for (int j = 0; j < 8; j++)
            acc[j] += x[i + j];
    for (int j = 0; j < 8; j++)
        s += acc[j];
    for (; i < n; i++)
        s += x[i];
    return s;
}

#ifdef GEMM_PRAGMAS
#pragma GCC pop_options
#endif
