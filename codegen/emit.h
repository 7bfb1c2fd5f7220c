/* emit.h — the C emitter: turns a planned Graph into MODEL.c and MODEL.h
 * that implement GENERATED_API.md against the runtime (cnnrt.h).
 *
 * emit.c writes the file structure (header, struct, lifecycle, forward,
 * backward, update, parameter I/O); emit_ops.c writes one kernel call per
 * node through emit_NAME, declared here from the op table; emit_main.c
 * writes the optional trainer main().  Nothing here changes the graph.
 */
#ifndef EMIT_H
#define EMIT_H

#include <stdio.h>
#include "../ir/ir.h"

typedef struct {
    const Graph *g;
    FILE *f;
    char **vmacro;          /* per value: "A_CONV1", or NULL outside the arena */
    char **pfield;          /* per param: struct field, "conv1_weight" */
    int embed;              /* --embed-runtime */
    long *fold_off;         /* per node: folded conv weights in m->derived, -1 */
    long nderived;          /* floats of m->derived */
    char M[128];            /* the model name in capitals, for macros */
    long struct_bytes;      /* reserved for the model struct */
    long memory_bytes;      /* MODEL_MEMORY_BYTES: everything _new_in needs */
} Emitter;

/* C expression for a value's data ("a + A_CONV1", "x", "target") */
const char *emit_val(Emitter *e, int v);
/* "p->conv1_weight" / "g->conv1_weight"; "NULL" when absent */
const char *emit_param(Emitter *e, const Node *n, int i);
const char *emit_grad(Emitter *e, const Node *n, int i);
/* "m->derived + 1234": folded weights of an inference build */
const char *emit_derived(long off);
/* the value of kind V_SCRATCH among a node's outputs, or "NULL" */
const char *emit_scratch(Emitter *e, const Node *n);
/* the comment line above a kernel call */
void emit_comment(Emitter *e, const Node *n);
/* "(long)n * 4704" */
const char *emit_len(Emitter *e, int v);
/* a float literal that C reads back as the same float */
const char *emit_float(float v);
/* the name of the static geometry of a conv or pool node */
const char *emit_geom_name(Emitter *e, const Node *n);

#define OP(name, nin, flags, args) void emit_##name(Emitter *e, const Node *n);
#include "../ir/ops.def"
#undef OP

/* write MODEL.c and MODEL.h; 0, or -1 with a message printed */
typedef struct {
    const char *out_c, *out_h;  /* paths */
    const char *header_name;    /* how MODEL.c includes MODEL.h */
    int with_main;              /* --main */
    int embed;                  /* --embed-runtime */
    const char *cmdline;        /* for the header comment */
} EmitOptions;
int emit_c(const Graph *g, const EmitOptions *o, FILE *c, FILE *h);
void emit_main(Emitter *e);     /* emit_main.c */
void emit_tensor_table(Emitter *e);

/* schedule, EMA and clipping (emit_train.c): hooks emit.c calls; each
 * writes nothing when its feature is off */
int  emit_has_ema(const Graph *g);
long emit_ema_floats(const Graph *g);
void emit_train_header(Emitter *e, FILE *h);
void emit_train_fields(Emitter *e);
void emit_train_new(Emitter *e, int nopt);
void emit_train_ema_copy(Emitter *e, const char *indent);
const char *emit_train_pre_update(Emitter *e);
void emit_train_post_update(Emitter *e);
void emit_train_api(Emitter *e);
void emit_train_main_wrappers(Emitter *e);
void emit_train_main_fields(Emitter *e);

/* the runtime's sources, for --embed-runtime (build/rtsrc.c) */
extern const char *const cnnc_runtime_files[];
extern const char *const cnnc_runtime_names[];

#endif
