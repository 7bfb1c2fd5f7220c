/* step.c — the forward and backward pass of one global batch cut into
 * slices: across the ranks of a data-parallel run (each rank runs its own
 * slice; runtime/mpi/mpi.c sums the gradients), or, with --slices K, the
 * K slices one after the other in one process.  Not here: the update, the
 * progress, anything that calls MPI.
 *
 * The arithmetic both ways share, so that a K-slice run in one process
 * gives a K-rank run's numbers: slice k of n samples (cnnrt_tr_slice) runs
 * forward and backward on its own into zeroed gradients, which are then
 * multiplied by its share n_k / n (the loss is a mean over the slice's
 * samples; the shares make it the mean over the batch) and summed in slice
 * order.  For two slices that sum is one addition per element, the same
 * in any order, so two ranks equal `--slices 2` bit for bit.  Batchnorm
 * normalises each slice with its own statistics (PyTorch DDP's default),
 * and the running statistics kept are slice 0's (rank 0's, which a
 * data-parallel run copies to the others before validation).
 */
#include "trainer.h"

#include <stdlib.h>
#include <string.h>

void cnnrt_tr_slice(int n, int parts, int k, int *lo, int *hi)
{
    *lo = (int)((long)n * k / parts);
    *hi = (int)((long)n * (k + 1) / parts);
}

/* forward and backward of samples [lo, hi): the loss times the slice's
 * share; its right answers into *correct */
static double tr_slice_pass(tr_run *r, const float *x, const float *target, int n, int lo,
                            int hi, long *correct)
{
    const cnnrt_model *mod = r->mod;
    int k = hi - lo;
    const float *t = target + (size_t)lo * (size_t)cnnrt_tr_tsize(mod);
    const float *out = mod->forward(r->m, x + (size_t)lo * (size_t)mod->in_size, k);
    if (!cnnrt_tr_boxes(mod))
        *correct += cnnrt_tr_correct(out, t, k, mod->out_size);
    return (double)k / n * mod->backward(r->m, t, k);
}

/* floats of the learned gradients and of the running statistics */
static void tr_sizes(const tr_run *r, long *grads, long *stats)
{
    *grads = *stats = 0;
    for (int i = 0; i < r->nparams; i++)
        *(r->params[i].grad ? grads : stats) += r->params[i].size;
}

/* copies the running statistics to (save) or from buf */
static void tr_stats(tr_run *r, float *buf, int save)
{
    for (int i = 0; i < r->nparams; i++) {
        const cnnrt_tensor *p = &r->params[i];
        if (p->grad)
            continue;
        if (save)
            memcpy(buf, p->data, sizeof *buf * (size_t)p->size);
        else
            memcpy(p->data, buf, sizeof *buf * (size_t)p->size);
        buf += p->size;
    }
}

/* --slices: every slice in turn, as the ranks would run them */
static int tr_slices(tr_run *r, const float *x, const float *target, int n, double *loss,
                     long *correct)
{
    long ng, ns;
    tr_sizes(r, &ng, &ns);
    if (!r->acc && !(r->acc = malloc(sizeof *r->acc * (size_t)(ng + ns + 1))))
        return cnnrt_tr_error(r->mod, "out of memory"), -1;
    float *sum = r->acc, *stats = r->acc + ng;
    int first = 1;
    *loss = 0;
    *correct = 0;
    for (int s = 0; s < r->slices; s++) {
        int lo, hi;
        cnnrt_tr_slice(n, r->slices, s, &lo, &hi);
        if (hi == lo)
            continue;
        for (int i = 0; !first && i < r->nparams; i++)
            if (r->params[i].grad)
                memset(r->params[i].grad, 0, sizeof(float) * (size_t)r->params[i].size);
        *loss += tr_slice_pass(r, x, target, n, lo, hi, correct);
        if (first)
            tr_stats(r, stats, 1);
        float share = (float)(hi - lo) / (float)n, *a = sum;
        for (int i = 0; i < r->nparams; i++) {
            float *g = r->params[i].grad;
            for (long j = 0; g && j < r->params[i].size; j++, a++)
                *a = first ? g[j] * share : *a + g[j] * share;
        }
        first = 0;
    }
    tr_stats(r, stats, 0);
    const float *a = sum;
    for (int i = 0; i < r->nparams; i++)
        if (r->params[i].grad) {
            memcpy(r->params[i].grad, a, sizeof *a * (size_t)r->params[i].size);
            a += r->params[i].size;
        }
    return 0;
}

int cnnrt_tr_step(tr_run *r, const float *x, const float *target, int n, double *loss,
                  long *correct)
{
    tr_dist *d = r->dist;
    if (!d && r->slices > 1)
        return tr_slices(r, x, target, n, loss, correct);
    if (!d) {
        *correct = 0;
        *loss = tr_slice_pass(r, x, target, n, 0, n, correct);
        return 0;
    }
    int lo, hi;
    long right = 0;
    cnnrt_tr_slice(n, d->size, d->rank, &lo, &hi);
    double v[2] = { 0, 0 };
    d->begin(d, (float)(hi - lo) / (float)n);
    if (hi > lo)
        v[0] = tr_slice_pass(r, x, target, n, lo, hi, &right);
    v[1] = (double)right;
    if (d->end(d, r->params, r->nparams, v, 2) < 0)
        return -1;
    *loss = v[0];
    *correct = (long)v[1];
    return 0;
}

int cnnrt_tr_sync(tr_run *r)
{
    tr_dist *d = r->dist;
    for (int i = 0; d && i < r->nparams; i++)
        if (!r->params[i].grad && d->bcast(d, r->params[i].data, r->params[i].size) < 0)
            return -1;
    for (int i = 0; d && r->file != r->params && i < r->nfile; i++)
        if (d->bcast(d, r->file[i].data, r->file[i].size) < 0)
            return -1;
    return 0;
}
