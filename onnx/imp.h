/* imp.h — the importer's working state, shared by onnx/import.c (ONNX
 * nodes to cnnc op terms) and onnx/write.c (terms to .cnn statements,
 * names, the weights file).  Private to the importer.
 *
 * A Val is an ONNX value with its full ONNX shape (batch first).  cnnc sees
 * a rank-4 value [N,C,H,W] as [C,H,W] and every other rank as flat
 * [d1*d2*...]; only elementwise ops accept a flat value of rank other
 * than 2.  A Term is one cnnc op term ("conv(16, kernel=3)") with the
 * parameter data it owns in cnnc's layout.
 */
#ifndef ONNX_IMP_H
#define ONNX_IMP_H

#include "onnx/pb.h"

#define IMP_MAXRANK 8
#define IMP_MAXWIN  65536    /* kernel, stride, dilation, pad: at most */

typedef struct {
    const char *onnx;               /* ONNX name */
    int rank;                       /* 0 for a constant */
    long d[IMP_MAXRANK];
    const Onnx__TensorProto *konst; /* initializer or Constant, else NULL */
    int alias;                      /* the value this one equals, -1 */
    int uses;                       /* readers among terms, +1 per graph output */
    char *cnn;                      /* its .cnn name, when it has one */
} Val;

typedef struct {
    char text[192];                 /* "conv(16, kernel=3, pad=1)" */
    int in[8], nin;                 /* values read */
    int out;                        /* value written */
    int multi;                      /* add/concat: the tensors are arguments */
    float *par[4];                  /* parameters in cnnc's order and layout */
    long npar_size[4];
    int npar;
} Term;

typedef struct {
    const char *file;
    const Onnx__GraphProto *gp;
    long opset;
    Val *vals;   int nvals, capvals;
    Term *terms; int nterms, capterms;
    unsigned char *done;            /* nodes folded into an earlier term */
    int input;                      /* the model's input value */
    int ni;                         /* the node being imported */
    OnnxImport *r;                  /* msg and op on failure */
} Imp;

/* import.c */
int  imp_val(Imp *m, const char *name);         /* -1 when unknown */
int  imp_graph(Imp *m);                         /* all nodes to terms */
/* window.c: the window attributes of Conv and the pools; 0, or -1 after
 * imp_fail.  Padding is symmetric (auto_pad SAME_* turned into it);
 * ceil_mode=1 only where it gives the floor's size, and only if ceil_ok. */
typedef struct {
    long k[2], s[2], p[2], dil[2];      /* [h, w] each */
} ImpWindow;
int  imp_window(Imp *m, const Onnx__NodeProto *n, const Val *x, ImpWindow *w, int ceil_ok);
/* the output shape d of a window over x with ch channels (x's rank) */
int  imp_window_out(Imp *m, const Onnx__NodeProto *n, const Val *x, const ImpWindow *w,
                    long ch, long *d);
/* write.c */
int  imp_fail(Imp *m, const Onnx__NodeProto *n, const char *near, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
int  imp_source(Imp *m);                        /* r->cnn and r->params */

#endif
