/* diag.c — prints diagnostics in the gcc/clang form (see diag.h) and finds
 * "did you mean" candidates.
 *
 * An error shows its source line and a caret with a `~~~` underline over the
 * location's columns.  Columns count bytes (a tab is one column); when the
 * line is echoed, tabs are kept and each UTF-8 character takes one cell, so
 * the caret stays under the right character.  Very long lines are shown as a
 * window around the caret.  Control characters and bytes that are not UTF-8
 * are echoed as '?' so that a diagnostic never writes raw garbage.
 *
 * This file does not decide what is an error, and does not stop anything:
 * callers look at diag_errors() between stages.
 */
#include <ctype.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "diag.h"

enum { SHOW_WIDTH = 120, SHOW_BEFORE = 40 };

void diag_init(Diag *d, const char *file, const char *src, long srclen, FILE *out)
{
    memset(d, 0, sizeof *d);
    d->file = file;
    d->src = src;
    d->srclen = src ? srclen : 0;
    d->out = out ? out : stderr;
}

int diag_errors(const Diag *d)
{
    return d->nerrors;
}

static FILE *out(const Diag *d)
{
    return d->out ? d->out : stderr;
}

/* Line `line` (1-based) of the source: its first byte and its length
 * without the newline (and without a CR before it).  0 when absent. */
static int find_line(const Diag *d, int line, const char **start, long *len)
{
    const char *p = d->src, *end = d->src + d->srclen;
    if (!p || line < 1)
        return 0;
    for (int l = 1; l < line; l++) {
        const char *nl = memchr(p, '\n', end - p);
        if (!nl)
            return 0;
        p = nl + 1;
    }
    if (p == end && line > 1 && p[-1] == '\n' && d->srclen > 0) {
        *start = p;             /* the empty line after a final newline */
        *len = 0;
        return 1;
    }
    const char *nl = memchr(p, '\n', end - p);
    long n = (nl ? nl : end) - p;
    if (n > 0 && p[n - 1] == '\r')
        n--;
    *start = p;
    *len = n;
    return 1;
}

/* Length of the UTF-8 character at s (at most n bytes), or 0 when s does not
 * start a valid multi-byte character. */
static int utf8_len(const unsigned char *s, long n)
{
    int len = s[0] >= 0xf0 && s[0] <= 0xf4 ? 4 :
              s[0] >= 0xe0 ? 3 : s[0] >= 0xc2 && s[0] <= 0xdf ? 2 : 0;
    if (s[0] >= 0xf5 || len == 0 || len > n)
        return 0;
    for (int i = 1; i < len; i++)
        if ((s[i] & 0xc0) != 0x80)
            return 0;
    return len;
}

/* Echo bytes [lo, hi) of the line, one display cell per character. */
static void echo(FILE *f, const unsigned char *s, long lo, long hi)
{
    for (long i = lo; i < hi;) {
        int n = s[i] >= 0x80 ? utf8_len(s + i, hi - i) : 1;
        if (n > 1)
            fwrite(s + i, 1, n, f);
        else if (s[i] == '\t' || (s[i] >= 0x20 && s[i] < 0x7f))
            fputc(s[i], f);
        else
            fputc('?', f);
        i += n ? n : 1;
    }
}

/* The source line of `loc`, then the caret line under it. */
static void show_source(Diag *d, Loc loc)
{
    const char *start;
    long len;
    if (!find_line(d, loc.line, &start, &len))
        return;
    const unsigned char *s = (const unsigned char *)start;
    long col = loc.col < 1 ? 1 : loc.col;
    long endcol = loc.endcol < col ? col : loc.endcol;
    if (endcol > len && col <= len)
        endcol = len;

    /* the window of bytes [lo, hi) to echo */
    long lo = 0, hi = len;
    if (len > SHOW_WIDTH) {
        lo = col - 1 - SHOW_BEFORE;
        if (lo < 0)
            lo = 0;
        hi = lo + SHOW_WIDTH;
        if (hi > len) {
            hi = len;
            lo = hi - SHOW_WIDTH;
        }
        while (lo > 0 && (s[lo] & 0xc0) == 0x80)
            lo++;
        while (hi < len && (s[hi] & 0xc0) == 0x80)
            hi++;
    }
    FILE *f = out(d);
    if (lo > 0)
        fputs("...", f);
    echo(f, s, lo, hi);
    if (hi < len)
        fputs("...", f);
    fputc('\n', f);

    if (lo > 0)
        fputs("   ", f);
    long i = lo;
    for (; i < hi && i < col - 1; i++)      /* up to the caret */
        if (s[i] == '\t')
            fputc('\t', f);
        else if ((s[i] & 0xc0) != 0x80)
            fputc(' ', f);
    for (; i < col - 1; i++)                /* a caret past the end */
        fputc(' ', f);
    fputc('^', f);
    for (i = col; i < endcol && i < hi; i++)
        if ((s[i] & 0xc0) != 0x80)
            fputc('~', f);
    fputc('\n', f);
}

static void header(Diag *d, Loc loc, const char *kind)
{
    const char *file = d->file ? d->file : "cnnc";
    if (loc.line > 0)
        fprintf(out(d), "%s:%d:%d: %s: ", file, loc.line, loc.col, kind);
    else
        fprintf(out(d), "%s: %s: ", file, kind);
}

/* Counts an error; 0 when it must not be printed because of the cap. */
static int count_error(Diag *d)
{
    d->nerrors++;
    if (d->nerrors <= DIAG_MAX_ERRORS)
        return 1;
    if (!d->capped) {
        fprintf(out(d), "%s: fatal error: too many errors; stopping after %d\n",
                d->file ? d->file : "cnnc", DIAG_MAX_ERRORS);
        d->capped = 1;
    }
    return 0;
}

static void report(Diag *d, Loc loc, const char *kind, const char *fmt, va_list ap)
{
    header(d, loc, kind);
    vfprintf(out(d), fmt, ap);
    fputc('\n', out(d));
    if (loc.line > 0)
        show_source(d, loc);
}

void diag_error(Diag *d, Loc loc, const char *fmt, ...)
{
    if (!count_error(d))
        return;
    va_list ap;
    va_start(ap, fmt);
    report(d, loc, "error", fmt, ap);
    va_end(ap);
}

void diag_warning(Diag *d, Loc loc, const char *fmt, ...)
{
    d->nwarnings++;
    if (d->capped)
        return;
    va_list ap;
    va_start(ap, fmt);
    report(d, loc, "warning", fmt, ap);
    va_end(ap);
}

void diag_note(Diag *d, Loc loc, const char *fmt, ...)
{
    if (d->capped)
        return;
    va_list ap;
    va_start(ap, fmt);
    header(d, loc, "note");
    vfprintf(out(d), fmt, ap);
    fputc('\n', out(d));
    va_end(ap);
}

void diag_fatal(Diag *d, const char *fmt, ...)
{
    if (!count_error(d))
        return;
    va_list ap;
    va_start(ap, fmt);
    Loc none = { 0, 0, 0 };
    report(d, none, "error", fmt, ap);
    va_end(ap);
}

/* Optimal-string-alignment distance (Levenshtein plus adjacent
 * transpositions), ignoring case; gives up early once every entry of a row
 * exceeds `limit`, returning limit + 1. */
static int distance(const char *a, const char *b, int limit)
{
    int n = strlen(a), m = strlen(b);
    if (abs(n - m) > limit)
        return limit + 1;
    int *row = malloc(3 * (m + 1) * sizeof *row);
    if (!row)
        return limit + 1;
    int *pp = row, *p = row + m + 1, *c = row + 2 * (m + 1);
    for (int j = 0; j <= m; j++)
        p[j] = j;
    for (int i = 1; i <= n; i++) {
        int best = c[0] = i;
        for (int j = 1; j <= m; j++) {
            int ai = tolower((unsigned char)a[i - 1]);
            int bj = tolower((unsigned char)b[j - 1]);
            int v = p[j - 1] + (ai != bj);
            if (p[j] + 1 < v)
                v = p[j] + 1;
            if (c[j - 1] + 1 < v)
                v = c[j - 1] + 1;
            if (i > 1 && j > 1 && ai == tolower((unsigned char)b[j - 2]) &&
                tolower((unsigned char)a[i - 2]) == bj && pp[j - 2] + 1 < v)
                v = pp[j - 2] + 1;
            c[j] = v;
            if (v < best)
                best = v;
        }
        int *t = pp; pp = p; p = c; c = t;
        if (best > limit) {
            free(row);
            return limit + 1;
        }
    }
    int r = p[m];
    free(row);
    return r;
}

/* A typo of a short name is one edit; longer names allow one per 3 chars. */
const char *diag_nearest(const char *word, const char *const *names, int n)
{
    int len = strlen(word);
    if (len > 256)
        return NULL;
    int limit = len / 3 > 1 ? len / 3 : 1;
    const char *best = NULL;
    int bestd = limit + 1;
    for (int i = 0; i < n; i++) {
        if (!names[i])
            continue;
        int dist = distance(word, names[i], bestd - 1 < limit ? bestd - 1 : limit);
        if (dist < bestd) {
            bestd = dist;
            best = names[i];
        }
    }
    return bestd <= limit ? best : NULL;
}

void diag_did_you_mean(Diag *d, Loc loc, const char *word, const char *const *names, int n)
{
    const char *near = d->capped ? NULL : diag_nearest(word, names, n);
    if (near)
        diag_note(d, loc, "did you mean '%s'?", near);
}
