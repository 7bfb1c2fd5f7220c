/* sema.h — semantic analysis of the model (sema.c), which uses args.h
 * (arguments) and train.h (the train block).  Internal to the frontend.
 *
 * Sema reads the syntax tree and builds the Graph as it goes.  A value that
 * could not be built (unknown op, bad argument, unknown name...) is POISON:
 * whatever uses it is still checked as far as it can be, but nothing is
 * reported about the poisoned value itself again, so one mistake gives one
 * error.  Blocks (block.c) are expanded where they are used, each in a
 * scope of its own (sema.c's lower_use).
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

/* ---- blocks (block.c) ---- */
typedef struct {
    const AModel *def;
    int ntensor;            /* tensor parameters */
    int bad;                /* a bad declaration or recursion: uses give POISON,
                               quietly (it was reported once) */
} Block;

/* The numeric parameters of the expansion being lowered: vals[i] is the
 * value bound to def->params[i] (NULL for tensor parameters). */
typedef struct {
    const AModel *def;
    const AValue **vals;
} Env;

typedef struct Sema {
    Diag *d;
    Arena *arena;           /* the syntax tree's: substituted arguments */
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
    Block *blocks; int nblocks;
    int *bcount;            /* per block: uses so far in this scope (layer names) */
    const Env *env;         /* innermost expansion, NULL in the model */
    const char *prefix;     /* layer path of that expansion ("neck.c3"), NULL */
    int depth;              /* expansions open */
    int toobig;             /* the expansion limit was reported */
} Sema;

/* Expansions nest at most this deep, and make at most this many layers:
 * a few lines of blocks that use blocks twice can ask for 2^40 layers. */
enum { MAX_BLOCK_DEPTH = 100, MAX_LAYERS = 500000 };

int  sema_user_op(const char *name);        /* op index, -1 unless F_USER */

/* Check every declaration (once per file, used or not) and find
 * recursion.  Fills s->blocks. */
void sema_blocks(Sema *s, const AProgram *p);
int  sema_block(const Sema *s, const char *name);      /* index, or -1 */
/* The use `use` of block `block` reading `in`: tensors[i] and vals[i] get
 * what parameter i is bound to.  0 when every argument is good. */
int  sema_bind(Sema *s, int block, const AValue *use, const Vec *args, int in,
               int *tensors, const AValue **vals);
/* args with the current expansion's parameter names replaced by values */
const Vec *sema_subst(Sema *s, const Vec *args);
int  sema_use_tensor(Sema *s, const char *name, Loc loc);  /* value or POISON */
int  sema_is_tensor(Sema *s, const char *name);
/* Why the model's name cannot become C (cname.c), or NULL when it can;
 * *clash is the runtime's name it meets, if that is the reason. */
const char *sema_c_name_problem(const char *name, const char **clash);

#endif
