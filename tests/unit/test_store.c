/*
 * test_store.c: tests for src/store/. Suite "store" drives a struct ms_store through store.h
 * only, so it can run against any backend: ts_open_store() opens the store under test (today
 * SQLite in a mkdtemp directory, one fresh database per test). Suite "store_sqlite" checks what
 * only SQLite has: PRAGMAs, query plans, busy handling, the URL dispatch and schema versions.
 */
#include <criterion/criterion.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <jansson.h>
#include <sqlite3.h>

#include "core/arena.h"
#include "store/migrations.h"
#include "store/store.h"
#include "store/store_int.h"

/* One test's world: a temp directory, the store under test and an arena for reads. */
static struct {
    char dir[64];
    char path[128];
    char url[160];
    struct ms_store *s;
    struct ms_arena *a;
    struct ms_error err;
} ts;

/* The store under test, opened and migrated. */
static struct ms_store *
ts_open_store(void)
{
    struct ms_store *s = NULL;
    struct ms_error err;

    cr_assert_eq(ms_store_open(ts.url, &s, &err), MS_OK, "open %s: %s", ts.url, err.msg);
    cr_assert_eq(ms_store_migrate(s, &err), MS_OK, "migrate: %s", err.msg);
    return s;
}

static void
ts_setup(void)
{
    snprintf(ts.dir, sizeof(ts.dir), "/tmp/ms-store-XXXXXX");
    cr_assert_not_null(mkdtemp(ts.dir));
    snprintf(ts.path, sizeof(ts.path), "%s/store.db", ts.dir);
    snprintf(ts.url, sizeof(ts.url), "sqlite:%s", ts.path);
    ts.s = ts_open_store();
    ts.a = ms_arena_new();
}

static void
ts_teardown(void)
{
    static const char *const suffixes[] = {"", "-wal", "-shm", "-journal"};
    char p[200];

    ms_store_close(ts.s);
    ts.s = NULL;
    ms_arena_free(ts.a);
    ts.a = NULL;
    for (size_t i = 0; i < sizeof(suffixes) / sizeof(suffixes[0]); i++) {
        snprintf(p, sizeof(p), "%s%s", ts.path, suffixes[i]);
        unlink(p);
    }
    rmdir(ts.dir);
}

TestSuite(store, .init = ts_setup, .fini = ts_teardown);
TestSuite(store_sqlite, .init = ts_setup, .fini = ts_teardown);

/* ---- fixtures ---- */

/* A deterministic UUID: kind tells objects apart, n numbers them (ordered like n). */
static const char *
ts_id(unsigned kind, unsigned n)
{
    return ms_arena_printf(ts.a, "%08x-0000-4000-8000-%012x", kind, n);
}

enum { TS_ORG = 1, TS_USER, TS_KEY, TS_CONN, TS_MODEL, TS_SYNC };

static const struct ms_actor ts_actor = {"u-1", "Ada", "user"};

static const char *
ts_org(unsigned n, int64_t created_at)
{
    struct ms_org o = {ts_id(TS_ORG, n), ms_arena_printf(ts.a, "org %u", n), created_at};

    cr_assert_eq(ms_store_org_insert(ts.s, &o, &ts.err), MS_OK, "%s", ts.err.msg);
    return o.id;
}

static struct ms_connection
ts_conn_make(const char *org, unsigned n, const char *name)
{
    struct ms_connection c;

    memset(&c, 0, sizeof(c));
    c.id = ts_id(TS_CONN, n);
    c.org_id = org;
    c.name = name;
    c.type = "sqlite";
    c.config = json_pack("{s:s, s:s}", "path", "/data/x.db", "password", "v1:sealed");
    c.status = "healthy";
    c.policies = json_pack("[s]", "5e0e9f3b-6a43-4f7c-9f4e-1a2b3c4d5e6f");
    c.healthcheck_interval = "1h";
    c.created_at = 1000 + n;
    c.updated_at = 1000 + n;
    c.created_by = ts_actor;
    c.updated_by = ts_actor;
    return c;
}

static void
ts_conn_release(struct ms_connection *c)
{
    json_decref(c->config);
    json_decref(c->policies);
}

static const char *
ts_conn(const char *org, unsigned n)
{
    struct ms_connection c = ts_conn_make(org, n, ms_arena_printf(ts.a, "conn %u", n));
    enum ms_status st = ms_store_conn_insert(ts.s, &c, &ts.err);

    ts_conn_release(&c);
    cr_assert_eq(st, MS_OK, "%s", ts.err.msg);
    return c.id;
}

static struct ms_model
ts_model_make(const char *org, const char *conn, unsigned n)
{
    struct ms_model m;

    memset(&m, 0, sizeof(m));
    m.id = ts_id(TS_MODEL, n);
    m.org_id = org;
    m.connection_id = conn;
    m.name = ms_arena_printf(ts.a, "model %u", n);
    m.type = "sqlite";
    m.config = json_pack("{s:s}", "table", "users");
    m.fields = json_pack("[{s:s, s:s}]", "name", "email", "type", "string");
    m.doc = json_pack("{s:s}", "identifier", "id");
    m.version = 1;
    m.created_at = 2000 + n;
    m.updated_at = 2000 + n;
    m.created_by = ts_actor;
    m.updated_by = ts_actor;
    return m;
}

static void
ts_model_release(struct ms_model *m)
{
    json_decref(m->config);
    json_decref(m->fields);
    json_decref(m->doc);
}

static const char *
ts_model(const char *org, const char *conn, unsigned n)
{
    struct ms_model m = ts_model_make(org, conn, n);
    enum ms_status st = ms_store_model_insert(ts.s, &m, &ts.err);

    ts_model_release(&m);
    cr_assert_eq(st, MS_OK, "%s", ts.err.msg);
    return m.id;
}

/* A sync reading the models in model_ids (a new reference, stolen) and writing to target. */
static struct ms_sync
ts_sync_make(const char *org, unsigned n, const char *target, json_t *model_ids)
{
    struct ms_sync y;

    memset(&y, 0, sizeof(y));
    y.id = ts_id(TS_SYNC, n);
    y.org_id = org;
    y.name = ms_arena_printf(ts.a, "sync %u", n);
    y.active = true;
    y.mode = "create";
    y.target_connection_id = target;
    y.target_object = "users";
    y.config = json_pack("{s:s, s:{s:s}}", "name", y.name, "schedule", "frequency", "manual");
    y.model_ids = model_ids;
    y.created_at = 3000 + n;
    y.updated_at = 3000 + n;
    y.created_by = ts_actor;
    y.updated_by = ts_actor;
    return y;
}

static void
ts_sync_release(struct ms_sync *y)
{
    json_decref(y->config);
    json_decref(y->model_ids);
}

static const char *
ts_sync(const char *org, unsigned n, const char *target, json_t *model_ids)
{
    struct ms_sync y = ts_sync_make(org, n, target, model_ids);
    enum ms_status st = ms_store_sync_insert(ts.s, &y, &ts.err);

    ts_sync_release(&y);
    cr_assert_eq(st, MS_OK, "%s", ts.err.msg);
    return y.id;
}

static void
ts_expect_actor(const struct ms_actor *got, const struct ms_actor *want)
{
    cr_expect_str_eq(got->id, want->id);
    cr_expect_str_eq(got->name, want->name);
    cr_expect_str_eq(got->type, want->type);
}

/* ---- opening, migrations, persistence ---- */

Test(store, open_dispatches_on_the_url)
{
    struct ms_store *s = NULL;
    struct ms_error err;
    char url[200];

    cr_expect_eq(ms_store_open("postgres://u@127.0.0.1/db", &s, &err), MS_EUNSUPP);
    cr_expect_str_eq(err.msg, "the PostgreSQL state store is not available in this build yet; "
                              "use sqlite:PATH");
    cr_expect_eq(ms_store_open("postgresql://u@127.0.0.1/db", &s, &err), MS_EUNSUPP);
    cr_expect_eq(ms_store_open("mysql://127.0.0.1/db", &s, &err), MS_EINVAL);
    cr_expect(strstr(err.msg, "mysql") != NULL, "%s", err.msg);
    cr_expect_eq(ms_store_open("", &s, &err), MS_EINVAL);
    cr_expect_eq(ms_store_open("sqlite:", &s, &err), MS_EINVAL);
    snprintf(url, sizeof(url), "sqlite:%s/missing-dir/x.db", ts.dir);
    cr_expect_eq(ms_store_open(url, &s, &err), MS_EINTERNAL);
    cr_expect_null(s);

    /* a bare path is SQLite too, and sees the data written through "sqlite:PATH" */
    cr_assert_eq(ms_store_meta_set(ts.s, "initialized", "yes", &err), MS_OK, "%s", err.msg);
    cr_assert_eq(ms_store_open(ts.path, &s, &err), MS_OK, "%s", err.msg);
    cr_expect_str_eq(s->ops->name, "sqlite");
    {
        const char *v = NULL;

        cr_expect_eq(ms_store_meta_get(s, ts.a, "initialized", &v, &err), MS_OK, "%s", err.msg);
        cr_expect_str_eq(v, "yes");
    }
    ms_store_close(s);
}

Test(store, migrate_twice_is_a_no_op)
{
    struct ms_org o;
    struct ms_error err;

    ts_org(1, 10);
    cr_assert_eq(ms_store_migrate(ts.s, &err), MS_OK, "%s", err.msg);
    cr_assert_eq(ms_store_migrate(ts.s, &err), MS_OK, "%s", err.msg);
    cr_expect_eq(ms_store_org_get(ts.s, ts.a, ts_id(TS_ORG, 1), &o, &err), MS_OK,
                 "data survives a second migrate: %s", err.msg);
}

Test(store, data_persists_across_close_and_reopen)
{
    struct ms_error err;
    struct ms_org o;
    const char *org = ts_org(1, 10);
    const char *conn = ts_conn(org, 1);
    struct ms_connection c;

    ms_store_close(ts.s);
    ts.s = ts_open_store();
    cr_assert_eq(ms_store_org_get(ts.s, ts.a, org, &o, &err), MS_OK, "%s", err.msg);
    cr_expect_str_eq(o.name, "org 1");
    cr_assert_eq(ms_store_conn_get(ts.s, ts.a, org, conn, &c, &err), MS_OK, "%s", err.msg);
    cr_expect_str_eq(c.name, "conn 1");
}

Test(store, meta_get_and_upsert)
{
    struct ms_error err;
    const char *v = NULL;

    cr_expect_eq(ms_store_meta_get(ts.s, ts.a, "initialized", &v, &err), MS_ENOTFOUND);
    cr_expect_null(v);
    cr_assert_eq(ms_store_meta_set(ts.s, "initialized", "1", &err), MS_OK, "%s", err.msg);
    cr_assert_eq(ms_store_meta_set(ts.s, "initialized", "2", &err), MS_OK, "%s", err.msg);
    cr_assert_eq(ms_store_meta_get(ts.s, ts.a, "initialized", &v, &err), MS_OK, "%s", err.msg);
    cr_expect_str_eq(v, "2");
}

/* ---- organizations, users, keys ---- */

Test(store, org_insert_get_list)
{
    struct ms_error err;
    struct ms_org o, *list = NULL;
    size_t n = 0;

    ts_org(3, 50);
    ts_org(2, 50); /* same created_at: id breaks the tie */
    ts_org(1, 90);
    cr_assert_eq(ms_store_org_get(ts.s, ts.a, ts_id(TS_ORG, 3), &o, &err), MS_OK, "%s", err.msg);
    cr_expect_str_eq(o.id, ts_id(TS_ORG, 3));
    cr_expect_str_eq(o.name, "org 3");
    cr_expect_eq(o.created_at, 50);
    cr_expect_eq(ms_store_org_get(ts.s, ts.a, ts_id(TS_ORG, 9), &o, &err), MS_ENOTFOUND);

    cr_assert_eq(ms_store_org_list(ts.s, ts.a, &list, &n, &err), MS_OK, "%s", err.msg);
    cr_assert_eq(n, 3);
    cr_expect_str_eq(list[0].id, ts_id(TS_ORG, 2));
    cr_expect_str_eq(list[1].id, ts_id(TS_ORG, 3));
    cr_expect_str_eq(list[2].id, ts_id(TS_ORG, 1));

    o = (struct ms_org){ts_id(TS_ORG, 1), "again", 1};
    cr_expect_eq(ms_store_org_insert(ts.s, &o, &err), MS_ECONFLICT, "duplicate id");
    cr_expect_eq(err.native, SQLITE_CONSTRAINT_PRIMARYKEY);
    cr_expect(strstr(err.msg, "UNIQUE") != NULL, "the SQLite message is kept: %s", err.msg);
}

static const char ts_hash_user[] =
    "1111111111111111111111111111111111111111111111111111111111111111";
static const char ts_hash_org[] =
    "2222222222222222222222222222222222222222222222222222222222222222";

/* An org with a user, a user key (created_at 10) and an org key (created_at 20). */
static const char *
ts_keys(unsigned n)
{
    const char *org = ts_org(n, 1);
    struct ms_user u = {ts_id(TS_USER, n), org, "ada@example.com", "Ada", 5};
    struct ms_api_key k = {ts_id(TS_KEY, 2 * n), org,        u.id, MS_ACTOR_USER,
                           ts_hash_user,         "msu_AbCd", 10,   0};
    struct ms_api_key ko = {
        ts_id(TS_KEY, 2 * n + 1), org, NULL, MS_ACTOR_ORGANIZATION, ts_hash_org, "mso_EfGh", 20, 0};

    cr_assert_eq(ms_store_user_insert(ts.s, &u, &ts.err), MS_OK, "%s", ts.err.msg);
    cr_assert_eq(ms_store_key_insert(ts.s, &k, &ts.err), MS_OK, "%s", ts.err.msg);
    cr_assert_eq(ms_store_key_insert(ts.s, &ko, &ts.err), MS_OK, "%s", ts.err.msg);
    return org;
}

Test(store, key_auth_user_and_org_keys)
{
    struct ms_error err;
    struct ms_auth auth;
    const char *org = ts_keys(1);

    cr_assert_eq(ms_store_key_auth(ts.s, ts.a, ts_hash_user, &auth, &err), MS_OK, "%s", err.msg);
    cr_expect_eq(auth.kind, MS_ACTOR_USER);
    cr_expect_str_eq(auth.key_id, ts_id(TS_KEY, 2));
    cr_expect_str_eq(auth.org_id, org);
    cr_expect_str_eq(auth.org_name, "org 1");
    cr_expect_str_eq(auth.user_id, ts_id(TS_USER, 1));
    cr_expect_str_eq(auth.user_email, "ada@example.com");
    cr_expect_str_eq(auth.user_name, "Ada");
    cr_expect_str_eq(auth.cred_hash, ts_hash_user);

    cr_assert_eq(ms_store_key_auth(ts.s, ts.a, ts_hash_org, &auth, &err), MS_OK, "%s", err.msg);
    cr_expect_eq(auth.kind, MS_ACTOR_ORGANIZATION);
    cr_expect_str_eq(auth.key_id, ts_id(TS_KEY, 3));
    cr_expect_str_eq(auth.org_id, org);
    cr_expect_str_eq(auth.user_id, "");
    cr_expect_null(auth.user_email);
    cr_expect_null(auth.user_name);
    cr_expect_str_eq(auth.cred_hash, ts_hash_org);

    cr_expect_eq(ms_store_key_auth(ts.s, ts.a, "33", &auth, &err), MS_EAUTH);
    cr_expect_str_eq(err.msg, "invalid credentials");
}

Test(store, key_revoke_stops_auth)
{
    struct ms_error err;
    struct ms_auth auth;
    struct ms_api_key *keys = NULL;
    size_t n = 0;

    ts_keys(1);
    cr_assert_eq(ms_store_key_revoke(ts.s, ts_id(TS_KEY, 2), 500, &err), MS_OK, "%s", err.msg);
    cr_expect_eq(ms_store_key_auth(ts.s, ts.a, ts_hash_user, &auth, &err), MS_EAUTH);
    cr_expect_eq(ms_store_key_auth(ts.s, ts.a, ts_hash_org, &auth, &err), MS_OK,
                 "the other key still works: %s", err.msg);
    cr_assert_eq(ms_store_key_revoke(ts.s, ts_id(TS_KEY, 2), 900, &err), MS_OK, "%s", err.msg);
    cr_expect_eq(ms_store_key_revoke(ts.s, ts_id(TS_KEY, 99), 900, &err), MS_ENOTFOUND);

    cr_assert_eq(ms_store_key_list(ts.s, ts.a, NULL, &keys, &n, &err), MS_OK, "%s", err.msg);
    cr_assert_eq(n, 2);
    cr_expect_eq(keys[0].revoked_at, 500, "a second revoke keeps the first time");
    cr_expect_eq(keys[1].revoked_at, 0);
}

Test(store, key_list_scoping_and_order)
{
    struct ms_error err;
    struct ms_api_key *keys = NULL, k;
    size_t n = 0;
    const char *org1 = ts_keys(1);
    const char *org2 = ts_org(2, 1);

    k = (struct ms_api_key){ts_id(TS_KEY, 9),
                            org2,
                            NULL,
                            MS_ACTOR_ORGANIZATION,
                            "4444444444444444444444444444444444444444444444444444444444444444",
                            "mso_x",
                            15,
                            0};
    cr_assert_eq(ms_store_key_insert(ts.s, &k, &err), MS_OK, "%s", err.msg);
    k.id = ts_id(TS_KEY, 10);
    cr_expect_eq(ms_store_key_insert(ts.s, &k, &err), MS_ECONFLICT, "duplicate hash");

    cr_assert_eq(ms_store_key_list(ts.s, ts.a, NULL, &keys, &n, &err), MS_OK, "%s", err.msg);
    cr_assert_eq(n, 3);
    cr_expect_str_eq(keys[0].id, ts_id(TS_KEY, 2));
    cr_expect_str_eq(keys[1].id, ts_id(TS_KEY, 9));
    cr_expect_str_eq(keys[2].id, ts_id(TS_KEY, 3));

    cr_assert_eq(ms_store_key_list(ts.s, ts.a, org1, &keys, &n, &err), MS_OK, "%s", err.msg);
    cr_assert_eq(n, 2);
    cr_expect_str_eq(keys[0].id, ts_id(TS_KEY, 2));
    cr_expect_eq(keys[0].kind, MS_ACTOR_USER);
    cr_expect_str_eq(keys[0].user_id, ts_id(TS_USER, 1));
    cr_expect_str_eq(keys[0].hash, ts_hash_user);
    cr_expect_str_eq(keys[0].label, "msu_AbCd");
    cr_expect_eq(keys[0].created_at, 10);
    cr_expect_str_eq(keys[1].id, ts_id(TS_KEY, 3));
    cr_expect_eq(keys[1].kind, MS_ACTOR_ORGANIZATION);
    cr_expect_null(keys[1].user_id);
}

/* ---- connections ---- */

Test(store, conn_round_trip)
{
    struct ms_error err;
    const char *org = ts_org(1, 1);
    struct ms_connection c = ts_conn_make(org, 1, "warehouse"), got;

    cr_assert_eq(ms_store_conn_insert(ts.s, &c, &err), MS_OK, "%s", err.msg);
    cr_assert_eq(ms_store_conn_get(ts.s, ts.a, org, c.id, &got, &err), MS_OK, "%s", err.msg);
    cr_expect_str_eq(got.id, c.id);
    cr_expect_str_eq(got.org_id, org);
    cr_expect_str_eq(got.name, "warehouse");
    cr_expect_str_eq(got.type, "sqlite");
    cr_expect(json_equal(got.config, c.config));
    cr_expect_str_eq(got.status, "healthy");
    cr_expect_null(got.status_error);
    cr_expect(json_equal(got.policies, c.policies));
    cr_expect_str_eq(got.healthcheck_interval, "1h");
    cr_expect_eq(got.created_at, 1001);
    cr_expect_eq(got.updated_at, 1001);
    ts_expect_actor(&got.created_by, &ts_actor);
    ts_expect_actor(&got.updated_by, &ts_actor);
    ts_conn_release(&c);
}

Test(store, conn_null_json_and_actor_read_back_as_null)
{
    struct ms_error err;
    const char *org = ts_org(1, 1);
    struct ms_connection c = ts_conn_make(org, 1, "bare"), got;

    ts_conn_release(&c);
    c.config = NULL;
    c.policies = NULL;
    c.healthcheck_interval = NULL;
    c.status = NULL;
    memset(&c.created_by, 0, sizeof(c.created_by));
    c.updated_by = (struct ms_actor){"k-1", NULL, "organization"};
    cr_assert_eq(ms_store_conn_insert(ts.s, &c, &err), MS_OK, "%s", err.msg);
    cr_assert_eq(ms_store_conn_get(ts.s, ts.a, org, c.id, &got, &err), MS_OK, "%s", err.msg);
    cr_expect_null(got.config);
    cr_expect_null(got.policies);
    cr_expect_null(got.healthcheck_interval);
    cr_expect_null(got.status);
    cr_expect_null(got.created_by.id);
    cr_expect_null(got.created_by.name);
    cr_expect_null(got.created_by.type);
    cr_expect_str_eq(got.updated_by.id, "k-1");
    cr_expect_null(got.updated_by.name);
    cr_expect_str_eq(got.updated_by.type, "organization");
}

Test(store, conn_update_and_status)
{
    struct ms_error err;
    const char *org = ts_org(1, 1);
    struct ms_connection c = ts_conn_make(org, 1, "a"), got;
    struct ms_actor editor = {"u-2", "Grace", "user"};

    cr_assert_eq(ms_store_conn_insert(ts.s, &c, &err), MS_OK, "%s", err.msg);
    json_object_set_new(c.config, "path", json_string("/data/y.db"));
    c.name = "b";
    c.updated_at = 7777;
    c.created_at = 1;                                /* not writable by an update */
    c.created_by = (struct ms_actor){"x", "x", "x"}; /* idem */
    c.updated_by = editor;
    cr_assert_eq(ms_store_conn_update(ts.s, &c, &err), MS_OK, "%s", err.msg);
    cr_assert_eq(ms_store_conn_get(ts.s, ts.a, org, c.id, &got, &err), MS_OK, "%s", err.msg);
    cr_expect_str_eq(got.name, "b");
    cr_expect_str_eq(json_string_value(json_object_get(got.config, "path")), "/data/y.db");
    cr_expect_eq(got.updated_at, 7777);
    cr_expect_eq(got.created_at, 1001);
    ts_expect_actor(&got.created_by, &ts_actor);
    ts_expect_actor(&got.updated_by, &editor);

    cr_assert_eq(ms_store_conn_set_status(ts.s, org, c.id, "unhealthy", "refused", &err), MS_OK,
                 "%s", err.msg);
    cr_assert_eq(ms_store_conn_get(ts.s, ts.a, org, c.id, &got, &err), MS_OK, "%s", err.msg);
    cr_expect_str_eq(got.status, "unhealthy");
    cr_expect_str_eq(got.status_error, "refused");
    cr_expect_eq(ms_store_conn_set_status(ts.s, org, ts_id(TS_CONN, 9), "healthy", NULL, &err),
                 MS_ENOTFOUND);
    c.id = ts_id(TS_CONN, 9);
    cr_expect_eq(ms_store_conn_update(ts.s, &c, &err), MS_ENOTFOUND);
    ts_conn_release(&c);
}

Test(store, conn_duplicate_name_conflicts)
{
    struct ms_error err;
    const char *org1 = ts_org(1, 1), *org2 = ts_org(2, 1);
    struct ms_connection c = ts_conn_make(org1, 1, "same");

    cr_assert_eq(ms_store_conn_insert(ts.s, &c, &err), MS_OK, "%s", err.msg);
    c.id = ts_id(TS_CONN, 2);
    cr_expect_eq(ms_store_conn_insert(ts.s, &c, &err), MS_ECONFLICT);
    cr_expect_eq(err.native, SQLITE_CONSTRAINT_UNIQUE);
    c.org_id = org2;
    cr_expect_eq(ms_store_conn_insert(ts.s, &c, &err), MS_OK,
                 "the name is unique per organization: %s", err.msg);
    c.id = ts_id(TS_CONN, 3);
    c.org_id = org1;
    c.name = "other";
    cr_assert_eq(ms_store_conn_insert(ts.s, &c, &err), MS_OK, "%s", err.msg);
    c.name = "same";
    cr_expect_eq(ms_store_conn_update(ts.s, &c, &err), MS_ECONFLICT, "rename onto a taken name");
    ts_conn_release(&c);
}

Test(store, conn_list_oldest_first)
{
    struct ms_error err;
    struct ms_connection *list = NULL;
    size_t n = 0;
    const char *org = ts_org(1, 1), *other = ts_org(2, 1);

    ts_conn(org, 3);
    ts_conn(org, 1);
    ts_conn(other, 2);
    ts_conn(org, 4);
    cr_assert_eq(ms_store_conn_list(ts.s, ts.a, org, &list, &n, &err), MS_OK, "%s", err.msg);
    cr_assert_eq(n, 3);
    cr_expect_str_eq(list[0].id, ts_id(TS_CONN, 1));
    cr_expect_str_eq(list[1].id, ts_id(TS_CONN, 3));
    cr_expect_str_eq(list[2].id, ts_id(TS_CONN, 4));
    cr_expect_str_eq(json_string_value(json_object_get(list[2].config, "path")), "/data/x.db");
    cr_assert_eq(ms_store_conn_list(ts.s, ts.a, ts_org(3, 1), &list, &n, &err), MS_OK);
    cr_expect_eq(n, 0);
}

Test(store, other_orgs_connection_is_not_found)
{
    struct ms_error err;
    const char *org1 = ts_org(1, 1), *org2 = ts_org(2, 1);
    const char *conn = ts_conn(org1, 1);
    struct ms_connection c = ts_conn_make(org2, 1, "conn 1"), got;
    struct ms_connection *list = NULL;
    int64_t nm = -1, ny = -1;
    size_t n = 9;

    ts_model(org1, conn, 1);
    cr_expect_eq(ms_store_conn_get(ts.s, ts.a, org2, conn, &got, &err), MS_ENOTFOUND);
    cr_expect_eq(ms_store_conn_update(ts.s, &c, &err), MS_ENOTFOUND);
    cr_expect_eq(ms_store_conn_set_status(ts.s, org2, conn, "unhealthy", "x", &err), MS_ENOTFOUND);
    cr_expect_eq(ms_store_conn_delete(ts.s, org2, conn, false, &err), MS_ENOTFOUND);
    cr_expect_eq(ms_store_conn_delete(ts.s, org2, conn, true, &err), MS_ENOTFOUND);
    cr_assert_eq(ms_store_conn_usage(ts.s, org2, conn, &nm, &ny, &err), MS_OK, "%s", err.msg);
    cr_expect_eq(nm, 0);
    cr_expect_eq(ny, 0);
    cr_assert_eq(ms_store_conn_list(ts.s, ts.a, org2, &list, &n, &err), MS_OK);
    cr_expect_eq(n, 0);
    cr_assert_eq(ms_store_conn_get(ts.s, ts.a, org1, conn, &got, &err), MS_OK, "untouched: %s",
                 err.msg);
    cr_expect_str_eq(got.status, "healthy");
    cr_expect_str_eq(got.name, "conn 1");
    ts_conn_release(&c);
}

/* org1: conn A with models m1, m2; conn B with model m3; conn C unused.
 * sync 1 reads m1 writes B; sync 2 reads m3 writes A; sync 3 reads m3 writes B;
 * sync 4 reads m2 and m3 writes C. */
struct ts_graph {
    const char *org, *a, *b, *c, *m1, *m2, *m3;
};

static struct ts_graph
ts_graph(void)
{
    struct ts_graph g;

    g.org = ts_org(1, 1);
    g.a = ts_conn(g.org, 1);
    g.b = ts_conn(g.org, 2);
    g.c = ts_conn(g.org, 3);
    g.m1 = ts_model(g.org, g.a, 1);
    g.m2 = ts_model(g.org, g.a, 2);
    g.m3 = ts_model(g.org, g.b, 3);
    ts_sync(g.org, 1, g.b, json_pack("[s]", g.m1));
    ts_sync(g.org, 2, g.a, json_pack("[s]", g.m3));
    ts_sync(g.org, 3, g.b, json_pack("[s]", g.m3));
    ts_sync(g.org, 4, g.c, json_pack("[s, s]", g.m2, g.m3));
    return g;
}

Test(store, conn_usage_counts_models_and_target_syncs)
{
    struct ms_error err;
    struct ts_graph g = ts_graph();
    int64_t nm = -1, ny = -1;

    cr_assert_eq(ms_store_conn_usage(ts.s, g.org, g.a, &nm, &ny, &err), MS_OK, "%s", err.msg);
    cr_expect_eq(nm, 2);
    cr_expect_eq(ny, 1);
    cr_assert_eq(ms_store_conn_usage(ts.s, g.org, g.b, &nm, &ny, &err), MS_OK, "%s", err.msg);
    cr_expect_eq(nm, 1);
    cr_expect_eq(ny, 2);
    cr_assert_eq(ms_store_conn_usage(ts.s, g.org, g.c, &nm, &ny, &err), MS_OK, "%s", err.msg);
    cr_expect_eq(nm, 0);
    cr_expect_eq(ny, 1);
}

Test(store, conn_delete_without_cascade)
{
    struct ms_error err;
    struct ts_graph g = ts_graph();
    struct ms_connection got;
    const char *d = ts_conn(g.org, 4);

    cr_expect_eq(ms_store_conn_delete(ts.s, g.org, g.a, false, &err), MS_ECONFLICT,
                 "models read from it");
    cr_expect_eq(ms_store_conn_delete(ts.s, g.org, g.c, false, &err), MS_ECONFLICT,
                 "a sync writes to it");
    cr_expect_eq(ms_store_conn_get(ts.s, ts.a, g.org, g.a, &got, &err), MS_OK);
    cr_expect_eq(ms_store_conn_get(ts.s, ts.a, g.org, g.c, &got, &err), MS_OK);
    cr_assert_eq(ms_store_conn_delete(ts.s, g.org, d, false, &err), MS_OK, "%s", err.msg);
    cr_expect_eq(ms_store_conn_get(ts.s, ts.a, g.org, d, &got, &err), MS_ENOTFOUND);
    cr_expect_eq(ms_store_conn_delete(ts.s, g.org, d, false, &err), MS_ENOTFOUND);
}

Test(store, conn_delete_cascade)
{
    struct ms_error err;
    struct ts_graph g = ts_graph();
    struct ms_connection got;
    struct ms_model m;
    struct ms_sync y;
    int64_t n = -1;

    /* A goes: sync 2 writes to it, syncs 1 and 4 read its models m1 and m2, which go too */
    cr_assert_eq(ms_store_conn_delete(ts.s, g.org, g.a, true, &err), MS_OK, "%s", err.msg);
    cr_expect_eq(ms_store_conn_get(ts.s, ts.a, g.org, g.a, &got, &err), MS_ENOTFOUND);
    cr_expect_eq(ms_store_model_get(ts.s, ts.a, g.org, g.m1, &m, &err), MS_ENOTFOUND);
    cr_expect_eq(ms_store_model_get(ts.s, ts.a, g.org, g.m2, &m, &err), MS_ENOTFOUND);
    cr_expect_eq(ms_store_sync_get(ts.s, ts.a, g.org, ts_id(TS_SYNC, 1), &y, &err), MS_ENOTFOUND);
    cr_expect_eq(ms_store_sync_get(ts.s, ts.a, g.org, ts_id(TS_SYNC, 2), &y, &err), MS_ENOTFOUND);
    cr_expect_eq(ms_store_sync_get(ts.s, ts.a, g.org, ts_id(TS_SYNC, 4), &y, &err), MS_ENOTFOUND);
    /* what does not touch A stays */
    cr_expect_eq(ms_store_sync_get(ts.s, ts.a, g.org, ts_id(TS_SYNC, 3), &y, &err), MS_OK);
    cr_expect_eq(ms_store_model_get(ts.s, ts.a, g.org, g.m3, &m, &err), MS_OK);
    cr_expect_eq(ms_store_conn_get(ts.s, ts.a, g.org, g.b, &got, &err), MS_OK);
    cr_assert_eq(ms_store_model_usage(ts.s, g.org, g.m3, &n, &err), MS_OK, "%s", err.msg);
    cr_expect_eq(n, 1, "sync 4's sync_models rows went with it");
    /* C is unused now and goes without cascade */
    cr_expect_eq(ms_store_conn_delete(ts.s, g.org, g.c, false, &err), MS_OK, "%s", err.msg);
    cr_expect_eq(ms_store_conn_delete(ts.s, g.org, g.a, true, &err), MS_ENOTFOUND);
}

/* ---- models ---- */

Test(store, model_round_trip_update_delete)
{
    struct ms_error err;
    const char *org = ts_org(1, 1);
    const char *conn = ts_conn(org, 1), *conn2 = ts_conn(org, 2);
    struct ms_model m = ts_model_make(org, conn, 1), got;

    cr_assert_eq(ms_store_model_insert(ts.s, &m, &err), MS_OK, "%s", err.msg);
    cr_assert_eq(ms_store_model_get(ts.s, ts.a, org, m.id, &got, &err), MS_OK, "%s", err.msg);
    cr_expect_str_eq(got.id, m.id);
    cr_expect_str_eq(got.org_id, org);
    cr_expect_str_eq(got.connection_id, conn);
    cr_expect_str_eq(got.name, "model 1");
    cr_expect_str_eq(got.type, "sqlite");
    cr_expect(json_equal(got.config, m.config));
    cr_expect(json_equal(got.fields, m.fields));
    cr_expect(json_equal(got.doc, m.doc));
    cr_expect_eq(got.version, 1);
    cr_expect_eq(got.created_at, 2001);
    cr_expect_eq(got.updated_at, 2001);
    ts_expect_actor(&got.created_by, &ts_actor);

    m.connection_id = conn2;
    m.name = "renamed";
    m.version = 2;
    m.updated_at = 5000;
    json_decref(m.doc);
    m.doc = NULL;
    cr_assert_eq(ms_store_model_update(ts.s, &m, &err), MS_OK, "%s", err.msg);
    cr_assert_eq(ms_store_model_get(ts.s, ts.a, org, m.id, &got, &err), MS_OK, "%s", err.msg);
    cr_expect_str_eq(got.connection_id, conn2);
    cr_expect_str_eq(got.name, "renamed");
    cr_expect_eq(got.version, 2);
    cr_expect_eq(got.updated_at, 5000);
    cr_expect_eq(got.created_at, 2001);
    cr_expect_null(got.doc);

    cr_assert_eq(ms_store_model_delete(ts.s, org, m.id, &err), MS_OK, "%s", err.msg);
    cr_expect_eq(ms_store_model_get(ts.s, ts.a, org, m.id, &got, &err), MS_ENOTFOUND);
    cr_expect_eq(ms_store_model_delete(ts.s, org, m.id, &err), MS_ENOTFOUND);
    cr_expect_eq(ms_store_model_update(ts.s, &m, &err), MS_ENOTFOUND);
    ts_model_release(&m);
}

Test(store, model_list_all_and_by_connection)
{
    struct ms_error err;
    struct ms_model *list = NULL;
    size_t n = 0;
    const char *org = ts_org(1, 1), *other = ts_org(2, 1);
    const char *a = ts_conn(org, 1), *b = ts_conn(org, 2), *x = ts_conn(other, 3);

    ts_model(org, b, 3);
    ts_model(org, a, 1);
    ts_model(other, x, 4);
    ts_model(org, a, 2);
    cr_assert_eq(ms_store_model_list(ts.s, ts.a, org, NULL, &list, &n, &err), MS_OK, "%s", err.msg);
    cr_assert_eq(n, 3);
    cr_expect_str_eq(list[0].id, ts_id(TS_MODEL, 1));
    cr_expect_str_eq(list[1].id, ts_id(TS_MODEL, 2));
    cr_expect_str_eq(list[2].id, ts_id(TS_MODEL, 3));
    cr_assert_eq(ms_store_model_list(ts.s, ts.a, org, a, &list, &n, &err), MS_OK, "%s", err.msg);
    cr_assert_eq(n, 2);
    cr_expect_str_eq(list[0].id, ts_id(TS_MODEL, 1));
    cr_expect_str_eq(list[1].id, ts_id(TS_MODEL, 2));
    cr_expect_str_eq(json_string_value(json_object_get(json_array_get(list[1].fields, 0), "name")),
                     "email");
    cr_assert_eq(ms_store_model_list(ts.s, ts.a, org, x, &list, &n, &err), MS_OK, "%s", err.msg);
    cr_expect_eq(n, 0, "another organization's connection");
}

Test(store, other_orgs_model_is_not_found)
{
    struct ms_error err;
    const char *org1 = ts_org(1, 1), *org2 = ts_org(2, 1);
    const char *conn = ts_conn(org1, 1);
    const char *mid = ts_model(org1, conn, 1);
    struct ms_model m = ts_model_make(org2, conn, 1), got;
    struct ms_model *list = NULL;
    size_t n = 9;

    cr_expect_eq(ms_store_model_get(ts.s, ts.a, org2, mid, &got, &err), MS_ENOTFOUND);
    cr_expect_eq(ms_store_model_update(ts.s, &m, &err), MS_ENOTFOUND);
    cr_expect_eq(ms_store_model_delete(ts.s, org2, mid, &err), MS_ENOTFOUND);
    cr_assert_eq(ms_store_model_list(ts.s, ts.a, org2, NULL, &list, &n, &err), MS_OK);
    cr_expect_eq(n, 0);
    cr_expect_eq(ms_store_model_get(ts.s, ts.a, org1, mid, &got, &err), MS_OK, "%s", err.msg);
    ts_model_release(&m);
}

Test(store, model_usage_follows_sync_models)
{
    struct ms_error err;
    const char *org = ts_org(1, 1), *other = ts_org(2, 1);
    const char *conn = ts_conn(org, 1);
    const char *m1 = ts_model(org, conn, 1), *m2 = ts_model(org, conn, 2);
    struct ms_sync y;
    int64_t n = -1;

    ts_sync(org, 1, conn, json_pack("[s, s]", m1, m2));
    ts_sync(org, 2, conn, json_pack("[s, s]", m1, m1)); /* a repeated id counts once */
    cr_assert_eq(ms_store_model_usage(ts.s, org, m1, &n, &err), MS_OK, "%s", err.msg);
    cr_expect_eq(n, 2);
    cr_assert_eq(ms_store_model_usage(ts.s, other, m1, &n, &err), MS_OK, "%s", err.msg);
    cr_expect_eq(n, 0, "scoped by organization");

    y = ts_sync_make(org, 1, conn, json_pack("[s]", m2));
    cr_assert_eq(ms_store_sync_update(ts.s, &y, &err), MS_OK, "%s", err.msg);
    ts_sync_release(&y);
    cr_assert_eq(ms_store_model_usage(ts.s, org, m1, &n, &err), MS_OK, "%s", err.msg);
    cr_expect_eq(n, 1, "the update replaced sync 1's rows");
    cr_assert_eq(ms_store_model_usage(ts.s, org, m2, &n, &err), MS_OK, "%s", err.msg);
    cr_expect_eq(n, 1);

    cr_assert_eq(ms_store_sync_delete(ts.s, org, ts_id(TS_SYNC, 2), &err), MS_OK, "%s", err.msg);
    cr_assert_eq(ms_store_model_usage(ts.s, org, m1, &n, &err), MS_OK, "%s", err.msg);
    cr_expect_eq(n, 0, "rows go with the sync");
}

/* ---- syncs ---- */

Test(store, sync_round_trip_update_set_active_delete)
{
    struct ms_error err;
    const char *org = ts_org(1, 1);
    const char *conn = ts_conn(org, 1), *conn2 = ts_conn(org, 2);
    const char *m1 = ts_model(org, conn, 1);
    struct ms_sync y = ts_sync_make(org, 1, conn, json_pack("[s]", m1)), got;
    struct ms_actor pauser = {"u-3", "Linus", "user"};

    cr_assert_eq(ms_store_sync_insert(ts.s, &y, &err), MS_OK, "%s", err.msg);
    cr_assert_eq(ms_store_sync_get(ts.s, ts.a, org, y.id, &got, &err), MS_OK, "%s", err.msg);
    cr_expect_str_eq(got.id, y.id);
    cr_expect_str_eq(got.org_id, org);
    cr_expect_str_eq(got.name, "sync 1");
    cr_expect(got.active);
    cr_expect_str_eq(got.mode, "create");
    cr_expect_str_eq(got.target_connection_id, conn);
    cr_expect_str_eq(got.target_object, "users");
    cr_expect(json_equal(got.config, y.config));
    cr_expect(json_equal(got.model_ids, y.model_ids));
    cr_expect_eq(got.created_at, 3001);
    cr_expect_eq(got.updated_at, 3001);
    ts_expect_actor(&got.created_by, &ts_actor);
    ts_expect_actor(&got.updated_by, &ts_actor);
    cr_expect_eq(ms_store_sync_insert(ts.s, &y, &err), MS_ECONFLICT, "duplicate id");

    y.mode = "updateOrCreate";
    y.target_connection_id = conn2;
    y.target_object = NULL;
    y.updated_at = 9000;
    cr_assert_eq(ms_store_sync_update(ts.s, &y, &err), MS_OK, "%s", err.msg);
    cr_assert_eq(ms_store_sync_get(ts.s, ts.a, org, y.id, &got, &err), MS_OK, "%s", err.msg);
    cr_expect_str_eq(got.mode, "updateOrCreate");
    cr_expect_str_eq(got.target_connection_id, conn2);
    cr_expect_null(got.target_object);
    cr_expect_eq(got.updated_at, 9000);
    cr_expect_eq(got.created_at, 3001);

    cr_assert_eq(ms_store_sync_set_active(ts.s, org, y.id, false, 9500, &pauser, &err), MS_OK, "%s",
                 err.msg);
    cr_assert_eq(ms_store_sync_get(ts.s, ts.a, org, y.id, &got, &err), MS_OK, "%s", err.msg);
    cr_expect_not(got.active);
    cr_expect_eq(got.updated_at, 9500);
    ts_expect_actor(&got.updated_by, &pauser);
    cr_expect_str_eq(got.mode, "updateOrCreate", "only active/updated_* change");

    cr_assert_eq(ms_store_sync_delete(ts.s, org, y.id, &err), MS_OK, "%s", err.msg);
    cr_expect_eq(ms_store_sync_get(ts.s, ts.a, org, y.id, &got, &err), MS_ENOTFOUND);
    cr_expect_eq(ms_store_sync_delete(ts.s, org, y.id, &err), MS_ENOTFOUND);
    cr_expect_eq(ms_store_sync_update(ts.s, &y, &err), MS_ENOTFOUND);
    cr_expect_eq(ms_store_sync_set_active(ts.s, org, y.id, true, 1, &pauser, &err), MS_ENOTFOUND);
    ts_sync_release(&y);
}

Test(store, sync_refuses_bad_model_ids)
{
    struct ms_error err;
    const char *org = ts_org(1, 1);
    const char *conn = ts_conn(org, 1);
    struct ms_sync y = ts_sync_make(org, 1, conn, json_pack("[i]", 5)), got;

    cr_expect_eq(ms_store_sync_insert(ts.s, &y, &err), MS_EINVAL);
    cr_expect_str_eq(err.field, "model_ids");
    cr_expect_eq(ms_store_sync_get(ts.s, ts.a, org, y.id, &got, &err), MS_ENOTFOUND,
                 "the row was rolled back with its sync_models");
    json_decref(y.model_ids);
    y.model_ids = NULL;
    cr_expect_eq(ms_store_sync_insert(ts.s, &y, &err), MS_OK, "no models is fine: %s", err.msg);
    cr_assert_eq(ms_store_sync_get(ts.s, ts.a, org, y.id, &got, &err), MS_OK, "%s", err.msg);
    cr_expect_null(got.model_ids);
    ts_sync_release(&y);
}

Test(store, other_orgs_sync_is_not_found)
{
    struct ms_error err;
    const char *org1 = ts_org(1, 1), *org2 = ts_org(2, 1);
    const char *conn = ts_conn(org1, 1);
    const char *sid = ts_sync(org1, 1, conn, NULL);
    struct ms_sync y = ts_sync_make(org2, 1, conn, NULL), got, *list = NULL;
    struct ms_sync_filter f = {-1, NULL, NULL};
    size_t n = 9;

    cr_expect_eq(ms_store_sync_get(ts.s, ts.a, org2, sid, &got, &err), MS_ENOTFOUND);
    cr_expect_eq(ms_store_sync_update(ts.s, &y, &err), MS_ENOTFOUND);
    cr_expect_eq(ms_store_sync_set_active(ts.s, org2, sid, false, 5, &ts_actor, &err),
                 MS_ENOTFOUND);
    cr_expect_eq(ms_store_sync_delete(ts.s, org2, sid, &err), MS_ENOTFOUND);
    cr_assert_eq(ms_store_sync_list(ts.s, ts.a, org2, &f, NULL, 50, &list, &n, &err), MS_OK);
    cr_expect_eq(n, 0);
    cr_assert_eq(ms_store_sync_get(ts.s, ts.a, org1, sid, &got, &err), MS_OK, "%s", err.msg);
    cr_expect(got.active);
    cr_expect_eq(got.updated_at, 3001);
    ts_sync_release(&y);
}

/* A sync whose schedule runs after the syncs in after (a new reference, stolen). */
static void
ts_sync_after(const char *org, unsigned n, const char *target, json_t *after)
{
    struct ms_sync y = ts_sync_make(org, n, target, NULL);

    json_object_set_new(
        y.config, "schedule",
        json_pack("{s:s, s:{s:o}}", "frequency", "runafter", "run_after", "sync_ids", after));
    cr_assert_eq(ms_store_sync_insert(ts.s, &y, &ts.err), MS_OK, "%s", ts.err.msg);
    ts_sync_release(&y);
}

Test(store, sync_run_after_refs_counts_other_syncs_of_the_org)
{
    struct ms_error err;
    const char *org = ts_org(1, 1), *other = ts_org(2, 1);
    const char *conn = ts_conn(org, 1), *oconn = ts_conn(other, 2);
    const char *up = ts_id(TS_SYNC, 1);
    int64_t n = -1;

    ts_sync_after(org, 1, conn, json_pack("[s]", up)); /* itself: not "other" */
    ts_sync_after(org, 2, conn, json_pack("[s]", up));
    ts_sync_after(org, 3, conn, json_pack("[s, s]", ts_id(TS_SYNC, 2), up));
    ts_sync_after(org, 4, conn, json_pack("[s]", ts_id(TS_SYNC, 2)));
    ts_sync(org, 5, conn, NULL);
    ts_sync_after(other, 6, oconn, json_pack("[s]", up)); /* another organization */

    cr_assert_eq(ms_store_sync_run_after_refs(ts.s, org, up, &n, &err), MS_OK, "%s", err.msg);
    cr_expect_eq(n, 2);
    cr_assert_eq(ms_store_sync_run_after_refs(ts.s, org, ts_id(TS_SYNC, 2), &n, &err), MS_OK, "%s",
                 err.msg);
    cr_expect_eq(n, 2);
    cr_assert_eq(ms_store_sync_run_after_refs(ts.s, org, ts_id(TS_SYNC, 5), &n, &err), MS_OK, "%s",
                 err.msg);
    cr_expect_eq(n, 0);
    cr_assert_eq(ms_store_sync_run_after_refs(ts.s, other, up, &n, &err), MS_OK, "%s", err.msg);
    cr_expect_eq(n, 1);
}

/* ---- sync_list keyset pagination ---- */

#define TS_NSYNCS 120

static const char *const ts_modes[] = {"create", "update", "updateOrCreate"};

struct ts_expect {
    const char *id;
    int64_t updated_at;
    bool active;
    const char *mode;
    const char *target;
};

static int
ts_expect_cmp(const void *pa, const void *pb)
{
    const struct ts_expect *x = pa, *y = pb;

    if (x->updated_at != y->updated_at)
        return x->updated_at > y->updated_at ? -1 : 1;
    return -strcmp(x->id, y->id);
}

/*
 * TS_NSYNCS syncs in org 1 (ids in a shuffled order; updated_at in runs of equal values),
 * alternating two targets, three modes, one in three paused; org 2 gets syncs with the same
 * times. all[] comes back sorted as the list must be.
 */
static const char *
ts_many_syncs(struct ts_expect *all, const char **targets)
{
    const char *org = ts_org(1, 1), *other = ts_org(2, 1);
    const char *ox = ts_conn(other, 9);

    targets[0] = ts_conn(org, 1);
    targets[1] = ts_conn(org, 2);
    for (unsigned i = 0; i < TS_NSYNCS; i++) {
        unsigned idn = (i * 37) % TS_NSYNCS + 1; /* 37 is prime to 120: a permutation */
        struct ms_sync y = ts_sync_make(org, idn, targets[i % 2], NULL);

        y.updated_at = 100000 + (int64_t)(i % 17 == 0 ? i : i / 5) * 10;
        y.active = i % 3 != 0;
        y.mode = ts_modes[i % 3 == 1 ? 0 : i % 5 % 3];
        cr_assert_eq(ms_store_sync_insert(ts.s, &y, &ts.err), MS_OK, "%s", ts.err.msg);
        all[i] = (struct ts_expect){y.id, y.updated_at, y.active, y.mode, targets[i % 2]};
        ts_sync_release(&y);
        if (i % 4 == 0) {
            y = ts_sync_make(other, 1000 + i, ox, NULL);
            y.updated_at = 100000 + (int64_t)(i / 5) * 10;
            cr_assert_eq(ms_store_sync_insert(ts.s, &y, &ts.err), MS_OK, "%s", ts.err.msg);
            ts_sync_release(&y);
        }
    }
    qsort(all, TS_NSYNCS, sizeof(*all), ts_expect_cmp);
    return org;
}

static bool
ts_matches(const struct ts_expect *e, const struct ms_sync_filter *f)
{
    return (f->active < 0 || e->active == (f->active != 0)) &&
           (f->mode == NULL || strcmp(e->mode, f->mode) == 0) &&
           (f->target_connection_id == NULL || strcmp(e->target, f->target_connection_id) == 0);
}

/* Walk every page of size limit and compare with the expected filtered order. */
static void
ts_walk(const char *org, const struct ts_expect *all, const struct ms_sync_filter *f, size_t limit)
{
    struct ms_sync_cursor cur = {.set = false};
    size_t want = 0, seen = 0, pages = 0;
    struct ms_error err;

    for (size_t i = 0; i < TS_NSYNCS; i++)
        want += ts_matches(&all[i], f);
    for (size_t k = 0;;) {
        struct ms_sync *page = NULL;
        size_t n = 99;

        cr_assert_eq(ms_store_sync_list(ts.s, ts.a, org, f, &cur, limit, &page, &n, &err), MS_OK,
                     "%s", err.msg);
        cr_assert_leq(n, limit);
        pages++;
        for (size_t j = 0; j < n; j++, seen++) {
            while (k < TS_NSYNCS && !ts_matches(&all[k], f))
                k++;
            cr_assert_lt(k, TS_NSYNCS, "more syncs than expected");
            cr_assert_str_eq(page[j].id, all[k].id, "item %zu of limit %zu", seen, limit);
            cr_assert_eq(page[j].updated_at, all[k].updated_at);
            cr_assert_str_eq(page[j].org_id, org);
            k++;
        }
        if (n < limit)
            break;
        cur.set = true;
        cur.updated_at = page[n - 1].updated_at;
        snprintf(cur.id, sizeof(cur.id), "%s", page[n - 1].id);
    }
    cr_expect_eq(seen, want, "every matching sync exactly once (limit %zu)", limit);
    cr_expect_eq(pages, want / limit + 1);
}

Test(store, sync_list_keyset_walk)
{
    struct ts_expect all[TS_NSYNCS];
    const char *targets[2];
    const char *org = ts_many_syncs(all, targets);
    const struct ms_sync_filter filters[] = {
        {-1, NULL, NULL},      {1, NULL, NULL},        {0, NULL, NULL},
        {-1, "update", NULL},  {-1, NULL, targets[1]}, {1, "create", targets[0]},
        {-1, "nothing", NULL},
    };
    size_t eq = 0;

    for (size_t i = 1; i < TS_NSYNCS; i++)
        eq += all[i].updated_at == all[i - 1].updated_at;
    cr_assert_gt(eq, 50, "the data has many equal updated_at values");
    for (size_t i = 0; i < MS_ARRAY_LEN(filters); i++) {
        ts_walk(org, all, &filters[i], 7);
        ts_walk(org, all, &filters[i], 50);
    }
}

Test(store, sync_list_null_filter_and_cursor)
{
    struct ts_expect all[TS_NSYNCS];
    const char *targets[2];
    const char *org = ts_many_syncs(all, targets);
    struct ms_sync *page = NULL;
    struct ms_error err;
    size_t n = 0;

    cr_assert_eq(ms_store_sync_list(ts.s, ts.a, org, NULL, NULL, 3, &page, &n, &err), MS_OK, "%s",
                 err.msg);
    cr_assert_eq(n, 3);
    cr_expect_str_eq(page[0].id, all[0].id);
    cr_expect_str_eq(page[2].id, all[2].id);
}

/* ---- transactions ---- */

Test(store, tx_commit_and_rollback)
{
    struct ms_error err;
    struct ms_org o;
    const char *org;

    cr_assert_eq(ms_store_tx_begin(ts.s, &err), MS_OK, "%s", err.msg);
    org = ts_org(1, 1);
    ms_store_tx_rollback(ts.s);
    cr_expect_eq(ms_store_org_get(ts.s, ts.a, org, &o, &err), MS_ENOTFOUND);

    cr_assert_eq(ms_store_tx_begin(ts.s, &err), MS_OK, "%s", err.msg);
    ts_org(1, 1);
    cr_assert_eq(ms_store_tx_commit(ts.s, &err), MS_OK, "%s", err.msg);
    ms_store_close(ts.s);
    ts.s = ts_open_store();
    cr_expect_eq(ms_store_org_get(ts.s, ts.a, org, &o, &err), MS_OK, "%s", err.msg);
    cr_expect_eq(ms_store_tx_commit(ts.s, &err), MS_EINTERNAL, "commit without begin");
    ms_store_tx_rollback(ts.s); /* harmless without a transaction */
}

Test(store, tx_outer_transaction_spans_inner_ones)
{
    struct ms_error err;
    const char *org = ts_org(1, 1);
    const char *conn = ts_conn(org, 1);
    struct ms_sync got;

    cr_assert_eq(ms_store_tx_begin(ts.s, &err), MS_OK, "%s", err.msg);
    ts_sync(org, 1, conn, NULL); /* its own begin/commit are nested no-ops */
    ts_sync(org, 2, conn, NULL);
    cr_expect_eq(ms_store_sync_get(ts.s, ts.a, org, ts_id(TS_SYNC, 1), &got, &err), MS_OK);
    ms_store_tx_rollback(ts.s);
    cr_expect_eq(ms_store_sync_get(ts.s, ts.a, org, ts_id(TS_SYNC, 1), &got, &err), MS_ENOTFOUND,
                 "the outer rollback undid the nested writes");
    cr_expect_eq(ms_store_sync_get(ts.s, ts.a, org, ts_id(TS_SYNC, 2), &got, &err), MS_ENOTFOUND);
}

Test(store, tx_inner_failure_dooms_the_outer_transaction)
{
    struct ms_error err;
    const char *org = ts_org(1, 1);
    const char *conn = ts_conn(org, 1);
    struct ms_sync y = ts_sync_make(org, 1, conn, NULL), got;
    struct ms_org o;

    cr_assert_eq(ms_store_tx_begin(ts.s, &err), MS_OK, "%s", err.msg);
    ts_sync(org, 2, conn, NULL);
    json_decref(y.model_ids);
    y.model_ids = json_pack("[i]", 1); /* fails inside sync_insert's nested transaction */
    cr_assert_eq(ms_store_sync_insert(ts.s, &y, &err), MS_EINVAL);
    cr_expect_eq(ms_store_org_get(ts.s, ts.a, org, &o, &err), MS_EINTERNAL,
                 "no autocommit work slips in after the rollback");
    cr_expect_eq(ms_store_tx_begin(ts.s, &err), MS_EINTERNAL);
    cr_expect_eq(ms_store_tx_commit(ts.s, &err), MS_EINTERNAL);
    cr_expect_eq(ms_store_sync_get(ts.s, ts.a, org, ts_id(TS_SYNC, 2), &got, &err), MS_ENOTFOUND,
                 "everything since the outer begin is gone");
    ts_sync(org, 3, conn, NULL); /* the handle is usable again */
    ts_sync_release(&y);
}

static void *
ts_migrate_thread(void *arg)
{
    struct ms_store *s = NULL;
    struct ms_error err;
    enum ms_status st = ms_store_open(arg, &s, &err);

    if (st == MS_OK)
        st = ms_store_migrate(s, &err);
    ms_store_close(s);
    return (void *)(intptr_t)st;
}

Test(store, concurrent_migrations_from_two_handles)
{
    char url[200];
    pthread_t th[4];
    struct ms_store *s = NULL;
    struct ms_error err;
    struct ms_org o = {"o", "n", 1};

    snprintf(url, sizeof(url), "sqlite:%s/fresh.db", ts.dir);
    for (size_t i = 0; i < 4; i++)
        cr_assert_eq(pthread_create(&th[i], NULL, ts_migrate_thread, url), 0);
    for (size_t i = 0; i < 4; i++) {
        void *ret = NULL;

        pthread_join(th[i], &ret);
        cr_expect_eq((enum ms_status)(intptr_t)ret, MS_OK, "thread %zu", i);
    }
    cr_assert_eq(ms_store_open(url, &s, &err), MS_OK, "%s", err.msg);
    cr_expect_eq(ms_store_org_insert(s, &o, &err), MS_OK, "schema in place: %s", err.msg);
    ms_store_close(s);
    snprintf(url, sizeof(url), "%s/fresh.db", ts.dir);
    unlink(url);
    snprintf(url, sizeof(url), "%s/fresh.db-wal", ts.dir);
    unlink(url);
    snprintf(url, sizeof(url), "%s/fresh.db-shm", ts.dir);
    unlink(url);
}

/* ---- idempotency ---- */

struct ts_idem {
    enum ms_idem_state state;
    struct ms_idem_response resp;
};

static struct ts_idem
ts_idem_begin(const char *org, const char *cred, const char *key, const char *req, int64_t now)
{
    struct ts_idem r;

    memset(&r, 0, sizeof(r));
    cr_assert_eq(
        ms_store_idem_begin(ts.s, ts.a, org, cred, key, req, now, &r.state, &r.resp, &ts.err),
        MS_OK, "%s", ts.err.msg);
    return r;
}

Test(store, idem_new_in_flight_done_replay_mismatch)
{
    struct ms_error err;
    const char *org = ts_org(1, 1);
    const int64_t t0 = 1700000000000;
    struct ts_idem r;

    r = ts_idem_begin(org, ts_hash_user, "k1", "POST /api/syncs abc", t0);
    cr_expect_eq(r.state, MS_IDEM_NEW);
    r = ts_idem_begin(org, ts_hash_user, "k1", "POST /api/syncs abc", t0 + 5);
    cr_expect_eq(r.state, MS_IDEM_IN_FLIGHT);
    r = ts_idem_begin(org, ts_hash_user, "k1", "POST /api/syncs xyz", t0 + 5);
    cr_expect_eq(r.state, MS_IDEM_MISMATCH);
    /* the scope is (organization, credential, key) */
    r = ts_idem_begin(org, ts_hash_org, "k1", "POST /api/syncs abc", t0 + 5);
    cr_expect_eq(r.state, MS_IDEM_NEW, "another credential");
    r = ts_idem_begin(ts_org(2, 1), ts_hash_user, "k1", "POST /api/syncs abc", t0 + 5);
    cr_expect_eq(r.state, MS_IDEM_NEW, "another organization");

    cr_assert_eq(ms_store_idem_finish(ts.s, org, ts_hash_user, "k1", 201, "{\"data\":{}}xx", 11,
                                      t0 + 9, &err),
                 MS_OK, "%s", err.msg);
    r = ts_idem_begin(org, ts_hash_user, "k1", "POST /api/syncs abc", t0 + 10);
    cr_assert_eq(r.state, MS_IDEM_DONE);
    cr_expect_eq(r.resp.http_status, 201);
    cr_expect_eq(r.resp.body_len, 11);
    cr_expect_str_eq(r.resp.body, "{\"data\":{}}", "copied and NUL-terminated");
    r = ts_idem_begin(org, ts_hash_user, "k1", "POST /api/syncs abc", t0 + 20);
    cr_expect_eq(r.state, MS_IDEM_DONE, "replayed as often as asked");
    r = ts_idem_begin(org, ts_hash_user, "k1", "DELETE /api/syncs/1", t0 + 20);
    cr_expect_eq(r.state, MS_IDEM_MISMATCH);
    cr_expect_null(r.resp.body);

    cr_expect_eq(ms_store_idem_finish(ts.s, org, ts_hash_user, "nope", 200, "", 0, t0, &err),
                 MS_ENOTFOUND);
}

Test(store, idem_binary_and_empty_bodies)
{
    struct ms_error err;
    const char *org = ts_org(1, 1);
    struct ts_idem r;

    ts_idem_begin(org, ts_hash_user, "bin", "r", 10);
    cr_assert_eq(ms_store_idem_finish(ts.s, org, ts_hash_user, "bin", 200, "a\0b", 3, 11, &err),
                 MS_OK, "%s", err.msg);
    r = ts_idem_begin(org, ts_hash_user, "bin", "r", 12);
    cr_assert_eq(r.state, MS_IDEM_DONE);
    cr_assert_eq(r.resp.body_len, 3);
    cr_expect_eq(memcmp(r.resp.body, "a\0b", 4), 0);

    ts_idem_begin(org, ts_hash_user, "empty", "r", 10);
    cr_assert_eq(ms_store_idem_finish(ts.s, org, ts_hash_user, "empty", 204, NULL, 0, 11, &err),
                 MS_OK, "%s", err.msg);
    r = ts_idem_begin(org, ts_hash_user, "empty", "r", 12);
    cr_assert_eq(r.state, MS_IDEM_DONE);
    cr_expect_eq(r.resp.http_status, 204);
    cr_expect_eq(r.resp.body_len, 0);
    cr_expect_str_eq(r.resp.body, "");
}

Test(store, idem_stale_in_flight_is_reclaimed)
{
    const char *org = ts_org(1, 1);
    const int64_t t0 = 1700000000000;
    struct ts_idem r;

    ts_idem_begin(org, ts_hash_user, "k", "req-1", t0);
    r = ts_idem_begin(org, ts_hash_user, "k", "req-1", t0 + MS_IDEM_STALE_MS);
    cr_expect_eq(r.state, MS_IDEM_IN_FLIGHT, "not stale yet at exactly the limit");
    r = ts_idem_begin(org, ts_hash_user, "k", "req-2", t0 + MS_IDEM_STALE_MS + 1);
    cr_expect_eq(r.state, MS_IDEM_NEW, "an abandoned claim is taken over, whatever the request");
    r = ts_idem_begin(org, ts_hash_user, "k", "req-2", t0 + MS_IDEM_STALE_MS + 2);
    cr_expect_eq(r.state, MS_IDEM_IN_FLIGHT, "the new claim counts from its own time");
    r = ts_idem_begin(org, ts_hash_user, "k", "req-1", t0 + MS_IDEM_STALE_MS + 2);
    cr_expect_eq(r.state, MS_IDEM_MISMATCH, "and holds the new request hash");
}

Test(store, idem_done_expires_after_ttl)
{
    struct ms_error err;
    const char *org = ts_org(1, 1);
    const int64_t t0 = 1700000000000;
    struct ts_idem r;

    ts_idem_begin(org, ts_hash_user, "k", "req", t0);
    cr_assert_eq(ms_store_idem_finish(ts.s, org, ts_hash_user, "k", 200, "{}", 2, t0 + 1, &err),
                 MS_OK, "%s", err.msg);
    r = ts_idem_begin(org, ts_hash_user, "k", "req", t0 + MS_IDEM_TTL_MS);
    cr_expect_eq(r.state, MS_IDEM_DONE, "kept for the whole TTL");
    r = ts_idem_begin(org, ts_hash_user, "k", "other", t0 + MS_IDEM_TTL_MS + 1);
    cr_expect_eq(r.state, MS_IDEM_NEW, "expired: the key is free again");
    r = ts_idem_begin(org, ts_hash_user, "k", "other", t0 + MS_IDEM_TTL_MS + 2);
    cr_expect_eq(r.state, MS_IDEM_IN_FLIGHT);
}

Test(store, idem_purge_forgets_old_keys)
{
    struct ms_error err;
    const char *org = ts_org(1, 1);
    const int64_t t0 = 1700000000000, hour = 3600 * 1000;
    struct ts_idem r;

    ts_idem_begin(org, ts_hash_user, "old", "req", t0);
    ts_idem_begin(org, ts_hash_user, "young", "req", t0 + hour);
    cr_assert_eq(ms_store_idem_finish(ts.s, org, ts_hash_user, "old", 200, "{}", 2, t0, &err),
                 MS_OK);
    cr_assert_eq(ms_store_idem_finish(ts.s, org, ts_hash_user, "young", 200, "{}", 2, t0, &err),
                 MS_OK);
    cr_assert_eq(ms_store_idem_purge(ts.s, t0 + MS_IDEM_TTL_MS + 1, &err), MS_OK, "%s", err.msg);
    /* asked with an early clock, a surviving key still replays: only purge removed "old" */
    r = ts_idem_begin(org, ts_hash_user, "old", "req", t0 + 2 * hour);
    cr_expect_eq(r.state, MS_IDEM_NEW, "purged");
    r = ts_idem_begin(org, ts_hash_user, "young", "req", t0 + 2 * hour);
    cr_expect_eq(r.state, MS_IDEM_DONE, "within the TTL at purge time");
}

/* ---- SQLite only ---- */

/* A second connection to the test database, for what store.h cannot show. */
static sqlite3 *
ts_raw(void)
{
    sqlite3 *db = NULL;

    cr_assert_eq(sqlite3_open(ts.path, &db), SQLITE_OK);
    return db;
}

static char *
ts_raw_text(sqlite3 *db, const char *sql)
{
    sqlite3_stmt *stmt = NULL;
    char *out = NULL;

    cr_assert_eq(sqlite3_prepare_v2(db, sql, -1, &stmt, NULL), SQLITE_OK, "%s", sqlite3_errmsg(db));
    if (sqlite3_step(stmt) == SQLITE_ROW)
        out = ms_arena_strdup(ts.a, (const char *)sqlite3_column_text(stmt, 0));
    sqlite3_finalize(stmt);
    return out;
}

Test(store_sqlite, wal_schema_and_versions)
{
    sqlite3 *db = ts_raw();
    char *v;

    cr_expect_str_eq(ts_raw_text(db, "PRAGMA journal_mode"), "wal");
    v = ts_raw_text(db, "SELECT group_concat(version || ':' || name, ',') FROM "
                        "(SELECT * FROM schema_migrations ORDER BY version)");
    cr_expect_str_eq(v, "1:0001-init,2:0002-executions,3:0003-snapshot-log,4:0004-sync-documents,"
                        "5:0005-schedule,6:0006-sync-docs-index,7:0007-snapshot-chunks");
    cr_expect_str_eq(ts_raw_text(db, "SELECT count(*) FROM schema_migrations"),
                     ms_arena_printf(ts.a, "%zu", ms_migrations_count));
    cr_expect_str_eq(ts_raw_text(db, "SELECT name FROM sqlite_master WHERE name = 'syncs_list'"),
                     "syncs_list");
    sqlite3_close(db);
}

Test(store_sqlite, refuses_a_newer_schema)
{
    struct ms_error err;
    sqlite3 *db = ts_raw();

    cr_assert_eq(sqlite3_exec(db, "INSERT INTO schema_migrations VALUES (9999, '9999-future', 1)",
                              NULL, NULL, NULL),
                 SQLITE_OK);
    sqlite3_close(db);
    cr_expect_eq(ms_store_migrate(ts.s, &err), MS_EINTERNAL);
    cr_expect(strstr(err.msg, "9999") != NULL, "%s", err.msg);
}

Test(store_sqlite, foreign_keys_are_enforced)
{
    struct ms_error err;
    const char *org = ts_org(1, 1);
    struct ms_model m = ts_model_make(org, ts_id(TS_CONN, 77), 1);

    cr_expect_eq(ms_store_model_insert(ts.s, &m, &err), MS_EINTERNAL, "no such connection");
    cr_expect_eq(err.native, SQLITE_CONSTRAINT_FOREIGNKEY);
    ts_model_release(&m);
}

Test(store_sqlite, sync_list_uses_the_keyset_index)
{
    char sql[1024], plan[1024];
    struct ms_error err;

    ms_store_sq_sync_list_sql(0, sql, sizeof(sql));
    cr_assert_eq(ms_store_sq_explain(ts.s, sql, plan, sizeof(plan), &err), MS_OK, "%s", err.msg);
    cr_expect(strstr(plan, "USING INDEX syncs_list (organization_id=?)") != NULL, "%s", plan);
    cr_expect(strstr(plan, "TEMP B-TREE") == NULL, "%s", plan);

    ms_store_sq_sync_list_sql(SQ_LIST_CURSOR, sql, sizeof(sql));
    cr_assert_eq(ms_store_sq_explain(ts.s, sql, plan, sizeof(plan), &err), MS_OK, "%s", err.msg);
    cr_expect(
        strstr(plan, "USING INDEX syncs_list (organization_id=? AND (updated_at,id)<(?,?))") !=
            NULL,
        "the cursor starts the index range: %s", plan);
    cr_expect(strstr(plan, "TEMP B-TREE") == NULL, "%s", plan);

    ms_store_sq_sync_list_sql(SQ_LIST_CURSOR | SQ_LIST_ACTIVE | SQ_LIST_MODE, sql, sizeof(sql));
    cr_assert_eq(ms_store_sq_explain(ts.s, sql, plan, sizeof(plan), &err), MS_OK, "%s", err.msg);
    cr_expect(strstr(plan, "syncs_list") != NULL, "%s", plan);
    cr_expect(strstr(plan, "TEMP B-TREE") == NULL, "%s", plan);
}

/* Holds the write lock for a while on its own connection, then commits. */
static void *
ts_lock_holder(void *arg)
{
    sqlite3 *db = arg;
    struct timespec ts_sleep = {0, 300 * 1000 * 1000};

    nanosleep(&ts_sleep, NULL);
    sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
    return NULL;
}

static int64_t
ts_mono_ms(void)
{
    struct timespec t;

    clock_gettime(CLOCK_MONOTONIC, &t);
    return (int64_t)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

Test(store_sqlite, busy_waits_then_maps_to_ebusy, .timeout = 30)
{
    struct ms_error err;
    sqlite3 *db = ts_raw();
    pthread_t th;
    int64_t t;

    /* a writer that lets go within the busy timeout: the write waits and succeeds */
    cr_assert_eq(sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL), SQLITE_OK);
    cr_assert_eq(pthread_create(&th, NULL, ts_lock_holder, db), 0);
    cr_expect_eq(ms_store_meta_set(ts.s, "k", "v", &err), MS_OK, "%s", err.msg);
    pthread_join(th, NULL);

    /* one that does not: MS_EBUSY after about 5 s, with SQLite's code kept */
    cr_assert_eq(sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL), SQLITE_OK);
    t = ts_mono_ms();
    cr_expect_eq(ms_store_tx_begin(ts.s, &err), MS_EBUSY);
    cr_expect_geq(ts_mono_ms() - t, 4500);
    cr_expect_eq(err.native & 0xff, SQLITE_BUSY);
    sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
    sqlite3_close(db);
    cr_expect_eq(ms_store_tx_begin(ts.s, &err), MS_OK, "%s", err.msg);
    ms_store_tx_rollback(ts.s);
}

Test(store, autocommit_writes_are_visible_to_other_handles)
{
    struct ms_error err;
    struct ms_store *other = ts_open_store();
    struct ms_org o;
    const char *org = ts_org(1, 1);

    cr_expect_eq(ms_store_org_get(other, ts.a, org, &o, &err), MS_OK, "%s", err.msg);
    ms_store_close(other);
}

/* ---- sync documents (sync_get_doc, sync_list_docs) ---- */

/* What GET /api/syncs/{id} (item: one element of GET /api/syncs) sent before the documents
 * were stored: the row as sync_get reads it, rendered and serialized. */
static const char *
ts_doc_want(const char *org, const char *id, bool item)
{
    struct ms_sync y;
    struct ms_error err;
    json_t *j;
    char *text;
    const char *out;

    cr_assert_eq(ms_store_sync_get(ts.s, ts.a, org, id, &y, &err), MS_OK, "%s", err.msg);
    j = item ? ms_sync_list_item(&y) : ms_sync_to_json(&y);
    text = json_dumps(j, JSON_COMPACT | JSON_ENCODE_ANY);
    json_decref(j);
    cr_assert_not_null(text);
    out = ms_arena_strdup(ts.a, text);
    free(text);
    return out;
}

static void
ts_json_release(void *j)
{
    json_decref(j);
}

/* The stored SyncResponse of id must be the rendering of its row as it is now. */
static json_t *
ts_doc_check(const char *org, const char *id)
{
    struct ms_sync_doc doc;
    struct ms_error err;
    json_t *j;

    cr_assert_eq(ms_store_sync_get_doc(ts.s, ts.a, org, id, &doc, &err), MS_OK, "%s", err.msg);
    cr_expect_str_eq(doc.id, id);
    cr_expect_eq(doc.len, strlen(doc.json));
    cr_expect_str_eq(doc.json, ts_doc_want(org, id, false));
    j = json_loads(doc.json, 0, NULL);
    cr_assert_not_null(j, "%s", doc.json);
    ms_arena_defer(ts.a, ts_json_release, j);
    return j;
}

/* The one-item page of org must hold id's ListSyncItem as its row renders it now. */
static void
ts_item_check(const char *org, const char *id, int64_t updated_at)
{
    struct ms_sync_doc *page = NULL;
    struct ms_error err;
    size_t n = 0;

    cr_assert_eq(ms_store_sync_list_docs(ts.s, ts.a, org, NULL, NULL, 10, &page, &n, &err), MS_OK,
                 "%s", err.msg);
    cr_assert_eq(n, 1);
    cr_expect_str_eq(page[0].id, id);
    cr_expect_eq(page[0].updated_at, updated_at);
    cr_expect_eq(page[0].len, strlen(page[0].json));
    cr_expect_str_eq(page[0].json, ts_doc_want(org, id, true));
}

Test(store, sync_docs_follow_every_write)
{
    struct ms_error err;
    const char *org = ts_org(1, 1), *other = ts_org(2, 1);
    const char *conn = ts_conn(org, 1), *conn2 = ts_conn(org, 2);
    const char *m1 = ts_model(org, conn, 1);
    struct ms_sync y = ts_sync_make(org, 1, conn, json_pack("[s]", m1));
    struct ms_sync_doc doc, *page = NULL;
    struct ms_actor pauser = {"u-3", "Linus", "user"};
    size_t n = 9;
    json_t *j;

    cr_assert_eq(ms_store_sync_insert(ts.s, &y, &err), MS_OK, "%s", err.msg);
    j = ts_doc_check(org, y.id);
    cr_expect_str_eq(json_string_value(json_object_get(j, "name")), "sync 1");
    cr_expect(json_is_true(json_object_get(j, "active")));
    ts_item_check(org, y.id, 3001);

    y.mode = "updateOrCreate";
    y.target_connection_id = conn2;
    y.updated_at = 9000;
    json_object_set_new(y.config, "schedule", json_pack("{s:s}", "frequency", "hourly"));
    cr_assert_eq(ms_store_sync_update(ts.s, &y, &err), MS_OK, "%s", err.msg);
    j = ts_doc_check(org, y.id);
    cr_expect_str_eq(json_string_value(json_object_get(j, "mode")), "updateOrCreate");
    cr_expect_str_eq(
        json_string_value(json_object_get(json_object_get(j, "schedule"), "frequency")), "hourly");
    ts_item_check(org, y.id, 9000);

    cr_assert_eq(ms_store_sync_set_active(ts.s, org, y.id, false, 9500, &pauser, &err), MS_OK, "%s",
                 err.msg);
    j = ts_doc_check(org, y.id);
    cr_expect(json_is_false(json_object_get(j, "active")));
    cr_expect_str_eq(json_string_value(json_object_get(json_object_get(j, "updated_by"), "name")),
                     "Linus");
    ts_item_check(org, y.id, 9500);

    cr_expect_eq(ms_store_sync_get_doc(ts.s, ts.a, other, y.id, &doc, &err), MS_ENOTFOUND);
    cr_assert_eq(ms_store_sync_list_docs(ts.s, ts.a, other, NULL, NULL, 10, &page, &n, &err),
                 MS_OK);
    cr_expect_eq(n, 0, "another organization's syncs are not listed");
    cr_assert_eq(ms_store_sync_delete(ts.s, org, y.id, &err), MS_OK, "%s", err.msg);
    cr_expect_eq(ms_store_sync_get_doc(ts.s, ts.a, org, y.id, &doc, &err), MS_ENOTFOUND);
    ts_sync_release(&y);
}

Test(store, sync_set_active_not_found_keeps_the_callers_transaction)
{
    struct ms_error err;
    const char *org = ts_org(1, 1);
    const char *conn = ts_conn(org, 1);
    struct ms_sync got;

    cr_assert_eq(ms_store_tx_begin(ts.s, &err), MS_OK, "%s", err.msg);
    ts_sync(org, 1, conn, NULL);
    cr_expect_eq(ms_store_sync_set_active(ts.s, org, ts_id(TS_SYNC, 2), false, 5, &ts_actor, &err),
                 MS_ENOTFOUND);
    cr_assert_eq(ms_store_tx_commit(ts.s, &err), MS_OK, "%s", err.msg);
    cr_expect_eq(ms_store_sync_get(ts.s, ts.a, org, ts_id(TS_SYNC, 1), &got, &err), MS_OK, "%s",
                 err.msg);
}

/* Walk every page of sync_list_docs and compare with the expected filtered order. */
static void
ts_walk_docs(const char *org, const struct ts_expect *all, const struct ms_sync_filter *f,
             size_t limit)
{
    struct ms_sync_cursor cur = {.set = false};
    size_t want = 0, seen = 0, k = 0;
    struct ms_error err;

    for (size_t i = 0; i < TS_NSYNCS; i++)
        want += ts_matches(&all[i], f);
    for (;;) {
        struct ms_sync_doc *page = NULL;
        size_t n = 99;

        cr_assert_eq(ms_store_sync_list_docs(ts.s, ts.a, org, f, &cur, limit, &page, &n, &err),
                     MS_OK, "%s", err.msg);
        cr_assert_leq(n, limit);
        for (size_t j = 0; j < n; j++, seen++, k++) {
            while (k < TS_NSYNCS && !ts_matches(&all[k], f))
                k++;
            cr_assert_lt(k, TS_NSYNCS, "more syncs than expected");
            cr_assert_str_eq(page[j].id, all[k].id, "item %zu of limit %zu", seen, limit);
            cr_assert_eq(page[j].updated_at, all[k].updated_at);
            cr_assert(strstr(page[j].json, all[k].id) != NULL, "%s", page[j].json);
        }
        if (n < limit)
            break;
        cur.set = true;
        cur.updated_at = page[n - 1].updated_at;
        snprintf(cur.id, sizeof(cur.id), "%s", page[n - 1].id);
    }
    cr_expect_eq(seen, want, "every matching sync exactly once (limit %zu)", limit);
}

Test(store, sync_list_docs_keyset_walk)
{
    struct ts_expect all[TS_NSYNCS];
    const char *targets[2];
    const char *org = ts_many_syncs(all, targets);
    const struct ms_sync_filter filters[] = {
        {-1, NULL, NULL},
        {0, NULL, NULL},
        {-1, "update", NULL},
        {1, "create", targets[0]},
    };

    for (size_t i = 0; i < MS_ARRAY_LEN(filters); i++) {
        ts_walk_docs(org, all, &filters[i], 7);
        ts_walk_docs(org, all, &filters[i], 50);
    }
}

/* The documents of id as stored, "" for NULL. */
static const char *
ts_raw_docs(sqlite3 *db, const char *id)
{
    return ts_raw_text(db, ms_arena_printf(ts.a,
                                           "SELECT coalesce(response, '') || '|' || "
                                           "coalesce(list_item, '') FROM syncs WHERE id = '%s'",
                                           id));
}

Test(store_sqlite, sync_docs_of_rows_written_before_migration_4)
{
    struct ms_error err;
    const char *org = ts_org(1, 1);
    const char *conn = ts_conn(org, 1);
    const char *id = ts_sync(org, 1, conn, NULL);
    const char *full =
        ms_arena_printf(ts.a, "%s|%s", ts_doc_want(org, id, false), ts_doc_want(org, id, true));
    struct ms_sync_doc doc, *page = NULL;
    size_t n = 0;
    sqlite3 *db = ts_raw();

    cr_expect_str_eq(ts_raw_docs(db, id), full, "written with the row");
    cr_assert_eq(
        sqlite3_exec(db, "UPDATE syncs SET response = NULL, list_item = NULL", NULL, NULL, NULL),
        SQLITE_OK);
    ts_doc_check(org, id);
    cr_expect_str_eq(ts_raw_docs(db, id), full, "a read outside a transaction stores them");

    cr_assert_eq(sqlite3_exec(db, "UPDATE syncs SET list_item = NULL", NULL, NULL, NULL),
                 SQLITE_OK);
    ts_item_check(org, id, 3001);
    cr_expect_str_eq(ts_raw_docs(db, id), full);

    /* Inside the caller's transaction a read renders but writes nothing, and dooms nothing. */
    cr_assert_eq(
        sqlite3_exec(db, "UPDATE syncs SET response = NULL, list_item = NULL", NULL, NULL, NULL),
        SQLITE_OK);
    cr_assert_eq(ms_store_tx_begin(ts.s, &err), MS_OK, "%s", err.msg);
    ts_doc_check(org, id);
    cr_assert_eq(ms_store_sync_list_docs(ts.s, ts.a, org, NULL, NULL, 5, &page, &n, &err), MS_OK);
    cr_assert_eq(n, 1);
    cr_expect_str_eq(page[0].json, ts_doc_want(org, id, true));
    ts_sync(org, 2, conn, NULL);
    cr_assert_eq(ms_store_tx_commit(ts.s, &err), MS_OK, "%s", err.msg);
    cr_expect_str_eq(ts_raw_docs(db, id), "|");
    cr_expect_eq(ms_store_sync_get_doc(ts.s, ts.a, org, ts_id(TS_SYNC, 2), &doc, &err), MS_OK, "%s",
                 err.msg);
    sqlite3_close(db);
}

Test(store_sqlite, sync_list_docs_reads_only_the_covering_index)
{
    char sql[1024], plan[1024];
    struct ms_error err;

    ms_store_sq_sync_list_docs_sql(SQ_LIST_CURSOR, sql, sizeof(sql));
    cr_assert_eq(ms_store_sq_explain(ts.s, sql, plan, sizeof(plan), &err), MS_OK, "%s", err.msg);
    cr_expect(strstr(plan, "USING COVERING INDEX syncs_docs (organization_id=? AND "
                           "(updated_at,id)<(?,?))") != NULL,
              "%s", plan);
    cr_expect(strstr(plan, "TEMP B-TREE") == NULL, "%s", plan);
    for (unsigned mask = 0; mask < 16; mask++) {
        ms_store_sq_sync_list_docs_sql(mask, sql, sizeof(sql));
        cr_assert_eq(ms_store_sq_explain(ts.s, sql, plan, sizeof(plan), &err), MS_OK, "%s",
                     err.msg);
        cr_expect(strstr(plan, "USING COVERING INDEX syncs_docs") != NULL, "mask %u: %s", mask,
                  plan);
        cr_expect(strstr(plan, "TEMP B-TREE") == NULL, "mask %u: %s", mask, plan);
    }
}

/* ---- WAL checkpoints on their own thread (store_sqlite_ckpt.c) ---- */

static int64_t
ts_file_size(const char *suffix)
{
    char p[200];
    struct stat sb;

    snprintf(p, sizeof(p), "%s%s", ts.path, suffix);
    return stat(p, &sb) == 0 ? (int64_t)sb.st_size : -1;
}

/* One commit of about pages 4 KiB pages through the handle's own connection. */
static void
ts_write_pages(const char *table, int pages)
{
    struct store_sqlite *s = (struct store_sqlite *)ts.s;
    char *sql = sqlite3_mprintf("CREATE TABLE %s (b BLOB); WITH RECURSIVE c(i) AS (SELECT 1 UNION "
                                "ALL SELECT i + 1 FROM c WHERE i < %d) INSERT INTO %s SELECT "
                                "randomblob(4000) FROM c",
                                table, pages, table);

    cr_assert_eq(sqlite3_exec(s->db, sql, NULL, NULL, NULL), SQLITE_OK, "%s",
                 sqlite3_errmsg(s->db));
    sqlite3_free(sql);
}

/* The commit leaves the WAL to the checkpointer, which copies it once let go; the last close
 * of the file stops it and removes the WAL. */
Test(store_sqlite, commits_leave_the_checkpoint_to_its_thread)
{
    int64_t before;

    atomic_store(&ms_store_sq_ckpt_hold, true);
    before = ts_file_size("");
    ts_write_pages("big", 1500);
    cr_expect_eq(ts_file_size(""), before, "the commit did not checkpoint");
    cr_expect_gt(ts_file_size("-wal"), (int64_t)1500 * 4000, "the pages wait in the WAL");
    atomic_store(&ms_store_sq_ckpt_hold, false);
    for (int i = 0; i < 500 && ts_file_size("") < before + (int64_t)1500 * 4000; i++)
        usleep(10000);
    cr_expect_geq(ts_file_size(""), before + (int64_t)1500 * 4000, "the thread checkpointed");
    ms_store_close(ts.s);
    ts.s = NULL;
    cr_expect_eq(ts_file_size("-wal"), -1, "the last connection removed the WAL");
}

/* A checkpointer that cannot keep up: past the limit, the commit checkpoints itself. */
Test(store_sqlite, a_wal_past_the_limit_is_checkpointed_by_the_commit)
{
    int64_t before;

    atomic_store(&ms_store_sq_ckpt_hold, true);
    ms_store_sq_ckpt_force_pages = 2000;
    ts_write_pages("small", 1200);
    before = ts_file_size("");
    ts_write_pages("big", 1200);
    cr_expect_geq(ts_file_size(""), before + (int64_t)2000 * 4000, "checkpointed by the commit");
    atomic_store(&ms_store_sq_ckpt_hold, false);
}
