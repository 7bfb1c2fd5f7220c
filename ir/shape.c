/* shape.c — shape inference: one shape_NAME function per op of ops.def.
 *
 * Each computes the per-sample output shape from the node's inputs and
 * attributes, creates the node's parameters (with PyTorch's layouts) the
 * first time it runs, and reports what is impossible at the node's source
 * location.  Shapes are [C, H, W] or [N]; the batch is implicit.  A rank-0
 * shape means "unknown after an earlier error" and silences the nodes that
 * consume it, so one mistake is reported once.
 *
 * Node layouts set here (autodiff and the emitter rely on them):
 *   conv      in x;   par weight [F, C/g, KH, KW], bias [F] (optional)
 *   dense     in x;   par weight [U, N], bias [U] (optional)
 *   prelu     in x;   par slope [C]
 *   batchnorm in x;   par scale, shift, running mean, running var [C]
 *   concat    in x0, x1, ...;  add  in a, b
 * and every node writes its result as out[0].
 */
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include "ir.h"

#define MAX_SAMPLE_FLOATS ((long)INT_MAX)

void ir_shape_str(Shape s, char *buf, int len)
{
    if (s.rank == 1)
        snprintf(buf, len, "[%d]", s.d[0]);
    else if (s.rank == 3)
        snprintf(buf, len, "[%d,%d,%d]", s.d[0], s.d[1], s.d[2]);
    else
        snprintf(buf, len, "[?]");
}

static Shape shape3(long c, long h, long w)
{
    Shape s = { 3, { (int)c, (int)h, (int)w } };
    return s;
}

static Shape shape1(long n)
{
    Shape s = { 1, { (int)n, 0, 0 } };
    return s;
}

static Shape in_shape(Graph *g, Node *n, int i)
{
    return g->vals[n->in[i]].shape;
}

/* Record the output shape in out[0], creating the value on first use. */
static void set_out(Graph *g, Node *n, Shape s)
{
    if (n->nout == 0) {
        int v = ir_value(g, V_ACT, s, n->layer ? n->layer : ir_ops[n->op].name);
        ir_add_out(g, (int)(n - g->nodes), v);
    }
    Value *v = &g->vals[n->out[0]];
    v->shape = s;
    v->size = ir_shape_size(s);
}

static int err(Graph *g, Node *n, const char *fmt, const char *a, const char *b)
{
    char msg[256];
    snprintf(msg, sizeof msg, fmt, a, b);
    diag_error(g->diag, n->loc, "%s", msg);
    return 1;
}

/* Refuse sizes the generated code cannot index or allocate: every
 * dimension positive, a sample within INT_MAX floats, a batch of them
 * within 2^40 bytes. */
static int check_size(Graph *g, Node *n, long c, long h, long w)
{
    char buf[160];
    if (c < 1 || h < 1 || w < 1) {
        snprintf(buf, sizeof buf, "%s would produce an empty output [%ld,%ld,%ld]",
                 ir_ops[n->op].name, c, h, w);
        diag_error(g->diag, n->loc, "%s", buf);
        return 1;
    }
    double floats = (double)c * h * w;
    if (floats > (double)MAX_SAMPLE_FLOATS || floats * g->batch * 4.0 > 1099511627776.0) {
        diag_error(g->diag, n->loc, "%s output [%ld,%ld,%ld] is too large: %.0f floats per sample",
                   ir_ops[n->op].name, c, h, w, floats);
        return 1;
    }
    return 0;
}

static int need_rank3(Graph *g, Node *n, Shape s)
{
    if (s.rank == 3)
        return 0;
    char b[64];
    ir_shape_str(s, b, sizeof b);
    return err(g, n, "%s needs a [C, H, W] input, got %s", ir_ops[n->op].name, b);
}

/* The first run creates the parameters; later runs (after a pass changed
 * the graph) only check them. */
static int first_run(Node *n) { return n->npar == 0; }

int shape_input(Graph *g, Node *n)
{
    set_out(g, n, g->vals[g->input].shape);
    return 0;
}

/* out = (in + 2p - d(k-1) - 1)/s + 1, refusing a window larger than the
 * padded input.  what: "kernel" or "window". */
static int window(Graph *g, Node *n, const char *what, int in, int k, int s,
                  int p, int d, long *out)
{
    long eff = (long)d * (k - 1) + 1;
    if (eff > (long)in + 2L * p) {
        char a[64], b[64];
        snprintf(a, sizeof a, "%s %ld", what, eff);
        snprintf(b, sizeof b, "%d%s", in + 2 * p, p ? " (with padding)" : "");
        return err(g, n, "%s is larger than the input size %s", a, b);
    }
    *out = ((long)in + 2L * p - eff) / s + 1;
    return 0;
}

int shape_conv(Graph *g, Node *n)
{
    Shape x = in_shape(g, n, 0);
    Attr *a = &n->a;
    if (need_rank3(g, n, x))
        return 1;
    int c = x.d[0];
    char b1[32], b2[32];
    if (c % a->groups || a->filters % a->groups) {
        snprintf(b1, sizeof b1, "%d", a->groups);
        snprintf(b2, sizeof b2, "%d input channels and %d filters", c, a->filters);
        return err(g, n, "groups=%s must divide the %s", b1, b2);
    }
    if (a->same) {
        if (a->s[0] != 1 || a->s[1] != 1)
            return err(g, n, "pad=same needs stride 1%s%s", "", "");
        for (int i = 0; i < 2; i++) {
            int total = a->d[i] * (a->k[i] - 1);
            if (total % 2)
                return err(g, n, "pad=same needs an odd kernel (or an even dilated extent)%s%s", "", "");
            a->p[i] = total / 2;
        }
    }
    long oh, ow;
    if (window(g, n, "kernel", x.d[1], a->k[0], a->s[0], a->p[0], a->d[0], &oh) ||
        window(g, n, "kernel", x.d[2], a->k[1], a->s[1], a->p[1], a->d[1], &ow))
        return 1;
    if (check_size(g, n, a->filters, oh, ow))
        return 1;
    if (first_run(n)) {
        int ws[4] = { a->filters, c / a->groups, a->k[0], a->k[1] };
        int node = (int)(n - g->nodes);
        long rf = (long)a->k[0] * a->k[1];
        int w = ir_param(g, node, P_WEIGHT, "weight", 4, ws);
        g->params[w].fan_in = (long)ws[1] * rf;
        g->params[w].fan_out = (long)ws[0] * rf;
        g->params[w].init = a->init;
        if (a->bias) {
            int b = ir_param(g, node, P_BIAS, "bias", 1, ws);
            g->params[b].fan_in = g->params[w].fan_in;
            g->params[b].init = a->init;
            g->params[b].prior = a->prior;
        } else if (a->prior > 0) {
            diag_error(g->diag, g->nodes[node].loc, "prior= sets the bias, but this conv has bias=false");
            return 1;
        }
        n = &g->nodes[node];
    }
    set_out(g, n, shape3(a->filters, oh, ow));
    return 0;
}

int shape_dense(Graph *g, Node *n)
{
    Shape x = in_shape(g, n, 0);
    if (x.rank != 1) {
        char b[64];
        ir_shape_str(x, b, sizeof b);
        diag_error(g->diag, n->loc, "dense needs a flat input: add flatten (input is %s)", b);
        return 1;
    }
    if (check_size(g, n, n->a.filters, 1, 1))
        return 1;
    if ((double)x.d[0] * n->a.filters > (double)MAX_SAMPLE_FLOATS)
        return err(g, n, "dense weight is too large%s%s", "", "");
    if (first_run(n)) {
        int node = (int)(n - g->nodes);
        int ws[2] = { n->a.filters, x.d[0] };
        int w = ir_param(g, node, P_WEIGHT, "weight", 2, ws);
        g->params[w].fan_in = x.d[0];
        g->params[w].fan_out = n->a.filters;
        g->params[w].init = n->a.init;
        if (n->a.bias) {
            int b = ir_param(g, node, P_BIAS, "bias", 1, ws);
            g->params[b].fan_in = x.d[0];
            g->params[b].init = n->a.init;
        }
        n = &g->nodes[node];
    }
    set_out(g, n, shape1(n->a.filters));
    return 0;
}

/* elementwise: the output has the input's shape */
static int same_shape(Graph *g, Node *n)
{
    set_out(g, n, in_shape(g, n, 0));
    return 0;
}

int shape_relu(Graph *g, Node *n)       { return same_shape(g, n); }
int shape_leaky_relu(Graph *g, Node *n) { return same_shape(g, n); }
int shape_sigmoid(Graph *g, Node *n)    { return same_shape(g, n); }
int shape_tanh(Graph *g, Node *n)       { return same_shape(g, n); }
int shape_silu(Graph *g, Node *n)       { return same_shape(g, n); }
int shape_softmax(Graph *g, Node *n)    { return same_shape(g, n); }
int shape_dropout(Graph *g, Node *n)    { return same_shape(g, n); }

/* per-channel parameters: C for [C,H,W], N for [N] (PyTorch's dim 1) */
static int channels(Shape s) { return s.d[0]; }

int shape_prelu(Graph *g, Node *n)
{
    if (first_run(n)) {
        int node = (int)(n - g->nodes);
        int c = channels(in_shape(g, n, 0));
        int p = ir_param(g, node, P_SLOPE, "weight", 1, &c);
        g->params[p].initval = g->nodes[node].a.slope;
        n = &g->nodes[node];
    }
    return same_shape(g, n);
}

int shape_batchnorm(Graph *g, Node *n)
{
    if (first_run(n)) {
        int node = (int)(n - g->nodes);
        int c = channels(in_shape(g, n, 0));
        static const struct { int kind; const char *suffix; float init; } ps[] = {
            { P_SCALE, "weight", 1 }, { P_SHIFT, "bias", 0 },
            { P_RMEAN, "running_mean", 0 }, { P_RVAR, "running_var", 1 },
        };
        for (int i = 0; i < 4; i++) {
            int p = ir_param(g, node, ps[i].kind, ps[i].suffix, 1, &c);
            g->params[p].initval = ps[i].init;
        }
        n = &g->nodes[node];
    }
    return same_shape(g, n);
}

static int pool(Graph *g, Node *n)
{
    Shape x = in_shape(g, n, 0);
    Attr *a = &n->a;
    if (need_rank3(g, n, x))
        return 1;
    for (int i = 0; i < 2; i++)
        if (a->p[i] * 2 > a->k[i]) {
            char b1[32], b2[32];
            snprintf(b1, sizeof b1, "%d", a->p[i]);
            snprintf(b2, sizeof b2, "%d", a->k[i]);
            return err(g, n, "pad=%s must be at most half the window size %s", b1, b2);
        }
    long oh, ow;
    if (window(g, n, "window", x.d[1], a->k[0], a->s[0], a->p[0], 1, &oh) ||
        window(g, n, "window", x.d[2], a->k[1], a->s[1], a->p[1], 1, &ow))
        return 1;
    if (check_size(g, n, x.d[0], oh, ow))
        return 1;
    set_out(g, n, shape3(x.d[0], oh, ow));
    return 0;
}

int shape_maxpool(Graph *g, Node *n) { return pool(g, n); }
int shape_avgpool(Graph *g, Node *n) { return pool(g, n); }

int shape_global_avgpool(Graph *g, Node *n)
{
    Shape x = in_shape(g, n, 0);
    if (need_rank3(g, n, x))
        return 1;
    set_out(g, n, shape3(x.d[0], 1, 1));
    return 0;
}

int shape_flatten(Graph *g, Node *n)
{
    set_out(g, n, shape1(ir_shape_size(in_shape(g, n, 0))));
    g->vals[n->out[0]].alias = n->in[0];
    return 0;
}

/* the output is the input seen as a detection head: channels 5+classes,
 * a stride that divides the model's input exactly */
int shape_detect(Graph *g, Node *n)
{
    Shape x = in_shape(g, n, 0), in = g->vals[g->input].shape;
    char b[64];
    if (need_rank3(g, n, x))
        return 1;
    if (x.d[0] != 5 + n->a.filters) {
        diag_error(g->diag, n->loc, "detect(classes=%d) needs %d channels (box 4, objectness 1, "
                   "classes %d), got %d", n->a.filters, 5 + n->a.filters, n->a.filters, x.d[0]);
        diag_note(g->diag, n->loc, "the layer before it should end in conv(%d, ...) or a concat of "
                  "4 + 1 + %d channels", 5 + n->a.filters, n->a.filters);
        return 1;
    }
    if (in.rank != 3 || in.d[1] % x.d[1] || in.d[2] % x.d[2] ||
        in.d[1] / x.d[1] != in.d[2] / x.d[2]) {
        ir_shape_str(in, b, sizeof b);
        diag_error(g->diag, n->loc, "detect on a %dx%d grid has no whole stride: the input is %s",
                   x.d[1], x.d[2], b);
        diag_note(g->diag, n->loc, "the stride is input height / grid height, and must be the same "
                  "whole number for the width");
        return 1;
    }
    n->a.s[0] = n->a.s[1] = in.d[1] / x.d[1];
    set_out(g, n, x);
    g->vals[n->out[0]].alias = n->in[0];
    return 0;
}

int shape_upsample(Graph *g, Node *n)
{
    Shape x = in_shape(g, n, 0);
    if (need_rank3(g, n, x))
        return 1;
    long f = n->a.factor;
    if (check_size(g, n, x.d[0], x.d[1] * f, x.d[2] * f))
        return 1;
    set_out(g, n, shape3(x.d[0], x.d[1] * f, x.d[2] * f));
    return 0;
}

int shape_concat(Graph *g, Node *n)
{
    Shape s = in_shape(g, n, 0);
    long c = 0;
    if (n->nin > 8)
        return err(g, n, "concat takes at most 8 tensors%s%s", "", "");
    for (int i = 0; i < n->nin; i++) {
        Shape t = in_shape(g, n, i);
        int bad = t.rank != s.rank;
        for (int k = 1; k < s.rank && !bad; k++)
            bad = t.d[k] != s.d[k];
        if (bad) {
            char b1[64], b2[64];
            ir_shape_str(s, b1, sizeof b1);
            ir_shape_str(t, b2, sizeof b2);
            return err(g, n, "concat needs equal heights and widths: %s vs %s", b1, b2);
        }
        c += t.d[0];
    }
    if (s.rank == 1) {
        if (check_size(g, n, c, 1, 1))
            return 1;
        set_out(g, n, shape1(c));
    } else {
        if (check_size(g, n, c, s.d[1], s.d[2]))
            return 1;
        set_out(g, n, shape3(c, s.d[1], s.d[2]));
    }
    return 0;
}

int shape_add(Graph *g, Node *n)
{
    Shape a = in_shape(g, n, 0), b = in_shape(g, n, 1);
    if (a.rank != b.rank || memcmp(a.d, b.d, sizeof a.d)) {
        char b1[64], b2[64];
        ir_shape_str(a, b1, sizeof b1);
        ir_shape_str(b, b2, sizeof b2);
        return err(g, n, "add needs equal shapes: %s vs %s", b1, b2);
    }
    return same_shape(g, n);
}

/* the loss node writes the gradient of the loss wrt its first input */
int shape_loss(Graph *g, Node *n) { return same_shape(g, n); }

typedef int (*ShapeFn)(Graph *, Node *);
static const ShapeFn shape_fns[NOPS] = {
#define OP(name, nin, flags, args) shape_##name,
#include "ops.def"
#undef OP
};

/* ---- losses: the node reads the model's first output (in[0]); shape_NAME
 * checks the model ends in what the loss absorbs and declares the target,
 * the layout the generated _backward takes (TARGET_SIZE floats a sample) */
static int loss_target(Graph *g, Node *n, int absorbs)
{
    int p = g->outputs[0];
    int last = g->vals[p].producer;
    if (absorbs >= 0 && (last < 0 || g->nodes[last].op != absorbs)) {
        diag_error(g->diag, n->loc, "loss '%s' needs a model that ends in %s",
                   ir_ops[n->op].name, ir_ops[absorbs].name);
        if (last >= 0)
            diag_note(g->diag, g->nodes[last].loc, "the model ends in '%s' here",
                      ir_ops[g->nodes[last].op].name);
        return 1;
    }
    if (g->target < 0)
        g->target = ir_value(g, V_TARGET, g->vals[p].shape, "target");
    return 0;
}

/* probabilities (one-hot or soft) of the output's shape */
int shape_cross_entropy(Graph *g, Node *n) { return loss_target(g, n, OP_softmax); }
int shape_bce(Graph *g, Node *n)           { return loss_target(g, n, OP_sigmoid); }
/* values of the output's shape */
int shape_mse(Graph *g, Node *n)           { return loss_target(g, n, -1); }

int ir_infer_node(Graph *g, int node)
{
    Node *n = &g->nodes[node];
    if (ir_ops[n->op].flags & F_LOSS)   /* writes no value to give a shape */
        return shape_fns[n->op](g, n);
    for (int i = 0; i < n->nin; i++)
        if (g->vals[n->in[i]].shape.rank == 0) {
            set_out(g, n, (Shape){ 0, { 0, 0, 0 } });
            return 1;
        }
    if (shape_fns[n->op](g, n)) {
        n = &g->nodes[node];
        set_out(g, n, (Shape){ 0, { 0, 0, 0 } });
        return 1;
    }
    return 0;
}

int ir_infer_shapes(Graph *g)
{
    int bad = 0;
    for (int i = 0; i < g->nnodes; i++)
        if (!g->nodes[i].dead && !g->nodes[i].bwd)
            bad |= ir_infer_node(g, i);
    return bad;
}

/* The runtime's description of a conv node (forward or backward). */
void ir_conv_geom(const Graph *g, const Node *n, cnnrt_conv *c)
{
    const Node *f = n->bwd ? &g->nodes[n->fwd] : n;
    Shape x = g->vals[f->in[0]].shape, y = g->vals[f->out[0]].shape;
    const Attr *a = &f->a;
    *c = (cnnrt_conv){ x.d[0], x.d[1], x.d[2], y.d[0], y.d[1], y.d[2],
                       a->k[0], a->k[1], a->s[0], a->s[1], a->p[0], a->p[1],
                       a->d[0], a->d[1], a->groups };
}

/* The runtime's description of a pooling node. */
void ir_pool_geom(const Graph *g, const Node *n, cnnrt_pool *p)
{
    const Node *f = n->bwd ? &g->nodes[n->fwd] : n;
    Shape x = g->vals[f->in[0]].shape, y = g->vals[f->out[0]].shape;
    const Attr *a = &f->a;
    *p = (cnnrt_pool){ x.d[0], x.d[1], x.d[2], y.d[1], y.d[2],
                       a->k[0], a->k[1], a->s[0], a->s[1], a->p[0], a->p[1] };
}
