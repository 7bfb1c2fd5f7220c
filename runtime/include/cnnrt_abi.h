/* cnnrt_abi.h — the small ABI the cnnc compiler and the cnnrt runtime share:
 * the tensor struct of the generated API, the version, the enums the
 * generated code passes to the runtime (activations, initialisations,
 * losses, augmentations), the augmentation record, the geometry structs of
 * conv and pooling calls, and the kernel context.
 *
 * Types and constants, and the one question the compiler asks the runtime
 * (how much scratch a call needs, which depends on how the kernel works):
 * the compiler includes this header and nothing else of the runtime, and
 * links the core library for that query; generated code gets it through
 * cnnrt.h.  Changing anything here changes the contract between the two.
 */
#ifndef CNNRT_ABI_H
#define CNNRT_ABI_H

#ifdef __cplusplus
extern "C" {
#endif

#define CNNRT_VERSION "0.1.0"

/* ---- tensors as the generated API exposes them (GENERATED_API.md) ---- */
#ifndef CNNRT_TENSOR_DEFINED   /* also defined by --embed-runtime headers */
#define CNNRT_TENSOR_DEFINED
typedef struct {
    const char *name;       /* "conv1.weight", or "<binding>.weight" */
    int   rank;
    int   shape[4];
    long  size;             /* elements */
    float *data;
    float *grad;            /* NULL for state that is not learned */
} cnnrt_tensor;
#endif

/* ---- fused epilogue activations ---- */
enum {
    CNNRT_ACT_NONE,
    CNNRT_ACT_RELU,
    CNNRT_ACT_LEAKY,        /* x > 0 ? x : alpha*x */
    CNNRT_ACT_SIGMOID,
    CNNRT_ACT_TANH,
    CNNRT_ACT_SILU          /* x * sigmoid(x); backward needs x as well as y */
};

/* ---- initialisation schemes (cnnrt_init_weight, cnnrt_init_bias) ---- */
enum { CNNRT_INIT_DEFAULT, CNNRT_INIT_HE, CNNRT_INIT_XAVIER, CNNRT_INIT_ZEROS };

/* ---- losses and augmentations of a train block (the generated trainer) ---- */
enum { CNNRT_LOSS_XENT = 1, CNNRT_LOSS_BCE, CNNRT_LOSS_MSE };
enum { CNNRT_AUG_FLIP, CNNRT_AUG_CROP, CNNRT_AUG_HSV, CNNRT_AUG_MOSAIC, CNNRT_AUG_MIXUP };

typedef struct {
    int kind;               /* CNNRT_AUG_* */
    float f[4];             /* flip: p; crop: pad; hsv: h s v; mosaic: p lo hi;
                               mixup: alpha p */
} cnnrt_augment;

/* ---- convolution geometry ---- */
typedef struct {
    int c, h, w;            /* input, per sample */
    int f, oh, ow;          /* output, per sample */
    int kh, kw, sh, sw, ph, pw, dh, dw, groups;
} cnnrt_conv;

/* ---- pooling geometry (floor mode) ---- */
typedef struct {
    int c, h, w, oh, ow, kh, kw, sh, sw, ph, pw;
} cnnrt_pool;

/* ---- the kernel context: the first argument of every kernel call ----
 * Generated code keeps one in its model struct and passes it to every
 * call.  scratch is set by the caller before each call that needs it (the
 * conv kernels: cnnrt_conv_scratch(g) floats, planned by the compiler in
 * the arena); the size is per thread, so a context with `threads` threads
 * will need `threads` times as much.  Kernels that need no scratch accept
 * a NULL context. */
typedef struct cnnrt_ctx {
    float *scratch;   /* per-call scratch planned by the compiler for the next call (NULL: none) */
    int    threads;   /* 1 today; the threading issue adds a pool */
    void  *pool;      /* NULL today */
} cnnrt_ctx;

/* floats of scratch a conv call needs per thread (im2col of one sample and
 * group, and what the kernel's dw path keeps): the compiler plans this much
 * in the arena for each conv call */
long cnnrt_conv_scratch(const cnnrt_conv *g);

#ifdef __cplusplus
}
#endif

#endif
