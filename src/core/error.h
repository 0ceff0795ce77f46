/*
 * error.h: the status every fallible function returns, and the error record it fills.
 * The HTTP mapping of each status lives in http/reply.c (one table, checked at compile time).
 */
#ifndef MS_CORE_ERROR_H
#define MS_CORE_ERROR_H

#include "core/common.h"

enum ms_status {
    MS_OK = 0,
    MS_EINVAL,    /* 400 invalid_request: malformed body, query, page token */
    MS_EAUTH,     /* 401 unauthorized: missing, garbled or unknown credential */
    MS_EDENIED,   /* 403 forbidden: valid credential, action not permitted */
    MS_ENOTFOUND, /* 404 not_found: no such object, or another organization's */
    MS_EMETHOD,   /* 405 method_not_allowed */
    MS_ETIMEOUT,  /* 408 timeout: a request-scoped deadline passed */
    MS_ECONFLICT, /* 409 conflict: uniqueness or state (execution already active) */
    MS_ETOOBIG,   /* 413 too_large: input over a configured cap */
    MS_EUNPROC,   /* 422 validation_failed: names what does not exist or cannot be */
    MS_EUNSUPP,   /* 422 unsupported: connector not built in, mode not supported */
    MS_ELIMIT,    /* 429 rate_limited, with Retry-After */
    MS_EUPSTREAM, /* 502 upstream_error: a source or destination system failed */
    MS_EBUSY,     /* 503 unavailable, with Retry-After: lock held, pool exhausted */
    MS_ECANCELED, /* 500 internal: engine-only; reaching HTTP is a bug */
    MS_EINTERNAL, /* 500 internal: bug or unexpected store failure */
    MS_STATUS_COUNT
};

struct ms_error {
    enum ms_status status;
    const char *key;  /* static string overriding the default ApiError key, or NULL */
    char field[64];   /* offending member, "schedule.frequency"; "" if none */
    int native;       /* SQLite extended code, errno, remote HTTP status; 0 if none */
    char sqlstate[6]; /* PostgreSQL SQLSTATE; "" if none */
    char msg[256];    /* one line; clients see it only for 4xx statuses */
};

/* Reset *err (may be NULL) to "no error". */
void ms_error_clear(struct ms_error *err);

/* Record a failure in *err (which may be NULL) and return st. Overwrites msg, keeps nothing. */
enum ms_status ms_fail(struct ms_error *err, enum ms_status st, const char *fmt, ...)
    MS_PRINTF(3, 4);

/* ms_fail() that also names the offending member (metadata.field, and "field: " in msg). */
enum ms_status ms_fail_at(struct ms_error *err, enum ms_status st, const char *field,
                          const char *fmt, ...) MS_PRINTF(4, 5);

/* ms_fail() with a specific ApiError key from API.md §13 D24 (key must be a static string). */
enum ms_status ms_fail_key(struct ms_error *err, enum ms_status st, const char *key,
                           const char *fmt, ...) MS_PRINTF(4, 5);

/* Stable lowercase name of a status ("einval"), for logs. */
const char *ms_status_name(enum ms_status st);

#endif
