#!/usr/bin/env bash
# 60-persistence: state survives a restart on the same data directory (ARCHITECTURE §3,
# DECISIONS §2, docs/operations.md). serve prints "listening on http://ADDR:PORT", keeps the
# secret key in <data>/secret.key with mode 0600, and removes <data>/port on a clean SIGTERM stop
# (exit 0). Connections (SQLite, CSV, a webhook with a sealed secret and headers), models (table
# with identifier/tracking/additional field, query, CSV; one updated to version 2) and an
# idempotency key are created; after the restart every object is there with the same id and the
# same members, field ids and versions, lists are unchanged, both keys still authenticate, the
# webhook secret is still redacted and still usable (C10 with connection_id makes the receiver
# get a request signed with the original secret), samples still read the source, the stored
# idempotent answer is replayed, and a delete made after the first restart survives a second one.
cd "$(dirname "$0")/../.." || exit 1
. tests/api/lib.sh
FIX=tests/fixtures
SECRET="persist-secret-6c1f"

b64() { printf '%s' "$1" | base64 -w0; }
# verify_sig N SECRET: request N (1-based) of the receiver log carries
# X-Modelsync-Signature: sha256=HMAC-SHA256(SECRET, "<X-Modelsync-Timestamp>.<body>").
verify_sig() {
    python3 - "$RLOG" "$1" "$2" <<'EOF'
import base64, hashlib, hmac, json, sys
log, n, secret = sys.argv[1], int(sys.argv[2]), sys.argv[3].encode()
lines = open(log, encoding="utf-8").read().splitlines()
e = json.loads(lines[n - 1])
body = base64.b64decode(e["body_b64"])
ts = e["headers"].get("x-modelsync-timestamp", "")
want = "sha256=" + hmac.new(secret, ts.encode() + b"." + body, hashlib.sha256).hexdigest()
sys.exit(0 if ts and e["headers"].get("x-modelsync-signature") == want else 1)
EOF
}
rlog_count() { wc -l <"$RLOG" | tr -d ' '; }
# snapshot NAME PATH: save the data member of GET PATH (connections without health fields).
snapshot() { req GET "$2"; jq -S '.data | del(.status, .status_error)' "$RESP" >"$T_DIR/snap-$1.json"; }
same_as() { req GET "$2"; jq -S '.data | del(.status, .status_error)' "$RESP" | cmp -s - "$T_DIR/snap-$1.json"; }

ms_start
PORT1=$(cat "$T_DIR/data/port")
check 'grep -q "listening on http://127.0.0.1:$PORT1" "$T_DIR/server.out"' "serve prints the listening line with the bound port"
check '[ "$(stat -c %a "$T_DIR/data/secret.key")" = 600 ]' "secret.key has mode 0600"

RLOG="$T_DIR/receiver.log"
python3 tests/api/receiver.py "$T_DIR/receiver.port" "$RLOG" &
RPID=$!
trap '[ -n "$MS_PID" ] && kill -9 "$MS_PID" 2>/dev/null; kill "$RPID" 2>/dev/null' EXIT
i=0
while [ ! -s "$T_DIR/receiver.port" ] && [ $i -lt 100 ]; do sleep 0.05; i=$((i + 1)); done
HOOK_URL="http://127.0.0.1:$(cat "$T_DIR/receiver.port")/hook"

DB="$T_DIR/src.db"
sqlite3 "$DB" <"$FIX/sqlite-seed.sql"
FILES="$T_DIR/files"
mkdir -p "$FILES"
cp "$FIX/users.csv" "$FILES/"

req POST /api/connections "{\"name\":\"Persist DB\",\"type\":\"sqlite\",\"configuration\":{\"path\":\"$DB\"}}"
expect_status 200 "create sqlite connection"
C1=$(jqr .data.id)
req POST /api/connections "{\"name\":\"Persist CSV\",\"type\":\"csv\",\"configuration\":{\"directory\":\"$FILES\"}}"
expect_status 200 "create csv connection"
C2=$(jqr .data.id)
req POST /api/connections "{\"name\":\"Persist Hook\",\"type\":\"webhook\",\"validate\":true,\"configuration\":{\"url\":\"$HOOK_URL\",\"headers\":{\"X-Tenant\":\"acme\"},\"secret\":\"$SECRET\"}}"
expect_status 200 "create webhook connection with a secret"
C3=$(jqr .data.id)
check '[ "$(rlog_count)" = 1 ] && verify_sig 1 "$SECRET"' "the validation request was signed with the secret"

req POST /api/models "{\"name\":\"Persist Users\",\"connection_id\":\"$C1\",\"configuration\":{\"table\":\"users\"},\"identifier\":\"id\",\"tracking_columns\":[\"updated_at\"],\"additional_fields\":[{\"name\":\"tier\",\"label\":\"Tier\",\"type\":\"string\"}]}"
expect_status 200 "create table model"
M1=$(jqr .data.id)
req PUT "/api/models/$M1" "{\"name\":\"Persist Users v2\",\"connection_id\":\"$C1\",\"configuration\":{\"table\":\"users\"},\"identifier\":\"id\",\"tracking_columns\":[\"updated_at\"],\"additional_fields\":[{\"name\":\"tier\",\"label\":\"Tier\",\"type\":\"string\"}]}"
expect_status 200 "update table model"
V1=$(jqr .data.version)
req POST /api/models "{\"name\":\"Persist Query\",\"connection_id\":\"$C1\",\"configuration\":{\"query\":\"SELECT id, email FROM users WHERE age > 40\"}}"
expect_status 200 "create query model"
M2=$(jqr .data.id)
req POST /api/models "{\"name\":\"Persist CSV Users\",\"connection_id\":\"$C2\",\"configuration\":{\"file\":\"users.csv\"}}"
expect_status 200 "create csv model"
M3=$(jqr .data.id)
req POST /api/connections "{\"name\":\"Persist Idem\",\"type\":\"sqlite\",\"configuration\":{\"path\":\"$DB\"}}" -H "Idempotency-Key: persist-key-0001"
expect_status 200 "idempotent create"
C4=$(jqr .data.id)

for c in C1 C2 C3 C4; do snapshot "$c" "/api/connections/${!c}"; done
for m in M1 M2 M3; do snapshot "$m" "/api/models/${!m}"; done
req GET /api/connections
jq -S '[.data[].id] | sort' "$RESP" >"$T_DIR/conn-ids.json"
req GET /api/models
jq -S '[.data[].id] | sort' "$RESP" >"$T_DIR/model-ids.json"

# --- restart
ms_stop
check '[ ! -e "$T_DIR/data/port" ]' "a clean stop removes the port file"
ms_serve

req GET /api/me
expect_status 200 "user key works after restart"
expect_jq ".data.is_user == true and .data.id == \"$USER_ID\" and .data.organization_id == \"$ORG_ID\"" "same user and organization"
AUTH="Basic $(b64 "$ORG_KEY:")" req GET /api/me
expect_status 200 "organization key works after restart"
expect_jq ".data.is_organization == true and .data.organization_id == \"$ORG_ID\"" "same organization for the org key"

for c in C1 C2 C3 C4; do check "same_as $c /api/connections/${!c}" "connection $c unchanged after restart"; done
for m in M1 M2 M3; do check "same_as $m /api/models/${!m}" "model $m unchanged after restart"; done
req GET /api/connections
check 'jq -S "[.data[].id] | sort" "$RESP" | cmp -s - "$T_DIR/conn-ids.json"' "connection list unchanged"
req GET /api/models
check 'jq -S "[.data[].id] | sort" "$RESP" | cmp -s - "$T_DIR/model-ids.json"' "model list unchanged"
req GET "/api/models/$M1"
expect_jq ".data.version == $V1 and .data.name == \"Persist Users v2\"" "model version persisted"
expect_jq '.data.fields[] | select(.name == "tier") | .user_added == true' "additional field persisted"

req GET "/api/connections/$C3"
expect_jq '.data.configuration.secret == "********" and .data.configuration.headers == {"X-Tenant": "acme"}' "webhook secret still redacted, headers kept"
check '! grep -q "$SECRET" "$RESP"' "the secret is not in the response"
check '! grep -rqa "$SECRET" "$T_DIR/data"' "the secret is not stored in clear in the data directory"
N=$(rlog_count)
req POST /api/connections/test "{\"type\":\"webhook\",\"configuration\":{\"url\":\"$HOOK_URL\"},\"connection_id\":\"$C3\"}"
expect_status 204 "C10 with the webhook's connection_id after restart"
check '[ "$(rlog_count)" = $((N + 1)) ] && verify_sig $((N + 1)) "$SECRET"' "the unsealed secret still signs requests"
check 'tail -n 1 "$RLOG" | jq -e ".headers[\"x-tenant\"] == \"acme\"" >/dev/null' "stored headers still sent"
req POST /api/connections/test "{\"type\":\"sqlite\",\"configuration\":{},\"connection_id\":\"$C1\"}"
expect_status 204 "C10 with the sqlite connection_id after restart"

req GET "/api/models/$M1/sample"
expect_status 200 "sample after restart"
expect_jq "(.data.records | length) == 5 and all(.data.records[]; keys == [\"$M1\"])" "sample still reads the source"
req GET "/api/models/$M2/sample"
expect_jq "[.data.records[][\"$M2\"].email] | sort == [\"alan@example.com\", \"grace@example.com\", \"kurt@example.com\"]" "query sample after restart"

req POST /api/connections "{\"name\":\"Persist Idem\",\"type\":\"sqlite\",\"configuration\":{\"path\":\"$DB\"}}" -H "Idempotency-Key: persist-key-0001"
expect_status 200 "idempotent replay after restart"
expect_jq ".data.id == \"$C4\"" "the stored answer is replayed after restart"
req GET /api/connections
check 'jq -S "[.data[].id] | sort" "$RESP" | cmp -s - "$T_DIR/conn-ids.json"' "the replay created nothing"

# --- changes after a restart persist as well
req DELETE "/api/models/$M3"
expect_status 204 "delete a model after restart"
req PUT "/api/connections/$C2" "{\"name\":\"Persist CSV Renamed\",\"configuration\":{\"directory\":\"$FILES\"}}"
expect_status 200 "rename a connection after restart"
ms_stop
ms_serve
req GET "/api/models/$M3"
expect_error 404 not_found "the deleted model stays deleted"
req GET "/api/connections/$C2"
expect_jq '.data.name == "Persist CSV Renamed"' "the rename persisted"
req GET "/api/models/$M1"
expect_status 200 "the other models are still there"

kill "$RPID" 2>/dev/null
wait "$RPID" 2>/dev/null
ms_finish
