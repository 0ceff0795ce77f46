/*
 * routes.c: the order in which http/router.c tries the resource route tables. Within a table and
 * across tables a literal segment beats a {param}, so the order only matters for readability.
 */
#include "api/api.h"

#include <stddef.h>

const struct ms_route *const ms_api_route_tables[] = {
    ms_api_identity_routes,
    ms_api_organization_routes,
    ms_api_connection_types_routes,
    ms_api_connections_routes,
    ms_api_models_routes,
    ms_api_jobs_routes,
    ms_api_sources_routes,
    ms_api_targets_routes,
    ms_api_syncs_routes,
    ms_api_schedules_routes,
    ms_api_executions_routes,
    ms_api_execution_logs_routes,
    NULL,
};
