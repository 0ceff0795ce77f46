/*
 * fuzz_pagetoken.c: page_token query values, through ms_page_token_parse() as api/syncs.c and
 * api/executions.c call it, with a fixed deployment secret, organization and scope. Random
 * bytes never get past the MAC, so inputs of 24 bytes or more also mint a token for a cursor
 * made of the first 24 (time, id bytes) and check the signed path: it parses back to the same
 * cursor; another scope or organization is refused; so is the token with the character the
 * input points at changed, or cut short.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/pagination.h"
#include "core/arena.h"
#include "core/config.h"
#include "core/crypto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FZ_CHECK(c)                                                                                \
    do {                                                                                           \
        if (!(c)) {                                                                                \
            fprintf(stderr, "fuzz_pagetoken: check failed: %s (line %d)\n", #c, __LINE__);         \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

#define FZ_ORG "a4e2bf40-0429-4897-bb6a-3c9dc7b9cd14"
#define FZ_ORG2 "b4e2bf40-0429-4897-bb6a-3c9dc7b9cd14"
#define FZ_SCOPE "syncs|active=1|mode=|target="

static struct ms_config fz_cfg;

static void
fz_req(struct ms_req *req, struct ms_arena *a, const char *org)
{
    memset(req, 0, sizeof(*req));
    req->arena = a;
    req->cfg = &fz_cfg;
    snprintf(req->auth.org_id, sizeof(req->auth.org_id), "%s", org);
}

/* A cursor from 24 input bytes: sort_ms, then the 16 bytes of the id as a lowercase UUID. */
static void
fz_cursor(const uint8_t *d, struct ms_page_cursor *cur)
{
    char hex[33];
    size_t o = 0;
    uint64_t t = 0;

    for (int i = 0; i < 8; i++)
        t = (t << 8) | d[i];
    cur->sort_ms = (int64_t)t;
    ms_hex(d + 8, 16, hex);
    for (size_t i = 0; i < 32; i++) {
        if (i == 8 || i == 12 || i == 16 || i == 20)
            cur->id[o++] = '-';
        cur->id[o++] = hex[i];
    }
    cur->id[o] = '\0';
}

static void
fz_signed(const uint8_t *data, size_t size, struct ms_arena *a)
{
    static const char alpha[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    struct ms_req req, other;
    struct ms_page_cursor cur, back;
    const char *tok;
    char *bad;
    size_t n, at;

    fz_req(&req, a, FZ_ORG);
    fz_req(&other, a, FZ_ORG2);
    fz_cursor(data, &cur);
    tok = ms_page_token_mint(&req, FZ_SCOPE, &cur);
    n = strlen(tok);
    FZ_CHECK(strspn(tok, alpha) == n);
    FZ_CHECK(ms_page_token_parse(&req, tok, FZ_SCOPE, &back, NULL) == MS_OK);
    FZ_CHECK(back.sort_ms == cur.sort_ms && strcmp(back.id, cur.id) == 0);
    FZ_CHECK(ms_page_token_parse(&req, tok, FZ_SCOPE "x", &back, NULL) == MS_EINVAL);
    FZ_CHECK(ms_page_token_parse(&other, tok, FZ_SCOPE, &back, NULL) == MS_EINVAL);
    bad = ms_arena_strdup(a, tok);
    at = size > 24 ? data[24] % n : 0;
    bad[at] = alpha[(strchr(alpha, bad[at]) - alpha + 1 + (size > 25 ? data[25] % 63 : 0)) % 64];
    FZ_CHECK(ms_page_token_parse(&req, bad, FZ_SCOPE, &back, NULL) == MS_EINVAL);
    bad[at] = '\0';
    FZ_CHECK(ms_page_token_parse(&req, bad, FZ_SCOPE, &back, NULL) == MS_EINVAL);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int init;
    struct ms_arena *a = ms_arena_new();
    struct ms_req req;
    struct ms_page_cursor cur;
    struct ms_error err;
    char *token = malloc(size + 1);
    enum ms_status st;

    if (!init) {
        FZ_CHECK(ms_crypto_init(NULL) == MS_OK);
        memset(fz_cfg.secret, 0x5a, sizeof(fz_cfg.secret));
        init = 1;
    }
    FZ_CHECK(token != NULL);
    memcpy(token, data, size);
    token[size] = '\0';
    fz_req(&req, a, FZ_ORG);
    st = ms_page_token_parse(&req, token, FZ_SCOPE, &cur, &err);
    FZ_CHECK(st == MS_OK || st == MS_EINVAL);
    FZ_CHECK(st == MS_OK || strcmp(err.field, "page_token") == 0);
    if (size >= 24)
        fz_signed(data, size, a);
    free(token);
    ms_arena_free(a);
    return 0;
}
