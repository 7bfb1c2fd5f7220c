/* test_onnx_conf.c — ONNX's own backend tests (Debian's libonnx-testdata:
 * the node tests and the PyTorch-converted modules) through cnnc.
 *
 * Every case whose operators are all in the supported list is
 * imported (graph inputs after the first bound as constants from the
 * case's input_1.pb, ...), compiled with `cnnc --inference`, built against
 * libcnnrt.a with tests/harness/onnx_run.c, run on input_0.pb, and
 * compared with every output_*.pb under ONNX's tolerances
 * (|got - want| <= 1e-7 + 1e-3 |want|).  Cases cnnc refuses (an attribute
 * it cannot express exactly) are counted, not failed; a case that imports
 * but computes wrong numbers fails the test.  The figures go to stdout and
 * to BUILD/onnx-conformance.txt; the README quotes them.
 */
#include <check.h>
#include <dirent.h>
#include <math.h>
#include <sys/stat.h>
#include "check_util.h"

#if CNNC_HAVE_ONNX
#include "onnx/pb.h"

#define ATOL 1e-7
#define RTOL 1e-3
/* what the README says: update both when the importer grows */
#define MIN_PASSED 82

static const char *const supported[] = {
    "Conv", "MaxPool", "AveragePool", "GlobalAveragePool", "BatchNormalization", "Relu",
    "LeakyRelu", "PRelu", "Sigmoid", "Tanh", "Softmax", "Flatten", "Reshape", "Gemm", "MatMul",
    "Concat", "Add", "Mul", "Resize", "Upsample", "Dropout", "Identity", "Constant",
};

static int is_supported(const char *op)
{
    for (size_t i = 0; i < sizeof supported / sizeof supported[0]; i++)
        if (strcmp(op, supported[i]) == 0)
            return 1;
    return 0;
}

typedef struct {
    int total, subset, refused, passed, failed;
    char other[64][32];             /* unsupported operators seen */
    int nother[64], nothers;
    FILE *log;
} Stats;

static void count_other(Stats *st, const char *op)
{
    int i = 0;
    while (i < st->nothers && strcmp(st->other[i], op))
        i++;
    if (i == st->nothers && st->nothers < 64)
        snprintf(st->other[st->nothers++], 32, "%s", op);
    if (i < 64)
        st->nother[i]++;
}

static float *tensor_file(const char *path, Onnx__TensorProto **keep, long *n)
{
    char err[256];
    Onnx__TensorProto *t = pb_read_tensor(path, err, sizeof err);
    if (!t)
        return NULL;
    *n = pb_numel(t);
    float *f = pb_floats(t);
    if (keep)
        *keep = t;
    else
        onnx__tensor_proto__free_unpacked(t, NULL);
    return f;
}

static int write_floats(const char *path, const float *x, long n)
{
    FILE *f = fopen(path, "wb");
    int bad = !f || fwrite(x, sizeof *x, (size_t)n, f) != (size_t)n;
    if (f)
        bad |= fclose(f) != 0;
    return bad ? -1 : 0;
}

/* import with the extra inputs bound; the name of the generated model */
static int import_case(const char *dir, Onnx__ModelProto *mp, OnnxImport *r, char *err, size_t len)
{
    Onnx__GraphProto g = *mp->graph;
    Onnx__ModelProto m = *mp;
    Onnx__TensorProto *bound[16];
    char *own[16];                  /* the bound tensors' own names, restored */
    int nb = 0, k = 0;
    Onnx__TensorProto **inits = malloc(sizeof *inits * (g.n_initializer + 16));
    if (g.n_initializer)
        memcpy(inits, g.initializer, sizeof *inits * g.n_initializer);
    for (size_t i = 0; i < g.n_input; i++) {
        int init = 0;
        for (size_t j = 0; j < g.n_initializer && !init; j++)
            init = strcmp(g.initializer[j]->name, g.input[i]->name) == 0;
        if (init || k++ == 0 || nb == 16)
            continue;
        char path[1100];
        snprintf(path, sizeof path, "%s/test_data_set_0/input_%d.pb", dir, k - 1);
        Onnx__TensorProto *t = pb_read_tensor(path, err, len);
        if (!t)
            break;
        own[nb] = t->name;
        t->name = g.input[i]->name;         /* the file's name may be empty */
        bound[nb++] = t;
        inits[g.n_initializer + (size_t)nb - 1] = t;
    }
    g.initializer = inits;
    g.n_initializer += (size_t)nb;
    m.graph = &g;
    int rc = onnx_import_model(&m, dir, r);
    for (int i = 0; i < nb; i++) {
        bound[i]->name = own[i];
        onnx__tensor_proto__free_unpacked(bound[i], NULL);
    }
    free(inits);
    if (rc)
        snprintf(err, len, "%s%s%s", r->msg, r->note[0] ? "; " : "", r->note);
    return rc;
}

/* build and run the imported case; compare with its outputs */
static int run_case(const char *dir, const char *name, const OnnxImport *r, char *err, size_t len)
{
    char w[600], path[1400], model[64] = "", upper[64];
    const char *B = check_build();
    snprintf(w, sizeof w, "%s/onnx-conf/%s", B, name);
    sscanf(strstr(r->cnn, "model ") + 6, "%63[A-Za-z0-9_]", model);
    for (int i = 0; model[i] || (upper[i] = 0); i++)
        upper[i] = (char)(model[i] >= 'a' && model[i] <= 'z' ? model[i] - 32 : model[i]);
    char cnn[700], cnnw[700];
    snprintf(cnn, sizeof cnn, "%s/m.cnn", w);
    snprintf(cnnw, sizeof cnnw, "%s/m.cnnw", w);
    sh("mkdir -p %s", w);
    if (onnx_import_write(r, cnn, cnnw, err, len))
        return -1;
    long nin;
    snprintf(path, sizeof path, "%s/test_data_set_0/input_0.pb", dir);
    Onnx__TensorProto *t0 = NULL;
    float *x = tensor_file(path, &t0, &nin);
    if (!x) {
        snprintf(err, len, "cannot read input_0.pb");
        return -1;
    }
    long n = t0->n_dims ? (long)t0->dims[0] : 1;
    onnx__tensor_proto__free_unpacked(t0, NULL);
    snprintf(path, sizeof path, "%s/in.f32", w);
    write_floats(path, x, nin);
    free(x);
    /* expected outputs, and each one's size per sample */
    float *want[8];
    long wn[8], total = 0;
    int nout = 0;
    char sizes[200] = "";
    for (; nout < 8; nout++) {
        snprintf(path, sizeof path, "%s/test_data_set_0/output_%d.pb", dir, nout);
        struct stat sb;
        if (stat(path, &sb) || !(want[nout] = tensor_file(path, NULL, &wn[nout])))
            break;
        snprintf(sizes + strlen(sizes), sizeof sizes - strlen(sizes), " %ld", wn[nout] / n);
        total += wn[nout];
    }
    int rc = -1;
    if (sh("\"$CNNC\" --inference --batch %ld %s -o %s/m.c", n, cnn, w))
        snprintf(err, len, "cnnc failed on the imported %s", cnn);
    else if (sh("cc -std=c99 -O0 %s -Iruntime/include -I%s -DMODEL=%s -DMODEL_UC=%s '-DMODEL_H=\"m.h\"' "
                "-o %s/prog tests/harness/onnx_run.c %s/m.c %s/libcnnrt.a -lm",
                check_san(), w, model, upper, w, w, B))
        snprintf(err, len, "the generated C does not build");
    else if (sh("%s/prog %s %s/in.f32 %ld %s/out.f32%s", w, cnnw, w, n, w, sizes))
        snprintf(err, len, "the generated program failed");
    else
        rc = 0;
    if (rc == 0) {
        snprintf(path, sizeof path, "%s/out.f32", w);
        FILE *f = fopen(path, "rb");
        float *got = malloc(sizeof *got * (size_t)(total ? total : 1));
        long have = f ? (long)fread(got, sizeof *got, (size_t)total, f) : 0;
        if (f)
            fclose(f);
        if (have != total) {
            snprintf(err, len, "%ld output values, expected %ld", have, total);
            rc = -1;
        }
        for (int o = 0, at = 0; o < nout && rc == 0; at += (int)wn[o], o++)
            for (long i = 0; i < wn[o] && rc == 0; i++)
                if (!(fabs(got[at + i] - want[o][i]) <= ATOL + RTOL * fabs(want[o][i]))) {
                    snprintf(err, len, "output %d [%ld]: got %.9g, expected %.9g", o, i,
                             got[at + i], want[o][i]);
                    rc = -1;
                }
        free(got);
    }
    for (int o = 0; o < nout; o++)
        free(want[o]);
    return rc;
}

static void suite_dir(const char *root, Stats *st)
{
    DIR *d = opendir(root);
    ck_assert_msg(d != NULL, "no %s: install libonnx-testdata", root);
    struct dirent *e;
    char *names[2048];
    int nn = 0;
    while ((e = readdir(d)) && nn < 2048)
        if (e->d_name[0] != '.')
            names[nn++] = strdup(e->d_name);
    closedir(d);
    qsort(names, (size_t)nn, sizeof *names, (int (*)(const void *, const void *))strcmp);
    for (int i = 0; i < nn; i++) {
        char dir[1024], path[1100], err[1400];
        snprintf(dir, sizeof dir, "%s/%s", root, names[i]);
        snprintf(path, sizeof path, "%s/model.onnx", dir);
        Onnx__ModelProto *mp = pb_read_model(path, err, sizeof err);
        st->total++;
        const char *other = NULL;
        for (size_t k = 0; mp && k < mp->graph->n_node && !other; k++)
            if (!is_supported(mp->graph->node[k]->op_type))
                other = mp->graph->node[k]->op_type;
        if (!mp || other) {
            count_other(st, other ? other : "(unreadable)");
        } else {
            st->subset++;
            OnnxImport r;
            if (import_case(dir, mp, &r, err, sizeof err)) {
                st->refused++;
                fprintf(st->log, "refused  %-50s %s\n", names[i], err);
            } else if (run_case(dir, names[i], &r, err, sizeof err)) {
                st->failed++;
                fprintf(st->log, "FAILED   %-50s %s\n", names[i], err);
                fprintf(stderr, "FAILED   %s: %s\n", names[i], err);
            } else {
                st->passed++;
                fprintf(st->log, "passed   %s\n", names[i]);
            }
            onnx_import_free(&r);
        }
        if (mp)
            onnx__model_proto__free_unpacked(mp, NULL);
        free(names[i]);
    }
}

START_TEST(conformance)
{
    const char *data = getenv("ONNX_TESTDATA") ? getenv("ONNX_TESTDATA") :
                       "/usr/share/libonnx-testdata/data";
    char root[600], logp[600];
    Stats st;
    memset(&st, 0, sizeof st);
    snprintf(logp, sizeof logp, "%s/onnx-conformance.txt", check_build());
    st.log = fopen(logp, "w");
    ck_assert(st.log != NULL);
    const char *suites[] = { "node", "pytorch-converted" };
    for (int s = 0; s < 2; s++) {
        snprintf(root, sizeof root, "%s/%s", data, suites[s]);
        suite_dir(root, &st);
    }
    fprintf(st.log, "\n%d cases; %d use only supported operators: %d pass, %d fail, "
            "%d refused (attributes cnnc cannot express exactly)\nother operators (cases):",
            st.total, st.subset, st.passed, st.failed, st.refused);
    for (int i = 0; i < st.nothers; i++)
        fprintf(st.log, " %s (%d)", st.other[i], st.nother[i]);
    fprintf(st.log, "\n");
    fclose(st.log);
    printf("onnx conformance: %d cases, %d with supported operators: %d passed, %d failed, "
           "%d refused (see %s)\n", st.total, st.subset, st.passed, st.failed, st.refused, logp);
    ck_assert_msg(st.failed == 0, "%d imported cases compute wrong numbers (see %s)", st.failed, logp);
    ck_assert_msg(st.passed >= MIN_PASSED, "only %d cases pass, the README says %d", st.passed,
                  MIN_PASSED);
}
END_TEST
#else
START_TEST(conformance)
{
    printf("onnx conformance: cnnc was built without protobuf-c; skipped\n");
}
END_TEST
#endif

int main(void)
{
    Suite *s = suite_create("onnx-conformance");
    TCase *tc = tcase_create("conformance");
    tcase_set_timeout(tc, 600);
    tcase_add_test(tc, conformance);
    suite_add_tcase(s, tc);
    return check_run(s, 1);
}
