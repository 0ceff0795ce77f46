/*
 * postgresql_write.c: the destination side of the postgresql connector (write_begin, write,
 * write_end).
 *
 * A batch never costs a round trip per row (BENCHMARKS.md S5): it is one simple-query
 * message whose COPY ... FROM STDIN is fed from the ops, followed by one set-based statement
 * per op kind and the COMMIT. Batches of inserts (and of upserts while they only ever create
 * rows) are COPYed straight into the target; the rest go as text through a session TEMP
 * staging table and are cast to the column types by the statements. When a statement fails on
 * a record (SQLSTATE class 21, 22 or 23) the batch is applied again by a DO block that runs
 * each op in its own subtransaction (an EXCEPTION block), so exactly the failing ops are
 * rejected with the server's message and the others commit. A full rewrite (plan->full) holds
 * one transaction from write_begin to write_end, each batch inside a savepoint.
 */
#include "connectors/postgresql_int.h"

#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#if MS_WITH_PG
#include <libpq-fe.h>

#include "connectors/connectors_int.h"
#include "core/arena.h"
#include "core/buf.h"
#include "core/xmalloc.h"

#define PGW_FLUSH_BYTES ((size_t)64 << 10) /* COPY data handed to libpq at a time */
/* The COPY line buffer is flushed after every value that takes it past PGW_FLUSH_BYTES, and a
 * value (at most MS_MAX_VALUE_BYTES) at most doubles when escaped. */
#define PGW_LINE_MAX_BYTES (2 * MS_MAX_VALUE_BYTES + PGW_FLUSH_BYTES + 64)
#define PGW_SQL_MAX_BYTES ((size_t)32 << 20) /* generated SQL: MS_MAX_COLUMNS quoted names */
#define PGW_ERROR_BYTES 1024                 /* a rejection message kept for an op */
#define PGW_BACKOFF_MAX 64 /* batches between direct COPY attempts after conflicts */

/* SQLSTATE of the DO block's "update of a key that does not exist" rows (no_data_found). */
#define PGW_MISSING_STATE "P0002"

/* The statements prepared by write_begin (NULL when they cannot occur). */
enum pgw_sql {
    PGW_COPY,    /* COPY target (cols) FROM STDIN */
    PGW_INSERT,  /* staged inserts */
    PGW_UPDATE,  /* staged updates (NULL when only the key is mapped) */
    PGW_MISSING, /* SELECT the ordinals of staged updates whose key is absent */
    PGW_UPSERT,  /* staged upserts: one statement, or an UPDATE and an INSERT */
    PGW_DELETE,  /* staged deletes */
    PGW_ROWS,    /* the DO block that applies the staged ops one at a time */
    PGW_NSQL
};

struct pg_wstate {
    const struct ms_write_plan *plan; /* borrowed: outlives write_end */
    char *target;                     /* owned: "schema"."table", quoted */
    char **qcol;                      /* owned [ncols]: quoted column names */
    char **cast;                      /* owned [ncols]: schema-qualified column type names */
    long key;                         /* index of plan->key_col in plan->cols, -1 without */
    bool dedupe;                      /* inserts skip keys already present (not in append) */
    bool unique;                      /* a plain unique index on the key column alone */
    bool text_cmp;                    /* a column type has no "=": compare values as text */
    bool overriding;                  /* a GENERATED ALWAYS identity column is mapped */
    bool *exact;                      /* owned [ncols]: float8 column, reals go as %.17g */
    unsigned copy_skip;               /* batches to go before a direct COPY is tried again */
    unsigned copy_backoff;            /* copy_skip after the next conflict */
    char *sql[PGW_NSQL];              /* owned statements */
    struct ms_buf script;             /* one attempt's statements */
    struct ms_buf line;               /* COPY data on its way to libpq */
};

/* One write() call. */
struct pgw_batch {
    struct pg_cx *s;
    struct pg_wstate *w;
    struct ms_ops *ops;
    size_t live;    /* ops not rejected before sending */
    unsigned kinds; /* 1 << kind of the live ops */
    bool dup;       /* two live ops share a key: only the row-by-row path keeps their order */
};

/* The outcome of one script. */
struct pgw_res {
    PGresult *rows; /* the script's row result (owned), or NULL */
    bool failed;
    char state[6]; /* SQLSTATE of the first failure; "" when the connection failed */
    char msg[200]; /* its primary message on one line */
};

/* The paths a batch can take, cheapest first. */
enum pgw_path { PGW_P_DIRECT, PGW_P_STAGED, PGW_P_ROWS };

/* ---- statuses ---- */

/*
 * Failures of the whole batch. Serialization failures, deadlocks, lock timeouts, resource
 * shortages and a starting server are worth retrying (the engine backs off on MS_EBUSY);
 * anything else, a lost connection included, is the target failing.
 */
MS_STATIC enum ms_status
pgw_status_of(const char *state)
{
    if (state == NULL || strlen(state) != 5)
        return MS_EUPSTREAM;
    if (strncmp(state, "40", 2) == 0 || strncmp(state, "53", 2) == 0 ||
        strcmp(state, "55P03") == 0 || strcmp(state, "57P03") == 0)
        return MS_EBUSY;
    return MS_EUPSTREAM;
}

/* Record a failure of the session's target with its SQLSTATE (state may be NULL or ""). */
static enum ms_status
pgw_fail(const struct pg_wstate *w, const char *state, const char *msg, struct ms_error *err)
{
    bool known = state != NULL && strlen(state) == 5;
    enum ms_status st = pgw_status_of(known ? state : NULL);

    ms_fail(err, st, "postgresql write %s: %s", w->plan->object, msg);
    if (err != NULL && known)
        memcpy(err->sqlstate, state, 6);
    return st;
}

/* Keep the first failure of a script: res == NULL means libpq itself failed. */
static void
pgw_note(struct pgw_res *r, const PGresult *res, PGconn *conn)
{
    const char *state = res != NULL ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
    const char *msg = res != NULL ? PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) : NULL;

    if (r->failed)
        return;
    r->failed = true;
    snprintf(r->state, sizeof(r->state), "%s", state != NULL ? state : "");
    ms_cx_pg_one_line(msg != NULL ? msg : PQerrorMessage(conn), r->msg, sizeof(r->msg));
    if (r->msg[0] == '\0')
        snprintf(r->msg, sizeof(r->msg), "connection lost");
}

/* A record-level failure: cardinality (21), data (22) or integrity constraint (23). */
static bool
pgw_record_error(const struct pgw_res *r)
{
    return r->failed && (strncmp(r->state, "21", 2) == 0 || strncmp(r->state, "22", 2) == 0 ||
                         strncmp(r->state, "23", 2) == 0);
}

/* ---- COPY text ---- */

/* Append without a possible refusal: every size is bounded by the caps of the buffers. */
static void
pgw_add(struct ms_buf *b, const char *p, size_t n)
{
    enum ms_status st = ms_buf_add(b, p, n);

    MS_ASSERT(st == MS_OK);
}

static void
pgw_adds(struct ms_buf *b, const char *s)
{
    pgw_add(b, s, strlen(s));
}

static void pgw_addf(struct ms_buf *b, const char *fmt, ...) MS_PRINTF(2, 3);

static void
pgw_addf(struct ms_buf *b, const char *fmt, ...)
{
    char tmp[512];
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
    va_end(ap);
    MS_ASSERT(n >= 0 && (size_t)n < sizeof(tmp));
    pgw_add(b, tmp, (size_t)n);
}

/* The shortest "%.Ng" that reads back as d, so 0.1 is written 0.1 and not 0.10000000000000001;
 * NaN and infinities in PostgreSQL's spelling. */
static void
pgw_real(char out[MS_VALUE_REAL_LEN], double d)
{
    if (isnan(d))
        snprintf(out, MS_VALUE_REAL_LEN, "NaN");
    else if (isinf(d))
        snprintf(out, MS_VALUE_REAL_LEN, d > 0 ? "Infinity" : "-Infinity");
    else
        ms_value_real_text(d, out);
}

/* An integer in decimal: vsnprintf costs more than the rest of a row's encoding. */
static void
pgw_put_int(struct ms_buf *b, int64_t v)
{
    char tmp[MS_VALUE_INT_LEN];

    pgw_add(b, tmp, ms_value_int_text(v, tmp));
}

/* Text with COPY's escapes: only \, tab, LF and CR need them (PostgreSQL's CopyAttributeOutText).
 */
static void
pgw_put_text(struct ms_buf *b, const char *p, size_t len)
{
    size_t start = 0;

    for (size_t i = 0; i < len; i++) {
        const char *esc;

        switch (p[i]) {
        case '\\':
            esc = "\\\\";
            break;
        case '\t':
            esc = "\\t";
            break;
        case '\n':
            esc = "\\n";
            break;
        case '\r':
            esc = "\\r";
            break;
        default:
            continue;
        }
        pgw_add(b, p + start, i - start);
        pgw_add(b, esc, 2);
        start = i + 1;
    }
    pgw_add(b, p + start, len - start);
}

/*
 * A value as COPY text. Reals go in their shortest exact form ("0.1"), which takes up to three
 * printf/strtod rounds; exact (a float8 column) sends %.17g at once, which float8in reads back
 * to the same double and the server prints short again. MS_V_NUM goes as the source printed
 * it: its digits need no escape, and every numeric input function reads that grammar.
 */
MS_STATIC void
pgw_put_value(struct ms_buf *b, const struct ms_value *v, bool exact)
{
    char num[MS_VALUE_REAL_LEN];

    switch (v->type) {
    case MS_V_NULL:
        pgw_add(b, "\\N", 2);
        break;
    case MS_V_INT:
        pgw_put_int(b, v->u.i);
        break;
    case MS_V_REAL:
        if (exact && isfinite(v->u.d))
            snprintf(num, sizeof(num), "%.17g", v->u.d);
        else
            pgw_real(num, v->u.d);
        pgw_adds(b, num);
        break;
    case MS_V_NUM:
        pgw_add(b, v->u.s.p, v->u.s.len);
        break;
    case MS_V_BOOL:
        pgw_adds(b, v->u.b ? "true" : "false");
        break;
    case MS_V_TEXT:
        pgw_put_text(b, v->u.s.p, v->u.s.len);
        break;
    }
}

/* The value op writes into column c: the identity value into the key column (DECISIONS.md
 * §4, "Identity on writes"), NULL for the other columns of a delete. */
static const struct ms_value *
pgw_value(const struct pg_wstate *w, const struct ms_op *op, size_t c)
{
    static const struct ms_value null = {.type = MS_V_NULL};

    if ((long)c == w->key)
        return &op->key;
    return op->kind == MS_OP_DELETE || op->vals == NULL ? &null : &op->vals[c];
}

/* Hand the line buffer to libpq; false when the connection failed. */
static bool
pgw_flush(struct pgw_batch *b)
{
    struct ms_buf *line = &b->w->line;
    bool ok = line->len == 0 || PQputCopyData(b->s->conn, line->p, (int)line->len) == 1;

    ms_buf_reset(line);
    return ok;
}

/* Stream the live ops as COPY rows: "ord\tkind\tv0…" into staging, "v0…" into the target. */
static bool
pgw_copy_rows(struct pgw_batch *b, bool stage)
{
    struct pg_wstate *w = b->w;
    size_t ncols = w->plan->ncols;

    for (size_t i = 0; i < b->ops->n; i++) {
        const struct ms_op *op = &b->ops->op[i];

        if (op->rejected)
            continue;
        if (stage) {
            pgw_put_int(&w->line, (int64_t)i);
            pgw_add(&w->line, "\t", 1);
            pgw_put_int(&w->line, (int64_t)op->kind);
            pgw_add(&w->line, "\t", 1);
        }
        for (size_t c = 0; c < ncols; c++) {
            if (c > 0)
                pgw_add(&w->line, "\t", 1);
            pgw_put_value(&w->line, pgw_value(w, op, c), w->exact[c]);
            if (w->line.len >= PGW_FLUSH_BYTES && !pgw_flush(b))
                return false;
        }
        pgw_add(&w->line, "\n", 1);
    }
    return pgw_flush(b);
}

/* ---- running a script ---- */

/*
 * Send script (one simple-query message: its statements run in order and stop at the first
 * error), feed its COPY from the ops, and collect the outcome. After a failure inside the
 * batch's transaction it is rolled back, so the connection is usable again.
 */
static void
pgw_run(struct pgw_batch *b, const char *script, bool stage, struct pgw_res *r)
{
    PGconn *conn = b->s->conn;
    PGresult *res;

    memset(r, 0, sizeof(*r));
    ms_buf_reset(&b->w->line);
    if (PQsendQuery(conn, script) != 1) {
        pgw_note(r, NULL, conn);
        return;
    }
    while ((res = PQgetResult(conn)) != NULL) {
        ExecStatusType rs = PQresultStatus(res);

        if (rs == PGRES_COPY_IN) {
            if (!pgw_copy_rows(b, stage) || PQputCopyEnd(conn, NULL) != 1)
                pgw_note(r, NULL, conn);
        } else if (rs == PGRES_TUPLES_OK) {
            PQclear(r->rows);
            r->rows = res;
            res = NULL;
        } else if (rs != PGRES_COMMAND_OK) {
            pgw_note(r, res, conn);
        }
        PQclear(res);
    }
    if (r->failed && PQstatus(conn) == CONNECTION_OK &&
        PQtransactionStatus(conn) == PQTRANS_INERROR)
        PQclear(PQexec(conn, b->s->w_tx ? "ROLLBACK TO SAVEPOINT ms_batch; "
                                          "RELEASE SAVEPOINT ms_batch"
                                        : "ROLLBACK"));
}

/* What opens and closes one attempt: its own transaction, or a savepoint in the rewrite's. */
static const char *
pgw_open_tx(const struct pgw_batch *b)
{
    return b->s->w_tx ? "SAVEPOINT ms_batch; " : "BEGIN; SET CONSTRAINTS ALL IMMEDIATE; ";
}

static const char *
pgw_close_tx(const struct pgw_batch *b, enum pgw_path path)
{
    /* Staging is ON COMMIT DELETE ROWS; inside the rewrite's transaction it is emptied here. */
    if (!b->s->w_tx)
        return "COMMIT";
    return path == PGW_P_DIRECT
               ? "RELEASE SAVEPOINT ms_batch"
               : "TRUNCATE pg_temp.ms_stage, pg_temp.ms_rej; RELEASE SAVEPOINT ms_batch";
}

/* The statements of one path for the kinds present in the batch. */
static const char *
pgw_script(struct pgw_batch *b, enum pgw_path path)
{
    struct pg_wstate *w = b->w;
    struct ms_buf *s = &w->script;

    ms_buf_reset(s);
    pgw_adds(s, pgw_open_tx(b));
    if (path == PGW_P_DIRECT) {
        pgw_adds(s, w->sql[PGW_COPY]);
        pgw_adds(s, "; ");
    } else {
        pgw_adds(s, "COPY pg_temp.ms_stage FROM STDIN; ");
    }
    if (path == PGW_P_ROWS) {
        pgw_adds(s, w->sql[PGW_ROWS]);
        pgw_adds(s, "; SELECT ms_ord, ms_state, ms_msg FROM pg_temp.ms_rej; ");
    } else if (path == PGW_P_STAGED) {
        static const struct {
            enum ms_op_kind kind;
            enum pgw_sql sql;
        } order[] = {{MS_OP_INSERT, PGW_INSERT},
                     {MS_OP_UPDATE, PGW_UPDATE},
                     {MS_OP_UPDATE, PGW_MISSING},
                     {MS_OP_UPSERT, PGW_UPSERT},
                     {MS_OP_DELETE, PGW_DELETE}};

        for (size_t i = 0; i < MS_ARRAY_LEN(order); i++)
            if ((b->kinds & (1u << order[i].kind)) && w->sql[order[i].sql] != NULL) {
                pgw_adds(s, w->sql[order[i].sql]);
                pgw_adds(s, "; ");
            }
    }
    pgw_adds(s, pgw_close_tx(b, path));
    return ms_buf_str(s);
}

/* ---- results ---- */

/* At most max bytes of p[0..len), not ending inside a UTF-8 sequence. */
static size_t
pgw_cut(const char *p, size_t len, size_t max)
{
    if (len <= max)
        return len;
    while (max > 0 && ((unsigned char)p[max] & 0xc0) == 0x80)
        max--;
    return max;
}

/* The identity value for a message, in the batch arena. */
static const char *
pgw_key_text(struct ms_arena *a, const struct ms_value *k)
{
    char num[MS_VALUE_REAL_LEN];

    switch (k->type) {
    case MS_V_INT:
        return ms_arena_printf(a, "%lld", (long long)k->u.i);
    case MS_V_REAL:
        pgw_real(num, k->u.d);
        return ms_arena_strdup(a, num);
    case MS_V_BOOL:
        return k->u.b ? "true" : "false";
    case MS_V_NUM:
    case MS_V_TEXT:
        return ms_arena_strndup(a, k->u.s.p, pgw_cut(k->u.s.p, k->u.s.len, 200));
    case MS_V_NULL:
        break;
    }
    return "null";
}

static void
pgw_reject(struct pgw_batch *b, size_t i, const char *msg)
{
    struct ms_op *op = &b->ops->op[i];

    op->rejected = true;
    op->error = ms_arena_strndup(b->ops->arena, msg, pgw_cut(msg, strlen(msg), PGW_ERROR_BYTES));
}

/* An update whose key matched no row (update mode never creates one). */
static void
pgw_reject_missing(struct pgw_batch *b, size_t i)
{
    struct ms_op *op = &b->ops->op[i];

    op->rejected = true;
    op->error = ms_arena_printf(b->ops->arena, "no record with %s = %s", b->w->plan->key_col,
                                pgw_key_text(b->ops->arena, &op->key));
}

/* Ordinal of a result row, or -1 when the server sent something else. */
static long
pgw_ord(const struct pgw_batch *b, const PGresult *res, int r)
{
    char *end;
    long ord = strtol(PQgetvalue(res, r, 0), &end, 10);

    if (*end != '\0' || ord < 0 || (size_t)ord >= b->ops->n || b->ops->op[ord].rejected)
        return -1;
    return ord;
}

/* Apply a staged or row-by-row result: ordinals (with a state and message from the DO block). */
static enum ms_status
pgw_apply(struct pgw_batch *b, const PGresult *res, bool rows, struct ms_error *err)
{
    int n = res != NULL ? PQntuples(res) : 0;

    if (n > 0 && PQnfields(res) != (rows ? 3 : 1))
        return pgw_fail(b->w, NULL, "unexpected result shape", err);
    for (int r = 0; r < n; r++) {
        long ord = pgw_ord(b, res, r);

        if (ord < 0)
            return pgw_fail(b->w, NULL, "result names an op not in the batch", err);
        if (!rows ||
            (strcmp(PQgetvalue(res, r, 1), PGW_MISSING_STATE) == 0 && PQgetisnull(res, r, 2)))
            pgw_reject_missing(b, (size_t)ord);
        else
            pgw_reject(b, (size_t)ord, PQgetvalue(res, r, 2));
    }
    return MS_OK;
}

/* ---- screening a batch ---- */

/* Reject what PostgreSQL text cannot hold, before it would fail the whole COPY. */
static const char *
pgw_value_problem(const struct ms_value *v)
{
    if (v->type != MS_V_TEXT)
        return NULL;
    if (v->u.s.len > MS_MAX_VALUE_BYTES)
        return "value over 16 MiB";
    if (memchr(v->u.s.p, '\0', v->u.s.len) != NULL)
        return "text with a NUL byte (PostgreSQL text cannot hold one)";
    if (!ms_cx_utf8_valid(v->u.s.p, v->u.s.len))
        return "text that is not valid UTF-8";
    return NULL;
}

/* Check one op: MS_EINTERNAL for what the engine must never send; a bad value rejects it. */
static enum ms_status
pgw_screen_op(struct pgw_batch *b, size_t i, struct ms_error *err)
{
    const struct pg_wstate *w = b->w;
    struct ms_op *op = &b->ops->op[i];

    if ((unsigned)op->kind > MS_OP_DELETE)
        return ms_fail(err, MS_EINTERNAL, "postgresql write: op %zu has no valid kind", i);
    if (op->kind != MS_OP_INSERT && w->key < 0)
        return ms_fail(err, MS_EINTERNAL,
                       "postgresql write: update, upsert and delete need "
                       "an identity column");
    if (op->kind != MS_OP_DELETE && op->vals == NULL)
        return ms_fail(err, MS_EINTERNAL, "postgresql write: op %zu has no values", i);
    for (size_t c = 0; c < w->plan->ncols; c++) {
        const char *why = pgw_value_problem(pgw_value(w, op, c));

        if (why != NULL) {
            op->rejected = true;
            op->error = ms_arena_printf(b->ops->arena, "%s: %s", w->plan->cols[c], why);
            return MS_OK;
        }
    }
    b->live++;
    b->kinds |= 1u << op->kind;
    return MS_OK;
}

static bool
pgw_is_real(const struct ms_value *k)
{
    return k->type == MS_V_REAL || k->type == MS_V_NUM;
}

/* FNV-1a of a key; a MS_V_NUM hashes as the MS_V_REAL of its value, with one zero. */
static uint64_t
pgw_key_hash(const struct ms_value *k)
{
    const unsigned char *p = (const unsigned char *)&k->u;
    size_t n = k->type == MS_V_TEXT ? k->u.s.len : k->type == MS_V_BOOL ? 1 : 8;
    uint64_t h = 1469598103934665603ULL ^ (uint64_t)(pgw_is_real(k) ? MS_V_REAL : k->type);
    double d;

    if (k->type == MS_V_TEXT) {
        p = (const unsigned char *)k->u.s.p;
    } else if (pgw_is_real(k)) {
        d = ms_value_double(k);
        d = d == 0 ? 0.0 : d;
        p = (const unsigned char *)&d;
    }
    for (size_t i = 0; i < n; i++)
        h = (h ^ p[i]) * 1099511628211ULL;
    return h;
}

/* Do two keys name the same row? Numbers by value (0.1 and 0.10, REAL or NUM, are one). */
static bool
pgw_key_eq(const struct ms_value *a, const struct ms_value *b)
{
    if (pgw_is_real(a) && pgw_is_real(b))
        return ms_value_double(a) == ms_value_double(b);
    if (a->type != b->type)
        return false;
    switch (a->type) {
    case MS_V_INT:
        return a->u.i == b->u.i;
    case MS_V_REAL:
    case MS_V_NUM:
        break; /* compared above */
    case MS_V_BOOL:
        return a->u.b == b->u.b;
    case MS_V_TEXT:
        return a->u.s.len == b->u.s.len && memcmp(a->u.s.p, b->u.s.p, a->u.s.len) == 0;
    case MS_V_NULL:
        break;
    }
    return false; /* NULL keys never match each other */
}

/* True when two live ops carry the same (non-NULL) key: an open-addressing set of ordinals. */
static bool
pgw_has_dups(const struct pgw_batch *b)
{
    size_t cap = 16, mask;
    size_t *slot;

    while (cap < 2 * b->live)
        cap *= 2;
    mask = cap - 1;
    slot = ms_arena_alloc(b->ops->arena, cap * sizeof(*slot));
    memset(slot, 0xff, cap * sizeof(*slot));
    for (size_t i = 0; i < b->ops->n; i++) {
        const struct ms_op *op = &b->ops->op[i];
        size_t j;

        if (op->rejected || op->key.type == MS_V_NULL)
            continue;
        for (j = pgw_key_hash(&op->key) & mask; slot[j] != SIZE_MAX; j = (j + 1) & mask)
            if (pgw_key_eq(&b->ops->op[slot[j]].key, &op->key))
                return true;
        slot[j] = i;
    }
    return false;
}

/* Reset the results, check the ops, and find the kinds present and any repeated key. */
static enum ms_status
pgw_screen(struct pgw_batch *b, struct ms_error *err)
{
    enum ms_status st = MS_OK;

    if (b->ops->n > INT_MAX)
        return ms_fail(err, MS_ETOOBIG, "postgresql write: %zu ops in one batch", b->ops->n);
    for (size_t i = 0; i < b->ops->n; i++) {
        b->ops->op[i].rejected = false;
        b->ops->op[i].error = NULL;
    }
    for (size_t i = 0; st == MS_OK && i < b->ops->n; i++)
        st = pgw_screen_op(b, i, err);
    if (st == MS_OK && b->w->key >= 0 && b->live > 1)
        b->dup = pgw_has_dups(b);
    return st;
}

/* ---- write ---- */

/* A direct COPY can only apply inserts, and upserts that turn out to create every row. */
static bool
pgw_direct_ok(struct pgw_batch *b)
{
    struct pg_wstate *w = b->w;

    if ((b->kinds & ~((1u << MS_OP_INSERT) | (1u << MS_OP_UPSERT))) != 0 || b->dup)
        return false;
    if ((b->kinds & (1u << MS_OP_UPSERT)) != 0 && !w->unique)
        return false;
    if (w->dedupe && !w->unique) /* nothing would stop a re-sent row from doubling */
        return false;
    if (w->copy_skip > 0) {
        w->copy_skip--;
        return false;
    }
    return true;
}

/* After a direct COPY: a conflict means rows exist already, so try it less often for a while. */
static void
pgw_direct_learn(struct pg_wstate *w, const struct pgw_res *r)
{
    if (!r->failed) {
        w->copy_backoff = 0;
        return;
    }
    if (strcmp(r->state, "23505") != 0)
        return;
    w->copy_backoff = w->copy_backoff == 0 ? 1 : w->copy_backoff * 2;
    if (w->copy_backoff > PGW_BACKOFF_MAX)
        w->copy_backoff = PGW_BACKOFF_MAX;
    w->copy_skip = w->copy_backoff;
}

/* The connection can take a batch: a session, no read, the right transaction state. */
static enum ms_status
pgw_ready(struct pg_cx *s, struct ms_error *err)
{
    PGTransactionStatusType ts;

    if (s->w == NULL)
        return ms_fail(err, MS_EINTERNAL, "postgresql write: no write_begin");
    if (s->in_tx || s->copying)
        return ms_fail(err, MS_EINTERNAL, "postgresql: a read is in progress (no read_end)");
    if (PQstatus(s->conn) != CONNECTION_OK)
        return pgw_fail(s->w, NULL, "connection lost", err);
    ts = PQtransactionStatus(s->conn);
    if (s->w_tx && ts != PQTRANS_INTRANS)
        return pgw_fail(s->w, NULL, "the rewrite's transaction failed earlier", err);
    if (!s->w_tx && ts != PQTRANS_IDLE)
        PQclear(PQexec(s->conn, "ROLLBACK")); /* nothing of an earlier batch is pending */
    return MS_OK;
}

/* Try the paths from cheapest to the row-by-row one; MS_OK once one of them committed. */
static enum ms_status
pgw_apply_batch(struct pgw_batch *b, struct ms_error *err)
{
    enum pgw_path path = pgw_direct_ok(b) ? PGW_P_DIRECT : b->dup ? PGW_P_ROWS : PGW_P_STAGED;
    struct pgw_res r = {0};
    enum ms_status st;

    for (;;) {
        pgw_run(b, pgw_script(b, path), path != PGW_P_DIRECT, &r);
        if (path == PGW_P_DIRECT)
            pgw_direct_learn(b->w, &r);
        if (!r.failed) {
            st = path == PGW_P_DIRECT ? MS_OK : pgw_apply(b, r.rows, path == PGW_P_ROWS, err);
            break;
        }
        if (!pgw_record_error(&r) || path == PGW_P_ROWS) {
            st = pgw_fail(b->w, r.state, r.msg, err);
            break;
        }
        /* A conflict is what staging resolves; any other bad record needs the row path. */
        path = path == PGW_P_DIRECT && strcmp(r.state, "23505") == 0 ? PGW_P_STAGED : PGW_P_ROWS;
        PQclear(r.rows);
        r.rows = NULL;
    }
    PQclear(r.rows);
    return st;
}

enum ms_status
ms_cx_pg_write(struct ms_cx *cx, struct ms_ops *ops, struct ms_error *err)
{
    struct pg_cx *s = (struct pg_cx *)cx;
    struct pgw_batch b = {.s = s, .w = s->w, .ops = ops};
    enum ms_status st = pgw_ready(s, err);

    if (st == MS_OK)
        st = pgw_screen(&b, err);
    if (st != MS_OK || b.live == 0)
        return st;
    st = pgw_apply_batch(&b, err);
    if (st != MS_OK) /* nothing counts as acknowledged, so no op carries a result */
        for (size_t i = 0; i < ops->n; i++) {
            ops->op[i].rejected = false;
            ops->op[i].error = NULL;
        }
    return st;
}

/* ---- SQL of a session ---- */

/* "s.c<i>::<type>": staging column i as the target column's type. */
static void
pgw_src(struct ms_buf *b, const struct pg_wstate *w, size_t i)
{
    pgw_addf(b, "s.c%zu::", i);
    pgw_adds(b, w->cast[i]);
}

/* "(a, b) IS DISTINCT FROM (x, y)" over the non-key columns; excluded: the upsert's side. */
static void
pgw_distinct(struct ms_buf *b, const struct pg_wstate *w, bool excluded)
{
    const char *sep = "(";

    for (size_t i = 0; i < w->plan->ncols; i++)
        if ((long)i != w->key) {
            pgw_adds(b, sep);
            pgw_adds(b, "t.");
            pgw_adds(b, w->qcol[i]);
            pgw_adds(b, w->text_cmp ? "::text" : "");
            sep = ", ";
        }
    sep = ") IS DISTINCT FROM (";
    for (size_t i = 0; i < w->plan->ncols; i++)
        if ((long)i != w->key) {
            pgw_adds(b, sep);
            pgw_adds(b, w->text_cmp ? "(" : "");
            if (excluded) {
                pgw_adds(b, "EXCLUDED.");
                pgw_adds(b, w->qcol[i]);
            } else {
                pgw_src(b, w, i);
            }
            pgw_adds(b, w->text_cmp ? ")::text" : "");
            sep = ", ";
        }
    pgw_adds(b, ")");
}

/* " AND t.<key> = s.c<k>::<type>" */
static void
pgw_key_match(struct ms_buf *b, const struct pg_wstate *w, const char *alias)
{
    pgw_addf(b, " %s.", alias);
    pgw_adds(b, w->qcol[w->key]);
    pgw_adds(b, " = ");
    pgw_src(b, w, (size_t)w->key);
}

static bool
pgw_has_nonkey(const struct pg_wstate *w)
{
    return w->plan->ncols > (w->key >= 0 ? 1u : 0u);
}

/* "ON CONFLICT (key) DO UPDATE SET … WHERE … IS DISTINCT FROM …" of an upsert. */
static void
pgw_on_conflict(struct ms_buf *b, const struct pg_wstate *w, enum ms_op_kind kind)
{
    const char *sep = " SET ";

    pgw_adds(b, " ON CONFLICT (");
    pgw_adds(b, w->qcol[w->key]);
    if (kind == MS_OP_INSERT || !pgw_has_nonkey(w)) {
        pgw_adds(b, ") DO NOTHING");
        return;
    }
    pgw_adds(b, ") DO UPDATE");
    for (size_t i = 0; i < w->plan->ncols; i++)
        if ((long)i != w->key) {
            pgw_adds(b, sep);
            pgw_adds(b, w->qcol[i]);
            pgw_adds(b, " = EXCLUDED.");
            pgw_adds(b, w->qcol[i]);
            sep = ", ";
        }
    pgw_adds(b, " WHERE ");
    pgw_distinct(b, w, true);
}

/* INSERT … SELECT from staging for ops of kind; upserts, and inserts outside append mode, skip
 * (or update) keys already present. */
static void
pgw_sql_insert(struct ms_buf *b, const struct pg_wstate *w, enum ms_op_kind kind, const char *extra)
{
    bool keyed = kind == MS_OP_UPSERT || w->dedupe;

    pgw_adds(b, "INSERT INTO ");
    pgw_adds(b, w->target);
    pgw_adds(b, " AS t (");
    for (size_t i = 0; i < w->plan->ncols; i++) {
        pgw_adds(b, i > 0 ? ", " : "");
        pgw_adds(b, w->qcol[i]);
    }
    pgw_adds(b, w->overriding ? ") OVERRIDING SYSTEM VALUE SELECT " : ") SELECT ");
    for (size_t i = 0; i < w->plan->ncols; i++) {
        pgw_adds(b, i > 0 ? ", " : "");
        pgw_src(b, w, i);
    }
    pgw_addf(b, " FROM pg_temp.ms_stage s WHERE s.ms_op = %d", (int)kind);
    pgw_adds(b, extra);
    if (keyed && !w->unique) {
        pgw_adds(b, " AND NOT EXISTS (SELECT 1 FROM ");
        pgw_adds(b, w->target);
        pgw_adds(b, " t2 WHERE");
        pgw_key_match(b, w, "t2");
        pgw_adds(b, ")");
    } else if (keyed) {
        pgw_on_conflict(b, w, kind);
    }
}

/* UPDATE … FROM staging of the rows that differ, for ops of kind (update or upsert). */
static void
pgw_sql_update(struct ms_buf *b, const struct pg_wstate *w, enum ms_op_kind kind, const char *extra)
{
    const char *sep = " SET ";

    pgw_adds(b, "UPDATE ");
    pgw_adds(b, w->target);
    pgw_adds(b, " AS t");
    for (size_t i = 0; i < w->plan->ncols; i++)
        if ((long)i != w->key) {
            pgw_adds(b, sep);
            pgw_adds(b, w->qcol[i]);
            pgw_adds(b, " = ");
            pgw_src(b, w, i);
            sep = ", ";
        }
    pgw_addf(b, " FROM pg_temp.ms_stage s WHERE s.ms_op = %d", (int)kind);
    pgw_adds(b, extra);
    pgw_adds(b, " AND");
    pgw_key_match(b, w, "t");
    pgw_adds(b, " AND ");
    pgw_distinct(b, w, false);
}

/* An upsert: one INSERT … ON CONFLICT, or without a unique index an UPDATE and an INSERT. */
static void
pgw_sql_upsert(struct ms_buf *b, const struct pg_wstate *w, const char *extra)
{
    if (!w->unique && pgw_has_nonkey(w)) {
        pgw_sql_update(b, w, MS_OP_UPSERT, extra);
        pgw_adds(b, "; ");
    }
    pgw_sql_insert(b, w, MS_OP_UPSERT, extra);
}

static void
pgw_sql_delete(struct ms_buf *b, const struct pg_wstate *w, const char *extra)
{
    pgw_adds(b, "DELETE FROM ");
    pgw_adds(b, w->target);
    pgw_addf(b, " AS t USING pg_temp.ms_stage s WHERE s.ms_op = %d", (int)MS_OP_DELETE);
    pgw_adds(b, extra);
    pgw_adds(b, " AND");
    pgw_key_match(b, w, "t");
}

/* "IF <this row's key is absent> THEN <reject> ELSE <update> END IF" of the DO block. */
static void
pgw_sql_row_update(struct ms_buf *b, const struct pg_wstate *w, const char *extra)
{
    pgw_adds(b, "IF NOT EXISTS (SELECT 1 FROM pg_temp.ms_stage s JOIN ");
    pgw_adds(b, w->target);
    pgw_adds(b, " t ON");
    pgw_key_match(b, w, "t");
    pgw_addf(b, " WHERE TRUE%s) THEN INSERT INTO pg_temp.ms_rej VALUES (ms__r.ms_ord, '%s', NULL);",
             extra, PGW_MISSING_STATE);
    if (pgw_has_nonkey(w)) {
        pgw_adds(b, " ELSE ");
        pgw_sql_update(b, w, MS_OP_UPDATE, extra);
        pgw_adds(b, ";");
    }
    pgw_adds(b, " END IF;");
}

/*
 * The DO block: each staged op in order, in its own subtransaction; a record-level error
 * (classes 21, 22, 23) lands in ms_rej with the server's message and detail. Variables are
 * named so no column can shadow them, and use_column settles any remaining ambiguity.
 */
static void
pgw_sql_rows_body(struct ms_buf *b, const struct pg_wstate *w)
{
    static const char extra[] = " AND s.ms_ord = ms__r.ms_ord";

    pgw_adds(b, "#variable_conflict use_column\n"
                "DECLARE ms__r record; ms__st text; ms__m text; ms__d text;\n"
                "BEGIN FOR ms__r IN SELECT ms_ord, ms_op FROM pg_temp.ms_stage ORDER BY ms_ord"
                " LOOP BEGIN\nIF ms__r.ms_op = 0 THEN ");
    pgw_sql_insert(b, w, MS_OP_INSERT, extra);
    pgw_adds(b, ";\n");
    if (w->key >= 0) {
        pgw_adds(b, "ELSIF ms__r.ms_op = 1 THEN ");
        pgw_sql_row_update(b, w, extra);
        pgw_adds(b, "\nELSIF ms__r.ms_op = 2 THEN ");
        pgw_sql_upsert(b, w, extra);
        pgw_adds(b, ";\nELSIF ms__r.ms_op = 3 THEN ");
        pgw_sql_delete(b, w, extra);
        pgw_adds(b, ";\n");
    }
    pgw_adds(b, "END IF;\nEXCEPTION WHEN data_exception OR integrity_constraint_violation OR "
                "cardinality_violation THEN GET STACKED DIAGNOSTICS ms__st = RETURNED_SQLSTATE,"
                " ms__m = MESSAGE_TEXT, ms__d = PG_EXCEPTION_DETAIL; INSERT INTO pg_temp.ms_rej"
                " VALUES (ms__r.ms_ord, ms__st, ms__m || CASE WHEN ms__d <> '' THEN ' (' ||"
                " ms__d || ')' ELSE '' END);\nEND; END LOOP; END");
}

/* DO $tag$ body $tag$, with a tag the body (quoted names may hold '$') does not contain. */
static char *
pgw_sql_rows(const struct pg_wstate *w)
{
    struct ms_buf body, b;
    char tag[32];

    ms_buf_init(&body, PGW_SQL_MAX_BYTES);
    ms_buf_init(&b, PGW_SQL_MAX_BYTES + 64);
    pgw_sql_rows_body(&body, w);
    snprintf(tag, sizeof(tag), "$ms$");
    for (unsigned i = 1; strstr(ms_buf_str(&body), tag) != NULL; i++)
        snprintf(tag, sizeof(tag), "$ms%u$", i);
    pgw_addf(&b, "DO %s\n", tag);
    pgw_add(&b, body.p, body.len);
    pgw_addf(&b, "\n%s", tag);
    ms_buf_release(&body);
    return ms_buf_take(&b, NULL);
}

/* Build every statement the session may need. */
static void
pgw_build(struct pg_wstate *w)
{
    struct ms_buf b;

    ms_buf_init(&b, PGW_SQL_MAX_BYTES);
    pgw_adds(&b, "COPY ");
    pgw_adds(&b, w->target);
    for (size_t i = 0; i < w->plan->ncols; i++) {
        pgw_adds(&b, i > 0 ? ", " : " (");
        pgw_adds(&b, w->qcol[i]);
    }
    pgw_adds(&b, ") FROM STDIN");
    w->sql[PGW_COPY] = ms_buf_take(&b, NULL);
    pgw_sql_insert(&b, w, MS_OP_INSERT, "");
    w->sql[PGW_INSERT] = ms_buf_take(&b, NULL);
    if (w->key >= 0) {
        if (pgw_has_nonkey(w)) {
            pgw_sql_update(&b, w, MS_OP_UPDATE, "");
            w->sql[PGW_UPDATE] = ms_buf_take(&b, NULL);
        }
        pgw_addf(&b,
                 "SELECT s.ms_ord FROM pg_temp.ms_stage s WHERE s.ms_op = %d AND NOT EXISTS"
                 " (SELECT 1 FROM ",
                 (int)MS_OP_UPDATE);
        pgw_adds(&b, w->target);
        pgw_adds(&b, " t WHERE");
        pgw_key_match(&b, w, "t");
        pgw_adds(&b, ")");
        w->sql[PGW_MISSING] = ms_buf_take(&b, NULL);
        pgw_sql_upsert(&b, w, "");
        w->sql[PGW_UPSERT] = ms_buf_take(&b, NULL);
        pgw_sql_delete(&b, w, "");
        w->sql[PGW_DELETE] = ms_buf_take(&b, NULL);
    }
    w->sql[PGW_ROWS] = pgw_sql_rows(w);
    ms_buf_release(&b);
}

/* ---- write_begin / write_end ---- */

/*
 * The target's columns: name, schema-qualified type name (a bare name such as "character"
 * would mean char(1) in a cast; the catalog name bpchar keeps any length and lets the
 * column's own typmod apply on assignment), generated, identity ALWAYS, and whether a plain
 * unique index covers the column alone. A table without columns still gives one row.
 */
#define PGW_SQL_COLUMNS                                                                            \
    "SELECT a.attname, pg_catalog.quote_ident(tn.nspname) || '.' ||"                               \
    " pg_catalog.quote_ident(ty.typname), a.attgenerated <> '', a.attidentity = 'a',"              \
    " EXISTS (SELECT 1 FROM pg_catalog.pg_index i WHERE i.indrelid = c.oid AND i.indisunique"      \
    " AND i.indimmediate AND i.indisvalid AND i.indnkeyatts = 1 AND i.indkey[0] = a.attnum"        \
    " AND i.indpred IS NULL AND i.indexprs IS NULL)"                                               \
    " FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace"         \
    " LEFT JOIN (pg_catalog.pg_attribute a JOIN pg_catalog.pg_type ty ON ty.oid = a.atttypid"      \
    " JOIN pg_catalog.pg_namespace tn ON tn.oid = ty.typnamespace)"                                \
    " ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped"                               \
    " WHERE n.nspname = $1 AND c.relname = $2 AND c.relkind IN ('r', 'p')"

/* The modes objects() offers for a table. */
static bool
pgw_mode_ok(const char *mode)
{
    static const char *const modes[] = {"create", "update",  "updateOrCreate",
                                        "remove", "replace", "append"};

    for (size_t i = 0; mode != NULL && i < MS_ARRAY_LEN(modes); i++)
        if (strcmp(mode, modes[i]) == 0)
            return true;
    return false;
}

/* A plan the engine built: columns present, unique and bounded, the key one of them. */
static enum ms_status
pgw_plan_check(struct pg_cx *s, const struct ms_write_plan *plan, long *key, struct ms_error *err)
{
    *key = -1;
    if (plan == NULL || plan->object == NULL || plan->cols == NULL || plan->ncols == 0)
        return ms_fail(err, MS_EINTERNAL, "postgresql write: a plan without columns");
    if (plan->ncols > MS_MAX_COLUMNS)
        return ms_fail_at(err, MS_ETOOBIG, "fields", "%zu columns, over the limit of %d",
                          plan->ncols, MS_MAX_COLUMNS);
    for (size_t i = 0; i < plan->ncols; i++) {
        if (plan->cols[i] == NULL)
            return ms_fail(err, MS_EINTERNAL, "postgresql write: column %zu has no name", i);
        for (size_t j = 0; j < i; j++)
            if (strcmp(plan->cols[i], plan->cols[j]) == 0)
                return ms_fail_at(err, MS_EINVAL, "fields", "column \"%s\" is mapped twice",
                                  plan->cols[i]);
        if (plan->key_col != NULL && strcmp(plan->cols[i], plan->key_col) == 0)
            *key = (long)i;
    }
    if (plan->key_col != NULL && *key < 0)
        return ms_fail(err, MS_EINTERNAL, "postgresql write: key column %s is not mapped",
                       plan->key_col);
    if (!pgw_mode_ok(plan->mode))
        return ms_fail_key(err, MS_EUNSUPP, "unsupported_mode",
                           "postgresql tables do not support mode %s",
                           plan->mode != NULL ? plan->mode : "(none)");
    return ms_cx_pg_idle(s, err);
}

/* Row of the column named name in the catalog answer, or -1. */
static int
pgw_find_col(const PGresult *res, const char *name)
{
    for (int r = 0; r < PQntuples(res); r++)
        if (!PQgetisnull(res, r, 0) && strcmp(PQgetvalue(res, r, 0), name) == 0)
            return r;
    return -1;
}

/* Match the plan's columns with the table's: quoted names, cast types, key index, identity. */
static enum ms_status
pgw_match_cols(struct pg_cx *s, const PGresult *res, const char *object, struct ms_error *err)
{
    struct pg_wstate *w = s->w;

    for (size_t i = 0; i < w->plan->ncols; i++) {
        const char *name = w->plan->cols[i];
        int r = pgw_find_col(res, name);
        char *q;

        if (r < 0)
            return ms_fail_at(err, MS_EUNPROC, "fields", "column \"%s\" does not exist in %s", name,
                              object);
        if (PQgetvalue(res, r, 2)[0] == 't')
            return ms_fail_at(err, MS_EUNPROC, "fields",
                              "column \"%s\" of %s is generated and cannot be written", name,
                              object);
        q = PQescapeIdentifier(s->conn, name, strlen(name));
        if (q == NULL)
            return ms_fail_at(err, MS_EINVAL, "fields", "column %zu: not a valid name", i + 1);
        w->qcol[i] = ms_xstrdup(q);
        PQfreemem(q);
        w->cast[i] = ms_xstrdup(PQgetvalue(res, r, 1));
        w->exact[i] = strcmp(w->cast[i], "pg_catalog.float8") == 0;
        w->overriding |= PQgetvalue(res, r, 3)[0] == 't';
        if ((long)i == w->key)
            w->unique = PQgetvalue(res, r, 4)[0] == 't';
    }
    return MS_OK;
}

/* Look the target up and learn its columns. */
static enum ms_status
pgw_columns(struct pg_cx *s, struct ms_error *err)
{
    static const struct pg_blame b = {"write", NULL, NULL};
    struct pg_wstate *w = s->w;
    char schema[PG_NAME_BYTES + 1], table[PG_NAME_BYTES + 1];
    const char *params[2] = {schema, table};
    PGresult *res = NULL;
    enum ms_status st;

    if (!ms_cx_pg_split_name(w->plan->object, strlen(w->plan->object), schema, table))
        return ms_fail_at(err, MS_EUNPROC, "target.object", "no table %s", w->plan->object);
    st = ms_cx_pg_query(s, PGW_SQL_COLUMNS, 2, params, &b, &res, err);
    if (st == MS_OK && PQntuples(res) == 0)
        st = ms_fail_at(err, MS_EUNPROC, "target.object", "no table %s.%s", schema, table);
    if (st == MS_OK && (w->target = ms_cx_pg_quote_table(s, schema, table)) == NULL)
        st = ms_fail_at(err, MS_EINVAL, "target.object", "is not a valid name");
    if (st == MS_OK)
        st = pgw_match_cols(s, res, w->plan->object, err);
    PQclear(res);
    return st;
}

/* Types without "=" (json, point, xml) fail IS DISTINCT FROM at parse time: compare as text. */
static enum ms_status
pgw_probe_cmp(struct pg_cx *s, struct ms_error *err)
{
    struct pg_wstate *w = s->w;
    struct ms_buf b;
    PGresult *res;

    if (w->key < 0 || !pgw_has_nonkey(w))
        return MS_OK;
    ms_buf_init(&b, PGW_SQL_MAX_BYTES);
    pgw_adds(&b, "SELECT ");
    pgw_distinct(&b, w, true); /* EXCLUDED.x stands for t.x here: alias the table so */
    pgw_adds(&b, " FROM ");
    pgw_adds(&b, w->target);
    pgw_adds(&b, " t, ");
    pgw_adds(&b, w->target);
    pgw_adds(&b, " excluded WHERE false");
    res = PQprepare(s->conn, "", ms_buf_str(&b), 0, NULL);
    w->text_cmp = PQresultStatus(res) != PGRES_COMMAND_OK;
    PQclear(res);
    ms_buf_release(&b);
    if (PQstatus(s->conn) != CONNECTION_OK)
        return pgw_fail(w, NULL, "connection lost", err);
    return MS_OK;
}

/* Session staging: the ops as text (cast by the statements) and the row path's rejections. */
static enum ms_status
pgw_stage_create(struct pg_cx *s, struct ms_error *err)
{
    static const struct pg_blame b = {"write", NULL, NULL};
    struct ms_buf sql;
    enum ms_status st;

    ms_buf_init(&sql, PGW_SQL_MAX_BYTES);
    pgw_adds(&sql, "DROP TABLE IF EXISTS pg_temp.ms_stage, pg_temp.ms_rej; "
                   "CREATE TEMP TABLE ms_stage (ms_ord int4, ms_op int2");
    for (size_t i = 0; i < s->w->plan->ncols; i++)
        pgw_addf(&sql, ", c%zu text", i);
    pgw_adds(&sql, ") ON COMMIT DELETE ROWS; CREATE TEMP TABLE ms_rej (ms_ord int4,"
                   " ms_state text, ms_msg text) ON COMMIT DELETE ROWS");
    st = ms_cx_pg_exec_cmd(s, ms_buf_str(&sql), &b, err);
    ms_buf_release(&sql);
    return st;
}

/*
 * A full rewrite: one transaction for the whole run, the old rows deleted first. DELETE
 * rather than TRUNCATE: readers keep seeing the old contents until COMMIT instead of waiting
 * on an ACCESS EXCLUSIVE lock for the whole run.
 */
static enum ms_status
pgw_full_begin(struct pg_cx *s, struct ms_error *err)
{
    struct pg_wstate *w = s->w;
    struct ms_buf sql;
    PGresult *res;
    enum ms_status st = MS_OK;

    ms_buf_init(&sql, 1024);
    pgw_adds(&sql, "BEGIN; SET CONSTRAINTS ALL IMMEDIATE; DELETE FROM ");
    pgw_adds(&sql, w->target);
    res = PQexec(s->conn, ms_buf_str(&sql));
    if (PQresultStatus(res) == PGRES_COMMAND_OK) {
        s->w_tx = true;
    } else {
        char msg[200];

        ms_cx_pg_one_line(PQresultErrorMessage(res), msg, sizeof(msg));
        st = pgw_fail(w, PQresultErrorField(res, PG_DIAG_SQLSTATE), msg, err);
        PQclear(PQexec(s->conn, "ROLLBACK"));
    }
    PQclear(res);
    ms_buf_release(&sql);
    return st;
}

static void
pgw_free(struct pg_cx *s)
{
    struct pg_wstate *w = s->w;

    if (w == NULL)
        return;
    for (size_t i = 0; i < w->plan->ncols; i++) {
        free(w->qcol[i]);
        free(w->cast[i]);
    }
    free(w->qcol);
    free(w->cast);
    free(w->exact);
    free(w->target);
    for (size_t i = 0; i < PGW_NSQL; i++)
        free(w->sql[i]);
    ms_buf_release(&w->script);
    ms_buf_release(&w->line);
    free(w);
    s->w = NULL;
}

enum ms_status
ms_cx_pg_write_begin(struct ms_cx *cx, const struct ms_write_plan *plan, struct ms_error *err)
{
    struct pg_cx *s = (struct pg_cx *)cx;
    struct pg_wstate *w;
    long key;
    enum ms_status st;

    ms_cx_pg_write_end(cx, false, NULL); /* a session left open is over */
    st = pgw_plan_check(s, plan, &key, err);
    if (st != MS_OK)
        return st;
    w = ms_xcalloc(1, sizeof(*w));
    w->plan = plan;
    w->key = key;
    w->dedupe = key >= 0 && strcmp(plan->mode, "append") != 0; /* append adds rows as new */
    w->qcol = ms_xcalloc(plan->ncols, sizeof(*w->qcol));
    w->cast = ms_xcalloc(plan->ncols, sizeof(*w->cast));
    w->exact = ms_xcalloc(plan->ncols, sizeof(*w->exact));
    ms_buf_init(&w->script, PGW_SQL_MAX_BYTES);
    ms_buf_init(&w->line, PGW_LINE_MAX_BYTES);
    s->w = w;
    st = pgw_columns(s, err);
    if (st == MS_OK)
        st = pgw_probe_cmp(s, err);
    if (st == MS_OK) {
        pgw_build(w);
        st = pgw_stage_create(s, err);
    }
    if (st == MS_OK && plan->full)
        st = pgw_full_begin(s, err);
    if (st != MS_OK)
        pgw_free(s);
    return st;
}

/* COMMIT (only of a transaction that is still good) or ROLLBACK of a full rewrite. */
static enum ms_status
pgw_full_end(struct pg_cx *s, bool commit, struct ms_error *err)
{
    PGTransactionStatusType ts = PQtransactionStatus(s->conn);
    PGresult *res;
    enum ms_status st = MS_OK;
    char msg[200];

    s->w_tx = false;
    if (!commit || ts != PQTRANS_INTRANS) {
        if (PQstatus(s->conn) == CONNECTION_OK)
            PQclear(PQexec(s->conn, "ROLLBACK"));
        return commit ? pgw_fail(s->w, NULL, "the rewrite's transaction failed; rolled back", err)
                      : MS_OK;
    }
    res = PQexec(s->conn, "COMMIT");
    if (PQresultStatus(res) != PGRES_COMMAND_OK || strcmp(PQcmdStatus(res), "COMMIT") != 0) {
        ms_cx_pg_one_line(PQresultErrorMessage(res), msg, sizeof(msg));
        st = pgw_fail(s->w, PQresultErrorField(res, PG_DIAG_SQLSTATE),
                      msg[0] != '\0' ? msg : "COMMIT did not commit", err);
    }
    PQclear(res);
    return st;
}

enum ms_status
ms_cx_pg_write_end(struct ms_cx *cx, bool commit, struct ms_error *err)
{
    struct pg_cx *s = (struct pg_cx *)cx;
    enum ms_status st = MS_OK;

    if (s->w == NULL)
        return MS_OK;
    if (s->w_tx)
        st = pgw_full_end(s, commit, err);
    if (PQstatus(s->conn) == CONNECTION_OK && PQtransactionStatus(s->conn) == PQTRANS_IDLE)
        PQclear(PQexec(s->conn, "DROP TABLE IF EXISTS pg_temp.ms_stage, pg_temp.ms_rej"));
    pgw_free(s);
    return st;
}

#endif /* MS_WITH_PG */
