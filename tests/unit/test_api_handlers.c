/*
 * tests/unit/test_api_handlers.c: the handlers of src/api/ called straight from their route
 * tables (no sockets), on a real SQLite store in a temporary directory, against a real SQLite
 * source file and a CSV directory built by the test. Each test runs in its own process with a
 * fresh store; two organizations exist so cross-organization access can be checked.
 */
#include <criterion/criterion.h>

#include <dirent.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "api/api_int.h"
#include "core/buf.h"
#include "core/crypto.h"
#include "core/time.h"

#define TH_ORG_A "aaaaaaaa-1111-4111-8111-111111111111"
#define TH_ORG_B "bbbbbbbb-2222-4222-8222-222222222222"
#define TH_USER "cccccccc-3333-4333-8333-333333333333"
#define TH_NOID "0f0e9c2a-1b2c-4d5e-8f90-a1b2c3d4e5f6"

static struct {
    char dir[64];
    char db[128];    /* the SQLite source database */
    char files[128]; /* the CSV directory */
    struct ms_store *store;
    struct ms_config cfg;
} th;

/* ---- fixture ---- */

static void
th_exec(sqlite3 *db, const char *sql)
{
    char *msg = NULL;

    cr_assert_eq(sqlite3_exec(db, sql, NULL, NULL, &msg), SQLITE_OK, "%s", msg ? msg : "");
}

/* users (12 rows, so a sample is capped) and orders, in th.db; users.csv in th.files. */
static void
th_make_sources(void)
{
    sqlite3 *db = NULL;
    FILE *f;
    char sql[256], path[192];
    int i;

    cr_assert_eq(sqlite3_open(th.db, &db), SQLITE_OK);
    th_exec(db, "CREATE TABLE users (id INTEGER PRIMARY KEY, email TEXT NOT NULL, name TEXT, "
                "score REAL, updated_at TEXT NOT NULL)");
    th_exec(db, "CREATE TABLE orders (id INTEGER PRIMARY KEY, user_id INTEGER, total REAL)");
    for (i = 1; i <= 12; i++) {
        snprintf(sql, sizeof(sql),
                 "INSERT INTO users VALUES (%d, 'u%d@example.com', 'User %d', %d.5, "
                 "'2024-01-%02dT00:00:00Z')",
                 i, i, i, i, i);
        th_exec(db, sql);
    }
    sqlite3_close(db);
    cr_assert_eq(mkdir(th.files, 0700), 0);
    snprintf(path, sizeof(path), "%s/users.csv", th.files);
    f = fopen(path, "w");
    cr_assert_not_null(f);
    fputs("id,email,name\n1,ada@example.com,Ada\n2,alan@example.com,\"Turing, Alan\"\n", f);
    fclose(f);
}

static void
th_setup(void)
{
    struct ms_org a = {TH_ORG_A, "Acme", 1700000000000};
    struct ms_org b = {TH_ORG_B, "Other", 1700000000000};
    struct ms_user u = {TH_USER, TH_ORG_A, "ada@example.com", "Ada", 1700000000000};
    struct ms_error err;
    char url[128];

    cr_assert_eq(ms_crypto_init(&err), MS_OK);
    strcpy(th.dir, "/tmp/ms-api-test-XXXXXX");
    cr_assert_not_null(mkdtemp(th.dir));
    snprintf(th.db, sizeof(th.db), "%s/src.db", th.dir);
    snprintf(th.files, sizeof(th.files), "%s/files", th.dir);
    snprintf(url, sizeof(url), "sqlite:%s/x.db", th.dir);
    cr_assert_eq(ms_store_open(url, &th.store, &err), MS_OK, "%s", err.msg);
    cr_assert_eq(ms_store_migrate(th.store, &err), MS_OK, "%s", err.msg);
    cr_assert_eq(ms_store_org_insert(th.store, &a, &err), MS_OK, "%s", err.msg);
    cr_assert_eq(ms_store_org_insert(th.store, &b, &err), MS_OK, "%s", err.msg);
    cr_assert_eq(ms_store_user_insert(th.store, &u, &err), MS_OK, "%s", err.msg);
    memset(&th.cfg, 0, sizeof(th.cfg));
    ms_random_bytes(th.cfg.secret, sizeof(th.cfg.secret));
    th.cfg.max_body_bytes = MS_MAX_BODY_BYTES;
    th_make_sources();
}

static void
th_rmtree(const char *path)
{
    struct dirent *e;
    struct stat sb;
    char sub[512];
    DIR *d = opendir(path);

    while (d != NULL && (e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        snprintf(sub, sizeof(sub), "%s/%s", path, e->d_name);
        if (lstat(sub, &sb) == 0 && S_ISDIR(sb.st_mode))
            th_rmtree(sub);
        else
            unlink(sub);
    }
    if (d != NULL)
        closedir(d);
    rmdir(path);
}

static void
th_teardown(void)
{
    ms_store_close(th.store);
    th.store = NULL;
    th_rmtree(th.dir);
}

/* ---- requests ---- */

/* A request by the user of organization A; body may be NULL (no body). */
static struct ms_req *
th_req(const char *method, const char *body)
{
    struct ms_arena *a = ms_arena_new();
    struct ms_req *r = ms_arena_zalloc(a, sizeof(*r));

    r->arena = a;
    r->method = method;
    r->path = "/";
    ms_buf_init(&r->body, MS_MAX_BODY_BYTES);
    ms_arena_defer(a, ms_buf_release_cb, &r->body);
    if (body != NULL)
        cr_assert_eq(ms_buf_adds(&r->body, body), MS_OK);
    r->auth.kind = MS_ACTOR_USER;
    strcpy(r->auth.org_id, TH_ORG_A);
    strcpy(r->auth.user_id, TH_USER);
    r->auth.org_name = "Acme";
    r->auth.user_email = "ada@example.com";
    r->auth.user_name = "Ada";
    r->store = th.store;
    r->cfg = &th.cfg;
    return r;
}

/* A request with v (stolen) serialized as its body. */
static struct ms_req *
th_reqj(const char *method, json_t *v)
{
    char *s = json_dumps(v, JSON_COMPACT);
    struct ms_req *r = th_req(method, s);

    free(s);
    json_decref(v);
    return r;
}

/* Make r come from organization B's organization key. */
static void
th_as_org_b(struct ms_req *r)
{
    memset(&r->auth, 0, sizeof(r->auth));
    r->auth.kind = MS_ACTOR_ORGANIZATION;
    strcpy(r->auth.org_id, TH_ORG_B);
    r->auth.org_name = "Other";
}

static void
th_param(struct ms_req *r, const char *key, const char *val)
{
    cr_assert_lt(r->nparams, MS_MAX_PATH_PARAMS);
    r->params[r->nparams].key = key;
    r->params[r->nparams].val = val;
    r->nparams++;
}

static void
th_query(struct ms_req *r, const char *key, const char *val)
{
    struct ms_kv *q = ms_arena_alloc(r->arena, (r->nquery + 1) * sizeof(*q));

    if (r->nquery > 0)
        memcpy(q, r->query, r->nquery * sizeof(*q));
    q[r->nquery].key = key;
    q[r->nquery].val = val;
    r->query = q;
    r->nquery++;
}

/* Call the handler of (r->method, pattern) in table. */
static enum ms_status
th_run(struct ms_req *r, const struct ms_route *table, const char *pattern, struct ms_error *err)
{
    const struct ms_route *rt;

    for (rt = table; rt->method != NULL; rt++)
        if (strcmp(rt->method, r->method) == 0 && strcmp(rt->pattern, pattern) == 0)
            break;
    cr_assert_not_null(rt->method, "no route %s %s", r->method, pattern);
    r->route = pattern;
    ms_error_clear(err);
    return rt->handler(r, err);
}

static void
th_free(struct ms_req *r)
{
    json_decref(r->reply);
    ms_arena_free(r->arena);
}

static json_t *
th_data(const struct ms_req *r)
{
    return json_object_get(r->reply, "data");
}

static const char *
th_str(const json_t *obj, const char *key)
{
    return json_string_value(json_object_get(obj, key));
}

/* ---- shortcuts ---- */

/* POST /api/connections with v (stolen); returns the new id (malloc'd) or asserts. */
static char *
th_conn_create(json_t *v)
{
    struct ms_req *r = th_reqj("POST", v);
    struct ms_error err;
    char *id;

    cr_assert_eq(th_run(r, ms_api_connections_routes, "/api/connections", &err), MS_OK, "%s",
                 err.msg);
    id = strdup(th_str(th_data(r), "id"));
    th_free(r);
    return id;
}

static char *
th_sqlite_conn(const char *name)
{
    return th_conn_create(json_pack("{s:s, s:s, s:{s:s}}", "name", name, "type", "sqlite",
                                    "configuration", "path", th.db));
}

static size_t
th_conn_count(void)
{
    struct ms_req *r = th_req("GET", NULL);
    struct ms_error err;
    size_t n;

    cr_assert_eq(th_run(r, ms_api_connections_routes, "/api/connections", &err), MS_OK);
    n = json_array_size(th_data(r));
    th_free(r);
    return n;
}

static size_t
th_model_count(void)
{
    struct ms_req *r = th_req("GET", NULL);
    struct ms_error err;
    size_t n;

    cr_assert_eq(th_run(r, ms_api_models_routes, "/api/models", &err), MS_OK);
    n = json_array_size(th_data(r));
    th_free(r);
    return n;
}

/* POST /api/models with v (stolen): status, error and (on success) the reply kept in *out. */
static enum ms_status
th_model_post(json_t *v, struct ms_error *err, struct ms_req **out)
{
    struct ms_req *r = th_reqj("POST", v);
    enum ms_status st = th_run(r, ms_api_models_routes, "/api/models", err);

    if (out != NULL)
        *out = r;
    else
        th_free(r);
    return st;
}

static char *
th_users_model(const char *conn)
{
    struct ms_error err;
    struct ms_req *r;
    char *id;

    cr_assert_eq(
        th_model_post(json_pack("{s:s, s:s, s:{s:s}, s:s}", "name", "Users", "connection_id", conn,
                                "configuration", "table", "users", "identifier", "id"),
                      &err, &r),
        MS_OK, "%s", err.msg);
    id = strdup(th_str(th_data(r), "id"));
    th_free(r);
    return id;
}

TestSuite(api_conn, .init = th_setup, .fini = th_teardown);
TestSuite(api_model, .init = th_setup, .fini = th_teardown);
TestSuite(api_meta, .init = th_setup, .fini = th_teardown);

/* ---- connections ---- */

Test(api_conn, create_get_list)
{
    struct ms_req *r;
    struct ms_error err;
    json_t *d;
    char *id;

    r = th_reqj("POST", json_pack("{s:s, s:s, s:{s:s}, s:[s]}", "name", "Local", "type", "sqlite",
                                  "configuration", "path", th.db, "policies",
                                  "DDDDDDDD-4444-4444-8444-444444444444"));
    cr_assert_eq(th_run(r, ms_api_connections_routes, "/api/connections", &err), MS_OK, "%s",
                 err.msg);
    d = th_data(r);
    cr_expect(ms_uuid_valid(th_str(d, "id"), strlen(th_str(d, "id"))));
    cr_expect_str_eq(th_str(d, "name"), "Local");
    cr_expect_str_eq(th_str(d, "organization_id"), TH_ORG_A);
    cr_expect_str_eq(th_str(json_object_get(d, "type"), "id"), "sqlite");
    cr_expect_eq(json_array_size(json_object_get(json_object_get(d, "type"), "operations")), 2);
    cr_expect_str_eq(th_str(json_object_get(d, "configuration"), "path"), th.db);
    cr_expect_str_eq(th_str(d, "status"), "healthy");
    cr_expect_null(json_object_get(d, "status_error"));
    cr_expect(json_is_true(json_object_get(d, "saved")));
    cr_expect_str_eq(json_string_value(json_array_get(json_object_get(d, "policies"), 0)),
                     "dddddddd-4444-4444-8444-444444444444");
    cr_expect_str_eq(th_str(json_object_get(d, "created_by"), "id"), TH_USER);
    cr_expect_str_eq(th_str(json_object_get(d, "created_by"), "type"), "user");
    cr_expect(json_is_string(json_object_get(d, "created_at")));
    cr_expect_eq(json_object_size(r->reply), 1, "only data");
    id = strdup(th_str(d, "id"));
    th_free(r);

    r = th_req("GET", NULL);
    th_param(r, "id", id);
    cr_assert_eq(th_run(r, ms_api_connections_routes, "/api/connections/{id:uuid}", &err), MS_OK,
                 "%s", err.msg);
    cr_expect_str_eq(th_str(th_data(r), "name"), "Local");
    cr_expect_str_eq(th_str(th_data(r), "updated_at"), th_str(th_data(r), "created_at"));
    th_free(r);
    cr_expect_eq(th_conn_count(), 1);
    free(id);
}

Test(api_conn, create_bad_bodies_save_nothing)
{
    static const struct {
        const char *body;
        const char *field; /* "" = none */
        const char *msg;
    } cases[] = {
        {"{\"name\": \"x\", ", "", "malformed JSON"},
        {"", "", "must be a JSON object"},
        {"null", "", "must be a JSON object"},
        {"[]", "", "must be a JSON object"},
        {"{\"name\": 5, \"type\": \"sqlite\", \"configuration\": {}}", "name", "string"},
        {"{\"name\": \"\", \"type\": \"sqlite\", \"configuration\": {}}", "name", "empty"},
        {"{\"type\": \"sqlite\", \"configuration\": {}}", "name", "required"},
        {"{\"name\": \"x\", \"configuration\": {}}", "type", "required"},
        {"{\"name\": \"x\", \"type\": \"sqlite\"}", "configuration", "required"},
        {"{\"name\": \"x\", \"type\": \"sqlite\", \"configuration\": \"/a\"}", "configuration",
         "object"},
        {"{\"name\": \"x\", \"type\": \"sqlite\", \"configuration\": {}, \"validate\": 1}",
         "validate", "boolean"},
        {"{\"name\": \"x\", \"type\": \"sqlite\", \"configuration\": {}, \"policies\": [\"x\"]}",
         "policies[0]", "UUID"},
        {"{\"name\": \"x\", \"type\": \"sqlite\", \"configuration\": {}}", "configuration.path",
         "required"},
        {"{\"name\": \"x\", \"type\": \"sqlite\", \"configuration\": {\"path\": \"rel.db\"}}",
         "configuration.path", "absolute"},
    };
    struct ms_error err;
    size_t i;

    for (i = 0; i < MS_ARRAY_LEN(cases); i++) {
        struct ms_req *r = th_req("POST", cases[i].body);

        cr_expect_eq(th_run(r, ms_api_connections_routes, "/api/connections", &err), MS_EINVAL,
                     "case %zu", i);
        cr_expect_str_eq(err.field, cases[i].field, "case %zu: %s", i, err.msg);
        cr_expect(strstr(err.msg, cases[i].msg) != NULL, "case %zu: %s", i, err.msg);
        cr_expect_null(r->reply);
        th_free(r);
    }
    cr_expect_eq(th_conn_count(), 0);
}

Test(api_conn, create_unknown_type_extra_member_foreign_org)
{
    struct ms_req *r;
    struct ms_error err;

    r = th_reqj("POST",
                json_pack("{s:s, s:s, s:{}}", "name", "x", "type", "oracle", "configuration"));
    cr_expect_eq(th_run(r, ms_api_connections_routes, "/api/connections", &err), MS_EUNPROC);
    cr_expect_str_eq(err.field, "type");
    th_free(r);

    r = th_reqj("POST", json_pack("{s:s, s:s, s:{s:s, s:i}}", "name", "x", "type", "sqlite",
                                  "configuration", "path", th.db, "extra", 1));
    cr_expect_eq(th_run(r, ms_api_connections_routes, "/api/connections", &err), MS_EINVAL);
    cr_expect_str_eq(err.field, "configuration.extra", "%s", err.msg);
    th_free(r);

    r = th_reqj("POST", json_pack("{s:s, s:s, s:{s:s}, s:s}", "name", "x", "type", "sqlite",
                                  "configuration", "path", th.db, "organization_id", TH_ORG_B));
    cr_expect_eq(th_run(r, ms_api_connections_routes, "/api/connections", &err), MS_EDENIED);
    th_free(r);

    r = th_reqj("POST", json_pack("{s:s, s:s, s:{s:s}, s:s, s:n, s:i}", "name", "x", "type",
                                  "sqlite", "configuration", "path", th.db, "organization_id",
                                  TH_ORG_A, "healthcheck_interval", "unknown_member", 3));
    cr_expect_eq(th_run(r, ms_api_connections_routes, "/api/connections", &err), MS_OK,
                 "own organization_id, null and unknown members are fine: %s", err.msg);
    th_free(r);
    cr_expect_eq(th_conn_count(), 1);
}

Test(api_conn, duplicate_name_is_422)
{
    char *id = th_sqlite_conn("Same");
    struct ms_req *r;
    struct ms_error err;

    r = th_reqj("POST", json_pack("{s:s, s:s, s:{s:s}}", "name", "Same", "type", "sqlite",
                                  "configuration", "path", th.db));
    cr_expect_eq(th_run(r, ms_api_connections_routes, "/api/connections", &err), MS_EUNPROC);
    cr_expect_str_eq(err.field, "name");
    th_free(r);
    free(th_sqlite_conn("Other"));
    r = th_reqj("PUT",
                json_pack("{s:s, s:{s:s}}", "name", "Other", "configuration", "path", th.db));
    th_param(r, "id", id);
    cr_expect_eq(th_run(r, ms_api_connections_routes, "/api/connections/{id:uuid}", &err),
                 MS_EUNPROC, "renaming onto another name");
    cr_expect_str_eq(err.field, "name");
    th_free(r);
    free(id);
}

Test(api_conn, failed_test_with_and_without_validate)
{
    char missing[192];
    struct ms_req *r;
    struct ms_error err;
    json_t *d;

    snprintf(missing, sizeof(missing), "%s/missing.db", th.dir);
    r = th_reqj("POST", json_pack("{s:s, s:s, s:{s:s}, s:b}", "name", "Gone", "type", "sqlite",
                                  "configuration", "path", missing, "validate", 1));
    cr_expect_eq(th_run(r, ms_api_connections_routes, "/api/connections", &err), MS_EINVAL);
    cr_expect(strstr(err.msg, "connection test failed") != NULL, "%s", err.msg);
    th_free(r);
    cr_expect_eq(th_conn_count(), 0, "validate:true saves nothing");
    cr_expect_neq(access(missing, F_OK), 0, "and creates no file");

    r = th_reqj("POST", json_pack("{s:s, s:s, s:{s:s}}", "name", "Gone", "type", "sqlite",
                                  "configuration", "path", missing));
    cr_assert_eq(th_run(r, ms_api_connections_routes, "/api/connections", &err), MS_OK, "%s",
                 err.msg);
    d = th_data(r);
    cr_expect_str_eq(th_str(d, "status"), "unhealthy");
    cr_expect(json_is_string(json_object_get(d, "status_error")));
    th_free(r);
    cr_expect_eq(th_conn_count(), 1);
}

Test(api_conn, other_org_is_404)
{
    char *id = th_sqlite_conn("Mine");
    static const char *const methods[] = {"GET", "PUT", "DELETE"};
    struct ms_error err;
    size_t i;

    for (i = 0; i < MS_ARRAY_LEN(methods); i++) {
        struct ms_req *r = th_reqj(methods[i], json_pack("{s:s, s:{s:s}}", "name", "Theirs",
                                                         "configuration", "path", th.db));

        th_as_org_b(r);
        th_param(r, "id", id);
        cr_expect_eq(th_run(r, ms_api_connections_routes, "/api/connections/{id:uuid}", &err),
                     MS_ENOTFOUND, "%s", methods[i]);
        th_free(r);
    }
    cr_expect_eq(th_conn_count(), 1, "still there");
    free(id);
}

Test(api_conn, update_replaces_and_keeps_type)
{
    char *id = th_sqlite_conn("Before");
    struct ms_req *r;
    struct ms_error err;
    json_t *d;

    r = th_reqj("PUT", json_pack("{s:s, s:s, s:{s:s}}", "name", "After", "type", "postgresql",
                                 "configuration", "path", th.db));
    th_param(r, "id", id);
    cr_expect_eq(th_run(r, ms_api_connections_routes, "/api/connections/{id:uuid}", &err),
                 MS_EINVAL);
    cr_expect_str_eq(err.field, "type");
    th_free(r);

    r = th_reqj("PUT", json_pack("{s:s}", "name", "After"));
    th_param(r, "id", id);
    cr_expect_eq(th_run(r, ms_api_connections_routes, "/api/connections/{id:uuid}", &err),
                 MS_EINVAL);
    cr_expect_str_eq(err.field, "configuration");
    th_free(r);

    r = th_reqj("PUT", json_pack("{s:s, s:s, s:{s:s}, s:s}", "name", "After", "type", "sqlite",
                                 "configuration", "path", th.db, "healthcheck_interval", "1h"));
    th_param(r, "id", id);
    cr_assert_eq(th_run(r, ms_api_connections_routes, "/api/connections/{id:uuid}", &err), MS_OK,
                 "%s", err.msg);
    d = th_data(r);
    cr_expect_str_eq(th_str(d, "name"), "After");
    cr_expect_str_eq(th_str(d, "id"), id);
    cr_expect_str_eq(th_str(d, "healthcheck_interval"), "1h");
    cr_expect_str_eq(th_str(json_object_get(d, "updated_by"), "id"), TH_USER);
    th_free(r);
    free(id);
}

/* A sync writing to target that reads model (store level: the sync API is another issue). */
static void
th_insert_sync(const char *target, const char *model)
{
    struct ms_sync y;
    struct ms_error err;
    char id[MS_UUID_LEN + 1];

    memset(&y, 0, sizeof(y));
    ms_uuid_new(id);
    y.id = id;
    y.org_id = TH_ORG_A;
    y.name = "S";
    y.active = true;
    y.mode = "create";
    y.target_connection_id = target;
    y.target_object = "users";
    y.config = json_object();
    y.model_ids = json_pack("[s]", model);
    y.created_at = y.updated_at = ms_time_now_ms();
    cr_assert_eq(ms_store_sync_insert(th.store, &y, &err), MS_OK, "%s", err.msg);
    json_decref(y.config);
    json_decref(y.model_ids);
}

Test(api_conn, delete_in_use_then_force)
{
    char *id = th_sqlite_conn("Src"), *model = th_users_model(id);
    struct ms_req *r;
    struct ms_error err;

    th_insert_sync(id, model);
    r = th_req("DELETE", NULL);
    th_param(r, "id", id);
    cr_expect_eq(th_run(r, ms_api_connections_routes, "/api/connections/{id:uuid}", &err),
                 MS_EUNPROC);
    cr_expect_str_eq(err.key, "connection_in_use");
    cr_expect(strstr(err.msg, "1 model(s) and 1 sync(s)") != NULL, "%s", err.msg);
    th_free(r);

    r = th_req("DELETE", NULL);
    th_param(r, "id", id);
    th_query(r, "force", "maybe");
    cr_expect_eq(th_run(r, ms_api_connections_routes, "/api/connections/{id:uuid}", &err),
                 MS_EINVAL);
    cr_expect_str_eq(err.field, "force");
    th_free(r);
    cr_expect_eq(th_conn_count(), 1);
    cr_expect_eq(th_model_count(), 1);

    r = th_req("DELETE", NULL);
    th_param(r, "id", id);
    th_query(r, "force", "TRUE");
    cr_expect_eq(th_run(r, ms_api_connections_routes, "/api/connections/{id:uuid}", &err), MS_OK,
                 "%s", err.msg);
    cr_expect_eq(r->status, 204);
    cr_expect_null(r->reply);
    th_free(r);
    cr_expect_eq(th_conn_count(), 0);
    cr_expect_eq(th_model_count(), 0, "the model went with it");
    free(model);
    free(id);
}

Test(api_conn, delete_unused)
{
    char *id = th_sqlite_conn("Src");
    struct ms_req *r;
    struct ms_error err;

    r = th_req("DELETE", NULL);
    th_param(r, "id", id);
    cr_expect_eq(th_run(r, ms_api_connections_routes, "/api/connections/{id:uuid}", &err), MS_OK);
    cr_expect_eq(r->status, 204);
    th_free(r);
    r = th_req("GET", NULL);
    th_param(r, "id", id);
    cr_expect_eq(th_run(r, ms_api_connections_routes, "/api/connections/{id:uuid}", &err),
                 MS_ENOTFOUND);
    th_free(r);
    free(id);
}

/* The stored (sealed) secret of connection id, unsealed. */
static char *
th_stored_secret(const char *id, const char *member)
{
    const struct ms_connector *impl = ms_cx_find("webhook");
    struct ms_arena *a = ms_arena_new();
    struct ms_connection c;
    struct ms_error err;
    json_t *plain = NULL;
    char *out;

    cr_assert_eq(ms_store_conn_get(th.store, a, TH_ORG_A, id, &c, &err), MS_OK);
    cr_expect(ms_is_sealed(th_str(c.config, member)), "stored sealed");
    cr_assert_eq(ms_conn_config_unseal(c.config, impl->secrets, th.cfg.secret, &plain, &err),
                 MS_OK);
    out = strdup(th_str(plain, member));
    json_decref(plain);
    ms_arena_free(a);
    return out;
}

Test(api_conn, secrets_redacted_and_kept)
{
    struct ms_req *r;
    struct ms_error err;
    char *id, *s;

    cr_assert_not_null(ms_cx_find("webhook"));
    r = th_reqj("POST", json_pack("{s:s, s:s, s:{s:s, s:s}}", "name", "Hook", "type", "webhook",
                                  "configuration", "url", "http://127.0.0.1:9/hook", "secret",
                                  MS_REDACTED));
    cr_expect_eq(th_run(r, ms_api_connections_routes, "/api/connections", &err), MS_EINVAL,
                 "no stored secret for the placeholder to keep");
    cr_expect_str_eq(err.field, "configuration.secret", "%s", err.msg);
    th_free(r);

    r = th_reqj("POST",
                json_pack("{s:s, s:s, s:{s:s, s:s}}", "name", "Hook", "type", "webhook",
                          "configuration", "url", "http://127.0.0.1:9/hook", "secret", "s3cr3t"));
    cr_assert_eq(th_run(r, ms_api_connections_routes, "/api/connections", &err), MS_OK, "%s",
                 err.msg);
    cr_expect_str_eq(th_str(json_object_get(th_data(r), "configuration"), "secret"), MS_REDACTED);
    id = strdup(th_str(th_data(r), "id"));
    th_free(r);
    s = th_stored_secret(id, "secret");
    cr_expect_str_eq(s, "s3cr3t");
    free(s);

    r = th_req("GET", NULL);
    th_param(r, "id", id);
    cr_assert_eq(th_run(r, ms_api_connections_routes, "/api/connections/{id:uuid}", &err), MS_OK);
    cr_expect_str_eq(th_str(json_object_get(th_data(r), "configuration"), "secret"), MS_REDACTED);
    cr_expect_str_eq(th_str(json_object_get(th_data(r), "configuration"), "url"),
                     "http://127.0.0.1:9/hook");
    th_free(r);

    r = th_reqj("PUT", json_pack("{s:s, s:{s:s, s:s}}", "name", "Hook 2", "configuration", "url",
                                 "http://127.0.0.1:9/other", "secret", MS_REDACTED));
    th_param(r, "id", id);
    cr_assert_eq(th_run(r, ms_api_connections_routes, "/api/connections/{id:uuid}", &err), MS_OK,
                 "%s", err.msg);
    th_free(r);
    s = th_stored_secret(id, "secret");
    cr_expect_str_eq(s, "s3cr3t", "the placeholder kept the stored secret");
    free(s);

    r = th_reqj("PUT", json_pack("{s:s, s:{s:s, s:s}}", "name", "Hook 2", "configuration", "url",
                                 "http://127.0.0.1:9/other", "secret", "n3w"));
    th_param(r, "id", id);
    cr_assert_eq(th_run(r, ms_api_connections_routes, "/api/connections/{id:uuid}", &err), MS_OK);
    th_free(r);
    s = th_stored_secret(id, "secret");
    cr_expect_str_eq(s, "n3w");
    free(s);
    free(id);
}

Test(api_conn, test_endpoint)
{
    char *id = th_sqlite_conn("Src"), missing[192];
    struct ms_req *r;
    struct ms_error err;

    r = th_reqj("POST",
                json_pack("{s:s, s:{s:s}}", "type", "sqlite", "configuration", "path", th.db));
    cr_expect_eq(th_run(r, ms_api_connections_routes, "/api/connections/test", &err), MS_OK, "%s",
                 err.msg);
    cr_expect_eq(r->status, 204);
    cr_expect_null(r->reply);
    th_free(r);

    snprintf(missing, sizeof(missing), "%s/missing.db", th.dir);
    r = th_reqj("POST",
                json_pack("{s:s, s:{s:s}}", "type", "sqlite", "configuration", "path", missing));
    cr_expect_eq(th_run(r, ms_api_connections_routes, "/api/connections/test", &err), MS_EINVAL);
    cr_expect(strstr(err.msg, "connection test failed") != NULL, "%s", err.msg);
    th_free(r);

    r = th_reqj("POST", json_pack("{s:s, s:{}, s:s}", "type", "sqlite", "configuration",
                                  "connection_id", id));
    cr_expect_eq(th_run(r, ms_api_connections_routes, "/api/connections/test", &err), MS_OK,
                 "the stored configuration fills the gaps: %s", err.msg);
    th_free(r);

    r = th_reqj("POST", json_pack("{s:s, s:{s:s}, s:s}", "type", "sqlite", "configuration", "path",
                                  missing, "connection_id", id));
    cr_expect_eq(th_run(r, ms_api_connections_routes, "/api/connections/test", &err), MS_EINVAL,
                 "given members win over the stored ones");
    th_free(r);

    r = th_reqj("POST", json_pack("{s:s, s:{}, s:s}", "type", "sqlite", "configuration",
                                  "connection_id", id));
    th_as_org_b(r);
    cr_expect_eq(th_run(r, ms_api_connections_routes, "/api/connections/test", &err), MS_ENOTFOUND);
    th_free(r);

    r = th_reqj("POST",
                json_pack("{s:s, s:{}, s:s}", "type", "csv", "configuration", "connection_id", id));
    cr_expect_eq(th_run(r, ms_api_connections_routes, "/api/connections/test", &err), MS_EINVAL);
    cr_expect_str_eq(err.field, "type");
    th_free(r);

    r = th_reqj("POST", json_pack("{s:s, s:{s:s, s:b}}", "type", "sqlite", "configuration", "path",
                                  th.db, "bogus", 1));
    cr_expect_eq(th_run(r, ms_api_connections_routes, "/api/connections/test", &err), MS_EINVAL);
    cr_expect_str_eq(err.field, "configuration.bogus");
    th_free(r);
    cr_expect_eq(th_conn_count(), 1, "nothing persisted");
    free(id);
}

/* ---- models ---- */

Test(api_model, create_table_model)
{
    char *conn = th_sqlite_conn("Src");
    struct ms_error err;
    struct ms_req *r;
    json_t *d, *f;
    size_t i;
    static const char *const names[] = {"id", "email", "name", "score", "updated_at"};

    cr_assert_eq(
        th_model_post(json_pack("{s:s, s:s, s:{s:s}, s:s, s:[s], s:[s], s:[s]}", "name", "Users",
                                "connection_id", conn, "configuration", "table", "users",
                                "identifier", "id", "tracking_columns", "updated_at", "labels",
                                "crm", "policies", "DDDDDDDD-4444-4444-8444-444444444444"),
                      &err, &r),
        MS_OK, "%s", err.msg);
    d = th_data(r);
    cr_expect(ms_uuid_valid(th_str(d, "id"), MS_UUID_LEN));
    cr_expect_str_eq(th_str(d, "connection_id"), conn);
    cr_expect_str_eq(th_str(d, "organization_id"), TH_ORG_A);
    cr_expect_str_eq(th_str(d, "type"), "sqlite");
    cr_expect_str_eq(th_str(json_object_get(d, "configuration"), "table"), "users");
    cr_expect_eq(json_integer_value(json_object_get(d, "version")), 1);
    cr_expect_str_eq(th_str(d, "identifier"), "id");
    cr_expect_str_eq(json_string_value(json_array_get(json_object_get(d, "tracking_columns"), 0)),
                     "updated_at");
    cr_expect_str_eq(th_str(json_array_get(json_object_get(d, "labels"), 0), "name"), "crm");
    cr_expect_str_eq(json_string_value(json_array_get(json_object_get(d, "policies"), 0)),
                     "dddddddd-4444-4444-8444-444444444444");
    cr_expect_eq(json_array_size(json_object_get(d, "relations")), 0);
    cr_assert_eq(json_array_size(json_object_get(d, "fields")), MS_ARRAY_LEN(names));
    json_array_foreach(json_object_get(d, "fields"), i, f)
    {
        cr_expect_str_eq(th_str(f, "name"), names[i]);
        cr_expect_str_eq(th_str(f, "label"), names[i]);
        cr_expect(ms_uuid_valid(th_str(f, "id"), MS_UUID_LEN));
        cr_expect(json_is_string(json_object_get(f, "type")));
        cr_expect(json_is_string(json_object_get(f, "remote_type")));
        cr_expect_eq(json_is_true(json_object_get(f, "unique")), i == 0, "unique = identifier");
        cr_expect(json_is_false(json_object_get(f, "user_added")));
        cr_expect(json_is_string(json_object_get(f, "created_at")));
        cr_expect_str_eq(th_str(json_object_get(f, "created_by"), "id"), TH_USER);
    }
    th_free(r);
    cr_expect_eq(th_model_count(), 1);
    free(conn);
}

Test(api_model, bad_input_creates_nothing)
{
    char *conn = th_sqlite_conn("Src");
    char *hook = th_conn_create(json_pack("{s:s, s:s, s:{s:s}}", "name", "Hook", "type", "webhook",
                                          "configuration", "url", "http://127.0.0.1:9/hook"));
    static const struct {
        const char *extra; /* members after name/connection_id/configuration */
        const char *cfg;
        enum ms_status st;
        const char *field;
    } cases[] = {
        {"", "{\"table\": \"users\", \"bogus\": 1}", MS_EINVAL, "configuration.bogus"},
        {"", "{\"table\": \"nope\"}", MS_EUNPROC, "configuration.table"},
        {"", "{\"query\": \"SELEC 1\"}", MS_EINVAL, "configuration.query"},
        {"", "\"users\"", MS_EINVAL, "configuration"},
        {",\"fields\": [\"id\", \"nope\"]", "{\"table\": \"users\"}", MS_EUNPROC, "fields[1]"},
        {",\"fields\": \"id\"", "{\"table\": \"users\"}", MS_EINVAL, "fields"},
        {",\"identifier\": \"nope\"", "{\"table\": \"users\"}", MS_EUNPROC, "identifier"},
        {",\"fields\": [\"email\"], \"identifier\": \"id\"", "{\"table\": \"users\"}", MS_EUNPROC,
         "identifier"},
        {",\"tracking_columns\": [\"id\", \"x\"]", "{\"table\": \"users\"}", MS_EUNPROC,
         "tracking_columns[1]"},
        {",\"additional_fields\": [{\"name\": \"email\", \"label\": \"E\", \"type\": \"string\"}]",
         "{\"table\": \"users\"}", MS_EUNPROC, "additional_fields[0].name"},
        {",\"additional_fields\": [{\"name\": \"x\", \"type\": \"string\"}]",
         "{\"table\": \"users\"}", MS_EINVAL, "additional_fields[0].label"},
        {",\"relations\": [{\"from\": \"id\", \"to\": {\"model_id\": \"" TH_NOID
         "\", \"field\": \"id\"}}]",
         "{\"table\": \"users\"}", MS_EUNPROC, "relations[0].to.model_id"},
        {",\"relations\": [{\"from\": \"nope\", \"to\": {\"model_id\": \"" TH_NOID
         "\", \"field\": \"id\"}}]",
         "{\"table\": \"users\"}", MS_EUNPROC, "relations[0].from"},
        {",\"enricher\": []", "{\"table\": \"users\"}", MS_EINVAL, "enricher"},
    };
    struct ms_error err;
    char body[1024];
    size_t i;

    for (i = 0; i < MS_ARRAY_LEN(cases); i++) {
        struct ms_req *r;

        snprintf(body, sizeof(body),
                 "{\"name\": \"M\", \"connection_id\": \"%s\", \"configuration\": %s%s}", conn,
                 cases[i].cfg, cases[i].extra);
        r = th_req("POST", body);
        cr_expect_eq(th_run(r, ms_api_models_routes, "/api/models", &err), cases[i].st,
                     "case %zu: %s", i, err.msg);
        cr_expect_str_eq(err.field, cases[i].field, "case %zu: %s", i, err.msg);
        th_free(r);
    }

    cr_expect_eq(th_model_post(json_pack("{s:s, s:s, s:{s:s}}", "name", "M", "connection_id",
                                         TH_NOID, "configuration", "table", "users"),
                               &err, NULL),
                 MS_EUNPROC);
    cr_expect_str_eq(err.field, "connection_id");
    cr_expect_eq(th_model_post(json_pack("{s:s, s:s, s:{s:s}}", "name", "M", "connection_id",
                                         "nope", "configuration", "table", "users"),
                               &err, NULL),
                 MS_EINVAL);
    cr_expect_str_eq(err.field, "connection_id");
    cr_expect_eq(th_model_post(json_pack("{s:s, s:s, s:{s:s}}", "name", "M", "connection_id", hook,
                                         "configuration", "table", "users"),
                               &err, NULL),
                 MS_EUNPROC);
    cr_expect_str_eq(err.key, "not_a_source");
    cr_expect_eq(
        th_model_post(json_pack("{s:s, s:{s:s}}", "name", "M", "configuration", "table", "users"),
                      &err, NULL),
        MS_EINVAL);
    cr_expect_str_eq(err.field, "connection_id");
    cr_expect_eq(th_model_count(), 0);
    free(hook);
    free(conn);
}

Test(api_model, other_org_cannot_use_or_see)
{
    char *conn = th_sqlite_conn("Src"), *model = th_users_model(conn);
    struct ms_req *r;
    struct ms_error err;

    r = th_reqj("POST", json_pack("{s:s, s:s, s:{s:s}}", "name", "M", "connection_id", conn,
                                  "configuration", "table", "users"));
    th_as_org_b(r);
    cr_expect_eq(th_run(r, ms_api_models_routes, "/api/models", &err), MS_EUNPROC);
    cr_expect_str_eq(err.field, "connection_id");
    th_free(r);

    r = th_req("GET", NULL);
    th_as_org_b(r);
    th_param(r, "id", model);
    cr_expect_eq(th_run(r, ms_api_models_routes, "/api/models/{id:uuid}", &err), MS_ENOTFOUND);
    th_free(r);

    r = th_req("GET", NULL);
    th_as_org_b(r);
    cr_expect_eq(th_run(r, ms_api_models_routes, "/api/models", &err), MS_OK);
    cr_expect_eq(json_array_size(th_data(r)), 0);
    th_free(r);
    free(model);
    free(conn);
}

Test(api_model, update_bumps_version_keeps_field_ids)
{
    char *conn = th_sqlite_conn("Src"), *model = th_users_model(conn);
    struct ms_req *r;
    struct ms_error err;
    char email_id[MS_UUID_LEN + 1];
    json_t *d, *f;

    r = th_req("GET", NULL);
    th_param(r, "id", model);
    cr_assert_eq(th_run(r, ms_api_models_routes, "/api/models/{id:uuid}", &err), MS_OK);
    f = ms_api_field_find(json_object_get(th_data(r), "fields"), "email");
    cr_assert_not_null(f);
    strcpy(email_id, th_str(f, "id"));
    th_free(r);

    r = th_reqj("PUT", json_pack("{s:s, s:s, s:{s:s}, s:[s, s], s:s, s:[{s:s, s:s, s:s, s:s}]}",
                                 "name", "Renamed", "connection_id", conn, "configuration", "query",
                                 "SELECT id, email FROM users", "fields", "id", "email",
                                 "identifier", "email", "additional_fields", "name", "tier",
                                 "label", "Tier", "type", "string", "example", "gold"));
    th_param(r, "id", model);
    cr_assert_eq(th_run(r, ms_api_models_routes, "/api/models/{id:uuid}", &err), MS_OK, "%s",
                 err.msg);
    d = th_data(r);
    cr_expect_str_eq(th_str(d, "name"), "Renamed");
    cr_expect_eq(json_integer_value(json_object_get(d, "version")), 2);
    cr_expect_eq(json_array_size(json_object_get(d, "fields")), 3);
    f = ms_api_field_find(json_object_get(d, "fields"), "email");
    cr_assert_not_null(f);
    cr_expect_str_eq(th_str(f, "id"), email_id, "ids are stable by name");
    cr_expect(json_is_true(json_object_get(f, "unique")));
    f = ms_api_field_find(json_object_get(d, "fields"), "tier");
    cr_assert_not_null(f);
    cr_expect(json_is_true(json_object_get(f, "user_added")));
    cr_expect_str_eq(th_str(f, "label"), "Tier");
    cr_expect_str_eq(th_str(f, "example"), "gold");
    cr_expect_null(ms_api_field_find(json_object_get(d, "fields"), "score"));
    th_free(r);

    /* Same configuration, rename only: reused fields, ids stable again. */
    r = th_reqj("PUT",
                json_pack("{s:s, s:s, s:{s:s}, s:[s, s], s:b}", "name", "Again", "connection_id",
                          conn, "configuration", "query", "SELECT id, email FROM users", "fields",
                          "email", "id", "refresh", 0));
    th_param(r, "id", model);
    cr_assert_eq(th_run(r, ms_api_models_routes, "/api/models/{id:uuid}", &err), MS_OK, "%s",
                 err.msg);
    d = th_data(r);
    cr_expect_eq(json_integer_value(json_object_get(d, "version")), 3);
    cr_expect_eq(json_array_size(json_object_get(d, "fields")), 2, "additional field dropped");
    cr_expect_str_eq(th_str(ms_api_field_find(json_object_get(d, "fields"), "email"), "id"),
                     email_id);
    cr_expect_null(json_object_get(d, "identifier"), "full replacement cleared it");
    th_free(r);

    r = th_reqj("PUT", json_pack("{s:s, s:s, s:{s:s}}", "name", "X", "connection_id", conn,
                                 "configuration", "table", "users"));
    th_param(r, "id", TH_NOID);
    cr_expect_eq(th_run(r, ms_api_models_routes, "/api/models/{id:uuid}", &err), MS_ENOTFOUND);
    th_free(r);
    free(model);
    free(conn);
}

Test(api_model, sample_and_preview)
{
    char *conn = th_sqlite_conn("Src"), *model;
    struct ms_req *r;
    struct ms_error err;
    json_t *recs, *rec, *d;

    cr_assert_eq(
        th_model_post(json_pack("{s:s, s:s, s:{s:s}, s:[s, s]}", "name", "U", "connection_id", conn,
                                "configuration", "table", "users", "fields", "id", "email"),
                      &err, &r),
        MS_OK, "%s", err.msg);
    model = strdup(th_str(th_data(r), "id"));
    th_free(r);

    r = th_req("GET", NULL);
    th_param(r, "id", model);
    th_query(r, "async", "true");
    cr_assert_eq(th_run(r, ms_api_models_routes, "/api/models/{id:uuid}/sample", &err), MS_OK, "%s",
                 err.msg);
    recs = json_object_get(th_data(r), "records");
    cr_expect_eq(json_array_size(recs), 10, "at most 10 of the 12 rows");
    rec = json_object_get(json_array_get(recs, 0), model);
    cr_assert_not_null(rec, "records are keyed by the model id");
    cr_expect_eq(json_object_size(rec), 2, "only the enabled fields");
    cr_expect_eq(json_integer_value(json_object_get(rec, "id")), 1);
    cr_expect_str_eq(th_str(rec, "email"), "u1@example.com");
    cr_expect_eq(json_array_size(json_object_get(th_data(r), "warnings")), 0);
    cr_expect_null(json_object_get(r->reply, "job"));
    th_free(r);

    r = th_reqj("POST", json_pack("{s:s, s:s, s:{s:s}}", "name", "P", "connection_id", conn,
                                  "configuration", "query", "SELECT id, name FROM users"));
    cr_assert_eq(th_run(r, ms_api_models_routes, "/api/model-preview", &err), MS_OK, "%s", err.msg);
    d = th_data(r);
    cr_expect_null(json_object_get(d, "id"));
    cr_expect_null(json_object_get(d, "version"));
    cr_expect_null(json_object_get(d, "created_at"));
    cr_expect_eq(json_array_size(json_object_get(d, "fields")), 2);
    cr_expect_null(json_object_get(json_array_get(json_object_get(d, "fields"), 0), "id"));
    cr_expect_str_eq(th_str(json_array_get(json_object_get(d, "fields"), 1), "name"), "name");
    th_free(r);

    r = th_reqj("POST", json_pack("{s:s, s:s, s:{s:s}}", "name", "P", "connection_id", conn,
                                  "configuration", "table", "missing"));
    cr_expect_eq(th_run(r, ms_api_models_routes, "/api/model-preview", &err), MS_EUNPROC);
    th_free(r);
    cr_expect_eq(th_model_count(), 1, "previews persist nothing");
    free(model);
    free(conn);
}

Test(api_model, delete_and_in_use)
{
    char *conn = th_sqlite_conn("Src"), *m1 = th_users_model(conn), *m2 = th_users_model(conn);
    struct ms_req *r;
    struct ms_error err;

    th_insert_sync(conn, m1);
    r = th_req("DELETE", NULL);
    th_param(r, "id", m1);
    cr_expect_eq(th_run(r, ms_api_models_routes, "/api/models/{id:uuid}", &err), MS_EUNPROC);
    cr_expect_str_eq(err.key, "model_in_use");
    th_free(r);

    r = th_req("DELETE", NULL);
    th_param(r, "id", m2);
    cr_expect_eq(th_run(r, ms_api_models_routes, "/api/models/{id:uuid}", &err), MS_OK, "%s",
                 err.msg);
    cr_expect_eq(r->status, 204);
    th_free(r);
    r = th_req("GET", NULL);
    th_param(r, "id", m2);
    cr_expect_eq(th_run(r, ms_api_models_routes, "/api/models/{id:uuid}", &err), MS_ENOTFOUND);
    th_free(r);
    cr_expect_eq(th_model_count(), 1);
    free(m1);
    free(m2);
    free(conn);
}

Test(api_model, csv_model)
{
    char *csv = th_conn_create(json_pack("{s:s, s:s, s:{s:s}}", "name", "Files", "type", "csv",
                                         "configuration", "directory", th.files));
    struct ms_req *r;
    struct ms_error err;
    json_t *fields;

    cr_assert_eq(th_model_post(json_pack("{s:s, s:s, s:{s:s}}", "name", "CSV", "connection_id", csv,
                                         "configuration", "file", "users.csv"),
                               &err, &r),
                 MS_OK, "%s", err.msg);
    fields = json_object_get(th_data(r), "fields");
    cr_expect_eq(json_array_size(fields), 3);
    cr_expect_str_eq(th_str(json_array_get(fields, 2), "name"), "name");
    cr_expect_str_eq(th_str(th_data(r), "type"), "csv");
    th_free(r);
    cr_expect_neq(th_model_post(json_pack("{s:s, s:s, s:{s:s}}", "name", "CSV", "connection_id",
                                          csv, "configuration", "file", "absent.csv"),
                                &err, NULL),
                  MS_OK);
    cr_expect_eq(th_model_count(), 1);
    free(csv);
}

/* ---- identity, types, jobs, source and target metadata ---- */

Test(api_meta, me_and_organization)
{
    struct ms_req *r = th_req("GET", NULL);
    struct ms_error err;
    json_t *d;

    cr_assert_eq(th_run(r, ms_api_identity_routes, "/api/me", &err), MS_OK);
    d = th_data(r);
    cr_expect_str_eq(th_str(d, "id"), TH_USER);
    cr_expect_str_eq(th_str(d, "email"), "ada@example.com");
    cr_expect_str_eq(th_str(d, "organization_id"), TH_ORG_A);
    cr_expect_str_eq(th_str(d, "organization_name"), "Acme");
    cr_expect(json_is_true(json_object_get(d, "is_user")));
    cr_expect(json_is_false(json_object_get(d, "is_organization")));
    cr_expect(json_is_false(json_object_get(d, "is_partner")));
    cr_expect(json_is_false(json_object_get(d, "is_system")));
    th_free(r);

    r = th_req("GET", NULL);
    th_as_org_b(r);
    r->auth.org_name = NULL; /* read from the store */
    cr_assert_eq(th_run(r, ms_api_identity_routes, "/api/me", &err), MS_OK);
    d = th_data(r);
    cr_expect_null(json_object_get(d, "id"));
    cr_expect_null(json_object_get(d, "email"));
    cr_expect_str_eq(th_str(d, "organization_name"), "Other");
    cr_expect(json_is_true(json_object_get(d, "is_organization")));
    cr_expect(json_is_false(json_object_get(d, "is_user")));
    th_free(r);

    r = th_req("GET", NULL);
    cr_assert_eq(th_run(r, ms_api_organization_routes, "/api/organization", &err), MS_OK);
    cr_expect_str_eq(th_str(th_data(r), "id"), TH_ORG_A);
    cr_expect_str_eq(th_str(th_data(r), "name"), "Acme");
    th_free(r);
}

Test(api_meta, connection_types)
{
    struct ms_req *r = th_req("GET", NULL);
    struct ms_error err;
    size_t i, n;
    json_t *t;

    ms_cx_all(&n);
    cr_assert_eq(th_run(r, ms_api_connection_types_routes, "/api/connection_types", &err), MS_OK,
                 "%s", err.msg);
    cr_expect_eq(json_array_size(th_data(r)), n);
    json_array_foreach(th_data(r), i, t)
    {
        json_t *caps = json_object_get(t, "capabilities");

        cr_expect(json_is_boolean(json_object_get(caps, "source")));
        cr_expect(json_is_false(json_object_get(caps, "enrichment")));
        cr_expect(
            json_is_object(json_object_get(json_object_get(t, "configurationForm"), "jsonschema")));
        cr_expect(json_is_object(json_object_get(t, "initialConfiguration")));
        cr_expect(json_is_false(json_object_get(t, "use_oauth")));
    }
    th_free(r);

    r = th_req("GET", NULL);
    th_param(r, "id", "sqlite");
    cr_assert_eq(th_run(r, ms_api_connection_types_routes, "/api/connection_types/{id}", &err),
                 MS_OK);
    cr_expect_str_eq(th_str(r->reply, "type"), "object");
    cr_expect_null(json_object_get(r->reply, "data"), "bare schema");
    th_free(r);

    r = th_req("GET", NULL);
    th_param(r, "id", "oracle");
    cr_expect_eq(th_run(r, ms_api_connection_types_routes, "/api/connection_types/{id}", &err),
                 MS_ENOTFOUND);
    th_free(r);
}

Test(api_meta, jobs)
{
    struct ms_req *r = th_req("GET", NULL);
    struct ms_error err;

    th_param(r, "type", "createmodel");
    th_param(r, "id", TH_NOID);
    cr_expect_eq(th_run(r, ms_api_jobs_routes, "/api/jobs/{type}/{id}", &err), MS_ENOTFOUND);
    cr_expect(strstr(err.msg, "no such job") != NULL);
    th_free(r);
    r = th_req("GET", NULL);
    th_param(r, "type", "bakecake");
    th_param(r, "id", TH_NOID);
    cr_expect_eq(th_run(r, ms_api_jobs_routes, "/api/jobs/{type}/{id}", &err), MS_EINVAL);
    cr_expect_str_eq(err.field, "type");
    th_free(r);
}

Test(api_meta, source_describe_and_fields)
{
    char *conn = th_sqlite_conn("Src");
    char *hook = th_conn_create(json_pack("{s:s, s:s, s:{s:s}}", "name", "Hook", "type", "webhook",
                                          "configuration", "url", "http://127.0.0.1:9/hook"));
    static const char *const src = "/api/connections/{id:uuid}/modelsync/source";
    static const char *const fld = "/api/connections/{id:uuid}/modelsync/source/fields";
    struct ms_req *r;
    struct ms_error err;
    json_t *f;

    r = th_req("GET", NULL);
    th_param(r, "id", conn);
    cr_assert_eq(th_run(r, ms_api_sources_routes, src, &err), MS_OK, "%s", err.msg);
    cr_expect(json_is_object(th_data(r)));
    th_free(r);

    r = th_req("GET", NULL);
    th_param(r, "id", conn);
    th_query(r, "params", "map[table:[users]]");
    cr_expect_eq(th_run(r, ms_api_sources_routes, src, &err), MS_EINVAL, "D21");
    cr_expect(strstr(err.msg, "JSON") != NULL, "%s", err.msg);
    th_free(r);

    r = th_req("GET", NULL);
    th_param(r, "id", conn);
    th_query(r, "params", "{\"table\": \"users\"}");
    cr_expect_eq(th_run(r, ms_api_sources_routes, src, &err), MS_EINVAL);
    cr_expect_str_eq(err.field, "params.table");
    th_free(r);

    r = th_req("GET", NULL);
    th_param(r, "id", hook);
    cr_expect_eq(th_run(r, ms_api_sources_routes, src, &err), MS_EINVAL);
    cr_expect_str_eq(err.key, "not_a_source");
    th_free(r);

    r = th_req("GET", NULL);
    th_param(r, "id", conn);
    th_query(r, "params", "{\"table\": [\"users\"]}");
    cr_assert_eq(th_run(r, ms_api_sources_routes, fld, &err), MS_OK, "%s", err.msg);
    cr_expect_eq(json_array_size(th_data(r)), 5);
    f = json_array_get(th_data(r), 1);
    cr_expect_str_eq(th_str(f, "name"), "email");
    cr_expect_str_eq(th_str(f, "label"), "email");
    cr_expect(json_is_string(json_object_get(f, "type")));
    th_free(r);

    r = th_req("GET", NULL);
    th_param(r, "id", conn);
    cr_expect_eq(th_run(r, ms_api_sources_routes, fld, &err), MS_EINVAL);
    cr_expect_str_eq(err.field, "params");
    th_free(r);

    r = th_req("GET", NULL);
    th_param(r, "id", conn);
    th_query(r, "params", "{\"table\": [\"users\"], \"bogus\": [\"x\"]}");
    cr_expect_eq(th_run(r, ms_api_sources_routes, fld, &err), MS_EINVAL);
    cr_expect_str_eq(err.field, "params.bogus", "%s", err.msg);
    th_free(r);

    r = th_req("GET", NULL);
    th_param(r, "id", conn);
    th_query(r, "params", "{\"table\": [\"a\", \"b\"]}");
    cr_expect_eq(th_run(r, ms_api_sources_routes, fld, &err), MS_EINVAL);
    cr_expect_str_eq(err.field, "params.table");
    th_free(r);

    r = th_req("GET", NULL);
    th_param(r, "id", conn);
    th_as_org_b(r);
    cr_expect_eq(th_run(r, ms_api_sources_routes, fld, &err), MS_ENOTFOUND);
    th_free(r);
    free(hook);
    free(conn);
}

Test(api_meta, targets)
{
    char *conn = th_sqlite_conn("Dst");
    static const char *const objs = "/api/connections/{id:uuid}/modelsync/targetobjects";
    static const char *const flds = "/api/connections/{id:uuid}/modelsync/target/fields";
    static const char *const prop =
        "/api/connections/{id:uuid}/modelsync/targetobjects/properties/{property}";
    struct ms_req *r;
    struct ms_error err;
    json_t *d, *m, *tc;
    size_t i;

    r = th_req("GET", NULL);
    th_param(r, "id", conn);
    cr_assert_eq(th_run(r, ms_api_targets_routes, objs, &err), MS_OK, "%s", err.msg);
    cr_expect_eq(json_array_size(th_data(r)), 2, "users and orders");
    tc = json_object_get(r->reply, "target_creation");
    cr_expect(json_is_true(json_object_get(tc, "supported")));
    cr_expect(json_is_array(json_object_get(tc, "properties")));
    th_free(r);

    r = th_req("GET", NULL);
    th_param(r, "id", conn);
    th_query(r, "target", "users");
    th_query(r, "refresh", "true");
    cr_assert_eq(th_run(r, ms_api_targets_routes, flds, &err), MS_OK, "%s", err.msg);
    d = th_data(r);
    cr_expect_str_eq(th_str(d, "id"), "users");
    cr_expect_eq(json_array_size(json_object_get(d, "fields")), 5);
    cr_expect_gt(json_array_size(json_object_get(d, "modes")), 0);
    json_array_foreach(json_object_get(d, "modes"), i, m)
    {
        cr_expect(json_is_string(json_object_get(m, "mode")));
        cr_expect(json_is_string(json_object_get(m, "label")));
        cr_expect(json_is_boolean(json_object_get(m, "requires_identity")));
        cr_expect(json_is_false(json_object_get(m, "supports_field_sync_mode")));
    }
    cr_expect(json_is_true(json_object_get(json_object_get(d, "properties"), "target_creator")));
    cr_expect(
        json_is_false(json_object_get(json_object_get(d, "properties"), "mappings_not_required")));
    cr_expect(json_is_string(json_object_get(d, "refreshed_at")));
    th_free(r);

    r = th_req("GET", NULL);
    th_param(r, "id", conn);
    cr_expect_eq(th_run(r, ms_api_targets_routes, flds, &err), MS_EINVAL);
    cr_expect_str_eq(err.field, "target");
    th_free(r);

    r = th_req("GET", NULL);
    th_param(r, "id", conn);
    th_query(r, "target", "nope");
    cr_expect_eq(th_run(r, ms_api_targets_routes, flds, &err), MS_ENOTFOUND);
    th_free(r);

    r = th_req("GET", NULL);
    th_param(r, "id", conn);
    th_param(r, "property", "nope");
    cr_expect_eq(th_run(r, ms_api_targets_routes, prop, &err), MS_ENOTFOUND);
    th_free(r);

    r = th_req("GET", NULL);
    th_param(r, "id", conn);
    th_param(r, "property", "table");
    cr_assert_eq(th_run(r, ms_api_targets_routes, prop, &err), MS_OK, "%s", err.msg);
    cr_expect_str_eq(th_str(th_data(r), "id"), "table");
    cr_expect_eq(json_array_size(json_object_get(th_data(r), "values")), 0);
    th_free(r);
    free(conn);
}

Test(api_meta, webhook_target_is_freeform)
{
    char *hook = th_conn_create(json_pack("{s:s, s:s, s:{s:s}}", "name", "Hook", "type", "webhook",
                                          "configuration", "url", "http://127.0.0.1:9/hook"));
    struct ms_req *r;
    struct ms_error err;
    json_t *p;

    r = th_req("GET", NULL);
    th_param(r, "id", hook);
    cr_assert_eq(th_run(r, ms_api_targets_routes,
                        "/api/connections/{id:uuid}/modelsync/targetobjects", &err),
                 MS_OK, "%s", err.msg);
    cr_expect(
        json_is_false(json_object_get(json_object_get(r->reply, "target_creation"), "supported")));
    th_free(r);

    r = th_req("GET", NULL);
    th_param(r, "id", hook);
    th_query(r, "target", "records");
    cr_assert_eq(th_run(r, ms_api_targets_routes,
                        "/api/connections/{id:uuid}/modelsync/target/fields", &err),
                 MS_OK, "%s", err.msg);
    p = json_object_get(th_data(r), "properties");
    cr_expect(json_is_true(json_object_get(p, "mappings_not_required")));
    cr_expect(json_is_false(json_object_get(p, "target_creator")));
    th_free(r);

    r = th_req("GET", NULL);
    th_param(r, "id", hook);
    th_param(r, "property", "table");
    cr_expect_eq(th_run(r, ms_api_targets_routes,
                        "/api/connections/{id:uuid}/modelsync/targetobjects/properties/"
                        "{property}",
                        &err),
                 MS_ENOTFOUND);
    th_free(r);
    free(hook);
}
