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

/* write MODEL.c and MODEL.h; 0, or -1 with a message printed */
typedef struct {
    const char *out_c, *out_h;  /* paths */
    const char *header_name;    /* how MODEL.c includes MODEL.h */
    int with_main;              /* --main */
    int embed;                  /* --embed-runtime */
    const char *cmdline;        /* for the header comment */
    int mpi;                    /* --mpi: _grads_hook, and main() runs cnnrt_mpi_main */
} EmitOptions;
int emit_c(const Graph *g, const EmitOptions *o, FILE *c, FILE *h);
/* MODEL.h alone, for a backend that writes no C (codegen/llvm/) */
int emit_h(const Graph *g, const Lowered *L, const EmitOptions *o, FILE *h);
/* bytes of the model's one block (MODEL_MEMORY_BYTES) and, in
   *struct_bytes, the reserve for the model's own fields at its start */
long emit_memory_bytes(const Graph *g, const Lowered *L, long *struct_bytes);

/* the runtime's sources, for --embed-runtime (build/rtsrc.c) */
extern const char *const cnnc_runtime_files[];
extern const char *const cnnc_runtime_names[];

/* embed.c: the runtime's text with its globals renamed PREFIX_name;
 * with_main adds the data pipeline, the trainer and stb */
void emit_runtime(FILE *c, const char *prefix, int with_main);

#endif
