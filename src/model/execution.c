/*
 * execution.c: the execution codecs (API.md §3.12, §4.3): which states are terminal, and the
 * Execution object served by B1, B2 and inside A12. ExecutionCounts has irregular keys (upserts
 * and warnings plural, the others singular) that are emitted exactly as named. Times that are
 * not known yet are omitted, never "". Pure functions, any thread.
 */
#include "model/model.h"

#include <string.h>

/* UtilExecutionStatus values that end an execution (API.md §4.3). */
static const char *const exec_terminal[] = {"completed", "failed", "canceled", "interrupted"};

bool
ms_exec_status_terminal(const char *status)
{
    if (status == NULL)
        return false;
    for (size_t i = 0; i < MS_ARRAY_LEN(exec_terminal); i++)
        if (strcmp(status, exec_terminal[i]) == 0)
            return true;
    return false;
}

static json_t *
exec_counts_json(const struct ms_counts *c)
{
    return json_pack("{s:I, s:I, s:I, s:I, s:I, s:I, s:I}", "total", (json_int_t)c->total, "insert",
                     (json_int_t)c->insert, "update", (json_int_t)c->update, "upserts",
                     (json_int_t)c->upserts, "delete", (json_int_t)c->delete, "error",
                     (json_int_t)c->error, "warnings", (json_int_t)c->warnings);
}

/* Set key to a string unless s is NULL. */
static void
exec_set_str(json_t *obj, const char *key, const char *s)
{
    if (s != NULL)
        json_object_set_new(obj, key, json_string(s));
}

json_t *
ms_exec_to_json(const struct ms_execution *ex)
{
    json_t *obj = json_object();

    exec_set_str(obj, "id", ex->id);
    exec_set_str(obj, "status", ex->status);
    exec_set_str(obj, "type", ex->type);
    ms_json_set_time(obj, "created_at", ex->created_at);
    ms_json_set_time(obj, "started_at", ex->started_at);
    ms_json_set_time(obj, "completed_at", ex->completed_at);
    json_object_set_new(obj, "counts", exec_counts_json(&ex->counts));
    json_object_set_new(obj, "errors",
                        json_is_array(ex->errors) ? json_deep_copy(ex->errors) : json_array());
    return obj;
}
