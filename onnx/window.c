/* window.c — the window attributes of ONNX Conv and the pools for the
 * importer: kernel_shape, strides, dilations, pads or auto_pad, ceil_mode,
 * read into a symmetric [h, w] window (1-D ops as height 1), and the
 * output shape they give.  Every value the importer cannot express is an
 * error naming the node (imp_fail).  Not here: the operators themselves
 * (import.c).
 */
#include <string.h>
#include "onnx/imp.h"

/* spatial dim i (0: H, 1: W) of an image value */
static long sp(const Val *x, int i)
{
    return x->rank == 4 ? x->d[2 + i] : i == 0 ? 1 : x->d[2];
}

/* an ints attribute of nd (1 or 2) values into [h, w] (h = def for 1-D);
 * 0 when absent or read, -1 on a wrong count */
static int hw_attr(Imp *m, const Onnx__NodeProto *n, const char *name, int nd, long def, long *out)
{
    long v[8];
    int c = pb_attr_ints(n, name, v, 8);
    if (c < 0)
        return 0;
    if (c != nd)
        return imp_fail(m, n, NULL, "%s has %d values, not %d", name, c, nd);
    out[0] = nd == 2 ? v[0] : def;
    out[1] = v[nd - 1];
    return 0;
}

/* Reads the window attributes of n on input x (kernel given for Conv).
 * Padding must be symmetric; auto_pad SAME_* is turned into it. */
int imp_window(Imp *m, const Onnx__NodeProto *n, const Val *x, ImpWindow *w, int ceil_ok)
{
    long v[8];
    int c, nd = x->rank - 2;
    if (hw_attr(m, n, "kernel_shape", nd, 1, w->k))
        return -1;
    if (w->k[0] <= 0 || w->k[1] <= 0)
        return imp_fail(m, n, NULL, "no kernel_shape");
    w->s[0] = w->s[1] = w->dil[0] = w->dil[1] = 1;
    w->p[0] = w->p[1] = 0;
    if (hw_attr(m, n, "strides", nd, 1, w->s) || hw_attr(m, n, "dilations", nd, 1, w->dil))
        return -1;
    /* before any arithmetic with them (a zero stride was a fuzz finding) */
    for (int i = 0; i < 2; i++)
        if (w->k[i] > IMP_MAXWIN || w->s[i] <= 0 || w->s[i] > IMP_MAXWIN || w->dil[i] <= 0 ||
            w->dil[i] > IMP_MAXWIN)
            return imp_fail(m, n, NULL, "kernel_shape, strides and dilations must be 1 to %d",
                            IMP_MAXWIN);
    char ap[32];
    pb_attr_str(n, "auto_pad", "NOTSET", ap, sizeof ap);
    if (!ap[0])
        strcpy(ap, "NOTSET");
    if (strcmp(ap, "SAME_UPPER") == 0 || strcmp(ap, "SAME_LOWER") == 0) {
        for (int i = 0; i < 2; i++) {
            long in = sp(x, i), out = (in + w->s[i] - 1) / w->s[i];
            long total = (out - 1) * w->s[i] + w->dil[i] * (w->k[i] - 1) + 1 - in;
            if (total < 0)
                total = 0;
            if (total % 2)
                return imp_fail(m, n, "auto_pad with an even total padding, or explicit "
                                "symmetric pads", "auto_pad=%s pads one side more than the "
                                "other here", ap);
            w->p[i] = total / 2;
        }
    } else if (strcmp(ap, "NOTSET") == 0) {
        if ((c = pb_attr_ints(n, "pads", v, 8)) >= 0) {
            if (c != 2 * nd)
                return imp_fail(m, n, NULL, "pads has %d values, not %d", c, 2 * nd);
            if (v[0] != v[nd] || v[nd - 1] != v[2 * nd - 1])
                return imp_fail(m, n, "symmetric pads (the same at both ends of each axis)",
                                "asymmetric pads");
            for (int i = 0; i < c; i++)
                if (v[i] < 0 || v[i] > IMP_MAXWIN)
                    return imp_fail(m, n, NULL, "pads must be 0 to %d", IMP_MAXWIN);
            w->p[0] = nd == 2 ? v[0] : 0, w->p[1] = v[nd - 1];
        }
    } else if (strcmp(ap, "VALID") != 0) {
        return imp_fail(m, n, NULL, "unknown auto_pad '%s'", ap);
    }
    if (pb_attr_int(n, "ceil_mode", 0)) {
        for (int i = 0; i < 2 && ceil_ok; i++) {
            long span = sp(x, i) + 2 * w->p[i] - w->dil[i] * (w->k[i] - 1) - 1;
            if (span >= 0 && span % w->s[i])
                return imp_fail(m, n, "ceil_mode=0 (floor), or a size the window tiles",
                                "ceil_mode=1 gives a different output size here");
        }
        if (!ceil_ok)
            return imp_fail(m, n, "ceil_mode=0", "ceil_mode=1");
    }
    return 0;
}

/* output shape of a window over x with `ch` channels (x's rank) */
int imp_window_out(Imp *m, const Onnx__NodeProto *n, const Val *x, const ImpWindow *w,
                   long ch, long *d)
{
    d[0] = x->d[0];
    d[1] = ch;
    for (int i = 0; i < 2; i++) {
        long span = sp(x, i) + 2 * w->p[i] - w->dil[i] * (w->k[i] - 1) - 1;
        if (span < 0)
            return imp_fail(m, n, NULL, "the window is larger than the padded input");
        if (x->rank == 4)
            d[2 + i] = span / w->s[i] + 1;
        else if (i == 1)
            d[2] = span / w->s[i] + 1;          /* [N, C, L]: H is 1 */
    }
    return 0;
}
