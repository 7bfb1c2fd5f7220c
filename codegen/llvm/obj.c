/* obj.c — `cnnc --emit=obj|llvm`: the model's module (module.c) for this
 * machine or --target=TRIPLE, written as an object file or as IR text,
 * and MODEL.h beside it (the C printer's header: the API is the same).
 * It is not an optimizer: the module is straight-line calls of the
 * runtime's kernels (-O chose them: the passes ran before).
 */
#include <stdlib.h>
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

/* RISC-V: LLVM-C cannot set the ABI of a target machine, and LLVM's
 * default is soft-float (lp64, ilp32), which Debian's hard-float systems
 * cannot link with.  The general-purpose extensions (rv64gc: m, a, f, d,
 * c) and the module flag "target-abi" make LLVM compile for the
 * double-float ABI (lp64d, ilp32d: floats in fa registers), but LLVM 14's
 * object writer takes the ELF header's float-ABI flag from the machine's
 * options alone, so riscv_elf_flags sets it in the object written. */
static const char *riscv_abi(const char *triple)
{
    if (!triple || strncmp(triple, "riscv", 5))
        return NULL;
    return strncmp(triple, "riscv64", 7) == 0 ? "lp64d" : "ilp32d";
}

/* the double-float ABI flag (EF_RISCV_FLOAT_ABI_DOUBLE) in the ELF
 * header of a little-endian RISC-V object of n bytes */
static void riscv_elf_flags(unsigned char *elf, size_t n)
{
    if (n < 52 || memcmp(elf, "\177ELF", 4) || (elf[18] | elf[19] << 8) != 243)
        return;
    unsigned char *flags = elf + (elf[4] == 2 ? 0x30 : 0x24);
    flags[0] = (unsigned char)((flags[0] & ~0x6) | 0x4);
}

LLVMTargetMachineRef llvm_machine(const char *triple, char **norm)
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
    const char *target_features = riscv_abi(*norm) ? "+m,+a,+f,+d,+c" : "";
    /* LLVM's fast path (FastISel) at every -O: the module is calls of the
       kernels, which the time is in (LeNet-5 trains at the same speed),
       and LLVM's other levels schedule a long block of calls slowly
       (yolox_nano: 12 s instead of 0.3 s) */
    LLVMCodeGenOptLevel lv = LLVMCodeGenLevelNone;
    /* objects are for any link, position-independent executables included;
       the target's default CPU for another machine, this one's otherwise */
    LLVMTargetMachineRef tm = LLVMCreateTargetMachine(t, *norm, triple ? "" : cpu,
                                                      triple ? target_features : features, lv, LLVMRelocPIC,
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
    LLVMTargetMachineRef tm = llvm_machine(o->target, &triple);
    if (!tm)
        return -1;
    LLVMTargetDataRef td = LLVMCreateTargetDataLayout(tm);
    LLVMContextRef cx = LLVMContextCreate();
    LLVMModuleRef mod = llvm_module(cx, g, triple, td, o->with_main);
    const char *abi = riscv_abi(triple);
    if (mod && abi)
        LLVMAddModuleFlag(mod, LLVMModuleFlagBehaviorError, "target-abi", strlen("target-abi"),
                          LLVMMDStringInContext2(cx, abi, strlen(abi)));
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
                unsigned char *obj = xmalloc(n + 1);
                memcpy(obj, LLVMGetBufferStart(mb), n);
                if (abi)
                    riscv_elf_flags(obj, n);
                rc = fwrite(obj, 1, n, out) == n ? 0 : -1;
                free(obj);
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
