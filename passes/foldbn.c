/* foldbn.c — fold-batchnorm: in an inference build, a batchnorm whose
 * input is a conv's only use disappears into that conv.  With running
 * statistics fixed, bn(conv(x)) = conv'(x) with per-filter scaled weights
 * and a shifted bias (cnnrt_fold_batchnorm); the generated code computes
 * conv' from the real parameters after _init and _load, so parameter files
 * are unchanged.  Training builds keep batchnorm: its statistics move.
 *
 * Runs before fuse-epilogues, so conv -> batchnorm -> relu ends as one
 * conv call with a relu epilogue.
 */
#include <stdlib.h>
#include "passes.h"

int pass_fold_batchnorm(Graph *g)
{
    if (!g->inference)
        return 0;
    int *uses = xmalloc(sizeof(int) * (size_t)(g->nvals + 1));
    ir_count_uses(g, uses, NULL);
    for (int i = 0; i < g->nnodes; i++) {
        Node *b = &g->nodes[i];
        if (b->dead || b->op != OP_batchnorm)
            continue;
        int y = b->in[0];
        int c = g->vals[y].producer;
        if (c < 0 || uses[y] != 1)
            continue;
        Node *cv = &g->nodes[c];
        if (cv->op != OP_conv || cv->act || cv->fold_bn || cv->dead)
            continue;
        int z = b->out[0];
        cv->fold_bn = i + 1;
        cv->out[0] = z;
        g->vals[z].producer = c;
        g->vals[y].producer = -1;
        b->dead = 1;
        char *t = g->vals[z].name;
        g->vals[z].name = g->vals[y].name;
        g->vals[y].name = t;
    }
    free(uses);
    return 0;
}
