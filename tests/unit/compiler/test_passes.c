/* test_passes.c — the optimization passes and the memory planner:
 *   - each pass on a small graph, checking the IR it leaves;
 *   - the plan checker catches an overlap, and accepts every plan made for
 *     the examples and for random graphs (chains, branches, concat, add),
 *     training and inference, -O0 and -O2;
 *   - the planning targets of the passes issue on LeNet-5 and the VGG net.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "frontend/frontend.h"
#include "passes/passes.h"
#include "check_util.h"

static char errbuf[8192];

static Graph *compile(const char *src, int inference)
{
    Graph *g = check_compile(src, errbuf, sizeof errbuf);
    ck_assert_msg(g != NULL, "did not compile:\n%s\n%s", src, errbuf);
    g->inference = inference || g->loss_node < 0;
    return g;
}

static Graph *compile_file(const char *path, int inference)
{
    const char *src = check_slurp(path);
    ck_assert_msg(src != NULL, "%s", path);
    return compile(src, inference);
}

static void run(Graph *g, int opt, const char *only)
{
    PassOptions o = { .opt = opt, .verify = 1 };
    if (only) {     /* all optimization passes but `only` disabled */
        for (int i = 0; pass_list[i].name; i++)
            if (pass_list[i].level > 0 && strcmp(pass_list[i].name, only))
                o.disabled[o.ndisabled++] = pass_list[i].name;
    }
    ck_assert_int_eq(pass_run_all(g, &o), 0);
}

static int live(const Graph *g, int op, int bwd)
{
    int n = 0;
    for (int i = 0; i < g->nnodes; i++)
        n += !g->nodes[i].dead && g->nodes[i].op == op && g->nodes[i].bwd == bwd;
    return n;
}

static const char *lenet_like =
    "model m { input x[1, 12, 12]\n"
    " conv(4, kernel=3, pad=1) -> relu -> maxpool(2)\n"
    " batchnorm -> relu -> maxpool(2)\n"
    " flatten -> dense(8) -> tanh -> dense(3) -> softmax }\n"
    "train { loss = cross_entropy; optimizer = sgd(lr=0.1); batch = 4 }\n";

START_TEST(fuse_epilogues)
{
    Graph *g = compile(lenet_like, 0);
    run(g, 2, "fuse-epilogues");
    /* conv+relu, batchnorm+relu and dense+tanh fused */
    ck_assert_int_eq(live(g, OP_relu, 0), 0);
    ck_assert_int_eq(live(g, OP_tanh, 0), 0);
    ck_assert_int_eq(live(g, OP_relu, 1), 0);
    for (int i = 0; i < g->nnodes; i++) {
        const Node *n = &g->nodes[i];
        if (n->op == OP_conv || n->op == OP_batchnorm)
            ck_assert_int_eq(n->act, CNNRT_ACT_RELU);
        if (n->op == OP_dense && n->a.filters == 8)
            ck_assert_int_eq(n->act, CNNRT_ACT_TANH);
    }
    ir_free(g);
    /* not into a sigmoid the bce loss absorbs, nor an output feeding add */
    g = compile("model m { input x[4]\n dense(3) -> sigmoid }\n"
                "train { loss = bce; optimizer = sgd(lr=0.1) }", 0);
    run(g, 2, "fuse-epilogues");
    ck_assert_int_eq(live(g, OP_sigmoid, 0), 1);
    ir_free(g);
    g = compile("model m { input x[2, 4, 4]\n a = conv(2, kernel=1) -> relu\n"
                " b = add(a, x) -> flatten -> dense(2) -> softmax }\n"
                "train { loss = cross_entropy; optimizer = sgd(lr=0.1) }", 0);
    run(g, 2, "fuse-epilogues");
    ck_assert_int_eq(live(g, OP_relu, 0), 1);
    ir_free(g);
    /* add -> relu: one loop, forward and backward */
    g = compile("model m { input x[2, 4, 4]\n a = conv(2, kernel=1)\n"
                " b = add(a, x) -> relu -> flatten -> dense(2) -> softmax }\n"
                "train { loss = cross_entropy; optimizer = sgd(lr=0.1) }", 0);
    run(g, 2, "fuse-epilogues");
    ck_assert_int_eq(live(g, OP_relu, 0), 0);
    ck_assert_int_eq(live(g, OP_relu, 1), 0);
    ck_assert_int_eq(live(g, OP_add, 1), 1);
    ir_free(g);
}
END_TEST

START_TEST(swap_relu_pool)
{
    Graph *g = compile(lenet_like, 0);
    run(g, 2, "swap-relu-pool");
    /* both relu -> maxpool pairs become maxpool -> relu on [4,3,3] or [4,6,6] */
    int swapped = 0;
    for (int i = 0; i < g->nfwd; i++) {
        const Node *n = &g->nodes[i];
        if (n->dead || n->op != OP_relu)
            continue;
        const Node *p = &g->nodes[g->vals[n->in[0]].producer];
        ck_assert_int_eq(p->op, OP_maxpool);
        ck_assert_int_eq(g->vals[n->out[0]].shape.d[1], g->vals[n->in[0]].shape.d[1]);
        swapped++;
    }
    ck_assert_int_eq(swapped, 2);
    ir_free(g);
}
END_TEST

START_TEST(fold_batchnorm)
{
    const char *src = "model m { input x[3, 8, 8]\n conv(4, kernel=3) -> batchnorm -> relu\n"
                      " conv(4, kernel=3) -> relu -> batchnorm }\n";
    Graph *g = compile(src, 1);
    run(g, 2, "fold-batchnorm");
    ck_assert_int_eq(live(g, OP_batchnorm, 0), 1);      /* the second has a relu between */
    ck_assert_int_eq(g->nodes[0].fold_bn > 0 || g->nodes[1].fold_bn > 0, 1);
    ir_free(g);
    g = compile("model m { input x[3, 8, 8]\n conv(4, kernel=3) -> batchnorm }\n"
                "train { loss = mse; optimizer = sgd(lr=0.1) }", 0);
    run(g, 2, "fold-batchnorm");                       /* training: kept */
    ck_assert_int_eq(live(g, OP_batchnorm, 0), 1);
    ir_free(g);
}
END_TEST

START_TEST(inplace)
{
    Graph *g = compile("model m { input x[8]\n dense(8) -> batchnorm -> relu -> dense(2) }\n"
                       "train { loss = mse; optimizer = sgd(lr=0.1) }", 0);
    run(g, 2, "inplace");
    /* the relu overwrites the batchnorm output; its backward writes over dy */
    for (int i = 0; i < g->nnodes; i++) {
        const Node *n = &g->nodes[i];
        if (n->op == OP_relu && !n->dead)
            ck_assert_int_eq(ir_root(g, n->out[0]), ir_root(g, n->in[0]));
    }
    ir_free(g);
}
END_TEST

START_TEST(checker_catches_overlap)
{
    Plan p = { 0 };
    PlanItem items[2] = { { 1, 32, 0, 5, 0 }, { 2, 32, 3, 8, 16 } };
    p.items = items;
    p.n = 2;
    char err[256];
    ck_assert_int_eq(plan_check(&p, err, sizeof err), -1);
    ck_assert_ptr_nonnull(strstr(err, "overlap"));
    items[1].off = 32;
    ck_assert_int_eq(plan_check(&p, err, sizeof err), 0);
    items[1].start = 6;     /* not live together: may share */
    items[1].off = 0;
    ck_assert_int_eq(plan_check(&p, err, sizeof err), 0);
}
END_TEST

/* a random graph of [4,8,8] tensors: chains, branches, concat, add */
static char *random_model(unsigned seed)
{
    static char src[1 << 15];
    srand(seed);
    int n = 0, len = 0, ntens = 1 + rand() % 14;
    len += snprintf(src + len, sizeof src - len, "model r { input x[4, 8, 8]\n t0 = conv(4, kernel=3, pad=1)\n");
    for (int i = 1; i <= ntens; i++) {
        int a = rand() % i, b = rand() % i;
        switch (rand() % 4) {
        case 0:
            len += snprintf(src + len, sizeof src - len, " t%d = concat(t%d, t%d) -> conv(4, kernel=1)\n", i, a, b);
            break;
        case 1:
            len += snprintf(src + len, sizeof src - len, " t%d = add(t%d, t%d) -> relu\n", i, a, b);
            break;
        case 2:
            len += snprintf(src + len, sizeof src - len, " t%d = t%d -> conv(4, kernel=3, pad=1) -> relu -> batchnorm\n", i, a);
            break;
        default:
            len += snprintf(src + len, sizeof src - len, " t%d = t%d -> maxpool(2) -> tanh -> upsample(2)\n", i, a);
            break;
        }
        n = i;
    }
    snprintf(src + len, sizeof src - len, " y = t%d -> flatten -> dense(3) -> softmax\n output y }\n"
             "train { loss = cross_entropy; optimizer = sgd(lr=0.1); batch = 3 }\n", n);
    return src;
}

START_TEST(random_plans)
{
    char err[512];
    for (unsigned seed = 1; seed <= 60; seed++)
        for (int mode = 0; mode < 4; mode++) {
            Graph *g = compile(random_model(seed), mode & 1);
            run(g, mode & 2 ? 2 : 0, NULL);
            ck_assert_msg(plan_check(&g->plan, err, sizeof err) == 0, "seed %u mode %d: %s", seed, mode, err);
            ck_assert_int_ge(g->plan.planned, g->plan.lower);
            ck_assert_int_le(g->plan.planned, g->plan.naive);
            ir_free(g);
        }
}
END_TEST

/* the targets, on the examples */
START_TEST(plan_targets)
{
    const char *files[] = { "examples/lenet5.cnn", "examples/vggs.cnn" };
    char err[512];
    for (int i = 0; i < 2; i++) {
        Graph *g = compile_file(files[i], 1);
        run(g, 2, NULL);
        ck_assert_int_eq(plan_check(&g->plan, err, sizeof err), 0);
        ck_assert_msg(g->plan.planned <= g->plan.lower * 1.05, "%s inference: planned %ld, lower bound %ld",
                      files[i], g->plan.planned, g->plan.lower);
        ir_free(g);
        g = compile_file(files[i], 0);
        run(g, 2, NULL);
        ck_assert_int_eq(plan_check(&g->plan, err, sizeof err), 0);
        ck_assert_msg(g->plan.planned <= g->plan.naive * 0.60, "%s training: planned %ld, naive %ld",
                      files[i], g->plan.planned, g->plan.naive);
        ck_assert_msg(g->plan.planned <= g->plan.lower * 1.10, "%s training: planned %ld, lower bound %ld",
                      files[i], g->plan.planned, g->plan.lower);
        ir_free(g);
    }
}
END_TEST

int main(void)
{
    Suite *s = suite_create("passes");
    TCase *tc = tcase_create("passes");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, fuse_epilogues);
    tcase_add_test(tc, swap_relu_pool);
    tcase_add_test(tc, fold_batchnorm);
    tcase_add_test(tc, inplace);
    tcase_add_test(tc, checker_catches_overlap);
    tcase_add_test(tc, random_plans);
    tcase_add_test(tc, plan_targets);
    suite_add_tcase(s, tc);
    return check_run(s, 1);
}
