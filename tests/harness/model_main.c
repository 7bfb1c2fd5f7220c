/* model_main.c — a test driver for any model cnnc generates, using only the
 * public API of GENERATED_API.md.  Built by the codegen tests as
 *
 *   cc -DMODEL=lenet5 -DMODEL_UC=LENET5 -DMODEL_H='"lenet5.h"' [-DOUT_C=10]
 *      model_main.c lenet5.c libcnnrt.a -lm
 *
 * Commands (n: samples per call, default BATCH):
 *   grad [n]     finite-difference check of every learned parameter's
 *                gradient; prints the first mismatches; exit 1 on failure
 *   trace K [n]  K training steps on fixed data: prints each loss, then the
 *                outputs and every parameter, one number a line (%.9g), so
 *                two builds (-O0 and -O2) can be compared number by number;
 *                with CNNC_TRACE_GRADS set, then the loss and gradients of
 *                one more forward and backward
 *   accum [n]    backward twice adds twice the gradient; update zeroes it
 *   io FILE      save, perturb, load: parameters come back bit for bit
 *   detect [n]   (-DHAS_DETECT: a model with detect outputs) two training
 *                steps, then <m>_detect at score 0, NMS 0.65: every
 *                detection, one number a line, as trace prints them
 * With -DHAS_EMA (the train block sets ema), trace prints the EMA of the
 * parameters after them.
 * With CNNC_STATIC=1 in the environment the model is placed in caller
 * memory with _new_in (the embedded user's way) instead of _new.
 *
 * It is not a benchmark and not a trainer: data are fixed pseudo-random
 * numbers, targets soft probability vectors (over OUT_C channels at each
 * pixel when OUT_C is given, else over the whole sample).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include MODEL_H

#define CAT_(a, b) a##_##b
#define CAT(a, b) CAT_(a, b)
#define F(x) CAT(MODEL, x)
#define C_(a, b) a##_##b
#define C(a, b) C_(a, b)
#define BATCH   C(MODEL_UC, BATCH)
#define IN      C(MODEL_UC, IN_SIZE)
#define OUT     C(MODEL_UC, OUT_SIZE)
#define TSIZE   C(MODEL_UC, TARGET_SIZE)
#ifndef OUT_C
#define OUT_C OUT
#endif
#ifndef TARGET_BOXES
/* every loss of these models (cross_entropy, bce, mse) declares a target
   of the output's layout: a model whose TARGET_SIZE differs fails to build */
typedef char target_is_output_sized[TSIZE == OUT ? 1 : -1];
#else
/* a detector (loss = yolox): targets are MAX_BOXES rows of 5 */
typedef char target_is_boxes[TSIZE == 5 * C(MODEL_UC, MAX_BOXES) ? 1 : -1];
#endif

static unsigned long long lcg = 12345;
static float frand(void)       /* [-1, 1) */
{
    lcg = lcg * 6364136223846793005ULL + 1442695040888963407ULL;
    return (float)((lcg >> 40) / (double)(1ULL << 24)) * 2.0f - 1.0f;
}

static float *x, *t;

static void make_data(int n)
{
    x = malloc(sizeof(float) * (size_t)n * IN);
    t = malloc(sizeof(float) * (size_t)n * TSIZE);
    for (long i = 0; i < (long)n * IN; i++)
        x[i] = frand();
#ifdef TARGET_BOXES
    /* one to three boxes a sample inside a square input of side sqrt(IN/3),
       the other rows padding */
    float side = 1;
    while ((side + 1) * (side + 1) * 3 <= IN)
        side++;
    for (int s = 0; s < n; s++) {
        float *ts = t + (long)s * TSIZE;
        int k = 1 + (int)((frand() + 1) * 1.5f);
        for (int r = 0; r < TSIZE / 5; r++) {
            float *b = ts + 5 * r;
            float w = side * (0.1f + 0.15f * (frand() + 1)), h = side * (0.1f + 0.15f * (frand() + 1));
            b[0] = r < k ? (float)(int)((frand() + 1) * 0.5f * C(MODEL_UC, CLASSES)) : -1;
            b[1] = w / 2 + (side - w) * 0.5f * (frand() + 1);
            b[2] = h / 2 + (side - h) * 0.5f * (frand() + 1);
            b[3] = w;
            b[4] = h;
        }
    }
    return;
#endif
    int hw = OUT / OUT_C;
    for (int s = 0; s < n; s++)
        for (int p = 0; p < hw; p++) {
            float sum = 0, *ts = t + (long)s * OUT;
            for (int c = 0; c < OUT_C; c++)
                sum += ts[c * hw + p] = 0.05f + (frand() + 1.0f);
            for (int c = 0; c < OUT_C; c++)
                ts[c * hw + p] /= sum;
        }
}

static float loss_at(MODEL *m, int n)
{
    F(forward)(m, x, n);
    return F(backward)(m, t, n);
}

/* One central-difference probe of the parameter *w at step h against the
 * analytic value an: 0 agrees, 1 disagrees (printed and counted in *bad
 * when bad is given), 2 a kink (relu, max) inside [w-h, w+h], seen as
 * one-sided slopes that disagree: not a test of anything. */
static int probe(MODEL *m, int n, float *w, float an, float h, int *bad)
{
    float w0 = *w;
    double l0 = loss_at(m, n);
    *w = w0 + h;
    double lp = loss_at(m, n);
    *w = w0 - h;
    double lm = loss_at(m, n);
    *w = w0;
    float fd = (float)((lp - lm) / (2.0 * h));
    float right = (float)((lp - l0) / h), left = (float)((l0 - lm) / h);
    /* float rounding of the loss, seen through the division by h */
    float noise = 2.4e-7f * (float)fabs(l0) / h;
    float tol = 6e-4f + noise + 4e-2f * fmaxf(fabsf(fd), fabsf(an));
    if (fabsf(right - left) > 2 * tol)
        return 2;
    if (fabsf(fd - an) <= tol)
        return 0;
    if (bad && (*bad)++ < 8)
        printf("MISMATCH: analytic %.6g, finite difference %.6g (h %g)\n", an, fd, h);
    return 1;
}

static int grad(MODEL *m, int n)
{
    const cnnrt_tensor *ts;
    int nt = F(params)(m, &ts), bad = 0, checked = 0, kinks = 0;
    F(zero_grad)(m);
    loss_at(m, n);
    /* every analytic gradient, before the probing backward calls add to them */
    float **saved = calloc((size_t)nt, sizeof(float *));
    for (int i = 0; i < nt; i++)
        if (ts[i].grad) {
            saved[i] = malloc(sizeof(float) * (size_t)ts[i].size);
            memcpy(saved[i], ts[i].grad, sizeof(float) * (size_t)ts[i].size);
        }
    for (int i = 0; i < nt; i++) {
        if (!ts[i].grad)
            continue;
        float *an = saved[i];
        long step = ts[i].size > 24 ? ts[i].size / 24 : 1;
        for (long k = (long)(frand() + 1) % step; k < ts[i].size; k += step) {
            /* a probe that disagrees at h = 2e-3 gets a second chance at
             * h = 5e-4: truncation error (batch statistics are strongly
             * curved) shrinks with h, a wrong gradient does not */
            int r = probe(m, n, &ts[i].data[k], an[k], 2e-3f, NULL);
            if (r == 1)
                r = probe(m, n, &ts[i].data[k], an[k], 5e-4f, &bad);
            if (r == 1 && bad <= 8)
                printf("  at %s[%ld]\n", ts[i].name, k);
            kinks += r == 2;
            checked += r != 2;
        }
        free(an);
    }
    free(saved);
    printf("grad: %d checked, %d mismatched, %d skipped at kinks (n=%d)\n", checked, bad, kinks, n);
    /* A relu or max kink very close to w can pass the one-sided test and
     * spoil one probe; a wrong gradient spoils many.  Allow 2%. */
    return bad * 50 > checked || checked == 0 || kinks > checked / 4;
}

static void trace(MODEL *m, int steps, int n)
{
    for (int s = 0; s < steps; s++)
        printf("loss %.9g\n", F(train_step)(m, x, t, n));
    const float *y = F(forward)(m, x, n);
    for (long i = 0; i < (long)n * OUT; i++)
        printf("out %.9g\n", y[i]);
    const cnnrt_tensor *ts;
    int nt = F(params)(m, &ts);
    for (int i = 0; i < nt; i++)
        for (long k = 0; k < ts[i].size; k++)
            printf("%s %.9g\n", ts[i].name, ts[i].data[k]);
    if (getenv("CNNC_TRACE_GRADS")) {
        F(zero_grad)(m);        /* and the gradients of one more batch */
        printf("loss %.9g\n", loss_at(m, n));
        for (int i = 0; i < nt; i++)
            for (long k = 0; ts[i].grad && k < ts[i].size; k++)
                printf("d.%s %.9g\n", ts[i].name, ts[i].grad[k]);
    }
#ifdef HAS_EMA
    nt = F(ema)(m, &ts);
    for (int i = 0; i < nt; i++)
        for (long k = 0; k < ts[i].size; k++)
            printf("ema.%s %.9g\n", ts[i].name, ts[i].data[k]);
#endif
}

#ifdef HAS_DETECT
static void detect(MODEL *m, int n)
{
    enum { MAX = 2000 };
    static cnnrt_det d[MAX];
    for (int s = 0; s < 2; s++)
        F(train_step)(m, x, t, n);
    int k = F(detect)(m, x, n, 0.0f, 0.65f, d, MAX);
    printf("detections %d\n", k);
    for (int i = 0; i < k; i++)
        printf("image %d\nclass %d\nscore %.9g\nx1 %.9g\ny1 %.9g\nx2 %.9g\ny2 %.9g\n", d[i].image,
               d[i].cls, d[i].score, d[i].x1, d[i].y1, d[i].x2, d[i].y2);
}
#endif

static int accum(MODEL *m, int n)
{
    const cnnrt_tensor *ts;
    int nt = F(params)(m, &ts), bad = 0;
    F(zero_grad)(m);
    loss_at(m, n);
    for (int i = 0; i < nt && !bad; i++) {
        if (!ts[i].grad)
            continue;
        float *g1 = malloc(sizeof(float) * (size_t)ts[i].size);
        memcpy(g1, ts[i].grad, sizeof(float) * (size_t)ts[i].size);
        F(zero_grad)(m);
        loss_at(m, n);
        loss_at(m, n);
        for (long k = 0; k < ts[i].size && !bad; k++)
            if (fabsf(ts[i].grad[k] - 2 * g1[k]) > 1e-5f + 1e-4f * fabsf(g1[k])) {
                printf("MISMATCH %s[%ld]: twice %.6g, once %.6g\n", ts[i].name, k, ts[i].grad[k], g1[k]);
                bad = 1;
            }
        free(g1);
        F(zero_grad)(m);
        loss_at(m, n);
    }
    F(update)(m);
    for (int i = 0; i < nt && !bad; i++)
        for (long k = 0; ts[i].grad && k < ts[i].size; k++)
            if (ts[i].grad[k] != 0) {
                printf("MISMATCH %s[%ld]: gradient %.6g after update\n", ts[i].name, k, ts[i].grad[k]);
                bad = 1;
                break;
            }
    printf("accum: %s\n", bad ? "FAILED" : "ok");
    return bad;
}

static int io(MODEL *m, const char *path)
{
    const cnnrt_tensor *ts;
    int nt = F(params)(m, &ts);
    long total = 0;
    for (int i = 0; i < nt; i++)
        total += ts[i].size;
    float *copy = malloc(sizeof(float) * (size_t)(total + 1)), *p = copy;
    for (int i = 0; i < nt; i++, p += ts[i - 1].size)
        memcpy(p, ts[i].data, sizeof(float) * (size_t)ts[i].size);
    int bad = 0;
    if (F(save)(m, path)) {
        perror(path);
        bad = 1;
    } else {
        F(init)(m, 999);
        bad = F(load)(m, path) != 0;
    }
    p = copy;
    for (int i = 0; i < nt && !bad; p += ts[i].size, i++)
        if (memcmp(p, ts[i].data, sizeof(float) * (size_t)ts[i].size)) {
            printf("MISMATCH %s differs after load\n", ts[i].name);
            bad = 1;
        }
    free(copy);
    if (!bad)
        printf("io: ok (%d tensors)\n", nt);
    return bad;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: %s grad|trace|accum|io ...\n", argv[0]);
        return 2;
    }
    const char *cmd = argv[1];
    int steps = strcmp(cmd, "trace") == 0 && argc > 2 ? atoi(argv[2]) : 0;
    const char *narg = argc > (steps ? 3 : 2) ? argv[steps ? 3 : 2] : NULL;
    int n = narg && strcmp(cmd, "io") ? atoi(narg) : BATCH;
    if (n < 1 || n > BATCH)
        n = BATCH;
    make_data(n);
    /* CNNC_STATIC=1: the model in caller memory (deliberately misaligned by
     * one byte), through _new_in instead of _new */
    static char *mem;
    MODEL *m;
    if (getenv("CNNC_STATIC")) {
        mem = malloc(C(MODEL_UC, MEMORY_BYTES) + 1);
        if (F(new_in)(mem + 1, C(MODEL_UC, MEMORY_BYTES) - 1) != NULL)
            return 3;                       /* too small must be refused */
        m = F(new_in)(mem + 1, C(MODEL_UC, MEMORY_BYTES));
    } else {
        m = F(new)();
    }
    if (!m)
        return 2;
    F(init)(m, 7);
    int rc = 0;
    if (strcmp(cmd, "grad") == 0)
        rc = grad(m, n);
    else if (strcmp(cmd, "trace") == 0)
        trace(m, steps, n);
    else if (strcmp(cmd, "accum") == 0)
        rc = accum(m, n);
    else if (strcmp(cmd, "io") == 0 && argc > 2)
        rc = io(m, argv[2]);
#ifdef HAS_DETECT
    else if (strcmp(cmd, "detect") == 0)
        detect(m, n);
#endif
    else
        rc = 2;
    F(free)(m);
    free(mem);
    free(x);
    free(t);
    return rc;
}
