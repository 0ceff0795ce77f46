/*
 * test_sched.c: tests for src/sched/cron.c. Field parsing (numbers, names, lists, ranges,
 * steps and their errors), compiling schedule objects per frequency, the next fire time across
 * month, year and leap-day boundaries, cron's day-of-month/day-of-week OR rule, and a
 * brute-force comparison: for random cron expressions every fire time of a year found minute by
 * minute with gmtime_r must equal the chain of ms_cron_next() answers.
 */
#include <criterion/criterion.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <jansson.h>

#include "core/time.h"
#include "sched/sched_int.h"

static uint64_t
sched_t_bits(const int *v, size_t n)
{
    uint64_t m = 0;

    for (size_t i = 0; i < n; i++)
        m |= UINT64_C(1) << v[i];
    return m;
}

#define SCHED_T_BITS(...)                                                                          \
    sched_t_bits((const int[]){__VA_ARGS__}, sizeof((int[]){__VA_ARGS__}) / sizeof(int))

static int64_t
sched_t_ms(const char *rfc3339)
{
    int64_t ms = 0;

    cr_assert_eq(ms_time_parse(rfc3339, &ms), MS_OK, "parse %s", rfc3339);
    return ms;
}

/* ms_sched_next() of a custom schedule "minute hour dom month dow" after `after`. */
static enum ms_status
sched_t_next(const char *expr, const char *after, char out[MS_TIME_LEN])
{
    char f[5][64];
    json_t *s;
    int64_t next = 0;
    enum ms_status st;

    cr_assert_eq(sscanf(expr, "%63s %63s %63s %63s %63s", f[0], f[1], f[2], f[3], f[4]), 5);
    s = json_pack("{s:s,s:s,s:s,s:s,s:s,s:s}", "frequency", "custom", "minute", f[0], "hour", f[1],
                  "day_of_month", f[2], "month", f[3], "day_of_week", f[4]);
    st = ms_sched_next(s, sched_t_ms(after), &next);
    json_decref(s);
    if (st == MS_OK)
        ms_time_format(next, out);
    return st;
}

static void
sched_t_expect_next(const char *expr, const char *after, const char *want)
{
    char got[MS_TIME_LEN] = "";

    cr_assert_eq(sched_t_next(expr, after, got), MS_OK, "%s after %s", expr, after);
    cr_expect_str_eq(got, want, "%s after %s", expr, after);
}

Test(sched, field_steps_and_ranges)
{
    uint64_t mask;

    cr_assert_eq(sched_field_parse("*/15", 0, 59, &mask, NULL), MS_OK);
    cr_expect_eq(mask, (1ULL << 0) | (1ULL << 15) | (1ULL << 30) | (1ULL << 45));
    cr_expect_eq(sched_field_parse("60", 0, 59, &mask, NULL), MS_EINVAL, "minute 60 is refused");
    cr_assert_eq(sched_field_parse("1-10/2", 0, 59, &mask, NULL), MS_OK);
    cr_expect_eq(mask, SCHED_T_BITS(1, 3, 5, 7, 9));
    cr_assert_eq(sched_field_parse("5/20", 0, 59, &mask, NULL), MS_OK);
    cr_expect_eq(mask, SCHED_T_BITS(5, 25, 45), "a/step runs from a to the top");
    cr_assert_eq(sched_field_parse("*", 0, 59, &mask, NULL), MS_OK);
    cr_expect_eq(mask, (1ULL << 60) - 1);
    cr_assert_eq(sched_field_parse("*", 1, 31, &mask, NULL), MS_OK);
    cr_expect_eq(mask, ((1ULL << 32) - 1) & ~1ULL);
    cr_assert_eq(sched_field_parse("07", 0, 23, &mask, NULL), MS_OK);
    cr_expect_eq(mask, 1ULL << 7, "leading zero");
    cr_assert_eq(sched_field_parse("59", 0, 59, &mask, NULL), MS_OK);
    cr_expect_eq(mask, 1ULL << 59);
}

Test(sched, field_lists)
{
    uint64_t mask;

    cr_assert_eq(sched_field_parse("1,2,30-32,10-20/5", 1, 31, &mask, NULL), MS_EINVAL,
                 "32 is out of range");
    cr_assert_eq(sched_field_parse("1,2,29-31,10-20/5", 1, 31, &mask, NULL), MS_OK);
    cr_expect_eq(mask, SCHED_T_BITS(1, 2, 29, 30, 31, 10, 15, 20));
    cr_assert_eq(sched_field_parse("3,3,3", 1, 12, &mask, NULL), MS_OK);
    cr_expect_eq(mask, 1ULL << 3);
    cr_assert_eq(sched_field_parse("*/5,1", 0, 23, &mask, NULL), MS_OK);
    cr_expect_eq(mask, SCHED_T_BITS(0, 1, 5, 10, 15, 20));
}

Test(sched, field_errors)
{
    static const char *const bad[] = {
        "",   "a",   "1-", "-1", "5-1", "*/0", "1,",  ",1",  "1,,2", " 1",   "1 ",     "1-2-3",
        "*/", "1/x", "**", "0",  "13",  "1.5", "1;2", "*-3", "100",  "0001", "1/1000",
    };
    struct ms_error err;
    uint64_t mask = 77;
    char longf[200];

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        cr_expect_eq(sched_field_parse(bad[i], 1, 12, &mask, &err), MS_EINVAL, "\"%s\"", bad[i]);
        cr_expect_gt(strlen(err.msg), 0, "a message for \"%s\"", bad[i]);
    }
    cr_expect_eq(mask, 77, "mask untouched on failure");
    memset(longf, 0, sizeof(longf));
    for (size_t i = 0; i + 2 < sizeof(longf); i += 2)
        memcpy(longf + i, "1,", 2);
    longf[sizeof(longf) - 2] = '1';
    cr_expect_eq(sched_field_parse(longf, 0, 59, &mask, &err), MS_EINVAL, "too long");
    cr_expect_eq(sched_field_parse(NULL, 0, 59, &mask, &err), MS_EINVAL);
}

Test(sched, dow_names_and_seven)
{
    uint64_t mask;

    cr_assert_eq(sched_dow_parse("mon-fri", &mask, NULL), MS_OK);
    cr_expect_eq(mask, SCHED_T_BITS(1, 2, 3, 4, 5));
    cr_assert_eq(sched_dow_parse("SUN", &mask, NULL), MS_OK);
    cr_expect_eq(mask, 1ULL);
    cr_assert_eq(sched_dow_parse("Saturday,sunday", &mask, NULL), MS_OK);
    cr_expect_eq(mask, SCHED_T_BITS(0, 6));
    cr_assert_eq(sched_dow_parse("7", &mask, NULL), MS_OK);
    cr_expect_eq(mask, 1ULL, "7 is Sunday");
    cr_assert_eq(sched_dow_parse("5-7", &mask, NULL), MS_OK);
    cr_expect_eq(mask, SCHED_T_BITS(0, 5, 6));
    cr_assert_eq(sched_dow_parse("*", &mask, NULL), MS_OK);
    cr_expect_eq(mask, 0x7fULL);
    cr_assert_eq(sched_dow_parse("*/2", &mask, NULL), MS_OK);
    cr_expect_eq(mask, SCHED_T_BITS(0, 2, 4, 6));
    cr_assert_eq(sched_dow_parse("WED-fri/2", &mask, NULL), MS_OK);
    cr_expect_eq(mask, SCHED_T_BITS(3, 5));
    cr_expect_eq(sched_dow_parse("8", &mask, NULL), MS_EINVAL);
    cr_expect_eq(sched_dow_parse("mo", &mask, NULL), MS_EINVAL);
    cr_expect_eq(sched_dow_parse("funday", &mask, NULL), MS_EINVAL);
    cr_expect_eq(sched_dow_parse("fri-mon", &mask, NULL), MS_EINVAL, "reversed");
    cr_expect_eq(sched_dow_parse("mondays", &mask, NULL), MS_EINVAL);
}

Test(sched, civil_round_trip)
{
    for (int64_t days = -800000; days < 800000; days += 997) {
        int64_t y;
        int m, d;

        sched_civil_from_days(days, &y, &m, &d);
        cr_assert_eq(sched_days_from_civil(y, m, d), days);
    }
    cr_expect_eq(sched_days_from_civil(1970, 1, 1), 0);
    cr_expect_eq(sched_days_from_civil(2000, 3, 1), 11017);
    cr_expect_eq(sched_days_from_civil(2024, 2, 29) + 1, sched_days_from_civil(2024, 3, 1));
}

static enum ms_status
sched_t_compile(const char *json, struct ms_cron *c, struct ms_error *err)
{
    json_t *s = json_loads(json, 0, NULL);
    enum ms_status st;

    cr_assert_not_null(s, "test JSON %s", json);
    st = ms_sched_compile(s, c, err);
    json_decref(s);
    return st;
}

Test(sched, compile_frequencies)
{
    struct ms_cron c;
    struct ms_error err;

    cr_assert_eq(sched_t_compile("{\"frequency\":\"hourly\",\"minute\":\"05\"}", &c, &err), MS_OK);
    cr_expect_eq(c.minute, 1ULL << 5);
    cr_expect_eq(c.hour, 0xffffffu);
    cr_expect(c.dom_any && c.dow_any);
    cr_assert_eq(
        sched_t_compile("{\"frequency\":\"daily\",\"hour\":\"12\",\"minute\":\"30\"}", &c, &err),
        MS_OK);
    cr_expect_eq(c.hour, 1u << 12);
    cr_expect_eq(c.minute, 1ULL << 30);
    cr_assert_eq(sched_t_compile("{\"frequency\":\"weekly\",\"day_of_week\":\"Monday\","
                                 "\"hour\":\"9\",\"minute\":\"0\"}",
                                 &c, &err),
                 MS_OK);
    cr_expect_eq(c.dow, 1u << 1);
    cr_expect(c.dom_any && !c.dow_any);
    cr_assert_eq(sched_t_compile("{\"frequency\":\"weekly\",\"day_of_week\":\"7\","
                                 "\"hour\":\"9\",\"minute\":\"0\"}",
                                 &c, &err),
                 MS_OK);
    cr_expect_eq(c.dow, 1u, "7 is Sunday in weekly too");
    cr_assert_eq(sched_t_compile("{\"frequency\":\"custom\",\"minute\":\"*/15\"}", &c, &err), MS_OK,
                 "missing custom members are *");
    cr_expect_eq(c.hour, 0xffffffu);
    cr_expect_eq(c.month, 0x1ffeu);
    cr_expect_eq(c.dow, 0x7fu);
    cr_assert_eq(sched_t_compile("{\"frequency\":\"builder\",\"minute\":\"0\",\"hour\":\"0\","
                                 "\"day_of_month\":\"1,15\",\"month\":\"*\","
                                 "\"day_of_week\":\"mon\"}",
                                 &c, &err),
                 MS_OK);
    cr_expect(!c.dom_any && !c.dow_any);
    cr_expect_eq(c.dom, (1u << 1) | (1u << 15));
}

Test(sched, compile_errors)
{
    static const struct {
        const char *json, *field;
        enum ms_status st;
    } cases[] = {
        {"{\"frequency\":\"hourly\"}", "schedule.minute", MS_EINVAL},
        {"{\"frequency\":\"hourly\",\"minute\":\"60\"}", "schedule.minute", MS_EINVAL},
        {"{\"frequency\":\"hourly\",\"minute\":5}", "schedule.minute", MS_EINVAL},
        {"{\"frequency\":\"hourly\",\"minute\":\"*/5\"}", "schedule.minute", MS_EINVAL},
        {"{\"frequency\":\"daily\",\"minute\":\"0\"}", "schedule.hour", MS_EINVAL},
        {"{\"frequency\":\"daily\",\"hour\":\"24\",\"minute\":\"0\"}", "schedule.hour", MS_EINVAL},
        {"{\"frequency\":\"daily\",\"hour\":\"1-3\",\"minute\":\"0\"}", "schedule.hour", MS_EINVAL},
        {"{\"frequency\":\"weekly\",\"hour\":\"1\",\"minute\":\"0\"}", "schedule.day_of_week",
         MS_EINVAL},
        {"{\"frequency\":\"weekly\",\"day_of_week\":\"mon,tue\",\"hour\":\"1\",\"minute\":\"0\"}",
         "schedule.day_of_week", MS_EINVAL},
        {"{\"frequency\":\"custom\",\"month\":\"13\"}", "schedule.month", MS_EINVAL},
        {"{\"frequency\":\"custom\",\"day_of_month\":\"0\"}", "schedule.day_of_month", MS_EINVAL},
        {"{\"frequency\":\"custom\",\"day_of_week\":\"x\"}", "schedule.day_of_week", MS_EINVAL},
        {"{\"frequency\":\"fortnightly\"}", "schedule.frequency", MS_EINVAL},
        {"{\"frequency\":7}", "schedule.frequency", MS_EINVAL},
        {"[]", "schedule", MS_EINVAL},
        {"{\"frequency\":\"manual\"}", "", MS_ENOTFOUND},
        {"{\"frequency\":\"continuous\"}", "", MS_ENOTFOUND},
        {"{\"frequency\":\"runafter\"}", "", MS_ENOTFOUND},
        {"{}", "", MS_ENOTFOUND},
    };
    struct ms_cron c;
    struct ms_error err;

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        cr_expect_eq(sched_t_compile(cases[i].json, &c, &err), cases[i].st, "%s", cases[i].json);
        cr_expect_str_eq(err.field, cases[i].field, "%s", cases[i].json);
    }
}

Test(sched, validate)
{
    static const char *const ok[] = {
        "{\"frequency\":\"manual\"}",
        "{}",
        "{\"frequency\":\"runafter\",\"run_after\":{\"sync_ids\":[]}}",
        "{\"frequency\":\"custom\",\"day_of_month\":\"29\",\"month\":\"2\"}",
        "{\"frequency\":\"custom\",\"day_of_month\":\"30\",\"month\":\"2\",\"day_of_week\":"
        "\"mon\"}",
    };
    struct ms_error err;
    json_t *s;

    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        s = json_loads(ok[i], 0, NULL);
        cr_expect_eq(ms_sched_validate(s, &err), MS_OK, "%s: %s", ok[i], err.msg);
        json_decref(s);
    }
    s = json_loads("{\"frequency\":\"custom\",\"day_of_month\":\"30\",\"month\":\"2\"}", 0, NULL);
    cr_expect_eq(ms_sched_validate(s, &err), MS_EINVAL, "30 February never comes");
    cr_expect_str_eq(err.field, "schedule.day_of_month");
    json_decref(s);
    s = json_loads("{\"frequency\":\"daily\",\"hour\":\"x\",\"minute\":\"0\"}", 0, NULL);
    cr_expect_eq(ms_sched_validate(s, &err), MS_EINVAL);
    cr_expect_str_eq(err.field, "schedule.hour");
    json_decref(s);
}

Test(sched, next_basic)
{
    sched_t_expect_next("5 * * * *", "2024-01-15T12:04:59.999Z", "2024-01-15T12:05:00.000Z");
    sched_t_expect_next("5 * * * *", "2024-01-15T12:05:00.000Z", "2024-01-15T13:05:00.000Z");
    sched_t_expect_next("5 * * * *", "2024-01-15T23:05:00.000Z", "2024-01-16T00:05:00.000Z");
    sched_t_expect_next("* * * * *", "2024-01-15T12:04:30.000Z", "2024-01-15T12:05:00.000Z");
    sched_t_expect_next("*/15 9-17 * * mon-fri", "2024-01-12T17:45:00.000Z",
                        "2024-01-15T09:00:00.000Z");
    sched_t_expect_next("30 12 * * *", "2024-01-15T12:29:00.000Z", "2024-01-15T12:30:00.000Z");
    sched_t_expect_next("0 0 * * *", "1969-12-31T23:59:59.999Z", "1970-01-01T00:00:00.000Z");
    sched_t_expect_next("0 0 * * *", "1969-12-30T10:00:00.000Z", "1969-12-31T00:00:00.000Z");
}

Test(sched, next_boundaries)
{
    sched_t_expect_next("0 0 * * *", "2024-01-31T23:59:00.000Z", "2024-02-01T00:00:00.000Z");
    sched_t_expect_next("0 0 1 1 *", "2024-06-01T00:00:00.000Z", "2025-01-01T00:00:00.000Z");
    sched_t_expect_next("59 23 31 12 *", "2024-12-31T23:59:00.000Z", "2025-12-31T23:59:00.000Z");
    sched_t_expect_next("0 0 31 * *", "2024-04-01T00:00:00.000Z", "2024-05-31T00:00:00.000Z");
    sched_t_expect_next("0 0 29 2 *", "2024-03-01T00:00:00.000Z", "2028-02-29T00:00:00.000Z");
    sched_t_expect_next("0 0 29 2 *", "2096-03-01T00:00:00.000Z", "2104-02-29T00:00:00.000Z");
    sched_t_expect_next("0 0 29 2 *", "2000-01-01T00:00:00.000Z", "2000-02-29T00:00:00.000Z");
    sched_t_expect_next("0 12 28-31 2 *", "2023-02-28T12:00:00.000Z", "2024-02-28T12:00:00.000Z");
}

Test(sched, next_day_rule)
{
    /* both restricted: the 13th OR any Friday */
    sched_t_expect_next("0 0 13 * 5", "2024-01-01T00:00:00.000Z", "2024-01-05T00:00:00.000Z");
    sched_t_expect_next("0 0 13 * 5", "2024-01-12T00:00:00.000Z", "2024-01-13T00:00:00.000Z");
    /* day_of_month starting with '*' is unrestricted: AND, so only Fridays on odd days */
    sched_t_expect_next("0 0 */2 * 5", "2024-01-01T00:00:00.000Z", "2024-01-05T00:00:00.000Z");
    sched_t_expect_next("0 0 */2 * 5", "2024-01-05T00:00:00.000Z", "2024-01-19T00:00:00.000Z");
    /* Friday the 13th needs AND: not expressible, but a Sunday 7 works as day 0 */
    sched_t_expect_next("0 6 * * 7", "2024-01-01T00:00:00.000Z", "2024-01-07T06:00:00.000Z");
}

Test(sched, next_never)
{
    struct ms_cron c = {.minute = 1, .hour = 1, .dom = 1u << 31, .month = 1u << 2};
    int64_t next = 42;

    c.dow = 0x7f;
    c.dom_any = false;
    c.dow_any = true;
    cr_expect_eq(ms_cron_next(&c, 0, &next), MS_ENOTFOUND, "31 February");
    cr_expect_eq(next, 42);
}

Test(sched, next_frequencies)
{
    json_t *s = json_pack("{s:s,s:s,s:s,s:s}", "frequency", "weekly", "day_of_week", "monday",
                          "hour", "9", "minute", "30");
    int64_t next = 0;
    char buf[MS_TIME_LEN];

    cr_assert_eq(ms_sched_next(s, sched_t_ms("2024-01-15T09:30:00Z"), &next), MS_OK);
    ms_time_format(next, buf);
    cr_expect_str_eq(buf, "2024-01-22T09:30:00.000Z");
    json_decref(s);
    s = json_pack("{s:s}", "frequency", "manual");
    cr_expect_eq(ms_sched_next(s, 0, &next), MS_ENOTFOUND);
    json_decref(s);
}

/* ---- brute force ---- */

static unsigned sched_t_seed;

static int
sched_t_rand(int n)
{
    return (int)(rand_r(&sched_t_seed) % (unsigned)n);
}

/* A random cron field over lo..hi. */
static void
sched_t_field(char *out, size_t cap, int lo, int hi, bool dow)
{
    static const char *const names[] = {"sun", "Mon", "TUE", "wednesday", "thu", "fri", "sat"};
    int a = lo + sched_t_rand(hi - lo + 1), b = a + sched_t_rand(hi - a + 1);

    switch (sched_t_rand(7)) {
    case 0:
        snprintf(out, cap, "*");
        break;
    case 1:
        snprintf(out, cap, "*/%d", 1 + sched_t_rand(hi - lo + 1));
        break;
    case 2:
        if (dow)
            snprintf(out, cap, "%s", names[a % 7]);
        else
            snprintf(out, cap, "%d", a);
        break;
    case 3:
        snprintf(out, cap, "%d-%d", a, b);
        break;
    case 4:
        snprintf(out, cap, "%d-%d/%d", a, b, 1 + sched_t_rand(4));
        break;
    case 5:
        snprintf(out, cap, "%d,%d,%d", a, b, lo + sched_t_rand(hi - lo + 1));
        break;
    default:
        snprintf(out, cap, "%d/%d", a, 1 + sched_t_rand(10));
        break;
    }
}

/* Does c allow the minute starting at t (UTC)? Independent of cron.c's search: gmtime_r. */
static bool
sched_t_match(const struct ms_cron *c, const struct tm *tm)
{
    bool dom = c->dom & (1u << tm->tm_mday), dow = c->dow & (1u << tm->tm_wday), day;

    day = (c->dom_any || c->dow_any) ? dom && dow : dom || dow;
    return day && (c->month & (1u << (tm->tm_mon + 1))) && (c->hour & (1u << tm->tm_hour)) &&
           (c->minute & (UINT64_C(1) << tm->tm_min));
}

/* Every minute of [start, start + 366 days) that c allows, in order; returns the count. */
static size_t
sched_t_scan(const struct ms_cron *c, int64_t start_ms, int64_t *out, size_t cap)
{
    size_t n = 0;

    for (int64_t day = 0; day < 366; day++) {
        time_t t = (time_t)(start_ms / 1000 + day * 86400);
        struct tm tm;

        gmtime_r(&t, &tm);
        for (int m = 0; m < 1440; m++) {
            tm.tm_hour = m / 60;
            tm.tm_min = m % 60;
            if (sched_t_match(c, &tm) && n < cap)
                out[n++] = start_ms + (day * 1440 + m) * 60000;
        }
    }
    return n;
}

Test(sched, brute_force_year, .timeout = 120)
{
    const size_t cap = 366 * 1440;
    int64_t *hits = malloc(cap * sizeof(*hits));

    cr_assert_not_null(hits);
    sched_t_seed = 20240229;
    for (int round = 0; round < 40; round++) {
        char f[5][48];
        struct ms_cron c;
        json_t *s;
        int64_t start, next;
        size_t n;

        sched_t_field(f[0], sizeof(f[0]), 0, 59, false);
        sched_t_field(f[1], sizeof(f[1]), 0, 23, false);
        sched_t_field(f[2], sizeof(f[2]), 1, 31, false);
        sched_t_field(f[3], sizeof(f[3]), 1, 12, false);
        sched_t_field(f[4], sizeof(f[4]), 0, 7, true);
        s = json_pack("{s:s,s:s,s:s,s:s,s:s,s:s}", "frequency", "custom", "minute", f[0], "hour",
                      f[1], "day_of_month", f[2], "month", f[3], "day_of_week", f[4]);
        cr_assert_eq(ms_sched_compile(s, &c, NULL), MS_OK, "%s %s %s %s %s", f[0], f[1], f[2], f[3],
                     f[4]);
        json_decref(s);
        /* a midnight between 2023 and 2031, so leap years and year ends are crossed */
        start = (sched_days_from_civil(2023, 1, 1) + sched_t_rand(8 * 365)) * 86400000LL;
        n = sched_t_scan(&c, start, hits, cap);
        for (size_t i = 0; i < n; i++) {
            int64_t prev = i == 0 ? start - 1 : hits[i - 1] + sched_t_rand(60000);

            cr_assert_eq(ms_cron_next(&c, prev, &next), MS_OK);
            cr_assert_eq(next, hits[i], "%s %s %s %s %s: fire %zu", f[0], f[1], f[2], f[3], f[4],
                         i);
        }
        /* after the last hit of the window the answer lies beyond the window */
        if (ms_cron_next(&c, n > 0 ? hits[n - 1] : start - 1, &next) == MS_OK)
            cr_expect_geq(next, start + 366LL * 86400000, "%s %s %s %s %s", f[0], f[1], f[2], f[3],
                          f[4]);
    }
    free(hits);
}
