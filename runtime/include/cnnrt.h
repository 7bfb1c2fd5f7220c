/* cnnrt.h — the core of the cnnc runtime: everything generated code calls
 * (the kernels, the losses, the optimizers, the RNG and initialisation,
 * .cnnw parameter and checkpoint files).  The library is libcnnrt_core.a;
 * it needs only libc, libm and pthreads (no pthreads when built with
 * -DCNNRT_NO_THREADS), and it is what `cnnc --embed-runtime`
 * copies into a model's C file.  Data sets are in cnnrt_data.h, the
 * generated trainer in cnnrt_train.h.
 *
 * It is not a framework: there is no graph, no tensor type with ownership,
 * no allocation inside kernels (but the thread pool's per-thread scratch,
 * made once, core/threads.c).  Every kernel works on caller-owned float
 * buffers laid out NCHW with the batch first, and every scratch buffer it
 * needs is passed in (the compiler plans it).
 *
 * Conventions shared by every kernel:
 *   - the first argument is the kernel context (cnnrt_abi.h): ctx->scratch
 *     is the call's scratch (only conv uses one today; a conv call with a
 *     NULL context or scratch is a programming error: it prints a message
 *     and aborts, as a failed assert would); the others accept ctx == NULL;
 *   - n is the number of samples in the call (1 <= n <= the model's BATCH);
 *   - `_forward` overwrites its output;
 *   - `_backward` OVERWRITES the gradient of its inputs (dx, may be NULL when
 *     nobody needs it) and ADDS to the gradients of its parameters (dw, db),
 *     so gradients accumulate across backward calls until zeroed;
 *   - `act` is an epilogue activation fused into a producer (CNNRT_ACT_*),
 *     with `alpha` its slope for leaky relu; a backward that takes `act`
 *     first turns dy (in place) into the gradient before the activation,
 *     using the saved output y.
 *
 * Failures, one way across the runtime (core, data, train): a function
 * that can fail, running out of memory included, returns its error (NULL
 * or -1, "'PATH': out of memory" or similar in err, errno ENOMEM where
 * the function documents errno) and the caller reports it; nothing in the
 * runtime calls exit().  abort() is kept for a broken kernel contract
 * only (an unknown activation, a conv without its context or scratch):
 * a bug in the caller, reported like a failed assert, never bad input.
 */
#ifndef CNNRT_H
#define CNNRT_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>              /* FILE, for cnnrt_out */

#include "cnnrt_abi.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- deterministic RNG (splitmix64-seeded xoshiro256**) ---- */
typedef struct { uint64_t s[4]; } cnnrt_rng;
void     cnnrt_rng_seed(cnnrt_rng *r, uint64_t seed);
uint64_t cnnrt_rng_next(cnnrt_rng *r);
double   cnnrt_rng_uniform(cnnrt_rng *r);             /* [0, 1) */
float    cnnrt_rng_normal(cnnrt_rng *r);              /* N(0, 1) */
double   cnnrt_rng_gamma(cnnrt_rng *r, double shape); /* Gamma(shape, 1) */
double   cnnrt_rng_beta(cnnrt_rng *r, double a, double b);
void     cnnrt_shuffle(cnnrt_rng *r, int *idx, int n);

/* ---- threads (core/threads.c) ----
 * Kernels split their work over the threads of their context: ctx->threads
 * of them (0, what generated code sets: the process default below), from
 * ctx->pool (NULL: the process-wide pool, started on first use; or a pool
 * of cnnrt_threadpool_new, e.g. one per model when models run on several
 * threads at once).  Outputs, gradients and parameters are bit-identical
 * for any thread count.  Built with -DCNNRT_NO_THREADS the runtime has no
 * threads and needs no pthreads: everything runs on the caller's thread. */
#define CNNRT_MAX_THREADS 256
/* the CPUs this process may run on (its affinity mask), at least 1 */
int  cnnrt_cpus(void);
/* The process default: n >= 1 threads, or n <= 0 for the CNNRT_THREADS
 * environment variable, else cnnrt_cpus().  Returns the default in force
 * (at most CNNRT_MAX_THREADS).  Call it between kernel calls, not during. */
int  cnnrt_set_threads(int n);
int  cnnrt_threads(void);           /* the process default */
int  cnnrt_threads_env(void);       /* CNNRT_THREADS if valid (1..MAX), else 0 */
/* this context alone: n >= 1 threads, 0 the process default */
void cnnrt_ctx_set_threads(cnnrt_ctx *ctx, int n);
typedef struct cnnrt_threadpool cnnrt_threadpool;
cnnrt_threadpool *cnnrt_threadpool_new(int threads);   /* NULL: out of memory */
void cnnrt_threadpool_free(cnnrt_threadpool *p);       /* no call may be running */
/* (the process pool survives fork(): a child starts its own workers; a
 * pool of cnnrt_threadpool_new belongs to the process that made it) */
/* Seconds each thread of the process pool spent inside kernel work since
 * the last reset, into sec[0..max); returns the threads it has. */
int  cnnrt_thread_busy(double *sec, int max, int reset);

/* ---- initialisation (PyTorch defaults) ---- */
/* weight: Kaiming-uniform a=sqrt(5) (bound 1/sqrt(fan_in)) by default,
 * he: U(+-sqrt(6/fan_in)), xavier: U(+-sqrt(6/(fan_in+fan_out))), zeros. */
void cnnrt_init_weight(cnnrt_rng *r, int how, float *w, long size, long fan_in, long fan_out);
/* bias: U(+-1/sqrt(fan_in)), zeros for `zeros`. */
void cnnrt_init_bias(cnnrt_rng *r, int how, float *b, long size, long fan_in);
void cnnrt_fill(float *p, long size, float v);

/* ---- convolution ---- */
/* ctx->scratch holds cnnrt_conv_scratch(g) floats (cnnrt_abi.h) per
 * thread of the context */
void cnnrt_conv_forward(cnnrt_ctx *ctx, const cnnrt_conv *g, int n, const float *x,
                        const float *w, const float *b, float *y,
                        int act, float alpha);
/* dy is modified in place when act != NONE; x is needed for dw, w for dx. */
void cnnrt_conv_backward(cnnrt_ctx *ctx, const cnnrt_conv *g, int n, const float *x,
                         const float *w, const float *y, float *dy,
                         int act, float alpha,
                         float *dx, float *dw, float *db);

/* ---- fully connected: y[n][out] = x[n][in] . w[out][in]^T + b ---- */
void cnnrt_dense_forward(cnnrt_ctx *ctx, int n, int in, int out, const float *x,
                         const float *w, const float *b, float *y,
                         int act, float alpha);
void cnnrt_dense_backward(cnnrt_ctx *ctx, int n, int in, int out, const float *x,
                          const float *w, const float *y, float *dy,
                          int act, float alpha,
                          float *dx, float *dw, float *db);

/* ---- elementwise activations over len floats (y may alias x) ---- */
void cnnrt_act_forward(cnnrt_ctx *ctx, int act, float alpha, long len, const float *x, float *y);
/* x may be NULL except for SILU; y may be NULL only for SILU; dx may alias dy */
void cnnrt_act_backward(cnnrt_ctx *ctx, int act, float alpha, long len, const float *x,
                        const float *y, const float *dy, float *dx);

/* ---- prelu: one slope per channel, hw pixels per channel ---- */
void cnnrt_prelu_forward(cnnrt_ctx *ctx, int n, int c, int hw, const float *x, const float *a,
                         float *y);
void cnnrt_prelu_backward(cnnrt_ctx *ctx, int n, int c, int hw, const float *x, const float *a,
                          const float *dy, float *dx, float *da);

/* ---- pooling (floor mode) ---- */
/* Padding never wins the max.  idx (may be NULL) receives, per output, the
 * position of its window's first maximum within the input plane (h*w, as
 * a float: exact below 2^24); -1 when no cell is above -inf.  The backward
 * routes dy through idx, or recomputes the positions from x when idx is
 * NULL, so a training graph can keep idx (a quarter of x for 2x2 pooling)
 * instead of x. */
void cnnrt_maxpool_forward(cnnrt_ctx *ctx, const cnnrt_pool *g, int n, const float *x,
                           float *y, float *idx);
void cnnrt_maxpool_backward(cnnrt_ctx *ctx, const cnnrt_pool *g, int n, const float *x,
                            const float *idx, const float *dy, float *dx);
/* the divisor is kh*kw, counting padded cells */
void cnnrt_avgpool_forward(cnnrt_ctx *ctx, const cnnrt_pool *g, int n, const float *x, float *y);
void cnnrt_avgpool_backward(cnnrt_ctx *ctx, const cnnrt_pool *g, int n, const float *dy, float *dx);
void cnnrt_gap_forward(cnnrt_ctx *ctx, int n, int c, int hw, const float *x, float *y);
void cnnrt_gap_backward(cnnrt_ctx *ctx, int n, int c, int hw, const float *dy, float *dx);

/* ---- softmax over c channels, independently at each of hw pixels ---- */
void cnnrt_softmax_forward(cnnrt_ctx *ctx, int n, int c, int hw, const float *x, float *y);
void cnnrt_softmax_backward(cnnrt_ctx *ctx, int n, int c, int hw, const float *y,
                            const float *dy, float *dx);

/* ---- batchnorm; mean/invstd are per-channel values saved for backward ---- */
void cnnrt_batchnorm_forward(cnnrt_ctx *ctx, int n, int c, int hw, const float *x,
                             const float *gamma, const float *beta,
                             float *rmean, float *rvar, float momentum,
                             float eps, int training, float *y,
                             float *mean, float *invstd, int act, float alpha);
/* dy is modified in place when act != NONE (y: the saved output) */
void cnnrt_batchnorm_backward(cnnrt_ctx *ctx, int n, int c, int hw, const float *x,
                              const float *gamma, const float *mean,
                              const float *invstd, const float *y, float *dy,
                              int act, float alpha,
                              float *dx, float *dgamma, float *dbeta);

/* ---- batchnorm folded into the conv before it (inference): per filter f,
 * s = gamma/sqrt(var+eps); fw = w*s; fb = (b - mean)*s + beta (b may be
 * NULL).  per = floats of weight per filter. ---- */
void cnnrt_fold_batchnorm(cnnrt_ctx *ctx, int filters, long per, const float *w, const float *b,
                          const float *gamma, const float *beta, const float *mean,
                          const float *var, float eps, float *fw, float *fb);

/* ---- inverted dropout; mask holds 0 or 1/(1-p) ---- */
void cnnrt_dropout_forward(cnnrt_ctx *ctx, cnnrt_rng *r, float p, int training, long len,
                           const float *x, float *y, float *mask);
void cnnrt_dropout_backward(cnnrt_ctx *ctx, long len, const float *mask, const float *dy,
                            float *dx);

/* ---- nearest-neighbour upsampling by an integer factor ---- */
void cnnrt_upsample_forward(cnnrt_ctx *ctx, int n, int c, int h, int w, int f, const float *x,
                            float *y);
void cnnrt_upsample_backward(cnnrt_ctx *ctx, int n, int c, int h, int w, int f,
                             const float *dy, float *dx);

/* ---- concat along channels: part i has sizes[i] floats per sample ---- */
void cnnrt_concat_forward(cnnrt_ctx *ctx, int n, int k, const float *const *xs,
                          const long *sizes, float *y);
void cnnrt_concat_backward(cnnrt_ctx *ctx, int n, int k, const long *sizes, const float *dy,
                           float *const *dxs);

/* ---- elementwise sum of equal shapes (also sums gradient fan-in) ---- */
/* with an epilogue activation (act, alpha) fused in; y may alias a or b */
void cnnrt_add_forward(cnnrt_ctx *ctx, long len, const float *a, const float *b, float *y,
                       int act, float alpha);

/* ---- losses: return the loss, WRITE dz (the gradient wrt the logits or
 * predictions).  count = n * floats per sample. ---- */
/* softmax + cross entropy over c channels per pixel: mean over the batch of
 * -sum y ln p, computed from the logits z by log-sum-exp; dz = (p - y)/n */
float cnnrt_xent_loss(cnnrt_ctx *ctx, int n, int c, int hw, const float *z, const float *p,
                      const float *target, float *dz);
/* sigmoid + bce: mean over elements, log-sum-exp form; dz = (p - y)/count */
float cnnrt_bce_loss(cnnrt_ctx *ctx, long count, const float *z, const float *p,
                     const float *target, float *dz);
/* mse: mean over elements of (p - y)^2; dp = 2(p - y)/count */
float cnnrt_mse_loss(cnnrt_ctx *ctx, long count, const float *p, const float *target, float *dp);

/* ---- optimizers over a whole parameter buffer (PyTorch's formulas).
 * g includes wd*w when wd != 0; each zeroes g after the step.  State
 * buffers start at zero; step counts updates from 1 (sgd: at step 1 the
 * momentum buffer is set to g, as PyTorch's first step). ---- */
void cnnrt_sgd_update(cnnrt_ctx *ctx, long size, float *w, float *g, float *v, float lr,
                      float momentum, float wd, int nesterov, long step);
void cnnrt_adagrad_update(cnnrt_ctx *ctx, long size, float *w, float *g, float *r, float lr,
                          float eps, float wd);
void cnnrt_rmsprop_update(cnnrt_ctx *ctx, long size, float *w, float *g, float *r, float lr,
                          float rho, float eps, float wd);
/* step t starts at 1 */
void cnnrt_adam_update(cnnrt_ctx *ctx, long size, float *w, float *g, float *s, float *r,
                       float lr, float b1, float b2, float eps, float wd, long t);

/* ---- around the optimizer step (core/sched.c): learning-rate schedules,
 * gradient clipping, EMA of the weights (docs/LANGUAGE-EXT.md) ---- */
enum { CNNRT_SCHED_CONST, CNNRT_SCHED_STEP, CNNRT_SCHED_COSINE };
typedef struct {
    int kind;               /* CNNRT_SCHED_* */
    float lr;               /* the optimizer's lr */
    int every;              /* step: epochs between decays */
    float gamma;            /* step: factor per decay */
    float warmup;           /* cosine: warm-up epochs */
    float min_ratio;        /* cosine: floor, as a fraction of lr */
} cnnrt_sched;
/* The lr of update `step` (from 1) when an epoch has steps_per_epoch
 * updates and training lasts `epochs` epochs. */
float cnnrt_lr_at(const cnnrt_sched *s, long step, long steps_per_epoch, int epochs);
/* Scales g so that its 2-norm is at most max_norm; returns the norm before.
 * ctx may be NULL. */
float cnnrt_clip_grad_norm(cnnrt_ctx *ctx, long size, float *g, float max_norm);
/* ema = d*ema + (1-d)*w, d = decay*(1 - exp(-updates/2000)); ctx may be NULL */
void cnnrt_ema_update(cnnrt_ctx *ctx, long size, float *ema, const float *w, float decay,
                      long updates);

/* ---- .cnnw parameter and checkpoint files ---- */
/* Writes params, then (if nstate > 0) the optimizer state tensors and the
 * step count, then a CRC-32; through cnnrt_out (below).  0, or -1 with errno. */
int cnnrt_save(const char *path, const cnnrt_tensor *params, int nparams,
               const cnnrt_tensor *state, int nstate, long step);
/* Writing a file safely (core/safefile.c): the data goes to a new file made
 * exclusively (O_CREAT|O_EXCL|O_NOFOLLOW, fresh name) beside PATH; close
 * flushes, fsyncs, renames it over PATH and fsyncs the directory, or with
 * ok == 0 (or on any failure) removes it.  A PATH that exists and is not a
 * regular file (/dev/null, a pipe) is written in place.  0, or -1 with
 * "'PATH': reason" in err and errno set. */
typedef struct {
    FILE *f;                /* write here between open and close */
    const char *path;
    char *tmp;              /* NULL when writing in place */
} cnnrt_out;
int cnnrt_out_open(cnnrt_out *o, const char *path, char *err, size_t errlen);
int cnnrt_out_close(cnnrt_out *o, int ok, char *err, size_t errlen);

/* Loads into the tensors given (names and shapes must match).  state may be
 * NULL (a plain parameter load); *step gets the step count (0 when the file
 * has no state).  0, or -1 with a message in err. */
int cnnrt_load(const char *path, const cnnrt_tensor *params, int nparams,
               const cnnrt_tensor *state, int nstate, long *step,
               char *err, size_t errlen);
/* Details of cnnrt_load (runtime/core/cnnw.c):
 *   - the whole file is read and checked (magic, version, structure, CRC,
 *     every name and shape) before any tensor is written: on failure
 *     nothing has changed;
 *   - a file with state loaded with state == NULL: the state is checked by
 *     the CRC but not loaded (a checkpoint is a valid parameter file);
 *   - a file without state loaded with state != NULL: the parameters load,
 *     the state tensors are left untouched and *step is 0 — callers that
 *     need the state must tell by a state tensor of their own (the trainer
 *     keeps "trainer.state");
 *   - step may be NULL; otherwise it gets the file's step count whenever
 *     the file has one, whether or not state is loaded;
 *   - err gets "'PATH': " and then e.g. "not a .cnnw file", "truncated ...",
 *     "CRC mismatch: the file is corrupt", "tensor 3 is 'conv2.weight'
 *     [16,6,5,5] in the file but the model has 'conv2.weight' [16,6,3,3]";
 *     errno is set too (EINVAL for a bad file). */
/* CRC-32 as zlib's crc32(): start with crc = 0 and chain calls. */
uint32_t cnnrt_crc32(uint32_t crc, const void *p, size_t len);

/* ---- files (file.c) ---- */
/* The whole file as it is.  malloc'd, *len bytes; NULL with "'PATH':
 * reason" in err and errno set. */
unsigned char *cnnrt_read_plain(const char *path, size_t *len, char *err, size_t errlen);
/* err = "'PATH': " followed by the formatted message (err may be NULL) */
void cnnrt_errorf(char *err, size_t errlen, const char *path, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* ---- per-layer profile (prof.c) ----
 * Generated code describes each of its kernel calls as a site (layer, op,
 * .cnn line, phase, FLOPs per sample) and, while a profile is attached
 * (<m>_profile(m, p); the trainer's --profile), marks the end of every
 * call: the time since the previous mark (or the start of the phase) is
 * the call's.  Detached, the cost is one NULL test per call.  The phases
 * are CNNRT_PROF_* (cnnrt_abi.h). */
typedef struct {
    const char *layer;      /* "conv1"; the kernel for model-level calls */
    const char *op;         /* "conv+relu" */
    int line;               /* in the .cnn file; 0 for model-level calls */
    int phase;              /* CNNRT_PROF_* */
    double flops;           /* per sample (2 per multiply-add); 0: not counted */
} cnnrt_prof_site;
typedef struct cnnrt_prof cnnrt_prof;

cnnrt_prof *cnnrt_prof_new(void);               /* NULL when out of memory */
void cnnrt_prof_free(cnnrt_prof *p);            /* NULL is fine */
/* what <m>_profile calls: the model's sites (the counts restart); -1 when
 * out of memory */
int  cnnrt_prof_sites(cnnrt_prof *p, const cnnrt_prof_site *sites, int n);
void cnnrt_prof_start(cnnrt_prof *p);           /* a phase begins */
void cnnrt_prof_mark(cnnrt_prof *p, int site, int n);   /* a call of n samples ended */
/* The table: per site its time per call and share, GFLOP/s and % of the
 * one-thread FMA peak (cnnrt_peak_gflops, measured here unless peak > 0),
 * each phase's total, and the `top` sites by time. */
void cnnrt_prof_report(const cnnrt_prof *p, FILE *out, double peak, int top);
/* GFLOP/s of independent FMA chains on one thread with the widest vector
 * unit the CPU has (AVX-512, AVX2+FMA, else baseline), best of `seconds` */
double cnnrt_peak_gflops(double seconds);

#ifdef __cplusplus
}
#endif

#endif
