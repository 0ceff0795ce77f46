/*
 * buf.c: growable byte buffer with a mandatory cap (curl's dynbuf). Capacity doubles from 64
 * bytes but never beyond max + 1, so a capped buffer allocates at most what it may hold. A
 * refused append leaves p, len and cap exactly as they were.
 */
#include "core/buf.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/xmalloc.h"

#define BUF_MIN_CAP 64

void
ms_buf_init(struct ms_buf *b, size_t max)
{
    MS_ASSERT(max > 0);
    b->p = NULL;
    b->len = 0;
    b->cap = 0;
    b->max = max;
}

void
ms_buf_release(struct ms_buf *b)
{
    if (b == NULL)
        return;
    free(b->p);
    b->p = NULL;
    b->len = 0;
    b->cap = 0;
}

void
ms_buf_release_cb(void *b)
{
    ms_buf_release(b);
}

void
ms_buf_reset(struct ms_buf *b)
{
    b->len = 0;
    if (b->p != NULL)
        b->p[0] = '\0';
}

/* Make room for n more bytes plus the NUL, or refuse without touching b. */
static enum ms_status
buf_reserve(struct ms_buf *b, size_t n)
{
    size_t need, cap;

    if (n > b->max || b->len > b->max - n)
        return MS_ETOOBIG;
    need = b->len + n + 1;
    if (need <= b->cap)
        return MS_OK;
    cap = b->cap < BUF_MIN_CAP ? BUF_MIN_CAP : b->cap;
    while (cap < need)
        cap = cap > SIZE_MAX / 2 ? need : cap * 2;
    if (cap > b->max + 1)
        cap = b->max + 1;
    b->p = ms_xrealloc(b->p, cap);
    b->cap = cap;
    return MS_OK;
}

enum ms_status
ms_buf_add(struct ms_buf *b, const void *data, size_t n)
{
    enum ms_status st = buf_reserve(b, n);

    if (st != MS_OK)
        return st;
    if (n > 0)
        memcpy(b->p + b->len, data, n);
    b->len += n;
    b->p[b->len] = '\0';
    return MS_OK;
}

enum ms_status
ms_buf_adds(struct ms_buf *b, const char *s)
{
    return ms_buf_add(b, s, strlen(s));
}

enum ms_status
ms_buf_addc(struct ms_buf *b, char c)
{
    return ms_buf_add(b, &c, 1);
}

enum ms_status
ms_buf_addf(struct ms_buf *b, const char *fmt, ...)
{
    va_list ap;
    enum ms_status st;
    int n;

    va_start(ap, fmt);
    n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0)
        return MS_EINVAL;
    st = buf_reserve(b, (size_t)n);
    if (st != MS_OK)
        return st;
    va_start(ap, fmt);
    vsnprintf(b->p + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
    return MS_OK;
}

char *
ms_buf_take(struct ms_buf *b, size_t *len)
{
    char *p = b->p;

    if (len != NULL)
        *len = b->len;
    if (p == NULL)
        p = ms_xstrdup("");
    b->p = NULL;
    b->len = 0;
    b->cap = 0;
    return p;
}

const char *
ms_buf_str(const struct ms_buf *b)
{
    return b->p != NULL ? b->p : "";
}
