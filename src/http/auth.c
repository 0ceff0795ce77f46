/*
 * auth.c: the Authorization header → the caller (API.md §2.2, DECISIONS.md D1). Both schemes
 * reduce to one credential string whose SHA-256 is looked up in the store; the stored key's
 * class (user or organization) decides the actor, whatever the scheme. Every failure is the
 * same generic 401 so a client cannot probe which part was wrong. Called on MHD pool threads;
 * uses only the request and its thread's store handle. The credential never reaches a log.
 */
#include "http/http_int.h"

#include <string.h>

#include "core/crypto.h"
#include "core/str.h"

/* Longest base64 text that can decode to "<cred>:<cred>" with both at MS_HTTP_MAX_CRED. */
#define AUTH_MAX_B64 (4 * ((2 * MS_HTTP_MAX_CRED + 1 + 2) / 3))

static bool
auth_is_space(char c)
{
    return c == ' ' || c == '\t';
}

static struct ms_str
auth_trim(struct ms_str s)
{
    while (s.len > 0 && auth_is_space(s.p[0])) {
        s.p++;
        s.len--;
    }
    while (s.len > 0 && auth_is_space(s.p[s.len - 1]))
        s.len--;
    return s;
}

/* The credential must be printable ASCII: keys are, and it keeps garbage out of the hash. */
static enum ms_status
auth_take(const char *p, size_t n, char *cred, size_t *len, struct ms_error *err)
{
    if (n == 0 || n > MS_HTTP_MAX_CRED)
        return ms_fail(err, MS_EAUTH, "invalid credentials");
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)p[i] <= 0x20 || (unsigned char)p[i] >= 0x7f)
            return ms_fail(err, MS_EAUTH, "invalid credentials");
    memcpy(cred, p, n);
    cred[n] = '\0';
    *len = n;
    return MS_OK;
}

/* "Basic base64(user:password)", padding optional; split at the first ':' (D1). */
static enum ms_status
auth_basic(struct ms_str b64, char *cred, size_t *len, struct ms_error *err)
{
    uint8_t raw[AUTH_MAX_B64 * 3 / 4 + 1];
    size_t n, ulen, plen;
    const char *user, *pass, *colon;

    if (b64.len == 0 || b64.len > AUTH_MAX_B64 || ms_b64_decode(b64.p, b64.len, raw, &n) != MS_OK)
        return ms_fail(err, MS_EAUTH, "malformed Basic credentials");
    user = (const char *)raw;
    colon = memchr(user, ':', n);
    if (colon == NULL)
        return ms_fail(err, MS_EAUTH, "malformed Basic credentials");
    ulen = (size_t)(colon - user);
    pass = colon + 1;
    plen = n - ulen - 1;
    if (ulen == 0)
        return auth_take(pass, plen, cred, len, err);
    if (plen > 0 && (plen != ulen || memcmp(user, pass, ulen) != 0))
        return ms_fail(err, MS_EAUTH, "Basic password must be empty or equal to the key");
    return auth_take(user, ulen, cred, len, err);
}

enum ms_status
ms_http_auth_credential(const char *header, char cred[MS_HTTP_MAX_CRED + 1], size_t *len,
                        struct ms_error *err)
{
    struct ms_str h, scheme, rest;
    size_t i = 0;

    if (header == NULL)
        return ms_fail(err, MS_EAUTH, "missing credentials: send Authorization: Bearer <key>");
    h = auth_trim(ms_str_c(header));
    while (i < h.len && !auth_is_space(h.p[i]))
        i++;
    scheme = (struct ms_str){h.p, i};
    rest = auth_trim((struct ms_str){h.p + i, h.len - i});
    if (ms_str_casec(scheme, "bearer"))
        return auth_take(rest.p, rest.len, cred, len, err);
    if (ms_str_casec(scheme, "basic"))
        return auth_basic(rest, cred, len, err);
    if (h.len == 0)
        return ms_fail(err, MS_EAUTH, "missing credentials: send Authorization: Bearer <key>");
    return ms_fail(err, MS_EAUTH, "unsupported authorization scheme (use Bearer or Basic)");
}

enum ms_status
ms_http_auth(struct ms_req *req, const char *header, struct ms_error *err)
{
    char cred[MS_HTTP_MAX_CRED + 1];
    char hash[MS_SHA256_HEX_LEN + 1];
    size_t len;
    enum ms_status st;

    st = ms_http_auth_credential(header, cred, &len, err);
    if (st != MS_OK)
        return st;
    ms_sha256_hex(cred, len, hash);
    memset(cred, 0, sizeof(cred));
    memset(&req->auth, 0, sizeof(req->auth));
    st = ms_store_key_auth(req->store, req->arena, hash, &req->auth, err);
    if (st == MS_EAUTH)
        return ms_fail(err, MS_EAUTH, "invalid credentials");
    if (st != MS_OK)
        return st;
    memcpy(req->auth.cred_hash, hash, sizeof(req->auth.cred_hash));
    return MS_OK;
}
