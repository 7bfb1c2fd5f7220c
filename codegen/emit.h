/* emit.h — the C emitter: turns a planned Graph into MODEL.c and MODEL.h
 * that implement GENERATED_API.md against the runtime (cnnrt.h).
 *
 * It is a printer: lower/ decided every kernel call and its typed
 * arguments; emit.c writes the file structure (header, struct, lifecycle,
 * forward, backward, update, parameter I/O) and each call as a line of C;
 * emit_main.c writes the optional trainer main().  Nothing here changes
 * the graph or chooses a kernel.
 */
#ifndef EMIT_H
#define EMIT_H

#include <stdio.h>
#include "../lower/lower.h"

typedef struct {
    const Graph *g;
    const Lowered *L;       /* the kernel calls this file prints */
    FILE *f;
    char **vmacro;          /* per value: "A_CONV1", or NULL outside the arena */
    char **pfield;          /* per param: struct field, "conv1_weight" */
    char **gname;           /* per geometry: "conv1_geom" */
    int embed;              /* --embed-runtime */
    char M[128];            /* the model name in capitals, for macros */
    long struct_bytes;      /* reserved for the model struct */
    long memory_bytes;      /* MODEL_MEMORY_BYTES: everything _new_in needs */
} Emitter;

/* a float literal that C reads back as the same float */
void emit_float(FILE *f, float v);

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

/* the runtime's sources, for --embed-runtime (build/rtsrc.c) */
extern const char *const cnnc_runtime_files[];
extern const char *const cnnc_runtime_names[];

#endif
