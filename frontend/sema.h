/* sema.h — what the parts of semantic analysis share (sema.c: the model;
 * args.c: arguments of ops, optimizers and augmentations; train.c: the
 * train block).  Internal to the frontend.
 *
 * Sema reads the syntax tree and builds the Graph as it goes.  A value that
 * could not be built (unknown op, bad argument, unknown name...) is POISON:
 * whatever uses it is still checked as far as it can be, but nothing is
 * reported about the poisoned value itself again, so one mistake gives one
 * error.
 */
#ifndef SEMA_H
#define SEMA_H

#include "frontend/ast.h"
#include "frontend/frontend.h"

enum { POISON = -2 };

/* The largest size-like integer (input sizes, filters, kernel, stride,
 * batch...): well past any real network, small enough that shape
 * arithmetic on a few of them cannot overflow. */
enum { MAX_SIZE = 1000000 };

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

/* ---- arguments (args.c) ---- */
enum { T_INT, T_FLOAT, T_BOOL, T_PAIR, T_PAD, T_INIT, T_RANGE };
enum { MAX_ARGS = 12 };

typedef struct {
    char key[24];
    int type;               /* T_* */
    const char *def;        /* default as written in the spec; NULL: required */
    int deflen;
} ArgSpec;

typedef struct {
    int given;              /* written by the user (else the default) */
    Loc loc;                /* the value, or the call when defaulted */
    int i[2];               /* int, bool, init; pair [h, w] */
    double f[2];            /* float; range [low, high] */
    int same;               /* pad=same */
} ArgVal;

/* Parse "key:type[=default] ..." (ir/ops.def); returns the count. */
int  args_spec(const char *spec, ArgSpec *out);

/* Check a call's arguments against spec; fill vals (one per spec entry).
 * `what` names the op/optimizer/augmentation in messages and selects its
 * ranges.  Returns 0 when every argument is good. */
int  args_check(Sema *s, const char *what, Loc at, const ArgSpec *spec, int nspec,
                const Vec *args, ArgVal *vals);

/* One value of a given type, with the ranges of (what, key).  0 if good. */
int  args_value(Sema *s, const char *what, const char *key, int type,
                const AValue *v, ArgVal *out);

/* `v` for messages: "0.5", "'same'", "[1, 2, 3]", "a string" */
void args_describe(const Sema *s, const AValue *v, char *buf, int len);

/* Fill a node's attributes from its checked arguments. */
void args_attr(Attr *a, const ArgSpec *spec, int nspec, const ArgVal *vals);

/* ---- the train block (train.c) ---- */
void sema_train_defaults(TrainCfg *t);
void sema_train(Sema *s, const ATrain *t);

/* ---- shared helpers (sema.c) ---- */
void sema_did_you_mean(Sema *s, Loc loc, const char *word,
                       const char *const *names, int n);
int  sema_user_op(const char *name);        /* op index, -1 unless F_USER */

/* Why the model's name cannot become C (cname.c), or NULL when it can;
 * *clash is the runtime's name it meets, if that is the reason. */
const char *sema_c_name_problem(const char *name, const char **clash);

#endif
