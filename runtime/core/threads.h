/* threads.h — internal to the runtime's kernels: running a kernel's work
 * on the threads of its context (threads.c).  Not part of the public API;
 * cnnrt.h has what users set (cnnrt_set_threads and friends).
 *
 * The one primitive is a static split: cnnrt_par_for(ctx, n, grain, ...)
 * cuts [0, n) into at most T contiguous ranges whose bounds are multiples
 * of `grain` (the last range ends at n) and runs fn once per range, range t
 * on thread t (0 is the caller), and returns when all are done.  Which
 * element lands on which thread never changes what is computed for it:
 * kernels split only along axes where every output element is computed by
 * one range, in the serial order (see each kernel), so the numbers are the
 * same for every thread count.  With a NULL context, a context of one
 * thread, a pool busy with another call (a nested call, or a second model
 * on another thread), or no threads compiled in (CNNRT_NO_THREADS), fn runs
 * once over [0, n) on the caller's thread.
 */
#ifndef CNNRT_THREADS_H
#define CNNRT_THREADS_H

#include "cnnrt.h"

/* the work of thread `tid` on items [lo, hi) */
typedef void (*cnnrt_par_fn)(void *arg, int tid, long lo, long hi);

/* Threads a call with this context would use (1 for a NULL context). */
int cnnrt_par_threads(const cnnrt_ctx *ctx);

/* Runs fn over [0, n) as the top of the file says.  scratch > 0: every
 * thread needs that many floats of its own (cnnrt_par_scratch); thread 0
 * has the context's planned ctx->scratch, the others get the pool's
 * (allocated here, kept for later calls; where that fails, fewer threads
 * run, which changes no number). */
void cnnrt_par_for(cnnrt_ctx *ctx, long n, long grain, long scratch,
                   cnnrt_par_fn fn, void *arg);

/* Inside fn: the scratch of thread tid (ctx->scratch for thread 0). */
float *cnnrt_par_scratch(cnnrt_ctx *ctx, int tid);

/* Is splitting `work` (about one float operation a unit) over the
 * context's threads worth a wake-up?  Below CNNRT_PAR_MIN per thread it
 * is not; the kernels then run their serial code.  Never affects numbers.
 * The environment variable CNNRT_SPLIT_MIN replaces CNNRT_PAR_MIN (read
 * once; the tests set 0 so that small models split every kernel).
 * 2^20: a call that small takes about 10 us on one thread, the cost of a
 * wake-up and a wait for the slowest thread (measured at 2 threads: LeNet-5
 * training 30.9k -> 47.2k img/s, batch-1 inference 67.7 -> 9.1 us, against
 * 16384; VGG-style training 1433 -> 1469 img/s). */
#define CNNRT_PAR_MIN 1048576L
int cnnrt_par_worth(const cnnrt_ctx *ctx, double work);

/* conv.c's kernel-major weight gradient t[F][K] of n samples, split by
 * columns of t with each thread unfolding its own (conv_dw.c); 0 when the
 * call is too small to split (conv.c then runs its serial loop) */
int cnnrt_conv_dw_split(cnnrt_ctx *ctx, const cnnrt_conv *g, int n, const float *x,
                        const float *dy, float *t);

#endif
