/*
 * memory.c (test builds only): an in-memory source and destination for engine and API tests.
 *
 * Configuration: {"name": "dst1", "objects": {"users": [{"id": 1, "name": "a"}, ...]},
 * "columns": {"users": ["id", "name"]}, "reject": ["bad"]}. A model {"object": "users"} reads
 * configuration.objects.users (columns from configuration.columns, else the union of the rows'
 * members), so changing a source means updating its connection. Writes go to a process-wide
 * table per name (seeded from the configuration's rows on first use) that tests read back with
 * ms_cx_memory_rows(); an op carrying a text value listed in "reject" is rejected, as a
 * constraint would. Inserts of an existing key are rejected; updates and deletes of a missing
 * key are acknowledged without effect, as SQL's would be. The table is guarded by one mutex,
 * so any thread may write; a connection itself belongs to the thread that opened it.
 */
#ifdef MS_TESTING

#include "connectors/connector.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "connectors/connectors_int.h"
#include "core/xmalloc.h"
#include "model/model.h"

struct mem_cx {
    struct ms_cx base; /* must be first */
    json_t *cfg;       /* owned copy of the configuration */
    const char *name;  /* borrowed from cfg */
    /* reading */
    const json_t *rows; /* borrowed from cfg: the object being read */
    size_t pos;
    struct ms_cx_cols cols;
    /* writing */
    const struct ms_write_plan *plan; /* borrowed from write_begin() */
    json_t *staging;                  /* owned: a full rewrite until write_end() */
};

static pthread_mutex_t mem_lock = PTHREAD_MUTEX_INITIALIZER;
static json_t *mem_state; /* {name: {"objects": {object: [rows]}, "writes": n}}; mem_lock */

/* ---- configuration ---- */

static enum ms_status
mem_validate_objects(const json_t *objs, const char *path, bool strings, struct ms_error *err)
{
    const char *k;
    json_t *arr, *v;
    size_t i;

    if (objs == NULL)
        return MS_OK;
    if (!json_is_object(objs))
        return ms_fail_at(err, MS_EINVAL, path, "must be an object");
    json_object_foreach((json_t *)(uintptr_t)objs, k, arr)
    {
        if (!json_is_array(arr))
            return ms_fail_at(err, MS_EINVAL, path, "%s must be an array", k);
        json_array_foreach(arr, i, v)
        {
            if (strings ? !json_is_string(v) : !json_is_object(v))
                return ms_fail_at(err, MS_EINVAL, path, "%s[%zu] must be %s", k, i,
                                  strings ? "a string" : "an object");
        }
    }
    return MS_OK;
}

static enum ms_status
mem_validate(const json_t *cfg, struct ms_error *err)
{
    static const char *const allowed[] = {"name", "objects", "columns", "reject", NULL};
    const char *name = NULL;
    json_t *reject = json_object_get(cfg, "reject"), *v;
    size_t i;
    enum ms_status st;

    if (!json_is_object(cfg))
        return ms_fail_at(err, MS_EINVAL, "configuration", "must be an object");
    if ((st = ms_json_only(cfg, allowed, "configuration", err)) != MS_OK ||
        (st = ms_json_req_str(cfg, "name", "configuration.name", &name, err)) != MS_OK ||
        (st = mem_validate_objects(json_object_get(cfg, "objects"), "configuration.objects", false,
                                   err)) != MS_OK ||
        (st = mem_validate_objects(json_object_get(cfg, "columns"), "configuration.columns", true,
                                   err)) != MS_OK)
        return st;
    if (name[0] == '\0')
        return ms_fail_at(err, MS_EINVAL, "configuration.name", "must not be empty");
    if (reject != NULL && !json_is_array(reject))
        return ms_fail_at(err, MS_EINVAL, "configuration.reject", "must be an array of strings");
    json_array_foreach(reject, i, v)
    {
        if (!json_is_string(v))
            return ms_fail_at(err, MS_EINVAL, "configuration.reject",
                              "must be an array of strings");
    }
    return MS_OK;
}

static enum ms_status
mem_model_validate(const json_t *mcfg, struct ms_error *err)
{
    static const char *const allowed[] = {"object", NULL};
    const char *o = NULL;
    enum ms_status st;

    if (!json_is_object(mcfg))
        return ms_fail_at(err, MS_EINVAL, "configuration", "must be an object");
    if ((st = ms_json_only(mcfg, allowed, "configuration", err)) != MS_OK)
        return st;
    return ms_json_req_str(mcfg, "object", "configuration.object", &o, err);
}

static enum ms_status
mem_open(struct ms_cx *cx, const json_t *cfg, struct ms_error *err)
{
    struct mem_cx *m = (struct mem_cx *)cx;
    enum ms_status st = mem_validate(cfg, err);

    if (st != MS_OK)
        return st;
    m->cfg = json_deep_copy(cfg);
    m->name = json_string_value(json_object_get(m->cfg, "name"));
    return MS_OK;
}

static void
mem_read_end(struct ms_cx *cx)
{
    struct mem_cx *m = (struct mem_cx *)cx;

    ms_cx_cols_release(&m->cols);
    m->rows = NULL;
    m->pos = 0;
}

static void
mem_close(struct ms_cx *cx)
{
    struct mem_cx *m = (struct mem_cx *)cx;

    mem_read_end(cx);
    json_decref(m->staging);
    json_decref(m->cfg);
}

static enum ms_status
mem_test(struct ms_cx *cx, struct ms_error *err)
{
    (void)cx;
    (void)err;
    return MS_OK;
}

/* ---- reading ---- */

/* The configured rows of object, or NULL. */
static const json_t *
mem_object_rows(const struct mem_cx *m, const char *object)
{
    return json_object_get(json_object_get(m->cfg, "objects"), object);
}

/* Column names of object: configured, else the union of its rows' members in order. */
static void
mem_columns(const struct mem_cx *m, const char *object, struct ms_cx_cols *cols)
{
    const json_t *named = json_object_get(json_object_get(m->cfg, "columns"), object), *row, *v;
    const char *k;
    size_t i;

    json_array_foreach(named, i, v)
    {
        ms_cx_cols_add(cols, json_string_value(v), json_string_length(v));
    }
    if (json_array_size(named) > 0)
        return;
    json_array_foreach(mem_object_rows(m, object), i, row)
    {
        json_object_foreach((json_t *)(uintptr_t)row, k, v)
        {
            if (ms_cx_cols_find(cols, k, strlen(k)) < 0)
                ms_cx_cols_add(cols, k, strlen(k));
        }
    }
}

static bool
mem_has_object(const struct mem_cx *m, const char *object)
{
    return object != NULL && (mem_object_rows(m, object) != NULL ||
                              json_object_get(json_object_get(m->cfg, "columns"), object) != NULL);
}

static enum ms_status
mem_read_begin(struct ms_cx *cx, const json_t *mcfg, struct ms_rows *rows, struct ms_error *err)
{
    struct mem_cx *m = (struct mem_cx *)cx;
    const char *object = json_string_value(json_object_get(mcfg, "object"));

    mem_read_end(cx);
    if (!mem_has_object(m, object))
        return ms_fail_at(err, MS_EUNPROC, "configuration.object", "no object %s",
                          object != NULL ? object : "(none)");
    mem_columns(m, object, &m->cols);
    m->rows = mem_object_rows(m, object);
    rows->ncols = m->cols.n;
    rows->cols = m->cols.v;
    rows->nrows = 0;
    rows->cells = NULL;
    return MS_OK;
}

static enum ms_status
mem_cell(struct ms_rows *rows, struct ms_value *v, const json_t *j, struct ms_error *err)
{
    char *text;
    enum ms_status st;

    if (j == NULL) { /* a member the row does not have */
        v->type = MS_V_NULL;
        return MS_OK;
    }
    switch (json_typeof(j)) {
    case JSON_STRING:
        return ms_value_set_text(rows, v, json_string_value(j), json_string_length(j), err);
    case JSON_INTEGER:
        v->type = MS_V_INT;
        v->u.i = (int64_t)json_integer_value(j);
        return MS_OK;
    case JSON_REAL:
        v->type = MS_V_REAL;
        v->u.d = json_real_value(j);
        return MS_OK;
    case JSON_TRUE:
    case JSON_FALSE:
        v->type = MS_V_BOOL;
        v->u.b = json_is_true(j);
        return MS_OK;
    case JSON_ARRAY:
    case JSON_OBJECT:
        text = json_dumps(j, JSON_COMPACT);
        st = ms_value_set_text(rows, v, text, strlen(text), err);
        free(text);
        return st;
    default:
        v->type = MS_V_NULL;
        return MS_OK;
    }
}

static enum ms_status
mem_read(struct ms_cx *cx, struct ms_rows *rows, struct ms_error *err)
{
    struct mem_cx *m = (struct mem_cx *)cx;
    enum ms_status st = MS_OK;

    rows->nrows = 0;
    rows->cells = NULL;
    while (st == MS_OK && m->pos < json_array_size(m->rows) && rows->nrows < rows->cap) {
        const json_t *src = json_array_get(m->rows, m->pos++);
        struct ms_value *row = ms_rows_push(rows);

        for (size_t c = 0; c < m->cols.n && st == MS_OK; c++)
            st = mem_cell(rows, &row[c], json_object_get(src, m->cols.own[c]), err);
    }
    return st;
}

static const char *
mem_type_of(const json_t *v)
{
    if (json_is_number(v))
        return "number";
    if (json_is_boolean(v))
        return "boolean";
    return "string";
}

/* [{"name","type","remote_type"}] of an object, types from the first non-null value. */
static json_t *
mem_fields_of(const struct mem_cx *m, const char *object)
{
    struct ms_cx_cols cols = {0};
    json_t *out = json_array();

    mem_columns(m, object, &cols);
    for (size_t c = 0; c < cols.n; c++) {
        const json_t *row, *v = NULL;
        size_t i;

        json_array_foreach(mem_object_rows(m, object), i, row)
        {
            v = json_object_get(row, cols.own[c]);
            if (v != NULL && !json_is_null(v))
                break;
        }
        json_array_append_new(out, json_pack("{s:s, s:s, s:s}", "name", cols.own[c], "type",
                                             mem_type_of(v), "remote_type", mem_type_of(v)));
    }
    ms_cx_cols_release(&cols);
    return out;
}

static enum ms_status
mem_fields(struct ms_cx *cx, const json_t *mcfg, json_t **out, struct ms_error *err)
{
    struct mem_cx *m = (struct mem_cx *)cx;
    const char *object = json_string_value(json_object_get(mcfg, "object"));

    if (!mem_has_object(m, object))
        return ms_fail_at(err, MS_EUNPROC, "configuration.object", "no object %s",
                          object != NULL ? object : "(none)");
    *out = mem_fields_of(m, object);
    return MS_OK;
}

/* Names of the configured objects (rows or columns). */
static json_t *
mem_object_names(const struct mem_cx *m)
{
    static const char *const members[] = {"objects", "columns"};
    json_t *names = json_array(), *v;
    const char *k;

    for (size_t i = 0; i < MS_ARRAY_LEN(members); i++)
        json_object_foreach(json_object_get(m->cfg, members[i]), k, v)
        {
            size_t j;
            json_t *n;
            bool dup = false;

            json_array_foreach(names, j, n)
            {
                dup = dup || strcmp(json_string_value(n), k) == 0;
            }
            if (!dup)
                json_array_append_new(names, json_string(k));
        }
    return names;
}

static enum ms_status
mem_describe(struct ms_cx *cx, const json_t *params, json_t **out, struct ms_error *err)
{
    json_t *names = mem_object_names((struct mem_cx *)cx);

    (void)params;
    (void)err;
    *out = json_pack("{s:{s:{s:b, s:o}}, s:{}, s:[s]}", "items", "object", "has_items",
                     json_array_size(names) > 0, "items", names, "configuration", "requires_one_of",
                     "object");
    return MS_OK;
}

static enum ms_status
mem_objects(struct ms_cx *cx, json_t **out, struct ms_error *err)
{
    json_t *names = mem_object_names((struct mem_cx *)cx), *arr = json_array(), *n;
    size_t i;

    (void)err;
    json_array_foreach(names, i, n)
    {
        json_array_append_new(
            arr, json_pack("{s:O, s:O, s:[o,o,o,o,o,o,o]}", "id", n, "name", n, "modes",
                           ms_cx_mode("create", false), ms_cx_mode("update", true),
                           ms_cx_mode("updateOrCreate", true), ms_cx_mode("remove", true),
                           ms_cx_mode("replace", false), ms_cx_mode("append", false),
                           ms_cx_mode("snapshot", false)));
    }
    json_decref(names);
    *out = arr;
    return MS_OK;
}

static enum ms_status
mem_object_fields(struct ms_cx *cx, const char *object, json_t **out, struct ms_error *err)
{
    struct mem_cx *m = (struct mem_cx *)cx;
    json_t *fields, *f, *arr;
    size_t i;

    if (!mem_has_object(m, object))
        return ms_fail(err, MS_ENOTFOUND, "no object %s", object);
    fields = mem_fields_of(m, object);
    arr = json_array();
    json_array_foreach(fields, i, f)
    {
        const char *name = json_string_value(json_object_get(f, "name"));
        const char *type = json_string_value(json_object_get(f, "type"));

        json_array_append_new(arr, ms_cx_target_field(name, type, type, false, true));
    }
    json_decref(fields);
    *out = arr;
    return MS_OK;
}

/* ---- writing ---- */

/* The rows of name/object in the process-wide state (created, seeded from cfg). mem_lock. */
static json_t *
mem_state_rows(const struct mem_cx *m, const char *object)
{
    json_t *dst, *objs, *rows;

    if (mem_state == NULL)
        mem_state = json_object();
    dst = json_object_get(mem_state, m->name);
    if (dst == NULL) {
        dst = json_pack("{s:{}, s:I}", "objects", "writes", (json_int_t)0);
        json_object_set_new(mem_state, m->name, dst);
    }
    objs = json_object_get(dst, "objects");
    rows = json_object_get(objs, object);
    if (rows == NULL) {
        const json_t *seed = mem_object_rows(m, object);

        rows = seed != NULL ? json_deep_copy(seed) : json_array();
        json_object_set_new(objs, object, rows);
    }
    return rows;
}

static enum ms_status
mem_write_begin(struct ms_cx *cx, const struct ms_write_plan *plan, struct ms_error *err)
{
    struct mem_cx *m = (struct mem_cx *)cx;

    (void)err;
    m->plan = plan;
    json_decref(m->staging);
    m->staging = plan->full ? json_array() : NULL;
    return MS_OK;
}

/* Index of the row whose key column equals key, or -1. */
static long
mem_find(const json_t *rows, const char *key_col, const json_t *key)
{
    const json_t *row;
    size_t i;

    if (key_col == NULL)
        return -1;
    json_array_foreach(rows, i, row)
    {
        if (json_equal(json_object_get(row, key_col), key))
            return (long)i;
    }
    return -1;
}

/* The reject value an op carries, or NULL. */
static const char *
mem_rejected(const struct mem_cx *m, const struct ms_op *op, size_t ncols)
{
    const json_t *reject = json_object_get(m->cfg, "reject"), *v;
    size_t i;

    json_array_foreach(reject, i, v)
    {
        for (size_t c = 0; op->vals != NULL && c < ncols; c++)
            if (op->vals[c].type == MS_V_TEXT && op->vals[c].u.s.len == json_string_length(v) &&
                memcmp(op->vals[c].u.s.p, json_string_value(v), op->vals[c].u.s.len) == 0)
                return json_string_value(v);
    }
    return NULL;
}

static json_t *
mem_record(const struct ms_write_plan *plan, const struct ms_op *op)
{
    json_t *rec = json_object();

    for (size_t c = 0; c < plan->ncols; c++)
        json_object_set_new(rec, plan->cols[c], ms_value_to_json(&op->vals[c]));
    return rec;
}

/* Apply one op to rows; a rejection sets op->rejected and op->error. */
static void
mem_apply(const struct mem_cx *m, struct ms_ops *ops, struct ms_op *op, json_t *rows)
{
    const struct ms_write_plan *plan = ops->plan;
    const char *bad = mem_rejected(m, op, plan->ncols);
    json_t *key = ms_value_to_json(&op->key);
    long at = mem_find(rows, plan->key_col, key);

    json_decref(key);
    if (bad != NULL) {
        op->rejected = true;
        op->error = ms_arena_printf(ops->arena, "value \"%s\" is refused", bad);
        return;
    }
    switch (op->kind) {
    case MS_OP_INSERT:
        if (at >= 0 && !plan->full) {
            op->rejected = true;
            op->error = "duplicate key";
            return;
        }
        json_array_append_new(rows, mem_record(plan, op));
        return;
    case MS_OP_UPDATE:
        if (at >= 0) {
            json_t *rec = mem_record(plan, op);

            json_object_update(json_array_get(rows, (size_t)at), rec);
            json_decref(rec);
        }
        return;
    case MS_OP_UPSERT:
        if (at >= 0)
            json_array_set_new(rows, (size_t)at, mem_record(plan, op));
        else
            json_array_append_new(rows, mem_record(plan, op));
        return;
    case MS_OP_DELETE:
        if (at >= 0)
            json_array_remove(rows, (size_t)at);
        return;
    }
}

static enum ms_status
mem_write(struct ms_cx *cx, struct ms_ops *ops, struct ms_error *err)
{
    struct mem_cx *m = (struct mem_cx *)cx;
    json_t *rows, *dst;

    (void)err;
    pthread_mutex_lock(&mem_lock);
    rows = mem_state_rows(m, ops->plan->object);
    dst = json_object_get(mem_state, m->name);
    json_object_set_new(dst, "writes",
                        json_integer(json_integer_value(json_object_get(dst, "writes")) + 1));
    for (size_t i = 0; i < ops->n; i++)
        mem_apply(m, ops, &ops->op[i], m->staging != NULL ? m->staging : rows);
    pthread_mutex_unlock(&mem_lock);
    return MS_OK;
}

static enum ms_status
mem_write_end(struct ms_cx *cx, bool commit, struct ms_error *err)
{
    struct mem_cx *m = (struct mem_cx *)cx;

    (void)err;
    if (m->staging != NULL && commit) {
        pthread_mutex_lock(&mem_lock);
        mem_state_rows(m, m->plan->object);
        json_object_set(json_object_get(json_object_get(mem_state, m->name), "objects"),
                        m->plan->object, m->staging);
        pthread_mutex_unlock(&mem_lock);
    }
    json_decref(m->staging);
    m->staging = NULL;
    return MS_OK;
}

static enum ms_status
mem_control(struct ms_cx *cx, int op, void *arg)
{
    (void)cx;
    (void)op;
    (void)arg;
    return MS_EUNSUPP;
}

/* ---- test helpers (connector.h) ---- */

json_t *
ms_cx_memory_rows(const char *name, const char *object)
{
    json_t *rows;

    pthread_mutex_lock(&mem_lock);
    rows = json_object_get(json_object_get(json_object_get(mem_state, name), "objects"), object);
    rows = rows != NULL ? json_deep_copy(rows) : json_array();
    pthread_mutex_unlock(&mem_lock);
    return rows;
}

int64_t
ms_cx_memory_writes(const char *name)
{
    int64_t n;

    pthread_mutex_lock(&mem_lock);
    n = (int64_t)json_integer_value(json_object_get(json_object_get(mem_state, name), "writes"));
    pthread_mutex_unlock(&mem_lock);
    return n;
}

void
ms_cx_memory_reset(void)
{
    pthread_mutex_lock(&mem_lock);
    json_decref(mem_state);
    mem_state = NULL;
    pthread_mutex_unlock(&mem_lock);
}

static const char *const mem_secrets[] = {NULL};

const struct ms_connector ms_connector_memory = {
    .abi = MS_CONNECTOR_ABI,
    .type = "memory",
    .name = "Memory (tests)",
    .flags = MS_CX_SOURCE | MS_CX_DEST,
    .size = sizeof(struct mem_cx),
    .secrets = mem_secrets,
    .schema = "{\"$schema\": \"https://json-schema.org/draft/2020-12/schema\","
              " \"title\": \"Memory (tests)\", \"type\": \"object\","
              " \"properties\": {\"name\": {\"type\": \"string\"},"
              " \"objects\": {\"type\": \"object\"}, \"columns\": {\"type\": \"object\"},"
              " \"reject\": {\"type\": \"array\", \"items\": {\"type\": \"string\"}}},"
              " \"required\": [\"name\"], \"additionalProperties\": false}",
    .validate = mem_validate,
    .model_validate = mem_model_validate,
    .open = mem_open,
    .test = mem_test,
    .describe = mem_describe,
    .fields = mem_fields,
    .read_begin = mem_read_begin,
    .read = mem_read,
    .read_end = mem_read_end,
    .objects = mem_objects,
    .object_fields = mem_object_fields,
    .write = mem_write,
    .control = mem_control,
    .close = mem_close,
    .write_begin = mem_write_begin,
    .write_end = mem_write_end,
};

#endif
