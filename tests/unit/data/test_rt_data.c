/* test_rt_data.c — data sets (runtime/data/idx.c, gzip.c): IDX files the test
 * writes itself, plain and gzip'd (stored deflate blocks, written here, and
 * a tiny fixture compressed by gzip(1)); sample values, one-hot targets,
 * labels found beside the images; every shape, label and file error with
 * its message; truncated and corrupt gzip; and, when the Debian package is
 * installed, the real Fashion-MNIST test labels.
 */
#include "cnnrt_data.h"

#include <check.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "check_util.h"

#define FMNIST "/usr/share/datasets/fashion-mnist"

static char dir[64];

static void make_dir(void)
{
    snprintf(dir, sizeof dir, "/tmp/cnnrt_data_XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(dir));
}

static void remove_dir(void)
{
    DIR *d = opendir(dir);
    if (!d)
        return;
    char path[512];
    for (struct dirent *e; (e = readdir(d));) {
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        if (e->d_name[0] != '.')
            remove(path);
    }
    closedir(d);
    rmdir(dir);
}

/* DIR/name; the result is overwritten by the 4th call after, so tests
 * that hold a path copy it (see `hold`) */
static const char *in_dir(const char *name)
{
    static char buf[4][512];
    static int k;
    k = (k + 1) % 4;
    snprintf(buf[k], sizeof buf[k], "%s/%s", dir, name);
    return buf[k];
}

#define hold(var, name) char var[512]; snprintf(var, sizeof var, "%s", in_dir(name))

/* tests/fixtures/NAME, from this file's path (see test_rt_optim.c) */
static const char *fixture(const char *name)
{
    static char buf[1024];
    const char *self = __FILE__, *unit = strstr(self, "unit/test_rt_data.c");
    if (getenv("CNNRT_FIXTURES"))
        snprintf(buf, sizeof buf, "%s/%s", getenv("CNNRT_FIXTURES"), name);
    else if (unit)
        snprintf(buf, sizeof buf, "%.*sfixtures/%s", (int)(unit - self), self, name);
    else
        snprintf(buf, sizeof buf, "tests/fixtures/%s", name);
    return buf;
}

/* ---- writing files ---- */
typedef struct {
    unsigned char *p;
    size_t len, cap;
} Buf;

static void put(Buf *b, const void *p, size_t n)
{
    if (b->len + n > b->cap) {
        b->cap = (b->len + n) * 2;
        b->p = realloc(b->p, b->cap);
    }
    memcpy(b->p + b->len, p, n);
    b->len += n;
}

static void put_be32(Buf *b, uint32_t v)
{
    unsigned char x[4] = { (unsigned char)(v >> 24), (unsigned char)(v >> 16),
                           (unsigned char)(v >> 8), (unsigned char)v };
    put(b, x, 4);
}

static void put_le(Buf *b, uint32_t v, int bytes)
{
    for (int i = 0; i < bytes; i++) {
        unsigned char c = (unsigned char)(v >> 8 * i);
        put(b, &c, 1);
    }
}

/* an IDX file in memory: type, dims, then `data` (already big-endian) */
static Buf idx(int type, int ndim, const uint32_t *dims, const void *data, size_t len)
{
    Buf b = {0};
    unsigned char head[4] = { 0, 0, (unsigned char)type, (unsigned char)ndim };
    put(&b, head, 4);
    for (int i = 0; i < ndim; i++)
        put_be32(&b, dims[i]);
    put(&b, data, len);
    return b;
}

/* gzip with stored (uncompressed) deflate blocks of at most `block` bytes */
static Buf gzip_stored(const Buf *raw, size_t block)
{
    static const unsigned char head[10] = { 0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 255 };
    Buf b = {0};
    put(&b, head, 10);
    size_t at = 0;
    do {
        size_t n = raw->len - at < block ? raw->len - at : block;
        unsigned char final = at + n == raw->len;   /* BFINAL, BTYPE 00 */
        put(&b, &final, 1);
        put_le(&b, (uint32_t)n, 2);
        put_le(&b, (uint32_t)~n & 0xffff, 2);
        put(&b, raw->p + at, n);
        at += n;
    } while (at < raw->len);
    put_le(&b, cnnrt_crc32(0, raw->p, raw->len), 4);
    put_le(&b, (uint32_t)raw->len, 4);
    return b;
}

static void spit(const char *path, const Buf *b)
{
    FILE *f = fopen(path, "wb");
    ck_assert(f != NULL);
    ck_assert_uint_eq(fwrite(b->p, 1, b->len, f), b->len);
    fclose(f);
}

/* the usual small set: 6 images 1x2x3, pixel (i, k) = 40*i + k */
#define NIMG 6
static Buf small_images(void)
{
    unsigned char px[NIMG * 6];
    for (int i = 0; i < NIMG * 6; i++)
        px[i] = (unsigned char)(40 * (i / 6) + i % 6);
    uint32_t dims[3] = { NIMG, 2, 3 };
    return idx(0x08, 3, dims, px, sizeof px);
}

static Buf small_labels(int n, unsigned char first)
{
    unsigned char lab[64];
    for (int i = 0; i < n; i++)
        lab[i] = (unsigned char)((first + 3 * i) % 4);
    uint32_t dims[1] = { (uint32_t)n };
    return idx(0x08, 1, dims, lab, (size_t)n);
}

static void write_small(const char *images, const char *labels, int gz)
{
    Buf im = small_images(), lb = small_labels(NIMG, 0);
    if (gz) {
        Buf g = gzip_stored(&im, 7);
        spit(images, &g);
        free(g.p);
    } else {
        spit(images, &im);
    }
    spit(labels, &lb);
    free(im.p);
    free(lb.p);
}

static char err[1024];

static cnnrt_dataset *open_ok(const char *path, const char *labels, int c, int h, int w,
                              int tsize, int need)
{
    cnnrt_dataset *d = cnnrt_data_open(path, labels, c, h, w, tsize, need, err, sizeof err);
    ck_assert_msg(d != NULL, "open %s: %s", path, err);
    return d;
}

/* opening fails with exactly "'PATH': MSG" */
static void open_fails(const char *path, const char *labels, int c, int h, int w,
                       int tsize, const char *msg_path, const char *msg)
{
    char want[1024];
    cnnrt_dataset *d = cnnrt_data_open(path, labels, c, h, w, tsize, 1, err, sizeof err);
    ck_assert_msg(d == NULL, "%s opened", path);
    snprintf(want, sizeof want, "'%s': %s", msg_path, msg);
    ck_assert_str_eq(err, want);
}

/* sample i of the small set, checked value by value */
static void check_small_sample(cnnrt_dataset *d, int i)
{
    float x[6], t[4];
    ck_assert_int_eq(d->get(d, i, x, t, err, sizeof err), 0);
    for (int k = 0; k < 6; k++)
        ck_assert_float_eq(x[k], (float)(40 * i + k) / 255.0f);
    for (int k = 0; k < 4; k++)
        ck_assert_float_eq(t[k], k == (3 * i) % 4 ? 1.0f : 0.0f);
}

START_TEST(plain_idx)
{
    write_small(in_dir("a-images-idx3-ubyte"), in_dir("a-labels-idx1-ubyte"), 0);
    cnnrt_dataset *d = open_ok(in_dir("a-images-idx3-ubyte"), NULL, 1, 2, 3, 4, 1);
    ck_assert_int_eq(d->count, NIMG);
    ck_assert_int_eq(d->c * d->h * d->w, 6);
    ck_assert_int_eq(d->tsize, 4);
    ck_assert_str_eq(d->path, in_dir("a-images-idx3-ubyte"));
    for (int i = 0; i < NIMG; i++)
        check_small_sample(d, i);
    float x[6];
    ck_assert_int_eq(d->get(d, NIMG, x, NULL, err, sizeof err), -1);
    cnnrt_data_close(d);
    /* a flat [6] model input takes the same file */
    d = open_ok(in_dir("a-images-idx3-ubyte"), NULL, 6, 1, 1, 4, 1);
    check_small_sample(d, 5);
    cnnrt_data_close(d);
    cnnrt_data_close(NULL);
}
END_TEST

START_TEST(gzip_stored_blocks)
{
    /* images gzip'd, labels plain beside them: found through the .gz toggle */
    write_small(in_dir("b-images-idx3-ubyte.gz"), in_dir("b-labels-idx1-ubyte"), 1);
    cnnrt_dataset *d = open_ok(in_dir("b-images-idx3-ubyte.gz"), NULL, 1, 2, 3, 4, 1);
    ck_assert_int_eq(d->count, NIMG);
    for (int i = 0; i < NIMG; i++)
        check_small_sample(d, i);
    cnnrt_data_close(d);
    /* given explicitly, labels may be anywhere and called anything */
    rename(in_dir("b-labels-idx1-ubyte"), in_dir("mylabels"));
    d = open_ok(in_dir("b-images-idx3-ubyte.gz"), in_dir("mylabels"), 1, 2, 3, 4, 1);
    check_small_sample(d, 2);
    cnnrt_data_close(d);
    /* not needed and not found: an unlabelled set */
    d = open_ok(in_dir("b-images-idx3-ubyte.gz"), NULL, 1, 2, 3, 4, 0);
    ck_assert_int_eq(d->tsize, 0);
    cnnrt_data_close(d);
}
END_TEST

/* tiny-*-ubyte.gz were compressed by gzip -9, which stores the file name */
START_TEST(gzip_fixture)
{
    size_t len;
    unsigned char *p = cnnrt_read_file(fixture("tiny-images-idx3-ubyte.gz"), &len,
                                       err, sizeof err);
    ck_assert_msg(p != NULL, "%s", err);
    ck_assert_uint_eq(len, 16 + 5 * 12);
    free(p);
    cnnrt_dataset *d = open_ok(fixture("tiny-images-idx3-ubyte.gz"), NULL, 1, 3, 4, 10, 1);
    static const int labels[5] = { 3, 1, 4, 1, 5 };
    for (int i = 0; i < 5; i++) {
        float x[12], t[10];
        ck_assert_int_eq(d->get(d, i, x, t, err, sizeof err), 0);
        for (int k = 0; k < 12; k++)
            ck_assert_float_eq(x[k], (float)((17 * i + 5 * k) % 256) / 255.0f);
        ck_assert_float_eq(t[labels[i]], 1);
    }
    cnnrt_data_close(d);
}
END_TEST

static void put_f32_be(unsigned char *p, float f)
{
    uint32_t bits;
    memcpy(&bits, &f, 4);
    for (int i = 0; i < 4; i++)
        p[i] = (unsigned char)(bits >> (24 - 8 * i));
}

START_TEST(float_images_and_targets)
{
    unsigned char px[3 * 2 * 2 * 2 * 4], tg[3 * 3 * 4];
    for (int i = 0; i < 24; i++)
        put_f32_be(px + 4 * i, -1.5f + 0.25f * (float)i);
    for (int i = 0; i < 9; i++)
        put_f32_be(tg + 4 * i, 0.1f * (float)i);
    uint32_t di[4] = { 3, 2, 2, 2 }, dt[2] = { 3, 3 };
    Buf im = idx(0x0D, 4, di, px, sizeof px), tb = idx(0x0D, 2, dt, tg, sizeof tg);
    spit(in_dir("f-images"), &im);
    spit(in_dir("f-labels"), &tb);
    cnnrt_dataset *d = open_ok(in_dir("f-images"), in_dir("f-labels"), 2, 2, 2, 3, 1);
    float x[8], t[3];
    ck_assert_int_eq(d->get(d, 2, x, t, err, sizeof err), 0);
    for (int k = 0; k < 8; k++)
        ck_assert_float_eq(x[k], -1.5f + 0.25f * (float)(16 + k));
    for (int k = 0; k < 3; k++)
        ck_assert_float_eq(t[k], 0.1f * (float)(6 + k));
    cnnrt_data_close(d);
    open_fails(in_dir("f-images"), in_dir("f-labels"), 2, 2, 2, 4, in_dir("f-labels"),
               "expected float targets of 4 values per sample, got 3");
    free(im.p);
    free(tb.p);
}
END_TEST

START_TEST(shape_errors)
{
    uint32_t dims[3] = { 2, 32, 32 };
    static unsigned char px[2 * 32 * 32];
    Buf b = idx(0x08, 3, dims, px, sizeof px);
    spit(in_dir("big-images"), &b);
    Buf lb = small_labels(2, 0);
    spit(in_dir("big-labels"), &lb);
    hold(p, "big-images");
    open_fails(p, NULL, 3, 32, 32, 10, p, "expected 3 channels, got 1");
    open_fails(p, NULL, 1, 28, 28, 10, p, "expected 28x28 images, got 32x32");
    open_fails(p, NULL, 784, 1, 1, 10, p, "expected samples of 784 values, got 1x32x32 = "
               "1024 values");
    cnnrt_data_close(open_ok(p, NULL, 1024, 1, 1, 10, 1));
    free(lb.p);
    lb = small_labels(2, 0);
    spit(in_dir("lab-only"), &lb);
    open_fails(in_dir("lab-only"), NULL, 1, 2, 1, 4, in_dir("lab-only"),
               "holds one value per sample (a label file?), not images");
    free(b.p);
    free(lb.p);
}
END_TEST

START_TEST(label_errors)
{
    hold(im, "c-images-idx3-ubyte");
    Buf b = small_images();
    spit(im, &b);
    /* nothing beside it */
    open_fails(im, NULL, 1, 2, 3, 4, in_dir("c-labels-idx1-ubyte"),
               "No such file or directory");
    /* too few labels */
    Buf lb = small_labels(5, 0);
    spit(in_dir("c-labels-idx1-ubyte"), &lb);
    free(lb.p);
    char msg[600];
    snprintf(msg, sizeof msg, "5 labels for the 6 images of '%s'", im);
    open_fails(im, NULL, 1, 2, 3, 4, in_dir("c-labels-idx1-ubyte"), msg);
    /* a class the model does not have: labels are 2, 1, 0, 3, ... here */
    lb = small_labels(NIMG, 2);
    spit(in_dir("c-labels-idx1-ubyte"), &lb);
    free(lb.p);
    open_fails(im, NULL, 1, 2, 3, 3, in_dir("c-labels-idx1-ubyte"),
               "label 3 of sample 3 is out of range for 3 classes");
    /* a single output takes the label value itself */
    cnnrt_dataset *d = open_ok(im, NULL, 1, 2, 3, 1, 1);
    float x[6], t[1];
    d->get(d, 1, x, t, err, sizeof err);
    ck_assert_float_eq(t[0], 1);
    cnnrt_data_close(d);
    /* a name without "images" */
    spit(in_dir("data.idx"), &b);
    open_fails(in_dir("data.idx"), NULL, 1, 2, 3, 4, in_dir("data.idx"),
               "cannot tell where its labels are: give them with --labels");
    free(b.p);
}
END_TEST

START_TEST(bad_idx_files)
{
    Buf b = small_images();
    hold(p, "bad");
    b.len--;
    spit(p, &b);
    open_fails(p, NULL, 1, 2, 3, 4, p, "truncated: the header announces 36 bytes of data, "
               "the file has 35");
    b.len = 10;
    spit(p, &b);
    open_fails(p, NULL, 1, 2, 3, 4, p, "truncated IDX header");
    b.len = 0;
    spit(p, &b);
    open_fails(p, NULL, 1, 2, 3, 4, p, "empty file: not an IDX file");
    free(b.p);
    b = small_images();
    put(&b, "xx", 2);
    spit(p, &b);
    open_fails(p, NULL, 1, 2, 3, 4, p, "2 bytes after the 36 the header announces: "
               "not an IDX file, or corrupt");
    memcpy(b.p, "\x89PNG", 4);
    spit(p, &b);
    open_fails(p, NULL, 1, 2, 3, 4, p, "not an IDX file (it does not start with two zero bytes)");
    memcpy(b.p, "\0\0\x0B\3", 4);
    spit(p, &b);
    open_fails(p, NULL, 1, 2, 3, 4, p, "IDX element type 0x0B is not supported "
               "(u8 0x08 and float32 0x0D are)");
    open_fails(in_dir("none-images"), NULL, 1, 2, 3, 4, in_dir("none-images"),
               "No such file or directory");
    /* 0 samples of 0x68707800 x 0x13e0000 x 0xa92d: the file's size is 0,
     * a sample's overflows (a fuzz finding, signed overflow) */
    b.len = 0;
    put(&b, "\0\0\x08\x04\0\0\0\0hpx\0\x01\x3e\0\0\0\0\xa9\x2d", 20);
    spit(p, &b);
    open_fails(p, NULL, 1, 2, 3, 4, p, "IDX header sizes are impossibly large: the file is corrupt");
    free(b.p);
}
END_TEST

/* Every truncation of a gzip file fails; every single-byte change either
 * fails or (in header fields nobody checks) still gives the right data. */
START_TEST(bad_gzip_files)
{
    Buf raw = small_images();
    Buf gz = gzip_stored(&raw, 5);
    hold(p, "g-images.gz");
    size_t len;
    for (size_t cut = 0; cut < gz.len; cut++) {
        Buf part = { gz.p, cut, cut };
        spit(p, &part);
        unsigned char *out = cnnrt_read_file(p, &len, err, sizeof err);
        ck_assert_msg(out == NULL || cut < 2, "cut at %zu read", cut);
        /* whatever bytes end a cut file are no size to report */
        ck_assert_msg(out || !strstr(err, "GiB"), "cut at %zu: %s", cut, err);
        free(out);
    }
    /* a cut whose last 4 bytes, read as the trailer's size, exceed 2 GiB */
    Buf cut = { gz.p, 20, 20 };
    unsigned char keep = gz.p[19];
    gz.p[19] = 0xff;
    spit(p, &cut);
    gz.p[19] = keep;
    ck_assert_ptr_null(cnnrt_read_file(p, &len, err, sizeof err));
    ck_assert_msg(strstr(err, "the file is truncated or corrupt"), "%s", err);
    for (size_t i = 2; i < gz.len; i++) {
        gz.p[i] ^= 0x21;
        spit(p, &gz);
        unsigned char *out = cnnrt_read_file(p, &len, err, sizeof err);
        ck_assert_msg(out == NULL || (len == raw.len && !memcmp(out, raw.p, len)),
                      "byte %zu changed, wrong data read", i);
        free(out);
        gz.p[i] ^= 0x21;
    }
    char want[600];
    gz.p[16] ^= 1;      /* stored data (10 header + 5 block header bytes on) */
    spit(p, &gz);
    ck_assert_ptr_null(cnnrt_read_file(p, &len, err, sizeof err));
    snprintf(want, sizeof want, "'%s': gzip CRC mismatch: the file is corrupt", p);
    ck_assert_str_eq(err, want);
    gz.p[16] ^= 1;
    gz.p[gz.len - 4] ^= 1;   /* the length in the trailer */
    spit(p, &gz);
    ck_assert_ptr_null(cnnrt_read_file(p, &len, err, sizeof err));
    snprintf(want, sizeof want, "'%s': corrupt or truncated gzip data", p);
    ck_assert_str_eq(err, want);
    gz.p[gz.len - 4] ^= 1;
    gz.p[2] = 7;
    spit(p, &gz);
    ck_assert_ptr_null(cnnrt_read_file(p, &len, err, sizeof err));
    snprintf(want, sizeof want, "'%s': gzip compression method is not deflate", p);
    ck_assert_str_eq(err, want);
    gz.len = 12;
    spit(p, &gz);
    open_fails(p, NULL, 1, 2, 3, 4, p, "truncated gzip file");
    free(raw.p);
    free(gz.p);
}
END_TEST

START_TEST(fashion_mnist_labels)
{
    const char *labels = FMNIST "/t10k-labels-idx1-ubyte.gz";
    const char *images = FMNIST "/t10k-images-idx3-ubyte.gz";
    if (access(labels, R_OK) != 0) {
        fprintf(stderr, "skipped: %s is not installed\n", labels);
        return;
    }
    size_t len;
    unsigned char *p = cnnrt_read_file(labels, &len, err, sizeof err);
    ck_assert_msg(p != NULL, "%s", err);
    ck_assert_uint_eq(len, 10008);
    ck_assert_int_eq(p[2], 0x08);
    ck_assert_int_eq(p[3], 1);
    ck_assert_uint_eq((uint32_t)p[4] << 24 | p[5] << 16 | p[6] << 8 | p[7], 10000);
    static const unsigned char first[12] = { 9, 2, 1, 1, 6, 1, 4, 6, 5, 7, 4, 5 };
    ck_assert_mem_eq(p + 8, first, 12);
    free(p);
    if (access(images, R_OK) != 0)
        return;
    cnnrt_dataset *d = open_ok(images, NULL, 1, 28, 28, 10, 1);
    ck_assert_int_eq(d->count, 10000);
    static float x[784];
    float t[10];
    ck_assert_int_eq(d->get(d, 0, x, t, err, sizeof err), 0);
    ck_assert_float_eq(t[9], 1);
    double sum = 0;
    for (int k = 0; k < 784; k++)
        sum += x[k];
    ck_assert_double_eq_tol(sum, 33456 / 255.0, 1e-3);
    cnnrt_data_close(d);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("rt_data");
    TCase *t = tcase_create("data");
    tcase_add_checked_fixture(t, make_dir, remove_dir);
    tcase_set_timeout(t, 60);
    tcase_add_test(t, plain_idx);
    tcase_add_test(t, gzip_stored_blocks);
    tcase_add_test(t, gzip_fixture);
    tcase_add_test(t, float_images_and_targets);
    tcase_add_test(t, shape_errors);
    tcase_add_test(t, label_errors);
    tcase_add_test(t, bad_idx_files);
    tcase_add_test(t, bad_gzip_files);
    tcase_add_test(t, fashion_mnist_labels);
    suite_add_tcase(s, t);
    return s;
}

int main(void)
{
    return check_run(suite(), 1);
}
