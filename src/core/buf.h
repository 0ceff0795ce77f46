/*
 * buf.h: growable byte buffer with a mandatory cap (curl's dynbuf). Always NUL-terminated;
 * an append that would pass max is refused with MS_ETOOBIG and leaves the buffer unchanged.
 */
#ifndef MS_CORE_BUF_H
#define MS_CORE_BUF_H

#include <stddef.h>
#include "core/error.h"

struct ms_buf {
    char *p;    /* owned; NULL until the first append; p[len] == '\0' once allocated */
    size_t len; /* bytes used, not counting the NUL */
    size_t cap; /* bytes allocated */
    size_t max; /* refuse to grow len past this */
};

/* Caller owns the storage of b; max must be > 0. */
void ms_buf_init(struct ms_buf *b, size_t max);
void ms_buf_release(struct ms_buf *b);
void ms_buf_release_cb(void *b);     /* ms_defer_fn adapter for ms_buf_release */
void ms_buf_reset(struct ms_buf *b); /* len = 0, keeps the allocation */

enum ms_status ms_buf_add(struct ms_buf *b, const void *data, size_t n);
enum ms_status ms_buf_adds(struct ms_buf *b, const char *s);
enum ms_status ms_buf_addc(struct ms_buf *b, char c);
enum ms_status ms_buf_addf(struct ms_buf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Ownership of the bytes moves to the caller (never NULL: "" when empty); b is reset. */
char *ms_buf_take(struct ms_buf *b, size_t *len);

/* Borrowed NUL-terminated view ("" when empty). */
const char *ms_buf_str(const struct ms_buf *b);

#endif
