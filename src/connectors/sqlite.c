/*
 * sqlite.c: the "sqlite" connector. A source reads a table or one read-only query; a
 * destination lists tables, describes their columns (PRAGMA table_info) and creates new ones;
 * sqlite_write.c writes to them. The database file must exist (it is never created here) and
 * is opened read-write with a 5 s busy timeout, ATTACH disabled and SQLITE_DBCONFIG_DEFENSIVE
 * on, so a model query can reach nothing but this file. Reading streams with sqlite3_step():
 * one prepared statement per read, finalized by read_end(). A connection is confined to the
 * thread that opened it.
 */
#include "connectors/sqlite_int.h"

#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "connectors/connector.h"
#include "connectors/connectors_int.h"
#include "core/buf.h"
#include "core/crypto.h"
#include "core/xmalloc.h"
#include "model/model.h"

#define SQLITE_BUSY_MS 5000

/* Map a SQLite failure: busy/locked is transient (the engine retries), the rest is upstream. */
enum ms_status
ms_cx_sqlite_fail(struct sqlite_cx *s, struct ms_error *err, int rc, const char *what)
{
    enum ms_status st =
        (rc & 0xff) == SQLITE_BUSY || (rc & 0xff) == SQLITE_LOCKED ? MS_EBUSY : MS_EUPSTREAM;

    st = ms_fail(err, st, "%s: %s", what,
                 s->db != NULL ? sqlite3_errmsg(s->db) : sqlite3_errstr(rc));
    if (err != NULL)
        err->native = rc;
    return st;
}

static enum ms_status
sqlite_validate(const json_t *cfg, struct ms_error *err)
{
    static const char *const allowed[] = {"path", NULL};
    const char *path = NULL;
    enum ms_status st;

    if (!json_is_object(cfg))
        return ms_fail_at(err, MS_EINVAL, "configuration", "must be an object");
    st = ms_json_only(cfg, allowed, "configuration", err);
    if (st == MS_OK)
        st = ms_json_req_str(cfg, "path", "configuration.path", &path, err);
    if (st != MS_OK)
        return st;
    if (path[0] != '/')
        return ms_fail_at(err, MS_EINVAL, "configuration.path", "must be an absolute path");
    if (strlen(path) != json_string_length(json_object_get(cfg, "path")))
        return ms_fail_at(err, MS_EINVAL, "configuration.path", "contains a NUL byte");
    return MS_OK;
}

static enum ms_status
sqlite_open(struct ms_cx *cx, const json_t *cfg, struct ms_error *err)
{
    struct sqlite_cx *s = (struct sqlite_cx *)cx;
    enum ms_status st = sqlite_validate(cfg, err);
    const char *path;
    int rc;

    if (st != MS_OK)
        return st;
    path = json_string_value(json_object_get(cfg, "path"));
    rc = sqlite3_open_v2(path, &s->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL);
    if (rc != SQLITE_OK) {
        st = ms_fail(err, MS_EUPSTREAM, "cannot open %s: %s", path,
                     s->db != NULL ? sqlite3_errmsg(s->db) : sqlite3_errstr(rc));
        if (err != NULL)
            err->native = rc;
        sqlite3_close(s->db); /* open() failed, so close() will not run */
        s->db = NULL;
        return st;
    }
    sqlite3_extended_result_codes(s->db, 1);
    sqlite3_busy_timeout(s->db, SQLITE_BUSY_MS);
    sqlite3_limit(s->db, SQLITE_LIMIT_ATTACHED, 0);
    sqlite3_db_config(s->db, SQLITE_DBCONFIG_DEFENSIVE, 1, (int *)NULL);
    return MS_OK;
}

static void
sqlite_close(struct ms_cx *cx)
{
    struct sqlite_cx *s = (struct sqlite_cx *)cx;

    sqlite3_finalize(s->read);
    ms_cx_cols_release(&s->cols);
    ms_cx_sqlite_write_release(s); /* rolls back a full rewrite still open */
    sqlite3_close(s->db);
    s->db = NULL;
}

/* Reading the schema proves the file is a database: another file fails with SQLITE_NOTADB. */
static enum ms_status
sqlite_test(struct ms_cx *cx, struct ms_error *err)
{
    struct sqlite_cx *s = (struct sqlite_cx *)cx;
    sqlite3_stmt *stmt = NULL;
    int rc = sqlite3_prepare_v2(s->db, "SELECT count(*) FROM sqlite_master", -1, &stmt, NULL);

    if (rc == SQLITE_OK)
        rc = sqlite3_step(stmt);
    sqlite3_finalize(stmt);
    if (rc != SQLITE_ROW)
        return ms_cx_sqlite_fail(s, err, rc, "cannot read the database");
    return MS_OK;
}

static enum ms_status
sqlite_model_validate(const json_t *mcfg, struct ms_error *err)
{
    static const char *const allowed[] = {"query", "table", NULL};
    const char *query = NULL, *table = NULL;
    enum ms_status st;

    if (!json_is_object(mcfg))
        return ms_fail_at(err, MS_EINVAL, "configuration", "must be an object");
    st = ms_json_only(mcfg, allowed, "configuration", err);
    if (st == MS_OK)
        st = ms_json_opt_str(mcfg, "query", "configuration.query", &query, err);
    if (st == MS_OK)
        st = ms_json_opt_str(mcfg, "table", "configuration.table", &table, err);
    if (st != MS_OK)
        return st;
    if ((query == NULL) == (table == NULL))
        return ms_fail_at(err, MS_EINVAL, "configuration",
                          "exactly one of \"table\" or \"query\" is required");
    if (query != NULL && query[0] == '\0')
        return ms_fail_at(err, MS_EINVAL, "configuration.query", "must not be empty");
    if (table != NULL && table[0] == '\0')
        return ms_fail_at(err, MS_EINVAL, "configuration.table", "must not be empty");
    if (query != NULL && strlen(query) != json_string_length(json_object_get(mcfg, "query")))
        return ms_fail_at(err, MS_EINVAL, "configuration.query", "contains a NUL byte");
    if (table != NULL && strlen(table) != json_string_length(json_object_get(mcfg, "table")))
        return ms_fail_at(err, MS_EINVAL, "configuration.table", "contains a NUL byte");
    return MS_OK;
}

/* Double-quoted identifier ("" doubling) appended to b. */
enum ms_status
ms_cx_sqlite_quote_ident(struct ms_buf *b, const char *name)
{
    enum ms_status st = ms_buf_addc(b, '"');

    for (const char *p = name; st == MS_OK && *p != '\0'; p++)
        st = *p == '"' ? ms_buf_add(b, "\"\"", 2) : ms_buf_addc(b, *p);
    if (st == MS_OK)
        st = ms_buf_addc(b, '"');
    return st;
}

/*
 * The stored name of a user table (or view, when views is set) matching name the way SQLite
 * matches identifiers (ASCII case-insensitively): *found and a malloc'd *stored_out if so.
 */
enum ms_status
ms_cx_sqlite_find_table(struct sqlite_cx *s, const char *name, bool views, char **stored_out,
                        struct ms_error *err)
{
    static const char sql[] = "SELECT name FROM sqlite_master WHERE (type = 'table' OR "
                              "(?2 AND type = 'view')) AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' "
                              "AND name = ?1 COLLATE NOCASE";
    sqlite3_stmt *stmt = NULL;
    int rc = sqlite3_prepare_v2(s->db, sql, -1, &stmt, NULL);

    *stored_out = NULL;
    if (rc == SQLITE_OK)
        rc = sqlite3_bind_text(stmt, 1, name, -1, SQLITE_STATIC);
    if (rc == SQLITE_OK)
        rc = sqlite3_bind_int(stmt, 2, views);
    if (rc == SQLITE_OK)
        rc = sqlite3_step(stmt);
    if (rc == SQLITE_ROW)
        *stored_out = ms_xstrdup((const char *)sqlite3_column_text(stmt, 0));
    sqlite3_finalize(stmt);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        return ms_cx_sqlite_fail(s, err, rc, "cannot read the schema");
    return MS_OK;
}

/* Prepare SELECT * of a configured table: MS_EUNPROC naming configuration.table if unknown. */
static enum ms_status
sqlite_prepare_table(struct sqlite_cx *s, const char *table, sqlite3_stmt **out,
                     struct ms_error *err)
{
    struct ms_buf sql;
    char *stored = NULL;
    enum ms_status st = ms_cx_sqlite_find_table(s, table, true, &stored, err);
    int rc;

    if (st != MS_OK)
        return st;
    if (stored == NULL)
        return ms_fail_at(err, MS_EUNPROC, "configuration.table", "no such table: %s", table);
    ms_buf_init(&sql, SQLITE_MAX_SQL_BYTES);
    st = ms_buf_adds(&sql, "SELECT * FROM ");
    if (st == MS_OK)
        st = ms_cx_sqlite_quote_ident(&sql, stored);
    if (st != MS_OK)
        st = ms_fail_at(err, MS_ETOOBIG, "configuration.table", "table name too long");
    rc = st == MS_OK ? sqlite3_prepare_v2(s->db, ms_buf_str(&sql), -1, out, NULL) : SQLITE_OK;
    if (rc != SQLITE_OK)
        st = ms_cx_sqlite_fail(s, err, rc, "cannot read the table");
    ms_buf_release(&sql);
    free(stored);
    return st;
}

/* MS_EINVAL naming configuration.query unless the text after the first statement is empty. */
static enum ms_status
sqlite_check_tail(struct sqlite_cx *s, const char *tail, struct ms_error *err)
{
    while (*tail != '\0') {
        sqlite3_stmt *next = NULL;
        const char *rest = NULL;
        int rc = sqlite3_prepare_v2(s->db, tail, -1, &next, &rest);

        sqlite3_finalize(next);
        if (rc != SQLITE_OK || next != NULL)
            return ms_fail_at(err, MS_EINVAL, "configuration.query", "must be a single statement");
        if (rest == NULL || rest == tail)
            break;
        tail = rest;
    }
    return MS_OK;
}

/*
 * Prepare a configured query. Only a single read-only statement that returns columns is
 * accepted: sqlite3_stmt_readonly() also holds for BEGIN or ATTACH, which return none.
 */
static enum ms_status
sqlite_prepare_query(struct sqlite_cx *s, const char *query, sqlite3_stmt **out,
                     struct ms_error *err)
{
    sqlite3_stmt *stmt = NULL;
    const char *tail = NULL;
    enum ms_status st;
    int rc = sqlite3_prepare_v2(s->db, query, -1, &stmt, &tail);

    if (rc != SQLITE_OK && ((rc & 0xff) == SQLITE_BUSY || (rc & 0xff) == SQLITE_LOCKED ||
                            (rc & 0xff) == SQLITE_NOTADB || (rc & 0xff) == SQLITE_IOERR ||
                            (rc & 0xff) == SQLITE_CORRUPT))
        return ms_cx_sqlite_fail(s, err, rc, "cannot prepare the query");
    if (rc != SQLITE_OK) {
        st = ms_fail_at(err, MS_EINVAL, "configuration.query", "%s", sqlite3_errmsg(s->db));
        if (err != NULL)
            err->native = rc;
        return st;
    }
    if (stmt == NULL)
        return ms_fail_at(err, MS_EINVAL, "configuration.query", "contains no statement");
    st = sqlite_check_tail(s, tail, err);
    if (st == MS_OK && (!sqlite3_stmt_readonly(stmt) || sqlite3_column_count(stmt) == 0))
        st = ms_fail_at(err, MS_EINVAL, "configuration.query",
                        "must be a single read-only statement returning columns");
    if (st != MS_OK) {
        sqlite3_finalize(stmt);
        return st;
    }
    *out = stmt;
    return MS_OK;
}

/*
 * Prepare the model's statement and collect its column names into cols (which must be
 * empty): duplicates are refused, since rows are keyed by column name.
 */
static enum ms_status
sqlite_prepare_model(struct sqlite_cx *s, const json_t *mcfg, sqlite3_stmt **out,
                     struct ms_cx_cols *cols, struct ms_error *err)
{
    const char *query = json_string_value(json_object_get(mcfg, "query"));
    const char *field = query != NULL ? "configuration.query" : "configuration.table";
    sqlite3_stmt *stmt = NULL;
    enum ms_status st = sqlite_model_validate(mcfg, err);
    int n;

    if (st == MS_OK)
        st = query != NULL ? sqlite_prepare_query(s, query, &stmt, err)
                           : sqlite_prepare_table(
                                 s, json_string_value(json_object_get(mcfg, "table")), &stmt, err);
    if (st != MS_OK)
        return st;
    n = sqlite3_column_count(stmt);
    if ((size_t)n > MS_MAX_COLUMNS)
        st = ms_fail_at(err, MS_ETOOBIG, field, "more than %d columns", (int)MS_MAX_COLUMNS);
    for (int i = 0; st == MS_OK && i < n; i++) {
        const char *name = sqlite3_column_name(stmt, i);
        size_t len = strlen(name);

        if (!ms_cx_utf8_valid(name, len))
            st = ms_fail_at(err, MS_EINVAL, field, "column %d: name is not UTF-8", i + 1);
        else if (ms_cx_cols_find(cols, name, len) >= 0)
            st = ms_fail_at(err, MS_EINVAL, field, "duplicate column name %s", name);
        else
            ms_cx_cols_add(cols, name, len);
    }
    if (st != MS_OK) {
        sqlite3_finalize(stmt);
        ms_cx_cols_release(cols);
        return st;
    }
    *out = stmt;
    return MS_OK;
}

/* UtilFieldType of a declared column type by SQLite's affinity rules, or NULL if unknown. */
static const char *
sqlite_decl_type(const char *decl)
{
    static const struct {
        const char *needle, *type;
    } map[] = {
        {"BOOL", "boolean"}, {"DATE", "datetime"}, {"TIME", "datetime"}, {"INT", "number"},
        {"CHAR", "string"},  {"CLOB", "string"},   {"TEXT", "string"},   {"BLOB", "string"},
        {"REAL", "number"},  {"FLOA", "number"},   {"DOUB", "number"},   {"NUM", "number"},
        {"DEC", "number"},
    };
    char up[64];
    size_t i;

    if (decl == NULL || decl[0] == '\0')
        return NULL;
    for (i = 0; decl[i] != '\0' && i + 1 < sizeof(up); i++)
        up[i] = (decl[i] >= 'a' && decl[i] <= 'z') ? (char)(decl[i] - 'a' + 'A') : decl[i];
    up[i] = '\0';
    for (i = 0; i < MS_ARRAY_LEN(map); i++)
        if (strstr(up, map[i].needle) != NULL)
            return map[i].type;
    return NULL;
}

static const char *const sqlite_class_name[] = {
    [SQLITE_INTEGER] = "INTEGER", [SQLITE_FLOAT] = "REAL", [SQLITE_TEXT] = "TEXT",
    [SQLITE_BLOB] = "BLOB",       [SQLITE_NULL] = "NULL",
};

/* One ModelField for column i; row_rc is the result of stepping once (for inference). */
static json_t *
sqlite_field_json(sqlite3_stmt *stmt, int i, int row_rc)
{
    const char *decl = sqlite3_column_decltype(stmt, i);
    const char *type = sqlite_decl_type(decl);
    int cls = row_rc == SQLITE_ROW ? sqlite3_column_type(stmt, i) : SQLITE_NULL;

    if (type == NULL)
        type = cls == SQLITE_INTEGER || cls == SQLITE_FLOAT ? "number" : "string";
    if (decl == NULL || decl[0] == '\0')
        decl = sqlite_class_name[cls];
    return json_pack("{s:s, s:s, s:s}", "name", sqlite3_column_name(stmt, i), "type", type,
                     "remote_type", decl);
}

static enum ms_status
sqlite_fields(struct ms_cx *cx, const json_t *mcfg, json_t **out, struct ms_error *err)
{
    struct sqlite_cx *s = (struct sqlite_cx *)cx;
    struct ms_cx_cols cols = {0};
    sqlite3_stmt *stmt = NULL;
    enum ms_status st = sqlite_prepare_model(s, mcfg, &stmt, &cols, err);
    int n, row_rc = SQLITE_DONE;
    bool infer = false;
    json_t *arr;

    if (st != MS_OK)
        return st;
    n = sqlite3_column_count(stmt);
    for (int i = 0; i < n; i++)
        infer = infer || sqlite_decl_type(sqlite3_column_decltype(stmt, i)) == NULL;
    if (infer)
        row_rc = sqlite3_step(stmt); /* the first row tells the types of undeclared columns */
    if (row_rc != SQLITE_ROW && row_rc != SQLITE_DONE) {
        st = ms_cx_sqlite_fail(s, err, row_rc, "cannot read the model");
        goto out;
    }
    arr = json_array();
    for (int i = 0; i < n; i++)
        json_array_append_new(arr, sqlite_field_json(stmt, i, row_rc));
    *out = arr;
out:
    sqlite3_finalize(stmt);
    ms_cx_cols_release(&cols);
    return st;
}

static void
sqlite_read_end(struct ms_cx *cx)
{
    struct sqlite_cx *s = (struct sqlite_cx *)cx;

    sqlite3_finalize(s->read);
    s->read = NULL;
    s->read_done = false;
    ms_cx_cols_release(&s->cols);
}

/* Column names stay in the connection (not rows->arena) until read_end(). */
static enum ms_status
sqlite_read_begin(struct ms_cx *cx, const json_t *mcfg, struct ms_rows *rows, struct ms_error *err)
{
    struct sqlite_cx *s = (struct sqlite_cx *)cx;
    enum ms_status st;

    sqlite_read_end(cx);
    st = sqlite_prepare_model(s, mcfg, &s->read, &s->cols, err);
    if (st != MS_OK)
        return st;
    rows->ncols = s->cols.n;
    rows->cols = s->cols.v;
    rows->nrows = 0;
    rows->cells = NULL;
    return MS_OK;
}

/* A BLOB as standard base64 text (JSON has no bytes). */
static enum ms_status
sqlite_blob(struct ms_rows *rows, struct ms_value *v, const void *p, size_t n, struct ms_error *err)
{
    size_t enc = 4 * ((n + 2) / 3);
    char *text;

    if (enc > MS_MAX_VALUE_BYTES)
        return ms_fail(err, MS_ETOOBIG, "a BLOB of %zu bytes is over the %zu MiB limit", n,
                       MS_MAX_VALUE_BYTES >> 20);
    text = ms_arena_alloc(rows->arena, enc + 1);
    ms_b64_encode(p, n, text);
    v->type = MS_V_TEXT;
    v->u.s.p = text;
    v->u.s.len = enc;
    return MS_OK;
}

static enum ms_status
sqlite_cell(sqlite3_stmt *stmt, int i, struct ms_rows *rows, struct ms_value *v,
            struct ms_error *err)
{
    switch (sqlite3_column_type(stmt, i)) {
    case SQLITE_INTEGER:
        v->type = MS_V_INT;
        v->u.i = sqlite3_column_int64(stmt, i);
        return MS_OK;
    case SQLITE_FLOAT:
        v->type = MS_V_REAL;
        v->u.d = sqlite3_column_double(stmt, i);
        return MS_OK;
    case SQLITE_TEXT: {
        const char *p = (const char *)sqlite3_column_text(stmt, i);

        return ms_value_set_text(rows, v, p, (size_t)sqlite3_column_bytes(stmt, i), err);
    }
    case SQLITE_BLOB: {
        const void *p = sqlite3_column_blob(stmt, i);

        return sqlite_blob(rows, v, p, (size_t)sqlite3_column_bytes(stmt, i), err);
    }
    default:
        v->type = MS_V_NULL;
        return MS_OK;
    }
}

/*
 * The caller resets the batch arena between batches and sets rows->nrows = 0 before each
 * read(); nrows is reset here too, so a batch never appends to the previous one.
 */
static enum ms_status
sqlite_read(struct ms_cx *cx, struct ms_rows *rows, struct ms_error *err)
{
    struct sqlite_cx *s = (struct sqlite_cx *)cx;
    int ncols = (int)s->cols.n;

    rows->nrows = 0;
    rows->cells = NULL;
    MS_ASSERT(s->read != NULL);
    while (!s->read_done && rows->nrows < rows->cap) {
        int rc = sqlite3_step(s->read);
        struct ms_value *row;

        if (rc == SQLITE_DONE) {
            s->read_done = true;
            break;
        }
        if (rc != SQLITE_ROW)
            return ms_cx_sqlite_fail(s, err, rc, "cannot read the model");
        row = ms_rows_push(rows);
        for (int i = 0; i < ncols; i++) {
            enum ms_status st = sqlite_cell(s->read, i, rows, &row[i], err);

            if (st != MS_OK)
                return st;
        }
    }
    return MS_OK;
}

/* Names of user tables (views too when views is set), sorted bytewise. */
static enum ms_status
sqlite_list_tables(struct sqlite_cx *s, bool views, json_t **out, struct ms_error *err)
{
    static const char sql[] = "SELECT name FROM sqlite_master WHERE (type = 'table' OR "
                              "(?1 AND type = 'view')) AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' "
                              "ORDER BY name";
    sqlite3_stmt *stmt = NULL;
    json_t *arr = json_array();
    int rc = sqlite3_prepare_v2(s->db, sql, -1, &stmt, NULL);

    if (rc == SQLITE_OK)
        rc = sqlite3_bind_int(stmt, 1, views);
    while (rc == SQLITE_OK && (rc = sqlite3_step(stmt)) == SQLITE_ROW) {
        const char *name = (const char *)sqlite3_column_text(stmt, 0);

        if (json_array_size(arr) == MS_CX_MAX_OBJECTS) {
            rc = SQLITE_TOOBIG;
            break;
        }
        if (name != NULL && ms_cx_utf8_valid(name, strlen(name)))
            json_array_append_new(arr, json_string(name));
        rc = SQLITE_OK;
    }
    sqlite3_finalize(stmt);
    if (rc == SQLITE_TOOBIG) {
        json_decref(arr);
        return ms_fail(err, MS_ETOOBIG, "more than %d tables", MS_CX_MAX_OBJECTS);
    }
    if (rc != SQLITE_DONE) {
        json_decref(arr);
        return ms_cx_sqlite_fail(s, err, rc, "cannot read the schema");
    }
    *out = arr;
    return MS_OK;
}

/* params (the choices so far) change nothing: a table and a query are independent choices. */
static enum ms_status
sqlite_describe(struct ms_cx *cx, const json_t *params, json_t **out, struct ms_error *err)
{
    struct sqlite_cx *s = (struct sqlite_cx *)cx;
    json_t *tables = NULL;
    enum ms_status st = sqlite_list_tables(s, true, &tables, err);

    (void)params;
    if (st != MS_OK)
        return st;
    *out = json_pack("{s:{s:{s:b, s:o}, s:{s:b}}, s:{}, s:[s,s]}", "items", "table", "has_items",
                     json_array_size(tables) > 0, "items", tables, "query", "has_items", 0,
                     "configuration", "requires_one_of", "table", "query");
    return MS_OK;
}

static enum ms_status
sqlite_objects(struct ms_cx *cx, json_t **out, struct ms_error *err)
{
    struct sqlite_cx *s = (struct sqlite_cx *)cx;
    json_t *tables = NULL, *arr, *name;
    enum ms_status st = sqlite_list_tables(s, false, &tables, err);
    size_t i;

    if (st != MS_OK)
        return st;
    arr = json_array();
    json_array_foreach(tables, i, name)
    {
        json_array_append_new(
            arr, json_pack("{s:O, s:O, s:[o,o,o,o,o,o]}", "id", name, "name", name, "modes",
                           ms_cx_mode("create", false), ms_cx_mode("update", true),
                           ms_cx_mode("updateOrCreate", true), ms_cx_mode("remove", true),
                           ms_cx_mode("replace", false), ms_cx_mode("append", false)));
    }
    json_decref(tables);
    *out = arr;
    return MS_OK;
}

/*
 * Whether the table's single INTEGER primary key is a rowid alias (filled in by SQLite when
 * omitted). Rowid tables index any other primary key, and so do WITHOUT ROWID tables, so an
 * alias is exactly a one-column INTEGER key with no index of origin 'pk'.
 */
static enum ms_status
sqlite_has_pk_index(struct sqlite_cx *s, const char *table, bool *out, struct ms_error *err)
{
    sqlite3_stmt *stmt = NULL;
    int rc = sqlite3_prepare_v2(s->db, "SELECT 1 FROM pragma_index_list(?1) WHERE origin = 'pk'",
                                -1, &stmt, NULL);

    if (rc == SQLITE_OK)
        rc = sqlite3_bind_text(stmt, 1, table, -1, SQLITE_STATIC);
    if (rc == SQLITE_OK)
        rc = sqlite3_step(stmt);
    sqlite3_finalize(stmt);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        return ms_cx_sqlite_fail(s, err, rc, "cannot read the schema");
    *out = rc == SQLITE_ROW;
    return MS_OK;
}

static json_t *
sqlite_target_field(sqlite3_stmt *stmt, bool rowid_alias_possible)
{
    const char *name = (const char *)sqlite3_column_text(stmt, 0);
    const char *decl = (const char *)sqlite3_column_text(stmt, 1);
    bool notnull = sqlite3_column_int(stmt, 2) != 0;
    bool has_default = sqlite3_column_type(stmt, 3) != SQLITE_NULL;
    bool alias = rowid_alias_possible && sqlite3_column_int(stmt, 4) == 1 && decl != NULL &&
                 strcasecmp(decl, "INTEGER") == 0;
    const char *type = sqlite_decl_type(decl);

    if (decl == NULL)
        decl = "";
    return ms_cx_target_field(name, type != NULL ? type : "string", decl,
                              notnull && !has_default && !alias, true);
}

static enum ms_status
sqlite_object_fields(struct ms_cx *cx, const char *object, json_t **out, struct ms_error *err)
{
    static const char sql[] = "SELECT name, type, \"notnull\", dflt_value, pk, "
                              "(SELECT count(*) FROM pragma_table_info(?1) WHERE pk > 0) "
                              "FROM pragma_table_info(?1) ORDER BY cid";
    struct sqlite_cx *s = (struct sqlite_cx *)cx;
    sqlite3_stmt *stmt = NULL;
    char *table = NULL;
    bool pk_index = false;
    json_t *arr = NULL;
    enum ms_status st = ms_cx_sqlite_find_table(s, object, false, &table, err);
    int rc;

    if (st == MS_OK && table == NULL)
        st = ms_fail(err, MS_ENOTFOUND, "no such table: %s", object);
    if (st == MS_OK)
        st = sqlite_has_pk_index(s, table, &pk_index, err);
    if (st != MS_OK)
        goto out;
    rc = sqlite3_prepare_v2(s->db, sql, -1, &stmt, NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_bind_text(stmt, 1, table, -1, SQLITE_STATIC);
    arr = json_array();
    while (rc == SQLITE_OK && (rc = sqlite3_step(stmt)) == SQLITE_ROW) {
        bool single_pk = sqlite3_column_int(stmt, 5) == 1;

        json_array_append_new(arr, sqlite_target_field(stmt, single_pk && !pk_index));
        rc = SQLITE_OK;
    }
    if (rc != SQLITE_DONE) {
        st = ms_cx_sqlite_fail(s, err, rc, "cannot read the table");
        goto out;
    }
    *out = arr;
    arr = NULL;
out:
    json_decref(arr);
    sqlite3_finalize(stmt);
    free(table);
    return st;
}

/* A plain identifier: [A-Za-z_][A-Za-z0-9_]{0,62}, not in SQLite's reserved sqlite_ space. */
static bool
sqlite_ident_ok(const char *name, size_t len)
{
    if (len == 0 || len > 63 || (name[0] >= '0' && name[0] <= '9'))
        return false;
    for (size_t i = 0; i < len; i++) {
        char c = name[i];

        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_'))
            return false;
    }
    return strncasecmp(name, "sqlite_", 7) != 0;
}

/* Column affinity for a UtilFieldType. */
static const char *
sqlite_affinity(const char *type)
{
    if (type != NULL && strcmp(type, "number") == 0)
        return "NUMERIC";
    if (type != NULL && strcmp(type, "boolean") == 0)
        return "INTEGER";
    return "TEXT";
}

/* Whether fields[0..i) has a name equal to name as SQLite compares columns (ASCII nocase). */
static bool
sqlite_name_seen(const json_t *fields, size_t i, const char *name)
{
    for (size_t k = 0; k < i; k++)
        if (strcasecmp(json_string_value(json_object_get(json_array_get(fields, k), "name")),
                       name) == 0)
            return true;
    return false;
}

/*
 * CREATE TABLE text for fields [{"name","type","identity"?}]; MS_EINVAL naming "fields" when
 * malformed. An identity column is UNIQUE: its index serves every keyed write's lookup and
 * lets the writes use ON CONFLICT.
 */
static enum ms_status
sqlite_create_sql(const char *table, const json_t *fields, struct ms_buf *sql, struct ms_error *err)
{
    enum ms_status st;
    json_t *f;
    size_t i;

    if (!json_is_array(fields) || json_array_size(fields) == 0)
        return ms_fail_at(err, MS_EINVAL, "fields", "at least one field is required");
    if (json_array_size(fields) > MS_MAX_COLUMNS)
        return ms_fail_at(err, MS_ETOOBIG, "fields", "more than %d fields", (int)MS_MAX_COLUMNS);
    st = ms_buf_addf(sql, "CREATE TABLE \"%s\" (", table);
    json_array_foreach(fields, i, f)
    {
        const char *name = json_string_value(json_object_get(f, "name"));
        const char *type = json_string_value(json_object_get(f, "type"));

        if (name == NULL || name[0] == '\0' ||
            strlen(name) != json_string_length(json_object_get(f, "name")))
            return ms_fail_at(err, MS_EINVAL, "fields",
                              "field %zu: name must be a non-empty "
                              "string without NUL bytes",
                              i + 1);
        if (sqlite_name_seen(fields, i, name))
            return ms_fail_at(err, MS_EINVAL, "fields", "duplicate field name %s", name);
        if (json_object_get(f, "identity") != NULL &&
            !json_is_boolean(json_object_get(f, "identity")))
            return ms_fail_at(err, MS_EINVAL, "fields", "field %zu: identity must be a boolean",
                              i + 1);
        if (st == MS_OK && i > 0)
            st = ms_buf_adds(sql, ", ");
        if (st == MS_OK)
            st = ms_cx_sqlite_quote_ident(sql, name);
        if (st == MS_OK)
            st = ms_buf_addf(sql, " %s", sqlite_affinity(type));
        if (st == MS_OK && json_is_true(json_object_get(f, "identity")))
            st = ms_buf_adds(sql, " UNIQUE");
    }
    if (st == MS_OK)
        st = ms_buf_addc(sql, ')');
    if (st != MS_OK)
        return ms_fail_at(err, MS_ETOOBIG, "fields", "field names too long");
    return MS_OK;
}

static enum ms_status
sqlite_create_object(struct ms_cx *cx, const json_t *props, const json_t *fields, char **object_out,
                     struct ms_error *err)
{
    static const char *const allowed[] = {"table", NULL};
    struct sqlite_cx *s = (struct sqlite_cx *)cx;
    struct ms_buf sql;
    const char *table = NULL;
    char *existing = NULL;
    enum ms_status st;
    int rc;

    if (!json_is_object(props))
        return ms_fail_at(err, MS_EINVAL, "target.create", "must be an object");
    st = ms_json_only(props, allowed, "target.create", err);
    if (st == MS_OK)
        st = ms_json_req_str(props, "table", "target.create.table", &table, err);
    if (st != MS_OK)
        return st;
    if (!sqlite_ident_ok(table, json_string_length(json_object_get(props, "table"))))
        return ms_fail_at(err, MS_EINVAL, "target.create.table",
                          "must match [A-Za-z_][A-Za-z0-9_]{0,62} and not start with sqlite_");
    ms_buf_init(&sql, SQLITE_MAX_SQL_BYTES);
    st = sqlite_create_sql(table, fields, &sql, err);
    if (st == MS_OK)
        st = ms_cx_sqlite_find_table(s, table, true, &existing, err);
    if (st == MS_OK && existing != NULL)
        st =
            ms_fail_at(err, MS_EUNPROC, "target.create.table", "table %s already exists", existing);
    if (st == MS_OK && (rc = sqlite3_exec(s->db, ms_buf_str(&sql), NULL, NULL, NULL)) != SQLITE_OK)
        st = (rc & 0xff) == SQLITE_ERROR
                 ? ms_fail_at(err, MS_EUNPROC, "target.create.table", "%s", sqlite3_errmsg(s->db))
                 : ms_cx_sqlite_fail(s, err, rc, "cannot create the table");
    if (st == MS_OK)
        *object_out = ms_xstrdup(table);
    free(existing);
    ms_buf_release(&sql);
    return st;
}

#ifdef MS_TESTING
void
sqlite_busy_ms_set(struct ms_cx *cx, int ms)
{
    sqlite3_busy_timeout(((struct sqlite_cx *)cx)->db, ms);
}
#endif

static const char *const sqlite_secrets[] = {NULL};

const struct ms_connector ms_connector_sqlite = {
    .abi = MS_CONNECTOR_ABI,
    .type = "sqlite",
    .name = "SQLite",
    .flags = MS_CX_SOURCE | MS_CX_DEST | MS_CX_CREATE,
    .size = sizeof(struct sqlite_cx),
    .secrets = sqlite_secrets,
    .schema = "{\"$schema\": \"https://json-schema.org/draft/2020-12/schema\","
              " \"title\": \"SQLite\", \"type\": \"object\","
              " \"properties\": {\"path\": {\"type\": \"string\", \"title\": \"Database file\","
              " \"description\": \"Absolute path of an existing SQLite database file on the"
              " server; it is opened read-write and never created\", \"pattern\": \"^/\"}},"
              " \"required\": [\"path\"], \"additionalProperties\": false}",
    .target_creation = "{\"supported\": true, \"properties\": [{\"id\": \"table\","
                       " \"title\": \"Table name\", \"enum\": false}]}",
    .validate = sqlite_validate,
    .model_validate = sqlite_model_validate,
    .open = sqlite_open,
    .test = sqlite_test,
    .describe = sqlite_describe,
    .fields = sqlite_fields,
    .read_begin = sqlite_read_begin,
    .read = sqlite_read,
    .read_end = sqlite_read_end,
    .objects = sqlite_objects,
    .object_fields = sqlite_object_fields,
    .create_object = sqlite_create_object,
    .write = ms_cx_sqlite_write,
    .close = sqlite_close,
    .write_begin = ms_cx_sqlite_write_begin,
    .write_end = ms_cx_sqlite_write_end,
};
