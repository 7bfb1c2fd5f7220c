/* test_threads.c — training on threads, end to end: example networks
 * compiled by ./cnnc and driven by tests/harness/model_main.c take several
 * training steps at 1, 2, 3 and 8 threads (CNNRT_THREADS, with every
 * kernel split: CNNRT_SPLIT_MIN=0), and their losses, outputs, parameters
 * and then gradients (CNNC_TRACE_GRADS) are compared bit for bit (cmp of
 * the traces).  Models: LeNet-5 (at the full batch and at fewer samples
 * than threads), tiny_neck (batchnorm, residual add, concat, upsample,
 * bce, sgd; its 16 samples of 3x64x64 split too).  An
 * --embed-runtime build with -DCNNRT_NO_THREADS (no pthreads) gives the
 * threaded build's numbers and references no pthread function.
 * The kernels one by one are in tests/unit/core/test_rt_threads.c.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include "check_util.h"

static const char *B, *SAN;

typedef struct {
    const char *file, *name, *upper;
    const char *trace;      /* trace arguments: steps [samples] */
} Model;

static const Model models[] = {
    { "examples/lenet5.cnn", "lenet5", "LENET5", "3" },
    { "examples/lenet5.cnn", "lenet5", "LENET5", "2 3" },
    { "examples/tiny_neck.cnn", "tiny_neck", "TINY_NECK", "3" },
};
#define NMODELS ((int)(sizeof models / sizeof models[0]))

/* m built in DIR (C and the harness, against libcnnrt.a) */
static void build(const Model *m, const char *dir)
{
    ck_assert_int_eq(sh("mkdir -p %s && \"$CNNC\" %s -o %s/%s.c", dir, m->file, dir, m->name), 0);
    ck_assert_int_eq(sh("cc -std=c99 -O1 %s -Iruntime/include -I%s -DMODEL=%s -DMODEL_UC=%s "
                        "'-DMODEL_H=\"%s.h\"' -o %s/prog tests/harness/model_main.c %s/%s.c "
                        "%s/libcnnrt.a -lm -lpthread",
                        SAN, dir, m->name, m->upper, m->name, dir, dir, m->name, B), 0);
}

START_TEST(same_bits_any_thread_count)
{
    const Model *m = &models[_i];
    char dir[512];
    snprintf(dir, sizeof dir, "%s/gen/threads-%d-%s", B, _i, m->name);
    build(m, dir);
    static const int threads[] = { 1, 2, 3, 8 };
    for (int k = 0; k < 4; k++)
        ck_assert_int_eq(sh("CNNRT_SPLIT_MIN=0 CNNC_TRACE_GRADS=1 CNNRT_THREADS=%d %s/prog trace %s "
                            "> %s/t%d", threads[k], dir, m->trace, dir, threads[k]), 0);
    /* the trace holds gradients, and the default thresholds change nothing */
    ck_assert_int_eq(sh("grep -q '^d\\.' %s/t1", dir), 0);
    ck_assert_int_eq(sh("CNNC_TRACE_GRADS=1 CNNRT_THREADS=2 %s/prog trace %s > %s/d2", dir, m->trace, dir), 0);
    for (int k = 1; k < 4; k++)
        ck_assert_msg(sh("cmp %s/t1 %s/t%d", dir, dir, threads[k]) == 0,
                      "%s (trace %s): %d threads differ from 1", m->name, m->trace, threads[k]);
    ck_assert_msg(sh("cmp %s/t1 %s/d2", dir, dir) == 0, "%s: default thresholds differ", m->name);
}
END_TEST

START_TEST(no_threads_build)
{
    char dir[512];
    snprintf(dir, sizeof dir, "%s/gen/threads-none", B);
    ck_assert_int_eq(sh("mkdir -p %s && \"$CNNC\" --embed-runtime examples/tiny_neck.cnn -o %s/tn.c",
                        dir, dir), 0);
    for (int none = 0; none < 2; none++) {
        ck_assert_int_eq(sh("cc -std=c99 -O1 -Wall -Wextra -Werror %s %s -I%s -DMODEL=tiny_neck "
                            "-DMODEL_UC=TINY_NECK '-DMODEL_H=\"tn.h\"' -o %s/p%d "
                            "tests/harness/model_main.c %s/tn.c -lm %s",
                            SAN, none ? "-DCNNRT_NO_THREADS" : "", dir, dir, none, dir,
                            none ? "" : "-pthread"), 0);
        ck_assert_int_eq(sh("CNNRT_SPLIT_MIN=0 CNNC_TRACE_GRADS=1 CNNRT_THREADS=3 %s/p%d trace 2 "
                            "> %s/t%d", dir, none, dir, none), 0);
    }
    ck_assert_msg(sh("cmp %s/t0 %s/t1", dir, dir) == 0, "-DCNNRT_NO_THREADS gives other numbers");
    ck_assert_msg(sh("! nm %s/p1 | grep -q pthread_", dir) == 0, "-DCNNRT_NO_THREADS uses pthreads");
    ck_assert_int_eq(sh("nm %s/p0 | grep -q pthread_create", dir), 0);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("threads");
    TCase *tc = tcase_create("threads");
    tcase_set_timeout(tc, 600);
    tcase_add_loop_test(tc, same_bits_any_thread_count, 0, NMODELS);
    tcase_add_test(tc, no_threads_build);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    B = check_build();
    SAN = check_san();
    return check_run(suite(), 1);
}
