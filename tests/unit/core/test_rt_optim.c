/* test_rt_optim.c — the runtime's numeric services: the optimizer steps
 * against PyTorch's numbers (tests/fixtures/optim.txt, made by
 * make_optim.py; this test only reads it), the RNG against the published
 * splitmix64/xoshiro256** values and its distributions against their
 * moments, and the default initialisation bounds.
 */
#include "cnnrt.h"

#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "check_util.h"

/* the kernel context of the calls below (they need no scratch) */
static cnnrt_ctx kctx = { NULL, 1, NULL };

#define NMAX 16             /* parameters per configuration, at most */
#define REL_TOL 1e-5
#define ABS_TOL 1e-7        /* for values that pass through zero */

/* tests/fixtures/optim.txt, found from this file's own path so that the
 * test runs from the repository root (where make runs it) or with
 * CNNRT_FIXTURES pointing at the fixtures directory. */
static void fixture_path(char *buf, size_t len, const char *name)
{
    const char *dir = getenv("CNNRT_FIXTURES");
    if (dir) {
        snprintf(buf, len, "%s/%s", dir, name);
        return;
    }
    const char *self = __FILE__;
    const char *unit = strstr(self, "unit/test_rt_optim.c");
    if (unit)
        snprintf(buf, len, "%.*sfixtures/%s", (int)(unit - self), self, name);
    else
        snprintf(buf, len, "tests/fixtures/%s", name);
}

/* ---- the fixture: a list of configurations, each a list of steps ---- */
typedef struct {
    char name[64], kind[16];
    double lr, wd, momentum, eps, rho, b1, b2;
    int nesterov, nstate, n;
    float w0[NMAX];
} Config;

/* "key=value" from the config line; missing keys keep their value */
static void config_value(Config *c, const char *kv)
{
    char key[32];
    double v;
    if (sscanf(kv, "%31[^=]=%lf", key, &v) != 2) {
        if (strncmp(kv, "state=", 6) == 0)
            c->nstate = strcmp(kv + 6, "-") == 0 ? 0 : 1 + (strchr(kv, ',') != NULL);
        return;
    }
    double *slot = !strcmp(key, "lr") ? &c->lr : !strcmp(key, "wd") ? &c->wd
        : !strcmp(key, "momentum") ? &c->momentum : !strcmp(key, "eps") ? &c->eps
        : !strcmp(key, "rho") ? &c->rho : !strcmp(key, "b1") ? &c->b1
        : !strcmp(key, "b2") ? &c->b2 : NULL;
    if (slot)
        *slot = v;
    else if (!strcmp(key, "nesterov"))
        c->nesterov = (int)v;
}

/* values after the key of a line; returns how many */
static int parse_values(const char *line, float *out)
{
    int n = 0;
    const char *p = strchr(line, ' ');
    while (p && n < NMAX) {
        char *end;
        double v = strtod(p, &end);
        if (end == p)
            break;
        out[n++] = (float)v;
        p = end;
    }
    return n;
}

static FILE *open_fixture(void)
{
    char path[1024];
    fixture_path(path, sizeof path, "optim.txt");
    FILE *f = fopen(path, "r");
    ck_assert_msg(f != NULL, "cannot open %s", path);
    return f;
}

/* positions f just after the config line of configuration `which` */
static int seek_config(FILE *f, int which, Config *c)
{
    char line[4096];
    int k = -1;
    while (fgets(line, sizeof line, f)) {
        if (strncmp(line, "config ", 7) != 0 || ++k != which)
            continue;
        memset(c, 0, sizeof *c);
        line[strcspn(line, "\n")] = 0;
        char *save = NULL;
        strtok_r(line, " ", &save);
        snprintf(c->name, sizeof c->name, "%s", strtok_r(NULL, " ", &save));
        snprintf(c->kind, sizeof c->kind, "%s", strtok_r(NULL, " ", &save));
        for (char *kv; (kv = strtok_r(NULL, " ", &save));)
            config_value(c, kv);
        return 1;
    }
    return 0;
}

static void expect_close(const Config *c, int step, const char *what,
                         const float *got, const float *want, int n)
{
    for (int i = 0; i < n; i++) {
        double tol = REL_TOL * fabs(want[i]) + ABS_TOL;
        ck_assert_msg(fabs((double)got[i] - want[i]) <= tol,
                      "%s step %d: %s[%d] = %.9g, PyTorch has %.9g",
                      c->name, step, what, i, got[i], want[i]);
    }
}

static void apply(const Config *c, float *w, float *g, float *s1, float *s2, long t)
{
    if (!strcmp(c->kind, "sgd"))
        cnnrt_sgd_update(&kctx, c->n, w, g, s1, (float)c->lr, (float)c->momentum,
                         (float)c->wd, c->nesterov, t);
    else if (!strcmp(c->kind, "adagrad"))
        cnnrt_adagrad_update(&kctx, c->n, w, g, s1, (float)c->lr, (float)c->eps, (float)c->wd);
    else if (!strcmp(c->kind, "rmsprop"))
        cnnrt_rmsprop_update(&kctx, c->n, w, g, s1, (float)c->lr, (float)c->rho,
                             (float)c->eps, (float)c->wd);
    else if (!strcmp(c->kind, "adam"))
        cnnrt_adam_update(&kctx, c->n, w, g, s1, s2, (float)c->lr, (float)c->b1,
                          (float)c->b2, (float)c->eps, (float)c->wd, t);
    else
        ck_abort_msg("%s: unknown optimizer '%s' in the fixture", c->name, c->kind);
}

/* Configuration `_i` of the fixture, step by step: the gradient goes in,
 * parameters and state must come out as PyTorch's, the gradient zeroed. */
START_TEST(optim_matches_pytorch)
{
    FILE *f = open_fixture();
    Config c;
    ck_assert_msg(seek_config(f, _i, &c), "the fixture has no configuration %d", _i);
    float w[NMAX], g[NMAX], s1[NMAX] = {0}, s2[NMAX] = {0}, want[NMAX];
    char line[4096];
    long t = 0;
    int steps = 0;
    while (fgets(line, sizeof line, f) && strncmp(line, "end", 3) != 0) {
        if (!strncmp(line, "w0 ", 3)) {
            c.n = parse_values(line, w);
        } else if (!strncmp(line, "step ", 5)) {
            t = atol(line + 5);
        } else if (!strncmp(line, "g ", 2)) {
            ck_assert_int_eq(parse_values(line, g), c.n);
            apply(&c, w, g, s1, s2, t);
            steps++;
            for (int i = 0; i < c.n; i++)
                ck_assert_msg(g[i] == 0, "%s: g[%d] not zeroed", c.name, i);
        } else {
            int n = parse_values(line, want);
            ck_assert_int_eq(n, c.n);
            const float *got = !strncmp(line, "w ", 2) ? w
                : !strncmp(line, "s1 ", 3) ? s1 : !strncmp(line, "s2 ", 3) ? s2 : NULL;
            ck_assert_msg(got != NULL, "unexpected fixture line: %s", line);
            line[strcspn(line, " ")] = 0;
            expect_close(&c, (int)t, line, got, want, n);
        }
    }
    fclose(f);
    ck_assert_int_ge(c.n, 1);
    ck_assert_int_eq(steps, 5);
}
END_TEST

#define NCONFIGS 9

START_TEST(fixture_has_every_config)
{
    static const char *const names[NCONFIGS] = {
        "sgd_plain", "sgd_momentum", "sgd_nesterov_wd", "adagrad", "adagrad_wd",
        "rmsprop", "rmsprop_wd", "adam", "adam_wd"
    };
    for (int i = 0; i < NCONFIGS; i++) {
        FILE *f = open_fixture();
        Config c;
        ck_assert_msg(seek_config(f, i, &c), "configuration %d missing", i);
        ck_assert_str_eq(c.name, names[i]);
        fclose(f);
    }
}
END_TEST

/* A zero momentum buffer and step 1 give v = g, however v was left. */
START_TEST(sgd_first_momentum_step_sets_v)
{
    float w[2] = {1, 2}, g[2] = {0.5f, -0.25f}, v[2] = {7, 7};
    cnnrt_sgd_update(&kctx, 2, w, g, v, 0.1f, 0.9f, 0, 0, 1);
    ck_assert_float_eq(v[0], 0.5f);
    ck_assert_float_eq(v[1], -0.25f);
    ck_assert_float_eq(w[0], 1 - 0.1f * 0.5f);
}
END_TEST

/* ---- RNG ---- */
START_TEST(rng_reference_values)
{
    cnnrt_rng r;
    cnnrt_rng_seed(&r, 0);       /* splitmix64 from 0 */
    ck_assert_uint_eq(r.s[0], 0xe220a8397b1dcdafull);
    ck_assert_uint_eq(r.s[1], 0x6e789e6aa1b965f4ull);
    ck_assert_uint_eq(r.s[2], 0x06c45d188009454full);
    ck_assert_uint_eq(r.s[3], 0xf88bb8a8724c81ecull);
    cnnrt_rng x = {{1, 2, 3, 4}};  /* xoshiro256** reference outputs */
    ck_assert_uint_eq(cnnrt_rng_next(&x), 11520u);
    ck_assert_uint_eq(cnnrt_rng_next(&x), 0u);
    ck_assert_uint_eq(cnnrt_rng_next(&x), 1509978240u);
    ck_assert_uint_eq(cnnrt_rng_next(&x), 1215971899390074240ull);
}
END_TEST

/* sample mean and variance of n draws of `draw` */
static void moments(double (*draw)(cnnrt_rng *, double), double arg, int n,
                    double *mean, double *var, double *lo, double *hi)
{
    cnnrt_rng r;
    cnnrt_rng_seed(&r, 42);
    double s = 0, s2 = 0;
    *lo = INFINITY, *hi = -INFINITY;
    for (int i = 0; i < n; i++) {
        double x = draw(&r, arg);
        s += x, s2 += x * x;
        *lo = fmin(*lo, x), *hi = fmax(*hi, x);
    }
    *mean = s / n;
    *var = s2 / n - *mean * *mean;
}

static double draw_uniform(cnnrt_rng *r, double a) { (void)a; return cnnrt_rng_uniform(r); }
static double draw_normal(cnnrt_rng *r, double a) { (void)a; return cnnrt_rng_normal(r); }
static double draw_gamma(cnnrt_rng *r, double a) { return cnnrt_rng_gamma(r, a); }
static double draw_beta(cnnrt_rng *r, double a) { return cnnrt_rng_beta(r, a, a); }

#define NDRAW 200000

START_TEST(rng_distributions)
{
    double m, v, lo, hi;
    moments(draw_uniform, 0, NDRAW, &m, &v, &lo, &hi);
    ck_assert_msg(fabs(m - 0.5) < 0.005 && fabs(v - 1.0 / 12) < 0.002, "uniform %g %g", m, v);
    ck_assert(lo >= 0 && hi < 1);
    moments(draw_normal, 0, NDRAW, &m, &v, &lo, &hi);
    ck_assert_msg(fabs(m) < 0.01 && fabs(v - 1) < 0.02, "normal %g %g", m, v);
    ck_assert(isfinite(lo) && isfinite(hi));
    /* Gamma(k): mean k, variance k; below 1 through the boost */
    static const double shapes[] = {0.2, 0.7, 1.0, 2.5, 9.0};
    for (int i = 0; i < 5; i++) {
        double k = shapes[i];
        moments(draw_gamma, k, NDRAW, &m, &v, &lo, &hi);
        ck_assert_msg(fabs(m - k) < 0.02 * k + 0.01 && fabs(v - k) < 0.06 * k + 0.01,
                      "gamma(%g): mean %g var %g", k, m, v);
        ck_assert(lo >= 0);
    }
    /* Beta(a, a): mean 1/2, variance 1/(4(2a+1)) */
    static const double alphas[] = {0.2, 1.0, 4.0};
    for (int i = 0; i < 3; i++) {
        double a = alphas[i];
        moments(draw_beta, a, NDRAW, &m, &v, &lo, &hi);
        double want = 1 / (4 * (2 * a + 1));
        ck_assert_msg(fabs(m - 0.5) < 0.01 && fabs(v - want) < 0.05 * want,
                      "beta(%g): mean %g var %g, want var %g", a, m, v, want);
        ck_assert(lo >= 0 && hi <= 1);
    }
}
END_TEST

START_TEST(shuffle_is_a_seeded_permutation)
{
    enum { N = 1000 };
    int a[N], b[N], seen[N] = {0};
    for (int i = 0; i < N; i++)
        a[i] = b[i] = i;
    cnnrt_rng r1, r2;
    cnnrt_rng_seed(&r1, 7);
    cnnrt_rng_seed(&r2, 7);
    cnnrt_shuffle(&r1, a, N);
    cnnrt_shuffle(&r2, b, N);
    int fixed = 0;
    for (int i = 0; i < N; i++) {
        ck_assert_int_eq(a[i], b[i]);
        seen[a[i]]++;
        fixed += a[i] == i;
    }
    for (int i = 0; i < N; i++)
        ck_assert_int_eq(seen[i], 1);
    ck_assert_int_lt(fixed, 10);   /* about 1 expected */
    /* every position of 3 items equally likely: 6 orders over 60000 runs */
    int count[3][3] = {{0}};
    for (int k = 0; k < 60000; k++) {
        int p[3] = {0, 1, 2};
        cnnrt_shuffle(&r1, p, 3);
        for (int i = 0; i < 3; i++)
            count[i][p[i]]++;
    }
    for (int i = 0; i < 3; i++)
        for (int j = 0; j < 3; j++)
            ck_assert_msg(abs(count[i][j] - 20000) < 600, "position %d holds %d %d times",
                          i, j, count[i][j]);
}
END_TEST

/* ---- initialisation ---- */
static void check_bound(const float *p, long n, double bound)
{
    double lo = INFINITY, hi = -INFINITY;
    for (long i = 0; i < n; i++)
        lo = fmin(lo, p[i]), hi = fmax(hi, p[i]);
    ck_assert_msg(lo >= -bound && hi <= bound, "[%g, %g] outside +-%g", lo, hi, bound);
    ck_assert_msg(lo < -0.98 * bound && hi > 0.98 * bound, "[%g, %g] not spread to +-%g",
                  lo, hi, bound);
}

START_TEST(init_bounds)
{
    enum { N = 6 * 5 * 5 * 20 };
    static float w[N];
    cnnrt_rng r;
    cnnrt_rng_seed(&r, 1);
    cnnrt_init_weight(&r, CNNRT_INIT_DEFAULT, w, N, 150, 500);
    check_bound(w, N, 1 / sqrt(150.0));
    cnnrt_init_weight(&r, CNNRT_INIT_HE, w, N, 150, 500);
    check_bound(w, N, sqrt(6 / 150.0));
    cnnrt_init_weight(&r, CNNRT_INIT_XAVIER, w, N, 150, 500);
    check_bound(w, N, sqrt(6 / 650.0));
    cnnrt_init_bias(&r, CNNRT_INIT_DEFAULT, w, N, 25);
    check_bound(w, N, 1 / sqrt(25.0));
    cnnrt_init_weight(&r, CNNRT_INIT_ZEROS, w, N, 150, 500);
    for (long i = 0; i < N; i++)
        ck_assert_float_eq(w[i], 0);
    /* the same seed gives the same parameters */
    float a[64], b[64];
    cnnrt_rng_seed(&r, 3);
    cnnrt_init_weight(&r, CNNRT_INIT_DEFAULT, a, 64, 8, 8);
    cnnrt_rng_seed(&r, 3);
    cnnrt_init_weight(&r, CNNRT_INIT_DEFAULT, b, 64, 8, 8);
    ck_assert_mem_eq(a, b, sizeof a);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("rt_optim");
    TCase *t = tcase_create("optim");
    tcase_add_loop_test(t, optim_matches_pytorch, 0, NCONFIGS);
    tcase_add_test(t, fixture_has_every_config);
    tcase_add_test(t, sgd_first_momentum_step_sets_v);
    suite_add_tcase(s, t);
    t = tcase_create("rng_init");
    tcase_set_timeout(t, 30);
    tcase_add_test(t, rng_reference_values);
    tcase_add_test(t, rng_distributions);
    tcase_add_test(t, shuffle_is_a_seeded_permutation);
    tcase_add_test(t, init_bounds);
    suite_add_tcase(s, t);
    return s;
}

int main(void)
{
    return check_run(suite(), 1);
}
