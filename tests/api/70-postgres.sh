#!/usr/bin/env bash
# 70-postgres: the postgresql connector against the test PostgreSQL server (MS_TEST_PG_*, started
# by tests/run.sh or `. tests/pg.sh; pg_start`), in a database of its own seeded from
# tests/fixtures/pg-seed.sql and dropped at the end (DECISIONS §3, D18). A connection with
# hostname/port/database/username/password is healthy and its password is returned as
# "********" everywhere and never stored in clear; an update with "********" keeps the secret
# (validate still passes), an update without the member clears it (C10 then fails), and a
# "********" password on create is 400. A wrong password saves an unhealthy connection, is 400
# with validate:true or on C10, and never appears in a message. Bad configuration members are
# 400 naming them. Models on a schema-qualified table and on a query discover typed fields,
# samples match the seed, names that need quoting work, table names are never SQL, write queries
# are refused and change nothing. A1 lists schema.table
# names, A2 returns their fields, B7/B8 describe tables with the database modes, target creation
# offers a schema property whose values (B9) are the database's schemas.
cd "$(dirname "$0")/../.." || exit 1
if [ -z "${MS_TEST_PG:-}" ]; then
    echo "70-postgres: skipped (MS_TEST_PG is not set; run through tests/run.sh)"
    exit 0
fi
. tests/api/lib.sh
FIX=tests/fixtures
PW=$MS_TEST_PG_PASSWORD
WRONG=Wrong-Pw-q7Zx91
PGDB="ms_api_$$_$RANDOM"
DB_MODES='["append","create","remove","replace","update","updateOrCreate"]'
TIME_RE='^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\\.[0-9]+)?Z$'
VALS='def vals: map(if type == "string" then . else (.value // .id // .name) end);'

pg() {
    PGPASSWORD=$PW psql -X -q -h "$MS_TEST_PG_HOST" -p "$MS_TEST_PG_PORT" -U "$MS_TEST_PG_USER" \
        -v ON_ERROR_STOP=1 "$@"
}
urlenc() { jq -rn --arg v "$1" '$v | @uri'; }
expect_fail() {
    expect_status "$1" "$3"
    expect_jq ".status == $1 and (.key | type == \"string\") and (if $1 == 400 then .key == \"invalid_request\" else true end) and (.message | type == \"string\" and contains(\"$2\"))" "$3: ApiError naming '$2'"
}
# pgconf PASSWORD [EXTRA]: a postgresql configuration for the test database.
pgconf() {
    printf '{"hostname":"%s","port":%s,"database":"%s","username":"%s","password":"%s"%s}' \
        "$MS_TEST_PG_HOST" "$MS_TEST_PG_PORT" "$PGDB" "$MS_TEST_PG_USER" "$1" "${2:+,$2}"
}
conn_count() { req GET /api/connections; jq '.data | length' "$RESP"; }

pg -d "$MS_TEST_PG_DB" -c "CREATE DATABASE $PGDB" || { echo "70-postgres: cannot create $PGDB" >&2; exit 1; }
trap '[ -n "$MS_PID" ] && kill -9 "$MS_PID" 2>/dev/null; pg -d "$MS_TEST_PG_DB" -c "DROP DATABASE IF EXISTS $PGDB WITH (FORCE)" >/dev/null 2>&1' EXIT
pg -d "$PGDB" -f "$FIX/pg-seed.sql" >/dev/null || { echo "70-postgres: seeding failed" >&2; exit 1; }
ms_start

# --- connection, secrets
req POST /api/connections "{\"name\":\"Warehouse\",\"type\":\"postgresql\",\"validate\":true,\"configuration\":$(pgconf "$PW")}"
expect_status 200 "create postgresql connection with validate"
PG=$(jqr .data.id)
expect_jq '.data.status == "healthy" and .data.type.id == "postgresql"' "postgresql connection is healthy"
expect_jq ".data.configuration.password == \"********\" and .data.configuration.hostname == \"$MS_TEST_PG_HOST\" and .data.configuration.port == $MS_TEST_PG_PORT and .data.configuration.database == \"$PGDB\" and .data.configuration.username == \"$MS_TEST_PG_USER\"" "configuration echoed with the password redacted"
check '! grep -q "$PW" "$RESP"' "create response does not contain the password"
req GET "/api/connections/$PG"
expect_jq '.data.configuration.password == "********"' "get: password redacted"
check '! grep -q "$PW" "$RESP"' "get response does not contain the password"
req GET /api/connections
expect_jq ".data[] | select(.id == \"$PG\") | .configuration.password == \"********\"" "list: password redacted"
check '! grep -q "$PW" "$RESP"' "list response does not contain the password"
check '! grep -rqa "$PW" "$T_DIR/data"' "the password is not stored in clear"

req PUT "/api/connections/$PG" "{\"name\":\"Warehouse\",\"validate\":true,\"configuration\":$(pgconf '********')}"
expect_status 200 "update with the redacted password and validate:true"
expect_jq '.data.status == "healthy" and .data.configuration.password == "********"' "the stored secret was kept"
req POST /api/connections/test "{\"type\":\"postgresql\",\"configuration\":{},\"connection_id\":\"$PG\"}"
expect_status 204 "C10 with connection_id after the update"
req POST /api/connections/test "{\"type\":\"postgresql\",\"configuration\":$(pgconf '********'),\"connection_id\":\"$PG\"}"
expect_status 204 "C10 with a redacted password merged over the stored one"
req POST /api/connections/test "{\"type\":\"postgresql\",\"configuration\":$(pgconf "$PW")}"
expect_status 204 "C10 with the full configuration"

NOPW=$(pgconf x | jq -c 'del(.password)')
req PUT "/api/connections/$PG" "{\"name\":\"Warehouse\",\"configuration\":$NOPW}"
expect_status 200 "update without the password member"
req POST /api/connections/test "{\"type\":\"postgresql\",\"configuration\":{},\"connection_id\":\"$PG\"}"
expect_status 400 "an absent secret was cleared: C10 fails"
req PUT "/api/connections/$PG" "{\"name\":\"Warehouse\",\"validate\":true,\"configuration\":$(pgconf "$PW")}"
expect_status 200 "restore the password"
expect_jq '.data.status == "healthy"' "healthy again"

N=$(conn_count)
req POST /api/connections "{\"name\":\"Bad Secret\",\"type\":\"postgresql\",\"configuration\":$(pgconf '********')}"
expect_fail 400 password "the redacted value on create"
req POST /api/connections "{\"name\":\"Bad Port\",\"type\":\"postgresql\",\"configuration\":$(pgconf "$PW" | jq -c '.port = "fifty"')}"
expect_fail 400 port "port is not a number"
req POST /api/connections "{\"name\":\"Bad Port\",\"type\":\"postgresql\",\"configuration\":$(pgconf "$PW" | jq -c '.port = 70000')}"
expect_fail 400 port "port out of range"
req POST /api/connections "{\"name\":\"Bad Port\",\"type\":\"postgresql\",\"configuration\":$(pgconf "$PW" | jq -c '.port = true')}"
expect_fail 400 port "port is a boolean"
req POST /api/connections "{\"name\":\"No Host\",\"type\":\"postgresql\",\"configuration\":$(pgconf "$PW" | jq -c 'del(.hostname)')}"
expect_fail 400 hostname "hostname missing"
req POST /api/connections "{\"name\":\"Bad SSL\",\"type\":\"postgresql\",\"configuration\":$(pgconf "$PW" '"ssl":"yes"')}"
expect_fail 400 ssl "ssl is a string"
req POST /api/connections "{\"name\":\"Extra\",\"type\":\"postgresql\",\"configuration\":$(pgconf "$PW" '"sslmode":"require"')}"
expect_fail 400 sslmode "extra member"
req POST /api/connections "{\"name\":\"Wrong Validated\",\"type\":\"postgresql\",\"validate\":true,\"configuration\":$(pgconf "$WRONG")}"
expect_status 400 "validate:true with a wrong password"
expect_jq '.message | type == "string" and length > 0' "wrong password has a message"
check '! grep -q "$WRONG" "$RESP"' "the 400 does not contain the wrong password"
check "[ \"\$(conn_count)\" = $N ]" "failed creates saved nothing"
req POST /api/connections "{\"name\":\"Wrong\",\"type\":\"postgresql\",\"configuration\":$(pgconf "$WRONG")}"
expect_status 200 "wrong password without validate is saved"
expect_jq '.data.status == "unhealthy" and (.data.status_error | type == "string" and length > 0)' "saved as unhealthy"
check '! grep -q "$WRONG" "$RESP"' "the unhealthy connection does not reveal the password"
req POST /api/connections/test "{\"type\":\"postgresql\",\"configuration\":$(pgconf "$WRONG")}"
expect_status 400 "C10 with a wrong password"
check '! grep -q "$WRONG" "$RESP"' "the C10 message does not contain the password"
req POST /api/connections/test "{\"type\":\"postgresql\",\"configuration\":$(pgconf "$PW" | jq -c '.database = "no_such_db_here"')}"
expect_status 400 "C10 on a missing database"
check '! grep -q "$PW" "$RESP"' "that message does not contain the password either"

# --- models
req POST /api/models "{\"name\":\"Contacts\",\"connection_id\":\"$PG\",\"configuration\":{\"table\":\"crm.contacts\"},\"identifier\":\"id\"}"
expect_status 200 "table model on crm.contacts"
M1=$(jqr .data.id)
expect_jq '.data.type == "postgresql" and [.data.fields[].name] == ["id", "email", "full_name", "score", "is_vip", "signed_up_at"]' "table fields in column order"
expect_jq '.data.fields[] | select(.name == "id") | .type == "number" and (.remote_type | ascii_downcase | test("int"))' "id: number, remote int"
expect_jq '.data.fields[] | select(.name == "email") | .type == "string"' "email: string"
expect_jq '.data.fields[] | select(.name == "score") | .type == "number"' "score: number"
expect_jq '.data.fields[] | select(.name == "is_vip") | .type == "boolean"' "is_vip: boolean"
expect_jq '.data.fields[] | select(.name == "signed_up_at") | .type == "datetime"' "signed_up_at: datetime"
req GET "/api/models/$M1/sample"
expect_status 200 "sample of crm.contacts"
expect_jq "(.data.records | length) == 4 and all(.data.records[]; keys == [\"$M1\"])" "four records keyed by the model id"
expect_jq "[.data.records[][\"$M1\"].email] | sort == [\"ada@example.com\", \"alan@example.com\", \"grace@example.com\", \"kurt@example.com\"]" "emails match the seed"
expect_jq ".data.records[][\"$M1\"] | select(.id == 1) | .full_name == \"Ada Lovelace\" and .score == 91.5 and .is_vip == true and (.signed_up_at | tostring | contains(\"2024-01-15\"))" "row 1 values and types"
expect_jq ".data.records[][\"$M1\"] | select(.id == 3) | .score == null and .is_vip == true" "row 3 NULL score"
expect_jq ".data.records[][\"$M1\"] | select(.id == 4) | .full_name == \"Kurt Gödel\" and .is_vip == false" "row 4 UTF-8 and false"

req POST /api/models "{\"name\":\"VIPs\",\"connection_id\":\"$PG\",\"configuration\":{\"query\":\"SELECT id, email FROM crm.contacts WHERE is_vip ORDER BY id\"}}"
expect_status 200 "query model"
M2=$(jqr .data.id)
expect_jq '[.data.fields[].name] == ["id", "email"]' "query fields"
req GET "/api/models/$M2/sample"
expect_jq "[.data.records[][\"$M2\"].email] == [\"ada@example.com\", \"grace@example.com\"]" "query sample rows"
req POST /api/models "{\"name\":\"Accounts\",\"connection_id\":\"$PG\",\"configuration\":{\"table\":\"public.accounts\"}}"
expect_status 200 "table model on public.accounts"
expect_jq '[.data.fields[].name] == ["id", "name", "plan"] and (.data.fields[] | select(.name == "id") | .type == "number")' "accounts fields"
req POST /api/models "{\"name\":\"Wipe\",\"connection_id\":\"$PG\",\"configuration\":{\"query\":\"DELETE FROM crm.contacts\"}}"
expect_status 400 "write query"
req POST /api/models "{\"name\":\"Wipe2\",\"connection_id\":\"$PG\",\"configuration\":{\"query\":\"SELECT 1; DELETE FROM crm.contacts\"}}"
expect_status 400 "stacked write query"
check '[ "$(pg -d "$PGDB" -tA -c "SELECT count(*) FROM crm.contacts")" = 4 ]' "crm.contacts still has four rows"
req POST /api/models "{\"name\":\"Nope\",\"connection_id\":\"$PG\",\"configuration\":{\"table\":\"crm.nope\"}}"
check '[ "$STATUS" = 422 ] || [ "$STATUS" = 400 ]' "missing table is 422/400 (got $STATUS)"
req POST /api/models "{\"name\":\"Stages\",\"connection_id\":\"$PG\",\"configuration\":{\"table\":\"crm.Deal Stages\"}}"
expect_status 200 "model on a table whose names need quoting"
M3=$(jqr .data.id)
expect_jq '[.data.fields[].name] == ["Stage Name", "Order"]' "quoted column names discovered"
req GET "/api/models/$M3/sample"
expect_jq "[.data.records[][\"$M3\"] | {(.[\"Stage Name\"]): .Order}] | add == {\"Qualified\": 1, \"Closed Won\": 2}" "sample of the quoted table"
for t in 'crm.contacts; DROP TABLE public.accounts' 'public.accounts WHERE false' 'crm.\"contacts'; do
    req POST /api/models "{\"name\":\"Inject\",\"connection_id\":\"$PG\",\"configuration\":{\"table\":\"$t\"}}"
    check '[ "$STATUS" = 422 ] || [ "$STATUS" = 400 ]' "table name '$t' is not SQL (got $STATUS)"
done
check '[ "$(pg -d "$PGDB" -tA -c "SELECT count(*) FROM public.accounts")" = 2 ]' "no injected statement ran"
req POST /api/models "{\"name\":\"Bad SQL\",\"connection_id\":\"$PG\",\"configuration\":{\"query\":\"SELEC 1\"}}"
expect_status 400 "bad SQL"

# --- A1 / A2
req GET "/api/connections/$PG/modelsync/source"
expect_status 200 "A1 postgresql"
expect_jq "$VALS"' .data.items.table.items | vals | contains(["crm.contacts", "public.accounts", "crm.Deal Stages"])' "A1 lists schema.table names"
req GET "/api/connections/$PG/modelsync/source/fields?params=$(urlenc '{"table":["crm.contacts"]}')"
expect_status 200 "A2 crm.contacts"
expect_jq '[.data[].name] == ["id", "email", "full_name", "score", "is_vip", "signed_up_at"]' "A2 fields"

# --- B7 / B8 / B9
req GET "/api/connections/$PG/modelsync/targetobjects"
expect_status 200 "B7 postgresql"
expect_jq '[.data[].id] | contains(["crm.contacts", "public.accounts"])' "B7 lists schema.table objects"
expect_jq ".data[] | select(.id == \"crm.contacts\") | [.modes[].id] | sort == $DB_MODES" "B7 database modes"
expect_jq '.data[] | select(.id == "crm.contacts") | all(.modes[]; .id as $m | .requires_identity == (["update", "updateOrCreate", "remove"] | index($m) != null))' "B7 requires_identity"
expect_jq '.target_creation.supported == true and ([.target_creation.properties[].id] | index("schema") != null)' "target creation offers a schema property"
req GET "/api/connections/$PG/modelsync/targetobjects/properties/schema"
expect_status 200 "B9 schema"
expect_jq '.data.id == "schema" and ([.data.values[].value] | contains(["crm", "public"]))' "B9 lists the schemas"
req GET "/api/connections/$PG/modelsync/targetobjects/properties/nope"
expect_error 404 not_found "B9 unknown property"
req GET "/api/connections/$PG/modelsync/target/fields?target=crm.contacts"
expect_status 200 "B8 crm.contacts"
expect_jq '.data.id == "crm.contacts" and ([.data.fields[].name] | contains(["id", "email", "full_name", "score", "is_vip", "signed_up_at"]))' "B8 fields"
expect_jq "[.data.modes[].mode] | sort == $DB_MODES" "B8 modes"
expect_jq 'all(.data.modes[]; (.label | length > 0) and (.description | length > 0))' "B8 Mode labels and descriptions"
expect_jq ".data.refreshed_at | test(\"$TIME_RE\")" "B8 refreshed_at"
req GET "/api/connections/$PG/modelsync/target/fields?target=crm.nope"
expect_error 404 not_found "B8 unknown table"
req GET "/api/connections/$PG/modelsync/target/fields?target=public.accounts"
expect_status 200 "B8 public.accounts"
req GET "/api/connections/$PG/modelsync/target/fields?target=crm.Deal%20Stages"
expect_status 200 "B8 on a table whose name needs quoting"
expect_jq '.data.id == "crm.Deal Stages" and ([.data.fields[].name] | contains(["Stage Name", "Order"]))' "B8 quoted table fields"

ms_stop
pg -d "$MS_TEST_PG_DB" -c "DROP DATABASE IF EXISTS $PGDB WITH (FORCE)" >/dev/null 2>&1
check '[ "$(pg -d "$MS_TEST_PG_DB" -tA -c "SELECT count(*) FROM pg_database WHERE datname = '"'$PGDB'"'")" = 0 ]' "the test database was dropped"
ms_finish
