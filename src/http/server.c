/*
 * server.c: the libmicrohttpd daemon and one request's path through http/. MHD runs a pool of
 * threads, each with its own epoll loop and keep-alive connections; a handler runs to the end
 * on the thread that read its request. The request arena is created on MHD's first callback
 * and freed only in the completion callback (STYLE.md §4). The response is queued on the final
 * callback: route → store → auth → rate limit → body cap → query → idempotency → handler.
 * Each pool thread lazily opens its own store handle, kept in a pthread key whose destructor
 * closes it when MHD joins the thread. The access log is written in batches (below), flushed
 * by one more thread when a pool thread falls idle. docs/internals/THREADS.md has the whole
 * thread model.
 */
#include "http/http.h"

#include <errno.h>
#include <netdb.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <microhttpd.h>

#include "core/crypto.h"
#include "core/log.h"
#include "core/str.h"
#include "core/time.h"
#include "core/xmalloc.h"
#include "http/http_int.h"

#define HTTP_CONN_TIMEOUT_S 60u
#define HTTP_CONN_LIMIT 4000u
/*
 * MHD's memory pool per connection: it holds the request line and headers, MHD's header table,
 * the response header block and the read buffer a body passes through piece by piece (every
 * piece is copied to the request's own buffer at once). MHD clears the pool between the requests
 * of a keep-alive connection: with the default 32 KiB that was the largest single item of a
 * callgrind profile of GET /api/syncs/{id}. 16 KiB takes request headers up to about 15 KiB
 * (nginx's default is 8 KiB a line); a larger header block gets 431 from MHD.
 */
#define HTTP_CONN_MEMORY ((size_t)16 * 1024)
#define HTTP_MAX_THREADS 256
#define HTTP_METRICS_MAX_BYTES ((size_t)8 << 20)
#define HTTP_LOG_BUF 4096      /* PIPE_BUF: a pipe takes a batch whole, never split by a writer */
#define HTTP_LOG_DELAY_MS 100  /* the longest an access line waits for its batch */
#define HTTP_LOG_VALUE_MAX 64  /* bytes of the method and the request id; longer: cut */
#define HTTP_LOG_ROUTE_MAX 128 /* bytes of the route label (the longest is 67) */
/* The longest access line: the fixed text, time, status and duration take under 256 bytes, and
 * a value at most 6 bytes an input byte (\u00XX) plus "...". */
#define HTTP_LOG_ESCAPED(n) (6 * (n) + 3)
#define HTTP_LOG_LINE 2048
_Static_assert(HTTP_LOG_LINE >= 256 + 2 * HTTP_LOG_ESCAPED(HTTP_LOG_VALUE_MAX) +
                                    HTTP_LOG_ESCAPED(HTTP_LOG_ROUTE_MAX),
               "access line bound");
_Static_assert(HTTP_LOG_BUF >= 2 * HTTP_LOG_LINE, "a batch holds lines");

/* One pool thread's pending access lines. */
struct http_log {
    pthread_mutex_t mu; /* its pool thread appends; the flusher and ms_http_stop() drain */
    size_t len;
    char buf[HTTP_LOG_BUF];
    /* the owning thread only: the "YYYY-MM-DDTHH:MM:SS." of the second sec */
    int64_t sec;
    char ts[MS_TIME_LEN];
};

struct ms_http {
    const struct ms_config *cfg; /* borrowed; outlives the server */
    struct MHD_Daemon *daemon;
    struct ms_router *router;   /* immutable once started: read by every pool thread */
    struct ms_metrics *metrics; /* lock-free counters */
    struct ms_limits *limits;   /* guards itself (limits.c) */
    pthread_key_t store_key;    /* per pool thread: its struct ms_store *, closed at exit */
    bool have_store_key;
    struct http_log *logs; /* one per pool thread, claimed on first use */
    unsigned nlogs;
    atomic_uint logs_used;
    pthread_t flusher; /* writes the lines idle pool threads hold */
    bool have_flusher;
    pthread_mutex_t flush_mu; /* guards flush_stop; flush_cv wakes the flusher early */
    pthread_cond_t flush_cv;
    bool flush_stop;
    int port;
    char id_prefix[9];            /* random per process: ids differ across restarts, nodes */
    atomic_uint_fast64_t next_id; /* request counter */
};

/* One request, in its own arena. */
struct http_req {
    struct ms_req r; /* must stay first: the builtin handlers get back here from &r */
    struct ms_http *h;
    enum ms_status body_st; /* MS_ETOOBIG once the cap is hit; answered as 413 */
    int64_t start_ns;       /* monotonic, when the headers had arrived */
    int retry_after_s;      /* set by the rate limiter */
};

static enum ms_status http_healthz(struct ms_req *req, struct ms_error *err);
static enum ms_status http_metrics(struct ms_req *req, struct ms_error *err);

/* http/'s own endpoints: no key, no organization data (DECISIONS.md §4). */
static const struct ms_route http_builtin_routes[] = {
    {"GET", "/healthz", http_healthz, MS_ROUTE_PUBLIC | MS_HTTP_ROUTE_BUILTIN},
    {"GET", "/metrics", http_metrics, MS_ROUTE_PUBLIC | MS_HTTP_ROUTE_BUILTIN},
    {NULL, NULL, NULL, 0},
};

static int64_t
http_now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* ---- the pool thread's store handle ---- */

static void
http_store_close_cb(void *s)
{
    ms_store_close(s);
}

/* This thread's handle, opened on first use. A store that cannot be opened is a 503. */
static enum ms_status
http_store(struct ms_http *h, struct ms_store **out, struct ms_error *err)
{
    struct ms_store *s = pthread_getspecific(h->store_key);
    struct ms_error e;

    if (s == NULL) {
        if (ms_store_open(h->cfg->store_url, &s, &e) != MS_OK)
            return ms_fail(err, MS_EBUSY, "store open: %s", e.msg);
        if (pthread_setspecific(h->store_key, s) != 0) {
            ms_store_close(s);
            return ms_fail(err, MS_EBUSY, "store open: no thread-specific slot");
        }
    }
    *out = s;
    return MS_OK;
}

/* Forget a handle that stopped answering; the thread's next request opens a new one. */
static void
http_store_drop(struct ms_http *h)
{
    struct ms_store *s = pthread_getspecific(h->store_key);

    pthread_setspecific(h->store_key, NULL);
    ms_store_close(s);
}

/* ---- builtin endpoints ---- */

static void
http_set_text(struct ms_req *req, int status, const char *text, const char *type)
{
    req->status = status;
    req->reply_text = text;
    req->reply_text_len = strlen(text);
    req->reply_type = type;
}

static enum ms_status
http_healthz(struct ms_req *req, struct ms_error *err)
{
    struct http_req *hr = (struct http_req *)req;
    struct ms_store *s;
    const char *val;
    struct ms_error e;
    enum ms_status st;

    (void)err;
    st = http_store(hr->h, &s, &e);
    if (st == MS_OK) {
        st = ms_store_meta_get(s, req->arena, "healthz", &val, &e);
        if (st == MS_ENOTFOUND)
            st = MS_OK;
        else if (st != MS_OK)
            http_store_drop(hr->h);
    }
    if (st == MS_OK) {
        http_set_text(req, 200, "{\"status\":\"ok\"}", "application/json");
        return MS_OK;
    }
    ms_log(MS_LOG_WARN, "health check failed", "request_id", req->request_id, "detail", e.msg,
           (char *)NULL);
    http_set_text(req, 503, "{\"status\":\"unavailable\"}", "application/json");
    return MS_OK;
}

static enum ms_status
http_metrics(struct ms_req *req, struct ms_error *err)
{
    struct http_req *hr = (struct http_req *)req;
    struct ms_buf *b = ms_arena_alloc(req->arena, sizeof(*b));

    ms_buf_init(b, HTTP_METRICS_MAX_BYTES);
    ms_arena_defer(req->arena, ms_buf_release_cb, b);
    if (ms_metrics_render(hr->h->metrics, b) != MS_OK)
        return ms_fail(err, MS_EINTERNAL, "metrics exceed %zu bytes", b->max);
    http_set_text(req, 200, ms_buf_str(b), "text/plain; version=0.0.4; charset=utf-8");
    req->reply_text_len = b->len;
    return MS_OK;
}

/* ---- request parsing ---- */

struct http_query_ctx {
    struct ms_req *req;
    size_t cap;          /* room in req->query */
    const char *bad_key; /* raw key of the first undecodable argument */
};

static bool
http_form_decode(struct ms_arena *a, const char *raw, const char **out)
{
    size_t n = strlen(raw), len;
    char *d = ms_arena_alloc(a, n + 1);

    if (ms_str_pct_decode((struct ms_str){raw, n}, true, d, &len) != MS_OK)
        return false;
    *out = d;
    return true;
}

/* MHD hands arguments with '+' already turned into ' ' and, our unescaper being a no-op,
 * percent escapes still in place. */
static enum MHD_Result
http_query_arg(void *cls, enum MHD_ValueKind kind, const char *key, const char *value)
{
    struct http_query_ctx *c = cls;
    struct ms_kv *kv;

    (void)kind;
    if (c->req->nquery == c->cap)
        return MHD_NO;
    kv = &c->req->query[c->req->nquery];
    if (!http_form_decode(c->req->arena, key, &kv->key) ||
        !http_form_decode(c->req->arena, value != NULL ? value : "", &kv->val)) {
        c->bad_key = key;
        return MHD_NO;
    }
    c->req->nquery++;
    return MHD_YES;
}

/* The query string is bounded by MHD's per-connection memory pool, so its count is too. */
static enum ms_status
http_query(struct ms_req *req, struct MHD_Connection *conn, struct ms_error *err)
{
    int n = MHD_get_connection_values(conn, MHD_GET_ARGUMENT_KIND, NULL, NULL);
    struct http_query_ctx c = {req, n > 0 ? (size_t)n : 0, NULL};

    if (c.cap == 0)
        return MS_OK;
    req->query = ms_arena_zalloc(req->arena, c.cap * sizeof(*req->query));
    MHD_get_connection_values(conn, MHD_GET_ARGUMENT_KIND, http_query_arg, &c);
    if (c.bad_key != NULL)
        return ms_fail_at(err, MS_EINVAL, c.bad_key, "invalid percent-encoding in the query");
    return MS_OK;
}

static const char *
http_header(struct MHD_Connection *conn, const char *name)
{
    return MHD_lookup_connection_value(conn, MHD_HEADER_KIND, name);
}

static bool
http_is_write(const char *method)
{
    return strcmp(method, "POST") == 0 || strcmp(method, "PUT") == 0 ||
           strcmp(method, "PATCH") == 0 || strcmp(method, "DELETE") == 0;
}

/* Everything between routing and the handler; builtin routes need none of it. */
static enum ms_status
http_prepare(struct http_req *hr, struct MHD_Connection *conn, const struct ms_route *route,
             struct ms_error *err)
{
    struct ms_req *req = &hr->r;
    const char *authz = http_header(conn, MHD_HTTP_HEADER_AUTHORIZATION);
    bool pub = (route->flags & MS_ROUTE_PUBLIC) != 0;
    enum ms_status st;

    if (route->flags & MS_HTTP_ROUTE_BUILTIN)
        return MS_OK;
    /* An optional-auth route without a credential runs anonymous; with one, it is checked. */
    if ((route->flags & MS_ROUTE_AUTH_OPTIONAL) && authz == NULL)
        pub = true;
    st = http_store(hr->h, &req->store, err);
    if (st == MS_OK && !pub)
        st = ms_http_auth(req, authz, err);
    if (st == MS_OK && !pub)
        st = ms_limits_rate(hr->h->limits, req->auth.key_id, ms_time_mono_ms(), &hr->retry_after_s,
                            err);
    if (st == MS_OK && hr->body_st != MS_OK)
        st = ms_fail(err, MS_ETOOBIG, "request body exceeds %zu bytes", req->body.max);
    if (st == MS_OK)
        st = http_query(req, conn, err);
    return st;
}

/* ---- answering ---- */

static void
http_preflight(const struct ms_req *req, struct ms_http_out *out)
{
    memset(out, 0, sizeof(*out));
    out->status = 204;
    out->body = "";
    out->request_id = req->request_id;
    out->preflight = true;
}

static void
http_replay(const struct ms_req *req, const struct ms_idem_response *rp, struct ms_http_out *out)
{
    memset(out, 0, sizeof(*out));
    out->status = rp->http_status;
    out->body = rp->body != NULL ? rp->body : "";
    out->len = rp->body != NULL ? rp->body_len : 0;
    out->mem = MS_HTTP_MEM_COPY;
    out->request_id = req->request_id;
    out->replayed = true;
    if (out->status == 429 || out->status == 503)
        out->retry_after_s = 1;
}

/* Decide the response to hr (everything but sending it). */
static void
http_answer(struct http_req *hr, struct MHD_Connection *conn, struct ms_route_match *m,
            struct ms_http_out *out)
{
    struct ms_req *req = &hr->r;
    struct ms_idem idem = {NULL, false};
    struct ms_idem_response replay;
    bool replayed = false;
    struct ms_error err;
    enum ms_status st;

    ms_error_clear(&err);
    st = ms_router_match(hr->h->router, req->method, req->path, req->arena, m, &err);
    req->route = ms_router_pattern(hr->h->router, m->pattern);
    if (strcmp(req->method, "OPTIONS") == 0) {
        http_preflight(req, out);
        return;
    }
    if (st == MS_OK) {
        memcpy(req->params, m->params, sizeof(req->params));
        req->nparams = m->nparams;
        st = http_prepare(hr, conn, m->route, &err);
    }
    if (st == MS_OK && http_is_write(req->method) &&
        !(m->route->flags & (MS_ROUTE_PUBLIC | MS_HTTP_ROUTE_BUILTIN)))
        st = ms_limits_idem_begin(hr->h->limits, req, http_header(conn, "Idempotency-Key"), &idem,
                                  &replay, &replayed, &err);
    if (st == MS_OK && replayed) {
        http_replay(req, &replay, out);
        return;
    }
    if (st == MS_OK)
        st = m->route->handler(req, &err);
    if (st == MS_OK) {
        ms_http_reply_ok(req, out);
    } else {
        ms_http_reply_discard(req);
        ms_http_reply_error(req->request_id, st, &err, out);
        if (st == MS_EMETHOD)
            out->allow = m->allow;
        if (st == MS_ELIMIT && hr->retry_after_s > 0)
            out->retry_after_s = hr->retry_after_s;
    }
    ms_limits_idem_finish(req, &idem, out);
}

/* ---- the access log ---- */

/*
 * One INFO line per request, never a header value or the body, in core/log's layout
 * ({"ts","level","msg":"request","method","route","status","duration_ms","request_id"}) but
 * built on the stack and written in batches: each pool thread appends to its own buffer, which
 * goes out in one write(2) when the next line would not fit, and otherwise within
 * HTTP_LOG_DELAY_MS through the flusher thread. A write(2) per request cost about 3 µs, 15% of
 * GET /api/syncs/{id} (docs/performance.md). The price: a crash loses the last 100 ms of access
 * lines, and other log lines may precede access lines of earlier requests. Values are escaped
 * as core/log escapes them, but cut after HTTP_LOG_VALUE_MAX bytes (only a junk method is that
 * long); the line is INFO whatever ms_log_set_level() says (nothing raises the level today).
 */

static void
http_log_write(const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(STDERR_FILENO, p, n);

        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return; /* nowhere to log the failure to log */
        p += w;
        n -= (size_t)w;
    }
}

/* Write and empty l's batch; l->mu held. */
static void
http_log_flush_locked(struct http_log *l)
{
    http_log_write(l->buf, l->len);
    l->len = 0;
}

/* Every pool thread's pending lines. */
static void
http_log_flush_all(struct ms_http *h)
{
    unsigned n = atomic_load(&h->logs_used);

    for (unsigned i = 0; i < n && i < h->nlogs; i++) {
        pthread_mutex_lock(&h->logs[i].mu);
        if (h->logs[i].len > 0)
            http_log_flush_locked(&h->logs[i]);
        pthread_mutex_unlock(&h->logs[i].mu);
    }
}

/* The flusher thread: every HTTP_LOG_DELAY_MS, until ms_http_stop() sets flush_stop. */
static void *
http_log_loop(void *arg)
{
    struct ms_http *h = arg;
    struct timespec at;

    pthread_mutex_lock(&h->flush_mu);
    while (!h->flush_stop) {
        clock_gettime(CLOCK_MONOTONIC, &at);
        at.tv_nsec += HTTP_LOG_DELAY_MS * 1000000L;
        at.tv_sec += at.tv_nsec / 1000000000L;
        at.tv_nsec %= 1000000000L;
        pthread_cond_timedwait(&h->flush_cv, &h->flush_mu, &at);
        pthread_mutex_unlock(&h->flush_mu);
        http_log_flush_all(h);
        pthread_mutex_lock(&h->flush_mu);
    }
    pthread_mutex_unlock(&h->flush_mu);
    return NULL;
}

/* The calling pool thread's buffer (claimed on its first line), or NULL: write directly. */
static struct http_log *
http_log_mine(struct ms_http *h)
{
    static _Thread_local struct ms_http *tls_h;
    static _Thread_local struct http_log *tls_log;
    unsigned i;

    if (tls_h == h)
        return tls_log;
    i = atomic_fetch_add(&h->logs_used, 1);
    tls_h = h;
    tls_log = i < h->nlogs ? &h->logs[i] : NULL;
    return tls_log;
}

/* s as a JSON string body, escaped like core/log ('"', '\\', control bytes), cut at max. */
static char *
http_log_str(char *p, const char *s, size_t max)
{
    static const char hex[] = "0123456789abcdef";
    size_t n = strlen(s);

    for (size_t i = 0; i < n && i < max; i++) {
        unsigned char c = (unsigned char)s[i];

        if (c == '"' || c == '\\') {
            *p++ = '\\';
            *p++ = (char)c;
        } else if (c < 0x20 || c == 0x7f) {
            memcpy(p, "\\u00", 4);
            p[4] = hex[c >> 4];
            p[5] = hex[c & 0x0f];
            p += 6;
        } else {
            *p++ = (char)c;
        }
    }
    if (n > max) {
        memcpy(p, "...", 3);
        p += 3;
    }
    return p;
}

/* v in decimal, at least width digits. */
static char *
http_log_num(char *p, uint64_t v, int width)
{
    char d[24];
    int n = 0;

    do {
        d[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v > 0 || n < width);
    while (n > 0)
        *p++ = d[--n];
    return p;
}

static char *
http_log_put(char *p, const char *s)
{
    size_t n = strlen(s);

    memcpy(p, s, n);
    return p + n;
}

/* The timestamp as ms_time_format() writes it; the date part is formatted once a second. */
static char *
http_log_ts(char *p, struct http_log *l, int64_t now_ms)
{
    if (l == NULL || now_ms / 1000 != l->sec) {
        char ts[MS_TIME_LEN];

        ms_time_format(now_ms, ts);
        if (l == NULL)
            return http_log_put(p, ts);
        l->sec = now_ms / 1000;
        memcpy(l->ts, ts, 20); /* "YYYY-MM-DDTHH:MM:SS." */
        l->ts[20] = '\0';
    }
    p = http_log_put(p, l->ts);
    p = http_log_num(p, (uint64_t)(now_ms % 1000), 3);
    *p++ = 'Z';
    return p;
}

/* The access line of hr into line (HTTP_LOG_LINE bytes); its length. */
static size_t
http_log_line(struct http_req *hr, struct http_log *l, int status, int64_t ns, char *line)
{
    uint64_t us = ns > 0 ? ((uint64_t)ns + 500) / 1000 : 0;
    char *p = line;

    p = http_log_put(p, "{\"ts\":\"");
    p = http_log_ts(p, l, ms_time_now_ms());
    p = http_log_put(p, "\",\"level\":\"info\",\"msg\":\"request\",\"method\":\"");
    p = http_log_str(p, hr->r.method, HTTP_LOG_VALUE_MAX);
    p = http_log_put(p, "\",\"route\":\"");
    p = http_log_str(p, hr->r.route, HTTP_LOG_ROUTE_MAX);
    p = http_log_put(p, "\",\"status\":\"");
    p = http_log_num(p, status > 0 ? (uint64_t)status : 0, 1);
    p = http_log_put(p, "\",\"duration_ms\":\"");
    p = http_log_num(p, us / 1000, 1);
    *p++ = '.';
    p = http_log_num(p, us % 1000, 3);
    p = http_log_put(p, "\",\"request_id\":\"");
    p = http_log_str(p, hr->r.request_id, HTTP_LOG_VALUE_MAX);
    p = http_log_put(p, "\"}\n");
    MS_ASSERT((size_t)(p - line) <= HTTP_LOG_LINE);
    return (size_t)(p - line);
}

/* Metrics and the access line of one answered request. */
static void
http_account(struct http_req *hr, size_t pattern, int status)
{
    int64_t ns = http_now_ns() - hr->start_ns;
    struct http_log *l = http_log_mine(hr->h);
    char line[HTTP_LOG_LINE];
    size_t n;

    ms_metrics_observe(hr->h->metrics, hr->r.method, pattern, status, ns);
    n = http_log_line(hr, l, status, ns, line);
    if (l == NULL) {
        http_log_write(line, n);
        return;
    }
    pthread_mutex_lock(&l->mu);
    if (l->len + n > sizeof(l->buf))
        http_log_flush_locked(l);
    memcpy(l->buf + l->len, line, n);
    l->len += n;
    pthread_mutex_unlock(&l->mu);
}

/* The buffers and the flusher thread. */
static enum ms_status
http_log_start(struct ms_http *h, unsigned threads, struct ms_error *err)
{
    pthread_condattr_t ca;
    int rc;

    h->logs = ms_xcalloc(threads, sizeof(*h->logs));
    h->nlogs = threads;
    for (unsigned i = 0; i < threads; i++) {
        pthread_mutex_init(&h->logs[i].mu, NULL);
        h->logs[i].sec = -1;
    }
    pthread_mutex_init(&h->flush_mu, NULL);
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&h->flush_cv, &ca);
    pthread_condattr_destroy(&ca);
    rc = pthread_create(&h->flusher, NULL, http_log_loop, h);
    if (rc != 0)
        return ms_fail(err, MS_EINTERNAL, "cannot start the access-log thread");
    h->have_flusher = true;
    return MS_OK;
}

/* After the pool threads are gone: stop the flusher, write what is left, free. */
static void
http_log_stop(struct ms_http *h)
{
    if (h->logs == NULL)
        return;
    if (h->have_flusher) {
        pthread_mutex_lock(&h->flush_mu);
        h->flush_stop = true;
        pthread_cond_signal(&h->flush_cv);
        pthread_mutex_unlock(&h->flush_mu);
        pthread_join(h->flusher, NULL);
    }
    http_log_flush_all(h);
    for (unsigned i = 0; i < h->nlogs; i++)
        pthread_mutex_destroy(&h->logs[i].mu);
    pthread_cond_destroy(&h->flush_cv);
    pthread_mutex_destroy(&h->flush_mu);
    free(h->logs);
    h->logs = NULL;
}

static enum MHD_Result
http_dispatch(struct http_req *hr, struct MHD_Connection *conn)
{
    struct ms_route_match m;
    struct ms_http_out out;
    int status;
    bool ok;

    if (hr->r.body.p == NULL)
        (void)ms_buf_add(&hr->r.body, "", 0); /* api.h promises "" when there is no body */
    http_answer(hr, conn, &m, &out);
    status = out.status;
    ok = ms_http_reply_queue(conn, &out);
    http_account(hr, m.pattern, status);
    return ok ? MHD_YES : MHD_NO;
}

/* Content-Length as announced, or 0 when absent or unparsable (MHD enforces the framing). */
static uint64_t
http_content_length(struct MHD_Connection *conn)
{
    const char *v = http_header(conn, MHD_HTTP_HEADER_CONTENT_LENGTH);
    int64_t n;

    if (v == NULL || ms_str_to_i64(ms_str_c(v), &n) != MS_OK || n < 0)
        return 0;
    return (uint64_t)n;
}

/* "r-" + the process prefix + id in hex, at least 8 digits (what "r-%s%08" PRIx64 gives). */
static const char *
http_request_id(struct ms_arena *a, const char *prefix, uint64_t id)
{
    static const char hex[] = "0123456789abcdef";
    size_t plen = strlen(prefix);
    char d[16], *out = ms_arena_alloc(a, 2 + plen + sizeof(d) + 1), *p = out;
    int n = 0;

    do {
        d[n++] = hex[id & 0xf];
        id >>= 4;
    } while (id > 0 || n < 8);
    memcpy(p, "r-", 2);
    memcpy(p + 2, prefix, plen);
    p += 2 + plen;
    while (n > 0)
        *p++ = d[--n];
    *p = '\0';
    return out;
}

static struct http_req *
http_req_new(struct ms_http *h, struct MHD_Connection *conn, const char *url, const char *method)
{
    struct ms_arena *a = ms_arena_new();
    struct http_req *hr = ms_arena_zalloc(a, sizeof(*hr));
    size_t max = h->cfg->max_body_bytes > 0 ? h->cfg->max_body_bytes : MS_MAX_BODY_BYTES;
    uint64_t id = atomic_fetch_add_explicit(&h->next_id, 1, memory_order_relaxed) + 1;
    const char *host;

    hr->h = h;
    hr->start_ns = http_now_ns();
    hr->r.arena = a;
    hr->r.method = ms_arena_strdup(a, method);
    hr->r.path = ms_arena_strdup(a, url);
    hr->r.route = "unmatched";
    hr->r.cfg = h->cfg;
    hr->r.request_id = http_request_id(a, h->id_prefix, id);
    host = http_header(conn, MHD_HTTP_HEADER_HOST);
    hr->r.host = host != NULL ? ms_arena_strdup(a, host) : NULL;
    ms_buf_init(&hr->r.body, max);
    ms_arena_defer(a, ms_buf_release_cb, &hr->r.body);
    /* Refuse early what would only be discarded: such a body is read but never stored. */
    if (http_content_length(conn) > max)
        hr->body_st = MS_ETOOBIG;
    return hr;
}

/* Called once with the headers, once per body piece, then with *upload_size == 0. */
static enum MHD_Result
http_on_request(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
                const char *version, const char *upload, size_t *upload_size, void **req_cls)
{
    struct http_req *hr = *req_cls;

    (void)version;
    if (hr == NULL) {
        *req_cls = http_req_new(cls, conn, url, method);
        return MHD_YES;
    }
    if (*upload_size != 0) {
        if (hr->body_st == MS_OK)
            hr->body_st = ms_buf_add(&hr->r.body, upload, *upload_size);
        *upload_size = 0; /* consumed, or dropped after the cap */
        return MHD_YES;
    }
    return http_dispatch(hr, conn);
}

/* MHD_OPTION_NOTIFY_COMPLETED: the one place request memory dies (success, error, timeout,
 * disconnect and shutdown alike). */
static void
http_on_completed(void *cls, struct MHD_Connection *conn, void **req_cls,
                  enum MHD_RequestTerminationCode toe)
{
    struct http_req *hr = *req_cls;

    (void)cls;
    (void)conn;
    (void)toe;
    if (hr != NULL) {
        ms_http_reply_discard(&hr->r); /* a reply left by a request that never finished */
        ms_arena_free(hr->r.arena);    /* runs the defers, newest first */
    }
    *req_cls = NULL;
}

/* The path must reach the router raw: it splits on '/' before decoding (API.md §2.1). Query
 * arguments are form-decoded by http_query() instead. */
static size_t
http_no_unescape(void *cls, struct MHD_Connection *conn, char *s)
{
    (void)cls;
    (void)conn;
    return strlen(s);
}

__attribute__((format(printf, 2, 0))) static void
http_mhd_log(void *cls, const char *fmt, va_list ap)
{
    char buf[512];
    size_t n;

    (void)cls;
    vsnprintf(buf, sizeof(buf), fmt, ap);
    n = strlen(buf);
    while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
        buf[--n] = '\0';
    ms_log(MS_LOG_WARN, "microhttpd", "detail", buf, (char *)NULL);
}

/* ---- start and stop ---- */

static enum ms_status
http_router_build(struct ms_router **out, struct ms_error *err)
{
    size_t n = 0;
    const struct ms_route **tables;
    enum ms_status st;

    while (ms_api_route_tables[n] != NULL)
        n++;
    tables = ms_xcalloc(n + 2, sizeof(*tables));
    tables[0] = http_builtin_routes;
    for (size_t i = 0; i < n; i++)
        tables[i + 1] = ms_api_route_tables[i];
    st = ms_router_new(tables, out, err);
    free(tables);
    return st;
}

static unsigned
http_threads(const struct ms_config *cfg)
{
    long n = cfg->http_threads > 0 ? cfg->http_threads : sysconf(_SC_NPROCESSORS_ONLN);

    if (n < 1)
        n = 1;
    if (n > HTTP_MAX_THREADS)
        n = HTTP_MAX_THREADS;
    return (unsigned)n;
}

/* Resolve cfg's numeric or named host ("" = every interface) into *ss. */
static enum ms_status
http_resolve(const struct ms_config *cfg, struct sockaddr_storage *ss, bool *v6,
             struct ms_error *err)
{
    const char *h = cfg->listen_host != NULL ? cfg->listen_host : "";
    struct addrinfo hints, *ai = NULL;
    char host[256], port[16];
    size_t n = strlen(h);
    int rc;

    if (n >= 2 && h[0] == '[' && h[n - 1] == ']') {
        h++;
        n -= 2;
    }
    if (n >= sizeof(host))
        return ms_fail(err, MS_EINVAL, "listen host is too long");
    memcpy(host, h, n);
    host[n] = '\0';
    snprintf(port, sizeof(port), "%d", cfg->listen_port);
    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
    rc = getaddrinfo(n > 0 ? host : NULL, port, &hints, &ai);
    if (rc != 0)
        return ms_fail(err, MS_EINVAL, "listen address %s: %s", host, gai_strerror(rc));
    memset(ss, 0, sizeof(*ss));
    memcpy(ss, ai->ai_addr, ai->ai_addrlen);
    *v6 = ai->ai_family == AF_INET6;
    freeaddrinfo(ai);
    return MS_OK;
}

static enum ms_status
http_listen(struct ms_http *h, struct ms_error *err)
{
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_USE_ERROR_LOG;
    const union MHD_DaemonInfo *info;
    struct sockaddr_storage ss;
    bool v6 = false;
    enum ms_status st;

    st = http_resolve(h->cfg, &ss, &v6, err);
    if (st != MS_OK)
        return st;
    if (v6)
        flags |= MHD_USE_IPv6;
    /* MHD_USE_ERROR_LOG only switches MHD's messages on; http_mhd_log sends them to our log. */
    /* The logger goes first so that no option's complaint reaches MHD's own stderr logger. */
    h->daemon = MHD_start_daemon(
        flags, 0, NULL, NULL, http_on_request, h, MHD_OPTION_EXTERNAL_LOGGER, http_mhd_log, h,
        MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss, MHD_OPTION_THREAD_POOL_SIZE,
        http_threads(h->cfg), MHD_OPTION_CONNECTION_TIMEOUT, HTTP_CONN_TIMEOUT_S,
        MHD_OPTION_CONNECTION_LIMIT, HTTP_CONN_LIMIT, MHD_OPTION_CONNECTION_MEMORY_LIMIT,
        HTTP_CONN_MEMORY, MHD_OPTION_NOTIFY_COMPLETED, http_on_completed, h,
        MHD_OPTION_UNESCAPE_CALLBACK, http_no_unescape, h, MHD_OPTION_LISTENING_ADDRESS_REUSE, 1u,
        MHD_OPTION_END);
    if (h->daemon == NULL)
        return ms_fail(err, MS_EINTERNAL, "cannot listen on %s:%d (see the microhttpd log)",
                       h->cfg->listen_host, h->cfg->listen_port);
    info = MHD_get_daemon_info(h->daemon, MHD_DAEMON_INFO_BIND_PORT);
    h->port = info != NULL && info->port != 0 ? info->port : h->cfg->listen_port;
    return MS_OK;
}

enum ms_status
ms_http_start(const struct ms_config *cfg, struct ms_http **out, struct ms_error *err)
{
    struct ms_http *h = ms_xcalloc(1, sizeof(*h));
    uint8_t rnd[4];
    enum ms_status st;

    h->cfg = cfg;
    atomic_init(&h->next_id, 0);
    ms_random_bytes(rnd, sizeof(rnd));
    ms_hex(rnd, sizeof(rnd), h->id_prefix);
    st = http_router_build(&h->router, err);
    if (st != MS_OK)
        goto out;
    h->metrics = ms_metrics_new(h->router);
    h->limits = ms_limits_new(cfg->rate_limit_per_min);
    if (pthread_key_create(&h->store_key, http_store_close_cb) != 0) {
        st = ms_fail(err, MS_EINTERNAL, "pthread_key_create failed");
        goto out;
    }
    h->have_store_key = true;
    st = http_log_start(h, http_threads(cfg), err);
    if (st == MS_OK)
        st = http_listen(h, err);
out:
    if (st != MS_OK) {
        ms_http_stop(h);
        return st;
    }
    *out = h;
    return MS_OK;
}

int
ms_http_port(const struct ms_http *h)
{
    return h->port;
}

void
ms_http_stop(struct ms_http *h)
{
    if (h == NULL)
        return;
    /* Joins the pool threads, whose exit runs http_store_close_cb on their store handles. */
    if (h->daemon != NULL)
        MHD_stop_daemon(h->daemon);
    http_log_stop(h);
    if (h->have_store_key)
        pthread_key_delete(h->store_key);
    ms_limits_free(h->limits);
    ms_metrics_free(h->metrics);
    ms_router_free(h->router);
    free(h);
}
