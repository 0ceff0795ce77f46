/*
 * fuzz_sched.c: schedule members, through ms_sched_validate() (what api/sync_validate.c calls on
 * every sync create and update) and ms_sched_compile()/ms_cron_next() (what the scheduler runs).
 * The input is up to six lines: frequency, minute, hour, day_of_month, month, day_of_week; a
 * missing line leaves the member out, "null" makes it JSON null and "=N" the integer N. Besides
 * the sanitizers: compiled masks stay inside their fields, validate agrees with compile, and
 * every next fire time is checked against a slow day-by-day search from the same start.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "sched/sched.h"
#include "sched/sched_int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FZ_CHECK(c)                                                                                \
    do {                                                                                           \
        if (!(c)) {                                                                                \
            fprintf(stderr, "fuzz_sched: check failed: %s (line %d)\n", #c, __LINE__);             \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

#define FZ_MIN_MS INT64_C(60000)
#define FZ_DAY_MIN 1440
#define FZ_ORACLE_DAYS 1830 /* the slow search is run when the answer is this close */

static const char *const fz_keys[6] = {"frequency", "minute",       "hour",
                                       "month",     "day_of_month", "day_of_week"};
/* Input line order → key: frequency, minute, hour, day_of_month, month, day_of_week. */
static const int fz_order[6] = {0, 1, 2, 4, 3, 5};

/* Starting points: 2000-01-01, the epoch, just before it, 2000-02-29 12:34, 2100-01-01. */
static const int64_t fz_starts[] = {INT64_C(946684800000), 0, -1, INT64_C(951827640000),
                                    INT64_C(4102444800000)};

/* Decimal digits of p[0..n) (the view is not NUL-terminated), saturating. */
static json_int_t
fz_int(const char *p, size_t n)
{
    json_int_t v = 0;

    for (size_t i = 0; i < n && p[i] >= '0' && p[i] <= '9' && v < INT64_C(100000000000); i++)
        v = v * 10 + (p[i] - '0');
    return v;
}

static json_t *
fz_schedule(const uint8_t *data, size_t size)
{
    json_t *s = json_object();
    size_t pos = 0;

    for (int i = 0; i < 6 && pos < size; i++) {
        const uint8_t *nl = memchr(data + pos, '\n', size - pos);
        size_t n = nl != NULL ? (size_t)(nl - (data + pos)) : size - pos;
        const char *p = (const char *)data + pos;
        json_t *v;

        if (n == 4 && memcmp(p, "null", 4) == 0)
            v = json_null();
        else if (n > 0 && p[0] == '=')
            v = json_integer(fz_int(p + 1, n - 1));
        else
            v = json_stringn_nocheck(p, n);
        json_object_set_new(s, fz_keys[fz_order[i]], v);
        pos += n + 1;
    }
    return s;
}

static int
fz_weekday(int64_t days)
{
    return (int)(((days % 7) + 7 + 4) % 7);
}

/* The first allowed minute at or after the start (minute of the day from0) of day d, or -1. */
static int
fz_day_first(const struct ms_cron *c, int64_t d, int from0)
{
    int64_t y;
    int m, dd;
    bool dom_ok, dow_ok, day_ok;

    sched_civil_from_days(d, &y, &m, &dd);
    if (!(c->month & (1u << m)))
        return -1;
    dom_ok = (c->dom >> dd) & 1;
    dow_ok = (c->dow >> fz_weekday(d)) & 1;
    day_ok = (c->dom_any || c->dow_any) ? dom_ok && dow_ok : dom_ok || dow_ok;
    if (!day_ok)
        return -1;
    for (int t = from0; t < FZ_DAY_MIN; t++)
        if (((c->hour >> (t / 60)) & 1) && ((c->minute >> (t % 60)) & 1))
            return t;
    return -1;
}

/* ms_cron_next() against a minute-by-minute search over at most FZ_ORACLE_DAYS days. */
static void
fz_check_next(const struct ms_cron *c, int64_t after)
{
    int64_t next = 0, first = after / FZ_MIN_MS - (after % FZ_MIN_MS < 0) + 1;
    int64_t day = first / FZ_DAY_MIN - (first % FZ_DAY_MIN < 0 ? 1 : 0);
    int from = (int)(first - day * FZ_DAY_MIN);
    enum ms_status st = ms_cron_next(c, after, &next);

    FZ_CHECK(st == MS_OK || st == MS_ENOTFOUND);
    if (st == MS_OK) {
        FZ_CHECK(next > after && next % FZ_MIN_MS == 0);
        FZ_CHECK(next / FZ_MIN_MS - first < (int64_t)(MS_CRON_HORIZON_Y + 1) * 366 * FZ_DAY_MIN);
    }
    for (int i = 0; i < FZ_ORACLE_DAYS; i++, day++, from = 0) {
        int t;

        if (st == MS_OK && (day * FZ_DAY_MIN + from) * FZ_MIN_MS > next)
            FZ_CHECK(!"the search passed ms_cron_next's answer");
        t = fz_day_first(c, day, from);
        if (t >= 0) {
            FZ_CHECK(st == MS_OK && next == (day * FZ_DAY_MIN + t) * FZ_MIN_MS);
            return;
        }
    }
}

static void
fz_check_masks(const struct ms_cron *c)
{
    FZ_CHECK(c->minute != 0 && c->minute < (UINT64_C(1) << 60));
    FZ_CHECK(c->hour != 0 && c->hour < (UINT32_C(1) << 24));
    FZ_CHECK(c->dom != 0 && (c->dom & 1) == 0);
    FZ_CHECK(c->month != 0 && (c->month & 1) == 0 && c->month < (1u << 13));
    FZ_CHECK(c->dow != 0 && c->dow < (1u << 7));
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    json_t *s = fz_schedule(data, size);
    struct ms_cron c;
    struct ms_error err;
    enum ms_status cst = ms_sched_compile(s, &c, &err);
    enum ms_status vst = ms_sched_validate(s, &err);
    int64_t next = 0;

    FZ_CHECK(cst == MS_OK || cst == MS_EINVAL || cst == MS_ENOTFOUND);
    FZ_CHECK(vst == MS_OK || vst == MS_EINVAL);
    if (cst == MS_EINVAL)
        FZ_CHECK(vst == MS_EINVAL && strncmp(err.field, "schedule", 8) == 0);
    if (cst == MS_ENOTFOUND)
        FZ_CHECK(vst == MS_OK);
    if (cst == MS_OK) {
        fz_check_masks(&c);
        /* validate refuses exactly the schedules that never fire after 2000-01-01 */
        FZ_CHECK((vst == MS_OK) == (ms_cron_next(&c, fz_starts[0], &next) == MS_OK));
        for (size_t i = 0; i < sizeof(fz_starts) / sizeof(fz_starts[0]); i++)
            fz_check_next(&c, fz_starts[i]);
        FZ_CHECK(ms_sched_next(s, fz_starts[0], &next) == (vst == MS_OK ? MS_OK : MS_ENOTFOUND));
    }
    json_decref(s);
    return 0;
}
