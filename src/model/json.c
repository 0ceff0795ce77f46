/*
 * json.c: parse-or-fail helpers over jansson. Each names the offending member by its full path
 * (ms_fail_at), so handlers only pass the status on. Values come back borrowed from obj, under
 * jansson's reference rules. Pure functions, any thread.
 */
#include "model/model.h"

#include <stdio.h>
#include <string.h>

#include "core/xmalloc.h"

/* The member, or NULL when absent or JSON null. */
static json_t *
json_member(const json_t *obj, const char *key)
{
    json_t *v = json_object_get(obj, key);

    return json_is_null(v) ? NULL : v;
}

enum ms_status
ms_json_opt_str(const json_t *obj, const char *key, const char *path, const char **out,
                struct ms_error *err)
{
    json_t *v = json_member(obj, key);

    if (v == NULL)
        return MS_OK;
    if (!json_is_string(v))
        return ms_fail_at(err, MS_EINVAL, path, "must be a string");
    *out = json_string_value(v);
    return MS_OK;
}

enum ms_status
ms_json_opt_bool(const json_t *obj, const char *key, const char *path, bool *out,
                 struct ms_error *err)
{
    json_t *v = json_member(obj, key);

    if (v == NULL)
        return MS_OK;
    if (!json_is_boolean(v))
        return ms_fail_at(err, MS_EINVAL, path, "must be a boolean");
    *out = json_is_true(v);
    return MS_OK;
}

enum ms_status
ms_json_opt_obj(const json_t *obj, const char *key, const char *path, json_t **out,
                struct ms_error *err)
{
    json_t *v = json_member(obj, key);

    if (v == NULL)
        return MS_OK;
    if (!json_is_object(v))
        return ms_fail_at(err, MS_EINVAL, path, "must be an object");
    *out = v;
    return MS_OK;
}

enum ms_status
ms_json_opt_arr(const json_t *obj, const char *key, const char *path, json_t **out,
                struct ms_error *err)
{
    json_t *v = json_member(obj, key);

    if (v == NULL)
        return MS_OK;
    if (!json_is_array(v))
        return ms_fail_at(err, MS_EINVAL, path, "must be an array");
    *out = v;
    return MS_OK;
}

enum ms_status
ms_json_req_str(const json_t *obj, const char *key, const char *path, const char **out,
                struct ms_error *err)
{
    if (json_member(obj, key) == NULL)
        return ms_fail_at(err, MS_EINVAL, path, "required");
    return ms_json_opt_str(obj, key, path, out, err);
}

enum ms_status
ms_json_req_obj(const json_t *obj, const char *key, const char *path, json_t **out,
                struct ms_error *err)
{
    if (json_member(obj, key) == NULL)
        return ms_fail_at(err, MS_EINVAL, path, "required");
    return ms_json_opt_obj(obj, key, path, out, err);
}

static bool
json_allowed(const char *key, const char *const *allowed)
{
    for (; *allowed != NULL; allowed++)
        if (strcmp(key, *allowed) == 0)
            return true;
    return false;
}

enum ms_status
ms_json_only(const json_t *obj, const char *const *allowed, const char *path, struct ms_error *err)
{
    const char *key;
    json_t *v;

    if (!json_is_object(obj))
        return ms_fail_at(err, MS_EINVAL, path, "must be an object");
    /* jansson's iteration macros take a non-const object; iteration does not modify it. */
    json_object_foreach((json_t *)(uintptr_t)obj, key, v)
    {
        char field[256];

        (void)v;
        if (json_allowed(key, allowed))
            continue;
        if (path != NULL && *path != '\0')
            snprintf(field, sizeof(field), "%s.%s", path, key);
        else
            snprintf(field, sizeof(field), "%s", key);
        return ms_fail_at(err, MS_EINVAL, field, "unknown member");
    }
    return MS_OK;
}

char *
ms_json_dump(const json_t *v)
{
    char *s;

    if (v == NULL)
        return ms_xstrdup("null");
    s = json_dumps(v, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY);
    MS_ASSERT(s != NULL); /* only on OOM or an invalid value, both bugs here */
    return s;
}
