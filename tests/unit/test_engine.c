/*
 * test_engine.c: end-to-end runs of ms_engine_run() on a real SQLite store in a temp directory,
 * with the memory connector as source and destination and the fault connector for failures:
 * first, change and no-change runs of every mode, sync_all_records/resync,
 * skip_initial_backfill, identities, test runs, per-record rejections, EBUSY back-off,
 * permanent failures, cancel, lost lease and shutdown, record logs and console entries; and the
 * reader and writer threads: failures and stops with a batch read ahead or a write in flight.
 */
#include <criterion/criterion.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <jansson.h>

#include "connectors/connector.h"
#include "core/arena.h"
#include "core/crypto.h"
#include "core/time.h"
#include "core/uuid.h"
#include "engine/engine.h"
#include "engine/engine_int.h"
#include "store/store.h"

#define EE_NODE "node-test"
#define EE_COLS "[\"id\", \"email\", \"plan\", \"score\", \"seen_at\"]"

/* One test's world: a store in a temp directory, an org, two memory connections, a model. */
static struct {
    char dir[64];
    char logs[128];
    struct ms_store *s;
    struct ms_arena *a;
    struct ms_error err;
    const char *org;
    struct ms_connection src, dst;
    const char *model;
    const char *sync;
    const char *last_exec;
    atomic_bool stop;
    /* what the progress callback does after batch act_at (0: the first) */
    enum { EE_NOTHING, EE_CANCEL, EE_REAP, EE_STOP } act;
    int act_at;
    int batches;
} ee;

static const struct ms_actor ee_actor = {"u-1", "Ada", "user"};

static const char *
ee_uuid(void)
{
    char id[MS_UUID_LEN + 1];

    ms_uuid_new(id);
    return ms_arena_strdup(ee.a, id);
}

static void
ee_conn_init(struct ms_connection *c, const char *name, const char *type, json_t *cfg)
{
    memset(c, 0, sizeof(*c));
    c->id = ee_uuid();
    c->org_id = ee.org;
    c->name = name;
    c->type = type;
    c->config = cfg;
    c->status = "healthy";
    c->created_at = c->updated_at = 1000;
    c->created_by = c->updated_by = ee_actor;
    cr_assert_eq(ms_store_conn_insert(ee.s, c, &ee.err), MS_OK, "%s", ee.err.msg);
}

/* Replace a connection's configuration (cfg stolen) and type. */
static void
ee_conn_set(struct ms_connection *c, const char *type, json_t *cfg)
{
    json_decref(c->config);
    c->config = cfg;
    c->type = type;
    cr_assert_eq(ms_store_conn_update(ee.s, c, &ee.err), MS_OK, "%s", ee.err.msg);
}

/* The source model's rows (JSON text of an array of objects). */
static void
ee_source(const char *rows)
{
    json_t *r = json_loads(rows, 0, NULL);

    cr_assert_not_null(r, "bad rows %s", rows);
    ee_conn_set(&ee.src, "memory",
                json_pack("{s:s, s:{s:o}, s:{s:o}}", "name", "src", "objects", "users", r,
                          "columns", "users", json_loads(EE_COLS, 0, NULL)));
}

/* The destination: memory, with extra members (JSON object text, may be NULL). */
static json_t *
ee_dst_cfg(const char *extra)
{
    json_t *cfg = json_pack("{s:s, s:{s:[s,s,s,s]}}", "name", "dst", "columns", "people", "user_id",
                            "mail", "plan", "score");

    if (extra != NULL) {
        json_t *x = json_loads(extra, 0, NULL);

        cr_assert_not_null(x, "bad extra %s", extra);
        json_object_update(cfg, x);
        json_decref(x);
    }
    return cfg;
}

/* The destination wrapped in the fault connector. */
static void
ee_dst_fault(const char *slot, int nth, int times, const char *status)
{
    ee_conn_set(&ee.dst, "fault",
                json_pack("{s:o, s:s, s:i, s:i, s:s, s:s}", "inner", ee_dst_cfg(NULL), "slot", slot,
                          "nth", nth, "times", times, "status", status, "message",
                          "injected failure"));
}

static void
ee_model(const char *identifier)
{
    struct ms_model m;

    memset(&m, 0, sizeof(m));
    m.id = ee.model = ee_uuid();
    m.org_id = ee.org;
    m.connection_id = ee.src.id;
    m.name = "users";
    m.type = "memory";
    m.config = json_pack("{s:s}", "object", "users");
    m.fields =
        json_pack("[{s:s,s:s},{s:s,s:s},{s:s,s:s},{s:s,s:s},{s:s,s:s}]", "name", "id", "type",
                  "number", "name", "email", "type", "string", "name", "plan", "type", "string",
                  "name", "score", "type", "number", "name", "seen_at", "type", "datetime");
    m.doc = identifier != NULL ? json_pack("{s:s}", "identifier", identifier) : json_object();
    m.version = 1;
    m.created_at = m.updated_at = 2000;
    m.created_by = m.updated_by = ee_actor;
    cr_assert_eq(ms_store_model_insert(ee.s, &m, &ee.err), MS_OK, "%s", ee.err.msg);
    json_decref(m.config);
    json_decref(m.fields);
    json_decref(m.doc);
}

static void
ee_setup(void)
{
    char url[160];

    memset(&ee, 0, sizeof(ee));
    cr_assert_eq(ms_crypto_init(NULL), MS_OK);
    snprintf(ee.dir, sizeof(ee.dir), "/tmp/ms-engine-XXXXXX");
    cr_assert_not_null(mkdtemp(ee.dir));
    snprintf(url, sizeof(url), "sqlite:%s/store.db", ee.dir);
    snprintf(ee.logs, sizeof(ee.logs), "%s/logs", ee.dir);
    cr_assert_eq(ms_store_open(url, &ee.s, &ee.err), MS_OK, "%s", ee.err.msg);
    cr_assert_eq(ms_store_migrate(ee.s, &ee.err), MS_OK, "%s", ee.err.msg);
    ee.a = ms_arena_new();
    {
        struct ms_org o = {ee_uuid(), "org", 1};

        cr_assert_eq(ms_store_org_insert(ee.s, &o, &ee.err), MS_OK, "%s", ee.err.msg);
        ee.org = o.id;
    }
    ee_conn_init(&ee.src, "source", "memory", json_pack("{s:s}", "name", "src"));
    ee_conn_init(&ee.dst, "destination", "memory", ee_dst_cfg(NULL));
    ee_source("[]");
    ms_cx_memory_reset();
    ms_eng_test_backoff_ms = 5;
    ms_eng_test_write_delay_ms = 0;
}

static void
ee_teardown(void)
{
    char cmd[200];

    json_decref(ee.src.config);
    json_decref(ee.dst.config);
    ms_store_close(ee.s);
    ms_arena_free(ee.a);
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", ee.dir);
    cr_expect_eq(system(cmd), 0);
}

TestSuite(engine, .init = ee_setup, .fini = ee_teardown, .timeout = 60);

/*
 * A sync of the model onto dst "people": mail ← email, plan ← plan, score ← score, plus what
 * extra adds (JSON members text, starting with ","), in mode.
 */
static void
ee_sync(const char *mode, bool identity, const char *extra)
{
    char body[4096];
    json_t *b, *config = NULL;
    struct ms_sync y;
    int active = -1;

    snprintf(body, sizeof(body),
             "{\"name\": \"s\", \"mode\": \"%s\", \"schedule\": {},"
             " \"target\": {\"connection_id\": \"%s\", \"object\": \"people\"},"
             " \"fields\": [{\"target\": \"mail\", \"source\": {\"field\": \"email\","
             " \"model_id\": \"%s\"}}, {\"target\": \"plan\", \"source\": {\"field\": \"plan\","
             " \"model_id\": \"%s\"}}, {\"target\": \"score\", \"source\": {\"field\": \"score\","
             " \"model_id\": \"%s\"}}]%s%s%s%s}",
             mode, ee.dst.id, ee.model, ee.model, ee.model,
             identity ? ", \"identity\": {\"source\": {\"field\": \"id\", \"model_id\": \"" : "",
             identity ? ee.model : "", identity ? "\"}, \"target\": \"user_id\"}" : "",
             extra != NULL ? extra : "");
    b = json_loads(body, 0, NULL);
    cr_assert_not_null(b, "%s", body);
    cr_assert_eq(ms_sync_parse(b, &config, &active, &ee.err), MS_OK, "%s: %s", ee.err.field,
                 ee.err.msg);
    json_decref(b);
    memset(&y, 0, sizeof(y));
    y.id = ee.sync = ee_uuid();
    y.org_id = ee.org;
    y.active = true;
    ms_sync_set_config(&y, config);
    y.model_ids = ms_sync_model_ids(config);
    y.created_at = y.updated_at = 3000;
    y.created_by = y.updated_by = ee_actor;
    cr_assert_eq(ms_store_sync_insert(ee.s, &y, &ee.err), MS_OK, "%s", ee.err.msg);
    json_decref(y.model_ids);
    json_decref(config);
}

static void
ee_progress(void *ud, const struct ms_counts *c, const struct ms_engine_stats *st)
{
    const char *affected = NULL;
    int64_t n = 0;

    (void)ud;
    (void)c;
    (void)st;
    if (++ee.batches != (ee.act_at > 0 ? ee.act_at : 1))
        return;
    if (ee.act == EE_CANCEL)
        cr_assert_eq(ms_store_exec_cancel(ee.s, ee.a, ee.org, ee.sync, NULL, ms_time_now_ms(),
                                          &affected, &ee.err),
                     MS_OK, "%s", ee.err.msg);
    if (ee.act == EE_REAP) {
        cr_assert_eq(ms_store_exec_reap(ee.s, ms_time_now_ms() + 10 * MS_LEASE_MS, &n, &ee.err),
                     MS_OK, "%s", ee.err.msg);
        cr_assert_eq(n, 1);
    }
    if (ee.act == EE_STOP)
        atomic_store(&ee.stop, true);
}

struct ee_result {
    enum ms_status st;
    const char *status; /* as recorded in the store */
    const char *final;  /* as ms_engine_run reported it */
    struct ms_counts c;
    json_t *errors;
    struct ms_engine_stats stats;
    char msg[256];
};

/* Queue, claim and run one execution with options (JSON text or NULL) and batch_rows. */
static struct ee_result
ee_run_opts(const char *options, size_t batch_rows)
{
    struct ms_execution ex, claimed, got;
    struct ms_engine_opts o = {
        .node = EE_NODE, .batch_rows = batch_rows, .log_dir = ee.logs, .progress = ee_progress};
    struct ee_result r;
    struct ms_error err = {0};

    memset(&r, 0, sizeof(r));
    memset(&ex, 0, sizeof(ex));
    ee.batches = 0;
    atomic_store(&ee.stop, false);
    o.stop = &ee.stop;
    ex.id = ee.last_exec = ee_uuid();
    ex.org_id = ee.org;
    ex.sync_id = ee.sync;
    ex.type = "manual";
    ex.status = "queued";
    ex.options = options != NULL ? json_loads(options, 0, NULL) : NULL;
    ex.created_at = ms_time_now_ms();
    cr_assert_eq(ms_store_exec_insert(ee.s, &ex, &ee.err), MS_OK, "%s", ee.err.msg);
    json_decref(ex.options);
    cr_assert_eq(ms_store_exec_claim(ee.s, ee.a, ex.id, EE_NODE, ms_time_now_ms(), MS_LEASE_MS,
                                     &claimed, &ee.err),
                 MS_OK, "%s", ee.err.msg);
    r.st = ms_engine_run(ee.s, &claimed, &o, &r.final, &r.stats, &err);
    snprintf(r.msg, sizeof(r.msg), "%s", err.msg);
    cr_assert_eq(ms_store_exec_get(ee.s, ee.a, ee.org, NULL, ex.id, &got, &ee.err), MS_OK, "%s",
                 ee.err.msg);
    r.status = got.status;
    r.c = got.counts;
    r.errors = got.errors;
    return r;
}

static struct ee_result
ee_run(void)
{
    return ee_run_opts(NULL, 0);
}

/* The first error of a failed run, or "". */
static const char *
ee_error(const struct ee_result *r)
{
    const char *e = json_string_value(json_array_get(r->errors, 0));

    return e != NULL ? e : "";
}

static void
ee_expect_counts(const struct ee_result *r, int64_t total, int64_t ins, int64_t upd, int64_t ups,
                 int64_t del, int64_t error, int64_t warn)
{
    cr_expect_eq(r->c.total, total, "total %lld, want %lld", (long long)r->c.total,
                 (long long)total);
    cr_expect_eq(r->c.insert, ins, "insert %lld, want %lld", (long long)r->c.insert,
                 (long long)ins);
    cr_expect_eq(r->c.update, upd, "update %lld, want %lld", (long long)r->c.update,
                 (long long)upd);
    cr_expect_eq(r->c.upserts, ups, "upserts %lld, want %lld", (long long)r->c.upserts,
                 (long long)ups);
    cr_expect_eq(r->c.delete, del, "delete %lld, want %lld", (long long)r->c.delete,
                 (long long)del);
    cr_expect_eq(r->c.error, error, "error %lld, want %lld", (long long)r->c.error,
                 (long long)error);
    cr_expect_eq(r->c.warnings, warn, "warnings %lld, want %lld", (long long)r->c.warnings,
                 (long long)warn);
}

static void
ee_expect_completed(const struct ee_result *r)
{
    cr_assert_eq(r->st, MS_OK, "%s", r->msg);
    cr_assert_str_eq(r->status, "completed", "%s", ee_error(r));
    cr_expect_str_eq(r->final, "completed");
}

/* The target's rows, compact and sorted by key, as one string for exact comparisons. */
static char *
ee_target(void)
{
    json_t *rows = ms_cx_memory_rows("dst", "people"), *row;
    size_t i, n = json_array_size(rows);
    char **lines = calloc(n + 1, sizeof(char *)), *out;
    size_t len = 3;

    json_array_foreach(rows, i, row)
    {
        lines[i] = json_dumps(row, JSON_COMPACT | JSON_SORT_KEYS);
        len += strlen(lines[i]) + 1;
    }
    for (size_t a = 1; a < n; a++) /* insertion sort: a handful of rows */
        for (size_t b = a; b > 0 && strcmp(lines[b - 1], lines[b]) > 0; b--) {
            char *t = lines[b];

            lines[b] = lines[b - 1];
            lines[b - 1] = t;
        }
    out = ms_arena_alloc(ee.a, len);
    strcpy(out, "[");
    for (i = 0; i < n; i++) {
        strcat(out, i > 0 ? "," : "");
        strcat(out, lines[i]);
        free(lines[i]);
    }
    strcat(out, "]");
    free(lines);
    json_decref(rows);
    return out;
}

/* How many rows the target holds. */
static size_t
ee_target_n(void)
{
    json_t *rows = ms_cx_memory_rows("dst", "people");
    size_t n = json_array_size(rows);

    json_decref(rows);
    return n;
}

static int64_t
ee_snap_count(void)
{
    int64_t n = -1;

    cr_assert_eq(ms_store_snap_count(ee.s, ee.sync, &n, &ee.err), MS_OK, "%s", ee.err.msg);
    return n;
}

/* The bytes of the execution's record log file of type, in a new string; NULL without one. */
static char *
ee_log_file(const char *type)
{
    char path[300];
    FILE *f;
    long n;
    char *buf;

    snprintf(path, sizeof(path), "%s/%s/%s/%s.jsonl", ee.logs, ee.sync, ee.last_exec, type);
    f = fopen(path, "r");
    if (f == NULL)
        return NULL;
    fseek(f, 0, SEEK_END);
    n = ftell(f);
    fseek(f, 0, SEEK_SET);
    buf = ms_arena_alloc(ee.a, (size_t)n + 1);
    cr_assert_eq(fread(buf, 1, (size_t)n, f), (size_t)n);
    buf[n] = '\0';
    fclose(f);
    return buf;
}

/*
 * Lines of the execution's record log of type ("errors"), in a new string, or "": as B6 serves
 * it, so an empty inserts, updates or deletes marker gives its lines of records.jsonl.
 */
static char *
ee_log(const char *type)
{
    char *buf = ee_log_file(type), *all, *out;
    size_t n = 0;

    if (buf == NULL)
        return ms_arena_strdup(ee.a, "");
    if (buf[0] != '\0' || (all = ee_log_file("records")) == NULL)
        return buf;
    out = ms_arena_alloc(ee.a, strlen(all) + 1);
    for (char *line = all, *nl; (nl = strchr(line, '\n')) != NULL; line = nl + 1) {
        if (ms_engine_log_line_of(line, (size_t)(nl - line), type)) {
            memcpy(out + n, line, (size_t)(nl - line) + 1);
            n += (size_t)(nl - line) + 1;
        }
    }
    out[n] = '\0';
    return out;
}

static size_t
ee_lines(const char *s)
{
    size_t n = 0;

    for (; *s != '\0'; s++)
        n += *s == '\n';
    return n;
}

#define EE_ROWS3                                                                                   \
    "[{\"id\": 1, \"email\": \"a@x.io\", \"plan\": \"gold\", \"score\": 1.5},"                     \
    " {\"id\": 2, \"email\": \"b@x.io\", \"plan\": \"free\", \"score\": 2},"                       \
    " {\"id\": 3, \"email\": \"c@x.io\", \"plan\": \"free\", \"score\": null}]"

/* EE_ROWS3 with 2 changed, 3 removed and 4 added. */
#define EE_ROWS3_CHANGED                                                                           \
    "[{\"id\": 1, \"email\": \"a@x.io\", \"plan\": \"gold\", \"score\": 1.5},"                     \
    " {\"id\": 2, \"email\": \"b@x.io\", \"plan\": \"gold\", \"score\": 2},"                       \
    " {\"id\": 4, \"email\": \"d@x.io\", \"plan\": \"free\", \"score\": 4}]"

/* ---- replace with identity: the diff, exactly ---- */

Test(engine, replace_writes_exactly_what_changed)
{
    struct ee_result r;
    int64_t writes;

    ee_model(NULL);
    ee_source(EE_ROWS3);
    ee_sync("replace", true, NULL);
    r = ee_run();
    ee_expect_completed(&r);
    ee_expect_counts(&r, 3, 3, 0, 0, 0, 0, 0);
    cr_expect_str_eq(ee_target(),
                     "[{\"mail\":\"a@x.io\",\"plan\":\"gold\",\"score\":1.5,\"user_id\":1},"
                     "{\"mail\":\"b@x.io\",\"plan\":\"free\",\"score\":2,\"user_id\":2},"
                     "{\"mail\":\"c@x.io\",\"plan\":\"free\",\"score\":null,\"user_id\":3}]");
    cr_expect_eq(ee_snap_count(), 3);
    cr_expect_eq(r.stats.rows_read, 3);
    cr_expect_eq(r.stats.rows_written, 3);

    ee_source(EE_ROWS3_CHANGED);
    r = ee_run();
    ee_expect_completed(&r);
    ee_expect_counts(&r, 3, 1, 1, 0, 1, 0, 0);
    cr_expect_str_eq(ee_target(),
                     "[{\"mail\":\"a@x.io\",\"plan\":\"gold\",\"score\":1.5,\"user_id\":1},"
                     "{\"mail\":\"b@x.io\",\"plan\":\"gold\",\"score\":2,\"user_id\":2},"
                     "{\"mail\":\"d@x.io\",\"plan\":\"free\",\"score\":4,\"user_id\":4}]");
    cr_expect_eq(ee_snap_count(), 3);
    cr_expect_eq(ee_lines(ee_log("deletes")), 1);
    cr_expect(strstr(ee_log("deletes"), "{\"key\":3,\"op\":\"delete\",\"data\":null}") != NULL,
              "%s", ee_log("deletes"));
    cr_expect_eq(ee_lines(ee_log("records")), 3);

    writes = ms_cx_memory_writes("dst");
    r = ee_run();
    ee_expect_completed(&r);
    ee_expect_counts(&r, 0, 0, 0, 0, 0, 0, 0);
    cr_expect_eq(ms_cx_memory_writes("dst"), writes, "an unchanged model writes nothing");
    cr_expect_eq(r.stats.rows_written, 0);
    cr_expect_str_eq(ee_log("records"), "", "no record log lines either");
}

Test(engine, batches_smaller_than_the_model)
{
    struct ee_result r;
    char rows[8192] = "[";

    for (int i = 1; i <= 25; i++)
        snprintf(rows + strlen(rows), sizeof(rows) - strlen(rows),
                 "%s{\"id\": %d, \"email\": \"u%d@x.io\", \"plan\": \"free\", \"score\": %d}",
                 i > 1 ? "," : "", i, i, i);
    strcat(rows, "]");
    ee_model(NULL);
    ee_source(rows);
    ee_sync("updateOrCreate", true, NULL);
    r = ee_run_opts(NULL, 4);
    ee_expect_completed(&r);
    ee_expect_counts(&r, 25, 0, 0, 25, 0, 0, 0);
    cr_expect_eq(ee.batches, 7, "7 read batches of at most 4 rows");
    cr_expect_eq(ms_cx_memory_writes("dst"), 7, "ops are flushed every 4");
    cr_expect_eq(ee_snap_count(), 25);
    r = ee_run_opts(NULL, 4);
    ee_expect_completed(&r);
    ee_expect_counts(&r, 0, 0, 0, 0, 0, 0, 0);
}

/* ---- the other incremental modes ---- */

Test(engine, create_inserts_new_records_and_never_updates)
{
    struct ee_result r;

    ee_model(NULL);
    ee_source(EE_ROWS3);
    ee_sync("create", true, NULL);
    r = ee_run();
    ee_expect_completed(&r);
    ee_expect_counts(&r, 3, 3, 0, 0, 0, 0, 0);
    ee_source(EE_ROWS3_CHANGED);
    r = ee_run();
    ee_expect_completed(&r);
    ee_expect_counts(&r, 1, 1, 0, 0, 0, 0, 0);
    cr_expect_str_eq(ee_target(),
                     "[{\"mail\":\"a@x.io\",\"plan\":\"gold\",\"score\":1.5,\"user_id\":1},"
                     "{\"mail\":\"b@x.io\",\"plan\":\"free\",\"score\":2,\"user_id\":2},"
                     "{\"mail\":\"c@x.io\",\"plan\":\"free\",\"score\":null,\"user_id\":3},"
                     "{\"mail\":\"d@x.io\",\"plan\":\"free\",\"score\":4,\"user_id\":4}]");
    r = ee_run();
    ee_expect_completed(&r);
    ee_expect_counts(&r, 0, 0, 0, 0, 0, 0, 0);
}

Test(engine, update_and_update_or_create)
{
    struct ee_result r;

    ee_model(NULL);
    ee_conn_set(&ee.dst, "memory",
                ee_dst_cfg("{\"objects\": {\"people\": [{\"user_id\": 2, \"mail\": \"old\","
                           " \"plan\": \"old\", \"score\": 0}]}}"));
    ee_source(EE_ROWS3);
    ee_sync("update", true, NULL);
    r = ee_run();
    ee_expect_completed(&r);
    ee_expect_counts(&r, 3, 0, 3, 0, 0, 0, 0);
    cr_expect_str_eq(ee_target(),
                     "[{\"mail\":\"b@x.io\",\"plan\":\"free\",\"score\":2,\"user_id\":2}]",
                     "update changes matches only");
    ee_source(EE_ROWS3_CHANGED);
    r = ee_run();
    ee_expect_completed(&r);
    ee_expect_counts(&r, 2, 0, 2, 0, 0, 0, 0);

    ee_sync("updateOrCreate", true, NULL);
    ee_source(EE_ROWS3);
    r = ee_run();
    ee_expect_completed(&r);
    ee_expect_counts(&r, 3, 0, 0, 3, 0, 0, 0);
    ee_source(EE_ROWS3_CHANGED);
    r = ee_run();
    ee_expect_completed(&r);
    ee_expect_counts(&r, 2, 0, 0, 2, 0, 0, 0);
    cr_expect_str_eq(ee_target(),
                     "[{\"mail\":\"a@x.io\",\"plan\":\"gold\",\"score\":1.5,\"user_id\":1},"
                     "{\"mail\":\"b@x.io\",\"plan\":\"gold\",\"score\":2,\"user_id\":2},"
                     "{\"mail\":\"c@x.io\",\"plan\":\"free\",\"score\":null,\"user_id\":3},"
                     "{\"mail\":\"d@x.io\",\"plan\":\"free\",\"score\":4,\"user_id\":4}]");
}

Test(engine, remove_deletes_the_model_records_once)
{
    struct ee_result r;

    ee_model(NULL);
    ee_conn_set(&ee.dst, "memory",
                ee_dst_cfg("{\"objects\": {\"people\": [{\"user_id\": 1}, {\"user_id\": 2},"
                           " {\"user_id\": 9}]}}"));
    ee_source(EE_ROWS3);
    ee_sync("remove", true, NULL);
    r = ee_run();
    ee_expect_completed(&r);
    ee_expect_counts(&r, 3, 0, 0, 0, 3, 0, 0);
    cr_expect_str_eq(ee_target(), "[{\"user_id\":9}]");
    cr_expect_eq(ee_snap_count(), 3, "processed records are remembered");
    r = ee_run();
    ee_expect_completed(&r);
    ee_expect_counts(&r, 0, 0, 0, 0, 0, 0, 0);
}

Test(engine, append_without_identity_keys_on_the_identifier)
{
    struct ee_result r;

    ee_model("id");
    ee_source(EE_ROWS3);
    ee_sync("append", false, NULL);
    r = ee_run();
    ee_expect_completed(&r);
    ee_expect_counts(&r, 3, 3, 0, 0, 0, 0, 0);
    ee_source(EE_ROWS3_CHANGED);
    r = ee_run();
    ee_expect_completed(&r);
    ee_expect_counts(&r, 2, 2, 0, 0, 0, 0, 0);
    cr_expect_eq(ee_target_n(), 5, "the changed record is appended again");
    cr_expect(strstr(ee_log("inserts"), "\"key\":\"2\"") != NULL, "%s", ee_log("inserts"));
}

/* ---- full rewrites ---- */

Test(engine, replace_without_identity_rewrites_when_anything_changed)
{
    struct ee_result r;
    int64_t writes;

    ee_model(NULL);
    ee_source(EE_ROWS3);
    ee_sync("replace", false, NULL);
    r = ee_run();
    ee_expect_completed(&r);
    ee_expect_counts(&r, 3, 3, 0, 0, 0, 0, 0);
    cr_expect_eq(ee_target_n(), 3);
    writes = ms_cx_memory_writes("dst");
    r = ee_run();
    ee_expect_completed(&r);
    ee_expect_counts(&r, 0, 0, 0, 0, 0, 0, 0);
    cr_expect_eq(ms_cx_memory_writes("dst"), writes, "nothing changed: no rewrite");
    ee_source(EE_ROWS3_CHANGED);
    r = ee_run();
    ee_expect_completed(&r);
    ee_expect_counts(&r, 3, 3, 0, 0, 0, 0, 0);
    cr_expect_str_eq(ee_target(), "[{\"mail\":\"a@x.io\",\"plan\":\"gold\",\"score\":1.5},"
                                  "{\"mail\":\"b@x.io\",\"plan\":\"gold\",\"score\":2},"
                                  "{\"mail\":\"d@x.io\",\"plan\":\"free\",\"score\":4}]");
    cr_expect_eq(ee_snap_count(), 3, "the snapshot is exactly the rewritten records");
    ee_source("[{\"id\": 1, \"email\": \"a@x.io\", \"plan\": \"gold\", \"score\": 1.5},"
              " {\"id\": 2, \"email\": \"b@x.io\", \"plan\": \"gold\", \"score\": 2}]");
    r = ee_run();
    ee_expect_completed(&r);
    ee_expect_counts(&r, 2, 2, 0, 0, 0, 0, 0);
    cr_expect_eq(ee_target_n(), 2, "a removal rewrites too");
    ee_source("[]");
    r = ee_run();
    ee_expect_completed(&r);
    cr_expect_str_eq(ee_target(), "[]");
    cr_expect_eq(ee_snap_count(), 0);
}

Test(engine, snapshot_mode_rewrites_every_run)
{
    struct ee_result r;
    int64_t writes;

    ee_model(NULL);
    ee_source(EE_ROWS3);
    ee_sync("snapshot", false, NULL);
    r = ee_run();
    ee_expect_completed(&r);
    ee_expect_counts(&r, 3, 3, 0, 0, 0, 0, 0);
    writes = ms_cx_memory_writes("dst");
    r = ee_run();
    ee_expect_completed(&r);
    ee_expect_counts(&r, 3, 3, 0, 0, 0, 0, 0);
    cr_expect_gt(ms_cx_memory_writes("dst"), writes);
    cr_expect_eq(ee_target_n(), 3);
}

Test(engine, uncommitted_rewrite_is_redone_next_run)
{
    struct ee_result r;

    ee_model(NULL);
    ee_source(EE_ROWS3);
    ee_sync("replace", false, NULL);
    r = ee_run();
    ee_expect_completed(&r);
    ee_source(EE_ROWS3_CHANGED);
    ee_dst_fault("write_end", 1, 1, "eupstream");
    r = ee_run();
    cr_expect_str_eq(r.status, "failed");
    cr_expect(strstr(ee_error(&r), "injected failure") != NULL, "%s", ee_error(&r));
    cr_expect_eq(ee_target_n(), 3);
    cr_expect(strstr(ee_target(), "d@x.io") == NULL, "the failed rewrite was dropped");
    ee_conn_set(&ee.dst, "memory", ee_dst_cfg(NULL));
    r = ee_run();
    ee_expect_completed(&r);
    ee_expect_counts(&r, 3, 3, 0, 0, 0, 0, 0);
    cr_expect(strstr(ee_target(), "d@x.io") != NULL, "rewritten although the snapshot matched");
    cr_expect_eq(ee_snap_count(), 3);
    r = ee_run();
    ee_expect_counts(&r, 0, 0, 0, 0, 0, 0, 0);
}

/* ---- options ---- */

Test(engine, sync_all_records_and_resync_send_everything)
{
    struct ee_result r;

    ee_model(NULL);
    ee_source(EE_ROWS3);
    ee_sync("updateOrCreate", true, NULL);
    r = ee_run();
    ee_expect_counts(&r, 3, 0, 0, 3, 0, 0, 0);
    r = ee_run_opts("{\"resync\": true}", 0);
    ee_expect_completed(&r);
    ee_expect_counts(&r, 3, 0, 0, 3, 0, 0, 0);
    r = ee_run();
    ee_expect_counts(&r, 0, 0, 0, 0, 0, 0, 0);

    ee_sync("updateOrCreate", true, ", \"sync_all_records\": true");
    r = ee_run();
    ee_expect_counts(&r, 3, 0, 0, 3, 0, 0, 0);
    r = ee_run();
    ee_expect_completed(&r);
    ee_expect_counts(&r, 3, 0, 0, 3, 0, 0, 0);
}

Test(engine, skip_initial_backfill_records_a_baseline)
{
    struct ee_result r;

    ee_model(NULL);
    ee_source(EE_ROWS3);
    ee_sync("updateOrCreate", true, ", \"skip_initial_backfill\": true");
    r = ee_run();
    ee_expect_completed(&r);
    ee_expect_counts(&r, 0, 0, 0, 0, 0, 0, 0);
    cr_expect_str_eq(ee_target(), "[]");
    cr_expect_eq(ms_cx_memory_writes("dst"), 0);
    cr_expect_eq(ee_snap_count(), 3);
    ee_source(EE_ROWS3_CHANGED);
    r = ee_run();
    ee_expect_completed(&r);
    ee_expect_counts(&r, 2, 0, 0, 2, 0, 0, 0);
    cr_expect_str_eq(ee_target(),
                     "[{\"mail\":\"b@x.io\",\"plan\":\"gold\",\"score\":2,\"user_id\":2},"
                     "{\"mail\":\"d@x.io\",\"plan\":\"free\",\"score\":4,\"user_id\":4}]");
}

Test(engine, identities_limit_the_run)
{
    struct ee_result r;

    ee_model(NULL);
    ee_source(EE_ROWS3);
    ee_sync("replace", true, NULL);
    r = ee_run_opts("{\"identities\": [\"2\", \"7\"]}", 0);
    ee_expect_completed(&r);
    ee_expect_counts(&r, 1, 1, 0, 0, 0, 0, 0);
    cr_expect_str_eq(ee_target(),
                     "[{\"mail\":\"b@x.io\",\"plan\":\"free\",\"score\":2,\"user_id\":2}]");
    ee_source(EE_ROWS3_CHANGED);
    r = ee_run_opts("{\"identities\": [\"4\"]}", 0);
    ee_expect_completed(&r);
    ee_expect_counts(&r, 1, 1, 0, 0, 0, 0, 0);
    cr_expect_eq(ee_target_n(), 2, "nothing deleted");
    r = ee_run();
    ee_expect_completed(&r);
    ee_expect_counts(&r, 2, 1, 1, 0, 0, 0, 0);
}

Test(engine, test_runs_write_at_most_ten_records)
{
    struct ee_result r;
    char rows[8192] = "[";

    for (int i = 1; i <= 15; i++)
        snprintf(rows + strlen(rows), sizeof(rows) - strlen(rows),
                 "%s{\"id\": %d, \"email\": \"u%d@x.io\", \"plan\": \"free\", \"score\": %d}",
                 i > 1 ? "," : "", i, i, i);
    strcat(rows, "]");
    ee_model(NULL);
    ee_source(rows);
    ee_sync("replace", true, NULL);
    r = ee_run_opts("{\"test\": true}", 4);
    ee_expect_completed(&r);
    ee_expect_counts(&r, MS_TEST_RUN_RECORDS, MS_TEST_RUN_RECORDS, 0, 0, 0, 0, 0);
    cr_expect_eq(ee_target_n(), MS_TEST_RUN_RECORDS, "written for real");
    r = ee_run();
    ee_expect_completed(&r);
    ee_expect_counts(&r, 5, 5, 0, 0, 0, 0, 0);
}

Test(engine, full_modes_refuse_test_runs_and_identities)
{
    struct ee_result r;

    ee_model(NULL);
    ee_source(EE_ROWS3);
    ee_sync("replace", false, NULL);
    r = ee_run_opts("{\"test\": true}", 0);
    cr_expect_str_eq(r.status, "failed");
    cr_expect(strstr(ee_error(&r), "rewritten whole") != NULL, "%s", ee_error(&r));
    r = ee_run_opts("{\"identities\": [\"1\"]}", 0);
    cr_expect_str_eq(r.status, "failed");
    cr_expect_str_eq(ee_target(), "[]");
}

/* ---- records the run skips or the target rejects ---- */

Test(engine, rejected_records_are_retried_next_run)
{
    struct ee_result r;
    const char *errors;

    ee_model(NULL);
    ee_conn_set(&ee.dst, "memory", ee_dst_cfg("{\"reject\": [\"bad\"]}"));
    ee_source("[{\"id\": 1, \"email\": \"a@x.io\", \"plan\": \"gold\", \"score\": 1},"
              " {\"id\": 2, \"email\": \"b@x.io\", \"plan\": \"bad\", \"score\": 2}]");
    ee_sync("updateOrCreate", true, NULL);
    r = ee_run();
    ee_expect_completed(&r);
    ee_expect_counts(&r, 2, 0, 0, 1, 0, 1, 0);
    errors = ee_log("errors");
    cr_expect_eq(ee_lines(errors), 1);
    cr_expect(strstr(errors, "\"key\":2") != NULL, "%s", errors);
    cr_expect(strstr(errors, "\"error\":\"value \\\"bad\\\" is refused\"") != NULL, "%s", errors);
    cr_expect(strstr(errors, "\"data\":{\"mail\":\"b@x.io\",\"plan\":\"bad\"") != NULL, "%s",
              errors);
    cr_expect_eq(ee_snap_count(), 1, "the rejected record is not in the snapshot");
    r = ee_run();
    ee_expect_completed(&r);
    ee_expect_counts(&r, 1, 0, 0, 0, 0, 1, 0);
    ee_source("[{\"id\": 1, \"email\": \"a@x.io\", \"plan\": \"gold\", \"score\": 1},"
              " {\"id\": 2, \"email\": \"b@x.io\", \"plan\": \"good\", \"score\": 2}]");
    r = ee_run();
    ee_expect_completed(&r);
    ee_expect_counts(&r, 1, 0, 0, 1, 0, 0, 0);
    cr_expect_eq(ee_snap_count(), 2);
}

Test(engine, null_and_duplicate_keys_are_skipped_with_warnings)
{
    struct ee_result r;
    const char *w;

    ee_model(NULL);
    ee_source("[{\"id\": 1, \"email\": \"a@x.io\", \"plan\": \"gold\", \"score\": 1},"
              " {\"id\": null, \"email\": \"n@x.io\", \"plan\": \"gold\", \"score\": 1},"
              " {\"id\": 1, \"email\": \"again@x.io\", \"plan\": \"gold\", \"score\": 1}]");
    ee_sync("updateOrCreate", true, NULL);
    r = ee_run();
    ee_expect_completed(&r);
    ee_expect_counts(&r, 1, 0, 0, 1, 0, 0, 2);
    w = ee_log("warnings");
    cr_expect_eq(ee_lines(w), 2);
    cr_expect(strstr(w, "\"warning\":\"the identity value is NULL\"") != NULL, "%s", w);
    cr_expect(strstr(w, "again@x.io") != NULL, "%s", w);
}

Test(engine, filters_and_overrides_apply)
{
    struct ee_result r;
    char extra[1024];

    ee_model(NULL);
    ee_source("[{\"id\": 1, \"email\": \"a@x.io\", \"plan\": \"gold\", \"score\": 1,"
              " \"seen_at\": \"2024-03-14T00:00:00Z\"},"
              " {\"id\": 2, \"email\": \"b@x.io\", \"plan\": \"free\", \"score\": 2,"
              " \"seen_at\": \"2024-03-01T00:00:00Z\"},"
              " {\"id\": 3, \"email\": \"c@test.io\", \"plan\": \"gold\", \"score\": 3,"
              " \"seen_at\": \"2024-03-15T00:00:00Z\"}]");
    snprintf(extra, sizeof(extra),
             ", \"filters\": [{\"field\": {\"field\": \"seen_at\", \"model_id\": \"%s\"},"
             " \"function\": \"InTheLast\", \"value\": {\"value\": 7, \"unit\": \"days\"}}],"
             " \"overrides\": [{\"field_id\": \"email\", \"function\": \"StringEndsWith\","
             " \"value\": \"@test.io\", \"override\": \"hidden\"}]",
             ee.model);
    ee_sync("create", true, extra);
    ms_eng_test_now_ms = 1710504000000; /* 2024-03-15T12:00:00Z */
    r = ee_run();
    ms_eng_test_now_ms = 0;
    ee_expect_completed(&r);
    ee_expect_counts(&r, 2, 2, 0, 0, 0, 0, 0);
    cr_expect_str_eq(ee_target(),
                     "[{\"mail\":\"a@x.io\",\"plan\":\"gold\",\"score\":1,\"user_id\":1},"
                     "{\"mail\":\"hidden\",\"plan\":\"gold\",\"score\":3,\"user_id\":3}]");
}

/* ---- failures ---- */

Test(engine, busy_target_is_retried_with_back_off)
{
    struct ee_result r;

    ee_model(NULL);
    ee_source(EE_ROWS3);
    ee_sync("updateOrCreate", true, NULL);
    ee_dst_fault("write", 1, 2, "ebusy");
    r = ee_run();
    ee_expect_completed(&r);
    ee_expect_counts(&r, 3, 0, 0, 3, 0, 0, 0);
    cr_expect_eq(ee_target_n(), 3);
}

Test(engine, retry_after_is_honored)
{
    struct ee_result r;
    int64_t t0;

    ee_model(NULL);
    ee_source(EE_ROWS3);
    ee_sync("updateOrCreate", true, NULL);
    ee_conn_set(&ee.dst, "fault",
                json_pack("{s:o, s:s, s:i, s:s, s:i}", "inner", ee_dst_cfg(NULL), "slot", "write",
                          "nth", 1, "status", "ebusy", "retry_after", 1));
    t0 = ms_time_mono_ms();
    r = ee_run();
    ee_expect_completed(&r);
    ee_expect_counts(&r, 3, 0, 0, 3, 0, 0, 0);
    cr_expect_geq(ms_time_mono_ms() - t0, 1000, "waited the second the target asked for");
}

Test(engine, target_busy_too_long_fails_the_run)
{
    struct ee_result r;

    ee_model(NULL);
    ee_source(EE_ROWS3);
    ee_sync("updateOrCreate", true, NULL);
    ee_dst_fault("write", 1, 0, "ebusy");
    r = ee_run();
    cr_expect_eq(r.st, MS_OK);
    cr_expect_str_eq(r.status, "failed");
    cr_expect(strstr(ee_error(&r), "still busy after 6 attempts") != NULL, "%s", ee_error(&r));
    cr_expect_eq(ee_snap_count(), 0);
}

Test(engine, permanent_write_failure_keeps_what_was_acknowledged)
{
    struct ee_result r;

    ee_model(NULL);
    ee_source("[{\"id\": 1}, {\"id\": 2}, {\"id\": 3}, {\"id\": 4}, {\"id\": 5}]");
    ee_sync("updateOrCreate", true, NULL);
    ee_dst_fault("write", 2, 0, "eupstream");
    r = ee_run_opts(NULL, 2);
    cr_expect_str_eq(r.status, "failed");
    cr_expect_str_eq(r.final, "failed");
    cr_expect(strstr(ee_error(&r), "writing to the destination failed: injected failure") != NULL,
              "%s", ee_error(&r));
    ee_expect_counts(&r, 2, 0, 0, 2, 0, 0, 0);
    cr_expect_eq(ee_snap_count(), 2, "the acknowledged batch stays in the snapshot");
    cr_expect_eq(ee_target_n(), 2);
    ee_conn_set(&ee.dst, "memory", ee_dst_cfg(NULL));
    r = ee_run_opts(NULL, 2);
    ee_expect_completed(&r);
    ee_expect_counts(&r, 3, 0, 0, 3, 0, 0, 0);
    cr_expect_eq(ee_target_n(), 5);
}

Test(engine, source_failure_fails_the_run)
{
    struct ee_result r;
    struct ms_exec_log *logs = NULL;
    size_t n = 0;
    bool failed_logged = false;

    ee_model(NULL);
    ee_source(EE_ROWS3);
    ee_conn_set(&ee.src, "fault",
                json_pack("{s:O, s:s, s:s, s:s}", "inner", ee.src.config, "slot", "read", "status",
                          "eupstream", "message", "source went away"));
    ee_sync("updateOrCreate", true, NULL);
    r = ee_run();
    cr_expect_str_eq(r.status, "failed");
    cr_expect(strstr(ee_error(&r), "reading the model failed: source went away") != NULL, "%s",
              ee_error(&r));
    cr_assert_eq(ms_store_log_list(ee.s, ee.a, ee.last_exec, 0, 100, &logs, &n, &ee.err), MS_OK);
    cr_expect_geq(n, 3);
    cr_expect(strstr(logs[0].message, "Sync started: mode updateOrCreate") != NULL, "%s",
              logs[0].message);
    for (size_t i = 0; i < n; i++)
        failed_logged = failed_logged || (strcmp(logs[i].level, "ERROR") == 0 &&
                                          strstr(logs[i].message, "source went away") != NULL);
    cr_expect(failed_logged);
}

Test(engine, a_sync_of_two_models_fails_clearly)
{
    struct ee_result r;
    char extra[512];
    const char *first;

    ee_model(NULL);
    first = ee.model;
    ee_model(NULL);
    snprintf(extra, sizeof(extra),
             ", \"override_fields\": [{\"target\": \"x\", \"source\": {\"field\": \"id\","
             " \"model_id\": \"%s\"}}]",
             first);
    ee_sync("updateOrCreate", true, extra);
    r = ee_run();
    cr_expect_str_eq(r.status, "failed");
    cr_expect(strstr(ee_error(&r), "reads 2 models") != NULL, "%s", ee_error(&r));
}

/* ---- stopping ---- */

Test(engine, cancel_between_batches)
{
    struct ee_result r;

    ee_model(NULL);
    ee_source("[{\"id\": 1}, {\"id\": 2}, {\"id\": 3}, {\"id\": 4}, {\"id\": 5}, {\"id\": 6}]");
    ee_sync("updateOrCreate", true, NULL);
    ee.act = EE_CANCEL;
    r = ee_run_opts(NULL, 2);
    cr_expect_eq(r.st, MS_OK, "%s", r.msg);
    cr_expect_str_eq(r.status, "canceled");
    cr_expect_str_eq(r.final, "canceled");
    cr_expect_lt(r.c.total, 6, "stopped early");
    cr_expect_eq(ee_snap_count(), r.c.upserts, "what was written is recorded");
    cr_expect_eq((int64_t)ee_target_n(), r.c.upserts);
    ee.act = EE_NOTHING;
    r = ee_run_opts(NULL, 2);
    ee_expect_completed(&r);
    cr_expect_eq(ee_snap_count(), 6);
    cr_expect_eq(ee_target_n(), 6);
}

Test(engine, lost_lease_stops_without_finishing)
{
    struct ee_result r;

    ee_model(NULL);
    ee_source("[{\"id\": 1}, {\"id\": 2}, {\"id\": 3}, {\"id\": 4}, {\"id\": 5}, {\"id\": 6}]");
    ee_sync("updateOrCreate", true, NULL);
    ee.act = EE_REAP;
    r = ee_run_opts(NULL, 2);
    cr_expect_eq(r.st, MS_ECONFLICT);
    cr_expect_str_eq(r.final, "interrupted");
    cr_expect_str_eq(r.status, "interrupted", "as the reaper recorded it");
    cr_expect_lt(ee_snap_count(), 6);
}

Test(engine, shutdown_interrupts)
{
    struct ee_result r;

    ee_model(NULL);
    ee_source("[{\"id\": 1}, {\"id\": 2}, {\"id\": 3}, {\"id\": 4}, {\"id\": 5}, {\"id\": 6}]");
    ee_sync("updateOrCreate", true, NULL);
    ee.act = EE_STOP;
    r = ee_run_opts(NULL, 2);
    cr_expect_eq(r.st, MS_OK, "%s", r.msg);
    cr_expect_str_eq(r.status, "interrupted");
    cr_expect_str_eq(r.final, "interrupted");
    ee.act = EE_NOTHING;
    r = ee_run_opts(NULL, 2);
    ee_expect_completed(&r);
    cr_expect_eq(ee_target_n(), 6);
}

/* ---- the pipeline: a batch read ahead, a write in flight ---- */

/* n source rows with ids 1..n (JSON text in the test arena). */
static const char *
ee_rows_n(int n, const char *plan)
{
    size_t cap = 64 + (size_t)n * 96;
    char *rows = ms_arena_alloc(ee.a, cap);
    size_t len = 1;

    strcpy(rows, "[");
    for (int i = 1; i <= n; i++)
        len += (size_t)snprintf(rows + len, cap - len,
                                "%s{\"id\": %d, \"email\": \"u%d@x.io\", \"plan\": \"%s\","
                                " \"score\": %d}",
                                i > 1 ? "," : "", i, i, plan, i);
    strcpy(rows + len, "]");
    return rows;
}

struct ee_keys {
    uint8_t key[64][16];
    size_t n;
};

static enum ms_status
ee_keys_cb(void *ud, const uint8_t key[16], const uint8_t row[16])
{
    struct ee_keys *k = ud;

    (void)row;
    cr_assert_lt(k->n, 64);
    memcpy(k->key[k->n++], key, 16);
    return MS_OK;
}

/* The snapshot holds exactly the keys (user_id) of the target's rows: what was acknowledged. */
static void
ee_expect_snap_is_target(void)
{
    json_t *rows = ms_cx_memory_rows("dst", "people"), *row;
    struct ee_keys k = {.n = 0};
    size_t i;

    cr_assert_eq(ms_store_snap_load(ee.s, ee.sync, ee_keys_cb, &k, &ee.err), MS_OK, "%s",
                 ee.err.msg);
    cr_expect_eq(k.n, json_array_size(rows), "snapshot %zu keys, target %zu rows", k.n,
                 json_array_size(rows));
    json_array_foreach(rows, i, row)
    {
        char text[32];
        uint8_t key[16];
        bool found = false;

        snprintf(text, sizeof(text), "%lld",
                 (long long)json_integer_value(json_object_get(row, "user_id")));
        ms_eng_hash_bytes(ms_xxh3_128(text, strlen(text)), key);
        for (size_t j = 0; j < k.n; j++)
            found = found || memcmp(k.key[j], key, 16) == 0;
        cr_expect(found, "user_id %s is in the target but not in the snapshot", text);
    }
    json_decref(rows);
}

/* The source wrapped in the fault connector: read call nth and later fail. */
static void
ee_src_fault(const char *slot, int nth, int times)
{
    ee_conn_set(&ee.src, "fault",
                json_pack("{s:O, s:s, s:i, s:i, s:s, s:s}", "inner", ee.src.config, "slot", slot,
                          "nth", nth, "times", times, "status", "eupstream", "message",
                          "source went away"));
}

/* Console entries of the last run whose message contains what. */
static size_t
ee_console_count(const char *what)
{
    struct ms_exec_log *logs = NULL;
    size_t n = 0, hits = 0;

    cr_assert_eq(ms_store_log_list(ee.s, ee.a, ee.last_exec, 0, 100, &logs, &n, &ee.err), MS_OK);
    for (size_t i = 0; i < n; i++)
        hits += strstr(logs[i].message, what) != NULL;
    return hits;
}

Test(engine, pipeline_read_error_with_a_write_in_flight)
{
    struct ee_result r;

    ee_model(NULL);
    ee_source(ee_rows_n(10, "free"));
    ee_src_fault("read", 4, 0);
    ee_sync("updateOrCreate", true, NULL);
    ms_eng_test_write_delay_ms = 100; /* batch 2's write is still running when read 4 fails */
    r = ee_run_opts(NULL, 2);
    cr_expect_eq(r.st, MS_OK, "%s", r.msg);
    cr_expect_str_eq(r.status, "failed");
    cr_expect(strstr(ee_error(&r), "reading the model failed: source went away (read call 4)") !=
                  NULL,
              "%s", ee_error(&r));
    ee_expect_counts(&r, 4, 0, 0, 4, 0, 0, 0);
    cr_expect_eq(ee_target_n(), 4, "batches 1 and 2 were written, batch 3 never was");
    ee_expect_snap_is_target();
    cr_expect_eq(ee_lines(ee_log("records")), 4, "the landed write is logged too");

    ee_source(ee_rows_n(10, "free"));
    r = ee_run_opts(NULL, 2);
    ee_expect_completed(&r);
    ee_expect_counts(&r, 6, 0, 0, 6, 0, 0, 0);
    cr_expect_eq(ee_target_n(), 10);
    ee_expect_snap_is_target();
}

Test(engine, pipeline_write_error_while_the_reader_is_ahead)
{
    struct ee_result r;

    ee_model(NULL);
    ee_source(ee_rows_n(10, "free"));
    ee_sync("updateOrCreate", true, NULL);
    ee_dst_fault("write", 2, 0, "eupstream");
    r = ee_run_opts(NULL, 2);
    cr_expect_str_eq(r.status, "failed");
    cr_expect(strstr(ee_error(&r), "writing to the destination failed: injected failure") != NULL,
              "%s", ee_error(&r));
    ee_expect_counts(&r, 2, 0, 0, 2, 0, 0, 0);
    cr_expect_eq(ee_target_n(), 2);
    ee_expect_snap_is_target();

    /* The only write fails, found when the run drains its last batch. */
    ee_dst_fault("write", 1, 0, "eupstream");
    ms_eng_test_write_delay_ms = 20;
    r = ee_run_opts(NULL, 8);
    cr_expect_str_eq(r.status, "failed");
    ee_expect_counts(&r, 0, 0, 0, 0, 0, 0, 0);
    ee_expect_snap_is_target();

    ee_conn_set(&ee.dst, "memory", ee_dst_cfg(NULL));
    r = ee_run_opts(NULL, 2);
    ee_expect_completed(&r);
    ee_expect_counts(&r, 8, 0, 0, 8, 0, 0, 0);
    cr_expect_eq(ee_target_n(), 10);
    ee_expect_snap_is_target();
}

Test(engine, pipeline_cancel_with_a_write_in_flight)
{
    struct ee_result r;

    ee_model(NULL);
    ee_source(ee_rows_n(10, "free"));
    ee_sync("updateOrCreate", true, NULL);
    /*
     * Batch 1's write starts during batch 2 and takes 100 ms; the cancel comes after batch 2.
     * Batch 3's first op finds the write done, sees the cancel before handing batch 2 over.
     */
    ee.act = EE_CANCEL;
    ee.act_at = 2;
    ms_eng_test_write_delay_ms = 100;
    r = ee_run_opts(NULL, 2);
    cr_expect_eq(r.st, MS_OK, "%s", r.msg);
    cr_expect_str_eq(r.status, "canceled");
    cr_expect_str_eq(r.final, "canceled");
    ee_expect_counts(&r, 2, 0, 0, 2, 0, 0, 0);
    cr_expect_eq(ms_cx_memory_writes("dst"), 1, "no write starts after the cancel");
    cr_expect_eq(ee_target_n(), 2, "the write in flight landed; batch 2 was dropped");
    ee_expect_snap_is_target();

    ee.act = EE_NOTHING;
    r = ee_run_opts(NULL, 2);
    ee_expect_completed(&r);
    ee_expect_counts(&r, 8, 0, 0, 8, 0, 0, 0);
    ee_expect_snap_is_target();
}

Test(engine, pipeline_lost_lease_with_a_write_in_flight)
{
    struct ee_result r;

    ee_model(NULL);
    ee_source(ee_rows_n(10, "free"));
    ee_sync("updateOrCreate", true, NULL);
    ee.act = EE_REAP; /* after batch 2, while batch 1's write is in flight */
    ee.act_at = 2;
    ms_eng_test_write_delay_ms = 50;
    r = ee_run_opts(NULL, 2);
    cr_expect_eq(r.st, MS_ECONFLICT);
    cr_expect_str_eq(r.final, "interrupted");
    cr_expect_eq(ee_target_n(), 2, "batch 1 was written, no other");
    cr_expect_eq(ee_snap_count(), 0, "but not recorded: the lease was gone");
}

Test(engine, pipeline_busy_target_mid_run)
{
    struct ee_result r;

    ee_model(NULL);
    ee_source(ee_rows_n(10, "free"));
    ee_sync("updateOrCreate", true, NULL);
    ee_dst_fault("write", 2, 2, "ebusy");
    ms_eng_test_write_delay_ms = 10;
    r = ee_run_opts(NULL, 2);
    ee_expect_completed(&r);
    ee_expect_counts(&r, 10, 0, 0, 10, 0, 0, 0);
    cr_expect_eq(ee_target_n(), 10);
    cr_expect_eq(ee_console_count("The destination is busy"), 2);
    ee_expect_snap_is_target();

    ee_source(ee_rows_n(10, "gold"));
    ee_dst_fault("write", 3, 0, "ebusy");
    r = ee_run_opts(NULL, 2);
    cr_expect_str_eq(r.status, "failed");
    cr_expect(strstr(ee_error(&r), "still busy after 6 attempts") != NULL, "%s", ee_error(&r));
    ee_expect_counts(&r, 4, 0, 0, 4, 0, 0, 0);
    cr_expect_eq(ee_console_count("The destination is busy"), 5);
    cr_expect_eq(ee_snap_count(), 10);
    r = ee_run_opts(NULL, 2);
    cr_expect_str_eq(r.status, "failed");
    ee_expect_counts(&r, 4, 0, 0, 4, 0, 0, 0);
}

Test(engine, pipeline_detect_pass_stops_the_reader)
{
    struct ee_result r;

    ee_model(NULL);
    ee_source(ee_rows_n(10, "free"));
    ee_sync("replace", false, NULL);
    r = ee_run_opts(NULL, 2);
    ee_expect_completed(&r);
    ee_expect_counts(&r, 10, 10, 0, 0, 0, 0, 0);

    /*
     * Row 1 changed: the detect pass stops in batch 1, having read at most one batch ahead (2
     * read calls), then the rewrite reads 5 batches and the end (6 calls). A 9th call fails.
     */
    ee_source(ee_rows_n(10, "gold"));
    ee_src_fault("read", 9, 0);
    ms_eng_test_write_delay_ms = 5;
    r = ee_run_opts(NULL, 2);
    ee_expect_completed(&r);
    ee_expect_counts(&r, 10, 10, 0, 0, 0, 0, 0);
    cr_expect_eq(r.stats.rows_read, 2 + 10, "detect took 1 batch, the rewrite 5");
    cr_expect(strstr(ee_target(), "free") == NULL, "rewritten: %s", ee_target());
    cr_expect_eq(ee_target_n(), 10);

    /* Nothing changed: the detect pass reads everything and nothing is written. */
    ee_source(ee_rows_n(10, "gold"));
    r = ee_run_opts(NULL, 2);
    ee_expect_completed(&r);
    ee_expect_counts(&r, 0, 0, 0, 0, 0, 0, 0);
    cr_expect_eq(r.stats.rows_read, 10);
}

Test(engine, pipeline_baseline_and_deletes_in_many_batches)
{
    struct ee_result r;

    ee_model(NULL);
    ee_source(ee_rows_n(11, "free"));
    ee_sync("replace", true, ", \"skip_initial_backfill\": true");
    ms_eng_test_write_delay_ms = 5;
    r = ee_run_opts(NULL, 2);
    ee_expect_completed(&r);
    ee_expect_counts(&r, 0, 0, 0, 0, 0, 0, 0);
    cr_expect_eq(ee_snap_count(), 11, "every baseline batch committed");
    cr_expect_eq(ms_cx_memory_writes("dst"), 0);

    ee_source(ee_rows_n(11, "free"));
    r = ee_run_opts(NULL, 2);
    ee_expect_counts(&r, 0, 0, 0, 0, 0, 0, 0);
    ee_sync("replace", true, NULL);
    r = ee_run_opts(NULL, 2);
    ee_expect_completed(&r);
    ee_expect_counts(&r, 11, 11, 0, 0, 0, 0, 0);
    ee_source(ee_rows_n(3, "free"));
    ms_eng_test_gone_window = 3; /* their key texts read 3 at a time: three windows */
    r = ee_run_opts(NULL, 2);
    ee_expect_completed(&r);
    ee_expect_counts(&r, 8, 0, 0, 0, 8, 0, 0);
    cr_expect_eq(ee_target_n(), 3);
    ee_expect_snap_is_target();
    cr_expect_eq(ee_lines(ee_log("deletes")), 8);
    r = ee_run_opts(NULL, 2);
    ee_expect_counts(&r, 0, 0, 0, 0, 0, 0, 0);
}

Test(engine, pipeline_default_batches_and_timers)
{
    struct ee_result r;

    ee_model(NULL);
    ee_source(ee_rows_n(4500, "free"));
    ee_sync("append", false, NULL); /* keyless inserts: the memory target appends them at once */
    ms_eng_test_write_delay_ms = 50;
    r = ee_run();
    ee_expect_completed(&r);
    ee_expect_counts(&r, 4500, 4500, 0, 0, 0, 0, 0);
    cr_expect_eq(ee.batches, 5, "read batches of MS_ROWS_DEFAULT rows");
    cr_expect_eq(ms_cx_memory_writes("dst"), 5, "writes of as many ops");
    cr_expect_eq(ee_snap_count(), 4500);
    cr_expect_gt(r.stats.read_us, 0);
    cr_expect_gt(r.stats.write_us, 0);
    cr_expect_geq(r.stats.write_wait_us, 40000, "the last write is waited for");
    cr_expect_leq(r.stats.read_wait_us + r.stats.write_wait_us + r.stats.transform_us +
                      r.stats.snapshot_us,
                  r.stats.total_us, "the run's thread spends at most the whole run");
}

Test(engine, ops_batch_follows_the_destination)
{
    struct ms_connector c = ms_connector_memory;

    cr_expect_eq(eng_ops_cap(&c, 0), MS_ROWS_DEFAULT, "a destination that says nothing");
    c.write_batch = 4096;
    cr_expect_eq(eng_ops_cap(&c, 0), 4096);
    cr_expect_eq(eng_ops_cap(&c, 7), 7, "the run's batch_rows wins");
    c.write_batch = 1000000;
    cr_expect_eq(eng_ops_cap(&c, 0), 10000, "bounded, so memory stays bounded");
}
