/* uuid.h: random (v4) UUIDs, emitted lowercase; parsing accepts any case. */
#ifndef MS_CORE_UUID_H
#define MS_CORE_UUID_H

#include <stdbool.h>
#include <stddef.h>

#define MS_UUID_LEN 36 /* characters, without NUL */

/* Write a new random UUID (lowercase, NUL-terminated) into out[37]. Thread-safe. */
void ms_uuid_new(char out[MS_UUID_LEN + 1]);

/* True iff s[0..len) is 8-4-4-4-12 hex (any case). */
bool ms_uuid_valid(const char *s, size_t len);

/* Valid UUID → lowercase copy into out[37] and true; otherwise false. s may be NULL. */
bool ms_uuid_norm(const char *s, char out[MS_UUID_LEN + 1]);

#endif
