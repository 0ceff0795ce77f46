/*
 * http_int.h: what the files of http/ share (router.c, auth.c, reply.c, limits.c, metrics.c,
 * server.c). Never included from outside src/http/ except by the unit tests. Everything here is
 * either immutable after ms_http_start() (router, metrics layout) or documents its own locking,
 * because all of it is called from every HTTP worker at once.
 */
#ifndef MS_HTTP_HTTP_INT_H
#define MS_HTTP_HTTP_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "api/api.h"
#include "core/arena.h"
#include "core/buf.h"
#include "core/error.h"
#include "store/store.h"

/* The wire version every response names, whatever the request sent (DECISIONS.md D2). */
#define MS_HTTP_API_VERSION "2025-09-18"

/* Longest credential accepted in Authorization (API keys are far shorter). */
#define MS_HTTP_MAX_CRED 512

/* Route flag private to http/: /healthz and /metrics, which skip store, auth and limits. */
#define MS_HTTP_ROUTE_BUILTIN (1u << 15)

/* ---- router.c: (method, raw path) → route; immutable after ms_router_new() ---- */

struct ms_router;

/* The outcome of one lookup. Strings live in the arena given to ms_router_match(). */
struct ms_route_match {
    const struct ms_route *route; /* NULL unless MS_OK */
    size_t pattern;               /* pattern index for labels; ms_router_npatterns() = none */
    struct ms_kv params[MS_MAX_PATH_PARAMS]; /* decoded; {x:uuid} values lowercased */
    size_t nparams;
    const char *allow; /* MS_EMETHOD: the methods the path accepts, "GET, PUT, DELETE" */
};

/*
 * Parse every pattern of tables (a NULL-terminated array of tables, each ending with an all-NULL
 * entry) once. The route entries are borrowed: the tables must outlive the router. A malformed
 * pattern (a bug in a table) → MS_EINTERNAL naming it. *out is freed with ms_router_free().
 */
enum ms_status ms_router_new(const struct ms_route *const *tables, struct ms_router **out,
                             struct ms_error *err);

/* NULL is a no-op. */
void ms_router_free(struct ms_router *r);

/*
 * Number of distinct pattern labels; their indexes are 0 .. n-1 in first-seen table order. A
 * label is the pattern with parameters written "{name}" ("/api/syncs/{id}", not {id:uuid}).
 */
size_t ms_router_npatterns(const struct ms_router *r);

/* Label i, or "unmatched" for i >= ms_router_npatterns(). Lives as long as the router. */
const char *ms_router_pattern(const struct ms_router *r, size_t i);

/*
 * Route method + raw_path (as received: not yet percent-decoded, no query string). Empty
 * segments are dropped, each segment is percent-decoded, literal segments beat parameters.
 * HEAD is routed like GET. MS_OK fills m->route and m->params; MS_EMETHOD (some route has the
 * path, none the method) fills m->allow and m->pattern; MS_ENOTFOUND otherwise (also for an
 * undecodable segment). Thread-safe: the router is only read.
 */
enum ms_status ms_router_match(const struct ms_router *r, const char *method, const char *raw_path,
                               struct ms_arena *a, struct ms_route_match *m, struct ms_error *err);

/* ---- auth.c: Authorization → caller (API.md §2.2, DECISIONS.md D1) ---- */

/*
 * Extract the credential from an Authorization header value (NULL when absent): "Bearer <key>"
 * or "Basic <base64(user:password)>", scheme in any case. For Basic the credential is the user
 * name, or the password when the user name is empty; a non-empty password must equal a
 * non-empty user name. Writes cred (NUL-terminated) and *len. Missing, garbled, too long
 * (> MS_HTTP_MAX_CRED) or contradictory → MS_EAUTH.
 */
enum ms_status ms_http_auth_credential(const char *header, char cred[MS_HTTP_MAX_CRED + 1],
                                       size_t *len, struct ms_error *err);

/*
 * Authenticate req (req->store must be set) from header: fills req->auth, including
 * auth.cred_hash. Unknown or revoked key → MS_EAUTH; store failures pass through.
 */
enum ms_status ms_http_auth(struct ms_req *req, const char *header, struct ms_error *err);

/* ---- reply.c: statuses → HTTP, bodies, headers ---- */

struct MHD_Connection;

/*
 * How MHD gets ms_http_out.body when out->owned is NULL. Either way MHD references the bytes
 * without copying them: libmicrohttpd sends the whole body before it calls the completion
 * callback, where the request arena dies, and never reads a response's buffer afterwards.
 */
enum ms_http_mem {
    MS_HTTP_MEM_STATIC, /* process-lifetime bytes (a literal) */
    MS_HTTP_MEM_ARENA,  /* the request arena's: valid until the completion callback */
};

/* One response, fully decided, before it becomes an MHD response. */
struct ms_http_out {
    int status;
    const char *body; /* "" when empty; == owned when owned is set */
    size_t len;
    enum ms_http_mem mem;
    char *owned;            /* malloc'd body owned by out until queued or released; else NULL */
    const char *type;       /* Content-Type; NULL = application/json */
    const char *request_id; /* X-Request-Id */
    const char *location;   /* Location, or NULL */
    const char *allow;      /* Allow (405), or NULL */
    int retry_after_s;      /* Retry-After when > 0 */
    bool replayed;          /* Idempotent-Replayed: true */
    bool preflight;         /* CORS preflight headers */
    bool has_fd;            /* the body is the file fd (len bytes), owned by out until queued */
    int fd;
    /* with has_fd: only the file's complete lines that keep accepts, length unknown */
    bool (*keep)(const char *line, size_t len, const void *arg);
    const void *keep_arg;
};

/* The HTTP status and default ApiError key of st (MS_OK → 200, NULL key). */
void ms_http_status_map(enum ms_status st, int *http_status, const char **key);

/*
 * The success reply left by the handler in req: status (0 → 200, or 302 with a location),
 * JSON (req->reply, whose reference this consumes), reply_text, reply_file (opened here: a
 * file that is missing or not a regular file becomes a 404), or an empty body for 204.
 * An unserializable reply becomes a 500.
 */
void ms_http_reply_ok(struct ms_req *req, struct ms_http_out *out);

/*
 * The ApiError reply for failure st recorded in err (err may be NULL). 4xx messages are
 * err->msg; 5xx messages are generic plus request_id, and the detail is logged at ERROR.
 */
void ms_http_reply_error(const char *request_id, enum ms_status st, const struct ms_error *err,
                         struct ms_http_out *out);

/* Drop whatever reply a failed handler left in req (its JSON reference, text, location). */
void ms_http_reply_discard(struct ms_req *req);

/* Free the body (or close the file) of out if it still owns one. NULL-safe; out can be
 * released twice. */
void ms_http_out_release(struct ms_http_out *out);

/*
 * Turn out into an MHD response with the headers every answer carries (Content-Type,
 * X-Polytomic-Version, X-Request-Id, Access-Control-Allow-Origin, …) and queue it on conn.
 * Consumes out's body. False when MHD refused (the connection is then closed by MHD).
 */
bool ms_http_reply_queue(struct MHD_Connection *conn, struct ms_http_out *out);

/* ---- limits.c: per-key rate limits and Idempotency-Key handling ---- */

struct ms_limits;

/* rate_per_min == 0 turns rate limiting off. Never NULL. Free with ms_limits_free(). */
struct ms_limits *ms_limits_new(int rate_per_min);
void ms_limits_free(struct ms_limits *l);

/*
 * Take one token from key_id's bucket at now_ms (monotonic). MS_OK, or MS_ELIMIT with
 * *retry_after_s (>= 1) when the bucket is empty. Always MS_OK when limiting is off.
 * Thread-safe (one mutex, held for a table lookup only).
 */
enum ms_status ms_limits_rate(struct ms_limits *l, const char *key_id, int64_t now_ms,
                              int *retry_after_s, struct ms_error *err);

/* Idempotency-Key syntax: 8–255 characters of [A-Za-z0-9_-]. */
bool ms_limits_idem_key_ok(const char *key);

/* One request's idempotency state (server.c keeps it on its stack). */
struct ms_idem {
    const char *key; /* the header value, NULL when the request has none */
    bool pending;    /* begun as new: ms_limits_idem_finish() must record the outcome */
};

/*
 * Apply Idempotency-Key (header value key, may be NULL) to the authenticated req. No key →
 * MS_OK, nothing to do. Bad syntax → MS_EINVAL naming the header; a running twin →
 * MS_ECONFLICT idempotency_key_in_use; same key, other request → MS_EUNPROC
 * idempotency_key_reused. A finished twin → MS_OK with *replay filled (body in req->arena) and
 * *replayed set. A new key → MS_OK with idem->pending set.
 */
enum ms_status ms_limits_idem_begin(struct ms_limits *l, struct ms_req *req, const char *key,
                                    struct ms_idem *idem, struct ms_idem_response *replay,
                                    bool *replayed, struct ms_error *err);

/* Record the final response of a pending key (failures are logged, never returned). */
void ms_limits_idem_finish(struct ms_req *req, struct ms_idem *idem, const struct ms_http_out *out);

/* ---- metrics.c: Prometheus counters, lock-free ---- */

struct ms_metrics;

/* A zeroed table for r's patterns (plus "unmatched"). Never NULL. */
struct ms_metrics *ms_metrics_new(const struct ms_router *r);
void ms_metrics_free(struct ms_metrics *m);

/* Count one answered request. pattern as in struct ms_route_match. Thread-safe, lock-free. */
void ms_metrics_observe(struct ms_metrics *m, const char *method, size_t pattern, int status,
                        int64_t duration_ns);

/* Append the text exposition format (version 0.0.4) to out; MS_ETOOBIG if out's cap is hit. */
enum ms_status ms_metrics_render(const struct ms_metrics *m, struct ms_buf *out);

#ifdef MS_TESTING
/* server.c: when non-zero, the open-connection limit of servers started afterwards (instead of
 * 4000), shared evenly by the workers. */
extern unsigned ms_http_test_conn_limit;
#endif

#endif
