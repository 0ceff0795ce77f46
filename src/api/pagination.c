/*
 * pagination.c: page tokens (pagination.h). A token is 49 bytes, base64url without padding:
 *
 *   version (1) | sort_ms, big-endian (8) | id, UUID bytes (16) | fingerprint (8) | mac (16)
 *
 * fingerprint = SHA-256(org_id, scope) truncated; mac = HMAC-SHA256 with the deployment secret
 * over a domain label and the 33 bytes before it, truncated to 128 bits. The mac is checked in
 * constant time before anything in the token is believed; the fingerprint then tells "minted
 * for other filters" from "edited". Runs on MHD pool threads; touches only the request.
 */
#include "api/pagination.h"

#include <string.h>
#include "core/crypto.h"
#include "core/str.h"

#define PAGE_VERSION 1
#define PAGE_FP_LEN 8
#define PAGE_MAC_LEN 16
#define PAGE_BODY_LEN (1 + 8 + 16 + PAGE_FP_LEN)
#define PAGE_LEN (PAGE_BODY_LEN + PAGE_MAC_LEN)

static const char page_domain[] = "modelsync page token v1";

static void
page_fingerprint(const struct ms_req *req, const char *scope, uint8_t out[PAGE_FP_LEN])
{
    struct ms_buf b;
    uint8_t h[MS_SHA256_LEN];

    ms_buf_init(&b, MS_PAGE_TOKEN_MAX * 4);
    /* NUL separators: no org/scope pair can be spelled as another */
    (void)ms_buf_add(&b, req->auth.org_id, strlen(req->auth.org_id) + 1);
    (void)ms_buf_add(&b, scope, strlen(scope));
    ms_sha256(b.p != NULL ? b.p : "", b.len, h);
    ms_buf_release(&b);
    memcpy(out, h, PAGE_FP_LEN);
}

static void
page_mac(const struct ms_req *req, const uint8_t body[PAGE_BODY_LEN], uint8_t out[PAGE_MAC_LEN])
{
    uint8_t msg[sizeof(page_domain) + PAGE_BODY_LEN], h[MS_SHA256_LEN];

    memcpy(msg, page_domain, sizeof(page_domain));
    memcpy(msg + sizeof(page_domain), body, PAGE_BODY_LEN);
    ms_hmac_sha256(req->cfg->secret, msg, sizeof(msg), h);
    memcpy(out, h, PAGE_MAC_LEN);
}

/* The 16 bytes of a lowercase UUID, and back. */
static bool
page_uuid_bytes(const char *id, uint8_t out[16])
{
    char hex[32];
    size_t n = 0, len = 0;

    if (!ms_uuid_valid(id, strlen(id)))
        return false;
    for (const char *p = id; *p != '\0'; p++)
        if (*p != '-')
            hex[n++] = *p;
    return ms_unhex(hex, n, out, 16, &len) == MS_OK && len == 16;
}

static void
page_uuid_str(const uint8_t b[16], char out[MS_UUID_LEN + 1])
{
    char hex[33];
    size_t o = 0;

    ms_hex(b, 16, hex);
    for (size_t i = 0; i < 32; i++) {
        if (i == 8 || i == 12 || i == 16 || i == 20)
            out[o++] = '-';
        out[o++] = hex[i];
    }
    out[o] = '\0';
}

const char *
ms_page_token_mint(struct ms_req *req, const char *scope, const struct ms_page_cursor *cur)
{
    uint8_t tok[PAGE_LEN];
    uint64_t t = (uint64_t)cur->sort_ms;
    bool ok;
    char *out;

    tok[0] = PAGE_VERSION;
    for (int i = 0; i < 8; i++)
        tok[1 + i] = (uint8_t)(t >> (56 - 8 * i));
    ok = page_uuid_bytes(cur->id, tok + 9);
    MS_ASSERT(ok); /* ids come from the store: always UUIDs */
    page_fingerprint(req, scope, tok + 25);
    page_mac(req, tok, tok + PAGE_BODY_LEN);
    out = ms_arena_alloc(req->arena, ms_b64url_len(PAGE_LEN) + 1);
    ms_b64url_encode(tok, PAGE_LEN, out);
    return out;
}

/* The raw token bytes; MS_EINVAL when they cannot be a token of ours. */
static enum ms_status
page_decode(const char *token, uint8_t tok[PAGE_LEN], struct ms_error *err)
{
    char text[MS_PAGE_TOKEN_MAX + 1];
    uint8_t raw[MS_PAGE_TOKEN_MAX];
    size_t len = strlen(token), n = 0;

    if (len > MS_PAGE_TOKEN_MAX)
        return ms_fail_at(err, MS_EINVAL, "page_token", "longer than %d characters",
                          MS_PAGE_TOKEN_MAX);
    /* A client that encoded the token twice leaves "%3D" behind after one decoding. */
    if (strchr(token, '%') != NULL) {
        if (ms_str_pct_decode(ms_str_c(token), false, text, &len) != MS_OK)
            return ms_fail_at(err, MS_EINVAL, "page_token", "malformed");
        token = text;
    }
    if (ms_b64url_decode(token, len, raw, &n) != MS_OK || n != PAGE_LEN || raw[0] != PAGE_VERSION)
        return ms_fail_at(err, MS_EINVAL, "page_token",
                          "malformed; pass pagination.next_page_token back unchanged");
    memcpy(tok, raw, PAGE_LEN);
    return MS_OK;
}

enum ms_status
ms_page_token_parse(const struct ms_req *req, const char *token, const char *scope,
                    struct ms_page_cursor *cur, struct ms_error *err)
{
    uint8_t tok[PAGE_LEN], mac[PAGE_MAC_LEN], fp[PAGE_FP_LEN];
    uint64_t t = 0;
    enum ms_status st = page_decode(token, tok, err);

    if (st != MS_OK)
        return st;
    page_mac(req, tok, mac);
    if (!ms_const_eq(mac, tok + PAGE_BODY_LEN, PAGE_MAC_LEN))
        return ms_fail_at(err, MS_EINVAL, "page_token", "not issued by this server, or altered");
    page_fingerprint(req, scope, fp);
    if (memcmp(fp, tok + 25, PAGE_FP_LEN) != 0)
        return ms_fail_at(err, MS_EINVAL, "page_token",
                          "issued for other filters; repeat the first request's filters or "
                          "start again without page_token");
    for (int i = 0; i < 8; i++)
        t = (t << 8) | tok[1 + i];
    cur->sort_ms = (int64_t)t;
    page_uuid_str(tok + 9, cur->id);
    return MS_OK;
}
