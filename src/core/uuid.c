/*
 * uuid.c: random version-4 UUIDs from the crypto RNG, always emitted lowercase, and a strict
 * 8-4-4-4-12 syntax check that accepts any case (ids arrive from clients in either). The RNG is
 * thread-safe after ms_crypto_init(), so these are too.
 */
#include "core/uuid.h"

#include <stdint.h>

#include "core/crypto.h"
#include "core/str.h"

void
ms_uuid_new(char out[MS_UUID_LEN + 1])
{
    static const char hex[] = "0123456789abcdef";
    uint8_t b[16];
    size_t o = 0;

    ms_random_bytes(b, sizeof(b));
    b[6] = (uint8_t)((b[6] & 0x0f) | 0x40); /* version 4 */
    b[8] = (uint8_t)((b[8] & 0x3f) | 0x80); /* RFC 4122 variant */
    for (size_t i = 0; i < sizeof(b); i++) {
        if (i == 4 || i == 6 || i == 8 || i == 10)
            out[o++] = '-';
        out[o++] = hex[b[i] >> 4];
        out[o++] = hex[b[i] & 0x0f];
    }
    out[o] = '\0';
}

static bool
uuid_is_hex(char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

bool
ms_uuid_valid(const char *s, size_t len)
{
    if (s == NULL || len != MS_UUID_LEN)
        return false;
    for (size_t i = 0; i < len; i++) {
        bool dash = i == 8 || i == 13 || i == 18 || i == 23;

        if (dash ? s[i] != '-' : !uuid_is_hex(s[i]))
            return false;
    }
    return true;
}

bool
ms_uuid_norm(const char *s, char out[MS_UUID_LEN + 1])
{
    size_t i;

    if (s == NULL)
        return false;
    for (i = 0; i <= MS_UUID_LEN && s[i] != '\0'; i++)
        ;
    if (!ms_uuid_valid(s, i))
        return false;
    for (i = 0; i < MS_UUID_LEN; i++)
        out[i] = s[i];
    out[MS_UUID_LEN] = '\0';
    ms_str_lower(out);
    return true;
}
