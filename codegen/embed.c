/* embed.c — the runtime text of `cnnc --embed-runtime`: the core (kernels,
 * initialisation, optimizers, .cnnw files) and, with --main, the data
 * pipeline, the trainer and stb_image/stb_image_write.
 *
 * Every global symbol of the copied runtime is renamed with the model's
 * prefix first (#define cnnrt_conv_forward lenet5_cnnrt_conv_forward), so
 * the copy never clashes with libcnnrt.a or with another model's copy in
 * the same program.  The lists come from the runtime's objects at build
 * time (tools/rtsyms.sh), so they cannot drift from the sources.  This
 * file only prints text; it decides nothing about the model.
 */
#include "emit.h"

extern const char *const cnnc_runtime_main_files[];
extern const char *const cnnc_runtime_main_names[];
extern const char *const cnnc_runtime_core_symbols[];
extern const char *const cnnc_runtime_main_symbols[];

static void print_files(FILE *c, const char *const *names, const char *const *files)
{
    for (int i = 0; files[i]; i++)
        fprintf(c, "/* ---- %s ---- */\n%s\n", names[i], files[i]);
}

static void print_renames(FILE *c, const char *prefix, const char *const *syms)
{
    for (int i = 0; syms[i]; i++)
        fprintf(c, "#define %s %s_%s\n", syms[i], prefix, syms[i]);
}

void emit_runtime(FILE *c, const char *prefix, int with_main)
{
    fprintf(c, "\n/* ---- the cnnrt runtime, embedded (--embed-runtime): the kernels,\n"
               "   initialisation, optimizers and .cnnw files this model calls%s.\n"
               "   Its global names carry the prefix %s_, so it links beside\n"
               "   libcnnrt.a and other models' copies ---- */\n",
            with_main ? ",\n   the data pipeline, the trainer and stb_image (public domain / MIT)" : "",
            prefix);
    print_renames(c, prefix, cnnc_runtime_core_symbols);
    if (with_main)
        print_renames(c, prefix, cnnc_runtime_main_symbols);
    print_files(c, cnnc_runtime_names, cnnc_runtime_files);
    if (with_main)
        print_files(c, cnnc_runtime_main_names, cnnc_runtime_main_files);
}
