/* peak.c — the machine's one-thread single-precision FMA peak, for
 * `make bench`: GFLOP/s of a loop of independent multiply-adds, printed as
 * one number.  Built by tools/bench.sh with -O2 -march=native, so the
 * vectors are as wide as the CPU's (GCC/clang vector extension, 16 floats:
 * one AVX-512 register, two AVX2 ones).
 *
 * CHAINS accumulators are updated in turn, each an FMA that depends only on
 * its own previous value: with at least latency x throughput chains in
 * flight (4 cycles x 2 FMAs per cycle on current x86) the FMA units never
 * wait.  Not a benchmark of memory or of anything the models do: the upper
 * bound their GFLOP/s are measured against.  Usage: peak [SECONDS]
 */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

typedef float v16 __attribute__((vector_size(64)));
#define CHAINS 12

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}

/* iters rounds of CHAINS FMAs on 16 lanes; the result keeps it alive.
 * The chains are named variables (an array would stay in memory). */
static __attribute__((noinline)) float run(long iters, float m, float c)
{
    v16 vm = { 0 }, vc = { 0 };
    vm += m;
    vc += c;
    v16 a0 = vc, a1 = vc * 2, a2 = vc * 3, a3 = vc * 4, a4 = vc * 5, a5 = vc * 6,
        a6 = vc * 7, a7 = vc * 8, a8 = vc * 9, a9 = vc * 10, a10 = vc * 11, a11 = vc * 12;
    for (long it = 0; it < iters; it++) {
        a0 = a0 * vm + vc; a1 = a1 * vm + vc; a2 = a2 * vm + vc; a3 = a3 * vm + vc;
        a4 = a4 * vm + vc; a5 = a5 * vm + vc; a6 = a6 * vm + vc; a7 = a7 * vm + vc;
        a8 = a8 * vm + vc; a9 = a9 * vm + vc; a10 = a10 * vm + vc; a11 = a11 * vm + vc;
    }
    v16 t = a0 + a1 + a2 + a3 + a4 + a5 + a6 + a7 + a8 + a9 + a10 + a11;
    float s = 0;
    for (int l = 0; l < 16; l++)
        s += t[l];
    return s;
}

int main(int argc, char **argv)
{
    double secs = argc > 1 ? atof(argv[1]) : 1.0, least = 1e30, sink = 0;
    long iters = 1 << 20, runs = 0;
    /* the shortest of the runs that fit in secs: other processes only
     * ever slow a run down */
    for (double end = now() + secs; runs < 2 || now() < end; runs++) {
        double t = now();
        sink += run(iters, 0.999999f, 1e-6f);
        t = now() - t;
        least = t < least ? t : least;
    }
    printf("%.1f\n", 2.0 * 16 * CHAINS * iters / least * 1e-9);
    return sink == 12345 ? 1 : 0;   /* never: keeps `sink` observable */
}
