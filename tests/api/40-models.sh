#!/usr/bin/env bash
# 40-models: models on the built-in sources (API.md §10.5-§10.7 C11-C18, DECISIONS §3, D17).
# A SQLite table model and a query model discover their fields (names in column order, types
# from the UtilFieldType vocabulary, remote types); CSV (header row, quoted commas) and JSONL
# (union of keys) models do the same; quoted identifiers, CRLF line endings and a BOM are handled
# and table names are never SQL. identifier, tracking_columns and fields must name
# existing fields (422); a fields subset narrows the model and its samples; additional_fields
# come back with user_added true. get/list/update/delete: update is a full replacement, bumps
# version by one and keeps field ids stable. sample returns the real rows keyed by the model id
# (values typed, NULLs and UTF-8 intact); model-preview returns fields and persists nothing;
# async=true is accepted. Bad input creates nothing: unknown or malformed connection_id,
# a destination-only connection, bad or extra configuration members, bad SQL, write statements
# (the source data is untouched), missing tables and files, path traversal. C18: unknown job
# type 400, known type with an unknown id 404.
cd "$(dirname "$0")/../.." || exit 1
. tests/api/lib.sh
FIX=tests/fixtures
UUID_RE='^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$'
TYPES='["unknown","string","number","boolean","datetime","array","object","binary"]'
NOID=0f0e9c2a-1b2c-4d5e-8f90-a1b2c3d4e5f6

expect_fail() {
    expect_status "$1" "$3"
    expect_jq ".status == $1 and (.key | type == \"string\") and (if $1 == 400 then .key == \"invalid_request\" else true end) and (.message | type == \"string\" and contains(\"$2\"))" "$3: ApiError naming '$2'"
}
model_count() { req GET /api/models; jq '.data | length' "$RESP"; }
# model BODY-FIELDS: a CreateModelRequest on connection $C with extra members appended.
sql_model() { printf '{"name":"%s","connection_id":"%s","configuration":%s%s}' "$1" "$C" "$2" "${3:+,$3}"; }
users_count() { sqlite3 "$DB" 'SELECT count(*) FROM users'; }

ms_start
DB="$T_DIR/src.db"
sqlite3 "$DB" <"$FIX/sqlite-seed.sql"
FILES="$T_DIR/files"
mkdir -p "$FILES"
cp "$FIX/users.csv" "$FIX/events.jsonl" "$FILES/"
req POST /api/connections "{\"name\":\"Source DB\",\"type\":\"sqlite\",\"configuration\":{\"path\":\"$DB\"}}"
C=$(jqr .data.id)
req POST /api/connections "{\"name\":\"Files\",\"type\":\"csv\",\"configuration\":{\"directory\":\"$FILES\"}}"
CSV=$(jqr .data.id)
req POST /api/connections "{\"name\":\"Lines\",\"type\":\"jsonl\",\"configuration\":{\"directory\":\"$FILES\"}}"
JSONL=$(jqr .data.id)
req POST /api/connections '{"name":"Hook","type":"webhook","configuration":{"url":"http://127.0.0.1:9/hook"}}'
expect_status 200 "webhook connection saved without validation"
HOOK=$(jqr .data.id)

# --- table model
req POST /api/models "$(sql_model "Users" '{"table":"users"}' '"identifier":"id","tracking_columns":["updated_at"]')"
expect_status 200 "create a table model"
M1=$(jqr .data.id)
expect_jq ".data.id | test(\"$UUID_RE\")" "model id is a UUID"
expect_jq ".data.name == \"Users\" and .data.connection_id == \"$C\" and .data.organization_id == \"$ORG_ID\" and .data.type == \"sqlite\"" "model members"
expect_jq '.data.configuration == {"table": "users"}' "model configuration echoed"
expect_jq '[.data.fields[].name] == ["id", "email", "name", "age", "score", "active", "updated_at"]' "table fields in column order"
expect_jq "all(.data.fields[]; (.id | test(\"$UUID_RE\")) and (.type as \$t | $TYPES | index(\$t) != null) and (.label | type == \"string\") and .user_added == false)" "each field has an id, a UtilFieldType type, a label, user_added false"
expect_jq '.data.fields[] | select(.name == "id") | .type == "number" and (.remote_type | ascii_upcase | contains("INT"))' "id: number, remote INTEGER"
expect_jq '.data.fields[] | select(.name == "email") | .type == "string" and (.remote_type | ascii_upcase | contains("TEXT"))' "email: string, remote TEXT"
expect_jq '.data.fields[] | select(.name == "score") | .type == "number"' "score: number"
expect_jq '.data.fields[] | select(.name == "age") | .type == "number"' "age: number"
expect_jq '.data.fields[] | select(.name == "active") | .type == "boolean" or .type == "number"' "active: boolean (or number)"
expect_jq '.data.identifier == "id" and .data.tracking_columns == ["updated_at"]' "identifier and tracking_columns"
expect_jq '.data.version | type == "number"' "version is a number"
V1=$(jqr .data.version)
jq '[.data.fields[] | {(.name): .id}] | add' "$RESP" >"$T_DIR/ids1.json"

# --- query model
req POST /api/models "$(sql_model "Active Users" '{"query":"SELECT id, email AS mail, age * 2 AS double_age FROM users WHERE active = 1"}')"
expect_status 200 "create a query model"
M2=$(jqr .data.id)
expect_jq '[.data.fields[].name] == ["id", "mail", "double_age"]' "query fields"
expect_jq "all(.data.fields[]; .type as \$t | $TYPES | index(\$t) != null)" "query field types are UtilFieldType values"

# --- csv and jsonl models
req POST /api/models "{\"name\":\"CSV Users\",\"connection_id\":\"$CSV\",\"configuration\":{\"file\":\"users.csv\"}}"
expect_status 200 "create a csv model"
M3=$(jqr .data.id)
expect_jq '.data.type == "csv" and [.data.fields[].name] == ["id", "email", "name", "age"]' "csv fields from the header row"
req GET "/api/models/$M3/sample"
expect_status 200 "csv sample"
expect_jq "(.data.records | length) == 3" "csv sample has the three data rows"
expect_jq ".data.records[] | .[\"$M3\"] | select((.id | tostring) == \"2\") | .name == \"Turing, Alan\" and .email == \"alan@example.com\"" "quoted comma survives"
req POST /api/models "{\"name\":\"Events\",\"connection_id\":\"$JSONL\",\"configuration\":{\"file\":\"events.jsonl\"}}"
expect_status 200 "create a jsonl model"
expect_jq '[.data.fields[].name] | sort == ["amount", "at", "device", "id", "type", "user_id"]' "jsonl fields are the union of keys"
expect_jq '.data.type == "jsonl"' "jsonl model type"

# --- identifiers that need quoting, CSV line endings and BOM
sqlite3 "$DB" 'CREATE TABLE "order items" ("item id" INTEGER PRIMARY KEY, "qty""x" INTEGER); INSERT INTO "order items" VALUES (1, 5);'
req POST /api/models "$(sql_model "Odd Names" '{"table":"order items"}')"
expect_status 200 "model on a table whose name needs quoting"
M7=$(jqr .data.id)
expect_jq '[.data.fields[].name] == ["item id", "qty\"x"]' "quoted column names discovered"
req GET "/api/models/$M7/sample"
expect_jq ".data.records == [{\"$M7\": {\"item id\": 1, \"qty\\\"x\": 5}}]" "sample of the quoted table"
for t in 'users; DROP TABLE orders' 'users WHERE 0' 'users\" --'; do
    req POST /api/models "$(sql_model "Inject" "{\"table\":\"$t\"}")"
    check '[ "$STATUS" = 422 ] || [ "$STATUS" = 400 ]' "table name '$t' is not SQL (got $STATUS)"
done
check '[ "$(sqlite3 "$DB" "SELECT count(*) FROM orders")" = 3 ]' "no injected statement ran"
printf 'id,name\r\n1,Ann\r\n2,"Bo\r\nb"\r\n' >"$FILES/crlf.csv"
printf '\357\273\277id,name\n1,Ann\n' >"$FILES/bom.csv"
req POST /api/models "{\"name\":\"CRLF\",\"connection_id\":\"$CSV\",\"configuration\":{\"file\":\"crlf.csv\"}}"
expect_status 200 "csv model with CRLF line endings"
expect_jq '[.data.fields[].name] == ["id", "name"]' "no CR in CRLF header names"
M8=$(jqr .data.id)
req GET "/api/models/$M8/sample"
expect_jq "[.data.records[][\"$M8\"].name] == [\"Ann\", \"Bo\\r\\nb\"]" "CRLF rows; a quoted CRLF is kept"
req POST /api/models "{\"name\":\"BOM\",\"connection_id\":\"$CSV\",\"configuration\":{\"file\":\"bom.csv\"}}"
expect_status 200 "csv model with a UTF-8 BOM"
expect_jq '[.data.fields[].name] == ["id", "name"]' "the BOM is not part of the first field name"
req POST /api/models "$(sql_model "Dup" '{"query":"SELECT id, id FROM users"}')"
check '[ "$STATUS" = 400 ] || [ "$STATUS" = 422 ]' "duplicate column names are refused (got $STATUS)"

# --- identifier / tracking_columns / fields validation
N=$(model_count)
req POST /api/models "$(sql_model "Bad Id" '{"table":"users"}' '"identifier":"nope"')"
expect_fail 422 identifier "unknown identifier"
req POST /api/models "$(sql_model "Bad Track" '{"table":"users"}' '"tracking_columns":["updated_at","nope"]')"
expect_fail 422 tracking_columns "unknown tracking column"
req POST /api/models "$(sql_model "Bad Fields" '{"table":"users"}' '"fields":["id","nope"]')"
expect_fail 422 fields "unknown field in fields"
req POST /api/models "$(sql_model "Bad Id Type" '{"table":"users"}' '"identifier":5')"
expect_fail 400 identifier "identifier is a number"
req POST /api/models "$(sql_model "Bad Track Type" '{"table":"users"}' '"tracking_columns":"updated_at"')"
expect_fail 400 tracking_columns "tracking_columns is a string"
check "[ \"\$(model_count)\" = $N ]" "invalid models were not created"

# --- fields subset and additional fields
req POST /api/models "$(sql_model "Users Subset" '{"table":"users"}' '"fields":["id","email"],"identifier":"id"')"
expect_status 200 "model with a fields subset"
M4=$(jqr .data.id)
expect_jq '[.data.fields[].name] == ["id", "email"]' "only the enabled fields"
req GET "/api/models/$M4/sample"
expect_status 200 "subset sample"
expect_jq "all(.data.records[]; .[\"$M4\"] | keys == [\"email\", \"id\"])" "subset sample has only the enabled fields"
req POST /api/models "$(sql_model "Users Plus" '{"table":"users"}' '"additional_fields":[{"name":"segment","label":"Segment","type":"string","example":"vip"}]')"
expect_status 200 "model with additional_fields"
M5=$(jqr .data.id)
expect_jq '.data.fields[] | select(.name == "segment") | .user_added == true and .label == "Segment" and .type == "string"' "additional field is user_added"
expect_jq '[.data.fields[] | select(.user_added == true)] | length == 1' "only the additional field is user_added"
expect_jq '(.data.fields | length) == 8' "seven source fields plus one additional"
N=$(model_count)
req POST /api/models "$(sql_model "Plus Bad" '{"table":"users"}' '"additional_fields":[{"name":"segment","type":"string"}]')"
expect_fail 400 label "additional field without label"
req POST /api/models "$(sql_model "Plus Bad2" '{"table":"users"}' '"additional_fields":[{"label":"x","type":"string"}]')"
expect_fail 400 name "additional field without name"
check "[ \"\$(model_count)\" = $N ]" "invalid additional fields created nothing"

# --- get / list
req GET "/api/models/$M1"
expect_status 200 "get model"
expect_jq ".data.id == \"$M1\" and .data.name == \"Users\" and .data.identifier == \"id\" and (.data.fields | length) == 7" "get returns the model"
check "[ \"\$(jq -c '[.data.fields[] | {(.name): .id}] | add' \"\$RESP\")\" = \"\$(jq -c . \"\$T_DIR/ids1.json\")\" ]" "get: same field ids as create"
req GET /api/models
expect_status 200 "list models"
expect_jq "[.data[].id] as \$ids | all([\"$M1\", \"$M2\", \"$M3\", \"$M4\", \"$M5\"][]; . as \$m | \$ids | index(\$m) != null)" "list has every model"
expect_jq 'all(.data[]; (.fields | type == "array") and (.name | type == "string"))' "list items are full models"
req GET /api/models/$NOID
expect_error 404 not_found "get unknown model"

# --- update
req PUT "/api/models/$M1" "$(sql_model "Users v2" '{"table":"users"}' '"identifier":"email"')"
expect_status 200 "update model"
expect_jq ".data.id == \"$M1\" and .data.name == \"Users v2\" and .data.identifier == \"email\"" "update response"
expect_jq ".data.version == ($V1 + 1)" "version incremented"
expect_jq '(.data.tracking_columns // []) == []' "full replacement: tracking_columns cleared"
check "[ \"\$(jq -c '[.data.fields[] | {(.name): .id}] | add' \"\$RESP\")\" = \"\$(jq -c . \"\$T_DIR/ids1.json\")\" ]" "field ids stable across update"
req PUT "/api/models/$M1?async=true" "$(sql_model "Users v3" '{"table":"users"}' '"identifier":"id","refresh":true')"
expect_status 200 "second update (async and refresh accepted)"
expect_jq ".data.version == ($V1 + 2) and .data.name == \"Users v3\"" "version incremented again"
check "[ \"\$(jq -c '[.data.fields[] | {(.name): .id}] | add' \"\$RESP\")\" = \"\$(jq -c . \"\$T_DIR/ids1.json\")\" ]" "field ids stable across a refresh"
req PUT "/api/models/$M1" "$(sql_model "Users v4" '{"table":"users","bogus":1}')"
expect_fail 400 bogus "update with a bad configuration member"
req PUT "/api/models/$M1" "$(sql_model "Users v4" '{"table":"users"}' '"identifier":"nope"')"
expect_fail 422 identifier "update with an unknown identifier"
req GET "/api/models/$M1"
expect_jq ".data.version == ($V1 + 2) and .data.name == \"Users v3\"" "failed updates change nothing"
req PUT /api/models/$NOID "$(sql_model "x" '{"table":"users"}')"
expect_error 404 not_found "update unknown model"

# --- sample
req GET "/api/models/$M1/sample"
expect_status 200 "sample"
expect_jq "(.data.records | length) == 5" "sample has the five seeded rows"
expect_jq "all(.data.records[]; keys == [\"$M1\"])" "records are keyed by the model id"
expect_jq "[.data.records[][\"$M1\"].email] | sort == [\"ada@example.com\", \"alan@example.com\", \"barbara@example.com\", \"grace@example.com\", \"kurt@example.com\"]" "sample emails match the seed"
expect_jq ".data.records[] | .[\"$M1\"] | select(.id == 1) | .name == \"Ada Lovelace\" and .age == 36 and .score == 91.5" "typed values of row 1"
expect_jq ".data.records[] | .[\"$M1\"] | select(.id == 4) | .name == \"Kurt Gödel\" and .score == null" "UTF-8 text and NULL of row 4"
expect_jq ".data.records[] | .[\"$M1\"] | select(.id == 5) | .name == null and .age == null" "NULLs of row 5"
req GET "/api/models/$M2/sample?async=false"
expect_status 200 "query model sample"
expect_jq "[.data.records[][\"$M2\"] | .mail] | sort == [\"ada@example.com\", \"alan@example.com\", \"kurt@example.com\"]" "query sample applies WHERE"
expect_jq ".data.records[][\"$M2\"] | select(.id == 2) | .double_age == 82" "query sample computes expressions"
req GET /api/models/$NOID/sample
expect_error 404 not_found "sample of an unknown model"

# --- model-preview
N=$(model_count)
req POST /api/model-preview "$(sql_model "Preview" '{"query":"SELECT id, email FROM users"}')"
expect_status 200 "model preview"
expect_jq '[.data.fields[].name] == ["id", "email"]' "preview fields"
PREVIEW_ID=$(jqr '.data.id // empty')
check "[ \"\$(model_count)\" = $N ]" "preview persists nothing"
if [ -n "$PREVIEW_ID" ]; then
    req GET "/api/models/$PREVIEW_ID"
    expect_error 404 not_found "the preview's id is not a stored model"
fi
req POST /api/model-preview "$(sql_model "Preview" '{"query":"SELEC nonsense"}')"
expect_status 400 "preview with bad SQL"

# --- bad input
N=$(model_count)
req POST /api/models "{\"name\":\"x\",\"connection_id\":\"$NOID\",\"configuration\":{\"table\":\"users\"}}"
expect_fail 422 connection_id "unknown connection"
req POST /api/models '{"name":"x","connection_id":"not-a-uuid","configuration":{"table":"users"}}'
expect_fail 400 connection_id "malformed connection_id"
req POST /api/models "{\"name\":\"x\",\"connection_id\":\"$HOOK\",\"configuration\":{\"table\":\"users\"}}"
expect_fail 422 connection_id "connection is not a source (webhook)"
req POST /api/models "$(sql_model "x" '{"table":"users","bogus":1}')"
expect_fail 400 bogus "extra configuration member"
req POST /api/models "$(sql_model "x" '{"table":"users","query":"SELECT 1"}')"
expect_status 400 "both table and query"
req POST /api/models "$(sql_model "x" '{}')"
expect_status 400 "empty configuration"
req POST /api/models "$(sql_model "x" '{"table":7}')"
expect_fail 400 table "table is a number"
req POST /api/models "$(sql_model "x" '{"query":"SELEC id FROM users"}')"
expect_status 400 "bad SQL"
expect_jq '.status == 400 and (.message | length > 0)' "bad SQL message"
for q in "DELETE FROM users" "UPDATE users SET name = 'x'" "INSERT INTO orders VALUES (999, 1, 1.0, 'x')" \
    "DROP TABLE orders" "SELECT 1; DELETE FROM users"; do
    req POST /api/models "$(sql_model "x" "{\"query\":\"$q\"}")"
    expect_status 400 "write query: $q"
done
req POST /api/model-preview "$(sql_model "x" '{"query":"DELETE FROM users"}')"
expect_status 400 "write query in a preview"
check '[ "$(users_count)" = 5 ]' "the users table still has its five rows"
check '[ "$(sqlite3 "$DB" "SELECT count(*) FROM orders")" = 3 ]' "the orders table is intact"
check '[ "$(sqlite3 "$DB" "SELECT count(*) FROM users WHERE name = '"'x'"'")" = 0 ]' "no row was updated"
req POST /api/models "$(sql_model "x" '{"table":"nope"}')"
check '[ "$STATUS" = 422 ] || [ "$STATUS" = 400 ]' "missing table is 422/400 (got $STATUS)"
expect_jq '.message | contains("table")' "missing table message names table"
req POST /api/models "{\"name\":\"x\",\"connection_id\":\"$CSV\",\"configuration\":{\"file\":\"nope.csv\"}}"
check '[ "$STATUS" = 422 ] || [ "$STATUS" = 400 ]' "missing csv file is 422/400 (got $STATUS)"
req POST /api/models "{\"name\":\"x\",\"connection_id\":\"$CSV\",\"configuration\":{\"file\":\"../src.db\"}}"
expect_fail 400 file "csv path traversal"
req POST /api/models "{\"name\":\"x\",\"connection_id\":\"$CSV\",\"configuration\":{\"file\":\"/etc/passwd\"}}"
expect_fail 400 file "csv absolute file"
req POST /api/models "{\"name\":\"x\",\"connection_id\":\"$CSV\",\"configuration\":{\"table\":\"users\"}}"
expect_fail 400 table "csv with sqlite's member"
req POST /api/models "{\"connection_id\":\"$C\",\"configuration\":{\"table\":\"users\"}}"
expect_fail 400 name "missing name"
req POST /api/models "{\"name\":\"x\",\"configuration\":{\"table\":\"users\"}}"
expect_fail 400 connection_id "missing connection_id"
req POST /api/models "{\"name\":\"x\",\"connection_id\":\"$C\"}"
expect_fail 400 configuration "missing configuration"
req POST /api/models '{"name":'
expect_error 400 invalid_request "malformed JSON"
req POST /api/models 'null'
expect_error 400 invalid_request "null body"
check "[ \"\$(model_count)\" = $N ]" "bad input created no model"

# --- async is accepted and ignored
req POST "/api/models?async=true" "$(sql_model "Async Users" '{"table":"orders"}')"
expect_status 200 "create with async=true"
expect_jq '.data.id != null and [.data.fields[].name] == ["id", "user_id", "total", "placed_at"]' "async create returns the model"
M6=$(jqr .data.id)

# --- delete
req DELETE "/api/models/$M6"
expect_status 204 "delete model"
check '[ ! -s "$RESP" ]' "204 has no body"
req GET "/api/models/$M6"
expect_error 404 not_found "get after delete"
req DELETE "/api/models/$M6"
expect_error 404 not_found "delete again"
req GET /api/models
expect_jq "[.data[].id] | index(\"$M6\") == null" "deleted model left the list"

# --- C18 jobs
req GET /api/jobs/bogus/$NOID
expect_status 400 "unknown job type"
expect_jq '.status == 400 and .key == "invalid_request"' "unknown job type ApiError"
req GET /api/jobs/createmodel/$NOID
expect_error 404 not_found "known job type, unknown id"
req GET /api/jobs/samplemodel/$NOID
expect_error 404 not_found "samplemodel, unknown id"

ms_finish
