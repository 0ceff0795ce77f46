/*
 * api_int.h: helpers shared by the handlers in api/ (util.c), never included from outside.
 *
 * They are parse-or-fail helpers in the Redis "...OrReply" style: each one checks one piece of
 * request input, names the offending member in err, and leaves the handler nothing to do but
 * return the status. Everything they allocate belongs to the request arena.
 */
#ifndef MS_API_API_INT_H
#define MS_API_API_INT_H

#include <stdbool.h>
#include <stdint.h>
#include <jansson.h>
#include "api/api.h"
#include "connectors/connector.h"
#include "core/uuid.h"

/* Caps on request lists, checked before anything is built from them. */
#define MS_API_MAX_LIST 1024 /* members of fields, tracking_columns, labels, policies, ... */

/* ms_defer_fn adapter: json_decref(v). */
void ms_api_json_release(void *v);

/* Tie the new reference v to the request (released with the arena); returns v. NULL is kept. */
json_t *ms_api_keep(struct ms_req *req, json_t *v);

/* {"data": v}, stealing v. */
json_t *ms_api_data(json_t *v);

/*
 * Parse the request body as a JSON object. Empty body, `null` or another JSON type → MS_EINVAL
 * "request body must be a JSON object"; malformed JSON → MS_EINVAL with jansson's line and
 * column. *out is borrowed: the request arena owns it.
 */
enum ms_status ms_api_body(struct ms_req *req, json_t **out, struct ms_error *err);

/*
 * Boolean query parameter: absent → def; "true"/"false" (any case), "1"/"0"; anything else
 * → MS_EINVAL naming key.
 */
enum ms_status ms_api_query_bool(const struct ms_req *req, const char *key, bool def, bool *out,
                                 struct ms_error *err);

/*
 * Turn the failure st (already recorded in err) of a connector's *source* operation done for a
 * client request (model discovery, preview, sample) into a client error: MS_EUPSTREAM → MS_EINVAL
 * "source: <message>", MS_ENOTFOUND (the table or file does not exist) → MS_EUNPROC
 * "source: <message>", both naming field (may be NULL). Other statuses are kept. Returns the
 * resulting status.
 */
enum ms_status ms_api_source_fail(enum ms_status st, const char *field, struct ms_error *err);

/*
 * Re-root the member err names under prefix ("path" → "configuration.path"), in err->field and
 * in the "member: " head of the message. No-op when err names no member or already starts so.
 */
void ms_api_field_prefix(struct ms_error *err, const char *prefix);

/*
 * Re-root the member err names from from to to ("configuration.table" → "params.table"); a
 * member not under from is put under to. No-op when err names no member.
 */
void ms_api_field_reroot(struct ms_error *err, const char *from, const char *to);

/* D11: body.organization_id absent, null or the caller's → MS_OK; another → MS_EDENIED. */
enum ms_status ms_api_check_org(const struct ms_req *req, const json_t *body, struct ms_error *err);

/*
 * Optional member key of body that must be an array of at most MS_API_MAX_LIST strings (uuids
 * when uuid is set). *out: a new array (lowercased uuids) tied to the request; NULL when the
 * member is absent or null. Wrong types → MS_EINVAL naming "key[i]"; too long → MS_ETOOBIG.
 */
enum ms_status ms_api_str_list(struct ms_req *req, const json_t *body, const char *key, bool uuid,
                               json_t **out, struct ms_error *err);

/*
 * Load connection id of the caller's organization (MS_ENOTFOUND otherwise) into *conn (request
 * arena) and its connector into *impl (MS_EUNSUPP when the type is not built in).
 */
enum ms_status ms_api_conn_load(struct ms_req *req, const char *id, struct ms_connection *conn,
                                const struct ms_connector **impl, struct ms_error *err);

/*
 * Open conn's connector with its unsealed configuration. The connection is closed when the
 * request arena is freed, so every path of the handler closes it. Open failures are the
 * connector's (MS_EUPSTREAM: unreachable).
 */
enum ms_status ms_api_conn_open(struct ms_req *req, const struct ms_connection *conn,
                                const struct ms_connector *impl, struct ms_cx **cx,
                                struct ms_error *err);

/*
 * Test a plain (unsealed) configuration: open, test, close. MS_OK when reachable; otherwise the
 * connector's status and message (MS_EINTERNAL kept as a bug).
 */
enum ms_status ms_api_cx_test(const struct ms_connector *impl, const json_t *cfg,
                              struct ms_error *err);

/* Path parameter name as a lowercase UUID into out; missing or malformed → MS_ENOTFOUND. */
enum ms_status ms_api_path_id(const struct ms_req *req, const char *name, char out[MS_UUID_LEN + 1],
                              struct ms_error *err);

/* Set key to a's OutputActor unless a is unknown. */
void ms_api_set_actor(json_t *obj, const char *key, const struct ms_actor *a);

/* A new copy of v, or [] when v is NULL or not an array. */
json_t *ms_api_array_or_empty(const json_t *v);

/* ---- models (models.c parses the body, model_fields.c resolves fields and references) ---- */

/* A create/update/preview model body, shape-checked; json members are request-owned. */
struct ms_api_model_in {
    const char *name;
    char connection_id[MS_UUID_LEN + 1];
    json_t *config;         /* the model configuration */
    json_t *fields;         /* string[]: field names to enable; NULL = all */
    json_t *additional;     /* [{name, label, type, example?}]; NULL when absent */
    const char *identifier; /* NULL when absent */
    json_t *tracking;       /* string[] or NULL */
    json_t *relations;      /* [{from, to: {model_id (lowercase), field}}] or NULL */
    json_t *labels;         /* string[] or NULL */
    json_t *policies;       /* uuid[] or NULL */
    json_t *enricher;       /* object or NULL */
    bool refresh;
};

/* The element of a field array ([{"name", ...}]) named name, or NULL. fields may be NULL. */
json_t *ms_api_field_find(const json_t *fields, const char *name);

/* Shape-check additional_fields of body into in->additional (MS_EINVAL / MS_EUNPROC naming it). */
enum ms_status ms_api_model_parse_additional(struct ms_req *req, const json_t *body,
                                             struct ms_api_model_in *in, struct ms_error *err);

/* Shape-check relations of body into in->relations (MS_EINVAL naming relations[i]...). */
enum ms_status ms_api_model_parse_relations(struct ms_req *req, const json_t *body,
                                            struct ms_api_model_in *in, struct ms_error *err);

/*
 * The ModelField[] of a model: the enabled discovered fields ([{name, type, remote_type}] from
 * the connector) then in->additional. A field keeps the id and creation audit of the field of
 * the same name in prev (the stored fields on update; NULL on create). preview: no ids, no
 * audit members. Unknown names in in->fields, or additional fields that clash, → MS_EUNPROC
 * naming them. *out is request-owned.
 */
enum ms_status ms_api_model_fields(struct ms_req *req, const struct ms_api_model_in *in,
                                   const json_t *discovered, const json_t *prev, bool preview,
                                   json_t **out, struct ms_error *err);

/*
 * Check that identifier, tracking_columns and relations name existing fields (of fields, or of
 * the related model in the caller's organization; self_id is the model being updated or NULL)
 * → MS_EUNPROC naming the member.
 */
enum ms_status ms_api_model_refs(struct ms_req *req, const struct ms_api_model_in *in,
                                 const char *self_id, const json_t *fields, struct ms_error *err);

#endif
