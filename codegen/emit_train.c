/* emit_train.c — the generated code for the train block's schedule, EMA
 * and gradient clipping (docs/LANGUAGE-EXT.md sections 8-10): struct
 * fields, their setup in _new_in and _init, the schedule's lr in _update,
 * and the functions _schedule and _ema.  emit.c calls these
 * hooks at fixed points; each writes nothing when its feature is off, so a
 * model without them is emitted exactly as before.  The calls of _update
 * (clipping, the optimizer with the scheduled lr, the EMA) are lowered in
 * lower/lower.c; the arithmetic is in the runtime (runtime/core/sched.c).
 *
 * EMA layout: m->ema holds NPARAMS floats shadowing m->params, then NSTATS
 * shadowing m->stats (YOLOX averages the running statistics too).
 * ema_tensors[] names them like tensors[]; opt_tensors[] ends with views
 * of the raw parameters named "raw.NAME", so that a checkpoint holds the
 * EMA as its parameters and the raw weights in its state.
 */
#include <stdio.h>
#include <string.h>

#include "emit_train.h"
#include "literal.h"
#include "../lower/lower.h"

static int train_build(const Graph *g)
{
    return !g->inference && g->loss_node >= 0;
}

int emit_has_ema(const Graph *g)
{
    return train_build(g) && g->train.ema > 0;
}

static int has_sched(const Graph *g)
{
    return train_build(g) && g->train.sched != SCHED_CONST;
}

long emit_ema_floats(const Graph *g)
{
    return emit_has_ema(g) ? g->nparam_floats + g->nstate_floats : 0;
}

void emit_train_header(const Graph *g, FILE *h)
{
    const char *m = g->name;
    if (has_sched(g))
        fprintf(h, "/* the schedule's epoch length and training length (default 1 and the\n"
                   "   train block's epochs); the trainer sets them */\n"
                   "void %s_schedule(%s *m, long steps_per_epoch, int epochs);\n", m, m);
    if (emit_has_ema(g))
        fprintf(h, "int %s_ema(%s *m, const cnnrt_tensor **out);  /* EMA of _params */\n", m, m);
}

void emit_train_fields(const Graph *g, FILE *f)
{
    int n = g->nparams ? g->nparams : 1;
    if (has_sched(g))
        fprintf(f, "    long sched_steps;        /* updates per epoch, for the schedule */\n"
                   "    int sched_epochs;        /* epochs of the whole run */\n");
    if (emit_has_ema(g))
        fprintf(f, "    float *ema;              /* NPARAMS + NSTATS: EMA of params, stats */\n"
                   "    cnnrt_tensor ema_tensors[%d];\n", n);
}

void emit_train_new(const Graph *g, FILE *f, char *const *pfield, int nopt)
{
    if (has_sched(g))
        fprintf(f, "    m->sched_steps = 1;\n    m->sched_epochs = %d;\n", g->train.epochs);
    if (!emit_has_ema(g))
        return;
    fprintf(f, "    m->ema = carve(&p, NPARAMS + NSTATS);\n");
    for (int i = 0; i < g->nparams; i++) {
        const Param *p = &g->params[i];
        fprintf(f, "    m->ema_tensors[%d] = m->tensors[%d];\n", i, i);
        fprintf(f, "    m->ema_tensors[%d].data = m->ema + %s(m->p.%s - m->%s);\n", i,
                p->learned ? "" : "NPARAMS + ", pfield[i], p->learned ? "params" : "stats");
        fprintf(f, "    m->ema_tensors[%d].grad = NULL;\n", i);
        fprintf(f, "    m->opt_tensors[%d] = m->tensors[%d];\n", nopt + i, i);
        fprintf(f, "    m->opt_tensors[%d].name = \"raw.%s\";\n", nopt + i, p->name);
        fprintf(f, "    m->opt_tensors[%d].grad = NULL;\n", nopt + i);
    }
}

/* the EMA starts as the weights: in _init and after _load */
void emit_train_ema_copy(const Graph *g, FILE *f, const char *indent)
{
    if (emit_has_ema(g))
        fprintf(f, "%smemcpy(m->ema, m->params, sizeof(float) * NPARAMS);\n"
                   "%smemcpy(m->ema + NPARAMS, m->stats, sizeof(float) * NSTATS);\n",
                indent, indent);
}

void emit_train_pre_update(const Graph *g, FILE *f)
{
    const TrainCfg *t = &g->train;
    if (!has_sched(g))
        return;
    static const char *const kinds[] = { "CNNRT_SCHED_CONST", "CNNRT_SCHED_STEP",
                                         "CNNRT_SCHED_COSINE" };
    fprintf(f, "    static const cnnrt_sched schedule = { %s, ", kinds[t->sched]);
    emit_float(f, t->lr);
    fprintf(f, ", %d, ", t->sched_every);
    emit_float(f, t->sched_gamma);
    fprintf(f, ", ");
    emit_float(f, t->sched_warmup);
    fprintf(f, ", ");
    emit_float(f, t->sched_min_ratio);
    fprintf(f, " };\n    float lr = cnnrt_lr_at(&schedule, m->step, m->sched_steps, m->sched_epochs);\n");
}

/* _schedule and _ema */
void emit_train_api(const Graph *g, FILE *f)
{
    const char *m = g->name;
    if (has_sched(g))
        fprintf(f, "void %s_schedule(%s *m, long steps_per_epoch, int epochs)\n{\n"
                   "    m->sched_steps = steps_per_epoch > 0 ? steps_per_epoch : 1;\n"
                   "    m->sched_epochs = epochs > 0 ? epochs : 1;\n}\n\n", m, m);
    if (emit_has_ema(g))
        fprintf(f, "int %s_ema(%s *m, const cnnrt_tensor **out)\n{\n"
                   "    *out = m->ema_tensors;\n    return %d;\n}\n\n", m, m, g->nparams);
}

/* the trainer's wrappers, and the trailing fields of cnnrt_model (always
 * written: -Wextra wants every field initialised) */
void emit_train_main_wrappers(const Graph *g, FILE *f)
{
    const char *m = g->name;
    if (has_sched(g))
        fprintf(f, "static void w_schedule(void *m, long s, int n) { %s_schedule(m, s, n); }\n", m);
    if (emit_has_ema(g))
        fprintf(f, "static int w_ema(void *m, const cnnrt_tensor **t) { return %s_ema(m, t); }\n", m);
}

void emit_train_main_fields(const Graph *g, FILE *f)
{
    fprintf(f, ",\n        %d, %s, %s", train_build(g) ? g->train.augment_until : 0,
            has_sched(g) ? "w_schedule" : "NULL", emit_has_ema(g) ? "w_ema" : "NULL");
}
