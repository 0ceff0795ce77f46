/*
 * syncs.c: A3, A4, A6–A9, the model syncs of the caller's organization (API.md §5.3–§5.9).
 *
 * A body is parsed and normalized by model/sync.c (no I/O), its references are checked and a
 * target.create object made by sync_validate.c, and the store keeps the normalized
 * configuration next to the scalar columns lists filter and sort on. Update is a full
 * replacement, except that an absent `active` keeps the stored value (D4). Lists are keyset
 * pages on (updated_at DESC, id DESC) with signed page tokens (pagination.c). Every store call
 * is scoped by the caller's organization, so another organization's sync is a 404. The read
 * endpoints send the documents the store renders at every write (sync_get_doc,
 * sync_list_docs) as they are: a GET parses and serializes no JSON but the page envelope.
 * Handlers run on MHD pool threads and touch only their request.
 */
#include "api/api_int.h"

#include <stdio.h>
#include <string.h>

#include "api/pagination.h"
#include "api/sync_validate.h"
#include "core/str.h"
#include "core/time.h"
#include "sched/sched.h"

static enum ms_status syncs_list(struct ms_req *req, struct ms_error *err);
static enum ms_status syncs_create(struct ms_req *req, struct ms_error *err);
static enum ms_status syncs_get(struct ms_req *req, struct ms_error *err);
static enum ms_status syncs_update(struct ms_req *req, struct ms_error *err);
static enum ms_status syncs_delete(struct ms_req *req, struct ms_error *err);
static enum ms_status syncs_activate(struct ms_req *req, struct ms_error *err);

const struct ms_route ms_api_syncs_routes[] = {
    {"GET", "/api/syncs", syncs_list, 0},
    {"POST", "/api/syncs", syncs_create, 0},
    {"GET", "/api/syncs/{id:uuid}", syncs_get, 0},
    {"PUT", "/api/syncs/{id:uuid}", syncs_update, 0},
    {"PATCH", "/api/syncs/{id:uuid}", syncs_update, 0}, /* D3: the earliest SDKs' update */
    {"DELETE", "/api/syncs/{id:uuid}", syncs_delete, 0},
    {"POST", "/api/syncs/{id:uuid}/activate", syncs_activate, 0},
    {NULL, NULL, NULL, 0},
};

#define SYNCS_PAGE_MAX 50       /* A3 limit: default and maximum (API.md §2.7) */
#define SYNCS_REFERRER_PAGE 200 /* syncs read per step when naming a run_after referrer */
/* The most a page body may take: stored items are bounded by the request body cap they were
 * written under, so this is only reached by a store that was written with a larger cap. */
#define SYNCS_PAGE_MAX_BYTES ((size_t)64 << 20)

/* ---- A3 list ---- */

/* limit: absent, ≤ 0 or > 50 → 50; not an integer → 400. */
static enum ms_status
syncs_limit(const struct ms_req *req, size_t *out, struct ms_error *err)
{
    const char *v = ms_req_query(req, "limit");
    struct ms_str s = ms_str_c(v);
    size_t digits = 0;
    int64_t n = 0;

    *out = SYNCS_PAGE_MAX;
    if (v == NULL)
        return MS_OK;
    if (ms_str_to_i64(s, &n) == MS_OK) {
        if (n > 0 && n < SYNCS_PAGE_MAX)
            *out = (size_t)n;
        return MS_OK;
    }
    /* An integer too long for int64 is still an integer: clamped like any other. */
    for (size_t i = s.p[0] == '-' ? 1 : 0; i < s.len && s.p[i] >= '0' && s.p[i] <= '9'; i++)
        digits++;
    if (digits > 0 && digits + (s.p[0] == '-' ? 1 : 0) == s.len)
        return MS_OK;
    return ms_fail_at(err, MS_EINVAL, "limit", "must be an integer");
}

/* The filters of the query, and the page-token scope that binds them. */
static enum ms_status
syncs_filter(struct ms_req *req, struct ms_sync_filter *f, const char **scope, struct ms_error *err)
{
    const char *mode = ms_req_query(req, "mode"), *tc = ms_req_query(req, "target_connection_id");
    char *conn;
    bool active = false;
    enum ms_status st;

    f->active = -1;
    f->mode = NULL;
    f->target_connection_id = NULL;
    if (ms_req_query(req, "active") != NULL) {
        if ((st = ms_api_query_bool(req, "active", false, &active, err)) != MS_OK)
            return st;
        f->active = active ? 1 : 0;
    }
    if (mode != NULL && !ms_sync_mode_valid(mode))
        return ms_fail_at(err, MS_EINVAL, "mode", "unknown value \"%.40s\"", mode);
    f->mode = mode;
    if (tc != NULL) {
        conn = ms_arena_alloc(req->arena, MS_UUID_LEN + 1);
        if (!ms_uuid_norm(tc, conn))
            return ms_fail_at(err, MS_EINVAL, "target_connection_id", "must be a UUID");
        f->target_connection_id = conn;
    }
    *scope = ms_arena_printf(req->arena, "syncs|active=%d|mode=%s|target=%s", f->active,
                             f->mode != NULL ? f->mode : "",
                             f->target_connection_id != NULL ? f->target_connection_id : "");
    return MS_OK;
}

/* Append n bytes to the page being built at *p. */
static char *
syncs_put(char *p, const char *s, size_t n)
{
    memcpy(p, s, n);
    return p + n;
}

/*
 * {"data":[items],"pagination":{…}}: the bytes json_dumps(JSON_COMPACT) gives for the same
 * tree, built by concatenation into one arena block. token (URL-safe base64, nothing to
 * escape) is NULL on the last page.
 */
static enum ms_status
syncs_page_reply(struct ms_req *req, const struct ms_sync_doc *items, size_t n, const char *token,
                 struct ms_error *err)
{
    static const char head[] = "{\"data\":[", mid[] = "],\"pagination\":{",
                      key[] = "\"next_page_token\":\"", tail[] = "}}";
    size_t tlen = token != NULL ? strlen(token) : 0;
    size_t total = sizeof(head) + sizeof(mid) + sizeof(key) + sizeof(tail) + tlen + n;
    char *body, *p;

    for (size_t i = 0; i < n; i++) {
        if (items[i].len > SYNCS_PAGE_MAX_BYTES - total)
            return ms_fail(err, MS_EINTERNAL, "a page of syncs exceeds %zu bytes",
                           SYNCS_PAGE_MAX_BYTES);
        total += items[i].len;
    }
    body = p = ms_arena_alloc(req->arena, total);
    p = syncs_put(p, head, sizeof(head) - 1);
    for (size_t i = 0; i < n; i++) {
        if (i > 0)
            *p++ = ',';
        p = syncs_put(p, items[i].json, items[i].len);
    }
    p = syncs_put(p, mid, sizeof(mid) - 1);
    if (token != NULL) {
        p = syncs_put(p, key, sizeof(key) - 1);
        p = syncs_put(p, token, tlen);
        *p++ = '"';
    }
    p = syncs_put(p, tail, sizeof(tail) - 1);
    *p = '\0';
    req->reply_text = body;
    req->reply_text_len = (size_t)(p - body);
    req->reply_type = "application/json";
    return MS_OK;
}

static enum ms_status
syncs_list(struct ms_req *req, struct ms_error *err)
{
    struct ms_sync_filter f;
    struct ms_sync_cursor cur = {.set = false};
    struct ms_page_cursor pc;
    struct ms_sync_doc *rows = NULL;
    const char *scope = NULL, *token = ms_req_query(req, "page_token"), *next = NULL;
    size_t limit, n = 0;
    enum ms_status st;

    if ((st = syncs_limit(req, &limit, err)) != MS_OK ||
        (st = syncs_filter(req, &f, &scope, err)) != MS_OK)
        return st;
    if (token != NULL && *token != '\0') {
        if ((st = ms_page_token_parse(req, token, scope, &pc, err)) != MS_OK)
            return st;
        cur.set = true;
        cur.updated_at = pc.sort_ms;
        memcpy(cur.id, pc.id, sizeof(cur.id));
    }
    /* One row more than the page: its presence is what says "there is a next page". */
    st = ms_store_sync_list_docs(req->store, req->arena, req->auth.org_id, &f, &cur, limit + 1,
                                 &rows, &n, err);
    if (st != MS_OK)
        return st;
    if (n > limit) {
        pc.sort_ms = rows[limit - 1].updated_at;
        snprintf(pc.id, sizeof(pc.id), "%s", rows[limit - 1].id);
        next = ms_page_token_mint(req, scope, &pc);
        n = limit;
    }
    return syncs_page_reply(req, rows, n, next, err);
}

/* ---- shared ---- */

/* The path's sync of the caller's organization (404 otherwise). */
static enum ms_status
syncs_load(struct ms_req *req, char id[MS_UUID_LEN + 1], struct ms_sync *y, struct ms_error *err)
{
    enum ms_status st = ms_api_path_id(req, "id", id, err);

    if (st == MS_OK)
        st = ms_store_sync_get(req->store, req->arena, req->auth.org_id, id, y, err);
    if (st == MS_ENOTFOUND)
        return ms_fail(err, MS_ENOTFOUND, "sync not found");
    return st;
}

/* A time for a change of y: now, but always after its last change, so updated_at moves. */
static int64_t
syncs_now(const struct ms_sync *prev)
{
    int64_t now = ms_time_now_ms();

    return prev != NULL && now <= prev->updated_at ? prev->updated_at + 1 : now;
}

/* Parse and validate a create/update body into *cfg (request-owned) and *active (-1: absent). */
static enum ms_status
syncs_input(struct ms_req *req, const char *self_id, json_t **cfg, int *active,
            struct ms_error *err)
{
    json_t *body = NULL;
    enum ms_status st;

    if ((st = ms_api_body(req, &body, err)) != MS_OK ||
        (st = ms_api_check_org(req, body, err)) != MS_OK ||
        (st = ms_sync_parse(body, cfg, active, err)) != MS_OK)
        return st;
    ms_api_keep(req, *cfg);
    return ms_api_sync_validate(req, *cfg, self_id, err);
}

/* The reply of A4/A6/A7. */
static void
syncs_reply(struct ms_req *req, const struct ms_sync *y)
{
    req->reply = ms_api_data(ms_sync_to_json(y));
}

/* ---- A4, A6, A7 ---- */

static enum ms_status
syncs_create(struct ms_req *req, struct ms_error *err)
{
    struct ms_sync y;
    char *id = ms_arena_alloc(req->arena, MS_UUID_LEN + 1);
    json_t *cfg = NULL;
    int active = -1;
    enum ms_status st;

    if ((st = syncs_input(req, NULL, &cfg, &active, err)) != MS_OK)
        return st;
    memset(&y, 0, sizeof(y));
    ms_uuid_new(id);
    y.id = id;
    y.org_id = req->auth.org_id;
    y.active = active != 0; /* D4: true unless the body says false */
    ms_sync_set_config(&y, cfg);
    y.model_ids = ms_api_keep(req, ms_sync_model_ids(cfg));
    y.created_at = y.updated_at = syncs_now(NULL);
    y.created_by = y.updated_by = ms_actor_from_auth(&req->auth);
    if ((st = ms_store_sync_insert(req->store, &y, err)) != MS_OK)
        return st;
    ms_sched_wake(); /* a schedule takes effect at once */
    syncs_reply(req, &y);
    return MS_OK;
}

/* {"data":<the stored SyncResponse>}: what syncs_reply() would send for the stored row. */
static enum ms_status
syncs_get(struct ms_req *req, struct ms_error *err)
{
    static const char head[] = "{\"data\":";
    char id[MS_UUID_LEN + 1];
    struct ms_sync_doc doc;
    char *body;
    enum ms_status st = ms_api_path_id(req, "id", id, err);

    if (st == MS_OK)
        st = ms_store_sync_get_doc(req->store, req->arena, req->auth.org_id, id, &doc, err);
    if (st == MS_ENOTFOUND)
        return ms_fail(err, MS_ENOTFOUND, "sync not found");
    if (st != MS_OK)
        return st;
    body = ms_arena_alloc(req->arena, sizeof(head) + doc.len + 1);
    memcpy(body, head, sizeof(head) - 1);
    memcpy(body + sizeof(head) - 1, doc.json, doc.len);
    memcpy(body + sizeof(head) - 1 + doc.len, "}", 2);
    req->reply_text = body;
    req->reply_text_len = sizeof(head) + doc.len;
    req->reply_type = "application/json";
    return MS_OK;
}

static enum ms_status
syncs_update(struct ms_req *req, struct ms_error *err)
{
    char id[MS_UUID_LEN + 1];
    struct ms_sync y;
    json_t *cfg = NULL;
    int active = -1;
    enum ms_status st;

    if ((st = syncs_load(req, id, &y, err)) != MS_OK ||
        (st = syncs_input(req, y.id, &cfg, &active, err)) != MS_OK)
        return st;
    if (active >= 0)
        y.active = active == 1; /* D4: absent keeps the stored value */
    ms_sync_set_config(&y, cfg);
    y.model_ids = ms_api_keep(req, ms_sync_model_ids(cfg));
    y.updated_at = syncs_now(&y);
    y.updated_by = ms_actor_from_auth(&req->auth);
    st = ms_store_sync_update(req->store, &y, err);
    if (st == MS_ENOTFOUND)
        return ms_fail(err, MS_ENOTFOUND, "sync not found");
    if (st == MS_OK) {
        ms_sched_wake(); /* a changed schedule takes effect at once */
        syncs_reply(req, &y);
    }
    return st;
}

/* ---- A8 delete ---- */

/* Does y's schedule name id in run_after.sync_ids? */
static bool
syncs_runs_after(const struct ms_sync *y, const char *id)
{
    json_t *ids = json_object_get(
        json_object_get(json_object_get(y->config, "schedule"), "run_after"), "sync_ids");
    json_t *v;
    size_t i;

    json_array_foreach(ids, i, v)
    {
        if (json_is_string(v) && strcmp(json_string_value(v), id) == 0)
            return true;
    }
    return false;
}

/* 409 naming a sync that runs after id (the store counted at least one). */
static enum ms_status
syncs_referrer(struct ms_req *req, const char *id, int64_t refs, struct ms_error *err)
{
    struct ms_sync_filter f = {-1, NULL, NULL};
    struct ms_sync_cursor cur = {.set = false};
    struct ms_sync *rows = NULL;
    size_t n = 0;
    enum ms_status st;

    do {
        st = ms_store_sync_list(req->store, req->arena, req->auth.org_id, &f, &cur,
                                SYNCS_REFERRER_PAGE, &rows, &n, err);
        if (st != MS_OK)
            return st;
        for (size_t i = 0; i < n; i++)
            if (strcmp(rows[i].id, id) != 0 && syncs_runs_after(&rows[i], id))
                return ms_fail_key(err, MS_ECONFLICT, "conflict",
                                   "sync \"%s\" (%s) runs after this sync; change its schedule "
                                   "first (%lld sync(s) refer to this one)",
                                   rows[i].name, rows[i].id, (long long)refs);
        if (n > 0) {
            cur.set = true;
            cur.updated_at = rows[n - 1].updated_at;
            snprintf(cur.id, sizeof(cur.id), "%s", rows[n - 1].id);
        }
    } while (n == SYNCS_REFERRER_PAGE);
    return ms_fail_key(err, MS_ECONFLICT, "conflict",
                       "%lld other sync(s) run after this sync; change their schedules first",
                       (long long)refs);
}

static enum ms_status
syncs_delete(struct ms_req *req, struct ms_error *err)
{
    char id[MS_UUID_LEN + 1];
    struct ms_sync y;
    const char *affected = NULL;
    int64_t refs = 0;
    enum ms_status st;

    if ((st = syncs_load(req, id, &y, err)) != MS_OK ||
        (st = ms_store_sync_run_after_refs(req->store, req->auth.org_id, id, &refs, err)) != MS_OK)
        return st;
    if (refs > 0)
        return syncs_referrer(req, id, refs, err);
    /* API.md §7.1: deleting stops the running execution; its worker sees the flag (or the row
     * gone with the sync) at its next batch. */
    st = ms_store_exec_cancel(req->store, req->arena, req->auth.org_id, id, NULL, ms_time_now_ms(),
                              &affected, err);
    if (st != MS_OK)
        return st;
    st = ms_store_sync_delete(req->store, req->auth.org_id, id, err);
    if (st == MS_ENOTFOUND)
        return ms_fail(err, MS_ENOTFOUND, "sync not found");
    if (st == MS_OK) {
        req->status = 204;
        ms_sched_wake();
    }
    return st;
}

/* ---- A9 activate ---- */

static enum ms_status
syncs_activate(struct ms_req *req, struct ms_error *err)
{
    char id[MS_UUID_LEN + 1];
    struct ms_sync y;
    struct ms_actor by;
    json_t *body = NULL, *v;
    enum ms_status st;

    if ((st = syncs_load(req, id, &y, err)) != MS_OK ||
        (st = ms_api_body(req, &body, err)) != MS_OK)
        return st;
    v = json_object_get(body, "active");
    if (v == NULL || json_is_null(v))
        return ms_fail_at(err, MS_EINVAL, "active", "required");
    if (!json_is_boolean(v))
        return ms_fail_at(err, MS_EINVAL, "active", "must be a boolean");
    by = ms_actor_from_auth(&req->auth);
    st = ms_store_sync_set_active(req->store, req->auth.org_id, id, json_is_true(v), syncs_now(&y),
                                  &by, err);
    if (st == MS_ENOTFOUND)
        return ms_fail(err, MS_ENOTFOUND, "sync not found");
    if (st != MS_OK)
        return st;
    ms_sched_wake(); /* (de)activation takes effect at once */
    req->reply = ms_api_data(json_pack("{s:s, s:b}", "id", id, "active", json_is_true(v)));
    return MS_OK;
}
