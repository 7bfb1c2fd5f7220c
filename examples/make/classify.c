/* classify.c — the user program of examples/make: builds the LeNet-5 of
 * ../lenet5.cnn (untrained: initialised from a seed, or loaded from a
 * .cnnw given as the first argument), runs it on a synthetic 28x28
 * picture, and prints the class scores.  Not a trainer (see --main).
 */
#include <stdio.h>
#include "lenet5.h"

int main(int argc, char **argv)
{
    static float image[LENET5_IN_SIZE];
    for (int y = 4; y < 24; y++)        /* a vertical bar */
        image[y * 28 + 13] = image[y * 28 + 14] = 1.0f;
    lenet5 *m = lenet5_new();
    if (!m) {
        fprintf(stderr, "classify: out of memory\n");
        return 1;
    }
    lenet5_init(m, 1);
    if (argc > 1 && lenet5_load(m, argv[1]) != 0) {
        fprintf(stderr, "classify: cannot load '%s'\n", argv[1]);
        lenet5_free(m);
        return 1;
    }
    const float *p = lenet5_forward(m, image, 1);
    int best = 0;
    float sum = 0;
    for (int k = 0; k < LENET5_OUT_SIZE; k++) {
        sum += p[k];
        if (p[k] > p[best])
            best = k;
    }
    printf("class %d (p %.3f), probabilities sum to %.3f\n", best, p[best], sum);
    lenet5_free(m);
    return 0;
}
