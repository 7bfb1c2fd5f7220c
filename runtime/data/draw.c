/* draw.c — detections drawn into an RGB8 picture for `predict --draw`:
 * box outlines in a colour per class, and a label ("name 0.87") in a small
 * built-in 5x7 bitmap font on a filled strip above the box.
 *
 * Pictures are h rows of w pixels of 3 bytes (R, G, B), as stb reads and
 * writes them; everything is clipped to the picture.  The font knows
 * digits, letters (lower case is drawn as upper case), space and . - : _ /
 * % ?; any other character is drawn as '?'.  cnnrt_draw_png puts it
 * together for one picture; the pixels come from, and the PNG is written
 * by, dump.c's cnnrt_picture_rgb and cnnrt_save_png.  Not here: reading
 * images (image.c).
 */
#include "cnnrt_data.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define GW 5                    /* glyph width and height in font pixels */
#define GH 7

/* each glyph as its 7 rows, '#' for ink */
static const struct {
    char c;
    const char *rows[GH];
} glyphs[] = {
    { '0', { ".###.", "#...#", "#..##", "#.#.#", "##..#", "#...#", ".###." } },
    { '1', { "..#..", ".##..", "..#..", "..#..", "..#..", "..#..", ".###." } },
    { '2', { ".###.", "#...#", "....#", "...#.", "..#..", ".#...", "#####" } },
    { '3', { "####.", "....#", "....#", ".###.", "....#", "....#", "####." } },
    { '4', { "...#.", "..##.", ".#.#.", "#..#.", "#####", "...#.", "...#." } },
    { '5', { "#####", "#....", "####.", "....#", "....#", "#...#", ".###." } },
    { '6', { "..##.", ".#...", "#....", "####.", "#...#", "#...#", ".###." } },
    { '7', { "#####", "....#", "...#.", "..#..", ".#...", ".#...", ".#..." } },
    { '8', { ".###.", "#...#", "#...#", ".###.", "#...#", "#...#", ".###." } },
    { '9', { ".###.", "#...#", "#...#", ".####", "....#", "...#.", ".##.." } },
    { 'A', { ".###.", "#...#", "#...#", "#####", "#...#", "#...#", "#...#" } },
    { 'B', { "####.", "#...#", "#...#", "####.", "#...#", "#...#", "####." } },
    { 'C', { ".###.", "#...#", "#....", "#....", "#....", "#...#", ".###." } },
    { 'D', { "###..", "#..#.", "#...#", "#...#", "#...#", "#..#.", "###.." } },
    { 'E', { "#####", "#....", "#....", "####.", "#....", "#....", "#####" } },
    { 'F', { "#####", "#....", "#....", "####.", "#....", "#....", "#...." } },
    { 'G', { ".###.", "#...#", "#....", "#.###", "#...#", "#...#", ".####" } },
    { 'H', { "#...#", "#...#", "#...#", "#####", "#...#", "#...#", "#...#" } },
    { 'I', { ".###.", "..#..", "..#..", "..#..", "..#..", "..#..", ".###." } },
    { 'J', { "..###", "...#.", "...#.", "...#.", "...#.", "#..#.", ".##.." } },
    { 'K', { "#...#", "#..#.", "#.#..", "##...", "#.#..", "#..#.", "#...#" } },
    { 'L', { "#....", "#....", "#....", "#....", "#....", "#....", "#####" } },
    { 'M', { "#...#", "##.##", "#.#.#", "#.#.#", "#...#", "#...#", "#...#" } },
    { 'N', { "#...#", "#...#", "##..#", "#.#.#", "#..##", "#...#", "#...#" } },
    { 'O', { ".###.", "#...#", "#...#", "#...#", "#...#", "#...#", ".###." } },
    { 'P', { "####.", "#...#", "#...#", "####.", "#....", "#....", "#...." } },
    { 'Q', { ".###.", "#...#", "#...#", "#...#", "#.#.#", "#..#.", ".##.#" } },
    { 'R', { "####.", "#...#", "#...#", "####.", "#.#..", "#..#.", "#...#" } },
    { 'S', { ".####", "#....", "#....", ".###.", "....#", "....#", "####." } },
    { 'T', { "#####", "..#..", "..#..", "..#..", "..#..", "..#..", "..#.." } },
    { 'U', { "#...#", "#...#", "#...#", "#...#", "#...#", "#...#", ".###." } },
    { 'V', { "#...#", "#...#", "#...#", "#...#", "#...#", ".#.#.", "..#.." } },
    { 'W', { "#...#", "#...#", "#...#", "#.#.#", "#.#.#", "#.#.#", ".#.#." } },
    { 'X', { "#...#", "#...#", ".#.#.", "..#..", ".#.#.", "#...#", "#...#" } },
    { 'Y', { "#...#", "#...#", ".#.#.", "..#..", "..#..", "..#..", "..#.." } },
    { 'Z', { "#####", "....#", "...#.", "..#..", ".#...", "#....", "#####" } },
    { ' ', { ".....", ".....", ".....", ".....", ".....", ".....", "....." } },
    { '.', { ".....", ".....", ".....", ".....", ".....", ".##..", ".##.." } },
    { '-', { ".....", ".....", ".....", "#####", ".....", ".....", "....." } },
    { ':', { ".....", ".##..", ".##..", ".....", ".##..", ".##..", "....." } },
    { '_', { ".....", ".....", ".....", ".....", ".....", ".....", "#####" } },
    { '/', { "....#", "....#", "...#.", "..#..", ".#...", "#....", "#...." } },
    { '%', { "##..#", "##..#", "...#.", "..#..", ".#...", "#..##", "#..##" } },
    { '?', { ".###.", "#...#", "....#", "...#.", "..#..", ".....", "..#.." } },
};

/* the rows of c's glyph ('?' for a character the font lacks) */
static const char *const *glyph(char c)
{
    if (c >= 'a' && c <= 'z')
        c = (char)(c - 'a' + 'A');
    int n = (int)(sizeof glyphs / sizeof glyphs[0]);
    for (int k = 0; k < n; k++)
        if (glyphs[k].c == c)
            return glyphs[k].rows;
    return glyph('?');
}

void cnnrt_draw_color(int cls, unsigned char *rgb)
{
    static const unsigned char palette[10][3] = {
        { 230, 25, 75 }, { 60, 180, 75 }, { 255, 225, 25 }, { 0, 130, 200 },
        { 245, 130, 48 }, { 145, 30, 180 }, { 70, 240, 240 }, { 240, 50, 230 },
        { 210, 245, 60 }, { 250, 190, 190 },
    };
    int k = (cls % 10 + 10) % 10;
    memcpy(rgb, palette[k], 3);
}

static void pixel(unsigned char *img, int w, int h, int x, int y, const unsigned char *rgb)
{
    if (x >= 0 && x < w && y >= 0 && y < h)
        memcpy(img + ((long)y * w + x) * 3, rgb, 3);
}

void cnnrt_draw_rect(unsigned char *img, int w, int h, int x1, int y1, int x2, int y2,
                     const unsigned char *rgb, int fill)
{
    for (int y = y1 > 0 ? y1 : 0; y <= y2 && y < h; y++)
        for (int x = x1 > 0 ? x1 : 0; x <= x2 && x < w; x++)
            if (fill || y == y1 || y == y2 || x == x1 || x == x2)
                pixel(img, w, h, x, y, rgb);
}

int cnnrt_draw_text(unsigned char *img, int w, int h, int x, int y, const char *s,
                    const unsigned char *rgb, int scale)
{
    int x0 = x;
    for (; *s; s++, x += (GW + 1) * scale) {
        const char *const *rows = glyph(*s);
        for (int r = 0; r < GH; r++)
            for (int c = 0; c < GW; c++)
                if (rows[r][c] == '#')
                    cnnrt_draw_rect(img, w, h, x + c * scale, y + r * scale,
                                    x + (c + 1) * scale - 1, y + (r + 1) * scale - 1, rgb, 1);
    }
    return x - x0;
}

void cnnrt_draw_det(unsigned char *img, int w, int h, const cnnrt_det *d, const char *name,
                    float sx, float sy)
{
    static const unsigned char ink[3] = { 0, 0, 0 };
    unsigned char rgb[3];
    char label[64];
    cnnrt_draw_color(d->cls, rgb);
    int x1 = (int)(d->x1 * sx + 0.5f), y1 = (int)(d->y1 * sy + 0.5f);
    int x2 = (int)(d->x2 * sx + 0.5f), y2 = (int)(d->y2 * sy + 0.5f);
    cnnrt_draw_rect(img, w, h, x1, y1, x2, y2, rgb, 0);
    cnnrt_draw_rect(img, w, h, x1 + 1, y1 + 1, x2 - 1, y2 - 1, rgb, 0);
    if (name)
        snprintf(label, sizeof label, "%s %.2f", name, d->score);
    else
        snprintf(label, sizeof label, "%d %.2f", d->cls, d->score);
    /* the label strip sits on the box's top edge, inside when no room */
    int lw = (int)strlen(label) * (GW + 1) + 1, lh = GH + 2;
    int ly = y1 - lh >= 0 ? y1 - lh : y1;
    int lx = x1 < 0 ? 0 : x1;
    cnnrt_draw_rect(img, w, h, lx, ly, lx + lw - 1, ly + lh - 1, rgb, 1);
    cnnrt_draw_text(img, w, h, lx + 1, ly + 1, label, ink, 1);
}

int cnnrt_draw_png(const char *path, const float *x, int c, int h, int w,
                   const cnnrt_det *dets, int n, const char *const *names, int nnames,
                   char *err, size_t errlen)
{
    int side = h > w ? h : w;
    int scale = side < CNNRT_DRAW_SIDE ? CNNRT_DRAW_SIDE / side : 1;
    unsigned char *rgb = cnnrt_picture_rgb(x, c, h, w, scale);
    if (!rgb) {
        cnnrt_errorf(err, errlen, path, "out of memory");
        return -1;
    }
    /* the weakest first, so that the strongest boxes and labels end on top */
    for (int i = n - 1; i >= 0; i--) {
        const cnnrt_det *d = &dets[i];
        const char *name = names && d->cls >= 0 && d->cls < nnames ? names[d->cls] : NULL;
        cnnrt_draw_det(rgb, w * scale, h * scale, d, name, (float)scale, (float)scale);
    }
    int rc = cnnrt_save_png(path, rgb, w * scale, h * scale, err, errlen);
    free(rgb);
    return rc;
}
