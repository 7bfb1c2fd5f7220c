/* fuzz_cnnw.c — libFuzzer target for the .cnnw reader (runtime/core/cnnw.c):
 * the input is loaded as a parameter file and as a checkpoint into a
 * fixed small model (fc.weight [2,3], fc.bias [2], one state tensor per
 * parameter).  A load that fails must leave every tensor as it was (the
 * contract in cnnrt.h); that is checked, so it is a finding, not only a
 * crash.  The seed corpus holds files cnnrt_save wrote for this model.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cnnrt.h"
#include "fuzz_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    float w[6], b[2], sw[6], sb[2];
    cnnrt_tensor p[2] = {
        { "fc.weight", 2, { 2, 3, 0, 0 }, 6, w, NULL },
        { "fc.bias", 1, { 2, 0, 0, 0 }, 2, b, NULL },
    };
    cnnrt_tensor s[2] = {
        { "sgd.v.fc.weight", 2, { 2, 3, 0, 0 }, 6, sw, NULL },
        { "sgd.v.fc.bias", 1, { 2, 0, 0, 0 }, 2, sb, NULL },
    };
    const char *path = fuzz_file("in.cnnw", data, size);
    char err[512];
    long step = -1;
    for (int with_state = 0; with_state < 2; with_state++) {
        for (int i = 0; i < 6; i++)
            w[i] = sw[i] = 7;
        b[0] = b[1] = sb[0] = sb[1] = 7;
        int rc = cnnrt_load(path, p, 2, with_state ? s : NULL, with_state ? 2 : 0, &step,
                            err, sizeof err);
        if (rc < 0) {
            for (int i = 0; i < 6; i++)
                if (w[i] != 7 || sw[i] != 7)
                    abort();            /* a failed load changed a tensor */
            if (!err[0])
                abort();                /* and said nothing */
        }
    }
    return 0;
}
