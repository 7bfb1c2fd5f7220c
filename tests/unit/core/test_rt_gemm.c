/* test_rt_gemm.c — cnnrt_sgemm_blocks (gemm.h): nb products that share A
 * must give exactly the bits of nb cnnrt_sgemm calls, under every
 * micro-kernel the CPU runs, for B blocks that overlap (the padded-grid
 * dw's shifted views of one buffer), ragged panels, several K and M blocks,
 * and beta 0 (C not read) or 1.  The products themselves are checked
 * against double sums in test_rt_kernels.c.  The wide tile (n >= 1024)
 * gives the bits of the narrow one.  And cnnrt_transpose, the
 * packing's and conv.c's vector transposer, element by element.
 */
#include "cnnrt.h"
#include "gemm.h"

#include <check.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "check_util.h"

START_TEST(blocks_equal_calls)
{
    /* m, n, k, nb, ldb, bstep (in ldb rows) */
    static const int cases[][6] = {
        { 32, 96, 300, 3, 32, 34 },     /* VGG-style: overlapping rows, 3 K blocks */
        { 7, 30, 65, 5, 6, 14 },        /* ragged panels, rows narrower than n */
        { 130, 33, 129, 2, 40, 129 },   /* two M blocks, disjoint blocks */
        { 3, 64, 1, 4, 64, 1 },
    };
    int ran = 0;
    srand(3);
    for (unsigned ci = 0; ci < sizeof cases / sizeof cases[0]; ci++) {
        int m = cases[ci][0], n = cases[ci][1], k = cases[ci][2], nb = cases[ci][3];
        int ldb = cases[ci][4];
        long bstep = (long)cases[ci][5] * ldb, ldc = (long)nb * n + 3, cstep = n;
        long blen = (nb - 1) * bstep + (long)(k - 1) * ldb + n;
        float *a = check_rnd((long)m * k), *b = check_rnd(blen), *c0 = check_rnd(m * ldc);
        float *want = malloc(sizeof *want * (size_t)(m * ldc));
        float *got = malloc(sizeof *got * (size_t)(m * ldc));
        for (int v = CNNRT_GEMM_GENERIC; v <= CNNRT_GEMM_AVX512; v++) {
            if (!cnnrt_sgemm_select(v))
                continue;
            for (int beta = 0; beta < 2; beta++) {
                memcpy(want, c0, sizeof *want * (size_t)(m * ldc));
                memcpy(got, c0, sizeof *got * (size_t)(m * ldc));
                for (int i = 0; i < nb; i++)
                    cnnrt_sgemm(0, 0, m, n, k, 1.0f, a, k, b + i * bstep, ldb, (float)beta,
                                want + i * cstep, (int)ldc);
                cnnrt_sgemm_blocks(m, n, k, nb, a, k, b, ldb, bstep, (float)beta, got,
                                   (int)ldc, cstep);
                ck_assert_msg(memcmp(want, got, sizeof *got * (size_t)(m * ldc)) == 0,
                              "case %u variant %d beta %d: blocks differ from calls", ci, v,
                              beta);
                ran++;
            }
        }
        cnnrt_sgemm_select(CNNRT_GEMM_AUTO);
        free(a);
        free(b);
        free(c0);
        free(want);
        free(got);
    }
    ck_assert_int_ge(ran, 8);
}
END_TEST

/* cnnrt_transpose: every element lands, nothing else is written, for
 * sizes around the 8x8 and 4x4 blocks, under every variant */
/* products of n >= 1024 columns take AVX-512's 8x48 tile (gemm.c): the
 * same bits as the product cut into halves of n/2 columns (the 8x32
 * tile), for every transpose, a ragged last panel, beta 0 and 1 */
START_TEST(wide_tile_bits)
{
    int m = 70, n = 1040, k = 150, ran = 0;
    long ldc = n + 5;
    srand(4);
    float *a = check_rnd((long)m * k), *b = check_rnd((long)k * n), *c0 = check_rnd(m * ldc);
    float *want = malloc(sizeof *want * (size_t)(m * ldc));
    float *got = malloc(sizeof *got * (size_t)(m * ldc));
    for (int v = CNNRT_GEMM_GENERIC; v <= CNNRT_GEMM_AVX512; v++) {
        if (!cnnrt_sgemm_select(v))
            continue;
        for (int t = 0; t < 8; t++) {
            int ta = t & 1, tb = (t >> 1) & 1;
            float beta = (float)(t >> 2);
            int lda = ta ? m : k, ldb = tb ? k : n;
            memcpy(want, c0, sizeof *want * (size_t)(m * ldc));
            memcpy(got, c0, sizeof *got * (size_t)(m * ldc));
            for (int h = 0; h < 2; h++)
                cnnrt_sgemm(ta, tb, m, n / 2, k, 1.0f, a, lda,
                            b + (long)h * (n / 2) * (tb ? k : 1), ldb, beta,
                            want + h * (n / 2), (int)ldc);
            cnnrt_sgemm(ta, tb, m, n, k, 1.0f, a, lda, b, ldb, beta, got, (int)ldc);
            ck_assert_msg(memcmp(want, got, sizeof *got * (size_t)(m * ldc)) == 0,
                          "variant %d transa %d transb %d beta %g: the whole differs from "
                          "its halves", v, ta, tb, beta);
            ran++;
        }
    }
    cnnrt_sgemm_select(CNNRT_GEMM_AUTO);
    ck_assert_int_gt(ran, 0);
    free(a);
    free(b);
    free(c0);
    free(want);
    free(got);
}
END_TEST

START_TEST(transpose_blocks)
{
    static const int dims[] = { 1, 3, 4, 7, 8, 9, 16, 17, 33 };
    int nd = sizeof dims / sizeof dims[0], ran = 0;
    for (int v = CNNRT_GEMM_GENERIC; v <= CNNRT_GEMM_AVX512; v++) {
        if (!cnnrt_sgemm_select(v))
            continue;
        for (int a = 0; a < nd; a++)
            for (int b = 0; b < nd; b++) {
                int rows = dims[a], cols = dims[b];
                long lds = cols + (a + b) % 3, ldd = rows + (a * b) % 5;
                float *src = check_rnd(rows * lds), *dst = malloc(sizeof *dst * (size_t)(cols * ldd));
                for (long i = 0; i < cols * ldd; i++)
                    dst[i] = -7.0f;
                cnnrt_transpose(src, lds, dst, ldd, rows, cols);
                for (int j = 0; j < cols; j++)
                    for (long i = 0; i < ldd; i++)
                        ck_assert_msg(dst[j * ldd + i] == (i < rows ? src[i * lds + j] : -7.0f),
                                      "variant %d %dx%d: dst[%d][%ld]", v, rows, cols, j, i);
                free(src);
                free(dst);
                ran++;
            }
    }
    cnnrt_sgemm_select(CNNRT_GEMM_AUTO);
    ck_assert_int_ge(ran, nd * nd);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("rt_gemm");
    TCase *tc = tcase_create("gemm");
    tcase_add_test(tc, blocks_equal_calls);
    tcase_add_test(tc, transpose_blocks);
    tcase_add_test(tc, wide_tile_bits);
    suite_add_tcase(s, tc);
    return check_run(s, 1);
}
