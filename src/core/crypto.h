/*
 * crypto.h: the only door to libsodium and xxHash. Hashing (SHA-256, XXH3-128), HMAC-SHA256,
 * constant-time comparison, randomness, base64 (standard and URL-safe) and secret sealing
 * (XSalsa20-Poly1305 secretbox with the deployment key). All functions are thread-safe after
 * ms_crypto_init().
 */
#ifndef MS_CORE_CRYPTO_H
#define MS_CORE_CRYPTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "core/error.h"

#define MS_SHA256_LEN 32
#define MS_SHA256_HEX_LEN 64
#define MS_SECRET_KEY_LEN 32

/* Initialise the library once, before any thread starts. MS_EINTERNAL if it cannot. */
enum ms_status ms_crypto_init(struct ms_error *err);

void ms_random_bytes(void *out, size_t n);

void ms_sha256(const void *data, size_t n, uint8_t out[MS_SHA256_LEN]);
/* Lowercase hex of SHA-256 into out[65]. */
void ms_sha256_hex(const void *data, size_t n, char out[MS_SHA256_HEX_LEN + 1]);

void ms_hmac_sha256(const uint8_t key[MS_SECRET_KEY_LEN], const void *data, size_t n,
                    uint8_t out[MS_SHA256_LEN]);

/* HMAC-SHA256 with a key of any length (webhook signatures with a user-chosen secret). */
void ms_hmac_sha256_any(const void *key, size_t key_len, const void *data, size_t n,
                        uint8_t out[MS_SHA256_LEN]);

/* Constant-time equality of two n-byte regions. */
bool ms_const_eq(const void *a, const void *b, size_t n);

/* 128-bit XXH3 of data (row and key hashes). */
struct ms_hash128 {
    uint64_t lo, hi;
};
struct ms_hash128 ms_xxh3_128(const void *data, size_t n);
uint64_t ms_xxh3_64(const void *data, size_t n);

/* Encoded length (without NUL) for n input bytes. */
size_t ms_b64url_len(size_t n);
/* URL-safe base64 without padding into out (room for ms_b64url_len(n) + 1). */
void ms_b64url_encode(const void *data, size_t n, char *out);
/*
 * Decode URL-safe base64, with or without '=' padding, into out (room for in_len * 3 / 4 + 1).
 * MS_EINVAL on any other character.
 */
enum ms_status ms_b64url_decode(const char *in, size_t in_len, uint8_t *out, size_t *out_len);
/* Decode standard base64 (RFC 4648 §4), padding optional (HTTP Basic). */
enum ms_status ms_b64_decode(const char *in, size_t in_len, uint8_t *out, size_t *out_len);
/* Standard base64 with padding (for tests and clients). out: room for 4*((n+2)/3) + 1. */
void ms_b64_encode(const void *data, size_t n, char *out);

/*
 * Seal plaintext with key: returns a new string "v1:<b64url(nonce || ciphertext)>" (caller
 * frees). Unseal reverses it; MS_EINVAL when the text was not sealed with this key or was
 * altered. *plain_out is a new NUL-terminated string the caller frees.
 */
char *ms_seal(const uint8_t key[MS_SECRET_KEY_LEN], const char *plaintext);
enum ms_status ms_unseal(const uint8_t key[MS_SECRET_KEY_LEN], const char *sealed, char **plain_out,
                         struct ms_error *err);
bool ms_is_sealed(const char *s);

/* Lowercase hex encoding of n bytes into out (room for 2n + 1). */
void ms_hex(const void *data, size_t n, char *out);
enum ms_status ms_unhex(const char *in, size_t in_len, uint8_t *out, size_t out_cap,
                        size_t *out_len);

#endif
