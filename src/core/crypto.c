/*
 * crypto.c: the one file that talks to libsodium and xxHash (STYLE.md §1). Sealed secrets are
 * "v1:" + b64url(nonce || secretbox(plaintext)); the version prefix lets a later format coexist
 * with stored values. Base64 decoding is strict: only the variant's alphabet, optional '='
 * padding, canonical trailing bits. Everything is thread-safe once sodium_init() has run.
 */
#include "core/crypto.h"

#include <stdlib.h>
#include <string.h>

#include <sodium.h>
#include <xxhash.h>

#include "core/xmalloc.h"

#define SEAL_PREFIX "v1:"
#define SEAL_PREFIX_LEN 3

enum ms_status
ms_crypto_init(struct ms_error *err)
{
    if (sodium_init() < 0)
        return ms_fail(err, MS_EINTERNAL, "libsodium failed to initialise");
    return MS_OK;
}

void
ms_random_bytes(void *out, size_t n)
{
    randombytes_buf(out, n);
}

void
ms_sha256(const void *data, size_t n, uint8_t out[MS_SHA256_LEN])
{
    crypto_hash_sha256(out, data, n);
}

void
ms_sha256_hex(const void *data, size_t n, char out[MS_SHA256_HEX_LEN + 1])
{
    uint8_t h[MS_SHA256_LEN];

    ms_sha256(data, n, h);
    ms_hex(h, sizeof(h), out);
}

void
ms_hmac_sha256(const uint8_t key[MS_SECRET_KEY_LEN], const void *data, size_t n,
               uint8_t out[MS_SHA256_LEN])
{
    crypto_auth_hmacsha256(out, data, n, key);
}

void
ms_hmac_sha256_any(const void *key, size_t key_len, const void *data, size_t n,
                   uint8_t out[MS_SHA256_LEN])
{
    crypto_auth_hmacsha256_state st;

    crypto_auth_hmacsha256_init(&st, key, key_len);
    crypto_auth_hmacsha256_update(&st, data, n);
    crypto_auth_hmacsha256_final(&st, out);
    sodium_memzero(&st, sizeof(st));
}

bool
ms_const_eq(const void *a, const void *b, size_t n)
{
    return sodium_memcmp(a, b, n) == 0;
}

struct ms_hash128
ms_xxh3_128(const void *data, size_t n)
{
    XXH128_hash_t h = XXH3_128bits(data, n);
    struct ms_hash128 r = {h.low64, h.high64};

    return r;
}

uint64_t
ms_xxh3_64(const void *data, size_t n)
{
    return XXH3_64bits(data, n);
}

size_t
ms_b64url_len(size_t n)
{
    return sodium_base64_ENCODED_LEN(n, sodium_base64_VARIANT_URLSAFE_NO_PADDING) - 1;
}

void
ms_b64url_encode(const void *data, size_t n, char *out)
{
    sodium_bin2base64(out, ms_b64url_len(n) + 1, data, n, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
}

void
ms_b64_encode(const void *data, size_t n, char *out)
{
    sodium_bin2base64(out, sodium_base64_ENCODED_LEN(n, sodium_base64_VARIANT_ORIGINAL), data, n,
                      sodium_base64_VARIANT_ORIGINAL);
}

/*
 * Strip at most two '=' (padding is optional), then decode with the unpadded variant; the
 * whole input must be consumed, so any other character fails.
 */
static enum ms_status
crypto_b64_decode(const char *in, size_t in_len, uint8_t *out, size_t *out_len, int variant)
{
    const char *end = NULL;
    size_t n = in_len, len = 0;

    for (int i = 0; i < 2 && n > 0 && in[n - 1] == '='; i++)
        n--;
    if (n % 4 == 1)
        return MS_EINVAL;
    if (sodium_base642bin(out, in_len * 3 / 4 + 1, in, n, NULL, &len, &end, variant) != 0 ||
        end != in + n)
        return MS_EINVAL;
    *out_len = len;
    return MS_OK;
}

enum ms_status
ms_b64url_decode(const char *in, size_t in_len, uint8_t *out, size_t *out_len)
{
    return crypto_b64_decode(in, in_len, out, out_len, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
}

enum ms_status
ms_b64_decode(const char *in, size_t in_len, uint8_t *out, size_t *out_len)
{
    return crypto_b64_decode(in, in_len, out, out_len, sodium_base64_VARIANT_ORIGINAL_NO_PADDING);
}

char *
ms_seal(const uint8_t key[MS_SECRET_KEY_LEN], const char *plaintext)
{
    size_t plen = strlen(plaintext);
    size_t blen = crypto_secretbox_NONCEBYTES + crypto_secretbox_MACBYTES + plen;
    uint8_t *box = ms_xmalloc(blen);
    char *out = ms_xmalloc(SEAL_PREFIX_LEN + ms_b64url_len(blen) + 1);

    randombytes_buf(box, crypto_secretbox_NONCEBYTES);
    crypto_secretbox_easy(box + crypto_secretbox_NONCEBYTES, (const unsigned char *)plaintext, plen,
                          box, key);
    memcpy(out, SEAL_PREFIX, SEAL_PREFIX_LEN);
    ms_b64url_encode(box, blen, out + SEAL_PREFIX_LEN);
    free(box);
    return out;
}

enum ms_status
ms_unseal(const uint8_t key[MS_SECRET_KEY_LEN], const char *sealed, char **plain_out,
          struct ms_error *err)
{
    size_t in_len, blen = 0, plen;
    uint8_t *box = NULL;
    char *plain = NULL;
    enum ms_status st;

    if (!ms_is_sealed(sealed))
        return ms_fail(err, MS_EINVAL, "not a sealed value");
    in_len = strlen(sealed + SEAL_PREFIX_LEN);
    box = ms_xmalloc(in_len * 3 / 4 + 1);
    if (ms_b64url_decode(sealed + SEAL_PREFIX_LEN, in_len, box, &blen) != MS_OK ||
        blen < crypto_secretbox_NONCEBYTES + crypto_secretbox_MACBYTES) {
        st = ms_fail(err, MS_EINVAL, "sealed value is malformed");
        goto out;
    }
    plen = blen - crypto_secretbox_NONCEBYTES - crypto_secretbox_MACBYTES;
    plain = ms_xmalloc(plen + 1);
    if (crypto_secretbox_open_easy((unsigned char *)plain, box + crypto_secretbox_NONCEBYTES,
                                   blen - crypto_secretbox_NONCEBYTES, box, key) != 0 ||
        memchr(plain, '\0', plen) != NULL) {
        st = ms_fail(err, MS_EINVAL, "sealed value was altered or sealed with another key");
        goto out;
    }
    plain[plen] = '\0';
    *plain_out = plain;
    plain = NULL;
    st = MS_OK;
out:
    if (plain != NULL)
        sodium_memzero(plain, plen);
    free(plain);
    free(box);
    return st;
}

bool
ms_is_sealed(const char *s)
{
    if (s == NULL || strncmp(s, SEAL_PREFIX, SEAL_PREFIX_LEN) != 0)
        return false;
    for (s += SEAL_PREFIX_LEN; *s != '\0'; s++)
        if (!((*s >= 'A' && *s <= 'Z') || (*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') ||
              *s == '-' || *s == '_'))
            return false;
    return true;
}

void
ms_hex(const void *data, size_t n, char *out)
{
    static const char hex[] = "0123456789abcdef";
    const uint8_t *p = data;

    for (size_t i = 0; i < n; i++) {
        out[2 * i] = hex[p[i] >> 4];
        out[2 * i + 1] = hex[p[i] & 0x0f];
    }
    out[2 * n] = '\0';
}

static int
crypto_hexval(char c)
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
ms_unhex(const char *in, size_t in_len, uint8_t *out, size_t out_cap, size_t *out_len)
{
    if (in_len % 2 != 0)
        return MS_EINVAL;
    if (in_len / 2 > out_cap)
        return MS_ETOOBIG;
    for (size_t i = 0; i < in_len; i += 2) {
        int hi = crypto_hexval(in[i]), lo = crypto_hexval(in[i + 1]);

        if (hi < 0 || lo < 0)
            return MS_EINVAL;
        out[i / 2] = (uint8_t)(hi << 4 | lo);
    }
    *out_len = in_len / 2;
    return MS_OK;
}
