/* bench_main.c — throughput of a generated model through its public API,
 * for `make bench`.  Built like tests/harness/model_main.c (-DMODEL=...).
 *
 *   train SECONDS   train_step on a fixed random batch of BATCH samples;
 *                   prints images per second (with BENCH_BUSY set, then the
 *                   seconds each kernel thread worked and the seconds run)
 *   infer SECONDS   forward of one sample (build with --inference --batch 1);
 *                   prints microseconds per call
 *
 * It measures the generated code and the runtime only: no data loading.
 */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include MODEL_H

#define CAT_(a, b) a##_##b
#define CAT(a, b) CAT_(a, b)
#define F(x) CAT(MODEL, x)
#define BATCH   CAT(MODEL_UC, BATCH)
#define IN      CAT(MODEL_UC, IN_SIZE)
#define OUT     CAT(MODEL_UC, OUT_SIZE)

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}

int main(int argc, char **argv)
{
    if (argc < 3)
        return fprintf(stderr, "usage: %s train|infer SECONDS\n", argv[0]), 2;
    double secs = atof(argv[2]);
    MODEL *m = F(new)();
    float *x = malloc(sizeof(float) * BATCH * IN), *t = calloc(BATCH * OUT, sizeof(float));
    if (!m || !x || !t)
        return 2;
    srand(1);
    for (long i = 0; i < (long)BATCH * IN; i++)
        x[i] = rand() / (float)RAND_MAX;
    for (int i = 0; i < BATCH; i++)
        t[i * OUT + rand() % OUT] = 1;
    long it = 0;
    double t0;
#ifdef TRAIN
    if (strcmp(argv[1], "train") == 0) {
        for (int i = 0; i < 3; i++)
            F(train_step)(m, x, t, BATCH);
        double busy[CNNRT_MAX_THREADS];
        cnnrt_thread_busy(busy, 0, 1);
        t0 = now();
        while (now() - t0 < secs) {
            F(train_step)(m, x, t, BATCH);
            it++;
        }
        double wall = now() - t0;
        printf("%.0f", it * BATCH / wall);
        int nb = getenv("BENCH_BUSY") ? cnnrt_thread_busy(busy, CNNRT_MAX_THREADS, 0) : 0;
        for (int i = 0; i < nb; i++)
            printf(" %.3f", busy[i]);
        printf(nb ? " %.3f\n" : "\n", wall);
        return 0;
    }
#endif
    for (int i = 0; i < 20; i++)
        F(forward)(m, x, 1);
    t0 = now();
    while (now() - t0 < secs) {
        F(forward)(m, x, 1);
        it++;
    }
    printf("%.1f\n", (now() - t0) / it * 1e6);
    (void)t;
    return 0;
}
