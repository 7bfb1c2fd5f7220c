/* emit.c — writes MODEL.c and MODEL.h for a planned Graph.
 *
 * The emitted file reads top to bottom like something written by hand for
 * this one network: a header comment, named offsets (parameters in one
 * buffer, activations at the planner's arena offsets), the model struct
 * with named parameter pointers, layer geometries, then _forward with one
 * kernel call per line, _backward mirroring it in reverse, _update, and
 * the lifecycle and parameter I/O functions of GENERATED_API.md.
 *
 * It does not decide anything about the network: shapes, fusion, order and
 * memory all come from the graph.
 */
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "emit.h"
#include "../passes/passes.h"

#define NBUF 24
static char bufs[NBUF][192];
static int nextbuf;

/* a short-lived string: valid for the next NBUF calls */
static char *tmp(const char *fmt, ...)
{
    char *b = bufs[nextbuf++ % NBUF];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(b, sizeof bufs[0], fmt, ap);
    va_end(ap);
    return b;
}

/* "d.conv1.scratch" -> "D_CONV1_SCRATCH" (upper) or "d_conv1_scratch" */
static char *c_ident(const char *prefix, const char *name, int upper)
{
    char *s = ir_fmt("%s%s", prefix, name);
    for (char *p = s; *p; p++) {
        if (!isalnum((unsigned char)*p))
            *p = '_';
        else if (upper)
            *p = (char)toupper((unsigned char)*p);
    }
    return s;
}

/* ---- a string set (open addressing), to keep generated names unique in
 * linear time even for very large graphs ---- */
typedef struct { char **slot; size_t cap; } NameSet;

static size_t hash(const char *s)
{
    size_t h = 1469598103934665603ULL;
    while (*s)
        h = (h ^ (unsigned char)*s++) * 1099511628211ULL;
    return h;
}

/* 1 if s was added, 0 if it was already there */
static int set_add(NameSet *t, char *s)
{
    size_t i = hash(s) & (t->cap - 1);
    while (t->slot[i]) {
        if (strcmp(t->slot[i], s) == 0)
            return 0;
        i = (i + 1) & (t->cap - 1);
    }
    t->slot[i] = s;
    return 1;
}

/* make names[i] unique by appending _2, _3, ... */
static void uniquify(char **names, int n)
{
    NameSet t = { NULL, 16 };
    while (t.cap < (size_t)n * 4)
        t.cap *= 2;
    t.slot = calloc(t.cap, sizeof(char *));
    if (!t.slot)
        abort();
    for (int i = 0; i < n; i++) {
        if (!names[i])
            continue;
        char *base = names[i];
        for (int k = 2; !set_add(&t, names[i]); k++) {
            if (names[i] != base)
                free(names[i]);
            names[i] = ir_fmt("%s_%d", base, k);
        }
        if (names[i] != base)
            free(base);
    }
    free(t.slot);
}

const char *emit_val(Emitter *e, int v)
{
    int r = ir_root(e->g, v);
    const Value *x = &e->g->vals[r];
    if (x->kind == V_TARGET)
        return "target";
    if (x->kind == V_INPUT && e->g->inference)
        return "x";
    return tmp("a + %s", e->vmacro[v]);
}

const char *emit_param(Emitter *e, const Node *n, int i)
{
    return i < n->npar ? tmp("p->%s", e->pfield[n->par[i]]) : "NULL";
}

const char *emit_grad(Emitter *e, const Node *n, int i)
{
    return i < n->npar ? tmp("g->%s", e->pfield[n->par[i]]) : "NULL";
}

const char *emit_derived(long off)
{
    return tmp("m->derived + %ld", off);
}

const char *emit_scratch(Emitter *e, const Node *n)
{
    for (int k = 0; k < n->nout; k++)
        if (e->g->vals[n->out[k]].kind == V_SCRATCH)
            return emit_val(e, n->out[k]);
    return "NULL";
}

const char *emit_len(Emitter *e, int v)
{
    return tmp("(long)n * %ld", e->g->vals[v].size);
}

const char *emit_float(float v)
{
    char *b = bufs[nextbuf++ % NBUF];
    for (int prec = 1; prec <= 9; prec++) {     /* the shortest that reads back */
        snprintf(b, sizeof bufs[0], "%.*g", prec, (double)v);
        if (strtof(b, NULL) == v)
            break;
    }
    if (!strpbrk(b, ".eni"))
        strcat(b, ".0");
    strcat(b, "f");
    return b;
}

const char *emit_geom_name(Emitter *e, const Node *n)
{
    const Node *f = n->bwd ? &e->g->nodes[n->fwd] : n;
    char *id = c_ident("", f->layer, 0);
    const char *s = tmp("%s_geom", id);
    free(id);
    return s;
}

void emit_comment(Emitter *e, const Node *n)
{
    const Graph *g = e->g;
    const Node *f = n->bwd ? &g->nodes[n->fwd] : n;
    char in[64] = "", out[64] = "";
    if (f->nin)
        ir_shape_str(g->vals[f->in[0]].shape, in, sizeof in);
    if (f->nout)
        ir_shape_str(g->vals[f->out[0]].shape, out, sizeof out);
    static const char *acts[] = { "", "relu", "leaky_relu", "sigmoid", "tanh", "silu" };
    const char *base = strrchr(g->file, '/') ? strrchr(g->file, '/') + 1 : g->file;
    if (n->op == OP_loss) {
        static const char *ln[] = { "", "cross_entropy", "bce", "mse" };
        const Node *last = &g->nodes[g->vals[n->in[1]].producer];
        fprintf(e->f, "    /* loss: %s  %s:%d  on %s%s%s */\n", ln[n->a.loss], base, n->loc.line, in,
                n->a.loss == L_MSE ? "" : ", computed with ",
                n->a.loss == L_MSE ? "" : tmp("%s (log-sum-exp)", last->layer));
        return;
    }
    fprintf(e->f, "    /* %s%s: %s%s%s%s  %s:%d  %s -> %s%s */\n",
            n->bwd ? "d " : "", n->layer ? n->layer : "",
            ir_ops[n->op].name, n->fold_bn ? "+batchnorm" : "", n->act ? "+" : "",
            n->act ? acts[n->act] : "", base, n->loc.line, in, out,
            n->act_line ? tmp(", %s from line %d", acts[n->act], n->act_line) : "");
}

/* ---- the header ---- */
static void upper(char *dst, const char *src, int len)
{
    int i = 0;
    for (; src[i] && i < len - 1; i++)
        dst[i] = (char)toupper((unsigned char)src[i]);
    dst[i] = 0;
}

static void emit_header(Emitter *e, const EmitOptions *o, FILE *h)
{
    const Graph *g = e->g;
    char M[128];
    upper(M, g->name, sizeof M);
    const char *m = g->name;
    int train = !g->inference && g->loss_node >= 0;
    fprintf(h, "/* %s.h — generated by cnnc %s from %s; do not edit.\n"
               " * The API is described in cnnc's GENERATED_API.md. */\n", m, CNNRT_VERSION, g->file);
    fprintf(h, "#ifndef %s_H\n#define %s_H\n\n#include <stddef.h>\n#include <stdint.h>\n", M, M);
    if (o->embed)
        fprintf(h, "#ifndef CNNRT_TENSOR_DEFINED\n#define CNNRT_TENSOR_DEFINED\n"
                   "typedef struct {\n    const char *name;\n    int   rank;\n    int   shape[4];\n"
                   "    long  size;\n    float *data;\n    float *grad;\n} cnnrt_tensor;\n#endif\n\n");
    else
        fprintf(h, "#include \"cnnrt.h\"\n\n");
    long out0 = g->vals[g->outputs[0]].size;
    fprintf(h, "#define %s_BATCH      %d   /* largest batch */\n", M, g->batch);
    fprintf(h, "#define %s_IN_SIZE    %ld  /* floats per sample: C*H*W */\n", M, g->vals[g->input].size);
    fprintf(h, "#define %s_OUT_SIZE   %ld  /* floats per sample of output 0 */\n", M, out0);
    fprintf(h, "#define %s_NOUTPUTS   %d\n", M, g->noutputs);
    for (int i = 1; i < g->noutputs; i++)
        fprintf(h, "#define %s_OUT%d_SIZE  %ld\n", M, i, g->vals[g->outputs[i]].size);
    fprintf(h, "#define %s_PARAM_FLOATS %ld  /* learned parameters, one buffer (padded) */\n", M, g->nparam_floats);
    fprintf(h, "#define %s_ARENA_BYTES  %ld  /* activations, gradients and scratch */\n",
            M, g->arena_floats * 4);
    fprintf(h, "#define %s_MEMORY_BYTES %ld  /* all of it: what %s_new_in needs */\n\n",
            M, e->memory_bytes, m);
    fprintf(h, "typedef struct %s %s;\n\n", m, m);
    fprintf(h, "/* _new_in: no malloc; the model lives in mem (MEMORY_BYTES), NULL when\n"
               "   it is too small; _free is not needed */\n%s *%s_new_in(void *mem, size_t bytes);\n", m, m);
    fprintf(h, "%s *%s_new(void);\nvoid %s_free(%s *m);\nvoid %s_init(%s *m, uint64_t seed);\n", m, m, m, m, m, m);
    if (train)
        fprintf(h, "void %s_set_training(%s *m, int on);\n", m, m);
    fprintf(h, "const float *%s_forward(%s *m, const float *x, int n);\n", m, m);
    fprintf(h, "const float *%s_output(%s *m, int i);\n", m, m);
    if (train) {
        fprintf(h, "float %s_backward(%s *m, const float *target, int n);\n", m, m);
        fprintf(h, "void %s_update(%s *m);\nvoid %s_zero_grad(%s *m);\n", m, m, m, m);
        fprintf(h, "float %s_train_step(%s *m, const float *x, const float *target, int n);\n", m, m);
    }
    fprintf(h, "int %s_params(%s *m, const cnnrt_tensor **out);\n", m, m);
    if (train) {
        fprintf(h, "int %s_state(%s *m, const cnnrt_tensor **out, long **step);  /* optimizer state */\n", m, m);
        fprintf(h, "int %s_save(const %s *m, const char *path);\n", m, m);
        emit_train_header(e, h);
    }
    fprintf(h, "int %s_load(%s *m, const char *path);\n\n#endif\n", m, m);
}

/* ---- the source ---- */
static void emit_offsets(Emitter *e)
{
    const Graph *g = e->g;
    FILE *f = e->f;
    char b[64];
    fprintf(f, "/* Parameters: offsets in floats into m->params (learned) and m->stats\n"
               " * (running statistics), in declaration order, 16-float aligned. */\n");
    for (int i = 0; i < g->nparams; i++) {
        const Param *p = &g->params[i];
        char *id = c_ident("P_", e->pfield[i], 1);
        fprintf(f, "#define %-28s %8ldL  /* [", id, p->off);
        for (int k = 0; k < p->rank; k++)
            fprintf(f, "%s%d", k ? "," : "", p->shape[k]);
        fprintf(f, "]%s */\n", p->learned ? "" : " statistics");
        free(id);
    }
    fprintf(f, "#define NPARAMS %ldL\n#define NSTATS  %ldL\n\n", g->nparam_floats, g->nstate_floats);
    fprintf(f, "/* Activation arena: offsets in floats chosen by the memory planner\n"
               " * (%s); per-sample shapes, times the batch. */\n",
               plan_last.heuristic ? plan_last.heuristic : "no plan");
    for (int v = 0; v < g->nvals; v++) {
        if (!e->vmacro[v])
            continue;
        const Value *x = &g->vals[v];
        int r = ir_root(g, v);
        ir_shape_str(x->shape, b, sizeof b);
        if (r != v)
            fprintf(f, "#define %-28s %s  /* %s, %s */\n", e->vmacro[v], e->vmacro[r],
                    x->kind == V_ACT ? b : "", g->vals[v].alias == r ? "shares its storage" : "view");
        else if (x->kind == V_SCRATCH || x->kind == V_SAVED)
            fprintf(f, "#define %-28s %8ldL  /* %ld floats */\n", e->vmacro[v], x->off, x->size);
        else
            fprintf(f, "#define %-28s %8ldL  /* %s */\n", e->vmacro[v], x->off, b);
    }
    fprintf(f, "#define ARENA %ldL\n", g->arena_floats);
    fprintf(f, "#define STRUCT_BYTES %ld  /* reserved for struct %s (checked below) */\n\n",
            e->struct_bytes, g->name);
}

static void emit_struct(Emitter *e, int train)
{
    const Graph *g = e->g;
    FILE *f = e->f;
    const char *m = g->name;
    fprintf(f, "/* Named views of the parameter buffers. */\ntypedef struct {\n");
    for (int i = 0; i < g->nparams; i++)
        fprintf(f, "    float *%s;\n", e->pfield[i]);
    if (!g->nparams)
        fprintf(f, "    float *none;\n");
    fprintf(f, "} %s_tensors;\n\n", m);
    fprintf(f, "struct %s {\n", m);
    fprintf(f, "    float *params;          /* NPARAMS */\n    float *stats;           /* NSTATS */\n");
    if (train)
        fprintf(f, "    float *grads;           /* NPARAMS, same layout as params */\n"
                   "    float *opt1, *opt2;     /* optimizer state, same layout */\n");
    fprintf(f, "    float *arena;           /* ARENA */\n");
    if (e->nderived)
        fprintf(f, "    float *derived;         /* %ld floats: batchnorm folded into convs */\n", e->nderived);
    fprintf(f, "    %s_tensors p;          /* parameters and statistics */\n", m);
    if (train)
        fprintf(f, "    %s_tensors g;          /* their gradients */\n", m);
    fprintf(f, "    cnnrt_tensor tensors[%d];\n", g->nparams ? g->nparams : 1);
    if (train)
        fprintf(f, "    cnnrt_tensor opt_tensors[%d];\n    long step;               /* optimizer steps taken */\n"
                   "    int training;\n", g->nparams ? (2 + emit_has_ema(g)) * g->nparams : 1);
    if (train)
        emit_train_fields(e);
    fprintf(f, "    void *owned;             /* the block _new allocated, NULL after _new_in */\n"
               "    cnnrt_rng rng;           /* dropout masks */\n    uint64_t seed;           /* from _init */\n    int n;                   /* batch of the last forward */\n};\n\n");
}

static void emit_geoms(Emitter *e)
{
    const Graph *g = e->g;
    FILE *f = e->f;
    int any = 0;
    for (int i = 0; i < g->nnodes; i++) {
        const Node *n = &g->nodes[i];
        if (n->dead || n->bwd)
            continue;
        if (n->op == OP_conv) {
            cnnrt_conv c;
            ir_conv_geom(g, n, &c);
            fprintf(f, "static const cnnrt_conv %s = {  /* c h w, f oh ow, kh kw, sh sw, ph pw, dh dw, groups */\n"
                       "    %d, %d, %d,  %d, %d, %d,  %d, %d,  %d, %d,  %d, %d,  %d, %d,  %d };\n",
                    emit_geom_name(e, n), c.c, c.h, c.w, c.f, c.oh, c.ow, c.kh, c.kw, c.sh, c.sw,
                    c.ph, c.pw, c.dh, c.dw, c.groups);
            any = 1;
        } else if (n->op == OP_maxpool || n->op == OP_avgpool) {
            cnnrt_pool p;
            ir_pool_geom(g, n, &p);
            fprintf(f, "static const cnnrt_pool %s = {  /* c h w, oh ow, kh kw, sh sw, ph pw */\n"
                       "    %d, %d, %d,  %d, %d,  %d, %d,  %d, %d,  %d, %d };\n",
                    emit_geom_name(e, n), p.c, p.h, p.w, p.oh, p.ow, p.kh, p.kw, p.sh, p.sw, p.ph, p.pw);
            any = 1;
        }
    }
    if (any)
        fprintf(f, "\n");
}

static void emit_nodes(Emitter *e, int from, int to, int reverse_comment)
{
    (void)reverse_comment;
    for (int i = from; i < to; i++) {
        const Node *n = &e->g->nodes[i];
        if (n->dead)
            continue;
        typedef void (*EmitFn)(Emitter *, const Node *);
        static const EmitFn fns[NOPS] = {
#define OP(name, nin, flags, args) emit_##name,
#include "../ir/ops.def"
#undef OP
        };
        fns[n->op](e, n);
    }
}

static const char *opt_names[][2] = {
    { "momentum_buffer", NULL }, { "sum", NULL }, { "square_avg", NULL }, { "exp_avg", "exp_avg_sq" }
};

static int opt_nbuf(const Graph *g)
{
    const TrainCfg *t = &g->train;
    if (t->opt == OPT_ADAM)
        return 2;
    if (t->opt == OPT_SGD && t->momentum == 0)
        return 0;
    return 1;
}

/* fold(m): the conv weights an inference build runs with, from the real
 * parameters and the batchnorm that followed each conv */
static void emit_fold(Emitter *e)
{
    const Graph *g = e->g;
    FILE *f = e->f;
    fprintf(f, "/* Batchnorm folded into the conv before it (running statistics); run\n"
               "   after every change of the parameters: _init and _load. */\n"
               "static void fold(%s *m)\n{\n    const %s_tensors *p = &m->p;\n", g->name, g->name);
    for (int i = 0; i < g->nnodes; i++) {
        const Node *n = &g->nodes[i];
        if (e->fold_off[i] < 0)
            continue;
        const Node *b = &g->nodes[n->fold_bn - 1];
        const Param *w = &g->params[n->par[0]];
        fprintf(f, "    cnnrt_fold_batchnorm(%d, %ld, %s, %s, %s, %s, %s, %s, %s,\n"
                   "                         %s, %s);\n",
                w->shape[0], w->size / w->shape[0], emit_param(e, n, 0), emit_param(e, n, 1),
                emit_param(e, b, 0), emit_param(e, b, 1), emit_param(e, b, 2), emit_param(e, b, 3),
                emit_float(b->a.eps), emit_derived(e->fold_off[i]), emit_derived(e->fold_off[i] + w->size));
    }
    fprintf(f, "}\n\n");
}

static void emit_lifecycle(Emitter *e, int train)
{
    const Graph *g = e->g;
    FILE *f = e->f;
    const char *m = g->name;
    if (e->nderived)
        emit_fold(e);
    /* _new_in carves everything out of the caller's memory; _new is
     * _new_in on one malloc'd block */
    fprintf(f, "/* Every buffer in one block of MEMORY_BYTES, each 64-byte aligned: the\n"
               "   struct, parameters, statistics%s, the arena. */\n",
            train ? ", gradients, optimizer state" : "");
    fprintf(f, "typedef char struct_fits_its_reserve[sizeof(struct %s) <= STRUCT_BYTES ? 1 : -1];\n\n", m);
    fprintf(f, "static float *carve(char **p, long floats)\n{\n    float *r = (float *)*p;\n"
               "    *p += ((size_t)floats * sizeof(float) + 63) / 64 * 64;\n    return r;\n}\n\n");
    fprintf(f, "%s *%s_new_in(void *mem, size_t bytes)\n{\n"
               "    if (!mem || bytes < %s_MEMORY_BYTES)\n        return NULL;\n"
               "    memset(mem, 0, %s_MEMORY_BYTES);\n"
               "    char *p = (char *)mem + (64 - (uintptr_t)mem %% 64) %% 64;\n"
               "    %s *m = (%s *)p;\n    p += STRUCT_BYTES;\n"
               "    m->params = carve(&p, NPARAMS);\n    m->stats = carve(&p, NSTATS);\n"
               "    m->arena = carve(&p, ARENA);\n", m, m, e->M, e->M, m, m);
    if (e->nderived)
        fprintf(f, "    m->derived = carve(&p, %ld);\n", e->nderived);
    if (train) {
        fprintf(f, "    m->grads = carve(&p, NPARAMS);\n");
        for (int i = 1; i <= opt_nbuf(g); i++)
            fprintf(f, "    m->opt%d = carve(&p, NPARAMS);\n", i);
    }
    for (int i = 0; i < g->nparams; i++) {
        const Param *p = &g->params[i];
        char *id = c_ident("P_", e->pfield[i], 1);
        const char *buf = p->learned ? "params" : "stats";
        fprintf(f, "    m->p.%s = m->%s + %s;\n", e->pfield[i], buf, id);
        if (train && p->learned)
            fprintf(f, "    m->g.%s = m->grads + %s;\n", e->pfield[i], id);
        fprintf(f, "    m->tensors[%d] = (cnnrt_tensor){ \"%s\", %d, { ", i, p->name, p->rank);
        for (int k = 0; k < 4; k++)
            fprintf(f, "%s%d", k ? ", " : "", k < p->rank ? p->shape[k] : 0);
        fprintf(f, " }, %ld, m->p.%s, %s };\n", p->size, e->pfield[i],
                train && p->learned ? tmp("m->g.%s", e->pfield[i]) : "NULL");
        free(id);
    }
    if (train) {
        int nb = opt_nbuf(g), k = 0;
        for (int b = 0; b < nb; b++)
            for (int i = 0; i < g->nparams; i++) {
                const Param *p = &g->params[i];
                if (!p->learned)
                    continue;
                char *id = c_ident("P_", e->pfield[i], 1);
                fprintf(f, "    m->opt_tensors[%d] = (cnnrt_tensor){ \"%s.%s\", %d, { ", k++, p->name,
                        opt_names[g->train.opt == OPT_SGD ? 0 : g->train.opt][b], p->rank);
                for (int d = 0; d < 4; d++)
                    fprintf(f, "%s%d", d ? ", " : "", d < p->rank ? p->shape[d] : 0);
                fprintf(f, " }, %ld, m->opt%d + %s, NULL };\n", p->size, b + 1, id);
                free(id);
            }
        emit_train_new(e, k);
        fprintf(f, "    m->training = 1;\n");
    }
    fprintf(f, "    %s_init(m, %lluULL);\n    return m;\n}\n\n", m, g->train.seed);

    fprintf(f, "%s *%s_new(void)\n{\n    void *mem = malloc(%s_MEMORY_BYTES);\n"
               "    %s *m = %s_new_in(mem, %s_MEMORY_BYTES);\n    if (!m) {\n        free(mem);\n"
               "        return NULL;\n    }\n    m->owned = mem;\n    return m;\n}\n\n",
            m, m, e->M, m, m, e->M);
    fprintf(f, "void %s_free(%s *m)\n{\n    if (m)\n        free(m->owned);   /* NULL after _new_in */\n}\n\n", m, m);

    /* init: every tensor in declaration order from one generator */
    fprintf(f, "void %s_init(%s *m, uint64_t seed)\n{\n    cnnrt_rng r;\n    cnnrt_rng_seed(&r, seed);\n", m, m);
    for (int i = 0; i < g->nparams; i++) {
        const Param *p = &g->params[i];
        if (p->kind == P_WEIGHT)
            fprintf(f, "    cnnrt_init_weight(&r, %d, m->p.%s, %ld, %ld, %ld);\n", p->init,
                    e->pfield[i], p->size, p->fan_in, p->fan_out);
        else if (p->kind == P_BIAS)
            fprintf(f, "    cnnrt_init_bias(&r, %d, m->p.%s, %ld, %ld);\n", p->init, e->pfield[i],
                    p->size, p->fan_in);
        else
            fprintf(f, "    cnnrt_fill(m->p.%s, %ld, %s);\n", e->pfield[i], p->size,
                    emit_float(p->initval));
    }
    fprintf(f, "    m->seed = seed;\n    cnnrt_rng_seed(&m->rng, seed ^ 0x9e3779b97f4a7c15ULL);\n");
    if (train) {
        fprintf(f, "    memset(m->grads, 0, sizeof(float) * NPARAMS);\n");
        for (int i = 1; i <= opt_nbuf(g); i++)
            fprintf(f, "    memset(m->opt%d, 0, sizeof(float) * NPARAMS);\n", i);
        fprintf(f, "    m->step = 0;\n");
        emit_train_ema_copy(e, "    ");
    }
    if (e->nderived)
        fprintf(f, "    fold(m);\n");
    fprintf(f, "}\n\n");
    if (train)
        fprintf(f, "void %s_set_training(%s *m, int on)\n{\n    m->training = on != 0;\n}\n\n", m, m);
}

static void emit_passes(Emitter *e, int train)
{
    const Graph *g = e->g;
    FILE *f = e->f;
    const char *m = g->name;
    int nfwd = g->nfwd ? g->nfwd : g->nnodes;
    fprintf(f, "const float *%s_forward(%s *m, const float *x, int n)\n{\n    float *a = m->arena;\n"
               "    const %s_tensors *p = &m->p;\n", m, m, m);
    if (!g->inference)
        fprintf(f, "    memcpy(%s, x, sizeof(float) * (size_t)n * %ld);  /* kept for backward */\n",
                emit_val(e, g->input), g->vals[g->input].size);
    else
        fprintf(f, "    (void)a;\n");
    fprintf(f, "    (void)p;\n");
    int dropout = 0;
    for (int i = 0; i < nfwd; i++)
        dropout |= !g->nodes[i].dead && g->nodes[i].op == OP_dropout;
    if (dropout && train)
        fprintf(f, "    /* dropout masks depend on the seed and step only, so repeated\n"
                   "       forwards between updates (and resumed runs) see the same masks */\n"
                   "    cnnrt_rng_seed(&m->rng, m->seed ^ (0x9e3779b97f4a7c15ULL * (uint64_t)(m->step + 1)));\n");
    emit_nodes(e, 0, nfwd, 0);
    fprintf(f, "    m->n = n;\n    return %s;\n}\n\n", emit_val(e, g->outputs[0]));

    fprintf(f, "const float *%s_output(%s *m, int i)\n{\n    float *a = m->arena;\n", m, m);
    if (g->inference)
        fprintf(f, "    (void)a;\n");
    for (int i = 0; i < g->noutputs; i++) {
        const char *v = emit_val(e, g->outputs[i]);
        fprintf(f, "    if (i == %d)\n        return %s;\n", i, strcmp(v, "x") ? v : "NULL");
    }
    fprintf(f, "    return NULL;\n}\n\n");
    if (!train)
        return;

    fprintf(f, "float %s_backward(%s *m, const float *target, int n)\n{\n    float *a = m->arena;\n"
               "    const %s_tensors *p = &m->p, *g = &m->g;\n    float loss;\n    (void)p;\n    (void)g;\n",
            m, m, m);
    emit_nodes(e, nfwd, g->nnodes, 1);
    fprintf(f, "    return loss;\n}\n\n");

    const TrainCfg *t = &g->train;
    fprintf(f, "void %s_update(%s *m)\n{\n    m->step++;\n", m, m);
    const char *lr = emit_train_pre_update(e);
    switch (t->opt) {
    case OPT_SGD:
        fprintf(f, "    cnnrt_sgd_update(NPARAMS, m->params, m->grads, m->opt1, %s, %s, %s, %d, m->step);\n",
                lr, emit_float(t->momentum), emit_float(t->wd), t->nesterov);
        break;
    case OPT_ADAGRAD:
        fprintf(f, "    cnnrt_adagrad_update(NPARAMS, m->params, m->grads, m->opt1, %s, %s, %s);\n",
                lr, emit_float(t->eps), emit_float(t->wd));
        break;
    case OPT_RMSPROP:
        fprintf(f, "    cnnrt_rmsprop_update(NPARAMS, m->params, m->grads, m->opt1, %s, %s, %s, %s);\n",
                lr, emit_float(t->rho), emit_float(t->eps), emit_float(t->wd));
        break;
    default:
        fprintf(f, "    cnnrt_adam_update(NPARAMS, m->params, m->grads, m->opt1, m->opt2, %s, %s, %s, %s, %s, m->step);\n",
                lr, emit_float(t->beta1), emit_float(t->beta2), emit_float(t->eps),
                emit_float(t->wd));
        break;
    }
    emit_train_post_update(e);
    fprintf(f, "}\n\n");
    fprintf(f, "void %s_zero_grad(%s *m)\n{\n    memset(m->grads, 0, sizeof(float) * NPARAMS);\n}\n\n", m, m);
    fprintf(f, "float %s_train_step(%s *m, const float *x, const float *target, int n)\n{\n"
               "    %s_forward(m, x, n);\n    float loss = %s_backward(m, target, n);\n"
               "    %s_update(m);\n    return loss;\n}\n\n", m, m, m, m, m);
}

static void emit_io(Emitter *e, int train)
{
    const Graph *g = e->g;
    FILE *f = e->f;
    const char *m = g->name;
    fprintf(f, "int %s_params(%s *m, const cnnrt_tensor **out)\n{\n    *out = m->tensors;\n    return %d;\n}\n\n",
            m, m, g->nparams);
    if (train) {
        int nstate = 0;
        for (int i = 0; i < g->nparams; i++)
            nstate += g->params[i].learned;
        nstate *= opt_nbuf(g);
        nstate += emit_has_ema(g) ? g->nparams : 0;     /* raw.NAME */
        fprintf(f, "int %s_state(%s *m, const cnnrt_tensor **out, long **step)\n{\n"
                   "    *out = m->opt_tensors;\n    *step = &m->step;\n    return %d;\n}\n\n", m, m, nstate);
        fprintf(f, "int %s_save(const %s *m, const char *path)\n{\n"
                   "    return cnnrt_save(path, m->%s, %d, NULL, 0, 0);\n}\n\n", m, m,
                emit_has_ema(g) ? "ema_tensors" : "tensors", g->nparams);
    }
    fprintf(f, "int %s_load(%s *m, const char *path)\n{\n    char err[512];\n    long step;\n"
               "    if (cnnrt_load(path, m->tensors, %d, NULL, 0, &step, err, sizeof err) == 0) {\n"
               "%s        return 0;\n    }\n    fprintf(stderr, \"%s: %%s\\n\", err);\n    return -1;\n}\n",
            m, m, g->nparams, e->nderived ? "        fold(m);\n" : emit_has_ema(g) ?
            "        memcpy(m->ema, m->params, sizeof(float) * NPARAMS);\n"
            "        memcpy(m->ema + NPARAMS, m->stats, sizeof(float) * NSTATS);\n" : "", m);
    emit_train_api(e);
}

int emit_c(const Graph *g, const EmitOptions *o, FILE *c, FILE *h)
{
    Emitter e;
    memset(&e, 0, sizeof e);
    e.g = g;
    e.f = c;
    e.embed = o->embed;
    int train = !g->inference && g->loss_node >= 0;
    e.vmacro = calloc((size_t)g->nvals + 1, sizeof(char *));
    e.pfield = calloc((size_t)g->nparams + 1, sizeof(char *));
    if (!e.vmacro || !e.pfield)
        return -1;
    for (int v = 0; v < g->nvals; v++) {
        int r = ir_root(g, v);
        const Value *x = &g->vals[r];
        if (x->off >= 0 || (x->kind == V_INPUT && !g->inference))
            e.vmacro[v] = c_ident("A_", g->vals[v].name[0] ? g->vals[v].name : "t", 1);
    }
    uniquify(e.vmacro, g->nvals);
    for (int i = 0; i < g->nparams; i++)
        e.pfield[i] = c_ident("", g->params[i].name, 0);
    uniquify(e.pfield, g->nparams);
    e.fold_off = malloc(sizeof(long) * (size_t)(g->nnodes + 1));
    if (!e.fold_off)
        return -1;
    for (int i = 0; i < g->nnodes; i++) {
        e.fold_off[i] = -1;
        const Node *n = &g->nodes[i];
        if (n->dead || !n->fold_bn)
            continue;
        const Param *w = &g->params[n->par[0]];
        e.fold_off[i] = e.nderived;
        e.nderived += (w->size + w->shape[0] + 15) / 16 * 16;
    }

    upper(e.M, g->name, sizeof e.M);
    e.struct_bytes = (4096 + (long)g->nparams * (256 + 128 * emit_has_ema(g)) + 63) / 64 * 64;
    {
        long floats[5] = { g->nparam_floats, g->nstate_floats, g->arena_floats, e.nderived,
                           emit_ema_floats(g) };
        long nbuf = train ? 1 + opt_nbuf(g) : 0;    /* grads, optimizer state */
        e.memory_bytes = 64 + e.struct_bytes;
        for (int i = 0; i < 5; i++)
            e.memory_bytes += (floats[i] * 4 + 63) / 64 * 64;
        e.memory_bytes += nbuf * ((g->nparam_floats * 4 + 63) / 64 * 64);
    }
    emit_header(&e, o, h);

    fprintf(c, "/* %s.c — generated by cnnc %s from %s; do not edit.\n", g->name, CNNRT_VERSION, g->file);
    if (o->cmdline)
        fprintf(c, " *   %s\n", o->cmdline);
    fprintf(c, " *\n * Model %s: batches of up to %d samples; %s.\n * Layout NCHW; parameters in one buffer; activations%s in one arena of %ld bytes.\n */\n",
            g->name, g->batch, train ? "forward, backward and update" : "forward only (inference)",
            train ? ", gradients" : "", g->arena_floats * 4);
    if (o->embed)
        fprintf(c, "#ifndef _POSIX_C_SOURCE\n#define _POSIX_C_SOURCE 200809L  /* fsync, for .cnnw files */\n#endif\n");
    fprintf(c, "#include <stdio.h>\n#include <stdlib.h>\n#include <string.h>\n");
    if (o->embed) {
        fprintf(c, "\n/* ---- the cnnrt runtime, embedded (--embed-runtime): the kernels,\n"
                   "   initialisation, optimizers and .cnnw files this model calls ---- */\n");
        for (int i = 0; cnnc_runtime_files[i]; i++)
            fprintf(c, "/* ---- %s ---- */\n%s\n", cnnc_runtime_names[i], cnnc_runtime_files[i]);
        fprintf(c, "#define CNNRT_TENSOR_DEFINED\n");
    }
    fprintf(c, "#include \"%s\"\n\n", o->header_name);
    emit_offsets(&e);
    emit_struct(&e, train);
    emit_geoms(&e);
    emit_lifecycle(&e, train);
    emit_passes(&e, train);
    emit_io(&e, train);
    if (o->with_main)
        emit_main(&e);
    for (int v = 0; v < g->nvals; v++)
        free(e.vmacro[v]);
    for (int i = 0; i < g->nparams; i++)
        free(e.pfield[i]);
    free(e.vmacro);
    free(e.pfield);
    free(e.fold_off);
    return ferror(c) || ferror(h) ? -1 : 0;
}
