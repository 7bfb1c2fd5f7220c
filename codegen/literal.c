/* literal.c — C literals for the printers (literal.h). */
#include <stdlib.h>
#include <string.h>
#include "literal.h"

void emit_float(FILE *f, float v)
{
    char b[48];
    for (int prec = 1; prec <= 9; prec++) {     /* the shortest that reads back */
        snprintf(b, sizeof b, "%.*g", prec, (double)v);
        if (strtof(b, NULL) == v)
            break;
    }
    fprintf(f, "%s%sf", b, strpbrk(b, ".eni") ? "" : ".0");
}
