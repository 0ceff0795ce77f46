#!/usr/bin/env bash
# 20-auth: credentials, organization isolation and idempotency keys (API.md §2.2, §2.8, §10.1,
# §10.2; DECISIONS D1, D19). Two organizations are created with `modelsync init` on one data
# directory. Missing, unknown, garbled (scheme, base64) and mismatched Basic credentials are 401
# ApiErrors with key "unauthorized". A Bearer user key is a user actor on /api/me (id, email); an
# organization key is an organization actor (no id/email) with Basic "<key>:", ":<key>", "<key>:<key>"
# and with Bearer; scheme names are case-insensitive; the stored key class decides the actor.
# Keys made and revoked with `modelsync keys` work until revoked, then get 401. Objects of one
# organization are 404 for the other (get, update, delete, sample, A1/B7, references in bodies)
# and absent from its lists. Idempotency-Key: same key and body replays the stored status and body
# without executing again (also for errors, also after the object was deleted); same key with
# another body is 422 idempotency_key_reused; malformed keys are 400; keys are scoped per
# organization; concurrent requests with one key execute once (others replay or get 409
# idempotency_key_in_use); PUT and DELETE honour keys too. /api/organization returns the caller's organization.
cd "$(dirname "$0")/../.." || exit 1
. tests/api/lib.sh
FIX=tests/fixtures

b64() { printf '%s' "$1" | base64 -w0; }
# conn_names: the sorted names of the caller's connections, one per line (overwrites $RESP).
conn_names() { req GET /api/connections; jq -r '.data[].name' "$RESP" | sort; }
conn_count() { req GET /api/connections; jq '.data | length' "$RESP"; }
conn_body() { printf '{"name":"%s","type":"sqlite","configuration":{"path":"%s"}}' "$1" "$2"; }

ms_init "Org Alpha" "alpha@example.com"
A_KEY=$API_KEY A_ORG_KEY=$ORG_KEY A_ORG=$ORG_ID A_USER=$USER_ID
ms_init "Org Beta" "beta@example.com"
B_KEY=$API_KEY B_ORG_KEY=$ORG_KEY B_ORG=$ORG_ID
check '[ "$A_ORG" != "$B_ORG" ] && [ "$A_KEY" != "$B_KEY" ]' "a second init adds another organization with other keys"
API_KEY=$A_KEY
ms_serve
DB="$T_DIR/src.db"
sqlite3 "$DB" <"$FIX/sqlite-seed.sql"

# --- failures are 401 ApiErrors
AUTH="" req GET /api/me
expect_error 401 unauthorized "no Authorization header"
expect_header Content-Type '^content-type: *application/json' "401 Content-Type"
AUTH="Bearer wrong-key-0123456789abcdef" req GET /api/me
expect_error 401 unauthorized "unknown Bearer key"
AUTH="Bearer ${A_KEY}x" req GET /api/me
expect_error 401 unauthorized "Bearer key with a character appended"
AUTH="Bearer" req GET /api/me
expect_error 401 unauthorized "Bearer without a key"
AUTH="Token $A_KEY" req GET /api/me
expect_error 401 unauthorized "unknown scheme with a valid key"
AUTH="$A_KEY" req GET /api/me
expect_error 401 unauthorized "key without a scheme"
AUTH="Basic %%%not-base64%%%" req GET /api/me
expect_error 401 unauthorized "Basic with bad base64"
AUTH="Basic $(b64 "$A_ORG_KEY:other-password")" req GET /api/me
expect_error 401 unauthorized "Basic key:other"
AUTH="Basic $(b64 "someone-else:$A_ORG_KEY")" req GET /api/me
expect_error 401 unauthorized "Basic unknown-user:key (the username is the key)"
AUTH="Basic $(b64 ":")" req GET /api/me
expect_error 401 unauthorized "Basic with empty username and password"
AUTH="" req GET /api/connections
expect_error 401 unauthorized "no credential on /api/connections"
AUTH="" req POST /api/connections "$(conn_body "no auth" "$DB")"
expect_error 401 unauthorized "no credential on a create"

# --- user key (Bearer)
req GET /api/me
expect_status 200 "Bearer user key"
expect_jq ".data.is_user == true and .data.is_organization == false and .data.is_partner == false and .data.is_system == false" "user actor flags"
expect_jq ".data.id == \"$A_USER\" and .data.email == \"alpha@example.com\"" "user id and email"
expect_jq ".data.organization_id == \"$A_ORG\" and .data.organization_name == \"Org Alpha\"" "user's organization"
AUTH="bearer $A_KEY" req GET /api/me
expect_status 200 "lower-case 'bearer'"
expect_jq '.data.is_user == true' "lower-case bearer is the user"
AUTH="BEARER $A_KEY" req GET /api/me
expect_status 200 "upper-case 'BEARER'"
AUTH="Basic $(b64 "$A_KEY:")" req GET /api/me
expect_status 200 "user key over Basic"
expect_jq ".data.is_user == true and .data.id == \"$A_USER\"" "the stored class decides: user key over Basic is the user"

# --- organization key
AUTH="Basic $(b64 "$A_ORG_KEY:")" req GET /api/me
expect_status 200 "Basic '<org key>:'"
expect_jq ".data.is_organization == true and .data.is_user == false and .data.is_partner == false and .data.is_system == false" "organization actor flags"
expect_jq ".data.organization_id == \"$A_ORG\" and .data.organization_name == \"Org Alpha\"" "organization actor's organization"
expect_jq '(.data | has("id") | not) and (.data | has("email") | not)' "organization actor has no id/email"
AUTH="Basic $(b64 ":$A_ORG_KEY")" req GET /api/me
expect_status 200 "Basic ':<org key>'"
expect_jq ".data.is_organization == true and .data.organization_id == \"$A_ORG\"" "empty username: the password is the key"
AUTH="Basic $(b64 "$A_ORG_KEY:$A_ORG_KEY")" req GET /api/me
expect_status 200 "Basic '<key>:<key>'"
expect_jq '.data.is_organization == true' "key:key is the organization"
AUTH="Basic $(b64 "$A_ORG_KEY:" | tr -d '=')" req GET /api/me
expect_status 200 "Basic without base64 padding"
AUTH="basic $(b64 "$A_ORG_KEY:")" req GET /api/me
expect_status 200 "lower-case 'basic'"
AUTH="Bearer $A_ORG_KEY" req GET /api/me
expect_status 200 "Bearer with the organization key"
expect_jq ".data.is_organization == true and .data.is_user == false and (.data | has(\"id\") | not)" "Bearer org key is the organization actor"

# --- /api/organization
req GET /api/organization
expect_status 200 "GET /api/organization"
expect_jq ".data.id == \"$A_ORG\" and .data.name == \"Org Alpha\"" "the caller's organization"
AUTH="Basic $(b64 "$A_ORG_KEY:")" req GET /api/organization
expect_status 200 "GET /api/organization with the organization key"
expect_jq ".data.id == \"$A_ORG\"" "organization key's organization"
AUTH="Bearer $B_KEY" req GET /api/organization
expect_jq ".data.id == \"$B_ORG\" and .data.name == \"Org Beta\"" "the other organization sees itself"

# --- keys made and revoked on the command line
"$MS_BIN" keys create --data "$T_DIR/data" --org "$A_ORG" --user "$A_USER" --json >"$T_DIR/k1.json" 2>>"$T_DIR/cli.log"
rc=$?
check '[ $rc -eq 0 ] && jq -e ".id and .key" "$T_DIR/k1.json" >/dev/null' "keys create --user --json prints id and key"
K1_ID=$(jq -r .id "$T_DIR/k1.json") K1=$(jq -r .key "$T_DIR/k1.json")
"$MS_BIN" keys create --data "$T_DIR/data" --org "$A_ORG" --json >"$T_DIR/k2.json" 2>>"$T_DIR/cli.log"
K2_ID=$(jq -r .id "$T_DIR/k2.json") K2=$(jq -r .key "$T_DIR/k2.json")
AUTH="Bearer $K1" req GET /api/me
expect_status 200 "a new user key works while the server runs"
expect_jq ".data.is_user == true and .data.id == \"$A_USER\"" "the new user key is the user"
AUTH="Basic $(b64 "$K2:")" req GET /api/me
expect_status 200 "a new organization key works"
expect_jq '.data.is_organization == true' "the new organization key is the organization"
"$MS_BIN" keys revoke --data "$T_DIR/data" "$K1_ID" >>"$T_DIR/cli.log" 2>&1
rc=$?
check '[ $rc -eq 0 ]' "keys revoke exits 0"
"$MS_BIN" keys revoke --data "$T_DIR/data" "$K2_ID" >>"$T_DIR/cli.log" 2>&1
AUTH="Bearer $K1" req GET /api/me
expect_error 401 unauthorized "revoked user key"
AUTH="Basic $(b64 "$K2:")" req GET /api/me
expect_error 401 unauthorized "revoked organization key"
req GET /api/me
expect_status 200 "the other keys still work after a revoke"
"$MS_BIN" keys list --data "$T_DIR/data" --org "$A_ORG" --json >"$T_DIR/keys.json" 2>>"$T_DIR/cli.log"
check "jq -e '[.[] | select(.id == \"$K1_ID\" and .revoked_at != null)] | length == 1' \"$T_DIR/keys.json\" >/dev/null" "keys list shows the revoked key as revoked"
check "! grep -q \"$K1\" \"$T_DIR/keys.json\"" "keys list does not print whole keys"

# --- organization isolation
req POST /api/connections "$(conn_body "Alpha Source" "$DB")"
expect_status 200 "org A creates a connection"
A_CONN=$(jqr .data.id)
req POST /api/models "{\"name\":\"Alpha Users\",\"connection_id\":\"$A_CONN\",\"configuration\":{\"table\":\"users\"}}"
expect_status 200 "org A creates a model"
A_MODEL=$(jqr .data.id)

API_KEY=$B_KEY
req GET "/api/connections/$A_CONN"
expect_error 404 not_found "org B: GET A's connection"
req PUT "/api/connections/$A_CONN" "$(conn_body "Hijacked" "$DB")"
expect_error 404 not_found "org B: PUT A's connection"
req DELETE "/api/connections/$A_CONN"
expect_error 404 not_found "org B: DELETE A's connection"
req DELETE "/api/connections/$A_CONN?force=true"
expect_error 404 not_found "org B: DELETE A's connection with force"
req GET /api/connections
expect_status 200 "org B lists connections"
expect_jq "[.data[].id] | index(\"$A_CONN\") == null" "A's connection is absent from B's list"
req GET "/api/connections/$A_CONN/modelsync/source"
expect_error 404 not_found "org B: A1 on A's connection"
req GET "/api/connections/$A_CONN/modelsync/targetobjects"
expect_error 404 not_found "org B: B7 on A's connection"
req GET "/api/models/$A_MODEL"
expect_error 404 not_found "org B: GET A's model"
req GET "/api/models/$A_MODEL/sample"
expect_error 404 not_found "org B: sample of A's model"
req PUT "/api/models/$A_MODEL" "{\"name\":\"x\",\"connection_id\":\"$A_CONN\",\"configuration\":{\"table\":\"users\"}}"
expect_error 404 not_found "org B: PUT A's model"
req DELETE "/api/models/$A_MODEL"
expect_error 404 not_found "org B: DELETE A's model"
req GET /api/models
expect_jq "[.data[].id] | index(\"$A_MODEL\") == null" "A's model is absent from B's list"
req POST /api/models "{\"name\":\"Stolen\",\"connection_id\":\"$A_CONN\",\"configuration\":{\"table\":\"users\"}}"
expect_status 422 "org B: a model on A's connection"
expect_jq '.status == 422 and (.message | contains("connection_id"))' "the 422 names connection_id"
req POST /api/connections/test "{\"type\":\"sqlite\",\"configuration\":{},\"connection_id\":\"$A_CONN\"}"
check '[ "$STATUS" = 404 ] || [ "$STATUS" = 422 ]' "org B: C10 with A's connection_id is 404/422 (got $STATUS)"
AUTH="Basic $(b64 "$B_ORG_KEY:")" req GET "/api/connections/$A_CONN"
expect_error 404 not_found "org B's organization key: GET A's connection"
req GET /api/models
check '[ "$(jqr ".data | length")" = 0 ]' "org B has no models"

API_KEY=$A_KEY
req GET "/api/connections/$A_CONN"
expect_status 200 "A's connection survived B's delete attempts"
expect_jq '.data.name == "Alpha Source"' "A's connection was not renamed by B"
req GET "/api/models/$A_MODEL"
expect_status 200 "A's model survived B's delete attempt"
AUTH="Basic $(b64 "$A_ORG_KEY:")" req GET "/api/connections/$A_CONN"
expect_status 200 "A's organization key sees A's connection"

# --- idempotency keys
N0=$(conn_count)
IK=create-conn-0001
req POST /api/connections "$(conn_body "Idem One" "$DB")" -H "Idempotency-Key: $IK"
expect_status 200 "first request with an Idempotency-Key"
IDEM_ID=$(jqr .data.id)
jq -S . "$RESP" >"$T_DIR/idem1.json"
req POST /api/connections "$(conn_body "Idem One" "$DB")" -H "Idempotency-Key: $IK"
expect_status 200 "replayed request"
check 'jq -S . "$RESP" | cmp -s - "$T_DIR/idem1.json"' "the replay returns the stored body"
check '[ "$(conn_count)" = $((N0 + 1)) ]' "the connection was created once"
check '[ "$(conn_names | grep -c "^Idem One$")" = 1 ]' "exactly one 'Idem One'"
req POST /api/connections "$(conn_body "Idem Other" "$DB")" -H "Idempotency-Key: $IK"
expect_error 422 idempotency_key_reused "same key, different body"
check '! conn_names | grep -q "^Idem Other$"' "the different body was not executed"
req PUT "/api/connections/$IDEM_ID" "$(conn_body "Idem One" "$DB")" -H "Idempotency-Key: $IK"
expect_error 422 idempotency_key_reused "same key, another method and path"

req DELETE "/api/connections/$IDEM_ID"
expect_status 204 "delete the idempotently created connection"
req POST /api/connections "$(conn_body "Idem One" "$DB")" -H "Idempotency-Key: $IK"
expect_status 200 "replay after the object was deleted"
expect_jq ".data.id == \"$IDEM_ID\"" "the replay is the stored answer, not a new creation"
check '[ "$(conn_count)" = "$N0" ]' "the replay after delete created nothing"

API_KEY=$B_KEY
req POST /api/connections "$(conn_body "Idem One" "$DB")" -H "Idempotency-Key: $IK"
expect_status 200 "the same key in another organization"
expect_jq ".data.id != \"$IDEM_ID\" and .data.organization_id == \"$B_ORG\"" "keys are scoped per organization"
API_KEY=$A_KEY

N1=$(conn_count)
for bad in short 'has spaces in it' 'bad!chars#1234' "$(head -c 256 /dev/zero | tr '\0' k)"; do
    req POST /api/connections "$(conn_body "Idem Bad" "$DB")" -H "Idempotency-Key: $bad"
    expect_error 400 invalid_request "malformed Idempotency-Key '${bad:0:20}'"
done
req POST /api/connections "$(conn_body "Idem Bad" "$DB")" -H "Idempotency-Key;"
expect_error 400 invalid_request "empty Idempotency-Key"
check '[ "$(conn_count)" = "$N1" ]' "malformed keys create nothing"
req POST /api/connections "$(conn_body "Idem Eight" "$DB")" -H "Idempotency-Key: ab_-12Z9"
expect_status 200 "an 8-character key of [A-Za-z0-9_-] is valid"
req POST /api/connections "$(conn_body "Idem Long" "$DB")" -H "Idempotency-Key: $(head -c 255 /dev/zero | tr '\0' k)"
expect_status 200 "a 255-character key is valid"

# Errors are stored too: the first outcome stays even when the request would now succeed.
LATE="$T_DIR/late.db"
IK2=failing-create-0002
LATE_BODY="{\"name\":\"Idem Late\",\"type\":\"sqlite\",\"validate\":true,\"configuration\":{\"path\":\"$LATE\"}}"
req POST /api/connections "$LATE_BODY" -H "Idempotency-Key: $IK2"
expect_status 400 "validate:true on a missing file with a key"
jq -S . "$RESP" >"$T_DIR/idem2.json"
sqlite3 "$LATE" <"$FIX/sqlite-seed.sql"
req POST /api/connections "$LATE_BODY"
expect_status 200 "without the key the same body now succeeds"
req DELETE "/api/connections/$(jqr .data.id)"
req POST /api/connections "$LATE_BODY" -H "Idempotency-Key: $IK2"
expect_status 400 "with the key the stored 400 is replayed"
check 'jq -S . "$RESP" | cmp -s - "$T_DIR/idem2.json"' "the replayed error body is the stored one"
check '! conn_names | grep -q "^Idem Late$"' "the replayed error created nothing"

# Concurrent requests with one key: one execution; the others replay it or get 409 in flight.
PAR=""
for i in $(seq 1 8); do
    curl -s -o "$T_DIR/race-$i.json" -w '%{http_code}\n' -H "Authorization: Bearer $API_KEY" \
        -H 'Content-Type: application/json' -H 'Idempotency-Key: race-key-0004' \
        --data-binary "$(conn_body "Idem Race" "$DB")" "$BASE/api/connections" >"$T_DIR/race-$i.status" &
    PAR="$PAR $!"
done
# shellcheck disable=SC2086 # a list of pids: the server is a child too and must not be waited for
wait $PAR
check '[ -z "$(cat "$T_DIR"/race-*.status | grep -v -x -e 200 -e 409)" ]' "concurrent same-key requests answer 200 or 409 ($(cat "$T_DIR"/race-*.status | sort | uniq -c | tr '\n' ' '))"
check '[ "$(cat "$T_DIR"/race-*.json | jq -r "select(.data) | .data.id" | sort -u | wc -l)" = 1 ]' "every 200 carries the same id"
check '[ "$(cat "$T_DIR"/race-*.json | jq -s "length == 8 and all(.[]; .data.id != null or .key == \"idempotency_key_in_use\")")" = true ]' "a 409 is idempotency_key_in_use"
check '[ "$(conn_names | grep -c "^Idem Race$")" = 1 ]' "the concurrent requests created one connection"

# DELETE accepts a key, and honours it: the replay is the stored 204, not a 404.
req POST /api/connections "$(conn_body "Idem Delete" "$DB")"
DEL_ID=$(jqr .data.id)
req DELETE "/api/connections/$DEL_ID" "" -H "Idempotency-Key: delete-key-0005"
expect_status 204 "DELETE with an Idempotency-Key"
req DELETE "/api/connections/$DEL_ID" "" -H "Idempotency-Key: delete-key-0005"
expect_status 204 "DELETE replay with the same key returns the stored 204"
req DELETE "/api/connections/$DEL_ID"
expect_error 404 not_found "DELETE without the key is 404"

# PUT honours keys as well.
req POST /api/connections "$(conn_body "Idem Put" "$DB")"
PUT_ID=$(jqr .data.id)
IK3=rename-conn-0003
req PUT "/api/connections/$PUT_ID" "$(conn_body "Idem Put Renamed" "$DB")" -H "Idempotency-Key: $IK3"
expect_status 200 "PUT with a key"
jq -S . "$RESP" >"$T_DIR/idem3.json"
req PUT "/api/connections/$PUT_ID" "$(conn_body "Idem Put Renamed" "$DB")" -H "Idempotency-Key: $IK3"
expect_status 200 "PUT replay"
check 'jq -S . "$RESP" | cmp -s - "$T_DIR/idem3.json"' "PUT replay returns the stored body"
req PUT "/api/connections/$PUT_ID" "$(conn_body "Idem Put Again" "$DB")" -H "Idempotency-Key: $IK3"
expect_error 422 idempotency_key_reused "PUT with the same key and another body"
req GET "/api/connections/$PUT_ID"
expect_jq '.data.name == "Idem Put Renamed"' "the reused-key PUT was not executed"

ms_finish
