/* test_rt_wino.c — the Winograd weight gradient (convwino.c, cnnrt_wino_dw)
 * through cnnrt_conv_backward: dw against double-precision sums on the
 * geometries that take it (padding 0, 1, 2, ragged tiles past oh and ow,
 * chunks that span samples), accumulating onto a nonzero dw, under every
 * transform and gemm variant the CPU runs; and the same bits for 1 and 3
 * threads.  The forward and dx by Winograd are checked in
 * test_rt_kernels.c.
 */
#include "cnnrt.h"
#include "gemm.h"

#include <check.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "check_util.h"

typedef struct {
    int n, c, f, h, w, pad;
} WinoCase;

static const WinoCase cases[] = {
    { 4, 32, 48, 12, 12, 1 },   /* even tiles */
    { 3, 32, 32, 17, 13, 0 },   /* 15x11 outputs: ragged tile row and column */
    { 2, 40, 32, 9, 7, 2 },     /* 11x9 outputs, padding 2 */
    { 24, 32, 64, 8, 8, 1 },    /* 3 chunks of 42 tile rows: they start mid-sample */
};

static cnnrt_conv wino_geom(const WinoCase *k)
{
    int oh = k->h + 2 * k->pad - 2, ow = k->w + 2 * k->pad - 2;
    return (cnnrt_conv){ k->c, k->h, k->w, k->f, oh, ow, 3, 3, 1, 1, k->pad, k->pad,
                         1, 1, 1 };
}

/* want[f][c][ki][kj] = sum over samples and outputs of dy * x, in double,
 * and mag the same sum of |dy * x| (the scale of its rounding) */
static void wino_ref(const cnnrt_conv *g, int n, const float *x, const float *dy,
                     double *want, double *mag)
{
    long K = (long)g->f * g->c * 9;
    memset(want, 0, sizeof *want * (size_t)K);
    memset(mag, 0, sizeof *mag * (size_t)K);
    for (int s = 0; s < n; s++)
        for (int f = 0; f < g->f; f++)
            for (int c = 0; c < g->c; c++)
                for (int k = 0; k < 9; k++) {
                    double acc = 0, am = 0;
                    for (int oy = 0; oy < g->oh; oy++)
                        for (int ox = 0; ox < g->ow; ox++) {
                            int iy = oy - g->ph + k / 3, ix = ox - g->pw + k % 3;
                            if (iy < 0 || iy >= g->h || ix < 0 || ix >= g->w)
                                continue;
                            double p = (double)dy[(((long)s * g->f + f) * g->oh + oy) * g->ow + ox] *
                                       x[(((long)s * g->c + c) * g->h + iy) * g->w + ix];
                            acc += p;
                            am += fabs(p);
                        }
                    want[((long)f * g->c + c) * 9 + k] += acc;
                    mag[((long)f * g->c + c) * 9 + k] += am;
                }
}

/* dw = dw0 + the gradient, through cnnrt_conv_backward with `threads` */
static float *wino_run(const cnnrt_conv *g, int n, const float *x, const float *dy,
                       const float *dw0, int threads)
{
    long K = (long)g->f * g->c * 9, ylen = (long)n * g->f * g->oh * g->ow;
    float *scratch = malloc(sizeof *scratch * (size_t)cnnrt_conv_scratch(g));
    float *dw = malloc(sizeof *dw * (size_t)K), *dyc = malloc(sizeof *dyc * (size_t)ylen);
    memcpy(dw, dw0, sizeof *dw * (size_t)K);
    memcpy(dyc, dy, sizeof *dyc * (size_t)ylen);
    cnnrt_ctx ctx = { scratch, threads, NULL };
    cnnrt_conv_backward(&ctx, g, n, x, NULL, NULL, dyc, CNNRT_ACT_NONE, 0.0f, NULL, dw, NULL);
    free(scratch);
    free(dyc);
    return dw;
}

/* |dw - want| / max(sum |dy x|, 1) over these cases, inputs in [-0.5,
 * 0.5]: at most 1.41e-7 measured (every variant; the generic one, without
 * FMA, is the worst), held to 1e-6.  The mutations tried (a sign in the
 * output transform, the ring not reloaded at a sample's start) gave
 * 1e-2 to 1e-1. */
#define WINO_DW_TOL 1e-6

START_TEST(dw_matches_double)
{
    int ran = 0;
    double worst = 0;
    srand(11);
    for (unsigned ci = 0; ci < sizeof cases / sizeof cases[0]; ci++) {
        cnnrt_conv g = wino_geom(&cases[ci]);
        int n = cases[ci].n;
        ck_assert_msg(cnnrt_wino_dw_use(&g, n), "case %u does not take the path", ci);
        long K = (long)g.f * g.c * 9;
        float *x = check_rnd((long)n * g.c * g.h * g.w);
        float *dy = check_rnd((long)n * g.f * g.oh * g.ow), *dw0 = check_rnd(K);
        double *want = malloc(sizeof *want * (size_t)K), *mag = malloc(sizeof *mag * (size_t)K);
        wino_ref(&g, n, x, dy, want, mag);
        for (int v = CNNRT_GEMM_GENERIC; v <= CNNRT_GEMM_AVX512; v++) {
            if (!cnnrt_sgemm_select(v))
                continue;
            float *dw = wino_run(&g, n, x, dy, dw0, 1);
            for (long e = 0; e < K; e++) {
                double err = fabs(dw[e] - (dw0[e] + want[e])) / (mag[e] > 1 ? mag[e] : 1);
                if (err > worst)
                    worst = err;
                ck_assert_msg(err <= WINO_DW_TOL,
                              "case %u variant %d: dw[%ld] = %.7g, want %.7g (+ %.7g), "
                              "error %.3g of %.3g", ci, v, e, dw[e], want[e], dw0[e], err,
                              mag[e]);
            }
            free(dw);
            ran++;
        }
        cnnrt_sgemm_select(CNNRT_GEMM_AUTO);
        free(x);
        free(dy);
        free(dw0);
        free(want);
        free(mag);
    }
    if (getenv("CHECK_VERBOSE"))
        fprintf(stderr, "wino dw: worst relative error %.3g\n", worst);
    ck_assert_int_ge(ran, (int)(sizeof cases / sizeof cases[0]));
}
END_TEST

/* the gemms split over threads by columns of M: the same bits */
START_TEST(dw_thread_bits)
{
    srand(12);
    for (unsigned ci = 0; ci < sizeof cases / sizeof cases[0]; ci++) {
        cnnrt_conv g = wino_geom(&cases[ci]);
        int n = cases[ci].n;
        long K = (long)g.f * g.c * 9;
        float *x = check_rnd((long)n * g.c * g.h * g.w);
        float *dy = check_rnd((long)n * g.f * g.oh * g.ow), *dw0 = check_rnd(K);
        float *one = wino_run(&g, n, x, dy, dw0, 1), *three = wino_run(&g, n, x, dy, dw0, 3);
        ck_assert_msg(memcmp(one, three, sizeof *one * (size_t)K) == 0,
                      "case %u: dw differs between 1 and 3 threads", ci);
        free(x);
        free(dy);
        free(dw0);
        free(one);
        free(three);
    }
}
END_TEST

int main(void)
{
    Suite *s = suite_create("rt_wino");
    TCase *tc = tcase_create("wino_dw");
    tcase_add_test(tc, dw_matches_double);
    tcase_add_test(tc, dw_thread_bits);
    suite_add_tcase(s, tc);
    return check_run(s, 1);
}
