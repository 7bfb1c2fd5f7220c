/* report.c — what the IR looks like to a person: the text dump
 * (--emit=ir, --dump-after), Graphviz (--emit=dot) and the per-layer table
 * of --stats.  Read-only over the graph.
 */
#include <stdio.h>
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

void ir_dot(const Graph *g, FILE *f)
{
    char b[64];
    fprintf(f, "digraph \"%s\" {\n  rankdir=TB;\n  node [shape=box, fontname=\"monospace\"];\n", g->name);
    ir_shape_str(g->vals[g->input].shape, b, sizeof b);
    fprintf(f, "  v%d [label=\"input %s\\n%s\", shape=ellipse];\n", g->input,
            g->vals[g->input].name, b);
    for (int i = 0; i < g->nnodes; i++) {
        const Node *n = &g->nodes[i];
        if (n->dead || n->op == OP_input)
            continue;
        ir_shape_str(n->nout ? g->vals[n->out[0]].shape : g->vals[n->in[0]].shape, b, sizeof b);
        fprintf(f, "  n%d [label=\"%s%s%s%s\\n%s\"%s];\n", i, n->layer ? n->layer : "",
                n->layer ? ": " : "", ir_ops[n->op].name, n->bwd ? ".grad" : "", b,
                n->bwd ? ", style=dashed" : "");
        for (int k = 0; k < n->nin; k++) {
            int p = g->vals[n->in[k]].producer;
            if (p >= 0)
                fprintf(f, "  n%d -> n%d;\n", p, i);
            else
                fprintf(f, "  v%d -> n%d;\n", n->in[k], i);
        }
    }
    for (int i = 0; i < g->noutputs; i++) {
        int p = g->vals[g->outputs[i]].producer;
        fprintf(f, "  out%d [label=\"output %d\", shape=ellipse];\n", i, i);
        if (p >= 0)
            fprintf(f, "  n%d -> out%d;\n", p, i);
    }
    fprintf(f, "}\n");
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
    fprintf(f, "%-16s %-15s %-14s %12s %14s\n", "layer", "op", "output", "params", "mult-adds");
    ir_shape_str(g->vals[g->input].shape, sh, sizeof sh);
    fprintf(f, "%-16s %-15s %-14s %12s %14s\n", g->vals[g->input].name, "input", sh, "0", "0");
    int end = g->nfwd ? g->nfwd : g->nnodes;
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
        fprintf(f, "%-16s %-15s %-14s %12s %14s\n", n->layer ? n->layer : "", op, sh, pa, ma);
    }
    long learned = 0;
    for (int i = 0; i < g->nparams; i++)
        if (g->params[i].learned)
            learned += g->params[i].size;
    commas(tp, pa, sizeof pa);
    commas(tm, ma, sizeof ma);
    fprintf(f, "%-16s %-15s %-14s %12s %14s\n", "total", "", "", pa, ma);
    commas(learned, pa, sizeof pa);
    commas(learned * 4, ma, sizeof ma);
    fprintf(f, "trainable parameters: %s (%s bytes)\n", pa, ma);
}
