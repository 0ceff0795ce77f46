/*
 * auth.c: the Authorization header → the caller (API.md §2.2, DECISIONS.md D1). Both schemes
 * reduce to one credential string whose SHA-256 is looked up in the store; the stored key's
 * class (user or organization) decides the actor, whatever the scheme. Every failure is the
 * same generic 401 so a client cannot probe which part was wrong. Called on the HTTP workers;
 * uses only the request, its thread's store handle and its thread's cache of recent answers
 * (below). The credential never reaches a log.
 */
#include "http/http_int.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "core/crypto.h"
#include "core/str.h"
#include "core/time.h"
#include "core/xmalloc.h"

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

/*
 * The answer cache: per HTTP worker (no lock), direct-mapped on the credential hash, entries
 * trusted for AUTH_CACHE_TTL_MS. Under load a thread sees a key many times in that window, and
 * each hit saves the store lookup with its own read transaction (about a quarter of the CPU of
 * GET /api/syncs/{id}); an occasional caller gains nothing and loses nothing. The TTL is short
 * so that `keys revoke`, which runs in another process, still takes effect "at once": within
 * 5 ms (docs/configuration.md); a renamed organization or user shows as late. Only accepted keys
 * are cached: an unknown key always reaches the store.
 */
#define AUTH_CACHE_SLOTS 64
#define AUTH_CACHE_TTL_MS 5
#define AUTH_CACHE_TEXT 384 /* org name, user email and user name, each NUL-terminated */

struct auth_cache_entry {
    const struct ms_store *store; /* the handle that answered; NULL: empty slot */
    int64_t expires_ms;           /* monotonic */
    struct ms_auth auth;          /* cred_hash is the key; the strings point into text */
    char text[AUTH_CACHE_TEXT];
};

struct auth_cache {
    struct auth_cache_entry slots[AUTH_CACHE_SLOTS];
};

static pthread_once_t auth_cache_once = PTHREAD_ONCE_INIT;
static pthread_key_t auth_cache_key;
static bool auth_cache_ok; /* false if the key could not be made: no caching */

static void
auth_cache_free(void *c)
{
    free(c);
}

static void
auth_cache_init(void)
{
    auth_cache_ok = pthread_key_create(&auth_cache_key, auth_cache_free) == 0;
}

static unsigned
auth_hex(char c)
{
    return c >= 'a' ? (unsigned)(c - 'a' + 10) : (unsigned)(c - '0');
}

/* The calling thread's slot for hash (lowercase hex), its table made on first use; or NULL. */
static struct auth_cache_entry *
auth_cache_slot(const char *hash)
{
    struct auth_cache *c;

    pthread_once(&auth_cache_once, auth_cache_init);
    if (!auth_cache_ok)
        return NULL;
    c = pthread_getspecific(auth_cache_key);
    if (c == NULL) {
        c = ms_xcalloc(1, sizeof(*c));
        if (pthread_setspecific(auth_cache_key, c) != 0) {
            free(c);
            return NULL;
        }
    }
    return &c->slots[((auth_hex(hash[0]) << 4) | auth_hex(hash[1])) % AUTH_CACHE_SLOTS];
}

/* A fresh answer of store for hash into *out (strings copied into a). */
static bool
auth_cache_get(const struct ms_store *store, const char *hash, int64_t now, struct ms_arena *a,
               struct ms_auth *out)
{
    const struct auth_cache_entry *e = auth_cache_slot(hash);

    if (e == NULL || e->store != store || now >= e->expires_ms ||
        memcmp(e->auth.cred_hash, hash, sizeof(e->auth.cred_hash)) != 0)
        return false;
    *out = e->auth;
    out->org_name = ms_arena_strdup(a, e->auth.org_name);
    out->user_email = ms_arena_strdup(a, e->auth.user_email);
    out->user_name = ms_arena_strdup(a, e->auth.user_name);
    return true;
}

/* Copy s (may be NULL) to *p, inside end; NULL when it does not fit. */
static const char *
auth_cache_str(char **p, const char *end, const char *s, bool *fits)
{
    size_t n = s != NULL ? strlen(s) + 1 : 0;
    char *at = *p;

    if (s == NULL || !*fits)
        return NULL;
    if (n > (size_t)(end - at)) {
        *fits = false;
        return NULL;
    }
    memcpy(at, s, n);
    *p = at + n;
    return at;
}

/* Remember store's answer auth (cred_hash set); strings too long for the slot: not cached. */
static void
auth_cache_put(const struct ms_store *store, const struct ms_auth *auth, int64_t now)
{
    struct auth_cache_entry *e = auth_cache_slot(auth->cred_hash);
    char *p;
    bool fits = true;

    if (e == NULL)
        return;
    e->store = NULL;
    e->auth = *auth;
    p = e->text;
    e->auth.org_name = auth_cache_str(&p, e->text + sizeof(e->text), auth->org_name, &fits);
    e->auth.user_email = auth_cache_str(&p, e->text + sizeof(e->text), auth->user_email, &fits);
    e->auth.user_name = auth_cache_str(&p, e->text + sizeof(e->text), auth->user_name, &fits);
    if (!fits)
        return;
    e->expires_ms = now + AUTH_CACHE_TTL_MS;
    e->store = store;
}

enum ms_status
ms_http_auth(struct ms_req *req, const char *header, struct ms_error *err)
{
    char cred[MS_HTTP_MAX_CRED + 1];
    char hash[MS_SHA256_HEX_LEN + 1];
    int64_t now;
    size_t len;
    enum ms_status st;

    st = ms_http_auth_credential(header, cred, &len, err);
    if (st != MS_OK)
        return st;
    ms_sha256_hex(cred, len, hash);
    memset(cred, 0, sizeof(cred));
    memset(&req->auth, 0, sizeof(req->auth));
    now = ms_time_mono_ms();
    if (auth_cache_get(req->store, hash, now, req->arena, &req->auth))
        return MS_OK;
    st = ms_store_key_auth(req->store, req->arena, hash, &req->auth, err);
    if (st == MS_EAUTH)
        return ms_fail(err, MS_EAUTH, "invalid credentials");
    if (st != MS_OK)
        return st;
    memcpy(req->auth.cred_hash, hash, sizeof(req->auth.cred_hash));
    auth_cache_put(req->store, &req->auth, now);
    return MS_OK;
}
