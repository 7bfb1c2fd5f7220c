/* test_install.c — packaging: `make install` into a staged DESTDIR under
 * the build directory puts exactly the promised files in place (only the
 * public headers, a pkg-config file naming the prefix, the CMake package,
 * the man page); the two user projects, examples/make (pkg-config, -MD)
 * and examples/cmake (find_package, cnnc_add_model, C++), build against
 * that install and run; editing the .cnn regenerates in both; `make
 * uninstall` leaves no file behind.  Needs cmake (skipped with a note
 * when absent).
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "check_util.h"

static const char *B, *SAN;
static char stage[600], gen[600], env[2000];

static void install(void)
{
    snprintf(stage, sizeof stage, "%s/stage", B);
    snprintf(gen, sizeof gen, "%s/gen/install", B);
    ck_assert_int_eq(sh("rm -rf %s %s && mkdir -p %s", stage, gen, gen), 0);
    ck_assert_int_eq(sh("env -u MAKEFLAGS -u MFLAGS make -s install B=%s DESTDIR=$PWD/%s PREFIX=/usr > %s/install.log",
                        B, stage, gen), 0);
    /* pkg-config and the compiler of the staged tree, as a user's shell would have them */
    snprintf(env, sizeof env, "PKG_CONFIG_PATH=$PWD/%s/usr/lib/pkgconfig PKG_CONFIG_SYSROOT_DIR=$PWD/%s "
             "PATH=$PWD/%s/usr/bin:$PATH CNNC=cnnc", stage, stage, stage);
}

START_TEST(installs_the_promised_files)
{
    install();
    const char *files[] = {
        "bin/cnnc", "lib/libcnnrt.a", "lib/libcnnrt_core.a", "lib/libcnnrt_data.a",
        "lib/libcnnrt_train.a", "include/cnnrt/cnnrt.h", "include/cnnrt/cnnrt_abi.h",
        "include/cnnrt/cnnrt_data.h", "include/cnnrt/cnnrt_train.h", "include/cnnrt/cnnrt_det.h",
        "include/cnnrt/cnnrt_mpi.h",
        "lib/pkgconfig/cnnrt.pc", "lib/cmake/cnnc/cnncConfig.cmake",
        "lib/cmake/cnnc/cnncConfigVersion.cmake", "share/man/man1/cnnc.1"
    };
    int n = (int)(sizeof files / sizeof *files);
    for (int i = 0; i < n; i++)
        ck_assert_msg(sh("test -f %s/usr/%s", stage, files[i]) == 0, "not installed: %s", files[i]);
    /* the MPI trainer's library when the build has it (Open MPI installed) */
    int mpi = sh("test -f %s/libcnnrt_mpi.a", B) == 0;
    ck_assert_int_eq(sh("test -f %s/usr/lib/libcnnrt_mpi.a", stage), mpi ? 0 : 1);
    /* nothing else: internal headers (gemm.h, data.h) stay private */
    ck_assert_int_eq(sh("test $(find %s -type f | wc -l) -eq %d", stage, n + mpi), 0);
    ck_assert_int_eq(sh("grep -qx 'prefix=/usr' %s/usr/lib/pkgconfig/cnnrt.pc", stage), 0);
    ck_assert_int_eq(sh("%s pkg-config --cflags cnnrt | grep -q -- '-I.*%s/usr/include/cnnrt'", env, stage), 0);
    ck_assert_int_eq(sh("man -l %s/usr/share/man/man1/cnnc.1 2>/dev/null | grep -q -- '--prefix'", stage), 0);
    /* uninstall removes every file (the directories it made are shared) */
    ck_assert_int_eq(sh("env -u MAKEFLAGS -u MFLAGS make -s uninstall B=%s DESTDIR=$PWD/%s PREFIX=/usr", B, stage), 0);
    ck_assert_int_eq(sh("test $(find %s -type f | wc -l) -eq 0", stage), 0);
}
END_TEST

START_TEST(make_project)
{
    install();
    /* the model is a copy, so the test can edit it */
    ck_assert_int_eq(sh("cp examples/lenet5.cnn %s/net.cnn", gen), 0);
#define MAKE_EX "%s make -s -C examples/make O=$PWD/%s MODEL=$PWD/%s/net.cnn CFLAGS='-O1 %s' LDFLAGS='%s'"
    ck_assert_int_eq(sh(MAKE_EX " > %s/make.log 2>&1", env, gen, gen, SAN, SAN, gen), 0);
    ck_assert_int_eq(sh("%s/classify | grep -q 'probabilities sum to 1.000'", gen), 0);
    ck_assert_int_eq(sh("grep -q 'net.cnn$' %s/lenet5.d", gen), 0);
    /* up to date: nothing regenerated; after an edit of the .cnn: regenerated */
    ck_assert_int_eq(sh(MAKE_EX " -q", env, gen, gen, SAN, SAN), 0);
    ck_assert_int_eq(sh("sed -i 's/dense(84)/dense(80)/' %s/net.cnn", gen), 0);
    ck_assert_int_eq(sh(MAKE_EX " > %s/make.log 2>&1", env, gen, gen, SAN, SAN, gen), 0);
    ck_assert_int_eq(sh("grep -q '\\[80\\]\\|80,' %s/lenet5.c", gen), 0);
}
END_TEST

START_TEST(cmake_project)
{
    if (sh("cmake --version > /dev/null 2>&1") != 0) {
        printf("test_install: cmake not found, CMake package not tested\n");
        return;
    }
    install();
    ck_assert_int_eq(sh("cp examples/lenet5.cnn %s/net.cnn", gen), 0);
    ck_assert_int_eq(sh("%s cmake -S examples/cmake -B %s/cmake -DCMAKE_PREFIX_PATH=$PWD/%s/usr "
                        "-DMODEL=$PWD/%s/net.cnn -DCMAKE_C_FLAGS='%s' -DCMAKE_CXX_FLAGS='%s' "
                        "-DCMAKE_EXE_LINKER_FLAGS='%s' > %s/cmake.log 2>&1",
                        env, gen, stage, gen, SAN, SAN, SAN, gen), 0);
    ck_assert_int_eq(sh("cmake --build %s/cmake >> %s/cmake.log 2>&1", gen, gen), 0);
    /* C++ runs the linked and the embedded copy, which agree */
    ck_assert_int_eq(sh("%s/cmake/classify | grep -q 'linked and embedded differ by'", gen), 0);
    ck_assert_int_eq(sh("%s/cmake/lenet5_train 2>&1 | grep -q 'lenet5 train'", gen), 0);
    /* the .cnn changes: cnnc runs again for every model made from it */
    ck_assert_int_eq(sh("sed -i 's/dense(84)/dense(80)/' %s/net.cnn", gen), 0);
    ck_assert_int_eq(sh("cmake --build %s/cmake > %s/cmake2.log 2>&1", gen, gen), 0);
    ck_assert_int_eq(sh("test $(grep -c '^\\[.*cnnc .*net.cnn' %s/cmake2.log) -eq 3", gen), 0);
}
END_TEST

int main(void)
{
    B = check_build();
    SAN = check_san();
    Suite *s = suite_create("install");
    TCase *tc = tcase_create("install");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, installs_the_promised_files);
    tcase_add_test(tc, make_project);
    tcase_add_test(tc, cmake_project);
    suite_add_tcase(s, tc);
    return check_run(s, 0);
}
