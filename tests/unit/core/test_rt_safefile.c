/* test_rt_safefile.c — runtime/core/safefile.c and its users: a symlink planted
 * where a checkpoint's temporary file used to go is not written through,
 * no temporary file is left behind (on success or failure), the old file
 * survives a failed save, the mode is 0666 less the umask, and a full
 * device or file-size limit is reported with the file and the reason.
 */
#include <check.h>
#include <errno.h>
#include <dirent.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cnnrt.h"
#include "check_util.h"

static char dir[] = "/tmp/cnnrt-safe-XXXXXX";

static float data[4096];
static cnnrt_tensor param(long n)
{
    cnnrt_tensor t = { "w", 1, { (int)n, 0, 0, 0 }, n, data, NULL };
    return t;
}

/* the names in dir, space-separated, sorted by the shell */
static const char *listing(void)
{
    static char out[4096];
    char cmd[600];
    snprintf(cmd, sizeof cmd, "ls -A %s | tr '\\n' ' '", dir);
    FILE *p = popen(cmd, "r");
    size_t n = p ? fread(out, 1, sizeof out - 1, p) : 0;
    out[n] = 0;
    if (p)
        pclose(p);
    return out;
}

static void clear_dir(void)
{
    sh("rm -rf %s/* %s/.[!.]*", dir, dir);
}

START_TEST(symlink_not_followed)
{
    clear_dir();
    char path[600], victim[600], tmp[600];
    snprintf(path, sizeof path, "%s/ck.cnnw", dir);
    snprintf(victim, sizeof victim, "%s/victim", dir);
    snprintf(tmp, sizeof tmp, "%s/ck.cnnw.tmp", dir);
    FILE *f = fopen(victim, "w");
    fputs("precious\n", f);
    fclose(f);
    ck_assert_int_eq(symlink(victim, tmp), 0);     /* the old fixed name */
    data[0] = 1.5f;
    cnnrt_tensor t = param(16);
    ck_assert_int_eq(cnnrt_save(path, &t, 1, NULL, 0, 0), 0);
    ck_assert_int_eq(sh("grep -qx precious %s && test $(wc -c < %s) -eq 9", victim, victim), 0);
    struct stat st;
    ck_assert_int_eq(lstat(path, &st), 0);
    ck_assert(S_ISREG(st.st_mode));
    float back[16] = { 0 };
    cnnrt_tensor b = { "w", 1, { 16, 0, 0, 0 }, 16, back, NULL };
    char err[300];
    ck_assert_int_eq(cnnrt_load(path, &b, 1, NULL, 0, NULL, err, sizeof err), 0);
    ck_assert(back[0] == 1.5f);
    ck_assert_str_eq(listing(), "ck.cnnw ck.cnnw.tmp victim ");
}
END_TEST

START_TEST(mode_follows_umask)
{
    clear_dir();
    char path[600];
    snprintf(path, sizeof path, "%s/m.txt", dir);
    mode_t old = umask(027);
    cnnrt_out o;
    char err[300];
    ck_assert_int_eq(cnnrt_out_open(&o, path, err, sizeof err), 0);
    fputs("x\n", o.f);
    ck_assert_int_eq(cnnrt_out_close(&o, 1, err, sizeof err), 0);
    umask(old);
    struct stat st;
    ck_assert_int_eq(stat(path, &st), 0);
    ck_assert_int_eq(st.st_mode & 0777, 0640);
    /* abandoning leaves the old file and nothing else */
    ck_assert_int_eq(cnnrt_out_open(&o, path, err, sizeof err), 0);
    fputs("new\n", o.f);
    ck_assert_int_eq(cnnrt_out_close(&o, 0, err, sizeof err), -1);
    ck_assert_int_eq(sh("grep -qx x %s", path), 0);
    ck_assert_str_eq(listing(), "m.txt ");
}
END_TEST

START_TEST(full_device)
{
    cnnrt_out o;
    char err[300];
    ck_assert_int_eq(cnnrt_out_open(&o, "/dev/full", err, sizeof err), 0);
    for (int i = 0; i < 10000; i++)
        fprintf(o.f, "line %d\n", i);
    ck_assert_int_eq(cnnrt_out_close(&o, 1, err, sizeof err), -1);
    ck_assert_str_eq(err, "'/dev/full': cannot write: No space left on device");
    cnnrt_tensor t = param(4096);
    errno = 0;
    ck_assert_int_eq(cnnrt_save("/dev/full", &t, 1, NULL, 0, 0), -1);
    ck_assert_int_eq(errno, ENOSPC);
}
END_TEST

/* a file-size limit makes a regular file's write fail like a full disk */
START_TEST(failed_save_keeps_the_old_file)
{
    clear_dir();
    char path[600];
    snprintf(path, sizeof path, "%s/ck.cnnw", dir);
    cnnrt_tensor small = param(4);
    ck_assert_int_eq(cnnrt_save(path, &small, 1, NULL, 0, 0), 0);
    signal(SIGXFSZ, SIG_IGN);
    struct rlimit rl = { 4096, 4096 };      /* the process is this test's own fork */
    ck_assert_int_eq(setrlimit(RLIMIT_FSIZE, &rl), 0);
    cnnrt_tensor big = param(4096);
    errno = 0;
    ck_assert_int_eq(cnnrt_save(path, &big, 1, NULL, 0, 0), -1);
    ck_assert_int_eq(errno, EFBIG);
    float back[4];
    char err[300];
    cnnrt_tensor b = { "w", 1, { 4, 0, 0, 0 }, 4, back, NULL };
    ck_assert_int_eq(cnnrt_load(path, &b, 1, NULL, 0, NULL, err, sizeof err), 0);
    ck_assert_str_eq(listing(), "ck.cnnw ");
    cnnrt_out o;
    ck_assert_int_eq(cnnrt_out_open(&o, path, err, sizeof err), 0);
    for (int i = 0; i < 2000; i++)
        fprintf(o.f, "line %d\n", i);
    ck_assert_int_eq(cnnrt_out_close(&o, 1, err, sizeof err), -1);
    ck_assert_msg(strstr(err, "ck.cnnw': cannot write: File too large"), "%s", err);
    ck_assert_str_eq(listing(), "ck.cnnw ");
}
END_TEST

START_TEST(missing_folder_and_directory)
{
    cnnrt_out o;
    char err[600], path[600];
    snprintf(path, sizeof path, "%s/no/such/x.cnnw", dir);
    ck_assert_int_eq(cnnrt_out_open(&o, path, err, sizeof err), -1);
    ck_assert_msg(strstr(err, "x.cnnw': cannot write: No such file or directory"), "%s", err);
    ck_assert_int_eq(cnnrt_out_open(&o, dir, err, sizeof err), -1);
    ck_assert_msg(strstr(err, "': cannot write: it is a directory"), "%s", err);
}
END_TEST

int main(void)
{
    if (!mkdtemp(dir))
        return 1;
    Suite *s = suite_create("safefile");
    TCase *tc = tcase_create("writes");
    tcase_add_test(tc, symlink_not_followed);
    tcase_add_test(tc, mode_follows_umask);
    tcase_add_test(tc, full_device);
    tcase_add_test(tc, failed_save_keeps_the_old_file);
    tcase_add_test(tc, missing_folder_and_directory);
    suite_add_tcase(s, tc);
    int rc = check_run(s, 1);
    sh("rm -rf %s", dir);
    return rc;
}
