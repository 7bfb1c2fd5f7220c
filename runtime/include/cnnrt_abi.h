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

/* ---- what a model's _backward takes as target, per sample (the loss
 * declares it; <M>_TARGET_SIZE floats): a probability vector (cross
 * entropy, bce), values (mse), or boxes [max_boxes][5] = class, cx, cy,
 * w, h in input pixels, class < 0 for padding (yolox) ---- */
enum { CNNRT_TARGET_PROBS, CNNRT_TARGET_VALUES, CNNRT_TARGET_BOXES };

/* ---- losses and augmentations of a train block (the generated trainer) ---- */
enum { CNNRT_LOSS_XENT = 1, CNNRT_LOSS_BCE, CNNRT_LOSS_MSE, CNNRT_LOSS_YOLOX };
enum { CNNRT_AUG_FLIP, CNNRT_AUG_CROP, CNNRT_AUG_HSV, CNNRT_AUG_MOSAIC, CNNRT_AUG_MIXUP };

typedef struct {
    int kind;               /* CNNRT_AUG_* */
    float f[4];             /* flip: p; crop: pad; hsv: h s v; mosaic: p lo hi;
                               mixup: alpha p */
} cnnrt_augment;

/* ---- alignment: every buffer generated code passes to a kernel (the
 * parameter buffers, the arena and each planned offset in it) starts on a
 * multiple of this many bytes, a cache line and an AVX-512 vector; the
 * kernels' own packing buffers are aligned alike ---- */
#define CNNRT_ALIGN 64

/* ---- the phase of a profile site (cnnrt_prof_site, cnnrt.h) ---- */
enum { CNNRT_PROF_FORWARD, CNNRT_PROF_BACKWARD, CNNRT_PROF_UPDATE };

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
 * the arena) for the calling thread; the other threads of the context get
 * theirs from the pool (core/threads.c).  Kernels that need no scratch
 * accept a NULL context (and then run on the caller's thread alone). */
typedef struct cnnrt_ctx {
    float *scratch;   /* per-call scratch planned by the compiler for the next call (NULL: none) */
    int    threads;   /* threads the kernels use; 0: the process default (cnnrt_set_threads) */
    void  *pool;      /* a cnnrt_threadpool; NULL: the process-wide pool */
} cnnrt_ctx;

/* floats of scratch a conv call needs per thread (im2col of one sample and
 * group, and what the kernel's dw path keeps): the compiler plans this much
 * in the arena for each conv call */
long cnnrt_conv_scratch(const cnnrt_conv *g);

/* ---- detection (DETECTION.md; the kernels are in cnnrt_det.h) ----
 * The detect outputs of a model are its levels, in output order: level l
 * is [n][5+classes][h[l]][w[l]], its cells stride[l] input pixels apart. */
#define CNNRT_DET_LEVELS 8      /* detect outputs of a model, at most */

typedef struct {
    int   classes;
    int   levels;
    int   h[CNNRT_DET_LEVELS], w[CNNRT_DET_LEVELS], stride[CNNRT_DET_LEVELS];
    /* the loss's parameters: loss = yolox(...) and max_boxes */
    float reg_weight;           /* 5.0 */
    float center_radius;        /* 2.5 */
    int   topk;                 /* 10 */
    int   max_boxes;            /* ground-truth rows per sample of target */
} cnnrt_yolox_geom;

/* a detection: image index in the call, class, score, corners in input
 * pixels (what `<m>_detect` returns) */
#ifndef CNNRT_DET_DEFINED
#define CNNRT_DET_DEFINED
typedef struct { int image, cls; float score, x1, y1, x2, y2; } cnnrt_det;
#endif

/* anchors of one image: the sum of h*w over the levels */
long cnnrt_yolox_anchors(const cnnrt_yolox_geom *g);
/* floats of scratch: the yolox loss of n samples; its assignment alone;
 * detection (decoding and NMS) */
long cnnrt_yolox_scratch(const cnnrt_yolox_geom *g, int n);
long cnnrt_yolox_assign_scratch(const cnnrt_yolox_geom *g);
long cnnrt_detect_scratch(const cnnrt_yolox_geom *g);

#ifdef __cplusplus
}
#endif

#endif
