/* jit.c — `cnnc run model.cnn train|eval|predict ...`: the model's module
 * with its trainer main() (module.c, main.c), compiled in-process by
 * LLVM's ORC JIT (LLJIT through LLVM-C) and called at once, with no C
 * compiler and no files in between.  Its symbols (the runtime's kernels,
 * trainer and data loaders, and libc) are resolved in cnnc's own process:
 * cnnc is linked with the whole runtime and exports it (-rdynamic).
 * It is not a cache: every run compiles again (milliseconds).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <llvm-c/Analysis.h>
#include <llvm-c/LLJIT.h>
#include <llvm-c/Orc.h>
#include "module.h"

static int jit_error(LLVMErrorRef e, const char *what)
{
    char *m = LLVMGetErrorMessage(e);
    fprintf(stderr, "cnnc: error: JIT: %s: %s\n", what, m);
    LLVMDisposeErrorMessage(m);
    return 1;
}

int llvm_run(const Graph *g, int opt, int argc, char **argv)
{
    /* this machine */
    char *triple;
    (void)opt;                  /* the passes ran at -O already (llvm_machine) */
    LLVMTargetMachineRef tm = llvm_machine(NULL, &triple);
    if (!tm)
        return 1;
    LLVMDisposeMessage(triple);
    LLVMOrcLLJITBuilderRef jb = LLVMOrcCreateLLJITBuilder();
    LLVMOrcLLJITBuilderSetJITTargetMachineBuilder(jb, LLVMOrcJITTargetMachineBuilderCreateFromTargetMachine(tm));
    LLVMOrcLLJITRef J;
    LLVMErrorRef e = LLVMOrcCreateLLJIT(&J, jb);
    if (e)
        return jit_error(e, "cannot start");
    int rc = 1;
    LLVMTargetDataRef td = LLVMCreateTargetData(LLVMOrcLLJITGetDataLayoutStr(J));
    LLVMOrcThreadSafeContextRef tsc = LLVMOrcCreateNewThreadSafeContext();
    LLVMContextRef cx = LLVMOrcThreadSafeContextGetContext(tsc);
    LLVMModuleRef mod = llvm_module(cx, g, LLVMOrcLLJITGetTripleString(J), td, 1);
    char *verr = NULL;
    if (mod && LLVMVerifyModule(mod, LLVMPrintMessageAction, &verr)) {
        fprintf(stderr, "cnnc: internal error: the LLVM module does not verify\n");
        LLVMDisposeModule(mod);
        mod = NULL;
    }
    LLVMDisposeMessage(verr);
    if (mod) {
        LLVMOrcJITDylibRef jd = LLVMOrcLLJITGetMainJITDylib(J);
        LLVMOrcDefinitionGeneratorRef gen;
        LLVMOrcJITTargetAddress addr = 0;
        e = LLVMOrcCreateDynamicLibrarySearchGeneratorForProcess(&gen, LLVMOrcLLJITGetGlobalPrefix(J),
                                                                 NULL, NULL);
        if (!e) {
            LLVMOrcJITDylibAddGenerator(jd, gen);
            e = LLVMOrcLLJITAddLLVMIRModule(J, jd, LLVMOrcCreateNewThreadSafeModule(mod, tsc));
        } else {
            LLVMDisposeModule(mod);
        }
        if (!e)
            e = LLVMOrcLLJITLookup(J, &addr, "main");
        if (e) {
            jit_error(e, "cannot compile the model");
        } else {
            /* the program's argv[0] is the model's file, as a built trainer's
               would be its own name */
            int (*run)(int, char **) = (int (*)(int, char **))(uintptr_t)addr;
            char **av = xcalloc((size_t)argc + 2, sizeof *av);
            av[0] = (char *)g->name;
            memcpy(av + 1, argv, sizeof *av * (size_t)argc);
            rc = run(argc + 1, av);
            free(av);
        }
    }
    LLVMOrcDisposeThreadSafeContext(tsc);
    LLVMDisposeTargetData(td);
    LLVMOrcDisposeLLJIT(J);
    return rc;
}
