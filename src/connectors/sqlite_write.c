/*
 * sqlite_write.c: the destination side of the sqlite connector (write_begin, write,
 * write_end). write_begin() checks the plan against the table and prepares the run's
 * statements once (insert-if-absent, update and delete by key, ON CONFLICT upsert when the key
 * has a unique index); write() binds them per record, one transaction per batch, or one
 * savepoint per batch inside the single transaction of a full rewrite. A record the table
 * refuses is rejected alone and the rest of its batch is written.
 */
#include "connectors/sqlite_int.h"

#include <sqlite3.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "connectors/connectors_int.h"
#include "core/arena.h"
#include "core/buf.h"
#include "model/model.h"

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
        return ms_cx_sqlite_fail(s, err, rc, "cannot read the table");
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
        return ms_cx_sqlite_fail(s, err, rc, "cannot read the table's indexes");
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
            st = ms_cx_sqlite_quote_ident(b, names->own[i]);
        if (st == MS_OK && style == SQLITE_LIST_SET)
            st = ms_buf_addf(b, " = ?%zu", i + 1);
        if (st == MS_OK && style == SQLITE_LIST_EXCLUDED)
            st = ms_buf_adds(b, " = excluded.");
        if (st == MS_OK && style == SQLITE_LIST_EXCLUDED)
            st = ms_cx_sqlite_quote_ident(b, names->own[i]);
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
        st = ms_cx_sqlite_quote_ident(b, w->table);
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
        st = ms_cx_sqlite_quote_ident(b,
                                      form == SQLITE_INS_ABSENT ? w->table : w->names.own[w->key]);
    if (st == MS_OK && form == SQLITE_INS_ABSENT)
        st = ms_buf_adds(b, " WHERE ");
    if (st == MS_OK && form == SQLITE_INS_ABSENT)
        st = ms_cx_sqlite_quote_ident(b, w->names.own[w->key]);
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
        st = ms_cx_sqlite_quote_ident(b, w->table);
    if (st == MS_OK && !del)
        st = ms_buf_adds(b, " SET ");
    if (st == MS_OK && !del && w->names.n > 1)
        st = sqlite_sql_list(b, &w->names, w->key, SQLITE_LIST_SET);
    if (st == MS_OK && !del && w->names.n == 1) {
        st = ms_cx_sqlite_quote_ident(b, key);
        if (st == MS_OK)
            st = ms_buf_adds(b, " = ");
        if (st == MS_OK)
            st = ms_cx_sqlite_quote_ident(b, key);
    }
    if (st == MS_OK)
        st = ms_buf_adds(b, " WHERE ");
    if (st == MS_OK)
        st = ms_cx_sqlite_quote_ident(b, key);
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
        st = ms_cx_sqlite_fail(s, err, rc, "cannot prepare a write");
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
        return ms_cx_sqlite_fail(s, err, rc, "cannot begin the rewrite");
    ms_buf_init(&sql, SQLITE_MAX_SQL_BYTES);
    st = ms_buf_adds(&sql, "DELETE FROM ");
    if (st == MS_OK)
        st = ms_cx_sqlite_quote_ident(&sql, s->w.table);
    if (st != MS_OK)
        st = ms_fail_at(err, MS_ETOOBIG, "target.object", "table name too long");
    else if ((rc = sqlite3_exec(s->db, ms_buf_str(&sql), NULL, NULL, NULL)) != SQLITE_OK)
        st = ms_cx_sqlite_fail(s, err, rc, "cannot empty the table");
    ms_buf_release(&sql);
    return st; /* on failure the caller's ms_cx_sqlite_write_release() rolls back */
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
        return ms_cx_sqlite_fail(s, err, rc, "cannot read the journal mode");
    return MS_OK;
}

/* Finalize the run's statements and roll back a transaction still open; w is zeroed. */
void
ms_cx_sqlite_write_release(struct sqlite_cx *s)
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
enum ms_status
ms_cx_sqlite_write_begin(struct ms_cx *cx, const struct ms_write_plan *plan, struct ms_error *err)
{
    struct sqlite_cx *s = (struct sqlite_cx *)cx;
    struct sqlite_w *w = &s->w;
    bool unique = false;
    enum ms_status st;

    ms_cx_sqlite_write_release(s);
    st = sqlite_plan_check(plan, err);
    if (st != MS_OK)
        return st;
    w->plan = plan;
    w->keyed = plan->key_col != NULL;
    w->strict = strcmp(plan->mode, "update") == 0;
    w->full = plan->full;
    st = ms_cx_sqlite_find_table(s, plan->object, false, &w->table, err);
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
        ms_cx_sqlite_write_release(s);
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
    case MS_V_NUM: /* the REAL it stands for */
        return sqlite3_bind_double(stmt, i, ms_value_double(v));
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
    case MS_V_NUM:
        return ms_arena_printf(a, "no record with %s = %.17g", col, ms_value_double(k));
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
        return ms_cx_sqlite_fail(s, err, rc, "cannot begin a transaction");
    return MS_OK;
}

static enum ms_status
sqlite_w_batch_commit(struct sqlite_cx *s, struct ms_error *err)
{
    enum ms_status st;
    int rc = sqlite3_exec(s->db, s->w.full ? "RELEASE ms_batch" : "COMMIT", NULL, NULL, NULL);

    if (rc == SQLITE_OK)
        return MS_OK;
    st = ms_cx_sqlite_fail(s, err, rc, "cannot commit");
    sqlite_w_batch_rollback(s);
    return st;
}

enum ms_status
ms_cx_sqlite_write(struct ms_cx *cx, struct ms_ops *ops, struct ms_error *err)
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
enum ms_status
ms_cx_sqlite_write_end(struct ms_cx *cx, bool commit, struct ms_error *err)
{
    struct sqlite_cx *s = (struct sqlite_cx *)cx;
    enum ms_status st = MS_OK;
    int rc;

    if (s->w.plan != NULL && s->w.full && commit) {
        if (s->w.lost || sqlite3_get_autocommit(s->db))
            st = sqlite_w_lost(s, err);
        else if ((rc = sqlite3_exec(s->db, "COMMIT", NULL, NULL, NULL)) != SQLITE_OK)
            st = ms_cx_sqlite_fail(s, err, rc, "cannot commit the rewrite");
    }
    ms_cx_sqlite_write_release(s); /* rolls back whatever is still open */
    return st;
}
