/* scratch.c — give every node that needs a temporary buffer its scratch
 * value, so the memory planner places it like any other tensor.
 *
 * Convolution needs one (im2col of one sample and group, as
 * cnnrt_conv_scratch says), and so does the yolox loss (its assignment's
 * working arrays, cnnrt_yolox_scratch); the value is appended to the
 * node's outputs, live for that node alone.  Runs after autodiff, before planning.
 */
#include <stdlib.h>
#include "passes.h"

/* floats of scratch node n's kernel needs (the runtime says), 0 for none */
static long scratch_size(const Graph *g, const Node *n)
{
    if (n->op == OP_conv) {
        cnnrt_conv c;
        ir_conv_geom(g, n, &c);
        return cnnrt_conv_scratch(&c);
    }
    if (n->op == OP_yolox) {    /* planned for the largest batch */
        cnnrt_yolox_geom y;
        ir_detect_geom(g, &y);
        return cnnrt_yolox_scratch(&y, g->batch);
    }
    return 0;
}

int pass_scratch(Graph *g)
{
    for (int i = 0; i < g->nnodes; i++) {
        Node *n = &g->nodes[i];
        if (n->dead)
            continue;
        int has = 0;
        for (int k = 0; k < n->nout; k++)
            has |= g->vals[n->out[k]].kind == V_SCRATCH;
        long size = scratch_size(g, n);
        if (has || size <= 0)
            continue;
        char *name = xfmt("%s%s.scratch", n->bwd ? "d." : "", n->layer);
        ir_add_out(g, i, ir_scratch(g, V_SCRATCH, size, name));
        free(name);
    }
    return 0;
}
