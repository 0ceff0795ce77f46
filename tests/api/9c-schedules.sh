#!/usr/bin/env bash
# 9c-schedules: the scheduler of `modelsync serve` (issue 5; API.md §3.8, §5.12, §7.2; D15),
# on the test binary's scaled clock MODELSYNC_TEST_CLOCK="2030-01-01T00:00:00Z@600" (an hour of
# scheduler time per 6 s). The executions the scheduler creates carry created_at in that clock,
# which is what is checked; started_at and completed_at stay on the wall clock.
# Hourly: A12's next_execution_time is the slot, and the execution created next is created at
# that slot (twice). Custom (*/20 in hours 0-2): consecutive runs on consecutive slots, none
# skipped. Run-after: A → B → C run in order after a manual start of A (each starts after its
# upstream completed, type runafter), D (success only) runs after A completed but not after A
# failed, while B does. Continuous (--continuous-gap 600): runs again and again, type
# continuous, never two at once, each at least the gap after the previous one; deactivating
# stops it. Coalescing: a run held by a webhook receiver across the three other slots of its
# schedule (01:00, 01:10, 01:20, 01:30) leaves exactly one run afterwards (the row's pending
# flag while held; executions at 01:00 and one after 01:30). Catch-up: stop the server, start it on a clock hours later:
# exactly one run at start for the missed hourly slots, then the regular slot, as A12 said.
cd "$(dirname "$0")/../.." || exit 1
. tests/api/lib.sh
HOLD="$T_DIR/hold"
HPID=""
DB="$T_DIR/data/modelsync.db"
TOL=300 # seconds of scheduler time between a slot and the execution it created (0.5 s wall)

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

# epoch SECONDS of an RFC 3339 time (scheduler times are whole seconds here)
epoch() { date -u -d "$1" +%s; }
# jq: an execution time in epoch seconds (fraction dropped)
JQT='def t: sub("\\.[0-9]+Z$"; "Z") | fromdateiso8601;'
# list SYNC: its executions, oldest created first, into $RESP (at most 50)
list() { req GET "/api/syncs/$1/executions?ascending=true"; }
# count SYNC
count() { list "$1"; jq '.data | length' "$RESP"; }
# wait_for SYNC JQ-COND-ON-.data SECONDS: poll B1 until the condition holds.
wait_for() {
    i=0
    while [ $i -lt $(($3 * 20)) ]; do
        list "$1"
        [ "$(jq -r "$JQT .data | $2" "$RESP" 2>/dev/null)" = "true" ] && return 0
        i=$((i + 1))
        sleep 0.05
    done
    return 1
}
TERMINAL='(.status == "completed" or .status == "failed" or .status == "canceled" or .status == "interrupted")'

python3 "$T_DIR/hold.py" "$T_DIR/hold.port" "$HOLD" "$T_DIR/hold.log" 2>>"$T_DIR/hold.err" &
HPID=$!
sqlite3 "$T_DIR/src.db" "CREATE TABLE users (id INTEGER PRIMARY KEY, email TEXT NOT NULL);
    INSERT INTO users VALUES (1, 'ada@example.com'), (2, 'alan@example.com'), (3, 'grace@example.com');
    CREATE TABLE up (id INTEGER PRIMARY KEY, email TEXT NOT NULL);
    INSERT INTO up VALUES (1, 'up@example.com');"
for t in h c2 a b c d k; do
    sqlite3 "$T_DIR/dst.db" "CREATE TABLE t_$t (id INTEGER PRIMARY KEY, email TEXT);"
done
i=0
while [ ! -s "$T_DIR/hold.port" ] && [ $i -lt 200 ]; do i=$((i + 1)); sleep 0.05; done
HPORT=$(cat "$T_DIR/hold.port")

ms_init "Test Org" "test@example.com"
export MODELSYNC_TEST_CLOCK="2030-01-01T00:00:00Z@600"
ms_serve --workers 4 --continuous-gap 600

req POST /api/connections "{\"name\":\"Source\",\"type\":\"sqlite\",\"configuration\":{\"path\":\"$T_DIR/src.db\"}}"
SRC=$(jqr .data.id)
req POST /api/connections "{\"name\":\"Warehouse\",\"type\":\"sqlite\",\"configuration\":{\"path\":\"$T_DIR/dst.db\"}}"
DST=$(jqr .data.id)
req POST /api/connections "{\"name\":\"Hold\",\"type\":\"webhook\",\"configuration\":{\"url\":\"http://127.0.0.1:$HPORT/hook\"}}"
HOOK=$(jqr .data.id)
req POST /api/models "{\"name\":\"Users\",\"connection_id\":\"$SRC\",\"configuration\":{\"table\":\"users\"},\"identifier\":\"id\"}"
M=$(jqr .data.id)
req POST /api/models "{\"name\":\"Up\",\"connection_id\":\"$SRC\",\"configuration\":{\"table\":\"up\"},\"identifier\":\"id\"}"
MU=$(jqr .data.id)

# mk NAME TABLE SCHEDULE-JSON [JQ]: a sync (users → TABLE, updateOrCreate) with that schedule;
# prints its id.
mk() {
    req POST /api/syncs "$(jq -nc --arg m "$M" --arg mu "$MU" --arg dst "$DST" --arg hook "$HOOK" \
        --arg name "$1" --arg t "$2" --argjson s "$3" \
        '{name: $name, mode: "updateOrCreate", target: {connection_id: $dst, object: $t},
          identity: {source: {model_id: $m, field: "id"}, target: "id"},
          fields: [{source: {model_id: $m, field: "email"}, target: "email"}],
          schedule: $s} | '"${4:-.}")"
    [ "$STATUS" = 200 ] || echo "creating $1: $STATUS $(cat "$RESP")" >&2
    jqr .data.id
}
after() { echo "{\"frequency\": \"runafter\", \"run_after\": {\"sync_ids\": [\"$1\"]}${2:-}}"; }

H=$(mk Hourly t_h '{"frequency": "hourly", "minute": "30"}')
req GET "/api/syncs/$H/status"
T1=$(jqr .data.next_execution_time)
check '[ "$T1" = "2030-01-01T00:30:00.000Z" ]' "A12: the hourly sync's next run is 00:30 on the test clock (got $T1)"
CU=$(mk Custom t_c2 '{"frequency": "custom", "minute": "*/20", "hour": "0-2"}')
A=$(mk Upstream t_a '{"frequency": "manual"}' '.identity.source.model_id = $mu | .fields[0].source.model_id = $mu')
B=$(mk Middle t_b "$(after "$A")")
C=$(mk Last t_c "$(after "$B")")
D=$(mk SuccessOnly t_d "$(after "$A" ', "run_after_success_only": true')")
K=$(mk Continuous t_k '{"frequency": "continuous"}')
: >"$HOLD"
W=$(mk Held records '{"frequency": "custom", "minute": "0,10,20,30", "hour": "1"}' \
    '.target = {connection_id: $hook, object: "records"}')
check '[ -n "$H" ] && [ -n "$CU" ] && [ -n "$A" ] && [ -n "$B" ] && [ -n "$C" ] && [ -n "$D" ] && [ -n "$K" ] && [ -n "$W" ]' "setup: syncs created"
req GET "/api/syncs/$B/status"
expect_jq '.data | has("next_execution_time") | not' "A12: runafter has no next_execution_time"

# --- run-after chain A → B → C, and D only after a successful A
req POST "/api/syncs/$A/executions" '{}'
EA=$(jqr .data.id)
check 'wait_for "$C" "length == 1 and all(.[]; $TERMINAL)" 20' "C ran after B after A"
req GET "/api/syncs/$A/executions/$EA"
A_END=$(jq -r "$JQT .data.completed_at | t" "$RESP")
expect_jq '.data.status == "completed"' "A completed"
list "$B"
expect_jq "$JQT (.data | length == 1) and .data[0].type == \"runafter\" and .data[0].status == \"completed\" and (.data[0].started_at | t) >= $A_END" "B: one runafter run, started after A completed"
B_END=$(jq -r "$JQT .data[0].completed_at | t" "$RESP")
list "$C"
expect_jq "$JQT .data[0].type == \"runafter\" and (.data[0].started_at | t) >= $B_END" "C: started after B completed"
check 'wait_for "$D" "length == 1 and all(.[]; $TERMINAL and .type == \"runafter\")" 10' "D (success only) ran after A completed"
sqlite3 "$T_DIR/src.db" "DROP TABLE up;"
req POST "/api/syncs/$A/executions" '{}'
EA2=$(jqr .data.id)
check 'wait_for "$B" "length == 2 and all(.[]; $TERMINAL)" 20' "B ran again after A failed"
req GET "/api/syncs/$A/executions/$EA2"
expect_jq '.data.status == "failed"' "the second A run failed (its table is gone)"
check 'wait_for "$C" "length == 2 and all(.[]; $TERMINAL)" 20' "and C after B"
sleep 0.5
check '[ "$(count "$D")" = 1 ]' "success only: D did not run after the failed A"

# --- hourly: fires at the instant A12 announced, twice
check 'wait_for "$H" "length >= 1" 20' "the hourly sync fired"
expect_jq "$JQT (.data[0].created_at | t) as \$c | \$c >= $(epoch "$T1") and \$c < $(epoch "$T1") + $TOL and .data[0].type == \"scheduled\"" "first hourly run created at $T1 (got $(jqr '.data[0].created_at'))"
req GET "/api/syncs/$H/status"
T2=$(jqr .data.next_execution_time)
check '[ "$T2" = "2030-01-01T01:30:00.000Z" ]' "A12 after the first run: 01:30 (got $T2)"
check 'wait_for "$H" "length >= 2" 20' "the hourly sync fired again"
expect_jq "$JQT (.data[1].created_at | t) as \$c | \$c >= $(epoch "$T2") and \$c < $(epoch "$T2") + $TOL" "second hourly run created at $T2 (got $(jqr '.data[1].created_at'))"

# --- coalescing: W's 01:00 run is held while its 01:10, 01:20 and 01:30 slots pass
check 'wait_for "$W" "length == 1 and .[0].status == \"running\"" 20' "the held run is running"
W_NEXT=$(( $(epoch 2030-01-02T01:00:00Z) * 1000 ))
i=0
while [ "$(sqlite3 "$DB" "SELECT next_at FROM schedule_state WHERE sync_id = '$W'")" != "$W_NEXT" ] && [ $i -lt 400 ]; do
    i=$((i + 1)); sleep 0.05
done
WP=$(sqlite3 "$DB" "SELECT next_at || ' ' || pending || ' ' || pending_type FROM schedule_state WHERE sync_id = '$W'")
check '[ "$WP" = "$W_NEXT 1 scheduled" ]' "three slots passed during the run: one pending run ($WP)"
check '[ "$(count "$W")" = 1 ]' "no second execution while it runs"
rm -f "$HOLD"
check 'wait_for "$W" "length == 2 and all(.[]; $TERMINAL)" 30' "the held run ended, and one run followed it"
expect_jq "$JQT [.data[].created_at | t] as \$c | \$c[0] >= $(epoch 2030-01-01T01:00:00Z) and \$c[0] < $(epoch 2030-01-01T01:00:00Z) + $TOL and \$c[1] > $(epoch 2030-01-01T01:30:00Z)" "W ran at 01:00 and once after 01:30"
expect_jq 'all(.data[]; .type == "scheduled")' "W runs are scheduled"
sleep 0.5
check '[ "$(count "$W")" = 2 ]' "three slots during the run gave one run, not three"

# --- custom: */20 in hours 0-2, consecutive slots
check 'wait_for "$CU" "length >= 5" 30' "the custom sync fired five times"
expect_jq "$JQT [.data[].created_at | t] as \$c | all(\$c[]; (. % 1200) < $TOL) and all(range(1; \$c | length); \$c[.] - \$c[. - 1] >= 1200 - $TOL and \$c[.] - \$c[. - 1] <= 1200 + $TOL)" "custom runs on consecutive :00/:20/:40 slots"

# --- continuous: again and again, at least the gap apart, deactivation stops it
check 'wait_for "$K" "length >= 3" 30' "the continuous sync ran three times"
expect_jq "$JQT all(.data[]; .type == \"continuous\") and ([.data[] | select($TERMINAL | not)] | length <= 1)" "continuous runs, never two at once"
expect_jq "$JQT [.data[].created_at | t] as \$c | all(range(1; \$c | length); \$c[.] - \$c[. - 1] >= 600)" "each run at least the gap (600 s) after the previous one started"
req POST "/api/syncs/$K/activate" '{"active": false}'
expect_status 200 "deactivate the continuous sync"
req GET "/api/syncs/$K/status"
expect_jq '.data | has("next_execution_time") | not' "A12: inactive, no next_execution_time"
wait_for "$K" "all(.[]; $TERMINAL)" 10
NK=$(count "$K")
sleep 2.5
check '[ "$(count "$K")" = "$NK" ]' "deactivated: no further continuous run"

# --- catch-up after a restart: only H stays active
for s in "$CU" "$W"; do req POST "/api/syncs/$s/activate" '{"active": false}'; done
wait_for "$H" "all(.[]; $TERMINAL)" 10
NH=$(count "$H")
ms_stop
export MODELSYNC_TEST_CLOCK="2030-01-03T05:10:00Z@600"
ms_serve --workers 4
check 'wait_for "$H" "length == '"$((NH + 1))"'" 10' "one catch-up run at start"
expect_jq "$JQT (.data[-1].created_at | t) >= $(epoch 2030-01-03T05:10:00Z) and (.data[-1].created_at | t) < $(epoch 2030-01-03T05:10:00Z) + $TOL" "the catch-up run was created at start (05:10)"
req GET "/api/syncs/$H/status"
T3=$(jqr .data.next_execution_time)
check '[ "$T3" = "2030-01-03T05:30:00.000Z" ]' "A12 after the catch-up: 05:30 (got $T3)"
check 'wait_for "$H" "length == '"$((NH + 2))"'" 20' "then the regular slot"
expect_jq "$JQT [.data[].created_at | t | select(. >= $(epoch 2030-01-02T00:00:00Z) and . < $(epoch "$T3"))] | length == 1" "one run for the missed 03:30 and 04:30 (and the day before's) slots, not one per slot"
expect_jq "$JQT (.data[-1].created_at | t) as \$c | \$c >= $(epoch "$T3") and \$c < $(epoch "$T3") + $TOL" "created at $T3, as A12 said"
unset MODELSYNC_TEST_CLOCK
ms_finish
