/* trainer.h — what the trainer's commands share (trainer.c: option parsing,
 * train and eval; predict.c: predict): the options, the model instance, and
 * the few helpers both use.  Internal to libcnnrt_train.
 */
#ifndef CNNRT_TRAINER_H
#define CNNRT_TRAINER_H

#include <stdint.h>
#include "cnnrt_data.h"
#include "cnnrt_train.h"
#include "log.h"

/* trainer.state: [format, epochs done, seed in four 16-bit pieces]; every
 * entry an integer below 2^24, so exact as a float */
#define TR_FORMAT   1
#define TR_NSTATE   6
#define TR_ERRLEN   1024
#define TR_LOG_MIN  (-100.0)    /* log clamp for eval losses, as torch's BCELoss */
#define TR_DIVERGED 1e4         /* a batch loss this many times the first: stop */

enum { CMD_TRAIN = 1, CMD_EVAL = 2, CMD_PREDICT = 4 };

/* A data-parallel run (runtime/mpi/mpi.c, which alone calls MPI); NULL for
 * one process.  Each rank trains on its slice of every global batch
 * (step.c) and these combine the ranks. */
typedef struct tr_dist tr_dist;
struct tr_dist {
    int rank, size;
    /* v[n] summed over the ranks, in place; 0, or -1 after a message */
    int  (*sum)(tr_dist *d, double *v, int n);
    /* rank 0's v[n] copied to every rank; 0 or -1 */
    int  (*bcast)(tr_dist *d, float *v, long n);
    /* one step's gradients: begin before the backward pass with this
     * rank's share of the global batch (its gradients are scaled by it);
     * ready(d, grad, n) as the model finishes each gradient tensor (the
     * model's hook, when set_hook installed it); end waits for every sum,
     * starts those of the tensors of t[nt] not announced, and sums v[nv]
     * along.  0, or -1 after a message. */
    void (*begin)(tr_dist *d, float share);
    void (*ready)(void *d, float *grad, long n);
    int  (*end)(tr_dist *d, const cnnrt_tensor *t, int nt, double *v, int nv);
    /* installs ready as model m's gradient hook (NULL: the model has none) */
    void (*set_hook)(void *m, void (*fn)(void *arg, float *grad, long n), void *arg);
    void (*report)(tr_dist *d);   /* after training, on rank 0: the timings */
};

typedef struct {
    const cnnrt_model *mod;
    int cmd;
    const char *train, *val, *save, *resume, *labels, *val_labels, *weights;
    const char *epochs_arg, *seed_arg, *max_pixels_arg;
    const char *no_augment;     /* non-NULL when given */
    const char *dump_aug[2];    /* --dump-aug DIR N */
    const char *log, *log_every_arg, *chart, *save_best, *names, *top_arg;
    const char *threads_arg;    /* --threads N */
    const char *slices_arg;     /* --slices K */
    const char *profile;        /* --profile: non-NULL when given */
    const char *draw;           /* predict --draw DIR */
    int epochs, log_every, top;
    int slices;             /* --slices K: each batch as K slices in turn */
    tr_dist *dist;          /* a data-parallel run, or NULL */
    uint64_t seed;
    char **args;            /* positional arguments */
    int nargs;
} tr_opts;

/* ---- what every command shares: the model instance and its tensors ---- */
typedef struct {
    const cnnrt_model *mod;
    void *m;
    const cnnrt_tensor *params;
    int nparams;
    const cnnrt_tensor *file;   /* a checkpoint's parameters: the EMA when the
                                   model keeps one (its raw weights are then
                                   state tensors), else params */
    int nfile;
    cnnrt_tensor *state;    /* the model's state tensors + trainer.state */
    int nstate;             /* including trainer.state */
    long *step;
    long own_step;          /* when the model keeps no step counter */
    float tstate[TR_NSTATE];
    float *x, *t;           /* one batch, when a batch must be edited */
    double first_loss;      /* of this run's first batch: the divergence scale */
    int have_first;
    trlog log;              /* --log, --chart */
    double vloss, vacc;     /* the last epoch's validation */
    long vn, images;        /* its samples; training images seen in this run */
    tr_dist *dist;          /* a data-parallel run, or NULL */
    int slices;             /* --slices (1: none) */
    float *acc;             /* --slices: the gradient sum, then the statistics */
} tr_run;

#if defined(__GNUC__)
__attribute__((format(printf, 2, 3)))
#endif
int  cnnrt_tr_error(const cnnrt_model *mod, const char *fmt, ...);   /* "NAME: error: ...", 1 */
void cnnrt_tr_free(tr_run *r);
int  cnnrt_tr_boxes(const cnnrt_model *mod);      /* a detector: its targets are boxes */
cnnrt_loader *cnnrt_tr_loader(const tr_run *r, const cnnrt_dataset *d,
                        const cnnrt_augment *aug, int naug);
int  cnnrt_tr_argmax(const float *v, int n);
int  cnnrt_tr_load_weights(tr_run *r, const tr_opts *o);  /* set up, then --weights */
int  cnnrt_tr_predict(const tr_opts *o);          /* predict.c */
int  cnnrt_tr_correct(const float *out, const float *t, int n, int size);
int  cnnrt_tr_tsize(const cnnrt_model *mod);      /* floats per sample of a target */
/* the main of both trainers: cnnrt_main (dist NULL) and cnnrt_mpi_main */
int  cnnrt_tr_main(const cnnrt_model *model, tr_dist *dist, int argc, char **argv);

/* ---- step.c: the slices of a batch ---- */
/* [lo, hi) of slice k of n samples cut in parts (sizes differ by 1 at most) */
void cnnrt_tr_slice(int n, int parts, int k, int *lo, int *hi);
/* forward and backward of a global batch of n samples (x, target as the
 * model takes them): this rank's slice, or all --slices in turn; the
 * gradients left are the global batch's (every slice's scaled by its
 * share, summed in slice order), *loss its mean loss, *correct its right
 * answers summed over the ranks.  0, or -1 after a message. */
int  cnnrt_tr_step(tr_run *r, const float *x, const float *target, int n, double *loss,
                   long *correct);
/* a data-parallel run before validation or eval: rank 0's running
 * statistics (and EMA) on every rank.  0 or -1. */
int  cnnrt_tr_sync(tr_run *r);

#endif
