/* obj.c — `cnnc --emit=obj|llvm`: the model's module (module.c) for this
 * machine or --target=TRIPLE, written as an object file or as IR text,
 * and MODEL.h beside it (the C printer's header: the API is the same).
 * It is not an optimizer: the module is straight-line calls of the
 * runtime's kernels, and -O only sets LLVM's code generation level.
 */
#include <string.h>
#include <llvm-c/TargetMachine.h>
#include <llvm-c/Analysis.h>
#include "module.h"

const int cnnc_has_llvm = 1;

static void init_targets(void)
{
    static int done;
    if (done++)
        return;
    LLVMInitializeAllTargetInfos();
    LLVMInitializeAllTargets();
    LLVMInitializeAllTargetMCs();
    LLVMInitializeAllAsmPrinters();
}

LLVMTargetMachineRef llvm_machine(const char *triple, int opt, char **norm)
{
    init_targets();
    *norm = triple ? LLVMNormalizeTargetTriple(triple) : LLVMGetDefaultTargetTriple();
    LLVMTargetRef t;
    char *err = NULL;
    if (LLVMGetTargetFromTriple(*norm, &t, &err)) {
        fprintf(stderr, "cnnc: error: --target=%s: %s\n", triple ? triple : *norm, err);
        LLVMDisposeMessage(err);
        LLVMDisposeMessage(*norm);
        *norm = NULL;
        return NULL;
    }
    char *cpu = triple ? NULL : LLVMGetHostCPUName();
    char *features = triple ? NULL : LLVMGetHostCPUFeatures();
    LLVMCodeGenOptLevel lv = opt <= 0 ? LLVMCodeGenLevelNone : opt == 1 ? LLVMCodeGenLevelLess
                           : opt == 2 ? LLVMCodeGenLevelDefault : LLVMCodeGenLevelAggressive;
    /* objects are for any link, position-independent executables included;
       the target's default CPU for another machine, this one's otherwise */
    LLVMTargetMachineRef tm = LLVMCreateTargetMachine(t, *norm, triple ? "" : cpu,
                                                      triple ? "" : features, lv, LLVMRelocPIC,
                                                      LLVMCodeModelDefault);
    if (cpu)
        LLVMDisposeMessage(cpu);
    if (features)
        LLVMDisposeMessage(features);
    return tm;
}

int llvm_emit(const Graph *g, const LlvmOptions *o, const EmitOptions *eo, FILE *out, FILE *h)
{
    char *triple;
    LLVMTargetMachineRef tm = llvm_machine(o->target, o->opt, &triple);
    if (!tm)
        return -1;
    LLVMTargetDataRef td = LLVMCreateTargetDataLayout(tm);
    LLVMContextRef cx = LLVMContextCreate();
    LLVMModuleRef mod = llvm_module(cx, g, triple, td, o->with_main);
    int rc = -1;
    char *err = NULL;
    if (mod && LLVMVerifyModule(mod, LLVMPrintMessageAction, &err)) {
        fprintf(stderr, "cnnc: internal error: the LLVM module does not verify\n");
    } else if (mod) {
        if (o->textual) {
            char *text = LLVMPrintModuleToString(mod);
            rc = fputs(text, out) < 0 ? -1 : 0;
            LLVMDisposeMessage(text);
        } else {
            LLVMMemoryBufferRef mb;
            char *merr = NULL;
            if (LLVMTargetMachineEmitToMemoryBuffer(tm, mod, LLVMObjectFile, &merr, &mb)) {
                fprintf(stderr, "cnnc: error: LLVM: %s\n", merr);
                LLVMDisposeMessage(merr);
            } else {
                size_t n = LLVMGetBufferSize(mb);
                rc = fwrite(LLVMGetBufferStart(mb), 1, n, out) == n ? 0 : -1;
                LLVMDisposeMemoryBuffer(mb);
            }
        }
        if (rc == 0 && h) {
            Lowered *L = lower_graph(g);
            rc = emit_h(g, L, eo, h);
            lower_free(L);
        }
    }
    if (err)
        LLVMDisposeMessage(err);
    if (mod)
        LLVMDisposeModule(mod);
    LLVMContextDispose(cx);
    LLVMDisposeTargetData(td);
    LLVMDisposeTargetMachine(tm);
    LLVMDisposeMessage(triple);
    return rc;
}
