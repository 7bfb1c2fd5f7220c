/* fashion_png.c — writes Fashion-MNIST (or any MNIST-format IDX set) out as
 * image files, for the image-folder examples (`make folder-demo`,
 * `make boxes-demo`).  Built against the runtime: it reads the IDX files
 * with cnnrt_data_open and writes PNGs with stb_image_write.
 *
 *   fashion_png folder IMAGES N OUT
 *       the first N images as OUT/<k>-<class>/<index>.png, one folder per
 *       class; the folder names sort in class order.
 *   fashion_png boxes IMAGES N OUT [SIDE]
 *       N colour pictures SIDE x SIDE (default 64), each with one to three
 *       tinted Fashion-MNIST items at random sizes and places over a dim
 *       background, as OUT/images/<index>.png with YOLO labels in
 *       OUT/labels/<index>.txt (the tight box of each item's pixels), the
 *       list OUT/list.txt and the class names OUT/names.txt (for predict
 *       --names): detection data for mosaic and mixup.
 *
 * Labels are read beside IMAGES as the trainer does.  Not a general
 * converter: 28x28 gray input, class names of Fashion-MNIST.
 */
#include "cnnrt_data.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <stb/stb_image_write.h>

#define SIDE_IN 28
#define NCLASS 10

static const char *const class_names[NCLASS] = {
    "tshirt_top", "trouser", "pullover", "dress", "coat",
    "sandal", "shirt", "sneaker", "bag", "ankle_boot",
};

/* mkdir -p */
static int make_dir(const char *path)
{
    char p[4096];
    snprintf(p, sizeof p, "%s", path);
    for (char *s = p + 1;; s++) {
        char c = *s;
        if (c && c != '/')
            continue;
        *s = 0;
        if (mkdir(p, 0777) != 0 && errno != EEXIST) {
            fprintf(stderr, "fashion_png: cannot make '%s': %s\n", p, strerror(errno));
            return -1;
        }
        *s = c;
        if (!c)
            return 0;
    }
}

static int argmax(const float *v, int n)
{
    int b = 0;
    for (int i = 1; i < n; i++)
        b = v[i] > v[b] ? i : b;
    return b;
}

static int write_png(const char *path, int w, int h, int comp, const unsigned char *px)
{
    if (stbi_write_png(path, w, h, comp, px, w * comp))
        return 0;
    fprintf(stderr, "fashion_png: cannot write '%s'\n", path);
    return -1;
}

static int folder(const cnnrt_dataset *d, int n, const char *out)
{
    char path[4096];
    float x[SIDE_IN * SIDE_IN], t[NCLASS];
    unsigned char px[SIDE_IN * SIDE_IN];
    if (make_dir(out) < 0)
        return -1;
    for (int k = 0; k < NCLASS; k++) {
        snprintf(path, sizeof path, "%s/%d-%s", out, k, class_names[k]);
        if (make_dir(path) < 0)
            return -1;
    }
    for (int i = 0; i < n; i++) {
        char msg[512];
        if (d->get(d, i, x, t, msg, sizeof msg) != 0) {
            fprintf(stderr, "fashion_png: %s\n", msg);
            return -1;
        }
        for (int k = 0; k < SIDE_IN * SIDE_IN; k++)
            px[k] = (unsigned char)(x[k] * 255 + 0.5f);
        int c = argmax(t, NCLASS);
        snprintf(path, sizeof path, "%s/%d-%s/%05d.png", out, c, class_names[c], i);
        if (write_png(path, SIDE_IN, SIDE_IN, 1, px) < 0)
            return -1;
    }
    return 0;
}

/* One item: image x (28x28) scaled to s x s (nearest), tinted, put at
 * (ox, oy) wherever it is brighter than what is there.  box gets the tight
 * box of its pixels above 0.1 (x0, y0, x1, y1 inclusive); 0 when none
 * of them lands in the picture. */
static int place(unsigned char *rgb, int side, const float *x, int s, int ox, int oy,
                 const float tint[3], int box[4])
{
    box[0] = box[1] = side, box[2] = box[3] = -1;
    for (int y = 0; y < s; y++)
        for (int xx = 0; xx < s; xx++) {
            float v = x[(y * SIDE_IN / s) * SIDE_IN + xx * SIDE_IN / s];
            int X = ox + xx, Y = oy + y;
            if (v <= 0.1f || X < 0 || Y < 0 || X >= side || Y >= side)
                continue;
            for (int c = 0; c < 3; c++) {
                unsigned char *p = rgb + ((size_t)Y * side + X) * 3 + c;
                unsigned char q = (unsigned char)(v * tint[c] * 255 + 0.5f);
                *p = q > *p ? q : *p;
            }
            box[0] = X < box[0] ? X : box[0], box[2] = X > box[2] ? X : box[2];
            box[1] = Y < box[1] ? Y : box[1], box[3] = Y > box[3] ? Y : box[3];
        }
    return box[2] >= 0;
}

static int boxes(const cnnrt_dataset *d, int n, const char *out, int side)
{
    char path[4096], msg[512];
    float x[SIDE_IN * SIDE_IN], t[NCLASS];
    unsigned char *rgb = malloc((size_t)side * side * 3);
    cnnrt_rng r;
    cnnrt_rng_seed(&r, 5);
    snprintf(path, sizeof path, "%s/list.txt", out);
    FILE *list = NULL;
    int rc = -1;
    if (!rgb || make_dir(out) < 0)
        goto done;
    snprintf(path, sizeof path, "%s/images", out);
    if (make_dir(path) < 0)
        goto done;
    snprintf(path, sizeof path, "%s/labels", out);
    if (make_dir(path) < 0)
        goto done;
    snprintf(path, sizeof path, "%s/names.txt", out);
    if (!(list = fopen(path, "w"))) {
        fprintf(stderr, "fashion_png: cannot write '%s': %s\n", path, strerror(errno));
        goto done;
    }
    for (int c = 0; c < NCLASS; c++)
        fprintf(list, "%s\n", class_names[c]);
    if (fclose(list) != 0) {
        list = NULL;
        fprintf(stderr, "fashion_png: cannot write '%s'\n", path);
        goto done;
    }
    snprintf(path, sizeof path, "%s/list.txt", out);
    if (!(list = fopen(path, "w"))) {
        fprintf(stderr, "fashion_png: cannot write '%s': %s\n", path, strerror(errno));
        goto done;
    }
    for (int i = 0; i < n; i++) {
        for (int k = 0; k < side * side * 3; k++)      /* a dim, noisy background */
            rgb[k] = (unsigned char)(10 + cnnrt_rng_next(&r) % 30);
        snprintf(path, sizeof path, "%s/labels/%05d.txt", out, i);
        FILE *lab = fopen(path, "w");
        if (!lab) {
            fprintf(stderr, "fashion_png: cannot write '%s': %s\n", path, strerror(errno));
            goto done;
        }
        int items = 1 + (int)(cnnrt_rng_next(&r) % 3);
        for (int it = 0; it < items; it++) {
            int j = (int)(cnnrt_rng_next(&r) % (uint64_t)d->count), b[4];
            if (d->get(d, j, x, t, msg, sizeof msg) != 0) {
                fprintf(stderr, "fashion_png: %s\n", msg);
                fclose(lab);
                goto done;
            }
            int s = side * 5 / 16 + (int)(cnnrt_rng_next(&r) % (uint64_t)(side * 5 / 16));
            int ox = (int)(cnnrt_rng_next(&r) % (uint64_t)(side - s / 2)) - s / 4;
            int oy = (int)(cnnrt_rng_next(&r) % (uint64_t)(side - s / 2)) - s / 4;
            float tint[3];
            for (int c = 0; c < 3; c++)
                tint[c] = 0.35f + 0.65f * (float)cnnrt_rng_uniform(&r);
            if (place(rgb, side, x, s, ox, oy, tint, b))
                fprintf(lab, "%d %.6f %.6f %.6f %.6f\n", argmax(t, NCLASS),
                        (b[0] + b[2] + 1) / (2.0 * side), (b[1] + b[3] + 1) / (2.0 * side),
                        (b[2] - b[0] + 1) / (double)side, (b[3] - b[1] + 1) / (double)side);
        }
        fclose(lab);
        snprintf(path, sizeof path, "%s/images/%05d.png", out, i);
        if (write_png(path, side, side, 3, rgb) < 0)
            goto done;
        fprintf(list, "images/%05d.png\n", i);
    }
    rc = 0;
done:
    if (list && fclose(list) != 0)
        rc = -1;
    free(rgb);
    return rc;
}

int main(int argc, char **argv)
{
    if (argc < 5 || (strcmp(argv[1], "folder") && strcmp(argv[1], "boxes"))) {
        fprintf(stderr, "usage: fashion_png folder IMAGES N OUT\n"
                        "       fashion_png boxes IMAGES N OUT [SIDE]\n");
        return 2;
    }
    char err[1024];
    cnnrt_dataset *d = cnnrt_data_open(argv[2], NULL, 1, SIDE_IN, SIDE_IN, NCLASS, 1,
                                       err, sizeof err);
    if (!d) {
        fprintf(stderr, "fashion_png: %s\n", err);
        return 1;
    }
    int n = atoi(argv[3]), side = argc > 5 ? atoi(argv[5]) : 64;
    n = n < 1 || n > d->count ? d->count : n;
    if (side < 16 || side > 1024) {
        fprintf(stderr, "fashion_png: SIDE must be from 16 to 1024\n");
        cnnrt_data_close(d);
        return 2;
    }
    int rc = !strcmp(argv[1], "folder") ? folder(d, n, argv[4]) : boxes(d, n, argv[4], side);
    cnnrt_data_close(d);
    if (rc == 0)
        printf("fashion_png: wrote %d %s to %s\n", n,
               !strcmp(argv[1], "folder") ? "images in class folders" : "pictures with boxes",
               argv[4]);
    return rc ? 1 : 0;
}
