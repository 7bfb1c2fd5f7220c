/* data.h — what the runtime's data files share among themselves: internal
 * to libcnnrt_data.a, not part of its public API (cnnrt_data.h), and not
 * for generated code or the trainer.
 *
 * The files call each other in one direction only, from the top:
 *   dataset.c (cnnrt_data_open)  -> idx.c, image.c, yolo.c
 *   dump.c -> loader.c -> augment.c -> image.c (resampling)
 *   yolo.c -> augment.c (box targets), image.c (decoding)
 *   and at the bottom, calling none of the others: common.c (the
 *   helpers below) and gzip.c (cnnrt_read_file)
 */
#ifndef CNNRT_DATA_INTERNAL_H
#define CNNRT_DATA_INTERNAL_H

#include <stdio.h>

#include "cnnrt_data.h"

/* (cnnrt_errorf, "'PATH': message" into err, is in cnnrt.h) */

/* ---- common.c ---- */
/* "warning: " and the message on stderr, for files a data set leaves out */
#if defined(__GNUC__)
__attribute__((format(printf, 1, 2)))
#endif
void cnnrt_warn(const char *fmt, ...);

/* malloc'd copy; NULL when out of memory */
char *cnnrt_strdup(const char *s);

/* 0 when i is a sample of d; else -1 with "'PATH': sample i of N does not
 * exist" (every get() starts with it) */
int cnnrt_data_check_index(const cnnrt_dataset *d, int i, char *err, size_t errlen);

/* ---- idx.c: an IDX image file and its labels (cnnrt_data_open's rules) ---- */
cnnrt_dataset *cnnrt_idx_open(const char *path, const char *labels, int c, int h, int w,
                              int tsize, int need_labels, char *err, size_t errlen);

/* ---- image.c ---- */
/* Bilinear resampling, half-pixel centres, edges clamped.  src is
 * [c][sh][sw]; dst is [c][dh][dw], of which the rectangle at (rx, ry),
 * rw x rh, is written: dst pixel (x, y) takes the source at
 * ((x - rx + ox + 0.5) / sx - 0.5, (y - ry + oy + 0.5) / sy - 0.5), i.e.
 * the source scaled by (sx, sy) and then shifted to show the window that
 * starts at (ox, oy) of the scaled image.  A plain resize is sx = dw/sw,
 * sy = dh/sh, everything else 0 and the whole of dst. */
typedef struct {
    int rx, ry, rw, rh;     /* the destination rectangle */
    int ox, oy;             /* its origin in the scaled source */
    double sx, sy;          /* scale factors, > 0 */
} cnnrt_window;
void cnnrt_resample(const float *src, int c, int sh, int sw, float *dst, int dh, int dw,
                    const cnnrt_window *win);

/* 1 when the name ends in an image extension stb_image reads */
int cnnrt_is_image_name(const char *path);

/* A folder (classes, or plain images when need_labels == 0) or a single
 * image file; NULL with err. */
cnnrt_dataset *cnnrt_image_open(const char *path, int c, int h, int w, int tsize,
                                int need_labels, char *err, size_t errlen);

/* Checks that path holds an image stb_image can tell the size of (a cheap
 * look at the header, not a full decode): 0, or -1 with err. */
int cnnrt_image_check(const char *path, char *err, size_t errlen);

/* ---- yolo.c ---- */
cnnrt_dataset *cnnrt_yolo_open(const char *path, int c, int h, int w, int tsize,
                               char *err, size_t errlen);

/* ---- augment.c: one sample through the augmentation list ---- */
/* Boxes smaller than this fraction of their area before a geometric
 * augmentation (crop, mosaic) cut them are dropped. */
#define CNNRT_BOX_KEEP 0.2f

typedef struct cnnrt_augmenter cnnrt_augmenter;
/* told of every file that turns out unreadable (index i, message) */
typedef void (*cnnrt_bad_file)(void *ctx, int i, const char *err);

/* The pipeline for one thread; NULL with err when an augmentation cannot
 * apply to d (see cnnrt_loader_new). */
cnnrt_augmenter *cnnrt_augmenter_new(const cnnrt_dataset *d, const cnnrt_augment *aug,
                                     int naug, cnnrt_bad_file bad, void *ctx,
                                     char *err, size_t errlen);
/* most boxes a sample can come out with */
int  cnnrt_augmenter_boxcap(const cnnrt_augmenter *a);
/* Sample i of epoch `epoch`, augmented: x [c*h*w], t [tsize], box
 * [boxcap] and *nbox.  0; 1 when sample i's own file cannot be decoded
 * (err says why); -1 with err. */
int  cnnrt_augmenter_get(cnnrt_augmenter *a, uint64_t seed, int epoch, int i,
                         float *x, float *t, cnnrt_box *box, int *nbox,
                         char *err, size_t errlen);
void cnnrt_augmenter_free(cnnrt_augmenter *a);
/* from now on, each step of a get writes what it drew to f (NULL: stop),
 * one indented line per step, partners' steps nested (--dump-aug) */
void cnnrt_augmenter_record(cnnrt_augmenter *a, FILE *f);

/* the class target of detection data: sum over boxes of area * one-hot
 * (the class itself when tsize == 1), divided by the total area; all zero
 * without boxes of any area */
void cnnrt_box_target(const cnnrt_box *box, int nbox, int tsize, float *t);

#endif
