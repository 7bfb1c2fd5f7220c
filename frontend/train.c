/* train.c — the train block (LANGUAGE.md section 5) into Graph.train.
 *
 * Each setting is checked where it is written: unknown or repeated keys,
 * unknown losses, optimizers and augmentations (with "did you mean"), their
 * arguments (through args.c, with the spec's defaults below), and values out
 * of range.  Then the block is checked against the model: cross_entropy
 * needs a model that ends in softmax, bce one that ends in sigmoid, and the
 * image augmentations need an image input.  Nothing here generates code.
 */
#include <stdlib.h>
#include <string.h>

#include "frontend/args.h"
#include "frontend/train.h"

static const struct {
    const char *name;
    int opt;
    const char *args;
} optimizers[] = {
    { "sgd",     OPT_SGD,     "lr:float momentum:float=0 weight_decay:float=0 nesterov:bool=false" },
    { "adagrad", OPT_ADAGRAD, "lr:float=0.01 eps:float=1e-10 weight_decay:float=0" },
    { "rmsprop", OPT_RMSPROP, "lr:float=0.01 rho:float=0.99 eps:float=1e-8 weight_decay:float=0" },
    { "adam",    OPT_ADAM,    "lr:float=0.001 beta1:float=0.9 beta2:float=0.999 eps:float=1e-8 weight_decay:float=0" },
};

/* f[] of an Augment takes the arguments in this order (a range: two) */
static const struct {
    const char *name;
    int kind;
    const char *args;
    int channels;           /* 0: any input; 1: an image; 3: an RGB image */
} augments[] = {
    { "flip",   AUG_FLIP,   "p:float=0.5",                         1 },
    { "crop",   AUG_CROP,   "pad:int=4",                           1 },
    { "hsv",    AUG_HSV,    "h:float=0.015 s:float=0.7 v:float=0.4", 3 },
    { "mosaic", AUG_MOSAIC, "p:float=1.0 scale:range=[0.5,1.5]",   1 },
    { "mixup",  AUG_MIXUP,  "alpha:float=0.2 p:float=1.0",         0 },
};


enum { K_LOSS, K_OPTIMIZER, K_BATCH, K_EPOCHS, K_SEED, K_AUGMENT, K_MAX_BOXES, NKEYS };
static const char *const keys[NKEYS] = {
    "loss", "optimizer", "batch", "epochs", "seed", "augment", "max_boxes"
};

#define COUNT(a) ((int)(sizeof (a) / sizeof *(a)))

/* what resolving a train block needs: the model's graph and where to report */
typedef struct {
    Graph *g;
    Diag *d;
    Loc input_loc;          /* the model's input, for notes */
} Train;

void train_defaults(TrainCfg *t)
{
    memset(t, 0, sizeof *t);
    t->loss = -1;
    t->opt = OPT_ADAM;
    t->lr = 0.001f;
    t->beta1 = 0.9f;
    t->beta2 = 0.999f;
    t->eps = 1e-8f;
    t->rho = 0.99f;
    t->batch = 32;
    t->epochs = 10;
    t->max_boxes = 50;
}

/* Index of v's callee in a table of names, or -1 after reporting.  key:
 * the setting (for a value of the wrong kind); what: the kind of name. */
static int lookup(Train *s, const AValue *v, const char *key, const char *what,
                  const char *const *names, int n, const char *expects)
{
    const char *callee = ast_callee(v);
    if (!callee) {
        char got[64];
        args_describe(s->d, v, got, sizeof got);
        diag_error(s->d, v->loc, "'%s' expects %s, got %s", key, expects, got);
        return -1;
    }
    for (int i = 0; i < n; i++)
        if (!strcmp(callee, names[i]))
            return i;
    diag_error(s->d, v->loc, "unknown %s '%s'", what, callee);
    if (diag_nearest(callee, names, n))
        diag_did_you_mean(s->d, v->loc, callee, names, n);
    else
        diag_note(s->d, v->loc, "expected %s", expects);
    return -1;
}

static const Vec *call_args(const AValue *v)
{
    static const Vec none;
    return v->kind == AV_CALL ? &v->items : &none;
}

/* The losses are the F_LOSS rows of the op table: their names, in table
 * order, and "cross_entropy, bce or mse" for messages. */
static int loss_names(const char **names, int *ops, char *list, size_t len)
{
    int n = 0;
    for (int op = 0; op < NOPS; op++)
        if (ir_ops[op].flags & F_LOSS) {
            ops[n] = op;
            names[n++] = ir_ops[op].name;
        }
    list[0] = 0;
    for (int i = 0; i < n; i++) {
        size_t used = strlen(list);
        snprintf(list + used, len - used, "%s%s", i == 0 ? "" : i == n - 1 ? " or " : ", ", names[i]);
    }
    return n;
}

/* loss = cross_entropy | bce | mse | ... (the op table's losses), with the
 * loss's arguments when it takes any (make_loss makes the node). */
static void set_loss(Train *s, TrainCfg *t, const AValue *v)
{
    const char *names[NOPS];
    int ops[NOPS];
    char list[256];
    int n = loss_names(names, ops, list, sizeof list);
    t->loss_loc = v->loc;
    int i = lookup(s, v, "loss", "loss", names, n, list);
    if (i < 0)
        return;
    ArgSpec spec[MAX_ARGS];
    ArgVal vals[MAX_ARGS];
    int nspec = args_spec(ir_ops[ops[i]].args, spec);
    if (v->kind == AV_CALL && v->parens && nspec == 0) {
        diag_error(s->d, v->loc, "a loss takes no arguments: write 'loss = %s'", v->text);
        return;
    }
    if (args_check(s->d, names[i], v->loc, spec, nspec, call_args(v), vals))
        return;
    args_attr(&t->loss_args, ops[i], spec, nspec, vals);
    t->loss = ops[i];
}

/* The loss node, after the model and the whole block (its target may
 * depend on settings such as max_boxes): it reads the model's outputs, and
 * its shape function checks the model and declares the target. */
static void make_loss(Train *s, const TrainCfg *t)
{
    Graph *g = s->g;
    if (t->loss < 0 || g->noutputs == 0)
        return;
    int node = ir_node(g, t->loss, t->loss_loc);
    g->nodes[node].layer = xstrdup("loss");
    g->nodes[node].a = t->loss_args;
    for (int i = 0; i < g->noutputs; i++)
        ir_add_in(g, node, g->outputs[i]);
    if (ir_infer_node(g, node) == 0)
        g->loss_node = node;
    else
        g->nodes[node].dead = 1;
}

/* optimizer = sgd(lr, ...) | adagrad(...) | rmsprop(...) | adam(...) */
static void set_optimizer(Train *s, TrainCfg *t, const AValue *v)
{
    const char *names[COUNT(optimizers)];
    for (int i = 0; i < COUNT(optimizers); i++)
        names[i] = optimizers[i].name;
    int o = lookup(s, v, "optimizer", "optimizer", names, COUNT(names),
                   "sgd(...), adagrad(...), rmsprop(...) or adam(...)");
    if (o < 0)
        return;
    ArgSpec spec[MAX_ARGS];
    ArgVal vals[MAX_ARGS];
    int n = args_spec(optimizers[o].args, spec);
    if (args_check(s->d, names[o], v->loc, spec, n, call_args(v), vals))
        return;
    t->opt = optimizers[o].opt;
    for (int i = 0; i < n; i++) {
        const char *k = spec[i].key;
        float f = vals[i].f[0];
        if (!strcmp(k, "lr"))
            t->lr = f;
        else if (!strcmp(k, "momentum"))
            t->momentum = f;
        else if (!strcmp(k, "weight_decay"))
            t->wd = f;
        else if (!strcmp(k, "eps"))
            t->eps = f;
        else if (!strcmp(k, "rho"))
            t->rho = f;
        else if (!strcmp(k, "beta1"))
            t->beta1 = f;
        else if (!strcmp(k, "beta2"))
            t->beta2 = f;
        else if (!strcmp(k, "nesterov")) {
            t->nesterov = vals[i].i[0];
            if (t->nesterov && t->momentum <= 0)    /* momentum comes first */
                diag_error(s->d, vals[i].loc, "nesterov needs a momentum above 0");
        }
    }
}

/* What an augmentation needs of the input: a message, or NULL. */
static const char *input_mismatch(const Graph *g, int channels, char *buf, int len)
{
    if (!channels || g->input < 0 || g->vals[g->input].shape.rank == 0)
        return NULL;
    Shape in = g->vals[g->input].shape;
    char sh[64];
    ir_shape_str(in, sh, sizeof sh);
    if (in.rank != 3)
        snprintf(buf, len, "needs an image input [C, H, W]; the input is %s", sh);
    else if (channels == 3 && in.d[0] != 3)
        snprintf(buf, len, "needs a 3-channel input; the input is %s", sh);
    else
        return NULL;
    return buf;
}

/* augment = [flip(p=0.5), ...] (or one augmentation without the list) */
static void set_augment(Train *s, TrainCfg *t, const AValue *v)
{
    const AValue *one[1] = { v };
    const AValue *const *items = v->kind == AV_LIST ? (const AValue *const *)v->items.v : one;
    int n = v->kind == AV_LIST ? v->items.n : 1;
    const char *names[COUNT(augments)];
    for (int i = 0; i < COUNT(augments); i++)
        names[i] = augments[i].name;
    free(t->aug);
    t->aug = xcalloc(n ? n : 1, sizeof *t->aug);
    t->naug = 0;
    for (int k = 0; k < n; k++) {
        const AValue *it = items[k];
        int a = lookup(s, it, "augment", "augmentation", names, COUNT(names),
                       "flip, crop, hsv, mosaic or mixup");
        if (a < 0)
            continue;
        ArgSpec spec[MAX_ARGS];
        ArgVal vals[MAX_ARGS];
        int ns = args_spec(augments[a].args, spec);
        if (args_check(s->d, names[a], it->loc, spec, ns, call_args(it), vals))
            continue;
        char buf[160];
        const Graph *g = s->g;
        if (input_mismatch(g, augments[a].channels, buf, sizeof buf)) {
            diag_error(s->d, it->loc, "'%s' %s", names[a], buf);
            diag_note(s->d, s->input_loc, "the input '%s' is declared here",
                      g->vals[g->input].name);
            continue;
        }
        Augment *au = &t->aug[t->naug++];
        au->kind = augments[a].kind;
        au->loc = it->loc;
        int j = 0;
        for (int i = 0; i < ns && j < 4; i++) {
            au->f[j++] = spec[i].type == T_INT ? vals[i].i[0] : vals[i].f[0];
            if (spec[i].type == T_RANGE && j < 4)
                au->f[j++] = vals[i].f[1];
        }
    }
}

void train_resolve(Graph *g, Diag *d, Loc input_loc, const ATrain *tb)
{
    Train ctx = { g, d, input_loc }, *s = &ctx;
    TrainCfg *t = &s->g->train;
    const AEntry *seen[NKEYS] = { 0 };
    t->present = 1;
    for (int i = 0; i < tb->entries.n; i++) {
        const AEntry *e = tb->entries.v[i];
        int k = 0;
        while (k < NKEYS && strcmp(keys[k], e->key))
            k++;
        if (k == NKEYS) {
            diag_error(s->d, e->keyloc, "unknown train setting '%s'", e->key);
            if (diag_nearest(e->key, keys, NKEYS))
                diag_did_you_mean(s->d, e->keyloc, e->key, keys, NKEYS);
            else
                diag_note(s->d, e->keyloc, "the settings are loss, optimizer, batch, "
                          "epochs, seed, augment and max_boxes");
            continue;
        }
        if (seen[k]) {
            diag_error(s->d, e->keyloc, "'%s' is set twice", e->key);
            diag_note(s->d, seen[k]->keyloc, "first set here");
            continue;
        }
        seen[k] = e;
        ArgVal v;
        memset(&v, 0, sizeof v);
        switch (k) {
        case K_LOSS:
            set_loss(s, t, e->val);
            break;
        case K_OPTIMIZER:
            set_optimizer(s, t, e->val);
            break;
        case K_AUGMENT:
            set_augment(s, t, e->val);
            break;
        default:
            if (args_value(s->d, "train", e->key, T_INT, e->val, &v))
                break;
            if (k == K_BATCH)
                t->batch = v.i[0];
            else if (k == K_EPOCHS)
                t->epochs = v.i[0];
            else if (k == K_MAX_BOXES)
                t->max_boxes = v.i[0];
            else
                t->seed = (unsigned long long)v.i[0];
        }
    }
    if (!seen[K_LOSS]) {
        diag_error(s->d, tb->loc, "the train block needs a loss");
        const char *names[NOPS];
        int ops[NOPS];
        char list[256], note[400] = "add ";
        int n = loss_names(names, ops, list, sizeof list);
        for (int i = 0; i < n; i++) {
            size_t used = strlen(note);
            snprintf(note + used, sizeof note - used, "%s'loss = %s'", i == 0 ? "" : i == n - 1 ? " or " : ", ",
                     names[i]);
        }
        diag_note(s->d, tb->loc, "%s", note);
    }
    make_loss(s, t);
}
