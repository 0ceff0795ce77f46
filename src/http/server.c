/*
 * server.c: the HTTP threads and one request's path through http/. One acceptor thread takes
 * every connection with a blocking accept4() and hands it, round robin, to one of
 * --http-threads workers; each worker runs its own libmicrohttpd daemon (no listening socket,
 * no MHD thread) from its own epoll loop, and a connection stays on its worker. A handler runs
 * to the end on that thread. The request arena is created on MHD's first callback and freed
 * only in the completion callback (STYLE.md §4). The response is queued on the final callback:
 * route → store → auth → rate limit → body cap → query → idempotency → handler. Each worker
 * lazily opens its own store handle, kept in a pthread key whose destructor closes it when the
 * thread exits. The access log is written in batches, flushed by one more thread when a worker
 * falls idle. docs/internals/THREADS.md has the whole thread model.
 */
#define _GNU_SOURCE /* accept4(2): Linux, like epoll and eventfd */
#include "http/http.h"

#include <errno.h>
#include <limits.h>
#include <netdb.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/prctl.h>
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
#define HTTP_CONN_LIMIT 4000u /* open connections, all workers together */
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

/* One worker's pending access lines. */
struct http_log {
    pthread_mutex_t mu; /* its worker appends; the flusher and ms_http_stop() drain */
    size_t len;
    char buf[HTTP_LOG_BUF];
    /* the owning thread only: the "YYYY-MM-DDTHH:MM:SS." of the second sec */
    int64_t sec;
    char ts[MS_TIME_LEN];
};

/* A connection accepted but not yet given to a worker's daemon. */
struct http_handoff {
    int fd;
    socklen_t len;
    union {
        struct sockaddr sa;
        struct sockaddr_in in4;
        struct sockaddr_in6 in6;
    } addr;
};

/* What a worker's epoll_wait() reports (epoll_event.data.u32). */
enum { HTTP_EV_DAEMON = 1, HTTP_EV_WAKE = 2 };

/* One HTTP thread with its own MHD daemon and epoll loop. */
struct http_worker {
    struct ms_http *h;
    unsigned index;
    struct MHD_Daemon *daemon; /* touched by this worker's thread only, once it runs */
    int epoll_fd;              /* the daemon's epoll fd and wake_fd */
    int wake_fd;               /* eventfd: connections queued, or stop */
    pthread_t thread;
    bool have_thread;
    atomic_bool stop;
    atomic_uint live; /* connections the daemon holds (NOTIFY_CONNECTION) */
    /* Connections handed over by the acceptor: a ring of qcap entries, qcap being this
     * worker's share of HTTP_CONN_LIMIT. */
    pthread_mutex_t mu; /* guards qhead, qlen; held by the worker while it adopts them */
    bool have_mu;
    struct http_handoff *q;
    unsigned qcap, qhead, qlen;
};

struct ms_http {
    const struct ms_config *cfg; /* borrowed; outlives the server */
    int listen_fd;
    pthread_t acceptor;
    bool have_acceptor;
    atomic_bool accept_stop;
    unsigned next_worker; /* the acceptor's round robin */
    int64_t warned_ms;    /* the acceptor's last warning (one a second at most) */
    struct http_worker *workers;
    unsigned nworkers;
    struct ms_router *router;   /* immutable once started: read by every worker */
    struct ms_metrics *metrics; /* lock-free counters */
    struct ms_limits *limits;   /* guards itself (limits.c) */
    pthread_key_t store_key;    /* per worker: its struct ms_store *, closed at exit */
    bool have_store_key;
    struct http_log *logs; /* one per worker, claimed on first use */
    unsigned nlogs;
    atomic_uint logs_used;
    pthread_t flusher; /* writes the lines idle workers hold */
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

#ifdef MS_TESTING
unsigned ms_http_test_conn_limit;
#endif

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

/* ---- the worker's store handle ---- */

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
        st = ms_limits_rate(hr->h->limits, req->auth.key_id, hr->start_ns / 1000000,
                            &hr->retry_after_s, err); /* start_ns: CLOCK_MONOTONIC too */
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
    out->mem = MS_HTTP_MEM_ARENA;
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
 * built on the stack and written in batches: each worker appends to its own buffer, which
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

/* Every worker's pending lines. */
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

    prctl(PR_SET_NAME, "http-log", 0, 0, 0);
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

/* The calling worker's buffer (claimed on its first line), or NULL: write directly. */
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

/* After the workers are gone: stop the flusher, write what is left, free. */
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

/* The body of a request that has none: handlers only read req->body, and http_body_release
 * leaves it alone, so a bodiless request (most of them) allocates no buffer. */
static char http_no_body[1];

static void
http_body_release(void *arg)
{
    struct ms_buf *b = arg;

    if (b->p == http_no_body)
        b->p = NULL;
    ms_buf_release(b);
}

static enum MHD_Result
http_dispatch(struct http_req *hr, struct MHD_Connection *conn)
{
    struct ms_route_match m;
    struct ms_http_out out;
    int status;
    bool ok;

    if (hr->r.body.p == NULL)
        hr->r.body.p = http_no_body; /* api.h promises "" when there is no body */
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

/*
 * Each worker keeps the arena of its last finished request, reset, for its next one: a request
 * then costs no malloc/free of the arena's 16 KiB block. Only the worker's thread creates and
 * finishes requests (MHD calls back on it, also from MHD_stop_daemon()), so a thread-local slot
 * needs no lock; http_worker_loop() frees it when the thread ends.
 */
static _Thread_local struct ms_arena *http_spare_arena;

static struct ms_arena *
http_arena_take(void)
{
    struct ms_arena *a = http_spare_arena;

    http_spare_arena = NULL;
    return a != NULL ? a : ms_arena_new();
}

/* Runs a's defers either way. */
static void
http_arena_give_back(struct ms_arena *a)
{
    if (http_spare_arena != NULL) {
        ms_arena_free(a);
        return;
    }
    ms_arena_reset(a);
    http_spare_arena = a;
}

static struct http_req *
http_req_new(struct ms_http *h, struct MHD_Connection *conn, const char *url, const char *method)
{
    struct ms_arena *a = http_arena_take();
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
    ms_arena_defer(a, http_body_release, &hr->r.body);
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
        ms_http_reply_discard(&hr->r);     /* a reply left by a request that never finished */
        http_arena_give_back(hr->r.arena); /* runs the defers, newest first */
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

/* ---- the listening socket and the acceptor ---- */

/* Bind and listen on cfg's address; the socket blocks: only the acceptor thread accepts. */
static enum ms_status
http_listen(struct ms_http *h, struct ms_error *err)
{
    struct sockaddr_storage ss;
    socklen_t len;
    bool v6 = false;
    int one = 1, fd;
    enum ms_status st;

    st = http_resolve(h->cfg, &ss, &v6, err);
    if (st != MS_OK)
        return st;
    len = v6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in);
    fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return ms_fail(err, MS_EINTERNAL, "socket: %s", strerror(errno));
    h->listen_fd = fd;
    /* SO_REUSEADDR: a restart may bind while old connections sit in TIME_WAIT. IPv6 sockets
     * take IPv6 only, as before: "[::]" does not also answer on 0.0.0.0. */
    (void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (v6)
        (void)setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
    if (bind(fd, (struct sockaddr *)&ss, len) != 0 || listen(fd, SOMAXCONN) != 0)
        return ms_fail(err, MS_EINTERNAL, "cannot listen on %s:%d: %s", h->cfg->listen_host,
                       h->cfg->listen_port, strerror(errno));
    len = sizeof(ss);
    if (getsockname(fd, (struct sockaddr *)&ss, &len) != 0)
        return ms_fail(err, MS_EINTERNAL, "getsockname: %s", strerror(errno));
    h->port =
        ntohs(v6 ? ((struct sockaddr_in6 *)&ss)->sin6_port : ((struct sockaddr_in *)&ss)->sin_port);
    return MS_OK;
}

/* Wake w's thread (its eventfd); a full counter already means "wake". */
static void
http_worker_wake(struct http_worker *w)
{
    uint64_t one = 1;

    while (write(w->wake_fd, &one, sizeof(one)) < 0 && errno == EINTR)
        ;
}

/*
 * Give c to the next worker below its share of the connection limit, round robin. queued and
 * live are read under w->mu, the lock the worker holds while it hands queued connections to
 * MHD, so the count is exact and the ring (capacity: the share) cannot overflow. With every
 * worker full the connection is closed at once: the client sees it closed, unanswered.
 */
static void
http_hand_over(struct ms_http *h, const struct http_handoff *c)
{
    for (unsigned i = 0; i < h->nworkers; i++) {
        struct http_worker *w = &h->workers[(h->next_worker + i) % h->nworkers];
        bool taken = false, was_empty = false;

        pthread_mutex_lock(&w->mu);
        if (w->qlen + atomic_load_explicit(&w->live, memory_order_relaxed) < w->qcap) {
            w->q[(w->qhead + w->qlen) % w->qcap] = *c;
            was_empty = w->qlen++ == 0;
            taken = true;
        }
        pthread_mutex_unlock(&w->mu);
        if (!taken)
            continue;
        if (was_empty) /* otherwise the wake-up for the first one is still pending */
            http_worker_wake(w);
        h->next_worker = (h->next_worker + i + 1) % h->nworkers;
        return;
    }
    close(c->fd);
    if (ms_time_mono_ms() - h->warned_ms >= 1000) {
        h->warned_ms = ms_time_mono_ms();
        ms_log(MS_LOG_WARN, "connection limit reached: closing new connections", (char *)NULL);
    }
}

/* An accept4 failure: true to go on accepting, false to stop (ms_http_stop() shut the socket,
 * or the socket is broken). Out of descriptors or memory: wait a little, then retry. */
static bool
http_accept_failed(struct ms_http *h, int e)
{
    const struct timespec pause = {0, 10 * 1000000L};

    if (atomic_load(&h->accept_stop))
        return false;
    switch (e) {
    case EINTR:
    case ECONNABORTED:
    case EPROTO:
    case EPERM:
        return true; /* that connection is gone; the next one is not affected */
    case EMFILE:
    case ENFILE:
    case ENOBUFS:
    case ENOMEM:
        if (ms_time_mono_ms() - h->warned_ms >= 1000) {
            h->warned_ms = ms_time_mono_ms();
            ms_log(MS_LOG_WARN, "accept failed, retrying", "detail", strerror(e), (char *)NULL);
        }
        nanosleep(&pause, NULL);
        return true;
    default:
        ms_log(MS_LOG_ERROR, "accept failed, no longer accepting", "detail", strerror(e),
               (char *)NULL);
        return false;
    }
}

/*
 * The acceptor thread: one blocking accept4() per connection, so no call ever fails with
 * EAGAIN (goal H6: accept4 calls = connections), and every connection is handed to a worker.
 * ms_http_stop() ends it with shutdown(2) on the socket, which makes the blocked accept4()
 * return EINVAL on Linux.
 */
static void *
http_accept_loop(void *arg)
{
    struct ms_http *h = arg;

    prctl(PR_SET_NAME, "http-accept", 0, 0, 0);
    for (;;) {
        struct http_handoff c;

        c.len = sizeof(c.addr);
        c.fd = accept4(h->listen_fd, &c.addr.sa, &c.len, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (c.fd >= 0) {
            if (c.len > sizeof(c.addr))
                c.len = sizeof(c.addr);
            http_hand_over(h, &c);
        } else if (!http_accept_failed(h, errno)) {
            return NULL;
        }
    }
}

/* ---- the workers: one MHD daemon each, run by our own loop ---- */

/* MHD_OPTION_NOTIFY_CONNECTION: w's daemon took a connection over, or closed one. */
static void
http_on_connection(void *cls, struct MHD_Connection *conn, void **socket_ctx,
                   enum MHD_ConnectionNotificationCode code)
{
    struct http_worker *w = cls;

    (void)conn;
    (void)socket_ctx;
    if (code == MHD_CONNECTION_NOTIFY_STARTED)
        atomic_fetch_add_explicit(&w->live, 1, memory_order_relaxed);
    else if (code == MHD_CONNECTION_NOTIFY_CLOSED)
        atomic_fetch_sub_explicit(&w->live, 1, memory_order_relaxed);
}

/*
 * Give the queued connections to w's daemon, on w's thread as MHD requires of a daemon without
 * its own thread. Under w->mu, so that the acceptor never sees a connection in neither queued
 * nor live. A connection MHD refuses is closed by MHD and never counted live.
 */
static void
http_worker_adopt(struct http_worker *w)
{
    uint64_t n;

    while (read(w->wake_fd, &n, sizeof(n)) < 0 && errno == EINTR)
        ; /* cleared first: a hand-over after this point wakes the next wait */
    pthread_mutex_lock(&w->mu);
    while (w->qlen > 0) {
        struct http_handoff *c = &w->q[w->qhead];

        w->qhead = (w->qhead + 1) % w->qcap;
        w->qlen--;
        (void)MHD_add_connection(w->daemon, c->fd, &c->addr.sa, c->len);
    }
    pthread_mutex_unlock(&w->mu);
}

/* Close what is still queued (the acceptor has stopped). */
static void
http_worker_drop_queue(struct http_worker *w)
{
    pthread_mutex_lock(&w->mu);
    for (; w->qlen > 0; w->qlen--) {
        close(w->q[w->qhead].fd);
        w->qhead = (w->qhead + 1) % w->qcap;
    }
    pthread_mutex_unlock(&w->mu);
}

/* Sleep until the daemon has something to do (its epoll fd is readable), a connection is
 * handed over, or MHD's next timeout is due. */
static void
http_worker_wait(struct http_worker *w)
{
    MHD_UNSIGNED_LONG_LONG t;
    struct epoll_event ev[2];
    int ms = -1, n;

    if (MHD_get_timeout(w->daemon, &t) == MHD_YES)
        ms = t > INT_MAX ? INT_MAX : (int)t;
    n = epoll_wait(w->epoll_fd, ev, MS_ARRAY_LEN(ev), ms);
    for (int i = 0; i < n; i++)
        if (ev[i].data.u32 == HTTP_EV_WAKE)
            http_worker_adopt(w);
}

/*
 * A worker thread. MHD runs without a thread of its own (MHD_run() never blocks here): in
 * libmicrohttpd 0.9.75 MHD's own epoll loop computes its timeout once, then calls epoll_wait()
 * again with it whenever the previous call returned its full 128 events, so a burst of
 * exactly 128 ready connections left them unserved until some other event or the timeout
 * (docs/performance.md, H6). Our loop waits on the daemon's epoll fd instead.
 */
static void *
http_worker_loop(void *arg)
{
    struct http_worker *w = arg;
    char name[16];
    sigset_t pipe;

    /* A peer that went away must not kill the process (MSG_NOSIGNAL covers send(), not
     * sendfile()); MHD is told with MHD_OPTION_SIGPIPE_HANDLED_BY_APP. */
    sigemptyset(&pipe);
    sigaddset(&pipe, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &pipe, NULL);
    snprintf(name, sizeof(name), "http-%u", w->index);
    prctl(PR_SET_NAME, name, 0, 0, 0);
    while (!atomic_load(&w->stop)) {
        MHD_run(w->daemon);
        http_worker_wait(w);
    }
    /* Closes every connection; their completion callbacks run here, on this thread. */
    MHD_stop_daemon(w->daemon);
    w->daemon = NULL;
    http_worker_drop_queue(w);
    ms_arena_free(http_spare_arena);
    http_spare_arena = NULL;
    return NULL;
}

/* w's daemon: no listening socket, no thread; MHD's share of the limit equals ours. */
static enum ms_status
http_worker_daemon(struct ms_http *h, struct http_worker *w, struct ms_error *err)
{
    const union MHD_DaemonInfo *info;
    struct epoll_event ev;

    /* MHD_USE_ERROR_LOG only switches MHD's messages on; http_mhd_log sends them to our log.
     * The logger goes first so that no option's complaint reaches MHD's own stderr logger. */
    w->daemon = MHD_start_daemon(
        MHD_USE_EPOLL | MHD_USE_NO_LISTEN_SOCKET | MHD_USE_ERROR_LOG, 0, NULL, NULL,
        http_on_request, h, MHD_OPTION_EXTERNAL_LOGGER, http_mhd_log, h,
        MHD_OPTION_CONNECTION_TIMEOUT, HTTP_CONN_TIMEOUT_S, MHD_OPTION_CONNECTION_LIMIT, w->qcap,
        MHD_OPTION_CONNECTION_MEMORY_LIMIT, HTTP_CONN_MEMORY, MHD_OPTION_NOTIFY_COMPLETED,
        http_on_completed, h, MHD_OPTION_NOTIFY_CONNECTION, http_on_connection, w,
        MHD_OPTION_UNESCAPE_CALLBACK, http_no_unescape, h, MHD_OPTION_SIGPIPE_HANDLED_BY_APP, 1,
        MHD_OPTION_END);
    if (w->daemon == NULL)
        return ms_fail(err, MS_EINTERNAL, "cannot start HTTP worker %u (see the microhttpd log)",
                       w->index);
    info = MHD_get_daemon_info(w->daemon, MHD_DAEMON_INFO_EPOLL_FD);
    if (info == NULL)
        return ms_fail(err, MS_EINTERNAL, "microhttpd has no epoll descriptor");
    memset(&ev, 0, sizeof(ev));
    ev.events = EPOLLIN;
    ev.data.u32 = HTTP_EV_DAEMON;
    if (epoll_ctl(w->epoll_fd, EPOLL_CTL_ADD, info->epoll_fd, &ev) != 0)
        return ms_fail(err, MS_EINTERNAL, "epoll_ctl: %s", strerror(errno));
    ev.data.u32 = HTTP_EV_WAKE;
    if (epoll_ctl(w->epoll_fd, EPOLL_CTL_ADD, w->wake_fd, &ev) != 0)
        return ms_fail(err, MS_EINTERNAL, "epoll_ctl: %s", strerror(errno));
    return MS_OK;
}

static enum ms_status
http_worker_start(struct ms_http *h, struct http_worker *w, unsigned index, unsigned share,
                  struct ms_error *err)
{
    enum ms_status st;

    w->h = h;
    w->index = index;
    w->qcap = share;
    w->q = ms_xcalloc(share, sizeof(*w->q));
    pthread_mutex_init(&w->mu, NULL);
    w->have_mu = true;
    w->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    w->epoll_fd = epoll_create1(EPOLL_CLOEXEC);
    if (w->wake_fd < 0 || w->epoll_fd < 0)
        return ms_fail(err, MS_EINTERNAL, "eventfd/epoll_create1: %s", strerror(errno));
    st = http_worker_daemon(h, w, err);
    if (st != MS_OK)
        return st;
    if (pthread_create(&w->thread, NULL, http_worker_loop, w) != 0)
        return ms_fail(err, MS_EINTERNAL, "cannot start HTTP thread %u", index);
    w->have_thread = true;
    return MS_OK;
}

/* Stop w's thread (which closes its connections), then free what it used. */
static void
http_worker_stop(struct http_worker *w)
{
    if (w->have_thread) {
        atomic_store(&w->stop, true);
        http_worker_wake(w);
        pthread_join(w->thread, NULL);
    }
    if (w->daemon != NULL) /* started, but its thread never ran */
        MHD_stop_daemon(w->daemon);
    if (w->have_mu)
        http_worker_drop_queue(w);
    if (w->epoll_fd >= 0)
        close(w->epoll_fd);
    if (w->wake_fd >= 0)
        close(w->wake_fd);
    if (w->have_mu)
        pthread_mutex_destroy(&w->mu);
    free(w->q);
}

/* The workers, then the acceptor (so that nothing is handed to a worker not yet running). */
static enum ms_status
http_serve(struct ms_http *h, struct ms_error *err)
{
    unsigned n = http_threads(h->cfg);
    unsigned share = HTTP_CONN_LIMIT / n;
    enum ms_status st = MS_OK;

#ifdef MS_TESTING
    if (ms_http_test_conn_limit > 0)
        share = ms_http_test_conn_limit / n;
#endif
    if (share < 1)
        share = 1;
    h->workers = ms_xcalloc(n, sizeof(*h->workers));
    for (unsigned i = 0; i < n; i++)
        h->workers[i].wake_fd = h->workers[i].epoll_fd = -1;
    for (unsigned i = 0; i < n && st == MS_OK; i++) {
        h->nworkers = i + 1;
        st = http_worker_start(h, &h->workers[i], i, share, err);
    }
    if (st != MS_OK)
        return st;
    if (pthread_create(&h->acceptor, NULL, http_accept_loop, h) != 0)
        return ms_fail(err, MS_EINTERNAL, "cannot start the HTTP acceptor thread");
    h->have_acceptor = true;
    return MS_OK;
}

enum ms_status
ms_http_start(const struct ms_config *cfg, struct ms_http **out, struct ms_error *err)
{
    struct ms_http *h = ms_xcalloc(1, sizeof(*h));
    uint8_t rnd[4];
    enum ms_status st;

    h->cfg = cfg;
    h->listen_fd = -1;
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
    if (st == MS_OK)
        st = http_serve(h, err);
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
    /* No new connections: the acceptor leaves its accept4(), then the socket is closed (what
     * waited in the kernel's queue is reset). */
    if (h->have_acceptor) {
        atomic_store(&h->accept_stop, true);
        shutdown(h->listen_fd, SHUT_RDWR);
        pthread_join(h->acceptor, NULL);
    }
    if (h->listen_fd >= 0)
        close(h->listen_fd);
    /* Each worker ends after its current callback and closes its connections; its thread's
     * exit runs http_store_close_cb on its store handle. */
    for (unsigned i = 0; i < h->nworkers; i++)
        http_worker_stop(&h->workers[i]);
    free(h->workers);
    http_log_stop(h);
    if (h->have_store_key)
        pthread_key_delete(h->store_key);
    ms_limits_free(h->limits);
    ms_metrics_free(h->metrics);
    ms_router_free(h->router);
    free(h);
}
