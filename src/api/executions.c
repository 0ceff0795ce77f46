/*
 * executions.c: running syncs over the API (API.md §5.10–§5.12, §6.1–§6.3, §12.3): A10 cancel,
 * A11 start (and its /start alias, D3), A12 status, B1 list, B2 get, B3 cancel one execution
 * and the legacy PUT of Go 1.16.1. The console and record logs (B4–B6) are execution_logs.c.
 *
 * Starting only inserts a queued execution row (the store refuses a second non-terminal one
 * per sync: 409) and nudges the worker pool; the run happens on a worker thread, never here.
 * Cancel sets the row's flag, which the engine sees between batches. Every store call is
 * scoped by the caller's organization, so another organization's sync or execution is a 404.
 * Handlers run on MHD pool threads and touch only their request.
 */
#include "api/api_int.h"

#include <stdio.h>
#include <string.h>

#include "api/pagination.h"
#include "core/time.h"
#include "sched/sched.h"
#include "workers/workers.h"

static enum ms_status executions_start(struct ms_req *req, struct ms_error *err);
static enum ms_status executions_cancel_sync(struct ms_req *req, struct ms_error *err);
static enum ms_status executions_status(struct ms_req *req, struct ms_error *err);
static enum ms_status executions_list(struct ms_req *req, struct ms_error *err);
static enum ms_status executions_get(struct ms_req *req, struct ms_error *err);
static enum ms_status executions_cancel(struct ms_req *req, struct ms_error *err);
static enum ms_status executions_update(struct ms_req *req, struct ms_error *err);

const struct ms_route ms_api_executions_routes[] = {
    {"POST", "/api/syncs/{id:uuid}/executions", executions_start, 0},
    {"POST", "/api/syncs/{id:uuid}/start", executions_start, 0}, /* D3 alias */
    {"POST", "/api/syncs/{id:uuid}/cancel", executions_cancel_sync, 0},
    {"GET", "/api/syncs/{id:uuid}/status", executions_status, 0},
    {"GET", "/api/syncs/{sync_id:uuid}/executions", executions_list, 0},
    {"GET", "/api/syncs/{sync_id:uuid}/executions/{id:uuid}", executions_get, 0},
    {"PUT", "/api/syncs/{sync_id:uuid}/executions/{id:uuid}", executions_update, 0}, /* §12.3 */
    {"POST", "/api/syncs/{sync_id:uuid}/executions/{id:uuid}/cancel", executions_cancel, 0},
    {NULL, NULL, NULL, 0},
};

#define EXECUTIONS_PAGE 50 /* B1 page size (API.md §6.1) */

/* ---- shared ---- */

/* The sync named by path parameter param, in the caller's organization (404 otherwise). */
static enum ms_status
executions_sync(struct ms_req *req, const char *param, struct ms_sync *y, struct ms_error *err)
{
    char *id = ms_arena_alloc(req->arena, MS_UUID_LEN + 1);
    enum ms_status st = ms_api_path_id(req, param, id, err);

    if (st != MS_OK)
        return st;
    st = ms_store_sync_get(req->store, req->arena, req->auth.org_id, id, y, err);
    if (st == MS_ENOTFOUND)
        return ms_fail(err, MS_ENOTFOUND, "sync %s not found", id);
    return st;
}

/* The execution {id} of sync {sync_id}, in the caller's organization (404 otherwise). */
static enum ms_status
executions_load(struct ms_req *req, struct ms_execution *ex, struct ms_error *err)
{
    char sync_id[MS_UUID_LEN + 1], id[MS_UUID_LEN + 1];
    enum ms_status st;

    if ((st = ms_api_path_id(req, "sync_id", sync_id, err)) != MS_OK ||
        (st = ms_api_path_id(req, "id", id, err)) != MS_OK)
        return st;
    st = ms_store_exec_get(req->store, req->arena, req->auth.org_id, sync_id, id, ex, err);
    if (st == MS_ENOTFOUND)
        return ms_fail(err, MS_ENOTFOUND, "execution %s of sync %s not found", id, sync_id);
    return st;
}

/* The keyset sort time of an execution: when it started, or when it was queued until then. */
static int64_t
executions_sort_at(const struct ms_execution *ex)
{
    return ex->started_at != 0 ? ex->started_at : ex->created_at;
}

/* ---- A11 start ---- */

struct executions_in {
    bool resync;
    bool test;
    json_t *identities; /* non-empty string[] (request-owned), or NULL */
};

/* StartSyncRequest: empty body, `null` and {} are the same (API.md §2.4). */
static enum ms_status
executions_start_body(struct ms_req *req, struct executions_in *in, struct ms_error *err)
{
    json_error_t jerr;
    json_t *body;
    enum ms_status st;
    size_t i = 0;

    memset(in, 0, sizeof(*in));
    while (i < req->body.len && strchr(" \t\r\n", req->body.p[i]) != NULL)
        i++;
    if (i == req->body.len)
        return MS_OK;
    body = ms_api_keep(req, json_loadb(req->body.p, req->body.len, JSON_DECODE_ANY, &jerr));
    if (body == NULL)
        return ms_fail(err, MS_EINVAL, "malformed JSON at line %d, column %d: %s", jerr.line,
                       jerr.column, jerr.text);
    if (json_is_null(body))
        return MS_OK;
    if (!json_is_object(body))
        return ms_fail(err, MS_EINVAL, "request body must be a JSON object");
    if ((st = ms_json_opt_bool(body, "resync", "resync", &in->resync, err)) != MS_OK ||
        (st = ms_json_opt_bool(body, "test", "test", &in->test, err)) != MS_OK ||
        (st = ms_api_str_list(req, body, "identities", false, &in->identities, err)) != MS_OK)
        return st;
    if (in->identities != NULL && json_array_size(in->identities) == 0)
        in->identities = NULL; /* an empty list restricts nothing */
    return MS_OK;
}

/* The options column: what the engine needs to know about how this run was asked for. */
static json_t *
executions_options(struct ms_req *req, const struct executions_in *in)
{
    json_t *o = json_pack("{s:b, s:b}", "resync", in->resync, "test", in->test);

    if (in->identities != NULL)
        json_object_set(o, "identities", in->identities);
    return ms_api_keep(req, o);
}

static enum ms_status
executions_start(struct ms_req *req, struct ms_error *err)
{
    struct executions_in in;
    struct ms_execution ex;
    struct ms_sync y;
    char *id = ms_arena_alloc(req->arena, MS_UUID_LEN + 1);
    json_t *data;
    enum ms_status st;

    if ((st = executions_sync(req, "id", &y, err)) != MS_OK ||
        (st = executions_start_body(req, &in, err)) != MS_OK)
        return st;
    if (in.identities != NULL && !json_is_object(json_object_get(y.config, "identity")))
        return ms_fail_at(err, MS_EINVAL, "identities",
                          "the sync has no identity, so it cannot be restricted to identities");
    if (!y.active)
        return ms_fail_key(err, MS_EINVAL, "sync_inactive",
                           "sync %s is not active; activate it before starting it", y.id);
    memset(&ex, 0, sizeof(ex));
    ms_uuid_new(id);
    ex.id = id;
    ex.org_id = req->auth.org_id;
    ex.sync_id = y.id;
    ex.type = in.test ? "test" : in.resync ? "resync" : "manual";
    ex.status = "queued";
    ex.options = executions_options(req, &in);
    ex.created_at = ms_time_now_ms();
    st = ms_store_exec_insert(req->store, &ex, err);
    if (st == MS_ECONFLICT)
        return ms_fail_key(err, MS_ECONFLICT, "execution_in_progress",
                           "sync %s already has a running execution", y.id);
    if (st != MS_OK)
        return st;
    ms_workers_nudge();
    data = json_pack("{s:s, s:s}", "id", ex.id, "status", ex.status);
    ms_json_set_time(data, "created_at", ex.created_at);
    req->reply = ms_api_data(data);
    return MS_OK;
}

/* ---- A10 cancel, A12 status ---- */

static enum ms_status
executions_cancel_sync(struct ms_req *req, struct ms_error *err)
{
    struct ms_sync y;
    const char *affected = NULL;
    json_t *msg;
    enum ms_status st;

    if ((st = executions_sync(req, "id", &y, err)) != MS_OK ||
        (st = ms_store_exec_cancel(req->store, req->arena, req->auth.org_id, y.id, NULL,
                                   ms_time_now_ms(), &affected, err)) != MS_OK)
        return st;
    if (affected != NULL) {
        ms_sched_wake(); /* a queued execution ends at once: run-after and continuous react */
        msg = json_sprintf("cancellation requested for execution %s", affected);
    } else
        msg = json_string("no running execution"); /* D7: not an error */
    req->reply = ms_api_data(json_pack("{s:o}", "message", msg));
    return MS_OK;
}

/* Set data[key] to the execution found by st's lookup; MS_ENOTFOUND just leaves it out. */
static enum ms_status
executions_status_member(json_t *data, const char *key, enum ms_status st,
                         const struct ms_execution *ex)
{
    if (st == MS_ENOTFOUND)
        return MS_OK;
    if (st == MS_OK)
        json_object_set_new(data, key, ms_exec_to_json(ex));
    return st;
}

static enum ms_status
executions_status(struct ms_req *req, struct ms_error *err)
{
    struct ms_sync y;
    struct ms_execution cur, last;
    json_t *data;
    int64_t next = 0;
    enum ms_status st;

    if ((st = executions_sync(req, "id", &y, err)) != MS_OK)
        return st;
    data = ms_api_keep(req, json_object());
    st = ms_store_exec_active(req->store, req->arena, req->auth.org_id, y.id, &cur, err);
    if ((st = executions_status_member(data, "current_execution", st, &cur)) != MS_OK)
        return st;
    st = ms_store_exec_last(req->store, req->arena, req->auth.org_id, y.id, &last, err);
    if ((st = executions_status_member(data, "last_execution", st, &last)) != MS_OK)
        return st;
    /* The instant the scheduler fires next: none for manual, runafter, inactive syncs, and
     * continuous ones while they run. */
    st = ms_sched_next_run(req->store, req->arena, &y, &next, err);
    if (st == MS_OK)
        ms_json_set_time(data, "next_execution_time", next);
    else if (st != MS_ENOTFOUND)
        return st;
    ms_error_clear(err);
    req->reply = ms_api_data(json_incref(data));
    return MS_OK;
}

/* ---- B1 list ---- */

static enum ms_status
executions_list(struct ms_req *req, struct ms_error *err)
{
    struct ms_sync y;
    struct ms_exec_cursor cur = {.set = false};
    struct ms_page_cursor pc;
    struct ms_execution *rows = NULL;
    const char *scope, *token = ms_req_query(req, "page_token");
    bool only_completed = false, ascending = false;
    json_t *data, *pagination;
    size_t n = 0;
    enum ms_status st;

    if ((st = executions_sync(req, "sync_id", &y, err)) != MS_OK ||
        (st = ms_api_query_bool(req, "only_completed", false, &only_completed, err)) != MS_OK ||
        (st = ms_api_query_bool(req, "ascending", false, &ascending, err)) != MS_OK)
        return st;
    scope = ms_arena_printf(req->arena, "executions|sync=%s|only_completed=%d|ascending=%d", y.id,
                            only_completed, ascending);
    if (token != NULL && *token != '\0') {
        if ((st = ms_page_token_parse(req, token, scope, &pc, err)) != MS_OK)
            return st;
        cur.set = true;
        cur.sort_at = pc.sort_ms;
        memcpy(cur.id, pc.id, sizeof(cur.id));
    }
    /* One row more than the page: its presence is what says "there is a next page". */
    st = ms_store_exec_list(req->store, req->arena, req->auth.org_id, y.id, only_completed,
                            ascending, &cur, EXECUTIONS_PAGE + 1, &rows, &n, err);
    if (st != MS_OK)
        return st;
    data = json_array();
    for (size_t i = 0; i < n && i < EXECUTIONS_PAGE; i++)
        json_array_append_new(data, ms_exec_to_json(&rows[i]));
    pagination = json_object();
    if (n > EXECUTIONS_PAGE) {
        pc.sort_ms = executions_sort_at(&rows[EXECUTIONS_PAGE - 1]);
        snprintf(pc.id, sizeof(pc.id), "%s", rows[EXECUTIONS_PAGE - 1].id);
        json_object_set_new(pagination, "next_page_token",
                            json_string(ms_page_token_mint(req, scope, &pc)));
    }
    req->reply = ms_api_data(data);
    json_object_set_new(req->reply, "pagination", pagination);
    return MS_OK;
}

/* ---- B2 get, B3 cancel, legacy PUT ---- */

static enum ms_status
executions_get(struct ms_req *req, struct ms_error *err)
{
    struct ms_execution ex;
    enum ms_status st = executions_load(req, &ex, err);

    if (st == MS_OK)
        req->reply = ms_api_data(ms_exec_to_json(&ex));
    return st;
}

/* Request cancellation of ex; a terminal execution cannot be canceled (400). */
static enum ms_status
executions_cancel_one(struct ms_req *req, const struct ms_execution *ex, struct ms_error *err)
{
    const char *affected = NULL;
    enum ms_status st;

    if (ms_exec_status_terminal(ex->status))
        return ms_fail(err, MS_EINVAL, "execution %s already ended (%s)", ex->id, ex->status);
    st = ms_store_exec_cancel(req->store, req->arena, req->auth.org_id, ex->sync_id, ex->id,
                              ms_time_now_ms(), &affected, err);
    if (st == MS_EINVAL) /* it ended between the read and the cancel */
        return ms_fail(err, MS_EINVAL, "execution %s already ended", ex->id);
    if (st == MS_ENOTFOUND)
        return ms_fail(err, MS_ENOTFOUND, "execution %s not found", ex->id);
    if (st == MS_OK)
        ms_sched_wake(); /* as in A10 */
    return st;
}

static enum ms_status
executions_cancel(struct ms_req *req, struct ms_error *err)
{
    struct ms_execution ex;
    enum ms_status st;

    if ((st = executions_load(req, &ex, err)) != MS_OK ||
        (st = executions_cancel_one(req, &ex, err)) != MS_OK)
        return st;
    req->reply = ms_api_data(json_pack(
        "{s:o}", "message", json_sprintf("cancellation requested for execution %s", ex.id)));
    return MS_OK;
}

/* Go 1.16.1: PUT {"status": "canceled"} is B3 answering the Execution (API.md §12.3). */
static enum ms_status
executions_update(struct ms_req *req, struct ms_error *err)
{
    struct ms_execution ex;
    json_t *body = NULL;
    const char *status = NULL;
    enum ms_status st;

    if ((st = executions_load(req, &ex, err)) != MS_OK ||
        (st = ms_api_body(req, &body, err)) != MS_OK ||
        (st = ms_json_req_str(body, "status", "status", &status, err)) != MS_OK)
        return st;
    if (strcmp(status, "canceled") != 0)
        return ms_fail_at(err, MS_EINVAL, "status",
                          "only \"canceled\" can be set on an execution, not \"%.40s\"", status);
    if ((st = executions_cancel_one(req, &ex, err)) != MS_OK ||
        (st = executions_load(req, &ex, err)) != MS_OK)
        return st;
    req->reply = ms_api_data(ms_exec_to_json(&ex));
    return MS_OK;
}
