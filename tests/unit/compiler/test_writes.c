/* test_writes.c — cnnc and the trainer when a write fails: every failure
 * names the file and the system's reason, exits 1, and leaves the old file
 * and no temporary one (a full device, a file-size limit standing in for a
 * full disk, a --save folder that does not exist).
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check_util.h"

static char dir[] = "/tmp/cnnc-writes-XXXXXX";

/* stderr of the last command, in dir/err.txt, contains text */
static int said(const char *text)
{
    char cmd[800];
    snprintf(cmd, sizeof cmd, "grep -qF -- \"%s\" %s/err.txt", text, dir);
    int rc = sh("%s", cmd);
    if (rc)
        sh("cat %s/err.txt >&2", dir);
    return rc == 0;
}

START_TEST(full_device)
{
    ck_assert_int_eq(sh("\"$CNNC\" examples/lenet5.cnn -o /dev/full 2> %s/err.txt", dir), 1);
    ck_assert(said("cnnc: error: '/dev/full': cannot write: No space left on device"));
    ck_assert_int_eq(sh("test -e /dev/full.h"), 1);
    ck_assert_int_eq(sh("\"$CNNC\" --emit=ir examples/lenet5.cnn > /dev/full 2> %s/err.txt",
                        dir), 1);
    ck_assert(said("cnnc: error: standard output: No space left on device"));
    ck_assert_int_eq(sh("\"$CNNC\" --emit=dot examples/lenet5.cnn -o /dev/full 2> %s/err.txt",
                        dir), 1);
    ck_assert(said("cnnc: error: '/dev/full': cannot write: No space left on device"));
    ck_assert_int_eq(sh("\"$CNNC\" --stats examples/lenet5.cnn > /dev/full 2> %s/err.txt", dir),
                     1);
    ck_assert(said("cnnc: error: standard output: No space left on device"));
}
END_TEST

/* ulimit -f: writes past 1 KiB fail with EFBIG (SIGXFSZ ignored) */
START_TEST(file_too_large)
{
    ck_assert_int_eq(sh("echo old > %s/big.c && echo old > %s/big.h", dir, dir), 0);
    ck_assert_int_eq(sh("trap '' XFSZ; ulimit -f 2; \"$CNNC\" --embed-runtime examples/lenet5.cnn "
                        "-o %s/big.c 2> %s/err.txt", dir, dir), 1);
    char want[600];
    snprintf(want, sizeof want, "cnnc: error: '%s/big.", dir);   /* the .c or the .h */
    ck_assert(said(want));
    ck_assert(said("': cannot write: File too large"));
    ck_assert_int_eq(sh("cd %s && test \"$(ls)\" = \"$(printf 'big.c\\nbig.h\\nerr.txt')\" && "
                        "grep -qx old big.c && grep -qx old big.h", dir), 0);
}
END_TEST

START_TEST(save_folder_checked_first)
{
    const char *b = check_build();
    ck_assert_int_eq(sh("\"$CNNC\" --main tests/models/tinyclf.cnn -o %s/tiny.c && "
                        "cc %s -Iruntime/include -o %s/tiny %s/tiny.c %s/libcnnrt.a -lm -lpthread",
                        dir, check_san(), dir, dir, b), 0);
    ck_assert_int_ne(sh("%s/tiny train --train tests/fixtures/tiny-images-idx3-ubyte.gz "
                        "--save %s/none/ck.cnnw > %s/out.txt 2> %s/err.txt", dir, dir, dir, dir),
                     0);
    char want[600];
    snprintf(want, sizeof want, "cannot write checkpoints: '%s/none/ck.cnnw': cannot write: "
             "No such file or directory", dir);
    ck_assert(said(want));
    ck_assert_int_eq(sh("grep -q epoch %s/out.txt", dir), 1);
}
END_TEST

int main(void)
{
    if (!mkdtemp(dir))
        return 1;
    Suite *s = suite_create("writes");
    TCase *tc = tcase_create("failures");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, full_device);
    tcase_add_test(tc, file_too_large);
    tcase_add_test(tc, save_folder_checked_first);
    suite_add_tcase(s, tc);
    int rc = check_run(s, 1);
    sh("rm -rf %s", dir);
    return rc;
}
