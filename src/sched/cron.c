/*
 * cron.c: schedule members to bitmasks, and bitmasks to the next fire time (UTC).
 *
 * A field compiles to one bit per allowed value, so matching is a shift and a mask. The next
 * time is found month by month: the days of a month that match are one 32-bit mask (day of
 * month and day of week combined by cron's rule), and the first allowed hour and minute at or
 * after a position are a count of trailing zeros. A search visits at most a few positions per
 * month and gives up after MS_CRON_HORIZON_Y years, so a schedule that never fires costs a few
 * thousand steps, not a loop. Calendar arithmetic is Howard Hinnant's days-from-civil, which
 * needs neither gmtime nor the TZ environment. Pure functions; any thread.
 */
#include "sched/sched.h"

#include <stdio.h>
#include <string.h>

#include "core/common.h"
#include "sched/sched_int.h"

#define CRON_MS_PER_MIN INT64_C(60000)
#define CRON_MIN_PER_DAY 1440

static const char *const cron_dow_names[7] = {"sunday",   "monday", "tuesday", "wednesday",
                                              "thursday", "friday", "saturday"};

/* ---- calendar ---- */

static int64_t
cron_floor_div(int64_t a, int64_t b)
{
    int64_t q = a / b;

    return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

MS_STATIC int64_t
sched_days_from_civil(int64_t y, int m, int d)
{
    int64_t era, yoe, doy, doe;

    y -= m <= 2;
    era = cron_floor_div(y, 400);
    yoe = y - era * 400;
    doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

MS_STATIC void
sched_civil_from_days(int64_t days, int64_t *y, int *m, int *d)
{
    int64_t z = days + 719468, era = cron_floor_div(z, 146097);
    int64_t doe = z - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153;

    *d = (int)(doy - (153 * mp + 2) / 5 + 1);
    *m = (int)(mp < 10 ? mp + 3 : mp - 9);
    *y = yoe + era * 400 + (*m <= 2);
}

static int
cron_days_in_month(int64_t y, int m)
{
    static const int dim[13] = {0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;

    return m == 2 && leap ? 29 : dim[m];
}

/* 0 = Sunday; 1970-01-01 was a Thursday. */
static int
cron_weekday(int64_t days)
{
    return (int)(((days % 7) + 7 + 4) % 7);
}

/* ---- field parsing ---- */

static bool
cron_is_digit(char c)
{
    return c >= '0' && c <= '9';
}

static char
cron_lower(char c)
{
    return (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
}

/* A day name at *p (full or three letters, any case): its number, advancing *p; -1 if none. */
static int
cron_dow_name(const char **p)
{
    char word[16];
    size_t n = 0;

    while (n < sizeof(word) - 1 && ((**p >= 'a' && **p <= 'z') || (**p >= 'A' && **p <= 'Z')))
        word[n++] = cron_lower(*(*p)++);
    word[n] = '\0';
    for (int i = 0; i < 7; i++)
        if (strcmp(word, cron_dow_names[i]) == 0 ||
            (n == 3 && strncmp(word, cron_dow_names[i], 3) == 0))
            return i;
    return -1;
}

/* A number (at most 3 digits) or, with names, a day name at *p into *v. */
static enum ms_status
cron_value(const char **p, int lo, int hi, bool names, int *v, struct ms_error *err)
{
    int n = 0, x = 0;

    if (names && !cron_is_digit(**p)) {
        x = cron_dow_name(p);
        if (x < 0)
            return ms_fail(err, MS_EINVAL, "expected a number or a day name");
        *v = x;
        return MS_OK;
    }
    while (cron_is_digit(**p) && n < 3) {
        x = x * 10 + (*(*p)++ - '0');
        n++;
    }
    if (n == 0)
        return ms_fail(err, MS_EINVAL, "expected a number");
    if (cron_is_digit(**p) || x < lo || x > hi)
        return ms_fail(err, MS_EINVAL, "value out of range %d-%d", lo, hi);
    *v = x;
    return MS_OK;
}

/* One item of a list: "*", "a", "a-b", each optionally followed by "/step". */
static enum ms_status
cron_item(const char **p, int lo, int hi, bool names, uint64_t *mask, struct ms_error *err)
{
    int a = lo, b = hi, step = 1;
    bool range = true;
    enum ms_status st;

    if (**p == '*') {
        (*p)++;
    } else {
        if ((st = cron_value(p, lo, hi, names, &a, err)) != MS_OK)
            return st;
        b = a;
        range = **p == '-';
        if (range) {
            (*p)++;
            if ((st = cron_value(p, lo, hi, names, &b, err)) != MS_OK)
                return st;
            if (b < a)
                return ms_fail(err, MS_EINVAL, "range %d-%d is reversed", a, b);
        }
    }
    if (**p == '/') {
        (*p)++;
        if (cron_value(p, 1, 999, false, &step, err) != MS_OK)
            return ms_fail(err, MS_EINVAL, "step must be a number from 1 to 999");
        if (!range)
            b = hi; /* "5/15" means 5-hi/15 */
    }
    for (int v = a; v <= b; v += step)
        *mask |= UINT64_C(1) << v;
    return MS_OK;
}

static enum ms_status
cron_parse(const char *s, int lo, int hi, bool names, uint64_t *mask, struct ms_error *err)
{
    const char *p = s;
    uint64_t m = 0;
    enum ms_status st;

    MS_ASSERT(lo >= 0 && hi < 64 && lo <= hi);
    if (s == NULL || *s == '\0')
        return ms_fail(err, MS_EINVAL, "empty");
    if (strlen(s) > MS_CRON_FIELD_MAX)
        return ms_fail(err, MS_EINVAL, "longer than %d characters", MS_CRON_FIELD_MAX);
    for (;;) {
        if ((st = cron_item(&p, lo, hi, names, &m, err)) != MS_OK)
            return st;
        if (*p == '\0')
            break;
        if (*p != ',')
            return ms_fail(err, MS_EINVAL, "unexpected character '%c'", *p);
        p++;
    }
    *mask = m;
    return MS_OK;
}

MS_STATIC enum ms_status
sched_field_parse(const char *s, int lo, int hi, uint64_t *mask, struct ms_error *err)
{
    return cron_parse(s, lo, hi, false, mask, err);
}

MS_STATIC enum ms_status
sched_dow_parse(const char *s, uint64_t *mask, struct ms_error *err)
{
    uint64_t m;
    enum ms_status st = cron_parse(s, 0, 7, true, &m, err);

    if (st != MS_OK)
        return st;
    *mask = (m | (m >> 7)) & 0x7f; /* 7 is Sunday too */
    return MS_OK;
}

/* A single plain value (hourly/daily/weekly): one or two digits, or a day name for days. */
static enum ms_status
cron_single(const char *s, int lo, int hi, bool names, uint64_t *mask, struct ms_error *err)
{
    const char *p = s;
    size_t len = strlen(s);
    int v;
    enum ms_status st;

    if (len == 0 || len > 9 || (!names && len > 2))
        return ms_fail(err, MS_EINVAL, "must be a single value from %d to %d", lo, hi);
    if ((st = cron_value(&p, lo, hi, names, &v, err)) != MS_OK)
        return st;
    if (*p != '\0')
        return ms_fail(err, MS_EINVAL, "must be a single value, not a list or range");
    *mask = UINT64_C(1) << (names && v == 7 ? 0 : v);
    return MS_OK;
}

/* ---- schedules ---- */

enum cron_kind { CRON_NONE, CRON_SINGLE, CRON_FIELD };

/* Members of the schedule object, in cron order. */
static const struct cron_member {
    const char *key;
    int lo, hi;
    bool names;
} cron_members[5] = {
    {"minute", 0, 59, false}, {"hour", 0, 23, false},      {"day_of_month", 1, 31, false},
    {"month", 1, 12, false},  {"day_of_week", 0, 7, true},
};

/* Which members a frequency uses, and how: indexed like cron_members. */
static const struct cron_freq {
    const char *name;
    enum cron_kind use[5];
} cron_freqs[] = {
    {"hourly", {CRON_SINGLE, CRON_NONE, CRON_NONE, CRON_NONE, CRON_NONE}},
    {"daily", {CRON_SINGLE, CRON_SINGLE, CRON_NONE, CRON_NONE, CRON_NONE}},
    {"weekly", {CRON_SINGLE, CRON_SINGLE, CRON_NONE, CRON_NONE, CRON_SINGLE}},
    {"custom", {CRON_FIELD, CRON_FIELD, CRON_FIELD, CRON_FIELD, CRON_FIELD}},
    {"builder", {CRON_FIELD, CRON_FIELD, CRON_FIELD, CRON_FIELD, CRON_FIELD}},
};

/* Parse member i of sched as kind into *mask ("*" when unused or, for fields, absent). */
static enum ms_status
cron_member_parse(const json_t *sched, size_t i, enum cron_kind kind, uint64_t *mask, bool *any,
                  struct ms_error *err)
{
    const struct cron_member *cm = &cron_members[i];
    json_t *v = json_object_get(sched, cm->key);
    char field[32];
    enum ms_status st;

    snprintf(field, sizeof(field), "schedule.%s", cm->key);
    *any = true;
    if (kind == CRON_NONE || (kind == CRON_FIELD && (v == NULL || json_is_null(v))))
        return sched_field_parse("*", cm->lo, cm->hi, mask, err);
    if (v == NULL || json_is_null(v))
        return ms_fail_at(err, MS_EINVAL, field, "required");
    if (!json_is_string(v))
        return ms_fail_at(err, MS_EINVAL, field, "must be a string");
    *any = json_string_value(v)[0] == '*';
    if (kind == CRON_SINGLE)
        st = cron_single(json_string_value(v), cm->lo, cm->hi, cm->names, mask, err);
    else if (cm->names)
        st = sched_dow_parse(json_string_value(v), mask, err);
    else
        st = sched_field_parse(json_string_value(v), cm->lo, cm->hi, mask, err);
    if (st != MS_OK && err != NULL) {
        char msg[sizeof((struct ms_error){0}.msg)];

        snprintf(msg, sizeof(msg), "%s", err->msg);
        return ms_fail_at(err, st, field, "\"%.40s\": %s", json_string_value(v), msg);
    }
    return st;
}

/* The frequency of sched: its table entry, or NULL with *st set (ENOTFOUND / EINVAL). */
static const struct cron_freq *
cron_freq_of(const json_t *sched, enum ms_status *st, struct ms_error *err)
{
    json_t *f = json_object_get(sched, "frequency");
    const char *name;

    if (!json_is_object(sched)) {
        *st = ms_fail_at(err, MS_EINVAL, "schedule", "must be an object");
        return NULL;
    }
    if (f == NULL || json_is_null(f)) {
        *st = ms_fail(err, MS_ENOTFOUND, "a manual schedule has no clock time");
        return NULL;
    }
    if (!json_is_string(f)) {
        *st = ms_fail_at(err, MS_EINVAL, "schedule.frequency", "must be a string");
        return NULL;
    }
    name = json_string_value(f);
    for (size_t i = 0; i < MS_ARRAY_LEN(cron_freqs); i++)
        if (strcmp(name, cron_freqs[i].name) == 0)
            return &cron_freqs[i];
    if (strcmp(name, "manual") == 0 || strcmp(name, "continuous") == 0 ||
        strcmp(name, "runafter") == 0)
        *st = ms_fail(err, MS_ENOTFOUND, "a %s schedule has no clock time", name);
    else
        *st = ms_fail_at(err, MS_EINVAL, "schedule.frequency", "unknown value \"%.40s\"", name);
    return NULL;
}

enum ms_status
ms_sched_compile(const json_t *schedule, struct ms_cron *out, struct ms_error *err)
{
    const struct cron_freq *fr;
    uint64_t m[5];
    bool any[5];
    enum ms_status st = MS_OK;

    fr = cron_freq_of(schedule, &st, err);
    if (fr == NULL)
        return st;
    for (size_t i = 0; i < 5; i++)
        if ((st = cron_member_parse(schedule, i, fr->use[i], &m[i], &any[i], err)) != MS_OK)
            return st;
    out->minute = m[0];
    out->hour = (uint32_t)m[1];
    out->dom = (uint32_t)m[2];
    out->month = (uint16_t)m[3];
    out->dow = (uint8_t)((m[4] | (m[4] >> 7)) & 0x7f); /* bit 7 (Sunday again) onto bit 0 */
    out->dom_any = any[2];
    out->dow_any = any[4];
    return MS_OK;
}

enum ms_status
ms_sched_validate(const json_t *schedule, struct ms_error *err)
{
    struct ms_cron c;
    int64_t next;
    enum ms_status st = ms_sched_compile(schedule, &c, err);

    if (st == MS_ENOTFOUND) {
        ms_error_clear(err);
        return MS_OK;
    }
    if (st != MS_OK)
        return st;
    /* 2000-01-01: a horizon of 30 years from there sees every leap-day combination. */
    if (ms_cron_next(&c, INT64_C(946684800000), &next) != MS_OK)
        return ms_fail_at(err, MS_EINVAL, "schedule.day_of_month",
                          "the day and month fields never meet: the schedule would never run");
    return MS_OK;
}

/* ---- next fire time ---- */

/* The lowest set bit of mask at or above from, or -1. */
static int
cron_next_bit(uint64_t mask, int from)
{
    if (from >= 64)
        return -1;
    mask &= ~UINT64_C(0) << from;
    return mask == 0 ? -1 : __builtin_ctzll(mask);
}

/* Days 1..dim of month m of year y that c allows, as bits 1..31. */
static uint32_t
cron_month_days(const struct ms_cron *c, int64_t y, int m)
{
    int dim = cron_days_in_month(y, m);
    int w = cron_weekday(sched_days_from_civil(y, m, 1));
    uint32_t all = (uint32_t)(((UINT64_C(1) << dim) - 1) << 1), wd = 0;

    /* Repeat the 7-day pattern of allowed weekdays, shifted so bit 1 is the 1st's weekday. */
    for (int d = 1; d <= dim; d++, w = w == 6 ? 0 : w + 1)
        if (c->dow & (1u << w))
            wd |= 1u << d;
    if (c->dom_any || c->dow_any)
        return c->dom & wd & all;
    return (c->dom | wd) & all;
}

/* Position in the search: a UTC calendar minute. */
struct cron_pos {
    int64_t y;
    int mo, d, h, mi;
};

static void
cron_next_month(struct cron_pos *p)
{
    p->d = 1;
    p->h = p->mi = 0;
    if (++p->mo > 12) {
        p->mo = 1;
        p->y++;
    }
}

/* Move p to the first allowed day at or after it (hour/minute reset when it moves); false once
 * past the horizon. */
static bool
cron_seek_day(const struct ms_cron *c, struct cron_pos *p, int64_t y_end)
{
    while (p->y <= y_end) {
        int d = -1;

        if (c->month & (1u << p->mo))
            d = cron_next_bit(cron_month_days(c, p->y, p->mo), p->d);
        if (d >= 0) {
            if (d != p->d) {
                p->d = d;
                p->h = p->mi = 0;
            }
            return true;
        }
        cron_next_month(p);
    }
    return false;
}

enum ms_status
ms_cron_next(const struct ms_cron *c, int64_t after_ms, int64_t *next_ms)
{
    int64_t mins = cron_floor_div(after_ms, CRON_MS_PER_MIN) + 1;
    int64_t days = cron_floor_div(mins, CRON_MIN_PER_DAY), y_end;
    int rem = (int)(mins - days * CRON_MIN_PER_DAY), h, mi;
    struct cron_pos p;

    sched_civil_from_days(days, &p.y, &p.mo, &p.d);
    p.h = rem / 60;
    p.mi = rem % 60;
    y_end = p.y + MS_CRON_HORIZON_Y;
    while (cron_seek_day(c, &p, y_end)) {
        h = cron_next_bit(c->hour, p.h);
        if (h >= 0 && h != p.h) {
            p.h = h;
            p.mi = 0;
        }
        mi = h >= 0 ? cron_next_bit(c->minute, p.mi) : -1;
        if (h >= 0 && mi >= 0) {
            *next_ms = (sched_days_from_civil(p.y, p.mo, p.d) * CRON_MIN_PER_DAY + h * 60 + mi) *
                       CRON_MS_PER_MIN;
            return MS_OK;
        }
        if (h >= 0 && ++p.h <= 23) { /* no minute left in this hour: try the next hour */
            p.mi = 0;
            continue;
        }
        p.h = p.mi = 0; /* no hour left today: the next day */
        if (++p.d > cron_days_in_month(p.y, p.mo))
            cron_next_month(&p);
    }
    return MS_ENOTFOUND;
}

enum ms_status
ms_sched_next(const json_t *schedule, int64_t after_ms, int64_t *next_ms)
{
    struct ms_cron c;
    enum ms_status st = ms_sched_compile(schedule, &c, NULL);

    if (st != MS_OK)
        return st;
    return ms_cron_next(&c, after_ms, next_ms);
}
