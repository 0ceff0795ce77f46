/*
 * model_fields.c: a model's fields (ModelField[], API.md §10.6) and the request members that
 * refer to them. Fields come from the source (connector->fields()) plus the user's
 * additional_fields; `fields` picks which discovered ones are enabled. A field's id is stable by
 * name across updates, so clients and syncs that kept it stay valid. identifier,
 * tracking_columns and relations must name fields that exist (422 otherwise).
 */
#include "api/api_int.h"

#include <string.h>
#include "core/time.h"

/* What every field built for one request shares. */
struct mf_ctx {
    const json_t *prev; /* stored fields (update) or NULL */
    const char *identifier;
    bool preview;
    int64_t now;
    json_t *actor; /* OutputActor of the caller, or NULL */
};

json_t *
ms_api_field_find(const json_t *fields, const char *name)
{
    json_t *f;
    size_t i;

    for (i = 0; i < json_array_size(fields); i++) {
        f = json_array_get(fields, i);
        if (json_is_string(json_object_get(f, "name")) &&
            strcmp(json_string_value(json_object_get(f, "name")), name) == 0)
            return f;
    }
    return NULL;
}

/* ---- request shapes ---- */

/* One additional field: {name, label, type, example?}, copied into a fresh object. */
static enum ms_status
mf_parse_additional_one(struct ms_req *req, json_t *v, size_t i, json_t **out, struct ms_error *err)
{
    const char *path = ms_arena_printf(req->arena, "additional_fields[%zu]", i);
    const char *name = NULL, *label = NULL, *type = NULL;
    json_t *ex = json_object_get(v, "example");
    enum ms_status st;

    if (!json_is_object(v))
        return ms_fail_at(err, MS_EINVAL, path, "must be an object");
    st = ms_json_req_str(v, "name", ms_arena_printf(req->arena, "%s.name", path), &name, err);
    if (st == MS_OK && name[0] == '\0')
        st = ms_fail_at(err, MS_EINVAL, ms_arena_printf(req->arena, "%s.name", path),
                        "must not be empty");
    if (st == MS_OK)
        st =
            ms_json_req_str(v, "label", ms_arena_printf(req->arena, "%s.label", path), &label, err);
    if (st == MS_OK)
        st = ms_json_req_str(v, "type", ms_arena_printf(req->arena, "%s.type", path), &type, err);
    if (st == MS_OK && ex != NULL && !json_is_null(ex) && !json_is_string(ex))
        st = ms_fail_at(err, MS_EINVAL, ms_arena_printf(req->arena, "%s.example", path),
                        "must be a string");
    if (st != MS_OK)
        return st;
    *out = json_object();
    json_object_set_new(*out, "name", json_string(name));
    json_object_set_new(*out, "label", json_string(label));
    json_object_set_new(*out, "type", json_string(type));
    if (json_is_string(ex))
        json_object_set(*out, "example", ex);
    return MS_OK;
}

enum ms_status
ms_api_model_parse_additional(struct ms_req *req, const json_t *body, struct ms_api_model_in *in,
                              struct ms_error *err)
{
    json_t *arr = NULL, *v, *res, *one = NULL;
    enum ms_status st;
    size_t i;

    st = ms_json_opt_arr(body, "additional_fields", "additional_fields", &arr, err);
    if (st != MS_OK || arr == NULL)
        return st;
    if (json_array_size(arr) > MS_API_MAX_LIST)
        return ms_fail_at(err, MS_ETOOBIG, "additional_fields", "more than %d entries",
                          MS_API_MAX_LIST);
    res = ms_api_keep(req, json_array());
    json_array_foreach(arr, i, v)
    {
        st = mf_parse_additional_one(req, v, i, &one, err);
        if (st != MS_OK)
            return st;
        if (ms_api_field_find(res, json_string_value(json_object_get(one, "name"))) != NULL) {
            json_decref(one);
            return ms_fail_at(err, MS_EUNPROC,
                              ms_arena_printf(req->arena, "additional_fields[%zu].name", i),
                              "duplicate field name");
        }
        json_array_append_new(res, one);
    }
    in->additional = res;
    return MS_OK;
}

/* One relation {from, to: {model_id, field}}, copied with the model id lowercased. */
static enum ms_status
mf_parse_relation_one(struct ms_req *req, json_t *v, size_t i, json_t **out, struct ms_error *err)
{
    const char *path = ms_arena_printf(req->arena, "relations[%zu]", i);
    const char *from = NULL, *mid = NULL, *field = NULL;
    char id[MS_UUID_LEN + 1];
    json_t *to = NULL;
    enum ms_status st;

    if (!json_is_object(v))
        return ms_fail_at(err, MS_EINVAL, path, "must be an object");
    st = ms_json_req_str(v, "from", ms_arena_printf(req->arena, "%s.from", path), &from, err);
    if (st == MS_OK)
        st = ms_json_req_obj(v, "to", ms_arena_printf(req->arena, "%s.to", path), &to, err);
    if (st == MS_OK)
        st = ms_json_req_str(to, "model_id", ms_arena_printf(req->arena, "%s.to.model_id", path),
                             &mid, err);
    if (st == MS_OK && !ms_uuid_norm(mid, id))
        st = ms_fail_at(err, MS_EINVAL, ms_arena_printf(req->arena, "%s.to.model_id", path),
                        "not a valid UUID");
    if (st == MS_OK)
        st = ms_json_req_str(to, "field", ms_arena_printf(req->arena, "%s.to.field", path), &field,
                             err);
    if (st != MS_OK)
        return st;
    *out = json_pack("{s:s, s:{s:s, s:s}}", "from", from, "to", "model_id", id, "field", field);
    return MS_OK;
}

enum ms_status
ms_api_model_parse_relations(struct ms_req *req, const json_t *body, struct ms_api_model_in *in,
                             struct ms_error *err)
{
    json_t *arr = NULL, *v, *res, *one = NULL;
    enum ms_status st;
    size_t i;

    st = ms_json_opt_arr(body, "relations", "relations", &arr, err);
    if (st != MS_OK || arr == NULL)
        return st;
    if (json_array_size(arr) > MS_API_MAX_LIST)
        return ms_fail_at(err, MS_ETOOBIG, "relations", "more than %d entries", MS_API_MAX_LIST);
    res = ms_api_keep(req, json_array());
    json_array_foreach(arr, i, v)
    {
        st = mf_parse_relation_one(req, v, i, &one, err);
        if (st != MS_OK)
            return st;
        json_array_append_new(res, one);
    }
    in->relations = res;
    return MS_OK;
}

/* ---- building ModelField[] ---- */

/* Keep the identity and audit of the stored field of the same name (p), or start them. */
static void
mf_audit(const struct mf_ctx *c, json_t *f, const json_t *p)
{
    char id[MS_UUID_LEN + 1];
    json_t *v;

    v = json_object_get(p, "id");
    if (json_is_string(v)) {
        json_object_set(f, "id", v);
    } else {
        ms_uuid_new(id);
        json_object_set_new(f, "id", json_string(id));
    }
    v = json_object_get(p, "created_at");
    if (v != NULL)
        json_object_set(f, "created_at", v);
    else
        ms_json_set_time(f, "created_at", c->now);
    v = json_object_get(p, "created_by");
    if (v != NULL)
        json_object_set(f, "created_by", v);
    else if (c->actor != NULL)
        json_object_set(f, "created_by", c->actor);
    /* An unchanged field keeps its updated_at; any difference dates it now. */
    v = json_object_get(p, "updated_at");
    if (v != NULL)
        json_object_set(f, "updated_at", v);
    if (v == NULL || !json_equal(f, p))
        ms_json_set_time(f, "updated_at", c->now);
}

/* One ModelField. remote_type and example may be NULL. */
static json_t *
mf_make(const struct mf_ctx *c, const char *name, const char *label, const char *type,
        const char *remote_type, const json_t *example, bool user_added)
{
    json_t *f = json_object();

    json_object_set_new(f, "name", json_string(name));
    json_object_set_new(f, "label", json_string(label));
    json_object_set_new(f, "type", json_string(type));
    if (remote_type != NULL)
        json_object_set_new(f, "remote_type", json_string(remote_type));
    if (example != NULL)
        json_object_set_new(f, "example", json_deep_copy(example));
    json_object_set_new(f, "unique",
                        json_boolean(c->identifier != NULL && strcmp(c->identifier, name) == 0));
    json_object_set_new(f, "user_added", json_boolean(user_added));
    if (!c->preview)
        mf_audit(c, f, ms_api_field_find(c->prev, name));
    return f;
}

/* True iff the string array names holds name. */
static bool
mf_has(const json_t *names, const char *name)
{
    size_t i;

    for (i = 0; i < json_array_size(names); i++)
        if (strcmp(json_string_value(json_array_get(names, i)), name) == 0)
            return true;
    return false;
}

/* Every discovered entry has a string name and type (a connector that breaks this is a bug). */
static enum ms_status
mf_check_discovered(const json_t *discovered, struct ms_error *err)
{
    json_t *d;
    size_t i;

    if (!json_is_array(discovered))
        return ms_fail(err, MS_EINTERNAL, "connector fields(): not an array");
    if (json_array_size(discovered) > MS_MAX_COLUMNS)
        return ms_fail_at(err, MS_EUNPROC, "configuration", "the source has more than %d columns",
                          MS_MAX_COLUMNS);
    json_array_foreach(discovered, i, d)
    {
        if (!json_is_string(json_object_get(d, "name")) ||
            !json_is_string(json_object_get(d, "type")))
            return ms_fail(err, MS_EINTERNAL, "connector fields(): entry %zu lacks name or type",
                           i);
    }
    return MS_OK;
}

/* in->fields names only discovered or additional fields; additional ones clash with none. */
static enum ms_status
mf_check_names(struct ms_req *req, const struct ms_api_model_in *in, const json_t *discovered,
               struct ms_error *err)
{
    const char *name;
    json_t *v;
    size_t i;

    json_array_foreach(in->fields, i, v)
    {
        name = json_string_value(v);
        if (ms_api_field_find(discovered, name) == NULL &&
            ms_api_field_find(in->additional, name) == NULL)
            return ms_fail_at(err, MS_EUNPROC, ms_arena_printf(req->arena, "fields[%zu]", i),
                              "the source has no field \"%s\"", name);
    }
    json_array_foreach(in->additional, i, v)
    {
        name = json_string_value(json_object_get(v, "name"));
        if (ms_api_field_find(discovered, name) != NULL)
            return ms_fail_at(err, MS_EUNPROC,
                              ms_arena_printf(req->arena, "additional_fields[%zu].name", i),
                              "the source already has a field \"%s\"", name);
    }
    return MS_OK;
}

enum ms_status
ms_api_model_fields(struct ms_req *req, const struct ms_api_model_in *in, const json_t *discovered,
                    const json_t *prev, bool preview, json_t **out, struct ms_error *err)
{
    struct ms_actor actor = ms_actor_from_auth(&req->auth);
    struct mf_ctx c = {prev, in->identifier, preview, ms_time_now_ms(), NULL};
    const char *name;
    enum ms_status st;
    json_t *res, *d;
    size_t i;

    st = mf_check_discovered(discovered, err);
    if (st == MS_OK)
        st = mf_check_names(req, in, discovered, err);
    if (st != MS_OK)
        return st;
    c.actor = ms_api_keep(req, ms_actor_to_json(&actor));
    res = ms_api_keep(req, json_array());
    json_array_foreach(discovered, i, d)
    {
        name = json_string_value(json_object_get(d, "name"));
        if (in->fields != NULL && !mf_has(in->fields, name))
            continue;
        json_array_append_new(
            res, mf_make(&c, name, name, json_string_value(json_object_get(d, "type")),
                         json_string_value(json_object_get(d, "remote_type")), NULL, false));
    }
    json_array_foreach(in->additional, i, d)
    {
        json_array_append_new(res, mf_make(&c, json_string_value(json_object_get(d, "name")),
                                           json_string_value(json_object_get(d, "label")),
                                           json_string_value(json_object_get(d, "type")), NULL,
                                           json_object_get(d, "example"), true));
    }
    *out = res;
    return MS_OK;
}

/* ---- references ---- */

/* Each name in names (string[]) is a field: MS_EUNPROC naming key[i] otherwise. */
static enum ms_status
mf_refs_list(struct ms_req *req, const json_t *names, const char *key, const json_t *fields,
             struct ms_error *err)
{
    json_t *v;
    size_t i;

    json_array_foreach(names, i, v)
    {
        if (ms_api_field_find(fields, json_string_value(v)) == NULL)
            return ms_fail_at(err, MS_EUNPROC, ms_arena_printf(req->arena, "%s[%zu]", key, i),
                              "the model has no field \"%s\"", json_string_value(v));
    }
    return MS_OK;
}

/* Relation i: its from is ours, its to names a field of a model of the organization. */
static enum ms_status
mf_refs_relation(struct ms_req *req, const json_t *rel, size_t i, const char *self_id,
                 const json_t *fields, struct ms_error *err)
{
    const char *from = json_string_value(json_object_get(rel, "from"));
    json_t *to = json_object_get(rel, "to");
    const char *mid = json_string_value(json_object_get(to, "model_id"));
    const char *field = json_string_value(json_object_get(to, "field"));
    const json_t *other = fields;
    struct ms_model m;
    enum ms_status st;

    if (ms_api_field_find(fields, from) == NULL)
        return ms_fail_at(err, MS_EUNPROC, ms_arena_printf(req->arena, "relations[%zu].from", i),
                          "the model has no field \"%s\"", from);
    if (self_id == NULL || strcmp(self_id, mid) != 0) {
        st = ms_store_model_get(req->store, req->arena, req->auth.org_id, mid, &m, err);
        if (st == MS_ENOTFOUND)
            return ms_fail_at(err, MS_EUNPROC,
                              ms_arena_printf(req->arena, "relations[%zu].to.model_id", i),
                              "no model %s in this organization", mid);
        if (st != MS_OK)
            return st;
        other = m.fields;
    }
    if (ms_api_field_find(other, field) == NULL)
        return ms_fail_at(err, MS_EUNPROC,
                          ms_arena_printf(req->arena, "relations[%zu].to.field", i),
                          "model %s has no field \"%s\"", mid, field);
    return MS_OK;
}

enum ms_status
ms_api_model_refs(struct ms_req *req, const struct ms_api_model_in *in, const char *self_id,
                  const json_t *fields, struct ms_error *err)
{
    enum ms_status st = MS_OK;
    json_t *rel;
    size_t i;

    if (in->identifier != NULL && ms_api_field_find(fields, in->identifier) == NULL)
        return ms_fail_at(err, MS_EUNPROC, "identifier", "the model has no field \"%s\"",
                          in->identifier);
    st = mf_refs_list(req, in->tracking, "tracking_columns", fields, err);
    json_array_foreach(in->relations, i, rel)
    {
        if (st == MS_OK)
            st = mf_refs_relation(req, rel, i, self_id, fields, err);
    }
    return st;
}
