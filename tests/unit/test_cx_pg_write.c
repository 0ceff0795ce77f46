/* tests/unit/test_cx_pg_write.c: the postgresql connector's write side
 * (connectors/postgresql_write.c). The COPY encoding and the status mapping are checked
 * everywhere; the rest runs against the server in MS_TEST_PG (tests/run.sh starts one) and is
 * skipped without it. Each test process makes its own schema with libpq directly, checks the
 * target's rows through that connection, and drops the schema afterwards. */
#include <criterion/criterion.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#if MS_WITH_PG
#include <libpq-fe.h>
#endif

#include "connectors/connector.h"
#include "connectors/postgresql_int.h"
#include "core/arena.h"
#include "core/buf.h"

#if MS_WITH_PG

#define PGWT_MAX_OPS 64

/* Value constructors for ops. */
#define VN ((struct ms_value){.type = MS_V_NULL})
#define VI(x) ((struct ms_value){.type = MS_V_INT, .u.i = (x)})
#define VR(x) ((struct ms_value){.type = MS_V_REAL, .u.d = (x)})
#define VB(x) ((struct ms_value){.type = MS_V_BOOL, .u.b = (x)})
#define VT(x) ((struct ms_value){.type = MS_V_TEXT, .u.s = {.p = (x), .len = strlen(x)}})
#define VTN(x, n) ((struct ms_value){.type = MS_V_TEXT, .u.s = {.p = (x), .len = (n)}})
#define VNUM(x) ((struct ms_value){.type = MS_V_NUM, .u.s = {.p = (x), .len = strlen(x)}})

/* ---- without a server ---- */

static char *
pgwt_encode(struct ms_value v)
{
    static char out[256];
    struct ms_buf b;

    ms_buf_init(&b, sizeof(out));
    pgw_put_value(&b, &v, false);
    snprintf(out, sizeof(out), "%s", ms_buf_str(&b));
    ms_buf_release(&b);
    return out;
}

Test(cx_pg_write_unit, copy_text_encoding)
{
    cr_expect_str_eq(pgwt_encode(VN), "\\N");
    cr_expect_str_eq(pgwt_encode(VI(-9223372036854775807LL - 1)), "-9223372036854775808");
    cr_expect_str_eq(pgwt_encode(VI(0)), "0");
    cr_expect_str_eq(pgwt_encode(VI(-7)), "-7");
    cr_expect_str_eq(pgwt_encode(VI(9223372036854775807LL)), "9223372036854775807");
    cr_expect_str_eq(pgwt_encode(VR(0.1)), "0.1", "shortest round trip");
    cr_expect_str_eq(pgwt_encode(VR(1.0 / 3)), "0.3333333333333333");
    cr_expect_str_eq(pgwt_encode(VR(1e300)), "1e+300");
    cr_expect_str_eq(pgwt_encode(VR(0.0 / 0.0)), "NaN");
    cr_expect_str_eq(pgwt_encode(VR(-1.0 / 0.0)), "-Infinity");
    {
        struct ms_buf b;
        struct ms_value v = VR(0.1);

        ms_buf_init(&b, 64);
        pgw_put_value(&b, &v, true);
        cr_expect_str_eq(ms_buf_str(&b), "0.10000000000000001", "float8 columns: %%.17g");
        ms_buf_reset(&b);
        v = VR(-1.0 / 0.0);
        pgw_put_value(&b, &v, true);
        cr_expect_str_eq(ms_buf_str(&b), "-Infinity");
        ms_buf_release(&b);
    }
    cr_expect_str_eq(pgwt_encode(VNUM("1e+100")), "1e+100", "MS_V_NUM as the source wrote it");
    cr_expect_str_eq(pgwt_encode(VNUM("-0")), "-0");
    cr_expect_str_eq(pgwt_encode(VNUM("12345678901234567890.123")), "12345678901234567890.123");
    {
        struct ms_buf b;
        struct ms_value v = VNUM("0.1");

        ms_buf_init(&b, 64);
        pgw_put_value(&b, &v, true);
        cr_expect_str_eq(ms_buf_str(&b), "0.1", "float8 columns too: no %%.17g for a NUM");
        ms_buf_release(&b);
    }
    cr_expect_str_eq(pgwt_encode(VB(true)), "true");
    cr_expect_str_eq(pgwt_encode(VB(false)), "false");
    cr_expect_str_eq(pgwt_encode(VT("a\tb\nc\rd\\e")), "a\\tb\\nc\\rd\\\\e");
    cr_expect_str_eq(pgwt_encode(VT("\\N")), "\\\\N", "text \\N is not NULL");
    cr_expect_str_eq(pgwt_encode(VT("")), "");
    cr_expect_str_eq(pgwt_encode(VT("ünï 😀 \x01\x0b")), "ünï 😀 \x01\x0b");
}

Test(cx_pg_write_unit, status_of_sqlstate)
{
    cr_expect_eq(pgw_status_of("40001"), MS_EBUSY, "serialization failure");
    cr_expect_eq(pgw_status_of("40P01"), MS_EBUSY, "deadlock");
    cr_expect_eq(pgw_status_of("53300"), MS_EBUSY, "too many connections");
    cr_expect_eq(pgw_status_of("53100"), MS_EBUSY, "disk full");
    cr_expect_eq(pgw_status_of("55P03"), MS_EBUSY, "lock not available");
    cr_expect_eq(pgw_status_of("57P03"), MS_EBUSY, "cannot connect now");
    cr_expect_eq(pgw_status_of("57P01"), MS_EUPSTREAM, "admin shutdown");
    cr_expect_eq(pgw_status_of("08006"), MS_EUPSTREAM);
    cr_expect_eq(pgw_status_of("42501"), MS_EUPSTREAM, "permission denied");
    cr_expect_eq(pgw_status_of(NULL), MS_EUPSTREAM, "libpq-side failure");
    cr_expect_eq(pgw_status_of(""), MS_EUPSTREAM);
}

/* ---- against a server ---- */

static PGconn *pgwt_conn;    /* the fixture's own connection, NULL without a server */
static char pgwt_schema[64]; /* this process's schema */

static void
pgwt_exec(const char *sql)
{
    PGresult *res = PQexec(pgwt_conn, sql);
    ExecStatusType s = PQresultStatus(res);

    cr_assert(s == PGRES_COMMAND_OK || s == PGRES_TUPLES_OK, "%s: %s", sql,
              PQerrorMessage(pgwt_conn));
    PQclear(res);
}

static void pgwt_execf(const char *fmt, ...) MS_PRINTF(1, 2);

static void
pgwt_execf(const char *fmt, ...)
{
    char sql[4096];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(sql, sizeof(sql), fmt, ap);
    va_end(ap);
    pgwt_exec(sql);
}

static const char *pgwt_rows(const char *fmt, ...) MS_PRINTF(1, 2);

/* The rows of a query as "a|b\n" lines (NULL as "~"), in a static buffer. */
static const char *
pgwt_rows(const char *fmt, ...)
{
    static char out[16384];
    char sql[4096];
    size_t o = 0;
    va_list ap;
    PGresult *res;

    va_start(ap, fmt);
    vsnprintf(sql, sizeof(sql), fmt, ap);
    va_end(ap);
    res = PQexec(pgwt_conn, sql);
    cr_assert_eq(PQresultStatus(res), PGRES_TUPLES_OK, "%s: %s", sql, PQerrorMessage(pgwt_conn));
    out[0] = '\0';
    for (int r = 0; r < PQntuples(res); r++)
        for (int c = 0; c < PQnfields(res); c++)
            o += (size_t)snprintf(out + o, sizeof(out) - o, "%s%s",
                                  PQgetisnull(res, r, c) ? "~" : PQgetvalue(res, r, c),
                                  c + 1 < PQnfields(res) ? "|" : "\n");
    PQclear(res);
    return out;
}

static void
pgwt_setup(void)
{
    const char *dsn = getenv("MS_TEST_PG");

    if (dsn == NULL || dsn[0] == '\0' || getenv("MS_TEST_PG_PORT") == NULL)
        return;
    pgwt_conn = PQconnectdb(dsn);
    cr_assert_eq(PQstatus(pgwt_conn), CONNECTION_OK, "%s", PQerrorMessage(pgwt_conn));
    pgwt_exec("SET client_min_messages = warning");
    pgwt_exec("SET TimeZone = 'UTC'");
    snprintf(pgwt_schema, sizeof(pgwt_schema), "ms_pgw_%d", (int)getpid());
    pgwt_execf("CREATE SCHEMA %s", pgwt_schema);
}

static void
pgwt_teardown(void)
{
    if (pgwt_conn == NULL)
        return;
    pgwt_execf("DROP SCHEMA IF EXISTS %s CASCADE", pgwt_schema);
    PQfinish(pgwt_conn);
    pgwt_conn = NULL;
}

TestSuite(cx_pg_write, .init = pgwt_setup, .fini = pgwt_teardown, .timeout = 60);

static struct ms_cx *
pgwt_open(void)
{
    json_t *cfg;
    struct ms_cx *cx = NULL;
    struct ms_error err = {0};

    if (pgwt_conn == NULL)
        cr_skip_test("MS_TEST_PG is not set");
    cfg = json_pack("{s:s, s:s, s:s, s:s, s:s}", "hostname", getenv("MS_TEST_PG_HOST"), "port",
                    getenv("MS_TEST_PG_PORT"), "database", getenv("MS_TEST_PG_DB"), "username",
                    getenv("MS_TEST_PG_USER"), "password", getenv("MS_TEST_PG_PASSWORD"));
    cr_assert_eq(ms_cx_open(&ms_connector_postgresql, cfg, &cx, &err), MS_OK, "%s", err.msg);
    json_decref(cfg);
    return cx;
}

/* A plan for schema.<table>; the strings live in static storage, as a plan must outlive the
 * session. cols is a NULL-terminated list. */
struct pgwt_plan {
    struct ms_write_plan plan;
    char object[128];
    const char *cols[16];
};

static struct pgwt_plan pgwt_p;

static const struct ms_write_plan *
pgwt_plan(const char *table, const char *key, bool full, const char *const *cols)
{
    size_t n = 0;

    memset(&pgwt_p, 0, sizeof(pgwt_p));
    snprintf(pgwt_p.object, sizeof(pgwt_p.object), "%s.%s", pgwt_schema, table);
    while (cols[n] != NULL) {
        pgwt_p.cols[n] = cols[n];
        n++;
    }
    pgwt_p.plan = (struct ms_write_plan){.object = pgwt_p.object,
                                         .mode = "updateOrCreate",
                                         .ncols = n,
                                         .cols = pgwt_p.cols,
                                         .key_col = key,
                                         .sync_id = "sync-1",
                                         .execution_id = "exec-1",
                                         .full = full};
    return &pgwt_p.plan;
}

/* A batch of ops in its own arena. */
struct pgwt_batch {
    struct ms_arena *a;
    struct ms_ops ops;
    struct ms_op op[PGWT_MAX_OPS];
};

static void
pgwt_batch(struct pgwt_batch *b, const struct ms_write_plan *plan)
{
    if (b->a != NULL)
        ms_arena_free(b->a);
    memset(b, 0, sizeof(*b));
    b->a = ms_arena_new();
    b->ops = (struct ms_ops){.arena = b->a, .plan = plan, .op = b->op};
}

/* Append an op; vals holds plan->ncols values (NULL for a delete). */
static void
pgwt_op(struct pgwt_batch *b, enum ms_op_kind kind, struct ms_value key,
        const struct ms_value *vals)
{
    struct ms_op *op = &b->op[b->ops.n++];
    size_t n = b->ops.plan->ncols;

    cr_assert_leq(b->ops.n, PGWT_MAX_OPS);
    *op = (struct ms_op){.kind = kind, .key = key};
    if (vals != NULL) {
        struct ms_value *v = ms_arena_alloc(b->a, n * sizeof(*v));

        memcpy(v, vals, n * sizeof(*v));
        op->vals = v;
    }
}

static void
pgwt_batch_free(struct pgwt_batch *b)
{
    ms_arena_free(b->a);
    b->a = NULL;
}

static void
pgwt_write_ok(struct ms_cx *cx, struct pgwt_batch *b)
{
    struct ms_error err = {0};

    cr_assert_eq(ms_connector_postgresql.write(cx, &b->ops, &err), MS_OK, "%s", err.msg);
}

static void
pgwt_begin_ok(struct ms_cx *cx, const struct ms_write_plan *plan)
{
    struct ms_error err = {0};

    cr_assert_eq(ms_connector_postgresql.write_begin(cx, plan, &err), MS_OK, "%s", err.msg);
}

static void
pgwt_end_ok(struct ms_cx *cx, bool commit)
{
    struct ms_error err = {0};

    cr_assert_eq(ms_connector_postgresql.write_end(cx, commit, &err), MS_OK, "%s", err.msg);
}

static void
pgwt_expect_acked(const struct pgwt_batch *b, size_t i)
{
    cr_expect(!b->op[i].rejected, "op %zu rejected: %s", i,
              b->op[i].error != NULL ? b->op[i].error : "");
}

static void
pgwt_expect_rejected(const struct pgwt_batch *b, size_t i, const char *needle)
{
    cr_expect(b->op[i].rejected, "op %zu should be rejected", i);
    cr_expect(b->op[i].error != NULL && strstr(b->op[i].error, needle) != NULL,
              "op %zu: \"%s\" lacks \"%s\"", i, b->op[i].error ? b->op[i].error : "(null)", needle);
}

/* "people" with or without a unique index on id. */
static void
pgwt_people(bool unique)
{
    pgwt_execf("CREATE TABLE %s.people (id int8%s, name text, score numeric(10,2))", pgwt_schema,
               unique ? " PRIMARY KEY" : "");
    pgwt_execf("INSERT INTO %s.people VALUES (1, 'ann', 1.50), (2, 'bob', 2), (3, 'cy', NULL)",
               pgwt_schema);
}

static const char *const pgwt_people_cols[] = {"id", "name", "score", NULL};

static void
pgwt_insert_dedup(bool unique)
{
    struct ms_cx *cx = pgwt_open();
    const struct ms_write_plan *plan = pgwt_plan("people", "id", false, pgwt_people_cols);
    struct pgwt_batch b = {0};

    pgwt_people(unique);
    pgwt_begin_ok(cx, plan);
    for (int round = 0; round < 2; round++) { /* the second round re-sends the same batch */
        pgwt_batch(&b, plan);
        pgwt_op(&b, MS_OP_INSERT, VI(4), (struct ms_value[]){VI(4), VT("dee"), VT("4.25")});
        pgwt_op(&b, MS_OP_INSERT, VI(5), (struct ms_value[]){VI(5), VN, VR(0.5)});
        pgwt_op(&b, MS_OP_INSERT, VI(1), (struct ms_value[]){VI(1), VT("not ann"), VN});
        pgwt_write_ok(cx, &b);
        for (size_t i = 0; i < 3; i++)
            pgwt_expect_acked(&b, i);
    }
    pgwt_end_ok(cx, true);
    cr_expect_str_eq(pgwt_rows("SELECT id, name, score FROM %s.people ORDER BY id", pgwt_schema),
                     "1|ann|1.50\n2|bob|2.00\n3|cy|~\n4|dee|4.25\n5|~|0.50\n");
    pgwt_batch_free(&b);
    ms_cx_close(cx);
}

Test(cx_pg_write, insert_dedup_unique)
{
    pgwt_insert_dedup(true);
}

Test(cx_pg_write, insert_dedup_no_index)
{
    pgwt_insert_dedup(false);
}

static void
pgwt_update(bool unique)
{
    struct ms_cx *cx = pgwt_open();
    const struct ms_write_plan *plan = pgwt_plan("people", "id", false, pgwt_people_cols);
    struct pgwt_batch b = {0};
    char xmin_ann[32];

    pgwt_people(unique);
    snprintf(xmin_ann, sizeof(xmin_ann), "%s",
             pgwt_rows("SELECT xmin FROM %s.people WHERE id = 1", pgwt_schema));
    pgwt_begin_ok(cx, plan);
    pgwt_batch(&b, plan);
    pgwt_op(&b, MS_OP_UPDATE, VI(2), (struct ms_value[]){VI(2), VT("bobby"), VI(7)});
    pgwt_op(&b, MS_OP_UPDATE, VI(99), (struct ms_value[]){VI(99), VT("nobody"), VN});
    pgwt_op(&b, MS_OP_UPDATE, VI(1), (struct ms_value[]){VI(1), VT("ann"), VT("1.5")});
    pgwt_op(&b, MS_OP_UPDATE, VI(3), (struct ms_value[]){VI(3), VN, VN});
    pgwt_write_ok(cx, &b);
    pgwt_expect_acked(&b, 0);
    pgwt_expect_rejected(&b, 1, "no record with id = 99");
    pgwt_expect_acked(&b, 2);
    pgwt_expect_acked(&b, 3);
    pgwt_end_ok(cx, true);
    cr_expect_str_eq(pgwt_rows("SELECT id, name, score FROM %s.people ORDER BY id", pgwt_schema),
                     "1|ann|1.50\n2|bobby|7.00\n3|~|~\n");
    cr_expect_str_eq(pgwt_rows("SELECT xmin FROM %s.people WHERE id = 1", pgwt_schema), xmin_ann,
                     "an unchanged row is not written");
    pgwt_batch_free(&b);
    ms_cx_close(cx);
}

Test(cx_pg_write, update_unique)
{
    pgwt_update(true);
}

Test(cx_pg_write, update_no_index)
{
    pgwt_update(false);
}

static void
pgwt_upsert(bool unique)
{
    struct ms_cx *cx = pgwt_open();
    const struct ms_write_plan *plan = pgwt_plan("people", "id", false, pgwt_people_cols);
    struct pgwt_batch b = {0};

    pgwt_people(unique);
    pgwt_begin_ok(cx, plan);
    for (int round = 0; round < 2; round++) {
        pgwt_batch(&b, plan);
        pgwt_op(&b, MS_OP_UPSERT, VI(1), (struct ms_value[]){VI(1), VT("anna"), VN});
        pgwt_op(&b, MS_OP_UPSERT, VI(6), (struct ms_value[]){VI(6), VT("fay"), VT("6")});
        pgwt_op(&b, MS_OP_UPSERT, VI(2), (struct ms_value[]){VI(2), VT("bob"), VI(2)});
        pgwt_write_ok(cx, &b);
        for (size_t i = 0; i < 3; i++)
            pgwt_expect_acked(&b, i);
    }
    /* Only new rows: the direct COPY may take these. */
    pgwt_batch(&b, plan);
    pgwt_op(&b, MS_OP_UPSERT, VI(7), (struct ms_value[]){VI(7), VT("gus"), VN});
    pgwt_op(&b, MS_OP_UPSERT, VI(8), (struct ms_value[]){VI(8), VT("hal"), VN});
    pgwt_write_ok(cx, &b);
    pgwt_end_ok(cx, true);
    cr_expect_str_eq(pgwt_rows("SELECT id, name, score FROM %s.people ORDER BY id", pgwt_schema),
                     "1|anna|~\n2|bob|2.00\n3|cy|~\n6|fay|6.00\n7|gus|~\n8|hal|~\n");
    pgwt_batch_free(&b);
    ms_cx_close(cx);
}

Test(cx_pg_write, upsert_unique)
{
    pgwt_upsert(true);
}

Test(cx_pg_write, upsert_no_index)
{
    pgwt_upsert(false);
}

static void
pgwt_delete(bool unique)
{
    struct ms_cx *cx = pgwt_open();
    const struct ms_write_plan *plan = pgwt_plan("people", "id", false, pgwt_people_cols);
    struct pgwt_batch b = {0};

    pgwt_people(unique);
    pgwt_begin_ok(cx, plan);
    pgwt_batch(&b, plan);
    pgwt_op(&b, MS_OP_DELETE, VI(2), NULL);
    pgwt_op(&b, MS_OP_DELETE, VI(42), NULL); /* already gone: deleting it again is fine */
    pgwt_write_ok(cx, &b);
    pgwt_expect_acked(&b, 0);
    pgwt_expect_acked(&b, 1);
    pgwt_end_ok(cx, true);
    cr_expect_str_eq(pgwt_rows("SELECT id FROM %s.people ORDER BY id", pgwt_schema), "1\n3\n");
    pgwt_batch_free(&b);
    ms_cx_close(cx);
}

Test(cx_pg_write, delete_unique)
{
    pgwt_delete(true);
}

Test(cx_pg_write, delete_no_index)
{
    pgwt_delete(false);
}

Test(cx_pg_write, mixed_kinds_in_one_batch)
{
    struct ms_cx *cx = pgwt_open();
    const struct ms_write_plan *plan = pgwt_plan("people", "id", false, pgwt_people_cols);
    struct pgwt_batch b = {0};

    pgwt_people(true);
    pgwt_begin_ok(cx, plan);
    pgwt_batch(&b, plan);
    pgwt_op(&b, MS_OP_INSERT, VI(10), (struct ms_value[]){VI(10), VT("ten"), VN});
    pgwt_op(&b, MS_OP_UPDATE, VI(1), (struct ms_value[]){VI(1), VT("one"), VN});
    pgwt_op(&b, MS_OP_UPSERT, VI(11), (struct ms_value[]){VI(11), VT("eleven"), VN});
    pgwt_op(&b, MS_OP_DELETE, VI(3), NULL);
    pgwt_op(&b, MS_OP_UPDATE, VI(12), (struct ms_value[]){VI(12), VT("twelve"), VN});
    pgwt_write_ok(cx, &b);
    for (size_t i = 0; i < 4; i++)
        pgwt_expect_acked(&b, i);
    pgwt_expect_rejected(&b, 4, "no record with id = 12");
    pgwt_end_ok(cx, true);
    cr_expect_str_eq(pgwt_rows("SELECT id, name FROM %s.people ORDER BY id", pgwt_schema),
                     "1|one\n2|bob\n10|ten\n11|eleven\n");
    pgwt_batch_free(&b);
    ms_cx_close(cx);
}

Test(cx_pg_write, repeated_key_keeps_op_order)
{
    struct ms_cx *cx = pgwt_open();
    const struct ms_write_plan *plan = pgwt_plan("people", "id", false, pgwt_people_cols);
    struct pgwt_batch b = {0};

    pgwt_people(true);
    pgwt_begin_ok(cx, plan);
    pgwt_batch(&b, plan);
    pgwt_op(&b, MS_OP_UPSERT, VI(20), (struct ms_value[]){VI(20), VT("first"), VN});
    pgwt_op(&b, MS_OP_UPSERT, VI(20), (struct ms_value[]){VI(20), VT("second"), VN});
    pgwt_op(&b, MS_OP_UPDATE, VI(2), (struct ms_value[]){VI(2), VT("b1"), VN});
    pgwt_op(&b, MS_OP_UPDATE, VI(2), (struct ms_value[]){VI(2), VT("b2"), VN});
    pgwt_op(&b, MS_OP_DELETE, VI(1), NULL);
    pgwt_op(&b, MS_OP_INSERT, VI(1), (struct ms_value[]){VI(1), VT("again"), VN});
    pgwt_write_ok(cx, &b);
    for (size_t i = 0; i < 6; i++)
        pgwt_expect_acked(&b, i);
    pgwt_end_ok(cx, true);
    cr_expect_str_eq(pgwt_rows("SELECT id, name FROM %s.people ORDER BY id", pgwt_schema),
                     "1|again\n2|b2\n3|cy\n20|second\n");
    pgwt_batch_free(&b);
    ms_cx_close(cx);
}

static const char *const pgwt_typed_cols[] = {"k", "i4", "i8", "n",  "f8", "b",   "tz", "ts",
                                              "d", "t",  "vc", "jb", "js", "arr", NULL};

static void
pgwt_typed_table(void)
{
    pgwt_execf("CREATE TABLE %s.typed (k text PRIMARY KEY, i4 int4, i8 int8, n numeric(30,10),"
               " f8 float8, b bool, tz timestamptz, ts timestamp(3), d date, t text,"
               " vc varchar(12), jb jsonb, js json, arr int4[])",
               pgwt_schema);
}

/* Typed values round trip exactly, whatever the path (direct COPY, staged, row by row). */
static void
pgwt_typed(enum ms_op_kind kind)
{
    struct ms_cx *cx = pgwt_open();
    const struct ms_write_plan *plan = pgwt_plan("typed", "k", false, pgwt_typed_cols);
    struct pgwt_batch b = {0};
    static const char text[] = "tab\there\nnew line\r\\back\\slash \\N ünï 😀 'q' \"dq\" $ms$";
    char want[256];

    pgwt_typed_table();
    if (kind != MS_OP_INSERT) /* 'b' exists: an upsert updates it */
        pgwt_execf("INSERT INTO %s.typed (k, i4, t) VALUES ('b', 0, 'x')", pgwt_schema);
    if (kind == MS_OP_UPDATE)
        pgwt_execf("INSERT INTO %s.typed (k, i4) VALUES ('a', 0)", pgwt_schema);
    pgwt_begin_ok(cx, plan);
    pgwt_batch(&b, plan);
    pgwt_op(&b, kind, VT("a"),
            (struct ms_value[]){VT("a"), VI(-2147483648LL), VI(9223372036854775807LL),
                                VT("12345678901234567890.0123456789"), VR(0.1), VB(true),
                                VT("2024-02-29 23:59:59.123456+00"), VT("2024-01-15 09:30:00.5"),
                                VT("2024-01-15"), VT(text), VT("ünïcødé 😀"),
                                VT("{\"a\": [1, 2.5, null]}"), VT("{\"b\" :  1}"),
                                VT("{1,NULL,3}")});
    pgwt_op(&b, kind, VT("b"),
            (struct ms_value[]){VT("b"), VN, VN, VN, VR(-1.5e-300), VB(false), VN, VN, VN, VT(""),
                                VN, VN, VN, VN});
    pgwt_write_ok(cx, &b);
    pgwt_expect_acked(&b, 0);
    pgwt_expect_acked(&b, 1);
    pgwt_end_ok(cx, true);
    cr_expect_str_eq(
        pgwt_rows("SELECT k, i4, i8, n, f8, b, tz, ts, d, vc, jb, js, arr FROM %s.typed ORDER BY k",
                  pgwt_schema),
        "a|-2147483648|9223372036854775807|12345678901234567890.0123456789|0.1|t|"
        "2024-02-29 23:59:59.123456+00|2024-01-15 09:30:00.5|2024-01-15|ünïcødé 😀|"
        "{\"a\": [1, 2.5, null]}|{\"b\" :  1}|{1,NULL,3}\n"
        "b|~|~|~|-1.5e-300|f|~|~|~|~|~|~|~\n");
    snprintf(want, sizeof(want), "%s\n", text);
    cr_expect_str_eq(pgwt_rows("SELECT t FROM %s.typed WHERE k = 'a'", pgwt_schema), want);
    cr_expect_str_eq(pgwt_rows("SELECT t = '' FROM %s.typed WHERE k = 'b'", pgwt_schema), "t\n",
                     "an empty string is not NULL");
    pgwt_batch_free(&b);
    ms_cx_close(cx);
}

Test(cx_pg_write, typed_values_insert)
{
    pgwt_typed(MS_OP_INSERT);
}

Test(cx_pg_write, typed_values_upsert)
{
    pgwt_typed(MS_OP_UPSERT);
}

Test(cx_pg_write, typed_values_update)
{
    pgwt_typed(MS_OP_UPDATE);
}

/* NOT NULL, CHECK and UNIQUE: exactly the failing ops are rejected, the rest commit. */
static void
pgwt_constraints(enum ms_op_kind kind, bool unique_key)
{
    static const char *const cols[] = {"id", "email", "qty", NULL};
    struct ms_cx *cx = pgwt_open();
    const struct ms_write_plan *plan = pgwt_plan("orders", "id", false, cols);
    struct pgwt_batch b = {0};

    pgwt_execf("CREATE TABLE %s.orders (id int4%s, email text NOT NULL UNIQUE,"
               " qty int4 CHECK (qty > 0))",
               pgwt_schema, unique_key ? " PRIMARY KEY" : "");
    pgwt_execf("INSERT INTO %s.orders VALUES (1, 'taken@x', 1)", pgwt_schema);
    pgwt_begin_ok(cx, plan);
    pgwt_batch(&b, plan);
    pgwt_op(&b, kind, VI(10), (struct ms_value[]){VI(10), VT("a@x"), VI(1)});
    pgwt_op(&b, kind, VI(11), (struct ms_value[]){VI(11), VN, VI(1)});
    pgwt_op(&b, kind, VI(12), (struct ms_value[]){VI(12), VT("c@x"), VI(0)});
    pgwt_op(&b, kind, VI(13), (struct ms_value[]){VI(13), VT("taken@x"), VI(2)});
    pgwt_op(&b, kind, VI(14), (struct ms_value[]){VI(14), VT("e@x"), VT("many")});
    pgwt_op(&b, kind, VI(15), (struct ms_value[]){VI(15), VT("f@x"), VI(5)});
    pgwt_write_ok(cx, &b);
    pgwt_expect_acked(&b, 0);
    pgwt_expect_rejected(&b, 1, "violates not-null constraint");
    pgwt_expect_rejected(&b, 2, "violates check constraint");
    pgwt_expect_rejected(&b, 3, "duplicate key value violates unique constraint");
    pgwt_expect_rejected(&b, 3, "(Key (email)=(taken@x) already exists.)");
    pgwt_expect_rejected(&b, 4, "invalid input syntax for type integer: \"many\"");
    pgwt_expect_acked(&b, 5);
    pgwt_end_ok(cx, true);
    cr_expect_str_eq(pgwt_rows("SELECT id, email, qty FROM %s.orders ORDER BY id", pgwt_schema),
                     "1|taken@x|1\n10|a@x|1\n15|f@x|5\n");
    pgwt_batch_free(&b);
    ms_cx_close(cx);
}

Test(cx_pg_write, constraints_insert_unique)
{
    pgwt_constraints(MS_OP_INSERT, true);
}

Test(cx_pg_write, constraints_insert_no_index)
{
    pgwt_constraints(MS_OP_INSERT, false);
}

Test(cx_pg_write, constraints_upsert_unique)
{
    pgwt_constraints(MS_OP_UPSERT, true);
}

Test(cx_pg_write, constraints_upsert_no_index)
{
    pgwt_constraints(MS_OP_UPSERT, false);
}

Test(cx_pg_write, constraints_on_update)
{
    static const char *const cols[] = {"id", "email", "qty", NULL};
    struct ms_cx *cx = pgwt_open();
    const struct ms_write_plan *plan = pgwt_plan("orders", "id", false, cols);
    struct pgwt_batch b = {0};

    pgwt_execf("CREATE TABLE %s.orders (id int4 PRIMARY KEY, email text NOT NULL UNIQUE,"
               " qty int4 CHECK (qty > 0))",
               pgwt_schema);
    pgwt_execf("INSERT INTO %s.orders SELECT i, i || '@x', i FROM generate_series(1, 4) i",
               pgwt_schema);
    pgwt_begin_ok(cx, plan);
    pgwt_batch(&b, plan);
    pgwt_op(&b, MS_OP_UPDATE, VI(1), (struct ms_value[]){VI(1), VT("one@x"), VI(10)});
    pgwt_op(&b, MS_OP_UPDATE, VI(2), (struct ms_value[]){VI(2), VT("3@x"), VI(2)});
    pgwt_op(&b, MS_OP_UPDATE, VI(9), (struct ms_value[]){VI(9), VT("9@x"), VI(9)});
    pgwt_op(&b, MS_OP_UPDATE, VI(4), (struct ms_value[]){VI(4), VT("four@x"), VI(-4)});
    pgwt_write_ok(cx, &b);
    pgwt_expect_acked(&b, 0);
    pgwt_expect_rejected(&b, 1, "duplicate key value");
    pgwt_expect_rejected(&b, 2, "no record with id = 9");
    pgwt_expect_rejected(&b, 3, "violates check constraint");
    pgwt_end_ok(cx, true);
    cr_expect_str_eq(pgwt_rows("SELECT id, email, qty FROM %s.orders ORDER BY id", pgwt_schema),
                     "1|one@x|10\n2|2@x|2\n3|3@x|3\n4|4@x|4\n");
    pgwt_batch_free(&b);
    ms_cx_close(cx);
}

/* The rows of query read with the connector's reader into rows (arena a); nrows returned. */
static size_t
pgwt_read(struct ms_cx *cx, struct ms_arena *a, struct ms_rows *rows, const char *query)
{
    json_t *m = json_pack("{s:s}", "query", query);
    struct ms_error err = {0};

    *rows = (struct ms_rows){.arena = a, .cap = PGWT_MAX_OPS};
    cr_assert_eq(ms_connector_postgresql.read_begin(cx, m, rows, &err), MS_OK, "%s", err.msg);
    cr_assert_eq(ms_connector_postgresql.read(cx, rows, &err), MS_OK, "%s", err.msg);
    ms_connector_postgresql.read_end(cx);
    json_decref(m);
    return rows->nrows;
}

/* The nums-shaped table's rows as text (a numeric of 300 digits and more abridged). */
static const char *
pgwt_nums(const char *table)
{
    return pgwt_rows("SELECT k, f::text, r::text, CASE WHEN length(n::text) > 300 THEN"
                     " '1e+400 digits' ELSE n::text END FROM %s.%s ORDER BY k",
                     pgwt_schema, table);
}

/*
 * float8 and float4 values read as MS_V_NUM (numeric as text) and written back, through the
 * direct COPY (inserts), the staged statements (upserts over existing rows) and updates: every
 * value arrives exactly, -0 and the extremes included, and the text never went through a
 * double.
 */
static void
pgwt_num_round_trip(enum ms_op_kind kind)
{
    static const char *const cols[] = {"k", "f", "r", "n", NULL};
    static const char want[] = "1|0.1|0.1|12345678901234567890.123\n"
                               "2|-0|-0|-0.5\n"
                               "3|1e+100|1e+30|0\n"
                               "4|1.7976931348623157e+308|3.4028235e+38|~\n"
                               "5|5e-324|1e-45|0.00000000000000000001\n"
                               "6|NaN|Infinity|NaN\n"
                               "7|1.5e-07|-Infinity|1e+400 digits\n";
    struct ms_cx *cx = pgwt_open();
    const struct ms_write_plan *plan = pgwt_plan("nums", "k", false, cols);
    struct ms_arena *a = ms_arena_new();
    struct pgwt_batch b = {0};
    struct ms_rows rows;
    char q[512];

    pgwt_execf("CREATE TABLE %s.src (k int8 PRIMARY KEY, f float8, r float4, n numeric)",
               pgwt_schema);
    pgwt_execf("INSERT INTO %s.src VALUES (1, '0.1', '0.1', 12345678901234567890.123),"
               " (2, '-0', '-0', -0.5), (3, '1e100', '1e30', 0),"
               " (4, '1.7976931348623157e308', '3.4028235e38', NULL),"
               " (5, '5e-324', '1e-45', 1e-20), (6, 'NaN', 'Infinity', 'NaN'),"
               " (7, 1.5e-7, '-Infinity', 1e400)",
               pgwt_schema);
    pgwt_execf("CREATE TABLE %s.nums (k int8 PRIMARY KEY, f float8, r float4, n numeric)",
               pgwt_schema);
    if (kind != MS_OP_INSERT)
        pgwt_execf("INSERT INTO %s.nums SELECT i, 7, 7, 7 FROM generate_series(1, 7) i",
                   pgwt_schema);
    cr_assert_str_eq(pgwt_nums("src"), want);
    snprintf(q, sizeof(q), "SELECT * FROM %s.src ORDER BY k", pgwt_schema);
    cr_assert_eq(pgwt_read(cx, a, &rows, q), 7);
    cr_expect_eq(rows.cells[1].type, MS_V_NUM);
    cr_expect_eq(rows.cells[2].type, MS_V_NUM);
    cr_expect_eq(rows.cells[4 * 5 + 1].type, MS_V_TEXT, "NaN stays text");
    cr_expect_eq(rows.cells[3].type, MS_V_TEXT, "numeric is text");
    pgwt_begin_ok(cx, plan);
    pgwt_batch(&b, plan);
    for (size_t r = 0; r < rows.nrows; r++)
        pgwt_op(&b, kind, rows.cells[r * 4], &rows.cells[r * 4]);
    pgwt_write_ok(cx, &b);
    for (size_t i = 0; i < rows.nrows; i++)
        pgwt_expect_acked(&b, i);
    pgwt_end_ok(cx, true);
    cr_expect_str_eq(pgwt_nums("nums"), want);
    pgwt_batch_free(&b);
    ms_arena_free(a);
    ms_cx_close(cx);
}

Test(cx_pg_write, num_round_trip_insert)
{
    pgwt_num_round_trip(MS_OP_INSERT);
}

Test(cx_pg_write, num_round_trip_upsert)
{
    pgwt_num_round_trip(MS_OP_UPSERT);
}

Test(cx_pg_write, num_round_trip_update)
{
    pgwt_num_round_trip(MS_OP_UPDATE);
}

/* Keys compare by value: NUM "1.0", NUM "1" and REAL 1 name one row of a float8 key. */
Test(cx_pg_write, num_keys_compare_by_value)
{
    static const char *const cols[] = {"k", "v", NULL};
    struct ms_cx *cx = pgwt_open();
    const struct ms_write_plan *plan = pgwt_plan("fk", "k", false, cols);
    struct pgwt_batch b = {0};

    pgwt_execf("CREATE TABLE %s.fk (k float8 PRIMARY KEY, v text)", pgwt_schema);
    pgwt_begin_ok(cx, plan);
    pgwt_batch(&b, plan);
    pgwt_op(&b, MS_OP_UPSERT, VNUM("1.0"), (struct ms_value[]){VNUM("1.0"), VT("first")});
    pgwt_op(&b, MS_OP_UPSERT, VNUM("1"), (struct ms_value[]){VNUM("1"), VT("second")});
    pgwt_op(&b, MS_OP_UPSERT, VR(1.0), (struct ms_value[]){VR(1.0), VT("third")});
    pgwt_op(&b, MS_OP_UPSERT, VNUM("-0"), (struct ms_value[]){VNUM("-0"), VT("zero")});
    pgwt_op(&b, MS_OP_UPSERT, VR(0.0), (struct ms_value[]){VR(0.0), VT("zero again")});
    pgwt_write_ok(cx, &b);
    for (size_t i = 0; i < 5; i++)
        pgwt_expect_acked(&b, i);
    pgwt_end_ok(cx, true);
    cr_expect_str_eq(pgwt_rows("SELECT v FROM %s.fk ORDER BY k", pgwt_schema),
                     "zero again\nthird\n", "in op order, one row per value");
    pgwt_batch_free(&b);
    ms_cx_close(cx);
}

Test(cx_pg_write, text_postgresql_cannot_hold)
{
    static const char *const cols[] = {"id", "t", NULL};
    struct ms_cx *cx = pgwt_open();
    const struct ms_write_plan *plan = pgwt_plan("notes", "id", false, cols);
    struct pgwt_batch b = {0};

    pgwt_execf("CREATE TABLE %s.notes (id int4 PRIMARY KEY, t text)", pgwt_schema);
    pgwt_begin_ok(cx, plan);
    pgwt_batch(&b, plan);
    pgwt_op(&b, MS_OP_INSERT, VI(1), (struct ms_value[]){VI(1), VTN("a\0b", 3)});
    pgwt_op(&b, MS_OP_INSERT, VI(2), (struct ms_value[]){VI(2), VT("latin1 \xe9t\xe9")});
    pgwt_op(&b, MS_OP_INSERT, VI(3), (struct ms_value[]){VI(3), VT("fine")});
    pgwt_write_ok(cx, &b);
    pgwt_expect_rejected(&b, 0, "t: text with a NUL byte");
    pgwt_expect_rejected(&b, 1, "t: text that is not valid UTF-8");
    pgwt_expect_acked(&b, 2);
    pgwt_end_ok(cx, true);
    cr_expect_str_eq(pgwt_rows("SELECT id, t FROM %s.notes", pgwt_schema), "3|fine\n");
    pgwt_batch_free(&b);
    ms_cx_close(cx);
}

/* replace without identity: one transaction; readers see the old rows until the commit. */
static void
pgwt_full(bool commit)
{
    static const char *const cols[] = {"id", "name", NULL};
    struct ms_cx *cx = pgwt_open();
    const struct ms_write_plan *plan = pgwt_plan("snap", NULL, true, cols);
    struct pgwt_batch b = {0};

    pgwt_execf("CREATE TABLE %s.snap (id int4, name text NOT NULL)", pgwt_schema);
    pgwt_execf("INSERT INTO %s.snap VALUES (1, 'old1'), (2, 'old2')", pgwt_schema);
    pgwt_begin_ok(cx, plan);
    for (int batch = 0; batch < 2; batch++) {
        pgwt_batch(&b, plan);
        pgwt_op(&b, MS_OP_INSERT, VN, (struct ms_value[]){VI(10 + batch), VT("new")});
        pgwt_op(&b, MS_OP_INSERT, VN, (struct ms_value[]){VI(20 + batch), VN});
        pgwt_write_ok(cx, &b);
        pgwt_expect_acked(&b, 0);
        pgwt_expect_rejected(&b, 1, "violates not-null constraint");
    }
    cr_expect_str_eq(pgwt_rows("SELECT id FROM %s.snap ORDER BY id", pgwt_schema), "1\n2\n");
    pgwt_end_ok(cx, commit);
    cr_expect_str_eq(pgwt_rows("SELECT id FROM %s.snap ORDER BY id", pgwt_schema),
                     commit ? "10\n11\n" : "1\n2\n");
    /* The connection is usable again: another session on it. */
    plan = pgwt_plan("snap", NULL, false, cols);
    pgwt_begin_ok(cx, plan);
    pgwt_batch(&b, plan);
    pgwt_op(&b, MS_OP_INSERT, VN, (struct ms_value[]){VI(99), VT("after")});
    pgwt_write_ok(cx, &b);
    pgwt_end_ok(cx, true);
    cr_expect_str_eq(pgwt_rows("SELECT count(*) FROM %s.snap WHERE id = 99", pgwt_schema), "1\n");
    pgwt_batch_free(&b);
    ms_cx_close(cx);
}

Test(cx_pg_write, full_rewrite_commit)
{
    pgwt_full(true);
}

Test(cx_pg_write, full_rewrite_rollback)
{
    pgwt_full(false);
}

Test(cx_pg_write, full_rewrite_close_rolls_back)
{
    static const char *const cols[] = {"id", "name", NULL};
    struct ms_cx *cx = pgwt_open();
    const struct ms_write_plan *plan = pgwt_plan("snap", NULL, true, cols);
    struct pgwt_batch b = {0};
    struct ms_error err = {0};
    json_t *out = NULL;

    pgwt_execf("CREATE TABLE %s.snap (id int4, name text)", pgwt_schema);
    pgwt_execf("INSERT INTO %s.snap VALUES (1, 'old')", pgwt_schema);
    pgwt_begin_ok(cx, plan);
    pgwt_batch(&b, plan);
    pgwt_op(&b, MS_OP_INSERT, VN, (struct ms_value[]){VI(5), VT("new")});
    pgwt_write_ok(cx, &b);
    cr_expect_eq(ms_connector_postgresql.objects(cx, &out, &err), MS_EINTERNAL,
                 "the rewrite's transaction is not shared");
    ms_cx_close(cx);
    cr_expect_str_eq(pgwt_rows("SELECT id, name FROM %s.snap", pgwt_schema), "1|old\n");
    pgwt_batch_free(&b);
}

Test(cx_pg_write, unknown_table_and_columns)
{
    static const char *const good[] = {"id", "name", NULL};
    static const char *const bad[] = {"id", "nope", NULL};
    static const char *const gen[] = {"id", "twice", NULL};
    struct ms_cx *cx = pgwt_open();
    struct ms_error err = {0};

    pgwt_execf("CREATE TABLE %s.t (id int4, name text, twice int4 GENERATED ALWAYS AS (id * 2)"
               " STORED)",
               pgwt_schema);
    cr_expect_eq(ms_connector_postgresql.write_begin(cx, pgwt_plan("t", "id", false, bad), &err),
                 MS_EUNPROC);
    cr_expect_str_eq(err.field, "fields");
    cr_expect_neq(strstr(err.msg, "column \"nope\" does not exist"), NULL, "%s", err.msg);
    cr_expect_eq(ms_connector_postgresql.write_begin(cx, pgwt_plan("t", "id", false, gen), &err),
                 MS_EUNPROC);
    cr_expect_neq(strstr(err.msg, "generated"), NULL, "%s", err.msg);
    cr_expect_eq(
        ms_connector_postgresql.write_begin(cx, pgwt_plan("missing", "id", false, good), &err),
        MS_EUNPROC);
    cr_expect_str_eq(err.field, "target.object");
    cr_expect_eq(
        ms_connector_postgresql.write_begin(cx, pgwt_plan("t", "name ", false, good), &err),
        MS_EINTERNAL, "the key must be one of the columns");
    /* Nothing half-open is left behind: a good plan still works. */
    pgwt_begin_ok(cx, pgwt_plan("t", "id", false, good));
    pgwt_end_ok(cx, true);
    ms_cx_close(cx);
}

Test(cx_pg_write, quoted_names)
{
    static const char *const cols[] = {"Key Col", "we\"ird", "$ms$", NULL};
    struct ms_cx *cx = pgwt_open();
    const struct ms_write_plan *plan;
    struct pgwt_batch b = {0};

    pgwt_execf("CREATE TABLE %s.\"Mixed Case\" (\"Key Col\" text PRIMARY KEY, \"we\"\"ird\" int4,"
               " \"$ms$\" text)",
               pgwt_schema);
    plan = pgwt_plan("Mixed Case", "Key Col", false, cols);
    pgwt_begin_ok(cx, plan);
    pgwt_batch(&b, plan);
    pgwt_op(&b, MS_OP_UPSERT, VT("k1"), (struct ms_value[]){VT("k1"), VI(1), VT("$ms$")});
    pgwt_op(&b, MS_OP_UPSERT, VT("k1"), (struct ms_value[]){VT("k1"), VI(2), VT("x")});
    pgwt_op(&b, MS_OP_UPSERT, VT("k2"), (struct ms_value[]){VT("k2"), VT("bad"), VN});
    pgwt_write_ok(cx, &b); /* a repeated key: the row-by-row DO block, with its own $tag$ */
    pgwt_expect_acked(&b, 0);
    pgwt_expect_acked(&b, 1);
    pgwt_expect_rejected(&b, 2, "invalid input syntax");
    pgwt_end_ok(cx, true);
    cr_expect_str_eq(pgwt_rows("SELECT * FROM %s.\"Mixed Case\"", pgwt_schema), "k1|2|x\n");
    pgwt_batch_free(&b);
    ms_cx_close(cx);
}

/* Upserts of rows that exist: the direct COPY conflicts, backs off, and results stay right. */
Test(cx_pg_write, upserts_after_conflicts)
{
    struct ms_cx *cx = pgwt_open();
    const struct ms_write_plan *plan = pgwt_plan("people", "id", false, pgwt_people_cols);
    struct pgwt_batch b = {0};

    pgwt_people(true);
    pgwt_begin_ok(cx, plan);
    for (int round = 0; round < 6; round++) {
        pgwt_batch(&b, plan);
        for (int i = 1; i <= 4; i++)
            pgwt_op(&b, MS_OP_UPSERT, VI(i + round),
                    (struct ms_value[]){VI(i + round), VT("r"), VI(round)});
        pgwt_write_ok(cx, &b);
        for (size_t i = 0; i < 4; i++)
            pgwt_expect_acked(&b, i);
    }
    pgwt_end_ok(cx, true);
    cr_expect_str_eq(
        pgwt_rows("SELECT count(*), min(id), max(id), sum(score) FROM %s.people", pgwt_schema),
        "9|1|9|30.00\n");
    pgwt_batch_free(&b);
    ms_cx_close(cx);
}

/* A trigger that reports a serialization failure for id 666: the batch is MS_EBUSY. */
Test(cx_pg_write, serialization_failure_is_busy)
{
    struct ms_cx *cx = pgwt_open();
    const struct ms_write_plan *plan = pgwt_plan("people", "id", false, pgwt_people_cols);
    struct pgwt_batch b = {0};
    struct ms_error err = {0};

    pgwt_people(true);
    pgwt_execf("CREATE FUNCTION %s.busy() RETURNS trigger LANGUAGE plpgsql AS $f$ BEGIN"
               " IF NEW.id = 666 THEN RAISE EXCEPTION 'could not serialize' USING ERRCODE ="
               " '40001'; END IF; RETURN NEW; END $f$",
               pgwt_schema);
    pgwt_execf("CREATE TRIGGER busy BEFORE INSERT OR UPDATE ON %s.people FOR EACH ROW EXECUTE"
               " FUNCTION %s.busy()",
               pgwt_schema, pgwt_schema);
    pgwt_begin_ok(cx, plan);
    pgwt_batch(&b, plan);
    pgwt_op(&b, MS_OP_UPSERT, VI(7), (struct ms_value[]){VI(7), VT("ok"), VN});
    pgwt_op(&b, MS_OP_UPSERT, VI(666), (struct ms_value[]){VI(666), VT("busy"), VN});
    cr_expect_eq(ms_connector_postgresql.write(cx, &b.ops, &err), MS_EBUSY, "%s", err.msg);
    cr_expect_str_eq(err.sqlstate, "40001");
    cr_expect(!b.op[0].rejected && !b.op[1].rejected, "nothing carries a result");
    cr_expect_str_eq(pgwt_rows("SELECT count(*) FROM %s.people", pgwt_schema), "3\n",
                     "nothing was committed");
    /* The engine retries without the trouble; the session goes on. */
    b.ops.n = 1;
    pgwt_write_ok(cx, &b);
    pgwt_end_ok(cx, true);
    cr_expect_str_eq(pgwt_rows("SELECT count(*) FROM %s.people", pgwt_schema), "4\n");
    pgwt_batch_free(&b);
    ms_cx_close(cx);
}

/* The server ends the connection in the middle of a batch: MS_EUPSTREAM, nothing acknowledged. */
Test(cx_pg_write, server_gone_mid_batch)
{
    struct ms_cx *cx = pgwt_open();
    const struct ms_write_plan *plan = pgwt_plan("people", "id", false, pgwt_people_cols);
    struct pgwt_batch b = {0};
    struct ms_error err = {0};

    pgwt_people(true);
    pgwt_execf("CREATE FUNCTION %s.die() RETURNS trigger LANGUAGE plpgsql AS $f$ BEGIN"
               " IF NEW.id = 13 THEN PERFORM pg_terminate_backend(pg_backend_pid());"
               " PERFORM pg_sleep(5); END IF; RETURN NEW; END $f$",
               pgwt_schema);
    pgwt_execf("CREATE TRIGGER die BEFORE INSERT ON %s.people FOR EACH ROW EXECUTE FUNCTION"
               " %s.die()",
               pgwt_schema, pgwt_schema);
    pgwt_begin_ok(cx, plan);
    pgwt_batch(&b, plan);
    pgwt_op(&b, MS_OP_INSERT, VI(12), (struct ms_value[]){VI(12), VT("a"), VN});
    pgwt_op(&b, MS_OP_INSERT, VI(13), (struct ms_value[]){VI(13), VT("b"), VN});
    cr_expect_eq(ms_connector_postgresql.write(cx, &b.ops, &err), MS_EUPSTREAM);
    cr_expect_neq(strstr(err.msg, "postgresql write"), NULL, "%s", err.msg);
    cr_expect(!b.op[0].rejected && !b.op[1].rejected);
    cr_expect_str_eq(pgwt_rows("SELECT count(*) FROM %s.people", pgwt_schema), "3\n");
    memset(&err, 0, sizeof(err));
    cr_expect_eq(ms_connector_postgresql.write(cx, &b.ops, &err), MS_EUPSTREAM,
                 "the connection stays gone");
    cr_expect_eq(ms_connector_postgresql.write_end(cx, false, &err), MS_OK);
    pgwt_batch_free(&b);
    ms_cx_close(cx);
}

/* append adds every record as a new row: no identity check (a unique index still refuses). */
Test(cx_pg_write, append_mode_adds_rows)
{
    struct ms_cx *cx = pgwt_open();
    const struct ms_write_plan *plan;
    struct pgwt_batch b = {0};

    pgwt_people(false);
    pgwt_execf("CREATE TABLE %s.uniq (id int8 PRIMARY KEY, name text, score numeric)", pgwt_schema);
    pgwt_execf("INSERT INTO %s.uniq VALUES (1, 'ann', NULL)", pgwt_schema);
    plan = pgwt_plan("people", "id", false, pgwt_people_cols);
    pgwt_p.plan.mode = "append";
    pgwt_begin_ok(cx, plan);
    pgwt_batch(&b, plan);
    pgwt_op(&b, MS_OP_INSERT, VI(1), (struct ms_value[]){VI(1), VT("ann v2"), VN});
    pgwt_write_ok(cx, &b);
    pgwt_expect_acked(&b, 0);
    pgwt_end_ok(cx, true);
    cr_expect_str_eq(
        pgwt_rows("SELECT name FROM %s.people WHERE id = 1 ORDER BY name", pgwt_schema),
        "ann\nann v2\n");
    plan = pgwt_plan("uniq", "id", false, pgwt_people_cols);
    pgwt_p.plan.mode = "append";
    pgwt_begin_ok(cx, plan);
    pgwt_batch(&b, plan);
    pgwt_op(&b, MS_OP_INSERT, VI(1), (struct ms_value[]){VI(1), VT("ann v2"), VN});
    pgwt_op(&b, MS_OP_INSERT, VI(2), (struct ms_value[]){VI(2), VT("bo"), VN});
    pgwt_write_ok(cx, &b);
    pgwt_expect_rejected(&b, 0, "duplicate key value violates unique constraint");
    pgwt_expect_acked(&b, 1);
    pgwt_end_ok(cx, true);
    cr_expect_str_eq(pgwt_rows("SELECT id, name FROM %s.uniq ORDER BY id", pgwt_schema),
                     "1|ann\n2|bo\n");
    pgwt_batch_free(&b);
    ms_cx_close(cx);
}

Test(cx_pg_write, unsupported_mode)
{
    struct ms_cx *cx = pgwt_open();
    const struct ms_write_plan *plan;
    struct ms_error err = {0};

    pgwt_people(true);
    plan = pgwt_plan("people", "id", false, pgwt_people_cols);
    pgwt_p.plan.mode = "snapshot";
    cr_expect_eq(ms_connector_postgresql.write_begin(cx, plan, &err), MS_EUNSUPP);
    cr_expect_str_eq(err.key, "unsupported_mode");
    ms_cx_close(cx);
}

Test(cx_pg_write, write_without_begin)
{
    struct ms_cx *cx = pgwt_open();
    struct pgwt_batch b = {0};
    struct ms_error err = {0};

    pgwt_batch(&b, pgwt_plan("people", "id", false, pgwt_people_cols));
    cr_expect_eq(ms_connector_postgresql.write(cx, &b.ops, &err), MS_EINTERNAL);
    cr_expect_eq(ms_connector_postgresql.write_end(cx, true, &err), MS_OK, "no session: no-op");
    pgwt_batch_free(&b);
    ms_cx_close(cx);
}

#else

Test(cx_pg_write_unit, not_built_in)
{
    cr_expect_not_null(ms_connector_postgresql.write);
}

#endif
