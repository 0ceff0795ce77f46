/*
 * webhook.c: the webhook destination (libcurl). Records go to one URL as JSON batches, POSTed:
 * {"sync_id", "execution_id", "records": [{"op", "key", "data"}]}, one request per write().
 *
 * One easy handle per open connection, so the HTTP connection stays alive between batches.
 * Only http and https, no redirects, bounded timeouts, and the reply kept up to
 * WH_MAX_REPLY_BYTES (write() reads {"rejected": …} from it; more is MS_ETOOBIG). With a
 * secret every request is signed: X-Modelsync-Timestamp: <unix seconds> and
 * X-Modelsync-Signature: sha256=<hex HMAC-SHA256(secret, "<timestamp>.<body>")>, so a
 * receiver can check origin and freshness. A 2xx acknowledges the batch except the records a
 * JSON reply {"rejected": [{"index", "error"}]} names. 429 and 5xx are MS_EBUSY, and their
 * Retry-After is answered by control(MS_CX_CTL_RETRY_AFTER). Bodies are built by hand into a
 * buffer capped at WH_MAX_BODY_BYTES (no JSON tree per record). A connection belongs to the
 * thread that opened it; curl_global_init() runs once per process, on the first use.
 */
#include "connectors/connector.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <curl/curl.h>

#include "connectors/connectors_int.h"
#include "core/buf.h"
#include "core/crypto.h"
#include "core/str.h"
#include "core/time.h"
#include "core/xmalloc.h"
#include "model/model.h"

#define WH_MAX_URL_BYTES 2048
#define WH_MAX_HEADERS 64
#define WH_MAX_HEADER_NAME_BYTES 256
#define WH_MAX_HEADER_VALUE_BYTES 8192
#define WH_MAX_SECRET_BYTES 1024
#define WH_MAX_REPLY_BYTES ((size_t)64 << 10)
#define WH_MAX_RETRY_AFTER_S 86400 /* a longer wait is capped: the engine retries within a day */
#define WH_MAX_BODY_BYTES ((size_t)8 << 20) /* one batch's JSON; more: MS_ETOOBIG */
#define WH_MAX_ERROR_BYTES 1024             /* a rejection message kept for an op */

struct wh_cx {
    struct ms_cx base; /* must be first */
    CURL *curl;        /* owned */
    char *url;         /* owned */
    char *url_safe;    /* owned: scheme://host[:port]/path, no query or credentials */
    char **lines;      /* owned "Name: value" lines of the configured headers [nlines] */
    size_t nlines;
    bool own_type; /* the configured headers set Content-Type themselves */
    char *secret;  /* owned, NULL without one; wiped on close */
    size_t secret_len;
    struct ms_buf reply;   /* body of the last reply, at most WH_MAX_REPLY_BYTES */
    bool reply_over;       /* the last reply passed the cap */
    int64_t retry_after_s; /* Retry-After of the last reply in seconds, 0 if none */
    char errbuf[CURL_ERROR_SIZE];
    const struct ms_write_plan *plan; /* borrowed from write_begin() until write_end() */
    struct ms_buf body;               /* the batch being sent, at most WH_MAX_BODY_BYTES */
};

static pthread_once_t wh_once = PTHREAD_ONCE_INIT;
static CURLcode wh_global_rc = CURLE_FAILED_INIT;

static void
wh_global_init(void)
{
    wh_global_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

/* curl_global_init() must precede every other libcurl call, the URL parser's included. */
static enum ms_status
wh_global(struct ms_error *err)
{
    if (pthread_once(&wh_once, wh_global_init) != 0 || wh_global_rc != CURLE_OK)
        return ms_fail(err, MS_EINTERNAL, "webhook: libcurl initialisation failed");
    return MS_OK;
}

/* ---- configuration ---- */

static const char *const wh_cfg_members[] = {"url", "headers", "secret", NULL};

/* "scheme://host[:port]/path" of a parsed URL (a new string), for messages. */
static char *
wh_url_safe(CURLU *u)
{
    char *scheme = NULL, *host = NULL, *port = NULL, *path = NULL, *out;
    size_t n;

    curl_url_get(u, CURLUPART_SCHEME, &scheme, 0);
    curl_url_get(u, CURLUPART_HOST, &host, 0);
    curl_url_get(u, CURLUPART_PORT, &port, 0);
    curl_url_get(u, CURLUPART_PATH, &path, 0);
    n = strlen(scheme ? scheme : "") + strlen(host ? host : "") + strlen(port ? port : "") +
        strlen(path ? path : "") + 8;
    out = ms_xmalloc(n);
    snprintf(out, n, "%s://%s%s%s%s", scheme ? scheme : "", host ? host : "", port ? ":" : "",
             port ? port : "", path ? path : "/");
    curl_free(scheme);
    curl_free(host);
    curl_free(port);
    curl_free(path);
    return out;
}

/* url: http:// or https://, a host, at most WH_MAX_URL_BYTES. *safe (may be NULL) for messages. */
static enum ms_status
wh_url_check(const json_t *v, char **safe, struct ms_error *err)
{
    const char *url = json_string_value(v);
    size_t len = json_string_length(v);
    CURLU *u = NULL;
    char *scheme = NULL, *host = NULL;
    enum ms_status st = MS_OK;

    if (url == NULL)
        return ms_fail_at(err, MS_EINVAL, "configuration.url",
                          json_is_null(v) || v == NULL ? "required" : "must be a string");
    if (len == 0 || len > WH_MAX_URL_BYTES)
        return ms_fail_at(err, MS_EINVAL, "configuration.url", "must be 1 to %d bytes",
                          WH_MAX_URL_BYTES);
    for (size_t i = 0; i < len; i++)
        if ((unsigned char)url[i] <= 0x20 || url[i] == 0x7f)
            return ms_fail_at(err, MS_EINVAL, "configuration.url",
                              "must not contain spaces or control characters");
    u = curl_url();
    if (u == NULL || curl_url_set(u, CURLUPART_URL, url, 0) != CURLUE_OK ||
        curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
        (strcmp(scheme, "http") != 0 && strcmp(scheme, "https") != 0))
        st = ms_fail_at(err, MS_EINVAL, "configuration.url", "must be an http:// or https:// URL");
    else if (curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK || host[0] == '\0')
        st = ms_fail_at(err, MS_EINVAL, "configuration.url", "must name a host");
    else if (safe != NULL)
        *safe = wh_url_safe(u);
    curl_free(scheme);
    curl_free(host);
    curl_url_cleanup(u);
    return st;
}

/* RFC 9110 token characters (header names). */
static bool
wh_token(const char *p, size_t n)
{
    if (n == 0)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = p[i];

        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              (c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != NULL)))
            return false;
    }
    return true;
}

/* Headers this connector sets itself, or that would corrupt the request's framing. */
static bool
wh_reserved(const char *name)
{
    static const char *const reserved[] = {"Content-Length", "Host", "Transfer-Encoding",
                                           "X-Modelsync-Timestamp", "X-Modelsync-Signature"};

    for (size_t i = 0; i < MS_ARRAY_LEN(reserved); i++)
        if (ms_str_casec(ms_str_c(name), reserved[i]))
            return true;
    return false;
}

static enum ms_status
wh_header_check(const char *name, const json_t *v, struct ms_error *err)
{
    char path[64];
    const char *val = json_string_value(v);
    size_t len = json_string_length(v);

    snprintf(path, sizeof(path), "configuration.headers.%s", name);
    if (strlen(name) > WH_MAX_HEADER_NAME_BYTES || !wh_token(name, strlen(name)))
        return ms_fail_at(err, MS_EINVAL, path, "is not a valid header name");
    if (wh_reserved(name))
        return ms_fail_at(err, MS_EINVAL, path, "is set by modelsync and cannot be configured");
    if (val == NULL)
        return ms_fail_at(err, MS_EINVAL, path, "must be a string");
    if (len > WH_MAX_HEADER_VALUE_BYTES)
        return ms_fail_at(err, MS_EINVAL, path, "longer than %d bytes", WH_MAX_HEADER_VALUE_BYTES);
    for (size_t i = 0; i < len; i++)
        if (((unsigned char)val[i] < 0x20 && val[i] != '\t') || val[i] == 0x7f)
            return ms_fail_at(err, MS_EINVAL, path, "must not contain control characters");
    return MS_OK;
}

static enum ms_status
wh_headers_check(const json_t *cfg, struct ms_error *err)
{
    json_t *h = NULL, *v;
    const char *name;
    enum ms_status st = ms_json_opt_obj(cfg, "headers", "configuration.headers", &h, err);

    if (st != MS_OK || h == NULL)
        return st;
    if (json_object_size(h) > WH_MAX_HEADERS)
        return ms_fail_at(err, MS_EINVAL, "configuration.headers", "at most %d headers",
                          WH_MAX_HEADERS);
    json_object_foreach(h, name, v)
    {
        st = wh_header_check(name, v, err);
        if (st != MS_OK)
            return st;
    }
    return MS_OK;
}

static enum ms_status
wh_cfg_check(const json_t *cfg, char **safe, struct ms_error *err)
{
    const char *secret = NULL;
    enum ms_status st;

    if (!json_is_object(cfg))
        return ms_fail_at(err, MS_EINVAL, "configuration", "must be an object");
    st = ms_json_only(cfg, wh_cfg_members, "configuration", err);
    if (st == MS_OK)
        st = wh_global(err);
    if (st == MS_OK)
        st = wh_headers_check(cfg, err);
    if (st == MS_OK)
        st = ms_json_opt_str(cfg, "secret", "configuration.secret", &secret, err);
    if (st == MS_OK && secret != NULL &&
        json_string_length(json_object_get(cfg, "secret")) > WH_MAX_SECRET_BYTES)
        st = ms_fail_at(err, MS_EINVAL, "configuration.secret", "longer than %d bytes",
                        WH_MAX_SECRET_BYTES);
    if (st == MS_OK)
        st = wh_url_check(json_object_get(cfg, "url"), safe, err);
    return st;
}

static enum ms_status
wh_validate(const json_t *cfg, struct ms_error *err)
{
    return wh_cfg_check(cfg, NULL, err);
}

/* ---- requests ---- */

/*
 * The signature of body sent at unix time ts: lowercase hex of HMAC-SHA256(secret,
 * "<ts>.<body>") into hex (MS_SHA256_HEX_LEN + 1 bytes). Binding the timestamp lets a
 * receiver refuse replays; write() signs its batches with it too.
 */
MS_STATIC void
wh_sign(const char *secret, size_t secret_len, int64_t ts, const char *body, size_t len, char *hex)
{
    char prefix[24];
    int np = snprintf(prefix, sizeof(prefix), "%lld.", (long long)ts);
    char *msg = ms_xmalloc((size_t)np + len + 1);
    uint8_t mac[MS_SHA256_LEN];

    memcpy(msg, prefix, (size_t)np);
    if (len > 0)
        memcpy(msg + np, body, len);
    ms_hmac_sha256_any(secret, secret_len, msg, (size_t)np + len, mac);
    free(msg);
    ms_hex(mac, sizeof(mac), hex);
}

/*
 * Seconds to wait from a Retry-After value (delta-seconds or an IMF-fixdate such as
 * "Sun, 06 Nov 1994 08:49:37 GMT") at unix time now_s; 0 when absent, past or malformed.
 */
MS_STATIC int64_t
wh_retry_after(const char *p, size_t n, int64_t now_s)
{
    static const char months[] = "JanFebMarAprMayJunJulAugSepOctNovDec";
    char buf[64], mon[4];
    struct tm tm = {0};
    int64_t v = 0;
    const char *m;

    while (n > 0 && (*p == ' ' || *p == '\t'))
        p++, n--;
    while (n > 0 && strchr(" \t\r\n", p[n - 1]) != NULL)
        n--;
    if (n == 0 || n >= sizeof(buf))
        return 0;
    if (ms_str_to_i64((struct ms_str){p, n}, &v) != MS_OK) {
        memcpy(buf, p, n);
        buf[n] = '\0';
        if (sscanf(buf, "%*3s, %2d %3s %4d %2d:%2d:%2d GMT", &tm.tm_mday, mon, &tm.tm_year,
                   &tm.tm_hour, &tm.tm_min, &tm.tm_sec) != 6 ||
            (m = strstr(months, mon)) == NULL || (m - months) % 3 != 0 || strlen(mon) != 3)
            return 0;
        tm.tm_mon = (int)(m - months) / 3;
        tm.tm_year -= 1900;
        v = (int64_t)timegm(&tm) - now_s;
    }
    return v < 0 ? 0 : v > WH_MAX_RETRY_AFTER_S ? WH_MAX_RETRY_AFTER_S : v;
}

static size_t
wh_on_body(char *p, size_t size, size_t n, void *arg)
{
    struct wh_cx *s = arg;

    if (ms_buf_add(&s->reply, p, size * n) != MS_OK) {
        s->reply_over = true;
        return 0; /* aborts the transfer with CURLE_WRITE_ERROR */
    }
    return size * n;
}

static size_t
wh_on_header(char *p, size_t size, size_t n, void *arg)
{
    struct wh_cx *s = arg;
    struct ms_str line = {p, size * n};

    if (ms_str_prefix(line, "HTTP/")) /* a new response: after "100 Continue", a final one */
        s->retry_after_s = 0;
    else if (line.len > 12 && ms_str_casec((struct ms_str){p, 12}, "Retry-After:"))
        s->retry_after_s = wh_retry_after(p + 12, line.len - 12, ms_time_now_ms() / 1000);
    return size * n;
}

/* OOM aborts (STYLE.md §3.3); curl_slist_append() reports it as NULL. */
static struct curl_slist *
wh_slist_add(struct curl_slist *l, const char *line)
{
    struct curl_slist *r = curl_slist_append(l, line);

    if (r == NULL)
        abort();
    return r;
}

/* The headers of one request: ours, the configured ones, and the signature when signing. */
static struct curl_slist *
wh_header_list(const struct wh_cx *s, const char *body, size_t len)
{
    struct curl_slist *l = NULL;
    char line[64 + MS_SHA256_HEX_LEN], hex[MS_SHA256_HEX_LEN + 1];
    int64_t ts = ms_time_now_ms() / 1000;

    if (!s->own_type)
        l = wh_slist_add(l, "Content-Type: application/json");
    l = wh_slist_add(l, "Expect:"); /* no 100-continue round trip before large batches */
    for (size_t i = 0; i < s->nlines; i++)
        l = wh_slist_add(l, s->lines[i]);
    if (s->secret != NULL) {
        wh_sign(s->secret, s->secret_len, ts, body, len, hex);
        snprintf(line, sizeof(line), "X-Modelsync-Timestamp: %lld", (long long)ts);
        l = wh_slist_add(l, line);
        snprintf(line, sizeof(line), "X-Modelsync-Signature: sha256=%s", hex);
        l = wh_slist_add(l, line);
    }
    return l;
}

/* A 2xx is MS_OK; 429 and 5xx are worth retrying later; anything else is the receiver's no. */
static enum ms_status
wh_status(struct wh_cx *s, long code, struct ms_error *err)
{
    enum ms_status st;

    if (code >= 200 && code < 300)
        return MS_OK;
    if ((code == 429 || code >= 500) && s->retry_after_s > 0)
        st = ms_fail(err, MS_EBUSY, "webhook: HTTP %ld from %s (Retry-After %lld s)", code,
                     s->url_safe, (long long)s->retry_after_s);
    else if (code == 429 || code >= 500)
        st = ms_fail(err, MS_EBUSY, "webhook: HTTP %ld from %s", code, s->url_safe);
    else
        st = ms_fail(err, MS_EUPSTREAM, "webhook: HTTP %ld from %s", code, s->url_safe);
    if (err != NULL)
        err->native = (int)code;
    return st;
}

static enum ms_status
wh_transport_fail(struct wh_cx *s, CURLcode rc, struct ms_error *err)
{
    if (s->reply_over || rc == CURLE_FILESIZE_EXCEEDED)
        return ms_fail(err, MS_ETOOBIG, "webhook: reply from %s over %zu bytes", s->url_safe,
                       WH_MAX_REPLY_BYTES);
    return ms_fail(err, MS_EUPSTREAM, "webhook: %s: %s", s->url_safe,
                   s->errbuf[0] != '\0' ? s->errbuf : curl_easy_strerror(rc));
}

/*
 * POST body to the URL. MS_OK on a 2xx with the reply in s->reply; MS_EBUSY on 429/5xx with
 * s->retry_after_s; MS_ETOOBIG when the reply passes the cap; MS_EUPSTREAM otherwise. The HTTP
 * status goes in err->native.
 */
static enum ms_status
wh_post(struct wh_cx *s, const char *body, size_t len, struct ms_error *err)
{
    struct curl_slist *hdrs = wh_header_list(s, body, len);
    long code = 0;
    CURLcode rc;

    ms_buf_reset(&s->reply);
    s->reply_over = false;
    s->retry_after_s = 0;
    s->errbuf[0] = '\0';
    rc = curl_easy_setopt(s->curl, CURLOPT_HTTPHEADER, hdrs);
    if (rc == CURLE_OK)
        rc = curl_easy_setopt(s->curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
    if (rc == CURLE_OK)
        rc = curl_easy_setopt(s->curl, CURLOPT_POSTFIELDS, body);
    if (rc == CURLE_OK)
        rc = curl_easy_perform(s->curl);
    if (rc == CURLE_OK)
        rc = curl_easy_getinfo(s->curl, CURLINFO_RESPONSE_CODE, &code);
    curl_easy_setopt(s->curl, CURLOPT_HTTPHEADER, NULL); /* the list dies below */
    curl_easy_setopt(s->curl, CURLOPT_POSTFIELDS, NULL); /* and body is the caller's */
    curl_slist_free_all(hdrs);
    return rc != CURLE_OK ? wh_transport_fail(s, rc, err) : wh_status(s, code, err);
}

/* ---- slots ---- */

/* The options every request shares. */
static CURLcode
wh_setup(struct wh_cx *s)
{
    CURLcode rc = CURLE_OK;

#define WH_OPT(o, v)                                                                               \
    do {                                                                                           \
        if (rc == CURLE_OK)                                                                        \
            rc = curl_easy_setopt(s->curl, o, v);                                                  \
    } while (0)
    WH_OPT(CURLOPT_URL, s->url);
    WH_OPT(CURLOPT_NOSIGNAL, 1L);
    WH_OPT(CURLOPT_TIMEOUT, (long)MS_CX_TIMEOUT_S * 3);
    WH_OPT(CURLOPT_CONNECTTIMEOUT, (long)MS_CX_TIMEOUT_S);
#if LIBCURL_VERSION_NUM >= 0x075500
    WH_OPT(CURLOPT_PROTOCOLS_STR, "http,https");
    WH_OPT(CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
#else
    WH_OPT(CURLOPT_PROTOCOLS, (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
    WH_OPT(CURLOPT_REDIR_PROTOCOLS, (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
#endif
    WH_OPT(CURLOPT_FOLLOWLOCATION, 0L);
    WH_OPT(CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)WH_MAX_REPLY_BYTES);
    WH_OPT(CURLOPT_WRITEFUNCTION, wh_on_body);
    WH_OPT(CURLOPT_WRITEDATA, s);
    WH_OPT(CURLOPT_HEADERFUNCTION, wh_on_header);
    WH_OPT(CURLOPT_HEADERDATA, s);
    WH_OPT(CURLOPT_ERRORBUFFER, s->errbuf);
    WH_OPT(CURLOPT_USERAGENT, "modelsync/" MS_VERSION);
    WH_OPT(CURLOPT_POST, 1L);
#undef WH_OPT
    return rc;
}

/* Free what open() acquired; safe on a partly opened connection. */
static void
wh_release(struct wh_cx *s)
{
    curl_easy_cleanup(s->curl);
    s->curl = NULL;
    free(s->url);
    free(s->url_safe);
    for (size_t i = 0; i < s->nlines; i++)
        free(s->lines[i]);
    free(s->lines);
    if (s->secret != NULL)
        explicit_bzero(s->secret, s->secret_len);
    free(s->secret);
    ms_buf_release(&s->reply);
    ms_buf_release(&s->body);
    *s = (struct wh_cx){.base = s->base};
}

/* Keep the configured headers as ready "Name: value" lines ("Name;" sends an empty value). */
static void
wh_keep_headers(struct wh_cx *s, const json_t *cfg)
{
    const json_t *h = json_object_get(cfg, "headers");
    const char *name;
    json_t *v;

    if (!json_is_object(h))
        return;
    s->lines = ms_xcalloc(json_object_size(h) + 1, sizeof(*s->lines));
    json_object_foreach((json_t *)(uintptr_t)h, name, v)
    {
        size_t n = strlen(name) + json_string_length(v) + 3;
        char *line = ms_xmalloc(n);

        if (json_string_length(v) == 0)
            snprintf(line, n, "%s;", name);
        else
            snprintf(line, n, "%s: %s", name, json_string_value(v));
        s->lines[s->nlines++] = line;
        s->own_type |= ms_str_casec(ms_str_c(name), "Content-Type");
    }
}

static enum ms_status
wh_open(struct ms_cx *cx, const json_t *cfg, struct ms_error *err)
{
    struct wh_cx *s = (struct wh_cx *)cx;
    const json_t *secret = json_object_get(cfg, "secret");
    enum ms_status st;

    *s = (struct wh_cx){.base = s->base};
    ms_buf_init(&s->reply, WH_MAX_REPLY_BYTES);
    ms_buf_init(&s->body, WH_MAX_BODY_BYTES);
    st = wh_cfg_check(cfg, &s->url_safe, err);
    if (st != MS_OK)
        goto out;
    s->url = ms_xstrdup(json_string_value(json_object_get(cfg, "url")));
    wh_keep_headers(s, cfg);
    if (json_is_string(secret) && json_string_length(secret) > 0) {
        s->secret_len = json_string_length(secret);
        s->secret = ms_xmalloc(s->secret_len + 1);
        memcpy(s->secret, json_string_value(secret), s->secret_len + 1);
    }
    s->curl = curl_easy_init();
    if (s->curl == NULL || wh_setup(s) != CURLE_OK)
        st = ms_fail(err, MS_EINTERNAL, "webhook: cannot set up a libcurl handle");
out:
    if (st != MS_OK)
        wh_release(s); /* open() failed, so close() will not run */
    return st;
}

/* An empty batch: proves the receiver answers 2xx (and accepts the signature). */
static enum ms_status
wh_test(struct ms_cx *cx, struct ms_error *err)
{
    static const char body[] = "{\"sync_id\":null,\"execution_id\":null,\"records\":[]}";

    return wh_post((struct wh_cx *)cx, body, sizeof(body) - 1, err);
}

static enum ms_status
wh_objects(struct ms_cx *cx, json_t **out, struct ms_error *err)
{
    (void)cx;
    (void)err;
    *out = json_pack("[{s:s, s:s, s:[o, o, o, o, o]}]", "id", "records", "name", "Records", "modes",
                     ms_cx_mode("create", false), ms_cx_mode("update", true),
                     ms_cx_mode("updateOrCreate", true), ms_cx_mode("remove", true),
                     ms_cx_mode("append", false));
    return MS_OK;
}

/* Free-form: any mapping target is a valid field, so the list is empty. */
static enum ms_status
wh_object_fields(struct ms_cx *cx, const char *object, json_t **out, struct ms_error *err)
{
    (void)cx;
    if (object == NULL || strcmp(object, "records") != 0)
        return ms_fail(err, MS_ENOTFOUND, "webhook: no object %s (only \"records\")",
                       object != NULL ? object : "");
    *out = json_array();
    return MS_OK;
}

/* ---- writing ---- */

/* Appends to one body; after the first refusal (the cap) the rest are skipped. */
struct wh_out {
    struct ms_buf *b;
    enum ms_status st;
};

static void
wh_put(struct wh_out *o, const char *p, size_t n)
{
    if (o->st == MS_OK)
        o->st = ms_buf_add(o->b, p, n);
}

static void
wh_puts(struct wh_out *o, const char *s)
{
    wh_put(o, s, strlen(s));
}

/* Length of the UTF-8 sequence starting at p[i], or 0 when it is not one (each such byte
 * becomes U+FFFD, as ms_value_to_json() does for previews). */
static size_t
wh_utf8_len(const char *p, size_t len, size_t i)
{
    unsigned char c = (unsigned char)p[i];
    size_t n = c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : c >= 0xc0 ? 2 : 0;

    return n > 0 && i + n <= len && ms_cx_utf8_valid(p + i, n) ? n : 0;
}

/* p[0..len) as a JSON string. */
static void
wh_json_str(struct wh_out *o, const char *p, size_t len)
{
    static const char hex[] = "0123456789abcdef";
    size_t run = 0, i = 0;

    wh_put(o, "\"", 1);
    while (i < len) {
        unsigned char c = (unsigned char)p[i];
        char esc[8] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15], 0, 0};
        size_t n = 1, elen = 6;

        if (c >= 0x20 && c < 0x80 && c != '"' && c != '\\') {
            i++;
            continue;
        }
        wh_put(o, p + run, i - run);
        if (c == '"' || c == '\\' || c == '\n' || c == '\t' || c == '\r') {
            esc[1] = c == '\n' ? 'n' : c == '\t' ? 't' : c == '\r' ? 'r' : (char)c;
            elen = 2;
        } else if (c >= 0x80 && (n = wh_utf8_len(p, len, i)) > 0) {
            memcpy(esc, p + i, n);
            elen = n;
        } else if (c >= 0x80) {
            memcpy(esc, "\xef\xbf\xbd", 3);
            elen = 3;
            n = 1;
        }
        wh_put(o, esc, elen);
        i += n;
        run = i;
    }
    wh_put(o, p + run, len - run);
    wh_put(o, "\"", 1);
}

/* A value as JSON: NaN and infinities have no JSON form and become null. */
static void
wh_json_value(struct wh_out *o, const struct ms_value *v)
{
    char num[MS_VALUE_REAL_LEN + 2];
    size_t n;

    switch (v->type) {
    case MS_V_NULL:
        break;
    case MS_V_INT:
        wh_put(o, num, ms_value_int_text(v->u.i, num));
        return;
    case MS_V_REAL:
        if ((n = ms_value_real_text(v->u.d, num)) == 0)
            break;
        if (strpbrk(num, ".e") == NULL) {
            memcpy(num + n, ".0", 3); /* still a real to a typed reader */
            n += 2;
        }
        wh_put(o, num, n);
        return;
    case MS_V_NUM: /* a JSON number already: the source's own text, a real like the above */
        wh_put(o, v->u.s.p, v->u.s.len);
        if (strpbrk(v->u.s.p, ".eE") == NULL)
            wh_put(o, ".0", 2);
        return;
    case MS_V_BOOL:
        wh_puts(o, v->u.b ? "true" : "false");
        return;
    case MS_V_TEXT:
        wh_json_str(o, v->u.s.p, v->u.s.len);
        return;
    }
    wh_puts(o, "null");
}

static void
wh_json_cstr(struct wh_out *o, const char *s)
{
    if (s == NULL)
        wh_puts(o, "null");
    else
        wh_json_str(o, s, strlen(s));
}

/* {"op", "key", "data"} of one op; the identity's field gets the identity value (DECISIONS.md
 * §4, "Identity on writes"), and a delete has no data. */
static void
wh_json_record(struct wh_out *o, const struct ms_write_plan *plan, const struct ms_op *op)
{
    static const char *const names[] = {"insert", "update", "upsert", "delete"};

    wh_puts(o, "{\"op\":\"");
    wh_puts(o, names[op->kind]);
    wh_puts(o, "\",\"key\":");
    wh_json_value(o, &op->key);
    if (op->kind != MS_OP_DELETE) {
        wh_puts(o, ",\"data\":{");
        for (size_t c = 0; c < plan->ncols; c++) {
            bool key = plan->key_col != NULL && strcmp(plan->cols[c], plan->key_col) == 0;

            wh_puts(o, c > 0 ? "," : "");
            wh_json_cstr(o, plan->cols[c]);
            wh_put(o, ":", 1);
            wh_json_value(o, key ? &op->key : &op->vals[c]);
        }
        wh_put(o, "}", 1);
    }
    wh_put(o, "}", 1);
}

/* The batch's body into s->body; MS_ETOOBIG over WH_MAX_BODY_BYTES. */
static enum ms_status
wh_body(struct wh_cx *s, const struct ms_ops *ops, struct ms_error *err)
{
    struct wh_out o = {&s->body, MS_OK};

    ms_buf_reset(&s->body);
    wh_puts(&o, "{\"sync_id\":");
    wh_json_cstr(&o, s->plan->sync_id);
    wh_puts(&o, ",\"execution_id\":");
    wh_json_cstr(&o, s->plan->execution_id);
    wh_puts(&o, ",\"records\":[");
    for (size_t i = 0; i < ops->n && o.st == MS_OK; i++) {
        wh_puts(&o, i > 0 ? "," : "");
        wh_json_record(&o, s->plan, &ops->op[i]);
    }
    wh_puts(&o, "]}");
    if (o.st != MS_OK)
        return ms_fail(err, MS_ETOOBIG,
                       "webhook: a batch of %zu records is over %zu bytes of JSON; use smaller "
                       "batches",
                       ops->n, WH_MAX_BODY_BYTES);
    return MS_OK;
}

static enum ms_status
wh_bad_reply(const struct wh_cx *s, const char *why, struct ms_error *err)
{
    return ms_fail(err, MS_EUPSTREAM, "webhook: malformed reply from %s: %s", s->url_safe, why);
}

/* At most max bytes of p[0..len), not ending inside a UTF-8 sequence. */
static size_t
wh_cut(const char *p, size_t len, size_t max)
{
    if (len <= max)
        return len;
    while (max > 0 && ((unsigned char)p[max] & 0xc0) == 0x80)
        max--;
    return max;
}

/* True when e is {"index": 0..n-1, "error": "…"} (other members are ignored). */
static bool
wh_rejection_ok(const json_t *e, size_t n)
{
    const json_t *idx = json_object_get(e, "index");

    return json_is_integer(idx) && json_integer_value(idx) >= 0 &&
           (uint64_t)json_integer_value(idx) < n && json_is_string(json_object_get(e, "error"));
}

/* Check the whole reply before marking anything: a bad one must leave every op unmarked. */
static enum ms_status
wh_rejections_check(const struct wh_cx *s, const json_t *j, size_t n, struct ms_error *err)
{
    const json_t *rej = json_object_get(j, "rejected");

    if (!json_is_object(j))
        return wh_bad_reply(s, "not a JSON object", err);
    if (rej != NULL && !json_is_null(rej) && !json_is_array(rej))
        return wh_bad_reply(s, "\"rejected\" is not an array", err);
    for (size_t k = 0; k < json_array_size(rej); k++)
        if (!wh_rejection_ok(json_array_get(rej, k), n))
            return wh_bad_reply(s, "a rejection needs an index into the batch and an error", err);
    return MS_OK;
}

/*
 * Read {"rejected": [{"index", "error"}]} from a 2xx reply and mark those ops. A reply that is
 * empty or not a JSON object ("ok") rejects nothing; an object that does not parse, or a
 * rejected member of the wrong shape or naming an op outside the batch, is MS_EUPSTREAM and
 * marks nothing.
 */
static enum ms_status
wh_rejections(const struct wh_cx *s, struct ms_ops *ops, struct ms_error *err)
{
    const char *p = ms_buf_str(&s->reply);
    size_t i = strspn(p, " \t\r\n");
    json_t *j, *rej;
    enum ms_status st;

    if (i == s->reply.len || p[i] != '{')
        return MS_OK;
    j = json_loadb(p, s->reply.len, 0, NULL);
    st = wh_rejections_check(s, j, ops->n, err);
    rej = json_object_get(j, "rejected");
    for (size_t k = 0; st == MS_OK && k < json_array_size(rej); k++) {
        const json_t *e = json_array_get(rej, k);
        struct ms_op *op = &ops->op[json_integer_value(json_object_get(e, "index"))];
        const char *msg = json_string_value(json_object_get(e, "error"));
        size_t len = json_string_length(json_object_get(e, "error"));

        op->rejected = true;
        op->error = len == 0
                        ? "rejected by the receiver"
                        : ms_arena_strndup(ops->arena, msg, wh_cut(msg, len, WH_MAX_ERROR_BYTES));
    }
    json_decref(j);
    return st;
}

/* The modes objects() offers for "records". */
static bool
wh_mode_ok(const char *mode)
{
    static const char *const modes[] = {"create", "update", "updateOrCreate", "remove", "append"};

    for (size_t i = 0; mode != NULL && i < MS_ARRAY_LEN(modes); i++)
        if (strcmp(mode, modes[i]) == 0)
            return true;
    return false;
}

/* Remember the plan: every batch is one request, there is nothing to open. */
static enum ms_status
wh_write_begin(struct ms_cx *cx, const struct ms_write_plan *plan, struct ms_error *err)
{
    struct wh_cx *s = (struct wh_cx *)cx;

    if (plan == NULL || plan->object == NULL || strcmp(plan->object, "records") != 0)
        return ms_fail_at(err, MS_EUNPROC, "target.object",
                          "webhook: no object %s (only "
                          "\"records\")",
                          plan != NULL && plan->object != NULL ? plan->object : "");
    if (plan->ncols > MS_MAX_COLUMNS || (plan->ncols > 0 && plan->cols == NULL))
        return ms_fail(err, MS_EINTERNAL, "webhook: a plan with %zu columns", plan->ncols);
    if (!wh_mode_ok(plan->mode))
        return ms_fail_key(err, MS_EUNSUPP, "unsupported_mode", "webhooks do not support mode %s",
                           plan->mode != NULL ? plan->mode : "(none)");
    s->plan = plan;
    return MS_OK;
}

static enum ms_status
wh_write_check(const struct wh_cx *s, const struct ms_ops *ops, struct ms_error *err)
{
    if (s->plan == NULL)
        return ms_fail(err, MS_EINTERNAL, "webhook: no write_begin");
    for (size_t i = 0; i < ops->n; i++) {
        const struct ms_op *op = &ops->op[i];

        if ((unsigned)op->kind > MS_OP_DELETE)
            return ms_fail(err, MS_EINTERNAL, "webhook: op %zu has no valid kind", i);
        if (op->kind != MS_OP_DELETE && op->vals == NULL && s->plan->ncols > 0)
            return ms_fail(err, MS_EINTERNAL, "webhook: op %zu has no values", i);
    }
    return MS_OK;
}

/* One POST per batch: all acknowledged on a 2xx but what the reply rejects. */
static enum ms_status
wh_write(struct ms_cx *cx, struct ms_ops *ops, struct ms_error *err)
{
    struct wh_cx *s = (struct wh_cx *)cx;
    enum ms_status st = wh_write_check(s, ops, err);

    for (size_t i = 0; i < ops->n; i++) {
        ops->op[i].rejected = false;
        ops->op[i].error = NULL;
    }
    if (st != MS_OK || ops->n == 0)
        return st;
    st = wh_body(s, ops, err);
    if (st == MS_OK)
        st = wh_post(s, s->body.p, s->body.len, err);
    if (st == MS_OK)
        st = wh_rejections(s, ops, err);
    return st;
}

/* Every acknowledged batch is already with the receiver: nothing to commit or undo. */
static enum ms_status
wh_write_end(struct ms_cx *cx, bool commit, struct ms_error *err)
{
    (void)commit;
    (void)err;
    ((struct wh_cx *)cx)->plan = NULL;
    return MS_OK;
}

static enum ms_status
wh_control(struct ms_cx *cx, int op, void *arg)
{
    struct wh_cx *s = (struct wh_cx *)cx;

    if (op != MS_CX_CTL_RETRY_AFTER || arg == NULL)
        return MS_EUNSUPP;
    *(int64_t *)arg = s->retry_after_s;
    return MS_OK;
}

static void
wh_close(struct ms_cx *cx)
{
    wh_release((struct wh_cx *)cx);
}

static const char wh_schema[] =
    "{\"$schema\": \"https://json-schema.org/draft/2020-12/schema\","
    " \"title\": \"Webhook\", \"type\": \"object\","
    " \"properties\": {"
    "  \"url\": {\"type\": \"string\", \"title\": \"URL\", \"format\": \"uri\", \"minLength\": 1,"
    "   \"maxLength\": 2048, \"pattern\": \"^[Hh][Tt][Tt][Pp][Ss]?://[^/?#]+\","
    "   \"description\": \"http:// or https:// URL that receives the record batches\"},"
    "  \"headers\": {\"type\": \"object\", \"title\": \"Headers\", \"maxProperties\": 64,"
    "   \"description\": \"Extra request headers; not Content-Length, Host or"
    " Transfer-Encoding\","
    "   \"propertyNames\": {\"pattern\": \"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$\"},"
    "   \"additionalProperties\": {\"type\": \"string\", \"maxLength\": 8192}},"
    "  \"secret\": {\"type\": \"string\", \"title\": \"Signing secret\", \"maxLength\": 1024,"
    "   \"writeOnly\": true, \"format\": \"password\","
    "   \"description\": \"Signs each request: X-Modelsync-Signature: sha256=<hex HMAC-SHA256 of"
    " timestamp.body>\"}"
    " },"
    " \"required\": [\"url\"],"
    " \"additionalProperties\": {\"not\": {}}}";

static const char *const wh_secrets[] = {"secret", NULL};

const struct ms_connector ms_connector_webhook = {
    .abi = MS_CONNECTOR_ABI,
    .type = "webhook",
    .name = "Webhook",
    .flags = MS_CX_DEST | MS_CX_FREEFORM,
    .size = sizeof(struct wh_cx),
    .secrets = wh_secrets,
    .schema = wh_schema,
    .target_creation = NULL,
    .validate = wh_validate,
    .open = wh_open,
    .test = wh_test,
    .objects = wh_objects,
    .object_fields = wh_object_fields,
    .write = wh_write,
    .control = wh_control,
    .close = wh_close,
    .write_begin = wh_write_begin,
    .write_end = wh_write_end,
};
