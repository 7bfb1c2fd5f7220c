/* fuzz_yolo.c — libFuzzer target for YOLO lists and label files
 * (runtime/data/yolo.c): the input, split at its first "\n--\n", is a list
 * file and the label file of the image "a.png" (a real 4x4 PNG made at
 * start beside them, with "b.png" which has no label file).  The set is
 * opened for 3 classes and every sample's boxes and pixels are read; a box
 * outside [0, 1] or of a class out of range is a finding.
 */
#include <stdint.h>
#include <stdlib.h>

#include <stb/stb_image_write.h>

#include "cnnrt_data.h"
#include "fuzz_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int made;
    if (!made) {
        unsigned char px[16] = { 0, 10, 20, 30, 40, 50, 60, 70, 80, 90, 100, 110, 120 };
        if (!stbi_write_png(fuzz_path("a.png"), 4, 4, 1, px, 4) ||
            !stbi_write_png(fuzz_path("b.png"), 4, 4, 1, px, 4))
            abort();
        made = 1;
    }
    const uint8_t *lab;
    size_t llen, lstlen;
    fuzz_split(data, size, &lstlen, &lab, &llen);
    const char *list = fuzz_file("list.txt", data, lstlen);
    fuzz_file("a.txt", lab, llen);
    char err[512];
    cnnrt_dataset *d = cnnrt_data_open(list, NULL, 1, 4, 4, 3, 1, err, sizeof err);
    if (!d)
        return 0;
    cnnrt_box *box = calloc((size_t)d->maxbox + 1, sizeof *box);
    float x[16], t[3];
    for (int i = 0; i < d->count && i < 16 && box; i++) {
        int n = d->boxes(d, i, box);
        for (int k = 0; k < n; k++)
            if (box[k].cls < 0 || box[k].cls >= 3 || !(box[k].x0 >= 0) || !(box[k].x1 <= 1)
                || !(box[k].y0 >= 0) || !(box[k].y1 <= 1))
                abort();
        d->get(d, i, x, t, err, sizeof err);
    }
    free(box);
    cnnrt_data_close(d);
    return 0;
}
