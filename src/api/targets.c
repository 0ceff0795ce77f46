/*
 * targets.c: B7–B9, what a destination connection can write (API.md §6.7–§6.9, §3.13).
 *
 * Objects and fields are read live from the connector on every call, so `refresh` has nothing
 * to refresh and refreshed_at is now. B7 uses the SupportedMode shape the connector gives;
 * B8 turns the same modes into the Mode shape with a label and a description. Target creation
 * properties are free text; B9 suggests the values describe() knows for a property of the
 * same name (the schemas of a database), never the names of objects that already exist.
 */
#include "api/api_int.h"

#include <string.h>
#include "core/time.h"

static enum ms_status tgt_objects(struct ms_req *req, struct ms_error *err);
static enum ms_status tgt_fields(struct ms_req *req, struct ms_error *err);
static enum ms_status tgt_property(struct ms_req *req, struct ms_error *err);

const struct ms_route ms_api_targets_routes[] = {
    {"GET", "/api/connections/{id:uuid}/modelsync/targetobjects", tgt_objects, 0},
    {"GET", "/api/connections/{id:uuid}/modelsync/target/fields", tgt_fields, 0},
    {"GET", "/api/connections/{id:uuid}/modelsync/targetobjects/properties/{property}",
     tgt_property, 0},
    {NULL, NULL, NULL, 0},
};

/* Label and description of each write mode (Mode, B8). */
static const struct {
    const char *id, *label, *description;
} tgt_modes[] = {
    {"create", "Create", "Create records when they don't exist; don't update existing ones"},
    {"update", "Update", "Update existing records that match the identity; never create new ones"},
    {"updateOrCreate", "Update or create",
     "Update records that match the identity and create the ones that don't exist"},
    {"remove", "Remove", "Delete the target records that match the model's records"},
    {"replace", "Replace",
     "Make the target equal to the model's output, removing records no longer in it"},
    {"append", "Append", "Add every new or changed record as a new row; nothing is updated"},
    {"snapshot", "Snapshot", "Write a full, timestamped copy of the model's output on every run"},
};

/* The path's connection (404 when not the caller's). */
static enum ms_status
tgt_conn(struct ms_req *req, struct ms_connection *conn, const struct ms_connector **impl,
         struct ms_error *err)
{
    char id[MS_UUID_LEN + 1];
    enum ms_status st;

    st = ms_api_path_id(req, "id", id, err);
    if (st == MS_OK)
        st = ms_api_conn_load(req, id, conn, impl, err);
    return st;
}

/* The path's connection, opened; it must be a destination (400 not_a_destination). */
static enum ms_status
tgt_open(struct ms_req *req, const struct ms_connector **impl, struct ms_cx **cx,
         struct ms_error *err)
{
    struct ms_connection conn;
    enum ms_status st;

    st = tgt_conn(req, &conn, impl, err);
    if (st != MS_OK)
        return st;
    if (!((*impl)->flags & MS_CX_DEST))
        return ms_fail_key(err, MS_EINVAL, "not_a_destination",
                           "connection \"%s\" (%s) cannot act as a destination", conn.name,
                           conn.type);
    return ms_api_conn_open(req, &conn, *impl, cx, err);
}

/* The connector's TargetCreator, or {"supported": false, "properties": []}. New reference. */
static enum ms_status
tgt_creation(const struct ms_connector *impl, json_t **out, struct ms_error *err)
{
    json_error_t jerr;

    if (!(impl->flags & MS_CX_CREATE) || impl->target_creation == NULL) {
        *out = json_pack("{s:b, s:[]}", "supported", 0, "properties");
        return MS_OK;
    }
    *out = json_loads(impl->target_creation, 0, &jerr);
    if (*out == NULL)
        return ms_fail(err, MS_EINTERNAL, "connector %s: target_creation: %s", impl->type,
                       jerr.text);
    return MS_OK;
}

/* objects() of an open destination, request-owned. */
static enum ms_status
tgt_list(struct ms_req *req, const struct ms_connector *impl, struct ms_cx *cx, json_t **out,
         struct ms_error *err)
{
    enum ms_status st;

    *out = NULL;
    st = impl->objects(cx, out, err);
    if (st != MS_OK)
        return st;
    ms_api_keep(req, *out);
    if (!json_is_array(*out))
        return ms_fail(err, MS_EINTERNAL, "connector %s objects(): not an array", impl->type);
    return MS_OK;
}

static enum ms_status
tgt_objects(struct ms_req *req, struct ms_error *err)
{
    const struct ms_connector *impl = NULL;
    json_t *objects = NULL, *tc = NULL;
    struct ms_cx *cx = NULL;
    enum ms_status st;

    st = tgt_open(req, &impl, &cx, err);
    if (st == MS_OK)
        st = tgt_list(req, impl, cx, &objects, err);
    if (st == MS_OK)
        st = tgt_creation(impl, &tc, err);
    if (st != MS_OK)
        return st;
    req->reply = ms_api_data(json_incref(objects));
    json_object_set_new(req->reply, "target_creation", tc);
    return MS_OK;
}

/* Mode (B8 shape) of a SupportedMode entry. */
static json_t *
tgt_mode_json(const json_t *sm)
{
    const char *id = json_string_value(json_object_get(sm, "id"));
    const char *label = id, *desc = "";
    size_t i;

    for (i = 0; i < MS_ARRAY_LEN(tgt_modes); i++)
        if (strcmp(tgt_modes[i].id, id) == 0) {
            label = tgt_modes[i].label;
            desc = tgt_modes[i].description;
        }
    return json_pack("{s:s, s:s, s:s, s:b, s:b, s:b}", "mode", id, "label", label, "description",
                     desc, "requires_identity",
                     json_is_true(json_object_get(sm, "requires_identity")),
                     "supports_field_sync_mode", 0, "supports_target_filters", 0);
}

/* SyncDestinationProperties of a connector. */
static json_t *
tgt_properties(const struct ms_connector *impl)
{
    static const char *const off[] = {
        "does_not_report_operation_counts", "requires_configuration",
        "supports_field_creation",          "supports_field_encryption",
        "supports_field_type_selection",    "supports_identity_field_creation",
        "supports_target_filters",
    };
    bool freeform = (impl->flags & MS_CX_FREEFORM) != 0;
    json_t *p = json_object();
    size_t i;

    for (i = 0; i < MS_ARRAY_LEN(off); i++)
        json_object_set_new(p, off[i], json_false());
    json_object_set_new(p, "target_creator", json_boolean(impl->flags & MS_CX_CREATE));
    json_object_set_new(p, "mappings_not_required", json_boolean(freeform));
    json_object_set_new(p, "optional_target_mappings", json_boolean(freeform));
    json_object_set_new(p, "use_field_names_as_labels", json_boolean(freeform));
    return p;
}

/* TargetResponse of object obj (an element of objects()) with its fields. */
static json_t *
tgt_response(const struct ms_connector *impl, const char *target, const json_t *obj, json_t *fields)
{
    json_t *r = json_object(), *modes = json_array(), *sm, *name;
    size_t i;

    json_array_foreach(json_object_get(obj, "modes"), i, sm)
    {
        if (json_is_string(json_object_get(sm, "id")))
            json_array_append_new(modes, tgt_mode_json(sm));
    }
    name = json_object_get(obj, "name");
    json_object_set_new(r, "id", json_string(target));
    json_object_set_new(r, "name", json_is_string(name) ? json_incref(name) : json_string(target));
    json_object_set_new(r, "fields", fields);
    json_object_set_new(r, "modes", modes);
    json_object_set_new(r, "properties", tgt_properties(impl));
    ms_json_set_time(r, "refreshed_at", ms_time_now_ms());
    return r;
}

/* The element of objects whose id is target, or NULL. */
static json_t *
tgt_find(const json_t *objects, const char *target)
{
    json_t *o;
    size_t i;

    json_array_foreach(objects, i, o)
    {
        const char *id = json_string_value(json_object_get(o, "id"));

        if (id != NULL && strcmp(id, target) == 0)
            return o;
    }
    return NULL;
}

static enum ms_status
tgt_fields(struct ms_req *req, struct ms_error *err)
{
    const char *target = ms_req_query(req, "target");
    const struct ms_connector *impl = NULL;
    json_t *objects = NULL, *obj = NULL, *fields = NULL;
    struct ms_cx *cx = NULL;
    bool refresh = false;
    enum ms_status st = MS_OK;

    if (target == NULL || target[0] == '\0')
        st = ms_fail_at(err, MS_EINVAL, "target", "required: the target object id");
    if (st == MS_OK)
        st = ms_api_query_bool(req, "refresh", false, &refresh, err);
    if (st == MS_OK)
        st = tgt_open(req, &impl, &cx, err);
    if (st == MS_OK)
        st = tgt_list(req, impl, cx, &objects, err);
    if (st == MS_OK && (obj = tgt_find(objects, target)) == NULL)
        st = ms_fail(err, MS_ENOTFOUND, "target object \"%s\" not found", target);
    if (st == MS_OK)
        st = impl->object_fields(cx, target, &fields, err);
    if (st != MS_OK)
        return st;
    if (!json_is_array(fields)) {
        json_decref(fields);
        return ms_fail(err, MS_EINTERNAL, "connector %s object_fields(): not an array", impl->type);
    }
    req->reply = ms_api_data(tgt_response(impl, target, obj, fields));
    return MS_OK;
}

/* A describe() item as text: a string, or an object's "value", "id" or "name"; else NULL. */
static const char *
tgt_item_text(const json_t *v)
{
    static const char *const keys[] = {"value", "id", "name"};
    size_t i;

    if (json_is_string(v))
        return json_string_value(v);
    for (i = 0; i < MS_ARRAY_LEN(keys); i++)
        if (json_is_string(json_object_get(v, keys[i])))
            return json_string_value(json_object_get(v, keys[i]));
    return NULL;
}

/*
 * B9 values of a creation property: the choices describe() offers under the same name (the
 * schemas of a database), minus existing objects, since creating needs a new name (a "table"
 * property lists nothing). *out is request-owned.
 */
static enum ms_status
tgt_property_values(struct ms_req *req, const struct ms_connection *conn,
                    const struct ms_connector *impl, const char *property, json_t **out,
                    struct ms_error *err)
{
    json_t *meta = NULL, *objects = NULL, *items, *v;
    struct ms_cx *cx = NULL;
    const char *text;
    enum ms_status st;
    size_t i;

    *out = ms_api_keep(req, json_array());
    if (impl->describe == NULL)
        return MS_OK;
    st = ms_api_conn_open(req, conn, impl, &cx, err);
    if (st == MS_OK)
        st = impl->describe(cx, NULL, &meta, err);
    if (st != MS_OK)
        return st;
    ms_api_keep(req, meta);
    items = json_object_get(json_object_get(json_object_get(meta, "items"), property), "items");
    if (json_array_size(items) > 0 && impl->objects != NULL)
        st = tgt_list(req, impl, cx, &objects, err);
    json_array_foreach(items, i, v)
    {
        text = tgt_item_text(v);
        if (st == MS_OK && text != NULL && tgt_find(objects, text) == NULL)
            json_array_append_new(*out, json_pack("{s:s, s:s}", "value", text, "label", text));
    }
    return st;
}

static enum ms_status
tgt_property(struct ms_req *req, struct ms_error *err)
{
    const char *property = ms_req_param(req, "property");
    const struct ms_connector *impl = NULL;
    json_t *tc = NULL, *p, *found = NULL, *values = NULL;
    struct ms_connection conn;
    enum ms_status st;
    size_t i;

    st = tgt_conn(req, &conn, &impl, err);
    if (st != MS_OK)
        return st;
    if (!(impl->flags & MS_CX_CREATE) || impl->target_creation == NULL)
        return ms_fail(err, MS_ENOTFOUND, "connection \"%s\" does not support target creation",
                       conn.name);
    st = tgt_creation(impl, &tc, err);
    if (st != MS_OK)
        return st;
    ms_api_keep(req, tc);
    json_array_foreach(json_object_get(tc, "properties"), i, p)
    {
        const char *id = json_string_value(json_object_get(p, "id"));

        if (id != NULL && property != NULL && strcmp(id, property) == 0)
            found = p;
    }
    if (found == NULL)
        return ms_fail(err, MS_ENOTFOUND, "no target creation property \"%s\"",
                       property != NULL ? property : "");
    st = tgt_property_values(req, &conn, impl, property, &values, err);
    if (st != MS_OK)
        return st;
    req->reply = ms_api_data(
        json_pack("{s:s, s:O?, s:b, s:O}", "id", property, "title", json_object_get(found, "title"),
                  "enum", json_is_true(json_object_get(found, "enum")), "values", values));
    return MS_OK;
}
