/* test_rt_augtrain.c — the trainer (cnnrt_main) with image data and
 * augmentations, through a model that learns nothing and only folds what
 * it is fed into a fingerprint kept as its parameter, so a checkpoint says
 * which pixels and targets came in which order.  An image folder written
 * here (three classes, a zero-byte file, a cut PNG): the same batches with
 * and without loader threads and across a resume, --no-augment equal to a
 * model without augmentations, unreadable files warned about once and
 * counted in every epoch summary, --dump-aug pictures and samples.txt, and
 * predict naming files and classes.
 */
#define _XOPEN_SOURCE 700
#include "cnnrt_train.h"

#include <check.h>
#include <ftw.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <stb/stb_image.h>
#include <stb/stb_image_write.h>
#include "check_util.h"

#define AUG(kind, a, b, c, d) { CNNRT_AUG_##kind, { a, b, c, d } }

/* ---- the model ---- */
#define RIN 64                  /* 1 x 8 x 8 */
#define ROUT 3
#define RBATCH 4

typedef struct {
    float fp[4], gfp[4];        /* the fingerprint, kept as the one parameter */
    float p[RBATCH * ROUT];
    int training;
    long step;
    cnnrt_tensor param;
} Rec;

static void *rec_create(void)
{
    Rec *m = calloc(1, sizeof *m);
    cnnrt_tensor t = { "rec.fp", 1, { 4, 0, 0, 0 }, 4, m->fp, m->gfp };
    m->param = t;
    m->training = 1;
    return m;
}

static void rec_destroy(void *m) { free(m); }
static void rec_init(void *m, uint64_t seed) { ((Rec *)m)->fp[3] = (float)seed; }
static void rec_training(void *m, int on) { ((Rec *)m)->training = on; }

/* folds the batch into the fingerprint (order matters); outputs 1/3 */
static const float *rec_forward(void *vm, const float *x, int n)
{
    Rec *m = vm;
    for (int k = 0; k < n * ROUT; k++)
        m->p[k] = 1.0f / ROUT;
    for (int k = 0; m->training && k < n * RIN; k++)
        m->fp[0] = m->fp[0] * 0.999f + x[k] * (float)(k % 7 + 1);
    m->fp[1] += m->training ? (float)n : 0;
    return m->p;
}

static float rec_backward(void *vm, const float *t, int n)
{
    Rec *m = vm;
    float sum = 0;
    for (int k = 0; k < n * ROUT; k++) {
        m->fp[2] = m->fp[2] * 0.99f + t[k] * (float)(k % 5 + 1);
        sum += t[k];
    }
    return logf(ROUT) * sum / (float)n;
}

static void rec_update(void *m) { ((Rec *)m)->step++; }

static int rec_params(void *vm, const cnnrt_tensor **out)
{
    *out = &((Rec *)vm)->param;
    return 1;
}

static const cnnrt_augment rec_aug[] = {
    AUG(FLIP, 0.5f, 0, 0, 0), AUG(CROP, 1, 0, 0, 0), AUG(MOSAIC, 0.5f, 0.5f, 1.5f, 0),
    AUG(MIXUP, 0.4f, 0.5f, 0, 0),
};
#define REC_UNTIL(name, aug, naug, until) { name, RBATCH, 1, 8, 8, RIN, ROUT, \
    CNNRT_LOSS_XENT, 2, 0, aug, naug, rec_create, rec_destroy, rec_init, rec_training, \
    rec_forward, rec_backward, rec_update, rec_params, NULL, until, NULL, NULL, 0, \
    CNNRT_TARGET_PROBS, ROUT, 0, 0, NULL }
#define REC_MODEL(name, aug, naug) REC_UNTIL(name, aug, naug, 0)
static const cnnrt_model rec_model = REC_MODEL("rec", rec_aug, 4);
static const cnnrt_model rec_plain = REC_MODEL("rec", NULL, 0);
/* augment_until = 1: mosaic and mixup in epoch 1 only; rec_late has the
 * list without them */
static const cnnrt_model rec_until = REC_UNTIL("rec", rec_aug, 4, 1);
static const cnnrt_model rec_late = REC_MODEL("rec", rec_aug, 2);

static char dir[64], out[1 << 16], errs[1 << 16];

static int remove_one(const char *p, const struct stat *st, int flag, struct FTW *f)
{
    (void)st, (void)flag, (void)f;
    return remove(p);
}

static const char *in_dir(const char *name)
{
    static char buf[4][600];
    static int k;
    k = (k + 1) % 4;
    snprintf(buf[k], sizeof buf[k], "%s/%s", dir, name);
    return buf[k];
}

/* DIR/data: three classes of five 8x8 PNGs, a zero-byte file and a cut PNG */
static void make_folder(void)
{
    snprintf(dir, sizeof dir, "/tmp/cnnrt_augment_XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(dir));
    const char *cls[3] = { "data/a", "data/b", "data/c" };
    unsigned char px[64];
    mkdir(in_dir("data"), 0777);
    for (int c = 0; c < 3; c++) {
        mkdir(in_dir(cls[c]), 0777);
        for (int i = 0; i < 5; i++) {
            char name[32];
            for (int k = 0; k < 64; k++)
                px[k] = (unsigned char)((k / 8 < 4) == (c == 1) ? 200 - i * 10 : 20 + k + c);
            snprintf(name, sizeof name, "%s/%d.png", cls[c], i);
            ck_assert(stbi_write_png(in_dir(name), 8, 8, 1, px, 8));
        }
    }
    fclose(fopen(in_dir("data/a/zero.png"), "w"));
    ck_assert(stbi_write_png(in_dir("data/c/trunc.png"), 8, 8, 1, px, 8));
    struct stat st;             /* without its last 16 bytes: no IEND, a cut IDAT */
    ck_assert_int_eq(stat(in_dir("data/c/trunc.png"), &st), 0);
    ck_assert_int_eq(truncate(in_dir("data/c/trunc.png"), st.st_size - 16), 0);
}

static void remove_folder(void)
{
    nftw(dir, remove_one, 16, FTW_DEPTH | FTW_PHYS);
}

/* the file into buf, NUL-terminated; its length */
static size_t slurp(const char *path, char *buf, size_t cap)
{
    FILE *f = fopen(path, "rb");
    size_t n = f ? fread(buf, 1, cap - 1, f) : 0;
    buf[n] = 0;
    if (f)
        fclose(f);
    return n;
}

/* cnnrt_main(model, args) in a child, $CNNRT_LOADER_THREADS = threads
 * (NULL: unset); stdout and stderr into out and errs; the exit status */
static int run(const cnnrt_model *model, const char *threads, const char *const *args)
{
    char *argv[32] = { "rec" };
    int argc = 1;
    while (args[argc - 1])
        argv[argc] = (char *)args[argc - 1], argc++;
    char op[700], ep[700];
    snprintf(op, sizeof op, "%s", in_dir("stdout.txt"));
    snprintf(ep, sizeof ep, "%s", in_dir("stderr.txt"));
    fflush(stdout), fflush(stderr);
    pid_t pid = fork();
    if (pid == 0) {
        if (threads)
            setenv("CNNRT_LOADER_THREADS", threads, 1);
        else
            unsetenv("CNNRT_LOADER_THREADS");
        if (!freopen(op, "w", stdout) || !freopen(ep, "w", stderr))
            _exit(99);
        int rc = cnnrt_main(model, argc, argv);
        fflush(stdout);
        exit(rc);
    }
    int status;
    waitpid(pid, &status, 0);
    ck_assert_msg(WIFEXITED(status), "cnnrt_main crashed");
    slurp(op, out, sizeof out);
    slurp(ep, errs, sizeof errs);
    return WEXITSTATUS(status);
}

static int same_file(const char *a, const char *b)
{
    static char x[1 << 16], y[1 << 16];
    size_t n = slurp(a, x, sizeof x);
    return n > 0 && slurp(b, y, sizeof y) == n && !memcmp(x, y, n);
}

static int count(const char *text, const char *what)
{
    int n = 0;
    for (const char *p = text; (p = strstr(p, what)); p++)
        n++;
    return n;
}

START_TEST(trainer_is_deterministic_with_augmentation)
{
    char a[700], b[700], c[700], d[700], e[700], root[700];
    snprintf(root, sizeof root, "%s", in_dir("data"));
    snprintf(a, sizeof a, "%s", in_dir("a.cnnw"));
    snprintf(b, sizeof b, "%s", in_dir("b.cnnw"));
    snprintf(c, sizeof c, "%s", in_dir("c.cnnw"));
    snprintf(d, sizeof d, "%s", in_dir("d.cnnw"));
    snprintf(e, sizeof e, "%s", in_dir("e.cnnw"));
    const char *train_a[] = { "train", "--train", root, "--seed", "3", "--save", a, NULL };
    ck_assert_msg(run(&rec_model, "3", train_a) == 0, "%s", errs);
    ck_assert_msg(strstr(out, "rec: 16 training images from") != NULL, "%s\n%s", out, errs);
    ck_assert_ptr_nonnull(strstr(out, "(1 unreadable file left out)"));
    ck_assert_int_eq(count(out, "(2 unreadable files skipped)"), 2);      /* each epoch */
    ck_assert_int_eq(count(errs, "zero.png': not an image stb_image can read"), 1);
    ck_assert_int_eq(count(errs, "trunc.png': cannot decode the image"), 1);
    /* no threads: the same batches, the same checkpoint */
    const char *train_b[] = { "train", "--train", root, "--seed", "3", "--save", b, NULL };
    ck_assert_int_eq(run(&rec_model, "0", train_b), 0);
    ck_assert_msg(same_file(a, b), "threads changed the batches");
    /* one epoch, then a resumed second: the same again */
    const char *one[] = { "train", "--train", root, "--seed", "3", "--epochs", "1",
                          "--save", c, NULL };
    const char *more[] = { "train", "--train", root, "--resume", c, "--save", c, NULL };
    ck_assert_int_eq(run(&rec_model, NULL, one), 0);
    ck_assert(!same_file(a, c));
    ck_assert_int_eq(run(&rec_model, NULL, more), 0);
    ck_assert_msg(same_file(a, c), "resuming changed the batches");
    /* --no-augment is the model without augmentations */
    const char *no_d[] = { "train", "--train", root, "--seed", "3", "--no-augment",
                           "--save", d, NULL };
    const char *no_e[] = { "train", "--train", root, "--seed", "3", "--save", e, NULL };
    ck_assert_int_eq(run(&rec_model, NULL, no_d), 0);
    ck_assert_int_eq(run(&rec_plain, NULL, no_e), 0);
    ck_assert(same_file(d, e) && !same_file(a, d));
    const char *bad[] = { "train", "--train", root, "--no-augment=1", NULL };
    ck_assert_int_eq(run(&rec_model, NULL, bad), 1);
    ck_assert_ptr_nonnull(strstr(errs, "--no-augment takes no value"));
}
END_TEST

/* augment_until: the first epoch as with every augmentation, the second as
 * without mosaic and mixup */
START_TEST(augment_until_drops_mosaic_and_mixup)
{
    static const char *const names[5] = { "data", "one.cnnw", "u.cnnw", "l.cnnw", "m.cnnw" };
    char p[5][700];
    for (int i = 0; i < 5; i++)
        snprintf(p[i], sizeof p[i], "%s", in_dir(names[i]));
    const char *root = p[0], *one = p[1], *u = p[2], *l = p[3], *m = p[4];
    const char *first[] = { "train", "--train", root, "--epochs", "1", "--save", u, NULL };
    const char *all1[] = { "train", "--train", root, "--epochs", "1", "--save", one, NULL };
    ck_assert_msg(run(&rec_until, NULL, first) == 0, "%s", errs);
    ck_assert_int_eq(run(&rec_model, NULL, all1), 0);
    ck_assert_msg(same_file(u, one), "epoch 1 lost its mosaic or mixup");
    const char *u2[] = { "train", "--train", root, "--resume", one, "--save", u, NULL };
    const char *l2[] = { "train", "--train", root, "--resume", one, "--save", l, NULL };
    const char *m2[] = { "train", "--train", root, "--resume", one, "--save", m, NULL };
    ck_assert_int_eq(run(&rec_until, NULL, u2), 0);
    ck_assert_int_eq(run(&rec_late, NULL, l2), 0);
    ck_assert_int_eq(run(&rec_model, NULL, m2), 0);
    ck_assert_msg(same_file(u, l), "epoch 2 was not the list without mosaic and mixup");
    ck_assert(!same_file(u, m));
}
END_TEST

START_TEST(dump_aug_writes_pictures)
{
    char root[700], pics[700];
    snprintf(root, sizeof root, "%s", in_dir("data"));
    snprintf(pics, sizeof pics, "%s", in_dir("pics"));
    const char *dump[] = { "train", "--train", root, "--dump-aug", pics, "6", NULL };
    ck_assert_msg(run(&rec_model, NULL, dump) == 0, "%s", errs);
    ck_assert_ptr_nonnull(strstr(out, "rec: wrote 6 augmented samples of"));
    ck_assert_int_ne(access("rec.cnnw", F_OK), 0);        /* nothing trained */
    for (int i = 0; i < 6; i++) {
        char name[64];
        int w, h, n;
        snprintf(name, sizeof name, "pics/aug-%04d.png", i);
        ck_assert_msg(stbi_info(in_dir(name), &w, &h, &n), "%s missing", name);
        ck_assert_int_eq(w, 256);
        ck_assert_int_eq(h, 256);
    }
    ck_assert_int_ne(access(in_dir("pics/aug-0006.png"), F_OK), 0);
    static char txt[1 << 14];
    slurp(in_dir("pics/samples.txt"), txt, sizeof txt);
    ck_assert_int_eq(count(txt, ".png  from "), 6);
    ck_assert_int_eq(count(txt, "    target: "), 6);
    ck_assert_ptr_nonnull(strstr(txt, "(b) "));
    /* what was applied: one top-level line per step for every sample (partners'
       steps are indented deeper), mosaic scales and mixup lambdas among them */
    ck_assert_int_eq(count(txt, "    applied:\n"), 6);
    ck_assert_int_eq(count(txt, "\n      flip: "), 6);
    ck_assert_int_eq(count(txt, "\n      crop: shift x "), 6);
    ck_assert_int_eq(count(txt, "\n      mosaic: no") + count(txt, "\n      mosaic: centre x "), 6);
    ck_assert_int_eq(count(txt, "\n      mixup: no") + count(txt, "\n      mixup: lambda "), 6);
    ck_assert_int_eq(count(txt, "\n      mosaic: centre x ") * 4, count(txt, "\n        tile "));
    const char *zero[] = { "train", "--train", root, "--dump-aug", pics, "0", NULL };
    ck_assert_int_eq(run(&rec_model, NULL, zero), 1);
    ck_assert_ptr_nonnull(strstr(errs, "--dump-aug DIR N wants a number of samples"));
    const char *one[] = { "train", "--train", root, "--dump-aug", pics, NULL };
    ck_assert_int_eq(run(&rec_model, NULL, one), 1);
    ck_assert_ptr_nonnull(strstr(errs, "--dump-aug needs two values"));
    /* predict names the files and their classes */
    const char *pred[] = { "predict", "--weights", in_dir("none.cnnw"), root, NULL };
    ck_assert_int_eq(run(&rec_model, NULL, pred), 1);     /* no weights yet */
    const char *save[] = { "train", "--train", root, "--epochs", "1", "--save",
                           in_dir("w.cnnw"), NULL };
    ck_assert_msg(run(&rec_model, NULL, save) == 0, "%s", errs);
    const char *pred2[] = { "predict", "--weights", in_dir("w.cnnw"), root, NULL };
    /* it goes on past the two unreadable files and says so, exit status 1 */
    ck_assert_int_eq(run(&rec_model, NULL, pred2), 1);
    ck_assert_ptr_nonnull(strstr(errs, "2 unreadable files skipped"));
    ck_assert_int_eq(count(out, ".png: class 0 'a' (0.3333)  label "), 15);
    ck_assert_int_eq(count(out, "label 1 'b'\n"), 5);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("rt_augtrain");
    TCase *m = tcase_create("trainer");
    tcase_add_checked_fixture(m, make_folder, remove_folder);
    tcase_set_timeout(m, 120);
    tcase_add_test(m, trainer_is_deterministic_with_augmentation);
    tcase_add_test(m, augment_until_drops_mosaic_and_mixup);
    tcase_add_test(m, dump_aug_writes_pictures);
    suite_add_tcase(s, m);
    return s;
}

int main(void)
{
    return check_run(suite(), 1);
}
