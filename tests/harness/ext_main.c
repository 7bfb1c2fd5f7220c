/* ext_main.c — drives the generated `ext` model of test_train_ext.c
 * through _update with hand-set gradients, so that the test can see the
 * learning rate, the clipped gradient and the EMA the generated code used.
 * Built as  cc ext_main.c ext.c libcnnrt.a -lm.
 *
 * Per update k (1..STEPS) it prints one line:
 *   k  w0_before  w0_after  ema0
 * for the first element of the first learned tensor, after setting every
 * gradient element to 3.  Not a trainer; no data, no forward pass.
 */
#include <stdio.h>
#include "ext.h"

#define STEPS 9

int main(void)
{
    ext *m = ext_new();
    if (!m)
        return 1;
    ext_schedule(m, 2, 4);          /* 2 updates an epoch, 4 epochs */
    const cnnrt_tensor *t, *e;
    int n = ext_params(m, &t);
    if (ext_ema(m, &e) != n)
        return 1;
    long learned = 0;
    for (int i = 0; i < n; i++)
        learned += t[i].grad ? t[i].size : 0;
    printf("learned %ld\n", learned);
    for (int k = 1; k <= STEPS; k++) {
        for (int i = 0; i < n; i++)
            for (long j = 0; t[i].grad && j < t[i].size; j++)
                t[i].grad[j] = 3;
        float before = t[0].data[0];
        ext_update(m);
        printf("%d %.9g %.9g %.9g\n", k, before, t[0].data[0], e[0].data[0]);
    }
    ext_free(m);
    return 0;
}
