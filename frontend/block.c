/* block.c — declarations of blocks (`block NAME(params) { ... }`) and the
 * binding of a block use's arguments to its parameters.
 *
 * A block is a parameterised sub-network: tensor parameters (`x: tensor`)
 * are the tensors its body reads, numeric parameters (`f`, `k = 3`) stand
 * for argument values of the ops (and block uses) in its body.  Here: the
 * checks of the declarations (names, parameters, no `input`, no recursion,
 * all once per file), matching a use's arguments to the parameters, and
 * replacing parameter names by their values in the arguments of a call
 * inside an expansion.  Lowering the body (a scope of its own, the layer
 * path, the "in expansion of" notes) is sema.c's lower_use.
 */
#include <stdlib.h>
#include <string.h>

#include "frontend/sema.h"

int sema_block(const Sema *s, const char *name)
{
    for (int i = 0; i < s->nblocks; i++)
        if (!strcmp(s->blocks[i].def->name, name))
            return i;
    return -1;
}

static int param_index(const AModel *def, const char *name)
{
    for (int i = 0; i < def->params.n; i++)
        if (!strcmp(((const AParam *)def->params.v[i])->name, name))
            return i;
    return -1;
}

static int is_tensor_param(const AParam *p)
{
    return p->type != NULL;
}

/* The parameters of one declaration; 0 when good. */
static int check_params(Sema *s, const AModel *def, int *ntensor)
{
    int bad = 0;
    *ntensor = 0;
    for (int i = 0; i < def->params.n; i++) {
        const AParam *p = def->params.v[i];
        int prev = param_index(def, p->name);
        if (prev < i) {
            diag_error(s->d, p->loc, "parameter '%s' is declared twice", p->name);
            diag_note(s->d, ((const AParam *)def->params.v[prev])->loc, "first declared here");
            bad = 1;
        } else if (sema_user_op(p->name) >= 0) {
            diag_error(s->d, p->loc, "'%s' is an op name; a parameter may not use it", p->name);
            bad = 1;
        } else if (p->type && strcmp(p->type, "tensor")) {
            diag_error(s->d, p->typeloc, "unknown parameter type '%s'", p->type);
            diag_note(s->d, p->typeloc, "tensor parameters are 'NAME: tensor'; numeric ones "
                      "are 'NAME' or 'NAME = default', typed by the op that uses them");
            bad = 1;
        }
        *ntensor += is_tensor_param(p);
    }
    if (!*ntensor && !bad) {
        diag_error(s->d, def->nameloc, "block '%s' has no tensor parameter", def->name);
        diag_note(s->d, def->nameloc, "its input comes first: block %s(x: tensor, ...)",
                  def->name);
        bad = 1;
    }
    for (int i = 0; i < def->stmts.n; i++) {
        const AStmt *st = def->stmts.v[i];
        if (st->kind == S_INPUT) {
            diag_error(s->d, st->loc, "a block has no 'input'; its tensors are its "
                       "parameters (NAME: tensor)");
            bad = 1;
        }
    }
    return bad;
}

/* Depth-first over the block uses in b's body; `on` marks the blocks on
 * the path.  A use of a block on the path closes a cycle: reported there,
 * with the path as notes. */
static void find_cycles(Sema *s, int b, int *on, int *done, int *path, int depth)
{
    on[b] = 1;
    path[depth] = b;
    const AModel *def = s->blocks[b].def;
    for (int i = 0; i < def->stmts.n; i++) {
        const AStmt *st = def->stmts.v[i];
        if (st->kind != S_CHAIN)
            continue;
        for (int k = 0; k < st->items.n; k++) {
            const AValue *t = st->items.v[k];
            int c = sema_block(s, t->text);
            if (c < 0 || done[c])
                continue;
            if (on[c]) {
                if (c == b)
                    diag_error(s->d, t->loc, "block '%s' uses itself", t->text);
                else
                    diag_error(s->d, t->loc, "recursive use of block '%s'", t->text);
                int from = depth;
                while (from > 0 && path[from] != c)
                    from--;
                for (int j = from; j < depth; j++)
                    diag_note(s->d, s->blocks[path[j]].def->nameloc, "block '%s' uses '%s'",
                              s->blocks[path[j]].def->name, s->blocks[path[j + 1]].def->name);
                diag_note(s->d, s->blocks[c].def->nameloc, "blocks may use other blocks, "
                          "but not themselves, directly or through others");
                for (int j = from; j <= depth; j++)
                    s->blocks[path[j]].bad = 1;
                continue;
            }
            find_cycles(s, c, on, done, path, depth + 1);
        }
    }
    on[b] = 0;
    done[b] = 1;
}

void sema_blocks(Sema *s, const AProgram *p)
{
    s->blocks = xcalloc(p->blocks.n + 1, sizeof *s->blocks);
    s->bcount = xcalloc(p->blocks.n + 1, sizeof *s->bcount);
    for (int i = 0; i < p->blocks.n; i++) {
        const AModel *def = p->blocks.v[i];
        int prev = sema_block(s, def->name);
        if (prev >= 0) {
            diag_error(s->d, def->nameloc, "redefinition of block '%s'", def->name);
            diag_note(s->d, s->blocks[prev].def->nameloc, "previous definition is here");
            continue;
        }
        if (sema_user_op(def->name) >= 0) {
            diag_error(s->d, def->nameloc, "'%s' is an op name; a block may not use it",
                       def->name);
            continue;
        }
        Block *b = &s->blocks[s->nblocks++];
        b->def = def;
        b->bad = check_params(s, def, &b->ntensor);
    }
    int n = s->nblocks;
    int *on = xcalloc(3 * n + 1, sizeof *on), *done = on + n, *path = on + 2 * n;
    for (int b = 0; b < n; b++)
        if (!done[b])
            find_cycles(s, b, on, done, path, 0);
    free(on);
}

/* ---- numeric parameters inside an expansion ---- */

static const AValue *subst_value(const Sema *s, const AValue *v)
{
    const Env *e = s->env;
    if (!e || !v)
        return v;
    if (v->kind == AV_NAME) {
        int i = param_index(e->def, v->text);
        return i >= 0 && e->vals[i] ? e->vals[i] : v;
    }
    if (v->kind != AV_LIST)
        return v;
    AValue *l = arena_alloc(s->arena, sizeof *l);
    *l = *v;
    l->items = (Vec){0};
    for (int i = 0; i < v->items.n; i++)
        vec_push(s->arena, &l->items, (void *)subst_value(s, v->items.v[i]));
    return l;
}

const Vec *sema_subst(Sema *s, const Vec *args)
{
    if (!s->env)
        return args;
    Vec *out = arena_alloc(s->arena, sizeof *out);
    for (int i = 0; i < args->n; i++) {
        const AArg *a = args->v[i];
        AArg *b = arena_alloc(s->arena, sizeof *b);
        *b = *a;
        b->val = (AValue *)subst_value(s, a->val);
        vec_push(s->arena, out, b);
    }
    return out;
}

/* ---- a use's arguments ---- */

static int bind_tensor(Sema *s, const AModel *def, const AParam *p, const AValue *v,
                       int *value)
{
    if (v->kind != AV_NAME) {
        char got[64];
        args_describe(s->d, v, got, sizeof got);
        diag_error(s->d, v->loc, "parameter '%s' of block '%s' is a tensor; got %s",
                   p->name, def->name, got);
        diag_note(s->d, p->loc, "'%s' is declared here", p->name);
        return 1;
    }
    *value = sema_use_tensor(s, v->text, v->loc);
    return *value == POISON;
}

static int bind_value(Sema *s, const AModel *def, const AParam *p, const AValue *v)
{
    if (v->kind == AV_NAME && sema_is_tensor(s, v->text)) {
        diag_error(s->d, v->loc, "'%s' is a tensor; parameter '%s' of block '%s' takes "
                   "a value", v->text, p->name, def->name);
        diag_note(s->d, p->loc, "'%s' is declared here", p->name);
        return 1;
    }
    return 0;
}

/* The signature "csp(x: tensor, filters, n = 1)" for messages. */
static void signature(const AModel *def, char *buf, int len)
{
    int k = snprintf(buf, len, "%s(", def->name);
    for (int i = 0; i < def->params.n && k < len; i++) {
        const AParam *p = def->params.v[i];
        k += snprintf(buf + k, len - k, "%s%s%s%s", i ? ", " : "", p->name,
                      p->type ? ": " : p->def ? " = " : "", p->type ? p->type :
                      p->def ? p->def->text ? p->def->text : "[...]" : "");
    }
    if (k < len)
        snprintf(buf + k, len - k, ")");
}

int sema_bind(Sema *s, int block, const AValue *use, const Vec *args, int in,
              int *tensors, const AValue **vals)
{
    const AModel *def = s->blocks[block].def;
    int np = def->params.n, bad = 0, pos = 0, chain = 0;
    char sig[256];
    while (chain < np && !is_tensor_param(def->params.v[chain]))
        chain++;                    /* the first tensor: the chain's value */
    const AArg **given = xcalloc(np + 1, sizeof *given);
    for (int i = 0; i < args->n; i++) {
        const AArg *a = args->v[i];
        int k;
        if (a->key) {
            k = param_index(def, a->key);
            if (k < 0 || k == chain) {
                if (k < 0)
                    diag_error(s->d, a->keyloc, "block '%s' has no parameter '%s'",
                               def->name, a->key);
                else
                    diag_error(s->d, a->keyloc, "'%s' is the chain's value; it cannot be "
                               "given as an argument", a->key);
                signature(def, sig, sizeof sig);
                diag_note(s->d, def->nameloc, "declared as %s", sig);
                bad = 1;
                continue;
            }
        } else {
            while (pos < np && (pos == chain || given[pos]))
                pos++;
            if (pos >= np) {
                diag_error(s->d, a->val->loc, "block '%s' takes %d argument%s (its first "
                           "tensor is the chain's value), got more", def->name, np - 1,
                           np == 2 ? "" : "s");
                signature(def, sig, sizeof sig);
                diag_note(s->d, def->nameloc, "declared as %s", sig);
                bad = 1;
                break;
            }
            k = pos++;
        }
        if (given[k]) {
            diag_error(s->d, a->keyloc, "parameter '%s' of block '%s' is given twice",
                       a->key, def->name);
            bad = 1;
            continue;
        }
        given[k] = a;
    }
    for (int k = 0; k < np; k++) {
        const AParam *p = def->params.v[k];
        tensors[k] = POISON;
        vals[k] = NULL;
        if (k == chain) {
            tensors[k] = in;
            continue;
        }
        if (!given[k] && !p->def) {
            if (!bad) {
                diag_error(s->d, use->loc, "block '%s' needs a value for '%s'", def->name,
                           p->name);
                signature(def, sig, sizeof sig);
                diag_note(s->d, p->loc, "declared as %s", sig);
            }
            bad = 1;
            continue;
        }
        const AValue *v = given[k] ? given[k]->val : p->def;
        if (is_tensor_param(p))
            bad |= bind_tensor(s, def, p, v, &tensors[k]);
        else if (given[k])
            bad |= bind_value(s, def, p, v);
        vals[k] = v;
    }
    free(given);
    return bad || in == POISON;
}
