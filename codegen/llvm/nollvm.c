/* nollvm.c — the LLVM backend's entry points in a cnnc built without LLVM
 * (no llvm-config at build time): they say so and how to get one.  The
 * Makefile compiles this file instead of the rest of codegen/llvm/. */
#include "llvm.h"

const int cnnc_has_llvm = 0;

static int without(const char *what)
{
    fprintf(stderr, "cnnc: error: %s needs LLVM, and this cnnc was built without it;\n"
                    "  install LLVM's development files (Debian: apt-get install llvm-dev,\n"
                    "  or `make deps`) and rebuild cnnc (make clean all)\n", what);
    return -1;
}

int llvm_emit(const Graph *g, const LlvmOptions *o, const EmitOptions *eo, FILE *out, FILE *h)
{
    (void)g, (void)eo, (void)out, (void)h;
    return without(o->textual ? "--emit=llvm" : "--emit=obj");
}

int llvm_run(const Graph *g, int opt, int argc, char **argv)
{
    (void)g, (void)opt, (void)argc, (void)argv;
    return without("cnnc run") ? 1 : 1;
}
