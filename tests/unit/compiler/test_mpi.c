/* test_mpi.c — the data-parallel trainer (cnnc --main --mpi, libcnnrt_mpi.a)
 * under `mpirun --oversubscribe -np 2`, on small IDX files the test writes
 * (320 images: 20 steps of 16 an epoch).  Two ranks give bit for bit the
 * checkpoint of one process running each batch as two slices (--slices
 * 2), with the gradient sums overlapping the backward pass or not; with
 * batchnorm the result differs from one process running whole batches
 * (per-rank statistics, as PyTorch DDP), without it it is within 1e-5 of
 * it after 20 steps; validation and eval split across the ranks report
 * the figures one process does; resuming under MPI equals an
 * uninterrupted run; a rank killed with SIGKILL stops the job with
 * mpirun's message and ours, exit status not 0, and the last checkpoint
 * loads.  Skipped, with a message, without mpirun/mpicc or libcnnrt_mpi.a,
 * and under sanitizers (Open MPI's own allocations are not ours to fix).
 */
#include <check.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "check_util.h"

static const char *B;
static char dir[512];
static int have_mpi;

#define MPIRUN "mpirun --oversubscribe -np 2 "

/* dir/NAME-KIND-idx*-ubyte: an IDX header for n items of item bytes
 * (dims: 8x8 for images, none for labels), then data */
static void put_idx(const char *name, const char *kind, int n, const unsigned char *data, int item)
{
    char p[700];
    snprintf(p, sizeof p, "%s/%s-%s-ubyte", dir, name, kind);
    FILE *f = fopen(p, "wb");
    ck_assert(f != NULL);
    unsigned char head[16] = { 0, 0, 8, item > 1 ? 3 : 1, (unsigned char)(n >> 24),
                               (unsigned char)(n >> 16), (unsigned char)(n >> 8), (unsigned char)n,
                               0, 0, 0, 8, 0, 0, 0, 8 };
    ck_assert(fwrite(head, 1, item > 1 ? 16 : 8, f) > 0);
    ck_assert((int)fwrite(data, (size_t)item, (size_t)n, f) == n);
    ck_assert(fclose(f) == 0);
}

/* n 8x8 images of 4 classes: class k is a bright column at x = 1 + 2k on
 * noise from a fixed linear congruential generator */
static void write_set(const char *name, int n, uint32_t state)
{
    static unsigned char img[512 * 64], label[512];
    ck_assert(n <= 512);
    for (int i = 0; i < n; i++) {
        state = state * 1664525u + 1013904223u;
        label[i] = (unsigned char)(state >> 30);
        for (int j = 0; j < 64; j++) {
            state = state * 1664525u + 1013904223u;
            img[64 * i + j] = j % 8 == 1 + 2 * label[i] ? 240 : (unsigned char)(state >> 26);
        }
    }
    put_idx(name, "images-idx3", n, img, 64);
    put_idx(name, "labels-idx1", n, label, 1);
}

static void setup(void)
{
    have_mpi = sh("command -v mpirun > /dev/null && command -v mpicc > /dev/null") == 0 &&
               sh("test -f %s/libcnnrt_mpi.a", B) == 0 && !*check_san();
    if (!have_mpi) {
        printf("test_mpi: skipped: needs mpirun and mpicc (openmpi-bin, libopenmpi-dev), "
               "%s/libcnnrt_mpi.a, and no sanitizer\n", B);
        return;
    }
    setenv("OMPI_ALLOW_RUN_AS_ROOT", "1", 1);       /* for root, in CI */
    setenv("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1", 1);
    snprintf(dir, sizeof dir, "%s/gen/mpi", B);
    ck_assert_int_eq(sh("rm -rf %s && mkdir -p %s", dir, dir), 0);
    write_set("train", 320, 7);
    write_set("test", 100, 8);
    const char *models[] = { "mpi_bn", "mpi_plain" };
    for (int i = 0; i < 2; i++)
        ck_assert_int_eq(sh("\"$CNNC\" --main --mpi tests/models/%s.cnn -o %s/%s.c && "
                            "mpicc -std=c99 -O1 -Wall -Wextra -Werror -Iruntime/include -o %s/%s "
                            "%s/%s.c %s/libcnnrt_mpi.a %s/libcnnrt.a -lm -lpthread",
                            models[i], dir, models[i], dir, models[i], dir, models[i], B, B), 0);
}

/* the parameters of a .cnnw file (GENERATED_API.md), flattened; their
 * count, tensor boundaries in ends[] */
static long read_params(const char *path, float *v, long max, long *ends, int *ntensors)
{
    FILE *f = fopen(path, "rb");
    ck_assert_msg(f != NULL, "cannot open %s", path);
    uint32_t head[3], count = 0;
    ck_assert_int_eq(fread(head, 4, 3, f), 3);
    long n = 0;
    for (uint32_t t = 0; t < head[2]; t++) {
        uint32_t len, rank, dims[4], size = 1;
        char name[256];
        ck_assert(fread(&len, 4, 1, f) == 1 && len < sizeof name && fread(name, 1, len, f) == len);
        ck_assert(fread(&rank, 4, 1, f) == 1 && rank <= 4 && fread(dims, 4, rank, f) == rank);
        for (uint32_t k = 0; k < rank; k++)
            size *= dims[k];
        ck_assert(n + (long)size <= max && fread(v + n, 4, size, f) == size);
        n += size;
        ends[count++] = n;
    }
    fclose(f);
    *ntensors = (int)count;
    return n;
}

/* the largest per-tensor difference max|a-b| / max|a| of two checkpoints */
static double difference(const char *a, const char *b)
{
    static float va[4096], vb[4096];
    long ea[64], eb[64];
    int ta, tb;
    long na = read_params(a, va, 4096, ea, &ta), nb = read_params(b, vb, 4096, eb, &tb);
    ck_assert(na == nb && ta == tb);
    double worst = 0;
    for (int t = 0, start = 0; t < ta; start = (int)ea[t++]) {
        double diff = 0, scale = 0;
        for (long i = start; i < ea[t]; i++) {
            diff = fmax(diff, fabs((double)va[i] - vb[i]));
            scale = fmax(scale, fabs((double)va[i]));
        }
        worst = fmax(worst, scale > 0 ? diff / scale : diff);
    }
    return worst;
}

#define TRAIN_ARGS "train --train %s/train-images-idx3-ubyte --val %s/test-images-idx3-ubyte"
#define NOLAP "-x CNNRT_MPI_OVERLAP=0 "
#define EAGER "-x CNNRT_MPI_BUCKET=1 "      /* a sum per tensor, during the backward pass */

/* `[run] model train ... --epochs E --save NAME.cnnw [extra] > NAME.out`;
 * run is "" (one process) or MPIRUN with options */
static int train(const char *run, const char *model, int epochs, const char *name, const char *extra)
{
    return sh("%s%s/%s " TRAIN_ARGS " --epochs %d --save %s/%s.cnnw %s > %s/%s.out 2>&1",
              run, dir, model, dir, dir, epochs, dir, name, extra, dir, name);
}

static double checkpoints_differ(const char *a, const char *b)
{
    char pa[700], pb[700];
    snprintf(pa, sizeof pa, "%s/%s.cnnw", dir, a);
    snprintf(pb, sizeof pb, "%s/%s.cnnw", dir, b);
    return difference(pa, pb);
}

/* the validation figures of the last epoch summary of NAME.out */
static int same_validation(const char *a, const char *b)
{
    return sh("test \"$(grep -o 'val loss [0-9.]*  val accuracy [0-9.]*%%' %s/%s.out | tail -n 1)\" = "
              "\"$(grep -o 'val loss [0-9.]*  val accuracy [0-9.]*%%' %s/%s.out | tail -n 1)\" && "
              "grep -q 'val loss' %s/%s.out", dir, a, dir, b, dir, a);
}

/* batchnorm: each rank normalises its own slice, as --slices 2 does in
 * one process; that is bit for bit the same, overlapped or not, and
 * differs from whole batches */
START_TEST(batchnorm_ranks_equal_slices)
{
    setup();
    if (!have_mpi)
        return;
    ck_assert_int_eq(train(MPIRUN EAGER, "mpi_bn", 2, "bn2", ""), 0);
    ck_assert_int_eq(train(MPIRUN NOLAP, "mpi_bn", 2, "bn2seq", ""), 0);
    ck_assert_int_eq(train("", "mpi_bn", 2, "bn1s", "--slices 2"), 0);
    ck_assert_int_eq(train("", "mpi_bn", 2, "bn1", ""), 0);
    ck_assert_msg(sh("cmp %s/bn2.cnnw %s/bn1s.cnnw", dir, dir) == 0,
                  "2 ranks differ from one process with --slices 2");
    ck_assert_msg(sh("cmp %s/bn2.cnnw %s/bn2seq.cnnw", dir, dir) == 0,
                  "overlapping the gradient sums changed the numbers");
    double d = checkpoints_differ("bn2", "bn1");
    ck_assert_msg(d > 1e-3, "per-rank batchnorm statistics should change the result: %g", d);
    ck_assert_int_eq(same_validation("bn2", "bn1s"), 0);
    ck_assert_int_eq(sh("grep -q 'mpi: 2 ranks, 40 steps: .*sums started during the backward pass' "
                        "%s/bn2.out", dir), 0);
    ck_assert_int_eq(sh("grep -q 'mpi: 2 ranks, 40 steps: .*sums started after the backward pass' "
                        "%s/bn2seq.out", dir), 0);
    /* rank 0 alone prints: one summary line */
    ck_assert_int_eq(sh("test $(grep -c '^done after epoch 2' %s/bn2.out) -eq 1", dir), 0);
}
END_TEST

/* without batchnorm: 20 steps on 2 ranks against one process running each
 * batch whole, within 1e-5; and a resumed MPI run, and eval under MPI */
START_TEST(plain_ranks_match_one_process_and_resume)
{
    setup();
    if (!have_mpi)
        return;
    ck_assert_int_eq(train(MPIRUN, "mpi_plain", 1, "p2", ""), 0);
    ck_assert_int_eq(train("", "mpi_plain", 1, "p1", ""), 0);
    ck_assert_int_eq(train("", "mpi_plain", 1, "p1s", "--slices 2"), 0);
    double d = checkpoints_differ("p1", "p2");
    printf("test_mpi: 2 ranks vs 1 process after 20 steps: %.3g (max |a-b| / max |a| per tensor)\n", d);
    ck_assert_msg(d < 1e-5, "2 ranks differ from 1 process by %g", d);
    ck_assert_msg(sh("cmp %s/p2.cnnw %s/p1s.cnnw", dir, dir) == 0, "2 ranks differ from --slices 2");
    char resume[700];
    snprintf(resume, sizeof resume, "--resume %s/p2.cnnw", dir);
    ck_assert_int_eq(train(MPIRUN, "mpi_plain", 2, "p2r", resume), 0);
    ck_assert_int_eq(train("", "mpi_plain", 2, "p1s2", "--slices 2"), 0);
    ck_assert_msg(sh("cmp %s/p2r.cnnw %s/p1s2.cnnw", dir, dir) == 0,
                  "a resumed MPI run differs from an uninterrupted one");
    ck_assert_int_eq(sh("grep -q \"resuming from '.*p2.cnnw' after epoch 1 (step 20)\" %s/p2r.out", dir), 0);
    /* eval split across the ranks: the figures of one process */
    ck_assert_int_eq(sh(MPIRUN "%s/mpi_plain eval --weights %s/p2r.cnnw %s/test-images-idx3-ubyte "
                        "> %s/e2.out 2>&1 && %s/mpi_plain eval --weights %s/p2r.cnnw "
                        "%s/test-images-idx3-ubyte > %s/e1.out && cmp %s/e1.out %s/e2.out",
                        dir, dir, dir, dir, dir, dir, dir, dir, dir, dir), 0);
    ck_assert_int_eq(sh("grep -q '(100 images)' %s/e1.out", dir), 0);
    /* --slices is for one process */
    ck_assert_int_eq(train(MPIRUN, "mpi_plain", 1, "bad", "--slices 2"), 1);
    ck_assert_int_eq(sh("grep -q 'under mpirun the ranks are the slices' %s/bad.out", dir), 0);
}
END_TEST

/* kill -9 rank 1 once a checkpoint exists: the job stops, exit status
 * not 0, mpirun names the rank and signal, rank 0 says it was stopped,
 * and the checkpoint loads */
START_TEST(killed_rank_stops_job)
{
    setup();
    if (!have_mpi)
        return;
    ck_assert_int_eq(sh("cd %s && (" MPIRUN "./mpi_plain train --train train-images-idx3-ubyte "
                        "--epochs 1000000 --save k.cnnw > k.out 2> k.err; echo $? > k.rc) & "
                        "i=0; while [ ! -f %s/k.cnnw ] && [ $i -lt 300 ]; do sleep 0.1; i=$((i+1)); done; "
                        "for p in $(pgrep -f 'mpi_plain train --train train-images'); do "
                        "  tr '\\0' '\\n' < /proc/$p/environ 2>/dev/null | grep -qx OMPI_COMM_WORLD_RANK=1 && "
                        "  kill -9 $p; done; wait", dir, dir), 0);
    ck_assert_int_eq(sh("test \"$(cat %s/k.rc)\" -ne 0", dir), 0);
    ck_assert_int_eq(sh("grep -q 'rank 1 .* exited on signal 9' %s/k.err", dir), 0);
    ck_assert_int_eq(sh("grep -q 'mpi_plain: rank 0 of 2 stopped by mpirun' %s/k.err", dir), 0);
    ck_assert_int_eq(sh("%s/mpi_plain eval --weights %s/k.cnnw %s/test-images-idx3-ubyte | "
                        "grep -q 'accuracy'", dir, dir, dir), 0);
}
END_TEST

/* the compiler's side, without MPI: hooks only with --mpi, after the
 * call that finishes each gradient; --mpi only for C output */
START_TEST(mpi_flag)
{
    char d[600];
    snprintf(d, sizeof d, "%s/gen/mpiflag", B);
    ck_assert_int_eq(sh("rm -rf %s && mkdir -p %s", d, d), 0);
    ck_assert_int_eq(sh("\"$CNNC\" --main tests/models/mpi_bn.cnn -o %s/off.c && "
                        "\"$CNNC\" --main --mpi tests/models/mpi_bn.cnn -o %s/on.c", d, d), 0);
    ck_assert_int_eq(sh("grep -q grads_done %s/off.c %s/off.h", d, d), 1);
    /* six tensors, each announced once: conv1's two after its backward */
    ck_assert_int_eq(sh("test $(grep -c 'm->grads_done(m->grads_arg' %s/on.c) -eq 6", d), 0);
    ck_assert_int_eq(sh("grep -A5 'cnnrt_conv_backward' %s/on.c | grep -q 'g->conv1_weight, 36);'", d), 0);
    ck_assert_int_eq(sh("grep -q 'void mpi_bn_grads_hook(mpi_bn \\*m' %s/on.h", d), 0);
    ck_assert_int_eq(sh("grep -q 'return cnnrt_mpi_main(&model, w_grads_hook, argc, argv);' %s/on.c", d), 0);
    const char *bad[] = { "--embed-runtime", "--emit=obj", "--inference" };
    for (int i = 0; i < 3; i++)
        ck_assert_int_eq(sh("\"$CNNC\" --mpi %s tests/models/mpi_bn.cnn -o %s/bad.o 2> %s/err.txt && exit 9; "
                            "grep -q 'error: --mpi is for' %s/err.txt", bad[i], d, d, d), 0);
}
END_TEST

int main(void)
{
    B = check_build();
    Suite *s = suite_create("mpi");
    TCase *tc = tcase_create("mpi");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, mpi_flag);
    tcase_add_test(tc, batchnorm_ranks_equal_slices);
    tcase_add_test(tc, plain_ranks_match_one_process_and_resume);
    tcase_add_test(tc, killed_rank_stops_job);
    suite_add_tcase(s, tc);
    return check_run(s, 0);
}
