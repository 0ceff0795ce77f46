/* tests/unit/test_cx_webhook_write.c: the webhook connector's write side (connectors/webhook.c)
 * against a small HTTP receiver on 127.0.0.1 (one thread, plain sockets) that keeps each
 * request and answers each with a configured status, headers and body. Bodies are checked by
 * parsing them with jansson and signatures with libsodium, independently of the connector. */
#include <criterion/criterion.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "connectors/connector.h"
#include "core/arena.h"
#include "core/crypto.h"

#define WHW_MAX_REQS 4

/* What the receiver answers to one request. */
struct whw_answer {
    int status;
    const char *headers; /* extra header lines, each ending in \r\n */
    const char *body;
};

static struct {
    int lfd, port, nreq;
    pthread_t th;
    struct whw_answer ans[WHW_MAX_REQS];
    char *head[WHW_MAX_REQS]; /* request line and headers, owned */
    char *body[WHW_MAX_REQS]; /* request body, owned, NUL-terminated */
    size_t body_len[WHW_MAX_REQS];
    int got; /* requests received */
} whw;

static void
whw_init(void)
{
    cr_assert_eq(ms_crypto_init(NULL), MS_OK);
    cr_assert_geq(sodium_init(), 0);
}

TestSuite(cx_webhook_write, .init = whw_init, .timeout = 60);

/* First case-insensitive occurrence of needle in hay, or NULL. */
static const char *
whw_find(const char *hay, const char *needle)
{
    size_t n = strlen(needle);

    for (; *hay != '\0'; hay++)
        if (strncasecmp(hay, needle, n) == 0)
            return hay;
    return NULL;
}

/* Read one request from fd into head/body slot i. */
static bool
whw_read(int fd, int i)
{
    size_t cap = 1 << 16, len = 0, need = 0, head_len = 0;
    char *buf = malloc(cap + 1), *end;

    for (;;) {
        ssize_t n;

        if (head_len > 0 && len >= head_len + need)
            break;
        if (len == cap) {
            cap *= 2;
            buf = realloc(buf, cap + 1);
        }
        n = recv(fd, buf + len, cap - len, 0);
        if (n <= 0) {
            free(buf);
            return false;
        }
        len += (size_t)n;
        buf[len] = '\0';
        if (head_len == 0 && (end = strstr(buf, "\r\n\r\n")) != NULL) {
            const char *cl = whw_find(buf, "\r\nContent-Length:");

            head_len = (size_t)(end - buf) + 4;
            need = cl != NULL && cl < end ? strtoul(cl + 17, NULL, 10) : 0;
        }
    }
    whw.head[i] = strndup(buf, head_len);
    whw.body[i] = strndup(buf + head_len, need);
    whw.body_len[i] = need;
    free(buf);
    return true;
}

static void *
whw_main(void *arg)
{
    (void)arg;
    for (int i = 0; i < whw.nreq; i++) {
        int fd = accept(whw.lfd, NULL, NULL);
        char head[1024];
        const struct whw_answer *a = &whw.ans[i];
        int n;

        if (fd < 0)
            return NULL;
        if (!whw_read(fd, i)) {
            close(fd);
            return NULL;
        }
        whw.got = i + 1;
        n = snprintf(head, sizeof(head),
                     "HTTP/1.1 %d X\r\nConnection: close\r\n%sContent-Length: %zu\r\n\r\n",
                     a->status, a->headers != NULL ? a->headers : "",
                     a->body != NULL ? strlen(a->body) : 0);
        send(fd, head, (size_t)n, MSG_NOSIGNAL);
        if (a->body != NULL)
            send(fd, a->body, strlen(a->body), MSG_NOSIGNAL);
        shutdown(fd, SHUT_WR);
        close(fd);
    }
    return NULL;
}

/* Listen on 127.0.0.1:0 and answer n requests with ans[0..n). */
static void
whw_start(int n, const struct whw_answer *ans)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t sl = sizeof(sa);

    memset(&whw, 0, sizeof(whw));
    whw.nreq = n;
    memcpy(whw.ans, ans, (size_t)n * sizeof(*ans));
    whw.lfd = socket(AF_INET, SOCK_STREAM, 0);
    cr_assert_geq(whw.lfd, 0);
    cr_assert_eq(bind(whw.lfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    cr_assert_eq(listen(whw.lfd, 4), 0);
    cr_assert_eq(getsockname(whw.lfd, (struct sockaddr *)&sa, &sl), 0);
    whw.port = ntohs(sa.sin_port);
    cr_assert_eq(pthread_create(&whw.th, NULL, whw_main, NULL), 0);
}

static void
whw_join(void)
{
    pthread_join(whw.th, NULL);
    close(whw.lfd);
}

static void
whw_free(void)
{
    for (int i = 0; i < WHW_MAX_REQS; i++) {
        free(whw.head[i]);
        free(whw.body[i]);
        whw.head[i] = whw.body[i] = NULL;
    }
}

/* Value of header name in request i ("Name: value" line), or NULL. */
static const char *
whw_header(int i, const char *name, char *out, size_t n)
{
    char key[128];
    const char *p, *e;

    snprintf(key, sizeof(key), "\r\n%s:", name);
    p = whw_find(whw.head[i], key);
    if (p == NULL)
        return NULL;
    p += strlen(key);
    while (*p == ' ')
        p++;
    e = strstr(p, "\r\n");
    snprintf(out, n, "%.*s", (int)(e - p), p);
    return out;
}

static struct ms_cx *
whw_open(int port, const char *secret)
{
    json_t *cfg = json_pack("{s:s}", "url", "http://127.0.0.1/");
    char url[64];
    struct ms_cx *cx = NULL;
    struct ms_error err = {0};

    snprintf(url, sizeof(url), "http://127.0.0.1:%d/hook", port);
    json_object_set_new(cfg, "url", json_string(url));
    if (secret != NULL)
        json_object_set_new(cfg, "secret", json_string(secret));
    cr_assert_eq(ms_cx_open(&ms_connector_webhook, cfg, &cx, &err), MS_OK, "%s", err.msg);
    json_decref(cfg);
    return cx;
}

/* The plan (static: it must outlive the session) and a batch of ops in an arena. */
static const char *const whw_cols[] = {"id", "name", "score", "flag"};
static const struct ms_write_plan whw_plan = {.object = "records",
                                              .mode = "updateOrCreate",
                                              .ncols = 4,
                                              .cols = whw_cols,
                                              .key_col = "id",
                                              .sync_id = "sync-7",
                                              .execution_id = "exec-9"};

struct whw_batch {
    struct ms_arena *a;
    struct ms_ops ops;
    struct ms_op op[8];
    struct ms_value vals[8][4];
};

static void
whw_batch(struct whw_batch *b)
{
    memset(b, 0, sizeof(*b));
    b->a = ms_arena_new();
    b->ops = (struct ms_ops){.arena = b->a, .plan = &whw_plan, .op = b->op};
}

static struct ms_value *
whw_op(struct whw_batch *b, enum ms_op_kind kind, int64_t id)
{
    size_t i = b->ops.n++;

    b->op[i] = (struct ms_op){.kind = kind, .key = {.type = MS_V_INT, .u.i = id}};
    if (kind != MS_OP_DELETE) {
        b->vals[i][0] = (struct ms_value){.type = MS_V_INT, .u.i = id};
        b->op[i].vals = b->vals[i];
    }
    return b->vals[i];
}

static void
whw_text(struct ms_value *v, const char *p, size_t len)
{
    *v = (struct ms_value){.type = MS_V_TEXT, .u.s = {.p = p, .len = len}};
}

static void
whw_begin(struct ms_cx *cx)
{
    struct ms_error err = {0};

    cr_assert_eq(ms_connector_webhook.write_begin(cx, &whw_plan, &err), MS_OK, "%s", err.msg);
}

/* Three ops: insert 1, update 2, delete 3. */
static void
whw_three(struct whw_batch *b)
{
    whw_batch(b);
    whw_text(&whw_op(b, MS_OP_INSERT, 1)[1], "one", 3);
    whw_text(&whw_op(b, MS_OP_UPDATE, 2)[1], "two", 3);
    whw_op(b, MS_OP_DELETE, 3);
}

Test(cx_webhook_write, payload_shape_and_signature)
{
    static const struct whw_answer ok = {204, NULL, NULL};
    static const char text[] = "q\"b\\s/\n\t\x01 ünï 😀 \xff end";
    struct ms_cx *cx;
    struct whw_batch b;
    struct ms_error err = {0};
    struct ms_value *v;
    char ts[32], sig[128], want[MS_SHA256_HEX_LEN + 1];
    unsigned char mac[crypto_auth_hmacsha256_BYTES];
    crypto_auth_hmacsha256_state hs;
    json_t *body, *recs, *r;

    whw_start(1, &ok);
    cx = whw_open(whw.port, "s3cr3t");
    whw_begin(cx);
    whw_batch(&b);
    v = whw_op(&b, MS_OP_INSERT, 1);
    v[0].u.i = 100; /* the identity's field gets the identity value, not this */
    whw_text(&v[1], text, sizeof(text) - 1);
    v[2] = (struct ms_value){.type = MS_V_REAL, .u.d = 1.5};
    v[3] = (struct ms_value){.type = MS_V_BOOL, .u.b = true};
    v = whw_op(&b, MS_OP_UPDATE, 2);
    v[2] = (struct ms_value){.type = MS_V_REAL, .u.d = 2.0};
    v[3] = (struct ms_value){.type = MS_V_BOOL, .u.b = false};
    v = whw_op(&b, MS_OP_UPSERT, 3);
    v[2] = (struct ms_value){.type = MS_V_REAL, .u.d = 0.0 / 0.0};
    whw_op(&b, MS_OP_DELETE, 4);
    cr_assert_eq(ms_connector_webhook.write(cx, &b.ops, &err), MS_OK, "%s", err.msg);
    whw_join();
    for (size_t i = 0; i < 4; i++)
        cr_expect(!b.op[i].rejected);
    cr_expect(strncmp(whw.head[0], "POST /hook HTTP/1.1\r\n", 21) == 0, "%s", whw.head[0]);
    cr_expect_str_eq(whw_header(0, "Content-Type", sig, sizeof(sig)), "application/json");
    body = json_loadb(whw.body[0], whw.body_len[0], 0, NULL);
    cr_assert_not_null(body, "%s", whw.body[0]);
    cr_expect_str_eq(json_string_value(json_object_get(body, "sync_id")), "sync-7");
    cr_expect_str_eq(json_string_value(json_object_get(body, "execution_id")), "exec-9");
    recs = json_object_get(body, "records");
    cr_assert_eq(json_array_size(recs), 4);
    r = json_array_get(recs, 0);
    cr_expect_str_eq(json_string_value(json_object_get(r, "op")), "insert");
    cr_expect_eq(json_integer_value(json_object_get(r, "key")), 1);
    cr_expect_eq(json_integer_value(json_object_get(json_object_get(r, "data"), "id")), 1);
    cr_expect_str_eq(json_string_value(json_object_get(json_object_get(r, "data"), "name")),
                     "q\"b\\s/\n\t\x01 ünï 😀 \xef\xbf\xbd end");
    cr_expect(json_is_real(json_object_get(json_object_get(r, "data"), "score")));
    cr_expect(json_is_true(json_object_get(json_object_get(r, "data"), "flag")));
    r = json_array_get(recs, 1);
    cr_expect_str_eq(json_string_value(json_object_get(r, "op")), "update");
    cr_expect(json_is_null(json_object_get(json_object_get(r, "data"), "name")));
    cr_expect(json_is_real(json_object_get(json_object_get(r, "data"), "score")), "2.0 is a real");
    cr_expect(json_is_false(json_object_get(json_object_get(r, "data"), "flag")));
    r = json_array_get(recs, 2);
    cr_expect_str_eq(json_string_value(json_object_get(r, "op")), "upsert");
    cr_expect(json_is_null(json_object_get(json_object_get(r, "data"), "score")), "NaN: null");
    cr_expect_eq(json_object_size(json_object_get(r, "data")), 4);
    r = json_array_get(recs, 3);
    cr_expect_str_eq(json_string_value(json_object_get(r, "op")), "delete");
    cr_expect_eq(json_integer_value(json_object_get(r, "key")), 4);
    cr_expect_null(json_object_get(r, "data"), "a delete carries no data");
    json_decref(body);
    /* The signature covers "<timestamp>.<body>" exactly as sent. */
    cr_assert_not_null(whw_header(0, "X-Modelsync-Timestamp", ts, sizeof(ts)));
    cr_assert_not_null(whw_header(0, "X-Modelsync-Signature", sig, sizeof(sig)));
    crypto_auth_hmacsha256_init(&hs, (const unsigned char *)"s3cr3t", 6);
    crypto_auth_hmacsha256_update(&hs, (const unsigned char *)ts, strlen(ts));
    crypto_auth_hmacsha256_update(&hs, (const unsigned char *)".", 1);
    crypto_auth_hmacsha256_update(&hs, (const unsigned char *)whw.body[0], whw.body_len[0]);
    crypto_auth_hmacsha256_final(&hs, mac);
    sodium_bin2hex(want, sizeof(want), mac, sizeof(mac));
    cr_expect(strncmp(sig, "sha256=", 7) == 0 && strcmp(sig + 7, want) == 0, "%s", sig);
    cr_expect_eq(ms_connector_webhook.write_end(cx, true, &err), MS_OK);
    ms_arena_free(b.a);
    whw_free();
    ms_cx_close(cx);
}

/* MS_V_NUM values and keys go into the payload as the source printed them. */
Test(cx_webhook_write, num_values_are_raw_json_numbers)
{
    static const struct whw_answer ok = {204, NULL, NULL};
    struct ms_cx *cx;
    struct whw_batch b;
    struct ms_error err = {0};
    struct ms_value *v;
    json_t *body;

    whw_start(1, &ok);
    cx = whw_open(whw.port, NULL);
    whw_begin(cx);
    whw_batch(&b);
    v = whw_op(&b, MS_OP_INSERT, 1);
    v[2] = (struct ms_value){.type = MS_V_NUM, .u.s = {"1e+100", 6}};
    v = whw_op(&b, MS_OP_UPSERT, 2);
    v[2] = (struct ms_value){.type = MS_V_NUM, .u.s = {"12345678901234567890.123", 24}};
    b.op[1].key = (struct ms_value){.type = MS_V_NUM, .u.s = {"-0", 2}};
    cr_assert_eq(ms_connector_webhook.write(cx, &b.ops, &err), MS_OK, "%s", err.msg);
    whw_join();
    cr_expect_not_null(strstr(whw.body[0], "\"score\":1e+100,"), "%s", whw.body[0]);
    cr_expect_not_null(strstr(whw.body[0], "\"key\":-0.0,"), "-0 stays a real: %s", whw.body[0]);
    cr_expect_not_null(strstr(whw.body[0], "\"score\":12345678901234567890.123,"));
    body = json_loadb(whw.body[0], whw.body_len[0], 0, NULL);
    cr_expect_not_null(body, "valid JSON: %.*s", (int)whw.body_len[0], whw.body[0]);
    json_decref(body);
    cr_expect_eq(ms_connector_webhook.write_end(cx, true, &err), MS_OK);
    ms_arena_free(b.a);
    whw_free();
    ms_cx_close(cx);
}

Test(cx_webhook_write, batches_on_one_connection_and_null_ids)
{
    static const struct whw_answer ok[2] = {{200, NULL, "ok"}, {200, NULL, "[]"}};
    static const struct ms_write_plan plan = {.object = "records", .mode = "create", .ncols = 0};
    struct ms_cx *cx;
    struct whw_batch b;
    struct ms_error err = {0};

    whw_start(2, ok);
    cx = whw_open(whw.port, NULL);
    cr_assert_eq(ms_connector_webhook.write_begin(cx, &plan, &err), MS_OK, "%s", err.msg);
    for (int i = 0; i < 2; i++) {
        whw_batch(&b);
        b.ops.plan = &plan;
        b.op[b.ops.n++] = (struct ms_op){.kind = MS_OP_INSERT};
        cr_expect_eq(ms_connector_webhook.write(cx, &b.ops, &err), MS_OK, "%s", err.msg);
        cr_expect(!b.op[0].rejected, "a reply that is not an object rejects nothing");
        ms_arena_free(b.a);
    }
    whw_join();
    cr_expect_eq(whw.got, 2);
    cr_expect_str_eq(whw.body[1], "{\"sync_id\":null,\"execution_id\":null,\"records\":"
                                  "[{\"op\":\"insert\",\"key\":null,\"data\":{}}]}");
    cr_expect_null(whw_header(1, "X-Modelsync-Signature", (char[8]){0}, 8), "no secret");
    /* An empty batch sends nothing. */
    whw_batch(&b);
    cr_expect_eq(ms_connector_webhook.write(cx, &b.ops, &err), MS_OK);
    ms_arena_free(b.a);
    whw_free();
    ms_cx_close(cx);
}

Test(cx_webhook_write, partial_rejections)
{
    static const struct whw_answer ans = {
        200, "Content-Type: application/json\r\n",
        "{\"accepted\": 1, \"rejected\": [{\"index\": 1, \"error\": \"name must not be 'two'\","
        " \"code\": 7}, {\"index\": 2, \"error\": \"\"}]}"};
    struct ms_cx *cx;
    struct whw_batch b;
    struct ms_error err = {0};

    whw_start(1, &ans);
    cx = whw_open(whw.port, NULL);
    whw_begin(cx);
    whw_three(&b);
    cr_assert_eq(ms_connector_webhook.write(cx, &b.ops, &err), MS_OK, "%s", err.msg);
    whw_join();
    cr_expect(!b.op[0].rejected);
    cr_expect(b.op[1].rejected);
    cr_expect_str_eq(b.op[1].error, "name must not be 'two'");
    cr_expect(b.op[2].rejected);
    cr_expect_str_eq(b.op[2].error, "rejected by the receiver");
    ms_arena_free(b.a);
    whw_free();
    ms_cx_close(cx);
}

Test(cx_webhook_write, malformed_replies_are_upstream)
{
    static const char *const bodies[] = {
        "{\"rejected\": [{\"index\": 3, \"error\": \"x\"}]}",
        "{\"rejected\": [{\"index\": -1, \"error\": \"x\"}]}",
        "{\"rejected\": [{\"index\": 0}]}",
        "{\"rejected\": [{\"index\": \"0\", \"error\": \"x\"}]}",
        "{\"rejected\": [0]}",
        "{\"rejected\": {\"index\": 0, \"error\": \"x\"}}",
        "  {\"rejected\": [",
        "{\"rejected\": [{\"index\": 0, \"error\": \"x\"}, {\"index\": 9, \"error\": \"y\"}]}",
    };

    for (size_t k = 0; k < sizeof(bodies) / sizeof(bodies[0]); k++) {
        struct whw_answer ans = {200, NULL, bodies[k]};
        struct ms_cx *cx;
        struct whw_batch b;
        struct ms_error err = {0};

        whw_start(1, &ans);
        cx = whw_open(whw.port, NULL);
        whw_begin(cx);
        whw_three(&b);
        cr_expect_eq(ms_connector_webhook.write(cx, &b.ops, &err), MS_EUPSTREAM, "%s", bodies[k]);
        cr_expect_neq(strstr(err.msg, "malformed reply"), NULL, "%s", err.msg);
        whw_join();
        for (size_t i = 0; i < 3; i++)
            cr_expect(!b.op[i].rejected, "%s: op %zu marked", bodies[k], i);
        ms_arena_free(b.a);
        whw_free();
        ms_cx_close(cx);
    }
}

Test(cx_webhook_write, unavailable_is_busy_with_retry_after)
{
    static const struct whw_answer ans = {503, "Retry-After: 12\r\n", "down"};
    struct ms_cx *cx;
    struct whw_batch b;
    struct ms_error err = {0};
    int64_t wait = -1;

    whw_start(1, &ans);
    cx = whw_open(whw.port, NULL);
    whw_begin(cx);
    whw_three(&b);
    cr_expect_eq(ms_connector_webhook.write(cx, &b.ops, &err), MS_EBUSY);
    whw_join();
    cr_expect_eq(err.native, 503);
    cr_expect_eq(ms_connector_webhook.control(cx, MS_CX_CTL_RETRY_AFTER, &wait), MS_OK);
    cr_expect_eq(wait, 12);
    for (size_t i = 0; i < 3; i++)
        cr_expect(!b.op[i].rejected);
    ms_arena_free(b.a);
    whw_free();
    ms_cx_close(cx);
}

Test(cx_webhook_write, bad_request_is_upstream)
{
    static const struct whw_answer ans = {400, NULL, "{\"rejected\": [{\"index\": 0}]}"};
    struct ms_cx *cx;
    struct whw_batch b;
    struct ms_error err = {0};

    whw_start(1, &ans);
    cx = whw_open(whw.port, NULL);
    whw_begin(cx);
    whw_three(&b);
    cr_expect_eq(ms_connector_webhook.write(cx, &b.ops, &err), MS_EUPSTREAM);
    whw_join();
    cr_expect_eq(err.native, 400);
    cr_expect_neq(strstr(err.msg, "HTTP 400"), NULL, "%s", err.msg);
    for (size_t i = 0; i < 3; i++)
        cr_expect(!b.op[i].rejected);
    ms_arena_free(b.a);
    whw_free();
    ms_cx_close(cx);
}

/* Over 8 MiB of JSON: refused before anything is sent (nothing listens on the port). */
Test(cx_webhook_write, oversized_batch_is_too_big)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t sl = sizeof(sa);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    size_t big = (size_t)3 << 20;
    char *text = malloc(big);
    struct ms_cx *cx;
    struct whw_batch b;
    struct ms_error err = {0};

    cr_assert_eq(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    cr_assert_eq(getsockname(fd, (struct sockaddr *)&sa, &sl), 0);
    close(fd);
    memset(text, 'x', big);
    cx = whw_open(ntohs(sa.sin_port), NULL);
    whw_begin(cx);
    whw_batch(&b);
    for (int i = 0; i < 3; i++)
        whw_text(&whw_op(&b, MS_OP_INSERT, i)[1], text, big);
    cr_expect_eq(ms_connector_webhook.write(cx, &b.ops, &err), MS_ETOOBIG, "%s", err.msg);
    cr_expect_neq(strstr(err.msg, "smaller batches"), NULL, "%s", err.msg);
    /* Two of them fit (about 6 MiB): the POST is tried and the closed port answers. */
    b.ops.n = 2;
    cr_expect_eq(ms_connector_webhook.write(cx, &b.ops, &err), MS_EUPSTREAM, "%s", err.msg);
    ms_arena_free(b.a);
    free(text);
    ms_cx_close(cx);
}

Test(cx_webhook_write, misuse)
{
    static const struct ms_write_plan other = {.object = "people", .ncols = 0};
    struct ms_cx *cx = whw_open(9, NULL);
    struct whw_batch b;
    struct ms_error err = {0};

    whw_three(&b);
    cr_expect_eq(ms_connector_webhook.write(cx, &b.ops, &err), MS_EINTERNAL, "no write_begin");
    cr_expect_eq(ms_connector_webhook.write_begin(cx, &other, &err), MS_EUNPROC);
    cr_expect_str_eq(err.field, "target.object");
    {
        static const struct ms_write_plan replace = {.object = "records", .mode = "replace"};

        cr_expect_eq(ms_connector_webhook.write_begin(cx, &replace, &err), MS_EUNSUPP);
        cr_expect_str_eq(err.key, "unsupported_mode");
    }
    whw_begin(cx);
    cr_expect_eq(ms_connector_webhook.write_end(cx, false, &err), MS_OK);
    cr_expect_eq(ms_connector_webhook.write(cx, &b.ops, &err), MS_EINTERNAL, "after write_end");
    ms_arena_free(b.a);
    ms_cx_close(cx);
}
