/* test_rt_map.c — COCO-style mAP (runtime/map.c) on hand-made images whose
 * AP is known: perfect (1), half the ground truths found (51/101: the
 * precision is 1 up to recall 0.5, i.e. at 51 of the 101 recall points),
 * none (0), duplicates (false positives), a box of IoU 0.72 (a hit at 5 of
 * the 10 thresholds), ranking across images, classes without ground truth.
 */
#include "cnnrt_train.h"

#include <check.h>
#include <stdlib.h>
#include "check_util.h"

#define MAXB 4

/* ground-truth rows: class, cx, cy, w, h; class -1 pads */
static void gt_clear(float *gt)
{
    for (int k = 0; k < MAXB * 5; k++)
        gt[k] = k % 5 ? 0 : -1;
}

static void gt_box(float *gt, int r, int cls, float x1, float y1, float x2, float y2)
{
    float *t = gt + 5 * r;
    t[0] = (float)cls, t[1] = (x1 + x2) / 2, t[2] = (y1 + y2) / 2;
    t[3] = x2 - x1, t[4] = y2 - y1;
}

static cnnrt_det det(int cls, float score, float x1, float y1, float x2, float y2)
{
    cnnrt_det d = { 0, cls, score, x1, y1, x2, y2 };
    return d;
}

/* two images, each with a class 0 box at (0,0)-(10,10) and a class 1 box
 * at (20,20)-(40,30) */
static void two_gts(float *gt)
{
    gt_clear(gt);
    gt_box(gt, 0, 0, 0, 0, 10, 10);
    gt_box(gt, 1, 1, 20, 20, 40, 30);
}

/* a map of `classes` classes, and gt holding one class 0 box at (0,0)-(10,10) */
static cnnrt_map *one_box(float *gt, int classes)
{
    gt_clear(gt);
    gt_box(gt, 0, 0, 0, 0, 10, 10);
    return cnnrt_map_new(classes);
}

static void result(cnnrt_map *m, int want_present, double *map50, double *map,
                   double *ap50, double *ap)
{
    ck_assert_int_eq(cnnrt_map_result(m, map50, map, ap50, ap), want_present);
    cnnrt_map_free(m);
}

START_TEST(test_perfect)
{
    float gt[MAXB * 5];
    cnnrt_map *m = cnnrt_map_new(3);
    two_gts(gt);
    for (int i = 0; i < 2; i++) {
        cnnrt_det d[2] = { det(1, 0.6f, 20, 20, 40, 30), det(0, 0.9f, 0, 0, 10, 10) };
        ck_assert_int_eq(cnnrt_map_add(m, d, 2, gt, MAXB), 0);
    }
    double map50, map, ap50[3], ap[3];
    result(m, 2, &map50, &map, ap50, ap);
    ck_assert_double_eq_tol(map50, 1, 1e-12);
    ck_assert_double_eq_tol(map, 1, 1e-12);
    ck_assert_double_eq_tol(ap[1], 1, 1e-12);
    ck_assert_double_eq(ap[2], -1);     /* no ground truth of class 2 */
    ck_assert_double_eq(ap50[2], -1);
}
END_TEST

/* class 0 found in one image of two: recall 0.5 at precision 1 */
START_TEST(test_half)
{
    float gt[MAXB * 5];
    cnnrt_map *m = one_box(gt, 2);
    cnnrt_det d = det(0, 0.8f, 0, 0, 10, 10);
    cnnrt_map_add(m, &d, 1, gt, MAXB);
    cnnrt_map_add(m, NULL, 0, gt, MAXB);
    double map50, map, ap[2];
    result(m, 1, &map50, &map, NULL, ap);
    ck_assert_double_eq_tol(map50, 51.0 / 101, 1e-12);
    ck_assert_double_eq_tol(map, 51.0 / 101, 1e-12);
    ck_assert_double_eq(ap[1], -1);
}
END_TEST

/* detections of the wrong class, in the wrong place, or in the other
 * image: nothing is found */
START_TEST(test_none)
{
    float gt[MAXB * 5], empty[MAXB * 5];
    cnnrt_map *m = cnnrt_map_new(2);
    two_gts(gt);
    gt_clear(empty);
    cnnrt_det d[2] = { det(1, 0.9f, 0, 0, 10, 10), det(0, 0.9f, 50, 50, 60, 60) };
    cnnrt_det other = det(0, 0.95f, 0, 0, 10, 10);
    cnnrt_map_add(m, d, 2, gt, MAXB);
    cnnrt_map_add(m, &other, 1, empty, MAXB);
    double map50, map;
    result(m, 2, &map50, &map, NULL, NULL);
    ck_assert_double_eq(map50, 0);
    ck_assert_double_eq(map, 0);
}
END_TEST

/* boxes A and B; detections A 0.9, A again 0.8 (a false positive), B 0.7:
 * precision 1, 1/2, 2/3 at recall 1/2, 1/2, 1; made monotone: 1 up to
 * recall 0.5 (51 points), 2/3 above (50 points) */
START_TEST(test_duplicates)
{
    float gt[MAXB * 5];
    cnnrt_map *m = one_box(gt, 1);
    gt_box(gt, 1, 0, 30, 0, 40, 10);
    cnnrt_det d[3] = { det(0, 0.7f, 30, 0, 40, 10), det(0, 0.9f, 0, 0, 10, 10),
                       det(0, 0.8f, 0.5f, 0, 10, 10) };
    cnnrt_map_add(m, d, 3, gt, MAXB);
    double map50;
    result(m, 1, &map50, NULL, NULL, NULL);
    ck_assert_double_eq_tol(map50, (51 + 50 * 2.0 / 3) / 101, 1e-12);
}
END_TEST

/* IoU 0.72: a hit at 0.5, 0.55, .., 0.7, a miss from 0.75 on */
START_TEST(test_iou_thresholds)
{
    float gt[MAXB * 5];
    cnnrt_map *m = one_box(gt, 1);
    cnnrt_det d = det(0, 0.5f, 0, 0, 10, 7.2f);
    cnnrt_map_add(m, &d, 1, gt, MAXB);
    double map50, map, ap50[1], ap[1];
    result(m, 1, &map50, &map, ap50, ap);
    ck_assert_double_eq_tol(map50, 1, 1e-12);
    ck_assert_double_eq_tol(ap50[0], 1, 1e-12);
    ck_assert_double_eq_tol(map, 0.5, 1e-12);
    ck_assert_double_eq_tol(ap[0], 0.5, 1e-12);
}
END_TEST

/* ranking runs over all images: a false positive of 0.9 in image 1 comes
 * before the hit of 0.6 in image 0, so the precision is 1/2 everywhere */
START_TEST(test_rank_across_images)
{
    float gt[MAXB * 5], empty[MAXB * 5];
    cnnrt_map *m = one_box(gt, 1);
    gt_clear(empty);
    cnnrt_det hit = det(0, 0.6f, 0, 0, 10, 10), miss = det(0, 0.9f, 0, 0, 10, 10);
    cnnrt_map_add(m, &hit, 1, gt, MAXB);
    cnnrt_map_add(m, &miss, 1, empty, MAXB);
    double map50;
    result(m, 1, &map50, NULL, NULL, NULL);
    ck_assert_double_eq_tol(map50, 0.5, 1e-12);
}
END_TEST

/* one detection between two boxes of its class goes to the one it
 * overlaps most; the other box is still there for the next detection */
START_TEST(test_best_overlap)
{
    float gt[MAXB * 5];
    cnnrt_map *m = one_box(gt, 1);
    gt_box(gt, 1, 0, 2, 0, 12, 10);     /* IoU 8/12 with the first */
    cnnrt_det d[2] = { det(0, 0.9f, 2, 0, 12, 10), det(0, 0.8f, 0, 0, 10, 10) };
    cnnrt_map_add(m, d, 2, gt, MAXB);
    double map50, map;
    result(m, 1, &map50, &map, NULL, NULL);
    ck_assert_double_eq_tol(map50, 1, 1e-12);
    ck_assert_double_eq_tol(map, 1, 1e-12);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("map");
    TCase *tc = tcase_create("map");
    tcase_add_test(tc, test_perfect);
    tcase_add_test(tc, test_half);
    tcase_add_test(tc, test_none);
    tcase_add_test(tc, test_duplicates);
    tcase_add_test(tc, test_iou_thresholds);
    tcase_add_test(tc, test_rank_across_images);
    tcase_add_test(tc, test_best_overlap);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return check_run(suite(), 1);
}
