/*
 * metrics.c: Prometheus counters for /metrics. The table is sized once from the router (every
 * distinct pattern plus "unmatched", a fixed method list and a fixed status list), so recording
 * a request is a few relaxed atomic increments with no lock and no allocation, on whichever HTTP
 * worker answered it. Route labels are patterns, never raw paths: the label set is bounded
 * and no organization's ids leak. Rendering reads the counters while they move; each counter
 * is exact, a scrape is not a snapshot.
 */
#include "http/http_int.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/common.h"
#include "core/xmalloc.h"

static const char *const mx_methods[] = {"GET",   "HEAD",   "POST",   "PUT",
                                         "PATCH", "DELETE", "OPTIONS"};
#define MX_NMETHODS (MS_ARRAY_LEN(mx_methods) + 1) /* + "other" */

/* Every status this server answers with; anything else is counted as "other". */
static const int mx_statuses[] = {200, 201, 202, 204, 301, 302, 304, 307, 308, 400, 401, 403, 404,
                                  405, 408, 409, 413, 415, 422, 429, 500, 501, 502, 503, 504};
#define MX_NSTATUSES (MS_ARRAY_LEN(mx_statuses) + 1) /* + "other" */

/* Upper bounds in seconds, and the same in nanoseconds for the hot path. */
static const char *const mx_bucket_le[] = {"0.0005", "0.001", "0.0025", "0.005", "0.01",
                                           "0.025",  "0.05",  "0.1",    "0.25",  "0.5",
                                           "1",      "2.5",   "5",      "10"};
static const int64_t mx_bucket_ns[] = {500000,     1000000,    2500000,    5000000,    10000000,
                                       25000000,   50000000,   100000000,  250000000,  500000000,
                                       1000000000, 2500000000, 5000000000, 10000000000};
_Static_assert(MS_ARRAY_LEN(mx_bucket_le) == MS_ARRAY_LEN(mx_bucket_ns), "bucket tables differ");
#define MX_NBUCKETS (MS_ARRAY_LEN(mx_bucket_ns) + 1) /* + the +Inf overflow */

struct ms_metrics {
    const struct ms_router *router; /* borrowed: labels; outlives the metrics */
    size_t nroutes;                 /* patterns + 1 ("unmatched") */
    atomic_uint_fast64_t *requests; /* [route][method][status] */
    atomic_uint_fast64_t *buckets;  /* [route][bucket], not cumulative; last = over 10 s */
    atomic_uint_fast64_t *sum_ns;   /* [route] */
};

static void
mx_zero(atomic_uint_fast64_t *a, size_t n)
{
    for (size_t i = 0; i < n; i++)
        atomic_init(&a[i], 0);
}

struct ms_metrics *
ms_metrics_new(const struct ms_router *r)
{
    struct ms_metrics *m = ms_xcalloc(1, sizeof(*m));
    size_t nreq;

    m->router = r;
    m->nroutes = ms_router_npatterns(r) + 1;
    nreq = m->nroutes * MX_NMETHODS * MX_NSTATUSES;
    m->requests = ms_xcalloc(nreq, sizeof(*m->requests));
    m->buckets = ms_xcalloc(m->nroutes * MX_NBUCKETS, sizeof(*m->buckets));
    m->sum_ns = ms_xcalloc(m->nroutes, sizeof(*m->sum_ns));
    mx_zero(m->requests, nreq);
    mx_zero(m->buckets, m->nroutes * MX_NBUCKETS);
    mx_zero(m->sum_ns, m->nroutes);
    return m;
}

void
ms_metrics_free(struct ms_metrics *m)
{
    if (m == NULL)
        return;
    free(m->requests);
    free(m->buckets);
    free(m->sum_ns);
    free(m);
}

static size_t
mx_method_index(const char *method)
{
    size_t i = 0;

    while (i < MS_ARRAY_LEN(mx_methods) && strcmp(mx_methods[i], method) != 0)
        i++;
    return i;
}

static size_t
mx_status_index(int status)
{
    size_t i = 0;

    while (i < MS_ARRAY_LEN(mx_statuses) && mx_statuses[i] != status)
        i++;
    return i;
}

void
ms_metrics_observe(struct ms_metrics *m, const char *method, size_t pattern, int status,
                   int64_t duration_ns)
{
    size_t route = pattern < m->nroutes ? pattern : m->nroutes - 1;
    size_t idx =
        (route * MX_NMETHODS + mx_method_index(method)) * MX_NSTATUSES + mx_status_index(status);
    size_t b = 0;

    if (duration_ns < 0)
        duration_ns = 0;
    while (b < MS_ARRAY_LEN(mx_bucket_ns) && duration_ns > mx_bucket_ns[b])
        b++;
    atomic_fetch_add_explicit(&m->requests[idx], 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&m->buckets[route * MX_NBUCKETS + b], 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&m->sum_ns[route], (uint_fast64_t)duration_ns, memory_order_relaxed);
}

static uint64_t
mx_get(const atomic_uint_fast64_t *a)
{
    return atomic_load_explicit(a, memory_order_relaxed);
}

static enum ms_status
mx_render_requests(const struct ms_metrics *m, struct ms_buf *out)
{
    enum ms_status st = ms_buf_adds(out, "# HELP modelsync_http_requests_total HTTP requests "
                                         "answered, by method, route pattern and status.\n"
                                         "# TYPE modelsync_http_requests_total counter\n");

    for (size_t r = 0; r < m->nroutes && st == MS_OK; r++) {
        for (size_t i = 0; i < MX_NMETHODS * MX_NSTATUSES && st == MS_OK; i++) {
            uint64_t n = mx_get(&m->requests[r * MX_NMETHODS * MX_NSTATUSES + i]);
            size_t meth = i / MX_NSTATUSES, code = i % MX_NSTATUSES;
            char status[16];

            if (n == 0)
                continue;
            if (code < MS_ARRAY_LEN(mx_statuses))
                snprintf(status, sizeof(status), "%d", mx_statuses[code]);
            else
                snprintf(status, sizeof(status), "other");
            st = ms_buf_addf(out,
                             "modelsync_http_requests_total{method=\"%s\",route=\"%s\","
                             "status=\"%s\"} %llu\n",
                             meth < MS_ARRAY_LEN(mx_methods) ? mx_methods[meth] : "other",
                             ms_router_pattern(m->router, r), status, (unsigned long long)n);
        }
    }
    return st;
}

static enum ms_status
mx_render_route_histogram(const struct ms_metrics *m, size_t r, struct ms_buf *out)
{
    const char *route = ms_router_pattern(m->router, r);
    uint64_t cum = 0, sum = mx_get(&m->sum_ns[r]);
    enum ms_status st = MS_OK;

    for (size_t b = 0; b < MX_NBUCKETS && st == MS_OK; b++) {
        cum += mx_get(&m->buckets[r * MX_NBUCKETS + b]);
        st = ms_buf_addf(out,
                         "modelsync_http_request_duration_seconds_bucket{route=\"%s\",le=\"%s\"} "
                         "%llu\n",
                         route, b < MS_ARRAY_LEN(mx_bucket_le) ? mx_bucket_le[b] : "+Inf",
                         (unsigned long long)cum);
    }
    if (st == MS_OK)
        st = ms_buf_addf(out,
                         "modelsync_http_request_duration_seconds_sum{route=\"%s\"} %.9f\n"
                         "modelsync_http_request_duration_seconds_count{route=\"%s\"} %llu\n",
                         route, (double)sum / 1e9, route, (unsigned long long)cum);
    return st;
}

enum ms_status
ms_metrics_render(const struct ms_metrics *m, struct ms_buf *out)
{
    enum ms_status st;

    st = ms_buf_adds(out, "# HELP modelsync_build_info The running modelsync version.\n"
                          "# TYPE modelsync_build_info gauge\n"
                          "modelsync_build_info{version=\"" MS_VERSION "\"} 1\n");
    if (st == MS_OK)
        st = mx_render_requests(m, out);
    if (st == MS_OK)
        st = ms_buf_adds(out, "# HELP modelsync_http_request_duration_seconds Time from the "
                              "request headers to the queued response, by route pattern.\n"
                              "# TYPE modelsync_http_request_duration_seconds histogram\n");
    for (size_t r = 0; r < m->nroutes && st == MS_OK; r++) {
        bool seen = false;

        for (size_t b = 0; b < MX_NBUCKETS && !seen; b++)
            seen = mx_get(&m->buckets[r * MX_NBUCKETS + b]) != 0;
        if (seen)
            st = mx_render_route_histogram(m, r, out);
    }
    return st;
}
