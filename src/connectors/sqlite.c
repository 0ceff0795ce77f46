/*
 * sqlite.c: the "sqlite" connector. A source reads a table or one read-only query; a
 * destination lists tables, describes their columns (PRAGMA table_info) and creates new ones.
 * The database file must exist (it is never created here) and is opened read-write with a 5 s
 * busy timeout, ATTACH disabled and SQLITE_DBCONFIG_DEFENSIVE on, so a model query can reach
 * nothing but this file. Reading streams with sqlite3_step(): one prepared statement per read,
 * finalized by read_end(). Writing prepares its statements once in write_begin() and binds them
 * per record, one transaction per batch (or one for the whole run of a full rewrite); a record
 * the table refuses is rejected alone. A connection is confined to the thread that opened it.
 */
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
#define SQLITE_MAX_SQL_BYTES ((size_t)1 << 20) /* generated CREATE TABLE text */

/* One execution's writes, between write_begin and write_end; zeroed when idle. */
struct sqlite_w {
    const struct ms_write_plan *plan; /* borrowed: the plan outlives write_end */
    struct ms_cx_cols names;          /* stored names of plan->cols, in plan order */
    char *table;                      /* owned: the stored table name */
    sqlite3_stmt *ins;                /* owned: INSERT (insert-if-absent when keyed, not append) */
    sqlite3_stmt *upd, *del;          /* owned: by key; NULL without a key */
    sqlite3_stmt *ups;                /* owned: ON CONFLICT upsert; NULL without a unique key */
    int ins_key;                      /* parameter of the key in ins (NOT EXISTS form), or 0 */
    size_t key;                       /* index of plan->key_col in plan->cols (when keyed) */
    bool keyed;                       /* plan->key_col is set */
    bool strict;                      /* mode update: an update that matches nothing is rejected */
    bool full;                        /* one transaction from write_begin to write_end */
    bool lost;                        /* the full transaction was rolled back under us */
    const char *msg;                  /* the last statement error, in the batch arena */
};

struct sqlite_cx {
    struct ms_cx base;      /* must be first */
    sqlite3 *db;            /* owned; confined to the opening thread */
    sqlite3_stmt *read;     /* the model being read, between read_begin and read_end */
    bool read_done;         /* read stepped to SQLITE_DONE: never step again (it would restart) */
    struct ms_cx_cols cols; /* column names of the read, owned until read_end */
    struct sqlite_w w;      /* the write in progress, between write_begin and write_end */
};

static void sqlite_write_release(struct sqlite_cx *s);

/* Map a SQLite failure: busy/locked is transient (the engine retries), the rest is upstream. */
static enum ms_status
sqlite_fail(struct sqlite_cx *s, struct ms_error *err, int rc, const char *what)
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
    sqlite_write_release(s); /* rolls back a full rewrite still open */
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
        return sqlite_fail(s, err, rc, "cannot read the database");
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
static enum ms_status
sqlite_quote_ident(struct ms_buf *b, const char *name)
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
static enum ms_status
sqlite_find_table(struct sqlite_cx *s, const char *name, bool views, char **stored_out,
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
        return sqlite_fail(s, err, rc, "cannot read the schema");
    return MS_OK;
}

/* Prepare SELECT * of a configured table: MS_EUNPROC naming configuration.table if unknown. */
static enum ms_status
sqlite_prepare_table(struct sqlite_cx *s, const char *table, sqlite3_stmt **out,
                     struct ms_error *err)
{
    struct ms_buf sql;
    char *stored = NULL;
    enum ms_status st = sqlite_find_table(s, table, true, &stored, err);
    int rc;

    if (st != MS_OK)
        return st;
    if (stored == NULL)
        return ms_fail_at(err, MS_EUNPROC, "configuration.table", "no such table: %s", table);
    ms_buf_init(&sql, SQLITE_MAX_SQL_BYTES);
    st = ms_buf_adds(&sql, "SELECT * FROM ");
    if (st == MS_OK)
        st = sqlite_quote_ident(&sql, stored);
    if (st != MS_OK)
        st = ms_fail_at(err, MS_ETOOBIG, "configuration.table", "table name too long");
    rc = st == MS_OK ? sqlite3_prepare_v2(s->db, ms_buf_str(&sql), -1, out, NULL) : SQLITE_OK;
    if (rc != SQLITE_OK)
        st = sqlite_fail(s, err, rc, "cannot read the table");
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
        return sqlite_fail(s, err, rc, "cannot prepare the query");
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
        st = sqlite_fail(s, err, row_rc, "cannot read the model");
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
            return sqlite_fail(s, err, rc, "cannot read the model");
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
        return sqlite_fail(s, err, rc, "cannot read the schema");
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
        return sqlite_fail(s, err, rc, "cannot read the schema");
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
    enum ms_status st = sqlite_find_table(s, object, false, &table, err);
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
        st = sqlite_fail(s, err, rc, "cannot read the table");
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

/* CREATE TABLE text for fields [{"name","type"}]; MS_EINVAL naming "fields" when malformed. */
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
        if (st == MS_OK && i > 0)
            st = ms_buf_adds(sql, ", ");
        if (st == MS_OK)
            st = sqlite_quote_ident(sql, name);
        if (st == MS_OK)
            st = ms_buf_addf(sql, " %s", sqlite_affinity(type));
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
        st = sqlite_find_table(s, table, true, &existing, err);
    if (st == MS_OK && existing != NULL)
        st =
            ms_fail_at(err, MS_EUNPROC, "target.create.table", "table %s already exists", existing);
    if (st == MS_OK && (rc = sqlite3_exec(s->db, ms_buf_str(&sql), NULL, NULL, NULL)) != SQLITE_OK)
        st = (rc & 0xff) == SQLITE_ERROR
                 ? ms_fail_at(err, MS_EUNPROC, "target.create.table", "%s", sqlite3_errmsg(s->db))
                 : sqlite_fail(s, err, rc, "cannot create the table");
    if (st == MS_OK)
        *object_out = ms_xstrdup(table);
    free(existing);
    ms_buf_release(&sql);
    return st;
}

/* ---- writing ---- */

#define SQLITE_W_MISSING (-1) /* not a SQLite code: an update matched no record */
#define SQLITE_W_KEY_TEXT 200 /* bytes of a text key quoted in a rejection */

static const struct {
    const char *mode;
    bool keyed; /* needs an identity */
} sqlite_modes[] = {
    {"create", false}, {"update", true},   {"updateOrCreate", true},
    {"remove", true},  {"replace", false}, {"append", false},
};

/* The plan as far as it does not depend on the table: a mode tables take, its identity. */
static enum ms_status
sqlite_plan_check(const struct ms_write_plan *plan, struct ms_error *err)
{
    bool mapped = plan->key_col == NULL;
    size_t m = 0;

    if (plan->object == NULL || plan->mode == NULL || (plan->ncols > 0 && plan->cols == NULL))
        return ms_fail(err, MS_EINTERNAL, "write plan without object, mode or columns");
    while (m < MS_ARRAY_LEN(sqlite_modes) && strcmp(plan->mode, sqlite_modes[m].mode) != 0)
        m++;
    if (m == MS_ARRAY_LEN(sqlite_modes))
        return ms_fail_key(err, MS_EUNSUPP, "unsupported_mode",
                           "sqlite tables do not support mode %s", plan->mode);
    if (sqlite_modes[m].keyed && plan->key_col == NULL)
        return ms_fail_at(err, MS_EUNPROC, "identity", "mode %s requires an identity", plan->mode);
    if (plan->ncols == 0)
        return ms_fail_at(err, MS_EUNPROC, "fields", "no field is mapped");
    if (plan->ncols > MS_MAX_COLUMNS)
        return ms_fail_at(err, MS_ETOOBIG, "fields", "more than %d fields", (int)MS_MAX_COLUMNS);
    for (size_t i = 0; i < plan->ncols; i++)
        if (plan->cols[i] == NULL)
            return ms_fail(err, MS_EINTERNAL, "write plan: column %zu has no name", i + 1);
    for (size_t i = 0; !mapped && i < plan->ncols; i++)
        mapped = strcmp(plan->cols[i], plan->key_col) == 0;
    if (!mapped)
        return ms_fail(err, MS_EINTERNAL, "write plan: identity field %s is not a mapped column",
                       plan->key_col);
    return MS_OK;
}

/* Column names of the table in w->table, in order, into have. */
static enum ms_status
sqlite_table_cols(struct sqlite_cx *s, struct ms_cx_cols *have, struct ms_error *err)
{
    sqlite3_stmt *stmt = NULL;
    int rc = sqlite3_prepare_v2(s->db, "SELECT name FROM pragma_table_info(?1) ORDER BY cid", -1,
                                &stmt, NULL);

    if (rc == SQLITE_OK)
        rc = sqlite3_bind_text(stmt, 1, s->w.table, -1, SQLITE_STATIC);
    while (rc == SQLITE_OK && (rc = sqlite3_step(stmt)) == SQLITE_ROW) {
        const char *name = (const char *)sqlite3_column_text(stmt, 0);

        if (name != NULL)
            ms_cx_cols_add(have, name, strlen(name));
        rc = SQLITE_OK;
    }
    sqlite3_finalize(stmt);
    if (rc != SQLITE_DONE)
        return sqlite_fail(s, err, rc, "cannot read the table");
    return MS_OK;
}

/*
 * The stored names of plan->cols into w->names, matched ASCII case-insensitively as SQLite
 * matches columns, and the key's index. MS_EUNPROC naming the first column the table lacks;
 * generated and hidden columns are not in table_info, so they count as missing (unwritable).
 */
static enum ms_status
sqlite_resolve_cols(struct sqlite_cx *s, const struct ms_write_plan *plan, struct ms_error *err)
{
    struct sqlite_w *w = &s->w;
    struct ms_cx_cols have = {0};
    enum ms_status st = sqlite_table_cols(s, &have, err);

    for (size_t i = 0; st == MS_OK && i < plan->ncols; i++) {
        size_t k = 0;

        while (k < have.n && strcasecmp(have.own[k], plan->cols[i]) != 0)
            k++;
        if (k == have.n)
            st = ms_fail_at(err, MS_EUNPROC, "fields", "table %s has no column %s", w->table,
                            plan->cols[i]);
        else if (ms_cx_cols_find(&w->names, have.own[k], strlen(have.own[k])) >= 0)
            st = ms_fail_at(err, MS_EINVAL, "fields", "column %s is mapped twice", have.own[k]);
        else
            ms_cx_cols_add(&w->names, have.own[k], strlen(have.own[k]));
        if (plan->key_col != NULL && strcmp(plan->cols[i], plan->key_col) == 0)
            w->key = i;
    }
    ms_cx_cols_release(&have);
    return st;
}

/*
 * Whether ON CONFLICT(key) can name the key: a UNIQUE or PRIMARY KEY index (not partial) on
 * exactly that column, or the key is the table's only primary-key column (a rowid alias has
 * no index, and any other single-column primary key has one).
 */
static enum ms_status
sqlite_key_unique(struct sqlite_cx *s, const char *key, bool *out, struct ms_error *err)
{
    static const char sql[] =
        "SELECT 1 FROM pragma_index_list(?1) AS il WHERE il.\"unique\" AND NOT il.partial "
        "AND (SELECT count(*) FROM pragma_index_info(il.name)) = 1 "
        "AND (SELECT name FROM pragma_index_info(il.name)) = ?2 COLLATE NOCASE "
        "UNION ALL SELECT 1 FROM pragma_table_info(?1) WHERE pk = 1 AND name = ?2 COLLATE NOCASE "
        "AND (SELECT count(*) FROM pragma_table_info(?1) WHERE pk > 0) = 1";
    sqlite3_stmt *stmt = NULL;
    int rc = sqlite3_prepare_v2(s->db, sql, -1, &stmt, NULL);

    if (rc == SQLITE_OK)
        rc = sqlite3_bind_text(stmt, 1, s->w.table, -1, SQLITE_STATIC);
    if (rc == SQLITE_OK)
        rc = sqlite3_bind_text(stmt, 2, key, -1, SQLITE_STATIC);
    if (rc == SQLITE_OK)
        rc = sqlite3_step(stmt);
    sqlite3_finalize(stmt);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        return sqlite_fail(s, err, rc, "cannot read the table's indexes");
    *out = rc == SQLITE_ROW;
    return MS_OK;
}

enum { SQLITE_LIST_NAMES, SQLITE_LIST_SET, SQLITE_LIST_EXCLUDED };

/* The written columns except index skip, comma-separated: "c" / "c" = ?i / "c" = excluded."c". */
static enum ms_status
sqlite_sql_list(struct ms_buf *b, const struct ms_cx_cols *names, size_t skip, int style)
{
    enum ms_status st = MS_OK;
    bool first = true;

    for (size_t i = 0; st == MS_OK && i < names->n; i++) {
        if (i == skip)
            continue;
        if (!first)
            st = ms_buf_adds(b, ", ");
        first = false;
        if (st == MS_OK)
            st = sqlite_quote_ident(b, names->own[i]);
        if (st == MS_OK && style == SQLITE_LIST_SET)
            st = ms_buf_addf(b, " = ?%zu", i + 1);
        if (st == MS_OK && style == SQLITE_LIST_EXCLUDED)
            st = ms_buf_adds(b, " = excluded.");
        if (st == MS_OK && style == SQLITE_LIST_EXCLUDED)
            st = sqlite_quote_ident(b, names->own[i]);
    }
    return st;
}

enum { SQLITE_INS_PLAIN, SQLITE_INS_NOTHING, SQLITE_INS_ABSENT, SQLITE_INS_UPSERT };

/*
 * INSERT INTO "t" ("c1", …) VALUES (?1, …), plus per form: ON CONFLICT("k") DO NOTHING, or
 * DO UPDATE SET every other column from excluded; or, without a unique index, the
 * insert-if-absent SELECT ?1, … WHERE NOT EXISTS (SELECT 1 FROM "t" WHERE "k" = ?n+1).
 */
static enum ms_status
sqlite_sql_insert(const struct sqlite_w *w, int form, struct ms_buf *b)
{
    size_t n = w->names.n;
    enum ms_status st = ms_buf_adds(b, "INSERT INTO ");

    if (st == MS_OK)
        st = sqlite_quote_ident(b, w->table);
    if (st == MS_OK)
        st = ms_buf_adds(b, " (");
    if (st == MS_OK)
        st = sqlite_sql_list(b, &w->names, SIZE_MAX, SQLITE_LIST_NAMES);
    if (st == MS_OK)
        st = ms_buf_adds(b, form == SQLITE_INS_ABSENT ? ") SELECT " : ") VALUES (");
    for (size_t i = 0; st == MS_OK && i < n; i++)
        st = ms_buf_addf(b, "%s?%zu", i > 0 ? ", " : "", i + 1);
    if (st == MS_OK && form != SQLITE_INS_ABSENT)
        st = ms_buf_addc(b, ')');
    if (st != MS_OK || form == SQLITE_INS_PLAIN)
        return st;
    st = ms_buf_adds(b, form == SQLITE_INS_ABSENT ? " WHERE NOT EXISTS (SELECT 1 FROM "
                                                  : " ON CONFLICT (");
    if (st == MS_OK)
        st = sqlite_quote_ident(b, form == SQLITE_INS_ABSENT ? w->table : w->names.own[w->key]);
    if (st == MS_OK && form == SQLITE_INS_ABSENT)
        st = ms_buf_adds(b, " WHERE ");
    if (st == MS_OK && form == SQLITE_INS_ABSENT)
        st = sqlite_quote_ident(b, w->names.own[w->key]);
    if (st == MS_OK && form == SQLITE_INS_ABSENT)
        return ms_buf_addf(b, " = ?%zu)", n + 1);
    if (st == MS_OK && (form == SQLITE_INS_NOTHING || n == 1))
        return ms_buf_adds(b, ") DO NOTHING");
    if (st == MS_OK)
        st = ms_buf_adds(b, ") DO UPDATE SET ");
    if (st == MS_OK)
        st = sqlite_sql_list(b, &w->names, w->key, SQLITE_LIST_EXCLUDED);
    return st;
}

/* UPDATE "t" SET every other column = ?i WHERE "k" = ?n+1 (SET "k" = "k" when it is alone),
 * or, for del, DELETE FROM "t" WHERE "k" = ?1. */
static enum ms_status
sqlite_sql_keyed(const struct sqlite_w *w, bool del, struct ms_buf *b)
{
    const char *key = w->names.own[w->key];
    enum ms_status st = ms_buf_adds(b, del ? "DELETE FROM " : "UPDATE ");

    if (st == MS_OK)
        st = sqlite_quote_ident(b, w->table);
    if (st == MS_OK && !del)
        st = ms_buf_adds(b, " SET ");
    if (st == MS_OK && !del && w->names.n > 1)
        st = sqlite_sql_list(b, &w->names, w->key, SQLITE_LIST_SET);
    if (st == MS_OK && !del && w->names.n == 1) {
        st = sqlite_quote_ident(b, key);
        if (st == MS_OK)
            st = ms_buf_adds(b, " = ");
        if (st == MS_OK)
            st = sqlite_quote_ident(b, key);
    }
    if (st == MS_OK)
        st = ms_buf_adds(b, " WHERE ");
    if (st == MS_OK)
        st = sqlite_quote_ident(b, key);
    if (st == MS_OK)
        st = ms_buf_addf(b, " = ?%zu", del ? (size_t)1 : w->names.n + 1);
    return st;
}

/* Prepare the text built in sql (built: the builder's status) for the whole run. */
static enum ms_status
sqlite_w_prepare(struct sqlite_cx *s, struct ms_buf *sql, enum ms_status built, sqlite3_stmt **out,
                 struct ms_error *err)
{
    enum ms_status st = MS_OK;
    int rc;

    if (built != MS_OK)
        return ms_fail_at(err, MS_ETOOBIG, "fields", "write statement over %zu bytes",
                          SQLITE_MAX_SQL_BYTES);
    rc = sqlite3_prepare_v3(s->db, ms_buf_str(sql), -1, SQLITE_PREPARE_PERSISTENT, out, NULL);
    if (rc != SQLITE_OK && (rc & 0xff) == SQLITE_ERROR)
        st = ms_fail_at(err, MS_EUNPROC, "target.object", "%s: %s", s->w.table,
                        sqlite3_errmsg(s->db));
    else if (rc != SQLITE_OK)
        st = sqlite_fail(s, err, rc, "cannot prepare a write");
    ms_buf_reset(sql);
    return st;
}

/*
 * The statements of the run. INSERT ops are insert-if-absent when the plan has a key (except
 * in append mode, which adds a row per change), so a batch re-sent after a crash adds nothing
 * twice: ON CONFLICT DO NOTHING with a unique index on the key, else WHERE NOT EXISTS.
 */
static enum ms_status
sqlite_w_statements(struct sqlite_cx *s, bool unique, struct ms_error *err)
{
    struct sqlite_w *w = &s->w;
    bool dedupe = w->keyed && strcmp(w->plan->mode, "append") != 0;
    int form = !dedupe ? SQLITE_INS_PLAIN : unique ? SQLITE_INS_NOTHING : SQLITE_INS_ABSENT;
    struct ms_buf b;
    enum ms_status st;

    ms_buf_init(&b, SQLITE_MAX_SQL_BYTES);
    st = sqlite_w_prepare(s, &b, sqlite_sql_insert(w, form, &b), &w->ins, err);
    w->ins_key = form == SQLITE_INS_ABSENT ? (int)w->names.n + 1 : 0;
    if (st == MS_OK && w->keyed)
        st = sqlite_w_prepare(s, &b, sqlite_sql_keyed(w, false, &b), &w->upd, err);
    if (st == MS_OK && w->keyed)
        st = sqlite_w_prepare(s, &b, sqlite_sql_keyed(w, true, &b), &w->del, err);
    if (st == MS_OK && w->keyed && unique)
        st = sqlite_w_prepare(s, &b, sqlite_sql_insert(w, SQLITE_INS_UPSERT, &b), &w->ups, err);
    ms_buf_release(&b);
    return st;
}

/* A full rewrite: one transaction from here to write_end, starting with an empty table. */
static enum ms_status
sqlite_w_full_begin(struct sqlite_cx *s, struct ms_error *err)
{
    struct ms_buf sql;
    enum ms_status st;
    int rc = sqlite3_exec(s->db, "BEGIN IMMEDIATE", NULL, NULL, NULL);

    if (rc != SQLITE_OK)
        return sqlite_fail(s, err, rc, "cannot begin the rewrite");
    ms_buf_init(&sql, SQLITE_MAX_SQL_BYTES);
    st = ms_buf_adds(&sql, "DELETE FROM ");
    if (st == MS_OK)
        st = sqlite_quote_ident(&sql, s->w.table);
    if (st != MS_OK)
        st = ms_fail_at(err, MS_ETOOBIG, "target.object", "table name too long");
    else if ((rc = sqlite3_exec(s->db, ms_buf_str(&sql), NULL, NULL, NULL)) != SQLITE_OK)
        st = sqlite_fail(s, err, rc, "cannot empty the table");
    ms_buf_release(&sql);
    return st; /* on failure the caller's sqlite_write_release() rolls back */
}

/*
 * In WAL mode, synchronous=NORMAL for this connection (SQLite's advice for WAL, and what the
 * store uses): a commit is not fsynced, yet survives a crash of this process; only a power
 * loss or OS crash may roll back the last commits. A rollback journal keeps the default FULL,
 * under which NORMAL could corrupt the file on a power loss. The journal mode itself belongs to
 * the database's owner and is never changed.
 */
static enum ms_status
sqlite_w_sync_mode(struct sqlite_cx *s, struct ms_error *err)
{
    sqlite3_stmt *stmt = NULL;
    bool wal = false;
    int rc = sqlite3_prepare_v2(s->db, "PRAGMA journal_mode", -1, &stmt, NULL);

    if (rc == SQLITE_OK && (rc = sqlite3_step(stmt)) == SQLITE_ROW) {
        const char *mode = (const char *)sqlite3_column_text(stmt, 0);

        wal = mode != NULL && strcasecmp(mode, "wal") == 0;
        rc = SQLITE_OK;
    }
    sqlite3_finalize(stmt);
    if (rc == SQLITE_OK && wal)
        rc = sqlite3_exec(s->db, "PRAGMA synchronous = NORMAL", NULL, NULL, NULL);
    if (rc != SQLITE_OK)
        return sqlite_fail(s, err, rc, "cannot read the journal mode");
    return MS_OK;
}

/* Finalize the run's statements and roll back a transaction still open; w is zeroed. */
static void
sqlite_write_release(struct sqlite_cx *s)
{
    struct sqlite_w *w = &s->w;

    if (w->plan != NULL && !sqlite3_get_autocommit(s->db))
        sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
    sqlite3_finalize(w->ins);
    sqlite3_finalize(w->upd);
    sqlite3_finalize(w->del);
    sqlite3_finalize(w->ups);
    ms_cx_cols_release(&w->names);
    free(w->table);
    memset(w, 0, sizeof(*w));
}

/*
 * The table must exist and hold every column of the plan; the statements are prepared here,
 * once, and bound per record by write(). A full rewrite opens its transaction here.
 */
static enum ms_status
sqlite_write_begin(struct ms_cx *cx, const struct ms_write_plan *plan, struct ms_error *err)
{
    struct sqlite_cx *s = (struct sqlite_cx *)cx;
    struct sqlite_w *w = &s->w;
    bool unique = false;
    enum ms_status st;

    sqlite_write_release(s);
    st = sqlite_plan_check(plan, err);
    if (st != MS_OK)
        return st;
    w->plan = plan;
    w->keyed = plan->key_col != NULL;
    w->strict = strcmp(plan->mode, "update") == 0;
    w->full = plan->full;
    st = sqlite_find_table(s, plan->object, false, &w->table, err);
    if (st == MS_OK && w->table == NULL)
        st = ms_fail_at(err, MS_EUNPROC, "target.object", "no such table: %s", plan->object);
    if (st == MS_OK)
        st = sqlite_resolve_cols(s, plan, err);
    if (st == MS_OK && w->keyed)
        st = sqlite_key_unique(s, w->names.own[w->key], &unique, err);
    if (st == MS_OK)
        st = sqlite_w_statements(s, unique, err);
    if (st == MS_OK)
        st = sqlite_w_sync_mode(s, err);
    if (st == MS_OK && w->full)
        st = sqlite_w_full_begin(s, err);
    if (st != MS_OK)
        sqlite_write_release(s);
    return st;
}

static int
sqlite_bind_value(sqlite3_stmt *stmt, int i, const struct ms_value *v)
{
    switch (v->type) {
    case MS_V_INT:
        return sqlite3_bind_int64(stmt, i, v->u.i);
    case MS_V_REAL:
        return sqlite3_bind_double(stmt, i, v->u.d);
    case MS_V_BOOL:
        return sqlite3_bind_int(stmt, i, v->u.b ? 1 : 0);
    case MS_V_TEXT: /* the batch arena outlives the step: no copy */
        return sqlite3_bind_text64(stmt, i, v->u.s.p, v->u.s.len, SQLITE_STATIC, SQLITE_UTF8);
    case MS_V_NULL:
        break;
    }
    return sqlite3_bind_null(stmt, i);
}

/*
 * Bind op's values to ?1..?n (when vals) and its key to ?key_at (when > 0), step once, reset.
 * Returns SQLite's code; on an error its message is copied to w->msg (batch arena) first,
 * since the reset may replace it. Every parameter is bound again on each call, so bindings
 * left pointing into an earlier batch's arena are never read.
 */
static int
sqlite_w_step(struct sqlite_cx *s, sqlite3_stmt *stmt, const struct ms_op *op, bool vals,
              int key_at, struct ms_arena *arena)
{
    int rc = SQLITE_OK;

    for (size_t i = 0; vals && rc == SQLITE_OK && i < s->w.names.n; i++)
        rc = sqlite_bind_value(stmt, (int)i + 1, &op->vals[i]);
    if (rc == SQLITE_OK && key_at > 0)
        rc = sqlite_bind_value(stmt, key_at, &op->key);
    if (rc == SQLITE_OK)
        rc = sqlite3_step(stmt);
    if (rc != SQLITE_DONE)
        s->w.msg = ms_arena_strdup(arena, sqlite3_errmsg(s->db));
    sqlite3_reset(stmt);
    return rc;
}

/* "no record with <key_col> = <key>", in the batch arena. */
static const char *
sqlite_missing_msg(const struct sqlite_w *w, const struct ms_value *k, struct ms_arena *a)
{
    const char *col = w->plan->key_col;

    switch (k->type) {
    case MS_V_INT:
        return ms_arena_printf(a, "no record with %s = %lld", col, (long long)k->u.i);
    case MS_V_REAL:
        return ms_arena_printf(a, "no record with %s = %.17g", col, k->u.d);
    case MS_V_BOOL:
        return ms_arena_printf(a, "no record with %s = %s", col, k->u.b ? "true" : "false");
    case MS_V_TEXT:
        return ms_arena_printf(
            a, "no record with %s = %.*s", col,
            (int)(k->u.s.len > SQLITE_W_KEY_TEXT ? SQLITE_W_KEY_TEXT : k->u.s.len), k->u.s.p);
    case MS_V_NULL:
        break;
    }
    return ms_arena_printf(a, "no record with %s = null", col);
}

/*
 * One op; returns SQLITE_DONE, SQLITE_W_MISSING (w->msg set) or SQLite's error. An update
 * that matches nothing inserts the record, except in update mode where it is rejected: an
 * upsert without a unique index on the key is exactly that (UPDATE, then INSERT when
 * sqlite3_changes() is 0). A delete of a missing key is acknowledged: the record is gone.
 */
static int
sqlite_w_op(struct sqlite_cx *s, const struct ms_op *op, struct ms_arena *arena)
{
    struct sqlite_w *w = &s->w;
    int rc;

    if (op->kind == MS_OP_INSERT)
        return sqlite_w_step(s, w->ins, op, true, w->ins_key, arena);
    if (op->kind == MS_OP_DELETE)
        return sqlite_w_step(s, w->del, op, false, 1, arena);
    if (op->kind == MS_OP_UPSERT && w->ups != NULL)
        return sqlite_w_step(s, w->ups, op, true, 0, arena);
    rc = sqlite_w_step(s, w->upd, op, true, (int)w->names.n + 1, arena);
    if (rc != SQLITE_DONE || sqlite3_changes(s->db) > 0)
        return rc;
    if (op->kind == MS_OP_UPDATE && w->strict) {
        w->msg = sqlite_missing_msg(w, &op->key, arena);
        return SQLITE_W_MISSING;
    }
    return sqlite_w_step(s, w->ins, op, true, w->ins_key, arena);
}

/* Whether a failed statement is this record's fault (the others can still be written). */
static bool
sqlite_w_rejectable(int rc)
{
    return rc == SQLITE_W_MISSING || (rc & 0xff) == SQLITE_CONSTRAINT ||
           (rc & 0xff) == SQLITE_MISMATCH || (rc & 0xff) == SQLITE_TOOBIG;
}

/* A failure of the whole batch, with the message captured before the statement's reset. */
static enum ms_status
sqlite_w_fail(struct sqlite_cx *s, int rc, struct ms_error *err)
{
    enum ms_status st =
        (rc & 0xff) == SQLITE_BUSY || (rc & 0xff) == SQLITE_LOCKED ? MS_EBUSY : MS_EUPSTREAM;

    st = ms_fail(err, st, "cannot write to %s: %s", s->w.table,
                 s->w.msg != NULL ? s->w.msg : sqlite3_errstr(rc));
    if (err != NULL)
        err->native = rc;
    return st;
}

static enum ms_status
sqlite_w_lost(struct sqlite_cx *s, struct ms_error *err)
{
    s->w.lost = true;
    return ms_fail(
        err, MS_EUPSTREAM,
        "cannot write to %s: the table's conflict resolution rolled back the rewrite%s%s",
        s->w.table, s->w.msg != NULL ? ": " : "", s->w.msg != NULL ? s->w.msg : "");
}

/*
 * Run the ops not rejected yet. A refused record is rejected and the rest go on: under the
 * default ABORT resolution a failed statement undoes only itself, so no savepoint per record
 * is needed. A table declared ON CONFLICT ROLLBACK (or a trigger's RAISE(ROLLBACK)) ends the
 * whole transaction instead: *lost tells the caller to run the batch again without the record.
 */
static enum ms_status
sqlite_w_apply(struct sqlite_cx *s, struct ms_ops *ops, bool *lost, struct ms_error *err)
{
    for (size_t i = 0; i < ops->n; i++) {
        struct ms_op *op = &ops->op[i];
        int rc;

        if (op->rejected)
            continue;
        if ((op->vals == NULL && op->kind != MS_OP_DELETE) ||
            (!s->w.keyed && op->kind != MS_OP_INSERT))
            return ms_fail(err, MS_EINTERNAL, "op %zu: kind %d without values or identity", i,
                           (int)op->kind);
        rc = sqlite_w_op(s, op, ops->arena);
        if (rc == SQLITE_DONE)
            continue;
        if (!sqlite_w_rejectable(rc))
            return sqlite_w_fail(s, rc, err);
        op->rejected = true;
        op->error = s->w.msg;
        if (sqlite3_get_autocommit(s->db)) {
            *lost = true;
            return MS_OK;
        }
    }
    return MS_OK;
}

/* Undo the batch: its transaction, or its savepoint inside a full rewrite. */
static void
sqlite_w_batch_rollback(struct sqlite_cx *s)
{
    if (sqlite3_get_autocommit(s->db)) {
        s->w.lost = s->w.lost || s->w.full;
        return;
    }
    sqlite3_exec(s->db, s->w.full ? "ROLLBACK TO ms_batch; RELEASE ms_batch" : "ROLLBACK", NULL,
                 NULL, NULL);
}

/*
 * A batch is its own transaction (BEGIN IMMEDIATE, so a lock held elsewhere shows up as BUSY
 * before anything is written), or a savepoint inside a full rewrite's transaction, so that a
 * failed batch leaves nothing of itself behind and the engine may send it again.
 */
static enum ms_status
sqlite_w_batch_begin(struct sqlite_cx *s, struct ms_error *err)
{
    int rc;

    if (s->w.full && (s->w.lost || sqlite3_get_autocommit(s->db)))
        return sqlite_w_lost(s, err);
    rc =
        sqlite3_exec(s->db, s->w.full ? "SAVEPOINT ms_batch" : "BEGIN IMMEDIATE", NULL, NULL, NULL);
    if (rc != SQLITE_OK)
        return sqlite_fail(s, err, rc, "cannot begin a transaction");
    return MS_OK;
}

static enum ms_status
sqlite_w_batch_commit(struct sqlite_cx *s, struct ms_error *err)
{
    enum ms_status st;
    int rc = sqlite3_exec(s->db, s->w.full ? "RELEASE ms_batch" : "COMMIT", NULL, NULL, NULL);

    if (rc == SQLITE_OK)
        return MS_OK;
    st = sqlite_fail(s, err, rc, "cannot commit");
    sqlite_w_batch_rollback(s);
    return st;
}

static enum ms_status
sqlite_write(struct ms_cx *cx, struct ms_ops *ops, struct ms_error *err)
{
    struct sqlite_cx *s = (struct sqlite_cx *)cx;
    enum ms_status st;

    if (s->w.plan == NULL)
        return ms_fail(err, MS_EINTERNAL, "write() without write_begin()");
    for (size_t i = 0; i < ops->n; i++) {
        ops->op[i].rejected = false;
        ops->op[i].error = NULL;
    }
    s->w.msg = NULL;
    for (;;) {
        bool lost = false;

        st = sqlite_w_batch_begin(s, err);
        if (st == MS_OK)
            st = sqlite_w_apply(s, ops, &lost, err);
        if (st != MS_OK) {
            sqlite_w_batch_rollback(s);
            break;
        }
        if (lost && !s->w.full)
            continue; /* rolled back: again, without the record just rejected */
        st = lost ? sqlite_w_lost(s, err) : sqlite_w_batch_commit(s, err);
        break;
    }
    for (size_t i = 0; st != MS_OK && i < ops->n; i++) {
        ops->op[i].rejected = false; /* nothing of a failed batch counts, rejections neither */
        ops->op[i].error = NULL;
    }
    return st;
}

/* Commit a full rewrite (or roll it back), then release the run's statements. */
static enum ms_status
sqlite_write_end(struct ms_cx *cx, bool commit, struct ms_error *err)
{
    struct sqlite_cx *s = (struct sqlite_cx *)cx;
    enum ms_status st = MS_OK;
    int rc;

    if (s->w.plan != NULL && s->w.full && commit) {
        if (s->w.lost || sqlite3_get_autocommit(s->db))
            st = sqlite_w_lost(s, err);
        else if ((rc = sqlite3_exec(s->db, "COMMIT", NULL, NULL, NULL)) != SQLITE_OK)
            st = sqlite_fail(s, err, rc, "cannot commit the rewrite");
    }
    sqlite_write_release(s); /* rolls back whatever is still open */
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
    .write = sqlite_write,
    .close = sqlite_close,
    .write_begin = sqlite_write_begin,
    .write_end = sqlite_write_end,
};
