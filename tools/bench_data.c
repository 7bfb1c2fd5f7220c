/* bench_data.c — throughput of the input pipeline alone (cnnrt_loader:
 * reading, decoding, augmenting, batching), for tools/bench_data.sh.
 *
 *   bench_data DATA C H W CLASSES BATCH THREADS SECONDS [AUG...]
 *
 * opens DATA for a [C, H, W] input and CLASSES outputs, then runs epochs
 * of the loader (threads as cnnrt_loader_new takes them) for SECONDS and
 * prints images per second.  AUG is kind:a,b,c as in the train block,
 * e.g. flip:0.5 crop:2 hsv:0.015,0.7,0.4 mosaic:1,0.5,1.5 mixup:0.2,0.5.
 * Nothing consumes the batches: this is the rate the loader can feed.
 */
#include "cnnrt_data.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}

static int parse_aug(const char *s, cnnrt_augment *a)
{
    static const char *const kinds[] = { "flip", "crop", "hsv", "mosaic", "mixup" };
    const char *colon = strchr(s, ':');
    size_t n = colon ? (size_t)(colon - s) : strlen(s);
    memset(a, 0, sizeof *a);
    a->kind = -1;
    for (int k = 0; k < 5; k++)
        if (strlen(kinds[k]) == n && !strncmp(s, kinds[k], n))
            a->kind = k;
    for (int i = 0; colon && i < 4; i++) {
        a->f[i] = strtof(colon + 1, (char **)&colon);
        if (*colon != ',')
            break;
    }
    return a->kind < 0 ? -1 : 0;
}

int main(int argc, char **argv)
{
    if (argc < 9) {
        fprintf(stderr, "usage: bench_data DATA C H W CLASSES BATCH THREADS SECONDS "
                "[AUG...]\n");
        return 2;
    }
    char err[1024];
    cnnrt_augment aug[16];
    int naug = argc - 9 < 16 ? argc - 9 : 16;
    for (int i = 0; i < naug; i++)
        if (parse_aug(argv[9 + i], &aug[i]) < 0) {
            fprintf(stderr, "bench_data: unknown augmentation '%s'\n", argv[9 + i]);
            return 2;
        }
    cnnrt_dataset *d = cnnrt_data_open(argv[1], NULL, atoi(argv[2]), atoi(argv[3]),
                                       atoi(argv[4]), atoi(argv[5]), 1, err, sizeof err);
    cnnrt_loader *l = d ? cnnrt_loader_new(d, atoi(argv[6]), aug, naug, atoi(argv[7]),
                                           err, sizeof err) : NULL;
    if (!l) {
        fprintf(stderr, "bench_data: %s\n", err);
        return 1;
    }
    double secs = atof(argv[8]), t0 = now();
    long images = 0;
    cnnrt_batch b;
    for (int epoch = 0; now() - t0 < secs; epoch++) {
        cnnrt_loader_start(l, 1, epoch, 1);
        int rc = 0;
        while (now() - t0 < secs && (rc = cnnrt_loader_next(l, &b, err, sizeof err)) == 1)
            images += b.n;
        if (rc < 0) {
            fprintf(stderr, "bench_data: %s\n", err);
            return 1;
        }
    }
    printf("%.0f\n", images / (now() - t0));
    cnnrt_loader_free(l);
    cnnrt_data_close(d);
    return 0;
}
