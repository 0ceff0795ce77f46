/*
 * test_sched_run.c: the scheduler's passes (src/sched/sched_state.c) and clock (sched.c)
 * against a real SQLite store in a mkdtemp directory; test_sched.c covers cron.c. A pass is
 * given its scheduler time explicitly, which is the fake clock: clock slots fire at their
 * instant and once after missed slots (catch-up), triggers that find the sync running are
 * coalesced into one later run, continuous syncs wait for the gap after a run's end, run-after
 * chains follow terminal executions (success-only respected, other organizations ignored), a
 * changed, paused or manual schedule takes effect, and two schedulers sharing the store fire a
 * slot once. Workers are simulated with exec_claim/exec_finish. Also: next-fire properties of
 * the hourly/daily/weekly frequencies against a brute-force scan, and MODELSYNC_TEST_CLOCK.
 */
#include <criterion/criterion.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <jansson.h>

#include "core/arena.h"
#include "core/log.h"
#include "core/time.h"
#include "core/uuid.h"
#include "model/model.h"
#include "sched/sched_int.h"
#include "store/store.h"

#define SR_NODE "node-test"
#define SR_GAP_MS 60000

static struct {
    char dir[64];
    char path[128];
    char url[160];
    struct ms_store *s;
    struct ms_arena *a;
    struct ms_error err;
    struct ms_sched_clock clock; /* the wall clock: completed_at maps to itself */
    struct ms_sched_run run;
    const char *org, *org2, *conn, *conn2;
    unsigned nsyncs;
    int nudges;
} sr;

static int64_t
sr_t(const char *rfc3339)
{
    int64_t ms = 0;

    cr_assert_eq(ms_time_parse(rfc3339, &ms), MS_OK, "parse %s", rfc3339);
    return ms;
}

static void
sr_decref(void *j)
{
    json_decref(j);
}

static void
sr_nudge(void)
{
    sr.nudges++;
}

static const char *
sr_org(unsigned n)
{
    struct ms_org o = {ms_arena_printf(sr.a, "%08x-0000-4000-8000-%012x", 1u, n), "org", 1};

    cr_assert_eq(ms_store_org_insert(sr.s, &o, &sr.err), MS_OK, "%s", sr.err.msg);
    return o.id;
}

static const char *
sr_conn(const char *org, unsigned n)
{
    struct ms_connection c;

    memset(&c, 0, sizeof(c));
    c.id = ms_arena_printf(sr.a, "%08x-0000-4000-8000-%012x", 2u, n);
    c.org_id = org;
    c.name = ms_arena_printf(sr.a, "conn %u", n);
    c.type = "sqlite";
    c.status = "healthy";
    c.created_at = c.updated_at = 2;
    cr_assert_eq(ms_store_conn_insert(sr.s, &c, &sr.err), MS_OK, "%s", sr.err.msg);
    return c.id;
}

/* The configuration of a sync with this schedule (JSON text). */
static json_t *
sr_config(const char *name, const char *conn, const char *schedule)
{
    json_error_t je;
    json_t *sch = json_loads(schedule, 0, &je), *cfg;

    cr_assert_not_null(sch, "schedule %s: %s", schedule, je.text);
    cfg = json_pack("{s:s, s:s, s:{s:s, s:s}, s:[], s:o}", "name", name, "mode", "create", "target",
                    "connection_id", conn, "object", "t", "fields", "schedule", sch);
    ms_arena_defer(sr.a, sr_decref, cfg);
    return cfg;
}

/* A new active sync of org with this schedule; its id. */
static const char *
sr_sync_in(const char *org, const char *conn, const char *schedule)
{
    struct ms_sync y;
    unsigned n = ++sr.nsyncs;

    memset(&y, 0, sizeof(y));
    y.id = ms_arena_printf(sr.a, "%08x-0000-4000-8000-%012x", 3u, n);
    y.org_id = org;
    y.active = true;
    ms_sync_set_config(&y, sr_config(ms_arena_printf(sr.a, "sync %u", n), conn, schedule));
    y.created_at = y.updated_at = 3;
    cr_assert_eq(ms_store_sync_insert(sr.s, &y, &sr.err), MS_OK, "%s", sr.err.msg);
    return y.id;
}

static const char *
sr_sync(const char *schedule)
{
    return sr_sync_in(sr.org, sr.conn, schedule);
}

static struct ms_sync
sr_get(const char *id)
{
    struct ms_sync y;

    cr_assert_eq(ms_store_sync_get(sr.s, sr.a, sr.org, id, &y, &sr.err), MS_OK, "%s", sr.err.msg);
    return y;
}

static void
sr_set_schedule(const char *id, const char *schedule)
{
    struct ms_sync y = sr_get(id);

    ms_sync_set_config(&y, sr_config(y.name, sr.conn, schedule));
    y.updated_at++;
    cr_assert_eq(ms_store_sync_update(sr.s, &y, &sr.err), MS_OK, "%s", sr.err.msg);
}

static void
sr_set_active(const char *id, bool on)
{
    struct ms_actor by = {0};

    cr_assert_eq(ms_store_sync_set_active(sr.s, sr.org, id, on, 10, &by, &sr.err), MS_OK, "%s",
                 sr.err.msg);
}

/* One pass at scheduler time now; its wake_at. */
static int64_t
sr_tick(int64_t now)
{
    int64_t wake = 0;

    cr_assert_eq(ms_sched_tick(&sr.run, now, &wake, &sr.err), MS_OK, "tick: %s", sr.err.msg);
    return wake;
}

/* The executions of sync id, oldest first (at most 100). */
static size_t
sr_execs(const char *org, const char *id, struct ms_execution **out)
{
    struct ms_exec_cursor cur = {.set = false};
    size_t n = 0;

    cr_assert_eq(ms_store_exec_list(sr.s, sr.a, org, id, false, true, &cur, 100, out, &n, &sr.err),
                 MS_OK, "%s", sr.err.msg);
    return n;
}

static size_t
sr_count(const char *id)
{
    struct ms_execution *ex;

    return sr_execs(sr.org, id, &ex);
}

/* The newest execution of sync id. */
static struct ms_execution
sr_last(const char *id)
{
    struct ms_execution *ex;
    size_t n = sr_execs(sr.org, id, &ex);

    cr_assert_gt(n, 0, "sync %s has executions", id);
    return ex[n - 1];
}

/* A worker runs the sync's queued execution to status, ending at wall time end. */
static void
sr_finish(const char *id, const char *status, int64_t end)
{
    struct ms_execution ex = sr_last(id), got;
    struct ms_counts c = {0};

    cr_assert_str_eq(ex.status, "queued");
    cr_assert_eq(ms_store_exec_claim(sr.s, sr.a, ex.id, SR_NODE, end - 1, 60000, &got, &sr.err),
                 MS_OK, "%s", sr.err.msg);
    cr_assert_eq(ms_store_exec_finish(sr.s, ex.id, SR_NODE, status, &c, NULL, end, &sr.err), MS_OK,
                 "%s", sr.err.msg);
}

/* A manual run of the sync, queued at wall time at. */
static void
sr_manual(const char *id, int64_t at)
{
    struct ms_execution ex;
    char *eid = ms_arena_alloc(sr.a, MS_UUID_LEN + 1);

    memset(&ex, 0, sizeof(ex));
    ms_uuid_new(eid);
    ex.id = eid;
    ex.org_id = sr.org;
    ex.sync_id = id;
    ex.type = "manual";
    ex.status = "queued";
    ex.created_at = at;
    cr_assert_eq(ms_store_exec_insert(sr.s, &ex, &sr.err), MS_OK, "%s", sr.err.msg);
}

static struct ms_sched_state
sr_state(const char *id)
{
    struct ms_sched_state st;

    cr_assert_eq(ms_store_sched_get(sr.s, sr.a, sr.org, id, &st, &sr.err), MS_OK, "%s", sr.err.msg);
    return st;
}

static void
sr_setup(void)
{
    memset(&sr, 0, sizeof(sr));
    ms_log_set_level(MS_LOG_WARN); /* one line per queued execution otherwise */
    snprintf(sr.dir, sizeof(sr.dir), "/tmp/ms-sched-run-XXXXXX");
    cr_assert_not_null(mkdtemp(sr.dir));
    snprintf(sr.path, sizeof(sr.path), "%s/store.db", sr.dir);
    snprintf(sr.url, sizeof(sr.url), "sqlite:%s", sr.path);
    cr_assert_eq(ms_store_open(sr.url, &sr.s, &sr.err), MS_OK, "%s", sr.err.msg);
    cr_assert_eq(ms_store_migrate(sr.s, &sr.err), MS_OK, "%s", sr.err.msg);
    sr.a = ms_arena_new();
    sr.org = sr_org(1);
    sr.org2 = sr_org(2);
    sr.conn = sr_conn(sr.org, 1);
    sr.conn2 = sr_conn(sr.org2, 2);
    sr.clock = (struct ms_sched_clock){.scaled = false, .speed = 1};
    sr.run = (struct ms_sched_run){
        .store = sr.s, .clock = &sr.clock, .gap_ms = SR_GAP_MS, .nudge = sr_nudge};
    cr_assert_eq(ms_sched_run_init(&sr.run, &sr.err), MS_OK, "%s", sr.err.msg);
}

static void
sr_teardown(void)
{
    static const char *const suffixes[] = {"", "-wal", "-shm", "-journal"};
    char p[200];

    ms_store_close(sr.s);
    ms_arena_free(sr.a);
    for (size_t i = 0; i < MS_ARRAY_LEN(suffixes); i++) {
        snprintf(p, sizeof(p), "%s%s", sr.path, suffixes[i]);
        unlink(p);
    }
    rmdir(sr.dir);
}

TestSuite(sched_run, .init = sr_setup, .fini = sr_teardown);

/* ---- clock schedules ---- */

Test(sched_run, hourly_fires_at_its_slots)
{
    const char *id = sr_sync("{\"frequency\": \"hourly\", \"minute\": \"30\"}");
    struct ms_sync y;
    struct ms_execution ex;
    int64_t next = 0;

    cr_expect_eq(sr_tick(sr_t("2030-01-01T00:00:00Z")), sr_t("2030-01-01T00:30:00Z"));
    cr_expect_eq(sr_count(id), 0);
    y = sr_get(id);
    cr_assert_eq(ms_sched_next_run(sr.s, sr.a, &y, &next, &sr.err), MS_OK, "%s", sr.err.msg);
    cr_expect_eq(next, sr_t("2030-01-01T00:30:00Z"), "A12 reads the scheduler's slot");
    cr_expect_eq(sr_tick(sr_t("2030-01-01T00:29:59.999Z")), sr_t("2030-01-01T00:30:00Z"));
    cr_expect_eq(sr_count(id), 0, "not before the slot");
    cr_expect_eq(sr_tick(sr_t("2030-01-01T00:30:00.004Z")), sr_t("2030-01-01T01:30:00Z"));
    cr_assert_eq(sr_count(id), 1, "fired at the slot");
    ex = sr_last(id);
    cr_expect_str_eq(ex.type, "scheduled");
    cr_expect_str_eq(ex.status, "queued");
    cr_expect_eq(ex.created_at, sr_t("2030-01-01T00:30:00.004Z"), "created_at: scheduler time");
    cr_expect_eq(sr.nudges, 1, "the workers were nudged");
    cr_expect_eq(sr.run.fired, 1);
    cr_expect_eq(sr_state(id).next_at, sr_t("2030-01-01T01:30:00Z"));
    cr_expect_str_eq(sr_state(id).last_exec_id, ex.id);
    sr_tick(sr_t("2030-01-01T00:31:00Z"));
    cr_expect_eq(sr_count(id), 1, "a slot fires once");
    sr_finish(id, "completed", sr_t("2030-01-01T00:31:00Z"));
    sr_tick(sr_t("2030-01-01T01:30:00Z"));
    cr_expect_eq(sr_count(id), 2, "the next slot");
}

Test(sched_run, custom_cron_and_weekly)
{
    const char *c = sr_sync("{\"frequency\": \"custom\", \"minute\": \"*/20\", \"hour\": \"9-17\", "
                            "\"day_of_week\": \"mon-fri\"}");
    const char *w = sr_sync("{\"frequency\": \"weekly\", \"day_of_week\": \"monday\", \"hour\": "
                            "\"9\", \"minute\": \"5\"}");

    /* Friday 2030-01-04 17:50: the next custom slot is Monday 09:00 */
    cr_expect_eq(sr_tick(sr_t("2030-01-04T17:50:00Z")), sr_t("2030-01-07T09:00:00Z"));
    cr_expect_eq(sr_state(c).next_at, sr_t("2030-01-07T09:00:00Z"));
    cr_expect_eq(sr_state(w).next_at, sr_t("2030-01-07T09:05:00Z"));
    sr_tick(sr_t("2030-01-07T09:00:00Z"));
    cr_expect_eq(sr_count(c), 1);
    cr_expect_eq(sr_count(w), 0);
    sr_finish(c, "completed", sr_t("2030-01-07T09:01:00Z"));
    cr_expect_eq(sr_tick(sr_t("2030-01-07T09:05:00Z")), sr_t("2030-01-07T09:20:00Z"));
    cr_expect_eq(sr_count(w), 1);
    cr_expect_eq(sr_state(w).next_at, sr_t("2030-01-14T09:05:00Z"));
}

Test(sched_run, catch_up_is_one_run)
{
    const char *id = sr_sync("{\"frequency\": \"hourly\", \"minute\": \"30\"}");

    sr_tick(sr_t("2030-01-01T00:00:00Z"));
    /* no scheduler ran from 00:00 to 05:10: five slots missed */
    cr_expect_eq(sr_tick(sr_t("2030-01-01T05:10:00Z")), sr_t("2030-01-01T05:30:00Z"));
    cr_expect_eq(sr_count(id), 1, "one catch-up run, not one per missed slot");
    cr_expect_eq(sr_last(id).created_at, sr_t("2030-01-01T05:10:00Z"));
    sr_finish(id, "completed", sr_t("2030-01-01T05:11:00Z"));
    sr_tick(sr_t("2030-01-01T05:12:00Z"));
    cr_expect_eq(sr_count(id), 1);
    sr_tick(sr_t("2030-01-01T05:30:00Z"));
    cr_expect_eq(sr_count(id), 2, "then the regular slot");
}

Test(sched_run, coalesces_slots_while_running)
{
    const char *id = sr_sync("{\"frequency\": \"hourly\", \"minute\": \"0\"}");
    struct ms_sched_state st;

    sr_tick(sr_t("2030-01-01T00:30:00Z"));
    sr_tick(sr_t("2030-01-01T01:00:00Z"));
    cr_assert_eq(sr_count(id), 1);
    /* the run is slow: three more slots pass while it is queued or running */
    sr_tick(sr_t("2030-01-01T02:00:00Z"));
    sr_tick(sr_t("2030-01-01T03:00:00Z"));
    sr_tick(sr_t("2030-01-01T04:00:00Z"));
    cr_expect_eq(sr_count(id), 1, "never a second execution while one runs");
    st = sr_state(id);
    cr_expect(st.pending, "the slots left one pending run");
    cr_expect_str_eq(st.pending_type, "scheduled");
    cr_expect_eq(st.next_at, sr_t("2030-01-01T05:00:00Z"));
    sr_finish(id, "completed", sr_t("2030-01-01T04:10:00Z"));
    sr_tick(sr_t("2030-01-01T04:10:00.100Z"));
    cr_expect_eq(sr_count(id), 2, "one run after the slow one");
    cr_expect_str_eq(sr_last(id).type, "scheduled");
    cr_expect_not(sr_state(id).pending);
    sr_finish(id, "completed", sr_t("2030-01-01T04:11:00Z"));
    sr_tick(sr_t("2030-01-01T04:12:00Z"));
    cr_expect_eq(sr_count(id), 2, "and only one");
}

Test(sched_run, manual_run_holds_back_a_slot)
{
    const char *id = sr_sync("{\"frequency\": \"daily\", \"hour\": \"3\", \"minute\": \"0\"}");

    sr_tick(sr_t("2030-02-28T02:00:00Z"));
    sr_manual(id, sr_t("2030-02-28T02:59:00Z"));
    sr_tick(sr_t("2030-02-28T03:00:00Z"));
    cr_expect_eq(sr_count(id), 1, "the manual run blocks the slot");
    cr_expect_eq(sr_state(id).next_at, sr_t("2030-03-01T03:00:00Z"), "across the month end");
    sr_finish(id, "completed", sr_t("2030-02-28T03:02:00Z"));
    sr_tick(sr_t("2030-02-28T03:02:00Z"));
    cr_expect_eq(sr_count(id), 2);
    cr_expect_str_eq(sr_last(id).type, "scheduled", "the coalesced slot runs after it");
}

Test(sched_run, changes_take_effect)
{
    const char *id = sr_sync("{\"frequency\": \"hourly\", \"minute\": \"30\"}");
    struct ms_sync y;
    int64_t next = 0;

    sr_tick(sr_t("2030-01-01T00:00:00Z"));
    sr_set_schedule(id, "{\"frequency\": \"hourly\", \"minute\": \"45\"}");
    y = sr_get(id);
    /* before the scheduler saw the change: the next :45 of this process's clock */
    cr_expect_eq(ms_sched_next_run(sr.s, sr.a, &y, &next, &sr.err), MS_OK);
    cr_expect_eq(next % 3600000, 45 * 60000);
    cr_expect_gt(next, ms_time_now_ms() - 3600000);
    cr_expect_eq(sr_tick(sr_t("2030-01-01T00:10:00Z")), sr_t("2030-01-01T00:45:00Z"));
    sr_tick(sr_t("2030-01-01T00:30:00Z"));
    cr_expect_eq(sr_count(id), 0, "the old slot is gone");
    y = sr_get(id);
    cr_expect_eq(ms_sched_next_run(sr.s, sr.a, &y, &next, &sr.err), MS_OK);
    cr_expect_eq(next, sr_t("2030-01-01T00:45:00Z"));

    sr_set_active(id, false);
    sr_tick(sr_t("2030-01-01T00:40:00Z"));
    cr_expect_eq(ms_store_sched_get(sr.s, sr.a, sr.org, id, &(struct ms_sched_state){0}, NULL),
                 MS_ENOTFOUND, "a paused sync loses its row");
    y = sr_get(id);
    cr_expect_eq(ms_sched_next_run(sr.s, sr.a, &y, &next, NULL), MS_ENOTFOUND);
    sr_tick(sr_t("2030-01-01T03:50:00Z"));
    cr_expect_eq(sr_count(id), 0, "paused: nothing fires");
    sr_set_active(id, true);
    cr_expect_eq(sr_tick(sr_t("2030-01-01T04:00:00Z")), sr_t("2030-01-01T04:45:00Z"));
    cr_expect_eq(sr_count(id), 0, "re-activated: no run for the paused slots");

    sr_set_schedule(id, "{\"frequency\": \"manual\"}");
    cr_expect_eq(sr_tick(sr_t("2030-01-01T04:10:00Z")), MS_SCHED_NEVER);
    cr_expect_eq(ms_store_sched_get(sr.s, sr.a, sr.org, id, &(struct ms_sched_state){0}, NULL),
                 MS_ENOTFOUND, "manual: no row");
    sr_tick(sr_t("2030-01-01T04:45:00Z"));
    cr_expect_eq(sr_count(id), 0);
}

Test(sched_run, a_deleted_sync_is_forgotten)
{
    const char *id = sr_sync("{\"frequency\": \"hourly\", \"minute\": \"30\"}");

    sr_tick(sr_t("2030-01-01T00:00:00Z"));
    cr_assert_eq(ms_store_sync_delete(sr.s, sr.org, id, &sr.err), MS_OK, "%s", sr.err.msg);
    cr_expect_eq(sr_tick(sr_t("2030-01-01T00:30:00Z")), MS_SCHED_NEVER);
    cr_expect_eq(sr.run.fired, 0);
}

/* ---- continuous ---- */

Test(sched_run, continuous_waits_for_the_gap)
{
    const char *id = sr_sync("{\"frequency\": \"continuous\"}");
    int64_t t0 = sr_t("2030-01-01T00:00:00Z"), next = 0;
    struct ms_sync y;

    sr_tick(t0);
    cr_assert_eq(sr_count(id), 1, "the first run starts at once");
    cr_expect_str_eq(sr_last(id).type, "continuous");
    y = sr_get(id);
    cr_expect_eq(ms_sched_next_run(sr.s, sr.a, &y, &next, NULL), MS_ENOTFOUND,
                 "no next time while it runs");
    cr_expect_eq(sr_tick(t0 + 5000), MS_SCHED_NEVER, "running: nothing due");
    cr_expect_eq(sr_count(id), 1);
    sr_finish(id, "completed", t0 + 10000);
    cr_expect_eq(sr_tick(t0 + 10001), t0 + 10000 + SR_GAP_MS, "armed for the end + the gap");
    cr_expect_eq(sr_count(id), 1);
    cr_expect_eq(ms_sched_next_run(sr.s, sr.a, &y, &next, &sr.err), MS_OK);
    cr_expect_eq(next, t0 + 10000 + SR_GAP_MS);
    sr_tick(t0 + 10000 + SR_GAP_MS - 1);
    cr_expect_eq(sr_count(id), 1, "not before the gap");
    sr_tick(t0 + 10000 + SR_GAP_MS);
    cr_expect_eq(sr_count(id), 2, "again after the gap");
    /* a failed run is followed by another one too */
    sr_finish(id, "failed", t0 + 80000);
    sr_tick(t0 + 500000);
    cr_expect_eq(sr_count(id), 3, "overdue: at once");
    cr_expect_eq(sr_last(id).created_at, t0 + 500000);
}

Test(sched_run, continuous_and_a_manual_run)
{
    const char *id = sr_sync("{\"frequency\": \"continuous\"}");
    int64_t t0 = sr_t("2030-01-01T00:00:00Z");

    sr_tick(t0);
    sr_finish(id, "completed", t0 + 1000);
    sr_tick(t0 + 2000); /* armed for t0 + 61 s */
    sr_manual(id, t0 + 3000);
    sr_tick(t0 + 61000);
    cr_expect_eq(sr_count(id), 2, "due while the manual run is queued: nothing more");
    cr_expect_eq(sr_state(id).next_at, 0, "re-armed when it ends");
    sr_finish(id, "completed", t0 + 70000);
    cr_expect_eq(sr_tick(t0 + 70001), t0 + 70000 + SR_GAP_MS);
    sr_tick(t0 + 130000);
    cr_expect_eq(sr_count(id), 3);
    cr_expect_str_eq(sr_last(id).type, "continuous");
}

/* ---- run after ---- */

Test(sched_run, runafter_chain_and_success_only)
{
    const char *a = sr_sync("{\"frequency\": \"manual\"}");
    char sch[256];
    const char *b, *c, *d;
    int64_t t0 = sr_t("2030-01-01T00:00:00Z"), next = 0;
    struct ms_sync y;

    snprintf(sch, sizeof(sch),
             "{\"frequency\": \"runafter\", \"run_after\": {\"sync_ids\": [\"%s\"]}}", a);
    b = sr_sync(sch);
    snprintf(sch, sizeof(sch),
             "{\"frequency\": \"runafter\", \"run_after\": {\"sync_ids\": [\"%s\"]}}", b);
    c = sr_sync(sch);
    snprintf(sch, sizeof(sch),
             "{\"frequency\": \"runafter\", \"run_after\": {\"sync_ids\": [\"%s\"]}, "
             "\"run_after_success_only\": true}",
             a);
    d = sr_sync(sch);
    cr_expect_eq(sr_tick(t0), MS_SCHED_NEVER);
    y = sr_get(b);
    cr_expect_eq(ms_sched_next_run(sr.s, sr.a, &y, &next, NULL), MS_ENOTFOUND, "runafter: none");

    sr_manual(a, t0 + 1000);
    sr_tick(t0 + 1500);
    cr_expect_eq(sr_count(b) + sr_count(c) + sr_count(d), 0, "upstream still running");
    sr_finish(a, "completed", t0 + 2000);
    sr_tick(t0 + 2001);
    cr_expect_eq(sr_count(b), 1, "B after A");
    cr_expect_eq(sr_count(d), 1, "D after A completed");
    cr_expect_eq(sr_count(c), 0, "C waits for B");
    cr_expect_str_eq(sr_last(b).type, "runafter");
    sr_finish(b, "completed", t0 + 3000);
    sr_finish(d, "completed", t0 + 3000);
    sr_tick(t0 + 3001);
    cr_expect_eq(sr_count(c), 1, "C after B");
    cr_expect_eq(sr_count(b), 1);
    sr_finish(c, "completed", t0 + 4000);
    sr_tick(t0 + 4001);
    cr_expect_eq(sr_count(b) + sr_count(c) + sr_count(d), 3, "the chain ends");

    sr_manual(a, t0 + 5000);
    sr_finish(a, "failed", t0 + 6000);
    sr_tick(t0 + 6001);
    cr_expect_eq(sr_count(b), 2, "B runs after A failed");
    cr_expect_eq(sr_count(d), 1, "success only: D does not");
}

Test(sched_run, runafter_coalesces)
{
    const char *a = sr_sync("{\"frequency\": \"manual\"}");
    char sch[256];
    const char *b;
    int64_t t0 = sr_t("2030-01-01T00:00:00Z");

    snprintf(sch, sizeof(sch),
             "{\"frequency\": \"runafter\", \"run_after\": {\"sync_ids\": [\"%s\"]}}", a);
    b = sr_sync(sch);
    sr_tick(t0);
    sr_manual(a, t0 + 1);
    sr_finish(a, "completed", t0 + 2);
    sr_tick(t0 + 3);
    cr_assert_eq(sr_count(b), 1);
    for (int i = 0; i < 3; i++) { /* A runs three more times while B is still queued */
        sr_manual(a, t0 + 10 + i * 10);
        sr_finish(a, "completed", t0 + 15 + i * 10);
        sr_tick(t0 + 16 + i * 10);
    }
    cr_expect_eq(sr_count(b), 1, "never queued twice");
    cr_expect(sr_state(b).pending);
    sr_finish(b, "completed", t0 + 100);
    sr_tick(t0 + 101);
    cr_expect_eq(sr_count(b), 2, "one run for the three triggers");
    sr_finish(b, "completed", t0 + 200);
    sr_tick(t0 + 201);
    cr_expect_eq(sr_count(b), 2);
}

Test(sched_run, runafter_ignores_other_organizations_and_old_events)
{
    const char *a = sr_sync("{\"frequency\": \"manual\"}");
    const char *other = sr_sync_in(sr.org2, sr.conn2, "{\"frequency\": \"manual\"}");
    char sch[256];
    const char *b;
    int64_t t0 = sr_t("2030-01-01T00:00:00Z");
    struct ms_execution ex;

    /* an event from before B existed, applied by an earlier pass */
    sr_manual(a, t0);
    sr_finish(a, "completed", t0 + 1);
    sr_tick(t0 + 2);
    snprintf(sch, sizeof(sch),
             "{\"frequency\": \"runafter\", \"run_after\": {\"sync_ids\": [\"%s\", \"%s\"]}}", a,
             other);
    b = sr_sync(sch);
    sr_tick(t0 + 3);
    cr_expect_eq(sr_count(b), 0, "an upstream run that ended before B existed");
    /* another organization's sync with an id B names (validation prevents it; still no) */
    memset(&ex, 0, sizeof(ex));
    ex = (struct ms_execution){.id = "0000000e-0000-4000-8000-000000000001",
                               .org_id = sr.org2,
                               .sync_id = other,
                               .type = "manual",
                               .status = "queued",
                               .created_at = t0 + 4};
    cr_assert_eq(ms_store_exec_insert(sr.s, &ex, &sr.err), MS_OK, "%s", sr.err.msg);
    cr_assert_eq(ms_store_exec_cancel(sr.s, sr.a, sr.org2, other, NULL, t0 + 5, &ex.id, &sr.err),
                 MS_OK);
    sr_tick(t0 + 6);
    cr_expect_eq(sr_count(b), 0, "not triggered across organizations");
    /* a canceled upstream (any terminal state counts without success-only) */
    sr_manual(a, t0 + 7);
    cr_assert_eq(ms_store_exec_cancel(sr.s, sr.a, sr.org, a, NULL, t0 + 8, &ex.id, &sr.err), MS_OK);
    sr_tick(t0 + 9);
    cr_expect_eq(sr_count(b), 1, "a canceled upstream run triggers it");
}

/* ---- several schedulers on one store ---- */

Test(sched_run, two_schedulers_fire_once)
{
    const char *id = sr_sync("{\"frequency\": \"hourly\", \"minute\": \"0\"}");
    const char *ids[4];
    struct ms_store *s2 = NULL;
    struct ms_sched_run r2;
    int64_t wake = 0;
    struct ms_sched_state st, stale;
    bool won = true;

    cr_assert_eq(ms_store_open(sr.url, &s2, &sr.err), MS_OK, "%s", sr.err.msg);
    r2 = (struct ms_sched_run){.store = s2, .clock = &sr.clock, .gap_ms = SR_GAP_MS};
    for (int i = 0; i < 4; i++)
        ids[i] = sr_sync("{\"frequency\": \"hourly\", \"minute\": \"0\"}");
    sr_tick(sr_t("2030-01-01T00:30:00Z"));
    cr_assert_eq(ms_sched_tick(&r2, sr_t("2030-01-01T00:30:00Z"), &wake, &sr.err), MS_OK);
    cr_assert_eq(ms_sched_tick(&r2, sr_t("2030-01-01T01:00:00Z"), &wake, &sr.err), MS_OK);
    sr_tick(sr_t("2030-01-01T01:00:00Z"));
    cr_expect_eq(sr_count(id), 1, "one node fired the slot");
    for (int i = 0; i < 4; i++)
        cr_expect_eq(sr_count(ids[i]), 1, "sync %d fired once", i);
    cr_expect_eq(r2.fired + sr.run.fired, 5);
    /* a scheduler with a stale row loses the compare-and-set and inserts nothing */
    stale = sr_state(id);
    stale.version--;
    st = stale;
    st.next_at = 1;
    cr_expect_eq(ms_store_sched_cas(s2, stale.version, &st, NULL, 1, &won, &sr.err), MS_OK);
    cr_expect_not(won, "stale version: no write");
    cr_expect_eq(sr_state(id).next_at, sr_t("2030-01-01T02:00:00Z"));
    ms_store_close(s2);
}

Test(sched_run, event_mark_survives_a_restart)
{
    const char *a = sr_sync("{\"frequency\": \"manual\"}");
    char sch[256];
    const char *b;
    struct ms_sched_run again;
    int64_t t0 = sr_t("2030-01-01T00:00:00Z");

    snprintf(sch, sizeof(sch),
             "{\"frequency\": \"runafter\", \"run_after\": {\"sync_ids\": [\"%s\"]}}", a);
    b = sr_sync(sch);
    sr_tick(t0);
    sr_manual(a, t0 + 1);
    sr_finish(a, "completed", t0 + 2);
    sr_tick(t0 + 3);
    sr_finish(b, "completed", t0 + 4);
    sr_tick(t0 + 5);
    cr_assert_eq(sr_count(b), 1);
    /* a new scheduler (a restart) starts from the stored mark: no second run of B */
    again = (struct ms_sched_run){.store = sr.s, .clock = &sr.clock, .gap_ms = SR_GAP_MS};
    cr_assert_eq(ms_sched_run_init(&again, &sr.err), MS_OK);
    cr_expect_eq(again.event_seq, sr.run.event_seq);
    sr.run = again;
    sr_tick(t0 + 6);
    cr_expect_eq(sr_count(b), 1);
    /* an upstream run while no scheduler ran (`modelsync run`) still triggers B */
    sr_manual(a, t0 + 7);
    sr_finish(a, "completed", t0 + 8);
    sr_tick(t0 + 9);
    cr_expect_eq(sr_count(b), 2);
}

/* ---- clock ---- */

Test(sched_clock, test_clock_parse_and_scale)
{
    struct ms_sched_clock k;
    struct ms_error err;
    int64_t wall0 = INT64_C(1700000000000) * 1000000; /* ns */

    cr_assert_eq(sched_clock_parse("2030-01-01T00:00:00Z@600", wall0, &k, &err), MS_OK);
    cr_expect(k.scaled);
    cr_expect_eq(k.start_ms, sr_t("2030-01-01T00:00:00Z"));
    cr_expect_eq(ms_sched_clock_from_wall(&k, 1700000000000), k.start_ms);
    cr_expect_eq(ms_sched_clock_from_wall(&k, 1700000006000), sr_t("2030-01-01T01:00:00Z"),
                 "6 s of wall time is an hour at 600x");
    cr_expect_eq(ms_sched_clock_wall_ns(&k, 3600000), INT64_C(6000000000));
    cr_expect_eq(ms_sched_clock_wall_ns(&k, 1), 1667, "rounded up: never wakes early");
    cr_expect_eq(ms_sched_clock_wall_ns(&k, -5), 0);
    cr_assert_eq(sched_clock_parse("2030-01-01T00:00:00+02:00@0.5", wall0, &k, &err), MS_OK);
    cr_expect_eq(k.start_ms, sr_t("2029-12-31T22:00:00Z"));
    cr_expect_eq(ms_sched_clock_from_wall(&k, 1700000002000), k.start_ms + 1000);
    static const char *const bad[] = {"",
                                      "@600",
                                      "2030-01-01T00:00:00Z",
                                      "2030-01-01T00:00:00Z@",
                                      "2030-01-01T00:00:00Z@0",
                                      "2030-01-01T00:00:00Z@-1",
                                      "2030-01-01T00:00:00Z@2000000",
                                      "2030-13-01T00:00:00Z@1",
                                      "2030-01-01T00:00:00Z@fast",
                                      "2030-01-01T00:00:00Z@1x",
                                      "2030-01-01T00:00:00Z@nan"};
    for (size_t i = 0; i < MS_ARRAY_LEN(bad); i++)
        cr_expect_eq(sched_clock_parse(bad[i], wall0, &k, &err), MS_EINVAL, "\"%s\"", bad[i]);
}

Test(sched_clock, wall_clock_is_identity)
{
    struct ms_sched_clock k = {.scaled = false, .speed = 1};
    int64_t before = ms_time_now_ms(), now = ms_sched_clock_now(&k);

    cr_expect_geq(now, before);
    cr_expect_leq(now, ms_time_now_ms());
    cr_expect_eq(ms_sched_clock_from_wall(&k, 12345), 12345);
    cr_expect_eq(ms_sched_clock_wall_ns(&k, 1500), INT64_C(1500000000));
}

/* ---- next fire time of the single-value frequencies ---- */

static unsigned sr_seed;

/* The first minute after t (ms, UTC) matching the frequency, found minute by minute. */
static int64_t
sr_brute(const char *freq, int dow, int hour, int minute, int64_t t)
{
    int64_t m = (t >= 0 ? t / 60000 : (t - 59999) / 60000) + 1;

    for (;; m++) {
        time_t s = (time_t)(m * 60);
        struct tm tm;

        gmtime_r(&s, &tm);
        if (tm.tm_min != minute)
            continue;
        if (strcmp(freq, "hourly") == 0 ||
            (tm.tm_hour == hour && (strcmp(freq, "daily") == 0 || tm.tm_wday == dow)))
            return m * 60000;
    }
}

Test(sched_clock, frequencies_match_brute_force, .timeout = 60)
{
    static const char *const freqs[] = {"hourly", "daily", "weekly"};
    static const char *const days[] = {"sunday", "Monday", "TUESDAY", "wed", "thu", "Fri", "sat"};

    sr_seed = 20280229;
    for (int round = 0; round < 300; round++) {
        const char *f = freqs[rand_r(&sr_seed) % 3];
        int dow = (int)(rand_r(&sr_seed) % 7), hour = (int)(rand_r(&sr_seed) % 24),
            minute = (int)(rand_r(&sr_seed) % 60);
        /* any millisecond from 1999 to 2101: centuries, leap days and year ends */
        int64_t t = INT64_C(915148800000) +
                    (int64_t)(((uint64_t)rand_r(&sr_seed) << 20 ^ (uint64_t)rand_r(&sr_seed)) %
                              UINT64_C(3218832000000));
        char h[8], mi[8];
        json_t *s;
        int64_t next = 0;

        snprintf(h, sizeof(h), "%d", hour);
        snprintf(mi, sizeof(mi), "%02d", minute);
        s = json_pack("{s:s, s:s, s:s, s:s}", "frequency", f, "minute", mi, "hour", h,
                      "day_of_week", days[dow]);
        cr_assert_eq(ms_sched_next(s, t, &next), MS_OK);
        cr_expect_gt(next, t, "next(t) > t");
        cr_expect_eq(next % 60000, 0);
        cr_expect_eq(next, sr_brute(f, dow, hour, minute, t), "%s %s %s:%s after %lld", f,
                     days[dow], h, mi, (long long)t);
        json_decref(s);
    }
}

Test(sched_clock, leap_days_and_year_ends)
{
    static const struct {
        const char *sched, *after, *want;
    } cases[] = {
        {"{\"frequency\":\"daily\",\"hour\":\"0\",\"minute\":\"0\"}", "2028-02-28T00:00:00Z",
         "2028-02-29T00:00:00.000Z"},
        {"{\"frequency\":\"daily\",\"hour\":\"0\",\"minute\":\"0\"}", "2100-02-28T00:00:00Z",
         "2100-03-01T00:00:00.000Z"},
        {"{\"frequency\":\"hourly\",\"minute\":\"59\"}", "2029-12-31T23:59:00Z",
         "2030-01-01T00:59:00.000Z"},
        {"{\"frequency\":\"weekly\",\"day_of_week\":\"tuesday\",\"hour\":\"23\",\"minute\":\"59\"}",
         "2030-12-31T23:59:00Z", "2031-01-07T23:59:00.000Z"},
        {"{\"frequency\":\"builder\",\"minute\":\"0\",\"hour\":\"12\",\"day_of_month\":\"29\","
         "\"month\":\"2\"}",
         "2096-02-29T12:00:00Z", "2104-02-29T12:00:00.000Z"},
        {"{\"frequency\":\"custom\",\"minute\":\"0\",\"hour\":\"0\",\"day_of_month\":\"31\"}",
         "2030-01-31T00:00:00Z", "2030-03-31T00:00:00.000Z"},
    };

    for (size_t i = 0; i < MS_ARRAY_LEN(cases); i++) {
        json_t *s = json_loads(cases[i].sched, 0, NULL);
        int64_t next = 0;
        char got[MS_TIME_LEN];

        cr_assert_not_null(s);
        cr_assert_eq(ms_sched_next(s, sr_t(cases[i].after), &next), MS_OK, "%s", cases[i].sched);
        ms_time_format(next, got);
        cr_expect_str_eq(got, cases[i].want, "%s after %s", cases[i].sched, cases[i].after);
        json_decref(s);
    }
}

Test(sched_clock, kinds_and_fingerprints)
{
    struct ms_arena *a = ms_arena_new();
    json_t *x = json_loads("{\"minute\":\"5\",\"frequency\":\"hourly\"}", 0, NULL);
    json_t *y = json_loads("{\"frequency\":\"hourly\",\"minute\":\"5\"}", 0, NULL);
    static const struct {
        const char *f;
        enum ms_sched_kind k;
    } kinds[] = {{"manual", MS_SCHED_NONE},           {"hourly", MS_SCHED_CLOCK},
                 {"daily", MS_SCHED_CLOCK},           {"weekly", MS_SCHED_CLOCK},
                 {"custom", MS_SCHED_CLOCK},          {"builder", MS_SCHED_CLOCK},
                 {"continuous", MS_SCHED_CONTINUOUS}, {"runafter", MS_SCHED_RUNAFTER},
                 {"dbtcloud", MS_SCHED_NONE},         {"multi", MS_SCHED_NONE}};

    cr_expect_str_eq(ms_sched_fingerprint(a, x), ms_sched_fingerprint(a, y),
                     "member order does not matter");
    cr_expect_str_eq(ms_sched_fingerprint(a, NULL), "");
    for (size_t i = 0; i < MS_ARRAY_LEN(kinds); i++) {
        json_t *s = json_pack("{s:s}", "frequency", kinds[i].f);

        cr_expect_eq(ms_sched_kind_of(s), kinds[i].k, "%s", kinds[i].f);
        json_decref(s);
    }
    cr_expect_eq(ms_sched_kind_of(NULL), MS_SCHED_NONE);
    cr_expect_null(ms_sched_kind_name(MS_SCHED_NONE));
    json_decref(x);
    json_decref(y);
    ms_arena_free(a);
}
