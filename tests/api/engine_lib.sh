# engine_lib.sh: helpers shared by the sync engine's end-to-end tests (96-engine-* … 9b-engine-*).
# Source it after lib.sh. It creates connections, models and syncs over the API, runs a sync
# (A11 start, then A12 polled until that execution is the last terminal one, with a bound),
# checks counts, compares sorted target dumps with the source's (sqlite3 / psql, '|'-separated),
# fetches record logs through their B5 URLs, runs a small webhook receiver whose behaviour a
# control file sets, and drops the PostgreSQL databases and stops the helpers it started at exit.
ENG_FIX=tests/fixtures/engine
ENG_PGDBS=""
ENG_PIDS=""
EXEC_JSON="$T_DIR/exec.json"
E=""

# ---- cleanup

eng_cleanup() {
    [ -n "$MS_PID" ] && kill -9 "$MS_PID" 2>/dev/null
    for p in $ENG_PIDS; do kill "$p" 2>/dev/null; done
    for d in $ENG_PGDBS; do
        eng_pg -d "$MS_TEST_PG_DB" -c "DROP DATABASE IF EXISTS $d WITH (FORCE)" >/dev/null 2>&1
    done
}
trap eng_cleanup EXIT

# eng_need_pg: exit 0 with a "skipped" line when no test PostgreSQL server is configured.
eng_need_pg() {
    if [ -z "${MS_TEST_PG:-}" ]; then
        echo "$T_NAME: skipped (MS_TEST_PG is not set; run through tests/run.sh)"
        rm -rf "$T_DIR"
        exit 0
    fi
}

# ---- PostgreSQL

# eng_pg ARGS...: psql as the test superuser, UTC, stop at the first error.
eng_pg() {
    PGTZ=UTC PGPASSWORD=$MS_TEST_PG_PASSWORD psql -X -q -h "$MS_TEST_PG_HOST" -p "$MS_TEST_PG_PORT" \
        -U "$MS_TEST_PG_USER" -v ON_ERROR_STOP=1 "$@"
}

# eng_pgq DB SQL: the rows of a query, unaligned, '|'-separated, no header.
eng_pgq() { eng_pg -d "$1" -At -F'|' -c "$2"; }

# eng_pg_db NAME: create a database, dropped at exit.
eng_pg_db() {
    eng_pg -d "$MS_TEST_PG_DB" -c "CREATE DATABASE $1" >/dev/null || {
        echo "$T_NAME: cannot create database $1" >&2
        exit 1
    }
    ENG_PGDBS="$ENG_PGDBS $1"
}

# eng_pgconf DB: a postgresql connection configuration for the test server.
eng_pgconf() {
    jq -nc --arg h "$MS_TEST_PG_HOST" --argjson p "$MS_TEST_PG_PORT" --arg d "$1" \
        --arg u "$MS_TEST_PG_USER" --arg pw "$MS_TEST_PG_PASSWORD" \
        '{hostname: $h, port: $p, database: $d, username: $u, password: $pw}'
}

# ---- API objects (each sets the variable named first to the new id, "" on failure)

# eng_conn VAR NAME TYPE CONFIG_JSON
eng_conn() {
    req POST /api/connections "$(jq -nc --arg n "$2" --arg t "$3" --argjson c "$4" \
        '{name: $n, type: $t, configuration: $c}')"
    eng_set_id "$1" "connection $2"
}

# eng_model VAR NAME CONNECTION CONFIG_JSON [IDENTIFIER]
eng_model() {
    req POST /api/models "$(jq -nc --arg n "$2" --arg c "$3" --argjson cf "$4" --arg i "${5:-}" \
        '{name: $n, connection_id: $c, configuration: $cf} + (if $i == "" then {} else {identifier: $i} end)')"
    eng_set_id "$1" "model $2"
}

# eng_sync VAR BODY_JSON
eng_sync() {
    req POST /api/syncs "$2"
    eng_set_id "$1" "sync $(printf '%s' "$2" | jq -r .name)"
}

eng_set_id() {
    local id=""
    if [ "$STATUS" = 200 ]; then
        id=$(jqr .data.id)
        ok
    else
        fail "create $2"
    fi
    printf -v "$1" '%s' "$id"
}

# eng_fields MODEL SRC:TGT...: a fields array mapping model fields to target fields.
eng_fields() {
    local m=$1 f out="[" sep=""
    shift
    for f in "$@"; do
        out="$out$sep{\"source\":{\"model_id\":\"$m\",\"field\":\"${f%%:*}\"},\"target\":\"${f#*:}\"}"
        sep=","
    done
    printf '%s]' "$out"
}

# ---- runs

# eng_start SYNC [BODY]: A11; sets E (the execution id), "" when the start was refused.
eng_start() {
    req POST "/api/syncs/$1/executions" "${2:-}"
    E=""
    [ "$STATUS" = 200 ] && E=$(jqr .data.id)
    [ -n "$E" ]
}

# eng_wait SYNC EXEC [SECONDS]: poll A12 until EXEC is the sync's last (terminal) execution;
# its JSON is then in $EXEC_JSON. Returns 1 on timeout (default 60 s).
eng_wait() {
    local i=0 n=$((${3:-60} * 10))
    while [ $i -lt $n ]; do
        req GET "/api/syncs/$1/status"
        if [ "$STATUS" = 200 ] && [ "$(jqr .data.last_execution.id)" = "$2" ]; then
            jq .data.last_execution "$RESP" >"$EXEC_JSON"
            return 0
        fi
        i=$((i + 1))
        sleep 0.1
    done
    echo '{}' >"$EXEC_JSON"
    return 1
}

# eng_run SYNC [BODY] [SECONDS]: start and wait; checks both happened.
eng_run() {
    if ! eng_start "$1" "${2:-}"; then
        fail "start of sync $1 refused"
        echo '{}' >"$EXEC_JSON"
        return 1
    fi
    if eng_wait "$1" "$E" "${3:-60}"; then ok; else fail "execution $E of sync $1 did not end in ${3:-60} s"; return 1; fi
}

# eng_counts: "status total insert update upserts delete error warnings" of $EXEC_JSON.
eng_counts() {
    jq -r '[.status, .counts.total, .counts.insert, .counts.update, .counts.upserts,
            .counts.delete, .counts.error, .counts.warnings] | map(tostring) | join(" ")' "$EXEC_JSON"
}

# expect_counts "STATUS TOTAL INSERT UPDATE UPSERTS DELETE ERROR" DESC: the last run's outcome
# (warnings must be 0 unless an 8th number is given).
expect_counts() {
    local want=$1 got
    got=$(eng_counts)
    case "$want" in *" "*" "*" "*" "*" "*" "*" "*" "*) ;; *) want="$want 0" ;; esac
    if [ "$got" = "$want" ]; then
        ok
    else
        fail "$2: status and counts (total insert update upserts delete error warnings) are '$got', expected '$want'"
        jq -c '{errors}' "$EXEC_JSON" >&2
    fi
}

# expect_exec JQ DESC: a jq condition over the last run's execution.
expect_exec() {
    if [ "$(jq -r "$1" "$EXEC_JSON" 2>/dev/null)" = true ]; then ok; else
        fail "$2: jq '$1' is not true for $(jq -c . "$EXEC_JSON")"
    fi
}

# eng_current SYNC JQ: A12's current_execution satisfies JQ.
eng_current() {
    req GET "/api/syncs/$1/status"
    [ "$(jq -r ".data.current_execution // {} | $2" "$RESP" 2>/dev/null)" = true ]
}

# eng_wait_current SYNC JQ [SECONDS]: poll A12 (every 50 ms) until current_execution satisfies JQ.
eng_wait_current() {
    local i=0 n=$((${3:-30} * 20))
    while [ $i -lt $n ]; do
        eng_current "$1" "$2" && return 0
        i=$((i + 1))
        sleep 0.05
    done
    return 1
}

# ---- dumps

# eng_sq_dump DB SQL OUT / eng_pg_dump DB SQL OUT: rows '|'-separated, NULL as empty.
eng_sq_dump() { sqlite3 -batch -noheader -separator '|' "$1" "$2" >"$3"; }
eng_pg_dump() { eng_pgq "$1" "$2" >"$3"; }

# expect_same FILE_A FILE_B DESC: identical (and not both empty unless ALLOW_EMPTY=1).
expect_same() {
    if cmp -s "$1" "$2" && { [ -s "$1" ] || [ "${ALLOW_EMPTY:-0}" = 1 ]; }; then
        ok
    else
        fail "$3: $(basename "$1") and $(basename "$2") differ ($(wc -l <"$1") vs $(wc -l <"$2") lines)"
        diff "$1" "$2" | head -n 10 >&2
    fi
}

# eng_diff_ids OLD NEW: for dumps whose first column is an id, "+id" for each id that is new or
# whose line changed in NEW, "-id" for each one gone, sorted and space-separated.
eng_diff_ids() {
    awk -F'|' 'NR == FNR { old[$1] = $0; next }
               { seen[$1] = 1; if (!($1 in old) || old[$1] != $0) print "+" $1 }
               END { for (k in old) if (!(k in seen)) print "-" k }' "$1" "$2" | sort | tr '\n' ' ' | sed 's/ $//'
}

# eng_sq_counter DB: SQLite's file change counter (header bytes 24-27), which every committed
# write transaction increments (rollback-journal databases).
eng_sq_counter() { od -An -tu4 --endian=big -j24 -N4 "$1" | tr -d ' '; }

# ---- record logs and console

# eng_fetch_log SYNC EXEC TYPE: download every B5 URL of that log without a key into
# $T_DIR/log.TYPE; sets LOGN to its line count (-1 when B5 or a download failed).
eng_fetch_log() {
    local f="$T_DIR/log.$3" u
    : >"$f"
    LOGN=-1
    req GET "/api/syncs/$1/executions/$2/$3"
    [ "$STATUS" = 200 ] || return 1
    for u in $(jqr '.data.urls[]'); do
        curl -s -f "$u" >>"$f" || return 1
    done
    LOGN=$(wc -l <"$f" | tr -d ' ')
}

# expect_logs SYNC DESC: the record logs of the last run match its counts line for line
# (records = total, inserts = insert, updates = update + upserts, deletes = delete,
# errors = error, every line valid JSON with key and op, the op logs only their ops and no
# rejected record, every error line with its "error"), and the console log has entries.
expect_logs() {
    local ex want t ops
    ex=$(jq -r .id "$EXEC_JSON")
    for t in records inserts updates deletes errors; do
        ops='has("key") and has("op")'
        case $t in
        records) want=$(jq .counts.total "$EXEC_JSON") ;;
        inserts) want=$(jq .counts.insert "$EXEC_JSON") ops="$ops and .op == \"insert\" and (has(\"error\") | not)" ;;
        updates) want=$(jq '.counts.update + .counts.upserts' "$EXEC_JSON") ops="$ops and (.op == \"update\" or .op == \"upsert\") and (has(\"error\") | not)" ;;
        deletes) want=$(jq .counts.delete "$EXEC_JSON") ops="$ops and .op == \"delete\" and (has(\"error\") | not)" ;;
        errors) want=$(jq .counts.error "$EXEC_JSON") ops="$ops and (.error | type == \"string\")" ;;
        esac
        eng_fetch_log "$1" "$ex" "$t"
        if [ "$LOGN" = "$want" ] && { [ "$LOGN" = 0 ] || jq -e -s "all(.[]; $ops)" "$T_DIR/log.$t" >/dev/null; }; then
            ok
        else
            fail "$2: $t log has $LOGN lines, expected $want"
        fi
    done
    req GET "/api/syncs/$1/executions/$ex/consolelog"
    expect_jq '.data.entries | length > 0' "$2: console log entries"
}

# ---- webhook receiver

# eng_receiver: start a receiver on a free port; sets RURL (base URL), RLOG (one JSON line per
# request, written when it arrives: {"n", "status", "records": the request's records}), RCTL
# (its control file). The
# control file is read at every request: {"delay": seconds before answering, "reject_contains":
# reject records whose data.email contains this text, "statuses": answer these statuses to the
# next requests (one each) before accepting, "retry_after": the Retry-After header sent with
# them}. Absent members mean: no delay, reject nothing, accept.
eng_receiver() {
    RLOG="$T_DIR/recv.log"
    RCTL="$T_DIR/recv.ctl"
    : >"$RLOG"
    echo '{}' >"$RCTL"
    cat >"$T_DIR/recv.py" <<'EOF'
import json, os, sys, threading, time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
port_file, log_file, ctl_file = sys.argv[1:4]
lock = threading.Lock()
state = {"n": 0, "used": 0}
class H(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def body(self):
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            out = b""
            while True:
                n = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if n == 0:
                    self.rfile.readline()
                    return out
                out += self.rfile.read(n)
                self.rfile.readline()
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))
    def do_POST(self):
        raw = self.body()
        try:
            ctl = json.load(open(ctl_file))
        except Exception:
            ctl = {}
        try:
            records = json.loads(raw).get("records", [])
        except Exception:
            records = None
        with lock:
            state["n"] += 1
            n = state["n"]
            statuses = ctl.get("statuses", [])
            status = 200
            if state["used"] < len(statuses):
                status = statuses[state["used"]]
                state["used"] += 1
        reply = {}
        if status == 200 and ctl.get("reject_contains") and records:
            rej = [{"index": i, "error": "email refused by the receiver"}
                   for i, r in enumerate(records)
                   if ctl["reject_contains"] in str((r.get("data") or {}).get("email"))]
            if rej:
                reply = {"rejected": rej}
        # Logged on arrival, so a test sees a request while its answer is delayed.
        with lock, open(log_file, "a") as f:
            f.write(json.dumps({"n": n, "status": status, "records": records}) + "\n")
        time.sleep(float(ctl.get("delay", 0)))
        data = json.dumps(reply).encode()
        self.send_response(status)
        if status != 200 and ctl.get("retry_after") is not None:
            self.send_header("Retry-After", str(ctl["retry_after"]))
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)
    def log_message(self, *a):
        pass
srv = ThreadingHTTPServer(("127.0.0.1", 0), H)
srv.daemon_threads = True
with open(port_file + ".tmp", "w") as f:
    f.write(str(srv.server_address[1]))
os.rename(port_file + ".tmp", port_file)
srv.serve_forever()
EOF
    python3 "$T_DIR/recv.py" "$T_DIR/recv.port" "$RLOG" "$RCTL" 2>>"$T_DIR/recv.err" &
    ENG_PIDS="$ENG_PIDS $!"
    local i=0
    while [ ! -s "$T_DIR/recv.port" ] && [ $i -lt 200 ]; do i=$((i + 1)); sleep 0.05; done
    RURL="http://127.0.0.1:$(cat "$T_DIR/recv.port" 2>/dev/null)"
}

# eng_recv_records FROM: the records of the accepted (200) requests numbered FROM and later,
# one compact JSON object per line.
eng_recv_records() {
    jq -c --argjson from "$1" 'select(.n >= $from and .status == 200) | .records[]' "$RLOG"
}

# eng_recv_n: the number of requests received so far.
eng_recv_n() { wc -l <"$RLOG" | tr -d ' '; }

# eng_run_many SYNC...: start every sync, then wait for each (at most 60 s each); each one's
# execution is then in $T_DIR/exec.SYNC.json (eng_use SYNC makes it the last run).
eng_run_many() {
    local s ids=""
    for s in "$@"; do
        if eng_start "$s"; then ids="$ids $s:$E"; else fail "start of sync $s refused"; echo '{}' >"$T_DIR/exec.$s.json"; fi
    done
    for s in $ids; do
        if eng_wait "${s%%:*}" "${s#*:}" 60; then ok; else fail "execution ${s#*:} of sync ${s%%:*} did not end"; fi
        cp "$EXEC_JSON" "$T_DIR/exec.${s%%:*}.json"
    done
}
eng_use() { cp "$T_DIR/exec.$1.json" "$EXEC_JSON"; }
