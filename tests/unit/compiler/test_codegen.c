/* test_codegen.c — the generated C, end to end: every test model, example
 * and LANGUAGE.md program is compiled by ./cnnc, built with -Werror (and
 * the sanitizers under `make asan`) against the runtime, and run through
 * tests/harness/model_main.c:
 *   - finite-difference gradient checks of every parameter, at n = BATCH,
 *     n = 1 and 1 < n < BATCH, at -O0 and -O2;
 *   - -O0 and -O2 give the same losses, outputs and parameters;
 *   - backward accumulates, update zeroes; save/load round trips;
 *   - --inference and --main builds compile.
 * The LLVM backend (--emit=obj) goes through the same harness, the backend
 * a parameter of build(): its objects give the C build's numbers bit for
 * bit (same kernels, same order), pass the gradient check, -O0 == -O2,
 * save/load, PyTorch's LeNet-5 losses; --inference objects forward like
 * the C; --target objects are of the right machine (and, with a cross
 * compiler and qemu, run).
 * Run from the repository root (make check does).
 */
#include <check.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include "check_util.h"

static const char *B, *SAN;
extern const int cnnc_has_llvm;     /* codegen/llvm: 0 when built without */

typedef struct {
    const char *file;       /* .cnn */
    const char *name;       /* model name */
    int batch;
    int out_c;              /* softmax channels per pixel, 0: whole sample */
} Model;

static const Model models[] = {
    { "tests/models/convs.cnn", "convs", 4, 0 },
    { "tests/models/acts.cnn", "acts", 3, 0 },
    { "tests/models/pools.cnn", "pools", 5, 0 },
    { "tests/models/branches.cnn", "branches", 4, 0 },
    { "tests/models/pixels.cnn", "pixels", 2, 3 },
    { "tests/models/heads.cnn", "heads", 3, 0 },
    { "examples/lenet5.cnn", "lenet5", 64, 0 },
    { "examples/tiny_neck.cnn", "tiny_neck", 16, 0 },
    { "examples/vggs.cnn", "vggs", 64, 0 },
};
#define NMODELS ((int)(sizeof models / sizeof models[0]))

/* the detectors, only compared across the backends here (their ops and
 * the yolox loss are checked on the models above and in test_rt_yolox):
 * EMA and a cosine schedule, and yolox_nano with clipping too */
static const Model detectors[] = {
    { "examples/fashion_det.cnn", "fashion_det", 32, 0 },
    { "examples/yolox_nano.cnn", "yolox_nano", 8, 0 },
};

/* the model name as the generated macros spell it: lenet5 -> LENET5 */
static void upper_name(const char *name, char out[64])
{
    int i = 0;
    for (; name[i] && i < 63; i++)
        out[i] = (char)(name[i] >= 'a' && name[i] <= 'z' ? name[i] - 32 : name[i]);
    out[i] = 0;
}

/* Compile model m with cnnc FLAGS into DIR/prog, as C or (obj) as an
 * object file through LLVM; returns the program path. */
static const char *build_as(const Model *m, const char *flags, const char *tag, const char *batch, int obj)
{
    static char prog[8][600];
    static int next;
    char *p = prog[next++ % 8];
    char dir[512], upper[64];
    snprintf(dir, sizeof dir, "%s/gen/%s-%s", B, m->name, tag);
    upper_name(m->name, upper);
    snprintf(p, 600, "%s/prog", dir);
    char outc[64] = "";
    if (m->out_c)
        snprintf(outc, sizeof outc, "-DOUT_C=%d", m->out_c);
    const char *ext = obj ? "o" : "c";
    if (sh("mkdir -p %s && \"$CNNC\" %s %s %s %s %s -o %s/%s.%s", dir, obj ? "--emit=obj" : "", flags,
           batch ? "--batch" : "", batch ? batch : "", m->file, dir, m->name, ext) ||
        sh("cc -std=c99 -O1 -g -Wall -Wextra -Werror %s -Iruntime/include -I%s -DMODEL=%s -DMODEL_UC=%s "
           "'-DMODEL_H=\"%s.h\"' %s $(grep -q _MAX_BOXES %s/%s.h && echo -DTARGET_BOXES) "
           "$(grep -q '_detect(' %s/%s.h && echo -DHAS_DETECT) $(grep -q '_ema(' %s/%s.h && echo -DHAS_EMA) "
           "-o %s tests/harness/model_main.c %s/%s.%s %s/libcnnrt.a -lm",
           SAN, dir, m->name, upper, m->name, outc, dir, m->name, dir, m->name, dir, m->name, p, dir, m->name,
           ext, B))
        return NULL;
    return p;
}

static const char *build(const Model *m, const char *flags, const char *tag, const char *batch)
{
    return build_as(m, flags, tag, batch, 0);
}

START_TEST(gradcheck)
{
    const Model *m = &models[_i / 2];
    const char *opt = _i % 2 ? "-O2" : "-O0";
    /* big examples are checked at a small batch: the same code, less time */
    int batch = m->batch > 8 ? 3 : m->batch;
    const char *prog = build(m, opt, opt + 1, m->batch > 8 ? "3" : NULL);
    ck_assert_msg(prog != NULL, "%s %s did not build", m->file, opt);
    int ns[3] = { batch, 1, batch > 2 ? batch - 1 : 2 };
    /* Under the sanitizers the three examples are not gradient-checked:
     * every op they use is in the small test models, checked here too, and
     * a check of tiny_neck alone takes over 7 minutes under ASan.  (They
     * still run forward, backward and update below, sanitized.) */
    if (*SAN && m->batch > 8)
        return;
    int nn = 3;
    for (int k = 0; k < nn; k++)
        ck_assert_msg(sh("%s grad %d", prog, ns[k]) == 0, "%s %s: gradient check failed at n=%d",
                      m->file, opt, ns[k]);
}
END_TEST

/* read "key value" lines */
static int read_trace(const char *path, char ***keys, double **vals)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    int n = 0, cap = 1024;
    *keys = malloc(sizeof(char *) * cap);
    *vals = malloc(sizeof(double) * cap);
    char k[256];
    double v;
    while (fscanf(f, "%255s %lf", k, &v) == 2) {
        if (n == cap) {
            cap *= 2;
            *keys = realloc(*keys, sizeof(char *) * cap);
            *vals = realloc(*vals, sizeof(double) * cap);
        }
        (*keys)[n] = strdup(k);
        (*vals)[n++] = v;
    }
    fclose(f);
    return n;
}

/* `trace 3` of programs p0 and p2 agree number by number within a float
 * tolerance (-O0 and -O2 fuse differently) */
static void same_traces(const char *name, const char *p0, const char *p2)
{
    char f0[600], f2[600];
    snprintf(f0, sizeof f0, "%s.trace", p0);
    snprintf(f2, sizeof f2, "%s.trace", p2);
    ck_assert(sh("%s trace 3 > %s", p0, f0) == 0);
    ck_assert(sh("%s trace 3 > %s", p2, f2) == 0);
    char **k0, **k2;
    double *v0, *v2;
    int n0 = read_trace(f0, &k0, &v0), n2 = read_trace(f2, &k2, &v2);
    ck_assert_int_gt(n0, 0);
    ck_assert_int_eq(n0, n2);
    for (int i = 0; i < n0; i++) {
        ck_assert_str_eq(k0[i], k2[i]);
        double tol = 2e-5 + 2e-4 * fabs(v0[i]);
        ck_assert_msg(fabs(v0[i] - v2[i]) <= tol, "%s: %s -O0 %.9g vs -O2 %.9g (line %d)",
                      name, k0[i], v0[i], v2[i], i + 1);
    }
    for (int i = 0; i < n0; i++) {
        free(k0[i]);
        free(k2[i]);
    }
    free(k0);
    free(k2);
    free(v0);
    free(v2);
}

START_TEST(o0_equals_o2)
{
    const Model *m = &models[_i];
    const char *small = m->batch > 8 ? "8" : NULL;
    const char *p0 = build(m, "-O0", "t0", small);
    const char *p2 = build(m, "-O2", "t2", small);
    ck_assert(p0 && p2);
    same_traces(m->name, p0, p2);
}
END_TEST

/* backward accumulates, update zeroes; save/load; _new_in == _new */
static void accum_and_io(const Model *m, const char *p)
{
    ck_assert(p != NULL);
    ck_assert_msg(sh("%s accum", p) == 0, "%s: gradients do not accumulate", m->name);
    ck_assert_msg(sh("%s io %s.cnnw", p, p) == 0, "%s: save/load", m->name);
    /* in caller memory (_new_in) it computes exactly what _new's copy does */
    ck_assert_msg(sh("%s trace 2 > %s.heap && CNNC_STATIC=1 %s trace 2 > %s.static && cmp %s.heap %s.static",
                     p, p, p, p, p, p) == 0, "%s: _new_in differs from _new", m->name);
}

START_TEST(accumulate_and_io)
{
    const Model *m = &models[_i];
    accum_and_io(m, build(m, "-O2", "acc", m->batch > 8 ? "4" : NULL));
}
END_TEST

/* ---- the LLVM backend ---- */

/* The object runs the C build's kernels in the C build's order: the same
 * losses, outputs and parameters bit for bit; gradients check; -O0 and
 * -O2 objects agree like the C ones; accumulation, save/load, _new_in. */
/* The C and the -O2 object build of m at batch `small` (NULL: its own):
 * `trace steps` bit for bit (losses, outputs, parameters, their EMA),
 * and a detector's <m>_detect: the same detections.  The object's path. */
static const char *object_same_as_c(const Model *m, const char *small, int steps)
{
    const char *pc = build(m, "-O2", "llvm-c", small);
    const char *po = build_as(m, "-O2", "llvm-o2", small, 1);
    ck_assert_msg(pc && po, "%s: a build failed", m->name);
    ck_assert(sh("%s trace %d > %s.trace && %s trace %d > %s.trace", pc, steps, pc, po, steps, po) == 0);
    ck_assert_msg(sh("cmp -s %s.trace %s.trace", pc, po) == 0, "%s: the object's numbers differ from the C's "
                  "(diff %s.trace %s.trace)", m->name, pc, po);
    ck_assert_msg(sh("! grep -q '_detect(' $(dirname %s)/%s.h || (%s detect > %s.det && %s detect > %s.det && "
                     "cmp -s %s.det %s.det && grep -q '^detections [1-9]' %s.det)", po, m->name, pc, pc, po, po,
                     pc, po, po) == 0, "%s: _detect: none, or not the C's (diff %s.det %s.det)", m->name, pc, po);
    return po;
}

START_TEST(llvm_same_as_c)
{
    if (!cnnc_has_llvm)
        return;
    const Model *m = &models[_i];
    const char *small = m->batch > 8 ? "3" : NULL;
    const char *po = object_same_as_c(m, small, 3);
    const char *p0 = build_as(m, "-O0", "llvm-o0", small, 1);
    ck_assert_msg(p0 != NULL, "%s: the -O0 object build failed", m->name);
    same_traces(m->name, p0, po);
    /* the examples' gradients are those of the C build, bit for bit (their
       parameters after three updates are): their checks run there only */
    if (m->batch <= 8)
        ck_assert_msg(sh("%s grad > /dev/null", po) == 0, "%s: object: gradient check failed", m->name);
    accum_and_io(m, po);
}
END_TEST

/* --inference objects (no backward; batchnorm folded) forward like the C */
START_TEST(llvm_inference)
{
    if (!cnnc_has_llvm)
        return;
    const Model *m = &models[_i];
    char dir[512], upper[64];
    snprintf(dir, sizeof dir, "%s/gen/%s-llvm-inf", B, m->name);
    upper_name(m->name, upper);
    const char *ext[2] = { "c", "o" };
    for (int k = 0; k < 2; k++)
        ck_assert(sh("mkdir -p %s/%s && \"$CNNC\" --inference --batch 2 %s %s -o %s/%s/%s.%s && "
                     "cc -std=c99 -O1 -Wall -Wextra -Werror %s -Iruntime/include -I%s/%s -DMODEL=%s -DMODEL_UC=%s "
                     "'-DMODEL_H=\"%s.h\"' -o %s/%s/prog tests/harness/infer_main.c %s/%s/%s.%s %s/libcnnrt.a -lm && "
                     "%s/%s/prog > %s/%s.out", dir, ext[k], k ? "--emit=obj" : "", m->file, dir, ext[k], m->name,
                     ext[k], SAN, dir, ext[k], m->name, upper, m->name, dir, ext[k], dir, ext[k], m->name, ext[k],
                     B, dir, ext[k], dir, ext[k]) == 0);
    ck_assert(sh("test -s %s/c.out && cmp %s/c.out %s/o.out", dir, dir, dir) == 0);
    ck_assert(sh("! grep -q '_backward' %s/o/%s.h", dir, m->name) == 0);
}
END_TEST

/* the detectors, at batch 2 (yolox_nano: 1 step at batch 1, its C takes
 * a while to compile) */
START_TEST(llvm_detectors)
{
    if (!cnnc_has_llvm)
        return;
    object_same_as_c(&detectors[_i], _i ? "1" : "2", _i ? 1 : 3);
}
END_TEST

/* the ELF header of path: class (1: 32-bit, 2: 64-bit), machine, flags */
static void elf_of(const char *path, int *cls, int *machine, unsigned *flags)
{
    unsigned char h[52] = { 0 };
    FILE *f = fopen(path, "rb");
    ck_assert_msg(f && fread(h, 1, 52, f) == 52, "%s: no object written", path);
    fclose(f);
    ck_assert_msg(h[0] == 0x7f && h[1] == 'E' && h[2] == 'L' && h[3] == 'F', "%s: not ELF", path);
    *cls = h[4];
    *machine = h[18] | h[19] << 8;      /* little-endian targets */
    const unsigned char *e = h + (*cls == 2 ? 0x30 : 0x24);
    *flags = e[0] | e[1] << 8 | (unsigned)e[2] << 16 | (unsigned)e[3] << 24;
}

/* --target writes an object for that machine (RISC-V: of the double-float
 * ABI, as Debian's systems are); --emit=llvm writes IR; a target LLVM does
 * not know is an error, not a crash.  Where a cross compiler and qemu are
 * installed, the object runs against the runtime built for its machine and
 * gives x86's numbers within tolerance. */
START_TEST(llvm_targets)
{
    if (!cnnc_has_llvm)
        return;
    const struct { const char *triple; int cls, machine; unsigned flags; } t[] = {
        { "aarch64-linux-gnu", 2, 183, 0 }, { "armv7-linux-gnueabihf", 1, 40, 0 },
        { "i686-linux-gnu", 1, 3, 0 }, { "x86_64-linux-gnu", 2, 62, 0 },
        { "riscv64-linux-gnu", 2, 243, 0x5 },      /* RVC, double-float ABI */
        { "riscv32-linux-gnu", 1, 243, 0x5 },
    };
    char dir[512], path[600];
    snprintf(dir, sizeof dir, "%s/gen/llvm-targets", B);
    ck_assert(sh("mkdir -p %s", dir) == 0);
    for (int i = 0; i < 6; i++) {
        snprintf(path, sizeof path, "%s/%s.o", dir, t[i].triple);
        ck_assert(sh("\"$CNNC\" --emit=obj --target=%s examples/lenet5.cnn -o %s", t[i].triple, path) == 0);
        int cls, machine;
        unsigned flags;
        elf_of(path, &cls, &machine, &flags);
        ck_assert_msg(cls == t[i].cls && machine == t[i].machine, "%s: class %d machine %d", t[i].triple,
                      cls, machine);
        if (t[i].machine == 243)
            ck_assert_msg(flags == t[i].flags, "%s: ELF flags %#x", t[i].triple, flags);
    }
    ck_assert(sh("\"$CNNC\" --emit=llvm --target=aarch64-linux-gnu examples/lenet5.cnn -o %s/l.ll && "
                 "grep -q '^target triple = \"aarch64-unknown-linux-gnu\"' %s/l.ll && "
                 "grep -q '^define float @lenet5_backward(i8\\* %%0, i8\\* %%1, i32 %%2)' %s/l.ll", dir, dir, dir) == 0);
    /* the object defines exactly the C build's symbols: the API (and main) */
    const char *variants[3] = { "", "--inference", "--main" };
    for (int i = 0; i < 3; i++)
        ck_assert_msg(sh("\"$CNNC\" %s examples/lenet5.cnn -o %s/api.c && cc -Iruntime/include -c -o %s/api_c.o %s/api.c && "
                         "\"$CNNC\" %s --emit=obj examples/lenet5.cnn -o %s/api.o && "
                         "nm -g --defined-only %s/api_c.o | awk '{ print $3 }' > %s/c.sym && "
                         "nm -g --defined-only %s/api.o | awk '{ print $3 }' > %s/o.sym && "
                         "grep -q lenet5_forward %s/o.sym && cmp %s/c.sym %s/o.sym",
                         variants[i], dir, dir, dir, variants[i], dir, dir, dir, dir, dir, dir, dir, dir) == 0,
                      "%s: the object's symbols are not the C build's", variants[i]);
    ck_assert(sh("! \"$CNNC\" --emit=obj --target=nonsense-xyz examples/lenet5.cnn -o %s/bad.o 2> %s/err && "
                 "grep -q 'error: --target=nonsense-xyz' %s/err && test ! -e %s/bad.o", dir, dir, dir, dir) == 0);
    /* where Debian's cross compiler and qemu-user are installed (.ci/run
       installs them), the object runs against the runtime built for its
       machine: x86's numbers within float tolerance (a test model without
       batchnorm, whose conv biases get only rounding noise as gradient) */
    const Model *m = &models[0];
    const struct { const char *triple, *gcc, *qemu, *sysroot; } run[] = {
        { "aarch64-linux-gnu", "aarch64-linux-gnu-gcc", "qemu-aarch64", "/usr/aarch64-linux-gnu" },
        { "armv7-linux-gnueabihf", "arm-linux-gnueabihf-gcc", "qemu-arm", "/usr/arm-linux-gnueabihf" },
        { "riscv64-linux-gnu", "riscv64-linux-gnu-gcc", "qemu-riscv64", "/usr/riscv64-linux-gnu" },
    };
    for (int i = 0; i < 3; i++) {
        if (sh("command -v %s && command -v %s", run[i].gcc, run[i].qemu) != 0) {
            fprintf(stderr, "no %s or %s: the %s object is not run\n", run[i].gcc, run[i].qemu, run[i].triple);
            continue;
        }
        const char *px = build_as(m, "-O2", "llvm-x86", NULL, 1);
        ck_assert(px != NULL);
        ck_assert(sh("mkdir -p %s/%s && \"$CNNC\" --emit=obj --target=%s %s -o %s/%s/%s.o && "
                     "%s -std=c99 -O1 -D_POSIX_C_SOURCE=200809L -Iruntime/include -Iruntime/core -I%s/%s "
                     "-DMODEL=%s -DMODEL_UC=CONVS '-DMODEL_H=\"%s.h\"' -o %s/%s/prog tests/harness/model_main.c "
                     "%s/%s/%s.o runtime/core/*.c -lm", dir, run[i].triple, run[i].triple, m->file, dir,
                     run[i].triple, m->name, run[i].gcc, dir, run[i].triple, m->name, m->name, dir,
                     run[i].triple, dir, run[i].triple, m->name) == 0);
        snprintf(path, sizeof path, "%s/%s/prog.sh", dir, run[i].triple);
        ck_assert(sh("printf '#!/bin/sh\\nexec %s -L %s %s/%s/prog \"$@\"\\n' > %s && chmod +x %s",
                     run[i].qemu, run[i].sysroot, dir, run[i].triple, path, path) == 0);
        same_traces(run[i].triple, px, path);
    }
}
END_TEST

/* --inference and --main variants, and a --batch override, build clean */
/* prior= starts a bias at -ln((1-p)/p) after the usual draw (so the
 * generator moves on as without it), and the header says TARGET_SIZE */
START_TEST(detect_head)
{
    const Model *m = &models[5];
    ck_assert_str_eq(m->name, "heads");
    ck_assert_ptr_nonnull(build(m, "-O2", "head", NULL));
    char dir[512];
    snprintf(dir, sizeof dir, "%s/gen/heads-head", B);
    ck_assert_int_eq(sh("grep -q 'cnnrt_init_bias(&r, 0, p->o3_bias, 1, 8);' %s/heads.c", dir), 0);
    ck_assert_int_eq(sh("grep -q 'cnnrt_fill(p->o3_bias, 1, -4.59512f);' %s/heads.c", dir), 0);
    ck_assert_int_eq(sh("grep -q 'cnnrt_fill(p->q3_bias, 2, -4.59512f);' %s/heads.c", dir), 0);
    ck_assert_int_eq(sh("! grep -q 'cnnrt_fill(p->b3_bias' %s/heads.c", dir), 0);
    ck_assert_int_eq(sh("grep -q 'define HEADS_TARGET_SIZE 448 ' %s/heads.h", dir), 0);
    ck_assert_int_eq(sh("grep -q 'define HEADS_OUT1_SIZE  112' %s/heads.h", dir), 0);
}
END_TEST

START_TEST(variants_build)
{
    const Model *m = &models[_i];
    char dir[512];
    snprintf(dir, sizeof dir, "%s/gen/%s-var", B, m->name);
    ck_assert(sh("mkdir -p %s", dir) == 0);
    ck_assert(sh("\"$CNNC\" --inference %s -o %s/inf.c && cc -std=c99 -Wall -Wextra -Werror %s -Iruntime/include -c -o %s/inf.o %s/inf.c",
                 m->file, dir, SAN, dir, dir) == 0);
    ck_assert(sh("\"$CNNC\" --main --batch 3 %s -o %s/main.c && cc -std=c99 -Wall -Wextra -Werror %s -Iruntime/include -o %s/main %s/main.c %s/libcnnrt.a -lm -lpthread",
                 m->file, dir, SAN, dir, dir, B) == 0);
    ck_assert(sh("grep -q '_BATCH      3 ' %s/main.h", dir) == 0);
    ck_assert(sh("! grep -q '_backward' %s/inf.h", dir) == 0);
}
END_TEST

/* Started from PyTorch's initial weights, the generated LeNet-5 follows
 * PyTorch's losses step by step (tests/fixtures/make_lenet_ref.py); at
 * -O0 and -O2, as C (_i 0, 1) and as an LLVM object (_i 2, 3). */
START_TEST(matches_pytorch)
{
    const char *opt = _i % 2 ? "-O2" : "-O0";
    int obj = _i >= 2;
    if (obj && !cnnc_has_llvm)
        return;
    char dir[512];
    snprintf(dir, sizeof dir, "%s/gen/lenet5-ref%s%s", B, opt, obj ? "-obj" : "");
    ck_assert(sh("mkdir -p %s && \"$CNNC\" %s %s examples/lenet5.cnn -o %s/lenet5.%s", dir, obj ? "--emit=obj" : "",
                 opt, dir, obj ? "o" : "c") == 0);
    ck_assert(sh("cc -std=c99 -O1 -Wall -Wextra -Werror %s -Iruntime/include -I%s -o %s/ref tests/harness/pytorch_ref.c "
                 "%s/lenet5.%s %s/libcnnrt.a -lm -lpthread", SAN, dir, dir, dir, obj ? "o" : "c", B) == 0);
    int rc = sh("%s/ref tests/fixtures/lenet5_init.cnnw tests/fixtures/lenet5_losses.txt "
                "/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz > %s/ref.log", dir, dir);
    if (rc == 77)
        return;         /* dataset-fashion-mnist not installed: nothing to compare */
    ck_assert_msg(rc == 0, "%s: losses differ from PyTorch's, see %s/ref.log", opt, dir);
}
END_TEST

/* --embed-runtime: the model alone, with libm, trains and round-trips */
START_TEST(embedded_runtime)
{
    const Model *m = &models[_i];
    char dir[512], upper[64];
    snprintf(dir, sizeof dir, "%s/gen/%s-embed", B, m->name);
    upper_name(m->name, upper);
    ck_assert(sh("mkdir -p %s && \"$CNNC\" --embed-runtime --batch 4 %s -o %s/%s.c", dir, m->file, dir, m->name) == 0);
    ck_assert_msg(sh("cc -std=c99 -O1 -Wall -Wextra -Werror %s -I%s -DMODEL=%s -DMODEL_UC=%s '-DMODEL_H=\"%s.h\"' %s "
                     "-o %s/prog tests/harness/model_main.c %s/%s.c -lm",
                     SAN, dir, m->name, upper, m->name, m->out_c ? "-DOUT_C=3" : "", dir, dir, m->name) == 0,
                  "%s: the embedded build does not compile on its own", m->name);
    ck_assert(sh("%s/prog grad > /dev/null", dir) == 0);
    ck_assert(sh("%s/prog io %s/w.cnnw > /dev/null", dir, dir) == 0);
    ck_assert_msg(sh("! grep -q 'cnnrt.h' %s/%s.h", dir, m->name) == 0, "the header needs cnnrt.h");
}
END_TEST

/* Every program in LANGUAGE.md compiles, builds with -Werror and trains. */
/* Every program of a spec file (a ``` block with a model) builds with
 * -Werror and trains 2 steps; returns how many there were.  tag keeps
 * the files of two specs apart. */
static int spec_file(const char *spec, const char *tag)
{
    FILE *f = fopen(spec, "r");
    if (!f) {
        fprintf(stderr, "%s not found: skipping\n", spec);
        return -1;
    }
    char line[1024], path[512];
    int inblock = 0, nprog = 0, has_model = 0;
    FILE *out = NULL;
    while (fgets(line, sizeof line, f)) {
        if (strncmp(line, "```", 3) == 0) {
            if (!inblock) {
                snprintf(path, sizeof path, "%s/gen/%s%d.cnn", B, tag, nprog);
                sh("mkdir -p %s/gen", B);
                out = fopen(path, "w");
                ck_assert(out != NULL);
                has_model = 0;
            } else {
                fclose(out);
                if (has_model) {
                    char name[64];
                    snprintf(name, sizeof name, "%s%d", tag, nprog);
                    Model m = { path, NULL, 0, 0 };
                    /* the model name is the word after "model" */
                    FILE *g = fopen(path, "r");
                    char w[256], prev[256] = "";
                    static char mname[8][256];
                    while (fscanf(g, "%255s", w) == 1) {
                        if (strcmp(prev, "model") == 0) {
                            snprintf(mname[nprog % 8], 256, "%s", w);
                            break;
                        }
                        snprintf(prev, sizeof prev, "%s", w);
                    }
                    fclose(g);
                    m.name = mname[nprog % 8];
                    const char *p = build(&m, "", name, NULL);
                    ck_assert_msg(p != NULL, "%s program %d does not build", spec, nprog);
                    ck_assert(sh("%s trace 2 > /dev/null", p) == 0);
                    if (cnnc_has_llvm)      /* the object: the C's numbers, at batch 2 */
                        object_same_as_c(&m, "2", 2);
                    nprog++;
                }
            }
            inblock = !inblock;
            continue;
        }
        if (inblock) {
            fputs(line, out);
            if (strncmp(line, "model ", 6) == 0)
                has_model = 1;
        }
    }
    fclose(f);
    return nprog;
}

START_TEST(spec_programs)
{
    int n = spec_file("../shared/spec/LANGUAGE.md", "spec");
    ck_assert(n < 0 || n >= 2);
    n = spec_file("../shared/spec/DETECTION.md", "det");
    ck_assert(n < 0 || n >= 1);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("codegen");
    TCase *tc = tcase_create("generated");
    tcase_set_timeout(tc, 600);
    tcase_add_loop_test(tc, gradcheck, 0, 2 * NMODELS);
    tcase_add_loop_test(tc, o0_equals_o2, 0, NMODELS);
    tcase_add_loop_test(tc, accumulate_and_io, 0, NMODELS);
    tcase_add_test(tc, detect_head);
    tcase_add_loop_test(tc, variants_build, 0, NMODELS);
    tcase_add_loop_test(tc, embedded_runtime, 3, 5);   /* branches, pixels */
    tcase_add_loop_test(tc, matches_pytorch, 0, 2);
    tcase_add_test(tc, spec_programs);
    suite_add_tcase(s, tc);
    /* the LLVM backend (CK_RUN_CASE=llvm runs these alone) */
    tc = tcase_create("llvm");
    tcase_set_timeout(tc, 600);
    tcase_add_loop_test(tc, llvm_same_as_c, 0, NMODELS);
    tcase_add_loop_test(tc, llvm_inference, 0, NMODELS);
    tcase_add_loop_test(tc, llvm_detectors, 0, 2);
    tcase_add_test(tc, llvm_targets);
    tcase_add_loop_test(tc, matches_pytorch, 2, 4);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    B = check_build();
    SAN = check_san();
    setenv("CHECK_VERBOSE", "1", 0);
    return check_run(suite(), 1);
}
