/* pb.c — reading ONNX protobuf files and the small accessors import and
 * export share (tensor values, node attributes).
 *
 * Files are read whole and unpacked with the generated protobuf-c code;
 * tensor data may be in the typed repeated fields or in raw_data (little
 * endian, as ONNX specifies).  Nothing here knows about cnnc's IR.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include "onnx/pb.h"

/* at most 1 GiB: protobuf's own message limit is 2 GiB */
#define PB_MAX_FILE (1L << 30)

static unsigned char *slurp(const char *path, size_t *len, char *err, size_t errlen)
{
    struct stat st;
    if (stat(path, &st) == 0 && !S_ISREG(st.st_mode)) {
        snprintf(err, errlen, "%s: not a regular file", path);
        return NULL;
    }
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return NULL;
    }
    unsigned char *buf = NULL;
    long n = -1;
    if (fseek(f, 0, SEEK_END) == 0)
        n = ftell(f);
    if (n < 0 || n > PB_MAX_FILE || fseek(f, 0, SEEK_SET) != 0) {
        snprintf(err, errlen, "%s: %s", path, n > PB_MAX_FILE ? "larger than 1 GiB" :
                 "not a regular file");
        fclose(f);
        return NULL;
    }
    buf = malloc(n ? (size_t)n : 1);
    if (!buf || fread(buf, 1, (size_t)n, f) != (size_t)n) {
        snprintf(err, errlen, "%s: %s", path, buf ? "read error" : "out of memory");
        free(buf);
        buf = NULL;
    }
    fclose(f);
    *len = (size_t)n;
    return buf;
}

/* Absent string fields unpack as NULL; every reader here treats them as
 * "", so they become "" once, after unpacking (malloc'd, as the unpacker's
 * own strings are, so that free_unpacked frees them).  Message fields are
 * walked through their descriptors, only a oneof's present member.  0, or
 * -1 when out of memory. */
int pb_no_null_strings(ProtobufCMessage *m)
{
    const ProtobufCMessageDescriptor *d = m->descriptor;
    for (unsigned i = 0; i < d->n_fields; i++) {
        const ProtobufCFieldDescriptor *f = &d->fields[i];
        char *at = (char *)m + f->offset;
        if (f->type != PROTOBUF_C_TYPE_STRING && f->type != PROTOBUF_C_TYPE_MESSAGE)
            continue;
        if ((f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) &&
            *(const uint32_t *)((const char *)m + f->quantifier_offset) != f->id)
            continue;
        size_t n = 1;
        void **v = (void **)at;
        if (f->label == PROTOBUF_C_LABEL_REPEATED) {
            n = *(const size_t *)((const char *)m + f->quantifier_offset);
            v = *(void ***)at;
        }
        for (size_t k = 0; k < n; k++) {
            if (f->type == PROTOBUF_C_TYPE_STRING && !v[k] && !(v[k] = strdup("")))
                return -1;
            if (f->type == PROTOBUF_C_TYPE_MESSAGE && v[k] && pb_no_null_strings(v[k]))
                return -1;
        }
    }
    return 0;
}

/* a whole file unpacked as message type d; NULL with err set */
static ProtobufCMessage *read_message(const char *path, const ProtobufCMessageDescriptor *d,
                                      const char *what, char *err, size_t errlen)
{
    size_t len;
    unsigned char *buf = slurp(path, &len, err, errlen);
    if (!buf)
        return NULL;
    ProtobufCMessage *m = len ? protobuf_c_message_unpack(d, NULL, len, buf) : NULL;
    free(buf);
    if (m && pb_no_null_strings(m)) {
        protobuf_c_message_free_unpacked(m, NULL);
        snprintf(err, errlen, "%s: out of memory", path);
        return NULL;
    }
    if (!m)
        snprintf(err, errlen, "%s: not an ONNX %s (the protobuf does not parse as one)", path, what);
    return m;
}

Onnx__ModelProto *pb_read_model(const char *path, char *err, size_t errlen)
{
    Onnx__ModelProto *m = (Onnx__ModelProto *)read_message(path, &onnx__model_proto__descriptor,
                                                           "model", err, errlen);
    if (m && !m->graph) {
        snprintf(err, errlen, "%s: not an ONNX model (it has no graph)", path);
        onnx__model_proto__free_unpacked(m, NULL);
        m = NULL;
    }
    return m;
}

Onnx__TensorProto *pb_read_tensor(const char *path, char *err, size_t errlen)
{
    return (Onnx__TensorProto *)read_message(path, &onnx__tensor_proto__descriptor, "tensor",
                                             err, errlen);
}

long pb_numel(const Onnx__TensorProto *t)
{
    long n = 1;
    for (size_t i = 0; i < t->n_dims; i++)
        n *= t->dims[i] > 0 ? (long)t->dims[i] : 0;
    return n;
}

/* element i of raw little-endian data of `size` bytes per element */
static uint64_t raw_at(const ProtobufCBinaryData *r, long i, int size)
{
    uint64_t v = 0;
    for (int b = size - 1; b >= 0; b--)
        v = v << 8 | r->data[i * size + b];
    return v;
}

static int elem_size(int type)
{
    switch (type) {
    case PB_FLOAT: case PB_INT32: return 4;
    case PB_INT64: case PB_DOUBLE: return 8;
    case PB_BOOL: return 1;
    default: return 0;
    }
}

/* value i of t as a double; *ok cleared when t cannot be read */
static int tensor_values(const Onnx__TensorProto *t, double *out, long n)
{
    int type = t->data_type, size = elem_size(type);
    if (!size || (t->has_data_location && t->data_location != ONNX__TENSOR_PROTO__DATA_LOCATION__DEFAULT))
        return -1;
    if (t->has_raw_data) {
        if ((long)t->raw_data.len != n * size)
            return -1;
        for (long i = 0; i < n; i++) {
            uint64_t u = raw_at(&t->raw_data, i, size);
            if (type == PB_FLOAT) {
                uint32_t u32 = (uint32_t)u;
                float f;
                memcpy(&f, &u32, 4);
                out[i] = f;
            } else if (type == PB_DOUBLE) {
                double d;
                memcpy(&d, &u, 8);
                out[i] = d;
            } else if (type == PB_INT32) {
                out[i] = (int32_t)(uint32_t)u;
            } else if (type == PB_INT64) {
                out[i] = (double)(int64_t)u;
            } else {
                out[i] = u != 0;
            }
        }
        return 0;
    }
    size_t have = type == PB_FLOAT ? t->n_float_data : type == PB_DOUBLE ? t->n_double_data :
                  type == PB_INT64 ? t->n_int64_data : t->n_int32_data;
    if ((long)have != n)
        return -1;
    for (long i = 0; i < n; i++)
        out[i] = type == PB_FLOAT ? t->float_data[i] : type == PB_DOUBLE ? t->double_data[i] :
                 type == PB_INT64 ? (double)t->int64_data[i] : t->int32_data[i];
    return 0;
}

/* all values of t as malloc'd doubles (*n of them), NULL when unreadable */
static double *doubles(const Onnx__TensorProto *t, long *n)
{
    *n = pb_numel(t);
    double *d = malloc(sizeof *d * (size_t)(*n ? *n : 1));
    if (d && tensor_values(t, d, *n)) {
        free(d);
        d = NULL;
    }
    return d;
}

float *pb_floats(const Onnx__TensorProto *t)
{
    long n;
    double *d = doubles(t, &n);
    float *f = d ? malloc(sizeof *f * (size_t)(n ? n : 1)) : NULL;
    for (long i = 0; f && i < n; i++)
        f[i] = (float)d[i];
    free(d);
    return f;
}

int64_t *pb_ints(const Onnx__TensorProto *t)
{
    long n;
    double *d = t->data_type == PB_INT64 || t->data_type == PB_INT32 ? doubles(t, &n) : NULL;
    int64_t *v = d ? malloc(sizeof *v * (size_t)(n ? n : 1)) : NULL;
    for (long i = 0; v && i < n; i++)
        v[i] = (int64_t)d[i];
    free(d);
    return v;
}

const Onnx__AttributeProto *pb_attr(const Onnx__NodeProto *n, const char *name)
{
    for (size_t i = 0; i < n->n_attribute; i++)
        if (n->attribute[i]->name && strcmp(n->attribute[i]->name, name) == 0)
            return n->attribute[i];
    return NULL;
}

long pb_attr_int(const Onnx__NodeProto *n, const char *name, long def)
{
    const Onnx__AttributeProto *a = pb_attr(n, name);
    return a && a->has_i ? (long)a->i : def;
}

float pb_attr_float(const Onnx__NodeProto *n, const char *name, float def)
{
    const Onnx__AttributeProto *a = pb_attr(n, name);
    return a && a->has_f ? a->f : def;
}

const char *pb_attr_str(const Onnx__NodeProto *n, const char *name, const char *def,
                        char *buf, size_t len)
{
    const Onnx__AttributeProto *a = pb_attr(n, name);
    if (!a || !a->has_s) {
        snprintf(buf, len, "%s", def);
        return buf;
    }
    size_t k = a->s.len < len - 1 ? a->s.len : len - 1;
    memcpy(buf, a->s.data, k);
    buf[k] = 0;
    return buf;
}

int pb_attr_ints(const Onnx__NodeProto *n, const char *name, long *v, int max)
{
    const Onnx__AttributeProto *a = pb_attr(n, name);
    if (!a || (!a->n_ints && a->type != ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INTS))
        return -1;
    for (size_t i = 0; i < a->n_ints && (int)i < max; i++)
        v[i] = (long)a->ints[i];
    return (int)a->n_ints;
}
