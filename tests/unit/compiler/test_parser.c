/* test_parser.c — the front end from source text to the forward Graph:
 * both programs of LANGUAGE.md section 1, chain starts, argument defaults,
 * layer names, outputs, train block values, and how many errors some bad
 * programs give (their exact wording is tests/golden's job).
 *
 * Each test compiles a string with fe_compile into a Diag writing to a
 * memory stream, then checks numbers in the Graph or the messages.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "frontend/frontend.h"
#include "frontend/sema.h"
#include "check_util.h"

typedef struct {
    Graph *g;
    char *msgs;             /* everything printed to the Diag */
    size_t len;
    int nerrors;
} Result;

static Result compile(const char *src)
{
    Result r = { 0 };
    FILE *f = open_memstream(&r.msgs, &r.len);
    ck_assert_ptr_nonnull(f);
    Diag d;
    diag_init(&d, "t.cnn", src, strlen(src), f);
    r.g = fe_compile(&d, "t.cnn", src, strlen(src));
    r.nerrors = diag_errors(&d);
    fclose(f);
    return r;
}

static void done(Result *r)
{
    ir_free(r->g);
    free(r->msgs);
}

/* compile, insisting on success */
static Graph *good(const char *src, Result *r)
{
    *r = compile(src);
    ck_assert_msg(r->g && r->nerrors == 0, "unexpected errors:\n%s", r->msgs);
    return r->g;
}

static const Node *layer(const Graph *g, const char *name)
{
    for (int i = 0; i < g->nnodes; i++)
        if (g->nodes[i].layer && !strcmp(g->nodes[i].layer, name))
            return &g->nodes[i];
    ck_abort_msg("no layer '%s'", name);
    return NULL;
}

static int out(const Node *n)
{
    return n->out[0];
}

#define EPS 1e-6

static const char lenet[] =
    "# examples/lenet5.cnn — LeNet-5 for 28x28 grayscale images\n"
    "model lenet5 {\n"
    "    input image[1, 28, 28]                      # channels, height, width\n"
    "\n"
    "    conv(6, kernel=5, pad=2) -> relu -> maxpool(2)\n"
    "    conv(16, kernel=5)       -> relu -> maxpool(2)\n"
    "    flatten -> dense(120) -> relu -> dense(84) -> relu -> dense(10) -> softmax\n"
    "}\n"
    "\n"
    "train {\n"
    "    loss      = cross_entropy\n"
    "    optimizer = adam(lr=0.001)\n"
    "    batch     = 64\n"
    "    epochs    = 5\n"
    "    augment   = [flip(p=0.5), mixup(alpha=0.2, p=0.5)]\n"
    "}\n";

START_TEST(test_lenet)
{
    Result r;
    Graph *g = good(lenet, &r);
    static const char *const layers[] = {
        "conv1", "relu1", "maxpool1", "conv2", "relu2", "maxpool2", "flatten1",
        "dense1", "relu3", "dense2", "relu4", "dense3", "softmax1",
    };
    static const int ops[] = {
        OP_conv, OP_relu, OP_maxpool, OP_conv, OP_relu, OP_maxpool, OP_flatten,
        OP_dense, OP_relu, OP_dense, OP_relu, OP_dense, OP_softmax,
    };
    ck_assert_str_eq(g->name, "lenet5");
    ck_assert_int_eq(g->nnodes, 14);
    ck_assert_int_eq(g->nfwd, 13);
    /* the loss is the last node: it reads the output, declares the target */
    ck_assert_int_eq(g->loss_node, 13);
    ck_assert_int_eq(g->nodes[13].op, OP_cross_entropy);
    ck_assert_int_eq(g->nodes[13].in[0], g->outputs[0]);
    ck_assert_int_eq(g->vals[g->target].kind, V_TARGET);
    ck_assert_int_eq(g->vals[g->target].size, 10);
    for (int i = 0; i < 13; i++) {
        ck_assert_str_eq(g->nodes[i].layer, layers[i]);
        ck_assert_int_eq(g->nodes[i].op, ops[i]);
        ck_assert_int_eq(g->nodes[i].nin, 1);
        ck_assert_int_eq(g->nodes[i].in[0], i ? out(&g->nodes[i - 1]) : g->input);
    }
    Shape in = g->vals[g->input].shape;
    ck_assert_int_eq(g->vals[g->input].kind, V_INPUT);
    ck_assert_str_eq(g->vals[g->input].name, "image");
    ck_assert_int_eq(in.rank, 3);
    ck_assert_int_eq(in.d[0] * 10000 + in.d[1] * 100 + in.d[2], 12828);

    const Node *c1 = layer(g, "conv1");
    ck_assert_int_eq(c1->a.filters, 6);
    ck_assert_int_eq(c1->a.k[0], 5);
    ck_assert_int_eq(c1->a.k[1], 5);
    ck_assert_int_eq(c1->a.p[0], 2);
    ck_assert_int_eq(c1->a.s[0], 1);
    ck_assert_int_eq(c1->a.bias, 1);
    ck_assert_int_eq(c1->loc.line, 5);
    ck_assert_int_eq(c1->loc.col, 5);
    ck_assert_int_eq(c1->loc.endcol, 8);
    const Node *m = layer(g, "maxpool2");
    ck_assert_int_eq(m->a.k[0], 2);
    ck_assert_int_eq(m->a.s[1], 2);
    ck_assert_int_eq(layer(g, "dense2")->a.filters, 84);
    ck_assert_int_eq(g->vals[out(layer(g, "flatten1"))].shape.d[0], 400);

    ck_assert_int_eq(g->noutputs, 1);
    ck_assert_int_eq(g->outputs[0], out(layer(g, "softmax1")));

    TrainCfg *t = &g->train;
    ck_assert_int_eq(t->present, 1);
    ck_assert_int_eq(t->loss, OP_cross_entropy);
    ck_assert_int_eq(t->opt, OPT_ADAM);
    ck_assert_float_eq_tol(t->lr, 0.001, EPS);
    ck_assert_float_eq_tol(t->beta1, 0.9, EPS);
    ck_assert_float_eq_tol(t->beta2, 0.999, EPS);
    ck_assert_float_eq_tol(t->eps, 1e-8, 1e-12);
    ck_assert_int_eq(t->batch, 64);
    ck_assert_int_eq(g->batch, 64);
    ck_assert_int_eq(t->epochs, 5);
    ck_assert_int_eq(t->seed, 0);
    ck_assert_int_eq(t->naug, 2);
    ck_assert_int_eq(t->aug[0].kind, AUG_FLIP);
    ck_assert_float_eq_tol(t->aug[0].f[0], 0.5, EPS);
    ck_assert_int_eq(t->aug[1].kind, AUG_MIXUP);
    ck_assert_float_eq_tol(t->aug[1].f[0], 0.2, EPS);
    ck_assert_float_eq_tol(t->aug[1].f[1], 0.5, EPS);
    done(&r);
}
END_TEST

static const char neck[] =
    "model tiny_neck {\n"
    "    input image[3, 64, 64]\n"
    "    c1 = conv(16, kernel=3, stride=2, pad=1) -> batchnorm -> silu\n"
    "    c2 = conv(32, kernel=3, stride=2, pad=1) -> batchnorm -> silu\n"
    "    c3 = conv(64, kernel=3, stride=2, pad=1) -> batchnorm -> silu\n"
    "    up = c3 -> conv(32, kernel=1) -> upsample(2)\n"
    "    p2 = concat(up, c2) -> conv(32, kernel=3, pad=1) -> leaky_relu(0.1)\n"
    "    r  = add(p2, c2) -> global_avgpool -> flatten -> dense(4) -> sigmoid\n"
    "    output r\n"
    "}\n"
    "\n"
    "train {\n"
    "    loss      = bce\n"
    "    optimizer = sgd(lr=0.01, momentum=0.9, weight_decay=0.0005)\n"
    "    batch     = 16\n"
    "}\n";

START_TEST(test_neck)
{
    Result r;
    Graph *g = good(neck, &r);
    static const char *const layers[] = {
        "c1.0", "c1.1", "c1.2", "c2.0", "c2.1", "c2.2", "c3.0", "c3.1", "c3.2",
        "up", "up.1", "p2.0", "p2", "p2.2", "r.0", "r.1", "r.2", "r", "r.4",
    };
    ck_assert_int_eq(g->nnodes, 20);     /* and the bce loss */
    ck_assert_int_eq(g->nodes[19].op, OP_bce);
    for (int i = 0; i < 19; i++)
        ck_assert_str_eq(g->nodes[i].layer, layers[i]);

    /* up starts from c3 by name; c1 from the input */
    ck_assert_int_eq(layer(g, "c1.0")->in[0], g->input);
    ck_assert_int_eq(layer(g, "up")->in[0], out(layer(g, "c3.2")));
    const Node *cat = layer(g, "p2.0");
    ck_assert_int_eq(cat->op, OP_concat);
    ck_assert_int_eq(cat->nin, 2);
    ck_assert_int_eq(cat->in[0], out(layer(g, "up.1")));
    ck_assert_int_eq(cat->in[1], out(layer(g, "c2.2")));
    const Node *add = layer(g, "r.0");
    ck_assert_int_eq(add->op, OP_add);
    ck_assert_int_eq(add->nin, 2);
    ck_assert_int_eq(add->in[0], out(layer(g, "p2.2")));
    ck_assert_int_eq(add->in[1], out(layer(g, "c2.2")));
    ck_assert_float_eq_tol(layer(g, "p2.2")->a.alpha, 0.1, EPS);
    ck_assert_int_eq(layer(g, "c1.0")->a.s[0], 2);
    ck_assert_int_eq(g->noutputs, 1);
    ck_assert_int_eq(g->outputs[0], out(layer(g, "r.4")));

    TrainCfg *t = &g->train;
    ck_assert_int_eq(t->loss, OP_bce);
    ck_assert_int_eq(t->opt, OPT_SGD);
    ck_assert_float_eq_tol(t->lr, 0.01, EPS);
    ck_assert_float_eq_tol(t->momentum, 0.9, EPS);
    ck_assert_float_eq_tol(t->wd, 0.0005, EPS);
    ck_assert_int_eq(t->nesterov, 0);
    ck_assert_int_eq(t->batch, 16);
    ck_assert_int_eq(t->epochs, 10);
    ck_assert_int_eq(t->naug, 0);
    done(&r);
}
END_TEST

START_TEST(test_defaults)
{
    Result r;
    Graph *g = good(
        "model d {\n"
        "  input x[4, 32, 32]\n"
        "  a = conv(8) -> leaky_relu -> prelu -> batchnorm -> dropout -> upsample\n"
        "  b = a -> maxpool(3) -> maxpool(2, 1) -> avgpool([2, 3]) -> avgpool(2, pad=1)\n"
        "  c = a -> conv(4, kernel=[3, 5], stride=[1, 2], pad=[1, 2], bias=false, groups=2,\n"
        "                dilation=2, init=he)\n"
        "  e = a -> conv(4, 5, 1, same, false, 1, 1, zeros) -> flatten\n"
        "    -> dense(5, bias=false, init=xavier) -> dense(units=2)\n"
        "  f = a -> leaky_relu(-0.5) -> dropout(p=.25) -> batchnorm(0.2, 1e-3) -> prelu(0)\n"
        "  output b, c, e, f\n"
        "}\n", &r);
    const Node *n = layer(g, "a.0");
    ck_assert_int_eq(n->a.filters, 8);
    ck_assert_int_eq(n->a.k[0] * 10 + n->a.k[1], 33);
    ck_assert_int_eq(n->a.s[0] * 10 + n->a.s[1], 11);
    ck_assert_int_eq(n->a.p[0] * 10 + n->a.p[1], 0);
    ck_assert_int_eq(n->a.d[0] * 10 + n->a.d[1], 11);
    ck_assert_int_eq(n->a.bias, 1);
    ck_assert_int_eq(n->a.groups, 1);
    ck_assert_int_eq(n->a.init, 0);
    ck_assert_int_eq(n->a.same, 0);
    ck_assert_float_eq_tol(layer(g, "a.1")->a.alpha, 0.01, EPS);
    ck_assert_float_eq_tol(layer(g, "a.2")->a.slope, 0.25, EPS);
    ck_assert_float_eq_tol(layer(g, "a.3")->a.momentum, 0.1, EPS);
    ck_assert_float_eq_tol(layer(g, "a.3")->a.eps, 1e-5, 1e-9);
    ck_assert_float_eq_tol(layer(g, "a.4")->a.drop, 0.5, EPS);
    ck_assert_int_eq(layer(g, "a.5")->a.factor, 2);

    ck_assert_int_eq(layer(g, "b.0")->a.s[0] * 10 + layer(g, "b.0")->a.s[1], 33);
    ck_assert_int_eq(layer(g, "b.1")->a.s[0] * 10 + layer(g, "b.1")->a.s[1], 11);
    n = layer(g, "b.2");
    ck_assert_int_eq(n->a.k[0] * 10 + n->a.k[1], 23);
    ck_assert_int_eq(n->a.s[0] * 10 + n->a.s[1], 23);
    ck_assert_int_eq(layer(g, "b.3")->a.p[1], 1);

    n = layer(g, "c");
    ck_assert_int_eq(n->a.k[0] * 10 + n->a.k[1], 35);
    ck_assert_int_eq(n->a.s[0] * 10 + n->a.s[1], 12);
    ck_assert_int_eq(n->a.p[0] * 10 + n->a.p[1], 12);
    ck_assert_int_eq(n->a.d[0] * 10 + n->a.d[1], 22);
    ck_assert_int_eq(n->a.bias, 0);
    ck_assert_int_eq(n->a.groups, 2);
    ck_assert_int_eq(n->a.init, CNNRT_INIT_HE);

    n = layer(g, "e.0");            /* three layers with parameters */
    ck_assert_int_eq(n->a.k[0], 5);
    ck_assert_int_eq(n->a.same, 1);
    ck_assert_int_eq(n->a.bias, 0);
    ck_assert_int_eq(n->a.init, CNNRT_INIT_ZEROS);
    ck_assert_int_eq(layer(g, "e.2")->a.init, CNNRT_INIT_XAVIER);
    ck_assert_int_eq(layer(g, "e.2")->a.bias, 0);
    ck_assert_int_eq(layer(g, "e.3")->a.filters, 2);

    ck_assert_float_eq_tol(layer(g, "f.0")->a.alpha, -0.5, EPS);
    ck_assert_float_eq_tol(layer(g, "f.1")->a.drop, 0.25, EPS);
    ck_assert_float_eq_tol(layer(g, "f.2")->a.momentum, 0.2, EPS);
    ck_assert_float_eq_tol(layer(g, "f.2")->a.eps, 1e-3, 1e-9);
    ck_assert_float_eq_tol(layer(g, "f.3")->a.slope, 0, EPS);
    ck_assert_int_eq(g->noutputs, 4);
    ck_assert_int_eq(g->outputs[3], out(layer(g, "f.3")));
    done(&r);
}
END_TEST

/* Counters run over the whole model, named layers included, and skip a
 * name that a tensor has. */
START_TEST(test_layer_names)
{
    Result r;
    Graph *g = good(
        "model n {\n"
        "  input x[3, 16, 16]\n"
        "  conv(4) -> relu\n"               /* conv1 relu1 */
        "  a = conv(4) -> relu\n"           /* a a.1 */
        "  conv(4)\n"                       /* conv3 */
        "  conv4 = relu\n"                  /* conv4.0 */
        "  conv(4) -> relu\n"               /* conv5 (conv4 is taken) relu4 */
        "  b = conv(4) -> batchnorm -> relu\n"  /* b.0 b.1 b.2 */
        "  c = b -> relu -> prelu\n"        /* c.0 c */
        "  relu; relu\n"                    /* relu7 relu8 */
        "}\n", &r);
    static const char *const want[] = {
        "conv1", "relu1", "a", "a.1", "conv3", "conv4.0", "conv5", "relu4",
        "b.0", "b.1", "b.2", "c.0", "c", "relu7", "relu8",
    };
    ck_assert_int_eq(g->nnodes, 15);
    for (int i = 0; i < 15; i++)
        ck_assert_str_eq(g->nodes[i].layer, want[i]);
    /* parameters are named after the layer */
    int found = 0;
    for (int i = 0; i < g->nparams; i++)
        found += !strcmp(g->params[i].name, "a.weight") + !strcmp(g->params[i].name, "c.weight");
    ck_assert_int_eq(found, 2);
    done(&r);
}
END_TEST

START_TEST(test_chain_starts)
{
    Result r;
    Graph *g = good(
        "model s {\n"
        "  input x[3, 8, 8]\n"
        "  a = conv(4, pad=1)\n"             /* from the input */
        "  b = x -> conv(4, pad=1)\n"        /* from x by name */
        "  relu\n"                           /* from b */
        "  y = a -> conv(4, pad=1) -> add(a)\n"  /* the chain's value and a */
        "  z = y\n"                         /* another name for y */
        "  c = concat(a, b, z) -> concat(a)\n"
        "  output c, z; output_is_not_a_keyword = c -> relu\n"
        "}\n", &r);
    ck_assert_int_eq(layer(g, "a")->in[0], g->input);
    ck_assert_int_eq(layer(g, "b")->in[0], g->input);
    ck_assert_int_eq(layer(g, "relu1")->in[0], out(layer(g, "b")));
    const Node *add = layer(g, "y.1");
    ck_assert_int_eq(add->nin, 2);
    ck_assert_int_eq(add->in[0], out(layer(g, "y")));
    ck_assert_int_eq(add->in[1], out(layer(g, "a")));
    const Node *cat = layer(g, "c.0");
    ck_assert_int_eq(cat->nin, 3);
    ck_assert_int_eq(cat->in[2], out(add));
    const Node *cat2 = layer(g, "c.1");
    ck_assert_int_eq(cat2->nin, 2);
    ck_assert_int_eq(cat2->in[0], out(cat));
    ck_assert_int_eq(g->vals[out(cat2)].shape.d[0], 4 + 4 + 4 + 4);
    ck_assert_int_eq(g->noutputs, 2);
    ck_assert_int_eq(g->outputs[0], out(cat2));
    ck_assert_int_eq(g->outputs[1], out(add));
    done(&r);
}
END_TEST

/* without `output`, the last statement's result; no train block: defaults */
START_TEST(test_default_output_no_train)
{
    Result r;
    Graph *g = good("model o { input v[10]; a = dense(4); b = v -> dense(3); a -> relu }", &r);
    ck_assert_int_eq(g->noutputs, 1);
    ck_assert_int_eq(g->outputs[0], out(layer(g, "relu1")));
    ck_assert_int_eq(g->vals[g->input].shape.rank, 1);
    ck_assert_int_eq(g->train.present, 0);
    ck_assert_int_eq(g->train.loss, -1);
    ck_assert_int_eq(g->train.batch, 32);
    ck_assert_int_eq(g->batch, 32);
    ck_assert_int_eq(g->train.epochs, 10);
    done(&r);
}
END_TEST

#define MODEL "model m { input x[3, 8, 8]; flatten -> dense(2) -> softmax }\n"

START_TEST(test_optimizers)
{
    Result r;
    TrainCfg *t = &good(MODEL "train { loss = mse; optimizer = adagrad }", &r)->train;
    ck_assert_int_eq(t->opt, OPT_ADAGRAD);
    ck_assert_float_eq_tol(t->lr, 0.01, EPS);
    ck_assert_float_eq_tol(t->eps, 1e-10, 1e-14);
    ck_assert_float_eq_tol(t->wd, 0, EPS);
    done(&r);
    t = &good(MODEL "train { loss = mse optimizer = rmsprop(weight_decay=0.1) seed = 7 }",
              &r)->train;
    ck_assert_int_eq(t->opt, OPT_RMSPROP);
    ck_assert_float_eq_tol(t->lr, 0.01, EPS);
    ck_assert_float_eq_tol(t->rho, 0.99, EPS);
    ck_assert_float_eq_tol(t->eps, 1e-8, 1e-12);
    ck_assert_float_eq_tol(t->wd, 0.1, EPS);
    ck_assert_int_eq(t->seed, 7);
    done(&r);
    t = &good(MODEL "train { loss = mse optimizer = adam(0.01, 0.8, beta2=0.99) }", &r)->train;
    ck_assert_int_eq(t->opt, OPT_ADAM);
    ck_assert_float_eq_tol(t->lr, 0.01, EPS);
    ck_assert_float_eq_tol(t->beta1, 0.8, EPS);
    ck_assert_float_eq_tol(t->beta2, 0.99, EPS);
    done(&r);
    t = &good(MODEL "train { loss = cross_entropy optimizer = sgd(lr=0.1, momentum=0.5, "
              "nesterov=true) batch = 1000000 epochs = 1 }", &r)->train;
    ck_assert_int_eq(t->opt, OPT_SGD);
    ck_assert_float_eq_tol(t->momentum, 0.5, EPS);
    ck_assert_int_eq(t->nesterov, 1);
    ck_assert_int_eq(t->batch, 1000000);
    ck_assert_int_eq(t->epochs, 1);
    ck_assert_int_eq(t->loss, OP_cross_entropy);
    done(&r);
    /* a train block without an optimizer gets adam's defaults */
    t = &good(MODEL "train { loss = mse }", &r)->train;
    ck_assert_int_eq(t->opt, OPT_ADAM);
    ck_assert_float_eq_tol(t->lr, 0.001, EPS);
    ck_assert_int_eq(t->loss, OP_mse);
    done(&r);
}
END_TEST

START_TEST(test_augment)
{
    Result r;
    TrainCfg *t = &good(MODEL "train { loss = mse; augment = [flip, crop, hsv, mosaic, mixup,"
                        " crop(2), mosaic(0.5, [0.25, 2]), hsv(s=0.5)] }", &r)->train;
    static const int kinds[] = { AUG_FLIP, AUG_CROP, AUG_HSV, AUG_MOSAIC, AUG_MIXUP,
                                 AUG_CROP, AUG_MOSAIC, AUG_HSV };
    static const float f[][3] = {
        { 0.5 }, { 4 }, { 0.015, 0.7, 0.4 }, { 1.0, 0.5, 1.5 }, { 0.2, 1.0 },
        { 2 }, { 0.5, 0.25, 2 }, { 0.015, 0.5, 0.4 },
    };
    ck_assert_int_eq(t->naug, 8);
    for (int i = 0; i < 8; i++) {
        ck_assert_int_eq(t->aug[i].kind, kinds[i]);
        for (int k = 0; k < 3; k++)
            ck_assert_float_eq_tol(t->aug[i].f[k], f[i][k], EPS);
    }
    done(&r);
    t = &good(MODEL "train { loss = mse; augment = mixup(p=0.5) }", &r)->train;
    ck_assert_int_eq(t->naug, 1);
    ck_assert_float_eq_tol(t->aug[0].f[1], 0.5, EPS);
    done(&r);
}
END_TEST

/* bad programs: no Graph, and this many errors */
START_TEST(test_error_counts)
{
    static const struct {
        const char *src;
        int nerrors;
        const char *first;          /* in the first message */
    } cases[] = {
        { "model m { input x[4]\n conv(6 kernel=5)\n relu -> -> relu }", 2,
          "expected ',' or ')'" },
        { "model m { input x[4]\n dense(3) -> rleu }", 1, "unknown op 'rleu'" },
        { "model m { input x[4]\n dense(3, unit=3) }", 1, "no argument 'unit'" },
        { "model m { input x[1, 8, 8]\n dense(3) }", 1, "dense needs a flat input" },
        { "model m { input x[4]\n a = dense(3)\n a = relu\n output b }", 2, "redefinition" },
        { "model m { input x[4]\n relu = dense(3) }", 1, "'relu' is an op name" },
        { "model m { dense(3) }", 1, "has no input" },
        { "model m { input x[4]; dense(3) }\ntrain { loss = cross_entropy }", 1,
          "needs a model that ends in softmax" },
        { "model m { input x[4]; dense(3) -> sigmoid }\ntrain { loss = bce; batch = 0; "
          "optimizer = sgd }", 2, "'batch' must be at least 1" },
        { "", 1, "no model" },
        { "model m { input x[4]; dense(99999999999) }", 1, "too large" },
        { "model m {\n input x[4]\n dense(3)\n", 1, "missing '}'" },
        { "model m { input x[3, 8, 8]; a = conv(2); b = x -> conv(3, stride=2); add(a, b) }", 1,
          "add needs equal shapes" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        Result r = compile(cases[i].src);
        ck_assert_msg(r.g == NULL, "case %zu: a graph despite errors", i);
        ck_assert_msg(r.nerrors == cases[i].nerrors && strstr(r.msgs, cases[i].first),
                      "case %zu: %d errors, expected %d with '%s':\n%s", i, r.nerrors,
                      cases[i].nerrors, cases[i].first, r.msgs);
        done(&r);
    }
}
END_TEST

/* no input crashes the front end (it must report, and return) */
START_TEST(test_no_crash)
{
    char *buf = malloc(300000);
    /* deep nesting of every bracket */
    static const char *opens[] = { "(", "[", "{", "->", "=", "," };
    for (int k = 0; k < 6; k++) {
        int n = sprintf(buf, "model m { input x[4]\n dense");
        for (int i = 0; i < 5000; i++)
            n += sprintf(buf + n, "%s", opens[k]);
        Result r = compile(buf);
        ck_assert_ptr_null(r.g);
        ck_assert_int_ge(r.nerrors, 1);
        done(&r);
    }
    /* many statements and names */
    int n = sprintf(buf, "model m { input x[4]\n");
    for (int i = 0; i < 5000; i++)
        n += sprintf(buf + n, "t%d = relu\n", i);
    sprintf(buf + n, "output t4999 }\n");
    Result r = compile(buf);
    ck_assert_msg(r.g != NULL, "%s", r.msgs);
    ck_assert_int_eq(r.g->nnodes, 5000);
    done(&r);
    /* every byte value once, and an embedded NUL */
    for (int i = 0; i < 256; i++)
        buf[i] = (char)(i + 1);
    r = compile(buf);               /* strlen stops at the 255th byte */
    ck_assert_ptr_null(r.g);
    done(&r);
    free(buf);
}
END_TEST

/* Past the error cap, errors are only counted: 100,000 bad lines take no
 * longer than good ones (the test's timeout catches quadratic work). */
START_TEST(test_many_errors)
{
    enum { N = 100000 };
    char *buf = malloc(N * 32 + 100);
    static const char *const lines[] = { "a%d = zz%d -> relu\n", "conv(6 7) -> x%d%d\n" };
    for (int k = 0; k < 2; k++) {
        int n = sprintf(buf, "model m {\n input x[4]\n");
        for (int i = 0; i < N; i++)
            n += sprintf(buf + n, lines[k], i, i);
        strcpy(buf + n, "}\n");
        Result r = compile(buf);
        ck_assert_ptr_null(r.g);
        ck_assert_int_eq(r.nerrors, N);
        ck_assert_int_le(r.len, 4000);          /* 20 errors and the cap line */
        done(&r);
    }
    free(buf);
}
END_TEST

static int write_file(const char *path, const char *data, long len)
{
    FILE *f = fopen(path, "wb");
    if (!f)
        return -1;
    fwrite(data, 1, len, f);
    return fclose(f);
}

START_TEST(test_read_file)
{
    char dir[] = "/tmp/cnnc-read-XXXXXX";
    ck_assert_ptr_nonnull(mkdtemp(dir));
    char path[64], *msgs = NULL, *src;
    size_t mlen;
    long len;
    snprintf(path, sizeof path, "%s/a.cnn", dir);
    FILE *f = open_memstream(&msgs, &mlen);
    Diag d;
    diag_init(&d, path, NULL, 0, f);

    ck_assert_int_eq(write_file(path, lenet, strlen(lenet)), 0);
    ck_assert_int_eq(fe_read_file(&d, path, &src, &len), 0);
    ck_assert_int_eq(len, (long)strlen(lenet));
    ck_assert_str_eq(src, lenet);
    free(src);

    ck_assert_int_eq(write_file(path, "model m {\0}", 11), 0);
    ck_assert_int_ne(fe_read_file(&d, path, &src, &len), 0);
    ck_assert_ptr_null(src);
    ck_assert_int_ne(fe_read_file(&d, dir, &src, &len), 0);
    unlink(path);
    ck_assert_int_ne(fe_read_file(&d, path, &src, &len), 0);
    rmdir(dir);
    fclose(f);
    ck_assert_int_eq(d.nerrors, 3);
    ck_assert_msg(strstr(msgs, "looks like a binary file") && strstr(msgs, "is a directory") &&
                  strstr(msgs, "No such file"), "%s", msgs);
    free(msgs);
}
END_TEST

/* every argument of every op lands somewhere: ops.def has its ATTR row,
 * and the row's field is what the parser fills (conv's stride) */
START_TEST(test_attr_rows)
{
    for (int op = 0; op < NOPS; op++) {
        ArgSpec spec[MAX_ARGS];
        int n = args_spec(ir_ops[op].args, spec);
        for (int i = 0; i < n; i++)
            ck_assert_msg(args_attr_has(op, spec[i].key), "%s(%s=...) has no ATTR row in ops.def",
                          ir_ops[op].name, spec[i].key);
    }
    ck_assert(!args_attr_has(OP_conv, "units"));
    Result r;
    Graph *g = good("model m { input x[3, 8, 8]\n conv(4, kernel=[3, 1], stride=[1, 2], pad=1, dilation=1)\n"
                    " dropout(0.25) }", &r);
    ck_assert_int_eq(g->nodes[0].a.filters, 4);
    ck_assert_int_eq(g->nodes[0].a.k[0], 3);
    ck_assert_int_eq(g->nodes[0].a.k[1], 1);
    ck_assert_int_eq(g->nodes[0].a.s[1], 2);
    ck_assert_int_eq(g->nodes[0].a.p[0], 1);
    ck_assert_int_eq(g->nodes[0].a.s[0], 1);
    ck_assert(g->nodes[1].a.drop == 0.25f);
    done(&r);
}
END_TEST

int main(void)
{

    Suite *s = suite_create("parser");
    TCase *tc = tcase_create("frontend");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_lenet);
    tcase_add_test(tc, test_neck);
    tcase_add_test(tc, test_defaults);
    tcase_add_test(tc, test_layer_names);
    tcase_add_test(tc, test_chain_starts);
    tcase_add_test(tc, test_default_output_no_train);
    tcase_add_test(tc, test_optimizers);
    tcase_add_test(tc, test_augment);
    tcase_add_test(tc, test_error_counts);
    tcase_add_test(tc, test_no_crash);
    tcase_add_test(tc, test_many_errors);
    tcase_add_test(tc, test_read_file);
    tcase_add_test(tc, test_attr_rows);
    suite_add_tcase(s, tc);
    return check_run(s, 1);
}
