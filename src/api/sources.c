/*
 * sources.c: A1 and A2, the source metadata of a connection (API.md §5.1, §5.2, DECISIONS §4).
 *
 * `params` is JSON text in the query. A1 passes the choices so far (map<string,string[]>) to the
 * connector's describe(); A2 reads params as a model configuration, unwrapping the SDK's
 * one-element arrays ({"table":["users"]} → {"table":"users"}), and answers the fields such a
 * model would have. Go's SDK sends `params=map[...]` (D21): that is a 400 saying so.
 */
#include "api/api_int.h"

#include <string.h>

static enum ms_status src_meta(struct ms_req *req, struct ms_error *err);
static enum ms_status src_fields(struct ms_req *req, struct ms_error *err);

const struct ms_route ms_api_sources_routes[] = {
    {"GET", "/api/connections/{id:uuid}/modelsync/source", src_meta, 0},
    {"GET", "/api/connections/{id:uuid}/modelsync/source/fields", src_fields, 0},
    {NULL, NULL, NULL, 0},
};

/* The path's connection, which must be able to act as a source (D10: 400 not_a_source). */
static enum ms_status
src_conn(struct ms_req *req, struct ms_connection *conn, const struct ms_connector **impl,
         struct ms_error *err)
{
    char id[MS_UUID_LEN + 1];
    enum ms_status st;

    st = ms_api_path_id(req, "id", id, err);
    if (st == MS_OK)
        st = ms_api_conn_load(req, id, conn, impl, err);
    if (st != MS_OK)
        return st;
    if (!((*impl)->flags & MS_CX_SOURCE))
        return ms_fail_key(err, MS_EINVAL, "not_a_source",
                           "connection \"%s\" (%s) cannot act as a source", conn->name, conn->type);
    return MS_OK;
}

/* The params query value as a JSON object (request-owned), or NULL when absent. */
static enum ms_status
src_params(struct ms_req *req, json_t **out, struct ms_error *err)
{
    const char *text = ms_req_query(req, "params");
    json_error_t jerr;
    json_t *v;

    *out = NULL;
    if (text == NULL)
        return MS_OK;
    if (strncmp(text, "map[", 4) == 0)
        return ms_fail_at(err, MS_EINVAL, "params",
                          "must be JSON text such as {\"table\":[\"users\"]}; a Go map[...] "
                          "rendering cannot be read");
    v = ms_api_keep(req, json_loads(text, 0, &jerr));
    if (v == NULL)
        return ms_fail_at(err, MS_EINVAL, "params", "not valid JSON (column %d): %s", jerr.column,
                          jerr.text);
    if (!json_is_object(v))
        return ms_fail_at(err, MS_EINVAL, "params", "must be a JSON object");
    *out = v;
    return MS_OK;
}

/* A1's params: map<string, string[]>. */
static enum ms_status
src_check_choices(struct ms_req *req, json_t *params, struct ms_error *err)
{
    const char *k;
    json_t *v, *s;
    size_t i;

    json_object_foreach(params, k, v)
    {
        if (!json_is_array(v))
            return ms_fail_at(err, MS_EINVAL, ms_arena_printf(req->arena, "params.%s", k),
                              "must be an array of strings");
        json_array_foreach(v, i, s)
        {
            if (!json_is_string(s))
                return ms_fail_at(err, MS_EINVAL,
                                  ms_arena_printf(req->arena, "params.%s[%zu]", k, i),
                                  "must be a string");
        }
    }
    return MS_OK;
}

static enum ms_status
src_meta(struct ms_req *req, struct ms_error *err)
{
    const struct ms_connector *impl = NULL;
    json_t *params = NULL, *meta = NULL;
    struct ms_connection conn;
    struct ms_cx *cx = NULL;
    enum ms_status st;

    st = src_conn(req, &conn, &impl, err);
    if (st == MS_OK)
        st = src_params(req, &params, err);
    if (st == MS_OK && params != NULL)
        st = src_check_choices(req, params, err);
    if (st == MS_OK)
        st = ms_api_conn_open(req, &conn, impl, &cx, err);
    if (st == MS_OK && impl->describe == NULL)
        meta = json_object();
    else if (st == MS_OK)
        st = impl->describe(cx, params, &meta, err);
    if (st != MS_OK)
        return st;
    req->reply = ms_api_data(meta != NULL ? meta : json_object());
    return MS_OK;
}

/* A2's params as a model configuration: one-element string arrays become their string. */
static enum ms_status
src_model_config(struct ms_req *req, json_t *params, json_t **out, struct ms_error *err)
{
    json_t *cfg = ms_api_keep(req, json_object()), *v;
    const char *k;

    json_object_foreach(params, k, v)
    {
        if (json_is_array(v) && json_array_size(v) != 1)
            return ms_fail_at(err, MS_EINVAL, ms_arena_printf(req->arena, "params.%s", k),
                              "expected exactly one value");
        json_object_set(cfg, k, json_is_array(v) ? json_array_get(v, 0) : v);
    }
    *out = cfg;
    return MS_OK;
}

/* [{name, label, type, remote_type}] from the connector's fields(). */
static json_t *
src_fields_json(const json_t *found)
{
    json_t *out = json_array(), *f, *o, *rt;
    size_t i;

    json_array_foreach(found, i, f)
    {
        o = json_object();
        json_object_set(o, "name", json_object_get(f, "name"));
        json_object_set(o, "label", json_object_get(f, "name"));
        json_object_set(o, "type", json_object_get(f, "type"));
        rt = json_object_get(f, "remote_type");
        if (rt != NULL)
            json_object_set(o, "remote_type", rt);
        json_array_append_new(out, o);
    }
    return out;
}

static enum ms_status
src_fields(struct ms_req *req, struct ms_error *err)
{
    const struct ms_connector *impl = NULL;
    json_t *params = NULL, *cfg = NULL, *found = NULL;
    struct ms_connection conn;
    struct ms_cx *cx = NULL;
    enum ms_status st;

    st = src_conn(req, &conn, &impl, err);
    if (st == MS_OK)
        st = src_params(req, &params, err);
    if (st == MS_OK && params == NULL)
        st = ms_fail_at(err, MS_EINVAL, "params",
                        "required: the model configuration, e.g. {\"table\":[\"users\"]}");
    if (st == MS_OK)
        st = src_model_config(req, params, &cfg, err);
    if (st == MS_OK && impl->model_validate != NULL) {
        st = impl->model_validate(cfg, err);
        if (st != MS_OK)
            ms_api_field_reroot(err, "configuration", "params");
    }
    if (st == MS_OK)
        st = ms_api_conn_open(req, &conn, impl, &cx, err);
    if (st != MS_OK)
        return st;
    st = impl->fields(cx, cfg, &found, err);
    if (st != MS_OK) {
        st = ms_api_source_fail(st, "params", err);
        ms_api_field_reroot(err, "configuration", "params");
        return st;
    }
    ms_api_keep(req, found);
    if (!json_is_array(found))
        return ms_fail(err, MS_EINTERNAL, "connector %s fields(): not an array", impl->type);
    req->reply = ms_api_data(src_fields_json(found));
    return MS_OK;
}
