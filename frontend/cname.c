/* cname.c — may the model's name become C?  The emitter uses the model's
 * name as a type (`typedef struct NAME NAME`), as the prefix of its
 * functions (`NAME_forward`) and, in capitals, of its macros
 * (`NAME_BATCH`).  A name that is a C keyword, that the C library or the
 * cnnrt runtime already declares, or that the generated code uses for its
 * own locals, macros and helpers would give C that does not compile, so
 * semantic analysis refuses it with a located error instead, whenever the
 * C is to be written (fe_c_names: cnnc's default --emit=c).
 *
 * What is refused (sema_c_name_problem):
 *   - C keywords (C99 to C23) and the GNU ones;
 *   - names the C standard or POSIX reserve: a leading underscore, the
 *     `str`/`mem`/`wcs` + lowercase and `E` + capital/digit prefixes, the
 *     `_t` suffix, `INT..._MAX`-style limits;
 *   - a list of what the headers a generated file includes declare (stdio,
 *     stdlib, string, stddef, stdint, math and, with --embed-runtime,
 *     errno, fcntl, limits, stdarg, unistd);
 *   - the generated code's own names (locals such as m, p, x; helpers such
 *     as carve; macros such as ARENA; the A_/P_ offset macros and the
 *     LAYER_geom constants) and anything beginning with `cnnrt`;
 *   - file-scope names of the runtime text that --embed-runtime copies into
 *     the model's file (read from that text itself, so it cannot go stale).
 * It does not check layer or tensor names: the emitter derives C names from
 * those itself.  tests/unit/compiler/test_cname.c compiles models named after every
 * keyword and a list of library names to hold this list to the emitter.
 */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "frontend/sema.h"

/* build/rtsrc.c (tools/embed.sh): the runtime's text, NULL-terminated */
extern const char *const cnnc_runtime_files[];

static const char *const keywords[] = {
    "auto", "break", "case", "char", "const", "continue", "default", "do", "double",
    "else", "enum", "extern", "float", "for", "goto", "if", "inline", "int", "long",
    "register", "restrict", "return", "short", "signed", "sizeof", "static", "struct",
    "switch", "typedef", "union", "unsigned", "void", "volatile", "while",
    /* C23 spellings, GNU extensions */
    "alignas", "alignof", "bool", "constexpr", "false", "nullptr", "static_assert",
    "thread_local", "true", "typeof", "typeof_unqual", "asm", NULL
};

/* What the headers of a generated file declare (functions, types, objects
 * and macros a model name could meet), beyond the reserved patterns. */
static const char *const libc[] = {
    /* stdio.h */
    "FILE", "fpos_t", "NULL", "EOF", "BUFSIZ", "FILENAME_MAX", "FOPEN_MAX", "L_tmpnam",
    "SEEK_SET", "SEEK_CUR", "SEEK_END", "TMP_MAX", "stdin", "stdout", "stderr",
    "printf", "fprintf", "sprintf", "snprintf", "vprintf", "vfprintf", "vsprintf",
    "vsnprintf", "scanf", "fscanf", "sscanf", "vscanf", "vfscanf", "vsscanf", "fopen",
    "freopen", "fclose", "fread", "fwrite", "fflush", "fseek", "fseeko", "ftell",
    "ftello", "fgetpos", "fsetpos", "rewind", "fgetc", "fgets", "fputc", "fputs",
    "getc", "getchar", "gets", "putc", "putchar", "puts", "remove", "rename", "tmpfile",
    "tmpnam", "perror", "ferror", "feof", "clearerr", "setvbuf", "setbuf", "ungetc",
    "fileno", "fdopen", "fmemopen", "open_memstream", "popen", "pclose", "getline",
    "getdelim", "stpcpy", "stpncpy", "dprintf", "vdprintf", "flockfile", "funlockfile", "ctermid",
    "renameat", "getc_unlocked", "putc_unlocked", "getchar_unlocked", "putchar_unlocked",
    /* stdlib.h */
    "malloc", "calloc", "realloc", "free", "abort", "exit", "atexit", "at_quick_exit",
    "quick_exit", "getenv", "system", "qsort", "bsearch", "abs", "labs", "llabs",
    "div", "ldiv", "lldiv", "atoi", "atol", "atoll", "atof", "rand", "srand", "mblen",
    "mbtowc", "wctomb", "mbstowcs", "wcstombs", "EXIT_SUCCESS", "EXIT_FAILURE",
    "RAND_MAX", "MB_CUR_MAX", "aligned_alloc", "posix_memalign", "mkstemp", "mkdtemp",
    "setenv", "unsetenv", "putenv", "random", "srandom", "initstate", "setstate",
    "realpath", "drand48", "erand48", "lrand48", "nrand48", "mrand48", "jrand48",
    "srand48", "seed48", "lcong48", "rand_r", "grantpt", "ptsname", "unlockpt",
    "posix_openpt", "l64a", "a64l",
    /* stddef.h, stdint.h */
    "offsetof", "ptrdiff_t", "size_t", "wchar_t", "max_align_t",
    /* math.h (the f and l forms are added by the check) */
    "sin", "cos", "tan", "asin", "acos", "atan", "atan2", "sinh", "cosh", "tanh",
    "asinh", "acosh", "atanh", "exp", "exp2", "expm1", "log", "log2", "log10", "log1p",
    "logb", "ilogb", "pow", "sqrt", "cbrt", "hypot", "fabs", "floor", "ceil", "round",
    "lround", "llround", "trunc", "rint", "lrint", "llrint", "nearbyint", "fmod",
    "remainder", "remquo", "fmin", "fmax", "fdim", "fma", "erf", "erfc", "lgamma",
    "tgamma", "gamma", "modf", "frexp", "ldexp", "scalbn", "scalbln", "copysign", "nan",
    "nextafter", "nexttoward", "signgam", "isnan", "isinf", "isfinite", "isnormal",
    "signbit", "fpclassify", "isgreater", "isless", "isunordered", "j0", "j1", "jn",
    "y0", "y1", "yn", "NAN", "INFINITY", "HUGE_VAL", "HUGE_VALF", "HUGE_VALL",
    "FP_NAN", "FP_INFINITE", "FP_ZERO", "FP_NORMAL", "FP_SUBNORMAL", "MATH_ERRNO",
    "MATH_ERREXCEPT", "math_errhandling", "M_E", "M_LOG2E", "M_LOG10E", "M_LN2",
    "M_LN10", "M_PI", "M_PI_2", "M_PI_4", "M_1_PI", "M_2_PI", "M_2_SQRTPI", "M_SQRT2",
    "M_SQRT1_2",
    /* errno.h, stdarg.h, limits.h */
    "errno", "va_list", "va_start", "va_end", "va_arg", "va_copy", "CHAR_BIT",
    "MB_LEN_MAX", "PATH_MAX", "NAME_MAX", "PIPE_BUF", "IOV_MAX", "LINE_MAX",
    /* fcntl.h, unistd.h, sys/stat.h (POSIX) */
    "open", "openat", "creat", "fcntl", "posix_fadvise", "posix_fallocate", "close",
    "read", "write", "pread", "pwrite", "lseek", "unlink", "unlinkat", "link",
    "linkat", "symlink", "readlink", "access", "faccessat", "fsync", "fdatasync",
    "dup", "dup2", "pipe", "fork", "execv", "execve", "execvp", "execl", "execle",
    "execlp", "sleep", "usleep", "getpid", "getppid", "getuid", "geteuid", "getgid",
    "getegid", "rmdir", "chdir", "fchdir", "getcwd", "isatty", "sync", "pause",
    "alarm", "nice", "stat", "fstat", "lstat", "fstatat", "mkdir", "mkfifo", "chmod",
    "fchmod", "chown", "fchown", "lchown", "umask", "truncate", "ftruncate",
    "sysconf", "pathconf", "fpathconf", "confstr", "getopt", "optarg", "optind",
    "opterr", "optopt", "environ", "gethostname", "getlogin", "setsid", "setpgid",
    "getpgrp", "tcgetpgrp", "ttyname", "swab", "lockf", "crypt", "encrypt", "brk",
    "sbrk", "vfork", "_exit", "O_RDONLY", "O_WRONLY", "O_RDWR", "O_CREAT", "O_EXCL",
    "O_TRUNC", "O_APPEND", "O_NOFOLLOW", "O_CLOEXEC", "R_OK", "W_OK", "X_OK", "F_OK",
    "STDIN_FILENO", "STDOUT_FILENO", "STDERR_FILENO", "F_GETFD", "F_SETFD",
    "F_GETFL", "F_SETFL", "FD_CLOEXEC", "S_IRUSR", "S_IWUSR", "S_IXUSR",
    "S_ISREG", "S_ISDIR", "S_ISLNK",
    NULL
};

/* The generated code's own names (codegen/emit.c, emit_main.c): locals and
 * parameters, static helpers, macros.  The single letters are reserved
 * whole: generated code is free to use any of them for a local. */
static const char *const generated[] = {
    "bytes", "mem", "target", "loss", "step", "seed", "path", "err", "out", "on",
    "tmp", "argc", "argv", "augment", "model", "main", "carve", "fold", "arena",
    "tensors", "owned", "grads", "training", "struct_fits_its_reserve", "ARENA",
    "NPARAMS", "NSTATS", "STRUCT_BYTES", "NBUF", "IN", "OUT", NULL
};

/* What the emitter appends to the model's name (NAME_suffix) and to its
 * capitals (NAME_SUFFIX). */
static const char *const suffixes[] = {
    "new", "new_in", "free", "init", "set_training", "forward", "output", "backward",
    "update", "zero_grad", "train_step", "params", "state", "save", "load", "tensors",
    "H", "BATCH", "IN_SIZE", "OUT_SIZE", "NOUTPUTS", "PARAM_FLOATS", "ARENA_BYTES",
    "MEMORY_BYTES", NULL
};

static int in_list(const char *const *list, const char *name)
{
    for (int i = 0; list[i]; i++)
        if (!strcmp(list[i], name))
            return 1;
    return 0;
}

static int prefix(const char *s, const char *p)
{
    return !strncmp(s, p, strlen(p));
}

static int suffix(const char *s, const char *x)
{
    size_t n = strlen(s), k = strlen(x);
    return n >= k && !strcmp(s + n - k, x);
}

/* ---- file-scope names of the embedded runtime text ---- */
typedef struct {
    char **v;
    int n, cap;
} Names;

static void names_add(Names *s, const char *p, size_t len)
{
    if (s->n == s->cap) {
        s->cap = s->cap ? 2 * s->cap : 256;
        char **v = realloc(s->v, s->cap * sizeof *v);
        if (!v)
            return;
        s->v = v;
    }
    char *c = malloc(len + 1);
    if (!c)
        return;
    memcpy(c, p, len);
    c[len] = 0;
    s->v[s->n++] = c;
}

static int ident_char(int c)
{
    return isalnum(c) || c == '_';
}

/* Past a comment, string or character literal at p, or p itself. */
static const char *skip_literal(const char *p)
{
    if (p[0] == '/' && p[1] == '*') {
        const char *e = strstr(p + 2, "*/");
        return e ? e + 2 : p + strlen(p);
    }
    if (p[0] == '/' && p[1] == '/')
        return p + strcspn(p, "\n");
    if (*p == '"' || *p == '\'') {
        char q = *p++;
        while (*p && *p != q)
            p += p[0] == '\\' && p[1] ? 2 : 1;
        return *p ? p + 1 : p;
    }
    return p;
}

/* Identifiers declared at file scope, over-approximated: every identifier
 * outside braces and parentheses (declarations, types, keywords), enum
 * constants, and #define'd names.  Locals cannot clash with the model's
 * type and are left out. */
static void scan_runtime(const char *p, Names *out)
{
    int depth = 0, paren = 0, enum_next = 0, enum_depth = -1, line_start = 1;
    while (*p) {
        const char *q = skip_literal(p);
        if (q != p) {
            p = q;
            continue;
        }
        if (line_start && *p == '#') {
            const char *e = p;
            while (*e && (*e != '\n' || e[-1] == '\\'))
                e++;
            const char *d = p + 1 + strspn(p + 1, " \t");
            if (prefix(d, "define")) {
                d += 6;
                d += strspn(d, " \t");
                size_t n = 0;
                while (ident_char((unsigned char)d[n]))
                    n++;
                names_add(out, d, n);
            }
            p = e;
            continue;
        }
        if (*p == '\n')
            line_start = 1;
        else if (!isspace((unsigned char)*p))
            line_start = 0;
        if (isalpha((unsigned char)*p) || *p == '_') {
            size_t n = 0;
            while (ident_char((unsigned char)p[n]))
                n++;
            if (paren == 0 && (depth == 0 || depth == enum_depth))
                names_add(out, p, n);
            if (depth == 0 && n == 4 && !strncmp(p, "enum", 4))
                enum_next = 1;
            p += n;
            continue;
        }
        if (isdigit((unsigned char)*p)) {
            while (ident_char((unsigned char)*p) || *p == '.')
                p++;
            continue;
        }
        switch (*p) {
        case '{':
            depth++;
            if (enum_next && depth == 1)
                enum_depth = 1;
            break;
        case '}':
            if (depth == enum_depth)
                enum_depth = -1;
            depth -= depth > 0;
            break;
        case '(':
            paren += depth == 0;
            break;
        case ')':
            paren -= depth == 0 && paren > 0;
            break;
        case ';':
            if (depth == 0)
                enum_next = 0;
            break;
        }
        p++;
    }
}

static const Names *runtime_names(void)
{
    static Names names;
    static int done;
    if (!done) {
        done = 1;
        for (int i = 0; cnnc_runtime_files[i]; i++)
            scan_runtime(cnnc_runtime_files[i], &names);
    }
    return &names;
}

static int runtime_declares(const char *name)
{
    const Names *s = runtime_names();
    for (int i = 0; i < s->n; i++)
        if (!strcmp(s->v[i], name))
            return 1;
    return 0;
}

/* NAME or a name the emitter derives from it is declared by the runtime */
static const char *runtime_clash(const char *name)
{
    static char buf[300];
    size_t n = strlen(name);
    if (n > 250)
        return NULL;
    if (runtime_declares(name))
        return name;
    char up[256];
    for (size_t i = 0; i <= n; i++)
        up[i] = (char)toupper((unsigned char)name[i]);
    for (int i = 0; suffixes[i]; i++) {
        snprintf(buf, sizeof buf, "%s_%s", islower((unsigned char)suffixes[i][0]) ? name : up,
                 suffixes[i]);
        if (runtime_declares(buf))
            return buf;
    }
    return NULL;
}

/* libc: the name itself, or a math function's f/l form */
static int libc_declares(const char *name)
{
    if (in_list(libc, name))
        return 1;
    size_t n = strlen(name);
    if (n > 1 && n < 64 && (name[n - 1] == 'f' || name[n - 1] == 'l')) {
        char base[64];
        memcpy(base, name, n - 1);
        base[n - 1] = 0;
        return in_list(libc, base) && islower((unsigned char)base[0]);
    }
    return 0;
}

/* The C standard's and POSIX's reserved name patterns, as they apply to
 * the headers a generated file includes. */
static const char *reserved_pattern(const char *s)
{
    if (s[0] == '_')
        return "names beginning with '_' are reserved for the C implementation";
    if ((prefix(s, "str") || prefix(s, "mem") || prefix(s, "wcs")) && islower((unsigned char)s[3]))
        return "names beginning with 'str', 'mem' or 'wcs' and a lowercase letter are "
               "reserved for the C library";
    if (s[0] == 'E' && (isupper((unsigned char)s[1]) || isdigit((unsigned char)s[1])))
        return "names beginning with 'E' and a capital letter or digit are reserved for "
               "errno.h";
    if (suffix(s, "_t"))
        return "names ending in '_t' are reserved for types of the C library (POSIX)";
    if ((prefix(s, "INT") || prefix(s, "UINT")) && (suffix(s, "_MAX") || suffix(s, "_MIN") ||
                                                   suffix(s, "_C")))
        return "names like INTn_MAX and UINTn_C are stdint.h's macros";
    if (suffix(s, "_MAX") || suffix(s, "_MIN"))
        return "names ending in '_MAX' or '_MIN' are reserved for limits.h";
    return NULL;
}

/* the generated code's name patterns */
static int generated_pattern(const char *s)
{
    if (s[1] == '_' && (s[0] == 'A' || s[0] == 'P'))
        return 1;                       /* A_VALUE, P_PARAM offsets */
    if (suffix(s, "_geom"))
        return 1;                       /* LAYER_geom constants */
    return strlen(s) == 1;              /* locals: m, p, a, x, n, ... */
}

const char *sema_c_name_problem(const char *name, const char **clash)
{
    *clash = NULL;
    if (in_list(keywords, name))
        return "it is a C keyword";
    if (!strncasecmp(name, "cnnrt", 5))
        return "names beginning with 'cnnrt' belong to the cnnc runtime";
    const char *why = reserved_pattern(name);
    if (why)
        return why;
    if (libc_declares(name))
        return "the C library declares it";
    if (in_list(generated, name) || generated_pattern(name))
        return "the generated code uses it for its own purposes";
    if ((*clash = runtime_clash(name)))
        return "the runtime (embedded by --embed-runtime) declares";
    return NULL;
}
