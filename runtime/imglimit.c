/* imglimit.c — what an image file must pass before stb_image decodes it:
 * a size within the pixel limit (a 1 MB PNG can claim 30000x30000 pixels
 * and cost 4 GB to decode), and, for PNG, no empty IDAT chunk (stb_image
 * copies the chunk's bytes with memcpy from a NULL buffer then, which is
 * undefined; empty IDAT chunks are legal PNG and carry no data, so they
 * are taken out of a copy of the file rather than refused).
 *
 * The limit is one process-wide number: cnnrt_max_pixels, set by the
 * trainer's --max-pixels.  Not here: decoding (image.c) or what a loader
 * does with an image it refuses (it leaves it out with a warning).
 */
#include "cnnrt.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <stb/stb_image.h>

long long cnnrt_max_pixels = CNNRT_MAX_PIXELS;

int cnnrt_image_fits(const char *path, int w, int h, char *err, size_t errlen)
{
    if ((long long)w * h <= cnnrt_max_pixels)
        return 0;
    cnnrt_errorf(err, errlen, path, "the image is %dx%d pixels, more than the limit of %lld "
                 "(--max-pixels)", w, h, cnnrt_max_pixels);
    return -1;
}

static uint32_t be32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* Chunks: u32 length (big-endian), 4-byte type, data, u32 CRC.  A chunk
 * that runs past the end stops the walk (stb_image reports it). */
unsigned char *cnnrt_png_without_empty_idat(const unsigned char *buf, size_t *len)
{
    static const unsigned char sig[8] = { 137, 80, 78, 71, 13, 10, 26, 10 };
    size_t n = *len;
    if (n < 8 || memcmp(buf, sig, 8))
        return NULL;
    int empty = 0;
    for (size_t at = 8; at + 12 <= n;) {
        uint32_t clen = be32(buf + at);
        if (clen > n - at - 12)
            break;
        empty |= clen == 0 && !memcmp(buf + at + 4, "IDAT", 4);
        at += 12 + (size_t)clen;
    }
    if (!empty)
        return NULL;
    unsigned char *out = malloc(n);
    if (!out)
        return NULL;
    memcpy(out, buf, 8);
    size_t at = 8, put = 8;
    while (at + 12 <= n) {
        uint32_t clen = be32(buf + at);
        if (clen > n - at - 12)
            break;
        if (clen || memcmp(buf + at + 4, "IDAT", 4)) {
            memcpy(out + put, buf + at, 12 + (size_t)clen);
            put += 12 + (size_t)clen;
        }
        at += 12 + (size_t)clen;
    }
    memcpy(out + put, buf + at, n - at);        /* whatever trails, as it was */
    *len = put + (n - at);
    return out;
}

unsigned char *cnnrt_image_decode(const char *path, const unsigned char *buf, size_t len,
                                  int c, int *w, int *h, char *err, size_t errlen)
{
    int n;
    if (len > INT32_MAX) {
        cnnrt_errorf(err, errlen, path, "the file is too large to be an image");
        return NULL;
    }
    if (!stbi_info_from_memory(buf, (int)len, w, h, &n)) {
        cnnrt_errorf(err, errlen, path, "cannot decode the image (%s)", stbi_failure_reason());
        return NULL;
    }
    if (cnnrt_image_fits(path, *w, *h, err, errlen) < 0)
        return NULL;
    size_t clean_len = len;
    unsigned char *clean = cnnrt_png_without_empty_idat(buf, &clean_len);
    unsigned char *p = stbi_load_from_memory(clean ? clean : buf, (int)clean_len, w, h, &n, c);
    free(clean);
    if (!p)
        cnnrt_errorf(err, errlen, path, "cannot decode the image (%s)", stbi_failure_reason());
    return p;
}
