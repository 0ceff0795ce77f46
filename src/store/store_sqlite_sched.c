/*
 * store_sqlite_sched.c: the scheduler's tables in the SQLite store (0005-schedule.sql).
 * schedule_state has one row per active sync the scheduler acts on; every write is a
 * compare-and-set on its version, and a write that fires also inserts the execution in the
 * same BEGIN IMMEDIATE transaction, so two schedulers on one store never fire the same slot:
 * the loser's UPDATE changes no row and it inserts nothing. schedule_events is filled by a
 * trigger on executions and read from a high-water mark. These reads and writes span every
 * organization (the scheduler serves them all), except sched_get, which A12 calls. Same thread
 * rules as store_sqlite.c.
 */
#include "store/store_int.h"

#include <string.h>
#include <sqlite3.h>

/* The terminal states, spelled as in the partial index executions_active (0002), which the
 * running check below then uses. */
#define SCHED_TERMINAL "('completed', 'failed', 'canceled', 'interrupted')"

/* What the scheduler acts on: an active sync with a schedule other than manual. */
#define SCHED_SCHEDULED                                                                            \
    "y.active = 1 AND coalesce(json_extract(y.configuration, '$.schedule.frequency'), "            \
    "'manual') <> 'manual'"

#define SCHED_STATE_COLS                                                                           \
    "kind, schedule, next_at, pending, pending_type, trigger_seq, last_fired_at, last_exec_id, "   \
    "version"

/* Columns col.. of SCHED_STATE_COLS into *out (sync and organization set by the caller). */
static void
sched_state_row(sqlite3_stmt *stmt, int col, struct ms_arena *a, struct ms_sched_state *out)
{
    out->kind = ms_store_sq_col_text(stmt, col, a);
    out->schedule = ms_store_sq_col_text(stmt, col + 1, a);
    out->next_at = ms_store_sq_col_i64(stmt, col + 2);
    out->pending = ms_store_sq_col_i64(stmt, col + 3) != 0;
    out->pending_type = ms_store_sq_col_text(stmt, col + 4, a);
    out->trigger_seq = ms_store_sq_col_i64(stmt, col + 5);
    out->last_fired_at = ms_store_sq_col_i64(stmt, col + 6);
    out->last_exec_id = ms_store_sq_col_text(stmt, col + 7, a);
    out->version = ms_store_sq_col_i64(stmt, col + 8);
}

/* The current row of the sched_list statement into *out. */
static enum ms_status
sched_sync_row(sqlite3_stmt *stmt, struct ms_arena *a, struct ms_sched_sync *out,
               struct ms_error *err)
{
    memset(out, 0, sizeof(*out));
    out->sync_id = ms_store_sq_col_text(stmt, 0, a);
    out->org_id = ms_store_sq_col_text(stmt, 1, a);
    out->running = ms_store_sq_col_i64(stmt, 3) != 0;
    out->state.sync_id = out->sync_id;
    out->state.org_id = out->org_id;
    sched_state_row(stmt, 4, a, &out->state); /* all NULL, version 0, without a row */
    return ms_store_sq_col_json(stmt, 2, a, &out->schedule, err);
}

enum ms_status
ms_store_sq_sched_list(struct ms_store *base, struct ms_arena *a, const char *after_id,
                       size_t limit, struct ms_sched_sync **out, size_t *n, struct ms_error *err)
{
    struct store_sqlite *s = (struct store_sqlite *)base;
    struct ms_sched_sync *rows = NULL;
    size_t cnt = 0, cap = 0;
    sqlite3_stmt *stmt = NULL;
    struct sq_bind b;
    bool row = false;
    enum ms_status st = ms_store_sq_stmt(
        s, SQ_SCHED_LIST,
        "SELECT y.id, y.organization_id, json_extract(y.configuration, '$.schedule'), "
        "EXISTS (SELECT 1 FROM executions AS e WHERE e.sync_id = y.id AND e.status NOT "
        "IN " SCHED_TERMINAL
        "), t.kind, t.schedule, t.next_at, t.pending, t.pending_type, t.trigger_seq, "
        "t.last_fired_at, t.last_exec_id, t.version FROM syncs AS y LEFT JOIN schedule_state AS t "
        "ON t.sync_id = y.id WHERE " SCHED_SCHEDULED " AND y.id > ?1 ORDER BY y.id LIMIT ?2",
        &stmt, err);

    if (st != MS_OK)
        return st;
    ms_store_sq_bind_init(&b, stmt);
    ms_store_sq_text(&b, after_id != NULL ? after_id : "");
    ms_store_sq_i64(&b, (int64_t)limit);
    for (st = ms_store_sq_step(s, &b, "schedule list", &row, err); st == MS_OK && row;
         st = ms_store_sq_step(s, &b, "schedule list", &row, err)) {
        rows = ms_store_sq_grow(a, rows, cnt, &cap, sizeof(*rows));
        if ((st = sched_sync_row(stmt, a, &rows[cnt], err)) != MS_OK)
            break;
        cnt++;
    }
    ms_store_sq_done(stmt);
    if (st == MS_OK) {
        *out = rows;
        *n = cnt;
    }
    return st;
}

enum ms_status
ms_store_sq_sched_get(struct ms_store *base, struct ms_arena *a, const char *org_id,
                      const char *sync_id, struct ms_sched_state *out, struct ms_error *err)
{
    struct store_sqlite *s = (struct store_sqlite *)base;
    sqlite3_stmt *stmt = NULL;
    struct sq_bind b;
    bool row = false;
    enum ms_status st = ms_store_sq_stmt(s, SQ_SCHED_GET,
                                         "SELECT sync_id, organization_id, " SCHED_STATE_COLS
                                         " FROM schedule_state WHERE organization_id = ?1 AND "
                                         "sync_id = ?2",
                                         &stmt, err);

    if (st != MS_OK)
        return st;
    ms_store_sq_bind_init(&b, stmt);
    ms_store_sq_text(&b, org_id);
    ms_store_sq_text(&b, sync_id);
    st = ms_store_sq_step(s, &b, "schedule get", &row, err);
    if (st == MS_OK && !row)
        st = ms_fail(err, MS_ENOTFOUND, "sync %s has no schedule state", sync_id);
    if (st == MS_OK) {
        memset(out, 0, sizeof(*out));
        out->sync_id = ms_store_sq_col_text(stmt, 0, a);
        out->org_id = ms_store_sq_col_text(stmt, 1, a);
        sched_state_row(stmt, 2, a, out);
    }
    ms_store_sq_done(stmt);
    return st;
}

/* The new row (expect 0, inserted only if the sync exists and has none) or the compare-and-set
 * update (expect = the stored version); *won: a row changed. */
static enum ms_status
sched_write(struct store_sqlite *s, int64_t expect, const struct ms_sched_state *row, int64_t now,
            bool *won, struct ms_error *err)
{
    sqlite3_stmt *stmt = NULL;
    struct sq_bind b;
    enum ms_status st =
        expect == 0
            ? ms_store_sq_stmt(s, SQ_SCHED_INSERT,
                               "INSERT INTO schedule_state (sync_id, organization_id, kind, "
                               "schedule, next_at, pending, pending_type, trigger_seq, "
                               "last_fired_at, last_exec_id, updated_at, version) SELECT ?1, ?2, "
                               "?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, 1 FROM syncs WHERE id = ?1 "
                               "AND organization_id = ?2 ON CONFLICT (sync_id) DO NOTHING",
                               &stmt, err)
            : ms_store_sq_stmt(s, SQ_SCHED_UPDATE,
                               "UPDATE schedule_state SET kind = ?3, schedule = ?4, next_at = ?5, "
                               "pending = ?6, pending_type = ?7, trigger_seq = ?8, last_fired_at "
                               "= ?9, last_exec_id = ?10, updated_at = ?11, version = version + "
                               "1 WHERE sync_id = ?1 AND organization_id = ?2 AND version = ?12",
                               &stmt, err);

    if (st != MS_OK)
        return st;
    ms_store_sq_bind_init(&b, stmt);
    ms_store_sq_text(&b, row->sync_id);
    ms_store_sq_text(&b, row->org_id);
    ms_store_sq_text(&b, row->kind);
    ms_store_sq_text(&b, row->schedule);
    ms_store_sq_i64_or_null(&b, row->next_at);
    ms_store_sq_i64(&b, row->pending ? 1 : 0);
    ms_store_sq_text(&b, row->pending ? row->pending_type : NULL);
    ms_store_sq_i64(&b, row->trigger_seq);
    ms_store_sq_i64_or_null(&b, row->last_fired_at);
    ms_store_sq_text(&b, row->last_exec_id);
    ms_store_sq_i64(&b, now);
    if (expect != 0)
        ms_store_sq_i64(&b, expect);
    st = ms_store_sq_run(s, &b, "schedule state write", err);
    if (st == MS_OK)
        *won = ms_store_sq_changes(s) == 1;
    return st;
}

enum ms_status
ms_store_sq_sched_cas(struct ms_store *base, int64_t expect, const struct ms_sched_state *row,
                      const struct ms_execution *ex, int64_t now, bool *won, struct ms_error *err)
{
    struct store_sqlite *s = (struct store_sqlite *)base;
    bool changed = false;
    enum ms_status st = ms_store_sq_begin(s, err);

    if (st != MS_OK)
        return st;
    st = sched_write(s, expect, row, now, &changed, err);
    if (st == MS_OK && changed && ex != NULL)
        st = ms_store_sq_exec_insert(base, ex, err);
    if (st != MS_OK) {
        ms_store_sq_rollback(s);
        return st;
    }
    st = ms_store_sq_commit(s, err);
    if (st == MS_OK)
        *won = changed;
    return st;
}

/* Rows of syncs that are no longer active or scheduled: the term shared by the two statements
 * below. */
#define SCHED_STALE_ROW                                                                            \
    "NOT EXISTS (SELECT 1 FROM syncs AS y WHERE y.id = schedule_state.sync_id "                    \
    "AND " SCHED_SCHEDULED ")"

/* Looking first keeps a pass that has nothing to delete from taking the write lock, which
 * every pass would otherwise do. */
enum ms_status
ms_store_sq_sched_prune(struct ms_store *base, int64_t *n, struct ms_error *err)
{
    struct store_sqlite *s = (struct store_sqlite *)base;
    sqlite3_stmt *stmt = NULL;
    struct sq_bind b;
    bool row = false;
    enum ms_status st = ms_store_sq_stmt(
        s, SQ_SCHED_STALE, "SELECT 1 FROM schedule_state WHERE " SCHED_STALE_ROW " LIMIT 1", &stmt,
        err);

    if (st != MS_OK)
        return st;
    ms_store_sq_bind_init(&b, stmt);
    st = ms_store_sq_step(s, &b, "schedule prune", &row, err);
    ms_store_sq_done(stmt);
    *n = 0;
    if (st != MS_OK || !row)
        return st;
    st = ms_store_sq_stmt(s, SQ_SCHED_PRUNE, "DELETE FROM schedule_state WHERE " SCHED_STALE_ROW,
                          &stmt, err);
    if (st != MS_OK)
        return st;
    ms_store_sq_bind_init(&b, stmt);
    st = ms_store_sq_run(s, &b, "schedule prune", err);
    if (st == MS_OK)
        *n = ms_store_sq_changes(s);
    return st;
}

enum ms_status
ms_store_sq_sched_events(struct ms_store *base, struct ms_arena *a, int64_t after_seq, size_t limit,
                         struct ms_sched_event **out, size_t *n, struct ms_error *err)
{
    struct store_sqlite *s = (struct store_sqlite *)base;
    struct ms_sched_event *ev = NULL;
    size_t cnt = 0, cap = 0;
    sqlite3_stmt *stmt = NULL;
    struct sq_bind b;
    bool row = false;
    enum ms_status st = ms_store_sq_stmt(s, SQ_SCHED_EVENTS,
                                         "SELECT seq, organization_id, sync_id, execution_id, "
                                         "status, at FROM schedule_events WHERE seq > ?1 ORDER "
                                         "BY seq LIMIT ?2",
                                         &stmt, err);

    if (st != MS_OK)
        return st;
    ms_store_sq_bind_init(&b, stmt);
    ms_store_sq_i64(&b, after_seq);
    ms_store_sq_i64(&b, (int64_t)limit);
    for (st = ms_store_sq_step(s, &b, "schedule events", &row, err); st == MS_OK && row;
         st = ms_store_sq_step(s, &b, "schedule events", &row, err)) {
        struct ms_sched_event *e;

        ev = ms_store_sq_grow(a, ev, cnt, &cap, sizeof(*ev));
        e = &ev[cnt++];
        e->seq = ms_store_sq_col_i64(stmt, 0);
        e->org_id = ms_store_sq_col_text(stmt, 1, a);
        e->sync_id = ms_store_sq_col_text(stmt, 2, a);
        e->exec_id = ms_store_sq_col_text(stmt, 3, a);
        e->status = ms_store_sq_col_text(stmt, 4, a);
        e->at = ms_store_sq_col_i64(stmt, 5);
    }
    ms_store_sq_done(stmt);
    if (st == MS_OK) {
        *out = ev;
        *n = cnt;
    }
    return st;
}

enum ms_status
ms_store_sq_sched_events_prune(struct ms_store *base, int64_t upto_seq, int64_t before,
                               struct ms_error *err)
{
    struct store_sqlite *s = (struct store_sqlite *)base;
    sqlite3_stmt *stmt = NULL;
    struct sq_bind b;
    enum ms_status st =
        ms_store_sq_stmt(s, SQ_SCHED_EVENTS_PRUNE,
                         "DELETE FROM schedule_events WHERE seq <= ?1 AND at < ?2", &stmt, err);

    if (st != MS_OK)
        return st;
    ms_store_sq_bind_init(&b, stmt);
    ms_store_sq_i64(&b, upto_seq);
    ms_store_sq_i64(&b, before);
    return ms_store_sq_run(s, &b, "schedule events prune", err);
}
