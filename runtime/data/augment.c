/* augment.c — the augmentations of the `train` block (LANGUAGE.md section
 * 5), applied to one sample at a time: image, class target and boxes.
 *
 * A sample is built by fetching it from the data set and running it
 * through the list in order.  Mosaic and mixup need other samples: each
 * partner is a random index built through the steps BEFORE the one that
 * asks for it ("already augmented"), so [flip, mosaic, mixup] flips the
 * four tiles, then blends two mosaics.  Partners nest (a mixup partner
 * may itself be a mosaic) and each step keeps its own partner buffers, so
 * building them never overwrites a buffer still in use.
 *
 * Randomness: the sample's key is a hash of (seed, epoch, index); step k
 * draws from a generator seeded with hash(key, k), and partner t of step
 * k gets the key hash(hash(key, k), t + 1).  Nothing depends on which
 * thread builds the sample or on what it built before, which is what
 * makes batches independent of threads and resumed runs bit-identical.
 *
 * Geometry: crop shifts by whole pixels, zeros coming in.  Mosaic puts
 * its centre in the middle half of each axis, scales each tile's image by
 * a factor drawn from [lo, hi] (raised where needed to cover the tile's
 * quadrant) and shows a random window of it, resampled bilinear.  A box
 * left with less than CNNRT_BOX_KEEP (20%) of its area by a crop or a
 * mosaic is dropped.  hsv shifts the hue by up to +-h of a turn and
 * multiplies saturation and value by gains in [1 - s, 1 + s] and
 * [1 - v, 1 + v], one draw each per sample.
 *
 * Targets: a classification target moves with its image (flip, crop and
 * hsv leave it alone); mosaic makes it the area-weighted mix of its four
 * tiles; mixup blends two by lambda.  For detection data (d->maxbox > 0)
 * the class target is a function of the boxes (cnnrt_box_target), so crop
 * and mosaic, which cut boxes, compute it again from the boxes left;
 * mixup still blends by lambda and keeps the boxes of both, except that a
 * side without boxes (no class: an all-zero target) leaves the whole
 * target to the other side, so that a target sums to 1 or is all zero.
 *
 * Recording (cnnrt_augmenter_record, for --dump-aug's samples.txt): each
 * step writes what it drew (flip or not, crop shift, hsv gains, mosaic
 * centre, scales and partners, mixup lambda and partner), partners'
 * own steps indented below them.  It only writes; the draws are the same.
 *
 * Not here: decoding (image.c, yolo.c), batches and threads (loader.c).
 */
#include "cnnrt_data.h"
#include "data.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define AUG_MAX_BOXES (1 << 22)     /* boxes a sample may grow to: 4^mosaics * 2^mixups */

static const char *const aug_names[] = { "flip", "crop", "hsv", "mosaic", "mixup" };

typedef struct {
    float *x, *t;           /* [size], [tsize] */
    cnnrt_box *box;         /* [capacity of its stage] */
    int nbox;
} aug_sample;

/* the buffers of step k: partners (mosaic 3, mixup 1) and the boxes the
 * step writes before they replace the sample's */
typedef struct {
    aug_sample part[3];
    cnnrt_box *out;
} aug_step;

struct cnnrt_augmenter {
    const cnnrt_dataset *d;
    const cnnrt_augment *aug;
    int naug;
    int c, h, w, tsize, detect;
    long size;              /* c*h*w */
    int *cap;               /* [naug + 1]: boxes a sample can have after k steps */
    aug_step *step;         /* [naug] */
    float *canvas;          /* [size]: crop and mosaic output, used only while
                               no partner is being built */
    float *mix;             /* [tsize]: mosaic's target */
    cnnrt_bad_file bad;
    void *ctx;
    FILE *rec;              /* what each step drew, or NULL */
    int depth;              /* of the partner being built, for rec's indent */
};

#if defined(__GNUC__)
__attribute__((format(printf, 2, 3)))
#endif
static void aug_rec(const cnnrt_augmenter *a, const char *fmt, ...)
{
    if (!a->rec)
        return;
    va_list ap;
    fprintf(a->rec, "%*s", 6 + 4 * a->depth, "");
    va_start(ap, fmt);
    vfprintf(a->rec, fmt, ap);
    va_end(ap);
    fputc('\n', a->rec);
}

void cnnrt_augmenter_record(cnnrt_augmenter *a, FILE *f)
{
    a->rec = f;
    a->depth = 0;
}

static uint64_t aug_hash(uint64_t a, uint64_t b)
{
    uint64_t z = a ^ (b * 0x9E3779B97F4A7C15ull + 0x632BE59BD9B4E019ull + (a << 6) + (a >> 2));
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

/* uniform integer in [lo, hi] */
static int aug_int(cnnrt_rng *r, int lo, int hi)
{
    int v = lo + (int)(cnnrt_rng_uniform(r) * (double)(hi - lo + 1));
    return v > hi ? hi : v;
}

/* not fmaxf and fminf: without -ffast-math those are libm calls */
static float aug_max(float a, float b)
{
    return a > b ? a : b;
}

static float aug_min(float a, float b)
{
    return a < b ? a : b;
}

void cnnrt_box_target(const cnnrt_box *box, int nbox, int tsize, float *t)
{
    double total = 0;
    for (int k = 0; k < tsize; k++)
        t[k] = 0;
    for (int i = 0; i < nbox; i++) {
        const cnnrt_box *b = &box[i];
        float area = (b->x1 - b->x0) * (b->y1 - b->y0);
        if (!(area > 0) || b->cls < 0)
            continue;
        total += area;
        if (tsize == 1)
            t[0] += area * (float)b->cls;
        else if (b->cls < tsize)
            t[b->cls] += area;
    }
    for (int k = 0; total > 0 && k < tsize; k++)
        t[k] = (float)(t[k] / total);
}

/* ---- moving boxes ---- */
/* x' = ax*x + bx, y' = ay*y + by (normalized), then clipped to the
 * rectangle (x0, y0)-(x1, y1) */
typedef struct {
    float ax, bx, ay, by;
    float x0, y0, x1, y1;
} aug_map;

/* Maps the n boxes of `in` onto out (may be the same array), dropping
 * those with less than CNNRT_BOX_KEEP of their mapped area left inside
 * the rectangle; returns how many are left. */
static int aug_map_boxes(const aug_map *m, const cnnrt_box *in, int n, cnnrt_box *out)
{
    int kept = 0;
    for (int i = 0; i < n; i++) {
        cnnrt_box b = in[i];
        float x0 = m->ax * b.x0 + m->bx, x1 = m->ax * b.x1 + m->bx;
        float y0 = m->ay * b.y0 + m->by, y1 = m->ay * b.y1 + m->by;
        float whole = (x1 - x0) * (y1 - y0);
        b.x0 = aug_max(x0, m->x0), b.x1 = aug_min(x1, m->x1);
        b.y0 = aug_max(y0, m->y0), b.y1 = aug_min(y1, m->y1);
        if (b.x1 <= b.x0 || b.y1 <= b.y0 || !(whole > 0)
            || (b.x1 - b.x0) * (b.y1 - b.y0) < CNNRT_BOX_KEEP * whole)
            continue;
        out[kept++] = b;
    }
    return kept;
}

/* ---- the pixel augmentations, in place ---- */
static void aug_flip(const cnnrt_augmenter *a, aug_sample *s)
{
    for (long row = 0; row < (long)a->c * a->h; row++) {
        float *p = s->x + row * a->w;
        for (int i = 0, j = a->w - 1; i < j; i++, j--) {
            float v = p[i];
            p[i] = p[j];
            p[j] = v;
        }
    }
    for (int i = 0; i < s->nbox; i++) {
        float x0 = s->box[i].x0;
        s->box[i].x0 = 1 - s->box[i].x1;
        s->box[i].x1 = 1 - x0;
    }
}

/* zero padding of `pad` all round, then a random crop back to h x w:
 * output (y, x) is input (y + dy, x + dx), dx and dy in [-pad, pad] */
static void aug_crop(cnnrt_augmenter *a, cnnrt_rng *r, int pad, aug_sample *s)
{
    int dx = aug_int(r, -pad, pad), dy = aug_int(r, -pad, pad), h = a->h, w = a->w;
    aug_rec(a, "crop: shift x %+d y %+d", -dx, -dy);
    if (!dx && !dy)
        return;
    for (int ch = 0; ch < a->c; ch++)
        for (int y = 0; y < h; y++) {
            float *o = a->canvas + ((long)ch * h + y) * w;
            int sy = y + dy;
            for (int x = 0; x < w; x++) {
                int sx = x + dx;
                o[x] = sy >= 0 && sy < h && sx >= 0 && sx < w
                    ? s->x[((long)ch * h + sy) * w + sx] : 0.0f;
            }
        }
    memcpy(s->x, a->canvas, sizeof *s->x * (size_t)a->size);
    aug_map m = { 1, -(float)dx / w, 1, -(float)dy / h, 0, 0, 1, 1 };
    s->nbox = aug_map_boxes(&m, s->box, s->nbox, s->box);
    if (a->detect && a->tsize)
        cnnrt_box_target(s->box, s->nbox, a->tsize, s->t);
}

/* RGB <-> HSV, all in [0, 1], h a fraction of the colour circle.  Both
 * are written with selects rather than branches or libm calls: hsv is the
 * dearest augmentation per pixel. */
static void aug_rgb_hsv(float r, float g, float b, float *h, float *s, float *v)
{
    float mx = aug_max(r, aug_max(g, b)), mn = aug_min(r, aug_min(g, b)), d = mx - mn;
    /* gray (d == 0): hue and saturation 0; divisors are never 0, so
     * that the divisions need no branch */
    float inv = 1 / (d > 0 ? d : 1);
    float hr = (g - b) * inv, hg = (b - r) * inv + 2, hb = (r - g) * inv + 4;
    float h6 = mx == r ? hr : mx == g ? hg : hb;
    h6 *= 1.0f / 6;
    *h = h6 < 0 ? h6 + 1 : h6;
    *s = d / (mx > 0 ? mx : 1);
    *v = mx;
}

/* channel n of HSV -> RGB (n = 5 red, 3 green, 1 blue): v - v s max(0,
 * min(k, 4 - k, 1)) with k = (n + 6h) mod 6 */
static float aug_hsv_channel(float n, float h6, float s, float v)
{
    float k = n + h6;
    k = k >= 6 ? k - 6 : k;
    return v - v * s * aug_max(aug_min(aug_min(k, 4 - k), 1), 0);
}

static float aug_clamp01(float v)
{
    return v < 0 ? 0 : v > 1 ? 1 : v;
}

/* hue shifted by up to +-f[0] of a turn; saturation and value scaled by
 * gains in [1 - f[1], 1 + f[1]] and [1 - f[2], 1 + f[2]] (3 channels) */
static void aug_hsv(const cnnrt_augmenter *a, cnnrt_rng *r, const float *f, aug_sample *s)
{
    float dh = (float)((2 * cnnrt_rng_uniform(r) - 1) * f[0]);
    float gs = (float)(1 + (2 * cnnrt_rng_uniform(r) - 1) * f[1]);
    float gv = (float)(1 + (2 * cnnrt_rng_uniform(r) - 1) * f[2]);
    aug_rec(a, "hsv: hue %+.3f turn, saturation x%.3f, value x%.3f", dh, gs, gv);
    long plane = (long)a->h * a->w;
    float *R = s->x, *G = R + plane, *B = G + plane;
    for (long k = 0; k < plane; k++) {
        float h, sat, v;
        aug_rgb_hsv(aug_clamp01(R[k]), aug_clamp01(G[k]), aug_clamp01(B[k]), &h, &sat, &v);
        h += dh;                    /* |dh| <= 1/2: one turn at most */
        h = h < 0 ? h + 1 : h >= 1 ? h - 1 : h;
        float h6 = h < 1 ? 6 * h : 0;
        sat = aug_clamp01(sat * gs);
        v = aug_clamp01(v * gv);
        R[k] = aug_hsv_channel(5, h6, sat, v);
        G[k] = aug_hsv_channel(3, h6, sat, v);
        B[k] = aug_hsv_channel(1, h6, sat, v);
    }
}

/* ---- building a sample ---- */
static int aug_build(cnnrt_augmenter *a, uint64_t key, int i, int upto, aug_sample *s,
                     char *err, size_t errlen);

/* Partner `tile` of step k: a random index (the next one that can be read
 * when its file cannot), built through steps [0, k). */
static int aug_partner(cnnrt_augmenter *a, cnnrt_rng *r, uint64_t key, int k, int tile,
                       aug_sample *s, char *err, size_t errlen)
{
    int n = a->d->count, j = aug_int(r, 0, n - 1);
    uint64_t pkey = aug_hash(key, (uint64_t)tile + 1);
    for (int tries = 0; tries < n; tries++, j = (j + 1) % n) {
        const char *name = a->d->name ? a->d->name(a->d, j) : NULL;
        aug_rec(a, "partner %d: %s[%d]", tile + 1, name ? name : a->d->path, j);
        a->depth++;
        int rc = aug_build(a, pkey, j, k, s, err, errlen);
        a->depth--;
        if (rc <= 0)
            return rc;
        if (a->bad)
            a->bad(a->ctx, j, err);
    }
    cnnrt_errorf(err, errlen, a->d->path, "no image can be read for %s",
                 aug_names[a->aug[k].kind]);
    return -1;
}

/* Four tiles around a random centre (xc, yc): tile t fills quadrant t
 * (left/right by bit 0, top/bottom by bit 1) with a window of its image
 * scaled by a random factor in [lo, hi], raised where needed to cover the
 * quadrant, so every output pixel is written. */
static int aug_mosaic(cnnrt_augmenter *a, cnnrt_rng *r, uint64_t key, int k, aug_sample *s,
                      char *err, size_t errlen)
{
    const float *f = a->aug[k].f;
    aug_step *st = &a->step[k];
    int w = a->w, h = a->h, nout = 0;
    for (int t = 0; t < 3; t++)
        if (aug_partner(a, r, key, k, t, &st->part[t], err, errlen) < 0)
            return -1;
    const aug_sample *tile[4] = { s, &st->part[0], &st->part[1], &st->part[2] };
    int xc = (int)lround(w * (0.25 + 0.5 * cnnrt_rng_uniform(r)));
    int yc = (int)lround(h * (0.25 + 0.5 * cnnrt_rng_uniform(r)));
    xc = xc < 1 ? 1 : xc > w - 1 ? w - 1 : xc;
    yc = yc < 1 ? 1 : yc > h - 1 ? h - 1 : yc;
    aug_rec(a, "mosaic: centre x %d y %d; tiles (this sample, partners 1-3) scaled:", xc, yc);
    for (int c = 0; c < a->tsize; c++)
        a->mix[c] = 0;
    for (int t = 0; t < 4; t++) {
        int qx = t & 1 ? xc : 0, qw = t & 1 ? w - xc : xc;
        int qy = t & 2 ? yc : 0, qh = t & 2 ? h - yc : yc;
        double scale = f[1] + (f[2] - f[1]) * cnnrt_rng_uniform(r);
        long sw = lround(w * scale), sh = lround(h * scale);
        aug_rec(a, "  tile %d: x%.3f", t, scale);
        sw = sw < qw ? qw : sw;
        sh = sh < qh ? qh : sh;
        int ox = aug_int(r, 0, (int)sw - qw), oy = aug_int(r, 0, (int)sh - qh);
        cnnrt_window win = { qx, qy, qw, qh, ox, oy, (double)sw / w, (double)sh / h };
        cnnrt_resample(tile[t]->x, a->c, h, w, a->canvas, h, w, &win);
        aug_map m = { (float)sw / w, (float)(qx - ox) / w, (float)sh / h,
                      (float)(qy - oy) / h, (float)qx / w, (float)qy / h,
                      (float)(qx + qw) / w, (float)(qy + qh) / h };
        nout += aug_map_boxes(&m, tile[t]->box, tile[t]->nbox, st->out + nout);
        float share = (float)((double)qw * qh / ((double)w * h));
        for (int c = 0; c < a->tsize; c++)
            a->mix[c] += share * tile[t]->t[c];
    }
    memcpy(s->x, a->canvas, sizeof *s->x * (size_t)a->size);
    memcpy(s->box, st->out, sizeof *s->box * (size_t)nout);
    s->nbox = nout;
    if (a->detect && a->tsize)
        cnnrt_box_target(s->box, s->nbox, a->tsize, s->t);
    else if (a->tsize)
        memcpy(s->t, a->mix, sizeof *s->t * (size_t)a->tsize);
    return 0;
}

/* s = lambda s + (1 - lambda) partner, lambda ~ Beta(alpha, alpha); the
 * partner's boxes are added to s's */
static int aug_mixup(cnnrt_augmenter *a, cnnrt_rng *r, uint64_t key, int k, aug_sample *s,
                     char *err, size_t errlen)
{
    float alpha = a->aug[k].f[0];
    aug_sample *p = &a->step[k].part[0];
    float lam = (float)cnnrt_rng_beta(r, alpha, alpha);
    aug_rec(a, "mixup: lambda %.3f (this sample), %.3f (partner 1)", lam, 1 - lam);
    if (aug_partner(a, r, key, k, 0, p, err, errlen) < 0)
        return -1;
    for (long i = 0; i < a->size; i++)
        s->x[i] = lam * s->x[i] + (1 - lam) * p->x[i];
    float weight = 0;
    for (int c = 0; c < a->tsize; c++) {
        s->t[c] = lam * s->t[c] + (1 - lam) * p->t[c];
        weight += s->t[c];
    }
    /* detection data: a side without boxes has no class (an all-zero
     * target), so the other side's classes make the whole target */
    for (int c = 0; a->detect && a->tsize > 1 && weight > 0 && c < a->tsize; c++)
        s->t[c] /= weight;
    memcpy(s->box + s->nbox, p->box, sizeof *s->box * (size_t)p->nbox);
    s->nbox += p->nbox;
    return 0;
}

/* Sample i through steps [0, upto): 0, 1 when i's file cannot be read, -1. */
static int aug_build(cnnrt_augmenter *a, uint64_t key, int i, int upto, aug_sample *s,
                     char *err, size_t errlen)
{
    int rc = a->d->get(a->d, i, s->x, a->tsize ? s->t : NULL, err, errlen);
    if (rc)
        return rc;
    s->nbox = a->d->boxes ? a->d->boxes(a->d, i, s->box) : 0;
    for (int k = 0; k < upto && rc >= 0; k++) {
        const float *f = a->aug[k].f;
        uint64_t skey = aug_hash(key, (uint64_t)k);
        cnnrt_rng r;
        cnnrt_rng_seed(&r, skey);
        switch (a->aug[k].kind) {
        case CNNRT_AUG_FLIP:
            if (cnnrt_rng_uniform(&r) < f[0]) {
                aug_rec(a, "flip: yes");
                aug_flip(a, s);
            } else {
                aug_rec(a, "flip: no");
            }
            break;
        case CNNRT_AUG_CROP:
            aug_crop(a, &r, (int)f[0], s);
            break;
        case CNNRT_AUG_HSV:
            aug_hsv(a, &r, f, s);
            break;
        case CNNRT_AUG_MOSAIC:
            if (cnnrt_rng_uniform(&r) < f[0])
                rc = aug_mosaic(a, &r, skey, k, s, err, errlen);
            else
                aug_rec(a, "mosaic: no");
            break;
        case CNNRT_AUG_MIXUP:
            if (cnnrt_rng_uniform(&r) < f[1])
                rc = aug_mixup(a, &r, skey, k, s, err, errlen);
            else
                aug_rec(a, "mixup: no");
            break;
        }
    }
    return rc < 0 ? -1 : 0;
}

int cnnrt_augmenter_get(cnnrt_augmenter *a, uint64_t seed, int epoch, int i,
                        float *x, float *t, cnnrt_box *box, int *nbox,
                        char *err, size_t errlen)
{
    uint64_t key = aug_hash(aug_hash(aug_hash(seed, 0x617567ull), (uint64_t)epoch),
                            (uint64_t)i);
    aug_sample s = { x, t, box, 0 };
    int rc = aug_build(a, key, i, a->naug, &s, err, errlen);
    *nbox = rc == 0 ? s.nbox : 0;
    return rc;
}

/* ---- setting up ---- */
/* What is wrong with augmentation k for data d, or NULL. */
static const char *aug_unfit(const cnnrt_augment *g, const cnnrt_dataset *d, char *buf,
                             size_t len)
{
    const float *f = g->f;
    int flat = d->h == 1 && d->w == 1;
    if (g->kind < CNNRT_AUG_FLIP || g->kind > CNNRT_AUG_MIXUP)
        snprintf(buf, len, "unknown augmentation kind %d", g->kind);
    else if (g->kind != CNNRT_AUG_MIXUP && flat)
        snprintf(buf, len, "needs an image input [C, H, W]; the input is flat (%d values)",
                 d->c);
    else if (g->kind == CNNRT_AUG_HSV && d->c != 3)
        snprintf(buf, len, "needs 3 channels (RGB); the input has %d", d->c);
    else if (g->kind == CNNRT_AUG_HSV && !(f[0] >= 0 && f[0] <= 0.5f && f[1] >= 0
                                            && f[1] <= 1 && f[2] >= 0 && f[2] <= 1))
        snprintf(buf, len, "h must be in [0, 0.5], s and v in [0, 1]; got %g, %g, %g",
                 f[0], f[1], f[2]);
    else if (g->kind == CNNRT_AUG_MOSAIC && (d->h < 2 || d->w < 2))
        snprintf(buf, len, "needs images of at least 2x2; the input is %dx%d", d->h, d->w);
    else if ((g->kind == CNNRT_AUG_FLIP || g->kind == CNNRT_AUG_MOSAIC)
             && !(f[0] >= 0 && f[0] <= 1))
        snprintf(buf, len, "p must be in [0, 1], got %g", f[0]);
    else if (g->kind == CNNRT_AUG_MIXUP && !(f[1] >= 0 && f[1] <= 1))
        snprintf(buf, len, "p must be in [0, 1], got %g", f[1]);
    else if (g->kind == CNNRT_AUG_MIXUP && !(f[0] > 0))
        snprintf(buf, len, "alpha must be positive, got %g", f[0]);
    else if (g->kind == CNNRT_AUG_CROP && !(f[0] >= 0 && f[0] <= 4096))
        snprintf(buf, len, "pad must be a whole number from 0 to 4096, got %g", f[0]);
    else if (g->kind == CNNRT_AUG_MOSAIC && !(f[1] > 0 && f[1] <= f[2] && f[2] <= 16))
        snprintf(buf, len, "scale must be [low, high] with 0 < low <= high <= 16, "
                 "got [%g, %g]", f[1], f[2]);
    else
        return NULL;
    return buf;
}

static int aug_alloc_sample(aug_sample *s, long size, int tsize, int cap)
{
    s->x = malloc(sizeof *s->x * (size_t)size);
    s->t = malloc(sizeof *s->t * (size_t)(tsize ? tsize : 1));
    s->box = malloc(sizeof *s->box * (size_t)(cap ? cap : 1));
    return s->x && s->t && s->box ? 0 : -1;
}

cnnrt_augmenter *cnnrt_augmenter_new(const cnnrt_dataset *d, const cnnrt_augment *aug,
                                     int naug, cnnrt_bad_file bad, void *ctx,
                                     char *err, size_t errlen)
{
    char why[160];
    for (int k = 0; k < naug; k++)
        if (aug_unfit(&aug[k], d, why, sizeof why)) {
            cnnrt_errorf(err, errlen, d->path, "augment %d, '%s': %s", k + 1,
                         aug[k].kind >= 0 && aug[k].kind <= CNNRT_AUG_MIXUP
                         ? aug_names[aug[k].kind] : "?", why);
            return NULL;
        }
    cnnrt_augmenter *a = calloc(1, sizeof *a);
    if (!a)
        goto oom;
    a->d = d, a->aug = aug, a->naug = naug, a->bad = bad, a->ctx = ctx;
    a->c = d->c, a->h = d->h, a->w = d->w, a->tsize = d->tsize;
    a->detect = d->maxbox > 0;
    a->size = (long)d->c * d->h * d->w;
    a->cap = malloc(sizeof *a->cap * (size_t)(naug + 1));
    a->step = calloc((size_t)(naug ? naug : 1), sizeof *a->step);
    a->canvas = malloc(sizeof *a->canvas * (size_t)a->size);
    a->mix = malloc(sizeof *a->mix * (size_t)(a->tsize ? a->tsize : 1));
    if (!a->cap || !a->step || !a->canvas || !a->mix)
        goto oom;
    a->cap[0] = d->maxbox;
    for (int k = 0; k < naug; k++) {
        int kind = aug[k].kind;
        int grow = kind == CNNRT_AUG_MOSAIC ? 4 : kind == CNNRT_AUG_MIXUP ? 2 : 1;
        if (a->cap[k] > AUG_MAX_BOXES / grow) {
            cnnrt_errorf(err, errlen, d->path, "too many mosaic and mixup steps: a sample "
                         "could have more than %d boxes", AUG_MAX_BOXES);
            cnnrt_augmenter_free(a);
            return NULL;
        }
        a->cap[k + 1] = a->cap[k] * grow;
        int parts = grow == 4 ? 3 : grow == 2 ? 1 : 0;
        for (int t = 0; t < parts; t++)
            if (aug_alloc_sample(&a->step[k].part[t], a->size, a->tsize, a->cap[k]) < 0)
                goto oom;
        size_t out = sizeof(cnnrt_box) * (size_t)(a->cap[k + 1] + 1);
        if (grow == 4 && !(a->step[k].out = malloc(out)))
            goto oom;
    }
    return a;
oom:
    cnnrt_errorf(err, errlen, d->path, "out of memory for the augmentations");
    cnnrt_augmenter_free(a);
    return NULL;
}

int cnnrt_augmenter_boxcap(const cnnrt_augmenter *a)
{
    return a->cap[a->naug];
}

void cnnrt_augmenter_free(cnnrt_augmenter *a)
{
    if (!a)
        return;
    for (int k = 0; a->step && k < a->naug; k++) {
        for (int t = 0; t < 3; t++) {
            free(a->step[k].part[t].x);
            free(a->step[k].part[t].t);
            free(a->step[k].part[t].box);
        }
        free(a->step[k].out);
    }
    free(a->step);
    free(a->cap);
    free(a->canvas);
    free(a->mix);
    free(a);
}
