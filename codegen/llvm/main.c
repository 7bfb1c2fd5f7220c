/* main.c — the trainer's main() in the LLVM module (--main, `cnnc run`):
 * a constant cnnrt_model (cnnrt_train.h) with the model's sizes, train
 * block settings and functions, and main(argc, argv) returning
 * cnnrt_main(&model, argc, argv).  The C printer's emit_main.c writes the
 * same record as C; here the model's functions go in directly (their
 * model pointer is an i8 *, as the record's void * is), with no wrappers.
 */
#include <stdlib.h>
#include <string.h>
#include "module.h"

static LLVMValueRef global_const(LLVMModuleRef mod, LLVMValueRef init, const char *name)
{
    LLVMValueRef gv = LLVMAddGlobal(mod, LLVMTypeOf(init), name);
    LLVMSetInitializer(gv, init);
    LLVMSetGlobalConstant(gv, 1);
    LLVMSetLinkage(gv, LLVMPrivateLinkage);
    return gv;
}

/* the model's function <model>_name as an i8 *, or NULL when it has none */
static LLVMValueRef model_fn(LLVMModuleRef mod, const Graph *g, const char *name, LLVMTypeRef ptr)
{
    char *full = xfmt("%s_%s", g->name, name);
    LLVMValueRef f = LLVMGetNamedFunction(mod, full);
    free(full);
    return f ? LLVMConstBitCast(f, ptr) : LLVMConstNull(ptr);
}

void llvm_main(LLVMContextRef cx, LLVMModuleRef mod, const Graph *g, LLVMTargetDataRef td)
{
    LLVMTypeRef i8 = LLVMInt8TypeInContext(cx), i32 = LLVMInt32TypeInContext(cx);
    LLVMTypeRef i64 = LLVMInt64TypeInContext(cx), flt = LLVMFloatTypeInContext(cx);
    LLVMTypeRef ptr = LLVMPointerType(i8, 0);
    (void)td;
    int train = !g->inference && g->loss_node >= 0;
    const TrainCfg *t = &g->train;
    Shape in = g->vals[g->input].shape;

    LLVMValueRef aug = LLVMConstNull(ptr);
    if (t->naug) {
        LLVMTypeRef at[2] = { i32, LLVMArrayType(flt, 4) };
        LLVMTypeRef a_t = LLVMStructTypeInContext(cx, at, 2, 0);
        LLVMValueRef *rec = xcalloc((size_t)t->naug, sizeof *rec);
        for (int i = 0; i < t->naug; i++) {
            LLVMValueRef f[4];
            for (int k = 0; k < 4; k++)
                f[k] = LLVMConstReal(flt, t->aug[i].f[k]);
            LLVMValueRef fs[2] = { LLVMConstInt(i32, (unsigned)t->aug[i].kind, 0), LLVMConstArray(flt, f, 4) };
            rec[i] = LLVMConstStructInContext(cx, fs, 2, 0);
        }
        aug = LLVMConstBitCast(global_const(mod, LLVMConstArray(a_t, rec, (unsigned)t->naug), "augment"), ptr);
        free(rec);
    }
    /* the runtime's name for the loss, for validation figures */
    int loss = !train ? 0 : t->loss == OP_cross_entropy ? CNNRT_LOSS_XENT
             : t->loss == OP_bce ? CNNRT_LOSS_BCE : t->loss == OP_yolox ? CNNRT_LOSS_YOLOX
             : CNNRT_LOSS_MSE;
    const char *fns[9] = { "new", "free", "init", "set_training", "forward", "backward",
                           "update", "params", "state" };
    cnnrt_yolox_geom y;
    int det = ir_detect_geom(g, &y);
    LLVMValueRef name = LLVMConstStringInContext(cx, g->name, (unsigned)strlen(g->name), 0);
    LLVMValueRef v[31] = {
        LLVMConstBitCast(global_const(mod, name, "model.name"), ptr),
        LLVMConstInt(i32, (unsigned)g->batch, 0),
        LLVMConstInt(i32, (unsigned)in.d[0], 0),
        LLVMConstInt(i32, (unsigned)(in.rank == 3 ? in.d[1] : 1), 0),
        LLVMConstInt(i32, (unsigned)(in.rank == 3 ? in.d[2] : 1), 0),
        LLVMConstInt(i32, (unsigned long long)g->vals[g->input].size, 0),
        LLVMConstInt(i32, (unsigned long long)g->vals[g->outputs[0]].size, 0),
        LLVMConstInt(i32, (unsigned)loss, 0),
        LLVMConstInt(i32, (unsigned)t->epochs, 0),
        LLVMConstInt(i64, t->seed, 0),
        aug,
        LLVMConstInt(i32, (unsigned)t->naug, 0),
    };
    for (int i = 0; i < 9; i++)
        v[12 + i] = model_fn(mod, g, fns[i], ptr);
    /* the fields after state (cnnrt_train.h): augment_until, schedule and
       ema (NULL when the module has none), lr, the target the loss
       declares, and a detector's classes, target rows and _detect */
    v[21] = LLVMConstInt(i32, (unsigned)(train ? t->augment_until : 0), 0);
    v[22] = model_fn(mod, g, "schedule", ptr);
    v[23] = model_fn(mod, g, "ema", ptr);
    v[24] = LLVMConstReal(LLVMFloatTypeInContext(cx), train ? t->lr : 0);
    v[25] = LLVMConstInt(i32, (unsigned)g->target_kind, 0);
    v[26] = LLVMConstInt(i32, (unsigned long long)(g->target >= 0 ? g->vals[g->target].size : 0), 0);
    v[27] = LLVMConstInt(i32, (unsigned)(det ? y.classes : 0), 0);
    v[28] = LLVMConstInt(i32, (unsigned)(det ? y.max_boxes : 0), 0);
    v[29] = model_fn(mod, g, "detect", ptr);
    v[30] = LLVMConstNull(ptr);         /* profile: no hooks in this backend */
    LLVMValueRef model = global_const(mod, LLVMConstStructInContext(cx, v, 31, 0), "model");

    LLVMTypeRef mp[2] = { i32, LLVMPointerType(ptr, 0) };
    LLVMTypeRef main_t = LLVMFunctionType(i32, mp, 2, 0);
    LLVMValueRef mainf = LLVMAddFunction(mod, "main", main_t);
    LLVMTypeRef cp[3] = { ptr, i32, LLVMPointerType(ptr, 0) };
    LLVMTypeRef cm_t = LLVMFunctionType(i32, cp, 3, 0);
    LLVMValueRef cm = LLVMAddFunction(mod, "cnnrt_main", cm_t);
    LLVMBuilderRef b = LLVMCreateBuilderInContext(cx);
    LLVMPositionBuilderAtEnd(b, LLVMAppendBasicBlockInContext(cx, mainf, "entry"));
    LLVMValueRef args[3] = { LLVMConstBitCast(model, ptr), LLVMGetParam(mainf, 0), LLVMGetParam(mainf, 1) };
    LLVMBuildRet(b, LLVMBuildCall2(b, cm_t, cm, args, 3, ""));
    LLVMDisposeBuilder(b);
}
