/* idx.c — data sets from IDX files (the MNIST format).
 *
 * IDX: two zero bytes, an element type (0x08 u8, 0x0D float32; the others
 * are refused), the number of dimensions, that many big-endian u32 sizes,
 * then the elements, big-endian, row-major.  Both files are read whole
 * (cnnrt_read_file gunzips) and kept as they are; get() converts one sample
 * at a time, so a set costs its file size, not four times it.
 *
 * Every check happens at open: shape against the model, label count,
 * label range.  After that get() cannot fail for an index in range.
 * Not here: which loader a DATA argument goes to (dataset.c), shuffling
 * and augmentation (loader.c, augment.c).
 */
#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L
#endif
#include "cnnrt_data.h"
#include "data.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#define IDX_U8   0x08
#define IDX_F32  0x0D
#define IDX_MAXDIM 4

/* one parsed IDX file; data points into buf */
typedef struct {
    unsigned char *buf;     /* the whole file, owned */
    int type, ndim;
    uint32_t dims[IDX_MAXDIM];
    const unsigned char *data;
} idx_file;

typedef struct {
    cnnrt_dataset base;     /* first: a cnnrt_dataset * is an idx_set * */
    char *path;             /* base.path points here */
    idx_file images, labels;    /* labels.buf NULL when unlabelled */
    long sample;            /* elements per image: c*h*w */
} idx_set;

static uint32_t idx_be32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8
        | (uint32_t)p[3];
}

static float idx_f32(const unsigned char *p)
{
    uint32_t bits = idx_be32(p);
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

/* the fixed part of the header: magic, a supported type, the dimensions */
static int idx_check_header(const unsigned char *p, size_t n, const char *path,
                            char *err, size_t errlen)
{
    if (n == 0)
        cnnrt_errorf(err, errlen, path, "empty file: not an IDX file");
    else if (n >= 2 && (p[0] || p[1]))
        cnnrt_errorf(err, errlen, path, "not an IDX file (it does not start with two "
                     "zero bytes)");
    else if (n < 4)
        cnnrt_errorf(err, errlen, path, "truncated IDX header");
    else if (p[2] != IDX_U8 && p[2] != IDX_F32)
        cnnrt_errorf(err, errlen, path, "IDX element type 0x%02X is not supported "
                     "(u8 0x08 and float32 0x0D are)", p[2]);
    else if (p[3] < 1 || p[3] > IDX_MAXDIM)
        cnnrt_errorf(err, errlen, path, "IDX files with %d dimensions are not supported",
                     p[3]);
    else if (n < 4 + 4 * (size_t)p[3])
        cnnrt_errorf(err, errlen, path, "truncated IDX header");
    else
        return 0;
    return -1;
}

/* Reads and parses path; on success f->buf is owned by the caller. */
static int idx_read(const char *path, idx_file *f, char *err, size_t errlen)
{
    size_t n;
    memset(f, 0, sizeof *f);
    f->buf = cnnrt_read_file(path, &n, err, errlen);
    if (!f->buf)
        return -1;
    const unsigned char *p = f->buf;
    if (idx_check_header(p, n, path, err, errlen) < 0)
        goto fail;
    f->type = p[2];
    f->ndim = p[3];
    size_t elem = f->type == IDX_U8 ? 1 : 4, header = 4 + 4 * (size_t)f->ndim;
    uint64_t want = elem, per = elem;   /* the file's bytes, a sample's */
    for (int i = 0; i < f->ndim; i++) {
        f->dims[i] = idx_be32(p + 4 + 4 * i);
        want *= f->dims[i];
        per *= i ? f->dims[i] : 1;
        /* a sample's size too: with 0 samples the file's is 0 whatever the
         * other sizes (and their product overflowed; a fuzz finding) */
        if (want > ((uint64_t)1 << 40) || per > ((uint64_t)1 << 40)) {
            cnnrt_errorf(err, errlen, path, "IDX header sizes are impossibly large: "
                         "the file is corrupt");
            goto fail;
        }
    }
    if (f->dims[0] > 0x7fffffff) {
        cnnrt_errorf(err, errlen, path, "more than 2^31 samples");
        goto fail;
    }
    if (n - header != want) {
        if (n - header < want)
            cnnrt_errorf(err, errlen, path, "truncated: the header announces %llu bytes "
                         "of data, the file has %zu", (unsigned long long)want, n - header);
        else
            cnnrt_errorf(err, errlen, path, "%zu bytes after the %llu the header announces: "
                         "not an IDX file, or corrupt", (size_t)(n - header - want),
                         (unsigned long long)want);
        goto fail;
    }
    f->data = p + header;
    return 0;
fail:
    free(f->buf);
    f->buf = NULL;
    errno = EINVAL;
    return -1;
}

/* The image file's sample shape [c, h, w] against the model's. */
static int idx_check_shape(const idx_file *f, const char *path, int c, int h, int w,
                           char *err, size_t errlen)
{
    long fc = 1, fh = 1, fw = 1;
    if (f->ndim == 1) {
        cnnrt_errorf(err, errlen, path, "holds one value per sample (a label file?), "
                     "not images");
        return -1;
    }
    if (f->ndim == 2)
        fc = f->dims[1];
    else if (f->ndim == 3)
        fh = f->dims[1], fw = f->dims[2];
    else
        fc = f->dims[1], fh = f->dims[2], fw = f->dims[3];
    long have = fc * fh * fw, want = (long)c * h * w;
    if (h == 1 && w == 1) {             /* a flat model input takes any layout */
        if (have == want)
            return 0;
        cnnrt_errorf(err, errlen, path, "expected samples of %ld values, got %ldx%ldx%ld "
                     "= %ld values", want, fc, fh, fw, have);
        return -1;
    }
    if (f->ndim == 2) {
        if (have == want)
            return 0;
        cnnrt_errorf(err, errlen, path, "expected %dx%dx%d images (%ld values), got flat "
                     "samples of %ld values", c, h, w, want, have);
        return -1;
    }
    if (fc != c) {
        cnnrt_errorf(err, errlen, path, "expected %d channel%s, got %ld", c,
                     c == 1 ? "" : "s", fc);
        return -1;
    }
    if (fh != h || fw != w) {
        cnnrt_errorf(err, errlen, path, "expected %dx%d images, got %ldx%ld", h, w, fh, fw);
        return -1;
    }
    return 0;
}

/* The label file against the images and the model's target size. */
static int idx_check_labels(const idx_file *l, const char *path, uint32_t count,
                            const char *images, int tsize, char *err, size_t errlen)
{
    if (l->dims[0] != count) {
        cnnrt_errorf(err, errlen, path, "%u labels for the %u images of '%s'",
                     (unsigned)l->dims[0], (unsigned)count, images);
        return -1;
    }
    if (l->type == IDX_F32) {
        uint32_t per = l->ndim == 1 ? 1 : l->dims[1];
        if (l->ndim > 2 || per != (uint32_t)tsize) {
            cnnrt_errorf(err, errlen, path, "expected float targets of %d value%s per sample, "
                         "got %u", tsize, tsize == 1 ? "" : "s",
                         l->ndim > 2 ? (unsigned)(l->dims[1] * l->dims[2]) : (unsigned)per);
            return -1;
        }
        return 0;
    }
    if (l->ndim != 1) {
        cnnrt_errorf(err, errlen, path, "u8 labels must be one class index per sample "
                     "(1 dimension), not %d dimensions", l->ndim);
        return -1;
    }
    for (uint32_t i = 0; tsize > 1 && i < count; i++)
        if (l->data[i] >= tsize) {
            cnnrt_errorf(err, errlen, path, "label %d of sample %u is out of range for "
                         "%d classes", l->data[i], (unsigned)i, tsize);
            return -1;
        }
    return 0;
}

static int idx_get(const cnnrt_dataset *d, int i, float *x, float *target,
                   char *err, size_t errlen)
{
    const idx_set *s = (const idx_set *)d;
    if (cnnrt_data_check_index(d, i, err, errlen) < 0)
        return -1;
    if (s->images.type == IDX_U8) {
        const unsigned char *p = s->images.data + (size_t)i * s->sample;
        for (long k = 0; k < s->sample; k++)
            x[k] = p[k] / 255.0f;
    } else {
        const unsigned char *p = s->images.data + (size_t)i * s->sample * 4;
        for (long k = 0; k < s->sample; k++)
            x[k] = idx_f32(p + 4 * k);
    }
    if (!target || !d->tsize)
        return 0;
    if (s->labels.type == IDX_F32) {
        const unsigned char *p = s->labels.data + (size_t)i * d->tsize * 4;
        for (int k = 0; k < d->tsize; k++)
            target[k] = idx_f32(p + 4 * k);
    } else if (d->tsize == 1) {
        target[0] = s->labels.data[i];      /* a 0/1 label for a single output */
    } else {
        for (int k = 0; k < d->tsize; k++)
            target[k] = 0;
        target[s->labels.data[i]] = 1;
    }
    return 0;
}

static void idx_close(cnnrt_dataset *d)
{
    idx_set *s = (idx_set *)d;
    free(s->images.buf);
    free(s->labels.buf);
    free(s->path);
    free(s);
}

/* Replaces the first `from` after position `start` of s by `to`, in place
 * (s has room: callers only shorten or keep lengths).  1 if replaced. */
static int idx_replace(char *s, size_t start, const char *from, const char *to)
{
    char *at = strstr(s + start, from);
    if (!at)
        return 0;
    size_t fl = strlen(from), tl = strlen(to);
    memmove(at + tl, at + fl, strlen(at + fl) + 1);
    memcpy(at, to, tl);
    return 1;
}

/* The label file beside an image file into *out: in the file name,
 * "images" becomes "labels" and idx2/idx3/idx4 becomes idx1; the first of
 * that name and that name with ".gz" added or removed that exists.  NULL
 * when the name has no "images"; otherwise a malloc'd name (the first
 * candidate if none exists, so that the error names it).  0, or -1 when
 * out of memory. */
static int idx_labels_beside(const char *images, char **out)
{
    size_t n = strlen(images);
    const char *slash = strrchr(images, '/');
    size_t base = slash ? (size_t)(slash - images) + 1 : 0;
    char *name = malloc(n + 4), *alt = malloc(n + 4);
    *out = NULL;
    if (name)
        memcpy(name, images, n + 1);
    if (!name || !alt || !idx_replace(name, base, "images", "labels")) {
        int rc = name && alt ? 0 : -1;
        free(name);
        free(alt);
        return rc;
    }
    static const char *const ranks[] = { "idx3", "idx4", "idx2" };
    for (int i = 0; i < 3; i++)
        if (idx_replace(name, base, ranks[i], "idx1"))
            break;
    size_t len = strlen(name);
    memcpy(alt, name, len + 1);
    if (len > 3 && strcmp(alt + len - 3, ".gz") == 0)
        alt[len - 3] = 0;
    else
        memcpy(alt + len, ".gz", 4);
    if (access(name, F_OK) != 0 && access(alt, F_OK) == 0) {
        free(name);
        *out = alt;
        return 0;
    }
    free(alt);
    *out = name;
    return 0;
}

cnnrt_dataset *cnnrt_idx_open(const char *path, const char *labels, int c, int h, int w,
                              int tsize, int need_labels, char *err, size_t errlen)
{
    idx_set *s = calloc(1, sizeof *s);
    char *beside = NULL;
    if (!s || !(s->path = cnnrt_strdup(path))) {
        cnnrt_errorf(err, errlen, path, "out of memory");
        goto fail;
    }
    if (idx_read(path, &s->images, err, errlen) < 0
        || idx_check_shape(&s->images, path, c, h, w, err, errlen) < 0)
        goto fail;
    s->sample = (long)c * h * w;

    if (!labels && tsize > 0) {
        if (idx_labels_beside(path, &beside) < 0) {
            cnnrt_errorf(err, errlen, path, "out of memory");
            goto fail;
        }
        if (!beside && need_labels) {
            cnnrt_errorf(err, errlen, path, "cannot tell where its labels are: "
                         "give them with --labels");
            goto fail;
        }
        if (beside && !need_labels && access(beside, F_OK) != 0) {
            free(beside);
            beside = NULL;
        }
        labels = beside;
    }
    if (labels && tsize > 0) {
        if (idx_read(labels, &s->labels, err, errlen) < 0
            || idx_check_labels(&s->labels, labels, s->images.dims[0], path, tsize,
                                err, errlen) < 0)
            goto fail;
        s->base.tsize = tsize;
    }
    free(beside);
    s->base.path = s->path;
    s->base.count = (int)s->images.dims[0];
    s->base.c = c, s->base.h = h, s->base.w = w;
    s->base.get = idx_get;
    s->base.close = idx_close;
    return &s->base;
fail:
    free(beside);
    if (s)
        idx_close(&s->base);
    return NULL;
}
