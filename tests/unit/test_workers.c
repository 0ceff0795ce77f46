/*
 * test_workers.c: the worker pool (workers/workers.c) started for real on a SQLite store in a
 * temp directory, with syncs from the memory connector so the engine runs each claimed
 * execution to the end: a queued execution is claimed at a nudge (well before the next poll)
 * and completed, two executions of different syncs both complete, an execution whose node let
 * its lease lapse is reaped to interrupted when the pool starts, and stopping an idle pool
 * does not wait for the poll interval.
 */
#include <criterion/criterion.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <jansson.h>

#include "connectors/connector.h"
#include "core/arena.h"
#include "core/config.h"
#include "core/crypto.h"
#include "core/time.h"
#include "core/uuid.h"
#include "engine/engine.h"
#include "store/store.h"
#include "workers/workers.h"

#define WT_WAIT_MS 4000 /* longest wait for an execution to get somewhere */
#define WT_NUDGE_MS 500 /* well below the pool's 1 s poll: only a nudge claims this fast */

/* One test's world: a store in a temp directory, an org, a model, two memory destinations. */
static struct {
    char dir[64];
    char url[160];
    struct ms_store *s;
    struct ms_arena *a;
    struct ms_error err;
    const char *org;
    const char *src_id;
    const char *model;
    const char *dst_id[2];
    struct ms_config cfg;
} wt;

static const struct ms_actor wt_actor = {"u-1", "Ada", "user"};

static const char *
wt_uuid(void)
{
    char id[MS_UUID_LEN + 1];

    ms_uuid_new(id);
    return ms_arena_strdup(wt.a, id);
}

/* Store a memory connection (cfg stolen); returns its id. */
static const char *
wt_conn(const char *name, json_t *cfg)
{
    struct ms_connection c;

    memset(&c, 0, sizeof(c));
    c.id = wt_uuid();
    c.org_id = wt.org;
    c.name = name;
    c.type = "memory";
    c.config = cfg;
    c.status = "healthy";
    c.created_at = c.updated_at = 1000;
    c.created_by = c.updated_by = wt_actor;
    cr_assert_eq(ms_store_conn_insert(wt.s, &c, &wt.err), MS_OK, "%s", wt.err.msg);
    json_decref(cfg);
    return c.id;
}

static void
wt_model(void)
{
    struct ms_model m;

    memset(&m, 0, sizeof(m));
    m.id = wt.model = wt_uuid();
    m.org_id = wt.org;
    m.connection_id = wt.src_id;
    m.name = "users";
    m.type = "memory";
    m.config = json_pack("{s:s}", "object", "users");
    m.fields = json_pack("[{s:s,s:s},{s:s,s:s}]", "name", "id", "type", "number", "name", "email",
                         "type", "string");
    m.doc = json_pack("{s:s}", "identifier", "id");
    m.version = 1;
    m.created_at = m.updated_at = 2000;
    m.created_by = m.updated_by = wt_actor;
    cr_assert_eq(ms_store_model_insert(wt.s, &m, &wt.err), MS_OK, "%s", wt.err.msg);
    json_decref(m.config);
    json_decref(m.fields);
    json_decref(m.doc);
}

static void
wt_setup(void)
{
    json_t *rows;

    memset(&wt, 0, sizeof(wt));
    cr_assert_eq(ms_crypto_init(NULL), MS_OK);
    snprintf(wt.dir, sizeof(wt.dir), "/tmp/ms-workers-XXXXXX");
    cr_assert_not_null(mkdtemp(wt.dir));
    snprintf(wt.url, sizeof(wt.url), "sqlite:%s/store.db", wt.dir);
    cr_assert_eq(ms_store_open(wt.url, &wt.s, &wt.err), MS_OK, "%s", wt.err.msg);
    cr_assert_eq(ms_store_migrate(wt.s, &wt.err), MS_OK, "%s", wt.err.msg);
    wt.a = ms_arena_new();
    {
        struct ms_org o = {wt_uuid(), "org", 1};

        cr_assert_eq(ms_store_org_insert(wt.s, &o, &wt.err), MS_OK, "%s", wt.err.msg);
        wt.org = o.id;
    }
    rows = json_loads("[{\"id\": 1, \"email\": \"a@example.com\"},"
                      " {\"id\": 2, \"email\": \"b@example.com\"},"
                      " {\"id\": 3, \"email\": \"c@example.com\"}]",
                      0, NULL);
    cr_assert_not_null(rows);
    wt.src_id = wt_conn("source", json_pack("{s:s, s:{s:o}, s:{s:[s,s]}}", "name", "src", "objects",
                                            "users", rows, "columns", "users", "id", "email"));
    wt.dst_id[0] = wt_conn("dst 1", json_pack("{s:s, s:{s:[s,s]}}", "name", "dst1", "columns",
                                              "people", "user_id", "mail"));
    wt.dst_id[1] = wt_conn("dst 2", json_pack("{s:s, s:{s:[s,s]}}", "name", "dst2", "columns",
                                              "people", "user_id", "mail"));
    wt_model();
    ms_cx_memory_reset();
    wt.cfg.data_dir = wt.dir;
    wt.cfg.store_url = wt.url;
    wt.cfg.workers = 2;
    ms_random_bytes(wt.cfg.secret, sizeof(wt.cfg.secret));
}

static void
wt_teardown(void)
{
    char cmd[200];

    ms_store_close(wt.s);
    ms_arena_free(wt.a);
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", wt.dir);
    cr_expect_eq(system(cmd), 0);
}

TestSuite(workers, .init = wt_setup, .fini = wt_teardown, .timeout = 20);

/* An updateOrCreate sync of the model onto destination d's "people" (mail ← email, identity
 * id → user_id); returns its id. */
static const char *
wt_sync(int d)
{
    char body[2048];
    json_t *b, *config = NULL;
    struct ms_sync y;
    int active = -1;

    snprintf(body, sizeof(body),
             "{\"name\": \"s%d\", \"mode\": \"updateOrCreate\", \"schedule\": {},"
             " \"target\": {\"connection_id\": \"%s\", \"object\": \"people\"},"
             " \"fields\": [{\"target\": \"mail\", \"source\": {\"field\": \"email\","
             " \"model_id\": \"%s\"}}],"
             " \"identity\": {\"source\": {\"field\": \"id\", \"model_id\": \"%s\"},"
             " \"target\": \"user_id\"}}",
             d + 1, wt.dst_id[d], wt.model, wt.model);
    b = json_loads(body, 0, NULL);
    cr_assert_not_null(b, "%s", body);
    cr_assert_eq(ms_sync_parse(b, &config, &active, &wt.err), MS_OK, "%s: %s", wt.err.field,
                 wt.err.msg);
    json_decref(b);
    memset(&y, 0, sizeof(y));
    y.id = wt_uuid();
    y.org_id = wt.org;
    y.active = true;
    ms_sync_set_config(&y, config);
    y.model_ids = ms_sync_model_ids(config);
    y.created_at = y.updated_at = 3000;
    y.created_by = y.updated_by = wt_actor;
    cr_assert_eq(ms_store_sync_insert(wt.s, &y, &wt.err), MS_OK, "%s", wt.err.msg);
    json_decref(y.model_ids);
    json_decref(config);
    return y.id;
}

/* Insert an execution of sync in status; node and lease_until as given (NULL/0: unclaimed). */
static const char *
wt_exec(const char *sync, const char *status, const char *node, int64_t lease_until)
{
    struct ms_execution ex;

    memset(&ex, 0, sizeof(ex));
    ex.id = wt_uuid();
    ex.org_id = wt.org;
    ex.sync_id = sync;
    ex.type = "manual";
    ex.status = status;
    ex.created_at = ms_time_now_ms();
    if (node != NULL)
        ex.started_at = ex.created_at;
    ex.node = node;
    ex.lease_until = lease_until;
    cr_assert_eq(ms_store_exec_insert(wt.s, &ex, &wt.err), MS_OK, "%s", wt.err.msg);
    return ex.id;
}

/* The execution's stored status (arena). */
static const char *
wt_status(const char *id, struct ms_execution *out)
{
    struct ms_execution ex;

    cr_assert_eq(ms_store_exec_get(wt.s, wt.a, wt.org, NULL, id, &ex, &wt.err), MS_OK, "%s",
                 wt.err.msg);
    if (out != NULL)
        *out = ex;
    return ex.status;
}

/* Poll until the execution's status is not one of the two given (b may be NULL) or ms pass;
 * returns the last status seen. */
static const char *
wt_wait_leaves(const char *id, const char *a, const char *b, int64_t ms)
{
    int64_t end = ms_time_mono_ms() + ms;
    const char *st;

    for (;;) {
        st = wt_status(id, NULL);
        if (strcmp(st, a) != 0 && (b == NULL || strcmp(st, b) != 0))
            return st;
        if (ms_time_mono_ms() >= end)
            return st;
        usleep(5000);
    }
}

/* Poll until the execution is in a terminal status or ms pass; returns the last status. */
static const char *
wt_wait_terminal(const char *id, int64_t ms)
{
    int64_t end = ms_time_mono_ms() + ms;
    const char *st;

    for (;;) {
        st = wt_status(id, NULL);
        if (ms_exec_status_terminal(st) || ms_time_mono_ms() >= end)
            return st;
        usleep(5000);
    }
}

/* The memory destination name holds the three users in people, each once with its mail. */
static void
wt_expect_people(const char *name)
{
    json_t *rows = ms_cx_memory_rows(name, "people"), *row;
    bool seen[3] = {false, false, false};
    size_t i;

    cr_expect_eq(json_array_size(rows), 3, "%s holds %zu rows", name, json_array_size(rows));
    json_array_foreach(rows, i, row)
    {
        json_int_t k = json_integer_value(json_object_get(row, "user_id"));
        char want[32];

        cr_assert(k >= 1 && k <= 3, "%s: user_id %lld", name, (long long)k);
        snprintf(want, sizeof(want), "%c@example.com", (char)('a' + k - 1));
        cr_expect_str_eq(json_string_value(json_object_get(row, "mail")), want);
        seen[k - 1] = true;
    }
    cr_expect(seen[0] && seen[1] && seen[2], "%s: every user once", name);
    json_decref(rows);
}

Test(workers, nudge_claims_and_completes)
{
    struct ms_workers *w = NULL;
    struct ms_execution ex;
    const char *sync = wt_sync(0), *id, *st;
    int64_t t0;

    cr_assert_eq(ms_workers_start(&wt.cfg, &w, &wt.err), MS_OK, "%s", wt.err.msg);
    usleep(100 * 1000); /* every thread has found the queue empty and sleeps until the poll */
    id = wt_exec(sync, "queued", NULL, 0);
    t0 = ms_time_mono_ms();
    ms_workers_nudge();
    st = wt_wait_leaves(id, "queued", NULL, WT_WAIT_MS);
    cr_expect_lt(ms_time_mono_ms() - t0, WT_NUDGE_MS, "claimed %lld ms after the nudge",
                 (long long)(ms_time_mono_ms() - t0));
    cr_expect_neq(strcmp(st, "queued"), 0, "the execution was claimed");
    st = wt_wait_terminal(id, WT_WAIT_MS);
    cr_assert_str_eq(st, "completed");
    wt_status(id, &ex);
    cr_expect_str_eq(ex.node, ms_workers_node(), "claimed by this process's node");
    cr_expect_gt(ex.started_at, 0);
    cr_expect_geq(ex.completed_at, ex.started_at);
    cr_expect_eq(ex.counts.total, 3);
    cr_expect_eq(ex.counts.error, 0);
    wt_expect_people("dst1");
    ms_workers_stop(w);
}

Test(workers, two_syncs_both_complete)
{
    struct ms_workers *w = NULL;
    const char *s1 = wt_sync(0), *s2 = wt_sync(1);
    const char *e1 = wt_exec(s1, "queued", NULL, 0), *e2 = wt_exec(s2, "queued", NULL, 0);

    cr_assert_eq(ms_workers_start(&wt.cfg, &w, &wt.err), MS_OK, "%s", wt.err.msg);
    ms_workers_nudge();
    cr_expect_str_eq(wt_wait_terminal(e1, WT_WAIT_MS), "completed");
    cr_expect_str_eq(wt_wait_terminal(e2, WT_WAIT_MS), "completed");
    ms_workers_stop(w);
    wt_expect_people("dst1");
    wt_expect_people("dst2");
}

Test(workers, expired_lease_is_reaped_at_start)
{
    struct ms_workers *w = NULL;
    struct ms_execution ex;
    const char *sync = wt_sync(0), *live_sync = wt_sync(1);
    int64_t now = ms_time_now_ms();
    const char *dead = wt_exec(sync, "running", "gone-host:1:dead", now - 60 * 1000);
    /* Another node's execution whose lease still runs is left alone. */
    const char *live = wt_exec(live_sync, "running", "other-host:2:live", now + 10 * MS_LEASE_MS);

    cr_assert_eq(ms_workers_start(&wt.cfg, &w, &wt.err), MS_OK, "%s", wt.err.msg);
    cr_expect_str_eq(wt_wait_leaves(dead, "running", NULL, WT_WAIT_MS), "interrupted");
    wt_status(dead, &ex);
    cr_expect_gt(ex.completed_at, 0);
    cr_expect_eq(ex.lease_until, 0, "the lease is released");
    ms_workers_stop(w);
    cr_expect_str_eq(wt_status(live, NULL), "running", "a live lease is not reaped");
    cr_expect_eq(ms_cx_memory_writes("dst1"), 0, "a reaped execution is not run again");
}

Test(workers, stop_while_idle_is_prompt)
{
    struct ms_workers *w = NULL;
    int64_t t0;

    wt.cfg.workers = 4;
    cr_assert_eq(ms_workers_start(&wt.cfg, &w, &wt.err), MS_OK, "%s", wt.err.msg);
    usleep(50 * 1000); /* the threads are asleep until their next poll */
    t0 = ms_time_mono_ms();
    ms_workers_stop(w);
    cr_expect_lt(ms_time_mono_ms() - t0, 500, "stop took %lld ms",
                 (long long)(ms_time_mono_ms() - t0));
    ms_workers_stop(NULL); /* a no-op */
}
