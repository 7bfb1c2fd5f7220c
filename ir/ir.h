/* ir.h — the intermediate representation: a graph of tensor operations.
 *
 * A Graph is a list of Nodes in schedule order (forward nodes first, then
 * the backward nodes autodiff appends) and the Values they read and write.
 * A Value is a tensor with a per-sample shape (batch implicit, NCHW) that
 * lives in the activation arena, or a whole tensor that lives elsewhere
 * (the input and target the caller passes, parameters, gradients).
 *
 * Invariants the passes keep:
 *   - nodes are in a valid execution order; a value is written by exactly
 *     one live node (its producer) before it is read;
 *   - every live node's shapes have been checked (ir_infer_shapes);
 *   - a Value with `alias >= 0` has no storage of its own: it is a view of
 *     value `alias` (flatten, in-place ops) and the planner gives both one
 *     buffer.
 * The IR knows nothing about C: codegen/ turns it into source text.
 */
#ifndef IR_H
#define IR_H

#include "../support/alloc.h"
#include "../support/diag.h"
#include "../runtime/include/cnnrt_abi.h"

enum op {
#define OP(name, nin, flags, args) OP_##name,
#include "ops.def"
#undef OP
    NOPS
};

/* Named operand slots (ops.def's SLOT rows): conv_par_weight, conv_bin_dy... */
enum {
#define OP(name, nin, flags, args)
#define SLOT(op, list, name, index) op##_##list##_##name = index,
#include "ops.def"
#undef SLOT
#undef OP
    SLOT_END
};
/* n's operand in a named slot: IN(n, conv, x), PAR(n, batchnorm, scale),
 * BIN(n, conv, dy) (backward node), BOUT(n, add, dz).  Values (or Param
 * indices for PAR); an absent optional slot is the caller's to check. */
#define IN(n, op, name)   ((n)->in[op##_in_##name])
#define OUT(n, op, name)  ((n)->out[op##_out_##name])
#define PAR(n, op, name)  ((n)->par[op##_par_##name])
#define BIN(n, op, name)  ((n)->in[op##_bin_##name])
#define BOUT(n, op, name) ((n)->out[op##_bout_##name])
#define HAS_IN(n, op, name)  ((n)->nin > op##_in_##name)
#define HAS_BIN(n, op, name) ((n)->nin > op##_bin_##name)
#define HAS_PAR(n, op, name) ((n)->npar > op##_par_##name)

enum {
    F_USER = 1 << 0, F_PARAM = 1 << 1, F_ELEM = 1 << 2, F_ACT = 1 << 3,
    F_HOST = 1 << 4, F_INPLACE = 1 << 5, F_VIEW = 1 << 6, F_TENSORS = 1 << 7,
    F_LOSS = 1 << 8
};

typedef struct {
    const char *name;
    int nin;
    int flags;
    const char *args;
} OpInfo;
extern const OpInfo ir_ops[NOPS];
int ir_op_lookup(const char *name);             /* -1 when unknown */

/* ---- shapes: per sample, batch implicit ---- */
typedef struct {
    int rank;               /* 1: [N]; 3: [C, H, W] */
    int d[3];
} Shape;
long ir_shape_size(Shape s);                    /* elements per sample */

/* ---- values ---- */
enum vkind {
    V_ACT,      /* activation or activation gradient, BATCH x size, arena */
    V_INPUT,    /* the caller's x */
    V_TARGET,   /* the caller's target */
    V_SCRATCH,  /* per-call temporary of `size` floats (not per sample) */
    V_SAVED     /* small per-call state saved for backward (size floats) */
};

typedef struct {
    char *name;             /* for dumps: "conv1", "d.conv1", "%7" */
    int kind;
    Shape shape;            /* V_ACT, V_INPUT, V_TARGET */
    long size;              /* floats per sample (V_ACT...) or in all */
    int producer;           /* node index, -1 for V_INPUT/V_TARGET */
    int alias;              /* -1, or the value whose storage this is */
    int grad;               /* value holding d(loss)/d(this), -1 */
    long off;               /* planned arena offset in floats, -1 */
} Value;

/* ---- parameters (learned tensors and running statistics) ---- */
enum pkind { P_WEIGHT, P_BIAS, P_SCALE, P_SHIFT, P_RMEAN, P_RVAR, P_SLOPE };

typedef struct {
    char *name;             /* "conv1.weight" */
    int kind;               /* P_* */
    int rank, shape[4];
    long size;
    int learned;            /* 0 for running statistics */
    long off;               /* in the parameter buffer (learned) or the
                               state buffer (running statistics) */
    int init;               /* CNNRT_INIT_* for weights and biases */
    long fan_in, fan_out;
    float initval;          /* prelu init, batchnorm 1/0, running var 1 */
    float prior;            /* bias: after the usual init, set to
                               -ln((1-prior)/prior); 0 for none */
    int node;               /* owning forward node */
} Param;

/* ---- attributes: everything a node's arguments can set ---- */
typedef struct {
    int filters;            /* conv filters, dense units */
    int k[2], s[2], p[2], d[2];   /* kernel/size, stride, pad, dilation [h, w] */
    int same;               /* pad=same */
    int groups, bias, init;
    int factor;             /* upsample */
    float alpha;            /* leaky_relu slope */
    float slope;            /* prelu init */
    float momentum, eps;    /* batchnorm */
    float drop;             /* dropout probability p */
    float prior;            /* conv: bias prior probability, 0 for none */
} Attr;

typedef struct {
    int op;
    int bwd;                /* 1: computes gradients for forward node `fwd` */
    int fwd;
    int *in;  int nin;      /* values read (layout per op, see shape.c) */
    int out[8]; int nout;   /* values written (concat backward: one per input) */
    int par[4]; int npar;   /* Param indices (weight, bias, ...) */
    Attr a;
    int act;                /* fused epilogue CNNRT_ACT_*, 0 for none */
    float act_alpha;
    int act_line;           /* .cnn line of the fused activation */
    int fold_bn;            /* inference: batchnorm node + 1 folded into this
                               conv's weights and bias; 0 for none */
    int dead;               /* removed by a pass; skipped everywhere */
    Loc loc;                /* where the op was written */
    char *layer;            /* "conv1", "c1", "c1.0": names parameters */
} Node;

/* ---- the train block ---- */
enum { OPT_SGD, OPT_ADAGRAD, OPT_RMSPROP, OPT_ADAM };
enum { AUG_FLIP, AUG_CROP, AUG_HSV, AUG_MOSAIC, AUG_MIXUP };

typedef struct {
    int kind;               /* AUG_* */
    float f[4];             /* flip: p; crop: pad; hsv: h s v; mosaic: p lo hi;
                               mixup: alpha p */
    Loc loc;
} Augment;

typedef struct {
    int present;            /* a train block was given */
    int loss;               /* the loss op (F_LOSS), -1 when absent */
    Attr loss_args;         /* its arguments */
    Loc loss_loc;
    int opt;                /* OPT_* */
    float lr, momentum, wd, eps, rho, beta1, beta2;
    int nesterov;
    int batch, epochs;
    int max_boxes;          /* detection: ground-truth boxes per sample */
    unsigned long long seed;
    Augment *aug; int naug;
} TrainCfg;

/* ---- the memory plan: pass_plan_memory fills Graph.plan; --stats, the
 * printers and the plan checker read it ---- */
typedef struct {
    int value;              /* storage root */
    long size;              /* floats */
    int start, end;         /* first and last schedule position, inclusive */
    long off;               /* planned, floats */
} PlanItem;

typedef struct {
    PlanItem *items; int n;
    long naive;             /* sum of sizes: one buffer per tensor */
    long lower;             /* most floats live at one time */
    long planned;           /* arena size chosen */
    const char *heuristic;  /* which ordering won */
} Plan;

typedef struct Graph {
    char *name;             /* model name: prefix of every exported symbol */
    char *file;             /* source file name, for comments */
    Node *nodes;   int nnodes, capnodes;
    Value *vals;   int nvals, capvals;
    Param *params; int nparams, capparams;
    int input;              /* value */
    int target;             /* value, declared by the loss node's shape_NAME */
    int *outputs; int noutputs;
    int loss_node;          /* the loss (made by sema after the model; its
                               last node), -1 without a train block and in
                               inference builds */
    int nfwd;               /* nodes [0, nfwd) are the forward pass */
    TrainCfg train;
    int batch;              /* BATCH: train.batch or --batch */
    int inference;          /* --inference: forward only */
    long nparam_floats;     /* learned parameters, one buffer */
    long nstate_floats;     /* running statistics, one buffer */
    long arena_floats;      /* planned */
    Plan plan;              /* the memory plan (items freed by ir_free) */
    Diag *diag;
} Graph;

Graph *ir_new(const char *name, const char *file, Diag *d);
void   ir_free(Graph *g);
void   ir_plan_free(Plan *p);
int    ir_value(Graph *g, int kind, Shape s, const char *name);   /* index */
int    ir_scratch(Graph *g, int kind, long size, const char *name);
int    ir_node(Graph *g, int op, Loc loc);                         /* index */
void   ir_add_in(Graph *g, int node, int value);
int    ir_add_out(Graph *g, int node, int value);
int    ir_param(Graph *g, int node, int kind, const char *suffix,
                int rank, const int *shape);
/* the storage a value ends up in, following aliases */
int    ir_root(const Graph *g, int v);
/* uses[v] (nvals ints): live readers of v, plus one per model output;
 * reader[v] (or NULL): the one live reader, -1 none, -2 several */
void   ir_count_uses(const Graph *g, int *uses, int *reader);

/* ---- stages (each reports through g->diag; 0 on success) ---- */
int  ir_infer_shapes(Graph *g);            /* all forward nodes */
int  ir_infer_node(Graph *g, int node);    /* one node */
int  ir_autodiff(Graph *g);                /* append the backward pass */
int  ir_verify(const Graph *g, char *err, int errlen);
void ir_layout_params(Graph *g);           /* offsets in the two buffers */

/* ---- reports ---- */
void ir_dump(const Graph *g, FILE *f);     /* --emit=ir */
void ir_dot(const Graph *g, FILE *f);      /* --emit=dot */
void ir_stats(const Graph *g, FILE *f);    /* --stats */
long ir_node_macs(const Graph *g, int node);
long ir_node_params(const Graph *g, int node);
void ir_shape_str(Shape s, char *buf, int len);   /* "[6,28,28]" */

/* runtime geometry of conv and pooling nodes (forward or backward) */
void ir_conv_geom(const Graph *g, const Node *n, cnnrt_conv *c);
void ir_pool_geom(const Graph *g, const Node *n, cnnrt_pool *p);

/* per-op functions, declared from the table */
#define OP(name, nin, flags, args) \
    int  shape_##name(Graph *g, Node *n); \
    void grad_##name(Graph *g, int node);
#include "ops.def"
#undef OP

#endif
