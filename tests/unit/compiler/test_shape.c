/* test_shape.c — shape inference and parameter shapes, op by op, with the
 * formulas of LANGUAGE.md section 4 worked out by hand; parameter counts
 * of the spec's programs as PyTorch reports them; impossible shapes are
 * refused with the right message.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "frontend/frontend.h"
#include "check_util.h"

static char errbuf[8192];

/* compile src; NULL on errors (their text in errbuf) */
static Graph *compile(const char *src)
{
    return check_compile(src, errbuf, sizeof errbuf);
}

/* the output shape of the node named `layer`, as "[C,H,W]" */
static const char *shape_of(Graph *g, const char *layer)
{
    static char b[64];
    for (int i = 0; i < g->nnodes; i++)
        if (g->nodes[i].layer && strcmp(g->nodes[i].layer, layer) == 0) {
            ir_shape_str(g->vals[g->nodes[i].out[0]].shape, b, sizeof b);
            return b;
        }
    return "(no such layer)";
}

static long nparams(Graph *g)
{
    long s = 0;
    for (int i = 0; i < g->nparams; i++)
        if (g->params[i].learned)
            s += g->params[i].size;
    return s;
}

static const Param *param(Graph *g, const char *name)
{
    for (int i = 0; i < g->nparams; i++)
        if (strcmp(g->params[i].name, name) == 0)
            return &g->params[i];
    return NULL;
}

#define SHAPE(src, layer, want) do {                                   \
        Graph *g_ = compile(src);                                      \
        ck_assert_msg(g_ != NULL, "did not compile: %s", errbuf);      \
        ck_assert_str_eq(shape_of(g_, layer), want);                   \
        ir_free(g_);                                                   \
    } while (0)

#define REFUSED(src, msg) do {                                         \
        Graph *g_ = compile(src);                                      \
        ck_assert_msg(g_ == NULL, "accepted: %s", src);                \
        ck_assert_msg(strstr(errbuf, msg) != NULL, "expected '%s' in:\n%s", msg, errbuf); \
    } while (0)

START_TEST(conv_formula)
{
    /* H2 = (H1 + 2P - D(K-1) - 1)/S + 1 */
    SHAPE("model m { input x[3, 32, 32]\n conv(8, kernel=5) }", "conv1", "[8,28,28]");
    SHAPE("model m { input x[3, 32, 32]\n conv(8, kernel=5, stride=2, pad=1, dilation=2) }",
          "conv1", "[8,13,13]");             /* (32+2-8-1)/2+1 = 13 */
    SHAPE("model m { input x[3, 9, 11]\n conv(4, kernel=[3, 5], stride=2, pad=[1, 2]) }",
          "conv1", "[4,5,6]");               /* (9+2-3)/2+1, (11+4-5)/2+1 */
    SHAPE("model m { input x[4, 7, 7]\n conv(6, kernel=3, pad=same, groups=2) }", "conv1", "[6,7,7]");
    SHAPE("model m { input x[4, 7, 7]\n conv(6, kernel=3, pad=same, dilation=3) }", "conv1", "[6,7,7]");
    SHAPE("model m { input x[1, 5, 5]\n conv(2, kernel=5) }", "conv1", "[2,1,1]");
    SHAPE("model m { input x[1, 28, 28]\n conv(6, kernel=5, pad=2) }", "conv1", "[6,28,28]");
}
END_TEST

START_TEST(conv_params)
{
    Graph *g = compile("model m { input x[4, 8, 8]\n conv(6, kernel=[3, 2], groups=2)\n"
                       " conv(6, kernel=1, bias=false) }");
    ck_assert_msg(g != NULL, "%s", errbuf);
    const Param *w = param(g, "conv1.weight");
    ck_assert(w != NULL);
    ck_assert_int_eq(w->rank, 4);
    ck_assert_int_eq(w->shape[0], 6);
    ck_assert_int_eq(w->shape[1], 2);        /* C/groups */
    ck_assert_int_eq(w->shape[2], 3);
    ck_assert_int_eq(w->shape[3], 2);
    ck_assert_int_eq(w->fan_in, 2 * 3 * 2);
    ck_assert(param(g, "conv1.bias") != NULL);
    ck_assert(param(g, "conv2.bias") == NULL);
    ck_assert_int_eq(nparams(g), 6 * 2 * 3 * 2 + 6 + 6 * 6);
    ir_free(g);
}
END_TEST

START_TEST(pool_formulas)
{
    SHAPE("model m { input x[3, 28, 28]\n maxpool(2) }", "maxpool1", "[3,14,14]");
    SHAPE("model m { input x[3, 7, 7]\n maxpool(2) }", "maxpool1", "[3,3,3]");       /* floor */
    SHAPE("model m { input x[3, 12, 10]\n maxpool(3, stride=2, pad=1) }", "maxpool1", "[3,6,5]");
    SHAPE("model m { input x[3, 6, 6]\n avgpool(2, pad=1) }", "avgpool1", "[3,4,4]");
    SHAPE("model m { input x[3, 6, 6]\n avgpool([2, 3], stride=[1, 3]) }", "avgpool1", "[3,5,2]");
    SHAPE("model m { input x[5, 9, 4]\n global_avgpool }", "global_avgpool1", "[5,1,1]");
}
END_TEST

START_TEST(other_ops)
{
    SHAPE("model m { input x[3, 4, 5]\n flatten }", "flatten1", "[60]");
    SHAPE("model m { input x[60]\n dense(7) }", "dense1", "[7]");
    SHAPE("model m { input x[3, 4, 5]\n upsample(3) }", "upsample1", "[3,12,15]");
    SHAPE("model m { input x[3, 4, 5]\n upsample }", "upsample1", "[3,8,10]");
    SHAPE("model m { input x[3, 4, 5]\n softmax }", "softmax1", "[3,4,5]");
    SHAPE("model m { input x[3, 4, 5]\n a = conv(2, kernel=1)\n b = x -> conv(5, kernel=1)\n"
          " c = concat(a, b, x) }", "c.0", "[10,4,5]");
    SHAPE("model m { input x[3, 4, 5]\n a = relu\n b = x -> tanh\n c = add(a, b) }", "c.0", "[3,4,5]");
    Graph *g = compile("model m { input x[3, 4, 5]\n batchnorm -> prelu -> flatten -> dense(2) -> batchnorm }");
    ck_assert_msg(g != NULL, "%s", errbuf);
    ck_assert(param(g, "batchnorm1.running_var") != NULL);
    ck_assert_int_eq(param(g, "prelu1.weight")->size, 3);
    ck_assert_int_eq(param(g, "batchnorm2.weight")->size, 2);
    ck_assert(!param(g, "batchnorm1.running_mean")->learned);
    ir_free(g);
}
END_TEST

/* LeNet-5 as PyTorch counts it: 61,706 parameters */
START_TEST(lenet_params)
{
    const char *src = check_slurp("examples/lenet5.cnn");
    ck_assert(src != NULL);
    Graph *g = compile(src);
    ck_assert_msg(g != NULL, "%s", errbuf);
    ck_assert_int_eq(nparams(g), 61706);
    ck_assert_str_eq(shape_of(g, "conv2"), "[16,10,10]");
    ck_assert_str_eq(shape_of(g, "maxpool2"), "[16,5,5]");
    ck_assert_str_eq(shape_of(g, "flatten1"), "[400]");
    const char *names[] = { "conv1.weight", "conv1.bias", "conv2.weight", "conv2.bias",
                            "dense1.weight", "dense1.bias", "dense2.weight", "dense2.bias",
                            "dense3.weight", "dense3.bias" };
    ck_assert_int_eq(g->nparams, 10);
    for (int i = 0; i < 10; i++)
        ck_assert_str_eq(g->params[i].name, names[i]);
    long macs = 0;
    for (int i = 0; i < g->nnodes; i++)
        macs += ir_node_macs(g, i);
    /* 6*28*28*25 + 16*10*10*150 + 400*120 + 120*84 + 84*10 */
    ck_assert_int_eq(macs, 117600 + 240000 + 48000 + 10080 + 840);
    ir_free(g);
}
END_TEST

/* tiny_neck: named layers and PyTorch's nn.Sequential-style names */
START_TEST(neck_names)
{
    const char *src = check_slurp("examples/tiny_neck.cnn");
    ck_assert(src != NULL);
    Graph *g = compile(src);
    ck_assert_msg(g != NULL, "%s", errbuf);
    ck_assert(param(g, "c1.0.weight") && param(g, "c1.1.running_var"));
    ck_assert(param(g, "up.weight") && param(g, "p2.weight") && param(g, "r.weight"));
    ck_assert_str_eq(shape_of(g, "up.1"), "[32,16,16]");
    /* 16*3*9+16 + 4*16 | 32*16*9+32 + 4*32 | 64*32*9+64 + 4*64 | 32*64+32 | 32*64*9+32 | 32*4+4 */
    long want = (432 + 16 + 32) + (4608 + 32 + 64) + (18432 + 64 + 128) + (2048 + 32) +
                (18432 + 32) + (128 + 4);
    ck_assert_int_eq(nparams(g), want);
    ir_free(g);
}
END_TEST

START_TEST(impossible_shapes)
{
    REFUSED("model m { input x[3, 4, 4]\n conv(2, kernel=5) }", "kernel 5 is larger than the input size 4");
    REFUSED("model m { input x[3, 4, 4]\n conv(2, kernel=3, dilation=3) }", "kernel 7 is larger");
    REFUSED("model m { input x[3, 4, 4]\n dense(3) }", "dense needs a flat input: add flatten");
    REFUSED("model m { input x[3, 4, 4]\n a = relu\n b = x -> conv(5, kernel=1)\n c = add(a, b) }",
            "add needs equal shapes: [3,4,4] vs [5,4,4]");
    REFUSED("model m { input x[3, 4, 4]\n a = relu\n b = x -> maxpool(2)\n c = concat(a, b) }",
            "concat needs equal heights and widths");
    REFUSED("model m { input x[3, 4, 4]\n conv(4, groups=2, pad=1) }", "groups=2 must divide");
    REFUSED("model m { input x[12]\n maxpool(2) }", "maxpool needs a [C, H, W] input, got [12]");
    REFUSED("model m { input x[3, 4, 4]\n maxpool(5) }", "window 5 is larger than the input size 4");
    REFUSED("model m { input x[3, 4, 4]\n maxpool(2, pad=2) }", "at most half");
    REFUSED("model m { input x[3, 4, 4]\n conv(4, kernel=2, pad=same) }", "odd kernel");
    REFUSED("model m { input x[3, 4, 4]\n conv(4, stride=2, pad=same) }", "stride 1");
    REFUSED("model m { input x[3, 60000, 60000]\n upsample(100) }", "too large");
    REFUSED("model m { input x[1000000, 1000, 1000]\n relu }", "");
}
END_TEST

START_TEST(one_error_not_cascades)
{
    Graph *g = compile("model m { input x[3, 4, 4]\n dense(3) -> relu -> dense(2) -> softmax }");
    ck_assert(g == NULL);
    ck_assert_ptr_nonnull(strstr(errbuf, "dense needs a flat input"));
    ck_assert_ptr_null(strstr(strstr(errbuf, "dense needs a flat input") + 10, "error:"));
}
END_TEST

int main(void)
{
    Suite *s = suite_create("shape");
    TCase *tc = tcase_create("shapes");
    tcase_add_test(tc, conv_formula);
    tcase_add_test(tc, conv_params);
    tcase_add_test(tc, pool_formulas);
    tcase_add_test(tc, other_ops);
    tcase_add_test(tc, lenet_params);
    tcase_add_test(tc, neck_names);
    tcase_add_test(tc, impossible_shapes);
    tcase_add_test(tc, one_error_not_cascades);
    suite_add_tcase(s, tc);
    return check_run(s, 1);
}
