/* seeds.c — writes the binary part of the fuzz seed corpus (committed in
 * tests/fuzz/corpus/, so this runs only when the seeds change):
 *   cnnw/   parameter files and checkpoints of fuzz_cnnw's model
 *   idx/    IDX images + labels, plain and gzip'd (the targets' "\n--\n" split)
 *   image/  small PNG, BMP, TGA, JPEG files, and a PNG with an empty IDAT
 * yolo/ is text, written by hand.
 *   cc -Iruntime/include tests/fuzz/seeds.c build/libcnnrt.a -lm -o seeds && ./seeds tests/fuzz/corpus
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <stb/stb_image_write.h>

#include "cnnrt_data.h"

static const char *root;

static FILE *out(const char *name)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", root, name);
    FILE *f = fopen(path, "wb");
    if (!f) {
        perror(path);
        exit(1);
    }
    return f;
}

static const char *at(const char *name)
{
    static char path[512];
    snprintf(path, sizeof path, "%s/%s", root, name);
    return path;
}

/* a stored-block gzip member around data (deflate without compression) */
static void gzip_stored(FILE *f, const unsigned char *p, size_t n)
{
    static const unsigned char head[10] = { 0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3 };
    fwrite(head, 1, 10, f);
    unsigned char b[5] = { 1, (unsigned char)n, (unsigned char)(n >> 8),
                           (unsigned char)~n, (unsigned char)(~n >> 8) };
    fwrite(b, 1, 5, f);
    fwrite(p, 1, n, f);
    uint32_t crc = cnnrt_crc32(0, p, n);
    unsigned char t[8] = { crc, crc >> 8, crc >> 16, crc >> 24, n, n >> 8, n >> 16, n >> 24 };
    fwrite(t, 1, 8, f);
}

static void idx_seed(const char *name, int gz)
{
    unsigned char im[16 + 2 * 16], lb[8 + 2];
    static const unsigned char ih[16] = { 0, 0, 8, 3, 0, 0, 0, 2, 0, 0, 0, 4, 0, 0, 0, 4 };
    static const unsigned char lh[8] = { 0, 0, 8, 1, 0, 0, 0, 2 };
    memcpy(im, ih, 16);
    for (int i = 0; i < 32; i++)
        im[16 + i] = (unsigned char)(i * 8);
    memcpy(lb, lh, 8);
    lb[8] = 3, lb[9] = 7;
    FILE *f = out(name);
    if (gz)
        gzip_stored(f, im, sizeof im);
    else
        fwrite(im, 1, sizeof im, f);
    fputs("\n--\n", f);
    if (gz)
        gzip_stored(f, lb, sizeof lb);
    else
        fwrite(lb, 1, sizeof lb, f);
    fclose(f);
}

int main(int argc, char **argv)
{
    if (argc != 2)
        return 2;
    root = argv[1];
    float w[6] = { 1, -2, 3, 0.5f, 0, -1 }, b[2] = { 0.25f, -0.25f }, sw[6] = { 0 }, sb[2] = { 0 };
    cnnrt_tensor p[2] = { { "fc.weight", 2, { 2, 3, 0, 0 }, 6, w, NULL },
                          { "fc.bias", 1, { 2, 0, 0, 0 }, 2, b, NULL } };
    cnnrt_tensor s[2] = { { "sgd.v.fc.weight", 2, { 2, 3, 0, 0 }, 6, sw, NULL },
                          { "sgd.v.fc.bias", 1, { 2, 0, 0, 0 }, 2, sb, NULL } };
    if (cnnrt_save(at("cnnw/params.cnnw"), p, 2, NULL, 0, 0) ||
        cnnrt_save(at("cnnw/checkpoint.cnnw"), p, 2, s, 2, 42) ||
        cnnrt_save(at("cnnw/one.cnnw"), p + 1, 1, NULL, 0, 0))
        return 1;
    idx_seed("idx/plain.idx", 0);
    idx_seed("idx/gzip.idx", 1);
    unsigned char px[8 * 8 * 4];
    for (int i = 0; i < (int)sizeof px; i++)
        px[i] = (unsigned char)(i * 37);
    int ok = stbi_write_png(at("image/gray.png"), 8, 8, 1, px, 8) &&
             stbi_write_png(at("image/rgba.png"), 5, 3, 4, px, 20) &&
             stbi_write_bmp(at("image/rgb.bmp"), 6, 4, 3, px) &&
             stbi_write_tga(at("image/rgb.tga"), 4, 6, 3, px) &&
             stbi_write_jpg(at("image/rgb.jpg"), 8, 8, 3, px, 80);
    return ok ? 0 : 1;
}
