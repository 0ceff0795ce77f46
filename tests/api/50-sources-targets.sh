#!/usr/bin/env bash
# 50-sources-targets: source metadata and target metadata of the built-in connectors (API.md
# §5.1-§5.2 A1/A2, §6.7-§6.9 B7/B8/B9, §11.2, DECISIONS §3-§4, D10, D21). A1 lists the tables of
# a SQLite file and the files of CSV/JSONL directories, accepts SDK-encoded params JSON, rejects
# Go's broken params=map[...] and other non-JSON/non-object params with 400, and is 400
# not_a_source on a webhook and 404 for unknown ids. A2 returns the fields of a table, a query
# or a file for params in SDK form ({"table":["users"]}) and in model-configuration form. B7
# lists target objects with SupportedMode entries (ids, requires_identity true exactly for
# update/updateOrCreate/remove, the per-connector mode sets) and target_creation; webhook offers
# "records". B8 returns fields, Mode-shaped modes (mode/label/description), properties and
# refreshed_at; no target is 400, an unknown one 404, and percent/plus-encoded targets are
# decoded. B9 answers a known creation property and 404s unknown properties and connectors
# without target creation.
cd "$(dirname "$0")/../.." || exit 1
. tests/api/lib.sh
FIX=tests/fixtures
TIME_RE='^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\\.[0-9]+)?Z$'
NOID=0f0e9c2a-1b2c-4d5e-8f90-a1b2c3d4e5f6
# jq: A1 item values may be plain strings or {value|id|name} objects.
VALS='def vals: map(if type == "string" then . else (.value // .id // .name) end);'
DB_MODES='["append","create","remove","replace","update","updateOrCreate"]'
FILE_MODES='["append","replace","snapshot"]'
HOOK_MODES='["append","create","remove","update","updateOrCreate"]'

urlenc() { jq -rn --arg v "$1" '$v | @uri'; }
expect_fail() {
    expect_status "$1" "$3"
    expect_jq ".status == $1 and (.key | type == \"string\") and (if $1 == 400 then .key == \"invalid_request\" else true end) and (.message | type == \"string\" and contains(\"$2\"))" "$3: ApiError naming '$2'"
}
# expect_supported_modes WANT DESC: B7 modes of the object in $OBJ are exactly WANT, with
# requires_identity true exactly for update, updateOrCreate and remove.
expect_supported_modes() {
    expect_jq ".data[] | select(.id == \"$OBJ\") | [.modes[].id] | sort == $1" "$2: mode ids"
    expect_jq ".data[] | select(.id == \"$OBJ\") | all(.modes[]; .id as \$m | .requires_identity == ([\"update\", \"updateOrCreate\", \"remove\"] | index(\$m) != null))" "$2: requires_identity exactly for update/updateOrCreate/remove"
    expect_jq ".data[] | select(.id == \"$OBJ\") | all(.modes[]; (.supports_per_field_mode | type == \"boolean\") and (.supports_target_filters | type == \"boolean\"))" "$2: SupportedMode booleans"
}
# expect_mode_shape DESC: B8 modes use the Mode shape.
expect_mode_shape() {
    expect_jq '(.data.modes | length > 0) and all(.data.modes[]; (.mode | type == "string") and (.label | type == "string" and length > 0) and (.description | type == "string" and length > 0) and (.requires_identity | type == "boolean") and (has("id") | not))' "$1: modes have the Mode shape"
}

ms_start
DB="$T_DIR/src.db"
sqlite3 "$DB" <"$FIX/sqlite-seed.sql"
FILES="$T_DIR/files"
mkdir -p "$FILES"
cp "$FIX/users.csv" "$FIX/events.jsonl" "$FILES/"
cp "$FIX/users.csv" "$FILES/daily events.csv"
req POST /api/connections "{\"name\":\"Source DB\",\"type\":\"sqlite\",\"configuration\":{\"path\":\"$DB\"}}"
C=$(jqr .data.id)
req POST /api/connections "{\"name\":\"CSV Files\",\"type\":\"csv\",\"configuration\":{\"directory\":\"$FILES\"}}"
CSV=$(jqr .data.id)
req POST /api/connections "{\"name\":\"JSONL Files\",\"type\":\"jsonl\",\"configuration\":{\"directory\":\"$FILES\"}}"
JSONL=$(jqr .data.id)
req POST /api/connections '{"name":"Hook","type":"webhook","configuration":{"url":"http://127.0.0.1:9/hook"}}'
HOOK=$(jqr .data.id)
check '[ -n "$C" ] && [ -n "$CSV" ] && [ -n "$JSONL" ] && [ -n "$HOOK" ]' "setup connections created"
P_USERS=$(urlenc '{"table":["users"]}')

# --- A1
req GET "/api/connections/$C/modelsync/source"
expect_status 200 "A1 sqlite"
expect_jq "$VALS"' .data.items.table.items | vals | contains(["users", "orders"])' "A1 lists the tables"
expect_jq '.data.items.table.has_items == true' "A1 table has_items"
expect_jq '.data.items | has("query")' "A1 offers query"
expect_jq '(.data.requires_one_of | type == "array") and (.data.configuration | type == "object")' "A1 envelope shape"
req GET "/api/connections/$C/modelsync/source?params=$P_USERS"
expect_status 200 "A1 with SDK-encoded params"
expect_jq "$VALS"' .data.items.table.items | vals | index("users") != null' "A1 with params still lists tables"
req GET "/api/connections/$C/modelsync/source?params=map%5Btable%3A%5Busers%5D%5D"
expect_fail 400 params "A1 with Go's params=map[table:[users]]"
req GET "/api/connections/$C/modelsync/source?params=%7B"
expect_fail 400 params "A1 with params that is not JSON"
req GET "/api/connections/$C/modelsync/source?params=$(urlenc '[1,2]')"
expect_fail 400 params "A1 with params that is not an object"
req GET "/api/connections/$HOOK/modelsync/source"
expect_error 400 not_a_source "A1 on a webhook"
req GET "/api/connections/$NOID/modelsync/source"
expect_error 404 not_found "A1 unknown connection"
req GET "/api/connections/not-a-uuid/modelsync/source"
expect_error 404 not_found "A1 malformed id"
req GET "/api/connections/$CSV/modelsync/source"
expect_status 200 "A1 csv"
expect_jq "$VALS"' (.data.items.file // .data.items.table).items | vals | contains(["users.csv", "daily events.csv"])' "A1 csv lists the files"
req GET "/api/connections/$JSONL/modelsync/source"
expect_status 200 "A1 jsonl"
expect_jq "$VALS"' (.data.items.file // .data.items.table).items | vals | index("events.jsonl") != null' "A1 jsonl lists the files"

# --- A2
req GET "/api/connections/$C/modelsync/source/fields?params=$P_USERS"
expect_status 200 "A2 table in SDK form"
expect_jq '[.data[].name] == ["id", "email", "name", "age", "score", "active", "updated_at"]' "A2 table fields"
expect_jq 'all(.data[]; (.type | type == "string" and length > 0) and (.remote_type | type == "string"))' "A2 fields have type and remote_type"
expect_jq '.data[] | select(.name == "email") | .type == "string"' "A2 email is a string"
req GET "/api/connections/$C/modelsync/source/fields?params=$(urlenc '{"table":"orders"}')"
expect_status 200 "A2 table as a model configuration"
expect_jq '[.data[].name] == ["id", "user_id", "total", "placed_at"]' "A2 orders fields"
req GET "/api/connections/$C/modelsync/source/fields?params=$(urlenc '{"query":["SELECT id, email AS mail FROM users"]}')"
expect_status 200 "A2 query"
expect_jq '[.data[].name] == ["id", "mail"]' "A2 query fields"
req GET "/api/connections/$C/modelsync/source/fields?params=$(urlenc '{"table":["nope"]}')"
check '[ "$STATUS" = 400 ] || [ "$STATUS" = 404 ] || [ "$STATUS" = 422 ]' "A2 unknown table is a 4xx (got $STATUS)"
expect_jq '.message | contains("nope") or contains("table")' "A2 unknown table message"
req GET "/api/connections/$C/modelsync/source/fields?params=map%5Btable%3A%5Busers%5D%5D"
expect_fail 400 params "A2 with Go's params=map[table:[users]]"
req GET "/api/connections/$HOOK/modelsync/source/fields?params=$P_USERS"
expect_error 400 not_a_source "A2 on a webhook"
req GET "/api/connections/$CSV/modelsync/source/fields?params=$(urlenc '{"file":["users.csv"]}')"
expect_status 200 "A2 csv file"
expect_jq '[.data[].name] == ["id", "email", "name", "age"]' "A2 csv fields"
req GET "/api/connections/$JSONL/modelsync/source/fields?params=$(urlenc '{"file":"events.jsonl"}')"
expect_status 200 "A2 jsonl file"
expect_jq '[.data[].name] | sort == ["amount", "at", "device", "id", "type", "user_id"]' "A2 jsonl fields"

# --- B7
req GET "/api/connections/$C/modelsync/targetobjects"
expect_status 200 "B7 sqlite"
expect_jq '[.data[].id] | contains(["users", "orders"])' "B7 lists the tables"
expect_jq 'all(.data[]; (.name | type == "string" and length > 0) and (.modes | type == "array"))' "B7 objects have name and modes"
OBJ=users expect_supported_modes "$DB_MODES" "B7 sqlite users"
expect_jq 'keys == ["data", "target_creation"]' "B7 envelope members"
expect_jq '.target_creation.supported == true and (.target_creation.properties | length > 0) and all(.target_creation.properties[]; (.id | type == "string") and (.title | type == "string") and (.enum | type == "boolean"))' "B7 sqlite target_creation"
PROP=$(jqr '.target_creation.properties[0].id')

req GET "/api/connections/$CSV/modelsync/targetobjects"
expect_status 200 "B7 csv"
expect_jq '[.data[].id] | contains(["users.csv", "daily events.csv"])' "B7 csv lists the files"
OBJ=users.csv expect_supported_modes "$FILE_MODES" "B7 csv file"
expect_jq '.target_creation.supported == true' "B7 csv supports target creation"

req GET "/api/connections/$HOOK/modelsync/targetobjects"
expect_status 200 "B7 webhook"
expect_jq '[.data[].id] == ["records"]' "B7 webhook lists records"
OBJ=records expect_supported_modes "$HOOK_MODES" "B7 webhook records"
expect_jq '.target_creation.supported == false' "B7 webhook has no target creation"
req GET "/api/connections/$NOID/modelsync/targetobjects"
expect_error 404 not_found "B7 unknown connection"

# --- B8
req GET "/api/connections/$C/modelsync/target/fields?target=users"
expect_status 200 "B8 sqlite users"
expect_jq '.data.id == "users" and (.data.name | type == "string" and length > 0)' "B8 id and name"
expect_jq '[.data.fields[].name] | contains(["id", "email", "name", "age", "score", "active", "updated_at"])' "B8 fields are the columns"
expect_jq 'all(.data.fields[]; (.id | type == "string") and (.type | type == "string") and (.supports_identity | type == "boolean"))' "B8 TargetField members"
expect_mode_shape "B8 sqlite"
expect_jq "[.data.modes[].mode] | sort == $DB_MODES" "B8 modes match B7"
expect_jq 'all(.data.modes[]; .mode as $m | .requires_identity == (["update", "updateOrCreate", "remove"] | index($m) != null))' "B8 requires_identity"
expect_jq '(.data.properties | type == "object") and all(.data.properties | to_entries[]; .value | type == "boolean" or type == "string")' "B8 properties"
expect_jq ".data.refreshed_at | test(\"$TIME_RE\")" "B8 refreshed_at is RFC 3339 UTC"
req GET "/api/connections/$C/modelsync/target/fields?target=orders&refresh=true"
expect_status 200 "B8 with refresh=true"
expect_jq '.data.id == "orders" and ([.data.fields[].name] | contains(["id", "user_id", "total", "placed_at"]))' "B8 orders"
req GET "/api/connections/$C/modelsync/target/fields"
expect_fail 400 target "B8 without target"
req GET "/api/connections/$C/modelsync/target/fields?target=nope"
expect_error 404 not_found "B8 unknown target"
req GET "/api/connections/$CSV/modelsync/target/fields?target=daily%20events.csv"
expect_status 200 "B8 percent-encoded target"
expect_jq '.data.id == "daily events.csv"' "B8 decodes %20"
expect_mode_shape "B8 csv"
expect_jq "[.data.modes[].mode] | sort == $FILE_MODES" "B8 csv modes"
req GET "/api/connections/$CSV/modelsync/target/fields?target=daily+events.csv"
expect_status 200 "B8 plus-encoded target (Go's QueryEscape)"
expect_jq '.data.id == "daily events.csv"' "B8 decodes +"
req GET "/api/connections/$HOOK/modelsync/target/fields?target=records"
expect_status 200 "B8 webhook records"
expect_jq '.data.id == "records" and (.data.fields | type == "array")' "B8 webhook fields"
expect_mode_shape "B8 webhook"
expect_jq "[.data.modes[].mode] | sort == $HOOK_MODES" "B8 webhook modes"
req GET "/api/connections/$HOOK/modelsync/target/fields?target=nope"
expect_error 404 not_found "B8 webhook unknown target"
req GET "/api/connections/$NOID/modelsync/target/fields?target=users"
expect_error 404 not_found "B8 unknown connection"

# --- B9
req GET "/api/connections/$C/modelsync/targetobjects/properties/$(urlenc "$PROP")"
expect_status 200 "B9 known property '$PROP'"
expect_jq ".data.id == \"$PROP\" and (.data.title | type == \"string\") and (.data.enum | type == \"boolean\") and (.data.values | type == \"array\")" "B9 TargetPropertyValues shape"
expect_jq 'all(.data.values[]; (.value | type == "string") and (.label | type == "string"))' "B9 values are {value, label} strings"
req GET "/api/connections/$C/modelsync/targetobjects/properties/nope"
expect_error 404 not_found "B9 unknown property"
req GET "/api/connections/$HOOK/modelsync/targetobjects/properties/$(urlenc "$PROP")"
expect_error 404 not_found "B9 on a connector without target creation"
req GET "/api/connections/$NOID/modelsync/targetobjects/properties/$(urlenc "$PROP")"
expect_error 404 not_found "B9 unknown connection"

# --- deleted connections are gone for metadata too
req DELETE "/api/connections/$JSONL"
expect_status 204 "delete the jsonl connection"
req GET "/api/connections/$JSONL/modelsync/source"
expect_error 404 not_found "A1 on a deleted connection"
req GET "/api/connections/$JSONL/modelsync/targetobjects"
expect_error 404 not_found "B7 on a deleted connection"

ms_finish
