/* pb.h — what onnx/ shares below its two directions: reading ONNX protobuf
 * files through the protobuf-c bindings generated into the build directory,
 * tensor and attribute access, and the importer's in-memory result (which
 * the conformance test drives directly, binding extra graph inputs).
 *
 * Not a general ONNX library: only float and integer tensors stored inline
 * (no external data, no float16).
 */
#ifndef ONNX_PB_H
#define ONNX_PB_H

#include <stddef.h>
#include <stdint.h>
#include <protobuf-c/protobuf-c.h>
#include "onnx/onnx.pb-c.h"
#include "cnnrt.h"

enum { PB_FLOAT = 1, PB_INT32 = 6, PB_INT64 = 7, PB_BOOL = 9, PB_DOUBLE = 11 };

/* A whole file as a message; NULL with "PATH: reason" in err.  Absent
 * string fields of what these return are "", never NULL. */
Onnx__ModelProto  *pb_read_model(const char *path, char *err, size_t errlen);
Onnx__TensorProto *pb_read_tensor(const char *path, char *err, size_t errlen);

/* what the readers do to an unpacked message: absent strings become ""
 * (0, or -1 when out of memory) */
int pb_no_null_strings(ProtobufCMessage *m);

/* elements of a tensor (the product of its dims; 1 for a scalar) */
long pb_numel(const Onnx__TensorProto *t);
/* A tensor's values as malloc'd floats (float, double, integer and bool
 * tensors); NULL when its type or storage is not supported. */
float   *pb_floats(const Onnx__TensorProto *t);
/* An integer tensor's values (int64 or int32), malloc'd; NULL otherwise. */
int64_t *pb_ints(const Onnx__TensorProto *t);

/* attributes: the one named, or NULL / the default */
const Onnx__AttributeProto *pb_attr(const Onnx__NodeProto *n, const char *name);
long   pb_attr_int(const Onnx__NodeProto *n, const char *name, long def);
float  pb_attr_float(const Onnx__NodeProto *n, const char *name, float def);
/* a string attribute (def when absent) copied into buf; returns buf */
const char *pb_attr_str(const Onnx__NodeProto *n, const char *name, const char *def,
                        char *buf, size_t len);
/* an ints attribute: its count (at most max are copied), -1 when absent */
int    pb_attr_ints(const Onnx__NodeProto *n, const char *name, long *v, int max);

/* ---- the importer's result (onnx/import.c) ---- */
typedef struct {
    char *cnn;                  /* the .cnn source */
    cnnrt_tensor *params;       /* cnnc's names, order and layouts */
    int nparams;
    char msg[512];              /* on failure: what is wrong, and where */
    char note[256];             /* on failure: the nearest supported form, or "" */
    char op[64];                /* the ONNX operator that failed, "" otherwise */
} OnnxImport;

/* Import model m (file: its name for messages and the model's name).
 * Graph inputs that have an initializer are weights; exactly one other
 * input is the model's.  0, or -1 with r->msg and r->op set. */
int  onnx_import_model(const Onnx__ModelProto *m, const char *file, OnnxImport *r);
/* Write r's two files (temp + rename; both or neither).  0, or -1 with a
 * message in err. */
int  onnx_import_write(const OnnxImport *r, const char *cnn, const char *cnnw,
                       char *err, size_t errlen);
void onnx_import_free(OnnxImport *r);

#endif
