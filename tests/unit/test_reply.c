/*
 * test_reply.c: tests for src/http/reply.c: the status → HTTP table covers every ms_status
 * with the statuses and keys error.h documents, ApiError bodies have API.md §2.6's shape
 * (metadata.field only when a member was named), 5xx bodies hide the detail behind the request
 * id, and success replies serialize the handler's JSON, text, 204 and redirects.
 */
#include <criterion/criterion.h>
#include <string.h>
#include <jansson.h>

#include "core/arena.h"
#include "core/error.h"
#include "http/http_int.h"

static json_t *
trp_body(const struct ms_http_out *out)
{
    json_error_t jerr;
    json_t *v = json_loadb(out->body, out->len, 0, &jerr);

    cr_assert_not_null(v, "body is JSON: %.*s", (int)out->len, out->body);
    return v;
}

Test(reply, table_covers_every_status)
{
    static const struct {
        enum ms_status st;
        int http;
        const char *key;
    } want[] = {
        {MS_EINVAL, 400, "invalid_request"},     {MS_EAUTH, 401, "unauthorized"},
        {MS_EDENIED, 403, "forbidden"},          {MS_ENOTFOUND, 404, "not_found"},
        {MS_EMETHOD, 405, "method_not_allowed"}, {MS_ETIMEOUT, 408, "timeout"},
        {MS_ECONFLICT, 409, "conflict"},         {MS_ETOOBIG, 413, "too_large"},
        {MS_EUNPROC, 422, "validation_failed"},  {MS_EUNSUPP, 422, "unsupported"},
        {MS_ELIMIT, 429, "rate_limited"},        {MS_EUPSTREAM, 502, "upstream_error"},
        {MS_EBUSY, 503, "unavailable"},          {MS_ECANCELED, 500, "internal"},
        {MS_EINTERNAL, 500, "internal"},
    };
    int http;
    const char *key;

    cr_assert_eq(MS_ARRAY_LEN(want), MS_STATUS_COUNT - 1, "every error status is listed here");
    ms_http_status_map(MS_OK, &http, &key);
    cr_expect_eq(http, 200);
    for (size_t i = 0; i < MS_ARRAY_LEN(want); i++) {
        ms_http_status_map(want[i].st, &http, &key);
        cr_expect_eq(http, want[i].http, "%s", ms_status_name(want[i].st));
        cr_expect_str_eq(key, want[i].key, "%s", ms_status_name(want[i].st));
    }
    ms_http_status_map(MS_STATUS_COUNT, &http, &key);
    cr_expect_eq(http, 500, "out of range is internal");
}

Test(reply, api_error_4xx_without_field)
{
    struct ms_http_out out;
    struct ms_error err;
    json_t *b;

    ms_fail(&err, MS_ENOTFOUND, "sync %s not found", "abc");
    ms_http_reply_error("r-1", MS_ENOTFOUND, &err, &out);
    cr_expect_eq(out.status, 404);
    cr_expect_null(out.type, "application/json");
    cr_expect_str_eq(out.request_id, "r-1");
    b = trp_body(&out);
    cr_expect_eq(json_integer_value(json_object_get(b, "status")), 404);
    cr_expect_str_eq(json_string_value(json_object_get(b, "key")), "not_found");
    cr_expect_str_eq(json_string_value(json_object_get(b, "message")), "sync abc not found");
    cr_expect_null(json_object_get(b, "metadata"));
    cr_expect_eq(json_object_size(b), 3);
    json_decref(b);
    ms_http_out_release(&out);
}

Test(reply, api_error_4xx_with_field_and_key)
{
    struct ms_http_out out;
    struct ms_error err;
    json_t *b;

    ms_fail_at(&err, MS_EINVAL, "schedule.frequency", "unknown frequency");
    ms_http_reply_error("r-2", MS_EINVAL, &err, &out);
    cr_expect_eq(out.status, 400);
    b = trp_body(&out);
    cr_expect_eq(json_integer_value(json_object_get(b, "status")), 400);
    cr_expect_str_eq(json_string_value(json_object_get(b, "key")), "invalid_request");
    cr_expect(strstr(json_string_value(json_object_get(b, "message")), "unknown frequency"));
    cr_expect_str_eq(json_string_value(json_object_get(json_object_get(b, "metadata"), "field")),
                     "schedule.frequency");
    json_decref(b);
    ms_http_out_release(&out);

    ms_fail_key(&err, MS_ECONFLICT, "execution_in_progress", "an execution is running");
    ms_http_reply_error("r-3", MS_ECONFLICT, &err, &out);
    b = trp_body(&out);
    cr_expect_eq(out.status, 409);
    cr_expect_str_eq(json_string_value(json_object_get(b, "key")), "execution_in_progress");
    json_decref(b);
    ms_http_out_release(&out);
}

Test(reply, api_error_default_message_and_bad_utf8)
{
    struct ms_http_out out;
    struct ms_error err;
    json_t *b;

    ms_error_clear(&err);
    ms_http_reply_error("r-4", MS_EAUTH, &err, &out);
    cr_expect_eq(out.status, 401);
    b = trp_body(&out);
    cr_expect_str_eq(json_string_value(json_object_get(b, "message")), "invalid credentials");
    json_decref(b);
    ms_http_out_release(&out);

    ms_fail_at(&err, MS_EINVAL, "q\xff", "bad \xc3 value");
    ms_http_reply_error("r-5", MS_EINVAL, &err, &out);
    b = trp_body(&out);
    cr_expect(strstr(json_string_value(json_object_get(b, "message")), "bad ? value"));
    json_decref(b);
    ms_http_out_release(&out);
}

Test(reply, api_error_5xx_hides_the_detail)
{
    static const enum ms_status five[] = {MS_EINTERNAL, MS_ECANCELED, MS_EUPSTREAM, MS_EBUSY};
    struct ms_http_out out;
    struct ms_error err;
    json_t *b;

    for (size_t i = 0; i < MS_ARRAY_LEN(five); i++) {
        const char *msg;

        ms_fail_at(&err, five[i], "secret_field", "SQLITE_CORRUPT at /var/lib/secret.db");
        err.native = 11;
        ms_http_reply_error("r-req-42", five[i], &err, &out);
        cr_expect_geq(out.status, 500);
        b = trp_body(&out);
        msg = json_string_value(json_object_get(b, "message"));
        cr_expect_null(strstr(msg, "SQLITE"), "detail hidden: %s", msg);
        cr_expect_null(strstr(msg, "secret"), "detail hidden: %s", msg);
        cr_expect_not_null(strstr(msg, "r-req-42"), "request id given: %s", msg);
        cr_expect_null(json_object_get(b, "metadata"));
        cr_expect_eq(json_integer_value(json_object_get(b, "status")), out.status);
        json_decref(b);
        ms_http_out_release(&out);
    }
    ms_http_reply_error("r-6", MS_EBUSY, NULL, &out);
    cr_expect_eq(out.status, 503);
    cr_expect_gt(out.retry_after_s, 0, "503 carries Retry-After");
    ms_http_out_release(&out);
    ms_http_reply_error("r-7", MS_ELIMIT, NULL, &out);
    cr_expect_eq(out.status, 429);
    cr_expect_gt(out.retry_after_s, 0, "429 carries Retry-After");
    ms_http_out_release(&out);
    ms_http_reply_error("r-8", MS_OK, NULL, &out);
    cr_expect_eq(out.status, 500, "an error reply for MS_OK is a bug, answered as 500");
    ms_http_out_release(&out);
}

static void
trp_req(struct ms_req *req)
{
    memset(req, 0, sizeof(*req));
    req->arena = ms_arena_new();
    req->request_id = "r-ok";
    req->route = "/api/test";
}

Test(reply, success_json_text_204_and_redirect)
{
    struct ms_req req;
    struct ms_http_out out;

    trp_req(&req);
    req.reply = json_pack("{s:{s:i}}", "data", "n", 1);
    ms_http_reply_ok(&req, &out);
    cr_expect_null(req.reply, "reply.c took the reference");
    cr_expect_eq(out.status, 200);
    cr_expect_eq(out.len, strlen("{\"data\":{\"n\":1}}"));
    cr_expect_eq(memcmp(out.body, "{\"data\":{\"n\":1}}", out.len), 0);
    ms_http_out_release(&out);

    req.status = 204;
    req.reply = json_object();
    ms_http_reply_ok(&req, &out);
    cr_expect_eq(out.status, 204);
    cr_expect_eq(out.len, 0);
    ms_http_out_release(&out);

    req.status = 0;
    req.reply_text = "a\nb\n";
    req.reply_text_len = 4;
    req.reply_type = "application/x-ndjson";
    ms_http_reply_ok(&req, &out);
    cr_expect_eq(out.status, 200);
    cr_expect_eq(out.len, 4);
    cr_expect_str_eq(out.type, "application/x-ndjson");
    cr_expect_eq(out.mem, MS_HTTP_MEM_ARENA);
    ms_http_out_release(&out);

    req.reply_text = NULL;
    req.location = "/api/logs/x?sig=1";
    ms_http_reply_ok(&req, &out);
    cr_expect_eq(out.status, 302);
    cr_expect_str_eq(out.location, "/api/logs/x?sig=1");
    ms_http_out_release(&out);

    req.location = NULL;
    req.status = 42;
    ms_http_reply_ok(&req, &out);
    cr_expect_eq(out.status, 500, "nonsense statuses become 500");
    ms_http_out_release(&out);
    ms_arena_free(req.arena);
}

Test(reply, discard_drops_a_failed_handlers_reply)
{
    struct ms_req req;

    trp_req(&req);
    req.reply = json_object();
    req.status = 201;
    req.location = "/x";
    ms_http_reply_discard(&req);
    cr_expect_null(req.reply);
    cr_expect_eq(req.status, 0);
    cr_expect_null(req.location);
    ms_arena_free(req.arena);
}
