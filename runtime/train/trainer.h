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

typedef struct {
    const cnnrt_model *mod;
    int cmd;
    const char *train, *val, *save, *resume, *labels, *val_labels, *weights;
    const char *epochs_arg, *seed_arg, *max_pixels_arg;
    const char *no_augment;     /* non-NULL when given */
    const char *dump_aug[2];    /* --dump-aug DIR N */
    const char *log, *log_every_arg, *chart, *save_best, *names, *top_arg;
    const char *draw;           /* predict --draw DIR */
    int epochs, log_every, top;
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

#endif
