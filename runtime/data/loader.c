/* loader.c — the input pipeline of training: the epoch's order, batches of
 * augmented samples, and the threads that make them ahead of time.
 *
 * Batch b of an epoch is positions [b*batch, (b+1)*batch) of the order,
 * each sample built by an augmenter (augment.c) from (seed, epoch, index)
 * alone; what a batch holds is therefore decided before any thread runs,
 * and threads only decide when it is ready.  Worker w makes batches w,
 * w + W, w + 2W, ... into slot b % S (S = W + 1 slots); it may start batch
 * b once the caller has released batch b - S, the previous user of that
 * slot.  The caller takes batches strictly in order and holds one slot
 * (the batch it is training on) until its next call.
 *
 * Invariants: slot[s].ready is the batch the slot holds, or -1; `released`
 * only grows within an epoch; a worker never writes a slot whose batch the
 * caller has not released; everything shared is read and written under
 * `mu`, except a slot's contents, which belong to its worker until
 * `ready` says otherwise.
 *
 * Not here: what a sample is (augment.c), decoding (image.c, yolo.c).
 */
#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L
#endif
#include "cnnrt_data.h"
#include "data.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define LD_MAX_THREADS 64
#define LD_ERRLEN 1024

typedef struct {
    float *x, *t;               /* [batch][insize], [batch][tsize] */
    cnnrt_box *box;             /* [batch][boxcap] */
    int *nbox, *index;          /* [batch] */
    int n;
    int ready;                  /* the batch held, -1 for none */
    int rc;                     /* -1 when making it failed: err */
    char err[LD_ERRLEN];
} ld_slot;

typedef struct {
    cnnrt_loader *l;
    int id;
    cnnrt_augmenter *aug;
    pthread_t thread;
} ld_worker;

struct cnnrt_loader {
    const cnnrt_dataset *d;
    int batch, insize, tsize, boxcap;
    int nworkers;               /* threads an epoch starts; 0: none */
    int nslot;
    ld_slot *slot;
    ld_worker *worker;          /* [max(nworkers, 1)]; worker[0].aug also serves
                                   the caller's thread when no thread runs */
    int *order;                 /* [count]: the epoch's order */
    uint64_t seed;
    int epoch, nbatch;
    int next;                   /* the next batch to hand out */
    int released;               /* batches the caller is done with */
    int running;                /* workers started for this epoch */
    int stop;
    unsigned char *bad;         /* [count]: its file turned out unreadable */
    int nbad;
    pthread_mutex_t mu;
    pthread_cond_t cv;
};

/* an unreadable file: counted and warned about once */
static void ld_bad(void *ctx, int i, const char *err)
{
    cnnrt_loader *l = ctx;
    pthread_mutex_lock(&l->mu);
    if (!l->bad[i]) {
        l->bad[i] = 1;
        l->nbad++;
        cnnrt_warn("%s; skipped", err);
    }
    pthread_mutex_unlock(&l->mu);
}

/* Batch b into slot s, using the augmenter a of the thread that calls. */
static void ld_make(cnnrt_loader *l, cnnrt_augmenter *a, int b, ld_slot *s)
{
    int from = b * l->batch, to = from + l->batch;
    to = to < l->d->count ? to : l->d->count;
    s->n = 0;
    s->rc = 0;
    for (int pos = from; pos < to; pos++) {
        int i = l->order[pos], k = s->n;
        int rc = cnnrt_augmenter_get(a, l->seed, l->epoch, i, s->x + (size_t)k * l->insize,
                                     s->t + (size_t)k * l->tsize,
                                     s->box + (size_t)k * l->boxcap, &s->nbox[k],
                                     s->err, sizeof s->err);
        if (rc < 0) {
            s->rc = -1;
            return;
        }
        if (rc == 1) {
            ld_bad(l, i, s->err);
            continue;
        }
        s->index[k] = i;
        s->n++;
    }
}

static void *ld_work(void *arg)
{
    ld_worker *w = arg;
    cnnrt_loader *l = w->l;
    for (int b = w->id; b < l->nbatch; b += l->nworkers) {
        ld_slot *s = &l->slot[b % l->nslot];
        pthread_mutex_lock(&l->mu);
        while (!l->stop && b - l->released >= l->nslot)
            pthread_cond_wait(&l->cv, &l->mu);
        int stop = l->stop;
        pthread_mutex_unlock(&l->mu);
        if (stop)
            break;
        ld_make(l, w->aug, b, s);
        pthread_mutex_lock(&l->mu);
        s->ready = b;
        pthread_cond_broadcast(&l->cv);
        pthread_mutex_unlock(&l->mu);
    }
    return NULL;
}

/* Stops the epoch's workers, if any, and waits for them. */
static void ld_join(cnnrt_loader *l)
{
    if (!l->running)
        return;
    pthread_mutex_lock(&l->mu);
    l->stop = 1;
    pthread_cond_broadcast(&l->cv);
    pthread_mutex_unlock(&l->mu);
    for (int w = 0; w < l->running; w++)
        pthread_join(l->worker[w].thread, NULL);
    l->running = 0;
}

void cnnrt_loader_start(cnnrt_loader *l, uint64_t seed, int epoch, int shuffle)
{
    ld_join(l);
    int n = l->d->count;
    for (int i = 0; i < n; i++)
        l->order[i] = i;
    if (shuffle) {
        /* the trainer's shuffle since the first version: (seed, epoch) alone */
        cnnrt_rng rng;
        cnnrt_rng_seed(&rng, seed ^ (0x9E3779B97F4A7C15ull * (uint64_t)(epoch + 1)));
        cnnrt_shuffle(&rng, l->order, n);
    }
    l->seed = seed;
    l->epoch = epoch;
    l->nbatch = (n + l->batch - 1) / l->batch;
    l->next = l->released = 0;
    l->stop = 0;
    for (int s = 0; s < l->nslot; s++)
        l->slot[s].ready = -1;
    for (int w = 0; w < l->nworkers; w++) {
        if (pthread_create(&l->worker[w].thread, NULL, ld_work, &l->worker[w]) != 0) {
            /* the batches of the missing worker would never come: make
             * them all on the caller's thread instead */
            ld_join(l);
            l->stop = 0;
            for (int s = 0; s < l->nslot; s++)
                l->slot[s].ready = -1;
            return;
        }
        l->running = w + 1;
    }
}

int cnnrt_loader_next(cnnrt_loader *l, cnnrt_batch *b, char *err, size_t errlen)
{
    for (;;) {
        pthread_mutex_lock(&l->mu);
        l->released = l->next;          /* the caller is done with the last one */
        pthread_cond_broadcast(&l->cv);
        pthread_mutex_unlock(&l->mu);
        if (l->next >= l->nbatch) {
            ld_join(l);
            return 0;
        }
        int bn = l->next++;
        ld_slot *s = &l->slot[bn % l->nslot];
        if (l->running) {
            pthread_mutex_lock(&l->mu);
            while (s->ready != bn)
                pthread_cond_wait(&l->cv, &l->mu);
            pthread_mutex_unlock(&l->mu);
        } else {
            ld_make(l, l->worker[0].aug, bn, s);
        }
        if (s->rc < 0) {
            snprintf(err, errlen, "%s", s->err);
            ld_join(l);
            l->next = l->nbatch;
            return -1;
        }
        if (!s->n)                      /* every file of the batch unreadable */
            continue;
        b->n = s->n;
        b->x = s->x;
        b->target = s->t;
        b->index = s->index;
        b->box = s->box;
        b->nbox = s->nbox;
        b->boxcap = l->boxcap;
        return 1;
    }
}

int cnnrt_loader_skipped(const cnnrt_loader *l)
{
    return l->d->skipped + l->nbad;
}

static int ld_threads(int threads)
{
    if (threads >= 0)
        return threads < LD_MAX_THREADS ? threads : LD_MAX_THREADS;
    const char *env = getenv("CNNRT_LOADER_THREADS");
    if (env && *env >= '0' && *env <= '9')
        return ld_threads(atoi(env));
    int cpus = cnnrt_cpus();    /* the affinity mask's, as the kernels' threads */
    return cpus > 5 ? 4 : cpus > 2 ? cpus - 1 : 1;
}

void cnnrt_loader_free(cnnrt_loader *l)
{
    if (!l)
        return;
    ld_join(l);
    for (int s = 0; l->slot && s < l->nslot; s++) {
        free(l->slot[s].x);
        free(l->slot[s].t);
        free(l->slot[s].box);
        free(l->slot[s].nbox);
        free(l->slot[s].index);
    }
    for (int w = 0; l->worker && w < (l->nworkers ? l->nworkers : 1); w++)
        cnnrt_augmenter_free(l->worker[w].aug);
    free(l->slot);
    free(l->worker);
    free(l->order);
    free(l->bad);
    pthread_cond_destroy(&l->cv);
    pthread_mutex_destroy(&l->mu);
    free(l);
}

cnnrt_loader *cnnrt_loader_new(const cnnrt_dataset *d, int batch,
                               const cnnrt_augment *aug, int naug, int threads,
                               char *err, size_t errlen)
{
    cnnrt_loader *l = calloc(1, sizeof *l);
    if (!l) {
        cnnrt_errorf(err, errlen, d->path, "out of memory");
        return NULL;
    }
    pthread_mutex_init(&l->mu, NULL);
    pthread_cond_init(&l->cv, NULL);
    l->d = d;
    l->batch = batch > 0 ? batch : 1;
    l->insize = d->c * d->h * d->w;
    l->tsize = d->tsize;
    l->nworkers = ld_threads(threads);
    l->nslot = l->nworkers + 1;
    int naugs = l->nworkers ? l->nworkers : 1;
    l->worker = calloc((size_t)naugs, sizeof *l->worker);
    l->slot = calloc((size_t)l->nslot, sizeof *l->slot);
    l->order = malloc(sizeof *l->order * (size_t)(d->count ? d->count : 1));
    l->bad = calloc((size_t)(d->count ? d->count : 1), 1);
    if (!l->worker || !l->slot || !l->order || !l->bad)
        goto oom;
    for (int w = 0; w < naugs; w++) {
        l->worker[w].l = l;
        l->worker[w].id = w;
        l->worker[w].aug = cnnrt_augmenter_new(d, aug, naug, ld_bad, l, err, errlen);
        if (!l->worker[w].aug) {
            cnnrt_loader_free(l);
            return NULL;
        }
    }
    l->boxcap = cnnrt_augmenter_boxcap(l->worker[0].aug);
    size_t b = (size_t)l->batch;
    for (int s = 0; s < l->nslot; s++) {
        ld_slot *sl = &l->slot[s];
        sl->x = malloc(sizeof *sl->x * b * (size_t)l->insize);
        sl->t = malloc(sizeof *sl->t * b * (size_t)(l->tsize ? l->tsize : 1));
        sl->box = malloc(sizeof *sl->box * b * (size_t)(l->boxcap ? l->boxcap : 1));
        sl->nbox = malloc(sizeof *sl->nbox * b);
        sl->index = malloc(sizeof *sl->index * b);
        sl->ready = -1;
        if (!sl->x || !sl->t || !sl->box || !sl->nbox || !sl->index)
            goto oom;
    }
    return l;
oom:
    cnnrt_errorf(err, errlen, d->path, "out of memory for the batches");
    cnnrt_loader_free(l);
    return NULL;
}
