/* emit_train.h — the printer's part of the train block's schedule, EMA and
 * clipping (emit_train.c): struct fields, their setup, the schedule's lr,
 * and the functions _schedule and _ema.  The calls of _update (clipping,
 * the optimizer with the scheduled lr, the EMA) are lowered (lower.c). */
#ifndef EMIT_TRAIN_H
#define EMIT_TRAIN_H

#include <stdio.h>
#include "../ir/ir.h"

int  emit_has_ema(const Graph *g);
long emit_ema_floats(const Graph *g);
void emit_train_header(const Graph *g, FILE *h);
void emit_train_fields(const Graph *g, FILE *f);
/* in _new_in after the tensor tables; pfield: the struct fields of the
 * parameters; nopt: optimizer tensors so far */
void emit_train_new(const Graph *g, FILE *f, char *const *pfield, int nopt);
void emit_train_ema_copy(const Graph *g, FILE *f, const char *indent);
/* in _update before its calls: the schedule's `lr` (ARG_LR) */
void emit_train_pre_update(const Graph *g, FILE *f);
void emit_train_api(const Graph *g, FILE *f);
void emit_train_main_wrappers(const Graph *g, FILE *f);
void emit_train_main_fields(const Graph *g, FILE *f);

#endif
