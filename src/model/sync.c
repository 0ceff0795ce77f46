/*
 * sync.c: a sync's configuration as clients send it (CreateSyncRequest / UpdateSyncRequest)
 * and as it is stored and served (SyncResponse, ListSyncItem), API.md §3.3–§3.10.
 *
 * Parsing builds a fresh normalized object member by member instead of copying the body, so
 * what is stored is exactly what was checked: unknown and read-only members never reach the
 * store, and serving the stored object back (GET → PUT → GET) is a fixed point. Everything here
 * is free of I/O; references to connections, models and target objects are checked by
 * api/sync_validate.c. Filters, overrides and filter_logic live in sync_filter.c. Pure
 * functions, any thread.
 */
#include "model/model.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "core/uuid.h"

#define SYNC_PATH 64 /* = sizeof(err->field): longer paths would be cut there anyway */

static const char *const sync_modes[] = {
    "create", "update", "updateOrCreate", "replace", "append", "remove", "snapshot", NULL,
};

static const char *const sync_identity_functions[] = {
    "Equality", "ISubstring", "OneOf", "DomainMatch", "HostnameMatch", NULL,
};

static bool
sync_in(const char *s, const char *const *set)
{
    for (; s != NULL && *set != NULL; set++)
        if (strcmp(s, *set) == 0)
            return true;
    return false;
}

bool
ms_sync_mode_valid(const char *mode)
{
    return sync_in(mode, sync_modes);
}

/* printf into buf (SYNC_PATH bytes); returns buf. */
static const char *sync_path(char *buf, const char *fmt, ...) MS_PRINTF(2, 3);

static const char *
sync_path(char *buf, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(buf, SYNC_PATH, fmt, ap);
    va_end(ap);
    return buf;
}

/* The member key of obj, or NULL when absent or null (null reads as absent, API.md §2.4). */
static json_t *
sync_get(const json_t *obj, const char *key)
{
    json_t *v = json_object_get(obj, key);

    return json_is_null(v) ? NULL : v;
}

/* Required non-empty string member; copied into out under the same key. */
static enum ms_status
sync_req_str(const json_t *in, const char *key, const char *path, json_t *out, struct ms_error *err)
{
    const char *s = NULL;
    enum ms_status st = ms_json_req_str(in, key, path, &s, err);

    if (st != MS_OK)
        return st;
    if (*s == '\0')
        return ms_fail_at(err, MS_EINVAL, path, "must not be empty");
    json_object_set_new(out, key, json_string(s));
    return MS_OK;
}

/* Optional string member copied into out when present. */
static enum ms_status
sync_opt_str(const json_t *in, const char *key, const char *path, json_t *out, struct ms_error *err)
{
    const char *s = NULL;
    enum ms_status st = ms_json_opt_str(in, key, path, &s, err);

    if (st == MS_OK && s != NULL)
        json_object_set_new(out, key, json_string(s));
    return st;
}

/* Optional boolean member copied into out when present. */
static enum ms_status
sync_opt_bool(const json_t *in, const char *key, const char *path, json_t *out,
              struct ms_error *err)
{
    json_t *v = sync_get(in, key);

    if (v == NULL)
        return MS_OK;
    if (!json_is_boolean(v))
        return ms_fail_at(err, MS_EINVAL, path, "must be a boolean");
    json_object_set(out, key, v);
    return MS_OK;
}

/* Optional object member deep-copied into out when present. */
static enum ms_status
sync_opt_obj(const json_t *in, const char *key, const char *path, json_t *out, struct ms_error *err)
{
    json_t *v = NULL;
    enum ms_status st = ms_json_opt_obj(in, key, path, &v, err);

    if (st == MS_OK && v != NULL)
        json_object_set_new(out, key, json_deep_copy(v));
    return st;
}

/* Optional array member (at most MS_SYNC_MAX_ITEMS entries) into *arr, NULL when absent. */
static enum ms_status
sync_opt_arr(const json_t *in, const char *key, const char *path, json_t **arr,
             struct ms_error *err)
{
    enum ms_status st;

    *arr = NULL;
    st = ms_json_opt_arr(in, key, path, arr, err);
    if (st == MS_OK && *arr != NULL && json_array_size(*arr) > MS_SYNC_MAX_ITEMS)
        return ms_fail_at(err, MS_ETOOBIG, path, "more than %d entries", MS_SYNC_MAX_ITEMS);
    return st;
}

/* Optional array of UUIDs at in.key → out.key as lowercase strings (absent → [] if always). */
static enum ms_status
sync_uuid_list(const json_t *in, const char *key, const char *path, json_t *out, bool always,
               struct ms_error *err)
{
    json_t *arr, *res, *v;
    char p[SYNC_PATH], id[MS_UUID_LEN + 1];
    enum ms_status st;
    size_t i;

    if ((st = sync_opt_arr(in, key, path, &arr, err)) != MS_OK)
        return st;
    if (arr == NULL && !always)
        return MS_OK;
    res = json_array();
    json_object_set_new(out, key, res);
    json_array_foreach(arr, i, v)
    {
        if (!json_is_string(v) || !ms_uuid_norm(json_string_value(v), id))
            return ms_fail_at(err, MS_EINVAL, sync_path(p, "%s[%zu]", path, i),
                              "must be a UUID string");
        json_array_append_new(res, json_string(id));
    }
    return MS_OK;
}

/* ---- Source, SyncField, Identity, Target ---- */

/* A Source (API.md §3.2) at path → a new {"field","model_id"} in *out. */
static enum ms_status
sync_source(const json_t *in, const char *path, json_t **out, struct ms_error *err)
{
    const char *model_id = NULL;
    char p[SYNC_PATH], id[MS_UUID_LEN + 1];
    json_t *src;
    enum ms_status st;

    if (!json_is_object(in))
        return ms_fail_at(err, MS_EINVAL, path, "must be an object");
    src = json_object();
    if ((st = sync_req_str(in, "field", sync_path(p, "%s.field", path), src, err)) != MS_OK)
        goto out;
    st = ms_json_req_str(in, "model_id", sync_path(p, "%s.model_id", path), &model_id, err);
    if (st != MS_OK)
        goto out;
    if (!ms_uuid_norm(model_id, id)) {
        st = ms_fail_at(err, MS_EINVAL, p, "must be a UUID");
        goto out;
    }
    json_object_set_new(src, "model_id", json_string(id));
    *out = src;
    src = NULL;
out:
    json_decref(src);
    return st;
}

enum ms_status
ms_sync_source_member(const json_t *in, const char *key, const char *path, json_t *out,
                      struct ms_error *err)
{
    json_t *v = sync_get(in, key), *src = NULL;
    enum ms_status st;

    if (v == NULL)
        return MS_OK;
    if ((st = sync_source(v, path, &src, err)) == MS_OK)
        json_object_set_new(out, key, src);
    return st;
}

/* One SyncField (API.md §3.3) at path → a new normalized mapping in *out. */
static enum ms_status
sync_mapping(const json_t *in, const char *path, json_t **out, struct ms_error *err)
{
    static const char *const field_modes[] = {"updateOrCreate", "create", NULL};
    const char *mode = NULL;
    bool enc = false;
    char p[SYNC_PATH];
    json_t *m = json_object();
    enum ms_status st;

    if (!json_is_object(in)) {
        st = ms_fail_at(err, MS_EINVAL, path, "must be an object");
        goto out;
    }
    if ((st = sync_req_str(in, "target", sync_path(p, "%s.target", path), m, err)) != MS_OK ||
        (st = ms_sync_source_member(in, "source", sync_path(p, "%s.source", path), m, err)) !=
            MS_OK ||
        (st = sync_opt_str(in, "override_value", sync_path(p, "%s.override_value", path), m,
                           err)) != MS_OK ||
        (st = ms_json_opt_str(in, "sync_mode", sync_path(p, "%s.sync_mode", path), &mode, err)) !=
            MS_OK ||
        (st = sync_opt_bool(in, "new", sync_path(p, "%s.new", path), m, err)) != MS_OK ||
        (st = ms_json_opt_bool(in, "encryption_enabled",
                               sync_path(p, "%s.encryption_enabled", path), &enc, err)) != MS_OK)
        goto out;
    if (mode != NULL && !sync_in(mode, field_modes)) {
        st = ms_fail_at(err, MS_EINVAL, sync_path(p, "%s.sync_mode", path),
                        "unknown value \"%.40s\" (updateOrCreate or create)", mode);
        goto out;
    }
    if (mode != NULL)
        json_object_set_new(m, "sync_mode", json_string(mode));
    if (enc) {
        st = ms_fail_at(err, MS_EUNSUPP, sync_path(p, "%s.encryption_enabled", path),
                        "field encryption is not offered by this server's targets");
        goto out;
    }
    *out = m;
    m = NULL;
out:
    json_decref(m);
    return st;
}

/* body.key: an array of SyncField → out.key (always set; D8 is ms_sync_check_mappings'). */
static enum ms_status
sync_mappings(const json_t *body, const char *key, json_t *out, struct ms_error *err)
{
    json_t *arr, *res, *v, *m = NULL;
    char p[SYNC_PATH];
    enum ms_status st;
    size_t i;

    if ((st = sync_opt_arr(body, key, key, &arr, err)) != MS_OK)
        return st;
    res = json_array();
    json_object_set_new(out, key, res);
    json_array_foreach(arr, i, v)
    {
        if ((st = sync_mapping(v, sync_path(p, "%s[%zu]", key, i), &m, err)) != MS_OK)
            return st;
        json_array_append_new(res, m);
    }
    return MS_OK;
}

/* body.identity (API.md §3.6) → out.identity when present. */
static enum ms_status
sync_identity(const json_t *body, json_t *out, struct ms_error *err)
{
    json_t *in = NULL, *id;
    const char *fn = "Equality";
    enum ms_status st;

    if ((st = ms_json_opt_obj(body, "identity", "identity", &in, err)) != MS_OK || in == NULL)
        return st;
    id = json_object();
    json_object_set_new(out, "identity", id);
    if ((st = ms_sync_source_member(in, "source", "identity.source", id, err)) != MS_OK ||
        (st = sync_req_str(in, "target", "identity.target", id, err)) != MS_OK ||
        (st = ms_json_opt_str(in, "function", "identity.function", &fn, err)) != MS_OK ||
        (st = sync_opt_bool(in, "new_field", "identity.new_field", id, err)) != MS_OK ||
        (st = sync_opt_str(in, "remote_field_type_id", "identity.remote_field_type_id", id, err)) !=
            MS_OK)
        return st;
    if (json_object_get(id, "source") == NULL)
        return ms_fail_at(err, MS_EINVAL, "identity.source", "required");
    if (!sync_in(fn, sync_identity_functions))
        return ms_fail_at(err, MS_EINVAL, "identity.function", "unknown value \"%.40s\"", fn);
    if (strcmp(fn, "Equality") != 0)
        return ms_fail_at(err, MS_EUNSUPP, "identity.function",
                          "only Equality matching is supported, not %s", fn);
    json_object_set_new(id, "function", json_string(fn));
    return MS_OK;
}

/* target.create: map<string,string> → out.create. */
static enum ms_status
sync_target_create(const json_t *in, json_t *out, struct ms_error *err)
{
    json_t *c = NULL, *res, *v;
    const char *k;
    char p[SYNC_PATH];
    enum ms_status st;

    if ((st = ms_json_opt_obj(in, "create", "target.create", &c, err)) != MS_OK || c == NULL)
        return st;
    if (json_object_size(c) > MS_SYNC_MAX_ITEMS)
        return ms_fail_at(err, MS_ETOOBIG, "target.create", "too many properties");
    res = json_object();
    json_object_set_new(out, "create", res);
    json_object_foreach((json_t *)(uintptr_t)c, k, v)
    {
        if (!json_is_string(v))
            return ms_fail_at(err, MS_EINVAL, sync_path(p, "target.create.%s", k),
                              "must be a string");
        json_object_set(res, k, v);
    }
    return MS_OK;
}

/* body.target (API.md §3.7) → out.target. */
static enum ms_status
sync_target(const json_t *body, json_t *out, struct ms_error *err)
{
    const char *conn = NULL, *object = NULL;
    char id[MS_UUID_LEN + 1];
    json_t *in = NULL, *t = json_object();
    enum ms_status st;

    json_object_set_new(out, "target", t);
    if ((st = ms_json_req_obj(body, "target", "target", &in, err)) != MS_OK ||
        (st = ms_json_req_str(in, "connection_id", "target.connection_id", &conn, err)) != MS_OK)
        return st;
    if (!ms_uuid_norm(conn, id))
        return ms_fail_at(err, MS_EINVAL, "target.connection_id", "must be a UUID");
    json_object_set_new(t, "connection_id", json_string(id));
    if ((st = ms_json_opt_str(in, "object", "target.object", &object, err)) != MS_OK)
        return st;
    if (object != NULL && *object == '\0')
        return ms_fail_at(err, MS_EINVAL, "target.object", "must not be empty");
    if (object != NULL)
        json_object_set_new(t, "object", json_string(object));
    if ((st = sync_target_create(in, t, err)) != MS_OK ||
        (st = sync_opt_str(in, "new_name", "target.new_name", t, err)) != MS_OK ||
        (st = sync_opt_obj(in, "configuration", "target.configuration", t, err)) != MS_OK ||
        (st = sync_opt_str(in, "filter_logic", "target.filter_logic", t, err)) != MS_OK ||
        (st = sync_opt_obj(in, "search_values", "target.search_values", t, err)) != MS_OK)
        return st;
    if (object != NULL && json_object_get(t, "create") != NULL)
        return ms_fail_at(err, MS_EUNPROC, "target.create",
                          "give either target.object or target.create, not both");
    if (object == NULL && json_object_get(t, "create") == NULL)
        return ms_fail_at(err, MS_EUNPROC, "target.object",
                          "required (or target.create to create a new target object)");
    return MS_OK;
}

/* ---- Schedule ---- */

/* Members each frequency keeps (API.md §3.8); NULL-terminated. */
static const struct sync_freq {
    const char *name;
    const char *members[6];
} sync_freqs[] = {
    {"manual", {NULL}},
    {"continuous", {NULL}},
    {"hourly", {"minute", NULL}},
    {"daily", {"hour", "minute", NULL}},
    {"weekly", {"day_of_week", "hour", "minute", NULL}},
    {"custom", {"minute", "hour", "day_of_month", "month", "day_of_week", NULL}},
    {"builder", {"minute", "hour", "day_of_month", "month", "day_of_week", NULL}},
    {"runafter", {NULL}},
};

/* schedule.run_after (+ run_after_success_only) → out. */
static enum ms_status
sync_run_after(const json_t *in, json_t *out, struct ms_error *err)
{
    json_t *ra = NULL, *res = json_object();
    enum ms_status st;

    json_object_set_new(out, "run_after", res);
    if ((st = ms_json_opt_obj(in, "run_after", "schedule.run_after", &ra, err)) != MS_OK ||
        (st = sync_uuid_list(ra, "sync_ids", "schedule.run_after.sync_ids", res, true, err)) !=
            MS_OK ||
        (st = sync_uuid_list(ra, "bulk_sync_ids", "schedule.run_after.bulk_sync_ids", res, false,
                             err)) != MS_OK ||
        (st = sync_opt_bool(in, "run_after_success_only", "schedule.run_after_success_only", out,
                            err)) != MS_OK)
        return st;
    if (json_array_size(json_object_get(res, "bulk_sync_ids")) > 0)
        return ms_fail_at(err, MS_EUNPROC, "schedule.run_after.bulk_sync_ids",
                          "bulk syncs are not offered by this server");
    if (json_array_size(json_object_get(res, "sync_ids")) == 0)
        return ms_fail_at(err, MS_EUNPROC, "schedule.run_after.sync_ids",
                          "a runafter schedule needs at least one upstream sync");
    return MS_OK;
}

/* body.schedule → out.schedule with only the members its frequency uses. */
static enum ms_status
sync_schedule(const json_t *body, json_t *out, struct ms_error *err)
{
    const char *f = "manual";
    const struct sync_freq *fr = NULL;
    char p[SYNC_PATH];
    json_t *in = NULL, *s = json_object();
    enum ms_status st;

    json_object_set_new(out, "schedule", s);
    if ((st = ms_json_req_obj(body, "schedule", "schedule", &in, err)) != MS_OK ||
        (st = ms_json_opt_str(in, "frequency", "schedule.frequency", &f, err)) != MS_OK)
        return st;
    for (size_t i = 0; i < MS_ARRAY_LEN(sync_freqs); i++)
        if (strcmp(f, sync_freqs[i].name) == 0)
            fr = &sync_freqs[i];
    if (fr == NULL && (strcmp(f, "multi") == 0 || strcmp(f, "dbtcloud") == 0))
        return ms_fail_at(err, MS_EINVAL, "schedule.frequency",
                          "\"%s\" is not offered for model syncs", f);
    if (fr == NULL)
        return ms_fail_at(err, MS_EINVAL, "schedule.frequency", "unknown value \"%.40s\"", f);
    json_object_set_new(s, "frequency", json_string(f));
    for (size_t i = 0; fr->members[i] != NULL; i++)
        if ((st = sync_opt_str(in, fr->members[i], sync_path(p, "schedule.%s", fr->members[i]), s,
                               err)) != MS_OK)
            return st;
    if (strcmp(f, "runafter") == 0)
        return sync_run_after(in, s, err);
    return MS_OK;
}

/* ---- the whole request ---- */

/* 400 listing every required member that is absent or null (Go omits empty ones, §5.4). */
static enum ms_status
sync_required(const json_t *body, struct ms_error *err)
{
    static const char *const req[] = {"name", "mode", "target", "fields", "schedule"};
    char list[128] = "";
    const char *first = NULL;
    size_t n = 0;

    for (size_t i = 0; i < MS_ARRAY_LEN(req); i++) {
        if (sync_get(body, req[i]) != NULL)
            continue;
        first = first != NULL ? first : req[i];
        n += (size_t)snprintf(list + n, sizeof(list) - n, "%s%s", n > 0 ? ", " : "", req[i]);
    }
    if (first == NULL)
        return MS_OK;
    return ms_fail_at(err, MS_EINVAL, first, "required; missing members: %s", list);
}

static enum ms_status
sync_name_mode(const json_t *body, json_t *out, struct ms_error *err)
{
    const char *mode = NULL;
    enum ms_status st;

    if ((st = sync_req_str(body, "name", "name", out, err)) != MS_OK)
        return st;
    if (strlen(json_string_value(json_object_get(out, "name"))) > MS_SYNC_MAX_NAME)
        return ms_fail_at(err, MS_EINVAL, "name", "longer than %d bytes", MS_SYNC_MAX_NAME);
    if ((st = ms_json_req_str(body, "mode", "mode", &mode, err)) != MS_OK)
        return st;
    if (!ms_sync_mode_valid(mode))
        return ms_fail_at(err, MS_EINVAL, "mode", "unknown value \"%.40s\"", mode);
    json_object_set_new(out, "mode", json_string(mode));
    return MS_OK;
}

/* The flags (default false), policies and the passphrase. */
static enum ms_status
sync_options(const json_t *body, json_t *out, struct ms_error *err)
{
    static const char *const flags[] = {"sync_all_records", "skip_initial_backfill",
                                        "only_enrich_updates"};
    enum ms_status st;

    if ((st = sync_uuid_list(body, "policies", "policies", out, true, err)) != MS_OK)
        return st;
    for (size_t i = 0; i < MS_ARRAY_LEN(flags); i++) {
        bool v = false;

        if ((st = ms_json_opt_bool(body, flags[i], flags[i], &v, err)) != MS_OK)
            return st;
        json_object_set_new(out, flags[i], json_boolean(v));
    }
    return sync_opt_str(body, "encryption_passphrase", "encryption_passphrase", out, err);
}

enum ms_status
ms_sync_parse(const json_t *body, json_t **config, int *active, struct ms_error *err)
{
    json_t *out = json_object();
    bool act = true;
    enum ms_status st;

    if (!json_is_object(body)) {
        st = ms_fail(err, MS_EINVAL, "request body must be a JSON object");
        goto out;
    }
    if ((st = sync_required(body, err)) != MS_OK ||
        (st = sync_name_mode(body, out, err)) != MS_OK ||
        (st = ms_json_opt_bool(body, "active", "active", &act, err)) != MS_OK ||
        (st = sync_target(body, out, err)) != MS_OK ||
        (st = sync_mappings(body, "fields", out, err)) != MS_OK ||
        (st = sync_mappings(body, "override_fields", out, err)) != MS_OK ||
        (st = sync_identity(body, out, err)) != MS_OK ||
        (st = ms_sync_filters_parse(body, out, err)) != MS_OK ||
        (st = sync_schedule(body, out, err)) != MS_OK ||
        (st = sync_options(body, out, err)) != MS_OK)
        goto out;
    *active = sync_get(body, "active") == NULL ? -1 : act ? 1 : 0;
    *config = out;
    out = NULL;
out:
    json_decref(out);
    return st;
}

/* Does mapping m carry a value (a source or an override_value)? */
static bool
sync_has_value(const json_t *m)
{
    return json_object_get(m, "source") != NULL || json_object_get(m, "override_value") != NULL;
}

enum ms_status
ms_sync_check_mappings(const json_t *config, bool freeform, struct ms_error *err)
{
    static const char *const arrs[] = {"fields", "override_fields"};
    const json_t *fields = json_object_get(config, "fields"), *m;
    char p[SYNC_PATH];
    size_t i;

    if (freeform) {
        json_array_foreach((json_t *)(uintptr_t)fields, i, m)
        {
            if (json_object_get(m, "source") != NULL)
                return MS_OK;
        }
        return ms_fail_at(err, MS_EUNPROC, "fields",
                          "at least one mapping with a source is required");
    }
    if (json_array_size(fields) == 0)
        return ms_fail_at(err, MS_EUNPROC, "fields", "at least one field mapping is required");
    for (size_t a = 0; a < MS_ARRAY_LEN(arrs); a++)
        json_array_foreach(json_object_get(config, arrs[a]), i, m)
        {
            if (!sync_has_value(m))
                return ms_fail_at(err, MS_EUNPROC, sync_path(p, "%s[%zu].source", arrs[a], i),
                                  "a mapping needs a source or an override_value");
        }
    return MS_OK;
}

/* ---- derived members and codecs ---- */

/* Append src.model_id to ids unless present. */
static void
sync_add_model(json_t *ids, const json_t *src)
{
    json_t *id = json_object_get(src, "model_id"), *v;
    size_t i;

    if (!json_is_string(id))
        return;
    json_array_foreach(ids, i, v)
    {
        if (json_equal(v, id))
            return;
    }
    json_array_append(ids, id);
}

/* Every arr[i].key (a Source) into ids. */
static void
sync_add_models(json_t *ids, const json_t *arr, const char *key)
{
    json_t *v;
    size_t i;

    json_array_foreach((json_t *)(uintptr_t)arr, i, v)
    {
        sync_add_model(ids, json_object_get(v, key));
    }
}

json_t *
ms_sync_model_ids(const json_t *config)
{
    json_t *ids = json_array();

    sync_add_models(ids, json_object_get(config, "fields"), "source");
    sync_add_models(ids, json_object_get(config, "override_fields"), "source");
    sync_add_model(ids, json_object_get(json_object_get(config, "identity"), "source"));
    sync_add_models(ids, json_object_get(config, "filters"), "field");
    sync_add_models(ids, json_object_get(config, "overrides"), "field");
    return ids;
}

void
ms_sync_set_config(struct ms_sync *y, json_t *config)
{
    json_t *t = json_object_get(config, "target");

    y->config = config;
    y->name = json_string_value(json_object_get(config, "name"));
    y->mode = json_string_value(json_object_get(config, "mode"));
    y->target_connection_id = json_string_value(json_object_get(t, "connection_id"));
    y->target_object = json_string_value(json_object_get(t, "object"));
}

/* Set key to a string unless s is NULL. */
static void
sync_set_str(json_t *o, const char *key, const char *s)
{
    if (s != NULL)
        json_object_set_new(o, key, json_string(s));
}

/* Share config.key into o (arrays: [] when absent; others only when present). */
static void
sync_share(json_t *o, const json_t *config, const char *key, bool array)
{
    json_t *v = json_object_get(config, key);

    if (v != NULL)
        json_object_set(o, key, v);
    else if (array)
        json_object_set_new(o, key, json_array());
}

static void
sync_set_actor(json_t *o, const char *key, const struct ms_actor *a)
{
    json_t *v = ms_actor_to_json(a);

    if (v != NULL)
        json_object_set_new(o, key, v);
}

/* The schedule as served: the stored one, or manual when none is stored. */
static void
sync_set_schedule(json_t *o, const json_t *config)
{
    json_t *s = json_object_get(config, "schedule");

    if (json_is_object(s))
        json_object_set(o, "schedule", s);
    else
        json_object_set_new(o, "schedule", json_pack("{s:s}", "frequency", "manual"));
}

static void
sync_set_flags(json_t *o, const json_t *config)
{
    static const char *const flags[] = {"sync_all_records", "skip_initial_backfill",
                                        "only_enrich_updates"};

    for (size_t i = 0; i < MS_ARRAY_LEN(flags); i++)
        json_object_set_new(o, flags[i],
                            json_boolean(json_is_true(json_object_get(config, flags[i]))));
}

static void
sync_set_model_ids(json_t *o, const struct ms_sync *y)
{
    if (json_is_array(y->model_ids))
        json_object_set(o, "model_ids", y->model_ids);
    else
        json_object_set_new(o, "model_ids", ms_sync_model_ids(y->config));
}

static void
sync_set_audit(json_t *o, const struct ms_sync *y)
{
    ms_json_set_time(o, "created_at", y->created_at);
    ms_json_set_time(o, "updated_at", y->updated_at);
    sync_set_actor(o, "created_by", &y->created_by);
    sync_set_actor(o, "updated_by", &y->updated_by);
}

json_t *
ms_sync_to_json(const struct ms_sync *y)
{
    json_t *o = json_object(), *t = json_object_get(y->config, "target");

    sync_set_str(o, "id", y->id);
    sync_set_str(o, "organization_id", y->org_id);
    sync_set_str(o, "name", y->name);
    json_object_set_new(o, "active", json_boolean(y->active));
    sync_set_str(o, "mode", y->mode);
    if (json_is_object(t)) {
        json_object_set(o, "target", t);
    } else {
        t = json_object();
        sync_set_str(t, "connection_id", y->target_connection_id);
        sync_set_str(t, "object", y->target_object);
        json_object_set_new(o, "target", t);
    }
    sync_share(o, y->config, "fields", true);
    sync_share(o, y->config, "override_fields", true);
    sync_share(o, y->config, "identity", false);
    sync_share(o, y->config, "filters", true);
    sync_share(o, y->config, "filter_logic", false);
    sync_share(o, y->config, "overrides", true);
    sync_set_schedule(o, y->config);
    sync_share(o, y->config, "policies", true);
    sync_set_model_ids(o, y);
    sync_set_flags(o, y->config);
    sync_set_audit(o, y);
    return o;
}

json_t *
ms_sync_list_item(const struct ms_sync *y)
{
    json_t *o = json_object();

    sync_set_str(o, "id", y->id);
    sync_set_str(o, "organization_id", y->org_id);
    sync_set_str(o, "name", y->name);
    json_object_set_new(o, "active", json_boolean(y->active));
    sync_set_str(o, "mode", y->mode);
    sync_set_model_ids(o, y);
    sync_set_schedule(o, y->config);
    sync_set_str(o, "target_connection_id", y->target_connection_id);
    sync_set_str(o, "target_object", y->target_object);
    sync_set_flags(o, y->config);
    sync_set_audit(o, y);
    return o;
}
