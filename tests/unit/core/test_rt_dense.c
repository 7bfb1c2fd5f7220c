/* test_rt_dense.c — the dense layer's small-batch forward (dense.c at
 * n <= CNNRT_SGEMM_DOT_MAXM: gemm.c's dot path with the bias and the act in
 * its epilogue), under every micro-kernel variant the CPU runs:
 *   - against a sum in double, over shapes whose `in` and `out` are not
 *     multiples of any vector width, with and without bias, every act;
 *   - bit for bit against the summation order gemm.c documents (lanes of
 *     FMAs, a tree of lane sums, then the tail in turn), and across batch
 *     sizes and thread counts, which must not change a row's result.
 * Not here: the large-batch gemm path (test_rt_kernels.c, test_rt_gemm.c)
 * and the backward (test_rt_kernels.c's gradient checks).
 */
#include "cnnrt.h"
#include "gemm.h"

#include <check.h>
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "check_util.h"
#include "ref_act.h"

static const int ins[] = { 1, 3, 17, 400 }, outs[] = { 1, 5, 120 }, ns[] = { 1, 2, 3, 8 };
#define NI  (int)(sizeof ins / sizeof ins[0])
#define NO  (int)(sizeof outs / sizeof outs[0])
#define NN  (int)(sizeof ns / sizeof ns[0])
#define NACT 6                          /* CNNRT_ACT_NONE .. CNNRT_ACT_SILU */
static const float leak = 0.1f;         /* the leaky relu's alpha */

/* Tolerance: a float dot product of `in` terms in any order is within
 * in * FLT_EPSILON * sum|x*w| of the exact sum (plus one rounding of the
 * bias), and every act here is at most 1.1-Lipschitz; the act itself adds
 * a few roundings of its result. */
START_TEST(forward_matches_double)
{
    int checked = 0;
    srand(7);
    for (int v = CNNRT_GEMM_GENERIC; v <= CNNRT_GEMM_AVX512; v++) {
        if (!cnnrt_sgemm_select(v))
            continue;
        for (int ii = 0; ii < NI; ii++)
            for (int oi = 0; oi < NO; oi++)
                for (int ni = 0; ni < NN; ni++) {
                    int in = ins[ii], out = outs[oi], n = ns[ni];
                    float *x = check_rnd((long)n * in), *w = check_rnd((long)out * in), *b = check_rnd(out);
                    float *y = check_rnd((long)n * out);
                    for (int act = 0; act < NACT; act++)
                        for (int hasb = 0; hasb < 2; hasb++) {
                            const float *bb = hasb ? b : NULL;
                            cnnrt_dense_forward(NULL, n, in, out, x, w, bb, y, act, leak);
                            for (int i = 0; i < n; i++)
                                for (int j = 0; j < out; j++) {
                                    double s = bb ? bb[j] : 0, mag = bb ? fabs(bb[j]) : 0;
                                    for (int p = 0; p < in; p++) {
                                        double t = (double)x[i * in + p] * w[j * in + p];
                                        s += t;
                                        mag += fabs(t);
                                    }
                                    double ref = ref_act(act, leak, s);
                                    double tol = 1.1 * (in + 1) * FLT_EPSILON * mag
                                                 + 4 * FLT_EPSILON * (1 + fabs(ref));
                                    float got = y[i * out + j];
                                    ck_assert_msg(fabs(got - ref) <= tol,
                                                  "variant %d n %d in %d out %d act %d bias %d: "
                                                  "y[%d][%d] = %.9g, double %.9g (tol %.3g)",
                                                  v, n, in, out, act, hasb, i, j, got, ref, tol);
                                    checked++;
                                }
                        }
                    free(x); free(w); free(b); free(y);
                }
    }
    cnnrt_sgemm_select(CNNRT_GEMM_AUTO);
    ck_assert_int_gt(checked, 0);
}
END_TEST

#if defined(__x86_64__)
/* The order gemm.c documents for its dot path, with vl lanes: lane l sums
 * x[p]*w[p] over p = l, l+vl, .. < kv = in - in%vl from 0 (fused: one
 * rounding a step, or two without FMA); the lanes added as a tree of
 * halves; then p = kv .. in-1 in turn; then the bias. */
static float step(int fused, float a, float b, float s)
{
    if (fused)
        return fmaf(a, b, s);
    volatile float prod = a * b;        /* no contraction: two roundings */
    return s + prod;
}

static float ordered(int vl, int fused, int in, const float *x, const float *w, const float *b)
{
    float lane[16] = { 0 };
    int kv = in / vl * vl;
    for (int p = 0; p < kv; p++)
        lane[p % vl] = step(fused, x[p], w[p], lane[p % vl]);
    for (int h = vl / 2; h >= 1; h /= 2)
        for (int l = 0; l < h; l++)
            lane[l] = lane[l] + lane[l + h];
    float s = lane[0];
    for (int p = kv; p < in; p++)
        s = step(fused, x[p], w[p], s);
    return s + (b ? *b : 0.0f);
}

/* Every row of the batch-1..8 forward is the documented order's bits,
 * whatever the batch size or the number of threads. */
START_TEST(forward_bits_any_batch_or_threads)
{
    static const int vls[] = { [CNNRT_GEMM_GENERIC] = 4, [CNNRT_GEMM_AVX2] = 8,
                               [CNNRT_GEMM_AVX512] = 16 };
    int checked = 0;
    cnnrt_ctx ctx = { 0 };
    srand(11);
    for (int v = CNNRT_GEMM_GENERIC; v <= CNNRT_GEMM_AVX512; v++) {
        if (!cnnrt_sgemm_select(v))
            continue;
        int fused = v != CNNRT_GEMM_GENERIC;
        for (int ii = 0; ii < NI; ii++)
            for (int oi = 0; oi < NO; oi++) {
                int in = ins[ii], out = outs[oi], n = CNNRT_SGEMM_DOT_MAXM;
                float *x = check_rnd((long)n * in), *w = check_rnd((long)out * in), *b = check_rnd(out);
                float *y = check_rnd((long)n * out), *ref = check_rnd((long)n * out);
                for (int act = 0; act < NACT; act++) {
                    for (int i = 0; i < n; i++) {
                        for (int j = 0; j < out; j++)
                            ref[i * out + j] = ordered(vls[v], fused, in, x + i * in,
                                                       w + j * in, act & 1 ? b + j : NULL);
                        cnnrt_act_forward(NULL, act, leak, out, ref + i * out, ref + i * out);
                    }
                    for (int t = 1; t <= 3; t++)
                        for (int ni = 0; ni < NN; ni++) {
                            ctx.threads = t;
                            cnnrt_dense_forward(&ctx, ns[ni], in, out, x, w, act & 1 ? b : NULL,
                                                y, act, leak);
                            for (int k = 0; k < ns[ni] * out; k++)
                                ck_assert_msg(!memcmp(&y[k], &ref[k], sizeof *y),
                                              "variant %d threads %d n %d in %d out %d act %d: "
                                              "y[%d][%d] = %a, the documented order gives %a",
                                              v, t, ns[ni], in, out, act, k / out, k % out,
                                              y[k], ref[k]);
                            checked++;
                        }
                }
                free(x); free(w); free(b); free(y); free(ref);
            }
    }
    cnnrt_sgemm_select(CNNRT_GEMM_AUTO);
    ck_assert_int_gt(checked, 0);
}
END_TEST
#endif

int main(void)
{
    setenv("CNNRT_SPLIT_MIN", "0", 1);      /* split even these small layers */
    Suite *s = suite_create("rt_dense");
    TCase *tc = tcase_create("dense");
    tcase_add_test(tc, forward_matches_double);
#if defined(__x86_64__)
    tcase_add_test(tc, forward_bits_any_batch_or_threads);
#endif
    suite_add_tcase(s, tc);
    return check_run(s, 1);
}
