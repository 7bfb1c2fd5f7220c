/* yolox.c — the YOLOX training loss of DETECTION.md section 3: the SimOTA
 * assignment of anchors to ground truths (per image, no gradient), the
 * loss over the batch and its exact gradient into the raw head outputs of
 * every level (through the box decoding and the IoU, and the logits).
 *
 * Sums and the assignment's costs run in double; ties go to the lower
 * anchor index and the lower target row, so the result is deterministic.
 * Not here: decoding for inference and NMS (detect.c), augmentation and
 * the reading of boxes (the data side).
 */
#include "cnnrt_det.h"
#include "gemm.h"          /* cnnrt_misuse */

#include <math.h>
#include <string.h>

#define YOLOX_COST_NOT_CENTRED 1e5    /* cost of a pair not both in box and in centre */
#define YOLOX_COST_NO_IOU (-3 * log(1e-8))    /* the IoU term of a pair without overlap */

long cnnrt_yolox_anchors(const cnnrt_yolox_geom *g)
{
    long a = 0;
    for (int l = 0; l < g->levels; l++)
        a += (long)g->h[l] * g->w[l];
    return a;
}

static double yolox_sigmoid(double z)
{
    return z >= 0 ? 1 / (1 + exp(-z)) : exp(z) / (1 + exp(z));
}

/* log(1 + e^z) without overflow: bce_logits(z, t) = softplus(z) - t z */
static double yolox_softplus(double z)
{
    return (z > 0 ? z : 0) + log1p(exp(-fabs(z)));
}

/* log clamped at -100, as PyTorch's binary cross entropy */
static double yolox_log(double p)
{
    double l = log(p);
    return l < -100 ? -100 : l;
}

/* IoU of boxes p and q given as (cx, cy, w, h), eps added to the union; 0
 * when they do not overlap.  With d, its gradient with respect to p's
 * (cx, cy, w, h) (zero without overlap: the intersection is then held at
 * 0, as in YOLOX's IoU loss). */
static double yolox_box_iou(const double *p, const double *q, double eps, double *d)
{
    double px1 = p[0] - p[2] / 2, px2 = p[0] + p[2] / 2;
    double py1 = p[1] - p[3] / 2, py2 = p[1] + p[3] / 2;
    double qx1 = q[0] - q[2] / 2, qx2 = q[0] + q[2] / 2;
    double qy1 = q[1] - q[3] / 2, qy2 = q[1] + q[3] / 2;
    double iw = fmin(px2, qx2) - fmax(px1, qx1);
    double ih = fmin(py2, qy2) - fmax(py1, qy1);
    int hit = iw > 0 && ih > 0;
    double inter = hit ? iw * ih : 0;
    double u = p[2] * p[3] + q[2] * q[3] - inter + eps;
    double iou = u > 0 ? inter / u : 0;
    if (d) {
        d[0] = d[1] = d[2] = d[3] = 0;
        if (!hit || !(u > 0))
            return iou;
        double di = (u + inter) / (u * u);     /* dIoU/d inter (u falls with it) */
        double dp = -inter / (u * u);          /* dIoU/d area of p */
        double dx1 = px1 > qx1 ? -ih : 0, dx2 = px2 < qx2 ? ih : 0;
        double dy1 = py1 > qy1 ? -iw : 0, dy2 = py2 < qy2 ? iw : 0;
        d[0] = di * (dx1 + dx2);
        d[1] = di * (dy1 + dy2);
        d[2] = di * 0.5 * (dx2 - dx1) + dp * p[3];
        d[3] = di * 0.5 * (dy2 - dy1) + dp * p[2];
    }
    return iou;
}

/* target row r of image i as (cx, cy, w, h); its class, or -1 for a row
 * that takes no part (padding, or a class the model does not have) */
static int yolox_gt_row(const cnnrt_yolox_geom *g, const float *target, int i, int r, double *q)
{
    const float *t = target + ((long)i * g->max_boxes + r) * 5;
    for (int k = 0; k < 4; k++)
        q[k] = t[1 + k];
    return t[0] >= 0 && t[0] < g->classes ? (int)t[0] : -1;
}

/* ---- the assignment ---- */

/* one image's working arrays, carved from the caller's scratch */
typedef struct {
    long    na;
    int     ng;         /* ground truths taking part */
    double *px1, *py1, *px2, *py2, *parea;  /* [na] decoded boxes, corners */
    double *ccx, *ccy, *crad;   /* [na] cell centre, centre radius, in pixels */
    double *clsterm;    /* [na][classes] bce_sum's class part, see yolox_image */
    double *s0;         /* [na] bce_sum against all-zero classes */
    double *iou, *cost; /* [ncand] of the ground truth at hand */
    double *best;       /* [na] lowest cost among the rows that took it */
    double *topv;       /* [topk] */
    double *gt;         /* [ng][4] corners of the ground truths */
    int    *gcls, *grow;/* [ng] their class and target row */
    int    *cand;       /* [ncand] candidate anchors, ascending */
    int    *bestg;      /* [na] the row that keeps the anchor, -1 if none */
    int    *topi;       /* [topk] */
    int    *clev;       /* [na] level */
    int    *ccell;      /* [na] cell within the level */
    unsigned char *in;  /* [ng][na] bit 1 in box, bit 2 in centre square */
} yolox_work;

/* room for the largest IoUs (topk of them) or the k cheapest (k <= topk,
 * but at least 1) */
static int yolox_top_cap(const cnnrt_yolox_geom *g)
{
    return g->topk > 1 ? g->topk : 1;
}

long cnnrt_yolox_assign_scratch(const cnnrt_yolox_geom *g)
{
    long na = cnnrt_yolox_anchors(g), mb = g->max_boxes;
    long doubles = na * (8 + g->classes + 4) + yolox_top_cap(g) + 4 * mb;
    long ints = na * 4 + yolox_top_cap(g) + 2 * mb;
    return 2 * doubles + ints + (mb * na + 3) / 4 + 1;
}

static yolox_work yolox_carve(const cnnrt_yolox_geom *g, float *scratch)
{
    yolox_work w;
    long na = w.na = cnnrt_yolox_anchors(g), mb = g->max_boxes;
    double *d = (double *)scratch;      /* malloc'd: aligned for double */
    w.px1 = d, d += na;
    w.py1 = d, d += na;
    w.px2 = d, d += na;
    w.py2 = d, d += na;
    w.parea = d, d += na;
    w.ccx = d, d += na;
    w.ccy = d, d += na;
    w.crad = d, d += na;
    w.clsterm = d, d += na * g->classes;
    w.s0 = d, d += na;
    w.iou = d, d += na;
    w.cost = d, d += na;
    w.best = d, d += na;
    w.topv = d, d += yolox_top_cap(g);
    w.gt = d, d += 4 * mb;
    int *k = (int *)d;
    w.cand = k, k += na;
    w.bestg = k, k += na;
    w.clev = k, k += na;
    w.ccell = k, k += na;
    w.topi = k, k += yolox_top_cap(g);
    w.gcls = k, k += mb;
    w.grow = k, k += mb;
    w.in = (unsigned char *)k;
    return w;
}

/* raw channel ch of anchor a of image i */
static float yolox_raw(const cnnrt_yolox_geom *g, const float *const *outs,
                       const yolox_work *w, int i, long a, int ch)
{
    int l = w->clev[a];
    long hw = (long)g->h[l] * g->w[l];
    return outs[l][((long)i * (5 + g->classes) + ch) * hw + w->ccell[a]];
}

/* decode image i's anchors and the class-independent part of their cost:
 * with p_c = sqrt(sigmoid(cls_c) sigmoid(obj)), bce_sum against class k is
 * s0 + clsterm[k], s0 = -sum_c log(1-p_c), clsterm[k] = log(1-p_k) - log p_k;
 * and collect the ground truths that take part */
static void yolox_image(const cnnrt_yolox_geom *g, const float *const *outs,
                        const float *target, yolox_work *w, int i)
{
    long a = 0;
    for (int l = 0; l < g->levels; l++)
        for (int y = 0; y < g->h[l]; y++)
            for (int x = 0; x < g->w[l]; x++, a++) {
                double s = g->stride[l];
                w->ccx[a] = (x + 0.5) * s, w->ccy[a] = (y + 0.5) * s;
                w->crad[a] = g->center_radius * s;
                w->clev[a] = l, w->ccell[a] = y * g->w[l] + x;
            }
    for (a = 0; a < w->na; a++) {
        double s = g->stride[w->clev[a]];
        int gx = w->ccell[a] % g->w[w->clev[a]], gy = w->ccell[a] / g->w[w->clev[a]];
        double cx = (yolox_raw(g, outs, w, i, a, 0) + gx) * s;
        double cy = (yolox_raw(g, outs, w, i, a, 1) + gy) * s;
        double bw = exp(yolox_raw(g, outs, w, i, a, 2)) * s;
        double bh = exp(yolox_raw(g, outs, w, i, a, 3)) * s;
        w->px1[a] = cx - bw / 2, w->py1[a] = cy - bh / 2;
        w->px2[a] = cx + bw / 2, w->py2[a] = cy + bh / 2;
        w->parea[a] = bw * bh;
        double so = yolox_sigmoid(yolox_raw(g, outs, w, i, a, 4)), s0 = 0;
        for (int c = 0; c < g->classes; c++) {
            double p = sqrt(yolox_sigmoid(yolox_raw(g, outs, w, i, a, 5 + c)) * so);
            double l0 = yolox_log(1 - p);
            s0 -= l0;
            w->clsterm[a * g->classes + c] = l0 - yolox_log(p);
        }
        w->s0[a] = s0;
    }
    w->ng = 0;
    for (int r = 0; r < g->max_boxes; r++) {
        double q[4], *c = w->gt + 4 * w->ng;
        int cls = yolox_gt_row(g, target, i, r, q);
        if (cls < 0)
            continue;
        c[0] = q[0] - q[2] / 2, c[1] = q[1] - q[3] / 2;
        c[2] = q[0] + q[2] / 2, c[3] = q[1] + q[3] / 2;
        w->gcls[w->ng] = cls, w->grow[w->ng] = r;
        w->ng++;
    }
}

/* where the anchors' centres lie with respect to ground truth k, into
 * in[k][]: bit 1 in the box, bit 2 in the centre square (both strictly
 * inside); ORed into hit[] (branch-free, so that it vectorizes) */
static void yolox_where(yolox_work *w, int k, unsigned char *hit)
{
    const double *q = w->gt + 4 * k;
    double qx = (q[0] + q[2]) / 2, qy = (q[1] + q[3]) / 2;
    unsigned char *in = w->in + k * w->na;
    for (long a = 0; a < w->na; a++) {
        double x = w->ccx[a], y = w->ccy[a], r = w->crad[a];
        int in_box = (x > q[0]) & (x < q[2]) & (y > q[1]) & (y < q[3]);
        int in_ctr = (x > qx - r) & (x < qx + r) & (y > qy - r) & (y < qy + r);
        in[a] = (unsigned char)(in_box | in_ctr << 1);
        hit[a] |= in[a];
    }
}

/* IoU of ground truth k and the decoded boxes of the candidates, into
 * w->iou[] (no epsilon; 0 without overlap) */
static void yolox_cand_iou(yolox_work *w, int k, int ncand)
{
    const double *q = w->gt + 4 * k;
    double qa = (q[2] - q[0]) * (q[3] - q[1]);
    for (int j = 0; j < ncand; j++) {
        long a = w->cand[j];
        double iw = (w->px2[a] < q[2] ? w->px2[a] : q[2]) - (w->px1[a] > q[0] ? w->px1[a] : q[0]);
        double ih = (w->py2[a] < q[3] ? w->py2[a] : q[3]) - (w->py1[a] > q[1] ? w->py1[a] : q[1]);
        double inter = iw > 0 && ih > 0 ? iw * ih : 0;
        double u = w->parea[a] + qa - inter;
        w->iou[j] = u > 0 ? inter / u : 0;
    }
}

/* keep the m best (v, i) pairs seen so far in vals/idx, best first;
 * "better" is larger when desc, else smaller; ties keep the earlier */
static void yolox_top_insert(double *vals, int *idx, int *m, int cap, double v, int i, int desc)
{
    int j = *m;
    if (j == cap) {
        if (desc ? !(v > vals[j - 1]) : !(v < vals[j - 1]))
            return;
        j--;
    } else
        (*m)++;
    while (j > 0 && (desc ? v > vals[j - 1] : v < vals[j - 1])) {
        vals[j] = vals[j - 1], idx[j] = idx[j - 1];
        j--;
    }
    vals[j] = v, idx[j] = i;
}

/* SimOTA for image i: writes match/miou of its anchors */
static void yolox_assign_image(const cnnrt_yolox_geom *g, const float *const *outs,
                               const float *target, yolox_work *w, int i,
                               int *match, float *miou)
{
    long na = w->na;
    int ncand = 0;
    for (long a = 0; a < na; a++)
        match[a] = -1, miou[a] = 0;
    yolox_image(g, outs, target, w, i);
    /* candidates: in box or in centre of any ground truth */
    unsigned char *hit = (unsigned char *)w->bestg;     /* free until below */
    memset(hit, 0, (size_t)na);
    for (int k = 0; k < w->ng; k++)
        yolox_where(w, k, hit);
    for (long a = 0; a < na; a++)
        if (hit[a])
            w->cand[ncand++] = (int)a;
    if (ncand == 0)
        return;
    for (long a = 0; a < na; a++)
        w->best[a] = INFINITY, w->bestg[a] = -1;
    int k0 = g->topk < ncand ? g->topk : ncand;      /* may be 0 */
    for (int k = 0; k < w->ng; k++) {
        int cls = w->gcls[k], m = 0;
        yolox_cand_iou(w, k, ncand);
        for (int j = 0; j < ncand; j++) {
            long a = w->cand[j];
            double iou = w->iou[j];
            w->cost[j] = w->s0[a] + w->clsterm[a * g->classes + cls]
                       + (iou > 0 ? -3 * log(iou + 1e-8) : YOLOX_COST_NO_IOU)
                       + (w->in[k * na + a] == 3 ? 0 : YOLOX_COST_NOT_CENTRED);
            if (k0 > 0)
                yolox_top_insert(w->topv, w->topi, &m, k0, iou, j, 1);
        }
        double sum = 0;
        for (int j = 0; j < m; j++)
            sum += w->topv[j];
        int take = sum < 1 ? 1 : (int)sum;  /* <= k0: every iou <= 1 */
        m = 0;
        for (int j = 0; j < ncand; j++)
            yolox_top_insert(w->topv, w->topi, &m, take, w->cost[j], j, 0);
        /* conflicts: a cell keeps the cheapest of the ground truths that
           took it (DETECTION.md), not YOLOX's code's argmin over all of
           them; on a tie the first row */
        for (int j = 0; j < m; j++) {
            long a = w->cand[w->topi[j]];
            if (w->topv[j] < w->best[a]) {
                w->best[a] = w->topv[j], w->bestg[a] = w->grow[k];
                miou[a] = (float)w->iou[w->topi[j]];
            }
        }
    }
    for (long a = 0; a < na; a++)
        match[a] = w->bestg[a];
}

/* ctx->scratch of a call that needs it, or a programming error */
static float *yolox_scratch(cnnrt_ctx *ctx, const char *fn, long floats)
{
    if (!ctx || !ctx->scratch)
        cnnrt_misuse("%s: no ctx->scratch; the call needs %ld floats", fn, floats);
    return ctx->scratch;
}

void cnnrt_yolox_assign(cnnrt_ctx *ctx, const cnnrt_yolox_geom *g, int n,
                        const float *const *outs, const float *target, int *match, float *miou)
{
    float *scratch = yolox_scratch(ctx, "cnnrt_yolox_assign", cnnrt_yolox_assign_scratch(g));
    yolox_work w = yolox_carve(g, scratch);
    for (int i = 0; i < n; i++)
        yolox_assign_image(g, outs, target, &w, i, match + i * w.na, miou + i * w.na);
}

/* ---- the loss for an assignment ---- */

double cnnrt_yolox_loss_fixed(cnnrt_ctx *ctx, const cnnrt_yolox_geom *g, int n,
                              const float *const *outs, const float *target,
                              const int *match, const float *miou, float *const *douts)
{
    (void)ctx;
    long na = cnnrt_yolox_anchors(g), fg = 0;
    for (long a = 0; a < n * na; a++)
        fg += match[a] >= 0;
    double inv = 1.0 / (fg > 0 ? fg : 1), lreg = 0, lobj = 0, lcls = 0;
    int nch = 5 + g->classes;
    for (int i = 0; i < n; i++) {
        long a = (long)i * na;
        for (int l = 0; l < g->levels; l++) {
            long hw = (long)g->h[l] * g->w[l];
            const float *o = outs[l] + (long)i * nch * hw;
            float *d = douts ? douts[l] + (long)i * nch * hw : NULL;
            double s = g->stride[l];
            for (long cell = 0; cell < hw; cell++, a++) {
                int m = match[a];
                double z = o[4 * hw + cell], t = m >= 0;
                lobj += yolox_softplus(z) - t * z;
                if (d)
                    d[4 * hw + cell] = (float)((yolox_sigmoid(z) - t) * inv);
                if (m < 0) {
                    if (d) {
                        for (int c = 0; c < nch; c++)
                            if (c != 4)
                                d[c * hw + cell] = 0;
                    }
                    continue;
                }
                double q[4], p[4], dp[4];
                int cls = yolox_gt_row(g, target, i, m, q);
                long gx = cell % g->w[l], gy = cell / g->w[l];
                p[0] = (o[cell] + gx) * s;
                p[1] = (o[hw + cell] + gy) * s;
                p[2] = exp(o[2 * hw + cell]) * s;
                p[3] = exp(o[3 * hw + cell]) * s;
                double iou = yolox_box_iou(p, q, 1e-16, dp);
                lreg += 1 - iou * iou;
                if (d) {
                    double k = -2 * iou * g->reg_weight * inv;  /* dL/dIoU */
                    d[cell] = (float)(k * dp[0] * s);
                    d[hw + cell] = (float)(k * dp[1] * s);
                    d[2 * hw + cell] = (float)(k * dp[2] * p[2]);
                    d[3 * hw + cell] = (float)(k * dp[3] * p[3]);
                }
                for (int c = 0; c < g->classes; c++) {
                    double zc = o[(5 + c) * hw + cell];
                    double tc = c == cls ? miou[a] : 0;
                    lcls += yolox_softplus(zc) - tc * zc;
                    if (d)
                        d[(5 + c) * hw + cell] = (float)((yolox_sigmoid(zc) - tc) * inv);
                }
            }
        }
    }
    return (g->reg_weight * lreg + lobj + lcls) * inv;
}

/* ---- both ---- */

long cnnrt_yolox_scratch(const cnnrt_yolox_geom *g, int n)
{
    /* one image's working arrays, then miou and match of the batch */
    return cnnrt_yolox_assign_scratch(g) + 2 * n * cnnrt_yolox_anchors(g);
}

float cnnrt_yolox_loss(cnnrt_ctx *ctx, const cnnrt_yolox_geom *g, int n,
                       const float *const *outs, const float *target, float *const *douts)
{
    /* the working arrays first (they hold doubles: keep malloc's alignment) */
    float *scratch = yolox_scratch(ctx, "cnnrt_yolox_loss", cnnrt_yolox_scratch(g, n));
    long total = n * cnnrt_yolox_anchors(g);
    float *miou = scratch + cnnrt_yolox_assign_scratch(g);
    int *match = (int *)(miou + total);
    cnnrt_yolox_assign(ctx, g, n, outs, target, match, miou);   /* scratch's head */
    return (float)cnnrt_yolox_loss_fixed(ctx, g, n, outs, target, match, miou, douts);
}
