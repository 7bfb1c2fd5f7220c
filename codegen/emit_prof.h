/* emit_prof.h — the printer's part of the per-layer profile (emit_prof.c):
 * the table of kernel call sites of _forward, _backward and _update, and
 * <m>_profile.  The marks after each call are printed by emit.c, which
 * numbers the calls in the same order. */
#ifndef EMIT_PROF_H
#define EMIT_PROF_H

#include <stdio.h>
#include "../lower/lower.h"

/* the static cnnrt_prof_site table prof_sites[NSITES] */
void emit_prof_sites(const Graph *g, const Lowered *L, FILE *f);
/* <m>_profile(m, p), and its declaration for the header */
void emit_prof_api(const Graph *g, FILE *f);
void emit_prof_header(const Graph *g, FILE *h);

#endif
