/*
 * test_router.c: tests for src/http/router.c (and the route-sized metrics table of metrics.c).
 * The router is driven directly with route tables of its own, no sockets: literal segments
 * beat parameters, {x:uuid} rejects malformed ids (404) and lowercases good ones, segments are
 * percent-decoded after splitting, empty segments collapse, a known path with the wrong method
 * is a 405 listing the allowed methods, and patterns of several lengths sharing segments each
 * find their own paths.
 */
#include <criterion/criterion.h>
#include <string.h>

#include "core/arena.h"
#include "core/buf.h"
#include "http/http_int.h"

static enum ms_status
trt_handler(struct ms_req *req, struct ms_error *err)
{
    (void)req;
    (void)err;
    return MS_OK;
}

static const struct ms_route trt_syncs[] = {
    {"GET", "/api/syncs", trt_handler, 0},
    {"POST", "/api/syncs", trt_handler, 0},
    {"GET", "/api/syncs/{id:uuid}", trt_handler, 0},
    {"PUT", "/api/syncs/{id:uuid}", trt_handler, 0},
    {"DELETE", "/api/syncs/{id:uuid}", trt_handler, 0},
    {"GET", "/api/syncs/schedules", trt_handler, 0},
    {"GET", "/api/syncs/{sync_id:uuid}/executions/{id:uuid}/{type}/{filename}", trt_handler,
     MS_ROUTE_PUBLIC},
    {NULL, NULL, NULL, 0},
};

/* The param route comes first on purpose: table order must not beat a literal. */
static const struct ms_route trt_connections[] = {
    {"GET", "/api/connections/{id}", trt_handler, 0},
    {"POST", "/api/connections/test", trt_handler, 0},
    {"GET", "/api/connections/{id:uuid}/modelsync/source", trt_handler, 0},
    {NULL, NULL, NULL, 0},
};

static const struct ms_route *const trt_tables[] = {trt_syncs, trt_connections, NULL};

static struct ms_router *trt_router;
static struct ms_arena *trt_arena;

static void
trt_setup(void)
{
    cr_assert_eq(ms_router_new(trt_tables, &trt_router, NULL), MS_OK);
    trt_arena = ms_arena_new();
}

static void
trt_teardown(void)
{
    ms_router_free(trt_router);
    ms_arena_free(trt_arena);
}

static enum ms_status
trt_match(const char *method, const char *path, struct ms_route_match *m)
{
    struct ms_error err;

    return ms_router_match(trt_router, method, path, trt_arena, m, &err);
}

static const char *
trt_param(const struct ms_route_match *m, const char *name)
{
    for (size_t i = 0; i < m->nparams; i++)
        if (strcmp(m->params[i].key, name) == 0)
            return m->params[i].val;
    return NULL;
}

#define TRT_UUID "248df4b7-aa70-47b8-a036-33ac447e668d"

TestSuite(router, .init = trt_setup, .fini = trt_teardown);

Test(router, literal_beats_uuid_param)
{
    struct ms_route_match m;

    cr_assert_eq(trt_match("GET", "/api/syncs/schedules", &m), MS_OK);
    cr_expect_eq(m.route, &trt_syncs[5]);
    cr_expect_eq(m.nparams, 0);
    cr_expect_str_eq(ms_router_pattern(trt_router, m.pattern), "/api/syncs/schedules");

    cr_assert_eq(trt_match("GET", "/api/syncs/" TRT_UUID, &m), MS_OK);
    cr_expect_eq(m.route, &trt_syncs[2]);
    cr_expect_str_eq(trt_param(&m, "id"), TRT_UUID);
    cr_expect_str_eq(ms_router_pattern(trt_router, m.pattern), "/api/syncs/{id}");
}

Test(router, literal_beats_plain_param_whatever_the_order)
{
    struct ms_route_match m;

    cr_assert_eq(trt_match("POST", "/api/connections/test", &m), MS_OK);
    cr_expect_eq(m.route, &trt_connections[1]);
    /* GET has only the {id} route, so "test" is an id there */
    cr_assert_eq(trt_match("GET", "/api/connections/test", &m), MS_OK);
    cr_expect_eq(m.route, &trt_connections[0]);
    cr_expect_str_eq(trt_param(&m, "id"), "test");
}

Test(router, malformed_uuid_is_not_found)
{
    struct ms_route_match m;

    cr_expect_eq(trt_match("GET", "/api/syncs/id", &m), MS_ENOTFOUND);
    cr_expect_eq(trt_match("GET", "/api/syncs/248df4b7-aa70-47b8-a036-33ac447e668", &m),
                 MS_ENOTFOUND);
    cr_expect_eq(trt_match("DELETE", "/api/syncs/not-a-uuid", &m), MS_ENOTFOUND);
    cr_expect_null(m.route);
    cr_expect_str_eq(ms_router_pattern(trt_router, m.pattern), "unmatched");
}

Test(router, uppercase_uuid_is_lowercased)
{
    struct ms_route_match m;

    cr_assert_eq(trt_match("PUT", "/api/syncs/248DF4B7-AA70-47B8-A036-33AC447E668D", &m), MS_OK);
    cr_expect_eq(m.route, &trt_syncs[3]);
    cr_expect_str_eq(trt_param(&m, "id"), TRT_UUID);
}

Test(router, segments_are_decoded_after_splitting)
{
    struct ms_route_match m;

    cr_assert_eq(trt_match("GET",
                           "/api/syncs/" TRT_UUID "/executions/" TRT_UUID
                           "/records/dir%2Fname%20x.jsonl",
                           &m),
                 MS_OK);
    cr_expect_eq(m.route, &trt_syncs[6]);
    cr_expect_str_eq(trt_param(&m, "filename"), "dir/name x.jsonl");
    cr_expect_str_eq(trt_param(&m, "type"), "records");
    cr_expect_str_eq(trt_param(&m, "sync_id"), TRT_UUID);
    cr_expect_eq(m.nparams, 4);
    /* an escaped literal still matches the literal */
    cr_expect_eq(trt_match("GET", "/api/%73yncs/schedules", &m), MS_OK);
    cr_expect_eq(m.route, &trt_syncs[5]);
}

Test(router, bad_escapes_are_not_found)
{
    struct ms_route_match m;

    cr_expect_eq(trt_match("GET", "/api/syncs/%zz", &m), MS_ENOTFOUND);
    cr_expect_eq(trt_match("GET", "/api/syncs/%2", &m), MS_ENOTFOUND);
    cr_expect_eq(trt_match("GET", "/api/connections/a%00b", &m), MS_ENOTFOUND);
}

Test(router, repeated_and_trailing_slashes_collapse)
{
    struct ms_route_match m;

    cr_assert_eq(trt_match("GET", "//api//syncs", &m), MS_OK);
    cr_expect_eq(m.route, &trt_syncs[0]);
    cr_assert_eq(trt_match("GET", "/api/syncs/", &m), MS_OK);
    cr_expect_eq(m.route, &trt_syncs[0]);
    cr_assert_eq(trt_match("POST", "///api/syncs///", &m), MS_OK);
    cr_expect_eq(m.route, &trt_syncs[1]);
}

Test(router, wrong_method_is_405_with_allow)
{
    struct ms_route_match m;

    cr_assert_eq(trt_match("PATCH", "/api/syncs/" TRT_UUID, &m), MS_EMETHOD);
    cr_expect_null(m.route);
    cr_expect_str_eq(m.allow, "GET, PUT, DELETE");
    cr_expect_str_eq(ms_router_pattern(trt_router, m.pattern), "/api/syncs/{id}");

    cr_assert_eq(trt_match("DELETE", "/api/syncs", &m), MS_EMETHOD);
    cr_expect_str_eq(m.allow, "GET, POST");
    cr_assert_eq(trt_match("POST", "/api/syncs/schedules", &m), MS_EMETHOD);
    cr_expect_str_eq(m.allow, "GET");
}

Test(router, head_is_routed_like_get)
{
    struct ms_route_match m;

    cr_assert_eq(trt_match("HEAD", "/api/syncs", &m), MS_OK);
    cr_expect_eq(m.route, &trt_syncs[0]);
}

Test(router, unknown_paths_are_404)
{
    struct ms_route_match m;

    cr_expect_eq(trt_match("GET", "/api/nothing", &m), MS_ENOTFOUND);
    cr_expect_eq(trt_match("GET", "/syncs", &m), MS_ENOTFOUND);
    cr_expect_eq(trt_match("GET", "/", &m), MS_ENOTFOUND);
    cr_expect_eq(trt_match("GET", "", &m), MS_ENOTFOUND);
    cr_expect_eq(trt_match("GET", "*", &m), MS_ENOTFOUND);
    cr_expect_eq(trt_match("GET", "/api/syncs/" TRT_UUID "/extra", &m), MS_ENOTFOUND);
    cr_expect_eq(trt_match("GET", "/a/b/c/d/e/f/g/h/i/j/k/l/m/n/o/p/q/r/s/t", &m), MS_ENOTFOUND);
}

Test(router, patterns_are_distinct_and_counted)
{
    /* 4 distinct syncs patterns + 3 connections patterns */
    cr_expect_eq(ms_router_npatterns(trt_router), 7);
    cr_expect_str_eq(ms_router_pattern(trt_router, 0), "/api/syncs");
    cr_expect_str_eq(ms_router_pattern(trt_router, 7), "unmatched");
}

Test(router_tables, malformed_patterns_are_refused)
{
    static const struct ms_route bad1[] = {{"GET", "/api/{id", trt_handler, 0},
                                           {NULL, NULL, NULL, 0}};
    static const struct ms_route bad2[] = {{"GET", "/api//x", trt_handler, 0},
                                           {NULL, NULL, NULL, 0}};
    static const struct ms_route bad3[] = {{"GET", "/api/{id:int}", trt_handler, 0},
                                           {NULL, NULL, NULL, 0}};
    static const struct ms_route bad4[] = {{"GET", "api/x", trt_handler, 0}, {NULL, NULL, NULL, 0}};
    const struct ms_route *const t1[] = {bad1, NULL}, *const t2[] = {bad2, NULL};
    const struct ms_route *const t3[] = {bad3, NULL}, *const t4[] = {bad4, NULL};
    struct ms_router *r = NULL;
    struct ms_error err;

    cr_expect_eq(ms_router_new(t1, &r, &err), MS_EINTERNAL);
    cr_expect_eq(ms_router_new(t2, &r, &err), MS_EINTERNAL);
    cr_expect_eq(ms_router_new(t3, &r, &err), MS_EINTERNAL);
    cr_expect_eq(ms_router_new(t4, &r, &err), MS_EINTERNAL);
    cr_expect_null(r);
}

Test(router_metrics, counts_by_pattern_never_by_path, .init = trt_setup, .fini = trt_teardown)
{
    struct ms_metrics *mx = ms_metrics_new(trt_router);
    struct ms_route_match m;
    struct ms_buf b;
    const char *text;

    cr_assert_eq(trt_match("GET", "/api/syncs/" TRT_UUID, &m), MS_OK);
    ms_metrics_observe(mx, "GET", m.pattern, 200, 300000);   /* 0.3 ms */
    ms_metrics_observe(mx, "GET", m.pattern, 200, 20000000); /* 20 ms */
    ms_metrics_observe(mx, "BREW", ms_router_npatterns(trt_router), 404, 1000);
    ms_buf_init(&b, 1 << 20);
    cr_assert_eq(ms_metrics_render(mx, &b), MS_OK);
    text = ms_buf_str(&b);
    cr_expect(strstr(text, "modelsync_build_info{version=\"") != NULL);
    cr_expect(strstr(text, "modelsync_http_requests_total{method=\"GET\",route=\"/api/syncs/"
                           "{id}\",status=\"200\"} 2\n") != NULL,
              "%s", text);
    cr_expect(strstr(text, "{method=\"other\",route=\"unmatched\",status=\"404\"} 1\n") != NULL);
    cr_expect(strstr(text, "_bucket{route=\"/api/syncs/{id}\",le=\"0.0005\"} 1\n") != NULL);
    cr_expect(strstr(text, "_bucket{route=\"/api/syncs/{id}\",le=\"0.025\"} 2\n") != NULL);
    cr_expect(strstr(text, "_bucket{route=\"/api/syncs/{id}\",le=\"+Inf\"} 2\n") != NULL);
    cr_expect(strstr(text, "_count{route=\"/api/syncs/{id}\"} 2\n") != NULL);
    cr_expect(strstr(text, "_sum{route=\"/api/syncs/{id}\"} 0.020300000\n") != NULL);
    cr_expect(strstr(text, TRT_UUID) == NULL, "raw paths never become labels");
    cr_expect(strstr(text, "route=\"/api/syncs\"") == NULL, "unused routes are not listed");
    ms_buf_release(&b);
    ms_metrics_free(mx);
}

/* Patterns of several lengths share segments; each path is compared only with its own length,
 * and a segment checked as a UUID for one pattern gives the same answer to the next. */
static const struct ms_route trt_lengths[] = {
    {"GET", "/v/{id:uuid}/a", trt_handler, 0},
    {"GET", "/v/{id:uuid}/b", trt_handler, 0},
    {"GET", "/v/{name}/a", trt_handler, 0},
    {"GET", "/v/{id:uuid}", trt_handler, 0},
    {"GET", "/v/{id:uuid}/a/{n}", trt_handler, 0},
    {"GET", "/v", trt_handler, 0},
    {NULL, NULL, NULL, 0},
};

static const struct ms_route *const trt_length_tables[] = {trt_lengths, NULL};

Test(router_lengths, each_path_length_finds_its_pattern)
{
    struct ms_router *r;
    struct ms_arena *a = ms_arena_new();
    struct ms_route_match m;
    struct ms_error err;

    cr_assert_eq(ms_router_new(trt_length_tables, &r, NULL), MS_OK);
    cr_assert_eq(ms_router_match(r, "GET", "/v", a, &m, &err), MS_OK);
    cr_expect_eq(m.route, &trt_lengths[5]);
    cr_assert_eq(ms_router_match(r, "GET", "/v/" TRT_UUID, a, &m, &err), MS_OK);
    cr_expect_eq(m.route, &trt_lengths[3]);
    cr_assert_eq(ms_router_match(r, "GET", "/v/" TRT_UUID "/a", a, &m, &err), MS_OK);
    cr_expect_eq(m.route, &trt_lengths[0], "{id:uuid} beats {name} at the same position");
    cr_assert_eq(
        ms_router_match(r, "GET", "/v/248DF4B7-AA70-47B8-A036-33AC447E668D/b", a, &m, &err), MS_OK);
    cr_expect_eq(m.route, &trt_lengths[1]);
    cr_expect_str_eq(m.params[0].val, TRT_UUID);
    cr_assert_eq(ms_router_match(r, "GET", "/v/not-a-uuid/a", a, &m, &err), MS_OK);
    cr_expect_eq(m.route, &trt_lengths[2]);
    cr_expect_str_eq(m.params[0].val, "not-a-uuid");
    cr_expect_eq(ms_router_match(r, "GET", "/v/not-a-uuid/b", a, &m, &err), MS_ENOTFOUND);
    cr_assert_eq(ms_router_match(r, "GET", "/v/" TRT_UUID "/a/7", a, &m, &err), MS_OK);
    cr_expect_eq(m.route, &trt_lengths[4]);
    cr_expect_eq(m.nparams, 2);
    cr_expect_eq(ms_router_match(r, "GET", "/v/" TRT_UUID "/a/7/8", a, &m, &err), MS_ENOTFOUND);
    cr_expect_eq(ms_router_match(r, "GET", "/", a, &m, &err), MS_ENOTFOUND);
    cr_expect_eq(ms_router_match(r, "POST", "/v/" TRT_UUID "/a", a, &m, &err), MS_EMETHOD);
    cr_expect_str_eq(m.allow, "GET");
    ms_router_free(r);
    ms_arena_free(a);
}

/* More segments than any pattern may have is refused before anything is decoded. */
Test(router_lengths, too_many_segments_is_not_found)
{
    struct ms_router *r;
    struct ms_arena *a = ms_arena_new();
    struct ms_route_match m;
    struct ms_error err;
    char path[128] = "";

    cr_assert_eq(ms_router_new(trt_length_tables, &r, NULL), MS_OK);
    for (int i = 0; i < 17; i++)
        strcat(path, "/v");
    cr_expect_eq(ms_router_match(r, "GET", path, a, &m, &err), MS_ENOTFOUND);
    path[32] = '\0'; /* 16 segments: within the cap, but no pattern that long */
    cr_expect_eq(ms_router_match(r, "GET", path, a, &m, &err), MS_ENOTFOUND);
    ms_router_free(r);
    ms_arena_free(a);
}
