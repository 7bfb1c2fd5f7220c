/* test_trainer_e2e.c — the generated trainer (cnnc --main) end to end, on
 * small IDX files the test writes: it learns; --resume after one epoch
 * gives the same checkpoint, byte for byte, as two uninterrupted epochs;
 * eval and predict work; a truncated file, a flipped byte and another
 * model's file are refused with a message; a loss that becomes NaN stops
 * training with exit status 1 and keeps the last good checkpoint.  With a
 * cosine schedule, EMA, clipping and augment_until (docs/LANGUAGE-EXT.md),
 * resuming across the warm-up and the end of the augmentations is still
 * bit for bit, and eval reads the EMA from the checkpoint.  A single-file
 * trainer (--embed-runtime --main) builds with nothing but `cc model.c -lm
 * -lpthread` and learns; --log, --chart, --save-best and the final summary;
 * predict with --names and --top, going on past an unreadable file and
 * failing at the end.  The same trainer through LLVM, as an object
 * (--main --emit=obj) and JIT-compiled in cnnc (`cnnc run`), writes the C
 * build's checkpoint byte for byte, with the issue-10 settings too.
 * --threads N and CNNRT_THREADS give the same checkpoint at 1, 2, 3 and 8
 * threads; bad counts are refused.
 */
#include <check.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include "check_util.h"

static const char *B, *SAN;
extern const int cnnc_has_llvm;     /* codegen/llvm: 0 when built without */
static char dir[512];

static void be32(FILE *f, unsigned v)
{
    unsigned char b[4] = { (unsigned char)(v >> 24), (unsigned char)(v >> 16),
                           (unsigned char)(v >> 8), (unsigned char)v };
    fwrite(b, 1, 4, f);
}

/* n 8x8 images: class k has a bright bar in quadrant k, plus noise */
static void write_idx(const char *name, int n, unsigned seed)
{
    char p[700];
    snprintf(p, sizeof p, "%s/%s-images-idx3-ubyte", dir, name);
    FILE *fi = fopen(p, "wb");
    snprintf(p, sizeof p, "%s/%s-labels-idx1-ubyte", dir, name);
    FILE *fl = fopen(p, "wb");
    ck_assert(fi && fl);
    be32(fi, 0x803); be32(fi, (unsigned)n); be32(fi, 8); be32(fi, 8);
    be32(fl, 0x801); be32(fl, (unsigned)n);
    srand(seed);
    for (int i = 0; i < n; i++) {
        int k = rand() % 4;
        unsigned char img[64];
        for (int j = 0; j < 64; j++)
            img[j] = (unsigned char)(rand() % 60);
        for (int j = 0; j < 4; j++)
            img[((k / 2) * 4 + 1) * 8 + (k % 2) * 4 + j] = 250;
        fwrite(img, 1, 64, fi);
        unsigned char l = (unsigned char)k;
        fwrite(&l, 1, 1, fl);
    }
    fclose(fi);
    fclose(fl);
}

static void build(const char *cnn, const char *name)
{
    ck_assert_int_eq(sh("\"$CNNC\" --main %s -o %s/%s.c", cnn, dir, name), 0);
    ck_assert_int_eq(sh("cc -std=c99 -O1 -Wall -Wextra -Werror %s -Iruntime/include -o %s/%s %s/%s.c %s/libcnnrt.a -lm -lpthread",
                        SAN, dir, name, dir, name, B), 0);
}

static void setup(void)
{
    snprintf(dir, sizeof dir, "%s/gen/e2e", B);
    ck_assert_int_eq(sh("rm -rf %s && mkdir -p %s", dir, dir), 0);
    write_idx("train", 400, 1);
    write_idx("test", 100, 2);
    build("tests/models/tinyclf.cnn", "tinyclf");
}

/* tinyclf with every issue-10 setting, as model `extclf` (dir/extclf.cnn) */
static const char *write_extclf(void)
{
    static char cnn[600];
    ck_assert_int_eq(sh("sed 's/model tinyclf/model extclf/; s/seed = 3 }/seed = 3; "
                        "schedule = cosine(warmup_epochs=1, min_ratio=0.05); ema = 0.9; clip = 5; "
                        "augment = [mixup(alpha=0.4, p=0.5)]; augment_until = 2 }/' "
                        "tests/models/tinyclf.cnn > %s/extclf.cnn", dir), 0);
    snprintf(cnn, sizeof cnn, "%s/extclf.cnn", dir);
    return cnn;
}

/* n 64x64 pictures as BMP files dir/NAME-i.bmp: a bright rectangle (its
 * class's colour, class i % 3) on dark noise, its YOLO label beside it
 * (NAME-i.txt), and the list dir/NAME.txt */
static void write_boxes(const char *name, int n, unsigned seed)
{
    enum { S = 64 };
    static const unsigned char colour[3][3] = { { 250, 40, 40 }, { 40, 250, 40 }, { 40, 40, 250 } };
    char p[700];
    snprintf(p, sizeof p, "%s/%s.txt", dir, name);
    FILE *list = fopen(p, "w");
    ck_assert_ptr_nonnull(list);
    srand(seed);
    for (int i = 0; i < n; i++) {
        int k = i % 3, w = 12 + rand() % 30, h = 12 + rand() % 30;
        int x0 = rand() % (S - w), y0 = rand() % (S - h);
        snprintf(p, sizeof p, "%s/%s-%d.bmp", dir, name, i);
        FILE *f = fopen(p, "wb");
        ck_assert_ptr_nonnull(f);
        unsigned hdr[13] = { 54 + S * S * 3, 0, 54, 40, S, (unsigned)-S, 1 | 24 << 16, 0, S * S * 3, 2835, 2835,
                             0, 0 };           /* top-down rows of BGR (rows are 192 bytes: no padding) */
        fwrite("BM", 1, 2, f);
        for (int j = 0; j < 13; j++)
            for (int b = 0; b < 4; b++)
                fputc((int)(hdr[j] >> 8 * b & 255), f);
        for (int y = 0; y < S; y++)
            for (int x = 0; x < S; x++)
                for (int c = 2; c >= 0; c--) {
                    int in = x >= x0 && x < x0 + w && y >= y0 && y < y0 + h;
                    fputc(in ? colour[k][c] : rand() % 50, f);
                }
        fclose(f);
        snprintf(p, sizeof p, "%s/%s-%d.txt", dir, name, i);
        f = fopen(p, "w");
        ck_assert_ptr_nonnull(f);
        fprintf(f, "%d %f %f %f %f\n", k, (x0 + w / 2.0) / S, (y0 + h / 2.0) / S, (double)w / S, (double)h / S);
        fclose(f);
        fprintf(list, "%s-%d.bmp\n", name, i);
    }
    fclose(list);
}

/* the C trainer `name` (built), the object's and `cnnc run cnn`: epochs
 * each on the IDX files of setup() (data NULL) or the list data, the same
 * checkpoint and evaluation, byte for byte; the evaluation says `word` */
static void backends_alike(const char *cnn, const char *name, int epochs, const char *data, const char *word)
{
    char train[700], test[700];
    snprintf(train, sizeof train, "%s/%s", dir, data ? data : "train-images-idx3-ubyte");
    snprintf(test, sizeof test, "%s/%s", dir, data ? data : "test-images-idx3-ubyte");
    ck_assert_int_eq(sh("\"$CNNC\" --main --emit=obj %s -o %s/%s-obj.o && "
                        "cc %s -o %s/%s-obj %s/%s-obj.o %s/libcnnrt.a -lm -lpthread",
                        cnn, dir, name, SAN, dir, name, dir, name, B), 0);
    char run[3][700];
    snprintf(run[0], sizeof run[0], "%s/%s", dir, name);
    snprintf(run[1], sizeof run[1], "%s/%s-obj", dir, name);
    snprintf(run[2], sizeof run[2], "\"$CNNC\" run %s", cnn);
    for (int k = 0; k < 3; k++) {
        ck_assert_int_eq(sh("%s train --train %s --epochs %d --save %s/%s%d.cnnw > /dev/null && "
                            "%s eval --weights %s/%s%d.cnnw %s > %s/%s%d.txt",
                            run[k], train, epochs, dir, name, k, run[k], dir, name, k, test, dir, name, k), 0);
        ck_assert_msg(sh("cmp %s/%s0.cnnw %s/%s%d.cnnw && cmp %s/%s0.txt %s/%s%d.txt",
                         dir, name, dir, name, k, dir, name, dir, name, k) == 0,
                      "%s: not the C trainer's checkpoint or evaluation", run[k]);
    }
    ck_assert_int_eq(sh("grep -q '%s' %s/%s2.txt", word, dir, name), 0);
}

/* C, object and JIT: the same checkpoint and evaluation; with a cosine
 * schedule, EMA, clipping and mixup too (over the warm-up) */
START_TEST(llvm_backends_train_alike)
{
    if (!cnnc_has_llvm)
        return;
    setup();
    backends_alike("tests/models/tinyclf.cnn", "tinyclf", 1, NULL, "accuracy");
    const char *ext = write_extclf();
    build(ext, "extclf");
    backends_alike(ext, "extclf", 2, NULL, "accuracy");
    ck_assert_int_eq(sh("grep -qa 'raw.conv1.weight' %s/extclf2.cnnw", dir), 0);
    /* a run needs a command; an unknown one is the trainer's usage error */
    ck_assert_int_eq(sh("\"$CNNC\" run tests/models/tinyclf.cnn 2> %s/err.txt", dir), 1);
    ck_assert_int_eq(sh("grep -q 'cnnc run needs a command' %s/err.txt", dir), 0);
    ck_assert_int_eq(sh("\"$CNNC\" run tests/models/tinyclf.cnn fly 2> /dev/null > /dev/null"), 1);
}
END_TEST

/* a detector (the yolox loss, mosaic and mixup, a cosine schedule, EMA;
 * eval through <m>_detect): the same checkpoint and mAP from all three */
START_TEST(llvm_detector_trains_alike)
{
    if (!cnnc_has_llvm)
        return;
    snprintf(dir, sizeof dir, "%s/gen/e2e-det", B);
    ck_assert_int_eq(sh("rm -rf %s && mkdir -p %s", dir, dir), 0);
    write_boxes("boxes", 40, 5);
    build("examples/fashion_det.cnn", "fashion_det");
    backends_alike("examples/fashion_det.cnn", "fashion_det", 2, "boxes.txt", "mAP@0.5");
}
END_TEST

#define TRAIN "%s/tinyclf train --train %s/train-images-idx3-ubyte --val %s/test-images-idx3-ubyte"

/* `name` trained `epochs` epochs (name-full.cnnw, its log name-full.log),
 * and 1 epoch then resumed to `epochs` (name-resumed.cnnw): the same bytes */
static void check_resume(const char *name, int epochs)
{
    char run[2400];
    snprintf(run, sizeof run, "%s/%s train --train %s/train-images-idx3-ubyte "
             "--val %s/test-images-idx3-ubyte", dir, name, dir, dir);
    ck_assert_int_eq(sh("%s --epochs %d --save %s/%s-full.cnnw > %s/%s-full.log 2>&1",
                        run, epochs, dir, name, dir, name), 0);
    ck_assert_int_eq(sh("%s --epochs 1 --save %s/%s-half.cnnw > /dev/null 2>&1", run, dir, name), 0);
    ck_assert_int_eq(sh("%s --epochs %d --resume %s/%s-half.cnnw --save %s/%s-resumed.cnnw "
                        "> /dev/null 2>&1", run, epochs, dir, name, dir, name), 0);
    ck_assert_msg(sh("cmp %s/%s-full.cnnw %s/%s-resumed.cnnw", dir, name, dir, name) == 0,
                  "%s: a resumed run differs from an uninterrupted one", name);
}

/* --threads and CNNRT_THREADS: the same checkpoint and evaluation at 1, 2,
 * 3 and 8 threads (every kernel split, CNNRT_SPLIT_MIN=0); bad counts refused */
START_TEST(threads_same_checkpoint)
{
    setup();
    static const char *how[] = { "--threads 1", "--threads 3", "--threads=8", "" };
    for (int k = 0; k < 4; k++) {
        ck_assert_int_eq(sh("CNNRT_SPLIT_MIN=0 CNNRT_THREADS=2 " TRAIN " --epochs 1 %s --save %s/t%d.cnnw "
                            "> %s/t%d.log && %s/tinyclf eval %s --weights %s/t%d.cnnw "
                            "%s/test-images-idx3-ubyte > %s/t%d.txt",
                            dir, dir, dir, how[k], dir, k, dir, k, dir, how[k], dir, k, dir, dir, k), 0);
        ck_assert_msg(sh("cmp %s/t0.cnnw %s/t%d.cnnw && cmp %s/t0.txt %s/t%d.txt",
                         dir, dir, k, dir, dir, k) == 0, "'%s': another checkpoint or evaluation", how[k]);
    }
    ck_assert_int_eq(sh("grep -q '; 3 threads;' %s/t1.log && grep -q '; 2 threads;' %s/t3.log",
                        dir, dir), 0);
    ck_assert_int_eq(sh("%s/tinyclf train --train %s/train-images-idx3-ubyte --threads 0 2> %s/err.txt",
                        dir, dir, dir), 1);
    ck_assert_int_eq(sh("grep -q \"error: --threads wants a whole number from 1 to 256, got '0'\" %s/err.txt",
                        dir), 0);
    ck_assert_int_eq(sh("CNNRT_THREADS=many %s/tinyclf eval --weights %s/t0.cnnw "
                        "%s/test-images-idx3-ubyte 2> %s/err.txt", dir, dir, dir, dir), 1);
    ck_assert_int_eq(sh("grep -q \"error: CNNRT_THREADS wants a whole number from 1 to 256, got 'many'\" "
                        "%s/err.txt", dir), 0);
}
END_TEST

START_TEST(learns_and_resumes)
{
    setup();
    check_resume("tinyclf", 2);
    /* the separable toy task is learned */
    ck_assert_int_eq(sh("%s/tinyclf eval --weights %s/tinyclf-full.cnnw %s/test-images-idx3-ubyte > %s/eval.txt",
                        dir, dir, dir, dir), 0);
    ck_assert_msg(sh("grep -Eq 'accuracy (9[0-9]|100)\\.' %s/eval.txt", dir) == 0, "did not learn");
    ck_assert_int_eq(sh("%s/tinyclf predict --weights %s/tinyclf-full.cnnw %s/test-images-idx3-ubyte > /dev/null",
                        dir, dir, dir), 0);
}
END_TEST

START_TEST(extras_resume)
{
    setup();
    build(write_extclf(), "extclf");
    check_resume("extclf", 3);
    /* the checkpoint's parameters are the EMA, the raw weights are state */
    ck_assert_int_eq(sh("grep -qa 'raw.conv1.weight' %s/extclf-full.cnnw", dir), 0);
    ck_assert_int_eq(sh("%s/extclf eval --weights %s/extclf-full.cnnw %s/test-images-idx3-ubyte > %s/xeval.txt",
                        dir, dir, dir, dir), 0);
    ck_assert_msg(sh("grep -Eq 'accuracy (9[0-9]|100)\\.' %s/xeval.txt", dir) == 0, "did not learn");
    /* validation ran on the same EMA weights: its last figure is eval's */
    ck_assert_int_eq(sh("grep -o 'loss [0-9.]*' %s/xeval.txt > %s/l.txt && "
                        "grep '^epoch' %s/extclf-full.log | tail -n 1 | grep -q \"val $(cat %s/l.txt) \"",
                        dir, dir, dir, dir), 0);
}
END_TEST

START_TEST(bad_checkpoints_refused)
{
    setup();
    ck_assert_int_eq(sh(TRAIN " --epochs 1 --save %s/w.cnnw > /dev/null 2>&1", dir, dir, dir, dir), 0);
    /* truncated */
    ck_assert_int_eq(sh("head -c 300 %s/w.cnnw > %s/t.cnnw", dir, dir), 0);
    ck_assert_int_eq(sh("%s/tinyclf eval --weights %s/t.cnnw %s/test-images-idx3-ubyte 2> %s/err.txt >/dev/null",
                        dir, dir, dir, dir), 1);
    ck_assert_int_eq(sh("grep -q truncated %s/err.txt", dir), 0);
    /* one flipped byte */
    ck_assert_int_eq(sh("cp %s/w.cnnw %s/f.cnnw && printf '\\377' | dd of=%s/f.cnnw bs=1 seek=200 conv=notrunc 2>/dev/null",
                        dir, dir, dir), 0);
    ck_assert_int_eq(sh("%s/tinyclf eval --weights %s/f.cnnw %s/test-images-idx3-ubyte 2> %s/err.txt >/dev/null",
                        dir, dir, dir, dir), 1);
    ck_assert_int_eq(sh("grep -q CRC %s/err.txt", dir), 0);
    /* another model's file */
    ck_assert_int_eq(sh("sed 's/dense(4)/dense(8) -> dense(4)/; s/model tinyclf/model other/' "
                        "tests/models/tinyclf.cnn > %s/other.cnn", dir), 0);
    char cnn[600];
    snprintf(cnn, sizeof cnn, "%s/other.cnn", dir);
    build(cnn, "other");
    ck_assert_int_eq(sh("%s/other eval --weights %s/w.cnnw %s/test-images-idx3-ubyte 2> %s/err.txt >/dev/null",
                        dir, dir, dir, dir), 1);
    ck_assert_int_eq(sh("grep -q 'dense' %s/err.txt", dir), 0);
}
END_TEST

START_TEST(nan_stops_training)
{
    setup();
    ck_assert_int_eq(sh("sed 's/adam(lr=0.01)/sgd(lr=1e30)/; s/model tinyclf/model blowup/' "
                        "tests/models/tinyclf.cnn > %s/blowup.cnn", dir), 0);
    char cnn[600];
    snprintf(cnn, sizeof cnn, "%s/blowup.cnn", dir);
    build(cnn, "blowup");
    ck_assert_int_eq(sh("%s/blowup train --train %s/train-images-idx3-ubyte --epochs 2 --save %s/b.cnnw"
                        " > %s/nan.log 2>&1", dir, dir, dir, dir), 1);
    ck_assert_int_eq(sh("grep -Eq 'loss became (nan|inf)|training diverged' %s/nan.log", dir), 0);
    /* the adam(lr=1e6): finite, but 1e36 -- stopped in the first epoch */
    ck_assert_int_eq(sh("sed 's/adam(lr=0.01)/adam(lr=1e6)/; s/model tinyclf/model huge/' "
                        "tests/models/tinyclf.cnn > %s/huge.cnn", dir), 0);
    snprintf(cnn, sizeof cnn, "%s/huge.cnn", dir);
    build(cnn, "huge");
    ck_assert_int_eq(sh("%s/huge train --train %s/train-images-idx3-ubyte --epochs 3 --save %s/h.cnnw"
                        " > %s/huge.log 2>&1", dir, dir, dir, dir), 1);
    ck_assert_int_eq(sh("grep -q 'huge: error: training diverged at epoch 1, batch' %s/huge.log && "
                        "grep -q 'no checkpoint was written' %s/huge.log && ! test -e %s/h.cnnw",
                        dir, dir, dir), 0);
}
END_TEST

START_TEST(single_file_trainer)
{
    setup();
    /* no -I, no library: everything (stb_image included) is in the file;
       built in a directory of its own so no header is found beside it */
    ck_assert_int_eq(sh("mkdir -p %s/one && \"$CNNC\" --embed-runtime --main tests/models/tinyclf.cnn "
                        "-o %s/one/tinyclf.c", dir, dir), 0);
    ck_assert_int_eq(sh("rm %s/one/tinyclf.h && cd %s/one && cc -O0 -Wall -Wextra -Werror %s tinyclf.c "
                        "-o tinyclf -lm -lpthread", dir, dir, SAN), 0);
    ck_assert_int_eq(sh("%s/one/tinyclf train --train %s/train-images-idx3-ubyte --epochs 2 --save %s/one.cnnw"
                        " > /dev/null 2>&1", dir, dir, dir), 0);
    ck_assert_int_eq(sh("%s/one/tinyclf eval --weights %s/one.cnnw %s/test-images-idx3-ubyte > %s/one.txt",
                        dir, dir, dir, dir), 0);
    ck_assert_msg(sh("grep -Eq 'accuracy (9[0-9]|100)\\.' %s/one.txt", dir) == 0, "did not learn");
}
END_TEST

START_TEST(logs_chart_best)
{
    setup();
    ck_assert_int_eq(sh(TRAIN " --epochs 2 --save %s/l.cnnw --log %s/run.csv --log-every 10 "
                        "--chart %s/chart.png --save-best > %s/train.txt", dir, dir, dir, dir, dir, dir, dir), 0);
    /* 400 images in batches of 16: 25 batches, a row at batches 10 and 20, one per epoch */
    ck_assert_int_eq(sh("head -n 1 %s/run.csv | grep -qx 'kind,epoch,batch,loss,accuracy,val_loss,"
                        "val_accuracy,lr,images_per_s,time_s'", dir), 0);
    ck_assert_int_eq(sh("test \"$(cut -d, -f1-3 %s/run.csv | tail -n +2 | tr '\\n' ' ')\" = "
                        "'batch,1,10 batch,1,20 epoch,1,25 batch,2,10 batch,2,20 epoch,2,25 '", dir), 0);
    /* epoch rows carry validation figures and the train block's lr (0.01) */
    ck_assert_int_eq(sh("test $(grep -c '^epoch,[12],25,[0-9.]*,[0-9.]*,[0-9.]\\+,[0-9.]\\+,0.01,' %s/run.csv) -eq 2",
                        dir), 0);
    /* a 640x360 PNG: signature, then the IHDR's width and height */
    ck_assert_int_eq(sh("test \"$(od -An -tx1 -N24 %s/chart.png | tr -d ' \\n')\" = "
                        "89504e470d0a1a0a0000000d494844520000028000000168", dir), 0);
    ck_assert_int_eq(sh("test -s %s/l-best.cnnw", dir), 0);
    ck_assert_int_eq(sh("grep -Eq '^best epoch [12]: validation loss [0-9.]+, accuracy [0-9.]+%% "
                        "\\(saved to .*l-best.cnnw.\\)$' %s/train.txt", dir), 0);
    ck_assert_int_eq(sh("grep -q '^done after epoch 2: .* 800 images seen' %s/train.txt", dir), 0);
    /* --save-best without --val is refused */
    ck_assert_int_eq(sh("%s/tinyclf train --train %s/train-images-idx3-ubyte --save-best 2> %s/err.txt",
                        dir, dir, dir), 1);
    ck_assert_int_eq(sh("grep -q 'save-best needs --val' %s/err.txt", dir), 0);
}
END_TEST

START_TEST(predict_names_top_and_bad_files)
{
    setup();
    ck_assert_int_eq(sh(TRAIN " --epochs 1 --save %s/p.cnnw > /dev/null", dir, dir, dir, dir), 0);
    ck_assert_int_eq(sh("printf 'top-left\\ntop-right\\nbottom-left\\nbottom-right\\n' > %s/names.txt", dir), 0);
    ck_assert_int_eq(sh("%s/tinyclf predict --weights %s/p.cnnw --names %s/names.txt --top 2 "
                        "%s/missing.png %s/test-images-idx3-ubyte > %s/pred.txt 2> %s/err.txt",
                        dir, dir, dir, dir, dir, dir, dir), 1);
    /* the file after the bad one was still predicted: 100 lines, two classes each */
    ck_assert_int_eq(sh("test $(grep -c \"^.*test-images-idx3-ubyte\\[[0-9]*\\]: class [0-3] '[a-z-]*' "
                        "([0-9.]*), class [0-3] '[a-z-]*' ([0-9.]*)  label [0-3] '[a-z-]*'$\" %s/pred.txt) -eq 100",
                        dir), 0);
    ck_assert_int_eq(sh("grep -q \"warning: .*missing.png.*; going on\" %s/err.txt", dir), 0);
    ck_assert_int_eq(sh("grep -q '1 of 2 inputs had errors' %s/err.txt", dir), 0);
    /* too few names is an error */
    ck_assert_int_eq(sh("head -n 2 %s/names.txt > %s/few.txt && %s/tinyclf predict --weights %s/p.cnnw "
                        "--names %s/few.txt %s/test-images-idx3-ubyte > /dev/null 2> %s/err.txt",
                        dir, dir, dir, dir, dir, dir, dir), 1);
    ck_assert_int_eq(sh("grep -q 'names 2 classes; the model has 4' %s/err.txt", dir), 0);
}
END_TEST

int main(void)
{
    B = check_build();
    SAN = check_san();
    Suite *s = suite_create("trainer_e2e");
    TCase *tc = tcase_create("trainer");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, learns_and_resumes);
    tcase_add_test(tc, threads_same_checkpoint);
    tcase_add_test(tc, extras_resume);
    tcase_add_test(tc, bad_checkpoints_refused);
    tcase_add_test(tc, nan_stops_training);
    tcase_add_test(tc, single_file_trainer);
    tcase_add_test(tc, logs_chart_best);
    tcase_add_test(tc, predict_names_top_and_bad_files);
    tcase_add_test(tc, llvm_backends_train_alike);
    tcase_add_test(tc, llvm_detector_trains_alike);
    suite_add_tcase(s, tc);
    return check_run(s, 0);
}
