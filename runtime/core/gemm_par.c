/* gemm_par.c — cnnrt_sgemm_par (gemm.h): the matrix product split over the
 * threads of a kernel context, in panels of output columns.
 *
 * Thread t computes C[:, j0:j1) = alpha * op(A) * op(B)[:, j0:j1) + beta*C
 * by calling the serial cnnrt_sgemm on that block, with j0 a multiple of
 * cnnrt_sgemm_split() (the micro-kernel's NR).  The serial product computes every element of C from
 * the same row of op(A) and column of op(B) along k in the same order
 * whatever block it sits in, as long as the block starts on a multiple of
 * its panel width (gemm.h promises that for cnnrt_sgemm_split): each element
 * is computed by exactly one thread, in the serial order, so C is
 * bit-identical for any thread count.  Splitting k would not be.
 * Not here: the product itself (gemm.c), row splits (a block of rows could
 * take the dot-product path where the whole product does not).
 */
#include "gemm.h"
#include "threads.h"

typedef struct {
    int transa, transb, m, k;
    float alpha, beta;
    const float *a, *b;
    int lda, ldb, ldc;
    float *c;
} gemm_job;

static void gemm_part(void *arg, int tid, long lo, long hi)
{
    const gemm_job *j = arg;
    (void)tid;
    const float *b = j->transb ? j->b + lo * j->ldb : j->b + lo;
    cnnrt_sgemm(j->transa, j->transb, j->m, (int)(hi - lo), j->k, j->alpha,
                j->a, j->lda, b, j->ldb, j->beta, j->c + lo, j->ldc);
}

void cnnrt_sgemm_par(cnnrt_ctx *ctx, int transa, int transb, int m, int n, int k,
                     float alpha, const float *a, int lda, const float *b, int ldb,
                     float beta, float *c, int ldc)
{
    int split = cnnrt_sgemm_split();
    if (n <= split || !cnnrt_par_worth(ctx, (double)m * n * k)) {
        cnnrt_sgemm(transa, transb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
        return;
    }
    gemm_job j = { transa, transb, m, k, alpha, beta, a, b, lda, ldb, ldc, c };
    cnnrt_par_for(ctx, n, split, 0, gemm_part, &j);
}
