/* tests/unit/test_cx_pg.c: the postgresql connector (connectors/postgresql.c). Configuration
 * checks run everywhere; the rest runs against the server in MS_TEST_PG (tests/run.sh starts
 * one) and is skipped without it. Each test process builds its own schema with libpq directly
 * and drops it afterwards. */
#include <criterion/criterion.h>
#include <arpa/inet.h>
#include <stdarg.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#if MS_WITH_PG
#include <libpq-fe.h>
#endif

#include "connectors/connector.h"
#include "connectors/connectors_int.h"
#include "core/arena.h"
#include "core/time.h"

#define PGT_ROWS 5000

static json_t *
pgt_json(const char *text)
{
    json_t *j = json_loads(text, JSON_ALLOW_NUL, NULL);

    cr_assert_not_null(j, "bad test JSON: %s", text);
    return j;
}

/* ---- without a server ---- */

Test(cx_pg_cfg, descriptor)
{
    const struct ms_connector *c = &ms_connector_postgresql;
    json_t *schema = json_loads(c->schema, 0, NULL), *tc = json_loads(c->target_creation, 0, NULL);
    json_t *pw;

    cr_expect_str_eq(c->type, "postgresql");
    cr_expect_str_eq(c->name, "PostgreSQL");
    cr_expect_eq(c->flags, MS_CX_SOURCE | MS_CX_DEST | MS_CX_CREATE);
    cr_expect_str_eq(c->secrets[0], "password");
    cr_expect_null(c->secrets[1]);
    cr_expect_eq(registry_check_one(c, NULL), MS_OK);
    cr_assert_not_null(schema);
    pw = json_object_get(json_object_get(schema, "properties"), "password");
    cr_expect(json_is_true(json_object_get(pw, "writeOnly")));
    cr_expect_str_eq(json_string_value(json_object_get(pw, "format")), "password");
    cr_expect_str_eq(json_string_value(json_object_get(schema, "$schema")),
                     "https://json-schema.org/draft/2020-12/schema");
    cr_assert_not_null(tc);
    cr_expect(json_is_true(json_object_get(tc, "supported")));
    cr_expect_str_eq(json_string_value(json_object_get(
                         json_array_get(json_object_get(tc, "properties"), 1), "id")),
                     "table");
    json_decref(schema);
    json_decref(tc);
}

Test(cx_pg_cfg, validate_errors)
{
    static const struct {
        const char *cfg, *field;
    } bad[] = {
        {"[]", "configuration"},
        {"{}", "configuration.hostname"},
        {"{\"hostname\": 5, \"database\": \"d\", \"username\": \"u\"}", "configuration.hostname"},
        {"{\"hostname\": \"\", \"database\": \"d\", \"username\": \"u\"}",
         "configuration.hostname"},
        {"{\"hostname\": \"/var/run/postgresql\", \"database\": \"d\", \"username\": \"u\"}",
         "configuration.hostname"},
        {"{\"hostname\": \"a,b\", \"database\": \"d\", \"username\": \"u\"}",
         "configuration.hostname"},
        {"{\"hostname\": \"h\\u0000x\", \"database\": \"d\", \"username\": \"u\"}",
         "configuration.hostname"},
        {"{\"hostname\": \"h\", \"port\": 0, \"database\": \"d\", \"username\": \"u\"}",
         "configuration.port"},
        {"{\"hostname\": \"h\", \"port\": 65536, \"database\": \"d\", \"username\": \"u\"}",
         "configuration.port"},
        {"{\"hostname\": \"h\", \"port\": \"abc\", \"database\": \"d\", \"username\": \"u\"}",
         "configuration.port"},
        {"{\"hostname\": \"h\", \"port\": \"\", \"database\": \"d\", \"username\": \"u\"}",
         "configuration.port"},
        {"{\"hostname\": \"h\", \"port\": \"-1\", \"database\": \"d\", \"username\": \"u\"}",
         "configuration.port"},
        {"{\"hostname\": \"h\", \"port\": 5.5, \"database\": \"d\", \"username\": \"u\"}",
         "configuration.port"},
        {"{\"hostname\": \"h\", \"port\": true, \"database\": \"d\", \"username\": \"u\"}",
         "configuration.port"},
        {"{\"hostname\": \"h\", \"username\": \"u\"}", "configuration.database"},
        {"{\"hostname\": \"h\", \"database\": \"\", \"username\": \"u\"}",
         "configuration.database"},
        {"{\"hostname\": \"h\", \"database\": \"d\"}", "configuration.username"},
        {"{\"hostname\": \"h\", \"database\": \"d\", \"username\": [\"u\"]}",
         "configuration.username"},
        {"{\"hostname\": \"h\", \"database\": \"d\", \"username\": \"u\", \"password\": 5}",
         "configuration.password"},
        {"{\"hostname\": \"h\", \"database\": \"d\", \"username\": \"u\", \"ssl\": \"yes\"}",
         "configuration.ssl"},
        {"{\"hostname\": \"h\", \"database\": \"d\", \"username\": \"u\", \"sslmode\": \"x\"}",
         "configuration.sslmode"},
    };
    static const char *const good[] = {
        "{\"hostname\": \"db.example.com\", \"database\": \"d\", \"username\": \"u\"}",
        "{\"hostname\": \"10.0.0.1\", \"port\": \"5433\", \"database\": \"d\", \"username\": "
        "\"u\", \"password\": \"p\", \"ssl\": true}",
        "{\"hostname\": \"::1\", \"port\": 65535, \"database\": \"d\", \"username\": \"u\", "
        "\"password\": null, \"ssl\": false}",
    };
    struct ms_error err;

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        json_t *cfg = pgt_json(bad[i].cfg);

        memset(&err, 0, sizeof(err));
        cr_expect_eq(ms_connector_postgresql.validate(cfg, &err), MS_EINVAL, "%s", bad[i].cfg);
        cr_expect_str_eq(err.field, bad[i].field, "%s: %s", bad[i].cfg, err.msg);
        json_decref(cfg);
    }
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        json_t *cfg = pgt_json(good[i]);

        cr_expect_eq(ms_connector_postgresql.validate(cfg, &err), MS_OK, "%s: %s", good[i],
                     err.msg);
        json_decref(cfg);
    }
}

Test(cx_pg_cfg, model_validate)
{
    static const struct {
        const char *cfg, *field;
    } bad[] = {
        {"[]", "configuration"},
        {"{}", "configuration"},
        {"{\"query\": \"SELECT 1\", \"table\": \"t\"}", "configuration"},
        {"{\"query\": \"SELECT 1\", \"x\": 1}", "configuration.x"},
        {"{\"table\": 5}", "configuration.table"},
        {"{\"table\": \"\"}", "configuration.table"},
        {"{\"table\": \".t\"}", "configuration.table"},
        {"{\"table\": \"s.\"}", "configuration.table"},
        {"{\"table\": \"s.aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\"}",
         "configuration.table"},
        {"{\"query\": 1}", "configuration.query"},
        {"{\"query\": \"\"}", "configuration.query"},
        {"{\"query\": \" ;\\n \"}", "configuration.query"},
        {"{\"query\": \"SELECT 1\\u0000\"}", "configuration.query"},
    };
    static const char *const good[] = {"{\"table\": \"users\"}", "{\"table\": \"s.t.u\"}",
                                       "{\"query\": \"SELECT 1;\"}",
                                       "{\"query\": \"SELECT 1\", \"table\": null}"};
    struct ms_error err;

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        json_t *cfg = pgt_json(bad[i].cfg);

        memset(&err, 0, sizeof(err));
        cr_expect_eq(ms_connector_postgresql.model_validate(cfg, &err), MS_EINVAL, "%s",
                     bad[i].cfg);
        cr_expect_str_eq(err.field, bad[i].field, "%s: %s", bad[i].cfg, err.msg);
        json_decref(cfg);
    }
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        json_t *cfg = pgt_json(good[i]);

        cr_expect_eq(ms_connector_postgresql.model_validate(cfg, &err), MS_OK, "%s: %s", good[i],
                     err.msg);
        json_decref(cfg);
    }
}

#if !MS_WITH_PG

Test(cx_pg_cfg, not_built_in)
{
    json_t *cfg = pgt_json("{\"hostname\": \"h\", \"database\": \"d\", \"username\": \"u\"}");
    struct ms_cx *cx = NULL;
    struct ms_error err = {0};

    cr_expect_eq(ms_cx_open(&ms_connector_postgresql, cfg, &cx, &err), MS_EUNSUPP);
    cr_expect_str_eq(err.msg, "postgresql: not built in");
    json_decref(cfg);
}

#else

Test(cx_pg_cfg, copy_unescape)
{
    static const struct {
        const char *in, *out;
        size_t out_len;
    } cases[] = {
        {"plain", "plain", 5},      {"a\\tb\\nc\\rd", "a\tb\nc\rd", 7},
        {"\\b\\f\\v", "\b\f\v", 3}, {"back\\\\slash", "back\\slash", 10},
        {"\\101\\1012", "AA2", 3},  {"\\7x", "\ax", 2},
        {"\\0end", "\0end", 4},     {"\\x41\\x4g\\xg", "A\x04gxg", 5},
        {"\\q\\N", "qN", 2},        {"trailing\\", "trailing\\", 9},
    };

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char buf[64];
        size_t n = strlen(cases[i].in);

        memcpy(buf, cases[i].in, n + 1);
        n = pg_copy_unescape(buf, n);
        cr_expect_eq(n, cases[i].out_len, "%s", cases[i].in);
        cr_expect(memcmp(buf, cases[i].out, cases[i].out_len) == 0, "%s", cases[i].in);
    }
}

/* ---- against a server ---- */

static PGconn *pgt_conn;    /* the fixture's own connection, NULL without a server */
static char pgt_schema[64]; /* this process's schema */
static char pgt_made[64];   /* a table created in public by create_object */

static void
pgt_exec(const char *sql)
{
    PGresult *res = PQexec(pgt_conn, sql);
    ExecStatusType s = PQresultStatus(res);

    cr_assert(s == PGRES_COMMAND_OK || s == PGRES_TUPLES_OK, "%s: %s", sql,
              PQerrorMessage(pgt_conn));
    PQclear(res);
}

static void pgt_execf(const char *fmt, ...) MS_PRINTF(1, 2);

static void
pgt_execf(const char *fmt, ...)
{
    char sql[4096];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(sql, sizeof(sql), fmt, ap);
    va_end(ap);
    pgt_exec(sql);
}

/* Fixture data: the mixed table of PGT_ROWS rows, a view, specials, a domain, required cols. */
static void
pgt_fill(void)
{
    const char *s = pgt_schema;

    pgt_execf("CREATE SCHEMA %s", s);
    pgt_execf("CREATE TABLE %s.mixed (id int8 PRIMARY KEY, small int2, num numeric(14,3),"
              " f8 float8, f4 float4, flag bool, label text, uni varchar(40), ts timestamptz,"
              " tsl timestamp, d date, doc jsonb, tags text[])",
              s);
    pgt_execf("INSERT INTO %s.mixed SELECT i, (i %% 600) - 300,"
              " CASE WHEN i %% 17 = 0 THEN NULL ELSE i * 1.125 END, i / 8.0, (i %% 100) * 0.5,"
              " CASE WHEN i %% 11 = 0 THEN NULL ELSE i %% 3 = 0 END,"
              " 'row ' || i || E'\\ttab\\nnl \\\\ back\\r\\b\\f' || chr(11) || 'end',"
              " CASE WHEN i %% 13 = 0 THEN NULL ELSE 'ünï ' || i || ' 😀€' END,"
              " timestamptz '2024-01-01 00:00:00+00' + i * interval '1 minute',"
              " timestamp '2024-01-01 00:00:00' + i * interval '1 second', date '2024-01-01' + i,"
              " jsonb_build_object('i', i), ARRAY['a', i::text]"
              " FROM generate_series(1, %d) i",
              s, PGT_ROWS);
    pgt_execf("CREATE VIEW %s.v_mixed AS SELECT id, label FROM %s.mixed", s, s);
    pgt_execf("CREATE TABLE %s.specials (k int4, f8 float8, i8 int8, t text, n numeric, b bool)",
              s);
    pgt_execf("INSERT INTO %s.specials VALUES"
              " (1, 'NaN', 9223372036854775807, '', 12345678901234567890.123456789, true),"
              " (2, 'Infinity', -9223372036854775808, E'\\\\', 0, false),"
              " (3, '-Infinity', 0, E'\\\\N', NULL, NULL),"
              " (4, 1e-300, NULL, chr(1) || 'x', -0.5, NULL)",
              s);
    pgt_execf("CREATE DOMAIN %s.posint AS int4 CHECK (VALUE > 0)", s);
    pgt_execf("CREATE TABLE %s.req (a int NOT NULL, b text NOT NULL DEFAULT 'x', c timestamptz,"
              " d int GENERATED ALWAYS AS IDENTITY, e jsonb, f numeric(10,2) NOT NULL,"
              " g %s.posint, h int4[])",
              s, s);
    pgt_execf("INSERT INTO %s.req (a, f, g) VALUES (1, 2.5, 3)", s);
    pgt_execf("CREATE SEQUENCE %s.seq", s);
}

static void
pgt_setup(void)
{
    const char *dsn = getenv("MS_TEST_PG");

    if (dsn == NULL || dsn[0] == '\0' || getenv("MS_TEST_PG_PORT") == NULL)
        return;
    pgt_conn = PQconnectdb(dsn);
    cr_assert_eq(PQstatus(pgt_conn), CONNECTION_OK, "%s", PQerrorMessage(pgt_conn));
    pgt_exec("SET client_min_messages = warning");
    snprintf(pgt_schema, sizeof(pgt_schema), "ms_cxt_%d", (int)getpid());
    snprintf(pgt_made, sizeof(pgt_made), "ms_cxt_made_%d", (int)getpid());
    pgt_fill();
}

static void
pgt_teardown(void)
{
    if (pgt_conn == NULL)
        return;
    pgt_execf("DROP SCHEMA IF EXISTS %s CASCADE", pgt_schema);
    pgt_execf("DROP TABLE IF EXISTS public.%s", pgt_made);
    PQfinish(pgt_conn);
    pgt_conn = NULL;
}

TestSuite(cx_pg, .init = pgt_setup, .fini = pgt_teardown);

static void
pgt_need_server(void)
{
    if (pgt_conn == NULL)
        cr_skip_test("MS_TEST_PG is not set");
}

/* The connector configuration of the test server, with another password if given. */
static json_t *
pgt_cfg(const char *password)
{
    return json_pack("{s:s, s:s, s:s, s:s, s:s}", "hostname", getenv("MS_TEST_PG_HOST"), "port",
                     getenv("MS_TEST_PG_PORT"), "database", getenv("MS_TEST_PG_DB"), "username",
                     getenv("MS_TEST_PG_USER"), "password",
                     password != NULL ? password : getenv("MS_TEST_PG_PASSWORD"));
}

static struct ms_cx *
pgt_open(void)
{
    json_t *cfg = pgt_cfg(NULL);
    struct ms_cx *cx = NULL;
    struct ms_error err = {0};

    cr_assert_eq(ms_cx_open(&ms_connector_postgresql, cfg, &cx, &err), MS_OK, "%s", err.msg);
    json_decref(cfg);
    return cx;
}

static json_t *pgt_model(const char *fmt, ...) MS_PRINTF(1, 2);

/* A model configuration from a printf-style template. */
static json_t *
pgt_model(const char *fmt, ...)
{
    char text[1024];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(text, sizeof(text), fmt, ap);
    va_end(ap);
    return pgt_json(text);
}

Test(cx_pg, open_wrong_password)
{
    json_t *cfg;
    struct ms_cx *cx = NULL;
    struct ms_error err = {0};

    pgt_need_server();
    cfg = pgt_cfg("wrong-pw-31415");
    cr_expect_eq(ms_cx_open(&ms_connector_postgresql, cfg, &cx, &err), MS_EUPSTREAM);
    cr_expect_null(cx);
    cr_expect(strncmp(err.msg, "postgresql connect: ", 20) == 0, "%s", err.msg);
    cr_expect_null(strstr(err.msg, "wrong-pw-31415"), "%s", err.msg);
    cr_expect_null(strchr(err.msg, '\n'), "one line: %s", err.msg);
    cr_expect_neq(strstr(err.msg, "password authentication failed"), NULL, "%s", err.msg);
    json_decref(cfg);
}

Test(cx_pg, open_closed_port_fails_fast)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t sl = sizeof(sa);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    json_t *cfg;
    struct ms_cx *cx = NULL;
    struct ms_error err = {0};
    int64_t t0;

    pgt_need_server();
    cr_assert_eq(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    cr_assert_eq(getsockname(fd, (struct sockaddr *)&sa, &sl), 0);
    close(fd); /* now nothing listens there */
    cfg = pgt_cfg(NULL);
    json_object_set_new(cfg, "port", json_integer(ntohs(sa.sin_port)));
    t0 = ms_time_mono_ms();
    cr_expect_eq(ms_cx_open(&ms_connector_postgresql, cfg, &cx, &err), MS_EUPSTREAM);
    cr_expect_lt(ms_time_mono_ms() - t0, 3000);
    cr_expect_null(strstr(err.msg, getenv("MS_TEST_PG_PASSWORD")), "%s", err.msg);
    json_decref(cfg);
}

Test(cx_pg, open_and_test)
{
    struct ms_cx *cx;
    struct ms_error err = {0};
    json_t *cfg;

    pgt_need_server();
    cx = pgt_open();
    cr_expect_eq(ms_connector_postgresql.test(cx, &err), MS_OK, "%s", err.msg);
    ms_cx_close(cx);
    /* The port also comes as a numeric string. */
    cfg = pgt_cfg(NULL);
    cr_assert(json_is_string(json_object_get(cfg, "port")));
    cr_expect_eq(ms_cx_open(&ms_connector_postgresql, cfg, &cx, &err), MS_OK, "%s", err.msg);
    ms_cx_close(cx);
    json_decref(cfg);
}

/* Field i of a fields() answer: name, type, remote_type. */
static void
pgt_expect_field(const json_t *fields, size_t i, const char *name, const char *type,
                 const char *remote)
{
    const json_t *f = json_array_get(fields, i);

    cr_assert_not_null(f, "field %zu", i);
    cr_expect_str_eq(json_string_value(json_object_get(f, "name")), name);
    cr_expect_str_eq(json_string_value(json_object_get(f, "type")), type, "%s", name);
    cr_expect_str_eq(json_string_value(json_object_get(f, "remote_type")), remote, "%s", name);
}

Test(cx_pg, fields_of_a_table)
{
    struct ms_cx *cx;
    struct ms_error err = {0};
    json_t *m, *out = NULL;

    pgt_need_server();
    cx = pgt_open();
    m = pgt_model("{\"table\": \"%s.mixed\"}", pgt_schema);
    cr_assert_eq(ms_connector_postgresql.fields(cx, m, &out, &err), MS_OK, "%s", err.msg);
    cr_assert_eq(json_array_size(out), 13);
    pgt_expect_field(out, 0, "id", "number", "bigint");
    pgt_expect_field(out, 1, "small", "number", "smallint");
    pgt_expect_field(out, 2, "num", "number", "numeric");
    pgt_expect_field(out, 3, "f8", "number", "double precision");
    pgt_expect_field(out, 4, "f4", "number", "real");
    pgt_expect_field(out, 5, "flag", "boolean", "boolean");
    pgt_expect_field(out, 6, "label", "string", "text");
    pgt_expect_field(out, 7, "uni", "string", "character varying");
    pgt_expect_field(out, 8, "ts", "datetime", "timestamp with time zone");
    pgt_expect_field(out, 9, "tsl", "datetime", "timestamp without time zone");
    pgt_expect_field(out, 10, "d", "datetime", "date");
    pgt_expect_field(out, 11, "doc", "object", "jsonb");
    pgt_expect_field(out, 12, "tags", "array", "text[]");
    json_decref(out);
    json_decref(m);
    /* A domain column is described by its base type. */
    m = pgt_model("{\"table\": \"%s.req\"}", pgt_schema);
    cr_assert_eq(ms_connector_postgresql.fields(cx, m, &out, &err), MS_OK, "%s", err.msg);
    pgt_expect_field(out, 6, "g", "number", "integer");
    pgt_expect_field(out, 7, "h", "array", "integer[]");
    json_decref(out);
    json_decref(m);
    ms_cx_close(cx);
}

Test(cx_pg, fields_of_a_query)
{
    struct ms_cx *cx;
    struct ms_error err = {0};
    json_t *m, *out = NULL;

    pgt_need_server();
    cx = pgt_open();
    m = pgt_model("{\"query\": \"SELECT id, label AS l, 1.5::float8 AS x, now() AS t,"
                  " '{}'::json AS j, nextval('%s.seq') AS n FROM %s.mixed -- trailing;\\n;\"}",
                  pgt_schema, pgt_schema);
    cr_assert_eq(ms_connector_postgresql.fields(cx, m, &out, &err), MS_OK, "%s", err.msg);
    cr_assert_eq(json_array_size(out), 6);
    pgt_expect_field(out, 0, "id", "number", "bigint");
    pgt_expect_field(out, 1, "l", "string", "text");
    pgt_expect_field(out, 2, "x", "number", "double precision");
    pgt_expect_field(out, 3, "t", "datetime", "timestamp with time zone");
    pgt_expect_field(out, 4, "j", "object", "json");
    pgt_expect_field(out, 5, "n", "number", "bigint");
    json_decref(out);
    json_decref(m);
    /* Describing does not run the query: the sequence was not advanced. */
    {
        char sql[128];
        PGresult *res;

        snprintf(sql, sizeof(sql), "SELECT last_value, is_called FROM %s.seq", pgt_schema);
        res = PQexec(pgt_conn, sql);
        cr_expect_str_eq(PQgetvalue(res, 0, 1), "f");
        PQclear(res);
    }
    ms_cx_close(cx);
}

Test(cx_pg, fields_errors)
{
    struct ms_cx *cx;
    struct ms_error err = {0};
    json_t *m, *out = NULL;

    pgt_need_server();
    cx = pgt_open();
    m = pgt_model("{\"table\": \"%s.no_such_table\"}", pgt_schema);
    cr_expect_eq(ms_connector_postgresql.fields(cx, m, &out, &err), MS_EUNPROC);
    cr_expect_str_eq(err.field, "configuration.table");
    cr_expect_str_eq(err.sqlstate, "42P01");
    json_decref(m);
    m = pgt_model("{\"table\": \"no_such_schema_x.t\"}");
    cr_expect_eq(ms_connector_postgresql.fields(cx, m, &out, &err), MS_EUNPROC);
    cr_expect_str_eq(err.field, "configuration.table");
    json_decref(m);
    m = pgt_model("{\"query\": \"SELEC 1\"}");
    cr_expect_eq(ms_connector_postgresql.fields(cx, m, &out, &err), MS_EINVAL);
    cr_expect_str_eq(err.field, "configuration.query");
    cr_expect_neq(strstr(err.msg, "syntax error"), NULL, "%s", err.msg);
    json_decref(m);
    m = pgt_model("{\"query\": \"SELECT * FROM no_such_table_x\"}");
    cr_expect_eq(ms_connector_postgresql.fields(cx, m, &out, &err), MS_EINVAL);
    cr_expect_str_eq(err.field, "configuration.query");
    json_decref(m);
    m = pgt_model("{\"query\": \"SELECT 1 AS a, 2 AS a\"}");
    cr_expect_eq(ms_connector_postgresql.fields(cx, m, &out, &err), MS_EINVAL);
    cr_expect_str_eq(err.field, "configuration.query");
    json_decref(m);
    m = pgt_model("{\"query\": \"SELECT 1; SELECT 2\"}");
    cr_expect_eq(ms_connector_postgresql.fields(cx, m, &out, &err), MS_EINVAL);
    json_decref(m);
    m = pgt_model("{\"query\": \"VACUUM\"}");
    cr_expect_eq(ms_connector_postgresql.fields(cx, m, &out, &err), MS_EINVAL);
    cr_expect_str_eq(err.field, "configuration.query");
    json_decref(m);
    cr_expect_eq(ms_connector_postgresql.test(cx, &err), MS_OK, "still usable: %s", err.msg);
    ms_cx_close(cx);
}

/* ---- reading ---- */

static void
pgt_expect_int(const struct ms_value *v, int64_t want, const char *what, int id)
{
    cr_expect_eq(v->type, MS_V_INT, "%s of %d", what, id);
    if (v->type == MS_V_INT)
        cr_expect_eq(v->u.i, want, "%s of %d", what, id);
}

/* A float or numeric column: MS_V_NUM, the server's text, NUL-terminated, of value want. */
static void
pgt_expect_real(const struct ms_value *v, double want, const char *what, int id)
{
    cr_expect_eq(v->type, MS_V_NUM, "%s of %d", what, id);
    if (v->type != MS_V_NUM)
        return;
    cr_expect(v->u.s.p[v->u.s.len] == '\0', "%s of %d: NUL-terminated", what, id);
    cr_expect(ms_value_num_ok(v->u.s.p, v->u.s.len), "%s of %d: [%s]", what, id, v->u.s.p);
    cr_expect(ms_value_double(v) == want, "%s of %d: %s != %g", what, id, v->u.s.p, want);
}

/* MS_V_NUM with exactly the text want. */
static void
pgt_expect_num(const struct ms_value *v, const char *want, const char *what, int id)
{
    cr_expect_eq(v->type, MS_V_NUM, "%s of %d", what, id);
    if (v->type == MS_V_NUM)
        cr_expect(v->u.s.len == strlen(want) && strcmp(v->u.s.p, want) == 0,
                  "%s of %d: [%s] != [%s]", what, id, v->u.s.p, want);
}

static void
pgt_expect_text(const struct ms_value *v, const char *want, size_t len, const char *what, int id)
{
    cr_expect_eq(v->type, MS_V_TEXT, "%s of %d", what, id);
    if (v->type != MS_V_TEXT)
        return;
    cr_expect_eq(v->u.s.len, len, "%s of %d", what, id);
    cr_expect(v->u.s.len == len && memcmp(v->u.s.p, want, len) == 0 && v->u.s.p[len] == '\0',
              "%s of %d: [%.*s] != [%s]", what, id, (int)v->u.s.len, v->u.s.p, want);
}

static void
pgt_expect_str(const struct ms_value *v, const char *want, const char *what, int id)
{
    pgt_expect_text(v, want, strlen(want), what, id);
}

/* Every cell of one mixed row, against what pgt_fill() wrote for id i. */
static void
pgt_check_mixed(const struct ms_value *c, int i)
{
    char buf[128];
    time_t t;
    struct tm tm;

    pgt_expect_int(&c[1], (i % 600) - 300, "small", i);
    if (i % 17 == 0) {
        cr_expect_eq(c[2].type, MS_V_NULL, "num of %d", i);
    } else {
        snprintf(buf, sizeof(buf), "%d.%03d", i * 1125 / 1000, i * 1125 % 1000);
        pgt_expect_str(&c[2], buf, "num (numeric stays text)", i);
    }
    pgt_expect_real(&c[3], i / 8.0, "f8", i);
    pgt_expect_real(&c[4], (i % 100) * 0.5, "f4", i);
    if (i % 11 == 0)
        cr_expect_eq(c[5].type, MS_V_NULL, "flag of %d", i);
    else
        cr_expect(c[5].type == MS_V_BOOL && c[5].u.b == (i % 3 == 0), "flag of %d", i);
    snprintf(buf, sizeof(buf), "row %d\ttab\nnl \\ back\r\b\f\vend", i);
    pgt_expect_str(&c[6], buf, "label", i);
    if (i % 13 == 0) {
        cr_expect_eq(c[7].type, MS_V_NULL, "uni of %d", i);
    } else {
        snprintf(buf, sizeof(buf), "ünï %d 😀€", i);
        pgt_expect_str(&c[7], buf, "uni", i);
    }
    t = (time_t)1704067200 + (time_t)i * 60;
    gmtime_r(&t, &tm);
    strftime(buf, sizeof(buf), "%Y-%m-%d %H:%M:%S+00", &tm);
    pgt_expect_str(&c[8], buf, "ts", i);
    t = (time_t)1704067200 + i;
    gmtime_r(&t, &tm);
    strftime(buf, sizeof(buf), "%Y-%m-%d %H:%M:%S", &tm);
    pgt_expect_str(&c[9], buf, "tsl", i);
    t = (time_t)1704067200 + (time_t)i * 86400;
    gmtime_r(&t, &tm);
    strftime(buf, sizeof(buf), "%Y-%m-%d", &tm);
    pgt_expect_str(&c[10], buf, "d", i);
    snprintf(buf, sizeof(buf), "{\"i\": %d}", i);
    pgt_expect_str(&c[11], buf, "doc", i);
    snprintf(buf, sizeof(buf), "{a,%d}", i);
    pgt_expect_str(&c[12], buf, "tags", i);
}

/* Read a whole mixed model at batch size cap, checking every value and that each id comes once. */
static void
pgt_read_mixed(json_t *model, size_t cap)
{
    struct ms_cx *cx = pgt_open();
    struct ms_arena *head = ms_arena_new(), *batch = ms_arena_new();
    struct ms_rows rows = {.arena = head, .cap = cap};
    struct ms_error err = {0};
    static bool seen[PGT_ROWS + 1];
    size_t total = 0, batches = 0;

    memset(seen, 0, sizeof(seen));
    cr_assert_eq(ms_connector_postgresql.read_begin(cx, model, &rows, &err), MS_OK, "%s", err.msg);
    cr_assert_eq(rows.ncols, 13);
    cr_expect_str_eq(rows.cols[0], "id");
    cr_expect_str_eq(rows.cols[12], "tags");
    rows.arena = batch;
    for (;;) {
        ms_arena_reset(batch);
        rows.nrows = 0;
        cr_assert_eq(ms_connector_postgresql.read(cx, &rows, &err), MS_OK, "%s", err.msg);
        if (rows.nrows == 0)
            break;
        cr_assert_leq(rows.nrows, cap);
        batches++;
        for (size_t r = 0; r < rows.nrows; r++) {
            const struct ms_value *c = &rows.cells[r * rows.ncols];

            cr_assert_eq(c[0].type, MS_V_INT);
            cr_assert(c[0].u.i >= 1 && c[0].u.i <= PGT_ROWS && !seen[c[0].u.i], "id %lld",
                      (long long)c[0].u.i);
            seen[c[0].u.i] = true;
            pgt_check_mixed(c, (int)c[0].u.i);
        }
        total += rows.nrows;
    }
    cr_expect_eq(total, PGT_ROWS);
    cr_expect_eq(batches, (PGT_ROWS + cap - 1) / cap, "full batches until the end");
    cr_expect_eq(ms_connector_postgresql.read(cx, &rows, &err), MS_OK, "end stays the end");
    cr_expect_eq(rows.nrows, 0);
    ms_connector_postgresql.read_end(cx);
    ms_connector_postgresql.read_end(cx); /* twice is harmless */
    ms_cx_close(cx);
    ms_arena_free(batch);
    ms_arena_free(head);
}

Test(cx_pg, read_table_cap_1, .timeout = 120)
{
    json_t *m;

    pgt_need_server();
    m = pgt_model("{\"table\": \"%s.mixed\"}", pgt_schema);
    pgt_read_mixed(m, 1);
    json_decref(m);
}

Test(cx_pg, read_table_cap_7, .timeout = 120)
{
    json_t *m;

    pgt_need_server();
    m = pgt_model("{\"table\": \"%s.mixed\"}", pgt_schema);
    pgt_read_mixed(m, 7);
    json_decref(m);
}

Test(cx_pg, read_query_cap_1000, .timeout = 120)
{
    json_t *m;

    pgt_need_server();
    m = pgt_model("{\"query\": \"SELECT * FROM %s.mixed ORDER BY id DESC -- newest first\\n;\"}",
                  pgt_schema);
    pgt_read_mixed(m, 1000);
    json_decref(m);
}

Test(cx_pg, read_special_values)
{
    struct ms_cx *cx;
    struct ms_arena *a = ms_arena_new();
    struct ms_rows rows = {.arena = a, .cap = 10};
    struct ms_error err = {0};
    json_t *m;
    const struct ms_value *c;

    pgt_need_server();
    cx = pgt_open();
    m = pgt_model("{\"query\": \"SELECT * FROM %s.specials ORDER BY k\"}", pgt_schema);
    cr_assert_eq(ms_connector_postgresql.read_begin(cx, m, &rows, &err), MS_OK, "%s", err.msg);
    cr_assert_eq(ms_connector_postgresql.read(cx, &rows, &err), MS_OK, "%s", err.msg);
    cr_assert_eq(rows.nrows, 4);
    c = rows.cells;
    pgt_expect_str(&c[1], "NaN", "f8", 1);
    pgt_expect_int(&c[2], INT64_MAX, "i8", 1);
    pgt_expect_str(&c[3], "", "t (empty, not null)", 1);
    pgt_expect_str(&c[4], "12345678901234567890.123456789", "n", 1);
    cr_expect(c[5].type == MS_V_BOOL && c[5].u.b);
    c += rows.ncols;
    pgt_expect_str(&c[1], "Infinity", "f8", 2);
    pgt_expect_int(&c[2], INT64_MIN, "i8", 2);
    pgt_expect_str(&c[3], "\\", "t", 2);
    pgt_expect_str(&c[4], "0", "n", 2);
    cr_expect(c[5].type == MS_V_BOOL && !c[5].u.b);
    c += rows.ncols;
    pgt_expect_str(&c[1], "-Infinity", "f8", 3);
    pgt_expect_str(&c[3], "\\N", "t (backslash N is text, not null)", 3);
    cr_expect_eq(c[4].type, MS_V_NULL);
    cr_expect_eq(c[5].type, MS_V_NULL);
    c += rows.ncols;
    pgt_expect_num(&c[1], "1e-300", "f8", 4);
    cr_expect_eq(c[2].type, MS_V_NULL);
    pgt_expect_text(&c[3], "\001x", 2, "t", 4);
    pgt_expect_str(&c[4], "-0.5", "n", 4);
    ms_connector_postgresql.read_end(cx);
    json_decref(m);
    ms_cx_close(cx);
    ms_arena_free(a);
}

/* float4 and float8: MS_V_NUM holding the server's text exactly (no strtod, no printf); NaN
 * and the infinities stay text, and so does numeric (its keys and JSON form are text). */
Test(cx_pg, read_floats_as_num)
{
    static const char *const num[] = {"0.1",    "-0",      "1e+100", "1.7976931348623157e+308",
                                      "5e-324", "1.5e-07", "0.1",    "-3.4028235e+38"};
    static const char *const text[] = {
        "NaN", "Infinity", "-Infinity", "12345678901234567890.123", "-12.50", "NaN"};
    struct ms_cx *cx;
    struct ms_arena *a = ms_arena_new();
    struct ms_rows rows = {.arena = a, .cap = 10};
    struct ms_error err = {0};
    json_t *m;

    pgt_need_server();
    cx = pgt_open();
    m = json_pack("{s:s}", "query",
                  "SELECT 0.1::float8 a, '-0'::float8 b, 1e100::float8 c,"
                  " '1.7976931348623157e308'::float8 d, '5e-324'::float8 e, 1.5e-7::float8 f,"
                  " 0.1::float4 g, '-3.4028235e38'::float4 h, 'NaN'::float8 i,"
                  " 'Infinity'::float4 j, '-Infinity'::float8 k,"
                  " 12345678901234567890.123::numeric l, (-12.50)::numeric(6,2) m,"
                  " 'NaN'::numeric n");
    cr_assert_eq(ms_connector_postgresql.read_begin(cx, m, &rows, &err), MS_OK, "%s", err.msg);
    cr_assert_eq(ms_connector_postgresql.read(cx, &rows, &err), MS_OK, "%s", err.msg);
    cr_assert_eq(rows.nrows, 1);
    cr_assert_eq(rows.ncols, MS_ARRAY_LEN(num) + MS_ARRAY_LEN(text));
    for (size_t i = 0; i < MS_ARRAY_LEN(num); i++)
        pgt_expect_num(&rows.cells[i], num[i], "column", (int)i + 1);
    cr_expect(ms_value_double(&rows.cells[3]) == 1.7976931348623157e308);
    cr_expect(ms_value_double(&rows.cells[4]) == 5e-324);
    cr_expect(ms_value_double(&rows.cells[6]) == 0.1, "float4 0.1 reads as the double 0.1");
    for (size_t i = 0; i < MS_ARRAY_LEN(text); i++)
        pgt_expect_str(&rows.cells[MS_ARRAY_LEN(num) + i], text[i], "column",
                       (int)(MS_ARRAY_LEN(num) + i + 1));
    ms_connector_postgresql.read_end(cx);
    json_decref(m);
    ms_cx_close(cx);
    ms_arena_free(a);
}

Test(cx_pg, read_domain_is_typed)
{
    struct ms_cx *cx;
    struct ms_arena *a = ms_arena_new();
    struct ms_rows rows = {.arena = a, .cap = 10};
    struct ms_error err = {0};
    json_t *m;

    pgt_need_server();
    cx = pgt_open();
    m = pgt_model("{\"table\": \"%s.req\"}", pgt_schema);
    cr_assert_eq(ms_connector_postgresql.read_begin(cx, m, &rows, &err), MS_OK, "%s", err.msg);
    cr_assert_eq(ms_connector_postgresql.read(cx, &rows, &err), MS_OK, "%s", err.msg);
    cr_assert_eq(rows.nrows, 1);
    pgt_expect_int(&rows.cells[6], 3, "g (posint)", 1);
    pgt_expect_str(&rows.cells[5], "2.50", "f", 1);
    ms_connector_postgresql.read_end(cx);
    json_decref(m);
    ms_cx_close(cx);
    ms_arena_free(a);
}

Test(cx_pg, read_refuses_writes)
{
    struct ms_cx *cx;
    struct ms_arena *a = ms_arena_new();
    struct ms_rows rows = {.arena = a, .cap = 10};
    struct ms_error err = {0};
    json_t *m;
    PGresult *res;
    char sql[128];

    pgt_need_server();
    cx = pgt_open();
    m = pgt_model("{\"query\": \"WITH d AS (DELETE FROM %s.mixed WHERE id = 1 RETURNING id)"
                  " SELECT id FROM d\"}",
                  pgt_schema);
    cr_expect_eq(ms_connector_postgresql.read_begin(cx, m, &rows, &err), MS_EINVAL);
    cr_expect_str_eq(err.field, "configuration.query");
    cr_expect_str_eq(err.sqlstate, "25006");
    cr_expect_neq(strstr(err.msg, "read-only"), NULL, "%s", err.msg);
    json_decref(m);
    /* nextval() is refused when the first row is computed, so read() reports it. */
    m = pgt_model("{\"query\": \"SELECT nextval('%s.seq')\"}", pgt_schema);
    cr_assert_eq(ms_connector_postgresql.read_begin(cx, m, &rows, &err), MS_OK, "%s", err.msg);
    cr_expect_eq(ms_connector_postgresql.read(cx, &rows, &err), MS_EINVAL);
    cr_expect_str_eq(err.field, "configuration.query");
    cr_expect_str_eq(err.sqlstate, "25006");
    ms_connector_postgresql.read_end(cx);
    json_decref(m);
    snprintf(sql, sizeof(sql), "SELECT count(*) FROM %s.mixed WHERE id = 1", pgt_schema);
    res = PQexec(pgt_conn, sql);
    cr_expect_str_eq(PQgetvalue(res, 0, 0), "1", "the row is still there");
    PQclear(res);
    /* The connection is usable again, outside any transaction. */
    cr_expect_eq(ms_connector_postgresql.test(cx, &err), MS_OK, "%s", err.msg);
    m = pgt_model("{\"table\": \"%s.nope\"}", pgt_schema);
    cr_expect_eq(ms_connector_postgresql.read_begin(cx, m, &rows, &err), MS_EUNPROC);
    cr_expect_str_eq(err.field, "configuration.table");
    json_decref(m);
    cr_expect_eq(ms_connector_postgresql.test(cx, &err), MS_OK, "%s", err.msg);
    ms_cx_close(cx);
    ms_arena_free(a);
}

Test(cx_pg, read_error_mid_stream)
{
    struct ms_cx *cx;
    struct ms_arena *a = ms_arena_new();
    struct ms_rows rows = {.arena = a, .cap = 100};
    struct ms_error err = {0};
    enum ms_status st = MS_OK;
    json_t *m;

    pgt_need_server();
    cx = pgt_open();
    m = pgt_model("{\"query\": \"SELECT 10 / (300 - g) FROM generate_series(1, 1000) g\"}");
    cr_assert_eq(ms_connector_postgresql.read_begin(cx, m, &rows, &err), MS_OK, "%s", err.msg);
    while (st == MS_OK) {
        ms_arena_reset(a);
        st = ms_connector_postgresql.read(cx, &rows, &err);
        if (st == MS_OK && rows.nrows == 0)
            break;
    }
    cr_expect_eq(st, MS_EINVAL, "division by zero is the query's fault");
    cr_expect_str_eq(err.sqlstate, "22012");
    ms_connector_postgresql.read_end(cx);
    cr_expect_eq(ms_connector_postgresql.test(cx, &err), MS_OK, "%s", err.msg);
    json_decref(m);
    ms_cx_close(cx);
    ms_arena_free(a);
}

Test(cx_pg, read_end_cancels_a_running_copy, .timeout = 60)
{
    struct ms_cx *cx;
    struct ms_arena *head = ms_arena_new(), *batch = ms_arena_new();
    struct ms_rows rows = {.arena = head, .cap = 5};
    struct ms_error err = {0};
    json_t *m;
    int64_t t0;
    size_t total = 0;

    pgt_need_server();
    cx = pgt_open();
    /* Draining this to the end would take over 15 minutes: only a cancel ends it quickly. */
    m = pgt_model("{\"query\": \"SELECT g, repeat('x', 1000) AS pad, pg_sleep(0.001) AS z"
                  " FROM generate_series(1, 1000000) g\"}");
    cr_assert_eq(ms_connector_postgresql.read_begin(cx, m, &rows, &err), MS_OK, "%s", err.msg);
    rows.arena = batch;
    cr_assert_eq(ms_connector_postgresql.read(cx, &rows, &err), MS_OK, "%s", err.msg);
    cr_assert_eq(rows.nrows, 5);
    pgt_expect_int(&rows.cells[0], 1, "g", 1);
    t0 = ms_time_mono_ms();
    ms_connector_postgresql.read_end(cx);
    cr_expect_lt(ms_time_mono_ms() - t0, 5000, "read_end cancels instead of draining");
    json_decref(m);
    /* The connection is reusable: a test and a whole new read. */
    cr_expect_eq(ms_connector_postgresql.test(cx, &err), MS_OK, "%s", err.msg);
    m = pgt_model("{\"table\": \"%s.v_mixed\"}", pgt_schema);
    rows = (struct ms_rows){.arena = head, .cap = 777};
    cr_assert_eq(ms_connector_postgresql.read_begin(cx, m, &rows, &err), MS_OK, "%s", err.msg);
    cr_expect_eq(rows.ncols, 2);
    rows.arena = batch;
    do {
        ms_arena_reset(batch);
        cr_assert_eq(ms_connector_postgresql.read(cx, &rows, &err), MS_OK, "%s", err.msg);
        total += rows.nrows;
    } while (rows.nrows > 0);
    cr_expect_eq(total, PGT_ROWS);
    ms_connector_postgresql.read_end(cx);
    json_decref(m);
    ms_cx_close(cx); /* close in the middle of nothing */
    ms_arena_free(batch);
    ms_arena_free(head);
}

Test(cx_pg, close_during_a_read)
{
    struct ms_cx *cx;
    struct ms_arena *a = ms_arena_new();
    struct ms_rows rows = {.arena = a, .cap = 3};
    struct ms_error err = {0};
    json_t *m;

    pgt_need_server();
    cx = pgt_open();
    m = pgt_model("{\"table\": \"%s.mixed\"}", pgt_schema);
    cr_assert_eq(ms_connector_postgresql.read_begin(cx, m, &rows, &err), MS_OK, "%s", err.msg);
    cr_assert_eq(ms_connector_postgresql.read(cx, &rows, &err), MS_OK, "%s", err.msg);
    cr_expect_eq(ms_connector_postgresql.test(cx, &err), MS_EINTERNAL, "no interleaving");
    ms_cx_close(cx); /* read_end happens inside */
    json_decref(m);
    ms_arena_free(a);
}

/* ---- describe and destinations ---- */

static bool
pgt_has(const json_t *arr, const char *s)
{
    for (size_t i = 0; i < json_array_size(arr); i++)
        if (json_is_string(json_array_get(arr, i)) &&
            strcmp(json_string_value(json_array_get(arr, i)), s) == 0)
            return true;
    return false;
}

Test(cx_pg, describe)
{
    struct ms_cx *cx;
    struct ms_error err = {0};
    json_t *out = NULL, *items, *tables, *params;
    char name[96], prefix[80];
    size_t i;
    json_t *v;

    pgt_need_server();
    cx = pgt_open();
    cr_assert_eq(ms_connector_postgresql.describe(cx, NULL, &out, &err), MS_OK, "%s", err.msg);
    items = json_object_get(out, "items");
    cr_expect(pgt_has(json_object_get(json_object_get(items, "schema"), "items"), pgt_schema));
    cr_expect(pgt_has(json_object_get(json_object_get(items, "schema"), "items"), "public"));
    cr_expect(!pgt_has(json_object_get(json_object_get(items, "schema"), "items"), "pg_catalog"));
    cr_expect(json_is_true(json_object_get(json_object_get(items, "schema"), "has_items")));
    tables = json_object_get(json_object_get(items, "table"), "items");
    snprintf(name, sizeof(name), "%s.mixed", pgt_schema);
    cr_expect(pgt_has(tables, name));
    snprintf(name, sizeof(name), "%s.v_mixed", pgt_schema);
    cr_expect(pgt_has(tables, name), "views are sources too");
    cr_expect(!pgt_has(tables, "pg_catalog.pg_class"));
    cr_expect(json_is_true(json_object_get(json_object_get(items, "table"), "has_items")));
    cr_expect(
        pgt_has(json_object_get(json_object_get(items, "table"), "requires_one_of"), "query"));
    cr_expect(json_is_false(json_object_get(json_object_get(items, "query"), "has_items")));
    cr_expect(json_is_object(json_object_get(out, "configuration")));
    cr_expect(pgt_has(json_object_get(out, "requires_one_of"), "table"));
    cr_expect(pgt_has(json_object_get(out, "requires_one_of"), "query"));
    json_decref(out);
    /* Restricted to the chosen schemas. */
    params = json_pack("{s:[s]}", "schema", pgt_schema);
    cr_assert_eq(ms_connector_postgresql.describe(cx, params, &out, &err), MS_OK, "%s", err.msg);
    tables = json_object_get(json_object_get(json_object_get(out, "items"), "table"), "items");
    cr_expect_eq(json_array_size(tables), 4, "mixed, req, specials and v_mixed; no sequence");
    snprintf(prefix, sizeof(prefix), "%s.", pgt_schema);
    json_array_foreach(tables, i, v)
    {
        cr_expect(strncmp(json_string_value(v), prefix, strlen(prefix)) == 0, "%s",
                  json_string_value(v));
    }
    json_decref(out);
    json_decref(params);
    params = json_pack("{s:[i]}", "schema", 5);
    cr_expect_eq(ms_connector_postgresql.describe(cx, params, &out, &err), MS_EINVAL);
    cr_expect_str_eq(err.field, "params.schema");
    json_decref(params);
    ms_cx_close(cx);
}

Test(cx_pg, objects)
{
    struct ms_cx *cx;
    struct ms_error err = {0};
    json_t *out = NULL, *o, *modes;
    char name[96];
    size_t i;
    static const char *const ids[] = {"create", "update",  "updateOrCreate",
                                      "remove", "replace", "append"};
    static const bool identity[] = {false, true, true, true, false, false};
    bool found = false;

    pgt_need_server();
    cx = pgt_open();
    cr_assert_eq(ms_connector_postgresql.objects(cx, &out, &err), MS_OK, "%s", err.msg);
    snprintf(name, sizeof(name), "%s.mixed", pgt_schema);
    json_array_foreach(out, i, o)
    {
        const char *id = json_string_value(json_object_get(o, "id"));

        cr_expect(strncmp(id, "pg_catalog.", 11) != 0 && strstr(id, ".v_mixed") == NULL, "%s", id);
        if (strcmp(id, name) != 0)
            continue;
        found = true;
        cr_expect_str_eq(json_string_value(json_object_get(o, "name")), name);
        modes = json_object_get(o, "modes");
        cr_assert_eq(json_array_size(modes), 6);
        for (size_t k = 0; k < 6; k++) {
            json_t *m = json_array_get(modes, k);

            cr_expect_str_eq(json_string_value(json_object_get(m, "id")), ids[k]);
            cr_expect_eq(json_is_true(json_object_get(m, "requires_identity")), identity[k]);
        }
    }
    cr_expect(found, "%s listed", name);
    json_decref(out);
    ms_cx_close(cx);
}

static const json_t *
pgt_field(const json_t *fields, const char *id)
{
    for (size_t i = 0; i < json_array_size(fields); i++) {
        const json_t *f = json_array_get(fields, i);

        if (strcmp(json_string_value(json_object_get(f, "id")), id) == 0)
            return f;
    }
    cr_assert_fail("no field %s", id);
    return NULL;
}

static void
pgt_expect_target(const json_t *fields, const char *id, const char *type, const char *source,
                  bool required)
{
    const json_t *f = pgt_field(fields, id);

    cr_expect_str_eq(json_string_value(json_object_get(f, "name")), id);
    cr_expect_str_eq(json_string_value(json_object_get(f, "type")), type, "%s", id);
    cr_expect_str_eq(json_string_value(json_object_get(f, "source_type")), source, "%s", id);
    cr_expect_eq(json_is_true(json_object_get(f, "required")), required, "%s", id);
    cr_expect(json_is_true(json_object_get(f, "createable")));
    cr_expect(json_is_true(json_object_get(f, "updateable")));
    cr_expect(json_is_true(json_object_get(f, "filterable")));
    cr_expect(json_is_true(json_object_get(f, "supports_identity")));
    cr_expect(json_is_false(json_object_get(f, "encryptable")));
    cr_expect(json_is_false(json_object_get(f, "association")));
    cr_expect_str_eq(json_string_value(json_object_get(f, "description")), "");
    cr_expect_str_eq(json_string_value(json_object_get(
                         json_array_get(json_object_get(f, "identity_functions"), 0), "id")),
                     "Equality");
}

Test(cx_pg, object_fields)
{
    struct ms_cx *cx;
    struct ms_error err = {0};
    json_t *out = NULL;
    char name[96];

    pgt_need_server();
    cx = pgt_open();
    snprintf(name, sizeof(name), "%s.req", pgt_schema);
    cr_assert_eq(ms_connector_postgresql.object_fields(cx, name, &out, &err), MS_OK, "%s", err.msg);
    cr_assert_eq(json_array_size(out), 8);
    pgt_expect_target(out, "a", "number", "integer", true);
    pgt_expect_target(out, "b", "string", "text", false);
    pgt_expect_target(out, "c", "datetime", "timestamp with time zone", false);
    pgt_expect_target(out, "d", "number", "integer", false);
    pgt_expect_target(out, "e", "object", "jsonb", false);
    pgt_expect_target(out, "f", "number", "numeric", true);
    pgt_expect_target(out, "g", "number", "integer", false);
    pgt_expect_target(out, "h", "array", "ARRAY", false);
    json_decref(out);
    snprintf(name, sizeof(name), "%s.v_mixed", pgt_schema);
    cr_expect_eq(ms_connector_postgresql.object_fields(cx, name, &out, &err), MS_ENOTFOUND,
                 "a view is not a target");
    cr_expect_eq(ms_connector_postgresql.object_fields(cx, "nope_schema.t", &out, &err),
                 MS_ENOTFOUND);
    cr_expect_eq(ms_connector_postgresql.object_fields(cx, "no_such_public_table", &out, &err),
                 MS_ENOTFOUND);
    cr_expect_eq(ms_connector_postgresql.object_fields(cx, "", &out, &err), MS_ENOTFOUND);
    ms_cx_close(cx);
}

/* data_type of column col of schema.table, via the fixture's connection. */
static void
pgt_expect_column(const char *schema, const char *table, const char *col, const char *type)
{
    const char *params[3] = {schema, table, col};
    PGresult *res = PQexecParams(pgt_conn,
                                 "SELECT data_type FROM information_schema.columns WHERE"
                                 " table_schema = $1 AND table_name = $2 AND column_name = $3",
                                 3, NULL, params, NULL, NULL, 0);

    cr_assert_eq(PQntuples(res), 1, "%s.%s.%s", schema, table, col);
    cr_expect_str_eq(PQgetvalue(res, 0, 0), type, "%s", col);
    PQclear(res);
}

/* pg_indexes of schema.table: want_unique unique indexes on exactly (col), want_all in all. */
static void
pgt_expect_indexes(const char *schema, const char *table, const char *col, int want_unique,
                   int want_all)
{
    static const char sql[] =
        "SELECT count(*) FILTER (WHERE indexdef LIKE 'CREATE UNIQUE INDEX % USING btree (' ||"
        " quote_ident($3) || ')'), count(*) FROM pg_indexes WHERE schemaname = $1 AND"
        " tablename = $2";
    const char *params[3] = {schema, table, col};
    PGresult *res = PQexecParams(pgt_conn, sql, 3, NULL, params, NULL, NULL, 0);

    cr_assert_eq(PQresultStatus(res), PGRES_TUPLES_OK, "%s", PQerrorMessage(pgt_conn));
    cr_expect_eq(atoi(PQgetvalue(res, 0, 0)), want_unique, "unique indexes of %s.%s on %s", schema,
                 table, col);
    cr_expect_eq(atoi(PQgetvalue(res, 0, 1)), want_all, "indexes of %s.%s", schema, table);
    PQclear(res);
}

Test(cx_pg, create_object)
{
    struct ms_cx *cx;
    struct ms_error err = {0};
    json_t *props, *fields;
    char *obj = NULL, want[96];

    pgt_need_server();
    cx = pgt_open();
    props = json_pack("{s:s, s:s}", "schema", pgt_schema, "table", "made");
    fields = pgt_json("[{\"name\": \"id\", \"type\": \"number\", \"identity\": true},"
                      " {\"name\": \"Full Name\", \"type\": \"string\", \"identity\": false},"
                      " {\"name\": \"ok\", \"type\": \"boolean\"},"
                      " {\"name\": \"at\", \"type\": \"datetime\"},"
                      " {\"name\": \"doc\", \"type\": \"object\"},"
                      " {\"name\": \"arr\", \"type\": \"array\"}, {\"name\": \"other\"}]");
    cr_assert_eq(ms_connector_postgresql.create_object(cx, props, fields, &obj, &err), MS_OK, "%s",
                 err.msg);
    snprintf(want, sizeof(want), "%s.made", pgt_schema);
    cr_expect_str_eq(obj, want);
    free(obj);
    obj = NULL;
    pgt_expect_column(pgt_schema, "made", "id", "numeric");
    pgt_expect_column(pgt_schema, "made", "Full Name", "text");
    pgt_expect_column(pgt_schema, "made", "ok", "boolean");
    pgt_expect_column(pgt_schema, "made", "at", "timestamp with time zone");
    pgt_expect_column(pgt_schema, "made", "doc", "jsonb");
    pgt_expect_column(pgt_schema, "made", "arr", "jsonb");
    pgt_expect_column(pgt_schema, "made", "other", "text");
    pgt_expect_indexes(pgt_schema, "made", "id", 1, 1);
    cr_expect_eq(ms_connector_postgresql.create_object(cx, props, fields, &obj, &err), MS_EUNPROC,
                 "exists");
    cr_expect_str_eq(err.field, "target.create.table");
    cr_expect_null(obj);
    json_decref(props);
    /* Without a schema: public. */
    props = json_pack("{s:s}", "table", pgt_made);
    cr_assert_eq(ms_connector_postgresql.create_object(cx, props, fields, &obj, &err), MS_OK, "%s",
                 err.msg);
    snprintf(want, sizeof(want), "public.%s", pgt_made);
    cr_expect_str_eq(obj, want);
    free(obj);
    obj = NULL;
    pgt_expect_indexes("public", pgt_made, "id", 1, 1);
    json_decref(props);
    json_decref(fields);
    /* No identity: no index. */
    props = json_pack("{s:s, s:s}", "schema", pgt_schema, "table", "made_plain");
    fields = pgt_json("[{\"name\": \"id\", \"type\": \"number\"}]");
    cr_assert_eq(ms_connector_postgresql.create_object(cx, props, fields, &obj, &err), MS_OK, "%s",
                 err.msg);
    free(obj);
    pgt_expect_indexes(pgt_schema, "made_plain", "id", 0, 0);
    json_decref(props);
    json_decref(fields);
    ms_cx_close(cx);
}

Test(cx_pg, create_object_errors)
{
    static const struct {
        const char *props, *fields, *field;
        enum ms_status st;
    } bad[] = {
        {"[]", "[]", "target.create", MS_EINVAL},
        {"{}", "[]", "target.create.table", MS_EINVAL},
        {"{\"table\": \"bad-name\"}", "[]", "target.create.table", MS_EINVAL},
        {"{\"table\": \"1abc\"}", "[]", "target.create.table", MS_EINVAL},
        {"{\"table\": \"t\", \"schema\": \"a b\"}", "[]", "target.create.schema", MS_EINVAL},
        {"{\"table\": \"t\", \"schema\": 5}", "[]", "target.create.schema", MS_EINVAL},
        {"{\"table\": \"t\", \"x\": 1}", "[]", "target.create.x", MS_EINVAL},
        {"{\"table\": \"t\", \"schema\": \"no_such_schema_zz\"}", "[]", "target.create.schema",
         MS_EUNPROC},
        {"{\"table\": \"t\"}", "{}", "fields", MS_EINVAL},
        {"{\"table\": \"t\"}", "[{\"name\": \"\"}]", "fields", MS_EINVAL},
        {"{\"table\": \"t\"}", "[{\"type\": \"string\"}]", "fields", MS_EINVAL},
        {"{\"table\": \"t\"}", "[{\"name\": \"a\"}, {\"name\": \"a\"}]", "fields", MS_EINVAL},
        {"{\"table\": \"t\"}", "[{\"name\": \"a\", \"identity\": \"yes\"}]", "fields", MS_EINVAL},
    };
    struct ms_cx *cx;
    struct ms_error err;

    pgt_need_server();
    cx = pgt_open();
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        json_t *props = pgt_json(bad[i].props), *fields = pgt_json(bad[i].fields);
        char *obj = NULL;

        memset(&err, 0, sizeof(err));
        cr_expect_eq(ms_connector_postgresql.create_object(cx, props, fields, &obj, &err),
                     bad[i].st, "%s %s: %s", bad[i].props, bad[i].fields, err.msg);
        cr_expect_str_eq(err.field, bad[i].field, "%s %s: %s", bad[i].props, bad[i].fields,
                         err.msg);
        cr_expect_null(obj);
        json_decref(props);
        json_decref(fields);
    }
    ms_cx_close(cx);
}

#endif /* MS_WITH_PG */
