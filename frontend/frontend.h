/* frontend.h — the compiler's front end: a .cnn source file in, a lowered
 * IR Graph (ir/ir.h) out, with every error reported through a Diag.
 *
 * The front end checks everything that can be checked from the text: syntax,
 * names, arguments, the train block, and (through ir_infer_node, as each
 * node is created) shapes.  It does not run passes, autodiff or codegen.
 */
#ifndef FRONTEND_H
#define FRONTEND_H

#include "support/diag.h"
#include "ir/ir.h"

/* Largest source file accepted. */
#define FE_MAX_SOURCE (16L << 20)

/* Read `path` whole into a malloc'd, NUL-terminated buffer (*src, *len
 * without the NUL; free() it).  Reports, without a location: a missing or
 * unreadable file, a directory, a file over FE_MAX_SOURCE, and a file that
 * looks binary (a NUL byte, or mostly control characters and bytes that are
 * not UTF-8).  0 on success. */
int fe_read_file(Diag *d, const char *path, char **src, long *len);

/* Parse and lower one file.  Sets d's file and source (for carets), reports
 * every error it can find, and returns NULL when any was reported (syntax
 * errors stop it before lowering, so that they do not cascade).  The Graph
 * has g->input, g->outputs, g->train and g->batch set, and every forward
 * node shape-checked (g->nfwd = g->nnodes). */
Graph *fe_compile(Diag *d, const char *file, const char *src, long len);

#endif
