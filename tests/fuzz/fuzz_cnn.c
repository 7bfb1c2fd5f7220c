/* fuzz_cnn.c — libFuzzer target for the .cnn front end and everything
 * after it, in process: fe_compile, then (for programs it accepts) every
 * pass with --verify-each at -O0 and -O2, training and inference, and the
 * C emitter with --main and --embed-runtime.  Diagnostics and C go to
 * /dev/null: what is looked for is a crash, a sanitizer report, a leak or
 * a verifier abort, not the text.  The differential check of the C itself
 * (it compiles, a training step runs clean) is tools/fuzz_diff.sh.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "frontend/frontend.h"
#include "passes/passes.h"
#include "codegen/emit.h"

static FILE *null_file(void)
{
    static FILE *f;
    if (!f && !(f = fopen("/dev/null", "w")))
        abort();
    return f;
}

/* one run of the driver's pipeline on src with the options given */
static void compile(const char *src, long len, int opt, int inference, int with_main,
                    int embed)
{
    Diag d;
    diag_init(&d, "fuzz.cnn", src, len, null_file());
    fe_c_names = 1;             /* as cnnc does when it writes C */
    Graph *g = fe_compile(&d, "fuzz.cnn", src, len);
    if (!g || diag_errors(&d)) {
        ir_free(g);
        return;
    }
    g->inference = inference || g->loss_node < 0;
    PassOptions po;
    memset(&po, 0, sizeof po);
    po.opt = opt;
    po.verify = 1;
    po.dump = null_file();
    if (pass_run_all(g, &po) == 0) {
        EmitOptions eo = { "fuzz.c", "fuzz.h", "fuzz.h", with_main, embed, "cnnc fuzz" };
        emit_c(g, &eo, null_file(), null_file());
    }
    ir_free(g);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 1 << 16)
        return 0;
    /* a private NUL-terminated copy: the front end reads len bytes, and
     * ASan then catches any read past them */
    char *src = malloc(size + 1);
    if (!src)
        return 0;
    memcpy(src, data, size);
    src[size] = 0;
    compile(src, (long)size, 2, 0, 1, 0);
    compile(src, (long)size, 0, 0, 0, 0);
    compile(src, (long)size, 2, 1, 0, 1);
    free(src);
    return 0;
}
