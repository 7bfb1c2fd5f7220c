/* swaprelu.c — swap-relu-pool: relu followed by maxpool becomes maxpool
 * followed by relu.  max is monotone, so relu(max(x)) == max(relu(x))
 * exactly (padding never wins a max, and every window holds a real cell);
 * the relu then touches a quarter of the data for 2x2 pooling, forward and
 * backward.  The gradient is the same too: where the window's max is
 * negative both forms give zero, elsewhere the argmax is the same cell.
 *
 * It runs before fuse-epilogues: conv -> relu -> maxpool becomes
 * conv -> maxpool -> relu, so the conv's full-size output is needed only
 * by the maxpool (which saves argmax positions for its backward), instead
 * of living until the backward as the saved output of a fused relu.
 *
 * In inference builds a relu that fuse-epilogues can put into the layer
 * before it stays where it is (free there).  Applies only when the relu's output has no other reader and is not a
 * model output.  The two nodes exchange ops in place, so the schedule
 * order stays valid.
 */
#include <stdlib.h>
#include <string.h>
#include "passes.h"

int pass_swap_relu_pool(Graph *g)
{
    int *uses = xmalloc(sizeof(int) * (size_t)(g->nvals + 1));
    int *reader = xmalloc(sizeof(int) * (size_t)(g->nvals + 1));
    ir_count_uses(g, uses, reader);
    for (int i = 0; i < g->nnodes; i++) {
        Node *r = &g->nodes[i];
        if (r->dead || r->bwd || r->op != OP_relu || r->act)
            continue;
        int y = r->out[0];
        if (uses[y] != 1 || reader[y] < 0)
            continue;
        Node *p = &g->nodes[reader[y]];
        if (p->op != OP_maxpool || p->bwd)
            continue;
        /* inference has no backward to save memory for, and a relu fused
         * into the conv or dense before it costs nothing: leave it there */
        int x = r->in[0], h = g->vals[x].producer;
        if (g->inference && h >= 0 && (ir_ops[g->nodes[h].op].flags & F_HOST) && uses[x] == 1)
            continue;
        /* r: relu(x) -> y; p: maxpool(y) -> z   becomes
         * r: maxpool(x) -> y (pooled shape); p: relu(y) -> z */
        Node tmp = *r;
        r->op = OP_maxpool;
        r->a = p->a;
        r->loc = p->loc;
        char *rl = r->layer;
        r->layer = p->layer;
        p->layer = rl;
        p->op = OP_relu;
        p->a = tmp.a;
        p->loc = tmp.loc;
        Value *vy = &g->vals[y], *vz = &g->vals[p->out[0]];
        vy->shape = vz->shape;
        vy->size = vz->size;
        char *t = vy->name;
        vy->name = vz->name;
        vz->name = t;
    }
    free(uses);
    free(reader);
    return 0;
}
