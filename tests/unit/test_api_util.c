/*
 * tests/unit/test_api_util.c: the parse-or-fail helpers of src/api/util.c, on requests built by
 * hand (no sockets): body parsing, boolean query values, source-error mapping, member
 * re-rooting, the organization check and string lists.
 */
#include <criterion/criterion.h>

#include <string.h>

#include "api/api_int.h"
#include "core/buf.h"

static struct ms_req *
ut_req(const char *body)
{
    struct ms_arena *a = ms_arena_new();
    struct ms_req *r = ms_arena_zalloc(a, sizeof(*r));

    r->arena = a;
    r->method = "POST";
    r->path = "/api/test";
    ms_buf_init(&r->body, MS_MAX_BODY_BYTES);
    ms_arena_defer(a, ms_buf_release_cb, &r->body);
    if (body != NULL)
        cr_assert_eq(ms_buf_adds(&r->body, body), MS_OK);
    strcpy(r->auth.org_id, "2222222a-2222-4222-8222-22222222222b");
    return r;
}

static void
ut_query(struct ms_req *r, const char *key, const char *val)
{
    struct ms_kv *q = ms_arena_alloc(r->arena, (r->nquery + 1) * sizeof(*q));

    if (r->nquery > 0)
        memcpy(q, r->query, r->nquery * sizeof(*q));
    q[r->nquery].key = key;
    q[r->nquery].val = val;
    r->query = q;
    r->nquery++;
}

static void
ut_free(struct ms_req *r)
{
    json_decref(r->reply);
    ms_arena_free(r->arena);
}

Test(api_util, body_object)
{
    struct ms_req *r = ut_req("{\"name\": \"x\", \"n\": 1}");
    struct ms_error err;
    json_t *body = NULL;

    cr_assert_eq(ms_api_body(r, &body, &err), MS_OK);
    cr_expect(json_is_object(body));
    cr_expect_str_eq(json_string_value(json_object_get(body, "name")), "x");
    ut_free(r);
}

Test(api_util, body_not_an_object)
{
    static const char *const bad[] = {"", "null", "[1, 2]", "\"text\"", "42", "true"};
    struct ms_error err;
    json_t *body = NULL;
    size_t i;

    for (i = 0; i < MS_ARRAY_LEN(bad); i++) {
        struct ms_req *r = ut_req(bad[i]);

        cr_expect_eq(ms_api_body(r, &body, &err), MS_EINVAL, "body '%s'", bad[i]);
        cr_expect_str_eq(err.msg, "request body must be a JSON object", "body '%s'", bad[i]);
        ut_free(r);
    }
}

Test(api_util, body_malformed_names_position)
{
    struct ms_req *r = ut_req("{\n  \"name\": \"x\",\n  oops\n}");
    struct ms_error err;
    json_t *body = NULL;

    cr_assert_eq(ms_api_body(r, &body, &err), MS_EINVAL);
    cr_expect(strstr(err.msg, "malformed JSON at line 3") != NULL, "message: %s", err.msg);
    cr_expect(strstr(err.msg, "column") != NULL);
    ut_free(r);
}

Test(api_util, query_bool)
{
    static const struct {
        const char *v;
        enum ms_status st;
        bool out;
    } cases[] = {
        {"true", MS_OK, true},   {"TRUE", MS_OK, true},     {"True", MS_OK, true},
        {"1", MS_OK, true},      {"false", MS_OK, false},   {"FaLsE", MS_OK, false},
        {"0", MS_OK, false},     {"yes", MS_EINVAL, false}, {"", MS_EINVAL, false},
        {"2", MS_EINVAL, false},
    };
    struct ms_error err;
    bool out;
    size_t i;

    for (i = 0; i < MS_ARRAY_LEN(cases); i++) {
        struct ms_req *r = ut_req(NULL);

        ut_query(r, "force", cases[i].v);
        out = !cases[i].out;
        cr_expect_eq(ms_api_query_bool(r, "force", false, &out, &err), cases[i].st, "'%s'",
                     cases[i].v);
        if (cases[i].st == MS_OK)
            cr_expect_eq(out, cases[i].out, "'%s'", cases[i].v);
        else
            cr_expect_str_eq(err.field, "force");
        ut_free(r);
    }
}

Test(api_util, query_bool_absent_and_last_wins)
{
    struct ms_req *r = ut_req(NULL);
    struct ms_error err;
    bool out = false;

    cr_expect_eq(ms_api_query_bool(r, "force", true, &out, &err), MS_OK);
    cr_expect(out, "absent → default");
    ut_query(r, "force", "false");
    ut_query(r, "force", "true");
    cr_expect_eq(ms_api_query_bool(r, "force", false, &out, &err), MS_OK);
    cr_expect(out, "the last value wins");
    ut_free(r);
}

Test(api_util, source_fail_maps_upstream_and_missing)
{
    struct ms_error err;

    ms_fail(&err, MS_EUPSTREAM, "near \"SELEC\": syntax error");
    cr_expect_eq(ms_api_source_fail(MS_EUPSTREAM, "configuration", &err), MS_EINVAL);
    cr_expect_str_eq(err.msg, "source: near \"SELEC\": syntax error");
    cr_expect_str_eq(err.field, "configuration");
    cr_expect_eq(err.status, MS_EINVAL);

    ms_fail(&err, MS_ENOTFOUND, "no such file users.csv");
    cr_expect_eq(ms_api_source_fail(MS_ENOTFOUND, NULL, &err), MS_EUNPROC);
    cr_expect_str_eq(err.msg, "source: no such file users.csv");
    cr_expect_str_eq(err.field, "");

    ms_fail(&err, MS_EBUSY, "database is locked");
    cr_expect_eq(ms_api_source_fail(MS_EBUSY, "configuration", &err), MS_EBUSY, "kept");
    cr_expect_str_eq(err.msg, "database is locked");
    cr_expect_eq(ms_api_source_fail(MS_EUPSTREAM, NULL, NULL), MS_EUPSTREAM, "NULL err");
}

Test(api_util, field_prefix_and_reroot)
{
    struct ms_error err;

    ms_fail_at(&err, MS_EINVAL, "path", "must be an absolute path");
    ms_api_field_prefix(&err, "configuration");
    cr_expect_str_eq(err.field, "configuration.path");
    cr_expect_str_eq(err.msg, "configuration.path: must be an absolute path");

    ms_api_field_prefix(&err, "configuration");
    cr_expect_str_eq(err.field, "configuration.path", "already under the prefix");
    cr_expect_str_eq(err.msg, "configuration.path: must be an absolute path");

    ms_fail_at(&err, MS_EINVAL, "configuration.table", "must not be empty");
    ms_api_field_reroot(&err, "configuration", "params");
    cr_expect_str_eq(err.field, "params.table");
    cr_expect_str_eq(err.msg, "params.table: must not be empty");

    ms_fail(&err, MS_EINVAL, "no member named");
    ms_api_field_prefix(&err, "configuration");
    cr_expect_str_eq(err.field, "", "nothing to re-root");
    cr_expect_str_eq(err.msg, "no member named");
}

Test(api_util, check_org)
{
    struct ms_req *r = ut_req(NULL);
    struct ms_error err;
    json_t *b;

    b = json_pack("{s:s}", "organization_id", "2222222a-2222-4222-8222-22222222222b");
    cr_expect_eq(ms_api_check_org(r, b, &err), MS_OK, "the caller's own");
    json_decref(b);
    b = json_pack("{s:s}", "organization_id", "2222222A-2222-4222-8222-22222222222B");
    cr_expect_eq(ms_api_check_org(r, b, &err), MS_OK, "any case");
    json_decref(b);
    b = json_pack("{s:s}", "organization_id", "2222222a-2222-4222-8222-22222222222c");
    cr_expect_eq(ms_api_check_org(r, b, &err), MS_EDENIED, "one digit off");
    json_decref(b);
    b = json_pack("{s:n}", "organization_id");
    cr_expect_eq(ms_api_check_org(r, b, &err), MS_OK, "null is absent");
    json_decref(b);
    b = json_pack("{s:s}", "organization_id", "33333333-3333-4333-8333-333333333333");
    cr_expect_eq(ms_api_check_org(r, b, &err), MS_EDENIED, "D11: another org is 403");
    cr_expect_str_eq(err.field, "organization_id");
    json_decref(b);
    b = json_pack("{s:i}", "organization_id", 7);
    cr_expect_eq(ms_api_check_org(r, b, &err), MS_EINVAL);
    json_decref(b);
    b = json_pack("{s:s}", "organization_id", "nope");
    cr_expect_eq(ms_api_check_org(r, b, &err), MS_EINVAL);
    json_decref(b);
    ut_free(r);
}

Test(api_util, str_list)
{
    struct ms_req *r = ut_req(NULL);
    struct ms_error err;
    json_t *b, *out = NULL;

    b = json_loads("{\"p\": [\"AAAAAAAA-2222-4222-8222-222222222222\"], \"s\": [\"a\", \"b\"],"
                   " \"bad\": [\"a\", 3], \"nu\": [\"x\"], \"o\": {}}",
                   0, NULL);
    cr_assert_not_null(b);
    cr_expect_eq(ms_api_str_list(r, b, "p", true, &out, &err), MS_OK);
    cr_expect_str_eq(json_string_value(json_array_get(out, 0)),
                     "aaaaaaaa-2222-4222-8222-222222222222", "uuids are lowercased");
    cr_expect_eq(ms_api_str_list(r, b, "s", false, &out, &err), MS_OK);
    cr_expect_eq(json_array_size(out), 2);
    cr_expect_eq(ms_api_str_list(r, b, "absent", false, &out, &err), MS_OK);
    cr_expect_null(out);
    cr_expect_eq(ms_api_str_list(r, b, "bad", false, &out, &err), MS_EINVAL);
    cr_expect_str_eq(err.field, "bad[1]");
    cr_expect_eq(ms_api_str_list(r, b, "nu", true, &out, &err), MS_EINVAL);
    cr_expect_str_eq(err.field, "nu[0]");
    cr_expect_eq(ms_api_str_list(r, b, "o", false, &out, &err), MS_EINVAL);
    cr_expect_str_eq(err.field, "o");
    json_decref(b);
    ut_free(r);
}

Test(api_util, path_id)
{
    struct ms_req *r = ut_req(NULL);
    char id[MS_UUID_LEN + 1];
    struct ms_error err;

    r->params[0].key = "id";
    r->params[0].val = "0F0E9C2A-1B2C-4D5E-8F90-A1B2C3D4E5F6";
    r->nparams = 1;
    cr_expect_eq(ms_api_path_id(r, "id", id, &err), MS_OK);
    cr_expect_str_eq(id, "0f0e9c2a-1b2c-4d5e-8f90-a1b2c3d4e5f6");
    r->params[0].val = "not-a-uuid";
    cr_expect_eq(ms_api_path_id(r, "id", id, &err), MS_ENOTFOUND);
    cr_expect_eq(ms_api_path_id(r, "other", id, &err), MS_ENOTFOUND);
    ut_free(r);
}
