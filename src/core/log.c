/*
 * log.c: structured logging, one JSON object per line on stderr. Each line is built in a buffer
 * private to the call and handed to a single write(2), so lines from concurrent threads never
 * interleave and no lock is needed. Values are JSON-escaped; a value
 * longer than LOG_VALUE_MAX bytes is cut at a UTF-8 boundary and marked with "...".
 */
#include "core/log.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "core/buf.h"
#include "core/time.h"

#define LOG_LINE_MAX ((size_t)256 * 1024) /* a line never exceeds this */
#define LOG_VALUE_MAX ((size_t)16 * 1024) /* bytes of one value before it is cut */

static enum ms_log_level log_level = MS_LOG_INFO;

void
ms_log_set_level(enum ms_log_level level)
{
    log_level = level;
}

static const char *
log_level_name(enum ms_log_level level)
{
    switch (level) {
    case MS_LOG_DEBUG:
        return "debug";
    case MS_LOG_INFO:
        return "info";
    case MS_LOG_WARN:
        return "warn";
    case MS_LOG_ERROR:
        return "error";
    }
    return "info";
}

/* Append s as a JSON string (quotes included), cut after LOG_VALUE_MAX bytes. */
static enum ms_status
log_add_json(struct ms_buf *b, const char *s)
{
    static const char hex[] = "0123456789abcdef";
    size_t n = s != NULL ? strlen(s) : 0;
    bool cut = n > LOG_VALUE_MAX;
    enum ms_status st;

    if (cut) { /* step back over UTF-8 continuation bytes so the cut stays valid text */
        n = LOG_VALUE_MAX;
        while (n > 0 && ((unsigned char)s[n] & 0xc0) == 0x80)
            n--;
    }
    st = ms_buf_addc(b, '"');
    for (size_t i = 0; i < n && st == MS_OK; i++) {
        unsigned char c = (unsigned char)s[i];

        if (c == '"' || c == '\\') {
            char esc[2] = {'\\', (char)c};

            st = ms_buf_add(b, esc, 2);
        } else if (c < 0x20 || c == 0x7f) {
            char esc[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 0x0f]};

            st = ms_buf_add(b, esc, 6);
        } else {
            st = ms_buf_addc(b, (char)c);
        }
    }
    if (st == MS_OK && cut)
        st = ms_buf_adds(b, "...");
    if (st == MS_OK)
        st = ms_buf_addc(b, '"');
    return st;
}

/* Write the whole line; loops only on EINTR or a short write to a pipe. */
static void
log_write(const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(STDERR_FILENO, p, n);

        if (w < 0) {
            if (errno == EINTR)
                continue;
            return;
        }
        p += w;
        n -= (size_t)w;
    }
}

/* The line for msg and, when ap is not NULL, its key/value pairs up to the NULL key. */
static enum ms_status
log_build(struct ms_buf *b, enum ms_log_level level, const char *msg, va_list *ap)
{
    char ts[MS_TIME_LEN];
    enum ms_status st;
    const char *k;

    ms_time_format(ms_time_now_ms(), ts);
    st = ms_buf_addf(b, "{\"ts\":\"%s\",\"level\":\"%s\",\"msg\":", ts, log_level_name(level));
    if (st == MS_OK)
        st = log_add_json(b, msg);
    while (st == MS_OK && ap != NULL && (k = va_arg(*ap, const char *)) != NULL) {
        const char *v = va_arg(*ap, const char *);

        st = ms_buf_addc(b, ',');
        if (st == MS_OK)
            st = log_add_json(b, k);
        if (st == MS_OK)
            st = ms_buf_addc(b, ':');
        if (st == MS_OK)
            st = log_add_json(b, v);
    }
    if (st == MS_OK)
        st = ms_buf_adds(b, "}\n");
    return st;
}

static void
log_emit(enum ms_log_level level, const char *msg, va_list *ap)
{
    struct ms_buf b;

    ms_buf_init(&b, LOG_LINE_MAX);
    if (log_build(&b, level, msg, ap) != MS_OK) {
        ms_buf_reset(&b);
        ms_buf_adds(&b, "{\"level\":\"error\",\"msg\":\"log line too long\"}\n");
    }
    log_write(b.p, b.len);
    ms_buf_release(&b);
}

void
ms_log(enum ms_log_level level, const char *msg, ...)
{
    va_list ap;

    if (level < log_level)
        return;
    va_start(ap, msg);
    log_emit(level, msg, &ap);
    va_end(ap);
}

void
ms_logf(enum ms_log_level level, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;

    if (level < log_level)
        return;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    log_emit(level, msg, NULL);
}
