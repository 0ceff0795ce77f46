/*
 * fuzz_webhook.c: webhook replies, through the webhook connector's write() as the engine calls
 * it. The reply parser ({"rejected": [{"index", "error"}]}, webhook.c's wh_rejections) and the
 * Retry-After parser are file-local, so the input travels the real way: a receiver thread on
 * 127.0.0.1 answers each POST with it. Input: byte 0 picks the status (200, 201, 429, 503, 400,
 * or 200 with a body over the reply cap), the rest of the first line is a Retry-After value
 * (control characters made '?'; none when empty), the remainder is the body. Besides the
 * sanitizers, the outcome is checked against an independent reading of the reply with jansson.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <jansson.h>

#include "connectors/connector.h"
#include "connectors/connectors_int.h"
#include "core/arena.h"
#include "core/crypto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FZ_CHECK(c)                                                                                \
    do {                                                                                           \
        if (!(c)) {                                                                                \
            fprintf(stderr, "fuzz_webhook: check failed: %s (line %d)\n", #c, __LINE__);           \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

#define FZ_NOPS 3
#define FZ_REPLY_CAP ((size_t)64 << 10) /* webhook.c's WH_MAX_REPLY_BYTES */
#define FZ_ERROR_MAX 1024               /* webhook.c's WH_MAX_ERROR_BYTES */
#define FZ_BIG (FZ_REPLY_CAP + 4096)    /* a body the connector must refuse */
#define FZ_REQ_MAX ((size_t)256 << 10)  /* one request, head and body */

static const int fz_codes[8] = {200, 200, 200, 201, 429, 503, 400, 200};

/* The answer to the next request: set by the fuzzing thread, sent by the receiver, under
 * fz_mu so that a reply still being sent on a dropped connection is never rewritten. */
static struct {
    int code;
    char retry[256];
    char body[FZ_BIG];
    size_t len;
    bool big;
} fz_ans;
static pthread_mutex_t fz_mu = PTHREAD_MUTEX_INITIALIZER;

static int fz_lfd = -1;

/* ---- the receiver: one connection at a time, keep-alive, static buffers only ---- */

static bool
fz_send(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = send(fd, p, n, MSG_NOSIGNAL);

        if (w <= 0)
            return false;
        p += w;
        n -= (size_t)w;
    }
    return true;
}

/* Read one request (head + Content-Length body); false when the client went away. */
static bool
fz_recv_request(int fd, char *buf)
{
    size_t len = 0, need = 0;
    char *end = NULL;

    for (;;) {
        ssize_t r;

        for (size_t i = 0; end == NULL && len >= 4 && i <= len - 4; i++)
            if (memcmp(buf + i, "\r\n\r\n", 4) == 0)
                end = buf + i;
        if (end != NULL && need == 0) {
            const char *cl;

            *end = '\0';
            for (cl = buf; *cl != '\0' && strncasecmp(cl, "\r\nContent-Length:", 17) != 0; cl++)
                ;
            need = (size_t)(end + 4 - buf) + (*cl != '\0' ? strtoul(cl + 17, NULL, 10) : 0);
        }
        if (end != NULL && len >= need)
            return true;
        if (len == FZ_REQ_MAX)
            return false;
        r = recv(fd, buf + len, FZ_REQ_MAX - len, 0);
        if (r <= 0)
            return false;
        len += (size_t)r;
    }
}

/* One send(): head and body split over two segments would wait out Nagle and delayed ACKs. */
static void
fz_answer(int fd)
{
    static char out[512 + FZ_BIG];
    int n;

    pthread_mutex_lock(&fz_mu);
    n = snprintf(out, 512, "HTTP/1.1 %d Fuzz\r\nContent-Length: %zu\r\n%s%s%s\r\n", fz_ans.code,
                 fz_ans.len, fz_ans.retry[0] != '\0' ? "Retry-After: " : "", fz_ans.retry,
                 fz_ans.retry[0] != '\0' ? "\r\n" : "");
    memcpy(out + n, fz_ans.body, fz_ans.len);
    (void)fz_send(fd, out, (size_t)n + fz_ans.len);
    pthread_mutex_unlock(&fz_mu);
}

static void *
fz_receiver(void *arg)
{
    static char buf[FZ_REQ_MAX];
    struct timeval tv = {5, 0};

    (void)arg;
    for (;;) {
        int fd = accept(fz_lfd, NULL, NULL);

        if (fd < 0)
            continue;
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
        while (fz_recv_request(fd, buf))
            fz_answer(fd);
        close(fd);
    }
    return NULL;
}

/* ---- the connection, opened once ---- */

static struct ms_cx *fz_cx;
static const char *const fz_cols[] = {"id", "name"};
static const char *const fz_types[] = {"number", "string"};
static const struct ms_write_plan fz_plan = {
    .object = "records",
    .mode = "updateOrCreate",
    .ncols = 2,
    .cols = fz_cols,
    .types = fz_types,
    .key_col = "id",
    .sync_id = "0b0b2f6c-4f0e-4c4e-9a51-8d1f3c5e7a90",
    .execution_id = "1c1c2f6c-4f0e-4c4e-9a51-8d1f3c5e7a90",
};

static void
fz_init(void)
{
    struct sockaddr_in sa = {.sin_family = AF_INET};
    socklen_t sl = sizeof(sa);
    pthread_t th;
    char url[64];
    json_t *cfg;

    FZ_CHECK(ms_crypto_init(NULL) == MS_OK);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    fz_lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    FZ_CHECK(fz_lfd >= 0 && bind(fz_lfd, (struct sockaddr *)&sa, sizeof(sa)) == 0);
    FZ_CHECK(listen(fz_lfd, 8) == 0 && getsockname(fz_lfd, (struct sockaddr *)&sa, &sl) == 0);
    FZ_CHECK(pthread_create(&th, NULL, fz_receiver, NULL) == 0);
    FZ_CHECK(pthread_detach(th) == 0);
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/hook", ntohs(sa.sin_port));
    cfg = json_pack("{s:s, s:s}", "url", url, "secret", "fuzz");
    FZ_CHECK(ms_cx_open(ms_cx_find("webhook"), cfg, &fz_cx, NULL) == MS_OK);
    json_decref(cfg);
    FZ_CHECK(fz_cx->impl->write_begin(fz_cx, &fz_plan, NULL) == MS_OK);
}

/* ---- the oracle ---- */

struct fz_expect {
    enum ms_status st;
    bool rejected[FZ_NOPS];
    const char *error[FZ_NOPS]; /* borrowed from j */
    size_t error_len[FZ_NOPS];
    json_t *j;
};

static bool
fz_rejection_ok(const json_t *e)
{
    const json_t *idx = json_object_get(e, "index");

    return json_is_integer(idx) && json_integer_value(idx) >= 0 &&
           json_integer_value(idx) < FZ_NOPS && json_is_string(json_object_get(e, "error"));
}

static void
fz_expect(struct fz_expect *x)
{
    size_t i = 0, k;
    json_t *rej, *e;

    memset(x, 0, sizeof(*x));
    if (fz_ans.big) {
        x->st = MS_ETOOBIG;
        return;
    }
    if (fz_ans.code >= 300) {
        x->st = fz_ans.code == 429 || fz_ans.code >= 500 ? MS_EBUSY : MS_EUPSTREAM;
        return;
    }
    while (i < fz_ans.len && strchr(" \t\r\n", fz_ans.body[i]) != NULL && fz_ans.body[i] != '\0')
        i++;
    if (i == fz_ans.len || fz_ans.body[i] != '{')
        return; /* not an object: nothing is rejected */
    x->j = json_loadb(fz_ans.body, fz_ans.len, 0, NULL);
    rej = json_object_get(x->j, "rejected");
    if (!json_is_object(x->j) || (rej != NULL && !json_is_null(rej) && !json_is_array(rej))) {
        x->st = MS_EUPSTREAM;
        return;
    }
    for (k = 0; k < json_array_size(rej); k++) {
        if (!fz_rejection_ok(json_array_get(rej, k))) {
            x->st = MS_EUPSTREAM; /* one bad entry: nothing is marked */
            return;
        }
    }
    json_array_foreach(rej, k, e)
    {
        json_int_t at = json_integer_value(json_object_get(e, "index"));

        x->rejected[at] = true;
        x->error[at] = json_string_value(json_object_get(e, "error"));
        x->error_len[at] = json_string_length(json_object_get(e, "error"));
    }
}

static void
fz_check(const struct fz_expect *x, enum ms_status st, const struct ms_ops *ops)
{
    int64_t ra = -1;

    if (st != x->st) {
        fprintf(stderr, "fuzz_webhook: status %d, expected %d (HTTP %d)\n", (int)st, (int)x->st,
                fz_ans.code);
        abort();
    }
    for (size_t i = 0; i < FZ_NOPS; i++) {
        const struct ms_op *op = &ops->op[i];

        FZ_CHECK(op->rejected == x->rejected[i]);
        FZ_CHECK(op->rejected == (op->error != NULL));
        if (!op->rejected)
            continue;
        if (x->error_len[i] == 0) {
            FZ_CHECK(strcmp(op->error, "rejected by the receiver") == 0);
        } else {
            size_t n = strlen(op->error);

            FZ_CHECK(n > 0 || x->error[i][0] == '\0');
            FZ_CHECK(n <= FZ_ERROR_MAX && n <= x->error_len[i]);
            FZ_CHECK(memcmp(op->error, x->error[i], n) == 0);
            FZ_CHECK(x->error_len[i] > FZ_ERROR_MAX || n == strnlen(x->error[i], x->error_len[i]));
            FZ_CHECK(ms_cx_utf8_valid(op->error, n));
        }
    }
    FZ_CHECK(fz_cx->impl->control(fz_cx, MS_CX_CTL_RETRY_AFTER, &ra) == MS_OK);
    FZ_CHECK(ra >= 0 && ra <= 86400);
    FZ_CHECK(fz_ans.retry[0] != '\0' || ra == 0);
}

/* ---- one input ---- */

static void
fz_reply(const uint8_t *data, size_t size)
{
    const uint8_t *nl = size > 1 ? memchr(data + 1, '\n', size - 1) : NULL;
    const uint8_t *body = nl != NULL ? nl + 1 : data + (size > 0);
    size_t rl = nl != NULL ? (size_t)(nl - data) - 1 : 0, o = 0;

    pthread_mutex_lock(&fz_mu);
    fz_ans.code = fz_codes[size > 0 ? data[0] % 8 : 0];
    fz_ans.big = size > 0 && data[0] % 8 == 7;
    for (size_t i = 1; i <= rl && o < sizeof(fz_ans.retry) - 1; i++) {
        char c = (char)data[i];

        fz_ans.retry[o++] = (c < 0x20 && c != '\t') || c == 0x7f ? '?' : c;
    }
    fz_ans.retry[o] = '\0';
    if (fz_ans.retry[0] == ' ' || fz_ans.retry[0] == '\t')
        fz_ans.retry[0] = '?'; /* leading blanks would be a folded header */
    fz_ans.len = size - (size_t)(body - data);
    fz_ans.big |= fz_ans.len > FZ_REPLY_CAP;
    if (fz_ans.big) {
        memset(fz_ans.body, ' ', sizeof(fz_ans.body));
        fz_ans.len = sizeof(fz_ans.body);
    } else if (fz_ans.len > 0) {
        memcpy(fz_ans.body, body, fz_ans.len);
    }
    pthread_mutex_unlock(&fz_mu);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct ms_arena *a;
    struct ms_value vals[FZ_NOPS][2];
    struct ms_op op[FZ_NOPS];
    struct ms_ops ops;
    struct fz_expect x;
    struct ms_error err;
    enum ms_status st;

    if (fz_cx == NULL)
        fz_init();
    a = ms_arena_new();
    memset(op, 0, sizeof(op));
    for (size_t i = 0; i < FZ_NOPS; i++) {
        vals[i][0] = (struct ms_value){.type = MS_V_INT, .u.i = (int64_t)i};
        vals[i][1] = (struct ms_value){.type = MS_V_TEXT, .u.s = {"r\xc3\xa9sum\xc3\xa9", 8}};
        op[i].kind = i == 0 ? MS_OP_INSERT : i == 1 ? MS_OP_UPSERT : MS_OP_DELETE;
        op[i].vals = vals[i];
        op[i].key = vals[i][0];
        op[i].rejected = true; /* write() must reset what a previous attempt left */
        op[i].error = "stale";
    }
    ops = (struct ms_ops){.arena = a, .plan = &fz_plan, .n = FZ_NOPS, .op = op};
    fz_reply(data, size);
    fz_expect(&x);
    st = fz_cx->impl->write(fz_cx, &ops, &err);
    fz_check(&x, st, &ops);
    json_decref(x.j);
    ms_arena_free(a);
    return 0;
}
