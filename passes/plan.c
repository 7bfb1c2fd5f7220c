/* plan.c — memory planning: one arena for every activation, gradient,
 * saved statistic and scratch buffer of a whole training step (or of the
 * forward pass alone with --inference).
 *
 * Liveness: each storage root (a value, with its views and in-place
 * aliases) lives from the first node that writes it to the last node that
 * reads it, in schedule order; model outputs live to the end of the forward
 * pass.  Offsets: a greedy placement, tried under several orders (largest
 * first, earliest first, longest-lived first), each item going into the
 * best-fitting gap among the items it overlaps in time; the smallest arena
 * wins.  When that is above the lower bound, a short local search follows:
 * swaps and moves in the best order so far (a fixed-seed generator, so the
 * plan is the same on every run), kept when the arena does not grow; its
 * budget keeps the work near 2e7 item pairs.  Very large graphs use a
 * single linear-time schedule-order allocation instead, so compile time
 * stays near-linear.
 *
 * This pass only sets Value.off and Graph.arena_floats; the emitter turns
 * them into named constants.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "passes.h"


#define BIG_GRAPH 2500      /* items above which only the fast order runs */

static long round_up(long n) { return (n + PLAN_ALIGN - 1) / PLAN_ALIGN * PLAN_ALIGN; }

/* floats a root value occupies in the arena, 0 when it lives elsewhere */
static long arena_floats(const Graph *g, int v)
{
    const Value *x = &g->vals[v];
    switch (x->kind) {
    case V_ACT:     return round_up(x->size * g->batch);
    case V_INPUT:   return g->inference ? 0 : round_up(x->size * g->batch);
    case V_SCRATCH:
    case V_SAVED:   return round_up(x->size);
    default:        return 0;
    }
}

int plan_items(const Graph *g, Plan *p)
{
    memset(p, 0, sizeof *p);
    int *first = xmalloc(sizeof(int) * (size_t)g->nvals);
    int *last = xmalloc(sizeof(int) * (size_t)g->nvals);
    if (!first || !last)
        return free(first), free(last), -1;
    for (int v = 0; v < g->nvals; v++)
        first[v] = last[v] = -1;
    /* positions: 0 is the copy of the input at the start of forward,
     * node i runs at i + 1 */
    int r = ir_root(g, g->input);
    first[r] = last[r] = 0;
    int lastfwd = 0;
    for (int i = 0; i < g->nnodes; i++) {
        const Node *n = &g->nodes[i];
        if (n->dead)
            continue;
        int pos = i + 1;
        if (!g->nfwd || i < g->nfwd)
            lastfwd = pos;
        for (int k = 0; k < n->nout; k++) {
            r = ir_root(g, n->out[k]);
            if (first[r] < 0)
                first[r] = pos;
            if (last[r] < pos)
                last[r] = pos;
        }
        for (int k = 0; k < n->nin; k++) {
            r = ir_root(g, n->in[k]);
            if (last[r] < pos)
                last[r] = pos;
        }
    }
    for (int i = 0; i < g->noutputs; i++) {
        r = ir_root(g, g->outputs[i]);
        if (last[r] < lastfwd)
            last[r] = lastfwd;
    }
    p->items = xcalloc((size_t)g->nvals + 1, sizeof(PlanItem));
    if (!p->items)
        return free(first), free(last), -1;
    for (int v = 0; v < g->nvals; v++) {
        long size = first[v] >= 0 && ir_root(g, v) == v ? arena_floats(g, v) : 0;
        if (size == 0)
            continue;
        PlanItem *it = &p->items[p->n++];
        it->value = v;
        it->size = size;
        it->start = first[v];
        it->end = last[v];
        it->off = -1;
    }
    /* naive: every tensor its own buffer, in-place results included (only
     * views, which are the same numbers, share) */
    for (int v = 0; v < g->nvals; v++) {
        int prod = g->vals[v].producer;
        int view = prod >= 0 && (ir_ops[g->nodes[prod].op].flags & F_VIEW);
        int r = ir_root(g, v);
        if (!view && first[r] >= 0 && (r == v || g->vals[v].kind == V_ACT))
            p->naive += arena_floats(g, r == v ? v : r) ? round_up(g->vals[v].size * (g->vals[v].kind == V_ACT ? g->batch : 1)) : 0;
    }
    free(first);
    free(last);
    return 0;
}

/* ---- the lower bound: the most floats live at one position ---- */
typedef struct { int pos; long delta; } Event;

static int cmp_event(const void *a, const void *b)
{
    const Event *x = a, *y = b;
    if (x->pos != y->pos)
        return x->pos < y->pos ? -1 : 1;
    return (x->delta > y->delta) - (x->delta < y->delta);   /* frees first */
}

static long lower_bound(const Plan *p)
{
    Event *ev = xmalloc(sizeof(Event) * (size_t)(2 * p->n + 1));
    if (!ev)
        return 0;
    for (int i = 0; i < p->n; i++) {
        ev[2 * i] = (Event){ p->items[i].start, p->items[i].size };
        ev[2 * i + 1] = (Event){ p->items[i].end + 1, -p->items[i].size };
    }
    qsort(ev, (size_t)2 * p->n, sizeof(Event), cmp_event);
    long live = 0, best = 0;
    for (int i = 0; i < 2 * p->n; i++) {
        live += ev[i].delta;
        if (live > best)
            best = live;
    }
    free(ev);
    return best;
}

/* ---- greedy best-fit placement under one ordering ---- */
static const PlanItem *sort_base;
static int cmp_size(const void *a, const void *b)
{
    const PlanItem *x = &sort_base[*(const int *)a], *y = &sort_base[*(const int *)b];
    if (x->size != y->size)
        return x->size > y->size ? -1 : 1;
    return x->start - y->start;
}
static int cmp_start(const void *a, const void *b)
{
    const PlanItem *x = &sort_base[*(const int *)a], *y = &sort_base[*(const int *)b];
    if (x->start != y->start)
        return x->start - y->start;
    return (x->size < y->size) - (x->size > y->size);
}
static int cmp_area(const void *a, const void *b)
{
    const PlanItem *x = &sort_base[*(const int *)a], *y = &sort_base[*(const int *)b];
    double ax = (double)x->size * (x->end - x->start + 1);
    double ay = (double)y->size * (y->end - y->start + 1);
    if (ax != ay)
        return ax > ay ? -1 : 1;
    return x->start - y->start;
}
static int cmp_off(const void *a, const void *b)
{
    const PlanItem *x = &sort_base[*(const int *)a], *y = &sort_base[*(const int *)b];
    return (x->off > y->off) - (x->off < y->off);
}

static int overlap(const PlanItem *a, const PlanItem *b)
{
    return a->start <= b->end && b->start <= a->end;
}

/* Place items in `order`; off[] receives offsets.  Returns the arena size. */
static long greedy(const Plan *p, const int *order, long *off)
{
    int *placed = xmalloc(sizeof(int) * (size_t)(p->n + 1));
    int *near = xmalloc(sizeof(int) * (size_t)(p->n + 1));
    PlanItem *tmp = xmalloc(sizeof(PlanItem) * (size_t)(p->n + 1));
    memcpy(tmp, p->items, sizeof(PlanItem) * (size_t)p->n);
    int np = 0;
    long total = 0;
    for (int k = 0; k < p->n; k++) {
        PlanItem *it = &tmp[order[k]];
        int nn = 0;
        for (int j = 0; j < np; j++)
            if (overlap(&tmp[placed[j]], it))
                near[nn++] = placed[j];
        sort_base = tmp;
        qsort(near, (size_t)nn, sizeof(int), cmp_off);
        long best = -1, bestgap = -1, cur = 0;
        for (int j = 0; j < nn; j++) {
            const PlanItem *q = &tmp[near[j]];
            if (q->off > cur) {
                long gap = q->off - cur;
                if (gap >= it->size && (bestgap < 0 || gap < bestgap)) {
                    best = cur;
                    bestgap = gap;
                }
            }
            if (q->off + q->size > cur)
                cur = q->off + q->size;
        }
        it->off = best >= 0 ? best : cur;
        if (it->off + it->size > total)
            total = it->off + it->size;
        placed[np++] = order[k];
    }
    for (int k = 0; k < p->n; k++)
        off[k] = tmp[k].off;
    free(placed);
    free(near);
    free(tmp);
    return total;
}

/* ---- linear-time fallback: allocate in schedule order from a free list,
 * freeing each item after its last use ---- */
typedef struct { long off, size; } Block;

static long schedule_order(const Plan *p, const int *by_start, long *off)
{
    int *by_end = xmalloc(sizeof(int) * (size_t)(p->n + 1));
    Block *free_ = xmalloc(sizeof(Block) * (size_t)(p->n + 1));
    memcpy(by_end, by_start, sizeof(int) * (size_t)p->n);
    /* order by end for releasing */
    PlanItem *it = p->items;
    for (int i = 1; i < p->n; i++) {      /* insertion sort is fine: nearly sorted */
        int v = by_end[i], j = i;
        while (j > 0 && it[by_end[j - 1]].end > it[v].end) {
            by_end[j] = by_end[j - 1];
            j--;
        }
        by_end[j] = v;
    }
    int nfree = 0, e = 0;
    long top = 0;
    for (int k = 0; k < p->n; k++) {
        int i = by_start[k];
        while (e < p->n && it[by_end[e]].end < it[i].start) {
            /* release, keeping the free list sorted and coalesced */
            Block b = { off[by_end[e]], it[by_end[e]].size };
            int j = 0;
            while (j < nfree && free_[j].off < b.off)
                j++;
            memmove(&free_[j + 1], &free_[j], sizeof(Block) * (size_t)(nfree - j));
            free_[j] = b;
            nfree++;
            if (j + 1 < nfree && free_[j].off + free_[j].size == free_[j + 1].off) {
                free_[j].size += free_[j + 1].size;
                memmove(&free_[j + 1], &free_[j + 2], sizeof(Block) * (size_t)(nfree - j - 2));
                nfree--;
            }
            if (j > 0 && free_[j - 1].off + free_[j - 1].size == free_[j].off) {
                free_[j - 1].size += free_[j].size;
                memmove(&free_[j], &free_[j + 1], sizeof(Block) * (size_t)(nfree - j - 1));
                nfree--;
            }
            e++;
        }
        int best = -1;
        for (int j = 0; j < nfree; j++)
            if (free_[j].size >= it[i].size && (best < 0 || free_[j].size < free_[best].size))
                best = j;
        if (best >= 0) {
            off[i] = free_[best].off;
            free_[best].off += it[i].size;
            free_[best].size -= it[i].size;
        } else if (nfree && free_[nfree - 1].off + free_[nfree - 1].size == top) {
            off[i] = free_[nfree - 1].off;    /* grow the last free block */
            top = off[i] + it[i].size;
            nfree--;
        } else {
            off[i] = top;
            top += it[i].size;
        }
    }
    free(by_end);
    free(free_);
    return top;
}

/* improve the best order by swaps and moves, within a fixed budget;
 * returns the arena of the best order (off[] and order[] follow it) */
static long local_search(const Plan *p, int *order, long *off, long best)
{
    int n = p->n;
    int *trial = xmalloc(sizeof(int) * (size_t)(n + 1));
    long *toff = xmalloc(sizeof(long) * (size_t)(n + 1));
    long tries = 20000000L / ((long)n * n + 1);
    if (tries > 20000)
        tries = 20000;
    unsigned long seed = 12345;
    for (long t = 0; t < tries && best > p->lower && n > 1; t++) {
        seed = seed * 6364136223846793005UL + 1442695040888963407UL;
        int i = (int)((seed >> 33) % (unsigned long)n);
        int j = (int)((seed >> 13) % (unsigned long)n);
        if (i == j)
            continue;
        memcpy(trial, order, sizeof(int) * (size_t)n);
        if (t & 1) {                    /* swap two items */
            trial[i] = order[j];
            trial[j] = order[i];
        } else {                        /* move item j to position i */
            int lo = i < j ? i : j, hi = i < j ? j : i;
            if (i < j) {
                memmove(&trial[lo + 1], &order[lo], sizeof(int) * (size_t)(hi - lo));
                trial[lo] = order[hi];
            } else {
                memmove(&trial[lo], &order[lo + 1], sizeof(int) * (size_t)(hi - lo));
                trial[hi] = order[lo];
            }
        }
        long size = greedy(p, trial, toff);
        if (size <= best) {
            best = size;
            memcpy(order, trial, sizeof(int) * (size_t)n);
            memcpy(off, toff, sizeof(long) * (size_t)n);
        }
    }
    free(trial);
    free(toff);
    return best;
}

long plan_assign(Plan *p)
{
    static const struct { const char *name; int (*cmp)(const void *, const void *); } orders[] = {
        { "largest first", cmp_size },
        { "earliest first", cmp_start },
        { "longest-lived first", cmp_area },
    };
    int *order = xmalloc(sizeof(int) * (size_t)(p->n + 1));
    long *off = xmalloc(sizeof(long) * (size_t)(p->n + 1));
    long *best_off = xmalloc(sizeof(long) * (size_t)(p->n + 1));
    int *best_order = xmalloc(sizeof(int) * (size_t)(p->n + 1));
    p->lower = lower_bound(p);
    long best = -1;
    for (int o = 0; o < 3; o++) {
        for (int i = 0; i < p->n; i++)
            order[i] = i;
        sort_base = p->items;
        qsort(order, (size_t)p->n, sizeof(int), orders[o].cmp);
        long size;
        const char *name = orders[o].name;
        if (p->n > BIG_GRAPH) {
            if (o != 1)
                continue;
            size = schedule_order(p, order, off);
            name = "schedule order";
        } else {
            size = greedy(p, order, off);
        }
        if (best < 0 || size < best) {
            best = size;
            memcpy(best_off, off, sizeof(long) * (size_t)p->n);
            memcpy(best_order, order, sizeof(int) * (size_t)p->n);
            p->heuristic = name;
        }
    }
    if (p->n <= BIG_GRAPH && best > p->lower) {
        long found = local_search(p, best_order, best_off, best);
        if (found < best) {
            best = found;
            p->heuristic = "local search";
        }
    }
    for (int i = 0; i < p->n; i++)
        p->items[i].off = best_off[i];
    p->planned = best < 0 ? 0 : best;
    free(order);
    free(off);
    free(best_off);
    free(best_order);
    return p->planned;
}

int plan_check(const Plan *p, char *err, int errlen)
{
    int *order = xmalloc(sizeof(int) * (size_t)(p->n + 1));
    if (!order)
        return -1;
    for (int i = 0; i < p->n; i++)
        order[i] = i;
    sort_base = p->items;
    qsort(order, (size_t)p->n, sizeof(int), cmp_off);
    int bad = 0;
    for (int a = 0; a < p->n && !bad; a++) {
        const PlanItem *x = &p->items[order[a]];
        if (x->off < 0 || x->off % PLAN_ALIGN) {
            snprintf(err, errlen, "value %%%d has offset %ld", x->value, x->off);
            bad = 1;
        }
        for (int b = a + 1; b < p->n && !bad; b++) {
            const PlanItem *y = &p->items[order[b]];
            if (y->off >= x->off + x->size)
                break;
            if (overlap(x, y)) {
                snprintf(err, errlen,
                         "values %%%d [%ld,%ld) live %d..%d and %%%d [%ld,%ld) live %d..%d overlap",
                         x->value, x->off, x->off + x->size, x->start, x->end,
                         y->value, y->off, y->off + y->size, y->start, y->end);
                bad = 1;
            }
        }
    }
    free(order);
    return bad ? -1 : 0;
}

int pass_plan_memory(Graph *g)
{
    Plan *p = &g->plan;
    ir_plan_free(p);
    if (plan_items(g, p))
        return -1;
    g->arena_floats = plan_assign(p);
    for (int v = 0; v < g->nvals; v++)
        g->vals[v].off = -1;
    for (int i = 0; i < p->n; i++)
        g->vals[p->items[i].value].off = p->items[i].off;
    char err[256];
    if (plan_check(p, err, sizeof err)) {
        fprintf(stderr, "cnnc: internal error: memory plan: %s\n", err);
        return -1;
    }
    return 0;
}
