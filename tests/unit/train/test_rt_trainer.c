/* test_rt_trainer.c — cnnrt_main (runtime/train/trainer.c) and the progress
 * display, without the compiler: the model is a softmax regression written
 * here by hand (forward, backward, SGD with momentum through
 * cnnrt_sgd_update), trained on a synthetic IDX set the test writes.
 *
 * A second hand-made model, "boxy", is a detector whose detect() finds the
 * same box in every picture: for predict --draw.
 *
 * Each command runs in a forked child with stdout and stderr sent to files,
 * so exit codes and messages are checked as a user would see them.
 */
#include "cnnrt_train.h"
#include "cnnrt_data.h"

#include <check.h>
#include <dirent.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include <stb/stb_image.h>
#include <stb/stb_image_write.h>
#include "check_util.h"

/* the kernel context of the calls below (they need no scratch) */
static cnnrt_ctx kctx = { NULL, 1, NULL };

/* ---- the model: p = softmax(W x + b), x 1x4x4, 4 classes ---- */
#define IN 16
#define OUT 4
#define BATCH 8

typedef struct {
    float w[OUT * IN], b[OUT], gw[OUT * IN], gb[OUT];
    float vw[OUT * IN], vb[OUT];    /* momentum buffers: the optimizer state */
    long step;
    float x[BATCH * IN], p[BATCH * OUT];
    cnnrt_tensor params[2], state[2];
} Soft;

static long backward_calls, poison_at = -1;     /* poison: return NaN at that call */
static float poison_value = NAN;                /* (or this) */

static void *soft_create(void)
{
    Soft *m = calloc(1, sizeof *m);
    if (!m)
        return NULL;
    cnnrt_tensor p[2] = {
        { "fc.weight", 2, {OUT, IN, 0, 0}, OUT * IN, m->w, m->gw },
        { "fc.bias", 1, {OUT, 0, 0, 0}, OUT, m->b, m->gb },
    };
    cnnrt_tensor s[2] = {
        { "sgd.v.fc.weight", 2, {OUT, IN, 0, 0}, OUT * IN, m->vw, NULL },
        { "sgd.v.fc.bias", 1, {OUT, 0, 0, 0}, OUT, m->vb, NULL },
    };
    memcpy(m->params, p, sizeof p);
    memcpy(m->state, s, sizeof s);
    return m;
}

static void soft_destroy(void *m) { free(m); }

static void soft_init(void *vm, uint64_t seed)
{
    Soft *m = vm;
    cnnrt_rng r;
    cnnrt_rng_seed(&r, seed);
    cnnrt_init_weight(&r, CNNRT_INIT_DEFAULT, m->w, OUT * IN, IN, OUT);
    cnnrt_init_bias(&r, CNNRT_INIT_DEFAULT, m->b, OUT, IN);
}

static void soft_set_training(void *m, int on) { (void)m, (void)on; }

static const float *soft_forward(void *vm, const float *x, int n)
{
    Soft *m = vm;
    memcpy(m->x, x, sizeof *x * (size_t)n * IN);
    for (int k = 0; k < n; k++) {
        float *z = m->p + k * OUT, mx = -INFINITY, sum = 0;
        for (int o = 0; o < OUT; o++) {
            z[o] = m->b[o];
            for (int i = 0; i < IN; i++)
                z[o] += m->w[o * IN + i] * x[k * IN + i];
            mx = fmaxf(mx, z[o]);
        }
        for (int o = 0; o < OUT; o++)
            sum += z[o] = expf(z[o] - mx);
        for (int o = 0; o < OUT; o++)
            z[o] /= sum;
    }
    return m->p;
}

static float soft_backward(void *vm, const float *t, int n)
{
    Soft *m = vm;
    if (++backward_calls == poison_at)
        return poison_value;
    float loss = 0;
    for (int k = 0; k < n; k++)
        for (int o = 0; o < OUT; o++) {
            float y = t[k * OUT + o], p = m->p[k * OUT + o], dz = (p - y) / (float)n;
            loss -= y ? y * logf(p) : 0;
            m->gb[o] += dz;
            for (int i = 0; i < IN; i++)
                m->gw[o * IN + i] += dz * m->x[k * IN + i];
        }
    return loss / (float)n;
}

static void soft_update(void *vm)
{
    Soft *m = vm;
    m->step++;
    cnnrt_sgd_update(&kctx, OUT * IN, m->w, m->gw, m->vw, 0.5f, 0.9f, 1e-4f, 0, m->step);
    cnnrt_sgd_update(&kctx, OUT, m->b, m->gb, m->vb, 0.5f, 0.9f, 1e-4f, 0, m->step);
}

static int soft_params(void *vm, const cnnrt_tensor **out)
{
    *out = ((Soft *)vm)->params;
    return 2;
}

static int soft_state(void *vm, const cnnrt_tensor **out, long **step)
{
    Soft *m = vm;
    *out = m->state;
    *step = &m->step;
    return 2;
}

static const cnnrt_model soft_model = {
    "soft", BATCH, 1, 4, 4, IN, OUT, CNNRT_LOSS_XENT, 3, 0, NULL, 0,
    soft_create, soft_destroy, soft_init, soft_set_training, soft_forward,
    soft_backward, soft_update, soft_params, soft_state, 0, NULL, NULL, 0.1f,
    CNNRT_TARGET_PROBS, OUT, 0, 0, NULL,
};

/* ---- the detector: 3x16x16 pictures, 3 classes; one parameter, no
 * learning; detect() finds class 1 at BOXY_BOX in every picture ---- */
#define BOXY_SIDE 16
static const float boxy_box[4] = { 4, 4, 12, 10 };     /* x1 y1 x2 y2, input pixels */

typedef struct {
    float p, g;
    cnnrt_tensor params[1];
} Boxy;

static void *boxy_create(void)
{
    Boxy *m = calloc(1, sizeof *m);
    if (m) {
        cnnrt_tensor t = { "p", 1, {1, 0, 0, 0}, 1, &m->p, &m->g };
        m->params[0] = t;
    }
    return m;
}

static void boxy_init(void *m, uint64_t seed) { (void)m, (void)seed; }
static void boxy_update(void *m) { (void)m; }
static const float *boxy_forward(void *m, const float *x, int n)
{
    (void)n;
    ((Boxy *)m)->g = x[0];
    return &((Boxy *)m)->p;
}
static float boxy_backward(void *m, const float *t, int n) { (void)m, (void)t, (void)n; return 0.5f; }
static int boxy_params(void *m, const cnnrt_tensor **out)
{
    *out = ((Boxy *)m)->params;
    return 1;
}
static int boxy_state(void *m, const cnnrt_tensor **out, long **step)
{
    (void)m, *out = NULL, *step = NULL;
    return 0;
}

static int boxy_detect(void *m, const float *x, int n, float thr, float nms, cnnrt_det *out,
                       int max)
{
    (void)m, (void)x, (void)thr, (void)nms;
    int k = 0;
    for (; k < n && k < max; k++) {
        cnnrt_det d = { k, 1, 0.9f, boxy_box[0], boxy_box[1], boxy_box[2], boxy_box[3] };
        out[k] = d;
    }
    return k;
}

static const cnnrt_model boxy_model = {
    "boxy", 4, 3, BOXY_SIDE, BOXY_SIDE, 3 * BOXY_SIDE * BOXY_SIDE, 1, CNNRT_LOSS_YOLOX, 1, 0,
    NULL, 0, boxy_create, soft_destroy, boxy_init, soft_set_training, boxy_forward,
    boxy_backward, boxy_update, boxy_params, boxy_state, 0, NULL, NULL, 0.1f,
    CNNRT_TARGET_BOXES, 4 * 5, 3, 4, boxy_detect,
};

/* ---- files ---- */
static char dir[64];
static const cnnrt_model *run_model = &soft_model;     /* what run() runs */

static void make_dir(void)
{
    snprintf(dir, sizeof dir, "/tmp/cnnrt_trainer_XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(dir));
    backward_calls = 0;
    run_model = &soft_model;
    poison_at = -1;
    poison_value = NAN;
}

static void remove_dir(void)
{
    DIR *d = opendir(dir);
    if (!d)
        return;
    char path[512];
    for (struct dirent *e; (e = readdir(d));) {
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        if (e->d_name[0] != '.')
            remove(path);
    }
    closedir(d);
    rmdir(dir);
}

/* DIR/name in a buffer of the caller's */
static char *path_in(char *buf, const char *name)
{
    snprintf(buf, 512, "%s/%s", dir, name);
    return buf;
}

static unsigned char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    *len = 0;
    if (!f)
        return NULL;
    static const size_t cap = 1 << 20;
    unsigned char *buf = malloc(cap + 1);
    *len = fread(buf, 1, cap, f);
    buf[*len] = 0;
    fclose(f);
    return buf;
}

static void write_be32(FILE *f, uint32_t v)
{
    fputc((int)(v >> 24), f), fputc((int)(v >> 16) & 255, f);
    fputc((int)(v >> 8) & 255, f), fputc((int)v & 255, f);
}

/* n images side x side of class i % 4 (a bright quadrant over noise) and
 * their labels, as NAME-images-idx3-ubyte and NAME-labels-idx1-ubyte */
static void write_set(const char *name, int n, int side, uint32_t seed)
{
    char ip[512], lp[512], file[128];
    snprintf(file, sizeof file, "%s-images-idx3-ubyte", name);
    FILE *fi = fopen(path_in(ip, file), "wb");
    snprintf(file, sizeof file, "%s-labels-idx1-ubyte", name);
    FILE *fl = fopen(path_in(lp, file), "wb");
    ck_assert(fi && fl);
    write_be32(fi, 0x0803), write_be32(fi, (uint32_t)n);
    write_be32(fi, (uint32_t)side), write_be32(fi, (uint32_t)side);
    write_be32(fl, 0x0801), write_be32(fl, (uint32_t)n);
    for (int i = 0; i < n; i++) {
        int cls = (i * 7 + 3) % 4, half = side / 2;
        for (int y = 0; y < side; y++)
            for (int x = 0; x < side; x++) {
                seed = seed * 1103515245u + 12345u;
                int q = (y >= half) * 2 + (x >= half);
                fputc((int)((seed >> 16) % 90) + (q == cls ? 140 : 0), fi);
            }
        fputc(cls, fl);
    }
    fclose(fi);
    fclose(fl);
}

/* ---- running cnnrt_main in a child ---- */
static char out[1 << 16], err[1 << 16];

/* cnnrt_main(run_model, its name, args...) with stdout and stderr captured
 * in out and err; returns its exit status */
static int run(const char *first, ...)
{
    char *argv[32] = { (char *)run_model->name };
    int argc = 1;
    va_list ap;
    va_start(ap, first);
    for (const char *a = first; a && argc < 31; a = va_arg(ap, const char *))
        argv[argc++] = (char *)a;
    va_end(ap);
    char op[512], ep[512];
    path_in(op, "stdout.txt");
    path_in(ep, "stderr.txt");
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        if (!freopen(op, "w", stdout) || !freopen(ep, "w", stderr))
            _exit(99);
        int rc = cnnrt_main(run_model, argc, argv);
        fflush(stdout);
        exit(rc);
    }
    int status;
    waitpid(pid, &status, 0);
    ck_assert_msg(WIFEXITED(status), "cnnrt_main crashed");
    size_t n;
    unsigned char *b = slurp(op, &n);
    snprintf(out, sizeof out, "%s", b ? (char *)b : "");
    free(b);
    b = slurp(ep, &n);
    snprintf(err, sizeof err, "%s", b ? (char *)b : "");
    free(b);
    return WEXITSTATUS(status);
}

static void expect_same_file(const char *a, const char *b)
{
    size_t la, lb;
    unsigned char *pa = slurp(a, &la), *pb = slurp(b, &lb);
    ck_assert_msg(pa && pb, "missing %s or %s", a, b);
    ck_assert_msg(la == lb && !memcmp(pa, pb, la), "%s and %s differ", a, b);
    free(pa);
    free(pb);
}

/* the number after `key` in the line of `text` that starts with `line` */
static double figure(const char *text, const char *line, const char *key)
{
    const char *l = strstr(text, line);
    ck_assert_msg(l != NULL, "no line '%s' in:\n%s", line, text);
    const char *k = strstr(l, key), *eol = strchr(l, '\n');
    ck_assert_msg(k && (!eol || k < eol), "no '%s' on line '%s'", key, line);
    return atof(k + strlen(key));
}

START_TEST(training_learns_and_checkpoints)
{
    char tr[512], va[512], ck[512];
    write_set("syn", 100, 4, 1);
    write_set("val", 40, 4, 2);
    int rc = run("train", "--train", path_in(tr, "syn-images-idx3-ubyte"), "--val",
                 path_in(va, "val-images-idx3-ubyte"), "--epochs", "3", "--seed", "5",
                 "--save", path_in(ck, "m.cnnw"), NULL);
    ck_assert_msg(rc == 0, "rc %d, stderr: %s", rc, err);
    double first = figure(out, "epoch 1/3  loss", "loss ");
    double last = figure(out, "epoch 3/3  loss", "loss ");
    ck_assert_msg(last < 0.5 * first, "loss %g -> %g:\n%s", first, last, out);
    ck_assert_double_ge(figure(out, "epoch 3/3  loss", "val accuracy "), 95);
    /* plain progress lines between the summaries: 13 batches, 9 tenths */
    ck_assert_ptr_nonnull(strstr(out, "epoch 2/3  batch 2/13  loss"));
    ck_assert_ptr_nonnull(strstr(out, "epoch 1/3  batch 12/13"));

    /* the checkpoint: parameters, momentum, step 3 epochs x 13 batches,
     * trainer.state = format 1, 3 epochs, seed 5 */
    Soft *m = soft_create();
    float ts[6];
    cnnrt_tensor st[3] = { m->state[0], m->state[1],
                           { "trainer.state", 1, {6, 0, 0, 0}, 6, ts, NULL } };
    long step;
    char msg[512];
    ck_assert_msg(cnnrt_load(ck, m->params, 2, st, 3, &step, msg, sizeof msg) == 0, "%s", msg);
    ck_assert_int_eq(step, 39);
    ck_assert_float_eq(ts[0], 1);
    ck_assert_float_eq(ts[1], 3);
    ck_assert_float_eq(ts[2], 5);
    ck_assert_float_eq(ts[5], 0);
    soft_destroy(m);

    /* eval on the validation set gives the last epoch's validation figures */
    double vloss = figure(out, "epoch 3/3  loss", "val loss ");
    double vacc = figure(out, "epoch 3/3  loss", "val accuracy ");
    rc = run("eval", "--weights", ck, va, NULL);
    ck_assert_msg(rc == 0, "%s", err);
    ck_assert_msg(!strncmp(out, "test: loss ", 11) && strstr(out, "%  (40 images)\n"), "%s", out);
    ck_assert_double_eq_tol(figure(out, "test:", "loss "), vloss, 1e-4);
    ck_assert_double_eq_tol(figure(out, "test:", "accuracy "), vacc, 1e-2);

    /* predict prints a class per image, the label beside it */
    rc = run("predict", "--weights", ck, va, NULL);
    ck_assert_msg(rc == 0, "%s", err);
    int lines = 0, right = 0;
    for (const char *l = out; (l = strstr(l, "-images-idx3-ubyte[")); l++) {
        int i, c, lab;
        float p;
        ck_assert_int_eq(sscanf(l, "-images-idx3-ubyte[%d]: class %d (%f)  label %d",
                                &i, &c, &p, &lab), 4);
        ck_assert_int_eq(i, lines);
        lines++;
        right += c == lab;
    }
    ck_assert_int_eq(lines, 40);
    ck_assert_int_ge(right, 38);
}
END_TEST

/* 2 epochs, or 1 then a resumed 1: the same checkpoint byte for byte */
START_TEST(resume_is_bit_identical)
{
    char tr[512], a[512], b[512], c[512], t[512];
    write_set("syn", 100, 4, 3);
    path_in(tr, "syn-images-idx3-ubyte");
    ck_assert_int_eq(run("train", "--train", tr, "--epochs", "2", "--seed", "11",
                         "--save", path_in(a, "a.cnnw"), NULL), 0);
    ck_assert_int_eq(run("train", "--train", tr, "--epochs", "1", "--seed", "11",
                         "--save", path_in(b, "b.cnnw"), NULL), 0);
    size_t la, lb;
    unsigned char *pa = slurp(a, &la), *pb = slurp(b, &lb);
    ck_assert(la == lb && memcmp(pa, pb, la) != 0);
    free(pa);
    free(pb);
    /* the seed comes from the checkpoint */
    int rc = run("train", "--train", tr, "--epochs", "2", "--resume", b,
                 "--save", path_in(c, "c.cnnw"), NULL);
    ck_assert_msg(rc == 0, "%s", err);
    ck_assert_ptr_nonnull(strstr(out, "resuming from"));
    ck_assert_ptr_null(strstr(out, "epoch 1/2"));
    ck_assert_ptr_nonnull(strstr(out, "epoch 2/2  loss"));
    expect_same_file(a, c);
    /* nothing left to do */
    ck_assert_int_eq(run("train", "--train", tr, "--epochs", "2", "--resume", c,
                         "--save", path_in(t, "t.cnnw"), NULL), 0);
    ck_assert_ptr_nonnull(strstr(out, "already trained 2 epochs"));
    ck_assert_int_ne(access(t, F_OK), 0);
    /* a different --seed is refused */
    ck_assert_int_eq(run("train", "--train", tr, "--epochs", "2", "--resume", b,
                         "--seed", "12", "--save", t, NULL), 1);
    ck_assert_ptr_nonnull(strstr(err, "--seed 12 differs from the seed 11"));
}
END_TEST

START_TEST(nan_loss_stops_training)
{
    char tr[512], ref[512], ck[512], tmp[600];
    write_set("syn", 100, 4, 4);
    path_in(tr, "syn-images-idx3-ubyte");
    ck_assert_int_eq(run("train", "--train", tr, "--epochs", "1", "--save",
                         path_in(ref, "ref.cnnw"), NULL), 0);
    poison_at = 13 + 5;         /* epoch 2, batch 5 */
    int rc = run("train", "--train", tr, "--epochs", "3", "--save",
                 path_in(ck, "n.cnnw"), NULL);
    ck_assert_int_eq(rc, 1);
    char want[800];
    snprintf(want, sizeof want, "soft: error: loss became nan at epoch 2, batch 5; "
             "the last good checkpoint is %s\n", ck);
    ck_assert_str_eq(err, want);
    expect_same_file(ref, ck);
    snprintf(tmp, sizeof tmp, "%s.tmp", ck);
    ck_assert_int_ne(access(tmp, F_OK), 0);
    /* in the first epoch there is none */
    poison_at = 3;
    ck_assert_int_eq(run("train", "--train", tr, "--save", path_in(ck, "first.cnnw"), NULL), 1);
    ck_assert_str_eq(err, "soft: error: loss became nan at epoch 1, batch 3; "
                     "no checkpoint was written\n");
    ck_assert_int_ne(access(ck, F_OK), 0);
}
END_TEST

/* a finite loss 1e4 times the first batch's stops training as well */
START_TEST(exploding_loss_stops_training)
{
    char tr[512], ref[512], ck[512];
    write_set("syn", 100, 4, 4);
    path_in(tr, "syn-images-idx3-ubyte");
    ck_assert_int_eq(run("train", "--train", tr, "--epochs", "1", "--save",
                         path_in(ref, "ref.cnnw"), NULL), 0);
    poison_value = 1e30f;
    poison_at = 13 + 5;         /* epoch 2, batch 5 (counting the run above) */
    ck_assert_int_eq(run("train", "--train", tr, "--epochs", "3", "--save",
                         path_in(ck, "x.cnnw"), NULL), 1);
    char *at = strstr(err, "soft: error: training diverged at epoch 2, batch 5 (loss 1e+30, "
                      "over 10000 times the first batch's ");
    ck_assert_msg(at == err, "%s", err);
    char want[800];
    snprintf(want, sizeof want, "; lower the learning rate); the last good checkpoint is %s\n",
             ck);
    ck_assert_str_eq(err + strlen(err) - strlen(want), want);
    expect_same_file(ref, ck);
    /* well under the limit trains on */
    backward_calls = 0;
    poison_at = 5;
    poison_value = 900.0f;      /* the first batch's loss is about 1.4: limit 10000 */
    ck_assert_int_eq(run("train", "--train", tr, "--epochs", "1", "--save", ck, NULL), 0);
}
END_TEST

/* argv (NULL-terminated after the command) must exit 1 with `msg` in stderr */
static void expect_refused(const char *msg, const char *a0, const char *a1, const char *a2,
                           const char *a3, const char *a4)
{
    int rc = run(a0, a1, a2, a3, a4, NULL);
    ck_assert_msg(rc == 1, "'%s %s ...' exited %d", a0 ? a0 : "", a1 ? a1 : "", rc);
    ck_assert_msg(strstr(err, msg) != NULL, "expected '%s' in: %s", msg, err);
}

/* predict --draw DIR: every picture scaled up 16 times (to 256x256) with
 * boxy's box, (4,4)-(12,10) -> (64,64)-(192,160), two pixels thick, and
 * the strip of "beta 0.90" above it: those pixels change and no other,
 * and the strip's black ink is exactly the font's text */
START_TEST(predict_draws_detections)
{
    static unsigned char grey[BOXY_SIDE * BOXY_SIDE * 3], text[256 * 256 * 3];
    static const unsigned char white[3] = { 255, 255, 255 };
    char p[512], list[512], names[512], w[512], drawn[512], msg[1200];
    memset(grey, 60, sizeof grey);
    ck_assert(stbi_write_png(path_in(p, "a.png"), BOXY_SIDE, BOXY_SIDE, 3, grey, BOXY_SIDE * 3));
    ck_assert(stbi_write_png(path_in(p, "b.png"), BOXY_SIDE, BOXY_SIDE, 3, grey, BOXY_SIDE * 3));
    FILE *f = fopen(path_in(p, "a.txt"), "w");
    ck_assert(f && fputs("0 0.5 0.5 0.5 0.5\n", f) >= 0 && fclose(f) == 0);
    f = fopen(path_in(list, "list.txt"), "w");
    ck_assert(f && fputs("a.png\nb.png\n", f) >= 0 && fclose(f) == 0);
    f = fopen(path_in(names, "names.txt"), "w");
    ck_assert(f && fputs("alpha\nbeta\ngamma\n", f) >= 0 && fclose(f) == 0);
    run_model = &boxy_model;
    ck_assert_msg(run("train", "--train", list, "--epochs", "1", "--save", path_in(w, "w.cnnw"),
                      NULL) == 0, "%s", err);
    int rc = run("predict", "--weights", w, "--names", names, "--draw", path_in(drawn, "drawn"),
                 list, NULL);
    ck_assert_msg(rc == 0, "%s", err);
    snprintf(msg, sizeof msg, "%s/a.png 1 0.9000 4.0 4.0 12.0 10.0\n%s/b.png 1 0.9000 4.0 4.0 "
             "12.0 10.0\n", dir, dir);
    ck_assert_str_eq(out, msg);

    int pw, ph, pc;
    unsigned char *img = stbi_load(path_in(p, "drawn/0000-a.png"), &pw, &ph, &pc, 3);
    ck_assert_ptr_nonnull(img);
    ck_assert(pw == 256 && ph == 256);
    cnnrt_draw_text(text, 256, 256, 65, 56, "beta 0.90", white, 1);
    int wrong = 0, ink = 0;
    for (int y = 0; y < 256; y++)
        for (int x = 0; x < 256; x++) {
            const unsigned char *q = img + (y * 256 + x) * 3;
            int outer = (x == 64 || x == 192 || y == 64 || y == 160)
                        && x >= 64 && x <= 192 && y >= 64 && y <= 160;
            int inner = (x == 65 || x == 191 || y == 65 || y == 159)
                        && x >= 65 && x <= 191 && y >= 65 && y <= 159;
            int strip = x >= 64 && x <= 64 + 9 * 6 && y >= 55 && y <= 63;
            int changed = q[0] != 60 || q[1] != 60 || q[2] != 60;
            int black = !q[0] && !q[1] && !q[2];
            wrong += changed != (outer || inner || strip);
            wrong += strip && black != (text[(y * 256 + x) * 3] == 255);
            ink += black;
        }
    stbi_image_free(img);
    ck_assert_int_eq(wrong, 0);
    ck_assert_int_gt(ink, 50);
    ck_assert_int_eq(access(path_in(p, "drawn/0001-b.png"), R_OK), 0);

    /* a folder that cannot be made, a file, a classifier: clear errors */
    snprintf(msg, sizeof msg, "boxy: error: --draw: '%s/no/such': cannot make the folder: No "
             "such file or directory\n", dir);
    ck_assert_int_eq(run("predict", "--weights", w, "--draw", path_in(p, "no/such"), list, NULL), 1);
    ck_assert_str_eq(err, msg);
    ck_assert_str_eq(out, "");
    snprintf(msg, sizeof msg, "boxy: error: --draw: '%s': not a folder\n", list);
    ck_assert_int_eq(run("predict", "--weights", w, "--draw", list, list, NULL), 1);
    ck_assert_str_eq(err, msg);
    remove(path_in(p, "drawn/0000-a.png"));
    remove(path_in(p, "drawn/0001-b.png"));
    rmdir(drawn);
    remove(path_in(p, "a.txt"));
}
END_TEST

/* a picture with more boxes than max_boxes (boxy: 4) stops training,
 * naming it */
START_TEST(more_boxes_than_max)
{
    static unsigned char grey[BOXY_SIDE * BOXY_SIDE * 3];
    char p[512], list[512], want[1200];
    memset(grey, 60, sizeof grey);
    ck_assert(stbi_write_png(path_in(p, "c.png"), BOXY_SIDE, BOXY_SIDE, 3, grey, BOXY_SIDE * 3));
    FILE *f = fopen(path_in(p, "c.txt"), "w");
    for (int k = 0; k < 5; k++)
        fprintf(f, "%d 0.%d5 0.5 0.1 0.1\n", k % 3, k + 1);
    ck_assert(fclose(f) == 0);
    f = fopen(path_in(list, "list.txt"), "w");
    ck_assert(f && fputs("c.png\n", f) >= 0 && fclose(f) == 0);
    run_model = &boxy_model;
    ck_assert_int_eq(run("train", "--train", list, "--epochs", "1", "--save",
                         path_in(p, "w.cnnw"), NULL), 1);
    snprintf(want, sizeof want, "boxy: error: '%s/c.png': 5 boxes in the sample (after "
             "augmentation), more than max_boxes = 4; raise max_boxes in the train block\n", dir);
    ck_assert_str_eq(err, want);
    remove(path_in(p, "c.txt"));
}
END_TEST

START_TEST(bad_command_lines)
{
    char tr[512], none[512], w[512], big[512], pf[512];
    write_set("syn", 20, 4, 5);
    write_set("big", 4, 5, 6);
    path_in(tr, "syn-images-idx3-ubyte");
    path_in(none, "none-images-idx3-ubyte");
    path_in(big, "big-images-idx3-ubyte");
    path_in(w, "w.cnnw");
    ck_assert_int_eq(run(NULL), 1);
    ck_assert_ptr_nonnull(strstr(err, "usage: soft train"));
    expect_refused("unknown command 'frobnicate': expected train, eval or predict",
                   "frobnicate", NULL, NULL, NULL, NULL);
    expect_refused("soft: error: train needs --train DATA", "train", NULL, NULL, NULL, NULL);
    expect_refused("--train needs a value", "train", "--train", NULL, NULL, NULL);
    expect_refused("--epochs wants a positive whole number, got 'zero'",
                   "train", "--train", tr, "--epochs", "zero");
    expect_refused("--epochs wants a positive whole number, got '0'",
                   "train", "--train", tr, "--epochs=0", NULL);
    expect_refused("--seed wants a whole number, got '-1'",
                   "train", "--train", tr, "--seed", "-1");
    expect_refused("unknown option '--bogus'", "train", "--train", tr, "--bogus", "1");
    expect_refused("--threads wants a whole number from 1 to 256, got '0'",
                   "train", "--train", tr, "--threads", "0");
    expect_refused("--threads wants a whole number from 1 to 256, got '257'",
                   "eval", "--weights", w, "--threads=257", tr);
    setenv("CNNRT_THREADS", "2x", 1);
    expect_refused("CNNRT_THREADS wants a whole number from 1 to 256, got '2x'",
                   "train", "--train", tr, NULL, NULL);
    unsetenv("CNNRT_THREADS");
    expect_refused("eval does not take --resume", "eval", "--weights", w, "--resume", w);
    expect_refused("w.cnnw': No such file", "train", "--train", tr, "--weights", w);   /* fine-tuning */
    expect_refused("unexpected argument 'extra'", "train", "--train", tr, "extra", NULL);
    char msg[700];
    snprintf(msg, sizeof msg, "soft: error: '%s': No such file or directory\n", none);
    expect_refused(msg, "train", "--train", none, NULL, NULL);
    snprintf(msg, sizeof msg, "'%s': expected 4x4 images, got 5x5", big);
    expect_refused(msg, "train", "--train", big, NULL, NULL);
    expect_refused("eval needs DATA", "eval", "--weights", w, NULL, NULL);
    expect_refused("eval takes one DATA, got 2", "eval", "--weights", w, tr, tr);
    snprintf(msg, sizeof msg, "'%s': No such file or directory", w);
    expect_refused(msg, "eval", "--weights", w, tr, NULL);
    expect_refused("predict needs --weights FILE", "predict", tr, NULL, NULL, NULL);
    expect_refused("predict needs at least one IMAGE", "predict", "--weights", w, NULL, NULL);
    /* a parameter file is not a checkpoint */
    Soft *m = soft_create();
    soft_init(m, 1);
    ck_assert_int_eq(cnnrt_save(path_in(pf, "params.cnnw"), m->params, 2, NULL, 0, 0), 0);
    soft_destroy(m);
    expect_refused("holds parameters only, not a checkpoint", "train", "--train", tr,
                   "--resume", pf);
    /* but it evaluates */
    ck_assert_int_eq(run("eval", "--weights", pf, tr, NULL), 0);
    ck_assert_ptr_nonnull(strstr(out, "(20 images)"));
    /* --threads is taken by every command and sets the kernels' default */
    ck_assert_int_eq(run("eval", "--threads", "3", "--weights", pf, tr, NULL), 0);
    ck_assert_ptr_nonnull(strstr(out, "(20 images)"));
    ck_assert_int_eq(run("train", "--train", tr, "--epochs", "1", "--threads", "3", "--save",
                         path_in(pf, "t3.cnnw"), NULL), 0);
    ck_assert_ptr_nonnull(strstr(out, "; 3 threads; checkpoints to"));
    /* help is not an error */
    ck_assert_int_eq(run("--help", NULL), 0);
    ck_assert_ptr_nonnull(strstr(out, "usage: soft train"));
    ck_assert_int_eq(run("train", "--help", NULL), 0);
    ck_assert_str_eq(err, "");
}
END_TEST

/* ---- the progress display itself ---- */
static int count_char(const char *s, char c)
{
    int n = 0;
    for (; *s; s++)
        n += *s == c;
    return n;
}

static void progress_run(int tty, int nbatch, char *text, size_t len)
{
    FILE *f = tmpfile();
    ck_assert_ptr_nonnull(f);
    cnnrt_progress p;
    cnnrt_progress_start(&p, f, 2, 5, nbatch, nbatch * 10L);
    p.tty = tty;
    for (int b = 0; b < nbatch; b++)
        cnnrt_progress_batch(&p, 10, 0.5, b % 2 ? 10 : 5);
    cnnrt_progress_end(&p, 0.25, 0.875, 400);
    rewind(f);
    size_t n = fread(text, 1, len - 1, f);
    text[n] = 0;
    fclose(f);
}

START_TEST(progress_lines)
{
    static char text[1 << 16];
    progress_run(0, 200, text, sizeof text);
    ck_assert_int_eq(count_char(text, '\n'), 10);      /* 9 tenths + summary */
    ck_assert_int_eq(count_char(text, '\r'), 0);
    ck_assert_ptr_nonnull(strstr(text, "epoch 2/5  batch 20/200  loss 0.5000  accuracy 75.00%"));
    ck_assert_ptr_nonnull(strstr(text, "epoch 2/5  batch 180/200"));
    ck_assert_ptr_nonnull(strstr(text, "epoch 2/5  loss 0.5000  accuracy 75.00%  val loss "
                                       "0.2500  val accuracy 87.50%"));
    progress_run(0, 3, text, sizeof text);             /* fewer batches than tenths */
    ck_assert_int_eq(count_char(text, '\n'), 3);
    /* a terminal: one line, redrawn; a fast epoch draws the first and last
     * batches only */
    progress_run(1, 200, text, sizeof text);
    ck_assert_int_eq(count_char(text, '\n'), 1);
    ck_assert_int_le(count_char(text, '\r'), 5);
    ck_assert_int_ge(count_char(text, '\r'), 3);
    ck_assert_ptr_nonnull(strstr(text, "\repoch 2/5 [==========] 200/200 loss 0.5000 "
                                       "acc 75.00% "));
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("rt_trainer");
    TCase *t = tcase_create("trainer");
    tcase_add_checked_fixture(t, make_dir, remove_dir);
    tcase_set_timeout(t, 120);
    tcase_add_test(t, training_learns_and_checkpoints);
    tcase_add_test(t, resume_is_bit_identical);
    tcase_add_test(t, nan_loss_stops_training);
    tcase_add_test(t, exploding_loss_stops_training);
    tcase_add_test(t, bad_command_lines);
    tcase_add_test(t, predict_draws_detections);
    tcase_add_test(t, more_boxes_than_max);
    tcase_add_test(t, progress_lines);
    suite_add_tcase(s, t);
    return s;
}

int main(void)
{
    return check_run(suite(), 1);
}
