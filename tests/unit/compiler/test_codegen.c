/* test_codegen.c — the generated C, end to end: every test model, example
 * and LANGUAGE.md program is compiled by ./cnnc, built with -Werror (and
 * the sanitizers under `make asan`) against the runtime, and run through
 * tests/harness/model_main.c:
 *   - finite-difference gradient checks of every parameter, at n = BATCH,
 *     n = 1 and 1 < n < BATCH, at -O0 and -O2;
 *   - -O0 and -O2 give the same losses, outputs and parameters;
 *   - backward accumulates, update zeroes; save/load round trips;
 *   - --inference and --main builds compile.
 * Run from the repository root (make check does).
 */
#include <check.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include "check_util.h"

static const char *B, *SAN;

typedef struct {
    const char *file;       /* .cnn */
    const char *name;       /* model name */
    int batch;
    int out_c;              /* softmax channels per pixel, 0: whole sample */
} Model;

static const Model models[] = {
    { "tests/models/convs.cnn", "convs", 4, 0 },
    { "tests/models/acts.cnn", "acts", 3, 0 },
    { "tests/models/pools.cnn", "pools", 5, 0 },
    { "tests/models/branches.cnn", "branches", 4, 0 },
    { "tests/models/pixels.cnn", "pixels", 2, 3 },
    { "tests/models/heads.cnn", "heads", 3, 0 },
    { "examples/lenet5.cnn", "lenet5", 64, 0 },
    { "examples/tiny_neck.cnn", "tiny_neck", 16, 0 },
    { "examples/vggs.cnn", "vggs", 64, 0 },
};
#define NMODELS ((int)(sizeof models / sizeof models[0]))

/* the model name as the generated macros spell it: lenet5 -> LENET5 */
static void upper_name(const char *name, char out[64])
{
    int i = 0;
    for (; name[i] && i < 63; i++)
        out[i] = (char)(name[i] >= 'a' && name[i] <= 'z' ? name[i] - 32 : name[i]);
    out[i] = 0;
}

/* Compile model m with cnnc FLAGS into DIR/prog; returns the program path. */
static const char *build(const Model *m, const char *flags, const char *tag, const char *batch)
{
    static char prog[8][600];
    static int next;
    char *p = prog[next++ % 8];
    char dir[512], upper[64];
    snprintf(dir, sizeof dir, "%s/gen/%s-%s", B, m->name, tag);
    upper_name(m->name, upper);
    snprintf(p, 600, "%s/prog", dir);
    char outc[64] = "";
    if (m->out_c)
        snprintf(outc, sizeof outc, "-DOUT_C=%d", m->out_c);
    if (sh("mkdir -p %s && \"$CNNC\" %s %s %s %s -o %s/%s.c", dir, flags, batch ? "--batch" : "",
           batch ? batch : "", m->file, dir, m->name) ||
        sh("cc -std=c99 -O1 -g -Wall -Wextra -Werror %s -Iruntime/include -I%s -DMODEL=%s -DMODEL_UC=%s "
           "'-DMODEL_H=\"%s.h\"' %s -o %s tests/harness/model_main.c %s/%s.c %s/libcnnrt.a -lm",
           SAN, dir, m->name, upper, m->name, outc, p, dir, m->name, B))
        return NULL;
    return p;
}

START_TEST(gradcheck)
{
    const Model *m = &models[_i / 2];
    const char *opt = _i % 2 ? "-O2" : "-O0";
    /* big examples are checked at a small batch: the same code, less time */
    int batch = m->batch > 8 ? 3 : m->batch;
    const char *prog = build(m, opt, opt + 1, m->batch > 8 ? "3" : NULL);
    ck_assert_msg(prog != NULL, "%s %s did not build", m->file, opt);
    int ns[3] = { batch, 1, batch > 2 ? batch - 1 : 2 };
    /* Under the sanitizers the three examples are not gradient-checked:
     * every op they use is in the small test models, checked here too, and
     * a check of tiny_neck alone takes over 7 minutes under ASan.  (They
     * still run forward, backward and update below, sanitized.) */
    if (*SAN && m->batch > 8)
        return;
    int nn = 3;
    for (int k = 0; k < nn; k++)
        ck_assert_msg(sh("%s grad %d", prog, ns[k]) == 0, "%s %s: gradient check failed at n=%d",
                      m->file, opt, ns[k]);
}
END_TEST

/* read "key value" lines */
static int read_trace(const char *path, char ***keys, double **vals)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    int n = 0, cap = 1024;
    *keys = malloc(sizeof(char *) * cap);
    *vals = malloc(sizeof(double) * cap);
    char k[256];
    double v;
    while (fscanf(f, "%255s %lf", k, &v) == 2) {
        if (n == cap) {
            cap *= 2;
            *keys = realloc(*keys, sizeof(char *) * cap);
            *vals = realloc(*vals, sizeof(double) * cap);
        }
        (*keys)[n] = strdup(k);
        (*vals)[n++] = v;
    }
    fclose(f);
    return n;
}

START_TEST(o0_equals_o2)
{
    const Model *m = &models[_i];
    const char *small = m->batch > 8 ? "8" : NULL;
    const char *p0 = build(m, "-O0", "t0", small);
    const char *p2 = build(m, "-O2", "t2", small);
    ck_assert(p0 && p2);
    char f0[600], f2[600];
    snprintf(f0, sizeof f0, "%s.trace", p0);
    snprintf(f2, sizeof f2, "%s.trace", p2);
    ck_assert(sh("%s trace 3 > %s", p0, f0) == 0);
    ck_assert(sh("%s trace 3 > %s", p2, f2) == 0);
    char **k0, **k2;
    double *v0, *v2;
    int n0 = read_trace(f0, &k0, &v0), n2 = read_trace(f2, &k2, &v2);
    ck_assert_int_gt(n0, 0);
    ck_assert_int_eq(n0, n2);
    for (int i = 0; i < n0; i++) {
        ck_assert_str_eq(k0[i], k2[i]);
        double tol = 2e-5 + 2e-4 * fabs(v0[i]);
        ck_assert_msg(fabs(v0[i] - v2[i]) <= tol, "%s: %s -O0 %.9g vs -O2 %.9g (line %d)",
                      m->name, k0[i], v0[i], v2[i], i + 1);
    }
    for (int i = 0; i < n0; i++) {
        free(k0[i]);
        free(k2[i]);
    }
    free(k0);
    free(k2);
    free(v0);
    free(v2);
}
END_TEST

START_TEST(accumulate_and_io)
{
    const Model *m = &models[_i];
    const char *p = build(m, "-O2", "acc", m->batch > 8 ? "4" : NULL);
    ck_assert(p != NULL);
    ck_assert_msg(sh("%s accum", p) == 0, "%s: gradients do not accumulate", m->name);
    ck_assert_msg(sh("%s io %s.cnnw", p, p) == 0, "%s: save/load", m->name);
    /* in caller memory (_new_in) it computes exactly what _new's copy does */
    ck_assert_msg(sh("%s trace 2 > %s.heap && CNNC_STATIC=1 %s trace 2 > %s.static && cmp %s.heap %s.static",
                     p, p, p, p, p, p) == 0, "%s: _new_in differs from _new", m->name);
}
END_TEST

/* --inference and --main variants, and a --batch override, build clean */
/* prior= starts a bias at -ln((1-p)/p) after the usual draw (so the
 * generator moves on as without it), and the header says TARGET_SIZE */
START_TEST(detect_head)
{
    const Model *m = &models[5];
    ck_assert_str_eq(m->name, "heads");
    ck_assert_ptr_nonnull(build(m, "-O2", "head", NULL));
    char dir[512];
    snprintf(dir, sizeof dir, "%s/gen/heads-head", B);
    ck_assert_int_eq(sh("grep -q 'cnnrt_init_bias(&r, 0, p->o3_bias, 1, 8);' %s/heads.c", dir), 0);
    ck_assert_int_eq(sh("grep -q 'cnnrt_fill(p->o3_bias, 1, -4.59512f);' %s/heads.c", dir), 0);
    ck_assert_int_eq(sh("grep -q 'cnnrt_fill(p->q3_bias, 2, -4.59512f);' %s/heads.c", dir), 0);
    ck_assert_int_eq(sh("! grep -q 'cnnrt_fill(p->b3_bias' %s/heads.c", dir), 0);
    ck_assert_int_eq(sh("grep -q 'define HEADS_TARGET_SIZE 448 ' %s/heads.h", dir), 0);
    ck_assert_int_eq(sh("grep -q 'define HEADS_OUT1_SIZE  112' %s/heads.h", dir), 0);
}
END_TEST

START_TEST(variants_build)
{
    const Model *m = &models[_i];
    char dir[512];
    snprintf(dir, sizeof dir, "%s/gen/%s-var", B, m->name);
    ck_assert(sh("mkdir -p %s", dir) == 0);
    ck_assert(sh("\"$CNNC\" --inference %s -o %s/inf.c && cc -std=c99 -Wall -Wextra -Werror %s -Iruntime/include -c -o %s/inf.o %s/inf.c",
                 m->file, dir, SAN, dir, dir) == 0);
    ck_assert(sh("\"$CNNC\" --main --batch 3 %s -o %s/main.c && cc -std=c99 -Wall -Wextra -Werror %s -Iruntime/include -o %s/main %s/main.c %s/libcnnrt.a -lm -lpthread",
                 m->file, dir, SAN, dir, dir, B) == 0);
    ck_assert(sh("grep -q '_BATCH      3 ' %s/main.h", dir) == 0);
    ck_assert(sh("! grep -q '_backward' %s/inf.h", dir) == 0);
}
END_TEST

/* Started from PyTorch's initial weights, the generated LeNet-5 follows
 * PyTorch's losses step by step (tests/fixtures/make_lenet_ref.py). */
START_TEST(matches_pytorch)
{
    const char *opt = _i ? "-O2" : "-O0";
    char dir[512];
    snprintf(dir, sizeof dir, "%s/gen/lenet5-ref%s", B, opt);
    ck_assert(sh("mkdir -p %s && \"$CNNC\" %s examples/lenet5.cnn -o %s/lenet5.c", dir, opt, dir) == 0);
    ck_assert(sh("cc -std=c99 -O1 -Wall -Wextra -Werror %s -Iruntime/include -I%s -o %s/ref tests/harness/pytorch_ref.c "
                 "%s/lenet5.c %s/libcnnrt.a -lm -lpthread", SAN, dir, dir, dir, B) == 0);
    int rc = sh("%s/ref tests/fixtures/lenet5_init.cnnw tests/fixtures/lenet5_losses.txt "
                "/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz > %s/ref.log", dir, dir);
    if (rc == 77)
        return;         /* dataset-fashion-mnist not installed: nothing to compare */
    ck_assert_msg(rc == 0, "%s: losses differ from PyTorch's, see %s/ref.log", opt, dir);
}
END_TEST

/* --embed-runtime: the model alone, with libm, trains and round-trips */
START_TEST(embedded_runtime)
{
    const Model *m = &models[_i];
    char dir[512], upper[64];
    snprintf(dir, sizeof dir, "%s/gen/%s-embed", B, m->name);
    upper_name(m->name, upper);
    ck_assert(sh("mkdir -p %s && \"$CNNC\" --embed-runtime --batch 4 %s -o %s/%s.c", dir, m->file, dir, m->name) == 0);
    ck_assert_msg(sh("cc -std=c99 -O1 -Wall -Wextra -Werror %s -I%s -DMODEL=%s -DMODEL_UC=%s '-DMODEL_H=\"%s.h\"' %s "
                     "-o %s/prog tests/harness/model_main.c %s/%s.c -lm",
                     SAN, dir, m->name, upper, m->name, m->out_c ? "-DOUT_C=3" : "", dir, dir, m->name) == 0,
                  "%s: the embedded build does not compile on its own", m->name);
    ck_assert(sh("%s/prog grad > /dev/null", dir) == 0);
    ck_assert(sh("%s/prog io %s/w.cnnw > /dev/null", dir, dir) == 0);
    ck_assert_msg(sh("! grep -q 'cnnrt.h' %s/%s.h", dir, m->name) == 0, "the header needs cnnrt.h");
}
END_TEST

/* Every program in LANGUAGE.md compiles, builds with -Werror and trains. */
START_TEST(spec_programs)
{
    const char *spec = "../shared/spec/LANGUAGE.md";
    FILE *f = fopen(spec, "r");
    if (!f) {
        fprintf(stderr, "%s not found: skipping\n", spec);
        return;
    }
    char line[1024], path[512];
    int inblock = 0, nprog = 0, has_model = 0;
    FILE *out = NULL;
    while (fgets(line, sizeof line, f)) {
        if (strncmp(line, "```", 3) == 0) {
            if (!inblock) {
                snprintf(path, sizeof path, "%s/gen/spec%d.cnn", B, nprog);
                sh("mkdir -p %s/gen", B);
                out = fopen(path, "w");
                ck_assert(out != NULL);
                has_model = 0;
            } else {
                fclose(out);
                if (has_model) {
                    char name[64];
                    snprintf(name, sizeof name, "spec%d", nprog);
                    Model m = { path, NULL, 0, 0 };
                    /* the model name is the word after "model" */
                    FILE *g = fopen(path, "r");
                    char w[256], prev[256] = "";
                    static char mname[8][256];
                    while (fscanf(g, "%255s", w) == 1) {
                        if (strcmp(prev, "model") == 0) {
                            snprintf(mname[nprog % 8], 256, "%s", w);
                            break;
                        }
                        snprintf(prev, sizeof prev, "%s", w);
                    }
                    fclose(g);
                    m.name = mname[nprog % 8];
                    const char *p = build(&m, "", name, NULL);
                    ck_assert_msg(p != NULL, "LANGUAGE.md program %d does not build", nprog);
                    ck_assert(sh("%s trace 2 > /dev/null", p) == 0);
                    nprog++;
                }
            }
            inblock = !inblock;
            continue;
        }
        if (inblock) {
            fputs(line, out);
            if (strncmp(line, "model ", 6) == 0)
                has_model = 1;
        }
    }
    fclose(f);
    ck_assert_int_ge(nprog, 2);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("codegen");
    TCase *tc = tcase_create("generated");
    tcase_set_timeout(tc, 600);
    tcase_add_loop_test(tc, gradcheck, 0, 2 * NMODELS);
    tcase_add_loop_test(tc, o0_equals_o2, 0, NMODELS);
    tcase_add_loop_test(tc, accumulate_and_io, 0, NMODELS);
    tcase_add_test(tc, detect_head);
    tcase_add_loop_test(tc, variants_build, 0, NMODELS);
    tcase_add_loop_test(tc, embedded_runtime, 3, 5);   /* branches, pixels */
    tcase_add_loop_test(tc, matches_pytorch, 0, 2);
    tcase_add_test(tc, spec_programs);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    B = check_build();
    SAN = check_san();
    setenv("CHECK_VERBOSE", "1", 0);
    return check_run(suite(), 1);
}
