/* train.h — the train block (train.c): loss, optimizer, batch, epochs,
 * seed and augmentations into the Graph's TrainCfg, and the loss node after
 * the model.  Internal to the frontend; it needs the model's graph (its
 * outputs) but nothing else of semantic analysis.
 */
#ifndef TRAIN_H
#define TRAIN_H

#include "frontend/ast.h"
#include "ir/ir.h"

void train_defaults(TrainCfg *t);
/* input_loc: where the model's input is named (for errors about data) */
void train_resolve(Graph *g, Diag *d, Loc input_loc, const ATrain *t);

#endif
