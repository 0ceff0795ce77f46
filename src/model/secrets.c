/*
 * secrets.c: connection configuration secrets. Stored configurations hold secret members sealed
 * with the deployment key ("v1:…", core/crypto.h); clients only ever read MS_REDACTED, and
 * sending MS_REDACTED back keeps the stored value (DECISIONS.md D18). Every function works on a
 * deep copy, so the caller's values are never modified. Any thread.
 */
#include "model/model.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/crypto.h"

#define SECRETS_PATH "configuration"

/* ms_fail_at naming configuration.<member>. */
static enum ms_status
secrets_fail(struct ms_error *err, const char *member, const char *msg)
{
    char field[128];

    snprintf(field, sizeof(field), SECRETS_PATH ".%s", member);
    return ms_fail_at(err, MS_EINVAL, field, "%s", msg);
}

/* Seal one member of copy in place. */
static enum ms_status
secrets_seal_one(json_t *copy, const json_t *prev, const char *name, const uint8_t *key,
                 struct ms_error *err)
{
    json_t *v = json_object_get(copy, name);
    const char *s = json_string_value(v);
    json_t *pv;
    char *sealed;

    if (s == NULL || *s == '\0')
        return MS_OK;
    if (strcmp(s, MS_REDACTED) == 0) {
        pv = json_object_get(prev, name);
        if (!json_is_string(pv))
            return secrets_fail(err, name, "\"" MS_REDACTED "\" given but no value is stored");
        json_object_set_new(copy, name, json_string(json_string_value(pv)));
        return MS_OK;
    }
    sealed = ms_seal(key, s);
    json_object_set_new(copy, name, json_string(sealed));
    free(sealed);
    return MS_OK;
}

enum ms_status
ms_conn_config_seal(const json_t *cfg, const json_t *prev, const char *const *secrets,
                    const uint8_t *key, json_t **out, struct ms_error *err)
{
    json_t *copy;
    enum ms_status st = MS_OK;

    if (!json_is_object(cfg))
        return ms_fail_at(err, MS_EINVAL, SECRETS_PATH, "must be an object");
    copy = json_deep_copy(cfg);
    for (size_t i = 0; secrets[i] != NULL && st == MS_OK; i++)
        st = secrets_seal_one(copy, prev, secrets[i], key, err);
    if (st != MS_OK) {
        json_decref(copy);
        return st;
    }
    *out = copy;
    return MS_OK;
}

enum ms_status
ms_conn_config_unseal(const json_t *sealed, const char *const *secrets, const uint8_t *key,
                      json_t **out, struct ms_error *err)
{
    json_t *copy;

    if (!json_is_object(sealed))
        return ms_fail_at(err, MS_EINVAL, SECRETS_PATH, "must be an object");
    copy = json_deep_copy(sealed);
    for (size_t i = 0; secrets[i] != NULL; i++) {
        const char *s = json_string_value(json_object_get(copy, secrets[i]));
        char *plain = NULL;
        json_t *v;

        if (s == NULL || !ms_is_sealed(s))
            continue;
        if (ms_unseal(key, s, &plain, NULL) != MS_OK) {
            json_decref(copy);
            return secrets_fail(err, secrets[i],
                                "cannot be decrypted with this deployment's secret key");
        }
        v = json_string(plain); /* NULL if the plaintext is not UTF-8: not ours, then */
        free(plain);
        if (v == NULL) {
            json_decref(copy);
            return secrets_fail(err, secrets[i], "sealed value is not text");
        }
        json_object_set_new(copy, secrets[i], v);
    }
    *out = copy;
    return MS_OK;
}

json_t *
ms_conn_config_redact(const json_t *cfg, const char *const *secrets)
{
    json_t *copy = json_deep_copy(cfg);

    if (!json_is_object(copy))
        return copy;
    for (size_t i = 0; secrets[i] != NULL; i++) {
        json_t *v = json_object_get(copy, secrets[i]);

        if (v != NULL && !json_is_null(v))
            json_object_set_new(copy, secrets[i], json_string(MS_REDACTED));
    }
    return copy;
}
