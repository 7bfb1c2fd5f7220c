/* cnnrt_mpi.h — the data-parallel trainer of `cnnc --main --mpi` models
 * (libcnnrt_mpi.a, built with mpicc; nothing else in the runtime needs
 * MPI).  Under `mpirun -np N ./model train ...` every rank takes its slice
 * of each global batch, the gradients are summed across ranks as the
 * backward pass finishes each layer, and rank 0 prints and writes the
 * checkpoints.  Without mpirun the program runs as one process.
 */
#ifndef CNNRT_MPI_H
#define CNNRT_MPI_H

#include "cnnrt_train.h"

#ifdef __cplusplus
extern "C" {
#endif

/* called by the model's _backward with each gradient tensor once it is
 * final (MODEL_grads_hook of GENERATED_API.md) */
typedef void (*cnnrt_grads_fn)(void *arg, float *grad, long n);
/* sets that hook on a model instance: the generated <m>_grads_hook */
typedef void (*cnnrt_grads_hook_fn)(void *m, cnnrt_grads_fn fn, void *arg);

/* cnnrt_main under MPI (MPI_Init to MPI_Finalize); hook may be NULL (the
 * gradients are then all summed after the backward pass).  The exit
 * status: 0, or 1 after an error on any rank (the job is aborted so that
 * no rank waits forever). */
int cnnrt_mpi_main(const cnnrt_model *model, cnnrt_grads_hook_fn hook, int argc, char **argv);

#ifdef __cplusplus
}
#endif

#endif
