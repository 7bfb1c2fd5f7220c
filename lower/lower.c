/* lower.c — builds the Lowered lists of a planned graph: the per-node calls
 * (through lower_NAME, lower/ops.c), each with the comment a reader sees,
 * and the model-level calls: _init (one generator over every tensor in
 * declaration order), the batchnorm folding of inference builds, and the
 * optimizer step of _update.
 *
 * It decides nothing about the network: shapes, fusion, order and memory
 * all come from the graph and its plan.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "lower.h"

struct Lowering {
    Lowered *L;
    CallList *list;         /* the list lower_call appends to */
};

const Graph *lower_graph_of(const Lowering *l) { return l->L->g; }

long lower_fold_off(const Lowering *l, const Node *n)
{
    return l->L->fold_off[n - l->L->g->nodes];
}

/* ---- arguments ---- */
static Arg *push(Call *c)
{
    if (c->nargs == c->cap) {
        c->cap = c->cap ? 2 * c->cap : 16;
        c->args = xrealloc(c->args, sizeof(Arg) * (size_t)c->cap);
    }
    Arg *a = &c->args[c->nargs++];
    memset(a, 0, sizeof *a);
    a->v = -1;
    return a;
}

void arg_null(Call *c)             { push(c)->kind = ARG_NULL; }
void arg_ctx(Call *c)              { push(c)->kind = ARG_CTX; }
void arg_n(Call *c)                { push(c)->kind = ARG_N; }
void arg_training(Call *c)         { push(c)->kind = ARG_TRAINING; }
void arg_rng(Call *c)              { push(c)->kind = ARG_RNG; }
void arg_int(Call *c, int i)       { Arg *a = push(c); a->kind = ARG_INT; a->i = i; }
void arg_long(Call *c, long v)     { Arg *a = push(c); a->kind = ARG_LONG; a->l = v; }
void arg_float(Call *c, float f)   { Arg *a = push(c); a->kind = ARG_FLOAT; a->f = f; }
void arg_len(Call *c, long per)    { Arg *a = push(c); a->kind = ARG_LEN; a->l = per; }
void arg_act(Call *c, int act)     { Arg *a = push(c); a->kind = ARG_ACT; a->i = act; }
void arg_value(Call *c, int v)     { arg_value_at(c, v, 0); }
void arg_derived(Call *c, long off) { Arg *a = push(c); a->kind = ARG_DERIVED; a->l = off; }

void arg_value_at(Call *c, int v, long off)
{
    Arg *a = push(c);
    a->kind = ARG_VALUE;
    a->v = v;
    a->l = off;
}

static void param_arg(Call *c, const Node *n, int slot, int kind)
{
    if (slot >= n->npar) {
        arg_null(c);
        return;
    }
    Arg *a = push(c);
    a->kind = kind;
    a->v = n->par[slot];
}

void arg_param(Call *c, const Node *n, int slot) { param_arg(c, n, slot, ARG_PARAM); }
void arg_grad(Call *c, const Node *n, int slot)  { param_arg(c, n, slot, ARG_GRAD); }

static void arg_buffer(Call *c, int buf) { Arg *a = push(c); a->kind = ARG_BUFFER; a->i = buf; }

void arg_geom(Lowering *l, Call *c, const Node *n)
{
    Lowered *L = l->L;
    int f = n->bwd ? n->fwd : (int)(n - L->g->nodes);
    int i = 0;
    while (i < L->ngeoms && L->geoms[i].node != f)
        i++;
    if (i == L->ngeoms) {
        L->geoms = xrealloc(L->geoms, sizeof(Geom) * (size_t)(L->ngeoms + 1));
        Geom *gm = &L->geoms[L->ngeoms++];
        memset(gm, 0, sizeof *gm);
        gm->node = f;
        gm->is_conv = L->g->nodes[f].op == OP_conv;
        if (gm->is_conv)
            ir_conv_geom(L->g, &L->g->nodes[f], &gm->conv);
        else
            ir_pool_geom(L->g, &L->g->nodes[f], &gm->pool);
    }
    Arg *a = push(c);
    a->kind = ARG_GEOM;
    a->i = i;
}

void arg_values(Call *c, const int *vs, int count, int out)
{
    Arg *a = push(c);
    a->kind = out ? ARG_VALUES_OUT : ARG_VALUES;
    a->count = count;
    a->vs = xmalloc(sizeof(int) * (size_t)(count + 1));
    memcpy(a->vs, vs, sizeof(int) * (size_t)count);
}

void arg_sizes(Call *c, const long *ls, int count)
{
    Arg *a = push(c);
    a->kind = ARG_SIZES;
    a->count = count;
    a->ls = xmalloc(sizeof(long) * (size_t)(count + 1));
    memcpy(a->ls, ls, sizeof(long) * (size_t)count);
}

/* ---- calls and their comments ---- */
static Call *append(CallList *list, const char *kernel, int node)
{
    if (list->n == list->cap) {
        list->cap = list->cap ? 2 * list->cap : 32;
        list->calls = xrealloc(list->calls, sizeof(Call) * (size_t)list->cap);
    }
    Call *c = &list->calls[list->n++];
    memset(c, 0, sizeof *c);
    c->kernel = kernel;
    c->node = node;
    c->scratch = -1;
    return c;
}

static const char *const act_names[] = { "", "relu", "leaky_relu", "sigmoid", "tanh", "silu" };

/* "d conv1: conv+relu  lenet5.cnn:4  [1,28,28] -> [6,28,28]" */
static char *comment(const Graph *g, const Node *n)
{
    const Node *f = n->bwd ? &g->nodes[n->fwd] : n;
    char in[64] = "", out[64] = "", from[64] = "";
    if (f->nin)
        ir_shape_str(g->vals[f->in[0]].shape, in, sizeof in);
    if (f->nout)
        ir_shape_str(g->vals[f->out[0]].shape, out, sizeof out);
    const char *base = strrchr(g->file, '/') ? strrchr(g->file, '/') + 1 : g->file;
    if (ir_ops[n->op].flags & F_LOSS) {    /* in: z, p, target */
        const Node *last = &g->nodes[g->vals[n->in[1]].producer];
        ir_shape_str(g->vals[n->in[1]].shape, in, sizeof in);
        if (n->in[0] == n->in[1])
            return xfmt("loss: %s  %s:%d  on %s", ir_ops[n->op].name, base, n->loc.line, in);
        return xfmt("loss: %s  %s:%d  on %s, computed with %s (log-sum-exp)",
                    ir_ops[n->op].name, base, n->loc.line, in, last->layer);
    }
    if (ir_ops[n->op].flags & F_VIEW) {
        if (n->nout)
            ir_shape_str(g->vals[n->out[0]].shape, out, sizeof out);
        return xfmt("%s: %s is a view of %s as %s, no code", n->layer,
                    n->bwd ? "the gradient" : "the output",
                    n->bwd ? "the incoming gradient" : "the input", out);
    }
    if (n->act_line)
        snprintf(from, sizeof from, ", %s from line %d", act_names[n->act], n->act_line);
    return xfmt("%s%s: %s%s%s%s  %s:%d  %s -> %s%s", n->bwd ? "d " : "", n->layer ? n->layer : "",
                ir_ops[n->op].name, n->fold_bn ? "+batchnorm" : "", n->act ? "+" : "",
                act_names[n->act], base, n->loc.line, in, out, from);
}

/* every kernel takes the model's context first */
Call *lower_call(Lowering *l, const Node *n, const char *kernel)
{
    const Graph *g = l->L->g;
    Call *c = append(l->list, kernel, (int)(n - g->nodes));
    c->comment = comment(g, n);
    if (kernel)
        arg_ctx(c);
    return c;
}

/* ---- the model-level lists ---- */
int lower_opt_buffers(const TrainCfg *t)
{
    if (t->opt == OPT_ADAM)
        return 2;
    return t->opt == OPT_SGD && t->momentum == 0 ? 0 : 1;
}

const char *lower_opt_name(const TrainCfg *t, int b)
{
    static const char *const names[][2] = {
        [OPT_SGD] = { "momentum_buffer", NULL }, [OPT_ADAGRAD] = { "sum", NULL },
        [OPT_RMSPROP] = { "square_avg", NULL }, [OPT_ADAM] = { "exp_avg", "exp_avg_sq" },
    };
    return names[t->opt][b];
}

static void param_of(Call *c, int p)
{
    Arg *a = push(c);
    a->kind = ARG_PARAM;
    a->v = p;
}

static void lower_init(Lowered *L)
{
    const Graph *g = L->g;
    for (int i = 0; i < g->nparams; i++) {
        const Param *p = &g->params[i];
        Call *c;
        if (p->kind == P_WEIGHT || p->kind == P_BIAS) {
            c = append(&L->init, p->kind == P_WEIGHT ? "cnnrt_init_weight" : "cnnrt_init_bias", -1);
            push(c)->kind = ARG_INIT_RNG;
            arg_int(c, p->init);
            param_of(c, i);
            arg_long(c, p->size);
            arg_long(c, p->fan_in);
            if (p->kind == P_WEIGHT)
                arg_long(c, p->fan_out);
            if (p->prior > 0) {     /* drawn as usual (the generator moves on
                                       the same), then set to the prior */
                c = append(&L->init, "cnnrt_fill", -1);
                c->comment = xfmt("%s: prior %g", p->name, (double)p->prior);
                param_of(c, i);
                arg_long(c, p->size);
                arg_float(c, (float)-log((1.0 - p->prior) / p->prior));
            }
        } else {
            c = append(&L->init, "cnnrt_fill", -1);
            param_of(c, i);
            arg_long(c, p->size);
            arg_float(c, p->initval);
        }
    }
}

/* inference: conv weights with the batchnorm after them folded in, into
 * the derived buffer (computed after _init and _load) */
static void lower_fold(Lowered *L)
{
    const Graph *g = L->g;
    for (int i = 0; i < g->nnodes; i++) {
        const Node *n = &g->nodes[i];
        L->fold_off[i] = -1;
        if (n->dead || !n->fold_bn)
            continue;
        const Param *w = &g->params[PAR(n, conv, weight)];
        L->fold_off[i] = L->nderived;
        L->nderived += (w->size + w->shape[0] + 15) / 16 * 16;
        const Node *b = &g->nodes[n->fold_bn - 1];
        Call *c = append(&L->fold, "cnnrt_fold_batchnorm", i);
        arg_ctx(c);
        arg_int(c, w->shape[0]);
        arg_long(c, w->size / w->shape[0]);
        arg_param(c, n, conv_par_weight);
        arg_param(c, n, conv_par_bias);
        arg_param(c, b, batchnorm_par_scale);
        arg_param(c, b, batchnorm_par_shift);
        arg_param(c, b, batchnorm_par_mean);
        arg_param(c, b, batchnorm_par_var);
        arg_float(c, b->a.eps);
        arg_derived(c, L->fold_off[i]);
        arg_derived(c, L->fold_off[i] + w->size);
    }
}

static void lower_update(Lowered *L)
{
    const TrainCfg *t = &L->g->train;
    static const char *const kernels[] = {
        [OPT_SGD] = "cnnrt_sgd_update", [OPT_ADAGRAD] = "cnnrt_adagrad_update",
        [OPT_RMSPROP] = "cnnrt_rmsprop_update", [OPT_ADAM] = "cnnrt_adam_update",
    };
    Call *c = append(&L->update, kernels[t->opt], -1);
    arg_ctx(c);
    push(c)->kind = ARG_NPARAMS;
    arg_buffer(c, BUF_PARAMS);
    arg_buffer(c, BUF_GRADS);
    arg_buffer(c, BUF_OPT1);
    if (t->opt == OPT_ADAM)
        arg_buffer(c, BUF_OPT2);
    arg_float(c, t->lr);
    switch (t->opt) {
    case OPT_SGD:
        arg_float(c, t->momentum);
        arg_float(c, t->wd);
        arg_int(c, t->nesterov);
        push(c)->kind = ARG_STEP;
        break;
    case OPT_ADAGRAD:
        arg_float(c, t->eps);
        arg_float(c, t->wd);
        break;
    case OPT_RMSPROP:
        arg_float(c, t->rho);
        arg_float(c, t->eps);
        arg_float(c, t->wd);
        break;
    default:
        arg_float(c, t->beta1);
        arg_float(c, t->beta2);
        arg_float(c, t->eps);
        arg_float(c, t->wd);
        push(c)->kind = ARG_STEP;
        break;
    }
}

typedef void (*LowerFn)(Lowering *, const Node *);
static const LowerFn lower_fns[NOPS] = {
#define OP(name, nin, flags, args) lower_##name,
#include "../ir/ops.def"
#undef OP
};

Lowered *lower_graph(const Graph *g)
{
    Lowered *L = xcalloc(1, sizeof *L);
    L->g = g;
    L->fold_off = xmalloc(sizeof(long) * (size_t)(g->nnodes + 1));
    L->opt_buffers = lower_opt_buffers(&g->train);
    lower_fold(L);
    lower_init(L);
    Lowering l = { L, &L->forward };
    int nfwd = g->nfwd ? g->nfwd : g->nnodes;
    for (int i = 0; i < g->nnodes; i++) {
        const Node *n = &g->nodes[i];
        if (n->dead || n->op == OP_input)
            continue;
        l.list = i < nfwd ? &L->forward : &L->backward;
        lower_fns[n->op](&l, n);
    }
    if (!g->inference && g->loss_node >= 0)
        lower_update(L);
    return L;
}

static void free_list(CallList *list)
{
    for (int i = 0; i < list->n; i++) {
        Call *c = &list->calls[i];
        for (int k = 0; k < c->nargs; k++) {
            free(c->args[k].vs);
            free(c->args[k].ls);
        }
        free(c->args);
        free(c->comment);
    }
    free(list->calls);
}

void lower_free(Lowered *L)
{
    if (!L)
        return;
    free_list(&L->forward);
    free_list(&L->backward);
    free_list(&L->init);
    free_list(&L->fold);
    free_list(&L->update);
    free(L->geoms);
    free(L->fold_off);
    free(L);
}
