/* args.h — the arguments of a call in a .cnn file: `conv(6, kernel=5)`,
 * `adam(lr=0.001)`, `flip(p=0.5)` (args.c).  A callee describes its
 * arguments with a spec string (ops.def for ops, train.c for optimizers
 * and augmentations); these functions check written arguments against it
 * and report through a Diag.  They know nothing of models or train blocks.
 * Internal to the frontend.
 */
#ifndef ARGS_H
#define ARGS_H

#include "frontend/ast.h"
#include "ir/ir.h"

/* The largest size-like integer (input sizes, filters, kernel, stride,
 * batch...): well past any real network, small enough that shape
 * arithmetic on a few of them cannot overflow. */
enum { MAX_SIZE = 1000000 };

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
int  args_check(Diag *d, const char *what, Loc at, const ArgSpec *spec, int nspec,
                const Vec *args, ArgVal *vals);

/* One value of a given type, with the ranges of (what, key).  0 if good. */
int  args_value(Diag *d, const char *what, const char *key, int type,
                const AValue *v, ArgVal *out);

/* `v` for messages: "0.5", "'same'", "[1, 2, 3]", "a string" */
void args_describe(const Diag *d, const AValue *v, char *buf, int len);

/* Fill a node's attributes from its checked arguments. */
void args_attr(Attr *a, int op, const ArgSpec *spec, int nspec, const ArgVal *vals);
/* 1 when ops.def has an ATTR row for (op, key) */
int  args_attr_has(int op, const char *key);

#endif
