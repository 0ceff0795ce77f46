#!/usr/bin/env bash
# 90-syncs: the Model Sync configuration API (API.md §3, §5.3-§5.9, D4-D9, D11, D16, D23,
# DECISIONS §3-§4). A5 lists the offered frequencies with their configuration schemas and wins
# over GET /api/syncs/{id}. A4 creates syncs and echoes every member it stored (normalized:
# schedule members the frequency does not use are dropped, the passphrase is never returned,
# model_ids derived, audit actors and RFC 3339 times set); 400 for malformed input and 422 for
# well-formed references that do not hold, each naming the member in metadata.field; target.create
# makes a real SQLite table and CSV file and returns the new object in target.object; webhook
# targets take free-form field names. A6 reads, A7 replaces (active absent keeps the stored value;
# PATCH is an alias) and round-trips a GET body, A9 toggles active, A8 deletes (409 while another
# sync runs after it). run_after ids must exist, not be the sync itself, and not form a cycle.
# A second organization sees none of this and cannot touch it (404 / absent / 422).
cd "$(dirname "$0")/../.." || exit 1
. tests/api/lib.sh
TIME_RE='^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\\.[0-9]+)?Z$'
NOID=0f0e9c2a-1b2c-4d5e-8f90-a1b2c3d4e5f6

# expect_err STATUS KEY FIELD DESC: an ApiError naming FIELD in metadata.field ("" = no check).
expect_err() {
    expect_error "$1" "$2" "$4"
    if [ -n "$3" ]; then
        expect_jq ".metadata.field == \"$3\" and (.message | startswith(\"$3\"))" "$4: names $3"
    fi
}

# Org B first (its keys are kept), then the default organization; one server for both.
ms_init "Other Org" "other@example.com"
B_KEY=$API_KEY
ms_init "Test Org" "test@example.com"
ms_serve

sqlite3 "$T_DIR/src.db" "CREATE TABLE users (id INTEGER PRIMARY KEY, email TEXT NOT NULL,
    name TEXT, age INTEGER, updated_at TEXT);
    INSERT INTO users VALUES (1, 'a@example.com', 'Ann', 31, '2024-01-01T00:00:00Z');
    CREATE TABLE orders (order_id INTEGER PRIMARY KEY, user_id INTEGER, total REAL);"
sqlite3 "$T_DIR/dst.db" "CREATE TABLE contacts (id INTEGER PRIMARY KEY, email TEXT,
    full_name TEXT, age INTEGER, source TEXT);"
mkdir -p "$T_DIR/files"
printf 'email,name\n' >"$T_DIR/files/existing.csv"

req POST /api/connections "{\"name\":\"Source\",\"type\":\"sqlite\",\"configuration\":{\"path\":\"$T_DIR/src.db\"}}"
SRC=$(jqr .data.id)
req POST /api/connections "{\"name\":\"Warehouse\",\"type\":\"sqlite\",\"configuration\":{\"path\":\"$T_DIR/dst.db\"}}"
DST=$(jqr .data.id)
req POST /api/connections "{\"name\":\"Files\",\"type\":\"csv\",\"configuration\":{\"directory\":\"$T_DIR/files\"}}"
CSV=$(jqr .data.id)
req POST /api/connections '{"name":"Hook","type":"webhook","configuration":{"url":"http://127.0.0.1:9/hook"}}'
HOOK=$(jqr .data.id)
req POST /api/models "{\"name\":\"Users\",\"connection_id\":\"$SRC\",\"configuration\":{\"table\":\"users\"},\"identifier\":\"id\"}"
M=$(jqr .data.id)
req POST /api/models "{\"name\":\"Orders\",\"connection_id\":\"$SRC\",\"configuration\":{\"table\":\"orders\"}}"
M2=$(jqr .data.id)
check '[ -n "$SRC" ] && [ -n "$DST" ] && [ -n "$CSV" ] && [ -n "$HOOK" ] && [ -n "$M" ] && [ -n "$M2" ]' "setup: connections and models"

# Org B's own connection and model, for cross-organization references.
AUTH="Bearer $B_KEY" req POST /api/connections "{\"name\":\"B src\",\"type\":\"sqlite\",\"configuration\":{\"path\":\"$T_DIR/src.db\"}}"
B_CONN=$(jqr .data.id)
AUTH="Bearer $B_KEY" req POST /api/models "{\"name\":\"B users\",\"connection_id\":\"$B_CONN\",\"configuration\":{\"table\":\"users\"}}"
B_MODEL=$(jqr .data.id)

# body JQ: the base sync body transformed by the jq program JQ.
body() {
    jq -nc --arg m "$M" --arg m2 "$M2" --arg dst "$DST" --arg csv "$CSV" --arg hook "$HOOK" \
        --arg bconn "$B_CONN" --arg bmodel "$B_MODEL" --arg noid "$NOID" \
        '{name: "Users to contacts", mode: "updateOrCreate",
          target: {connection_id: $dst, object: "contacts"},
          identity: {source: {model_id: $m, field: "id"}, target: "id"},
          fields: [{source: {model_id: $m, field: "email"}, target: "email"},
                   {source: {model_id: $m, field: "name"}, target: "full_name"}],
          schedule: {frequency: "daily", hour: "3", minute: "0"}} | '"$1"
}

# --- A5 schedule options
req GET /api/syncs/schedules
expect_status 200 "A5"
expect_jq '[.data.schedule_options[].frequency] == ["manual","continuous","hourly","daily","weekly","custom","builder","runafter"]' "A5 frequencies"
expect_jq 'all(.data.schedule_options[]; (.label | length > 0) and (.description | length > 0) and (.configuration | type == "object"))' "A5 label, description, configuration"
expect_jq '(.data.schedule_options[] | select(.frequency == "daily") | .configuration.required) == ["hour","minute"]' "A5 daily needs hour and minute"
expect_jq '(.data.schedule_options[] | select(.frequency == "manual") | .configuration) == {}' "A5 manual uses nothing"
expect_jq '.data.schedule_options[] | select(.frequency == "custom") | .configuration.properties | keys == ["day_of_month","day_of_week","hour","minute","month"]' "A5 custom uses the five cron fields"

# --- A4 create: the full body, echoed
FULL=$(body '.active = false | .fields += [{override_value: "api", target: "source"}]
  | .override_fields = [{override_value: "x", target: "source"}]
  | .filters = [{field: {model_id: $m, field: "age"}, field_id: "ignored", function: "GreaterThan", value: 18, label: "A"},
                {field_id: "email", function: "StringEndsWith", value: "@example.com", label: "B"},
                {field_id: "name", function: "InTheLast", value: {value: 3, unit: "days"}}]
  | .filter_logic = "A and not (B)"
  | .overrides = [{field_id: "name", field: {model_id: $m2, field: "total"}, function: "IsNull", override: "anonymous"}]
  | .schedule = {frequency: "weekly", day_of_week: "Monday", hour: "9", minute: "30", month: "4", run_after: {sync_ids: []}}
  | .policies = ["8E5DCFDD-D23D-4E6F-A136-119E1254847B"]
  | .sync_all_records = true | .encryption_passphrase = "hunter2"
  | .target.configuration = {batch: 10} | .id = $noid | .model_ids = ["x"] | .created_at = "bogus"')
req POST /api/syncs "$FULL"
expect_status 200 "A4 create, full body"
S1=$(jqr .data.id)
S1_BODY=$(cat "$RESP")
expect_jq '.data.id | test("^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[0-9a-f]{4}-[0-9a-f]{12}$")' "A4 server-generated id"
check '[ "$S1" != "$NOID" ]' "A4 ignores a client id"
expect_jq ".data.organization_id == \"$ORG_ID\"" "A4 organization_id"
expect_jq '.data.name == "Users to contacts" and .data.active == false and .data.mode == "updateOrCreate"' "A4 name, active, mode"
expect_jq ".data.target == {connection_id: \"$DST\", object: \"contacts\", configuration: {batch: 10}}" "A4 target"
expect_jq ".data.identity == {source: {field: \"id\", model_id: \"$M\"}, target: \"id\", function: \"Equality\"}" "A4 identity with the default function"
expect_jq ".data.fields == [{target: \"email\", source: {field: \"email\", model_id: \"$M\"}}, {target: \"full_name\", source: {field: \"name\", model_id: \"$M\"}}, {target: \"source\", override_value: \"api\"}]" "A4 fields"
expect_jq '.data.override_fields == [{target: "source", override_value: "x"}]' "A4 override_fields"
expect_jq ".data.filters[0] == {function: \"GreaterThan\", field: {field: \"age\", model_id: \"$M\"}, value: 18, label: \"A\"}" "A4 filter: field wins, field_id dropped"
expect_jq '.data.filters[2].value == {value: 3, unit: "days"} and .data.filter_logic == "A and not (B)"' "A4 relative operand, filter_logic"
expect_jq '.data.overrides == [{field_id: "name", function: "IsNull", override: "anonymous"}]' "A4 override: field_id wins, field dropped"
expect_jq '.data.schedule == {frequency: "weekly", day_of_week: "Monday", hour: "9", minute: "30"}' "A4 schedule keeps only the weekly members"
expect_jq '.data.policies == ["8e5dcfdd-d23d-4e6f-a136-119e1254847b"]' "A4 policies lowercased"
expect_jq ".data.model_ids == [\"$M\"]" "A4 model_ids derived (field_id overrides reference no model)"
expect_jq '.data.sync_all_records == true and .data.skip_initial_backfill == false and .data.only_enrich_updates == false' "A4 flags"
expect_jq '(.data | has("encryption_passphrase")) | not' "A4 never returns the passphrase (D6)"
expect_jq ".data.created_at | test(\"$TIME_RE\")" "A4 created_at RFC 3339 UTC"
expect_jq '.data.created_at == .data.updated_at' "A4 created_at == updated_at"
expect_jq ".data.created_by == {id: \"$USER_ID\", name: \"test@example.com\", type: \"user\"} and .data.updated_by == .data.created_by" "A4 actors"

req POST /api/syncs "$(body '.name = "Defaults" | del(.identity) | .mode = "create" | .schedule = {}')"
expect_status 200 "A4 minimal create"
S2=$(jqr .data.id)
expect_jq '.data.active == true' "A4 active defaults to true (D4)"
expect_jq '.data.schedule == {frequency: "manual"}' "A4 schedule {} is manual (D5)"
expect_jq '.data.filters == [] and .data.overrides == [] and .data.override_fields == [] and .data.policies == []' "A4 empty arrays"
expect_jq '(.data | has("identity") or has("filter_logic")) | not' "A4 unset members omitted"

req POST /api/syncs "$(body ".organization_id = \"$ORG_ID\" | .name = \"Own org\"")"
expect_status 200 "A4 organization_id equal to the caller's (D11)"
S3=$(jqr .data.id)
req POST /api/syncs "$(body ".organization_id = \"$NOID\"")"
expect_err 403 forbidden organization_id "A4 organization_id of another organization"
AUTH="Basic $(printf '%s:' "$ORG_KEY" | base64 -w0)" req POST /api/syncs "$(body '.name = "By org key"')"
expect_status 200 "A4 with the organization key"
expect_jq ".data.created_by.type == \"organization\" and .data.created_by.id == \"$ORG_ID\"" "A4 organization actor"
S4=$(jqr .data.id)

# --- A4: 400 for malformed input, each naming the member
req POST /api/syncs '{"name": '
expect_err 400 invalid_request "" "malformed JSON"
req POST /api/syncs '[]'
expect_err 400 invalid_request "" "array body"
req POST /api/syncs ''
expect_err 400 invalid_request "" "empty body"
req POST /api/syncs '{}'
expect_err 400 invalid_request name "nothing given"
expect_jq '.message | contains("name, mode, target, fields, schedule")' "all missing members listed"
req POST /api/syncs "$(body 'del(.fields, .schedule)')"
expect_err 400 invalid_request fields "Go body without fields and schedule"
expect_jq '.message | contains("fields, schedule")' "both missing members listed"
req POST /api/syncs "$(body '.mode = "enrich"')"
expect_err 400 invalid_request mode "unknown mode"
req POST /api/syncs "$(body '.name = 7')"
expect_err 400 invalid_request name "name not a string"
req POST /api/syncs "$(body '.active = "yes"')"
expect_err 400 invalid_request active "active not a boolean"
req POST /api/syncs "$(body '.schedule = {frequency: "fortnightly"}')"
expect_err 400 invalid_request schedule.frequency "unknown frequency"
req POST /api/syncs "$(body '.schedule = {frequency: "multi"}')"
expect_err 400 invalid_request schedule.frequency "multi not offered"
req POST /api/syncs "$(body '.schedule = {frequency: "dbtcloud", job_id: 1}')"
expect_err 400 invalid_request schedule.frequency "dbtcloud not offered"
req POST /api/syncs "$(body '.schedule = {frequency: "daily", hour: "25", minute: "0"}')"
expect_err 400 invalid_request schedule.hour "hour 25"
req POST /api/syncs "$(body '.schedule = {frequency: "hourly"}')"
expect_err 400 invalid_request schedule.minute "hourly without minute"
req POST /api/syncs "$(body '.schedule = {frequency: "weekly", day_of_week: "someday", hour: "1", minute: "0"}')"
expect_err 400 invalid_request schedule.day_of_week "unknown day"
req POST /api/syncs "$(body '.schedule = {frequency: "custom", minute: "*/0"}')"
expect_err 400 invalid_request schedule.minute "cron step 0"
req POST /api/syncs "$(body '.schedule = {frequency: "custom", day_of_month: "30", month: "2"}')"
expect_err 400 invalid_request schedule.day_of_month "30 February never comes"
req POST /api/syncs "$(body '.schedule = {frequency: "custom", minute: 5}')"
expect_err 400 invalid_request schedule.minute "cron field not a string"
req POST /api/syncs "$(body '.fields[1] |= del(.target)')"
expect_err 400 invalid_request "fields[1].target" "mapping without target"
req POST /api/syncs "$(body '.fields[0].source.model_id = "nope"')"
expect_err 400 invalid_request "fields[0].source.model_id" "malformed model_id"
req POST /api/syncs "$(body '.target.connection_id = "nope"')"
expect_err 400 invalid_request target.connection_id "malformed connection_id"
req POST /api/syncs "$(body '.filters = [{field_id: "age", function: "Between", value: [1]}]')"
expect_err 400 invalid_request "filters[0].value" "Between with one bound"
req POST /api/syncs "$(body '.filters = [{field_id: "age", function: "IsNull", value: 1}]')"
expect_err 400 invalid_request "filters[0].value" "IsNull with a value"
req POST /api/syncs "$(body '.filters = [{field_id: "age", function: "Like"}]')"
expect_err 400 invalid_request "filters[0].function" "unknown filter function"
req POST /api/syncs "$(body '.filters = [{field_id: "age", function: "IsNull", label: "A"}] | .filter_logic = "A AND"')"
expect_err 400 invalid_request filter_logic "filter_logic syntax"
req POST /api/syncs "$(body '.identity.function = "Fuzzy"')"
expect_err 400 invalid_request identity.function "unknown identity function"

# --- A4: 422 for references that do not hold
req POST /api/syncs "$(body '.target.connection_id = $noid')"
expect_err 422 validation_failed target.connection_id "unknown connection"
req POST /api/syncs "$(body '.target.connection_id = $bconn')"
expect_err 422 validation_failed target.connection_id "another organization's connection"
req POST /api/syncs "$(body '.target.object = "nope"')"
expect_err 422 validation_failed target.object "unknown target object"
req POST /api/syncs "$(body '.mode = "snapshot"')"
expect_err 422 unsupported_mode mode "mode the table does not offer"
expect_jq '.message == "mode: target object \"contacts\" does not support mode \"snapshot\""' "unsupported_mode message (API.md §8.10)"
req POST /api/syncs "$(body '.mode = "update" | del(.identity)')"
expect_err 422 validation_failed identity "update without identity"
req POST /api/syncs "$(body '.fields[0].source.model_id = $noid')"
expect_err 422 validation_failed "fields[0].source.model_id" "unknown model"
req POST /api/syncs "$(body '.fields[0].source.model_id = $bmodel')"
expect_err 422 validation_failed "fields[0].source.model_id" "another organization's model"
req POST /api/syncs "$(body '.fields[1].source.field = "nick"')"
expect_err 422 validation_failed "fields[1].source.field" "unknown model field"
req POST /api/syncs "$(body '.fields[1].target = "nick"')"
expect_err 422 validation_failed "fields[1].target" "unknown target field"
req POST /api/syncs "$(body '.identity.target = "nick"')"
expect_err 422 validation_failed identity.target "unknown identity target"
req POST /api/syncs "$(body '.identity.source.field = "nick"')"
expect_err 422 validation_failed identity.source.field "unknown identity source"
req POST /api/syncs "$(body '.fields = []')"
expect_err 422 validation_failed fields "empty fields (D8)"
req POST /api/syncs "$(body '.fields = [{target: "full_name"}]')"
expect_err 422 validation_failed "fields[0].source" "mapping with neither source nor override_value (D8)"
req POST /api/syncs "$(body '.fields[0].encryption_enabled = true')"
expect_err 422 unsupported "fields[0].encryption_enabled" "field encryption (D6)"
req POST /api/syncs "$(body '.identity.function = "OneOf"')"
expect_err 422 unsupported identity.function "identity function other than Equality"
req POST /api/syncs "$(body '.fields[0].sync_mode = "create"')"
expect_err 422 validation_failed "fields[0].sync_mode" "per-field mode the target lacks"
req POST /api/syncs "$(body '.filters = [{field_id: "age", function: "IsNull", label: "A"}] | .filter_logic = "A or C"')"
expect_err 422 validation_failed filter_logic "filter_logic with an unknown label"
req POST /api/syncs "$(body '.filters = [{field_id: "shoe_size", function: "IsNull"}]')"
expect_err 422 validation_failed "filters[0].field_id" "filter on an unknown field"
req POST /api/syncs "$(body '.filters = [{field: {model_id: $m, field: "shoe_size"}, function: "IsNull"}]')"
expect_err 422 validation_failed "filters[0].field.field" "filter on an unknown model field"
req POST /api/syncs "$(body '.overrides = [{field_id: "shoe_size", override: 1}]')"
expect_err 422 validation_failed "overrides[0].field_id" "override of an unknown field"
req POST /api/syncs "$(body '.filters = [{field_id: "email", field_type: "Target", function: "IsNull"}]')"
expect_err 422 validation_failed "filters[0].field_type" "target filter where the mode has none"
req POST /api/syncs "$(body '.target.create = {table: "t2"}')"
expect_err 422 validation_failed target.create "both target.object and target.create"
req POST /api/syncs "$(body 'del(.target.object)')"
expect_err 422 validation_failed target.object "neither target.object nor target.create"
req POST /api/syncs "$(body 'del(.target.object) | .target.create = {table: "t3", colour: "red"}')"
expect_err 422 validation_failed target.create.colour "unknown creation property"
req POST /api/syncs "$(body 'del(.target.object) | .target.create = {table: "contacts"}')"
expect_err 422 validation_failed target.create.table "table already exists"
req POST /api/syncs "$(body '.target = {connection_id: $hook, create: {name: "x"}}')"
expect_err 422 validation_failed target.create "webhook cannot create objects"
req POST /api/syncs "$(body '.schedule = {frequency: "runafter"}')"
expect_err 422 validation_failed schedule.run_after.sync_ids "runafter without upstream syncs"
req POST /api/syncs "$(body '.schedule = {frequency: "runafter", run_after: {sync_ids: [$noid]}}')"
expect_err 422 validation_failed "schedule.run_after.sync_ids[0]" "runafter an unknown sync"
req POST /api/syncs "$(body '.schedule = {frequency: "runafter", run_after: {sync_ids: [], bulk_sync_ids: [$noid]}}')"
expect_err 422 validation_failed schedule.run_after.bulk_sync_ids "bulk syncs are not offered"
sqlite3 "$T_DIR/dst.db" ".tables" >"$T_DIR/tables.txt"
check '! grep -q t3 "$T_DIR/tables.txt"' "a refused target.create created nothing"

# --- target.create: a real table and a real file
req POST /api/syncs "$(body '.name = "Create table" | .target = {connection_id: $dst, create: {table: "people"}}
  | .fields += [{source: {model_id: $m, field: "age"}, target: "age"}, {override_value: "api", target: "origin"}]')"
expect_status 200 "A4 with target.create on SQLite"
expect_jq ".data.target == {connection_id: \"$DST\", object: \"people\"}" "the new table comes back in target.object"
S_TBL=$(jqr .data.id)
COLS=$(sqlite3 "$T_DIR/dst.db" "SELECT group_concat(name || ':' || type, ',') FROM pragma_table_info('people')")
check '[ "$COLS" = "id:NUMERIC,email:TEXT,full_name:TEXT,age:NUMERIC,origin:TEXT" ]' "table people has the identity and mapped columns, typed after the model fields ($COLS)"
req GET "/api/syncs/$S_TBL"
expect_jq '.data.target.object == "people" and (.data.target | has("create") | not)' "A6 shows the created object"
req POST /api/syncs "$(body '.name = "Create file" | .mode = "append" | del(.identity)
  | .target = {connection_id: $csv, create: {file: "export.csv"}}')"
expect_status 200 "A4 with target.create on CSV"
expect_jq '.data.target.object == "export.csv"' "the new file comes back in target.object"
check '[ "$(head -n1 "$T_DIR/files/export.csv")" = "email,full_name" ]' "export.csv has the header of the mappings"
req POST /api/syncs "$(body '.name = "CSV replace" | .mode = "updateOrCreate" | .target = {connection_id: $csv, object: "existing.csv"}
  | .fields = [{source: {model_id: $m, field: "email"}, target: "email"}]')"
expect_err 422 unsupported_mode mode "files do not upsert"

# --- free-form target (webhook)
req POST /api/syncs "$(body '.name = "Hook" | .target = {connection_id: $hook, object: "records"}
  | .identity.target = "user_id" | .fields = [{source: {model_id: $m, field: "email"}, target: "anything.goes"}]')"
expect_status 200 "webhook targets take any field name"
S_HOOK=$(jqr .data.id)
req POST /api/syncs "$(body '.target = {connection_id: $hook, object: "records"} | .fields = [{target: "bare"}]')"
expect_err 422 validation_failed fields "webhook still needs one mapping with a source"
req POST /api/syncs "$(body '.target = {connection_id: $hook, object: "records"} | .fields = [{override_value: "x", target: "kind"}]')"
expect_err 422 validation_failed fields "webhook with only constant mappings"
req POST /api/syncs "$(body '.name = "Hook bare" | .target = {connection_id: $hook, object: "records"} | .fields += [{target: "bare"}]')"
expect_status 200 "webhook accepts a bare target next to a sourced one (mappings_not_required)"
S_HOOK2=$(jqr .data.id)
req POST /api/syncs "$(body '.target = {connection_id: $hook, object: "records"} | .mode = "replace"')"
expect_err 422 unsupported_mode mode "webhook has no replace"
req POST /api/syncs "$(body '.target = {connection_id: $hook, object: "rows"}')"
expect_err 422 validation_failed target.object "webhook has only records"

# --- A6 get
req GET "/api/syncs/$S1"
expect_status 200 "A6"
check '[ "$(jq -S .data "$RESP")" = "$(echo "$S1_BODY" | jq -S .data)" ]' "A6 equals the create response"
req GET "/api/syncs/$NOID"
expect_error 404 not_found "A6 unknown id"
req GET /api/syncs/not-a-uuid
expect_error 404 not_found "A6 malformed id"
req GET "/api/syncs/$(echo "$S1" | tr a-f A-F)"
expect_status 200 "A6 uppercase id"

# --- A7 update: round trip, full replacement, D4
req GET "/api/syncs/$S1"
GET1=$(cat "$RESP")
sleep 0.01
req PUT "/api/syncs/$S1" "$(echo "$GET1" | jq -c .data)"
expect_status 200 "A7 PUT of the GET body"
req GET "/api/syncs/$S1"
GET2=$(cat "$RESP")
check '[ "$(echo "$GET1" | jq -S ".data | del(.updated_at, .updated_by)")" = "$(echo "$GET2" | jq -S ".data | del(.updated_at, .updated_by)")" ]' "GET -> PUT -> GET identical except updated_at/updated_by"
check '[ "$(echo "$GET2" | jq -r .data.updated_at)" \> "$(echo "$GET1" | jq -r .data.updated_at)" ]' "A7 moves updated_at"
req PUT "/api/syncs/$S1" "$(body '.name = "Renamed" | .schedule = {frequency: "custom", minute: "*/15", hour: "8-18", day_of_week: "mon-fri"}')"
expect_status 200 "A7 replace"
expect_jq '.data.name == "Renamed" and .data.filters == [] and .data.overrides == [] and .data.policies == [] and .data.sync_all_records == false' "A7 absent members reset"
expect_jq '.data.active == false' "A7 without active keeps the stored value (D4)"
expect_jq '.data.schedule == {frequency: "custom", minute: "*/15", hour: "8-18", day_of_week: "mon-fri"}' "A7 custom schedule"
expect_jq "(.data.created_at == \"$(echo "$GET1" | jq -r .data.created_at)\") and .data.id == \"$S1\"" "A7 keeps id and created_at"
req PATCH "/api/syncs/$S1" "$(body '.name = "Patched" | .active = true')"
expect_status 200 "PATCH is PUT (D3)"
expect_jq '.data.name == "Patched" and .data.active == true' "PATCH replaced"
req PUT "/api/syncs/$S1" "$(body '.mode = "nope"')"
expect_err 400 invalid_request mode "A7 validates like A4 (400)"
req PUT "/api/syncs/$S1" "$(body '.fields[0].target = "nick"')"
expect_err 422 validation_failed "fields[0].target" "A7 validates like A4 (422)"
req PUT "/api/syncs/$S1" "$(body ".organization_id = \"$NOID\"")"
expect_err 403 forbidden organization_id "A7 another organization_id"
req PUT "/api/syncs/$NOID" "$(body .)"
expect_error 404 not_found "A7 unknown sync"
req GET "/api/syncs/$S1"
expect_jq '.data.name == "Patched"' "failed updates changed nothing"

# --- run_after
req POST /api/syncs "$(body '.name = "Downstream" | .schedule = {frequency: "runafter", run_after: {sync_ids: ['"\"$S2\""']}, run_after_success_only: true}')"
expect_status 200 "runafter an existing sync"
S_DOWN=$(jqr .data.id)
expect_jq ".data.schedule == {frequency: \"runafter\", run_after: {sync_ids: [\"$S2\"]}, run_after_success_only: true}" "runafter schedule echoed"
req PUT "/api/syncs/$S_DOWN" "$(body '.schedule = {frequency: "runafter", run_after: {sync_ids: ['"\"$S_DOWN\""']}}')"
expect_err 422 validation_failed "schedule.run_after.sync_ids[0]" "a sync cannot run after itself"
req PUT "/api/syncs/$S2" "$(body '.schedule = {frequency: "runafter", run_after: {sync_ids: ['"\"$S_DOWN\""']}}')"
expect_err 422 validation_failed "schedule.run_after.sync_ids[0]" "a direct cycle"
req POST /api/syncs "$(body '.name = "Third" | .schedule = {frequency: "runafter", run_after: {sync_ids: ['"\"$S_DOWN\""']}}')"
S_THIRD=$(jqr .data.id)
req PUT "/api/syncs/$S2" "$(body '.schedule = {frequency: "runafter", run_after: {sync_ids: ['"\"$S3\", \"$S_THIRD\""']}}')"
expect_err 422 validation_failed "schedule.run_after.sync_ids[1]" "a cycle through two syncs"

# --- A9 activate
req GET "/api/syncs/$S2"
BEFORE=$(jqr .data.updated_at)
req POST "/api/syncs/$S2/activate" '{"active": false}'
expect_status 200 "A9 deactivate"
expect_jq ".data == {id: \"$S2\", active: false}" "A9 reply"
req GET "/api/syncs/$S2"
expect_jq ".data.active == false and .data.updated_at != \"$BEFORE\" and .data.name == \"Defaults\"" "A9 changes active and updated_at only"
req POST "/api/syncs/$S2/activate" '{"active": false}'
expect_status 200 "A9 is idempotent"
req POST "/api/syncs/$S2/activate" '{"active": true}'
expect_jq '.data.active == true' "A9 activate"
req POST "/api/syncs/$S2/activate" '{}'
expect_err 400 invalid_request active "A9 without active"
req POST "/api/syncs/$S2/activate" '{"active": "true"}'
expect_err 400 invalid_request active "A9 active not a boolean"
req POST "/api/syncs/$S2/activate" ''
expect_err 400 invalid_request "" "A9 without a body"
req POST "/api/syncs/$NOID/activate" '{"active": true}'
expect_error 404 not_found "A9 unknown sync"

# --- other organization: invisible and untouchable
AUTH="Bearer $B_KEY" req GET /api/syncs
expect_jq '.data == [] and .pagination == {}' "org B lists nothing of org A"
AUTH="Bearer $B_KEY" req GET "/api/syncs/$S1"
expect_error 404 not_found "org B cannot get"
AUTH="Bearer $B_KEY" req PUT "/api/syncs/$S1" "$(body .)"
expect_error 404 not_found "org B cannot update"
AUTH="Bearer $B_KEY" req POST "/api/syncs/$S1/activate" '{"active": false}'
expect_error 404 not_found "org B cannot activate"
AUTH="Bearer $B_KEY" req DELETE "/api/syncs/$S1"
expect_error 404 not_found "org B cannot delete"
req GET "/api/syncs/$S1"
expect_jq '.data.active == true and .data.name == "Patched"' "org A's sync untouched"

# --- A3 list filters
req GET /api/syncs
expect_status 200 "A3"
expect_jq '.pagination == {} and (.data | length) == 10' "A3 all syncs on one page"
expect_jq 'all(.data[]; (has("fields") or has("target") or has("filters")) | not)' "A3 items are ListSyncItem"
expect_jq ".data[] | select(.id == \"$S_TBL\") | .target_connection_id == \"$DST\" and .target_object == \"people\"" "A3 target projection"
expect_jq '[.data[] | [.updated_at, .id]] as $k | $k == ($k | sort | reverse)' "A3 order updated_at desc, id desc"
req GET "/api/syncs?mode=append"
expect_jq '[.data[].mode] == ["append"]' "A3 mode filter"
req GET "/api/syncs?active=FALSE"
expect_jq '[.data[].active] | all(. == false)' "A3 active=FALSE"
req GET "/api/syncs?active=0&mode=updateOrCreate"
expect_jq '.data == []' "A3 filters are ANDed"
req GET "/api/syncs?active=1&target_connection_id=$HOOK"
expect_jq "[.data[].id] | sort == ([\"$S_HOOK\", \"$S_HOOK2\"] | sort)" "A3 target_connection_id"
req GET "/api/syncs?target_connection_id=$NOID"
expect_jq '.data == [] and .pagination == {}' "A3 unknown but valid target_connection_id: empty (D9)"
req GET "/api/syncs?active=yes"
expect_err 400 invalid_request active "A3 active=yes"
req GET "/api/syncs?mode=enrich"
expect_err 400 invalid_request mode "A3 mode=enrich (D9)"
req GET "/api/syncs?target_connection_id=abc"
expect_err 400 invalid_request target_connection_id "A3 malformed target_connection_id"

# --- A8 delete
req DELETE "/api/syncs/$S_DOWN"
expect_err 409 conflict "" "A8 of a sync another sync runs after"
expect_jq '.message | contains("Third")' "409 names the referrer"
req DELETE "/api/syncs/$S_THIRD"
expect_status 204 "A8 the referrer"
check '[ ! -s "$RESP" ]' "A8 has no body"
req DELETE "/api/syncs/$S_DOWN"
expect_status 204 "A8 once nothing runs after it"
req GET "/api/syncs/$S_DOWN"
expect_error 404 not_found "A6 after A8"
req DELETE "/api/syncs/$S_DOWN"
expect_error 404 not_found "A8 twice"
req DELETE /api/syncs/not-a-uuid
expect_error 404 not_found "A8 malformed id"
for s in "$S4"; do req DELETE "/api/syncs/$s"; done
expect_status 204 "A8 by id"
req GET /api/syncs
expect_jq '(.data | length) == 7' "A3 after deletes"
req DELETE /api/syncs
expect_error 405 method_not_allowed "DELETE on the collection"

ms_finish
