/*
 * test_model_sync.c: tests for src/model/sync.c and sync_filter.c. Normalization of a create
 * body (defaults, dropped members, precedence rules), each validation class with its status and
 * member path, filter operand shapes, the filter_logic grammar and its binding to labels,
 * model_ids derivation, the SyncResponse / ListSyncItem codecs, and the GET → PUT fixed point
 * (parsing a served sync gives back the stored configuration).
 */
#include <criterion/criterion.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <jansson.h>

#include "model/model.h"

#define MSY_M1 "248df4b7-aa70-47b8-a036-33ac447e668d"
#define MSY_M2 "98765432-1234-1234-1234-123456789012"
#define MSY_CONN "0b155265-c537-44c9-9359-a3ceb468a4da"

/* A valid minimal body with `extra` members merged over it (extra is a JSON object text). */
static json_t *
msy_body(const char *extra)
{
    json_t *b = json_pack("{s:s, s:s, s:{s:s, s:s}, s:[{s:s, s:{s:s, s:s}}], s:{}}", "name",
                          "Users", "mode", "updateOrCreate", "target", "connection_id", MSY_CONN,
                          "object", "users", "fields", "target", "email", "source", "field",
                          "email", "model_id", MSY_M1, "schedule");
    json_t *x;

    cr_assert_not_null(b);
    if (extra != NULL) {
        x = json_loads(extra, 0, NULL);
        cr_assert_not_null(x, "test JSON: %s", extra);
        json_object_update(b, x);
        json_decref(x);
    }
    return b;
}

/* Parse body; on success *cfg is a new reference. */
static enum ms_status
msy_parse(json_t *body, json_t **cfg, int *active, struct ms_error *err)
{
    int act = 42;
    enum ms_status st;

    *cfg = NULL;
    ms_error_clear(err);
    st = ms_sync_parse(body, cfg, active != NULL ? active : &act, err);
    json_decref(body);
    return st;
}

/* Parsing msy_body(extra) must fail with st naming field. */
static void
msy_expect_fail(const char *extra, enum ms_status st, const char *field)
{
    struct ms_error err;
    json_t *cfg;

    cr_expect_eq(msy_parse(msy_body(extra), &cfg, NULL, &err), st, "%s: got %s (%s)", extra,
                 ms_status_name(err.status), err.msg);
    cr_expect_str_eq(err.field, field, "%s: %s", extra, err.msg);
    cr_expect_null(cfg);
}

static void
msy_expect_ok(const char *extra, json_t **cfg)
{
    struct ms_error err;

    cr_assert_eq(msy_parse(msy_body(extra), cfg, NULL, &err), MS_OK, "%s: %s", extra, err.msg);
}

/* The compact sorted dump of config.key, for comparisons. */
static char *
msy_dump(const json_t *cfg, const char *key)
{
    return ms_json_dump(key != NULL ? json_object_get(cfg, key) : cfg);
}

static void
msy_expect_member(const json_t *cfg, const char *key, const char *want)
{
    char *got = msy_dump(cfg, key);

    cr_expect_str_eq(got, want, "member %s", key);
    free(got);
}

Test(model_sync, minimal_defaults)
{
    json_t *cfg;
    int active = 7;
    struct ms_error err;

    cr_assert_eq(msy_parse(msy_body(NULL), &cfg, &active, &err), MS_OK, "%s", err.msg);
    cr_expect_eq(active, -1, "active absent");
    msy_expect_member(cfg, "schedule", "{\"frequency\":\"manual\"}");
    msy_expect_member(cfg, "override_fields", "[]");
    msy_expect_member(cfg, "filters", "[]");
    msy_expect_member(cfg, "overrides", "[]");
    msy_expect_member(cfg, "policies", "[]");
    msy_expect_member(cfg, "sync_all_records", "false");
    msy_expect_member(cfg, "skip_initial_backfill", "false");
    msy_expect_member(cfg, "only_enrich_updates", "false");
    cr_expect_null(json_object_get(cfg, "identity"));
    cr_expect_null(json_object_get(cfg, "filter_logic"));
    cr_expect_null(json_object_get(cfg, "active"), "active is a column, not configuration");
    cr_expect_null(json_object_get(cfg, "encryption_passphrase"));
    msy_expect_member(cfg, "target", "{\"connection_id\":\"" MSY_CONN "\",\"object\":\"users\"}");
    json_decref(cfg);
}

Test(model_sync, active_and_ignored_members)
{
    json_t *cfg;
    int active = 7;
    struct ms_error err;

    cr_assert_eq(msy_parse(msy_body("{\"active\": false, \"id\": \"x\", \"model_ids\": [1],"
                                    "\"created_at\": 5, \"organization_id\": \"o\","
                                    "\"whatever\": {\"deep\": 1}}"),
                           &cfg, &active, &err),
                 MS_OK, "%s", err.msg);
    cr_expect_eq(active, 0);
    cr_expect_null(json_object_get(cfg, "id"));
    cr_expect_null(json_object_get(cfg, "model_ids"));
    cr_expect_null(json_object_get(cfg, "whatever"));
    cr_expect_null(json_object_get(cfg, "organization_id"));
    json_decref(cfg);
    cr_assert_eq(msy_parse(msy_body("{\"active\": true}"), &cfg, &active, &err), MS_OK);
    cr_expect_eq(active, 1);
    json_decref(cfg);
    cr_assert_eq(msy_parse(msy_body("{\"active\": null, \"identity\": null}"), &cfg, &active, &err),
                 MS_OK, "null reads as absent");
    cr_expect_eq(active, -1);
    json_decref(cfg);
}

Test(model_sync, required_members)
{
    struct ms_error err;
    json_t *cfg;

    cr_expect_eq(msy_parse(json_object(), &cfg, NULL, &err), MS_EINVAL);
    cr_expect_str_eq(err.field, "name");
    cr_expect(strstr(err.msg, "name, mode, target, fields, schedule") != NULL, "%s", err.msg);
    cr_expect_eq(msy_parse(json_pack("{s:s,s:s,s:n,s:{s:s}}", "name", "n", "mode", "create",
                                     "fields", "target", "connection_id", MSY_CONN),
                           &cfg, NULL, &err),
                 MS_EINVAL, "Go leaves fields and schedule out");
    cr_expect_str_eq(err.field, "fields");
    cr_expect(strstr(err.msg, "fields, schedule") != NULL, "%s", err.msg);
    cr_expect_eq(msy_parse(json_array(), &cfg, NULL, &err), MS_EINVAL);
}

Test(model_sync, type_and_enum_errors)
{
    msy_expect_fail("{\"name\": 5}", MS_EINVAL, "name");
    msy_expect_fail("{\"name\": \"\"}", MS_EINVAL, "name");
    msy_expect_fail("{\"mode\": \"enrich\"}", MS_EINVAL, "mode");
    msy_expect_fail("{\"mode\": \"Create\"}", MS_EINVAL, "mode");
    msy_expect_fail("{\"active\": \"yes\"}", MS_EINVAL, "active");
    msy_expect_fail("{\"target\": []}", MS_EINVAL, "target");
    msy_expect_fail("{\"target\": {\"object\": \"users\"}}", MS_EINVAL, "target.connection_id");
    msy_expect_fail("{\"target\": {\"connection_id\": \"nope\", \"object\": \"t\"}}", MS_EINVAL,
                    "target.connection_id");
    msy_expect_fail("{\"target\": {\"connection_id\": \"" MSY_CONN "\", \"object\": 3}}", MS_EINVAL,
                    "target.object");
    msy_expect_fail("{\"target\": {\"connection_id\": \"" MSY_CONN
                    "\", \"create\": {\"table\": 1}}}",
                    MS_EINVAL, "target.create.table");
    msy_expect_fail("{\"target\": {\"connection_id\": \"" MSY_CONN
                    "\", \"object\": \"t\", \"configuration\": 1}}",
                    MS_EINVAL, "target.configuration");
    msy_expect_fail("{\"fields\": {}}", MS_EINVAL, "fields");
    msy_expect_fail("{\"fields\": [{\"target\": \"a\", \"override_value\": \"x\"}, 5]}", MS_EINVAL,
                    "fields[1]");
    msy_expect_fail("{\"fields\": [{\"override_value\": \"x\"}]}", MS_EINVAL, "fields[0].target");
    msy_expect_fail("{\"fields\": [{\"target\": \"a\", \"source\": {\"field\": \"f\"}}]}",
                    MS_EINVAL, "fields[0].source.model_id");
    msy_expect_fail("{\"fields\": [{\"target\": \"a\", \"source\": {\"field\": \"f\", "
                    "\"model_id\": \"m\"}}]}",
                    MS_EINVAL, "fields[0].source.model_id");
    msy_expect_fail("{\"fields\": [{\"target\": \"a\", \"override_value\": 5}]}", MS_EINVAL,
                    "fields[0].override_value");
    msy_expect_fail("{\"fields\": [{\"target\": \"a\", \"override_value\": \"5\", "
                    "\"sync_mode\": \"always\"}]}",
                    MS_EINVAL, "fields[0].sync_mode");
    msy_expect_fail("{\"override_fields\": [{\"target\": \"a\", \"new\": \"yes\", "
                    "\"override_value\": \"v\"}]}",
                    MS_EINVAL, "override_fields[0].new");
    msy_expect_fail("{\"policies\": [\"x\"]}", MS_EINVAL, "policies[0]");
    msy_expect_fail("{\"sync_all_records\": 1}", MS_EINVAL, "sync_all_records");
    msy_expect_fail("{\"encryption_passphrase\": 1}", MS_EINVAL, "encryption_passphrase");
}

/* ms_sync_check_mappings() on msy_body(extra) parsed, for a typed or a free-form target. */
static void
msy_check_mappings(const char *extra, bool freeform, enum ms_status want, const char *field)
{
    struct ms_error err;
    json_t *cfg;

    msy_expect_ok(extra, &cfg);
    ms_error_clear(&err);
    cr_expect_eq(ms_sync_check_mappings(cfg, freeform, &err), want, "%s (freeform %d): %s", extra,
                 freeform, err.msg);
    cr_expect_str_eq(err.field, field, "%s", extra);
    json_decref(cfg);
}

Test(model_sync, d8_mappings)
{
    msy_check_mappings(NULL, false, MS_OK, "");
    msy_check_mappings(NULL, true, MS_OK, "");
    msy_check_mappings("{\"fields\": []}", false, MS_EUNPROC, "fields");
    msy_check_mappings("{\"fields\": []}", true, MS_EUNPROC, "fields");
    msy_check_mappings("{\"fields\": [{\"target\": \"name\"}]}", false, MS_EUNPROC,
                       "fields[0].source");
    msy_check_mappings("{\"fields\": [{\"target\": \"name\", \"override_value\": \"x\"}]}", false,
                       MS_OK, "");
    msy_check_mappings("{\"fields\": [{\"target\": \"name\", \"override_value\": \"x\"}]}", true,
                       MS_EUNPROC, "fields");
    msy_check_mappings("{\"override_fields\": [{\"target\": \"name\"}]}", false, MS_EUNPROC,
                       "override_fields[0].source");
    msy_check_mappings("{\"override_fields\": [{\"target\": \"name\"}], \"fields\": [{\"target\": "
                       "\"a\"}, {\"target\": \"b\", \"source\": {\"field\": \"f\", \"model_id\": "
                       "\"" MSY_M1 "\"}}]}",
                       true, MS_OK, "");
}

Test(model_sync, semantic_errors)
{
    msy_expect_fail("{\"fields\": [{\"target\": \"a\", \"override_value\": \"v\", "
                    "\"encryption_enabled\": true}]}",
                    MS_EUNSUPP, "fields[0].encryption_enabled");
    msy_expect_fail("{\"target\": {\"connection_id\": \"" MSY_CONN "\"}}", MS_EUNPROC,
                    "target.object");
    msy_expect_fail("{\"target\": {\"connection_id\": \"" MSY_CONN
                    "\", \"object\": \"t\", \"create\": {\"table\": \"t\"}}}",
                    MS_EUNPROC, "target.create");
}

Test(model_sync, mappings_normalized)
{
    json_t *cfg;

    msy_expect_ok("{\"fields\": [{\"target\": \"a\", \"source\": {\"field\": \"f\", \"model_id\": "
                  "\"248DF4B7-AA70-47B8-A036-33AC447E668D\", \"x\": 1}, \"sync_mode\": \"create\","
                  "\"new\": false, \"encryption_enabled\": false, \"extra\": 1}]}",
                  &cfg);
    msy_expect_member(cfg, "fields",
                      "[{\"new\":false,\"source\":{\"field\":\"f\",\"model_id\":\"" MSY_M1
                      "\"},\"sync_mode\":\"create\",\"target\":\"a\"}]");
    json_decref(cfg);
}

Test(model_sync, target_members)
{
    json_t *cfg;

    msy_expect_ok("{\"target\": {\"connection_id\": \"0B155265-C537-44C9-9359-A3CEB468A4DA\","
                  "\"create\": {\"table\": \"t\"}, \"new_name\": \"n\", \"configuration\": "
                  "{\"k\": [1]}, \"filter_logic\": \"A\", \"search_values\": {\"s\": 1}, "
                  "\"junk\": 1}}",
                  &cfg);
    msy_expect_member(cfg, "target",
                      "{\"configuration\":{\"k\":[1]},\"connection_id\":\"" MSY_CONN
                      "\",\"create\":{\"table\":\"t\"},\"filter_logic\":\"A\",\"new_name\":\"n\","
                      "\"search_values\":{\"s\":1}}");
    json_decref(cfg);
}

Test(model_sync, identity)
{
    json_t *cfg;

    msy_expect_ok("{\"identity\": {\"source\": {\"field\": \"id\", \"model_id\": \"" MSY_M1
                  "\"}, \"target\": \"id\"}}",
                  &cfg);
    msy_expect_member(
        cfg, "identity",
        "{\"function\":\"Equality\",\"source\":{\"field\":\"id\",\"model_id\":\"" MSY_M1
        "\"},\"target\":\"id\"}");
    json_decref(cfg);
    msy_expect_fail("{\"identity\": {\"source\": {\"field\": \"id\", \"model_id\": \"" MSY_M1
                    "\"}, \"target\": \"id\", \"function\": \"OneOf\"}}",
                    MS_EUNSUPP, "identity.function");
    msy_expect_fail("{\"identity\": {\"source\": {\"field\": \"id\", \"model_id\": \"" MSY_M1
                    "\"}, \"target\": \"id\", \"function\": \"equality\"}}",
                    MS_EINVAL, "identity.function");
    msy_expect_fail("{\"identity\": {\"target\": \"id\"}}", MS_EINVAL, "identity.source");
    msy_expect_fail("{\"identity\": {\"source\": {\"field\": \"id\", \"model_id\": \"" MSY_M1
                    "\"}}}",
                    MS_EINVAL, "identity.target");
    msy_expect_fail("{\"identity\": \"id\"}", MS_EINVAL, "identity");
}

Test(model_sync, schedules)
{
    json_t *cfg;

    msy_expect_ok("{\"schedule\": {\"frequency\": \"daily\", \"hour\": \"12\", \"minute\": "
                  "\"30\", \"day_of_week\": \"monday\", \"job_id\": 1, \"run_after\": {}}}",
                  &cfg);
    msy_expect_member(cfg, "schedule",
                      "{\"frequency\":\"daily\",\"hour\":\"12\",\"minute\":\"30\"}");
    json_decref(cfg);
    msy_expect_ok("{\"schedule\": {\"hour\": \"12\"}}", &cfg);
    msy_expect_member(cfg, "schedule", "{\"frequency\":\"manual\"}");
    json_decref(cfg);
    msy_expect_ok("{\"schedule\": {\"frequency\": \"custom\", \"minute\": \"*/15\", \"month\": "
                  "\"1-6\"}}",
                  &cfg);
    msy_expect_member(cfg, "schedule",
                      "{\"frequency\":\"custom\",\"minute\":\"*/15\",\"month\":\"1-6\"}");
    json_decref(cfg);
    msy_expect_ok("{\"schedule\": {\"frequency\": \"runafter\", \"run_after\": {\"sync_ids\": "
                  "[\"" MSY_M2 "\"], \"bulk_sync_ids\": []}, \"run_after_success_only\": true, "
                  "\"hour\": \"1\"}}",
                  &cfg);
    msy_expect_member(cfg, "schedule",
                      "{\"frequency\":\"runafter\",\"run_after\":{\"bulk_sync_ids\":[],"
                      "\"sync_ids\":[\"" MSY_M2 "\"]},\"run_after_success_only\":true}");
    json_decref(cfg);
    msy_expect_fail("{\"schedule\": {\"frequency\": \"fortnightly\"}}", MS_EINVAL,
                    "schedule.frequency");
    msy_expect_fail("{\"schedule\": {\"frequency\": \"multi\"}}", MS_EINVAL, "schedule.frequency");
    msy_expect_fail("{\"schedule\": {\"frequency\": \"dbtcloud\"}}", MS_EINVAL,
                    "schedule.frequency");
    msy_expect_fail("{\"schedule\": {\"frequency\": 1}}", MS_EINVAL, "schedule.frequency");
    msy_expect_fail("{\"schedule\": {\"frequency\": \"hourly\", \"minute\": 5}}", MS_EINVAL,
                    "schedule.minute");
    msy_expect_fail("{\"schedule\": \"daily\"}", MS_EINVAL, "schedule");
    msy_expect_fail("{\"schedule\": {\"frequency\": \"runafter\"}}", MS_EUNPROC,
                    "schedule.run_after.sync_ids");
    msy_expect_fail("{\"schedule\": {\"frequency\": \"runafter\", \"run_after\": {\"sync_ids\": "
                    "[\"bad\"]}}}",
                    MS_EINVAL, "schedule.run_after.sync_ids[0]");
    msy_expect_fail("{\"schedule\": {\"frequency\": \"runafter\", \"run_after\": {\"sync_ids\": "
                    "[\"" MSY_M2 "\"], \"bulk_sync_ids\": [\"" MSY_M1 "\"]}}}",
                    MS_EUNPROC, "schedule.run_after.bulk_sync_ids");
}

/* One filter with function fn and value text (NULL: no value) parses with status st. */
static void
msy_filter_case(const char *fn, const char *value, enum ms_status st, const char *field)
{
    char extra[512];

    snprintf(extra, sizeof(extra),
             "{\"filters\": [{\"field_id\": \"age\", \"function\": \"%s\"%s%s}]}", fn,
             value != NULL ? ", \"value\": " : "", value != NULL ? value : "");
    if (st == MS_OK) {
        json_t *cfg;

        msy_expect_ok(extra, &cfg);
        json_decref(cfg);
    } else {
        msy_expect_fail(extra, st, field);
    }
}

Test(model_sync, filter_operands)
{
    static const struct {
        const char *fn, *value;
        bool ok;
    } cases[] = {
        {"Equality", "\"a\"", true},
        {"Equality", "5", true},
        {"Inequality", "true", true},
        {"Equality", NULL, false},
        {"Equality", "[1]", false},
        {"IsNull", NULL, true},
        {"IsNotNull", "1", false},
        {"True", NULL, true},
        {"False", "false", false},
        {"OnOrAfter", "\"2024-01-15\"", true},
        {"OnOrBefore", "\"2024-01-15T09:30:00Z\"", true},
        {"OnOrAfter", "\"yesterday\"", false},
        {"OnOrAfter", "\"2024-13-01\"", false},
        {"OnOrAfter", "20240115", false},
        {"GreaterThan", "3.5", true},
        {"GreaterThanEqual", "\"-12.5\"", true},
        {"LessThan", "\"2024-01-15\"", true},
        {"LessThanEqual", "\"ten\"", false},
        {"LessThan", "true", false},
        {"StringContains", "\"x\"", true},
        {"StringDoesNotEndWith", "1", false},
        {"StringLike", "\"a%_\"", true},
        {"StringMatchesTrimmed", "\" a \"", true},
        {"StringOneOf", "[\"a\", \"b\"]", true},
        {"StringOneOf", "[]", true},
        {"StringNotOneOf", "\"a\"", false},
        {"Between", "[1, 10]", true},
        {"Between", "[\"2024-01-01\", \"2024-02-01\"]", true},
        {"Between", "[1]", false},
        {"Between", "[1, 2, 3]", false},
        {"Between", "[1, {}]", false},
        {"ArrayContains", "\"x\"", true},
        {"ArrayDoesNotContain", "{}", false},
        {"InTheLast", "{\"value\": 3, \"unit\": \"days\"}", true},
        {"RelativeOnOrBefore", "{\"value\": 2, \"unit\": \"weeks\"}", true},
        {"RelativeOnOrAfter", "\"3 days\"", false},
    };

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        msy_filter_case(cases[i].fn, cases[i].value, cases[i].ok ? MS_OK : MS_EINVAL,
                        cases[i].ok ? "" : "filters[0].value");
    msy_filter_case("StringOneOf", "[\"a\", 2]", MS_EINVAL, "filters[0].value[1]");
    msy_filter_case("InTheLast", "{\"value\": \"3\", \"unit\": \"days\"}", MS_EINVAL,
                    "filters[0].value.value");
    msy_filter_case("InTheLast", "{\"value\": 3}", MS_EINVAL, "filters[0].value.unit");
    msy_filter_case("InTheLast", "{\"value\": 0, \"unit\": \"days\"}", MS_EINVAL,
                    "filters[0].value.value");
    msy_filter_case("InTheLast", "{\"value\": 3, \"unit\": \"years\"}", MS_EINVAL,
                    "filters[0].value.unit");
    msy_filter_case("RelativeOnOrAfter", "{\"value\": 1.5, \"unit\": \"hours\"}", MS_EINVAL,
                    "filters[0].value.value");
    msy_filter_case("RelativeOnOrAfter", "{\"value\": -2, \"unit\": \"months\"}", MS_OK, "");
    msy_filter_case("Similar", "\"x\"", MS_EINVAL, "filters[0].function");
    msy_filter_case("equality", "\"x\"", MS_EINVAL, "filters[0].function");
}

Test(model_sync, filters_normalized)
{
    json_t *cfg;

    msy_expect_ok("{\"filters\": [{\"field\": {\"field\": \"id\", \"model_id\": \"" MSY_M1
                  "\"}, \"field_id\": \"ignored\", \"function\": \"InTheLast\", \"value\": "
                  "{\"value\": 3, \"unit\": \"days\", \"junk\": 1}, \"label\": \"A\", \"x\": 1},"
                  "{\"field_id\": \"status\", \"field_type\": \"Model\", \"function\": \"IsNull\","
                  "\"label\": \"\"}]}",
                  &cfg);
    msy_expect_member(cfg, "filters",
                      "[{\"field\":{\"field\":\"id\",\"model_id\":\"" MSY_M1
                      "\"},\"function\":\"InTheLast\",\"label\":\"A\",\"value\":{\"unit\":"
                      "\"days\",\"value\":3}},{\"field_id\":\"status\",\"field_type\":\"Model\","
                      "\"function\":\"IsNull\"}]");
    json_decref(cfg);
    msy_expect_fail("{\"filters\": [{\"function\": \"IsNull\"}]}", MS_EINVAL, "filters[0].field");
    msy_expect_fail("{\"filters\": [{\"field_id\": \"a\"}]}", MS_EINVAL, "filters[0].function");
    msy_expect_fail("{\"filters\": [{\"field_id\": \"a\", \"function\": \"IsNull\", "
                    "\"field_type\": \"Remote\"}]}",
                    MS_EINVAL, "filters[0].field_type");
    msy_expect_fail("{\"filters\": [{\"field\": {\"field\": \"id\", \"model_id\": \"" MSY_M1
                    "\"}, \"function\": \"IsNull\", \"field_type\": \"Target\"}]}",
                    MS_EINVAL, "filters[0].field_type");
    msy_expect_fail("{\"filters\": [{\"field_id\": \"a\", \"function\": \"IsNull\", \"label\": "
                    "\"A\"}, {\"field_id\": \"b\", \"function\": \"IsNull\", \"label\": \"A\"}]}",
                    MS_EUNPROC, "filters[1].label");
    msy_expect_fail("{\"filters\": [{\"field_id\": \"a\", \"function\": \"IsNull\", \"label\": "
                    "\"and\"}]}",
                    MS_EINVAL, "filters[0].label");
    msy_expect_fail("{\"filters\": [{\"field_id\": \"a\", \"function\": \"IsNull\", \"label\": "
                    "\"a b\"}]}",
                    MS_EINVAL, "filters[0].label");
}

Test(model_sync, overrides_normalized)
{
    json_t *cfg;

    msy_expect_ok("{\"overrides\": [{\"field_id\": \"field1\", \"field\": {\"field\": \"x\"},"
                  "\"function\": \"Equality\", \"value\": \"value\", \"override\": \"new\"},"
                  "{\"field\": {\"field\": \"id\", \"model_id\": \"" MSY_M2 "\"}, \"value\": 3,"
                  "\"override\": {\"any\": [1]}},"
                  "{\"field_id\": \"f\", \"override\": null}]}",
                  &cfg);
    msy_expect_member(cfg, "overrides",
                      "[{\"field_id\":\"field1\",\"function\":\"Equality\",\"override\":\"new\","
                      "\"value\":\"value\"},{\"field\":{\"field\":\"id\",\"model_id\":\"" MSY_M2
                      "\"},\"function\":\"Equality\",\"override\":{\"any\":[1]},\"value\":3},"
                      "{\"field_id\":\"f\"}]");
    json_decref(cfg);
    msy_expect_fail("{\"overrides\": [{\"override\": 1}]}", MS_EINVAL, "overrides[0].field_id");
    msy_expect_fail("{\"overrides\": [{\"field_id\": \"a\", \"function\": \"Between\", \"value\": "
                    "1}]}",
                    MS_EINVAL, "overrides[0].value");
    msy_expect_fail("{\"overrides\": [{\"field_id\": \"a\", \"function\": \"Nope\"}]}", MS_EINVAL,
                    "overrides[0].function");
    msy_expect_fail("{\"overrides\": [{\"field\": {\"field\": \"id\", \"model_id\": \"z\"}}]}",
                    MS_EINVAL, "overrides[0].field.model_id");
}

/* The AST of text as a fully parenthesized string. */
static void
msy_flx_str(const struct ms_flx *n, char *out, size_t cap)
{
    char a[256] = "", b[256] = "";

    switch (n->kind) {
    case MS_FLX_LABEL:
        snprintf(out, cap, "%s", n->label);
        return;
    case MS_FLX_NOT:
        msy_flx_str(n->a, a, sizeof(a));
        snprintf(out, cap, "!%s", a);
        return;
    default:
        msy_flx_str(n->a, a, sizeof(a));
        msy_flx_str(n->b, b, sizeof(b));
        snprintf(out, cap, "(%s %s %s)", a, n->kind == MS_FLX_AND ? "&" : "|", b);
    }
}

static void
msy_logic(const char *text, enum ms_status want, const char *tree)
{
    struct ms_arena *a = ms_arena_new();
    struct ms_flx *ast = NULL;
    struct ms_error err;
    char got[512];
    enum ms_status st = ms_filter_logic_parse(a, text, &ast, &err);

    cr_expect_eq(st, want, "\"%s\": %s", text, err.msg);
    if (st == MS_OK && tree != NULL) {
        msy_flx_str(ast, got, sizeof(got));
        cr_expect_str_eq(got, tree, "\"%s\"", text);
    }
    if (st != MS_OK)
        cr_expect_str_eq(err.field, "filter_logic");
    ms_arena_free(a);
}

Test(model_sync, filter_logic_grammar)
{
    char deep[400];
    size_t n = 0;

    msy_logic("A", MS_OK, "A");
    msy_logic("A AND B", MS_OK, "(A & B)");
    msy_logic("A or B and not C", MS_OK, "(A | (B & !C))");
    msy_logic("(A Or B) AnD C", MS_OK, "((A | B) & C)");
    msy_logic("NOT NOT A", MS_OK, "!!A");
    msy_logic("A AND B AND C OR D", MS_OK, "(((A & B) & C) | D)");
    msy_logic(" \t(\n(A) ) ", MS_OK, "A");
    msy_logic("not (A or B1_x)", MS_OK, "!(A | B1_x)");
    msy_logic("ANDY and ORB", MS_OK, "(ANDY & ORB)");
    msy_logic("", MS_EINVAL, NULL);
    msy_logic("   ", MS_EINVAL, NULL);
    msy_logic("A AND", MS_EINVAL, NULL);
    msy_logic("AND A", MS_EINVAL, NULL);
    msy_logic("(A", MS_EINVAL, NULL);
    msy_logic("A)", MS_EINVAL, NULL);
    msy_logic("A B", MS_EINVAL, NULL);
    msy_logic("A && B", MS_EINVAL, NULL);
    msy_logic("()", MS_EINVAL, NULL);
    msy_logic("A NOT B", MS_EINVAL, NULL);
    for (int i = 0; i < 70; i++)
        deep[n++] = '(';
    deep[n++] = 'A';
    for (int i = 0; i < 70; i++)
        deep[n++] = ')';
    deep[n] = '\0';
    msy_logic(deep, MS_EINVAL, NULL);
    n = 0;
    for (int i = 0; i < MS_FILTER_LOGIC_DEPTH; i++)
        deep[n++] = '(';
    deep[n++] = 'A';
    for (int i = 0; i < MS_FILTER_LOGIC_DEPTH; i++)
        deep[n++] = ')';
    deep[n] = '\0';
    msy_logic(deep, MS_OK, "A");
}

Test(model_sync, filter_logic_bind)
{
    json_t *cfg;
    struct ms_arena *a = ms_arena_new();
    struct ms_flx *ast = NULL;
    json_t *filters = json_pack("[{s:s},{s:s},{}]", "label", "B", "label", "A");

    cr_assert_eq(ms_filter_logic_parse(a, "A or not B", &ast, NULL), MS_OK);
    cr_assert_eq(ms_filter_logic_bind(ast, filters, NULL), MS_OK);
    cr_expect_eq(ast->a->index, 1);
    cr_expect_eq(ast->b->a->index, 0);
    cr_assert_eq(ms_filter_logic_parse(a, "A or a", &ast, NULL), MS_OK);
    cr_expect_eq(ms_filter_logic_bind(ast, filters, NULL), MS_EUNPROC, "labels are case-sensitive");
    json_decref(filters);
    ms_arena_free(a);

    msy_expect_ok("{\"filters\": [{\"field_id\": \"a\", \"function\": \"IsNull\", \"label\": "
                  "\"A\"}, {\"field_id\": \"b\", \"function\": \"True\", \"label\": \"B\"}],"
                  "\"filter_logic\": \"A or (not B)\"}",
                  &cfg);
    msy_expect_member(cfg, "filter_logic", "\"A or (not B)\"");
    json_decref(cfg);
    msy_expect_ok("{\"filter_logic\": \"\"}", &cfg);
    cr_expect_null(json_object_get(cfg, "filter_logic"), "an empty expression is no expression");
    json_decref(cfg);
    msy_expect_fail("{\"filters\": [{\"field_id\": \"a\", \"function\": \"IsNull\", \"label\": "
                    "\"A\"}], \"filter_logic\": \"A AND C\"}",
                    MS_EUNPROC, "filter_logic");
    msy_expect_fail("{\"filter_logic\": \"A\"}", MS_EUNPROC, "filter_logic");
    msy_expect_fail("{\"filters\": [{\"field_id\": \"a\", \"function\": \"IsNull\", \"label\": "
                    "\"A\"}], \"filter_logic\": \"A AND\"}",
                    MS_EINVAL, "filter_logic");
    msy_expect_fail("{\"filter_logic\": 3}", MS_EINVAL, "filter_logic");
}

Test(model_sync, model_ids_order)
{
    json_t *cfg, *ids;
    char *s;

    msy_expect_ok("{\"fields\": [{\"target\": \"a\", \"override_value\": \"x\"},"
                  "{\"target\": \"b\", \"source\": {\"field\": \"f\", \"model_id\": \"" MSY_M2
                  "\"}}, {\"target\": \"c\", \"source\": {\"field\": \"g\", \"model_id\": \"" MSY_M2
                  "\"}}],"
                  "\"identity\": {\"source\": {\"field\": \"id\", \"model_id\": \"" MSY_M1
                  "\"}, \"target\": \"id\"},"
                  "\"filters\": [{\"field\": {\"field\": \"z\", \"model_id\": "
                  "\"00000000-0000-0000-0000-000000000003\"}, \"function\": \"True\"}],"
                  "\"overrides\": [{\"field\": {\"field\": \"z\", \"model_id\": "
                  "\"00000000-0000-0000-0000-000000000004\"}, \"override\": 1},"
                  "{\"field_id\": \"q\", \"field\": {\"field\": \"z\", \"model_id\": "
                  "\"00000000-0000-0000-0000-000000000005\"}}]}",
                  &cfg);
    ids = ms_sync_model_ids(cfg);
    s = ms_json_dump(ids);
    cr_expect_str_eq(s,
                     "[\"" MSY_M2 "\",\"" MSY_M1 "\",\"00000000-0000-0000-0000-000000000003\","
                     "\"00000000-0000-0000-0000-000000000004\"]",
                     "field_id wins in overrides, so the 5th model is not referenced");
    free(s);
    json_decref(ids);
    json_decref(cfg);
}

Test(model_sync, caps)
{
    json_t *body = msy_body(NULL), *fields = json_array(), *cfg;
    struct ms_error err;

    for (int i = 0; i <= MS_SYNC_MAX_ITEMS; i++)
        json_array_append_new(fields, json_pack("{s:s,s:s}", "target", "t", "override_value", "v"));
    json_object_set_new(body, "fields", fields);
    cr_expect_eq(msy_parse(body, &cfg, NULL, &err), MS_ETOOBIG);
    cr_expect_str_eq(err.field, "fields");
}

/* A stored sync around cfg (borrowed). */
static void
msy_sync(struct ms_sync *y, json_t *cfg)
{
    memset(y, 0, sizeof(*y));
    y->id = "11111111-2222-3333-4444-555555555555";
    y->org_id = "66666666-7777-8888-9999-000000000000";
    y->active = true;
    y->created_at = 1705311000000;
    y->updated_at = 1705311060123;
    y->created_by = (struct ms_actor){"12345678-1234-1234-1234-123456789012", "Jo", "user"};
    ms_sync_set_config(y, cfg);
}

Test(model_sync, response_codec)
{
    json_t *cfg, *o;
    struct ms_sync y;
    char *s;

    msy_expect_ok("{\"encryption_passphrase\": \"secret\", \"identity\": {\"source\": {\"field\": "
                  "\"id\", \"model_id\": \"" MSY_M1 "\"}, \"target\": \"id\"}}",
                  &cfg);
    cr_expect_str_eq(json_string_value(json_object_get(cfg, "encryption_passphrase")), "secret");
    msy_sync(&y, cfg);
    cr_expect_str_eq(y.name, "Users");
    cr_expect_str_eq(y.mode, "updateOrCreate");
    cr_expect_str_eq(y.target_connection_id, MSY_CONN);
    cr_expect_str_eq(y.target_object, "users");
    o = ms_sync_to_json(&y);
    cr_expect_null(json_object_get(o, "encryption_passphrase"), "D6: never returned");
    cr_expect_str_eq(json_string_value(json_object_get(o, "created_at")),
                     "2024-01-15T09:30:00.000Z");
    cr_expect_str_eq(json_string_value(json_object_get(o, "updated_at")),
                     "2024-01-15T09:31:00.123Z");
    cr_expect_null(json_object_get(o, "updated_by"), "unknown actors are omitted");
    s = ms_json_dump(json_object_get(o, "created_by"));
    cr_expect_str_eq(s, "{\"id\":\"12345678-1234-1234-1234-123456789012\",\"name\":\"Jo\","
                        "\"type\":\"user\"}");
    free(s);
    s = ms_json_dump(json_object_get(o, "model_ids"));
    cr_expect_str_eq(s, "[\"" MSY_M1 "\"]", "derived when the row has none");
    free(s);
    {
        static const char *const always[] = {"id",
                                             "organization_id",
                                             "name",
                                             "active",
                                             "mode",
                                             "target",
                                             "fields",
                                             "schedule",
                                             "model_ids",
                                             "sync_all_records",
                                             "skip_initial_backfill",
                                             "only_enrich_updates",
                                             "created_at",
                                             "updated_at",
                                             "identity",
                                             "override_fields",
                                             "filters",
                                             "overrides",
                                             "policies"};

        for (size_t i = 0; i < sizeof(always) / sizeof(always[0]); i++)
            cr_expect_not_null(json_object_get(o, always[i]), "%s", always[i]);
    }
    cr_expect_null(json_object_get(o, "filter_logic"));
    json_decref(o);
    o = ms_sync_list_item(&y);
    s = ms_json_dump(o);
    cr_expect_str_eq(s, "{\"active\":true,\"created_at\":\"2024-01-15T09:30:00.000Z\","
                        "\"created_by\":{\"id\":\"12345678-1234-1234-1234-123456789012\","
                        "\"name\":\"Jo\",\"type\":\"user\"},"
                        "\"id\":\"11111111-2222-3333-4444-555555555555\",\"mode\":"
                        "\"updateOrCreate\",\"model_ids\":[\"" MSY_M1 "\"],\"name\":\"Users\","
                        "\"only_enrich_updates\":false,\"organization_id\":"
                        "\"66666666-7777-8888-9999-000000000000\",\"schedule\":{\"frequency\":"
                        "\"manual\"},\"skip_initial_backfill\":false,\"sync_all_records\":false,"
                        "\"target_connection_id\":\"" MSY_CONN "\",\"target_object\":\"users\","
                        "\"updated_at\":\"2024-01-15T09:31:00.123Z\"}");
    free(s);
    json_decref(o);
    json_decref(cfg);
}

Test(model_sync, get_put_fixed_point)
{
    static const char *full =
        "{\"name\": \"Users Sync\", \"active\": false, \"mode\": \"updateOrCreate\","
        "\"target\": {\"connection_id\": \"" MSY_CONN "\", \"object\": \"Users\","
        "\"configuration\": {\"key\": \"value\"}},"
        "\"identity\": {\"function\": \"Equality\", \"source\": {\"field\": \"id\", \"model_id\": "
        "\"" MSY_M1 "\"}, \"target\": \"name\", \"new_field\": false},"
        "\"fields\": [{\"source\": {\"field\": \"id\", \"model_id\": \"" MSY_M1 "\"},"
        "\"target\": \"name\", \"sync_mode\": \"create\"}],"
        "\"override_fields\": [{\"override_value\": \"fixed_value\", \"target\": \"name\"}],"
        "\"filters\": [{\"field\": {\"field\": \"id\", \"model_id\": \"" MSY_M1 "\"},"
        "\"function\": \"Equality\", \"label\": \"A\", \"value\": \"value\"}],"
        "\"filter_logic\": \"A\","
        "\"overrides\": [{\"field_id\": \"field1\", \"function\": \"Equality\", \"value\": "
        "\"value\", \"override\": \"new_value\"}],"
        "\"schedule\": {\"frequency\": \"weekly\", \"day_of_week\": \"Monday\", \"hour\": \"12\","
        "\"minute\": \"30\"},"
        "\"policies\": [\"" MSY_M2 "\"], \"sync_all_records\": true}";
    json_t *cfg, *cfg2, *served;
    struct ms_sync y;
    int active = 5;
    struct ms_error err;
    char *a, *b;

    cr_assert_eq(msy_parse(json_loads(full, 0, NULL), &cfg, &active, &err), MS_OK, "%s", err.msg);
    cr_expect_eq(active, 0);
    msy_sync(&y, cfg);
    y.active = false;
    served = ms_sync_to_json(&y);
    cr_assert_eq(msy_parse(json_deep_copy(served), &cfg2, &active, &err), MS_OK, "%s", err.msg);
    cr_expect_eq(active, 0);
    a = ms_json_dump(cfg);
    b = ms_json_dump(cfg2);
    cr_expect_str_eq(a, b, "parsing the served sync gives back what is stored");
    free(a);
    free(b);
    json_decref(served);
    json_decref(cfg);
    json_decref(cfg2);
}
