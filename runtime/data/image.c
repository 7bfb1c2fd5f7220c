/* image.c — image files as data: decoding (stb_image), conversion to the
 * model's channels, bilinear resizing, and the data sets made of image
 * files: a class folder (ROOT/<class>/...), a plain folder of images and a
 * single image file (both unlabelled, for predict).
 *
 * A set keeps file names only; every get() decodes its file again, so a
 * set costs its list of names, and the loader's threads hide the decoding
 * behind training.  At open every file's header is looked at (stbi_info),
 * so empty, foreign and corrupt-header files are left out with a warning;
 * a file that fails only in the full decode (truncated data) makes get()
 * say 1 and the loader skips it.
 *
 * Not here: YOLO lists (yolo.c), augmentation (augment.c), writing images
 * (dump.c).
 */
#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L
#endif
#include "cnnrt_data.h"
#include "data.h"

#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include <stb/stb_image.h>

#define IMG_MAX_DEPTH 16        /* folder nesting below a class folder */

int cnnrt_is_image_name(const char *path)
{
    static const char *const ext[] = { ".png", ".jpg", ".jpeg", ".bmp", ".tga", ".gif" };
    size_t n = strlen(path);
    for (size_t i = 0; i < sizeof ext / sizeof ext[0]; i++) {
        size_t e = strlen(ext[i]);
        if (n > e && !strcasecmp(path + n - e, ext[i]))
            return 1;
    }
    return 0;
}

/* fopen, with the reason in err when it fails */
static FILE *img_fopen(const char *path, char *err, size_t errlen)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        cnnrt_errorf(err, errlen, path, "%s", strerror(errno));
    return f;
}

int cnnrt_image_check(const char *path, char *err, size_t errlen)
{
    FILE *f = img_fopen(path, err, errlen);
    if (!f)
        return -1;
    int w, h, n, ok = stbi_info_from_file(f, &w, &h, &n);
    fclose(f);
    if (ok)
        return 0;
    cnnrt_errorf(err, errlen, path, "not an image stb_image can read (%s)",
                 stbi_failure_reason());
    return -1;
}

void cnnrt_resample(const float *src, int c, int sh, int sw, float *dst, int dh, int dw,
                    const cnnrt_window *win)
{
    for (int ch = 0; ch < c; ch++) {
        const float *s = src + (size_t)ch * sh * sw;
        float *d = dst + (size_t)ch * dh * dw;
        for (int y = win->ry; y < win->ry + win->rh; y++) {
            float v = (float)((y - win->ry + win->oy + 0.5) / win->sy - 0.5);
            v = v < 0 ? 0 : v > sh - 1 ? (float)(sh - 1) : v;
            int y0 = (int)v, y1 = y0 + 1 < sh ? y0 + 1 : y0;
            float fy = v - (float)y0;
            const float *r0 = s + (size_t)y0 * sw, *r1 = s + (size_t)y1 * sw;
            for (int x = win->rx; x < win->rx + win->rw; x++) {
                float u = (float)((x - win->rx + win->ox + 0.5) / win->sx - 0.5);
                u = u < 0 ? 0 : u > sw - 1 ? (float)(sw - 1) : u;
                int x0 = (int)u, x1 = x0 + 1 < sw ? x0 + 1 : x0;
                float fx = u - (float)x0;
                float top = r0[x0] + fx * (r0[x1] - r0[x0]);
                float bot = r1[x0] + fx * (r1[x1] - r1[x0]);
                d[(size_t)y * dw + x] = top + fy * (bot - top);
            }
        }
    }
}

int cnnrt_image_load(const char *path, int c, int h, int w, float *x,
                     char *err, size_t errlen)
{
    if (c < 1 || c > 4) {
        cnnrt_errorf(err, errlen, path, "image files give 1 to 4 channels; the model's "
                     "input has %d", c);
        return -1;
    }
    FILE *f = img_fopen(path, err, errlen);
    if (!f)
        return -1;
    int iw, ih, n;
    unsigned char *p = stbi_load_from_file(f, &iw, &ih, &n, c);
    fclose(f);
    if (!p) {
        int oom = strcmp(stbi_failure_reason(), "outofmem") == 0;
        if (oom)
            cnnrt_errorf(err, errlen, path, "out of memory decoding the image");
        else
            cnnrt_errorf(err, errlen, path, "cannot decode the image (%s)", stbi_failure_reason());
        errno = oom ? ENOMEM : EINVAL;
        return -1;
    }
    /* interleaved u8 -> planar floats, at the file's size unless it is
     * already the model's */
    int same = iw == w && ih == h;
    size_t plane = (size_t)iw * ih;
    float *planes = same ? x : malloc(sizeof *planes * plane * (size_t)c);
    if (!planes) {
        stbi_image_free(p);
        cnnrt_errorf(err, errlen, path, "out of memory for a %dx%d image", iw, ih);
        errno = ENOMEM;
        return -1;
    }
    for (int ch = 0; ch < c; ch++)
        for (size_t k = 0; k < plane; k++)
            planes[ch * plane + k] = p[k * (size_t)c + ch] / 255.0f;
    stbi_image_free(p);
    if (!same) {
        cnnrt_window win = { 0, 0, w, h, 0, 0, (double)w / iw, (double)h / ih };
        cnnrt_resample(planes, c, ih, iw, x, h, w, &win);
        free(planes);
    }
    return 0;
}

/* ---- the file list of a folder ---- */
typedef struct {
    char **v;
    int n, cap;
} img_names;

static int img_push(img_names *l, char *s)
{
    if (!s)
        return -1;
    if (l->n == l->cap) {
        int cap = l->cap ? 2 * l->cap : 64;
        char **v = realloc(l->v, sizeof *v * (size_t)cap);
        if (!v) {
            free(s);
            return -1;
        }
        l->v = v, l->cap = cap;
    }
    l->v[l->n++] = s;
    return 0;
}

static void img_names_free(img_names *l)
{
    for (int i = 0; i < l->n; i++)
        free(l->v[i]);
    free(l->v);
    l->v = NULL;
    l->n = l->cap = 0;
}

static int img_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static char *img_join(const char *dir, const char *name)
{
    size_t a = strlen(dir), b = strlen(name);
    char *p = malloc(a + b + 2);
    if (p) {
        memcpy(p, dir, a);
        p[a] = '/';
        memcpy(p + a + 1, name, b + 1);
    }
    return p;
}

/* The entries of dir (hidden ones left out), sorted, sorted into folders
 * and image files; anything else only counts in *other.  0, or -1 with err. */
static int img_list_dir(const char *dir, img_names *dirs, img_names *files, int *other,
                        char *err, size_t errlen)
{
    DIR *d = opendir(dir);
    if (!d) {
        cnnrt_errorf(err, errlen, dir, "%s", strerror(errno));
        return -1;
    }
    int rc = 0;
    for (struct dirent *e; rc == 0 && (e = readdir(d));) {
        if (e->d_name[0] == '.')
            continue;
        char *p = img_join(dir, e->d_name);
        struct stat st;
        if (p && stat(p, &st) == 0 && S_ISDIR(st.st_mode))
            rc = img_push(dirs, p);
        else if (p && cnnrt_is_image_name(p))
            rc = img_push(files, p);
        else {
            *other += p != NULL;
            free(p);
            rc = p ? 0 : -1;
        }
    }
    closedir(d);
    if (rc < 0) {
        cnnrt_errorf(err, errlen, dir, "out of memory listing the folder");
        return -1;
    }
    if (dirs->n > 1)
        qsort(dirs->v, (size_t)dirs->n, sizeof *dirs->v, img_cmp);
    if (files->n > 1)
        qsort(files->v, (size_t)files->n, sizeof *files->v, img_cmp);
    return 0;
}

/* Every image file below dir, depth-first in name order, onto files. */
static int img_walk(const char *dir, int depth, img_names *files, int *other,
                    char *err, size_t errlen)
{
    img_names dirs = {0}, here = {0};
    int rc = img_list_dir(dir, &dirs, &here, other, err, errlen);
    for (int i = 0; rc == 0 && i < here.n; i++) {
        rc = img_push(files, here.v[i]);
        here.v[i] = NULL;
        if (rc < 0)
            cnnrt_errorf(err, errlen, dir, "out of memory listing the folder");
    }
    if (rc == 0 && dirs.n && depth >= IMG_MAX_DEPTH) {
        cnnrt_warn("'%s': folders nested deeper than %d are not read", dir, IMG_MAX_DEPTH);
    } else {
        for (int i = 0; rc == 0 && i < dirs.n; i++)
            rc = img_walk(dirs.v[i], depth + 1, files, other, err, errlen);
    }
    img_names_free(&dirs);
    img_names_free(&here);
    return rc;
}

/* ---- the data set ---- */
typedef struct {
    cnnrt_dataset base;         /* first: a cnnrt_dataset * is an img_set * */
    char *path;
    img_names files;            /* base.count of them */
    int *label;                 /* class of each file; NULL when unlabelled */
    img_names classes;          /* class folder names, base.classes points here */
} img_set;

static int img_get(const cnnrt_dataset *d, int i, float *x, float *target,
                   char *err, size_t errlen)
{
    const img_set *s = (const img_set *)d;
    if (cnnrt_data_check_index(d, i, err, errlen) < 0)
        return -1;
    if (cnnrt_image_load(s->files.v[i], d->c, d->h, d->w, x, err, errlen) < 0)
        return errno == ENOMEM ? -1 : 1;    /* out of memory is no bad file */
    if (!target || !d->tsize)
        return 0;
    if (d->tsize == 1) {
        target[0] = (float)s->label[i];
        return 0;
    }
    for (int k = 0; k < d->tsize; k++)
        target[k] = 0;
    target[s->label[i]] = 1;
    return 0;
}

static const char *img_name(const cnnrt_dataset *d, int i)
{
    const img_set *s = (const img_set *)d;
    return i >= 0 && i < d->count ? s->files.v[i] : NULL;
}

static void img_close(cnnrt_dataset *d)
{
    img_set *s = (img_set *)d;
    img_names_free(&s->files);
    img_names_free(&s->classes);
    free(s->label);
    free(s->path);
    free(s);
}

/* Leaves out (with a warning) the files whose header stb_image cannot
 * read, keeping labels in step.  Returns how many were left out. */
static int img_drop_unreadable(img_set *s)
{
    char msg[1024];
    int kept = 0;
    for (int i = 0; i < s->files.n; i++) {
        if (cnnrt_image_check(s->files.v[i], msg, sizeof msg) < 0) {
            cnnrt_warn("%s; skipped", msg);
            free(s->files.v[i]);
            continue;
        }
        if (s->label)
            s->label[kept] = s->label[i];
        s->files.v[kept++] = s->files.v[i];
    }
    int dropped = s->files.n - kept;
    s->files.n = kept;
    return dropped;
}

/* Class folders: every image below classes[k] is labelled k.  0, or -1. */
static int img_add_classes(img_set *s, int *other, char *err, size_t errlen)
{
    for (int k = 0; k < s->classes.n; k++) {
        int before = s->files.n;
        if (img_walk(s->classes.v[k], 1, &s->files, other, err, errlen) < 0)
            return -1;
        if (s->files.n == before)
            cnnrt_warn("'%s': class folder without images", s->classes.v[k]);
        int *l = realloc(s->label, sizeof *l * (size_t)(s->files.n ? s->files.n : 1));
        if (!l) {
            cnnrt_errorf(err, errlen, s->path, "out of memory");
            return -1;
        }
        s->label = l;
        for (int i = before; i < s->files.n; i++)
            l[i] = k;
        /* the class name is the folder's own name */
        char *full = s->classes.v[k], *slash = strrchr(full, '/');
        memmove(full, slash + 1, strlen(slash + 1) + 1);
    }
    return 0;
}

/* Whether the class folders fit the model's targets: tsize classes, or two
 * for a single output.  Otherwise an error when labels are needed, or the
 * set opens unlabelled. */
static int img_fit_classes(img_set *s, int tsize, int need_labels, char *err, size_t errlen)
{
    int want = tsize == 1 ? 2 : tsize, have = s->classes.n;
    if (want > 0 && have == want) {
        s->base.tsize = tsize;
        s->base.classes = (const char *const *)s->classes.v;
        return 0;
    }
    if (!need_labels) {
        free(s->label);
        s->label = NULL;
        return 0;
    }
    if (!have)
        cnnrt_errorf(err, errlen, s->path, "no class folders: expected %s/<class>/<image> "
                     "with one folder per class", s->path);
    else
        cnnrt_errorf(err, errlen, s->path, "%d class folder%s ('%s'%s), but the model has "
                     "%d class%s", have, have == 1 ? "" : "s", s->classes.v[0],
                     have > 1 ? ", ..." : "", want, want == 1 ? "" : "es");
    return -1;
}

static cnnrt_dataset *img_finish(img_set *s, int c, int h, int w, char *err, size_t errlen)
{
    int total = s->files.n;
    s->base.skipped = img_drop_unreadable(s);
    if (!s->files.n) {
        if (total)
            cnnrt_errorf(err, errlen, s->path, "none of its %d image file%s can be read",
                         total, total == 1 ? "" : "s");
        else
            cnnrt_errorf(err, errlen, s->path, "no image files (.png .jpg .jpeg .bmp .tga "
                         ".gif) in it");
        img_close(&s->base);
        errno = EINVAL;
        return NULL;
    }
    s->base.path = s->path;
    s->base.count = s->files.n;
    s->base.c = c, s->base.h = h, s->base.w = w;
    s->base.get = img_get;
    s->base.close = img_close;
    s->base.name = img_name;
    return &s->base;
}

cnnrt_dataset *cnnrt_image_open(const char *path, int c, int h, int w, int tsize,
                                int need_labels, char *err, size_t errlen)
{
    img_set *s = calloc(1, sizeof *s);
    if (!s || !(s->path = cnnrt_strdup(path))) {
        free(s);
        cnnrt_errorf(err, errlen, path, "out of memory");
        return NULL;
    }
    if (c > 4) {
        cnnrt_errorf(err, errlen, path, "image files give 1 to 4 channels; the model's input "
                     "has %d%s", c,
                     h == 1 && w == 1 ? " (it is flat: [N], not [C, H, W])" : "");
        goto fail;
    }
    struct stat st;
    if (stat(path, &st) < 0) {
        cnnrt_errorf(err, errlen, path, "%s", strerror(errno));
        goto fail;
    }
    if (!S_ISDIR(st.st_mode)) {                 /* one image file */
        if (need_labels && tsize > 0) {
            cnnrt_errorf(err, errlen, path, "a single image has no label: give a class "
                         "folder or a .txt list");
            goto fail;
        }
        if (img_push(&s->files, cnnrt_strdup(path)) < 0) {
            cnnrt_errorf(err, errlen, path, "out of memory");
            goto fail;
        }
        if (cnnrt_image_check(path, err, errlen) < 0)
            goto fail;
        return img_finish(s, c, h, w, err, errlen);
    }
    int other = 0;
    img_names loose = {0};
    if (img_list_dir(path, &s->classes, &loose, &other, err, errlen) < 0)
        goto fail;
    if (s->classes.n) {
        if (loose.n)
            cnnrt_warn("'%s': %d image%s beside the class folders left out", path,
                       loose.n, loose.n == 1 ? "" : "s");
        img_names_free(&loose);
        if (img_add_classes(s, &other, err, errlen) < 0
            || img_fit_classes(s, tsize, need_labels, err, errlen) < 0)
            goto fail;
    } else {
        s->files = loose;                       /* plain images: unlabelled */
        if (img_fit_classes(s, tsize, need_labels, err, errlen) < 0)
            goto fail;
    }
    if (other)
        cnnrt_warn("'%s': %d non-image file%s left out", path, other, other == 1 ? "" : "s");
    return img_finish(s, c, h, w, err, errlen);
fail:
    img_close(&s->base);
    errno = EINVAL;
    return NULL;
}
