/*
 * connections.c: C5–C10, the connections of the caller's organization (API.md §10.4).
 *
 * A configuration is checked by the connector's validate() (no I/O), its secret members are
 * sealed with the deployment key before it reaches the store, and every read redacts them to
 * "********". Create and update test the connection (open, test, close): with `validate: true`
 * a failed test refuses the request, otherwise the connection is saved as "unhealthy" with the
 * reason. On update a secret sent back as "********" keeps the stored one (D18).
 */
#include "api/api_int.h"

#include <string.h>
#include "core/crypto.h"
#include "core/time.h"

static enum ms_status conn_list(struct ms_req *req, struct ms_error *err);
static enum ms_status conn_create(struct ms_req *req, struct ms_error *err);
static enum ms_status conn_test(struct ms_req *req, struct ms_error *err);
static enum ms_status conn_get(struct ms_req *req, struct ms_error *err);
static enum ms_status conn_update(struct ms_req *req, struct ms_error *err);
static enum ms_status conn_delete(struct ms_req *req, struct ms_error *err);

const struct ms_route ms_api_connections_routes[] = {
    {"GET", "/api/connections", conn_list, 0},
    {"POST", "/api/connections", conn_create, 0},
    {"POST", "/api/connections/test", conn_test, 0},
    {"GET", "/api/connections/{id:uuid}", conn_get, 0},
    {"PUT", "/api/connections/{id:uuid}", conn_update, 0},
    {"DELETE", "/api/connections/{id:uuid}", conn_delete, 0},
    {NULL, NULL, NULL, 0},
};

#define CONN_MAX_NAME 255 /* bytes of a connection name */

/* The members of a create or update body, borrowed from the parsed body. */
struct conn_input {
    const char *name;
    const char *type; /* NULL when absent (optional on update) */
    json_t *config;
    bool validate;
    const char *healthcheck_interval; /* NULL when absent */
    json_t *policies;                 /* normalized uuid[], request-owned; NULL when absent */
};

/* ---- rendering ---- */

/* Redaction when the type is not built in: every sealed string reads as the placeholder. */
static json_t *
conn_redact_sealed(const json_t *cfg)
{
    json_t *out = json_deep_copy(cfg), *v;
    const char *k;

    json_object_foreach(out, k, v)
    {
        if (json_is_string(v) && ms_is_sealed(json_string_value(v)))
            json_object_set_new(out, k, json_string(MS_REDACTED));
    }
    return out;
}

/* ConnectionTypeSchema: {id, name, operations}. */
static json_t *
conn_type_json(const struct ms_connector *impl, const char *type)
{
    json_t *t = json_object(), *ops = json_array();

    if (impl != NULL && (impl->flags & MS_CX_SOURCE))
        json_array_append_new(ops, json_string("source"));
    if (impl != NULL && (impl->flags & MS_CX_DEST))
        json_array_append_new(ops, json_string("destination"));
    json_object_set_new(t, "id", json_string(type));
    json_object_set_new(t, "name", json_string(impl != NULL ? impl->name : type));
    json_object_set_new(t, "operations", ops);
    return t;
}

/* ConnectionResponseSchema of c (impl may be NULL for a type that is not built in). */
static json_t *
conn_json(const struct ms_connection *c, const struct ms_connector *impl)
{
    json_t *o = json_object(), *cfg;

    cfg = impl != NULL ? ms_conn_config_redact(c->config, impl->secrets)
                       : conn_redact_sealed(c->config);
    json_object_set_new(o, "id", json_string(c->id));
    json_object_set_new(o, "name", json_string(c->name));
    json_object_set_new(o, "organization_id", json_string(c->org_id));
    json_object_set_new(o, "type", conn_type_json(impl, c->type));
    json_object_set_new(o, "configuration", cfg);
    json_object_set_new(o, "status", json_string(c->status != NULL ? c->status : "pending"));
    if (c->status_error != NULL)
        json_object_set_new(o, "status_error", json_string(c->status_error));
    json_object_set_new(o, "saved", json_true());
    json_object_set_new(o, "policies", ms_api_array_or_empty(c->policies));
    ms_json_set_time(o, "created_at", c->created_at);
    ms_json_set_time(o, "updated_at", c->updated_at);
    ms_api_set_actor(o, "created_by", &c->created_by);
    ms_api_set_actor(o, "updated_by", &c->updated_by);
    return o;
}

/* CreateConnectionResponseSchema: the connection plus healthcheck_interval when set. */
static json_t *
conn_saved_json(const struct ms_connection *c, const struct ms_connector *impl)
{
    json_t *o = conn_json(c, impl);

    if (c->healthcheck_interval != NULL)
        json_object_set_new(o, "healthcheck_interval", json_string(c->healthcheck_interval));
    return ms_api_data(o);
}

/* ---- input ---- */

static enum ms_status
conn_parse(struct ms_req *req, const json_t *body, bool type_required, struct conn_input *in,
           struct ms_error *err)
{
    enum ms_status st;

    memset(in, 0, sizeof(*in));
    st = ms_api_check_org(req, body, err);
    if (st == MS_OK)
        st = ms_json_req_str(body, "name", "name", &in->name, err);
    if (st == MS_OK && in->name[0] == '\0')
        st = ms_fail_at(err, MS_EINVAL, "name", "must not be empty");
    if (st == MS_OK && strlen(in->name) > CONN_MAX_NAME)
        st = ms_fail_at(err, MS_EINVAL, "name", "longer than %d bytes", CONN_MAX_NAME);
    if (st == MS_OK)
        st = type_required ? ms_json_req_str(body, "type", "type", &in->type, err)
                           : ms_json_opt_str(body, "type", "type", &in->type, err);
    if (st == MS_OK)
        st = ms_json_req_obj(body, "configuration", "configuration", &in->config, err);
    if (st == MS_OK)
        st = ms_json_opt_bool(body, "validate", "validate", &in->validate, err);
    if (st == MS_OK)
        st = ms_json_opt_str(body, "healthcheck_interval", "healthcheck_interval",
                             &in->healthcheck_interval, err);
    if (st == MS_OK)
        st = ms_api_str_list(req, body, "policies", true, &in->policies, err);
    return st;
}

/* The connector of a requested type: unknown → 422 naming "type". */
static enum ms_status
conn_find_type(const char *type, const struct ms_connector **impl, struct ms_error *err)
{
    *impl = ms_cx_find(type);
    if (*impl == NULL)
        return ms_fail_at(err, MS_EUNPROC, "type", "unknown connection type \"%s\"", type);
    return MS_OK;
}

/*
 * Validate and seal in->config (prev: the stored sealed configuration on update, else NULL),
 * then test it. Sets c->config (request-owned), c->status and c->status_error.
 */
static enum ms_status
conn_prepare(struct ms_req *req, const struct ms_connector *impl, const struct conn_input *in,
             const json_t *prev, struct ms_connection *c, struct ms_error *err)
{
    json_t *sealed = NULL, *plain = NULL;
    struct ms_error terr;
    enum ms_status st;

    st = impl->validate != NULL ? impl->validate(in->config, err) : MS_OK;
    if (st == MS_OK)
        st = ms_conn_config_seal(in->config, prev, impl->secrets, req->cfg->secret, &sealed, err);
    if (st != MS_OK) {
        ms_api_field_prefix(err, "configuration");
        return st;
    }
    c->config = ms_api_keep(req, sealed);
    st = ms_conn_config_unseal(sealed, impl->secrets, req->cfg->secret, &plain, err);
    if (st != MS_OK)
        return st;
    ms_api_keep(req, plain);
    ms_error_clear(&terr);
    st = ms_api_cx_test(impl, plain, &terr);
    c->status = st == MS_OK ? "healthy" : "unhealthy";
    c->status_error = st == MS_OK ? NULL : ms_arena_strdup(req->arena, terr.msg);
    if (st == MS_OK || (!in->validate && st != MS_EINTERNAL))
        return MS_OK;
    if (st == MS_EINTERNAL || st == MS_EUNSUPP) {
        *err = terr;
        return st;
    }
    return ms_fail(err, MS_EINVAL, "connection test failed: %s", terr.msg);
}

/* Store a duplicate name as a 422 naming it (the store reports ECONFLICT). */
static enum ms_status
conn_saved(enum ms_status st, const char *name, struct ms_error *err)
{
    if (st == MS_ECONFLICT)
        return ms_fail_at(err, MS_EUNPROC, "name", "a connection named \"%s\" already exists",
                          name);
    return st;
}

/* ---- handlers ---- */

static enum ms_status
conn_list(struct ms_req *req, struct ms_error *err)
{
    struct ms_connection *list = NULL;
    json_t *data;
    enum ms_status st;
    size_t i, n = 0;

    st = ms_store_conn_list(req->store, req->arena, req->auth.org_id, &list, &n, err);
    if (st != MS_OK)
        return st;
    data = json_array();
    for (i = 0; i < n; i++)
        json_array_append_new(data, conn_json(&list[i], ms_cx_find(list[i].type)));
    req->reply = ms_api_data(data);
    return MS_OK;
}

static enum ms_status
conn_get(struct ms_req *req, struct ms_error *err)
{
    char id[MS_UUID_LEN + 1];
    struct ms_connection c;
    enum ms_status st;

    st = ms_api_path_id(req, "id", id, err);
    if (st == MS_OK)
        st = ms_store_conn_get(req->store, req->arena, req->auth.org_id, id, &c, err);
    if (st != MS_OK)
        return st;
    req->reply = ms_api_data(conn_json(&c, ms_cx_find(c.type)));
    return MS_OK;
}

static enum ms_status
conn_create(struct ms_req *req, struct ms_error *err)
{
    const struct ms_connector *impl = NULL;
    struct ms_connection c;
    struct conn_input in;
    char id[MS_UUID_LEN + 1];
    json_t *body = NULL;
    enum ms_status st;

    memset(&c, 0, sizeof(c));
    st = ms_api_body(req, &body, err);
    if (st == MS_OK)
        st = conn_parse(req, body, true, &in, err);
    if (st == MS_OK)
        st = conn_find_type(in.type, &impl, err);
    if (st == MS_OK)
        st = conn_prepare(req, impl, &in, NULL, &c, err);
    if (st != MS_OK)
        return st;
    ms_uuid_new(id);
    c.id = ms_arena_strdup(req->arena, id);
    c.org_id = req->auth.org_id;
    c.name = in.name;
    c.type = impl->type;
    c.policies = in.policies;
    c.healthcheck_interval = in.healthcheck_interval;
    c.created_at = c.updated_at = ms_time_now_ms();
    c.created_by = c.updated_by = ms_actor_from_auth(&req->auth);
    st = conn_saved(ms_store_conn_insert(req->store, &c, err), c.name, err);
    if (st != MS_OK)
        return st;
    req->reply = conn_saved_json(&c, impl);
    return MS_OK;
}

static enum ms_status
conn_update(struct ms_req *req, struct ms_error *err)
{
    const struct ms_connector *impl = NULL;
    struct ms_connection c;
    struct conn_input in;
    char id[MS_UUID_LEN + 1];
    json_t *body = NULL;
    enum ms_status st;

    memset(&c, 0, sizeof(c));
    st = ms_api_path_id(req, "id", id, err);
    if (st == MS_OK)
        st = ms_api_conn_load(req, id, &c, &impl, err);
    if (st == MS_OK)
        st = ms_api_body(req, &body, err);
    if (st == MS_OK)
        st = conn_parse(req, body, false, &in, err);
    if (st == MS_OK && in.type != NULL && strcmp(in.type, c.type) != 0)
        st = ms_fail_at(err, MS_EINVAL, "type", "a connection's type cannot change (it is \"%s\")",
                        c.type);
    if (st == MS_OK)
        st = conn_prepare(req, impl, &in, c.config, &c, err);
    if (st != MS_OK)
        return st;
    c.name = in.name;
    c.policies = in.policies;
    c.healthcheck_interval = in.healthcheck_interval;
    c.updated_at = ms_time_now_ms();
    c.updated_by = ms_actor_from_auth(&req->auth);
    st = conn_saved(ms_store_conn_update(req->store, &c, err), c.name, err);
    if (st != MS_OK)
        return st;
    req->reply = conn_saved_json(&c, impl);
    return MS_OK;
}

static enum ms_status
conn_delete(struct ms_req *req, struct ms_error *err)
{
    char id[MS_UUID_LEN + 1];
    struct ms_connection c;
    int64_t n_models = 0, n_syncs = 0;
    bool force = false;
    enum ms_status st;

    st = ms_api_path_id(req, "id", id, err);
    if (st == MS_OK)
        st = ms_api_query_bool(req, "force", false, &force, err);
    if (st == MS_OK)
        st = ms_store_conn_get(req->store, req->arena, req->auth.org_id, id, &c, err);
    if (st == MS_OK)
        st = ms_store_conn_usage(req->store, req->auth.org_id, id, &n_models, &n_syncs, err);
    if (st != MS_OK)
        return st;
    if ((n_models > 0 || n_syncs > 0) && !force)
        return ms_fail_key(err, MS_EUNPROC, "connection_in_use",
                           "connection is used by %lld model(s) and %lld sync(s); delete them "
                           "first or pass force=true to delete them with it",
                           (long long)n_models, (long long)n_syncs);
    st = ms_store_conn_delete(req->store, req->auth.org_id, id, force, err);
    if (st != MS_OK)
        return st;
    req->status = 204;
    return MS_OK;
}

/* True iff member is one of impl's secret members. */
static bool
conn_is_secret(const struct ms_connector *impl, const char *member)
{
    const char *const *s;

    for (s = impl->secrets; s != NULL && *s != NULL; s++)
        if (strcmp(*s, member) == 0)
            return true;
    return false;
}

/*
 * C10's configuration: given's members over stored (the unsealed configuration of connection_id,
 * or NULL); a secret sent as "********" keeps the stored value. *out is request-owned.
 */
static enum ms_status
conn_merge(struct ms_req *req, const struct ms_connector *impl, json_t *given, const json_t *stored,
           json_t **out, struct ms_error *err)
{
    json_t *merged = ms_api_keep(req, stored != NULL ? json_deep_copy(stored) : json_object());
    const char *k;
    json_t *v;

    json_object_foreach(given, k, v)
    {
        if (json_is_string(v) && strcmp(json_string_value(v), MS_REDACTED) == 0 &&
            conn_is_secret(impl, k)) {
            if (json_object_get(merged, k) == NULL)
                return ms_fail_at(err, MS_EINVAL,
                                  ms_arena_printf(req->arena, "configuration.%s", k),
                                  "\"%s\" keeps a stored secret, but there is none", MS_REDACTED);
            continue;
        }
        json_object_set(merged, k, v);
    }
    *out = merged;
    return MS_OK;
}

/* The unsealed stored configuration of connection_id when the body names one, else NULL. */
static enum ms_status
conn_test_stored(struct ms_req *req, const json_t *body, const struct ms_connector *impl,
                 json_t **stored, struct ms_error *err)
{
    const char *cid = NULL;
    char id[MS_UUID_LEN + 1];
    struct ms_connection c;
    enum ms_status st;

    *stored = NULL;
    st = ms_json_opt_str(body, "connection_id", "connection_id", &cid, err);
    if (st != MS_OK || cid == NULL)
        return st;
    if (!ms_uuid_norm(cid, id))
        return ms_fail_at(err, MS_EINVAL, "connection_id", "not a valid UUID");
    st = ms_store_conn_get(req->store, req->arena, req->auth.org_id, id, &c, err);
    if (st != MS_OK)
        return st;
    if (strcmp(c.type, impl->type) != 0)
        return ms_fail_at(err, MS_EINVAL, "type", "connection %s is of type \"%s\"", id, c.type);
    st = ms_conn_config_unseal(c.config, impl->secrets, req->cfg->secret, stored, err);
    if (st == MS_OK)
        ms_api_keep(req, *stored);
    return st;
}

static enum ms_status
conn_test(struct ms_req *req, struct ms_error *err)
{
    const struct ms_connector *impl = NULL;
    json_t *body = NULL, *cfg = NULL, *stored = NULL, *merged = NULL;
    const char *type = NULL;
    struct ms_error terr;
    enum ms_status st;

    st = ms_api_body(req, &body, err);
    if (st == MS_OK)
        st = ms_json_req_str(body, "type", "type", &type, err);
    if (st == MS_OK)
        st = ms_json_req_obj(body, "configuration", "configuration", &cfg, err);
    if (st == MS_OK)
        st = conn_find_type(type, &impl, err);
    if (st == MS_OK)
        st = conn_test_stored(req, body, impl, &stored, err);
    if (st == MS_OK)
        st = conn_merge(req, impl, cfg, stored, &merged, err);
    if (st == MS_OK && impl->validate != NULL) {
        st = impl->validate(merged, err);
        if (st != MS_OK)
            ms_api_field_prefix(err, "configuration");
    }
    if (st != MS_OK)
        return st;
    ms_error_clear(&terr);
    st = ms_api_cx_test(impl, merged, &terr);
    if (st == MS_EINTERNAL || st == MS_EUNSUPP) {
        *err = terr;
        return st;
    }
    if (st != MS_OK)
        return ms_fail(err, MS_EINVAL, "connection test failed: %s", terr.msg);
    req->status = 204;
    return MS_OK;
}
