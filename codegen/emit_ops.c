/* emit_ops.c — one kernel call per node: emit_NAME for each op of
 * ops.def, writing the forward call, or the backward call when n->bwd.
 *
 * The argument order of every call is the runtime's (cnnrt.h): the model's
 * kernel context &m->ctx first (its scratch is set just before each conv
 * call).  The value layout of each node is the one shape.c and autodiff.c
 * document.  Each call is preceded by a comment naming the layer, its
 * .cnn line and its shapes (emit_comment).  Lengths are per call: n
 * samples of the value's per-sample size.
 */
#include <stdio.h>
#include <string.h>
#include "emit.h"

#define OUT(i) emit_val(e, n->out[i])
#define IN(i)  emit_val(e, n->in[i])

static const char *act_const[] = {
    "CNNRT_ACT_NONE", "CNNRT_ACT_RELU", "CNNRT_ACT_LEAKY",
    "CNNRT_ACT_SIGMOID", "CNNRT_ACT_TANH", "CNNRT_ACT_SILU"
};

/* dx of a backward node: out[0] unless it is scratch or absent */
static const char *dx(Emitter *e, const Node *n)
{
    if (n->nout == 0 || e->g->vals[n->out[0]].kind == V_SCRATCH)
        return "NULL";
    return OUT(0);
}

static Shape x_shape(Emitter *e, const Node *n)
{
    const Node *f = n->bwd ? &e->g->nodes[n->fwd] : n;
    return e->g->vals[f->in[0]].shape;
}

/* channels and pixels per channel of the forward input */
static void chw(Emitter *e, const Node *n, int *c, long *hw)
{
    Shape s = x_shape(e, n);
    *c = s.d[0];
    *hw = s.rank == 3 ? (long)s.d[1] * s.d[2] : 1;
}

void emit_input(Emitter *e, const Node *n) { (void)e; (void)n; }

void emit_conv(Emitter *e, const Node *n)
{
    emit_comment(e, n);
    if (!n->bwd) {
        long fo = e->fold_off[n - e->g->nodes];
        const Param *w = &e->g->params[n->par[0]];
        fprintf(e->f, "    m->ctx.scratch = %s;\n", emit_scratch(e, n));
        fprintf(e->f, "    cnnrt_conv_forward(&m->ctx, &%s, n, %s, %s, %s, %s, %s, %s);\n",
                emit_geom_name(e, n), IN(0),
                fo >= 0 ? emit_derived(fo) : emit_param(e, n, 0),
                fo >= 0 ? emit_derived(fo + w->size) : emit_param(e, n, 1),
                OUT(0), act_const[n->act], emit_float(n->act_alpha));
        return;
    }
    fprintf(e->f, "    m->ctx.scratch = %s;\n", emit_scratch(e, n));
    fprintf(e->f, "    cnnrt_conv_backward(&m->ctx, &%s, n, %s, %s, %s, %s, %s, %s,\n"
                  "                        %s, %s, %s);\n",
            emit_geom_name(e, n), IN(1), emit_param(e, n, 0), n->act ? IN(2) : "NULL",
            IN(0), act_const[n->act], emit_float(n->act_alpha), dx(e, n),
            emit_grad(e, n, 0), emit_grad(e, n, 1));
}

void emit_dense(Emitter *e, const Node *n)
{
    const Param *w = &e->g->params[n->par[0]];
    emit_comment(e, n);
    if (!n->bwd) {
        fprintf(e->f, "    cnnrt_dense_forward(&m->ctx, n, %d, %d, %s, %s, %s, %s, %s, %s);\n",
                w->shape[1], w->shape[0], IN(0), emit_param(e, n, 0), emit_param(e, n, 1),
                OUT(0), act_const[n->act], emit_float(n->act_alpha));
        return;
    }
    fprintf(e->f, "    cnnrt_dense_backward(&m->ctx, n, %d, %d, %s, %s, %s, %s, %s, %s,\n"
                  "                         %s, %s, %s);\n",
            w->shape[1], w->shape[0], IN(1), emit_param(e, n, 0), n->act ? IN(2) : "NULL",
            IN(0), act_const[n->act], emit_float(n->act_alpha), dx(e, n),
            emit_grad(e, n, 0), emit_grad(e, n, 1));
}

/* elementwise activations: forward (x, y); backward reads y, or x for
 * silu and for leaky relu with a non-positive slope (autodiff.c) */
static void act(Emitter *e, const Node *n, int kind, float alpha)
{
    emit_comment(e, n);
    if (!n->bwd) {
        fprintf(e->f, "    cnnrt_act_forward(&m->ctx, %s, %s, %s, %s, %s);\n", act_const[kind],
                emit_float(alpha), emit_len(e, n->out[0]), IN(0), OUT(0));
        return;
    }
    int uses_x = kind == CNNRT_ACT_SILU || (kind == CNNRT_ACT_LEAKY && alpha <= 0);
    fprintf(e->f, "    cnnrt_act_backward(&m->ctx, %s, %s, %s, %s, %s, %s, %s);\n", act_const[kind],
            emit_float(alpha), emit_len(e, n->out[0]), uses_x ? IN(1) : "NULL",
            uses_x ? "NULL" : IN(1), IN(0), OUT(0));
}

void emit_relu(Emitter *e, const Node *n)       { act(e, n, CNNRT_ACT_RELU, 0); }
void emit_leaky_relu(Emitter *e, const Node *n) { act(e, n, CNNRT_ACT_LEAKY, n->a.alpha); }
void emit_sigmoid(Emitter *e, const Node *n)    { act(e, n, CNNRT_ACT_SIGMOID, 0); }
void emit_tanh(Emitter *e, const Node *n)       { act(e, n, CNNRT_ACT_TANH, 0); }
void emit_silu(Emitter *e, const Node *n)       { act(e, n, CNNRT_ACT_SILU, 0); }

void emit_prelu(Emitter *e, const Node *n)
{
    int c;
    long hw;
    chw(e, n, &c, &hw);
    emit_comment(e, n);
    if (!n->bwd)
        fprintf(e->f, "    cnnrt_prelu_forward(&m->ctx, n, %d, %ld, %s, %s, %s);\n", c, hw, IN(0),
                emit_param(e, n, 0), OUT(0));
    else
        fprintf(e->f, "    cnnrt_prelu_backward(&m->ctx, n, %d, %ld, %s, %s, %s, %s, %s);\n", c, hw,
                IN(1), emit_param(e, n, 0), IN(0), dx(e, n), emit_grad(e, n, 0));
}

void emit_maxpool(Emitter *e, const Node *n)
{
    emit_comment(e, n);
    if (!n->bwd) {
        fprintf(e->f, "    cnnrt_maxpool_forward(&m->ctx, &%s, n, %s, %s, %s);\n", emit_geom_name(e, n),
                IN(0), OUT(0), n->nout > 1 ? OUT(1) : "NULL");
        return;
    }
    /* in[1] is the saved argmax, or (huge planes) the forward's input */
    int saved = e->g->nodes[n->fwd].in[0] != n->in[1];
    fprintf(e->f, "    cnnrt_maxpool_backward(&m->ctx, &%s, n, %s, %s, %s, %s);\n",
            emit_geom_name(e, n), saved ? "NULL" : IN(1), saved ? IN(1) : "NULL", IN(0), dx(e, n));
}

void emit_avgpool(Emitter *e, const Node *n)
{
    emit_comment(e, n);
    if (!n->bwd)
        fprintf(e->f, "    cnnrt_avgpool_forward(&m->ctx, &%s, n, %s, %s);\n", emit_geom_name(e, n),
                IN(0), OUT(0));
    else
        fprintf(e->f, "    cnnrt_avgpool_backward(&m->ctx, &%s, n, %s, %s);\n",
                emit_geom_name(e, n), IN(0), dx(e, n));
}

void emit_global_avgpool(Emitter *e, const Node *n)
{
    int c;
    long hw;
    chw(e, n, &c, &hw);
    emit_comment(e, n);
    fprintf(e->f, "    cnnrt_gap_%s(&m->ctx, n, %d, %ld, %s, %s);\n", n->bwd ? "backward" : "forward",
            c, hw, IN(0), n->bwd ? dx(e, n) : OUT(0));
}

void emit_flatten(Emitter *e, const Node *n)
{
    char b[64];
    ir_shape_str(e->g->vals[n->out[0]].shape, b, sizeof b);
    fprintf(e->f, "    /* %s: %s is a view of %s as %s, no code */\n", n->layer,
            n->bwd ? "the gradient" : "the output", n->bwd ? "the incoming gradient" : "the input", b);
}

void emit_softmax(Emitter *e, const Node *n)
{
    int c;
    long hw;
    chw(e, n, &c, &hw);
    emit_comment(e, n);
    if (!n->bwd)
        fprintf(e->f, "    cnnrt_softmax_forward(&m->ctx, n, %d, %ld, %s, %s);\n", c, hw, IN(0), OUT(0));
    else
        fprintf(e->f, "    cnnrt_softmax_backward(&m->ctx, n, %d, %ld, %s, %s, %s);\n", c, hw, IN(1),
                IN(0), dx(e, n));
}

void emit_batchnorm(Emitter *e, const Node *n)
{
    int c;
    long hw;
    chw(e, n, &c, &hw);
    emit_comment(e, n);
    if (!n->bwd) {
        char saved[160] = "NULL, NULL";
        if (n->nout > 1)
            snprintf(saved, sizeof saved, "%s, %s + %d", OUT(1), OUT(1), c);
        fprintf(e->f, "    cnnrt_batchnorm_forward(&m->ctx, n, %d, %ld, %s, %s, %s, %s, %s,\n"
                      "                            %s, %s, %s, %s, %s, %s, %s);\n",
                c, hw, IN(0), emit_param(e, n, 0), emit_param(e, n, 1), emit_param(e, n, 2),
                emit_param(e, n, 3), emit_float(n->a.momentum), emit_float(n->a.eps),
                e->g->inference ? "0" : "m->training", OUT(0), saved, act_const[n->act],
                emit_float(n->act_alpha));
        return;
    }
    fprintf(e->f, "    cnnrt_batchnorm_backward(&m->ctx, n, %d, %ld, %s, %s, %s, %s + %d, %s, %s,\n"
                  "                             %s, %s, %s, %s, %s);\n",
            c, hw, IN(1), emit_param(e, n, 0), IN(2), IN(2), c, n->act ? IN(3) : "NULL", IN(0),
            act_const[n->act], emit_float(n->act_alpha), dx(e, n),
            emit_grad(e, n, 0), emit_grad(e, n, 1));
}

void emit_dropout(Emitter *e, const Node *n)
{
    emit_comment(e, n);
    if (!n->bwd)
        fprintf(e->f, "    cnnrt_dropout_forward(&m->ctx, &m->rng, %s, %s, %s, %s, %s, %s);\n",
                emit_float(n->a.drop), e->g->inference ? "0" : "m->training",
                emit_len(e, n->out[0]), IN(0), OUT(0), n->nout > 1 ? OUT(1) : "NULL");
    else
        fprintf(e->f, "    cnnrt_dropout_backward(&m->ctx, %s, %s, %s, %s);\n", emit_len(e, n->in[0]),
                IN(1), IN(0), dx(e, n));
}

void emit_upsample(Emitter *e, const Node *n)
{
    Shape s = x_shape(e, n);
    emit_comment(e, n);
    fprintf(e->f, "    cnnrt_upsample_%s(&m->ctx, n, %d, %d, %d, %d, %s, %s);\n",
            n->bwd ? "backward" : "forward", s.d[0], s.d[1], s.d[2], n->a.factor, IN(0),
            n->bwd ? dx(e, n) : OUT(0));
}

void emit_concat(Emitter *e, const Node *n)
{
    const Node *f = n->bwd ? &e->g->nodes[n->fwd] : n;
    emit_comment(e, n);
    fprintf(e->f, "    {\n        static const long sizes[] = {");
    for (int i = 0; i < f->nin; i++)
        fprintf(e->f, "%s%ld", i ? ", " : " ", e->g->vals[f->in[i]].size);
    fprintf(e->f, " };\n");
    if (!n->bwd) {
        fprintf(e->f, "        const float *const parts[] = {");
        for (int i = 0; i < n->nin; i++)
            fprintf(e->f, "%s%s", i ? ", " : " ", IN(i));
        fprintf(e->f, " };\n        cnnrt_concat_forward(&m->ctx, n, %d, parts, sizes, %s);\n", n->nin, OUT(0));
    } else {
        fprintf(e->f, "        float *const parts[] = {");
        for (int i = 0; i < n->nout; i++)
            fprintf(e->f, "%s%s", i ? ", " : " ", OUT(i));
        fprintf(e->f, " };\n        cnnrt_concat_backward(&m->ctx, n, %d, sizes, %s, parts);\n", n->nout, IN(0));
    }
    fprintf(e->f, "    }\n");
}

void emit_add(Emitter *e, const Node *n)
{
    emit_comment(e, n);
    if (!n->bwd)
        fprintf(e->f, "    cnnrt_add_forward(&m->ctx, %s, %s, %s, %s, %s, %s);\n", emit_len(e, n->out[0]),
                IN(0), IN(1), OUT(0), act_const[n->act], emit_float(n->act_alpha));
    else    /* the fused activation's backward; dz then goes to both inputs */
        fprintf(e->f, "    cnnrt_act_backward(&m->ctx, %s, %s, %s, NULL, %s, %s, %s);\n", act_const[n->act],
                emit_float(n->act_alpha), emit_len(e, n->out[0]), IN(1), IN(0), OUT(0));
}

void emit_loss(Emitter *e, const Node *n)
{
    Shape s = e->g->vals[n->in[1]].shape;
    emit_comment(e, n);
    switch (n->a.loss) {
    case L_XENT:
        fprintf(e->f, "    loss = cnnrt_xent_loss(&m->ctx, n, %d, %ld, %s, %s, target, %s);\n", s.d[0],
                s.rank == 3 ? (long)s.d[1] * s.d[2] : 1L, IN(0), IN(1), OUT(0));
        break;
    case L_BCE:
        fprintf(e->f, "    loss = cnnrt_bce_loss(&m->ctx, %s, %s, %s, target, %s);\n",
                emit_len(e, n->in[1]), IN(0), IN(1), OUT(0));
        break;
    default:
        fprintf(e->f, "    loss = cnnrt_mse_loss(&m->ctx, %s, %s, target, %s);\n",
                emit_len(e, n->in[1]), IN(1), OUT(0));
        break;
    }
}
