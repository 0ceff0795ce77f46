/*
 * schedules.c: A5, GET /api/syncs/schedules (API.md §5.5, §8.9): the frequencies a model sync
 * may use here, each with a JSON-Schema-like description of the Schedule members it reads.
 * The list mirrors model/sync.c (which members are kept) and sched/cron.c (what they accept);
 * multi and dbtcloud are not offered. The answer is fixed text, parsed per request.
 */
#include "api/api_int.h"

static enum ms_status schedules_options(struct ms_req *req, struct ms_error *err);

const struct ms_route ms_api_schedules_routes[] = {
    {"GET", "/api/syncs/schedules", schedules_options, 0},
    {NULL, NULL, NULL, 0},
};

#define SCHED_MINUTE                                                                               \
    "\"minute\": {\"type\": \"string\", \"title\": \"Minute\", \"pattern\": \"^[0-9]{1,2}$\","     \
    " \"description\": \"0-59\"}"
#define SCHED_HOUR                                                                                 \
    "\"hour\": {\"type\": \"string\", \"title\": \"Hour (UTC)\", \"pattern\": \"^[0-9]{1,2}$\","   \
    " \"description\": \"0-23, in UTC\"}"
#define SCHED_DOW                                                                                  \
    "\"day_of_week\": {\"type\": \"string\", \"title\": \"Day of week\", \"enum\": [\"sunday\","   \
    " \"monday\", \"tuesday\", \"wednesday\", \"thursday\", \"friday\", \"saturday\"],"            \
    " \"description\": \"a day name in any case (or mon..sun, or 0-7 with 0 and 7 = Sunday)\"}"
#define SCHED_CRON(key, title, range)                                                              \
    "\"" key "\": {\"type\": \"string\", \"title\": \"" title "\", \"default\": \"*\","            \
    " \"description\": \"cron field over " range ": *, a value, lists a,b, ranges a-b,"            \
    " steps */n or a-b/n; absent means *\"}"
#define SCHED_C_MIN SCHED_CRON("minute", "Minute", "0-59")
#define SCHED_C_HOUR SCHED_CRON("hour", "Hour (UTC)", "0-23")
#define SCHED_C_DOM SCHED_CRON("day_of_month", "Day of month", "1-31")
#define SCHED_C_MONTH SCHED_CRON("month", "Month", "1-12")
#define SCHED_C_DOW SCHED_CRON("day_of_week", "Day of week", "0-7 (0 and 7 = Sunday) or sun..sat")
#define SCHED_CRON_ALL                                                                             \
    "{\"type\": \"object\", \"properties\": {" SCHED_C_MIN ", " SCHED_C_HOUR ", " SCHED_C_DOM      \
    ", " SCHED_C_MONTH ", " SCHED_C_DOW "}}"

static const char schedules_json[] =
    "{\"schedule_options\": ["
    "{\"frequency\": \"manual\", \"label\": \"Manual\","
    " \"description\": \"Runs when manually triggered\", \"configuration\": {}},"
    "{\"frequency\": \"continuous\", \"label\": \"Continuous\","
    " \"description\": \"Runs again as soon as the previous run finishes\","
    " \"configuration\": {}},"
    "{\"frequency\": \"hourly\", \"label\": \"Hourly\","
    " \"description\": \"Runs every hour at the given minute\","
    " \"configuration\": {\"type\": \"object\", \"required\": [\"minute\"],"
    " \"properties\": {" SCHED_MINUTE "}}},"
    "{\"frequency\": \"daily\", \"label\": \"Daily\","
    " \"description\": \"Runs once a day at the given UTC time\","
    " \"configuration\": {\"type\": \"object\", \"required\": [\"hour\", \"minute\"],"
    " \"properties\": {" SCHED_HOUR ", " SCHED_MINUTE "}}},"
    "{\"frequency\": \"weekly\", \"label\": \"Weekly\","
    " \"description\": \"Runs once a week on the given day at the given UTC time\","
    " \"configuration\": {\"type\": \"object\","
    " \"required\": [\"day_of_week\", \"hour\", \"minute\"],"
    " \"properties\": {" SCHED_DOW ", " SCHED_HOUR ", " SCHED_MINUTE "}}},"
    "{\"frequency\": \"custom\", \"label\": \"Custom\","
    " \"description\": \"Runs when the UTC time matches the five cron fields\","
    " \"configuration\": " SCHED_CRON_ALL "},"
    "{\"frequency\": \"builder\", \"label\": \"Schedule builder\","
    " \"description\": \"Runs when the UTC time matches the five cron fields (as custom)\","
    " \"configuration\": " SCHED_CRON_ALL "},"
    "{\"frequency\": \"runafter\", \"label\": \"Run after other syncs\","
    " \"description\": \"Runs when the given syncs of this organization finish\","
    " \"configuration\": {\"type\": \"object\", \"required\": [\"run_after\"],"
    " \"properties\": {\"run_after\": {\"type\": \"object\", \"required\": [\"sync_ids\"],"
    " \"properties\": {\"sync_ids\": {\"type\": \"array\", \"minItems\": 1,"
    " \"items\": {\"type\": \"string\", \"format\": \"uuid\"}}}},"
    " \"run_after_success_only\": {\"type\": \"boolean\", \"default\": false,"
    " \"description\": \"run only when every upstream run completed without failing\"}}}}"
    "]}";

static enum ms_status
schedules_options(struct ms_req *req, struct ms_error *err)
{
    json_error_t jerr;
    json_t *v = json_loads(schedules_json, 0, &jerr);

    if (v == NULL)
        return ms_fail(err, MS_EINTERNAL, "schedule options: %s", jerr.text);
    req->reply = ms_api_data(v);
    return MS_OK;
}
