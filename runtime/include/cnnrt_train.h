/* cnnrt_train.h — the trainer of the cnnc runtime (libcnnrt_train.a): the
 * main() of `cnnc --main` models (train, eval, predict) and its progress
 * display.  Generated code includes it only with --main.
 */
#ifndef CNNRT_TRAIN_H
#define CNNRT_TRAIN_H

#include <stdio.h>

#include "cnnrt.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- the generated trainer (cnnc --main) ----
 * The generated main() fills a cnnrt_model with the model's constants and
 * functions and hands over to cnnrt_main(), which implements the train,
 * eval and predict commands of GENERATED_API.md. */
typedef struct {
    const char *name;       /* model name */
    int batch;              /* BATCH */
    int in_c, in_h, in_w;   /* input shape; in_h = in_w = 1 for [N] inputs */
    int in_size, out_size;
    int loss;               /* CNNRT_LOSS_* (0: model has no train block) */
    int epochs;
    uint64_t seed;
    const cnnrt_augment *augment;
    int naugment;
    void        *(*create)(void);
    void         (*destroy)(void *m);
    void         (*init)(void *m, uint64_t seed);
    void         (*set_training)(void *m, int on);
    const float *(*forward)(void *m, const float *x, int n);
    float        (*backward)(void *m, const float *target, int n);
    void         (*update)(void *m);
    int          (*params)(void *m, const cnnrt_tensor **out);
    /* optimizer state tensors for checkpoints, and the step counter */
    int          (*state)(void *m, const cnnrt_tensor **out, long **step);
    /* docs/LANGUAGE-EXT.md; zero/NULL when the train block does not set them */
    int augment_until;      /* mosaic and mixup only in epochs 1..augment_until */
    void         (*schedule)(void *m, long steps_per_epoch, int epochs);
    int          (*ema)(void *m, const cnnrt_tensor **out);   /* EMA of params() */
    float lr;               /* the optimizer's learning rate, for --log */
    /* what _backward takes (the loss declares it): CNNRT_TARGET_* and
       floats per sample (0: out_size) */
    int target_kind, target_size;
    /* detectors (target_kind == CNNRT_TARGET_BOXES): classes, target rows,
       and <m>_detect */
    int classes, max_boxes;
    int          (*detect)(void *m, const float *x, int n, float score_thr, float nms_iou,
                           cnnrt_det *out, int max);
    /* <m>_profile, for --profile (NULL: a build without profile hooks) */
    int          (*profile)(void *m, struct cnnrt_prof *p);
} cnnrt_model;

/* Returns the process exit status: 0, or 1 for any error (bad command
 * line, missing or bad file, a loss that became NaN); messages go to
 * stderr, progress and results to stdout. */
int cnnrt_main(const cnnrt_model *model, int argc, char **argv);

/* The training progress display.  On a terminal: one line redrawn in place
 * (\r) at most 10 times a second.  Otherwise (a file, a pipe): a plain
 * line at each tenth of the epoch.  Both end the epoch with a summary line.
 * Fields are private to progress.c; the struct is here to live on the
 * caller's stack. */
typedef struct {
    FILE *out;
    int tty;                /* redraw in place; set by _start, may be overridden */
    int epoch, epochs;      /* 1-based */
    int nbatch, batch;      /* batches in the epoch, and done */
    long nimages, seen, correct;
    double loss_sum;        /* sum over samples of the batch mean loss */
    double t0, last_draw;   /* seconds, monotonic */
    int next_tenth;         /* plain mode: the next tenth to report */
    int width;              /* characters of the last in-place line */
    long skipped;           /* unreadable files, told in the summary when
                               not 0 (the caller sets it; _start zeroes it) */
    int boxes;              /* a detector: no accuracy, validation is mAP@0.5
                               (the caller sets it after _start) */
} cnnrt_progress;
void cnnrt_progress_start(cnnrt_progress *p, FILE *out, int epoch, int epochs,
                          int nbatch, long nimages);
/* one batch of n samples: its mean loss and how many it got right */
void cnnrt_progress_batch(cnnrt_progress *p, int n, double loss, int correct);
/* the epoch summary; val_n == 0 when there is no validation set */
void cnnrt_progress_end(cnnrt_progress *p, double val_loss, double val_acc, long val_n);

/* ---- COCO-style mAP (map.c), for eval of a detection model ----
 * Accumulates the detections and ground truths of many images, then
 * reports per-class AP: greedy matching by descending score, each ground
 * truth matched once (to the unmatched one of its class with the highest
 * IoU >= t; duplicates are false positives), precision made monotone and
 * read at the 101 recalls 0, 0.01, .., 1; at t = 0.5 and averaged over
 * t = 0.5, 0.55, .., 0.95.  The means run over the classes that have
 * ground truth. */
typedef struct cnnrt_map cnnrt_map;

cnnrt_map *cnnrt_map_new(int classes);      /* NULL when out of memory */
void       cnnrt_map_free(cnnrt_map *m);    /* NULL is fine */
/* one image: its detections (any order; image is ignored) and its ground
 * truths gt[max_boxes][5] as in yolox targets; -1 when out of memory */
int  cnnrt_map_add(cnnrt_map *m, const cnnrt_det *dets, int ndet,
                   const float *gt, int max_boxes);
/* the means (0 without any ground truth); ap50[c], ap[c] per class (-1
 * for a class without ground truth; either may be NULL); returns the
 * number of classes with ground truth, -1 when out of memory */
int  cnnrt_map_result(const cnnrt_map *m, double *map50, double *map,
                      double *ap50, double *ap);

#ifdef __cplusplus
}
#endif

#endif
