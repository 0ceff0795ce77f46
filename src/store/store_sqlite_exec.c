/*
 * store_sqlite_exec.c: executions and their console logs in the SQLite store. The executions
 * table is the work queue (ARCHITECTURE.md §1): a worker claims the oldest queued row with one
 * UPDATE … RETURNING inside BEGIN IMMEDIATE, then holds a lease it renews between batches; the
 * reaper marks rows whose lease lapsed (their node died) as interrupted. The partial unique
 * index executions_active keeps at most one non-terminal execution per sync, whichever thread
 * or process inserts. Decisions that change nothing (nothing to claim, already terminal) still
 * commit, so they never doom a caller's enclosing transaction. Same thread rules as
 * store_sqlite.c; docs/internals/STORE.md.
 */
#include "store/store_int.h"

#include <stdio.h>
#include <string.h>
#include <sqlite3.h>

/* The terminal states, spelled exactly as in the partial indexes of 0002-executions.sql:
 * SQLite uses a partial index only when the query repeats its WHERE term. */
#define EXEC_TERMINAL "('completed', 'failed', 'canceled', 'interrupted')"

#define EXEC_COLS                                                                                  \
    "id, organization_id, sync_id, type, status, options, errors, count_total, count_insert, "     \
    "count_update, count_upserts, count_delete, count_error, count_warnings, created_at, "         \
    "started_at, completed_at, cancel_requested, node, lease_until"

/* Statements that write the counts bind them first, as ?1 to ?7. */
#define EXEC_SET_COUNTS                                                                            \
    "count_total = ?1, count_insert = ?2, count_update = ?3, count_upserts = ?4, "                 \
    "count_delete = ?5, count_error = ?6, count_warnings = ?7"

#define EXEC_REAP_MSG "interrupted: the node running it stopped (lease expired)"

/* Every UtilExecutionStatus (API.md §4.3); the schema's CHECK has the same list. */
static const char *const exec_statuses[] = {"created",   "scheduled",  "queued",     "waiting",
                                            "running",   "processing", "canceling",  "canceled",
                                            "completed", "failed",     "interrupted"};

/* The states a worker may report while it holds the lease (exec_renew). */
static const char *const exec_working[] = {"waiting", "running", "processing", "canceling"};

static bool
exec_in(const char *status, const char *const *set, size_t n)
{
    if (status == NULL)
        return false;
    for (size_t i = 0; i < n; i++)
        if (strcmp(status, set[i]) == 0)
            return true;
    return false;
}

static void
exec_bind_counts(struct sq_bind *b, const struct ms_counts *c)
{
    static const struct ms_counts zero;

    if (c == NULL)
        c = &zero;
    ms_store_sq_i64(b, c->total);
    ms_store_sq_i64(b, c->insert);
    ms_store_sq_i64(b, c->update);
    ms_store_sq_i64(b, c->upserts);
    ms_store_sq_i64(b, c->delete);
    ms_store_sq_i64(b, c->error);
    ms_store_sq_i64(b, c->warnings);
}

/* The current row (EXEC_COLS) into *out. */
static enum ms_status
exec_row(sqlite3_stmt *stmt, struct ms_arena *a, struct ms_execution *out, struct ms_error *err)
{
    enum ms_status st;

    memset(out, 0, sizeof(*out));
    out->id = ms_store_sq_col_text(stmt, 0, a);
    out->org_id = ms_store_sq_col_text(stmt, 1, a);
    out->sync_id = ms_store_sq_col_text(stmt, 2, a);
    out->type = ms_store_sq_col_text(stmt, 3, a);
    out->status = ms_store_sq_col_text(stmt, 4, a);
    out->counts.total = ms_store_sq_col_i64(stmt, 7);
    out->counts.insert = ms_store_sq_col_i64(stmt, 8);
    out->counts.update = ms_store_sq_col_i64(stmt, 9);
    out->counts.upserts = ms_store_sq_col_i64(stmt, 10);
    out->counts.delete = ms_store_sq_col_i64(stmt, 11);
    out->counts.error = ms_store_sq_col_i64(stmt, 12);
    out->counts.warnings = ms_store_sq_col_i64(stmt, 13);
    out->created_at = ms_store_sq_col_i64(stmt, 14);
    out->started_at = ms_store_sq_col_i64(stmt, 15);
    out->completed_at = ms_store_sq_col_i64(stmt, 16);
    out->cancel_requested = ms_store_sq_col_i64(stmt, 17) != 0;
    out->node = ms_store_sq_col_text(stmt, 18, a);
    out->lease_until = ms_store_sq_col_i64(stmt, 19);
    st = ms_store_sq_col_json(stmt, 5, a, &out->options, err);
    if (st == MS_OK)
        st = ms_store_sq_col_json(stmt, 6, a, &out->errors, err);
    return st;
}

/*
 * Run the bound statement b to its end, reading the one execution it yields (a SELECT of at
 * most one row, or an UPDATE … RETURNING) into *out; *found says whether there was one. Stepping
 * to the end makes an autocommit write report its commit. Hands the statement back.
 */
static enum ms_status
exec_fetch(struct store_sqlite *s, const struct sq_bind *b, struct ms_arena *a, const char *what,
           bool *found, struct ms_execution *out, struct ms_error *err)
{
    struct ms_execution ex;
    bool row = false, more = false;
    enum ms_status st = ms_store_sq_step(s, b, what, &row, err);

    memset(&ex, 0, sizeof(ex));
    if (st == MS_OK && row)
        st = exec_row(b->stmt, a, &ex, err);
    if (st == MS_OK && row)
        st = ms_store_sq_step(s, b, what, &more, err);
    ms_store_sq_done(b->stmt);
    if (st == MS_OK && more)
        st = ms_fail(err, MS_EINTERNAL, "%s: more than one row", what);
    if (st == MS_OK) {
        *found = row;
        if (row)
            *out = ex;
    }
    return st;
}

/* ---- insert and reads ---- */

/*
 * The row is inserted from a SELECT on the sync within the organization, so an execution can
 * only be created for a sync of its own organization (no row: MS_ENOTFOUND).
 */
enum ms_status
ms_store_sq_exec_insert(struct ms_store *base, const struct ms_execution *ex, struct ms_error *err)
{
    struct store_sqlite *s = (struct store_sqlite *)base;
    sqlite3_stmt *stmt = NULL;
    struct ms_error local;
    struct sq_bind b;
    int native;
    enum ms_status st;

    if (err == NULL)
        err = &local; /* the SQLite code tells which constraint failed */
    if (!exec_in(ex->status, exec_statuses, MS_ARRAY_LEN(exec_statuses)))
        return ms_fail_at(err, MS_EINVAL, "status", "unknown execution status \"%s\"",
                          ex->status != NULL ? ex->status : "(null)");
    st = ms_store_sq_stmt(
        s, SQ_EXEC_INSERT,
        "INSERT INTO executions (id, organization_id, sync_id, type, status, options, errors, "
        "count_total, count_insert, count_update, count_upserts, count_delete, count_error, "
        "count_warnings, created_at, started_at, completed_at, cancel_requested, node, "
        "lease_until, sort_at) SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, "
        "?14, ?15, ?16, ?17, ?18, ?19, ?20, coalesce(?16, ?15) FROM syncs "
        "WHERE id = ?3 AND organization_id = ?2",
        &stmt, err);
    if (st != MS_OK)
        return st;
    ms_store_sq_bind_init(&b, stmt);
    ms_store_sq_text(&b, ex->id);
    ms_store_sq_text(&b, ex->org_id);
    ms_store_sq_text(&b, ex->sync_id);
    ms_store_sq_text(&b, ex->type);
    ms_store_sq_text(&b, ex->status);
    ms_store_sq_json(&b, ex->options);
    ms_store_sq_json(&b, ex->errors);
    exec_bind_counts(&b, &ex->counts);
    ms_store_sq_i64(&b, ex->created_at);
    ms_store_sq_i64_or_null(&b, ex->started_at);
    ms_store_sq_i64_or_null(&b, ex->completed_at);
    ms_store_sq_i64(&b, ex->cancel_requested ? 1 : 0);
    ms_store_sq_text(&b, ex->node);
    ms_store_sq_i64_or_null(&b, ex->lease_until);
    st = ms_store_sq_run(s, &b, "execution insert", err);
    native = st != MS_OK ? err->native : 0;
    if (st == MS_ECONFLICT && native == SQLITE_CONSTRAINT_UNIQUE)
        st = ms_fail_key(err, MS_ECONFLICT, "execution_in_progress",
                         "sync %s already has a running execution", ex->sync_id);
    else if (st == MS_ECONFLICT)
        st = ms_fail(err, MS_ECONFLICT, "an execution with id %s already exists", ex->id);
    else if (st == MS_OK && ms_store_sq_changes(s) == 0)
        st = ms_fail(err, MS_ENOTFOUND, "no sync with id %s", ex->sync_id);
    if (st != MS_OK)
        err->native = native;
    return st;
}

/* The execution id of the organization (and of sync_id unless NULL). */
static enum ms_status
exec_lookup(struct store_sqlite *s, struct ms_arena *a, const char *org_id, const char *sync_id,
            const char *id, bool *found, struct ms_execution *out, struct ms_error *err)
{
    sqlite3_stmt *stmt = NULL;
    struct sq_bind b;
    enum ms_status st = ms_store_sq_stmt(s, SQ_EXEC_GET,
                                         "SELECT " EXEC_COLS " FROM executions WHERE "
                                         "organization_id = ?1 AND id = ?3 AND "
                                         "(?2 IS NULL OR sync_id = ?2)",
                                         &stmt, err);

    if (st != MS_OK)
        return st;
    ms_store_sq_bind_init(&b, stmt);
    ms_store_sq_text(&b, org_id);
    ms_store_sq_text(&b, sync_id);
    ms_store_sq_text(&b, id);
    return exec_fetch(s, &b, a, "execution get", found, out, err);
}

/* The non-terminal execution of the sync (the executions_active index). */
static enum ms_status
exec_lookup_active(struct store_sqlite *s, struct ms_arena *a, const char *org_id,
                   const char *sync_id, bool *found, struct ms_execution *out, struct ms_error *err)
{
    sqlite3_stmt *stmt = NULL;
    struct sq_bind b;
    enum ms_status st = ms_store_sq_stmt(s, SQ_EXEC_ACTIVE,
                                         "SELECT " EXEC_COLS " FROM executions WHERE "
                                         "organization_id = ? AND sync_id = ? AND "
                                         "status NOT IN " EXEC_TERMINAL,
                                         &stmt, err);

    if (st != MS_OK)
        return st;
    ms_store_sq_bind_init(&b, stmt);
    ms_store_sq_text(&b, org_id);
    ms_store_sq_text(&b, sync_id);
    return exec_fetch(s, &b, a, "execution active", found, out, err);
}

enum ms_status
ms_store_sq_exec_get(struct ms_store *base, struct ms_arena *a, const char *org_id,
                     const char *sync_id, const char *id, struct ms_execution *out,
                     struct ms_error *err)
{
    bool found = false;
    enum ms_status st =
        exec_lookup((struct store_sqlite *)base, a, org_id, sync_id, id, &found, out, err);

    if (st == MS_OK && !found)
        st = ms_fail(err, MS_ENOTFOUND, "no execution with id %s", id);
    return st;
}

enum ms_status
ms_store_sq_exec_active(struct ms_store *base, struct ms_arena *a, const char *org_id,
                        const char *sync_id, struct ms_execution *out, struct ms_error *err)
{
    bool found = false;
    enum ms_status st =
        exec_lookup_active((struct store_sqlite *)base, a, org_id, sync_id, &found, out, err);

    if (st == MS_OK && !found)
        st = ms_fail(err, MS_ENOTFOUND, "sync %s has no execution in progress", sync_id);
    return st;
}

/* Executions run one after another, so the latest sort_at is also the latest to finish. */
enum ms_status
ms_store_sq_exec_last(struct ms_store *base, struct ms_arena *a, const char *org_id,
                      const char *sync_id, struct ms_execution *out, struct ms_error *err)
{
    struct store_sqlite *s = (struct store_sqlite *)base;
    sqlite3_stmt *stmt = NULL;
    struct sq_bind b;
    bool found = false;
    enum ms_status st =
        ms_store_sq_stmt(s, SQ_EXEC_LAST,
                         "SELECT " EXEC_COLS " FROM executions WHERE "
                         "organization_id = ? AND sync_id = ? AND status IN " EXEC_TERMINAL
                         " ORDER BY sort_at DESC, id DESC LIMIT 1",
                         &stmt, err);

    if (st != MS_OK)
        return st;
    ms_store_sq_bind_init(&b, stmt);
    ms_store_sq_text(&b, org_id);
    ms_store_sq_text(&b, sync_id);
    st = exec_fetch(s, &b, a, "execution last", &found, out, err);
    if (st == MS_OK && !found)
        st = ms_fail(err, MS_ENOTFOUND, "sync %s has no finished execution", sync_id);
    return st;
}

/*
 * The statement of the list variant mask. Parameters have fixed numbers in every variant (?1
 * org, ?2 sync, ?3 ?4 cursor, ?5 limit), so one binding sequence serves all 8. The cursor is a
 * row-value comparison, the start of a range on executions_list (sync_id, sort_at, id) walked
 * forwards or backwards: a page costs the same at any depth.
 */
MS_STATIC const char *
ms_store_sq_exec_list_sql(unsigned mask, char *buf, size_t cap)
{
    bool asc = (mask & SQ_XLIST_ASC) != 0;
    const char *cursor = asc ? " AND (sort_at, id) > (?3, ?4)" : " AND (sort_at, id) < (?3, ?4)";
    int n = snprintf(buf, cap,
                     "SELECT " EXEC_COLS " FROM executions WHERE organization_id = ?1 AND "
                     "sync_id = ?2%s%s ORDER BY sort_at %s, id %s LIMIT ?5",
                     (mask & SQ_XLIST_DONE) != 0 ? " AND status IN " EXEC_TERMINAL : "",
                     (mask & SQ_XLIST_CURSOR) != 0 ? cursor : "", asc ? "ASC" : "DESC",
                     asc ? "ASC" : "DESC");

    MS_ASSERT(n > 0 && (size_t)n < cap);
    return buf;
}

enum ms_status
ms_store_sq_exec_list(struct ms_store *base, struct ms_arena *a, const char *org_id,
                      const char *sync_id, bool only_completed, bool ascending,
                      const struct ms_exec_cursor *cur, size_t limit, struct ms_execution **out,
                      size_t *n, struct ms_error *err)
{
    struct store_sqlite *s = (struct store_sqlite *)base;
    unsigned mask = (ascending ? SQ_XLIST_ASC : 0) | (only_completed ? SQ_XLIST_DONE : 0) |
                    (cur != NULL && cur->set ? SQ_XLIST_CURSOR : 0);
    enum sq_stmt_id id = (enum sq_stmt_id)(SQ_EXEC_LIST + mask);
    sqlite3_stmt *stmt = NULL;
    struct ms_execution *arr = NULL;
    size_t cnt = 0, cap = 0;
    char sql[1024];
    struct sq_bind b;
    bool row = false;
    enum ms_status st; /* the SQL text is only needed to prepare the statement, once */

    st = ms_store_sq_stmt(
        s, id, s->stmts[id] != NULL ? NULL : ms_store_sq_exec_list_sql(mask, sql, sizeof(sql)),
        &stmt, err);
    if (st != MS_OK)
        return st;
    ms_store_sq_bind_init(&b, stmt);
    ms_store_sq_text(&b, org_id);
    ms_store_sq_text(&b, sync_id);
    ms_store_sq_i64(&b, (mask & SQ_XLIST_CURSOR) != 0 ? cur->sort_at : 0);
    ms_store_sq_text(&b, (mask & SQ_XLIST_CURSOR) != 0 ? cur->id : NULL);
    ms_store_sq_i64(&b, limit > INT64_MAX ? INT64_MAX : (int64_t)limit);
    for (st = ms_store_sq_step(s, &b, "execution list", &row, err); st == MS_OK && row;
         st = ms_store_sq_step(s, &b, "execution list", &row, err)) {
        arr = ms_store_sq_grow(a, arr, cnt, &cap, sizeof(*arr));
        st = exec_row(stmt, a, &arr[cnt++], err);
        if (st != MS_OK)
            break;
    }
    ms_store_sq_done(stmt);
    if (st == MS_OK) {
        *out = arr;
        *n = cnt;
    }
    return st;
}

/* ---- the work queue ---- */

/* The claiming UPDATE … RETURNING, bound; id NULL = the oldest queued execution. */
static enum ms_status
exec_claim_stmt(struct store_sqlite *s, const char *id, const char *node, int64_t now,
                int64_t lease_ms, struct sq_bind *b, struct ms_error *err)
{
    sqlite3_stmt *stmt = NULL;
    enum ms_status st =
        id == NULL
            ? ms_store_sq_stmt(s, SQ_EXEC_CLAIM_NEXT,
                               "UPDATE executions SET status = 'running', started_at = ?2, "
                               "sort_at = ?2, node = ?1, lease_until = ?3 WHERE id = (SELECT id "
                               "FROM executions WHERE status = 'queued' ORDER BY created_at, id "
                               "LIMIT 1) AND status = 'queued' RETURNING " EXEC_COLS,
                               &stmt, err)
            : ms_store_sq_stmt(s, SQ_EXEC_CLAIM_ID,
                               "UPDATE executions SET status = 'running', started_at = ?2, "
                               "sort_at = ?2, node = ?1, lease_until = ?3 WHERE id = ?4 AND "
                               "status = 'queued' RETURNING " EXEC_COLS,
                               &stmt, err);

    if (st != MS_OK)
        return st;
    ms_store_sq_bind_init(b, stmt);
    ms_store_sq_text(b, node);
    ms_store_sq_i64(b, now);
    ms_store_sq_i64(b, now + lease_ms);
    if (id != NULL)
        ms_store_sq_text(b, id);
    return MS_OK;
}

/*
 * One BEGIN IMMEDIATE transaction: the write lock is held from the start, so two handles (or
 * processes) claiming at once are serialized and never take the same row.
 */
enum ms_status
ms_store_sq_exec_claim(struct ms_store *base, struct ms_arena *a, const char *id, const char *node,
                       int64_t now, int64_t lease_ms, struct ms_execution *out,
                       struct ms_error *err)
{
    struct store_sqlite *s = (struct store_sqlite *)base;
    struct ms_execution ex;
    struct sq_bind b;
    bool found = false;
    enum ms_status st;

    if (node == NULL || lease_ms <= 0)
        return ms_fail(err, MS_EINVAL, "execution claim: a node and a positive lease are needed");
    st = ms_store_sq_begin(s, err);
    if (st != MS_OK)
        return st;
    st = exec_claim_stmt(s, id, node, now, lease_ms, &b, err);
    if (st == MS_OK)
        st = exec_fetch(s, &b, a, "execution claim", &found, &ex, err);
    if (st != MS_OK) {
        ms_store_sq_rollback(s);
        return st;
    }
    st = ms_store_sq_commit(s, err);
    if (st != MS_OK)
        return st;
    if (!found)
        return id == NULL ? ms_fail(err, MS_ENOTFOUND, "no queued execution")
                          : ms_fail(err, MS_ENOTFOUND, "execution %s is not queued", id);
    *out = ex;
    return MS_OK;
}

/* A row being canceled stays canceling whatever the worker reports. */
enum ms_status
ms_store_sq_exec_renew(struct ms_store *base, const char *id, const char *node, const char *status,
                       const struct ms_counts *counts, int64_t now, int64_t lease_ms, bool *cancel,
                       struct ms_error *err)
{
    struct store_sqlite *s = (struct store_sqlite *)base;
    sqlite3_stmt *stmt = NULL;
    struct sq_bind b;
    bool row = false, more = false;
    int64_t flag = 0;
    enum ms_status st;

    if (!exec_in(status, exec_working, MS_ARRAY_LEN(exec_working)))
        return ms_fail_at(err, MS_EINVAL, "status", "\"%s\" is not a state of a running execution",
                          status != NULL ? status : "(null)");
    st = ms_store_sq_stmt(s, SQ_EXEC_RENEW,
                          "UPDATE executions SET " EXEC_SET_COUNTS ", status = CASE WHEN "
                          "status = 'canceling' THEN status ELSE ?10 END, lease_until = ?11 "
                          "WHERE id = ?8 AND node = ?9 AND status NOT IN " EXEC_TERMINAL
                          " RETURNING cancel_requested",
                          &stmt, err);
    if (st != MS_OK)
        return st;
    ms_store_sq_bind_init(&b, stmt);
    exec_bind_counts(&b, counts);
    ms_store_sq_text(&b, id);
    ms_store_sq_text(&b, node);
    ms_store_sq_text(&b, status);
    ms_store_sq_i64(&b, now + lease_ms);
    st = ms_store_sq_step(s, &b, "execution renew", &row, err);
    if (st == MS_OK && row) {
        flag = ms_store_sq_col_i64(stmt, 0);
        st = ms_store_sq_step(s, &b, "execution renew", &more, err);
    }
    ms_store_sq_done(stmt);
    if (st == MS_OK && !row)
        st = ms_fail(err, MS_ECONFLICT, "execution %s is no longer held by node %s", id,
                     node != NULL ? node : "(none)");
    if (st == MS_OK)
        *cancel = flag != 0;
    return st;
}

/* node NULL finishes an execution no worker ever claimed (node IS NULL). */
enum ms_status
ms_store_sq_exec_finish(struct ms_store *base, const char *id, const char *node, const char *status,
                        const struct ms_counts *counts, const json_t *errors, int64_t now,
                        struct ms_error *err)
{
    struct store_sqlite *s = (struct store_sqlite *)base;
    sqlite3_stmt *stmt = NULL;
    struct sq_bind b;
    enum ms_status st;

    if (!ms_exec_status_terminal(status))
        return ms_fail_at(err, MS_EINVAL, "status", "\"%s\" is not a terminal state",
                          status != NULL ? status : "(null)");
    st = ms_store_sq_stmt(s, SQ_EXEC_FINISH,
                          "UPDATE executions SET " EXEC_SET_COUNTS ", status = ?10, errors = "
                          "?11, completed_at = ?12, lease_until = NULL WHERE id = ?8 AND "
                          "node IS ?9 AND status NOT IN " EXEC_TERMINAL,
                          &stmt, err);
    if (st != MS_OK)
        return st;
    ms_store_sq_bind_init(&b, stmt);
    exec_bind_counts(&b, counts);
    ms_store_sq_text(&b, id);
    ms_store_sq_text(&b, node);
    ms_store_sq_text(&b, status);
    ms_store_sq_json(&b, errors);
    ms_store_sq_i64(&b, now);
    st = ms_store_sq_run(s, &b, "execution finish", err);
    if (st == MS_OK && ms_store_sq_changes(s) == 0)
        st = ms_fail(err, MS_ECONFLICT,
                     "execution %s is not held by node %s (reaped, ended or "
                     "deleted)",
                     id, node != NULL ? node : "(none)");
    return st;
}

/* Unclaimed (no node): canceled at once. Claimed: canceling, and the worker sees the flag. */
static enum ms_status
exec_cancel_row(struct store_sqlite *s, const char *id, int64_t now, struct ms_error *err)
{
    sqlite3_stmt *stmt = NULL;
    struct sq_bind b;
    enum ms_status st = ms_store_sq_stmt(
        s, SQ_EXEC_CANCEL,
        "UPDATE executions SET cancel_requested = 1, status = CASE WHEN node IS NULL THEN "
        "'canceled' ELSE 'canceling' END, completed_at = CASE WHEN node IS NULL THEN ?2 ELSE "
        "completed_at END WHERE id = ?1 AND status NOT IN " EXEC_TERMINAL,
        &stmt, err);

    if (st != MS_OK)
        return st;
    ms_store_sq_bind_init(&b, stmt);
    ms_store_sq_text(&b, id);
    ms_store_sq_i64(&b, now);
    return ms_store_sq_run(s, &b, "execution cancel", err);
}

/* Read and decide under the write lock, so a worker finishing meanwhile is seen. */
enum ms_status
ms_store_sq_exec_cancel(struct ms_store *base, struct ms_arena *a, const char *org_id,
                        const char *sync_id, const char *id, int64_t now, const char **affected,
                        struct ms_error *err)
{
    struct store_sqlite *s = (struct store_sqlite *)base;
    struct ms_execution ex;
    bool found = false, terminal = false;
    enum ms_status st = ms_store_sq_begin(s, err);

    if (st != MS_OK)
        return st;
    st = id != NULL ? exec_lookup(s, a, org_id, sync_id, id, &found, &ex, err)
                    : exec_lookup_active(s, a, org_id, sync_id, &found, &ex, err);
    terminal = found && ms_exec_status_terminal(ex.status);
    if (st == MS_OK && found && !terminal)
        st = exec_cancel_row(s, ex.id, now, err);
    if (st != MS_OK) {
        ms_store_sq_rollback(s);
        return st;
    }
    st = ms_store_sq_commit(s, err);
    if (st != MS_OK)
        return st;
    if (!found && id != NULL)
        return ms_fail(err, MS_ENOTFOUND, "no execution with id %s", id);
    if (terminal)
        return ms_fail(err, MS_EINVAL, "execution %s already %s", ex.id, ex.status);
    *affected = found ? ex.id : NULL;
    return MS_OK;
}

/* One statement over the executions_lease index; the reason is appended to errors. */
enum ms_status
ms_store_sq_exec_reap(struct ms_store *base, int64_t now, int64_t *n, struct ms_error *err)
{
    struct store_sqlite *s = (struct store_sqlite *)base;
    sqlite3_stmt *stmt = NULL;
    struct sq_bind b;
    enum ms_status st = ms_store_sq_stmt(
        s, SQ_EXEC_REAP,
        "UPDATE executions SET status = 'interrupted', completed_at = ?1, lease_until = NULL, "
        "errors = json_insert(CASE WHEN json_type(errors) = 'array' THEN errors ELSE '[]' END, "
        "'$[#]', ?2) WHERE status NOT IN " EXEC_TERMINAL
        " AND lease_until < ?1 AND node IS NOT NULL",
        &stmt, err);

    if (st != MS_OK)
        return st;
    ms_store_sq_bind_init(&b, stmt);
    ms_store_sq_i64(&b, now);
    ms_store_sq_text(&b, EXEC_REAP_MSG);
    st = ms_store_sq_run(s, &b, "execution reap", err);
    if (st == MS_OK)
        *n = ms_store_sq_changes(s);
    return st;
}

enum ms_status
ms_store_sq_exec_counts(struct store_sqlite *s, const char *exec_id, const struct ms_counts *counts,
                        struct ms_error *err)
{
    sqlite3_stmt *stmt = NULL;
    struct sq_bind b;
    enum ms_status st = ms_store_sq_stmt(
        s, SQ_EXEC_COUNTS, "UPDATE executions SET " EXEC_SET_COUNTS " WHERE id = ?8", &stmt, err);

    if (st != MS_OK)
        return st;
    ms_store_sq_bind_init(&b, stmt);
    exec_bind_counts(&b, counts);
    ms_store_sq_text(&b, exec_id);
    st = ms_store_sq_run(s, &b, "execution counts", err);
    if (st == MS_OK && ms_store_sq_changes(s) == 0)
        st = ms_fail(err, MS_ENOTFOUND, "no execution with id %s", exec_id);
    return st;
}

/* ---- console logs ---- */

/* seq is computed inside the INSERT (one statement holds the write lock): no two entries of an
 * execution get the same number, whichever handles append. */
enum ms_status
ms_store_sq_log_append(struct ms_store *base, const char *exec_id, int64_t ts, const char *level,
                       const char *message, struct ms_error *err)
{
    struct store_sqlite *s = (struct store_sqlite *)base;
    sqlite3_stmt *stmt = NULL;
    struct ms_error local;
    struct sq_bind b;
    enum ms_status st;

    if (err == NULL)
        err = &local; /* the SQLite code tells which constraint failed */
    if (level == NULL || message == NULL)
        return ms_fail(err, MS_EINVAL, "console log entry without %s",
                       level == NULL ? "level" : "message");
    st = ms_store_sq_stmt(s, SQ_LOG_APPEND,
                          "INSERT INTO execution_logs (execution_id, seq, ts, level, message) "
                          "SELECT ?1, coalesce(max(seq), 0) + 1, ?2, ?3, ?4 FROM execution_logs "
                          "WHERE execution_id = ?1",
                          &stmt, err);
    if (st != MS_OK)
        return st;
    ms_store_sq_bind_init(&b, stmt);
    ms_store_sq_text(&b, exec_id);
    ms_store_sq_i64(&b, ts);
    ms_store_sq_text(&b, level);
    ms_store_sq_text(&b, message);
    st = ms_store_sq_run(s, &b, "console log append", err);
    if (st != MS_OK && err->native == SQLITE_CONSTRAINT_FOREIGNKEY) {
        st = ms_fail(err, MS_ENOTFOUND, "no execution with id %s", exec_id);
        err->native = SQLITE_CONSTRAINT_FOREIGNKEY;
    }
    return st;
}

enum ms_status
ms_store_sq_log_list(struct ms_store *base, struct ms_arena *a, const char *exec_id,
                     int64_t after_seq, size_t limit, struct ms_exec_log **out, size_t *n,
                     struct ms_error *err)
{
    struct store_sqlite *s = (struct store_sqlite *)base;
    sqlite3_stmt *stmt = NULL;
    struct ms_exec_log *arr = NULL;
    size_t cnt = 0, cap = 0;
    struct sq_bind b;
    bool row = false;
    enum ms_status st;

    if (after_seq < 0)
        return ms_fail_at(err, MS_EINVAL, "after", "negative console log position");
    st = after_seq > 0
             ? ms_store_sq_stmt(s, SQ_LOG_AFTER,
                                "SELECT seq, ts, level, message FROM execution_logs WHERE "
                                "execution_id = ? AND seq > ? ORDER BY seq LIMIT ?",
                                &stmt, err)
             : ms_store_sq_stmt(s, SQ_LOG_TAIL,
                                "SELECT seq, ts, level, message FROM (SELECT seq, ts, level, "
                                "message FROM execution_logs WHERE execution_id = ? ORDER BY "
                                "seq DESC LIMIT ?) ORDER BY seq",
                                &stmt, err);
    if (st != MS_OK)
        return st;
    ms_store_sq_bind_init(&b, stmt);
    ms_store_sq_text(&b, exec_id);
    if (after_seq > 0)
        ms_store_sq_i64(&b, after_seq);
    ms_store_sq_i64(&b, limit > INT64_MAX ? INT64_MAX : (int64_t)limit);
    for (st = ms_store_sq_step(s, &b, "console log list", &row, err); st == MS_OK && row;
         st = ms_store_sq_step(s, &b, "console log list", &row, err)) {
        arr = ms_store_sq_grow(a, arr, cnt, &cap, sizeof(*arr));
        arr[cnt].seq = ms_store_sq_col_i64(stmt, 0);
        arr[cnt].ts = ms_store_sq_col_i64(stmt, 1);
        arr[cnt].level = ms_store_sq_col_text(stmt, 2, a);
        arr[cnt].message = ms_store_sq_col_text(stmt, 3, a);
        cnt++;
    }
    ms_store_sq_done(stmt);
    if (st == MS_OK) {
        *out = arr;
        *n = cnt;
    }
    return st;
}
