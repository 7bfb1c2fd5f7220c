/* source.c — reading a source file, and refusing what is not one.
 *
 * A .cnn file is text: a NUL byte, or a file where control characters and
 * bytes that are not UTF-8 are common, is reported as binary instead of
 * producing a screenful of "invalid character" errors.  A few stray
 * control characters in otherwise good text are left to the scanner, which
 * reports each with its location.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "frontend/frontend.h"

enum { SNIFF = 64 * 1024 };

/* diag_fatal without "file:" in front: the message names the file */
#define FAIL(...) do {                          \
        const char *file_ = d->file;            \
        d->file = NULL;                         \
        diag_fatal(d, __VA_ARGS__);             \
        d->file = file_;                        \
    } while (0)

/* Bytes in the first SNIFF that text would not contain. */
static long odd_bytes(const unsigned char *s, long n)
{
    long odd = 0;
    if (n > SNIFF)
        n = SNIFF;
    for (long i = 0; i < n;) {
        unsigned char c = s[i];
        if (c < 0x80) {
            odd += c < 0x20 && !strchr("\t\n\r\f\v", c);
            odd += c == 0x7f;
            i++;
            continue;
        }
        int len = c >= 0xc2 && c <= 0xdf ? 2 : c >= 0xe0 && c <= 0xef ? 3 :
                  c >= 0xf0 && c <= 0xf4 ? 4 : 0;
        int ok = len > 0 && i + len <= n;
        for (int k = 1; ok && k < len; k++)
            ok = (s[i + k] & 0xc0) == 0x80;
        if (!ok) {
            odd++;
            i++;
        } else {
            i += len;
        }
    }
    return odd;
}

int fe_read_file(Diag *d, const char *path, char **src, long *len)
{
    *src = NULL;
    *len = 0;
    struct stat st;
    if (stat(path, &st) != 0) {
        FAIL("cannot open '%s': %s", path, strerror(errno));
        return 1;
    }
    if (S_ISDIR(st.st_mode)) {
        FAIL("'%s' is a directory, not a .cnn file", path);
        return 1;
    }
    if (S_ISREG(st.st_mode) && st.st_size > FE_MAX_SOURCE) {
        FAIL("'%s' is too large (%lld bytes; the limit is %ld)", path,
             (long long)st.st_size, FE_MAX_SOURCE);
        return 1;
    }
    FILE *f = fopen(path, "rb");
    if (!f) {
        FAIL("cannot open '%s': %s", path, strerror(errno));
        return 1;
    }
    long cap = 4096, n = 0;
    char *buf = xmalloc(cap + 1);
    for (;;) {
        if (!buf) {
            fclose(f);
            FAIL("out of memory reading '%s'", path);
            return 1;
        }
        n += fread(buf + n, 1, cap - n, f);
        if (n < cap)
            break;
        if (cap > FE_MAX_SOURCE) {
            free(buf);
            fclose(f);
            FAIL("'%s' is too large (the limit is %ld bytes)", path, FE_MAX_SOURCE);
            return 1;
        }
        cap *= 2;
        char *nb = xrealloc(buf, cap + 1);
        if (!nb)
            free(buf);
        buf = nb;
    }
    int err = ferror(f);
    fclose(f);
    if (err) {
        free(buf);
        FAIL("cannot read '%s': %s", path, strerror(errno ? errno : EIO));
        return 1;
    }
    buf[n] = 0;

    const char *nul = memchr(buf, 0, n);
    long odd = odd_bytes((const unsigned char *)buf, n);
    long sniffed = n < SNIFF ? n : SNIFF;
    if (nul || (odd >= 8 && odd * 8 > sniffed)) {
        if (nul)
            FAIL("'%s' looks like a binary file (it has a NUL byte at offset %ld)",
                 path, (long)(nul - buf));
        else
            FAIL("'%s' looks like a binary file (%ld of its first %ld bytes are "
                 "not text)", path, odd, sniffed);
        free(buf);
        return 1;
    }
    *src = buf;
    *len = n;
    return 0;
}
