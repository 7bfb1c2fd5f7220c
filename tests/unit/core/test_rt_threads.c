/* test_rt_threads.c — the runtime's threads (core/threads.c): the pool's
 * static split (every item exactly once, ranges on grain boundaries, one
 * thread, more threads than items, repeated and nested use, a pool of its
 * own, per-thread scratch, fork), the thread settings (cnnrt_set_threads,
 * CNNRT_THREADS, the affinity mask), and every parallel kernel run at 1, 2,
 * 3 and 8 threads on the same inputs, compared bit for bit.
 *
 * CNNRT_SPLIT_MIN=0 is set before the first kernel call, so that even
 * these small calls split wherever a kernel can split.  The models as a
 * whole (training steps, gradients, parameters) are compared in
 * tests/unit/compiler/test_threads.c.
 */
#define _GNU_SOURCE             /* sched_setaffinity, CPU_COUNT */
#include "cnnrt.h"
#include "gemm.h"
#include "threads.h"

#include <check.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include "check_util.h"

/* ---- the split itself ---- */
#define MAXN 4096
static int owner[MAXN], calls;
static long seen_lo[64], seen_hi[64];

static void mark(void *arg, int tid, long lo, long hi)
{
    (void)arg;
    for (long i = lo; i < hi; i++)
        owner[i] = tid;
    seen_lo[tid] = lo;
    seen_hi[tid] = hi;
    __atomic_add_fetch(&calls, 1, __ATOMIC_SEQ_CST);
}

/* runs mark over n items and checks the split; returns the threads used */
static int split(cnnrt_ctx *ctx, long n, long grain)
{
    for (long i = 0; i < n; i++)
        owner[i] = -1;
    calls = 0;
    cnnrt_par_for(ctx, n, grain, 0, mark, NULL);
    int used = calls;
    long next = 0;
    for (int t = 0; t < used; t++) {
        ck_assert_int_eq(seen_lo[t], next);             /* contiguous, in tid order */
        ck_assert(seen_hi[t] > seen_lo[t]);
        ck_assert_msg(seen_lo[t] % grain == 0, "range %ld not on a grain of %ld", seen_lo[t], grain);
        long mine = 0;
        for (long i = seen_lo[t]; i < seen_hi[t]; i++)
            mine += owner[i] == t;
        ck_assert_int_eq(mine, seen_hi[t] - seen_lo[t]);
        next = seen_hi[t];
    }
    ck_assert_int_eq(next, n);
    return used;
}

START_TEST(test_split)
{
    cnnrt_ctx ctx = { NULL, 0, NULL };
    static const long ns[] = { 1, 5, 7, 96, 97, 1000, MAXN };
    static const long grains[] = { 1, 4, 96 };
    for (int threads = 1; threads <= 8; threads++)
        for (int a = 0; a < 7; a++)
            for (int b = 0; b < 3; b++) {
                ctx.threads = threads;
                long units = (ns[a] + grains[b] - 1) / grains[b];
                int used = split(&ctx, ns[a], grains[b]);
                ck_assert_int_eq(used, units < threads ? units : threads);
            }
    /* a NULL context, and zero items */
    ck_assert_int_eq(split(NULL, 100, 1), 1);
    calls = 0;
    cnnrt_par_for(&ctx, 0, 1, 0, mark, NULL);
    ck_assert_int_eq(calls, 0);
}
END_TEST

/* many calls in a row on the same pool, with varying thread counts */
static long total;
static void add_range(void *arg, int tid, long lo, long hi)
{
    (void)arg;
    (void)tid;
    __atomic_add_fetch(&total, (hi - lo) * (lo + hi - 1) / 2, __ATOMIC_SEQ_CST);
}

START_TEST(test_repeated)
{
    cnnrt_ctx ctx = { NULL, 0, NULL };
    for (int i = 0; i < 3000; i++) {
        ctx.threads = 1 + i % 5;
        long n = 1 + i % 97;
        total = 0;
        cnnrt_par_for(&ctx, n, 1, 0, add_range, NULL);
        ck_assert_int_eq(total, n * (n - 1) / 2);
    }
}
END_TEST

/* a kernel called from inside a range runs serially (the pool is busy) */
static int inner_calls;
static void inner(void *arg, int tid, long lo, long hi)
{
    (void)arg;
    ck_assert_int_eq(tid, 0);
    ck_assert_int_eq(lo, 0);
    ck_assert_int_eq(hi, 50);
    __atomic_add_fetch(&inner_calls, 1, __ATOMIC_SEQ_CST);
}
static void outer(void *arg, int tid, long lo, long hi)
{
    (void)tid;
    (void)lo;
    (void)hi;
    cnnrt_par_for(arg, 50, 1, 0, inner, NULL);
}

START_TEST(test_nested)
{
    cnnrt_ctx ctx = { NULL, 4, NULL };
    inner_calls = 0;
    cnnrt_par_for(&ctx, 4, 1, 0, outer, &ctx);
    ck_assert_int_eq(inner_calls, 4);
}
END_TEST

/* a pool of its own caps the threads; freeing it joins them */
START_TEST(test_own_pool)
{
    cnnrt_threadpool *p = cnnrt_threadpool_new(2);
    ck_assert_ptr_nonnull(p);
    cnnrt_ctx ctx = { NULL, 8, p };
    ck_assert_int_eq(cnnrt_par_threads(&ctx), 2);
    for (int i = 0; i < 100; i++)
        ck_assert_int_eq(split(&ctx, 10, 1), 2);
    cnnrt_threadpool_free(p);
    cnnrt_threadpool_free(NULL);
}
END_TEST

/* each thread has scratch of its own: thread 0 the context's */
static float *scratch_of[8];
static void fill_scratch(void *arg, int tid, long lo, long hi)
{
    cnnrt_ctx *ctx = arg;
    (void)lo;
    (void)hi;
    float *s = cnnrt_par_scratch(ctx, tid);
    scratch_of[tid] = s;
    for (int i = 0; i < 1000; i++)
        s[i] = (float)tid;
}

START_TEST(test_scratch)
{
    float mine[1000];
    cnnrt_ctx ctx = { mine, 4, NULL };
    memset(scratch_of, 0, sizeof scratch_of);
    cnnrt_par_for(&ctx, 4, 1, 1000, fill_scratch, &ctx);
    ck_assert_ptr_eq(scratch_of[0], mine);
    for (int t = 0; t < 4; t++) {
        ck_assert_ptr_nonnull(scratch_of[t]);
        for (int u = 0; u < t; u++)
            ck_assert_ptr_ne(scratch_of[t], scratch_of[u]);
        for (int i = 0; i < 1000; i++)
            ck_assert(scratch_of[t][i] == (float)t);
    }
    double busy[CNNRT_MAX_THREADS];
    ck_assert_int_ge(cnnrt_thread_busy(busy, CNNRT_MAX_THREADS, 1), 4);
}
END_TEST

/* a child of fork() after the pool has started its workers gets its own */
START_TEST(test_fork)
{
    cnnrt_ctx ctx = { NULL, 3, NULL };
    ck_assert_int_eq(split(&ctx, 30, 1), 3);
    pid_t pid = fork();
    if (pid == 0) {
        alarm(20);                      /* a hang fails the test, not the suite */
        total = 0;
        for (int i = 0; i < 100; i++)
            cnnrt_par_for(&ctx, 10, 1, 0, add_range, NULL);
        _exit(total == 100 * 45 ? 0 : 1);
    }
    int status;
    waitpid(pid, &status, 0);
    ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "the forked child's pool failed");
    ck_assert_int_eq(split(&ctx, 30, 1), 3);
}
END_TEST

/* ---- the settings ---- */
START_TEST(test_settings)
{
    cpu_set_t set;
    ck_assert_int_eq(sched_getaffinity(0, sizeof set, &set), 0);
    ck_assert_int_eq(cnnrt_cpus(), CPU_COUNT(&set));
    ck_assert_int_eq(cnnrt_set_threads(3), 3);
    ck_assert_int_eq(cnnrt_threads(), 3);
    cnnrt_ctx ctx = { NULL, 0, NULL };
    ck_assert_int_eq(cnnrt_par_threads(&ctx), 3);
    cnnrt_ctx_set_threads(&ctx, 5);
    ck_assert_int_eq(cnnrt_par_threads(&ctx), 5);
    cnnrt_ctx_set_threads(&ctx, 0);
    ck_assert_int_eq(cnnrt_par_threads(&ctx), 3);
    ck_assert_int_eq(cnnrt_set_threads(100000), CNNRT_MAX_THREADS);
    setenv("CNNRT_THREADS", "6", 1);
    ck_assert_int_eq(cnnrt_threads_env(), 6);
    ck_assert_int_eq(cnnrt_set_threads(0), 6);
    static const char *bad[] = { "0", "-2", "3x", "", "257", "two" };
    for (int i = 0; i < 6; i++) {
        setenv("CNNRT_THREADS", bad[i], 1);
        ck_assert_int_eq(cnnrt_threads_env(), 0);
        ck_assert_int_eq(cnnrt_set_threads(0), cnnrt_cpus());
    }
    unsetenv("CNNRT_THREADS");
    ck_assert_int_eq(cnnrt_set_threads(-1), cnnrt_cpus());
    /* a process pinned to one CPU counts one, whatever the machine has */
    pid_t pid = fork();
    if (pid == 0) {
        CPU_ZERO(&set);
        CPU_SET(0, &set);
        _exit(sched_setaffinity(0, sizeof set, &set) != 0 ? 2
              : cnnrt_cpus() == 1 && cnnrt_set_threads(0) == 1 ? 0 : 1);
    }
    int status;
    waitpid(pid, &status, 0);
    ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}
END_TEST

/* ---- every parallel kernel: the same bits at 1, 2, 3 and 8 threads ---- */
static uint64_t seed;
static float urand(void)                        /* [-1, 1) */
{
    seed = seed * 6364136223846793005ull + 1442695040888963407ull;
    return (float)((seed >> 40) * (2.0 / 16777216.0) - 1.0);
}

/* the outputs of one run, appended in call order */
static float *outs;
static long nouts, capouts;
static void keep(const float *p, long n)
{
    if (nouts + n > capouts) {
        capouts = 2 * (nouts + n);
        outs = realloc(outs, (size_t)capouts * sizeof *outs);
        ck_assert_ptr_nonnull(outs);
    }
    memcpy(outs + nouts, p, (size_t)n * sizeof *p);
    nouts += n;
}

static float *rnd(long n)
{
    float *p = malloc((size_t)n * sizeof *p);
    ck_assert_ptr_nonnull(p);
    for (long i = 0; i < n; i++)
        p[i] = urand();
    return p;
}

/* products of every transposition and of sizes around the panel widths */
static void gemm_shapes(cnnrt_ctx *ctx, const float *a, const float *b, float *c)
{
    static const int ms[] = { 1, 5, 9, 100 }, ns[] = { 1, 95, 97, 200, 300 }, ks[] = { 1, 130, 300 };
    for (int t = 0; t < 4; t++)
        for (int i = 0; i < 4; i++)
            for (int j = 0; j < 5; j++)
                for (int k = 0; k < 3; k++) {
                    int m = ms[i], n = ns[j], kk = ks[k], ta = t & 1, tb = t >> 1;
                    cnnrt_sgemm_par(ctx, ta, tb, m, n, kk, 0.5f, a, ta ? m : kk, b, tb ? kk : n,
                                    k == 1 ? 1.0f : 0.0f, c, n);
                    keep(c, (long)m * n);
                }
}

/* with every micro-kernel the CPU has: each has its own panel width */
static void gemms(cnnrt_ctx *ctx)
{
    float *a = rnd(100 * 300), *b = rnd(300 * 300), *c = rnd(100 * 300);
    for (int v = CNNRT_GEMM_GENERIC; v <= CNNRT_GEMM_AVX512; v++)
        if (cnnrt_sgemm_select(v))
            gemm_shapes(ctx, a, b, c);
    cnnrt_sgemm_select(CNNRT_GEMM_AUTO);
    free(a);
    free(b);
    free(c);
}

static void convs(cnnrt_ctx *ctx)
{
    /* c h w, f oh ow, kh kw, sh sw, ph pw, dh dw, groups: im2col, kernel-
     * major, pointwise (plain and kernel-major), grouped, dilated */
    static const cnnrt_conv gs[] = {
        { 3, 9, 8, 4, 9, 8, 3, 3, 1, 1, 1, 1, 1, 1, 1 },
        { 6, 10, 10, 5, 4, 4, 3, 3, 2, 2, 0, 0, 1, 1, 1 },
        { 2, 5, 5, 3, 5, 5, 1, 1, 1, 1, 0, 0, 1, 1, 1 },
        { 8, 5, 5, 3, 5, 5, 1, 1, 1, 1, 0, 0, 1, 1, 1 },
        { 8, 7, 7, 4, 7, 7, 3, 3, 1, 1, 2, 2, 2, 2, 2 },
        /* K > the gemm's NR: the split kernel-major dw (conv_dw.c) */
        { 16, 6, 6, 5, 6, 6, 3, 3, 1, 1, 1, 1, 1, 1, 1 },
        { 24, 5, 5, 4, 3, 3, 3, 3, 2, 2, 1, 1, 1, 1, 2 },
        { 16, 9, 9, 3, 5, 5, 3, 3, 1, 1, 0, 0, 2, 2, 1 },
        /* depthwise (convdepth.c): planes split, dw by channels */
        { 24, 9, 9, 24, 9, 9, 3, 3, 1, 1, 1, 1, 1, 1, 24 },
        { 16, 11, 10, 16, 6, 5, 3, 3, 2, 2, 1, 1, 1, 1, 16 },
    };
    for (int i = 0; i < (int)(sizeof gs / sizeof gs[0]); i++)
        for (int n = 1; n <= 5; n += 4) {
            const cnnrt_conv *g = &gs[i];
            long xs = (long)g->c * g->h * g->w, ys = (long)g->f * g->oh * g->ow;
            long ws = (long)g->f * (g->c / g->groups) * g->kh * g->kw;
            float *x = rnd(n * xs), *w = rnd(ws), *b = rnd(g->f), *y = rnd(n * ys);
            float *dy = rnd(n * ys), *dx = rnd(n * xs), *dw = rnd(ws), *db = rnd(g->f);
            float *scratch = rnd(cnnrt_conv_scratch(g) + 1);
            ctx->scratch = scratch;
            cnnrt_conv_forward(ctx, g, n, x, w, b, y, CNNRT_ACT_RELU, 0);
            keep(y, n * ys);
            cnnrt_conv_backward(ctx, g, n, x, w, y, dy, CNNRT_ACT_RELU, 0, dx, dw, db);
            keep(dx, n * xs);
            keep(dw, ws);
            keep(db, g->f);
            keep(dy, n * ys);
            ctx->scratch = NULL;
            free(x); free(w); free(b); free(y); free(dy); free(dx); free(dw); free(db);
            free(scratch);
        }
}

static void dense(cnnrt_ctx *ctx)
{
    int n = 7, in = 300, out = 200;
    float *x = rnd(n * in), *w = rnd(out * in), *b = rnd(out), *y = rnd(n * out);
    float *dx = rnd(n * in), *dw = rnd(out * in), *db = rnd(out);
    cnnrt_dense_forward(ctx, n, in, out, x, w, b, y, CNNRT_ACT_TANH, 0);
    keep(y, n * out);
    cnnrt_dense_backward(ctx, n, in, out, x, w, y, y, CNNRT_ACT_TANH, 0, dx, dw, db);
    keep(dx, n * in);
    keep(dw, out * in);
    keep(db, out);
    free(x); free(w); free(b); free(y); free(dx); free(dw); free(db);
}

static void elementwise(cnnrt_ctx *ctx)
{
    long len = 5000;
    float *x = rnd(len), *y = rnd(len), *d = rnd(len), *a = rnd(len), *mask = rnd(len);
    for (int act = CNNRT_ACT_RELU; act <= CNNRT_ACT_SILU; act++) {
        cnnrt_act_forward(ctx, act, 0.1f, len, x, y);
        keep(y, len);
        cnnrt_act_backward(ctx, act, 0.1f, len, x, y, d, a);
        keep(a, len);
    }
    cnnrt_add_forward(ctx, len, x, d, y, CNNRT_ACT_SIGMOID, 0);
    keep(y, len);
    cnnrt_dropout_backward(ctx, len, mask, d, y);
    keep(y, len);
    cnnrt_prelu_forward(ctx, 10, 5, 100, x, d, y);
    keep(y, len);
    float *w = rnd(len), *g = rnd(len), *s = rnd(len), *r = rnd(len);
    for (int i = 0; i < len; i++)
        r[i] = r[i] * r[i];
    cnnrt_adam_update(ctx, len, w, g, s, r, 0.01f, 0.9f, 0.999f, 1e-8f, 0.01f, 3);
    cnnrt_sgd_update(ctx, len, w, d, s, 0.1f, 0.9f, 0.001f, 1, 2);
    cnnrt_rmsprop_update(ctx, len, w, x, r, 0.01f, 0.99f, 1e-8f, 0);
    cnnrt_adagrad_update(ctx, len, w, y, r, 0.01f, 1e-10f, 0);
    keep(w, len);
    keep(s, len);
    keep(r, len);
    free(x); free(y); free(d); free(a); free(mask); free(w); free(g); free(s); free(r);
}

static void norms_pools(cnnrt_ctx *ctx)
{
    int n = 6, c = 5, h = 9, w = 7, hw = h * w;
    long len = (long)n * c * hw;
    float *x = rnd(len), *y = rnd(len), *dy = rnd(len), *dx = rnd(len), *gam = rnd(c), *bet = rnd(c);
    float *rm = rnd(c), *rv = rnd(c), mean[5], invstd[5], dg[5] = { 0 }, dbt[5] = { 0 };
    for (int i = 0; i < c; i++)
        rv[i] = 1 + rv[i] * rv[i];
    cnnrt_batchnorm_forward(ctx, n, c, hw, x, gam, bet, rm, rv, 0.1f, 1e-5f, 1, y, mean, invstd,
                            CNNRT_ACT_LEAKY, 0.1f);
    keep(y, len);
    keep(rm, c);
    keep(rv, c);
    cnnrt_batchnorm_backward(ctx, n, c, hw, x, gam, mean, invstd, y, dy, CNNRT_ACT_LEAKY, 0.1f,
                             dx, dg, dbt);
    keep(dx, len);
    keep(dg, c);
    keep(dbt, c);
    cnnrt_softmax_forward(ctx, n, c, hw, x, y);
    keep(y, len);
    cnnrt_softmax_backward(ctx, n, c, hw, y, dy, dx);
    keep(dx, len);
    cnnrt_pool g = { c, h, w, 5, 4, 3, 3, 2, 2, 1, 1 };
    long plen = (long)n * c * g.oh * g.ow;
    float *py = rnd(plen), *idx = rnd(plen);
    cnnrt_maxpool_forward(ctx, &g, n, x, py, idx);
    keep(py, plen);
    keep(idx, plen);
    cnnrt_maxpool_backward(ctx, &g, n, NULL, idx, py, dx);
    keep(dx, len);
    cnnrt_maxpool_backward(ctx, &g, n, x, NULL, py, dx);
    keep(dx, len);
    cnnrt_avgpool_forward(ctx, &g, n, x, py);
    keep(py, plen);
    cnnrt_avgpool_backward(ctx, &g, n, py, dx);
    keep(dx, len);
    cnnrt_gap_forward(ctx, n, c, hw, x, py);
    keep(py, n * c);
    cnnrt_gap_backward(ctx, n, c, hw, py, dx);
    keep(dx, len);
    float *up = rnd(len * 4);
    cnnrt_upsample_forward(ctx, n, c, h, w, 2, x, up);
    keep(up, len * 4);
    cnnrt_upsample_backward(ctx, n, c, h, w, 2, up, dx);
    keep(dx, len);
    free(x); free(y); free(dy); free(dx); free(gam); free(bet); free(rm); free(rv);
    free(py); free(idx); free(up);
}

/* losses over more items than one chunk (LOSS_CHUNK, 4096) */
static void losses(cnnrt_ctx *ctx)
{
    int n = 3, c = 4, hw = 3000;
    long len = (long)n * c * hw;
    float *z = rnd(len), *t = rnd(len), *dz = rnd(len);
    for (long i = 0; i < len; i++)
        t[i] = t[i] * t[i];
    float l = cnnrt_xent_loss(ctx, n, c, hw, z, NULL, t, dz);
    keep(&l, 1);
    keep(dz, len);
    l = cnnrt_bce_loss(ctx, len, z, NULL, t, dz);
    keep(&l, 1);
    keep(dz, len);
    l = cnnrt_mse_loss(ctx, len, z, t, dz);
    keep(&l, 1);
    keep(dz, len);
    free(z); free(t); free(dz);
}

static void (*const groups[])(cnnrt_ctx *) = { gemms, convs, dense, elementwise, norms_pools, losses };
static const char *const group_names[] = { "gemm", "conv", "dense", "elementwise", "norm/pool", "loss" };

START_TEST(test_kernels_same_bits)
{
    float *ref = NULL;
    long nref = 0;
    static const int threads[] = { 1, 2, 3, 8 };
    for (int i = 0; i < 4; i++) {
        cnnrt_ctx ctx = { NULL, threads[i], NULL };
        seed = 42 + (uint64_t)_i;
        nouts = 0;
        groups[_i](&ctx);
        if (i == 0) {
            ref = malloc((size_t)nouts * sizeof *ref);
            ck_assert_ptr_nonnull(ref);
            memcpy(ref, outs, (size_t)nouts * sizeof *ref);
            nref = nouts;
            continue;
        }
        ck_assert_int_eq(nouts, nref);
        if (memcmp(outs, ref, (size_t)nref * sizeof *ref) == 0)
            continue;
        for (long k = 0; k < nref; k++)     /* say where (an assert per float is slow) */
            ck_assert_msg(memcmp(&outs[k], &ref[k], sizeof *ref) == 0,
                          "%s at %d threads: output %ld is %.9g, at 1 thread %.9g",
                          group_names[_i], threads[i], k, outs[k], ref[k]);
    }
    free(ref);
}
END_TEST

/* a loss of at most one chunk is the plain serial sum, as before threads */
START_TEST(test_loss_serial_sum)
{
    long count = 4096;
    seed = 7;
    float *p = rnd(count), *t = rnd(count);
    double s = 0;
    for (long i = 0; i < count; i++) {
        double d = (double)p[i] - t[i];
        s += d * d;
    }
    cnnrt_ctx ctx = { NULL, 3, NULL };
    ck_assert(cnnrt_mse_loss(&ctx, count, p, t, NULL) == (float)(s / count));
    free(p);
    free(t);
}
END_TEST

int main(void)
{
    setenv("CNNRT_SPLIT_MIN", "0", 1);
    Suite *s = suite_create("rt_threads");
    TCase *pool = tcase_create("pool"), *kernels = tcase_create("kernels");
    tcase_add_test(pool, test_split);
    tcase_add_test(pool, test_repeated);
    tcase_add_test(pool, test_nested);
    tcase_add_test(pool, test_own_pool);
    tcase_add_test(pool, test_fork);
    tcase_add_test(pool, test_scratch);
    tcase_add_test(pool, test_settings);
    tcase_set_timeout(kernels, 120);
    tcase_add_loop_test(kernels, test_kernels_same_bits, 0, (int)(sizeof groups / sizeof groups[0]));
    tcase_add_test(kernels, test_loss_serial_sum);
    suite_add_tcase(s, pool);
    suite_add_tcase(s, kernels);
    int rc = check_run(s, 1);
    free(outs);
    return rc;
}
