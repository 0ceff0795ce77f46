/*
 * sched_int.h: what the files of src/sched/ share and the unit tests reach (MS_STATIC functions
 * of cron.c); nothing outside src/sched/ includes it.
 */
#ifndef MS_SCHED_SCHED_INT_H
#define MS_SCHED_SCHED_INT_H

#include <stdint.h>
#include "core/error.h"
#include "sched/sched.h"

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
#endif

#endif
