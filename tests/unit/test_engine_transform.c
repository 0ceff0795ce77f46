/*
 * test_engine_transform.c: the record-level parts of src/engine/ without a store: every
 * FilterFunction, filter_logic, overrides, the column plan (identity on insert), key texts,
 * row hashes, time parsing and LIKE (transform.c, plan.c), and the snapshot index (diff.c).
 */
#include <criterion/criterion.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/arena.h"
#include "engine/engine_int.h"

static struct ms_arena *tt_a;

static void
tt_setup(void)
{
    tt_a = ms_arena_new();
}

static void
tt_teardown(void)
{
    ms_arena_free(tt_a);
    tt_a = NULL;
}

TestSuite(engine_transform, .init = tt_setup, .fini = tt_teardown);
TestSuite(engine_diff);

static struct ms_value
tt_int(int64_t i)
{
    struct ms_value v = {.type = MS_V_INT, .u.i = i};

    return v;
}

static struct ms_value
tt_real(double d)
{
    struct ms_value v = {.type = MS_V_REAL, .u.d = d};

    return v;
}

static struct ms_value
tt_bool(bool b)
{
    struct ms_value v = {.type = MS_V_BOOL, .u.b = b};

    return v;
}

static struct ms_value
tt_text(const char *s)
{
    struct ms_value v = {.type = MS_V_TEXT};

    v.u.s.p = s;
    v.u.s.len = strlen(s);
    return v;
}

/* A number kept as its source text (MS_V_NUM). */
static struct ms_value
tt_num(const char *s)
{
    struct ms_value v = {.type = MS_V_NUM};

    v.u.s.p = s;
    v.u.s.len = strlen(s);
    return v;
}

static const struct ms_value tt_null = {.type = MS_V_NULL};

static void
tt_decref(void *j)
{
    json_decref(j);
}

/* 2024-03-15T12:00:00Z: the fixed clock of the relative functions. */
static int64_t
tt_now(void)
{
    int64_t ms = 0;
    bool d;

    cr_assert(ms_eng_parse_time("2024-03-15T12:00:00Z", 20, &ms, &d));
    return ms;
}

/* Compile fn with the JSON operand (NULL for none) and evaluate it on v. */
static bool
tt_eval(const char *fn, const char *operand, struct ms_value v)
{
    struct ms_eng_cond c;
    struct ms_error err = {0};
    json_t *op = operand != NULL ? json_loads(operand, JSON_DECODE_ANY, NULL) : NULL;
    enum ms_status st;

    cr_assert(operand == NULL || op != NULL, "bad test operand %s", operand);
    st = ms_eng_cond_init(&c, tt_a, fn, op, tt_now(), "filters[0]", &err);
    json_decref(op);
    cr_assert_eq(st, MS_OK, "%s %s: %s", fn, operand != NULL ? operand : "", err.msg);
    return ms_eng_cond_eval(&c, &v);
}

Test(engine_transform, equality_and_inequality)
{
    cr_expect(tt_eval("Equality", "\"a@x.io\"", tt_text("a@x.io")));
    cr_expect(!tt_eval("Equality", "\"a@x.io\"", tt_text("A@x.io")));
    cr_expect(tt_eval("Equality", "42", tt_int(42)));
    cr_expect(tt_eval("Equality", "42", tt_real(42.0)));
    cr_expect(tt_eval("Equality", "42", tt_text("42")), "text holding the number");
    cr_expect(tt_eval("Equality", "\"42\"", tt_int(42)), "string operand holding a number");
    cr_expect(tt_eval("Equality", "true", tt_bool(true)));
    cr_expect(tt_eval("Equality", "true", tt_text("TRUE")));
    cr_expect(tt_eval("Equality", "\"false\"", tt_bool(false)));
    cr_expect(tt_eval("Equality", "9007199254740993", tt_int(9007199254740993LL)),
              "integers compare exactly beyond 2^53");
    cr_expect(!tt_eval("Equality", "9007199254740993", tt_int(9007199254740992LL)));
    cr_expect(!tt_eval("Equality", "\"x\"", tt_null));
    cr_expect(tt_eval("Inequality", "\"x\"", tt_null), "negation of the positive");
    cr_expect(tt_eval("Inequality", "1", tt_int(2)));
    cr_expect(!tt_eval("Inequality", "1", tt_int(1)));
}

/* Every function treats a MS_V_NUM exactly as the MS_V_REAL of its value. */
Test(engine_transform, num_values_filter_like_reals)
{
    static const struct {
        const char *fn, *operand, *num;
        bool want;
    } cases[] = {
        {"Equality", "42", "42", true},
        {"Equality", "42", "42.0", true},
        {"Equality", "42", "4.2e1", true},
        {"Equality", "0.1", "0.1", true},
        {"Equality", "0.1", "0.10", true},
        {"Equality", "\"0.1\"", "0.1", true},
        {"Equality", "\"abc\"", "0.1", false},
        {"Equality", "0", "-0", true},
        {"Equality", "9007199254740993", "9007199254740993", true},
        {"Equality", "true", "1", true},
        {"Equality", "false", "-0", true},
        {"Inequality", "1", "1.5", true},
        {"GreaterThan", "10", "10.000000001", true},
        {"GreaterThan", "10", "1e1", false},
        {"GreaterThanEqual", "10", "1e1", true},
        {"LessThan", "\"10\"", "-1.5e-07", true},
        {"LessThanEqual", "-1", "-1.7976931348623157e+308", true},
        {"Between", "[1, 5]", "5.0", true},
        {"Between", "[1, 5]", "5e-324", false},
        {"True", NULL, "0.5", true},
        {"True", NULL, "0", false},
        {"False", NULL, "-0", true},
        {"IsNull", NULL, "0", false},
        {"IsNotNull", NULL, "0", true},
        {"OnOrAfter", "\"2024-01-15\"", "1705276800.5", true},
        {"OnOrBefore", "\"2024-01-14\"", "1705276800", false},
        {"StringContains", "\"23\"", "1234", true},
        {"StringStartsWith", "\"0.1\"", "0.1", true},
        {"StringEndsWith", "\"1\"", "0.1", true}, /* as the real's text: 0.10000000000000001 */
        {"StringOneOf", "[\"0.1\"]", "0.1", false},
        {"StringOneOf", "[\"1e+100\"]", "1e+100", true},
        {"StringLike", "\"12%\"", "12.5", true},
        {"ArrayContains", "2.5", "2.5", true},
        {"ArrayDoesNotContain", "2.5", "2.50", false},
    };

    for (size_t i = 0; i < MS_ARRAY_LEN(cases); i++) {
        struct ms_value num = tt_num(cases[i].num), real = tt_real(strtod(cases[i].num, NULL));
        bool got = tt_eval(cases[i].fn, cases[i].operand, num);

        cr_expect_eq(got, cases[i].want, "%s %s on NUM %s", cases[i].fn,
                     cases[i].operand != NULL ? cases[i].operand : "", cases[i].num);
        cr_expect_eq(got, tt_eval(cases[i].fn, cases[i].operand, real), "%s %s: NUM %s != REAL",
                     cases[i].fn, cases[i].operand != NULL ? cases[i].operand : "", cases[i].num);
    }
}

Test(engine_transform, null_and_boolean_tests)
{
    cr_expect(tt_eval("IsNull", NULL, tt_null));
    cr_expect(!tt_eval("IsNull", NULL, tt_text("")));
    cr_expect(tt_eval("IsNotNull", NULL, tt_int(0)));
    cr_expect(!tt_eval("IsNotNull", NULL, tt_null));
    cr_expect(tt_eval("True", NULL, tt_bool(true)));
    cr_expect(tt_eval("True", NULL, tt_int(1)));
    cr_expect(tt_eval("True", NULL, tt_text("yes")));
    cr_expect(!tt_eval("True", NULL, tt_text("maybe")));
    cr_expect(!tt_eval("True", NULL, tt_null));
    cr_expect(tt_eval("False", NULL, tt_bool(false)));
    cr_expect(tt_eval("False", NULL, tt_text("0")));
    cr_expect(!tt_eval("False", NULL, tt_null));
}

Test(engine_transform, dates_by_day_or_instant)
{
    cr_expect(tt_eval("OnOrAfter", "\"2024-01-15\"", tt_text("2024-01-15T00:00:00Z")));
    cr_expect(tt_eval("OnOrAfter", "\"2024-01-15\"", tt_text("2024-01-15 23:59:59")));
    cr_expect(!tt_eval("OnOrAfter", "\"2024-01-15\"", tt_text("2024-01-14T23:59:59Z")));
    cr_expect(tt_eval("OnOrBefore", "\"2024-01-15\"", tt_text("2024-01-15T18:00:00Z")),
              "a bare date covers its whole day");
    cr_expect(!tt_eval("OnOrBefore", "\"2024-01-15\"", tt_text("2024-01-16")));
    cr_expect(
        tt_eval("OnOrBefore", "\"2024-01-15T10:00:00Z\"", tt_text("2024-01-15T11:00:00+02:00")),
        "offsets are honored");
    cr_expect(!tt_eval("OnOrAfter", "\"2024-01-15T10:00:00Z\"", tt_text("not a date")));
    cr_expect(tt_eval("OnOrAfter", "\"2024-01-15\"", tt_int(1705276800)),
              "numbers are seconds since the epoch");
    cr_expect(!tt_eval("OnOrAfter", "\"2024-01-15\"", tt_null));
}

Test(engine_transform, ordered_comparisons)
{
    cr_expect(tt_eval("GreaterThan", "10", tt_int(11)));
    cr_expect(!tt_eval("GreaterThan", "10", tt_int(10)));
    cr_expect(tt_eval("GreaterThanEqual", "10", tt_int(10)));
    cr_expect(tt_eval("LessThan", "10.5", tt_real(10.25)));
    cr_expect(tt_eval("LessThanEqual", "\"10\"", tt_text("9.5")), "text holding numbers");
    cr_expect(!tt_eval("LessThan", "10", tt_text("abc")));
    cr_expect(!tt_eval("GreaterThan", "10", tt_null));
    cr_expect(tt_eval("GreaterThan", "\"2024-01-01\"", tt_text("2024-01-02")), "dates too");
    cr_expect(!tt_eval("GreaterThan", "\"2024-01-01\"", tt_text("2024-01-01T22:00:00Z")),
              "by day against a bare date");
}

Test(engine_transform, between_is_inclusive)
{
    cr_expect(tt_eval("Between", "[1, 5]", tt_int(1)));
    cr_expect(tt_eval("Between", "[1, 5]", tt_int(5)));
    cr_expect(tt_eval("Between", "[1, 5]", tt_real(3.5)));
    cr_expect(!tt_eval("Between", "[1, 5]", tt_int(6)));
    cr_expect(!tt_eval("Between", "[1, 5]", tt_null));
    cr_expect(
        tt_eval("Between", "[\"2024-01-01\", \"2024-01-31\"]", tt_text("2024-01-31T23:00:00Z")));
    cr_expect(!tt_eval("Between", "[\"2024-01-01\", \"2024-01-31\"]", tt_text("2024-02-01")));
}

Test(engine_transform, string_functions)
{
    cr_expect(tt_eval("StringContains", "\"lo w\"", tt_text("hello world")));
    cr_expect(!tt_eval("StringContains", "\"LO\"", tt_text("hello")), "case-sensitive");
    cr_expect(tt_eval("StringStartsWith", "\"he\"", tt_text("hello")));
    cr_expect(tt_eval("StringEndsWith", "\"@x.io\"", tt_text("a@x.io")));
    cr_expect(!tt_eval("StringEndsWith", "\"@x.io\"", tt_text("io")));
    cr_expect(tt_eval("StringDoesNotContain", "\"z\"", tt_text("hello")));
    cr_expect(!tt_eval("StringDoesNotContain", "\"ell\"", tt_text("hello")));
    cr_expect(tt_eval("StringDoesNotStartWith", "\"x\"", tt_text("hello")));
    cr_expect(tt_eval("StringDoesNotEndWith", "\"x\"", tt_null), "NULL passes negatives");
    cr_expect(!tt_eval("StringContains", "\"\"", tt_null));
    cr_expect(tt_eval("StringContains", "\"23\"", tt_int(1234)), "numbers as their text");
    cr_expect(tt_eval("StringMatchesTrimmed", "\" abc \"", tt_text("\tabc\n")));
    cr_expect(!tt_eval("StringMatchesTrimmed", "\"abc\"", tt_text("a bc")));
}

Test(engine_transform, string_one_of)
{
    cr_expect(tt_eval("StringOneOf", "[\"gold\", \"silver\"]", tt_text("silver")));
    cr_expect(!tt_eval("StringOneOf", "[\"gold\", \"silver\"]", tt_text("bronze")));
    cr_expect(!tt_eval("StringOneOf", "[\"gold\"]", tt_null));
    cr_expect(tt_eval("StringOneOf", "[\"7\"]", tt_int(7)));
    cr_expect(tt_eval("StringNotOneOf", "[\"gold\", \"silver\"]", tt_text("bronze")));
    cr_expect(tt_eval("StringNotOneOf", "[\"gold\"]", tt_null));
    cr_expect(tt_eval("StringNotOneOf", "[]", tt_text("x")));
}

Test(engine_transform, like_patterns)
{
    cr_expect(tt_eval("StringLike", "\"a%c\"", tt_text("abbbc")));
    cr_expect(tt_eval("StringLike", "\"a_c\"", tt_text("abc")));
    cr_expect(tt_eval("StringLike", "\"a_c\"",
                      tt_text("a\xc3\xa9"
                              "c")),
              "_ is one character");
    cr_expect(!tt_eval("StringLike", "\"a_c\"", tt_text("abbc")));
    cr_expect(tt_eval("StringLike", "\"%@x.io\"", tt_text("me@x.io")));
    cr_expect(tt_eval("StringLike", "\"100\\\\%\"", tt_text("100%")), "escaped percent");
    cr_expect(!tt_eval("StringLike", "\"100\\\\%\"", tt_text("1000")));
    cr_expect(tt_eval("StringLike", "\"%\"", tt_text("")));
    cr_expect(tt_eval("StringLike", "\"%b%b%\"", tt_text("abcabc")));
    cr_expect(!tt_eval("StringLike", "\"A%\"", tt_text("abc")), "case-sensitive");
    cr_expect(tt_eval("StringNotLike", "\"A%\"", tt_text("abc")));
    cr_expect(tt_eval("StringNotLike", "\"%\"", tt_null));
}

Test(engine_transform, array_contains)
{
    cr_expect(tt_eval("ArrayContains", "\"b\"", tt_text("[\"a\", \"b\"]")));
    cr_expect(tt_eval("ArrayContains", "2", tt_text("[1, 2, 3]")));
    cr_expect(!tt_eval("ArrayContains", "4", tt_text("[1, 2, 3]")));
    cr_expect(tt_eval("ArrayContains", "\"x\"", tt_text("x")), "a scalar is a one-element array");
    cr_expect(!tt_eval("ArrayContains", "\"x\"", tt_null));
    cr_expect(tt_eval("ArrayDoesNotContain", "\"z\"", tt_text("[\"a\"]")));
    cr_expect(!tt_eval("ArrayDoesNotContain", "\"a\"", tt_text("[\"a\"]")));
}

Test(engine_transform, relative_functions_use_the_fixed_clock)
{
    /* now = 2024-03-15T12:00:00Z */
    cr_expect(tt_eval("InTheLast", "{\"value\": 7, \"unit\": \"days\"}",
                      tt_text("2024-03-09T00:00:00Z")));
    cr_expect(!tt_eval("InTheLast", "{\"value\": 7, \"unit\": \"days\"}",
                       tt_text("2024-03-08T11:59:59Z")));
    cr_expect(!tt_eval("InTheLast", "{\"value\": 7, \"unit\": \"days\"}",
                       tt_text("2024-03-15T12:00:01Z")),
              "the future is not in the last 7 days");
    cr_expect(tt_eval("InTheLast", "{\"value\": 90, \"unit\": \"minutes\"}",
                      tt_text("2024-03-15T10:31:00Z")));
    cr_expect(tt_eval("InTheLast", "{\"value\": 2, \"unit\": \"hours\"}",
                      tt_text("2024-03-15T10:00:00Z")));
    cr_expect(tt_eval("InTheLast", "{\"value\": 1, \"unit\": \"weeks\"}",
                      tt_text("2024-03-08T12:00:00Z")));
    cr_expect(tt_eval("InTheLast", "{\"value\": 1, \"unit\": \"months\"}",
                      tt_text("2024-02-15T12:00:00Z")),
              "calendar months");
    cr_expect(!tt_eval("InTheLast", "{\"value\": 1, \"unit\": \"months\"}",
                       tt_text("2024-02-15T11:59:59Z")));
    cr_expect(tt_eval("InTheLast", "{\"value\": 14, \"unit\": \"months\"}",
                      tt_text("2023-01-15T12:00:00Z")));
    cr_expect(!tt_eval("InTheLast", "{\"value\": 1, \"unit\": \"days\"}", tt_null));
    cr_expect(tt_eval("RelativeOnOrAfter", "{\"value\": 3, \"unit\": \"days\"}",
                      tt_text("2024-03-12T12:00:00Z")));
    cr_expect(!tt_eval("RelativeOnOrAfter", "{\"value\": 3, \"unit\": \"days\"}",
                       tt_text("2024-03-12T11:00:00Z")));
    cr_expect(tt_eval("RelativeOnOrAfter", "{\"value\": -1, \"unit\": \"days\"}",
                      tt_text("2024-03-16T12:00:00Z")),
              "negative values reach into the future");
    cr_expect(tt_eval("RelativeOnOrBefore", "{\"value\": 1, \"unit\": \"days\"}",
                      tt_text("2024-03-14T12:00:00Z")));
    cr_expect(!tt_eval("RelativeOnOrBefore", "{\"value\": 1, \"unit\": \"days\"}",
                       tt_text("2024-03-15T00:00:00Z")));
}

Test(engine_transform, bad_operands_are_refused)
{
    struct ms_eng_cond c;
    struct ms_error err = {0};
    json_t *v = json_string("x");

    cr_expect_eq(ms_eng_cond_init(&c, tt_a, "Nope", NULL, 0, "filters[0]", &err), MS_EINVAL);
    cr_expect_eq(ms_eng_cond_init(&c, tt_a, "OnOrAfter", v, 0, "filters[0]", &err), MS_EINVAL);
    cr_expect_str_eq(err.field, "filters[0]");
    cr_expect_eq(ms_eng_cond_init(&c, tt_a, "Between", v, 0, "filters[0]", &err), MS_EINVAL);
    cr_expect_eq(ms_eng_cond_init(&c, tt_a, "Equality", NULL, 0, "filters[0]", &err), MS_EINVAL);
    json_decref(v);
}

Test(engine_transform, time_parsing)
{
    int64_t ms = 0;
    bool d = false;

    cr_expect(ms_eng_parse_time("1970-01-02", 10, &ms, &d));
    cr_expect_eq(ms, 86400000);
    cr_expect(d);
    cr_expect(ms_eng_parse_time("1970-01-01T00:00:01.5Z", 22, &ms, &d));
    cr_expect_eq(ms, 1500);
    cr_expect(!d);
    cr_expect(ms_eng_parse_time("1970-01-01T01:00:00+01:00", 25, &ms, &d));
    cr_expect_eq(ms, 0);
    cr_expect(ms_eng_parse_time("1969-12-31 23:00", 16, &ms, &d));
    cr_expect_eq(ms, -3600000);
    cr_expect(!ms_eng_parse_time("2024-02-30", 10, &ms, &d));
    cr_expect(!ms_eng_parse_time("2024-13-01", 10, &ms, &d));
    cr_expect(!ms_eng_parse_time("2024-01-01X", 11, &ms, &d));
    cr_expect(!ms_eng_parse_time("2024-01-01T25:00", 16, &ms, &d));
}

Test(engine_transform, key_text_is_canonical)
{
    char buf[MS_ENG_KEY_BUF];
    const char *t = NULL;
    struct ms_value v;
    size_t n;

    v = tt_int(-9223372036854775807LL - 1);
    n = ms_eng_key_text(&v, buf, &t);
    cr_expect_eq(n, 20);
    cr_expect(memcmp(t, "-9223372036854775808", n) == 0);
    v = tt_int(0);
    n = ms_eng_key_text(&v, buf, &t);
    cr_expect(n == 1 && t[0] == '0');
    v = tt_real(0.1);
    n = ms_eng_key_text(&v, buf, &t);
    cr_expect(memcmp(t, "0.10000000000000001", n) == 0);
    v = tt_bool(false);
    n = ms_eng_key_text(&v, buf, &t);
    cr_expect(n == 5 && memcmp(t, "false", 5) == 0);
    v = tt_text("k-1");
    n = ms_eng_key_text(&v, buf, &t);
    cr_expect(n == 3 && t == v.u.s.p, "text is used as is");
    v = tt_num("0.10");
    n = ms_eng_key_text(&v, buf, &t);
    cr_expect(n == 19 && memcmp(t, "0.10000000000000001", n) == 0, "a NUM keys as its real");
    v = tt_num("-12");
    n = ms_eng_key_text(&v, buf, &t);
    cr_expect(n == 3 && memcmp(t, "-12", n) == 0);
    n = ms_eng_key_text(&tt_null, buf, &t);
    cr_expect_null(t);
    cr_expect_eq(n, 0);
}

/* ---- the column plan ---- */

#define TT_MODEL "11111111-1111-4111-8111-111111111111"

static struct ms_model
tt_model(void)
{
    struct ms_model m;

    memset(&m, 0, sizeof(m));
    m.id = TT_MODEL;
    m.name = "users";
    m.fields = json_pack("[{s:s,s:s},{s:s,s:s},{s:s,s:s},{s:s,s:s}]", "name", "id", "type",
                         "number", "name", "email", "type", "string", "name", "plan", "type",
                         "string", "name", "score", "type", "number");
    m.doc = json_object();
    return m;
}

static json_t *
tt_config(const char *extra)
{
    char text[2048];
    json_t *c;

    snprintf(text, sizeof(text),
             "{\"mode\": \"updateOrCreate\", \"fields\": ["
             "{\"target\": \"mail\", \"source\": {\"field\": \"email\", \"model_id\": \"%s\"}},"
             "{\"target\": \"origin\", \"override_value\": \"modelsync\"}],"
             " \"override_fields\": [], \"filters\": [], \"overrides\": []%s}",
             TT_MODEL, extra);
    c = json_loads(text, 0, NULL);
    cr_assert_not_null(c, "%s", text);
    return c;
}

/* Plan config over the model's columns id, email, plan, score (bound in that order). */
static enum ms_status
tt_plan(struct ms_eng_plan *p, const json_t *config, struct ms_error *err)
{
    static const char *const cols[] = {"id", "email", "plan", "score"};
    struct ms_model m = tt_model();
    enum ms_status st;

    memset(p, 0, sizeof(*p));
    ms_arena_defer(tt_a, tt_decref, m.fields);
    ms_arena_defer(tt_a, tt_decref, m.doc);
    st = ms_eng_plan_config(p, tt_a, config, &m, tt_now(), err);
    if (st == MS_OK)
        st = ms_eng_plan_bind(p, cols, 4, err);
    return st;
}

Test(engine_transform, identity_target_is_added_and_fed_from_the_identity_source)
{
    struct ms_eng_plan p;
    struct ms_error err = {0};
    json_t *c =
        tt_config(", \"identity\": {\"source\": {\"field\": \"id\", \"model_id\": \"" TT_MODEL
                  "\"}, \"target\": \"user_id\", \"function\": \"Equality\"}");
    struct ms_value row[4] = {tt_int(7), tt_text("a@x.io"), tt_text("gold"), tt_real(1.5)};
    struct ms_value vals[3];

    cr_assert_eq(tt_plan(&p, c, &err), MS_OK, "%s", err.msg);
    cr_assert_eq(p.ncols, 3);
    cr_expect_str_eq(p.col_names[0], "mail");
    cr_expect_str_eq(p.col_names[1], "origin");
    cr_expect_str_eq(p.col_names[2], "user_id");
    cr_expect_eq(p.key_col, 2);
    cr_expect_str_eq(p.col_types[2], "number");
    cr_expect_str_eq(p.col_types[1], "string");
    ms_eng_map(&p, row, vals);
    cr_expect(vals[0].type == MS_V_TEXT && strcmp(vals[0].u.s.p, "a@x.io") == 0);
    cr_expect(vals[1].type == MS_V_TEXT && strcmp(vals[1].u.s.p, "modelsync") == 0);
    cr_expect(vals[2].type == MS_V_INT && vals[2].u.i == 7);
    cr_expect(!p.full);
    json_decref(c);
}

Test(engine_transform, identity_wins_over_a_mapping_of_its_target)
{
    struct ms_eng_plan p;
    struct ms_error err = {0};
    json_t *c =
        tt_config(", \"identity\": {\"source\": {\"field\": \"id\", \"model_id\": \"" TT_MODEL
                  "\"}, \"target\": \"mail\", \"function\": \"Equality\"}");
    struct ms_value row[4] = {tt_int(7), tt_text("a@x.io"), tt_text("gold"), tt_real(1.5)};
    struct ms_value vals[2];

    cr_assert_eq(tt_plan(&p, c, &err), MS_OK, "%s", err.msg);
    cr_assert_eq(p.ncols, 2, "the identity target is mapped already: no extra column");
    cr_expect_eq(p.key_col, 0);
    ms_eng_map(&p, row, vals);
    cr_expect(vals[0].type == MS_V_INT && vals[0].u.i == 7);
    json_decref(c);
}

Test(engine_transform, override_fields_win_and_modes_are_checked)
{
    struct ms_eng_plan p;
    struct ms_error err = {0};
    json_t *c = tt_config("");

    json_array_append_new(json_object_get(c, "override_fields"),
                          json_pack("{s:s,s:s}", "target", "mail", "override_value", "hidden"));
    cr_expect_eq(tt_plan(&p, c, &err), MS_EUNPROC, "updateOrCreate without identity");
    cr_expect_str_eq(err.field, "identity");
    json_object_set_new(c, "mode", json_string("replace"));
    cr_assert_eq(tt_plan(&p, c, &err), MS_OK, "%s", err.msg);
    cr_expect(p.full, "replace without identity rewrites");
    cr_expect_eq(p.ncols, 2);
    cr_expect_null(p.cols[0].field);
    cr_expect_str_eq(p.cols[0].k.u.s.p, "hidden");
    json_object_set_new(c, "mode", json_string("enrich"));
    cr_expect_eq(tt_plan(&p, c, &err), MS_EUNPROC);
    json_decref(c);
}

Test(engine_transform, sources_of_another_model_are_refused)
{
    struct ms_eng_plan p;
    struct ms_error err = {0};
    json_t *c = tt_config("");

    json_array_append_new(json_object_get(c, "fields"),
                          json_pack("{s:s,s:{s:s,s:s}}", "target", "x", "source", "field", "id",
                                    "model_id", "22222222-2222-4222-8222-222222222222"));
    json_object_set_new(c, "mode", json_string("create"));
    cr_expect_eq(tt_plan(&p, c, &err), MS_EUNPROC);
    cr_expect_str_eq(err.field, "fields[2]");
    json_decref(c);
}

/* Rows of (id, email, plan, score) against the plan's filters. */
static bool
tt_keep(const struct ms_eng_plan *p, int64_t id, const char *email, const char *plan, double score)
{
    struct ms_value row[4] = {tt_int(id), email ? tt_text(email) : tt_null,
                              plan ? tt_text(plan) : tt_null, tt_real(score)};

    return ms_eng_xform_keep(&p->xf, row);
}

static json_t *
tt_filter(const char *field, const char *fn, const char *value, const char *label)
{
    json_t *f = json_pack("{s:{s:s,s:s},s:s}", "field", "field", field, "model_id", TT_MODEL,
                          "function", fn);

    if (value != NULL)
        json_object_set_new(f, "value", json_loads(value, JSON_DECODE_ANY, NULL));
    if (label != NULL)
        json_object_set_new(f, "label", json_string(label));
    return f;
}

Test(engine_transform, filters_without_logic_are_anded)
{
    struct ms_eng_plan p;
    struct ms_error err = {0};
    json_t *c = tt_config("");
    json_t *fs = json_object_get(c, "filters");

    json_object_set_new(c, "mode", json_string("create"));
    json_array_append_new(fs, tt_filter("plan", "Equality", "\"gold\"", NULL));
    json_array_append_new(fs, tt_filter("score", "GreaterThan", "10", NULL));
    cr_assert_eq(tt_plan(&p, c, &err), MS_OK, "%s", err.msg);
    cr_expect(tt_keep(&p, 1, "a", "gold", 11));
    cr_expect(!tt_keep(&p, 1, "a", "gold", 10));
    cr_expect(!tt_keep(&p, 1, "a", "silver", 11));
    json_decref(c);
}

Test(engine_transform, filter_logic_with_not_and_parentheses)
{
    struct ms_eng_plan p;
    struct ms_error err = {0};
    json_t *c = tt_config("");
    json_t *fs = json_object_get(c, "filters");

    json_object_set_new(c, "mode", json_string("create"));
    json_array_append_new(fs, tt_filter("plan", "Equality", "\"gold\"", "A"));
    json_array_append_new(fs, tt_filter("score", "GreaterThan", "10", "B"));
    json_array_append_new(fs, tt_filter("email", "IsNull", NULL, "C"));
    json_object_set_new(c, "filter_logic", json_string("A and (B OR not C)"));
    cr_assert_eq(tt_plan(&p, c, &err), MS_OK, "%s", err.msg);
    cr_expect(tt_keep(&p, 1, "a", "gold", 0), "A and not C");
    cr_expect(tt_keep(&p, 1, NULL, "gold", 20), "A and B");
    cr_expect(!tt_keep(&p, 1, NULL, "gold", 0), "A but neither B nor not C");
    cr_expect(!tt_keep(&p, 1, "a", "silver", 20), "not A");
    json_object_set_new(c, "filter_logic", json_string("NOT (A OR B) AND NOT C"));
    cr_assert_eq(tt_plan(&p, c, &err), MS_OK, "%s", err.msg);
    cr_expect(tt_keep(&p, 1, "a", "silver", 0));
    cr_expect(!tt_keep(&p, 1, "a", "silver", 20));
    cr_expect(!tt_keep(&p, 1, "a", "gold", 0));
    json_decref(c);
}

Test(engine_transform, filters_not_named_by_the_logic_still_apply)
{
    struct ms_eng_plan p;
    struct ms_error err = {0};
    json_t *c = tt_config("");
    json_t *fs = json_object_get(c, "filters");

    json_object_set_new(c, "mode", json_string("create"));
    json_array_append_new(fs, tt_filter("plan", "Equality", "\"gold\"", "A"));
    json_array_append_new(fs, tt_filter("plan", "Equality", "\"silver\"", "B"));
    json_array_append_new(fs, tt_filter("score", "LessThan", "100", NULL));
    json_object_set_new(c, "filter_logic", json_string("A OR B"));
    cr_assert_eq(tt_plan(&p, c, &err), MS_OK, "%s", err.msg);
    cr_expect(tt_keep(&p, 1, "a", "silver", 5));
    cr_expect(!tt_keep(&p, 1, "a", "silver", 500));
    json_decref(c);
}

Test(engine_transform, target_filters_are_unsupported)
{
    struct ms_eng_plan p;
    struct ms_error err = {0};
    json_t *c = tt_config("");

    json_object_set_new(c, "mode", json_string("create"));
    json_array_append_new(json_object_get(c, "filters"),
                          json_pack("{s:s,s:s,s:s}", "field_id", "mail", "field_type", "Target",
                                    "function", "IsNotNull"));
    cr_expect_eq(tt_plan(&p, c, &err), MS_EUNSUPP);
    cr_expect_str_eq(err.field, "filters[0]");
    json_decref(c);
}

Test(engine_transform, overrides_replace_conditionally_before_mapping)
{
    struct ms_eng_plan p;
    struct ms_error err = {0};
    json_t *c = tt_config("");
    json_t *os = json_object_get(c, "overrides");
    struct ms_value row[4], vals[2];

    json_object_set_new(c, "mode", json_string("create"));
    json_array_append_new(os,
                          json_pack("{s:s,s:s,s:s,s:s}", "field_id", "email", "function",
                                    "StringEndsWith", "value", "@test.io", "override", "redacted"));
    json_array_append_new(
        os, json_pack("{s:s,s:s,s:n}", "field_id", "email", "function", "IsNull", "override"));
    cr_assert_eq(tt_plan(&p, c, &err), MS_OK, "%s", err.msg);
    row[0] = tt_int(1);
    row[1] = tt_text("me@test.io");
    row[2] = tt_text("gold");
    row[3] = tt_real(1);
    ms_eng_xform_override(&p.xf, row);
    ms_eng_map(&p, row, vals);
    cr_expect(vals[0].type == MS_V_TEXT && strcmp(vals[0].u.s.p, "redacted") == 0);
    row[1] = tt_text("me@real.io");
    ms_eng_xform_override(&p.xf, row);
    cr_expect_str_eq(row[1].u.s.p, "me@real.io", "the condition does not hold: kept");
    row[1] = tt_null;
    ms_eng_xform_override(&p.xf, row);
    cr_expect_eq(row[1].type, MS_V_NULL, "override to null");
    json_decref(c);
}

Test(engine_transform, unconditional_override_and_json_replacement_types)
{
    struct ms_eng_plan p;
    struct ms_error err = {0};
    json_t *c = tt_config("");
    struct ms_value row[4] = {tt_int(1), tt_text("x"), tt_text("gold"), tt_real(1)};

    json_object_set_new(c, "mode", json_string("create"));
    json_array_append_new(json_object_get(c, "overrides"),
                          json_pack("{s:{s:s,s:s},s:i}", "field", "field", "score", "model_id",
                                    TT_MODEL, "override", 99));
    cr_assert_eq(tt_plan(&p, c, &err), MS_OK, "%s", err.msg);
    ms_eng_xform_override(&p.xf, row);
    cr_expect(row[3].type == MS_V_INT && row[3].u.i == 99);
    json_decref(c);
}

Test(engine_transform, row_hash_is_unambiguous)
{
    struct ms_eng_plan p;
    struct ms_error err = {0};
    struct ms_eng_enc e = {0};
    json_t *c = tt_config("");
    struct ms_value a[4] = {tt_int(1), tt_text("ab"), tt_text("c"), tt_real(0.0)};
    struct ms_value b[4] = {tt_int(1), tt_text("a"), tt_text("bc"), tt_real(0.0)};
    struct ms_hash128 ha, hb;

    json_object_set_new(c, "mode", json_string("create"));
    json_array_append_new(json_object_get(c, "fields"),
                          json_pack("{s:s,s:{s:s,s:s}}", "target", "p", "source", "field", "plan",
                                    "model_id", TT_MODEL));
    json_array_append_new(json_object_get(c, "fields"),
                          json_pack("{s:s,s:{s:s,s:s}}", "target", "s", "source", "field", "score",
                                    "model_id", TT_MODEL));
    cr_assert_eq(tt_plan(&p, c, &err), MS_OK, "%s", err.msg);
    ha = ms_eng_row_hash(&p, a, &e);
    hb = ms_eng_row_hash(&p, b, &e);
    cr_expect(ha.lo != hb.lo || ha.hi != hb.hi, "ab|c and a|bc differ");
    b[1] = tt_text("ab");
    b[2] = tt_text("c");
    b[3] = tt_real(-0.0);
    hb = ms_eng_row_hash(&p, b, &e);
    cr_expect(ha.lo == hb.lo && ha.hi == hb.hi, "-0 and 0 encode alike");
    b[3] = tt_int(0);
    hb = ms_eng_row_hash(&p, b, &e);
    cr_expect(ha.lo != hb.lo || ha.hi != hb.hi, "a type change is a change");
    b[3] = tt_null;
    hb = ms_eng_row_hash(&p, b, &e);
    cr_expect(ha.lo != hb.lo || ha.hi != hb.hi);
    /* A NUM hashes its text under a tag of its own: never like the text or the real. */
    a[3] = tt_num("1.5");
    ha = ms_eng_row_hash(&p, a, &e);
    b[3] = tt_num("1.5");
    hb = ms_eng_row_hash(&p, b, &e);
    cr_expect(ha.lo == hb.lo && ha.hi == hb.hi, "the same NUM, the same hash");
    b[3] = tt_text("1.5");
    hb = ms_eng_row_hash(&p, b, &e);
    cr_expect(ha.lo != hb.lo || ha.hi != hb.hi, "NUM 1.5 is not TEXT 1.5");
    b[3] = tt_real(1.5);
    hb = ms_eng_row_hash(&p, b, &e);
    cr_expect(ha.lo != hb.lo || ha.hi != hb.hi, "nor REAL 1.5");
    b[3] = tt_num("1.50");
    hb = ms_eng_row_hash(&p, b, &e);
    cr_expect(ha.lo != hb.lo || ha.hi != hb.hi, "a new text is a change");
    a[2] = tt_num("2");
    a[3] = tt_text("1.5");
    b[2] = tt_text("2");
    b[3] = tt_num("1.5");
    ha = ms_eng_row_hash(&p, a, &e);
    hb = ms_eng_row_hash(&p, b, &e);
    cr_expect(ha.lo != hb.lo || ha.hi != hb.hi, "tags are per value");
    ms_eng_enc_release(&e);
    json_decref(c);
}

/* ---- the snapshot index ---- */

Test(engine_diff, insert_lookup_seen_and_gone)
{
    struct ms_eng_index ix;
    struct ms_eng_slot s;
    size_t pos = 0, at, n = 0;

    ms_eng_index_init(&ix, 100);
    for (uint64_t k = 1; k <= 100; k++)
        ms_eng_index_put(&ix, k * 0x9e3779b97f4a7c15ULL, k);
    cr_expect_eq(ix.n, 100);
    at = ms_eng_index_find(&ix, 5 * 0x9e3779b97f4a7c15ULL);
    cr_assert_neq(at, MS_ENG_NOT_FOUND);
    cr_expect_eq(ix.slot[at].row, 5);
    cr_expect_eq(ms_eng_index_find(&ix, 12345), MS_ENG_NOT_FOUND);
    cr_expect(!ms_eng_index_seen(&ix, at));
    cr_expect(!ms_eng_index_mark(&ix, at));
    cr_expect(ms_eng_index_mark(&ix, at), "second mark reports it was seen");
    cr_expect_eq(ix.nseen, 1);
    for (uint64_t k = 1; k <= 100; k++)
        if (k % 10 != 0)
            ms_eng_index_mark(&ix, ms_eng_index_find(&ix, k * 0x9e3779b97f4a7c15ULL));
    while (ms_eng_index_next_gone(&ix, &pos, &s)) {
        cr_expect_eq(s.row % 10, 0, "only the unseen come back: %llu", (unsigned long long)s.row);
        n++;
    }
    cr_expect_eq(n, 10);
    cr_expect_eq(ix.nseen, 90);
    ms_eng_index_put(&ix, 5 * 0x9e3779b97f4a7c15ULL, 555);
    cr_expect_eq(ix.n, 100, "a put of a present key overwrites its row");
    cr_expect_eq(ix.slot[ms_eng_index_find(&ix, 5 * 0x9e3779b97f4a7c15ULL)].row, 555);
    ms_eng_index_unmark(&ix);
    cr_expect_eq(ix.nseen, 0);
    ms_eng_index_release(&ix);
}

Test(engine_diff, growth_keeps_entries_and_marks)
{
    struct ms_eng_index ix;
    size_t cap0;

    ms_eng_index_init(&ix, 0);
    cap0 = ix.cap;
    for (uint64_t k = 1; k <= 100000; k++) {
        size_t at = ms_eng_index_put(&ix, k * 0xbf58476d1ce4e5b9ULL, k);

        if (k % 3 == 0)
            ms_eng_index_mark(&ix, at);
    }
    cr_expect_gt(ix.cap, cap0);
    cr_expect_eq(ix.n, 100000);
    cr_expect_eq(ix.nseen, 33333);
    for (uint64_t k = 1; k <= 100000; k++) {
        size_t at = ms_eng_index_find(&ix, k * 0xbf58476d1ce4e5b9ULL);

        cr_assert_neq(at, MS_ENG_NOT_FOUND, "key %llu lost", (unsigned long long)k);
        cr_assert_eq(ix.slot[at].row, k);
        cr_assert_eq(ms_eng_index_seen(&ix, at), k % 3 == 0);
    }
    cr_expect_leq(ms_eng_index_bytes(&ix), 100000 * 32, "≤ 32 bytes per row after growth");
    ms_eng_index_release(&ix);
}

Test(engine_diff, sized_from_the_snapshot_count)
{
    struct ms_eng_index ix;

    ms_eng_index_init(&ix, 1000000);
    for (uint64_t k = 1; k <= 1000000; k++)
        ms_eng_index_put(&ix, k * 0x94d049bb133111ebULL, k);
    cr_expect_lt(ms_eng_index_bytes(&ix), 1000000 * 24, "about 23 bytes per row, no growth");
    cr_expect_gt(ms_eng_index_bytes(&ix), 1000000 * 16);
    ms_eng_index_release(&ix);
}

Test(engine_diff, keyset_and_prefixes)
{
    struct ms_eng_keyset ks = {0};
    uint8_t b[16] = {0};

    for (uint64_t k = 1; k <= 5000; k++)
        cr_assert(ms_eng_keyset_add(&ks, k * 0x9e3779b97f4a7c15ULL));
    cr_expect(!ms_eng_keyset_add(&ks, 77 * 0x9e3779b97f4a7c15ULL));
    cr_expect_eq(ks.n, 5000);
    ms_eng_keyset_release(&ks);
    cr_expect_eq(ms_eng_prefix(b), 1, "0 is reserved for empty slots");
    ms_eng_hash_bytes((struct ms_hash128){.lo = 0x0102030405060708ULL, .hi = 9}, b);
    cr_expect_eq(b[0], 8);
    cr_expect_eq(b[8], 9);
    cr_expect_eq(ms_eng_prefix(b), 0x0102030405060708ULL);
}
