/* prof.c — the per-layer profile of a generated model (cnnrt.h): time
 * per kernel call site, summed over the calls made while it is attached,
 * and the report: per site milliseconds per call, share of its phase,
 * GFLOP/s and % of the machine's one-thread FMA peak, phase totals and the
 * sites that took longest.  Also the peak itself (cnnrt_peak_gflops).
 *
 * Timing is by marks: the generated code calls _start as a phase begins
 * and _mark after each kernel call, so a site's time is everything since
 * the previous mark (argument set-up included; it is one line of C).
 * Not here: sampling, hardware counters, threads (one clock per profile).
 */
#include "cnnrt.h"
#include "gemm.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

struct cnnrt_prof {
    const cnnrt_prof_site *sites;
    int n;
    double *sec;            /* per site: seconds, calls, samples */
    long *calls;
    double *samples;
    double last;            /* the clock at the last mark */
};

static double prof_now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}

cnnrt_prof *cnnrt_prof_new(void)
{
    return calloc(1, sizeof(cnnrt_prof));
}

void cnnrt_prof_free(cnnrt_prof *p)
{
    if (!p)
        return;
    free(p->sec);
    free(p->calls);
    free(p->samples);
    free(p);
}

int cnnrt_prof_sites(cnnrt_prof *p, const cnnrt_prof_site *sites, int n)
{
    free(p->sec);
    free(p->calls);
    free(p->samples);
    size_t k = n > 0 ? (size_t)n : 1;
    p->sec = calloc(k, sizeof *p->sec);
    p->calls = calloc(k, sizeof *p->calls);
    p->samples = calloc(k, sizeof *p->samples);
    p->sites = sites;
    p->n = n;
    if (p->sec && p->calls && p->samples)
        return 0;
    p->n = 0;
    return -1;
}

void cnnrt_prof_start(cnnrt_prof *p)
{
    p->last = prof_now();
}

void cnnrt_prof_mark(cnnrt_prof *p, int site, int n)
{
    double t = prof_now();
    if (site >= 0 && site < p->n) {
        p->sec[site] += t - p->last;
        p->calls[site]++;
        p->samples[site] += n;
    }
    p->last = t;
}

/* ---- the peak: CHAINS independent FMA chains of one vector each ---- */
#if defined(__GNUC__)
typedef float prof_v16 __attribute__((vector_size(64)));
#define PROF_CHAINS 12

/* rounds x PROF_CHAINS FMAs on 16 lanes; returns a sum that keeps them.
 * Named chains: an array of them would live in memory. */
#define PROF_PEAK_BODY                                                        \
    {                                                                         \
        prof_v16 vm = { 0 }, vc = { 0 };                                      \
        vm += m;                                                              \
        vc += c;                                                              \
        prof_v16 a0 = vc, a1 = a0 + vc, a2 = a1 + vc, a3 = a2 + vc,           \
                 a4 = a3 + vc, a5 = a4 + vc, a6 = a5 + vc, a7 = a6 + vc,      \
                 a8 = a7 + vc, a9 = a8 + vc, a10 = a9 + vc, a11 = a10 + vc;   \
        for (long r = 0; r < rounds; r++) {                                   \
            a0 = a0 * vm + vc; a1 = a1 * vm + vc; a2 = a2 * vm + vc;          \
            a3 = a3 * vm + vc; a4 = a4 * vm + vc; a5 = a5 * vm + vc;          \
            a6 = a6 * vm + vc; a7 = a7 * vm + vc; a8 = a8 * vm + vc;          \
            a9 = a9 * vm + vc; a10 = a10 * vm + vc; a11 = a11 * vm + vc;      \
        }                                                                     \
        prof_v16 s = a0 + a1 + a2 + a3 + a4 + a5 + a6 + a7 + a8 + a9 + a10 + a11; \
        return s[0] + s[15];                                                  \
    }

/* a*b+c as one FMA: GCC needs telling in ISO C mode, clang contracts
 * within an expression by default */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC push_options
#pragma GCC optimize("fp-contract=fast")
#endif
static __attribute__((noinline)) float prof_fma_generic(long rounds, float m, float c)
PROF_PEAK_BODY
#if defined(__x86_64__)
__attribute__((target("avx2,fma"), noinline))
static float prof_fma_avx2(long rounds, float m, float c)
PROF_PEAK_BODY
__attribute__((target("avx512f,avx2,fma"), noinline))
static float prof_fma_avx512(long rounds, float m, float c)
PROF_PEAK_BODY
#endif
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC pop_options
#endif

double cnnrt_peak_gflops(double seconds)
{
    typedef float (*fma_fn)(long, float, float);
    static const fma_fn by_isa[] = {
        [CNNRT_GEMM_GENERIC] = prof_fma_generic,
#if defined(__x86_64__)
        [CNNRT_GEMM_AVX2] = prof_fma_avx2, [CNNRT_GEMM_AVX512] = prof_fma_avx512,
#endif
    };
    fma_fn fn = by_isa[cnnrt_sgemm_variant()];
    double best = 0, sink = 0, t0 = prof_now();
    const long rounds = 1L << 18;
    /* the fastest of short runs: other processes only ever slow one down */
    do {
        double t = prof_now();
        sink += fn(rounds, 0.999999f, 1e-6f);
        t = prof_now() - t;
        if (2.0 * 16 * PROF_CHAINS * rounds / t * 1e-9 > best)
            best = 2.0 * 16 * PROF_CHAINS * rounds / t * 1e-9;
    } while (prof_now() - t0 < seconds);
    return sink != sink ? 0 : best;         /* NaN never; uses sink */
}
#else
double cnnrt_peak_gflops(double seconds)
{
    (void)seconds;
    return 0;                               /* unknown: no % of peak */
}
#endif

/* ---- the report ---- */
static const char *const prof_phase[] = { "forward", "backward", "update" };

void cnnrt_prof_report(const cnnrt_prof *p, FILE *out, double peak, int top)
{
    if (peak <= 0)
        peak = cnnrt_peak_gflops(0.3);
    double total[3] = { 0 }, flops[3] = { 0 };
    long calls[3] = { 0 };
    for (int i = 0; i < p->n; i++) {
        int ph = p->sites[i].phase;
        total[ph] += p->sec[i];
        flops[ph] += p->sites[i].flops * p->samples[i];
        if (p->calls[i] > calls[ph])
            calls[ph] = p->calls[i];
    }
    double all = total[0] + total[1] + total[2];
    fprintf(out, "profile: %ld forward, %ld backward, %ld update calls; one-thread FMA peak %.1f GFLOP/s\n",
            calls[0], calls[1], calls[2], peak);
    fprintf(out, "%-9s %-16s %-18s %5s %10s %7s %8s %7s\n", "phase", "layer", "op", "line",
            "ms/call", "% time", "GFLOP/s", "% peak");
    for (int ph = 0; ph < 3; ph++) {
        for (int i = 0; i < p->n; i++) {
            const cnnrt_prof_site *s = &p->sites[i];
            if (s->phase != ph || !p->calls[i])
                continue;
            fprintf(out, "%-9s %-16s %-18s %5d %10.4f %6.1f%%", prof_phase[ph], s->layer, s->op,
                    s->line, 1e3 * p->sec[i] / p->calls[i], all > 0 ? 100 * p->sec[i] / all : 0);
            double g = s->flops && p->sec[i] > 0 ? s->flops * p->samples[i] / p->sec[i] * 1e-9 : 0;
            if (g > 0)
                fprintf(out, " %8.1f %6.1f%%", g, peak > 0 ? 100 * g / peak : 0);
            fputc('\n', out);
        }
        if (!calls[ph])
            continue;
        fprintf(out, "%-9s %-16s %-18s %5s %10.4f %6.1f%%", prof_phase[ph], "(total)", "", "",
                1e3 * total[ph] / calls[ph], all > 0 ? 100 * total[ph] / all : 0);
        double g = total[ph] > 0 ? flops[ph] / total[ph] * 1e-9 : 0;
        if (g > 0)
            fprintf(out, " %8.1f %6.1f%%", g, peak > 0 ? 100 * g / peak : 0);
        fputc('\n', out);
    }
    /* the top sites: selection by time, ties in site order */
    char *used = calloc((size_t)(p->n > 0 ? p->n : 1), 1);
    if (!used)
        return;
    fprintf(out, "top %d by time:", top);
    for (int k = 0; k < top; k++) {
        int b = -1;
        for (int i = 0; i < p->n; i++)
            if (!used[i] && p->calls[i] && (b < 0 || p->sec[i] > p->sec[b]))
                b = i;
        if (b < 0)
            break;
        used[b] = 1;
        fprintf(out, "%s %s %s (line %d) %.1f%%", k ? "," : "", p->sites[b].layer,
                prof_phase[p->sites[b].phase], p->sites[b].line, all > 0 ? 100 * p->sec[b] / all : 0);
    }
    fputc('\n', out);
    free(used);
}
