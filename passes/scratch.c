/* scratch.c — give every node that needs a temporary buffer its scratch
 * value, so the memory planner places it like any other tensor.
 *
 * Today only convolution needs one (im2col of one sample and group, as
 * cnnrt_conv_scratch says); the value is appended to the node's outputs,
 * live for that node alone.  Runs after autodiff, before planning.
 */
#include <stdlib.h>
#include "passes.h"

int pass_scratch(Graph *g)
{
    for (int i = 0; i < g->nnodes; i++) {
        Node *n = &g->nodes[i];
        if (n->dead || n->op != OP_conv)
            continue;
        int has = 0;
        for (int k = 0; k < n->nout; k++)
            has |= g->vals[n->out[k]].kind == V_SCRATCH;
        cnnrt_conv c;
        ir_conv_geom(g, n, &c);
        long size = cnnrt_conv_scratch(&c);
        if (has || size <= 0)
            continue;
        char *name = xfmt("%s%s.scratch", n->bwd ? "d." : "", n->layer);
        ir_add_out(g, i, ir_scratch(g, V_SCRATCH, size, name));
        free(name);
    }
    return 0;
}
