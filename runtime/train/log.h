/* log.h — the trainer's records (log.c, private to runtime/train): the
 * --log CSV file, the history of loss and accuracy, and the --chart PNG
 * drawn from it at the end of every epoch.  The trainer feeds it from
 * its progress display; nothing here trains or evaluates.
 */
#ifndef CNNRT_TRAIN_LOG_H
#define CNNRT_TRAIN_LOG_H

#include <stdio.h>
#include "cnnrt_train.h"

/* one point of the chart: x in epochs (1.5 = half-way through epoch 2) */
typedef struct { float x, loss, acc; } trlog_point;

typedef struct {
    FILE *csv;              /* NULL without --log */
    const char *csv_path, *chart;
    int every;              /* a batch row every this many batches (0: none) */
    double lr, t0;          /* t0: start of training, monotonic seconds */
    trlog_point *train, *val;   /* running training figures; validation */
    int ntrain, nval, cap;      /* cap: of each array */
} trlog;

/* 0, or -1 with "'PATH': reason" in err (the CSV cannot be written) */
int  trlog_open(trlog *l, const char *csv, const char *chart, int every, double lr,
                char *err, size_t errlen);
/* after each batch of p: a CSV row every l->every batches, a chart point */
void trlog_batch(trlog *l, const cnnrt_progress *p);
/* after the epoch of p (val_n == 0: no validation): the CSV row, the chart */
int  trlog_epoch(trlog *l, const cnnrt_progress *p, double val_loss, double val_acc,
                 long val_n, char *err, size_t errlen);
void trlog_close(trlog *l);
double trlog_now(void);

/* The chart: loss (left scale, red: training, orange: validation) and
 * accuracy (right scale 0-100%, blue: training, green: validation)
 * against epochs, as an RGB PNG of w x h pixels.  0, or -1 with err. */
int trlog_chart(const char *path, int w, int h, const trlog_point *train, int ntrain,
                const trlog_point *val, int nval, char *err, size_t errlen);

#endif
