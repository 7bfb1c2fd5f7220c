/* export.c — placeholder */
#include "onnx/onnx.h"
#include <stdio.h>
int onnx_export(const Graph *g, const char *out, const char *weights)
{ (void)g; (void)out; (void)weights; fprintf(stderr, "cnnc: error: --emit=onnx is not implemented yet\n"); return -1; }
