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
    const char *org_name;          /* arena */
    char user_id[MS_UUID_LEN + 1]; /* "" unless kind == MS_ACTOR_USER */
    const char *user_email;        /* arena; NULL unless a user */
    const char *user_name;         /* arena; NULL unless a user */
    char cred_hash[64 + 1];        /* SHA-256 hex of the credential: idempotency scope */
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
    const char *hash;  /* SHA-256 hex of the key; the key itself is never stored */
    const char *label; /* "msu_AbCd…": the first characters, to recognise it in lists */
    int64_t created_at;
    int64_t revoked_at; /* 0 while valid */
};

struct ms_connection {
    const char *id;
    const char *org_id;
    const char *name;
    const char *type;         /* connector type: "postgresql" */
    json_t *config;           /* secrets sealed ("v1:…") as stored; see ms_conn_config_* */
    const char *status;       /* "healthy", "unhealthy", "pending" */
    const char *status_error; /* NULL when healthy */
    json_t *policies;         /* uuid[] (may be NULL) */
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
    const char *type; /* source connection's type */
    json_t *config;   /* model configuration: {"table": …} or {"query": …} or {"file": …} */
    json_t *fields;   /* ModelField[] (discovered + additional), as served */
    json_t *doc;      /* the other stored request members: identifier, tracking_columns,
                         relations, labels, policies, additional_fields, enricher */
    int64_t version;  /* 1 on create, +1 per update */
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
    const char *target_object; /* NULL until known */
    json_t *config;            /* the stored configuration: every writable SyncResponse member */
    json_t *model_ids;         /* uuid[] derived from config */
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
                                   const char *const *secrets, const uint8_t *key, json_t **out,
                                   struct ms_error *err);

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
enum ms_status ms_json_opt_obj(const json_t *obj, const char *key, const char *path, json_t **out,
                               struct ms_error *err);
enum ms_status ms_json_opt_arr(const json_t *obj, const char *key, const char *path, json_t **out,
                               struct ms_error *err);
/* Required variants: absent or null → MS_EINVAL "path: required". */
enum ms_status ms_json_req_str(const json_t *obj, const char *key, const char *path,
                               const char **out, struct ms_error *err);
enum ms_status ms_json_req_obj(const json_t *obj, const char *key, const char *path, json_t **out,
                               struct ms_error *err);

/*
 * Refuse members of obj not in allowed[] (NULL-terminated): MS_EINVAL "path.member: unknown
 * member". Used for connector configurations, where extra members are errors (DECISIONS.md §3).
 */
enum ms_status ms_json_only(const json_t *obj, const char *const *allowed, const char *path,
                            struct ms_error *err);

/* Serialize compactly with sorted keys: a new malloc'd string. */
char *ms_json_dump(const json_t *v);

/* ---- syncs (model/sync.c, model/sync_filter.c) ---- */

#define MS_SYNC_MAX_ITEMS                                                                          \
    1024                         /* entries of fields, override_fields, filters, overrides,        \
                                    policies, run_after ids, one operand list */
#define MS_SYNC_MAX_NAME 1024    /* bytes of a sync name */
#define MS_FILTER_LOGIC_MAX 4096 /* bytes of a filter_logic expression */
#define MS_FILTER_LOGIC_DEPTH 64 /* nesting of parentheses and NOT in filter_logic */
#define MS_FILTER_LABEL_MAX 64   /* bytes of a filter label */

/* Is mode one of ModelsyncSyncTargetMode (API.md §4.1)? NULL is not. */
bool ms_sync_mode_valid(const char *mode);

/*
 * Parse a CreateSyncRequest / UpdateSyncRequest body (they are the same, API.md §5.7) into the
 * normalized stored configuration *config (a new reference): name, mode, target {connection_id,
 * object | create, new_name, configuration, filter_logic, search_values}, fields,
 * override_fields, identity (function "Equality" when absent), filters, filter_logic,
 * overrides, schedule (only the members its frequency uses; {} → {"frequency":"manual"}),
 * policies, sync_all_records, skip_initial_backfill, only_enrich_updates and, when given,
 * encryption_passphrase (never returned, D6). Arrays are always present ([] when absent),
 * uuids lowercased, unknown and read-only members dropped, null read as absent. `active` is
 * not part of it (the sync row's column holds it): *active is 1 or 0 when the body has it,
 * -1 when it does not.
 *
 * Checks everything that needs no I/O. MS_EINVAL (400) naming the member ("fields[2].target",
 * "schedule.frequency") for missing required members (all missing ones listed in the message,
 * the first in err->field), wrong types, unknown enum values, malformed operands and
 * filter_logic syntax; MS_EUNPROC (422) for a target without exactly one of object/create,
 * duplicate filter labels, a filter_logic label no filter defines, a runafter schedule without
 * sync ids or with bulk syncs; MS_EUNSUPP (422) for encryption_enabled (D6) and identity
 * functions other than Equality; MS_ETOOBIG over the MS_SYNC_MAX_* caps. The cron values of the
 * schedule are checked by ms_sched_validate() (sched.h), and D8 by ms_sync_check_mappings()
 * once the target is known, not here.
 */
enum ms_status ms_sync_parse(const json_t *body, json_t **config, int *active,
                             struct ms_error *err);

/*
 * D8 for a parsed config: MS_EUNPROC naming "fields" when it is empty, or "fields[i].source" /
 * "override_fields[i].source" for a mapping with neither source nor override_value. A
 * free-form target (freeform: the connector has MS_CX_FREEFORM and reports
 * mappings_not_required) accepts bare target names and an empty override_fields, but still
 * needs at least one mapping with a source in fields, or it would receive no data.
 */
enum ms_status ms_sync_check_mappings(const json_t *config, bool freeform, struct ms_error *err);

/*
 * Optional Source member in.key (API.md §3.2) → out.key as a new {"field","model_id"} with the
 * UUID lowercased; absent or null leaves out alone. MS_EINVAL naming path or path.field /
 * path.model_id.
 */
enum ms_status ms_sync_source_member(const json_t *in, const char *key, const char *path,
                                     json_t *out, struct ms_error *err);

/*
 * The distinct model ids that config references, in first-appearance order over fields,
 * override_fields, identity, filters and overrides (API.md §3.9 model_ids). New reference.
 */
json_t *ms_sync_model_ids(const json_t *config);

/*
 * Point y->config at config and y's scalar members (name, mode, target_connection_id,
 * target_object) at config's strings (borrowed: config must outlive y's use of them).
 */
void ms_sync_set_config(struct ms_sync *y, json_t *config);

/*
 * SyncResponse (API.md §3.9) of y: id, organization_id, name, active, mode, target, fields,
 * override_fields, filters, overrides, policies (arrays, [] when empty), identity and
 * filter_logic when set, schedule, model_ids (y->model_ids, or derived when NULL), the three
 * flags, created_at/updated_at and the actors when known. Never encryption_passphrase (D6).
 * New reference; members of y->config are shared, not copied.
 */
json_t *ms_sync_to_json(const struct ms_sync *y);

/* ListSyncItem (API.md §3.10) of y. New reference. */
json_t *ms_sync_list_item(const struct ms_sync *y);

/*
 * Parse body.filters, body.filter_logic and body.overrides into out (members "filters" and
 * "overrides" always set, "filter_logic" when non-empty), with the rules of ms_sync_parse():
 * a Filter names its field by `field` (then field_id is dropped) or field_id; an Override by
 * field_id (then field is dropped) or field; each function's operand shape (API.md §4.4, D16):
 * none for IsNull/IsNotNull/True/False, a scalar, a string, a date, [low, high] for Between, a
 * string array for StringOneOf/StringNotOneOf, {"value": int, "unit": "minutes|hours|days|
 * weeks|months"} for InTheLast and Relative*. An override with a value but no function
 * compares with Equality.
 */
enum ms_status ms_sync_filters_parse(const json_t *body, json_t *out, struct ms_error *err);

/* Is fn a FilterFunction (API.md §4.4, case-sensitive)? */
bool ms_sync_filter_function_valid(const char *fn);

/* filter_logic (D16): labels, AND, OR, NOT, parentheses; keywords in any case. */
enum ms_flx_kind { MS_FLX_LABEL, MS_FLX_AND, MS_FLX_OR, MS_FLX_NOT };

struct ms_flx {
    enum ms_flx_kind kind;
    const char *label;    /* MS_FLX_LABEL: as written (labels are case-sensitive); arena */
    size_t index;         /* MS_FLX_LABEL: position in filters[], set by ms_filter_logic_bind */
    struct ms_flx *a, *b; /* operands: AND/OR both, NOT only a */
};

/*
 * Parse text into an AST allocated in a (NOT binds tightest, then AND, then OR). MS_EINVAL
 * naming filter_logic on a syntax error, an empty expression, more than MS_FILTER_LOGIC_MAX
 * bytes or nesting deeper than MS_FILTER_LOGIC_DEPTH.
 */
enum ms_status ms_filter_logic_parse(struct ms_arena *a, const char *text, struct ms_flx **out,
                                     struct ms_error *err);

/*
 * Resolve every label of ast to the index of the filter (in the filters array) carrying it;
 * MS_EUNPROC naming filter_logic when a label is not defined.
 */
enum ms_status ms_filter_logic_bind(struct ms_flx *ast, const json_t *filters,
                                    struct ms_error *err);

/* ---- executions (model/execution.c) ---- */

/* ExecutionCounts (API.md §3.12); the JSON keys are irregular on purpose. */
struct ms_counts {
    int64_t total; /* records processed (new, changed and removed) */
    int64_t insert;
    int64_t update;
    int64_t upserts;
    int64_t delete;
    int64_t error; /* records the target rejected */
    int64_t warnings;
};

/* One run of a sync (API.md §3.12, §7.1). */
struct ms_execution {
    const char *id;
    const char *org_id;
    const char *sync_id;
    const char *type;   /* manual, scheduled, runafter, continuous, test, resync (D15) */
    const char *status; /* UtilExecutionStatus (API.md §4.3) */
    json_t *options;    /* {"resync": bool, "test": bool, "identities": [..]} as started */
    json_t *errors;     /* string[] of run-level errors (may be NULL = []) */
    struct ms_counts counts;
    int64_t created_at, started_at, completed_at; /* 0 = not yet */
    bool cancel_requested;
    const char *node;    /* the worker holding the lease, NULL when unclaimed */
    int64_t lease_until; /* ms; the claim lapses after this unless renewed */
};

/* Is status terminal (completed, failed, canceled, interrupted)? */
bool ms_exec_status_terminal(const char *status);
/* Execution JSON (GetExecutionResponseSchema): id, status, type, created_at, started_at and
 * completed_at when set, counts, errors ([] when none). New reference. */
json_t *ms_exec_to_json(const struct ms_execution *ex);

#endif
