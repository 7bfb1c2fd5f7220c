/* autodiff.c — reverse-mode differentiation of the forward graph.
 *
 * ir_autodiff turns the loss node (the last node, made by sema) into the
 * first backward node, then appends for each forward node in reverse
 * order the backward nodes that grad_NAME creates.  Each
 * backward node is the same op with bwd = 1 and fwd pointing at the
 * forward node, so an op's forward and backward stay side by side in the
 * op table, the emitter and the runtime (x_forward / x_backward).
 *
 * Gradients of activations are new values ("d.conv1"); gradients of
 * parameters are not values: the emitter writes them into the gradient
 * buffer, where kernels add to them.  When a value feeds several nodes, the
 * contributions are summed with `add` nodes before its producer's backward
 * runs.  Values that do not depend on a parameter (the input) get no
 * gradient at all, so the first layer skips its dx.
 *
 * Backward node layouts (in[] / out[]), relied on by the emitter:
 *   conv, dense     in dy, x [, y when an activation is fused]  out dx?
 *   relu, leaky_relu, sigmoid, tanh, softmax   in dy, y (leaky: x when
 *                   alpha <= 0)                                  out dx
 *   silu, prelu     in dy, x                                     out dx
 *   maxpool         in dy, argmax (forward out[1]); or dy, x     out dx
 *   avgpool, global_avgpool, upsample   in dy                    out dx
 *   batchnorm       in dy, x, saved (forward out[1]) [, y when an
 *                   activation is fused]                         out dx?
 *   dropout         in dy, mask (forward out[1])                 out dx
 *   concat          in dy                            out dx0, dx1, ...
 *   flatten         in dy                  out dx (a view of dy)
 *   add (act fused) in dy, y                out dz, for both inputs
 * and the loss node (the backward section's start): in z, p, target;
 * out dz.
 */
#include <stdlib.h>
#include <string.h>
#include "ir.h"

typedef struct {
    Graph *g;
    int **contrib;          /* per value: gradient contributions */
    int *ncontrib;
    char *needs;            /* per value: depends on a learned parameter */
    int absorbed;           /* the forward node the loss computes with */
} AD;

static AD ad;               /* live only during ir_autodiff */

static void contribute(int v, int dv)
{
    if (v < 0 || !ad.needs[v])
        return;
    ad.contrib[v] = xrealloc(ad.contrib[v], (size_t)(ad.ncontrib[v] + 1) * sizeof(int));
    ad.contrib[v][ad.ncontrib[v]++] = dv;
}

/* The single gradient of v: its one contribution, or their sum. */
static int gradient(int v)
{
    Graph *g = ad.g;
    if (ad.ncontrib[v] == 0)
        return -1;
    int sum = ad.contrib[v][0];
    for (int i = 1; i < ad.ncontrib[v]; i++) {
        int node = ir_node(g, OP_add, g->nodes[g->vals[v].producer].loc);
        g->nodes[node].layer = xfmt("d.%s", g->vals[v].name);
        ir_add_in(g, node, sum);
        ir_add_in(g, node, ad.contrib[v][i]);
        sum = ir_add_out(g, node, ir_value(g, V_ACT, g->vals[v].shape, g->nodes[node].layer));
    }
    ad.ncontrib[v] = 1;
    ad.contrib[v][0] = sum;
    g->vals[v].grad = sum;
    return sum;
}

/* A backward node for forward node f reading dy; returns its index. */
static int bwd_node(Graph *g, int f, int dy)
{
    int node = ir_node(g, g->nodes[f].op, g->nodes[f].loc);
    Node *n = &g->nodes[node];
    Node *fn = &g->nodes[f];
    n->bwd = 1;
    n->fwd = f;
    n->a = fn->a;
    n->act = fn->act;
    n->act_alpha = fn->act_alpha;
    n->act_line = fn->act_line;
    memcpy(n->par, fn->par, sizeof n->par);
    n->npar = fn->npar;
    n->layer = xstrdup(fn->layer ? fn->layer : ir_ops[fn->op].name);
    ir_add_in(g, node, dy);
    return node;
}

/* dx of forward input k: a new gradient value when the input needs one */
static void add_dx(Graph *g, int node, int x)
{
    if (!ad.needs[x])
        return;
    char *name = xfmt("d.%s", g->vals[x].name);
    int dx = ir_value(g, V_ACT, g->vals[x].shape, name);
    free(name);
    ir_add_out(g, node, dx);
    contribute(x, dx);
}

static int dy_of(Graph *g, int f) { return g->vals[g->nodes[f].out[0]].grad; }
static int x_of(Graph *g, int f)  { return g->nodes[f].in[0]; }
static int y_of(Graph *g, int f)  { return g->nodes[f].out[0]; }

/* The common shape of most backward nodes: read dy and `extra` forward
 * values, write dx of input 0. */
static void simple(Graph *g, int f, int extra1, int extra2)
{
    int node = bwd_node(g, f, dy_of(g, f));
    if (extra1 >= 0)
        ir_add_in(g, node, extra1);
    if (extra2 >= 0)
        ir_add_in(g, node, extra2);
    add_dx(g, node, x_of(g, f));
}

void grad_input(Graph *g, int f) { (void)g; (void)f; }

static void host(Graph *g, int f)
{
    simple(g, f, x_of(g, f), g->nodes[f].act ? y_of(g, f) : -1);
}

void grad_conv(Graph *g, int f)  { host(g, f); }
void grad_dense(Graph *g, int f) { host(g, f); }

void grad_relu(Graph *g, int f)    { simple(g, f, y_of(g, f), -1); }
void grad_sigmoid(Graph *g, int f) { simple(g, f, y_of(g, f), -1); }
void grad_tanh(Graph *g, int f)    { simple(g, f, y_of(g, f), -1); }
void grad_softmax(Graph *g, int f) { simple(g, f, y_of(g, f), -1); }
void grad_silu(Graph *g, int f)    { simple(g, f, x_of(g, f), -1); }
void grad_prelu(Graph *g, int f)   { simple(g, f, x_of(g, f), -1); }
void grad_avgpool(Graph *g, int f)        { simple(g, f, -1, -1); }
void grad_global_avgpool(Graph *g, int f) { simple(g, f, -1, -1); }
void grad_upsample(Graph *g, int f)       { simple(g, f, -1, -1); }

void grad_leaky_relu(Graph *g, int f)
{
    simple(g, f, g->nodes[f].a.alpha > 0 ? y_of(g, f) : x_of(g, f), -1);
}

/* batch statistics (mean, 1/std per channel) are saved by the forward */
void grad_batchnorm(Graph *g, int f)
{
    Value *x = &g->vals[x_of(g, f)];
    long c = x->shape.d[0];
    char *name = xfmt("%s.saved", g->nodes[f].layer);
    int saved = ir_scratch(g, V_SAVED, 2 * c, name);
    free(name);
    ir_add_out(g, f, saved);
    int node = bwd_node(g, f, dy_of(g, f));
    ir_add_in(g, node, x_of(g, f));
    ir_add_in(g, node, saved);
    if (g->nodes[f].act)
        ir_add_in(g, node, y_of(g, f));
    add_dx(g, node, x_of(g, f));
}

/* the forward saves the position of each window's maximum (a quarter of
 * x for 2x2 pooling), so x itself need not live until the backward; for
 * planes too large for float positions the backward reads x instead */
void grad_maxpool(Graph *g, int f)
{
    Shape x = g->vals[x_of(g, f)].shape;
    if ((long)x.d[1] * x.d[2] >= (1L << 24)) {
        simple(g, f, x_of(g, f), -1);
        return;
    }
    char *name = xfmt("%s.argmax", g->nodes[f].layer);
    int idx = ir_value(g, V_ACT, g->vals[y_of(g, f)].shape, name);
    free(name);
    ir_add_out(g, f, idx);
    simple(g, f, idx, -1);
}

/* the forward keeps its mask (0 or 1/(1-p) per element) */
void grad_dropout(Graph *g, int f)
{
    char *name = xfmt("%s.mask", g->nodes[f].layer);
    int mask = ir_value(g, V_ACT, g->vals[x_of(g, f)].shape, name);
    free(name);
    ir_add_out(g, f, mask);
    simple(g, f, mask, -1);
}

/* dx is dy seen with the input's shape: a view, no code (flatten, detect) */
static void grad_view(Graph *g, int f)
{
    int node = bwd_node(g, f, dy_of(g, f));
    int x = x_of(g, f);
    if (!ad.needs[x])
        return;
    int dx = ir_value(g, V_ACT, g->vals[x].shape, "");
    free(g->vals[dx].name);
    g->vals[dx].name = xfmt("d.%s", g->vals[x].name);
    g->vals[dx].alias = dy_of(g, f);
    ir_add_out(g, node, dx);
    contribute(x, dx);
}

void grad_flatten(Graph *g, int f) { grad_view(g, f); }
void grad_detect(Graph *g, int f)  { grad_view(g, f); }

void grad_concat(Graph *g, int f)
{
    int node = bwd_node(g, f, dy_of(g, f));
    for (int i = 0; i < g->nodes[f].nin; i++) {
        int x = g->nodes[f].in[i];
        char *name = xfmt("d.%s", g->vals[x].name);
        int dx = ir_value(g, V_ACT, g->vals[x].shape, name);
        free(name);
        ir_add_out(g, node, dx);
        contribute(x, dx);      /* parts nobody needs are still written */
    }
}

/* d(a+b) = dy for both: no node, the same gradient value twice.  With a
 * fused activation, one node first turns dy into the gradient before it
 * (in dy, y; out dz), and dz goes to both. */
void grad_add(Graph *g, int f)
{
    int dy = dy_of(g, f);
    if (g->nodes[f].act) {
        int node = bwd_node(g, f, dy);
        ir_add_in(g, node, y_of(g, f));
        char *name = xfmt("d.%s.act", g->vals[y_of(g, f)].name);
        dy = ir_add_out(g, node, ir_value(g, V_ACT, g->vals[y_of(g, f)].shape, name));
        free(name);
    }
    contribute(g->nodes[f].in[0], dy);
    contribute(g->nodes[f].in[1], dy);
}

typedef void (*GradFn)(Graph *, int);
static const GradFn grad_fns[NOPS] = {
#define OP(name, nin, flags, args) grad_##name,
#include "ops.def"
#undef OP
};

/* Which values depend on a learned parameter (and so need gradients). */
static void mark_needs(Graph *g)
{
    for (int i = 0; i < g->nfwd; i++) {
        Node *n = &g->nodes[i];
        if (n->dead)
            continue;
        int need = n->npar > 0 && g->params[n->par[0]].learned;
        for (int k = 0; k < n->nin; k++)
            need |= ad.needs[n->in[k]];
        for (int k = 0; k < n->nout; k++)
            ad.needs[n->out[k]] = (char)need;
    }
}

/* The loss node (made by sema, reading the prediction p) is turned into its
 * own backward: it reads the logits z (the input of the final softmax or
 * sigmoid it absorbs; p itself for mse), p and the target, and writes dz.
 * The absorbed node gets no backward of its own. */
static void loss_grad(Graph *g, int node, int absorbs)
{
    Node *n = &g->nodes[node];
    int p = n->in[0];
    int z = p;
    if (absorbs) {
        ad.absorbed = g->vals[p].producer;
        z = g->nodes[ad.absorbed].in[0];
    }
    n->nin = 0;
    ir_add_in(g, node, z);
    ir_add_in(g, node, p);
    ir_add_in(g, node, g->target);
    char *name = xfmt("d.%s", g->vals[z].name);
    int dz = ir_value(g, V_ACT, g->vals[z].shape, name);
    free(name);
    ir_add_out(g, node, dz);
    contribute(z, dz);
}

void grad_cross_entropy(Graph *g, int f) { loss_grad(g, f, 1); }
void grad_bce(Graph *g, int f)           { loss_grad(g, f, 1); }
void grad_mse(Graph *g, int f)           { loss_grad(g, f, 0); }

int ir_autodiff(Graph *g)
{
    if (g->inference || g->loss_node < 0 || g->noutputs == 0)
        return 0;
    /* only forward values (those existing now) are ever indexed below */
    int nv = g->nvals;
    ad.g = g;
    ad.contrib = xcalloc((size_t)nv, sizeof(int *));
    ad.ncontrib = xcalloc((size_t)nv, sizeof(int));
    ad.needs = xcalloc((size_t)nv, 1);
    g->nfwd = g->loss_node;     /* the loss is the last node sema made */
    ad.absorbed = -1;
    mark_needs(g);
    grad_fns[g->nodes[g->loss_node].op](g, g->loss_node);
    int absorbed = ad.absorbed;
    for (int f = g->nfwd - 1; f >= 0; f--) {
        Node *n = &g->nodes[f];
        if (n->dead || f == absorbed || n->op == OP_input)
            continue;
        int need = 0;
        for (int k = 0; k < n->nin; k++)
            need |= ad.needs[n->in[k]];
        need |= n->npar > 0 && g->params[n->par[0]].learned;
        if (!need || gradient(n->out[0]) < 0)
            continue;
        grad_fns[g->nodes[f].op](g, f);     /* gradient() may move g->nodes */
    }
    for (int v = 0; v < nv; v++)
        free(ad.contrib[v]);
    free(ad.contrib);
    free(ad.ncontrib);
    free(ad.needs);
    memset(&ad, 0, sizeof ad);
    return 0;
}
