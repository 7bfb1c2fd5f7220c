/* report.c — what the IR looks like to a person: the text dump
 * (--emit=ir, --dump-after), Graphviz (--emit=dot) and the per-layer table
 * of --stats.  Read-only over the graph.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "ir.h"

long ir_node_params(const Graph *g, int node)
{
    const Node *n = &g->nodes[node];
    long s = 0;
    for (int i = 0; i < n->npar; i++)
        s += g->params[n->par[i]].size;
    return s;
}

/* multiply-adds per sample (conv and dense; the rest is O(size)) */
long ir_node_macs(const Graph *g, int node)
{
    const Node *n = &g->nodes[node];
    if (n->bwd || n->nout == 0 || n->npar == 0)
        return 0;
    long outsz = g->vals[n->out[0]].size;
    const Param *w = &g->params[n->par[0]];
    if (n->op == OP_conv)
        return outsz * w->shape[1] * w->shape[2] * w->shape[3];
    if (n->op == OP_dense)
        return outsz * w->shape[1];
    return 0;
}

static void print_val(const Graph *g, int v, FILE *f)
{
    char b[64];
    ir_shape_str(g->vals[v].shape, b, sizeof b);
    const Value *x = &g->vals[v];
    if (x->kind == V_SCRATCH || x->kind == V_SAVED)
        fprintf(f, "%%%d:%ld", v, x->size);
    else
        fprintf(f, "%%%d:%s", v, b);
}

static const char *act_names[] = { "", "relu", "leaky_relu", "sigmoid", "tanh", "silu" };

static void print_attrs(const Node *n, FILE *f)
{
    const Attr *a = &n->a;
    switch (n->op) {
    case OP_conv:
        fprintf(f, " filters=%d kernel=%dx%d stride=%dx%d pad=%dx%d", a->filters,
                a->k[0], a->k[1], a->s[0], a->s[1], a->p[0], a->p[1]);
        if (a->d[0] != 1 || a->d[1] != 1)
            fprintf(f, " dilation=%dx%d", a->d[0], a->d[1]);
        if (a->groups != 1)
            fprintf(f, " groups=%d", a->groups);
        break;
    case OP_dense:
        fprintf(f, " units=%d", a->filters);
        break;
    case OP_maxpool: case OP_avgpool:
        fprintf(f, " size=%dx%d stride=%dx%d pad=%dx%d", a->k[0], a->k[1],
                a->s[0], a->s[1], a->p[0], a->p[1]);
        break;
    case OP_leaky_relu:
        fprintf(f, " alpha=%g", a->alpha);
        break;
    case OP_batchnorm:
        fprintf(f, " momentum=%g eps=%g", a->momentum, a->eps);
        break;
    case OP_dropout:
        fprintf(f, " p=%g", a->drop);
        break;
    case OP_upsample:
        fprintf(f, " factor=%d", a->factor);
        break;
    default:
        break;
    }
    if (n->act)
        fprintf(f, " +%s", act_names[n->act]);
}

void ir_dump(const Graph *g, FILE *f)
{
    char b[64];
    fprintf(f, "model %s  # %s, batch %d%s\n", g->name, g->file, g->batch,
            g->inference ? ", inference" : "");
    ir_shape_str(g->vals[g->input].shape, b, sizeof b);
    fprintf(f, "input %%%d:%s %s\n", g->input, b, g->vals[g->input].name);
    for (int i = 0; i < g->nparams; i++) {
        const Param *p = &g->params[i];
        fprintf(f, "param %s [", p->name);
        for (int k = 0; k < p->rank; k++)
            fprintf(f, "%s%d", k ? "," : "", p->shape[k]);
        fprintf(f, "]%s\n", p->learned ? "" : " (state)");
    }
    for (int i = 0; i < g->nnodes; i++) {
        const Node *n = &g->nodes[i];
        if (n->dead)
            continue;
        if (g->nfwd && i == g->nfwd)
            fprintf(f, "# backward\n");
        fprintf(f, "  ");
        for (int k = 0; k < n->nout; k++) {
            fprintf(f, "%s", k ? ", " : "");
            print_val(g, n->out[k], f);
        }
        fprintf(f, "%s%s%s(", n->nout ? " = " : "", ir_ops[n->op].name, n->bwd ? ".grad" : "");
        for (int k = 0; k < n->nin; k++) {
            fprintf(f, "%s%%%d", k ? ", " : "", n->in[k]);
        }
        fprintf(f, ")");
        print_attrs(n, f);
        if (n->npar) {
            fprintf(f, " [");
            for (int k = 0; k < n->npar; k++)
                fprintf(f, "%s%s", k ? " " : "", g->params[n->par[k]].name);
            fprintf(f, "]");
        }
        int v0 = n->nout ? n->out[0] : -1;
        if (v0 >= 0 && g->vals[v0].alias >= 0)
            fprintf(f, " view of %%%d", g->vals[v0].alias);
        fprintf(f, "  # %s", n->layer ? n->layer : "");
        if (n->loc.line)
            fprintf(f, " line %d", n->loc.line);
        fprintf(f, "\n");
    }
    fprintf(f, "output");
    for (int i = 0; i < g->noutputs; i++)
        fprintf(f, "%s %%%d", i ? "," : "", g->outputs[i]);
    fprintf(f, "\n");
}

/* Graphviz: every node labelled (layer, op, a fused activation or folded
 * batchnorm, output shape); values without a producer (input, targets)
 * drawn once as ellipses; one edge per producer and consumer, however many
 * values pass between them; backward nodes dashed and named "d.LAYER",
 * the gradient values they pass named on their edges. */
static const char *const dot_acts[] = { "", "relu", "leaky_relu", "sigmoid", "tanh", "silu" };

static void dot_value(const Graph *g, int v, char *declared, FILE *f)
{
    char b[64];
    if (declared[v])
        return;
    declared[v] = 1;
    ir_shape_str(g->vals[v].shape, b, sizeof b);
    const char *kind = v == g->input ? "input" : g->vals[v].kind == V_TARGET ? "target" : "value";
    const char *name = g->vals[v].name ? g->vals[v].name : "";
    fprintf(f, "  v%d [label=\"%s%s%s\\n%s\", shape=ellipse];\n", v, kind,
            strcmp(name, kind) ? " " : "", strcmp(name, kind) ? name : "", b);
}

void ir_dot(const Graph *g, FILE *f)
{
    char b[64], *declared = xcalloc((size_t)g->nvals + 1, 1);
    int *from = xcalloc((size_t)g->nvals + 1, sizeof *from);
    fprintf(f, "digraph \"%s\" {\n  rankdir=TB;\n  node [shape=box, fontname=\"monospace\"];\n", g->name);
    dot_value(g, g->input, declared, f);
    for (int i = 0; i < g->nnodes; i++) {
        const Node *n = &g->nodes[i];
        if (n->dead || n->op == OP_input)
            continue;
        ir_shape_str(n->nout ? g->vals[n->out[0]].shape : g->vals[n->in[0]].shape, b, sizeof b);
        const char *layer = n->layer ? n->layer : n->bwd && g->nodes[n->fwd].layer
                            ? g->nodes[n->fwd].layer : "";
        int dpre = n->bwd && strncmp(layer, "d.", 2) != 0;
        fprintf(f, "  n%d [label=\"%s%s%s%s%s%s%s%s\\n%s\"%s];\n", i, dpre ? "d." : "", layer,
                *layer ? ": " : "", ir_ops[n->op].name, n->bwd ? ".grad" : "",
                n->act > 0 && n->act < 6 ? " + " : "", n->act > 0 && n->act < 6 ? dot_acts[n->act] : "",
                n->fold_bn ? " + batchnorm (folded)" : "", b, n->bwd ? ", style=dashed" : "");
        /* one edge per source; gradient values named on theirs */
        int nfrom = 0;
        for (int k = 0; k < n->nin; k++) {
            int v = n->in[k], p = g->vals[v].producer, seen = 0;
            int src = p >= 0 ? p : -1 - v;
            for (int j = 0; j < nfrom; j++)
                seen |= from[j] == src;
            if (seen)
                continue;
            from[nfrom++] = src;
            const char *name = g->vals[v].name;
            int grad = name && strncmp(name, "d.", 2) == 0;
            if (p < 0)
                dot_value(g, v, declared, f);
            fprintf(f, "  %s%d -> n%d", p >= 0 ? "n" : "v", p >= 0 ? p : v, i);
            if (grad)
                fprintf(f, " [label=\"%s\", style=dashed]", name);
            fprintf(f, ";\n");
        }
    }
    for (int i = 0; i < g->noutputs; i++) {
        int p = g->vals[g->outputs[i]].producer;
        fprintf(f, "  out%d [label=\"output %d: %s\", shape=ellipse];\n", i, i,
                g->vals[g->outputs[i]].name);
        if (p >= 0)
            fprintf(f, "  n%d -> out%d;\n", p, i);
    }
    fprintf(f, "}\n");
    free(declared);
    free(from);
}

/* 61706 -> "61,706" */
static void commas(long v, char *buf, int len)
{
    char tmp[32];
    snprintf(tmp, sizeof tmp, "%ld", v < 0 ? -v : v);
    int n = (int)strlen(tmp), o = 0;
    if (v < 0 && o < len - 1)
        buf[o++] = '-';
    for (int i = 0; i < n && o < len - 1; i++) {
        if (i && (n - i) % 3 == 0 && o < len - 1)
            buf[o++] = ',';
        buf[o++] = tmp[i];
    }
    buf[o] = 0;
}

void ir_stats(const Graph *g, FILE *f)
{
    char sh[64], pa[32], ma[32];
    long tp = 0, tm = 0;
    int w = 16;                 /* the layer column: wider for block paths */
    int end = g->nfwd ? g->nfwd : g->nnodes;
    for (int i = 0; i < end; i++)
        if (g->nodes[i].layer && (int)strlen(g->nodes[i].layer) > w)
            w = (int)strlen(g->nodes[i].layer);
    fprintf(f, "%-*s %-15s %-14s %12s %14s\n", w, "layer", "op", "output", "params", "mult-adds");
    ir_shape_str(g->vals[g->input].shape, sh, sizeof sh);
    fprintf(f, "%-*s %-15s %-14s %12s %14s\n", w, g->vals[g->input].name, "input", sh, "0", "0");
    for (int i = 0; i < end; i++) {
        const Node *n = &g->nodes[i];
        if (n->dead || n->bwd || n->op == OP_input)
            continue;
        long p = ir_node_params(g, i), m = ir_node_macs(g, i);
        tp += p;
        tm += m;
        char op[48];
        snprintf(op, sizeof op, "%s%s%s", ir_ops[n->op].name, n->act ? "+" : "",
                 n->act ? act_names[n->act] : "");
        ir_shape_str(g->vals[n->out[0]].shape, sh, sizeof sh);
        commas(p, pa, sizeof pa);
        commas(m, ma, sizeof ma);
        fprintf(f, "%-*s %-15s %-14s %12s %14s\n", w, n->layer ? n->layer : "", op, sh, pa, ma);
    }
    long learned = 0;
    for (int i = 0; i < g->nparams; i++)
        if (g->params[i].learned)
            learned += g->params[i].size;
    commas(tp, pa, sizeof pa);
    commas(tm, ma, sizeof ma);
    fprintf(f, "%-*s %-15s %-14s %12s %14s\n", w, "total", "", "", pa, ma);
    commas(learned, pa, sizeof pa);
    commas(learned * 4, ma, sizeof ma);
    fprintf(f, "trainable parameters: %s (%s bytes)\n", pa, ma);
}
