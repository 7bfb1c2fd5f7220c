/* fuzz_util.h — what the libFuzzer targets share: a private scratch folder
 * (in /dev/shm when there is one) for parsers that read files by path, and
 * writing an input there.  Header only; each target is its own program.
 */
#ifndef FUZZ_UTIL_H
#define FUZZ_UTIL_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* the scratch folder, made on first use and kept for the whole run */
static const char *fuzz_dir(void)
{
    static char dir[64];
    if (!dir[0]) {
        snprintf(dir, sizeof dir, "%s/cnnc-fuzz-XXXXXX",
                 access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp");
        if (!mkdtemp(dir))
            abort();
    }
    return dir;
}

/* dir/name, in one of a few rotating buffers */
static const char *fuzz_path(const char *name)
{
    static char path[4][256];
    static int k;
    k = (k + 1) % 4;
    snprintf(path[k], sizeof path[k], "%s/%s", fuzz_dir(), name);
    return path[k];
}

/* data[0..n) as the file dir/name; its path */
static const char *fuzz_file(const char *name, const uint8_t *data, size_t n)
{
    const char *path = fuzz_path(name);
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(data, 1, n, f) != n || fclose(f) != 0)
        abort();
    return path;
}

/* an input split in two at its first "\n--\n" (b empty without one) */
static void fuzz_split(const uint8_t *data, size_t n, size_t *alen, const uint8_t **b,
                       size_t *blen)
{
    for (size_t i = 0; i + 4 <= n; i++)
        if (!memcmp(data + i, "\n--\n", 4)) {
            *alen = i;
            *b = data + i + 4;
            *blen = n - i - 4;
            return;
        }
    *alen = n;
    *b = data + n;
    *blen = 0;
}

#endif
