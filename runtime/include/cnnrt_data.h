/* cnnrt_data.h — the data side of the cnnc runtime (libcnnrt_data.a): data
 * sets (IDX files, image folders, YOLO lists, single images), gzip, the
 * augmentations and the batch loader, detection boxes, PNG pictures.
 * Generated code does not call it; the trainer (cnnrt_train.h) and tools
 * that read data do.  Besides libc and libm it needs pthreads and
 * stb_image (libstb).
 */
#ifndef CNNRT_DATA_H
#define CNNRT_DATA_H

#include "cnnrt.h"

#ifdef __cplusplus
extern "C" {
#endif

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

/* ==== image data and augmentation ===========================================
 * Added with the image pipeline (runtime/data/image.c, yolo.c, augment.c,
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
 * align_corners=False; no antialiasing).  0, or -1 with "'PATH': reason"
 * and errno set: ENOMEM when memory ran out (the data sets then fail,
 * where they skip a file that cannot be read or decoded). */
int cnnrt_image_load(const char *path, int c, int h, int w, float *x,
                     char *err, size_t errlen);

/* Limits before decoding (data/imglimit.c).  An image over cnnrt_max_pixels
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
/* its parts: x[c][h][w] as malloc'd RGB bytes (h*scale rows of w*scale
 * pixels), NULL when memory runs out; and RGB bytes written as a PNG, 0 or
 * -1 with err */
unsigned char *cnnrt_picture_rgb(const float *x, int c, int h, int w, int scale);
int cnnrt_save_png(const char *path, const unsigned char *rgb, int w, int h, char *err,
                   size_t errlen);
/* dir made if missing (not its parents); 0, or -1 with "'DIR': reason"
 * when it cannot be made or is not a folder */
int cnnrt_make_folder(const char *dir, char *err, size_t errlen);

/* The input pipeline: an epoch of batches in shuffled order, every sample
 * augmented by the list given (LANGUAGE.md section 5, runtime/data/augment.c).
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

/* train --dump-aug DIR N (dump.c): writes the first n samples of epoch 1
 * (shuffled by seed, augmented) as DIR/aug-NNNN.png with their boxes, and
 * DIR/samples.txt describing each (source file, target, boxes).  DIR is
 * made if missing (not its parents).  Returns how many were written (fewer
 * than n for a smaller set), or -1 with err. */
int cnnrt_dump_augmented(const cnnrt_dataset *d, int batch, const cnnrt_augment *aug,
                         int naug, uint64_t seed, const char *dir, int n,
                         char *err, size_t errlen);

/* ---- detections drawn into pictures (draw.c), for predict --draw ----
 * img: h rows of w pixels of R, G, B bytes; all drawing is clipped. */
void cnnrt_draw_color(int cls, unsigned char *rgb);     /* class colour */
/* the rectangle with corners (x1, y1), (x2, y2) included: outline or fill */
void cnnrt_draw_rect(unsigned char *img, int w, int h, int x1, int y1, int x2, int y2,
                     const unsigned char *rgb, int fill);
/* s in the built-in 5x7 font, top left at (x, y), each font pixel
 * scale x scale, glyphs 6 font pixels apart; returns the advance in pixels */
int  cnnrt_draw_text(unsigned char *img, int w, int h, int x, int y, const char *s,
                     const unsigned char *rgb, int scale);
/* detection d (input pixels, scaled by sx, sy to the picture): its box in
 * its class colour, two pixels thick, and a label "name score" (the class
 * number when name is NULL) in black on a strip of that colour */
void cnnrt_draw_det(unsigned char *img, int w, int h, const cnnrt_det *d, const char *name,
                    float sx, float sy);
/* predict --draw: picture x[c][h][w] (the network's input) scaled up to
 * about CNNRT_DRAW_SIDE pixels (a whole factor, nearest neighbour), with
 * the n detections (input pixels) drawn by cnnrt_draw_det, written to path
 * as a PNG; names[cls] labels class cls when cls < nnames.  0, or -1 with
 * err. */
#define CNNRT_DRAW_SIDE 256
int  cnnrt_draw_png(const char *path, const float *x, int c, int h, int w,
                    const cnnrt_det *dets, int n, const char *const *names, int nnames,
                    char *err, size_t errlen);

#ifdef __cplusplus
}
#endif

#endif
