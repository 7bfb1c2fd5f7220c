/* safefile.c — writing a file so that it is either the old one or the whole
 * new one, and so that nobody else's file gets written: the one way cnnc,
 * .cnnw checkpoints and the trainer's dumps write files.
 *
 *   cnnrt_out o;
 *   if (cnnrt_out_open(&o, path, err, errlen) == 0) {
 *       fprintf(o.f, ...);
 *       rc = cnnrt_out_close(&o, ok, err, errlen);   // ok = 0: abandon
 *   }
 *
 * The data goes to a new file beside PATH (same directory, so the rename
 * is atomic), created with O_CREAT|O_EXCL|O_NOFOLLOW under a fresh name:
 * a symlink or file planted under any name cannot be written through, only
 * make the open retry under another name.  The mode is 0666 less the umask,
 * as fopen would give.  Closing flushes, fsyncs, renames over PATH and
 * fsyncs the directory; any failure removes the temporary file.  A PATH
 * that exists and is not a regular file (/dev/null, /dev/full, a pipe) is
 * written in place, since it cannot be replaced.
 * Errors are "'PATH': reason" in err with the system's reason, errno set.
 * Not here: formats, or keeping the old file's mode and owner.
 */
#include "cnnrt.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#ifndef O_NOFOLLOW
#define O_NOFOLLOW 0            /* O_EXCL alone already refuses symlinks */
#endif
#ifndef O_CLOEXEC
#define O_CLOEXEC 0
#endif

enum { SAFE_TRIES = 64 };

/* A name nobody can guess cheaply: pid, time, a counter and the state of
 * a mixer.  Exclusivity does not rest on it (O_EXCL does), only the
 * chance that a planted file makes every try fail. */
static uint64_t safe_mix(uint64_t x)
{
    x ^= x >> 31;
    x *= 0x7fb5d329728ea185ULL;
    x ^= x >> 27;
    x *= 0x81dadef4bc2dd44dULL;
    return x ^ (x >> 33);
}

int cnnrt_out_open(cnnrt_out *o, const char *path, char *err, size_t errlen)
{
    static uint64_t counter;
    struct stat st;
    memset(o, 0, sizeof *o);
    o->path = path;
    if (stat(path, &st) == 0 && !S_ISREG(st.st_mode)) {
        if (S_ISDIR(st.st_mode)) {
            cnnrt_errorf(err, errlen, path, "cannot write: it is a directory");
            errno = EISDIR;
            return -1;
        }
        if (!(o->f = fopen(path, "w"))) {
            int e = errno;
            cnnrt_errorf(err, errlen, path, "cannot write: %s", strerror(e));
            errno = e;
            return -1;
        }
        errno = 0;
        return 0;
    }
    size_t n = strlen(path) + 40;
    if (!(o->tmp = malloc(n))) {
        cnnrt_errorf(err, errlen, path, "out of memory");
        errno = ENOMEM;
        return -1;
    }
    uint64_t seed = (uint64_t)getpid() << 32 ^ (uint64_t)time(NULL) ^ (uintptr_t)o;
    int fd = -1, e = 0;
    for (int t = 0; t < SAFE_TRIES && fd < 0; t++) {
        seed = safe_mix(seed + ++counter);
        snprintf(o->tmp, n, "%s.tmp-%012llx", path, (unsigned long long)(seed & 0xffffffffffffULL));
        fd = open(o->tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0666);
        e = errno;
        if (fd < 0 && e != EEXIST && e != ELOOP)
            break;
    }
    if (fd < 0 || !(o->f = fdopen(fd, "w"))) {
        if (fd >= 0) {
            e = errno;
            close(fd);
            unlink(o->tmp);
        }
        cnnrt_errorf(err, errlen, path, "cannot write: %s", strerror(e));
        free(o->tmp);
        o->tmp = NULL;
        errno = e;
        return -1;
    }
    errno = 0;
    return 0;
}

/* Make the rename durable.  A directory that cannot be opened or synced
 * (some file systems) does not undo the write, so it is not an error. */
static void safe_sync_dir(const char *path)
{
    const char *slash = strrchr(path, '/');
    char *dir = NULL;
    if (slash) {
        size_t n = slash == path ? 1 : (size_t)(slash - path);
        if (!(dir = malloc(n + 1)))
            return;
        memcpy(dir, path, n);
        dir[n] = 0;
    }
    int fd = open(dir ? dir : ".", O_RDONLY);
    if (fd >= 0) {
        fsync(fd);
        close(fd);
    }
    free(dir);
}

int cnnrt_out_close(cnnrt_out *o, int ok, char *err, size_t errlen)
{
    if (!o->f)
        return -1;
    /* errno was cleared at open: a failed write left its reason there;
     * writing what is still buffered again usually tells it anew */
    int e = ferror(o->f) ? (errno ? errno : EIO) : 0;
    if (e) {
        clearerr(o->f);
        errno = 0;
        if (fflush(o->f) != 0 && errno)
            e = errno;
    } else if (fflush(o->f) != 0)
        e = errno ? errno : EIO;
    if (!e && o->tmp && fsync(fileno(o->f)) != 0)
        e = errno;
    if (fclose(o->f) != 0 && !e)
        e = errno ? errno : EIO;
    o->f = NULL;
    if (ok && !e && o->tmp && rename(o->tmp, o->path) != 0)
        e = errno;
    if (o->tmp) {
        if (!ok || e)
            unlink(o->tmp);
        else
            safe_sync_dir(o->path);
        free(o->tmp);
        o->tmp = NULL;
    }
    if (ok && e)
        cnnrt_errorf(err, errlen, o->path, "cannot write: %s", strerror(e));
    if (e)
        errno = e;
    return ok && !e ? 0 : -1;
}
