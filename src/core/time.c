/*
 * time.c: clocks and RFC 3339. Formatting is always UTC with milliseconds; parsing accepts any
 * offset and fraction length (fractions beyond milliseconds are truncated) and converts to UTC
 * with timegm(). Reentrant: gmtime_r/timegm only.
 */
#include "core/time.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

int64_t
ms_time_now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t
ms_time_mono_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t
ms_time_mono_us(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

#define TIME_MIN_MS INT64_C(-62167219200000) /* 0000-01-01T00:00:00.000Z */
#define TIME_MAX_MS INT64_C(253402300799999) /* 9999-12-31T23:59:59.999Z */

void
ms_time_format(int64_t ms, char out[MS_TIME_LEN])
{
    int64_t sec, frac;
    time_t t;
    struct tm tm;

    /* RFC 3339 has four-digit years: clamp rather than emit something unparseable. */
    ms = ms < TIME_MIN_MS ? TIME_MIN_MS : ms > TIME_MAX_MS ? TIME_MAX_MS : ms;
    sec = ms / 1000;
    frac = ms % 1000;
    if (frac < 0) { /* floor division for instants before 1970 */
        frac += 1000;
        sec -= 1;
    }
    t = (time_t)sec;
    gmtime_r(&t, &tm);
    snprintf(out, MS_TIME_LEN, "%04u-%02u-%02uT%02u:%02u:%02u.%03uZ",
             (unsigned)(tm.tm_year + 1900) % 10000u, (unsigned)(tm.tm_mon + 1) % 100u,
             (unsigned)tm.tm_mday % 100u, (unsigned)tm.tm_hour % 100u, (unsigned)tm.tm_min % 100u,
             (unsigned)tm.tm_sec % 100u, (unsigned)frac % 1000u);
}

/* n decimal digits at *s into *out; advances *s. */
static bool
time_digits(const char **s, int n, int *out)
{
    int v = 0;

    for (int i = 0; i < n; i++) {
        char c = (*s)[i];

        if (c < '0' || c > '9')
            return false;
        v = v * 10 + (c - '0');
    }
    *s += n;
    *out = v;
    return true;
}

static bool
time_lit(const char **s, char c)
{
    if (**s != c)
        return false;
    (*s)++;
    return true;
}

static int
time_mdays(int year, int mon)
{
    static const int days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    bool leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;

    return mon == 2 && leap ? 29 : days[mon - 1];
}

/* "YYYY-MM-DDTHH:MM:SS" into tm with range checks (leap second 60 accepted, as RFC 3339 does). */
static bool
time_parse_civil(const char **s, struct tm *tm)
{
    int y, mo, d, h, mi, se;

    if (!time_digits(s, 4, &y) || !time_lit(s, '-') || !time_digits(s, 2, &mo) ||
        !time_lit(s, '-') || !time_digits(s, 2, &d))
        return false;
    if (!time_lit(s, 'T') && !time_lit(s, 't'))
        return false;
    if (!time_digits(s, 2, &h) || !time_lit(s, ':') || !time_digits(s, 2, &mi) ||
        !time_lit(s, ':') || !time_digits(s, 2, &se))
        return false;
    if (mo < 1 || mo > 12 || d < 1 || d > time_mdays(y, mo) || h > 23 || mi > 59 || se > 60)
        return false;
    memset(tm, 0, sizeof(*tm));
    tm->tm_year = y - 1900;
    tm->tm_mon = mo - 1;
    tm->tm_mday = d;
    tm->tm_hour = h;
    tm->tm_min = mi;
    tm->tm_sec = se;
    return true;
}

/* ".ddd…" → milliseconds (extra digits dropped); absent → 0. */
static bool
time_parse_frac(const char **s, int *ms)
{
    int n = 0;

    *ms = 0;
    if (!time_lit(s, '.'))
        return true;
    while (**s >= '0' && **s <= '9') {
        if (n < 3)
            *ms = *ms * 10 + (**s - '0');
        n++;
        (*s)++;
    }
    for (int i = n; i < 3; i++)
        *ms *= 10;
    return n > 0;
}

/* "Z" or "±hh:mm" → offset east of UTC in seconds. */
static bool
time_parse_offset(const char **s, int *off)
{
    int sign, h, m;

    if (time_lit(s, 'Z') || time_lit(s, 'z')) {
        *off = 0;
        return true;
    }
    if (time_lit(s, '+'))
        sign = 1;
    else if (time_lit(s, '-'))
        sign = -1;
    else
        return false;
    if (!time_digits(s, 2, &h) || !time_lit(s, ':') || !time_digits(s, 2, &m) || h > 23 || m > 59)
        return false;
    *off = sign * (h * 3600 + m * 60);
    return true;
}

enum ms_status
ms_time_parse(const char *s, int64_t *ms_out)
{
    struct tm tm;
    int frac, off;
    time_t t;

    if (s == NULL || !time_parse_civil(&s, &tm) || !time_parse_frac(&s, &frac) ||
        !time_parse_offset(&s, &off) || *s != '\0')
        return MS_EINVAL;
    t = timegm(&tm);
    *ms_out = ((int64_t)t - off) * 1000 + frac;
    return MS_OK;
}
