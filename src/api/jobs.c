/*
 * jobs.c: C18 GET /api/jobs/{type}/{id}. modelsync runs every model operation synchronously and
 * ignores `async` (API.md §13 D17), so it never creates a job: a well-formed request names no
 * job that exists and is answered 404. The type is still checked, so a bad one is a 400 as the
 * contract says.
 */
#include "api/api_int.h"

#include <string.h>

static enum ms_status jobs_get(struct ms_req *req, struct ms_error *err);

const struct ms_route ms_api_jobs_routes[] = {
    {"GET", "/api/jobs/{type}/{id}", jobs_get, 0},
    {NULL, NULL, NULL, 0},
};

static const char *const jobs_types[] = {
    "createmodel", "updatemodel", "previewmodel", "samplemodel", "exportlogs",
};

static enum ms_status
jobs_get(struct ms_req *req, struct ms_error *err)
{
    const char *type = ms_req_param(req, "type");
    size_t i;

    for (i = 0; i < MS_ARRAY_LEN(jobs_types); i++)
        if (type != NULL && strcmp(type, jobs_types[i]) == 0)
            return ms_fail_key(err, MS_ENOTFOUND, "not_found",
                               "no such job: model operations run synchronously and create no "
                               "jobs");
    return ms_fail_at(err, MS_EINVAL, "type",
                      "unknown job type; expected createmodel, updatemodel, previewmodel, "
                      "samplemodel or exportlogs");
}
