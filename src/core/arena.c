/*
 * arena.c: block-based bump allocator with deferred cleanups (nginx pools). Blocks form a list,
 * newest first; a request larger than the default block gets a block of its own size. Defers
 * live in the arena's own memory as a list, newest first, so running them in list order gives
 * the LIFO order the callers rely on. Reset runs the defers, frees every block but the first and
 * rewinds it. One thread at a time per arena.
 */
#include "core/arena.h"

#include <stdalign.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/common.h"
#include "core/xmalloc.h"

#define ARENA_BLOCK_BYTES ((size_t)16 * 1024)
#define ARENA_ALIGN alignof(max_align_t)

struct arena_block {
    struct arena_block *next; /* older block */
    size_t size;              /* usable bytes in data[] */
    size_t used;              /* bytes of data[] handed out, including padding */
    alignas(max_align_t) unsigned char data[];
};

struct arena_defer {
    struct arena_defer *next; /* older defer */
    ms_defer_fn fn;
    void *arg;
};

struct ms_arena {
    struct arena_block *head;   /* current block; the first block is at the list's end */
    struct arena_defer *defers; /* newest first */
    size_t used;                /* bytes requested since the last reset */
};

static struct arena_block *
arena_block_new(size_t size)
{
    struct arena_block *b;

    if (size > SIZE_MAX - sizeof(*b))
        ms_assert_fail(__FILE__, __LINE__, "arena block size overflow");
    b = ms_xmalloc(sizeof(*b) + size);
    b->next = NULL;
    b->size = size;
    b->used = 0;
    return b;
}

struct ms_arena *
ms_arena_new(void)
{
    struct ms_arena *a = ms_xmalloc(sizeof(*a));

    a->head = arena_block_new(ARENA_BLOCK_BYTES);
    a->defers = NULL;
    a->used = 0;
    return a;
}

/* Run and forget the defers, newest first; a defer may itself allocate or defer. */
static void
arena_run_defers(struct ms_arena *a)
{
    while (a->defers != NULL) {
        struct arena_defer *d = a->defers;

        a->defers = d->next;
        d->fn(d->arg);
    }
}

void
ms_arena_free(struct ms_arena *a)
{
    struct arena_block *b;

    if (a == NULL)
        return;
    arena_run_defers(a);
    while ((b = a->head) != NULL) {
        a->head = b->next;
        free(b);
    }
    free(a);
}

void
ms_arena_reset(struct ms_arena *a)
{
    arena_run_defers(a);
    while (a->head->next != NULL) {
        struct arena_block *b = a->head;

        a->head = b->next;
        free(b);
    }
    a->head->used = 0;
    a->used = 0;
}

void *
ms_arena_alloc(struct ms_arena *a, size_t n)
{
    struct arena_block *b = a->head;
    size_t off = (b->used + ARENA_ALIGN - 1) & ~(ARENA_ALIGN - 1);

    if (n == 0)
        n = 1;
    if (off > b->size || n > b->size - off) {
        size_t size = n > ARENA_BLOCK_BYTES ? n : ARENA_BLOCK_BYTES;

        b = arena_block_new(size);
        b->next = a->head;
        a->head = b;
        off = 0;
    }
    b->used = off + n;
    a->used += n;
    return b->data + off;
}

void *
ms_arena_zalloc(struct ms_arena *a, size_t n)
{
    void *p = ms_arena_alloc(a, n);

    memset(p, 0, n);
    return p;
}

char *
ms_arena_strdup(struct ms_arena *a, const char *s)
{
    if (s == NULL)
        return NULL;
    return ms_arena_strndup(a, s, strlen(s));
}

char *
ms_arena_strndup(struct ms_arena *a, const char *s, size_t n)
{
    char *p;

    if (s == NULL)
        return NULL;
    n = strnlen(s, n);
    p = ms_arena_alloc(a, n + 1);
    memcpy(p, s, n);
    p[n] = '\0';
    return p;
}

char *
ms_arena_printf(struct ms_arena *a, const char *fmt, ...)
{
    va_list ap;
    int n;
    char *p;

    va_start(ap, fmt);
    n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    MS_ASSERT(n >= 0);
    p = ms_arena_alloc(a, (size_t)n + 1);
    va_start(ap, fmt);
    vsnprintf(p, (size_t)n + 1, fmt, ap);
    va_end(ap);
    return p;
}

void
ms_arena_defer(struct ms_arena *a, ms_defer_fn fn, void *arg)
{
    struct arena_defer *d = ms_arena_alloc(a, sizeof(*d));

    d->fn = fn;
    d->arg = arg;
    d->next = a->defers;
    a->defers = d;
}

size_t
ms_arena_used(const struct ms_arena *a)
{
    return a->used;
}
