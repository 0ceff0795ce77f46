/* tests/unit/test_cx_registry.c: the connector registry, descriptor checks and shared helpers
 * (connectors/registry.c). */
#include <criterion/criterion.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "connectors/connector.h"
#include "connectors/connectors_int.h"
#include "core/arena.h"

Test(cx_registry, builtins_pass_the_check)
{
    struct ms_error err = {0};

    cr_assert_eq(ms_cx_registry_check(&err), MS_OK, "%s", err.msg);
}

Test(cx_registry, listing_order_and_find)
{
    static const char *const order[] = {"postgresql", "sqlite", "csv", "jsonl", "webhook"};
    size_t n = 0;
    const struct ms_connector *const *all = ms_cx_all(&n);

    cr_assert_eq(n, 5);
    for (size_t i = 0; i < n; i++) {
        cr_expect_str_eq(all[i]->type, order[i]);
        cr_expect_eq(ms_cx_find(order[i]), all[i]);
    }
    cr_expect_eq(ms_cx_find("sqlite"), &ms_connector_sqlite);
    cr_expect_eq(ms_cx_find("csv"), &ms_connector_csv);
    cr_expect_eq(ms_cx_find("jsonl"), &ms_connector_jsonl);
    cr_expect_null(ms_cx_find("SQLite"));
    cr_expect_null(ms_cx_find("mysql"));
    cr_expect_null(ms_cx_find(NULL));
}

/* Each broken copy of the sqlite descriptor must be refused, naming the connector. */
Test(cx_registry, broken_descriptors_are_refused)
{
    struct ms_connector c;
    struct ms_error err = {0};

    cr_assert_eq(registry_check_one(&ms_connector_sqlite, &err), MS_OK, "%s", err.msg);

#define CX_EXPECT_BAD(mutation)                                                                    \
    do {                                                                                           \
        c = ms_connector_sqlite;                                                                   \
        mutation;                                                                                  \
        memset(&err, 0, sizeof(err));                                                              \
        cr_expect_eq(registry_check_one(&c, &err), MS_EINTERNAL, "accepted: %s", #mutation);       \
        cr_expect(strstr(err.msg, "sqlite") != NULL || c.type == NULL, "%s", err.msg);             \
    } while (0)

    CX_EXPECT_BAD(c.abi = MS_CONNECTOR_ABI + 1);
    CX_EXPECT_BAD(c.abi = 0);
    CX_EXPECT_BAD(c.type = NULL);
    CX_EXPECT_BAD(c.name = NULL);
    CX_EXPECT_BAD(c.schema = NULL);
    CX_EXPECT_BAD(c.secrets = NULL);
    CX_EXPECT_BAD(c.size = 0);
    CX_EXPECT_BAD(c.schema = "{\"type\": ");
    CX_EXPECT_BAD(c.schema = "[]");
    CX_EXPECT_BAD(c.validate = NULL);
    CX_EXPECT_BAD(c.open = NULL);
    CX_EXPECT_BAD(c.close = NULL);
    CX_EXPECT_BAD(c.test = NULL);
    CX_EXPECT_BAD(c.fields = NULL);
    CX_EXPECT_BAD(c.read_begin = NULL);
    CX_EXPECT_BAD(c.read = NULL);
    CX_EXPECT_BAD(c.read_end = NULL);
    CX_EXPECT_BAD(c.model_validate = NULL);
    CX_EXPECT_BAD(c.describe = NULL);
    CX_EXPECT_BAD(c.objects = NULL);
    CX_EXPECT_BAD(c.object_fields = NULL);
    CX_EXPECT_BAD(c.create_object = NULL);
    CX_EXPECT_BAD(c.target_creation = "{\"supported\": tru");
#undef CX_EXPECT_BAD

    /* Slots a flag does not promise may be NULL. */
    c = ms_connector_sqlite;
    c.flags = MS_CX_DEST;
    c.fields = NULL;
    c.read = NULL;
    c.create_object = NULL;
    c.target_creation = NULL;
    cr_expect_eq(registry_check_one(&c, &err), MS_OK, "%s", err.msg);
}

Test(cx_registry, schemas_are_closed_json_schemas)
{
    const struct ms_connector *mine[] = {&ms_connector_sqlite, &ms_connector_csv,
                                         &ms_connector_jsonl};

    for (size_t i = 0; i < 3; i++) {
        json_t *s = json_loads(mine[i]->schema, 0, NULL);
        json_t *tc = json_loads(mine[i]->target_creation, 0, NULL);

        cr_assert_not_null(s, "%s", mine[i]->type);
        cr_expect_str_eq(json_string_value(json_object_get(s, "$schema")),
                         "https://json-schema.org/draft/2020-12/schema");
        cr_expect_str_eq(json_string_value(json_object_get(s, "type")), "object");
        cr_expect(json_is_false(json_object_get(s, "additionalProperties")));
        cr_expect_eq(json_array_size(json_object_get(s, "required")), 1);
        cr_expect(json_is_true(json_object_get(tc, "supported")));
        cr_expect_eq(json_array_size(json_object_get(tc, "properties")), 1);
        cr_expect_null(mine[i]->secrets[0]);
        cr_expect_not_null(mine[i]->write, "%s writes", mine[i]->type);
        cr_expect_not_null(mine[i]->write_begin, "%s writes", mine[i]->type);
        cr_expect_not_null(mine[i]->write_end, "%s writes", mine[i]->type);
        json_decref(s);
        json_decref(tc);
    }
    cr_expect(ms_connector_jsonl.flags & MS_CX_FREEFORM);
    cr_expect(!(ms_connector_csv.flags & MS_CX_FREEFORM));
}

static void
reg_expect_json(json_t *got, const char *want_text)
{
    json_t *want = json_loads(want_text, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);

    cr_assert_not_null(want, "bad expected JSON %s", want_text);
    cr_assert_not_null(got);
    if (!json_equal(got, want)) {
        char *g = json_dumps(got, JSON_COMPACT | JSON_ENCODE_ANY);

        cr_expect_fail("got %s, want %s", g, want_text);
        free(g);
    }
    json_decref(got);
    json_decref(want);
}

Test(cx_registry, values_as_json)
{
    struct ms_value v = {.type = MS_V_NULL};
    json_t *j;

    reg_expect_json(ms_value_to_json(&v), "null");
    v = (struct ms_value){.type = MS_V_INT, .u.i = INT64_MIN};
    reg_expect_json(ms_value_to_json(&v), "-9223372036854775808");
    v = (struct ms_value){.type = MS_V_REAL, .u.d = 2.5};
    reg_expect_json(ms_value_to_json(&v), "2.5");
    v = (struct ms_value){.type = MS_V_REAL, .u.d = NAN};
    reg_expect_json(ms_value_to_json(&v), "null");
    v = (struct ms_value){.type = MS_V_REAL, .u.d = INFINITY};
    reg_expect_json(ms_value_to_json(&v), "null");
    v = (struct ms_value){.type = MS_V_NUM, .u.s = {"1.5e-07", 7}};
    reg_expect_json(ms_value_to_json(&v), "1.5e-07");
    v = (struct ms_value){.type = MS_V_NUM, .u.s = {"12.50", 5}};
    reg_expect_json(ms_value_to_json(&v), "12.5");
    v = (struct ms_value){.type = MS_V_NUM, .u.s = {"3", 1}};
    j = ms_value_to_json(&v);
    cr_expect(json_is_real(j), "a NUM is a JSON real");
    json_decref(j);
    v = (struct ms_value){.type = MS_V_BOOL, .u.b = true};
    reg_expect_json(ms_value_to_json(&v), "true");
    v = (struct ms_value){.type = MS_V_TEXT, .u.s = {"h\xc3\xa9llo", 6}};
    reg_expect_json(ms_value_to_json(&v), "\"h\\u00e9llo\"");
    v = (struct ms_value){.type = MS_V_TEXT, .u.s = {"a\0b", 3}};
    reg_expect_json(ms_value_to_json(&v), "\"a\\u0000b\"");
    /* Latin-1 bytes and a truncated sequence become U+FFFD, the rest is kept. */
    v = (struct ms_value){.type = MS_V_TEXT, .u.s = {"caf\xe9 ok \xe2\x82", 10}};
    reg_expect_json(ms_value_to_json(&v), "\"caf\\ufffd ok \\ufffd\\ufffd\"");
}

/* Each space-separated word of list is (ok) or is not a finite JSON number. */
static void
reg_expect_nums(const char *list, bool ok)
{
    char *copy = strdup(list), *save = NULL;

    for (char *w = strtok_r(copy, " ", &save); w != NULL; w = strtok_r(NULL, " ", &save))
        cr_expect_eq(ms_value_num_ok(w, strlen(w)), ok, "[%s]", w);
    free(copy);
}

/* The JSON number grammar, and finite as a double. */
Test(cx_registry, num_grammar)
{
    reg_expect_nums("0 -0 1 -1 10 0.5 -0.5 1.25 1e5 1E5 1e+5 1e-5 1.5e-07 1e+100 5e-324 "
                    "-1.7976931348623157e+308 1.7976931348623157e+308 1e-400 1e308 9.99e307 "
                    "12345678901234567890.123 0.1e309 1e-99999999999999999999 "
                    "123456789012345678901234567890e-100",
                    true);
    reg_expect_nums("- +1 01 -01 00 .5 5. -.5 1.e5 1e 1e+ 1e- e5 1.5.5 0x10 NaN Infinity "
                    "-Infinity inf 1,5 --1 1e5.5 1ee5 2e308 1.8e308 -1e309 "
                    "1e99999999999999999999",
                    false);
    cr_expect(!ms_value_num_ok("", 0));
    cr_expect(!ms_value_num_ok(" 1", 2));
    cr_expect(!ms_value_num_ok("1 ", 2));
    cr_expect(ms_value_num_ok("12x", 2), "only len bytes are read");
    cr_expect(!ms_value_num_ok("1\0", 2), "a NUL byte is not a digit");
}

Test(cx_registry, num_grammar_huge_integer_parts)
{
    char *p = malloc(402);

    memset(p, '9', 401);
    p[401] = '\0';
    cr_expect(!ms_value_num_ok(p, 401), "400 nines overflow a double");
    cr_expect(ms_value_num_ok(p, 300), "300 do not");
    memcpy(p + 300, "e-100", 5);
    cr_expect(ms_value_num_ok(p, 305), "nor 300 nines e-100");
    p[0] = '1';
    memset(p + 1, '0', 400);
    memcpy(p + 396, "e-99", 4); /* 1 then 395 zeros, e-99: 1e296 */
    cr_expect(ms_value_num_ok(p, 400));
    free(p);
}

Test(cx_registry, value_numbers)
{
    struct ms_value v = {.type = MS_V_NUM, .u.s = {"0.1", 3}};
    char num[MS_VALUE_REAL_LEN], ibuf[MS_VALUE_INT_LEN];
    static const int64_t ints[] = {0,       1,          -1,        9,         10,
                                   -10,     99,         100,       101,       12345,
                                   -999999, 4294967296, INT64_MAX, INT64_MIN, INT64_MIN + 1};

    cr_expect(ms_value_double(&v) == 0.1);
    v = (struct ms_value){.type = MS_V_NUM, .u.s = {"-0", 2}};
    cr_expect(ms_value_double(&v) == 0 && signbit(ms_value_double(&v)));
    v = (struct ms_value){.type = MS_V_NUM, .u.s = {"5e-324", 6}};
    cr_expect(ms_value_double(&v) == 5e-324);
    v = (struct ms_value){.type = MS_V_REAL, .u.d = 2.5};
    cr_expect(ms_value_double(&v) == 2.5);
    v = (struct ms_value){.type = MS_V_INT, .u.i = -3};
    cr_expect(ms_value_double(&v) == -3.0);
    v = (struct ms_value){.type = MS_V_TEXT, .u.s = {"1", 1}};
    cr_expect(isnan(ms_value_double(&v)), "text is no number here");

    cr_expect_eq(ms_value_real_text(0.1, num), 3);
    cr_expect_str_eq(num, "0.1");
    ms_value_real_text(1.0 / 3, num);
    cr_expect_str_eq(num, "0.3333333333333333", "16 digits when 15 do not round-trip");
    ms_value_real_text(0.1 + 0.2, num);
    cr_expect_str_eq(num, "0.30000000000000004", "17 when 16 do not");
    ms_value_real_text(-1.7976931348623157e308, num);
    cr_expect_str_eq(num, "-1.7976931348623157e+308");
    ms_value_real_text(5e-324, num);
    cr_expect_str_eq(num, "4.94065645841247e-324", "15 digits read back as the subnormal");
    cr_expect(strtod(num, NULL) == 5e-324);
    ms_value_real_text(-0.0, num);
    cr_expect_str_eq(num, "-0");
    ms_value_real_text(1e21, num);
    cr_expect_str_eq(num, "1e+21");
    cr_expect_eq(ms_value_real_text(NAN, num), 0);
    cr_expect_str_eq(num, "");
    cr_expect_eq(ms_value_real_text(-INFINITY, num), 0);

    for (size_t i = 0; i < MS_ARRAY_LEN(ints); i++) {
        char want[32];
        size_t n = ms_value_int_text(ints[i], ibuf);

        snprintf(want, sizeof(want), "%lld", (long long)ints[i]);
        cr_expect(n == strlen(want) && strcmp(ibuf, want) == 0, "%s: [%s]", want, ibuf);
    }
}

Test(cx_registry, utf8_validation)
{
    cr_expect(ms_cx_utf8_valid("", 0));
    cr_expect(ms_cx_utf8_valid("plain", 5));
    cr_expect(ms_cx_utf8_valid("\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80", 9));
    cr_expect(!ms_cx_utf8_valid("\xc0\xaf", 2), "overlong");
    cr_expect(!ms_cx_utf8_valid("\xe0\x80\xaf", 3), "overlong");
    cr_expect(!ms_cx_utf8_valid("\xed\xa0\x80", 3), "surrogate");
    cr_expect(!ms_cx_utf8_valid("\xf4\x90\x80\x80", 4), "above U+10FFFF");
    cr_expect(!ms_cx_utf8_valid("\xe2\x82", 2), "truncated");
    cr_expect(!ms_cx_utf8_valid("\x80", 1), "lone continuation");
}

Test(cx_registry, rows_push_and_text)
{
    struct ms_arena *a = ms_arena_new();
    struct ms_rows rows = {.arena = a, .cap = 3, .ncols = 2};
    struct ms_error err = {0};
    struct ms_value *r0, *r1;
    char src[] = "abc";

    r0 = ms_rows_push(&rows);
    cr_assert_eq(rows.nrows, 1);
    cr_expect_eq(r0, rows.cells);
    cr_expect_eq(r0[0].type, MS_V_NULL);
    cr_expect_eq(r0[1].type, MS_V_NULL);
    cr_assert_eq(ms_value_set_text(&rows, &r0[1], src, 3, &err), MS_OK);
    src[0] = 'X'; /* the cell holds a copy */
    cr_expect_eq(r0[1].type, MS_V_TEXT);
    cr_expect_eq(r0[1].u.s.len, 3);
    cr_expect_str_eq(r0[1].u.s.p, "abc");
    r1 = ms_rows_push(&rows);
    cr_expect_eq(r1, rows.cells + 2);
    cr_expect_eq(r1[0].type, MS_V_NULL);
    cr_assert_eq(ms_value_set_text(&rows, &r1[0], "", 0, &err), MS_OK);
    cr_expect_eq(r1[0].u.s.len, 0);
    cr_expect_str_eq(r1[0].u.s.p, "");
    cr_expect_str_eq(rows.cells[1].u.s.p, "abc");
    ms_rows_push(&rows);
    cr_expect_eq(rows.nrows, 3);

    /* A new batch: the caller resets the arena and nrows; cells are allocated again. */
    ms_arena_reset(a);
    rows.nrows = 0;
    r0 = ms_rows_push(&rows);
    cr_expect_eq(rows.nrows, 1);
    cr_expect_eq(r0[1].type, MS_V_NULL);
    ms_arena_free(a);
}

Test(cx_registry, text_over_the_cap_is_refused)
{
    struct ms_arena *a = ms_arena_new();
    struct ms_rows rows = {.arena = a, .cap = 1, .ncols = 1};
    struct ms_error err = {0};
    char *big = calloc(1, MS_MAX_VALUE_BYTES + 1);
    struct ms_value *r = ms_rows_push(&rows);

    cr_assert_not_null(big);
    cr_expect_eq(ms_value_set_text(&rows, r, big, MS_MAX_VALUE_BYTES + 1, &err), MS_ETOOBIG);
    cr_expect_eq(r->type, MS_V_NULL);
    cr_expect_eq(ms_value_set_text(&rows, r, big, MS_MAX_VALUE_BYTES, &err), MS_OK);
    cr_expect_eq(r->u.s.len, MS_MAX_VALUE_BYTES);
    free(big);
    ms_arena_free(a);
}

Test(cx_registry, push_past_cap_aborts, .signal = SIGABRT)
{
    struct ms_arena *a = ms_arena_new();
    struct ms_rows rows = {.arena = a, .cap = 1, .ncols = 1};

    ms_rows_push(&rows);
    ms_rows_push(&rows);
}

Test(cx_registry, supported_mode_shape)
{
    reg_expect_json(ms_cx_mode("update", true),
                    "{\"id\": \"update\", \"requires_identity\": true,"
                    " \"supports_per_field_mode\": false, \"supports_target_filters\": false}");
    reg_expect_json(ms_cx_mode("append", false),
                    "{\"id\": \"append\", \"requires_identity\": false,"
                    " \"supports_per_field_mode\": false, \"supports_target_filters\": false}");
}

Test(cx_registry, file_names)
{
    char long_name[300];

    cr_expect(ms_cx_file_name_ok("users.csv", 9, ".csv"));
    cr_expect(ms_cx_file_name_ok(".hidden.csv", 11, ".csv"));
    cr_expect(ms_cx_file_name_ok("a.jsonl", 7, ".jsonl"));
    cr_expect(!ms_cx_file_name_ok("a.jsonl", 7, ".csv"));
    cr_expect(!ms_cx_file_name_ok(".csv", 4, ".csv"), "nothing before the extension");
    cr_expect(!ms_cx_file_name_ok("", 0, ".csv"));
    cr_expect(!ms_cx_file_name_ok("..", 2, ".csv"));
    cr_expect(!ms_cx_file_name_ok("../x.csv", 8, ".csv"));
    cr_expect(!ms_cx_file_name_ok("a/b.csv", 7, ".csv"));
    cr_expect(!ms_cx_file_name_ok("a\0b.csv", 7, ".csv"));
    cr_expect(!ms_cx_file_name_ok("users.CSV", 9, ".csv"));
    memset(long_name, 'x', sizeof(long_name));
    memcpy(long_name + 251, ".csv", 5);
    cr_expect(ms_cx_file_name_ok(long_name, 255, ".csv"));
    memcpy(long_name + 252, ".csv", 5);
    cr_expect(!ms_cx_file_name_ok(long_name, 256, ".csv"));
}

Test(cx_registry, open_failure_leaves_out_untouched)
{
    struct ms_cx *cx = (struct ms_cx *)&cx; /* sentinel */
    struct ms_error err = {0};
    json_t *cfg = json_pack("{s:s}", "path", "/nonexistent-dir-for-modelsync/x.db");

    cr_expect_eq(ms_cx_open(&ms_connector_sqlite, cfg, &cx, &err), MS_EUPSTREAM);
    cr_expect_eq(cx, (struct ms_cx *)&cx);
    cr_expect(strstr(err.msg, "cannot open /nonexistent-dir-for-modelsync/x.db") != NULL, "%s",
              err.msg);
    ms_cx_close(NULL);
    json_decref(cfg);
}
