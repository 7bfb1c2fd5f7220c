/* dettrain.c — what the trainer does differently for a detection model
 * (its target is boxes: cnnrt_model.target_kind == CNNRT_TARGET_BOXES):
 * the targets of a batch from its boxes (after augmentation), validation
 * and `eval` as COCO-style mAP, `predict` as one line per detection.
 *
 * It knows nothing of the classifier path (trainer.c) beyond the model
 * descriptor, and nothing of how boxes are made (data/).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cnnrt_det.h"
#include "cnnrt_train.h"
#include "dettrain.h"

/* decoding for evaluation: YOLOX's test settings (score 0.01, NMS 0.65),
 * at most EVAL_MAX detections an image count */
#define EVAL_SCORE 0.01f
#define EVAL_NMS   0.65f
#define EVAL_MAX   100

int cnnrt_trdet_targets(const cnnrt_model *mod, const cnnrt_dataset *d, const cnnrt_batch *b,
                   float *t, char *err, size_t errlen)
{
    int rows = mod->max_boxes;
    for (int k = 0; k < b->n; k++) {
        float *tk = t + (size_t)k * rows * 5;
        int nb = b->nbox[k];
        if (nb > rows) {
            const char *name = d->name ? d->name(d, b->index[k]) : NULL;
            snprintf(err, errlen, "'%s': %d boxes in the sample (after augmentation), more than "
                     "max_boxes = %d; raise max_boxes in the train block",
                     name ? name : d->path, nb, rows);
            return -1;
        }
        for (int r = 0; r < rows; r++) {
            float *row = tk + 5 * r;
            if (r >= nb) {
                row[0] = -1;
                row[1] = row[2] = row[3] = row[4] = 0;
                continue;
            }
            const cnnrt_box *bx = &b->box[(size_t)k * b->boxcap + r];
            row[0] = (float)bx->cls;
            row[1] = (bx->x0 + bx->x1) * 0.5f * mod->in_w;
            row[2] = (bx->y0 + bx->y1) * 0.5f * mod->in_h;
            row[3] = (bx->x1 - bx->x0) * mod->in_w;
            row[4] = (bx->y1 - bx->y0) * mod->in_h;
        }
    }
    return 0;
}

int cnnrt_trdet_map(const cnnrt_model *mod, void *m, const cnnrt_dataset *d, cnnrt_loader *l,
               tr_det_result *res, char *err, size_t errlen)
{
    size_t trows = (size_t)mod->batch * mod->max_boxes * 5;
    int maxdet = mod->batch * EVAL_MAX * 10;
    float *t = malloc(sizeof *t * trows);
    cnnrt_det *dets = malloc(sizeof *dets * (size_t)maxdet);
    cnnrt_map *map = cnnrt_map_new(mod->classes);
    double *ap50 = calloc((size_t)mod->classes, sizeof *ap50);
    double *ap = calloc((size_t)mod->classes, sizeof *ap);
    int rc = -1;
    cnnrt_batch b;
    memset(res, 0, sizeof *res);
    if (!t || !dets || !map || !ap50 || !ap) {
        snprintf(err, errlen, "out of memory");
        goto out;
    }
    cnnrt_loader_start(l, 0, 0, 0);
    while ((rc = cnnrt_loader_next(l, &b, err, errlen)) == 1) {
        rc = -1;
        if (cnnrt_trdet_targets(mod, d, &b, t, err, errlen))
            goto out;
        int nd = mod->detect(m, b.x, b.n, EVAL_SCORE, EVAL_NMS, dets, maxdet);
        for (int k = 0, i = 0; k < b.n; k++) {
            int first = i;
            while (i < nd && dets[i].image == k)
                i++;
            int nk = i - first < EVAL_MAX ? i - first : EVAL_MAX;
            if (cnnrt_map_add(map, dets + first, nk, t + (size_t)k * mod->max_boxes * 5,
                              mod->max_boxes) < 0) {
                snprintf(err, errlen, "out of memory");
                goto out;
            }
        }
        res->images += b.n;
    }
    if (rc < 0)
        goto out;
    res->present = cnnrt_map_result(map, &res->map50, &res->map, ap50, ap);
    if (res->present < 0) {
        snprintf(err, errlen, "out of memory");
        rc = -1;
        goto out;
    }
    res->ap50 = ap50;
    res->ap = ap;
    ap50 = ap = NULL;
    rc = 0;
out:
    free(t);
    free(dets);
    free(ap50);
    free(ap);
    cnnrt_map_free(map);
    return rc;
}

void cnnrt_trdet_print(const tr_det_result *r, const cnnrt_dataset *d, int classes)
{
    printf("test: mAP@0.5 %.4f  mAP@0.5:0.95 %.4f  (%ld images, %d classes with boxes)\n",
           r->map50, r->map, r->images, r->present);
    for (int c = 0; c < classes; c++) {
        if (r->ap50[c] < 0)
            continue;
        char name[64];
        if (d->classes)
            snprintf(name, sizeof name, "%s", d->classes[c]);
        else
            snprintf(name, sizeof name, "class %d", c);
        printf("  %-16s AP@0.5 %.4f  AP@0.5:0.95 %.4f\n", name, r->ap50[c], r->ap[c]);
    }
}

void cnnrt_trdet_free(tr_det_result *r)
{
    free(r->ap50);
    free(r->ap);
    memset(r, 0, sizeof *r);
}

/* picture k of batch b with its detections (dets[0..n), all of image k)
 * as draw->dir/NNNN-STEM.png */
static int trdet_draw(const cnnrt_model *mod, const cnnrt_dataset *d, const cnnrt_batch *b,
                      int k, const cnnrt_det *dets, int n, tr_det_draw *draw, char *err,
                      size_t errlen)
{
    char stem[256], path[4096];
    const char *name = d->name ? d->name(d, b->index[k]) : NULL;
    if (name) {
        const char *base = strrchr(name, '/') ? strrchr(name, '/') + 1 : name;
        const char *dot = strrchr(base, '.');
        int len = dot && dot > base ? (int)(dot - base) : (int)strlen(base);
        snprintf(stem, sizeof stem, "%.*s", len, base);
    } else
        snprintf(stem, sizeof stem, "%d", b->index[k]);
    snprintf(path, sizeof path, "%s/%04d-%s.png", draw->dir, draw->count++, stem);
    size_t in = (size_t)mod->in_c * mod->in_h * mod->in_w;
    return cnnrt_draw_png(path, b->x + k * in, mod->in_c, mod->in_h, mod->in_w, dets, n,
                          draw->names, draw->nnames, err, errlen);
}

int cnnrt_trdet_predict(const cnnrt_model *mod, void *m, const char *arg, const cnnrt_dataset *d,
                   cnnrt_loader *l, float score_thr, tr_det_draw *draw, char *err,
                   size_t errlen)
{
    int maxdet = mod->batch * EVAL_MAX;
    cnnrt_det *dets = malloc(sizeof *dets * (size_t)maxdet);
    cnnrt_batch b;
    int rc;
    if (!dets) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    cnnrt_loader_start(l, 0, 0, 0);
    while ((rc = cnnrt_loader_next(l, &b, err, errlen)) == 1) {
        int nd = mod->detect(m, b.x, b.n, score_thr, EVAL_NMS, dets, maxdet);
        for (int i = 0; i < nd; i++) {
            const cnnrt_det *e = &dets[i];
            const char *name = d->name ? d->name(d, b.index[e->image]) : NULL;
            if (name)
                printf("%s", name);
            else
                printf("%s[%d]", arg, b.index[e->image]);
            printf(" %d %.4f %.1f %.1f %.1f %.1f\n", e->cls, e->score, e->x1, e->y1, e->x2, e->y2);
        }
        /* the detections come grouped by image, in image order */
        for (int k = 0, i = 0; draw && k < b.n; k++) {
            int first = i;
            while (i < nd && dets[i].image == k)
                i++;
            if (trdet_draw(mod, d, &b, k, dets + first, i - first, draw, err, errlen) < 0) {
                rc = -1;
                break;
            }
        }
        if (rc < 0)
            break;
    }
    free(dets);
    return rc < 0 ? -1 : 0;
}
