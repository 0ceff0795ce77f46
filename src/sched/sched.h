/*
 * sched.h: schedules to fire times. A stored Schedule (API.md §3.8) whose frequency runs by the
 * clock (hourly, daily, weekly, custom, builder) compiles to a struct ms_cron of bitmasks; the
 * next fire time is then a few mask lookups per month, in UTC (DECISIONS.md D16). Pure
 * functions without I/O or shared state: any thread may call them.
 */
#ifndef MS_SCHED_SCHED_H
#define MS_SCHED_SCHED_H

#include <stdbool.h>
#include <stdint.h>
#include <jansson.h>
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

#endif
