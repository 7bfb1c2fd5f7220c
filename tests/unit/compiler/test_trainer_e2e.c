/* test_trainer_e2e.c — the generated trainer (cnnc --main) end to end, on
 * small IDX files the test writes: it learns; --resume after one epoch
 * gives the same checkpoint, byte for byte, as two uninterrupted epochs;
 * eval and predict work; a truncated file, a flipped byte and another
 * model's file are refused with a message; a loss that becomes NaN stops
 * training with exit status 1 and keeps the last good checkpoint.
 * The same trainer through LLVM, as an object (--main --emit=obj) and
 * JIT-compiled in cnnc (`cnnc run`), writes the C build's checkpoint byte
 * for byte.
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

/* C, object and JIT: one epoch each, the same checkpoint and evaluation */
START_TEST(llvm_backends_train_alike)
{
    if (!cnnc_has_llvm)
        return;
    setup();
    ck_assert_int_eq(sh("\"$CNNC\" --main --emit=obj tests/models/tinyclf.cnn -o %s/obj.o && "
                        "cc %s -o %s/obj %s/obj.o %s/libcnnrt.a -lm -lpthread", dir, SAN, dir, dir, B), 0);
    const char *run[3] = { "%s/tinyclf", "%s/obj", "\"$CNNC\" run tests/models/tinyclf.cnn" };
    for (int k = 0; k < 3; k++) {
        char prog[700];
        snprintf(prog, sizeof prog, run[k], dir);
        ck_assert_int_eq(sh("%s train --train %s/train-images-idx3-ubyte --epochs 1 --save %s/b%d.cnnw > /dev/null && "
                            "%s eval --weights %s/b%d.cnnw %s/test-images-idx3-ubyte > %s/b%d.txt",
                            prog, dir, dir, k, prog, dir, k, dir, dir, k), 0);
        ck_assert_msg(sh("cmp %s/b0.cnnw %s/b%d.cnnw && cmp %s/b0.txt %s/b%d.txt", dir, dir, k, dir, dir, k) == 0,
                      "%s: not the C trainer's checkpoint or evaluation", run[k]);
    }
    ck_assert_int_eq(sh("grep -q 'accuracy' %s/b2.txt", dir), 0);
    /* a run needs a command; an unknown one is the trainer's usage error */
    ck_assert_int_eq(sh("\"$CNNC\" run tests/models/tinyclf.cnn 2> %s/err.txt", dir), 1);
    ck_assert_int_eq(sh("grep -q 'cnnc run needs a command' %s/err.txt", dir), 0);
    ck_assert_int_eq(sh("\"$CNNC\" run tests/models/tinyclf.cnn fly 2> /dev/null > /dev/null"), 1);
}
END_TEST

#define TRAIN "%s/tinyclf train --train %s/train-images-idx3-ubyte --val %s/test-images-idx3-ubyte"

START_TEST(learns_and_resumes)
{
    setup();
    ck_assert_int_eq(sh(TRAIN " --epochs 2 --save %s/full.cnnw > %s/full.log 2>&1", dir, dir, dir, dir, dir), 0);
    ck_assert_int_eq(sh(TRAIN " --epochs 1 --save %s/half.cnnw > /dev/null 2>&1", dir, dir, dir, dir), 0);
    ck_assert_int_eq(sh(TRAIN " --epochs 2 --resume %s/half.cnnw --save %s/resumed.cnnw > /dev/null 2>&1",
                        dir, dir, dir, dir, dir), 0);
    ck_assert_msg(sh("cmp %s/full.cnnw %s/resumed.cnnw", dir, dir) == 0,
                  "a resumed run differs from an uninterrupted one");
    /* the separable toy task is learned */
    ck_assert_int_eq(sh("%s/tinyclf eval --weights %s/full.cnnw %s/test-images-idx3-ubyte > %s/eval.txt",
                        dir, dir, dir, dir), 0);
    ck_assert_msg(sh("grep -Eq 'accuracy (9[0-9]|100)\\.' %s/eval.txt", dir) == 0, "did not learn");
    ck_assert_int_eq(sh("%s/tinyclf predict --weights %s/full.cnnw %s/test-images-idx3-ubyte > /dev/null",
                        dir, dir, dir), 0);
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
    ck_assert_int_eq(sh("grep -Eq 'loss became (nan|inf)' %s/nan.log", dir), 0);
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
    tcase_add_test(tc, bad_checkpoints_refused);
    tcase_add_test(tc, nan_stops_training);
    tcase_add_test(tc, llvm_backends_train_alike);
    suite_add_tcase(s, tc);
    return check_run(s, 0);
}
