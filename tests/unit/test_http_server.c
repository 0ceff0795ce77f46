/*
 * test_http_server.c: the HTTP threads of src/http/server.c over real loopback sockets: many
 * connections opened at once are all answered (256 = 128 a worker, the burst that stalled
 * libmicrohttpd's own epoll loop), a connection beyond the limit is closed unanswered and the
 * slot comes back, ms_http_stop() closes open keep-alive connections, port 0 is reported, IPv6
 * listens, and the batched access log reaches stderr (through the flusher, and at stop).
 */
#include <criterion/criterion.h>
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "core/config.h"
#include "core/crypto.h"
#include "http/http.h"
#include "http/http_int.h"
#include "store/store.h"

#define HST_GET "GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n"

static struct {
    char dir[64];
    char url[128];
    char log[128];
    struct ms_config cfg;
    struct ms_http *h;
    int saved_stderr;
} hst;

static int64_t
hst_now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* A migrated store; stderr (the access log) goes to a file the tests read. */
static void
hst_setup(void)
{
    struct ms_store *s;
    struct ms_error err;
    int fd;

    memset(&hst, 0, sizeof(hst));
    cr_assert_eq(ms_crypto_init(NULL), MS_OK);
    snprintf(hst.dir, sizeof(hst.dir), "/tmp/ms-http-server-XXXXXX");
    cr_assert_not_null(mkdtemp(hst.dir));
    snprintf(hst.url, sizeof(hst.url), "sqlite:%s/store.db", hst.dir);
    cr_assert_eq(ms_store_open(hst.url, &s, &err), MS_OK, "%s", err.msg);
    cr_assert_eq(ms_store_migrate(s, &err), MS_OK, "%s", err.msg);
    ms_store_close(s);
    snprintf(hst.log, sizeof(hst.log), "%s/stderr.log", hst.dir);
    fflush(stderr);
    hst.saved_stderr = dup(STDERR_FILENO);
    fd = open(hst.log, O_WRONLY | O_CREAT | O_APPEND, 0600);
    cr_assert_geq(fd, 0);
    dup2(fd, STDERR_FILENO);
    close(fd);
    hst.cfg.data_dir = hst.dir;
    hst.cfg.store_url = hst.url;
    hst.cfg.listen_host = "127.0.0.1";
    hst.cfg.http_threads = 2;
    ms_random_bytes(hst.cfg.secret, sizeof(hst.cfg.secret));
}

static void
hst_teardown(void)
{
    char cmd[128];

    ms_http_stop(hst.h);
    ms_http_test_conn_limit = 0;
    fflush(stderr);
    dup2(hst.saved_stderr, STDERR_FILENO);
    close(hst.saved_stderr);
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", hst.dir);
    cr_expect_eq(system(cmd), 0);
}

TestSuite(http_server, .init = hst_setup, .fini = hst_teardown, .timeout = 60);

static void
hst_start(void)
{
    struct ms_error err;

    cr_assert_eq(ms_http_start(&hst.cfg, &hst.h, &err), MS_OK, "%s", err.msg);
    cr_assert_gt(ms_http_port(hst.h), 0);
}

static int
hst_connect(void)
{
    struct sockaddr_in sa;
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

    cr_assert_geq(fd, 0);
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)ms_http_port(hst.h));
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    cr_assert_eq(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0, "connect: %s",
                 strerror(errno));
    return fd;
}

static void
hst_send(int fd, const char *s)
{
    size_t n = strlen(s);

    cr_assert_eq(send(fd, s, n, MSG_NOSIGNAL), (ssize_t)n, "send: %s", strerror(errno));
}

/*
 * Read one response from fd within ms: its status, 0 when the server closed the connection
 * before a complete response (EOF or reset), -1 on timeout. Responses here are small and carry
 * Content-Length.
 */
static int
hst_response(int fd, int ms)
{
    char buf[4096];
    size_t len = 0;
    int64_t end = hst_now_ms() + ms;

    for (;;) {
        struct pollfd p = {fd, POLLIN, 0};
        const char *hdr_end, *cl;
        ssize_t n;

        buf[len] = '\0';
        hdr_end = strstr(buf, "\r\n\r\n");
        cl = strstr(buf, "Content-Length: ");
        if (hdr_end != NULL && cl != NULL &&
            (size_t)(hdr_end + 4 - buf) + strtoul(cl + 16, NULL, 10) <= len)
            return atoi(buf + 9); /* "HTTP/1.1 200 OK" */
        if (hst_now_ms() >= end || poll(&p, 1, (int)(end - hst_now_ms())) == 0)
            return -1;
        n = recv(fd, buf + len, sizeof(buf) - 1 - len, 0);
        if (n <= 0)
            return 0;
        len += (size_t)n;
    }
}

/* The number of access-log lines for /healthz written so far. */
static int
hst_access_lines(void)
{
    FILE *f;
    char line[2048];
    int n = 0;

    fflush(stderr);
    f = fopen(hst.log, "r");
    cr_assert_not_null(f);
    while (fgets(line, sizeof(line), f) != NULL)
        if (strstr(line, "\"msg\":\"request\"") != NULL && strstr(line, "/healthz") != NULL)
            n++;
    fclose(f);
    return n;
}

Test(http_server, port_zero_is_reported_and_keep_alive_works)
{
    int fd;

    hst_start();
    fd = hst_connect();
    for (int i = 0; i < 3; i++) {
        hst_send(fd, HST_GET);
        cr_expect_eq(hst_response(fd, 5000), 200, "request %d on one connection", i);
    }
    close(fd);
}

/* 256 connections, each sending its request at once: 128 for each of the two workers. */
Test(http_server, many_connections_at_once_are_all_served)
{
    enum { N = 256 };
    int fds[N], ok = 0;

    hst_start();
    for (int i = 0; i < N; i++)
        fds[i] = hst_connect();
    for (int i = 0; i < N; i++)
        hst_send(fds[i], HST_GET);
    for (int i = 0; i < N; i++)
        ok += hst_response(fds[i], 10000) == 200;
    cr_expect_eq(ok, N, "%d of %d connections answered", ok, N);
    /* and once more on the same connections (keep-alive) */
    ok = 0;
    for (int i = 0; i < N; i++)
        hst_send(fds[i], HST_GET);
    for (int i = 0; i < N; i++) {
        ok += hst_response(fds[i], 10000) == 200;
        close(fds[i]);
    }
    cr_expect_eq(ok, N, "second round: %d of %d answered", ok, N);
}

/* Limit 4 over 2 workers: a fifth connection is closed unanswered; a freed slot is reused. */
Test(http_server, connection_beyond_the_limit_is_closed)
{
    int fds[4], extra, st = -1;
    int64_t end;

    ms_http_test_conn_limit = 4;
    hst_start();
    for (int i = 0; i < 4; i++) {
        fds[i] = hst_connect();
        hst_send(fds[i], HST_GET);
        cr_assert_eq(hst_response(fds[i], 5000), 200, "connection %d", i);
    }
    extra = hst_connect();
    (void)send(extra, HST_GET, strlen(HST_GET), MSG_NOSIGNAL);
    cr_expect_eq(hst_response(extra, 5000), 0, "the fifth connection is closed, unanswered");
    close(extra);
    /* The server held on to the four: they still answer. */
    hst_send(fds[0], HST_GET);
    cr_expect_eq(hst_response(fds[0], 5000), 200);
    close(fds[0]);
    /* Once the server has seen the close, a new connection gets the slot. */
    end = hst_now_ms() + 5000;
    while (st != 200 && hst_now_ms() < end) {
        extra = hst_connect();
        (void)send(extra, HST_GET, strlen(HST_GET), MSG_NOSIGNAL);
        st = hst_response(extra, 2000);
        close(extra);
        if (st != 200)
            usleep(20000);
    }
    cr_expect_eq(st, 200, "a freed slot is given to a new connection");
    for (int i = 1; i < 4; i++)
        close(fds[i]);
}

/* ms_http_stop() with idle keep-alive connections open: prompt, and every one is closed. */
Test(http_server, stop_closes_open_keep_alive_connections)
{
    enum { N = 64 };
    int fds[N], closed = 0;
    int64_t t0;

    hst_start();
    for (int i = 0; i < N; i++) {
        fds[i] = hst_connect();
        hst_send(fds[i], HST_GET);
        cr_assert_eq(hst_response(fds[i], 5000), 200);
    }
    t0 = hst_now_ms();
    ms_http_stop(hst.h);
    hst.h = NULL;
    cr_expect_lt(hst_now_ms() - t0, 2000, "stop took %lld ms", (long long)(hst_now_ms() - t0));
    for (int i = 0; i < N; i++) {
        closed += hst_response(fds[i], 2000) == 0;
        close(fds[i]);
    }
    cr_expect_eq(closed, N, "%d of %d connections closed by the server", closed, N);
    cr_expect_eq(hst_access_lines(), N, "every access line written by the time stop returns");
}

/* The flusher writes an idle thread's lines within about 100 ms, without a stop. */
Test(http_server, access_lines_are_flushed_while_running)
{
    int fd, n = 0;
    int64_t end;

    hst_start();
    fd = hst_connect();
    hst_send(fd, HST_GET);
    cr_assert_eq(hst_response(fd, 5000), 200);
    end = hst_now_ms() + 2000;
    while ((n = hst_access_lines()) == 0 && hst_now_ms() < end)
        usleep(20000);
    cr_expect_eq(n, 1);
    close(fd);
}

Test(http_server, listens_on_ipv6)
{
    struct sockaddr_in6 sa;
    struct ms_error err;
    int probe = socket(AF_INET6, SOCK_STREAM, 0), fd;

    memset(&sa, 0, sizeof(sa));
    sa.sin6_family = AF_INET6;
    sa.sin6_addr = in6addr_loopback;
    if (probe < 0 || bind(probe, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
        if (probe >= 0)
            close(probe);
        cr_skip_test("no IPv6 loopback here");
    }
    close(probe);
    hst.cfg.listen_host = "[::1]";
    cr_assert_eq(ms_http_start(&hst.cfg, &hst.h, &err), MS_OK, "%s", err.msg);
    sa.sin6_port = htons((uint16_t)ms_http_port(hst.h));
    fd = socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0);
    cr_assert_eq(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    hst_send(fd, HST_GET);
    cr_expect_eq(hst_response(fd, 5000), 200);
    close(fd);
}

Test(http_server, taken_port_is_refused)
{
    struct ms_http *second = NULL;
    struct ms_config cfg;
    struct ms_error err;

    hst_start();
    cfg = hst.cfg;
    cfg.listen_port = ms_http_port(hst.h);
    cr_expect_eq(ms_http_start(&cfg, &second, &err), MS_EINTERNAL);
    cr_expect_null(second);
    cr_expect_not_null(strstr(err.msg, "cannot listen"), "%s", err.msg);
}
