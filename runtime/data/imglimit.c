/* imglimit.c — what an image file must pass before stb_image decodes it:
 * a size within the pixel limit (a 1 MB PNG can claim 30000x30000 pixels
 * and cost 4 GB to decode), and, for PNG, no empty IDAT chunk (stb_image
 * copies the chunk's bytes with memcpy from a NULL buffer then, which is
 * undefined; empty IDAT chunks are legal PNG and carry no data, so they
 * are taken out of a copy of the file rather than refused).
 *
 * And, for JPEG, no Huffman table of more than 256 codes: the system
 * stb_image writes past its tables on one (found by tests/fuzz/fuzz_image).
 * For PNG, no IDAT chunk that runs past the end of the file: stb_image
 * grows its buffer to the claimed length before it finds the data missing
 * (a 111-byte file claiming 1.2 GB; also a fuzz finding).
 *
 * The limit is one process-wide number: cnnrt_max_pixels, set by the
 * trainer's --max-pixels.  Not here: decoding (image.c) or what a loader
 * does with an image it refuses (it leaves it out with a warning).
 */
#include "cnnrt_data.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <stb/stb_image.h>

long long cnnrt_max_pixels = CNNRT_MAX_PIXELS;

int cnnrt_image_fits(const char *path, int w, int h, char *err, size_t errlen)
{
    if ((long long)w * h <= cnnrt_max_pixels)
        return 0;
    errno = EINVAL;
    cnnrt_errorf(err, errlen, path, "the image is %dx%d pixels, more than the limit of %lld "
                 "(--max-pixels)", w, h, cnnrt_max_pixels);
    return -1;
}

static uint32_t be32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* Chunks: u32 length (big-endian), 4-byte type, data, u32 CRC.  A chunk
 * that runs past the end stops the walk.  For a PNG: 1 when it has an
 * empty IDAT chunk (*empty) or an IDAT whose data runs past the end
 * (*overrun; a missing CRC alone is stb_image's to judge); 0 otherwise. */
static int png_walk(const unsigned char *buf, size_t n, int *empty, int *overrun)
{
    static const unsigned char sig[8] = { 137, 80, 78, 71, 13, 10, 26, 10 };
    *empty = *overrun = 0;
    if (n < 8 || memcmp(buf, sig, 8))
        return 0;
    for (size_t at = 8; at + 8 <= n;) {
        uint32_t clen = be32(buf + at);
        int idat = !memcmp(buf + at + 4, "IDAT", 4);
        if (at + 12 > n || clen > n - at - 12) {
            *overrun = idat && clen > n - at - 8;   /* its data, not just its CRC */
            break;
        }
        *empty |= clen == 0 && idat;
        at += 12 + (size_t)clen;
    }
    return *empty || *overrun;
}

unsigned char *cnnrt_png_without_empty_idat(const unsigned char *buf, size_t *len)
{
    size_t n = *len;
    int empty, overrun;
    png_walk(buf, n, &empty, &overrun);
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

/* 1 when a JPEG has a Huffman table (DHT) of more than 256 codes: the
 * system stb_image builds it without a bound and writes past its arrays.
 * Segments are walked as stb_image reads them: a DHT holds tables while
 * its length lasts, each a class byte, 16 counts and their sum of values;
 * between segments, entropy-coded bytes are skipped to the next marker. */
static int jpeg_bad_huffman(const unsigned char *p, size_t n)
{
    size_t at = 0;
    while (at < n && p[at] == 0xff)     /* stb_image takes fill bytes before SOI too */
        at++;
    if (at == 0 || at + 1 >= n || p[at] != 0xd8)
        return 0;
    at++;
    while (at + 4 <= n) {
        unsigned m = p[at + 1];
        if (p[at] != 0xff || m == 0xff) {
            at++;
            continue;
        }
        if (m == 0x00 || m == 0x01 || m == 0xd8 || (m >= 0xd0 && m <= 0xd7)) {
            at += 2;                    /* stuffed byte, TEM, SOI, RSTn: no length */
            continue;
        }
        if (m == 0xd9)
            return 0;                   /* EOI */
        size_t len = (size_t)p[at + 2] << 8 | p[at + 3];
        for (size_t q = at + 4; m == 0xc4 && q < at + 2 + len && q < n;) {
            unsigned sum = 0;       /* stb_image reads 0 past the end */
            for (size_t i = 1; i <= 16 && q + i < n; i++)
                sum += p[q + i];
            if (sum > 256)
                return 1;
            q += 17 + sum;
        }
        at += 2 + len;
    }
    return 0;
}

int cnnrt_image_header(const char *path, const unsigned char *buf, size_t len, int *w,
                       int *h, char *err, size_t errlen)
{
    int n;
    errno = EINVAL;             /* what every refusal below is */
    if (len > INT32_MAX) {
        cnnrt_errorf(err, errlen, path, "the file is too large to be an image");
        return -1;
    }
    if (jpeg_bad_huffman(buf, len)) {
        cnnrt_errorf(err, errlen, path, "cannot decode the image (corrupt JPEG: a Huffman "
                     "table of more than 256 codes)");
        return -1;
    }
    if (!stbi_info_from_memory(buf, (int)len, w, h, &n)) {
        cnnrt_errorf(err, errlen, path, "not an image stb_image can read (%s)",
                     stbi_failure_reason());
        return -1;
    }
    return cnnrt_image_fits(path, *w, *h, err, errlen);
}

unsigned char *cnnrt_image_decode(const char *path, const unsigned char *buf, size_t len,
                                  int c, int *w, int *h, char *err, size_t errlen)
{
    int n;
    if (cnnrt_image_header(path, buf, len, w, h, err, errlen) < 0)
        return NULL;
    /* here, not in the header check: stb_image's header read never
     * reaches the IDAT chunks, and a cut file is a decoding error */
    int empty, overrun;
    if (png_walk(buf, len, &empty, &overrun) && overrun) {
        cnnrt_errorf(err, errlen, path, "cannot decode the image (corrupt PNG: an IDAT chunk "
                     "runs past the end of the file)");
        errno = EINVAL;
        return NULL;
    }
    size_t clean_len = len;
    unsigned char *clean = cnnrt_png_without_empty_idat(buf, &clean_len);
    unsigned char *p = stbi_load_from_memory(clean ? clean : buf, (int)clean_len, w, h, &n, c);
    free(clean);
    if (!p) {
        int oom = strcmp(stbi_failure_reason(), "outofmem") == 0;
        if (oom)
            cnnrt_errorf(err, errlen, path, "out of memory decoding the image");
        else
            cnnrt_errorf(err, errlen, path, "cannot decode the image (%s)", stbi_failure_reason());
        errno = oom ? ENOMEM : EINVAL;
    } else if (*w < 1 || *h < 1 || (long long)*w * *h > cnnrt_max_pixels) {
        /* the decoder's size is not always the header's (a GIF's frame
         * against its screen; a fuzz finding): checked again */
        cnnrt_errorf(err, errlen, path, "the decoded image is %dx%d pixels (%s)", *w, *h,
                     *w < 1 || *h < 1 ? "empty" : "over the pixel limit");
        stbi_image_free(p);
        p = NULL;
        errno = EINVAL;
    }
    return p;
}
