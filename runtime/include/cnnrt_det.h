/* cnnrt_det.h — the detection kernels of the runtime core (DETECTION.md):
 * the YOLOX loss with its SimOTA assignment and backward (core/yolox.c),
 * and decoding with class-aware NMS for `<m>_detect` (core/detect.c).
 * Their geometry (cnnrt_yolox_geom), the detection record (cnnrt_det) and
 * the scratch queries the compiler plans with are in cnnrt_abi.h; mAP is
 * in cnnrt_train.h, drawing in cnnrt_data.h.
 *
 * Conventions of cnnrt.h: the kernel context first, flat float buffers,
 * NCHW with the batch first, no allocation, no globals.  The scratch of a
 * call is ctx->scratch, of the size its query gives (in floats; it also
 * holds doubles and ints, so it must be aligned as malloc aligns); a call
 * that needs scratch and has none is a programming error (cnnrt_misuse).
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

#include "cnnrt_abi.h"

/* ---- the yolox loss (yolox.c) ----
 * outs[l], douts[l]: [n][5+classes][h[l]][w[l]]; target: [n][max_boxes][5].
 * Assigns (SimOTA, no gradient), returns the loss of DETECTION.md
 * section 3 and OVERWRITES douts with its gradient.  Scratch:
 * cnnrt_yolox_scratch(g, n) floats. */
float cnnrt_yolox_loss(cnnrt_ctx *ctx, const cnnrt_yolox_geom *g, int n,
                       const float *const *outs, const float *target, float *const *douts);

/* The two halves, for tests and tools.  An assignment is, for image i and
 * anchor a (index i*anchors + a): match = the target row the anchor is
 * foreground for, -1 for background; miou = the IoU of that row and the
 * anchor's decoded box when assigned (the class target's scale).
 * cnnrt_yolox_assign's scratch: cnnrt_yolox_assign_scratch(g) floats. */
void   cnnrt_yolox_assign(cnnrt_ctx *ctx, const cnnrt_yolox_geom *g, int n,
                          const float *const *outs, const float *target,
                          int *match, float *miou);
/* the loss for a given assignment, in double; douts may be NULL; no
 * scratch (ctx may be NULL) */
double cnnrt_yolox_loss_fixed(cnnrt_ctx *ctx, const cnnrt_yolox_geom *g, int n,
                              const float *const *outs, const float *target,
                              const int *match, const float *miou, float *const *douts);

/* ---- decoding and NMS (detect.c) ----
 * The detections of n images from their raw level outputs: box corners in
 * input pixels, score = sigmoid(obj) * sigmoid(best class logit), those
 * with score >= score_thr, class-aware NMS (a box is dropped when its IoU
 * with a kept box of its class exceeds nms_iou); each image's detections
 * by descending score, images in order.  Writes at most max; returns the
 * count.  Scratch: cnnrt_detect_scratch(g) floats. */
int cnnrt_detect(cnnrt_ctx *ctx, const cnnrt_yolox_geom *g, int n, const float *const *outs,
                 float score_thr, float nms_iou, cnnrt_det *out, int max);

/* IoU of two boxes given by corners; 0 when they do not overlap */
double cnnrt_det_iou(const cnnrt_det *a, const cnnrt_det *b);

#endif
