/* fuzz_image.c — libFuzzer target for image decoding: the input is an
 * image file's bytes, given to cnnrt_image_decode (the pixel limit, the
 * empty-IDAT filter, then stb_image's PNG, JPEG, BMP, TGA and GIF
 * decoders) for 1 to 4 channels, and to cnnrt_image_load through a file,
 * which also converts and resizes.  The pixel limit is lowered to 4 Mpx so
 * that a header claiming a huge picture costs a refusal, not the run.
 */
#include <stdint.h>
#include <stdlib.h>

#include <stb/stb_image.h>

#include "cnnrt_data.h"
#include "fuzz_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    cnnrt_max_pixels = 1 << 22;
    char err[512];
    int c = size ? data[size - 1] % 4 + 1 : 1, w, h;
    unsigned char *p = cnnrt_image_decode("in", data, size, c, &w, &h, err, sizeof err);
    if (p && ((long long)w * h > cnnrt_max_pixels || w < 1 || h < 1))
        abort();
    stbi_image_free(p);
    float x[3 * 8 * 8];
    const char *path = fuzz_file("in.img", data, size);
    cnnrt_image_load(path, 3, 8, 8, x, err, sizeof err);
    return 0;
}
