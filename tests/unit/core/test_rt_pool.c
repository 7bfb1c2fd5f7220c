/* test_rt_pool.c — max pooling against a reference written out here: the
 * vector kernels of 2x2 stride-2 unpadded pooling (pool.c's pool2_*, under
 * every instruction set the CPU runs) must give the reference's bits: y,
 * idx (the first maximum in window order, strictly greater replaces; 0 and
 * -1 for a window with nothing above -inf), and dx from idx or from x
 * (zero + dy at that cell, so -0 comes out +0; 0 in the row and column an
 * odd h or w leaves out).  Inputs come from a few values, so ties are
 * common, and include -inf planes.  Not here: gradients (test_rt_kernels.c)
 * and thread splits (test_rt_threads.c).
 */
#include "cnnrt.h"
#include "gemm.h"

#include <check.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "check_util.h"

/* the reference: window cells in order, one by one */
static void ref_pool(const cnnrt_pool *g, int n, const float *x, const float *dy, float *y,
                     float *idx, float *dx)
{
    long hw = (long)g->h * g->w, ohw = (long)g->oh * g->ow;
    memset(dx, 0, sizeof *dx * (size_t)(n * g->c * hw));
    for (long pl = 0; pl < (long)n * g->c; pl++)
        for (int oy = 0; oy < g->oh; oy++)
            for (int ox = 0; ox < g->ow; ox++) {
                float m = -INFINITY;
                int at = -1;
                for (int ky = 0; ky < 2; ky++)
                    for (int kx = 0; kx < 2; kx++) {
                        int i = (2 * oy + ky) * g->w + 2 * ox + kx;
                        if (x[pl * hw + i] > m) {
                            m = x[pl * hw + i];
                            at = i;
                        }
                    }
                long o = pl * ohw + (long)oy * g->ow;
                y[o + ox] = at < 0 ? 0.0f : m;
                idx[o + ox] = (float)at;
                if (at >= 0)
                    dx[pl * hw + at] += dy[o + ox];
            }
}

static uint32_t bits(float f)
{
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    return u;
}

/* 1 when a and b hold the same bits; else prints the first difference */
static int same(const char *what, const char *shape, int v, const float *want, const float *got,
                long len)
{
    for (long i = 0; i < len; i++)
        if (bits(want[i]) != bits(got[i])) {
            fprintf(stderr, "%s %s variant %d: [%ld] want %g (%08x) got %g (%08x)\n", what,
                    shape, v, i, want[i], bits(want[i]), got[i], bits(got[i]));
            return 0;
        }
    return 1;
}

START_TEST(pool2x2_matches_reference)
{
    /* n, c, h, w: LeNet-5's two, VGG-like, odd h and/or w, rows of every
     * chunk width and in between (ow 4..16, 32), rows too narrow for any */
    static const int shapes[][4] = {
        { 2, 6, 28, 28 }, { 3, 16, 10, 10 }, { 1, 4, 32, 32 }, { 2, 3, 16, 16 },
        { 2, 3, 9, 9 },   { 1, 2, 7, 33 },   { 2, 2, 15, 65 }, { 1, 3, 11, 8 },
        { 2, 2, 6, 14 },  { 1, 2, 5, 19 },   { 2, 2, 4, 6 },   { 1, 1, 3, 3 },
    };
    static const float vals[] = { -2, -1, -0.0f, 0, 1, 2, -INFINITY };
    int checked = 0;
    srand(7);
    for (unsigned si = 0; si < sizeof shapes / sizeof shapes[0]; si++) {
        int n = shapes[si][0], c = shapes[si][1], h = shapes[si][2], w = shapes[si][3];
        cnnrt_pool g = { c, h, w, h / 2, w / 2, 2, 2, 2, 2, 0, 0 };
        long xs = (long)n * c * h * w, ys = (long)n * c * g.oh * g.ow;
        float *x = malloc(sizeof *x * (size_t)xs), *dy = malloc(sizeof *dy * (size_t)ys);
        float *want[3], *got[3];    /* y, idx, dx */
        for (int k = 0; k < 3; k++) {
            want[k] = malloc(sizeof(float) * (size_t)(k < 2 ? ys : xs));
            got[k] = malloc(sizeof(float) * (size_t)(k < 2 ? ys : xs));
        }
        /* plane 1 all -inf but a few cells; the rest from vals */
        for (long i = 0; i < xs; i++) {
            int inf_plane = i / ((long)h * w) == 1 && rand() % 8;
            x[i] = inf_plane ? -INFINITY : vals[rand() % 7];
        }
        for (long i = 0; i < ys; i++)
            dy[i] = rand() % 5 == 0 ? -0.0f : (float)(rand() % 9) - 4.5f;
        ref_pool(&g, n, x, dy, want[0], want[1], want[2]);
        char shape[64];
        snprintf(shape, sizeof shape, "%dx%dx%dx%d", n, c, h, w);
        for (int v = CNNRT_GEMM_GENERIC; v <= CNNRT_GEMM_AVX512; v++) {
            if (!cnnrt_sgemm_select(v))
                continue;
            for (int k = 0; k < 3; k++)     /* NaN: every output must be written */
                for (long i = 0; i < (k < 2 ? ys : xs); i++)
                    got[k][i] = NAN;
            cnnrt_maxpool_forward(NULL, &g, n, x, got[0], got[1]);
            ck_assert(same("y", shape, v, want[0], got[0], ys));
            ck_assert(same("idx", shape, v, want[1], got[1], ys));
            cnnrt_maxpool_backward(NULL, &g, n, NULL, got[1], dy, got[2]);
            ck_assert(same("dx from idx", shape, v, want[2], got[2], xs));
            for (long i = 0; i < xs; i++)
                got[2][i] = NAN;
            cnnrt_maxpool_backward(NULL, &g, n, x, NULL, dy, got[2]);
            ck_assert(same("dx from x", shape, v, want[2], got[2], xs));
            for (long i = 0; i < ys; i++)
                got[0][i] = NAN;
            cnnrt_maxpool_forward(NULL, &g, n, x, got[0], NULL);
            ck_assert(same("y without idx", shape, v, want[0], got[0], ys));
            checked++;
        }
        cnnrt_sgemm_select(CNNRT_GEMM_AUTO);
        free(x);
        free(dy);
        for (int k = 0; k < 3; k++) {
            free(want[k]);
            free(got[k]);
        }
    }
    ck_assert_int_ge(checked, (int)(sizeof shapes / sizeof shapes[0]));
}
END_TEST

int main(void)
{
    Suite *s = suite_create("rt_pool");
    TCase *tc = tcase_create("pool");
    tcase_add_test(tc, pool2x2_matches_reference);
    suite_add_tcase(s, tc);
    return check_run(s, 1);
}
