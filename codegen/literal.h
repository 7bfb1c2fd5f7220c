/* literal.h — C literals the printers write: a float as the shortest text
 * that C reads back as the same float ("0.001f", "1e-08f", "2.0f").
 * Nothing else about C lives here. */
#ifndef LITERAL_H
#define LITERAL_H

#include <stdio.h>

void emit_float(FILE *f, float v);

#endif
