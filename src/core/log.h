/*
 * log.h: one JSON object per line on stderr: {"ts","level","msg", ...fields}. Thread-safe (one
 * write(2) per line). Never log a credential, key or connection secret.
 */
#ifndef MS_CORE_LOG_H
#define MS_CORE_LOG_H

#include "core/common.h"

enum ms_log_level { MS_LOG_DEBUG, MS_LOG_INFO, MS_LOG_WARN, MS_LOG_ERROR };

/* Messages below level are dropped (default MS_LOG_INFO). Call before threads start. */
void ms_log_set_level(enum ms_log_level level);

/*
 * Log msg with extra string fields given as key/value pairs ending in NULL:
 * ms_log(MS_LOG_INFO, "request", "method", "GET", "path", p, NULL). Values are JSON-escaped.
 */
void ms_log(enum ms_log_level level, const char *msg, ...) __attribute__((sentinel));

/* printf-style message, no extra fields. */
void ms_logf(enum ms_log_level level, const char *fmt, ...) MS_PRINTF(2, 3);

#endif
