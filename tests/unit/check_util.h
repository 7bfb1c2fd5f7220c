/* check_util.h — what every test program here shares: the Check runner
 * main, random floats, running a shell command, writing a file, compiling
 * .cnn source in memory.  Header only (each test is its own program); include after <check.h>.
 */
#ifndef CHECK_UTIL_H
#define CHECK_UTIL_H

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

/* run every test of s; the exit status of a test program.  Commands in
 * the tests run the compiler as "$CNNC" (make check sets it to the
 * build's cnnc; ./cnnc otherwise). */
static inline int check_run(Suite *s, int fork)
{
    setenv("CNNC", "./cnnc", 0);
    SRunner *r = srunner_create(s);
    if (!fork)
        srunner_set_fork_status(r, CK_NOFORK);
    srunner_run_all(r, CK_NORMAL);
    int failed = srunner_ntests_failed(r);
    srunner_free(r);
    return failed ? 1 : 0;
}

/* the build directory (make check exports CNNC_BUILD) and the sanitizer
 * flags generated code must be built with (CNNC_SAN, under make asan) */
static inline const char *check_build(void)
{
    return getenv("CNNC_BUILD") ? getenv("CNNC_BUILD") : "build";
}
static inline const char *check_san(void)
{
    return getenv("CNNC_SAN") ? getenv("CNNC_SAN") : "";
}

/* n malloc'd floats uniform in [-0.5, 0.5] from rand() (seed with srand) */
static inline float *check_rnd(long n)
{
    float *p = malloc(sizeof *p * (size_t)(n > 0 ? n : 1));
    for (long i = 0; p && i < n; i++)
        p[i] = rand() / (float)RAND_MAX - 0.5f;
    return p;
}

/* run a shell command; its exit status (-1 if it did not exit) */
static inline int sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static inline int sh(const char *fmt, ...)
{
    char cmd[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof cmd, fmt, ap);
    va_end(ap);
    int rc = system(cmd);
    rc = WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
    if (rc != 0 && getenv("CHECK_VERBOSE"))
        fprintf(stderr, "exit %d: %s\n", rc, cmd);
    return rc;
}

/* text as the file path (a test failure when it cannot be written) */
static inline void check_write(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    ck_assert_msg(f != NULL, "cannot write %s", path);
    fputs(text, f);
    ck_assert_msg(fclose(f) == 0, "cannot write %s", path);
}

#ifdef FRONTEND_H
/* compile src as "t.cnn"; NULL on errors, whose text is left in err */
static inline Graph *check_compile(const char *src, char *err, size_t errlen)
{
    static Diag d;
    FILE *f = fmemopen(err, errlen, "w");
    memset(err, 0, errlen);
    diag_init(&d, "t.cnn", src, (long)strlen(src), f);
    Graph *g = fe_compile(&d, "t.cnn", src, (long)strlen(src));
    fclose(f);
    return g;
}

/* a whole file into a static buffer */
static inline const char *check_slurp(const char *path)
{
    static char src[1 << 16];
    FILE *f = fopen(path, "r");
    if (!f)
        return NULL;
    size_t n = fread(src, 1, sizeof src - 1, f);
    src[n] = 0;
    fclose(f);
    return src;
}
#endif

#endif
