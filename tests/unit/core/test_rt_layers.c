/* test_rt_layers.c — the runtime's other layers against central
 * differences and naive loops (kcheck.h): activations, prelu, dropout,
 * add, pooling, concat, softmax, batchnorm's gradient and running
 * statistics, and the losses, at extreme logits too.  The products (gemm,
 * conv, dense): test_rt_kernels.c.
 */
#include "cnnrt.h"
#include "gemm.h"

#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "check_util.h"
#include "kcheck.h"          /* data, closeness, the gradient checker */
#include "ref_act.h"         /* ref_act: the activations in double */

/* ================= elementwise ================= */
typedef struct {
    Probe pr;
    int act;
    long len;
    float *x, *y, *r;
} ActCtx;

static double act_loss(Probe *p)
{
    ActCtx *a = (ActCtx *)p;
    cnnrt_act_forward(&kctx, a->act, 0.1f, a->len, a->x, a->y);
    return dot(a->y, a->r, a->len);
}

/* x away from 0 (no kink within eps); every act in the forms the contract
 * allows, which also vary where dx lives:
 *   0: x and y, dx is dy;  1: y only, dx apart;  2: x only, dx is x;
 *   3: y only, dx is y     (1 and 3 not for silu, which needs x) */
START_TEST(test_act_grad)
{
    static const int acts[] = { CNNRT_ACT_NONE, CNNRT_ACT_RELU, CNNRT_ACT_LEAKY,
                                CNNRT_ACT_SIGMOID, CNNRT_ACT_TANH, CNNRT_ACT_SILU };
    enum { N = 300 };                               /* past one 256-float block */
    for (int k = 0; k < 6; k++) {
        ActCtx a = { { act_loss }, acts[k], N, vec(N), vec(N), vec(N) };
        double want[N];
        char what[64];
        for (long i = 0; i < a.len; i++) {
            a.x[i] = (a.x[i] < 0 ? -0.05f : 0.05f) + 3 * a.x[i];
            want[i] = ref_act(a.act, 0.1f, a.x[i]);
        }
        act_loss(&a.pr);
        snprintf(what, sizeof what, "act %d forward", a.act);
        expect_close(what, a.y, want, a.len, 1e-5, 1e-6);
        for (int form = 0; form < 4; form++) {
            if (form % 2 && a.act == CNNRT_ACT_SILU)
                continue;
            float *xc = vcopy(a.x, N), *yc = vcopy(a.y, N), *dy = vcopy(a.r, N);
            float *dx = form == 0 ? dy : form == 1 ? vec(N) : form == 2 ? xc : yc;
            cnnrt_act_backward(&kctx, a.act, 0.1f, N, form % 2 ? NULL : xc, form == 2 ? NULL : yc,
                               dy, dx);
            snprintf(what, sizeof what, "act %d form %d: dx", a.act, form);
            gradcheck(what, &a.pr, a.x, dx, a.len);
        }
    }
}
END_TEST

typedef struct {
    Probe pr;
    int n, c, hw;
    float *x, *a, *y, *r;
} PreluCtx;

static double prelu_loss(Probe *p)
{
    PreluCtx *q = (PreluCtx *)p;
    cnnrt_prelu_forward(&kctx, q->n, q->c, q->hw, q->x, q->a, q->y);
    return dot(q->y, q->r, (long)q->n * q->c * q->hw);
}

START_TEST(test_prelu_grad)
{
    PreluCtx q = { { prelu_loss }, 2, 3, 5, vec(30), vec(3), vec(30), vec(30) };
    for (int i = 0; i < 30; i++)
        q.x[i] += q.x[i] < 0 ? -0.05f : 0.05f;
    float *dx = vfill(30, NAN), *da = vfill(3, 0);
    cnnrt_prelu_backward(&kctx, 2, 3, 5, q.x, q.a, q.r, dx, da);
    gradcheck("prelu dx", &q.pr, q.x, dx, 30);
    gradcheck("prelu da", &q.pr, q.a, da, 3);
    float *da1 = vcopy(da, 3);
    cnnrt_prelu_backward(&kctx, 2, 3, 5, q.x, q.a, q.r, NULL, da);
    expect_twice("prelu da (accumulated)", da1, da, 3);
}
END_TEST

typedef struct {
    Probe pr;
    cnnrt_rng rng, start;
    long len;
    float p, *x, *y, *mask, *r;
} DropCtx;

static double drop_loss(Probe *p)                 /* the same mask every time */
{
    DropCtx *d = (DropCtx *)p;
    d->rng = d->start;
    cnnrt_dropout_forward(&kctx, &d->rng, d->p, 1, d->len, d->x, d->y, d->mask);
    return dot(d->y, d->r, d->len);
}

START_TEST(test_dropout)
{
    DropCtx d = { { drop_loss }, { { 0 } }, { { 0 } }, 2000, 0.3f,
                  vec(2000), vec(2000), vec(2000), vec(2000) };
    cnnrt_rng_seed(&d.start, 7);
    drop_loss(&d.pr);
    long dropped = 0;
    for (long i = 0; i < d.len; i++) {
        ck_assert_msg(d.mask[i] == 0 || fabsf(d.mask[i] - 1 / 0.7f) < 1e-6f,
                      "mask[%ld] = %g", i, d.mask[i]);
        ck_assert(d.y[i] == d.x[i] * d.mask[i]);
        dropped += d.mask[i] == 0;
    }
    ck_assert_msg(labs(dropped - 600) < 80, "dropped %ld of 2000 at p=0.3", dropped);
    float *dx = vec(d.len);
    cnnrt_dropout_backward(&kctx, d.len, d.mask, d.r, dx);
    gradcheck("dropout dx", &d.pr, d.x, dx, d.len);
    /* evaluation: identity, mask untouched */
    float *mask = vcopy(d.mask, d.len);
    cnnrt_dropout_forward(&kctx, &d.rng, d.p, 0, d.len, d.x, d.y, d.mask);
    expect_closef("dropout eval y", d.y, d.x, d.len, 0, 0);
    expect_closef("dropout eval mask", d.mask, mask, d.len, 0, 0);
}
END_TEST

START_TEST(test_add)
{
    float *a = vec(50), *b = vec(50), *y = vec(50);
    double want[50];
    for (int i = 0; i < 50; i++)
        want[i] = (double)a[i] + b[i];
    cnnrt_add_forward(&kctx, 50, a, b, y, CNNRT_ACT_NONE, 0);
    expect_close("add", y, want, 50, 1e-7, 0);
    float *b2 = vcopy(b, 50);
    cnnrt_add_forward(&kctx, 50, a, b2, b2, CNNRT_ACT_NONE, 0);   /* in place, either side */
    expect_close("add into b", b2, want, 50, 1e-7, 0);
    /* a relu epilogue, over more than one block */
    long big = 3000;
    float *p = vec(big), *q = vec(big), *r = vec(big);
    double *wr = malloc(sizeof(double) * (size_t)big);
    for (long i = 0; i < big; i++)
        wr[i] = (double)p[i] + q[i] > 0 ? (double)p[i] + q[i] : 0;
    cnnrt_add_forward(&kctx, big, p, q, r, CNNRT_ACT_RELU, 0);
    expect_close("add+relu", r, wr, big, 1e-7, 0);
    cnnrt_add_forward(&kctx, big, p, q, p, CNNRT_ACT_RELU, 0);
    expect_close("add+relu into a", p, wr, big, 1e-7, 0);
    free(wr);
    cnnrt_add_forward(&kctx, 50, a, b, a, CNNRT_ACT_NONE, 0);
    expect_close("add into a", a, want, 50, 1e-7, 0);
}
END_TEST

/* ================= pooling and reshaping ================= */
typedef struct {
    Probe pr;
    int kind, n, c, h, w, f;        /* kind: 0 max, 1 avg, 2 gap, 3 upsample */
    cnnrt_pool g;
    long xlen, ylen;
    float *x, *y, *r;
} PoolCtx;

static double pool_loss(Probe *p)
{
    PoolCtx *q = (PoolCtx *)p;
    switch (q->kind) {
    case 0: cnnrt_maxpool_forward(&kctx, &q->g, q->n, q->x, q->y, NULL); break;
    case 1: cnnrt_avgpool_forward(&kctx, &q->g, q->n, q->x, q->y); break;
    case 2: cnnrt_gap_forward(&kctx, q->n, q->c, q->h * q->w, q->x, q->y); break;
    default: cnnrt_upsample_forward(&kctx, q->n, q->c, q->h, q->w, q->f, q->x, q->y);
    }
    return dot(q->y, q->r, q->ylen);
}

static PoolCtx pool_setup(int kind, int k, int s, int pad)
{
    PoolCtx q = { { pool_loss }, kind, 2, 3, 7, 6, 2, { 0 }, 0, 0, 0, 0, 0 };
    cnnrt_pool g = { q.c, q.h, q.w, (q.h + 2 * pad - k) / s + 1, (q.w + 2 * pad - k) / s + 1,
                     k, k, s, s, pad, pad };
    q.g = g;
    q.xlen = (long)q.n * q.c * q.h * q.w;
    q.ylen = kind == 2 ? (long)q.n * q.c : kind == 3 ? q.xlen * q.f * q.f
                                                     : (long)q.n * q.c * g.oh * g.ow;
    q.x = vec(q.xlen);
    q.y = vfill(q.ylen, NAN);
    q.r = vec(q.ylen);
    /* distinct values 0.02 apart in random order: no ties, no max flips */
    for (long i = 0; i < q.xlen; i++)
        q.x[i] = 0.02f * (float)i - 1;
    for (long i = q.xlen - 1; i > 0; i--) {
        long j = (long)((urand() + 1) * 0.5f * (float)(i + 1)) % (i + 1);
        float t = q.x[i];
        q.x[i] = q.x[j];
        q.x[j] = t;
    }
    return q;
}

/* forward against a direct evaluation, then the gradient */
static void pool_check(PoolCtx *q, const char *name)
{
    double *want = malloc(sizeof(double) * q->ylen);
    const cnnrt_pool *g = &q->g;
    for (long o = 0; o < q->ylen; o++) {
        if (q->kind == 2) {
            double s = 0;
            for (int i = 0; i < q->h * q->w; i++)
                s += q->x[o * q->h * q->w + i];
            want[o] = s / (q->h * q->w);
            continue;
        }
        if (q->kind == 3) {
            long ow = (long)q->w * q->f, pl = o / (ow * q->h * q->f), oy = o / ow % (q->h * q->f);
            want[o] = q->x[(pl * q->h + oy / q->f) * q->w + o % ow / q->f];
            continue;
        }
        long pl = o / (g->oh * g->ow);
        int oy = (int)(o / g->ow % g->oh), ox = (int)(o % g->ow);
        double m = -INFINITY, s = 0;
        for (int ky = 0; ky < g->kh; ky++)
            for (int kx = 0; kx < g->kw; kx++) {
                int iy = oy * g->sh - g->ph + ky, ix = ox * g->sw - g->pw + kx;
                if (iy < 0 || iy >= g->h || ix < 0 || ix >= g->w)
                    continue;
                double v = q->x[(pl * g->h + iy) * g->w + ix];
                m = v > m ? v : m;
                s += v;
            }
        want[o] = q->kind == 0 ? m : s / (g->kh * g->kw);
    }
    char what[64];
    pool_loss(&q->pr);
    snprintf(what, sizeof what, "%s forward", name);
    expect_close(what, q->y, want, q->ylen, 1e-6, 1e-6);
    free(want);
    float *dx = vfill(q->xlen, NAN);
    switch (q->kind) {
    case 0: cnnrt_maxpool_backward(&kctx, g, q->n, q->x, NULL, q->r, dx); break;
    case 1: cnnrt_avgpool_backward(&kctx, g, q->n, q->r, dx); break;
    case 2: cnnrt_gap_backward(&kctx, q->n, q->c, q->h * q->w, q->r, dx); break;
    default: cnnrt_upsample_backward(&kctx, q->n, q->c, q->h, q->w, q->f, q->r, dx);
    }
    snprintf(what, sizeof what, "%s dx", name);
    gradcheck(what, &q->pr, q->x, dx, q->xlen);
    if (q->kind == 0) {     /* saved positions route dy exactly as recomputing */
        float *idx = vec(q->ylen), *y2 = vec(q->ylen), *dx2 = vfill(q->xlen, NAN);
        cnnrt_maxpool_forward(&kctx, g, q->n, q->x, y2, idx);
        cnnrt_maxpool_backward(&kctx, g, q->n, NULL, idx, q->r, dx2);
        double *want2 = malloc(sizeof(double) * (size_t)q->xlen);
        for (long i = 0; i < q->xlen; i++)
            want2[i] = dx[i];
        snprintf(what, sizeof what, "%s dx from saved positions", name);
        expect_close(what, dx2, want2, q->xlen, 0, 0);
        free(want2);        /* the vec() buffers are freed by the harness */
    }
}

START_TEST(test_pool)
{
    PoolCtx q;
    q = pool_setup(0, 2, 2, 0); pool_check(&q, "maxpool 2/2");
    q = pool_setup(0, 3, 2, 1); pool_check(&q, "maxpool 3/2 pad 1");
    q = pool_setup(0, 3, 1, 1); pool_check(&q, "maxpool 3/1 pad 1 (overlapping)");
    q = pool_setup(1, 2, 2, 0); pool_check(&q, "avgpool 2/2");
    q = pool_setup(1, 3, 2, 1); pool_check(&q, "avgpool 3/2 pad 1");
    q = pool_setup(2, 1, 1, 0); pool_check(&q, "gap");
    q = pool_setup(3, 1, 1, 0); pool_check(&q, "upsample x2");
    q = pool_setup(3, 1, 1, 0); q.f = 3; q.ylen = q.xlen * 9; q.y = vec(q.ylen); q.r = vec(q.ylen);
    pool_check(&q, "upsample x3");
}
END_TEST

typedef struct {
    Probe pr;
    int n;
    long sizes[3];
    float *parts[3], *y, *r;
} CatCtx;

static double cat_loss(Probe *p)
{
    CatCtx *q = (CatCtx *)p;
    cnnrt_concat_forward(&kctx, q->n, 3, (const float *const *)q->parts, q->sizes, q->y);
    return dot(q->y, q->r, q->n * (q->sizes[0] + q->sizes[1] + q->sizes[2]));
}

START_TEST(test_concat)
{
    CatCtx q = { { cat_loss }, 2, { 8, 12, 4 }, { 0 }, vfill(48, NAN), vec(48) };
    float *d[3];
    for (int i = 0; i < 3; i++) {
        q.parts[i] = vec(2 * q.sizes[i]);
        d[i] = vfill(2 * q.sizes[i], NAN);
    }
    cat_loss(&q.pr);
    ck_assert(q.y[0] == q.parts[0][0] && q.y[8] == q.parts[1][0] && q.y[20] == q.parts[2][0]);
    ck_assert(q.y[24] == q.parts[0][8] && q.y[47] == q.parts[2][7]);
    cnnrt_concat_backward(&kctx, 2, 3, q.sizes, q.r, d);
    gradcheck("concat d0", &q.pr, q.parts[0], d[0], 16);
    gradcheck("concat d1", &q.pr, q.parts[1], d[1], 24);
    gradcheck("concat d2", &q.pr, q.parts[2], d[2], 8);
    float *skip[3] = { d[0], NULL, d[2] };          /* a part nobody needs */
    cnnrt_concat_backward(&kctx, 2, 3, q.sizes, q.r, skip);
}
END_TEST

/* ================= softmax, batchnorm ================= */
typedef struct {
    Probe pr;
    int n, c, hw, training;
    float *x, *gamma, *beta, *y, *r, *mean, *invstd;
} NormCtx;

static double softmax_loss(Probe *p)
{
    NormCtx *q = (NormCtx *)p;
    cnnrt_softmax_forward(&kctx, q->n, q->c, q->hw, q->x, q->y);
    return dot(q->y, q->r, (long)q->n * q->c * q->hw);
}

static double bn_loss(Probe *p)
{
    NormCtx *q = (NormCtx *)p;
    cnnrt_batchnorm_forward(&kctx, q->n, q->c, q->hw, q->x, q->gamma, q->beta, NULL, NULL,
                            0.1f, 1e-5f, 1, q->y, q->mean, q->invstd, CNNRT_ACT_NONE, 0);
    return dot(q->y, q->r, (long)q->n * q->c * q->hw);
}

static NormCtx norm_setup(double (*loss)(Probe *), int n, int c, int hw)
{
    long len = (long)n * c * hw;
    NormCtx q = { { loss }, n, c, hw, 1, vec(len), vec(c), vec(c), vfill(len, NAN),
                  vec(len), vec(c), vec(c) };
    for (long i = 0; i < len; i++)
        q.x[i] *= 3;
    return q;
}

START_TEST(test_softmax_grad)
{
    static const int hws[] = { 1, 7, 70 };          /* 70 crosses a chunk */
    for (int k = 0; k < 3; k++) {
        NormCtx q = norm_setup(softmax_loss, 3, 5, hws[k]);
        long len = 15L * hws[k];
        char what[64];
        softmax_loss(&q.pr);
        for (int s = 0; s < 3; s++)
            for (int p = 0; p < hws[k]; p++) {
                double m = -INFINITY, z = 0;
                for (int ch = 0; ch < 5; ch++)
                    m = fmax(m, q.x[(s * 5 + ch) * hws[k] + p]);
                for (int ch = 0; ch < 5; ch++)
                    z += exp(q.x[(s * 5 + ch) * hws[k] + p] - m);
                for (int ch = 0; ch < 5; ch++) {
                    long i = (s * 5 + ch) * hws[k] + p;
                    double want = exp(q.x[i] - m) / z;
                    ck_assert_msg(fabs(q.y[i] - want) < 1e-6, "softmax hw=%d y[%ld] = %g, want %g",
                                  hws[k], i, q.y[i], want);
                }
            }
        float *dx = vfill(len, NAN);
        cnnrt_softmax_backward(&kctx, 3, 5, hws[k], q.y, q.r, dx);
        snprintf(what, sizeof what, "softmax hw=%d dx", hws[k]);
        gradcheck(what, &q.pr, q.x, dx, len);
    }
}
END_TEST

START_TEST(test_batchnorm_grad)
{
    NormCtx q = norm_setup(bn_loss, 4, 3, 5);
    long len = 60;
    float *dx = vfill(len, NAN), *dg = vfill(3, 0), *dbt = vfill(3, 0);
    bn_loss(&q.pr);
    cnnrt_batchnorm_backward(&kctx, 4, 3, 5, q.x, q.gamma, q.mean, q.invstd, NULL, q.r, CNNRT_ACT_NONE, 0, dx, dg, dbt);
    gradcheck("batchnorm dx", &q.pr, q.x, dx, len);
    gradcheck("batchnorm dgamma", &q.pr, q.gamma, dg, 3);
    gradcheck("batchnorm dbeta", &q.pr, q.beta, dbt, 3);
    float *dg1 = vcopy(dg, 3), *db1 = vcopy(dbt, 3);
    cnnrt_batchnorm_backward(&kctx, 4, 3, 5, q.x, q.gamma, q.mean, q.invstd, NULL, q.r, CNNRT_ACT_NONE, 0, NULL, dg, dbt);
    expect_twice("batchnorm dgamma (accumulated)", dg1, dg, 3);
    expect_twice("batchnorm dbeta (accumulated)", db1, dbt, 3);
}
END_TEST

/* channel 0 holds 1..6: mean 3.5, biased variance 35/12, unbiased 3.5 */
START_TEST(test_batchnorm_running)
{
    float x[12] = { 1, 2, 3, 10, 10, 10, 4, 5, 6, 10, 10, 10 };   /* n=2 c=2 hw=3 */
    float gamma[2] = { 2, 1 }, beta[2] = { 0.5f, 0 }, y[12], mean[2], invstd[2];
    float rmean[2] = { 0, 1 }, rvar[2] = { 1, 2 };
    cnnrt_batchnorm_forward(&kctx, 2, 2, 3, x, gamma, beta, rmean, rvar, 0.1f, 1e-5f, 1, y, mean, invstd, CNNRT_ACT_NONE, 0);
    double want_rm[2] = { 0.35, 0.9 + 1.0 }, want_rv[2] = { 0.9 + 0.35, 1.8 };
    double want_y0 = 2 * (1 - 3.5) / sqrt(35.0 / 12 + 1e-5) + 0.5;
    expect_close("running mean", rmean, want_rm, 2, 1e-6, 1e-7);
    expect_close("running var (unbiased)", rvar, want_rv, 2, 1e-6, 1e-7);
    ck_assert_msg(fabs(mean[0] - 3.5) < 1e-6 && fabs(invstd[0] - 1 / sqrt(35.0 / 12 + 1e-5)) < 1e-6,
                  "saved mean %g invstd %g", mean[0], invstd[0]);
    ck_assert_msg(fabs(y[0] - want_y0) < 1e-5, "y[0] = %g, want %g", y[0], want_y0);
    ck_assert_msg(fabsf(y[3] - 0.0f) < 1e-6f, "constant channel: y = %g, want beta 0", y[3]);
    /* evaluation: running statistics normalise and stay put */
    cnnrt_batchnorm_forward(&kctx, 2, 2, 3, x, gamma, beta, rmean, rvar, 0.1f, 1e-5f, 0, y, NULL, NULL, CNNRT_ACT_NONE, 0);
    double want_ev[12];
    for (int i = 0; i < 12; i++) {
        int ch = i / 3 % 2;
        want_ev[i] = gamma[ch] * (x[i] - want_rm[ch]) / sqrt(want_rv[ch] + 1e-5) + beta[ch];
    }
    expect_close("batchnorm eval y", y, want_ev, 12, 1e-5, 1e-6);
    expect_close("running mean after eval", rmean, want_rm, 2, 1e-6, 1e-7);
    expect_close("running var after eval", rvar, want_rv, 2, 1e-6, 1e-7);
    /* a mean far above the spread still normalises to full precision */
    float xb[4] = { 1000.0f, 1000.01f, 1000.02f, 1000.04f }, yb[4];
    double mb = 0, vb = 0, want_b[4];
    for (int i = 0; i < 4; i++)
        mb += xb[i] / 4.0;
    for (int i = 0; i < 4; i++)
        vb += (xb[i] - mb) * (xb[i] - mb) / 4;
    for (int i = 0; i < 4; i++)
        want_b[i] = (xb[i] - mb) / sqrt(vb + 1e-5);
    cnnrt_batchnorm_forward(&kctx, 1, 1, 4, xb, NULL, NULL, NULL, NULL, 0.1f, 1e-5f, 1, yb, NULL, NULL, CNNRT_ACT_NONE, 0);
    expect_close("batchnorm y, mean 1000", yb, want_b, 4, 1e-4, 1e-4);
}
END_TEST

/* ================= losses ================= */
typedef struct {
    Probe pr;
    int kind, n, c, hw;                 /* kind: 0 xent, 1 bce, 2 mse */
    float *z, *t, *p;
} LossCtx;

static double loss_loss(Probe *pr)      /* the loss value itself is L */
{
    LossCtx *q = (LossCtx *)pr;
    long count = (long)q->n * q->c * q->hw;
    switch (q->kind) {
    case 0: return cnnrt_xent_loss(&kctx, q->n, q->c, q->hw, q->z, NULL, q->t, NULL);
    case 1: return cnnrt_bce_loss(&kctx, count, q->z, NULL, q->t, NULL);
    default: return cnnrt_mse_loss(&kctx, count, q->z, q->t, NULL);
    }
}

/* naive loss in double, straight from LANGUAGE.md section 5 */
static double naive_loss(const LossCtx *q)
{
    long count = (long)q->n * q->c * q->hw;
    double s = 0;
    if (q->kind == 0) {
        for (int b = 0; b < q->n; b++)
            for (int p = 0; p < q->hw; p++) {
                double z = 0;
                for (int ch = 0; ch < q->c; ch++)
                    z += exp(q->z[(b * q->c + ch) * q->hw + p]);
                for (int ch = 0; ch < q->c; ch++) {
                    long i = (b * q->c + ch) * q->hw + p;
                    s -= q->t[i] * log(exp(q->z[i]) / z);
                }
            }
        return s / q->n;
    }
    for (long i = 0; i < count; i++) {
        double pr = 1 / (1 + exp(-(double)q->z[i]));
        s += q->kind == 1 ? -(q->t[i] * log(pr) + (1 - q->t[i]) * log(1 - pr))
                          : (q->z[i] - q->t[i]) * (q->z[i] - q->t[i]);
    }
    return s / count;
}

START_TEST(test_loss_grad)
{
    static const int shapes[][4] = {   /* kind n c hw */
        { 0, 4, 5, 1 }, { 0, 2, 3, 6 }, { 1, 3, 4, 1 }, { 2, 3, 4, 2 } };
    for (int k = 0; k < 4; k++) {
        LossCtx q = { { loss_loss }, shapes[k][0], shapes[k][1], shapes[k][2], shapes[k][3],
                      0, 0, 0 };
        long count = (long)q.n * q.c * q.hw;
        q.z = vec(count);
        q.t = vec(count);
        q.p = vec(count);
        for (long i = 0; i < count; i++) {
            q.z[i] *= 3;
            q.t[i] = (q.t[i] + 1) / 2;                  /* soft targets in [0, 1) */
        }
        if (q.kind == 0) {                              /* probability vectors */
            for (int b = 0; b < q.n; b++)
                for (int p = 0; p < q.hw; p++) {
                    double s = 0;
                    for (int ch = 0; ch < q.c; ch++)
                        s += q.t[(b * q.c + ch) * q.hw + p];
                    for (int ch = 0; ch < q.c; ch++)
                        q.t[(b * q.c + ch) * q.hw + p] /= (float)s;
                }
            cnnrt_softmax_forward(&kctx, q.n, q.c, q.hw, q.z, q.p);
        } else {
            for (long i = 0; i < count; i++)
                q.p[i] = 1 / (1 + expf(-q.z[i]));
        }
        char what[64];
        double want = naive_loss(&q), got = loss_loss(&q.pr);
        ck_assert_msg(fabs(got - want) < 1e-5 * (1 + fabs(want)), "loss %d value %.8g, want %.8g",
                      q.kind, got, want);
        for (int withp = 0; withp < 2; withp++) {       /* p given, p recomputed */
            float *dz = vfill(count, NAN);
            float l = q.kind == 0 ? cnnrt_xent_loss(&kctx, q.n, q.c, q.hw, q.z, withp ? q.p : NULL, q.t, dz)
                    : q.kind == 1 ? cnnrt_bce_loss(&kctx, count, q.z, withp ? q.p : NULL, q.t, dz)
                                  : cnnrt_mse_loss(&kctx, count, q.z, q.t, dz);
            ck_assert(fabs(l - got) < 1e-6);
            snprintf(what, sizeof what, "loss %d (hw %d, p %s) dz", q.kind, q.hw,
                     withp ? "given" : "NULL");
            gradcheck_tol(what, &q.pr, q.z, dz, count, 1e-2f, 1e-4);
        }
    }
}
END_TEST

/* logits of +-100 (as the spec asks) and +-1000 (beyond exp's range even
 * in double): losses finite and right, gradients finite and right */
START_TEST(test_loss_extreme)
{
    static const float big[] = { 100, 1000 };
    for (int k = 0; k < 2; k++) {
        float B = big[k];
        /* two samples, two classes: the first wrong by 2B, the second right */
        float z[4] = { B, -B, -B, B }, t[4] = { 0, 1, 0, 1 }, p[4], dz[4];
        cnnrt_softmax_forward(&kctx, 2, 2, 1, z, p);
        float l = cnnrt_xent_loss(&kctx, 2, 2, 1, z, p, t, dz);
        ck_assert_msg(isfinite(l) && fabs(l - B) < 1e-5 * B, "xent at +-%g: %g, want %g", B, l, B);
        ck_assert_msg(fabsf(dz[0] - 0.5f) < 1e-6f && fabsf(dz[1] + 0.5f) < 1e-6f &&
                      fabsf(dz[2]) < 1e-6f && fabsf(dz[3]) < 1e-6f,
                      "xent dz at +-%g = %g %g %g %g", B, dz[0], dz[1], dz[2], dz[3]);
        /* bce: wrong by B twice, right by B once; p given (saturated to 0
         * and 1) and recomputed */
        float zb[3] = { B, -B, B }, tb[3] = { 0, 1, 1 }, pb[3], db[3];
        for (int i = 0; i < 3; i++)
            pb[i] = 1 / (1 + expf(-zb[i]));
        for (int withp = 0; withp < 2; withp++) {
            l = cnnrt_bce_loss(&kctx, 3, zb, withp ? pb : NULL, tb, db);
            ck_assert_msg(isfinite(l) && fabs(l - 2 * B / 3) < 1e-5 * B,
                          "bce at +-%g: %g, want %g", B, l, 2 * B / 3);
            ck_assert_msg(fabsf(db[0] - 1.0f / 3) < 1e-6f && fabsf(db[1] + 1.0f / 3) < 1e-6f &&
                          fabsf(db[2]) < 1e-6f, "bce dz at +-%g = %g %g %g", B, db[0], db[1], db[2]);
        }
    }
}
END_TEST

/* ================= the suite ================= */
static Suite *layers_suite(void)
{
    Suite *s = suite_create("rt_layers");
    struct { const char *name; const TTest *t; int lo, hi; } tests[] = {
        { "act", test_act_grad, 0, 1 },
        { "prelu", test_prelu_grad, 0, 1 },
        { "dropout", test_dropout, 0, 1 },
        { "add", test_add, 0, 1 },
        { "pool", test_pool, 0, 1 },
        { "concat", test_concat, 0, 1 },
        { "softmax", test_softmax_grad, 0, 1 },
        { "batchnorm_grad", test_batchnorm_grad, 0, 1 },
        { "batchnorm_running", test_batchnorm_running, 0, 1 },
        { "loss_grad", test_loss_grad, 0, 1 },
        { "loss_extreme", test_loss_extreme, 0, 1 },
    };
    for (size_t i = 0; i < sizeof tests / sizeof tests[0]; i++)
        kcheck_tcase(s, tests[i].name, tests[i].t, tests[i].lo, tests[i].hi);
    return s;
}

int main(void)
{
    return check_run(layers_suite(), 1);
}
