/* mpi.c — cnnrt_mpi_main: the trainer of cnnrt_main, run by every rank of
 * an MPI job, with the collective operations of a tr_dist (trainer.h).
 * The only file of the runtime that calls MPI (libcnnrt_mpi.a, mpicc).
 *
 * Gradients: every gradient tensor the model's hook announces during the
 * backward pass is scaled by this rank's share of the batch and goes into
 * a bucket of adjacent gradients; once the bucket holds CNNRT_MPI_BUCKET
 * floats (default 32768) its sum across the ranks starts at once
 * (MPI_Iallreduce, in place), so the sums of the last layers travel while
 * the first layers' backward still runs.  Buckets, not tensors: each
 * non-blocking sum costs about a millisecond here whatever its size.
 * Each announcement also tests the sums in flight, which is what moves
 * them on in an MPI without a progress thread.  `end` sums the last
 * bucket and what was not announced (all of it when the model has no
 * hook, or with CNNRT_MPI_OVERLAP=0) with blocking MPI_Allreduce, then
 * waits for the rest and sums the step's loss and right answers.  Every
 * rank forms the same buckets in the same order.  For two ranks each
 * element's sum is one addition, so neither bucketing nor overlap changes
 * a bit.
 *
 * Failures: MPI errors return to us (MPI_ERRORS_RETURN) and become a
 * message naming the rank; an error on any rank aborts the whole job
 * (MPI_Abort), so no rank waits forever for one that has stopped.  When
 * mpirun stops a rank because another died, SIGTERM prints which rank
 * was stopped and that the checkpoint on disk is whole (files are written
 * to a temporary name and renamed).  A program not started by mpirun
 * runs as one process without initialising MPI at all.
 */
#include <mpi.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cnnrt_mpi.h"
#include "../train/trainer.h"

typedef struct {
    tr_dist d;                  /* first: the trainer's view */
    const cnnrt_model *mod;
    cnnrt_grads_hook_fn hook;
    float share;
    long bucket_cap;            /* floats a bucket collects before its sum starts */
    float *bucket;              /* the bucket: adjacent gradients, scaled */
    long nbucket;
    MPI_Request *req;           /* the sums in flight */
    long *count;                /* their floats */
    int nreq, cap;
    float **seen;               /* the tensors announced in this step */
    int nseen, seencap;
    /* timings, seconds: begin..end (forward + backward), waiting in end */
    double t_begin, compute, wait;
    long steps, announced;
    double gradfloats, early;   /* gradient floats summed, and of them done
                                   when the backward pass ended */
} mpi_dist;

static double mpi_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int mpi_check(mpi_dist *m, int err, const char *what)
{
    if (err == MPI_SUCCESS)
        return 0;
    char text[MPI_MAX_ERROR_STRING];
    int len = 0;
    MPI_Error_string(err, text, &len);
    cnnrt_tr_error(m->mod, "rank %d of %d: %s failed: %s", m->d.rank, m->d.size, what, text);
    return -1;
}

static int mpi_sum(tr_dist *d, double *v, int n)
{
    return mpi_check((mpi_dist *)d, MPI_Allreduce(MPI_IN_PLACE, v, n, MPI_DOUBLE, MPI_SUM,
                                                  MPI_COMM_WORLD), "MPI_Allreduce");
}

/* counts above INT_MAX go in pieces */
static int mpi_bcast(tr_dist *d, float *v, long n)
{
    for (long at = 0; at < n; at += 1L << 30) {
        int k = (int)(n - at < (1L << 30) ? n - at : 1L << 30);
        if (mpi_check((mpi_dist *)d, MPI_Bcast(v + at, k, MPI_FLOAT, 0, MPI_COMM_WORLD), "MPI_Bcast"))
            return -1;
    }
    return 0;
}

static void mpi_begin(tr_dist *d, float share)
{
    mpi_dist *m = (mpi_dist *)d;
    m->share = share;
    m->nreq = m->nseen = 0;
    m->nbucket = 0;
    m->t_begin = mpi_now();
}

/* Starts the sum of the bucket: non-blocking during the backward pass,
 * blocking at its end (Open MPI's blocking allreduce is the faster one
 * when there is nothing left to overlap).  Counts below INT_MAX: a bucket
 * is at most bucket_cap plus one tensor. */
static int mpi_flush(mpi_dist *m, int blocking)
{
    long n = m->nbucket;
    m->nbucket = 0;
    if (!n)
        return 0;
    if (blocking)
        return mpi_check(m, MPI_Allreduce(MPI_IN_PLACE, m->bucket, (int)n, MPI_FLOAT, MPI_SUM,
                                          MPI_COMM_WORLD), "MPI_Allreduce");
    if (m->nreq == m->cap) {
        int cap = m->cap ? 2 * m->cap : 64;
        MPI_Request *r = realloc(m->req, sizeof *r * (size_t)cap);
        long *c = r ? realloc(m->count, sizeof *c * (size_t)cap) : NULL;
        if (r)
            m->req = r;
        if (!c)
            return cnnrt_tr_error(m->mod, "out of memory"), -1;
        m->count = c;
        m->cap = cap;
    }
    m->count[m->nreq] = n;
    return mpi_check(m, MPI_Iallreduce(MPI_IN_PLACE, m->bucket, (int)n, MPI_FLOAT, MPI_SUM,
                                       MPI_COMM_WORLD, &m->req[m->nreq++]), "MPI_Iallreduce");
}

/* grad[n], scaled by the share, into the bucket: joined to it when
 * adjacent in memory (the model keeps its gradients in one buffer, and
 * the backward pass finishes them from the last down), else after
 * flushing it; a full bucket is flushed.  0 or -1. */
static int mpi_add(mpi_dist *m, float *grad, long n, int blocking)
{
    for (long i = 0; i < n; i++)
        grad[i] *= m->share;
    if (m->nbucket && grad + n == m->bucket)
        m->bucket = grad;
    else if (m->nbucket && grad != m->bucket + m->nbucket && mpi_flush(m, blocking) < 0)
        return -1;
    if (!m->nbucket)
        m->bucket = grad;
    m->nbucket += n;
    return m->nbucket >= m->bucket_cap ? mpi_flush(m, blocking) : 0;
}

static void mpi_ready(void *d, float *grad, long n)
{
    mpi_dist *m = d;
    int done;
    if (m->nseen == m->seencap) {
        int cap = m->seencap ? 2 * m->seencap : 64;
        float **s = realloc(m->seen, sizeof *s * (size_t)cap);
        if (!s)
            cnnrt_tr_error(m->mod, "out of memory"), MPI_Abort(MPI_COMM_WORLD, 1);
        m->seen = s;
        m->seencap = cap;
    }
    m->seen[m->nseen++] = grad;
    if (mpi_add(m, grad, n, 0) < 0)
        MPI_Abort(MPI_COMM_WORLD, 1);
    m->announced++;
    MPI_Testall(m->nreq, m->req, &done, MPI_STATUSES_IGNORE);
}

static int mpi_end(tr_dist *d, const cnnrt_tensor *t, int nt, double *v, int nv)
{
    mpi_dist *m = (mpi_dist *)d;
    double t0 = mpi_now();
    for (int k = 0; k < m->nreq; k++) {     /* the overlap: sums already done */
        int done = 0;
        MPI_Test(&m->req[k], &done, MPI_STATUS_IGNORE);
        m->early += done ? (double)m->count[k] : 0;
    }
    /* what is left: the last bucket, and the tensors never announced (all
       of them without the hook), summed in the order of t[] */
    int rc = mpi_flush(m, 1);
    for (int i = 0; i < nt; i++)
        m->gradfloats += t[i].grad ? (double)t[i].size : 0;
    for (int i = 0; !rc && i < nt; i++) {
        int seen = 0;
        for (int k = 0; k < m->nseen && !seen; k++)
            seen = m->seen[k] == t[i].grad;
        if (t[i].grad && !seen)
            rc = mpi_add(m, t[i].grad, t[i].size, 1);
    }
    if (!rc)
        rc = mpi_flush(m, 1);
    if (!rc)
        rc = mpi_check(m, MPI_Waitall(m->nreq, m->req, MPI_STATUSES_IGNORE), "MPI_Waitall");
    if (!rc)
        rc = mpi_sum(d, v, nv);
    double t1 = mpi_now();
    m->compute += t0 - m->t_begin;
    m->wait += t1 - t0;
    m->steps++;
    m->nreq = 0;
    return rc;
}

static void mpi_report(tr_dist *d)
{
    mpi_dist *m = (mpi_dist *)d;
    if (!m->steps)
        return;
    printf("mpi: %d ranks, %ld steps: forward+backward %.2f ms/step, then waiting for the "
           "gradient sums %.2f ms/step (%s; %.0f%% of them done when it ended)\n",
           d->size, m->steps, 1e3 * m->compute / m->steps, 1e3 * m->wait / m->steps,
           m->announced ? "sums started during the backward pass"
           : "sums started after the backward pass", m->gradfloats > 0 ? 100 * m->early / m->gradfloats : 0.0);
}

static char mpi_stopped[256];

static void mpi_on_term(int sig)
{
    (void)sig;
    ssize_t w = write(2, mpi_stopped, strlen(mpi_stopped));
    (void)w;
    _exit(1);
}

int cnnrt_mpi_main(const cnnrt_model *model, cnnrt_grads_hook_fn hook, int argc, char **argv)
{
    mpi_dist m;
    memset(&m, 0, sizeof m);
    m.mod = model;
    /* not started by mpirun (Open MPI's, or a PMI launcher's variables):
       one process, without the second MPI_Init takes to start alone */
    if (!getenv("OMPI_COMM_WORLD_SIZE") && !getenv("PMI_SIZE") && !getenv("PMIX_RANK"))
        return cnnrt_tr_main(model, NULL, argc, argv);
    if (MPI_Init(&argc, &argv) != MPI_SUCCESS) {
        fprintf(stderr, "%s: error: MPI_Init failed\n", model->name);
        return 1;
    }
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
    MPI_Comm_rank(MPI_COMM_WORLD, &m.d.rank);
    MPI_Comm_size(MPI_COMM_WORLD, &m.d.size);
    m.d.sum = mpi_sum;
    m.d.bcast = mpi_bcast;
    m.d.begin = mpi_begin;
    m.d.ready = mpi_ready;
    m.d.end = mpi_end;
    m.d.report = mpi_report;
    const char *overlap = getenv("CNNRT_MPI_OVERLAP"), *cap = getenv("CNNRT_MPI_BUCKET");
    m.bucket_cap = cap && atol(cap) > 0 && atol(cap) < (1L << 30) ? atol(cap) : 32768;
    if (!overlap || strcmp(overlap, "0"))
        m.d.set_hook = hook;
    snprintf(mpi_stopped, sizeof mpi_stopped, "%s: rank %d of %d stopped by mpirun (another rank "
             "failed or the job was cancelled); checkpoints already written are whole\n",
             model->name, m.d.rank, m.d.size);
    signal(SIGTERM, mpi_on_term);
    if (m.d.rank != 0 && !freopen("/dev/null", "w", stdout))
        fprintf(stderr, "%s: warning: rank %d keeps its output\n", model->name, m.d.rank);
    int rc = cnnrt_tr_main(model, m.d.size > 1 ? &m.d : NULL, argc, argv);
    free(m.req);
    free(m.count);
    free(m.seen);
    if (rc && m.d.size > 1) {
        fflush(stdout);
        fprintf(stderr, "%s: rank %d of %d failed: stopping the job\n", model->name, m.d.rank,
                m.d.size);
        MPI_Abort(MPI_COMM_WORLD, rc);
    }
    MPI_Finalize();
    return rc;
}
