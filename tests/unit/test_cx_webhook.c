/* tests/unit/test_cx_webhook.c: the webhook connector (connectors/webhook.c) against a tiny HTTP
 * receiver on 127.0.0.1 (one thread, plain sockets) that records the request and answers a
 * configured status, headers and body. Signatures are checked with libsodium directly. */
#include <criterion/criterion.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdarg.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "connectors/connector.h"
#include "connectors/connectors_int.h"
#include "core/crypto.h"
#include "core/time.h"

#define WHT_REPLY_CAP (64 << 10)

/* One request/response exchange on a loopback socket. */
struct wht_srv {
    int lfd, port;
    pthread_t th;
    int status;        /* HTTP status to answer */
    char extra[256];   /* extra response header lines, each ending in \r\n */
    size_t body_len;   /* reply body of that many 'x' */
    bool no_length;    /* close-delimited reply, no Content-Length */
    char req[1 << 16]; /* the request as received, NUL-terminated */
    size_t req_len;
    size_t head_len; /* the body starts at req + head_len */
};

static struct wht_srv wht;

static void
wht_init(void)
{
    cr_assert_eq(ms_crypto_init(NULL), MS_OK);
    cr_assert_geq(sodium_init(), 0);
}

TestSuite(cx_webhook, .init = wht_init);

/* First case-insensitive occurrence of needle in hay, or NULL. */
static const char *
wht_find(const char *hay, const char *needle)
{
    size_t n = strlen(needle);

    for (; *hay != '\0'; hay++)
        if (strncasecmp(hay, needle, n) == 0)
            return hay;
    return NULL;
}

/* Content-Length of the request head in req[0..head_len), 0 if absent. */
static size_t
wht_content_length(const char *head)
{
    const char *p = wht_find(head, "\r\nContent-Length:");

    return p != NULL ? (size_t)strtoul(p + 17, NULL, 10) : 0;
}

static void
wht_read_request(int fd)
{
    char *end = NULL;
    ssize_t n;

    while (wht.req_len < sizeof(wht.req) - 1) {
        if (end != NULL && wht.req_len >= wht.head_len + wht_content_length(wht.req))
            break;
        n = recv(fd, wht.req + wht.req_len, sizeof(wht.req) - 1 - wht.req_len, 0);
        if (n <= 0)
            break;
        wht.req_len += (size_t)n;
        wht.req[wht.req_len] = '\0';
        if (end == NULL && (end = strstr(wht.req, "\r\n\r\n")) != NULL)
            wht.head_len = (size_t)(end - wht.req) + 4;
    }
}

static void
wht_reply(int fd)
{
    char head[512];
    char *body = malloc(wht.body_len + 1);
    int n;

    memset(body, 'x', wht.body_len);
    if (wht.no_length)
        n = snprintf(head, sizeof(head), "HTTP/1.1 %d X\r\nConnection: close\r\n%s\r\n", wht.status,
                     wht.extra);
    else
        n = snprintf(head, sizeof(head),
                     "HTTP/1.1 %d X\r\nConnection: close\r\n%sContent-Length: %zu\r\n\r\n",
                     wht.status, wht.extra, wht.body_len);
    send(fd, head, (size_t)n, MSG_NOSIGNAL);
    for (size_t off = 0; off < wht.body_len;) {
        ssize_t k = send(fd, body + off, wht.body_len - off, MSG_NOSIGNAL);

        if (k <= 0)
            break; /* the client gave up: that is what the cap tests want */
        off += (size_t)k;
    }
    free(body);
}

static void *
wht_main(void *arg)
{
    int fd = accept(wht.lfd, NULL, NULL);

    (void)arg;
    if (fd < 0)
        return NULL;
    wht_read_request(fd);
    wht_reply(fd);
    shutdown(fd, SHUT_WR);
    close(fd);
    return NULL;
}

/* Listen on 127.0.0.1:0 and answer one request in a thread. */
static void
wht_start(int status, const char *extra, size_t body_len, bool no_length)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t sl = sizeof(sa);

    memset(&wht, 0, sizeof(wht));
    wht.status = status;
    snprintf(wht.extra, sizeof(wht.extra), "%s", extra);
    wht.body_len = body_len;
    wht.no_length = no_length;
    wht.lfd = socket(AF_INET, SOCK_STREAM, 0);
    cr_assert_geq(wht.lfd, 0);
    cr_assert_eq(bind(wht.lfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    cr_assert_eq(listen(wht.lfd, 4), 0);
    cr_assert_eq(getsockname(wht.lfd, (struct sockaddr *)&sa, &sl), 0);
    wht.port = ntohs(sa.sin_port);
    cr_assert_eq(pthread_create(&wht.th, NULL, wht_main, NULL), 0);
}

static void
wht_join(void)
{
    pthread_join(wht.th, NULL);
    close(wht.lfd);
}

/* Value of request header name (exact line "Name: value"), or NULL. */
static const char *
wht_header(const char *name, char *out, size_t n)
{
    char key[128];
    const char *p, *e;

    snprintf(key, sizeof(key), "\r\n%s:", name);
    p = wht_find(wht.req, key);
    if (p == NULL || p > wht.req + wht.head_len)
        return NULL;
    p += strlen(key);
    while (*p == ' ')
        p++;
    e = strstr(p, "\r\n");
    snprintf(out, n, "%.*s", (int)(e - p), p);
    return out;
}

/* The configuration JSON of a printf-style template (the receiver's port goes in %d). */
static json_t *wht_cfgv(const char *fmt, va_list ap) __attribute__((format(printf, 1, 0)));
static struct ms_cx *wht_open(const char *fmt, ...) MS_PRINTF(1, 2);

static json_t *
wht_cfgv(const char *fmt, va_list ap)
{
    char text[1024];
    json_t *j;

    vsnprintf(text, sizeof(text), fmt, ap);
    j = json_loads(text, 0, NULL);
    cr_assert_not_null(j, "bad test JSON: %s", text);
    return j;
}

static struct ms_cx *
wht_open(const char *fmt, ...)
{
    va_list ap;
    json_t *cfg;
    struct ms_cx *cx = NULL;
    struct ms_error err = {0};

    va_start(ap, fmt);
    cfg = wht_cfgv(fmt, ap);
    va_end(ap);
    cr_assert_eq(ms_cx_open(&ms_connector_webhook, cfg, &cx, &err), MS_OK, "%s", err.msg);
    json_decref(cfg);
    return cx;
}

/* Independent check of the signature: libsodium's HMAC over "<ts>.<body>". */
static void
wht_expect_hmac(const char *secret, const char *ts, const char *body, size_t len,
                const char *got_hex)
{
    crypto_auth_hmacsha256_state st;
    unsigned char mac[crypto_auth_hmacsha256_BYTES];
    char hex[2 * sizeof(mac) + 1];

    crypto_auth_hmacsha256_init(&st, (const unsigned char *)secret, strlen(secret));
    crypto_auth_hmacsha256_update(&st, (const unsigned char *)ts, strlen(ts));
    crypto_auth_hmacsha256_update(&st, (const unsigned char *)".", 1);
    crypto_auth_hmacsha256_update(&st, (const unsigned char *)body, len);
    crypto_auth_hmacsha256_final(&st, mac);
    sodium_bin2hex(hex, sizeof(hex), mac, sizeof(mac));
    cr_expect_str_eq(got_hex, hex);
}

Test(cx_webhook, descriptor)
{
    const struct ms_connector *c = &ms_connector_webhook;
    json_t *schema = json_loads(c->schema, 0, NULL);

    cr_expect_str_eq(c->type, "webhook");
    cr_expect_str_eq(c->name, "Webhook");
    cr_expect_eq(c->flags, MS_CX_DEST | MS_CX_FREEFORM);
    cr_expect_str_eq(c->secrets[0], "secret");
    cr_expect_null(c->secrets[1]);
    cr_expect_null(c->target_creation);
    cr_expect_eq(registry_check_one(c, NULL), MS_OK);
    cr_assert_not_null(schema);
    cr_expect(json_is_true(json_object_get(
        json_object_get(json_object_get(schema, "properties"), "secret"), "writeOnly")));
    cr_expect_str_eq(json_string_value(json_array_get(json_object_get(schema, "required"), 0)),
                     "url");
    json_decref(schema);
}

Test(cx_webhook, validate_errors)
{
    static const struct {
        const char *cfg, *field;
    } bad[] = {
        {"[]", "configuration"},
        {"{}", "configuration.url"},
        {"{\"url\": null}", "configuration.url"},
        {"{\"url\": 5}", "configuration.url"},
        {"{\"url\": \"\"}", "configuration.url"},
        {"{\"url\": \"ftp://example.com/x\"}", "configuration.url"},
        {"{\"url\": \"example.com/hook\"}", "configuration.url"},
        {"{\"url\": \"http://\"}", "configuration.url"},
        {"{\"url\": \"http://exa mple.com/\"}", "configuration.url"},
        {"{\"url\": \"http://example.com/\\u0000x\"}", "configuration.url"},
        {"{\"url\": \"http://h/\", \"extra\": 1}", "configuration.extra"},
        {"{\"url\": \"http://h/\", \"headers\": []}", "configuration.headers"},
        {"{\"url\": \"http://h/\", \"headers\": {\"Bad Name\": \"x\"}}",
         "configuration.headers.Bad Name"},
        {"{\"url\": \"http://h/\", \"headers\": {\"\": \"x\"}}", "configuration.headers."},
        {"{\"url\": \"http://h/\", \"headers\": {\"content-length\": \"5\"}}",
         "configuration.headers.content-length"},
        {"{\"url\": \"http://h/\", \"headers\": {\"Host\": \"a\"}}", "configuration.headers.Host"},
        {"{\"url\": \"http://h/\", \"headers\": {\"Transfer-Encoding\": \"chunked\"}}",
         "configuration.headers.Transfer-Encoding"},
        {"{\"url\": \"http://h/\", \"headers\": {\"X-A\": 5}}", "configuration.headers.X-A"},
        {"{\"url\": \"http://h/\", \"headers\": {\"X-A\": \"a\\r\\nX-B: b\"}}",
         "configuration.headers.X-A"},
        {"{\"url\": \"http://h/\", \"secret\": 5}", "configuration.secret"},
    };
    struct ms_error err;

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        json_t *cfg = json_loads(bad[i].cfg, JSON_ALLOW_NUL, NULL);

        cr_assert_not_null(cfg, "%s", bad[i].cfg);
        memset(&err, 0, sizeof(err));
        cr_expect_eq(ms_connector_webhook.validate(cfg, &err), MS_EINVAL, "%s", bad[i].cfg);
        cr_expect_str_eq(err.field, bad[i].field, "%s: %s", bad[i].cfg, err.msg);
        json_decref(cfg);
    }
}

Test(cx_webhook, validate_limits)
{
    char url[2100] = "http://example.com/";
    json_t *cfg, *h = json_object();
    struct ms_error err = {0};

    memset(url + strlen(url), 'a', 2048 - strlen(url));
    url[2048] = '\0';
    cfg = json_pack("{s:s}", "url", url);
    cr_expect_eq(ms_connector_webhook.validate(cfg, &err), MS_OK, "2048 bytes: %s", err.msg);
    json_decref(cfg);
    strcat(url, "a");
    cfg = json_pack("{s:s}", "url", url);
    cr_expect_eq(ms_connector_webhook.validate(cfg, &err), MS_EINVAL, "2049 bytes");
    cr_expect_str_eq(err.field, "configuration.url");
    json_decref(cfg);
    for (int i = 0; i < 64; i++) {
        char name[16];

        snprintf(name, sizeof(name), "X-H%d", i);
        json_object_set_new(h, name, json_string("v"));
    }
    cfg = json_pack("{s:s, s:O}", "url", "https://example.com/hook?a=1", "headers", h);
    cr_expect_eq(ms_connector_webhook.validate(cfg, &err), MS_OK, "64 headers: %s", err.msg);
    json_decref(cfg);
    json_object_set_new(h, "X-H64", json_string("v"));
    cfg = json_pack("{s:s, s:o}", "url", "https://example.com/hook", "headers", h);
    cr_expect_eq(ms_connector_webhook.validate(cfg, &err), MS_EINVAL, "65 headers");
    cr_expect_str_eq(err.field, "configuration.headers");
    json_decref(cfg);
    cfg = json_pack("{s:s, s:{s:s}, s:s}", "url", "HTTPS://Example.com:8443/x", "headers",
                    "Authorization", "Bearer abc", "secret", "");
    cr_expect_eq(ms_connector_webhook.validate(cfg, &err), MS_OK, "%s", err.msg);
    json_decref(cfg);
}

Test(cx_webhook, test_signed_with_headers)
{
    struct ms_cx *cx;
    struct ms_error err = {0};
    char v[256], ts[32];
    const char *body;
    int64_t now = ms_time_now_ms() / 1000;

    wht_start(204, "", 0, false);
    cx = wht_open("{\"url\": \"http://127.0.0.1:%d/in/hook?token=abc\", \"headers\":"
                  " {\"X-Api-Key\": \"k1\", \"X-Empty\": \"\"}, \"secret\": \"s3cr3t\"}",
                  wht.port);
    cr_expect_eq(ms_connector_webhook.test(cx, &err), MS_OK, "%s", err.msg);
    wht_join();
    cr_expect(strncmp(wht.req, "POST /in/hook?token=abc HTTP/1.1\r\n", 34) == 0, "%s", wht.req);
    cr_expect_str_eq(wht_header("Content-Type", v, sizeof(v)), "application/json");
    cr_expect_str_eq(wht_header("User-Agent", v, sizeof(v)), "modelsync/" MS_VERSION);
    cr_expect_str_eq(wht_header("X-Api-Key", v, sizeof(v)), "k1");
    cr_expect_str_eq(wht_header("X-Empty", v, sizeof(v)), "");
    body = wht.req + wht.head_len;
    cr_expect_str_eq(body, "{\"sync_id\":null,\"execution_id\":null,\"records\":[]}");
    cr_assert_not_null(wht_header("X-Modelsync-Timestamp", ts, sizeof(ts)));
    cr_expect(llabs(strtoll(ts, NULL, 10) - now) <= 60, "timestamp %s, now %lld", ts,
              (long long)now);
    cr_assert_not_null(wht_header("X-Modelsync-Signature", v, sizeof(v)));
    cr_assert(strncmp(v, "sha256=", 7) == 0, "%s", v);
    wht_expect_hmac("s3cr3t", ts, body, strlen(body), v + 7);
    ms_cx_close(cx);
}

Test(cx_webhook, test_unsigned_without_secret)
{
    struct ms_cx *cx;
    struct ms_error err = {0};
    char v[256];

    wht_start(200, "", 2, false);
    cx = wht_open("{\"url\": \"http://127.0.0.1:%d/\", \"headers\": {\"content-type\":"
                  " \"application/json; charset=utf-8\"}}",
                  wht.port);
    cr_expect_eq(ms_connector_webhook.test(cx, &err), MS_OK, "%s", err.msg);
    wht_join();
    cr_expect_null(wht_header("X-Modelsync-Signature", v, sizeof(v)));
    cr_expect_null(wht_header("X-Modelsync-Timestamp", v, sizeof(v)));
    cr_expect_str_eq(wht_header("Content-Type", v, sizeof(v)), "application/json; charset=utf-8");
    cr_expect_null(strstr(wht_find(wht.req, "Content-Type:") + 13, "Content-Type:"),
                   "a configured Content-Type replaces ours");
    ms_cx_close(cx);
}

Test(cx_webhook, not_found_is_upstream)
{
    struct ms_cx *cx;
    struct ms_error err = {0};
    char want[128];

    wht_start(404, "", 9, false);
    cx = wht_open("{\"url\": \"http://127.0.0.1:%d/hook?token=abc#frag\"}", wht.port);
    cr_expect_eq(ms_connector_webhook.test(cx, &err), MS_EUPSTREAM);
    wht_join();
    cr_expect_eq(err.native, 404);
    snprintf(want, sizeof(want), "webhook: HTTP 404 from http://127.0.0.1:%d/hook", wht.port);
    cr_expect_str_eq(err.msg, want);
    cr_expect_null(strstr(err.msg, "token"), "the query string stays out of messages");
    ms_cx_close(cx);
}

Test(cx_webhook, unavailable_is_busy_with_retry_after)
{
    struct ms_cx *cx;
    struct ms_error err = {0};
    int64_t wait = -1;

    wht_start(503, "Retry-After: 7\r\n", 0, false);
    cx = wht_open("{\"url\": \"http://127.0.0.1:%d/h\"}", wht.port);
    cr_expect_eq(ms_connector_webhook.test(cx, &err), MS_EBUSY);
    wht_join();
    cr_expect_eq(err.native, 503);
    cr_expect_eq(ms_connector_webhook.control(cx, MS_CX_CTL_RETRY_AFTER, &wait), MS_OK);
    cr_expect_eq(wait, 7);
    cr_expect_neq(strstr(err.msg, "HTTP 503"), NULL, "%s", err.msg);
    cr_expect_eq(ms_connector_webhook.control(cx, 999, &wait), MS_EUNSUPP);
    ms_cx_close(cx);
}

Test(cx_webhook, rate_limited_is_busy_with_http_date)
{
    struct ms_cx *cx;
    struct ms_error err = {0};
    char extra[128];
    time_t at = time(NULL) + 120;
    struct tm tm;
    int64_t wait = -1;

    gmtime_r(&at, &tm);
    strftime(extra, sizeof(extra), "Retry-After: %a, %d %b %Y %H:%M:%S GMT\r\n", &tm);
    wht_start(429, extra, 0, false);
    cx = wht_open("{\"url\": \"http://127.0.0.1:%d/h\"}", wht.port);
    cr_expect_eq(ms_connector_webhook.test(cx, &err), MS_EBUSY);
    wht_join();
    cr_expect_eq(err.native, 429);
    cr_expect_eq(ms_connector_webhook.control(cx, MS_CX_CTL_RETRY_AFTER, &wait), MS_OK);
    cr_expect(wait >= 100 && wait <= 120, "wait %lld", (long long)wait);
    ms_cx_close(cx);
}

Test(cx_webhook, server_error_without_retry_after)
{
    struct ms_cx *cx;
    struct ms_error err = {0};
    int64_t wait = -1;

    wht_start(500, "", 5, false);
    cx = wht_open("{\"url\": \"http://127.0.0.1:%d/h\"}", wht.port);
    cr_expect_eq(ms_connector_webhook.test(cx, &err), MS_EBUSY);
    wht_join();
    cr_expect_eq(err.native, 500);
    ms_connector_webhook.control(cx, MS_CX_CTL_RETRY_AFTER, &wait);
    cr_expect_eq(wait, 0);
    ms_cx_close(cx);
}

Test(cx_webhook, redirect_is_not_followed)
{
    struct ms_cx *cx;
    struct ms_error err = {0};

    wht_start(302, "Location: http://127.0.0.1:1/elsewhere\r\n", 0, false);
    cx = wht_open("{\"url\": \"http://127.0.0.1:%d/h\"}", wht.port);
    cr_expect_eq(ms_connector_webhook.test(cx, &err), MS_EUPSTREAM);
    wht_join();
    cr_expect_eq(err.native, 302);
    ms_cx_close(cx);
}

Test(cx_webhook, reply_at_the_cap_is_fine)
{
    struct ms_cx *cx;
    struct ms_error err = {0};

    wht_start(200, "", WHT_REPLY_CAP, false);
    cx = wht_open("{\"url\": \"http://127.0.0.1:%d/h\"}", wht.port);
    cr_expect_eq(ms_connector_webhook.test(cx, &err), MS_OK, "%s", err.msg);
    wht_join();
    ms_cx_close(cx);
}

Test(cx_webhook, oversized_reply_with_length)
{
    struct ms_cx *cx;
    struct ms_error err = {0};

    wht_start(200, "", WHT_REPLY_CAP + 1, false);
    cx = wht_open("{\"url\": \"http://127.0.0.1:%d/h\"}", wht.port);
    cr_expect_eq(ms_connector_webhook.test(cx, &err), MS_ETOOBIG, "%s", err.msg);
    wht_join();
    ms_cx_close(cx);
}

Test(cx_webhook, oversized_reply_without_length)
{
    struct ms_cx *cx;
    struct ms_error err = {0};

    wht_start(200, "", 4 * WHT_REPLY_CAP, true);
    cx = wht_open("{\"url\": \"http://127.0.0.1:%d/h\"}", wht.port);
    cr_expect_eq(ms_connector_webhook.test(cx, &err), MS_ETOOBIG, "%s", err.msg);
    wht_join();
    ms_cx_close(cx);
}

Test(cx_webhook, connection_refused_is_upstream)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t sl = sizeof(sa);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct ms_cx *cx;
    struct ms_error err = {0};
    int64_t t0;

    /* A port that was just free and has no listener. */
    cr_assert_eq(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    cr_assert_eq(getsockname(fd, (struct sockaddr *)&sa, &sl), 0);
    close(fd);
    cx = wht_open("{\"url\": \"http://127.0.0.1:%d/h\"}", ntohs(sa.sin_port));
    t0 = ms_time_mono_ms();
    cr_expect_eq(ms_connector_webhook.test(cx, &err), MS_EUPSTREAM, "%s", err.msg);
    cr_expect_lt(ms_time_mono_ms() - t0, 5000);
    cr_expect_eq(err.native, 0);
    cr_expect_neq(strstr(err.msg, "webhook: http://127.0.0.1:"), NULL, "%s", err.msg);
    ms_cx_close(cx);
}

Test(cx_webhook, objects_and_fields)
{
    struct ms_cx *cx = wht_open("{\"url\": \"https://example.com:%d/h\"}", 443);
    struct ms_error err = {0};
    json_t *out = NULL, *modes;
    static const char *const ids[] = {"create", "update", "updateOrCreate", "remove", "append"};
    static const bool identity[] = {false, true, true, true, false};

    cr_assert_eq(ms_connector_webhook.objects(cx, &out, &err), MS_OK);
    cr_assert_eq(json_array_size(out), 1);
    cr_expect_str_eq(json_string_value(json_object_get(json_array_get(out, 0), "id")), "records");
    cr_expect_str_eq(json_string_value(json_object_get(json_array_get(out, 0), "name")), "Records");
    modes = json_object_get(json_array_get(out, 0), "modes");
    cr_assert_eq(json_array_size(modes), 5);
    for (size_t i = 0; i < 5; i++) {
        json_t *m = json_array_get(modes, i);

        cr_expect_str_eq(json_string_value(json_object_get(m, "id")), ids[i]);
        cr_expect_eq(json_is_true(json_object_get(m, "requires_identity")), identity[i], "%s",
                     ids[i]);
    }
    json_decref(out);
    out = NULL;
    cr_expect_eq(ms_connector_webhook.object_fields(cx, "records", &out, &err), MS_OK);
    cr_expect(json_is_array(out) && json_array_size(out) == 0);
    json_decref(out);
    cr_expect_eq(ms_connector_webhook.object_fields(cx, "other", &out, &err), MS_ENOTFOUND);
    ms_cx_close(cx);
}

Test(cx_webhook, retry_after_values)
{
    int64_t now = 784111777; /* Sun, 06 Nov 1994 08:49:37 GMT */

    cr_expect_eq(wh_retry_after("7", 1, now), 7);
    cr_expect_eq(wh_retry_after(" 12 \r\n", 6, now), 12);
    cr_expect_eq(wh_retry_after("0", 1, now), 0);
    cr_expect_eq(wh_retry_after("-5", 2, now), 0);
    cr_expect_eq(wh_retry_after("99999999", 8, now), 86400, "capped at a day");
    cr_expect_eq(wh_retry_after(" Sun, 06 Nov 1994 08:50:07 GMT\r\n", 33, now), 30);
    cr_expect_eq(wh_retry_after("Sun, 06 Nov 1994 08:49:00 GMT", 29, now), 0, "in the past");
    cr_expect_eq(wh_retry_after("Sun, 06 Foo 1994 08:50:07 GMT", 29, now), 0);
    cr_expect_eq(wh_retry_after("soon", 4, now), 0);
    cr_expect_eq(wh_retry_after("", 0, now), 0);
}

static const char wht_long_key[] =
    "a-secret-that-is-longer-than-the-sixty-four-byte-block-of-sha-256-xyz";

Test(cx_webhook, signature_function)
{
    char hex[MS_SHA256_HEX_LEN + 1];
    static const char body[] = "{\"records\":[{\"op\":\"insert\"}]}";

    wh_sign("key", 3, 1700000000, body, strlen(body), hex);
    cr_expect_eq(strlen(hex), MS_SHA256_HEX_LEN);
    wht_expect_hmac("key", "1700000000", body, strlen(body), hex);
    /* A key longer than SHA-256's 64-byte block is hashed first: still the same HMAC. */
    wh_sign(wht_long_key, strlen(wht_long_key), 0, "", 0, hex);
    wht_expect_hmac(wht_long_key, "0", "", 0, hex);
}
