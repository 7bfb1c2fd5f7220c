/* infer_main.c — a forward-only driver for a model cnnc built with
 * --inference (no _backward), using only the public API: it runs the
 * forward pass on fixed pseudo-random inputs at n = BATCH and n = 1 and
 * prints every output, one number a line (%.9g), so that two builds of
 * the same model (the C and the LLVM backend) can be compared with cmp.
 * Built like model_main.c: -DMODEL=m -DMODEL_UC=M -DMODEL_H='"m.h"'.
 * It is not a test of the numbers themselves; model_main.c is.
 */
#include <stdio.h>
#include <stdlib.h>
#include MODEL_H

#define C_(a, b) a##_##b
#define C(a, b) C_(a, b)
#define F(x) C(MODEL, x)
#define BATCH C(MODEL_UC, BATCH)
#define IN    C(MODEL_UC, IN_SIZE)

static const long out_size[] = {
    C(MODEL_UC, OUT_SIZE),
#if C(MODEL_UC, NOUTPUTS) > 1
    C(MODEL_UC, OUT1_SIZE),
#endif
#if C(MODEL_UC, NOUTPUTS) > 2
    C(MODEL_UC, OUT2_SIZE),
#endif
};

int main(void)
{
    MODEL *m = F(new)();
    if (!m)
        return 1;
    float *x = malloc(sizeof(float) * (size_t)BATCH * IN);
    unsigned long long s = 99;
    for (long i = 0; i < (long)BATCH * IN; i++) {
        s = s * 6364136223846793005ULL + 1442695040888963407ULL;
        x[i] = (float)((s >> 40) / (double)(1ULL << 24)) * 2.0f - 1.0f;
    }
    int ns[2] = { BATCH, 1 };
    for (int k = 0; k < 2; k++) {
        F(forward)(m, x, ns[k]);
        for (int o = 0; o < (int)(sizeof out_size / sizeof out_size[0]); o++) {
            const float *y = F(output)(m, o);
            for (long i = 0; y && i < ns[k] * out_size[o]; i++)
                printf("out%d %.9g\n", o, y[i]);
        }
    }
    free(x);
    F(free)(m);
    return 0;
}
