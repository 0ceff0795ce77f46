/*
 * bench/pg_writer.c: the S5 driver (BENCHMARKS.md). One deterministic generator of the
 * 16-column firenibble rows (f0 bigint key, f1-f2 bigint, f3 int, f4-f7 float8, f8-f9 and
 * f13-f15 varchar(32), f10-f12 date) feeds all three writers of the comparison, so they
 * write the same values:
 *
 *   pg_writer copy  ROWS VARIANT                 COPY text on stdout (for psql \copy)
 *   pg_writer sql   ROWS VARIANT PER_STMT TABLE  multi-row INSERT … ON CONFLICT DO UPDATE
 *                                                statements with literal values on stdout
 *   pg_writer write ROWS VARIANT KIND TABLE      the postgresql connector's writer, batches of
 *                                                MS_ROWS_DEFAULT ops (PW_BATCH=n: n ops) of
 *                                                KIND (insert|upsert); prints the seconds from
 *                                                open to close
 *
 * VARIANT changes every non-key value, so variant 1 over a table loaded with variant 0
 * rewrites every row. The writer reads the server from MS_TEST_PG_HOST, _PORT, _USER,
 * _PASSWORD and _DB (tests/pg.sh sets them). Built by bench/s5-pg-writer.sh against the
 * release objects in build/rel.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "connectors/connector.h"
#include "core/arena.h"
#include "core/time.h"

#define PW_COLS 16

static const char *const pw_cols[PW_COLS] = {"f0", "f1", "f2",  "f3",  "f4",  "f5",  "f6",  "f7",
                                             "f8", "f9", "f10", "f11", "f12", "f13", "f14", "f15"};

/* Kinds of the columns: i integer, r real, s varchar(32), d date. */
static const char pw_kind[PW_COLS + 1] = "iiiirrrrssdddsss";

/* One generated row, as the engine would hand it over. */
struct pw_row {
    struct ms_value v[PW_COLS];
    char text[PW_COLS][33]; /* varchar and date texts */
};

static uint64_t
pw_next(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

/* Days since 1970-01-01 as YYYY-MM-DD (Howard Hinnant's civil_from_days). */
static void
pw_date(int64_t z, char out[33])
{
    int64_t era, doe, yoe, y, doy, mp, d, m;

    z += 719468;
    era = (z >= 0 ? z : z - 146096) / 146097;
    doe = z - era * 146097;
    yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    y = yoe + era * 400;
    doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    mp = (5 * doy + 2) / 153;
    d = doy - (153 * mp + 2) / 5 + 1;
    m = mp < 10 ? mp + 3 : mp - 9;
    snprintf(out, 33, "%04d-%02d-%02d", (int)(y + (m <= 2)), (int)m, (int)d);
}

static void
pw_gen(struct pw_row *r, int64_t i, int variant)
{
    static const char alnum[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
    uint64_t s =
        (uint64_t)i * 0x9e3779b97f4a7c15ULL + (uint64_t)variant * 0x632be59bd9b4e019ULL + 1;

    for (int c = 0; c < PW_COLS; c++) {
        uint64_t x = pw_next(&s);
        struct ms_value *v = &r->v[c];

        switch (pw_kind[c]) {
        case 'i':
            *v = (struct ms_value){.type = MS_V_INT,
                                   .u.i = c == 0   ? i + 1
                                          : c == 3 ? (int64_t)(x % 1000000)
                                                   : (int64_t)(x >> 12)};
            break;
        case 'r':
            *v = (struct ms_value){.type = MS_V_REAL,
                                   .u.d = (double)(x >> 11) / 9007199254740992.0 * 1000.0};
            break;
        case 's': {
            size_t n = 8 + x % 25;

            for (size_t k = 0; k < n; k++)
                r->text[c][k] = alnum[pw_next(&s) % (sizeof(alnum) - 1)];
            r->text[c][n] = '\0';
            *v = (struct ms_value){.type = MS_V_TEXT, .u.s = {r->text[c], n}};
            break;
        }
        default:
            pw_date(18262 + (int64_t)(x % 3650), r->text[c]); /* from 2020-01-01 */
            *v = (struct ms_value){.type = MS_V_TEXT, .u.s = {r->text[c], 10}};
            break;
        }
    }
}

/* A value as COPY text or as an SQL literal (generated texts need no escaping). */
static void
pw_print(const struct ms_value *v, bool sql)
{
    switch (v->type) {
    case MS_V_INT:
        printf("%lld", (long long)v->u.i);
        break;
    case MS_V_REAL:
        printf("%.17g", v->u.d);
        break;
    case MS_V_TEXT:
        printf(sql ? "'%s'" : "%s", v->u.s.p);
        break;
    default:
        printf(sql ? "NULL" : "\\N");
        break;
    }
}

static int
pw_copy(int64_t rows, int variant)
{
    struct pw_row r;

    for (int64_t i = 0; i < rows; i++) {
        pw_gen(&r, i, variant);
        for (int c = 0; c < PW_COLS; c++) {
            if (c > 0)
                putchar('\t');
            pw_print(&r.v[c], false);
        }
        putchar('\n');
    }
    return 0;
}

/* The Multiwoven-style loader: per_stmt rows of literals per INSERT … ON CONFLICT DO UPDATE. */
static int
pw_sql(int64_t rows, int variant, int64_t per_stmt, const char *table)
{
    struct pw_row r;

    for (int64_t i = 0; i < rows; i++) {
        if (i % per_stmt == 0) {
            printf("INSERT INTO %s (", table);
            for (int c = 0; c < PW_COLS; c++)
                printf("%s%s", c > 0 ? ", " : "", pw_cols[c]);
            printf(") VALUES\n");
        }
        pw_gen(&r, i, variant);
        putchar('(');
        for (int c = 0; c < PW_COLS; c++) {
            if (c > 0)
                putchar(',');
            pw_print(&r.v[c], true);
        }
        putchar(')');
        if ((i + 1) % per_stmt != 0 && i + 1 < rows) {
            printf(",\n");
            continue;
        }
        printf("\nON CONFLICT (f0) DO UPDATE SET ");
        for (int c = 1; c < PW_COLS; c++)
            printf("%s%s = EXCLUDED.%s", c > 1 ? ", " : "", pw_cols[c], pw_cols[c]);
        printf(";\n");
    }
    return 0;
}

static json_t *
pw_cfg(void)
{
    const char *host = getenv("MS_TEST_PG_HOST"), *port = getenv("MS_TEST_PG_PORT");

    if (host == NULL || port == NULL) {
        fprintf(stderr, "pg_writer: MS_TEST_PG_HOST and MS_TEST_PG_PORT are not set\n");
        exit(2);
    }
    return json_pack("{s:s, s:s, s:s, s:s, s:s}", "hostname", host, "port", port, "database",
                     getenv("MS_TEST_PG_DB") ? getenv("MS_TEST_PG_DB") : "postgres", "username",
                     getenv("MS_TEST_PG_USER") ? getenv("MS_TEST_PG_USER") : "postgres", "password",
                     getenv("MS_TEST_PG_PASSWORD") ? getenv("MS_TEST_PG_PASSWORD") : "");
}

/* Send every row through write() in batches; any rejection or failure is fatal here. */
static int
pw_batches(struct ms_cx *cx, const struct ms_write_plan *plan, const struct pw_row *all,
           int64_t rows, enum ms_op_kind kind)
{
    struct ms_arena *a = ms_arena_new();
    long env = getenv("PW_BATCH") != NULL ? atol(getenv("PW_BATCH")) : 0;
    size_t per = env > 0 ? (size_t)env : MS_ROWS_DEFAULT;
    struct ms_op *op = calloc(per, sizeof(*op));
    struct ms_error err = {0};

    for (int64_t i = 0; i < rows;) {
        struct ms_ops ops = {.arena = a, .plan = plan, .op = op};

        ms_arena_reset(a);
        for (; i < rows && ops.n < per; i++, ops.n++)
            op[ops.n] = (struct ms_op){.kind = kind, .vals = all[i].v, .key = all[i].v[0]};
        if (ms_connector_postgresql.write(cx, &ops, &err) != MS_OK) {
            fprintf(stderr, "pg_writer: write: %s\n", err.msg);
            return 1;
        }
        for (size_t k = 0; k < ops.n; k++)
            if (op[k].rejected) {
                fprintf(stderr, "pg_writer: row rejected: %s\n", op[k].error);
                return 1;
            }
    }
    free(op);
    ms_arena_free(a);
    return 0;
}

static int
pw_write(int64_t rows, int variant, const char *kind, const char *table)
{
    struct pw_row *all = malloc((size_t)rows * sizeof(*all));
    struct ms_write_plan plan = {.object = table,
                                 .mode = "updateOrCreate",
                                 .ncols = PW_COLS,
                                 .cols = pw_cols,
                                 .key_col = "f0",
                                 .sync_id = "s5",
                                 .execution_id = "s5"};
    enum ms_op_kind k = strcmp(kind, "insert") == 0 ? MS_OP_INSERT : MS_OP_UPSERT;
    json_t *cfg = pw_cfg();
    struct ms_cx *cx = NULL;
    struct ms_error err = {0};
    int64_t t0;
    int rc = 1;

    for (int64_t i = 0; i < rows; i++) /* generated before the clock starts */
        pw_gen(&all[i], i, variant);
    t0 = ms_time_mono_ms();
    if (ms_cx_open(&ms_connector_postgresql, cfg, &cx, &err) != MS_OK ||
        ms_connector_postgresql.write_begin(cx, &plan, &err) != MS_OK) {
        fprintf(stderr, "pg_writer: %s\n", err.msg);
        goto out;
    }
    rc = pw_batches(cx, &plan, all, rows, k);
    if (rc == 0 && ms_connector_postgresql.write_end(cx, true, &err) != MS_OK) {
        fprintf(stderr, "pg_writer: write_end: %s\n", err.msg);
        rc = 1;
    }
    if (rc == 0)
        printf("%.3f\n", (double)(ms_time_mono_ms() - t0) / 1000.0);
out:
    ms_cx_close(cx);
    json_decref(cfg);
    free(all);
    return rc;
}

int
main(int argc, char **argv)
{
    int64_t rows = argc > 2 ? strtoll(argv[2], NULL, 10) : 0;
    int variant = argc > 3 ? atoi(argv[3]) : 0;

    if (rows <= 0 || argc < 4) {
        fprintf(stderr, "usage: pg_writer copy|sql|write ROWS VARIANT [PER_STMT|KIND TABLE]\n");
        return 2;
    }
    if (strcmp(argv[1], "copy") == 0)
        return pw_copy(rows, variant);
    if (strcmp(argv[1], "sql") == 0 && argc == 6)
        return pw_sql(rows, variant, strtoll(argv[4], NULL, 10), argv[5]);
    if (strcmp(argv[1], "write") == 0 && argc == 6)
        return pw_write(rows, variant, argv[4], argv[5]);
    fprintf(stderr, "pg_writer: unknown command %s\n", argv[1]);
    return 2;
}
