/* manager.c — the pass list, in order, and the loop that runs it.
 *
 * Each pass runs when the optimization level is at or above its level (0:
 * always, it is needed for correct code) and it was not disabled; after
 * each, --verify-each checks the IR's invariants and --dump-after prints
 * it.  This is the only place that knows the order of the passes.
 */
#include <string.h>
#include "passes.h"

static int autodiff(Graph *g) { return ir_autodiff(g); }

const Pass pass_list[] = {
    { "fold-batchnorm",  pass_fold_batchnorm, 2 },  /* inference only */
    { "swap-relu-pool",  pass_swap_relu_pool, 1 },  /* before fusion: see swaprelu.c */
    { "fuse-epilogues",  pass_fuse_epilogues, 1 },
    { "autodiff",        autodiff,            0 },
    { "inplace",         pass_inplace,        1 },
    { "scratch",         pass_scratch,        0 },
    { "plan-memory",     pass_plan_memory,    0 },
    { NULL, NULL, 0 }
};

int pass_find(const char *name)
{
    for (int i = 0; pass_list[i].name; i++)
        if (strcmp(pass_list[i].name, name) == 0)
            return i;
    return -1;
}

static int disabled(const PassOptions *o, const char *name)
{
    for (int i = 0; i < o->ndisabled; i++)
        if (strcmp(o->disabled[i], name) == 0)
            return 1;
    return 0;
}

int pass_run_all(Graph *g, const PassOptions *o)
{
    if (g->inference && g->loss_node >= 0) {   /* forward only: no loss */
        g->nodes[g->loss_node].dead = 1;
        g->loss_node = -1;
    }
    for (int i = 0; pass_list[i].name; i++) {
        const Pass *p = &pass_list[i];
        if (p->level > o->opt || (p->level > 0 && disabled(o, p->name)))
            continue;
        if (p->run(g)) {
            fprintf(stderr, "cnnc: internal error in pass '%s'\n", p->name);
            return -1;
        }
        if (o->verify) {
            char err[512];
            if (ir_verify(g, err, sizeof err)) {
                fprintf(stderr, "cnnc: internal error: IR invalid after pass '%s': %s\n", p->name, err);
                return -1;
            }
        }
        if (o->dump_after && (strcmp(o->dump_after, "all") == 0 || strcmp(o->dump_after, p->name) == 0)) {
            fprintf(o->dump ? o->dump : stderr, "# after %s\n", p->name);
            ir_dump(g, o->dump ? o->dump : stderr);
        }
    }
    ir_layout_params(g);
    return 0;
}
