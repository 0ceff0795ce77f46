/*
 * sched.h: schedules to fire times, and the scheduler thread of `modelsync serve`. A stored
 * Schedule (API.md §3.8) whose frequency runs by the clock (hourly, daily, weekly, custom,
 * builder) compiles to a struct ms_cron of bitmasks; the next fire time is then a few mask
 * lookups per month, in UTC (DECISIONS.md D16). Those are pure functions: any thread may call
 * them. The scheduler ("sched" thread, sched.c) queues the executions of active syncs when
 * their clock slot comes, when an upstream sync's execution ends (runafter) and when their
 * previous run ended (continuous), coordinating through the store's schedule_state so several
 * nodes may run it (docs/schedules.md).
 */
#ifndef MS_SCHED_SCHED_H
#define MS_SCHED_SCHED_H

#include <stdbool.h>
#include <stdint.h>
#include <jansson.h>
#include "core/config.h"
#include "core/error.h"

#define MS_CRON_FIELD_MAX 128 /* characters of one schedule field; longer → MS_EINVAL */
#define MS_CRON_HORIZON_Y 30  /* years searched for the next fire time */

/* A compiled clock schedule: bit v set = value v allowed. */
struct ms_cron {
    uint64_t minute; /* bits 0..59 */
    uint32_t hour;   /* bits 0..23 */
    uint32_t dom;    /* bits 1..31 */
    uint16_t month;  /* bits 1..12 */
    uint8_t dow;     /* bits 0..6, 0 = Sunday */
    bool dom_any;    /* day_of_month unrestricted (starts with '*'): cron's day rule, below */
    bool dow_any;    /* day_of_week unrestricted */
};

/*
 * Compile a schedule object: hourly uses minute; daily hour and minute; weekly day_of_week,
 * hour and minute (each a single value); custom and builder use the five members as cron fields
 * (`*`, lists, ranges, steps; day names sun..sat / sunday..saturday in any case, 7 = Sunday), a
 * missing member meaning `*`. When both day fields are restricted a day matches either (cron's
 * OR rule), otherwise both. MS_EINVAL naming the member ("schedule.minute") on a bad value or
 * an unknown frequency; MS_ENOTFOUND when the frequency does not run by the clock (manual,
 * continuous, runafter, and an absent frequency, which means manual).
 */
enum ms_status ms_sched_compile(const json_t *schedule, struct ms_cron *out, struct ms_error *err);

/*
 * Check the clock members of a normalized schedule: MS_OK for frequencies that do not run by
 * the clock, otherwise ms_sched_compile()'s errors, and MS_EINVAL naming schedule.day_of_month
 * when the day and month fields can never meet (a 30th of February).
 */
enum ms_status ms_sched_validate(const json_t *schedule, struct ms_error *err);

/*
 * The first minute strictly after after_ms (UTC, seconds zero) that c allows, in *next_ms.
 * MS_ENOTFOUND when none falls within MS_CRON_HORIZON_Y years.
 */
enum ms_status ms_cron_next(const struct ms_cron *c, int64_t after_ms, int64_t *next_ms);

/*
 * ms_sched_compile() then ms_cron_next(): MS_ENOTFOUND when the schedule has no clock time
 * (manual, continuous, runafter) or never fires, MS_EINVAL when it does not compile.
 */
enum ms_status ms_sched_next(const json_t *schedule, int64_t after_ms, int64_t *next_ms);

struct ms_arena;
struct ms_store;
struct ms_sync;
struct ms_sched;

/*
 * Start the scheduler thread ("sched"): it opens its own store handle on cfg->store_url and
 * fires the executions of active syncs (types scheduled, runafter, continuous), sleeping until
 * the next due instant, a wake-up, or 30 s (changes made by other processes). cfg must outlive
 * it. MS_EINVAL when MODELSYNC_TEST_CLOCK is malformed (test builds), or the store's status
 * when it cannot be opened. Main thread, once, after the workers started.
 */
enum ms_status ms_sched_start(const struct ms_config *cfg, struct ms_sched **out,
                              struct ms_error *err);

/* Stop the thread (it finishes its current pass), join it and free s. NULL is a no-op. */
void ms_sched_stop(struct ms_sched *s);

/*
 * Data-free nudge: a sync was created, changed, (de)activated or deleted, or an execution
 * ended; look now rather than at the next due instant. Any thread; harmless without a
 * scheduler.
 */
void ms_sched_wake(void);

/* Called after the scheduler queued an execution (the workers' nudge); NULL for none. Set it
 * before ms_sched_start. */
void ms_sched_on_queue(void (*nudge)(void));

/*
 * The instant (UTC ms) the scheduler will fire sync y next by itself, for A12's
 * next_execution_time: the scheduler's row in the store when it was made from y's current
 * schedule, otherwise the next clock slot after the scheduler's now. MS_ENOTFOUND when there is
 * none: y inactive, manual or runafter, or continuous while a run is in progress. Reads through
 * store (the calling thread's handle); strings it reads are allocated in a.
 */
enum ms_status ms_sched_next_run(struct ms_store *store, struct ms_arena *a,
                                 const struct ms_sync *y, int64_t *next_ms, struct ms_error *err);

#endif
