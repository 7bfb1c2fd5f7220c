/* args.c — arguments of a call: `conv(6, kernel=5)`, `adam(lr=0.001)`,
 * `flip(p=0.5)`.
 *
 * Every callee describes its arguments with a spec string, "key:type[=def]"
 * in positional order (ir/ops.def for ops; train.c for optimizers and
 * augmentations).  This file matches written arguments to a spec (positional
 * values first, then key=value), converts each to its type, checks its
 * range, and fills in defaults; it reports unknown, repeated, missing and
 * surplus arguments, wrong types and values out of range, each at the
 * argument.  It does not know what an argument does, except for the ranges
 * below and args_attr, which copies op arguments into an IR Attr where
 * ops.def's ATTR rows say.
 */
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "frontend/sema.h"

#define BIG MAX_SIZE

/* Valid values of (what, key); what NULL: any callee with that key.  The
 * first matching row applies.  lo/hi are inclusive unless *_open. */
static const struct {
    const char *what, *key;
    double lo, hi;
    int lo_open, hi_open;
} ranges[] = {
    { NULL,         "filters",      1, BIG, 0, 0 },
    { NULL,         "units",        1, BIG, 0, 0 },
    { NULL,         "kernel",       1, BIG, 0, 0 },
    { NULL,         "size",         1, BIG, 0, 0 },
    { NULL,         "stride",       1, BIG, 0, 0 },
    { NULL,         "groups",       1, BIG, 0, 0 },
    { NULL,         "dilation",     1, BIG, 0, 0 },
    { NULL,         "factor",       1, BIG, 0, 0 },
    { NULL,         "pad",          0, BIG, 0, 0 },
    { "dropout",    "p",            0, 1,   0, 1 },
    { "conv",       "prior",        0, 1,   1, 1 },
    { "detect",     "classes",      1, BIG, 0, 0 },
    { "batchnorm",  "momentum",     0, 1,   0, 0 },
    { "sgd",        "momentum",     0, 1,   0, 1 },
    { "mixup",      "alpha",        0, HUGE_VAL, 1, 0 },
    { "mosaic",     "scale",        0, HUGE_VAL, 1, 0 },
    { NULL,         "p",            0, 1,   0, 0 },
    { NULL,         "eps",          0, HUGE_VAL, 1, 0 },
    { NULL,         "lr",           0, HUGE_VAL, 1, 0 },
    { NULL,         "weight_decay", 0, HUGE_VAL, 0, 0 },
    { NULL,         "rho",          0, 1,   0, 1 },
    { NULL,         "beta1",        0, 1,   0, 1 },
    { NULL,         "beta2",        0, 1,   0, 1 },
    { "hsv",        "h",            0, 1,   0, 0 },
    { "hsv",        "s",            0, 1,   0, 0 },
    { "hsv",        "v",            0, 1,   0, 0 },
    { "train",      "batch",        1, BIG, 0, 0 },
    { "train",      "epochs",       1, BIG, 0, 0 },
    { "train",      "max_boxes",    1, 100000, 0, 0 },
    { "train",      "seed",         0, HUGE_VAL, 0, 0 },
};

static const char *const type_names[] = {
    [T_INT] = "int", [T_FLOAT] = "float", [T_BOOL] = "bool", [T_PAIR] = "pair",
    [T_PAD] = "pad", [T_INIT] = "init", [T_RANGE] = "range",
};

static const char *const inits[] = { "default", "he", "xavier", "zeros" };

int args_spec(const char *spec, ArgSpec *out)
{
    int n = 0;
    for (const char *p = spec; *p && n < MAX_ARGS;) {
        if (*p == ' ') {
            p++;
            continue;
        }
        ArgSpec *a = &out[n++];
        memset(a, 0, sizeof *a);
        int k = 0;
        for (; *p && *p != ':' && *p != ' '; p++)
            if (k < (int)sizeof a->key - 1)
                a->key[k++] = *p;
        a->type = T_FLOAT;
        if (*p == ':') {
            const char *t = ++p;
            while (*p && *p != '=' && *p != ' ')
                p++;
            for (int i = 0; i < (int)(sizeof type_names / sizeof *type_names); i++)
                if ((int)strlen(type_names[i]) == p - t && !strncmp(t, type_names[i], p - t))
                    a->type = i;
        }
        if (*p == '=') {
            a->def = ++p;
            while (*p && *p != ' ')
                p++;
            a->deflen = p - a->def;
        }
    }
    return n;
}

/* ---- describing values in messages ---- */

/* The text of `loc` in the source, when it is on one line and short. */
static int source_text(const Diag *d, Loc loc, char *buf, int len)
{
    if (!d->src || d->capped || loc.line < 1 || loc.endcol < loc.col || loc.endcol - loc.col >= 40)
        return 0;
    const char *p = d->src, *end = d->src + d->srclen;
    for (int l = 1; l < loc.line; l++) {
        p = memchr(p, '\n', end - p);
        if (!p)
            return 0;
        p++;
    }
    if (loc.endcol > end - p)
        return 0;
    snprintf(buf, len, "%.*s", loc.endcol - loc.col + 1, p + loc.col - 1);
    return !memchr(buf, '\n', strlen(buf));
}

void args_describe(const Diag *d, const AValue *v, char *buf, int len)
{
    switch (v->kind) {
    case AV_INT:
    case AV_FLOAT:
        snprintf(buf, len, "%s", v->text);
        break;
    case AV_BOOL:
        snprintf(buf, len, "%s", v->b ? "true" : "false");
        break;
    case AV_STRING:
        snprintf(buf, len, "a string");
        break;
    case AV_NAME:
        snprintf(buf, len, "'%s'", v->text);
        break;
    case AV_CALL:
        snprintf(buf, len, "'%s%s'", v->text, v->parens ? "(...)" : "");
        break;
    case AV_LIST:
        if (!source_text(d, v->loc, buf, len))
            snprintf(buf, len, "a list of %d values", v->items.n);
        break;
    }
}

/* ---- one value ---- */

static int is_number(const AValue *v)
{
    return v->kind == AV_INT || v->kind == AV_FLOAT;
}

static void fmt_num(char *buf, int len, double x)
{
    if (isinf(x))
        snprintf(buf, len, "infinity");
    else
        snprintf(buf, len, "%.10g", x);
}

/* Checks x against the ranges of (what, key). */
static int in_range(Diag *d, const char *what, const char *key, double x,
                    const AValue *v)
{
    for (size_t i = 0; i < sizeof ranges / sizeof *ranges; i++) {
        if (strcmp(ranges[i].key, key) || (ranges[i].what && strcmp(ranges[i].what, what)))
            continue;
        double lo = ranges[i].lo, hi = ranges[i].hi;
        int lo_ok = ranges[i].lo_open ? x > lo : x >= lo;
        int hi_ok = ranges[i].hi_open ? x < hi : x <= hi;
        if (lo_ok && hi_ok)
            return 1;
        char got[64], a[32], b[32];
        args_describe(d, v, got, sizeof got);
        fmt_num(a, sizeof a, lo);
        fmt_num(b, sizeof b, hi);
        if (!isinf(hi) && !lo_ok && hi >= BIG)
            diag_error(d, v->loc, "'%s' must be at least %s, got %s", key, a, got);
        else if (hi >= BIG && !isinf(hi))
            diag_error(d, v->loc, "'%s' must be at most %s, got %s", key, b, got);
        else if (!isinf(hi))
            diag_error(d, v->loc, "'%s' must be in %c%s, %s%c, got %s", key,
                       ranges[i].lo_open ? '(' : '[', a, b, ranges[i].hi_open ? ')' : ']', got);
        else if (ranges[i].lo_open && lo == 0)
            diag_error(d, v->loc, "'%s' must be positive, got %s", key, got);
        else
            diag_error(d, v->loc, "'%s' must be at least %s, got %s", key, a, got);
        return 0;
    }
    return 1;
}

static int type_error(Diag *d, const char *key, const char *expects, const AValue *v)
{
    char got[64];
    args_describe(d, v, got, sizeof got);
    diag_error(d, v->loc, "'%s' expects %s, got %s", key, expects, got);
    return 1;
}

int args_value(Diag *d, const char *what, const char *key, int type,
               const AValue *v, ArgVal *out)
{
    if (v->bad)
        return 1;                   /* reported by the scanner */
    const AValue *h = v, *w = v;    /* the two halves of a pair */
    switch (type) {
    case T_INT:
        if (v->kind != AV_INT)
            return type_error(d, key, "an integer", v);
        out->i[0] = out->i[1] = v->i;
        return !in_range(d, what, key, v->i, v);
    case T_FLOAT:
        if (!is_number(v))
            return type_error(d, key, "a number", v);
        out->f[0] = out->f[1] = v->f;
        return !in_range(d, what, key, v->f, v);
    case T_BOOL:
        if (v->kind != AV_BOOL)
            return type_error(d, key, "true or false", v);
        out->i[0] = v->b;
        return 0;
    case T_INIT:
        for (int i = 0; v->kind == AV_NAME && i < 4; i++)
            if (!strcmp(v->text, inits[i])) {
                out->i[0] = i;
                return 0;
            }
        if (v->kind == AV_NAME) {
            diag_error(d, v->loc, "unknown init '%s'", v->text);
            diag_did_you_mean(d, v->loc, v->text, inits, 4);
            return 1;
        }
        return type_error(d, key, "default, he, xavier or zeros", v);
    case T_RANGE:
        if (v->kind != AV_LIST || v->items.n != 2 || !is_number(v->items.v[0]) ||
            !is_number(v->items.v[1]))
            return type_error(d, key, "[low, high]", v);
        out->f[0] = ((AValue *)v->items.v[0])->f;
        out->f[1] = ((AValue *)v->items.v[1])->f;
        if (out->f[0] > out->f[1]) {
            char got[64];
            args_describe(d, v, got, sizeof got);
            diag_error(d, v->loc, "'%s' must be [low, high] with low <= high, got %s",
                       key, got);
            return 1;
        }
        return !in_range(d, what, key, out->f[0], v);
    case T_PAD:
        if (v->kind == AV_NAME && !strcmp(v->text, "same")) {
            out->same = 1;
            return 0;
        }
        /* fall through */
    case T_PAIR:
        if (v->kind == AV_LIST && v->items.n == 2) {
            h = v->items.v[0];
            w = v->items.v[1];
        }
        if (h->kind != AV_INT || w->kind != AV_INT || (v->kind == AV_LIST && v->items.n != 2)) {
            static const char *const same[] = { "same" };
            type_error(d, key, type == T_PAD ? "an integer, [h, w] or same"
                                             : "an integer or [h, w]", v);
            if (type == T_PAD && v->kind == AV_NAME)
                diag_did_you_mean(d, v->loc, v->text, same, 1);
            return 1;
        }
        out->i[0] = h->i;
        out->i[1] = w->i;
        return !in_range(d, what, key, h->i, v) || !in_range(d, what, key, w->i, v);
    }
    return 1;
}

/* ---- a whole call ---- */

/* "conv(filters, kernel=3, ...)" */
static void usage(Diag *d, Loc at, const char *what, const ArgSpec *spec, int nspec)
{
    char buf[400];
    int len = snprintf(buf, sizeof buf, "%s(", what);
    for (int i = 0; i < nspec && len < (int)sizeof buf; i++)
        len += snprintf(buf + len, sizeof buf - len, "%s%s%s%.*s", i ? ", " : "",
                        spec[i].key, spec[i].def ? "=" : "",
                        spec[i].def ? spec[i].deflen : 0, spec[i].def ? spec[i].def : "");
    diag_note(d, at, "usage: %s)", buf);
}

static void set_default(const ArgSpec *a, ArgVal *v, Loc at)
{
    char def[64];
    snprintf(def, sizeof def, "%.*s", a->deflen, a->def);
    v->loc = at;
    switch (a->type) {
    case T_BOOL:
        v->i[0] = !strcmp(def, "true");
        break;
    case T_INIT:
        for (int i = 0; i < 4; i++)
            if (!strcmp(def, inits[i]))
                v->i[0] = i;
        break;
    case T_RANGE:
        sscanf(def, "[%lf,%lf]", &v->f[0], &v->f[1]);
        break;
    case T_PAD:
        if (!strcmp(def, "same")) {
            v->same = 1;
            break;
        }
        /* fall through */
    default:
        v->i[0] = v->i[1] = atoi(def);
        v->f[0] = v->f[1] = strtod(def, NULL);
        break;
    }
}

static int find_key(const ArgSpec *spec, int nspec, const char *key)
{
    for (int i = 0; i < nspec; i++)
        if (!strcmp(spec[i].key, key))
            return i;
    return -1;
}

int args_check(Diag *d, const char *what, Loc at, const ArgSpec *spec, int nspec,
               const Vec *args, ArgVal *vals)
{
    int bad = 0, pos = 0, keyed = 0, npos = 0;
    memset(vals, 0, nspec * sizeof *vals);
    for (int i = 0; i < args->n; i++)
        npos += ((AArg *)args->v[i])->key == NULL;

    for (int i = 0; i < args->n; i++) {
        const AArg *a = args->v[i];
        int slot;
        if (!a->key) {
            if (keyed) {
                diag_error(d, a->val->loc,
                           "positional argument after a key=value argument");
                bad = 1;
                continue;
            }
            if (pos >= nspec) {
                if (nspec == 0)
                    diag_error(d, a->val->loc, "'%s' takes no arguments", what);
                else {
                    diag_error(d, a->val->loc, "'%s' takes at most %d argument%s, got %d",
                               what, nspec, nspec == 1 ? "" : "s", npos);
                    usage(d, at, what, spec, nspec);
                }
                bad = 1;
                pos = -MAX_ARGS - args->n;      /* report it once */
                continue;
            }
            if (pos < 0)
                continue;
            slot = pos++;
        } else {
            keyed = 1;
            slot = find_key(spec, nspec, a->key);
            if (slot < 0) {
                if (nspec == 0) {
                    diag_error(d, a->keyloc, "'%s' takes no arguments", what);
                } else {
                    diag_error(d, a->keyloc, "'%s' has no argument '%s'", what, a->key);
                    const char *keys[MAX_ARGS];
                    for (int k = 0; k < nspec; k++)
                        keys[k] = spec[k].key;
                    if (diag_nearest(a->key, keys, nspec))
                        diag_did_you_mean(d, a->keyloc, a->key, keys, nspec);
                    else
                        usage(d, at, what, spec, nspec);
                }
                bad = 1;
                continue;
            }
            if (vals[slot].given) {
                diag_error(d, a->keyloc, "argument '%s' is given twice", a->key);
                diag_note(d, vals[slot].loc, "'%s' is first given here", a->key);
                bad = 1;
                continue;
            }
        }
        vals[slot].given = 1;
        vals[slot].loc = a->val->loc;
        if (args_value(d, what, spec[slot].key, spec[slot].type, a->val, &vals[slot]))
            bad = 1;
    }

    for (int i = 0; i < nspec; i++) {
        if (vals[i].given || (spec[i].def && spec[i].def[0] == '@'))
            continue;
        if (spec[i].def) {
            set_default(&spec[i], &vals[i], at);
        } else if (!bad) {
            diag_error(d, at, "'%s' needs the argument '%s'", what, spec[i].key);
            usage(d, at, what, spec, nspec);
            bad = 1;
        }
    }
    /* "=@size": the value of another argument */
    for (int i = 0; i < nspec; i++) {
        if (vals[i].given || !spec[i].def || spec[i].def[0] != '@')
            continue;
        char key[sizeof spec[i].key];
        snprintf(key, sizeof key, "%.*s", spec[i].deflen - 1, spec[i].def + 1);
        int from = find_key(spec, nspec, key);
        if (from >= 0) {
            vals[i] = vals[from];
            vals[i].given = 0;
        }
    }
    return bad;
}

/* ---- op arguments into the IR ---- */

/* where each op argument lands in Attr: ops.def's ATTR rows */
static const struct {
    int op;
    const char *key;
    size_t off;
} attr_fields[] = {
#define OP(name, nin, flags, args)
#define ATTR(op, key, field) { OP_##op, #key, offsetof(Attr, field) },
#include "ir/ops.def"
#undef ATTR
#undef OP
};

static size_t attr_find(int op, const char *key)
{
    size_t k = 0, n = sizeof attr_fields / sizeof *attr_fields;
    while (k < n && (attr_fields[k].op != op || strcmp(attr_fields[k].key, key)))
        k++;
    return k;
}

int args_attr_has(int op, const char *key)
{
    return attr_find(op, key) < sizeof attr_fields / sizeof *attr_fields;
}

void args_attr(Attr *a, int op, const ArgSpec *spec, int nspec, const ArgVal *vals)
{
    a->s[0] = a->s[1] = a->d[0] = a->d[1] = a->groups = 1;
    for (int i = 0; i < nspec; i++) {
        const ArgVal *v = &vals[i];
        size_t k = attr_find(op, spec[i].key);
        if (!args_attr_has(op, spec[i].key))
            continue;       /* no field: test_parser checks there is none */
        char *field = (char *)a + attr_fields[k].off;
        switch (spec[i].type) {
        case T_FLOAT:
            *(float *)field = (float)v->f[0];
            break;
        case T_PAIR:
            memcpy(field, v->i, 2 * sizeof(int));
            break;
        case T_PAD:         /* shape.c works out pad=same */
            a->same = v->same;
            if (!v->same)
                memcpy(field, v->i, 2 * sizeof(int));
            break;
        default:            /* int, bool, init */
            *(int *)field = v->i[0];
            break;
        }
    }
}
