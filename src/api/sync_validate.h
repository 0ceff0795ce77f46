/*
 * sync_validate.h: the part of sync validation that needs the store and the target connector
 * (sync_validate.c), shared by the handlers of syncs.c. Only api/ includes it.
 */
#ifndef MS_API_SYNC_VALIDATE_H
#define MS_API_SYNC_VALIDATE_H

#include <jansson.h>
#include "api/api.h"
#include "core/error.h"

/*
 * Check a configuration from ms_sync_parse() against the caller's organization and the target:
 *
 *  - the schedule's clock members (ms_sched_validate, 400) and run_after: every sync id an
 *    existing sync of the org, not self_id, and no cycle back to self_id (422);
 *  - every Source a model of the org with that field; filter/override field_ids fields of the
 *    sync's models (422);
 *  - target.connection_id a connection of the org whose connector is a destination; D8 for
 *    the mappings (ms_sync_check_mappings, with the free-form exception); target.object one of
 *    its objects, mode one of that object's modes (422 unsupported_mode), identity present when
 *    the mode requires one, per-field sync_mode and Target filters only where the mode supports
 *    them, and every mapping / identity target a field of the object unless the connector's
 *    fields are free-form (422).
 *
 * With target.create the properties must be the connector's target_creation properties; once
 * everything that does not depend on the new object is valid, the object is created (columns:
 * the identity target and every mapping target, typed after their source fields) and config's
 * target gets its id in `object` instead of `create`. self_id is the sync being updated, NULL
 * on create. All errors name the member (err->field). Runs on an MHD pool thread.
 */
enum ms_status ms_api_sync_validate(struct ms_req *req, json_t *config, const char *self_id,
                                    struct ms_error *err);

#endif
