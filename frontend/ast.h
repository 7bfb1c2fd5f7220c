/* ast.h — the syntax tree of a .cnn file, as the parser builds it.
 *
 * The tree is a faithful record of what was written, with a Loc on every
 * node; it does not know what an op is, which names are defined, or what
 * any argument means (that is sema's job, frontend/sema*.c).  All nodes and
 * strings live in one Arena freed at once, so error recovery in the parser
 * never has to free a half-built subtree.
 *
 * Shapes of the tree:
 *   program  = models + train blocks
 *   model    = name + statements (input / chain / output)
 *   chain    = terms; a term is an AValue of kind AV_CALL: `relu` has
 *              parens == 0 and no args, `conv(6, kernel=5)` has args
 *   train    = entries `key = value`; a value is an atom, a call or a list
 * Lists never nest (the grammar does not allow it).
 */
#ifndef AST_H
#define AST_H

#include <stddef.h>

#include "support/diag.h"

typedef struct Arena Arena;
Arena *arena_new(void);
void   arena_free(Arena *a);
void  *arena_alloc(Arena *a, size_t n);           /* zeroed */
char  *arena_strndup(Arena *a, const char *s, size_t n);

/* A growable array of pointers, allocated in the arena. */
typedef struct {
    void **v;
    int n, cap;
} Vec;
void vec_push(Arena *a, Vec *v, void *x);

enum avkind {
    AV_INT,         /* i (and f), text as written */
    AV_FLOAT,       /* f, text as written */
    AV_BOOL,        /* b */
    AV_STRING,      /* text: the contents without quotes */
    AV_NAME,        /* text: an identifier */
    AV_LIST,        /* items: AValue * */
    AV_CALL         /* text: name; items: AArg *; parens: written with () */
};

typedef struct AValue {
    int kind;
    Loc loc;                /* the whole value; for a call, its name */
    const char *text;
    long i;
    double f;
    int b;
    int bad;                /* a number the lexer already reported */
    int parens;
    Vec items;
} AValue;

typedef struct {
    const char *key;        /* NULL for a positional argument */
    Loc keyloc;
    AValue *val;
} AArg;

enum { S_INPUT, S_CHAIN, S_OUTPUT };

typedef struct {
    int kind;
    Loc loc;                /* the keyword, or the first term */
    const char *name;       /* input name, or `name = chain`; else NULL */
    Loc nameloc;
    Vec items;              /* INPUT: sizes; CHAIN: terms; OUTPUT: names
                               (all AValue *) */
} AStmt;

typedef struct {
    const char *name;
    Loc loc;                /* the `model` keyword */
    Loc nameloc, lbrace;
    Vec stmts;              /* AStmt * */
    int closed;             /* its '}' was seen */
} AModel;

typedef struct {
    const char *key;
    Loc keyloc;
    AValue *val;
} AEntry;

typedef struct {
    Loc loc;                /* the `train` keyword */
    Loc lbrace;
    Vec entries;            /* AEntry * */
} ATrain;

typedef struct {
    Vec models;             /* AModel * */
    Vec trains;             /* ATrain * */
} AProgram;

AValue *ast_value(Arena *a, int kind, Loc loc);

/* The name of a call or bare name (`adam`, `adam(lr=1)`), else NULL. */
const char *ast_callee(const AValue *v);

#endif
