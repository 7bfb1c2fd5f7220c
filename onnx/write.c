/* write.c — the importer's second half: terms to .cnn statements, names,
 * the weights mapped onto cnnc's parameters, the two output files, and the
 * `cnnc import` command.
 *
 * A term continues the previous statement's chain when it reads the
 * previous term's value and nothing else does (nor is it a graph output);
 * add and concat start a statement.  Every statement is named after the
 * ONNX value it computes, made into a .cnn identifier (idempotent: a valid,
 * unreserved identifier is kept, so import -> export -> import gives the
 * same text).  The source is then compiled by the real front end, and the
 * k-th node's parameters are the k-th term's, in cnnc's names and order.
 */
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "frontend/frontend.h"
#include "onnx/imp.h"
#include "onnx/onnx.h"

int imp_fail(Imp *m, const Onnx__NodeProto *n, const char *near, const char *fmt, ...)
{
    OnnxImport *r = m->r;
    if (r->msg[0])
        return -1;                      /* the first error stands */
    int k = 0;
    if (n && n->name && n->name[0])
        k = snprintf(r->msg, sizeof r->msg, "node '%s' (%s): ", n->name, n->op_type);
    else if (n)
        k = snprintf(r->msg, sizeof r->msg, "node computing '%s' (%s): ",
                     n->n_output ? n->output[0] : "?", n->op_type);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->msg + k, sizeof r->msg - (size_t)k, fmt, ap);
    va_end(ap);
    if (near)
        snprintf(r->note, sizeof r->note, "nearest supported form: %s", near);
    snprintf(r->op, sizeof r->op, "%s", n ? n->op_type : "");
    return -1;
}

/* Opsets 6 to 8 are accepted too: the supported operators mean the same
 * there, and the attributes that differ (BatchNormalization's spatial,
 * Upsample's scales) are read or refused in import.c. */
#define IMP_MIN_OPSET 6

/* ---- names ---- */
static const char *const keywords[] = { "model", "input", "output", "train", "true", "false", "same" };

static int reserved(const char *s)
{
    for (size_t i = 0; i < sizeof keywords / sizeof keywords[0]; i++)
        if (strcmp(s, keywords[i]) == 0)
            return 1;
    return ir_op_lookup(s) >= 0;
}

/* An ONNX name as a .cnn identifier: leading '/' dropped, a trailing
 * "_output_0" (PyTorch's scoped names) dropped, other characters to '_',
 * a leading digit prefixed with 't', reserved words suffixed with '_'. */
static char *ident(const char *onnx)
{
    while (*onnx == '/')
        onnx++;
    size_t n = strlen(onnx);
    if (n > 9 && strcmp(onnx + n - 9, "_output_0") == 0)
        n -= 9;
    char *s = malloc(n + 3), *p = s;
    if (n == 0 || isdigit((unsigned char)onnx[0]))
        *p++ = 't';
    for (size_t i = 0; i < n; i++)
        *p++ = isalnum((unsigned char)onnx[i]) ? onnx[i] : '_';
    *p = 0;
    if (reserved(s))
        strcat(s, "_");
    return s;
}

typedef struct {
    char **v;
    int n;
} Names;

/* ident(onnx), made unique among `taken` (and added to it) */
static char *unique(Names *taken, const char *onnx)
{
    char *base = ident(onnx), *s = xstrdup(base);
    for (int k = 2;; k++) {
        int clash = 0;
        for (int i = 0; i < taken->n && !clash; i++)
            clash = strcmp(taken->v[i], s) == 0;
        if (!clash)
            break;
        free(s);
        s = xfmt("%s_%d", base, k);
    }
    free(base);
    taken->v = realloc(taken->v, sizeof *taken->v * (size_t)(taken->n + 1));
    taken->v[taken->n++] = s;
    return s;
}

/* the model's name: the graph's, unless a generic exporter default */
static char *model_name(const Imp *m)
{
    const char *g = m->gp->name ? m->gp->name : "";
    static const char *const generic[] = { "", "torch_jit", "torch-jit-export", "main_graph", "graph" };
    int use = 1;
    for (size_t i = 0; i < sizeof generic / sizeof generic[0]; i++)
        use &= strcmp(g, generic[i]) != 0;
    if (use)
        return ident(g);
    const char *base = strrchr(m->file, '/') ? strrchr(m->file, '/') + 1 : m->file;
    const char *dot = strrchr(base, '.');
    char *b = xfmt("%.*s", dot ? (int)(dot - base) : (int)strlen(base), base);
    char *s = ident(b);
    free(b);
    return s;
}

/* ---- text ---- */
typedef struct {
    char *s;
    size_t n, cap;
} Buf;

static void put(Buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void put(Buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int k = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (b->n + (size_t)k + 1 > b->cap) {
        b->cap = (b->n + (size_t)k + 1) * 2;
        b->s = realloc(b->s, b->cap);
    }
    va_start(ap, fmt);
    vsnprintf(b->s + b->n, (size_t)k + 1, fmt, ap);
    va_end(ap);
    b->n += (size_t)k;
}

/* the .cnn text of the terms: r->cnn */
static void source(Imp *m, Names *taken)
{
    const Onnx__GraphProto *gp = m->gp;
    for (int i = 0; i < m->nterms; i++)
        for (int k = 0; k < m->terms[i].nin; k++)
            m->vals[m->terms[i].in[k]].uses++;
    for (size_t i = 0; i < gp->n_output; i++) {
        int v = imp_val(m, gp->output[i]->name);
        while (m->vals[v].alias >= 0)
            v = m->vals[v].alias;
        m->vals[v].uses++;
    }
    char *name = model_name(m);
    Val *in = &m->vals[m->input];
    in->cnn = unique(taken, in->onnx);
    Buf b = { 0 };
    put(&b, "# imported from ONNX by cnnc import; the weights are in the .cnnw file beside it\n"
            "model %s {\n    input %s[", name, in->cnn);
    if (in->rank == 4) {
        put(&b, "%ld, %ld, %ld]\n", in->d[1], in->d[2], in->d[3]);
    } else if (in->rank == 3) {
        put(&b, "%ld, 1, %ld]\n", in->d[1], in->d[2]);
    } else {
        long f = 1;
        for (int i = 1; i < in->rank; i++)
            f *= in->d[i];
        put(&b, "%ld]\n", f);
    }
    free(name);
    for (int i = 0; i < m->nterms;) {
        /* one statement: terms i .. j-1 */
        int j = i + 1;
        while (j < m->nterms && !m->terms[j].multi && m->terms[j].in[0] == m->terms[j - 1].out &&
               m->vals[m->terms[j - 1].out].uses == 1)
            j++;
        Val *out = &m->vals[m->terms[j - 1].out];
        out->cnn = unique(taken, out->onnx);
        Buf line = { 0 };
        put(&line, "    %s = ", out->cnn);
        const Term *t = &m->terms[i];
        if (t->multi) {
            put(&line, "%s(", t->text);
            for (int k = 0; k < t->nin; k++)
                put(&line, "%s%s", k ? ", " : "", m->vals[t->in[k]].cnn);
            put(&line, ")");
        } else {
            put(&line, "%s -> %s", m->vals[t->in[0]].cnn, t->text);
        }
        size_t start = 0;
        for (int k = i + 1; k < j; k++) {
            if (line.n - start + strlen(m->terms[k].text) > 96) {
                put(&line, "\n       ");
                start = line.n;
            }
            put(&line, " -> %s", m->terms[k].text);
        }
        put(&b, "%s\n", line.s);
        free(line.s);
        i = j;
    }
    put(&b, "    output ");
    for (size_t i = 0; i < gp->n_output; i++) {
        int v = imp_val(m, gp->output[i]->name);
        while (m->vals[v].alias >= 0)
            v = m->vals[v].alias;
        put(&b, "%s%s", i ? ", " : "", m->vals[v].cnn);
    }
    put(&b, "\n}\n");
    m->r->cnn = b.s;
}

/* compile r->cnn and give the terms' parameters cnnc's names */
static int weights(Imp *m)
{
    OnnxImport *r = m->r;
    FILE *log = tmpfile();
    Diag d;
    long len = (long)strlen(r->cnn);
    diag_init(&d, "imported.cnn", r->cnn, len, log ? log : stderr);
    Graph *g = fe_compile(&d, "imported.cnn", r->cnn, len);
    int bad = !g || diag_errors(&d);
    if (!bad) {
        int k = 0;
        for (int i = 0; i < g->nparams; i++)
            k += 1;
        r->params = calloc((size_t)(k ? k : 1), sizeof *r->params);
        for (int i = 0; i < g->nnodes && !bad; i++) {
            const Node *nd = &g->nodes[i];
            const Term *t = &m->terms[i];
            bad = i >= m->nterms || nd->npar != t->npar;
            for (int p = 0; p < nd->npar && !bad; p++) {
                const Param *pp = &g->params[nd->par[p]];
                cnnrt_tensor *ct = &r->params[nd->par[p]];
                bad = pp->size != t->npar_size[p];
                ct->name = xstrdup(pp->name);
                ct->rank = pp->rank;
                memcpy(ct->shape, pp->shape, sizeof ct->shape);
                ct->size = pp->size;
                ct->data = malloc(sizeof(float) * (size_t)pp->size);
                memcpy(ct->data, t->par[p], sizeof(float) * (size_t)pp->size);
            }
        }
        r->nparams = g->nparams;
        if (bad)
            snprintf(r->msg, sizeof r->msg, "internal error: the parameters of the generated "
                     ".cnn do not match the ONNX initializers");
    } else {
        char text[400] = "";
        if (log) {
            rewind(log);
            size_t n = fread(text, 1, sizeof text - 1, log);
            text[n] = 0;
            char *nl = strchr(text, '\n');
            if (nl)
                *nl = 0;
        }
        snprintf(r->msg, sizeof r->msg, "cnnc cannot compile the imported graph: %s", text);
    }
    if (log)
        fclose(log);
    ir_free(g);
    return bad ? -1 : 0;
}

int imp_source(Imp *m)
{
    Names taken = { 0 };
    source(m, &taken);
    free(taken.v);              /* the names themselves belong to m->vals */
    return weights(m);
}

int onnx_import_model(const Onnx__ModelProto *mp, const char *file, OnnxImport *r)
{
    memset(r, 0, sizeof *r);
    Imp m;
    memset(&m, 0, sizeof m);
    m.file = file;
    m.gp = mp->graph;
    m.r = r;
    m.opset = -1;
    for (size_t i = 0; i < mp->n_opset_import; i++) {
        const char *dom = mp->opset_import[i]->domain;
        if (!dom || !dom[0] || strcmp(dom, "ai.onnx") == 0)
            m.opset = (long)mp->opset_import[i]->version;
    }
    int rc = -1;
    if (m.opset < IMP_MIN_OPSET)
        imp_fail(&m, NULL, "opset 9 or later (torch.onnx.export(..., opset_version=13))",
                 m.opset < 0 ? "the model imports no ONNX opset" : "opset %ld is older than 6",
                 m.opset);
    else if (imp_graph(&m) == 0)
        rc = imp_source(&m);
    for (int i = 0; i < m.nterms; i++)
        for (int k = 0; k < m.terms[i].npar; k++)
            free(m.terms[i].par[k]);
    for (int i = 0; i < m.nvals; i++)
        free(m.vals[i].cnn);
    free(m.terms);
    free(m.vals);
    free(m.done);
    if (rc)
        r->cnn = (free(r->cnn), NULL);
    return rc;
}

void onnx_import_free(OnnxImport *r)
{
    for (int i = 0; i < r->nparams; i++) {
        free((char *)r->params[i].name);
        free(r->params[i].data);
    }
    free(r->params);
    free(r->cnn);
    r->cnn = NULL;
    r->params = NULL;
    r->nparams = 0;
}

int onnx_import_write(const OnnxImport *r, const char *cnn, const char *cnnw, char *err, size_t errlen)
{
    char *tmp = xfmt("%s.tmp%ld", cnn, (long)getpid());
    FILE *f = fopen(tmp, "w");
    int bad = !f;
    if (f) {
        bad = fputs(r->cnn, f) < 0;
        bad |= fclose(f) != 0;
    }
    if (bad) {
        snprintf(err, errlen, "cannot write '%s': %s", cnn, strerror(errno));
    } else if (cnnrt_save(cnnw, r->params, r->nparams, NULL, 0, 0)) {
        snprintf(err, errlen, "cannot write '%s': %s", cnnw, strerror(errno));
        bad = 1;
    } else if (rename(tmp, cnn)) {
        snprintf(err, errlen, "cannot write '%s': %s", cnn, strerror(errno));
        remove(cnnw);
        bad = 1;
    }
    if (bad)
        remove(tmp);
    free(tmp);
    return bad ? -1 : 0;
}

static int import_usage(const char *what)
{
    fprintf(stderr, "cnnc: error: %s\nusage: cnnc import FILE.onnx [-o FILE.cnn] [--weights FILE.cnnw]\n",
            what);
    return 1;
}

int onnx_import_main(int argc, char **argv)
{
    const char *in = NULL, *out = NULL, *wout = NULL;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "-o") == 0 && i + 1 < argc)
            out = argv[++i];
        else if (strcmp(argv[i], "--weights") == 0 && i + 1 < argc)
            wout = argv[++i];
        else if (argv[i][0] == '-' && argv[i][1])
            return import_usage("unknown option, or an option without its value");
        else if (in)
            return import_usage("one input file only");
        else
            in = argv[i];
    }
    if (!in)
        return import_usage("no input file");
    const char *base = strrchr(in, '/') ? strrchr(in, '/') + 1 : in;
    const char *dot = strrchr(base, '.');
    char *cnn = out ? xstrdup(out) : xfmt("%.*s.cnn", dot ? (int)(dot - base) : (int)strlen(base), base);
    size_t n = strlen(cnn);
    char *cnnw = wout ? xstrdup(wout) : n > 4 && strcmp(cnn + n - 4, ".cnn") == 0 ?
                 xfmt("%.*sw", (int)n, cnn) : xfmt("%s.cnnw", cnn);
    char err[600];
    int rc = 1;
    Onnx__ModelProto *mp = pb_read_model(in, err, sizeof err);
    if (!mp) {
        fprintf(stderr, "cnnc: error: %s\n", err);
    } else {
        OnnxImport r;
        if (onnx_import_model(mp, in, &r)) {
            fprintf(stderr, "%s: error: %s\n", in, r.msg);
            if (r.note[0])
                fprintf(stderr, "%s: note: %s\n", in, r.note);
        } else if (onnx_import_write(&r, cnn, cnnw, err, sizeof err)) {
            fprintf(stderr, "cnnc: error: %s\n", err);
        } else {
            printf("cnnc: wrote %s and %s (%d parameter tensors)\n", cnn, cnnw, r.nparams);
            rc = 0;
        }
        onnx_import_free(&r);
        onnx__model_proto__free_unpacked(mp, NULL);
    }
    free(cnn);
    free(cnnw);
    return rc;
}
