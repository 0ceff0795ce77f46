/*
 * sqlite_insert.c: the S6 floor of BENCHMARKS.md and the side it is compared with. "floor"
 * puts the firenibble rows into a SQLite table the fastest plain way: one prepared INSERT
 * bound per row with typed values, one transaction, WAL and synchronous=NORMAL. "connector"
 * writes the same rows through the sqlite connector's write_begin/write/write_end, in batches
 * of MS_ROWS_DEFAULT ops as the engine sends them. Rows are generated before the clock starts,
 * so only the writing (open to close) is timed. "setup" makes the fresh WAL file both use.
 *
 *   sqlite_insert setup DB | floor DB ROWS | connector DB ROWS [MODE]
 * prints "rows=N seconds=S cpu_s=C rows_per_s=R" (C: user + system CPU of the timed part).
 */
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "connectors/connector.h"
#include "core/arena.h"

#define FN_COLS 16
#define FN_TEXTS 8 /* f8, f9, f10-f12 (dates), f13-f15 */

static const char fn_ddl[] =
    "CREATE TABLE firenibble (f0 INTEGER PRIMARY KEY, f1 INTEGER, f2 INTEGER, f3 INTEGER,"
    " f4 REAL, f5 REAL, f6 REAL, f7 REAL, f8 VARCHAR(32), f9 VARCHAR(32), f10 DATE, f11 DATE,"
    " f12 DATE, f13 VARCHAR(32), f14 VARCHAR(32), f15 VARCHAR(32))";
static const char *const fn_cols[FN_COLS] = {"f0", "f1", "f2",  "f3",  "f4",  "f5",  "f6",  "f7",
                                             "f8", "f9", "f10", "f11", "f12", "f13", "f14", "f15"};
static const char *const fn_types[FN_COLS] = {
    "number", "number", "number",   "number",   "number",   "number", "number", "number",
    "string", "string", "datetime", "datetime", "datetime", "string", "string", "string"};

/* One generated row: f0-f2 bigint, f3 int, f4-f7 float8, then the eight text columns. */
struct fn_row {
    int64_t i[4];
    double d[4];
    char s[FN_TEXTS][33];
    int slen[FN_TEXTS];
};

static uint64_t
fn_next(uint64_t *state) /* splitmix64: seeded, the same rows every run */
{
    uint64_t z = (*state += 0x9e3779b97f4a7c15ULL);

    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static void
fn_text(struct fn_row *r, int k, uint64_t *state)
{
    static const char alpha[] = "abcdefghijklmnopqrstuvwxyz0123456789";
    int len = 8 + (int)(fn_next(state) % 25); /* 8..32 characters */

    for (int c = 0; c < len; c++)
        r->s[k][c] = alpha[fn_next(state) % (sizeof(alpha) - 1)];
    r->s[k][len] = '\0';
    r->slen[k] = len;
}

static struct fn_row *
fn_generate(size_t n)
{
    struct fn_row *rows = calloc(n, sizeof(*rows));
    uint64_t state = 42;

    for (size_t r = 0; r < n && rows != NULL; r++) {
        struct fn_row *x = &rows[r];

        x->i[0] = (int64_t)r + 1;
        x->i[1] = (int64_t)(fn_next(&state) >> 1);
        x->i[2] = (int64_t)(fn_next(&state) >> 20);
        x->i[3] = (int32_t)fn_next(&state);
        for (int k = 0; k < 4; k++)
            x->d[k] = (double)(fn_next(&state) % 100000000) / 1000.0;
        for (int k = 0; k < FN_TEXTS; k++) {
            if (k >= 2 && k <= 4)
                x->slen[k] = snprintf(
                    x->s[k], sizeof(x->s[k]), "%04d-%02d-%02d", 1990 + (int)(fn_next(&state) % 35),
                    1 + (int)(fn_next(&state) % 12), 1 + (int)(fn_next(&state) % 28));
            else
                fn_text(x, k, &state);
        }
    }
    return rows;
}

static double
fn_now(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double
fn_cpu(void)
{
    struct rusage ru;

    getrusage(RUSAGE_SELF, &ru);
    return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
           (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

static int
fn_check(sqlite3 *db, int rc, const char *what)
{
    if (rc == SQLITE_OK || rc == SQLITE_DONE)
        return 0;
    fprintf(stderr, "%s: %s\n", what, sqlite3_errmsg(db));
    return 1;
}

static int
fn_setup(const char *path)
{
    sqlite3 *db = NULL;
    int bad;

    remove(path);
    bad = fn_check(db, sqlite3_open(path, &db), "open");
    bad = bad || fn_check(db, sqlite3_exec(db, "PRAGMA journal_mode = WAL", NULL, NULL, NULL),
                          "journal_mode");
    bad = bad || fn_check(db, sqlite3_exec(db, fn_ddl, NULL, NULL, NULL), "create table");
    sqlite3_close(db);
    return bad;
}

/* The floor: prepared INSERT, typed binds, one transaction, WAL + synchronous=NORMAL. */
static int
fn_floor(const char *path, const struct fn_row *rows, size_t n)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    int bad = fn_check(db, sqlite3_open(path, &db), "open");

    bad = bad || fn_check(db, sqlite3_exec(db, "PRAGMA synchronous = NORMAL", NULL, NULL, NULL),
                          "synchronous");
    bad = bad || fn_check(db,
                          sqlite3_prepare_v2(db,
                                             "INSERT INTO firenibble VALUES (?,?,?,?,?,?,?,?,"
                                             "?,?,?,?,?,?,?,?)",
                                             -1, &st, NULL),
                          "prepare");
    bad = bad || fn_check(db, sqlite3_exec(db, "BEGIN", NULL, NULL, NULL), "begin");
    for (size_t r = 0; r < n && !bad; r++) {
        const struct fn_row *x = &rows[r];

        for (int k = 0; k < 4; k++)
            sqlite3_bind_int64(st, k + 1, x->i[k]);
        for (int k = 0; k < 4; k++)
            sqlite3_bind_double(st, k + 5, x->d[k]);
        for (int k = 0; k < FN_TEXTS; k++)
            sqlite3_bind_text(st, k + 9, x->s[k], x->slen[k], SQLITE_STATIC);
        bad = fn_check(db, sqlite3_step(st), "insert");
        sqlite3_reset(st);
    }
    bad = bad || fn_check(db, sqlite3_exec(db, "COMMIT", NULL, NULL, NULL), "commit");
    sqlite3_finalize(st);
    sqlite3_close(db);
    return bad;
}

/* The rows as the engine hands them over: batches of ops with typed values, made up front. */
static struct ms_value *
fn_values(const struct fn_row *rows, size_t n)
{
    struct ms_value *v = calloc(n * FN_COLS, sizeof(*v));

    for (size_t r = 0; r < n && v != NULL; r++) {
        struct ms_value *x = v + r * FN_COLS;

        for (int k = 0; k < 4; k++)
            x[k] = (struct ms_value){.type = MS_V_INT, .u.i = rows[r].i[k]};
        for (int k = 0; k < 4; k++)
            x[4 + k] = (struct ms_value){.type = MS_V_REAL, .u.d = rows[r].d[k]};
        for (int k = 0; k < FN_TEXTS; k++)
            x[8 + k] = (struct ms_value){.type = MS_V_TEXT,
                                         .u.s = {rows[r].s[k], (size_t)rows[r].slen[k]}};
    }
    return v;
}

static int
fn_connector(const char *path, const struct ms_value *vals, size_t n, const char *mode)
{
    struct ms_write_plan plan = {.object = "firenibble",
                                 .mode = mode,
                                 .ncols = FN_COLS,
                                 .cols = fn_cols,
                                 .types = fn_types,
                                 .key_col = strcmp(mode, "append") == 0 ? NULL : "f0",
                                 .sync_id = "bench",
                                 .execution_id = "bench"};
    enum ms_op_kind kind = strcmp(mode, "updateOrCreate") == 0 ? MS_OP_UPSERT : MS_OP_INSERT;
    struct ms_op *op = calloc(MS_ROWS_DEFAULT, sizeof(*op));
    struct ms_arena *arena = ms_arena_new();
    struct ms_error err = {0};
    struct ms_cx *cx = NULL;
    json_t *cfg = json_pack("{s:s}", "path", path);
    enum ms_status st = ms_cx_open(&ms_connector_sqlite, cfg, &cx, &err);

    if (st == MS_OK)
        st = cx->impl->write_begin(cx, &plan, &err);
    for (size_t r = 0; r < n && st == MS_OK; r += MS_ROWS_DEFAULT) {
        struct ms_ops ops = {.arena = arena, .plan = &plan, .op = op};

        ms_arena_reset(arena);
        for (; ops.n < MS_ROWS_DEFAULT && r + ops.n < n; ops.n++) {
            const struct ms_value *x = vals + (r + ops.n) * FN_COLS;

            op[ops.n] = (struct ms_op){.kind = kind, .vals = x, .key = x[0]};
        }
        st = cx->impl->write(cx, &ops, &err);
        for (size_t i = 0; i < ops.n && st == MS_OK; i++)
            if (op[i].rejected) {
                fprintf(stderr, "row %zu rejected: %s\n", r + i, op[i].error);
                st = MS_EINTERNAL;
            }
    }
    if (cx != NULL && st == MS_OK)
        st = cx->impl->write_end(cx, true, &err);
    if (st != MS_OK)
        fprintf(stderr, "connector: %s\n", err.msg);
    ms_cx_close(cx);
    json_decref(cfg);
    ms_arena_free(arena);
    free(op);
    return st != MS_OK;
}

int
main(int argc, char **argv)
{
    size_t n = argc > 3 ? strtoul(argv[3], NULL, 10) : 0;
    struct fn_row *rows;
    struct ms_value *vals = NULL;
    double t0, c0, t, c;
    int bad;

    if (argc == 3 && strcmp(argv[1], "setup") == 0)
        return fn_setup(argv[2]);
    if (argc < 4 || n == 0 ||
        (strcmp(argv[1], "floor") != 0 && strcmp(argv[1], "connector") != 0)) {
        fprintf(stderr, "usage: %s setup DB | floor DB ROWS | connector DB ROWS [MODE]\n", argv[0]);
        return 2;
    }
    rows = fn_generate(n);
    if (rows != NULL && strcmp(argv[1], "connector") == 0)
        vals = fn_values(rows, n);
    if (rows == NULL || (strcmp(argv[1], "connector") == 0 && vals == NULL))
        return 1;
    t0 = fn_now();
    c0 = fn_cpu();
    bad = vals == NULL ? fn_floor(argv[2], rows, n)
                       : fn_connector(argv[2], vals, n, argc > 4 ? argv[4] : "create");
    t = fn_now() - t0;
    c = fn_cpu() - c0;
    if (!bad)
        printf("rows=%zu seconds=%.4f cpu_s=%.4f rows_per_s=%.0f\n", n, t, c, (double)n / t);
    free(vals);
    free(rows);
    return bad;
}
