/*
 * connection_types.c: C3 GET /api/connection_types and C4 GET /api/connection_types/{id}, read
 * from the connector registry. The configuration form is each connector's JSON Schema; the
 * initial configuration is the schema's top-level "default"s. No OAuth, enrichment or
 * orchestration connectors exist, so those capabilities are always false.
 */
#include "api/api_int.h"

static enum ms_status types_list(struct ms_req *req, struct ms_error *err);
static enum ms_status types_schema(struct ms_req *req, struct ms_error *err);

const struct ms_route ms_api_connection_types_routes[] = {
    {"GET", "/api/connection_types", types_list, 0},
    {"GET", "/api/connection_types/{id}", types_schema, 0},
    {NULL, NULL, NULL, 0},
};

/* The connector's configuration schema as a new reference. */
static enum ms_status
types_parse_schema(const struct ms_connector *c, json_t **out, struct ms_error *err)
{
    json_error_t jerr;

    *out = c->schema != NULL ? json_loads(c->schema, 0, &jerr) : json_object();
    if (*out == NULL)
        return ms_fail(err, MS_EINTERNAL, "connector %s: configuration schema: %s", c->type,
                       jerr.text);
    return MS_OK;
}

/* {member: default} for every top-level property of schema that has one. */
static json_t *
types_defaults(const json_t *schema)
{
    json_t *props = json_object_get(schema, "properties"), *p, *d, *out = json_object();
    const char *name;

    json_object_foreach(props, name, p)
    {
        d = json_object_get(p, "default");
        if (d != NULL)
            json_object_set(out, name, d);
    }
    return out;
}

static json_t *
types_item(const struct ms_connector *c, json_t *schema)
{
    json_t *t = json_object(), *caps = json_object(), *form = json_object();

    json_object_set_new(caps, "source", json_boolean(c->flags & MS_CX_SOURCE));
    json_object_set_new(caps, "destination", json_boolean(c->flags & MS_CX_DEST));
    json_object_set_new(caps, "enrichment", json_false());
    json_object_set_new(caps, "orchestration", json_false());
    json_object_set_new(form, "jsonschema", schema);
    json_object_set_new(form, "uischema", json_object());
    json_object_set_new(t, "id", json_string(c->type));
    json_object_set_new(t, "name", json_string(c->name));
    json_object_set_new(t, "capabilities", caps);
    json_object_set_new(t, "initialConfiguration", types_defaults(schema));
    json_object_set_new(t, "configurationForm", form);
    json_object_set_new(t, "use_oauth", json_false());
    return t;
}

static enum ms_status
types_list(struct ms_req *req, struct ms_error *err)
{
    const struct ms_connector *const *all;
    json_t *list = json_array(), *schema;
    enum ms_status st = MS_OK;
    size_t i, n;

    all = ms_cx_all(&n);
    for (i = 0; i < n && st == MS_OK; i++) {
        st = types_parse_schema(all[i], &schema, err);
        if (st == MS_OK)
            json_array_append_new(list, types_item(all[i], schema));
    }
    if (st != MS_OK) {
        json_decref(list);
        return st;
    }
    req->reply = ms_api_data(list);
    return MS_OK;
}

static enum ms_status
types_schema(struct ms_req *req, struct ms_error *err)
{
    const char *id = ms_req_param(req, "id");
    const struct ms_connector *c = id != NULL ? ms_cx_find(id) : NULL;

    if (c == NULL)
        return ms_fail(err, MS_ENOTFOUND, "no connection type \"%s\"", id != NULL ? id : "");
    return types_parse_schema(c, &req->reply, err);
}
