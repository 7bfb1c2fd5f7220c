/* detect.c — from raw detect outputs to detections, what `<m>_detect` does
 * after its eval-mode forward: decode every anchor's box (DETECTION.md
 * section 3), score it with det_sigmoid(obj) * det_sigmoid(best class logit), keep
 * those at or above the threshold, and run class-aware NMS per image.
 *
 * Boxes are in input pixels and are not clipped to the picture.  Ties in
 * score are broken by class and coordinates, so the order never depends on
 * the sort.  Not here: the forward itself (generated code), mAP (map.c).
 */
#include "cnnrt_det.h"
#include "gemm.h"          /* cnnrt_misuse */

#include <math.h>

double cnnrt_det_iou(const cnnrt_det *a, const cnnrt_det *b)
{
    double iw = fmin(a->x2, b->x2) - fmax(a->x1, b->x1);
    double ih = fmin(a->y2, b->y2) - fmax(a->y1, b->y1);
    if (iw <= 0 || ih <= 0)
        return 0;
    double inter = iw * ih;
    double u = (double)(a->x2 - a->x1) * (a->y2 - a->y1)
             + (double)(b->x2 - b->x1) * (b->y2 - b->y1) - inter;
    return u > 0 ? inter / u : 0;
}

long cnnrt_detect_scratch(const cnnrt_yolox_geom *g)
{
    /* one candidate per anchor of an image */
    return cnnrt_yolox_anchors(g) * (long)((sizeof(cnnrt_det) + sizeof(float) - 1)
                                           / sizeof(float));
}

/* does a come before b: higher score first, then a fixed order */
static int det_before(const cnnrt_det *a, const cnnrt_det *b)
{
    if (a->score != b->score)
        return a->score > b->score;
    if (a->cls != b->cls)
        return a->cls < b->cls;
    if (a->x1 != b->x1)
        return a->x1 < b->x1;
    if (a->y1 != b->y1)
        return a->y1 < b->y1;
    if (a->x2 != b->x2)
        return a->x2 < b->x2;
    return a->y2 < b->y2;
}

/* heap sort into det_before() order (no allocation, unlike some qsorts): the
 * root of the heap is the element that comes last, moved to the end */
static void det_sift(cnnrt_det *d, long i, long n)
{
    for (;;) {
        long c = 2 * i + 1;
        if (c >= n)
            return;
        if (c + 1 < n && det_before(&d[c], &d[c + 1]))
            c++;
        if (!det_before(&d[i], &d[c]))
            return;
        cnnrt_det t = d[i];
        d[i] = d[c], d[c] = t;
        i = c;
    }
}

static void det_sort(cnnrt_det *d, long n)
{
    for (long i = n / 2 - 1; i >= 0; i--)
        det_sift(d, i, n);
    for (long end = n - 1; end > 0; end--) {
        cnnrt_det t = d[0];
        d[0] = d[end], d[end] = t;
        det_sift(d, 0, end);
    }
}

static double det_sigmoid(double z)
{
    return z >= 0 ? 1 / (1 + exp(-z)) : exp(z) / (1 + exp(z));
}

/* image i's anchors scoring at least thr, into c; how many */
static long det_candidates(const cnnrt_yolox_geom *g, const float *const *outs, int i,
                           float thr, cnnrt_det *c)
{
    long m = 0;
    int nch = 5 + g->classes;
    for (int l = 0; l < g->levels; l++) {
        long hw = (long)g->h[l] * g->w[l];
        const float *o = outs[l] + (long)i * nch * hw;
        double s = g->stride[l];
        for (long cell = 0; cell < hw; cell++) {
            int best = 0;
            for (int k = 1; k < g->classes; k++)
                if (o[(5 + k) * hw + cell] > o[(5 + best) * hw + cell])
                    best = k;
            double score = det_sigmoid(o[4 * hw + cell]) * det_sigmoid(o[(5 + best) * hw + cell]);
            if (!(score >= thr))
                continue;
            double cx = (o[cell] + cell % g->w[l]) * s;
            double cy = (o[hw + cell] + cell / g->w[l]) * s;
            double w = exp(o[2 * hw + cell]) * s, h = exp(o[3 * hw + cell]) * s;
            cnnrt_det *d = &c[m++];
            d->image = i, d->cls = best, d->score = (float)score;
            d->x1 = (float)(cx - w / 2), d->y1 = (float)(cy - h / 2);
            d->x2 = (float)(cx + w / 2), d->y2 = (float)(cy + h / 2);
        }
    }
    return m;
}

int cnnrt_detect(cnnrt_ctx *ctx, const cnnrt_yolox_geom *g, int n, const float *const *outs,
                 float score_thr, float nms_iou, cnnrt_det *out, int max)
{
    if (!ctx || !ctx->scratch)
        cnnrt_misuse("cnnrt_detect: no ctx->scratch; the call needs %ld floats",
                     cnnrt_detect_scratch(g));
    cnnrt_det *c = (cnnrt_det *)ctx->scratch;
    int count = 0;
    for (int i = 0; i < n && count < max; i++) {
        long m = det_candidates(g, outs, i, score_thr, c);
        det_sort(c, m);
        int first = count;      /* this image's kept boxes: out[first..count) */
        for (long j = 0; j < m && count < max; j++) {
            int keep = 1;
            for (int k = first; k < count && keep; k++)
                if (out[k].cls == c[j].cls && cnnrt_det_iou(&out[k], &c[j]) > nms_iou)
                    keep = 0;
            if (keep)
                out[count++] = c[j];
        }
    }
    return count;
}
