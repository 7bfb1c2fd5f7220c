/* test_rt_draw.c — drawing detections (runtime/draw.c): rectangles with
 * clipping, glyphs of the built-in font read back pixel by pixel, and a
 * detection's box and label strip where they belong.
 */
#include "cnnrt_data.h"

#include <check.h>
#include <string.h>
#include "check_util.h"

#define W 40
#define H 30

static unsigned char img[H * W * 3];
static const unsigned char white[3] = { 255, 255, 255 };

static int lit(int x, int y)
{
    const unsigned char *p = img + (y * W + x) * 3;
    return (p[0] | p[1] | p[2]) != 0;
}

static int is(int x, int y, const unsigned char *rgb)
{
    return memcmp(img + (y * W + x) * 3, rgb, 3) == 0;
}

START_TEST(test_rect)
{
    memset(img, 0, sizeof img);
    cnnrt_draw_rect(img, W, H, 5, 4, 12, 9, white, 0);
    ck_assert(is(5, 4, white) && is(12, 9, white) && is(8, 4, white) && is(5, 7, white));
    ck_assert(!lit(8, 6) && !lit(4, 4) && !lit(13, 9));
    /* partly outside: the visible edges only, nothing written out of place */
    memset(img, 0, sizeof img);
    cnnrt_draw_rect(img, W, H, -5, -5, 3, 50, white, 0);
    ck_assert(is(3, 0, white) && is(3, H - 1, white));
    ck_assert(!lit(0, 0) && !lit(2, 10) && !lit(4, 10));
    cnnrt_draw_rect(img, W, H, 100, 100, 200, 200, white, 1);
    cnnrt_draw_rect(img, W, H, -9, 2, W + 9, 2, white, 1);
    for (int x = 0; x < W; x++)
        ck_assert(is(x, 2, white));
    ck_assert(!lit(4, 1) && !lit(4, 3));
}
END_TEST

/* '1' is ..#.. .##.. ..#.. ..#.. ..#.. ..#.. .###. */
START_TEST(test_glyph)
{
    static const char *one[7] = { "..#..", ".##..", "..#..", "..#..", "..#..", "..#..",
                                  ".###." };
    memset(img, 0, sizeof img);
    ck_assert_int_eq(cnnrt_draw_text(img, W, H, 3, 2, "1", white, 1), 6);
    for (int r = 0; r < 7; r++)
        for (int c = 0; c < 5; c++)
            ck_assert_msg(lit(3 + c, 2 + r) == (one[r][c] == '#'), "pixel %d,%d", c, r);
    /* scale 2: each font pixel a 2x2 block */
    memset(img, 0, sizeof img);
    ck_assert_int_eq(cnnrt_draw_text(img, W, H, 0, 0, "11", white, 2), 24);
    ck_assert(lit(4, 0) && lit(5, 1) && !lit(6, 0) && lit(12 + 4, 0) && lit(2, 13));
    ck_assert(!lit(0, 0) && !lit(2, 14));
}
END_TEST

/* lower case is upper case; unknown characters are '?'; text is clipped */
START_TEST(test_font_fallbacks)
{
    static unsigned char a[H * W * 3];
    memset(img, 0, sizeof img);
    cnnrt_draw_text(img, W, H, 0, 0, "ab#", white, 1);
    memcpy(a, img, sizeof img);
    memset(img, 0, sizeof img);
    cnnrt_draw_text(img, W, H, 0, 0, "AB?", white, 1);
    ck_assert(memcmp(a, img, sizeof img) == 0);
    ck_assert(lit(12 + 2, 6) && !lit(12 + 2, 5));       /* the dot of '?' */
    cnnrt_draw_text(img, W, H, W - 3, H - 3, "WWW", white, 3);
}
END_TEST

/* a detection at (10,12)-(30,25) in input pixels, drawn at scale 1: a box
 * two pixels thick in class 2's colour, the label strip just above it */
START_TEST(test_det)
{
    unsigned char rgb[3];
    cnnrt_draw_color(2, rgb);
    memset(img, 0, sizeof img);
    cnnrt_det d = { 0, 2, 0.87f, 10, 12, 30, 25 };
    cnnrt_draw_det(img, W, H, &d, "x", 1, 1);
    ck_assert(is(10, 20, rgb) && is(11, 20, rgb) && !lit(12, 20));
    ck_assert(is(30, 25, rgb) && is(29, 24, rgb) && !lit(28, 23));
    /* strip: 9 rows above y = 12, starting at x = 10, with black ink in it */
    ck_assert(is(10, 3, rgb) && !lit(10, 2));
    int ink = 0;
    for (int x = 11; x < 11 + 6 * 6; x++)
        for (int y = 4; y < 11 && x < W; y++)
            ink += !lit(x, y);
    ck_assert_int_gt(ink, 10);
    /* scaled by 0.5, and a box at the top: the strip goes inside */
    memset(img, 0, sizeof img);
    cnnrt_det top = { 0, 2, 0.5f, 0, 0, 20, 40 };
    cnnrt_draw_det(img, W, H, &top, NULL, 0.5f, 0.5f);
    ck_assert(is(10, 20, rgb) && !lit(11, 15) && is(5, 0, rgb) && is(5, 8, rgb));
    ck_assert(!lit(12, 20));
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("draw");
    TCase *tc = tcase_create("draw");
    tcase_add_test(tc, test_rect);
    tcase_add_test(tc, test_glyph);
    tcase_add_test(tc, test_font_fallbacks);
    tcase_add_test(tc, test_det);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return check_run(suite(), 1);
}
