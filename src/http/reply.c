/*
 * reply.c: every response leaves through here. It holds the one status → HTTP table (checked
 * at compile time against enum ms_status), builds ApiError bodies (API.md §2.6), serializes the
 * handlers' JSON (or streams the file a handler named) and adds what every answer carries:
 * Content-Type, X-Polytomic-Version, X-Request-Id, Access-Control-Allow-Origin, Retry-After on
 * 429/503. 5xx details are logged here, once, and never sent (STYLE.md §3.6). The only file
 * of http/ that includes jansson. Called on the HTTP workers; keeps no state.
 */
#include "http/http_int.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <jansson.h>
#include <microhttpd.h>

#include "core/log.h"
#include "core/xmalloc.h"

struct reply_map {
    int http;         /* HTTP status */
    const char *key;  /* default ApiError key (API.md §13 D24, plus ours) */
    const char *text; /* message when the error carries none; for 5xx the only message */
};

static const struct reply_map reply_map[] = {
    [MS_OK] = {200, NULL, NULL},
    [MS_EINVAL] = {400, "invalid_request", "the request is invalid"},
    [MS_EAUTH] = {401, "unauthorized", "invalid credentials"},
    [MS_EDENIED] = {403, "forbidden", "this credential may not do that"},
    [MS_ENOTFOUND] = {404, "not_found", "not found"},
    [MS_EMETHOD] = {405, "method_not_allowed", "method not allowed on this endpoint"},
    [MS_ETIMEOUT] = {408, "timeout", "the request timed out"},
    [MS_ECONFLICT] = {409, "conflict", "the request conflicts with the current state"},
    [MS_ETOOBIG] = {413, "too_large", "the request is too large"},
    [MS_EUNPROC] = {422, "validation_failed", "the request cannot be processed"},
    [MS_EUNSUPP] = {422, "unsupported", "not supported"},
    [MS_ELIMIT] = {429, "rate_limited", "too many requests"},
    [MS_EUPSTREAM] = {502, "upstream_error", "an upstream system failed"},
    [MS_EBUSY] = {503, "unavailable", "service unavailable, retry later"},
    [MS_ECANCELED] = {500, "internal", "internal error"},
    [MS_EINTERNAL] = {500, "internal", "internal error"},
};
_Static_assert(MS_ARRAY_LEN(reply_map) == MS_STATUS_COUNT, "every ms_status needs an HTTP row");

/* What we answer when even the error body cannot be built. */
static const char reply_fallback[] = "{\"status\":500,\"key\":\"internal\",\"message\":\"internal "
                                     "error\"}";

void
ms_http_status_map(enum ms_status st, int *http_status, const char **key)
{
    if ((unsigned)st >= MS_STATUS_COUNT)
        st = MS_EINTERNAL;
    *http_status = reply_map[st].http;
    *key = reply_map[st].key;
}

/* A JSON string of s; bytes that are not valid UTF-8 (echoed client input) become '?'. */
static json_t *
reply_jstr(const char *s)
{
    json_t *v = json_string(s);
    char *copy;

    if (v != NULL)
        return v;
    copy = strdup(s);
    if (copy == NULL)
        return NULL;
    for (char *p = copy; *p != '\0'; p++)
        if ((unsigned char)*p >= 0x80)
            *p = '?';
    v = json_string(copy);
    free(copy);
    return v;
}

static void
reply_set_owned(struct ms_http_out *out, char *body)
{
    if (body == NULL) {
        out->body = reply_fallback;
        out->len = sizeof(reply_fallback) - 1;
        out->mem = MS_HTTP_MEM_STATIC;
        return;
    }
    out->owned = body;
    out->body = body;
    out->len = strlen(body);
}

static void
reply_log_5xx(const char *request_id, int http, enum ms_status st, const struct ms_error *err)
{
    char status[16], native[16];

    snprintf(status, sizeof(status), "%d", http);
    snprintf(native, sizeof(native), "%d", err != NULL ? err->native : 0);
    ms_log(MS_LOG_ERROR, "request failed", "request_id", request_id, "http_status", status,
           "status", ms_status_name(st), "detail", err != NULL ? err->msg : "", "native", native,
           "sqlstate", err != NULL ? err->sqlstate : "", (char *)NULL);
}

void
ms_http_reply_error(const char *request_id, enum ms_status st, const struct ms_error *err,
                    struct ms_http_out *out)
{
    const struct reply_map *row;
    json_t *o = json_object();
    char msg[sizeof((struct ms_error){0}.msg) + 64];

    if (st == MS_OK || (unsigned)st >= MS_STATUS_COUNT)
        st = MS_EINTERNAL;
    row = &reply_map[st];
    memset(out, 0, sizeof(*out));
    out->status = row->http;
    out->request_id = request_id;
    if (row->http >= 500) {
        snprintf(msg, sizeof(msg), "%s (request %s)", row->text, request_id);
        reply_log_5xx(request_id, row->http, st, err);
    } else {
        snprintf(msg, sizeof(msg), "%s", err != NULL && err->msg[0] != '\0' ? err->msg : row->text);
    }
    json_object_set_new(o, "status", json_integer(row->http));
    json_object_set_new(o, "key",
                        json_string(err != NULL && err->key != NULL ? err->key : row->key));
    json_object_set_new(o, "message", reply_jstr(msg));
    if (err != NULL && err->field[0] != '\0' && row->http < 500) {
        json_t *md = json_object();

        json_object_set_new(md, "field", reply_jstr(err->field));
        json_object_set_new(o, "metadata", md);
    }
    reply_set_owned(out, json_dumps(o, JSON_COMPACT));
    json_decref(o);
    if (row->http == 429 || row->http == 503)
        out->retry_after_s = 1;
}

void
ms_http_reply_discard(struct ms_req *req)
{
    json_decref(req->reply);
    req->reply = NULL;
    req->reply_text = NULL;
    req->reply_text_len = 0;
    req->reply_type = NULL;
    req->location = NULL;
    req->reply_file = NULL;
    req->reply_keep = NULL;
    req->reply_keep_arg = NULL;
    req->status = 0;
}

/* Open the file a handler asked to stream; a file gone since the handler looked is a 404. */
static bool
reply_open_file(const struct ms_req *req, struct ms_http_out *out)
{
    struct stat sb;
    struct ms_error err;
    int fd = open(req->reply_file, O_RDONLY | O_CLOEXEC);

    if (fd >= 0 && fstat(fd, &sb) == 0 && S_ISREG(sb.st_mode)) {
        out->fd = fd;
        out->has_fd = true;
        out->len = (size_t)sb.st_size;
        out->keep = req->reply_keep;
        out->keep_arg = req->reply_keep_arg;
        out->type = req->reply_type != NULL ? req->reply_type : "application/octet-stream";
        return true;
    }
    if (fd >= 0)
        close(fd);
    ms_error_clear(&err);
    ms_http_reply_error(req->request_id, ms_fail(&err, MS_ENOTFOUND, "file not found"), &err, out);
    return false;
}

void
ms_http_reply_ok(struct ms_req *req, struct ms_http_out *out)
{
    json_t *reply = req->reply;
    int status = req->status != 0 ? req->status : req->location != NULL ? 302 : 200;

    req->reply = NULL;
    memset(out, 0, sizeof(*out));
    out->request_id = req->request_id;
    if (status < 200 || status > 599) {
        json_decref(reply);
        ms_http_reply_error(req->request_id, MS_EINTERNAL, NULL, out);
        ms_logf(MS_LOG_ERROR, "handler for %s set HTTP status %d", req->route, status);
        return;
    }
    out->status = status;
    out->location = req->location;
    out->body = "";
    out->mem = MS_HTTP_MEM_STATIC;
    if (status == 204 || status == 304) {
        /* no body, whatever the handler left */
    } else if (req->reply_file != NULL) {
        if (!reply_open_file(req, out)) {
            json_decref(reply);
            return;
        }
    } else if (req->reply_text != NULL) {
        out->body = req->reply_text;
        out->len = req->reply_text_len;
        out->mem = MS_HTTP_MEM_ARENA;
        out->type = req->reply_type != NULL ? req->reply_type : "text/plain; charset=utf-8";
    } else if (reply != NULL) {
        char *s = json_dumps(reply, JSON_COMPACT | JSON_ENCODE_ANY);

        if (s == NULL) {
            json_decref(reply);
            ms_http_reply_error(req->request_id, MS_EINTERNAL, NULL, out);
            return;
        }
        reply_set_owned(out, s);
    }
    json_decref(reply);
    if (status == 429 || status == 503)
        out->retry_after_s = 1;
}

void
ms_http_out_release(struct ms_http_out *out)
{
    if (out == NULL)
        return;
    free(out->owned);
    out->owned = NULL;
    if (out->has_fd)
        close(out->fd);
    out->has_fd = false;
    out->body = "";
    out->len = 0;
    out->mem = MS_HTTP_MEM_STATIC;
}

/* MHD's buffer API takes void * even for bytes it only reads or copies. */
static void *
reply_unconst(const char *p)
{
    union {
        const char *c;
        void *v;
    } u = {.c = p};

    return u.v;
}

/* ---- a file streamed through a line filter ---- */

#define REPLY_FILTER_READ ((size_t)64 << 10) /* file bytes read at a time */

/* The state of one filtered file: buf[lo, hi) read and not looked at yet; buf[at, end) a kept
 * line being copied out. The buffer grows to hold the longest line. */
struct reply_filter {
    int fd;
    bool (*keep)(const char *line, size_t len, const void *arg);
    const void *arg;
    char *buf;
    size_t cap, lo, hi, at, end;
    bool eof, failed;
};

/* Read more of the file after buf[lo, hi) (moved to the front); false at its end or on error. */
static bool
reply_filter_fill(struct reply_filter *f)
{
    ssize_t r;

    if (f->lo > 0) {
        memmove(f->buf, f->buf + f->lo, f->hi - f->lo);
        f->hi -= f->lo;
        f->lo = 0;
    }
    if (f->cap - f->hi < REPLY_FILTER_READ) {
        f->cap = f->cap == 0 ? 2 * REPLY_FILTER_READ : 2 * f->cap;
        f->buf = ms_xrealloc(f->buf, f->cap);
    }
    do
        r = read(f->fd, f->buf + f->hi, f->cap - f->hi);
    while (r < 0 && errno == EINTR);
    if (r > 0)
        f->hi += (size_t)r;
    f->failed = r < 0;
    f->eof = r <= 0;
    return r > 0;
}

/* MHD's content reader: kept lines until max bytes; a last line without its newline (still
 * being appended) is left out. */
static ssize_t
reply_filter_read(void *cls, uint64_t pos, char *dst, size_t max)
{
    struct reply_filter *f = cls;
    size_t n = 0;

    (void)pos;
    while (n < max) {
        const char *nl;

        if (f->at < f->end) {
            size_t k = f->end - f->at < max - n ? f->end - f->at : max - n;

            memcpy(dst + n, f->buf + f->at, k);
            f->at += k;
            n += k;
            continue;
        }
        nl = f->hi > f->lo ? memchr(f->buf + f->lo, '\n', f->hi - f->lo) : NULL;
        if (nl == NULL) {
            if (f->eof || !reply_filter_fill(f))
                break;
            continue;
        }
        if (f->keep(f->buf + f->lo, (size_t)(nl - (f->buf + f->lo)), f->arg)) {
            f->at = f->lo;
            f->end = (size_t)(nl - f->buf) + 1;
        }
        f->lo = (size_t)(nl - f->buf) + 1;
    }
    if (n > 0)
        return (ssize_t)n;
    return f->failed ? MHD_CONTENT_READER_END_WITH_ERROR : MHD_CONTENT_READER_END_OF_STREAM;
}

static void
reply_filter_free(void *cls)
{
    struct reply_filter *f = cls;

    close(f->fd);
    free(f->buf);
    free(f);
}

static struct MHD_Response *
reply_filtered(struct ms_http_out *out)
{
    struct reply_filter *f = ms_xcalloc(1, sizeof(*f));
    struct MHD_Response *resp;

    f->fd = out->fd;
    f->keep = out->keep;
    f->arg = out->keep_arg;
    resp = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, REPLY_FILTER_READ, reply_filter_read,
                                             f, reply_filter_free);
    if (resp != NULL)
        out->has_fd = false; /* f has it */
    else
        free(f);
    return resp;
}

static struct MHD_Response *
reply_response(struct ms_http_out *out)
{
    struct MHD_Response *resp;

    if (out->has_fd && out->keep != NULL)
        return reply_filtered(out);
    if (out->has_fd) {
        /* MHD reads the file as the client drains the socket, and closes it with resp. */
        resp = MHD_create_response_from_fd((uint64_t)out->len, out->fd);
        if (resp != NULL)
            out->has_fd = false;
        return resp;
    }
    if (out->owned != NULL) {
        resp = MHD_create_response_from_buffer(out->len, out->owned, MHD_RESPMEM_MUST_FREE);
        if (resp != NULL)
            out->owned = NULL; /* MHD frees it with the response */
        return resp;
    }
    /* Static and arena bytes alike outlive MHD's use of them (enum ms_http_mem). */
    return MHD_create_response_from_buffer(out->len, reply_unconst(out->body),
                                           MHD_RESPMEM_PERSISTENT);
}

static void
reply_headers(struct MHD_Response *resp, const struct ms_http_out *out)
{
    char num[24];

    if (out->len > 0) /* an empty body (204, preflight, redirect) has no type */
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE,
                                out->type != NULL ? out->type : "application/json");
    MHD_add_response_header(resp, "X-Polytomic-Version", MS_HTTP_API_VERSION);
    if (out->request_id != NULL)
        MHD_add_response_header(resp, "X-Request-Id", out->request_id);
    MHD_add_response_header(resp, "Access-Control-Allow-Origin", "*");
    if (out->location != NULL)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_LOCATION, out->location);
    if (out->allow != NULL)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW, out->allow);
    if (out->status == 401)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_WWW_AUTHENTICATE, "Bearer");
    if (out->retry_after_s > 0) {
        snprintf(num, sizeof(num), "%d", out->retry_after_s);
        MHD_add_response_header(resp, MHD_HTTP_HEADER_RETRY_AFTER, num);
    }
    if (out->replayed)
        MHD_add_response_header(resp, "Idempotent-Replayed", "true");
    if (out->preflight) {
        MHD_add_response_header(resp, "Access-Control-Allow-Methods",
                                "GET, POST, PUT, PATCH, DELETE, OPTIONS");
        MHD_add_response_header(resp, "Access-Control-Allow-Headers",
                                "Authorization, Content-Type, Idempotency-Key, "
                                "X-Polytomic-Version, X-Fern-Language, X-Fern-SDK-Name, "
                                "X-Fern-SDK-Version, X-Fern-Runtime, X-Fern-Runtime-Version");
        MHD_add_response_header(resp, "Access-Control-Max-Age", "600");
    }
}

bool
ms_http_reply_queue(struct MHD_Connection *conn, struct ms_http_out *out)
{
    struct MHD_Response *resp = reply_response(out);
    enum MHD_Result rc;

    if (resp == NULL) {
        ms_http_out_release(out); /* a body MHD did not take */
        return false;
    }
    reply_headers(resp, out);
    ms_http_out_release(out); /* MHD owns or copied the body now */
    rc = MHD_queue_response(conn, (unsigned)out->status, resp);
    MHD_destroy_response(resp);
    return rc == MHD_YES;
}
