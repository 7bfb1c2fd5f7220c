/* test_stress.c — a valid model of 20,000 layers goes through the whole
 * compiler (parse, shapes, autodiff, every pass, planning, emission) at
 * -O0 and -O2.  It fails on a crash (deep recursion, stack overflow) or on
 * anything quadratic enough to hit the test's timeout; it is not a
 * benchmark.  Also: 5,000 nested parentheses and a 100,000-character
 * identifier are refused with exit status 1, not a crash.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include "check_util.h"

static const char *B;

static int run(const char *cmd) { return sh("%s", cmd); }

START_TEST(twenty_thousand_layers)
{
    char path[512], cmd[2048];
    snprintf(path, sizeof path, "%s/gen/deep.cnn", B);
    snprintf(cmd, sizeof cmd, "mkdir -p %s/gen", B);
    ck_assert_int_eq(run(cmd), 0);
    FILE *f = fopen(path, "w");
    ck_assert(f != NULL);
    fprintf(f, "model deep {\n    input x[4, 6, 6]\n");
    for (int i = 0; i < 9999; i++)
        fprintf(f, "    conv(4, kernel=3, pad=1) -> relu\n");
    fprintf(f, "    flatten -> softmax\n}\n"
               "train { loss = cross_entropy; optimizer = adam(lr=0.001); batch = 2 }\n");
    fclose(f);
    for (int opt = 0; opt <= 2; opt += 2) {
        snprintf(cmd, sizeof cmd, "\"$CNNC\" -O%d --verify-each %s -o %s/gen/deep.c", opt, path, B);
        ck_assert_msg(run(cmd) == 0, "%s", cmd);
    }
    snprintf(cmd, sizeof cmd, "\"$CNNC\" --inference --stats %s > %s/gen/deep.stats", path, B);
    ck_assert_int_eq(run(cmd), 0);
    snprintf(cmd, sizeof cmd, "grep -q '^total .* 1,479,852 ' %s/gen/deep.stats", B);  /* 9999 * (4*4*9 + 4) */
    ck_assert_msg(run(cmd) == 0, "parameter total in %s/gen/deep.stats", B);
}
END_TEST

static void write_big(const char *path, const char *head, const char *rep, int n, const char *tail)
{
    FILE *f = fopen(path, "w");
    ck_assert(f != NULL);
    fputs(head, f);
    for (int i = 0; i < n; i++)
        fputs(rep, f);
    fputs(tail, f);
    fclose(f);
}

START_TEST(pathological_inputs)
{
    char path[512], cmd[1024];
    snprintf(path, sizeof path, "%s/gen/parens.cnn", B);
    write_big(path, "model m { input x[4]\n dense", "(", 5000, " }\n");
    snprintf(cmd, sizeof cmd, "\"$CNNC\" --emit=none %s 2>/dev/null", path);
    ck_assert_int_eq(run(cmd), 1);
    snprintf(path, sizeof path, "%s/gen/longname.cnn", B);
    write_big(path, "model m { input x[4]\n ", "a", 100000, " }\n");
    snprintf(cmd, sizeof cmd, "\"$CNNC\" --emit=none %s 2>/dev/null", path);
    ck_assert_int_eq(run(cmd), 1);
    snprintf(path, sizeof path, "%s/gen/brackets.cnn", B);
    write_big(path, "model m { input x", "[", 5000, " }\n");
    snprintf(cmd, sizeof cmd, "\"$CNNC\" --emit=none %s 2>/dev/null", path);
    ck_assert_int_eq(run(cmd), 1);
}
END_TEST

int main(void)
{
    B = check_build();
    Suite *s = suite_create("stress");
    TCase *tc = tcase_create("stress");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, twenty_thousand_layers);
    tcase_add_test(tc, pathological_inputs);
    suite_add_tcase(s, tc);
    return check_run(s, 1);
}
