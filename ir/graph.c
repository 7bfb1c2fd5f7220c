/* graph.c — building and checking the IR graph: nodes, values, parameters.
 *
 * This file owns memory: arrays grow by doubling, strings are private
 * copies, ir_free releases everything.  It does not know what any op
 * computes; that lives in shape.c and autodiff.c.  Allocation failure is
 * fatal (a compiler has no sensible way on), reported once and exit 1.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "ir.h"

const OpInfo ir_ops[NOPS] = {
#define OP(name, nin, flags, args) { #name, nin, flags, args },
#include "ops.def"
#undef OP
};

int ir_op_lookup(const char *name)
{
    for (int i = 0; i < NOPS; i++)
        if (strcmp(ir_ops[i].name, name) == 0)
            return i;
    return -1;
}

/* grow *arr (of elements of size sz) so that it holds at least need */
static void grow(void **arr, int *cap, int need, size_t sz)
{
    if (need <= *cap)
        return;
    int c = *cap ? *cap : 16;
    while (c < need)
        c *= 2;
    *arr = xrealloc(*arr, (size_t)c * sz);
    *cap = c;
}

Graph *ir_new(const char *name, const char *file, Diag *d)
{
    Graph *g = xrealloc(NULL, sizeof *g);
    memset(g, 0, sizeof *g);
    g->name = xstrdup(name);
    g->file = xstrdup(file);
    g->diag = d;
    g->input = g->target = g->loss_node = -1;
    g->batch = 32;
    g->train.batch = 32;
    g->train.epochs = 10;
    return g;
}

void ir_free(Graph *g)
{
    if (!g)
        return;
    for (int i = 0; i < g->nnodes; i++) {
        free(g->nodes[i].in);
        free(g->nodes[i].layer);
    }
    for (int i = 0; i < g->nvals; i++)
        free(g->vals[i].name);
    for (int i = 0; i < g->nparams; i++)
        free(g->params[i].name);
    free(g->nodes);
    free(g->vals);
    free(g->params);
    free(g->outputs);
    ir_plan_free(&g->plan);
    free(g->train.aug);
    free(g->name);
    free(g->file);
    free(g);
}

void ir_plan_free(Plan *p)
{
    free(p->items);
    memset(p, 0, sizeof *p);
}

long ir_shape_size(Shape s)
{
    long n = 1;
    for (int i = 0; i < s.rank; i++)
        n *= s.d[i];
    return s.rank ? n : 0;
}

static int new_value(Graph *g, int kind, const char *name)
{
    grow((void **)&g->vals, &g->capvals, g->nvals + 1, sizeof(Value));
    Value *v = &g->vals[g->nvals];
    memset(v, 0, sizeof *v);
    v->kind = kind;
    v->name = xstrdup(name ? name : "");
    v->producer = v->alias = v->grad = -1;
    v->off = -1;
    return g->nvals++;
}

int ir_value(Graph *g, int kind, Shape s, const char *name)
{
    int i = new_value(g, kind, name);
    g->vals[i].shape = s;
    g->vals[i].size = ir_shape_size(s);
    return i;
}

int ir_scratch(Graph *g, int kind, long size, const char *name)
{
    int i = new_value(g, kind, name);
    g->vals[i].size = size;
    return i;
}

int ir_node(Graph *g, int op, Loc loc)
{
    grow((void **)&g->nodes, &g->capnodes, g->nnodes + 1, sizeof(Node));
    Node *n = &g->nodes[g->nnodes];
    memset(n, 0, sizeof *n);
    n->op = op;
    n->fwd = -1;
    n->loc = loc;
    return g->nnodes++;
}

void ir_add_in(Graph *g, int node, int value)
{
    Node *n = &g->nodes[node];
    n->in = xrealloc(n->in, (size_t)(n->nin + 1) * sizeof(int));
    n->in[n->nin++] = value;
}

int ir_add_out(Graph *g, int node, int value)
{
    Node *n = &g->nodes[node];
    if (n->nout >= 8)
        abort();            /* no node writes more than eight values */
    n->out[n->nout++] = value;
    g->vals[value].producer = node;
    return value;
}

int ir_param(Graph *g, int node, int kind, const char *suffix,
             int rank, const int *shape)
{
    grow((void **)&g->params, &g->capparams, g->nparams + 1, sizeof(Param));
    Node *n = &g->nodes[node];
    Param *p = &g->params[g->nparams];
    memset(p, 0, sizeof *p);
    p->name = xfmt("%s.%s", n->layer ? n->layer : ir_ops[n->op].name, suffix);
    p->kind = kind;
    p->rank = rank;
    p->size = 1;
    for (int i = 0; i < rank; i++) {
        p->shape[i] = shape[i];
        p->size *= shape[i];
    }
    p->learned = kind != P_RMEAN && kind != P_RVAR;
    p->off = -1;
    p->node = node;
    if (n->npar >= 4)
        abort();
    n->par[n->npar++] = g->nparams;
    return g->nparams++;
}

int ir_root(const Graph *g, int v)
{
    while (g->vals[v].alias >= 0)
        v = g->vals[v].alias;
    return v;
}

/* Learned parameters go into one buffer in declaration order, running
 * statistics into another; both are aligned to 16 floats per tensor so
 * that kernels see aligned starts. */
void ir_layout_params(Graph *g)
{
    long p = 0, s = 0;
    for (int i = 0; i < g->nparams; i++) {
        Param *q = &g->params[i];
        long *at = q->learned ? &p : &s;
        q->off = *at;
        *at += (q->size + 15) / 16 * 16;
    }
    g->nparam_floats = p;
    g->nstate_floats = s;
}

/* The structural invariants of ir.h, checked after every pass with
 * --verify-each.  Returns 0, or -1 with a message in err. */
int ir_verify(const Graph *g, char *err, int errlen)
{
    char *written = xcalloc((size_t)g->nvals + 1, 1);
    if (!written)
        return snprintf(err, errlen, "out of memory"), -1;
    int bad = 0;
    for (int v = 0; v < g->nvals; v++)
        if (g->vals[v].kind == V_INPUT || g->vals[v].kind == V_TARGET)
            written[v] = 1;
    for (int i = 0; i < g->nnodes && !bad; i++) {
        const Node *n = &g->nodes[i];
        if (n->dead)
            continue;
        for (int k = 0; k < n->nin && !bad; k++) {
            int v = n->in[k];
            if (v < 0 || v >= g->nvals) {
                snprintf(err, errlen, "node %d (%s) reads value %d out of range", i, ir_ops[n->op].name, v);
                bad = 1;
            } else if (!written[v]) {
                snprintf(err, errlen, "node %d (%s) reads %%%d '%s' before it is written",
                         i, ir_ops[n->op].name, v, g->vals[v].name);
                bad = 1;
            }
        }
        for (int k = 0; k < n->nout && !bad; k++) {
            int v = n->out[k];
            if (g->vals[v].producer != i) {
                snprintf(err, errlen, "value %%%d '%s' written by node %d but its producer is %d",
                         v, g->vals[v].name, i, g->vals[v].producer);
                bad = 1;
            }
            written[v] = 1;
        }
        for (int k = 0; k < n->npar && !bad; k++)
            if (n->par[k] < 0 || n->par[k] >= g->nparams) {
                snprintf(err, errlen, "node %d uses parameter %d out of range", i, n->par[k]);
                bad = 1;
            }
    }
    for (int i = 0; i < g->noutputs && !bad; i++)
        if (!written[g->outputs[i]]) {
            snprintf(err, errlen, "output %d is never written", i);
            bad = 1;
        }
    free(written);
    return bad ? -1 : 0;
}

/* uses[v]: how many live nodes read value v, plus one per model output;
 * reader[v] (may be NULL): the one live node reading v, -1 for none, -2
 * for several.  Arrays of g->nvals ints. */
void ir_count_uses(const Graph *g, int *uses, int *reader)
{
    memset(uses, 0, sizeof(int) * (size_t)g->nvals);
    for (int v = 0; reader && v < g->nvals; v++)
        reader[v] = -1;
    for (int i = 0; i < g->nnodes; i++) {
        const Node *n = &g->nodes[i];
        if (n->dead)
            continue;
        for (int k = 0; k < n->nin; k++) {
            uses[n->in[k]]++;
            if (reader)
                reader[n->in[k]] = reader[n->in[k]] == -1 ? i : -2;
        }
    }
    for (int i = 0; i < g->noutputs; i++)
        uses[g->outputs[i]]++;
}
