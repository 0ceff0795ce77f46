#!/usr/bin/env bash
# 95-executions: running syncs over the API (API.md §5.10-§5.12, §6.1-§6.6, §12.3, D7, D12-D15,
# D26). A11 start (empty body, null and {} alike; the /start alias) queues an execution that a
# worker runs to completed; test/resync set the execution type; bad bodies are 400 naming the
# member, identities need a sync identity, an inactive sync is 400 sync_inactive. A webhook
# target whose receiver holds each request keeps an execution running, so a second start is
# 409 execution_in_progress, A12 shows it as current_execution, and A10/B3/the legacy PUT
# cancel it (it ends canceled; a terminal execution cannot be canceled: 400; nothing running:
# 200 "no running execution"); deleting the sync (A8) stops it too (no further batch is sent).
# A12 next_execution_time appears only for an active clock schedule. B1 pages 50 at a time over
# more than 50 executions with signed tokens bound to the sync, only_completed and ascending
# (tampered or re-filtered → 400), ascending reverses the order and only_completed drops the
# running one. B4 console entries honour limit/after (bad → 400). B5 returns signed URLs for
# the record logs on disk, B6 streams one as application/x-ndjson to a keyless client with the
# signature, refuses a tampered or expired one (403) and no signature at all (401), accepts an
# API key instead, and refuses filename traversal (400). Another organization gets 404 from
# every endpoint.
cd "$(dirname "$0")/../.." || exit 1
. tests/api/lib.sh
UUID_RE='^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$'
TIME_RE='^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\\.[0-9]+)?Z$'
NOID=0f0e9c2a-1b2c-4d5e-8f90-a1b2c3d4e5f6
HOLD="$T_DIR/hold"  # while this file exists, the receiver holds every request
HPID=""

# The receiver of the held webhook: answers 200 {} to every POST once $HOLD is gone (or after
# 25 s, below the webhook's 30 s timeout). Logs one line per request.
cat >"$T_DIR/hold.py" <<'EOF'
import os, sys, time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
port_file, hold_file, log_file = sys.argv[1:4]
class H(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def do_POST(self):
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            while True:
                n = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                self.rfile.read(n + 2) if n else self.rfile.readline()
                if n == 0:
                    break
        else:
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
        with open(log_file, "a") as f:
            f.write("request\n")
        end = time.time() + 25
        while os.path.exists(hold_file) and time.time() < end:
            time.sleep(0.02)
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"{}")
    def log_message(self, *a):
        pass
srv = ThreadingHTTPServer(("127.0.0.1", 0), H)
with open(port_file + ".tmp", "w") as f:
    f.write(str(srv.server_address[1]))
os.rename(port_file + ".tmp", port_file)
srv.serve_forever()
EOF
trap '[ -n "$MS_PID" ] && kill -9 "$MS_PID" 2>/dev/null; [ -n "$HPID" ] && kill "$HPID" 2>/dev/null' EXIT

# wait_status SYNC EXEC JQ-COND [SECONDS]: poll B2 until the execution satisfies the jq condition.
wait_status() {
    i=0
    while [ $i -lt $((${4:-30} * 20)) ]; do
        req GET "/api/syncs/$1/executions/$2"
        [ "$(jq -r ".data | $3" "$RESP" 2>/dev/null)" = "true" ] && return 0
        i=$((i + 1))
        sleep 0.05
    done
    return 1
}
TERMINAL='.status == "completed" or .status == "failed" or .status == "canceled" or .status == "interrupted"'
# run_sync SYNC [BODY]: start and wait until terminal; sets E. The ids of the runs of $S are
# kept in order in $RUNS.
run_sync() {
    req POST "/api/syncs/$1/executions" "${2:-}"
    E=$(jqr .data.id)
    [ "$1" = "$S" ] && [ "$E" != null ] && echo "$E" >>"$RUNS"
    wait_status "$1" "$E" "$TERMINAL"
}
RUNS="$T_DIR/runs"
: >"$RUNS"
# sign PATH EXPIRES: the B6 signature, computed from the deployment key like the server does.
sign() {
    printf '%s\n%s' "$1" "$2" | openssl dgst -sha256 -mac HMAC -macopt "hexkey:$(tr -d ' \n' <"$T_DIR/data/secret.key")" -binary |
        base64 | tr '+/' '-_' | tr -d '=\n'
}
# held_start SYNC: start a resync of the webhook sync (so its first batch has records to write
# whatever earlier runs did) and wait until that batch is at the receiver (running, and the
# request is being held); sets EH.
held_start() {
    : >"$HOLD"
    : >"$T_DIR/hold.log"
    req POST "/api/syncs/$1/executions" '{"resync": true}'
    EH=$(jqr .data.id)
    i=0
    while [ ! -s "$T_DIR/hold.log" ] && [ $i -lt 400 ]; do i=$((i + 1)); sleep 0.05; done
    wait_status "$1" "$EH" '.status == "running"' 5
}
release() { rm -f "$HOLD"; }

ms_init "Other Org" "other@example.com"
B_KEY=$API_KEY
ms_init "Test Org" "test@example.com"
ms_serve

python3 "$T_DIR/hold.py" "$T_DIR/hold.port" "$HOLD" "$T_DIR/hold.log" 2>>"$T_DIR/hold.err" &
HPID=$!
i=0
while [ ! -s "$T_DIR/hold.port" ] && [ $i -lt 200 ]; do i=$((i + 1)); sleep 0.05; done
HPORT=$(cat "$T_DIR/hold.port")

sqlite3 "$T_DIR/src.db" "CREATE TABLE users (id INTEGER PRIMARY KEY, email TEXT NOT NULL, name TEXT);
    INSERT INTO users VALUES (1, 'ada@example.com', 'Ada'), (2, 'alan@example.com', 'Alan'),
        (3, 'grace@example.com', 'Grace'), (4, 'kurt@example.com', 'Kurt'),
        (5, 'barbara@example.com', 'Barbara');
    CREATE TABLE big (id INTEGER PRIMARY KEY, email TEXT NOT NULL);
    WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 3000)
    INSERT INTO big SELECT i, 'user' || i || '@example.com' FROM n;"
sqlite3 "$T_DIR/dst.db" "CREATE TABLE contacts (id INTEGER PRIMARY KEY, email TEXT, full_name TEXT);"

req POST /api/connections "{\"name\":\"Source\",\"type\":\"sqlite\",\"configuration\":{\"path\":\"$T_DIR/src.db\"}}"
SRC=$(jqr .data.id)
req POST /api/connections "{\"name\":\"Warehouse\",\"type\":\"sqlite\",\"configuration\":{\"path\":\"$T_DIR/dst.db\"}}"
DST=$(jqr .data.id)
req POST /api/connections "{\"name\":\"Hold\",\"type\":\"webhook\",\"configuration\":{\"url\":\"http://127.0.0.1:$HPORT/hook\"}}"
HOOK=$(jqr .data.id)
req POST /api/models "{\"name\":\"Users\",\"connection_id\":\"$SRC\",\"configuration\":{\"table\":\"users\"},\"identifier\":\"id\"}"
M=$(jqr .data.id)
req POST /api/models "{\"name\":\"Big\",\"connection_id\":\"$SRC\",\"configuration\":{\"table\":\"big\"},\"identifier\":\"id\"}"
MB=$(jqr .data.id)

# sync NAME JQ: a sync body (users → contacts, updateOrCreate, manual) transformed by JQ.
sync() {
    jq -nc --arg m "$M" --arg mb "$MB" --arg dst "$DST" --arg hook "$HOOK" --arg name "$1" \
        '{name: $name, mode: "updateOrCreate", target: {connection_id: $dst, object: "contacts"},
          identity: {source: {model_id: $m, field: "id"}, target: "id"},
          fields: [{source: {model_id: $m, field: "email"}, target: "email"},
                   {source: {model_id: $m, field: "name"}, target: "full_name"}],
          schedule: {frequency: "manual"}} | '"$2"
}
req POST /api/syncs "$(sync Fast .)"
S=$(jqr .data.id)
req POST /api/syncs "$(sync Held '.target = {connection_id: $hook, object: "records"}
    | .identity = {source: {model_id: $mb, field: "id"}, target: "id"}
    | .fields = [{source: {model_id: $mb, field: "email"}, target: "email"}]')"
SH=$(jqr .data.id)
req POST /api/syncs "$(sync NoIdentity 'del(.identity) | .mode = "append" | .target = {connection_id: $hook, object: "records"}')"
SN=$(jqr .data.id)
req POST /api/syncs "$(sync Daily '.schedule = {frequency: "daily", hour: "3", minute: "30"}')"
SD=$(jqr .data.id)
req POST /api/syncs "$(sync Paused '.active = false')"
SP=$(jqr .data.id)
check '[ -n "$HPORT" ] && [ -n "$S" ] && [ -n "$SH" ] && [ -n "$SN" ] && [ -n "$SD" ] && [ -n "$SP" ]' "setup: receiver, connections, models, syncs"

# --- A11 start: queued, then completed by a worker
req POST "/api/syncs/$S/executions"
expect_status 200 "A11 start with an empty body"
E1=$(jqr .data.id)
echo "$E1" >>"$RUNS"
expect_jq ".data.id | test(\"$UUID_RE\")" "A11 execution id"
expect_jq '.data.status == "queued"' "A11 status queued"
expect_jq ".data.created_at | test(\"$TIME_RE\")" "A11 created_at RFC 3339"
expect_jq '.data | keys == ["created_at", "id", "status"]' "A11 data members"
check 'wait_status "$S" "$E1" ".status == \"completed\""' "the first run completes"
expect_jq '.data.type == "manual" and .data.counts.total == 5 and .data.counts.insert + .data.counts.upserts == 5 and .data.counts.error == 0' "first run: manual, 5 records written"
expect_jq "(.data.started_at | test(\"$TIME_RE\")) and (.data.completed_at | test(\"$TIME_RE\"))" "started_at and completed_at set"
expect_jq '.data.errors == []' "no run errors"
check '[ "$(sqlite3 "$T_DIR/dst.db" "SELECT count(*) FROM contacts")" = 5 ]' "the target has the 5 rows"
run_sync "$S" 'null'
expect_jq '.data.status == "completed"' "A11 body null"
run_sync "$S" '{}'
expect_jq '.data.status == "completed" and .data.counts.total == 0' "A11 body {}: nothing changed"
req POST "/api/syncs/$S/start" '{"resync": true}'
expect_status 200 "D3 alias /start"
E=$(jqr .data.id)
echo "$E" >>"$RUNS"
check 'wait_status "$S" "$E" ".status == \"completed\""' "resync completes"
expect_jq '.data.type == "resync" and .data.counts.total == 5' "resync: type resync, every record"
run_sync "$S" '{"test": true, "resync": true}'
expect_jq '.data.type == "test" and .data.status == "completed"' "test run: type test"
run_sync "$S" '{"identities": ["1", "2"], "resync": false, "test": false}'
expect_jq '.data.type == "manual" and .data.status == "completed"' "identities accepted on a sync with an identity"
run_sync "$S" '{"identities": null, "resync": null}'
expect_jq '.data.status == "completed"' "null members read as absent"

req POST "/api/syncs/$S/executions" '{"resync": "yes"}'
expect_error 400 invalid_request "resync not a boolean"
expect_jq '.metadata.field == "resync"' "names resync"
req POST "/api/syncs/$S/executions" '{"identities": "1"}'
expect_error 400 invalid_request "identities not an array"
req POST "/api/syncs/$S/executions" '{"identities": [1]}'
expect_jq '.status == 400 and .metadata.field == "identities[0]"' "identities[0] not a string"
req POST "/api/syncs/$S/executions" '[]'
expect_error 400 invalid_request "array body"
req POST "/api/syncs/$S/executions" '{"resync":'
expect_error 400 invalid_request "malformed JSON"
req POST "/api/syncs/$SN/executions" '{"identities": ["a@example.com"]}'
expect_error 400 invalid_request "identities on a sync without identity"
expect_jq '.metadata.field == "identities"' "names identities"
req POST "/api/syncs/$SP/executions" '{}'
expect_error 400 sync_inactive "start an inactive sync"
req GET "/api/syncs/$SP/status"
expect_jq '.data == {}' "the inactive sync never ran"
req POST "/api/syncs/$NOID/executions" '{}'
expect_error 404 not_found "start an unknown sync"
req POST "/api/syncs/not-a-uuid/executions" '{}'
expect_error 404 not_found "start with a malformed id"

# --- a held run: 409, status, A10 cancel
if held_start "$SH"; then ok; else fail "the held run is running"; fi
E_HOLD=$EH
req POST "/api/syncs/$SH/executions" '{}'
expect_error 409 execution_in_progress "a second start while one runs"
expect_jq ".message == \"sync $SH already has a running execution\"" "409 message"
req GET "/api/syncs/$SH/status"
expect_status 200 "A12 while running"
expect_jq ".data.current_execution.id == \"$E_HOLD\" and .data.current_execution.status == \"running\"" "A12 current_execution"
expect_jq '.data | has("last_execution") | not' "no terminal execution yet"
expect_jq '.data | has("next_execution_time") | not' "manual: no next_execution_time"
req POST "/api/syncs/$SH/cancel"
expect_status 200 "A10 cancel"
expect_jq ".data.message == \"cancellation requested for execution $E_HOLD\"" "A10 names the execution"
req GET "/api/syncs/$SH/executions/$E_HOLD"
expect_jq '.data.status == "canceling"' "canceling until the batch ends"
release
check 'wait_status "$SH" "$E_HOLD" ".status == \"canceled\""' "the held run ends canceled"
expect_jq ".data.completed_at | test(\"$TIME_RE\")" "canceled: completed_at set"
req POST "/api/syncs/$SH/cancel"
expect_status 200 "A10 with nothing running (D7)"
expect_jq '.data.message == "no running execution"' "A10 says nothing runs"
req GET "/api/syncs/$SH/status"
expect_jq ".data.last_execution.id == \"$E_HOLD\" and .data.last_execution.status == \"canceled\" and (.data | has(\"current_execution\") | not)" "A12 last_execution after the cancel"

# --- B3 cancel and the legacy PUT
held_start "$SH"
E_B3=$EH
req POST "/api/syncs/$SH/executions/$E_B3/cancel"
expect_status 200 "B3 cancel"
expect_jq ".data.message == \"cancellation requested for execution $E_B3\"" "B3 message"
release
check 'wait_status "$SH" "$E_B3" ".status == \"canceled\""' "B3: canceled"
req POST "/api/syncs/$SH/executions/$E_B3/cancel"
expect_error 400 invalid_request "B3 on a terminal execution"
req POST "/api/syncs/$SH/executions/$E1/cancel"
expect_error 404 not_found "B3 with another sync's execution"
held_start "$SH"
E_PUT=$EH
req PUT "/api/syncs/$SH/executions/$E_PUT" '{"status": "running"}'
expect_error 400 invalid_request "legacy PUT with another status"
expect_jq '.metadata.field == "status"' "names status"
req PUT "/api/syncs/$SH/executions/$E_PUT" '{}'
expect_error 400 invalid_request "legacy PUT without status"
req PUT "/api/syncs/$SH/executions/$E_PUT" '{"status": "canceled"}'
expect_status 200 "legacy PUT canceled"
expect_jq ".data.id == \"$E_PUT\" and .data.status == \"canceling\" and (.data.counts | type == \"object\")" "legacy PUT answers the Execution"
release
check 'wait_status "$SH" "$E_PUT" ".status == \"canceled\""' "legacy PUT: canceled"
req PUT "/api/syncs/$SH/executions/$E_PUT" '{"status": "canceled"}'
expect_error 400 invalid_request "legacy PUT on a terminal execution"

# --- A12 next_execution_time
req GET "/api/syncs/$SD/status"
expect_jq "(.data.next_execution_time | test(\"$TIME_RE\")) and (.data.next_execution_time | test(\"T03:30:00\"))" "daily 03:30: next_execution_time"
req POST "/api/syncs/$SD/activate" '{"active": false}'
req GET "/api/syncs/$SD/status"
expect_jq '.data | has("next_execution_time") | not' "inactive: no next_execution_time"
req GET "/api/syncs/$S/status"
expect_jq '.data.last_execution.status == "completed" and (.data | keys == ["last_execution"])' "manual idle sync: only last_execution"

# --- B1 list and paging over more than 50 executions
req GET "/api/syncs/$S/executions"
n=$(jq '.data | length' "$RESP")
while [ "$n" -lt 53 ]; do run_sync "$S" '{}' || break; n=$((n + 1)); done
req GET "/api/syncs/$S/executions"
expect_status 200 "B1 list"
expect_jq '.data | length == 50' "B1 first page has 50"
expect_jq '.pagination.next_page_token | test("^[A-Za-z0-9_-]+$")' "B1 next_page_token, URL-safe"
expect_jq '[.data[].started_at] as $t | $t == ($t | sort | reverse)' "B1 newest first"
expect_jq "[.data[].id] == $(tac "$RUNS" | head -n 50 | jq -R . | jq -sc .)" "B1 first page: the 50 newest runs in order"
expect_jq "all(.data[]; (.id | test(\"$UUID_RE\")) and .status == \"completed\" and (.counts | keys == [\"delete\",\"error\",\"insert\",\"total\",\"update\",\"upserts\",\"warnings\"]))" "B1 items are Executions"
TOKEN=$(jqr .pagination.next_page_token)
FIRST=$(jq -c '[.data[].id]' "$RESP")
req GET "/api/syncs/$S/executions?page_token=$TOKEN"
expect_status 200 "B1 second page"
expect_jq '(.data | length) >= 3 and .pagination == {}' "B1 last page, pagination {}"
expect_jq "[.data[].id] - $FIRST == [.data[].id]" "B1 pages do not overlap"
expect_jq "any(.data[]; .id == \"$E1\")" "B1 the oldest run is on the last page"
req GET "/api/syncs/$S/executions?page_token=${TOKEN%?}$([ "${TOKEN: -1}" = A ] && echo B || echo A)"
expect_error 400 invalid_request "B1 tampered token"
expect_jq '.metadata.field == "page_token"' "names page_token"
req GET "/api/syncs/$S/executions?page_token=$TOKEN&ascending=true"
expect_error 400 invalid_request "B1 token with other filters"
req GET "/api/syncs/$SH/executions?page_token=$TOKEN"
expect_error 400 invalid_request "B1 token of another sync"
req GET "/api/syncs/$S/executions?ascending=true"
expect_jq "[.data[].id] == $(head -n 50 "$RUNS" | jq -R . | jq -sc .)" "B1 ascending: the 50 oldest runs in order"
TOKEN=$(jqr .pagination.next_page_token)
req GET "/api/syncs/$S/executions?ascending=true&page_token=$TOKEN"
expect_jq '.data | length >= 3' "B1 ascending second page"
req GET "/api/syncs/$S/executions?ascending=maybe"
expect_error 400 invalid_request "B1 ascending not a boolean"
req GET "/api/syncs/$S/executions?only_completed=2"
expect_error 400 invalid_request "B1 only_completed not a boolean"
held_start "$SH"
req GET "/api/syncs/$SH/executions"
expect_jq ".data[0].id == \"$EH\" and .data[0].status == \"running\" and (.data | length == 4)" "B1 lists the running execution first"
req GET "/api/syncs/$SH/executions?only_completed=true"
expect_jq "(.data | length == 3) and all(.data[]; .status == \"canceled\")" "B1 only_completed drops it"
release
wait_status "$SH" "$EH" "$TERMINAL" >/dev/null
req GET "/api/syncs/$SP/executions"
expect_jq '.data == [] and .pagination == {}' "B1 of a sync that never ran"
req GET "/api/syncs/$NOID/executions"
expect_error 404 not_found "B1 of an unknown sync"

# --- B2
req GET "/api/syncs/$S/executions/$E1"
expect_status 200 "B2 get"
expect_jq ".data.id == \"$E1\" and .data.type == \"manual\"" "B2 the execution"
req GET "/api/syncs/$S/executions/$NOID"
expect_error 404 not_found "B2 unknown execution"
req GET "/api/syncs/$SH/executions/$E1"
expect_error 404 not_found "B2 execution of another sync"

# --- B4 console log
req GET "/api/syncs/$S/executions/$E1/consolelog"
expect_status 200 "B4 console log"
expect_jq '.data.entries | type == "array"' "B4 entries"
NE=$(jq '.data.entries | length' "$RESP")
expect_jq "all(.data.entries[]; (.id | test(\"^[0-9]+-[0-9]+\$\")) and (.timestamp | test(\"$TIME_RE\")) and (.level | length > 0) and (.message | type == \"string\"))" "B4 entry members"
if [ "$NE" -ge 2 ]; then
    ok
    expect_jq '.data.next_cursor == .data.entries[-1].id' "B4 next_cursor is the newest entry"
    FIRSTID=$(jqr '.data.entries[0].id')
    LASTID=$(jqr '.data.entries[-1].id')
    req GET "/api/syncs/$S/executions/$E1/consolelog?after=$FIRSTID"
    expect_jq "(.data.entries | length) == $((NE - 1)) and .data.entries[-1].id == \"$LASTID\"" "B4 after skips the first entry"
    req GET "/api/syncs/$S/executions/$E1/consolelog?limit=1"
    expect_jq ".data.entries | length == 1 and .[0].id == \"$LASTID\"" "B4 limit=1: the newest entry"
    req GET "/api/syncs/$S/executions/$E1/consolelog?after=$LASTID"
    expect_jq ".data.entries == [] and .data.next_cursor == \"$LASTID\"" "B4 nothing newer: next_cursor repeats after"
else
    fail "B4: the engine wrote fewer than 2 console entries ($NE)"
fi
req GET "/api/syncs/$S/executions/$E1/consolelog?limit=500"
expect_status 200 "B4 limit above the cap"
req GET "/api/syncs/$S/executions/$E1/consolelog?limit=ten"
expect_error 400 invalid_request "B4 limit not an integer"
req GET "/api/syncs/$S/executions/$E1/consolelog?after=yesterday"
expect_error 400 invalid_request "B4 malformed after"
expect_jq '.metadata.field == "after"' "names after"

# --- B5 log URLs and B6 files
req GET "/api/syncs/$S/executions/$E1/records"
expect_status 200 "B5 log URLs"
expect_jq "(.data.urls | length == 1) and (.data.expires | test(\"$TIME_RE\"))" "B5 one URL and expires"
URL=$(jqr '.data.urls[0]')
check 'case "$URL" in "$BASE/api/syncs/$S/executions/$E1/records/records.jsonl?expires="*"&signature="*) true ;; *) false ;; esac' "B5 URL on this server: $URL"
req GET "/api/syncs/$S/executions/$E1/deletes"
expect_jq '.data.urls == []' "B5 no deletes log: no URL"
req GET "/api/syncs/$S/executions/$E1/everything"
expect_error 400 invalid_request "B5 unknown type"
STATUS=$(curl -s -o "$RESP" -D "$HDRS" -w '%{http_code}' "$URL")
expect_status 200 "B6 via the signed URL, no key"
expect_header Content-Type 'application/x-ndjson' "B6 content type"
check '[ "$(wc -l <"$RESP")" -eq 5 ] && jq -e -s "length == 5 and all(.[]; .op and has(\"key\"))" "$RESP" >/dev/null' "B6 5 JSON lines"
SIG=${URL##*signature=}
BAD_SIG=$( [ "${SIG:0:1}" = A ] && echo "B${SIG:1}" || echo "A${SIG:1}")
STATUS=$(curl -s -o "$RESP" -w '%{http_code}' "${URL%signature=*}signature=$BAD_SIG")
expect_error 403 forbidden "B6 tampered signature"
EXP=${URL#*expires=}; EXP=${EXP%%&*}
STATUS=$(curl -s -o "$RESP" -w '%{http_code}' "${URL%%\?*}?expires=$((EXP - 3600))&signature=$SIG")
expect_error 403 forbidden "B6 changed expiry"
FPATH="/api/syncs/$S/executions/$E1/records/records.jsonl"
check '[ "$(sign "$FPATH" "$EXP")" = "$SIG" ]' "B6 signature = base64url(HMAC-SHA256(key, path LF expires))"
OLD=$(($(date +%s) - 60))
STATUS=$(curl -s -o "$RESP" -w '%{http_code}' "$BASE$FPATH?expires=$OLD&signature=$(sign "$FPATH" "$OLD")")
expect_error 403 forbidden "B6 correctly signed but expired"
STATUS=$(curl -s -o "$RESP" -w '%{http_code}' "${URL%%\?*}")
expect_error 401 unauthorized "B6 without key or signature"
STATUS=$(curl -s -o "$RESP" -w '%{http_code}' "${URL%%\?*}?expires=$EXP&signature=$SIG" -H "Authorization: Bearer nope")
expect_error 401 unauthorized "B6 with a bad key"
req GET "/api/syncs/$S/executions/$E1/records/records.jsonl"
expect_status 200 "B6 with an API key"
check '[ "$(wc -l <"$RESP")" -eq 5 ]' "B6 with a key: the same file"
req GET "/api/syncs/$S/executions/$E1/records/..%2F..%2F..%2Fsecret.key"
expect_error 400 invalid_request "B6 filename traversal"
STATUS=$(curl -s -o "$RESP" -w '%{http_code}' "$BASE/api/syncs/$S/executions/$E1/records/..%2Frecords.jsonl?expires=$EXP&signature=$SIG")
expect_error 400 invalid_request "B6 traversal with a signature"
req GET "/api/syncs/$S/executions/$E1/records/inserts.jsonl"
expect_error 404 not_found "B6 other file name"
req GET "/api/syncs/$S/executions/$E1/deletes/deletes.jsonl"
expect_error 404 not_found "B6 a log that does not exist"
req GET "/api/syncs/$S/executions/$E1/bogus/bogus.jsonl"
expect_error 400 invalid_request "B6 unknown type"

# B6 of inserts, updates and deletes: the engine leaves those files empty and the server
# streams the matching lines of records.jsonl (op, no "error"), here over a crafted records
# file: keys with quotes, commas and braces, a 300 KB line (longer than a read), a rejected
# record, and a last line still being written (no newline). A non-empty file is sent as is.
LOGD="$T_DIR/data/logs/$S/$E1"
python3 - "$LOGD" <<'PY'
import json, sys
d = sys.argv[1]
lines = [
    {"key": "a,\"b\"}", "op": "insert", "data": {"v": "x"}},
    {"key": 7, "op": "upsert", "data": {"v": "w" * 300000}},
    {"key": None, "op": "insert", "data": {"v": "y"}, "error": "rejected: \"no\""},
    {"key": "k", "op": "delete", "data": None},
    {"key": True, "op": "update", "data": {"v": "op \"insert\""}},
]
with open(d + "/records.jsonl", "w") as f:
    for l in lines:
        f.write(json.dumps(l, separators=(",", ":")) + "\n")
    f.write('{"key":9,"op":"insert","data":{"v":"z"')
for t in ("inserts", "updates", "deletes"):
    open(d + "/" + t + ".jsonl", "w").close()
PY
req GET "/api/syncs/$S/executions/$E1/inserts"
expect_jq '.data.urls | length == 1' "B5 an empty inserts marker: one URL"
for t in inserts updates deletes; do
    case $t in
    inserts) want='[{"key":"a,\"b\"}","op":"insert","data":{"v":"x"}}]' ;;
    updates) want='[7,true]' ;;
    deletes) want='[{"key":"k","op":"delete","data":null}]' ;;
    esac
    req GET "/api/syncs/$S/executions/$E1/$t/$t.jsonl"
    expect_status 200 "B6 $t from records.jsonl"
    if [ $t = updates ]; then
        got=$(jq -c -s 'map(.key)' "$RESP")
        check '[ "$(jq -s "map(.data.v | length)" -c "$RESP")" = "[300000,11]" ]' "B6 updates: the 300 KB line whole"
    else
        got=$(jq -c -s . "$RESP")
    fi
    check '[ "$got" = "$want" ]' "B6 $t: exactly its lines ($got)"
done
check '[ "$(tail -c 1 "$RESP" | od -An -c | tr -d " ")" = "\\n" ]' "B6 filtered: whole lines"
printf '%s\n' '{"key":1,"op":"delete","data":null}' >"$LOGD/deletes.jsonl"
req GET "/api/syncs/$S/executions/$E1/deletes/deletes.jsonl"
check '[ "$(jq -c .key "$RESP")" = 1 ]' "B6 a deletes file with lines is sent as it is"

# --- A8: deleting a sync stops its running execution
req POST /api/syncs "$(sync Doomed '.target = {connection_id: $hook, object: "records"}
    | .identity = {source: {model_id: $mb, field: "id"}, target: "id"}
    | .fields = [{source: {model_id: $mb, field: "email"}, target: "email"}]')"
SX=$(jqr .data.id)
if held_start "$SX"; then ok; else fail "the doomed run is running"; fi
req DELETE "/api/syncs/$SX"
expect_status 204 "A8 delete while running"
release
sleep 1
check '[ "$(wc -l <"$T_DIR/hold.log")" -eq 1 ]' "A8: no batch is sent after the delete (3000 rows would be 3)"
req GET "/api/syncs/$SX/executions/$EH"
expect_error 404 not_found "A8: the execution went with the sync"
run_sync "$S" '{}'
expect_jq '.data.status == "completed"' "the workers still run other syncs"

# --- another organization: 404 everywhere
for p in "POST /api/syncs/$S/executions" "POST /api/syncs/$S/start" "POST /api/syncs/$S/cancel" \
    "GET /api/syncs/$S/status" "GET /api/syncs/$S/executions" "GET /api/syncs/$S/executions/$E1" \
    "POST /api/syncs/$S/executions/$E1/cancel" "GET /api/syncs/$S/executions/$E1/consolelog" \
    "GET /api/syncs/$S/executions/$E1/records" "GET /api/syncs/$S/executions/$E1/records/records.jsonl"; do
    AUTH="Bearer $B_KEY" req ${p% *} "${p#* }" '{}'
    expect_error 404 not_found "other org: $p"
done
AUTH="Bearer $B_KEY" req PUT "/api/syncs/$S/executions/$E1" '{"status": "canceled"}'
expect_error 404 not_found "other org: legacy PUT"
req GET "/api/syncs/$S/executions/$E1"
expect_jq '.data.status == "completed"' "other org changed nothing"

kill "$HPID" 2>/dev/null
HPID=""
ms_finish
