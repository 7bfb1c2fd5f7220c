/* fuzz_onnx.c — libFuzzer target for ONNX import (onnx/import.c, write.c):
 * the input is unpacked as an ONNX ModelProto (as pb_read_model does it)
 * and imported in memory.
 * Two properties are checked besides the absence of crashes and sanitizer
 * reports: a refused model says why (r.msg is not empty), and an accepted
 * one is a program cnnc itself accepts, whose parameters are exactly the
 * ones the importer produced (same names, same sizes).  Either failing is
 * a finding (abort), not only a crash.  The seed corpus holds the PyTorch
 * exports of tests/fixtures/onnx and small hand-made graphs.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "frontend/frontend.h"
#include "onnx/pb.h"

static FILE *null_file(void)
{
    static FILE *f;
    if (!f && !(f = fopen("/dev/null", "w")))
        abort();
    return f;
}

/* r's program compiles, and its parameters are r's, by name and size */
static void check_accepted(const OnnxImport *r)
{
    Diag d;
    long len = (long)strlen(r->cnn);
    diag_init(&d, "imported.cnn", r->cnn, len, null_file());
    Graph *g = fe_compile(&d, "imported.cnn", r->cnn, len);
    if (!g || diag_errors(&d)) {
        fprintf(stderr, "fuzz_onnx: the importer wrote a program cnnc rejects:\n%s\n", r->cnn);
        abort();
    }
    for (int i = 0; i < r->nparams; i++) {
        int found = 0;
        for (int j = 0; j < g->nparams && !found; j++)
            found = strcmp(g->params[j].name, r->params[i].name) == 0 &&
                    g->params[j].size == r->params[i].size;
        if (!found) {
            fprintf(stderr, "fuzz_onnx: imported parameter %s [%ld] is not the program's\n",
                    r->params[i].name, r->params[i].size);
            abort();
        }
    }
    ir_free(g);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    Onnx__ModelProto *m = onnx__model_proto__unpack(NULL, size, data);
    if (!m)
        return 0;
    if (pb_no_null_strings(&m->base) == 0 && m->graph) {
        OnnxImport r;
        if (onnx_import_model(m, "fuzz.onnx", &r) == 0)
            check_accepted(&r);
        else if (!r.msg[0])
            abort();                /* refused without saying why */
        onnx_import_free(&r);
    }
    onnx__model_proto__free_unpacked(m, NULL);
    return 0;
}
