/*
 * str.h: non-owning string views (nginx ngx_str_t) and small parsing helpers that never assume
 * a NUL terminator inside the view.
 */
#ifndef MS_CORE_STR_H
#define MS_CORE_STR_H

#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>
#include "core/error.h"

struct ms_str {
    const char *p;
    size_t len;
};

#define MS_STR(lit) ((struct ms_str){(lit), sizeof(lit) - 1})

struct ms_str ms_str_c(const char *s); /* view of a C string; NULL gives {NULL, 0} */
bool ms_str_eq(struct ms_str a, struct ms_str b);
bool ms_str_eqc(struct ms_str a, const char *c);      /* exact */
bool ms_str_casec(struct ms_str a, const char *c);    /* ASCII case-insensitive */
bool ms_str_prefix(struct ms_str a, const char *pre); /* case-sensitive */

/* Decimal int64 with optional leading '-'; the whole view must be digits. */
enum ms_status ms_str_to_i64(struct ms_str s, int64_t *out);

/*
 * Percent-decode src into dst (which has room for src.len + 1 bytes); form=true also maps '+'
 * to ' ' (query values). MS_EINVAL on a truncated or non-hex escape, or a decoded NUL byte.
 */
enum ms_status ms_str_pct_decode(struct ms_str src, bool form, char *dst, size_t *dst_len);

/* ASCII lowercase in place. */
void ms_str_lower(char *s);

#endif
