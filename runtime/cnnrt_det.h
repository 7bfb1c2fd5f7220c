/* cnnrt_det.h — the detection part of the runtime (DETECTION.md): the
 * YOLOX loss with its SimOTA assignment and backward (yolox.c), decoding
 * and class-aware NMS for `<m>_detect` (detect.c), COCO-style mAP for the
 * trainer's eval (map.c), and boxes drawn into pictures (draw.c).
 *
 * Same conventions as cnnrt.h: flat float buffers, NCHW with the batch
 * first, caller-owned scratch sized by a `_scratch` function (in floats;
 * the memory must come from malloc, as it also holds ints and doubles),
 * no allocation inside the per-step functions, no globals.  Only the mAP
 * accumulator allocates, as it grows with the evaluation set.
 *
 * A model's detect outputs are its "levels": level l is a tensor
 * [n][5+classes][h[l]][w[l]] of raw head outputs — channels 0-3 the box
 * regression (x, y, log w, log h) in cells, 4 the objectness logit, 5.. the
 * class logits — whose cells are stride[l] input pixels apart.  Anchors are
 * the cells of every level, levels in output order, row-major within one.
 * Ground truths are rows (class, cx, cy, w, h) in input pixels; rows with
 * class < 0 are padding (class >= classes is skipped likewise: the data
 * reader reports it).
 */
#ifndef CNNRT_DET_H
#define CNNRT_DET_H

#define CNNRT_DET_LEVELS 8      /* detect outputs of a model, at most */

typedef struct {
    int   classes;
    int   levels;
    int   h[CNNRT_DET_LEVELS], w[CNNRT_DET_LEVELS], stride[CNNRT_DET_LEVELS];
    /* the loss's parameters: loss = yolox(...) and max_boxes */
    float reg_weight;           /* 5.0 */
    float center_radius;        /* 2.5 */
    int   topk;                 /* 10 */
    int   max_boxes;            /* ground-truth rows per sample of target */
} cnnrt_yolox_geom;

/* anchors of one image: the sum of h*w over the levels */
long cnnrt_yolox_anchors(const cnnrt_yolox_geom *g);

/* ---- the yolox loss (yolox.c) ----
 * outs[l], douts[l]: [n][5+classes][h[l]][w[l]]; target: [n][max_boxes][5].
 * cnnrt_yolox_loss assigns (SimOTA, no gradient), returns the loss of
 * DETECTION.md section 3 and OVERWRITES douts with its gradient. */
long  cnnrt_yolox_scratch(const cnnrt_yolox_geom *g, int n);
float cnnrt_yolox_loss(const cnnrt_yolox_geom *g, int n, const float *const *outs,
                       const float *target, float *const *douts, float *scratch);

/* The two halves, for tests and tools.  An assignment is, for image i and
 * anchor a (index i*anchors + a): match = the target row the anchor is
 * foreground for, -1 for background; miou = the IoU of that row and the
 * anchor's decoded box when assigned (the class target's scale). */
long   cnnrt_yolox_assign_scratch(const cnnrt_yolox_geom *g);
void   cnnrt_yolox_assign(const cnnrt_yolox_geom *g, int n, const float *const *outs,
                          const float *target, int *match, float *miou, float *scratch);
/* the loss for a given assignment, in double; douts may be NULL */
double cnnrt_yolox_loss_fixed(const cnnrt_yolox_geom *g, int n, const float *const *outs,
                              const float *target, const int *match, const float *miou,
                              float *const *douts);

/* ---- decoding and NMS (detect.c) ---- */
typedef struct { int image, cls; float score, x1, y1, x2, y2; } cnnrt_det;

/* The detections of n images from their raw level outputs: box corners in
 * input pixels, score = sigmoid(obj) * sigmoid(best class logit), those
 * with score >= score_thr, class-aware NMS (a box is dropped when its IoU
 * with a kept box of its class exceeds nms_iou); each image's detections
 * by descending score, images in order.  Writes at most max; returns the
 * count. */
long cnnrt_detect_scratch(const cnnrt_yolox_geom *g);
int  cnnrt_detect(const cnnrt_yolox_geom *g, int n, const float *const *outs,
                  float score_thr, float nms_iou, cnnrt_det *out, int max,
                  float *scratch);

/* IoU of two boxes given by corners; 0 when they do not overlap */
double cnnrt_det_iou(const cnnrt_det *a, const cnnrt_det *b);

/* ---- COCO-style mAP (map.c) ----
 * Accumulates the detections and ground truths of many images, then
 * reports per-class AP: greedy matching by descending score, each ground
 * truth matched once (to the unmatched one of its class with the highest
 * IoU >= t; duplicates are false positives), precision made monotone and
 * read at the 101 recalls 0, 0.01, .., 1; at t = 0.5 and averaged over
 * t = 0.5, 0.55, .., 0.95.  The means run over the classes that have
 * ground truth. */
typedef struct cnnrt_map cnnrt_map;

cnnrt_map *cnnrt_map_new(int classes);      /* NULL when out of memory */
void       cnnrt_map_free(cnnrt_map *m);
/* one image: its detections (any order; image is ignored) and its ground
 * truths gt[max_boxes][5] as in targets; -1 when out of memory */
int  cnnrt_map_add(cnnrt_map *m, const cnnrt_det *dets, int ndet,
                   const float *gt, int max_boxes);
/* the means (0 without any ground truth); ap50[c], ap[c] per class (-1
 * for a class without ground truth; either may be NULL); returns the
 * number of classes with ground truth, -1 when out of memory */
int  cnnrt_map_result(const cnnrt_map *m, double *map50, double *map,
                      double *ap50, double *ap);

/* ---- boxes drawn into pictures (draw.c) ----
 * img: h rows of w pixels of R, G, B bytes; all drawing is clipped. */
void cnnrt_draw_color(int cls, unsigned char *rgb);     /* class colour */
/* the rectangle with corners (x1, y1), (x2, y2) included: outline or fill */
void cnnrt_draw_rect(unsigned char *img, int w, int h, int x1, int y1, int x2, int y2,
                     const unsigned char *rgb, int fill);
/* s in the built-in 5x7 font, top left at (x, y), each font pixel
 * scale x scale, glyphs 6 font pixels apart; returns the advance in pixels */
int  cnnrt_draw_text(unsigned char *img, int w, int h, int x, int y, const char *s,
                     const unsigned char *rgb, int scale);
/* detection d (input pixels, scaled by sx, sy to the picture): its box in
 * its class colour, two pixels thick, and a label "name score" (the class
 * number when name is NULL) in black on a strip of that colour */
void cnnrt_draw_det(unsigned char *img, int w, int h, const cnnrt_det *d, const char *name,
                    float sx, float sy);

#endif
