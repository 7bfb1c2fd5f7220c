/* emit_prof.c — what a generated model needs for its per-layer profile
 * (cnnrt_prof, cnnrt.h): one site per kernel call of _forward, _backward
 * and _update, in that order (the order emit.c numbers its marks in),
 * with the layer, op, .cnn line, phase and FLOPs per sample the report
 * shows, and <m>_profile, which attaches a profile.
 *
 * FLOPs count 2 per multiply-add of conv and dense layers (ir_node_macs):
 * the forward product; for a backward call dw's product, plus dx's unless
 * the layer reads the model's input (whose gradient nobody needs).  The
 * rest (pooling, activations, the optimizer) is counted as 0: memory-bound
 * work the report shows by time only.
 */
#include <string.h>
#include "emit_prof.h"

static const char *const phases[] = { "CNNRT_PROF_FORWARD", "CNNRT_PROF_BACKWARD", "CNNRT_PROF_UPDATE" };

static double site_flops(const Graph *g, const Node *n)
{
    if (!n->bwd)
        return 2.0 * ir_node_macs(g, (int)(n - g->nodes));
    const Node *fw = &g->nodes[n->fwd];
    double macs = (double)ir_node_macs(g, n->fwd);
    if (macs == 0)
        return 0;
    int from_input = fw->nin && g->vals[ir_root(g, fw->in[0])].kind == V_INPUT;
    return 2.0 * macs * (from_input ? 1 : 2);
}

static void site_list(const Graph *g, const CallList *list, int phase, FILE *f)
{
    static const char *const act[] = { "", "+relu", "+leaky_relu", "+sigmoid", "+tanh", "+silu" };
    for (int i = 0; i < list->n; i++) {
        const Call *c = &list->calls[i];
        if (!c->kernel)
            continue;
        if (c->node < 0) {      /* model-level: the kernel names it */
            const char *k = c->kernel;
            fprintf(f, "    { \"%s\", \"\", 0, %s, 0 },\n", k + (strncmp(k, "cnnrt_", 6) ? 0 : 6),
                    phases[phase]);
            continue;
        }
        const Node *n = &g->nodes[c->node];
        fprintf(f, "    { \"%s\", \"%s%s%s\", %d, %s, %.0f },\n",
                n->layer ? n->layer : ir_ops[n->op].name, ir_ops[n->op].name,
                n->fold_bn ? "+batchnorm" : "", act[n->act], n->loc.line, phases[phase], site_flops(g, n));
    }
}

void emit_prof_sites(const Graph *g, const Lowered *L, FILE *f)
{
    int n = 0;
    const CallList *lists[3] = { &L->forward, &L->backward, &L->update };
    int train = !g->inference && g->loss_node >= 0;
    for (int k = 0; k < (train ? 3 : 1); k++)
        for (int i = 0; i < lists[k]->n; i++)
            n += lists[k]->calls[i].kernel != NULL;
    fprintf(f, "/* The kernel calls as profile sites (cnnrt_prof): layer, op, .cnn line,\n"
               "   phase, FLOPs per sample; _profile attaches a profile. */\n"
               "static const cnnrt_prof_site prof_sites[] = {\n");
    for (int k = 0; k < (train ? 3 : 1); k++)
        site_list(g, lists[k], k, f);
    if (!n)
        fprintf(f, "    { \"\", \"\", 0, 0, 0 },\n");
    fprintf(f, "};\n#define NSITES %d\n\n", n);
}

void emit_prof_api(const Graph *g, FILE *f)
{
    fprintf(f, "int %s_profile(%s *m, struct cnnrt_prof *p)\n{\n    m->prof = p;\n"
               "    return p ? cnnrt_prof_sites(p, prof_sites, NSITES) : 0;\n}\n\n", g->name, g->name);
}

void emit_prof_header(const Graph *g, FILE *h)
{
    fprintf(h, "/* per-layer times while attached (cnnrt_prof_report); NULL detaches;\n"
               "   -1 when out of memory or built without profile hooks (--emit=obj) */\n"
               "struct cnnrt_prof;\nint %s_profile(%s *m, struct cnnrt_prof *p);\n", g->name, g->name);
}
