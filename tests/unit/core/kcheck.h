/* kcheck.h — what the two kernel suites share (test_rt_kernels.c: gemm,
 * conv, dense; test_rt_layers.c: the other layers and the losses): a
 * private generator and allocations freed after each test, closeness
 * checks that name the first wrong element, and the finite-difference
 * gradient checker.
 *
 * Gradient checks use the scalar L = sum(y * r) for a fixed random r, so
 * dL/dy = r exactly and every element of the analytic gradient is compared
 * with (L(v+eps) - L(v-eps)) / 2eps.  Piecewise-linear kernels would break
 * the difference at a kink: maxpool gets inputs spaced wider than eps,
 * standalone relu inputs stay away from 0, and a layer with a fused relu or
 * leaky relu is probed with its activation pattern frozen at the point of
 * evaluation (the layer runs without the act and the test applies the
 * frozen slopes), which is exactly the function the analytic gradient
 * differentiates.  Header-only (static functions), for tests only.
 */
#ifndef KCHECK_H
#define KCHECK_H

#include "cnnrt.h"

#include <check.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* the kernel context of every call; conv calls set its scratch (conv_ctx) */
static cnnrt_ctx kctx __attribute__((unused)) = { NULL, 1, NULL };

static inline cnnrt_ctx *conv_ctx(float *scratch)
{
    kctx.scratch = scratch;
    return &kctx;
}

#define EPS  5e-3f          /* finite-difference step */
#define RTOL 1e-2
#define ATOL 1e-3

/* ---- data: a private generator, and allocations freed after each test ---- */
static uint64_t tst_seed = 1;
static inline float urand(void)                        /* [-1, 1) */
{
    tst_seed = tst_seed * 6364136223846793005ull + 1442695040888963407ull;
    return (float)((tst_seed >> 40) * (2.0 / 16777216.0) - 1.0);
}

static void *tst_allocs[512];
static int tst_nallocs;
static inline float *vec(long n)                       /* n random floats */
{
    float *p = malloc((size_t)(n > 0 ? n : 1) * sizeof *p);
    ck_assert_ptr_nonnull(p);
    ck_assert_int_lt(tst_nallocs, 512);
    tst_allocs[tst_nallocs++] = p;
    for (long i = 0; i < n; i++)
        p[i] = urand();
    return p;
}
static inline float *vfill(long n, float v)
{
    float *p = vec(n);
    for (long i = 0; i < n; i++)
        p[i] = v;
    return p;
}
static inline float *vcopy(const float *src, long n)
{
    float *p = vec(n);
    memcpy(p, src, (size_t)n * sizeof *p);
    return p;
}
static inline void tst_setup(void) { tst_seed = 12345; }
static inline void tst_teardown(void)
{
    while (tst_nallocs > 0)
        free(tst_allocs[--tst_nallocs]);
}

static inline double dot(const float *a, const float *b, long n)
{
    double s = 0;
    for (long i = 0; i < n; i++)
        s += (double)a[i] * b[i];
    return s;
}

/* Compares got with want (|d| <= atol + rtol*|want|); on failure names the
 * first mismatching index and values (and prints up to five). */
static inline void expect_close(const char *what, const float *got, const double *want,
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
static inline void expect_closef(const char *what, const float *got, const float *want,
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
static inline void expect_twice(const char *what, const float *once, const float *now, long n)
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
static inline void gradcheck_tol(const char *what, Probe *pr, float *v, const float *g,
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
static inline void gradcheck(const char *what, Probe *pr, float *v, const float *g, long n)
{
    gradcheck_tol(what, pr, v, g, n, EPS, ATOL);
}

static inline int kinked(int act) { return act == CNNRT_ACT_RELU || act == CNNRT_ACT_LEAKY; }

/* A layer's output with a relu-like act, by its act-free output z and the
 * pattern `on` (y > 0 at the base point) frozen: y = on ? z : slope*z. */
static inline void frozen_act(int act, float *y, const unsigned char *on, long n)
{
    float slope = act == CNNRT_ACT_LEAKY ? 0.1f : 0.0f;
    for (long i = 0; i < n; i++)
        y[i] = on[i] ? y[i] : slope * y[i];
}
static inline unsigned char *pattern(const float *y, long n)
{
    unsigned char *on = (unsigned char *)vec(n / 4 + 1);
    for (long i = 0; i < n; i++)
        on[i] = y[i] > 0;
    return on;
}
static const int fused_acts[] __attribute__((unused)) = { CNNRT_ACT_NONE, CNNRT_ACT_RELU, CNNRT_ACT_LEAKY,
                                  CNNRT_ACT_SIGMOID, CNNRT_ACT_TANH };
#define NFUSED 5

/* a loop test as a tcase of its own: the fixture, a 300 s timeout */
static inline void kcheck_tcase(Suite *s, const char *name, const TTest *t, int lo, int hi)
{
    TCase *tc = tcase_create(name);
    tcase_add_checked_fixture(tc, tst_setup, tst_teardown);
    tcase_set_timeout(tc, 300);
    tcase_add_loop_test(tc, t, lo, hi);
    suite_add_tcase(s, tc);
}

#endif
