/* module.c — the model as an LLVM module: the lowered kernel calls of
 * lower_graph() as calls of the runtime's symbols, and the lifecycle and
 * parameter I/O of GENERATED_API.md around them.
 *
 * The model's state is one opaque block (the header declares only
 * `typedef struct M M`), laid out like the C printer's: 64-byte aligned,
 * the struct's reserve first (emit_memory_bytes), then parameters,
 * statistics, the arena, folded weights, the EMA of the weights, the
 * detector's decoding scratch, gradients and optimizer state, each
 * rounded up to 64 bytes.  Buffers are therefore at constant offsets
 * from the model pointer, and the reserve holds only what is not a buffer:
 * a struct (State below) whose layout LLVM computes for the target, so a
 * 32-bit target gets 32-bit pointers and longs.
 *
 * Kernel types come from the runtime's headers (build/kernel_sigs.c, made
 * by tools/kernel_sigs.sh), so every call passes exactly the C types the
 * kernel was compiled with; lower/ passes integers loosely (an int for a
 * long), as C would convert them.
 *
 * What it is not: a lowering (no op is looked at, except to know that a
 * forward has dropout and reseeds its generator, and which outputs are a
 * detector's levels for _detect, as the C printer does).
 */
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <llvm-c/Core.h>
#include <llvm-c/Target.h>
#include "module.h"
#include "../emit_train.h"

extern const char *const cnnc_kernel_sigs[][2];

/* the fields of the model struct, in order (State) */
enum { S_OWNED, S_STEP, S_TRAINING, S_N, S_SEED, S_RNG, S_CTX, S_TENSORS, S_OPT,
       S_SCHED_STEPS, S_SCHED_EPOCHS, S_EMA_TENSORS, NFIELDS };
/* buffers in the block, in carving order (gradients and optimizer state
   last and adjacent: _init zeroes them in one loop) */
enum { B_PARAMS, B_STATS, B_ARENA, B_DERIVED, B_EMA, B_DETECT, B_GRADS, B_OPT1, B_OPT2, NBUFS };

typedef struct {
    const Graph *g;
    const Lowered *L;
    LLVMContextRef cx;
    LLVMModuleRef mod;
    LLVMBuilderRef b;
    LLVMTypeRef i8, i32, i64, lng, sz, flt, dbl, ptr, vd, state, tensor, ctx_t;
    int train, ema, sched, nstate, bad;
    long memory_bytes, struct_bytes, off[NBUFS];
    LLVMValueRef *geoms;
    /* the function being built */
    LLVMValueRef m, ms, x, target, n, init_rng, loss, lr;
} Gen;

static LLVMValueRef cint(LLVMTypeRef t, long long v)
{
    return LLVMConstInt(t, (unsigned long long)v, 1);
}

/* a byte offset from an i8 pointer */
static LLVMValueRef at(Gen *G, LLVMValueRef base, long bytes)
{
    LLVMValueRef i = cint(G->i64, bytes);
    return LLVMBuildInBoundsGEP2(G->b, G->i8, base, &i, 1, "");
}

static LLVMValueRef buf(Gen *G, int which)
{
    return at(G, G->m, G->off[which]);
}

/* pointer to field f of the state (typed), and as i8 * */
static LLVMValueRef field(Gen *G, int f)
{
    return LLVMBuildStructGEP2(G->b, G->state, G->ms, (unsigned)f, "");
}

static LLVMValueRef as_ptr(Gen *G, LLVMValueRef p)
{
    return LLVMBuildBitCast(G->b, p, G->ptr, "");
}

static void fail(Gen *G, const char *what, const char *kernel)
{
    if (!G->bad)
        fprintf(stderr, "cnnc: internal error: LLVM backend: %s%s%s\n", what,
                kernel ? ": " : "", kernel ? kernel : "");
    G->bad = 1;
}

static LLVMTypeRef type_of(Gen *G, char c)
{
    switch (c) {
    case 'p': return G->ptr;
    case 'i': return G->i32;
    case 'l': return G->lng;
    case 'u': return G->i64;
    case 'z': return G->sz;
    case 'f': return G->flt;
    case 'd': return G->dbl;
    default:  return G->vd;
    }
}

/* the runtime function `name`, declared with its C type; its signature in sig */
static LLVMValueRef runtime_fn(Gen *G, const char *name, const char **sig, LLVMTypeRef *fty)
{
    *sig = NULL;
    for (int i = 0; cnnc_kernel_sigs[i][0]; i++)
        if (strcmp(cnnc_kernel_sigs[i][0], name) == 0)
            *sig = cnnc_kernel_sigs[i][1];
    if (!*sig) {
        fail(G, "not a function of cnnrt.h", name);
        return NULL;
    }
    LLVMTypeRef ps[32];
    unsigned np = 0;
    for (const char *c = *sig + 2; *c && np < 32; c++)
        ps[np++] = type_of(G, *c);
    *fty = LLVMFunctionType(type_of(G, (*sig)[0]), ps, np, 0);
    LLVMValueRef f = LLVMGetNamedFunction(G->mod, name);
    return f ? f : LLVMAddFunction(G->mod, name, *fty);
}

/* a call of runtime function `name` with args in the header's types */
static LLVMValueRef call_rt(Gen *G, const char *name, LLVMValueRef *args, unsigned n)
{
    const char *sig;
    LLVMTypeRef fty;
    LLVMValueRef f = runtime_fn(G, name, &sig, &fty);
    if (!f || strlen(sig) - 2 != n) {
        fail(G, "wrong number of arguments", name);
        return NULL;
    }
    return LLVMBuildCall2(G->b, fty, f, args, n, "");
}

/* value v's buffer plus off floats: the input x, the target, or the arena */
static LLVMValueRef value_ptr(Gen *G, int v, long off)
{
    const Graph *g = G->g;
    const Value *x = &g->vals[ir_root(g, v)];
    if (x->kind == V_TARGET)
        return off ? at(G, G->target, off * 4) : G->target;
    if (x->kind == V_INPUT && g->inference)
        return off ? at(G, G->x, off * 4) : G->x;
    if (x->off < 0)
        fail(G, "a value outside the arena", x->name);
    return at(G, G->m, G->off[B_ARENA] + (x->off + off) * 4);
}

static LLVMValueRef param_ptr(Gen *G, int i, int grad)
{
    const Param *p = &G->g->params[i];
    return at(G, G->m, G->off[grad ? B_GRADS : p->learned ? B_PARAMS : B_STATS] + p->off * 4);
}

/* an integer as the type the kernel takes (lower/ passes int for long) */
static LLVMValueRef int_as(Gen *G, LLVMValueRef v, char t)
{
    if (t == 'p' || t == 'f' || t == 'd') {
        fail(G, "an integer where the kernel takes no integer", NULL);
        return LLVMGetUndef(type_of(G, t));
    }
    return LLVMBuildIntCast2(G->b, v, type_of(G, t), 1, "");
}

/* a constant global of this module only, initialised to init */
static LLVMValueRef private_const(Gen *G, LLVMValueRef init, const char *name)
{
    LLVMValueRef gv = LLVMAddGlobal(G->mod, LLVMTypeOf(init), name);
    LLVMSetInitializer(gv, init);
    LLVMSetGlobalConstant(gv, 1);
    LLVMSetLinkage(gv, LLVMPrivateLinkage);
    return gv;
}

static const int bufs[] = {
    [BUF_PARAMS] = B_PARAMS, [BUF_GRADS] = B_GRADS, [BUF_OPT1] = B_OPT1,
    [BUF_OPT2] = B_OPT2, [BUF_STATS] = B_STATS, [BUF_EMA] = B_EMA,
};

/* a model buffer: BUF_EMA_STATS is the EMA's tail, after NPARAMS floats
   of the parameters' EMA (as in the C printer) */
static LLVMValueRef model_buffer(Gen *G, int which)
{
    if (which == BUF_EMA_STATS)
        return at(G, G->m, G->off[B_EMA] + G->g->nparam_floats * 4);
    return buf(G, bufs[which]);
}

static LLVMValueRef gen_arg(Gen *G, const Arg *a, char t)
{
    const Graph *g = G->g;
    switch (a->kind) {
    case ARG_NULL:     return LLVMConstNull(G->ptr);
    case ARG_CTX:      return as_ptr(G, field(G, S_CTX));
    case ARG_N:        return int_as(G, G->n, t);
    case ARG_INT:
    case ARG_ACT:      return int_as(G, cint(G->i32, a->i), t);
    case ARG_LONG:     return int_as(G, cint(G->i64, a->l), t);
    case ARG_NPARAMS:  return int_as(G, cint(G->i64, g->nparam_floats), t);
    case ARG_NSTATS:   return int_as(G, cint(G->i64, g->nstate_floats), t);
    case ARG_LR:
        if (t != 'f' || !G->lr)
            fail(G, "a scheduled learning rate outside _update", NULL);
        return G->lr ? G->lr : LLVMConstReal(G->flt, 0);
    case ARG_FLOAT:
        if (t != 'f')
            fail(G, "a float where the kernel takes no float", NULL);
        return LLVMConstReal(G->flt, a->f);
    case ARG_LEN: {
        LLVMValueRef n = LLVMBuildSExt(G->b, G->n, G->i64, "");
        return int_as(G, LLVMBuildNSWMul(G->b, n, cint(G->i64, a->l), ""), t);
    }
    case ARG_VALUE:    return value_ptr(G, a->v, a->l);
    case ARG_PARAM:    return param_ptr(G, a->v, 0);
    case ARG_GRAD:     return param_ptr(G, a->v, 1);
    case ARG_DERIVED:  return at(G, G->m, G->off[B_DERIVED] + a->l * 4);
    case ARG_GEOM:     return LLVMConstBitCast(G->geoms[a->i], G->ptr);
    case ARG_TRAINING:
        if (g->inference)
            return int_as(G, cint(G->i32, 0), t);
        return int_as(G, LLVMBuildLoad2(G->b, G->i32, field(G, S_TRAINING), ""), t);
    case ARG_RNG:      return as_ptr(G, field(G, S_RNG));
    case ARG_INIT_RNG: return G->init_rng;
    case ARG_BUFFER:   return model_buffer(G, a->i);
    case ARG_STEP:     return int_as(G, LLVMBuildLoad2(G->b, G->lng, field(G, S_STEP), ""), t);
    case ARG_VALUES:
    case ARG_VALUES_OUT: {
        LLVMTypeRef at_t = LLVMArrayType(G->ptr, (unsigned)a->count);
        LLVMValueRef arr = LLVMBuildAlloca(G->b, at_t, "parts");
        for (int i = 0; i < a->count; i++) {
            LLVMValueRef ix[2] = { cint(G->i32, 0), cint(G->i32, i) };
            LLVMBuildStore(G->b, value_ptr(G, a->vs[i], 0),
                           LLVMBuildInBoundsGEP2(G->b, at_t, arr, ix, 2, ""));
        }
        return as_ptr(G, arr);
    }
    case ARG_SIZES: {
        LLVMValueRef *ls = malloc(sizeof *ls * (size_t)(a->count + 1));
        for (int i = 0; i < a->count; i++)
            ls[i] = cint(G->lng, a->ls[i]);
        LLVMValueRef init = LLVMConstArray(G->lng, ls, (unsigned)a->count);
        free(ls);
        return LLVMConstBitCast(private_const(G, init, "sizes"), G->ptr);
    }
    }
    fail(G, "an unknown argument kind", NULL);
    return LLVMGetUndef(type_of(G, t));
}

static void gen_call(Gen *G, const Call *c)
{
    if (!c->kernel)
        return;                     /* a view: no code */
    const char *sig;
    LLVMTypeRef fty;
    LLVMValueRef f = runtime_fn(G, c->kernel, &sig, &fty);
    if (!f)
        return;
    if ((int)strlen(sig) - 2 != c->nargs) {
        fail(G, "lowered arguments do not match the kernel's prototype", c->kernel);
        return;
    }
    if (c->scratch >= 0 && c->nargs && c->args[0].kind == ARG_CTX)
        LLVMBuildStore(G->b, value_ptr(G, c->scratch, 0),
                       LLVMBuildStructGEP2(G->b, G->ctx_t, field(G, S_CTX), 0, ""));
    LLVMValueRef args[32];
    for (int k = 0; k < c->nargs && k < 32; k++) {
        args[k] = gen_arg(G, &c->args[k], sig[2 + k]);
        if ((sig[2 + k] == 'p') != (LLVMGetTypeKind(LLVMTypeOf(args[k])) == LLVMPointerTypeKind))
            fail(G, "a pointer argument where the kernel takes a number, or the reverse", c->kernel);
    }
    LLVMValueRef r = LLVMBuildCall2(G->b, fty, f, args, (unsigned)c->nargs, "");
    if (c->returns_loss)
        G->loss = r;
}

static void gen_calls(Gen *G, const CallList *l)
{
    for (int i = 0; i < l->n; i++)
        gen_call(G, &l->calls[i]);
}

/* ---- functions ---- */
static LLVMValueRef fn_type(Gen *G, const char *name, int internal, LLVMTypeRef ret, int np, ...)
{
    LLVMTypeRef ps[8];
    va_list ap;
    va_start(ap, np);
    for (int i = 0; i < np; i++)
        ps[i] = va_arg(ap, LLVMTypeRef);
    va_end(ap);
    char *full = xfmt("%s_%s", G->g->name, name);
    LLVMValueRef f = LLVMAddFunction(G->mod, full, LLVMFunctionType(ret, ps, (unsigned)np, 0));
    free(full);
    if (internal)
        LLVMSetLinkage(f, LLVMInternalLinkage);
    return f;
}

/* start the body of f, whose first parameter is the model */
static void begin(Gen *G, LLVMValueRef f)
{
    LLVMPositionBuilderAtEnd(G->b, LLVMAppendBasicBlockInContext(G->cx, f, "entry"));
    G->m = LLVMGetParam(f, 0);
    G->ms = LLVMBuildBitCast(G->b, G->m, LLVMPointerType(G->state, 0), "m");
}

static LLVMValueRef fn(Gen *G, const char *name)
{
    char *full = xfmt("%s_%s", G->g->name, name);
    LLVMValueRef f = LLVMGetNamedFunction(G->mod, full);
    free(full);
    return f;
}

/* zero bytes at p, which is 64-byte aligned except the caller's block */
static void memzero(Gen *G, LLVMValueRef p, long bytes, unsigned align)
{
    LLVMBuildMemSet(G->b, p, LLVMConstInt(G->i8, 0, 0), cint(G->i64, bytes), align);
}

static void store(Gen *G, LLVMValueRef v, LLVMValueRef p)
{
    LLVMBuildStore(G->b, v, p);
}

/* one cnnrt_tensor of the _params or _state table */
static void set_tensor(Gen *G, LLVMValueRef t, const char *name, const Param *p,
                       LLVMValueRef data, LLVMValueRef grad)
{
    LLVMTypeRef T = G->tensor;
    store(G, LLVMBuildGlobalStringPtr(G->b, name, "name"), LLVMBuildStructGEP2(G->b, T, t, 0, ""));
    store(G, cint(G->i32, p->rank), LLVMBuildStructGEP2(G->b, T, t, 1, ""));
    LLVMTypeRef sh = LLVMArrayType(G->i32, 4);
    for (int k = 0; k < 4; k++) {
        LLVMValueRef ix[2] = { cint(G->i32, 0), cint(G->i32, k) };
        LLVMValueRef d = LLVMBuildInBoundsGEP2(G->b, sh, LLVMBuildStructGEP2(G->b, T, t, 2, ""), ix, 2, "");
        store(G, cint(G->i32, k < p->rank ? p->shape[k] : 0), d);
    }
    store(G, cint(G->lng, p->size), LLVMBuildStructGEP2(G->b, T, t, 3, ""));
    store(G, data, LLVMBuildStructGEP2(G->b, T, t, 4, ""));
    store(G, grad ? grad : LLVMConstNull(G->ptr), LLVMBuildStructGEP2(G->b, T, t, 5, ""));
}

static LLVMValueRef table_entry(Gen *G, int f, int i)
{
    LLVMValueRef ix[3] = { cint(G->i32, 0), cint(G->i32, f), cint(G->i32, i) };
    return LLVMBuildInBoundsGEP2(G->b, G->state, G->ms, ix, 3, "");
}

/* the EMA starts as the weights: in _init and after _load */
static void ema_copy(Gen *G)
{
    if (!G->ema)
        return;
    LLVMBuildMemCpy(G->b, buf(G, B_EMA), 64, buf(G, B_PARAMS), 64, cint(G->i64, G->g->nparam_floats * 4));
    LLVMBuildMemCpy(G->b, model_buffer(G, BUF_EMA_STATS), 4, buf(G, B_STATS), 64,
                    cint(G->i64, G->g->nstate_floats * 4));
}

/* _new_in's part for the train block's extras: the schedule's defaults,
 * the EMA's tensors (like tensors[], in the EMA buffer) and the raw
 * weights as the last nparams state tensors, "raw.NAME" (emit_train.c) */
static void new_extras(Gen *G, int nopt)
{
    const Graph *g = G->g;
    if (G->sched) {
        store(G, cint(G->lng, 1), field(G, S_SCHED_STEPS));
        store(G, cint(G->i32, g->train.epochs), field(G, S_SCHED_EPOCHS));
    }
    for (int i = 0; G->ema && i < g->nparams; i++) {
        const Param *p = &g->params[i];
        long off = p->learned ? p->off : g->nparam_floats + p->off;
        set_tensor(G, table_entry(G, S_EMA_TENSORS, i), p->name, p,
                   at(G, G->m, G->off[B_EMA] + off * 4), NULL);
        char *name = xfmt("raw.%s", p->name);
        set_tensor(G, table_entry(G, S_OPT, nopt + i), name, p, param_ptr(G, i, 0), NULL);
        free(name);
    }
}

static void gen_lifecycle(Gen *G)
{
    const Graph *g = G->g;
    LLVMValueRef f, fold = NULL;
    if (G->L->nderived) {
        fold = f = fn_type(G, "fold", 1, G->vd, 1, G->ptr);
        begin(G, f);
        gen_calls(G, &G->L->fold);
        LLVMBuildRetVoid(G->b);
    }
    /* _init: every tensor from one generator, in declaration order */
    f = fn(G, "init");
    begin(G, f);
    G->init_rng = as_ptr(G, LLVMBuildAlloca(G->b, LLVMArrayType(G->i64, 4), "r"));
    LLVMValueRef seed = LLVMGetParam(f, 1);
    call_rt(G, "cnnrt_rng_seed", (LLVMValueRef[]){ G->init_rng, seed }, 2);
    gen_calls(G, &G->L->init);
    store(G, seed, field(G, S_SEED));
    LLVMValueRef mix = LLVMBuildXor(G->b, seed, LLVMConstInt(G->i64, 0x9e3779b97f4a7c15ULL, 0), "");
    call_rt(G, "cnnrt_rng_seed", (LLVMValueRef[]){ as_ptr(G, field(G, S_RNG)), mix }, 2);
    if (G->train) {
        for (int b = B_GRADS; b <= B_GRADS + G->L->opt_buffers; b++)
            memzero(G, buf(G, b), g->nparam_floats * 4, 64);
        store(G, cint(G->lng, 0), field(G, S_STEP));
        ema_copy(G);
    }
    if (fold)
        LLVMBuildCall2(G->b, LLVMGlobalGetValueType(fold), fold, &G->m, 1, "");
    LLVMBuildRetVoid(G->b);

    /* _new_in: the block's buffers are at constant offsets; the tables
     * of tensors point into it */
    f = fn(G, "new_in");
    LLVMPositionBuilderAtEnd(G->b, LLVMAppendBasicBlockInContext(G->cx, f, "entry"));
    LLVMBasicBlockRef ok = LLVMAppendBasicBlockInContext(G->cx, f, "ok");
    LLVMBasicBlockRef no = LLVMAppendBasicBlockInContext(G->cx, f, "no");
    LLVMValueRef mem = LLVMGetParam(f, 0), bytes = LLVMGetParam(f, 1);
    LLVMValueRef small = LLVMBuildICmp(G->b, LLVMIntULT, bytes, cint(G->sz, G->memory_bytes), "");
    LLVMValueRef null = LLVMBuildICmp(G->b, LLVMIntEQ, mem, LLVMConstNull(G->ptr), "");
    LLVMBuildCondBr(G->b, LLVMBuildOr(G->b, small, null, ""), no, ok);
    LLVMPositionBuilderAtEnd(G->b, no);
    LLVMBuildRet(G->b, LLVMConstNull(G->ptr));
    LLVMPositionBuilderAtEnd(G->b, ok);
    memzero(G, mem, G->memory_bytes, 1);
    LLVMValueRef addr = LLVMBuildPtrToInt(G->b, mem, G->sz, "");
    LLVMValueRef pad = LLVMBuildURem(G->b, LLVMBuildSub(G->b, cint(G->sz, 64),
                                     LLVMBuildURem(G->b, addr, cint(G->sz, 64), ""), ""), cint(G->sz, 64), "");
    G->m = LLVMBuildInBoundsGEP2(G->b, G->i8, mem, &pad, 1, "m");
    G->ms = LLVMBuildBitCast(G->b, G->m, LLVMPointerType(G->state, 0), "");
    /* ctx.threads = 0: the process default (cnnrt_set_threads), as the C */
    store(G, cint(G->i32, 0), LLVMBuildStructGEP2(G->b, G->ctx_t, field(G, S_CTX), 1, ""));
    for (int i = 0; i < g->nparams; i++) {
        const Param *p = &g->params[i];
        int learned = G->train && p->learned;
        set_tensor(G, table_entry(G, S_TENSORS, i), p->name, p, param_ptr(G, i, 0),
                   learned ? param_ptr(G, i, 1) : NULL);
    }
    int nopt = 0;
    for (int b = 0; G->train && b < G->L->opt_buffers; b++)
        for (int i = 0; i < g->nparams; i++) {
            const Param *p = &g->params[i];
            if (!p->learned)
                continue;
            char *name = xfmt("%s.%s", p->name, lower_opt_name(&g->train, b));
            set_tensor(G, table_entry(G, S_OPT, nopt++), name, p,
                       at(G, G->m, G->off[B_OPT1 + b] + p->off * 4), NULL);
            free(name);
        }
    if (G->train) {
        new_extras(G, nopt);
        store(G, cint(G->i32, 1), field(G, S_TRAINING));
    }
    LLVMValueRef init = fn(G, "init");
    LLVMBuildCall2(G->b, LLVMGlobalGetValueType(init), init,
                   (LLVMValueRef[]){ G->m, LLVMConstInt(G->i64, g->train.seed, 0) }, 2, "");
    LLVMBuildRet(G->b, G->m);

    /* _new: _new_in on one malloc'd block, which _free frees */
    LLVMValueRef mall = LLVMAddFunction(G->mod, "malloc", LLVMFunctionType(G->ptr, &G->sz, 1, 0));
    LLVMValueRef fre = LLVMAddFunction(G->mod, "free", LLVMFunctionType(G->vd, &G->ptr, 1, 0));
    f = fn(G, "new");
    LLVMPositionBuilderAtEnd(G->b, LLVMAppendBasicBlockInContext(G->cx, f, "entry"));
    ok = LLVMAppendBasicBlockInContext(G->cx, f, "ok");
    no = LLVMAppendBasicBlockInContext(G->cx, f, "no");
    LLVMValueRef size = cint(G->sz, G->memory_bytes);
    mem = LLVMBuildCall2(G->b, LLVMGlobalGetValueType(mall), mall, &size, 1, "mem");
    LLVMValueRef newin = fn(G, "new_in");
    G->m = LLVMBuildCall2(G->b, LLVMGlobalGetValueType(newin), newin, (LLVMValueRef[]){ mem, size }, 2, "m");
    LLVMBuildCondBr(G->b, LLVMBuildICmp(G->b, LLVMIntEQ, G->m, LLVMConstNull(G->ptr), ""), no, ok);
    LLVMPositionBuilderAtEnd(G->b, no);
    LLVMBuildCall2(G->b, LLVMGlobalGetValueType(fre), fre, &mem, 1, "");
    LLVMBuildRet(G->b, LLVMConstNull(G->ptr));
    LLVMPositionBuilderAtEnd(G->b, ok);
    G->ms = LLVMBuildBitCast(G->b, G->m, LLVMPointerType(G->state, 0), "");
    store(G, mem, field(G, S_OWNED));
    LLVMBuildRet(G->b, G->m);

    f = fn(G, "free");
    LLVMPositionBuilderAtEnd(G->b, LLVMAppendBasicBlockInContext(G->cx, f, "entry"));
    ok = LLVMAppendBasicBlockInContext(G->cx, f, "some");
    no = LLVMAppendBasicBlockInContext(G->cx, f, "none");
    G->m = LLVMGetParam(f, 0);
    LLVMBuildCondBr(G->b, LLVMBuildICmp(G->b, LLVMIntEQ, G->m, LLVMConstNull(G->ptr), ""), no, ok);
    LLVMPositionBuilderAtEnd(G->b, ok);
    G->ms = LLVMBuildBitCast(G->b, G->m, LLVMPointerType(G->state, 0), "");
    LLVMValueRef owned = LLVMBuildLoad2(G->b, G->ptr, field(G, S_OWNED), "");
    LLVMBuildCall2(G->b, LLVMGlobalGetValueType(fre), fre, &owned, 1, "");
    LLVMBuildRetVoid(G->b);
    LLVMPositionBuilderAtEnd(G->b, no);
    LLVMBuildRetVoid(G->b);

    if (G->train) {
        f = fn(G, "set_training");
        begin(G, f);
        LLVMValueRef on = LLVMBuildICmp(G->b, LLVMIntNE, LLVMGetParam(f, 1), cint(G->i32, 0), "");
        store(G, LLVMBuildZExt(G->b, on, G->i32, ""), field(G, S_TRAINING));
        LLVMBuildRetVoid(G->b);
    }
}

/* the lr of update `step` under the train block's schedule (cnnrt_lr_at) */
static LLVMValueRef scheduled_lr(Gen *G, LLVMValueRef step)
{
    const TrainCfg *t = &G->g->train;
    /* cnnrt_sched: kind, lr, every, gamma, warmup, min_ratio */
    LLVMValueRef v[6] = { cint(G->i32, t->sched), LLVMConstReal(G->flt, t->lr), cint(G->i32, t->sched_every),
                          LLVMConstReal(G->flt, t->sched_gamma), LLVMConstReal(G->flt, t->sched_warmup),
                          LLVMConstReal(G->flt, t->sched_min_ratio) };
    LLVMValueRef s = private_const(G, LLVMConstStructInContext(G->cx, v, 6, 0), "schedule");
    LLVMValueRef args[4] = { LLVMConstBitCast(s, G->ptr), step,
                             LLVMBuildLoad2(G->b, G->lng, field(G, S_SCHED_STEPS), ""),
                             LLVMBuildLoad2(G->b, G->i32, field(G, S_SCHED_EPOCHS), "") };
    return call_rt(G, "cnnrt_lr_at", args, 4);
}

/* _profile: this backend prints no profile marks, so attaching fails
 * (-1) and detaching (NULL) is a no-op (0) */
static void gen_profile(Gen *G)
{
    LLVMValueRef f = fn(G, "profile");
    begin(G, f);
    LLVMValueRef none = LLVMBuildIsNull(G->b, LLVMGetParam(f, 1), "");
    LLVMBuildRet(G->b, LLVMBuildSelect(G->b, none, cint(G->i32, 0), cint(G->i32, -1), ""));
}

static void gen_passes(Gen *G)
{
    const Graph *g = G->g;
    LLVMValueRef f = fn(G, "forward");
    begin(G, f);
    G->x = LLVMGetParam(f, 1);
    G->n = LLVMGetParam(f, 2);
    if (!g->inference) {        /* x is kept in the arena for backward */
        LLVMValueRef n = LLVMBuildSExt(G->b, G->n, G->i64, "");
        LLVMBuildMemCpy(G->b, value_ptr(G, g->input, 0), 4, G->x, 4,
                        LLVMBuildNSWMul(G->b, n, cint(G->i64, 4 * g->vals[g->input].size), ""));
    }
    int dropout = 0;
    for (int i = 0; i < G->L->forward.n; i++)
        dropout |= G->L->forward.calls[i].node >= 0 && g->nodes[G->L->forward.calls[i].node].op == OP_dropout;
    if (dropout && G->train) {  /* masks depend on the seed and step only */
        LLVMValueRef step = LLVMBuildSExt(G->b, LLVMBuildLoad2(G->b, G->lng, field(G, S_STEP), ""), G->i64, "");
        LLVMValueRef k = LLVMBuildMul(G->b, LLVMConstInt(G->i64, 0x9e3779b97f4a7c15ULL, 0),
                                      LLVMBuildAdd(G->b, step, cint(G->i64, 1), ""), "");
        LLVMValueRef seed = LLVMBuildXor(G->b, LLVMBuildLoad2(G->b, G->i64, field(G, S_SEED), ""), k, "");
        call_rt(G, "cnnrt_rng_seed", (LLVMValueRef[]){ as_ptr(G, field(G, S_RNG)), seed }, 2);
    }
    gen_calls(G, &G->L->forward);
    store(G, G->n, field(G, S_N));
    LLVMBuildRet(G->b, value_ptr(G, g->outputs[0], 0));

    /* _output(m, i): a switch over the outputs */
    f = fn(G, "output");
    begin(G, f);
    LLVMBasicBlockRef none = LLVMAppendBasicBlockInContext(G->cx, f, "none");
    LLVMValueRef sw = LLVMBuildSwitch(G->b, LLVMGetParam(f, 1), none, (unsigned)g->noutputs);
    for (int i = 0; i < g->noutputs; i++) {
        LLVMBasicBlockRef bb = LLVMAppendBasicBlockInContext(G->cx, f, "out");
        LLVMAddCase(sw, cint(G->i32, i), bb);
        LLVMPositionBuilderAtEnd(G->b, bb);
        if (g->vals[ir_root(g, g->outputs[i])].kind == V_INPUT && g->inference)
            LLVMBuildRet(G->b, LLVMConstNull(G->ptr));     /* the caller's own x */
        else
            LLVMBuildRet(G->b, value_ptr(G, g->outputs[i], 0));
    }
    LLVMPositionBuilderAtEnd(G->b, none);
    LLVMBuildRet(G->b, LLVMConstNull(G->ptr));
    if (!G->train)
        return;

    f = fn(G, "backward");
    begin(G, f);
    G->target = LLVMGetParam(f, 1);
    G->n = LLVMGetParam(f, 2);
    G->loss = NULL;
    gen_calls(G, &G->L->backward);
    LLVMBuildRet(G->b, G->loss ? G->loss : LLVMConstReal(G->flt, 0));

    f = fn(G, "update");
    begin(G, f);
    LLVMValueRef step = LLVMBuildLoad2(G->b, G->lng, field(G, S_STEP), "");
    step = LLVMBuildAdd(G->b, step, cint(G->lng, 1), "");
    store(G, step, field(G, S_STEP));
    G->lr = G->sched ? scheduled_lr(G, step) : NULL;
    gen_calls(G, &G->L->update);
    G->lr = NULL;
    LLVMBuildRetVoid(G->b);

    f = fn(G, "zero_grad");
    begin(G, f);
    memzero(G, buf(G, B_GRADS), g->nparam_floats * 4, 64);
    LLVMBuildRetVoid(G->b);

    f = fn(G, "train_step");
    begin(G, f);
    LLVMValueRef fw = fn(G, "forward"), bw = fn(G, "backward"), up = fn(G, "update");
    LLVMValueRef n = LLVMGetParam(f, 3);
    LLVMBuildCall2(G->b, LLVMGlobalGetValueType(fw), fw, (LLVMValueRef[]){ G->m, LLVMGetParam(f, 1), n }, 3, "");
    LLVMValueRef loss = LLVMBuildCall2(G->b, LLVMGlobalGetValueType(bw), bw,
                                       (LLVMValueRef[]){ G->m, LLVMGetParam(f, 2), n }, 3, "loss");
    LLVMBuildCall2(G->b, LLVMGlobalGetValueType(up), up, &G->m, 1, "");
    LLVMBuildRet(G->b, loss);
}

/* parameter i of f, a `T **out`, as a pointer to a pointer */
static LLVMValueRef out_param(Gen *G, LLVMValueRef f, unsigned i)
{
    return LLVMBuildBitCast(G->b, LLVMGetParam(f, i), LLVMPointerType(G->ptr, 0), "");
}

static void gen_io(Gen *G)
{
    const Graph *g = G->g;
    LLVMValueRef f = fn(G, "params");
    begin(G, f);
    store(G, as_ptr(G, field(G, S_TENSORS)), out_param(G, f, 1));
    LLVMBuildRet(G->b, cint(G->i32, g->nparams));
    if (G->train) {
        f = fn(G, "state");
        begin(G, f);
        store(G, as_ptr(G, field(G, S_OPT)), out_param(G, f, 1));
        store(G, as_ptr(G, field(G, S_STEP)), out_param(G, f, 2));
        LLVMBuildRet(G->b, cint(G->i32, G->nstate));

        f = fn(G, "save");
        begin(G, f);
        /* with an EMA, the checkpoint's parameters are the EMA's */
        LLVMValueRef tensors = as_ptr(G, field(G, G->ema ? S_EMA_TENSORS : S_TENSORS));
        LLVMValueRef args[6] = { LLVMGetParam(f, 1), tensors, cint(G->i32, g->nparams),
                                 LLVMConstNull(G->ptr), cint(G->i32, 0), cint(G->lng, 0) };
        LLVMBuildRet(G->b, call_rt(G, "cnnrt_save", args, 6));
    }
    /* _load: on failure the message goes to stderr, "model: reason" */
    f = fn(G, "load");
    begin(G, f);
    LLVMValueRef err = as_ptr(G, LLVMBuildAlloca(G->b, LLVMArrayType(G->i8, 512), "err"));
    LLVMValueRef step = as_ptr(G, LLVMBuildAlloca(G->b, G->lng, "step"));
    LLVMValueRef args[8] = { LLVMGetParam(f, 1), as_ptr(G, field(G, S_TENSORS)), cint(G->i32, g->nparams),
                             LLVMConstNull(G->ptr), cint(G->i32, 0), step, err, cint(G->sz, 512) };
    LLVMValueRef rc = call_rt(G, "cnnrt_load", args, 8);
    LLVMBasicBlockRef ok = LLVMAppendBasicBlockInContext(G->cx, f, "ok");
    LLVMBasicBlockRef no = LLVMAppendBasicBlockInContext(G->cx, f, "no");
    LLVMBuildCondBr(G->b, LLVMBuildICmp(G->b, LLVMIntEQ, rc, cint(G->i32, 0), ""), ok, no);
    LLVMPositionBuilderAtEnd(G->b, ok);
    LLVMValueRef fold = fn(G, "fold");
    if (fold)
        LLVMBuildCall2(G->b, LLVMGlobalGetValueType(fold), fold, &G->m, 1, "");
    else
        ema_copy(G);
    LLVMBuildRet(G->b, cint(G->i32, 0));
    LLVMPositionBuilderAtEnd(G->b, no);
    LLVMValueRef se = LLVMAddGlobal(G->mod, G->ptr, "stderr");
    LLVMTypeRef pty[2] = { G->ptr, G->ptr };
    LLVMTypeRef prt = LLVMFunctionType(G->i32, pty, 2, 1);
    LLVMValueRef fp = LLVMAddFunction(G->mod, "fprintf", prt);
    char *fmt = xfmt("%s: %%s\n", g->name);
    LLVMValueRef pargs[3] = { LLVMBuildLoad2(G->b, G->ptr, se, ""), LLVMBuildGlobalStringPtr(G->b, fmt, "fmt"), err };
    free(fmt);
    LLVMBuildCall2(G->b, prt, fp, pargs, 3, "");
    LLVMBuildRet(G->b, cint(G->i32, -1));
}

/* _schedule and _ema (emit_train.c) */
static void gen_train_api(Gen *G)
{
    LLVMValueRef f;
    if (G->sched) {
        f = fn(G, "schedule");
        begin(G, f);
        LLVMValueRef s = LLVMGetParam(f, 1), e = LLVMGetParam(f, 2);
        LLVMValueRef sp = LLVMBuildICmp(G->b, LLVMIntSGT, s, cint(G->lng, 0), "");
        LLVMValueRef ep = LLVMBuildICmp(G->b, LLVMIntSGT, e, cint(G->i32, 0), "");
        store(G, LLVMBuildSelect(G->b, sp, s, cint(G->lng, 1), ""), field(G, S_SCHED_STEPS));
        store(G, LLVMBuildSelect(G->b, ep, e, cint(G->i32, 1), ""), field(G, S_SCHED_EPOCHS));
        LLVMBuildRetVoid(G->b);
    }
    if (G->ema) {
        f = fn(G, "ema");
        begin(G, f);
        store(G, as_ptr(G, field(G, S_EMA_TENSORS)), out_param(G, f, 1));
        LLVMBuildRet(G->b, cint(G->i32, G->g->nparams));
    }
}

/* _detect: an eval-mode forward, then the runtime decodes the levels (the
 * detect outputs, in output order) with the detect scratch */
static void gen_detect(Gen *G)
{
    const Graph *g = G->g;
    LLVMValueRef f = fn(G, "detect");
    begin(G, f);
    LLVMValueRef x = LLVMGetParam(f, 1), n = LLVMGetParam(f, 2), training = NULL;
    if (G->train) {
        training = LLVMBuildLoad2(G->b, G->i32, field(G, S_TRAINING), "training");
        store(G, cint(G->i32, 0), field(G, S_TRAINING));
    }
    LLVMValueRef fw = fn(G, "forward"), out = fn(G, "output");
    LLVMBuildCall2(G->b, LLVMGlobalGetValueType(fw), fw, (LLVMValueRef[]){ G->m, x, n }, 3, "");
    if (training)
        store(G, training, field(G, S_TRAINING));
    LLVMTypeRef at_t = LLVMArrayType(G->ptr, (unsigned)g->noutputs);
    LLVMValueRef levels = LLVMBuildAlloca(G->b, at_t, "levels");
    for (int i = 0, k = 0; i < g->noutputs; i++) {
        int p = g->vals[g->outputs[i]].producer;
        if (p < 0 || g->nodes[p].op != OP_detect)
            continue;
        LLVMValueRef o = LLVMBuildCall2(G->b, LLVMGlobalGetValueType(out), out,
                                        (LLVMValueRef[]){ G->m, cint(G->i32, i) }, 2, "");
        LLVMValueRef ix[2] = { cint(G->i32, 0), cint(G->i32, k++) };
        store(G, o, LLVMBuildInBoundsGEP2(G->b, at_t, levels, ix, 2, ""));
    }
    store(G, buf(G, B_DETECT), LLVMBuildStructGEP2(G->b, G->ctx_t, field(G, S_CTX), 0, ""));
    LLVMValueRef args[8] = { as_ptr(G, field(G, S_CTX)), LLVMConstBitCast(G->geoms[G->L->detect], G->ptr), n,
                             as_ptr(G, levels), LLVMGetParam(f, 3), LLVMGetParam(f, 4), LLVMGetParam(f, 5),
                             LLVMGetParam(f, 6) };
    LLVMBuildRet(G->b, call_rt(G, "cnnrt_detect", args, 8));
}

/* the public functions, declared first so that any may call any */
static void declare_api(Gen *G)
{
    LLVMTypeRef p = G->ptr, i = G->i32, v = G->vd;
    fn_type(G, "new_in", 0, p, 2, p, G->sz);
    fn_type(G, "new", 0, p, 0);
    fn_type(G, "free", 0, v, 1, p);
    fn_type(G, "init", 0, v, 2, p, G->i64);
    fn_type(G, "forward", 0, p, 3, p, p, i);
    fn_type(G, "output", 0, p, 2, p, i);
    if (G->train) {
        fn_type(G, "set_training", 0, v, 2, p, i);
        fn_type(G, "backward", 0, G->flt, 3, p, p, i);
        fn_type(G, "update", 0, v, 1, p);
        fn_type(G, "zero_grad", 0, v, 1, p);
        fn_type(G, "train_step", 0, G->flt, 4, p, p, p, i);
        fn_type(G, "state", 0, i, 3, p, p, p);
        fn_type(G, "save", 0, i, 2, p, p);
        if (G->sched)
            fn_type(G, "schedule", 0, v, 3, p, G->lng, i);
        if (G->ema)
            fn_type(G, "ema", 0, i, 2, p, p);
    }
    if (G->L->detect >= 0)
        fn_type(G, "detect", 0, i, 7, p, p, i, G->flt, G->flt, p, i);
    fn_type(G, "params", 0, i, 2, p, p);
    fn_type(G, "load", 0, i, 2, p, p);
    fn_type(G, "profile", 0, i, 2, p, p);
}

/* a detector's levels and loss settings as a cnnrt_yolox_geom: classes,
 * levels, h[], w[], stride[], reg_weight, center_radius, topk, max_boxes */
static LLVMValueRef detect_geom(Gen *G, const cnnrt_yolox_geom *y)
{
    const int *arr[3] = { y->h, y->w, y->stride };
    LLVMValueRef v[9], el[CNNRT_DET_LEVELS];
    v[0] = cint(G->i32, y->classes);
    v[1] = cint(G->i32, y->levels);
    for (int a = 0; a < 3; a++) {
        for (int k = 0; k < CNNRT_DET_LEVELS; k++)
            el[k] = cint(G->i32, arr[a][k]);
        v[2 + a] = LLVMConstArray(G->i32, el, CNNRT_DET_LEVELS);
    }
    v[5] = LLVMConstReal(G->flt, y->reg_weight);
    v[6] = LLVMConstReal(G->flt, y->center_radius);
    v[7] = cint(G->i32, y->topk);
    v[8] = cint(G->i32, y->max_boxes);
    return private_const(G, LLVMConstStructInContext(G->cx, v, 9, 0), "detect.geom");
}

static void gen_geoms(Gen *G)
{
    const Lowered *L = G->L;
    G->geoms = calloc((size_t)L->ngeoms + 1, sizeof *G->geoms);
    for (int i = 0; i < L->ngeoms; i++) {
        const Geom *gm = &L->geoms[i];
        if (gm->kind == GEOM_DETECT) {
            G->geoms[i] = detect_geom(G, &gm->det);
            continue;
        }
        const cnnrt_conv *c = &gm->conv;
        const cnnrt_pool *p = &gm->pool;
        /* both structs are ints only: an array of ints has their layout */
        int conv[] = { c->c, c->h, c->w, c->f, c->oh, c->ow, c->kh, c->kw, c->sh, c->sw,
                       c->ph, c->pw, c->dh, c->dw, c->groups };
        int pool[] = { p->c, p->h, p->w, p->oh, p->ow, p->kh, p->kw, p->sh, p->sw, p->ph, p->pw };
        int *vals = gm->kind == GEOM_CONV ? conv : pool;
        unsigned n = gm->kind == GEOM_CONV ? 15 : 11;
        LLVMValueRef el[15];
        for (unsigned k = 0; k < n; k++)
            el[k] = cint(G->i32, vals[k]);
        char *name = xfmt("%s.geom", G->g->nodes[gm->node].layer);
        G->geoms[i] = private_const(G, LLVMConstArray(G->i32, el, n), name);
        free(name);
    }
}

static void gen_types(Gen *G, LLVMTargetDataRef td, const char *triple)
{
    LLVMContextRef cx = G->cx;
    G->i8 = LLVMInt8TypeInContext(cx);
    G->i32 = LLVMInt32TypeInContext(cx);
    G->i64 = LLVMInt64TypeInContext(cx);
    /* long is pointer-sized (LP64, ILP32) except on Windows (LLP64) */
    G->sz = LLVMIntPtrTypeInContext(cx, td);
    G->lng = strstr(triple, "windows") || strstr(triple, "win32") ? G->i32 : G->sz;
    G->flt = LLVMFloatTypeInContext(cx);
    G->dbl = LLVMDoubleTypeInContext(cx);
    G->ptr = LLVMPointerType(G->i8, 0);
    G->vd = LLVMVoidTypeInContext(cx);
    /* cnnrt_tensor and cnnrt_ctx (cnnrt_abi.h), laid out by the target */
    LLVMTypeRef t[] = { G->ptr, G->i32, LLVMArrayType(G->i32, 4), G->lng, G->ptr, G->ptr };
    G->tensor = LLVMStructTypeInContext(cx, t, 6, 0);
    LLVMTypeRef c[] = { G->ptr, G->i32, G->ptr };
    G->ctx_t = LLVMStructTypeInContext(cx, c, 3, 0);
    const Graph *g = G->g;
    int nt = g->nparams ? g->nparams : 1;
    LLVMTypeRef s[NFIELDS] = {
        [S_OWNED] = G->ptr, [S_STEP] = G->lng, [S_TRAINING] = G->i32, [S_N] = G->i32,
        [S_SEED] = G->i64, [S_RNG] = LLVMArrayType(G->i64, 4), [S_CTX] = G->ctx_t,
        [S_TENSORS] = LLVMArrayType(G->tensor, (unsigned)nt),
        [S_OPT] = LLVMArrayType(G->tensor, (unsigned)(G->nstate ? G->nstate : 1)),
        [S_SCHED_STEPS] = G->lng, [S_SCHED_EPOCHS] = G->i32,
        [S_EMA_TENSORS] = LLVMArrayType(G->tensor, (unsigned)(G->ema ? nt : 1)),
    };
    G->state = LLVMStructTypeInContext(cx, s, NFIELDS, 0);
}

LLVMModuleRef llvm_module(LLVMContextRef cx, const Graph *g, const char *triple,
                          LLVMTargetDataRef td, int with_main)
{
    Gen G;
    memset(&G, 0, sizeof G);
    G.g = g;
    G.cx = cx;
    G.train = !g->inference && g->loss_node >= 0;
    G.ema = emit_has_ema(g);
    G.sched = G.train && g->train.sched != SCHED_CONST;
    Lowered *L = lower_graph(g);
    G.L = L;
    for (int i = 0; i < g->nparams; i++)
        G.nstate += g->params[i].learned;
    G.nstate *= G.train ? L->opt_buffers : 0;
    G.nstate += G.ema ? g->nparams : 0;         /* raw.NAME */
    G.memory_bytes = emit_memory_bytes(g, L, &G.struct_bytes);
    long floats[NBUFS] = { g->nparam_floats, g->nstate_floats, g->arena_floats, L->nderived,
                           emit_ema_floats(g), L->detect >= 0 ? L->detect_scratch : 0,
                           g->nparam_floats, g->nparam_floats, g->nparam_floats };
    long off = G.struct_bytes;
    int used = G.train ? B_GRADS + L->opt_buffers : B_DETECT;     /* the last buffer used */
    for (int b = 0; b < NBUFS; b++) {
        G.off[b] = off;
        off += (floats[b] * 4 + 63) / 64 * 64;
        if (b == used && 64 + off > G.memory_bytes)
            fail(&G, "the buffers do not fit MEMORY_BYTES", NULL);
    }
    G.mod = LLVMModuleCreateWithNameInContext(g->name, cx);
    LLVMSetTarget(G.mod, triple);
    char *dl = LLVMCopyStringRepOfTargetData(td);
    LLVMSetDataLayout(G.mod, dl);
    LLVMDisposeMessage(dl);
    G.b = LLVMCreateBuilderInContext(cx);
    gen_types(&G, td, triple);
    if ((long)LLVMABISizeOfType(td, G.state) > G.struct_bytes)
        fail(&G, "the model's fields do not fit their reserve", NULL);
    gen_geoms(&G);
    declare_api(&G);
    gen_lifecycle(&G);
    gen_profile(&G);
    gen_passes(&G);
    gen_io(&G);
    if (G.train)
        gen_train_api(&G);
    if (L->detect >= 0)
        gen_detect(&G);
    if (with_main && !G.bad)
        llvm_main(cx, G.mod, g, td);
    LLVMDisposeBuilder(G.b);
    free(G.geoms);
    lower_free(L);
    if (G.bad) {
        LLVMDisposeModule(G.mod);
        return NULL;
    }
    return G.mod;
}
