/*
 * error.c: filling struct ms_error. The record has fixed-size buffers so the error path never
 * allocates; messages are truncated to fit. Every function accepts err == NULL (the caller only
 * wants the status). Thread-safe: each caller owns its record.
 */
#include "core/error.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

void
ms_error_clear(struct ms_error *err)
{
    if (err != NULL)
        memset(err, 0, sizeof(*err));
}

/* Reset err and record st; msg and field are filled by the callers. */
static void
error_start(struct ms_error *err, enum ms_status st)
{
    memset(err, 0, sizeof(*err));
    err->status = st;
}

enum ms_status
ms_fail(struct ms_error *err, enum ms_status st, const char *fmt, ...)
{
    va_list ap;

    if (err == NULL)
        return st;
    error_start(err, st);
    va_start(ap, fmt);
    vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
    va_end(ap);
    return st;
}

enum ms_status
ms_fail_at(struct ms_error *err, enum ms_status st, const char *field, const char *fmt, ...)
{
    va_list ap;
    int n;

    if (err == NULL)
        return st;
    error_start(err, st);
    if (field == NULL)
        field = "";
    snprintf(err->field, sizeof(err->field), "%s", field);
    n = snprintf(err->msg, sizeof(err->msg), "%s: ", field);
    if (n < 0 || (size_t)n >= sizeof(err->msg))
        return st;
    va_start(ap, fmt);
    vsnprintf(err->msg + n, sizeof(err->msg) - (size_t)n, fmt, ap);
    va_end(ap);
    return st;
}

enum ms_status
ms_fail_key(struct ms_error *err, enum ms_status st, const char *key, const char *fmt, ...)
{
    va_list ap;

    if (err == NULL)
        return st;
    error_start(err, st);
    err->key = key;
    va_start(ap, fmt);
    vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
    va_end(ap);
    return st;
}

const char *
ms_status_name(enum ms_status st)
{
    static const char *const names[] = {
        [MS_OK] = "ok",
        [MS_EINVAL] = "einval",
        [MS_EAUTH] = "eauth",
        [MS_EDENIED] = "edenied",
        [MS_ENOTFOUND] = "enotfound",
        [MS_EMETHOD] = "emethod",
        [MS_ETIMEOUT] = "etimeout",
        [MS_ECONFLICT] = "econflict",
        [MS_ETOOBIG] = "etoobig",
        [MS_EUNPROC] = "eunproc",
        [MS_EUNSUPP] = "eunsupp",
        [MS_ELIMIT] = "elimit",
        [MS_EUPSTREAM] = "eupstream",
        [MS_EBUSY] = "ebusy",
        [MS_ECANCELED] = "ecanceled",
        [MS_EINTERNAL] = "einternal",
    };

    _Static_assert(MS_ARRAY_LEN(names) == MS_STATUS_COUNT, "a status without a name");
    if ((unsigned)st >= MS_STATUS_COUNT)
        return "unknown";
    return names[st];
}
