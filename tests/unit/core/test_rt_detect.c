/* test_rt_detect.c — decoding and class-aware NMS (runtime/detect.c) on
 * hand-made raw outputs whose detections are worked out on paper: one
 * level of 2x2 cells, stride 16, two classes, two images.  Objectness
 * logits of 30 make each score the sigmoid of the class logit, so scores
 * are set exactly.
 */
#include "cnnrt_det.h"

#include <check.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "check_util.h"

#define NCH 7           /* 4 box + 1 objectness + 2 classes */
#define HW 4

static cnnrt_yolox_geom geom(void)
{
    cnnrt_yolox_geom g = { .classes = 2, .levels = 1, .h = { 2 }, .w = { 2 },
                           .stride = { 16 } };
    return g;
}

/* image i, cell (0..3) predicts box (cx, cy, w, h) of class cls with score p */
static void put(float *o, int i, int cell, float cx, float cy, float w, float h,
                int cls, double p)
{
    float *c = o + i * NCH * HW;
    c[cell] = cx / 16 - cell % 2;
    c[HW + cell] = cy / 16 - cell / 2;
    c[2 * HW + cell] = logf(w / 16);
    c[3 * HW + cell] = logf(h / 16);
    c[4 * HW + cell] = 30;
    c[(5 + cls) * HW + cell] = (float)log(p / (1 - p));
    c[(6 - cls) * HW + cell] = -30;
}

/* every cell of both images: nothing (objectness -30) */
static void empty(float *o)
{
    for (int k = 0; k < 2 * NCH * HW; k++)
        o[k] = (k / HW) % NCH == 4 ? -30 : 0;
}

/* the worked example:
 *   image 0: cell 0 class 0 0.9 at (6,6)-(26,26); cell 1 class 0 0.8 at
 *            (8,6)-(28,26) (IoU 360/440 = 0.82 with cell 0); cell 2 class 1
 *            0.7 on cell 0's box; cell 3 class 0 0.2 at (1,1)-(7,7)
 *   image 1: cell 0 class 0 0.95 at (3,3)-(13,13); cell 1 class 0 0.5 at
 *            (20,4)-(28,12); cell 3 class 1 0.6 at (20,20)-(28,28) */
static void example(float *o)
{
    empty(o);
    put(o, 0, 0, 16, 16, 20, 20, 0, 0.9);
    put(o, 0, 1, 18, 16, 20, 20, 0, 0.8);
    put(o, 0, 2, 16, 16, 20, 20, 1, 0.7);
    put(o, 0, 3, 4, 4, 6, 6, 0, 0.2);
    put(o, 1, 0, 8, 8, 10, 10, 0, 0.95);
    put(o, 1, 1, 24, 8, 8, 8, 0, 0.5);
    put(o, 1, 3, 24, 24, 8, 8, 1, 0.6);
}

static int run(float thr, float nms, cnnrt_det *out, int max)
{
    static float o[2 * NCH * HW];
    cnnrt_yolox_geom g = geom();
    example(o);
    const float *outs[1] = { o };
    cnnrt_ctx ctx = { malloc(cnnrt_detect_scratch(&g) * sizeof(float)), 1, NULL };
    int n = cnnrt_detect(&ctx, &g, 2, outs, thr, nms, out, max);
    free(ctx.scratch);
    return n;
}

static void expect(const cnnrt_det *d, int image, int cls, double score,
                   float x1, float y1, float x2, float y2)
{
    ck_assert_int_eq(d->image, image);
    ck_assert_int_eq(d->cls, cls);
    ck_assert_double_eq_tol(d->score, score, 1e-6);
    ck_assert_float_eq_tol(d->x1, x1, 1e-4);
    ck_assert_float_eq_tol(d->y1, y1, 1e-4);
    ck_assert_float_eq_tol(d->x2, x2, 1e-4);
    ck_assert_float_eq_tol(d->y2, y2, 1e-4);
}

/* suppression, another class kept, threshold, sorted, images in order */
START_TEST(test_example)
{
    cnnrt_det d[16];
    ck_assert_int_eq(run(0.3f, 0.5f, d, 16), 5);
    expect(&d[0], 0, 0, 0.9, 6, 6, 26, 26);
    expect(&d[1], 0, 1, 0.7, 6, 6, 26, 26);     /* same box, other class */
    expect(&d[2], 1, 0, 0.95, 3, 3, 13, 13);
    expect(&d[3], 1, 1, 0.6, 20, 20, 28, 28);
    expect(&d[4], 1, 0, 0.5, 20, 4, 28, 12);    /* same class, no overlap */
}
END_TEST

/* an NMS threshold above their IoU (0.82) keeps the overlapping pair */
START_TEST(test_nms_threshold)
{
    cnnrt_det d[16];
    ck_assert_int_eq(run(0.3f, 0.85f, d, 16), 6);
    expect(&d[1], 0, 0, 0.8, 8, 6, 28, 26);
    ck_assert_int_eq(run(0.3f, 0.8f, d, 16), 5);
}
END_TEST

/* the score threshold: 0.2 passes at 0.15, and nothing passes at 0.96 */
START_TEST(test_score_threshold)
{
    cnnrt_det d[16];
    ck_assert_int_eq(run(0.15f, 0.5f, d, 16), 6);
    expect(&d[2], 0, 0, 0.2, 1, 1, 7, 7);
    ck_assert_int_eq(run(0.96f, 0.5f, d, 16), 0);
    ck_assert_int_eq(run(0.9f, 0.5f, d, 16), 2);
}
END_TEST

/* max reached: the first three of the sorted output, nothing written past */
START_TEST(test_max)
{
    cnnrt_det d[16];
    memset(d, 0, sizeof d);
    d[3].image = 77;
    ck_assert_int_eq(run(0.3f, 0.5f, d, 3), 3);
    expect(&d[2], 1, 0, 0.95, 3, 3, 13, 13);
    ck_assert_int_eq(d[3].image, 77);
    ck_assert_int_eq(run(0.3f, 0.5f, d, 0), 0);
}
END_TEST

/* equal scores: a fixed order (class, then corners), whatever the cells */
START_TEST(test_ties)
{
    static float o[2 * NCH * HW];
    cnnrt_yolox_geom g = geom();
    empty(o);
    put(o, 0, 0, 24, 24, 4, 4, 1, 0.75);
    put(o, 0, 1, 8, 8, 4, 4, 1, 0.75);
    put(o, 0, 3, 24, 8, 4, 4, 0, 0.75);
    const float *outs[1] = { o };
    cnnrt_ctx ctx = { malloc(cnnrt_detect_scratch(&g) * sizeof(float)), 1, NULL };
    cnnrt_det d[4];
    ck_assert_int_eq(cnnrt_detect(&ctx, &g, 1, outs, 0.5f, 0.5f, d, 4), 3);
    expect(&d[0], 0, 0, 0.75, 22, 6, 26, 10);
    expect(&d[1], 0, 1, 0.75, 6, 6, 10, 10);
    expect(&d[2], 0, 1, 0.75, 22, 22, 26, 26);
    free(ctx.scratch);
}
END_TEST

START_TEST(test_iou)
{
    cnnrt_det a = { 0, 0, 1, 0, 0, 10, 10 }, b = { 0, 0, 1, 5, 0, 15, 10 };
    ck_assert_double_eq_tol(cnnrt_det_iou(&a, &b), 50.0 / 150, 1e-9);
    b.x1 = 10, b.x2 = 20;       /* touching: no overlap */
    ck_assert_double_eq(cnnrt_det_iou(&a, &b), 0);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("detect");
    TCase *tc = tcase_create("detect");
    tcase_add_test(tc, test_example);
    tcase_add_test(tc, test_nms_threshold);
    tcase_add_test(tc, test_score_threshold);
    tcase_add_test(tc, test_max);
    tcase_add_test(tc, test_ties);
    tcase_add_test(tc, test_iou);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return check_run(suite(), 1);
}
