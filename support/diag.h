/* diag.h — compiler diagnostics in the gcc/clang form:
 *
 *   file:line:col: error: message
 *       the source line
 *       ^~~~
 *   file:line:col: note: did you mean 'relu'?
 *
 * Every stage reports through one Diag, which counts errors and stops
 * printing after DIAG_MAX_ERRORS (saying so once).  It does not decide
 * whether to continue: callers check diag_errors() at stage boundaries.
 */
#ifndef DIAG_H
#define DIAG_H

#include <stdio.h>

#define DIAG_MAX_ERRORS 20

typedef struct {
    int line, col;          /* 1-based; line 0 means "no location" */
    int endcol;             /* last column of the range on `line`, >= col */
} Loc;

typedef struct Diag {
    const char *file;       /* name printed in messages */
    const char *src;        /* whole source text (may be NULL) */
    long srclen;
    FILE *out;              /* stderr, or a memstream in tests */
    int nerrors;
    int nwarnings;
    int capped;             /* the "too many errors" line was printed */
} Diag;

void diag_init(Diag *d, const char *file, const char *src, long srclen, FILE *out);
/* error at loc, printed with the source line and a caret/underline */
void diag_error(Diag *d, Loc loc, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void diag_warning(Diag *d, Loc loc, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* a note following the last error (no source line); skipped when capped */
void diag_note(Diag *d, Loc loc, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* an error that has no location in the file (I/O, command line) */
void diag_fatal(Diag *d, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
int  diag_errors(const Diag *d);

/* The closest of `names` to `word` by edit distance, or NULL when nothing is
 * close enough to be a plausible typo. */
const char *diag_nearest(const char *word, const char *const *names, int n);
/* a "did you mean 'X'?" note when one of names is close to word (and the
 * error cap has not been reached) */
void diag_did_you_mean(Diag *d, Loc loc, const char *word, const char *const *names, int n);

#endif
