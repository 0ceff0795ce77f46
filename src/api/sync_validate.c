/*
 * sync_validate.c: the checks of a sync configuration that need I/O (sync_validate.h).
 *
 * model/sync.c has already checked shapes, so every member read here exists with the right
 * type. The order is chosen so that nothing is created for a request that is going to fail:
 * schedule and run_after, then every model reference, then the target connection; a
 * target.create object is made only after all of that passed, and the mode, identity and
 * mapping targets are then checked against the object itself (new or existing), as the engine
 * will see it. Models are loaded once per request and cached in the request arena. Runs on an
 * MHD pool thread; touches only the request, its store handle and the connector it opens.
 */
#include "api/sync_validate.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api_int.h"
#include "sched/sched.h"

#define SV_MAX_CHAIN 10000 /* syncs visited while looking for a run_after cycle */

struct sv_model {
    const char *id;
    bool found;
    struct ms_model m; /* valid when found */
};

struct sv_ctx {
    struct ms_req *req;
    json_t *config; /* the parsed configuration; target.object may be set here */
    const char *self_id;
    struct sv_model *models; /* request arena */
    size_t nmodels, cap;
    const struct ms_connector *impl;
    struct ms_connection conn;
    struct ms_cx *cx;   /* open; closed by a request arena defer */
    json_t *objects;    /* objects() of the target, request-owned */
    const json_t *mode; /* SupportedMode of config.mode on the target object */
    json_t *tfields;    /* object_fields() of the target object, request-owned */
};

/* ms_fail_at() with an ApiError key other than the status's default. */
static enum ms_status sv_fail_key_at(struct ms_error *err, enum ms_status st, const char *key,
                                     const char *field, const char *fmt, ...) MS_PRINTF(5, 6);

static enum ms_status
sv_fail_key_at(struct ms_error *err, enum ms_status st, const char *key, const char *field,
               const char *fmt, ...)
{
    char msg[256];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    ms_fail_at(err, st, field, "%s", msg);
    if (err != NULL)
        err->key = key;
    return st;
}

static const char *
sv_str(const json_t *obj, const char *key)
{
    return json_string_value(json_object_get(obj, key));
}

static const char *sv_path(struct sv_ctx *c, const char *fmt, ...) MS_PRINTF(2, 3);

static const char *
sv_path(struct sv_ctx *c, const char *fmt, ...)
{
    char buf[128];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    return ms_arena_strdup(c->req->arena, buf);
}

/* ---- models ---- */

/* The model id of the caller's organization, loaded once; NULL when there is none. */
static enum ms_status
sv_model(struct sv_ctx *c, const char *id, const struct ms_model **out, struct ms_error *err)
{
    struct sv_model *sm;
    enum ms_status st;

    for (size_t i = 0; i < c->nmodels; i++)
        if (strcmp(c->models[i].id, id) == 0) {
            *out = c->models[i].found ? &c->models[i].m : NULL;
            return MS_OK;
        }
    if (c->nmodels == c->cap) {
        struct sv_model *grown;

        c->cap = c->cap == 0 ? 8 : c->cap * 2;
        grown = ms_arena_alloc(c->req->arena, c->cap * sizeof(*grown));
        if (c->nmodels > 0)
            memcpy(grown, c->models, c->nmodels * sizeof(*grown));
        c->models = grown;
    }
    sm = &c->models[c->nmodels];
    memset(sm, 0, sizeof(*sm));
    sm->id = id;
    st = ms_store_model_get(c->req->store, c->req->arena, c->req->auth.org_id, id, &sm->m, err);
    if (st != MS_OK && st != MS_ENOTFOUND)
        return st;
    sm->found = st == MS_OK;
    c->nmodels++;
    *out = sm->found ? &sm->m : NULL;
    ms_error_clear(err);
    return MS_OK;
}

/* A Source at path: a model of the org that has the field. */
static enum ms_status
sv_source(struct sv_ctx *c, const json_t *src, const char *path, struct ms_error *err)
{
    const struct ms_model *m = NULL;
    const char *id = sv_str(src, "model_id"), *field = sv_str(src, "field");
    enum ms_status st;

    if (src == NULL)
        return MS_OK;
    if ((st = sv_model(c, id, &m, err)) != MS_OK)
        return st;
    if (m == NULL)
        return ms_fail_at(err, MS_EUNPROC, sv_path(c, "%s.model_id", path),
                          "no model %s in this organization", id);
    if (ms_api_field_find(m->fields, field) == NULL)
        return ms_fail_at(err, MS_EUNPROC, sv_path(c, "%s.field", path),
                          "model \"%s\" has no field \"%s\"", m->name, field);
    return MS_OK;
}

/* The type of a Source's model field ("string" when unknown). */
static const char *
sv_source_type(struct sv_ctx *c, const json_t *src)
{
    const struct ms_model *m = NULL;
    const char *t;

    if (src == NULL || sv_model(c, sv_str(src, "model_id"), &m, NULL) != MS_OK || m == NULL)
        return "string";
    t = sv_str(ms_api_field_find(m->fields, sv_str(src, "field")), "type");
    return t != NULL ? t : "string";
}

/* A bare field_id: a field of one of the sync's models. */
static enum ms_status
sv_model_field_id(struct sv_ctx *c, const char *name, const char *path, struct ms_error *err)
{
    for (size_t i = 0; i < c->nmodels; i++)
        if (c->models[i].found && ms_api_field_find(c->models[i].m.fields, name) != NULL)
            return MS_OK;
    return ms_fail_at(err, MS_EUNPROC, path, "no model of this sync has a field \"%s\"", name);
}

/* Every Source of the configuration, then the bare field_ids against the models found. */
static enum ms_status
sv_sources(struct sv_ctx *c, struct ms_error *err)
{
    static const struct {
        const char *arr, *key;
    } refs[] = {{"fields", "source"},
                {"override_fields", "source"},
                {"filters", "field"},
                {"overrides", "field"}};
    json_t *v;
    size_t i;
    enum ms_status st;

    st = sv_source(c, json_object_get(json_object_get(c->config, "identity"), "source"),
                   "identity.source", err);
    for (size_t r = 0; st == MS_OK && r < MS_ARRAY_LEN(refs); r++)
        json_array_foreach(json_object_get(c->config, refs[r].arr), i, v)
        {
            st = sv_source(c, json_object_get(v, refs[r].key),
                           sv_path(c, "%s[%zu].%s", refs[r].arr, i, refs[r].key), err);
            if (st != MS_OK)
                return st;
        }
    json_array_foreach(json_object_get(c->config, "filters"), i, v)
    {
        const char *type = sv_str(v, "field_type");

        if (st == MS_OK && sv_str(v, "field_id") != NULL &&
            (type == NULL || strcmp(type, "Model") == 0))
            st = sv_model_field_id(c, sv_str(v, "field_id"), sv_path(c, "filters[%zu].field_id", i),
                                   err);
    }
    json_array_foreach(json_object_get(c->config, "overrides"), i, v)
    {
        if (st == MS_OK && sv_str(v, "field_id") != NULL)
            st = sv_model_field_id(c, sv_str(v, "field_id"),
                                   sv_path(c, "overrides[%zu].field_id", i), err);
    }
    return st;
}

/* ---- schedule ---- */

/* Does the run_after chain starting at start reach self? Breadth-first, visited shared. */
static enum ms_status
sv_chain(struct sv_ctx *c, const char *start, const char **seen, size_t *nseen, bool *cycle,
         struct ms_error *err)
{
    size_t head = *nseen;
    enum ms_status st;

    for (size_t k = 0; k < *nseen; k++)
        if (strcmp(seen[k], start) == 0)
            return MS_OK; /* explored from an earlier upstream: no way back to self there */
    if (*nseen < SV_MAX_CHAIN)
        seen[(*nseen)++] = start;
    for (; head < *nseen; head++) {
        struct ms_sync y;
        json_t *ids, *v;
        size_t i;

        st = ms_store_sync_get(c->req->store, c->req->arena, c->req->auth.org_id, seen[head], &y,
                               err);
        if (st == MS_ENOTFOUND)
            continue;
        if (st != MS_OK)
            return st;
        ids = json_object_get(json_object_get(json_object_get(y.config, "schedule"), "run_after"),
                              "sync_ids");
        json_array_foreach(ids, i, v)
        {
            bool known = false;

            if (!json_is_string(v))
                continue;
            if (strcmp(json_string_value(v), c->self_id) == 0) {
                *cycle = true;
                return MS_OK;
            }
            for (size_t k = 0; k < *nseen && !known; k++)
                known = strcmp(seen[k], json_string_value(v)) == 0;
            if (!known && *nseen < SV_MAX_CHAIN)
                seen[(*nseen)++] = json_string_value(v);
        }
    }
    ms_error_clear(err);
    return MS_OK;
}

static enum ms_status
sv_run_after(struct sv_ctx *c, struct ms_error *err)
{
    json_t *ids = json_object_get(
        json_object_get(json_object_get(c->config, "schedule"), "run_after"), "sync_ids");
    const char **seen = NULL;
    size_t nseen = 0, i;
    json_t *v;
    enum ms_status st;

    json_array_foreach(ids, i, v)
    {
        const char *id = json_string_value(v),
                   *path = sv_path(c, "schedule.run_after.sync_ids[%zu]", i);
        struct ms_sync y;

        if (c->self_id != NULL && strcmp(id, c->self_id) == 0)
            return ms_fail_at(err, MS_EUNPROC, path, "a sync cannot run after itself");
        st = ms_store_sync_get(c->req->store, c->req->arena, c->req->auth.org_id, id, &y, err);
        if (st == MS_ENOTFOUND)
            return ms_fail_at(err, MS_EUNPROC, path, "no sync %s in this organization", id);
        if (st != MS_OK)
            return st;
    }
    if (c->self_id == NULL || json_array_size(ids) == 0)
        return MS_OK; /* a new sync has no downstream yet: no cycle possible */
    seen = ms_arena_alloc(c->req->arena, SV_MAX_CHAIN * sizeof(*seen));
    json_array_foreach(ids, i, v)
    {
        bool cycle = false;

        if ((st = sv_chain(c, json_string_value(v), seen, &nseen, &cycle, err)) != MS_OK)
            return st;
        if (cycle)
            return ms_fail_at(err, MS_EUNPROC, sv_path(c, "schedule.run_after.sync_ids[%zu]", i),
                              "sync %s already runs after this sync (directly or through others): "
                              "a cycle",
                              json_string_value(v));
    }
    return MS_OK;
}

/* ---- target ---- */

/* Record st again naming field, with prefix before the message err holds. */
static enum ms_status
sv_refail(struct ms_error *err, enum ms_status st, const char *field, const char *prefix)
{
    char msg[sizeof((struct ms_error){0}.msg)];

    snprintf(msg, sizeof(msg), "%s", err != NULL ? err->msg : "");
    return ms_fail_at(err, st, field, "%s%s", prefix, msg);
}

/* Load and open the target connection; every failure names target.connection_id. */
static enum ms_status
sv_target_open(struct sv_ctx *c, struct ms_error *err)
{
    const char *id = sv_str(json_object_get(c->config, "target"), "connection_id");
    enum ms_status st = ms_api_conn_load(c->req, id, &c->conn, &c->impl, err);

    if (st == MS_ENOTFOUND)
        return ms_fail_at(err, MS_EUNPROC, "target.connection_id",
                          "no connection %s in this organization", id);
    if (st == MS_EUNSUPP)
        return sv_refail(err, MS_EUNPROC, "target.connection_id", "");
    if (st != MS_OK)
        return st;
    if (!(c->impl->flags & MS_CX_DEST))
        return ms_fail_at(err, MS_EUNPROC, "target.connection_id",
                          "connection \"%s\" (%s) cannot be a sync target", c->conn.name,
                          c->conn.type);
    st = ms_api_conn_open(c->req, &c->conn, c->impl, &c->cx, err);
    if (st == MS_EUPSTREAM || st == MS_EINVAL || st == MS_ETIMEOUT || st == MS_EBUSY)
        return sv_refail(err, MS_EUNPROC, "target.connection_id", "cannot open the destination: ");
    return st;
}

/* Turn a destination failure during a request into a 422 naming field (4xx kept). */
static enum ms_status
sv_upstream(enum ms_status st, const char *field, struct ms_error *err)
{
    if (st != MS_EUPSTREAM && st != MS_ETIMEOUT && st != MS_EBUSY)
        return st;
    return sv_refail(err, MS_EUNPROC, field, "the destination failed: ");
}

static enum ms_status
sv_objects(struct sv_ctx *c, struct ms_error *err)
{
    enum ms_status st;

    c->objects = NULL;
    st = c->impl->objects(c->cx, &c->objects, err);
    if (st != MS_OK)
        return sv_upstream(st, "target.connection_id", err);
    ms_api_keep(c->req, c->objects);
    if (!json_is_array(c->objects))
        return ms_fail(err, MS_EINTERNAL, "connector %s objects(): not an array", c->impl->type);
    return MS_OK;
}

/* The entry of arr whose key equals id, or NULL. */
static json_t *
sv_find(const json_t *arr, const char *key, const char *id)
{
    json_t *v;
    size_t i;

    json_array_foreach((json_t *)(uintptr_t)arr, i, v)
    {
        if (id != NULL && sv_str(v, key) != NULL && strcmp(sv_str(v, key), id) == 0)
            return v;
    }
    return NULL;
}

/* config.mode among obj's modes, and the identity it requires. */
static enum ms_status
sv_mode(struct sv_ctx *c, const json_t *obj, const char *what, struct ms_error *err)
{
    const char *mode = sv_str(c->config, "mode");

    c->mode = sv_find(json_object_get(obj, "modes"), "id", mode);
    if (c->mode == NULL)
        return sv_fail_key_at(err, MS_EUNPROC, "unsupported_mode", "mode",
                              "target object \"%s\" does not support mode \"%s\"", what, mode);
    if (json_is_true(json_object_get(c->mode, "requires_identity")) &&
        json_object_get(c->config, "identity") == NULL)
        return ms_fail_at(err, MS_EUNPROC, "identity", "mode \"%s\" needs an identity", mode);
    return MS_OK;
}

/* Add {name, type} (and "identity": true when identity) to cols unless a column of that name
 * is there. */
static void
sv_column(json_t *cols, const char *name, const char *type, bool identity)
{
    if (name != NULL && sv_find(cols, "name", name) == NULL)
        json_array_append_new(cols, json_pack("{s:s, s:s, s:o*}", "name", name, "type", type,
                                              "identity", identity ? json_true() : NULL));
}

/*
 * The columns of a new target object: the identity target, then every mapping target. The
 * identity target is marked so that a database connector makes it unique, which gives every
 * keyed write an index (without one each insert-if-absent, update and upsert scans the table);
 * not in append mode, where a changed record is written as another row with the same key.
 */
static json_t *
sv_columns(struct sv_ctx *c)
{
    static const char *const arrs[] = {"fields", "override_fields"};
    json_t *cols = ms_api_keep(c->req, json_array()), *id = json_object_get(c->config, "identity"),
           *v;
    const char *mode = sv_str(c->config, "mode");
    bool unique = mode == NULL || strcmp(mode, "append") != 0;
    size_t i;

    if (id != NULL)
        sv_column(cols, sv_str(id, "target"), sv_source_type(c, json_object_get(id, "source")),
                  unique);
    for (size_t a = 0; a < MS_ARRAY_LEN(arrs); a++)
        json_array_foreach(json_object_get(c->config, arrs[a]), i, v)
        {
            sv_column(cols, sv_str(v, "target"), sv_source_type(c, json_object_get(v, "source")),
                      false);
        }
    return cols;
}

/* target.create's properties must be the connector's target_creation properties. */
static enum ms_status
sv_create_props(struct sv_ctx *c, const json_t *props, struct ms_error *err)
{
    json_t *tc, *v;
    const char *k;

    if (!(c->impl->flags & MS_CX_CREATE) || c->impl->target_creation == NULL ||
        c->impl->create_object == NULL)
        return ms_fail_at(err, MS_EUNPROC, "target.create",
                          "%s connections cannot create target objects", c->impl->type);
    tc = ms_api_keep(c->req, json_loads(c->impl->target_creation, 0, NULL));
    json_object_foreach((json_t *)(uintptr_t)props, k, v)
    {
        if (sv_find(json_object_get(tc, "properties"), "id", k) == NULL)
            return ms_fail_at(err, MS_EUNPROC, sv_path(c, "target.create.%s", k),
                              "not a target creation property of %s connections", c->impl->type);
    }
    return MS_OK;
}

/*
 * Create the target object: check what can be checked before it exists (the properties, and
 * the mode against the connector's other objects, which share their modes), then create it
 * and record its id in target.object.
 */
static enum ms_status
sv_create(struct sv_ctx *c, struct ms_error *err)
{
    json_t *t = json_object_get(c->config, "target"), *props = json_object_get(t, "create");
    char *id = NULL;
    enum ms_status st;

    if ((st = sv_create_props(c, props, err)) != MS_OK)
        return st;
    if (json_array_size(c->objects) > 0 &&
        (st = sv_mode(c, json_array_get(c->objects, 0), "(new)", err)) != MS_OK)
        return st;
    st = c->impl->create_object(c->cx, props, sv_columns(c), &id, err);
    if (st != MS_OK) {
        st = sv_upstream(st, "target.create", err);
        if (err != NULL && err->field[0] == '\0')
            snprintf(err->field, sizeof(err->field), "target.create");
        return st;
    }
    json_object_set_new(t, "object", json_string(id));
    json_object_del(t, "create");
    free(id);
    return sv_objects(c, err); /* again, to see the new object's modes */
}

/* Mapping targets of arr against the object's fields (not for free-form targets). */
static enum ms_status
sv_mapping_targets(struct sv_ctx *c, const char *arr, struct ms_error *err)
{
    const char *object = sv_str(json_object_get(c->config, "target"), "object");
    json_t *v;
    size_t i;

    json_array_foreach(json_object_get(c->config, arr), i, v)
    {
        if (sv_find(c->tfields, "id", sv_str(v, "target")) != NULL)
            continue;
        if (json_is_true(json_object_get(v, "new")))
            return ms_fail_at(err, MS_EUNPROC, sv_path(c, "%s[%zu].new", arr, i),
                              "target object \"%s\" cannot create fields", object);
        return ms_fail_at(err, MS_EUNPROC, sv_path(c, "%s[%zu].target", arr, i),
                          "target object \"%s\" has no field \"%s\"", object, sv_str(v, "target"));
    }
    return MS_OK;
}

static enum ms_status
sv_identity_target(struct sv_ctx *c, struct ms_error *err)
{
    const json_t *id = json_object_get(c->config, "identity"), *f;
    const char *object = sv_str(json_object_get(c->config, "target"), "object");

    if (id == NULL)
        return MS_OK;
    f = sv_find(c->tfields, "id", sv_str(id, "target"));
    if (f == NULL && json_is_true(json_object_get(id, "new_field")))
        return ms_fail_at(err, MS_EUNPROC, "identity.new_field",
                          "target object \"%s\" cannot create fields", object);
    if (f == NULL)
        return ms_fail_at(err, MS_EUNPROC, "identity.target",
                          "target object \"%s\" has no field \"%s\"", object, sv_str(id, "target"));
    if (json_is_false(json_object_get(f, "supports_identity")))
        return ms_fail_at(err, MS_EUNPROC, "identity.target",
                          "field \"%s\" of \"%s\" cannot identify records", sv_str(id, "target"),
                          object);
    return MS_OK;
}

/* What the mode allows: per-field sync_mode "create", and Target filters. */
static enum ms_status
sv_mode_features(struct sv_ctx *c, struct ms_error *err)
{
    const char *mode = sv_str(c->config, "mode");
    json_t *v;
    size_t i;

    json_array_foreach(json_object_get(c->config, "fields"), i, v)
    {
        const char *fm = sv_str(v, "sync_mode");

        if (fm != NULL && strcmp(fm, "create") == 0 &&
            !json_is_true(json_object_get(c->mode, "supports_per_field_mode")))
            return ms_fail_at(err, MS_EUNPROC, sv_path(c, "fields[%zu].sync_mode", i),
                              "mode \"%s\" of this target has no per-field write modes", mode);
    }
    json_array_foreach(json_object_get(c->config, "filters"), i, v)
    {
        const char *ft = sv_str(v, "field_type");

        if (ft == NULL || strcmp(ft, "Target") != 0)
            continue;
        if (!json_is_true(json_object_get(c->mode, "supports_target_filters")))
            return ms_fail_at(err, MS_EUNPROC, sv_path(c, "filters[%zu].field_type", i),
                              "mode \"%s\" of this target cannot filter on target fields", mode);
        if (sv_find(c->tfields, "id", sv_str(v, "field_id")) == NULL)
            return ms_fail_at(err, MS_EUNPROC, sv_path(c, "filters[%zu].field_id", i),
                              "the target object has no field \"%s\"", sv_str(v, "field_id"));
    }
    return MS_OK;
}

/* The target object as it now exists: its mode, fields and identity. */
static enum ms_status
sv_object(struct sv_ctx *c, struct ms_error *err)
{
    const char *object = sv_str(json_object_get(c->config, "target"), "object");
    const json_t *obj = sv_find(c->objects, "id", object);
    enum ms_status st;

    if (obj == NULL)
        return ms_fail_at(err, MS_EUNPROC, "target.object",
                          "connection \"%s\" has no object \"%s\"", c->conn.name, object);
    if ((st = sv_mode(c, obj, object, err)) != MS_OK)
        return st;
    c->tfields = NULL;
    st = c->impl->object_fields(c->cx, object, &c->tfields, err);
    if (st == MS_ENOTFOUND)
        return ms_fail_at(err, MS_EUNPROC, "target.object",
                          "connection \"%s\" has no object \"%s\"", c->conn.name, object);
    if (st != MS_OK)
        return sv_upstream(st, "target.object", err);
    ms_api_keep(c->req, c->tfields);
    if ((st = sv_mode_features(c, err)) != MS_OK)
        return st;
    if (c->impl->flags & MS_CX_FREEFORM)
        return MS_OK; /* any field name is a valid target */
    if ((st = sv_mapping_targets(c, "fields", err)) != MS_OK ||
        (st = sv_mapping_targets(c, "override_fields", err)) != MS_OK)
        return st;
    return sv_identity_target(c, err);
}

enum ms_status
ms_api_sync_validate(struct ms_req *req, json_t *config, const char *self_id, struct ms_error *err)
{
    struct sv_ctx c;
    enum ms_status st;

    memset(&c, 0, sizeof(c));
    c.req = req;
    c.config = config;
    c.self_id = self_id;
    if ((st = ms_sched_validate(json_object_get(config, "schedule"), err)) != MS_OK ||
        (st = sv_run_after(&c, err)) != MS_OK || (st = sv_sources(&c, err)) != MS_OK ||
        (st = sv_target_open(&c, err)) != MS_OK ||
        (st = ms_sync_check_mappings(config, c.impl->flags & MS_CX_FREEFORM, err)) != MS_OK ||
        (st = sv_objects(&c, err)) != MS_OK)
        return st;
    if (json_object_get(json_object_get(config, "target"), "create") != NULL &&
        (st = sv_create(&c, err)) != MS_OK)
        return st;
    return sv_object(&c, err);
}
