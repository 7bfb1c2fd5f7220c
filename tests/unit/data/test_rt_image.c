/* test_rt_image.c — image data (runtime/data/image.c, yolo.c, dump.c): real PNG,
 * JPEG, BMP, TGA and GIF files the test writes itself (stb_image_write,
 * and a GIF built by hand), gray, RGB and RGBA, at other sizes than the
 * model's (bilinear resizing, checked against values worked out by hand);
 * corrupt, truncated, zero-byte and missing files; class folders (order,
 * nesting, hidden and foreign files, class count errors); YOLO lists
 * (CRLF, spaces in paths, blank lines, labels beside the image or under
 * labels/, boxes at the borders, zero-size boxes, every refused value
 * with its file and line); and cnnrt_write_png read back.
 */
#define _XOPEN_SOURCE 700
#include "cnnrt_data.h"

#include <check.h>
#include <errno.h>
#include <ftw.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <stb/stb_image.h>
#include <stb/stb_image_write.h>
#include "check_util.h"

static char dir[64];
static char err[2048];

static void make_dir(void)
{
    snprintf(dir, sizeof dir, "/tmp/cnnrt_image_XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(dir));
}

static int remove_one(const char *p, const struct stat *st, int flag, struct FTW *f)
{
    (void)st, (void)flag, (void)f;
    return remove(p);
}

static void remove_dir(void)
{
    nftw(dir, remove_one, 16, FTW_DEPTH | FTW_PHYS);
}

/* DIR/name (printf-style), its folders made; 8 results live at a time */
static const char *at(const char *fmt, ...)
{
    static char buf[8][1024];
    static int k;
    k = (k + 1) % 8;
    char name[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(name, sizeof name, fmt, ap);
    va_end(ap);
    snprintf(buf[k], sizeof buf[k], "%s/%s", dir, name);
    for (char *s = buf[k] + strlen(dir) + 1; (s = strchr(s, '/')); s++) {
        *s = 0;
        mkdir(buf[k], 0777);
        *s = '/';
    }
    return buf[k];
}

static void write_text(const char *path, const char *text)
{
    FILE *f = fopen(path, "wb");
    ck_assert_msg(f != NULL, "cannot write %s", path);
    fputs(text, f);
    fclose(f);
}

/* a w x h picture of comp channels, each byte a function of x, y, channel */
static unsigned char *pattern(int w, int h, int comp)
{
    unsigned char *p = malloc((size_t)w * h * comp);
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++)
            for (int c = 0; c < comp; c++)
                p[(y * w + x) * comp + c] = (unsigned char)((x * 37 + y * 91 + c * 53 + 11)
                                                            % 256);
    return p;
}

static void write_png(const char *path, int w, int h, int comp)
{
    unsigned char *p = pattern(w, h, comp);
    ck_assert(stbi_write_png(path, w, h, comp, p, w * comp));
    free(p);
}

/* loads path at its own size and compares with pattern(), converted:
 * gray from RGB by stb_image's luminance, alpha 255 when the file has none */
static void expect_exact(const char *path, int w, int h, int comp, int c)
{
    float *x = malloc(sizeof *x * (size_t)w * h * c);
    unsigned char *p = pattern(w, h, comp);
    ck_assert_msg(cnnrt_image_load(path, c, h, w, x, err, sizeof err) == 0, "%s", err);
    for (int k = 0; k < w * h; k++)
        for (int ch = 0; ch < c; ch++) {
            const unsigned char *s = p + k * comp;
            int gray = comp >= 3 ? (s[0] * 77 + s[1] * 150 + s[2] * 29) >> 8 : s[0];
            int want = c <= 2 && ch == 0 ? gray
                : c >= 3 && ch < 3 ? (comp >= 3 ? s[ch] : s[0])
                : (comp == 2 || comp == 4) ? s[comp - 1] : 255;
            float got = x[ch * w * h + k] * 255;
            ck_assert_msg(fabsf(got - (float)want) < 1e-3f, "%s as %d channels: pixel %d "
                          "channel %d is %g, want %d", path, c, k, ch, got, want);
        }
    free(x);
    free(p);
}

START_TEST(formats_and_channels)
{
    for (int comp = 1; comp <= 4; comp++) {
        const char *png = at("p%d.png", comp);
        write_png(png, 5, 3, comp);
        for (int c = 1; c <= 4; c++)
            expect_exact(png, 5, 3, comp, c);
    }
    unsigned char *p = pattern(6, 4, 3);
    const char *bmp = at("a.bmp"), *tga = at("a.TGA");
    ck_assert(stbi_write_bmp(bmp, 6, 4, 3, p));
    ck_assert(stbi_write_tga(tga, 6, 4, 3, p));
    expect_exact(bmp, 6, 4, 3, 3);
    expect_exact(tga, 6, 4, 3, 1);
    free(p);
    /* JPEG is lossy: a smooth picture comes back within a few levels */
    unsigned char smooth[16 * 16 * 3];
    for (int k = 0; k < 16 * 16; k++)
        for (int c = 0; c < 3; c++)
            smooth[k * 3 + c] = (unsigned char)(60 + 40 * c + (k % 16) * 2);
    const char *jpg = at("a.jpeg");
    ck_assert(stbi_write_jpg(jpg, 16, 16, 3, smooth, 100));
    float x[3 * 16 * 16];
    ck_assert_msg(cnnrt_image_load(jpg, 3, 16, 16, x, err, sizeof err) == 0, "%s", err);
    for (int k = 0; k < 16 * 16; k++)
        for (int c = 0; c < 3; c++)
            ck_assert_msg(fabsf(x[c * 256 + k] * 255 - smooth[k * 3 + c]) <= 6,
                          "jpeg pixel %d channel %d: %g vs %d", k, c, x[c * 256 + k] * 255,
                          smooth[k * 3 + c]);
}
END_TEST

/* A 2x2 GIF with a 4-colour palette.  The LZW stream sends a clear code
 * before every pixel, so every code stays 3 bits wide. */
static void write_gif(const char *path, const unsigned char pal[4][3], const int idx[4])
{
    unsigned char g[64];
    int n = 0;
    memcpy(g, "GIF89a", 6), n = 6;
    unsigned char lsd[7] = { 2, 0, 2, 0, 0x81, 0, 0 };
    memcpy(g + n, lsd, 7), n += 7;
    memcpy(g + n, pal, 12), n += 12;
    unsigned char desc[10] = { 0x2C, 0, 0, 0, 0, 2, 0, 2, 0, 0 };
    memcpy(g + n, desc, 10), n += 10;
    g[n++] = 2;                             /* LZW minimum code size */
    int codes[9] = { 4, idx[0], 4, idx[1], 4, idx[2], 4, idx[3], 5 };
    unsigned bits = 0, nbits = 0;
    unsigned char data[8];
    int nd = 0;
    for (int i = 0; i < 9; i++) {
        bits |= (unsigned)codes[i] << nbits;
        nbits += 3;
        while (nbits >= 8) {
            data[nd++] = (unsigned char)bits;
            bits >>= 8, nbits -= 8;
        }
    }
    if (nbits)
        data[nd++] = (unsigned char)bits;
    g[n++] = (unsigned char)nd;
    memcpy(g + n, data, (size_t)nd), n += nd;
    g[n++] = 0;
    g[n++] = 0x3B;
    FILE *f = fopen(path, "wb");
    fwrite(g, 1, (size_t)n, f);
    fclose(f);
}

START_TEST(gif_first_frame)
{
    const unsigned char pal[4][3] = { { 0, 0, 0 }, { 255, 0, 0 }, { 0, 255, 0 },
                                      { 10, 20, 30 } };
    const int idx[4] = { 1, 2, 3, 1 };
    const char *gif = at("g.gif");
    write_gif(gif, pal, idx);
    float x[3 * 4];
    ck_assert_msg(cnnrt_image_load(gif, 3, 2, 2, x, err, sizeof err) == 0, "%s", err);
    for (int k = 0; k < 4; k++)
        for (int c = 0; c < 3; c++)
            ck_assert_float_eq_tol(x[c * 4 + k] * 255, pal[idx[k]][c], 1e-3);
}
END_TEST

/* half-pixel-centre bilinear: 2 -> 4 samples at -0.25 (clamped), 0.25,
 * 0.75, 1.25 (clamped); 4 -> 2 at 0.5 and 2.5, the mean of pairs */
START_TEST(resize_bilinear)
{
    unsigned char two[4] = { 0, 200, 100, 40 };            /* 2x2 gray */
    const char *small = at("two.png");
    ck_assert(stbi_write_png(small, 2, 2, 1, two, 2));
    float up[16];
    ck_assert_msg(cnnrt_image_load(small, 1, 4, 4, up, err, sizeof err) == 0, "%s", err);
    const float w4[4][2] = { { 1, 0 }, { 0.75f, 0.25f }, { 0.25f, 0.75f }, { 0, 1 } };
    for (int y = 0; y < 4; y++)
        for (int x = 0; x < 4; x++) {
            float want = 0;
            for (int j = 0; j < 2; j++)
                for (int i = 0; i < 2; i++)
                    want += w4[y][j] * w4[x][i] * two[j * 2 + i];
            ck_assert_msg(fabsf(up[y * 4 + x] * 255 - want) < 1e-3f, "up (%d,%d): %g vs %g",
                          x, y, up[y * 4 + x] * 255, want);
        }
    unsigned char big[4 * 6];
    for (int k = 0; k < 24; k++)
        big[k] = (unsigned char)(k * 10);
    const char *wide = at("wide.png");
    ck_assert(stbi_write_png(wide, 6, 4, 1, big, 6));
    float down[3 * 2];                                    /* 6x4 -> 3x2: 2x2 means */
    ck_assert_msg(cnnrt_image_load(wide, 1, 2, 3, down, err, sizeof err) == 0, "%s", err);
    for (int y = 0; y < 2; y++)
        for (int x = 0; x < 3; x++) {
            int a = (2 * y) * 6 + 2 * x;
            float want = (big[a] + big[a + 1] + big[a + 6] + big[a + 7]) / 4.0f;
            ck_assert_float_eq_tol(down[y * 3 + x] * 255, want, 1e-3);
        }
}
END_TEST

/* a real PNG cut in half: the header is whole, the pixel data is not */
static void write_truncated_png(const char *path)
{
    write_png(path, 16, 16, 3);
    FILE *f = fopen(path, "rb");
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fclose(f);
    ck_assert_int_gt(n, 80);
    ck_assert_int_eq(truncate(path, n / 2), 0);
}

START_TEST(bad_files_are_refused)
{
    float x[3 * 16 * 16];
    const char *zero = at("zero.png"), *junk = at("junk.jpg"), *cut = at("cut.png");
    const char *cutjpg = at("cut.jpg");
    write_text(zero, "");
    write_text(junk, "this is not a picture\n");
    write_truncated_png(cut);
    unsigned char *p = pattern(32, 32, 3);              /* a JPEG, its last quarter cut */
    ck_assert(stbi_write_jpg(cutjpg, 32, 32, 3, p, 90));
    free(p);
    struct stat st;
    ck_assert_int_eq(stat(cutjpg, &st), 0);
    ck_assert_int_eq(truncate(cutjpg, st.st_size * 3 / 4), 0);
    const char *names[] = { zero, junk, cut, cutjpg, at("missing.png") };
    const char *why[] = { "not an image stb_image can read", "not an image stb_image can read",
                          "cannot decode", "cannot decode", "No such file or directory" };
    for (int i = 0; i < 5; i++) {
        ck_assert_int_eq(cnnrt_image_load(names[i], 3, 16, 16, x, err, sizeof err), -1);
        char want[1200];
        snprintf(want, sizeof want, "'%s': %s", names[i], why[i]);
        ck_assert_msg(strstr(err, want) == err, "'%s' does not start with '%s'", err, want);
    }
    ck_assert_int_eq(cnnrt_image_load(zero, 5, 16, 16, x, err, sizeof err), -1);
    ck_assert_ptr_nonnull(strstr(err, "image files give 1 to 4 channels; the model's "
                                      "input has 5"));
}
END_TEST

static cnnrt_dataset *open_ok(const char *path, int c, int h, int w, int tsize, int need)
{
    cnnrt_dataset *d = cnnrt_data_open(path, NULL, c, h, w, tsize, need, err, sizeof err);
    ck_assert_msg(d != NULL, "open '%s': %s", path, err);
    return d;
}

static void expect_open_error(const char *path, int tsize, int need, const char *msg)
{
    cnnrt_dataset *d = cnnrt_data_open(path, NULL, 1, 4, 4, tsize, need, err, sizeof err);
    ck_assert_msg(d == NULL, "'%s' opened", path);
    ck_assert_msg(strstr(err, msg) != NULL, "expected '%s' in: %s", msg, err);
}

START_TEST(class_folders)
{
    write_png(at("root/b_cat/1.png"), 5, 3, 3);
    write_png(at("root/a_dog/z.png"), 8, 8, 1);
    write_png(at("root/a_dog/my pic.png"), 4, 4, 4);
    write_png(at("root/a_dog/deeper/inner/x.PNG"), 4, 4, 1);
    write_png(at("root/a_dog/.hidden.png"), 4, 4, 1);
    write_png(at("root/.trash/x.png"), 4, 4, 1);
    write_text(at("root/a_dog/notes.txt"), "not an image\n");
    write_png(at("root/c/only.png"), 2, 9, 2);
    write_png(at("root/loose.png"), 4, 4, 1);
    const char *root = at("root");
    cnnrt_dataset *d = open_ok(root, 1, 4, 4, 3, 1);
    ck_assert_int_eq(d->count, 5);
    ck_assert_int_eq(d->tsize, 3);
    ck_assert_int_eq(d->skipped, 0);
    ck_assert_int_eq(d->maxbox, 0);
    ck_assert_ptr_nonnull(d->classes);
    ck_assert_str_eq(d->classes[0], "a_dog");
    ck_assert_str_eq(d->classes[1], "b_cat");
    ck_assert_str_eq(d->classes[2], "c");
    /* a class's own files in name order, then its folders' */
    const char *order[] = { "root/a_dog/my pic.png", "root/a_dog/z.png",
                            "root/a_dog/deeper/inner/x.PNG", "root/b_cat/1.png",
                            "root/c/only.png" };
    const int label[] = { 0, 0, 0, 1, 2 };
    for (int i = 0; i < 5; i++) {
        float x[16], t[3];
        ck_assert_str_eq(d->name(d, i), at("%s", order[i]));
        ck_assert_msg(d->get(d, i, x, t, err, sizeof err) == 0, "%s", err);
        for (int k = 0; k < 3; k++)
            ck_assert_float_eq(t[k], k == label[i]);
        for (int k = 0; k < 16; k++)
            ck_assert(x[k] >= 0 && x[k] <= 1);
    }
    cnnrt_data_close(d);
    /* the class count must match the model's, unless labels are not needed */
    expect_open_error(root, 2, 1, "3 class folders ('a_dog', ...), but the model has 2 "
                      "classes");
    d = open_ok(root, 1, 4, 4, 10, 0);
    ck_assert_int_eq(d->tsize, 0);
    ck_assert_ptr_null(d->classes);
    cnnrt_data_close(d);
    /* two folders and one output: the class index is the target */
    write_png(at("two/no/a.png"), 3, 3, 1);
    write_png(at("two/yes/b.png"), 3, 3, 1);
    d = open_ok(at("two"), 1, 4, 4, 1, 1);
    float x[16], t;
    ck_assert_int_eq(d->get(d, 1, x, &t, err, sizeof err), 0);
    ck_assert_float_eq(t, 1);
    cnnrt_data_close(d);
}
END_TEST

START_TEST(unreadable_files_are_skipped)
{
    write_png(at("set/a/good1.png"), 4, 4, 1);
    write_png(at("set/a/good2.bmp"), 4, 4, 1);
    write_text(at("set/a/empty.png"), "");
    write_text(at("set/a/junk.jpg"), "GIF87a\x01\x01\x01\x01no");  /* a 257x257 GIF header, no more */
    write_png(at("set/b/good3.png"), 4, 4, 3);
    write_truncated_png(at("set/b/trunc.png"));
    /* empty.png is left out at open; junk.jpg and trunc.png pass the look
     * at their headers, and only decoding finds them bad */
    cnnrt_dataset *d = open_ok(at("set"), 1, 4, 4, 2, 1);
    ck_assert_int_eq(d->count, 5);
    ck_assert_int_eq(d->skipped, 1);
    float x[16], t[2];
    ck_assert_int_eq(d->get(d, 4, x, t, err, sizeof err), 1);
    ck_assert_ptr_nonnull(strstr(err, "trunc.png': cannot decode"));
    ck_assert_int_eq(d->get(d, 2, x, t, err, sizeof err), 1);
    ck_assert_ptr_nonnull(strstr(err, "junk.jpg': cannot decode"));
    cnnrt_loader *l = cnnrt_loader_new(d, 8, NULL, 0, 0, err, sizeof err);
    ck_assert_msg(l != NULL, "%s", err);
    cnnrt_batch b;
    cnnrt_loader_start(l, 1, 0, 1);
    ck_assert_int_eq(cnnrt_loader_next(l, &b, err, sizeof err), 1);
    ck_assert_int_eq(b.n, 3);
    ck_assert_int_eq(cnnrt_loader_next(l, &b, err, sizeof err), 0);
    ck_assert_int_eq(cnnrt_loader_skipped(l), 3);
    cnnrt_loader_free(l);
    cnnrt_data_close(d);
    /* nothing readable, nothing at all, nothing there */
    write_text(at("bad/a/x.png"), "");
    write_text(at("bad/b/y.png"), "no");
    char want[1200];
    snprintf(want, sizeof want, "'%s': none of its 2 image files can be read", at("bad"));
    expect_open_error(at("bad"), 2, 1, want);
    mkdir(at("none"), 0777);
    mkdir(at("none/a"), 0777);
    mkdir(at("none/b"), 0777);
    expect_open_error(at("none"), 2, 1, "no image files (.png .jpg .jpeg .bmp .tga .gif)");
    mkdir(at("void"), 0777);
    expect_open_error(at("void"), 2, 1, "no class folders: expected");
    expect_open_error(at("nowhere"), 2, 1, "No such file or directory");
}
END_TEST

START_TEST(single_images_and_plain_folders)
{
    write_png(at("flat/one.png"), 7, 5, 3);
    write_png(at("flat/two.jpg"), 4, 4, 3);
    const char *one = at("flat/one.png");
    cnnrt_dataset *d = open_ok(one, 3, 4, 4, 10, 0);
    ck_assert_int_eq(d->count, 1);
    ck_assert_int_eq(d->tsize, 0);
    ck_assert_str_eq(d->name(d, 0), one);
    cnnrt_data_close(d);
    expect_open_error(one, 10, 1, "a single image has no label");
    d = open_ok(at("flat"), 3, 4, 4, 10, 0);
    ck_assert_int_eq(d->count, 2);
    cnnrt_data_close(d);
    expect_open_error(at("flat"), 10, 1, "no class folders");
    d = cnnrt_data_open(at("flat"), "labels.idx", 3, 4, 4, 10, 1, err, sizeof err);
    ck_assert_ptr_null(d);
    ck_assert_ptr_nonnull(strstr(err, "label files go with IDX data"));
}
END_TEST

/* stderr into a file while a data set opens: its warnings */
static int saved_stderr = -1;
static void capture_start(void)
{
    fflush(stderr);
    saved_stderr = dup(2);
    FILE *f = fopen(at("stderr.txt"), "w");
    ck_assert_ptr_nonnull(f);
    dup2(fileno(f), 2);
    fclose(f);
}
static const char *capture_end(void)
{
    static char text[4096];
    fflush(stderr);
    dup2(saved_stderr, 2);
    close(saved_stderr);
    FILE *f = fopen(at("stderr.txt"), "r");
    size_t n = f ? fread(text, 1, sizeof text - 1, f) : 0;
    text[n] = 0;
    if (f)
        fclose(f);
    return text;
}

static void expect_box(const cnnrt_box *b, int cls, float x0, float y0, float x1, float y1)
{
    ck_assert_int_eq(b->cls, cls);
    ck_assert_float_eq_tol(b->x0, x0, 1e-6);
    ck_assert_float_eq_tol(b->y0, y0, 1e-6);
    ck_assert_float_eq_tol(b->x1, x1, 1e-6);
    ck_assert_float_eq_tol(b->y1, y1, 1e-6);
}

START_TEST(yolo_lists)
{
    write_png(at("ds/images/a.png"), 8, 8, 3);
    write_png(at("ds/images/b c.png"), 6, 6, 3);
    write_png(at("ds/images/nolabel.png"), 8, 8, 3);
    write_png(at("elsewhere/abs.bmp"), 8, 8, 3);
    /* labels/ twin for a.png; beside the image for "b c.png"; borders,
     * CRLF, a blank line and a zero-size box */
    write_text(at("ds/labels/a.txt"), "0 0.05 0.5 0.1 0.2\r\n\r\n3 0.95 0.5 0.1 1.0\r\n"
                                      "2 0.5 0.5 0 0.3\r\n");
    write_text(at("ds/images/b c.txt"), "  1 0.5 0.25 0.5 0.5  \n");
    char list[2048];
    snprintf(list, sizeof list, "# images\r\nimages/a.png\r\n\r\n   \r\nimages/b c.png\r\n"
             "images/nolabel.png\r\n%s\r\n", at("elsewhere/abs.bmp"));
    write_text(at("ds/list.txt"), list);
    capture_start();
    cnnrt_dataset *d = open_ok(at("ds/list.txt"), 3, 8, 8, 4, 1);
    const char *said = capture_end();
    char want[1400];
    snprintf(want, sizeof want, "warning: '%s': 2 images without a label file, trained as "
             "having no objects (the first is '%s'", at("ds/list.txt"),
             at("ds/images/nolabel.png"));
    ck_assert_msg(strstr(said, want) != NULL, "%s", said);
    ck_assert_int_eq(d->count, 4);
    ck_assert_int_eq(d->maxbox, 2);
    ck_assert_str_eq(d->name(d, 1), at("ds/images/b c.png"));
    cnnrt_box box[2];
    ck_assert_int_eq(d->boxes(d, 0, box), 2);
    expect_box(&box[0], 0, 0, 0.4f, 0.1f, 0.6f);
    expect_box(&box[1], 3, 0.9f, 0, 1, 1);
    ck_assert_int_eq(d->boxes(d, 1, box), 1);
    expect_box(&box[0], 1, 0.25f, 0, 0.75f, 0.5f);
    ck_assert_int_eq(d->boxes(d, 2, box), 0);
    ck_assert_int_eq(d->boxes(d, 3, box), 0);
    /* targets: the area-weighted class mix; none without boxes */
    float x[3 * 64], t[4];
    ck_assert_int_eq(d->get(d, 0, x, t, err, sizeof err), 0);
    ck_assert_float_eq_tol(t[0], 0.02f / 0.12f, 1e-6);
    ck_assert_float_eq_tol(t[3], 0.10f / 0.12f, 1e-6);
    ck_assert_float_eq(t[1] + t[2], 0);
    ck_assert_int_eq(d->get(d, 1, x, t, err, sizeof err), 0);
    ck_assert_float_eq(t[1], 1);
    ck_assert_int_eq(d->get(d, 2, x, t, err, sizeof err), 0);
    ck_assert_float_eq(t[0] + t[1] + t[2] + t[3], 0);
    cnnrt_data_close(d);
}
END_TEST

/* a list of two images, the first's label file holding `line`: that image
 * is left out with a warning naming the file, line and msg */
static void expect_label_refused(const char *line, const char *msg)
{
    write_png(at("r/images/x.png"), 4, 4, 1);
    write_png(at("r/images/y.png"), 4, 4, 1);
    write_text(at("r/images/x.txt"), "0 0.5 0.5 0.2 0.2\n");
    write_text(at("r/images/y.txt"), "1 0.5 0.5 0.2 0.2\n");
    FILE *f = fopen(at("r/images/x.txt"), "a");
    fputs(line, f);
    fclose(f);
    write_text(at("r/list.txt"), "images/x.png\nimages/y.png\n");
    char want[1400];
    snprintf(want, sizeof want, "warning: '%s': line 2: %s", at("r/images/x.txt"), msg);
    capture_start();
    cnnrt_dataset *d = cnnrt_data_open(at("r/list.txt"), NULL, 1, 4, 4, 10, 1, err, sizeof err);
    const char *said = capture_end();
    ck_assert_msg(d != NULL, "%s", err);
    ck_assert_msg(strstr(said, want) == said, "%s", said);
    snprintf(want, sizeof want, "; image '%s' skipped\n", at("r/images/x.png"));
    ck_assert_msg(strstr(said, want) != NULL, "%s", said);
    ck_assert_int_eq(d->count, 1);
    ck_assert_int_eq(d->skipped, 1);
    cnnrt_box box[1];
    ck_assert_int_eq(d->boxes(d, 0, box), 1);
    ck_assert_int_eq(box[0].cls, 1);            /* y's box, x's are gone */
    cnnrt_data_close(d);
}

START_TEST(yolo_refusals)
{
    expect_label_refused("12 0.5 0.5 0.1 0.1", "class 12 is out of range for 10 classes");
    expect_label_refused("-1 0.5 0.5 0.1 0.1", "class -1 is not a class index");
    expect_label_refused("1.5 0.5 0.5 0.1 0.1", "class 1.5 is not a class index");
    expect_label_refused("1 1.2 0.5 0.1 0.1", "cx = 1.2 is outside [0, 1]");
    expect_label_refused("1 0.5 0.5 -0.1 0.1", "w = -0.1 is outside [0, 1]");
    expect_label_refused("1 0.5 nan 0.1 0.1", "cy = nan is outside [0, 1]");
    expect_label_refused("1 0.98 0.5 0.2 0.1", "the box goes past the image: x from 0.88 "
                         "to 1.08");
    expect_label_refused("1 0.5 0.5 0.1", "expected 5 values 'class cx cy w h', got 4");
    expect_label_refused("1 0.5 0.5 0.1 0.1 0.7", "expected 5 values 'class cx cy w h', "
                         "got 6");
    expect_label_refused("1 0.5 abc 0.1 0.1", "'abc' is not a number");
    expect_label_refused("1 0.5 0.5 0.1 0.1x", "'0.1x' is not a number");
    expect_label_refused("1 0.5 0.5 inf 0.1", "w = inf is outside [0, 1]");
    expect_label_refused("1e9 0.5 0.5 0.1 0.1", "class 1e+09 is out of range for 10 classes");
    /* lists with nothing in them */
    write_text(at("empty.txt"), "\n# nothing\n\r\n");
    expect_open_error(at("empty.txt"), 10, 1, "lists no images");
    write_text(at("gone.txt"), "a.png\nb.png\n");
    expect_open_error(at("gone.txt"), 10, 1, "none of its 2 images can be read");
}
END_TEST

START_TEST(png_writer_draws_boxes)
{
    const float x[3 * 2 * 2] = { 0, 0.5f, 1, 2,   0.25f, 0.25f, 0.25f, 0.25f,
                                 -1, 0.1f, 0.2f, 0.3f };
    cnnrt_box box = { 1, 0.5f, 0.5f, 1, 1 };                /* the bottom-right pixel */
    const char *png = at("w/out.png");
    ck_assert_msg(cnnrt_write_png(png, x, 3, 2, 2, 3, &box, 1, err, sizeof err) == 0, "%s",
                  err);
    int w, h, n;
    unsigned char *p = stbi_load(png, &w, &h, &n, 3);
    ck_assert_ptr_nonnull(p);
    ck_assert_int_eq(w, 6);
    ck_assert_int_eq(h, 6);
    /* clamped and rounded: pixel (0, 0) and (1, 0) of the source */
    const int want_00[3] = { 0, 64, 0 }, want_10[3] = { 128, 64, 26 };
    for (int c = 0; c < 3; c++) {
        ck_assert_int_eq(p[(1 * 6 + 1) * 3 + c], want_00[c]);
        ck_assert_int_eq(p[(1 * 6 + 4) * 3 + c], want_10[c]);
    }
    /* the frame is 1 pixel wide below scale 4: (3,3)-(5,5) drawn, (4,4) not */
    const unsigned char *corner = p + (3 * 6 + 3) * 3;      /* class 1: green */
    ck_assert(corner[0] == 40 && corner[1] == 220 && corner[2] == 40);
    ck_assert(!memcmp(p + (5 * 6 + 5) * 3, corner, 3));
    ck_assert_int_eq(p[(4 * 6 + 4) * 3], 255);
    stbi_image_free(p);
    ck_assert_int_eq(cnnrt_write_png("/nonexistent/dir/y.png", x, 1, 2, 2, 1, NULL, 0, err,
                                     sizeof err), -1);
    ck_assert_ptr_nonnull(strstr(err, "'/nonexistent/dir/y.png': cannot write: No such file "
                                      "or directory"));
}
END_TEST

/* Memory running out is an error of the data set, never a file to skip:
 * with the address space capped a few MiB above what this (forked) test
 * process uses, a 1024x1024 RGB picture cannot be decoded and turned into
 * floats (3 + 12 MiB).  Not under AddressSanitizer, which maps memory of
 * its own. */
START_TEST(out_of_memory_is_an_error)
{
#if !defined(__SANITIZE_ADDRESS__)
    write_png(at("big.png"), 1024, 1024, 3);
    cnnrt_dataset *d = open_ok(at("big.png"), 3, 4, 4, 0, 0);
    float x[48];
    ck_assert_int_eq(d->get(d, 0, x, NULL, err, sizeof err), 0);
    long pages = 0;
    FILE *f = fopen("/proc/self/statm", "r");
    ck_assert(f && fscanf(f, "%ld", &pages) == 1);
    fclose(f);
    struct rlimit old, cap;
    ck_assert_int_eq(getrlimit(RLIMIT_AS, &old), 0);
    cap = old;
    cap.rlim_cur = (rlim_t)pages * (rlim_t)sysconf(_SC_PAGESIZE) + (4u << 20);
    ck_assert_int_eq(setrlimit(RLIMIT_AS, &cap), 0);
    errno = 0;
    int rc = d->get(d, 0, x, NULL, err, sizeof err);
    int e = errno;
    ck_assert_int_eq(setrlimit(RLIMIT_AS, &old), 0);
    ck_assert_int_eq(rc, -1);
    ck_assert_int_eq(e, ENOMEM);
    ck_assert_msg(strstr(err, "big.png': out of memory") != NULL, "%s", err);
    cnnrt_data_close(d);
#endif
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("rt_image");
    TCase *t = tcase_create("image");
    tcase_add_checked_fixture(t, make_dir, remove_dir);
    tcase_add_test(t, formats_and_channels);
    tcase_add_test(t, gif_first_frame);
    tcase_add_test(t, resize_bilinear);
    tcase_add_test(t, bad_files_are_refused);
    tcase_add_test(t, class_folders);
    tcase_add_test(t, unreadable_files_are_skipped);
    tcase_add_test(t, single_images_and_plain_folders);
    tcase_add_test(t, yolo_lists);
    tcase_add_test(t, yolo_refusals);
    tcase_add_test(t, png_writer_draws_boxes);
    tcase_add_test(t, out_of_memory_is_an_error);
    suite_add_tcase(s, t);
    return s;
}

int main(void)
{
    return check_run(suite(), 1);
}
