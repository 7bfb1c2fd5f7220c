/* test_cname.c — every model name either gives C that compiles or is
 * refused with an error at the name (frontend/cname.c).  Models are named
 * after every C keyword, a list of C library names, the generated code's
 * own names and the file-scope names of the embedded runtime; each is run
 * through $CNNC, and what it accepts is compiled with -Wall -Wextra
 * -Werror as plain C, with --main and with --embed-runtime.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check_util.h"

static char dir[] = "/tmp/cnnc-cname-XXXXXX";
static char root[4096];                 /* the repository (runtime/include/cnnrt.h) */

static const char *const keywords[] = {
    "auto", "break", "case", "char", "const", "continue", "default", "do", "double",
    "else", "enum", "extern", "float", "for", "goto", "if", "inline", "int", "long",
    "register", "restrict", "return", "short", "signed", "sizeof", "static", "struct",
    "switch", "typedef", "union", "unsigned", "void", "volatile", "while", "_Alignas",
    "_Alignof", "_Atomic", "_Bool", "_Complex", "_Generic", "_Imaginary", "_Noreturn",
    "_Static_assert", "_Thread_local", "alignas", "alignof", "bool", "constexpr",
    "false", "nullptr", "static_assert", "thread_local", "true", "typeof", "asm",
    "__attribute__", "__asm__", "__typeof__", "__inline__", "__int128", NULL
};

/* From the headers a generated file includes, and what the issue named. */
static const char *const library[] = {
    "FILE", "NULL", "EOF", "stdin", "stdout", "stderr", "printf", "fprintf", "snprintf",
    "fopen", "fclose", "fwrite", "fread", "fflush", "fseek", "remove", "rename", "perror",
    "getline", "fileno", "malloc", "calloc", "realloc", "free", "abort", "exit", "atexit",
    "getenv", "system", "qsort", "abs", "div", "atoi", "strtol", "rand", "random",
    "realpath", "mkstemp", "EXIT_SUCCESS", "RAND_MAX", "memcpy", "memset", "strlen",
    "strcmp", "strdup", "strerror", "stpcpy", "size_t", "ptrdiff_t", "offsetof",
    "uint8_t", "int32_t", "uint64_t", "uintptr_t", "INT32_MAX", "UINT64_C", "SIZE_MAX",
    "sin", "cos", "exp", "expf", "log", "logf", "sqrt", "sqrtf", "pow", "fabs", "floor",
    "round", "fmax", "tanh", "erf", "isnan", "isinf", "NAN", "INFINITY", "HUGE_VAL",
    "M_PI", "y0", "j1", "gamma", "errno", "EINVAL", "va_list", "open", "close", "read",
    "write", "unlink", "link", "access", "fsync", "dup", "sleep", "getpid", "stat",
    "mkdir", "O_RDONLY", "INT_MAX", "CHAR_BIT", "PATH_MAX", NULL
};

/* The generated code's names, and names that must stay usable. */
static const char *const generated[] = {
    "m", "p", "g", "a", "x", "n", "w", "r", "loss", "target", "mem", "bytes", "main",
    "carve", "fold", "ARENA", "NPARAMS", "STRUCT_BYTES", "A_IMG", "P_CONV1_WEIGHT",
    "conv1_geom", "struct_fits_its_reserve", "cnnrt", "cnnrt_model", "CNNRT_X", NULL
};
static const char *const fine[] = { "lenet5", "Model", "conv", NULL };

/* One shell loop over names.txt (a shell per name would make this test
 * the slowest of the suite).  Per name, one line in out.txt:
 *   NAME refused       an error at the name (the parser's for the words the
 *                      language reserves, else sema's with a rename hint)
 *   NAME compiles      accepted; plain, --main and --embed-runtime compile
 *   NAME BAD ...       anything else: unlocated error, or C that fails */
static const char *script =
    "cd %s && : > out.txt && while read n; do\n"
    "  printf 'model %%s {\\n    input img[1, 6, 6]\\n"
    "    conv(2, kernel=3) -> relu -> maxpool(2) -> flatten -> dense(3) -> softmax\\n}\\n"
    "train {\\n    loss = cross_entropy\\n    optimizer = adam(lr=0.01)\\n    batch = 4\\n}\\n'"
    " \"$n\" > t.cnn\n"
    "  if ! \"$CNNC\" t.cnn -o t.c 2> err.txt; then\n"
    "    if head -1 err.txt | grep -q '^t.cnn:1:7: error: ' && { ! grep -q 'cannot be called'"
    " err.txt || grep -q \"note: rename the model, e.g. 'net\" err.txt; }\n"
    "    then echo \"$n refused\"; else echo \"$n BAD: $(head -1 err.txt)\"; fi\n"
    "    continue\n"
    "  fi\n"
    "  r=compiles\n"
    "  for f in '' --main --embed-runtime; do\n"
    "    \"$CNNC\" $f t.cnn -o t.c && cc -std=c99 -Wall -Wextra -Werror -I'%s/runtime/include'"
    " -c t.c -o t.o 2> cc.txt || r=\"BAD: $f does not compile: $(head -1 cc.txt)\"\n"
    "  done\n"
    "  echo \"$n $r\"\n"
    "done < names.txt >> out.txt\n";

/* each name's outcome, checked against want (1 compiles, 0 refused, -1
 * either); returns how many names there were */
static int try_all(const char *const *names, int want)
{
    char path[600], line[600];
    snprintf(path, sizeof path, "%s/names.txt", dir);
    FILE *f = fopen(path, "w");
    ck_assert(f != NULL);
    int n = 0;
    for (; names[n]; n++)
        fprintf(f, "%s\n", names[n]);
    fclose(f);
    ck_assert_int_eq(sh(script, dir, root), 0);
    snprintf(path, sizeof path, "%s/out.txt", dir);
    ck_assert((f = fopen(path, "r")) != NULL);
    int k = 0;
    for (; fgets(line, sizeof line, f); k++) {
        line[strcspn(line, "\n")] = 0;
        const char *what = strchr(line, ' ');
        ck_assert_msg(what && strstr(what, " BAD") != what, "model %s", line);
        int got = !strcmp(what, " compiles");
        ck_assert_msg(want < 0 || got == want, "model %s, expected %s", line,
                      want ? "to compile" : "to be refused");
    }
    fclose(f);
    ck_assert_int_eq(k, n);
    return n;
}

static int try_name(const char *name)
{
    const char *one[] = { name, NULL };
    char path[600];
    try_all(one, -1);
    snprintf(path, sizeof path, "%s/out.txt", dir);
    return sh("grep -q ' compiles$' %s", path) == 0;
}

START_TEST(keywords_refused)
{
    try_all(keywords, 0);
}
END_TEST

START_TEST(library_names)
{
    try_all(library, -1);
    ck_assert_int_eq(try_name("malloc"), 0);
    ck_assert_int_eq(try_name("FILE"), 0);
}
END_TEST

START_TEST(generated_names)
{
    try_all(generated, -1);
    ck_assert_int_eq(try_name("m"), 0);     /* `m *m = (m *)p;` */
    ck_assert_int_eq(try_name("w"), 0);     /* --main's wrappers */
    try_all(fine, 1);
}
END_TEST

/* every static function of the embedded runtime, as found in a model file */
START_TEST(runtime_names)
{
    try_name("lenet5");
    ck_assert(sh("cd %s && \"$CNNC\" --embed-runtime t.cnn -o e.c && sed -n "
                 "'s/^static [a-z_ ]*[ *]\\([A-Za-z_][A-Za-z0-9_]*\\)(.*/\\1/p' e.c "
                 "| sort -u > statics.txt && test $(wc -l < statics.txt) -gt 20", dir) == 0);
    static char buf[1 << 16];
    static const char *names[4096];
    char path[600];
    snprintf(path, sizeof path, "%s/statics.txt", dir);
    FILE *f = fopen(path, "r");
    ck_assert(f != NULL);
    size_t len = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[len] = 0;
    int n = 0;
    for (char *t = strtok(buf, "\n"); t && n < 4095; t = strtok(NULL, "\n"))
        names[n++] = t;
    names[n] = NULL;
    ck_assert_int_gt(try_all(names, 0), 20);
}
END_TEST

int main(void)
{
    if (!mkdtemp(dir) || !getcwd(root, sizeof root - 64))
        return 1;
    /* the commands run in dir: $CNNC must not be relative */
    static char cnnc[4200];
    const char *c = getenv("CNNC") ? getenv("CNNC") : "./cnnc";
    snprintf(cnnc, sizeof cnnc, "%s%s%s", c[0] == '/' ? "" : root, c[0] == '/' ? "" : "/", c);
    setenv("CNNC", cnnc, 1);
    Suite *s = suite_create("cname");
    TCase *tc = tcase_create("names");
    tcase_set_timeout(tc, 600);
    tcase_add_test(tc, keywords_refused);
    tcase_add_test(tc, library_names);
    tcase_add_test(tc, generated_names);
    tcase_add_test(tc, runtime_names);
    suite_add_tcase(s, tc);
    int rc = check_run(s, 0);
    sh("rm -rf %s", dir);
    return rc;
}
