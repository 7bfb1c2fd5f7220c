/* map.c — COCO-style mean average precision for the trainer's eval of a
 * detection model: detections are matched to ground truths image by image
 * as they arrive (cnnrt_map_add), then ranked per class over all images
 * for the precision/recall curve (cnnrt_map_result).
 *
 * Not COCO's full protocol: no crowd regions, no area ranges, no cap on
 * detections per image (the caller's max is the cap).  Ties in score keep
 * the order in which detections were added.
 */
#include "cnnrt_det.h"
#include "cnnrt_train.h"

#include <stdlib.h>
#include <string.h>

#define NTHR 10                 /* IoU thresholds 0.5, 0.55, .., 0.95 */
#define NREC 101                /* recall points 0, 0.01, .., 1 */

typedef struct {
    float score;
    int   cls;
    long  seq;                  /* arrival order, for ties */
    unsigned tp;                /* bit t: a true positive at threshold t */
} scored;

struct cnnrt_map {
    int     classes;
    long   *npos;               /* [classes] ground truths */
    scored *d;
    long    nd, cap;
};

cnnrt_map *cnnrt_map_new(int classes)
{
    cnnrt_map *m = calloc(1, sizeof *m);
    if (!m)
        return NULL;
    m->classes = classes;
    m->npos = calloc(classes > 0 ? classes : 1, sizeof *m->npos);
    if (!m->npos) {
        free(m);
        return NULL;
    }
    return m;
}

void cnnrt_map_free(cnnrt_map *m)
{
    if (m) {
        free(m->npos);
        free(m->d);
        free(m);
    }
}

static double threshold(int t)
{
    return 0.5 + 0.05 * t;
}

/* by descending score, then arrival */
static int by_score(const void *pa, const void *pb)
{
    const scored *a = pa, *b = pb;
    if (a->score != b->score)
        return a->score > b->score ? -1 : 1;
    return (a->seq > b->seq) - (a->seq < b->seq);
}

int cnnrt_map_add(cnnrt_map *m, const cnnrt_det *dets, int ndet,
                  const float *gt, int max_boxes)
{
    if (m->nd + ndet > m->cap) {
        long cap = 2 * m->cap + ndet + 64;
        scored *d = realloc(m->d, cap * sizeof *d);
        if (!d)
            return -1;
        m->d = d, m->cap = cap;
    }
    /* this image's ground truths as corners, and who took them per t */
    cnnrt_det *g = malloc((max_boxes > 0 ? max_boxes : 1) * sizeof *g);
    unsigned *taken = calloc(max_boxes > 0 ? max_boxes : 1, sizeof *taken);
    if (!g || !taken) {
        free(g), free(taken);
        return -1;
    }
    int ng = 0;
    for (int r = 0; r < max_boxes; r++) {
        const float *t = gt + 5 * r;
        if (!(t[0] >= 0 && t[0] < m->classes))
            continue;
        cnnrt_det *b = &g[ng++];
        b->cls = (int)t[0];
        b->x1 = t[1] - t[3] / 2, b->x2 = t[1] + t[3] / 2;
        b->y1 = t[2] - t[4] / 2, b->y2 = t[2] + t[4] / 2;
        m->npos[b->cls]++;
    }
    /* the image's detections in rank order, then greedy matching */
    scored *d = m->d + m->nd;
    for (int k = 0; k < ndet; k++) {
        d[k].score = dets[k].score, d[k].cls = dets[k].cls;
        d[k].seq = m->nd + k, d[k].tp = 0;
    }
    if (ndet > 1)                       /* none yet: m->d may be NULL */
        qsort(d, ndet, sizeof *d, by_score);
    for (int k = 0; k < ndet; k++) {
        if (d[k].cls < 0 || d[k].cls >= m->classes)
            continue;
        const cnnrt_det *det = &dets[d[k].seq - m->nd];
        for (int t = 0; t < NTHR; t++) {
            int best = -1;
            double best_iou = threshold(t);
            for (int j = 0; j < ng; j++) {
                if (g[j].cls != d[k].cls || taken[j] >> t & 1)
                    continue;
                double iou = cnnrt_det_iou(det, &g[j]);
                if (iou >= best_iou && (best < 0 || iou > best_iou))
                    best = j, best_iou = iou;
            }
            if (best >= 0) {
                taken[best] |= 1u << t;
                d[k].tp |= 1u << t;
            }
        }
    }
    m->nd += ndet;
    free(g), free(taken);
    return 0;
}

/* AP of one class at threshold t from its detections d[0..n) in rank
 * order: the mean over the recall points of the best precision at any
 * recall at least that high (0 where the recall is never reached) */
static double class_ap(const scored *d, long n, long npos, int t, double *prec, double *rec)
{
    long tp = 0;
    for (long k = 0; k < n; k++) {
        tp += d[k].tp >> t & 1;
        prec[k] = (double)tp / (k + 1);
        rec[k] = (double)tp / npos;
    }
    for (long k = n - 2; k >= 0; k--)
        if (prec[k] < prec[k + 1])
            prec[k] = prec[k + 1];
    double sum = 0;
    long k = 0;
    for (int r = 0; r < NREC; r++) {
        double want = r * (1.0 / (NREC - 1));      /* as numpy's linspace */
        while (k < n && rec[k] < want)
            k++;
        if (k < n)
            sum += prec[k];
    }
    return sum / NREC;
}

int cnnrt_map_result(const cnnrt_map *m, double *map50, double *map,
                     double *ap50, double *ap)
{
    scored *d = malloc((m->nd > 0 ? m->nd : 1) * sizeof *d);
    double *prec = malloc((m->nd > 0 ? m->nd : 1) * sizeof *prec);
    double *rec = malloc((m->nd > 0 ? m->nd : 1) * sizeof *rec);
    if (!d || !prec || !rec) {
        free(d), free(prec), free(rec);
        return -1;
    }
    int present = 0;
    double s50 = 0, s = 0;
    for (int c = 0; c < m->classes; c++) {
        long n = 0;
        for (long k = 0; k < m->nd; k++)
            if (m->d[k].cls == c)
                d[n++] = m->d[k];
        qsort(d, n, sizeof *d, by_score);
        double a50 = -1, a = -1;
        if (m->npos[c] > 0) {
            a = 0;
            for (int t = 0; t < NTHR; t++) {
                double v = class_ap(d, n, m->npos[c], t, prec, rec);
                if (t == 0)
                    a50 = v;
                a += v / NTHR;
            }
            present++, s50 += a50, s += a;
        }
        if (ap50)
            ap50[c] = a50;
        if (ap)
            ap[c] = a;
    }
    if (map50)
        *map50 = present ? s50 / present : 0;
    if (map)
        *map = present ? s / present : 0;
    free(d), free(prec), free(rec);
    return present;
}
