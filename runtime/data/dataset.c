/* dataset.c — cnnrt_data_open, the one entry point that picks a loader for
 * a DATA argument: folders and image files go to image.c, `.txt` lists to
 * yolo.c, everything else is taken for IDX (idx.c).  At the top of the
 * data-set files, which do not call back into it.
 */
#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L
#endif
#include "cnnrt_data.h"
#include "data.h"

#include <errno.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

cnnrt_dataset *cnnrt_data_open(const char *path, const char *labels,
                               int c, int h, int w, int tsize, int need_labels,
                               char *err, size_t errlen)
{
    if (err && errlen)
        err[0] = 0;
    if (c < 1 || h < 1 || w < 1 || tsize < 0) {
        cnnrt_errorf(err, errlen, path, "bad sample shape %dx%dx%d", c, h, w);
        errno = EINVAL;
        return NULL;
    }
    struct stat st;
    size_t n = strlen(path);
    int dir = stat(path, &st) == 0 && S_ISDIR(st.st_mode);
    int list = n > 4 && !strcasecmp(path + n - 4, ".txt");
    if ((dir || list || cnnrt_is_image_name(path)) && labels) {
        cnnrt_errorf(err, errlen, labels, "label files go with IDX data; '%s' is %s", path,
                     dir ? "a folder (its class folders are the labels)"
                     : list ? "a list (its images have YOLO label files beside them)"
                     : "an image file");
        errno = EINVAL;
        return NULL;
    }
    if (list)
        return cnnrt_yolo_open(path, c, h, w, tsize, err, errlen);
    if (dir || cnnrt_is_image_name(path))
        return cnnrt_image_open(path, c, h, w, tsize, need_labels, err, errlen);
    return cnnrt_idx_open(path, labels, c, h, w, tsize, need_labels, err, errlen);
}

void cnnrt_data_close(cnnrt_dataset *d)
{
    if (d)
        d->close(d);
}
