/* test_golden.c — the compiler's diagnostics, byte for byte.
 *
 * For every tests/golden/NAME.cnn, runs
 *     ./cnnc --emit=ir -o /dev/null tests/golden/NAME.cnn
 * from the repository root (stdin closed) and checks that it exits with
 * status 1 and that its stderr is exactly tests/golden/NAME.err; on a
 * mismatch it prints the first differing line of each.  A few more cases
 * check the driver's handling of files: a missing input, a directory, an
 * output in a missing directory, and that the two programs of LANGUAGE.md
 * section 1 compile without a word.
 *
 * To regenerate the .err files after a deliberate change, run with
 * CNNC_GOLDEN_UPDATE=1 and review every diff before committing it.
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <glob.h>
#include <libgen.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include "check_util.h"

extern char **environ;

static glob_t golden;

typedef struct {
    char *err;              /* stderr, NUL-terminated */
    long len;
    int status;             /* exit status, or -signal */
} Run;

/* Run ./cnnc with args; stdin closed, stdout discarded, stderr captured. */
static Run run_cnnc(const char *const *args)
{
    Run r = { NULL, 0, -1 };
    int fd[2];
    ck_assert_int_eq(pipe(fd), 0);
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addclose(&fa, 0);
    posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
    posix_spawn_file_actions_adddup2(&fa, fd[1], 2);
    posix_spawn_file_actions_addclose(&fa, fd[0]);
    posix_spawn_file_actions_addclose(&fa, fd[1]);
    char *argv[16];
    int n = 0;
    const char *cnnc = getenv("CNNC") ? getenv("CNNC") : "./cnnc";
    argv[n++] = (char *)cnnc;
    for (; args[n - 1] && n < 15; n++)
        argv[n] = (char *)args[n - 1];
    argv[n] = NULL;
    pid_t pid;
    int rc = posix_spawn(&pid, cnnc, &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    close(fd[1]);
    ck_assert_msg(rc == 0, "cannot run %s: %s", cnnc, strerror(rc));
    long cap = 4096;
    r.err = malloc(cap + 1);
    for (;;) {
        if (r.len == cap)
            r.err = realloc(r.err, (cap *= 2) + 1);
        ssize_t k = read(fd[0], r.err + r.len, cap - r.len);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0)
            break;
        r.len += k;
    }
    r.err[r.len] = 0;
    close(fd[0]);
    int st;
    while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
        ;
    r.status = WIFEXITED(st) ? WEXITSTATUS(st) : -WTERMSIG(st);
    return r;
}

static char *read_all(const char *path, long *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    *len = ftell(f);
    rewind(f);
    char *s = malloc(*len + 1);
    if (fread(s, 1, *len, f) != (size_t)*len)
        *len = 0;
    s[*len] = 0;
    fclose(f);
    return s;
}

/* Line `line` (1-based) of s, cut at 200 characters, for messages. */
static void line_of(const char *s, long len, int line, char *buf, int cap)
{
    const char *p = s, *end = s + len;
    for (int l = 1; l < line && p < end; l++) {
        const char *nl = memchr(p, '\n', end - p);
        p = nl ? nl + 1 : end;
    }
    const char *nl = memchr(p, '\n', end - p);
    int n = (int)((nl ? nl : end) - p);
    if (p >= end)
        snprintf(buf, cap, "<end of output>");
    else
        snprintf(buf, cap, "%.*s%s", n > 200 ? 200 : n, p, n > 200 ? "..." : "");
}

START_TEST(test_golden_file)
{
    const char *cnn = golden.gl_pathv[_i];
    char errpath[4096];
    snprintf(errpath, sizeof errpath, "%.*s.err", (int)(strlen(cnn) - 4), cnn);
    const char *args[] = { "--emit=ir", "-o", "/dev/null", cnn, NULL };
    Run r = run_cnnc(args);

    if (getenv("CNNC_GOLDEN_UPDATE")) {
        FILE *f = fopen(errpath, "wb");
        ck_assert_ptr_nonnull(f);
        fwrite(r.err, 1, r.len, f);
        fclose(f);
    }
    long elen = 0;
    char *want = read_all(errpath, &elen);
    ck_assert_msg(want != NULL, "%s: no %s (run with CNNC_GOLDEN_UPDATE=1, then review it)",
                  cnn, errpath);
    ck_assert_msg(r.status == 1, "%s: exit status %d, expected 1", cnn, r.status);
    if (r.len != elen || memcmp(r.err, want, elen)) {
        long i = 0;
        int line = 1;
        while (i < r.len && i < elen && r.err[i] == want[i])
            line += want[i++] == '\n';
        char a[256], b[256];
        line_of(want, elen, line, a, sizeof a);
        line_of(r.err, r.len, line, b, sizeof b);
        ck_abort_msg("%s: stderr differs from %s at line %d:\n- %s\n+ %s", cnn, errpath,
                     line, a, b);
    }
    free(want);
    free(r.err);
}
END_TEST

START_TEST(test_missing_file)
{
    const char *args[] = { "--emit=ir", "-o", "/dev/null", "tests/golden/no-such-file.cnn", NULL };
    Run r = run_cnnc(args);
    ck_assert_int_eq(r.status, 1);
    ck_assert_msg(strstr(r.err, "no-such-file.cnn") && strstr(r.err, "No such file"),
                  "unexpected message: %s", r.err);
    free(r.err);
}
END_TEST

START_TEST(test_directory)
{
    const char *args[] = { "--emit=ir", "-o", "/dev/null", "tests/golden", NULL };
    Run r = run_cnnc(args);
    ck_assert_int_eq(r.status, 1);
    ck_assert_msg(strstr(r.err, "tests/golden") && strstr(r.err, "directory"),
                  "unexpected message: %s", r.err);
    free(r.err);
}
END_TEST

static const char lenet[] =
    "# examples/lenet5.cnn — LeNet-5 for 28x28 grayscale images\n"
    "model lenet5 {\n"
    "    input image[1, 28, 28]                      # channels, height, width\n"
    "\n"
    "    conv(6, kernel=5, pad=2) -> relu -> maxpool(2)\n"
    "    conv(16, kernel=5)       -> relu -> maxpool(2)\n"
    "    flatten -> dense(120) -> relu -> dense(84) -> relu -> dense(10) -> softmax\n"
    "}\n"
    "\n"
    "train {\n"
    "    loss      = cross_entropy\n"
    "    optimizer = adam(lr=0.001)\n"
    "    batch     = 64\n"
    "    epochs    = 5\n"
    "    augment   = [flip(p=0.5), mixup(alpha=0.2, p=0.5)]\n"
    "}\n";

static const char neck[] =
    "model tiny_neck {\n"
    "    input image[3, 64, 64]\n"
    "    c1 = conv(16, kernel=3, stride=2, pad=1) -> batchnorm -> silu\n"
    "    c2 = conv(32, kernel=3, stride=2, pad=1) -> batchnorm -> silu\n"
    "    c3 = conv(64, kernel=3, stride=2, pad=1) -> batchnorm -> silu\n"
    "    up = c3 -> conv(32, kernel=1) -> upsample(2)\n"
    "    p2 = concat(up, c2) -> conv(32, kernel=3, pad=1) -> leaky_relu(0.1)\n"
    "    r  = add(p2, c2) -> global_avgpool -> flatten -> dense(4) -> sigmoid\n"
    "    output r\n"
    "}\n"
    "\n"
    "train {\n"
    "    loss      = bce\n"
    "    optimizer = sgd(lr=0.01, momentum=0.9, weight_decay=0.0005)\n"
    "    batch     = 16\n"
    "}\n";

/* a temporary DIR/prog.cnn holding text; remove_cnn deletes both */
static void temp_cnn(char *path, const char *text)
{
    strcpy(path, "/tmp/cnnc-golden-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(path));
    strcat(path, "/prog.cnn");
    check_write(path, text);
}

static void remove_cnn(char *path)
{
    unlink(path);
    rmdir(dirname(path));
}

START_TEST(test_output_in_missing_directory)
{
    char path[64];
    temp_cnn(path, lenet);
    const char *args[] = { "-o", "/nonexistent/x.c", path, NULL };
    Run r = run_cnnc(args);
    remove_cnn(path);
    struct stat st;
    ck_assert_int_eq(r.status, 1);
    ck_assert_msg(r.len > 0, "no message for an unwritable output");
    ck_assert_int_ne(stat("/nonexistent/x.c", &st), 0);
    ck_assert_int_ne(stat("/nonexistent/x.h", &st), 0);
    free(r.err);
}
END_TEST

/* the LLVM backend's options: misuse is a usage error with a message, and
 * an unwritable object leaves neither it nor its header */
START_TEST(test_llvm_options)
{
    static const struct { const char *args[6], *msg; } bad[] = {
        { { "--target=aarch64-linux-gnu", "examples/lenet5.cnn", NULL }, "--target is for --emit=obj" },
        { { "--emit=obj", "--embed-runtime", "examples/lenet5.cnn", NULL }, "--embed-runtime is for C output" },
        { { "--emit=bin", "examples/lenet5.cnn", NULL }, "--emit takes c, obj, llvm" },
        { { "run", "examples/lenet5.cnn", NULL }, "cnnc run needs a command" },
        { { "--emit=obj", "-o", "/nonexistent/x.o", "examples/lenet5.cnn", NULL }, "/nonexistent/x.o" },
    };
    for (int i = 0; i < (int)(sizeof bad / sizeof bad[0]); i++) {
        Run r = run_cnnc(bad[i].args);
        ck_assert_int_eq(r.status, 1);
        ck_assert_msg(strstr(r.err, bad[i].msg), "%d: unexpected message: %s", i, r.err);
        free(r.err);
    }
    struct stat st;
    ck_assert_int_ne(stat("/nonexistent/x.h", &st), 0);
}
END_TEST

START_TEST(test_spec_programs_compile)
{
    const char *progs[] = { lenet, neck };
    for (int i = 0; i < 2; i++) {
        char path[64];
        temp_cnn(path, progs[i]);
        const char *args[] = { "--emit=ir", "-o", "/dev/null", path, NULL };
        Run r = run_cnnc(args);
        remove_cnn(path);
        ck_assert_msg(r.status == 0 && r.len == 0,
                      "section-1 program %d: status %d, stderr:\n%s", i + 1, r.status, r.err);
        free(r.err);
    }
}
END_TEST

/* The tests run from the repository root; find it from argv[0]
 * (build/tests/test_golden) when started elsewhere. */
static void goto_root(const char *argv0)
{
    if (access("tests/golden", F_OK) == 0)
        return;
    char buf[4096];
    snprintf(buf, sizeof buf, "%s", argv0);
    char *dir = dirname(buf);
    char root[4200];
    snprintf(root, sizeof root, "%s/../..", dir);
    if (chdir(root) != 0 || access("tests/golden", F_OK) != 0) {
        fprintf(stderr, "test_golden: run me from the repository root\n");
        exit(2);
    }
}

int main(int argc, char **argv)
{
    (void)argc;
    goto_root(argv[0]);
    if (glob("tests/golden/*.cnn", 0, NULL, &golden) != 0 || golden.gl_pathc == 0) {
        fprintf(stderr, "test_golden: no tests/golden/*.cnn\n");
        return 1;
    }
    Suite *s = suite_create("golden");
    TCase *tc = tcase_create("diagnostics");
    tcase_set_timeout(tc, 60);
    tcase_add_loop_test(tc, test_golden_file, 0, (int)golden.gl_pathc);
    suite_add_tcase(s, tc);
    TCase *drv = tcase_create("driver");
    tcase_set_timeout(drv, 60);
    tcase_add_test(drv, test_missing_file);
    tcase_add_test(drv, test_directory);
    tcase_add_test(drv, test_output_in_missing_directory);
    tcase_add_test(drv, test_llvm_options);
    tcase_add_test(drv, test_spec_programs_compile);
    suite_add_tcase(s, drv);
    int rc = check_run(s, 1);
    globfree(&golden);
    return rc;
}
