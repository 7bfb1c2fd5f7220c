/* trainer.c — cnnrt_main: the train, eval and predict commands a model
 * built with `cnnc --main` runs (GENERATED_API.md, "The trainer").
 *
 * The model comes in as a cnnrt_model of function pointers, so this file
 * knows nothing about layers: it parses the command line, opens data sets,
 * runs epochs of shuffled mini-batches through forward/backward/update,
 * measures loss and accuracy, writes checkpoints and reports.
 *
 * Reproducibility invariant: everything an epoch does is a function of the
 * parameters and optimizer state at its start, the seed and the epoch
 * number.  The shuffle RNG is seeded afresh from (seed, epoch) at every
 * epoch and never carried over; validation only runs forward passes with
 * training off.  A checkpoint therefore holds all a resumed run needs —
 * parameters, optimizer state, step count and the "trainer.state" tensor
 * (format, epochs done, seed) — and resuming gives bit-identical results.
 * (A model whose forward pass draws random numbers, i.e. dropout, must keep
 * its generator in its state tensors for this to hold.)
 *
 * Not here: augmentation (CNNRT_AUG_* are accepted but not applied yet),
 * image folders and YOLO lists (cnnrt_data_open will learn them), threads.
 */
#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L
#endif
#include "cnnrt.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* trainer.state: [format, epochs done, seed in four 16-bit pieces]; every
 * entry an integer below 2^24, so exact as a float */
#define TR_FORMAT   1
#define TR_NSTATE   6
#define TR_ERRLEN   1024
#define TR_LOG_MIN  (-100.0)    /* log clamp for eval losses, as torch's BCELoss */

enum { CMD_TRAIN = 1, CMD_EVAL = 2, CMD_PREDICT = 4 };

typedef struct {
    const cnnrt_model *mod;
    int cmd;
    const char *train, *val, *save, *resume, *labels, *val_labels, *weights;
    const char *epochs_arg, *seed_arg;
    int epochs;
    uint64_t seed;
    char **args;            /* positional arguments */
    int nargs;
} tr_opts;

/* the options, which commands take them, and where their value goes */
typedef struct {
    const char *name;
    int cmds;
    size_t offset;          /* of a const char * in tr_opts */
} tr_option;

#define TR_OPT(name, cmds, field) { name, cmds, offsetof(tr_opts, field) }
static const tr_option tr_options[] = {
    TR_OPT("--train", CMD_TRAIN, train),
    TR_OPT("--val", CMD_TRAIN, val),
    TR_OPT("--epochs", CMD_TRAIN, epochs_arg),
    TR_OPT("--save", CMD_TRAIN, save),
    TR_OPT("--resume", CMD_TRAIN, resume),
    TR_OPT("--labels", CMD_TRAIN | CMD_EVAL, labels),
    TR_OPT("--val-labels", CMD_TRAIN, val_labels),
    TR_OPT("--seed", CMD_TRAIN, seed_arg),
    TR_OPT("--weights", CMD_EVAL | CMD_PREDICT, weights),
};
#undef TR_OPT
#define TR_NOPTIONS ((int)(sizeof tr_options / sizeof tr_options[0]))

#if defined(__GNUC__)
__attribute__((format(printf, 2, 3)))
#endif
static int tr_error(const cnnrt_model *mod, const char *fmt, ...)
{
    va_list ap;
    fflush(stdout);
    fprintf(stderr, "%s: error: ", mod->name);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    return 1;
}

static void tr_usage(const cnnrt_model *mod, FILE *out)
{
    const char *n = mod->name;
    int pad = (int)strlen(n);
    fprintf(out,
            "usage: %s train   --train DATA [--val DATA] [--epochs N] [--save FILE]\n"
            "       %*s         [--resume FILE] [--labels FILE] [--val-labels FILE] [--seed N]\n"
            "       %s eval    --weights FILE [--labels FILE] DATA\n"
            "       %s predict --weights FILE IMAGE...\n"
            "\n"
            "DATA is an IDX file (MNIST format, plain or .gz); its labels are found\n"
            "beside it (train-images-idx3-ubyte.gz -> train-labels-idx1-ubyte.gz) or\n"
            "given with --labels.  train writes a checkpoint (parameters, optimizer\n"
            "state, epoch) at the end of every epoch to --save (default %s.cnnw);\n"
            "--resume FILE continues from one and gives the same parameters as an\n"
            "uninterrupted run.  --epochs counts all epochs, resumed ones included\n"
            "(default %d); --seed sets the shuffling and initialisation seed\n"
            "(default %llu).  predict prints the class of every image.\n",
            n, pad, "", n, n, n, mod->epochs > 0 ? mod->epochs : 10,
            (unsigned long long)mod->seed);
}

/* a whole-string unsigned number no larger than max; -1 otherwise */
static int tr_number(const char *s, unsigned long long max, unsigned long long *v)
{
    char *end;
    if (!s || *s < '0' || *s > '9')
        return -1;
    errno = 0;
    *v = strtoull(s, &end, 10);
    return errno || *end || *v > max ? -1 : 0;
}

/* 0, -1 after an error message, or 2 for --help (usage printed) */
static int tr_parse(const cnnrt_model *mod, int argc, char **argv, tr_opts *o)
{
    static const char *const names[] = { "train", "eval", "predict" };
    memset(o, 0, sizeof *o);
    o->mod = mod;
    for (int i = 0; i < 3; i++)
        if (!strcmp(argv[1], names[i]))
            o->cmd = 1 << i;
    if (!o->cmd) {
        tr_error(mod, "unknown command '%s': expected train, eval or predict (see --help)",
                 argv[1]);
        return -1;
    }
    o->args = calloc((size_t)argc, sizeof *o->args);
    if (!o->args) {
        tr_error(mod, "out of memory");
        return -1;
    }
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            tr_usage(mod, stdout);
            return 2;
        }
        if (a[0] != '-' || !a[1]) {
            o->args[o->nargs++] = argv[i];
            continue;
        }
        const char *eq = strchr(a, '=');
        size_t len = eq ? (size_t)(eq - a) : strlen(a);
        const tr_option *opt = NULL;
        for (int k = 0; k < TR_NOPTIONS; k++)
            if (strlen(tr_options[k].name) == len && !strncmp(a, tr_options[k].name, len))
                opt = &tr_options[k];
        if (!opt) {
            tr_error(mod, "unknown option '%.*s' (see --help)", (int)len, a);
            return -1;
        }
        if (!(opt->cmds & o->cmd)) {
            tr_error(mod, "%s does not take %s (see --help)", argv[1], opt->name);
            return -1;
        }
        const char *value = eq ? eq + 1 : i + 1 < argc ? argv[++i] : NULL;
        if (!value || !*value) {
            tr_error(mod, "%s needs a value", opt->name);
            return -1;
        }
        *(const char **)((char *)o + opt->offset) = value;
    }

    unsigned long long v;
    o->epochs = mod->epochs > 0 ? mod->epochs : 10;
    o->seed = mod->seed;
    if (o->epochs_arg) {
        if (tr_number(o->epochs_arg, 1000000, &v) < 0 || v == 0) {
            tr_error(mod, "--epochs wants a positive whole number, got '%s'", o->epochs_arg);
            return -1;
        }
        o->epochs = (int)v;
    }
    if (o->seed_arg) {
        if (tr_number(o->seed_arg, UINT64_MAX, &v) < 0) {
            tr_error(mod, "--seed wants a whole number, got '%s'", o->seed_arg);
            return -1;
        }
        o->seed = v;
    }
    const char *missing = o->cmd == CMD_TRAIN ? (o->train ? NULL : "--train DATA")
        : o->weights ? NULL : "--weights FILE";
    if (missing) {
        tr_error(mod, "%s needs %s (see --help)", argv[1], missing);
        return -1;
    }
    if (o->cmd == CMD_TRAIN && o->nargs) {
        tr_error(mod, "unexpected argument '%s': train reads --train DATA", o->args[0]);
        return -1;
    }
    if (o->cmd == CMD_EVAL && o->nargs != 1) {
        if (o->nargs)
            tr_error(mod, "eval takes one DATA, got %d", o->nargs);
        else
            tr_error(mod, "eval needs DATA (see --help)");
        return -1;
    }
    if (o->cmd == CMD_PREDICT && !o->nargs) {
        tr_error(mod, "predict needs at least one IMAGE");
        return -1;
    }
    return 0;
}

/* ---- what every command shares: the model instance and its tensors ---- */
typedef struct {
    const cnnrt_model *mod;
    void *m;
    const cnnrt_tensor *params;
    int nparams;
    cnnrt_tensor *state;    /* the model's state tensors + trainer.state */
    int nstate;             /* including trainer.state */
    long *step;
    long own_step;          /* when the model keeps no step counter */
    float tstate[TR_NSTATE];
    float *x, *t;           /* one batch of inputs and targets */
    int *order;
} tr_run;

static void tr_free(tr_run *r)
{
    if (r->m)
        r->mod->destroy(r->m);
    free(r->state);
    free(r->x);
    free(r->t);
    free(r->order);
}

static int tr_setup(tr_run *r, const cnnrt_model *mod, uint64_t seed)
{
    memset(r, 0, sizeof *r);
    r->mod = mod;
    r->step = &r->own_step;
    r->m = mod->create();
    r->x = malloc(sizeof *r->x * (size_t)mod->batch * (size_t)mod->in_size);
    r->t = malloc(sizeof *r->t * (size_t)mod->batch * (size_t)mod->out_size);
    if (!r->m || !r->x || !r->t)
        return tr_error(mod, "out of memory");
    mod->init(r->m, seed);
    r->nparams = mod->params(r->m, &r->params);
    const cnnrt_tensor *st = NULL;
    int ns = mod->state ? mod->state(r->m, &st, &r->step) : 0;
    if (!r->step)
        r->step = &r->own_step;
    r->state = malloc(sizeof *r->state * (size_t)(ns + 1));
    if (!r->state)
        return tr_error(mod, "out of memory");
    if (ns)
        memcpy(r->state, st, sizeof *st * (size_t)ns);
    cnnrt_tensor tr = { "trainer.state", 1, { TR_NSTATE, 0, 0, 0 }, TR_NSTATE, r->tstate, NULL };
    r->state[ns] = tr;
    r->nstate = ns + 1;
    return 0;
}

static cnnrt_dataset *tr_open(const tr_run *r, const char *path, const char *labels,
                              int need_labels)
{
    char err[TR_ERRLEN];
    const cnnrt_model *mod = r->mod;
    cnnrt_dataset *d = cnnrt_data_open(path, labels, mod->in_c, mod->in_h, mod->in_w,
                                       mod->out_size, need_labels, err, sizeof err);
    if (!d)
        tr_error(mod, "%s", err);
    else if (d->count == 0) {
        tr_error(mod, "'%s' has no samples", path);
        cnnrt_data_close(d);
        d = NULL;
    }
    return d;
}

/* samples order[from .. from+n) into r->x and r->t */
static int tr_fill(tr_run *r, const cnnrt_dataset *d, const int *order, int from, int n)
{
    char err[TR_ERRLEN];
    const cnnrt_model *mod = r->mod;
    for (int k = 0; k < n; k++) {
        int i = order ? order[from + k] : from + k;
        if (d->get(d, i, r->x + (size_t)k * mod->in_size,
                   d->tsize ? r->t + (size_t)k * mod->out_size : NULL, err, sizeof err) < 0)
            return tr_error(mod, "%s", err);
    }
    return 0;
}

static int tr_argmax(const float *v, int n)
{
    int best = 0;
    for (int i = 1; i < n; i++)
        if (v[i] > v[best])
            best = i;
    return best;
}

static int tr_correct(const float *out, const float *t, int n, int size)
{
    int c = 0;
    for (int k = 0; k < n; k++)
        c += tr_argmax(out + (size_t)k * size, size) == tr_argmax(t + (size_t)k * size, size);
    return c;
}

static double tr_log(double p)
{
    return p > 0 ? fmax(log(p), TR_LOG_MIN) : TR_LOG_MIN;
}

/* The loss of n samples from the model's output, SUMMED over samples, in
 * the units of the model's loss (mean over elements for bce and mse). */
static double tr_loss_sum(int loss, const float *p, const float *y, int n, int size)
{
    double s = 0;
    for (long i = 0; i < (long)n * size; i++) {
        if (loss == CNNRT_LOSS_XENT)
            s -= y[i] ? y[i] * tr_log(p[i]) : 0;
        else if (loss == CNNRT_LOSS_BCE)
            s -= y[i] * tr_log(p[i]) + (1 - y[i]) * tr_log(1 - (double)p[i]);
        else
            s += ((double)p[i] - y[i]) * ((double)p[i] - y[i]);
    }
    return loss == CNNRT_LOSS_XENT ? s : s / size;
}

/* Loss and accuracy over a whole labelled set, training mode off. */
static int tr_evaluate(tr_run *r, const cnnrt_dataset *d, double *loss, double *acc)
{
    const cnnrt_model *mod = r->mod;
    double lsum = 0;
    long correct = 0;
    mod->set_training(r->m, 0);
    for (int from = 0; from < d->count; from += mod->batch) {
        int n = d->count - from < mod->batch ? d->count - from : mod->batch;
        if (tr_fill(r, d, NULL, from, n))
            return -1;
        const float *out = mod->forward(r->m, r->x, n);
        correct += tr_correct(out, r->t, n, mod->out_size);
        lsum += tr_loss_sum(mod->loss, out, r->t, n, mod->out_size);
    }
    mod->set_training(r->m, 1);
    *loss = lsum / d->count;
    *acc = (double)correct / d->count;
    return 0;
}

/* The shuffle generator of an epoch: a function of (seed, epoch) alone. */
static void tr_epoch_rng(cnnrt_rng *rng, uint64_t seed, int epoch)
{
    cnnrt_rng_seed(rng, seed ^ (0x9E3779B97F4A7C15ull * (uint64_t)(epoch + 1)));
}

static void tr_put_seed(float *ts, uint64_t seed)
{
    for (int i = 0; i < 4; i++)
        ts[2 + i] = (float)((seed >> 16 * i) & 0xffff);
}

static uint64_t tr_get_seed(const float *ts)
{
    uint64_t seed = 0;
    for (int i = 0; i < 4; i++)
        seed |= (uint64_t)ts[2 + i] << 16 * i;
    return seed;
}

static int tr_load_checkpoint(tr_run *r, const tr_opts *o)
{
    char err[TR_ERRLEN];
    r->tstate[0] = 0;           /* stays 0 when the file has no trainer state */
    if (cnnrt_load(o->resume, r->params, r->nparams, r->state, r->nstate, r->step,
                   err, sizeof err) < 0)
        return tr_error(o->mod, "%s", err);
    if (r->tstate[0] != TR_FORMAT)
        return tr_error(o->mod, "'%s' holds parameters only, not a checkpoint to resume "
                        "from (train --save writes checkpoints)", o->resume);
    return 0;
}

/* Loads --resume into r (set up with o->seed); *done gets the epochs it
 * has trained and o->seed the seed it was trained with.  A model whose
 * init drew from another seed is initialised again with the right one and
 * reloaded, in case init seeds anything the checkpoint does not hold. */
static int tr_resume(tr_run *r, tr_opts *o, int *done)
{
    if (tr_load_checkpoint(r, o))
        return 1;
    uint64_t seed = tr_get_seed(r->tstate);
    if (o->seed_arg && seed != o->seed)
        return tr_error(o->mod, "--seed %llu differs from the seed %llu '%s' was trained "
                        "with", (unsigned long long)o->seed, (unsigned long long)seed,
                        o->resume);
    if (seed != o->seed) {
        o->seed = seed;
        o->mod->init(r->m, seed);
        if (tr_load_checkpoint(r, o))
            return 1;
    }
    *done = (int)r->tstate[1];
    return 0;
}

/* One epoch of training (the shuffle drawn from seed and epoch alone),
 * then validation.  Stops at a loss that is not finite, naming the last
 * checkpoint written (last_good, NULL if none). */
static int tr_epoch(tr_run *r, const tr_opts *o, const cnnrt_dataset *train,
                    const cnnrt_dataset *val, int epoch, const char *last_good)
{
    const cnnrt_model *mod = r->mod;
    int nbatch = (train->count + mod->batch - 1) / mod->batch;
    cnnrt_rng rng;
    tr_epoch_rng(&rng, o->seed, epoch);
    for (int i = 0; i < train->count; i++)
        r->order[i] = i;
    cnnrt_shuffle(&rng, r->order, train->count);
    mod->set_training(r->m, 1);
    cnnrt_progress pg;
    cnnrt_progress_start(&pg, stdout, epoch + 1, o->epochs, nbatch, train->count);
    for (int b = 0; b < nbatch; b++) {
        int from = b * mod->batch;
        int n = train->count - from < mod->batch ? train->count - from : mod->batch;
        if (tr_fill(r, train, r->order, from, n))
            return 1;
        const float *out = mod->forward(r->m, r->x, n);
        int correct = tr_correct(out, r->t, n, mod->out_size);
        float loss = mod->backward(r->m, r->t, n);
        if (!isfinite(loss)) {
            if (pg.tty)
                putchar('\n');
            return tr_error(mod, "loss became %s at epoch %d, batch %d; %s%s",
                            isnan(loss) ? "nan" : "inf", epoch + 1, b + 1,
                            last_good ? "the last good checkpoint is " : "no checkpoint "
                            "was written", last_good ? last_good : "");
        }
        mod->update(r->m);
        cnnrt_progress_batch(&pg, n, loss, correct);
    }
    double vloss = 0, vacc = 0;
    if (val && tr_evaluate(r, val, &vloss, &vacc) < 0)
        return 1;
    cnnrt_progress_end(&pg, vloss, vacc, val ? val->count : 0);
    return 0;
}

static int tr_train(const tr_opts *oin)
{
    tr_opts o = *oin;
    const cnnrt_model *mod = o.mod;
    if (!mod->loss || !mod->backward || !mod->update)
        return tr_error(mod, "%s has no train block: it can eval and predict, not train",
                        mod->name);
    char defsave[512];
    snprintf(defsave, sizeof defsave, "%s.cnnw", mod->name);
    const char *save = o.save ? o.save : defsave;
    cnnrt_dataset *train = NULL, *val = NULL;
    tr_run r;
    int rc = tr_setup(&r, mod, o.seed), done = 0;
    if (!rc && o.resume)
        rc = tr_resume(&r, &o, &done);
    if (!rc && !(train = tr_open(&r, o.train, o.labels, 1)))
        rc = 1;
    if (!rc && o.val && !(val = tr_open(&r, o.val, o.val_labels, 1)))
        rc = 1;
    if (!rc && !(r.order = malloc(sizeof *r.order * (size_t)train->count)))
        rc = tr_error(mod, "out of memory");
    if (rc)
        goto out;
    r.tstate[0] = TR_FORMAT;
    tr_put_seed(r.tstate, o.seed);

    int nbatch = (train->count + mod->batch - 1) / mod->batch;
    printf("%s: %d training images from '%s'", mod->name, train->count, o.train);
    if (val)
        printf(", %d for validation", val->count);
    printf("; %d batches of %d; checkpoints to '%s'\n", nbatch, mod->batch, save);
    if (o.resume)
        printf("resuming from '%s' after epoch %d (step %ld)\n", o.resume, done, *r.step);
    if (done >= o.epochs)
        printf("'%s' has already trained %d epochs (--epochs %d): nothing to do\n",
               o.resume, done, o.epochs);
    fflush(stdout);

    const char *last_good = o.resume;
    for (int epoch = done; !rc && epoch < o.epochs; epoch++) {
        rc = tr_epoch(&r, &o, train, val, epoch, last_good);
        r.tstate[1] = (float)(epoch + 1);
        if (!rc && cnnrt_save(save, r.params, r.nparams, r.state, r.nstate, *r.step) < 0)
            rc = tr_error(mod, "cannot write the checkpoint '%s': %s", save, strerror(errno));
        last_good = save;
    }
out:
    cnnrt_data_close(train);
    cnnrt_data_close(val);
    tr_free(&r);
    return rc;
}

/* a model with weights loaded, for eval and predict */
static int tr_load_weights(tr_run *r, const tr_opts *o)
{
    char err[TR_ERRLEN];
    int rc = tr_setup(r, o->mod, o->mod->seed);
    if (!rc && cnnrt_load(o->weights, r->params, r->nparams, NULL, 0, NULL,
                          err, sizeof err) < 0)
        rc = tr_error(o->mod, "%s", err);
    if (!rc)
        o->mod->set_training(r->m, 0);
    return rc;
}

static int tr_eval(const tr_opts *o)
{
    tr_run r;
    cnnrt_dataset *d = NULL;
    double loss, acc;
    int rc = tr_load_weights(&r, o);
    if (!rc && !(d = tr_open(&r, o->args[0], o->labels, 1)))
        rc = 1;
    if (!rc && tr_evaluate(&r, d, &loss, &acc) < 0)
        rc = 1;
    if (!rc && o->mod->loss)
        printf("test: loss %.4f  accuracy %.2f%%  (%d images)\n", loss, 100 * acc, d->count);
    else if (!rc)
        printf("test: accuracy %.2f%%  (%d images)\n", 100 * acc, d->count);
    cnnrt_data_close(d);
    tr_free(&r);
    return rc;
}

/* one line per image: "PATH[i]: class K (p)", with the label when known */
static int tr_predict(const tr_opts *o)
{
    const cnnrt_model *mod = o->mod;
    tr_run r;
    int rc = tr_load_weights(&r, o);
    for (int a = 0; !rc && a < o->nargs; a++) {
        cnnrt_dataset *d = tr_open(&r, o->args[a], NULL, 0);
        if (!d) {
            rc = 1;
            break;
        }
        for (int from = 0; !rc && from < d->count; from += mod->batch) {
            int n = d->count - from < mod->batch ? d->count - from : mod->batch;
            if ((rc = tr_fill(&r, d, NULL, from, n)))
                break;
            const float *out = mod->forward(r.m, r.x, n);
            for (int k = 0; k < n; k++) {
                const float *y = out + (size_t)k * mod->out_size;
                int c = tr_argmax(y, mod->out_size);
                if (mod->out_size == 1)
                    printf("%s[%d]: %.4f", o->args[a], from + k, y[0]);
                else
                    printf("%s[%d]: class %d (%.4f)", o->args[a], from + k, c, y[c]);
                if (d->tsize > 1)
                    printf("  label %d",
                           tr_argmax(r.t + (size_t)k * mod->out_size, mod->out_size));
                putchar('\n');
            }
        }
        cnnrt_data_close(d);
    }
    tr_free(&r);
    return rc;
}

int cnnrt_main(const cnnrt_model *model, int argc, char **argv)
{
    if (argc < 2) {
        tr_usage(model, stderr);
        return 1;
    }
    if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
        tr_usage(model, stdout);
        return 0;
    }
    if (model->batch < 1 || model->in_c < 1 || model->in_h < 1 || model->in_w < 1
        || model->in_size != model->in_c * model->in_h * model->in_w || model->out_size < 1)
        return tr_error(model, "the model's description is inconsistent (batch %d, input "
                        "%dx%dx%d = %d, output %d): a bug in the generated code",
                        model->batch, model->in_c, model->in_h, model->in_w,
                        model->in_size, model->out_size);
    tr_opts o;
    int rc = tr_parse(model, argc, argv, &o);
    if (rc == 0)
        rc = o.cmd == CMD_TRAIN ? tr_train(&o) : o.cmd == CMD_EVAL ? tr_eval(&o)
            : tr_predict(&o);
    else
        rc = rc == 2 ? 0 : 1;
    free(o.args);
    fflush(stdout);
    return rc;
}
