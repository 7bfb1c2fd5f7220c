/* lower.h — the planned graph as lists of kernel calls.
 *
 * Lowering is the last stage that knows about ops: it turns every live node
 * of a planned Graph into one call of a runtime kernel with typed arguments
 * (buffers at arena offsets, parameter views, geometry structs, scalars),
 * plus the comment a reader sees above it (layer, op, .cnn line, shapes).
 * The model's other code — initialisation, batchnorm folding, the optimizer
 * step — is lowered the same way, so a printer needs no knowledge of ops:
 * the C printer (codegen/) writes each call as a line of C, and a second
 * printer (LLVM) can walk the very same lists.
 *
 * What it is not: a printer.  Nothing here is C text except kernel names,
 * which are the runtime's symbols and so the same for every backend.
 */
#ifndef LOWER_H
#define LOWER_H

#include "../ir/ir.h"

enum {
    ARG_NULL,       /* no buffer */
    ARG_CTX,        /* the model's kernel context */
    ARG_N,          /* the call's batch size n */
    ARG_INT,        /* i */
    ARG_LONG,       /* l */
    ARG_NPARAMS,    /* floats of the parameter buffer (a constant) */
    ARG_FLOAT,      /* f */
    ARG_LEN,        /* n * l: floats of a per-sample size l over the batch */
    ARG_ACT,        /* an activation, CNNRT_ACT_* in i */
    ARG_VALUE,      /* value v's buffer, plus l floats: the input x, the
                       target, or arena memory at the plan's offset */
    ARG_PARAM,      /* parameter (or statistic) v's data */
    ARG_GRAD,       /* parameter v's gradient */
    ARG_DERIVED,    /* folded weights: the derived buffer, plus l floats */
    ARG_GEOM,       /* the geometry (cnnrt_conv / cnnrt_pool) of geometry i */
    ARG_TRAINING,   /* the model's training flag (0 in an inference build) */
    ARG_RNG,        /* the model's dropout generator */
    ARG_INIT_RNG,   /* the generator _init runs */
    ARG_BUFFER,     /* a whole model buffer: BUF_* in i */
    ARG_STEP,       /* the optimizer step counter (after the increment) */
    ARG_VALUES,     /* an array of `count` value buffers, vs[] (const) */
    ARG_VALUES_OUT, /* the same, written by the kernel */
    ARG_SIZES       /* an array of `count` longs, ls[] */
};

enum { BUF_PARAMS, BUF_GRADS, BUF_OPT1, BUF_OPT2, BUF_STATS };

typedef struct {
    int kind;               /* ARG_* */
    int i;                  /* ARG_INT, ARG_ACT, ARG_GEOM, ARG_BUFFER */
    int v;                  /* value (ARG_VALUE) or Param (ARG_PARAM/GRAD) */
    long l;                 /* ARG_LONG, ARG_LEN, offsets */
    float f;                /* ARG_FLOAT */
    int count;              /* arrays */
    int *vs;                /* ARG_VALUES* */
    long *ls;               /* ARG_SIZES */
} Arg;

typedef struct {
    const char *kernel;     /* the runtime symbol; NULL: no code (a view) */
    int node;               /* graph node, -1 for model-level calls */
    int returns_loss;       /* the call's float result is the batch's loss */
    int scratch;            /* value the context's scratch points to for
                               this call, -1 for none */
    Arg *args;
    int nargs, cap;
    char *comment;          /* one line, without comment markers; NULL */
} Call;

typedef struct {
    Call *calls;
    int n, cap;
} CallList;

/* one static geometry per conv or pool layer, shared by its forward and
 * backward calls */
typedef struct {
    int node;               /* the forward node */
    int is_conv;
    cnnrt_conv conv;
    cnnrt_pool pool;
} Geom;

typedef struct {
    const Graph *g;
    CallList forward;       /* _forward, in schedule order */
    CallList backward;      /* _backward: the loss, then the gradients */
    CallList init;          /* _init: every tensor from one generator */
    CallList fold;          /* inference: batchnorm folded into convs */
    CallList update;        /* _update: one optimizer step */
    Geom *geoms; int ngeoms;
    long *fold_off;         /* per node: its folded weights in the derived
                               buffer, -1 */
    long nderived;          /* floats of the derived buffer */
    int opt_buffers;        /* optimizer state buffers (0, 1 or 2) */
} Lowered;

/* Lower a planned graph (after pass_run_all); never fails: every node the
 * passes leave has a kernel. */
Lowered *lower_graph(const Graph *g);
void     lower_free(Lowered *L);

/* optimizer state buffers the train block's optimizer keeps per parameter,
 * and the PyTorch name of buffer b ("exp_avg") */
int         lower_opt_buffers(const TrainCfg *t);
const char *lower_opt_name(const TrainCfg *t, int b);

/* ---- for the per-op functions (lower/ops.c) ---- */
typedef struct Lowering Lowering;
/* a new call of `kernel` for node n in the list being built */
Call *lower_call(Lowering *l, const Node *n, const char *kernel);
void  arg_null(Call *c);
void  arg_ctx(Call *c);
void  arg_n(Call *c);
void  arg_int(Call *c, int i);
void  arg_long(Call *c, long v);
void  arg_float(Call *c, float f);
void  arg_len(Call *c, long per_sample);
void  arg_act(Call *c, int act);
void  arg_value(Call *c, int v);
void  arg_value_at(Call *c, int v, long off);
void  arg_derived(Call *c, long off);
void  arg_param(Call *c, const Node *n, int slot);    /* NULL when absent */
void  arg_grad(Call *c, const Node *n, int slot);
void  arg_geom(Lowering *l, Call *c, const Node *n);
void  arg_training(Call *c);
void  arg_rng(Call *c);
void  arg_values(Call *c, const int *vs, int count, int out);
void  arg_sizes(Call *c, const long *ls, int count);
const Graph *lower_graph_of(const Lowering *l);
long  lower_fold_off(const Lowering *l, const Node *n);

#define OP(name, nin, flags, args) void lower_##name(Lowering *l, const Node *n);
#include "../ir/ops.def"
#undef OP

#endif
