/* gzip.c — cnnrt_read_file: a whole file into memory, gunzipped when it is
 * a gzip file (told by its magic bytes, not its name).
 *
 * The gzip container (RFC 1952) is parsed here; the deflate data inside is
 * decoded by stb_image's zlib decoder (stb.c) into a buffer of exactly the
 * size the trailer announces, so a corrupt stream can never make it grow
 * without bound; then the CRC-32 and length of the trailer are checked.
 * Only single-member files are read (what gzip(1) writes; concatenated
 * members fail the length check).  Files up to 2 GiB, compressed or not,
 * which is what stb's int sizes allow.
 */
#include "cnnrt_data.h"

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <stb/stb_image.h>

/* gzip header flags */
#define GZ_FHCRC    0x02
#define GZ_FEXTRA   0x04
#define GZ_FNAME    0x08
#define GZ_FCOMMENT 0x10
#define GZ_RESERVED 0xe0
/* deflate expands at most 1032:1; a trailer claiming more is not this data */
#define GZ_MAX_RATIO 1032

static uint32_t gz_u32le(const unsigned char *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16
        | (uint32_t)p[3] << 24;
}

/* The raw bytes of path.  Reads until EOF, so pipes and files whose size
 * changes work too; st_size is only the first guess. */

/* skips a zero-terminated header field; -1 when it runs off the end */
static int gz_skip_string(const unsigned char *p, size_t n, size_t *pos)
{
    while (*pos < n && p[*pos])
        (*pos)++;
    if (*pos >= n)
        return -1;
    (*pos)++;
    return 0;
}

/* The decompressed contents of the gzip file in p[0..n).  NULL with err
 * set (and errno EINVAL or ENOMEM). */
static unsigned char *gz_inflate(const unsigned char *p, size_t n, size_t *outlen,
                                 const char *path, char *err, size_t errlen)
{
    const char *bad = NULL;
    size_t pos = 10;
    if (n < 18)
        bad = "truncated gzip file";
    else if (p[2] != 8)
        bad = "gzip compression method is not deflate";
    else if (p[3] & GZ_RESERVED)
        bad = "corrupt gzip header";
    if (!bad && (p[3] & GZ_FEXTRA)) {
        size_t xlen = (size_t)p[10] | (size_t)p[11] << 8;
        pos = 12 + xlen;
    }
    if (!bad && (p[3] & GZ_FNAME) && gz_skip_string(p, n, &pos) < 0)
        bad = "truncated gzip header";
    if (!bad && (p[3] & GZ_FCOMMENT) && gz_skip_string(p, n, &pos) < 0)
        bad = "truncated gzip header";
    if (!bad && (p[3] & GZ_FHCRC)) {
        if (pos + 2 <= n && (cnnrt_crc32(0, p, pos) & 0xffff)
            != ((unsigned)p[pos] | (unsigned)p[pos + 1] << 8))
            bad = "gzip header CRC mismatch: the file is corrupt";
        pos += 2;
    }
    if (!bad && (pos > n || n - pos < 8))
        bad = "truncated gzip file";
    if (bad) {
        cnnrt_errorf(err, errlen, path, "%s", bad);
        errno = EINVAL;
        return NULL;
    }

    size_t dlen = n - pos - 8;
    uint32_t crc = gz_u32le(p + n - 8), isize = gz_u32le(p + n - 4);
    if (dlen > INT_MAX - 8 || isize > INT_MAX) {
        cnnrt_errorf(err, errlen, path, "larger than the 2 GiB this reader handles");
        errno = EINVAL;
        return NULL;
    }
    if ((uint64_t)isize > (uint64_t)dlen * GZ_MAX_RATIO + 1024) {
        cnnrt_errorf(err, errlen, path, "gzip trailer does not match the data: "
                 "the file is truncated or corrupt");
        errno = EINVAL;
        return NULL;
    }
    unsigned char *out = malloc(isize ? isize : 1);
    if (!out) {
        cnnrt_errorf(err, errlen, path, "out of memory");
        errno = ENOMEM;
        return NULL;
    }
    /* the decoder reads ahead of the bits it uses and rejects a code it
     * could not fill completely, so it gets the trailer's 8 bytes as
     * slack; it stops at the final block either way */
    int got = stbi_zlib_decode_noheader_buffer((char *)out, (int)isize,
                                               (const char *)p + pos, (int)(dlen + 8));
    if (got < 0 || (uint32_t)got != isize)
        bad = "corrupt or truncated gzip data";
    else if (cnnrt_crc32(0, out, isize) != crc)
        bad = "gzip CRC mismatch: the file is corrupt";
    if (bad) {
        free(out);
        cnnrt_errorf(err, errlen, path, "%s", bad);
        errno = EINVAL;
        return NULL;
    }
    *outlen = isize;
    return out;
}

unsigned char *cnnrt_read_file(const char *path, size_t *len, char *err, size_t errlen)
{
    size_t n;
    unsigned char *raw = cnnrt_read_plain(path, &n, err, errlen);
    if (!raw || n < 2 || raw[0] != 0x1f || raw[1] != 0x8b) {
        if (raw)
            *len = n;
        return raw;
    }
    unsigned char *out = gz_inflate(raw, n, len, path, err, errlen);
    int e = errno;
    free(raw);
    errno = e;
    return out;
}
