/*
 * test_http_auth.c: tests for src/http/auth.c and the per-credential limits of limits.c.
 * Authorization parsing follows API.md §2.2 and DECISIONS.md D1 (Bearer and Basic in any case,
 * padding optional, password empty or equal to the key). A fake store checks what reaches the
 * key lookup and the idempotency calls: the SHA-256 of the credential, never the credential.
 */
#include <criterion/criterion.h>
#include <string.h>
#include <time.h>

#include "core/arena.h"
#include "core/crypto.h"
#include "http/http_int.h"

#define TAU_KEY "msk_live_0123456789abcdef"

static enum ms_status
tau_cred(const char *header, char *out)
{
    size_t len = 0;
    struct ms_error err;
    enum ms_status st = ms_http_auth_credential(header, out, &len, &err);

    if (st == MS_OK)
        cr_expect_eq(len, strlen(out));
    return st;
}

/* "Basic " + base64(text), optionally with the '=' padding stripped. */
static void
tau_basic(const char *text, bool strip_padding, char *out)
{
    size_t n;

    strcpy(out, "Basic ");
    ms_b64_encode(text, strlen(text), out + 6);
    n = strlen(out);
    while (strip_padding && out[n - 1] == '=')
        out[--n] = '\0';
}

Test(http_auth, bearer_any_case)
{
    char cred[MS_HTTP_MAX_CRED + 1];

    cr_assert_eq(tau_cred("Bearer " TAU_KEY, cred), MS_OK);
    cr_expect_str_eq(cred, TAU_KEY);
    cr_assert_eq(tau_cred("bearer " TAU_KEY, cred), MS_OK);
    cr_expect_str_eq(cred, TAU_KEY);
    cr_assert_eq(tau_cred("  BEARER \t" TAU_KEY "  ", cred), MS_OK);
    cr_expect_str_eq(cred, TAU_KEY);
}

Test(http_auth, bearer_garbage_is_refused)
{
    char cred[MS_HTTP_MAX_CRED + 1];
    char big[MS_HTTP_MAX_CRED + 16];

    cr_expect_eq(tau_cred("Bearer", cred), MS_EAUTH);
    cr_expect_eq(tau_cred("Bearer ", cred), MS_EAUTH);
    cr_expect_eq(tau_cred("Bearer two words", cred), MS_EAUTH);
    cr_expect_eq(tau_cred("Token " TAU_KEY, cred), MS_EAUTH);
    cr_expect_eq(tau_cred(TAU_KEY, cred), MS_EAUTH);
    strcpy(big, "Bearer ");
    memset(big + 7, 'k', MS_HTTP_MAX_CRED + 1);
    big[7 + MS_HTTP_MAX_CRED + 1] = '\0';
    cr_expect_eq(tau_cred(big, cred), MS_EAUTH, "credentials over the cap are refused");
    big[7 + MS_HTTP_MAX_CRED] = '\0';
    cr_expect_eq(tau_cred(big, cred), MS_OK, "exactly at the cap is fine");
}

Test(http_auth, empty_or_missing_is_refused)
{
    char cred[MS_HTTP_MAX_CRED + 1];

    cr_expect_eq(tau_cred(NULL, cred), MS_EAUTH);
    cr_expect_eq(tau_cred("", cred), MS_EAUTH);
    cr_expect_eq(tau_cred("   ", cred), MS_EAUTH);
}

Test(http_auth, basic_key_as_user_or_password)
{
    char cred[MS_HTTP_MAX_CRED + 1], h[256];

    tau_basic(TAU_KEY ":", false, h);
    cr_assert_eq(tau_cred(h, cred), MS_OK);
    cr_expect_str_eq(cred, TAU_KEY);
    tau_basic(":" TAU_KEY, false, h);
    cr_assert_eq(tau_cred(h, cred), MS_OK);
    cr_expect_str_eq(cred, TAU_KEY);
    tau_basic(TAU_KEY ":" TAU_KEY, false, h);
    cr_assert_eq(tau_cred(h, cred), MS_OK);
    cr_expect_str_eq(cred, TAU_KEY);
    h[0] = 'b'; /* scheme in any case */
    cr_assert_eq(tau_cred(h, cred), MS_OK);
}

Test(http_auth, basic_missing_padding_accepted)
{
    char cred[MS_HTTP_MAX_CRED + 1], h[256];

    tau_basic("abcd:", false, h); /* 5 bytes: base64 ends in "=" */
    cr_assert(strchr(h, '=') != NULL);
    tau_basic("abcd:", true, h);
    cr_assert(strchr(h, '=') == NULL);
    cr_assert_eq(tau_cred(h, cred), MS_OK);
    cr_expect_str_eq(cred, "abcd");
}

Test(http_auth, basic_contradictions_and_garbage_are_refused)
{
    char cred[MS_HTTP_MAX_CRED + 1], h[256];

    tau_basic(TAU_KEY ":other", false, h);
    cr_expect_eq(tau_cred(h, cred), MS_EAUTH, "password must be empty or equal the key");
    tau_basic(TAU_KEY, false, h);
    cr_expect_eq(tau_cred(h, cred), MS_EAUTH, "no colon");
    tau_basic(":", false, h);
    cr_expect_eq(tau_cred(h, cred), MS_EAUTH, "both empty");
    tau_basic("a b:", false, h);
    cr_expect_eq(tau_cred(h, cred), MS_EAUTH, "control or space in the key");
    cr_expect_eq(tau_cred("Basic !!!notbase64", cred), MS_EAUTH);
    cr_expect_eq(tau_cred("Basic a", cred), MS_EAUTH);
    cr_expect_eq(tau_cred("Basic ", cred), MS_EAUTH);
    cr_expect_eq(tau_cred("Basic", cred), MS_EAUTH);
}

/* ---- ms_http_auth and idempotency against a fake store ---- */

struct tau_store {
    struct ms_store base; /* must be first */
    char seen_hash[MS_SHA256_HEX_LEN + 1];
    enum ms_idem_state idem_state;
    char idem_req_hash[MS_SHA256_HEX_LEN + 1];
    int finished_status;
    char finished_body[64];
};

static enum ms_status
tau_key_auth(struct ms_store *s, struct ms_arena *a, const char *hash_hex, struct ms_auth *out,
             struct ms_error *err)
{
    struct tau_store *t = (struct tau_store *)s;
    char want[MS_SHA256_HEX_LEN + 1];

    (void)a;
    snprintf(t->seen_hash, sizeof(t->seen_hash), "%s", hash_hex);
    ms_sha256_hex(TAU_KEY, strlen(TAU_KEY), want);
    if (strcmp(hash_hex, want) != 0)
        return ms_fail(err, MS_EAUTH, "unknown key");
    memset(out, 0, sizeof(*out));
    out->kind = MS_ACTOR_ORGANIZATION;
    strcpy(out->key_id, "11111111-1111-4111-8111-111111111111");
    strcpy(out->org_id, "22222222-2222-4222-8222-222222222222");
    return MS_OK;
}

static enum ms_status
tau_idem_begin(struct ms_store *s, struct ms_arena *a, const char *org_id, const char *cred_hash,
               const char *key, const char *req_hash, int64_t now, enum ms_idem_state *state,
               struct ms_idem_response *resp, struct ms_error *err)
{
    struct tau_store *t = (struct tau_store *)s;

    (void)a;
    (void)org_id;
    (void)cred_hash;
    (void)key;
    (void)now;
    (void)err;
    snprintf(t->idem_req_hash, sizeof(t->idem_req_hash), "%s", req_hash);
    *state = t->idem_state;
    if (*state == MS_IDEM_DONE) {
        resp->http_status = 201;
        resp->body = "{\"data\":1}";
        resp->body_len = strlen(resp->body);
    }
    return MS_OK;
}

static enum ms_status
tau_idem_finish(struct ms_store *s, const char *org_id, const char *cred_hash, const char *key,
                int http_status, const char *body, size_t body_len, int64_t now,
                struct ms_error *err)
{
    struct tau_store *t = (struct tau_store *)s;

    (void)org_id;
    (void)cred_hash;
    (void)key;
    (void)now;
    (void)err;
    t->finished_status = http_status;
    snprintf(t->finished_body, sizeof(t->finished_body), "%.*s", (int)body_len, body);
    return MS_OK;
}

static enum ms_status
tau_idem_purge(struct ms_store *s, int64_t now, struct ms_error *err)
{
    (void)s;
    (void)now;
    (void)err;
    return MS_OK;
}

static const struct ms_store_ops tau_ops = {
    .name = "fake",
    .key_auth = tau_key_auth,
    .idem_begin = tau_idem_begin,
    .idem_finish = tau_idem_finish,
    .idem_purge = tau_idem_purge,
};

static void
tau_req(struct ms_req *req, struct tau_store *st)
{
    memset(st, 0, sizeof(*st));
    st->base.ops = &tau_ops;
    memset(req, 0, sizeof(*req));
    req->arena = ms_arena_new();
    req->store = &st->base;
    req->method = "POST";
    req->path = "/api/syncs";
    req->request_id = "r-test";
    ms_buf_init(&req->body, 1024);
    ms_buf_adds(&req->body, "{\"a\":1}");
}

static void
tau_req_release(struct ms_req *req)
{
    ms_buf_release(&req->body);
    ms_arena_free(req->arena);
}

Test(http_auth, store_sees_the_hash_and_decides_the_actor)
{
    struct tau_store st;
    struct ms_req req;
    char want[MS_SHA256_HEX_LEN + 1], h[256];

    tau_req(&req, &st);
    ms_sha256_hex(TAU_KEY, strlen(TAU_KEY), want);
    cr_assert_eq(ms_http_auth(&req, "Bearer " TAU_KEY, NULL), MS_OK);
    cr_expect_str_eq(st.seen_hash, want);
    cr_expect_str_eq(req.auth.cred_hash, want);
    cr_expect_eq(req.auth.kind, MS_ACTOR_ORGANIZATION, "the stored class wins over the scheme");
    tau_basic(TAU_KEY ":", false, h);
    cr_assert_eq(ms_http_auth(&req, h, NULL), MS_OK);
    cr_expect_str_eq(req.auth.cred_hash, want, "same key, same scope, whatever the scheme");
    cr_expect_eq(ms_http_auth(&req, "Bearer wrong-key", NULL), MS_EAUTH);
    tau_req_release(&req);
}

Test(http_limits, idempotency_key_syntax)
{
    char k[300];

    cr_expect(ms_limits_idem_key_ok("abcdEFGH"));
    cr_expect(ms_limits_idem_key_ok("a-b_c-d_1234"));
    cr_expect_not(ms_limits_idem_key_ok("short"));
    cr_expect_not(ms_limits_idem_key_ok("has space in it"));
    cr_expect_not(ms_limits_idem_key_ok("semi;colon!"));
    cr_expect_not(ms_limits_idem_key_ok(""));
    memset(k, 'a', 255);
    k[255] = '\0';
    cr_expect(ms_limits_idem_key_ok(k));
    k[255] = 'a';
    k[256] = '\0';
    cr_expect_not(ms_limits_idem_key_ok(k));
}

Test(http_limits, idempotency_states)
{
    struct ms_limits *l = ms_limits_new(0);
    struct tau_store st;
    struct ms_req req;
    struct ms_idem idem;
    struct ms_idem_response rp;
    struct ms_http_out out;
    struct ms_error err;
    bool replayed;
    char want[MS_SHA256_HEX_LEN + 1];
    const char *text = "POST\n/api/syncs\n{\"a\":1}";

    tau_req(&req, &st);
    cr_expect_eq(ms_limits_idem_begin(l, &req, NULL, &idem, &rp, &replayed, &err), MS_OK);
    cr_expect_not(idem.pending, "no header: nothing to do");
    cr_expect_eq(ms_limits_idem_begin(l, &req, "bad key!", &idem, &rp, &replayed, &err), MS_EINVAL);
    cr_expect_str_eq(err.field, "Idempotency-Key");

    st.idem_state = MS_IDEM_NEW;
    cr_assert_eq(ms_limits_idem_begin(l, &req, "key-12345678", &idem, &rp, &replayed, &err), MS_OK);
    ms_sha256_hex(text, strlen(text), want);
    cr_expect_str_eq(st.idem_req_hash, want);
    cr_expect(idem.pending);
    cr_expect_not(replayed);
    memset(&out, 0, sizeof(out));
    out.status = 404;
    out.body = "{\"x\":2}";
    out.len = strlen(out.body);
    ms_limits_idem_finish(&req, &idem, &out);
    cr_expect_eq(st.finished_status, 404, "error replies are recorded too");
    cr_expect_str_eq(st.finished_body, "{\"x\":2}");
    cr_expect_not(idem.pending);

    st.idem_state = MS_IDEM_DONE;
    cr_assert_eq(ms_limits_idem_begin(l, &req, "key-12345678", &idem, &rp, &replayed, &err), MS_OK);
    cr_expect(replayed);
    cr_expect_eq(rp.http_status, 201);

    st.idem_state = MS_IDEM_IN_FLIGHT;
    cr_expect_eq(ms_limits_idem_begin(l, &req, "key-12345678", &idem, &rp, &replayed, &err),
                 MS_ECONFLICT);
    cr_expect_str_eq(err.key, "idempotency_key_in_use");
    st.idem_state = MS_IDEM_MISMATCH;
    cr_expect_eq(ms_limits_idem_begin(l, &req, "key-12345678", &idem, &rp, &replayed, &err),
                 MS_EUNPROC);
    cr_expect_str_eq(err.key, "idempotency_key_reused");
    tau_req_release(&req);
    ms_limits_free(l);
}

Test(http_limits, token_bucket_per_key)
{
    struct ms_limits *l = ms_limits_new(60); /* one per second, burst 60 */
    struct ms_error err;
    int retry = 0;

    for (int i = 0; i < 60; i++)
        cr_assert_eq(ms_limits_rate(l, "key-a", 1000, &retry, &err), MS_OK, "request %d", i);
    cr_expect_eq(ms_limits_rate(l, "key-a", 1000, &retry, &err), MS_ELIMIT);
    cr_expect_eq(retry, 1);
    cr_expect_eq(ms_limits_rate(l, "key-b", 1000, &retry, &err), MS_OK, "buckets are per key");
    cr_expect_eq(ms_limits_rate(l, "key-a", 2000, &retry, &err), MS_OK, "refilled after 1 s");
    cr_expect_eq(ms_limits_rate(l, "key-a", 2000, &retry, &err), MS_ELIMIT);
    ms_limits_free(l);
}

Test(http_limits, slow_rate_retry_after_and_many_keys)
{
    struct ms_limits *l = ms_limits_new(2); /* one token every 30 s */
    struct ms_error err;
    char key[32];
    int retry = 0;

    cr_expect_eq(ms_limits_rate(l, "k", 0, &retry, &err), MS_OK);
    cr_expect_eq(ms_limits_rate(l, "k", 0, &retry, &err), MS_OK);
    cr_expect_eq(ms_limits_rate(l, "k", 0, &retry, &err), MS_ELIMIT);
    cr_expect_eq(retry, 30);
    /* far more keys than the initial table: it grows, and "k" keeps its empty bucket */
    for (int i = 0; i < 2000; i++) {
        snprintf(key, sizeof(key), "key-%d", i);
        cr_assert_eq(ms_limits_rate(l, key, 1000, &retry, &err), MS_OK);
    }
    cr_expect_eq(ms_limits_rate(l, "k", 1000, &retry, &err), MS_ELIMIT);
    ms_limits_free(l);

    l = ms_limits_new(0);
    for (int i = 0; i < 1000; i++)
        cr_assert_eq(ms_limits_rate(l, "k", 0, &retry, &err), MS_OK, "off when 0");
    ms_limits_free(l);
}

/* ---- the per-thread cache of recent answers (auth.c) ---- */

/* A store that answers every credential with the same user and counts the lookups. */
struct tac_store {
    struct ms_store base; /* must be first */
    int calls;
};

static enum ms_status
tac_key_auth(struct ms_store *s, struct ms_arena *a, const char *hash_hex, struct ms_auth *out,
             struct ms_error *err)
{
    (void)hash_hex;
    (void)err;
    ((struct tac_store *)s)->calls++;
    memset(out, 0, sizeof(*out));
    out->kind = MS_ACTOR_USER;
    strcpy(out->key_id, "33333333-3333-4333-8333-333333333333");
    strcpy(out->org_id, "22222222-2222-4222-8222-222222222222");
    strcpy(out->user_id, "44444444-4444-4444-8444-444444444444");
    out->org_name = ms_arena_strdup(a, "Org Alpha");
    out->user_email = ms_arena_strdup(a, "ada@example.com");
    out->user_name = NULL;
    return MS_OK;
}

static const struct ms_store_ops tac_ops = {.name = "counting", .key_auth = tac_key_auth};

/* Authenticate header against st; the answer's strings are checked before the arena goes. */
static void
tac_auth(struct tac_store *st, const char *header)
{
    struct ms_req req;
    char want[MS_SHA256_HEX_LEN + 1];
    const char *key = strchr(header, ' ') + 1;

    memset(&req, 0, sizeof(req));
    req.arena = ms_arena_new();
    req.store = &st->base;
    cr_assert_eq(ms_http_auth(&req, header, NULL), MS_OK);
    ms_sha256_hex(key, strlen(key), want);
    cr_expect_str_eq(req.auth.cred_hash, want);
    cr_expect_eq(req.auth.kind, MS_ACTOR_USER);
    cr_expect_str_eq(req.auth.user_id, "44444444-4444-4444-8444-444444444444");
    cr_expect_str_eq(req.auth.org_name, "Org Alpha");
    cr_expect_str_eq(req.auth.user_email, "ada@example.com");
    cr_expect_null(req.auth.user_name);
    ms_arena_free(req.arena);
}

static void
tac_sleep_ms(long ms)
{
    struct timespec ts = {0, ms * 1000000L};

    nanosleep(&ts, NULL);
}

Test(http_auth, recent_answers_are_reused_for_a_few_ms)
{
    struct tac_store st = {.base = {&tac_ops}}, other = {.base = {&tac_ops}};
    bool hit = false;

    /* A miss then, at once, a hit; retried in case this process was descheduled between. */
    for (int i = 0; i < 50 && !hit; i++) {
        int before = st.calls;

        tac_sleep_ms(10); /* what was cached has expired */
        tac_auth(&st, "Bearer " TAU_KEY);
        cr_assert_eq(st.calls, before + 1, "an expired answer is asked again");
        tac_auth(&st, "Bearer " TAU_KEY);
        hit = st.calls == before + 1;
    }
    cr_expect(hit, "a second request at once is answered from the cache");
    tac_auth(&other, "Bearer " TAU_KEY);
    cr_expect_eq(other.calls, 1, "another store handle is asked itself");
    st.calls = 0;
    tac_auth(&st, "Bearer another-key-0123456789");
    cr_expect_eq(st.calls, 1, "another key is asked for");
}
