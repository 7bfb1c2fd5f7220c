/* none.c — the ONNX entry points of a cnnc built without protobuf-c.
 *
 * Both say which Debian packages give ONNX support and fail; nothing else
 * of cnnc depends on ONNX.
 */
#include <stdio.h>
#include "onnx/onnx.h"

static int missing(void)
{
    fprintf(stderr, "cnnc: error: this cnnc was built without ONNX support\n"
                    "cnnc: note: install protobuf-c and ONNX's schema "
                    "(apt-get install libprotobuf-c-dev protobuf-c-compiler libonnx-dev) "
                    "and rebuild with make\n");
    return 1;
}

int onnx_import_main(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    return missing();
}

int onnx_export(const Graph *g, const char *out, const char *weights)
{
    (void)g;
    (void)out;
    (void)weights;
    return missing() ? -1 : 0;
}
