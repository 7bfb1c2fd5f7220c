/* llvm.h — the LLVM backend: the same lowered kernel calls the C printer
 * writes as C (lower/lower.h), built as an LLVM module through LLVM-C and
 * written as an object file (--emit=obj) or textual IR (--emit=llvm), for
 * this machine or another (--target), or run at once in-process by the
 * ORC JIT (`cnnc run`, codegen/llvm/jit.c).
 *
 * The object defines exactly the functions of GENERATED_API.md (and main()
 * with --main); MODEL.h beside it is the C printer's own header.  What it
 * is not: a second lowering.  Every kernel call, its order and arguments
 * come from lower_graph(); this backend only decides how the model's state
 * sits in its one memory block.
 *
 * Without LLVM at build time (no llvm-config), nollvm.c provides these
 * functions and they say how to get a cnnc with LLVM.
 */
#ifndef CNNC_LLVM_H
#define CNNC_LLVM_H

#include <stdio.h>
#include "../emit.h"

typedef struct {
    int textual;            /* --emit=llvm: IR text, not an object */
    const char *target;     /* --target=TRIPLE; NULL: this machine */
    int opt;                /* -O level: 0 (none) to 3; the passes ran at it,
                               LLVM's code generation is one level (obj.c) */
    int with_main;          /* --main: the trainer's main() too */
} LlvmOptions;

/* 1 when cnnc was built with LLVM */
extern const int cnnc_has_llvm;

/* write the object (or IR) to out and MODEL.h (eo) to h; 0, or -1 with a
 * message printed */
int llvm_emit(const Graph *g, const LlvmOptions *o, const EmitOptions *eo, FILE *out, FILE *h);

/* `cnnc run`: JIT the model with its trainer main() and call it with
 * argv (argv[0] the program name); its exit status, or 1 with a message */
int llvm_run(const Graph *g, int opt, int argc, char **argv);

#endif
