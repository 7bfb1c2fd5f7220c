/* export.c — a compiled model's inference graph as an ONNX file
 * (`cnnc --emit=onnx`).
 *
 * Reads the forward nodes of a shape-checked Graph (before any pass), so
 * every .cnn op maps to standard operators of opset 13: conv -> Conv,
 * dense -> Gemm (transB=1), silu -> Sigmoid and Mul, upsample -> Resize
 * (nearest, asymmetric, floor), avgpool -> AveragePool with
 * count_include_pad=1, batchnorm -> BatchNormalization (ONNX's momentum is
 * 1 - cnnc's), dropout -> Dropout with its ratio.  Parameters become
 * initializers under their cnnc names, from a .cnnw file or the default
 * initialisation.  Values are named after their layers, a statement's last
 * value after its statement, so that importing the file again gives the
 * same .cnn.  It does not export the train block or optimizer state.
 */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "onnx/onnx.h"
#include "onnx/pb.h"

#define EXPORT_OPSET 13
#define EXPORT_IR 7             /* the IR version of opset 13 */

/* everything the message points to: freed together */
typedef struct {
    void **p;
    int n, cap;
    Onnx__NodeProto **nodes;
    int nnodes, capnodes;
    Onnx__TensorProto **inits;
    int ninits, capinits;
} Ex;

/* p, to be freed with the message */
static void *keep(Ex *e, void *p)
{
    if (e->n == e->cap) {
        e->cap = e->cap ? 2 * e->cap : 256;
        e->p = realloc(e->p, sizeof *e->p * (size_t)e->cap);
    }
    return e->p[e->n++] = p;
}

static void *ex_alloc(Ex *e, size_t size)
{
    return keep(e, calloc(1, size ? size : 1));
}

static char *ex_str(Ex *e, const char *s)
{
    return keep(e, xstrdup(s));
}

/* ---- attributes ---- */
static Onnx__AttributeProto *attr(Ex *e, const char *name, Onnx__AttributeProto__AttributeType t)
{
    Onnx__AttributeProto *a = ex_alloc(e, sizeof *a);
    onnx__attribute_proto__init(a);
    a->name = ex_str(e, name);
    a->has_type = 1;
    a->type = t;
    return a;
}

static Onnx__AttributeProto *attr_int(Ex *e, const char *name, long v)
{
    Onnx__AttributeProto *a = attr(e, name, ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INT);
    a->has_i = 1;
    a->i = v;
    return a;
}

static Onnx__AttributeProto *attr_float(Ex *e, const char *name, float v)
{
    Onnx__AttributeProto *a = attr(e, name, ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOAT);
    a->has_f = 1;
    a->f = v;
    return a;
}

static Onnx__AttributeProto *attr_str(Ex *e, const char *name, const char *v)
{
    Onnx__AttributeProto *a = attr(e, name, ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__STRING);
    a->has_s = 1;
    a->s.data = (uint8_t *)ex_str(e, v);
    a->s.len = strlen(v);
    return a;
}

static Onnx__AttributeProto *attr_ints(Ex *e, const char *name, int n, const int *v)
{
    Onnx__AttributeProto *a = attr(e, name, ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INTS);
    a->n_ints = (size_t)n;
    a->ints = ex_alloc(e, sizeof *a->ints * (size_t)n);
    for (int i = 0; i < n; i++)
        a->ints[i] = v[i];
    return a;
}

/* ---- nodes and initializers ---- */
static Onnx__NodeProto *node(Ex *e, const char *op, const char *name, const char *out,
                             int nin, const char *const *in)
{
    Onnx__NodeProto *n = ex_alloc(e, sizeof *n);
    onnx__node_proto__init(n);
    n->op_type = ex_str(e, op);
    n->name = ex_str(e, name);
    n->n_input = (size_t)nin;
    n->input = ex_alloc(e, sizeof *n->input * (size_t)nin);
    for (int i = 0; i < nin; i++)
        n->input[i] = ex_str(e, in[i]);
    n->n_output = 1;
    n->output = ex_alloc(e, sizeof *n->output);
    n->output[0] = ex_str(e, out);
    n->attribute = ex_alloc(e, sizeof *n->attribute * 8);
    if (e->nnodes == e->capnodes) {
        e->capnodes = e->capnodes ? 2 * e->capnodes : 64;
        e->nodes = realloc(e->nodes, sizeof *e->nodes * (size_t)e->capnodes);
    }
    e->nodes[e->nnodes++] = n;
    return n;
}

static void add_attr(Onnx__NodeProto *n, Onnx__AttributeProto *a)
{
    n->attribute[n->n_attribute++] = a;
}

/* a float initializer; data is not copied */
static void init(Ex *e, const char *name, int rank, const long *dims, float *data, long size)
{
    Onnx__TensorProto *t = ex_alloc(e, sizeof *t);
    onnx__tensor_proto__init(t);
    t->name = ex_str(e, name);
    t->has_data_type = 1;
    t->data_type = PB_FLOAT;
    t->n_dims = (size_t)rank;
    t->dims = ex_alloc(e, sizeof *t->dims * (size_t)(rank ? rank : 1));
    for (int i = 0; i < rank; i++)
        t->dims[i] = dims[i];
    t->n_float_data = (size_t)size;
    t->float_data = data;
    if (e->ninits == e->capinits) {
        e->capinits = e->capinits ? 2 * e->capinits : 64;
        e->inits = realloc(e->inits, sizeof *e->inits * (size_t)e->capinits);
    }
    e->inits[e->ninits++] = t;
}

/* [N, C, H, W] or [N, F] with N symbolic */
static Onnx__ValueInfoProto *value_info(Ex *e, const char *name, Shape s)
{
    Onnx__ValueInfoProto *v = ex_alloc(e, sizeof *v);
    onnx__value_info_proto__init(v);
    v->name = ex_str(e, name);
    Onnx__TypeProto *tp = v->type = ex_alloc(e, sizeof *tp);
    onnx__type_proto__init(tp);
    tp->value_case = ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE;
    Onnx__TypeProto__Tensor *tt = tp->tensor_type = ex_alloc(e, sizeof *tt);
    onnx__type_proto__tensor__init(tt);
    tt->has_elem_type = 1;
    tt->elem_type = PB_FLOAT;
    Onnx__TensorShapeProto *sh = tt->shape = ex_alloc(e, sizeof *sh);
    onnx__tensor_shape_proto__init(sh);
    sh->n_dim = (size_t)s.rank + 1;
    sh->dim = ex_alloc(e, sizeof *sh->dim * sh->n_dim);
    for (size_t i = 0; i < sh->n_dim; i++) {
        Onnx__TensorShapeProto__Dimension *d = sh->dim[i] = ex_alloc(e, sizeof *d);
        onnx__tensor_shape_proto__dimension__init(d);
        if (i == 0) {
            d->value_case = ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_PARAM;
            d->dim_param = ex_str(e, "N");
        } else {
            d->value_case = ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE;
            d->dim_value = s.d[i - 1];
        }
    }
    return v;
}

/* ---- the weights ---- */

/* every parameter's data: from the .cnnw file, or the model's _init */
static float **weights_of(const Graph *g, const char *path)
{
    float **w = calloc((size_t)g->nparams + 1, sizeof *w);
    cnnrt_tensor *t = calloc((size_t)g->nparams + 1, sizeof *t);
    for (int i = 0; i < g->nparams; i++) {
        const Param *p = &g->params[i];
        w[i] = calloc((size_t)p->size, sizeof **w);
        t[i] = (cnnrt_tensor){ p->name, p->rank, { 0 }, p->size, w[i], NULL };
        memcpy(t[i].shape, p->shape, sizeof t[i].shape);
    }
    int bad = 0;
    if (path) {
        char err[600];
        if (cnnrt_load(path, t, g->nparams, NULL, 0, NULL, err, sizeof err)) {
            fprintf(stderr, "cnnc: error: %s\n", err);
            bad = 1;
        }
    } else {
        /* the generated _init's order and calls, seeded as it is */
        cnnrt_rng r;
        cnnrt_rng_seed(&r, g->train.seed);
        for (int i = 0; i < g->nparams; i++) {
            const Param *p = &g->params[i];
            if (p->kind == P_WEIGHT)
                cnnrt_init_weight(&r, p->init, w[i], p->size, p->fan_in, p->fan_out);
            else if (p->kind == P_BIAS)
                cnnrt_init_bias(&r, p->init, w[i], p->size, p->fan_in);
            if (p->prior > 0)       /* drawn as usual, then set (lower.c) */
                cnnrt_fill(w[i], p->size, (float)-log((1.0 - p->prior) / p->prior));
            else if (p->kind != P_WEIGHT && p->kind != P_BIAS)
                cnnrt_fill(w[i], p->size, p->initval);
        }
    }
    free(t);
    if (bad) {
        for (int i = 0; i < g->nparams; i++)
            free(w[i]);
        free(w);
        return NULL;
    }
    return w;
}

/* ---- value names ---- */

/* the statement a layer belongs to: "c1.2" -> "c1" */
static int base_len(const char *layer)
{
    const char *dot = strrchr(layer, '.');
    if (!dot || !dot[1])
        return (int)strlen(layer);
    for (const char *p = dot + 1; *p; p++)
        if (*p < '0' || *p > '9')
            return (int)strlen(layer);
    return (int)(dot - layer);
}

static char **value_names(Ex *e, const Graph *g)
{
    char **v = ex_alloc(e, sizeof *v * (size_t)g->nvals);
    v[g->input] = ex_str(e, g->vals[g->input].name);
    int last = -1;
    for (int i = 0; i < g->nfwd; i++)
        if (!g->nodes[i].dead)
            last = i;
    for (int i = 0; i < g->nfwd; i++) {
        const Node *n = &g->nodes[i];
        if (n->dead)
            continue;
        int next = i + 1;
        while (next < g->nfwd && g->nodes[next].dead)
            next++;
        int b = base_len(n->layer);
        int end = i == last || base_len(g->nodes[next].layer) != b ||
                  strncmp(g->nodes[next].layer, n->layer, (size_t)b);
        char *name = end ? keep(e, xfmt("%.*s", b, n->layer)) : ex_str(e, n->layer);
        for (int u = 0; u < i; u++)     /* "up" (a conv) and "up.1" ending statement up */
            if (!g->nodes[u].dead && v[g->nodes[u].out[0]] &&
                strcmp(v[g->nodes[u].out[0]], name) == 0) {
                char *o = v[g->nodes[u].out[0]];
                v[g->nodes[u].out[0]] = keep(e, xfmt("%s_", o));
                u = -1;                 /* check the new name from the start */
            }
        v[n->out[0]] = name;
    }
    return v;
}

/* ---- the graph ---- */
/* one forward node as ONNX nodes; -1 (reported) for an op ONNX cannot express */
static int export_node(Ex *e, const Graph *g, int i, char **vn, float **w)
{
    const Node *n = &g->nodes[i];
    const char *x = vn[n->in[0]], *y = vn[n->out[0]];
    const char *in[10] = { x };
    int nin = 1;
    for (int k = 0; k < n->npar && n->op != OP_prelu; k++)
        in[nin++] = g->params[n->par[k]].name;
    for (int k = 0; k < n->npar; k++) {
        const Param *p = &g->params[n->par[k]];
        long dims[4] = { p->shape[0], p->shape[1], p->shape[2], p->shape[3] };
        if (n->op == OP_prelu) {    /* one slope per channel, broadcast over H, W */
            Shape s = g->vals[n->in[0]].shape;
            dims[1] = dims[2] = 1;
            init(e, p->name, s.rank == 3 ? 3 : 1, dims, w[n->par[k]], p->size);
        } else {
            init(e, p->name, p->rank, dims, w[n->par[k]], p->size);
        }
    }
    const Attr *a = &n->a;
    int k2[2] = { a->k[0], a->k[1] }, s2[2] = { a->s[0], a->s[1] };
    int p4[4] = { a->p[0], a->p[1], a->p[0], a->p[1] }, d2[2] = { a->d[0], a->d[1] };
    Onnx__NodeProto *o;
    switch (n->op) {
    case OP_conv:
        o = node(e, "Conv", n->layer, y, nin, in);
        add_attr(o, attr_ints(e, "kernel_shape", 2, k2));
        add_attr(o, attr_ints(e, "strides", 2, s2));
        add_attr(o, attr_ints(e, "pads", 4, p4));
        add_attr(o, attr_ints(e, "dilations", 2, d2));
        add_attr(o, attr_int(e, "group", a->groups));
        break;
    case OP_dense:
        o = node(e, "Gemm", n->layer, y, nin, in);
        add_attr(o, attr_int(e, "transB", 1));
        break;
    case OP_relu: node(e, "Relu", n->layer, y, 1, in); break;
    case OP_sigmoid: node(e, "Sigmoid", n->layer, y, 1, in); break;
    case OP_tanh: node(e, "Tanh", n->layer, y, 1, in); break;
    case OP_leaky_relu:
        add_attr(node(e, "LeakyRelu", n->layer, y, 1, in), attr_float(e, "alpha", a->alpha));
        break;
    case OP_prelu:
        in[1] = g->params[n->par[0]].name;
        node(e, "PRelu", n->layer, y, 2, in);
        break;
    case OP_silu: {
        const char *s = keep(e, xfmt("%s.sigmoid", n->layer));
        node(e, "Sigmoid", s, s, 1, in);
        in[1] = s;
        node(e, "Mul", n->layer, y, 2, in);
        break;
    }
    case OP_maxpool:
    case OP_avgpool:
        o = node(e, n->op == OP_maxpool ? "MaxPool" : "AveragePool", n->layer, y, 1, in);
        add_attr(o, attr_ints(e, "kernel_shape", 2, k2));
        add_attr(o, attr_ints(e, "strides", 2, s2));
        add_attr(o, attr_ints(e, "pads", 4, p4));
        if (n->op == OP_avgpool)
            add_attr(o, attr_int(e, "count_include_pad", 1));
        break;
    case OP_global_avgpool: node(e, "GlobalAveragePool", n->layer, y, 1, in); break;
    case OP_flatten: add_attr(node(e, "Flatten", n->layer, y, 1, in), attr_int(e, "axis", 1)); break;
    case OP_softmax: add_attr(node(e, "Softmax", n->layer, y, 1, in), attr_int(e, "axis", 1)); break;
    case OP_batchnorm:
        o = node(e, "BatchNormalization", n->layer, y, nin, in);
        add_attr(o, attr_float(e, "epsilon", a->eps));
        add_attr(o, attr_float(e, "momentum", 1 - a->momentum));
        break;
    case OP_dropout: {
        float *r = ex_alloc(e, sizeof *r);
        *r = a->drop;
        in[1] = keep(e, xfmt("%s.ratio", n->layer));
        init(e, in[1], 0, NULL, r, 1);
        node(e, "Dropout", n->layer, y, 2, in);
        break;
    }
    case OP_upsample: {
        float *sc = ex_alloc(e, sizeof *sc * 4);
        long four = 4;
        sc[0] = sc[1] = 1;
        sc[2] = sc[3] = (float)a->factor;
        in[1] = "";
        in[2] = keep(e, xfmt("%s.scales", n->layer));
        init(e, in[2], 1, &four, sc, 4);
        o = node(e, "Resize", n->layer, y, 3, in);
        add_attr(o, attr_str(e, "mode", "nearest"));
        add_attr(o, attr_str(e, "coordinate_transformation_mode", "asymmetric"));
        add_attr(o, attr_str(e, "nearest_mode", "floor"));
        break;
    }
    case OP_concat:
    case OP_add:
        for (int k = 0; k < n->nin; k++)
            in[k] = vn[n->in[k]];
        o = node(e, n->op == OP_add ? "Add" : "Concat", n->layer, y, n->nin, in);
        if (n->op == OP_concat)
            add_attr(o, attr_int(e, "axis", 1));
        break;
    default:
        fprintf(stderr, "cnnc: error: %s: op '%s' (layer %s) has no ONNX form\n", g->file,
                ir_ops[n->op].name, n->layer ? n->layer : "?");
        return -1;
    }
    return 0;
}

static int write_model(const Onnx__ModelProto *m, const char *out)
{
    size_t len = onnx__model_proto__get_packed_size(m);
    uint8_t *buf = malloc(len ? len : 1);
    onnx__model_proto__pack(m, buf);
    char *tmp = xfmt("%s.tmp%ld", out, (long)getpid());
    FILE *f = fopen(tmp, "wb");
    int bad = !f || fwrite(buf, 1, len, f) != len;
    if (f)
        bad |= fclose(f) != 0;
    if (!bad && rename(tmp, out))
        bad = 1;
    if (bad) {
        fprintf(stderr, "cnnc: error: cannot write '%s': %s\n", out, strerror(errno));
        remove(tmp);
    }
    free(tmp);
    free(buf);
    return bad ? -1 : 0;
}

int onnx_export(const Graph *g, const char *out, const char *weights)
{
    float **w = weights_of(g, weights);
    if (!w)
        return -1;
    Ex e;
    memset(&e, 0, sizeof e);
    char **vn = value_names(&e, g);
    int rc = 0;
    for (int i = 0; i < g->nfwd && rc == 0; i++)
        if (!g->nodes[i].dead)
            rc = export_node(&e, g, i, vn, w);

    Onnx__GraphProto gp;
    onnx__graph_proto__init(&gp);
    gp.name = g->name;
    gp.n_node = (size_t)e.nnodes;
    gp.node = e.nodes;
    gp.n_initializer = (size_t)e.ninits;
    gp.initializer = e.inits;
    Onnx__ValueInfoProto *ins[1] = { value_info(&e, vn[g->input], g->vals[g->input].shape) };
    gp.n_input = 1;
    gp.input = ins;
    gp.n_output = (size_t)g->noutputs;
    gp.output = ex_alloc(&e, sizeof *gp.output * (size_t)(g->noutputs + 1));
    for (int i = 0; i < g->noutputs; i++)
        gp.output[i] = value_info(&e, vn[g->outputs[i]], g->vals[g->outputs[i]].shape);

    Onnx__OperatorSetIdProto ops;
    onnx__operator_set_id_proto__init(&ops);
    ops.domain = "";
    ops.has_version = 1;
    ops.version = EXPORT_OPSET;
    Onnx__OperatorSetIdProto *opsp[1] = { &ops };
    Onnx__ModelProto m;
    onnx__model_proto__init(&m);
    m.has_ir_version = 1;
    m.ir_version = EXPORT_IR;
    m.producer_name = "cnnc";
    m.producer_version = CNNRT_VERSION;
    m.n_opset_import = 1;
    m.opset_import = opsp;
    m.graph = &gp;
    rc = rc ? rc : write_model(&m, out);
    if (rc == 0)
        printf("cnnc: wrote %s (%d nodes, %d initializers; weights %s)\n", out, e.nnodes,
               e.ninits, weights ? weights : "from the default initialisation with the model's seed");
    for (int i = 0; i < e.n; i++)
        free(e.p[i]);
    free(e.p);
    free(e.nodes);
    free(e.inits);
    for (int i = 0; i < g->nparams; i++)
        free(w[i]);
    free(w);
    return rc;
}
