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
 * its generator in its state tensors for this to hold.)  Augmentation
 * keeps it too: the loader draws a sample's augmentation from (seed,
 * epoch, index) alone, whatever its threads do (loader.c).
 *
 * Every command reads its data through a cnnrt_loader: training with the
 * model's augmentations (unless --no-augment), eval and predict without,
 * in order.  Not here: decoding, augmenting, threads (loader.c and the
 * files it uses).
 */
#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L
#endif
#include "cnnrt_train.h"
#include "dettrain.h"
#include "cnnrt_data.h"
#include "log.h"
#include "trainer.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* the options, which commands take them, and where their values go */
typedef struct {
    const char *name;
    int cmds;
    size_t offset;          /* of a const char * in tr_opts */
    int nvalues;            /* 0: a flag; 2: an array of two in tr_opts */
} tr_option;

#define TR_OPT(name, cmds, field, n) { name, cmds, offsetof(tr_opts, field), n }
static const tr_option tr_options[] = {
    TR_OPT("--train", CMD_TRAIN, train, 1),
    TR_OPT("--val", CMD_TRAIN, val, 1),
    TR_OPT("--epochs", CMD_TRAIN, epochs_arg, 1),
    TR_OPT("--save", CMD_TRAIN, save, 1),
    TR_OPT("--resume", CMD_TRAIN, resume, 1),
    TR_OPT("--labels", CMD_TRAIN | CMD_EVAL, labels, 1),
    TR_OPT("--val-labels", CMD_TRAIN, val_labels, 1),
    TR_OPT("--seed", CMD_TRAIN, seed_arg, 1),
    TR_OPT("--no-augment", CMD_TRAIN, no_augment, 0),
    TR_OPT("--dump-aug", CMD_TRAIN, dump_aug, 2),
    TR_OPT("--max-pixels", CMD_TRAIN | CMD_EVAL | CMD_PREDICT, max_pixels_arg, 1),
    TR_OPT("--weights", CMD_TRAIN | CMD_EVAL | CMD_PREDICT, weights, 1),
    TR_OPT("--log", CMD_TRAIN, log, 1),
    TR_OPT("--log-every", CMD_TRAIN, log_every_arg, 1),
    TR_OPT("--chart", CMD_TRAIN, chart, 1),
    TR_OPT("--save-best", CMD_TRAIN, save_best, 0),
    TR_OPT("--slices", CMD_TRAIN, slices_arg, 1),
    TR_OPT("--profile", CMD_TRAIN, profile, 0),
    TR_OPT("--names", CMD_PREDICT, names, 1),
    TR_OPT("--top", CMD_PREDICT, top_arg, 1),
    TR_OPT("--threads", CMD_TRAIN | CMD_EVAL | CMD_PREDICT, threads_arg, 1),
    TR_OPT("--draw", CMD_PREDICT, draw, 1),
};
#undef TR_OPT
#define TR_NOPTIONS ((int)(sizeof tr_options / sizeof tr_options[0]))

#if defined(__GNUC__)
__attribute__((format(printf, 2, 3)))
#endif
int cnnrt_tr_error(const cnnrt_model *mod, const char *fmt, ...)
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
            "       %*s         [--no-augment] [--dump-aug DIR N] [--max-pixels N] [--weights FILE]\n"
            "       %*s         [--log FILE.csv] [--log-every N] [--chart FILE.png] [--save-best]\n"
            "       %*s         [--threads N] [--slices K] [--profile]\n"
            "       %s eval    --weights FILE [--labels FILE] [--threads N] DATA\n"
            "       %s predict --weights FILE [--names FILE] [--top K] [--draw DIR] [--threads N] DATA...\n"
            "\n"
            "DATA is an IDX file (MNIST format, plain or .gz; its labels are found\n"
            "beside it, train-images-idx3-ubyte.gz -> train-labels-idx1-ubyte.gz, or\n"
            "given with --labels), an image folder ROOT/<class>/*.png|jpg|bmp|tga|gif\n"
            "(classes in name order), a .txt list of images with YOLO box labels\n"
            "beside them, or (predict) image files.  Images are converted and resized\n"
            "to the input.  train writes a checkpoint (parameters, optimizer state,\n"
            "epoch) at the end of every epoch to --save (default %s.cnnw);\n"
            "--resume FILE continues from one and gives the same parameters as an\n"
            "uninterrupted run; train --weights FILE starts from the parameters of\n"
            "FILE (fine-tuning, e.g. an imported model) instead of initialising them.\n"
            "--epochs counts all epochs, resumed ones included\n"
            "(default %d); --seed sets the shuffling, augmentation and initialisation\n"
            "seed (default %llu).  The training set is augmented as the model's train\n"
            "block says (%d augmentation%s); --no-augment turns that off.  --dump-aug\n"
            "DIR N writes the first N training samples as the network sees them\n"
            "(PNG, boxes drawn, DIR/samples.txt) and trains nothing.  --log writes a\n"
            "CSV row per epoch and every --log-every batches (default 50): loss,\n"
            "accuracy, validation figures, learning rate, images/s, time; --chart\n"
            "redraws a PNG of loss and accuracy after every epoch; --save-best also\n"
            "keeps the checkpoint of the best validation epoch as FILE-best.cnnw.\n"
            "--slices K runs each batch as K slices in turn and sums their gradients\n"
            "as K MPI ranks do (a --mpi build under mpirun -np K gives the same numbers).\n"
            "--profile prints, after training, the time of every layer's forward,\n"
            "backward and update calls (validation forwards included), their GFLOP/s\n"
            "and %% of the one-thread FMA peak, and the layers that took longest.\n"
            "predict prints the class of every image (names from the class folders\n"
            "or --names, one per line), the --top K classes with their probabilities,\n"
            "and goes on past unreadable files, exiting 1 at the end; for a detector,\n"
            "one line per detection: FILE class score x1 y1 x2 y2, and with --draw DIR\n"
            "each picture as DIR/NNNN-NAME.png with its boxes and labels.  Images over\n"
            "--max-pixels N pixels (width x height, default %lld) are left out with a\n"
            "warning before decoding.  --threads N runs the kernels on N threads\n"
            "(default: $CNNRT_THREADS, else the CPUs this process may use, here %d);\n"
            "the numbers are the same for any N.\n",
            n, pad, "", pad, "", pad, "", pad, "", n, n, n, mod->epochs > 0 ? mod->epochs : 10,
            (unsigned long long)mod->seed, mod->naugment, mod->naugment == 1 ? "" : "s",
            CNNRT_MAX_PIXELS, cnnrt_cpus());
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
static int tr_parse(const cnnrt_model *mod, int argc, char **argv, tr_dist *dist, tr_opts *o)
{
    static const char *const names[] = { "train", "eval", "predict" };
    memset(o, 0, sizeof *o);
    o->mod = mod;
    o->dist = dist;
    for (int i = 0; i < 3; i++)
        if (!strcmp(argv[1], names[i]))
            o->cmd = 1 << i;
    if (!o->cmd) {
        cnnrt_tr_error(mod, "unknown command '%s': expected train, eval or predict (see --help)",
                 argv[1]);
        return -1;
    }
    o->args = calloc((size_t)argc, sizeof *o->args);
    if (!o->args) {
        cnnrt_tr_error(mod, "out of memory");
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
            cnnrt_tr_error(mod, "unknown option '%.*s' (see --help)", (int)len, a);
            return -1;
        }
        if (!(opt->cmds & o->cmd)) {
            cnnrt_tr_error(mod, "%s does not take %s (see --help)", argv[1], opt->name);
            return -1;
        }
        const char **field = (const char **)((char *)o + opt->offset);
        if (opt->nvalues == 0) {
            if (eq) {
                cnnrt_tr_error(mod, "%s takes no value", opt->name);
                return -1;
            }
            *field = a;
            continue;
        }
        for (int v = 0; v < opt->nvalues; v++) {
            const char *value = v == 0 && eq ? eq + 1 : i + 1 < argc ? argv[++i] : NULL;
            if (!value || !*value) {
                cnnrt_tr_error(mod, "%s needs %s", opt->name, opt->nvalues == 1 ? "a value"
                         : "two values (see --help)");
                return -1;
            }
            field[v] = value;
        }
    }

    unsigned long long v;
    o->epochs = mod->epochs > 0 ? mod->epochs : 10;
    o->seed = mod->seed;
    if (o->max_pixels_arg) {
        if (tr_number(o->max_pixels_arg, 1ULL << 40, &v) < 0 || v == 0) {
            cnnrt_tr_error(mod, "--max-pixels wants a positive whole number, got '%s'",
                     o->max_pixels_arg);
            return -1;
        }
        cnnrt_max_pixels = (long long)v;
    }
    if (o->epochs_arg) {
        if (tr_number(o->epochs_arg, 1000000, &v) < 0 || v == 0) {
            cnnrt_tr_error(mod, "--epochs wants a positive whole number, got '%s'", o->epochs_arg);
            return -1;
        }
        o->epochs = (int)v;
    }
    if (o->seed_arg) {
        if (tr_number(o->seed_arg, UINT64_MAX, &v) < 0) {
            cnnrt_tr_error(mod, "--seed wants a whole number, got '%s'", o->seed_arg);
            return -1;
        }
        o->seed = v;
    }
    o->log_every = 50;
    if (o->log_every_arg) {
        if (tr_number(o->log_every_arg, 100000000, &v) < 0) {
            cnnrt_tr_error(mod, "--log-every wants a whole number of batches, got '%s'", o->log_every_arg);
            return -1;
        }
        o->log_every = (int)v;
    }
    if (o->threads_arg) {
        if (tr_number(o->threads_arg, CNNRT_MAX_THREADS, &v) < 0 || v == 0) {
            cnnrt_tr_error(mod, "--threads wants a whole number from 1 to %d, got '%s'",
                           CNNRT_MAX_THREADS, o->threads_arg);
            return -1;
        }
        cnnrt_set_threads((int)v);
    } else if (getenv("CNNRT_THREADS") && !cnnrt_threads_env()) {
        cnnrt_tr_error(mod, "CNNRT_THREADS wants a whole number from 1 to %d, got '%s'",
                       CNNRT_MAX_THREADS, getenv("CNNRT_THREADS"));
        return -1;
    }
    o->top = 1;
    if (o->top_arg) {
        if (tr_number(o->top_arg, 1000000, &v) < 0 || v == 0) {
            cnnrt_tr_error(mod, "--top wants a positive whole number, got '%s'", o->top_arg);
            return -1;
        }
        o->top = (int)v < mod->out_size ? (int)v : mod->out_size;
    }
    o->slices = 1;
    if (o->slices_arg) {
        if (tr_number(o->slices_arg, 4096, &v) < 0 || v == 0) {
            cnnrt_tr_error(mod, "--slices wants a number from 1 to 4096, got '%s'", o->slices_arg);
            return -1;
        }
        if (o->dist) {
            cnnrt_tr_error(mod, "--slices is for one process: under mpirun the ranks are the slices");
            return -1;
        }
        o->slices = (int)v;
    }
    if (o->save_best && !o->val) {
        cnnrt_tr_error(mod, "--save-best needs --val DATA (the best epoch is chosen on it)");
        return -1;
    }
    if (o->dump_aug[1] && (tr_number(o->dump_aug[1], 100000, &v) < 0 || v == 0)) {
        cnnrt_tr_error(mod, "--dump-aug DIR N wants a number of samples from 1 to 100000, got '%s'",
                 o->dump_aug[1]);
        return -1;
    }
    const char *missing = o->cmd == CMD_TRAIN ? (o->train ? NULL : "--train DATA")
        : o->weights ? NULL : "--weights FILE";
    if (missing) {
        cnnrt_tr_error(mod, "%s needs %s (see --help)", argv[1], missing);
        return -1;
    }
    if (o->cmd == CMD_TRAIN && o->nargs) {
        cnnrt_tr_error(mod, "unexpected argument '%s': train reads --train DATA", o->args[0]);
        return -1;
    }
    if (o->cmd == CMD_EVAL && o->nargs != 1) {
        if (o->nargs)
            cnnrt_tr_error(mod, "eval takes one DATA, got %d", o->nargs);
        else
            cnnrt_tr_error(mod, "eval needs DATA (see --help)");
        return -1;
    }
    if (o->cmd == CMD_PREDICT && !o->nargs) {
        cnnrt_tr_error(mod, "predict needs at least one IMAGE or DATA");
        return -1;
    }
    return 0;
}


void cnnrt_tr_free(tr_run *r)
{
    if (r->m)
        r->mod->destroy(r->m);
    free(r->state);
    free(r->x);
    free(r->t);
    free(r->acc);
}

/* floats per sample of what _backward takes */
int cnnrt_tr_tsize(const cnnrt_model *mod)
{
    return mod->target_size ? mod->target_size : mod->out_size;
}

int cnnrt_tr_boxes(const cnnrt_model *mod)
{
    return mod->target_kind == CNNRT_TARGET_BOXES;
}

static int tr_setup(tr_run *r, const cnnrt_model *mod, uint64_t seed)
{
    memset(r, 0, sizeof *r);
    r->mod = mod;
    r->step = &r->own_step;
    r->m = mod->create();
    r->x = malloc(sizeof *r->x * (size_t)mod->batch * (size_t)mod->in_size);
    r->t = malloc(sizeof *r->t * (size_t)mod->batch * (size_t)cnnrt_tr_tsize(mod));
    if (!r->m || !r->x || !r->t)
        return cnnrt_tr_error(mod, "out of memory");
    mod->init(r->m, seed);
    r->nparams = mod->params(r->m, &r->params);
    r->file = r->params;
    r->nfile = mod->ema ? mod->ema(r->m, &r->file) : r->nparams;
    const cnnrt_tensor *st = NULL;
    int ns = mod->state ? mod->state(r->m, &st, &r->step) : 0;
    if (!r->step)
        r->step = &r->own_step;
    r->state = malloc(sizeof *r->state * (size_t)(ns + 1));
    if (!r->state)
        return cnnrt_tr_error(mod, "out of memory");
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
                                       cnnrt_tr_boxes(mod) ? mod->classes : mod->out_size,
                                       need_labels, err, sizeof err);
    if (!d)
        cnnrt_tr_error(mod, "%s", err);
    else if (d->count == 0) {
        cnnrt_tr_error(mod, "'%s' has no samples", path);
        cnnrt_data_close(d);
        d = NULL;
    }
    return d;
}

/* A loader for d: with the augmentations given (training) or none. */
cnnrt_loader *cnnrt_tr_loader(const tr_run *r, const cnnrt_dataset *d,
                               const cnnrt_augment *aug, int naug)
{
    char err[TR_ERRLEN];
    cnnrt_loader *l = cnnrt_loader_new(d, r->mod->batch, aug, naug, -1, err, sizeof err);
    if (!l)
        cnnrt_tr_error(r->mod, "%s", err);
    return l;
}

/* Detection data for a cross-entropy model: an image without boxes has no
 * class (an all-zero target) and nothing to learn, so it is left out of
 * the batch; b is pointed at a copy without it.  Other data is left alone. */
static void tr_drop_unlabelled(tr_run *r, const cnnrt_dataset *d, cnnrt_batch *b)
{
    const cnnrt_model *mod = r->mod;
    if (!d->maxbox || mod->loss != CNNRT_LOSS_XENT)
        return;
    int kept = 0;
    for (int k = 0; k < b->n; k++) {
        const float *t = b->target + (size_t)k * mod->out_size;
        float sum = 0;
        for (int c = 0; c < mod->out_size; c++)
            sum += t[c];
        if (!(sum > 0))
            continue;
        memcpy(r->x + (size_t)kept * mod->in_size, b->x + (size_t)k * mod->in_size,
               sizeof *r->x * (size_t)mod->in_size);
        memcpy(r->t + (size_t)kept * mod->out_size, t, sizeof *t * (size_t)mod->out_size);
        kept++;
    }
    if (kept < b->n) {
        b->n = kept;
        b->x = r->x;
        b->target = r->t;
    }
}

int cnnrt_tr_argmax(const float *v, int n)
{
    int best = 0;
    for (int i = 1; i < n; i++)
        if (v[i] > v[best])
            best = i;
    return best;
}

int cnnrt_tr_correct(const float *out, const float *t, int n, int size)
{
    int c = 0;
    for (int k = 0; k < n; k++)
        c += cnnrt_tr_argmax(out + (size_t)k * size, size) == cnnrt_tr_argmax(t + (size_t)k * size, size);
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

/* Loss and accuracy over a whole labelled set (l made without
 * augmentations), training mode off.  The number of samples seen (fewer
 * than the set when files are unreadable), or -1. */
static long tr_evaluate(tr_run *r, const cnnrt_dataset *d, cnnrt_loader *l, double *loss,
                        double *acc)
{
    const cnnrt_model *mod = r->mod;
    char err[TR_ERRLEN];
    double lsum = 0;
    long correct = 0, seen = 0;
    cnnrt_batch b;
    int rc;
    mod->set_training(r->m, 0);
    if (cnnrt_tr_boxes(mod)) {        /* a detector: mAP@0.5 is the figure */
        tr_det_result res;
        rc = cnnrt_trdet_map(mod, r->m, d, l, &res, err, sizeof err);
        mod->set_training(r->m, 1);
        if (rc < 0)
            return cnnrt_tr_error(mod, "%s", err), -1;
        long images = res.images;
        *loss = 0;
        *acc = res.map50;
        cnnrt_trdet_free(&res);
        return images;
    }
    cnnrt_loader_start(l, 0, 0, 0);
    while ((rc = cnnrt_loader_next(l, &b, err, sizeof err)) == 1) {
        tr_drop_unlabelled(r, d, &b);
        if (!b.n)
            continue;
        int lo = 0, hi = b.n;     /* a data-parallel run: this rank's slice */
        if (r->dist)
            cnnrt_tr_slice(b.n, r->dist->size, r->dist->rank, &lo, &hi);
        if (hi == lo)
            continue;
        const float *t = b.target + (size_t)lo * mod->out_size;
        const float *out = mod->forward(r->m, b.x + (size_t)lo * mod->in_size, hi - lo);
        correct += cnnrt_tr_correct(out, t, hi - lo, mod->out_size);
        lsum += tr_loss_sum(mod->loss, out, t, hi - lo, mod->out_size);
        seen += hi - lo;
    }
    mod->set_training(r->m, 1);
    if (rc < 0)
        return cnnrt_tr_error(mod, "%s", err), -1;
    if (r->dist) {
        double v[3] = { lsum, (double)correct, (double)seen };
        if (r->dist->sum(r->dist, v, 3) < 0)
            return -1;
        lsum = v[0];
        correct = (long)v[1];
        seen = (long)v[2];
    }
    *loss = seen ? lsum / seen : 0;
    *acc = seen ? (double)correct / seen : 0;
    return seen;
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
    if (cnnrt_load(o->resume, r->file, r->nfile, r->state, r->nstate, r->step,
                   err, sizeof err) < 0)
        return cnnrt_tr_error(o->mod, "%s", err);
    if (r->tstate[0] != TR_FORMAT)
        return cnnrt_tr_error(o->mod, "'%s' holds parameters only, not a checkpoint to resume "
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
        return cnnrt_tr_error(o->mod, "--seed %llu differs from the seed %llu '%s' was trained "
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

/* The training and validation sets of a run, and their loaders; with
 * augment_until, `late` trains the epochs after it, without mosaic and
 * mixup (`lateaug`, which it reads). */
typedef struct {
    cnnrt_dataset *train, *val;
    cnnrt_loader *ltrain, *lval, *late;
    cnnrt_augment *lateaug;
} tr_data;

/* Exchanges the weights and their EMA (bit for bit, so twice is nothing):
 * validation runs on the EMA. */
static void tr_swap_ema(tr_run *r)
{
    for (int i = 0; r->file != r->params && i < r->nparams && i < r->nfile; i++)
        for (long k = 0; k < r->params[i].size; k++) {
            float t = r->params[i].data[k];
            r->params[i].data[k] = r->file[i].data[k];
            r->file[i].data[k] = t;
        }
}

/* One epoch of training (order and augmentation drawn from seed and epoch
 * alone), then validation.  Stops at a loss that is not finite, naming
 * the last checkpoint written (last_good, NULL if none). */
static int tr_epoch(tr_run *r, const tr_opts *o, const tr_data *data, int epoch,
                    const char *last_good)
{
    const cnnrt_model *mod = r->mod;
    const cnnrt_dataset *train = data->train;
    char err[TR_ERRLEN];
    int nbatch = (train->count + mod->batch - 1) / mod->batch, rc, bi = 0;
    cnnrt_batch b;
    mod->set_training(r->m, 1);
    cnnrt_progress pg;
    cnnrt_loader *lt = data->late && epoch >= mod->augment_until ? data->late : data->ltrain;
    cnnrt_progress_start(&pg, stdout, epoch + 1, o->epochs, nbatch, train->count);
    pg.boxes = cnnrt_tr_boxes(mod);
    cnnrt_loader_start(lt, o->seed, epoch, 1);
    while ((rc = cnnrt_loader_next(lt, &b, err, sizeof err)) == 1) {
        bi++;
        tr_drop_unlabelled(r, train, &b);
        if (!b.n)
            continue;
        const float *target = b.target;
        long correct = 0;
        double loss;
        if (cnnrt_tr_boxes(mod) && cnnrt_trdet_targets(mod, train, &b, r->t, err, sizeof err))
            return cnnrt_tr_error(mod, "%s", err);
        else if (cnnrt_tr_boxes(mod))
            target = r->t;
        if (cnnrt_tr_step(r, b.x, target, b.n, &loss, &correct) < 0)
            return 1;
        if (!r->have_first && isfinite(loss)) {
            r->first_loss = loss;
            r->have_first = 1;
        }
        /* Divergence: the loss is not finite, or larger than TR_DIVERGED
         * times the first batch's of this run (at least 1).  The training
         * loss comes from the logits (log-sum-exp) and is unbounded, so it
         * shows an explosion the clamped validation loss cannot. */
        double limit = TR_DIVERGED * (r->first_loss > 1 ? r->first_loss : 1);
        if (!isfinite(loss) || loss > limit) {
            if (pg.tty)
                putchar('\n');
            char what[200];
            if (isfinite(loss))
                snprintf(what, sizeof what, "training diverged at epoch %d, batch %d (loss "
                         "%.3g, over %g times the first batch's %.4g; lower the learning "
                         "rate)", epoch + 1, bi, loss, TR_DIVERGED, r->first_loss);
            else
                snprintf(what, sizeof what, "loss became %s at epoch %d, batch %d",
                         isnan(loss) ? "nan" : "inf", epoch + 1, bi);
            return cnnrt_tr_error(mod, "%s; %s%s", what,
                            last_good ? "the last good checkpoint is " : "no checkpoint "
                            "was written", last_good ? last_good : "");
        }
        mod->update(r->m);
        cnnrt_progress_batch(&pg, b.n, loss, (int)correct);
        trlog_batch(&r->log, &pg);
    }
    if (rc < 0) {
        if (pg.tty)
            putchar('\n');
        return cnnrt_tr_error(mod, "%s", err);
    }
    double vloss = 0, vacc = 0;
    long vn = 0;
    if (cnnrt_tr_sync(r) < 0)
        return 1;
    tr_swap_ema(r);
    if (data->val)
        vn = tr_evaluate(r, data->val, data->lval, &vloss, &vacc);
    tr_swap_ema(r);
    if (vn < 0)
        return 1;
    pg.skipped = cnnrt_loader_skipped(lt);
    cnnrt_progress_end(&pg, vloss, vacc, vn);
    r->vloss = vloss;
    r->vacc = vacc;
    r->vn = vn;
    r->images += pg.seen;
    if (trlog_epoch(&r->log, &pg, vloss, vacc, vn, err, sizeof err) < 0)
        return cnnrt_tr_error(mod, "%s", err);
    return 0;
}

/* Training and validation sets with the same class folders, or an error:
 * the classes are numbered by name, so one missing folder would relabel
 * the rest. */
static int tr_same_classes(const cnnrt_model *mod, const cnnrt_dataset *a,
                           const cnnrt_dataset *b)
{
    if (!a->classes || !b->classes)
        return 0;
    int n = mod->out_size == 1 ? 2 : mod->out_size;
    for (int k = 0; k < n; k++)
        if (strcmp(a->classes[k], b->classes[k]))
            return cnnrt_tr_error(mod, "class %d is '%s' in '%s' but '%s' in '%s': the class "
                            "folders must be the same", k, a->classes[k], a->path,
                            b->classes[k], b->path);
    return 0;
}

/* Opens the data of a train command (and makes the loaders, unless only
 * dumping).  0, or 1 after an error message. */
static int tr_open_data(tr_run *r, const tr_opts *o, tr_data *data)
{
    const cnnrt_model *mod = r->mod;
    int naug = o->no_augment ? 0 : mod->naugment;
    if (!(data->train = tr_open(r, o->train, o->labels, 1)))
        return 1;
    if (o->dump_aug[0])
        return 0;
    if (o->val && !(data->val = tr_open(r, o->val, o->val_labels, 1)))
        return 1;
    if (data->val && tr_same_classes(mod, data->train, data->val))
        return 1;
    if (!(data->ltrain = cnnrt_tr_loader(r, data->train, mod->augment, naug)))
        return 1;
    if (data->val && !(data->lval = cnnrt_tr_loader(r, data->val, NULL, 0)))
        return 1;
    if (mod->augment_until <= 0 || !naug)
        return 0;
    if (!(data->lateaug = malloc(sizeof *data->lateaug * (size_t)naug)))
        return cnnrt_tr_error(mod, "out of memory");
    int nlate = 0;
    for (int i = 0; i < naug; i++)
        if (mod->augment[i].kind != CNNRT_AUG_MOSAIC && mod->augment[i].kind != CNNRT_AUG_MIXUP)
            data->lateaug[nlate++] = mod->augment[i];
    if (!(data->late = cnnrt_tr_loader(r, data->train, data->lateaug, nlate)))
        return 1;
    return 0;
}

static int tr_dump(const tr_opts *o, const cnnrt_dataset *train)
{
    char err[TR_ERRLEN];
    const cnnrt_model *mod = o->mod;
    int n = cnnrt_dump_augmented(train, mod->batch, mod->augment,
                                 o->no_augment ? 0 : mod->naugment, o->seed, o->dump_aug[0],
                                 atoi(o->dump_aug[1]), err, sizeof err);
    if (n < 0)
        return cnnrt_tr_error(mod, "%s", err);
    printf("%s: wrote %d %ssamples of '%s' to %s/ (aug-NNNN.png; samples.txt says what "
           "each is)\n", mod->name, n, o->no_augment || !mod->naugment ? "" : "augmented ",
           o->train, o->dump_aug[0]);
    return 0;
}

/* --save's folder must take a new file now, not after the first epoch:
 * make one beside the checkpoint and remove it.  0, or 1 after a message. */
static int tr_can_write(const cnnrt_model *mod, const char *save)
{
    char err[TR_ERRLEN];
    cnnrt_out o;
    if (cnnrt_out_open(&o, save, err, sizeof err) < 0)
        return cnnrt_tr_error(mod, "cannot write checkpoints: %s", err);
    cnnrt_out_close(&o, 0, NULL, 0);
    return 0;
}

/* "DIR/NAME.cnnw" -> "DIR/NAME-best.cnnw" (malloc'd; NULL: out of memory) */
static char *tr_best_path(const char *save)
{
    size_t n = strlen(save);
    int ext = n > 5 && !strcmp(save + n - 5, ".cnnw");
    char *p = malloc(n + 16);
    if (p)
        sprintf(p, "%.*s-best.cnnw", (int)(ext ? n - 5 : n), save);
    return p;
}

/* the best validation epoch so far: highest accuracy for classifiers
 * (cross entropy; lower loss between equals), lowest loss otherwise */
typedef struct { int epoch; double loss, acc; long images; } tr_best;

static int tr_better(const cnnrt_model *mod, tr_best *b, const tr_run *r, int epoch)
{
    int higher = mod->loss == CNNRT_LOSS_XENT || cnnrt_tr_boxes(mod);   /* accuracy, mAP */
    int better = b->epoch < 0 || (higher && r->vacc != b->acc ? r->vacc > b->acc
                                  : r->vloss < b->loss);
    if (better) {
        b->epoch = epoch;
        b->loss = r->vloss;
        b->acc = r->vacc;
    }
    return better;
}

static void tr_summary(const tr_opts *o, const tr_run *r, const tr_best *b, const char *save,
                       const char *best)
{
    double t = trlog_now() - r->log.t0;
    printf("done after epoch %d: %.1f s, %ld images seen (%.0f images/s); last checkpoint '%s'\n",
           o->epochs, t, r->images, t > 0 ? r->images / t : 0.0, save);
    if (b->epoch > 0 && cnnrt_tr_boxes(o->mod))
        printf("best epoch %d: validation mAP@0.5 %.4f%s%s%s\n", b->epoch, b->acc,
               best ? " (saved to '" : "", best ? best : "", best ? "')" : "");
    else if (b->epoch > 0)
        printf("best epoch %d: validation loss %.4f, accuracy %.2f%%%s%s%s\n", b->epoch, b->loss,
               100 * b->acc, best ? " (saved to '" : "", best ? best : "", best ? "')" : "");
    if (o->log)
        printf("log: '%s'\n", o->log);
    if (o->chart)
        printf("chart: '%s'\n", o->chart);
}

static int tr_train(const tr_opts *oin)
{
    tr_opts o = *oin;
    const cnnrt_model *mod = o.mod;
    if (!mod->loss || !mod->backward || !mod->update)
        return cnnrt_tr_error(mod, "%s has no train block: it can eval and predict, not train",
                        mod->name);
    char defsave[512];
    snprintf(defsave, sizeof defsave, "%s.cnnw", mod->name);
    const char *save = o.save ? o.save : defsave;
    tr_data data = {0};
    tr_run r;
    /* a data-parallel run: rank 0 alone writes files (and prints: the
       others' stdout is closed by mpi.c) */
    int rc = tr_setup(&r, mod, o.seed), done = 0, writer = !o.dist || o.dist->rank == 0;
    r.dist = o.dist;
    r.slices = o.slices;
    if (!writer)
        o.log = o.chart = o.dump_aug[0] = NULL;
    if (!rc && o.dist && o.dist->set_hook)
        o.dist->set_hook(r.m, o.dist->ready, o.dist);
    if (!rc && !o.dump_aug[0] && writer)
        rc = tr_can_write(mod, save);
    if (!rc && o.resume)
        rc = tr_resume(&r, &o, &done);
    else if (!rc && o.weights) {        /* fine-tuning: parameters only, a fresh optimizer */
        char err[TR_ERRLEN];
        if (cnnrt_load(o.weights, r.params, r.nparams, NULL, 0, NULL, err, sizeof err) < 0)
            rc = cnnrt_tr_error(mod, "%s", err);
    }
    if (!rc)
        rc = tr_open_data(&r, &o, &data);
    if (!rc && o.dump_aug[0])
        rc = tr_dump(&o, data.train);
    if (rc || o.dump_aug[0] || oin->dump_aug[0])
        goto out;
    const cnnrt_dataset *train = data.train, *val = data.val;
    r.tstate[0] = TR_FORMAT;
    tr_put_seed(r.tstate, o.seed);

    int nbatch = (train->count + mod->batch - 1) / mod->batch;
    printf("%s: %d training images from '%s'", mod->name, train->count, o.train);
    if (train->skipped)
        printf(" (%d unreadable file%s left out)", train->skipped,
               train->skipped == 1 ? "" : "s");
    if (val)
        printf(", %d for validation", val->count);
    printf("; %d batches of %d; %d thread%s; checkpoints to '%s'\n", nbatch, mod->batch,
           cnnrt_threads(), cnnrt_threads() == 1 ? "" : "s", save);
    if (mod->schedule)
        mod->schedule(r.m, nbatch, o.epochs);
    if (o.resume)
        printf("resuming from '%s' after epoch %d (step %ld)\n", o.resume, done, *r.step);
    if (done >= o.epochs)
        printf("'%s' has already trained %d epochs (--epochs %d): nothing to do\n",
               o.resume, done, o.epochs);
    fflush(stdout);

    const char *last_good = o.resume;
    char err[TR_ERRLEN], *best = tr_best_path(save);
    if (!best || trlog_open(&r.log, o.log, o.chart, o.log_every, mod->lr, err, sizeof err) < 0)
        rc = cnnrt_tr_error(mod, "%s", best ? err : "out of memory");
    tr_best b = { -1, 0, 0, 0 };
    cnnrt_prof *prof = NULL;
    if (!rc && o.profile && !mod->profile)
        rc = cnnrt_tr_error(mod, "--profile: this build of %s has no profile hooks", mod->name);
    else if (!rc && o.profile && (!(prof = cnnrt_prof_new()) || mod->profile(r.m, prof) < 0))
        rc = cnnrt_tr_error(mod, "out of memory");
    for (int epoch = done; !rc && epoch < o.epochs; epoch++) {
        rc = tr_epoch(&r, &o, &data, epoch, last_good);
        r.tstate[1] = (float)(epoch + 1);
        if (!rc && writer && cnnrt_save(save, r.file, r.nfile, r.state, r.nstate, *r.step) < 0)
            rc = cnnrt_tr_error(mod, "cannot write the checkpoint '%s': %s", save, strerror(errno));
        last_good = save;
        if (!rc && r.vn > 0 && tr_better(mod, &b, &r, epoch + 1) && o.save_best && writer &&
            cnnrt_save(best, r.params, r.nparams, r.state, r.nstate, *r.step) < 0)
            rc = cnnrt_tr_error(mod, "cannot write the checkpoint '%s': %s", best, strerror(errno));
    }
    if (!rc && done < o.epochs)
        tr_summary(&o, &r, &b, save, o.save_best ? best : NULL);
    if (!rc && done < o.epochs && o.dist && writer)
        o.dist->report(o.dist);
    if (!rc && prof && writer)
        cnnrt_prof_report(prof, stdout, 0, 5);
    if (prof)
        mod->profile(r.m, NULL);
    cnnrt_prof_free(prof);
    free(best);
out:
    cnnrt_loader_free(data.ltrain);
    cnnrt_loader_free(data.lval);
    cnnrt_loader_free(data.late);
    free(data.lateaug);
    cnnrt_data_close(data.train);
    cnnrt_data_close(data.val);
    trlog_close(&r.log);
    cnnrt_tr_free(&r);
    return rc;
}

/* a model with weights loaded, for eval and predict */
int cnnrt_tr_load_weights(tr_run *r, const tr_opts *o)
{
    char err[TR_ERRLEN];
    int rc = tr_setup(r, o->mod, o->mod->seed);
    if (!rc && cnnrt_load(o->weights, r->params, r->nparams, NULL, 0, NULL,
                          err, sizeof err) < 0)
        rc = cnnrt_tr_error(o->mod, "%s", err);
    if (!rc)
        o->mod->set_training(r->m, 0);
    return rc;
}

static int tr_eval(const tr_opts *o)
{
    tr_run r;
    cnnrt_dataset *d = NULL;
    cnnrt_loader *l = NULL;
    double loss, acc;
    long n = 0;
    int rc = cnnrt_tr_load_weights(&r, o);
    r.dist = o->dist;         /* eval splits the set across the ranks */
    if (!rc && !(d = tr_open(&r, o->args[0], o->labels, 1)))
        rc = 1;
    if (!rc && !(l = cnnrt_tr_loader(&r, d, NULL, 0)))
        rc = 1;
    if (!rc && cnnrt_tr_boxes(o->mod)) {     /* a detector: mAP and per-class AP */
        char err[TR_ERRLEN];
        tr_det_result res;     /* _detect runs the model in eval mode */
        if (cnnrt_trdet_map(o->mod, r.m, d, l, &res, err, sizeof err) < 0)
            rc = cnnrt_tr_error(o->mod, "%s", err);
        else
            cnnrt_trdet_print(&res, d, o->mod->classes);
        cnnrt_trdet_free(&res);
    } else {
        if (!rc && (n = tr_evaluate(&r, d, l, &loss, &acc)) < 0)
            rc = 1;
        if (!rc && o->mod->loss)
            printf("test: loss %.4f  accuracy %.2f%%  (%ld images)\n", loss, 100 * acc, n);
        else if (!rc)
            printf("test: accuracy %.2f%%  (%ld images)\n", 100 * acc, n);
        if (!rc && cnnrt_loader_skipped(l))
            printf("(%d unreadable file%s skipped)\n", cnnrt_loader_skipped(l),
                   cnnrt_loader_skipped(l) == 1 ? "" : "s");
    }
    cnnrt_loader_free(l);
    cnnrt_data_close(d);
    cnnrt_tr_free(&r);
    return rc;
}

int cnnrt_main(const cnnrt_model *model, int argc, char **argv)
{
    return cnnrt_tr_main(model, NULL, argc, argv);
}

int cnnrt_tr_main(const cnnrt_model *model, tr_dist *dist, int argc, char **argv)
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
        return cnnrt_tr_error(model, "the model's description is inconsistent (batch %d, input "
                        "%dx%dx%d = %d, output %d): a bug in the generated code",
                        model->batch, model->in_c, model->in_h, model->in_w,
                        model->in_size, model->out_size);
    tr_opts o;
    int rc = tr_parse(model, argc, argv, dist, &o);
    if (rc == 0)
        rc = o.cmd == CMD_TRAIN ? tr_train(&o) : o.cmd == CMD_EVAL ? tr_eval(&o)
            : cnnrt_tr_predict(&o);
    else
        rc = rc == 2 ? 0 : 1;
    free(o.args);
    fflush(stdout);
    return rc;
}
