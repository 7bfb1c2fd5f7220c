/* test_rt_augment.c — the augmentations and the loader (runtime/data/augment.c,
 * loader.c, dump.c) and the trainer's use of them, on data sets built
 * here in memory so that every output pixel can be accounted for:
 *   - "flat" sets: image i is one constant value v_i (distinct per image,
 *     exact in float), so a mosaic is four constant rectangles and a mixup
 *     one constant, from which scale, centre and lambda can be read back;
 *   - "boxed" sets: dark images with bright rectangles, each the box of
 *     its class, so boxes can be checked against the pixels they moved with.
 * Properties: flip twice is the identity (boxes too), p = 0 changes
 * nothing, crop is a shift, mosaic fills the canvas with four tiles around
 * a centre and weights targets by area, boxes stay inside and on their
 * objects, soft targets sum to 1, mixup blends by one lambda, and batches
 * are the same for a seed whatever the threads.  (test_rt_augtrain.c
 * runs the trainer with augmentations.)
 */
#include "cnnrt_data.h"

#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "check_util.h"


static char err[2048];

/* ---- in-memory data sets ---- */
typedef struct {
    cnnrt_dataset base;
    int boxed;              /* bright boxes on a dark ground, else constant images */
    int bad_mod;            /* get() says 1 for i % bad_mod == 1 (0: never) */
} Syn;

static float flat_value(int i)
{
    return (float)(i + 1) / 64;
}

/* the boxes of boxed image i, in pixels [x0, x1) x [y0, y1) of a w x h image */
static int syn_rects(const Syn *s, int i, int r[2][5])
{
    int w = s->base.w, h = s->base.h, n = 1 + i % 2;
    for (int k = 0; k < n; k++) {
        int bw = 3 + (i * 3 + k) % (w / 2), bh = 3 + (i * 5 + k * 7) % (h / 2);
        int x0 = (i * 7 + k * w / 2) % (w - bw), y0 = (i * 11 + k * 5) % (h - bh);
        r[k][0] = (i + k) % s->base.tsize;
        r[k][1] = x0, r[k][2] = y0, r[k][3] = x0 + bw, r[k][4] = y0 + bh;
    }
    return n;
}

static int syn_boxes(const cnnrt_dataset *d, int i, cnnrt_box *box)
{
    const Syn *s = (const Syn *)d;
    int r[2][5], n = syn_rects(s, i, r);
    for (int k = 0; k < n; k++) {
        cnnrt_box b = { r[k][0], (float)r[k][1] / d->w, (float)r[k][2] / d->h,
                        (float)r[k][3] / d->w, (float)r[k][4] / d->h };
        box[k] = b;
    }
    return n;
}

static int syn_get(const cnnrt_dataset *d, int i, float *x, float *t, char *e, size_t elen)
{
    const Syn *s = (const Syn *)d;
    long plane = (long)d->h * d->w;
    if (s->bad_mod && i % s->bad_mod == 1) {
        snprintf(e, elen, "'syn/%d.png': cannot decode the image (test)", i);
        return 1;
    }
    if (!s->boxed) {
        for (long k = 0; k < plane * d->c; k++)
            x[k] = flat_value(i);
        for (int k = 0; t && k < d->tsize; k++)
            t[k] = k == i % d->tsize;
        return 0;
    }
    int r[2][5], n = syn_rects(s, i, r);
    for (int c = 0; c < d->c; c++)
        for (int y = 0; y < d->h; y++)
            for (int xx = 0; xx < d->w; xx++) {
                int in = 0;
                for (int k = 0; k < n; k++)
                    in |= xx >= r[k][1] && xx < r[k][3] && y >= r[k][2] && y < r[k][4];
                x[c * plane + y * d->w + xx] = in ? 1.0f : 0.1f + 0.02f * c;
            }
    if (t) {
        cnnrt_box box[2];
        float total = 0;
        for (int k = 0; k < d->tsize; k++)
            t[k] = 0;
        for (int k = 0; k < syn_boxes(d, i, box); k++) {
            float a = (box[k].x1 - box[k].x0) * (box[k].y1 - box[k].y0);
            t[box[k].cls] += a, total += a;
        }
        for (int k = 0; k < d->tsize; k++)
            t[k] /= total;
    }
    return 0;
}

static void syn_close(cnnrt_dataset *d)
{
    (void)d;
}

static Syn syn(int count, int c, int h, int w, int tsize, int boxed)
{
    Syn s = { { "syn", count, c, h, w, tsize, syn_get, syn_close, boxed ? 2 : 0, 0, NULL,
                boxed ? syn_boxes : NULL, NULL }, boxed, 0 };
    return s;
}

/* ---- batches ---- */
/* one epoch of a loader, every batch concatenated */
typedef struct {
    int n;                  /* samples */
    float *x, *t;
    cnnrt_box *box;         /* n * boxcap */
    int *nbox, *index, boxcap;
} Epoch;

static Epoch run_epoch(const cnnrt_dataset *d, const cnnrt_augment *aug, int naug,
                       int threads, uint64_t seed, int epoch, int batch)
{
    cnnrt_loader *l = cnnrt_loader_new(d, batch, aug, naug, threads, err, sizeof err);
    ck_assert_msg(l != NULL, "%s", err);
    long in = (long)d->c * d->h * d->w;
    size_t n = (size_t)d->count;
    Epoch e = { 0, malloc(sizeof(float) * n * (size_t)in),
                malloc(sizeof(float) * (n * (size_t)d->tsize + 1)), NULL,
                malloc(sizeof(int) * n), malloc(sizeof(int) * n), 0 };
    cnnrt_batch b;
    int rc;
    cnnrt_loader_start(l, seed, epoch, 1);
    while ((rc = cnnrt_loader_next(l, &b, err, sizeof err)) == 1) {
        if (!e.box) {
            e.boxcap = b.boxcap;
            e.box = malloc(sizeof(cnnrt_box) * (size_t)(d->count * (b.boxcap + 1)));
        }
        memcpy(e.x + e.n * in, b.x, sizeof(float) * (size_t)(b.n * in));
        memcpy(e.t + e.n * d->tsize, b.target, sizeof(float) * (size_t)(b.n * d->tsize));
        memcpy(e.box + (size_t)e.n * e.boxcap, b.box,
               sizeof(cnnrt_box) * (size_t)(b.n * b.boxcap));
        memcpy(e.nbox + e.n, b.nbox, sizeof(int) * (size_t)b.n);
        memcpy(e.index + e.n, b.index, sizeof(int) * (size_t)b.n);
        e.n += b.n;
    }
    ck_assert_msg(rc == 0, "%s", err);
    cnnrt_loader_free(l);
    return e;
}

static void free_epoch(Epoch *e)
{
    free(e->x), free(e->t), free(e->box), free(e->nbox), free(e->index);
}

static const cnnrt_box *box_of(const Epoch *e, int k)
{
    return e->box + (size_t)k * e->boxcap;
}

/* a and b hold the same samples: pixels and targets exactly, boxes to tol */
static void expect_same(const cnnrt_dataset *d, const Epoch *a, const Epoch *b, float tol)
{
    long in = (long)d->c * d->h * d->w;
    ck_assert_int_eq(a->n, b->n);
    ck_assert(!memcmp(a->index, b->index, sizeof(int) * (size_t)a->n));
    ck_assert_msg(!memcmp(a->x, b->x, sizeof(float) * (size_t)(a->n * in)), "pixels differ");
    ck_assert_msg(!memcmp(a->t, b->t, sizeof(float) * (size_t)(a->n * d->tsize)),
                  "targets differ");
    for (int k = 0; k < a->n; k++) {
        ck_assert_int_eq(a->nbox[k], b->nbox[k]);
        for (int j = 0; j < a->nbox[k]; j++) {
            const cnnrt_box *p = &box_of(a, k)[j], *q = &box_of(b, k)[j];
            ck_assert_int_eq(p->cls, q->cls);
            ck_assert_msg(fabsf(p->x0 - q->x0) <= tol && fabsf(p->x1 - q->x1) <= tol
                          && fabsf(p->y0 - q->y0) <= tol && fabsf(p->y1 - q->y1) <= tol,
                          "sample %d box %d: (%g %g %g %g) vs (%g %g %g %g)", k, j, p->x0,
                          p->y0, p->x1, p->y1, q->x0, q->y0, q->x1, q->y1);
        }
    }
}

#define AUG(kind, a, b, c, d) { CNNRT_AUG_##kind, { a, b, c, d } }

START_TEST(no_augmentation_is_the_data)
{
    Syn s = syn(37, 3, 8, 8, 4, 1);
    Epoch e = run_epoch(&s.base, NULL, 0, 0, 9, 2, 5);
    ck_assert_int_eq(e.n, 37);
    /* the order is the trainer's shuffle of (seed, epoch) */
    int order[37];
    for (int i = 0; i < 37; i++)
        order[i] = i;
    cnnrt_rng r;
    cnnrt_rng_seed(&r, 9 ^ (0x9E3779B97F4A7C15ull * 3));
    cnnrt_shuffle(&r, order, 37);
    float x[3 * 64], t[4];
    for (int k = 0; k < 37; k++) {
        ck_assert_int_eq(e.index[k], order[k]);
        syn_get(&s.base, order[k], x, t, err, sizeof err);
        ck_assert(!memcmp(e.x + k * 192, x, sizeof x));
        ck_assert(!memcmp(e.t + k * 4, t, sizeof t));
        ck_assert_int_eq(e.nbox[k], 1 + order[k] % 2);
    }
    free_epoch(&e);
}
END_TEST

START_TEST(flip_twice_and_p0_change_nothing)
{
    Syn s = syn(20, 3, 8, 10, 4, 1);
    Epoch plain = run_epoch(&s.base, NULL, 0, 0, 1, 0, 8);
    const cnnrt_augment twice[] = { AUG(FLIP, 1, 0, 0, 0), AUG(FLIP, 1, 0, 0, 0) };
    Epoch e = run_epoch(&s.base, twice, 2, 2, 1, 0, 8);
    expect_same(&s.base, &plain, &e, 1e-6f);
    free_epoch(&e);
    const cnnrt_augment nothing[][1] = { { AUG(FLIP, 0, 0, 0, 0) }, { AUG(CROP, 0, 0, 0, 0) },
                                         { AUG(MOSAIC, 0, 0.5f, 1.5f, 0) },
                                         { AUG(MIXUP, 0.2f, 0, 0, 0) },
                                         { AUG(HSV, 0, 0, 0, 0) } };
    for (int i = 0; i < 5; i++) {
        e = run_epoch(&s.base, nothing[i], 1, 1, 1, 0, 8);
        expect_same(&s.base, &plain, &e, i == 4 ? 1e-6f : 0);
        free_epoch(&e);
    }
    /* one flip mirrors pixels and boxes */
    const cnnrt_augment once[] = { AUG(FLIP, 1, 0, 0, 0) };
    e = run_epoch(&s.base, once, 1, 0, 1, 0, 8);
    for (int k = 0; k < e.n; k++) {
        for (int p = 0; p < 3 * 8; p++)
            for (int x = 0; x < 10; x++)
                ck_assert_float_eq(e.x[k * 240 + p * 10 + x],
                                   plain.x[k * 240 + p * 10 + 9 - x]);
        for (int j = 0; j < e.nbox[k]; j++) {
            ck_assert_float_eq_tol(box_of(&e, k)[j].x0, 1 - box_of(&plain, k)[j].x1, 1e-6);
            ck_assert_float_eq_tol(box_of(&e, k)[j].x1, 1 - box_of(&plain, k)[j].x0, 1e-6);
        }
    }
    free_epoch(&e);
    free_epoch(&plain);
}
END_TEST

/* crop is a shift by (dx, dy) in [-pad, pad] with zeros coming in; boxes
 * shift with it, clipped, or dropped when less than 20% is left */
START_TEST(crop_shifts_pixels_and_boxes)
{
    Syn s = syn(30, 1, 12, 12, 3, 1);
    const cnnrt_augment crop[] = { AUG(CROP, 3, 0, 0, 0) };
    Epoch plain = run_epoch(&s.base, NULL, 0, 0, 4, 0, 7);
    Epoch e = run_epoch(&s.base, crop, 1, 0, 4, 0, 7);
    int shifted = 0;
    for (int k = 0; k < e.n; k++) {
        const float *in = plain.x + k * 144, *out = e.x + k * 144;
        int found = 0;
        for (int dy = -3; dy <= 3 && !found; dy++)
            for (int dx = -3; dx <= 3 && !found; dx++) {
                int ok = 1;
                for (int y = 0; y < 12 && ok; y++)
                    for (int x = 0; x < 12 && ok; x++) {
                        int sy = y + dy, sx = x + dx;
                        int inside = sy >= 0 && sy < 12 && sx >= 0 && sx < 12;
                        float want = inside ? in[sy * 12 + sx] : 0;
                        ok = out[y * 12 + x] == want;
                    }
                if (!ok)
                    continue;
                found = 1;
                shifted += dx || dy;
                int kept = 0;
                for (int j = 0; j < plain.nbox[k]; j++) {
                    cnnrt_box b = box_of(&plain, k)[j];
                    float x0 = fmaxf(b.x0 - dx / 12.0f, 0), x1 = fminf(b.x1 - dx / 12.0f, 1);
                    float y0 = fmaxf(b.y0 - dy / 12.0f, 0), y1 = fminf(b.y1 - dy / 12.0f, 1);
                    if (x1 <= x0 || y1 <= y0
                        || (x1 - x0) * (y1 - y0) < 0.2f * (b.x1 - b.x0) * (b.y1 - b.y0))
                        continue;
                    const cnnrt_box *o = &box_of(&e, k)[kept++];
                    ck_assert(o->cls == b.cls && fabsf(o->x0 - x0) < 1e-6f
                              && fabsf(o->x1 - x1) < 1e-6f && fabsf(o->y0 - y0) < 1e-6f
                              && fabsf(o->y1 - y1) < 1e-6f);
                }
                ck_assert_int_eq(e.nbox[k], kept);
            }
        ck_assert_msg(found, "sample %d is not a shift of its image", k);
    }
    ck_assert_int_gt(shifted, 20);
    free_epoch(&e);
    free_epoch(&plain);
}
END_TEST

/* The quadrant structure of a mosaic of flat images: some centre (xc, yc)
 * splits the picture into four constant rectangles.  Returns 1 and their
 * values, the centre, or 0. */
static int quadrants(const float *x, int h, int w, float v[4], int *xc, int *yc)
{
    v[0] = x[0], v[1] = x[w - 1], v[2] = x[(h - 1) * w], v[3] = x[h * w - 1];
    for (*yc = 1; *yc < h; ++*yc)
        for (*xc = 1; *xc < w; ++*xc) {
            int ok = 1;
            for (int y = 0; y < h && ok; y++)
                for (int i = 0; i < w && ok; i++)
                    ok = x[y * w + i] == v[(y >= *yc) * 2 + (i >= *xc)];
            if (ok)
                return 1;
        }
    return 0;
}

START_TEST(mosaic_fills_the_canvas_and_weights_targets)
{
    Syn s = syn(50, 2, 16, 20, 5, 0);
    const cnnrt_augment mosaic[] = { AUG(MOSAIC, 1, 0.5f, 1.5f, 0) };
    Epoch e = run_epoch(&s.base, mosaic, 1, 2, 3, 0, 8);
    int centres = 0, last = -1;
    for (int k = 0; k < e.n; k++) {
        float v[4];
        int xc, yc;
        const float *x = e.x + k * 640;
        ck_assert_msg(quadrants(x, 16, 20, v, &xc, &yc), "sample %d is not four tiles", k);
        ck_assert_msg(!memcmp(x, x + 320, 320 * sizeof *x), "channels differ");
        ck_assert(xc >= 5 && xc <= 15 && yc >= 4 && yc <= 12);
        centres += xc * 100 + yc != last;
        last = xc * 100 + yc;
        /* tile 0 is the sample itself; the target is the area mix */
        ck_assert_float_eq(v[0], flat_value(e.index[k]));
        float want[5] = { 0 }, sum = 0;
        float area[4] = { (float)xc * yc, (float)(20 - xc) * yc, (float)xc * (16 - yc),
                          (float)(20 - xc) * (16 - yc) };
        for (int q = 0; q < 4; q++) {
            int img = (int)lroundf(v[q] * 64) - 1;
            ck_assert(img >= 0 && img < 50 && flat_value(img) == v[q]);
            want[img % 5] += area[q] / 320;
        }
        for (int c = 0; c < 5; c++) {
            ck_assert_float_eq_tol(e.t[k * 5 + c], want[c], 1e-6);
            sum += e.t[k * 5 + c];
        }
        ck_assert_float_eq_tol(sum, 1, 1e-6);
    }
    ck_assert_int_gt(centres, 25);
    free_epoch(&e);
}
END_TEST

/* every box inside the canvas, on bright pixels (its object), and the
 * class target the area mix of the boxes */
static void expect_boxes_on_objects(const Syn *s, const Epoch *e)
{
    int w = s->base.w, h = s->base.h, boxes = 0;
    for (int k = 0; k < e->n; k++) {
        float want[8] = { 0 }, total = 0;
        for (int j = 0; j < e->nbox[k]; j++, boxes++) {
            const cnnrt_box *b = &box_of(e, k)[j];
            ck_assert_msg(b->x0 >= 0 && b->x0 < b->x1 && b->x1 <= 1 && b->y0 >= 0
                          && b->y0 < b->y1 && b->y1 <= 1, "box (%g %g %g %g) outside",
                          b->x0, b->y0, b->x1, b->y1);
            float a = (b->x1 - b->x0) * (b->y1 - b->y0);
            want[b->cls] += a, total += a;
            /* pixels whose whole footprint is a pixel inside the box */
            for (int y = (int)ceilf(b->y0 * h) + 1; y < (int)floorf(b->y1 * h) - 1; y++)
                for (int x = (int)ceilf(b->x0 * w) + 1; x < (int)floorf(b->x1 * w) - 1; x++)
                    ck_assert_msg(e->x[(long)k * s->base.c * h * w + y * w + x] > 0.99f,
                                  "sample %d box %d (%g %g %g %g): pixel (%d, %d) is %g", k, j,
                                  b->x0, b->y0, b->x1, b->y1, x, y,
                                  e->x[(long)k * s->base.c * h * w + y * w + x]);
        }
        for (int c = 0; c < s->base.tsize; c++)
            ck_assert_float_eq_tol(e->t[k * s->base.tsize + c],
                                   total > 0 ? want[c] / total : 0, 1e-5);
    }
    ck_assert_int_gt(boxes, e->n);
}

START_TEST(boxes_stay_on_their_objects)
{
    Syn s = syn(40, 1, 32, 32, 4, 1);
    const cnnrt_augment mosaic[] = { AUG(MOSAIC, 1, 0.5f, 1.5f, 0) };
    Epoch e = run_epoch(&s.base, mosaic, 1, 2, 7, 0, 8);
    expect_boxes_on_objects(&s, &e);
    free_epoch(&e);
    const cnnrt_augment all[] = { AUG(FLIP, 0.5f, 0, 0, 0), AUG(CROP, 4, 0, 0, 0),
                                  AUG(MOSAIC, 1, 0.3f, 2.0f, 0), AUG(FLIP, 0.5f, 0, 0, 0) };
    e = run_epoch(&s.base, all, 4, 0, 8, 1, 8);
    expect_boxes_on_objects(&s, &e);
    free_epoch(&e);
}
END_TEST

START_TEST(mixup_blends_by_one_lambda)
{
    Syn s = syn(30, 1, 6, 6, 3, 0);
    const cnnrt_augment mix[] = { AUG(MIXUP, 1.0f, 1, 0, 0) };
    Epoch e = run_epoch(&s.base, mix, 1, 1, 5, 0, 8);
    int blended = 0;
    for (int k = 0; k < e.n; k++) {
        int i = e.index[k], found = 0;
        float out = e.x[k * 36];
        for (int p = 1; p < 36; p++)
            ck_assert_float_eq(e.x[k * 36 + p], out);
        /* a partner j of another class: lambda and 1 - lambda in the target,
         * and the same lambda in the pixel; of the same class: one-hot */
        float lam = e.t[k * 3 + i % 3];
        if (fabsf(lam - 1) < 1e-6f)
            found = out >= flat_value(0) && out <= flat_value(29);
        for (int j = 0; j < 30 && !found; j++)
            found = j % 3 != i % 3 && fabsf(e.t[k * 3 + j % 3] - (1 - lam)) < 1e-6f
                && fabsf(lam * flat_value(i) + (1 - lam) * flat_value(j) - out) < 2e-6f;
        ck_assert_msg(found, "sample %d (image %d): pixel %g, target %g %g %g", k, i, out,
                      e.t[k * 3], e.t[k * 3 + 1], e.t[k * 3 + 2]);
        blended += out != flat_value(i);
    }
    ck_assert_int_gt(blended, 20);
    free_epoch(&e);
    /* boxes of both images are kept */
    Syn b = syn(30, 1, 16, 16, 3, 1);
    Epoch plain = run_epoch(&b.base, NULL, 0, 0, 5, 0, 8);
    e = run_epoch(&b.base, mix, 1, 0, 5, 0, 8);
    int more = 0;
    for (int k = 0; k < e.n; k++) {
        ck_assert_int_ge(e.nbox[k], plain.nbox[k] + 1);
        ck_assert_int_le(e.nbox[k], plain.nbox[k] + 2);
        ck_assert(!memcmp(box_of(&e, k), box_of(&plain, k),
                          sizeof(cnnrt_box) * (size_t)plain.nbox[k]));
        more += e.nbox[k] > plain.nbox[k];
    }
    ck_assert_int_eq(more, e.n);
    free_epoch(&e);
    free_epoch(&plain);
}
END_TEST

START_TEST(soft_targets_sum_to_one)
{
    const cnnrt_augment all[] = { AUG(FLIP, 0.5f, 0, 0, 0), AUG(CROP, 2, 0, 0, 0),
                                  AUG(MOSAIC, 0.7f, 0.5f, 1.5f, 0),
                                  AUG(MIXUP, 0.2f, 0.5f, 0, 0), AUG(MIXUP, 2.0f, 1, 0, 0) };
    for (int boxed = 0; boxed < 2; boxed++) {
        Syn s = syn(64, 3, 12, 12, 6, boxed);
        Epoch e = run_epoch(&s.base, all, 5, 2, 11, 3, 16);
        ck_assert_int_eq(e.n, 64);
        for (int k = 0; k < e.n; k++) {
            float sum = 0;
            for (int c = 0; c < 6; c++) {
                ck_assert(e.t[k * 6 + c] >= 0);
                sum += e.t[k * 6 + c];
            }
            if (boxed && e.nbox[k] == 0)
                ck_assert_float_eq(sum, 0);
            else
                ck_assert_msg(fabsf(sum - 1) < 1e-5f, "sample %d: targets sum to %g", k, sum);
        }
        free_epoch(&e);
    }
}
END_TEST

START_TEST(same_seed_same_batches)
{
    Syn s = syn(45, 3, 10, 10, 4, 1);
    const cnnrt_augment all[] = { AUG(HSV, 0.1f, 0.5f, 0.3f, 0), AUG(FLIP, 0.5f, 0, 0, 0),
                                  AUG(CROP, 2, 0, 0, 0), AUG(MOSAIC, 1, 0.5f, 1.5f, 0),
                                  AUG(MIXUP, 1.0f, 0.5f, 0, 0) };
    Epoch a = run_epoch(&s.base, all, 5, 0, 21, 4, 6);
    for (int threads = 1; threads <= 4; threads += 3) {
        Epoch b = run_epoch(&s.base, all, 5, threads, 21, 4, 6);
        expect_same(&s.base, &a, &b, 0);
        free_epoch(&b);
    }
    Epoch other_seed = run_epoch(&s.base, all, 5, 2, 22, 4, 6);
    Epoch other_epoch = run_epoch(&s.base, all, 5, 2, 21, 5, 6);
    ck_assert(memcmp(a.x, other_seed.x, sizeof(float) * 300) != 0);
    ck_assert(memcmp(a.x, other_epoch.x, sizeof(float) * 300) != 0);
    free_epoch(&other_seed);
    free_epoch(&other_epoch);
    free_epoch(&a);
}
END_TEST

START_TEST(hsv_keeps_gray_and_range)
{
    Syn s = syn(20, 3, 8, 8, 4, 1);
    const cnnrt_augment hsv[] = { AUG(HSV, 0.5f, 0.9f, 0.6f, 0) };
    Epoch e = run_epoch(&s.base, hsv, 1, 0, 2, 0, 8);
    Epoch plain = run_epoch(&s.base, NULL, 0, 0, 2, 0, 8);
    int changed = 0;
    for (int k = 0; k < e.n; k++)
        for (int p = 0; p < 64; p++) {
            const float *o = e.x + k * 192 + p, *i = plain.x + k * 192 + p;
            for (int c = 0; c < 3; c++)
                ck_assert(o[c * 64] >= 0 && o[c * 64] <= 1);
            if (i[0] == 1.0f)       /* white objects: saturation 0 stays gray */
                ck_assert(fabsf(o[0] - o[64]) < 1e-6f && fabsf(o[0] - o[128]) < 1e-6f);
            changed += fabsf(o[0] - i[0]) > 1e-3f;
        }
    ck_assert_int_gt(changed, 100);
    free_epoch(&e);
    free_epoch(&plain);
}
END_TEST

static void expect_refused(const cnnrt_dataset *d, cnnrt_augment a, const char *msg)
{
    cnnrt_loader *l = cnnrt_loader_new(d, 4, &a, 1, 0, err, sizeof err);
    ck_assert_ptr_null(l);
    ck_assert_msg(strstr(err, msg) != NULL, "expected '%s' in: %s", msg, err);
}

START_TEST(unfit_augmentations_are_refused)
{
    Syn gray = syn(8, 1, 8, 8, 2, 0), flat = syn(8, 64, 1, 1, 2, 0);
    expect_refused(&gray.base, (cnnrt_augment)AUG(HSV, 0.1f, 0.1f, 0.1f, 0),
                   "'syn': augment 1, 'hsv': needs 3 channels (RGB); the input has 1");
    expect_refused(&flat.base, (cnnrt_augment)AUG(FLIP, 0.5f, 0, 0, 0),
                   "'flip': needs an image input [C, H, W]; the input is flat (64 values)");
    expect_refused(&gray.base, (cnnrt_augment)AUG(MOSAIC, 1, 2, 1, 0),
                   "scale must be [low, high] with 0 < low <= high <= 16, got [2, 1]");
    expect_refused(&gray.base, (cnnrt_augment)AUG(MIXUP, 0, 1, 0, 0),
                   "alpha must be positive");
    expect_refused(&gray.base, (cnnrt_augment){ 9, { 0 } }, "unknown augmentation kind 9");
    Syn rgb = syn(8, 3, 8, 8, 2, 0);
    expect_refused(&rgb.base, (cnnrt_augment)AUG(HSV, 0.7f, 0.5f, 0.5f, 0),
                   "h must be in [0, 0.5], s and v in [0, 1]; got 0.7, 0.5, 0.5");
    /* mixup needs no image */
    cnnrt_augment mix = AUG(MIXUP, 0.2f, 1, 0, 0);
    cnnrt_loader *l = cnnrt_loader_new(&flat.base, 4, &mix, 1, 0, err, sizeof err);
    ck_assert_msg(l != NULL, "%s", err);
    cnnrt_loader_free(l);
}
END_TEST

/* unreadable primaries are left out, unreadable partners replaced */
START_TEST(unreadable_samples_and_partners)
{
    Syn s = syn(40, 1, 8, 8, 4, 0);
    s.bad_mod = 4;                              /* 1, 5, 9, ... cannot be read */
    const cnnrt_augment aug[] = { AUG(MOSAIC, 1, 0.5f, 1.5f, 0), AUG(MIXUP, 0.5f, 1, 0, 0) };
    cnnrt_loader *l = cnnrt_loader_new(&s.base, 8, aug, 2, 2, err, sizeof err);
    ck_assert_msg(l != NULL, "%s", err);
    cnnrt_batch b;
    int n = 0, rc;
    cnnrt_loader_start(l, 1, 0, 1);
    while ((rc = cnnrt_loader_next(l, &b, err, sizeof err)) == 1)
        for (int k = 0; k < b.n; k++, n++) {
            ck_assert_int_ne(b.index[k] % 4, 1);
            for (int p = 0; p < 64; p++)     /* no pixel from an unreadable image (0) */
                ck_assert(b.x[k * 64 + p] > 0);
        }
    ck_assert_int_eq(rc, 0);
    ck_assert_int_eq(n, 30);
    ck_assert_int_eq(cnnrt_loader_skipped(l), 10);
    cnnrt_loader_free(l);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("rt_augment");
    TCase *t = tcase_create("augment");
    tcase_set_timeout(t, 120);
    tcase_add_test(t, no_augmentation_is_the_data);
    tcase_add_test(t, flip_twice_and_p0_change_nothing);
    tcase_add_test(t, crop_shifts_pixels_and_boxes);
    tcase_add_test(t, mosaic_fills_the_canvas_and_weights_targets);
    tcase_add_test(t, boxes_stay_on_their_objects);
    tcase_add_test(t, mixup_blends_by_one_lambda);
    tcase_add_test(t, soft_targets_sum_to_one);
    tcase_add_test(t, same_seed_same_batches);
    tcase_add_test(t, hsv_keeps_gray_and_range);
    tcase_add_test(t, unfit_augmentations_are_refused);
    tcase_add_test(t, unreadable_samples_and_partners);
    suite_add_tcase(s, t);
    return s;
}

int main(void)
{
    return check_run(suite(), 1);
}
