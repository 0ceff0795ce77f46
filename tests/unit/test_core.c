/* tests/unit/test_core.c: tests for src/core/ (arena, buf, str, uuid, time, crypto, config, log).
 */
#include <criterion/criterion.h>

#include <stdalign.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "core/arena.h"
#include "core/buf.h"
#include "core/config.h"
#include "core/crypto.h"
#include "core/error.h"
#include "core/log.h"
#include "core/str.h"
#include "core/time.h"
#include "core/uuid.h"
#include "core/xmalloc.h"

/* ---- error ---- */

Test(core_error, fail_at_names_field)
{
    struct ms_error err;

    cr_assert_eq(ms_fail_at(&err, MS_EINVAL, "schedule.frequency", "bad %d", 7), MS_EINVAL);
    cr_expect_eq(err.status, MS_EINVAL);
    cr_expect_str_eq(err.field, "schedule.frequency");
    cr_expect_str_eq(err.msg, "schedule.frequency: bad 7");
    cr_expect_null(err.key);
    cr_assert_eq(ms_fail_key(&err, MS_ECONFLICT, "execution_in_progress", "busy"), MS_ECONFLICT);
    cr_expect_str_eq(err.key, "execution_in_progress");
    cr_expect_str_eq(err.field, "", "ms_fail_key keeps nothing from before");
    cr_expect_str_eq(err.msg, "busy");
    cr_expect_eq(ms_fail(NULL, MS_EBUSY, "x"), MS_EBUSY, "err may be NULL");
    cr_expect_eq(ms_fail_at(NULL, MS_EINVAL, "f", "x"), MS_EINVAL);
    ms_error_clear(&err);
    cr_expect_eq(err.status, MS_OK);
    cr_expect_str_eq(err.msg, "");
    cr_expect_str_eq(ms_status_name(MS_EINVAL), "einval");
    cr_expect_str_eq(ms_status_name(MS_EINTERNAL), "einternal");
}

/* ---- arena ---- */

static int core_defer_log[8];
static int core_defer_n;

static void
core_defer_rec(void *arg)
{
    core_defer_log[core_defer_n++] = *(int *)arg;
}

Test(core_arena, alloc_alignment_and_big_blocks)
{
    struct ms_arena *a = ms_arena_new();

    for (size_t n = 1; n < 200; n += 7) {
        char *p = ms_arena_alloc(a, n);

        cr_assert_eq((uintptr_t)p % alignof(max_align_t), 0, "size %zu misaligned", n);
        memset(p, 0xab, n);
    }
    {
        size_t big = 100 * 1024;
        unsigned char *p = ms_arena_alloc(a, big);
        unsigned char *q = ms_arena_zalloc(a, 64);

        cr_assert_eq((uintptr_t)p % alignof(max_align_t), 0);
        memset(p, 1, big);
        for (int i = 0; i < 64; i++)
            cr_assert_eq(q[i], 0);
    }
    cr_expect_geq(ms_arena_used(a), 100 * 1024);
    ms_arena_free(a);
    ms_arena_free(NULL);
}

Test(core_arena, strings)
{
    struct ms_arena *a = ms_arena_new();

    cr_expect_str_eq(ms_arena_strdup(a, "hello"), "hello");
    cr_expect_null(ms_arena_strdup(a, NULL));
    cr_expect_str_eq(ms_arena_strndup(a, "hello", 3), "hel");
    cr_expect_str_eq(ms_arena_strndup(a, "hi", 10), "hi");
    cr_expect_str_eq(ms_arena_printf(a, "%s-%d", "x", 42), "x-42");
    ms_arena_free(a);
}

Test(core_arena, defers_newest_first_on_reset_and_free)
{
    struct ms_arena *a = ms_arena_new();
    int one = 1, two = 2, three = 3;

    core_defer_n = 0;
    ms_arena_defer(a, core_defer_rec, &one);
    ms_arena_defer(a, core_defer_rec, &two);
    ms_arena_reset(a);
    cr_assert_eq(core_defer_n, 2);
    cr_expect_eq(core_defer_log[0], 2);
    cr_expect_eq(core_defer_log[1], 1);
    ms_arena_reset(a);
    cr_expect_eq(core_defer_n, 2, "defers run once");
    ms_arena_defer(a, core_defer_rec, &three);
    ms_arena_defer(a, core_defer_rec, &one);
    ms_arena_free(a);
    cr_assert_eq(core_defer_n, 4);
    cr_expect_eq(core_defer_log[2], 1);
    cr_expect_eq(core_defer_log[3], 3);
}

Test(core_arena, reset_reuses_first_block)
{
    struct ms_arena *a = ms_arena_new();
    void *first = ms_arena_alloc(a, 32);

    ms_arena_alloc(a, 64 * 1024);
    cr_expect_gt(ms_arena_used(a), 64 * 1024);
    ms_arena_reset(a);
    cr_expect_eq(ms_arena_used(a), 0);
    cr_expect_eq(ms_arena_alloc(a, 32), first, "reset rewinds the first block");
    ms_arena_free(a);
}

/* ---- buf ---- */

Test(core_buf, cap_refusal_leaves_buffer_unchanged)
{
    struct ms_buf b;
    const char *p;

    ms_buf_init(&b, 8);
    cr_expect_str_eq(ms_buf_str(&b), "");
    cr_assert_eq(ms_buf_adds(&b, "abcde"), MS_OK);
    p = b.p;
    cr_expect_eq(ms_buf_adds(&b, "fghi"), MS_ETOOBIG);
    cr_expect_eq(b.len, 5);
    cr_expect_eq(b.p, p);
    cr_expect_str_eq(ms_buf_str(&b), "abcde");
    cr_expect_eq(ms_buf_addf(&b, "%d", 1234), MS_ETOOBIG);
    cr_expect_str_eq(ms_buf_str(&b), "abcde");
    cr_expect_eq(ms_buf_addf(&b, "%d", 123), MS_OK);
    cr_expect_str_eq(ms_buf_str(&b), "abcde123");
    cr_expect_eq(ms_buf_addc(&b, 'x'), MS_ETOOBIG);
    cr_expect_eq(b.len, 8);
    ms_buf_release(&b);
}

Test(core_buf, nul_termination_and_take)
{
    struct ms_buf b;
    size_t len = 99;
    char *s;

    ms_buf_init(&b, 1 << 20);
    for (int i = 0; i < 1000; i++) {
        cr_assert_eq(ms_buf_add(&b, "0123456789", 10), MS_OK);
        cr_assert_eq(b.p[b.len], '\0');
    }
    cr_expect_eq(b.len, 10000);
    ms_buf_reset(&b);
    cr_expect_eq(b.len, 0);
    cr_expect_str_eq(ms_buf_str(&b), "");
    ms_buf_add(&b, "a\0b", 3);
    s = ms_buf_take(&b, &len);
    cr_expect_eq(len, 3);
    cr_expect_eq(memcmp(s, "a\0b", 4), 0);
    cr_expect_null(b.p);
    cr_expect_eq(b.len, 0);
    free(s);
    s = ms_buf_take(&b, &len);
    cr_expect_str_eq(s, "", "empty take gives \"\"");
    cr_expect_eq(len, 0);
    free(s);
    ms_buf_release_cb(&b);
}

/* ---- str ---- */

static enum ms_status
core_pct(const char *in, bool form, char *out)
{
    size_t n = 0;

    return ms_str_pct_decode(ms_str_c(in), form, out, &n);
}

Test(core_str, pct_decode)
{
    char out[64];
    size_t n;

    cr_assert_eq(core_pct("a%20b%2Fc%2f", false, out), MS_OK);
    cr_expect_str_eq(out, "a b/c/");
    cr_assert_eq(core_pct("a+b", false, out), MS_OK);
    cr_expect_str_eq(out, "a+b", "'+' stays outside form mode");
    cr_assert_eq(core_pct("a+b%2B", true, out), MS_OK);
    cr_expect_str_eq(out, "a b+");
    cr_assert_eq(ms_str_pct_decode((struct ms_str){"abc%41", 6}, false, out, &n), MS_OK);
    cr_expect_eq(n, 4);
    cr_expect_str_eq(out, "abcA");
    cr_assert_eq(ms_str_pct_decode((struct ms_str){"ab%41zz", 5}, false, out, &n), MS_OK,
                 "the view ends before the NUL");
    cr_expect_str_eq(out, "abA");
    cr_expect_eq(core_pct("%", false, out), MS_EINVAL);
    cr_expect_eq(core_pct("%4", false, out), MS_EINVAL);
    cr_expect_eq(core_pct("%zz", false, out), MS_EINVAL);
    cr_expect_eq(core_pct("%4g", false, out), MS_EINVAL);
    cr_expect_eq(core_pct("a%00b", false, out), MS_EINVAL, "decoded NUL refused");
    cr_expect_eq(ms_str_pct_decode((struct ms_str){"ab%4", 3}, false, out, &n), MS_EINVAL,
                 "escape truncated by the view");
}

Test(core_str, to_i64)
{
    int64_t v = 7;

    cr_assert_eq(ms_str_to_i64(MS_STR("0"), &v), MS_OK);
    cr_expect_eq(v, 0);
    cr_assert_eq(ms_str_to_i64(MS_STR("-42"), &v), MS_OK);
    cr_expect_eq(v, -42);
    cr_assert_eq(ms_str_to_i64(MS_STR("9223372036854775807"), &v), MS_OK);
    cr_expect_eq(v, INT64_MAX);
    cr_assert_eq(ms_str_to_i64(MS_STR("-9223372036854775808"), &v), MS_OK);
    cr_expect_eq(v, INT64_MIN);
    v = 7;
    cr_expect_eq(ms_str_to_i64(MS_STR("9223372036854775808"), &v), MS_EINVAL);
    cr_expect_eq(ms_str_to_i64(MS_STR("-9223372036854775809"), &v), MS_EINVAL);
    cr_expect_eq(ms_str_to_i64(MS_STR("99999999999999999999"), &v), MS_EINVAL);
    cr_expect_eq(ms_str_to_i64(MS_STR(""), &v), MS_EINVAL);
    cr_expect_eq(ms_str_to_i64(MS_STR("-"), &v), MS_EINVAL);
    cr_expect_eq(ms_str_to_i64(MS_STR("+1"), &v), MS_EINVAL);
    cr_expect_eq(ms_str_to_i64(MS_STR(" 1"), &v), MS_EINVAL);
    cr_expect_eq(ms_str_to_i64(MS_STR("1x"), &v), MS_EINVAL);
    cr_expect_eq(ms_str_to_i64(MS_STR("1.0"), &v), MS_EINVAL);
    cr_expect_eq(v, 7, "output untouched on failure");
    cr_assert_eq(ms_str_to_i64((struct ms_str){"123abc", 3}, &v), MS_OK);
    cr_expect_eq(v, 123);
}

Test(core_str, compare)
{
    char s[] = "HeLLo";

    cr_expect(ms_str_eqc(MS_STR("abc"), "abc"));
    cr_expect_not(ms_str_eqc(MS_STR("abc"), "abcd"));
    cr_expect(ms_str_casec(MS_STR("Content-Type"), "content-type"));
    cr_expect_not(ms_str_casec(MS_STR("Content-Typ"), "content-type"));
    cr_expect(ms_str_prefix(MS_STR("/api/syncs"), "/api/"));
    cr_expect_not(ms_str_prefix(MS_STR("/ap"), "/api/"));
    cr_expect_eq(ms_str_c(NULL).len, 0);
    ms_str_lower(s);
    cr_expect_str_eq(s, "hello");
}

/* ---- uuid ---- */

Test(core_uuid, new_valid_norm)
{
    char a[MS_UUID_LEN + 1], b[MS_UUID_LEN + 1], n[MS_UUID_LEN + 1];

    cr_assert_eq(ms_crypto_init(NULL), MS_OK);
    ms_uuid_new(a);
    ms_uuid_new(b);
    cr_expect_eq(strlen(a), MS_UUID_LEN);
    cr_expect(ms_uuid_valid(a, strlen(a)));
    cr_expect_str_neq(a, b);
    cr_expect_eq(a[14], '4', "version 4");
    cr_expect(strchr("89ab", a[19]) != NULL, "RFC 4122 variant");
    for (int i = 0; i < MS_UUID_LEN; i++)
        cr_expect(a[i] == '-' || (a[i] >= '0' && a[i] <= '9') || (a[i] >= 'a' && a[i] <= 'f'));

    cr_expect(ms_uuid_valid("0D4A6F3E-1234-4ABC-8DEF-0123456789AB", MS_UUID_LEN));
    cr_expect_not(ms_uuid_valid("0d4a6f3e-1234-4abc-8def-0123456789a", 35));
    cr_expect_not(ms_uuid_valid("0d4a6f3e-1234-4abc-8def-0123456789ag", MS_UUID_LEN));
    cr_expect_not(ms_uuid_valid("0d4a6f3e1234-4abc-8def-0123456789abc", MS_UUID_LEN));
    cr_expect_not(ms_uuid_valid(NULL, 0));

    cr_assert(ms_uuid_norm("0D4A6F3E-1234-4ABC-8DEF-0123456789AB", n));
    cr_expect_str_eq(n, "0d4a6f3e-1234-4abc-8def-0123456789ab");
    cr_expect_not(ms_uuid_norm("0d4a6f3e-1234-4abc-8def-0123456789ab0", n), "too long");
    cr_expect_not(ms_uuid_norm("nope", n));
    cr_expect_not(ms_uuid_norm(NULL, n));
}

/* ---- time ---- */

Test(core_time, format_parse_round_trip)
{
    char s[MS_TIME_LEN];
    int64_t ms = 0;

    ms_time_format(1705311000123, s);
    cr_expect_str_eq(s, "2024-01-15T09:30:00.123Z");
    cr_assert_eq(ms_time_parse(s, &ms), MS_OK);
    cr_expect_eq(ms, 1705311000123);
    ms_time_format(0, s);
    cr_expect_str_eq(s, "1970-01-01T00:00:00.000Z");
    ms_time_format(-1, s);
    cr_expect_str_eq(s, "1969-12-31T23:59:59.999Z");
    cr_assert_eq(ms_time_parse(s, &ms), MS_OK);
    cr_expect_eq(ms, -1);
    {
        int64_t now = ms_time_now_ms();

        ms_time_format(now, s);
        cr_assert_eq(ms_time_parse(s, &ms), MS_OK);
        cr_expect_eq(ms, now);
    }
    cr_expect_gt(ms_time_mono_ms(), 0);
}

Test(core_time, offsets_and_fractions)
{
    int64_t ms = 0;

    cr_assert_eq(ms_time_parse("2024-01-15T10:30:00.123+01:00", &ms), MS_OK);
    cr_expect_eq(ms, 1705311000123);
    cr_assert_eq(ms_time_parse("2024-01-15T04:00:00-05:30", &ms), MS_OK);
    cr_expect_eq(ms, 1705311000000);
    cr_assert_eq(ms_time_parse("2024-01-15t09:30:00.123456z", &ms), MS_OK);
    cr_expect_eq(ms, 1705311000123, "extra fraction digits truncated");
    cr_assert_eq(ms_time_parse("2024-01-15T09:30:00.5Z", &ms), MS_OK);
    cr_expect_eq(ms, 1705311000500);
    cr_assert_eq(ms_time_parse("2024-01-15T09:30:00Z", &ms), MS_OK);
    cr_expect_eq(ms, 1705311000000);
    cr_assert_eq(ms_time_parse("2024-02-29T00:00:00Z", &ms), MS_OK, "leap day");
}

Test(core_time, invalid)
{
    static const char *const bad[] = {
        "",
        "2024-01-15",
        "2024-01-15T09:30:00",
        "2024-01-15 09:30:00Z",
        "2024-01-15T09:30:00.Z",
        "2024-01-15T24:00:00Z",
        "2024-13-01T00:00:00Z",
        "2023-02-29T00:00:00Z",
        "2024-01-32T00:00:00Z",
        "2024-01-15T09:30:00+0100",
        "2024-01-15T09:30:00Zjunk",
        "24-01-15T09:30:00Z",
        "2024-01-15T09:60:00Z",
        "2024-01-15T09:30:00+24:00",
    };
    int64_t ms = 42;

    for (size_t i = 0; i < MS_ARRAY_LEN(bad); i++)
        cr_expect_eq(ms_time_parse(bad[i], &ms), MS_EINVAL, "accepted \"%s\"", bad[i]);
    cr_expect_eq(ms_time_parse(NULL, &ms), MS_EINVAL);
    cr_expect_eq(ms, 42);
}

/* ---- crypto ---- */

static void
core_hexeq(const uint8_t *got, size_t n, const char *want)
{
    char hex[2 * 64 + 1];

    ms_hex(got, n, hex);
    cr_expect_str_eq(hex, want);
}

Test(core_crypto, sha256_and_hmac_vectors)
{
    uint8_t out[MS_SHA256_LEN], key[MS_SECRET_KEY_LEN], big[131];
    char hex[MS_SHA256_HEX_LEN + 1];

    cr_assert_eq(ms_crypto_init(NULL), MS_OK);
    ms_sha256_hex("abc", 3, hex);
    cr_expect_str_eq(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    ms_sha256_hex("", 0, hex);
    cr_expect_str_eq(hex, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    ms_sha256("abc", 3, out);
    core_hexeq(out, sizeof(out),
               "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");

    /* RFC 4231 test cases 2 and 6 (key shorter than, and longer than, the block). */
    ms_hmac_sha256_any("Jefe", 4, "what do ya want for nothing?", 28, out);
    core_hexeq(out, sizeof(out),
               "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
    memset(big, 0xaa, sizeof(big));
    ms_hmac_sha256_any(big, sizeof(big), "Test Using Larger Than Block-Size Key - Hash Key First",
                       54, out);
    core_hexeq(out, sizeof(out),
               "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54");

    for (int i = 0; i < MS_SECRET_KEY_LEN; i++)
        key[i] = (uint8_t)i;
    ms_hmac_sha256(key, "modelsync", 9, out);
    core_hexeq(out, sizeof(out),
               "cb89daac85af005c3808650c15269bc013ff8d1891274c7eae139c3149963e1b");
}

Test(core_crypto, const_eq_and_xxh3)
{
    struct ms_hash128 a = ms_xxh3_128("row", 3), b = ms_xxh3_128("row", 3);
    struct ms_hash128 c = ms_xxh3_128("rox", 3);

    cr_expect(ms_const_eq("abcd", "abcd", 4));
    cr_expect_not(ms_const_eq("abcd", "abce", 4));
    cr_expect(ms_const_eq("x", "y", 0));
    cr_expect(a.lo == b.lo && a.hi == b.hi);
    cr_expect(a.lo != c.lo || a.hi != c.hi);
    cr_expect_eq(ms_xxh3_64("", 0), UINT64_C(0x2D06800538D394C2), "XXH3_64bits of empty input");
    cr_expect_eq(ms_xxh3_64("row", 3), ms_xxh3_64("row", 3));
}

Test(core_crypto, base64)
{
    uint8_t out[64];
    size_t n = 0;
    char enc[64];
    const uint8_t bin[] = {0xfb, 0xff, 0xfe};

    cr_expect_eq(ms_b64url_len(3), 4);
    cr_expect_eq(ms_b64url_len(2), 3);
    cr_expect_eq(ms_b64url_len(0), 0);
    ms_b64url_encode(bin, 3, enc);
    cr_expect_str_eq(enc, "-__-");
    ms_b64url_encode("foob", 4, enc);
    cr_expect_str_eq(enc, "Zm9vYg", "no padding");
    cr_assert_eq(ms_b64url_decode("Zm9vYg", 6, out, &n), MS_OK);
    cr_expect_eq(n, 4);
    cr_expect_eq(memcmp(out, "foob", 4), 0);
    cr_assert_eq(ms_b64url_decode("Zm9vYg==", 8, out, &n), MS_OK, "padding accepted");
    cr_expect_eq(n, 4);
    cr_assert_eq(ms_b64url_decode("-__-", 4, out, &n), MS_OK);
    cr_expect_eq(memcmp(out, bin, 3), 0);
    cr_assert_eq(ms_b64url_decode("", 0, out, &n), MS_OK);
    cr_expect_eq(n, 0);
    cr_expect_eq(ms_b64url_decode("+/8=", 4, out, &n), MS_EINVAL, "standard alphabet refused");
    cr_expect_eq(ms_b64url_decode("Zm9v Yg", 7, out, &n), MS_EINVAL);
    cr_expect_eq(ms_b64url_decode("Zm9vY", 5, out, &n), MS_EINVAL, "impossible length");
    cr_expect_eq(ms_b64url_decode("Zm9vYg===", 9, out, &n), MS_EINVAL);
    cr_expect_eq(ms_b64url_decode("Zm=9", 4, out, &n), MS_EINVAL);
    cr_expect_eq(ms_b64url_decode("Zm9vYh", 6, out, &n), MS_EINVAL, "non-zero trailing bits");

    ms_b64_encode(bin, 2, enc);
    cr_expect_str_eq(enc, "+/8=");
    ms_b64_encode("user:pass", 9, enc);
    cr_expect_str_eq(enc, "dXNlcjpwYXNz");
    cr_assert_eq(ms_b64_decode("+/8=", 4, out, &n), MS_OK);
    cr_expect_eq(n, 2);
    cr_expect_eq(memcmp(out, bin, 2), 0);
    cr_assert_eq(ms_b64_decode("+/8", 3, out, &n), MS_OK);
    cr_expect_eq(ms_b64_decode("-_8", 3, out, &n), MS_EINVAL, "URL alphabet refused");
    cr_expect_eq(ms_b64_decode("dXNl*jpw", 8, out, &n), MS_EINVAL);
}

Test(core_crypto, hex)
{
    uint8_t out[4];
    size_t n = 0;
    char hex[9];

    ms_hex("\x01\xab\xff", 3, hex);
    cr_expect_str_eq(hex, "01abff");
    cr_assert_eq(ms_unhex("01ABff", 6, out, sizeof(out), &n), MS_OK);
    cr_expect_eq(n, 3);
    cr_expect_eq(memcmp(out, "\x01\xab\xff", 3), 0);
    cr_expect_eq(ms_unhex("0", 1, out, sizeof(out), &n), MS_EINVAL);
    cr_expect_eq(ms_unhex("0g", 2, out, sizeof(out), &n), MS_EINVAL);
    cr_expect_eq(ms_unhex("0102030405", 10, out, sizeof(out), &n), MS_ETOOBIG);
}

Test(core_crypto, seal_round_trip_tamper_wrong_key)
{
    uint8_t key[MS_SECRET_KEY_LEN], other[MS_SECRET_KEY_LEN];
    struct ms_error err;
    char *sealed, *sealed2, *plain = NULL;
    size_t len;

    cr_assert_eq(ms_crypto_init(NULL), MS_OK);
    ms_random_bytes(key, sizeof(key));
    memcpy(other, key, sizeof(key));
    other[0] ^= 1;
    sealed = ms_seal(key, "hunter2");
    sealed2 = ms_seal(key, "hunter2");
    cr_expect_eq(strncmp(sealed, "v1:", 3), 0);
    cr_expect(ms_is_sealed(sealed));
    cr_expect_str_neq(sealed, sealed2, "a fresh nonce every time");
    cr_expect_null(strstr(sealed, "hunter2"));
    cr_assert_eq(ms_unseal(key, sealed, &plain, &err), MS_OK);
    cr_expect_str_eq(plain, "hunter2");
    free(plain);
    plain = NULL;

    cr_expect_eq(ms_unseal(other, sealed, &plain, &err), MS_EINVAL, "wrong key");
    cr_expect_eq(err.status, MS_EINVAL);
    cr_expect_null(plain);

    len = strlen(sealed);
    sealed[len - 2] = sealed[len - 2] == 'A' ? 'B' : 'A';
    cr_expect_eq(ms_unseal(key, sealed, &plain, &err), MS_EINVAL, "altered");
    cr_expect_null(plain);
    cr_expect_eq(ms_unseal(key, "v1:", &plain, &err), MS_EINVAL, "too short");
    cr_expect_eq(ms_unseal(key, "plain", &plain, &err), MS_EINVAL, "not sealed");
    cr_expect_eq(ms_unseal(key, "v1:@@@@", &plain, &err), MS_EINVAL);
    cr_expect_not(ms_is_sealed("v1:abc$"));
    cr_expect_not(ms_is_sealed(NULL));

    free(sealed);
    sealed = ms_seal(key, "");
    cr_assert_eq(ms_unseal(key, sealed, &plain, NULL), MS_OK);
    cr_expect_str_eq(plain, "");
    free(plain);
    free(sealed);
    free(sealed2);
}

/* ---- config ---- */

static const char *const core_env_vars[] = {
    "MODELSYNC_DATA",   "MODELSYNC_STORE",       "MODELSYNC_LISTEN",     "MODELSYNC_WORKERS",
    "MODELSYNC_SECRET", "MODELSYNC_SECRET_FILE", "MODELSYNC_RATE_LIMIT", "MODELSYNC_HTTP_THREADS",
};

static void
core_env_clear(void)
{
    for (size_t i = 0; i < MS_ARRAY_LEN(core_env_vars); i++)
        unsetenv(core_env_vars[i]);
}

/* Load from a literal argv; argv[0] is "modelsync". */
static enum ms_status
core_load(struct ms_config *cfg, int *argc, char **argv, struct ms_error *err)
{
    return ms_config_load(cfg, argc, argv, err);
}

Test(core_config, defaults)
{
    struct ms_config cfg;
    char *argv[] = {"modelsync", "serve", NULL};
    int argc = 2;

    core_env_clear();
    cr_assert_eq(core_load(&cfg, &argc, argv, NULL), MS_OK);
    cr_expect_str_eq(cfg.data_dir, "./data");
    cr_expect_str_eq(cfg.store_url, "sqlite:./data/modelsync.db");
    cr_expect_str_eq(cfg.listen_host, "127.0.0.1");
    cr_expect_eq(cfg.listen_port, 8080);
    cr_expect_eq(cfg.workers, (int)sysconf(_SC_NPROCESSORS_ONLN) > 256
                                  ? 256
                                  : (int)sysconf(_SC_NPROCESSORS_ONLN));
    cr_expect_str_eq(cfg.secret_file, "./data/secret.key");
    cr_expect_eq(cfg.max_body_bytes, MS_MAX_BODY_BYTES);
    cr_expect_eq(cfg.rate_limit_per_min, 0);
    cr_expect_eq(cfg.http_threads, 0);
    cr_expect_eq(argc, 2);
    cr_expect_str_eq(argv[1], "serve");
    ms_config_release(&cfg);
}

Test(core_config, flags_env_and_leftovers)
{
    struct ms_config cfg;
    char *argv[] = {"modelsync", "--data", "/tmp/d1",         "serve",
                    "--org",     "acme",   "--listen=:0",     "--workers",
                    "3",         "--json", "--rate-limit=60", "--http-threads",
                    "2",         NULL};
    int argc = (int)MS_ARRAY_LEN(argv) - 1;

    core_env_clear();
    setenv("MODELSYNC_DATA", "/tmp/envdata", 1);
    setenv("MODELSYNC_WORKERS", "5", 1);
    setenv("MODELSYNC_STORE", "postgres://u@127.0.0.1/db", 1);
    cr_assert_eq(core_load(&cfg, &argc, argv, NULL), MS_OK);
    cr_expect_str_eq(cfg.data_dir, "/tmp/d1", "flags win over the environment");
    cr_expect_str_eq(cfg.store_url, "postgres://u@127.0.0.1/db");
    cr_expect_str_eq(cfg.listen_host, "127.0.0.1");
    cr_expect_eq(cfg.listen_port, 0);
    cr_expect_eq(cfg.workers, 3);
    cr_expect_eq(cfg.rate_limit_per_min, 60);
    cr_expect_eq(cfg.http_threads, 2);
    cr_expect_str_eq(cfg.secret_file, "/tmp/d1/secret.key");
    cr_assert_eq(argc, 5);
    cr_expect_str_eq(argv[1], "serve");
    cr_expect_str_eq(argv[2], "--org");
    cr_expect_str_eq(argv[3], "acme");
    cr_expect_str_eq(argv[4], "--json");
    cr_expect_null(argv[5]);
    ms_config_release(&cfg);
}

Test(core_config, env_only_and_secret)
{
    struct ms_config cfg;
    char *argv[] = {"modelsync", NULL};
    int argc = 1;

    core_env_clear();
    setenv("MODELSYNC_DATA", "/tmp/envdata", 1);
    setenv("MODELSYNC_LISTEN", "0.0.0.0:9000", 1);
    setenv("MODELSYNC_SECRET", "000102030405060708090a0b0c0d0e0f101112131415161718191A1B1C1D1E1F",
           1);
    cr_assert_eq(core_load(&cfg, &argc, argv, NULL), MS_OK);
    cr_expect_str_eq(cfg.data_dir, "/tmp/envdata");
    cr_expect_str_eq(cfg.store_url, "sqlite:/tmp/envdata/modelsync.db");
    cr_expect_str_eq(cfg.listen_host, "0.0.0.0");
    cr_expect_eq(cfg.listen_port, 9000);
    cr_expect_null(cfg.secret_file, "the key came from the environment");
    for (int i = 0; i < MS_SECRET_KEY_LEN; i++)
        cr_expect_eq(cfg.secret[i], i);
    ms_config_release(&cfg);
}

/* A bad value must fail with MS_EINVAL naming field. */
static void
core_config_bad(const char *flag, const char *value, const char *field)
{
    struct ms_config cfg;
    struct ms_error err;
    char *argv[] = {"modelsync", (char *)(uintptr_t)flag, (char *)(uintptr_t)value, NULL};
    int argc = value != NULL ? 3 : 2;

    cr_expect_eq(core_load(&cfg, &argc, argv, &err), MS_EINVAL, "%s %s accepted", flag,
                 value != NULL ? value : "");
    cr_expect_str_eq(err.field, field);
    ms_config_release(&cfg);
}

Test(core_config, bad_values)
{
    core_env_clear();
    core_config_bad("--workers", "0", "--workers");
    core_config_bad("--workers", "257", "--workers");
    core_config_bad("--workers", "two", "--workers");
    core_config_bad("--workers=", NULL, "--workers");
    core_config_bad("--listen", "8080", "--listen");
    core_config_bad("--listen", "127.0.0.1:65536", "--listen");
    core_config_bad("--listen", "127.0.0.1:", "--listen");
    core_config_bad("--rate-limit", "-1", "--rate-limit");
    core_config_bad("--store", "mysql://x", "--store");
    core_config_bad("--data", NULL, "--data");
    core_config_bad("--data=", NULL, "--data");
    core_config_bad("--http-threads", "x", "--http-threads");
}

Test(core_config, bad_env)
{
    struct ms_config cfg;
    struct ms_error err;
    char *argv[] = {"modelsync", NULL};
    int argc = 1;

    core_env_clear();
    setenv("MODELSYNC_SECRET", "abcd", 1);
    cr_expect_eq(core_load(&cfg, &argc, argv, &err), MS_EINVAL);
    cr_expect_str_eq(err.field, "MODELSYNC_SECRET");
    ms_config_release(&cfg);
}

Test(core_config, prepare_creates_and_reads_secret)
{
    char tmpl[] = "/tmp/ms_core_cfg_XXXXXX";
    char *dir = mkdtemp(tmpl);
    char data[256], flag[300], keyfile[300], cmd[600];
    struct ms_config cfg, again;
    struct ms_error err;
    struct stat sb;
    int argc = 2;

    cr_assert_not_null(dir);
    cr_assert_eq(ms_crypto_init(NULL), MS_OK);
    core_env_clear();
    snprintf(data, sizeof(data), "%s/a/b", dir);
    snprintf(flag, sizeof(flag), "--data=%s", data);
    snprintf(keyfile, sizeof(keyfile), "%s/secret.key", data);
    {
        char *argv[] = {"modelsync", flag, NULL};

        cr_assert_eq(core_load(&cfg, &argc, argv, NULL), MS_OK);
    }
    cr_assert_eq(ms_config_prepare(&cfg, &err), MS_OK, "%s", err.msg);
    cr_assert_eq(stat(data, &sb), 0);
    cr_expect(S_ISDIR(sb.st_mode));
    cr_expect_eq(sb.st_mode & 0777, 0700);
    cr_assert_eq(stat(keyfile, &sb), 0);
    cr_expect_eq(sb.st_mode & 0777, 0600);
    cr_expect_eq(sb.st_size, 65);

    argc = 2;
    {
        char *argv[] = {"modelsync", flag, NULL};

        cr_assert_eq(core_load(&again, &argc, argv, NULL), MS_OK);
    }
    cr_assert_eq(ms_config_prepare(&again, &err), MS_OK, "%s", err.msg);
    cr_expect_eq(memcmp(cfg.secret, again.secret, MS_SECRET_KEY_LEN), 0, "same key reloaded");
    ms_config_release(&again);

    {
        FILE *f = fopen(keyfile, "w");

        cr_assert_not_null(f);
        fputs("not a key\n", f);
        fclose(f);
    }
    cr_expect_eq(ms_config_prepare(&cfg, &err), MS_EINVAL);
    cr_expect_not_null(strstr(err.msg, keyfile), "message names the file: %s", err.msg);
    ms_config_release(&cfg);
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    cr_expect_eq(system(cmd), 0);
}

/* ---- log ---- */

Test(core_log, json_line)
{
    char tmpl[] = "/tmp/ms_core_log_XXXXXX";
    int fd = mkstemp(tmpl);
    char line[4096];
    json_t *j;
    FILE *f;

    cr_assert_geq(fd, 0);
    cr_assert_geq(dup2(fd, STDERR_FILENO), 0);
    ms_log(MS_LOG_INFO, "request", "path", "/api/\"x\"\n\x01", "method", "GET", NULL);
    ms_log(MS_LOG_DEBUG, "dropped", NULL);
    ms_logf(MS_LOG_ERROR, "n=%d", 5);
    f = fopen(tmpl, "r");
    cr_assert_not_null(f);
    cr_assert_not_null(fgets(line, sizeof(line), f));
    cr_expect_not_null(strstr(line, "\\u0001"), "control characters as \\u00XX: %s", line);
    j = json_loads(line, 0, NULL);
    cr_assert_not_null(j, "not JSON: %s", line);
    cr_expect_str_eq(json_string_value(json_object_get(j, "level")), "info");
    cr_expect_str_eq(json_string_value(json_object_get(j, "msg")), "request");
    cr_expect_str_eq(json_string_value(json_object_get(j, "path")), "/api/\"x\"\n\x01");
    cr_expect_str_eq(json_string_value(json_object_get(j, "method")), "GET");
    cr_expect_eq(strlen(json_string_value(json_object_get(j, "ts"))), 24);
    json_decref(j);
    cr_assert_not_null(fgets(line, sizeof(line), f));
    j = json_loads(line, 0, NULL);
    cr_assert_not_null(j);
    cr_expect_str_eq(json_string_value(json_object_get(j, "level")), "error");
    cr_expect_str_eq(json_string_value(json_object_get(j, "msg")), "n=5");
    json_decref(j);
    cr_expect_null(fgets(line, sizeof(line), f), "debug is below the default level");
    fclose(f);
    close(fd);
    unlink(tmpl);
}

/* ---- xmalloc ---- */

Test(core_xmalloc, dup)
{
    char *a = ms_xstrdup("abc"), *b = ms_xstrndup("abcdef", 2), *c = ms_xcalloc(4, 4);

    cr_expect_str_eq(a, "abc");
    cr_expect_str_eq(b, "ab");
    for (int i = 0; i < 16; i++)
        cr_expect_eq(c[i], 0);
    c = ms_xrealloc(c, 1024);
    free(a);
    free(b);
    free(c);
}
