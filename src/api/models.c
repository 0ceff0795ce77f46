/*
 * models.c: C11–C17, models of the caller's organization (API.md §10.5, §10.6).
 *
 * A model is a configuration on a source-capable connection; its fields are discovered from the
 * source when it is created, and again on update when the configuration, the connection or the
 * enabled field list needs it (or `refresh: true`). Everything runs synchronously: `async` is
 * accepted and ignored and no job is ever created (D17). Source failures while discovering,
 * previewing or sampling are the client's (400 "source: …"), not ours. The other request
 * members (identifier, tracking_columns, relations, labels, policies, additional_fields,
 * enricher, fields) are kept in the model's doc as given, labels rendered as {"name": label}.
 */
#include "api/api_int.h"

#include <string.h>
#include "core/time.h"

static enum ms_status models_list(struct ms_req *req, struct ms_error *err);
static enum ms_status models_create(struct ms_req *req, struct ms_error *err);
static enum ms_status models_get(struct ms_req *req, struct ms_error *err);
static enum ms_status models_update(struct ms_req *req, struct ms_error *err);
static enum ms_status models_delete(struct ms_req *req, struct ms_error *err);
static enum ms_status models_sample(struct ms_req *req, struct ms_error *err);
static enum ms_status models_preview(struct ms_req *req, struct ms_error *err);

const struct ms_route ms_api_models_routes[] = {
    {"GET", "/api/models", models_list, 0},
    {"POST", "/api/models", models_create, 0},
    {"GET", "/api/models/{id:uuid}", models_get, 0},
    {"PUT", "/api/models/{id:uuid}", models_update, 0},
    {"DELETE", "/api/models/{id:uuid}", models_delete, 0},
    {"GET", "/api/models/{id:uuid}/sample", models_sample, 0},
    {"POST", "/api/model-preview", models_preview, 0},
    {NULL, NULL, NULL, 0},
};

#define MODELS_MAX_NAME 255   /* bytes of a model name */
#define MODELS_SAMPLE_ROWS 10 /* records in a sample (C16) */

/* ---- rendering ---- */

/* labels are requested as strings and served as objects (LabelLabel). */
static json_t *
models_labels_json(const json_t *labels)
{
    json_t *out = json_array(), *v;
    size_t i;

    json_array_foreach(labels, i, v)
    {
        if (json_is_string(v))
            json_array_append_new(out, json_pack("{s:O}", "name", v));
    }
    return out;
}

/* ModelResponse of m. A preview (m->id NULL) has no id, version or audit members. */
static json_t *
models_json(const struct ms_model *m)
{
    json_t *o = json_object(), *doc = m->doc, *v;

    if (m->id != NULL)
        json_object_set_new(o, "id", json_string(m->id));
    json_object_set_new(o, "name", json_string(m->name));
    json_object_set_new(o, "connection_id", json_string(m->connection_id));
    json_object_set_new(o, "organization_id", json_string(m->org_id));
    json_object_set_new(o, "type", json_string(m->type));
    json_object_set_new(o, "configuration", json_deep_copy(m->config));
    json_object_set_new(o, "fields", ms_api_array_or_empty(m->fields));
    v = json_object_get(doc, "identifier");
    if (json_is_string(v))
        json_object_set(o, "identifier", v);
    json_object_set_new(o, "tracking_columns",
                        ms_api_array_or_empty(json_object_get(doc, "tracking_columns")));
    json_object_set_new(o, "relations", ms_api_array_or_empty(json_object_get(doc, "relations")));
    v = json_object_get(doc, "enricher");
    if (json_is_object(v))
        json_object_set_new(o, "enricher", json_deep_copy(v));
    json_object_set_new(o, "labels", models_labels_json(json_object_get(doc, "labels")));
    json_object_set_new(o, "policies", ms_api_array_or_empty(json_object_get(doc, "policies")));
    if (m->id != NULL)
        json_object_set_new(o, "version", json_integer(m->version));
    ms_json_set_time(o, "created_at", m->created_at);
    ms_json_set_time(o, "updated_at", m->updated_at);
    ms_api_set_actor(o, "created_by", &m->created_by);
    ms_api_set_actor(o, "updated_by", &m->updated_by);
    return o;
}

/* The stored doc: the request members that are not columns of their own. */
static json_t *
models_doc(const struct ms_api_model_in *in)
{
    json_t *doc = json_object();

    if (in->identifier != NULL)
        json_object_set_new(doc, "identifier", json_string(in->identifier));
    if (in->fields != NULL)
        json_object_set(doc, "fields", in->fields);
    if (in->additional != NULL)
        json_object_set(doc, "additional_fields", in->additional);
    if (in->tracking != NULL)
        json_object_set(doc, "tracking_columns", in->tracking);
    if (in->relations != NULL)
        json_object_set(doc, "relations", in->relations);
    if (in->labels != NULL)
        json_object_set(doc, "labels", in->labels);
    if (in->policies != NULL)
        json_object_set(doc, "policies", in->policies);
    if (in->enricher != NULL)
        json_object_set(doc, "enricher", in->enricher);
    return doc;
}

/* ---- input ---- */

/* name (required, non-empty) and connection_id (required UUID). */
static enum ms_status
models_parse_ids(struct ms_req *req, const json_t *body, struct ms_api_model_in *in,
                 struct ms_error *err)
{
    const char *cid = NULL;
    enum ms_status st;

    st = ms_api_check_org(req, body, err);
    if (st == MS_OK)
        st = ms_json_req_str(body, "name", "name", &in->name, err);
    if (st == MS_OK && in->name[0] == '\0')
        st = ms_fail_at(err, MS_EINVAL, "name", "must not be empty");
    if (st == MS_OK && strlen(in->name) > MODELS_MAX_NAME)
        st = ms_fail_at(err, MS_EINVAL, "name", "longer than %d bytes", MODELS_MAX_NAME);
    if (st == MS_OK)
        st = ms_json_req_str(body, "connection_id", "connection_id", &cid, err);
    if (st == MS_OK && !ms_uuid_norm(cid, in->connection_id))
        st = ms_fail_at(err, MS_EINVAL, "connection_id", "not a valid UUID");
    return st;
}

/* The whole body, type-checked; references are resolved later. */
static enum ms_status
models_parse(struct ms_req *req, const json_t *body, struct ms_api_model_in *in,
             struct ms_error *err)
{
    enum ms_status st;

    memset(in, 0, sizeof(*in));
    st = models_parse_ids(req, body, in, err);
    if (st == MS_OK)
        st = ms_json_req_obj(body, "configuration", "configuration", &in->config, err);
    if (st == MS_OK)
        st = ms_api_str_list(req, body, "fields", false, &in->fields, err);
    if (st == MS_OK)
        st = ms_api_model_parse_additional(req, body, in, err);
    if (st == MS_OK)
        st = ms_json_opt_str(body, "identifier", "identifier", &in->identifier, err);
    if (st == MS_OK)
        st = ms_api_str_list(req, body, "tracking_columns", false, &in->tracking, err);
    if (st == MS_OK)
        st = ms_api_model_parse_relations(req, body, in, err);
    if (st == MS_OK)
        st = ms_api_str_list(req, body, "labels", false, &in->labels, err);
    if (st == MS_OK)
        st = ms_api_str_list(req, body, "policies", true, &in->policies, err);
    if (st == MS_OK)
        st = ms_json_opt_obj(body, "enricher", "enricher", &in->enricher, err);
    if (st == MS_OK)
        st = ms_json_opt_bool(body, "refresh", "refresh", &in->refresh, err);
    return st;
}

/* The source connection of in: a source-capable connection of the organization (else 422). */
static enum ms_status
models_source(struct ms_req *req, const struct ms_api_model_in *in, struct ms_connection *conn,
              const struct ms_connector **impl, struct ms_error *err)
{
    enum ms_status st;

    st = ms_api_conn_load(req, in->connection_id, conn, impl, err);
    if (st == MS_ENOTFOUND)
        return ms_fail_at(err, MS_EUNPROC, "connection_id", "no connection %s in this organization",
                          in->connection_id);
    if (st != MS_OK)
        return st;
    if (!((*impl)->flags & MS_CX_SOURCE)) {
        st = ms_fail_at(err, MS_EUNPROC, "connection_id",
                        "connection \"%s\" (%s) cannot be a source", conn->name, conn->type);
        err->key = "not_a_source";
        return st;
    }
    st = (*impl)->model_validate != NULL ? (*impl)->model_validate(in->config, err) : MS_OK;
    if (st != MS_OK)
        ms_api_field_prefix(err, "configuration");
    return st;
}

/* The source's fields for in->config ([{name, type, remote_type}], request-owned). */
static enum ms_status
models_discover(struct ms_req *req, const struct ms_connection *conn,
                const struct ms_connector *impl, const json_t *cfg, json_t **out,
                struct ms_error *err)
{
    struct ms_cx *cx = NULL;
    enum ms_status st;

    st = ms_api_conn_open(req, conn, impl, &cx, err);
    if (st != MS_OK)
        return ms_api_source_fail(st, "connection_id", err);
    *out = NULL;
    st = impl->fields(cx, cfg, out, err);
    if (st != MS_OK)
        return ms_api_source_fail(st, "configuration", err);
    ms_api_keep(req, *out);
    return MS_OK;
}

/*
 * On update, the stored fields still describe the source when neither the connection nor the
 * configuration changed, no refresh was asked for, and every enabled name is known.
 */
static bool
models_can_reuse(const struct ms_api_model_in *in, const struct ms_model *prev)
{
    json_t *f, *v;
    size_t i;

    if (in->refresh || strcmp(in->connection_id, prev->connection_id) != 0 ||
        !json_equal(in->config, prev->config))
        return false;
    if (in->fields == NULL) /* all of them: reusable iff the stored list was all of them */
        return json_object_get(prev->doc, "fields") == NULL;
    json_array_foreach(in->fields, i, v)
    {
        f = ms_api_field_find(prev->fields, json_string_value(v));
        if ((f == NULL || json_is_true(json_object_get(f, "user_added"))) &&
            ms_api_field_find(in->additional, json_string_value(v)) == NULL)
            return false;
    }
    return true;
}

/* The source fields kept in prev's stored fields, in the connector's fields() shape. */
static json_t *
models_prev_discovered(struct ms_req *req, const struct ms_model *prev)
{
    json_t *out = ms_api_keep(req, json_array()), *f, *d;
    size_t i;

    json_array_foreach(prev->fields, i, f)
    {
        if (json_is_true(json_object_get(f, "user_added")))
            continue;
        d = json_object();
        json_object_set(d, "name", json_object_get(f, "name"));
        json_object_set(d, "type", json_object_get(f, "type"));
        if (json_object_get(f, "remote_type") != NULL)
            json_object_set(d, "remote_type", json_object_get(f, "remote_type"));
        json_array_append_new(out, d);
    }
    return out;
}

/*
 * Resolve in against the source and the store into m's connection, type, configuration,
 * fields and doc (prev: the stored model on update, else NULL; preview: no ids or audit).
 */
static enum ms_status
models_build(struct ms_req *req, const struct ms_api_model_in *in, const struct ms_model *prev,
             bool preview, struct ms_model *m, struct ms_error *err)
{
    const struct ms_connector *impl = NULL;
    json_t *discovered = NULL, *fields = NULL;
    struct ms_connection conn;
    enum ms_status st;

    st = models_source(req, in, &conn, &impl, err);
    if (st != MS_OK)
        return st;
    if (prev != NULL && models_can_reuse(in, prev))
        discovered = models_prev_discovered(req, prev);
    else
        st = models_discover(req, &conn, impl, in->config, &discovered, err);
    if (st == MS_OK)
        st = ms_api_model_fields(req, in, discovered, prev != NULL ? prev->fields : NULL, preview,
                                 &fields, err);
    if (st == MS_OK)
        st = ms_api_model_refs(req, in, prev != NULL ? prev->id : NULL, fields, err);
    if (st != MS_OK)
        return st;
    m->org_id = req->auth.org_id;
    m->connection_id = ms_arena_strdup(req->arena, in->connection_id);
    m->name = in->name;
    m->type = conn.type;
    m->config = in->config;
    m->fields = fields;
    m->doc = ms_api_keep(req, models_doc(in));
    return MS_OK;
}

/* Parse the body and build the model from it. */
static enum ms_status
models_from_body(struct ms_req *req, const struct ms_model *prev, bool preview, struct ms_model *m,
                 struct ms_error *err)
{
    struct ms_api_model_in in;
    json_t *body = NULL;
    enum ms_status st;

    st = ms_api_body(req, &body, err);
    if (st == MS_OK)
        st = models_parse(req, body, &in, err);
    if (st == MS_OK)
        st = models_build(req, &in, prev, preview, m, err);
    return st;
}

/* A name the store refuses as a duplicate is the client's 422. */
static enum ms_status
models_saved(enum ms_status st, const char *name, struct ms_error *err)
{
    if (st == MS_ECONFLICT)
        return ms_fail_at(err, MS_EUNPROC, "name", "a model named \"%s\" already exists", name);
    return st;
}

/* The stored model of the path's id. */
static enum ms_status
models_load(struct ms_req *req, struct ms_model *m, struct ms_error *err)
{
    char id[MS_UUID_LEN + 1];
    enum ms_status st;

    st = ms_api_path_id(req, "id", id, err);
    if (st == MS_OK)
        st = ms_store_model_get(req->store, req->arena, req->auth.org_id, id, m, err);
    return st;
}

/* ---- handlers ---- */

static enum ms_status
models_list(struct ms_req *req, struct ms_error *err)
{
    struct ms_model *list = NULL;
    enum ms_status st;
    size_t i, n = 0;
    json_t *data;

    st = ms_store_model_list(req->store, req->arena, req->auth.org_id, NULL, &list, &n, err);
    if (st != MS_OK)
        return st;
    data = json_array();
    for (i = 0; i < n; i++)
        json_array_append_new(data, models_json(&list[i]));
    req->reply = ms_api_data(data);
    return MS_OK;
}

static enum ms_status
models_get(struct ms_req *req, struct ms_error *err)
{
    struct ms_model m;
    enum ms_status st;

    st = models_load(req, &m, err);
    if (st != MS_OK)
        return st;
    req->reply = ms_api_data(models_json(&m));
    return MS_OK;
}

static enum ms_status
models_create(struct ms_req *req, struct ms_error *err)
{
    char id[MS_UUID_LEN + 1];
    struct ms_model m;
    enum ms_status st;

    memset(&m, 0, sizeof(m));
    st = models_from_body(req, NULL, false, &m, err);
    if (st != MS_OK)
        return st;
    ms_uuid_new(id);
    m.id = ms_arena_strdup(req->arena, id);
    m.version = 1;
    m.created_at = m.updated_at = ms_time_now_ms();
    m.created_by = m.updated_by = ms_actor_from_auth(&req->auth);
    st = models_saved(ms_store_model_insert(req->store, &m, err), m.name, err);
    if (st != MS_OK)
        return st;
    req->reply = ms_api_data(models_json(&m));
    return MS_OK;
}

static enum ms_status
models_update(struct ms_req *req, struct ms_error *err)
{
    struct ms_model prev, m;
    enum ms_status st;

    st = models_load(req, &prev, err);
    if (st != MS_OK)
        return st;
    m = prev;
    st = models_from_body(req, &prev, false, &m, err);
    if (st != MS_OK)
        return st;
    m.version = prev.version + 1;
    m.updated_at = ms_time_now_ms();
    m.updated_by = ms_actor_from_auth(&req->auth);
    st = models_saved(ms_store_model_update(req->store, &m, err), m.name, err);
    if (st != MS_OK)
        return st;
    req->reply = ms_api_data(models_json(&m));
    return MS_OK;
}

static enum ms_status
models_delete(struct ms_req *req, struct ms_error *err)
{
    int64_t n_syncs = 0;
    struct ms_model m;
    enum ms_status st;

    st = models_load(req, &m, err);
    if (st == MS_OK)
        st = ms_store_model_usage(req->store, req->auth.org_id, m.id, &n_syncs, err);
    if (st != MS_OK)
        return st;
    if (n_syncs > 0)
        return ms_fail_key(err, MS_EUNPROC, "model_in_use",
                           "model is used by %lld sync(s); delete or change them first",
                           (long long)n_syncs);
    st = ms_store_model_delete(req->store, req->auth.org_id, m.id, err);
    if (st != MS_OK)
        return st;
    req->status = 204;
    return MS_OK;
}

/* One sample row {column: value} reduced to the model's enabled source fields. */
static json_t *
models_sample_record(const struct ms_model *m, const json_t *row)
{
    json_t *rec = json_object(), *f, *v;
    const char *name;
    size_t i;

    json_array_foreach(m->fields, i, f)
    {
        name = json_string_value(json_object_get(f, "name"));
        v = name != NULL ? json_object_get(row, name) : NULL;
        if (v != NULL)
            json_object_set(rec, name, v);
    }
    return json_pack("{s:o}", m->id, rec);
}

static enum ms_status
models_sample(struct ms_req *req, struct ms_error *err)
{
    const struct ms_connector *impl = NULL;
    json_t *rows = NULL, *records, *row, *d;
    struct ms_connection conn;
    struct ms_cx *cx = NULL;
    struct ms_model m;
    enum ms_status st;
    size_t i;

    st = models_load(req, &m, err);
    if (st == MS_OK)
        st = ms_api_conn_load(req, m.connection_id, &conn, &impl, err);
    if (st != MS_OK)
        return st;
    st = ms_api_conn_open(req, &conn, impl, &cx, err);
    if (st == MS_OK)
        st = ms_cx_sample(cx, m.config, MODELS_SAMPLE_ROWS, &rows, err);
    if (st != MS_OK)
        return ms_api_source_fail(st, NULL, err);
    ms_api_keep(req, rows);
    records = json_array();
    json_array_foreach(rows, i, row)
    {
        json_array_append_new(records, models_sample_record(&m, row));
    }
    d = json_object();
    json_object_set_new(d, "records", records);
    json_object_set_new(d, "warnings", json_array());
    req->reply = ms_api_data(d);
    return MS_OK;
}

static enum ms_status
models_preview(struct ms_req *req, struct ms_error *err)
{
    struct ms_model m;
    enum ms_status st;

    memset(&m, 0, sizeof(m));
    st = models_from_body(req, NULL, true, &m, err);
    if (st != MS_OK)
        return st;
    req->reply = ms_api_data(models_json(&m));
    return MS_OK;
}
