/* fuzz_idx.c — libFuzzer target for IDX files and gzip (runtime/data/idx.c,
 * gzip.c): the input, split at its first "\n--\n", is an images file and
 * a labels file (either may be gzip'd: the reader goes by the magic), and
 * is opened as a data set for a [1, 4, 4] input with 10 classes, labelled
 * and unlabelled, reading every sample.  cnnrt_read_file is also run on
 * the whole input, the way every loader reads a file.
 */
#include <stdint.h>
#include <stdlib.h>

#include "cnnrt_data.h"
#include "fuzz_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const uint8_t *lab;
    size_t ilen, llen, len;
    fuzz_split(data, size, &ilen, &lab, &llen);
    char err[512];
    const char *whole = fuzz_file("whole.bin", data, size);
    free(cnnrt_read_file(whole, &len, err, sizeof err));
    const char *images = fuzz_file("f-images-idx3-ubyte", data, ilen);
    const char *labels = fuzz_file("f-labels-idx1-ubyte", lab, llen);
    for (int need = 0; need < 2; need++) {
        cnnrt_dataset *d = cnnrt_data_open(images, need ? labels : NULL, 1, 4, 4, 10, need,
                                           err, sizeof err);
        if (!d)
            continue;
        float x[16], t[10];
        for (int i = 0; i < d->count && i < 64; i++)
            if (d->get(d, i, x, need ? t : NULL, err, sizeof err) < 0)
                break;
        cnnrt_data_close(d);
    }
    return 0;
}
