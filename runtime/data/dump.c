/* dump.c — pictures of what the network sees: cnnrt_write_png (a sample
 * as a PNG with its boxes drawn) and `train --dump-aug DIR N`, which
 * writes the first N samples of the first epoch exactly as the loader
 * makes them (shuffled, augmented), with a samples.txt that says where
 * each came from and what its target and boxes are.
 *
 * Pictures are scaled up (nearest neighbour) to about 256 pixels so that
 * small inputs and thin boxes can be seen; a box is drawn as a frame just
 * inside its edges, in a colour per class.  Not here: anything training
 * reads (this only looks).
 */
#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L
#endif
#include "cnnrt_data.h"
#include "data.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <stb/stb_image_write.h>

#define DUMP_SIDE 256           /* pictures are scaled up to about this size */

/* distinct colours for classes 0..7, then round again */
static const unsigned char dump_palette[8][3] = {
    { 255, 40, 40 }, { 40, 220, 40 }, { 60, 120, 255 }, { 255, 220, 0 },
    { 255, 0, 255 }, { 0, 230, 230 }, { 255, 140, 0 }, { 160, 80, 255 },
};

static unsigned char dump_byte(float v)
{
    return (unsigned char)(v <= 0 ? 0 : v >= 1 ? 255 : lroundf(v * 255));
}

/* the frame of box b, thick pixels wide, inside its edges */
static void dump_frame(unsigned char *rgb, int W, int H, const cnnrt_box *b, int thick)
{
    int x0 = (int)floorf(b->x0 * W), x1 = (int)ceilf(b->x1 * W) - 1;
    int y0 = (int)floorf(b->y0 * H), y1 = (int)ceilf(b->y1 * H) - 1;
    x0 = x0 < 0 ? 0 : x0, y0 = y0 < 0 ? 0 : y0;
    x1 = x1 >= W ? W - 1 : x1, y1 = y1 >= H ? H - 1 : y1;
    const unsigned char *col = dump_palette[(b->cls % 8 + 8) % 8];
    for (int y = y0; y <= y1; y++)
        for (int x = x0; x <= x1; x++) {
            if (x - x0 >= thick && x1 - x >= thick && y - y0 >= thick && y1 - y >= thick)
                continue;
            memcpy(rgb + ((size_t)y * W + x) * 3, col, 3);
        }
}

/* stb_image_write's sink: the PNG's bytes into a cnnrt_out file */
static void dump_put(void *f, void *data, int size)
{
    fwrite(data, 1, (size_t)size, f);
}

unsigned char *cnnrt_picture_rgb(const float *x, int c, int h, int w, int scale)
{
    int W = w * scale, H = h * scale;
    long plane = (long)h * w;
    unsigned char *rgb = malloc((size_t)W * H * 3);
    if (!rgb)
        return NULL;
    for (int y = 0; y < H; y++)
        for (int xx = 0; xx < W; xx++) {
            long k = (long)(y / scale) * w + xx / scale;
            unsigned char *o = rgb + ((size_t)y * W + xx) * 3;
            for (int ch = 0; ch < 3; ch++)
                o[ch] = dump_byte(x[(c == 3 ? ch * plane : 0) + k]);
        }
    return rgb;
}

int cnnrt_save_png(const char *path, const unsigned char *rgb, int w, int h, char *err,
                   size_t errlen)
{
    cnnrt_out out;
    if (cnnrt_out_open(&out, path, err, errlen) < 0)
        return -1;
    int ok = stbi_write_png_to_func(dump_put, out.f, w, h, 3, rgb, w * 3);
    if (!ok)
        cnnrt_errorf(err, errlen, path, "cannot write the PNG: stb_image_write failed");
    return cnnrt_out_close(&out, ok, err, errlen);
}

int cnnrt_write_png(const char *path, const float *x, int c, int h, int w, int scale,
                    const cnnrt_box *box, int nbox, char *err, size_t errlen)
{
    scale = scale < 1 ? 1 : scale;
    int W = w * scale, H = h * scale;
    unsigned char *rgb = cnnrt_picture_rgb(x, c, h, w, scale);
    if (!rgb) {
        cnnrt_errorf(err, errlen, path, "out of memory");
        return -1;
    }
    for (int i = 0; i < nbox; i++)
        dump_frame(rgb, W, H, &box[i], scale >= 4 ? 2 : 1);
    int rc = cnnrt_save_png(path, rgb, W, H, err, errlen);
    free(rgb);
    return rc;
}

int cnnrt_make_folder(const char *dir, char *err, size_t errlen)
{
    struct stat st;
    if (mkdir(dir, 0777) < 0 && errno != EEXIST) {
        cnnrt_errorf(err, errlen, dir, "cannot make the folder: %s", strerror(errno));
        return -1;
    }
    if (stat(dir, &st) < 0 || !S_ISDIR(st.st_mode)) {
        cnnrt_errorf(err, errlen, dir, "not a folder");
        return -1;
    }
    return 0;
}

/* One samples.txt line: file, source, target (weights above 0.0005) and boxes. */
static void dump_describe(FILE *f, const cnnrt_dataset *d, const char *png, int index,
                          const float *t, const cnnrt_box *box, int nbox)
{
    const char *src = d->name ? d->name(d, index) : NULL;
    if (src)
        fprintf(f, "%s  from %s\n", png, src);
    else
        fprintf(f, "%s  from %s[%d]\n", png, d->path, index);
    fprintf(f, "    target:");
    for (int k = 0; k < d->tsize; k++) {
        if (d->tsize > 1 && !(t[k] > 0.0005f))
            continue;
        fprintf(f, " %d", k);
        if (d->classes)
            fprintf(f, " (%s)", d->classes[k]);
        fprintf(f, " %.3f", t[k]);
    }
    fprintf(f, "\n    boxes: %d\n", nbox);
    for (int i = 0; i < nbox; i++)
        fprintf(f, "      class %d  x %.3f-%.3f  y %.3f-%.3f\n", box[i].cls, box[i].x0,
                box[i].x1, box[i].y0, box[i].y1);
}

int cnnrt_dump_augmented(const cnnrt_dataset *d, int batch, const cnnrt_augment *aug,
                         int naug, uint64_t seed, const char *dir, int n,
                         char *err, size_t errlen)
{
    if (cnnrt_make_folder(dir, err, errlen) < 0)
        return -1;
    char path[4096], list[4096];        /* list: out.path while it is open */
    snprintf(list, sizeof list, "%s/samples.txt", dir);
    cnnrt_out out;
    if (cnnrt_out_open(&out, list, err, errlen) < 0)
        return -1;
    FILE *f = out.f;
    cnnrt_loader *l = cnnrt_loader_new(d, batch, aug, naug, -1, err, errlen);
    /* the recipe of each sample: the same draws again, recorded (they
       depend on seed, epoch and index alone) */
    cnnrt_augmenter *rec = naug && l ? cnnrt_augmenter_new(d, aug, naug, NULL, NULL, err, errlen) : NULL;
    float *rx = rec ? malloc(sizeof *rx * ((size_t)d->c * d->h * d->w + (size_t)d->tsize + 1)) : NULL;
    cnnrt_box *rbox = rec ? malloc(sizeof *rbox * (size_t)cnnrt_augmenter_boxcap(rec)) : NULL;
    if (naug && l && (!rec || !rx || !rbox)) {
        if (rec)
            cnnrt_errorf(err, errlen, dir, "out of memory");
        cnnrt_loader_free(l);
        l = NULL;
    }
    int side = d->h > d->w ? d->h : d->w, done = 0, rc = l ? 1 : -1;
    int scale = side < DUMP_SIDE ? DUMP_SIDE / side : 1;
    cnnrt_batch b;
    if (l)
        cnnrt_loader_start(l, seed, 0, 1);
    while (rc == 1 && done < n && (rc = cnnrt_loader_next(l, &b, err, errlen)) == 1)
        for (int k = 0; k < b.n && done < n && rc == 1; k++, done++) {
            char name[32];
            snprintf(name, sizeof name, "aug-%04d.png", done);
            snprintf(path, sizeof path, "%s/%s", dir, name);
            const cnnrt_box *box = b.box + (size_t)k * b.boxcap;
            if (cnnrt_write_png(path, b.x + (size_t)k * d->c * d->h * d->w, d->c, d->h,
                                d->w, scale, box, b.nbox[k], err, errlen) < 0)
                rc = -1;
            else
                dump_describe(f, d, name, b.index[k], b.target + (size_t)k * d->tsize,
                              box, b.nbox[k]);
            if (rc == 1 && rec) {
                int nbox;
                fprintf(f, "    applied:\n");
                cnnrt_augmenter_record(rec, f);
                if (cnnrt_augmenter_get(rec, seed, 0, b.index[k], rx, rx + (size_t)d->c * d->h * d->w,
                                        rbox, &nbox, err, errlen) < 0)
                    rc = -1;
            }
        }
    cnnrt_loader_free(l);
    if (rec)
        cnnrt_augmenter_free(rec);
    free(rx);
    free(rbox);
    if (cnnrt_out_close(&out, rc >= 0, rc >= 0 ? err : NULL, errlen) < 0)
        rc = -1;
    return rc < 0 ? -1 : done;
}
