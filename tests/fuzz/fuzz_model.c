/*
 * fuzz_model.c: the parts of a model create/update/preview body that api/ parses without I/O:
 * additional_fields and relations (ms_api_model_parse_additional/_relations), then the
 * ModelField[] built from them and a fixed set of discovered source fields
 * (ms_api_model_fields), for a preview and for a stored model. The body goes through
 * ms_api_body() first, as in the handler. Besides the sanitizers: a refusal names the member,
 * and the built fields are the enabled discovered ones then the additional ones, in order.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "api/api_int.h"
#include "core/arena.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FZ_CHECK(c)                                                                                \
    do {                                                                                           \
        if (!(c)) {                                                                                \
            fprintf(stderr, "fuzz_model: check failed: %s (line %d)\n", #c, __LINE__);             \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

static const char fz_discovered[] = "[{\"name\": \"id\", \"type\": \"number\", \"remote_type\": "
                                    "\"integer\"}, {\"name\": \"email\", \"type\": \"string\"}, "
                                    "{\"name\": \"age\", \"type\": \"number\"}]";

/* body.fields when it has the shape models.c accepts (an array of strings), else NULL. */
static json_t *
fz_enabled(const json_t *body)
{
    json_t *f = json_object_get(body, "fields");

    for (size_t i = 0; i < json_array_size(f); i++)
        if (!json_is_string(json_array_get(f, i)))
            return NULL;
    return json_is_array(f) ? f : NULL;
}

/* The fields are the enabled discovered ones, then the additional ones, with their names. */
static void
fz_check_fields(const struct ms_api_model_in *in, const json_t *disc, const json_t *out)
{
    size_t k = 0;

    FZ_CHECK(json_is_array(out));
    for (size_t i = 0; i < json_array_size(disc); i++) {
        const char *name = json_string_value(json_object_get(json_array_get(disc, i), "name"));
        bool on = in->fields == NULL;

        for (size_t j = 0; !on && j < json_array_size(in->fields); j++)
            on = strcmp(json_string_value(json_array_get(in->fields, j)), name) == 0;
        if (!on)
            continue;
        FZ_CHECK(strcmp(json_string_value(json_object_get(json_array_get(out, k++), "name")),
                        name) == 0);
    }
    FZ_CHECK(json_array_size(out) == k + json_array_size(in->additional));
}

static void
fz_fields(struct ms_req *req, struct ms_api_model_in *in, const json_t *disc)
{
    struct ms_error err;
    json_t *out = NULL;

    for (int preview = 0; preview < 2; preview++) {
        enum ms_status st = ms_api_model_fields(req, in, disc, NULL, preview, &out, &err);

        FZ_CHECK(st == MS_OK || st == MS_EUNPROC);
        if (st == MS_OK)
            fz_check_fields(in, disc, out);
        else
            FZ_CHECK(err.field[0] != '\0');
    }
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static json_t *disc;
    struct ms_req req;
    struct ms_api_model_in in;
    struct ms_error err;
    json_t *body = NULL;
    enum ms_status st;

    if (disc == NULL)
        disc = json_loads(fz_discovered, 0, NULL);
    FZ_CHECK(disc != NULL);
    memset(&req, 0, sizeof(req));
    memset(&in, 0, sizeof(in));
    req.arena = ms_arena_new();
    ms_buf_init(&req.body, MS_MAX_BODY_BYTES);
    (void)ms_buf_add(&req.body, data, size);
    snprintf(req.auth.org_id, sizeof(req.auth.org_id), "a4e2bf40-0429-4897-bb6a-3c9dc7b9cd14");
    snprintf(req.auth.key_id, sizeof(req.auth.key_id), "b4e2bf40-0429-4897-bb6a-3c9dc7b9cd14");
    req.auth.kind = MS_ACTOR_ORGANIZATION;
    req.auth.org_name = "Fuzz";
    if (ms_api_body(&req, &body, &err) == MS_OK) {
        in.fields = fz_enabled(body);
        in.identifier = json_string_value(json_object_get(body, "identifier"));
        st = ms_api_model_parse_additional(&req, body, &in, &err);
        if (st == MS_OK)
            st = ms_api_model_parse_relations(&req, body, &in, &err);
        FZ_CHECK(st == MS_OK || st == MS_EINVAL || st == MS_EUNPROC || st == MS_ETOOBIG);
        FZ_CHECK(st == MS_OK || err.field[0] != '\0');
        if (st == MS_OK)
            fz_fields(&req, &in, disc);
    }
    ms_buf_release(&req.body);
    ms_arena_free(req.arena);
    return 0;
}
