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
#include "emit_main.h"
#include "emit_prof.h"
#include "emit_train.h"
#include "literal.h"
#include "../passes/passes.h"

/* what the printing functions share */
typedef struct {
    const Graph *g;
    const Lowered *L;       /* the kernel calls this file prints */
    FILE *f;
    char **vmacro;          /* per value: "A_CONV1", or NULL outside the arena */
    char **pfield;          /* per param: struct field, "conv1_weight" */
    char **gname;           /* per geometry: "conv1_geom" */
    int embed;              /* --embed-runtime */
    int mpi;                /* --mpi: gradient hooks in _backward */
    char M[128];            /* the model name in capitals, for macros */
    long struct_bytes;      /* reserved for the model struct */
    long memory_bytes;      /* MODEL_MEMORY_BYTES: everything _new_in needs */
    int phase;              /* CNNRT_PROF_* of the calls being printed, -1:
                               no profile marks (init, fold, detect) */
    int site;               /* the next call's profile site (emit_prof.c) */
} Emitter;

/* "d.conv1.scratch" -> "D_CONV1_SCRATCH" (upper) or "d_conv1_scratch" */
static char *c_ident(const char *prefix, const char *name, int upper)
{
    char *s = xfmt("%s%s", prefix, name);
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
    t.slot = xcalloc(t.cap, sizeof(char *));
    for (int i = 0; i < n; i++) {
        if (!names[i])
            continue;
        char *base = names[i];
        for (int k = 2; !set_add(&t, names[i]); k++) {
            if (names[i] != base)
                free(names[i]);
            names[i] = xfmt("%s_%d", base, k);
        }
        if (names[i] != base)
            free(base);
    }
    free(t.slot);
}

/* ---- one lowered call as a line of C ---- */
static void print_value(Emitter *e, int v, long off)
{
    const Value *x = &e->g->vals[ir_root(e->g, v)];
    if (x->kind == V_TARGET)
        fprintf(e->f, "target");
    else if (x->kind == V_INPUT && e->g->inference)
        fprintf(e->f, "x");
    else
        fprintf(e->f, "a + %s", e->vmacro[v]);
    if (off)
        fprintf(e->f, " + %ld", off);
}

static const char *const act_const[] = {
    "CNNRT_ACT_NONE", "CNNRT_ACT_RELU", "CNNRT_ACT_LEAKY",
    "CNNRT_ACT_SIGMOID", "CNNRT_ACT_TANH", "CNNRT_ACT_SILU"
};
static const char *const buffers[] = {
    [BUF_PARAMS] = "m->params", [BUF_GRADS] = "m->grads", [BUF_OPT1] = "m->opt1",
    [BUF_OPT2] = "m->opt2", [BUF_STATS] = "m->stats",
    [BUF_EMA] = "m->ema", [BUF_EMA_STATS] = "m->ema + NPARAMS",
};

static void print_arg(Emitter *e, const Arg *a)
{
    FILE *f = e->f;
    switch (a->kind) {
    case ARG_NULL:       fprintf(f, "NULL"); break;
    case ARG_CTX:        fprintf(f, "&m->ctx"); break;
    case ARG_N:          fprintf(f, "n"); break;
    case ARG_INT:        fprintf(f, "%d", a->i); break;
    case ARG_LONG:       fprintf(f, "%ld", a->l); break;
    case ARG_NPARAMS:    fprintf(f, "NPARAMS"); break;
    case ARG_NSTATS:     fprintf(f, "NSTATS"); break;
    case ARG_LR:         fprintf(f, "lr"); break;
    case ARG_FLOAT:      emit_float(f, a->f); break;
    case ARG_LEN:        fprintf(f, "(long)n * %ld", a->l); break;
    case ARG_ACT:        fprintf(f, "%s", act_const[a->i]); break;
    case ARG_VALUE:      print_value(e, a->v, a->l); break;
    case ARG_PARAM:      fprintf(f, "p->%s", e->pfield[a->v]); break;
    case ARG_GRAD:       fprintf(f, "g->%s", e->pfield[a->v]); break;
    case ARG_DERIVED:    fprintf(f, "m->derived + %ld", a->l); break;
    case ARG_GEOM:       fprintf(f, "&%s", e->gname[a->i]); break;
    case ARG_TRAINING:   fprintf(f, "%s", e->g->inference ? "0" : "m->training"); break;
    case ARG_RNG:        fprintf(f, "&m->rng"); break;
    case ARG_INIT_RNG:   fprintf(f, "&r"); break;
    case ARG_BUFFER:     fprintf(f, "%s", buffers[a->i]); break;
    case ARG_STEP:       fprintf(f, "m->step"); break;
    case ARG_VALUES:     fprintf(f, "xs"); break;
    case ARG_VALUES_OUT: fprintf(f, "dxs"); break;
    case ARG_SIZES:      fprintf(f, "sizes"); break;
    }
}

/* arrays (concat's parts and sizes) are declared in a block around the call */
static int print_arrays(Emitter *e, const Call *c)
{
    int any = 0;
    for (int pass = 0; pass < 2; pass++)
        for (int k = 0; k < c->nargs; k++) {
            const Arg *a = &c->args[k];
            if (pass == 0 && a->kind == ARG_SIZES) {
                fprintf(e->f, "%s        static const long sizes[] = {", any++ ? "" : "    {\n");
                for (int i = 0; i < a->count; i++)
                    fprintf(e->f, "%s%ld", i ? ", " : " ", a->ls[i]);
                fprintf(e->f, " };\n");
            } else if (pass == 1 && (a->kind == ARG_VALUES || a->kind == ARG_VALUES_OUT)) {
                fprintf(e->f, "%s        %sfloat *const %s[] = {", any++ ? "" : "    {\n",
                        a->kind == ARG_VALUES ? "const " : "", a->kind == ARG_VALUES ? "xs" : "dxs");
                for (int i = 0; i < a->count; i++) {
                    fprintf(e->f, "%s", i ? ", " : " ");
                    print_value(e, a->vs[i], 0);
                }
                fprintf(e->f, " };\n");
            }
        }
    return any;
}

static void print_call(Emitter *e, const Call *c)
{
    FILE *f = e->f;
    if (c->comment)
        fprintf(f, "    /* %s */\n", c->comment);
    if (!c->kernel)
        return;
    int block = print_arrays(e, c);
    const char *ind = block ? "        " : "    ";
    int has_ctx = c->nargs && c->args[0].kind == ARG_CTX;
    if (c->scratch >= 0 && has_ctx) {
        fprintf(f, "%sm->ctx.scratch = ", ind);
        print_value(e, c->scratch, 0);
        fprintf(f, ";  /* %ld floats */\n", e->g->vals[c->scratch].size);
    }
    /* arguments are printed into a buffer first, so that a long list
       wraps under the opening parenthesis at a whole argument */
    int open = fprintf(f, "%s%s%s(", ind, c->returns_loss ? "loss = " : "", c->kernel);
    int col = open;
    for (int k = 0; k < c->nargs; k++) {
        char *text = NULL;
        size_t len = 0;
        FILE *m = open_memstream(&text, &len);
        if (!m)
            xoom();
        e->f = m;
        print_arg(e, &c->args[k]);
        fclose(m);
        e->f = f;
        if (k && col + 2 + (int)len > 100) {
            fprintf(f, ",\n%*s", open, "");
            col = open;
        } else if (k) {
            fprintf(f, ", ");
            col += 2;
        }
        fputs(text, f);
        col += (int)len;
        free(text);
    }
    fprintf(f, ");\n");
    if (block)
        fprintf(f, "    }\n");
    if (e->phase >= 0)
        fprintf(f, "    if (m->prof)\n        cnnrt_prof_mark(m->prof, %d, %s);\n", e->site++,
                e->phase == CNNRT_PROF_UPDATE ? "1" : "n");
}

static void print_calls(Emitter *e, const CallList *list)
{
    for (int i = 0; i < list->n; i++)
        print_call(e, &list->calls[i]);
}

/* _backward; with --mpi, each parameter's gradient is announced to the
 * hook right after the last call that writes it (a layer's gradients are
 * final once its backward is done), so a data-parallel trainer can start
 * summing them across processes while the earlier layers still run. */
static void print_backward(Emitter *e)
{
    const CallList *list = &e->L->backward;
    for (int i = 0; i < list->n; i++) {
        const Call *c = &list->calls[i];
        print_call(e, c);
        for (int k = 0; e->mpi && c->kernel && k < c->nargs; k++) {
            if (c->args[k].kind != ARG_GRAD)
                continue;
            int v = c->args[k].v, later = 0;
            for (int j = i + 1; j < list->n && !later; j++)
                for (int q = 0; q < list->calls[j].nargs; q++)
                    later |= list->calls[j].args[q].kind == ARG_GRAD && list->calls[j].args[q].v == v;
            if (!later)
                fprintf(e->f, "    if (m->grads_done)\n        m->grads_done(m->grads_arg, g->%s, %ld);\n",
                        e->pfield[v], e->g->params[v].size);
        }
    }
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
        fprintf(h, "#include \"cnnrt.h\"\n%s\n", e->L->detect >= 0 ? "#include \"cnnrt_det.h\"\n" : "");
    if (o->embed && e->L->detect >= 0)
        fprintf(h, "#ifndef CNNRT_DET_DEFINED\n#define CNNRT_DET_DEFINED\n"
                   "typedef struct { int image, cls; float score, x1, y1, x2, y2; } cnnrt_det;\n#endif\n\n");
    fprintf(h, "#ifdef __cplusplus\nextern \"C\" {\n#endif\n\n");
    long out0 = g->vals[g->outputs[0]].size;
    fprintf(h, "#define %s_BATCH      %d   /* largest batch */\n", M, g->batch);
    fprintf(h, "#define %s_IN_SIZE    %ld  /* floats per sample: C*H*W */\n", M, g->vals[g->input].size);
    fprintf(h, "#define %s_OUT_SIZE   %ld  /* floats per sample of output 0 */\n", M, out0);
    /* the loss declares its target's layout; without one, the output's */
    fprintf(h, "#define %s_TARGET_SIZE %ld  /* floats per sample of the training target */\n",
            M, g->target >= 0 ? g->vals[g->target].size : out0);
    fprintf(h, "#define %s_NOUTPUTS   %d\n", M, g->noutputs);
    if (e->L->detect >= 0) {
        const cnnrt_yolox_geom *y = &e->L->geoms[e->L->detect].det;
        if (g->target_kind == CNNRT_TARGET_BOXES)
            fprintf(h, "#define %s_MAX_BOXES  %d  /* target rows [class, cx, cy, w, h] per sample */\n",
                    M, y->max_boxes);
        fprintf(h, "#define %s_CLASSES    %d\n", M, y->classes);
    }
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
        if (o->mpi)
            fprintf(h, "/* --mpi: fn(arg, grad, n) is called in _backward as soon as a gradient\n"
                       "   tensor is final (NULL: no calls) */\n"
                       "void %s_grads_hook(%s *m, void (*fn)(void *arg, float *grad, long n), void *arg);\n", m, m);
    }
    fprintf(h, "int %s_params(%s *m, const cnnrt_tensor **out);\n", m, m);
    if (train) {
        fprintf(h, "int %s_state(%s *m, const cnnrt_tensor **out, long **step);  /* optimizer state */\n", m, m);
        fprintf(h, "int %s_save(const %s *m, const char *path);\n", m, m);
        emit_train_header(g, h);
    }
    fprintf(h, "int %s_load(%s *m, const char *path);\n", m, m);
    emit_prof_header(g, h);
    if (e->L->detect >= 0)
        fprintf(h, "/* eval-mode forward, decode, score = sigmoid(obj)*sigmoid(best class),\n"
                   "   score >= score_thr, class-aware NMS at nms_iou; each image's detections\n"
                   "   by score; returns how many were written (<= max) */\n"
                   "int %s_detect(%s *m, const float *x, int n, float score_thr, float nms_iou,\n"
                   "              cnnrt_det *out, int max);\n", m, m);
    fprintf(h, "\n#ifdef __cplusplus\n}\n#endif\n\n#endif\n");
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
               g->plan.heuristic ? g->plan.heuristic : "no plan");
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
    if (e->L->detect >= 0)
        fprintf(f, "    float *detect_scratch;  /* %ld floats: _detect's decoding */\n", e->L->detect_scratch);
    if (e->L->nderived)
        fprintf(f, "    float *derived;         /* %ld floats: batchnorm folded into convs */\n", e->L->nderived);
    fprintf(f, "    %s_tensors p;          /* parameters and statistics */\n", m);
    if (train)
        fprintf(f, "    %s_tensors g;          /* their gradients */\n", m);
    fprintf(f, "    cnnrt_tensor tensors[%d];\n", g->nparams ? g->nparams : 1);
    if (train)
        fprintf(f, "    cnnrt_tensor opt_tensors[%d];\n    long step;               /* optimizer steps taken */\n"
                   "    int training;\n", g->nparams ? (2 + emit_has_ema(g)) * g->nparams : 1);
    if (train)
        emit_train_fields(g, f);
    if (train && e->mpi)
        fprintf(f, "    void (*grads_done)(void *arg, float *grad, long n);  /* _grads_hook */\n"
                   "    void *grads_arg;\n");
    fprintf(f, "    void *owned;             /* the block _new allocated, NULL after _new_in */\n"
               "    cnnrt_ctx ctx;           /* the kernel context of every call */\n"
               "    struct cnnrt_prof *prof; /* _profile's, NULL: no timing */\n"
               "    cnnrt_rng rng;           /* dropout masks */\n    uint64_t seed;           /* from _init */\n    int n;                   /* batch of the last forward */\n};\n\n");
}

static void print_ints(FILE *f, const int *v, int n)
{
    fprintf(f, "{");
    for (int i = 0; i < n; i++)
        fprintf(f, "%s%d", i ? ", " : " ", v[i]);
    fprintf(f, " }");
}

static void print_detect_geom(FILE *f, const char *name, const cnnrt_yolox_geom *y)
{
    fprintf(f, "/* the detect outputs as levels: classes, levels, h[], w[], stride[];\n"
               "   the yolox loss: reg_weight, center_radius, topk, max_boxes */\n"
               "static const cnnrt_yolox_geom %s = {\n    %d, %d, ", name, y->classes, y->levels);
    print_ints(f, y->h, y->levels);
    fprintf(f, ", ");
    print_ints(f, y->w, y->levels);
    fprintf(f, ", ");
    print_ints(f, y->stride, y->levels);
    fprintf(f, ",\n    ");
    emit_float(f, y->reg_weight);
    fprintf(f, ", ");
    emit_float(f, y->center_radius);
    fprintf(f, ", %d, %d };\n", y->topk, y->max_boxes);
}

static void emit_geoms(Emitter *e)
{
    FILE *f = e->f;
    for (int i = 0; i < e->L->ngeoms; i++) {
        const Geom *gm = &e->L->geoms[i];
        const cnnrt_conv *c = &gm->conv;
        const cnnrt_pool *p = &gm->pool;
        if (gm->kind == GEOM_DETECT)
            print_detect_geom(f, e->gname[i], &gm->det);
        else if (gm->kind == GEOM_CONV)
            fprintf(f, "static const cnnrt_conv %s = {  /* c h w, f oh ow, kh kw, sh sw, ph pw, dh dw, groups */\n"
                       "    %d, %d, %d,  %d, %d, %d,  %d, %d,  %d, %d,  %d, %d,  %d, %d,  %d };\n",
                    e->gname[i], c->c, c->h, c->w, c->f, c->oh, c->ow, c->kh, c->kw, c->sh, c->sw,
                    c->ph, c->pw, c->dh, c->dw, c->groups);
        else
            fprintf(f, "static const cnnrt_pool %s = {  /* c h w, oh ow, kh kw, sh sw, ph pw */\n"
                       "    %d, %d, %d,  %d, %d,  %d, %d,  %d, %d,  %d, %d };\n",
                    e->gname[i], p->c, p->h, p->w, p->oh, p->ow, p->kh, p->kw, p->sh, p->sw, p->ph, p->pw);
    }
    if (e->L->ngeoms)
        fprintf(f, "\n");
}

/* fold(m): the conv weights an inference build runs with, from the real
 * parameters and the batchnorm that followed each conv */
static void emit_fold(Emitter *e)
{
    fprintf(e->f, "/* Batchnorm folded into the conv before it (running statistics); run\n"
                  "   after every change of the parameters: _init and _load. */\n"
                  "static void fold(%s *m)\n{\n    const %s_tensors *p = &m->p;\n", e->g->name, e->g->name);
    print_calls(e, &e->L->fold);
    fprintf(e->f, "}\n\n");
}

static void emit_lifecycle(Emitter *e, int train)
{
    const Graph *g = e->g;
    FILE *f = e->f;
    const char *m = g->name;
    if (e->L->nderived)
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
               "    m->arena = carve(&p, ARENA);\n"
               "    m->ctx.threads = 0;       /* the process default: cnnrt_set_threads */\n", m, m, e->M, e->M, m, m);
    if (e->L->nderived)
        fprintf(f, "    m->derived = carve(&p, %ld);\n", e->L->nderived);
    if (e->L->detect >= 0)
        fprintf(f, "    m->detect_scratch = carve(&p, %ld);\n", e->L->detect_scratch);
    if (train) {
        fprintf(f, "    m->grads = carve(&p, NPARAMS);\n");
        for (int i = 1; i <= e->L->opt_buffers; i++)
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
        fprintf(f, " }, %ld, m->p.%s, %s%s };\n", p->size, e->pfield[i],
                train && p->learned ? "m->g." : "NULL", train && p->learned ? e->pfield[i] : "");
        free(id);
    }
    if (train) {
        int nb = e->L->opt_buffers, k = 0;
        for (int b = 0; b < nb; b++)
            for (int i = 0; i < g->nparams; i++) {
                const Param *p = &g->params[i];
                if (!p->learned)
                    continue;
                char *id = c_ident("P_", e->pfield[i], 1);
                fprintf(f, "    m->opt_tensors[%d] = (cnnrt_tensor){ \"%s.%s\", %d, { ", k++, p->name,
                        lower_opt_name(&g->train, b), p->rank);
                for (int d = 0; d < 4; d++)
                    fprintf(f, "%s%d", d ? ", " : "", d < p->rank ? p->shape[d] : 0);
                fprintf(f, " }, %ld, m->opt%d + %s, NULL };\n", p->size, b + 1, id);
                free(id);
            }
        emit_train_new(g, f, e->pfield, k);
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
    fprintf(f, "    const %s_tensors *p = &m->p;\n", m);
    print_calls(e, &e->L->init);
    fprintf(f, "    m->seed = seed;\n    cnnrt_rng_seed(&m->rng, seed ^ 0x9e3779b97f4a7c15ULL);\n");
    if (train) {
        fprintf(f, "    memset(m->grads, 0, sizeof(float) * NPARAMS);\n");
        for (int i = 1; i <= e->L->opt_buffers; i++)
            fprintf(f, "    memset(m->opt%d, 0, sizeof(float) * NPARAMS);\n", i);
        fprintf(f, "    m->step = 0;\n");
        emit_train_ema_copy(g, f, "    ");
    }
    if (e->L->nderived)
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
    fprintf(f, "const float *%s_forward(%s *m, const float *x, int n)\n{\n    float *a = m->arena;\n"
               "    const %s_tensors *p = &m->p;\n", m, m, m);
    if (!g->inference) {
        fprintf(f, "    memcpy(");
        print_value(e, g->input, 0);
        fprintf(f, ", x, sizeof(float) * (size_t)n * %ld);  /* kept for backward */\n", g->vals[g->input].size);
    } else
        fprintf(f, "    (void)a;\n");
    fprintf(f, "    (void)p;\n");
    int dropout = 0;
    for (int i = 0; i < e->L->forward.n; i++)
        dropout |= e->L->forward.calls[i].node >= 0 && g->nodes[e->L->forward.calls[i].node].op == OP_dropout;
    if (dropout && train)
        fprintf(f, "    /* dropout masks depend on the seed and step only, so repeated\n"
                   "       forwards between updates (and resumed runs) see the same masks */\n"
                   "    cnnrt_rng_seed(&m->rng, m->seed ^ (0x9e3779b97f4a7c15ULL * (uint64_t)(m->step + 1)));\n");
    fprintf(f, "    if (m->prof)\n        cnnrt_prof_start(m->prof);\n");
    e->phase = CNNRT_PROF_FORWARD;
    print_calls(e, &e->L->forward);
    e->phase = -1;
    fprintf(f, "    m->n = n;\n    return ");
    print_value(e, g->outputs[0], 0);
    fprintf(f, ";\n}\n\n");

    fprintf(f, "const float *%s_output(%s *m, int i)\n{\n    float *a = m->arena;\n", m, m);
    if (g->inference)
        fprintf(f, "    (void)a;\n");
    for (int i = 0; i < g->noutputs; i++) {
        fprintf(f, "    if (i == %d)\n        return ", i);
        if (g->vals[ir_root(g, g->outputs[i])].kind == V_INPUT && g->inference)
            fprintf(f, "NULL");     /* the caller's own x */
        else
            print_value(e, g->outputs[i], 0);
        fprintf(f, ";\n");
    }
    fprintf(f, "    return NULL;\n}\n\n");
    if (!train)
        return;

    fprintf(f, "float %s_backward(%s *m, const float *target, int n)\n{\n    float *a = m->arena;\n"
               "    const %s_tensors *p = &m->p, *g = &m->g;\n    float loss;\n    (void)p;\n    (void)g;\n",
            m, m, m);
    fprintf(f, "    if (m->prof)\n        cnnrt_prof_start(m->prof);\n");
    e->phase = CNNRT_PROF_BACKWARD;
    print_backward(e);
    e->phase = -1;
    fprintf(f, "    return loss;\n}\n\n");
    if (e->mpi)
        fprintf(f, "void %s_grads_hook(%s *m, void (*fn)(void *arg, float *grad, long n), void *arg)\n{\n"
                   "    m->grads_done = fn;\n    m->grads_arg = arg;\n}\n\n", m, m);

    fprintf(f, "void %s_update(%s *m)\n{\n    m->step++;\n", m, m);
    emit_train_pre_update(g, f);
    fprintf(f, "    if (m->prof)\n        cnnrt_prof_start(m->prof);\n");
    e->phase = CNNRT_PROF_UPDATE;
    print_calls(e, &e->L->update);
    e->phase = -1;
    fprintf(f, "}\n\n");
    fprintf(f, "void %s_zero_grad(%s *m)\n{\n    memset(m->grads, 0, sizeof(float) * NPARAMS);\n}\n\n", m, m);
    fprintf(f, "float %s_train_step(%s *m, const float *x, const float *target, int n)\n{\n"
               "    %s_forward(m, x, n);\n    float loss = %s_backward(m, target, n);\n"
               "    %s_update(m);\n    return loss;\n}\n\n", m, m, m, m, m);
}

/* <m>_detect: an eval-mode forward, then the runtime decodes the levels */
static void emit_detect(Emitter *e, int train)
{
    const Graph *g = e->g;
    FILE *f = e->f;
    const char *m = g->name;
    fprintf(f, "int %s_detect(%s *m, const float *x, int n, float score_thr, float nms_iou,\n"
               "              cnnrt_det *out, int max)\n{\n", m, m);
    if (train)
        fprintf(f, "    int training = m->training;\n    m->training = 0;\n");
    fprintf(f, "    %s_forward(m, x, n);\n", m);
    if (train)
        fprintf(f, "    m->training = training;\n");
    fprintf(f, "    const float *const levels[] = {");
    for (int i = 0, k = 0; i < g->noutputs; i++) {
        int p = g->vals[g->outputs[i]].producer;
        if (p >= 0 && g->nodes[p].op == OP_detect)
            fprintf(f, "%s%s_output(m, %d)", k++ ? ", " : " ", m, i);
    }
    fprintf(f, " };\n    m->ctx.scratch = m->detect_scratch;\n"
               "    return cnnrt_detect(&m->ctx, &%s, n, levels, score_thr, nms_iou, out, max);\n}\n\n",
            e->gname[e->L->detect]);
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
        nstate *= e->L->opt_buffers;
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
            m, m, g->nparams, e->L->nderived ? "        fold(m);\n" : emit_has_ema(g) ?
            "        memcpy(m->ema, m->params, sizeof(float) * NPARAMS);\n"
            "        memcpy(m->ema + NPARAMS, m->stats, sizeof(float) * NSTATS);\n" : "", m);
    emit_train_api(g, f);
}

/* The model's one block (MODEL_MEMORY_BYTES): 64 bytes of alignment slack,
 * the struct's reserve (*struct_bytes), then every buffer rounded up to 64
 * bytes: parameters, statistics, the arena, folded weights, and in a
 * training build the gradients and optimizer state.  Both printers (C and
 * LLVM) size the block with this. */
long emit_memory_bytes(const Graph *g, const Lowered *L, long *struct_bytes)
{
    int train = !g->inference && g->loss_node >= 0;
    *struct_bytes = (4096 + (long)g->nparams * (256 + 128 * emit_has_ema(g)) + 63) / 64 * 64;
    long floats[6] = { g->nparam_floats, g->nstate_floats, g->arena_floats, L->nderived,
                       emit_ema_floats(g), L->detect >= 0 ? L->detect_scratch : 0 };
    long nbuf = train ? 1 + L->opt_buffers : 0;    /* grads, optimizer state */
    long bytes = 64 + *struct_bytes;
    for (int i = 0; i < 6; i++)
        bytes += (floats[i] * 4 + 63) / 64 * 64;
    return bytes + nbuf * ((g->nparam_floats * 4 + 63) / 64 * 64);
}

int emit_h(const Graph *g, const Lowered *L, const EmitOptions *o, FILE *h)
{
    Emitter e;
    memset(&e, 0, sizeof e);
    e.g = g;
    e.L = L;
    e.memory_bytes = emit_memory_bytes(g, L, &e.struct_bytes);
    emit_header(&e, o, h);
    return ferror(h) ? -1 : 0;
}

int emit_c(const Graph *g, const EmitOptions *o, FILE *c, FILE *h)
{
    Emitter e;
    memset(&e, 0, sizeof e);
    e.g = g;
    e.f = c;
    e.phase = -1;
    e.embed = o->embed;
    e.mpi = o->mpi;
    int train = !g->inference && g->loss_node >= 0;
    e.vmacro = xcalloc((size_t)g->nvals + 1, sizeof(char *));
    e.pfield = xcalloc((size_t)g->nparams + 1, sizeof(char *));
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
    Lowered *L = lower_graph(g);
    e.L = L;
    e.gname = xcalloc((size_t)L->ngeoms + 1, sizeof(char *));
    for (int i = 0; i < L->ngeoms; i++) {
        char *id = c_ident("", L->geoms[i].node >= 0 ? g->nodes[L->geoms[i].node].layer : "detect", 0);
        e.gname[i] = xfmt("%s_geom", id);
        free(id);
    }
    upper(e.M, g->name, sizeof e.M);
    e.memory_bytes = emit_memory_bytes(g, L, &e.struct_bytes);
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
    if (o->embed)
        emit_runtime(c, g->name, o->with_main);
    if (o->embed && o->with_main)
        emit_header(&e, o, c);     /* a single-file program: the header inlined */
    else
        fprintf(c, "#include \"%s\"\n\n", o->header_name);
    emit_offsets(&e);
    emit_struct(&e, train);
    emit_geoms(&e);
    emit_lifecycle(&e, train);
    emit_prof_sites(g, L, c);
    emit_passes(&e, train);
    emit_prof_api(g, c);
    if (L->detect >= 0)
        emit_detect(&e, train);
    emit_io(&e, train);
    if (o->with_main)
        emit_main(g, o->mpi, c);
    for (int v = 0; v < g->nvals; v++)
        free(e.vmacro[v]);
    for (int i = 0; i < g->nparams; i++)
        free(e.pfield[i]);
    free(e.vmacro);
    free(e.pfield);
    for (int i = 0; i < L->ngeoms; i++)
        free(e.gname[i]);
    free(e.gname);
    lower_free(L);
    return ferror(c) || ferror(h) ? -1 : 0;
}
