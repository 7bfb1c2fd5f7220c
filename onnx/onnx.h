/* onnx.h — ONNX import (`cnnc import`) and export (`cnnc --emit=onnx`).
 *
 * Import reads an ONNX model through protobuf-c and writes readable .cnn
 * source for its graph plus a .cnnw file with its initializers, mapped to
 * cnnc's parameter names, order and layouts.  Export writes a compiled
 * model's inference graph with its weights.  Only the operators that map
 * one to one onto cnnc's ops are accepted; anything else is an error naming
 * the node, never an approximation.  This header does not expose protobuf
 * types: onnx/pb.h does, for this folder and its tests.
 *
 * When cnnc is built without protobuf-c (onnx/none.c), every entry point
 * reports how to get it and fails.
 */
#ifndef ONNX_H
#define ONNX_H

#include "ir/ir.h"

/* `cnnc import FILE.onnx [-o FILE.cnn] [--weights FILE.cnnw]`: argv[0] is
 * "import".  Writes both files (temp + rename; neither is left behind on
 * failure).  The exit status of cnnc. */
int onnx_import_main(int argc, char **argv);

/* Write g's forward graph (shapes inferred, no passes run) to `out` as an
 * ONNX model, with the weights of `weights` (a .cnnw file) or, when it is
 * NULL, the default initialisation with the model's seed.  Reports to
 * stderr as "cnnc: ..." and returns 0 or -1 (nothing written). */
int onnx_export(const Graph *g, const char *out, const char *weights);

#endif
