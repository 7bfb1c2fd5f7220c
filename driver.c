/* driver.c — the cnnc command: options, the passes, and output files.
 *
 *   source --frontend--> IR with shapes --passes--> planned IR --emit--> C
 *
 * The passes run from the one list in passes/manager.c, each when -O is at or
 * above its level and it was not disabled; --dump-after and --verify-each
 * act between them.  Outputs are written to a fresh exclusive file beside
 * the target and renamed (cnnrt_out), so a failed run never leaves a
 * partial file.
 * Exit status: 0 success, 1 any user error.
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "frontend/frontend.h"
#include "passes/passes.h"
#include "codegen/emit.h"
#include "cnnrt.h"              /* cnnrt_out */
#include "onnx/onnx.h"
#include "codegen/llvm/llvm.h"

typedef struct {
    const char *in, *out;
    const char *emit;           /* c, obj, llvm, ir, dot, onnx, none */
    const char *target;         /* --target=TRIPLE (obj, llvm) */
    const char *weights;        /* --emit=onnx: the .cnnw to export */
    const char *prefix;         /* --prefix: exported names (default the model's) */
    const char *depfile;        /* -MF; with -MD and no -MF, beside the output */
    int deps;                   /* -MD */
    int stats, with_main, inference, embed, batch;
    int mpi;                    /* --mpi: gradient hooks, an MPI trainer */
    int run, run_argc;          /* cnnc run: the JIT, with the program's */
    char **run_argv;            /* arguments after the input file */
    PassOptions passes;
} Options;

static void usage(FILE *f)
{
    fprintf(f,
        "usage: cnnc [options] FILE.cnn\n"
        "       cnnc run [options] FILE.cnn train|eval|predict [ARGS]  (JIT, needs LLVM)\n"
        "Compile a .cnn network to standalone C (forward, backward, update).\n\n"
        "  -o FILE            write C to FILE and its header beside it (FILE.h);\n"
        "                     with --emit=ir|dot, write the dump to FILE.  The\n"
        "                     directory must exist (cnnc creates none, for any output)\n"
        "  --emit=c|ir|dot|onnx  what to write (default c); ir: the graph with shapes;\n"
        "                     dot: Graphviz; onnx: the inference graph with its weights\n"
        "  --weights FILE     --emit=onnx: the weights (.cnnw) to export (default: the\n"
        "                     default initialisation with the model's seed)\n"
        "  --emit=obj|llvm    an object file and MODEL.h (or LLVM IR text) through\n"
        "                     LLVM; --target=TRIPLE for another machine\n"
        "  --stats            print a per-layer table: shapes, parameters, mult-adds,\n"
        "                     and the activation arena (naive, planned, lower bound)\n"
        "  --main             add a main() with train, eval and predict commands\n"
        "  --mpi              gradient hooks in _backward (MODEL_grads_hook); with\n"
        "                     --main, a data-parallel trainer for mpirun (link\n"
        "                     libcnnrt_mpi.a, build with mpicc)\n"
        "  --inference        forward pass only; memory planned for it alone\n"
        "  --batch N          largest batch (overrides the train block)\n"
        "  --embed-runtime    put the runtime into the C file (needs only libc, libm;\n"
        "                     with --main also -lpthread); its symbols get the prefix\n"
        "  --prefix NAME      prefix of exported names (default: the model's name)\n"
        "  -MD [-MF FILE]     also write a make dependency file (default: the\n"
        "                     output with .d for .c)\n"
        "  -O0, -O1, -O2      optimization level (default -O2); -O0 runs no\n"
        "                     optimization pass\n"
        "  --disable-pass=NAME  skip one pass\n"
        "  --dump-after=NAME  print the IR after pass NAME (or 'all') to stderr\n"
        "  --verify-each      check the IR's invariants after every pass\n"
        "  --list-passes      print the passes in order with their levels\n"
        "  --help, --version\n"
        "\n"
        "cnnc import FILE.onnx [-o FILE.cnn] [--weights FILE.cnnw]\n"
        "  write an ONNX model as .cnn source and its initializers as a .cnnw file\n");
}

static int bad_usage(const char *fmt, const char *arg)
{
    fprintf(stderr, "cnnc: error: ");
    fprintf(stderr, fmt, arg);
    fprintf(stderr, "\n(run 'cnnc --help' for the options)\n");
    return 1;
}

static int unknown_pass(const char *name)
{
    const char *names[32];
    int n = 0;
    for (; pass_list[n].name && n < 32; n++)
        names[n] = pass_list[n].name;
    const char *near = diag_nearest(name, names, n);
    fprintf(stderr, "cnnc: error: unknown pass '%s'", name);
    if (near)
        fprintf(stderr, "; did you mean '%s'?", near);
    fprintf(stderr, " (cnnc --list-passes lists them)\n");
    return 1;
}

/* [A-Za-z_][A-Za-z0-9_]*, short enough for the names built on it */
static int c_identifier(const char *s)
{
    if (!*s || strlen(s) > 64 || (!isalpha((unsigned char)*s) && *s != '_'))
        return 0;
    for (; *s; s++)
        if (!isalnum((unsigned char)*s) && *s != '_')
            return 0;
    return 1;
}

static int parse_args(int argc, char **argv, Options *o)
{
    memset(o, 0, sizeof *o);
    o->emit = "c";
    o->passes.opt = 2;
    int first = 1;
    if (argc > 1 && strcmp(argv[1], "run") == 0)
        o->run = first = 2;
    for (int i = first; i < argc; i++) {
        const char *a = argv[i];
        if (o->run && o->in) {          /* the program's own arguments */
            o->run_argc = argc - i;
            o->run_argv = argv + i;
            break;
        }
        if (strcmp(a, "-o") == 0) {
            if (++i >= argc)
                return bad_usage("-o needs a file name%s", "");
            o->out = argv[i];
        } else if (strcmp(a, "--prefix") == 0 || strncmp(a, "--prefix=", 9) == 0) {
            const char *v = a[8] == '=' ? a + 9 : (++i < argc ? argv[i] : NULL);
            if (!v || !c_identifier(v))
                return bad_usage("--prefix needs a C identifier, not '%s'", v ? v : "");
            o->prefix = v;
        } else if (strcmp(a, "-MD") == 0) {
            o->deps = 1;
        } else if (strcmp(a, "-MF") == 0) {
            if (++i >= argc)
                return bad_usage("-MF needs a file name%s", "");
            o->depfile = argv[i];
        } else if (strncmp(a, "--emit=", 7) == 0) {
            o->emit = a + 7;
            if (strcmp(o->emit, "c") && strcmp(o->emit, "ir") && strcmp(o->emit, "dot") &&
                strcmp(o->emit, "onnx") && strcmp(o->emit, "none") && strcmp(o->emit, "obj") &&
                strcmp(o->emit, "llvm"))
                return bad_usage("--emit takes c, obj, llvm, ir, dot, onnx or none, not '%s'", o->emit);
        } else if (strcmp(a, "--weights") == 0) {
            if (++i >= argc)
                return bad_usage("--weights needs a file name%s", "");
            o->weights = argv[i];
        } else if (strncmp(a, "--target=", 9) == 0) {
            o->target = a + 9;
        } else if (strcmp(a, "--stats") == 0) {
            o->stats = 1;
        } else if (strcmp(a, "--main") == 0) {
            o->with_main = 1;
        } else if (strcmp(a, "--mpi") == 0) {
            o->mpi = 1;
        } else if (strcmp(a, "--inference") == 0) {
            o->inference = 1;
        } else if (strcmp(a, "--embed-runtime") == 0) {
            o->embed = 1;
        } else if (strcmp(a, "--verify-each") == 0) {
            o->passes.verify = 1;
        } else if (strcmp(a, "--batch") == 0 || strncmp(a, "--batch=", 8) == 0) {
            const char *v = a[7] == '=' ? a + 8 : (++i < argc ? argv[i] : NULL);
            char *end;
            long b = v ? strtol(v, &end, 10) : 0;
            if (!v || *end || b < 1 || b > 1000000)
                return bad_usage("--batch needs a number from 1 to 1000000, not '%s'", v ? v : "");
            o->batch = (int)b;
        } else if (a[0] == '-' && a[1] == 'O' && a[2] >= '0' && a[2] <= '3' && !a[3]) {
            o->passes.opt = a[2] - '0';
        } else if (strncmp(a, "--disable-pass=", 15) == 0) {
            if (pass_find(a + 15) < 0)
                return unknown_pass(a + 15);
            if (o->passes.ndisabled < 16)
                o->passes.disabled[o->passes.ndisabled++] = a + 15;
        } else if (strncmp(a, "--dump-after=", 13) == 0) {
            o->passes.dump_after = a + 13;
            if (strcmp(a + 13, "all") && pass_find(a + 13) < 0)
                return unknown_pass(a + 13);
        } else if (strcmp(a, "--list-passes") == 0) {
            for (int k = 0; pass_list[k].name; k++)
                printf("%-16s -O%d%s\n", pass_list[k].name, pass_list[k].level,
                       pass_list[k].level ? "" : " (always)");
            exit(0);
        } else if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            usage(stdout);
            exit(0);
        } else if (strcmp(a, "--version") == 0) {
            printf("cnnc %s\n", CNNRT_VERSION);
            exit(0);
        } else if (a[0] == '-' && a[1]) {
            return bad_usage("unknown option '%s'", a);
        } else if (o->in) {
            return bad_usage("one input file only (got a second: '%s')", a);
        } else {
            o->in = a;
        }
    }
    if (!o->in)
        return bad_usage("no input file%s", "");
    if (o->depfile && !o->deps)
        return bad_usage("-MF needs -MD%s", "");
    if (o->deps && strcmp(o->emit, "c") && !o->out)
        return bad_usage("-MD with --emit=%s needs -o (the target of the rule)", o->emit);
    if (o->run && !o->run_argc)
        return bad_usage("cnnc run needs a command after the model: train, eval or predict%s", "");
    if (o->embed && (o->run || !strcmp(o->emit, "obj") || !strcmp(o->emit, "llvm")))
        return bad_usage("--embed-runtime is for C output (--emit=c)%s", "");
    if (o->mpi && (o->embed || o->run || strcmp(o->emit, "c")))
        return bad_usage("--mpi is for C output (--emit=c) linked with libcnnrt_mpi.a, not "
                         "--embed-runtime, --emit=obj or cnnc run%s", "");
    if (o->mpi && o->inference)
        return bad_usage("--mpi is for training; --inference has no backward pass%s", "");
    if (o->target && strcmp(o->emit, "obj") && strcmp(o->emit, "llvm"))
        return bad_usage("--target is for --emit=obj or --emit=llvm%s", "");
    if (o->stats && !o->out && strcmp(o->emit, "c") == 0)
        o->emit = "none";       /* --stats alone only reports */
    return 0;
}

/* ---- output files: cnnrt_out (a fresh exclusive file, renamed over the
 * target), so nothing partial is left behind and no planted link is
 * followed; every failure says which file and why ---- */
static int out_open(cnnrt_out *o, const char *path)
{
    char err[600];
    if (cnnrt_out_open(o, path, err, sizeof err) == 0)
        return 0;
    if (errno == ENOENT) {
        const char *slash = strrchr(path, '/');
        fprintf(stderr, "cnnc: error: cannot write '%s': no such directory '%.*s'"
                " (cnnc does not create directories)\n", path,
                slash ? (int)(slash - path) : 1, slash ? path : ".");
    } else {
        fprintf(stderr, "cnnc: error: %s\n", err);
    }
    return -1;
}

/* ok: commit (rename) or abandon (remove) */
static int out_close(cnnrt_out *o, int ok)
{
    char err[600];
    if (cnnrt_out_close(o, ok, err, sizeof err) == 0)
        return 0;
    if (ok)
        fprintf(stderr, "cnnc: error: %s\n", err);
    return -1;
}

/* "dir/model.c" -> "dir/model.h"; the include name is the base name */
static char *header_path(const char *out)
{
    size_t n = strlen(out);
    if (n > 2 && strcmp(out + n - 2, ".c") == 0)
        return xfmt("%.*s.h", (int)(n - 2), out);
    return xfmt("%s.h", out);
}

/* the C output: -o, or the input's base name with .c */
static char *c_path(const Options *o)
{
    if (o->out)
        return xstrdup(o->out);
    const char *base = strrchr(o->in, '/') ? strrchr(o->in, '/') + 1 : o->in;
    const char *dot = strrchr(base, '.');
    return xfmt("%.*s.c", dot ? (int)(dot - base) : (int)strlen(base), base);
}

/* -MD: "OUT [OUT.h]: IN" and a rule for IN alone (so a deleted .cnn is
 * not an error for make); spaces in paths escaped as make wants them */
static void put_path(FILE *f, const char *p)
{
    for (; *p; p++)
        fprintf(f, "%s%c", *p == ' ' || *p == '#' ? "\\" : *p == '$' ? "$" : "", *p);
}

static int write_deps(const Options *o)
{
    int c = strcmp(o->emit, "c") == 0;
    char *out = c ? c_path(o) : xstrdup(o->out);
    char *hpath = c ? header_path(out) : NULL;
    char *path = o->depfile ? xstrdup(o->depfile) : NULL;
    if (!path) {
        size_t n = strlen(out);
        path = n > 2 && strcmp(out + n - 2, ".c") == 0 ? xfmt("%.*s.d", (int)(n - 2), out)
                                                         : xfmt("%s.d", out);
    }
    cnnrt_out f;
    int rc = -1;
    if (out_open(&f, path) == 0) {
        put_path(f.f, out);
        if (hpath) {
            fputc(' ', f.f);
            put_path(f.f, hpath);
        }
        fputs(": ", f.f);
        put_path(f.f, o->in);
        fputs("\n\n", f.f);
        put_path(f.f, o->in);
        fputs(":\n", f.f);
        rc = out_close(&f, 1);
    }
    free(out);
    free(hpath);
    free(path);
    return rc;
}

static int write_c(Graph *g, const Options *o, int argc, char **argv)
{
    char *out = c_path(o);
    char *hpath = header_path(out);
    const char *hbase = strrchr(hpath, '/') ? strrchr(hpath, '/') + 1 : hpath;
    char cmd[512] = "cnnc";
    for (int i = 1; i < argc && strlen(cmd) + strlen(argv[i]) + 2 < sizeof cmd; i++) {
        strcat(cmd, " ");
        strcat(cmd, argv[i]);
    }
    EmitOptions eo = { out, hpath, hbase, o->with_main, o->embed, cmd, o->mpi };
    cnnrt_out c, h;
    int rc = -1;
    if (out_open(&c, out) == 0) {
        if (out_open(&h, hpath) == 0) {
            /* a write error is reported by out_close, with the file */
            int ok = emit_c(g, &eo, c.f, h.f) == 0 || ferror(c.f) || ferror(h.f);
            if (!ok)
                fprintf(stderr, "cnnc: error: out of memory writing '%s'\n", out);
            int h_replaced = h.tmp != NULL;     /* not a device written in place */
            int hc = out_close(&h, ok);
            rc = out_close(&c, ok && hc == 0);
            if (rc && hc == 0 && h_replaced)
                remove(hpath);
        } else {
            out_close(&c, 0);
        }
    }
    free(out);
    free(hpath);
    return rc;
}

/* --emit=obj|llvm: "model.o" (or .ll) and "model.h" beside it */
static int write_llvm(Graph *g, const Options *o, int argc, char **argv)
{
    int text = strcmp(o->emit, "llvm") == 0;
    const char *base = strrchr(o->in, '/') ? strrchr(o->in, '/') + 1 : o->in;
    const char *dot = strrchr(base, '.');
    char *out = o->out ? xstrdup(o->out)
                       : xfmt("%.*s.%s", dot ? (int)(dot - base) : (int)strlen(base), base, text ? "ll" : "o");
    const char *ext = strrchr(out, '.');
    int stem = ext && !strchr(ext, '/') ? (int)(ext - out) : (int)strlen(out);
    char *hpath = xfmt("%.*s.h", stem, out);
    const char *hbase = strrchr(hpath, '/') ? strrchr(hpath, '/') + 1 : hpath;
    EmitOptions eo = { out, hpath, hbase, o->with_main, 0, NULL, 0 };
    LlvmOptions lo = { text, o->target, o->passes.opt, o->with_main };
    (void)argc, (void)argv;
    cnnrt_out f, h;
    int rc = -1;
    if (strcmp(hpath, out) == 0)
        fprintf(stderr, "cnnc: error: '%s': the output would overwrite its header\n", out);
    else if (out_open(&f, out) == 0) {
        if (text || out_open(&h, hpath) == 0) {
            int ok = llvm_emit(g, &lo, &eo, f.f, text ? NULL : h.f) == 0;
            int hc = text ? 0 : out_close(&h, ok);
            rc = out_close(&f, ok && hc == 0);
        } else {
            out_close(&f, 0);
        }
    }
    free(out);
    free(hpath);
    return rc;
}

static void print_arena(const Graph *g)
{
    const Plan *p = &g->plan;
    double kib = 4.0 / 1024;
    printf("activation arena (%s, batch %d):\n", g->inference || g->loss_node < 0 ?
           "forward pass" : "training step", g->batch);
    printf("  naive        %10.1f KiB  (one buffer per tensor)\n", p->naive * kib);
    printf("  planned      %10.1f KiB  (%.1f%% of naive, %s)\n", p->planned * kib,
           p->naive ? 100.0 * p->planned / p->naive : 100.0, p->heuristic ? p->heuristic : "-");
    printf("  lower bound  %10.1f KiB  (most bytes live at once; planned is %+.1f%%)\n",
           p->lower * kib, p->lower ? 100.0 * (p->planned - p->lower) / p->lower : 0.0);
}

int main(int argc, char **argv)
{
    Options o;
    if (argc > 1 && strcmp(argv[1], "import") == 0)
        return onnx_import_main(argc - 1, argv + 1);
    if (parse_args(argc, argv, &o))
        return 1;
    Diag d;
    char *src = NULL;
    long len = 0;
    diag_init(&d, o.in, NULL, 0, stderr);
    if (fe_read_file(&d, o.in, &src, &len))
        return 1;
    diag_init(&d, o.in, src, len, stderr);
    fe_c_names = strcmp(o.emit, "c") == 0;
    Graph *g = fe_compile(&d, o.in, src, len);
    if (!g || diag_errors(&d)) {
        ir_free(g);
        free(src);
        return 1;
    }
    if (o.batch)
        g->batch = o.batch;
    if (o.prefix) {
        free(g->name);
        g->name = xstrdup(o.prefix);
    }
    g->inference = o.inference || g->loss_node < 0;
    if (strcmp(o.emit, "onnx") == 0) {      /* the graph as written, before the passes */
        char *out = o.out ? xstrdup(o.out) : xfmt("%.*s.onnx", (int)(strrchr(o.in, '.') &&
                    strrchr(o.in, '.') > o.in ? strrchr(o.in, '.') - o.in : (long)strlen(o.in)), o.in);
        int rc = onnx_export(g, out, o.weights) ? 1 : 0;
        free(out);
        ir_free(g);
        free(src);
        return rc;
    }
    int rc = pass_run_all(g, &o.passes) ? 1 : 0;
    if (rc == 0 && o.stats) {
        ir_stats(g, stdout);
        print_arena(g);
    }
    if (rc == 0 && o.run) {
        rc = llvm_run(g, o.passes.opt, o.run_argc, o.run_argv);
    } else if (rc == 0 && strcmp(o.emit, "c") == 0) {
        rc = write_c(g, &o, argc, argv) ? 1 : 0;
    } else if (rc == 0 && (strcmp(o.emit, "obj") == 0 || strcmp(o.emit, "llvm") == 0)) {
        rc = write_llvm(g, &o, argc, argv) ? 1 : 0;
    } else if (rc == 0 && strcmp(o.emit, "none") != 0) {
        cnnrt_out f = { stdout, "standard output", NULL };
        if (o.out && out_open(&f, o.out))
            rc = 1;
        if (rc == 0) {
            if (strcmp(o.emit, "ir") == 0)
                ir_dump(g, f.f);
            else
                ir_dot(g, f.f);
            if (o.out)
                rc = out_close(&f, 1) ? 1 : 0;
        }
    }
    if (fflush(stdout) != 0 || ferror(stdout)) {
        fprintf(stderr, "cnnc: error: standard output: %s\n", strerror(errno ? errno : EIO));
        rc = 1;
    }
    if (rc == 0 && o.deps)
        rc = write_deps(&o) ? 1 : 0;
    ir_free(g);
    free(src);
    return rc;
}
