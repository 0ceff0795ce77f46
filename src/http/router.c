/*
 * router.c: (method, raw path) → one entry of the route tables (api/'s, plus http/'s own
 * /healthz and /metrics). ms_router_new() parses every pattern once into segment arrays; the
 * router is immutable afterwards, so all HTTP workers read it without a lock.
 *
 * Matching follows API.md §2.1: split the raw path on '/' first, drop empty segments (Go
 * clients send "//api/…"), percent-decode each segment (so "%2F" stays inside its segment),
 * then compare with every pattern of the same length. A literal segment beats a {param}, and
 * {x:uuid} beats {x}, at the first position where two candidates differ; the tables' order
 * only breaks exact ties.
 */
#include "http/http_int.h"

#include <stdlib.h>
#include <string.h>

#include "core/str.h"
#include "core/uuid.h"
#include "core/xmalloc.h"

/* More segments than any pattern has: such a path cannot match, so it is refused unsplit. */
#define ROUTER_MAX_SEGS 16

enum rt_kind {
    RT_PARAM, /* {name}: any non-empty segment */
    RT_UUID,  /* {name:uuid}: a valid UUID only */
    RT_LIT,   /* literal text */
};

struct rt_seg {
    enum rt_kind kind;
    char *text; /* owned: the literal, or the parameter name without ":uuid" */
    size_t len; /* strlen(text) */
};

/* A request path split into decoded segments; whether each is a UUID is worked out once, on
 * the first {x:uuid} pattern that asks, however many patterns have one there. */
struct rt_path {
    char *segs[ROUTER_MAX_SEGS]; /* in the request arena */
    size_t lens[ROUTER_MAX_SEGS];
    signed char uuid[ROUTER_MAX_SEGS]; /* -1 not yet known, 0 no, 1 yes */
    size_t n;
};

struct rt_entry {
    const struct ms_route *route; /* borrowed from a process-lifetime table */
    size_t pattern;               /* index into ms_router.patterns */
    size_t nseg;
    struct rt_seg segs[ROUTER_MAX_SEGS];
};

struct ms_router {
    struct rt_entry *entries; /* owned; n of them in table order */
    size_t n;
    /* by_len[k]: the indexes of the entries with k segments, in table order (a request path
     * is compared with those only); by_len[k][nby_len[k]] is not used. */
    size_t *by_len[ROUTER_MAX_SEGS + 1];
    size_t nby_len[ROUTER_MAX_SEGS + 1];
    char **patterns; /* owned labels ("/api/syncs/{id}"), distinct, first-seen order */
    size_t npatterns;
};

static bool
rt_name_ok(const char *p, size_t n)
{
    if (n == 0)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = p[i];

        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_'))
            return false;
    }
    return true;
}

/* One pattern segment: "syncs", "{id}" or "{id:uuid}". */
static bool
rt_seg_parse(const char *p, size_t n, struct rt_seg *out)
{
    const char *colon;
    size_t name_len;

    if (n == 0 || memchr(p, '{', n) == NULL) {
        out->kind = RT_LIT;
        out->text = ms_xstrndup(p, n);
        out->len = n;
        return n > 0 && memchr(p, '}', n) == NULL;
    }
    if (n < 3 || p[0] != '{' || p[n - 1] != '}')
        return false;
    colon = memchr(p, ':', n);
    name_len = colon != NULL ? (size_t)(colon - p) - 1 : n - 2;
    if (!rt_name_ok(p + 1, name_len))
        return false;
    if (colon != NULL && !(n - name_len - 3 == 4 && memcmp(colon + 1, "uuid", 4) == 0))
        return false;
    out->kind = colon != NULL ? RT_UUID : RT_PARAM;
    out->text = ms_xstrndup(p + 1, name_len);
    out->len = name_len;
    return true;
}

static enum ms_status
rt_entry_parse(const struct ms_route *route, struct rt_entry *e, struct ms_error *err)
{
    const char *p = route->pattern;
    size_t nparams = 0;

    e->route = route;
    e->nseg = 0;
    if (p[0] != '/' || route->method == NULL || route->handler == NULL)
        return ms_fail(err, MS_EINTERNAL, "route %s: bad pattern or missing method/handler", p);
    while (*p != '\0') {
        const char *seg = p + 1;
        const char *end = strchr(seg, '/');
        size_t n = end != NULL ? (size_t)(end - seg) : strlen(seg);

        if (e->nseg == ROUTER_MAX_SEGS)
            return ms_fail(err, MS_EINTERNAL, "route %s: too many segments", route->pattern);
        if (!rt_seg_parse(seg, n, &e->segs[e->nseg++]))
            return ms_fail(err, MS_EINTERNAL, "route %s: bad segment", route->pattern);
        if (e->segs[e->nseg - 1].kind != RT_LIT && ++nparams > MS_MAX_PATH_PARAMS)
            return ms_fail(err, MS_EINTERNAL, "route %s: too many parameters", route->pattern);
        p = seg + n;
    }
    return MS_OK;
}

/* The label of a parsed pattern: its segments with parameters as "{name}" (no ":uuid"). */
static char *
rt_label(const struct rt_entry *e)
{
    struct ms_buf b;

    ms_buf_init(&b, 4096);
    for (size_t i = 0; i < e->nseg; i++)
        (void)ms_buf_addf(&b, e->segs[i].kind == RT_LIT ? "/%s" : "/{%s}", e->segs[i].text);
    return ms_buf_take(&b, NULL);
}

static size_t
rt_pattern_index(struct ms_router *r, const struct rt_entry *e)
{
    char *label = rt_label(e);

    for (size_t i = 0; i < r->npatterns; i++) {
        if (strcmp(r->patterns[i], label) == 0) {
            free(label);
            return i;
        }
    }
    r->patterns[r->npatterns] = label;
    return r->npatterns++;
}

enum ms_status
ms_router_new(const struct ms_route *const *tables, struct ms_router **out, struct ms_error *err)
{
    struct ms_router *r = ms_xcalloc(1, sizeof(*r));
    enum ms_status st = MS_OK;
    size_t total = 0;

    for (size_t t = 0; tables[t] != NULL; t++)
        for (const struct ms_route *rt = tables[t]; rt->pattern != NULL; rt++)
            total++;
    r->entries = ms_xcalloc(total + 1, sizeof(*r->entries));
    r->patterns = ms_xcalloc(total + 1, sizeof(*r->patterns));
    for (size_t t = 0; tables[t] != NULL && st == MS_OK; t++) {
        for (const struct ms_route *rt = tables[t]; rt->pattern != NULL && st == MS_OK; rt++) {
            struct rt_entry *e = &r->entries[r->n++];

            st = rt_entry_parse(rt, e, err);
            if (st == MS_OK)
                e->pattern = rt_pattern_index(r, e);
        }
    }
    if (st != MS_OK) {
        ms_router_free(r);
        return st;
    }
    for (size_t k = 0; k <= ROUTER_MAX_SEGS; k++)
        r->by_len[k] = ms_xcalloc(total + 1, sizeof(size_t));
    for (size_t i = 0; i < r->n; i++) {
        size_t k = r->entries[i].nseg;

        r->by_len[k][r->nby_len[k]++] = i;
    }
    *out = r;
    return MS_OK;
}

void
ms_router_free(struct ms_router *r)
{
    if (r == NULL)
        return;
    for (size_t i = 0; i < r->n; i++)
        for (size_t j = 0; j < r->entries[i].nseg; j++)
            free(r->entries[i].segs[j].text);
    for (size_t i = 0; i < r->npatterns; i++)
        free(r->patterns[i]);
    for (size_t k = 0; k <= ROUTER_MAX_SEGS; k++)
        free(r->by_len[k]);
    free(r->entries);
    free(r->patterns);
    free(r);
}

size_t
ms_router_npatterns(const struct ms_router *r)
{
    return r->npatterns;
}

const char *
ms_router_pattern(const struct ms_router *r, size_t i)
{
    return i < r->npatterns ? r->patterns[i] : "unmatched";
}

/*
 * Split raw on '/', dropping empty segments, and percent-decode each into the arena. Only
 * MHD's memory pool bounds the path's length, so the segment count is capped before decoding.
 */
static bool
rt_split(const char *raw, struct ms_arena *a, struct rt_path *path)
{
    const char *p = raw;

    path->n = 0;
    if (raw == NULL || raw[0] != '/')
        return false;
    while (*p != '\0') {
        size_t n = strcspn(p, "/");
        size_t dlen;
        char *d;

        if (n > 0) {
            if (path->n == ROUTER_MAX_SEGS)
                return false;
            d = ms_arena_alloc(a, n + 1);
            if (ms_str_pct_decode((struct ms_str){p, n}, false, d, &dlen) != MS_OK)
                return false;
            d[dlen] = '\0';
            path->segs[path->n] = d;
            path->lens[path->n] = dlen;
            path->uuid[path->n] = -1;
            path->n++;
        }
        p += n;
        if (*p == '/')
            p++;
    }
    return true;
}

static bool
rt_is_uuid(struct rt_path *path, size_t i)
{
    if (path->uuid[i] < 0)
        path->uuid[i] = ms_uuid_valid(path->segs[i], path->lens[i]) ? 1 : 0;
    return path->uuid[i] == 1;
}

static bool
rt_entry_matches(const struct rt_entry *e, struct rt_path *path)
{
    if (e->nseg != path->n)
        return false;
    for (size_t i = 0; i < path->n; i++) {
        const struct rt_seg *s = &e->segs[i];

        if (s->kind == RT_LIT &&
            (s->len != path->lens[i] || memcmp(s->text, path->segs[i], s->len) != 0))
            return false;
        if (s->kind == RT_UUID && !rt_is_uuid(path, i))
            return false;
    }
    return true;
}

/* a beats b: at the first segment where their kinds differ, a's is the more specific. */
static bool
rt_beats(const struct rt_entry *a, const struct rt_entry *b)
{
    for (size_t i = 0; i < a->nseg && i < b->nseg; i++)
        if (a->segs[i].kind != b->segs[i].kind)
            return a->segs[i].kind > b->segs[i].kind;
    return false;
}

static bool
rt_method_ok(const struct ms_route *route, const char *method)
{
    if (strcmp(route->method, method) == 0)
        return true;
    return strcmp(method, "HEAD") == 0 && strcmp(route->method, "GET") == 0;
}

/* The decoded segments are the request arena's already: {x:uuid} values are lowercased in
 * place. */
static void
rt_fill_params(const struct rt_entry *e, const struct rt_path *path, struct ms_route_match *m)
{
    for (size_t i = 0; i < e->nseg; i++) {
        char *val;

        if (e->segs[i].kind == RT_LIT)
            continue;
        val = path->segs[i];
        if (e->segs[i].kind == RT_UUID)
            ms_str_lower(val);
        m->params[m->nparams].key = e->segs[i].text;
        m->params[m->nparams].val = val;
        m->nparams++;
    }
}

/* "GET, PUT, DELETE": each method of the routes whose segments match, once, in table order. */
static const char *
rt_allow(const struct ms_router *r, struct rt_path *path, struct ms_arena *a)
{
    const char *seen[16];
    size_t nseen = 0;
    struct ms_buf b;
    const char *out;

    ms_buf_init(&b, 256);
    for (size_t i = 0; i < r->nby_len[path->n] && nseen < MS_ARRAY_LEN(seen); i++) {
        const struct rt_entry *e = &r->entries[r->by_len[path->n][i]];
        const char *meth = e->route->method;
        size_t j = 0;

        if (!rt_entry_matches(e, path))
            continue;
        while (j < nseen && strcmp(seen[j], meth) != 0)
            j++;
        if (j < nseen)
            continue;
        seen[nseen++] = meth;
        (void)ms_buf_addf(&b, "%s%s", b.len > 0 ? ", " : "", meth);
    }
    out = ms_arena_strdup(a, ms_buf_str(&b));
    ms_buf_release(&b);
    return out;
}

enum ms_status
ms_router_match(const struct ms_router *r, const char *method, const char *raw_path,
                struct ms_arena *a, struct ms_route_match *m, struct ms_error *err)
{
    struct rt_path path;
    const struct rt_entry *best = NULL, *any = NULL;

    memset(m, 0, sizeof(*m));
    m->pattern = r->npatterns;
    if (!rt_split(raw_path, a, &path))
        return ms_fail(err, MS_ENOTFOUND, "no such endpoint");
    for (size_t i = 0; i < r->nby_len[path.n]; i++) {
        const struct rt_entry *e = &r->entries[r->by_len[path.n][i]];

        if (!rt_entry_matches(e, &path))
            continue;
        if (any == NULL || rt_beats(e, any))
            any = e;
        if (rt_method_ok(e->route, method) && (best == NULL || rt_beats(e, best)))
            best = e;
    }
    if (best != NULL) {
        m->route = best->route;
        m->pattern = best->pattern;
        rt_fill_params(best, &path, m);
        return MS_OK;
    }
    if (any == NULL)
        return ms_fail(err, MS_ENOTFOUND, "no such endpoint");
    m->pattern = any->pattern;
    m->allow = rt_allow(r, &path, a);
    return ms_fail(err, MS_EMETHOD, "method not allowed on this endpoint (allowed: %s)", m->allow);
}
