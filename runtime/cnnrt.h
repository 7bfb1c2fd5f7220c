/* cnnrt.h — the cnnc runtime: the kernels generated code calls, and the
 * services a generated trainer needs (RNG, initialisation, checkpoints, data
 * files, progress, the train/eval/predict driver).
 *
 * It is not a framework: there is no graph, no tensor type with ownership,
 * no allocation inside kernels.  Every kernel works on caller-owned float
 * buffers laid out NCHW with the batch first, and every scratch buffer it
 * needs is passed in (the compiler plans it).  Only libc and libm are used.
 *
 * Conventions shared by every kernel:
 *   - n is the number of samples in the call (1 <= n <= the model's BATCH);
 *   - `_forward` overwrites its output;
 *   - `_backward` OVERWRITES the gradient of its inputs (dx, may be NULL when
 *     nobody needs it) and ADDS to the gradients of its parameters (dw, db),
 *     so gradients accumulate across backward calls until zeroed;
 *   - `act` is an epilogue activation fused into a producer (CNNRT_ACT_*),
 *     with `alpha` its slope for leaky relu; a backward that takes `act`
 *     first turns dy (in place) into the gradient before the activation,
 *     using the saved output y.
 */
#ifndef CNNRT_H
#define CNNRT_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define CNNRT_VERSION "0.1.0"

/* ---- tensors as the generated API exposes them (GENERATED_API.md) ---- */
typedef struct {
    const char *name;       /* "conv1.weight", or "<binding>.weight" */
    int   rank;
    int   shape[4];
    long  size;             /* elements */
    float *data;
    float *grad;            /* NULL for state that is not learned */
} cnnrt_tensor;

/* ---- fused epilogue activations ---- */
enum {
    CNNRT_ACT_NONE,
    CNNRT_ACT_RELU,
    CNNRT_ACT_LEAKY,        /* x > 0 ? x : alpha*x */
    CNNRT_ACT_SIGMOID,
    CNNRT_ACT_TANH,
    CNNRT_ACT_SILU          /* x * sigmoid(x); backward needs x as well as y */
};

/* ---- deterministic RNG (splitmix64-seeded xoshiro256**) ---- */
typedef struct { uint64_t s[4]; } cnnrt_rng;
void     cnnrt_rng_seed(cnnrt_rng *r, uint64_t seed);
uint64_t cnnrt_rng_next(cnnrt_rng *r);
double   cnnrt_rng_uniform(cnnrt_rng *r);             /* [0, 1) */
float    cnnrt_rng_normal(cnnrt_rng *r);              /* N(0, 1) */
double   cnnrt_rng_gamma(cnnrt_rng *r, double shape); /* Gamma(shape, 1) */
double   cnnrt_rng_beta(cnnrt_rng *r, double a, double b);
void     cnnrt_shuffle(cnnrt_rng *r, int *idx, int n);

/* ---- initialisation (PyTorch defaults) ---- */
enum { CNNRT_INIT_DEFAULT, CNNRT_INIT_HE, CNNRT_INIT_XAVIER, CNNRT_INIT_ZEROS };
/* weight: Kaiming-uniform a=sqrt(5) (bound 1/sqrt(fan_in)) by default,
 * he: U(+-sqrt(6/fan_in)), xavier: U(+-sqrt(6/(fan_in+fan_out))), zeros. */
void cnnrt_init_weight(cnnrt_rng *r, int how, float *w, long size, long fan_in, long fan_out);
/* bias: U(+-1/sqrt(fan_in)), zeros for `zeros`. */
void cnnrt_init_bias(cnnrt_rng *r, int how, float *b, long size, long fan_in);
void cnnrt_fill(float *p, long size, float v);

/* ---- convolution ---- */
typedef struct {
    int c, h, w;            /* input, per sample */
    int f, oh, ow;          /* output, per sample */
    int kh, kw, sh, sw, ph, pw, dh, dw, groups;
} cnnrt_conv;
/* floats of scratch a conv call needs (im2col of one sample and group) */
long cnnrt_conv_scratch(const cnnrt_conv *g);
void cnnrt_conv_forward(const cnnrt_conv *g, int n, const float *x,
                        const float *w, const float *b, float *y,
                        int act, float alpha, float *scratch);
/* dy is modified in place when act != NONE; x is needed for dw, w for dx. */
void cnnrt_conv_backward(const cnnrt_conv *g, int n, const float *x,
                         const float *w, const float *y, float *dy,
                         int act, float alpha,
                         float *dx, float *dw, float *db, float *scratch);

/* ---- fully connected: y[n][out] = x[n][in] . w[out][in]^T + b ---- */
void cnnrt_dense_forward(int n, int in, int out, const float *x,
                         const float *w, const float *b, float *y,
                         int act, float alpha);
void cnnrt_dense_backward(int n, int in, int out, const float *x,
                          const float *w, const float *y, float *dy,
                          int act, float alpha,
                          float *dx, float *dw, float *db);

/* ---- elementwise activations over len floats (y may alias x) ---- */
void cnnrt_act_forward(int act, float alpha, long len, const float *x, float *y);
/* x may be NULL except for SILU; y may be NULL only for SILU; dx may alias dy */
void cnnrt_act_backward(int act, float alpha, long len, const float *x,
                        const float *y, const float *dy, float *dx);

/* ---- prelu: one slope per channel, hw pixels per channel ---- */
void cnnrt_prelu_forward(int n, int c, int hw, const float *x, const float *a, float *y);
void cnnrt_prelu_backward(int n, int c, int hw, const float *x, const float *a,
                          const float *dy, float *dx, float *da);

/* ---- pooling (floor mode) ---- */
typedef struct {
    int c, h, w, oh, ow, kh, kw, sh, sw, ph, pw;
} cnnrt_pool;
/* Padding never wins the max.  idx (may be NULL) receives, per output, the
 * position of its window's first maximum within the input plane (h*w, as
 * a float: exact below 2^24); -1 when no cell is above -inf.  The backward
 * routes dy through idx, or recomputes the positions from x when idx is
 * NULL, so a training graph can keep idx (a quarter of x for 2x2 pooling)
 * instead of x. */
void cnnrt_maxpool_forward(const cnnrt_pool *g, int n, const float *x, float *y, float *idx);
void cnnrt_maxpool_backward(const cnnrt_pool *g, int n, const float *x, const float *idx,
                            const float *dy, float *dx);
/* the divisor is kh*kw, counting padded cells */
void cnnrt_avgpool_forward(const cnnrt_pool *g, int n, const float *x, float *y);
void cnnrt_avgpool_backward(const cnnrt_pool *g, int n, const float *dy, float *dx);
void cnnrt_gap_forward(int n, int c, int hw, const float *x, float *y);
void cnnrt_gap_backward(int n, int c, int hw, const float *dy, float *dx);

/* ---- softmax over c channels, independently at each of hw pixels ---- */
void cnnrt_softmax_forward(int n, int c, int hw, const float *x, float *y);
void cnnrt_softmax_backward(int n, int c, int hw, const float *y,
                            const float *dy, float *dx);

/* ---- batchnorm; mean/invstd are per-channel values saved for backward ---- */
void cnnrt_batchnorm_forward(int n, int c, int hw, const float *x,
                             const float *gamma, const float *beta,
                             float *rmean, float *rvar, float momentum,
                             float eps, int training, float *y,
                             float *mean, float *invstd, int act, float alpha);
/* dy is modified in place when act != NONE (y: the saved output) */
void cnnrt_batchnorm_backward(int n, int c, int hw, const float *x,
                              const float *gamma, const float *mean,
                              const float *invstd, const float *y, float *dy,
                              int act, float alpha,
                              float *dx, float *dgamma, float *dbeta);

/* ---- batchnorm folded into the conv before it (inference): per filter f,
 * s = gamma/sqrt(var+eps); fw = w*s; fb = (b - mean)*s + beta (b may be
 * NULL).  per = floats of weight per filter. ---- */
void cnnrt_fold_batchnorm(int filters, long per, const float *w, const float *b,
                          const float *gamma, const float *beta, const float *mean,
                          const float *var, float eps, float *fw, float *fb);

/* ---- inverted dropout; mask holds 0 or 1/(1-p) ---- */
void cnnrt_dropout_forward(cnnrt_rng *r, float p, int training, long len,
                           const float *x, float *y, float *mask);
void cnnrt_dropout_backward(long len, const float *mask, const float *dy, float *dx);

/* ---- nearest-neighbour upsampling by an integer factor ---- */
void cnnrt_upsample_forward(int n, int c, int h, int w, int f, const float *x, float *y);
void cnnrt_upsample_backward(int n, int c, int h, int w, int f, const float *dy, float *dx);

/* ---- concat along channels: part i has sizes[i] floats per sample ---- */
void cnnrt_concat_forward(int n, int k, const float *const *xs, const long *sizes, float *y);
void cnnrt_concat_backward(int n, int k, const long *sizes, const float *dy, float *const *dxs);

/* ---- elementwise sum of equal shapes (also sums gradient fan-in) ---- */
/* with an epilogue activation (act, alpha) fused in; y may alias a or b */
void cnnrt_add_forward(long len, const float *a, const float *b, float *y, int act, float alpha);

/* ---- losses: return the loss, WRITE dz (the gradient wrt the logits or
 * predictions).  count = n * floats per sample. ---- */
/* softmax + cross entropy over c channels per pixel: mean over the batch of
 * -sum y ln p, computed from the logits z by log-sum-exp; dz = (p - y)/n */
float cnnrt_xent_loss(int n, int c, int hw, const float *z, const float *p,
                      const float *target, float *dz);
/* sigmoid + bce: mean over elements, log-sum-exp form; dz = (p - y)/count */
float cnnrt_bce_loss(long count, const float *z, const float *p,
                     const float *target, float *dz);
/* mse: mean over elements of (p - y)^2; dp = 2(p - y)/count */
float cnnrt_mse_loss(long count, const float *p, const float *target, float *dp);

/* ---- optimizers over a whole parameter buffer (PyTorch's formulas).
 * g includes wd*w when wd != 0; each zeroes g after the step.  State
 * buffers start at zero; step counts updates from 1 (sgd: at step 1 the
 * momentum buffer is set to g, as PyTorch's first step). ---- */
void cnnrt_sgd_update(long size, float *w, float *g, float *v, float lr,
                      float momentum, float wd, int nesterov, long step);
void cnnrt_adagrad_update(long size, float *w, float *g, float *r, float lr,
                          float eps, float wd);
void cnnrt_rmsprop_update(long size, float *w, float *g, float *r, float lr,
                          float rho, float eps, float wd);
/* step t starts at 1 */
void cnnrt_adam_update(long size, float *w, float *g, float *s, float *r,
                       float lr, float b1, float b2, float eps, float wd, long t);

/* ---- .cnnw parameter and checkpoint files ---- */
/* Writes params, then (if nstate > 0) the optimizer state tensors and the
 * step count, then a CRC-32; through cnnrt_out (below).  0, or -1 with errno. */
int cnnrt_save(const char *path, const cnnrt_tensor *params, int nparams,
               const cnnrt_tensor *state, int nstate, long step);
/* Writing a file safely (safefile.c): the data goes to a new file made
 * exclusively (O_CREAT|O_EXCL|O_NOFOLLOW, fresh name) beside PATH; close
 * flushes, fsyncs, renames it over PATH and fsyncs the directory, or with
 * ok == 0 (or on any failure) removes it.  A PATH that exists and is not a
 * regular file (/dev/null, a pipe) is written in place.  0, or -1 with
 * "'PATH': reason" in err and errno set. */
typedef struct {
    FILE *f;                /* write here between open and close */
    const char *path;
    char *tmp;              /* NULL when writing in place */
} cnnrt_out;
int cnnrt_out_open(cnnrt_out *o, const char *path, char *err, size_t errlen);
int cnnrt_out_close(cnnrt_out *o, int ok, char *err, size_t errlen);

/* Loads into the tensors given (names and shapes must match).  state may be
 * NULL (a plain parameter load); *step gets the step count (0 when the file
 * has no state).  0, or -1 with a message in err. */
int cnnrt_load(const char *path, const cnnrt_tensor *params, int nparams,
               const cnnrt_tensor *state, int nstate, long *step,
               char *err, size_t errlen);
/* Details of cnnrt_load (runtime/cnnw.c):
 *   - the whole file is read and checked (magic, version, structure, CRC,
 *     every name and shape) before any tensor is written: on failure
 *     nothing has changed;
 *   - a file with state loaded with state == NULL: the state is checked by
 *     the CRC but not loaded (a checkpoint is a valid parameter file);
 *   - a file without state loaded with state != NULL: the parameters load,
 *     the state tensors are left untouched and *step is 0 — callers that
 *     need the state must tell by a state tensor of their own (the trainer
 *     keeps "trainer.state");
 *   - step may be NULL; otherwise it gets the file's step count whenever
 *     the file has one, whether or not state is loaded;
 *   - err gets "'PATH': " and then e.g. "not a .cnnw file", "truncated ...",
 *     "CRC mismatch: the file is corrupt", "tensor 3 is 'conv2.weight'
 *     [16,6,5,5] in the file but the model has 'conv2.weight' [16,6,3,3]";
 *     errno is set too (EINVAL for a bad file). */
/* CRC-32 as zlib's crc32(): start with crc = 0 and chain calls. */
uint32_t cnnrt_crc32(uint32_t crc, const void *p, size_t len);

/* ---- the generated trainer (cnnc --main) ----
 * The generated main() fills a cnnrt_model with the model's constants and
 * functions and hands over to cnnrt_main(), which implements the train,
 * eval and predict commands of GENERATED_API.md. */
enum { CNNRT_LOSS_XENT = 1, CNNRT_LOSS_BCE, CNNRT_LOSS_MSE };
enum { CNNRT_AUG_FLIP, CNNRT_AUG_CROP, CNNRT_AUG_HSV, CNNRT_AUG_MOSAIC, CNNRT_AUG_MIXUP };

typedef struct {
    int kind;               /* CNNRT_AUG_* */
    float f[4];             /* flip: p; crop: pad; hsv: h s v; mosaic: p lo hi;
                               mixup: alpha p */
} cnnrt_augment;

typedef struct {
    const char *name;       /* model name */
    int batch;              /* BATCH */
    int in_c, in_h, in_w;   /* input shape; in_h = in_w = 1 for [N] inputs */
    int in_size, out_size;
    int loss;               /* CNNRT_LOSS_* (0: model has no train block) */
    int epochs;
    uint64_t seed;
    const cnnrt_augment *augment;
    int naugment;
    void        *(*create)(void);
    void         (*destroy)(void *m);
    void         (*init)(void *m, uint64_t seed);
    void         (*set_training)(void *m, int on);
    const float *(*forward)(void *m, const float *x, int n);
    float        (*backward)(void *m, const float *target, int n);
    void         (*update)(void *m);
    int          (*params)(void *m, const cnnrt_tensor **out);
    /* optimizer state tensors for checkpoints, and the step counter */
    int          (*state)(void *m, const cnnrt_tensor **out, long **step);
} cnnrt_model;

/* Returns the process exit status: 0, or 1 for any error (bad command
 * line, missing or bad file, a loss that became NaN); messages go to
 * stderr, progress and results to stdout. */
int cnnrt_main(const cnnrt_model *model, int argc, char **argv);

/* ==== runtime services behind cnnrt_main ====================================
 * Added with the trainer (runtime/gzip.c, idx.c, progress.c): files, data
 * sets and the progress display.  Generated code does not call them; later
 * loaders (image folders, YOLO lists) and augmentations build on them. */

/* The whole file as it is (file.c).  malloc'd, *len bytes; NULL with
 * "'PATH': reason" in err and errno set. */
unsigned char *cnnrt_read_plain(const char *path, size_t *len, char *err, size_t errlen);
/* err = "'PATH': " followed by the formatted message (err may be NULL) */
void cnnrt_errorf(char *err, size_t errlen, const char *path, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* The whole file, gunzipped when it starts with the gzip magic (single
 * member; the trailer's CRC-32 and length are checked).  malloc'd, *len
 * bytes; NULL with "'PATH': reason" in err and errno set. */
unsigned char *cnnrt_read_file(const char *path, size_t *len, char *err, size_t errlen);

/* A box of detection data: its class and corners, normalized to the
 * sample (0 <= x0 < x1 <= 1 left to right, y0 < y1 top to bottom), so it
 * does not change when the image is resized to the model's input. */
typedef struct {
    int cls;
    float x0, y0, x1, y1;
} cnnrt_box;

/* A data set: `count` samples of c*h*w floats (NCHW, one sample) with a
 * target of tsize floats each.  get() is pure: sample i is the same every
 * time, so shuffling and augmentation (with their own seeded RNG) live in
 * the caller, and get() may be called from several threads.  Loaders embed
 * this struct first (calloc'd: fields they do not use stay 0 / NULL) and
 * fill in the functions. */
typedef struct cnnrt_dataset cnnrt_dataset;
struct cnnrt_dataset {
    const char *path;       /* the file or folder, for messages */
    int count;
    int c, h, w;            /* the sample shape, as the model wants it */
    int tsize;              /* floats per target; 0 when opened unlabelled */
    /* x: [c*h*w]; target: [tsize] or NULL.  0; -1 with err set; or 1 when
     * the file sample i comes from cannot be decoded (err says why): the
     * caller skips the sample, nothing else is wrong.  IDX never says 1. */
    int  (*get)(const cnnrt_dataset *d, int i, float *x, float *target,
                char *err, size_t errlen);
    void (*close)(cnnrt_dataset *d);
    /* -- image data (image.c, yolo.c); 0 / NULL for IDX -- */
    int maxbox;             /* most boxes of any sample; 0: not detection data */
    int skipped;            /* unreadable files left out when the set was opened */
    const char *const *classes;     /* tsize class names (folders), or NULL */
    /* sample i's boxes into box[maxbox]; returns how many */
    int  (*boxes)(const cnnrt_dataset *d, int i, cnnrt_box *box);
    /* the file sample i is read from, or NULL */
    const char *(*name)(const cnnrt_dataset *d, int i);
};

/* Opens DATA for a model whose input is [c, h, w] (h = w = 1 for a flat
 * [c] input) and whose targets have tsize floats.  DATA is an image folder
 * or a `.txt` list of images with YOLO labels (see "image data and
 * augmentation" below), one image file (png, jpg, jpeg, bmp, tga, gif: a
 * set of one, unlabelled), or else an IDX file (MNIST format, plain or
 * .gz): images u8 (scaled to [0,1]) or float32,
 * [N,H,W] (one channel), [N,C,H,W] or [N,F] (flat); labels u8 class
 * indices (one-hot targets; the value itself when tsize == 1) or float32
 * [N,tsize] targets.  labels: the label file, or NULL to look beside DATA
 * ("...-images-idx3-..." -> "...-labels-idx1-...", with or without .gz).
 * With need_labels == 0 a missing label file is not an error and the set
 * comes back with tsize == 0.  NULL with "'PATH': what is wrong" in err
 * (e.g. "expected 3 channels, got 1", "expected 28x28 images, got 32x32"). */
cnnrt_dataset *cnnrt_data_open(const char *path, const char *labels,
                               int c, int h, int w, int tsize, int need_labels,
                               char *err, size_t errlen);
void cnnrt_data_close(cnnrt_dataset *d);    /* NULL is fine */

/* The training progress display.  On a terminal: one line redrawn in place
 * (\r) at most 10 times a second.  Otherwise (a file, a pipe): a plain
 * line at each tenth of the epoch.  Both end the epoch with a summary line.
 * Fields are private to progress.c; the struct is here to live on the
 * caller's stack. */
typedef struct {
    FILE *out;
    int tty;                /* redraw in place; set by _start, may be overridden */
    int epoch, epochs;      /* 1-based */
    int nbatch, batch;      /* batches in the epoch, and done */
    long nimages, seen, correct;
    double loss_sum;        /* sum over samples of the batch mean loss */
    double t0, last_draw;   /* seconds, monotonic */
    int next_tenth;         /* plain mode: the next tenth to report */
    int width;              /* characters of the last in-place line */
    long skipped;           /* unreadable files, told in the summary when
                               not 0 (the caller sets it; _start zeroes it) */
} cnnrt_progress;
void cnnrt_progress_start(cnnrt_progress *p, FILE *out, int epoch, int epochs,
                          int nbatch, long nimages);
/* one batch of n samples: its mean loss and how many it got right */
void cnnrt_progress_batch(cnnrt_progress *p, int n, double loss, int correct);
/* the epoch summary; val_n == 0 when there is no validation set */
void cnnrt_progress_end(cnnrt_progress *p, double val_loss, double val_acc, long val_n);

/* ==== image data and augmentation ===========================================
 * Added with the image pipeline (runtime/image.c, yolo.c, augment.c,
 * loader.c, dump.c).  Besides IDX files, cnnrt_data_open reads:
 *   - an image folder ROOT/<class>/...: the classes are ROOT's sub-folders,
 *     sorted by name (strcmp), and every .png .jpg .jpeg .bmp .tga .gif
 *     below one (at any depth) is a sample of that class: a one-hot target,
 *     or the class index itself when tsize == 1 and there are two classes.
 *     There must be tsize classes (2 when tsize == 1).  With need_labels
 *     == 0, a folder of images without class folders opens unlabelled.
 *   - a `.txt` list: an image path a line (relative paths from the list's
 *     folder; blank lines and lines starting with '#' skipped; CRLF and
 *     spaces in paths are fine).  The labels of DIR/NAME.EXT are
 *     DIR/NAME.txt, or else the same path with /images/ -> /labels/: YOLO
 *     format, `class cx cy w h` normalized, one box a line; an image
 *     without a label file has no boxes.  Values out of range are refused
 *     with the label file and line; zero-size boxes are left out with a
 *     warning.  The class target of detection data is the AREA-WEIGHTED
 *     MIX of its boxes' classes (sum over boxes of area * one-hot, divided
 *     by the total area; all zero for an image without boxes), so a
 *     classifier can train on it; the boxes themselves travel with the
 *     sample through the augmentations (cnnrt_batch) and --dump-aug.
 * Images are decoded with stb_image on every get(), converted to the
 * model's channels and resized to its height and width.  A file that
 * cannot be read is left out when the set is opened (counted in
 * d->skipped, with a warning on stderr), or when only decoding finds out,
 * skipped by the loader (get() says 1).  A set with no readable image is
 * an error naming the path. */

/* An image file into x[c][h][w], floats in [0,1]: converted to c channels
 * (1 gray, 2 gray+alpha, 3 RGB, 4 RGBA; alpha is dropped, or 1 when the
 * file has none) and resized bilinear with half-pixel centres (PyTorch's
 * align_corners=False; no antialiasing).  0, or -1 with "'PATH': reason". */
int cnnrt_image_load(const char *path, int c, int h, int w, float *x,
                     char *err, size_t errlen);

/* Limits before decoding (imglimit.c).  An image over cnnrt_max_pixels
 * (width x height; the trainer's --max-pixels, default CNNRT_MAX_PIXELS)
 * is refused from its header, before any pixel is decoded: at open it is
 * left out with a warning like any unreadable file. */
#define CNNRT_MAX_PIXELS (64LL << 20)
extern long long cnnrt_max_pixels;
/* 0 when w x h is within the limit, else -1 with "'PATH': reason" */
int cnnrt_image_fits(const char *path, int w, int h, char *err, size_t errlen);
/* A PNG with an empty IDAT chunk: a malloc'd copy without those chunks
 * (*len updated); NULL when buf needs no change (or is not a PNG). */
unsigned char *cnnrt_png_without_empty_idat(const unsigned char *buf, size_t *len);
/* The checks on the first len bytes of an image file (enough for its
 * header): what stb_image must not see (a JPEG Huffman table of more than
 * 256 codes), whether stb_image knows the format, and the pixel limit.
 * 0 with *w, *h the size, or -1 with "'PATH': reason". */
int cnnrt_image_header(const char *path, const unsigned char *buf, size_t len, int *w,
                       int *h, char *err, size_t errlen);
/* An image file's bytes decoded to c interleaved 8-bit channels, after the
 * checks above: stbi_image_free()'d by the caller; *w, *h its size.  NULL
 * with "'PATH': reason" in err. */
unsigned char *cnnrt_image_decode(const char *path, const unsigned char *buf, size_t len,
                                  int c, int *w, int *h, char *err, size_t errlen);

/* x[c][h][w] as an RGB PNG (c == 3: RGB; otherwise channel 0 as gray;
 * values clamped to [0,1]), scaled up `scale` times (nearest neighbour),
 * with the boxes drawn in a colour per class.  0, or -1 with err. */
int cnnrt_write_png(const char *path, const float *x, int c, int h, int w, int scale,
                    const cnnrt_box *box, int nbox, char *err, size_t errlen);

/* The input pipeline: an epoch of batches in shuffled order, every sample
 * augmented by the list given (LANGUAGE.md section 5, runtime/augment.c).
 *
 * Determinism: the order of an epoch is a function of (seed, epoch) — the
 * same shuffle the trainer always used — and the augmentation of sample i
 * a function of (seed, epoch, i) alone, so batches do not depend on the
 * number of threads or their timing, and a resumed run sees the same data.
 * With no augmentations a batch holds exactly what get() gives.
 *
 * Threads: batches are made ahead by worker threads (batch b by worker
 * b % threads) into threads + 1 buffers, while the caller trains on the
 * current one.  threads == 0 makes each batch inside cnnrt_loader_next;
 * threads < 0 picks min(4, CPUs - 1), at least 1, or $CNNRT_LOADER_THREADS.
 *
 * Skipping: a sample whose file cannot be decoded is left out of its
 * batch (a warning names the file, once); a partner image for mosaic or
 * mixup that cannot be decoded is replaced by the next index that can. */
typedef struct cnnrt_loader cnnrt_loader;
typedef struct {
    int n;                  /* samples (fewer than the batch when skipped) */
    const float *x;         /* [n][c*h*w] */
    const float *target;    /* [n][tsize] */
    const int *index;       /* [n]: the data set index of each sample */
    const cnnrt_box *box;   /* sample k's boxes are box[k*boxcap ...] */
    const int *nbox;        /* [n] */
    int boxcap;
} cnnrt_batch;

/* NULL with err when an augmentation cannot apply to the data (e.g. hsv
 * on 1 channel, flip on a flat input) or memory runs out. */
cnnrt_loader *cnnrt_loader_new(const cnnrt_dataset *d, int batch,
                               const cnnrt_augment *aug, int naug, int threads,
                               char *err, size_t errlen);
/* Starts an epoch (stopping one still running): shuffled by (seed, epoch)
 * when `shuffle`, in data set order otherwise. */
void cnnrt_loader_start(cnnrt_loader *l, uint64_t seed, int epoch, int shuffle);
/* The next batch: 1; 0 after the last; -1 with err.  The batch stays
 * valid until the next call. */
int  cnnrt_loader_next(cnnrt_loader *l, cnnrt_batch *b, char *err, size_t errlen);
/* unreadable files so far: the set's own `skipped` and those found since */
int  cnnrt_loader_skipped(const cnnrt_loader *l);
void cnnrt_loader_free(cnnrt_loader *l);    /* NULL is fine */

#endif
