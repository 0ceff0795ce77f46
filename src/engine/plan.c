/*
 * plan.c: freeze what one execution does. Loads the sync, its one model and both connections
 * (configurations unsealed for open()), and compiles the stored configuration into a column
 * plan: the target columns are the `fields` mappings (a source field or an override_value),
 * then `override_fields` (which win over a mapping of the same target), then the identity
 * target, which always receives the identity's source value (DECISIONS.md §4 "Identity on
 * writes"). Everything lives in the run arena, so the plan cannot change under a running
 * execution even when the sync is edited meanwhile. Runs on the execution's thread.
 */
#include "engine/engine_int.h"

#include <stdlib.h>
#include <string.h>

static const char *const plan_modes[] = {
    [MS_ENG_CREATE] = "create",         [MS_ENG_UPDATE] = "update",
    [MS_ENG_UPSERT] = "updateOrCreate", [MS_ENG_REMOVE] = "remove",
    [MS_ENG_REPLACE] = "replace",       [MS_ENG_APPEND] = "append",
    [MS_ENG_SNAPSHOT] = "snapshot",
};

static const char *
plan_str(const json_t *obj, const char *key)
{
    return json_string_value(json_object_get(obj, key));
}

/* UtilFieldType of the model's field name ("string" when the model does not say). */
static const char *
plan_field_type(const struct ms_model *m, const char *name)
{
    json_t *f;
    size_t i;

    json_array_foreach(m->fields, i, f)
    {
        const char *n = plan_str(f, "name"), *t = plan_str(f, "type");

        if (n != NULL && strcmp(n, name) == 0 && t != NULL)
            return t;
    }
    return "string";
}

/* The column targeting t, or MS_ENG_NO_COL. */
static size_t
plan_col_find(const struct ms_eng_plan *p, const char *t)
{
    for (size_t i = 0; i < p->ncols; i++)
        if (strcmp(p->cols[i].target, t) == 0)
            return i;
    return MS_ENG_NO_COL;
}

/* A Source of the sync's model: its field name (run arena). */
static enum ms_status
plan_source(struct ms_eng_plan *p, const json_t *src, const char *path, const char **field,
            struct ms_error *err)
{
    const char *mid = plan_str(src, "model_id"), *f = plan_str(src, "field");

    if (f == NULL)
        return ms_fail_at(err, MS_EINVAL, path, "names no field");
    if (mid == NULL || strcmp(mid, p->model.id) != 0)
        return ms_fail_at(err, MS_EUNPROC, path, "names a field of model %s, not the sync's model",
                          mid != NULL ? mid : "(none)");
    *field = ms_arena_strdup(p->arena, f);
    return MS_OK;
}

/* One mapping of fields/override_fields: add its column, or replace the one with its target. */
static enum ms_status
plan_mapping(struct ms_eng_plan *p, const json_t *m, const char *path, struct ms_error *err)
{
    const char *target = plan_str(m, "target"), *field = NULL;
    const json_t *konst = json_object_get(m, "override_value");
    struct ms_eng_col c = {.src = MS_ENG_NO_COL};
    size_t at;
    enum ms_status st;

    if (target == NULL)
        return ms_fail_at(err, MS_EINVAL, path, "has no target");
    c.target = ms_arena_strdup(p->arena, target);
    if (json_is_string(konst)) {
        ms_eng_value_from_json(p->arena, konst, &c.k);
        c.type = "string";
    } else if (json_object_get(m, "source") != NULL) {
        if ((st = plan_source(p, json_object_get(m, "source"), path, &field, err)) != MS_OK)
            return st;
        c.field = field;
        c.type = plan_field_type(&p->model, field);
    } else {
        return ms_fail_at(err, MS_EUNPROC, path, "maps neither a source nor an override_value");
    }
    at = plan_col_find(p, target);
    if (at == MS_ENG_NO_COL)
        at = p->ncols++;
    p->cols[at] = c;
    return MS_OK;
}

/* The identity: its source feeds the identity target column, mapped or not. */
static enum ms_status
plan_identity(struct ms_eng_plan *p, const json_t *id, struct ms_error *err)
{
    const char *target = plan_str(id, "target"), *field = NULL;
    size_t at;
    enum ms_status st;

    p->key_col = MS_ENG_NO_COL;
    if (id == NULL)
        return MS_OK;
    if (target == NULL)
        return ms_fail_at(err, MS_EINVAL, "identity.target", "required");
    if ((st = plan_source(p, json_object_get(id, "source"), "identity.source", &field, err)) !=
        MS_OK)
        return st;
    p->id_field = field;
    p->id_type = plan_field_type(&p->model, field);
    at = plan_col_find(p, target);
    if (at == MS_ENG_NO_COL) {
        at = p->ncols++;
        p->cols[at].target = ms_arena_strdup(p->arena, target);
    }
    p->cols[at].field = field;
    p->cols[at].type = p->id_type;
    p->cols[at].src = MS_ENG_NO_COL;
    memset(&p->cols[at].k, 0, sizeof(p->cols[at].k));
    p->key_col = at;
    return MS_OK;
}

static enum ms_status
plan_columns(struct ms_eng_plan *p, const json_t *config, struct ms_error *err)
{
    static const char *const arrs[] = {"fields", "override_fields"};
    size_t max = 1;
    json_t *m;
    size_t i;
    enum ms_status st;

    for (size_t a = 0; a < MS_ARRAY_LEN(arrs); a++) {
        if (json_array_size(json_object_get(config, arrs[a])) > MS_SYNC_MAX_ITEMS)
            return ms_fail_at(err, MS_ETOOBIG, arrs[a], "more than %d mappings", MS_SYNC_MAX_ITEMS);
        max += json_array_size(json_object_get(config, arrs[a]));
    }
    p->cols = ms_arena_zalloc(p->arena, max * sizeof(*p->cols));
    for (size_t a = 0; a < MS_ARRAY_LEN(arrs); a++)
        json_array_foreach(json_object_get(config, arrs[a]), i, m)
        {
            if ((st = plan_mapping(p, m, ms_arena_printf(p->arena, "%s[%zu]", arrs[a], i), err)) !=
                MS_OK)
                return st;
        }
    if ((st = plan_identity(p, json_object_get(config, "identity"), err)) != MS_OK)
        return st;
    if (p->ncols == 0)
        return ms_fail_at(err, MS_EUNPROC, "fields", "the sync maps no field");
    p->col_names = ms_arena_alloc(p->arena, p->ncols * sizeof(*p->col_names));
    p->col_types = ms_arena_alloc(p->arena, p->ncols * sizeof(*p->col_types));
    for (i = 0; i < p->ncols; i++) {
        p->col_names[i] = p->cols[i].target;
        p->col_types[i] = p->cols[i].type;
    }
    return MS_OK;
}

/* Digest of mode and target columns: part of every row hash, so a snapshot taken under another
 * mapping or mode never matches and such a change rewrites every record. */
static uint64_t
plan_seed(const struct ms_eng_plan *p)
{
    size_t n = strlen(p->mode_name) + 2;
    char *buf, *w;
    uint64_t h;

    for (size_t i = 0; i < p->ncols; i++)
        n += strlen(p->cols[i].target) + 2;
    buf = w = ms_arena_alloc(p->arena, n);
    w += strlen(strcpy(w, p->mode_name)) + 1;
    *w++ = p->key_col == MS_ENG_NO_COL ? '-' : (char)('0' + p->key_col % 10);
    for (size_t i = 0; i < p->ncols; i++) {
        w += strlen(strcpy(w, p->cols[i].target)) + 1;
        *w++ = p->cols[i].field != NULL ? 'f' : 'k';
    }
    h = ms_xxh3_64(buf, (size_t)(w - buf));
    return h;
}

static enum ms_status
plan_mode(struct ms_eng_plan *p, const char *mode, struct ms_error *err)
{
    size_t i;

    for (i = 0; mode != NULL && i < MS_ARRAY_LEN(plan_modes); i++)
        if (strcmp(mode, plan_modes[i]) == 0)
            break;
    if (mode == NULL || i == MS_ARRAY_LEN(plan_modes))
        return ms_fail_at(err, MS_EUNPROC, "mode", "unknown mode \"%.40s\"",
                          mode != NULL ? mode : "");
    p->mode = (enum ms_eng_mode)i;
    p->mode_name = plan_modes[i];
    return MS_OK;
}

enum ms_status
ms_eng_plan_config(struct ms_eng_plan *p, struct ms_arena *a, const json_t *config,
                   const struct ms_model *model, int64_t now_ms, struct ms_error *err)
{
    enum ms_status st;

    p->arena = a;
    p->model = *model;
    p->now_ms = now_ms;
    p->id_src = p->ident_src = MS_ENG_NO_COL;
    if ((st = plan_mode(p, plan_str(config, "mode"), err)) != MS_OK ||
        (st = plan_columns(p, config, err)) != MS_OK ||
        (st = ms_eng_xform_init(&p->xf, a, config, model->id, now_ms, err)) != MS_OK)
        return st;
    if (p->key_col == MS_ENG_NO_COL &&
        (p->mode == MS_ENG_UPDATE || p->mode == MS_ENG_UPSERT || p->mode == MS_ENG_REMOVE))
        return ms_fail_at(err, MS_EUNPROC, "identity", "mode %s needs an identity", p->mode_name);
    p->full =
        p->mode == MS_ENG_SNAPSHOT || (p->mode == MS_ENG_REPLACE && p->key_col == MS_ENG_NO_COL);
    p->identifier = ms_arena_strdup(a, plan_str(model->doc, "identifier"));
    p->sync_all = json_is_true(json_object_get(config, "sync_all_records"));
    p->skip_backfill = json_is_true(json_object_get(config, "skip_initial_backfill"));
    p->seed = plan_seed(p);
    return MS_OK;
}

/* ---- loading ---- */

static int
plan_cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* options.identities → sorted key texts. */
static enum ms_status
plan_identities(struct ms_eng_plan *p, const json_t *ids, struct ms_error *err)
{
    json_t *v;
    size_t i;

    if (ids == NULL || json_is_null(ids) || (json_is_array(ids) && json_array_size(ids) == 0))
        return MS_OK; /* no list, or an empty one: every record */
    if (!json_is_array(ids))
        return ms_fail_at(err, MS_EINVAL, "identities", "must be an array");
    if (json_array_size(ids) > MS_ENG_MAX_IDENTITIES)
        return ms_fail_at(err, MS_ETOOBIG, "identities", "more than %d entries",
                          MS_ENG_MAX_IDENTITIES);
    p->identities = ms_arena_alloc(p->arena, (json_array_size(ids) + 1) * sizeof(char *));
    json_array_foreach((json_t *)(uintptr_t)ids, i, v)
    {
        struct ms_value val;
        char buf[MS_ENG_KEY_BUF];
        const char *t = NULL;
        size_t n;

        if (!json_is_string(v) && !json_is_number(v) && !json_is_boolean(v))
            return ms_fail_at(err, MS_EINVAL, "identities", "entries must be strings");
        ms_eng_value_from_json(p->arena, v, &val);
        n = ms_eng_key_text(&val, buf, &t);
        p->identities[p->nidentities++] = ms_arena_strndup(p->arena, t, n);
    }
    qsort(p->identities, p->nidentities, sizeof(*p->identities), plan_cmp_str);
    return MS_OK;
}

bool
ms_eng_plan_wants(const struct ms_eng_plan *p, const char *key, size_t len)
{
    size_t lo = 0, hi = p->nidentities;

    if (p->identities == NULL)
        return true;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        const char *e = p->identities[mid];
        int c = strncmp(e, key, len);

        if (c == 0)
            c = e[len] != '\0' ? 1 : (memchr(key, '\0', len) != NULL ? -1 : 0);
        if (c == 0)
            return true;
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return false;
}

static enum ms_status
plan_options(struct ms_eng_plan *p, const struct ms_execution *ex, struct ms_error *err)
{
    const json_t *o = ex->options;

    p->resync = json_is_true(json_object_get(o, "resync")) ||
                (ex->type != NULL && strcmp(ex->type, "resync") == 0);
    p->test = json_is_true(json_object_get(o, "test")) ||
              (ex->type != NULL && strcmp(ex->type, "test") == 0);
    return plan_identities(p, json_object_get(o, "identities"), err);
}

/* A connection of the org with its connector and unsealed configuration. */
static enum ms_status
plan_conn(struct ms_eng_plan *p, struct ms_store *s, const char *org, const char *id,
          const char *what, unsigned flag, struct ms_connection *c,
          const struct ms_connector **impl, json_t **cfg, const uint8_t *secret,
          struct ms_error *err)
{
    enum ms_status st = ms_store_conn_get(s, p->arena, org, id, c, err);

    if (st == MS_ENOTFOUND)
        return ms_fail(err, MS_EUNPROC, "the %s connection %s no longer exists", what, id);
    if (st != MS_OK)
        return st;
    *impl = ms_cx_find(c->type);
    if (*impl == NULL)
        return ms_fail(err, MS_EUNSUPP, "connection type %s is not available in this build",
                       c->type);
    if (!((*impl)->flags & flag))
        return ms_fail(err, MS_EUNPROC, "connection \"%s\" (%s) cannot be a %s", c->name, c->type,
                       what);
    return ms_conn_config_unseal(c->config, (*impl)->secrets, secret, cfg, err);
}

/* The sync's one model: a sync reading several models cannot run. */
static enum ms_status
plan_model(struct ms_eng_plan *p, struct ms_store *s, struct ms_model *m, struct ms_error *err)
{
    json_t *ids = p->sync.model_ids, *derived = NULL;
    const char *id;
    enum ms_status st;

    if (!json_is_array(ids))
        ids = derived = ms_sync_model_ids(p->sync.config);
    if (json_array_size(ids) != 1) {
        size_t n = json_array_size(ids);

        json_decref(derived);
        if (n == 0)
            return ms_fail(err, MS_EUNPROC, "the sync reads no model");
        return ms_fail(err, MS_EUNPROC,
                       "the sync reads %zu models; a sync runs on exactly one model", n);
    }
    id = ms_arena_strdup(p->arena, json_string_value(json_array_get(ids, 0)));
    json_decref(derived);
    st = ms_store_model_get(s, p->arena, p->sync.org_id, id, m, err);
    if (st == MS_ENOTFOUND)
        return ms_fail(err, MS_EUNPROC, "the sync's model %s no longer exists", id);
    return st;
}

enum ms_status
ms_eng_plan_load(struct ms_eng_plan *p, struct ms_arena *a, struct ms_store *s,
                 const struct ms_execution *ex, const uint8_t *secret, int64_t now_ms,
                 struct ms_error *err)
{
    struct ms_model m;
    enum ms_status st;

    memset(p, 0, sizeof(*p));
    p->arena = a;
    p->key_col = p->id_src = p->ident_src = MS_ENG_NO_COL;
    st = ms_store_sync_get(s, a, ex->org_id, ex->sync_id, &p->sync, err);
    if (st == MS_ENOTFOUND)
        return ms_fail(err, MS_EUNPROC, "the sync %s no longer exists", ex->sync_id);
    if (st != MS_OK || (st = plan_model(p, s, &m, err)) != MS_OK ||
        (st = plan_conn(p, s, ex->org_id, m.connection_id, "source", MS_CX_SOURCE, &p->src_conn,
                        &p->src_impl, &p->src_cfg, secret, err)) != MS_OK ||
        (st = plan_conn(p, s, ex->org_id, p->sync.target_connection_id, "destination", MS_CX_DEST,
                        &p->dst_conn, &p->dst_impl, &p->dst_cfg, secret, err)) != MS_OK)
        return st;
    p->object = p->sync.target_object != NULL
                    ? p->sync.target_object
                    : plan_str(json_object_get(p->sync.config, "target"), "object");
    if (p->object == NULL)
        return ms_fail_at(err, MS_EUNPROC, "target.object", "the sync has no target object");
    if ((st = ms_eng_plan_config(p, a, p->sync.config, &m, now_ms, err)) != MS_OK ||
        (st = plan_options(p, ex, err)) != MS_OK)
        return st;
    if (p->full && p->identities != NULL)
        return ms_fail(err, MS_EUNPROC,
                       "identities cannot be used with mode %s without an identity: the target "
                       "is rewritten whole",
                       p->mode_name);
    if (p->full && p->test)
        return ms_fail(err, MS_EUNPROC,
                       "test runs are not offered for mode %s without an identity: the target "
                       "is rewritten whole",
                       p->mode_name);
    return MS_OK;
}

/* Column of name in the model's output. */
static enum ms_status
plan_bind_one(const char *name, const char *const *cols, size_t ncols, size_t *src,
              struct ms_error *err)
{
    for (size_t i = 0; i < ncols; i++)
        if (strcmp(cols[i], name) == 0) {
            *src = i;
            return MS_OK;
        }
    return ms_fail(err, MS_EUNPROC, "the model's output has no column \"%s\"", name);
}

enum ms_status
ms_eng_plan_bind(struct ms_eng_plan *p, const char *const *cols, size_t ncols, struct ms_error *err)
{
    enum ms_status st = MS_OK;

    for (size_t i = 0; st == MS_OK && i < p->ncols; i++)
        if (p->cols[i].field != NULL)
            st = plan_bind_one(p->cols[i].field, cols, ncols, &p->cols[i].src, err);
    for (size_t i = 0; st == MS_OK && i < p->xf.nfilters; i++)
        st = plan_bind_one(p->xf.filters[i].field, cols, ncols, &p->xf.filters[i].src, err);
    for (size_t i = 0; st == MS_OK && i < p->xf.noverrides; i++)
        st = plan_bind_one(p->xf.overrides[i].cond.field, cols, ncols, &p->xf.overrides[i].cond.src,
                           err);
    if (st == MS_OK && p->id_field != NULL)
        st = plan_bind_one(p->id_field, cols, ncols, &p->id_src, err);
    if (st == MS_OK && p->id_field == NULL && p->identifier != NULL &&
        plan_bind_one(p->identifier, cols, ncols, &p->ident_src, err) != MS_OK)
        st = ms_fail(err, MS_EUNPROC, "the model's identifier field \"%s\" is not in its output",
                     p->identifier);
    return st;
}

void
ms_eng_plan_release(struct ms_eng_plan *p)
{
    json_decref(p->src_cfg);
    json_decref(p->dst_cfg);
    p->src_cfg = p->dst_cfg = NULL;
}
