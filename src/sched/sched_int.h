/*
 * sched_int.h: what the files of src/sched/ share and the unit tests reach (MS_STATIC functions
 * of cron.c, the scheduler's clock and its pass over the store); nothing outside src/sched/
 * includes it.
 */
#ifndef MS_SCHED_SCHED_INT_H
#define MS_SCHED_SCHED_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "core/error.h"
#include "sched/sched.h"
#include "store/store.h"

#define MS_SCHED_EVENTS_MAX 256 /* events read per pass; a full batch means another pass */
#define MS_SCHED_PAGE 500       /* syncs read per store call */
#define MS_SCHED_NEVER INT64_MAX

/*
 * The scheduler's clock: the wall clock, or in test builds the scaled clock of
 * MODELSYNC_TEST_CLOCK="<RFC 3339 start>@<speed>": start + (wall time since the process read
 * it) x speed. Only the scheduler reads it: its slots, its executions' created_at and the
 * continuous gap; everything else stays on the wall clock.
 */
struct ms_sched_clock {
    bool scaled;      /* false: the wall clock */
    int64_t start_ms; /* scheduler time at wall0_ns */
    int64_t wall0_ns; /* CLOCK_REALTIME when the clock was read */
    double speed;     /* scheduler time per wall time, > 0 */
};

/* The process's clock, read from the environment on first use (test builds only; the wall clock
 * otherwise). *bad (may be NULL) gets why MODELSYNC_TEST_CLOCK was refused, "" if it was not. */
const struct ms_sched_clock *ms_sched_clock_get(const char **bad);
/* Scheduler time (ms) now, and of a wall-clock instant (ms). */
int64_t ms_sched_clock_now(const struct ms_sched_clock *k);
int64_t ms_sched_clock_from_wall(const struct ms_sched_clock *k, int64_t wall_ms);
/* Wall nanoseconds until scheduler time advances by delta_ms (0 when delta_ms <= 0). */
int64_t ms_sched_clock_wall_ns(const struct ms_sched_clock *k, int64_t delta_ms);

/* What a schedule makes the scheduler do, by frequency. */
enum ms_sched_kind {
    MS_SCHED_NONE,       /* manual (or absent, or unknown): never by itself */
    MS_SCHED_CLOCK,      /* hourly, daily, weekly, custom, builder */
    MS_SCHED_CONTINUOUS, /* again once the previous run ended, after the minimum gap */
    MS_SCHED_RUNAFTER,   /* when an upstream sync's execution ends */
};
enum ms_sched_kind ms_sched_kind_of(const json_t *schedule);
/* The kind's name in schedule_state.kind; NULL for MS_SCHED_NONE. */
const char *ms_sched_kind_name(enum ms_sched_kind k);
/* The schedule as compact JSON with sorted keys, in a: what schedule_state.schedule holds. */
const char *ms_sched_fingerprint(struct ms_arena *a, const json_t *schedule);

/*
 * One scheduler's working state between passes. Owned by the thread that runs the passes; the
 * store handle is that thread's.
 */
struct ms_sched_run {
    struct ms_store *store;             /* borrowed */
    const struct ms_sched_clock *clock; /* borrowed */
    int64_t gap_ms;                     /* continuous: least time from a run's end to the next */
    int64_t event_seq;                  /* events up to this seq have been applied */
    int64_t fired;                      /* executions queued so far */
    void (*nudge)(void);                /* after an execution was queued; may be NULL */
};

/* Load r->event_seq from the store (the mark a previous scheduler kept); r->store set. */
enum ms_status ms_sched_run_init(struct ms_sched_run *r, struct ms_error *err);

/*
 * One pass at scheduler time now: drop the rows of syncs no longer scheduled, read the new
 * events, and for every active scheduled sync create or recompute its row, apply the events
 * (run-after triggers), fire what is due (clock slots, armed continuous syncs, coalesced
 * triggers once the sync is idle) and arm continuous syncs whose run ended. *wake_at gets the
 * earliest scheduler time something is due next (MS_SCHED_NEVER when nothing is, now when
 * another pass should follow at once).
 */
enum ms_status ms_sched_tick(struct ms_sched_run *r, int64_t now, int64_t *wake_at,
                             struct ms_error *err);

#ifdef MS_TESTING
/*
 * One numeric cron field ("*", "5", "1,2", "1-10/2", "*\/15", "5/15") over lo..hi (hi <= 63)
 * into *mask (bit v = value v). MS_EINVAL on syntax errors, values out of range, a reversed
 * range or a zero step.
 */
enum ms_status sched_field_parse(const char *s, int lo, int hi, uint64_t *mask,
                                 struct ms_error *err);
/* A day-of-week field: numbers 0..7 (7 = Sunday) or names, any case; *mask has bits 0..6. */
enum ms_status sched_dow_parse(const char *s, uint64_t *mask, struct ms_error *err);
/* Days since 1970-01-01 of a proleptic Gregorian date, and back. */
int64_t sched_days_from_civil(int64_t y, int m, int d);
void sched_civil_from_days(int64_t days, int64_t *y, int *m, int *d);
/* Parse MODELSYNC_TEST_CLOCK's value into *out with wall0_ns = wall_ns. MS_EINVAL: malformed,
 * or a speed outside (0, 1e6]. */
enum ms_status sched_clock_parse(const char *spec, int64_t wall_ns, struct ms_sched_clock *out,
                                 struct ms_error *err);
#endif

#endif
