/*
 * test_api_pagination.c: tests for src/api/pagination.c without sockets. A minted token parses
 * back to its cursor; it is URL-safe; '=' padding and a leftover percent-encoding are accepted;
 * changing any single character, the scope, the organization or the secret is refused with
 * MS_EINVAL naming page_token; oversized and garbage tokens are refused before decoding.
 */
#include <criterion/criterion.h>

#include <string.h>

#include "api/pagination.h"
#include "core/arena.h"
#include "core/config.h"
#include "core/crypto.h"

struct pg_t_env {
    struct ms_config cfg;
    struct ms_req req;
};

static void
pg_t_setup(struct pg_t_env *e, const char *org)
{
    memset(e, 0, sizeof(*e));
    cr_assert_eq(ms_crypto_init(NULL), MS_OK);
    memset(e->cfg.secret, 0x5a, sizeof(e->cfg.secret));
    e->req.cfg = &e->cfg;
    e->req.arena = ms_arena_new();
    strcpy(e->req.auth.org_id, org);
}

#define PG_T_ORG "a4e2bf40-0429-4897-bb6a-3c9dc7b9cd14"
#define PG_T_SCOPE "syncs|active=1|mode=|target="

static const struct ms_page_cursor pg_t_cur = {1705311000123,
                                               "ffd0c9a2-0b1c-4d5e-8f90-a1b2c3d4e5f6"};

Test(api_pagination, round_trip)
{
    struct pg_t_env e;
    struct ms_page_cursor out;
    struct ms_error err;
    const char *tok;

    pg_t_setup(&e, PG_T_ORG);
    tok = ms_page_token_mint(&e.req, PG_T_SCOPE, &pg_t_cur);
    cr_expect_eq(strspn(tok, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"),
                 strlen(tok), "URL-safe alphabet, no padding: %s", tok);
    cr_expect_lt(strlen(tok), 80);
    cr_assert_eq(ms_page_token_parse(&e.req, tok, PG_T_SCOPE, &out, &err), MS_OK, "%s", err.msg);
    cr_expect_eq(out.sort_ms, pg_t_cur.sort_ms);
    cr_expect_str_eq(out.id, pg_t_cur.id);
    {
        char padded[128], pct[160];

        snprintf(padded, sizeof(padded), "%s==", tok);
        cr_expect_eq(ms_page_token_parse(&e.req, padded, PG_T_SCOPE, &out, &err), MS_OK);
        snprintf(pct, sizeof(pct), "%s%%3D", tok);
        cr_expect_eq(ms_page_token_parse(&e.req, pct, PG_T_SCOPE, &out, &err), MS_OK,
                     "percent-encoded twice: %s", err.msg);
    }
    {
        struct ms_page_cursor neg = {-5, "00000000-0000-0000-0000-000000000000"};

        tok = ms_page_token_mint(&e.req, PG_T_SCOPE, &neg);
        cr_assert_eq(ms_page_token_parse(&e.req, tok, PG_T_SCOPE, &out, NULL), MS_OK);
        cr_expect_eq(out.sort_ms, -5);
    }
    ms_arena_free(e.req.arena);
}

Test(api_pagination, every_edit_refused)
{
    static const char alphabet[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    struct pg_t_env e;
    struct ms_page_cursor out;
    struct ms_error err;
    const char *tok;
    char bad[128];

    pg_t_setup(&e, PG_T_ORG);
    tok = ms_page_token_mint(&e.req, PG_T_SCOPE, &pg_t_cur);
    for (size_t i = 0; i < strlen(tok); i++) {
        strcpy(bad, tok);
        bad[i] = bad[i] == alphabet[i % 64] ? alphabet[(i + 1) % 64] : alphabet[i % 64];
        /* the last character carries 2 unused bits: an edit there may not change the bytes */
        if (i == strlen(tok) - 1 &&
            ms_page_token_parse(&e.req, bad, PG_T_SCOPE, &out, NULL) == MS_OK)
            continue;
        cr_expect_eq(ms_page_token_parse(&e.req, bad, PG_T_SCOPE, &out, &err), MS_EINVAL,
                     "edit at %zu", i);
        cr_expect_str_eq(err.field, "page_token");
    }
    strcpy(bad, tok);
    bad[strlen(bad) - 4] = '\0';
    cr_expect_eq(ms_page_token_parse(&e.req, bad, PG_T_SCOPE, &out, &err), MS_EINVAL, "truncated");
    ms_arena_free(e.req.arena);
}

Test(api_pagination, bound_to_scope_org_and_secret)
{
    struct pg_t_env e, other;
    struct ms_page_cursor out;
    struct ms_error err;
    const char *tok;

    pg_t_setup(&e, PG_T_ORG);
    pg_t_setup(&other, "00000000-0000-0000-0000-000000000001");
    tok = ms_page_token_mint(&e.req, PG_T_SCOPE, &pg_t_cur);
    cr_expect_eq(ms_page_token_parse(&e.req, tok, "syncs|active=0|mode=|target=", &out, &err),
                 MS_EINVAL);
    cr_expect(strstr(err.msg, "other filters") != NULL, "%s", err.msg);
    cr_expect_eq(ms_page_token_parse(&other.req, tok, PG_T_SCOPE, &out, &err), MS_EINVAL,
                 "another organization");
    memset(other.cfg.secret, 0x11, sizeof(other.cfg.secret));
    strcpy(other.req.auth.org_id, PG_T_ORG);
    cr_expect_eq(ms_page_token_parse(&other.req, tok, PG_T_SCOPE, &out, &err), MS_EINVAL,
                 "another deployment secret");
    cr_expect(strstr(err.msg, "altered") != NULL, "%s", err.msg);
    ms_arena_free(e.req.arena);
    ms_arena_free(other.req.arena);
}

Test(api_pagination, garbage)
{
    struct pg_t_env e;
    struct ms_page_cursor out;
    struct ms_error err;
    char big[MS_PAGE_TOKEN_MAX + 2];
    static const char *const bad[] = {"", "abc", "%", "%zz", "+/+/", "AAAA", "====", "a b"};

    pg_t_setup(&e, PG_T_ORG);
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        cr_expect_eq(ms_page_token_parse(&e.req, bad[i], PG_T_SCOPE, &out, &err), MS_EINVAL,
                     "\"%s\"", bad[i]);
        cr_expect_str_eq(err.field, "page_token");
    }
    memset(big, 'A', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    cr_expect_eq(ms_page_token_parse(&e.req, big, PG_T_SCOPE, &out, &err), MS_EINVAL);
    cr_expect(strstr(err.msg, "longer than") != NULL, "%s", err.msg);
    ms_arena_free(e.req.arena);
}
