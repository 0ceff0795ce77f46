/*
 * str.c: string views and the small parsers that work on them. Nothing here assumes a NUL
 * inside a view or allocates; callers size the outputs. Pure functions, any thread.
 */
#include "core/str.h"

#include <string.h>

struct ms_str
ms_str_c(const char *s)
{
    struct ms_str v = {s, s != NULL ? strlen(s) : 0};

    return v;
}

bool
ms_str_eq(struct ms_str a, struct ms_str b)
{
    return a.len == b.len && (a.len == 0 || memcmp(a.p, b.p, a.len) == 0);
}

bool
ms_str_eqc(struct ms_str a, const char *c)
{
    return ms_str_eq(a, ms_str_c(c));
}

static char
str_lower_c(char c)
{
    return (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
}

bool
ms_str_casec(struct ms_str a, const char *c)
{
    size_t n = c != NULL ? strlen(c) : 0;

    if (a.len != n)
        return false;
    for (size_t i = 0; i < n; i++)
        if (str_lower_c(a.p[i]) != str_lower_c(c[i]))
            return false;
    return true;
}

bool
ms_str_prefix(struct ms_str a, const char *pre)
{
    size_t n = strlen(pre);

    return a.len >= n && (n == 0 || memcmp(a.p, pre, n) == 0);
}

enum ms_status
ms_str_to_i64(struct ms_str s, int64_t *out)
{
    size_t i = 0;
    bool neg = false;
    uint64_t v = 0, limit;

    if (s.len > 0 && s.p[0] == '-') {
        neg = true;
        i = 1;
    }
    if (i == s.len)
        return MS_EINVAL;
    /* Accumulate as unsigned so INT64_MIN, whose magnitude exceeds INT64_MAX, fits. */
    limit = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
    for (; i < s.len; i++) {
        unsigned d;

        if (s.p[i] < '0' || s.p[i] > '9')
            return MS_EINVAL;
        d = (unsigned)(s.p[i] - '0');
        if (v > (limit - d) / 10)
            return MS_EINVAL;
        v = v * 10 + d;
    }
    if (neg)
        *out = v == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)v;
    else
        *out = (int64_t)v;
    return MS_OK;
}

static int
str_hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

enum ms_status
ms_str_pct_decode(struct ms_str src, bool form, char *dst, size_t *dst_len)
{
    size_t o = 0;

    for (size_t i = 0; i < src.len; i++) {
        char c = src.p[i];

        if (c == '%') {
            int hi, lo;

            if (src.len - i < 3)
                return MS_EINVAL;
            hi = str_hexval(src.p[i + 1]);
            lo = str_hexval(src.p[i + 2]);
            if (hi < 0 || lo < 0 || (hi == 0 && lo == 0))
                return MS_EINVAL;
            c = (char)(hi * 16 + lo);
            i += 2;
        } else if (c == '+' && form) {
            c = ' ';
        } else if (c == '\0') {
            return MS_EINVAL;
        }
        dst[o++] = c;
    }
    dst[o] = '\0';
    *dst_len = o;
    return MS_OK;
}

void
ms_str_lower(char *s)
{
    for (; *s != '\0'; s++)
        *s = str_lower_c(*s);
}
