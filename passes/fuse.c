/* fuse.c — fuse-epilogues: an activation (relu, leaky_relu, sigmoid, tanh) that is
 * the only reader of a conv, dense, batchnorm or add output runs inside
 * that kernel as it writes the output: for batchnorm and add, two
 * elementwise passes become one loop.  The activation node disappears; the
 * layer writes the activation's value directly.  Because autodiff runs
 * after this pass, the backward is fused too: the layer's backward applies
 * the activation's derivative to dy (from the saved output) before its own.
 *
 * Not fused, to keep the numbers identical to -O0:
 *   - a sigmoid whose output the bce loss absorbs (the loss needs the logits);
 *   - leaky_relu with alpha <= 0 (its derivative cannot be read off y);
 *   - an activation whose output feeds `add` (directly or through views):
 *     add hands the same gradient buffer to both branches, and the fused
 *     backward rewrites dy in place.
 */
#include <stdlib.h>
#include "passes.h"

static const int act_of[NOPS] = {
    [OP_relu] = CNNRT_ACT_RELU, [OP_leaky_relu] = CNNRT_ACT_LEAKY,
    [OP_sigmoid] = CNNRT_ACT_SIGMOID, [OP_tanh] = CNNRT_ACT_TANH,
};

/* does value v reach an add through flatten views? */
static int feeds_add(const Graph *g, int v, const int *reader_of)
{
    for (int hops = 0; hops < 4 && v >= 0; hops++) {
        int r = reader_of[v];
        if (r < 0)
            return 0;
        if (r == -2 || g->nodes[r].op == OP_add)
            return 1;       /* -2: several readers, one may be an add */
        if (g->nodes[r].op != OP_flatten)
            return 0;
        v = g->nodes[r].out[0];
    }
    return 1;
}

int pass_fuse_epilogues(Graph *g)
{
    int *uses = xmalloc(sizeof(int) * (size_t)(g->nvals + 1));
    int *reader = xmalloc(sizeof(int) * (size_t)(g->nvals + 1));
    ir_count_uses(g, uses, reader);
    for (int i = 0; i < g->nnodes; i++) {
        Node *h = &g->nodes[i];
        if (h->dead || h->bwd || !(ir_ops[h->op].flags & F_HOST) || h->act)
            continue;
        int y = h->out[0];
        int r = reader[y];
        if (uses[y] != 1 || r < 0)
            continue;
        Node *a = &g->nodes[r];
        if (!(ir_ops[a->op].flags & F_ACT) || a->nin != 1)
            continue;
        int z = a->out[0];
        if (a->op == OP_leaky_relu && a->a.alpha <= 0)
            continue;
        if (g->noutputs && z == g->outputs[0] && g->train.loss == OP_bce)
            continue;
        if (feeds_add(g, z, reader))
            continue;
        h->act = act_of[a->op];
        h->act_alpha = a->op == OP_leaky_relu ? a->a.alpha : 0;
        h->act_line = a->loc.line;
        h->out[0] = z;
        g->vals[z].producer = i;
        a->dead = 1;
        /* the value keeps the layer's name: it is the layer's output now */
        char *t = g->vals[z].name;
        g->vals[z].name = g->vals[y].name;
        g->vals[y].name = t;
        g->vals[y].producer = -1;
    }
    free(uses);
    free(reader);
    return 0;
}
