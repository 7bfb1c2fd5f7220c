/* test_rt_yolox.c — the yolox loss (runtime/yolox.c): its assignment,
 * loss and gradients against an independent PyTorch implementation
 * (tests/fixtures/yolox.txt, made by make_yolox.py; this test only reads
 * it), finite differences with the assignment held fixed, and hand-made
 * cases whose assignment or loss can be worked out on paper: dynamic k,
 * conflicts, images without boxes, more boxes than cells.  It also times
 * loss + backward at the size of DETECTION.md's example.
 */
#include "cnnrt_det.h"

#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "check_util.h"

/* reference tolerances: the C code computes in double from the same
 * float32 inputs, and rounds gradients to float */
#define LOSS_REL  1e-6
#define MIOU_ABS  1e-6
#define GRAD_ABS  1e-7
#define GRAD_REL  1e-5

/* ---- the fixture ---- */
typedef struct {
    char name[64];
    cnnrt_yolox_geom g;
    int n;
    float *out[CNNRT_DET_LEVELS];
    double *grad[CNNRT_DET_LEVELS];
    float *target;
    int *match;
    double *miou;
    double loss;
} Case;

static long level_size(const Case *c, int l)
{
    return (long)c->n * (5 + c->g.classes) * c->g.h[l] * c->g.w[l];
}

static void fixture_path(char *buf, size_t len, const char *name)
{
    const char *self = __FILE__;
    const char *unit = strstr(self, "unit/core/test_rt_yolox.c");
    if (unit)
        snprintf(buf, len, "%.*sfixtures/%s", (int)(unit - self), self, name);
    else
        snprintf(buf, len, "tests/fixtures/%s", name);
}

/* the numbers after a record's key (and level index), at most max */
static long read_numbers(char *rest, double *v, long max)
{
    long k = 0;
    char *end;
    for (;;) {
        double x = strtod(rest, &end);
        if (end == rest || k == max)
            return k;
        v[k++] = x;
        rest = end;
    }
}

/* every case of yolox.txt; returns how many */
static int load_cases(Case *cs, int max)
{
    char path[512];
    fixture_path(path, sizeof path, "yolox.txt");
    FILE *f = fopen(path, "r");
    ck_assert_msg(f != NULL, "cannot open %s", path);
    static char line[1 << 20];
    static double v[1 << 16];
    int nc = 0;
    Case *c = NULL;
    while (fgets(line, sizeof line, f)) {
        char key[16];
        int off = 0, l = 0;
        if (sscanf(line, "%15s%n", key, &off) != 1)
            continue;
        char *rest = line + off;
        if (!strcmp(key, "case")) {
            ck_assert_int_lt(nc, max);
            c = &cs[nc++];
            memset(c, 0, sizeof *c);
            sscanf(rest, "%63s", c->name);
        } else if (!strcmp(key, "geom")) {
            cnnrt_yolox_geom *g = &c->g;
            ck_assert_int_eq(sscanf(rest, "%d %d %d %d %d %f %f", &g->classes, &g->levels,
                                    &c->n, &g->max_boxes, &g->topk, &g->reg_weight,
                                    &g->center_radius), 7);
            g->levels = 0;      /* counted again by the level lines */
        } else if (!strcmp(key, "level")) {
            cnnrt_yolox_geom *g = &c->g;
            sscanf(rest, "%d %d %d", &g->h[g->levels], &g->w[g->levels],
                   &g->stride[g->levels]);
            g->levels++;
        } else if (!strcmp(key, "out") || !strcmp(key, "grad")) {
            sscanf(rest, "%d%n", &l, &off);
            long want = level_size(c, l);
            ck_assert_int_eq(read_numbers(rest + off, v, 1 << 16), want);
            if (key[0] == 'o') {
                c->out[l] = malloc(want * sizeof(float));
                for (long k = 0; k < want; k++)
                    c->out[l][k] = (float)v[k];
            } else {
                c->grad[l] = malloc(want * sizeof(double));
                memcpy(c->grad[l], v, want * sizeof(double));
            }
        } else if (!strcmp(key, "target")) {
            long want = (long)c->n * c->g.max_boxes * 5;
            ck_assert_int_eq(read_numbers(rest, v, 1 << 16), want);
            c->target = malloc(want * sizeof(float));
            for (long k = 0; k < want; k++)
                c->target[k] = (float)v[k];
        } else if (!strcmp(key, "match") || !strcmp(key, "miou")) {
            long want = c->n * cnnrt_yolox_anchors(&c->g);
            ck_assert_int_eq(read_numbers(rest, v, 1 << 16), want);
            if (key[1] == 'a') {
                c->match = malloc(want * sizeof(int));
                for (long k = 0; k < want; k++)
                    c->match[k] = (int)v[k];
            } else {
                c->miou = malloc(want * sizeof(double));
                memcpy(c->miou, v, want * sizeof(double));
            }
        } else if (!strcmp(key, "loss")) {
            c->loss = strtod(rest, NULL);
        }
    }
    fclose(f);
    return nc;
}

static void free_case(Case *c)
{
    for (int l = 0; l < c->g.levels; l++)
        free(c->out[l]), free(c->grad[l]);
    free(c->target), free(c->match), free(c->miou);
}

/* ---- running the loss on a case ---- */
typedef struct {
    float *d[CNNRT_DET_LEVELS];
    cnnrt_ctx ctx;          /* its scratch: cnnrt_yolox_scratch floats */
    int *match;
    float *miou;
} Run;

static Run run_new(const Case *c)
{
    Run r;
    for (int l = 0; l < c->g.levels; l++)
        r.d[l] = malloc(level_size(c, l) * sizeof(float));
    long total = c->n * cnnrt_yolox_anchors(&c->g);
    r.ctx = (cnnrt_ctx){ malloc(cnnrt_yolox_scratch(&c->g, c->n) * sizeof(float)), 1, NULL };
    r.match = malloc(total * sizeof(int));
    r.miou = malloc(total * sizeof(float));
    return r;
}

static void run_free(const Case *c, Run *r)
{
    for (int l = 0; l < c->g.levels; l++)
        free(r->d[l]);
    free(r->ctx.scratch), free(r->match), free(r->miou);
}

static const float *const *outs_of(const Case *c)
{
    return (const float *const *)c->out;
}

/* ---- against PyTorch ---- */
START_TEST(test_reference)
{
    static Case cs[8];
    int nc = load_cases(cs, 8);
    ck_assert_int_ge(nc, 4);
    for (int k = 0; k < nc; k++) {
        Case *c = &cs[k];
        Run r = run_new(c);
        float loss = cnnrt_yolox_loss(&r.ctx, &c->g, c->n, outs_of(c), c->target, r.d);
        /* the assignment, then the loss and gradient it led to */
        long total = c->n * cnnrt_yolox_anchors(&c->g), fg = 0;
        cnnrt_yolox_assign(&r.ctx, &c->g, c->n, outs_of(c), c->target, r.match, r.miou);
        double miou_err = 0;
        for (long a = 0; a < total; a++) {
            ck_assert_msg(r.match[a] == c->match[a], "%s: anchor %ld matched to %d, torch %d",
                          c->name, a, r.match[a], c->match[a]);
            fg += r.match[a] >= 0;
            miou_err = fmax(miou_err, fabs(r.miou[a] - c->miou[a]));
        }
        ck_assert_msg(miou_err <= MIOU_ABS, "%s: assignment iou off by %g", c->name, miou_err);
        double lerr = fabs(loss - c->loss) / fabs(c->loss);
        ck_assert_msg(lerr <= LOSS_REL, "%s: loss %.9g, torch %.9g", c->name, loss, c->loss);
        double gabs = 0, grel = 0;
        int bad = 0;
        for (int l = 0; l < c->g.levels; l++)
            for (long e = 0; e < level_size(c, l); e++) {
                double want = c->grad[l][e], got = r.d[l][e];
                double err = fabs(got - want);
                gabs = fmax(gabs, err);
                if (fabs(want) > 1e-3)
                    grel = fmax(grel, err / fabs(want));
                if (err > GRAD_ABS + GRAD_REL * fabs(want) && bad++ < 5)
                    fprintf(stderr, "%s: level %d element %ld: grad %.9g, torch %.9g\n",
                            c->name, l, e, got, want);
            }
        ck_assert_msg(!bad, "%s: %d gradient elements differ from torch", c->name, bad);
        printf("yolox reference %-18s fg %3ld  loss rel err %.1e  miou abs err %.1e  "
               "grad abs err %.1e, rel err (|g| > 1e-3) %.1e\n",
               c->name, fg, lerr, miou_err, gabs, grel);
        run_free(c, &r);
        free_case(c);
    }
}
END_TEST

/* ---- finite differences, assignment held fixed ---- */
#define FD_TOL_ABS 2e-5
#define FD_TOL_REL 2e-3

START_TEST(test_finite_differences)
{
    static Case cs[8];
    int nc = load_cases(cs, 8);
    for (int k = 0; k < nc; k++) {
        Case *c = &cs[k];
        Run r = run_new(c);
        cnnrt_yolox_assign(&r.ctx, &c->g, c->n, outs_of(c), c->target, r.match, r.miou);
        cnnrt_yolox_loss_fixed(NULL, &c->g, c->n, outs_of(c), c->target, r.match, r.miou, r.d);
        int bad = 0;
        long checked = 0;
        double worst = 0;
        for (int l = 0; l < c->g.levels; l++)
            for (long e = 0; e < level_size(c, l); e++) {
                float x = c->out[l][e];
                float xp = x + 1e-3f, xm = x - 1e-3f;
                c->out[l][e] = xp;
                double lp = cnnrt_yolox_loss_fixed(NULL, &c->g, c->n, outs_of(c), c->target,
                                                   r.match, r.miou, NULL);
                c->out[l][e] = xm;
                double lm = cnnrt_yolox_loss_fixed(NULL, &c->g, c->n, outs_of(c), c->target,
                                                   r.match, r.miou, NULL);
                c->out[l][e] = x;
                double fd = (lp - lm) / ((double)xp - xm), an = r.d[l][e];
                double err = fabs(fd - an);
                worst = fmax(worst, err);
                checked++;
                if (err > FD_TOL_ABS + FD_TOL_REL * fabs(fd) && bad++ < 5)
                    fprintf(stderr, "%s: level %d element %ld: analytic %.9g, "
                            "finite difference %.9g\n", c->name, l, e, an, fd);
            }
        ck_assert_msg(!bad, "%s: %d of %ld gradient elements fail the finite-difference "
                      "check", c->name, bad, checked);
        printf("yolox fd %-18s %5ld elements, worst abs err %.1e\n", c->name, checked, worst);
        run_free(c, &r);
        free_case(c);
    }
}
END_TEST

/* ---- hand-made cases: one 4x4 level of stride 8, a 32x32 picture ---- */
#define HW 16

static cnnrt_yolox_geom hand_geom(int classes, int max_boxes)
{
    cnnrt_yolox_geom g = { .classes = classes, .levels = 1, .h = { 4 }, .w = { 4 },
                           .stride = { 8 }, .reg_weight = 5, .center_radius = 2.5,
                           .topk = 10, .max_boxes = max_boxes };
    return g;
}

/* cell (x, y) predicts the box (cx, cy, w, h) in pixels */
static void predict(float *o, int x, int y, float cx, float cy, float w, float h)
{
    int cell = y * 4 + x;
    o[cell] = cx / 8 - x;
    o[HW + cell] = cy / 8 - y;
    o[2 * HW + cell] = logf(w / 8);
    o[3 * HW + cell] = logf(h / 8);
}

/* every cell predicts a tiny box on its own centre (IoU 0 with anything
 * that does not contain it), logits 0 */
static void hand_outs(float *o, int classes)
{
    memset(o, 0, sizeof(float) * (5 + classes) * HW);
    for (int y = 0; y < 4; y++)
        for (int x = 0; x < 4; x++)
            predict(o, x, y, x * 8 + 4, y * 8 + 4, 0.1f, 0.1f);
}

/* the fg cells of the assignment of image 0 as a bit mask, rows in m */
static int assign_mask(const cnnrt_yolox_geom *g, const float *o, const float *t,
                       int *m, float *miou)
{
    cnnrt_ctx ctx = { malloc(cnnrt_yolox_assign_scratch(g) * sizeof(float)), 1, NULL };
    const float *outs[1] = { o };
    cnnrt_yolox_assign(&ctx, g, 1, outs, t, m, miou);
    free(ctx.scratch);
    int mask = 0;
    for (int a = 0; a < HW; a++)
        if (m[a] >= 0)
            mask |= 1 << a;
    return mask;
}

#define BIT(x, y) (1 << ((y) * 4 + (x)))

/* the box (8..24)^2 holds the centres of cells (1..2, 1..2); its centre
 * square of half side 20 holds every cell, so all 16 are candidates */
START_TEST(test_dynamic_k)
{
    cnnrt_yolox_geom g = hand_geom(1, 1);
    float o[6 * HW], t[5] = { 0, 16, 16, 16, 16 }, miou[HW];
    int m[HW];
    /* (IoUs of "exact" predictions are 1 - a float rounding, so the sums
     * below stay clear of whole numbers, where trunc would flip) */
    /* four exact predictions and one outside the box at IoU 0.5: the IoUs
     * sum to 4.5, k = 4, the outside cell costs 1e5 more and is left */
    hand_outs(o, 1);
    for (int y = 1; y <= 2; y++)
        for (int x = 1; x <= 2; x++)
            predict(o, x, y, 16, 16, 16, 16);
    predict(o, 0, 0, 16, 16, 16, 8);
    ck_assert_int_eq(assign_mask(&g, o, t, m, miou),
                     BIT(1, 1) | BIT(2, 1) | BIT(1, 2) | BIT(2, 2));
    ck_assert_float_eq_tol(miou[5], 1, 1e-5);
    /* one of them at half the area, none outside: 3.5, k = 3, worst out */
    predict(o, 0, 0, 4, 4, 0.1f, 0.1f);
    predict(o, 2, 2, 16, 16, 16, 8);
    ck_assert_int_eq(assign_mask(&g, o, t, m, miou), BIT(1, 1) | BIT(2, 1) | BIT(1, 2));
    /* topk = 3 sums only 1 + 1 + 0.5 of 1, 1, 0.5, 0.5: k = 2 */
    predict(o, 1, 2, 16, 16, 8, 16);
    g.topk = 3;
    ck_assert_int_eq(assign_mask(&g, o, t, m, miou), BIT(1, 1) | BIT(2, 1));
    /* topk = 0 sums nothing: k = 1, one of the two exact ones */
    g.topk = 0;
    int one = assign_mask(&g, o, t, m, miou);
    ck_assert_int_eq(__builtin_popcount(one), 1);
    ck_assert(one & (BIT(1, 1) | BIT(2, 1)));
    g.topk = 10;
    /* IoUs 0.5 outside the box and 0.25 in it (the other cells' tiny
     * boxes add ~1e-4): k = max(1, trunc(0.75)) = 1, and the cell in box
     * and centre wins despite its lower IoU (the outside one costs 1e5) */
    hand_outs(o, 1);
    predict(o, 0, 0, 16, 16, 16, 8);
    predict(o, 1, 1, 16, 16, 8, 8);
    ck_assert_int_eq(assign_mask(&g, o, t, m, miou), BIT(1, 1));
    ck_assert_float_eq_tol(miou[5], 0.25, 1e-6);
    ck_assert_int_eq(m[5], 0);
}
END_TEST

/* two ground truths of classes 0 and 1 on the same box both take cell
 * (1,1), the only overlapping prediction; the class logits decide */
START_TEST(test_conflict_to_cheapest)
{
    cnnrt_yolox_geom g = hand_geom(2, 2);
    float o[7 * HW], t[10] = { 0, 16, 16, 16, 16, 1, 16, 16, 16, 16 }, miou[HW];
    int m[HW];
    for (int flip = 0; flip < 2; flip++) {
        hand_outs(o, 2);
        predict(o, 1, 1, 16, 16, 16, 16);
        o[5 * HW + 5] = flip ? -4 : 4;      /* class 0 logit of cell (1,1) */
        o[6 * HW + 5] = flip ? 4 : -4;      /* class 1 */
        ck_assert_int_eq(assign_mask(&g, o, t, m, miou), BIT(1, 1));
        ck_assert_int_eq(m[5], flip);
    }
    /* same classes: equal costs, the first row keeps it */
    t[5] = 0;
    ck_assert_int_eq(assign_mask(&g, o, t, m, miou), BIT(1, 1));
    ck_assert_int_eq(m[5], 0);
}
END_TEST

/* DETECTION.md: "A cell taken by several ground truths keeps the one with
 * the lowest cost" -- of those that took it.  Three ground truths on one
 * box (classes 0, 1, 2), predictions at IoU 0.8 in cells X = (1,1) and
 * Y = (2,2) only, so k = 1 for each.  Costs (objectness logit 0):
 *   X: class logits 4, 3, 6:  A 2.752, B 2.802, C 2.726
 *   Y: class logits -4, -4, 8: A 3.68,  B 3.68,  C 0.546
 * A and B take X, C takes Y.  X goes to A, the cheaper of its takers;
 * C is cheaper still at X, but did not take it (YOLOX's code, an argmin
 * over every ground truth, would give X to C). */
START_TEST(test_conflict_among_takers)
{
    cnnrt_yolox_geom g = hand_geom(3, 3);
    float o[8 * HW], miou[HW];
    float t[15] = { 0, 16, 16, 16, 16, 1, 16, 16, 16, 16, 2, 16, 16, 16, 16 };
    int m[HW];
    hand_outs(o, 3);
    predict(o, 1, 1, 16, 16, 16, 12.8f);
    predict(o, 2, 2, 16, 16, 16, 12.8f);
    o[5 * HW + 5] = 4, o[6 * HW + 5] = 3, o[7 * HW + 5] = 6;
    o[5 * HW + 10] = -4, o[6 * HW + 10] = -4, o[7 * HW + 10] = 8;
    ck_assert_int_eq(assign_mask(&g, o, t, m, miou), BIT(1, 1) | BIT(2, 2));
    ck_assert_int_eq(m[5], 0);
    ck_assert_int_eq(m[10], 2);
    ck_assert_float_eq_tol(miou[5], 0.8, 1e-5);
}
END_TEST

/* no ground truth: no foreground, F = 1, only the objectness term:
 * loss = sum softplus(obj), d obj = sigmoid(obj), all else 0 */
START_TEST(test_no_boxes)
{
    cnnrt_yolox_geom g = hand_geom(3, 2);
    g.levels = 2, g.h[1] = g.w[1] = 2, g.stride[1] = 16;
    const int n = 2, nch = 8;
    float o0[2 * 8 * 16], o1[2 * 8 * 4], d0[2 * 8 * 16], d1[2 * 8 * 4];
    float t[2 * 2 * 5];
    for (int k = 0; k < 20; k++)
        t[k] = k % 5 ? 3 : -1;              /* padding rows */
    double want = 0;
    for (int k = 0; k < 2 * 8 * 16; k++)
        o0[k] = (float)((k * 37 % 19) - 9) / 3;
    for (int k = 0; k < 2 * 8 * 4; k++)
        o1[k] = (float)((k * 23 % 17) - 8) / 2;
    for (int i = 0; i < n; i++) {
        for (int c = 0; c < 16; c++)
            want += log1p(exp(o0[(i * nch + 4) * 16 + c]));
        for (int c = 0; c < 4; c++)
            want += log1p(exp(o1[(i * nch + 4) * 4 + c]));
    }
    const float *outs[2] = { o0, o1 };
    float *douts[2] = { d0, d1 };
    cnnrt_ctx ctx = { malloc(cnnrt_yolox_scratch(&g, n) * sizeof(float)), 1, NULL };
    float loss = cnnrt_yolox_loss(&ctx, &g, n, outs, t, douts);
    ck_assert_double_eq_tol(loss, want, 1e-5 * want);
    for (int i = 0; i < n; i++)
        for (int ch = 0; ch < nch; ch++)
            for (int c = 0; c < 16; c++) {
                float z = o0[(i * nch + ch) * 16 + c], d = d0[(i * nch + ch) * 16 + c];
                ck_assert_float_eq_tol(d, ch == 4 ? 1 / (1 + expf(-z)) : 0, 1e-6);
            }
    for (int k = 0; k < 2 * 8 * 4; k++)
        ck_assert_float_eq_tol(d1[k], (k / 4) % nch == 4 ? 1 / (1 + expf(-o1[k])) : 0, 1e-6);
    free(ctx.scratch);
}
END_TEST

/* six boxes over four cells: every box takes at least one cell, so all
 * four are foreground, each kept by one of the rows that took it */
START_TEST(test_more_boxes_than_cells)
{
    cnnrt_yolox_geom g = { .classes = 2, .levels = 1, .h = { 2 }, .w = { 2 },
                           .stride = { 16 }, .reg_weight = 5, .center_radius = 2.5,
                           .topk = 10, .max_boxes = 6 };
    float o[7 * 4], miou[4], d[7 * 4];
    int m[4];
    for (int k = 0; k < 28; k++)
        o[k] = (float)((k * 7 % 11) - 5) / 10;
    float t[30] = { 0, 8, 8, 14, 14, 1, 9, 7, 12, 16, 0, 24, 8, 10, 12,
                    1, 23, 25, 16, 14, 0, 9, 24, 12, 12, 1, 16, 16, 20, 20 };
    const float *outs[1] = { o };
    float *douts[1] = { d };
    cnnrt_ctx ctx = { malloc(cnnrt_yolox_scratch(&g, 1) * sizeof(float)), 1, NULL };
    cnnrt_yolox_assign(&ctx, &g, 1, outs, t, m, miou);
    for (int a = 0; a < 4; a++) {
        ck_assert_int_ge(m[a], 0);
        ck_assert_int_lt(m[a], 6);
    }
    /* the full loss is the loss of that assignment; every cell is
     * foreground, so every objectness gradient is (sigmoid(z) - 1) / 4 */
    float loss = cnnrt_yolox_loss(&ctx, &g, 1, outs, t, douts);
    double fixed = cnnrt_yolox_loss_fixed(NULL, &g, 1, outs, t, m, miou, NULL);
    ck_assert_double_eq_tol(loss, fixed, 1e-6 * fixed);
    for (int a = 0; a < 4; a++)
        ck_assert_float_eq_tol(d[16 + a], (1 / (1 + expf(-o[16 + a])) - 1) / 4, 1e-6);
    free(ctx.scratch);
}
END_TEST

/* ---- cost of loss + backward at the example's size ---- */
START_TEST(test_time_batch16)
{
    cnnrt_yolox_geom g = { .classes = 10, .levels = 2, .h = { 16, 8 }, .w = { 16, 8 },
                           .stride = { 8, 16 }, .reg_weight = 5, .center_radius = 2.5,
                           .topk = 10, .max_boxes = 50 };
    const int n = 16;
    long s0 = (long)n * 15 * 256, s1 = (long)n * 15 * 64;
    float *o0 = malloc(s0 * sizeof(float)), *o1 = malloc(s1 * sizeof(float));
    float *d0 = malloc(s0 * sizeof(float)), *d1 = malloc(s1 * sizeof(float));
    float *t = malloc((long)n * 50 * 5 * sizeof(float));
    unsigned u = 12345;
#define RND() ((u = u * 1103515245u + 12345u) >> 8 & 0xffff) / 65536.0f
    for (int l = 0; l < 2; l++) {
        float *o = l ? o1 : o0;
        long hw = l ? 64 : 256;
        for (long k = 0; k < (l ? s1 : s0); k++) {
            long ch = k / hw % 15;
            o[k] = ch < 2 ? RND() : ch < 4 ? logf((8 + 40 * RND()) / (l ? 16 : 8))
                 : 4 * RND() - 5;
        }
    }
    for (int k = 0; k < n * 50; k++) {
        float *r = t + 5 * k;
        r[0] = (float)(k % 10), r[1] = 128 * RND(), r[2] = 128 * RND();
        r[3] = 8 + 40 * RND(), r[4] = 8 + 40 * RND();
    }
    const float *outs[2] = { o0, o1 };
    float *douts[2] = { d0, d1 };
    cnnrt_ctx ctx = { malloc(cnnrt_yolox_scratch(&g, n) * sizeof(float)), 1, NULL };
    struct timespec a, b;
    const int reps = 10;
    float loss = 0;
    clock_gettime(CLOCK_MONOTONIC, &a);
    for (int r = 0; r < reps; r++)
        loss = cnnrt_yolox_loss(&ctx, &g, n, outs, t, douts);
    clock_gettime(CLOCK_MONOTONIC, &b);
    double ms = ((b.tv_sec - a.tv_sec) * 1e3 + (b.tv_nsec - a.tv_nsec) / 1e6) / reps;
    printf("yolox loss+backward, batch 16, 128x128, levels 16x16+8x8, 10 classes, "
           "50 boxes: %.2f ms (loss %.4f)\n", ms, loss);
    ck_assert(isfinite(loss));
    ck_assert_double_lt(ms, 1000);
    free(o0), free(o1), free(d0), free(d1), free(t), free(ctx.scratch);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("yolox");
    TCase *tc = tcase_create("yolox");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_reference);
    tcase_add_test(tc, test_finite_differences);
    tcase_add_test(tc, test_dynamic_k);
    tcase_add_test(tc, test_conflict_to_cheapest);
    tcase_add_test(tc, test_conflict_among_takers);
    tcase_add_test(tc, test_no_boxes);
    tcase_add_test(tc, test_more_boxes_than_cells);
    tcase_add_test(tc, test_time_batch16);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return check_run(suite(), 1);
}
