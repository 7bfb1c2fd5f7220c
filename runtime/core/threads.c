/* threads.c — the runtime's thread pool and cnnrt_par_for (threads.h), and
 * the thread settings of cnnrt.h: cnnrt_set_threads, CNNRT_THREADS, the
 * CPUs of the affinity mask.
 *
 * A pool is worker threads 1..nworkers (the caller is thread 0) that sleep
 * on a condition variable until a call publishes a job: a new generation
 * number, the function, [0, n), the grain and the threads it uses.  Each
 * worker runs its one range, the last to finish wakes the caller, who ran
 * range 0 meanwhile.  One job at a time: a call that finds the pool busy
 * (a kernel called from inside another's range, or a second model on
 * another thread) runs serially instead, which gives the same numbers.
 * The process pool (ctx->pool == NULL) starts workers on demand, up to the
 * most threads any call asked for; a pool of cnnrt_threadpool_new has a
 * fixed size.  Per-thread scratch for threads >= 1 lives in the pool and
 * only grows.  Each thread's time inside ranges is summed for
 * cnnrt_thread_busy (the load balance `make bench` prints).
 *
 * With -DCNNRT_NO_THREADS there is no pthreads code at all: every call
 * runs on the caller's thread, the counts are 1.
 * Not here: what kernels split (each kernel file says), work stealing,
 * dynamic scheduling — ranges are static so that they never move numbers.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE         /* sched_getaffinity, when this file is compiled alone */
#endif
#include "cnnrt.h"
#include "threads.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>
#ifndef CNNRT_NO_THREADS
#include <pthread.h>
#include <sched.h>
#include <unistd.h>
#endif

static int par_default;     /* cnnrt_set_threads; 0: not yet decided */

static int par_clamp(long n)
{
    return n < 1 ? 1 : n > CNNRT_MAX_THREADS ? CNNRT_MAX_THREADS : (int)n;
}

/* CNNRT_THREADS as a whole number from 1 to CNNRT_MAX_THREADS, else 0 */
int cnnrt_threads_env(void)
{
    const char *s = getenv("CNNRT_THREADS");
    char *end;
    if (!s || *s < '0' || *s > '9')
        return 0;
    long v = strtol(s, &end, 10);
    return *end || v < 1 || v > CNNRT_MAX_THREADS ? 0 : (int)v;
}

int cnnrt_set_threads(int n)
{
    if (n <= 0)
        n = cnnrt_threads_env();
    par_default = n > 0 ? par_clamp(n) : par_clamp(cnnrt_cpus());
    return par_default;
}

int cnnrt_threads(void)
{
    return par_default ? par_default : cnnrt_set_threads(0);
}

void cnnrt_ctx_set_threads(cnnrt_ctx *ctx, int n)
{
    ctx->threads = n > 0 ? par_clamp(n) : 0;
}

static double par_now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

#ifdef CNNRT_NO_THREADS

int cnnrt_cpus(void) { return 1; }
int cnnrt_par_threads(const cnnrt_ctx *ctx) { (void)ctx; return 1; }
int cnnrt_par_worth(const cnnrt_ctx *ctx, double work) { (void)ctx; (void)work; return 0; }
float *cnnrt_par_scratch(cnnrt_ctx *ctx, int tid) { (void)tid; return ctx->scratch; }
cnnrt_threadpool *cnnrt_threadpool_new(int threads) { (void)threads; return NULL; }
void cnnrt_threadpool_free(cnnrt_threadpool *p) { (void)p; }

static double par_busy0;    /* the caller's time in kernels, as thread 0 */

void cnnrt_par_for(cnnrt_ctx *ctx, long n, long grain, long scratch,
                   cnnrt_par_fn fn, void *arg)
{
    (void)ctx; (void)grain; (void)scratch;
    double t0 = par_now();
    if (n > 0)
        fn(arg, 0, 0, n);
    par_busy0 += par_now() - t0;
}

int cnnrt_thread_busy(double *sec, int max, int reset)
{
    if (max > 0)
        sec[0] = par_busy0;
    if (reset)
        par_busy0 = 0;
    return 1;
}

#else

typedef struct {
    cnnrt_threadpool *p;
    int id;
    unsigned long seen;     /* the generation it last ran or skipped */
    pthread_t thread;
} par_worker;

struct cnnrt_threadpool {
    int cap;                /* threads at most, the caller included */
    int nworkers;           /* started: threads 1..nworkers */
    pthread_mutex_t mu;
    pthread_cond_t go, done;
    unsigned long gen;      /* bumped for each job */
    int busy;               /* a job runs (or a serial call is not needed) */
    int pending;            /* workers of the job still running */
    /* the job */
    cnnrt_par_fn fn;
    void *arg;
    long n, grain;
    int used;
    par_worker worker[CNNRT_MAX_THREADS];
    float *scratch[CNNRT_MAX_THREADS];
    long scratch_len[CNNRT_MAX_THREADS];
    double busy_sec[CNNRT_MAX_THREADS];
};

/* range t of `used` over [0, n) in units of grain */
static void par_range(long n, long grain, int used, int t, long *lo, long *hi)
{
    long units = (n + grain - 1) / grain;
    long u0 = units * t / used, u1 = units * (t + 1) / used;
    *lo = u0 * grain;
    *hi = u1 * grain < n ? u1 * grain : n;
}

int cnnrt_cpus(void)
{
#ifdef CPU_COUNT
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof set, &set) == 0 && CPU_COUNT(&set) > 0)
        return CPU_COUNT(&set);
#endif
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? par_clamp(n) : 1;
}

cnnrt_threadpool *cnnrt_threadpool_new(int threads)
{
    cnnrt_threadpool *p = calloc(1, sizeof *p);
    if (!p)
        return NULL;
    p->cap = par_clamp(threads);
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->go, NULL);
    pthread_cond_init(&p->done, NULL);
    return p;
}

/* the process pool, made on first use.  A child of fork() has none of its
 * workers: it starts over with its own (the pool's lock is held across
 * the fork so that the child's copy is consistent). */
static cnnrt_threadpool *par_process;
static pthread_once_t par_once = PTHREAD_ONCE_INIT;
static void par_fork_prepare(void) { pthread_mutex_lock(&par_process->mu); }
static void par_fork_parent(void) { pthread_mutex_unlock(&par_process->mu); }
static void par_fork_child(void)
{
    cnnrt_threadpool *p = par_process;
    p->nworkers = 0;
    p->busy = 0;
    p->pending = 0;
    /* the condition variables still count the parent's waiters: new ones */
    pthread_cond_init(&p->go, NULL);
    pthread_cond_init(&p->done, NULL);
    pthread_mutex_unlock(&p->mu);
}
static void par_make_process(void)
{
    par_process = cnnrt_threadpool_new(CNNRT_MAX_THREADS);
    if (par_process)
        pthread_atfork(par_fork_prepare, par_fork_parent, par_fork_child);
}

static cnnrt_threadpool *par_pool(const cnnrt_ctx *ctx)
{
    if (ctx && ctx->pool)
        return (cnnrt_threadpool *)ctx->pool;
    pthread_once(&par_once, par_make_process);
    return par_process;
}

int cnnrt_par_threads(const cnnrt_ctx *ctx)
{
    if (!ctx)
        return 1;
    int t = ctx->threads > 0 ? ctx->threads : cnnrt_threads();
    if (ctx->pool && t > ((cnnrt_threadpool *)ctx->pool)->cap)
        t = ((cnnrt_threadpool *)ctx->pool)->cap;
    return t;
}

/* CNNRT_PAR_MIN, or the number in CNNRT_SPLIT_MIN (tests set 0 so that
 * even their small models split every kernel that can) */
static double par_min(void)
{
    static double min = -1;
    if (min < 0) {
        const char *s = getenv("CNNRT_SPLIT_MIN");
        min = s && *s >= '0' && *s <= '9' ? atof(s) : (double)CNNRT_PAR_MIN;
    }
    return min;
}

int cnnrt_par_worth(const cnnrt_ctx *ctx, double work)
{
    int t = cnnrt_par_threads(ctx);
    return t > 1 && work >= 2.0 * par_min();
}

float *cnnrt_par_scratch(cnnrt_ctx *ctx, int tid)
{
    return tid == 0 ? ctx->scratch : par_pool(ctx)->scratch[tid];
}

static void par_run(cnnrt_threadpool *p, int id)
{
    long lo, hi;
    par_range(p->n, p->grain, p->used, id, &lo, &hi);
    double t0 = par_now();
    if (hi > lo)
        p->fn(p->arg, id, lo, hi);
    p->busy_sec[id] += par_now() - t0;
}

static void *par_work(void *arg)
{
    par_worker *w = arg;
    cnnrt_threadpool *p = w->p;
    pthread_mutex_lock(&p->mu);
    for (;;) {
        while (p->gen == w->seen)
            pthread_cond_wait(&p->go, &p->mu);
        w->seen = p->gen;
        if (p->used == 0)               /* cnnrt_threadpool_free */
            break;
        if (w->id >= p->used)
            continue;
        pthread_mutex_unlock(&p->mu);
        par_run(p, w->id);
        pthread_mutex_lock(&p->mu);
        if (--p->pending == 0)
            pthread_cond_signal(&p->done);
    }
    pthread_mutex_unlock(&p->mu);
    return NULL;
}

/* Under p->mu: workers and scratch for `want` threads; returns how many
 * threads are ready (at least 1). */
static int par_prepare(cnnrt_threadpool *p, int want, long scratch)
{
    while (p->nworkers + 1 < want) {
        par_worker *w = &p->worker[p->nworkers + 1];
        w->p = p;
        w->id = p->nworkers + 1;
        w->seen = p->gen;
        if (pthread_create(&w->thread, NULL, par_work, w) != 0)
            break;
        p->nworkers++;
    }
    if (want > p->nworkers + 1)
        want = p->nworkers + 1;
    for (int t = 1; t < want && scratch > 0; t++)
        if (p->scratch_len[t] < scratch) {
            float *s = malloc((size_t)scratch * sizeof *s);
            if (!s)
                return t;
            free(p->scratch[t]);
            p->scratch[t] = s;
            p->scratch_len[t] = scratch;
        }
    return want;
}

void cnnrt_par_for(cnnrt_ctx *ctx, long n, long grain, long scratch,
                   cnnrt_par_fn fn, void *arg)
{
    if (n <= 0)
        return;
    if (grain < 1)
        grain = 1;
    long units = (n + grain - 1) / grain;
    int want = cnnrt_par_threads(ctx);
    if (want > units)
        want = (int)units;
    cnnrt_threadpool *p = want > 1 ? par_pool(ctx) : NULL;
    if (!p) {
        fn(arg, 0, 0, n);
        return;
    }
    pthread_mutex_lock(&p->mu);
    if (p->busy) {                      /* nested, or another caller's job */
        pthread_mutex_unlock(&p->mu);
        fn(arg, 0, 0, n);
        return;
    }
    p->busy = 1;
    int used = want > 1 ? par_prepare(p, want, scratch) : 1;
    p->fn = fn;
    p->arg = arg;
    p->n = n;
    p->grain = grain;
    p->used = used;
    p->pending = used - 1;
    if (used > 1) {
        p->gen++;
        pthread_cond_broadcast(&p->go);
    }
    pthread_mutex_unlock(&p->mu);
    par_run(p, 0);
    pthread_mutex_lock(&p->mu);
    while (p->pending > 0)
        pthread_cond_wait(&p->done, &p->mu);
    p->busy = 0;
    pthread_mutex_unlock(&p->mu);
}

void cnnrt_threadpool_free(cnnrt_threadpool *p)
{
    if (!p)
        return;
    pthread_mutex_lock(&p->mu);
    p->used = 0;
    p->gen++;
    pthread_cond_broadcast(&p->go);
    pthread_mutex_unlock(&p->mu);
    for (int t = 1; t <= p->nworkers; t++)
        pthread_join(p->worker[t].thread, NULL);
    for (int t = 0; t < CNNRT_MAX_THREADS; t++)
        free(p->scratch[t]);
    pthread_cond_destroy(&p->go);
    pthread_cond_destroy(&p->done);
    pthread_mutex_destroy(&p->mu);
    free(p);
}

int cnnrt_thread_busy(double *sec, int max, int reset)
{
    cnnrt_threadpool *p = par_pool(NULL);
    if (!p)
        return 0;
    pthread_mutex_lock(&p->mu);
    int n = p->nworkers + 1;
    for (int t = 0; t < n && t < max; t++)
        sec[t] = p->busy_sec[t];
    if (reset)
        memset(p->busy_sec, 0, sizeof p->busy_sec);
    pthread_mutex_unlock(&p->mu);
    return n;
}

#endif
