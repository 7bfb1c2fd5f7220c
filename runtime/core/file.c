/* file.c — reading a whole file, and "'PATH': message" errors: the two
 * things every loader of the runtime (and .cnnw files) needs.  No format
 * knowledge here; gzip.c adds transparent gunzipping on top.
 */
#include "cnnrt.h"

#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

void cnnrt_errorf(char *err, size_t errlen, const char *path, const char *fmt, ...)
{
    if (!err || !errlen)
        return;
    int n = snprintf(err, errlen, "'%s': ", path);
    if (n >= 0 && (size_t)n < errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err + n, errlen - (size_t)n, fmt, ap);
        va_end(ap);
    }
}

unsigned char *cnnrt_read_plain(const char *path, size_t *len, char *err, size_t errlen)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        int e = errno;
        cnnrt_errorf(err, errlen, path, "%s", strerror(e));
        errno = e;
        return NULL;
    }
    struct stat st;
    size_t cap = fstat(fileno(f), &st) == 0 && st.st_size > 0
        ? (size_t)st.st_size + 1 : 65536;
    size_t n = 0;
    unsigned char *buf = malloc(cap);
    while (buf) {
        n += fread(buf + n, 1, cap - n, f);
        if (n < cap)
            break;
        unsigned char *bigger = cap > SIZE_MAX / 2 ? NULL : realloc(buf, cap * 2);
        if (!bigger) {
            free(buf);
            buf = NULL;
            break;
        }
        buf = bigger;
        cap *= 2;
    }
    int e = buf ? (ferror(f) ? EIO : 0) : ENOMEM;
    fclose(f);
    if (e) {
        free(buf);
        cnnrt_errorf(err, errlen, path, e == ENOMEM ? "out of memory" : "read error");
        errno = e;
        return NULL;
    }
    *len = n;
    return buf;
}
