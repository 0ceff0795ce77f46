#!/usr/bin/env bash
# 80-webhook: the webhook destination's connection handling against tests/api/receiver.py, a
# local HTTP endpoint that logs every request (DECISIONS §3). Creating with validate:true POSTs
# {"records":[]} as JSON with the configured headers and, when a secret is set,
# X-Modelsync-Signature: sha256=HMAC-SHA256(secret, "<X-Modelsync-Timestamp>.<body>") (checked
# over the exact bytes received); without a secret no signature is sent. The secret is returned
# as "********" and never in clear; an update with "********" keeps signing with the stored
# secret, a new value replaces it. Non-2xx answers (500, 404) and an unreachable port make C10
# and validate:true fail with 400 (nothing saved); without validate the connection is saved
# unhealthy. Bad configurations (missing or non-http url, non-object or non-string headers,
# non-string secret, extra members) are 400 naming the member.
cd "$(dirname "$0")/../.." || exit 1
. tests/api/lib.sh
SECRET="hook-secret-5f2a9b"
SECRET2="rotated-secret-77c0"

expect_fail() {
    expect_status "$1" "$3"
    expect_jq ".status == $1 and (.key | type == \"string\") and (if $1 == 400 then .key == \"invalid_request\" else true end) and (.message | type == \"string\" and contains(\"$2\"))" "$3: ApiError naming '$2'"
}
rlog_count() { wc -l <"$RLOG" | tr -d ' '; }
# rlog N FILTER: jq FILTER over request N (1-based) of the receiver log; the decoded body is
# available as .body (text) and .json (parsed, or null).
rlog() {
    sed -n "$1p" "$RLOG" | jq -r "(.body_b64 | @base64d) as \$b | . + {body: \$b, json: (\$b | fromjson? // null)} | $2"
}
verify_sig() {
    python3 - "$RLOG" "$1" "$2" <<'EOF'
import base64, hashlib, hmac, json, sys
log, n, secret = sys.argv[1], int(sys.argv[2]), sys.argv[3].encode()
e = json.loads(open(log, encoding="utf-8").read().splitlines()[n - 1])
body = base64.b64decode(e["body_b64"])
ts = e["headers"].get("x-modelsync-timestamp", "")
want = "sha256=" + hmac.new(secret, ts.encode() + b"." + body, hashlib.sha256).hexdigest()
sys.exit(0 if ts and e["headers"].get("x-modelsync-signature") == want else 1)
EOF
}
conn_count() { req GET /api/connections; jq '.data | length' "$RESP"; }
hook() { printf '{"name":"%s","type":"webhook"%s,"configuration":%s}' "$1" "${3:+,$3}" "$2"; }

ms_start
RLOG="$T_DIR/receiver.log"
python3 tests/api/receiver.py "$T_DIR/receiver.port" "$RLOG" &
RPID=$!
trap '[ -n "$MS_PID" ] && kill -9 "$MS_PID" 2>/dev/null; kill "$RPID" 2>/dev/null' EXIT
i=0
while [ ! -s "$T_DIR/receiver.port" ] && [ $i -lt 100 ]; do sleep 0.05; i=$((i + 1)); done
R="http://127.0.0.1:$(cat "$T_DIR/receiver.port")"
CLOSED=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()')

# --- validate with a secret
req POST /api/connections "$(hook "Signed Hook" "{\"url\":\"$R/hook\",\"headers\":{\"X-Custom\":\"abc\"},\"secret\":\"$SECRET\"}" '"validate":true')"
expect_status 200 "create webhook with validate:true"
H1=$(jqr .data.id)
expect_jq ".data.status == \"healthy\" and .data.type.id == \"webhook\"" "webhook is healthy"
expect_jq ".data.configuration.url == \"$R/hook\" and .data.configuration.headers == {\"X-Custom\": \"abc\"} and .data.configuration.secret == \"********\"" "configuration echoed, secret redacted"
check '! grep -q "$SECRET" "$RESP"' "the response does not contain the secret"
check '[ "$(rlog_count)" = 1 ]' "the receiver got exactly one request"
check '[ "$(rlog 1 .method)" = POST ] && [ "$(rlog 1 .path)" = /hook ]' "it was a POST to the configured path"
check '[ "$(rlog 1 ".json.records | type == \"array\" and length == 0")" = true ]' "the body is {\"records\": []}"
check 'rlog 1 ".headers[\"content-type\"]" | grep -q "^application/json"' "Content-Type application/json"
check '[ "$(rlog 1 ".headers[\"x-custom\"]")" = abc ]' "configured headers are sent"
check 'rlog 1 ".headers[\"x-modelsync-signature\"]" | grep -Eq "^sha256=[0-9a-f]{64}$"' "signature header format"
check 'verify_sig 1 "$SECRET"' "signature is the HMAC of timestamp.body with the secret"
check '! verify_sig 1 "not-the-secret"' "the signature does not verify with another secret"

req GET "/api/connections/$H1"
expect_jq '.data.configuration.secret == "********"' "get: secret redacted"
check '! grep -q "$SECRET" "$RESP"' "get does not contain the secret"
check '! grep -rqa "$SECRET" "$T_DIR/data"' "the secret is not stored in clear"

# --- without a secret
req POST /api/connections "$(hook "Plain Hook" "{\"url\":\"$R/plain\"}" '"validate":true')"
expect_status 200 "webhook without a secret"
PLAIN=$(jqr .data.id)
N=$(rlog_count)
check '[ "$(rlog "$N" .path)" = /plain ] && [ "$(rlog "$N" ".headers | has(\"x-modelsync-signature\")")" = false ]' "no signature without a secret"

# --- C10 and failures
N=$(rlog_count)
req POST /api/connections/test "{\"type\":\"webhook\",\"configuration\":{\"url\":\"$R/hook\",\"secret\":\"$SECRET\"}}"
expect_status 204 "C10 against the receiver"
check '[ "$(rlog_count)" = $((N + 1)) ] && verify_sig $((N + 1)) "$SECRET"' "C10 sent one signed request"
req POST /api/connections/test "{\"type\":\"webhook\",\"configuration\":{\"url\":\"$R/status/204\"}}"
expect_status 204 "C10: any 2xx is success"
req POST /api/connections/test "{\"type\":\"webhook\",\"configuration\":{\"url\":\"$R/status/500\"}}"
expect_status 400 "C10: receiver answers 500"
expect_jq '.status == 400 and (.message | type == "string" and length > 0)' "C10 500 is an ApiError with a message"
req POST /api/connections/test "{\"type\":\"webhook\",\"configuration\":{\"url\":\"$R/status/404\"}}"
expect_status 400 "C10: receiver answers 404"
req POST /api/connections/test "{\"type\":\"webhook\",\"configuration\":{\"url\":\"http://127.0.0.1:$CLOSED/hook\"}}"
expect_status 400 "C10: nothing listens on the port"
N0=$(conn_count)
req POST /api/connections "$(hook "Failing Hook" "{\"url\":\"$R/status/500\",\"secret\":\"$SECRET\"}" '"validate":true')"
expect_status 400 "validate:true against a 500"
check '! grep -q "$SECRET" "$RESP"' "the failure does not contain the secret"
check "[ \"\$(conn_count)\" = $N0 ]" "the failing webhook was not saved"
req POST /api/connections "$(hook "Failing Hook" "{\"url\":\"$R/status/500\"}")"
expect_status 200 "without validate a failing webhook is saved"
expect_jq '.data.status == "unhealthy" and (.data.status_error | type == "string" and length > 0)' "saved unhealthy"

# --- updates and the secret
req PUT "/api/connections/$H1" "{\"name\":\"Signed Hook\",\"validate\":true,\"configuration\":{\"url\":\"$R/hook2\",\"headers\":{\"X-Custom\":\"def\"},\"secret\":\"********\"}}"
expect_status 200 "update with the redacted secret"
expect_jq '.data.configuration.secret == "********" and .data.configuration.url == "'"$R"'/hook2"' "update response"
N=$(rlog_count)
check '[ "$(rlog "$N" .path)" = /hook2 ] && [ "$(rlog "$N" ".headers[\"x-custom\"]")" = def ]' "validation used the new url and headers"
check 'verify_sig "$N" "$SECRET"' "the kept secret still signs"
req POST /api/connections/test "{\"type\":\"webhook\",\"configuration\":{\"url\":\"$R/hook3\"},\"connection_id\":\"$H1\"}"
expect_status 204 "C10 with connection_id"
N=$(rlog_count)
check '[ "$(rlog "$N" .path)" = /hook3 ] && verify_sig "$N" "$SECRET"' "C10 with connection_id merges the stored secret"
req PUT "/api/connections/$H1" "{\"name\":\"Signed Hook\",\"validate\":true,\"configuration\":{\"url\":\"$R/hook\",\"secret\":\"$SECRET2\"}}"
expect_status 200 "update with a new secret"
N=$(rlog_count)
check 'verify_sig "$N" "$SECRET2" && ! verify_sig "$N" "$SECRET"' "the new secret replaces the old one"
check '[ "$(rlog "$N" ".headers | has(\"x-custom\")")" = false ]' "headers left out of the update were cleared"
req GET "/api/connections/$H1"
check '! grep -q "$SECRET2" "$RESP"' "the new secret is redacted too"

# --- bad configurations
N0=$(conn_count)
req POST /api/connections "$(hook "Bad" '{"headers":{}}')"
expect_fail 400 url "url missing"
req POST /api/connections "$(hook "Bad" '{"url":"ftp://127.0.0.1/x"}')"
expect_fail 400 url "url not http(s)"
req POST /api/connections "$(hook "Bad" '{"url":"hook"}')"
expect_fail 400 url "relative url"
req POST /api/connections "$(hook "Bad" '{"url":7}')"
expect_fail 400 url "url is a number"
req POST /api/connections "$(hook "Bad" "{\"url\":\"$R/hook\",\"headers\":\"X-A: b\"}")"
expect_fail 400 headers "headers is a string"
req POST /api/connections "$(hook "Bad" "{\"url\":\"$R/hook\",\"headers\":{\"X-A\":1}}")"
expect_fail 400 headers "a header value is a number"
req POST /api/connections "$(hook "Bad" "{\"url\":\"$R/hook\",\"secret\":42}")"
expect_fail 400 secret "secret is a number"
req POST /api/connections "$(hook "Bad" "{\"url\":\"$R/hook\",\"method\":\"PUT\"}")"
expect_fail 400 method "extra member"
req POST /api/connections "$(hook "Bad" "{\"url\":\"$R/hook\",\"secret\":\"********\"}")"
expect_fail 400 secret "the redacted value on create"
check "[ \"\$(conn_count)\" = $N0 ]" "bad configurations saved nothing"

req DELETE "/api/connections/$PLAIN"
expect_status 204 "delete a webhook"

kill "$RPID" 2>/dev/null
wait "$RPID" 2>/dev/null
ms_finish
