/*
 * execution_logs.c: what an execution left behind (API.md §6.4–§6.6, D26): B4 its console
 * entries from the store, B5 signed URLs for its record logs, B6 one record log file.
 *
 * Record logs are JSON-lines files the engine writes to
 * <data>/logs/<sync_id>/<execution_id>/<type>.jsonl; an empty inserts, updates or deletes file
 * marks that the execution has such lines, which B6 then streams out of records.jsonl. B5 signs the
 * canonical B6 path of each existing file with an expiry: signature = base64url(HMAC-SHA256(secret,
 * "<path>\n<expires>")), so B6 needs no credential while the URL is fresh (its route authenticates
 * only when an Authorization header is sent). The file path is built from the validated path
 * parameters and a fixed list of types, never from client text. Handlers run on MHD pool threads
 * and touch only their request.
 */
#include "api/api_int.h"

#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "core/crypto.h"
#include "core/str.h"
#include "core/time.h"
#include "engine/engine.h"

static enum ms_status logs_console(struct ms_req *req, struct ms_error *err);
static enum ms_status logs_urls(struct ms_req *req, struct ms_error *err);
static enum ms_status logs_file(struct ms_req *req, struct ms_error *err);

const struct ms_route ms_api_execution_logs_routes[] = {
    {"GET", "/api/syncs/{sync_id:uuid}/executions/{id:uuid}/consolelog", logs_console, 0},
    {"GET", "/api/syncs/{sync_id:uuid}/executions/{id:uuid}/{type}", logs_urls, 0},
    {"GET", "/api/syncs/{sync_id:uuid}/executions/{id:uuid}/{type}/{filename}", logs_file,
     MS_ROUTE_AUTH_OPTIONAL},
    {NULL, NULL, NULL, 0},
};

#define LOGS_CONSOLE_MAX 50      /* B4: entries per answer, default and cap */
#define LOGS_URL_TTL_S (15 * 60) /* B5: signed URLs stay valid this long */
#define LOGS_HOST_MAX 255        /* bytes of a Host header used in a URL */
#define LOGS_SIG_LEN 43          /* base64url of 32 bytes, unpadded */

/* ExecutionLogType (API.md §4.5): the record log categories. */
static const char *const logs_types[] = {"records", "inserts",  "updates", "deletes",
                                         "errors",  "warnings", NULL};

/* ---- shared ---- */

/* The execution {id} of sync {sync_id} in the caller's organization (404 otherwise). */
static enum ms_status
logs_exec(struct ms_req *req, struct ms_execution *ex, struct ms_error *err)
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

/* {type} as one of logs_types (a static string), else 400. */
static enum ms_status
logs_type(const struct ms_req *req, const char **out, struct ms_error *err)
{
    const char *t = ms_req_param(req, "type");

    for (const char *const *p = logs_types; *p != NULL; p++)
        if (t != NULL && strcmp(t, *p) == 0) {
            *out = *p;
            return MS_OK;
        }
    return ms_fail_at(err, MS_EINVAL, "type",
                      "unknown log type; use records, inserts, updates, deletes, errors or "
                      "warnings");
}

/* The B6 path of a log file: what is signed, and what a signed URL names. */
static const char *
logs_path(struct ms_req *req, const char *sync_id, const char *id, const char *type)
{
    return ms_arena_printf(req->arena, "/api/syncs/%s/executions/%s/%s/%s.jsonl", sync_id, id, type,
                           type);
}

/* The file behind a log path on this node's disk. */
static const char *
logs_file_path(struct ms_req *req, const char *sync_id, const char *id, const char *type)
{
    return ms_arena_printf(req->arena, "%s/logs/%s/%s/%s.jsonl", req->cfg->data_dir, sync_id, id,
                           type);
}

static void
logs_sign(const struct ms_req *req, const char *path, int64_t expires_s, char out[LOGS_SIG_LEN + 1])
{
    struct ms_buf b;
    uint8_t mac[MS_SHA256_LEN];

    ms_buf_init(&b, strlen(path) + 32);
    (void)ms_buf_addf(&b, "%s\n%lld", path, (long long)expires_s);
    ms_hmac_sha256(req->cfg->secret, b.p, b.len, mac);
    ms_buf_release(&b);
    ms_b64url_encode(mac, sizeof(mac), out);
}

/* ---- B4 console log ---- */

/* limit: absent, ≤ 0 or above the cap → 50; not an integer → 400. */
static enum ms_status
logs_limit(const struct ms_req *req, size_t *out, struct ms_error *err)
{
    const char *v = ms_req_query(req, "limit");
    struct ms_str s = ms_str_c(v);
    size_t i = 0;
    int64_t n = 0;

    *out = LOGS_CONSOLE_MAX;
    if (v == NULL)
        return MS_OK;
    if (ms_str_to_i64(s, &n) == MS_OK) {
        if (n > 0 && n < LOGS_CONSOLE_MAX)
            *out = (size_t)n;
        return MS_OK;
    }
    /* An integer too long for int64 is still an integer: capped like any other. */
    if (s.len > 0 && (s.p[0] == '-' || s.p[0] == '+'))
        i++;
    while (i < s.len && s.p[i] >= '0' && s.p[i] <= '9')
        i++;
    if (s.len > 1 && i == s.len)
        return MS_OK;
    return ms_fail_at(err, MS_EINVAL, "limit", "must be an integer");
}

/* Digits only, as a non-negative int64. */
static bool
logs_uint(struct ms_str s, int64_t *out)
{
    if (s.len == 0 || s.len > 18)
        return false;
    for (size_t i = 0; i < s.len; i++)
        if (s.p[i] < '0' || s.p[i] > '9')
            return false;
    return ms_str_to_i64(s, out) == MS_OK;
}

/* after: an entry id "<ts>-<seq>" → its seq; absent → 0 (the newest entries). */
static enum ms_status
logs_after(const struct ms_req *req, int64_t *seq, struct ms_error *err)
{
    const char *v = ms_req_query(req, "after");
    const char *dash = v != NULL ? strchr(v, '-') : NULL;
    int64_t ts;

    *seq = 0;
    if (v == NULL || *v == '\0')
        return MS_OK;
    if (dash == NULL || !logs_uint((struct ms_str){v, (size_t)(dash - v)}, &ts) ||
        !logs_uint(ms_str_c(dash + 1), seq))
        return ms_fail_at(err, MS_EINVAL, "after",
                          "must be a console entry id such as \"1744311099250-3\"");
    return MS_OK;
}

static json_t *
logs_entry(const struct ms_exec_log *e, const char **id_out, struct ms_req *req)
{
    json_t *o = json_object();

    *id_out = ms_arena_printf(req->arena, "%lld-%lld", (long long)e->ts, (long long)e->seq);
    json_object_set_new(o, "id", json_string(*id_out));
    ms_json_set_time(o, "timestamp", e->ts);
    json_object_set_new(o, "level", json_string(e->level));
    json_object_set_new(o, "message", json_string(e->message != NULL ? e->message : ""));
    return o;
}

static enum ms_status
logs_console(struct ms_req *req, struct ms_error *err)
{
    struct ms_execution ex;
    struct ms_exec_log *rows = NULL;
    const char *cursor = ms_req_query(req, "after");
    json_t *entries, *data;
    int64_t after = 0;
    size_t limit, n = 0;
    enum ms_status st;

    if ((st = logs_exec(req, &ex, err)) != MS_OK || (st = logs_limit(req, &limit, err)) != MS_OK ||
        (st = logs_after(req, &after, err)) != MS_OK)
        return st;
    st = ms_store_log_list(req->store, req->arena, ex.id, after, limit, &rows, &n, err);
    if (st != MS_OK)
        return st;
    if (cursor != NULL && *cursor == '\0')
        cursor = NULL;
    entries = json_array();
    for (size_t i = 0; i < n; i++) /* the store answers oldest first */
        json_array_append_new(entries, logs_entry(&rows[i], &cursor, req));
    data = json_pack("{s:o}", "entries", entries);
    if (cursor != NULL) /* the newest entry returned, or `after` again when nothing is newer */
        json_object_set_new(data, "next_cursor", json_string(cursor));
    req->reply = ms_api_data(data);
    return MS_OK;
}

/* ---- B5 log URLs ---- */

/* "http://host" from the Host header; "" when there is none (the URLs are then relative). */
static enum ms_status
logs_base(const struct ms_req *req, const char **out, struct ms_error *err)
{
    const char *h = req->host;

    *out = "";
    if (h == NULL || *h == '\0')
        return MS_OK;
    if (strlen(h) > LOGS_HOST_MAX ||
        strspn(h, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                  "0123456789.-:[]") != strlen(h))
        return ms_fail_at(err, MS_EINVAL, "Host", "not a host name");
    *out = ms_arena_printf(req->arena, "http://%s", h);
    return MS_OK;
}

static enum ms_status
logs_urls(struct ms_req *req, struct ms_error *err)
{
    struct ms_execution ex;
    struct stat sb;
    const char *type = NULL, *base = NULL, *path;
    char sig[LOGS_SIG_LEN + 1];
    int64_t expires_s = ms_time_now_ms() / 1000 + LOGS_URL_TTL_S;
    json_t *urls, *data;
    enum ms_status st;

    if ((st = logs_type(req, &type, err)) != MS_OK || (st = logs_exec(req, &ex, err)) != MS_OK ||
        (st = logs_base(req, &base, err)) != MS_OK)
        return st;
    urls = json_array();
    if (stat(logs_file_path(req, ex.sync_id, ex.id, type), &sb) == 0 && S_ISREG(sb.st_mode)) {
        path = logs_path(req, ex.sync_id, ex.id, type);
        logs_sign(req, path, expires_s, sig);
        json_array_append_new(urls, json_sprintf("%s%s?expires=%lld&signature=%s", base, path,
                                                 (long long)expires_s, sig));
    }
    data = json_pack("{s:o}", "urls", urls);
    ms_json_set_time(data, "expires", expires_s * 1000);
    req->reply = ms_api_data(data);
    return MS_OK;
}

/* ---- B6 one log file ---- */

/* {filename} must be "<type>.jsonl": traversal attempts are 400, other names 404. */
static enum ms_status
logs_filename(const struct ms_req *req, const char *type, struct ms_error *err)
{
    const char *f = ms_req_param(req, "filename");
    char want[32];

    if (f == NULL || strchr(f, '/') != NULL || strchr(f, '\\') != NULL || strstr(f, "..") != NULL)
        return ms_fail_at(err, MS_EINVAL, "filename", "not a log file name");
    snprintf(want, sizeof(want), "%s.jsonl", type);
    if (strcmp(f, want) != 0)
        return ms_fail(err, MS_ENOTFOUND, "no log file named \"%.60s\"; this one is %s", f, want);
    return MS_OK;
}

/* Anonymous access: a fresh signature by this deployment over exactly this file's path. */
static enum ms_status
logs_check_signature(struct ms_req *req, const char *path, struct ms_error *err)
{
    const char *exp = ms_req_query(req, "expires"), *sig = ms_req_query(req, "signature");
    char want[LOGS_SIG_LEN + 1];
    int64_t expires_s = 0;

    if (exp == NULL && sig == NULL)
        return ms_fail(err, MS_EAUTH,
                       "a credential or a signed URL (see the log URLs endpoint) "
                       "is required");
    if (exp == NULL || sig == NULL || !logs_uint(ms_str_c(exp), &expires_s) ||
        strlen(sig) != LOGS_SIG_LEN)
        return ms_fail(err, MS_EDENIED, "invalid signed URL");
    logs_sign(req, path, expires_s, want);
    if (!ms_const_eq(want, sig, LOGS_SIG_LEN))
        return ms_fail(err, MS_EDENIED, "invalid signed URL");
    if (expires_s < ms_time_now_ms() / 1000)
        return ms_fail(err, MS_EDENIED, "the signed URL has expired; ask for a new one");
    return MS_OK;
}

/* The types whose lines the engine writes only to records.jsonl. */
static bool
logs_in_records(const char *type)
{
    return strcmp(type, "inserts") == 0 || strcmp(type, "updates") == 0 ||
           strcmp(type, "deletes") == 0;
}

static bool
logs_keep(const char *line, size_t len, const void *type)
{
    return ms_engine_log_line_of(line, len, type);
}

static enum ms_status
logs_file(struct ms_req *req, struct ms_error *err)
{
    struct ms_execution ex;
    char sync_id[MS_UUID_LEN + 1], id[MS_UUID_LEN + 1];
    const char *type = NULL, *file;
    struct stat sb;
    enum ms_status st;

    if ((st = logs_type(req, &type, err)) != MS_OK ||
        (st = logs_filename(req, type, err)) != MS_OK ||
        (st = ms_api_path_id(req, "sync_id", sync_id, err)) != MS_OK ||
        (st = ms_api_path_id(req, "id", id, err)) != MS_OK)
        return st;
    if (req->auth.org_id[0] != '\0')
        st = logs_exec(req, &ex, err); /* a credential: the execution must be its org's */
    else
        st = logs_check_signature(req, logs_path(req, sync_id, id, type), err);
    if (st != MS_OK)
        return st;
    file = logs_file_path(req, sync_id, id, type);
    if (stat(file, &sb) != 0 || !S_ISREG(sb.st_mode))
        return ms_fail(err, MS_ENOTFOUND, "this execution has no %s log", type);
    if (sb.st_size == 0 && logs_in_records(type)) {
        /* an empty marker: its lines are in records.jsonl (ms_engine_log_line_of) */
        file = logs_file_path(req, sync_id, id, "records");
        req->reply_keep = logs_keep;
        req->reply_keep_arg = type;
    }
    req->reply_file = file;
    req->reply_type = "application/x-ndjson";
    return MS_OK;
}
