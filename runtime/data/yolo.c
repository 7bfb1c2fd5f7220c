/* yolo.c — detection data: a `.txt` list of image files, each with a
 * YOLO-format label file beside it (cnnrt_data.h, "image data and
 * augmentation", says where the label files are looked for).
 *
 * Every label file is read and checked at open, so a bad value is
 * refused there with its file and line, and get() only decodes the image.
 * A label line is `class cx cy w h`: class a whole number below the
 * model's class count, the rest in [0, 1].  A box may stick out of the
 * image by YOLO_EDGE (rounding in the tool that wrote it) and is clipped;
 * more than that is refused.  A box of zero width or height is left out
 * with one warning for the whole set.  Boxes are kept as corners, in the
 * sample's normalized coordinates (cnnrt_box).
 *
 * Not here: decoding (image.c), what happens to boxes in augmentation
 * (augment.c).
 */
#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L
#endif
#include "cnnrt_data.h"
#include "data.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define YOLO_EDGE 0.01          /* how far a box may leave the image, normalized */
#define YOLO_MAXLINE 4096

typedef struct {
    cnnrt_dataset base;         /* first: a cnnrt_dataset * is a yolo_set * */
    char *path;
    char **files;
    int nfiles, cap;
    int *first;                 /* image i's boxes: box[first[i] .. first[i+1]) */
    cnnrt_box *box;
    int nbox, boxcap;
    int nclasses;               /* classes a label may name */
    int zero, zero_line;        /* zero-size boxes left out, and the first's line */
    char *zero_file;
} yolo_set;

/* ---- lines ---- */
/* The next line of buf[*at .. len) with CR, leading and trailing blanks
 * cut, into line (NUL-terminated); 0 at the end.  *lineno counts lines. */
static int yolo_line(const char *buf, size_t len, size_t *at, char *line, size_t cap,
                     int *lineno)
{
    if (*at >= len)
        return 0;
    size_t start = *at, end = start;
    while (end < len && buf[end] != '\n')
        end++;
    *at = end + 1;
    ++*lineno;
    while (start < end && (buf[start] == ' ' || buf[start] == '\t'))
        start++;
    while (end > start && (buf[end - 1] == '\r' || buf[end - 1] == ' '
                           || buf[end - 1] == '\t'))
        end--;
    size_t n = end - start < cap - 1 ? end - start : cap - 1;
    memcpy(line, buf + start, n);
    line[n] = 0;
    return 1;
}

/* ---- label files ---- */
static int yolo_push_box(yolo_set *s, const cnnrt_box *b)
{
    if (s->nbox == s->boxcap) {
        int cap = s->boxcap ? 2 * s->boxcap : 256;
        cnnrt_box *v = realloc(s->box, sizeof *v * (size_t)cap);
        if (!v)
            return -1;
        s->box = v, s->boxcap = cap;
    }
    s->box[s->nbox++] = *b;
    return 0;
}

/* One label line into *b: 0; 1 for a zero-size box; -1 with err. */
static int yolo_parse_box(const yolo_set *s, const char *file, int ln, const char *line,
                          cnnrt_box *b, char *err, size_t errlen)
{
    static const char *const what[] = { "class", "cx", "cy", "w", "h" };
    double v[5];
    int n = 0;
    const char *p = line;
    for (;;) {
        while (*p == ' ' || *p == '\t')
            p++;
        if (!*p)
            break;
        char *end;
        double x = strtod(p, &end);
        if (end == p || (*end && *end != ' ' && *end != '\t')) {
            const char *stop = p + strcspn(p, " \t");
            cnnrt_errorf(err, errlen, file, "line %d: '%.*s' is not a number", ln,
                         (int)(stop - p), p);
            return -1;
        }
        if (n < 5)
            v[n] = x;
        n++;
        p = end;
    }
    if (n != 5) {
        cnnrt_errorf(err, errlen, file, "line %d: expected 5 values 'class cx cy w h', "
                     "got %d", ln, n);
        return -1;
    }
    if (!(v[0] >= 0) || v[0] != floor(v[0]) || v[0] >= s->nclasses) {
        if (v[0] >= 0 && v[0] == floor(v[0]))
            cnnrt_errorf(err, errlen, file, "line %d: class %g is out of range for %d "
                         "classes", ln, v[0], s->nclasses);
        else
            cnnrt_errorf(err, errlen, file, "line %d: class %g is not a class index (a "
                         "whole number from 0)", ln, v[0]);
        return -1;
    }
    for (int k = 1; k < 5; k++)
        if (!(v[k] >= 0 && v[k] <= 1)) {
            cnnrt_errorf(err, errlen, file, "line %d: %s = %g is outside [0, 1] (YOLO labels "
                         "are normalized to the image size)", ln, what[k], v[k]);
            return -1;
        }
    double x0 = v[1] - v[3] / 2, x1 = v[1] + v[3] / 2;
    double y0 = v[2] - v[4] / 2, y1 = v[2] + v[4] / 2;
    if (x0 < -YOLO_EDGE || x1 > 1 + YOLO_EDGE || y0 < -YOLO_EDGE || y1 > 1 + YOLO_EDGE) {
        cnnrt_errorf(err, errlen, file, "line %d: the box goes past the image: x from %g "
                     "to %g, y from %g to %g", ln, x0, x1, y0, y1);
        return -1;
    }
    b->cls = (int)v[0];
    b->x0 = (float)fmax(x0, 0), b->x1 = (float)fmin(x1, 1);
    b->y0 = (float)fmax(y0, 0), b->y1 = (float)fmin(y1, 1);
    return b->x1 > b->x0 && b->y1 > b->y0 ? 0 : 1;
}

/* The boxes of one label file onto s->box.  0, or -1 with err. */
static int yolo_read_labels(yolo_set *s, const char *file, char *err, size_t errlen)
{
    size_t len, at = 0;
    unsigned char *buf = cnnrt_read_file(file, &len, err, errlen);
    if (!buf)
        return -1;
    char line[YOLO_MAXLINE];
    int ln = 0, rc = 0;
    while (rc >= 0 && yolo_line((const char *)buf, len, &at, line, sizeof line, &ln)) {
        cnnrt_box b;
        if (!*line)
            continue;
        rc = yolo_parse_box(s, file, ln, line, &b, err, errlen);
        if (rc == 1 && !s->zero++) {
            s->zero_line = ln;
            if (!(s->zero_file = cnnrt_strdup(file))) {
                cnnrt_errorf(err, errlen, file, "out of memory");
                rc = -1;
            }
        }
        if (rc == 0 && yolo_push_box(s, &b) < 0) {
            cnnrt_errorf(err, errlen, file, "out of memory");
            rc = -1;
        }
    }
    free(buf);
    return rc < 0 ? -1 : 0;
}

/* The label file of an image into *name, malloc'd: DIR/NAME.txt when it
 * exists, else the /images/ -> /labels/ twin when that exists, else NULL
 * (no boxes).  The list itself is never taken for a label file.  0, or -1
 * when out of memory. */
static int yolo_label_name(const char *image, const char *list, char **name)
{
    size_t n = strlen(image);
    char *a = malloc(n + 8), *b = malloc(n + 8);
    *name = NULL;
    if (!a || !b) {
        free(a);
        free(b);
        return -1;
    }
    const char *slash = strrchr(image, '/'), *dot = strrchr(image, '.');
    size_t stem = dot && (!slash || dot > slash) ? (size_t)(dot - image) : n;
    memcpy(a, image, stem);
    memcpy(a + stem, ".txt", 5);
    if (strcmp(a, list) && access(a, F_OK) == 0) {
        free(b);
        *name = a;
        return 0;
    }
    const char *dir = NULL;
    for (const char *p = strstr(image, "/images/"); p; p = strstr(p + 1, "/images/"))
        dir = p;
    if (!dir)
        goto none;
    memcpy(b, a, stem + 5);
    memcpy(b + (dir - image), "/labels/", 8);
    if (strcmp(b, list) && access(b, F_OK) == 0) {
        free(a);
        *name = b;
        return 0;
    }
none:
    free(a);
    free(b);
    return 0;
}

/* ---- the data set ---- */
static int yolo_get(const cnnrt_dataset *d, int i, float *x, float *target,
                    char *err, size_t errlen)
{
    const yolo_set *s = (const yolo_set *)d;
    if (cnnrt_data_check_index(d, i, err, errlen) < 0)
        return -1;
    if (cnnrt_image_load(s->files[i], d->c, d->h, d->w, x, err, errlen) < 0)
        return errno == ENOMEM ? -1 : 1;    /* out of memory is no bad file */
    if (target && d->tsize)
        cnnrt_box_target(s->box + s->first[i], s->first[i + 1] - s->first[i], d->tsize,
                         target);
    return 0;
}

static int yolo_boxes(const cnnrt_dataset *d, int i, cnnrt_box *box)
{
    const yolo_set *s = (const yolo_set *)d;
    int n = s->first[i + 1] - s->first[i];
    memcpy(box, s->box + s->first[i], sizeof *box * (size_t)n);
    return n;
}

static const char *yolo_name(const cnnrt_dataset *d, int i)
{
    return i >= 0 && i < d->count ? ((const yolo_set *)d)->files[i] : NULL;
}

static void yolo_close(cnnrt_dataset *d)
{
    yolo_set *s = (yolo_set *)d;
    for (int i = 0; i < s->nfiles; i++)
        free(s->files[i]);
    free(s->files);
    free(s->first);
    free(s->box);
    free(s->zero_file);
    free(s->path);
    free(s);
}

/* The image named on a list line, resolved against the list's folder. */
static char *yolo_resolve(const char *list, const char *line)
{
    const char *slash = strrchr(list, '/');
    if (line[0] == '/' || !slash)
        return cnnrt_strdup(line);
    size_t dir = (size_t)(slash - list) + 1, n = strlen(line);
    char *p = malloc(dir + n + 1);
    if (p) {
        memcpy(p, list, dir);
        memcpy(p + dir, line, n + 1);
    }
    return p;
}

/* One list entry: checked, labels read, appended.  0, or -1 with err. */
static int yolo_add(yolo_set *s, char *image, char *err, size_t errlen)
{
    char msg[1024];
    if (cnnrt_image_check(image, msg, sizeof msg) < 0) {
        cnnrt_warn("%s; skipped", msg);
        s->base.skipped++;
        free(image);
        return 0;
    }
    if (s->nfiles + 1 >= s->cap) {
        int cap = s->cap ? 2 * s->cap : 256;
        char **f = realloc(s->files, sizeof *f * (size_t)cap);
        int *first = f ? realloc(s->first, sizeof *first * (size_t)(cap + 1)) : NULL;
        if (f)
            s->files = f;
        if (!first) {
            free(image);
            cnnrt_errorf(err, errlen, s->path, "out of memory");
            return -1;
        }
        s->first = first, s->cap = cap;
    }
    s->files[s->nfiles] = image;
    s->first[s->nfiles++] = s->nbox;
    char *labels;
    int rc = yolo_label_name(image, s->path, &labels);
    if (rc < 0)
        cnnrt_errorf(err, errlen, image, "out of memory");
    else if (labels)
        rc = yolo_read_labels(s, labels, err, errlen);
    free(labels);
    s->first[s->nfiles] = s->nbox;
    int n = s->nbox - s->first[s->nfiles - 1];
    s->base.maxbox = n > s->base.maxbox ? n : s->base.maxbox;
    return rc;
}

cnnrt_dataset *cnnrt_yolo_open(const char *path, int c, int h, int w, int tsize,
                               char *err, size_t errlen)
{
    size_t len, at = 0;
    unsigned char *buf = NULL;
    yolo_set *s = calloc(1, sizeof *s);
    if (!s || !(s->path = cnnrt_strdup(path))) {
        free(s);
        cnnrt_errorf(err, errlen, path, "out of memory");
        return NULL;
    }
    s->nclasses = tsize > 1 ? tsize : tsize == 1 ? 2 : INT_MAX;
    if (c > 4) {
        cnnrt_errorf(err, errlen, path, "image files give 1 to 4 channels; the model's input "
                     "has %d", c);
        goto fail;
    }
    if (!(buf = cnnrt_read_file(path, &len, err, errlen)))
        goto fail;
    char line[YOLO_MAXLINE];
    int ln = 0, listed = 0;
    while (yolo_line((const char *)buf, len, &at, line, sizeof line, &ln)) {
        if (!*line || *line == '#')
            continue;
        char *image = yolo_resolve(path, line);
        listed++;
        if (!image) {
            cnnrt_errorf(err, errlen, path, "out of memory");
            goto fail;
        }
        if (yolo_add(s, image, err, errlen) < 0)
            goto fail;
    }
    if (!s->nfiles) {
        if (listed)
            cnnrt_errorf(err, errlen, path, "none of its %d image%s can be read", listed,
                         listed == 1 ? "" : "s");
        else
            cnnrt_errorf(err, errlen, path, "lists no images (one image path a line)");
        goto fail;
    }
    if (s->zero)
        cnnrt_warn("'%s': %d box%s of zero width or height left out (the first at '%s', "
                   "line %d)", path, s->zero, s->zero == 1 ? "" : "es", s->zero_file,
                   s->zero_line);
    free(buf);
    s->base.maxbox = s->base.maxbox ? s->base.maxbox : 1;  /* detection data, if empty */
    s->base.path = s->path;
    s->base.count = s->nfiles;
    s->base.c = c, s->base.h = h, s->base.w = w;
    s->base.tsize = tsize;
    s->base.get = yolo_get;
    s->base.close = yolo_close;
    s->base.boxes = yolo_boxes;
    s->base.name = yolo_name;
    return &s->base;
fail:
    free(buf);
    yolo_close(&s->base);
    errno = EINVAL;
    return NULL;
}
