/* test_stats.c — golden `cnnc --stats` output for the examples, training
 * and inference: per-layer shapes, parameters and mult-adds, and the
 * activation arena (naive, planned, lower bound).  A change in any figure
 * fails here; CNNC_GOLDEN_UPDATE=1 rewrites tests/stats/ (review the diff).
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "check_util.h"

static const char *cases[][2] = {
    { "lenet5", "" }, { "lenet5", "--inference" },
    { "vggs", "" }, { "vggs", "--inference" },
    { "tiny_neck", "" }, { "tiny_neck", "--inference" },
};
#define NCASES ((int)(sizeof cases / sizeof cases[0]))

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return NULL;
    static char buf[2][1 << 16];
    static int k;
    char *b = buf[k++ % 2];
    size_t n = fread(b, 1, sizeof buf[0] - 1, f);
    b[n] = 0;
    fclose(f);
    return b;
}

START_TEST(stats_golden)
{
    const char *name = cases[_i][0], *flag = cases[_i][1];
    char want[256], got[256];
    const char *B = check_build();
    snprintf(want, sizeof want, "tests/stats/%s%s.txt", name, *flag ? "-inference" : "");
    snprintf(got, sizeof got, "%s/gen/stats-%s%s.txt", B, name, *flag ? "-inference" : "");
    ck_assert_int_eq(sh("mkdir -p %s/gen && \"$CNNC\" --stats %s examples/%s.cnn > %s", B, flag, name, got), 0);
    if (getenv("CNNC_GOLDEN_UPDATE"))
        ck_assert_int_eq(sh("cp %s %s", got, want), 0);
    char *w = slurp(want), *g = slurp(got);
    ck_assert_msg(w != NULL, "missing %s (CNNC_GOLDEN_UPDATE=1 writes it)", want);
    ck_assert(g != NULL);
    if (strcmp(w, g)) {
        int line = 1;
        while (*w && *w == *g) {
            line += *w == '\n';
            w++;
            g++;
        }
        ck_abort_msg("%s differs from %s at line %d", got, want, line);
    }
}
END_TEST

int main(void)
{
    Suite *s = suite_create("stats");
    TCase *tc = tcase_create("stats");
    tcase_add_loop_test(tc, stats_golden, 0, NCASES);
    suite_add_tcase(s, tc);
    return check_run(s, 1);
}
