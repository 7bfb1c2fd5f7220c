/* import.c — ONNX nodes to cnnc op terms (`cnnc import`, first half).
 *
 * Walks the graph's nodes in their (topological) order, tracks every
 * value's ONNX shape, and turns each node, or a known pattern of nodes
 * (MatMul + Add, x * Sigmoid(x)), into one Term of .cnn text with its
 * parameters converted to cnnc's layout: Gemm and MatMul weights to
 * [out, in] with alpha and beta folded in, a single PRelu slope repeated
 * per channel.  Identity, Flatten of a flat value and an inference Dropout
 * mask are aliases, not terms.  Every case it cannot express exactly is an
 * error naming the node, its operator and the nearest supported form.
 * window.c reads the kernel, stride, padding and dilation attributes;
 * write.c turns the terms into statements and the weights file.
 */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "support/diag.h"
#include "onnx/imp.h"

int imp_val(Imp *m, const char *name)
{
    for (int i = 0; i < m->nvals; i++)
        if (strcmp(m->vals[i].onnx, name) == 0)
            return i;
    return -1;
}

/* d may point into m->vals, which this may move */
static int add_val(Imp *m, const char *name, int rank, const long *d)
{
    long dims[IMP_MAXRANK];
    if (rank)
        memcpy(dims, d, sizeof *d * (size_t)rank);
    if (m->nvals == m->capvals) {
        m->capvals = m->capvals ? 2 * m->capvals : 64;
        m->vals = realloc(m->vals, sizeof *m->vals * (size_t)m->capvals);
    }
    Val *v = &m->vals[m->nvals];
    memset(v, 0, sizeof *v);
    v->onnx = name;
    v->rank = rank;
    if (rank)
        memcpy(v->d, dims, sizeof *d * (size_t)rank);
    v->alias = -1;
    return m->nvals++;
}

static int root(const Imp *m, int v)
{
    while (v >= 0 && m->vals[v].alias >= 0)
        v = m->vals[v].alias;
    return v;
}

static const char *out_name(const Onnx__NodeProto *n)
{
    return n->n_output ? n->output[0] : "";
}

/* input k of n when it is a tensor computed from the model's input */
static int data_in(Imp *m, const Onnx__NodeProto *n, int k)
{
    if ((size_t)k >= n->n_input || !n->input[k][0])
        return imp_fail(m, n, NULL, "input %d is missing", k), -1;
    int v = root(m, imp_val(m, n->input[k]));
    if (v < 0)
        return imp_fail(m, n, NULL, "input '%s' is not defined before the node", n->input[k]), -1;
    if (m->vals[v].konst)
        return imp_fail(m, n, "an operand computed from the model's input",
                        "input %d ('%s') is a constant", k, n->input[k]), -1;
    return v;
}

/* input k of n when it is a constant (initializer or Constant); NULL and
 * an error otherwise, or NULL quietly when optional and absent */
static const Onnx__TensorProto *const_in(Imp *m, const Onnx__NodeProto *n, int k, int optional)
{
    if ((size_t)k >= n->n_input || !n->input[k][0]) {
        if (!optional)
            imp_fail(m, n, NULL, "input %d is missing", k);
        return NULL;
    }
    int v = root(m, imp_val(m, n->input[k]));
    if (v < 0 || !m->vals[v].konst) {
        imp_fail(m, n, "weights stored as initializers",
                 "input %d ('%s') must be a constant (an initializer)", k, n->input[k]);
        return NULL;
    }
    return m->vals[v].konst;
}

/* the node's output value, shape given */
static int out_val(Imp *m, const Onnx__NodeProto *n, int rank, const long *d)
{
    return add_val(m, out_name(n), rank, d);
}

static Term *add_term(Imp *m, int out, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static Term *add_term(Imp *m, int out, const char *fmt, ...)
{
    if (m->nterms == m->capterms) {
        m->capterms = m->capterms ? 2 * m->capterms : 32;
        m->terms = realloc(m->terms, sizeof *m->terms * (size_t)m->capterms);
    }
    Term *t = &m->terms[m->nterms++];
    memset(t, 0, sizeof *t);
    t->out = out;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(t->text, sizeof t->text, fmt, ap);
    va_end(ap);
    return t;
}

static void add_par(Term *t, float *data, long size)
{
    t->par[t->npar] = data;
    t->npar_size[t->npar++] = size;
}

/* the shortest decimal that reads back as f */
static const char *num(char *buf, float f)
{
    for (int prec = 6; prec <= 9; prec++) {
        snprintf(buf, 32, "%.*g", prec, f);
        if (strtof(buf, NULL) == f)
            break;
    }
    return buf;
}

/* "3" or "[3, 5]" */
static const char *pair(char *buf, long a, long b)
{
    if (a == b)
        snprintf(buf, 32, "%ld", a);
    else
        snprintf(buf, 32, "[%ld, %ld]", a, b);
    return buf;
}

static const char *shape_str(char *buf, const long *d, int rank)
{
    int k = sprintf(buf, "[");
    for (int i = 0; i < rank && k < 100; i++)
        k += sprintf(buf + k, "%s%ld", i ? ", " : "", d[i]);
    sprintf(buf + k, "]");
    return buf;
}

/* a unary term reading x whose output has shape d */
static Term *unary(Imp *m, const Onnx__NodeProto *n, int x, int rank, const long *d)
{
    Term *t = add_term(m, out_val(m, n, rank, d), "%s", "");
    t->in[0] = x;
    t->nin = 1;
    return t;
}

/* images: [N, C, H, W], or [N, C, L] taken as [N, C, 1, L] (1-D ops
 * become 2-D ones of height 1: the same numbers) */
static int need_spatial(Imp *m, const Onnx__NodeProto *n, int x, int rank3, const char *near)
{
    const Val *v = &m->vals[x];
    if (v->rank == 4 || (rank3 && v->rank == 3))
        return 0;
    char b[128];
    return imp_fail(m, n, near, "input of shape %s: only [N, C, H, W]%s inputs are supported",
                    shape_str(b, v->d, v->rank), rank3 ? " and [N, C, L]" : "");
}

/* ", name=VALUE" for a pair argument unless it is the default */
static int pair_arg(char *buf, int len, const char *name, const long *v, long def)
{
    char b[32];
    if (v[0] == def && v[1] == def)
        return 0;
    return snprintf(buf, (size_t)len, ", %s=%s", name, pair(b, v[0], v[1]));
}

/* ---- the operators ---- */

static int op_conv(Imp *m, const Onnx__NodeProto *n, int x)
{
    if (need_spatial(m, n, x, 1, "Conv on [N, C, H, W] or [N, C, L]"))
        return -1;
    const Onnx__TensorProto *W = const_in(m, n, 1, 0), *B = const_in(m, n, 2, 1);
    if (!W || (!B && n->n_input > 2 && n->input[2][0]))
        return -1;
    const Val *xv = &m->vals[x];
    if (W->n_dims != (size_t)xv->rank)
        return imp_fail(m, n, NULL, "weights of %zu dims, not %d", W->n_dims, xv->rank);
    long f = W->dims[0], cg = W->dims[1], groups = pb_attr_int(n, "group", 1);
    long kh = xv->rank == 4 ? W->dims[2] : 1, kw = W->dims[xv->rank - 1];
    ImpWindow w = { { kh, kw }, { 0 }, { 0 }, { 0 } };
    if (imp_window(m, n, xv, &w, 0))
        return -1;
    if (w.k[0] != kh || w.k[1] != kw)
        return imp_fail(m, n, NULL, "kernel_shape does not match the weights");
    if (groups < 1 || cg * groups != xv->d[1] || f % groups)
        return imp_fail(m, n, NULL, "weights [%ld, %ld, ...] with group=%ld do not fit %ld "
                        "input channels", f, cg, groups, xv->d[1]);
    if (B && pb_numel(B) != f)
        return imp_fail(m, n, NULL, "bias of %ld values for %ld filters", pb_numel(B), f);
    long d[4];
    if (imp_window_out(m, n, xv, &w, f, d))
        return -1;
    char args[160], b[32];
    int k = snprintf(args, sizeof args, "conv(%ld, kernel=%s", f, pair(b, w.k[0], w.k[1]));
    k += pair_arg(args + k, (int)sizeof args - k, "stride", w.s, 1);
    k += pair_arg(args + k, (int)sizeof args - k, "pad", w.p, 0);
    k += pair_arg(args + k, (int)sizeof args - k, "dilation", w.dil, 1);
    if (groups != 1)
        k += snprintf(args + k, sizeof args - (size_t)k, ", groups=%ld", groups);
    snprintf(args + k, sizeof args - (size_t)k, "%s)", B ? "" : ", bias=false");
    float *wd = pb_floats(W), *bd = B ? pb_floats(B) : NULL;
    if (!wd || (B && !bd)) {
        free(wd);
        free(bd);
        return imp_fail(m, n, "float weights", "weights of a type cnnc does not read");
    }
    Term *t = unary(m, n, x, xv->rank, d);
    snprintf(t->text, sizeof t->text, "%s", args);
    add_par(t, wd, pb_numel(W));
    if (bd)
        add_par(t, bd, f);
    return 0;
}

static int pool(Imp *m, const Onnx__NodeProto *n, int x, int avg)
{
    const char *near = avg ? "AveragePool on [N, C, H, W] or [N, C, L]" :
                       "MaxPool on [N, C, H, W] or [N, C, L]";
    if (need_spatial(m, n, x, 1, near))
        return -1;
    if (n->n_output > 1 && n->output[1][0])
        return imp_fail(m, n, "MaxPool without its Indices output", "the Indices output is used");
    const Val *xv = &m->vals[x];
    ImpWindow w = { { 0 }, { 0 }, { 0 }, { 0 } };
    if (imp_window(m, n, xv, &w, 1))
        return -1;
    if (w.dil[0] != 1 || w.dil[1] != 1)
        return imp_fail(m, n, "dilations=[1, 1]", "dilated pooling");
    if (avg && (w.p[0] || w.p[1]) && !pb_attr_int(n, "count_include_pad", 0))
        return imp_fail(m, n, "count_include_pad=1 (the divisor counts padded cells), or no "
                        "padding", "count_include_pad=0 with padding");
    if (2 * w.p[0] > w.k[0] || 2 * w.p[1] > w.k[1])
        return imp_fail(m, n, "pads of at most half the window", "pads larger than half the window");
    long d[4];
    if (imp_window_out(m, n, xv, &w, xv->d[1], d))
        return -1;
    char b[32];
    Term *t = unary(m, n, x, xv->rank, d);
    int k = snprintf(t->text, sizeof t->text, "%s(%s", avg ? "avgpool" : "maxpool",
                     pair(b, w.k[0], w.k[1]));
    if (w.s[0] != w.k[0] || w.s[1] != w.k[1])
        k += snprintf(t->text + k, sizeof t->text - (size_t)k, ", stride=%s", pair(b, w.s[0], w.s[1]));
    k += pair_arg(t->text + k, (int)sizeof t->text - k, "pad", w.p, 0);
    snprintf(t->text + k, sizeof t->text - (size_t)k, ")");
    return 0;
}

static int op_maxpool(Imp *m, const Onnx__NodeProto *n, int x) { return pool(m, n, x, 0); }
static int op_avgpool(Imp *m, const Onnx__NodeProto *n, int x) { return pool(m, n, x, 1); }

static int op_gap(Imp *m, const Onnx__NodeProto *n, int x)
{
    if (need_spatial(m, n, x, 1, "GlobalAveragePool on [N, C, H, W] or [N, C, L]"))
        return -1;
    long d[4] = { m->vals[x].d[0], m->vals[x].d[1], 1, 1 };
    snprintf(unary(m, n, x, m->vals[x].rank, d)->text, sizeof m->terms[0].text, "global_avgpool");
    return 0;
}

/* the channel count of x for per-channel ops: [N,C,H,W], [N,C,L] or [N,C] */
static long channels(Imp *m, const Onnx__NodeProto *n, int x)
{
    const Val *v = &m->vals[x];
    if (v->rank >= 2 && v->rank <= 4)
        return v->d[1];
    char b[128];
    imp_fail(m, n, "an input of shape [N, C, H, W], [N, C, L] or [N, C]", "input of shape %s",
             shape_str(b, v->d, v->rank));
    return -1;
}

static int op_batchnorm(Imp *m, const Onnx__NodeProto *n, int x)
{
    long c = channels(m, n, x);
    if (c < 0)
        return -1;
    if (!pb_attr_int(n, "spatial", 1))
        return imp_fail(m, n, "spatial=1 (statistics per channel)", "spatial=0");
    if (pb_attr_int(n, "training_mode", 0))
        return imp_fail(m, n, "training_mode=0 (inference)", "training_mode=1");
    for (size_t i = 1; i < n->n_output; i++)
        if (n->output[i][0])
            return imp_fail(m, n, "BatchNormalization with one output (inference)",
                            "its running statistics outputs are used");
    float *p[4] = { 0 };
    for (int i = 0; i < 4; i++) {
        const Onnx__TensorProto *t = const_in(m, n, i + 1, 0);
        if (t && pb_numel(t) != c)
            imp_fail(m, n, NULL, "input %d has %ld values for %ld channels", i + 1, pb_numel(t), c);
        if (!t || pb_numel(t) != c || !(p[i] = pb_floats(t))) {
            for (int j = 0; j < i; j++)
                free(p[j]);
            if (t && pb_numel(t) == c)
                imp_fail(m, n, "float statistics", "statistics of a type cnnc does not read");
            return -1;
        }
    }
    float eps = pb_attr_float(n, "epsilon", 1e-5f), mom = 1 - pb_attr_float(n, "momentum", 0.9f);
    char b[32];
    Term *t = unary(m, n, x, m->vals[x].rank, m->vals[x].d);
    int k = snprintf(t->text, sizeof t->text, "batchnorm");
    if (fabsf(eps - 1e-5f) > 1e-12f || fabsf(mom - 0.1f) > 1e-6f) {
        k += snprintf(t->text + k, sizeof t->text - (size_t)k, "(");
        if (fabsf(mom - 0.1f) > 1e-6f)
            k += snprintf(t->text + k, sizeof t->text - (size_t)k, "momentum=%s", num(b, mom));
        if (fabsf(eps - 1e-5f) > 1e-12f)
            k += snprintf(t->text + k, sizeof t->text - (size_t)k, "%seps=%s",
                          fabsf(mom - 0.1f) > 1e-6f ? ", " : "", num(b, eps));
        snprintf(t->text + k, sizeof t->text - (size_t)k, ")");
    }
    for (int i = 0; i < 4; i++)
        add_par(t, p[i], c);
    return 0;
}

/* x * Sigmoid(x): node ni is Sigmoid and its only reader a Mul by its input */
static int silu_mul(Imp *m, const Onnx__NodeProto *n, int ni)
{
    const Onnx__GraphProto *gp = m->gp;
    const char *s = out_name(n);
    int found = -1, readers = 0;
    for (size_t i = (size_t)ni + 1; i < gp->n_node; i++)
        for (size_t k = 0; k < gp->node[i]->n_input; k++)
            if (strcmp(gp->node[i]->input[k], s) == 0) {
                readers++;
                found = (int)i;
            }
    for (size_t i = 0; i < gp->n_output; i++)
        readers += strcmp(gp->output[i]->name, s) == 0 ? 2 : 0;
    if (readers != 1)
        return -1;
    const Onnx__NodeProto *mul = gp->node[found];
    if (strcmp(mul->op_type, "Mul") || mul->n_input != 2)
        return -1;
    const char *other = strcmp(mul->input[0], s) == 0 ? mul->input[1] : mul->input[0];
    return strcmp(other, n->input[0]) == 0 ? found : -1;
}

static int elementwise(Imp *m, const Onnx__NodeProto *n, int x)
{
    const Val *v = &m->vals[x];
    const char *op = n->op_type;
    if (strcmp(op, "Sigmoid") == 0) {
        int mul = silu_mul(m, n, m->ni);
        if (mul >= 0) {
            m->done[mul] = 1;
            Term *t = add_term(m, add_val(m, out_name(m->gp->node[mul]), v->rank, v->d), "silu");
            t->in[0] = x;
            t->nin = 1;
            return 0;
        }
    }
    Term *t = unary(m, n, x, v->rank, v->d);
    if (strcmp(op, "LeakyRelu") == 0) {
        char b[32];
        float a = pb_attr_float(n, "alpha", 0.01f);
        if (a == 0.01f)
            snprintf(t->text, sizeof t->text, "leaky_relu");
        else
            snprintf(t->text, sizeof t->text, "leaky_relu(%s)", num(b, a));
    } else {
        snprintf(t->text, sizeof t->text, "%s", strcmp(op, "Relu") == 0 ? "relu" :
                 strcmp(op, "Sigmoid") == 0 ? "sigmoid" : "tanh");
    }
    return 0;
}

static int op_prelu(Imp *m, const Onnx__NodeProto *n, int x)
{
    long c = channels(m, n, x);
    const Onnx__TensorProto *s = c < 0 ? NULL : const_in(m, n, 1, 0);
    if (!s)
        return -1;
    const Val *v = &m->vals[x];
    /* numpy broadcasting, right-aligned: only the channel axis may exceed 1 */
    int ok = s->n_dims <= (size_t)v->rank;
    if (m->opset < 7 && pb_numel(s) == c)
        ok = 1;                     /* opset 6: one slope per channel, any shape */
    for (size_t i = 0; i < s->n_dims && ok && m->opset >= 7; i++) {
        int axis = v->rank - (int)s->n_dims + (int)i;
        ok = s->dims[i] == 1 || (axis == 1 && s->dims[i] == c);
    }
    if (!ok) {
        char b[128];
        long sd[IMP_MAXRANK];
        for (size_t i = 0; i < s->n_dims && i < IMP_MAXRANK; i++)
            sd[i] = s->dims[i];
        return imp_fail(m, n, "one slope per channel ([C, 1, 1] for images, [C] for vectors)",
                        "slope of shape %s", shape_str(b, sd, (int)s->n_dims));
    }
    float *a = pb_floats(s), *slope = malloc(sizeof *slope * (size_t)c);
    if (!a) {
        free(slope);
        return imp_fail(m, n, "a float slope", "a slope of a type cnnc does not read");
    }
    for (long i = 0; i < c; i++)
        slope[i] = a[pb_numel(s) == 1 ? 0 : i];
    free(a);
    Term *t = unary(m, n, x, v->rank, v->d);
    snprintf(t->text, sizeof t->text, "prelu");
    add_par(t, slope, c);
    return 0;
}

static int op_softmax(Imp *m, const Onnx__NodeProto *n, int x)
{
    const Val *v = &m->vals[x];
    long axis = pb_attr_int(n, "axis", m->opset < 13 ? 1 : -1);
    if (axis < 0)
        axis += v->rank;
    /* before opset 13 the input is coerced to 2-D at axis */
    long hw = v->rank == 4 ? v->d[2] * v->d[3] : v->rank == 3 ? v->d[2] : 1;
    int ok = v->rank >= 2 && v->rank <= 4 && axis == 1 && (m->opset >= 13 || hw == 1);
    if (!ok)
        return imp_fail(m, n, "Softmax over axis 1 of [N, C] or [N, C, H, W] (channels, per pixel)",
                        "softmax over axis %ld of a rank-%d tensor%s", axis, v->rank,
                        m->opset < 13 && v->rank > 2 ? " (before opset 13: over C*H*W)" : "");
    snprintf(unary(m, n, x, v->rank, v->d)->text, sizeof m->terms[0].text, "softmax");
    return 0;
}

static int alias_of(Imp *m, const Onnx__NodeProto *n, int x)
{
    int o = add_val(m, out_name(n), m->vals[x].rank, m->vals[x].d);
    m->vals[o].alias = x;
    return 0;
}

/* flatten x to [N, rest]: a term for an image, an alias for a flat value */
static int flat(Imp *m, const Onnx__NodeProto *n, int x)
{
    const Val *v = &m->vals[x];
    long d[2] = { v->d[0], 1 };
    for (int i = 1; i < v->rank; i++)
        d[1] *= v->d[i];
    if (v->rank != 3 && v->rank != 4) {        /* already flat for cnnc */
        int o = add_val(m, out_name(n), 2, d);
        m->vals[o].alias = x;
        return 0;
    }
    snprintf(unary(m, n, x, 2, d)->text, sizeof m->terms[0].text, "flatten");
    return 0;
}

static int op_flatten(Imp *m, const Onnx__NodeProto *n, int x)
{
    long axis = pb_attr_int(n, "axis", 1);
    if (axis < 0)
        axis += m->vals[x].rank;
    if (axis != 1)
        return imp_fail(m, n, "Flatten with axis=1 (keep the batch)", "Flatten with axis=%ld", axis);
    return flat(m, n, x);
}

static int op_reshape(Imp *m, const Onnx__NodeProto *n, int x)
{
    const Onnx__TensorProto *s = const_in(m, n, 1, 0);
    if (!s)
        return -1;
    const Val *v = &m->vals[x];
    int64_t *d = pb_ints(s);
    long k = pb_numel(s), total = 1, known = 1, t[IMP_MAXRANK];
    if (!d || k < 1 || k > IMP_MAXRANK) {
        free(d);
        return imp_fail(m, n, "Reshape to [N, -1]", "a shape cnnc does not read");
    }
    for (int i = 0; i < v->rank; i++)
        total *= v->d[i];
    int minus = -1;
    for (long i = 0; i < k; i++) {
        t[i] = d[i] == 0 && !pb_attr_int(n, "allowzero", 0) && i < v->rank ? v->d[i] : d[i];
        if (t[i] == -1)
            minus = (int)i;
        else
            known *= t[i];
    }
    free(d);
    if (minus >= 0 && known > 0)
        t[minus] = total / known;
    int same = k == v->rank;
    for (long i = 0; i < k && same; i++)
        same = t[i] == v->d[i];
    if (same)
        return alias_of(m, n, x);
    if (k == 2 && t[0] == v->d[0] && t[0] * t[1] == total)
        return flat(m, n, x);
    char b[128];
    return imp_fail(m, n, "Reshape to [N, -1] (flatten)", "Reshape to %s", shape_str(b, t, (int)k));
}

/* Gemm, and MatMul (+ Add of a bias): dense.  w is [in, out] unless trans;
 * bias (may be NULL) has 1 or `out` values. */
static int dense(Imp *m, const Onnx__NodeProto *n, int x, const Onnx__TensorProto *W, int trans,
                 float alpha, const Onnx__TensorProto *B, float beta, const char *out)
{
    const Val *v = &m->vals[x];
    if (v->rank != 2) {
        char b[128];
        return imp_fail(m, n, "a [N, features] input (add Flatten first)", "input of shape %s",
                        shape_str(b, v->d, v->rank));
    }
    if (W->n_dims != 2)
        return imp_fail(m, n, "a 2-D weight matrix", "weights of %zu dims", W->n_dims);
    long in = trans ? W->dims[1] : W->dims[0], units = trans ? W->dims[0] : W->dims[1];
    if (in != v->d[1])
        return imp_fail(m, n, NULL, "weights for %ld inputs, the input has %ld", in, v->d[1]);
    long nb = B ? pb_numel(B) : 0;
    if (B && nb != 1 && (nb != units || (B->n_dims == 2 && B->dims[0] != 1)))
        return imp_fail(m, n, "a bias of shape [out] or [1, out]", "a bias of %ld values for %ld "
                        "outputs (one per sample and output is not a layer's bias)", nb, units);
    float *w = pb_floats(W), *b = B ? pb_floats(B) : NULL;
    if (!w || (B && !b)) {
        free(w);
        free(b);
        return imp_fail(m, n, "float weights", "weights of a type cnnc does not read");
    }
    float *wt = malloc(sizeof *wt * (size_t)(in * units));
    for (long o = 0; o < units; o++)
        for (long i = 0; i < in; i++)
            wt[o * in + i] = alpha * (trans ? w[o * in + i] : w[i * units + o]);
    free(w);
    long d[2] = { v->d[0], units };
    Term *t = add_term(m, add_val(m, out, 2, d), "dense(%ld%s)", units, B ? "" : ", bias=false");
    t->in[0] = x;
    t->nin = 1;
    add_par(t, wt, in * units);
    if (b) {
        float *bb = malloc(sizeof *bb * (size_t)units);
        for (long o = 0; o < units; o++)
            bb[o] = beta * b[nb == 1 ? 0 : o];
        free(b);
        add_par(t, bb, units);
    }
    return 0;
}

static int op_gemm(Imp *m, const Onnx__NodeProto *n, int x)
{
    const Onnx__TensorProto *W = const_in(m, n, 1, 0);
    const Onnx__TensorProto *B = W ? const_in(m, n, 2, 1) : NULL;
    if (!W || (!B && n->n_input > 2 && n->input[2][0]))
        return -1;
    if (pb_attr_int(n, "transA", 0))
        return imp_fail(m, n, "Gemm with transA=0", "transA=1");
    return dense(m, n, x, W, (int)pb_attr_int(n, "transB", 0), pb_attr_float(n, "alpha", 1),
                 B, pb_attr_float(n, "beta", 1), out_name(n));
}

static int op_matmul(Imp *m, const Onnx__NodeProto *n, int x)
{
    const Onnx__TensorProto *W = const_in(m, n, 1, 0);
    if (!W)
        return -1;
    /* an Add of a constant that is the product's only reader is its bias */
    const Onnx__GraphProto *gp = m->gp;
    const char *p = out_name(n), *out = p;
    const Onnx__TensorProto *B = NULL;
    int readers = 0, add = -1;
    for (size_t i = (size_t)m->ni + 1; i < gp->n_node; i++)
        for (size_t k = 0; k < gp->node[i]->n_input; k++)
            if (strcmp(gp->node[i]->input[k], p) == 0)
                readers++, add = (int)i;
    for (size_t i = 0; i < gp->n_output; i++)
        readers += strcmp(gp->output[i]->name, p) == 0 ? 2 : 0;
    if (readers == 1 && strcmp(gp->node[add]->op_type, "Add") == 0 && gp->node[add]->n_input == 2) {
        const Onnx__NodeProto *a = gp->node[add];
        int v = root(m, imp_val(m, strcmp(a->input[0], p) == 0 ? a->input[1] : a->input[0]));
        if (v >= 0 && m->vals[v].konst) {
            B = m->vals[v].konst;
            out = out_name(a);
            m->done[add] = 1;
        }
    }
    return dense(m, n, x, W, 0, 1, B, 1, out);
}

/* add and concat: tensors of equal shapes (concat: but the channels) */
static int multi(Imp *m, const Onnx__NodeProto *n, int cat)
{
    if (n->n_input < 2 || n->n_input > 8)
        return imp_fail(m, n, NULL, "%zu inputs (2 to 8 are supported)", n->n_input);
    if (!cat && n->n_input != 2)
        return imp_fail(m, n, NULL, "%zu inputs", n->n_input);
    int xs[8];
    for (size_t i = 0; i < n->n_input; i++) {
        int v = root(m, imp_val(m, n->input[i]));
        if (v >= 0 && m->vals[v].konst)
            return imp_fail(m, n, cat ? "Concat of tensors computed from the input" :
                            "Add of two tensors of the same shape (a constant bias belongs in "
                            "Conv, Gemm or MatMul + Add)", "input '%s' is a constant", n->input[i]);
        if ((xs[i] = data_in(m, n, (int)i)) < 0)
            return -1;
    }
    const Val *a = &m->vals[xs[0]];
    long d[IMP_MAXRANK];
    memcpy(d, a->d, sizeof d);
    if (cat) {
        long axis = pb_attr_int(n, "axis", 1);
        if (axis < 0)
            axis += a->rank;
        if (axis != 1 || a->rank < 2 || a->rank > 4)
            return imp_fail(m, n, "Concat along axis 1 (channels) of [N, C, H, W] or [N, C]",
                            "Concat along axis %ld of rank-%d tensors", axis, a->rank);
        d[1] = 0;
    }
    for (size_t i = 0; i < n->n_input; i++) {
        const Val *b = &m->vals[xs[i]];
        int same = b->rank == a->rank;
        for (int k = 0; k < a->rank && same; k++)
            same = b->d[k] == a->d[k] || (cat && k == 1);
        if (!same) {
            char s1[128], s2[128];
            return imp_fail(m, n, cat ? "inputs that differ only in channels" :
                            "Add of two tensors of the same shape (no broadcasting)",
                            "shapes %s and %s", shape_str(s1, a->d, a->rank),
                            shape_str(s2, b->d, b->rank));
        }
        if (cat)
            d[1] += b->d[1];
    }
    Term *t = add_term(m, out_val(m, n, a->rank, d), "%s", cat ? "concat" : "add");
    memcpy(t->in, xs, sizeof xs);
    t->nin = (int)n->n_input;
    t->multi = 1;
    return 0;
}

static int op_add(Imp *m, const Onnx__NodeProto *n, int x) { (void)x; return multi(m, n, 0); }
static int op_concat(Imp *m, const Onnx__NodeProto *n, int x) { (void)x; return multi(m, n, 1); }

static int op_mul(Imp *m, const Onnx__NodeProto *n, int x)
{
    (void)x;
    return imp_fail(m, n, "Mul as x * Sigmoid(x) (SiLU)", "Mul is only supported as SiLU");
}

/* Resize (opset 10+) and Upsample: nearest, integer factor, equal in H and W,
 * with a coordinate mapping that picks input pixel floor(i / f) */
static int op_resize(Imp *m, const Onnx__NodeProto *n, int x)
{
    if (need_spatial(m, n, x, 0, "Resize (nearest) of [N, C, H, W]"))
        return -1;
    const Val *v = &m->vals[x];
    char mode[32], ct[40], nm[40];
    pb_attr_str(n, "mode", "nearest", mode, sizeof mode);
    pb_attr_str(n, "coordinate_transformation_mode", "half_pixel", ct, sizeof ct);
    pb_attr_str(n, "nearest_mode", "round_prefer_floor", nm, sizeof nm);
    int upsample = strcmp(n->op_type, "Upsample") == 0;
    if (upsample)
        strcpy(ct, "asymmetric"), strcpy(nm, "floor");
    if (strcmp(mode, "nearest"))
        return imp_fail(m, n, "mode=nearest", "mode=%s", mode);
    /* i = q f + r reads floor(i / f) = q: half_pixel maps it to q + (r + 0.5) / f - 0.5,
     * within 0.5 of q (so rounding, not floor or ceil); asymmetric to q + r / f and
     * tf_half_pixel_for_nn to q + (r + 0.5) / f (so floor) */
    int round = !strncmp(nm, "round_prefer_", 13);
    int ok = ((!strcmp(ct, "half_pixel") || !strcmp(ct, "pytorch_half_pixel")) && round) ||
             ((!strcmp(ct, "asymmetric") || !strcmp(ct, "tf_half_pixel_for_nn")) && !strcmp(nm, "floor"));
    if (!ok)
        return imp_fail(m, n, "coordinate_transformation_mode=asymmetric with nearest_mode=floor, "
                        "or half_pixel", "coordinate_transformation_mode=%s, nearest_mode=%s", ct, nm);
    /* scales: input 1 (opset 9, Upsample), 2 (Resize 11+), or 1 (Resize 10); sizes: 3 */
    int si = upsample || m->opset < 11 ? 1 : 2;
    const Onnx__TensorProto *sc = (size_t)si < n->n_input && n->input[si][0] ? const_in(m, n, si, 0) : NULL;
    const Onnx__TensorProto *sz = !upsample && m->opset >= 11 && n->n_input > 3 && n->input[3][0] ?
                                  const_in(m, n, 3, 0) : NULL;
    if (m->r->msg[0])
        return -1;
    double f[4] = { 0 };
    float fa[4];
    if (upsample && pb_attr(n, "scales") && pb_attr(n, "scales")->n_floats == 4) {
        memcpy(fa, pb_attr(n, "scales")->floats, sizeof fa);    /* opset 7-8 */
        for (int i = 0; i < 4; i++)
            f[i] = fa[i];
    } else if (sc && pb_numel(sc) == 4) {
        float *s = pb_floats(sc);
        for (int i = 0; s && i < 4; i++)
            f[i] = s[i];
        free(s);
    } else if (sz && pb_numel(sz) == 4) {
        int64_t *s = pb_ints(sz);
        for (int i = 0; s && i < 4; i++)
            f[i] = (double)s[i] / (double)v->d[i];
        free(s);
    } else {
        return imp_fail(m, n, NULL, "no scales or sizes of 4 values");
    }
    long k = lround(f[2]);
    if (f[0] != 1 || f[1] != 1 || f[2] != f[3] || k < 1 || fabs(f[2] - (double)k) > 1e-6)
        return imp_fail(m, n, "the same integer factor for H and W, 1 for N and C",
                        "scales [%g, %g, %g, %g]", f[0], f[1], f[2], f[3]);
    if (k == 1)
        return alias_of(m, n, x);
    long d[4] = { v->d[0], v->d[1], v->d[2] * k, v->d[3] * k };
    snprintf(unary(m, n, x, 4, d)->text, sizeof m->terms[0].text, "upsample(%ld)", k);
    return 0;
}

static int op_dropout(Imp *m, const Onnx__NodeProto *n, int x)
{
    float p = pb_attr_float(n, "ratio", 0.5f);
    if (n->n_input > 1 && n->input[1][0]) {
        const Onnx__TensorProto *r = const_in(m, n, 1, 0);
        float *rv = r ? pb_floats(r) : NULL;
        if (!rv)
            return m->r->msg[0] ? -1 : imp_fail(m, n, NULL, "a ratio cnnc does not read");
        p = rv[0];
        free(rv);
    }
    if (n->n_input > 2 && n->input[2][0]) {
        const Onnx__TensorProto *tm = const_in(m, n, 2, 0);
        float *tv = tm ? pb_floats(tm) : NULL;
        int on = tv && tv[0] != 0;
        free(tv);
        if (!tm || on)
            return m->r->msg[0] ? -1 : imp_fail(m, n, "training_mode=false", "training_mode=true");
    }
    if (n->n_output > 1 && n->output[1][0] && imp_val(m, n->output[1]) < 0) {
        for (size_t i = 0; i < m->gp->n_node; i++)
            for (size_t k = 0; k < m->gp->node[i]->n_input; k++)
                if (!strcmp(m->gp->node[i]->input[k], n->output[1]))
                    return imp_fail(m, n, "Dropout without its mask output", "the mask is used");
        for (size_t i = 0; i < m->gp->n_output; i++)
            if (!strcmp(m->gp->output[i]->name, n->output[1]))
                return imp_fail(m, n, "Dropout without its mask output", "the mask is an output");
    }
    if (p < 0 || p >= 1)
        return imp_fail(m, n, NULL, "ratio %g outside [0, 1)", p);
    const Val *v = &m->vals[x];
    char b[32];
    Term *t = unary(m, n, x, v->rank, v->d);
    if (p == 0.5f)
        snprintf(t->text, sizeof t->text, "dropout");
    else
        snprintf(t->text, sizeof t->text, "dropout(p=%s)", num(b, p));
    return 0;
}

static int op_identity(Imp *m, const Onnx__NodeProto *n, int x)
{
    x = root(m, imp_val(m, n->n_input ? n->input[0] : ""));     /* may be a constant */
    if (x < 0)
        return imp_fail(m, n, NULL, "its input is not defined before it");
    if (m->vals[x].konst) {
        int o = add_val(m, out_name(n), 0, NULL);
        m->vals[o].konst = m->vals[x].konst;
        return 0;
    }
    return alias_of(m, n, x);
}

static int op_constant(Imp *m, const Onnx__NodeProto *n, int x)
{
    (void)x;
    const Onnx__AttributeProto *a = pb_attr(n, "value");
    if (!a || !a->t)
        return imp_fail(m, n, "a Constant with a tensor 'value'", "a Constant without a tensor value");
    int o = add_val(m, out_name(n), 0, NULL);
    m->vals[o].konst = a->t;
    return 0;
}

/* x: the node's first input when it is computed from the model's input
 * (checked before the call), or -1 for the ops that read it themselves */
typedef int (*OpFn)(Imp *, const Onnx__NodeProto *, int x);
static const struct {
    const char *name;
    OpFn fn;
    int data;                       /* input 0 must be computed (x >= 0) */
} ops[] = {
    { "Conv", op_conv, 1 }, { "MaxPool", op_maxpool, 1 }, { "AveragePool", op_avgpool, 1 },
    { "GlobalAveragePool", op_gap, 1 }, { "BatchNormalization", op_batchnorm, 1 },
    { "Relu", elementwise, 1 }, { "LeakyRelu", elementwise, 1 }, { "Sigmoid", elementwise, 1 },
    { "Tanh", elementwise, 1 }, { "PRelu", op_prelu, 1 }, { "Softmax", op_softmax, 1 },
    { "Flatten", op_flatten, 1 }, { "Reshape", op_reshape, 1 }, { "Gemm", op_gemm, 1 },
    { "MatMul", op_matmul, 1 }, { "Concat", op_concat, 0 }, { "Add", op_add, 0 },
    { "Mul", op_mul, 0 }, { "Resize", op_resize, 1 }, { "Upsample", op_resize, 1 },
    { "Dropout", op_dropout, 1 }, { "Identity", op_identity, 0 }, { "Constant", op_constant, 0 },
};
#define NOPS_ONNX ((int)(sizeof ops / sizeof ops[0]))

/* nearest supported forms of some common operators cnnc lacks */
static const char *const hints[][2] = {
    { "ConvTranspose", "Resize (nearest) followed by Conv" },
    { "Clip", "Relu (Clip to [0, inf))" }, { "HardSigmoid", "Sigmoid" },
    { "HardSwish", "x * Sigmoid(x) (SiLU)" }, { "Elu", "LeakyRelu" }, { "Selu", "LeakyRelu" },
    { "LogSoftmax", "Softmax" }, { "GlobalMaxPool", "GlobalAveragePool" },
    { "Sub", "Add of two tensors" }, { "Div", "Add of two tensors" },
    { "Pad", "the pads attribute of Conv, MaxPool or AveragePool" },
    { "Transpose", "none: cnnc keeps NCHW throughout" },
};

static int unsupported(Imp *m, const Onnx__NodeProto *n)
{
    if (!n->op_type[0])
        return imp_fail(m, n, NULL, "the node has no operator type (op_type is empty)");
    for (size_t i = 0; i < sizeof hints / sizeof hints[0]; i++)
        if (strcmp(n->op_type, hints[i][0]) == 0)
            return imp_fail(m, n, hints[i][1], "operator %s is not supported", n->op_type);
    const char *names[NOPS_ONNX];
    for (int i = 0; i < NOPS_ONNX; i++)
        names[i] = ops[i].name;
    const char *near = diag_nearest(n->op_type, names, NOPS_ONNX);
    char all[400] = "none; cnnc reads";
    for (int i = 0; !near && i < NOPS_ONNX; i++)
        snprintf(all + strlen(all), sizeof all - strlen(all), "%s %s", i ? "," : "", names[i]);
    return imp_fail(m, n, near ? near : all, "operator %s is not supported", n->op_type);
}

/* the model's input: the one graph input without an initializer */
static int graph_input(Imp *m)
{
    const Onnx__GraphProto *gp = m->gp;
    m->input = -1;
    for (size_t i = 0; i < gp->n_input; i++) {
        const Onnx__ValueInfoProto *vi = gp->input[i];
        if (imp_val(m, vi->name) >= 0)
            continue;               /* an initializer: a weight */
        if (m->input >= 0)
            return imp_fail(m, NULL, "one input (bind the others as initializers)",
                            "the graph has several inputs ('%s', '%s')",
                            m->vals[m->input].onnx, vi->name);
        const Onnx__TypeProto *tp = vi->type;
        if (!tp || tp->value_case != ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE ||
            !tp->tensor_type->shape || tp->tensor_type->elem_type != PB_FLOAT)
            return imp_fail(m, NULL, "a float tensor input of known shape",
                            "input '%s' is not a float tensor of known shape", vi->name);
        const Onnx__TensorShapeProto *s = tp->tensor_type->shape;
        long d[IMP_MAXRANK];
        if (s->n_dim < 1 || s->n_dim > IMP_MAXRANK)
            return imp_fail(m, NULL, "an input [N, C, H, W] or [N, features]",
                            "input '%s' has %zu dims", vi->name, s->n_dim);
        for (size_t k = 0; k < s->n_dim; k++) {
            const Onnx__TensorShapeProto__Dimension *dm = s->dim[k];
            int known = dm->value_case == ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE &&
                        dm->dim_value > 0;
            if (!known && k > 0)
                return imp_fail(m, NULL, "an input whose dims but the batch are numbers",
                                "input '%s' has a symbolic dim %zu", vi->name, k);
            d[k] = known ? (long)dm->dim_value : 1;
        }
        m->input = add_val(m, vi->name, (int)s->n_dim, d);
    }
    if (m->input < 0)
        return imp_fail(m, NULL, NULL, "the graph has no input that is not an initializer");
    return 0;
}

int imp_graph(Imp *m)
{
    const Onnx__GraphProto *gp = m->gp;
    for (size_t i = 0; i < gp->n_initializer; i++) {
        int v = add_val(m, gp->initializer[i]->name, 0, NULL);  /* may move m->vals */
        m->vals[v].konst = gp->initializer[i];
    }
    if (graph_input(m))
        return -1;
    m->done = calloc(gp->n_node + 1, 1);
    for (size_t i = 0; i < gp->n_node; i++) {
        const Onnx__NodeProto *n = gp->node[i];
        if (m->done[i])
            continue;
        if (n->domain && n->domain[0] && strcmp(n->domain, "ai.onnx"))
            return imp_fail(m, n, NULL, "operator domain '%s' is not ONNX's", n->domain);
        int k = 0;
        while (k < NOPS_ONNX && strcmp(ops[k].name, n->op_type))
            k++;
        if (k == NOPS_ONNX)
            return unsupported(m, n);
        m->ni = (int)i;
        int x = ops[k].data ? data_in(m, n, 0) : -1;
        if ((ops[k].data && x < 0) || ops[k].fn(m, n, x))
            return -1;
    }
    for (size_t i = 0; i < gp->n_output; i++) {
        int v = root(m, imp_val(m, gp->output[i]->name));
        int view = 0;       /* the input only flattened: no computation at all */
        for (int t = 0; t < m->nterms && v >= 0; t++)
            view |= m->terms[t].out == v && !strcmp(m->terms[t].text, "flatten") &&
                    m->terms[t].in[0] == m->input;
        if (v < 0 || m->vals[v].konst || v == m->input || view)
            return imp_fail(m, NULL, "outputs computed by the graph's nodes",
                            "output '%s' is %s", gp->output[i]->name, v < 0 ? "never computed" :
                            v == m->input || view ? "the input itself" : "a constant");
    }
    return 0;
}
