/*
 * sched_state.c: one scheduler pass (sched_int.h ms_sched_tick) over the store's
 * schedule_state. For each active sync whose schedule is not manual, the pass computes the
 * row it wants from the stored row, the sync's schedule, whether the sync has a non-terminal
 * execution and the new terminal-execution events, then writes it with a compare-and-set on
 * the row's version, inserting the execution in the same transaction when something fires.
 * Only the scheduler whose write changes the row fires, so any number of nodes may run passes
 * on one store.
 *
 * The rules: a clock row fires when next_at has come and moves next_at to the first slot after
 * now, so slots missed while no scheduler ran give one catch-up run, not one per slot; a
 * continuous row is armed (next_at = end of its last run + gap) when the sync is idle and fires
 * when that time comes; a runafter row becomes pending when an event of an upstream sync (of its
 * organization; completed only, with run_after_success_only) is newer than its trigger_seq. A
 * trigger that finds the sync running becomes pending (one flag, so never more than one run
 * afterwards), and a pending row fires once the sync is idle. Runs on the scheduler thread (and
 * unit tests), with that thread's store handle.
 */
#include "sched/sched_int.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/arena.h"
#include "core/log.h"
#include "core/time.h"
#include "core/uuid.h"

#define SCHED_META_SEQ "sched_event_seq"    /* meta key: the event high-water mark */
#define SCHED_EVENT_KEEP_MS (3600LL * 1000) /* applied events are kept this long */
#define SCHED_CAS_TRIES 3                   /* writes of one row per pass before leaving it */

static const struct {
    const char *freq;
    enum ms_sched_kind kind;
} sched_kinds[] = {
    {"hourly", MS_SCHED_CLOCK},      {"daily", MS_SCHED_CLOCK},
    {"weekly", MS_SCHED_CLOCK},      {"custom", MS_SCHED_CLOCK},
    {"builder", MS_SCHED_CLOCK},     {"continuous", MS_SCHED_CONTINUOUS},
    {"runafter", MS_SCHED_RUNAFTER},
};

enum ms_sched_kind
ms_sched_kind_of(const json_t *schedule)
{
    const char *f = json_string_value(json_object_get(schedule, "frequency"));

    for (size_t i = 0; f != NULL && i < MS_ARRAY_LEN(sched_kinds); i++)
        if (strcmp(f, sched_kinds[i].freq) == 0)
            return sched_kinds[i].kind;
    return MS_SCHED_NONE;
}

const char *
ms_sched_kind_name(enum ms_sched_kind k)
{
    switch (k) {
    case MS_SCHED_CLOCK:
        return "clock";
    case MS_SCHED_CONTINUOUS:
        return "continuous";
    case MS_SCHED_RUNAFTER:
        return "runafter";
    case MS_SCHED_NONE:
        break;
    }
    return NULL;
}

const char *
ms_sched_fingerprint(struct ms_arena *a, const json_t *schedule)
{
    char *text = schedule != NULL ? json_dumps(schedule, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
    const char *out = ms_arena_strdup(a, text != NULL ? text : "");

    free(text);
    return out;
}

/* ---- deciding one sync ---- */

/* What a pass knows while it looks at one sync. */
struct sched_view {
    struct ms_sched_run *r;
    struct ms_arena *a;              /* the current page's arena */
    const struct ms_sched_event *ev; /* this pass's events, oldest first */
    size_t nev;
    json_t *options; /* the options of every execution the scheduler creates */
    int64_t now;     /* scheduler time of the pass */
    int64_t wake_at; /* earliest next_at seen */
};

static bool
sched_str_eq(const char *a, const char *b)
{
    return a == b || (a != NULL && b != NULL && strcmp(a, b) == 0);
}

/* Was the row made for another schedule (or is there none)? Then it is recomputed. */
static bool
sched_stale(const struct ms_sched_state *cur, enum ms_sched_kind kind, const char *fp)
{
    return cur->version == 0 || !sched_str_eq(cur->kind, ms_sched_kind_name(kind)) ||
           !sched_str_eq(cur->schedule, fp);
}

static bool
sched_same(const struct ms_sched_state *a, const struct ms_sched_state *b)
{
    return sched_str_eq(a->kind, b->kind) && sched_str_eq(a->schedule, b->schedule) &&
           a->next_at == b->next_at && a->pending == b->pending &&
           (!a->pending || sched_str_eq(a->pending_type, b->pending_type)) &&
           a->trigger_seq == b->trigger_seq && a->last_fired_at == b->last_fired_at &&
           sched_str_eq(a->last_exec_id, b->last_exec_id);
}

/* The first clock slot after now; 0 when the schedule never fires (within the horizon). */
static int64_t
sched_slot_after(const json_t *schedule, int64_t now)
{
    int64_t next = 0;

    return ms_sched_next(schedule, now, &next) == MS_OK ? next : 0;
}

/* Does schedule.run_after.sync_ids name id? */
static bool
sched_runs_after(const json_t *schedule, const char *id)
{
    json_t *ids = json_object_get(json_object_get(schedule, "run_after"), "sync_ids"), *v;
    size_t i;

    json_array_foreach(ids, i, v)
    {
        if (sched_str_eq(json_string_value(v), id))
            return true;
    }
    return false;
}

/* Run-after: the events newer than the row that come from an upstream sync make it pending. */
static void
sched_apply_events(const struct sched_view *v, const struct ms_sched_sync *y,
                   struct ms_sched_state *n)
{
    bool success_only = json_is_true(json_object_get(y->schedule, "run_after_success_only"));

    for (size_t i = 0; i < v->nev; i++) {
        const struct ms_sched_event *e = &v->ev[i];

        if (e->seq <= n->trigger_seq || !sched_str_eq(e->org_id, y->org_id) ||
            !sched_runs_after(y->schedule, e->sync_id))
            continue;
        if (success_only && !sched_str_eq(e->status, "completed"))
            continue;
        n->pending = true;
        n->pending_type = "runafter";
        n->trigger_seq = e->seq;
    }
}

/* Fire what is due in n (at v->now): the execution type to create, or NULL. */
static const char *
sched_fire(const struct sched_view *v, const struct ms_sched_sync *y, enum ms_sched_kind kind,
           bool running, struct ms_sched_state *n)
{
    bool due = n->next_at != 0 && n->next_at <= v->now;
    const char *type = NULL;

    if (kind == MS_SCHED_CLOCK && due) {
        n->next_at = sched_slot_after(y->schedule, v->now); /* missed slots: one run */
        if (running) {
            n->pending = true; /* coalesced: one run once the current one ends */
            n->pending_type = "scheduled";
        } else {
            type = "scheduled";
        }
    } else if (kind == MS_SCHED_CONTINUOUS && due) {
        n->next_at = 0; /* while running: re-armed when that run ends */
        if (!running)
            type = "continuous";
    }
    if (type == NULL && n->pending && !running)
        type = n->pending_type != NULL ? n->pending_type : "scheduled";
    if (type != NULL) {
        n->pending = false;
        n->pending_type = NULL;
        n->last_fired_at = v->now;
    }
    return type;
}

/*
 * The row y should have at v->now in *n, and the execution type to fire (NULL: none). arm_at:
 * when an idle continuous sync that is not armed may run again.
 */
static const char *
sched_decide(const struct sched_view *v, const struct ms_sched_sync *y, enum ms_sched_kind kind,
             const char *fp, bool running, int64_t arm_at, struct ms_sched_state *n)
{
    *n = y->state;
    n->sync_id = y->sync_id;
    n->org_id = y->org_id;
    if (sched_stale(&y->state, kind, fp)) {
        n->kind = ms_sched_kind_name(kind);
        n->schedule = fp;
        n->pending = false;
        n->pending_type = NULL;
        n->next_at = kind == MS_SCHED_CLOCK ? sched_slot_after(y->schedule, v->now) : 0;
        /* events applied before this pass predate the schedule; this pass's do count */
        if (n->trigger_seq < v->r->event_seq)
            n->trigger_seq = v->r->event_seq;
    }
    if (kind == MS_SCHED_RUNAFTER)
        sched_apply_events(v, y, n);
    if (kind == MS_SCHED_CONTINUOUS && n->next_at == 0 && !running)
        n->next_at = arm_at;
    return sched_fire(v, y, kind, running, n);
}

/* ---- writing one sync ---- */

/* When an idle continuous sync may run again: its last run's end + the gap, not before now. */
static enum ms_status
sched_arm_at(const struct sched_view *v, const struct ms_sched_sync *y, int64_t *arm_at,
             struct ms_error *err)
{
    struct ms_execution last;
    int64_t at = v->now;
    enum ms_status st = ms_store_exec_last(v->r->store, v->a, y->org_id, y->sync_id, &last, err);

    if (st == MS_ENOTFOUND)
        ms_error_clear(err);
    else if (st != MS_OK)
        return st;
    else if (last.completed_at != 0)
        at = ms_sched_clock_from_wall(v->r->clock, last.completed_at) + v->r->gap_ms;
    *arm_at = at > v->now ? at : v->now;
    return MS_OK;
}

static void
sched_queued(struct sched_view *v, const struct ms_execution *ex)
{
    v->r->fired++;
    ms_log(MS_LOG_INFO, "execution queued by the scheduler", "sync", ex->sync_id, "execution",
           ex->id, "type", ex->type, (char *)NULL);
    if (v->r->nudge != NULL)
        v->r->nudge();
}

/*
 * Decide and write y's row once. *won: the row now says what was decided (written, or already
 * so). An execution that fails to insert because one is running (the list was read before it
 * started) is decided again as running, which coalesces the trigger.
 */
static enum ms_status
sched_try(struct sched_view *v, struct ms_sched_sync *y, enum ms_sched_kind kind, const char *fp,
          bool *won, struct ms_error *err)
{
    char id[MS_UUID_LEN + 1];
    bool running = y->running, wrote = false;
    struct ms_sched_state n;
    struct ms_execution ex;
    const char *type;
    int64_t arm_at = v->now;
    enum ms_status st;

    for (;;) {
        if (kind == MS_SCHED_CONTINUOUS && !running &&
            (sched_stale(&y->state, kind, fp) || y->state.next_at == 0) &&
            (st = sched_arm_at(v, y, &arm_at, err)) != MS_OK)
            return st;
        type = sched_decide(v, y, kind, fp, running, arm_at, &n);
        if (type == NULL && !sched_stale(&y->state, kind, fp) && sched_same(&y->state, &n)) {
            *won = true;
            break;
        }
        memset(&ex, 0, sizeof(ex));
        if (type != NULL) {
            ms_uuid_new(id);
            ex = (struct ms_execution){.id = id,
                                       .org_id = y->org_id,
                                       .sync_id = y->sync_id,
                                       .type = type,
                                       .status = "queued",
                                       .options = v->options,
                                       .created_at = v->now};
            n.last_exec_id = id;
        }
        st = ms_store_sched_cas(v->r->store, y->state.version, &n, type != NULL ? &ex : NULL,
                                ms_time_now_ms(), won, err);
        if (st == MS_ECONFLICT && type != NULL && !running) {
            ms_error_clear(err);
            running = true;
            continue;
        }
        if (st == MS_ENOTFOUND) { /* the sync was deleted meanwhile */
            ms_error_clear(err);
            *won = true;
            return MS_OK;
        }
        if (st != MS_OK || !*won)
            return st;
        if (type != NULL)
            sched_queued(v, &ex);
        wrote = true;
        break;
    }
    if (n.next_at != 0 && n.next_at < v->wake_at)
        v->wake_at = n.next_at;
    if (wrote) {
        n.last_exec_id = n.last_exec_id != NULL ? ms_arena_strdup(v->a, n.last_exec_id) : NULL;
        n.version = y->state.version + 1;
        y->state = n;
    }
    return MS_OK;
}

/* Read y's row again after another scheduler changed it. */
static enum ms_status
sched_reload(struct sched_view *v, struct ms_sched_sync *y, struct ms_error *err)
{
    enum ms_status st =
        ms_store_sched_get(v->r->store, v->a, y->org_id, y->sync_id, &y->state, err);

    if (st == MS_ENOTFOUND) {
        ms_error_clear(err);
        memset(&y->state, 0, sizeof(y->state));
        return MS_OK;
    }
    return st;
}

static enum ms_status
sched_sync(struct sched_view *v, struct ms_sched_sync *y, struct ms_error *err)
{
    enum ms_sched_kind kind = ms_sched_kind_of(y->schedule);
    const char *fp;
    bool won = false;
    enum ms_status st = MS_OK;

    if (kind == MS_SCHED_NONE)
        return MS_OK;
    fp = ms_sched_fingerprint(v->a, y->schedule);
    for (int i = 0; i < SCHED_CAS_TRIES && st == MS_OK; i++) {
        if ((st = sched_try(v, y, kind, fp, &won, err)) != MS_OK || won)
            break;
        st = sched_reload(v, y, err); /* lost the race: another scheduler decided meanwhile */
    }
    return st;
}

/* ---- the pass ---- */

static enum ms_status
sched_pages(struct sched_view *v, struct ms_error *err)
{
    char after[MS_UUID_LEN + 1] = "";
    struct ms_sched_sync *rows = NULL;
    size_t n = 0;
    enum ms_status st;

    do {
        v->a = ms_arena_new();
        st = ms_store_sched_list(v->r->store, v->a, after[0] != '\0' ? after : NULL, MS_SCHED_PAGE,
                                 &rows, &n, err);
        for (size_t i = 0; st == MS_OK && i < n; i++)
            st = sched_sync(v, &rows[i], err);
        if (st == MS_OK && n > 0)
            snprintf(after, sizeof(after), "%s", rows[n - 1].sync_id);
        ms_arena_free(v->a);
        v->a = NULL;
    } while (st == MS_OK && n == MS_SCHED_PAGE);
    return st;
}

/* Events up to seq are applied: keep the mark (for the next start) and drop old events. */
static enum ms_status
sched_advance(struct ms_sched_run *r, int64_t seq, struct ms_error *err)
{
    char buf[24];
    enum ms_status st;

    snprintf(buf, sizeof(buf), "%" PRId64, seq);
    if ((st = ms_store_tx_begin(r->store, err)) != MS_OK)
        return st;
    st = ms_store_meta_set(r->store, SCHED_META_SEQ, buf, err);
    if (st == MS_OK)
        st =
            ms_store_sched_events_prune(r->store, seq, ms_time_now_ms() - SCHED_EVENT_KEEP_MS, err);
    if (st != MS_OK) {
        ms_store_tx_rollback(r->store);
        return st;
    }
    st = ms_store_tx_commit(r->store, err);
    if (st == MS_OK)
        r->event_seq = seq;
    return st;
}

enum ms_status
ms_sched_run_init(struct ms_sched_run *r, struct ms_error *err)
{
    struct ms_arena *a = ms_arena_new();
    const char *v = NULL;
    enum ms_status st = ms_store_meta_get(r->store, a, SCHED_META_SEQ, &v, err);

    r->event_seq = 0;
    if (st == MS_OK)
        r->event_seq = strtoll(v, NULL, 10);
    else if (st == MS_ENOTFOUND)
        ms_error_clear(err);
    ms_arena_free(a);
    return st == MS_ENOTFOUND ? MS_OK : st;
}

enum ms_status
ms_sched_tick(struct ms_sched_run *r, int64_t now, int64_t *wake_at, struct ms_error *err)
{
    struct ms_arena *a = ms_arena_new();
    struct ms_sched_event *ev = NULL;
    struct sched_view v = {.r = r, .now = now, .wake_at = MS_SCHED_NEVER};
    int64_t pruned = 0;
    enum ms_status st;

    v.options = json_pack("{s:b, s:b}", "resync", 0, "test", 0);
    st = ms_store_sched_prune(r->store, &pruned, err);
    if (st == MS_OK)
        st =
            ms_store_sched_events(r->store, a, r->event_seq, MS_SCHED_EVENTS_MAX, &ev, &v.nev, err);
    v.ev = ev;
    if (st == MS_OK)
        st = sched_pages(&v, err);
    if (st == MS_OK && v.nev > 0)
        st = sched_advance(r, ev[v.nev - 1].seq, err);
    if (st == MS_OK)
        *wake_at = v.nev == MS_SCHED_EVENTS_MAX ? now : v.wake_at;
    json_decref(v.options);
    ms_arena_free(a);
    return st;
}
