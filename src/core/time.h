/* time.h: wall-clock milliseconds since the epoch, RFC 3339 UTC formatting and parsing. */
#ifndef MS_CORE_TIME_H
#define MS_CORE_TIME_H

#include <stdint.h>
#include "core/error.h"

#define MS_TIME_LEN 32 /* room for "2024-01-15T09:30:00.123Z" and NUL */

int64_t ms_time_now_ms(void);  /* CLOCK_REALTIME */
int64_t ms_time_mono_ms(void); /* CLOCK_MONOTONIC, for durations */
int64_t ms_time_mono_us(void); /* the same in microseconds, for phase timers */

/* "2024-01-15T09:30:00.123Z" (milliseconds always present). */
void ms_time_format(int64_t ms, char out[MS_TIME_LEN]);

/* RFC 3339 with Z or ±hh:mm offset, optional fraction; result in ms since the epoch, UTC. */
enum ms_status ms_time_parse(const char *s, int64_t *ms_out);

#endif
