/* dettrain.h — the detection side of the trainer (dettrain.c), used by
 * trainer.c for models whose target is boxes.  Internal to libcnnrt_train.
 */
#ifndef CNNRT_DETTRAIN_H
#define CNNRT_DETTRAIN_H

#include "cnnrt_data.h"
#include "cnnrt_train.h"

/* the batch's boxes as targets [n][max_boxes][5] = class, cx, cy, w, h in
 * input pixels, padding rows class -1; -1 with err naming the file of a
 * sample with more than max_boxes boxes */
int cnnrt_trdet_targets(const cnnrt_model *mod, const cnnrt_dataset *d, const cnnrt_batch *b,
                   float *t, char *err, size_t errlen);

typedef struct {
    double map50, map;      /* mAP@0.5, mAP@0.5:0.95 */
    double *ap50, *ap;      /* per class, -1 without ground truth */
    int present;            /* classes with ground truth */
    long images;
} tr_det_result;

/* mAP of the model (already in eval mode) over the set read by l (made
 * without augmentations); 0, or -1 with err */
int  cnnrt_trdet_map(const cnnrt_model *mod, void *m, const cnnrt_dataset *d, cnnrt_loader *l,
                tr_det_result *res, char *err, size_t errlen);
void cnnrt_trdet_print(const tr_det_result *r, const cnnrt_dataset *d, int classes);
void cnnrt_trdet_free(tr_det_result *r);

/* predict --draw DIR: where the pictures go, the class names for their
 * labels (names[k] for k < nnames), and how many were written so far (the
 * running number that starts each file name) */
typedef struct {
    const char *dir;
    const char *const *names;
    int nnames;
    int count;
} tr_det_draw;

/* "FILE class score x1 y1 x2 y2" for every detection at or above
 * score_thr; with draw, every picture also as DIR/NNNN-STEM.png with its
 * detections (STEM: the file's name without folder and extension, else
 * the index); 0, or -1 with err */
int  cnnrt_trdet_predict(const cnnrt_model *mod, void *m, const char *arg, const cnnrt_dataset *d,
                    cnnrt_loader *l, float score_thr, tr_det_draw *draw, char *err,
                    size_t errlen);

#endif
