#!/usr/bin/env bash
# 30-connections: connection types and connections (API.md §10.3-§10.4 C3-C10, DECISIONS §3).
# C3 lists the five built-in types with all four capability booleans (webhook is destination
# only); C4 returns a bare JSON Schema object per type and 404 for an unknown type. A SQLite
# connection on a real file (built with the sqlite3 CLI) goes through create (healthy), get, list,
# rename, delete (204, then 404). Every class of bad input is a 4xx ApiError whose message names
# the member, and creates nothing: malformed JSON, non-object and empty bodies, missing or
# mistyped members, unknown type (422), extra configuration member (400), relative and empty
# paths, invalid UTF-8, absurd nesting; unknown top-level members and nulls are ignored; a foreign
# organization_id is 403; non-ASCII names round-trip.
# validate:true on a missing file is 400 and saves nothing (and creates no file); without
# validate the connection is saved unhealthy. C10 answers 204 or 400 and persists nothing, also
# with connection_id. CSV and JSONL directories, duplicate names (422, also on rename), updates
# that fail validation keep the stored configuration, and deleting a connection in use is 422
# connection_in_use until force=true removes it together with its model.
cd "$(dirname "$0")/../.." || exit 1
. tests/api/lib.sh
FIX=tests/fixtures
UUID_RE='^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$'
TIME_RE='^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\\.[0-9]+)?Z$'

# expect_fail CODE MEMBER DESC: an ApiError with that status whose message names MEMBER
# (400s carry key invalid_request).
expect_fail() {
    expect_status "$1" "$3"
    expect_jq ".status == $1 and (.key | type == \"string\") and (if $1 == 400 then .key == \"invalid_request\" else true end) and (.message | type == \"string\" and contains(\"$2\"))" "$3: ApiError naming '$2'"
}
conn_count() { req GET /api/connections; jq '.data | length' "$RESP"; }
# expect_none_created N DESC: the organization still has N connections.
expect_none_created() { check "[ \"\$(conn_count)\" = $1 ]" "$2: nothing was created"; }

ms_start
DB="$T_DIR/src.db"
sqlite3 "$DB" <"$FIX/sqlite-seed.sql"
FILES="$T_DIR/files"
mkdir -p "$FILES"
cp "$FIX/users.csv" "$FIX/events.jsonl" "$FILES/"

# --- C3 / C4
req GET /api/connection_types
expect_status 200 "C3 list connection types"
expect_jq '[.data[].id] | contains(["sqlite", "postgresql", "csv", "jsonl", "webhook"])' "C3 lists the five built-in types"
expect_jq 'all(.data[]; (.name | type == "string" and length > 0) and (.capabilities | (.source | type == "boolean") and (.destination | type == "boolean") and (.enrichment | type == "boolean") and (.orchestration | type == "boolean")))' "every type has a name and four capability booleans"
for t in sqlite postgresql csv jsonl; do
    expect_jq ".data[] | select(.id == \"$t\") | .capabilities.source == true and .capabilities.destination == true" "$t is a source and a destination"
done
expect_jq '.data[] | select(.id == "webhook") | .capabilities.source == false and .capabilities.destination == true' "webhook is a destination only"

req GET /api/connection_types/sqlite
expect_status 200 "C4 sqlite schema"
expect_jq '.type == "object" and (.properties | type == "object") and (.properties.path | type == "object") and (has("data") | not)' "C4 is a bare JSON Schema object with properties.path"
expect_jq '.required | index("path") != null' "sqlite schema requires path"
req GET /api/connection_types/postgresql
expect_status 200 "C4 postgresql schema"
expect_jq '.type == "object" and (.properties | has("hostname") and has("port") and has("database") and has("username") and has("password") and has("ssl"))' "postgresql schema members"
req GET /api/connection_types/webhook
expect_status 200 "C4 webhook schema"
expect_jq '.type == "object" and (.properties | has("url") and has("headers") and has("secret"))' "webhook schema members"
for t in csv jsonl; do
    req GET "/api/connection_types/$t"
    expect_status 200 "C4 $t schema"
    expect_jq '.type == "object" and (.properties | has("directory"))' "$t schema has directory"
done
req GET /api/connection_types/oracle
expect_error 404 not_found "C4 unknown type"

# --- create, get, list, update, delete
N0=$(conn_count)
check '[ "$N0" = 0 ]' "a new organization has no connections"
req POST /api/connections "{\"name\":\"Local SQLite\",\"type\":\"sqlite\",\"configuration\":{\"path\":\"$DB\"}}"
expect_status 200 "create sqlite connection"
C1=$(jqr .data.id)
expect_jq ".data.id | test(\"$UUID_RE\")" "id is a lower-case UUID"
expect_jq '.data.name == "Local SQLite" and .data.type.id == "sqlite" and (.data.type.name | type == "string")' "create echoes name and type"
expect_jq ".data.configuration == {\"path\": \"$DB\"}" "create echoes the configuration"
expect_jq '.data.status == "healthy"' "a reachable SQLite file is healthy"
expect_jq ".data.organization_id == \"$ORG_ID\"" "organization_id is the caller's"
expect_jq '.data.saved == true' "saved is true"
expect_jq 'keys == ["data"]' "success body has only the data member"

req GET "/api/connections/$C1"
expect_status 200 "get connection"
expect_jq ".data.id == \"$C1\" and .data.name == \"Local SQLite\" and .data.type.id == \"sqlite\" and .data.configuration.path == \"$DB\"" "get returns what was created"
expect_jq '.data.status == "healthy"' "get: status healthy"
expect_jq "(.data.created_at | test(\"$TIME_RE\")) and (.data.updated_at | test(\"$TIME_RE\"))" "created_at/updated_at are RFC 3339 UTC"
CREATED_AT=$(jqr .data.created_at)

req GET /api/connections
expect_status 200 "list connections"
expect_jq "(.data | length) == 1 and .data[0].id == \"$C1\" and .data[0].name == \"Local SQLite\"" "list has the connection"

sleep 1
req PUT "/api/connections/$C1" "{\"name\":\"Renamed SQLite\",\"configuration\":{\"path\":\"$DB\"}}"
expect_status 200 "rename connection"
expect_jq ".data.id == \"$C1\" and .data.name == \"Renamed SQLite\" and .data.configuration.path == \"$DB\"" "update response"
req GET "/api/connections/$C1"
expect_jq '.data.name == "Renamed SQLite"' "get after rename"
expect_jq ".data.created_at == \"$CREATED_AT\" and .data.updated_at > .data.created_at" "update keeps created_at and moves updated_at"
req GET /api/connections
expect_jq '[.data[].name] == ["Renamed SQLite"]' "list after rename"

req PUT /api/connections/0f0e9c2a-1b2c-4d5e-8f90-a1b2c3d4e5f6 "{\"name\":\"x\",\"configuration\":{\"path\":\"$DB\"}}"
expect_error 404 not_found "PUT unknown connection"
req PUT "/api/connections/$C1" "{\"configuration\":{\"path\":\"$DB\"}}"
expect_fail 400 name "PUT without name"
req PUT "/api/connections/$C1" '{"name":"Renamed SQLite"}'
expect_fail 400 configuration "PUT without configuration"
req PUT "/api/connections/$C1" "{\"name\":\"Renamed SQLite\",\"configuration\":{\"path\":\"$DB\",\"journal\":\"wal\"}}"
expect_fail 400 journal "PUT with an extra configuration member"
req PUT "/api/connections/$C1" "{\"name\":\"Renamed SQLite\",\"validate\":true,\"configuration\":{\"path\":\"$T_DIR/missing.db\"}}"
expect_status 400 "PUT validate:true to a missing file"
req PUT "/api/connections/$C1" '{"name":'
expect_status 400 "PUT malformed JSON"
req GET "/api/connections/$C1"
expect_jq ".data.name == \"Renamed SQLite\" and .data.configuration.path == \"$DB\"" "failed updates leave the stored connection unchanged"

req DELETE "/api/connections/$C1"
expect_status 204 "delete connection"
check '[ ! -s "$RESP" ]' "204 has no body"
req GET "/api/connections/$C1"
expect_error 404 not_found "get after delete"
req DELETE "/api/connections/$C1"
expect_error 404 not_found "delete again"
expect_none_created 0 "after delete the list is empty"

# --- bad input: each a 4xx naming the member, nothing created
req POST /api/connections '{"name": "x", "type": '
expect_error 400 invalid_request "malformed JSON"
for body in '[1,2]' '"text"' 'null' '42'; do
    req POST /api/connections "$body"
    expect_error 400 invalid_request "non-object body $body"
done
req POST /api/connections "" -H "Content-Type: application/json" --data-binary ""
expect_error 400 invalid_request "empty body"
req POST /api/connections "{\"type\":\"sqlite\",\"configuration\":{\"path\":\"$DB\"}}"
expect_fail 400 name "missing name"
req POST /api/connections "{\"name\":\"x\",\"configuration\":{\"path\":\"$DB\"}}"
expect_fail 400 type "missing type"
req POST /api/connections '{"name":"x","type":"sqlite"}'
expect_fail 400 configuration "missing configuration"
req POST /api/connections "{\"name\":5,\"type\":\"sqlite\",\"configuration\":{\"path\":\"$DB\"}}"
expect_fail 400 name "name is a number"
req POST /api/connections "{\"name\":\"\",\"type\":\"sqlite\",\"configuration\":{\"path\":\"$DB\"}}"
expect_fail 400 name "empty name"
req POST /api/connections "{\"name\":\"x\",\"type\":7,\"configuration\":{\"path\":\"$DB\"}}"
expect_fail 400 type "type is a number"
req POST /api/connections '{"name":"x","type":"sqlite","configuration":"path"}'
expect_fail 400 configuration "configuration is a string"
req POST /api/connections '{"name":"x","type":"sqlite","configuration":[]}'
expect_fail 400 configuration "configuration is an array"
req POST /api/connections "{\"name\":\"x\",\"type\":\"sqlite\",\"validate\":\"yes\",\"configuration\":{\"path\":\"$DB\"}}"
expect_fail 400 validate "validate is a string"
req POST /api/connections '{"name":"x","type":"sqlite","configuration":{"path":7}}'
expect_fail 400 path "path is a number"
req POST /api/connections '{"name":"x","type":"sqlite","configuration":{}}'
expect_fail 400 path "path missing"
req POST /api/connections "{\"name\":\"x\",\"type\":\"oracle\",\"configuration\":{\"path\":\"$DB\"}}"
expect_fail 422 type "unknown connection type"
req POST /api/connections "{\"name\":\"x\",\"type\":\"sqlite\",\"configuration\":{\"path\":\"$DB\",\"bogus\":1}}"
expect_fail 400 bogus "extra configuration member"
req POST /api/connections '{"name":"x","type":"sqlite","configuration":{"path":"data/relative.db"}}'
expect_fail 400 path "relative path"
req POST /api/connections '{"name":"x","type":"sqlite","configuration":{"path":""}}'
expect_fail 400 path "empty path"
printf '{"name":"bad \377 byte","type":"sqlite","configuration":{"path":"%s"}}' "$DB" >"$T_DIR/bad-utf8.json"
req POST /api/connections "" -H "Content-Type: application/json" --data-binary "@$T_DIR/bad-utf8.json"
expect_error 400 invalid_request "invalid UTF-8 in the body"
head -c 300000 /dev/zero | tr '\0' '[' >"$T_DIR/deep.json"
req POST /api/connections "" -H "Content-Type: application/json" --data-binary "@$T_DIR/deep.json"
expect_error 400 invalid_request "300000 nested arrays"
req POST /api/connections "{\"name\":\"x\",\"type\":\"sqlite\",\"organization_id\":\"0f0e9c2a-1b2c-4d5e-8f90-a1b2c3d4e5f6\",\"configuration\":{\"path\":\"$DB\"}}"
expect_status 403 "organization_id of another organization"
expect_jq '.status == 403 and .key == "forbidden"' "403 is an ApiError forbidden"
expect_none_created 0 "bad input"

req POST /api/connections "{\"name\":\"Tolerant\",\"type\":\"sqlite\",\"configuration\":{\"path\":\"$DB\"},\"unknown_top\":{\"a\":1},\"validate\":null,\"policies\":null,\"healthcheck_interval\":null,\"organization_id\":\"$ORG_ID\"}"
expect_status 200 "unknown top-level members and nulls are ignored, own organization_id accepted"
expect_jq '.data.name == "Tolerant" and .data.status == "healthy"' "tolerant create"
TOLERANT=$(jqr .data.id)
req POST /api/connections "{\"name\":\"Café ☕ «données»\",\"type\":\"sqlite\",\"configuration\":{\"path\":\"$DB\"}}"
expect_status 200 "a non-ASCII name"
req GET "/api/connections/$(jqr .data.id)"
expect_jq '.data.name == "Café ☕ «données»"' "the non-ASCII name round-trips"
req DELETE "/api/connections/$(jqr .data.id)"
expect_status 204 "delete the non-ASCII connection"

# --- validate
N1=$(conn_count)
MISSING="$T_DIR/nowhere/missing.db"
req POST /api/connections "{\"name\":\"Missing\",\"type\":\"sqlite\",\"validate\":true,\"configuration\":{\"path\":\"$T_DIR/missing.db\"}}"
expect_status 400 "validate:true on a missing file"
expect_jq '.status == 400 and (.message | type == "string" and length > 0)' "validate failure is an ApiError with a message"
check '[ ! -e "$T_DIR/missing.db" ]' "validation does not create the missing file"
req POST /api/connections "{\"name\":\"Missing\",\"type\":\"sqlite\",\"validate\":true,\"configuration\":{\"path\":\"$MISSING\"}}"
expect_status 400 "validate:true in a missing directory"
expect_none_created "$N1" "failed validation"
req POST /api/connections "{\"name\":\"Missing\",\"type\":\"sqlite\",\"configuration\":{\"path\":\"$T_DIR/missing.db\"}}"
expect_status 200 "without validate a missing file is saved"
expect_jq '.data.status == "unhealthy" and (.data.status_error | type == "string" and length > 0)' "saved as unhealthy with status_error"
UNHEALTHY=$(jqr .data.id)
check '[ ! -e "$T_DIR/missing.db" ]' "saving an unhealthy connection does not create the file"
req GET "/api/connections/$UNHEALTHY"
expect_jq '.data.status == "unhealthy"' "get: unhealthy"

# --- C10 test
N2=$(conn_count)
req POST /api/connections/test "{\"type\":\"sqlite\",\"configuration\":{\"path\":\"$DB\"}}"
expect_status 204 "C10 test success"
check '[ ! -s "$RESP" ]' "C10 success has no body"
req POST /api/connections/test "{\"type\":\"sqlite\",\"configuration\":{\"path\":\"$T_DIR/missing.db\"}}"
expect_status 400 "C10 test on a missing file"
expect_jq '.status == 400 and (.message | type == "string" and length > 0)' "C10 failure message"
printf 'this is not a database\n' >"$T_DIR/not-a-db.db"
req POST /api/connections/test "{\"type\":\"sqlite\",\"configuration\":{\"path\":\"$T_DIR/not-a-db.db\"}}"
expect_status 400 "C10 test on a file that is not SQLite"
req POST /api/connections/test "{\"type\":\"sqlite\",\"configuration\":{},\"connection_id\":\"$TOLERANT\"}"
expect_status 204 "C10 with connection_id uses the stored configuration"
req POST /api/connections/test "{\"type\":\"sqlite\",\"configuration\":{\"path\":\"$T_DIR/missing.db\"},\"connection_id\":\"$TOLERANT\"}"
expect_status 400 "C10 with connection_id: the given configuration wins"
req POST /api/connections/test '{"type":"sqlite","configuration":{},"connection_id":"0f0e9c2a-1b2c-4d5e-8f90-a1b2c3d4e5f6"}'
expect_status 404 "C10 with an unknown connection_id"
req POST /api/connections/test "{\"type\":\"sqlite\",\"configuration\":{\"path\":\"$DB\",\"bogus\":true}}"
expect_fail 400 bogus "C10 extra configuration member"
req POST /api/connections/test "{\"configuration\":{\"path\":\"$DB\"}}"
expect_fail 400 type "C10 without type"
req POST /api/connections/test '{"type":"sqlite"}'
expect_fail 400 configuration "C10 without configuration"
expect_none_created "$N2" "C10"
req GET "/api/connections/$TOLERANT"
expect_jq ".data.configuration.path == \"$DB\"" "C10 with connection_id did not change the stored configuration"

# --- csv and jsonl directories
req POST /api/connections "{\"name\":\"CSV Drop\",\"type\":\"csv\",\"validate\":true,\"configuration\":{\"directory\":\"$FILES\"}}"
expect_status 200 "create csv connection"
expect_jq ".data.type.id == \"csv\" and .data.status == \"healthy\" and .data.configuration == {\"directory\": \"$FILES\"}" "csv connection"
CSV=$(jqr .data.id)
req POST /api/connections "{\"name\":\"JSONL Drop\",\"type\":\"jsonl\",\"validate\":true,\"configuration\":{\"directory\":\"$FILES\"}}"
expect_status 200 "create jsonl connection"
expect_jq '.data.type.id == "jsonl" and .data.status == "healthy"' "jsonl connection"
N3=$(conn_count)
req POST /api/connections "{\"name\":\"CSV Missing\",\"type\":\"csv\",\"validate\":true,\"configuration\":{\"directory\":\"$T_DIR/no-such-dir\"}}"
expect_status 400 "csv validate:true on a missing directory"
req POST /api/connections "{\"name\":\"CSV File\",\"type\":\"csv\",\"validate\":true,\"configuration\":{\"directory\":\"$FILES/users.csv\"}}"
expect_status 400 "csv validate:true on a file instead of a directory"
req POST /api/connections '{"name":"CSV Rel","type":"csv","configuration":{"directory":"files/out"}}'
expect_fail 400 directory "csv relative directory"
req POST /api/connections "{\"name\":\"CSV Extra\",\"type\":\"csv\",\"configuration\":{\"directory\":\"$FILES\",\"delimiter\":\";\"}}"
expect_fail 400 delimiter "csv extra member"
req POST /api/connections "{\"name\":\"JSONL Path\",\"type\":\"jsonl\",\"configuration\":{\"path\":\"$FILES\"}}"
expect_fail 400 path "jsonl with sqlite's member"
req POST /api/connections/test "{\"type\":\"jsonl\",\"configuration\":{\"directory\":\"$FILES\"}}"
expect_status 204 "C10 jsonl directory"
req POST /api/connections/test "{\"type\":\"csv\",\"configuration\":{\"directory\":\"$T_DIR/no-such-dir\"}}"
expect_status 400 "C10 csv missing directory"
expect_none_created "$N3" "csv/jsonl failures"

# --- duplicate names
req POST /api/connections "{\"name\":\"CSV Drop\",\"type\":\"sqlite\",\"configuration\":{\"path\":\"$DB\"}}"
expect_fail 422 name "duplicate connection name"
req PUT "/api/connections/$TOLERANT" "{\"name\":\"CSV Drop\",\"configuration\":{\"path\":\"$DB\"}}"
expect_fail 422 name "rename onto an existing name"
expect_none_created "$N3" "duplicate names"
req GET "/api/connections/$TOLERANT"
expect_jq '.data.name == "Tolerant"' "the failed rename kept the name"

# --- delete a connection in use
req POST /api/connections "{\"name\":\"In Use\",\"type\":\"sqlite\",\"configuration\":{\"path\":\"$DB\"}}"
INUSE=$(jqr .data.id)
req POST /api/models "{\"name\":\"Users In Use\",\"connection_id\":\"$INUSE\",\"configuration\":{\"table\":\"users\"}}"
expect_status 200 "model on the connection"
MODEL=$(jqr .data.id)
req DELETE "/api/connections/$INUSE"
expect_error 422 connection_in_use "delete a connection with a model"
req DELETE "/api/connections/$INUSE?force=false"
expect_error 422 connection_in_use "delete with force=false"
req GET "/api/connections/$INUSE"
expect_status 200 "the connection in use is still there"
req GET "/api/models/$MODEL"
expect_status 200 "its model is still there"
req DELETE "/api/connections/$INUSE?force=true"
expect_status 204 "delete with force=true"
req GET "/api/connections/$INUSE"
expect_error 404 not_found "the forced connection is gone"
req GET "/api/models/$MODEL"
expect_error 404 not_found "its model is gone too"
req GET /api/models
expect_jq "[.data[].id] | index(\"$MODEL\") == null" "the model left the list"

ms_finish
