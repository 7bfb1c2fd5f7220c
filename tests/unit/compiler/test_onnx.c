/* test_onnx.c — `cnnc import` and `cnnc --emit=onnx`, through the cnnc
 * binary as a user runs them:
 *   - PyTorch's LeNet-5 and a residual CNN (tests/fixtures/onnx, made by
 *     tests/fixtures/make_onnx.py) import, and the generated code
 *     reproduces PyTorch's outputs for the committed input;
 *   - import -> export -> import gives the same .cnn and the same .cnnw,
 *     and export -> import of a native .cnn keeps its weights;
 *   - bad and unsupported files get a message naming the problem, exit 1,
 *     and leave no file behind.
 * The ONNX conformance suite is test_onnx_conf.c.  Run from the repository
 * root (make check does).
 */
#include <check.h>
#include <dirent.h>
#include <math.h>
#include <sys/stat.h>
#include "frontend/frontend.h"
#include "check_util.h"

#if CNNC_HAVE_ONNX
static const char *B;
static char W[512];          /* this test's work directory */

static long read_text(const char *path, float *x, long max)
{
    FILE *f = fopen(path, "r");
    long n = 0;
    while (f && n < max && fscanf(f, "%f", &x[n]) == 1)
        n++;
    if (f)
        fclose(f);
    return n;
}

static int exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

/* files in W whose name contains ".tmp" (a half-written output) */
static int leftovers(void)
{
    DIR *d = opendir(W);
    int n = 0;
    struct dirent *e;
    while (d && (e = readdir(d)))
        n += strstr(e->d_name, ".tmp") != NULL;
    if (d)
        closedir(d);
    return n;
}

/* cnnc's stderr for a command, in buf */
static int run_err(char *buf, size_t len, const char *args)
{
    char log[600];
    snprintf(log, sizeof log, "%s/err.txt", W);
    int rc = sh("\"$CNNC\" %s 2>%s >/dev/null", args, log);
    const char *text = check_slurp(log);
    size_t n = text ? strlen(text) : 0;
    n = n < len - 1 ? n : len - 1;
    memcpy(buf, text ? text : "", n);
    buf[n] = 0;
    return rc;
}

static const char *const fixtures[] = { "lenet5", "resnet_tiny" };

/* Build W/FILE.cnn (model `model`) for inference at batch 2, run it with
 * WEIGHTS ("-": its own initialisation) on x and read ny outputs into y. */
static void run_model(const char *file, const char *model, const char *weights,
                      const float *x, long nx, float *y, long ny)
{
    char upper[64], path[700];
    for (int i = 0; (upper[i] = (char)(model[i] >= 'a' ? model[i] - 32 : model[i])); i++)
        ;
    snprintf(path, sizeof path, "%s/%s.in.f32", W, file);
    FILE *f = fopen(path, "wb");
    ck_assert(f && fwrite(x, sizeof *x, (size_t)nx, f) == (size_t)nx);
    fclose(f);
    ck_assert_int_eq(sh("\"$CNNC\" --inference --batch 2 %s/%s.cnn -o %s/%s.c && "
                        "cc -std=c99 -O1 %s -Iruntime/include -I%s -DMODEL=%s -DMODEL_UC=%s "
                        "'-DMODEL_H=\"%s.h\"' -o %s/%s tests/harness/onnx_run.c %s/%s.c "
                        "%s/libcnnrt.a -lm && %s/%s %s %s/%s.in.f32 2 %s/%s.out.f32 %ld",
                        W, file, W, file, check_san(), W, model, upper, file, W, file, W, file,
                        B, W, file, weights, W, file, W, file, ny / 2), 0);
    snprintf(path, sizeof path, "%s/%s.out.f32", W, file);
    f = fopen(path, "rb");
    ck_assert(f && fread(y, sizeof *y, (size_t)ny, f) == (size_t)ny);
    fclose(f);
}

START_TEST(pytorch_outputs)
{
    const char *name = fixtures[_i];
    ck_assert_int_eq(sh("\"$CNNC\" import tests/fixtures/onnx/%s.onnx -o %s/%s.cnn >/dev/null",
                        name, W, name), 0);
    static float x[4096], want[64], got[64];
    char path[700];
    snprintf(path, sizeof path, "tests/fixtures/onnx/%s.in.txt", name);
    long nx = read_text(path, x, 4096);
    snprintf(path, sizeof path, "tests/fixtures/onnx/%s.out.txt", name);
    long ny = read_text(path, want, 64);
    ck_assert(nx > 0 && ny > 0);
    snprintf(path, sizeof path, "%s/%s.cnnw", W, name);
    run_model(name, name, path, x, nx, got, ny);
    for (long i = 0; i < ny; i++)
        ck_assert_msg(fabsf(got[i] - want[i]) <= 1e-6f + 1e-4f * fabsf(want[i]),
                      "%s output %ld: cnnc %.9g, PyTorch %.9g", name, i, got[i], want[i]);
}
END_TEST

static int same_files(const char *a, const char *b)
{
    return sh("cmp -s %s %s", a, b) == 0;
}

/* import -> export -> import: the same text and the same weights */
START_TEST(round_trip)
{
    const char *name = fixtures[_i];
    ck_assert_int_eq(sh("\"$CNNC\" import tests/fixtures/onnx/%s.onnx -o %s/rt1.cnn >/dev/null && "
                        "\"$CNNC\" --emit=onnx %s/rt1.cnn --weights %s/rt1.cnnw -o %s/rt.onnx >/dev/null && "
                        "\"$CNNC\" import %s/rt.onnx -o %s/rt2.cnn >/dev/null", name, W, W, W, W, W, W), 0);
    char a[600], b[600];
    snprintf(a, sizeof a, "%s/rt1.cnn", W);
    snprintf(b, sizeof b, "%s/rt2.cnn", W);
    ck_assert_msg(same_files(a, b), "%s: the re-imported .cnn differs (diff %s %s)", name, a, b);
    snprintf(a, sizeof a, "%s/rt1.cnnw", W);
    snprintf(b, sizeof b, "%s/rt2.cnnw", W);
    ck_assert_msg(same_files(a, b), "%s: the re-imported weights differ", name);
}
END_TEST

/* a native program (every op the exporter writes) exports and re-imports
 * with its weights; its statements keep their names */
START_TEST(native_export)
{
    ck_assert_int_eq(sh("\"$CNNC\" --emit=onnx examples/tiny_neck.cnn -o %s/tn.onnx >/dev/null && "
                        "\"$CNNC\" import %s/tn.onnx -o %s/tn.cnn >/dev/null && "
                        "\"$CNNC\" --emit=onnx %s/tn.cnn --weights %s/tn.cnnw -o %s/tn2.onnx >/dev/null && "
                        "\"$CNNC\" import %s/tn2.onnx -o %s/tn2.cnn >/dev/null", W, W, W, W, W, W, W, W), 0);
    char path[600];
    snprintf(path, sizeof path, "%s/tn.cnn", W);
    const char *src = check_slurp(path);
    ck_assert(src != NULL);
    ck_assert_msg(strstr(src, "input image[3, 64, 64]") && strstr(src, "concat(up, c2)") &&
                  strstr(src, "leaky_relu(0.1)") && strstr(src, "-> silu") &&
                  strstr(src, "upsample(2)") && strstr(src, "output r"), "%s", src);
    char a[600], b[600];
    snprintf(a, sizeof a, "%s/tn.cnnw", W);
    snprintf(b, sizeof b, "%s/tn2.cnnw", W);
    ck_assert(same_files(a, b));
    /* exported without --weights: the generated _init's parameters, so the
       imported model computes what the native one does after _new */
    ck_assert_int_eq(sh("\"$CNNC\" --emit=onnx examples/lenet5.cnn -o %s/l5.onnx >/dev/null && "
                        "\"$CNNC\" import %s/l5.onnx -o %s/l5.cnn >/dev/null && "
                        "cp examples/lenet5.cnn %s/native.cnn", W, W, W, W), 0);
    snprintf(path, sizeof path, "%s/l5.cnn", W);
    ck_assert_ptr_nonnull(strstr(check_slurp(path), "conv(6, kernel=5, pad=2) -> relu -> maxpool(2)"));
    static float x[2 * 784], y1[20], y2[20];
    for (int i = 0; i < 2 * 784; i++)
        x[i] = (float)((i * 37) % 101) / 50.0f - 1.0f;
    snprintf(path, sizeof path, "%s/l5.cnnw", W);
    run_model("l5", "lenet5", path, x, 2 * 784, y1, 20);
    run_model("native", "lenet5", "-", x, 2 * 784, y2, 20);
    for (int i = 0; i < 20; i++)
        ck_assert_msg(fabsf(y1[i] - y2[i]) <= 1e-6f, "output %d: exported %.9g, native %.9g",
                      i, y1[i], y2[i]);
}
END_TEST

/* last "accuracy NN.NN%" in a file */
static double accuracy(const char *path)
{
    FILE *f = fopen(path, "r");
    char line[512];
    double acc = -1;
    while (f && fgets(line, sizeof line, f)) {
        const char *p = strstr(line, "accuracy ");
        while (p) {
            sscanf(p + 9, "%lf", &acc);
            p = strstr(p + 9, "accuracy ");
        }
    }
    if (f)
        fclose(f);
    return acc;
}

/* The imported LeNet-5 with a train block, fine-tuned by the generated
 * trainer from its imported weights (train --weights), learns as well as
 * the native examples/lenet5.cnn trained from its own initialisation: one
 * epoch over Fashion-MNIST's 10,000 test images each. */
START_TEST(fine_tune)
{
    if (check_san()[0]) {       /* three trainings take minutes under ASan */
        printf("fine_tune: skipped under the sanitizers\n");
        return;
    }
    const char *data = "/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz";
    const char *train = "train {\n loss = cross_entropy\n optimizer = adam(lr=0.001)\n batch = 64\n}\n";
    ck_assert_int_eq(sh("\"$CNNC\" import tests/fixtures/onnx/lenet5.onnx -o %s/ft.cnn >/dev/null && "
                        "printf '%s' >> %s/ft.cnn && grep -v augment examples/lenet5.cnn > %s/nat.cnn",
                        W, train, W, W), 0);
    const char *names[2] = { "ft", "nat" };
    double acc[2];
    for (int i = 0; i < 2; i++) {
        const char *n = names[i];
        ck_assert_int_eq(sh("\"$CNNC\" --main %s/%s.cnn -o %s/%s.c && cc -std=c99 -O2 %s -Iruntime/include "
                            "-o %s/%s %s/%s.c %s/libcnnrt.a -lm -lpthread && %s/%s train --train %s "
                            "--epochs 1 --save %s/%s.out.cnnw %s%s%s > %s/%s.log 2>&1",
                            W, n, W, n, check_san(), W, n, W, n, B, W, n, data, W, n,
                            i ? "" : "--weights ", i ? "" : W, i ? "" : "/ft.cnnw", W, n), 0);
        char log[600];
        snprintf(log, sizeof log, "%s/%s.log", W, n);
        acc[i] = accuracy(log);
    }
    ck_assert_msg(acc[0] > 45 && fabs(acc[0] - acc[1]) < 5,
                  "fine-tuned imported LeNet-5 %.2f%%, native %.2f%% (chance: 10%%)", acc[0], acc[1]);
    /* and it did start from the imported weights, not from _init's */
    ck_assert_int_eq(sh("%s/ft train --train %s --epochs 1 --save %s/ft.init.cnnw > %s/ft0.log 2>&1",
                        W, data, W, W), 0);
    char log[600];
    snprintf(log, sizeof log, "%s/ft0.log", W);
    ck_assert_msg(accuracy(log) != acc[0], "the same accuracy with and without --weights");
}
END_TEST

START_TEST(errors)
{
    char err[2048], args[2400];
    const char *data = "/usr/share/libonnx-testdata/data/node";
    struct {
        const char *file;       /* %s: the test data's node directory */
        const char *want[2];    /* in the message */
    } cases[] = {
        { "%s/test_abs/model.onnx", { "node computing 'y' (Abs): operator Abs is not supported",
                                      "nearest supported form" } },
        { "%s/test_maxpool_2d_ceil/model.onnx", { "(MaxPool): ceil_mode=1", "ceil_mode=0" } },
        { "%s/test_conv_with_strides_and_asymmetric_padding/model.onnx", { "several inputs", "" } },
        { "tests/fixtures/lenet5_losses.txt", { "not an ONNX model", "" } },
        { "%s/no_such_case/model.onnx", { "No such file", "" } },
        { "%s/test_averagepool_2d_pads/model.onnx", { "count_include_pad=0 with padding",
                                                       "count_include_pad=1" } },
        { "%s/test_softmax_axis_2/model.onnx", { "(Softmax): softmax over axis 2",
                                                 "Softmax over axis 1" } },
        { "%s/test_maxpool_2d_dilations/model.onnx", { "(MaxPool): dilated pooling",
                                                       "dilations=[1, 1]" } },
        /* a fuzz finding: absent strings unpack as NULL (op_type here) */
        { "tests/fixtures/onnx/bad/no_op_type.onnx", { "has no operator type", "" } },
        /* and a MaxPool of stride 0 (division by zero) */
        { "tests/fixtures/onnx/bad/zero_stride.onnx", { "(MaxPool): kernel_shape, strides and "
                                                        "dilations must be 1 to 65536", "" } },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char file[700];
        snprintf(file, sizeof file, cases[i].file, data);
        snprintf(args, sizeof args, "import %s -o %s/bad.cnn", file, W);
        ck_assert_msg(run_err(err, sizeof err, args) == 1, "%s: exit status", file);
        for (int k = 0; k < 2; k++)
            ck_assert_msg(strstr(err, cases[i].want[k]), "%s: '%s' not in:\n%s", file,
                          cases[i].want[k], err);
        char out[700];
        snprintf(out, sizeof out, "%s/bad.cnn", W);
        ck_assert_msg(!exists(out), "%s: %s written", file, out);
        snprintf(out, sizeof out, "%s/bad.cnnw", W);
        ck_assert_msg(!exists(out), "%s: %s written", file, out);
    }
    /* export with weights of another model: refused, nothing written */
    snprintf(args, sizeof args, "--emit=onnx examples/tiny_neck.cnn --weights tests/fixtures/lenet5_init.cnnw "
             "-o %s/bad.onnx", W);
    ck_assert_int_eq(run_err(err, sizeof err, args), 1);
    ck_assert_msg(strstr(err, "lenet5_init.cnnw"), "%s", err);
    snprintf(args, sizeof args, "%s/bad.onnx", W);
    ck_assert(!exists(args));
    ck_assert_int_eq(leftovers(), 0);
    /* import into a directory that does not exist: an error, no crash */
    snprintf(args, sizeof args, "import tests/fixtures/onnx/lenet5.onnx -o %s/no/dir/x.cnn", W);
    ck_assert_int_eq(run_err(err, sizeof err, args), 1);
    ck_assert_msg(strstr(err, "cannot write"), "%s", err);
}
END_TEST
#endif

static Suite *suite(void)
{
    Suite *s = suite_create("onnx");
    TCase *tc = tcase_create("onnx");
    tcase_set_timeout(tc, 300);
#if CNNC_HAVE_ONNX
    B = check_build();
    snprintf(W, sizeof W, "%s/onnx-test", B);
    sh("rm -rf %s && mkdir -p %s", W, W);
    tcase_add_loop_test(tc, pytorch_outputs, 0, 2);
    tcase_add_loop_test(tc, round_trip, 0, 2);
    tcase_add_test(tc, native_export);
    tcase_add_test(tc, fine_tune);
    tcase_add_test(tc, errors);
#endif
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return check_run(suite(), 1);
}
