/* progress.c — the training progress display: epoch, batch i/N, running
 * loss and accuracy, images per second and time left.
 *
 * On a terminal the line is redrawn in place with \r, at most every
 * PROGRESS_REDRAW seconds (and always at the last batch); elsewhere (a log
 * file, a pipe, the tests) a plain line is printed at each tenth of the
 * epoch, so logs stay short and diffable.  The epoch ends with one summary
 * line either way.  Figures are running means over the epoch so far,
 * weighted by batch size; the summary also tells how many files could
 * not be read, when any.  Not here: computing loss or accuracy (the
 * trainer does), colours, terminal width detection.
 */
#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L
#endif
#include "cnnrt_train.h"

#include <stdio.h>
#include <time.h>
#include <unistd.h>

#define PROGRESS_REDRAW 0.1     /* seconds between in-place redraws */
#define PROGRESS_BAR    10      /* characters of the bar */

static double progress_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* "m:ss", or "h:mm:ss" from an hour on */
static void progress_time(char *buf, size_t len, double seconds)
{
    long s = seconds > 0 && seconds < 1e8 ? (long)(seconds + 0.5) : 0;
    if (s >= 3600)
        snprintf(buf, len, "%ld:%02ld:%02ld", s / 3600, s / 60 % 60, s % 60);
    else
        snprintf(buf, len, "%ld:%02ld", s / 60, s % 60);
}

void cnnrt_progress_start(cnnrt_progress *p, FILE *out, int epoch, int epochs,
                          int nbatch, long nimages)
{
    p->out = out;
    p->tty = isatty(fileno(out));
    p->epoch = epoch;
    p->epochs = epochs;
    p->nbatch = nbatch;
    p->batch = 0;
    p->nimages = nimages;
    p->seen = p->correct = 0;
    p->loss_sum = 0;
    p->t0 = progress_now();
    p->last_draw = 0;
    p->next_tenth = 1;
    p->width = 0;
    p->skipped = 0;
}

/* The figures every line shows.  The in-place line is kept compact so
 * that it fits 80 columns: a wrapped line cannot be redrawn with \r. */
static void progress_figures(const cnnrt_progress *p, char *buf, size_t len, double now)
{
    double elapsed = now - p->t0;
    double rate = elapsed > 0 ? p->seen / elapsed : 0;
    char left[32];
    progress_time(left, sizeof left, rate > 0 ? (p->nimages - p->seen) / rate : 0);
    snprintf(buf, len, p->tty ? "loss %.4f acc %.2f%% %.0f img/s eta %s"
             : "loss %.4f  accuracy %.2f%%  %.0f img/s  %s left",
             p->seen ? p->loss_sum / p->seen : 0.0,
             p->seen ? 100.0 * p->correct / p->seen : 0.0, rate, left);
}

static void progress_draw(cnnrt_progress *p, double now)
{
    char bar[PROGRESS_BAR + 1], figures[160];
    int done = p->nbatch ? (int)((long)PROGRESS_BAR * p->batch / p->nbatch) : 0;
    for (int i = 0; i < PROGRESS_BAR; i++)
        bar[i] = i < done ? '=' : i == done ? '>' : ' ';
    bar[PROGRESS_BAR] = 0;
    progress_figures(p, figures, sizeof figures, now);
    int w = fprintf(p->out, "\repoch %d/%d [%s] %d/%d %s", p->epoch, p->epochs, bar,
                    p->batch, p->nbatch, figures);
    /* blank what is left of a longer previous line */
    if (w < p->width)
        fprintf(p->out, "%*s", p->width - w, "");
    p->width = w > p->width ? w : p->width;
    fflush(p->out);
    p->last_draw = now;
}

void cnnrt_progress_batch(cnnrt_progress *p, int n, double loss, int correct)
{
    p->batch++;
    p->seen += n;
    p->correct += correct;
    p->loss_sum += loss * n;
    double now = progress_now();
    if (p->tty) {
        if (now - p->last_draw >= PROGRESS_REDRAW || p->batch == p->nbatch)
            progress_draw(p, now);
        return;
    }
    /* plain: one line when one or more tenths were crossed; the last tenth
     * is the summary's */
    if (p->next_tenth > 9 || (long)p->batch * 10 < (long)p->next_tenth * p->nbatch)
        return;
    while (p->next_tenth <= 9 && (long)p->batch * 10 >= (long)p->next_tenth * p->nbatch)
        p->next_tenth++;
    if (p->batch == p->nbatch)
        return;
    char figures[160];
    progress_figures(p, figures, sizeof figures, now);
    fprintf(p->out, "epoch %d/%d  batch %d/%d  %s\n", p->epoch, p->epochs, p->batch,
            p->nbatch, figures);
    fflush(p->out);
}

void cnnrt_progress_end(cnnrt_progress *p, double val_loss, double val_acc, long val_n)
{
    double elapsed = progress_now() - p->t0;
    char val[96] = "", skipped[64] = "";
    if (val_n > 0)
        snprintf(val, sizeof val, "  val loss %.4f  val accuracy %.2f%%", val_loss,
                 100.0 * val_acc);
    if (p->skipped > 0)
        snprintf(skipped, sizeof skipped, "  (%ld unreadable file%s skipped)", p->skipped,
                 p->skipped == 1 ? "" : "s");
    int w = fprintf(p->out,
                    "%sepoch %d/%d  loss %.4f  accuracy %.2f%%%s  %.1f s  %.0f img/s%s",
                    p->tty ? "\r" : "", p->epoch, p->epochs,
                    p->seen ? p->loss_sum / p->seen : 0.0,
                    p->seen ? 100.0 * p->correct / p->seen : 0.0, val, elapsed,
                    elapsed > 0 ? p->seen / elapsed : 0.0, skipped);
    if (p->tty && w < p->width)
        fprintf(p->out, "%*s", p->width - w, "");
    fputc('\n', p->out);
    fflush(p->out);
}
