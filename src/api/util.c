/*
 * util.c: parse-or-fail helpers shared by every handler in api/ (declared in api_int.h), and
 * the request accessors of api.h (ms_req_param, ms_req_query).
 *
 * Each helper checks one piece of input and records a precise error naming the member, so the
 * handlers stay a straight sequence of "parse, validate, call, reply". Whatever they allocate is
 * tied to the request arena; an open connector is closed by an arena defer, so no handler path
 * can leak one. Runs on MHD pool threads; touches only the request.
 */
#include "api/api_int.h"

#include <stdio.h>
#include <string.h>
#include "core/str.h"
#include "core/uuid.h"

const char *
ms_req_param(const struct ms_req *req, const char *name)
{
    size_t i;

    for (i = 0; i < req->nparams; i++)
        if (strcmp(req->params[i].key, name) == 0)
            return req->params[i].val;
    return NULL;
}

const char *
ms_req_query(const struct ms_req *req, const char *key)
{
    const char *val = NULL;
    size_t i;

    for (i = 0; i < req->nquery; i++) /* the last one wins, as api.h promises */
        if (strcmp(req->query[i].key, key) == 0)
            val = req->query[i].val;
    return val;
}

void
ms_api_json_release(void *v)
{
    json_decref(v);
}

json_t *
ms_api_keep(struct ms_req *req, json_t *v)
{
    if (v != NULL)
        ms_arena_defer(req->arena, ms_api_json_release, v);
    return v;
}

json_t *
ms_api_data(json_t *v)
{
    json_t *o = json_object();

    json_object_set_new(o, "data", v);
    return o;
}

enum ms_status
ms_api_body(struct ms_req *req, json_t **out, struct ms_error *err)
{
    json_error_t jerr;
    json_t *v;

    if (req->body.len == 0)
        return ms_fail(err, MS_EINVAL, "request body must be a JSON object");
    v = json_loadb(req->body.p, req->body.len, JSON_DECODE_ANY, &jerr);
    if (v == NULL)
        return ms_fail(err, MS_EINVAL, "malformed JSON at line %d, column %d: %s", jerr.line,
                       jerr.column, jerr.text);
    ms_api_keep(req, v);
    if (!json_is_object(v))
        return ms_fail(err, MS_EINVAL, "request body must be a JSON object");
    *out = v;
    return MS_OK;
}

enum ms_status
ms_api_query_bool(const struct ms_req *req, const char *key, bool def, bool *out,
                  struct ms_error *err)
{
    const char *v = ms_req_query(req, key);
    struct ms_str s = ms_str_c(v);

    if (v == NULL) {
        *out = def;
        return MS_OK;
    }
    if (ms_str_casec(s, "true") || ms_str_eqc(s, "1")) {
        *out = true;
        return MS_OK;
    }
    if (ms_str_casec(s, "false") || ms_str_eqc(s, "0")) {
        *out = false;
        return MS_OK;
    }
    return ms_fail_at(err, MS_EINVAL, key, "must be true or false");
}

enum ms_status
ms_api_source_fail(enum ms_status st, const char *field, struct ms_error *err)
{
    char msg[sizeof(err->msg)];

    if (err == NULL || (st != MS_EUPSTREAM && st != MS_ENOTFOUND))
        return st;
    snprintf(msg, sizeof(msg), "%s", err->msg);
    ms_fail(err, st == MS_EUPSTREAM ? MS_EINVAL : MS_EUNPROC, "source: %s", msg);
    if (field != NULL)
        snprintf(err->field, sizeof(err->field), "%s", field);
    return err->status;
}

void
ms_api_field_reroot(struct ms_error *err, const char *from, const char *to)
{
    char field[sizeof(err->field)], rest[sizeof(err->msg)];
    size_t olen, flen = strlen(from);
    int n;

    if (err == NULL || err->field[0] == '\0')
        return;
    if (strncmp(err->field, from, flen) == 0 &&
        (err->field[flen] == '.' || err->field[flen] == '[' || err->field[flen] == '\0'))
        n = snprintf(field, sizeof(field), "%s%s", to, err->field + flen);
    else
        n = snprintf(field, sizeof(field), "%s.%s", to, err->field);
    if (n < 0 || (size_t)n >= sizeof(field) || strcmp(field, err->field) == 0)
        return; /* unchanged, or too long to re-root: keep the connector's own naming */
    olen = strlen(err->field);
    if (strncmp(err->msg, err->field, olen) == 0 && strncmp(err->msg + olen, ": ", 2) == 0) {
        memcpy(rest, err->msg + olen + 2, sizeof(err->msg) - olen - 2);
        /* a longer message is cut, as every message is */
        if (snprintf(err->msg, sizeof(err->msg), "%s: %s", field, rest) < 0)
            err->msg[0] = '\0';
    }
    memcpy(err->field, field, sizeof(field));
}

void
ms_api_field_prefix(struct ms_error *err, const char *prefix)
{
    ms_api_field_reroot(err, prefix, prefix);
}

enum ms_status
ms_api_check_org(const struct ms_req *req, const json_t *body, struct ms_error *err)
{
    const char *org = NULL;
    char id[MS_UUID_LEN + 1];
    enum ms_status st;

    st = ms_json_opt_str(body, "organization_id", "organization_id", &org, err);
    if (st != MS_OK || org == NULL)
        return st;
    if (!ms_uuid_norm(org, id))
        return ms_fail_at(err, MS_EINVAL, "organization_id", "not a valid UUID");
    if (strcmp(id, req->auth.org_id) != 0)
        return ms_fail_at(err, MS_EDENIED, "organization_id",
                          "this key may only act in its own organization");
    return MS_OK;
}

enum ms_status
ms_api_str_list(struct ms_req *req, const json_t *body, const char *key, bool uuid, json_t **out,
                struct ms_error *err)
{
    json_t *arr = NULL, *v, *res;
    char id[MS_UUID_LEN + 1];
    enum ms_status st;
    size_t i;

    *out = NULL;
    st = ms_json_opt_arr(body, key, key, &arr, err);
    if (st != MS_OK || arr == NULL)
        return st;
    if (json_array_size(arr) > MS_API_MAX_LIST)
        return ms_fail_at(err, MS_ETOOBIG, key, "more than %d entries", MS_API_MAX_LIST);
    res = ms_api_keep(req, json_array());
    json_array_foreach(arr, i, v)
    {
        if (!json_is_string(v))
            return ms_fail_at(err, MS_EINVAL, ms_arena_printf(req->arena, "%s[%zu]", key, i),
                              "must be a string");
        if (uuid && !ms_uuid_norm(json_string_value(v), id))
            return ms_fail_at(err, MS_EINVAL, ms_arena_printf(req->arena, "%s[%zu]", key, i),
                              "not a valid UUID");
        json_array_append_new(res, uuid ? json_string(id) : json_copy(v));
    }
    *out = res;
    return MS_OK;
}

enum ms_status
ms_api_conn_load(struct ms_req *req, const char *id, struct ms_connection *conn,
                 const struct ms_connector **impl, struct ms_error *err)
{
    enum ms_status st;

    st = ms_store_conn_get(req->store, req->arena, req->auth.org_id, id, conn, err);
    if (st != MS_OK)
        return st;
    *impl = ms_cx_find(conn->type);
    if (*impl == NULL)
        return ms_fail(err, MS_EUNSUPP, "connection type \"%s\" is not built into this server",
                       conn->type);
    return MS_OK;
}

/* ms_defer_fn adapter: ms_cx_close(cx). */
static void
util_cx_close(void *cx)
{
    ms_cx_close(cx);
}

enum ms_status
ms_api_conn_open(struct ms_req *req, const struct ms_connection *conn,
                 const struct ms_connector *impl, struct ms_cx **cx, struct ms_error *err)
{
    json_t *plain = NULL;
    enum ms_status st;

    st = ms_conn_config_unseal(conn->config, impl->secrets, req->cfg->secret, &plain, err);
    if (st != MS_OK)
        return st;
    ms_api_keep(req, plain);
    st = ms_cx_open(impl, plain, cx, err);
    if (st != MS_OK)
        return st;
    ms_arena_defer(req->arena, util_cx_close, *cx);
    return MS_OK;
}

enum ms_status
ms_api_cx_test(const struct ms_connector *impl, const json_t *cfg, struct ms_error *err)
{
    struct ms_cx *cx = NULL;
    enum ms_status st;

    st = ms_cx_open(impl, cfg, &cx, err);
    if (st != MS_OK)
        return st;
    if (impl->test != NULL)
        st = impl->test(cx, err);
    ms_cx_close(cx);
    return st;
}

enum ms_status
ms_api_path_id(const struct ms_req *req, const char *name, char out[MS_UUID_LEN + 1],
               struct ms_error *err)
{
    if (!ms_uuid_norm(ms_req_param(req, name), out))
        return ms_fail(err, MS_ENOTFOUND, "not found");
    return MS_OK;
}

void
ms_api_set_actor(json_t *obj, const char *key, const struct ms_actor *a)
{
    json_t *v = ms_actor_to_json(a);

    if (v != NULL)
        json_object_set_new(obj, key, v);
}

json_t *
ms_api_array_or_empty(const json_t *v)
{
    return json_is_array(v) ? json_deep_copy(v) : json_array();
}
