/*
 * transform.c: what happens to one source row before the diff: filters (every FilterFunction of
 * API.md §4.4, combined by filter_logic or ANDed), overrides (conditional replacement of a
 * source value), mapping onto the target columns, and the canonical encoding that is hashed.
 *
 * Operands are compiled once per run (numbers parsed, dates converted, relative periods turned
 * into instants against the run's clock), so evaluating a row allocates nothing. Comparisons
 * follow one rule set: numbers compare numerically (text holding a number counts), dates by
 * instant, or by calendar day when the operand is a bare date; every negative function is the
 * exact negation of its positive one, so NULL fails the positive and passes the negative.
 * Pure functions on the execution's thread.
 */
#include "engine/engine_int.h"

#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/xmalloc.h"

#define DAY_MS INT64_C(86400000)

static const char *const xf_names[MS_ENG_FN_COUNT] = {
    "Equality",
    "Inequality",
    "IsNull",
    "IsNotNull",
    "True",
    "False",
    "OnOrAfter",
    "OnOrBefore",
    "GreaterThan",
    "GreaterThanEqual",
    "LessThan",
    "LessThanEqual",
    "StringContains",
    "StringStartsWith",
    "StringEndsWith",
    "StringDoesNotContain",
    "StringDoesNotStartWith",
    "StringDoesNotEndWith",
    "StringOneOf",
    "StringNotOneOf",
    "Between",
    "ArrayContains",
    "ArrayDoesNotContain",
    "InTheLast",
    "RelativeOnOrBefore",
    "RelativeOnOrAfter",
    "StringLike",
    "StringNotLike",
    "StringMatchesTrimmed",
};

/* ---- values ---- */

void
ms_eng_value_from_json(struct ms_arena *a, const json_t *j, struct ms_value *out)
{
    memset(out, 0, sizeof(*out));
    if (j == NULL)
        return; /* absent reads as null */
    switch (json_typeof(j)) {
    case JSON_TRUE:
    case JSON_FALSE:
        out->type = MS_V_BOOL;
        out->u.b = json_is_true(j);
        break;
    case JSON_INTEGER:
        out->type = MS_V_INT;
        out->u.i = (int64_t)json_integer_value(j);
        break;
    case JSON_REAL:
        out->type = MS_V_REAL;
        out->u.d = json_real_value(j);
        break;
    case JSON_STRING:
        out->type = MS_V_TEXT;
        out->u.s.len = json_string_length(j);
        out->u.s.p = ms_arena_strndup(a, json_string_value(j), out->u.s.len);
        break;
    case JSON_ARRAY:
    case JSON_OBJECT: {
        char *text = json_dumps(j, JSON_COMPACT);

        out->type = MS_V_TEXT;
        out->u.s.len = strlen(text);
        out->u.s.p = ms_arena_strndup(a, text, out->u.s.len);
        free(text);
        break;
    }
    default:
        out->type = MS_V_NULL;
        break;
    }
}

size_t
ms_eng_key_text(const struct ms_value *v, char buf[MS_ENG_KEY_BUF], const char **out)
{
    int n;

    switch (v->type) {
    case MS_V_TEXT:
        *out = v->u.s.p;
        return v->u.s.len;
    case MS_V_INT:
        *out = buf;
        return ms_value_int_text(v->u.i, buf);
    case MS_V_REAL:
    case MS_V_NUM: /* the text of the MS_V_REAL it stands for: the same keys as before it */
        n = snprintf(buf, MS_ENG_KEY_BUF, "%.17g", ms_value_double(v));
        *out = buf;
        return (size_t)n;
    case MS_V_BOOL:
        *out = v->u.b ? "true" : "false";
        return v->u.b ? 4 : 5;
    case MS_V_NULL:
        break;
    }
    *out = NULL;
    return 0;
}

/* ---- parsing helpers ---- */

static bool
xf_digits(const char *s, size_t n, int *out)
{
    int v = 0;

    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return true;
}

/* Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's days_from_civil). */
static int64_t
xf_days(int64_t y, int m, int d)
{
    int64_t era, yoe, doy, doe;

    y -= m <= 2;
    era = (y >= 0 ? y : y - 399) / 400;
    yoe = y - era * 400;
    doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

/* The inverse of xf_days. */
static void
xf_civil(int64_t z, int64_t *y, int *m, int *d)
{
    int64_t era, doe, yoe, doy, mp;

    z += 719468;
    era = (z >= 0 ? z : z - 146096) / 146097;
    doe = z - era * 146097;
    yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    mp = (5 * doy + 2) / 153;
    *d = (int)(doy - (153 * mp + 2) / 5 + 1);
    *m = (int)(mp < 10 ? mp + 3 : mp - 9);
    *y = yoe + era * 400 + (*m <= 2);
}

static int
xf_mdays(int64_t y, int m)
{
    static const int days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;

    return m == 2 && leap ? 29 : days[m - 1];
}

/* "Z", "±hh:mm", "±hhmm" or "±hh" at s[0..n) → seconds east of UTC. */
static bool
xf_zone(const char *s, size_t n, int *off)
{
    int h = 0, m = 0;

    if (n == 1 && (s[0] == 'Z' || s[0] == 'z')) {
        *off = 0;
        return true;
    }
    if (n < 3 || (s[0] != '+' && s[0] != '-') || !xf_digits(s + 1, 2, &h))
        return false;
    if (n == 6 && s[3] == ':' && xf_digits(s + 4, 2, &m))
        ;
    else if (n == 5 && xf_digits(s + 3, 2, &m))
        ;
    else if (n != 3)
        return false;
    if (h > 23 || m > 59)
        return false;
    *off = (s[0] == '-' ? -1 : 1) * (h * 3600 + m * 60);
    return true;
}

/* "HH:MM[:SS[.fff…]]" then an optional zone, at s[0..n) → ms into the day, and the offset. */
static bool
xf_clock(const char *s, size_t n, int64_t *ms, int *off)
{
    int h, mi, se = 0, frac = 0;
    size_t i = 5;

    if (n < 5 || !xf_digits(s, 2, &h) || s[2] != ':' || !xf_digits(s + 3, 2, &mi))
        return false;
    if (i < n && s[i] == ':') {
        if (n < 8 || !xf_digits(s + 6, 2, &se))
            return false;
        i = 8;
        if (i < n && s[i] == '.') {
            size_t k = 0;

            for (i++; i < n && s[i] >= '0' && s[i] <= '9'; i++, k++)
                if (k < 3)
                    frac = frac * 10 + (s[i] - '0');
            if (k == 0)
                return false;
            for (; k < 3; k++)
                frac *= 10;
        }
    }
    *off = 0;
    if (i < n && !xf_zone(s + i, n - i, off))
        return false;
    if (h > 23 || mi > 59 || se > 60)
        return false;
    *ms = ((int64_t)h * 3600 + mi * 60 + se) * 1000 + frac;
    return true;
}

bool
ms_eng_parse_time(const char *s, size_t n, int64_t *ms, bool *date_only)
{
    int y, m, d, off = 0;
    int64_t tod = 0;

    if (n < 10 || !xf_digits(s, 4, &y) || s[4] != '-' || !xf_digits(s + 5, 2, &m) || s[7] != '-' ||
        !xf_digits(s + 8, 2, &d))
        return false;
    if (m < 1 || m > 12 || d < 1 || d > xf_mdays(y, m))
        return false;
    if (n > 10) {
        if (s[10] != 'T' && s[10] != 't' && s[10] != ' ')
            return false;
        if (!xf_clock(s + 11, n - 11, &tod, &off))
            return false;
    }
    *date_only = n == 10;
    *ms = xf_days(y, m, d) * DAY_MS + tod - (int64_t)off * 1000;
    return true;
}

/* The whole of s[0..n) is a finite decimal number: *d, and *i when it is an integer. */
static bool
xf_number(const char *s, size_t n, double *d, bool *int_ok, int64_t *i)
{
    char buf[64], *end;

    if (n == 0 || n >= sizeof(buf))
        return false;
    for (size_t k = 0; k < n; k++) /* no hex, inf or nan: only what a decimal number holds */
        if (strchr("0123456789+-.eE", s[k]) == NULL || s[k] == '\0')
            return false;
    memcpy(buf, s, n);
    buf[n] = '\0';
    *d = strtod(buf, &end);
    if (*end != '\0' || !isfinite(*d))
        return false;
    *int_ok = false;
    if (strspn(buf + (buf[0] == '-' || buf[0] == '+'), "0123456789") ==
        n - (buf[0] == '-' || buf[0] == '+')) {
        long long v = strtoll(buf, &end, 10);

        *int_ok = *end == '\0' && !(v == LLONG_MAX || v == LLONG_MIN);
        *i = v;
    }
    return true;
}

/* ---- value readings ---- */

/* Numeric reading of v: *d always, *i and true in *is_int for integers. */
static bool
xf_num_of(const struct ms_value *v, double *d, bool *is_int, int64_t *i)
{
    switch (v->type) {
    case MS_V_INT:
        *i = v->u.i;
        *d = (double)v->u.i;
        *is_int = true;
        return true;
    case MS_V_REAL:
        *d = v->u.d;
        *is_int = false;
        return !isnan(v->u.d);
    case MS_V_NUM: /* as the MS_V_REAL of its value (never NaN) */
        *d = ms_value_double(v);
        *is_int = false;
        return true;
    case MS_V_TEXT:
        return xf_number(v->u.s.p, v->u.s.len, d, is_int, i);
    default:
        return false;
    }
}

/* Instant of v: date text, or a number of seconds since the epoch. */
static bool
xf_time_of(const struct ms_value *v, int64_t *ms)
{
    bool date_only;
    double d;

    switch (v->type) {
    case MS_V_TEXT:
        return ms_eng_parse_time(v->u.s.p, v->u.s.len, ms, &date_only);
    case MS_V_INT:
        if (v->u.i > INT64_MAX / 1000 || v->u.i < INT64_MIN / 1000)
            return false;
        *ms = v->u.i * 1000;
        return true;
    case MS_V_REAL:
    case MS_V_NUM:
        d = ms_value_double(v);
        if (!isfinite(d) || fabs(d) > 9.2e15)
            return false;
        *ms = (int64_t)floor(d * 1000.0);
        return true;
    default:
        return false;
    }
}

/* 1 true, 0 false, -1 neither (NULL, or text that is no boolean). */
static int
xf_truth(const struct ms_value *v)
{
    static const char *const yes[] = {"true", "t", "1", "yes"}, *const no[] = {"false", "f", "0",
                                                                               "no"};

    switch (v->type) {
    case MS_V_BOOL:
        return v->u.b;
    case MS_V_INT:
        return v->u.i != 0;
    case MS_V_REAL:
        return isnan(v->u.d) ? -1 : v->u.d != 0;
    case MS_V_NUM:
        return ms_value_double(v) != 0;
    case MS_V_TEXT:
        for (size_t i = 0; i < MS_ARRAY_LEN(yes); i++) {
            if (v->u.s.len == strlen(yes[i]) && strncasecmp(v->u.s.p, yes[i], v->u.s.len) == 0)
                return 1;
            if (v->u.s.len == strlen(no[i]) && strncasecmp(v->u.s.p, no[i], v->u.s.len) == 0)
                return 0;
        }
        return -1;
    default:
        return -1;
    }
}

/* Calendar day of an instant (floor division, also before 1970). */
static int64_t
xf_day(int64_t t)
{
    return t >= 0 ? t / DAY_MS : -((-t + DAY_MS - 1) / DAY_MS);
}

static int
xf_cmp_i64(int64_t a, int64_t b)
{
    return (a > b) - (a < b);
}

static int
xf_cmp_dbl(double a, double b)
{
    return (a > b) - (a < b);
}

/* Order v against op: numerically, or by instant (by day for a bare date). */
static bool
xf_order(const struct ms_value *v, const struct ms_eng_operand *op, int *r)
{
    double d;
    bool is_int = false;
    int64_t i = 0, t;

    if (op->num_ok) {
        if (!xf_num_of(v, &d, &is_int, &i))
            return false;
        *r = is_int && op->int_ok ? xf_cmp_i64(i, op->inum) : xf_cmp_dbl(d, op->num);
        return true;
    }
    if (!op->time_ok || !xf_time_of(v, &t))
        return false;
    *r = op->date_only ? xf_cmp_i64(xf_day(t), xf_day(op->time_ms)) : xf_cmp_i64(t, op->time_ms);
    return true;
}

static bool
xf_equal(const struct ms_value *v, const struct ms_eng_operand *op)
{
    double d;
    bool is_int = false;
    int64_t i = 0;

    if (v->type == MS_V_NULL)
        return false;
    if (op->v.type == MS_V_BOOL)
        return xf_truth(v) == (int)op->v.u.b;
    if (op->v.type == MS_V_TEXT && v->type == MS_V_TEXT)
        return v->u.s.len == op->v.u.s.len && memcmp(v->u.s.p, op->v.u.s.p, v->u.s.len) == 0;
    if (op->v.type == MS_V_TEXT && v->type == MS_V_BOOL) {
        int t = xf_truth(&op->v);

        return t >= 0 && t == (int)v->u.b;
    }
    if (!op->num_ok || !xf_num_of(v, &d, &is_int, &i))
        return false;
    return is_int && op->int_ok ? i == op->inum : d == op->num;
}

/* Text reading of v for the string functions (numbers in their canonical text; a MS_V_NUM
 * reads as the MS_V_REAL of its value, so a filter means the same whatever the source). */
static bool
xf_text_of(const struct ms_value *v, char buf[MS_ENG_KEY_BUF], const char **p, size_t *n)
{
    *n = ms_eng_key_text(v, buf, p);
    return *p != NULL;
}

static bool
xf_contains(const char *s, size_t n, const char *t, size_t m)
{
    if (m == 0)
        return true;
    for (size_t i = 0; i + m <= n; i++) {
        const char *hit = memchr(s + i, t[0], n - m - i + 1);

        if (hit == NULL)
            return false;
        i = (size_t)(hit - s);
        if (memcmp(hit, t, m) == 0)
            return true;
    }
    return false;
}

static bool
xf_space(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

static void
xf_trim(const char **p, size_t *n)
{
    while (*n > 0 && xf_space(**p)) {
        (*p)++;
        (*n)--;
    }
    while (*n > 0 && xf_space((*p)[*n - 1]))
        (*n)--;
}

/* Bytes of the UTF-8 character starting at c (1 for stray bytes), at most left. */
static size_t
xf_u8len(unsigned char c, size_t left)
{
    size_t n = c < 0xc0 ? 1 : c < 0xe0 ? 2 : c < 0xf0 ? 3 : 4;

    return n < left ? n : left;
}

bool
ms_eng_like(const char *s, size_t n, const char *pat, size_t m)
{
    size_t si = 0, pi = 0, star_p = 0, star_s = 0;
    bool star = false;

    while (si < n) {
        if (pi < m && pat[pi] == '%') {
            star = true;
            star_p = ++pi;
            star_s = si;
            continue;
        }
        if (pi < m && pat[pi] == '_') {
            si += xf_u8len((unsigned char)s[si], n - si);
            pi++;
            continue;
        }
        if (pi < m) {
            size_t len = pat[pi] == '\\' && pi + 1 < m ? 2 : 1;

            if (s[si] == pat[pi + len - 1]) {
                si++;
                pi += len;
                continue;
            }
        }
        if (!star)
            return false;
        star_s += xf_u8len((unsigned char)s[star_s], n - star_s);
        si = star_s;
        pi = star_p;
    }
    while (pi < m && pat[pi] == '%')
        pi++;
    return pi == m;
}

/* Does v (a JSON array as text, or a single value) hold an element equal to op? */
static bool
xf_array_contains(const struct ms_value *v, const struct ms_eng_operand *op)
{
    json_t *arr, *e;
    size_t i, k = 0;
    bool hit = false;

    if (v->type != MS_V_TEXT)
        return xf_equal(v, op);
    while (k < v->u.s.len && xf_space(v->u.s.p[k]))
        k++;
    if (k == v->u.s.len || v->u.s.p[k] != '[')
        return xf_equal(v, op);
    arr = json_loadb(v->u.s.p, v->u.s.len, JSON_DECODE_ANY, NULL);
    if (!json_is_array(arr)) {
        json_decref(arr);
        return xf_equal(v, op);
    }
    json_array_foreach(arr, i, e)
    {
        struct ms_value ev = {.type = MS_V_NULL};

        if (json_is_string(e)) {
            ev.type = MS_V_TEXT;
            ev.u.s.p = json_string_value(e);
            ev.u.s.len = json_string_length(e);
        } else if (json_is_integer(e)) {
            ev.type = MS_V_INT;
            ev.u.i = (int64_t)json_integer_value(e);
        } else if (json_is_real(e)) {
            ev.type = MS_V_REAL;
            ev.u.d = json_real_value(e);
        } else if (json_is_boolean(e)) {
            ev.type = MS_V_BOOL;
            ev.u.b = json_is_true(e);
        }
        if ((hit = xf_equal(&ev, op)))
            break;
    }
    json_decref(arr);
    return hit;
}

static bool
xf_one_of(const struct ms_eng_cond *c, const struct ms_value *v)
{
    char buf[MS_ENG_KEY_BUF];
    const char *p;
    size_t n;

    if (!xf_text_of(v, buf, &p, &n))
        return false;
    for (size_t i = 0; i < c->nset; i++)
        if (c->set[i].len == n && memcmp(c->set[i].p, p, n) == 0)
            return true;
    return false;
}

/* The string functions, positive forms (the negatives negate them). */
static bool
xf_string(enum ms_eng_fn fn, const struct ms_value *v, const struct ms_eng_operand *op)
{
    char buf[MS_ENG_KEY_BUF];
    const char *p, *t = op->v.u.s.p;
    size_t n, m = op->v.u.s.len;

    if (!xf_text_of(v, buf, &p, &n))
        return false;
    switch (fn) {
    case MS_ENG_FN_STRING_CONTAINS:
        return xf_contains(p, n, t, m);
    case MS_ENG_FN_STRING_STARTS_WITH:
        return n >= m && memcmp(p, t, m) == 0;
    case MS_ENG_FN_STRING_ENDS_WITH:
        return n >= m && memcmp(p + n - m, t, m) == 0;
    case MS_ENG_FN_STRING_LIKE:
        return ms_eng_like(p, n, t, m);
    case MS_ENG_FN_STRING_MATCHES_TRIMMED:
        xf_trim(&p, &n);
        xf_trim(&t, &m);
        return n == m && memcmp(p, t, n) == 0;
    default:
        return false;
    }
}

/* The functions whose result NULL-safe negation gives another one. */
static bool
xf_positive(const struct ms_eng_cond *c, const struct ms_value *v)
{
    int r = 0;
    int64_t t;

    switch (c->fn) {
    case MS_ENG_FN_ON_OR_AFTER:
    case MS_ENG_FN_GREATER_THAN_EQUAL:
        return xf_order(v, &c->a, &r) && r >= 0;
    case MS_ENG_FN_ON_OR_BEFORE:
    case MS_ENG_FN_LESS_THAN_EQUAL:
        return xf_order(v, &c->a, &r) && r <= 0;
    case MS_ENG_FN_GREATER_THAN:
        return xf_order(v, &c->a, &r) && r > 0;
    case MS_ENG_FN_LESS_THAN:
        return xf_order(v, &c->a, &r) && r < 0;
    case MS_ENG_FN_BETWEEN:
        return xf_order(v, &c->a, &r) && r >= 0 && xf_order(v, &c->b, &r) && r <= 0;
    case MS_ENG_FN_IN_THE_LAST:
        return xf_time_of(v, &t) && t >= c->t0 && t <= c->t1;
    case MS_ENG_FN_RELATIVE_ON_OR_AFTER:
        return xf_time_of(v, &t) && t >= c->t0;
    case MS_ENG_FN_RELATIVE_ON_OR_BEFORE:
        return xf_time_of(v, &t) && t <= c->t1;
    default:
        return false;
    }
}

bool
ms_eng_cond_eval(const struct ms_eng_cond *c, const struct ms_value *v)
{
    switch (c->fn) {
    case MS_ENG_FN_EQUALITY:
        return xf_equal(v, &c->a);
    case MS_ENG_FN_INEQUALITY:
        return !xf_equal(v, &c->a);
    case MS_ENG_FN_IS_NULL:
        return v->type == MS_V_NULL;
    case MS_ENG_FN_IS_NOT_NULL:
        return v->type != MS_V_NULL;
    case MS_ENG_FN_TRUE:
        return xf_truth(v) == 1;
    case MS_ENG_FN_FALSE:
        return xf_truth(v) == 0;
    case MS_ENG_FN_STRING_CONTAINS:
    case MS_ENG_FN_STRING_STARTS_WITH:
    case MS_ENG_FN_STRING_ENDS_WITH:
    case MS_ENG_FN_STRING_LIKE:
    case MS_ENG_FN_STRING_MATCHES_TRIMMED:
        return xf_string(c->fn, v, &c->a);
    case MS_ENG_FN_STRING_DOES_NOT_CONTAIN:
        return !xf_string(MS_ENG_FN_STRING_CONTAINS, v, &c->a);
    case MS_ENG_FN_STRING_DOES_NOT_START_WITH:
        return !xf_string(MS_ENG_FN_STRING_STARTS_WITH, v, &c->a);
    case MS_ENG_FN_STRING_DOES_NOT_END_WITH:
        return !xf_string(MS_ENG_FN_STRING_ENDS_WITH, v, &c->a);
    case MS_ENG_FN_STRING_NOT_LIKE:
        return !xf_string(MS_ENG_FN_STRING_LIKE, v, &c->a);
    case MS_ENG_FN_STRING_ONE_OF:
        return xf_one_of(c, v);
    case MS_ENG_FN_STRING_NOT_ONE_OF:
        return !xf_one_of(c, v);
    case MS_ENG_FN_ARRAY_CONTAINS:
        return xf_array_contains(v, &c->a);
    case MS_ENG_FN_ARRAY_DOES_NOT_CONTAIN:
        return !xf_array_contains(v, &c->a);
    default:
        return xf_positive(c, v);
    }
}

/* ---- compiling operands ---- */

static void
xf_operand(struct ms_arena *a, const json_t *j, struct ms_eng_operand *op)
{
    memset(op, 0, sizeof(*op));
    ms_eng_value_from_json(a, j, &op->v);
    if (op->v.type == MS_V_INT || op->v.type == MS_V_REAL || op->v.type == MS_V_TEXT)
        op->num_ok = xf_num_of(&op->v, &op->num, &op->int_ok, &op->inum);
    if (op->v.type == MS_V_TEXT)
        op->time_ok = ms_eng_parse_time(op->v.u.s.p, op->v.u.s.len, &op->time_ms, &op->date_only);
}

/* now minus n units (months by the calendar, the day clamped to the month's length). */
static int64_t
xf_ago(int64_t now, int64_t n, const char *unit)
{
    static const struct {
        const char *name;
        int64_t ms;
    } units[] = {{"minutes", 60000}, {"hours", 3600000}, {"days", DAY_MS}, {"weeks", 7 * DAY_MS}};
    int64_t days, tod, y, months;
    int m, d;

    for (size_t i = 0; i < MS_ARRAY_LEN(units); i++)
        if (strcmp(unit, units[i].name) == 0)
            return now - n * units[i].ms;
    days = xf_day(now);
    tod = now - days * DAY_MS;
    xf_civil(days, &y, &m, &d);
    months = y * 12 + (m - 1) - n;
    y = months >= 0 ? months / 12 : -((-months + 11) / 12);
    m = (int)(months - y * 12) + 1;
    if (d > xf_mdays(y, m))
        d = xf_mdays(y, m);
    return xf_days(y, m, d) * DAY_MS + tod;
}

static enum ms_status
xf_relative(struct ms_eng_cond *c, const json_t *v, int64_t now, const char *path,
            struct ms_error *err)
{
    json_t *n = json_object_get(v, "value"), *u = json_object_get(v, "unit");
    static const char *const units[] = {"minutes", "hours", "days", "weeks", "months"};
    bool unit_ok = false;
    int64_t at;

    for (size_t i = 0; json_is_string(u) && i < MS_ARRAY_LEN(units); i++)
        unit_ok = unit_ok || strcmp(json_string_value(u), units[i]) == 0;
    if (!json_is_integer(n) || !unit_ok || json_integer_value(n) > 1000000 ||
        json_integer_value(n) < -1000000)
        return ms_fail_at(err, MS_EINVAL, path, "needs {\"value\": <integer>, \"unit\": ...}");
    at = xf_ago(now, (int64_t)json_integer_value(n), json_string_value(u));
    c->t0 = at;
    c->t1 = c->fn == MS_ENG_FN_IN_THE_LAST ? now : at;
    return MS_OK;
}

static enum ms_status
xf_strings(struct ms_eng_cond *c, struct ms_arena *a, const json_t *v, const char *path,
           struct ms_error *err)
{
    json_t *e;
    size_t i;

    if (!json_is_array(v) || json_array_size(v) > MS_SYNC_MAX_ITEMS)
        return ms_fail_at(err, MS_EINVAL, path, "needs an array of strings");
    c->nset = json_array_size(v);
    c->set = ms_arena_alloc(a, (c->nset + 1) * sizeof(*c->set));
    json_array_foreach((json_t *)(uintptr_t)v, i, e)
    {
        if (!json_is_string(e))
            return ms_fail_at(err, MS_EINVAL, path, "needs an array of strings");
        c->set[i].len = json_string_length(e);
        c->set[i].p = ms_arena_strndup(a, json_string_value(e), c->set[i].len);
    }
    return MS_OK;
}

static bool
xf_is_scalar(const json_t *v)
{
    return json_is_string(v) || json_is_number(v) || json_is_boolean(v);
}

/* Check and compile the operand of c->fn. */
static enum ms_status
xf_cond_operand(struct ms_eng_cond *c, struct ms_arena *a, const json_t *v, int64_t now,
                const char *path, struct ms_error *err)
{
    switch (c->fn) {
    case MS_ENG_FN_IS_NULL:
    case MS_ENG_FN_IS_NOT_NULL:
    case MS_ENG_FN_TRUE:
    case MS_ENG_FN_FALSE:
        return MS_OK;
    case MS_ENG_FN_STRING_ONE_OF:
    case MS_ENG_FN_STRING_NOT_ONE_OF:
        return xf_strings(c, a, v, path, err);
    case MS_ENG_FN_IN_THE_LAST:
    case MS_ENG_FN_RELATIVE_ON_OR_AFTER:
    case MS_ENG_FN_RELATIVE_ON_OR_BEFORE:
        return xf_relative(c, v, now, path, err);
    case MS_ENG_FN_BETWEEN:
        if (!json_is_array(v) || json_array_size(v) != 2)
            return ms_fail_at(err, MS_EINVAL, path, "Between needs [low, high]");
        xf_operand(a, json_array_get(v, 0), &c->a);
        xf_operand(a, json_array_get(v, 1), &c->b);
        if (!(c->a.num_ok || c->a.time_ok) || !(c->b.num_ok || c->b.time_ok))
            return ms_fail_at(err, MS_EINVAL, path, "Between needs numbers or dates");
        return MS_OK;
    default:
        break;
    }
    if (!xf_is_scalar(v))
        return ms_fail_at(err, MS_EINVAL, path, "%s needs a value", xf_names[c->fn]);
    xf_operand(a, v, &c->a);
    if (c->fn >= MS_ENG_FN_STRING_CONTAINS && c->fn <= MS_ENG_FN_STRING_DOES_NOT_END_WITH &&
        c->a.v.type != MS_V_TEXT)
        return ms_fail_at(err, MS_EINVAL, path, "%s needs a string", xf_names[c->fn]);
    if (c->fn >= MS_ENG_FN_STRING_LIKE && c->a.v.type != MS_V_TEXT)
        return ms_fail_at(err, MS_EINVAL, path, "%s needs a string", xf_names[c->fn]);
    if ((c->fn == MS_ENG_FN_ON_OR_AFTER || c->fn == MS_ENG_FN_ON_OR_BEFORE) && !c->a.time_ok)
        return ms_fail_at(err, MS_EINVAL, path, "%s needs a date", xf_names[c->fn]);
    if (c->fn >= MS_ENG_FN_GREATER_THAN && c->fn <= MS_ENG_FN_LESS_THAN_EQUAL && !c->a.num_ok &&
        !c->a.time_ok)
        return ms_fail_at(err, MS_EINVAL, path, "%s needs a number or a date", xf_names[c->fn]);
    return MS_OK;
}

enum ms_status
ms_eng_cond_init(struct ms_eng_cond *c, struct ms_arena *a, const char *fn, const json_t *value,
                 int64_t now_ms, const char *path, struct ms_error *err)
{
    size_t i;

    memset(c, 0, sizeof(*c));
    c->src = MS_ENG_NO_COL;
    for (i = 0; fn != NULL && i < MS_ENG_FN_COUNT; i++)
        if (strcmp(fn, xf_names[i]) == 0)
            break;
    if (fn == NULL || i == MS_ENG_FN_COUNT)
        return ms_fail_at(err, MS_EINVAL, path, "unknown function \"%.40s\"", fn != NULL ? fn : "");
    c->fn = (enum ms_eng_fn)i;
    return xf_cond_operand(c, a, json_is_null(value) ? NULL : value, now_ms, path, err);
}

/* ---- filters and overrides of a sync ---- */

/* The field a filter or override names: a Source of the sync's model, or a bare field_id. */
static enum ms_status
xf_field(const json_t *item, bool id_first, const char *model_id, const char *path,
         struct ms_arena *a, const char **out, struct ms_error *err)
{
    const json_t *src = json_object_get(item, "field");
    const char *id = json_string_value(json_object_get(item, "field_id"));
    const char *mid = json_string_value(json_object_get(src, "model_id"));

    if (id != NULL && (id_first || !json_is_object(src))) {
        *out = ms_arena_strdup(a, id);
        return MS_OK;
    }
    if (!json_is_string(json_object_get(src, "field")))
        return ms_fail_at(err, MS_EINVAL, path, "names no field");
    if (mid == NULL || strcmp(mid, model_id) != 0)
        return ms_fail_at(err, MS_EUNPROC, path, "names a field of model %s, not the sync's model",
                          mid != NULL ? mid : "(none)");
    *out = ms_arena_strdup(a, json_string_value(json_object_get(src, "field")));
    return MS_OK;
}

static enum ms_status
xf_filters(struct ms_eng_xform *x, struct ms_arena *a, const json_t *arr, const char *model_id,
           int64_t now, struct ms_error *err)
{
    json_t *f;
    size_t i;
    enum ms_status st;

    x->nfilters = json_array_size(arr);
    x->filters = ms_arena_zalloc(a, (x->nfilters + 1) * sizeof(*x->filters));
    x->named = ms_arena_zalloc(a, x->nfilters + 1);
    json_array_foreach((json_t *)(uintptr_t)arr, i, f)
    {
        const char *path = ms_arena_printf(a, "filters[%zu]", i), *type, *field = NULL;

        type = json_string_value(json_object_get(f, "field_type"));
        if (type != NULL && strcmp(type, "Target") == 0)
            return ms_fail_at(err, MS_EUNSUPP, path,
                              "filters on target fields are not offered by this server");
        if ((st = ms_eng_cond_init(&x->filters[i], a,
                                   json_string_value(json_object_get(f, "function")),
                                   json_object_get(f, "value"), now, path, err)) != MS_OK ||
            (st = xf_field(f, false, model_id, path, a, &field, err)) != MS_OK)
            return st;
        x->filters[i].field = field;
    }
    return MS_OK;
}

static void
xf_mark_named(struct ms_eng_xform *x, const struct ms_flx *n)
{
    if (n == NULL)
        return;
    if (n->kind == MS_FLX_LABEL) {
        if (n->index < x->nfilters)
            x->named[n->index] = true;
        return;
    }
    xf_mark_named(x, n->a);
    xf_mark_named(x, n->b);
}

static enum ms_status
xf_overrides(struct ms_eng_xform *x, struct ms_arena *a, const json_t *arr, const char *model_id,
             int64_t now, struct ms_error *err)
{
    json_t *o;
    size_t i;
    enum ms_status st;

    x->noverrides = json_array_size(arr);
    x->overrides = ms_arena_zalloc(a, (x->noverrides + 1) * sizeof(*x->overrides));
    json_array_foreach((json_t *)(uintptr_t)arr, i, o)
    {
        struct ms_eng_override *ov = &x->overrides[i];
        const char *path = ms_arena_printf(a, "overrides[%zu]", i), *field = NULL;
        const char *fn = json_string_value(json_object_get(o, "function"));

        ov->always = fn == NULL;
        if (!ov->always && (st = ms_eng_cond_init(&ov->cond, a, fn, json_object_get(o, "value"),
                                                  now, path, err)) != MS_OK)
            return st;
        if ((st = xf_field(o, true, model_id, path, a, &field, err)) != MS_OK)
            return st;
        ov->cond.field = field;
        ov->cond.src = MS_ENG_NO_COL;
        ms_eng_value_from_json(a, json_object_get(o, "override"), &ov->repl);
    }
    return MS_OK;
}

enum ms_status
ms_eng_xform_init(struct ms_eng_xform *x, struct ms_arena *a, const json_t *config,
                  const char *model_id, int64_t now_ms, struct ms_error *err)
{
    const char *logic = json_string_value(json_object_get(config, "filter_logic"));
    const json_t *filters = json_object_get(config, "filters");
    struct ms_flx *ast = NULL;
    enum ms_status st;

    memset(x, 0, sizeof(*x));
    if (json_array_size(filters) > MS_SYNC_MAX_ITEMS ||
        json_array_size(json_object_get(config, "overrides")) > MS_SYNC_MAX_ITEMS)
        return ms_fail(err, MS_ETOOBIG, "more than %d filters or overrides", MS_SYNC_MAX_ITEMS);
    if ((st = xf_filters(x, a, filters, model_id, now_ms, err)) != MS_OK)
        return st;
    if (logic != NULL && logic[strspn(logic, " \t\r\n")] != '\0') {
        if ((st = ms_filter_logic_parse(a, logic, &ast, err)) != MS_OK ||
            (st = ms_filter_logic_bind(ast, filters, err)) != MS_OK)
            return st;
        x->logic = ast;
        xf_mark_named(x, ast);
    }
    return xf_overrides(x, a, json_object_get(config, "overrides"), model_id, now_ms, err);
}

static bool
xf_logic(const struct ms_eng_xform *x, const struct ms_flx *n, const struct ms_value *row)
{
    switch (n->kind) {
    case MS_FLX_LABEL:
        return ms_eng_cond_eval(&x->filters[n->index], &row[x->filters[n->index].src]);
    case MS_FLX_AND:
        return xf_logic(x, n->a, row) && xf_logic(x, n->b, row);
    case MS_FLX_OR:
        return xf_logic(x, n->a, row) || xf_logic(x, n->b, row);
    case MS_FLX_NOT:
        return !xf_logic(x, n->a, row);
    }
    return false;
}

bool
ms_eng_xform_keep(const struct ms_eng_xform *x, const struct ms_value *row)
{
    for (size_t i = 0; i < x->nfilters; i++)
        if (!x->named[i] && !ms_eng_cond_eval(&x->filters[i], &row[x->filters[i].src]))
            return false;
    return x->logic == NULL || xf_logic(x, x->logic, row);
}

void
ms_eng_xform_override(const struct ms_eng_xform *x, struct ms_value *row)
{
    for (size_t i = 0; i < x->noverrides; i++) {
        const struct ms_eng_override *o = &x->overrides[i];
        struct ms_value *v = &row[o->cond.src];

        if (o->always || ms_eng_cond_eval(&o->cond, v))
            *v = o->repl;
    }
}

/* ---- mapping and hashing ---- */

void
ms_eng_map(const struct ms_eng_plan *p, const struct ms_value *row, struct ms_value *vals)
{
    for (size_t i = 0; i < p->ncols; i++)
        vals[i] = p->cols[i].field != NULL ? row[p->cols[i].src] : p->cols[i].k;
}

/* v little-endian at w; returns the byte after it. */
static uint8_t *
xf_put64(uint8_t *w, uint64_t v)
{
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    memcpy(w, &v, 8);
#else
    for (int i = 0; i < 8; i++)
        w[i] = (uint8_t)(v >> (8 * i));
#endif
    return w + 8;
}

/* e->p with room for n bytes. */
static uint8_t *
xf_reserve(struct ms_eng_enc *e, size_t n)
{
    if (n > e->cap) {
        size_t cap = e->cap == 0 ? 4096 : e->cap;

        while (cap < n)
            cap *= 2;
        free(e->p);
        e->p = ms_xmalloc(cap);
        e->cap = cap;
    }
    return e->p;
}

/* One value's encoding at w: a tag, then 8 bytes, nothing, or a 4-byte length and the text
 * (text and MS_V_NUM, under tags of their own: the number 1.5 never hashes as the text "1.5"). */
static uint8_t *
xf_encode(uint8_t *w, const struct ms_value *v)
{
    uint64_t bits;
    double d;

    switch (v->type) {
    case MS_V_INT:
        *w = 'i';
        return xf_put64(w + 1, (uint64_t)v->u.i);
    case MS_V_REAL:
        d = v->u.d == 0 ? 0.0 : isnan(v->u.d) ? NAN : v->u.d; /* one -0, one NaN */
        memcpy(&bits, &d, sizeof(bits));
        *w = 'r';
        return xf_put64(w + 1, bits);
    case MS_V_BOOL:
        *w = v->u.b ? 'T' : 'F';
        return w + 1;
    case MS_V_TEXT:
    case MS_V_NUM:
        w[0] = v->type == MS_V_TEXT ? 's' : 'd';
        w[1] = (uint8_t)v->u.s.len;
        w[2] = (uint8_t)(v->u.s.len >> 8);
        w[3] = (uint8_t)(v->u.s.len >> 16);
        w[4] = (uint8_t)(v->u.s.len >> 24);
        if (v->u.s.len > 0)
            memcpy(w + 5, v->u.s.p, v->u.s.len);
        return w + 5 + v->u.s.len;
    case MS_V_NULL:
        break;
    }
    *w = 'n';
    return w + 1;
}

/* Sizes first, then one pass of writes into a buffer reused for every row. */
struct ms_hash128
ms_eng_row_hash(const struct ms_eng_plan *p, const struct ms_value *row, struct ms_eng_enc *e)
{
    size_t need = 8;
    uint8_t *start, *w;

    for (size_t i = 0; i < p->ncols; i++) {
        const struct ms_value *v = p->cols[i].field != NULL ? &row[p->cols[i].src] : &p->cols[i].k;

        need += v->type == MS_V_TEXT || v->type == MS_V_NUM ? 5 + v->u.s.len : 9;
    }
    start = xf_reserve(e, need);
    w = xf_put64(start, p->seed);
    for (size_t i = 0; i < p->ncols; i++)
        w = xf_encode(w, p->cols[i].field != NULL ? &row[p->cols[i].src] : &p->cols[i].k);
    return ms_xxh3_128(start, (size_t)(w - start));
}

void
ms_eng_enc_release(struct ms_eng_enc *e)
{
    free(e->p);
    e->p = NULL;
    e->cap = 0;
}
