/* test_rt_kernels.c — the runtime's numeric kernels: the gemm and the conv
 * forward against naive loops, every backward against central differences,
 * the accumulate-vs-overwrite contract, batchnorm's running statistics and
 * the losses at extreme logits.
 *
 * Gradient checks use the scalar L = sum(y * r) for a fixed random r, so
 * dL/dy = r exactly and every element of the analytic gradient is compared
 * with (L(v+eps) - L(v-eps)) / 2eps.  Piecewise-linear kernels would break
 * the difference at a kink: maxpool gets inputs spaced wider than eps,
 * standalone relu inputs stay away from 0, and a layer with a fused relu or
 * leaky relu is probed with its activation pattern frozen at the point of
 * evaluation (the layer runs without the act and the test applies the
 * frozen slopes), which is exactly the function the analytic gradient
 * differentiates.  The fused forward itself is checked against naive loops.
 * Not here: rng, init, optimizers, files (their own suites).
 */
#include "cnnrt.h"
#include "gemm.h"

#include <check.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "check_util.h"
#include "ref_act.h"         /* ref_act: the activations in double */

/* the kernel context of every call; conv calls set its scratch (conv_ctx) */
static cnnrt_ctx kctx = { NULL, 1, NULL };

static cnnrt_ctx *conv_ctx(float *scratch)
{
    kctx.scratch = scratch;
    return &kctx;
}

#define EPS  5e-3f          /* finite-difference step */
#define RTOL 1e-2
#define ATOL 1e-3

/* ---- data: a private generator, and allocations freed after each test ---- */
static uint64_t tst_seed = 1;
static float urand(void)                        /* [-1, 1) */
{
    tst_seed = tst_seed * 6364136223846793005ull + 1442695040888963407ull;
    return (float)((tst_seed >> 40) * (2.0 / 16777216.0) - 1.0);
}

static void *tst_allocs[512];
static int tst_nallocs;
static float *vec(long n)                       /* n random floats */
{
    float *p = malloc((size_t)(n > 0 ? n : 1) * sizeof *p);
    ck_assert_ptr_nonnull(p);
    ck_assert_int_lt(tst_nallocs, 512);
    tst_allocs[tst_nallocs++] = p;
    for (long i = 0; i < n; i++)
        p[i] = urand();
    return p;
}
static float *vfill(long n, float v)
{
    float *p = vec(n);
    for (long i = 0; i < n; i++)
        p[i] = v;
    return p;
}
static float *vcopy(const float *src, long n)
{
    float *p = vec(n);
    memcpy(p, src, (size_t)n * sizeof *p);
    return p;
}
static void tst_setup(void) { tst_seed = 12345; }
static void tst_teardown(void)
{
    while (tst_nallocs > 0)
        free(tst_allocs[--tst_nallocs]);
}

static double dot(const float *a, const float *b, long n)
{
    double s = 0;
    for (long i = 0; i < n; i++)
        s += (double)a[i] * b[i];
    return s;
}

/* Compares got with want (|d| <= atol + rtol*|want|); on failure names the
 * first mismatching index and values (and prints up to five). */
static void expect_close(const char *what, const float *got, const double *want,
                         long n, double rtol, double atol)
{
    long bad = 0, first = -1;
    for (long i = 0; i < n; i++) {
        double d = fabs(got[i] - want[i]);
        if (d <= atol + rtol * fabs(want[i]))   /* NaN fails here too */
            continue;
        if (bad++ < 5)
            fprintf(stderr, "%s[%ld]: got %.8g want %.8g\n", what, i, got[i], want[i]);
        if (first < 0)
            first = i;
    }
    ck_assert_msg(bad == 0, "%s: %ld of %ld wrong, first [%ld] got %.8g want %.8g",
                  what, bad, n, first, first < 0 ? 0.0 : got[first],
                  first < 0 ? 0.0 : want[first]);
}
static void expect_closef(const char *what, const float *got, const float *want,
                          long n, double rtol, double atol)
{
    double *w = malloc((size_t)n * sizeof *w);
    for (long i = 0; i < n; i++)
        w[i] = want[i];
    expect_close(what, got, w, n, rtol, atol);
    free(w);
}

/* After a second backward call a gradient that accumulates has doubled, up
 * to rounding on the scale of the array's largest element (elements near 0
 * are sums that cancel). */
static void expect_twice(const char *what, const float *once, const float *now, long n)
{
    double *w = malloc((size_t)n * sizeof *w), scale = 0;
    for (long i = 0; i < n; i++) {
        w[i] = 2.0 * once[i];
        scale = fmax(scale, fabs(w[i]));
    }
    expect_close(what, now, w, n, 1e-5, 1e-6 * scale + 1e-7);
    free(w);
}

/* ---- the gradient checker ---- */
typedef struct Probe Probe;
struct Probe {
    double (*loss)(Probe *p);   /* runs the forward; returns sum(y*r) */
};

/* d loss / d v[i] against g[i], for every i (every step-th past 120). */
static void gradcheck_tol(const char *what, Probe *pr, float *v, const float *g,
                          long n, float eps, double atol)
{
    long step = n > 120 ? n / 120 + 1 : 1, checked = 0, bad = 0;
    long first = -1;
    double fnum = 0;
    for (long i = 0; i < n; i += step) {
        float save = v[i], hi = save + eps, lo = save - eps;
        v[i] = hi;
        double lp = pr->loss(pr);
        v[i] = lo;
        double lm = pr->loss(pr);
        v[i] = save;
        checked++;
        double num = (lp - lm) / ((double)hi - lo);
        double tol = atol + RTOL * fmax(fabs(num), fabs(g[i]));
        if (fabs(num - g[i]) <= tol)
            continue;
        if (bad++ < 5)
            fprintf(stderr, "%s[%ld]: analytic %.6g numeric %.6g\n", what, i, g[i], num);
        if (first < 0) {
            first = i;
            fnum = num;
        }
    }
    pr->loss(pr);
    ck_assert_msg(bad == 0, "%s: %ld of %ld gradients wrong, first [%ld] analytic %.6g numeric %.6g",
                  what, bad, checked, first, first < 0 ? 0.0 : g[first], fnum);
}
static void gradcheck(const char *what, Probe *pr, float *v, const float *g, long n)
{
    gradcheck_tol(what, pr, v, g, n, EPS, ATOL);
}

static int kinked(int act) { return act == CNNRT_ACT_RELU || act == CNNRT_ACT_LEAKY; }

/* A layer's output with a relu-like act, by its act-free output z and the
 * pattern `on` (y > 0 at the base point) frozen: y = on ? z : slope*z. */
static void frozen_act(int act, float *y, const unsigned char *on, long n)
{
    float slope = act == CNNRT_ACT_LEAKY ? 0.1f : 0.0f;
    for (long i = 0; i < n; i++)
        y[i] = on[i] ? y[i] : slope * y[i];
}
static unsigned char *pattern(const float *y, long n)
{
    unsigned char *on = (unsigned char *)vec(n / 4 + 1);
    for (long i = 0; i < n; i++)
        on[i] = y[i] > 0;
    return on;
}
static const int fused_acts[] = { CNNRT_ACT_NONE, CNNRT_ACT_RELU, CNNRT_ACT_LEAKY,
                                  CNNRT_ACT_SIGMOID, CNNRT_ACT_TANH };
#define NFUSED 5

/* ================= gemm ================= */
static void naive_gemm(int ta, int tb, int m, int n, int k, float alpha,
                       const float *a, int lda, const float *b, int ldb,
                       float beta, const float *c0, int ldc, double *want, double *bound)
{
    for (int i = 0; i < m; i++)
        for (int j = 0; j < n; j++) {
            double s = 0, sa = 0;
            for (int p = 0; p < k; p++) {
                double t = (double)(ta ? a[p * lda + i] : a[i * lda + p]) *
                           (tb ? b[j * ldb + p] : b[p * ldb + j]);
                s += t;
                sa += fabs(t);
            }
            double c = beta == 0 ? 0 : beta * c0[i * ldc + j];
            want[i * n + j] = alpha * s + c;
            bound[i * n + j] = fabs(alpha) * sa + fabs(c);
        }
}

/* every transpose combination, sizes around the tile and block edges,
 * padded leading dimensions, and every micro-kernel this CPU can run */
START_TEST(test_gemm_vs_naive)
{
    static const int sizes[] = { 1, 7, 33, 65, 130 };  /* 130: two M blocks */
    static const int ks[] = { 1, 7, 65, 300 };          /* 300: three K blocks */
    static const float ab[][2] = { { 1, 0 }, { 1, 1 }, { -0.5f, 0.25f } };
    int combo = 0, ran = 0;
    for (int ta = 0; ta < 2; ta++)
    for (int tb = 0; tb < 2; tb++)
    for (int im = 0; im < 5; im++)
    for (int in = 0; in < 5; in++)
    for (int ik = 0; ik < 4; ik++, combo++) {
        int m = sizes[im], n = sizes[in], k = ks[ik], pad = combo % 3;
        if ((long)m * n * k > 1300000)                  /* spare the sanitizer builds */
            continue;
        float alpha = ab[combo % 3][0], beta = ab[combo % 3][1];
        int lda = (ta ? m : k) + pad, ldb = (tb ? k : n) + pad, ldc = n + pad;
        float *a = vec((long)lda * (ta ? k : m)), *b = vec((long)ldb * (tb ? n : k));
        float *c0 = vec((long)ldc * m), *c = vec((long)ldc * m);
        double *want = malloc(sizeof(double) * m * n), *bound = malloc(sizeof(double) * m * n);
        naive_gemm(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c0, ldc, want, bound);
        for (int v = CNNRT_GEMM_GENERIC; v <= CNNRT_GEMM_AVX512; v++) {
            if (!cnnrt_sgemm_select(v))
                continue;
            ran++;
            for (long i = 0; i < (long)ldc * m; i++)    /* beta 0: C is not read */
                c[i] = beta == 0 ? NAN : c0[i];
            cnnrt_sgemm(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
            for (int i = 0; i < m; i++)
                for (int j = 0; j < n; j++) {
                    double d = fabs(c[i * ldc + j] - want[i * n + j]);
                    ck_assert_msg(d <= 1.2e-7 * (k + 4) * bound[i * n + j] + 1e-30,
                                  "variant %d ta=%d tb=%d m=%d n=%d k=%d: C[%d][%d] = %.8g, want %.8g",
                                  v, ta, tb, m, n, k, i, j, c[i * ldc + j], want[i * n + j]);
                }
            for (int i = 0; i < m; i++)                 /* the gaps between rows stay */
                for (int j = n; j < ldc; j++)
                    ck_assert(beta == 0 ? isnan(c[i * ldc + j]) : c[i * ldc + j] == c0[i * ldc + j]);
        }
        cnnrt_sgemm_select(CNNRT_GEMM_AUTO);
        free(want);
        free(bound);
        tst_teardown();
    }
    ck_assert_int_ge(ran, 1);
}
END_TEST

/* ================= conv ================= */
typedef struct { int c, h, w, f, kh, kw, sh, sw, ph, pw, dh, dw, groups, n; } ConvCase;
static const ConvCase conv_cases[] = {
    /* c  h  w   f kh kw sh sw ph pw dh dw  g  n */
    {  3, 9, 8,  4, 3, 3, 1, 1, 0, 0, 1, 1, 1, 1 },  /* plain */
    {  2, 9, 9,  3, 3, 3, 2, 2, 1, 1, 1, 1, 1, 3 },  /* stride 2, padding */
    {  3, 7, 10, 5, 3, 5, 1, 1, 1, 2, 1, 1, 1, 3 },  /* rectangular 3x5 kernel */
    {  2, 11, 9, 4, 3, 3, 1, 1, 2, 2, 2, 2, 1, 1 },  /* dilation 2 */
    {  4, 8, 7,  6, 3, 3, 1, 1, 1, 1, 1, 1, 2, 3 },  /* groups 2 */
    {  4, 8, 8,  4, 3, 3, 1, 1, 1, 1, 1, 1, 4, 3 },  /* depthwise */
    {  4, 8, 8,  8, 3, 3, 2, 2, 1, 1, 1, 1, 4, 1 },  /* depthwise x2, stride 2 */
    {  5, 6, 7,  7, 1, 1, 1, 1, 0, 0, 1, 1, 1, 3 },  /* 1x1 fast path */
    {  6, 6, 7,  4, 1, 1, 1, 1, 0, 0, 1, 1, 2, 3 },  /* 1x1 fast path, groups */
    {  5, 7, 7,  3, 1, 1, 2, 2, 0, 0, 1, 1, 1, 2 },  /* 1x1 strided: unfolded */
    {  3, 10, 9, 4, 2, 3, 2, 1, 0, 1, 1, 2, 1, 2 },  /* mixed stride, dilation */
    { 16, 10, 10, 40, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1 }, /* several gemm panels */
    {  8, 9, 7,  6, 3, 2, 2, 1, 1, 0, 1, 2, 2, 3 },  /* kernel-major dw, groups */
    {  4, 8, 8,  3, 3, 3, 1, 1, 2, 2, 2, 2, 1, 2 },  /* kernel-major, dilated */
    {  1, 28, 28, 6, 5, 5, 1, 1, 2, 2, 1, 1, 1, 7 }, /* LeNet-5 conv1; dw dot in 2 chunks */
    {  6, 14, 14, 16, 5, 5, 1, 1, 0, 0, 1, 1, 1, 2 }, /* LeNet-5 conv2: direct dx */
    {  5, 9, 12, 9, 3, 3, 1, 1, 2, 1, 2, 1, 1, 2 },  /* direct, dilated rows, 8+1 filters */
    {  2, 9, 9,  7, 2, 2, 1, 1, 1, 1, 1, 1, 1, 2 },  /* 6+1 filters; dw dot 4x3, 4x1, 1x3 */
    {  2, 9, 9,  3, 2, 2, 1, 1, 0, 0, 1, 1, 1, 2 },  /* dw dot 3x5 and 3x1 tiles */
    { 20, 8, 8, 40, 3, 3, 1, 1, 1, 1, 1, 1, 1, 2 },  /* convrow 3x8 tile, 40 of 48 lanes */
    {  6, 9, 11, 33, 3, 3, 1, 1, 0, 1, 1, 1, 1, 3 }, /* convrow 2x12 + 1x12 (1 filter), bias */
    /* Winograd (convwino.c: >= 32 channels, >= 128 tiles): forward and dx
     * within 1e-5 of the double sums (measured max error: see
     * test_conv_forward); odd planes crop the last tile row and column,
     * pad 0 makes dx pad 2; bias on the second, not the first */
    { 32, 12, 12, 48, 3, 3, 1, 1, 1, 1, 1, 1, 1, 4 },
    { 32, 17, 13, 32, 3, 3, 1, 1, 0, 0, 1, 1, 1, 3 },
    /* depthwise (convdepth.c); odd rows have no bias */
    {  6, 13, 10, 6, 3, 3, 2, 2, 1, 1, 1, 1, 6, 2 }, /* 3x3 stride 2, phase planes */
    {  5, 9, 11, 5, 3, 3, 1, 1, 1, 1, 1, 1, 5, 3 },  /* 3x3 stride 1, bias */
    {  3, 11, 9, 3, 5, 5, 1, 1, 2, 2, 1, 1, 3, 2 },  /* 5x5, pad 2 */
    {  4, 12, 13, 4, 5, 5, 2, 2, 2, 2, 1, 1, 4, 3 }, /* 5x5 stride 2, odd width */
    {  3, 7, 9,  3, 3, 3, 1, 1, 0, 0, 1, 1, 3, 2 },  /* no padding */
    {  2, 9, 8,  2, 3, 3, 2, 1, 0, 1, 2, 1, 2, 2 },  /* mixed stride, dilated rows */
    {  3, 8, 10, 3, 3, 3, 3, 3, 1, 1, 1, 1, 3, 2 },  /* stride 3: the general regrouping */
    {  4, 20, 21, 4, 3, 3, 1, 1, 1, 1, 1, 1, 4, 2 }, /* several 64-wide tiles per plane */
    {  2, 6, 6,  2, 3, 3, 1, 1, 2, 2, 1, 1, 2, 1 },  /* pad 2 > reach: all-padding rows */
};
#define NCONV ((int)(sizeof conv_cases / sizeof conv_cases[0]))

static cnnrt_conv conv_geom(const ConvCase *k)
{
    cnnrt_conv g = { k->c, k->h, k->w, k->f, 0, 0, k->kh, k->kw, k->sh, k->sw,
                     k->ph, k->pw, k->dh, k->dw, k->groups };
    g.oh = (k->h + 2 * k->ph - k->dh * (k->kh - 1) - 1) / k->sh + 1;
    g.ow = (k->w + 2 * k->pw - k->dw * (k->kw - 1) - 1) / k->sw + 1;
    return g;
}

static void naive_conv(const cnnrt_conv *g, int n, const float *x, const float *w,
                       const float *b, int act, float alpha, double *y)
{
    int cg = g->c / g->groups, fg = g->f / g->groups;
    for (int s = 0; s < n; s++)
    for (int f = 0; f < g->f; f++)
    for (int oy = 0; oy < g->oh; oy++)
    for (int ox = 0; ox < g->ow; ox++) {
        double t = b ? b[f] : 0;
        for (int cc = 0; cc < cg; cc++)
        for (int ki = 0; ki < g->kh; ki++)
        for (int kj = 0; kj < g->kw; kj++) {
            int c = f / fg * cg + cc;
            int iy = oy * g->sh - g->ph + ki * g->dh, ix = ox * g->sw - g->pw + kj * g->dw;
            if (iy >= 0 && iy < g->h && ix >= 0 && ix < g->w)
                t += (double)x[((s * g->c + c) * g->h + iy) * g->w + ix] *
                     w[((f * cg + cc) * g->kh + ki) * g->kw + kj];
        }
        y[((s * g->f + f) * g->oh + oy) * g->ow + ox] = ref_act(act, alpha, t);
    }
}

typedef struct {
    Probe pr;
    cnnrt_conv g;
    int n, act;
    float *x, *w, *b, *y, *r, *scratch;
    unsigned char *on;              /* frozen act pattern, or NULL */
} ConvCtx;

static double conv_loss(Probe *p)
{
    ConvCtx *c = (ConvCtx *)p;
    long ylen = (long)c->n * c->g.f * c->g.oh * c->g.ow;
    cnnrt_conv_forward(conv_ctx(c->scratch), &c->g, c->n, c->x, c->w, c->b, c->y,
                       c->on ? CNNRT_ACT_NONE : c->act, 0.1f);
    if (c->on)
        frozen_act(c->act, c->y, c->on, ylen);
    return dot(c->y, c->r, ylen);
}

static ConvCtx conv_setup(int i, int act)
{
    const ConvCase *k = &conv_cases[i];
    ConvCtx c = { { conv_loss }, conv_geom(k), k->n, act, 0, 0, 0, 0, 0, 0, NULL };
    long sc = cnnrt_conv_scratch(&c.g);
    c.x = vec((long)k->n * k->c * k->h * k->w);
    c.w = vec((long)k->f * (k->c / k->groups) * k->kh * k->kw);
    c.b = i % 2 ? NULL : vec(k->f);               /* with and without bias */
    c.y = vfill((long)k->n * k->f * c.g.oh * c.g.ow, NAN);
    c.r = vec((long)k->n * k->f * c.g.oh * c.g.ow);
    c.scratch = sc > 0 ? vfill(sc, NAN) : NULL;   /* exact size, for ASan */
    return c;
}

START_TEST(test_conv_forward)
{
    for (int a = 0; a < NFUSED; a++) {
        ConvCtx c = conv_setup(_i, fused_acts[a]);
        long ylen = (long)c.n * c.g.f * c.g.oh * c.g.ow;
        double *want = malloc(sizeof(double) * ylen);
        char what[64];
        naive_conv(&c.g, c.n, c.x, c.w, c.b, c.act, 0.1f, want);
        cnnrt_conv_forward(conv_ctx(c.scratch), &c.g, c.n, c.x, c.w, c.b, c.y, c.act, 0.1f);
        snprintf(what, sizeof what, "conv case %d act %d: y", _i, c.act);
        expect_close(what, c.y, want, ylen, 1e-5, 1e-5);
        free(want);
    }
}
END_TEST

/* dx[s][c][iy][ix] = sum of dy * w over the windows that cover it, and
 * dw[f][cc][ki][kj] = sum of dy * x over the samples and positions */
static void naive_conv_dx(const cnnrt_conv *g, int n, const float *x, const float *dy,
                          const float *w, double *dx, double *dw)
{
    int cg = g->c / g->groups, fg = g->f / g->groups;
    for (long i = 0; i < (long)n * g->c * g->h * g->w; i++)
        dx[i] = 0;
    for (long i = 0; i < (long)g->f * cg * g->kh * g->kw; i++)
        dw[i] = 0;
    for (int s = 0; s < n; s++)
    for (int f = 0; f < g->f; f++)
    for (int oy = 0; oy < g->oh; oy++)
    for (int ox = 0; ox < g->ow; ox++)
    for (int cc = 0; cc < cg; cc++)
    for (int ki = 0; ki < g->kh; ki++)
    for (int kj = 0; kj < g->kw; kj++) {
        int c = f / fg * cg + cc;
        int iy = oy * g->sh - g->ph + ki * g->dh, ix = ox * g->sw - g->pw + kj * g->dw;
        if (iy < 0 || iy >= g->h || ix < 0 || ix >= g->w)
            continue;
        double d = dy[((s * g->f + f) * g->oh + oy) * g->ow + ox];
        dx[((s * g->c + c) * g->h + iy) * g->w + ix] += d * w[((f * cg + cc) * g->kh + ki) * g->kw + kj];
        dw[((f * cg + cc) * g->kh + ki) * g->kw + kj] += d * x[((s * g->c + c) * g->h + iy) * g->w + ix];
    }
}

/* y and dx of every geometry under every micro-kernel variant (the direct
 * kernel and the gemm have one body per instruction set) against the naive
 * sums */
START_TEST(test_conv_variants)
{
    ConvCtx c = conv_setup(_i, CNNRT_ACT_RELU);
    const ConvCase *k = &conv_cases[_i];
    long xlen = (long)k->n * k->c * k->h * k->w, ylen = (long)k->n * k->f * c.g.oh * c.g.ow;
    long wlen = (long)k->f * (k->c / k->groups) * k->kh * k->kw;
    double *want = malloc(sizeof(double) * ylen), *wdx = malloc(sizeof(double) * xlen);
    double *wdw = malloc(sizeof(double) * wlen);
    naive_conv(&c.g, c.n, c.x, c.w, c.b, c.act, 0.1f, want);
    naive_conv_dx(&c.g, c.n, c.x, c.r, c.w, wdx, wdw);
    int ran = 0;
    /* a weight's gradient sums n*oh*ow products in float: its absolute
     * error grows with their number (cancellation leaves small sums) */
    double dw_tol = 1e-5 * fmax(1.0, c.n * c.g.oh * c.g.ow / 1000.0);
    for (int v = CNNRT_GEMM_GENERIC; v <= CNNRT_GEMM_AVX512; v++) {
        if (!cnnrt_sgemm_select(v))
            continue;
        ran++;
        char what[64];
        float *dx = vfill(xlen, NAN), *dw = vfill(wlen, 0);
        cnnrt_conv_forward(conv_ctx(c.scratch), &c.g, c.n, c.x, c.w, c.b, c.y, c.act, 0.1f);
        snprintf(what, sizeof what, "conv case %d variant %d: y", _i, v);
        expect_close(what, c.y, want, ylen, 1e-5, 1e-5);
        cnnrt_conv_backward(conv_ctx(c.scratch), &c.g, c.n, c.x, c.w, NULL, vcopy(c.r, ylen),
                            CNNRT_ACT_NONE, 0.0f, dx, dw, NULL);
        snprintf(what, sizeof what, "conv case %d variant %d: dx", _i, v);
        expect_close(what, dx, wdx, xlen, 1e-5, 1e-5);
        what[strlen(what) - 1] = 'w';
        expect_close(what, dw, wdw, wlen, 1e-5, dw_tol);
        /* without dx (a first layer): fewer than 4 channels take the dot
         * path of convdirect.c then */
        memset(dw, 0, (size_t)wlen * sizeof *dw);
        cnnrt_conv_backward(conv_ctx(c.scratch), &c.g, c.n, c.x, c.w, NULL, vcopy(c.r, ylen),
                            CNNRT_ACT_NONE, 0.0f, NULL, dw, NULL);
        snprintf(what, sizeof what, "conv case %d variant %d: dw alone", _i, v);
        expect_close(what, dw, wdw, wlen, 1e-5, dw_tol);
    }
    cnnrt_sgemm_select(CNNRT_GEMM_AUTO);
    ck_assert_int_ge(ran, 1);
    free(want);
    free(wdx);
    free(wdw);
}
END_TEST

/* every geometry with every fused act: the gradients, then a second call
 * that must overwrite dx and add to dw and db once more */
START_TEST(test_conv_grad)
{
    for (int a = 0; a < NFUSED; a++) {
        ConvCtx c = conv_setup(_i, fused_acts[a]);
        const ConvCase *k = &conv_cases[_i];
        long xlen = (long)k->n * k->c * k->h * k->w, ylen = (long)k->n * k->f * c.g.oh * c.g.ow;
        long wlen = (long)k->f * (k->c / k->groups) * k->kh * k->kw;
        float *dx = vfill(xlen, NAN), *dw = vfill(wlen, 0), *db = vfill(k->f, 0);
        char what[64];
        conv_loss(&c.pr);
        cnnrt_conv_backward(conv_ctx(c.scratch), &c.g, c.n, c.x, c.w, c.y, vcopy(c.r, ylen),
                            c.act, 0.1f, dx, dw, c.b ? db : NULL);
        float *dx2 = vfill(xlen, NAN), *dw2 = vcopy(dw, wlen), *db2 = vcopy(db, k->f);
        cnnrt_conv_backward(conv_ctx(c.scratch), &c.g, c.n, c.x, c.w, c.y, vcopy(c.r, ylen),
                            c.act, 0.1f, dx2, dw2, c.b ? db2 : NULL);
        snprintf(what, sizeof what, "conv case %d act %d: dx", _i, c.act);
        expect_closef(what, dx2, dx, xlen, 0, 0);
        what[strlen(what) - 1] = 'w';
        expect_twice(what, dw, dw2, wlen);
        what[strlen(what) - 1] = 'b';
        expect_twice(what, db, db2, c.b ? k->f : 0);
        if (kinked(c.act))
            c.on = pattern(c.y, ylen);
        /* Winograd's forward rounds y a few times coarser than the direct
         * sums (to ~1e-6 here), and moving one weight or bias moves
         * n*oh*ow outputs, one input 9*f: the central difference (over
         * 2*EPS) carries ~1e-3 of that noise */
        double atol = cnnrt_wino_use(&c.g, c.n) ? 4e-3 : ATOL;
        what[strlen(what) - 1] = 'x';
        gradcheck_tol(what, &c.pr, c.x, dx, xlen, EPS, atol);
        what[strlen(what) - 1] = 'w';
        gradcheck_tol(what, &c.pr, c.w, dw, wlen, EPS, atol);
        what[strlen(what) - 1] = 'b';
        if (c.b)
            gradcheck_tol(what, &c.pr, c.b, db, k->f, EPS, atol);
    }
}
END_TEST


/* ================= dense ================= */
typedef struct {
    Probe pr;
    int n, in, out, act;
    float *x, *w, *b, *y, *r;
    unsigned char *on;              /* frozen act pattern, or NULL */
} DenseCtx;

static double dense_loss(Probe *p)
{
    DenseCtx *d = (DenseCtx *)p;
    cnnrt_dense_forward(&kctx, d->n, d->in, d->out, d->x, d->w, d->b, d->y,
                        d->on ? CNNRT_ACT_NONE : d->act, 0.1f);
    if (d->on)
        frozen_act(d->act, d->y, d->on, (long)d->n * d->out);
    return dot(d->y, d->r, (long)d->n * d->out);
}

/* n <= 8 takes the gemm's dot-product path, larger n the packed one */
static const int dense_n[] = { 1, 3, 11, 70 };

static DenseCtx dense_setup(int n, int act, int bias)
{
    DenseCtx d = { { dense_loss }, n, 37, 13, act, 0, 0, 0, 0, 0, NULL };
    d.x = vec((long)n * d.in);
    d.w = vec((long)d.out * d.in);
    d.b = bias ? vec(d.out) : NULL;
    d.y = vfill((long)n * d.out, NAN);
    d.r = vec((long)n * d.out);
    return d;
}

START_TEST(test_dense_forward_grad)
{
    for (int a = 0; a < NFUSED; a++) {
        DenseCtx d = dense_setup(dense_n[_i], fused_acts[a], a % 2 == 0);
        long ylen = (long)d.n * d.out;
        double *want = malloc(sizeof(double) * ylen);
        for (int s = 0; s < d.n; s++)
            for (int j = 0; j < d.out; j++) {
                double t = d.b ? d.b[j] : 0;
                for (int i = 0; i < d.in; i++)
                    t += (double)d.x[s * d.in + i] * d.w[j * d.in + i];
                want[s * d.out + j] = ref_act(d.act, 0.1f, t);
            }
        char what[64];
        dense_loss(&d.pr);
        snprintf(what, sizeof what, "dense n=%d act %d: y", d.n, d.act);
        expect_close(what, d.y, want, ylen, 1e-5, 1e-5);
        free(want);
        long xlen = (long)d.n * d.in, wlen = (long)d.out * d.in;
        float *dx = vfill(xlen, NAN), *dw = vfill(wlen, 0), *db = vfill(d.out, 0);
        cnnrt_dense_backward(&kctx, d.n, d.in, d.out, d.x, d.w, d.y, vcopy(d.r, ylen), d.act, 0.1f,
                             dx, dw, d.b ? db : NULL);
        /* a second call overwrites dx and adds to dw and db once more */
        float *dx2 = vfill(xlen, NAN), *dw2 = vcopy(dw, wlen), *db2 = vcopy(db, d.out);
        cnnrt_dense_backward(&kctx, d.n, d.in, d.out, d.x, d.w, d.y, vcopy(d.r, ylen), d.act, 0.1f,
                             dx2, dw2, d.b ? db2 : NULL);
        snprintf(what, sizeof what, "dense n=%d act %d: dx", d.n, d.act);
        expect_closef(what, dx2, dx, xlen, 0, 0);
        what[strlen(what) - 1] = 'w';
        expect_twice(what, dw, dw2, wlen);
        what[strlen(what) - 1] = 'b';
        expect_twice(what, db, db2, d.b ? d.out : 0);
        if (kinked(d.act))
            d.on = pattern(d.y, ylen);
        what[strlen(what) - 1] = 'x';
        gradcheck(what, &d.pr, d.x, dx, xlen);
        what[strlen(what) - 1] = 'w';
        gradcheck(what, &d.pr, d.w, dw, wlen);
        what[strlen(what) - 1] = 'b';
        if (d.b)
            gradcheck(what, &d.pr, d.b, db, d.out);
    }
}
END_TEST


/* silu's derivative needs its input, which a fused backward does not have:
 * the runtime refuses loudly instead of returning wrong gradients */
START_TEST(test_fused_silu_backward_aborts)
{
    DenseCtx d = dense_setup(2, CNNRT_ACT_SILU, 1);
    dense_loss(&d.pr);
    cnnrt_dense_backward(&kctx, d.n, d.in, d.out, d.x, d.w, d.y, d.r, d.act, 0.1f, NULL, NULL, NULL);
}
END_TEST

/* A conv without its context, or without the scratch it needs, is a
 * programming error: a message and abort(), never wrong numbers. */
START_TEST(test_conv_null_ctx_aborts)
{
    ConvCtx c = conv_setup(0, CNNRT_ACT_NONE);
    cnnrt_conv_forward(NULL, &c.g, c.n, c.x, c.w, c.b, c.y, c.act, 0.1f);
}
END_TEST

START_TEST(test_conv_null_scratch_aborts)
{
    ConvCtx c = conv_setup(0, CNNRT_ACT_NONE);
    ck_assert_int_gt(cnnrt_conv_scratch(&c.g), 0);
    cnnrt_conv_backward(conv_ctx(NULL), &c.g, c.n, c.x, c.w, c.y, c.r, c.act, 0.1f,
                        c.x, NULL, NULL);
}
END_TEST

/* ================= elementwise ================= */
typedef struct {
    Probe pr;
    int act;
    long len;
    float *x, *y, *r;
} ActCtx;

static double act_loss(Probe *p)
{
    ActCtx *a = (ActCtx *)p;
    cnnrt_act_forward(&kctx, a->act, 0.1f, a->len, a->x, a->y);
    return dot(a->y, a->r, a->len);
}

/* x away from 0 (no kink within eps); every act in the forms the contract
 * allows, which also vary where dx lives:
 *   0: x and y, dx is dy;  1: y only, dx apart;  2: x only, dx is x;
 *   3: y only, dx is y     (1 and 3 not for silu, which needs x) */
START_TEST(test_act_grad)
{
    static const int acts[] = { CNNRT_ACT_NONE, CNNRT_ACT_RELU, CNNRT_ACT_LEAKY,
                                CNNRT_ACT_SIGMOID, CNNRT_ACT_TANH, CNNRT_ACT_SILU };
    enum { N = 300 };                               /* past one 256-float block */
    for (int k = 0; k < 6; k++) {
        ActCtx a = { { act_loss }, acts[k], N, vec(N), vec(N), vec(N) };
        double want[N];
        char what[64];
        for (long i = 0; i < a.len; i++) {
            a.x[i] = (a.x[i] < 0 ? -0.05f : 0.05f) + 3 * a.x[i];
            want[i] = ref_act(a.act, 0.1f, a.x[i]);
        }
        act_loss(&a.pr);
        snprintf(what, sizeof what, "act %d forward", a.act);
        expect_close(what, a.y, want, a.len, 1e-5, 1e-6);
        for (int form = 0; form < 4; form++) {
            if (form % 2 && a.act == CNNRT_ACT_SILU)
                continue;
            float *xc = vcopy(a.x, N), *yc = vcopy(a.y, N), *dy = vcopy(a.r, N);
            float *dx = form == 0 ? dy : form == 1 ? vec(N) : form == 2 ? xc : yc;
            cnnrt_act_backward(&kctx, a.act, 0.1f, N, form % 2 ? NULL : xc, form == 2 ? NULL : yc,
                               dy, dx);
            snprintf(what, sizeof what, "act %d form %d: dx", a.act, form);
            gradcheck(what, &a.pr, a.x, dx, a.len);
        }
    }
}
END_TEST

typedef struct {
    Probe pr;
    int n, c, hw;
    float *x, *a, *y, *r;
} PreluCtx;

static double prelu_loss(Probe *p)
{
    PreluCtx *q = (PreluCtx *)p;
    cnnrt_prelu_forward(&kctx, q->n, q->c, q->hw, q->x, q->a, q->y);
    return dot(q->y, q->r, (long)q->n * q->c * q->hw);
}

START_TEST(test_prelu_grad)
{
    PreluCtx q = { { prelu_loss }, 2, 3, 5, vec(30), vec(3), vec(30), vec(30) };
    for (int i = 0; i < 30; i++)
        q.x[i] += q.x[i] < 0 ? -0.05f : 0.05f;
    float *dx = vfill(30, NAN), *da = vfill(3, 0);
    cnnrt_prelu_backward(&kctx, 2, 3, 5, q.x, q.a, q.r, dx, da);
    gradcheck("prelu dx", &q.pr, q.x, dx, 30);
    gradcheck("prelu da", &q.pr, q.a, da, 3);
    float *da1 = vcopy(da, 3);
    cnnrt_prelu_backward(&kctx, 2, 3, 5, q.x, q.a, q.r, NULL, da);
    expect_twice("prelu da (accumulated)", da1, da, 3);
}
END_TEST

typedef struct {
    Probe pr;
    cnnrt_rng rng, start;
    long len;
    float p, *x, *y, *mask, *r;
} DropCtx;

static double drop_loss(Probe *p)                 /* the same mask every time */
{
    DropCtx *d = (DropCtx *)p;
    d->rng = d->start;
    cnnrt_dropout_forward(&kctx, &d->rng, d->p, 1, d->len, d->x, d->y, d->mask);
    return dot(d->y, d->r, d->len);
}

START_TEST(test_dropout)
{
    DropCtx d = { { drop_loss }, { { 0 } }, { { 0 } }, 2000, 0.3f,
                  vec(2000), vec(2000), vec(2000), vec(2000) };
    cnnrt_rng_seed(&d.start, 7);
    drop_loss(&d.pr);
    long dropped = 0;
    for (long i = 0; i < d.len; i++) {
        ck_assert_msg(d.mask[i] == 0 || fabsf(d.mask[i] - 1 / 0.7f) < 1e-6f,
                      "mask[%ld] = %g", i, d.mask[i]);
        ck_assert(d.y[i] == d.x[i] * d.mask[i]);
        dropped += d.mask[i] == 0;
    }
    ck_assert_msg(labs(dropped - 600) < 80, "dropped %ld of 2000 at p=0.3", dropped);
    float *dx = vec(d.len);
    cnnrt_dropout_backward(&kctx, d.len, d.mask, d.r, dx);
    gradcheck("dropout dx", &d.pr, d.x, dx, d.len);
    /* evaluation: identity, mask untouched */
    float *mask = vcopy(d.mask, d.len);
    cnnrt_dropout_forward(&kctx, &d.rng, d.p, 0, d.len, d.x, d.y, d.mask);
    expect_closef("dropout eval y", d.y, d.x, d.len, 0, 0);
    expect_closef("dropout eval mask", d.mask, mask, d.len, 0, 0);
}
END_TEST

START_TEST(test_add)
{
    float *a = vec(50), *b = vec(50), *y = vec(50);
    double want[50];
    for (int i = 0; i < 50; i++)
        want[i] = (double)a[i] + b[i];
    cnnrt_add_forward(&kctx, 50, a, b, y, CNNRT_ACT_NONE, 0);
    expect_close("add", y, want, 50, 1e-7, 0);
    float *b2 = vcopy(b, 50);
    cnnrt_add_forward(&kctx, 50, a, b2, b2, CNNRT_ACT_NONE, 0);   /* in place, either side */
    expect_close("add into b", b2, want, 50, 1e-7, 0);
    /* a relu epilogue, over more than one block */
    long big = 3000;
    float *p = vec(big), *q = vec(big), *r = vec(big);
    double *wr = malloc(sizeof(double) * (size_t)big);
    for (long i = 0; i < big; i++)
        wr[i] = (double)p[i] + q[i] > 0 ? (double)p[i] + q[i] : 0;
    cnnrt_add_forward(&kctx, big, p, q, r, CNNRT_ACT_RELU, 0);
    expect_close("add+relu", r, wr, big, 1e-7, 0);
    cnnrt_add_forward(&kctx, big, p, q, p, CNNRT_ACT_RELU, 0);
    expect_close("add+relu into a", p, wr, big, 1e-7, 0);
    free(wr);
    cnnrt_add_forward(&kctx, 50, a, b, a, CNNRT_ACT_NONE, 0);
    expect_close("add into a", a, want, 50, 1e-7, 0);
}
END_TEST

/* ================= pooling and reshaping ================= */
typedef struct {
    Probe pr;
    int kind, n, c, h, w, f;        /* kind: 0 max, 1 avg, 2 gap, 3 upsample */
    cnnrt_pool g;
    long xlen, ylen;
    float *x, *y, *r;
} PoolCtx;

static double pool_loss(Probe *p)
{
    PoolCtx *q = (PoolCtx *)p;
    switch (q->kind) {
    case 0: cnnrt_maxpool_forward(&kctx, &q->g, q->n, q->x, q->y, NULL); break;
    case 1: cnnrt_avgpool_forward(&kctx, &q->g, q->n, q->x, q->y); break;
    case 2: cnnrt_gap_forward(&kctx, q->n, q->c, q->h * q->w, q->x, q->y); break;
    default: cnnrt_upsample_forward(&kctx, q->n, q->c, q->h, q->w, q->f, q->x, q->y);
    }
    return dot(q->y, q->r, q->ylen);
}

static PoolCtx pool_setup(int kind, int k, int s, int pad)
{
    PoolCtx q = { { pool_loss }, kind, 2, 3, 7, 6, 2, { 0 }, 0, 0, 0, 0, 0 };
    cnnrt_pool g = { q.c, q.h, q.w, (q.h + 2 * pad - k) / s + 1, (q.w + 2 * pad - k) / s + 1,
                     k, k, s, s, pad, pad };
    q.g = g;
    q.xlen = (long)q.n * q.c * q.h * q.w;
    q.ylen = kind == 2 ? (long)q.n * q.c : kind == 3 ? q.xlen * q.f * q.f
                                                     : (long)q.n * q.c * g.oh * g.ow;
    q.x = vec(q.xlen);
    q.y = vfill(q.ylen, NAN);
    q.r = vec(q.ylen);
    /* distinct values 0.02 apart in random order: no ties, no max flips */
    for (long i = 0; i < q.xlen; i++)
        q.x[i] = 0.02f * (float)i - 1;
    for (long i = q.xlen - 1; i > 0; i--) {
        long j = (long)((urand() + 1) * 0.5f * (float)(i + 1)) % (i + 1);
        float t = q.x[i];
        q.x[i] = q.x[j];
        q.x[j] = t;
    }
    return q;
}

/* forward against a direct evaluation, then the gradient */
static void pool_check(PoolCtx *q, const char *name)
{
    double *want = malloc(sizeof(double) * q->ylen);
    const cnnrt_pool *g = &q->g;
    for (long o = 0; o < q->ylen; o++) {
        if (q->kind == 2) {
            double s = 0;
            for (int i = 0; i < q->h * q->w; i++)
                s += q->x[o * q->h * q->w + i];
            want[o] = s / (q->h * q->w);
            continue;
        }
        if (q->kind == 3) {
            long ow = (long)q->w * q->f, pl = o / (ow * q->h * q->f), oy = o / ow % (q->h * q->f);
            want[o] = q->x[(pl * q->h + oy / q->f) * q->w + o % ow / q->f];
            continue;
        }
        long pl = o / (g->oh * g->ow);
        int oy = (int)(o / g->ow % g->oh), ox = (int)(o % g->ow);
        double m = -INFINITY, s = 0;
        for (int ky = 0; ky < g->kh; ky++)
            for (int kx = 0; kx < g->kw; kx++) {
                int iy = oy * g->sh - g->ph + ky, ix = ox * g->sw - g->pw + kx;
                if (iy < 0 || iy >= g->h || ix < 0 || ix >= g->w)
                    continue;
                double v = q->x[(pl * g->h + iy) * g->w + ix];
                m = v > m ? v : m;
                s += v;
            }
        want[o] = q->kind == 0 ? m : s / (g->kh * g->kw);
    }
    char what[64];
    pool_loss(&q->pr);
    snprintf(what, sizeof what, "%s forward", name);
    expect_close(what, q->y, want, q->ylen, 1e-6, 1e-6);
    free(want);
    float *dx = vfill(q->xlen, NAN);
    switch (q->kind) {
    case 0: cnnrt_maxpool_backward(&kctx, g, q->n, q->x, NULL, q->r, dx); break;
    case 1: cnnrt_avgpool_backward(&kctx, g, q->n, q->r, dx); break;
    case 2: cnnrt_gap_backward(&kctx, q->n, q->c, q->h * q->w, q->r, dx); break;
    default: cnnrt_upsample_backward(&kctx, q->n, q->c, q->h, q->w, q->f, q->r, dx);
    }
    snprintf(what, sizeof what, "%s dx", name);
    gradcheck(what, &q->pr, q->x, dx, q->xlen);
    if (q->kind == 0) {     /* saved positions route dy exactly as recomputing */
        float *idx = vec(q->ylen), *y2 = vec(q->ylen), *dx2 = vfill(q->xlen, NAN);
        cnnrt_maxpool_forward(&kctx, g, q->n, q->x, y2, idx);
        cnnrt_maxpool_backward(&kctx, g, q->n, NULL, idx, q->r, dx2);
        double *want2 = malloc(sizeof(double) * (size_t)q->xlen);
        for (long i = 0; i < q->xlen; i++)
            want2[i] = dx[i];
        snprintf(what, sizeof what, "%s dx from saved positions", name);
        expect_close(what, dx2, want2, q->xlen, 0, 0);
        free(want2);        /* the vec() buffers are freed by the harness */
    }
}

START_TEST(test_pool)
{
    PoolCtx q;
    q = pool_setup(0, 2, 2, 0); pool_check(&q, "maxpool 2/2");
    q = pool_setup(0, 3, 2, 1); pool_check(&q, "maxpool 3/2 pad 1");
    q = pool_setup(0, 3, 1, 1); pool_check(&q, "maxpool 3/1 pad 1 (overlapping)");
    q = pool_setup(1, 2, 2, 0); pool_check(&q, "avgpool 2/2");
    q = pool_setup(1, 3, 2, 1); pool_check(&q, "avgpool 3/2 pad 1");
    q = pool_setup(2, 1, 1, 0); pool_check(&q, "gap");
    q = pool_setup(3, 1, 1, 0); pool_check(&q, "upsample x2");
    q = pool_setup(3, 1, 1, 0); q.f = 3; q.ylen = q.xlen * 9; q.y = vec(q.ylen); q.r = vec(q.ylen);
    pool_check(&q, "upsample x3");
}
END_TEST

typedef struct {
    Probe pr;
    int n;
    long sizes[3];
    float *parts[3], *y, *r;
} CatCtx;

static double cat_loss(Probe *p)
{
    CatCtx *q = (CatCtx *)p;
    cnnrt_concat_forward(&kctx, q->n, 3, (const float *const *)q->parts, q->sizes, q->y);
    return dot(q->y, q->r, q->n * (q->sizes[0] + q->sizes[1] + q->sizes[2]));
}

START_TEST(test_concat)
{
    CatCtx q = { { cat_loss }, 2, { 8, 12, 4 }, { 0 }, vfill(48, NAN), vec(48) };
    float *d[3];
    for (int i = 0; i < 3; i++) {
        q.parts[i] = vec(2 * q.sizes[i]);
        d[i] = vfill(2 * q.sizes[i], NAN);
    }
    cat_loss(&q.pr);
    ck_assert(q.y[0] == q.parts[0][0] && q.y[8] == q.parts[1][0] && q.y[20] == q.parts[2][0]);
    ck_assert(q.y[24] == q.parts[0][8] && q.y[47] == q.parts[2][7]);
    cnnrt_concat_backward(&kctx, 2, 3, q.sizes, q.r, d);
    gradcheck("concat d0", &q.pr, q.parts[0], d[0], 16);
    gradcheck("concat d1", &q.pr, q.parts[1], d[1], 24);
    gradcheck("concat d2", &q.pr, q.parts[2], d[2], 8);
    float *skip[3] = { d[0], NULL, d[2] };          /* a part nobody needs */
    cnnrt_concat_backward(&kctx, 2, 3, q.sizes, q.r, skip);
}
END_TEST

/* ================= softmax, batchnorm ================= */
typedef struct {
    Probe pr;
    int n, c, hw, training;
    float *x, *gamma, *beta, *y, *r, *mean, *invstd;
} NormCtx;

static double softmax_loss(Probe *p)
{
    NormCtx *q = (NormCtx *)p;
    cnnrt_softmax_forward(&kctx, q->n, q->c, q->hw, q->x, q->y);
    return dot(q->y, q->r, (long)q->n * q->c * q->hw);
}

static double bn_loss(Probe *p)
{
    NormCtx *q = (NormCtx *)p;
    cnnrt_batchnorm_forward(&kctx, q->n, q->c, q->hw, q->x, q->gamma, q->beta, NULL, NULL,
                            0.1f, 1e-5f, 1, q->y, q->mean, q->invstd, CNNRT_ACT_NONE, 0);
    return dot(q->y, q->r, (long)q->n * q->c * q->hw);
}

static NormCtx norm_setup(double (*loss)(Probe *), int n, int c, int hw)
{
    long len = (long)n * c * hw;
    NormCtx q = { { loss }, n, c, hw, 1, vec(len), vec(c), vec(c), vfill(len, NAN),
                  vec(len), vec(c), vec(c) };
    for (long i = 0; i < len; i++)
        q.x[i] *= 3;
    return q;
}

START_TEST(test_softmax_grad)
{
    static const int hws[] = { 1, 7, 70 };          /* 70 crosses a chunk */
    for (int k = 0; k < 3; k++) {
        NormCtx q = norm_setup(softmax_loss, 3, 5, hws[k]);
        long len = 15L * hws[k];
        char what[64];
        softmax_loss(&q.pr);
        for (int s = 0; s < 3; s++)
            for (int p = 0; p < hws[k]; p++) {
                double m = -INFINITY, z = 0;
                for (int ch = 0; ch < 5; ch++)
                    m = fmax(m, q.x[(s * 5 + ch) * hws[k] + p]);
                for (int ch = 0; ch < 5; ch++)
                    z += exp(q.x[(s * 5 + ch) * hws[k] + p] - m);
                for (int ch = 0; ch < 5; ch++) {
                    long i = (s * 5 + ch) * hws[k] + p;
                    double want = exp(q.x[i] - m) / z;
                    ck_assert_msg(fabs(q.y[i] - want) < 1e-6, "softmax hw=%d y[%ld] = %g, want %g",
                                  hws[k], i, q.y[i], want);
                }
            }
        float *dx = vfill(len, NAN);
        cnnrt_softmax_backward(&kctx, 3, 5, hws[k], q.y, q.r, dx);
        snprintf(what, sizeof what, "softmax hw=%d dx", hws[k]);
        gradcheck(what, &q.pr, q.x, dx, len);
    }
}
END_TEST

START_TEST(test_batchnorm_grad)
{
    NormCtx q = norm_setup(bn_loss, 4, 3, 5);
    long len = 60;
    float *dx = vfill(len, NAN), *dg = vfill(3, 0), *dbt = vfill(3, 0);
    bn_loss(&q.pr);
    cnnrt_batchnorm_backward(&kctx, 4, 3, 5, q.x, q.gamma, q.mean, q.invstd, NULL, q.r, CNNRT_ACT_NONE, 0, dx, dg, dbt);
    gradcheck("batchnorm dx", &q.pr, q.x, dx, len);
    gradcheck("batchnorm dgamma", &q.pr, q.gamma, dg, 3);
    gradcheck("batchnorm dbeta", &q.pr, q.beta, dbt, 3);
    float *dg1 = vcopy(dg, 3), *db1 = vcopy(dbt, 3);
    cnnrt_batchnorm_backward(&kctx, 4, 3, 5, q.x, q.gamma, q.mean, q.invstd, NULL, q.r, CNNRT_ACT_NONE, 0, NULL, dg, dbt);
    expect_twice("batchnorm dgamma (accumulated)", dg1, dg, 3);
    expect_twice("batchnorm dbeta (accumulated)", db1, dbt, 3);
}
END_TEST

/* channel 0 holds 1..6: mean 3.5, biased variance 35/12, unbiased 3.5 */
START_TEST(test_batchnorm_running)
{
    float x[12] = { 1, 2, 3, 10, 10, 10, 4, 5, 6, 10, 10, 10 };   /* n=2 c=2 hw=3 */
    float gamma[2] = { 2, 1 }, beta[2] = { 0.5f, 0 }, y[12], mean[2], invstd[2];
    float rmean[2] = { 0, 1 }, rvar[2] = { 1, 2 };
    cnnrt_batchnorm_forward(&kctx, 2, 2, 3, x, gamma, beta, rmean, rvar, 0.1f, 1e-5f, 1, y, mean, invstd, CNNRT_ACT_NONE, 0);
    double want_rm[2] = { 0.35, 0.9 + 1.0 }, want_rv[2] = { 0.9 + 0.35, 1.8 };
    double want_y0 = 2 * (1 - 3.5) / sqrt(35.0 / 12 + 1e-5) + 0.5;
    expect_close("running mean", rmean, want_rm, 2, 1e-6, 1e-7);
    expect_close("running var (unbiased)", rvar, want_rv, 2, 1e-6, 1e-7);
    ck_assert_msg(fabs(mean[0] - 3.5) < 1e-6 && fabs(invstd[0] - 1 / sqrt(35.0 / 12 + 1e-5)) < 1e-6,
                  "saved mean %g invstd %g", mean[0], invstd[0]);
    ck_assert_msg(fabs(y[0] - want_y0) < 1e-5, "y[0] = %g, want %g", y[0], want_y0);
    ck_assert_msg(fabsf(y[3] - 0.0f) < 1e-6f, "constant channel: y = %g, want beta 0", y[3]);
    /* evaluation: running statistics normalise and stay put */
    cnnrt_batchnorm_forward(&kctx, 2, 2, 3, x, gamma, beta, rmean, rvar, 0.1f, 1e-5f, 0, y, NULL, NULL, CNNRT_ACT_NONE, 0);
    double want_ev[12];
    for (int i = 0; i < 12; i++) {
        int ch = i / 3 % 2;
        want_ev[i] = gamma[ch] * (x[i] - want_rm[ch]) / sqrt(want_rv[ch] + 1e-5) + beta[ch];
    }
    expect_close("batchnorm eval y", y, want_ev, 12, 1e-5, 1e-6);
    expect_close("running mean after eval", rmean, want_rm, 2, 1e-6, 1e-7);
    expect_close("running var after eval", rvar, want_rv, 2, 1e-6, 1e-7);
    /* a mean far above the spread still normalises to full precision */
    float xb[4] = { 1000.0f, 1000.01f, 1000.02f, 1000.04f }, yb[4];
    double mb = 0, vb = 0, want_b[4];
    for (int i = 0; i < 4; i++)
        mb += xb[i] / 4.0;
    for (int i = 0; i < 4; i++)
        vb += (xb[i] - mb) * (xb[i] - mb) / 4;
    for (int i = 0; i < 4; i++)
        want_b[i] = (xb[i] - mb) / sqrt(vb + 1e-5);
    cnnrt_batchnorm_forward(&kctx, 1, 1, 4, xb, NULL, NULL, NULL, NULL, 0.1f, 1e-5f, 1, yb, NULL, NULL, CNNRT_ACT_NONE, 0);
    expect_close("batchnorm y, mean 1000", yb, want_b, 4, 1e-4, 1e-4);
}
END_TEST

/* ================= losses ================= */
typedef struct {
    Probe pr;
    int kind, n, c, hw;                 /* kind: 0 xent, 1 bce, 2 mse */
    float *z, *t, *p;
} LossCtx;

static double loss_loss(Probe *pr)      /* the loss value itself is L */
{
    LossCtx *q = (LossCtx *)pr;
    long count = (long)q->n * q->c * q->hw;
    switch (q->kind) {
    case 0: return cnnrt_xent_loss(&kctx, q->n, q->c, q->hw, q->z, NULL, q->t, NULL);
    case 1: return cnnrt_bce_loss(&kctx, count, q->z, NULL, q->t, NULL);
    default: return cnnrt_mse_loss(&kctx, count, q->z, q->t, NULL);
    }
}

/* naive loss in double, straight from LANGUAGE.md section 5 */
static double naive_loss(const LossCtx *q)
{
    long count = (long)q->n * q->c * q->hw;
    double s = 0;
    if (q->kind == 0) {
        for (int b = 0; b < q->n; b++)
            for (int p = 0; p < q->hw; p++) {
                double z = 0;
                for (int ch = 0; ch < q->c; ch++)
                    z += exp(q->z[(b * q->c + ch) * q->hw + p]);
                for (int ch = 0; ch < q->c; ch++) {
                    long i = (b * q->c + ch) * q->hw + p;
                    s -= q->t[i] * log(exp(q->z[i]) / z);
                }
            }
        return s / q->n;
    }
    for (long i = 0; i < count; i++) {
        double pr = 1 / (1 + exp(-(double)q->z[i]));
        s += q->kind == 1 ? -(q->t[i] * log(pr) + (1 - q->t[i]) * log(1 - pr))
                          : (q->z[i] - q->t[i]) * (q->z[i] - q->t[i]);
    }
    return s / count;
}

START_TEST(test_loss_grad)
{
    static const int shapes[][4] = {   /* kind n c hw */
        { 0, 4, 5, 1 }, { 0, 2, 3, 6 }, { 1, 3, 4, 1 }, { 2, 3, 4, 2 } };
    for (int k = 0; k < 4; k++) {
        LossCtx q = { { loss_loss }, shapes[k][0], shapes[k][1], shapes[k][2], shapes[k][3],
                      0, 0, 0 };
        long count = (long)q.n * q.c * q.hw;
        q.z = vec(count);
        q.t = vec(count);
        q.p = vec(count);
        for (long i = 0; i < count; i++) {
            q.z[i] *= 3;
            q.t[i] = (q.t[i] + 1) / 2;                  /* soft targets in [0, 1) */
        }
        if (q.kind == 0) {                              /* probability vectors */
            for (int b = 0; b < q.n; b++)
                for (int p = 0; p < q.hw; p++) {
                    double s = 0;
                    for (int ch = 0; ch < q.c; ch++)
                        s += q.t[(b * q.c + ch) * q.hw + p];
                    for (int ch = 0; ch < q.c; ch++)
                        q.t[(b * q.c + ch) * q.hw + p] /= (float)s;
                }
            cnnrt_softmax_forward(&kctx, q.n, q.c, q.hw, q.z, q.p);
        } else {
            for (long i = 0; i < count; i++)
                q.p[i] = 1 / (1 + expf(-q.z[i]));
        }
        char what[64];
        double want = naive_loss(&q), got = loss_loss(&q.pr);
        ck_assert_msg(fabs(got - want) < 1e-5 * (1 + fabs(want)), "loss %d value %.8g, want %.8g",
                      q.kind, got, want);
        for (int withp = 0; withp < 2; withp++) {       /* p given, p recomputed */
            float *dz = vfill(count, NAN);
            float l = q.kind == 0 ? cnnrt_xent_loss(&kctx, q.n, q.c, q.hw, q.z, withp ? q.p : NULL, q.t, dz)
                    : q.kind == 1 ? cnnrt_bce_loss(&kctx, count, q.z, withp ? q.p : NULL, q.t, dz)
                                  : cnnrt_mse_loss(&kctx, count, q.z, q.t, dz);
            ck_assert(fabs(l - got) < 1e-6);
            snprintf(what, sizeof what, "loss %d (hw %d, p %s) dz", q.kind, q.hw,
                     withp ? "given" : "NULL");
            gradcheck_tol(what, &q.pr, q.z, dz, count, 1e-2f, 1e-4);
        }
    }
}
END_TEST

/* logits of +-100 (as the spec asks) and +-1000 (beyond exp's range even
 * in double): losses finite and right, gradients finite and right */
START_TEST(test_loss_extreme)
{
    static const float big[] = { 100, 1000 };
    for (int k = 0; k < 2; k++) {
        float B = big[k];
        /* two samples, two classes: the first wrong by 2B, the second right */
        float z[4] = { B, -B, -B, B }, t[4] = { 0, 1, 0, 1 }, p[4], dz[4];
        cnnrt_softmax_forward(&kctx, 2, 2, 1, z, p);
        float l = cnnrt_xent_loss(&kctx, 2, 2, 1, z, p, t, dz);
        ck_assert_msg(isfinite(l) && fabs(l - B) < 1e-5 * B, "xent at +-%g: %g, want %g", B, l, B);
        ck_assert_msg(fabsf(dz[0] - 0.5f) < 1e-6f && fabsf(dz[1] + 0.5f) < 1e-6f &&
                      fabsf(dz[2]) < 1e-6f && fabsf(dz[3]) < 1e-6f,
                      "xent dz at +-%g = %g %g %g %g", B, dz[0], dz[1], dz[2], dz[3]);
        /* bce: wrong by B twice, right by B once; p given (saturated to 0
         * and 1) and recomputed */
        float zb[3] = { B, -B, B }, tb[3] = { 0, 1, 1 }, pb[3], db[3];
        for (int i = 0; i < 3; i++)
            pb[i] = 1 / (1 + expf(-zb[i]));
        for (int withp = 0; withp < 2; withp++) {
            l = cnnrt_bce_loss(&kctx, 3, zb, withp ? pb : NULL, tb, db);
            ck_assert_msg(isfinite(l) && fabs(l - 2 * B / 3) < 1e-5 * B,
                          "bce at +-%g: %g, want %g", B, l, 2 * B / 3);
            ck_assert_msg(fabsf(db[0] - 1.0f / 3) < 1e-6f && fabsf(db[1] + 1.0f / 3) < 1e-6f &&
                          fabsf(db[2]) < 1e-6f, "bce dz at +-%g = %g %g %g", B, db[0], db[1], db[2]);
        }
    }
}
END_TEST

/* ================= the suite ================= */
static Suite *kernels_suite(void)
{
    Suite *s = suite_create("rt_kernels");
    struct { const char *name; const TTest *t; int lo, hi; } tests[] = {
        { "gemm", test_gemm_vs_naive, 0, 1 },
        { "conv_forward", test_conv_forward, 0, NCONV },
        { "conv_grad", test_conv_grad, 0, NCONV },
        { "conv_variants", test_conv_variants, 0, NCONV },
        { "dense", test_dense_forward_grad, 0, 4 },
        { "act", test_act_grad, 0, 1 },
        { "prelu", test_prelu_grad, 0, 1 },
        { "dropout", test_dropout, 0, 1 },
        { "add", test_add, 0, 1 },
        { "pool", test_pool, 0, 1 },
        { "concat", test_concat, 0, 1 },
        { "softmax", test_softmax_grad, 0, 1 },
        { "batchnorm_grad", test_batchnorm_grad, 0, 1 },
        { "batchnorm_running", test_batchnorm_running, 0, 1 },
        { "loss_grad", test_loss_grad, 0, 1 },
        { "loss_extreme", test_loss_extreme, 0, 1 },
    };
    for (size_t i = 0; i < sizeof tests / sizeof tests[0]; i++) {
        TCase *tc = tcase_create(tests[i].name);
        tcase_add_checked_fixture(tc, tst_setup, tst_teardown);
        tcase_set_timeout(tc, 300);
        tcase_add_loop_test(tc, tests[i].t, tests[i].lo, tests[i].hi);
        suite_add_tcase(s, tc);
    }
    TCase *tc = tcase_create("misuse_aborts");
    tcase_add_checked_fixture(tc, tst_setup, tst_teardown);
    tcase_add_test_raise_signal(tc, test_fused_silu_backward_aborts, SIGABRT);
    tcase_add_test_raise_signal(tc, test_conv_null_ctx_aborts, SIGABRT);
    tcase_add_test_raise_signal(tc, test_conv_null_scratch_aborts, SIGABRT);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return check_run(kernels_suite(), 1);
}
