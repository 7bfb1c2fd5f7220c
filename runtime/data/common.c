/* common.c — the few helpers every data file shares (data.h): warnings
 * about files a data set leaves out, strdup, and the index check every
 * get() starts with.  At the bottom of the data files: it uses none of
 * them.  Not here: "'PATH': message" errors (cnnrt_errorf, core's file.c).
 */
#include "cnnrt_data.h"
#include "data.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void cnnrt_warn(const char *fmt, ...)
{
    va_list ap;
    fflush(stdout);
    fputs("warning: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

int cnnrt_data_check_index(const cnnrt_dataset *d, int i, char *err, size_t errlen)
{
    if (i >= 0 && i < d->count)
        return 0;
    cnnrt_errorf(err, errlen, d->path, "sample %d of %d does not exist", i, d->count);
    return -1;
}

char *cnnrt_strdup(const char *s)
{
    size_t n = strlen(s) + 1;
    char *p = malloc(n);
    return p ? memcpy(p, s, n) : NULL;
}
