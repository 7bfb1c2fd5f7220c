/* passes.h — the optimization and preparation passes over the IR.
 *
 * A pass is a plain function over the graph.  The driver runs them from one
 * list (driver.c), in order, each at or above its -O level; after each it
 * honours --dump-after=NAME and --verify-each.  Passes never report user
 * errors (those are found before); they return 0, or -1 on an internal
 * inconsistency.
 */
#ifndef PASSES_H
#define PASSES_H

#include <stdio.h>
#include "../ir/ir.h"

typedef struct {
    const char *name;
    int (*run)(Graph *g);
    int level;              /* runs at -O<level> and above; 0: always */
} Pass;

typedef struct {
    int opt;                /* -O level */
    const char *disabled[16];
    int ndisabled;
    const char *dump_after; /* a pass name, "all", or NULL */
    FILE *dump;             /* where dumps go; NULL: stderr */
    int verify;             /* --verify-each */
} PassOptions;

/* manager.c: the list (ends with a NULL name) and the loop over it;
 * pass_run_all also lays out the parameter buffers. 0, or -1. */
extern const Pass pass_list[];
int pass_find(const char *name);
int pass_run_all(Graph *g, const PassOptions *o);

int pass_swap_relu_pool(Graph *g);    /* swaprelu.c */
int pass_fuse_epilogues(Graph *g);    /* fuse.c */
int pass_fold_batchnorm(Graph *g);    /* foldbn.c */
int pass_inplace(Graph *g);           /* inplace.c */
int pass_scratch(Graph *g);           /* scratch.c */
int pass_plan_memory(Graph *g);       /* plan.c */

/* ---- memory planning (the Plan type lives in ir.h: the plan is part of
 * the graph pass_plan_memory returns), exposed for the plan checker ---- */
/* Build the items (liveness) of g; offsets unset. */
int  plan_items(const Graph *g, Plan *p);
/* Assign offsets; returns the arena size in floats. */
long plan_assign(Plan *p);
/* 0 when no two items live at the same time overlap in memory; else -1
 * with the first offending pair in err. */
int  plan_check(const Plan *p, char *err, int errlen);
/* floats per arena item are rounded up to this: the alignment the runtime
 * and the generated buffers agree on (CNNRT_ALIGN bytes, cnnrt_abi.h) */
#define PLAN_ALIGN (CNNRT_ALIGN / 4)

#endif
