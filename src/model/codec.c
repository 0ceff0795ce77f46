/*
 * codec.c: the small codecs every resource shares: OutputActor (API.md §3.1), the actor a
 * request acts as, and RFC 3339 timestamps. Strings are borrowed from the inputs; JSON results
 * are new references. Pure functions, any thread.
 */
#include "model/model.h"

#include "core/time.h"

/* Set key to a string unless s is NULL. */
static void
codec_set_str(json_t *obj, const char *key, const char *s)
{
    if (s != NULL)
        json_object_set_new(obj, key, json_string(s));
}

json_t *
ms_actor_to_json(const struct ms_actor *a)
{
    json_t *obj;

    if (a == NULL || a->id == NULL)
        return NULL;
    obj = json_object();
    codec_set_str(obj, "id", a->id);
    codec_set_str(obj, "name", a->name);
    codec_set_str(obj, "type", a->type);
    return obj;
}

/* Fixed-size id buffers use "" for "none". */
static const char *
codec_id(const char *id)
{
    return id[0] != '\0' ? id : NULL;
}

struct ms_actor
ms_actor_from_auth(const struct ms_auth *auth)
{
    struct ms_actor a = {NULL, NULL, NULL};

    switch (auth->kind) {
    case MS_ACTOR_USER:
        a.id = codec_id(auth->user_id);
        a.name = auth->user_name != NULL ? auth->user_name : auth->user_email;
        a.type = "user";
        break;
    case MS_ACTOR_ORGANIZATION:
        a.id = codec_id(auth->org_id);
        a.name = auth->org_name;
        a.type = "organization";
        break;
    case MS_ACTOR_PARTNER:
        a.id = codec_id(auth->key_id);
        a.type = "partner";
        break;
    case MS_ACTOR_SYSTEM:
        a.type = "system";
        break;
    }
    return a;
}

void
ms_json_set_time(json_t *obj, const char *key, int64_t ms)
{
    char buf[MS_TIME_LEN];

    if (ms == 0)
        return;
    ms_time_format(ms, buf);
    json_object_set_new(obj, key, json_string(buf));
}
