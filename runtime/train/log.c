/* log.c — the trainer's records: the --log CSV (a row every N batches and
 * one per epoch: loss, accuracy, learning rate, images per second, time)
 * and the --chart PNG of loss and accuracy, redrawn after every epoch like
 * Darknet's chart.png.
 *
 * The chart is drawn by a small rasteriser of its own (lines, rectangles,
 * a 3x5 digit font) into an RGB buffer written by stb_image_write, to a
 * temporary name renamed over the old chart so a viewer never sees half
 * a picture.  It is not a plotting library: one layout, two scales.
 */
#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L
#endif
#include "log.h"
#include "cnnrt_data.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <stb/stb_image_write.h>

double trlog_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

int trlog_open(trlog *l, const char *csv, const char *chart, int every, double lr,
               char *err, size_t errlen)
{
    memset(l, 0, sizeof *l);
    l->csv_path = csv;
    l->chart = chart;
    l->every = every;
    l->lr = lr;
    l->t0 = trlog_now();
    if (csv) {
        l->csv = fopen(csv, "w");
        if (!l->csv) {
            cnnrt_errorf(err, errlen, csv, "%s", strerror(errno));
            return -1;
        }
        fprintf(l->csv, "kind,epoch,batch,loss,accuracy,val_loss,val_accuracy,lr,images_per_s,time_s\n");
    }
    return 0;
}

/* append to one of the two histories; a point lost to out of memory only
 * thins the chart */
static void trlog_add(trlog *l, int val, float x, float loss, float acc)
{
    int n = val ? l->nval : l->ntrain;
    if (n == l->cap) {
        int cap = l->cap ? 2 * l->cap : 256;
        trlog_point *a = realloc(l->train, sizeof *a * (size_t)cap);
        if (a)
            l->train = a;
        trlog_point *b = realloc(l->val, sizeof *b * (size_t)cap);
        if (b)
            l->val = b;
        if (!a || !b)
            return;
        l->cap = cap;
    }
    trlog_point p = { x, loss, acc };
    if (val)
        l->val[l->nval++] = p;
    else
        l->train[l->ntrain++] = p;
}

static void trlog_row(trlog *l, const char *kind, const cnnrt_progress *p, const char *val)
{
    double t = trlog_now(), dt = t - p->t0;
    fprintf(l->csv, "%s,%d,%d,%.6f,%.6f,%s,%.6g,%.1f,%.3f\n", kind, p->epoch, p->batch,
            p->seen ? p->loss_sum / p->seen : 0.0, p->seen ? (double)p->correct / p->seen : 0.0,
            val, l->lr, dt > 0 ? p->seen / dt : 0.0, t - l->t0);
}

void trlog_batch(trlog *l, const cnnrt_progress *p)
{
    if (!p->seen)
        return;
    /* the chart gets about 50 training points per epoch */
    int step = p->nbatch > 50 ? p->nbatch / 50 : 1;
    if (l->chart && (p->batch % step == 0 || p->batch == p->nbatch))
        trlog_add(l, 0, (float)(p->epoch - 1) + (float)p->batch / (float)p->nbatch,
                  (float)(p->loss_sum / p->seen), (float)p->correct / (float)p->seen);
    if (l->csv && l->every > 0 && p->batch % l->every == 0)
        trlog_row(l, "batch", p, ",");
}

int trlog_epoch(trlog *l, const cnnrt_progress *p, double val_loss, double val_acc,
                long val_n, char *err, size_t errlen)
{
    if (val_n > 0)
        trlog_add(l, 1, (float)p->epoch, (float)val_loss, (float)val_acc);
    if (l->csv) {
        char val[64] = ",";
        if (val_n > 0)
            snprintf(val, sizeof val, "%.6f,%.6f", val_loss, val_acc);
        trlog_row(l, "epoch", p, val);
        if (fflush(l->csv) != 0 || ferror(l->csv)) {
            cnnrt_errorf(err, errlen, l->csv_path, "%s", strerror(errno));
            return -1;
        }
    }
    if (l->chart)
        return trlog_chart(l->chart, 640, 360, l->train, l->ntrain, l->val, l->nval, err, errlen);
    return 0;
}

void trlog_close(trlog *l)
{
    if (l->csv)
        fclose(l->csv);
    free(l->train);
    free(l->val);
    memset(l, 0, sizeof *l);
}

/* ---- the rasteriser: an RGB canvas, clipped ---- */
typedef struct { unsigned char *rgb; int w, h; } trlog_canvas;

static void trc_px(trlog_canvas *c, int x, int y, const unsigned char *col)
{
    if (x >= 0 && y >= 0 && x < c->w && y < c->h)
        memcpy(c->rgb + ((size_t)y * c->w + x) * 3, col, 3);
}

static void trc_rect(trlog_canvas *c, int x0, int y0, int x1, int y1, const unsigned char *col)
{
    for (int y = y0; y <= y1; y++)
        for (int x = x0; x <= x1; x++)
            trc_px(c, x, y, col);
}

/* Bresenham, drawn thick (a 2x2 pen) */
static void trc_line(trlog_canvas *c, int x0, int y0, int x1, int y1, const unsigned char *col)
{
    int dx = abs(x1 - x0), dy = -abs(y1 - y0), sx = x0 < x1 ? 1 : -1, sy = y0 < y1 ? 1 : -1;
    int e = dx + dy;
    for (;;) {
        trc_rect(c, x0, y0, x0 + 1, y0 + 1, col);
        if (x0 == x1 && y0 == y1)
            break;
        int e2 = 2 * e;
        if (e2 >= dy) {
            e += dy;
            x0 += sx;
        }
        if (e2 <= dx) {
            e += dx;
            y0 += sy;
        }
    }
}

/* 3x5 trc_glyphs for "0123456789.%", one row of 3 bits per entry, top first */
static const unsigned char trc_glyphs[12][5] = {
    { 7, 5, 5, 5, 7 }, { 2, 6, 2, 2, 7 }, { 7, 1, 7, 4, 7 }, { 7, 1, 7, 1, 7 },
    { 5, 5, 7, 1, 1 }, { 7, 4, 7, 1, 7 }, { 7, 4, 7, 5, 7 }, { 7, 1, 1, 2, 2 },
    { 7, 5, 7, 5, 7 }, { 7, 5, 7, 1, 7 }, { 0, 0, 0, 0, 2 }, { 5, 1, 2, 4, 5 },
};

/* text of digits, '.' and '%' at scale 2; x is the left edge, or the
 * right edge when right is set */
static void trc_text(trlog_canvas *c, int x, int y, const char *s, int right, const unsigned char *col)
{
    int n = (int)strlen(s);
    if (right)
        x -= n * 8;
    for (int i = 0; i < n; i++, x += 8) {
        const char *at = strchr("0123456789.%", s[i]);
        if (!at || !s[i])
            continue;
        const unsigned char *g = trc_glyphs[at - "0123456789.%"];
        for (int r = 0; r < 5; r++)
            for (int b = 0; b < 3; b++)
                if (g[r] >> (2 - b) & 1)
                    trc_rect(c, x + 2 * b, y + 2 * r, x + 2 * b + 1, y + 2 * r + 1, col);
    }
}

int trlog_chart(const char *path, int w, int h, const trlog_point *train, int ntrain,
                const trlog_point *val, int nval, char *err, size_t errlen)
{
    static const unsigned char white[3] = { 255, 255, 255 }, grid[3] = { 225, 225, 225 },
        axis[3] = { 90, 90, 90 }, cols[4][3] = { { 210, 40, 40 }, { 240, 150, 20 },
                                                  { 40, 90, 210 }, { 30, 150, 60 } };
    trlog_canvas c = { malloc((size_t)w * h * 3), w, h };
    if (!c.rgb) {
        cnnrt_errorf(err, errlen, path, "out of memory");
        return -1;
    }
    trc_rect(&c, 0, 0, w - 1, h - 1, white);
    /* plot area, and the scales: epochs across, loss 0..top on the left,
       accuracy 0..100% on the right */
    int x0 = 56, x1 = w - 48, y0 = 12, y1 = h - 28;
    float xmax = 1, top = 0;
    for (int i = 0; i < ntrain; i++) {
        xmax = fmaxf(xmax, train[i].x);
        top = fmaxf(top, isfinite(train[i].loss) ? train[i].loss : 0);
    }
    for (int i = 0; i < nval; i++) {
        xmax = fmaxf(xmax, val[i].x);
        top = fmaxf(top, isfinite(val[i].loss) ? val[i].loss : 0);
    }
    top = top > 0 ? top * 1.05f : 1;
    xmax = ceilf(xmax);
    char buf[32];
    for (int k = 0; k <= 4; k++) {     /* horizontal grid: quarters of both scales */
        int y = y1 - (y1 - y0) * k / 4;
        for (int x = x0; x <= x1; x++)
            trc_px(&c, x, y, grid);
        snprintf(buf, sizeof buf, top * k / 4 >= 10 ? "%.0f" : "%.2f", top * k / 4);
        trc_text(&c, x0 - 6, y - 5, buf, 1, cols[0]);
        snprintf(buf, sizeof buf, "%d%%", 25 * k);
        trc_text(&c, x1 + 6, y - 5, buf, 0, cols[2]);
    }
    int every = (int)xmax / 10 + 1;    /* at most ~10 epoch labels */
    for (int e = 0; e <= (int)xmax; e++) {
        int x = x0 + (int)((x1 - x0) * (e / xmax));
        for (int y = y0; y <= y1; y++)
            trc_px(&c, x, y, grid);
        if (e % every == 0) {
            snprintf(buf, sizeof buf, "%d", e);
            trc_text(&c, x - 4 * (int)strlen(buf), y1 + 8, buf, 0, axis);
        }
    }
    trc_line(&c, x0, y1, x1, y1, axis);
    trc_line(&c, x0, y0, x0, y1, axis);
    trc_line(&c, x1, y0, x1, y1, axis);
    /* the four series: training loss, validation loss, training and
       validation accuracy; validation points marked with squares */
    for (int s = 0; s < 4; s++) {
        const trlog_point *p = s % 2 ? val : train;
        int n = s % 2 ? nval : ntrain, px0 = 0, py0 = 0;
        for (int i = 0; i < n; i++) {
            float v = s < 2 ? p[i].loss / top : p[i].acc;
            if (!isfinite(v))
                continue;
            v = fminf(fmaxf(v, 0), 1);
            int x = x0 + (int)((x1 - x0) * (p[i].x / xmax)), y = y1 - (int)((y1 - y0) * v);
            if (i)
                trc_line(&c, px0, py0, x, y, cols[s]);
            if (s % 2)
                trc_rect(&c, x - 3, y - 3, x + 3, y + 3, cols[s]);
            px0 = x;
            py0 = y;
        }
    }
    char *tmp = malloc(strlen(path) + 32);
    int ok = 0;
    if (tmp) {
        sprintf(tmp, "%s.tmp%ld", path, (long)getpid());
        ok = stbi_write_png(tmp, w, h, 3, c.rgb, w * 3) && rename(tmp, path) == 0;
        if (!ok) {
            cnnrt_errorf(err, errlen, path, "cannot write the chart: %s",
                         errno ? strerror(errno) : "write failed");
            remove(tmp);
        }
    } else {
        cnnrt_errorf(err, errlen, path, "out of memory");
    }
    free(tmp);
    free(c.rgb);
    return ok ? 0 : -1;
}
