/*
 * limits.c: what keeps one credential from hurting the others. (1) A token bucket per API key
 * (DECISIONS.md D19/D25): rate_per_min tokens of burst, refilled continuously; the buckets live
 * in one small open-addressing table behind one mutex, held only for a lookup. (2) The
 * Idempotency-Key protocol (API.md §2.8): the store records the first request with a key and
 * replays its response to later ones, per (organization, credential, key). Both run on HTTP worker
 * threads; the idempotency half touches only the request and its thread's store handle.
 */
#include "http/http_int.h"

#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/crypto.h"
#include "core/log.h"
#include "core/time.h"
#include "core/uuid.h"
#include "core/xmalloc.h"

#define RL_MIN_SLOTS 256      /* initial table size; a power of two */
#define RL_IDLE_MS 60000      /* an idle bucket is full again after a minute: forgettable */
#define IDEM_PURGE_EVERY 1000 /* keyed requests between two purges of expired keys */

struct rl_slot {
    char key_id[MS_UUID_LEN + 1]; /* "" = free */
    double tokens;                /* 0 .. per_min */
    int64_t last_ms;              /* monotonic time of the last refill */
};

struct ms_limits {
    double per_min; /* immutable; 0 = rate limiting off */

    pthread_mutex_t mu;    /* guards slots, nslots and used; never held across I/O */
    struct rl_slot *slots; /* open addressing, linear probing; nslots is a power of two */
    size_t nslots;
    size_t used;

    atomic_uint_fast64_t keyed; /* requests that carried an Idempotency-Key: paces purges */
};

struct ms_limits *
ms_limits_new(int rate_per_min)
{
    struct ms_limits *l = ms_xcalloc(1, sizeof(*l));

    l->per_min = rate_per_min > 0 ? rate_per_min : 0;
    pthread_mutex_init(&l->mu, NULL);
    l->nslots = RL_MIN_SLOTS;
    l->slots = ms_xcalloc(l->nslots, sizeof(*l->slots));
    atomic_init(&l->keyed, 0);
    return l;
}

void
ms_limits_free(struct ms_limits *l)
{
    if (l == NULL)
        return;
    pthread_mutex_destroy(&l->mu);
    free(l->slots);
    free(l);
}

/* The slot of key_id in slots[0..n) (n a power of two): its own, or the free one to take. */
static struct rl_slot *
rl_find(struct rl_slot *slots, size_t n, const char *key_id)
{
    size_t i = (size_t)ms_xxh3_64(key_id, strlen(key_id)) & (n - 1);

    while (slots[i].key_id[0] != '\0' && strcmp(slots[i].key_id, key_id) != 0)
        i = (i + 1) & (n - 1);
    return &slots[i];
}

/*
 * Rebuild the table without buckets idle for a minute (they would refill to full anyway), and
 * twice as large if what is left still fills half of it. Keys are the store's API keys, so the
 * table grows only with the number of keys in use. Caller holds mu.
 */
static void
rl_rebuild(struct ms_limits *l, int64_t now_ms)
{
    struct rl_slot *old = l->slots;
    size_t oldn = l->nslots, live = 0;

    for (size_t i = 0; i < oldn; i++)
        if (old[i].key_id[0] != '\0' && now_ms - old[i].last_ms < RL_IDLE_MS)
            live++;
    while (live * 2 >= l->nslots)
        l->nslots *= 2;
    l->slots = ms_xcalloc(l->nslots, sizeof(*l->slots));
    l->used = 0;
    for (size_t i = 0; i < oldn; i++) {
        if (old[i].key_id[0] == '\0' || now_ms - old[i].last_ms >= RL_IDLE_MS)
            continue;
        *rl_find(l->slots, l->nslots, old[i].key_id) = old[i];
        l->used++;
    }
    free(old);
}

/* Refill s to now_ms and take a token; otherwise the seconds until one is there. */
static bool
rl_take(const struct ms_limits *l, struct rl_slot *s, int64_t now_ms, int *retry_after_s)
{
    double elapsed = (double)(now_ms - s->last_ms);

    if (elapsed > 0) {
        s->tokens += elapsed * l->per_min / 60000.0;
        if (s->tokens > l->per_min)
            s->tokens = l->per_min;
        s->last_ms = now_ms;
    }
    if (s->tokens >= 1.0) {
        s->tokens -= 1.0;
        return true;
    }
    *retry_after_s = (int)ceil((1.0 - s->tokens) * 60.0 / l->per_min);
    if (*retry_after_s < 1)
        *retry_after_s = 1;
    return false;
}

enum ms_status
ms_limits_rate(struct ms_limits *l, const char *key_id, int64_t now_ms, int *retry_after_s,
               struct ms_error *err)
{
    struct rl_slot *s;
    bool ok;

    if (l->per_min <= 0)
        return MS_OK;
    pthread_mutex_lock(&l->mu);
    s = rl_find(l->slots, l->nslots, key_id);
    if (s->key_id[0] == '\0') {
        if ((l->used + 1) * 4 > l->nslots * 3) {
            rl_rebuild(l, now_ms);
            s = rl_find(l->slots, l->nslots, key_id);
        }
        snprintf(s->key_id, sizeof(s->key_id), "%s", key_id);
        s->tokens = l->per_min;
        s->last_ms = now_ms;
        l->used++;
    }
    ok = rl_take(l, s, now_ms, retry_after_s);
    pthread_mutex_unlock(&l->mu);
    if (ok)
        return MS_OK;
    return ms_fail(err, MS_ELIMIT, "rate limit of %.0f requests per minute exceeded", l->per_min);
}

bool
ms_limits_idem_key_ok(const char *key)
{
    size_t n = 0;

    for (; key[n] != '\0'; n++) {
        char c = key[n];

        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '-'))
            return false;
        if (n >= 255)
            return false;
    }
    return n >= 8;
}

/* SHA-256 hex of method "\n" path "\n" body: what makes two requests "the same". */
static void
idem_req_hash(const struct ms_req *req, char out[MS_SHA256_HEX_LEN + 1])
{
    size_t ml = strlen(req->method), pl = strlen(req->path);
    size_t n = ml + 1 + pl + 1 + req->body.len;
    char *p = ms_arena_alloc(req->arena, n); /* body is capped: bounded */

    memcpy(p, req->method, ml);
    p[ml] = '\n';
    memcpy(p + ml + 1, req->path, pl);
    p[ml + 1 + pl] = '\n';
    if (req->body.len > 0)
        memcpy(p + ml + pl + 2, req->body.p, req->body.len);
    ms_sha256_hex(p, n, out);
}

/* Every IDEM_PURGE_EVERY keyed requests, forget expired keys (cheap, off the hot path). */
static void
idem_maybe_purge(struct ms_limits *l, struct ms_req *req)
{
    struct ms_error e;

    if (atomic_fetch_add_explicit(&l->keyed, 1, memory_order_relaxed) % IDEM_PURGE_EVERY != 0)
        return;
    if (ms_store_idem_purge(req->store, ms_time_now_ms(), &e) != MS_OK)
        ms_log(MS_LOG_WARN, "idempotency purge failed", "detail", e.msg, (char *)NULL);
}

enum ms_status
ms_limits_idem_begin(struct ms_limits *l, struct ms_req *req, const char *key, struct ms_idem *idem,
                     struct ms_idem_response *replay, bool *replayed, struct ms_error *err)
{
    char hash[MS_SHA256_HEX_LEN + 1];
    enum ms_idem_state state;
    enum ms_status st;

    memset(idem, 0, sizeof(*idem));
    *replayed = false;
    if (key == NULL)
        return MS_OK;
    if (!ms_limits_idem_key_ok(key))
        return ms_fail_at(err, MS_EINVAL, "Idempotency-Key",
                          "must be 8 to 255 characters from A-Z, a-z, 0-9, '_' and '-'");
    idem_maybe_purge(l, req);
    idem_req_hash(req, hash);
    st = ms_store_idem_begin(req->store, req->arena, req->auth.org_id, req->auth.cred_hash, key,
                             hash, ms_time_now_ms(), &state, replay, err);
    if (st != MS_OK)
        return st;
    switch (state) {
    case MS_IDEM_NEW:
        idem->key = key;
        idem->pending = true;
        return MS_OK;
    case MS_IDEM_DONE:
        *replayed = true;
        return MS_OK;
    case MS_IDEM_IN_FLIGHT:
        return ms_fail_key(err, MS_ECONFLICT, "idempotency_key_in_use",
                           "a request with this Idempotency-Key is still in progress");
    case MS_IDEM_MISMATCH:
    default:
        return ms_fail_key(err, MS_EUNPROC, "idempotency_key_reused",
                           "this Idempotency-Key was used for a different request");
    }
}

void
ms_limits_idem_finish(struct ms_req *req, struct ms_idem *idem, const struct ms_http_out *out)
{
    struct ms_error e;

    if (!idem->pending)
        return;
    idem->pending = false;
    if (ms_store_idem_finish(req->store, req->auth.org_id, req->auth.cred_hash, idem->key,
                             out->status, out->body, out->len, ms_time_now_ms(), &e) != MS_OK)
        ms_log(MS_LOG_WARN, "idempotency record failed", "request_id", req->request_id, "detail",
               e.msg, (char *)NULL);
}
