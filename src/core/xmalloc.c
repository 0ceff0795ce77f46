/*
 * xmalloc.c: allocation that never returns NULL. The process, not a library, decides what OOM
 * means, and it means abort (STYLE.md §3.3). A zero-byte request still yields a unique pointer.
 * Thread-safe as malloc is.
 */
#include "core/xmalloc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/common.h"

MS_NORETURN static void
xmalloc_oom(size_t n)
{
    fprintf(stderr, "{\"level\":\"fatal\",\"msg\":\"out of memory\",\"bytes\":%zu}\n", n);
    abort();
}

void *
ms_xmalloc(size_t n)
{
    void *p = malloc(n == 0 ? 1 : n);

    if (p == NULL)
        xmalloc_oom(n);
    return p;
}

void *
ms_xcalloc(size_t n, size_t size)
{
    void *p;

    if (n == 0 || size == 0)
        n = size = 1;
    p = calloc(n, size);
    if (p == NULL)
        xmalloc_oom(n * size);
    return p;
}

void *
ms_xrealloc(void *p, size_t n)
{
    void *q = realloc(p, n == 0 ? 1 : n);

    if (q == NULL)
        xmalloc_oom(n);
    return q;
}

char *
ms_xstrdup(const char *s)
{
    size_t n = strlen(s);
    char *p = ms_xmalloc(n + 1);

    memcpy(p, s, n + 1);
    return p;
}

char *
ms_xstrndup(const char *s, size_t n)
{
    size_t len = strnlen(s, n);
    char *p = ms_xmalloc(len + 1);

    memcpy(p, s, len);
    p[len] = '\0';
    return p;
}
