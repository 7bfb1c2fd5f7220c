/* ops.c — lower_NAME for each op of ops.def: the runtime kernel a forward
 * or backward node calls, with its arguments in the kernel's order
 * (cnnrt.h).  Operands are found by their named slots (ops.def); lengths
 * are per call (n samples of a value's per-sample size).
 *
 * This file chooses kernels and arguments only; how a call is written out
 * is the printers' business.
 */
#include <string.h>
#include "lower.h"

/* the forward node of n (n itself when it is one) */
static const Node *fwd_of(const Lowering *l, const Node *n)
{
    return n->bwd ? &lower_graph_of(l)->nodes[n->fwd] : n;
}

static Shape x_shape(const Lowering *l, const Node *n)
{
    return lower_graph_of(l)->vals[fwd_of(l, n)->in[0]].shape;
}

/* channels and pixels per channel of the forward input */
static void chw(const Lowering *l, const Node *n, int *c, long *hw)
{
    Shape s = x_shape(l, n);
    *c = s.d[0];
    *hw = s.rank == 3 ? (long)s.d[1] * s.d[2] : 1;
}

/* dx of a backward node: its first output unless that is scratch or absent */
static void arg_dx(const Lowering *l, Call *c, const Node *n)
{
    if (n->nout == 0 || lower_graph_of(l)->vals[n->out[0]].kind == V_SCRATCH)
        arg_null(c);
    else
        arg_value(c, n->out[0]);
}

/* the node's scratch value (V_SCRATCH among its outputs), or -1 */
static int scratch_of(const Lowering *l, const Node *n)
{
    for (int k = 0; k < n->nout; k++)
        if (lower_graph_of(l)->vals[n->out[k]].kind == V_SCRATCH)
            return n->out[k];
    return -1;
}

static void epilogue(Call *c, const Node *n)
{
    arg_act(c, n->act);
    arg_float(c, n->act_alpha);
}

void lower_input(Lowering *l, const Node *n) { (void)l; (void)n; }

void lower_conv(Lowering *l, const Node *n)
{
    Call *c;
    if (!n->bwd) {
        long fo = lower_fold_off(l, n);
        const Param *w = &lower_graph_of(l)->params[PAR(n, conv, weight)];
        c = lower_call(l, n, "cnnrt_conv_forward");
        arg_geom(l, c, n);
        arg_n(c);
        arg_value(c, IN(n, conv, x));
        if (fo >= 0) {      /* batchnorm folded in: the derived weights */
            arg_derived(c, fo);
            arg_derived(c, fo + w->size);
        } else {
            arg_param(c, n, conv_par_weight);
            arg_param(c, n, conv_par_bias);
        }
        arg_value(c, OUT(n, conv, y));
        epilogue(c, n);
    } else {
        c = lower_call(l, n, "cnnrt_conv_backward");
        arg_geom(l, c, n);
        arg_n(c);
        arg_value(c, BIN(n, conv, x));
        arg_param(c, n, conv_par_weight);
        if (n->act)
            arg_value(c, BIN(n, conv, y));
        else
            arg_null(c);
        arg_value(c, BIN(n, conv, dy));
        epilogue(c, n);
        arg_dx(l, c, n);
        arg_grad(c, n, conv_par_weight);
        arg_grad(c, n, conv_par_bias);
    }
    c->scratch = scratch_of(l, n);      /* through the context */
}

void lower_dense(Lowering *l, const Node *n)
{
    const Param *w = &lower_graph_of(l)->params[PAR(n, dense, weight)];
    Call *c = lower_call(l, n, n->bwd ? "cnnrt_dense_backward" : "cnnrt_dense_forward");
    arg_n(c);
    arg_int(c, w->shape[1]);
    arg_int(c, w->shape[0]);
    if (!n->bwd) {
        arg_value(c, IN(n, dense, x));
        arg_param(c, n, dense_par_weight);
        arg_param(c, n, dense_par_bias);
        arg_value(c, OUT(n, dense, y));
        epilogue(c, n);
        return;
    }
    arg_value(c, BIN(n, dense, x));
    arg_param(c, n, dense_par_weight);
    if (n->act)
        arg_value(c, BIN(n, dense, y));
    else
        arg_null(c);
    arg_value(c, BIN(n, dense, dy));
    epilogue(c, n);
    arg_dx(l, c, n);
    arg_grad(c, n, dense_par_weight);
    arg_grad(c, n, dense_par_bias);
}

/* elementwise activations: forward (x, y); backward (x, y, dy, dx) where
 * the second operand of the backward node is y, or x for silu and for
 * leaky relu with a non-positive slope (autodiff.c) */
static void act(Lowering *l, const Node *n, int kind, float alpha)
{
    Call *c = lower_call(l, n, n->bwd ? "cnnrt_act_backward" : "cnnrt_act_forward");
    arg_act(c, kind);
    arg_float(c, alpha);
    arg_len(c, lower_graph_of(l)->vals[n->out[0]].size);
    if (!n->bwd) {
        arg_value(c, n->in[0]);
        arg_value(c, n->out[0]);
        return;
    }
    /* every activation's backward node is in: dy, saved; out: dx */
    int saved = n->in[relu_bin_y];
    int uses_x = kind == CNNRT_ACT_SILU || (kind == CNNRT_ACT_LEAKY && alpha <= 0);
    if (uses_x) {
        arg_value(c, saved);
        arg_null(c);
    } else {
        arg_null(c);
        arg_value(c, saved);
    }
    arg_value(c, n->in[relu_bin_dy]);
    arg_value(c, n->out[relu_bout_dx]);
}

void lower_relu(Lowering *l, const Node *n)       { act(l, n, CNNRT_ACT_RELU, 0); }
void lower_leaky_relu(Lowering *l, const Node *n) { act(l, n, CNNRT_ACT_LEAKY, n->a.alpha); }
void lower_sigmoid(Lowering *l, const Node *n)    { act(l, n, CNNRT_ACT_SIGMOID, 0); }
void lower_tanh(Lowering *l, const Node *n)       { act(l, n, CNNRT_ACT_TANH, 0); }
void lower_silu(Lowering *l, const Node *n)       { act(l, n, CNNRT_ACT_SILU, 0); }

/* a call of a per-channel kernel: k(ctx, n, c, hw, ...) with c channels of
 * hw pixels each (the forward input's), fwd or bwd by the node */
static Call *channel_call(Lowering *l, const Node *n, const char *fwd, const char *bwd)
{
    int ch;
    long hw;
    chw(l, n, &ch, &hw);
    Call *c = lower_call(l, n, n->bwd ? bwd : fwd);
    arg_n(c);
    arg_int(c, ch);
    arg_long(c, hw);
    return c;
}

void lower_prelu(Lowering *l, const Node *n)
{
    Call *c = channel_call(l, n, "cnnrt_prelu_forward", "cnnrt_prelu_backward");
    if (!n->bwd) {
        arg_value(c, IN(n, prelu, x));
        arg_param(c, n, prelu_par_slope);
        arg_value(c, OUT(n, prelu, y));
        return;
    }
    arg_value(c, BIN(n, prelu, x));
    arg_param(c, n, prelu_par_slope);
    arg_value(c, BIN(n, prelu, dy));
    arg_dx(l, c, n);
    arg_grad(c, n, prelu_par_slope);
}

void lower_maxpool(Lowering *l, const Node *n)
{
    Call *c = lower_call(l, n, n->bwd ? "cnnrt_maxpool_backward" : "cnnrt_maxpool_forward");
    arg_geom(l, c, n);
    arg_n(c);
    if (!n->bwd) {
        arg_value(c, IN(n, maxpool, x));
        arg_value(c, OUT(n, maxpool, y));
        if (n->nout > maxpool_out_argmax)
            arg_value(c, OUT(n, maxpool, argmax));
        else
            arg_null(c);
        return;
    }
    /* the saved argmax, or (huge planes) the forward's input */
    int pos = BIN(n, maxpool, pos);
    int is_x = IN(fwd_of(l, n), maxpool, x) == pos;
    if (is_x) {
        arg_value(c, pos);
        arg_null(c);
    } else {
        arg_null(c);
        arg_value(c, pos);
    }
    arg_value(c, BIN(n, maxpool, dy));
    arg_dx(l, c, n);
}

void lower_avgpool(Lowering *l, const Node *n)
{
    Call *c = lower_call(l, n, n->bwd ? "cnnrt_avgpool_backward" : "cnnrt_avgpool_forward");
    arg_geom(l, c, n);
    arg_n(c);
    arg_value(c, n->in[0]);     /* x, or dy */
    if (n->bwd)
        arg_dx(l, c, n);
    else
        arg_value(c, OUT(n, avgpool, y));
}

/* kernels of the form k(n, c, hw, in, out): forward in = x, backward dy */
static void per_channel(Lowering *l, const Node *n, const char *fwd, const char *bwd)
{
    Call *c = channel_call(l, n, fwd, bwd);
    if (n->bwd && n->op == OP_softmax)
        arg_value(c, BIN(n, softmax, y));
    arg_value(c, n->in[0]);
    if (n->bwd)
        arg_dx(l, c, n);
    else
        arg_value(c, n->out[0]);
}

void lower_global_avgpool(Lowering *l, const Node *n)
{
    per_channel(l, n, "cnnrt_gap_forward", "cnnrt_gap_backward");
}

void lower_softmax(Lowering *l, const Node *n)
{
    per_channel(l, n, "cnnrt_softmax_forward", "cnnrt_softmax_backward");
}

/* a view: no code, only the comment */
void lower_flatten(Lowering *l, const Node *n)
{
    lower_call(l, n, NULL);
}

/* a view: the raw head is the input itself (decoding is _detect's job) */
void lower_detect(Lowering *l, const Node *n)
{
    lower_call(l, n, NULL);
}

void lower_batchnorm(Lowering *l, const Node *n)
{
    int ch = lower_graph_of(l)->vals[fwd_of(l, n)->in[0]].shape.d[0];
    Call *c = channel_call(l, n, "cnnrt_batchnorm_forward", "cnnrt_batchnorm_backward");
    if (!n->bwd) {
        arg_value(c, IN(n, batchnorm, x));
        arg_param(c, n, batchnorm_par_scale);
        arg_param(c, n, batchnorm_par_shift);
        arg_param(c, n, batchnorm_par_mean);
        arg_param(c, n, batchnorm_par_var);
        arg_float(c, n->a.momentum);
        arg_float(c, n->a.eps);
        arg_training(c);
        arg_value(c, OUT(n, batchnorm, y));
        if (n->nout > batchnorm_out_saved) {    /* mean, then 1/std */
            arg_value(c, OUT(n, batchnorm, saved));
            arg_value_at(c, OUT(n, batchnorm, saved), ch);
        } else {
            arg_null(c);
            arg_null(c);
        }
        epilogue(c, n);
        return;
    }
    arg_value(c, BIN(n, batchnorm, x));
    arg_param(c, n, batchnorm_par_scale);
    arg_value(c, BIN(n, batchnorm, saved));
    arg_value_at(c, BIN(n, batchnorm, saved), ch);
    if (n->act)
        arg_value(c, BIN(n, batchnorm, y));
    else
        arg_null(c);
    arg_value(c, BIN(n, batchnorm, dy));
    epilogue(c, n);
    arg_dx(l, c, n);
    arg_grad(c, n, batchnorm_par_scale);
    arg_grad(c, n, batchnorm_par_shift);
}

void lower_dropout(Lowering *l, const Node *n)
{
    Call *c;
    if (!n->bwd) {
        c = lower_call(l, n, "cnnrt_dropout_forward");
        arg_rng(c);
        arg_float(c, n->a.drop);
        arg_training(c);
        arg_len(c, lower_graph_of(l)->vals[OUT(n, dropout, y)].size);
        arg_value(c, IN(n, dropout, x));
        arg_value(c, OUT(n, dropout, y));
        if (n->nout > dropout_out_mask)
            arg_value(c, OUT(n, dropout, mask));
        else
            arg_null(c);
        return;
    }
    c = lower_call(l, n, "cnnrt_dropout_backward");
    arg_len(c, lower_graph_of(l)->vals[BIN(n, dropout, dy)].size);
    arg_value(c, BIN(n, dropout, mask));
    arg_value(c, BIN(n, dropout, dy));
    arg_dx(l, c, n);
}

void lower_upsample(Lowering *l, const Node *n)
{
    Shape s = x_shape(l, n);
    Call *c = lower_call(l, n, n->bwd ? "cnnrt_upsample_backward" : "cnnrt_upsample_forward");
    arg_n(c);
    arg_int(c, s.d[0]);
    arg_int(c, s.d[1]);
    arg_int(c, s.d[2]);
    arg_int(c, n->a.factor);
    arg_value(c, n->in[0]);
    if (n->bwd)
        arg_dx(l, c, n);
    else
        arg_value(c, OUT(n, upsample, y));
}

void lower_concat(Lowering *l, const Node *n)
{
    const Graph *g = lower_graph_of(l);
    const Node *f = fwd_of(l, n);
    long sizes[64];
    int k = f->nin < 64 ? f->nin : 64;
    for (int i = 0; i < k; i++)
        sizes[i] = g->vals[f->in[i]].size;
    Call *c = lower_call(l, n, n->bwd ? "cnnrt_concat_backward" : "cnnrt_concat_forward");
    arg_n(c);
    arg_int(c, k);
    if (!n->bwd) {
        arg_values(c, &IN(n, concat, first), k, 0);
        arg_sizes(c, sizes, k);
        arg_value(c, OUT(n, concat, y));
    } else {
        arg_sizes(c, sizes, k);
        arg_value(c, BIN(n, concat, dy));
        arg_values(c, &BOUT(n, concat, first), k, 1);
    }
}

void lower_add(Lowering *l, const Node *n)
{
    long len = lower_graph_of(l)->vals[n->out[0]].size;
    Call *c;
    if (!n->bwd) {
        c = lower_call(l, n, "cnnrt_add_forward");
        arg_len(c, len);
        arg_value(c, IN(n, add, a));
        arg_value(c, IN(n, add, b));
        arg_value(c, OUT(n, add, y));
        epilogue(c, n);
        return;
    }
    /* the fused activation's backward; dz then goes to both inputs */
    c = lower_call(l, n, "cnnrt_act_backward");
    epilogue(c, n);
    arg_len(c, len);
    arg_null(c);
    arg_value(c, BIN(n, add, y));
    arg_value(c, BIN(n, add, dy));
    arg_value(c, BOUT(n, add, dz));
}

/* losses: return the loss and write dz (from the logits z where the loss
 * absorbed a softmax or sigmoid) */
void lower_cross_entropy(Lowering *l, const Node *n)
{
    Shape s = lower_graph_of(l)->vals[IN(n, cross_entropy, p)].shape;
    Call *c = lower_call(l, n, "cnnrt_xent_loss");
    arg_n(c);
    arg_int(c, s.d[0]);
    arg_long(c, s.rank == 3 ? (long)s.d[1] * s.d[2] : 1L);
    arg_value(c, IN(n, cross_entropy, z));
    arg_value(c, IN(n, cross_entropy, p));
    arg_value(c, IN(n, cross_entropy, target));
    arg_value(c, OUT(n, cross_entropy, dz));
    c->returns_loss = 1;
}

/* the elementwise losses over every float of the prediction: (len, [z,] p,
 * target, dz); bce computes from the logits z, mse from p alone.  Their
 * slots are laid out alike (ops.def). */
static void elem_loss(Lowering *l, const Node *n, const char *kernel, int with_z)
{
    Call *c = lower_call(l, n, kernel);
    arg_len(c, lower_graph_of(l)->vals[IN(n, bce, p)].size);
    if (with_z)
        arg_value(c, IN(n, bce, z));
    arg_value(c, IN(n, bce, p));
    arg_value(c, IN(n, bce, target));
    arg_value(c, OUT(n, bce, dz));
    c->returns_loss = 1;
}

typedef char mse_slots_are_bce_slots[mse_in_p == bce_in_p && mse_in_target == bce_in_target &&
                                     mse_out_dz == bce_out_dz ? 1 : -1];
void lower_bce(Lowering *l, const Node *n) { elem_loss(l, n, "cnnrt_bce_loss", 1); }
void lower_mse(Lowering *l, const Node *n) { elem_loss(l, n, "cnnrt_mse_loss", 0); }

/* the yolox loss: the raw head of every level, the boxes; the gradient of
 * every level (overwritten); assignment scratch through the context */
void lower_yolox(Lowering *l, const Node *n)
{
    const Graph *g = lower_graph_of(l);
    int levels = g->noutputs;
    Call *c = lower_call(l, n, "cnnrt_yolox_loss");
    arg_detect_geom(l, c);
    arg_n(c);
    arg_values(c, &IN(n, yolox, first), levels, 0);
    arg_value(c, n->in[levels]);
    arg_values(c, &OUT(n, yolox, first), levels, 1);
    c->scratch = scratch_of(l, n);
    c->returns_loss = 1;
}
