/*
 * postgresql.c: the PostgreSQL connector (libpq): tables and queries as sources, tables as
 * destinations, and target creation. This file holds the configuration, the connection, the
 * listings (describe, objects, object_fields), target creation and the descriptor; reads are
 * in postgresql_read.c (COPY out in a read-only snapshot) and writes in postgresql_write.c
 * (COPY into a staging table, then set-based statements). Messages carry the server's primary
 * message on one line, never the password. A connection belongs to the thread that opened it.
 * Built without libpq (MS_WITH_PG == 0), open() answers MS_EUNSUPP.
 */
#include "connectors/connector.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "connectors/postgresql_int.h"
#if MS_WITH_PG
#include <libpq-fe.h>
#endif

#include "connectors/connectors_int.h"
#include "core/buf.h"
#include "core/str.h"
#include "core/xmalloc.h"
#include "model/model.h"

#define PG_MAX_CFG_BYTES 1024                /* one configuration string */
#define PG_MAX_QUERY_BYTES ((size_t)1 << 20) /* a model query */
#define PG_DEFAULT_PORT 5432

/* The configuration, borrowed from the JSON it was read from. */
struct pg_cfg {
    const char *host, *db, *user, *password; /* password NULL when absent */
    int port;
    bool ssl;
};

/* ---- configuration (no libpq needed) ---- */

static const char *const pg_cfg_members[] = {"hostname", "port", "database", "username",
                                             "password", "ssl",  NULL};

/*
 * Host names only: libpq also takes socket directories ("/var/run/…", "@abstract") and host
 * lists, which would let a client reach this machine's local server without a network hop.
 */
static bool
pg_host_ok(const char *h)
{
    for (const char *p = h; *p != '\0'; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
              *p == '.' || *p == '-' || *p == '_' || *p == ':'))
            return false;
    return true;
}

/* A string member: no NUL byte, at most PG_MAX_CFG_BYTES, non-empty when required. */
static enum ms_status
pg_cfg_str(const json_t *cfg, const char *key, bool required, const char **out,
           struct ms_error *err)
{
    char path[64];
    const char *v = NULL;
    enum ms_status st;
    size_t len;

    snprintf(path, sizeof(path), "configuration.%s", key);
    st = required ? ms_json_req_str(cfg, key, path, &v, err)
                  : ms_json_opt_str(cfg, key, path, &v, err);
    if (st != MS_OK || v == NULL)
        return st;
    len = json_string_length(json_object_get(cfg, key));
    if (len != strlen(v))
        return ms_fail_at(err, MS_EINVAL, path, "must not contain a NUL byte");
    if (required && len == 0)
        return ms_fail_at(err, MS_EINVAL, path, "must not be empty");
    if (len > PG_MAX_CFG_BYTES)
        return ms_fail_at(err, MS_EINVAL, path, "longer than %d bytes", PG_MAX_CFG_BYTES);
    *out = v;
    return MS_OK;
}

/* port: an integer or a numeric string, 1..65535; absent or null means 5432. */
static enum ms_status
pg_cfg_port(const json_t *cfg, int *port, struct ms_error *err)
{
    const json_t *v = json_object_get(cfg, "port");
    int64_t n = 0;

    if (v == NULL || json_is_null(v)) {
        *port = PG_DEFAULT_PORT;
        return MS_OK;
    }
    if (json_is_integer(v))
        n = json_integer_value(v);
    else if (!json_is_string(v) || json_string_length(v) > 5 ||
             ms_str_to_i64((struct ms_str){json_string_value(v), json_string_length(v)}, &n) !=
                 MS_OK)
        return ms_fail_at(err, MS_EINVAL, "configuration.port",
                          "must be an integer or a numeric string");
    if (n < 1 || n > 65535)
        return ms_fail_at(err, MS_EINVAL, "configuration.port", "must be between 1 and 65535");
    *port = (int)n;
    return MS_OK;
}

static enum ms_status
pg_cfg_read(const json_t *cfg, struct pg_cfg *c, struct ms_error *err)
{
    enum ms_status st;

    *c = (struct pg_cfg){.port = PG_DEFAULT_PORT};
    if (!json_is_object(cfg))
        return ms_fail_at(err, MS_EINVAL, "configuration", "must be an object");
    st = ms_json_only(cfg, pg_cfg_members, "configuration", err);
    if (st == MS_OK)
        st = pg_cfg_str(cfg, "hostname", true, &c->host, err);
    if (st == MS_OK && !pg_host_ok(c->host))
        st = ms_fail_at(err, MS_EINVAL, "configuration.hostname",
                        "must be a host name or an IP address");
    if (st == MS_OK)
        st = pg_cfg_port(cfg, &c->port, err);
    if (st == MS_OK)
        st = pg_cfg_str(cfg, "database", true, &c->db, err);
    if (st == MS_OK)
        st = pg_cfg_str(cfg, "username", true, &c->user, err);
    if (st == MS_OK)
        st = pg_cfg_str(cfg, "password", false, &c->password, err);
    if (st == MS_OK)
        st = ms_json_opt_bool(cfg, "ssl", "configuration.ssl", &c->ssl, err);
    return st;
}

static enum ms_status
pg_validate(const json_t *cfg, struct ms_error *err)
{
    struct pg_cfg c;

    return pg_cfg_read(cfg, &c, err);
}

bool
ms_cx_pg_split_name(const char *s, size_t len, char schema[PG_NAME_BYTES + 1],
                    char table[PG_NAME_BYTES + 1])
{
    const char *dot = memchr(s, '.', len);
    size_t slen = dot != NULL ? (size_t)(dot - s) : 6;
    const char *sp = dot != NULL ? s : "public";
    const char *tp = dot != NULL ? dot + 1 : s;
    size_t tlen = dot != NULL ? len - slen - 1 : len;

    if (slen == 0 || tlen == 0 || slen > PG_NAME_BYTES || tlen > PG_NAME_BYTES ||
        memchr(tp, '\0', tlen) != NULL || memchr(sp, '\0', slen) != NULL)
        return false;
    memcpy(schema, sp, slen);
    schema[slen] = '\0';
    memcpy(table, tp, tlen);
    table[tlen] = '\0';
    return true;
}

/* True when q holds something other than white space and semicolons. */
static bool
pg_query_blank(const char *q)
{
    for (; *q != '\0'; q++)
        if (*q != ' ' && *q != '\t' && *q != '\n' && *q != '\r' && *q != ';')
            return false;
    return true;
}

enum ms_status
ms_cx_pg_model_read(const json_t *mcfg, struct pg_model *m, struct ms_error *err)
{
    static const char *const allowed[] = {"query", "table", NULL};
    const char *table = NULL;
    enum ms_status st;
    size_t len;

    memset(m, 0, sizeof(*m));
    st = ms_json_only(mcfg, allowed, "configuration", err);
    if (st == MS_OK)
        st = ms_json_opt_str(mcfg, "query", "configuration.query", &m->query, err);
    if (st == MS_OK)
        st = ms_json_opt_str(mcfg, "table", "configuration.table", &table, err);
    if (st != MS_OK)
        return st;
    if ((m->query == NULL) == (table == NULL))
        return ms_fail_at(err, MS_EINVAL, "configuration", "needs exactly one of table or query");
    if (table != NULL) {
        len = json_string_length(json_object_get(mcfg, "table"));
        if (!ms_cx_pg_split_name(table, len, m->schema, m->table))
            return ms_fail_at(err, MS_EINVAL, "configuration.table",
                              "must be \"schema.table\" or \"table\", names of 1 to %d bytes",
                              PG_NAME_BYTES);
        return MS_OK;
    }
    len = json_string_length(json_object_get(mcfg, "query"));
    if (len > PG_MAX_QUERY_BYTES)
        return ms_fail_at(err, MS_ETOOBIG, "configuration.query", "longer than %zu bytes",
                          PG_MAX_QUERY_BYTES);
    if (len != strlen(m->query))
        return ms_fail_at(err, MS_EINVAL, "configuration.query", "must not contain a NUL byte");
    if (pg_query_blank(m->query))
        return ms_fail_at(err, MS_EINVAL, "configuration.query", "must not be empty");
    return MS_OK;
}

static enum ms_status
pg_model_validate(const json_t *mcfg, struct ms_error *err)
{
    struct pg_model m;

    return ms_cx_pg_model_read(mcfg, &m, err);
}

static const char pg_schema[] =
    "{\"$schema\": \"https://json-schema.org/draft/2020-12/schema\","
    " \"title\": \"PostgreSQL\", \"type\": \"object\","
    " \"properties\": {"
    "  \"hostname\": {\"type\": \"string\", \"title\": \"Host\", \"minLength\": 1,"
    "   \"maxLength\": 1024, \"pattern\": \"^[A-Za-z0-9._:-]+$\","
    "   \"description\": \"Host name or IP address of the server\"},"
    "  \"port\": {\"title\": \"Port\", \"default\": 5432,"
    "   \"description\": \"TCP port, 1 to 65535\","
    "   \"oneOf\": [{\"type\": \"integer\"}, {\"type\": \"string\", \"pattern\": "
    "\"^[0-9]{1,5}$\"}]},"
    "  \"database\": {\"type\": \"string\", \"title\": \"Database\", \"minLength\": 1,"
    "   \"maxLength\": 1024},"
    "  \"username\": {\"type\": \"string\", \"title\": \"Username\", \"minLength\": 1,"
    "   \"maxLength\": 1024},"
    "  \"password\": {\"type\": \"string\", \"title\": \"Password\", \"maxLength\": 1024,"
    "   \"writeOnly\": true, \"format\": \"password\"},"
    "  \"ssl\": {\"type\": \"boolean\", \"title\": \"Require SSL\", \"default\": false}"
    " },"
    " \"required\": [\"hostname\", \"database\", \"username\"],"
    " \"additionalProperties\": {\"not\": {}}}";

static const char pg_target_creation[] =
    "{\"supported\": true, \"properties\": ["
    "{\"id\": \"schema\", \"title\": \"Schema\", \"enum\": false},"
    "{\"id\": \"table\", \"title\": \"Table name\", \"enum\": false}]}";

static const char *const pg_secrets[] = {"password", NULL};

/* No connector-specific operations. */
static enum ms_status
pg_control(struct ms_cx *cx, int op, void *arg)
{
    (void)cx, (void)op, (void)arg;
    return MS_EUNSUPP;
}

#if MS_WITH_PG

void
ms_cx_pg_one_line(const char *src, char *dst, size_t n)
{
    size_t o = 0;
    bool space = false;

    for (; src != NULL && *src != '\0' && o + 1 < n; src++) {
        if (*src == ' ' || *src == '\n' || *src == '\r' || *src == '\t') {
            space = o > 0;
            continue;
        }
        if (space && o + 2 < n)
            dst[o++] = ' ';
        space = false;
        dst[o++] = *src;
    }
    dst[o] = '\0';
}

/* Overwrite every occurrence of secret in s with '*' (defense in depth: libpq never echoes it). */
static void
pg_scrub(char *s, const char *secret)
{
    size_t n = secret != NULL ? strlen(secret) : 0;
    char *p = s;

    if (n < 3)
        return;
    while ((p = strstr(p, secret)) != NULL) {
        memset(p, '*', n);
        p += n;
    }
}

/* SQLSTATE → status. Classes that describe the server's state rather than the SQL come first. */
static enum ms_status
pg_status_of(const char *state, const struct pg_blame *b)
{
    if (state == NULL || strlen(state) != 5)
        return MS_EUPSTREAM; /* libpq-side: connection lost, protocol error */
    if (strncmp(state, "40", 2) == 0 || strcmp(state, "53300") == 0 ||
        strcmp(state, "55P03") == 0 || strcmp(state, "57P03") == 0)
        return MS_EBUSY; /* serialization, too many connections, lock, starting up */
    if (strncmp(state, "08", 2) == 0 || strncmp(state, "53", 2) == 0 ||
        strncmp(state, "57", 2) == 0 || strncmp(state, "58", 2) == 0 ||
        strncmp(state, "XX", 2) == 0)
        return MS_EUPSTREAM;
    if (b->missing != NULL && (strcmp(state, "42P01") == 0 || strcmp(state, "3F000") == 0))
        return MS_EUNPROC;
    return b->invalid != NULL ? MS_EINVAL : MS_EUPSTREAM;
}

enum ms_status
ms_cx_pg_fail_res(struct pg_cx *s, const PGresult *res, const struct pg_blame *b,
                  struct ms_error *err)
{
    const char *state = res != NULL ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
    const char *msg = res != NULL ? PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) : NULL;
    char line[200];
    enum ms_status st = pg_status_of(state, b);

    ms_cx_pg_one_line(msg != NULL ? msg : PQerrorMessage(s->conn), line, sizeof(line));
    if (st == MS_EINVAL)
        ms_fail_at(err, st, b->invalid, "%s", line);
    else if (st == MS_EUNPROC)
        ms_fail_at(err, st, b->missing, "%s", line);
    else
        ms_fail(err, st, "postgresql %s: %s", b->what, line);
    if (err != NULL && state != NULL && strlen(state) == 5)
        memcpy(err->sqlstate, state, 6);
    return st;
}

/* Run a statement that returns no rows. */
enum ms_status
ms_cx_pg_exec_cmd(struct pg_cx *s, const char *sql, const struct pg_blame *b, struct ms_error *err)
{
    PGresult *res = PQexec(s->conn, sql);
    enum ms_status st = MS_OK;

    if (PQresultStatus(res) != PGRES_COMMAND_OK)
        st = ms_cx_pg_fail_res(s, res, b, err);
    PQclear(res);
    return st;
}

/* Run a query with text parameters; *out is the result (PQclear it) when rows came back. */
enum ms_status
ms_cx_pg_query(struct pg_cx *s, const char *sql, int n, const char *const *params,
               const struct pg_blame *b, PGresult **out, struct ms_error *err)
{
    PGresult *res = PQexecParams(s->conn, sql, n, NULL, params, NULL, NULL, 0);
    enum ms_status st;

    if (PQresultStatus(res) == PGRES_TUPLES_OK) {
        *out = res;
        return MS_OK;
    }
    st = ms_cx_pg_fail_res(s, res, b, err);
    PQclear(res);
    return st;
}

/* Other calls must not interleave with a read or a full rewrite: each holds a transaction. */
enum ms_status
ms_cx_pg_idle(const struct pg_cx *s, struct ms_error *err)
{
    if (s->in_tx || s->copying)
        return ms_fail(err, MS_EINTERNAL, "postgresql: a read is in progress (no read_end)");
    if (s->w_tx)
        return ms_fail(err, MS_EINTERNAL, "postgresql: a full rewrite is in progress");
    return MS_OK;
}

/* libpq prints NOTICEs (a model's RAISE NOTICE, …) on stderr by default: not in our log. */
static void
pg_on_notice(void *arg, const char *msg)
{
    (void)arg;
    (void)msg;
}

static enum ms_status
pg_open(struct ms_cx *cx, const json_t *cfg, struct ms_error *err)
{
    struct pg_cx *s = (struct pg_cx *)cx;
    struct pg_cfg c;
    char port[8], timeout[8], line[200];
    const char *keys[16], *vals[16];
    size_t n = 0;
    enum ms_status st;

    *s = (struct pg_cx){.base = s->base};
    st = pg_cfg_read(cfg, &c, err);
    if (st != MS_OK)
        return st;
    snprintf(port, sizeof(port), "%d", c.port);
    snprintf(timeout, sizeof(timeout), "%d", MS_CX_TIMEOUT_S);
#define PG_KV(k, v) (keys[n] = (k), vals[n] = (v), n++)
    PG_KV("host", c.host);
    PG_KV("port", port);
    PG_KV("dbname", c.db);
    PG_KV("user", c.user);
    if (c.password != NULL)
        PG_KV("password", c.password);
    /* A path that cannot exist (stat() failing is silent): this server's ~/.pgpass must never
     * supply a password for a host a client chose. */
    PG_KV("passfile", "/dev/null/none");
    PG_KV("sslmode", c.ssl ? "require" : "disable");
    PG_KV("gssencmode", "disable");
    PG_KV("connect_timeout", timeout);
    PG_KV("application_name", "modelsync");
    PG_KV("client_encoding", "UTF8");
    /* Fixed output formats, so values read the same whatever the server's defaults are. */
    PG_KV("options", "-c DateStyle=ISO,YMD -c TimeZone=UTC -c IntervalStyle=postgres "
                     "-c extra_float_digits=3 -c bytea_output=hex");
#undef PG_KV
    keys[n] = vals[n] = NULL;
    s->conn = PQconnectdbParams(keys, vals, 0);
    if (PQstatus(s->conn) == CONNECTION_OK) {
        PQsetNoticeProcessor(s->conn, pg_on_notice, NULL);
        return MS_OK;
    }
    ms_cx_pg_one_line(PQerrorMessage(s->conn), line, sizeof(line));
    pg_scrub(line, c.password);
    st = ms_fail(err, MS_EUPSTREAM, "postgresql connect: %s", line);
    PQfinish(s->conn); /* open() failed, so close() will not run */
    s->conn = NULL;
    return st;
}

static enum ms_status
pg_test(struct ms_cx *cx, struct ms_error *err)
{
    static const struct pg_blame b = {"test", NULL, NULL};
    struct pg_cx *s = (struct pg_cx *)cx;
    PGresult *res = NULL;
    enum ms_status st = ms_cx_pg_idle(s, err);

    if (st == MS_OK)
        st = ms_cx_pg_query(s, "SELECT 1", 0, NULL, &b, &res, err);
    if (st == MS_OK && (PQntuples(res) != 1 || strcmp(PQgetvalue(res, 0, 0), "1") != 0))
        st = ms_fail(err, MS_EUPSTREAM, "postgresql test: SELECT 1 did not return 1");
    PQclear(res);
    return st;
}

/* ---- describing a model ---- */

/* Quote schema.table; NULL when libpq refuses a name (invalid encoding). */
char *
ms_cx_pg_quote_table(struct pg_cx *s, const char *schema, const char *table)
{
    char *qs = PQescapeIdentifier(s->conn, schema, strlen(schema));
    char *qt = PQescapeIdentifier(s->conn, table, strlen(table));
    char *out = NULL;
    size_t n;

    if (qs != NULL && qt != NULL) {
        n = strlen(qs) + strlen(qt) + 2;
        out = ms_xmalloc(n);
        snprintf(out, n, "%s.%s", qs, qt);
    }
    PQfreemem(qs);
    PQfreemem(qt);
    return out;
}

/* The SELECT of a model (a new string) and whom to blame for its failures. */

/* ---- listing ---- */

#define PG_SQL_USER_NSP                                                                            \
    "n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\\_toast%' "  \
    "AND n.nspname NOT LIKE 'pg\\_temp\\_%'"

#define PG_SQL_SCHEMAS                                                                             \
    "SELECT n.nspname FROM pg_catalog.pg_namespace n WHERE " PG_SQL_USER_NSP " ORDER BY 1"

/* Readable relations; $1 is NULL or a text[] of schemas to keep. */
#define PG_SQL_RELATIONS                                                                           \
    "SELECT n.nspname || '.' || c.relname FROM pg_catalog.pg_class c"                              \
    " JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace"                                    \
    " WHERE c.relkind IN ('r', 'p', 'v', 'm', 'f') AND NOT c.relispartition AND " PG_SQL_USER_NSP  \
    " AND ($1::pg_catalog.text[] IS NULL OR n.nspname = ANY($1::pg_catalog.text[]))"               \
    " ORDER BY n.nspname, c.relname LIMIT 10000"

#define PG_SQL_TABLES                                                                              \
    "SELECT n.nspname || '.' || c.relname FROM pg_catalog.pg_class c"                              \
    " JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace"                                    \
    " WHERE c.relkind IN ('r', 'p') AND NOT c.relispartition AND " PG_SQL_USER_NSP                 \
    " ORDER BY n.nspname, c.relname LIMIT 10000"

_Static_assert(MS_CX_MAX_OBJECTS == 10000, "LIMIT in PG_SQL_RELATIONS/PG_SQL_TABLES");

/* The first column of every row as a JSON array of strings. */
static json_t *
pg_column_json(const PGresult *res)
{
    json_t *arr = json_array();

    for (int r = 0; r < PQntuples(res); r++)
        json_array_append_new(arr, json_string(PQgetvalue(res, r, 0)));
    return arr;
}

/* params["schema"] as a text[] literal in b, or *lit = NULL when absent. */
static enum ms_status
pg_schema_filter(const json_t *params, struct ms_buf *b, const char **lit, struct ms_error *err)
{
    const json_t *v = json_is_object(params) ? json_object_get(params, "schema") : NULL;
    size_t i;
    json_t *e;

    *lit = NULL;
    if (v == NULL || json_is_null(v))
        return MS_OK;
    if (!json_is_array(v) || json_array_size(v) > MS_CX_MAX_OBJECTS)
        return ms_fail_at(err, MS_EINVAL, "params.schema", "must be an array of schema names");
    ms_buf_addc(b, '{');
    json_array_foreach(v, i, e)
    {
        const char *p = json_string_value(e);

        if (p == NULL || json_string_length(e) != strlen(p) || strlen(p) > PG_NAME_BYTES)
            return ms_fail_at(err, MS_EINVAL, "params.schema", "must be an array of schema names");
        ms_buf_adds(b, i > 0 ? ",\"" : "\"");
        for (; *p != '\0'; p++) {
            if (*p == '"' || *p == '\\')
                ms_buf_addc(b, '\\');
            ms_buf_addc(b, *p);
        }
        ms_buf_addc(b, '"');
    }
    ms_buf_addc(b, '}');
    *lit = ms_buf_str(b);
    return MS_OK;
}

static enum ms_status
pg_describe(struct ms_cx *cx, const json_t *params, json_t **out, struct ms_error *err)
{
    static const struct pg_blame b = {"describe", NULL, NULL};
    struct pg_cx *s = (struct pg_cx *)cx;
    PGresult *schemas = NULL, *rels = NULL;
    struct ms_buf filter;
    const char *lit = NULL;
    enum ms_status st;

    ms_buf_init(&filter, (size_t)MS_CX_MAX_OBJECTS * (2 * PG_NAME_BYTES + 3) + 3);
    st = ms_cx_pg_idle(s, err);
    if (st == MS_OK)
        st = pg_schema_filter(params, &filter, &lit, err);
    if (st == MS_OK)
        st = ms_cx_pg_query(s, PG_SQL_SCHEMAS, 0, NULL, &b, &schemas, err);
    if (st == MS_OK)
        st = ms_cx_pg_query(s, PG_SQL_RELATIONS, 1, &lit, &b, &rels, err);
    if (st == MS_OK)
        *out = json_pack("{s:{s:{s:b, s:o}, s:{s:b, s:o, s:[s]}, s:{s:b}}, s:{}, s:[s, s]}",
                         "items", "schema", "has_items", PQntuples(schemas) > 0, "items",
                         pg_column_json(schemas), "table", "has_items", PQntuples(rels) > 0,
                         "items", pg_column_json(rels), "requires_one_of", "query", "query",
                         "has_items", 0, "configuration", "requires_one_of", "table", "query");
    PQclear(schemas);
    PQclear(rels);
    ms_buf_release(&filter);
    return st;
}

static json_t *
pg_modes(void)
{
    return json_pack("[o, o, o, o, o, o]", ms_cx_mode("create", false), ms_cx_mode("update", true),
                     ms_cx_mode("updateOrCreate", true), ms_cx_mode("remove", true),
                     ms_cx_mode("replace", false), ms_cx_mode("append", false));
}

static enum ms_status
pg_objects(struct ms_cx *cx, json_t **out, struct ms_error *err)
{
    static const struct pg_blame b = {"objects", NULL, NULL};
    struct pg_cx *s = (struct pg_cx *)cx;
    PGresult *res = NULL;
    enum ms_status st = ms_cx_pg_idle(s, err);

    if (st == MS_OK)
        st = ms_cx_pg_query(s, PG_SQL_TABLES, 0, NULL, &b, &res, err);
    if (st == MS_OK) {
        json_t *arr = json_array();

        for (int r = 0; r < PQntuples(res); r++)
            json_array_append_new(arr,
                                  json_pack("{s:s, s:s, s:o}", "id", PQgetvalue(res, r, 0), "name",
                                            PQgetvalue(res, r, 0), "modes", pg_modes()));
        *out = arr;
    }
    PQclear(res);
    return st;
}

#define PG_SQL_TABLE_EXISTS                                                                        \
    "SELECT 1 FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n"                           \
    " ON n.oid = c.relnamespace WHERE n.nspname = $1 AND c.relname = $2 AND c.relkind IN ('r', "   \
    "'p')"

#define PG_SQL_COLUMNS                                                                             \
    "SELECT column_name, data_type, is_nullable = 'NO' AND column_default IS NULL"                 \
    " AND is_identity = 'NO' AND is_generated = 'NEVER'"                                           \
    " FROM information_schema.columns WHERE table_schema = $1 AND table_name = $2"                 \
    " ORDER BY ordinal_position"

/* TargetField type of an information_schema data_type. */
static const char *
pg_data_type_of(const char *dt)
{
    static const struct {
        const char *data_type, *type;
    } map[] = {
        {"smallint", "number"},
        {"integer", "number"},
        {"bigint", "number"},
        {"oid", "number"},
        {"real", "number"},
        {"double precision", "number"},
        {"numeric", "number"},
        {"boolean", "boolean"},
        {"date", "datetime"},
        {"time without time zone", "datetime"},
        {"time with time zone", "datetime"},
        {"timestamp without time zone", "datetime"},
        {"timestamp with time zone", "datetime"},
        {"json", "object"},
        {"jsonb", "object"},
        {"ARRAY", "array"},
    };

    for (size_t i = 0; i < MS_ARRAY_LEN(map); i++)
        if (strcmp(dt, map[i].data_type) == 0)
            return map[i].type;
    return "string";
}

static enum ms_status
pg_object_fields(struct ms_cx *cx, const char *object, json_t **out, struct ms_error *err)
{
    static const struct pg_blame b = {"object fields", NULL, NULL};
    struct pg_cx *s = (struct pg_cx *)cx;
    char schema[PG_NAME_BYTES + 1], table[PG_NAME_BYTES + 1];
    const char *params[2] = {schema, table};
    PGresult *res = NULL;
    enum ms_status st = ms_cx_pg_idle(s, err);

    if (st != MS_OK)
        return st;
    if (object == NULL || !ms_cx_pg_split_name(object, strlen(object), schema, table))
        return ms_fail(err, MS_ENOTFOUND, "postgresql: no table %s", object ? object : "");
    st = ms_cx_pg_query(s, PG_SQL_TABLE_EXISTS, 2, params, &b, &res, err);
    if (st == MS_OK && PQntuples(res) == 0)
        st = ms_fail(err, MS_ENOTFOUND, "postgresql: no table %s.%s", schema, table);
    PQclear(res);
    res = NULL;
    if (st == MS_OK)
        st = ms_cx_pg_query(s, PG_SQL_COLUMNS, 2, params, &b, &res, err);
    if (st == MS_OK) {
        json_t *arr = json_array();

        for (int r = 0; r < PQntuples(res); r++)
            json_array_append_new(arr, ms_cx_target_field(PQgetvalue(res, r, 0),
                                                          pg_data_type_of(PQgetvalue(res, r, 1)),
                                                          PQgetvalue(res, r, 1),
                                                          PQgetvalue(res, r, 2)[0] == 't', true));
        *out = arr;
    }
    PQclear(res);
    return st;
}

/* ---- target creation ---- */

/* [A-Za-z_][A-Za-z0-9_]{0,62}: names that need no quoting to be typed by hand. */
static bool
pg_plain_ident(const char *p)
{
    size_t n = strlen(p);

    if (n == 0 || n > PG_NAME_BYTES || (p[0] >= '0' && p[0] <= '9'))
        return false;
    for (size_t i = 0; i < n; i++)
        if (!((p[i] >= 'a' && p[i] <= 'z') || (p[i] >= 'A' && p[i] <= 'Z') ||
              (p[i] >= '0' && p[i] <= '9') || p[i] == '_'))
            return false;
    return true;
}

static enum ms_status
pg_create_props(const json_t *props, const char **schema, const char **table, struct ms_error *err)
{
    static const char *const allowed[] = {"schema", "table", NULL};
    enum ms_status st;

    *schema = "public";
    if (!json_is_object(props))
        return ms_fail_at(err, MS_EINVAL, "target.create", "must be an object");
    st = ms_json_only(props, allowed, "target.create", err);
    if (st == MS_OK)
        st = ms_json_opt_str(props, "schema", "target.create.schema", schema, err);
    if (st == MS_OK)
        st = ms_json_req_str(props, "table", "target.create.table", table, err);
    if (st != MS_OK)
        return st;
    if (!pg_plain_ident(*schema))
        return ms_fail_at(err, MS_EINVAL, "target.create.schema",
                          "must match [A-Za-z_][A-Za-z0-9_]{0,62}");
    if (!pg_plain_ident(*table))
        return ms_fail_at(err, MS_EINVAL, "target.create.table",
                          "must match [A-Za-z_][A-Za-z0-9_]{0,62}");
    return MS_OK;
}

static const char *
pg_column_type(const char *type)
{
    if (type == NULL)
        return "text";
    if (strcmp(type, "number") == 0)
        return "numeric";
    if (strcmp(type, "boolean") == 0)
        return "boolean";
    if (strcmp(type, "datetime") == 0)
        return "timestamptz";
    if (strcmp(type, "object") == 0 || strcmp(type, "array") == 0)
        return "jsonb";
    return "text";
}

/*
 * Append "(col type, …)" for fields [{"name","type","identity"?}] to ddl. An identity column
 * is UNIQUE: its index serves every keyed write's lookup and lets the writes use ON CONFLICT.
 */
static enum ms_status
pg_create_columns(struct pg_cx *s, const json_t *fields, struct ms_buf *ddl, struct ms_error *err)
{
    size_t i, n;
    json_t *f;

    if (!json_is_array(fields) || json_array_size(fields) > MS_MAX_COLUMNS)
        return ms_fail_at(err, MS_EINVAL, "fields", "must be an array of at most %d columns",
                          MS_MAX_COLUMNS);
    ms_buf_addc(ddl, '(');
    json_array_foreach(fields, i, f)
    {
        const char *name = json_string_value(json_object_get(f, "name"));
        const char *type = json_string_value(json_object_get(f, "type"));
        const json_t *identity = json_object_get(f, "identity");
        char *q;

        if (name == NULL || (n = strlen(name)) == 0 || n > PG_NAME_BYTES ||
            n != json_string_length(json_object_get(f, "name")))
            return ms_fail_at(err, MS_EINVAL, "fields", "column %zu: name of 1 to %d bytes", i + 1,
                              PG_NAME_BYTES);
        for (size_t j = 0; j < i; j++)
            if (strcmp(name,
                       json_string_value(json_object_get(json_array_get(fields, j), "name"))) == 0)
                return ms_fail_at(err, MS_EINVAL, "fields", "column \"%s\" appears twice", name);
        if (identity != NULL && !json_is_boolean(identity))
            return ms_fail_at(err, MS_EINVAL, "fields", "column %zu: identity must be a boolean",
                              i + 1);
        q = PQescapeIdentifier(s->conn, name, n);
        if (q == NULL)
            return ms_fail_at(err, MS_EINVAL, "fields", "column %zu: not a valid name", i + 1);
        ms_buf_addf(ddl, "%s%s %s%s", i > 0 ? ", " : "", q, pg_column_type(type),
                    json_is_true(identity) ? " UNIQUE" : "");
        PQfreemem(q);
    }
    ms_buf_addc(ddl, ')');
    return MS_OK;
}

static enum ms_status
pg_create_object(struct ms_cx *cx, const json_t *props, const json_t *fields, char **object_out,
                 struct ms_error *err)
{
    static const struct pg_blame b = {"create", NULL, "target.create.schema"};
    struct pg_cx *s = (struct pg_cx *)cx;
    const char *schema = NULL, *table = NULL;
    struct ms_buf ddl;
    PGresult *res = NULL;
    char *qt = NULL;
    size_t n;
    enum ms_status st;

    ms_buf_init(&ddl, (size_t)MS_MAX_COLUMNS * (2 * PG_NAME_BYTES + 20) + 4096);
    st = ms_cx_pg_idle(s, err);
    if (st == MS_OK)
        st = pg_create_props(props, &schema, &table, err);
    if (st == MS_OK && (qt = ms_cx_pg_quote_table(s, schema, table)) == NULL)
        st = ms_fail_at(err, MS_EINVAL, "target.create.table", "is not a valid name");
    if (st == MS_OK)
        st = ms_buf_addf(&ddl, "CREATE TABLE %s ", qt);
    if (st == MS_OK)
        st = pg_create_columns(s, fields, &ddl, err);
    if (st != MS_OK)
        goto out;
    res = PQexec(s->conn, ms_buf_str(&ddl));
    if (PQresultStatus(res) != PGRES_COMMAND_OK) {
        const char *state = PQresultErrorField(res, PG_DIAG_SQLSTATE);

        if (state != NULL && strcmp(state, "42P07") == 0)
            st = ms_fail_at(err, MS_EUNPROC, "target.create.table", "%s.%s already exists", schema,
                            table);
        else
            st = ms_cx_pg_fail_res(s, res, &b, err);
        goto out;
    }
    n = strlen(schema) + strlen(table) + 2;
    *object_out = ms_xmalloc(n);
    snprintf(*object_out, n, "%s.%s", schema, table);
out:
    PQclear(res);
    free(qt);
    ms_buf_release(&ddl);
    return st;
}

static void
pg_close(struct ms_cx *cx)
{
    struct pg_cx *s = (struct pg_cx *)cx;

    ms_cx_pg_read_end(cx);
    ms_cx_pg_write_end(cx, false, NULL); /* an unfinished full rewrite is rolled back */
    PQfinish(s->conn);
    s->conn = NULL;
}

#else /* !MS_WITH_PG: every slot that needs a connection answers "not built in" */

struct pg_cx {
    struct ms_cx base;
};

static enum ms_status
pg_open(struct ms_cx *cx, const json_t *cfg, struct ms_error *err)
{
    (void)cx, (void)cfg;
    return ms_fail(err, MS_EUNSUPP, "postgresql: not built in");
}

/* The slots below are unreachable, since open() never succeeds; the registry requires them. */
static enum ms_status
pg_test(struct ms_cx *cx, struct ms_error *err)
{
    return pg_open(cx, NULL, err);
}

static enum ms_status
pg_describe(struct ms_cx *cx, const json_t *params, json_t **out, struct ms_error *err)
{
    (void)params, (void)out;
    return pg_open(cx, NULL, err);
}

static enum ms_status
pg_fields(struct ms_cx *cx, const json_t *mcfg, json_t **out, struct ms_error *err)
{
    (void)mcfg, (void)out;
    return pg_open(cx, NULL, err);
}

static enum ms_status
pg_read_begin(struct ms_cx *cx, const json_t *mcfg, struct ms_rows *rows, struct ms_error *err)
{
    (void)mcfg, (void)rows;
    return pg_open(cx, NULL, err);
}

static enum ms_status
pg_read(struct ms_cx *cx, struct ms_rows *rows, struct ms_error *err)
{
    (void)rows;
    return pg_open(cx, NULL, err);
}

static void
pg_read_end(struct ms_cx *cx)
{
    (void)cx;
}

static enum ms_status
pg_write_begin(struct ms_cx *cx, const struct ms_write_plan *plan, struct ms_error *err)
{
    (void)plan;
    return pg_open(cx, NULL, err);
}

static enum ms_status
pg_write(struct ms_cx *cx, struct ms_ops *ops, struct ms_error *err)
{
    (void)ops;
    return pg_open(cx, NULL, err);
}

static enum ms_status
pg_write_end(struct ms_cx *cx, bool commit, struct ms_error *err)
{
    (void)commit;
    return pg_open(cx, NULL, err);
}

static enum ms_status
pg_objects(struct ms_cx *cx, json_t **out, struct ms_error *err)
{
    (void)out;
    return pg_open(cx, NULL, err);
}

static enum ms_status
pg_object_fields(struct ms_cx *cx, const char *object, json_t **out, struct ms_error *err)
{
    (void)object, (void)out;
    return pg_open(cx, NULL, err);
}

static enum ms_status
pg_create_object(struct ms_cx *cx, const json_t *props, const json_t *fields, char **object_out,
                 struct ms_error *err)
{
    (void)props, (void)fields, (void)object_out;
    return pg_open(cx, NULL, err);
}

static void
pg_close(struct ms_cx *cx)
{
    (void)cx;
}

#endif /* MS_WITH_PG */

/* Slots implemented in postgresql_read.c and postgresql_write.c, or the "not built in" answers
 * above when libpq is absent. */
#if MS_WITH_PG
#define PG_SLOT(name) ms_cx_pg_##name
#else
#define PG_SLOT(name) pg_##name
#endif

const struct ms_connector ms_connector_postgresql = {
    .abi = MS_CONNECTOR_ABI,
    .type = "postgresql",
    .name = "PostgreSQL",
    .flags = MS_CX_SOURCE | MS_CX_DEST | MS_CX_CREATE,
    .size = sizeof(struct pg_cx),
    .secrets = pg_secrets,
    .schema = pg_schema,
    .target_creation = pg_target_creation,
    .validate = pg_validate,
    .model_validate = pg_model_validate,
    .open = pg_open,
    .test = pg_test,
    .describe = pg_describe,
    .fields = PG_SLOT(fields),
    .read_begin = PG_SLOT(read_begin),
    .read = PG_SLOT(read),
    .read_end = PG_SLOT(read_end),
    .objects = pg_objects,
    .object_fields = pg_object_fields,
    .create_object = pg_create_object,
    .write = PG_SLOT(write),
    .control = pg_control,
    .close = pg_close,
    .write_begin = PG_SLOT(write_begin),
    .write_end = PG_SLOT(write_end),
    .write_batch = 4096, /* a COPY and one set-based statement per batch: fewer, larger */
};
