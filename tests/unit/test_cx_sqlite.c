/* tests/unit/test_cx_sqlite.c: the sqlite connector (connectors/sqlite.c) against real database
 * files built with the SQLite API in a temporary directory. */
#include <criterion/criterion.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "connectors/connector.h"
#include "core/arena.h"
#include "core/crypto.h"

#define SQ_ROWS 3000

static char sq_dir[64];
static char sq_db[128];

static void
sq_exec(sqlite3 *db, const char *sql)
{
    char *msg = NULL;

    cr_assert_eq(sqlite3_exec(db, sql, NULL, NULL, &msg), SQLITE_OK, "%s: %s", sql, msg);
}

/* Row i (1-based) of users, as the fixture writes it and the tests expect it back. */
static void
sq_user_name(int i, char *out, size_t n)
{
    if (i % 500 == 0)
        snprintf(out, n, "ü'\"%d", i);
    else
        snprintf(out, n, "user-%d", i);
}

static void
sq_fill_users(sqlite3 *db)
{
    sqlite3_stmt *st = NULL;

    cr_assert_eq(sqlite3_prepare_v2(db, "INSERT INTO users VALUES (?,?,?,?,?,?,?)", -1, &st, NULL),
                 SQLITE_OK);
    for (int i = 1; i <= SQ_ROWS; i++) {
        char name[64], born[32];
        unsigned char blob[5] = {0, 1, 2, 0xff, (unsigned char)i};

        sq_user_name(i, name, sizeof(name));
        snprintf(born, sizeof(born), "2024-01-%02dT00:00:00Z", i % 28 + 1);
        sqlite3_bind_int64(st, 1, i);
        sqlite3_bind_text(st, 2, name, -1, SQLITE_TRANSIENT);
        if (i % 5 == 0)
            sqlite3_bind_null(st, 3);
        else
            sqlite3_bind_double(st, 3, i * 0.25);
        sqlite3_bind_int(st, 4, i % 2);
        if (i % 7 == 0)
            sqlite3_bind_null(st, 5);
        else
            sqlite3_bind_text(st, 5, born, -1, SQLITE_TRANSIENT);
        if (i % 100 == 0)
            sqlite3_bind_blob(st, 6, blob, sizeof(blob), SQLITE_TRANSIENT);
        else
            sqlite3_bind_null(st, 6);
        if (i % 3 == 0)
            sqlite3_bind_int64(st, 7, i);
        else
            sqlite3_bind_text(st, 7, "n", 1, SQLITE_STATIC);
        cr_assert_eq(sqlite3_step(st), SQLITE_DONE);
        sqlite3_reset(st);
    }
    sqlite3_finalize(st);
}

static void
sq_setup(void)
{
    sqlite3 *db = NULL;

    snprintf(sq_dir, sizeof(sq_dir), "/tmp/ms-cx-sqlite-XXXXXX");
    cr_assert_not_null(mkdtemp(sq_dir));
    snprintf(sq_db, sizeof(sq_db), "%s/test.db", sq_dir);
    cr_assert_eq(sqlite3_open(sq_db, &db), SQLITE_OK);
    sq_exec(db, "BEGIN");
    sq_exec(db, "CREATE TABLE users (id INTEGER PRIMARY KEY, name VARCHAR(40) NOT NULL,"
                " score REAL, active BOOLEAN, born DATETIME, data BLOB, note)");
    sq_fill_users(db);
    sq_exec(db, "CREATE TABLE \"we\"\"ird\" (k TEXT NOT NULL DEFAULT 'x', v INT)");
    sq_exec(db, "INSERT INTO \"we\"\"ird\" VALUES ('a', 1), ('b', NULL)");
    sq_exec(db, "CREATE TABLE accounts (code INTEGER NOT NULL PRIMARY KEY, total NUMERIC NOT "
                "NULL) WITHOUT ROWID");
    sq_exec(db, "CREATE TABLE empty_t (a TEXT, b INTEGER)");
    sq_exec(db, "CREATE TABLE keys_t (alias INTEGER PRIMARY KEY NOT NULL, x TEXT)");
    sq_exec(db, "CREATE TABLE desc_t (id INTEGER PRIMARY KEY DESC NOT NULL, x TEXT)");
    sq_exec(db, "CREATE VIEW v_active AS SELECT id, name FROM users WHERE active");
    sq_exec(db, "CREATE INDEX users_name ON users (name)");
    sq_exec(db, "COMMIT");
    sqlite3_close(db);
}

static void
sq_teardown(void)
{
    char path[160];

    snprintf(path, sizeof(path), "%s/notadb.db", sq_dir);
    unlink(path);
    unlink(sq_db);
    rmdir(sq_dir);
}

TestSuite(cx_sqlite, .init = sq_setup, .fini = sq_teardown);

static struct ms_cx *
sq_open(void)
{
    struct ms_cx *cx = NULL;
    struct ms_error err = {0};
    json_t *cfg = json_pack("{s:s}", "path", sq_db);

    cr_assert_eq(ms_cx_open(&ms_connector_sqlite, cfg, &cx, &err), MS_OK, "%s", err.msg);
    json_decref(cfg);
    return cx;
}

/* Run a connector call expecting st; err->field must equal field when given. */
static void
sq_expect_err(enum ms_status got, enum ms_status want, const struct ms_error *err,
              const char *field, const char *what)
{
    cr_expect_eq(got, want, "%s: status %d, want %d (%s)", what, got, want, err->msg);
    if (field != NULL)
        cr_expect_str_eq(err->field, field, "%s: %s", what, err->msg);
}

static enum ms_status
sq_validate_text(const char *text, struct ms_error *err)
{
    json_t *cfg = json_loads(text, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
    enum ms_status st;

    cr_assert_not_null(cfg, "%s", text);
    memset(err, 0, sizeof(*err));
    st = ms_connector_sqlite.validate(cfg, err);
    json_decref(cfg);
    return st;
}

Test(cx_sqlite, validate_configuration)
{
    struct ms_error err;

    cr_expect_eq(sq_validate_text("{\"path\": \"/data/x.db\"}", &err), MS_OK, "%s", err.msg);
    sq_expect_err(sq_validate_text("{}", &err), MS_EINVAL, &err, "configuration.path", "missing");
    sq_expect_err(sq_validate_text("{\"path\": 3}", &err), MS_EINVAL, &err, "configuration.path",
                  "wrong type");
    sq_expect_err(sq_validate_text("{\"path\": \"x.db\"}", &err), MS_EINVAL, &err,
                  "configuration.path", "relative");
    sq_expect_err(sq_validate_text("{\"path\": \"/a\\u0000b\"}", &err), MS_EINVAL, &err,
                  "configuration.path", "NUL byte");
    sq_expect_err(sq_validate_text("{\"path\": \"/x.db\", \"mode\": \"ro\"}", &err), MS_EINVAL,
                  &err, "configuration.mode", "extra member");
    sq_expect_err(sq_validate_text("[\"/x.db\"]", &err), MS_EINVAL, &err, "configuration",
                  "not an object");
}

static enum ms_status
sq_model_validate_text(const char *text, struct ms_error *err)
{
    json_t *m = json_loads(text, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
    enum ms_status st;

    cr_assert_not_null(m, "%s", text);
    memset(err, 0, sizeof(*err));
    st = ms_connector_sqlite.model_validate(m, err);
    json_decref(m);
    return st;
}

Test(cx_sqlite, validate_model_configuration)
{
    struct ms_error err;

    cr_expect_eq(sq_model_validate_text("{\"table\": \"users\"}", &err), MS_OK);
    cr_expect_eq(sq_model_validate_text("{\"query\": \"SELECT 1\"}", &err), MS_OK);
    sq_expect_err(sq_model_validate_text("{}", &err), MS_EINVAL, &err, "configuration", "none");
    sq_expect_err(sq_model_validate_text("{\"table\": \"a\", \"query\": \"SELECT 1\"}", &err),
                  MS_EINVAL, &err, "configuration", "both");
    sq_expect_err(sq_model_validate_text("{\"table\": \"\"}", &err), MS_EINVAL, &err,
                  "configuration.table", "empty table");
    sq_expect_err(sq_model_validate_text("{\"query\": \"\"}", &err), MS_EINVAL, &err,
                  "configuration.query", "empty query");
    sq_expect_err(sq_model_validate_text("{\"table\": 7}", &err), MS_EINVAL, &err,
                  "configuration.table", "wrong type");
    sq_expect_err(sq_model_validate_text("{\"query\": [\"SELECT 1\"]}", &err), MS_EINVAL, &err,
                  "configuration.query", "wrong type");
    sq_expect_err(sq_model_validate_text("{\"table\": \"a\", \"schema\": \"main\"}", &err),
                  MS_EINVAL, &err, "configuration.schema", "extra member");
    sq_expect_err(sq_model_validate_text("\"users\"", &err), MS_EINVAL, &err, "configuration",
                  "not an object");
}

Test(cx_sqlite, open_and_test_failures)
{
    struct ms_cx *cx = NULL;
    struct ms_error err = {0};
    char path[160], missing[160];
    json_t *cfg;
    FILE *f;

    snprintf(missing, sizeof(missing), "%s/missing.db", sq_dir);
    cfg = json_pack("{s:s}", "path", missing);
    cr_expect_eq(ms_cx_open(&ms_connector_sqlite, cfg, &cx, &err), MS_EUPSTREAM);
    cr_expect(strncmp(err.msg, "cannot open ", 12) == 0, "%s", err.msg);
    cr_expect_null(cx);
    cr_expect_neq(access(missing, F_OK), 0, "open must not create the file");
    json_decref(cfg);

    snprintf(path, sizeof(path), "%s/notadb.db", sq_dir);
    f = fopen(path, "w");
    cr_assert_not_null(f);
    fputs("this is certainly not a database file, but long enough to have a header......\n", f);
    fclose(f);
    cfg = json_pack("{s:s}", "path", path);
    cr_assert_eq(ms_cx_open(&ms_connector_sqlite, cfg, &cx, &err), MS_OK, "%s", err.msg);
    memset(&err, 0, sizeof(err));
    cr_expect_eq(ms_connector_sqlite.test(cx, &err), MS_EUPSTREAM);
    cr_expect(strstr(err.msg, "not a database") != NULL, "%s", err.msg);
    ms_cx_close(cx);
    json_decref(cfg);

    cx = sq_open();
    cr_expect_eq(ms_connector_sqlite.test(cx, &err), MS_OK, "%s", err.msg);
    ms_cx_close(cx);
}

static json_t *
sq_fields(struct ms_cx *cx, const char *model_text, enum ms_status want, struct ms_error *err)
{
    json_t *m = json_loads(model_text, 0, NULL), *out = NULL;
    enum ms_status st;

    cr_assert_not_null(m, "%s", model_text);
    memset(err, 0, sizeof(*err));
    st = cx->impl->fields(cx, m, &out, err);
    cr_expect_eq(st, want, "%s: %s", model_text, err->msg);
    json_decref(m);
    return st == MS_OK ? out : NULL;
}

static void
sq_expect_field(json_t *fields, size_t i, const char *name, const char *type, const char *remote)
{
    json_t *f = json_array_get(fields, i);

    cr_assert_not_null(f, "field %zu", i);
    cr_expect_str_eq(json_string_value(json_object_get(f, "name")), name);
    cr_expect_str_eq(json_string_value(json_object_get(f, "type")), type, "%s", name);
    cr_expect_str_eq(json_string_value(json_object_get(f, "remote_type")), remote, "%s", name);
}

Test(cx_sqlite, fields_of_a_table_and_queries)
{
    struct ms_cx *cx = sq_open();
    struct ms_error err;
    json_t *f = sq_fields(cx, "{\"table\": \"users\"}", MS_OK, &err);

    cr_assert_eq(json_array_size(f), 7);
    sq_expect_field(f, 0, "id", "number", "INTEGER");
    sq_expect_field(f, 1, "name", "string", "VARCHAR(40)");
    sq_expect_field(f, 2, "score", "number", "REAL");
    sq_expect_field(f, 3, "active", "boolean", "BOOLEAN");
    sq_expect_field(f, 4, "born", "datetime", "DATETIME");
    sq_expect_field(f, 5, "data", "string", "BLOB");
    sq_expect_field(f, 6, "note", "string", "TEXT"); /* undeclared: row 1 holds text */
    json_decref(f);

    f = sq_fields(cx,
                  "{\"query\": \"SELECT 1 AS a, 'x' AS b, 2.5 AS c, NULL AS d, id FROM users"
                  " ORDER BY id\"}",
                  MS_OK, &err);
    cr_assert_eq(json_array_size(f), 5);
    sq_expect_field(f, 0, "a", "number", "INTEGER");
    sq_expect_field(f, 1, "b", "string", "TEXT");
    sq_expect_field(f, 2, "c", "number", "REAL");
    sq_expect_field(f, 3, "d", "string", "NULL");
    sq_expect_field(f, 4, "id", "number", "INTEGER");
    json_decref(f);

    f = sq_fields(cx, "{\"query\": \"SELECT a, b FROM empty_t\"}", MS_OK, &err);
    sq_expect_field(f, 0, "a", "string", "TEXT");
    sq_expect_field(f, 1, "b", "number", "INTEGER");
    json_decref(f);

    f = sq_fields(cx, "{\"table\": \"WE\\\"IRD\"}", MS_OK, &err);
    cr_expect_eq(json_array_size(f), 2, "identifiers match case-insensitively and are quoted");
    json_decref(f);
    f = sq_fields(cx, "{\"table\": \"v_active\"}", MS_OK, &err);
    cr_expect_eq(json_array_size(f), 2, "views are sources too");
    json_decref(f);
    ms_cx_close(cx);
}

Test(cx_sqlite, bad_models_are_refused)
{
    struct ms_cx *cx = sq_open();
    struct ms_error err;

    sq_fields(cx, "{\"table\": \"nope\"}", MS_EUNPROC, &err);
    cr_expect_str_eq(err.field, "configuration.table");
    sq_fields(cx, "{\"table\": \"sqlite_master\"}", MS_EUNPROC, &err);
    sq_fields(cx, "{\"table\": \"users_name\"}", MS_EUNPROC, &err); /* an index */
    sq_fields(cx, "{\"query\": \"DELETE FROM users\"}", MS_EINVAL, &err);
    cr_expect_str_eq(err.field, "configuration.query");
    sq_fields(cx, "{\"query\": \"INSERT INTO empty_t VALUES (1, 2) RETURNING a\"}", MS_EINVAL,
              &err);
    sq_fields(cx, "{\"query\": \"WITH x AS (SELECT 1) DELETE FROM users RETURNING id\"}", MS_EINVAL,
              &err);
    sq_fields(cx, "{\"query\": \"SELECT 1; DELETE FROM users\"}", MS_EINVAL, &err);
    cr_expect(strstr(err.msg, "single statement") != NULL, "%s", err.msg);
    sq_fields(cx, "{\"query\": \"SELECT 1; SELECT 2\"}", MS_EINVAL, &err);
    sq_fields(cx, "{\"query\": \"SELECT 1; garbage\"}", MS_EINVAL, &err);
    sq_fields(cx, "{\"query\": \"BEGIN\"}", MS_EINVAL, &err);
    sq_fields(cx, "{\"query\": \"ATTACH ':memory:' AS other\"}", MS_EINVAL, &err);
    sq_fields(cx, "{\"query\": \"SELEKT 1\"}", MS_EINVAL, &err);
    cr_expect_str_eq(err.field, "configuration.query");
    cr_expect(strstr(err.msg, "syntax error") != NULL, "%s", err.msg);
    sq_fields(cx, "{\"query\": \"SELECT * FROM nope\"}", MS_EINVAL, &err);
    cr_expect(strstr(err.msg, "no such table") != NULL, "%s", err.msg);
    sq_fields(cx, "{\"query\": \"-- only a comment\"}", MS_EINVAL, &err);
    sq_fields(cx, "{\"query\": \"SELECT id, id FROM users\"}", MS_EINVAL, &err);
    cr_expect(strstr(err.msg, "duplicate column") != NULL, "%s", err.msg);
    json_decref(
        sq_fields(cx, "{\"query\": \"SELECT 1 AS one; -- trailing comment\\n ;\"}", MS_OK, &err));
    cr_expect_eq(access(sq_db, F_OK), 0);
    ms_cx_close(cx);
}

/* Compare one users row with what sq_fill_users wrote (columns in table order). */
static void
sq_check_user(int i, const struct ms_value *row)
{
    char name[64], born[32], b64[16];
    unsigned char blob[5] = {0, 1, 2, 0xff, (unsigned char)i};

    sq_user_name(i, name, sizeof(name));
    snprintf(born, sizeof(born), "2024-01-%02dT00:00:00Z", i % 28 + 1);
    cr_assert_eq(row[0].type, MS_V_INT, "row %d", i);
    cr_assert_eq(row[0].u.i, i);
    cr_assert_eq(row[1].type, MS_V_TEXT);
    cr_assert_eq(row[1].u.s.len, strlen(name));
    cr_assert_str_eq(row[1].u.s.p, name);
    if (i % 5 == 0) {
        cr_assert_eq(row[2].type, MS_V_NULL, "row %d", i);
    } else {
        cr_assert_eq(row[2].type, MS_V_REAL, "row %d", i);
        cr_assert_eq(row[2].u.d, i * 0.25);
    }
    cr_assert_eq(row[3].type, MS_V_INT);
    cr_assert_eq(row[3].u.i, i % 2);
    if (i % 7 == 0) {
        cr_assert_eq(row[4].type, MS_V_NULL);
    } else {
        cr_assert_eq(row[4].type, MS_V_TEXT);
        cr_assert_str_eq(row[4].u.s.p, born);
    }
    if (i % 100 == 0) {
        ms_b64_encode(blob, sizeof(blob), b64);
        cr_assert_eq(row[5].type, MS_V_TEXT, "BLOB as base64 text");
        cr_assert_str_eq(row[5].u.s.p, b64);
        cr_assert_eq(row[5].u.s.len, 8);
    } else {
        cr_assert_eq(row[5].type, MS_V_NULL);
    }
    if (i % 3 == 0) {
        cr_assert_eq(row[6].type, MS_V_INT);
        cr_assert_eq(row[6].u.i, i);
    } else {
        cr_assert_eq(row[6].type, MS_V_TEXT);
        cr_assert_str_eq(row[6].u.s.p, "n");
    }
}

/*
 * Read a model with batches of cap rows the way the engine does (batch arena reset and
 * nrows = 0 before each read) and hand each row to check(row number, cells).
 */
static size_t
sq_read_all(struct ms_cx *cx, const char *model_text, size_t cap, size_t want_cols,
            void (*check)(int, const struct ms_value *))
{
    struct ms_arena *head = ms_arena_new(), *batch = ms_arena_new();
    struct ms_rows rows = {.arena = head, .cap = cap};
    struct ms_error err = {0};
    json_t *m = json_loads(model_text, 0, NULL);
    size_t total = 0;

    cr_assert_eq(cx->impl->read_begin(cx, m, &rows, &err), MS_OK, "%s", err.msg);
    cr_assert_eq(rows.ncols, want_cols);
    rows.arena = batch;
    for (;;) {
        ms_arena_reset(batch);
        rows.nrows = 0;
        cr_assert_eq(cx->impl->read(cx, &rows, &err), MS_OK, "%s", err.msg);
        cr_assert_leq(rows.nrows, cap);
        if (rows.nrows == 0)
            break;
        if (rows.nrows < cap) /* a short batch is the last one */
            cr_assert_eq(total + rows.nrows, (size_t)SQ_ROWS);
        for (size_t r = 0; r < rows.nrows; r++)
            check((int)(total + r + 1), rows.cells + r * rows.ncols);
        total += rows.nrows;
    }
    /* Once exhausted, further reads stay empty (the statement must not restart). */
    rows.nrows = 0;
    cr_assert_eq(cx->impl->read(cx, &rows, &err), MS_OK);
    cr_assert_eq(rows.nrows, 0);
    cx->impl->read_end(cx);
    json_decref(m);
    ms_arena_free(batch);
    ms_arena_free(head);
    return total;
}

Test(cx_sqlite, read_a_table_in_batches)
{
    struct ms_cx *cx = sq_open();
    static const size_t caps[] = {1, 3, 1000};

    for (size_t k = 0; k < MS_ARRAY_LEN(caps); k++)
        cr_expect_eq(sq_read_all(cx, "{\"table\": \"users\"}", caps[k], 7, sq_check_user), SQ_ROWS,
                     "cap %zu", caps[k]);
    ms_cx_close(cx);
}

static void
sq_check_query_row(int i, const struct ms_value *row)
{
    char name[64], shout[80];

    sq_user_name(i, name, sizeof(name));
    snprintf(shout, sizeof(shout), "%s!", name);
    cr_assert_eq(row[0].type, MS_V_INT);
    cr_assert_eq(row[0].u.i, i);
    cr_assert_eq(row[1].type, MS_V_TEXT);
    cr_assert_str_eq(row[1].u.s.p, shout);
    if (i % 5 == 0) {
        cr_assert_eq(row[2].type, MS_V_NULL);
    } else {
        cr_assert_eq(row[2].type, MS_V_REAL);
        cr_assert_eq(row[2].u.d, i * 0.5);
    }
    cr_assert_eq(row[3].type, MS_V_INT);
    cr_assert_eq(row[3].u.i, (int64_t)(i % 2 == 1));
}

Test(cx_sqlite, read_a_query_in_batches)
{
    static const char *const q =
        "{\"query\": \"SELECT id, name || '!' AS shout, score * 2 AS dbl, active = 1 AS on_"
        " FROM users ORDER BY id\"}";
    static const size_t caps[] = {1, 3, 1000};
    struct ms_cx *cx = sq_open();

    for (size_t k = 0; k < MS_ARRAY_LEN(caps); k++)
        cr_expect_eq(sq_read_all(cx, q, caps[k], 4, sq_check_query_row), SQ_ROWS, "cap %zu",
                     caps[k]);
    ms_cx_close(cx);
}

Test(cx_sqlite, read_end_is_safe_and_begin_restarts)
{
    struct ms_cx *cx = sq_open();
    struct ms_arena *a = ms_arena_new();
    struct ms_rows rows = {.arena = a, .cap = 2};
    struct ms_error err = {0};
    json_t *m = json_pack("{s:s}", "table", "we\"ird");

    cx->impl->read_end(cx); /* without read_begin */
    cr_assert_eq(cx->impl->read_begin(cx, m, &rows, &err), MS_OK, "%s", err.msg);
    cr_assert_eq(cx->impl->read(cx, &rows, &err), MS_OK);
    cr_expect_eq(rows.nrows, 2);
    /* A second read_begin without read_end starts over. */
    cr_assert_eq(cx->impl->read_begin(cx, m, &rows, &err), MS_OK, "%s", err.msg);
    cr_expect_str_eq(rows.cols[0], "k");
    cr_expect_str_eq(rows.cols[1], "v");
    ms_arena_reset(a);
    rows.nrows = 0;
    cr_assert_eq(cx->impl->read(cx, &rows, &err), MS_OK);
    cr_assert_eq(rows.nrows, 2);
    cr_expect_str_eq(rows.cells[0].u.s.p, "a");
    cr_expect_eq(rows.cells[1].u.i, 1);
    cr_expect_str_eq(rows.cells[2].u.s.p, "b");
    cr_expect_eq(rows.cells[3].type, MS_V_NULL);
    cx->impl->read_end(cx);
    cx->impl->read_end(cx);
    json_decref(m);
    ms_arena_free(a);
    ms_cx_close(cx); /* close after an unfinished read is fine too */
}

Test(cx_sqlite, sample_rows_as_json)
{
    struct ms_cx *cx = sq_open();
    struct ms_error err = {0};
    json_t *m = json_pack("{s:s}", "query", "SELECT id, name, score FROM users ORDER BY id");
    json_t *out = NULL, *want;

    cr_assert_eq(ms_cx_sample(cx, m, 3, &out, &err), MS_OK, "%s", err.msg);
    want = json_loads("[{\"id\": 1, \"name\": \"user-1\", \"score\": 0.25},"
                      " {\"id\": 2, \"name\": \"user-2\", \"score\": 0.5},"
                      " {\"id\": 3, \"name\": \"user-3\", \"score\": 0.75}]",
                      0, NULL);
    cr_expect(json_equal(out, want));
    json_decref(out);
    json_decref(want);
    cr_assert_eq(ms_cx_sample(cx, m, 2500, &out, &err), MS_OK, "%s", err.msg);
    cr_expect_eq(json_array_size(out), 2500, "more than one batch");
    cr_expect_eq(json_integer_value(json_object_get(json_array_get(out, 2499), "id")), 2500);
    json_decref(out);
    cr_assert_eq(ms_cx_sample(cx, m, 0, &out, &err), MS_OK);
    cr_expect_eq(json_array_size(out), 0);
    json_decref(out);
    json_decref(m);
    m = json_pack("{s:s}", "table", "missing");
    out = NULL;
    cr_expect_eq(ms_cx_sample(cx, m, 5, &out, &err), MS_EUNPROC);
    cr_expect_null(out);
    json_decref(m);
    ms_cx_close(cx);
}

Test(cx_sqlite, describe_lists_tables_and_views)
{
    struct ms_cx *cx = sq_open();
    struct ms_error err = {0};
    json_t *out = NULL, *want;

    cr_assert_eq(cx->impl->describe(cx, NULL, &out, &err), MS_OK, "%s", err.msg);
    want = json_loads("{\"items\": {\"table\": {\"has_items\": true, \"items\": [\"accounts\","
                      " \"desc_t\", \"empty_t\", \"keys_t\", \"users\", \"v_active\","
                      " \"we\\\"ird\"]},"
                      " \"query\": {\"has_items\": false}}, \"configuration\": {},"
                      " \"requires_one_of\": [\"table\", \"query\"]}",
                      0, NULL);
    cr_expect(json_equal(out, want), "%s", json_dumps(out, JSON_COMPACT));
    json_decref(out);
    json_decref(want);
    ms_cx_close(cx);
}

Test(cx_sqlite, objects_list_tables_with_modes)
{
    struct ms_cx *cx = sq_open();
    struct ms_error err = {0};
    json_t *out = NULL, *modes;
    static const char *const ids[] = {"create", "update",  "updateOrCreate",
                                      "remove", "replace", "append"};
    static const bool ident[] = {false, true, true, true, false, false};

    cr_assert_eq(cx->impl->objects(cx, &out, &err), MS_OK, "%s", err.msg);
    cr_assert_eq(json_array_size(out), 6, "tables only: %s", json_dumps(out, JSON_COMPACT));
    cr_expect_str_eq(json_string_value(json_object_get(json_array_get(out, 0), "id")), "accounts");
    cr_expect_str_eq(json_string_value(json_object_get(json_array_get(out, 2), "id")), "empty_t");
    cr_expect_str_eq(json_string_value(json_object_get(json_array_get(out, 4), "id")), "users");
    cr_expect_str_eq(json_string_value(json_object_get(json_array_get(out, 5), "name")), "we\"ird");
    modes = json_object_get(json_array_get(out, 4), "modes");
    cr_assert_eq(json_array_size(modes), 6);
    for (size_t i = 0; i < 6; i++) {
        json_t *m = json_array_get(modes, i);

        cr_expect_str_eq(json_string_value(json_object_get(m, "id")), ids[i]);
        cr_expect_eq(json_is_true(json_object_get(m, "requires_identity")), ident[i], "%s", ids[i]);
        cr_expect(json_is_false(json_object_get(m, "supports_per_field_mode")));
    }
    json_decref(out);
    ms_cx_close(cx);
}

static json_t *
sq_field_named(json_t *fields, const char *name)
{
    size_t i;
    json_t *f;

    json_array_foreach(fields, i, f)
    {
        if (strcmp(json_string_value(json_object_get(f, "name")), name) == 0)
            return f;
    }
    cr_assert_fail("no field %s", name);
    return NULL;
}

static bool
sq_required(json_t *fields, const char *name)
{
    return json_is_true(json_object_get(sq_field_named(fields, name), "required"));
}

Test(cx_sqlite, object_fields_describe_columns)
{
    struct ms_cx *cx = sq_open();
    struct ms_error err = {0};
    json_t *out = NULL, *f, *want;

    cr_assert_eq(cx->impl->object_fields(cx, "users", &out, &err), MS_OK, "%s", err.msg);
    cr_assert_eq(json_array_size(out), 7);
    want = json_loads("{\"id\": \"name\", \"name\": \"name\", \"type\": \"string\","
                      " \"source_type\": \"VARCHAR(40)\", \"description\": \"\","
                      " \"required\": true, \"createable\": true, \"updateable\": true,"
                      " \"filterable\": true, \"encryptable\": false, \"association\": false,"
                      " \"supports_identity\": true,"
                      " \"identity_functions\": [{\"id\": \"Equality\", \"label\": \"Equality\"}]}",
                      0, NULL);
    f = json_array_get(out, 1);
    cr_expect(json_equal(f, want), "%s", json_dumps(f, JSON_COMPACT));
    json_decref(want);
    cr_expect(!sq_required(out, "id"), "INTEGER PRIMARY KEY is the rowid");
    cr_expect(!sq_required(out, "score"));
    cr_expect_str_eq(json_string_value(json_object_get(sq_field_named(out, "note"), "type")),
                     "string");
    cr_expect_str_eq(json_string_value(json_object_get(sq_field_named(out, "note"), "source_type")),
                     "");
    cr_expect_str_eq(json_string_value(json_object_get(sq_field_named(out, "born"), "type")),
                     "datetime");
    json_decref(out);

    cr_assert_eq(cx->impl->object_fields(cx, "accounts", &out, &err), MS_OK, "%s", err.msg);
    cr_expect(sq_required(out, "code"), "no rowid alias in a WITHOUT ROWID table");
    cr_expect(sq_required(out, "total"));
    json_decref(out);
    cr_assert_eq(cx->impl->object_fields(cx, "keys_t", &out, &err), MS_OK, "%s", err.msg);
    cr_expect(!sq_required(out, "alias"), "a NOT NULL rowid alias is filled in by SQLite");
    json_decref(out);
    cr_assert_eq(cx->impl->object_fields(cx, "DESC_T", &out, &err), MS_OK, "%s", err.msg);
    cr_expect(sq_required(out, "id"), "INTEGER PRIMARY KEY DESC is no rowid alias");
    json_decref(out);
    cr_assert_eq(cx->impl->object_fields(cx, "we\"ird", &out, &err), MS_OK, "%s", err.msg);
    cr_expect(!sq_required(out, "k"), "NOT NULL with a default");
    json_decref(out);

    out = NULL;
    cr_expect_eq(cx->impl->object_fields(cx, "nope", &out, &err), MS_ENOTFOUND);
    cr_expect_eq(cx->impl->object_fields(cx, "v_active", &out, &err), MS_ENOTFOUND);
    cr_expect_eq(cx->impl->object_fields(cx, "sqlite_master", &out, &err), MS_ENOTFOUND);
    cr_expect_null(out);
    ms_cx_close(cx);
}

static enum ms_status
sq_create(struct ms_cx *cx, const char *props_text, const char *fields_text, char **id,
          struct ms_error *err)
{
    json_t *p = json_loads(props_text, 0, NULL), *f = json_loads(fields_text, 0, NULL);
    enum ms_status st;

    cr_assert(p != NULL && f != NULL);
    memset(err, 0, sizeof(*err));
    *id = NULL;
    st = cx->impl->create_object(cx, p, f, id, err);
    json_decref(p);
    json_decref(f);
    return st;
}

Test(cx_sqlite, create_object)
{
    static const char *const fields =
        "[{\"name\": \"id\", \"type\": \"number\"}, {\"name\": \"ok\", \"type\": \"boolean\"},"
        " {\"name\": \"when\", \"type\": \"datetime\"}, {\"name\": \"say \\\"hi\\\"\","
        " \"type\": \"string\"}, {\"name\": \"misc\", \"type\": \"object\"}]";
    struct ms_cx *cx = sq_open();
    struct ms_error err;
    json_t *out = NULL;
    char *id = NULL;

    cr_assert_eq(sq_create(cx, "{\"table\": \"New_1\"}", fields, &id, &err), MS_OK, "%s", err.msg);
    cr_expect_str_eq(id, "New_1");
    free(id);
    cr_assert_eq(cx->impl->object_fields(cx, "New_1", &out, &err), MS_OK, "%s", err.msg);
    cr_assert_eq(json_array_size(out), 5);
    cr_expect_str_eq(json_string_value(json_object_get(sq_field_named(out, "id"), "source_type")),
                     "NUMERIC");
    cr_expect_str_eq(json_string_value(json_object_get(sq_field_named(out, "ok"), "source_type")),
                     "INTEGER");
    cr_expect_str_eq(json_string_value(json_object_get(sq_field_named(out, "when"), "source_type")),
                     "TEXT");
    cr_expect_str_eq(json_string_value(json_object_get(sq_field_named(out, "misc"), "source_type")),
                     "TEXT");
    sq_field_named(out, "say \"hi\"");
    json_decref(out);

    sq_expect_err(sq_create(cx, "{\"table\": \"new_1\"}", fields, &id, &err), MS_EUNPROC, &err,
                  "target.create.table", "exists (case-insensitively)");
    sq_expect_err(sq_create(cx, "{\"table\": \"v_active\"}", fields, &id, &err), MS_EUNPROC, &err,
                  "target.create.table", "a view has the name");
    sq_expect_err(sq_create(cx, "{\"table\": \"users_name\"}", fields, &id, &err), MS_EUNPROC, &err,
                  "target.create.table", "an index has the name");
    sq_expect_err(sq_create(cx, "{\"table\": \"bad-name\"}", fields, &id, &err), MS_EINVAL, &err,
                  "target.create.table", "not an identifier");
    sq_expect_err(sq_create(cx, "{\"table\": \"1abc\"}", fields, &id, &err), MS_EINVAL, &err,
                  "target.create.table", "leading digit");
    sq_expect_err(sq_create(cx, "{\"table\": \"sqlite_x\"}", fields, &id, &err), MS_EINVAL, &err,
                  "target.create.table", "reserved");
    sq_expect_err(sq_create(cx,
                            "{\"table\": \"a234567890123456789012345678901234567890123456789012"
                            "345678901234\"}",
                            fields, &id, &err),
                  MS_EINVAL, &err, "target.create.table", "64 characters");
    sq_expect_err(sq_create(cx, "{}", fields, &id, &err), MS_EINVAL, &err, "target.create.table",
                  "missing");
    sq_expect_err(sq_create(cx, "{\"table\": 5}", fields, &id, &err), MS_EINVAL, &err,
                  "target.create.table", "wrong type");
    sq_expect_err(sq_create(cx, "{\"table\": \"t2\", \"schema\": \"main\"}", fields, &id, &err),
                  MS_EINVAL, &err, "target.create.schema", "extra member");
    sq_expect_err(sq_create(cx, "{\"table\": \"t2\"}", "[]", &id, &err), MS_EINVAL, &err, "fields",
                  "no fields");
    sq_expect_err(
        sq_create(cx, "{\"table\": \"t2\"}", "[{\"name\": \"a\"}, {\"name\": \"A\"}]", &id, &err),
        MS_EINVAL, &err, "fields", "duplicate");
    sq_expect_err(sq_create(cx, "{\"table\": \"t2\"}", "[{\"type\": \"string\"}]", &id, &err),
                  MS_EINVAL, &err, "fields", "no name");
    cr_expect_null(id);
    cr_expect_eq(cx->impl->object_fields(cx, "t2", &out, &err), MS_ENOTFOUND, "nothing created");
    ms_cx_close(cx);
}

/* Indexes of table (PRAGMA index_list) that are unique and cover exactly column; *all_out
 * counts every index of the table. */
static int
sq_unique_indexes(const char *table, const char *column, int *all_out)
{
    static const char sql[] =
        "SELECT il.\"unique\" AND (SELECT count(*) FROM pragma_index_info(il.name)) = 1 AND "
        "(SELECT name FROM pragma_index_info(il.name)) = ?2 FROM pragma_index_list(?1) AS il";
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    int n = 0, all = 0;

    cr_assert_eq(sqlite3_open_v2(sq_db, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    cr_assert_eq(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK, "%s", sqlite3_errmsg(db));
    sqlite3_bind_text(st, 1, table, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, column, -1, SQLITE_STATIC);
    while (sqlite3_step(st) == SQLITE_ROW) {
        n += sqlite3_column_int(st, 0);
        all++;
    }
    sqlite3_finalize(st);
    sqlite3_close(db);
    *all_out = all;
    return n;
}

/* The identity target of a new table gets a unique index; other columns get none. */
Test(cx_sqlite, create_object_identity)
{
    struct ms_cx *cx = sq_open();
    struct ms_error err;
    char *id = NULL;
    int all = -1;

    cr_assert_eq(sq_create(cx, "{\"table\": \"keyed\"}",
                           "[{\"name\": \"k\", \"type\": \"number\", \"identity\": true},"
                           " {\"name\": \"v\", \"type\": \"string\", \"identity\": false}]",
                           &id, &err),
                 MS_OK, "%s", err.msg);
    free(id);
    cr_expect_eq(sq_unique_indexes("keyed", "k", &all), 1, "a unique index on k");
    cr_expect_eq(all, 1, "and no other index");
    cr_expect_eq(sq_unique_indexes("keyed", "v", &all), 0);

    cr_assert_eq(sq_create(cx, "{\"table\": \"plain\"}",
                           "[{\"name\": \"k\", \"type\": \"number\"}]", &id, &err),
                 MS_OK, "%s", err.msg);
    free(id);
    cr_expect_eq(sq_unique_indexes("plain", "k", &all), 0);
    cr_expect_eq(all, 0, "no identity, no index");

    sq_expect_err(sq_create(cx, "{\"table\": \"t3\"}",
                            "[{\"name\": \"k\", \"type\": \"number\", \"identity\": 1}]", &id,
                            &err),
                  MS_EINVAL, &err, "fields", "identity not a boolean");
    cr_expect_null(id);
    ms_cx_close(cx);
}
