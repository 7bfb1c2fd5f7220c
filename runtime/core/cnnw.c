/* cnnw.c — .cnnw parameter and checkpoint files (GENERATED_API.md), and the
 * CRC-32 they and gzip use.
 *
 * Layout, all little-endian:
 *   "CNNW"  u32 version (1)  u32 count  count x record
 *   [ u32 state_count  state_count x record  u64 step ]   checkpoints only
 *   u32 CRC-32 (zlib's) of every byte before it
 *   record: u32 name_len, name (no NUL), u32 rank, u32 dims[rank],
 *           f32 data[product of dims]
 * Whether the state part is present is told by what follows the parameter
 * records: exactly the 4 CRC bytes, or more.
 *
 * Saving writes PATH.tmp, fsyncs it, renames it over PATH and fsyncs the
 * directory, so PATH is always either the old file or the complete new one.
 * Loading validates everything before writing any destination tensor (see
 * cnnrt.h).  Not here: any notion of which tensors a model has — callers
 * pass them; this file only checks that the file agrees.
 */
#include "cnnrt.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define CNNW_VERSION  1u
#define CNNW_MAXRANK  4         /* cnnrt_tensor.shape has 4 entries */
#define CNNW_MAXNAME  4096      /* longer name fields mean a corrupt file */
#define CNNW_CHUNK    4096      /* floats converted per fwrite */

/* ---- CRC-32, reflected polynomial 0xEDB88320, as zlib and gzip ---- */
static const uint32_t cnnw_crc_table[256] = {
    0x00000000, 0x77073096, 0xee0e612c, 0x990951ba, 0x076dc419, 0x706af48f,
    0xe963a535, 0x9e6495a3, 0x0edb8832, 0x79dcb8a4, 0xe0d5e91e, 0x97d2d988,
    0x09b64c2b, 0x7eb17cbd, 0xe7b82d07, 0x90bf1d91, 0x1db71064, 0x6ab020f2,
    0xf3b97148, 0x84be41de, 0x1adad47d, 0x6ddde4eb, 0xf4d4b551, 0x83d385c7,
    0x136c9856, 0x646ba8c0, 0xfd62f97a, 0x8a65c9ec, 0x14015c4f, 0x63066cd9,
    0xfa0f3d63, 0x8d080df5, 0x3b6e20c8, 0x4c69105e, 0xd56041e4, 0xa2677172,
    0x3c03e4d1, 0x4b04d447, 0xd20d85fd, 0xa50ab56b, 0x35b5a8fa, 0x42b2986c,
    0xdbbbc9d6, 0xacbcf940, 0x32d86ce3, 0x45df5c75, 0xdcd60dcf, 0xabd13d59,
    0x26d930ac, 0x51de003a, 0xc8d75180, 0xbfd06116, 0x21b4f4b5, 0x56b3c423,
    0xcfba9599, 0xb8bda50f, 0x2802b89e, 0x5f058808, 0xc60cd9b2, 0xb10be924,
    0x2f6f7c87, 0x58684c11, 0xc1611dab, 0xb6662d3d, 0x76dc4190, 0x01db7106,
    0x98d220bc, 0xefd5102a, 0x71b18589, 0x06b6b51f, 0x9fbfe4a5, 0xe8b8d433,
    0x7807c9a2, 0x0f00f934, 0x9609a88e, 0xe10e9818, 0x7f6a0dbb, 0x086d3d2d,
    0x91646c97, 0xe6635c01, 0x6b6b51f4, 0x1c6c6162, 0x856530d8, 0xf262004e,
    0x6c0695ed, 0x1b01a57b, 0x8208f4c1, 0xf50fc457, 0x65b0d9c6, 0x12b7e950,
    0x8bbeb8ea, 0xfcb9887c, 0x62dd1ddf, 0x15da2d49, 0x8cd37cf3, 0xfbd44c65,
    0x4db26158, 0x3ab551ce, 0xa3bc0074, 0xd4bb30e2, 0x4adfa541, 0x3dd895d7,
    0xa4d1c46d, 0xd3d6f4fb, 0x4369e96a, 0x346ed9fc, 0xad678846, 0xda60b8d0,
    0x44042d73, 0x33031de5, 0xaa0a4c5f, 0xdd0d7cc9, 0x5005713c, 0x270241aa,
    0xbe0b1010, 0xc90c2086, 0x5768b525, 0x206f85b3, 0xb966d409, 0xce61e49f,
    0x5edef90e, 0x29d9c998, 0xb0d09822, 0xc7d7a8b4, 0x59b33d17, 0x2eb40d81,
    0xb7bd5c3b, 0xc0ba6cad, 0xedb88320, 0x9abfb3b6, 0x03b6e20c, 0x74b1d29a,
    0xead54739, 0x9dd277af, 0x04db2615, 0x73dc1683, 0xe3630b12, 0x94643b84,
    0x0d6d6a3e, 0x7a6a5aa8, 0xe40ecf0b, 0x9309ff9d, 0x0a00ae27, 0x7d079eb1,
    0xf00f9344, 0x8708a3d2, 0x1e01f268, 0x6906c2fe, 0xf762575d, 0x806567cb,
    0x196c3671, 0x6e6b06e7, 0xfed41b76, 0x89d32be0, 0x10da7a5a, 0x67dd4acc,
    0xf9b9df6f, 0x8ebeeff9, 0x17b7be43, 0x60b08ed5, 0xd6d6a3e8, 0xa1d1937e,
    0x38d8c2c4, 0x4fdff252, 0xd1bb67f1, 0xa6bc5767, 0x3fb506dd, 0x48b2364b,
    0xd80d2bda, 0xaf0a1b4c, 0x36034af6, 0x41047a60, 0xdf60efc3, 0xa867df55,
    0x316e8eef, 0x4669be79, 0xcb61b38c, 0xbc66831a, 0x256fd2a0, 0x5268e236,
    0xcc0c7795, 0xbb0b4703, 0x220216b9, 0x5505262f, 0xc5ba3bbe, 0xb2bd0b28,
    0x2bb45a92, 0x5cb36a04, 0xc2d7ffa7, 0xb5d0cf31, 0x2cd99e8b, 0x5bdeae1d,
    0x9b64c2b0, 0xec63f226, 0x756aa39c, 0x026d930a, 0x9c0906a9, 0xeb0e363f,
    0x72076785, 0x05005713, 0x95bf4a82, 0xe2b87a14, 0x7bb12bae, 0x0cb61b38,
    0x92d28e9b, 0xe5d5be0d, 0x7cdcefb7, 0x0bdbdf21, 0x86d3d2d4, 0xf1d4e242,
    0x68ddb3f8, 0x1fda836e, 0x81be16cd, 0xf6b9265b, 0x6fb077e1, 0x18b74777,
    0x88085ae6, 0xff0f6a70, 0x66063bca, 0x11010b5c, 0x8f659eff, 0xf862ae69,
    0x616bffd3, 0x166ccf45, 0xa00ae278, 0xd70dd2ee, 0x4e048354, 0x3903b3c2,
    0xa7672661, 0xd06016f7, 0x4969474d, 0x3e6e77db, 0xaed16a4a, 0xd9d65adc,
    0x40df0b66, 0x37d83bf0, 0xa9bcae53, 0xdebb9ec5, 0x47b2cf7f, 0x30b5ffe9,
    0xbdbdf21c, 0xcabac28a, 0x53b39330, 0x24b4a3a6, 0xbad03605, 0xcdd70693,
    0x54de5729, 0x23d967bf, 0xb3667a2e, 0xc4614ab8, 0x5d681b02, 0x2a6f2b94,
    0xb40bbe37, 0xc30c8ea1, 0x5a05df1b, 0x2d02ef8d,
};

uint32_t cnnrt_crc32(uint32_t crc, const void *p, size_t len)
{
    const unsigned char *b = p;
    crc = ~crc;
    for (size_t i = 0; i < len; i++)
        crc = cnnw_crc_table[(crc ^ b[i]) & 0xff] ^ (crc >> 8);
    return ~crc;
}

static void cnnw_put_u32(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)v;
    p[1] = (unsigned char)(v >> 8);
    p[2] = (unsigned char)(v >> 16);
    p[3] = (unsigned char)(v >> 24);
}

static uint32_t cnnw_get_u32(const unsigned char *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16
        | (uint32_t)p[3] << 24;
}

/* elements of a tensor from its shape; -1 when it does not fit in a long */
static long cnnw_shape_size(int rank, const int *shape)
{
    long n = 1;
    for (int i = 0; i < rank; i++) {
        if (shape[i] < 0 || (shape[i] > 0 && n > 0x7fffffffffffL / shape[i]))
            return -1;
        n *= shape[i];
    }
    return n;
}

/* ================= saving ================= */

typedef struct {
    FILE *f;
    uint32_t crc;           /* of everything written so far */
    int failed;             /* a write failed; errno was set then */
} cnnw_out;

static void cnnw_write(cnnw_out *o, const void *p, size_t n)
{
    if (o->failed)
        return;
    o->crc = cnnrt_crc32(o->crc, p, n);
    if (fwrite(p, 1, n, o->f) != n)
        o->failed = 1;
}

static void cnnw_write_u32(cnnw_out *o, uint32_t v)
{
    unsigned char b[4];
    cnnw_put_u32(b, v);
    cnnw_write(o, b, 4);
}

/* 0, or -1 with errno EINVAL for a tensor the format cannot hold */
static int cnnw_write_tensors(cnnw_out *o, const cnnrt_tensor *t, int n)
{
    unsigned char buf[4 * CNNW_CHUNK];
    for (int k = 0; k < n; k++) {
        size_t namelen = t[k].name ? strlen(t[k].name) : 0;
        if (namelen > CNNW_MAXNAME || t[k].rank < 0 || t[k].rank > CNNW_MAXRANK
            || cnnw_shape_size(t[k].rank, t[k].shape) != t[k].size) {
            errno = EINVAL;
            return -1;
        }
        cnnw_write_u32(o, (uint32_t)namelen);
        cnnw_write(o, t[k].name, namelen);
        cnnw_write_u32(o, (uint32_t)t[k].rank);
        for (int i = 0; i < t[k].rank; i++)
            cnnw_write_u32(o, (uint32_t)t[k].shape[i]);
        for (long i = 0; i < t[k].size; i += CNNW_CHUNK) {
            long m = t[k].size - i < CNNW_CHUNK ? t[k].size - i : CNNW_CHUNK;
            for (long j = 0; j < m; j++) {
                uint32_t bits;
                memcpy(&bits, &t[k].data[i + j], 4);
                cnnw_put_u32(buf + 4 * j, bits);
            }
            cnnw_write(o, buf, (size_t)(4 * m));
        }
    }
    return 0;
}

/* Best effort: make the rename itself durable.  A failure here does not
 * undo a successful save, so it is not reported. */
static void cnnw_sync_dir(const char *path)
{
    const char *slash = strrchr(path, '/');
    char *dir = slash ? malloc((size_t)(slash - path) + 2) : NULL;
    if (slash && !dir)
        return;
    if (dir) {
        size_t n = slash == path ? 1 : (size_t)(slash - path);
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

int cnnrt_save(const char *path, const cnnrt_tensor *params, int nparams,
               const cnnrt_tensor *state, int nstate, long step)
{
    if (!path || nparams < 0 || nstate < 0 || step < 0) {
        errno = EINVAL;
        return -1;
    }
    size_t plen = strlen(path);
    char *tmp = malloc(plen + 5);
    if (!tmp)
        return -1;
    memcpy(tmp, path, plen);
    memcpy(tmp + plen, ".tmp", 5);

    cnnw_out o = { fopen(tmp, "wb"), 0, 0 };
    if (!o.f) {
        int e = errno;
        free(tmp);
        errno = e;
        return -1;
    }
    errno = 0;
    int bad = 0;
    cnnw_write(&o, "CNNW", 4);
    cnnw_write_u32(&o, CNNW_VERSION);
    cnnw_write_u32(&o, (uint32_t)nparams);
    bad |= cnnw_write_tensors(&o, params, nparams);
    if (nstate > 0 && !bad) {
        unsigned char b[8];
        cnnw_write_u32(&o, (uint32_t)nstate);
        bad |= cnnw_write_tensors(&o, state, nstate);
        cnnw_put_u32(b, (uint32_t)((unsigned long)step & 0xffffffffu));
        cnnw_put_u32(b + 4, (uint32_t)((unsigned long)step >> 16 >> 16));
        cnnw_write(&o, b, 8);
    }
    uint32_t crc = o.crc;
    cnnw_write_u32(&o, crc);
    if (!bad && (o.failed || fflush(o.f) != 0 || fsync(fileno(o.f)) != 0))
        bad = -1;
    int e = errno;
    if (fclose(o.f) != 0 && !bad) {
        bad = -1;
        e = errno;
    }
    if (!bad && rename(tmp, path) != 0) {
        bad = -1;
        e = errno;
    }
    if (bad) {
        remove(tmp);
        free(tmp);
        errno = e ? e : EIO;
        return -1;
    }
    free(tmp);
    cnnw_sync_dir(path);
    return 0;
}

/* ================= loading ================= */

typedef struct {
    const char *path;
    const unsigned char *p;
    size_t len, pos;
    char *err;
    size_t errlen;
} cnnw_in;

#if defined(__GNUC__)
__attribute__((format(printf, 2, 3)))
#endif
static int cnnw_fail(cnnw_in *in, const char *fmt, ...)
{
    if (in->err && in->errlen) {
        int n = snprintf(in->err, in->errlen, "'%s': ", in->path);
        if (n >= 0 && (size_t)n < in->errlen) {
            va_list ap;
            va_start(ap, fmt);
            vsnprintf(in->err + n, in->errlen - (size_t)n, fmt, ap);
            va_end(ap);
        }
    }
    errno = EINVAL;
    return -1;
}

/* the next u32, or -1 (the caller says where the file ended) */
static int cnnw_u32(cnnw_in *in, uint32_t *v)
{
    if (in->len - in->pos < 4)
        return -1;
    *v = cnnw_get_u32(in->p + in->pos);
    in->pos += 4;
    return 0;
}

/* What kind of tensors a walk is over, for messages. */
typedef struct {
    const char *what;       /* "tensor" or "state tensor" */
    const cnnrt_tensor *want;   /* NULL: structure only, no names checked */
    int nwant;
    int copy;               /* write the data into want[] */
} cnnw_walk;

static void cnnw_shape_str(char *buf, size_t len, int rank, const uint32_t *d)
{
    size_t n = (size_t)snprintf(buf, len, "[");
    for (int i = 0; i < rank && n < len; i++)
        n += (size_t)snprintf(buf + n, len - n, i ? ",%u" : "%u", (unsigned)d[i]);
    if (n < len)
        snprintf(buf + n, len - n, "]");
}

static void cnnw_tensor_str(char *buf, size_t len, const cnnrt_tensor *t)
{
    uint32_t d[CNNW_MAXRANK];
    int rank = t->rank < 0 ? 0 : t->rank > CNNW_MAXRANK ? CNNW_MAXRANK : t->rank;
    for (int i = 0; i < rank; i++)
        d[i] = (uint32_t)t->shape[i];
    char shape[64];
    cnnw_shape_str(shape, sizeof shape, rank, d);
    snprintf(buf, len, "'%s' %s", t->name ? t->name : "", shape);
}

static int cnnw_truncated(cnnw_in *in, const cnnw_walk *w, uint32_t k, uint32_t count)
{
    return cnnw_fail(in, "truncated (the file ends inside %s %u of %u)",
                     w->what, (unsigned)k + 1, (unsigned)count);
}

/* Walks `count` records from in->pos.  Structure errors are reported as
 * truncation when a field runs past the end and as corruption when a field
 * is impossible.  With w->want, checks names and shapes in order (1-based
 * numbers in messages); with w->copy, converts the data into want[]. */
static int cnnw_records(cnnw_in *in, uint32_t count, const cnnw_walk *w)
{
    for (uint32_t k = 0; k < count; k++) {
        uint32_t namelen, rank, dims[CNNW_MAXRANK];
        if (cnnw_u32(in, &namelen) < 0)
            return cnnw_truncated(in, w, k, count);
        if (namelen > CNNW_MAXNAME)
            return cnnw_fail(in, "%s %u has a name of %u bytes: the file is corrupt",
                             w->what, (unsigned)k + 1, (unsigned)namelen);
        if (in->len - in->pos < namelen)
            return cnnw_truncated(in, w, k, count);
        const char *name = (const char *)in->p + in->pos;
        in->pos += namelen;
        if (cnnw_u32(in, &rank) < 0)
            return cnnw_truncated(in, w, k, count);
        if (rank > CNNW_MAXRANK)
            return cnnw_fail(in, "%s %u has rank %u: the file is corrupt",
                             w->what, (unsigned)k + 1, (unsigned)rank);
        uint64_t size = 1;
        for (uint32_t i = 0; i < rank; i++) {
            if (cnnw_u32(in, &dims[i]) < 0)
                return cnnw_truncated(in, w, k, count);
            size *= dims[i];
            if (size > ((uint64_t)1 << 40))
                return cnnw_fail(in, "%s %u has over 2^40 elements: the file is corrupt",
                                 w->what, (unsigned)k + 1);
        }
        if ((in->len - in->pos) / 4 < size)
            return cnnw_truncated(in, w, k, count);

        if (w->want && k < (uint32_t)w->nwant) {
            const cnnrt_tensor *t = &w->want[k];
            int same = t->name && strlen(t->name) == namelen
                && memcmp(t->name, name, namelen) == 0 && (uint32_t)t->rank == rank
                && (uint64_t)t->size == size;
            for (uint32_t i = 0; same && i < rank; i++)
                same = (uint32_t)t->shape[i] == dims[i];
            if (!same) {
                char fshape[64], mine[CNNW_MAXNAME + 80];
                cnnw_shape_str(fshape, sizeof fshape, (int)rank, dims);
                cnnw_tensor_str(mine, sizeof mine, t);
                return cnnw_fail(in, "%s %u is '%.*s' %s in the file but the model has %s",
                                 w->what, (unsigned)k + 1, (int)namelen, name, fshape, mine);
            }
            if (w->copy) {
                const unsigned char *src = in->p + in->pos;
                for (uint64_t i = 0; i < size; i++) {
                    uint32_t bits = cnnw_get_u32(src + 4 * i);
                    memcpy(&t->data[i], &bits, 4);
                }
            }
        } else if (w->want) {
            char fshape[64];
            cnnw_shape_str(fshape, sizeof fshape, (int)rank, dims);
            return cnnw_fail(in, "the file has %u %ss, the model %d: %s %u '%.*s' %s "
                             "in the file is not in the model", (unsigned)count, w->what,
                             w->nwant, w->what, (unsigned)k + 1, (int)namelen, name, fshape);
        }
        in->pos += 4 * (size_t)size;
    }
    if (w->want && count < (uint32_t)w->nwant) {
        char mine[CNNW_MAXNAME + 80];
        cnnw_tensor_str(mine, sizeof mine, &w->want[count]);
        return cnnw_fail(in, "the file has %u %ss, the model %d: the model's %s %u %s "
                         "is not in the file", (unsigned)count, w->what, w->nwant,
                         w->what, (unsigned)count + 1, mine);
    }
    return 0;
}

/* Where the parts of a structurally sound file are. */
typedef struct {
    uint32_t nparams, nstate;
    size_t params_at, state_at;     /* state_at 0: no state part */
    uint64_t step;
} cnnw_layout;

/* magic, version, structure and CRC; nothing about the model yet */
static int cnnw_check_file(cnnw_in *in, cnnw_layout *l)
{
    static const cnnw_walk params = { "tensor", NULL, 0, 0 };
    static const cnnw_walk states = { "state tensor", NULL, 0, 0 };
    uint32_t version;
    if (in->len == 0)
        return cnnw_fail(in, "the file is empty: not a .cnnw file");
    if (memcmp(in->p, "CNNW", in->len < 4 ? in->len : 4) != 0)
        return cnnw_fail(in, "not a .cnnw file");
    if (in->len < 4)
        return cnnw_fail(in, "truncated (the file ends inside the header)");
    in->pos = 4;
    if (cnnw_u32(in, &version) < 0 || cnnw_u32(in, &l->nparams) < 0)
        return cnnw_fail(in, "truncated (the file ends inside the header)");
    if (version != CNNW_VERSION)
        return cnnw_fail(in, "format version %u; this runtime reads version %u",
                         (unsigned)version, CNNW_VERSION);
    l->params_at = in->pos;
    if (cnnw_records(in, l->nparams, &params) < 0)
        return -1;
    l->state_at = 0;
    l->nstate = 0;
    l->step = 0;
    if (in->len - in->pos > 4) {
        if (cnnw_u32(in, &l->nstate) < 0)
            return cnnw_fail(in, "truncated (the file ends inside the state count)");
        l->state_at = in->pos;
        if (cnnw_records(in, l->nstate, &states) < 0)
            return -1;
        if (in->len - in->pos < 8)
            return cnnw_fail(in, "truncated (the file ends inside the step count)");
        l->step = cnnw_get_u32(in->p + in->pos)
            | (uint64_t)cnnw_get_u32(in->p + in->pos + 4) << 32;
        in->pos += 8;
    }
    if (in->len - in->pos < 4)
        return cnnw_fail(in, "truncated (the file ends inside the CRC)");
    if (in->len - in->pos > 4)
        return cnnw_fail(in, "%zu unexpected bytes before the CRC: the file is corrupt",
                         in->len - in->pos - 4);
    if (cnnrt_crc32(0, in->p, in->pos) != cnnw_get_u32(in->p + in->pos))
        return cnnw_fail(in, "CRC mismatch: the file is corrupt");
    if (l->step > (uint64_t)LONG_MAX)
        return cnnw_fail(in, "step count %llu: the file is corrupt",
                         (unsigned long long)l->step);
    return 0;
}

/* Match (copy == 0), then copy (copy == 1): the two passes over the parts
 * the caller asked for. */
static int cnnw_apply(cnnw_in *in, const cnnw_layout *l, const cnnrt_tensor *params,
                      int nparams, const cnnrt_tensor *state, int nstate, int copy)
{
    cnnw_walk pw = { "tensor", params, nparams, copy };
    in->pos = l->params_at;
    if (cnnw_records(in, l->nparams, &pw) < 0)
        return -1;
    if (!state || !l->state_at)
        return 0;
    cnnw_walk sw = { "state tensor", state, nstate, copy };
    in->pos = l->state_at;
    return cnnw_records(in, l->nstate, &sw);
}

int cnnrt_load(const char *path, const cnnrt_tensor *params, int nparams,
               const cnnrt_tensor *state, int nstate, long *step,
               char *err, size_t errlen)
{
    if (err && errlen)
        err[0] = 0;
    size_t len;
    unsigned char *buf = cnnrt_read_plain(path, &len, err, errlen);
    if (!buf)
        return -1;
    cnnw_in in = { path, buf, len, 0, err, errlen };
    cnnw_layout l = {0, 0, 0, 0, 0};
    int rc = cnnw_check_file(&in, &l);
    if (rc == 0)
        rc = cnnw_apply(&in, &l, params, nparams, state, nstate, 0);
    if (rc == 0) {
        cnnw_apply(&in, &l, params, nparams, state, nstate, 1);
        if (step)
            *step = (long)l.step;
    }
    int e = errno;
    free(buf);
    errno = e;
    return rc;
}
