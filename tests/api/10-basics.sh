#!/usr/bin/env bash
# 10-basics: the cross-cutting HTTP rules of API.md §2 that do not depend on a resource.
# /healthz and /metrics answer without a key, and the metrics text names routes but reveals no
# organization, user or connection data. Every response (success, 4xx, preflight, public routes)
# carries exactly one "X-Polytomic-Version: 2025-09-18", whatever version the request asked for
# (none, "test", "2024-02-08"). Errors are ApiError JSON with Content-Type application/json.
# Routing: unknown paths and out-of-scope Polytomic paths are 404, a wrong method on a known path
# is 405, a malformed UUID is 404, literal segments beat parameters (/api/connections/test),
# repeated slashes collapse, segments are split before percent-decoding, UUIDs match
# case-insensitively, unknown query parameters and a Content-Type on a GET are ignored. Bodies
# up to 1 MiB are accepted and larger ones (with a length or chunked) get 413. 405 carries Allow;
# bad percent-encoding and huge credentials are clean 404/401. Connections are kept alive, 32
# parallel creates all succeed exactly once, a CORS preflight is answered 204 with the SDK's
# headers allowed, and metrics never carry ids or raw paths of unmatched requests.
cd "$(dirname "$0")/../.." || exit 1
. tests/api/lib.sh
FIX=tests/fixtures

# hdr NAME: the values of header NAME in the last response, one per line, without CR.
hdr() { grep -i "^$1:" "$HDRS" | tr -d '\r' | sed 's/^[^:]*: *//'; }
# expect_version DESC: exactly one X-Polytomic-Version header, and it is 2025-09-18.
expect_version() {
    check '[ "$(hdr X-Polytomic-Version)" = "2025-09-18" ]' "$1: X-Polytomic-Version is '$(hdr X-Polytomic-Version | tr '\n' ' ')', want exactly one 2025-09-18"
}
# expect_json_error CODE KEY DESC: ApiError with Content-Type application/json and the version.
expect_json_error() {
    expect_error "$1" "$2" "$3"
    expect_header Content-Type '^content-type: *application/json' "$3 (Content-Type)"
    expect_version "$3"
}

ms_init "Basics Org Quokka" "basics-quokka@example.com"
ms_serve
sqlite3 "$T_DIR/src.db" <"$FIX/sqlite-seed.sql"

# --- public endpoints
AUTH="" req GET /healthz
expect_status 200 "GET /healthz without a key"
expect_jq '.status == "ok"' "healthz body"
expect_version "healthz"

# Make a few requests that touch organization data before reading the metrics.
req POST /api/connections "{\"name\":\"Metrics Secret Name\",\"type\":\"sqlite\",\"configuration\":{\"path\":\"$T_DIR/src.db\"}}"
expect_status 200 "create a connection"
CONN=$(jqr .data.id)
req GET "/api/connections/$CONN"
expect_status 200 "get the connection"
req GET /api/me
AUTH="" req GET /metrics
expect_status 200 "GET /metrics without a key"
expect_header Content-Type '^content-type: *text/plain' "metrics Content-Type"
expect_version "metrics"
check 'grep -q "^modelsync_http_requests_total" "$RESP"' "metrics has modelsync_http_requests_total"
check 'grep -q "/api/connections/{id}" "$RESP"' "metrics report the route pattern /api/connections/{id}"
check '! grep -q "$ORG_ID" "$RESP"' "metrics do not contain the organization id"
check '! grep -qi "Quokka" "$RESP"' "metrics do not contain the organization name or email"
check '! grep -q "$USER_ID" "$RESP"' "metrics do not contain the user id"
check '! grep -q "$CONN" "$RESP"' "metrics do not contain a connection id"
check '! grep -q "Metrics Secret Name" "$RESP"' "metrics do not contain a connection name"
check '! grep -q "$API_KEY" "$RESP"' "metrics do not contain the API key"

# --- X-Polytomic-Version on every response, whatever the request sent
req GET /api/me
expect_status 200 "GET /api/me without a version header"
expect_version "no version header"
req GET /api/me "" -H "X-Polytomic-Version: test"
expect_status 200 "GET /api/me with version 'test'"
expect_version "version 'test'"
req GET /api/me "" -H "X-Polytomic-Version: 2024-02-08"
expect_status 200 "GET /api/me with version 2024-02-08"
expect_version "version 2024-02-08"
req GET /api/me "" -H "X-Polytomic-Version: 2025-09-18"
expect_status 200 "GET /api/me with version 2025-09-18"
expect_version "version 2025-09-18"
expect_header Content-Type '^content-type: *application/json' "success Content-Type"
AUTH="" req GET /api/me "" -H "X-Polytomic-Version: 2024-02-08"
expect_json_error 401 unauthorized "401 with version 2024-02-08"

# --- routing
req GET /api/nothing-here
expect_json_error 404 not_found "unknown /api path"
req GET /nothing-here
expect_json_error 404 not_found "unknown path outside /api"
req GET /api/bulk/syncs
expect_json_error 404 not_found "out-of-scope /api/bulk/syncs"
req GET /api/events
expect_json_error 404 not_found "out-of-scope /api/events"
req GET "/api/connections/$CONN/schemas"
expect_json_error 404 not_found "out-of-scope /api/connections/{id}/schemas"

req DELETE /api/me
expect_json_error 405 method_not_allowed "DELETE /api/me"
expect_header Allow 'GET' "405 carries Allow with the path's methods"
req PUT /api/connection_types '{}'
expect_json_error 405 method_not_allowed "PUT /api/connection_types"
req POST "/api/connections/$CONN" '{}'
expect_json_error 405 method_not_allowed "POST /api/connections/{id}"
req PATCH /api/models '{}'
expect_json_error 405 method_not_allowed "PATCH /api/models"

req GET /api/connections/not-a-uuid
expect_json_error 404 not_found "malformed UUID in /api/connections/{id}"
req GET /api/models/12345
expect_json_error 404 not_found "malformed UUID in /api/models/{id}"
req GET /api/connections/0f0e9c2a-1b2c-4d5e-8f90-a1b2c3d4e5fg
expect_json_error 404 not_found "UUID with a non-hex digit"
req DELETE /api/connections/0f0e9c2a-1b2c-4d5e-8f90
expect_json_error 404 not_found "truncated UUID on DELETE"
req GET /api/connections/0f0e9c2a-1b2c-4d5e-8f90-a1b2c3d4e5f6
expect_json_error 404 not_found "well-formed but unknown connection id"

# /api/connections/test is a literal: GET there is 405, not a 404 for the id "test".
req GET /api/connections/test
expect_json_error 405 method_not_allowed "GET /api/connections/test (literal beats {id})"
req POST /api/connections/test "{\"type\":\"sqlite\",\"configuration\":{\"path\":\"$T_DIR/src.db\"}}"
expect_status 204 "POST /api/connections/test routes to the test endpoint"

req GET //api//me
expect_status 200 "//api//me collapses repeated slashes"
expect_jq ".data.organization_id == \"$ORG_ID\"" "//api//me answers /api/me"
req GET "//api/connections//$CONN"
expect_status 200 "repeated slashes before an id"

UPPER=$(echo "$CONN" | tr a-f A-F)
req GET "/api/connections/$UPPER"
expect_status 200 "upper-case UUID matches"
expect_jq ".data.id == \"$CONN\"" "ids are emitted lower-case"
ENC=${CONN/-/%2D}
req GET "/api/connections/$ENC"
expect_status 200 "percent-encoded UUID segment is decoded"
expect_jq ".data.id == \"$CONN\"" "percent-decoded id"
req GET "/api/connections%2F$CONN"
expect_json_error 404 not_found "%2F is not a path separator (split before decoding)"
req GET "/api/%6De"
expect_status 200 "a percent-encoded literal segment is decoded"
req GET "/api/connections/%zz"
expect_json_error 404 not_found "invalid percent-encoding in a path segment"
AUTH="Bearer $(head -c 10000 /dev/zero | tr '\0' k)" req GET /api/me
expect_json_error 401 unauthorized "a 10 kB Bearer value"

req GET "/api/me?foo=bar&limit=abc&params=%7B%7D"
expect_status 200 "unknown query parameters are ignored"
req GET /api/me "" -H "Content-Type: application/json"
expect_status 200 "Content-Type on a body-less GET is ignored"
req DELETE /api/connections/0f0e9c2a-1b2c-4d5e-8f90-a1b2c3d4e5f6 "" -H "Content-Type: application/json"
expect_json_error 404 not_found "Content-Type on a body-less DELETE is ignored"

# --- request body limit (1 MiB)
python3 - "$T_DIR/big.json" "$T_DIR/under.json" "$T_DIR/src.db" <<'EOF'
import json, sys
big, under, db = sys.argv[1:4]
with open(big, "w") as f:
    json.dump({"name": "big", "type": "sqlite", "configuration": {"path": db},
               "notes": "a" * (1200 * 1024)}, f)
with open(under, "w") as f:
    json.dump({"name": "just under the cap", "type": "sqlite", "configuration": {"path": db},
               "notes": "b" * (1000 * 1024)}, f)
EOF
req GET /api/connections
N_BEFORE=$(jqr '.data | length')
req POST /api/connections "" -H "Content-Type: application/json" --data-binary "@$T_DIR/big.json"
expect_status 413 "body over 1 MiB"
expect_jq '.status == 413 and (.message | type == "string" and length > 0)' "413 is an ApiError"
expect_version "413"
req POST /api/connections "" -H "Content-Type: application/json" -H "Transfer-Encoding: chunked" \
    --data-binary "@$T_DIR/big.json"
expect_status 413 "chunked body over 1 MiB"
req GET /api/connections
check '[ "$(jqr ".data | length")" = "$N_BEFORE" ]' "an oversized body creates nothing"
req POST /api/connections "" -H "Content-Type: application/json" --data-binary "@$T_DIR/under.json"
expect_status 200 "body just under 1 MiB is accepted (unknown members ignored)"
expect_jq '.data.name == "just under the cap"' "the connection was created"
check '! grep -q bbbbbbbbbb "$RESP"' "the unknown member is not echoed back"

# --- keep-alive: two requests on one connection
curl -sv -o /dev/null -o /dev/null -H "Authorization: Bearer $API_KEY" \
    "$BASE/api/me" "$BASE/api/connection_types" 2>"$T_DIR/keepalive.log"
check 'grep -Eq "Re-using existing|left intact" "$T_DIR/keepalive.log"' "curl reuses the connection"
check '[ "$(grep -c "Connected to" "$T_DIR/keepalive.log")" = 1 ]' "only one TCP connect for two requests"
check '[ "$(grep -c "< HTTP/1.1 200" "$T_DIR/keepalive.log")" = 2 ]' "both keep-alive requests answered 200"

# --- concurrent requests: 32 creates in parallel all succeed, each once
for i in $(seq 1 32); do
    curl -s -o "$T_DIR/par-$i.json" -w '%{http_code}\n' -H "Authorization: Bearer $API_KEY" \
        -H 'Content-Type: application/json' \
        --data-binary "{\"name\":\"Parallel $i\",\"type\":\"sqlite\",\"configuration\":{\"path\":\"$T_DIR/src.db\"}}" \
        "$BASE/api/connections" >"$T_DIR/par-$i.status" &
    PAR="${PAR:-} $!"
done
# shellcheck disable=SC2086 # a list of pids: the server is a child too and must not be waited for
wait $PAR
check '[ "$(cat "$T_DIR"/par-*.status | sort -u)" = 200 ]' "32 parallel creates all answered 200"
check '[ "$(jq -r .data.id "$T_DIR"/par-*.json | sort -u | wc -l)" = 32 ]' "32 distinct ids"
req GET /api/connections
check '[ "$(jqr "[.data[].name | select(startswith(\"Parallel \"))] | length")" = 32 ]' "the list has the 32 parallel connections"

# --- CORS preflight (no credential, as browsers send it)
AUTH="" req OPTIONS /api/connections "" -H "Origin: http://localhost:5173" \
    -H "Access-Control-Request-Method: POST" \
    -H "Access-Control-Request-Headers: authorization,content-type,idempotency-key,x-polytomic-version,x-fern-sdk-name"
expect_status 204 "CORS preflight"
expect_header Access-Control-Allow-Origin '.' "preflight Access-Control-Allow-Origin"
expect_header Access-Control-Allow-Methods 'POST' "preflight allows POST"
for h in Authorization Content-Type Idempotency-Key X-Polytomic-Version X-Fern-Language \
    X-Fern-SDK-Name X-Fern-SDK-Version X-Fern-Runtime X-Fern-Runtime-Version; do
    expect_header Access-Control-Allow-Headers "$h" "preflight allows $h"
done
expect_version "preflight"

# --- metrics after 404s on id-carrying and random paths: still no ids, no raw paths
req GET "/api/connections/$CONN/no-such-thing-7d41"
req GET "/api/random-path-7d41"
AUTH="" req GET /metrics
check '! grep -q "$CONN" "$RESP"' "metrics do not contain ids from unmatched paths"
check '! grep -q "7d41" "$RESP"' "metrics do not contain raw unmatched paths"
check 'grep -q "^modelsync_http_requests_total{.*status=\"404\"" "$RESP"' "metrics count 404s"

ms_finish
