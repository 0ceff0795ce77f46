/* tests/unit/test_cx_write.c: the write side (write_begin, write, write_end) of the sqlite, csv
 * and jsonl connectors, against real database files and directories under a temporary
 * directory. Batches are built here the way the engine builds them: ops in an arena. */
#include <criterion/criterion.h>
#include <dirent.h>
#include <fcntl.h>
#include <math.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "connectors/connector.h"
#include "connectors/connectors_int.h"
#include "core/arena.h"

#define CW_MAX_OPS 4096

static char cw_dir[64];
static char cw_db[128];

static void
cw_rmrf(const char *path)
{
    DIR *d = opendir(path);
    struct dirent *de;

    if (d == NULL) {
        unlink(path);
        return;
    }
    while ((de = readdir(d)) != NULL) {
        char sub[512];

        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        snprintf(sub, sizeof(sub), "%s/%s", path, de->d_name);
        cw_rmrf(sub);
    }
    closedir(d);
    rmdir(path);
}

static void
cw_setup(void)
{
    snprintf(cw_dir, sizeof(cw_dir), "/tmp/ms-cx-write-XXXXXX");
    cr_assert_not_null(mkdtemp(cw_dir));
    snprintf(cw_db, sizeof(cw_db), "%s/t.db", cw_dir);
}

static void
cw_teardown(void)
{
    cw_rmrf(cw_dir);
}

TestSuite(cx_write, .init = cw_setup, .fini = cw_teardown);

/* ---- values and batches ---- */

static struct ms_value
cw_i(int64_t i)
{
    return (struct ms_value){.type = MS_V_INT, .u.i = i};
}

static struct ms_value
cw_d(double d)
{
    return (struct ms_value){.type = MS_V_REAL, .u.d = d};
}

/* A number kept as its source text (MS_V_NUM). */
static struct ms_value
cw_num(const char *p)
{
    return (struct ms_value){.type = MS_V_NUM, .u.s = {p, strlen(p)}};
}

static struct ms_value
cw_b(bool b)
{
    return (struct ms_value){.type = MS_V_BOOL, .u.b = b};
}

static struct ms_value
cw_sn(const char *p, size_t n)
{
    return (struct ms_value){.type = MS_V_TEXT, .u.s = {p, n}};
}

static struct ms_value
cw_s(const char *p)
{
    return cw_sn(p, strlen(p));
}

static struct ms_value
cw_null(void)
{
    return (struct ms_value){.type = MS_V_NULL};
}

static struct ms_ops
cw_ops(struct ms_arena *a, const struct ms_write_plan *plan)
{
    return (struct ms_ops){
        .arena = a, .plan = plan, .op = ms_arena_zalloc(a, CW_MAX_OPS * sizeof(struct ms_op))};
}

/* Append an op; vals (plan->ncols of them) are copied into the batch arena, NULL for none. */
static void
cw_add(struct ms_ops *ops, enum ms_op_kind kind, struct ms_value key, const struct ms_value *vals)
{
    struct ms_op *op;

    cr_assert_lt(ops->n, CW_MAX_OPS);
    op = &ops->op[ops->n++];
    op->kind = kind;
    op->key = key;
    if (vals != NULL) {
        struct ms_value *v = ms_arena_alloc(ops->arena, ops->plan->ncols * sizeof(*v));

        memcpy(v, vals, ops->plan->ncols * sizeof(*v));
        op->vals = v;
    }
}

static void
cw_expect_acked(const struct ms_ops *ops)
{
    for (size_t i = 0; i < ops->n; i++)
        cr_expect(!ops->op[i].rejected, "op %zu rejected: %s", i,
                  ops->op[i].error != NULL ? ops->op[i].error : "");
}

/* ---- sqlite helpers ---- */

static sqlite3 *
cw_db_open(void)
{
    sqlite3 *db = NULL;

    cr_assert_eq(sqlite3_open_v2(cw_db, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL),
                 SQLITE_OK);
    return db;
}

static void
cw_sql(const char *sql)
{
    sqlite3 *db = cw_db_open();
    char *msg = NULL;

    cr_assert_eq(sqlite3_exec(db, sql, NULL, NULL, &msg), SQLITE_OK, "%s: %s", sql, msg);
    sqlite3_close(db);
}

/* The first column of the first row of sql as text ("NULL" for NULL); malloc'd. */
static char *
cw_query(const char *sql)
{
    sqlite3 *db = cw_db_open();
    sqlite3_stmt *st = NULL;
    char *out;

    cr_assert_eq(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK, "%s", sql);
    cr_assert_eq(sqlite3_step(st), SQLITE_ROW, "%s", sql);
    out = strdup(sqlite3_column_type(st, 0) == SQLITE_NULL
                     ? "NULL"
                     : (const char *)sqlite3_column_text(st, 0));
    sqlite3_finalize(st);
    sqlite3_close(db);
    return out;
}

static void
cw_expect_query(const char *sql, const char *want)
{
    char *got = cw_query(sql);

    cr_expect_str_eq(got, want, "%s", sql);
    free(got);
}

static struct ms_cx *
cw_sqlite(void)
{
    struct ms_cx *cx = NULL;
    struct ms_error err = {0};
    json_t *cfg = json_pack("{s:s}", "path", cw_db);

    cr_assert_eq(ms_cx_open(&ms_connector_sqlite, cfg, &cx, &err), MS_OK, "%s", err.msg);
    json_decref(cfg);
    return cx;
}

static const char *const cw_cols3[] = {"id", "name", "score"};
static const char *const cw_types3[] = {"number", "string", "number"};

static struct ms_write_plan
cw_plan3(const char *mode, const char *key)
{
    return (struct ms_write_plan){.object = "t",
                                  .mode = mode,
                                  .ncols = 3,
                                  .cols = cw_cols3,
                                  .types = cw_types3,
                                  .key_col = key,
                                  .sync_id = "sync-1",
                                  .execution_id = "exec-1"};
}

/* One batch of id/name/score rows [from, to) with the given op kind. */
static void
cw_add_rows(struct ms_ops *ops, enum ms_op_kind kind, int from, int to)
{
    for (int i = from; i < to; i++) {
        char *name = ms_arena_printf(ops->arena, "n%d", i);
        struct ms_value v[3] = {cw_i(i), cw_s(name), cw_d(i * 1.5)};

        cw_add(ops, kind, cw_i(i), v);
    }
}

/* write_begin, one batch, write_end(commit); every status must be MS_OK. */
static void
cw_run(struct ms_cx *cx, const struct ms_write_plan *plan, struct ms_ops *ops)
{
    struct ms_error err = {0};

    cr_assert_eq(cx->impl->write_begin(cx, plan, &err), MS_OK, "begin: %s", err.msg);
    cr_assert_eq(cx->impl->write(cx, ops, &err), MS_OK, "write: %s", err.msg);
    cr_assert_eq(cx->impl->write_end(cx, true, &err), MS_OK, "end: %s", err.msg);
}

/* ---- sqlite ---- */

Test(cx_write, sqlite_typed_values_round_trip)
{
    static const char *const cols[] = {"id", "i", "r", "b", "s", "n"};
    struct ms_write_plan plan = {
        .object = "T", .mode = "append", .ncols = 6, .cols = cols, .execution_id = "e"};
    struct ms_arena *a = ms_arena_new();
    struct ms_ops ops = cw_ops(a, &plan);
    struct ms_cx *cx;
    struct ms_value v[6] = {cw_i(1),    cw_i(-9007199254740993LL), cw_d(0.1),
                            cw_b(true), cw_sn("a\0b'\"", 5),       cw_null()};

    cw_sql("CREATE TABLE t (id INTEGER PRIMARY KEY, i INTEGER, r REAL, b BOOLEAN, s TEXT, n)");
    cx = cw_sqlite();
    cw_add(&ops, MS_OP_INSERT, cw_null(), v);
    v[0] = cw_i(2);
    v[3] = cw_b(false);
    v[4] = cw_s("");
    v[5] = cw_s("ü");
    cw_add(&ops, MS_OP_INSERT, cw_null(), v);
    cw_run(cx, &plan, &ops);
    cw_expect_acked(&ops);
    cw_expect_query("SELECT typeof(i) || typeof(r) || typeof(b) || typeof(s) || typeof(n) FROM t "
                    "WHERE id = 1",
                    "integerrealintegertextnull");
    cw_expect_query("SELECT i FROM t WHERE id = 1", "-9007199254740993");
    cw_expect_query("SELECT r = 0.1 FROM t WHERE id = 1", "1");
    cw_expect_query("SELECT b FROM t WHERE id = 1", "1");
    cw_expect_query("SELECT length(CAST(s AS BLOB)) || hex(s) FROM t WHERE id = 1", "56100622722");
    cw_expect_query("SELECT b || ',' || quote(s) || ',' || n FROM t WHERE id = 2", "0,'',ü");
    ms_cx_close(cx);
    ms_arena_free(a);
}

/* MS_V_NUM binds as the double of its text, exactly as the MS_V_REAL it stands for; as a
 * key too (1 and 1.0 are one row). */
Test(cx_write, sqlite_num_binds_the_double)
{
    static const char *const cols[] = {"id", "r", "n", "t", "i"};
    struct ms_write_plan plan = {.object = "T",
                                 .mode = "updateOrCreate",
                                 .ncols = 5,
                                 .cols = cols,
                                 .key_col = "id",
                                 .execution_id = "e"};
    struct ms_arena *a = ms_arena_new();
    struct ms_ops ops = cw_ops(a, &plan);
    struct ms_cx *cx;
    struct ms_value v1[5] = {cw_num("1"), cw_num("0.1"), cw_num("1e+100"), cw_num("0.5"),
                             cw_num("5")};
    struct ms_value v2[5] = {cw_num("2.0"), cw_num("-0"), cw_num("1.7976931348623157e+308"),
                             cw_num("0.1"), cw_num("2.5")};
    struct ms_value v3[5] = {cw_num("1.0"), cw_num("5e-324"), cw_null(), cw_null(), cw_null()};

    cw_sql("CREATE TABLE t (id REAL PRIMARY KEY, r REAL, n, t TEXT, i INTEGER)");
    cx = cw_sqlite();
    cw_add(&ops, MS_OP_UPSERT, v1[0], v1);
    cw_add(&ops, MS_OP_UPSERT, v2[0], v2);
    cw_run(cx, &plan, &ops);
    cw_expect_acked(&ops);
    cw_expect_query("SELECT typeof(id) || typeof(r) || typeof(n) || typeof(t) || typeof(i) "
                    "FROM t WHERE id = 1",
                    "realrealrealtextinteger");
    cw_expect_query("SELECT r = 0.1 AND n = 1e100 AND t = '0.5' AND i = 5 FROM t WHERE id = 1",
                    "1");
    cw_expect_query("SELECT r = 0 AND n = 1.7976931348623157e308 AND i = 2.5 FROM t WHERE id = 2",
                    "1");
    ops = cw_ops(a, &plan);
    cw_add(&ops, MS_OP_UPSERT, v3[0], v3); /* key 1.0 is the row of key 1 */
    cw_run(cx, &plan, &ops);
    cw_expect_acked(&ops);
    cw_expect_query("SELECT count(*) FROM t", "2");
    cw_expect_query("SELECT r = 5e-324 AND n IS NULL FROM t WHERE id = 1", "1");
    ms_cx_close(cx);
    ms_arena_free(a);
}

Test(cx_write, sqlite_insert_if_absent_on_resent_batches)
{
    static const char *const ddl[] = {
        "CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT, score REAL)",
        "CREATE TABLE t (id TEXT, name TEXT, score REAL)",             /* no index at all */
        "CREATE TABLE t (id INT, name TEXT, score REAL, UNIQUE (id))", /* unique, not a pk */
        "PRAGMA journal_mode = WAL; CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT, score REAL)",
    };

    for (size_t k = 0; k < MS_ARRAY_LEN(ddl); k++) {
        struct ms_write_plan plan = cw_plan3("create", "id");
        struct ms_arena *a = ms_arena_new();
        struct ms_ops ops = cw_ops(a, &plan);
        struct ms_cx *cx;

        unlink(cw_db);
        cw_sql(ddl[k]);
        cw_sql("INSERT INTO t VALUES (3, 'kept', 0)");
        cx = cw_sqlite();
        cw_add_rows(&ops, MS_OP_INSERT, 1, 6);
        cw_run(cx, &plan, &ops);
        cw_expect_acked(&ops);
        cw_run(cx, &plan, &ops); /* the engine re-sends after a crash */
        cw_expect_acked(&ops);
        cw_expect_query("SELECT count(*) FROM t", "5");
        cw_expect_query("SELECT name FROM t WHERE id = 3", "kept"); /* create leaves it alone */
        cw_expect_query("SELECT name FROM t WHERE id = 5", "n5");
        ms_cx_close(cx);
        ms_arena_free(a);
    }
}

Test(cx_write, sqlite_append_adds_a_row_per_record)
{
    struct ms_write_plan plan = cw_plan3("append", "id");
    struct ms_arena *a = ms_arena_new();
    struct ms_ops ops = cw_ops(a, &plan);
    struct ms_cx *cx;

    cw_sql("CREATE TABLE t (id INTEGER, name TEXT, score REAL)");
    cx = cw_sqlite();
    cw_add_rows(&ops, MS_OP_INSERT, 1, 4);
    cw_run(cx, &plan, &ops);
    cw_run(cx, &plan, &ops);
    cw_expect_query("SELECT count(*) || '/' || count(DISTINCT id) FROM t", "6/3");
    ms_cx_close(cx);
    ms_arena_free(a);
}

Test(cx_write, sqlite_update_and_missing_key)
{
    struct ms_write_plan plan = cw_plan3("update", "ID"); /* columns match case-insensitively */
    static const char *const cols[] = {"ID", "Name", "score"};
    struct ms_arena *a = ms_arena_new();
    struct ms_ops ops;
    struct ms_cx *cx;
    struct ms_value v1[3] = {cw_i(1), cw_s("one"), cw_d(10)};
    struct ms_value v42[3] = {cw_i(42), cw_s("x"), cw_d(0)};
    struct ms_value vt[3] = {cw_i(7), cw_s("t"), cw_d(1)};

    plan.cols = cols;
    ops = cw_ops(a, &plan);
    cw_sql("CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT, score REAL);"
           "INSERT INTO t VALUES (1, 'a', 1), (2, 'b', 2)");
    cx = cw_sqlite();
    cw_add(&ops, MS_OP_UPDATE, cw_i(1), v1);
    cw_add(&ops, MS_OP_UPDATE, cw_i(42), v42);
    cw_add(&ops, MS_OP_UPDATE, cw_s("it's"), vt);
    cw_run(cx, &plan, &ops);
    cr_expect(!ops.op[0].rejected);
    cr_assert(ops.op[1].rejected);
    cr_expect_str_eq(ops.op[1].error, "no record with ID = 42");
    cr_assert(ops.op[2].rejected);
    cr_expect_str_eq(ops.op[2].error, "no record with ID = it's");
    cw_expect_query("SELECT name || score FROM t WHERE id = 1", "one10.0");
    cw_expect_query("SELECT count(*) FROM t", "2");
    ms_cx_close(cx);
    ms_arena_free(a);
}

Test(cx_write, sqlite_upsert_with_and_without_unique_index)
{
    static const char *const ddl[] = {
        "CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT, score REAL)",
        "CREATE TABLE t (id TEXT, name TEXT, score REAL)",
        "CREATE TABLE t (id TEXT, name TEXT, score REAL); CREATE INDEX ti ON t (id)",
        "CREATE TABLE t (id TEXT NOT NULL, name TEXT, score REAL, PRIMARY KEY (id)) WITHOUT ROWID",
    };

    for (size_t k = 0; k < MS_ARRAY_LEN(ddl); k++) {
        struct ms_write_plan plan = cw_plan3("updateOrCreate", "id");
        struct ms_arena *a = ms_arena_new();
        struct ms_ops ops = cw_ops(a, &plan);
        struct ms_cx *cx;
        char *sql = ms_arena_printf(a, "%s; INSERT INTO t VALUES (1, 'a', 1), (2, 'b', 2)", ddl[k]);

        unlink(cw_db);
        cw_sql(sql);
        cx = cw_sqlite();
        cw_add_rows(&ops, MS_OP_UPSERT, 2, 5);
        cw_run(cx, &plan, &ops);
        cw_expect_acked(&ops);
        cw_run(cx, &plan, &ops); /* again: nothing duplicated */
        cw_expect_query("SELECT count(*) FROM t", "4");
        cw_expect_query("SELECT group_concat(name, ',') FROM (SELECT name FROM t ORDER BY id)",
                        "a,n2,n3,n4");
        cw_expect_query("SELECT score FROM t WHERE id = 3", "4.5");
        ms_cx_close(cx);
        ms_arena_free(a);
    }
}

Test(cx_write, sqlite_delete)
{
    struct ms_write_plan plan = cw_plan3("remove", "id");
    struct ms_arena *a = ms_arena_new();
    struct ms_ops ops = cw_ops(a, &plan);
    struct ms_cx *cx;

    cw_sql("CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT, score REAL);"
           "INSERT INTO t VALUES (1, 'a', 1), (2, 'b', 2), (3, 'c', 3)");
    cx = cw_sqlite();
    cw_add(&ops, MS_OP_DELETE, cw_i(2), NULL);
    cw_add(&ops, MS_OP_DELETE, cw_i(99), NULL);  /* already gone: acknowledged */
    cw_add(&ops, MS_OP_DELETE, cw_s("3"), NULL); /* compared with the column's affinity */
    cw_run(cx, &plan, &ops);
    cw_expect_acked(&ops);
    cw_expect_query("SELECT group_concat(id) FROM t", "1");
    ms_cx_close(cx);
    ms_arena_free(a);
}

Test(cx_write, sqlite_constraint_rejects_only_that_record)
{
    struct ms_write_plan plan = cw_plan3("create", "id");
    struct ms_arena *a = ms_arena_new();
    struct ms_ops ops = cw_ops(a, &plan);
    struct ms_cx *cx;
    struct ms_value ok1[3] = {cw_i(1), cw_s("a"), cw_d(1)};
    struct ms_value nul[3] = {cw_i(2), cw_null(), cw_d(1)};
    struct ms_value chk[3] = {cw_i(3), cw_s("c"), cw_d(-5)};
    struct ms_value dup[3] = {cw_i(4), cw_s("a"), cw_d(1)};
    struct ms_value ok2[3] = {cw_i(5), cw_s("e"), cw_d(2)};

    cw_sql("CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE,"
           " score REAL CHECK (score >= 0))");
    cx = cw_sqlite();
    cw_add(&ops, MS_OP_INSERT, cw_i(1), ok1);
    cw_add(&ops, MS_OP_INSERT, cw_i(2), nul);
    cw_add(&ops, MS_OP_INSERT, cw_i(3), chk);
    cw_add(&ops, MS_OP_INSERT, cw_i(4), dup);
    cw_add(&ops, MS_OP_INSERT, cw_i(5), ok2);
    cw_run(cx, &plan, &ops);
    cr_expect(!ops.op[0].rejected && !ops.op[4].rejected);
    cr_assert(ops.op[1].rejected && ops.op[2].rejected && ops.op[3].rejected);
    cr_expect_str_eq(ops.op[1].error, "NOT NULL constraint failed: t.name");
    cr_expect(strstr(ops.op[2].error, "CHECK constraint failed") != NULL, "%s", ops.op[2].error);
    cr_expect_str_eq(ops.op[3].error, "UNIQUE constraint failed: t.name");
    cw_expect_query("SELECT group_concat(id) FROM t", "1,5");
    ms_cx_close(cx);
    ms_arena_free(a);
}

Test(cx_write, sqlite_strict_table_type_mismatch)
{
    static const char *const cols[] = {"id", "n"};
    struct ms_write_plan plan = {
        .object = "t", .mode = "append", .ncols = 2, .cols = cols, .execution_id = "e"};
    struct ms_arena *a = ms_arena_new();
    struct ms_ops ops = cw_ops(a, &plan);
    struct ms_cx *cx;
    struct ms_value good[2] = {cw_i(1), cw_s("12")}; /* converts losslessly */
    struct ms_value bad[2] = {cw_i(2), cw_s("twelve")};

    cw_sql("CREATE TABLE t (id INTEGER, n INTEGER) STRICT");
    cx = cw_sqlite();
    cw_add(&ops, MS_OP_INSERT, cw_null(), good);
    cw_add(&ops, MS_OP_INSERT, cw_null(), bad);
    cw_run(cx, &plan, &ops);
    cr_expect(!ops.op[0].rejected);
    cr_assert(ops.op[1].rejected);
    cr_expect(strstr(ops.op[1].error, "cannot store TEXT value in INTEGER column") != NULL, "%s",
              ops.op[1].error);
    cw_expect_query("SELECT group_concat(id || ':' || n) FROM t", "1:12");
    ms_cx_close(cx);
    ms_arena_free(a);
}

/* ON CONFLICT ROLLBACK ends the whole transaction: the batch runs again without that record. */
Test(cx_write, sqlite_rollback_conflict_clause_keeps_the_others)
{
    struct ms_write_plan plan = cw_plan3("append", NULL);
    struct ms_arena *a = ms_arena_new();
    struct ms_ops ops = cw_ops(a, &plan);
    struct ms_cx *cx;
    struct ms_value dup[3] = {cw_i(9), cw_s("n1"), cw_d(0)};

    cw_sql("CREATE TABLE t (id INTEGER, name TEXT UNIQUE ON CONFLICT ROLLBACK, score REAL)");
    cx = cw_sqlite();
    cw_add_rows(&ops, MS_OP_INSERT, 1, 3);
    cw_add(&ops, MS_OP_INSERT, cw_null(), dup);
    cw_add_rows(&ops, MS_OP_INSERT, 3, 5);
    cw_run(cx, &plan, &ops);
    for (size_t i = 0; i < ops.n; i++)
        cr_expect_eq(ops.op[i].rejected, i == 2, "op %zu", i);
    cr_expect_str_eq(ops.op[2].error, "UNIQUE constraint failed: t.name");
    cw_expect_query("SELECT group_concat(id) FROM (SELECT id FROM t ORDER BY id)", "1,2,3,4");
    ms_cx_close(cx);
    ms_arena_free(a);
}

static void
cw_full_rewrite(bool commit)
{
    struct ms_write_plan plan = cw_plan3("replace", NULL);
    struct ms_arena *a = ms_arena_new();
    struct ms_ops ops = cw_ops(a, &plan);
    struct ms_error err = {0};
    struct ms_cx *cx;

    plan.full = true;
    cw_sql("CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT, score REAL);"
           "INSERT INTO t VALUES (100, 'old', 1), (101, 'old', 2)");
    cx = cw_sqlite();
    cr_assert_eq(cx->impl->write_begin(cx, &plan, &err), MS_OK, "%s", err.msg);
    cw_add_rows(&ops, MS_OP_INSERT, 1, 4);
    cr_assert_eq(cx->impl->write(cx, &ops, &err), MS_OK, "%s", err.msg);
    ms_arena_reset(a);
    ops = cw_ops(a, &plan);
    cw_add_rows(&ops, MS_OP_INSERT, 4, 6);
    cr_assert_eq(cx->impl->write(cx, &ops, &err), MS_OK, "%s", err.msg);
    cw_expect_query("SELECT count(*) FROM t WHERE name = 'old'", "2"); /* not visible yet */
    cr_assert_eq(cx->impl->write_end(cx, commit, &err), MS_OK, "%s", err.msg);
    if (commit)
        cw_expect_query("SELECT group_concat(id) FROM (SELECT id FROM t ORDER BY id)", "1,2,3,4,5");
    else
        cw_expect_query("SELECT group_concat(id) FROM (SELECT id FROM t ORDER BY id)", "100,101");
    ms_cx_close(cx);
    ms_arena_free(a);
}

Test(cx_write, sqlite_full_rewrite_commit)
{
    cw_full_rewrite(true);
}

Test(cx_write, sqlite_full_rewrite_rollback)
{
    cw_full_rewrite(false);
}

Test(cx_write, sqlite_full_rewrite_failed_batch_leaves_nothing)
{
    struct ms_write_plan plan = cw_plan3("replace", NULL);
    struct ms_arena *a = ms_arena_new();
    struct ms_ops ops = cw_ops(a, &plan);
    struct ms_error err = {0};
    struct ms_cx *cx;
    struct ms_value v[3] = {cw_i(3), cw_s("x"), cw_d(0)};

    plan.full = true;
    cw_sql("CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT, score REAL)");
    cx = cw_sqlite();
    cr_assert_eq(cx->impl->write_begin(cx, &plan, &err), MS_OK, "%s", err.msg);
    cw_add_rows(&ops, MS_OP_INSERT, 1, 3);
    cr_assert_eq(cx->impl->write(cx, &ops, &err), MS_OK, "%s", err.msg);
    ms_arena_reset(a);
    ops = cw_ops(a, &plan);
    cw_add(&ops, MS_OP_INSERT, cw_null(), v);
    cw_add(&ops, MS_OP_UPDATE, cw_i(1), v); /* no identity: the engine would never send it */
    cr_expect_eq(cx->impl->write(cx, &ops, &err), MS_EINTERNAL);
    ops.op[1].kind = MS_OP_INSERT; /* the batch is sent again, fixed */
    ops.op[1].vals = ms_arena_zalloc(a, 3 * sizeof(struct ms_value)); /* id NULL: a new rowid */
    cr_assert_eq(cx->impl->write(cx, &ops, &err), MS_OK, "%s", err.msg);
    cr_assert_eq(cx->impl->write_end(cx, true, &err), MS_OK, "%s", err.msg);
    cw_expect_query("SELECT count(*) || ',' || count(name) FROM t", "4,3");
    ms_cx_close(cx);
    ms_arena_free(a);
}

Test(cx_write, sqlite_plan_errors)
{
    static const char *const bad_cols[] = {"id", "nope", "score"};
    struct ms_write_plan plan = cw_plan3("create", "id");
    struct ms_error err = {0};
    struct ms_cx *cx;

    cw_sql("CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT, score REAL, g AS (score * 2));"
           "CREATE VIEW v AS SELECT * FROM t");
    cx = cw_sqlite();
    plan.cols = bad_cols;
    cr_expect_eq(cx->impl->write_begin(cx, &plan, &err), MS_EUNPROC);
    cr_expect(strstr(err.msg, "nope") != NULL, "%s", err.msg);
    plan = cw_plan3("create", "id");
    plan.object = "missing";
    cr_expect_eq(cx->impl->write_begin(cx, &plan, &err), MS_EUNPROC);
    cr_expect_str_eq(err.field, "target.object");
    plan.object = "v"; /* views are not targets */
    cr_expect_eq(cx->impl->write_begin(cx, &plan, &err), MS_EUNPROC);
    plan = cw_plan3("snapshot", NULL);
    cr_expect_eq(cx->impl->write_begin(cx, &plan, &err), MS_EUNSUPP);
    plan = cw_plan3("update", NULL);
    cr_expect_eq(cx->impl->write_begin(cx, &plan, &err), MS_EUNPROC);
    cr_expect_eq(cx->impl->write_end(cx, true, &err), MS_OK, "write_end without a run is a no-op");
    ms_cx_close(cx);
}

Test(cx_write, sqlite_generated_column_is_not_writable)
{
    static const char *const cols[] = {"id", "g"};
    struct ms_write_plan plan = {.object = "t", .mode = "append", .ncols = 2, .cols = cols};
    struct ms_error err = {0};
    struct ms_cx *cx;

    cw_sql("CREATE TABLE t (id INTEGER PRIMARY KEY, score REAL, g AS (score * 2))");
    cx = cw_sqlite();
    cr_expect_eq(cx->impl->write_begin(cx, &plan, &err), MS_EUNPROC);
    cr_expect(strstr(err.msg, "no column g") != NULL, "%s", err.msg);
    ms_cx_close(cx);
}

Test(cx_write, sqlite_busy_is_transient)
{
    struct ms_write_plan plan = cw_plan3("create", "id");
    struct ms_arena *a = ms_arena_new();
    struct ms_ops ops = cw_ops(a, &plan);
    struct ms_error err = {0};
    struct ms_cx *cx;
    sqlite3 *other;

    cw_sql("CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT, score REAL)");
    cx = cw_sqlite();
    sqlite_busy_ms_set(cx, 50);
    cr_assert_eq(cx->impl->write_begin(cx, &plan, &err), MS_OK, "%s", err.msg);
    other = cw_db_open();
    cr_assert_eq(sqlite3_exec(other, "BEGIN IMMEDIATE", NULL, NULL, NULL), SQLITE_OK);
    cw_add_rows(&ops, MS_OP_INSERT, 1, 3);
    cr_expect_eq(cx->impl->write(cx, &ops, &err), MS_EBUSY, "%s", err.msg);
    cr_expect(!ops.op[0].rejected && !ops.op[1].rejected);
    sqlite3_exec(other, "COMMIT", NULL, NULL, NULL);
    cr_expect_eq(cx->impl->write(cx, &ops, &err), MS_OK, "%s", err.msg); /* the engine retries */
    cr_expect_eq(cx->impl->write_end(cx, true, &err), MS_OK);
    cw_expect_query("SELECT count(*) FROM t", "2");

    plan = cw_plan3("replace", NULL); /* a full rewrite takes its lock in write_begin */
    plan.full = true;
    cr_assert_eq(sqlite3_exec(other, "BEGIN IMMEDIATE", NULL, NULL, NULL), SQLITE_OK);
    cr_expect_eq(cx->impl->write_begin(cx, &plan, &err), MS_EBUSY, "%s", err.msg);
    sqlite3_exec(other, "COMMIT", NULL, NULL, NULL);
    sqlite3_close(other);
    ms_cx_close(cx);
    ms_arena_free(a);
}

/* close() in the middle of a full rewrite rolls it back and releases the statements. */
Test(cx_write, sqlite_close_during_full_rewrite)
{
    struct ms_write_plan plan = cw_plan3("replace", NULL);
    struct ms_error err = {0};
    struct ms_cx *cx;

    plan.full = true;
    cw_sql("CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT, score REAL);"
           "INSERT INTO t VALUES (1, 'a', 1)");
    cx = cw_sqlite();
    cr_assert_eq(cx->impl->write_begin(cx, &plan, &err), MS_OK, "%s", err.msg);
    ms_cx_close(cx);
    cw_expect_query("SELECT count(*) FROM t", "1");
}

/* ---- files helpers ---- */

static struct ms_cx *
cw_files(const struct ms_connector *impl)
{
    struct ms_cx *cx = NULL;
    struct ms_error err = {0};
    json_t *cfg = json_pack("{s:s}", "directory", cw_dir);

    cr_assert_eq(ms_cx_open(impl, cfg, &cx, &err), MS_OK, "%s", err.msg);
    json_decref(cfg);
    return cx;
}

static void
cw_write_file(const char *name, const char *text)
{
    char path[512];
    FILE *f;

    snprintf(path, sizeof(path), "%s/%s", cw_dir, name);
    f = fopen(path, "wb");
    cr_assert_not_null(f, "%s", path);
    fputs(text, f);
    fclose(f);
}

static char *
cw_slurp(const char *name)
{
    char path[512], *buf;
    FILE *f;
    long n;

    snprintf(path, sizeof(path), "%s/%s", cw_dir, name);
    f = fopen(path, "rb");
    cr_assert_not_null(f, "%s", path);
    fseek(f, 0, SEEK_END);
    n = ftell(f);
    rewind(f);
    buf = calloc(1, (size_t)n + 1);
    cr_assert_eq(fread(buf, 1, (size_t)n, f), (size_t)n);
    fclose(f);
    return buf;
}

static void
cw_expect_file(const char *name, const char *want)
{
    char *got = cw_slurp(name);

    cr_expect_str_eq(got, want, "%s", name);
    free(got);
}

/* Names in the directory, sorted, comma-separated (malloc'd). */
static char *
cw_listing(void)
{
    struct dirent **list = NULL;
    int n = scandir(cw_dir, &list, NULL, alphasort);
    size_t len = 0;
    char *out = calloc(1, 4096);

    for (int i = 0; i < n; i++) {
        const char *name = list[i]->d_name;

        if (strcmp(name, ".") != 0 && strcmp(name, "..") != 0 && strcmp(name, "t.db") != 0)
            len += (size_t)snprintf(out + len, 4096 - len, "%s%s", len ? "," : "", name);
        free(list[i]);
    }
    free(list);
    return out;
}

static void
cw_expect_listing(const char *want)
{
    char *got = cw_listing();

    cr_expect_str_eq(got, want);
    free(got);
}

static const char *const cw_fcols[] = {"a", "b", "c", "d", "e"};

static struct ms_write_plan
cw_fplan(const char *object, const char *mode)
{
    return (struct ms_write_plan){.object = object,
                                  .mode = mode,
                                  .ncols = 5,
                                  .cols = cw_fcols,
                                  .sync_id = "sync-1",
                                  .execution_id = "0b3c-exec",
                                  .full = strcmp(mode, "append") != 0};
}

/* The values every file test writes: quoting, NULL vs "", numbers, booleans. */
static void
cw_add_file_rows(struct ms_ops *ops)
{
    struct ms_value r1[5] = {cw_i(1), cw_s("plain"), cw_s("a,b"), cw_s("say \"hi\""),
                             cw_s("two\nlines\r")};
    struct ms_value r2[5] = {cw_i(-2), cw_null(), cw_s(""), cw_d(2.5), cw_b(true)};
    struct ms_value r3[5] = {cw_d(0.1), cw_d(1e300), cw_b(false), cw_d(3), cw_sn("x\0y", 3)};

    cw_add(ops, MS_OP_INSERT, cw_null(), r1);
    cw_add(ops, MS_OP_INSERT, cw_null(), r2);
    cw_add(ops, MS_OP_INSERT, cw_null(), r3);
}

static const char cw_csv_rows[] = "1,plain,\"a,b\",\"say \"\"hi\"\"\",\"two\nlines\r\"\n"
                                  "-2,,\"\",2.5,true\n"
                                  "0.1,1e+300,false,3,x\0y\n";
#define CW_CSV_ROWS_LEN (sizeof(cw_csv_rows) - 1)

/* ---- csv ---- */

Test(cx_write, csv_append_quoting_and_nulls_round_trip)
{
    struct ms_write_plan plan = cw_fplan("out.csv", "append");
    struct ms_arena *a = ms_arena_new();
    struct ms_ops ops = cw_ops(a, &plan);
    struct ms_cx *cx = cw_files(&ms_connector_csv);
    json_t *mcfg = json_pack("{s:s}", "file", "out.csv"), *rows = NULL;
    struct ms_error err = {0};
    char *got;

    cr_expect(ms_connector_csv.flags & MS_CX_NOKEY);
    cw_write_file("out.csv", "a,b,c,d,e\n");
    cw_add_file_rows(&ops);
    cw_run(cx, &plan, &ops);
    cw_expect_acked(&ops);
    got = cw_slurp("out.csv");
    cr_expect(memcmp(got, "a,b,c,d,e\n", 10) == 0);
    cr_expect(memcmp(got + 10, cw_csv_rows, CW_CSV_ROWS_LEN) == 0, "%s", got + 10);
    free(got);
    cr_assert_eq(ms_cx_sample(cx, mcfg, 10, &rows, &err), MS_OK, "%s", err.msg);
    cr_assert_eq(json_array_size(rows), 3);
    cr_expect(json_is_null(json_object_get(json_array_get(rows, 1), "b")));
    cr_expect_str_eq(json_string_value(json_object_get(json_array_get(rows, 1), "c")), "");
    cr_expect_str_eq(json_string_value(json_object_get(json_array_get(rows, 0), "e")),
                     "two\nlines\r");
    cr_expect_str_eq(json_string_value(json_object_get(json_array_get(rows, 0), "d")),
                     "say \"hi\"");
    json_decref(rows);
    json_decref(mcfg);
    ms_cx_close(cx);
    ms_arena_free(a);
}

Test(cx_write, csv_append_header_for_empty_file_and_missing_line_end)
{
    struct ms_write_plan plan = cw_plan3("append", NULL);
    struct ms_arena *a = ms_arena_new();
    struct ms_ops ops = cw_ops(a, &plan);
    struct ms_cx *cx = cw_files(&ms_connector_csv);
    struct ms_value v[3] = {cw_i(1), cw_s("x"), cw_d(2)};

    plan.object = "empty.csv";
    cw_write_file("empty.csv", "");
    cw_add(&ops, MS_OP_INSERT, cw_null(), v);
    cw_run(cx, &plan, &ops);
    cw_expect_file("empty.csv", "id,name,score\n1,x,2\n");
    plan.object = "noeol.csv";
    cw_write_file("noeol.csv", "id,name,score\r\n0,y,1");
    cw_run(cx, &plan, &ops);
    cw_expect_file("noeol.csv", "id,name,score\r\n0,y,1\n1,x,2\n");
    ms_cx_close(cx);
    ms_arena_free(a);
}

Test(cx_write, csv_append_header_mismatch_and_missing_file)
{
    struct ms_write_plan plan = cw_plan3("append", NULL);
    struct ms_cx *cx = cw_files(&ms_connector_csv);
    struct ms_error err = {0};

    plan.object = "h.csv";
    cw_write_file("h.csv", "id,label,score\n");
    cr_expect_eq(cx->impl->write_begin(cx, &plan, &err), MS_EUNPROC);
    cr_expect(strstr(err.msg, "header column 2 is label, the sync writes name") != NULL, "%s",
              err.msg);
    cw_write_file("h.csv", "id,name\n");
    cr_expect_eq(cx->impl->write_begin(cx, &plan, &err), MS_EUNPROC);
    cr_expect(strstr(err.msg, "2 columns") != NULL, "%s", err.msg);
    plan.object = "gone.csv";
    cr_expect_eq(cx->impl->write_begin(cx, &plan, &err), MS_EUNPROC);
    cr_expect_str_eq(err.field, "target.object");
    cw_expect_listing("h.csv"); /* nothing was created */
    plan.mode = "update";
    plan.object = "h.csv";
    cr_expect_eq(cx->impl->write_begin(cx, &plan, &err), MS_EUNSUPP);
    ms_cx_close(cx);
}

Test(cx_write, csv_non_insert_ops_rejected)
{
    struct ms_write_plan plan = cw_plan3("append", NULL);
    struct ms_arena *a = ms_arena_new();
    struct ms_ops ops = cw_ops(a, &plan);
    struct ms_cx *cx = cw_files(&ms_connector_csv);

    plan.object = "o.csv";
    cw_write_file("o.csv", "id,name,score\n");
    cw_add_rows(&ops, MS_OP_INSERT, 1, 2);
    cw_add_rows(&ops, MS_OP_UPDATE, 2, 3);
    cw_add_rows(&ops, MS_OP_UPSERT, 3, 4);
    cw_add(&ops, MS_OP_DELETE, cw_i(4), NULL);
    cw_add_rows(&ops, MS_OP_INSERT, 5, 6);
    cw_run(cx, &plan, &ops);
    for (size_t i = 0; i < ops.n; i++) {
        bool rej = ops.op[i].kind != MS_OP_INSERT;

        cr_expect_eq(ops.op[i].rejected, rej, "op %zu", i);
        if (rej)
            cr_expect_str_eq(ops.op[i].error, "files cannot update or delete records");
    }
    cw_expect_file("o.csv", "id,name,score\n1,n1,1.5\n5,n5,7.5\n");
    ms_cx_close(cx);
    ms_arena_free(a);
}

/* The object keeps its old contents until write_end(commit), then changes at once. */
Test(cx_write, csv_replace_is_atomic)
{
    struct ms_write_plan plan = cw_fplan("out.csv", "replace");
    struct ms_arena *a = ms_arena_new();
    struct ms_ops ops = cw_ops(a, &plan);
    struct ms_cx *cx = cw_files(&ms_connector_csv);
    struct ms_error err = {0};
    struct stat sb;
    char path[256], *got;

    cw_write_file("out.csv", "x,y\nold,row\n");
    snprintf(path, sizeof(path), "%s/out.csv", cw_dir);
    chmod(path, 0600);
    cr_assert_eq(cx->impl->write_begin(cx, &plan, &err), MS_OK, "%s", err.msg);
    cw_add_file_rows(&ops);
    cr_assert_eq(cx->impl->write(cx, &ops, &err), MS_OK, "%s", err.msg);
    cw_expect_file("out.csv", "x,y\nold,row\n");
    cw_expect_listing(".out.csv.tmp-0b3c-exec,out.csv");
    cr_assert_eq(cx->impl->write_end(cx, true, &err), MS_OK, "%s", err.msg);
    cw_expect_listing("out.csv");
    got = cw_slurp("out.csv");
    cr_expect(memcmp(got, "a,b,c,d,e\n", 10) == 0);
    cr_expect(memcmp(got + 10, cw_csv_rows, CW_CSV_ROWS_LEN) == 0, "%s", got + 10);
    free(got);
    cr_assert_eq(stat(path, &sb), 0);
    cr_expect_eq(sb.st_mode & 0777, 0600, "the replaced file's permissions are kept");
    ms_cx_close(cx);
    ms_arena_free(a);
}

Test(cx_write, csv_replace_rollback_leaves_no_temp_file)
{
    struct ms_write_plan plan = cw_fplan("out.csv", "replace");
    struct ms_arena *a = ms_arena_new();
    struct ms_ops ops = cw_ops(a, &plan);
    struct ms_cx *cx = cw_files(&ms_connector_csv);
    struct ms_error err = {0};

    cw_write_file("out.csv", "x,y\nold,row\n");
    cr_assert_eq(cx->impl->write_begin(cx, &plan, &err), MS_OK, "%s", err.msg);
    cw_add_file_rows(&ops);
    cr_assert_eq(cx->impl->write(cx, &ops, &err), MS_OK, "%s", err.msg);
    cr_assert_eq(cx->impl->write_end(cx, false, &err), MS_OK, "%s", err.msg);
    cw_expect_listing("out.csv");
    cw_expect_file("out.csv", "x,y\nold,row\n");
    cr_assert_eq(cx->impl->write_begin(cx, &plan, &err), MS_OK, "%s", err.msg);
    ms_cx_close(cx); /* closing mid-run drops the temporary file too */
    cw_expect_listing("out.csv");
    plan.object = "absent.csv";
    cx = cw_files(&ms_connector_csv);
    cr_expect_eq(cx->impl->write_begin(cx, &plan, &err), MS_EUNPROC);
    plan.object = "out.csv";
    plan.full = false; /* MS_CX_NOKEY: the engine must rewrite a file whole */
    cr_expect_eq(cx->impl->write_begin(cx, &plan, &err), MS_EINTERNAL);
    cw_expect_listing("out.csv");
    ms_cx_close(cx);
    ms_arena_free(a);
}

Test(cx_write, csv_snapshot_new_file_per_run)
{
    struct ms_write_plan plan = cw_plan3("snapshot", NULL);
    struct ms_arena *a = ms_arena_new();
    struct ms_ops ops = cw_ops(a, &plan);
    struct ms_cx *cx = cw_files(&ms_connector_csv);
    char *list, *snap;
    int n = 0;

    plan.object = "snap.csv";
    plan.full = true;
    cw_write_file("snap.csv", "untouched\n");
    cw_add_rows(&ops, MS_OP_INSERT, 1, 3);
    cw_run(cx, &plan, &ops);
    cw_run(cx, &plan, &ops);
    cw_expect_file("snap.csv", "untouched\n");
    list = cw_listing();
    /* snap-YYYYMMDDTHHMMSSZ.csv, then another (-2 when both runs fell in the same second) */
    snap = strtok(list, ",");
    while (snap != NULL) {
        if (strcmp(snap, "snap.csv") != 0) {
            cr_expect(strncmp(snap, "snap-20", 7) == 0 && snap[13] == 'T' && snap[20] == 'Z', "%s",
                      snap);
            cw_expect_file(snap, "id,name,score\n1,n1,1.5\n2,n2,3\n");
            n++;
        }
        snap = strtok(NULL, ",");
    }
    cr_expect_eq(n, 2);
    free(list);
    ms_cx_close(cx);
    ms_arena_free(a);
}

/* A failed batch is cut off the file again: re-sending it duplicates nothing. */
Test(cx_write, csv_failed_batch_is_cut_off)
{
    struct ms_write_plan plan = cw_plan3("append", NULL);
    struct ms_arena *a = ms_arena_new();
    struct ms_ops ops = cw_ops(a, &plan);
    struct ms_cx *cx = cw_files(&ms_connector_csv);
    struct ms_error err = {0};
    char *before, *after;

    plan.object = "c.csv";
    cw_write_file("c.csv", "id,name,score\n");
    cr_assert_eq(cx->impl->write_begin(cx, &plan, &err), MS_OK, "%s", err.msg);
    cw_add_rows(&ops, MS_OP_INSERT, 0, 2);
    cr_assert_eq(cx->impl->write(cx, &ops, &err), MS_OK, "%s", err.msg);
    before = cw_slurp("c.csv");
    ms_arena_reset(a);
    ops = cw_ops(a, &plan);
    cw_add_rows(&ops, MS_OP_INSERT, 2, 4000);    /* well over one 64 KiB buffer */
    cw_add(&ops, MS_OP_INSERT, cw_null(), NULL); /* an insert without values: a bug */
    cr_expect_eq(cx->impl->write(cx, &ops, &err), MS_EINTERNAL);
    after = cw_slurp("c.csv");
    cr_expect_str_eq(after, before);
    free(before);
    free(after);
    cr_expect_eq(cx->impl->write_end(cx, true, &err), MS_OK, "%s", err.msg);
    ms_cx_close(cx);
    ms_arena_free(a);
}

/* ---- jsonl ---- */

Test(cx_write, jsonl_append_values)
{
    struct ms_write_plan plan = cw_fplan("out.jsonl", "append");
    struct ms_arena *a = ms_arena_new();
    struct ms_ops ops = cw_ops(a, &plan);
    struct ms_cx *cx = cw_files(&ms_connector_jsonl);
    struct ms_value odd[5] = {cw_sn("\x01\xff\xc3\xa9\t", 5), cw_d(INFINITY), cw_d(-0.5),
                              cw_i(INT64_MIN), cw_s("\xe2\x82\xac")};
    json_t *mcfg = json_pack("{s:s}", "file", "out.jsonl"), *rows = NULL;
    struct ms_error err = {0};

    cr_expect(ms_connector_jsonl.flags & MS_CX_NOKEY);
    cw_write_file("out.jsonl", "{\"a\": 0}");
    cw_add_file_rows(&ops);
    cw_add(&ops, MS_OP_INSERT, cw_null(), odd);
    cw_add(&ops, MS_OP_DELETE, cw_i(1), NULL);
    cw_run(cx, &plan, &ops);
    cr_expect(ops.op[4].rejected);
    cw_expect_file("out.jsonl",
                   "{\"a\": 0}\n"
                   "{\"a\":1,\"b\":\"plain\",\"c\":\"a,b\",\"d\":\"say "
                   "\\\"hi\\\"\",\"e\":\"two\\nlines\\r\"}\n"
                   "{\"a\":-2,\"b\":null,\"c\":\"\",\"d\":2.5,\"e\":true}\n"
                   "{\"a\":0.1,\"b\":1e+300,\"c\":false,\"d\":3.0,\"e\":\"x\\u0000y\"}\n"
                   "{\"a\":\"\\u0001\xef\xbf\xbd\xc3\xa9\\t\",\"b\":null,\"c\":-0.5,"
                   "\"d\":-9223372036854775808,\"e\":\"\xe2\x82\xac\"}\n");
    cr_assert_eq(ms_cx_sample(cx, mcfg, 10, &rows, &err), MS_OK, "%s", err.msg);
    cr_assert_eq(json_array_size(rows), 5);
    cr_expect(json_is_real(json_object_get(json_array_get(rows, 3), "d")), "3.0 stays a real");
    cr_expect_eq(json_string_length(json_object_get(json_array_get(rows, 3), "e")), 3);
    json_decref(rows);
    json_decref(mcfg);
    ms_cx_close(cx);
    ms_arena_free(a);
}

/* MS_V_NUM goes into CSV fields and JSON numbers exactly as the source printed it. */
Test(cx_write, num_values_as_written_by_the_source)
{
    struct ms_write_plan cplan = cw_fplan("n.csv", "append"), jplan = cw_fplan("n.jsonl", "append");
    struct ms_arena *a = ms_arena_new();
    struct ms_ops ops;
    struct ms_cx *cx;
    struct ms_value v[5] = {cw_num("1e+100"), cw_num("-0"), cw_num("12345678901234567890.123"),
                            cw_num("0.1"), cw_num("5")};

    cw_write_file("n.csv", "a,b,c,d,e\n");
    cw_write_file("n.jsonl", "");
    cx = cw_files(&ms_connector_csv);
    ops = cw_ops(a, &cplan);
    cw_add(&ops, MS_OP_INSERT, cw_null(), v);
    cw_run(cx, &cplan, &ops);
    cw_expect_acked(&ops);
    ms_cx_close(cx);
    cw_expect_file("n.csv", "a,b,c,d,e\n1e+100,-0,12345678901234567890.123,0.1,5\n");
    cx = cw_files(&ms_connector_jsonl);
    ops = cw_ops(a, &jplan);
    cw_add(&ops, MS_OP_INSERT, cw_null(), v);
    cw_run(cx, &jplan, &ops);
    cw_expect_acked(&ops);
    ms_cx_close(cx);
    cw_expect_file("n.jsonl", "{\"a\":1e+100,\"b\":-0.0,\"c\":12345678901234567890.123,\"d\":0.1,"
                              "\"e\":5.0}\n");
    ms_arena_free(a);
}

Test(cx_write, jsonl_replace_snapshot_and_rollback)
{
    struct ms_write_plan plan = cw_plan3("replace", NULL);
    struct ms_arena *a = ms_arena_new();
    struct ms_ops ops = cw_ops(a, &plan);
    struct ms_cx *cx = cw_files(&ms_connector_jsonl);
    struct ms_error err = {0};
    char *list;

    plan.object = "r.jsonl";
    plan.full = true;
    cw_write_file("r.jsonl", "{\"old\":1}\n");
    cw_add_rows(&ops, MS_OP_INSERT, 1, 3);
    cr_assert_eq(cx->impl->write_begin(cx, &plan, &err), MS_OK, "%s", err.msg);
    cr_assert_eq(cx->impl->write(cx, &ops, &err), MS_OK, "%s", err.msg);
    cr_assert_eq(cx->impl->write_end(cx, false, &err), MS_OK, "%s", err.msg);
    cw_expect_file("r.jsonl", "{\"old\":1}\n");
    cw_expect_listing("r.jsonl");
    cw_run(cx, &plan, &ops);
    cw_expect_file("r.jsonl", "{\"id\":1,\"name\":\"n1\",\"score\":1.5}\n"
                              "{\"id\":2,\"name\":\"n2\",\"score\":3.0}\n");
    plan.mode = "snapshot";
    cw_run(cx, &plan, &ops);
    list = cw_listing();
    cr_expect(strncmp(list, "r-20", 4) == 0 && strstr(list, "Z.jsonl,r.jsonl") != NULL, "%s", list);
    free(list);
    plan.mode = "updateOrCreate";
    cr_expect_eq(cx->impl->write_begin(cx, &plan, &err), MS_EUNSUPP);
    plan.mode = "append";
    plan.object = "../escape.jsonl";
    cr_expect_eq(cx->impl->write_begin(cx, &plan, &err), MS_EUNPROC);
    ms_cx_close(cx);
    ms_arena_free(a);
}
