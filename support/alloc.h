/* alloc.h — memory for the compiler, with one policy for running out of it.
 *
 * The compiler (front end, IR, passes, lowering, printers) has no sensible
 * way on without memory: every allocation goes through these, which print
 * "cnnc: error: out of memory" once and exit with status 1 — never abort()
 * and never a NULL to check.  The runtime (cnnrt) does not use this file:
 * its functions return errors to their callers.
 */
#ifndef SUPPORT_ALLOC_H
#define SUPPORT_ALLOC_H

#include <stddef.h>

void *xmalloc(size_t n);
void *xcalloc(size_t count, size_t size);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);
/* a malloc'd string formatted as printf would */
char *xfmt(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* the message and exit(1): for callers whose own allocator failed */
void  xoom(void) __attribute__((noreturn));

#endif
