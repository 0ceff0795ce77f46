/*
 * xmalloc.h: allocation that never returns NULL. Out of memory aborts the process (STYLE.md §3.3);
 * sizes that outside input controls are capped by the caller before they get here.
 */
#ifndef MS_CORE_XMALLOC_H
#define MS_CORE_XMALLOC_H

#include <stddef.h>

void *ms_xmalloc(size_t n);
void *ms_xcalloc(size_t n, size_t size);
void *ms_xrealloc(void *p, size_t n);
char *ms_xstrdup(const char *s);            /* s must not be NULL */
char *ms_xstrndup(const char *s, size_t n); /* copies at most n bytes, always NUL-terminates */

#endif
