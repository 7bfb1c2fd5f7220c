/* predict.c — the trainer's `predict` command: the class of every image
 * (names from the class folders or --names, the --top K with their
 * probabilities), or a detector's detections (with --draw, drawn into
 * pictures: dettrain.c); it goes on past inputs it
 * cannot read, with a warning, and fails at the end.  Not here: training
 * and evaluation (trainer.c).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "trainer.h"
#include "dettrain.h"

/* Class names for predict: --names (one per line), else the data set's
 * folders, else none. */
typedef struct {
    char **names;           /* --names lines, or NULL */
    int n;
    char *text;             /* the file they point into */
} tr_names;

static int tr_read_names(const tr_opts *o, tr_names *nm)
{
    char err[TR_ERRLEN];
    size_t len;
    memset(nm, 0, sizeof *nm);
    if (!o->names)
        return 0;
    nm->text = (char *)cnnrt_read_plain(o->names, &len, err, sizeof err);
    if (!nm->text)
        return cnnrt_tr_error(o->mod, "%s", err);
    nm->names = calloc(len + 1, sizeof *nm->names);
    if (!nm->names)
        return cnnrt_tr_error(o->mod, "out of memory");
    for (char *p = nm->text, *end = nm->text + len; p < end;) {
        char *nl = memchr(p, '\n', (size_t)(end - p));
        char *e = nl ? nl : end;
        if (e > p && e[-1] == '\r')
            e[-1] = 0;
        *e = 0;
        if (*p)
            nm->names[nm->n++] = p;
        p = e + 1;
    }
    int classes = cnnrt_tr_boxes(o->mod) ? o->mod->classes : o->mod->out_size;
    if (nm->n < classes && classes > 1)
        return cnnrt_tr_error(o->mod, "'%s' names %d classes; the model has %d", o->names, nm->n,
                        classes);
    return 0;
}

/* " 'NAME'" when there is a name for class k */
static const char *tr_class_name(const tr_names *nm, const cnnrt_dataset *d, int k, char *buf,
                                 size_t len)
{
    const char *name = nm->names && k < nm->n ? nm->names[k] : d->classes ? d->classes[k] : NULL;
    if (name)
        snprintf(buf, len, " '%s'", name);
    else
        buf[0] = 0;
    return buf;
}

/* One line per image: "PATH[i]: class K 'NAME' (p)" (or the image's own
 * file name), the --top classes in order of probability, with the label
 * when known. */
static int tr_predict_set(tr_run *r, const tr_opts *o, const tr_names *nm, const char *arg,
                          const cnnrt_dataset *d, cnnrt_loader *l)
{
    const cnnrt_model *mod = r->mod;
    char err[TR_ERRLEN], cn[160];
    cnnrt_batch b;
    int rc, top[64], ntop = o->top < 64 ? o->top : 64;
    cnnrt_loader_start(l, 0, 0, 0);
    while ((rc = cnnrt_loader_next(l, &b, err, sizeof err)) == 1) {
        const float *out = mod->forward(r->m, b.x, b.n);
        for (int k = 0; k < b.n; k++) {
            const float *y = out + (size_t)k * mod->out_size;
            const char *name = d->name ? d->name(d, b.index[k]) : NULL;
            if (name)
                printf("%s: ", name);
            else
                printf("%s[%d]: ", arg, b.index[k]);
            if (mod->out_size == 1)
                printf("%.4f", y[0]);
            for (int t = 0; mod->out_size > 1 && t < ntop; t++) {
                /* the t-th largest: a selection over what is left */
                int c = -1;
                for (int i = 0; i < mod->out_size; i++) {
                    int used = 0;
                    for (int u = 0; u < t; u++)
                        used |= top[u] == i;
                    if (!used && (c < 0 || y[i] > y[c]))
                        c = i;
                }
                top[t] = c;
                printf("%sclass %d%s (%.4f)", t ? ", " : "", c,
                       tr_class_name(nm, d, c, cn, sizeof cn), y[c]);
            }
            if (d->tsize > 1) {
                int c = cnnrt_tr_argmax(b.target + (size_t)k * mod->out_size, mod->out_size);
                printf("  label %d%s", c, tr_class_name(nm, d, c, cn, sizeof cn));
            }
            putchar('\n');
        }
    }
    return rc < 0 ? cnnrt_tr_error(mod, "%s", err) : 0;
}

/* Every DATA is tried: one that cannot be read is a warning, and the exit
 * status 1 at the end; so is a file the loader had to skip. */
int cnnrt_tr_predict(const tr_opts *o)
{
    tr_run r;
    tr_names nm = { NULL, 0, NULL };
    int rc = cnnrt_tr_load_weights(&r, o), bad = 0;
    if (!rc)
        rc = tr_read_names(o, &nm);
    tr_det_draw draw = { o->draw, (const char *const *)nm.names, nm.n, 0 };
    if (!rc && o->draw) {
        char err[TR_ERRLEN];
        if (!cnnrt_tr_boxes(o->mod))
            rc = cnnrt_tr_error(o->mod, "--draw draws detections; this model is a classifier");
        else if (cnnrt_make_folder(o->draw, err, sizeof err) < 0)
            rc = cnnrt_tr_error(o->mod, "--draw: %s", err);
    }
    for (int a = 0; !rc && a < o->nargs; a++) {
        char err[TR_ERRLEN];
        cnnrt_dataset *d = cnnrt_data_open(o->args[a], NULL, o->mod->in_c, o->mod->in_h,
                                           o->mod->in_w, cnnrt_tr_boxes(o->mod) ? o->mod->classes
                                           : o->mod->out_size, 0, err, sizeof err);
        if (d && d->count == 0) {
            snprintf(err, sizeof err, "'%s' has no samples", o->args[a]);
            cnnrt_data_close(d);
            d = NULL;
        }
        cnnrt_loader *l = d ? cnnrt_tr_loader(&r, d, NULL, 0) : NULL;
        if (!d) {
            fflush(stdout);
            fprintf(stderr, "%s: warning: %s; going on\n", o->mod->name, err);
            bad++;
        } else if (l && cnnrt_tr_boxes(o->mod)) {
            if (cnnrt_trdet_predict(o->mod, r.m, o->args[a], d, l, 0.3f,
                                    o->draw ? &draw : NULL, err, sizeof err) < 0) {
                fflush(stdout);
                fprintf(stderr, "%s: warning: %s; going on\n", o->mod->name, err);
                bad++;
            }
        } else if (!l || tr_predict_set(&r, o, &nm, o->args[a], d, l)) {
            bad++;
        } else if (cnnrt_loader_skipped(l)) {
            fflush(stdout);
            fprintf(stderr, "%s: warning: '%s': %d unreadable file%s skipped\n", o->mod->name,
                    o->args[a], cnnrt_loader_skipped(l), cnnrt_loader_skipped(l) == 1 ? "" : "s");
            bad++;
        }
        cnnrt_loader_free(l);
        cnnrt_data_close(d);
    }
    if (!rc && bad) {
        fflush(stdout);
        fprintf(stderr, "%s: %d of %d input%s had errors\n", o->mod->name, bad, o->nargs,
                o->nargs == 1 ? "" : "s");
        rc = 1;
    }
    if (o->names) {
        free(nm.names);
        free(nm.text);
    }
    cnnrt_tr_free(&r);
    return rc;
}

