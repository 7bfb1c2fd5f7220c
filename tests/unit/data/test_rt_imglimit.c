/* test_rt_imglimit.c — runtime/data/imglimit.c: a PNG whose header claims
 * 30000x30000 pixels is refused from its header (quickly, no 900 MB
 * decode) and left out of a folder with a warning; --max-pixels moves the
 * limit; the committed tests/fixtures/empty_idat.png (an empty IDAT chunk
 * before the data, made by make_empty_idat.py) decodes to its pixels, with
 * the empty chunk taken out before stb_image sees it (UBSan, make asan).
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "cnnrt_data.h"
#include "check_util.h"

#include <stb/stb_image_write.h>

static char dir[] = "/tmp/cnnrt-imglimit-XXXXXX";

static const char *at(const char *name)
{
    static char path[4][600];
    static int k;
    k = (k + 1) % 4;
    snprintf(path[k], sizeof path[k], "%s/%s", dir, name);
    return path[k];
}

/* a 2x2 gray PNG whose IHDR then claims w x h (stb_image does not check
 * the CRC, so the header is read as written) */
static void write_bomb(const char *path, unsigned w, unsigned h)
{
    unsigned char px[4] = { 0, 50, 100, 150 };
    ck_assert(stbi_write_png(path, 2, 2, 1, px, 2));
    FILE *f = fopen(path, "r+b");
    ck_assert(f != NULL);
    unsigned char dims[8] = { w >> 24, w >> 16 & 255, w >> 8 & 255, w & 255,
                              h >> 24, h >> 16 & 255, h >> 8 & 255, h & 255 };
    fseek(f, 16, SEEK_SET);                 /* signature 8, length 4, "IHDR" 4 */
    fwrite(dims, 1, 8, f);
    fclose(f);
}

START_TEST(bomb_refused_from_header)
{
    const char *png = at("bomb.png");
    write_bomb(png, 30000, 30000);
    float x[16];
    char err[600];
    clock_t t0 = clock();
    ck_assert_int_eq(cnnrt_image_load(png, 1, 4, 4, x, err, sizeof err), -1);
    ck_assert_msg(strstr(err, "bomb.png': the image is 30000x30000 pixels, more than the "
                         "limit of 67108864 (--max-pixels)"), "%s", err);
    ck_assert(clock() - t0 < CLOCKS_PER_SEC);
}
END_TEST

START_TEST(folder_leaves_bomb_out)
{
    ck_assert_int_eq(sh("mkdir -p %s/set/a %s/set/b", dir, dir), 0);
    unsigned char px[4] = { 0, 50, 100, 150 };
    ck_assert(stbi_write_png(at("set/a/ok.png"), 2, 2, 1, px, 2));
    ck_assert(stbi_write_png(at("set/b/ok.png"), 2, 2, 1, px, 2));
    write_bomb(at("set/b/bomb.png"), 20000, 20000);
    char err[600];
    cnnrt_dataset *d = cnnrt_data_open(at("set"), NULL, 1, 2, 2, 2, 1, err, sizeof err);
    ck_assert_msg(d != NULL, "%s", err);
    ck_assert_int_eq(d->count, 2);
    ck_assert_int_eq(d->skipped, 1);
    cnnrt_data_close(d);
}
END_TEST

START_TEST(limit_moves)
{
    unsigned char px[9] = { 0 };
    const char *three = at("three.png");
    ck_assert(stbi_write_png(three, 3, 3, 1, px, 3));
    float x[9];
    char err[600];
    cnnrt_max_pixels = 9;
    ck_assert_msg(cnnrt_image_load(three, 1, 3, 3, x, err, sizeof err) == 0, "%s", err);
    cnnrt_max_pixels = 8;
    ck_assert_int_eq(cnnrt_image_load(three, 1, 3, 3, x, err, sizeof err), -1);
    ck_assert_msg(strstr(err, "3x3 pixels, more than the limit of 8"), "%s", err);
    cnnrt_max_pixels = CNNRT_MAX_PIXELS;
}
END_TEST

START_TEST(empty_idat)
{
    size_t len;
    char err[600];
    const char *path = "tests/fixtures/empty_idat.png";
    unsigned char *buf = cnnrt_read_plain(path, &len, err, sizeof err);
    ck_assert_msg(buf != NULL, "%s", err);
    ck_assert_int_eq(len, 92);
    size_t clen = len;
    unsigned char *clean = cnnrt_png_without_empty_idat(buf, &clen);
    ck_assert(clean != NULL);
    ck_assert_int_eq(clen, len - 12);       /* the empty chunk: length, type, CRC */
    /* signature 8 + IHDR 25: then the IDAT with the data, length 23 */
    ck_assert(!memcmp(clean + 33, "\0\0\0\x17IDAT", 8));
    size_t again = clen;
    ck_assert(cnnrt_png_without_empty_idat(clean, &again) == NULL);
    free(clean);
    free(buf);
    float x[12];
    ck_assert_msg(cnnrt_image_load(path, 1, 3, 4, x, err, sizeof err) == 0, "%s", err);
    for (int y = 0; y < 3; y++)
        for (int k = 0; k < 4; k++)
            ck_assert_float_eq_tol(x[y * 4 + k], (20 * k + 60 * y) / 255.0f, 1e-6);
}
END_TEST

/* what tests/fuzz found: a JPEG whose Huffman table has more than 256
 * codes (stb_image writes past its arrays), refused before stb_image sees
 * it, also when the table is cut by the end of the file; a PNG whose IDAT
 * claims more than the file holds; a YOLO list
 * where no image has a box (memcpy from NULL, UBSan); a GIF that stb
 * decodes to a picture 0 pixels wide */
START_TEST(fuzz_findings)
{
    const char *jpg = "tests/fixtures/jpeg_big_huffman.jpg";
    float x[3 * 16];
    char err[600];
    ck_assert_int_eq(cnnrt_image_load(jpg, 3, 4, 4, x, err, sizeof err), -1);
    ck_assert_msg(strstr(err, "corrupt JPEG: a Huffman table of more than 256 codes"), "%s", err);
    /* at open (the header checks), a folder leaves it out */
    ck_assert_int_eq(sh("mkdir -p %s/j/a && cp %s %s/j/a/bad.jpg", dir, jpg, dir), 0);
    unsigned char one[4] = { 0, 50, 100, 150 };
    ck_assert(stbi_write_png(at("j/a/ok.png"), 2, 2, 1, one, 2));
    cnnrt_dataset *jd = cnnrt_data_open(at("j"), NULL, 1, 2, 2, 10, 0, err, sizeof err);
    ck_assert_msg(jd != NULL, "%s", err);
    ck_assert_int_eq(jd->count, 1);
    ck_assert_int_eq(jd->skipped, 1);
    cnnrt_data_close(jd);
    /* the same with the table cut by the end of the file (stb reads 0s) */
    jpg = "tests/fixtures/jpeg_big_huffman_cut.jpg";
    ck_assert_int_eq(cnnrt_image_load(jpg, 3, 4, 4, x, err, sizeof err), -1);
    ck_assert_msg(strstr(err, "more than 256 codes"), "%s", err);
    /* and after 0xff fill bytes before the SOI, which stb_image skips too */
    jpg = "tests/fixtures/jpeg_fill_before_soi.jpg";
    ck_assert_int_eq(cnnrt_image_load(jpg, 3, 4, 4, x, err, sizeof err), -1);
    ck_assert_msg(strstr(err, "more than 256 codes"), "%s", err);
    /* a PNG whose second IDAT claims 1.2 GB in a 111-byte file: refused
     * before stb_image decodes it (it would allocate the claimed length) */
    const char *png = "tests/fixtures/png_idat_overrun.png";
    ck_assert_int_eq(cnnrt_image_load(png, 3, 4, 4, x, err, sizeof err), -1);
    ck_assert_msg(strstr(err, "corrupt PNG: an IDAT chunk runs past the end"), "%s", err);
    /* a GIF whose frame decodes to 0 pixels wide: refused, not returned */
    const char *gif = "tests/fixtures/gif_zero_width.gif";
    ck_assert_int_eq(cnnrt_image_load(gif, 3, 4, 4, x, err, sizeof err), -1);
    ck_assert_msg(strstr(err, "empty") || strstr(err, "cannot decode"), "%s", err);
    size_t glen;
    unsigned char *g = cnnrt_read_plain(gif, &glen, err, sizeof err);
    ck_assert(g != NULL);
    int gw = -1, gh = -1;
    unsigned char *gp = cnnrt_image_decode(gif, g, glen, 3, &gw, &gh, err, sizeof err);
    ck_assert_msg(gp == NULL, "decoded %dx%d", gw, gh);
    free(g);
    unsigned char px[4] = { 0, 50, 100, 150 };
    ck_assert(stbi_write_png(at("nobox.png"), 2, 2, 1, px, 2));
    FILE *f = fopen(at("nobox.txt"), "w");
    fclose(f);
    f = fopen(at("list.txt"), "w");
    fputs("nobox.png\n", f);
    fclose(f);
    cnnrt_dataset *d = cnnrt_data_open(at("list.txt"), NULL, 1, 2, 2, 3, 1, err, sizeof err);
    ck_assert_msg(d != NULL, "%s", err);
    cnnrt_box box[1];
    float t[3];
    ck_assert_int_eq(d->boxes(d, 0, box), 0);
    ck_assert_int_eq(d->get(d, 0, x, t, err, sizeof err), 0);
    ck_assert(t[0] == 0 && t[1] == 0 && t[2] == 0);
    cnnrt_data_close(d);
}
END_TEST

int main(void)
{
    if (!mkdtemp(dir))
        return 1;
    Suite *s = suite_create("imglimit");
    TCase *tc = tcase_create("limits");
    tcase_add_test(tc, bomb_refused_from_header);
    tcase_add_test(tc, folder_leaves_bomb_out);
    tcase_add_test(tc, limit_moves);
    tcase_add_test(tc, empty_idat);
    tcase_add_test(tc, fuzz_findings);
    suite_add_tcase(s, tc);
    int rc = check_run(s, 1);
    sh("rm -rf %s", dir);
    return rc;
}
