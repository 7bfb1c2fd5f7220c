/* sema.c — semantic analysis of the model: the syntax tree in, the forward
 * IR Graph out (fe_compile is the front end's entry point).
 *
 * Statements are lowered in source order.  Each op term becomes one Node,
 * shape-checked at once through ir_infer_node, whose value the next term
 * reads.  This file resolves tensor names (unknown, redefined, used before
 * definition, op names used as tensors and the reverse), gives every layer
 * its name, and decides the outputs; arguments are args.c's job and the
 * train block train.c's.  It reports every error it can in one run and
 * returns no Graph when there was any.  It does not run passes.
 *
 * Layer names (Node.layer, the prefix of parameter names):
 *   - outside a named chain: the op and its count so far in the model
 *     (conv1, conv2, relu1...; the count includes named layers, and skips a
 *     name a tensor already has);
 *   - in `c1 = ...`: `c1` for the one op with parameters when the chain has
 *     exactly one, otherwise `c1.<i>` where i is the op's 0-based position
 *     among the chain's op terms (like nn.Sequential).
 */
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "frontend/parse.h"
#include "frontend/sema.h"
#include "frontend/train.h"

int sema_user_op(const char *name)
{
    int op = ir_op_lookup(name);
    return op >= 0 && (ir_ops[op].flags & F_USER) ? op : -1;
}

/* ---- the table of tensor names (open addressing) ---- */

static unsigned hash(const char *s)
{
    unsigned h = 2166136261u;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 16777619u;
    return h;
}

static Name *find(Sema *s, const char *name)
{
    if (!s->nslots)
        return NULL;
    for (unsigned i = hash(name);; i++) {
        int k = s->slots[i & (s->nslots - 1)];
        if (!k)
            return NULL;
        if (!strcmp(s->names[k - 1].name, name))
            return &s->names[k - 1];
    }
}

/* put names[k] in its slot */
static void insert(Sema *s, int k)
{
    unsigned i = hash(s->names[k].name);
    while (s->slots[i & (s->nslots - 1)])
        i++;
    s->slots[i & (s->nslots - 1)] = k + 1;
}

static void add_name(Sema *s, const char *name, Loc loc, int stmt)
{
    if (s->nnames == s->capnames) {
        s->capnames = s->capnames ? 2 * s->capnames : 32;
        s->names = xrealloc(s->names, s->capnames * sizeof *s->names);
    }
    s->names[s->nnames++] = (Name){ name, loc, stmt, POISON };
    if (2 * s->nnames <= s->nslots) {
        insert(s, s->nnames - 1);
        return;
    }
    free(s->slots);                 /* grow: at most half full */
    s->nslots = s->nslots ? 2 * s->nslots : 64;
    s->slots = xcalloc(s->nslots, sizeof *s->slots);
    for (int k = 0; k < s->nnames; k++)
        insert(s, k);
}

/* The tensor defined before this statement closest to word, or NULL. */
static const char *nearest_tensor(Sema *s, const char *word)
{
    if (s->d->capped)               /* nobody will read it */
        return NULL;
    const char **names = xmalloc((s->nnames + 1) * sizeof *names);
    int n = 0;
    if (!names)
        return NULL;
    for (int i = 0; i < s->nnames; i++)
        if (s->names[i].stmt < s->stmt)
            names[n++] = s->names[i].name;
    const char *near = diag_nearest(word, names, n);
    free(names);
    return near;
}

/* Every `input x[...]` and `x = ...` names a tensor; the table is filled
 * before anything is lowered, so that a use can tell "unknown" from
 * "defined later".  The first definition wins; check_name reports the rest
 * when their statement comes up, to keep errors in source order. */
static void define_names(Sema *s)
{
    for (int i = 0; i < s->model->stmts.n; i++) {
        const AStmt *st = s->model->stmts.v[i];
        if (st->name && sema_user_op(st->name) < 0 && !find(s, st->name))
            add_name(s, st->name, st->nameloc, i);
    }
}

static void check_name(Sema *s, const AStmt *st)
{
    if (!st->name)
        return;
    Name *n = find(s, st->name);
    if (sema_user_op(st->name) >= 0) {
        diag_error(s->d, st->nameloc, "'%s' is an op name; tensors may not use it",
                   st->name);
    } else if (n && n->stmt != s->stmt) {
        diag_error(s->d, st->nameloc, "redefinition of '%s'", st->name);
        diag_note(s->d, n->loc, "previous definition of '%s' is here", st->name);
    }
}

/* The value of the tensor `name` read by the current statement. */
static int use_tensor(Sema *s, const char *name, Loc loc)
{
    Name *n = find(s, name);
    if (!n) {
        if (sema_user_op(name) >= 0) {
            diag_error(s->d, loc, "'%s' is an op, not a tensor", name);
        } else {
            const char *near = nearest_tensor(s, name);
            diag_error(s->d, loc, "unknown tensor '%s'", name);
            if (near)
                diag_note(s->d, loc, "did you mean '%s'?", near);
        }
        return POISON;
    }
    if (n->stmt >= s->stmt) {
        diag_error(s->d, loc, "'%s' is used before its definition", name);
        diag_note(s->d, n->loc, "'%s' is defined here", name);
        return POISON;
    }
    return n->value;
}

static void set_value(Sema *s, const AStmt *st, int value)
{
    Name *n = st->name ? find(s, st->name) : NULL;
    if (n && n->stmt == s->stmt)
        n->value = value;
}

/* ---- input ---- */

/* input NAME[C, H, W] | input NAME[N] */
static int lower_input(Sema *s, const AStmt *st)
{
    Shape sh = { 0, { 0, 0, 0 } };
    int n = st->items.n, ok = 1;
    char got[64];
    for (int i = 0; i < n; i++) {
        const AValue *v = st->items.v[i];
        if (v->kind != AV_INT || v->i < 1 || v->i > MAX_SIZE) {
            args_describe(s->d, v, got, sizeof got);
            diag_error(s->d, v->loc, "input sizes must be integers from 1 to %d, got %s",
                       MAX_SIZE, got);
            ok = 0;
        } else if (i < 3) {
            sh.d[i] = v->i;
        }
    }
    if (ok && n != 1 && n != 3) {
        Loc at = st->nameloc;
        if (n > 0) {
            const AValue *a = st->items.v[0], *b = st->items.v[n - 1];
            at = a->loc;
            if (b->loc.line == a->loc.line)
                at.endcol = b->loc.endcol;
        }
        diag_error(s->d, at, "input takes [C, H, W] or [N], got %d size%s", n,
                   n == 1 ? "" : "s");
        ok = 0;
    }
    if (ok && (double)sh.d[0] * (n == 3 ? (double)sh.d[1] * sh.d[2] : 1) > INT_MAX) {
        diag_error(s->d, st->nameloc, "input '%s' is too large: more than %d values "
                   "per sample", st->name, INT_MAX);
        ok = 0;
    }
    if (ok)
        sh.rank = n;
    int v = ir_value(s->g, V_INPUT, sh, st->name);
    s->g->input = v;
    s->input_loc = st->nameloc;
    set_value(s, st, v);
    return v;
}

/* The one input is declared first; lowering it before anything else lets
 * the rest be checked when it is not. */
static int lower_first_input(Sema *s)
{
    const AStmt *chain = NULL;
    for (int i = 0; i < s->model->stmts.n; i++) {
        const AStmt *st = s->model->stmts.v[i];
        if (st->kind == S_CHAIN && !chain)
            chain = st;
        if (st->kind != S_INPUT)
            continue;
        if (chain) {
            diag_error(s->d, st->loc, "the input must be declared before the layers");
            diag_note(s->d, chain->loc, "the first layer is here");
        }
        s->stmt = i;
        check_name(s, st);
        return lower_input(s, st);
    }
    diag_error(s->d, s->model->nameloc, "model '%s' has no input", s->model->name);
    diag_note(s->d, s->model->nameloc,
              "declare it first: input NAME[C, H, W] or input NAME[N]");
    return POISON;
}

/* ---- chains ---- */

static char *layer_name(Sema *s, const AStmt *st, int op, int index, int nparam)
{
    s->counter[op]++;
    if (st->name && sema_user_op(st->name) < 0) {
        if (nparam == 1 && (ir_ops[op].flags & F_PARAM))
            return xstrdup(st->name);
        return xfmt("%s.%d", st->name, index);
    }
    for (;;) {
        char *name = xfmt("%s%d", ir_ops[op].name, s->counter[op]);
        if (!find(s, name))
            return name;
        free(name);
        s->counter[op]++;
    }
}

/* The inputs of concat/add: the chain's value (unless the op starts the
 * chain) and the tensors named in its arguments.  0 when all is well. */
static int tensor_args(Sema *s, const AValue *t, int op, int chain, int *ins, int *nin)
{
    const char *name = ir_ops[op].name;
    int bad = chain == POISON, n = 0, named = 0;
    if (chain != -1)
        ins[n++] = chain;
    for (int i = 0; i < t->items.n; i++) {
        const AArg *a = t->items.v[i];
        if (a->key) {
            diag_error(s->d, a->keyloc, "'%s' takes tensor names, not '%s=...'", name, a->key);
            bad = 1;
            continue;
        }
        named++;
        if (a->val->kind != AV_NAME) {
            char got[64];
            args_describe(s->d, a->val, got, sizeof got);
            diag_error(s->d, a->val->loc, "'%s' takes tensor names, got %s", name, got);
            bad = 1;
            continue;
        }
        int v = use_tensor(s, a->val->text, a->val->loc);
        bad |= v == POISON;
        ins[n++] = v;
    }
    int total = named + (chain != -1);
    if (op == OP_add && total != 2) {
        if (chain == -1)
            diag_error(s->d, t->loc, "'add' takes 2 tensors, got %d", named);
        else
            diag_error(s->d, t->loc, "'add' in a chain takes 1 tensor name (the chain's "
                       "value is the other), got %d", named);
        bad = 1;
    } else if (op == OP_concat && total < 2) {
        if (chain == -1)
            diag_error(s->d, t->loc, "'concat' takes at least 2 tensors, got %d", named);
        else
            diag_error(s->d, t->loc, "'concat' in a chain takes at least 1 tensor name "
                       "(the chain's value is the first), got 0");
        bad = 1;
    }
    *nin = n;
    return bad;
}

/* One op term reading `in` (-1: a concat/add that starts the chain).
 * Returns its value, or POISON. */
static int lower_op(Sema *s, const AStmt *st, const AValue *t, int in, int index, int nparam)
{
    int op = sema_user_op(t->text);
    if (op < 0) {
        Name *n = find(s, t->text);
        if (n) {
            diag_error(s->d, t->loc, "'%s' is a tensor, not an op", t->text);
            diag_note(s->d, n->loc, "'%s' is defined here; a chain can start from a "
                      "tensor, but not continue with one", t->text);
        } else {
            diag_error(s->d, t->loc, "unknown op '%s'", t->text);
            diag_did_you_mean(s->d, t->loc, t->text, s->opnames, s->nopnames);
        }
        return POISON;
    }
    char *layer = layer_name(s, st, op, index, nparam);
    int *ins = xmalloc((t->items.n + 2) * sizeof *ins), nin = 0, bad;
    Attr a;
    memset(&a, 0, sizeof a);
    if (ir_ops[op].flags & F_TENSORS) {
        bad = tensor_args(s, t, op, in, ins, &nin);
        args_attr(&a, op, NULL, 0, NULL);
    } else {
        ArgSpec spec[MAX_ARGS];
        ArgVal vals[MAX_ARGS];
        int ns = args_spec(ir_ops[op].args, spec);
        bad = args_check(s->d, ir_ops[op].name, t->loc, spec, ns, &t->items, vals);
        bad |= in == POISON || in == -1;
        if (!bad)
            args_attr(&a, op, spec, ns, vals);
        ins[nin++] = in;
    }
    if (bad) {
        free(layer);
        free(ins);
        return POISON;
    }
    Graph *g = s->g;
    int node = ir_node(g, op, t->loc);
    g->nodes[node].a = a;
    g->nodes[node].layer = layer;
    for (int i = 0; i < nin; i++)
        ir_add_in(g, node, ins[i]);
    free(ins);
    ir_infer_node(g, node);
    return g->nodes[node].nout ? g->nodes[node].out[0] : POISON;
}

/* The first term of a chain when it is not an op: a tensor, or a mistake
 * (a misspelt tensor or op: whichever is closer; a bare unknown name alone
 * is taken for an op, one that a chain continues from for a tensor). */
static int start_tensor(Sema *s, const AStmt *st, const AValue *t)
{
    Name *n = find(s, t->text);
    if (n && t->parens) {
        diag_error(s->d, t->loc, "'%s' is a tensor, not an op", t->text);
        diag_note(s->d, n->loc, "'%s' is defined here", t->text);
        return POISON;
    }
    if (n)
        return use_tensor(s, t->text, t->loc);
    const char *tensor = nearest_tensor(s, t->text);
    const char *op = s->d->capped ? NULL : diag_nearest(t->text, s->opnames, s->nopnames);
    if (tensor && !t->parens) {
        diag_error(s->d, t->loc, "unknown tensor '%s'", t->text);
        diag_note(s->d, t->loc, "did you mean '%s'?", tensor);
    } else if (op || t->parens || st->items.n == 1) {
        diag_error(s->d, t->loc, "unknown op '%s'", t->text);
        if (op)
            diag_note(s->d, t->loc, "did you mean '%s'?", op);
    } else {
        diag_error(s->d, t->loc, "unknown tensor '%s'", t->text);
    }
    return POISON;
}

/* chain = [tensor "->"] op ("->" op)*; starts from `prev` when its first
 * term is an op (except concat/add, which name their inputs). */
static int lower_chain(Sema *s, const AStmt *st, int prev)
{
    const Vec *t = &st->items;
    const AValue *t0 = t->v[0];
    int k = 0, cur = prev;
    if (sema_user_op(t0->text) < 0) {
        cur = start_tensor(s, st, t0);
        k = 1;
    } else if (ir_ops[sema_user_op(t0->text)].flags & F_TENSORS) {
        cur = -1;
    }
    int nparam = 0;
    for (int i = k; i < t->n; i++) {
        int op = sema_user_op(((AValue *)t->v[i])->text);
        nparam += op >= 0 && (ir_ops[op].flags & F_PARAM);
    }
    for (int i = k; i < t->n; i++)
        cur = lower_op(s, st, t->v[i], cur, i - k, nparam);
    return cur;
}

/* ---- outputs ---- */

/* `output a, b` (the first such statement), else the last result (of
 * the statement at `lastloc`). */
static void lower_outputs(Sema *s, int last, Loc lastloc)
{
    Graph *g = s->g;
    const AStmt *out = NULL;
    s->stmt = s->model->stmts.n;
    for (int i = 0; i < s->model->stmts.n; i++) {
        const AStmt *st = s->model->stmts.v[i];
        if (st->kind != S_OUTPUT)
            continue;
        if (out) {
            diag_error(s->d, st->loc, "a second 'output' statement");
            diag_note(s->d, out->loc, "the first is here; list every output in it");
            continue;
        }
        out = st;
    }
    g->outputs = xmalloc((out ? out->items.n : 1) * sizeof *g->outputs);
    if (!out) {
        if (last == g->input && last >= 0 && g->nnodes == 0) {
            diag_error(s->d, s->model->nameloc, "model '%s' has no layers", s->model->name);
            return;
        }
        if (last == g->input && last >= 0) {
            diag_error(s->d, lastloc, "the last statement gives the input '%s', which "
                       "cannot be the output", g->vals[last].name);
            diag_note(s->d, lastloc, "name the outputs with 'output NAME, ...'");
            return;
        }
        if (last >= 0)
            g->outputs[g->noutputs++] = last;
        return;
    }
    for (int i = 0; i < out->items.n; i++) {
        const AValue *v = out->items.v[i];
        int dup = 0;
        for (int j = 0; j < i && !dup; j++)
            dup = !strcmp(((AValue *)out->items.v[j])->text, v->text);
        if (dup) {
            diag_error(s->d, v->loc, "'%s' is listed twice", v->text);
            continue;
        }
        int val = use_tensor(s, v->text, v->loc);
        if (val == g->input && val >= 0) {
            diag_error(s->d, v->loc, "output '%s' is the model's input, not a layer", v->text);
            continue;
        }
        if (val >= 0)
            g->outputs[g->noutputs++] = val;
    }
}

/* A detect is a model output and nothing reads it: decoding, the loss and
 * _detect work on the raw head.  Every detect has the same classes. */
static void check_detects(Sema *s)
{
    Graph *g = s->g;
    int first = -1;
    int *uses = xmalloc(sizeof(int) * (size_t)(g->nvals + 1));
    ir_count_uses(g, uses, NULL);
    for (int i = 0; i < g->nnodes; i++) {
        const Node *n = &g->nodes[i];
        if (n->op != OP_detect || !n->nout)
            continue;
        int out = 0;
        for (int k = 0; k < g->noutputs; k++)
            out |= g->outputs[k] == n->out[0];
        if (!out || uses[n->out[0]] > 1) {
            diag_error(s->d, n->loc, "detect must be a model output, and nothing may read it");
            diag_note(s->d, n->loc, "list it in 'output'; a chain that starts with an op "
                      "continues from the statement before it, so start the next one from a tensor "
                      "name");
            continue;
        }
        if (first < 0) {
            first = i;
        } else if (g->nodes[first].a.filters != n->a.filters) {
            diag_error(s->d, n->loc, "detect(classes=%d) differs from the first detect's classes=%d",
                       n->a.filters, g->nodes[first].a.filters);
            diag_note(s->d, g->nodes[first].loc, "the first detect is here; every level "
                      "predicts the same classes");
        }
    }
    free(uses);
}

/* ---- the model ---- */

static void lower_model(Sema *s)
{
    define_names(s);
    int first = -1;
    int prev = lower_first_input(s);
    Loc lastloc = s->model->nameloc;
    for (int i = 0; i < s->model->stmts.n; i++) {
        const AStmt *st = s->model->stmts.v[i];
        s->stmt = i;
        if (st->kind == S_INPUT) {
            if (first < 0) {
                first = i;
                continue;
            }
            const AStmt *in = s->model->stmts.v[first];
            diag_error(s->d, st->loc, "a model has one input; '%s' is a second", st->name);
            diag_note(s->d, in->nameloc, "the input '%s' is declared here", in->name);
        } else if (st->kind == S_CHAIN) {
            check_name(s, st);
            prev = lower_chain(s, st, prev);
            set_value(s, st, prev);
            lastloc = st->loc;
        }
    }
    lower_outputs(s, prev, lastloc);
    check_detects(s);
    s->g->nfwd = s->g->nnodes;
}

static Graph *lower(Diag *d, const char *file, const AProgram *p)
{
    if (p->models.n == 0) {
        Loc none = { 0, 0, 0 };
        diag_error(d, none, "no model in this file: expected 'model NAME { ... }'");
        return NULL;
    }
    const AModel *m = p->models.v[0];

    Sema s;
    memset(&s, 0, sizeof s);
    s.d = d;
    s.model = m;
    for (int op = 0; op < NOPS; op++)
        if (ir_ops[op].flags & F_USER)
            s.opnames[s.nopnames++] = ir_ops[op].name;
    s.g = ir_new(m->name, file ? file : "", d);
    train_defaults(&s.g->train);

    lower_model(&s);
    if (p->trains.n)
        train_resolve(s.g, d, s.input_loc, p->trains.v[0]);
    s.g->batch = s.g->train.batch;

    /* the extra blocks, in source order */
    int i = 1, j = 1;
    while (i < p->models.n || j < p->trains.n) {
        const AModel *other = i < p->models.n ? p->models.v[i] : NULL;
        const ATrain *t = j < p->trains.n ? p->trains.v[j] : NULL;
        if (other && (!t || other->loc.line < t->loc.line)) {
            diag_error(d, other->nameloc, "a file holds one model; '%s' is a second",
                       other->name);
            diag_note(d, m->nameloc, "the first is '%s', here", m->name);
            i++;
        } else {
            diag_error(d, t->loc, "a second train block");
            diag_note(d, ((ATrain *)p->trains.v[0])->loc, "the first is here");
            j++;
        }
    }

    free(s.names);
    free(s.slots);
    return s.g;
}

Graph *fe_compile(Diag *d, const char *file, const char *src, long len)
{
    int before = diag_errors(d);
    d->file = file;
    d->src = src;
    d->srclen = len;
    if (len > FE_MAX_SOURCE) {
        diag_fatal(d, "the source is too large (%ld bytes; the limit is %ld)", len,
                   FE_MAX_SOURCE);
        return NULL;
    }
    Arena *a = arena_new();
    AProgram *p = fe_parse(d, a, src, len);
    Graph *g = NULL;
    if (p && diag_errors(d) == before)  /* no lowering after syntax errors */
        g = lower(d, file, p);
    arena_free(a);
    if (g && diag_errors(d) != before) {
        ir_free(g);
        g = NULL;
    }
    return g;
}
