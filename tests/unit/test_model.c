/* tests/unit/test_model.c: tests for src/model/ codecs, connection secrets and JSON helpers. */
#include <criterion/criterion.h>

#include <stdlib.h>
#include <string.h>

#include "core/crypto.h"
#include "model/model.h"

static const char *const model_secrets[] = {"password", "token", NULL};

static void
model_key(uint8_t key[MS_SECRET_KEY_LEN], uint8_t fill)
{
    memset(key, fill, MS_SECRET_KEY_LEN);
}

static json_t *
model_json(const char *text)
{
    json_t *j = json_loads(text, 0, NULL);

    cr_assert_not_null(j, "bad test JSON: %s", text);
    return j;
}

static const char *
model_get(const json_t *obj, const char *key)
{
    return json_string_value(json_object_get(obj, key));
}

/* ---- codecs ---- */

Test(model_codec, actor_to_json)
{
    struct ms_actor a = {"0d4a6f3e-1234-4abc-8def-0123456789ab", "Ada", "user"};
    struct ms_actor b = {"0d4a6f3e-1234-4abc-8def-0123456789ab", NULL, "organization"};
    struct ms_actor none = {NULL, "x", "user"};
    json_t *j;
    char *s;

    j = ms_actor_to_json(&a);
    s = ms_json_dump(j);
    cr_expect_str_eq(s, "{\"id\":\"0d4a6f3e-1234-4abc-8def-0123456789ab\",\"name\":\"Ada\","
                        "\"type\":\"user\"}");
    free(s);
    json_decref(j);
    j = ms_actor_to_json(&b);
    cr_expect_null(json_object_get(j, "name"), "NULL members are omitted");
    cr_expect_eq(json_object_size(j), 2);
    json_decref(j);
    cr_expect_null(ms_actor_to_json(&none));
}

Test(model_codec, actor_from_auth)
{
    struct ms_auth auth;
    struct ms_actor a;

    memset(&auth, 0, sizeof(auth));
    auth.kind = MS_ACTOR_USER;
    strcpy(auth.user_id, "11111111-1111-4111-8111-111111111111");
    strcpy(auth.org_id, "22222222-2222-4222-8222-222222222222");
    auth.user_email = "ada@example.com";
    auth.org_name = "Acme";
    a = ms_actor_from_auth(&auth);
    cr_expect_str_eq(a.id, auth.user_id);
    cr_expect_str_eq(a.name, "ada@example.com", "email when the user has no name");
    cr_expect_str_eq(a.type, "user");
    auth.user_name = "Ada";
    a = ms_actor_from_auth(&auth);
    cr_expect_str_eq(a.name, "Ada");

    auth.kind = MS_ACTOR_ORGANIZATION;
    a = ms_actor_from_auth(&auth);
    cr_expect_str_eq(a.id, auth.org_id);
    cr_expect_str_eq(a.name, "Acme");
    cr_expect_str_eq(a.type, "organization");
}

Test(model_codec, set_time)
{
    json_t *o = json_object();

    ms_json_set_time(o, "created_at", 1705311000123);
    ms_json_set_time(o, "updated_at", 0);
    cr_expect_str_eq(model_get(o, "created_at"), "2024-01-15T09:30:00.123Z");
    cr_expect_null(json_object_get(o, "updated_at"), "no member when ms == 0");
    json_decref(o);
}

/* ---- secrets ---- */

Test(model_secrets, seal_only_listed_non_empty_strings)
{
    uint8_t key[MS_SECRET_KEY_LEN];
    json_t *cfg = model_json("{\"hostname\":\"db\",\"password\":\"pw\",\"token\":\"\","
                             "\"port\":5432}");
    json_t *out = NULL, *plain = NULL;
    struct ms_error err;

    cr_assert_eq(ms_crypto_init(NULL), MS_OK);
    model_key(key, 7);
    cr_assert_eq(ms_conn_config_seal(cfg, NULL, model_secrets, key, &out, &err), MS_OK);
    cr_expect(ms_is_sealed(model_get(out, "password")));
    cr_expect_str_eq(model_get(out, "hostname"), "db", "non-secret member untouched");
    cr_expect_str_eq(model_get(out, "token"), "", "empty secret left as is");
    cr_expect_eq(json_integer_value(json_object_get(out, "port")), 5432);
    cr_expect_str_eq(model_get(cfg, "password"), "pw", "input not modified");

    cr_assert_eq(ms_conn_config_unseal(out, model_secrets, key, &plain, &err), MS_OK);
    cr_expect(json_equal(plain, cfg), "unseal restores the configuration");
    json_decref(plain);
    json_decref(out);
    json_decref(cfg);
}

Test(model_secrets, redacted_keeps_previous)
{
    uint8_t key[MS_SECRET_KEY_LEN];
    json_t *first = model_json("{\"password\":\"pw\",\"token\":\"tk\"}");
    json_t *update = model_json("{\"password\":\"********\",\"token\":\"new\"}");
    json_t *prev = NULL, *next = NULL, *plain = NULL;

    cr_assert_eq(ms_crypto_init(NULL), MS_OK);
    model_key(key, 9);
    cr_assert_eq(ms_conn_config_seal(first, NULL, model_secrets, key, &prev, NULL), MS_OK);
    cr_assert_eq(ms_conn_config_seal(update, prev, model_secrets, key, &next, NULL), MS_OK);
    cr_expect_str_eq(model_get(next, "password"), model_get(prev, "password"),
                     "the stored sealed value is kept");
    cr_expect_str_neq(model_get(next, "token"), model_get(prev, "token"));
    cr_assert_eq(ms_conn_config_unseal(next, model_secrets, key, &plain, NULL), MS_OK);
    cr_expect_str_eq(model_get(plain, "password"), "pw");
    cr_expect_str_eq(model_get(plain, "token"), "new");
    json_decref(plain);
    json_decref(next);
    json_decref(prev);
    json_decref(update);
    json_decref(first);
}

Test(model_secrets, redacted_without_prev_is_einval)
{
    uint8_t key[MS_SECRET_KEY_LEN];
    json_t *cfg = model_json("{\"token\":\"x\",\"password\":\"********\"}");
    json_t *prev = model_json("{\"token\":\"v1:abc\"}");
    json_t *out = NULL;
    struct ms_error err;

    model_key(key, 1);
    cr_expect_eq(ms_conn_config_seal(cfg, NULL, model_secrets, key, &out, &err), MS_EINVAL);
    cr_expect_str_eq(err.field, "configuration.password");
    cr_expect_not_null(strstr(err.msg, "password"));
    cr_expect_null(out);
    cr_expect_eq(ms_conn_config_seal(cfg, prev, model_secrets, key, &out, &err), MS_EINVAL,
                 "prev without that member");
    cr_expect_str_eq(err.field, "configuration.password");
    cr_expect_null(out);
    json_decref(prev);
    prev = json_string("x");
    cr_expect_eq(ms_conn_config_seal(prev, NULL, model_secrets, key, &out, &err), MS_EINVAL,
                 "not an object");
    json_decref(prev);
    json_decref(cfg);
}

Test(model_secrets, unseal_wrong_key_names_member)
{
    uint8_t key[MS_SECRET_KEY_LEN], other[MS_SECRET_KEY_LEN];
    json_t *cfg = model_json("{\"token\":\"secret\"}");
    json_t *sealed = NULL, *out = NULL;
    struct ms_error err;

    cr_assert_eq(ms_crypto_init(NULL), MS_OK);
    model_key(key, 3);
    model_key(other, 4);
    cr_assert_eq(ms_conn_config_seal(cfg, NULL, model_secrets, key, &sealed, NULL), MS_OK);
    cr_expect_eq(ms_conn_config_unseal(sealed, model_secrets, other, &out, &err), MS_EINVAL);
    cr_expect_str_eq(err.field, "configuration.token");
    cr_expect_null(out);
    json_decref(sealed);
    json_decref(cfg);
}

Test(model_secrets, redact)
{
    json_t *cfg = model_json("{\"hostname\":\"db\",\"password\":\"v1:xyz\",\"token\":null}");
    json_t *r = ms_conn_config_redact(cfg, model_secrets);

    cr_expect_str_eq(model_get(r, "password"), MS_REDACTED);
    cr_expect_str_eq(model_get(r, "hostname"), "db");
    cr_expect(json_is_null(json_object_get(r, "token")), "null stays null");
    cr_expect_str_eq(model_get(cfg, "password"), "v1:xyz", "input not modified");
    json_decref(r);
    json_decref(cfg);
}

/* ---- JSON helpers ---- */

Test(model_json, typed_getters)
{
    json_t *o = model_json("{\"s\":\"x\",\"b\":true,\"o\":{},\"a\":[],\"n\":null,\"i\":3}");
    const char *s = "untouched";
    bool b = false;
    json_t *v = NULL;
    struct ms_error err;

    cr_expect_eq(ms_json_opt_str(o, "s", "s", &s, &err), MS_OK);
    cr_expect_str_eq(s, "x");
    cr_expect_eq(ms_json_opt_bool(o, "b", "b", &b, &err), MS_OK);
    cr_expect(b);
    cr_expect_eq(ms_json_opt_obj(o, "o", "o", &v, &err), MS_OK);
    cr_expect(json_is_object(v));
    cr_expect_eq(ms_json_opt_arr(o, "a", "a", &v, &err), MS_OK);
    cr_expect(json_is_array(v));

    s = "untouched";
    cr_expect_eq(ms_json_opt_str(o, "n", "n", &s, &err), MS_OK, "null is absent");
    cr_expect_eq(ms_json_opt_str(o, "missing", "m", &s, &err), MS_OK);
    cr_expect_str_eq(s, "untouched");

    cr_expect_eq(ms_json_opt_str(o, "i", "target.connection_id", &s, &err), MS_EINVAL);
    cr_expect_str_eq(err.field, "target.connection_id");
    cr_expect_eq(strncmp(err.msg, "target.connection_id: ", 22), 0);
    cr_expect_eq(ms_json_opt_bool(o, "s", "active", &b, &err), MS_EINVAL);
    cr_expect_str_eq(err.field, "active");
    cr_expect_eq(ms_json_opt_obj(o, "a", "schedule", &v, &err), MS_EINVAL);
    cr_expect_str_eq(err.field, "schedule");
    cr_expect_eq(ms_json_opt_arr(o, "o", "fields", &v, &err), MS_EINVAL);
    cr_expect_str_eq(err.field, "fields");

    cr_expect_eq(ms_json_req_str(o, "n", "name", &s, &err), MS_EINVAL);
    cr_expect_str_eq(err.field, "name");
    cr_expect_str_eq(err.msg, "name: required");
    cr_expect_eq(ms_json_req_obj(o, "missing", "target", &v, &err), MS_EINVAL);
    cr_expect_str_eq(err.field, "target");
    cr_expect_eq(ms_json_req_obj(o, "s", "target", &v, &err), MS_EINVAL);
    cr_expect_eq(ms_json_req_str(o, "s", "s", &s, &err), MS_OK);
    json_decref(o);
}

Test(model_json, only_rejects_extra_members)
{
    static const char *const allowed[] = {"hostname", "port", NULL};
    json_t *ok = model_json("{\"hostname\":\"h\",\"port\":1}");
    json_t *bad = model_json("{\"hostname\":\"h\",\"passwd\":\"x\"}");
    struct ms_error err;

    cr_expect_eq(ms_json_only(ok, allowed, "configuration", &err), MS_OK);
    cr_expect_eq(ms_json_only(bad, allowed, "configuration", &err), MS_EINVAL);
    cr_expect_str_eq(err.field, "configuration.passwd");
    cr_expect_str_eq(err.msg, "configuration.passwd: unknown member");
    cr_expect_eq(ms_json_only(bad, allowed, "", &err), MS_EINVAL);
    cr_expect_str_eq(err.field, "passwd");
    json_decref(ok);
    ok = json_array();
    cr_expect_eq(ms_json_only(ok, allowed, "configuration", &err), MS_EINVAL);
    json_decref(ok);
    json_decref(bad);
}

Test(model_json, dump_sorted_compact)
{
    json_t *o = model_json("{\"b\": 1, \"a\": [true, null], \"c\": \"\\u00e9\"}");
    char *s = ms_json_dump(o);

    cr_expect_str_eq(s, "{\"a\":[true,null],\"b\":1,\"c\":\"\xc3\xa9\"}");
    free(s);
    s = ms_json_dump(NULL);
    cr_expect_str_eq(s, "null");
    free(s);
    json_decref(o);
}
