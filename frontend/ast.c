/* ast.c — the arena and the few constructors the parser shares.
 *
 * The arena is a list of large blocks; nothing in it is freed on its own.
 * The tree itself has no behaviour beyond this.
 */
#include <stdlib.h>
#include <string.h>

#include "ast.h"
#include "support/alloc.h"

enum { BLOCK = 64 * 1024 };

struct Arena {
    struct Block *head;
};

typedef struct Block {
    struct Block *next;
    size_t used, cap;
    _Alignas(max_align_t) unsigned char mem[];
} Block;

Arena *arena_new(void)
{
    Arena *a = xmalloc(sizeof *a);
    a->head = NULL;
    return a;
}

void arena_free(Arena *a)
{
    if (!a)
        return;
    for (Block *b = a->head, *next; b; b = next) {
        next = b->next;
        free(b);
    }
    free(a);
}

void *arena_alloc(Arena *a, size_t n)
{
    n = (n + sizeof(max_align_t) - 1) / sizeof(max_align_t) * sizeof(max_align_t);
    Block *b = a->head;
    if (!b || b->cap - b->used < n) {
        size_t cap = n > BLOCK ? n : BLOCK;
        b = xmalloc(sizeof *b + cap);
        b->used = 0;
        b->cap = cap;
        b->next = a->head;
        a->head = b;
    }
    void *p = b->mem + b->used;
    b->used += n;
    memset(p, 0, n);
    return p;
}

char *arena_strndup(Arena *a, const char *s, size_t n)
{
    char *p = arena_alloc(a, n + 1);
    memcpy(p, s, n);
    p[n] = 0;
    return p;
}

void vec_push(Arena *a, Vec *v, void *x)
{
    if (v->n == v->cap) {
        int cap = v->cap ? 2 * v->cap : 4;
        void **nv = arena_alloc(a, cap * sizeof *nv);
        if (v->n)
            memcpy(nv, v->v, v->n * sizeof *nv);
        v->v = nv;
        v->cap = cap;
    }
    v->v[v->n++] = x;
}

AValue *ast_value(Arena *a, int kind, Loc loc)
{
    AValue *v = arena_alloc(a, sizeof *v);
    v->kind = kind;
    v->loc = loc;
    return v;
}

const char *ast_callee(const AValue *v)
{
    return v && (v->kind == AV_CALL || v->kind == AV_NAME) ? v->text : NULL;
}
