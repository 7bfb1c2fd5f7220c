/* test_train_ext.c — the generated _update with a schedule, gradient
 * clipping and EMA (docs/LANGUAGE-EXT.md sections 8-10): a tiny model is
 * compiled, tests/harness/ext_main.c sets the gradients by hand and prints
 * the weights and their EMA around each update, and the test recomputes
 * them from the runtime's formulas (whose PyTorch agreement is
 * test_rt_sched's); built through LLVM (--emit=obj) it prints the same
 * bytes.  Also: the front end's checks of the new settings.
 */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cnnrt.h"
#include "frontend/frontend.h"
#include "check_util.h"

extern const int cnnc_has_llvm;     /* codegen/llvm: 0 when built without */

static const char *ext_cnn =
    "model ext {\n    input x[4]\n    dense(3)\n}\n"
    "train {\n    loss = mse\n    optimizer = sgd(lr=0.5)\n"
    "    schedule = step(every=1, gamma=0.5)\n    clip = 2\n    ema = 0.99\n}\n";

START_TEST(generated_update)
{
    const char *B = check_build();
    char dir[512];
    snprintf(dir, sizeof dir, "%s/gen/ext", B);
    ck_assert_int_eq(sh("rm -rf %s && mkdir -p %s", dir, dir), 0);
    char path[600];
    snprintf(path, sizeof path, "%s/ext.cnn", dir);
    check_write(path, ext_cnn);
    ck_assert_int_eq(sh("\"$CNNC\" %s -o %s/ext.c", path, dir), 0);
    ck_assert_int_eq(sh("cc -std=c99 -O1 -Wall -Wextra -Werror %s -Iruntime/include -I%s -o %s/prog "
                        "tests/harness/ext_main.c %s/ext.c %s/libcnnrt.a -lm > %s/out.txt 2>&1",
                        check_san(), dir, dir, dir, B, dir), 0);
    ck_assert_int_eq(sh("%s/prog > %s/out.txt", dir, dir), 0);
    snprintf(path, sizeof path, "%s/out.txt", dir);
    FILE *f = fopen(path, "r");
    ck_assert_ptr_nonnull(f);
    long learned;
    ck_assert_int_eq(fscanf(f, "learned %ld", &learned), 1);
    ck_assert_int_eq(learned, 15);              /* dense(3) on 4: 12 + 3 */
    cnnrt_sched s = { CNNRT_SCHED_STEP, 0.5f, 1, 0.5f, 0, 0 };
    float g = 3, ema = NAN;
    float norm = g * sqrtf((float)learned);
    float clipped = g * (float)(2.0 / (norm + 1e-6));
    int k, steps = 0;
    float before, after, e;
    while (fscanf(f, "%d %g %g %g", &k, &before, &after, &e) == 4) {
        float lr = cnnrt_lr_at(&s, k, 2, 4);    /* 0.5, 0.5, 0.25, 0.25, ... */
        ck_assert_msg(fabsf((before - after) - lr * clipped) < 1e-5f,
                      "update %d moved the weight by %g, expected lr %g * clipped grad %g",
                      k, (double)(before - after), (double)lr, (double)clipped);
        if (k == 1)
            ema = before;                       /* the EMA starts as the weights */
        double d = 0.99 * (1 - exp(-k / 2000.0));
        ema = (float)d * ema + (float)(1 - d) * after;
        ck_assert_msg(fabsf(e - ema) < 1e-6f, "update %d: ema %g, expected %g",
                      k, (double)e, (double)ema);
        steps++;
    }
    fclose(f);
    ck_assert_int_eq(steps, 9);
    ck_assert(cnnrt_lr_at(&s, 9, 2, 4) == 0.5f / 16);   /* epoch 5: four halvings */
    /* the LLVM object: the same _update, the same numbers */
    if (cnnc_has_llvm)
        ck_assert_msg(sh("\"$CNNC\" --emit=obj %s/ext.cnn -o %s/ext.o && cc %s -Iruntime/include -I%s -o %s/oprog tests/harness/ext_main.c "
                         "%s/ext.o %s/libcnnrt.a -lm && %s/oprog > %s/oout.txt && cmp %s/out.txt %s/oout.txt",
                         dir, dir, check_san(), dir, dir, dir, B, dir, dir, dir, dir) == 0,
                      "the object's _update differs from the C's");
}
END_TEST

/* the new settings' values and errors */
START_TEST(settings)
{
    static char err[4096];
    const char *model = "model m {\n    input x[4]\n    dense(2)\n}\n";
    char src[1024];
    snprintf(src, sizeof src, "%strain {\n    loss = mse\n"
             "    schedule = cosine(warmup_epochs=2.5, min_ratio=0.05)\n"
             "    ema = 0.9998\n    clip = 10\n    augment_until = 285\n}\n", model);
    Graph *g = check_compile(src, err, sizeof err);
    ck_assert_msg(g != NULL, "%s", err);
    ck_assert_int_eq(g->train.sched, SCHED_COSINE);
    ck_assert(g->train.sched_warmup == 2.5f && g->train.sched_min_ratio == 0.05f);
    ck_assert(g->train.ema == 0.9998f && g->train.clip == 10.0f);
    ck_assert_int_eq(g->train.augment_until, 285);
    ir_free(g);

    snprintf(src, sizeof src, "%strain {\n    loss = mse\n    schedule = step(every=3)\n}\n", model);
    g = check_compile(src, err, sizeof err);
    ck_assert_msg(g != NULL, "%s", err);
    ck_assert(g->train.sched == SCHED_STEP && g->train.sched_every == 3);
    ck_assert(g->train.sched_gamma == 0.1f);    /* StepLR's default */
    ir_free(g);

    snprintf(src, sizeof src, "%strain {\n    loss = mse\n    schedule = cosin\n"
             "    ema = 1\n    clip = 0\n    augment_until = 0\n    schedule2 = step\n}\n", model);
    g = check_compile(src, err, sizeof err);
    ck_assert_ptr_null(g);
    ck_assert_msg(strstr(err, "unknown schedule 'cosin'") && strstr(err, "did you mean 'cosine'?"), "%s", err);
    ck_assert_msg(strstr(err, "'ema' must be"), "%s", err);
    ck_assert_msg(strstr(err, "'clip' must be"), "%s", err);
    ck_assert_msg(strstr(err, "'augment_until' must be"), "%s", err);
    ck_assert_msg(strstr(err, "did you mean 'schedule'?"), "%s", err);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("train_ext");
    TCase *tc = tcase_create("train_ext");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, generated_update);
    tcase_add_test(tc, settings);
    suite_add_tcase(s, tc);
    return check_run(s, 1);
}
