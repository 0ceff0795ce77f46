/*
 * api.h: what http/ hands a request handler, and the route tables of every resource.
 *
 * http/ parses the request (path split and percent-decoded per segment, query form-decoded,
 * body capped), authenticates it and applies idempotency before a handler runs; the handler
 * only parses its input, calls the store and connectors, and leaves a reply in req. Handlers
 * run concurrently on MHD's pool threads: they touch only their request (arena, store handle)
 * and process-lifetime read-only data (config, connector registry).
 */
#ifndef MS_API_API_H
#define MS_API_API_H

#include <stdbool.h>
#include <stddef.h>
#include <jansson.h>
#include "core/arena.h"
#include "core/buf.h"
#include "core/config.h"
#include "core/error.h"
#include "model/model.h"
#include "store/store.h"

#define MS_MAX_PATH_PARAMS 8

struct ms_kv {
    const char *key; /* decoded, arena */
    const char *val; /* decoded, arena */
};

struct ms_req {
    struct ms_arena *arena; /* the request's: everything below lives here */
    const char *method;     /* "GET", "POST", ... */
    const char *path;       /* as received, without the query string */
    const char *route;      /* the matched pattern, "/api/syncs/{id}" (metrics, logs) */
    struct ms_kv params[MS_MAX_PATH_PARAMS]; /* path parameters by pattern name */
    size_t nparams;
    struct ms_kv *query; /* query arguments in order; a repeated key appears twice */
    size_t nquery;
    struct ms_buf body;     /* request body (capped); "" when none */
    const char *request_id; /* for logs and 5xx messages */
    struct ms_auth auth;    /* the caller; zeroed on public routes */
    struct ms_store *store; /* this thread's handle, borrowed */
    const struct ms_config *cfg;

    /* The reply, set by the handler (http/reply.c sends it and owns reply). */
    int status;             /* HTTP status; 0 means 200 */
    json_t *reply;          /* body; NULL with status 204 */
    const char *reply_text; /* raw body instead of JSON (metrics, log files); arena */
    size_t reply_text_len;
    const char *reply_type; /* Content-Type for reply_text */
    const char *location;   /* Location header (302) */

    const char *host;       /* Host request header (arena), NULL when absent: self URLs */
    const char *reply_file; /* path of a file streamed as the body instead (log files; B6):
                               http/reply.c opens it at send time, missing → 404; arena */
    /* With reply_file: only its complete lines that reply_keep accepts (line without its
     * newline, reply_keep_arg) are sent, streamed with chunked encoding; NULL sends it all.
     * The function and its argument must outlive the request (static). */
    bool (*reply_keep)(const char *line, size_t len, const void *arg);
    const void *reply_keep_arg;
};

typedef enum ms_status (*ms_handler)(struct ms_req *req, struct ms_error *err);

enum {
    MS_ROUTE_PUBLIC = 1 << 0, /* no credential needed (health, metrics) */
    /* Authenticate when an Authorization header is present (a bad one is still 401);
     * without one, run the handler with req->auth zeroed (signed log-file URLs, B6). */
    MS_ROUTE_AUTH_OPTIONAL = 1 << 1,
};

/*
 * A pattern is literal segments and {name} parameters; {name:uuid} matches only a valid UUID
 * (otherwise the route does not match, so a malformed id is a 404). Literal segments win.
 */
struct ms_route {
    const char *method;
    const char *pattern;
    ms_handler handler;
    unsigned flags;
};

/* Each table ends with an all-NULL entry. */
extern const struct ms_route ms_api_identity_routes[];
extern const struct ms_route ms_api_organization_routes[];
extern const struct ms_route ms_api_connection_types_routes[];
extern const struct ms_route ms_api_connections_routes[];
extern const struct ms_route ms_api_models_routes[];
extern const struct ms_route ms_api_jobs_routes[];
extern const struct ms_route ms_api_sources_routes[];
extern const struct ms_route ms_api_targets_routes[];
extern const struct ms_route ms_api_syncs_routes[];
extern const struct ms_route ms_api_schedules_routes[];
extern const struct ms_route ms_api_executions_routes[];     /* A10–A12, B1–B3 */
extern const struct ms_route ms_api_execution_logs_routes[]; /* B4–B6 */

/* Every table above, NULL-terminated, in the order the router tries them. */
extern const struct ms_route *const ms_api_route_tables[];

/* Path parameter by name (decoded), or NULL. */
const char *ms_req_param(const struct ms_req *req, const char *name);
/* Last query value for key (decoded), or NULL when absent. */
const char *ms_req_query(const struct ms_req *req, const char *key);

#endif
