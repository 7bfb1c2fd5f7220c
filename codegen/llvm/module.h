/* module.h — inside the LLVM backend: building the model's module
 * (module.c), its trainer main() (main.c) and the target machine (obj.c),
 * shared by the object writer (obj.c) and the JIT (jit.c).  Only files
 * compiled with LLVM's headers include it. */
#ifndef CNNC_LLVM_MODULE_H
#define CNNC_LLVM_MODULE_H

#include <llvm-c/Core.h>
#include <llvm-c/Target.h>
#include <llvm-c/TargetMachine.h>
#include "llvm.h"
#include "../../support/alloc.h"

/* the model as a module for triple and its data layout td; NULL (with a
 * message printed) on an internal error */
LLVMModuleRef llvm_module(LLVMContextRef cx, const Graph *g, const char *triple,
                          LLVMTargetDataRef td, int with_main);

/* the target machine for triple (NULL: this machine, its CPU); *triple gets the normalized triple (LLVMDisposeMessage); NULL with
 * a message printed (obj.c) */
LLVMTargetMachineRef llvm_machine(const char *triple, char **norm);

/* add main(argc, argv): the model's constants and functions in a
 * cnnrt_model (cnnrt_train.h) handed to cnnrt_main */
void llvm_main(LLVMContextRef cx, LLVMModuleRef mod, const Graph *g, LLVMTargetDataRef td);

#endif
