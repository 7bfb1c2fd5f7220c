/* test_rt_kernels.c — the runtime's products: the gemm and the conv
 * forward against naive loops, conv and dense backwards against central
 * differences (kcheck.h), every geometry under every micro-kernel, the
 * accumulate-vs-overwrite contract and the misuse aborts.  The other
 * layers and the losses: test_rt_layers.c.  Not here: rng, init,
 * optimizers, files (their own suites).
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
#include "kcheck.h"          /* data, closeness, the gradient checker */
#include "ref_act.h"         /* ref_act: the activations in double */

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
    /* Winograd (convwino.c: >= 32 channels, >= 128 tiles or 64 with 64+
     * channels): forward and dx within 1e-5 of the double sums (measured
     * max error: see test_conv_forward); odd planes crop the last tile row
     * and column, pad 0 makes dx pad 2; bias on the second, not the first */
    { 32, 12, 12, 48, 3, 3, 1, 1, 1, 1, 1, 1, 1, 4 },
    { 32, 17, 13, 32, 3, 3, 1, 1, 0, 0, 1, 1, 1, 3 },
    { 64, 8, 8,  32, 3, 3, 1, 1, 1, 1, 1, 1, 1, 4 },  /* 64 tiles, 64 channels */
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
    /* Winograd's dw (convwino.c) rounds the transforms and sums of up to
     * 16x larger products too: up to 1.07e-5 here (test_rt_wino.c bounds
     * it against the sums of |dy x|) */
    if (cnnrt_wino_dw_use(&c.g, c.n))
        dw_tol *= 2;
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
    };
    for (size_t i = 0; i < sizeof tests / sizeof tests[0]; i++)
        kcheck_tcase(s, tests[i].name, tests[i].t, tests[i].lo, tests[i].hi);
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
