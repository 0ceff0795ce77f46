/*
 * model.h: the domain as plain structs, plus the JSON codecs and validation that need no I/O.
 * Strings and json_t members of a struct read from the store live in the arena the store was
 * given (json_t values are released by an arena defer), so a struct is freed with its arena.
 */
#ifndef MS_MODEL_MODEL_H
#define MS_MODEL_MODEL_H

#include <stdbool.h>
#include <stdint.h>
#include <jansson.h>
#include "core/arena.h"
#include "core/error.h"
#include "core/uuid.h"

#define MS_REDACTED "********" /* what a secret configuration member reads as */

enum ms_actor_kind {
    MS_ACTOR_USER,         /* user API key (Bearer) */
    MS_ACTOR_ORGANIZATION, /* organization key (Basic, or Bearer) */
    MS_ACTOR_PARTNER,
    MS_ACTOR_SYSTEM,
};

/* OutputActor (API.md §3.1). All members NULL when unknown. */
struct ms_actor {
    const char *id;
    const char *name;
    const char *type; /* "user", "organization", "partner", "system" */
};

/* The authenticated caller of one request (http/auth.c fills it from the store). */
struct ms_auth {
    enum ms_actor_kind kind;
    char key_id[MS_UUID_LEN + 1];
    char org_id[MS_UUID_LEN + 1];
    const char *org_name;             /* arena */
    char user_id[MS_UUID_LEN + 1];    /* "" unless kind == MS_ACTOR_USER */
    const char *user_email;           /* arena; NULL unless a user */
    const char *user_name;            /* arena; NULL unless a user */
    char cred_hash[64 + 1];           /* SHA-256 hex of the credential: idempotency scope */
};

struct ms_org {
    const char *id;
    const char *name;
    int64_t created_at; /* ms since the epoch, UTC */
};

struct ms_user {
    const char *id;
    const char *org_id;
    const char *email;
    const char *name;
    int64_t created_at;
};

struct ms_api_key {
    const char *id;
    const char *org_id;
    const char *user_id; /* NULL for organization keys */
    enum ms_actor_kind kind;
    const char *hash;    /* SHA-256 hex of the key; the key itself is never stored */
    const char *label;   /* "msu_AbCd…": the first characters, to recognise it in lists */
    int64_t created_at;
    int64_t revoked_at;  /* 0 while valid */
};

struct ms_connection {
    const char *id;
    const char *org_id;
    const char *name;
    const char *type;        /* connector type: "postgresql" */
    json_t *config;          /* secrets sealed ("v1:…") as stored; see ms_conn_config_* */
    const char *status;      /* "healthy", "unhealthy", "pending" */
    const char *status_error;/* NULL when healthy */
    json_t *policies;        /* uuid[] (may be NULL) */
    const char *healthcheck_interval; /* NULL when unset */
    int64_t created_at, updated_at;
    struct ms_actor created_by, updated_by;
};

/* A model: a query or table on a source connection (API.md §10.5/§10.6). */
struct ms_model {
    const char *id;
    const char *org_id;
    const char *connection_id;
    const char *name;
    const char *type;       /* source connection's type */
    json_t *config;         /* model configuration: {"table": …} or {"query": …} or {"file": …} */
    json_t *fields;         /* ModelField[] (discovered + additional), as served */
    json_t *doc;            /* the other stored request members: identifier, tracking_columns,
                               relations, labels, policies, additional_fields, enricher */
    int64_t version;        /* 1 on create, +1 per update */
    int64_t created_at, updated_at;
    struct ms_actor created_by, updated_by;
};

/* A sync (API.md §3.9). Scalar columns for what is filtered or ordered on, the rest as JSON. */
struct ms_sync {
    const char *id;
    const char *org_id;
    const char *name;
    bool active;
    const char *mode;
    const char *target_connection_id;
    const char *target_object;  /* NULL until known */
    json_t *config;             /* the stored configuration: every writable SyncResponse member */
    json_t *model_ids;          /* uuid[] derived from config */
    int64_t created_at, updated_at;
    struct ms_actor created_by, updated_by;
};

/* ---- codecs (model/codec.c) ---- */

/* OutputActor JSON, or NULL when a->id is NULL. New reference. */
json_t *ms_actor_to_json(const struct ms_actor *a);
/* The actor who performs a change: the user, or the organization key. Strings borrowed. */
struct ms_actor ms_actor_from_auth(const struct ms_auth *auth);
/* Set key to an RFC 3339 UTC string unless ms == 0 (never ""). */
void ms_json_set_time(json_t *obj, const char *key, int64_t ms);

/* ---- connection configuration secrets (model/secrets.c) ---- */

/*
 * In a new reference copy of cfg, seal every member named in secrets[] (NULL-terminated) whose
 * value is a non-empty string. With prev (the stored, sealed configuration; may be NULL) a
 * member equal to MS_REDACTED keeps prev's sealed value (DECISIONS.md D18); without one it is
 * MS_EINVAL naming the member.
 */
enum ms_status ms_conn_config_seal(const json_t *cfg, const json_t *prev,
                                   const char *const *secrets, const uint8_t *key,
                                   json_t **out, struct ms_error *err);

/* New reference copy with sealed members decrypted, for opening the connector. */
enum ms_status ms_conn_config_unseal(const json_t *sealed, const char *const *secrets,
                                     const uint8_t *key, json_t **out, struct ms_error *err);

/* New reference copy with every secret member that is present replaced by MS_REDACTED. */
json_t *ms_conn_config_redact(const json_t *cfg, const char *const *secrets);

/* ---- small JSON helpers (model/json.c) ---- */

/*
 * Read an optional member of obj with a type check: absent or null → *out untouched and MS_OK;
 * wrong type → MS_EINVAL naming path ("target.connection_id") in err->field.
 */
enum ms_status ms_json_opt_str(const json_t *obj, const char *key, const char *path,
                               const char **out, struct ms_error *err);
enum ms_status ms_json_opt_bool(const json_t *obj, const char *key, const char *path, bool *out,
                                struct ms_error *err);
enum ms_status ms_json_opt_obj(const json_t *obj, const char *key, const char *path,
                               json_t **out, struct ms_error *err);
enum ms_status ms_json_opt_arr(const json_t *obj, const char *key, const char *path,
                               json_t **out, struct ms_error *err);
/* Required variants: absent or null → MS_EINVAL "path: required". */
enum ms_status ms_json_req_str(const json_t *obj, const char *key, const char *path,
                               const char **out, struct ms_error *err);
enum ms_status ms_json_req_obj(const json_t *obj, const char *key, const char *path,
                               json_t **out, struct ms_error *err);

/*
 * Refuse members of obj not in allowed[] (NULL-terminated): MS_EINVAL "path.member: unknown
 * member". Used for connector configurations, where extra members are errors (DECISIONS.md §3).
 */
enum ms_status ms_json_only(const json_t *obj, const char *const *allowed, const char *path,
                            struct ms_error *err);

/* Serialize compactly with sorted keys: a new malloc'd string. */
char *ms_json_dump(const json_t *v);

#endif
