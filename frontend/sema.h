/* sema.h — semantic analysis of the model (sema.c), which uses args.h
 * (arguments) and train.h (the train block).  Internal to the frontend.
 *
 * Sema reads the syntax tree and builds the Graph as it goes.  A value that
 * could not be built (unknown op, bad argument, unknown name...) is POISON:
 * whatever uses it is still checked as far as it can be, but nothing is
 * reported about the poisoned value itself again, so one mistake gives one
 * error.
 */
#ifndef SEMA_H
#define SEMA_H

#include "frontend/args.h"
#include "frontend/frontend.h"

enum { POISON = -2 };

/* ---- names of tensors ---- */
typedef struct {
    const char *name;
    Loc loc;
    int stmt;               /* index of the defining statement */
    int value;              /* value index, or POISON (not built, or bad) */
} Name;

typedef struct Sema {
    Diag *d;
    Graph *g;
    const AModel *model;
    Name *names;
    int nnames, capnames;
    int *slots;             /* hash of names: index + 1, 0 = empty */
    int nslots;
    int stmt;               /* statement being lowered */
    Loc input_loc;          /* the input's name */
    int counter[NOPS];      /* layers of each op so far (layer names) */
    const char *opnames[NOPS];  /* user ops, for "did you mean" */
    int nopnames;
} Sema;

int  sema_user_op(const char *name);        /* op index, -1 unless F_USER */

#endif
