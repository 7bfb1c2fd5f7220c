/* test_rt_sched.c — runtime/core/sched.c against PyTorch's numbers
 * (tests/fixtures/sched.txt, made by make_sched.py; this test only reads
 * it): the learning rate of every iteration under StepLR and warm-up +
 * CosineAnnealingLR, clip_grad_norm_, and the YOLOX EMA as AveragedModel
 * computes it.  Plus what PyTorch does not define: the floor after the
 * last epoch.
 */
#include "cnnrt.h"

#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check_util.h"

#define VMAX 256
#define REL_TOL 2e-6

static FILE *fixture(void)
{
    char path[512];
    const char *dir = getenv("CNNRT_FIXTURES");
    const char *self = __FILE__, *unit = strstr(self, "unit/core/test_rt_sched.c");
    if (dir)
        snprintf(path, sizeof path, "%s/sched.txt", dir);
    else if (unit)
        snprintf(path, sizeof path, "%.*sfixtures/sched.txt", (int)(unit - self), self);
    else
        snprintf(path, sizeof path, "tests/fixtures/sched.txt");
    FILE *f = fopen(path, "r");
    ck_assert_msg(f != NULL, "cannot open %s", path);
    return f;
}

/* the numbers after the first word of line; returns how many */
static int values(const char *line, double *out)
{
    int n = 0;
    const char *p = strchr(line, ' ');
    while (p && n < VMAX) {
        char *end;
        double v = strtod(p, &end);
        if (end == p)
            break;
        out[n++] = v;
        p = end;
    }
    return n;
}

/* the next line starting with `key`, its values in out; the count */
static int expect(FILE *f, const char *key, double *out)
{
    char line[8192];
    ck_assert_msg(fgets(line, sizeof line, f) != NULL, "fixture ends before '%s'", key);
    ck_assert_msg(!strncmp(line, key, strlen(key)) && line[strlen(key)] == ' ',
                  "expected '%s', got %.40s", key, line);
    return values(line, out);
}

static void close_to(double got, double want, const char *what, int i)
{
    ck_assert_msg(fabs(got - want) <= REL_TOL * fabs(want) + 1e-9,
                  "%s %d: %.9g, PyTorch %.9g", what, i, got, want);
}

START_TEST(schedules)
{
    FILE *f = fixture();
    char line[8192];
    int cases = 0;
    double v[VMAX];
    while (fgets(line, sizeof line, f)) {
        char kind[16];
        cnnrt_sched s = { 0 };
        int spe, epochs;
        double lr, gamma, warmup, mr;
        if (sscanf(line, "sched %15s %lf %d %lf %lf %lf %d %d", kind, &lr, &s.every, &gamma,
                   &warmup, &mr, &spe, &epochs) != 8)
            continue;
        s.kind = !strcmp(kind, "step") ? CNNRT_SCHED_STEP : CNNRT_SCHED_COSINE;
        s.lr = (float)lr;
        s.gamma = (float)gamma;
        s.warmup = (float)warmup;
        s.min_ratio = (float)mr;
        int n = expect(f, "lr", v);
        ck_assert_int_eq(n, spe * epochs);
        for (int i = 0; i < n; i++)
            close_to(cnnrt_lr_at(&s, i + 1, spe, epochs), v[i], kind, i);
        if (s.kind == CNNRT_SCHED_COSINE)       /* past the end: the floor */
            close_to(cnnrt_lr_at(&s, 3L * n, spe, epochs), mr * lr, "after the end", 0);
        cases++;
    }
    fclose(f);
    ck_assert_int_eq(cases, 6);
}
END_TEST

START_TEST(constant)
{
    cnnrt_sched s = { CNNRT_SCHED_CONST, 0.25f, 0, 0, 0, 0 };
    ck_assert(cnnrt_lr_at(&s, 1, 10, 3) == 0.25f);
    ck_assert(cnnrt_lr_at(&s, 1000, 10, 3) == 0.25f);
}
END_TEST

START_TEST(clip)
{
    FILE *f = fixture();
    char line[8192];
    int cases = 0;
    double g[VMAX], out[VMAX], norm;
    while (fgets(line, sizeof line, f)) {
        double max_norm;
        int n;
        if (sscanf(line, "clip %lf %d", &max_norm, &n) != 2)
            continue;
        ck_assert_int_eq(expect(f, "g", g), n);
        ck_assert_int_eq(expect(f, "out", out), n);
        ck_assert_int_eq(expect(f, "norm", &norm), 1);
        float buf[VMAX + 3];
        for (int i = 0; i < n; i++)
            buf[i] = (float)g[i];
        buf[n] = buf[n + 1] = buf[n + 2] = 0;   /* padding, as in a model */
        close_to(cnnrt_clip_grad_norm(NULL, n + 3, buf, (float)max_norm), norm, "norm", cases);
        for (int i = 0; i < n; i++)
            close_to(buf[i], out[i], "clipped", i);
        ck_assert(buf[n] == 0);
        cases++;
    }
    fclose(f);
    ck_assert_int_eq(cases, 3);
}
END_TEST

START_TEST(ema)
{
    FILE *f = fixture();
    char line[8192];
    int cases = 0;
    double w0[VMAX], w[VMAX], avg[VMAX];
    while (fgets(line, sizeof line, f)) {
        double decay;
        int start, steps;
        if (sscanf(line, "ema %lf %d %d", &decay, &start, &steps) != 3)
            continue;
        int n = expect(f, "w0", w0);
        float e[VMAX], wf[VMAX];
        for (int i = 0; i < n; i++)
            e[i] = (float)w0[i];            /* the average starts as the weights */
        for (int k = 1; k <= steps; k++) {
            ck_assert_int_eq(expect(f, "w", w), n);
            ck_assert_int_eq(expect(f, "avg", avg), n);
            for (int i = 0; i < n; i++)
                wf[i] = (float)w[i];
            cnnrt_ema_update(NULL, n, e, wf, (float)decay, start + k);
            for (int i = 0; i < n; i++)
                close_to(e[i], avg[i], "ema", i);
        }
        cases++;
    }
    fclose(f);
    ck_assert_int_eq(cases, 3);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("sched");
    TCase *tc = tcase_create("sched");
    tcase_add_test(tc, schedules);
    tcase_add_test(tc, constant);
    tcase_add_test(tc, clip);
    tcase_add_test(tc, ema);
    suite_add_tcase(s, tc);
    return check_run(s, 1);
}
