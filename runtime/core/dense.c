/* dense.c — the fully connected layer over a whole batch, as three gemms.
 *
 * Shapes: x [n][in], w [out][in] (PyTorch's layout), b [out] (may be NULL),
 * y and dy [n][out], dx [n][in].
 *   y  = x . w^T + b            then the epilogue act
 *   dw += dy^T . x              db += column sums of dy
 *   dx  = dy . w
 * Threads: each gemm splits its output columns (gemm_par.c).
 * Small batches (n <= CNNRT_SGEMM_DOT_MAXM, batch-1 inference above all)
 * skip the gemm's set-up: the forward is the dot path with the bias and the
 * act in its epilogue (cnnrt_sgemm_dot), output columns split over the
 * threads.  It gives the bits the gemm would (the gemm takes the same dot
 * path at such n), so batch size and threads change no result.
 * Not here: the gemm (gemm.c) and the activations (activ.c).
 */
#include "cnnrt.h"
#include "gemm.h"
#include "threads.h"

typedef struct {
    int n, in, out;
    const float *x, *w, *b;
    float *y;
    int act;
    float alpha;
} dense_job;

/* output columns [lo, hi) of the small-batch forward */
static void dense_dot_part(void *arg, int tid, long lo, long hi)
{
    const dense_job *j = arg;
    (void)tid;
    cnnrt_sgemm_dot(j->n, (int)(hi - lo), j->in, j->x, j->in, j->w + lo * j->in, j->in,
                    j->y + lo, j->out, j->b ? j->b + lo : NULL, j->act, j->alpha);
}

void cnnrt_dense_forward(cnnrt_ctx *ctx, int n, int in, int out, const float *x,
                         const float *w, const float *b, float *y,
                         int act, float alpha)
{
    if (n <= CNNRT_SGEMM_DOT_MAXM) {
        dense_job j = { n, in, out, x, w, b, y, act, alpha };
        if (cnnrt_par_worth(ctx, (double)n * in * out))
            cnnrt_par_for(ctx, out, 16, 0, dense_dot_part, &j);
        else
            dense_dot_part(&j, 0, 0, out);
        return;
    }
    /* the bias goes in first; the gemm then adds onto it */
    for (int i = 0; b && i < n; i++)
        for (int j = 0; j < out; j++)
            y[(long)i * out + j] = b[j];
    cnnrt_sgemm_par(ctx, 0, 1, n, out, in, 1.0f, x, in, w, in, b ? 1.0f : 0.0f, y, out);
    if (act != CNNRT_ACT_NONE)
        cnnrt_act_forward(ctx, act, alpha, (long)n * out, y, y);
}

/* dy becomes the gradient before the epilogue act (in place).  dx (may be
 * NULL) is overwritten; dw and db (either may be NULL) accumulate. */
void cnnrt_dense_backward(cnnrt_ctx *ctx, int n, int in, int out, const float *x,
                          const float *w, const float *y, float *dy,
                          int act, float alpha,
                          float *dx, float *dw, float *db)
{
    if (act != CNNRT_ACT_NONE)
        cnnrt_act_backward(ctx, act, alpha, (long)n * out, NULL, y, dy, dy);
    for (int i = 0; db && i < n; i++)
        for (int j = 0; j < out; j++)
            db[j] += dy[(long)i * out + j];
    if (dw)
        cnnrt_sgemm_par(ctx, 1, 0, out, in, n, 1.0f, dy, out, x, in, 1.0f, dw, in);
    if (dx)
        cnnrt_sgemm_par(ctx, 0, 0, n, in, out, 1.0f, dy, out, w, in, 0.0f, dx, in);
}
