/* emit_main.h — the optional main() of `cnnc --main` (emit_main.c): the
 * model's constants and functions handed to the runtime's trainer.  Called
 * by emit.c after the model's own functions; needs only the graph. */
#ifndef EMIT_MAIN_H
#define EMIT_MAIN_H

#include <stdio.h>
#include "../ir/ir.h"

/* mpi: main() runs cnnrt_mpi_main (cnnrt_mpi.h) with the model's _grads_hook */
void emit_main(const Graph *g, int mpi, FILE *f);

#endif
