/* inplace.c — let an op overwrite its input when nothing reads that input
 * afterwards: activations (relu, leaky_relu, sigmoid, tanh), their
 * backward (dx over dy), and add (including the sums of gradient fan-in).
 *
 * It works on storage roots in schedule order: out[0] becomes a view of
 * in[0] when in[0]'s storage has no reader after this node and is not the
 * input, the target or a model output.  The planner then gives both one
 * buffer.  Numbers do not change: each of these kernels reads element i
 * before writing element i.
 */
#include <stdlib.h>
#include "passes.h"

static int inplace_ok(const Node *n)
{
    return (ir_ops[n->op].flags & F_INPLACE) && n->nout >= 1 && n->nin >= 1;
}

int pass_inplace(Graph *g)
{
    int *last = xmalloc(sizeof(int) * (size_t)(g->nvals + 1));
    char *pinned = xcalloc((size_t)g->nvals + 1, 1);
    for (int v = 0; v < g->nvals; v++)
        last[v] = -1;
    for (int i = 0; i < g->nnodes; i++) {
        Node *n = &g->nodes[i];
        if (n->dead)
            continue;
        for (int k = 0; k < n->nin; k++)
            last[ir_root(g, n->in[k])] = i;
    }
    pinned[ir_root(g, g->input)] = 1;
    if (g->target >= 0)
        pinned[g->target] = 1;
    for (int i = 0; i < g->noutputs; i++)
        pinned[ir_root(g, g->outputs[i])] = 1;
    for (int i = 0; i < g->nnodes; i++) {
        Node *n = &g->nodes[i];
        if (n->dead || !inplace_ok(n))
            continue;
        int x = ir_root(g, n->in[0]), y = n->out[0];
        if (pinned[x] || pinned[y] || last[x] != i || g->vals[y].alias >= 0 ||
            g->vals[x].kind != V_ACT || g->vals[x].size != g->vals[y].size)
            continue;
        g->vals[y].alias = x;
        if (last[y] > last[x])
            last[x] = last[y];
    }
    free(last);
    free(pinned);
    return 0;
}
