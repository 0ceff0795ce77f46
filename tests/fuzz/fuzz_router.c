/*
 * fuzz_router.c: the request path as the server routes it. The input is a raw path (as MHD hands
 * it over: not yet percent-decoded), matched with every method against a router built once from
 * the real ms_api_route_tables, exactly as http/server.c does. Besides the sanitizers, the
 * result must be consistent: a match names a route of that method and only decoded, non-empty
 * parameters; HEAD routes like GET; a 405 lists the allowed methods.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "core/arena.h"
#include "core/uuid.h"
#include "http/http_int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FZ_CHECK(c)                                                                                \
    do {                                                                                           \
        if (!(c)) {                                                                                \
            fprintf(stderr, "fuzz_router: check failed: %s (line %d)\n", #c, __LINE__);            \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

static const char *const fz_methods[] = {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "BREW"};

/* Built once, read by every run (as the server's pool threads do). */
static struct ms_router *
fz_router(void)
{
    static struct ms_router *r;

    if (r == NULL)
        FZ_CHECK(ms_router_new(ms_api_route_tables, &r, NULL) == MS_OK);
    return r;
}

static void
fz_check_match(const struct ms_router *r, const char *method, enum ms_status st,
               const struct ms_route_match *m)
{
    FZ_CHECK(st == MS_OK || st == MS_EMETHOD || st == MS_ENOTFOUND);
    if (st == MS_OK) {
        FZ_CHECK(m->route != NULL && m->pattern < ms_router_npatterns(r));
        FZ_CHECK(strcmp(m->route->method, method) == 0 ||
                 (strcmp(method, "HEAD") == 0 && strcmp(m->route->method, "GET") == 0));
        FZ_CHECK(m->nparams <= MS_MAX_PATH_PARAMS);
        for (size_t i = 0; i < m->nparams; i++) {
            FZ_CHECK(m->params[i].key != NULL && m->params[i].val != NULL);
            FZ_CHECK(m->params[i].val[0] != '\0');
        }
        return;
    }
    FZ_CHECK(m->route == NULL);
    if (st == MS_EMETHOD)
        FZ_CHECK(m->allow != NULL && m->allow[0] != '\0' && m->pattern < ms_router_npatterns(r));
    else
        FZ_CHECK(m->pattern == ms_router_npatterns(r));
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const struct ms_router *r = fz_router();
    struct ms_arena *a = ms_arena_new();
    const struct ms_route *get_route = NULL;
    enum ms_status get_st = MS_OK;
    char *path = malloc(size + 1);

    FZ_CHECK(path != NULL);
    memcpy(path, data, size);
    path[size] = '\0';
    for (size_t i = 0; i < sizeof(fz_methods) / sizeof(fz_methods[0]); i++) {
        struct ms_route_match m;
        struct ms_error err;
        enum ms_status st = ms_router_match(r, fz_methods[i], path, a, &m, &err);

        fz_check_match(r, fz_methods[i], st, &m);
        if (i == 0) {
            get_st = st;
            get_route = m.route;
        } else if (i == 1) {
            FZ_CHECK(st == get_st && m.route == get_route); /* HEAD is GET */
        }
    }
    free(path);
    ms_arena_free(a);
    return 0;
}
