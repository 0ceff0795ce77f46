#!/bin/sh
# api.sh: the HTTP API benchmark (goals H1, H2, H6 and H7 of the benchmark doc). It builds the
# release binary, stores 10,000 syncs through POST /api/syncs, then measures with wrk on CPU1
# against the server on CPU0, in interleaved pairs with an nginx `return 200` of the same bytes:
#   H1  GET /api/syncs/{id}: server CPU per request and throughput, as ratios to nginx;
#   H2  GET /api/syncs?limit=50 against nginx; page 200 against page 1; the list query's plan;
#   H6  throughput at 256 and 1000 connections against 32; socket errors; accept4 calls;
#   H7  VmRSS idle and VmHWM after the 1000-connection runs.
# Prints one line per figure: the median of the per-pair ratios (min–max) and the raw medians.
# BENCH_QUICK=1: 3 pairs of 3 s; MS_BIN=path measures that binary instead of building;
# BENCH_SYNCS=N (a multiple of 50) stores N syncs instead of 10,000. Loopback only; everything
# it starts is stopped on exit. The exit status says whether the measurement ran, not whether a
# goal was met.
set -eu
cd "$(dirname "$0")/.."
. bench/lib.sh

NSYNCS=${BENCH_SYNCS:-10000}
SEED_JOBS=4
[ $((NSYNCS % 50)) -eq 0 ] && [ "$NSYNCS" -ge 100 ] || bench_die "BENCH_SYNCS must be a multiple of 50, >= 100"
DEEP=$((NSYNCS / 50)) # the last page of 50

NGINX=$(command -v nginx || echo /usr/sbin/nginx)
[ -x "$NGINX" ] || BENCH_MISSING="$BENCH_MISSING nginx"
bench_need wrk wrk
bench_need strace strace
bench_need taskset util-linux
bench_need pgrep procps
bench_need curl curl
bench_need jq jq
bench_need sqlite3 sqlite3
bench_need python3 python3
bench_install
[ "$(nproc)" -ge 2 ] || bench_die "needs 2 CPUs (server on CPU0, wrk on CPU1)"
# shellcheck disable=SC3045 # dash and bash both have ulimit -n
ulimit -n 4096 2>/dev/null || bench_log "bench: warning: ulimit -n 4096 refused; -c1000 may fail"

# MS_BIN: an already built binary to measure instead of building ./modelsync.
if [ -n "${MS_BIN:-}" ]; then
    BIN=$MS_BIN
else
    make --no-print-directory -s modelsync >&2 || bench_die "build failed"
    BIN=$(pwd)/modelsync
fi
TMP=$(mktemp -d /tmp/ms-bench-api.XXXXXX)
D=$TMP/data
MS_PID="" NG_PID="" ST_PID=""

bench_stop_pid() { # PID SIGNAL: signal, wait up to 10 s, then SIGKILL
    [ -n "$1" ] || return 0
    kill "-$2" "$1" 2>/dev/null || return 0
    i=0
    while kill -0 "$1" 2>/dev/null && [ $i -lt 100 ]; do
        sleep 0.1
        i=$((i + 1))
    done
    kill -9 "$1" 2>/dev/null || true
    wait "$1" 2>/dev/null || true
}
cleanup() {
    bench_stop_pid "$ST_PID" INT
    bench_stop_pid "$NG_PID" QUIT
    bench_stop_pid "$MS_PID" TERM
    rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# --- modelsync: start, stop, requests ---------------------------------------------------------

ms_serve() { # [taskset -c 0]: starts the server on a free port; sets MS_PID and MB
    rm -f "$D/port"
    "$@" "$BIN" serve --data "$D" --listen 127.0.0.1:0 >>"$TMP/server.out" 2>>"$TMP/server.log" &
    MS_PID=$!
    i=0
    while [ ! -s "$D/port" ]; do
        i=$((i + 1))
        if [ $i -gt 200 ] || ! kill -0 "$MS_PID" 2>/dev/null; then
            tail -20 "$TMP/server.log" >&2
            bench_die "modelsync did not start"
        fi
        sleep 0.05
    done
    MB="http://127.0.0.1:$(cat "$D/port")"
}

ms_stop() {
    bench_stop_pid "$MS_PID" TERM
    MS_PID=""
}

# api METHOD PATH [BODY]: one request; the body lands in $TMP/resp.json, the status in STATUS.
api() {
    if [ $# -gt 2 ]; then
        STATUS=$(curl -s --max-time 30 -o "$TMP/resp.json" -w '%{http_code}' -X "$1" -H "$AUTHH" \
            -H 'Content-Type: application/json' --data-binary "$3" "$MB$2")
    else
        STATUS=$(curl -s --max-time 30 -o "$TMP/resp.json" -w '%{http_code}' -X "$1" -H "$AUTHH" "$MB$2")
    fi
}

# api_ok METHOD PATH [BODY]: api, and the status must be 200; prints .data.id.
api_ok() {
    api "$@"
    [ "$STATUS" = 200 ] || bench_die "$1 $2: status $STATUS: $(head -c 400 "$TMP/resp.json")"
    jq -r 'if (.data | type) == "object" then .data.id // empty else empty end' "$TMP/resp.json"
}

# --- setup: an organization, a source and a target, NSYNCS syncs through the API --------------

bench_log "bench: api: setting up $NSYNCS syncs in $TMP"
"$BIN" init --data "$D" --org Bench --email b@example.com --json >"$TMP/init.json" 2>>"$TMP/server.log" ||
    bench_die "modelsync init failed: $(tail -3 "$TMP/server.log")"
AUTHH="Authorization: Bearer $(jq -r .api_key "$TMP/init.json")"
ORG_ID=$(jq -r .organization_id "$TMP/init.json")
ms_serve

sqlite3 "$TMP/src.db" "CREATE TABLE users (id INTEGER PRIMARY KEY, email TEXT NOT NULL, name TEXT);
    INSERT INTO users VALUES (1, 'ann@example.com', 'Ann'), (2, 'bob@example.com', 'Bob');"
sqlite3 "$TMP/dst.db" "CREATE TABLE contacts (id INTEGER PRIMARY KEY, email TEXT, full_name TEXT);"
SRC=$(api_ok POST /api/connections "{\"name\":\"Source\",\"type\":\"sqlite\",\"configuration\":{\"path\":\"$TMP/src.db\"}}")
DST=$(api_ok POST /api/connections "{\"name\":\"Target\",\"type\":\"sqlite\",\"configuration\":{\"path\":\"$TMP/dst.db\"}}")
MODEL=$(api_ok POST /api/models "{\"name\":\"Users\",\"connection_id\":\"$SRC\",\"configuration\":{\"table\":\"users\"},\"identifier\":\"id\"}")

# The sync body; @N@ becomes the sync's number, so every stored row has its own name.
jq -nc --arg m "$MODEL" --arg dst "$DST" '{name: "Bench sync @N@", mode: "updateOrCreate",
    target: {connection_id: $dst, object: "contacts"},
    identity: {source: {model_id: $m, field: "id"}, target: "id"},
    fields: [{source: {model_id: $m, field: "email"}, target: "email"},
             {source: {model_id: $m, field: "name"}, target: "full_name"}],
    schedule: {frequency: "daily", hour: "3", minute: "0"}}' >"$TMP/body.json"

# SEED_JOBS curl processes, each posting its share over one kept-alive connection (a curl
# config file of url/data-binary/next entries); every answer's status is kept.
seed_syncs() {
    sed 's/\\/\\\\/g; s/"/\\"/g' "$TMP/body.json" >"$TMP/body.esc"
    awk -v n="$NSYNCS" -v jobs="$SEED_JOBS" -v url="$MB/api/syncs" -v auth="$AUTHH" -v dir="$TMP" '
        NR == 1 { body = $0 }
        END {
            for (i = 1; i <= n; i++) {
                f = dir "/seed." (i % jobs) ".cfg"; b = body; sub(/@N@/, i, b)
                if (seen[f]++) print "next" > f
                printf "url = \"%s\"\noutput = \"/dev/null\"\nmax-time = 30\n", url > f
                printf "header = \"%s\"\nheader = \"Content-Type: application/json\"\n", auth > f
                printf "data-binary = \"%s\"\nwrite-out = \"%%{http_code}\\n\"\n", b > f
            }
        }' "$TMP/body.esc"
    pids=""
    for f in "$TMP"/seed.*.cfg; do
        curl -s -K "$f" >"$f.codes" &
        pids="$pids $!"
    done
    for p in $pids; do wait "$p" || true; done
    ok=$(cat "$TMP"/seed.*.codes | grep -c '^200$' || true)
    [ "$ok" -eq "$NSYNCS" ] ||
        bench_die "POST /api/syncs: $ok of $NSYNCS answered 200 ($(sort "$TMP"/seed.*.codes | uniq -c | tr '\n' ' '))"
}
api_ok POST /api/syncs "$(sed 's/@N@/probe/' "$TMP/body.json")" >"$TMP/probe.id"
api DELETE "/api/syncs/$(cat "$TMP/probe.id")"
[ "$STATUS" = 204 ] || bench_die "DELETE of the probe sync: status $STATUS"
t0=$(date +%s)
seed_syncs
bench_log "bench: api: $NSYNCS syncs stored through POST /api/syncs in $(($(date +%s) - t0)) s"

# Walk every page of 50: all NSYNCS syncs exactly once, and the URL of the last page.
walk_pages() {
    path="/api/syncs?limit=50"
    : >"$TMP/ids"
    p=1
    while :; do
        api_ok GET "$path" >/dev/null
        jq -r '.data[].id' "$TMP/resp.json" >>"$TMP/ids"
        [ "$p" -eq "$DEEP" ] && DEEP_PATH=$path
        tok=$(jq -r '.pagination.next_page_token // empty' "$TMP/resp.json")
        [ -n "$tok" ] || break
        [ "$p" -lt $((DEEP + 1)) ] || bench_die "more than $DEEP pages"
        path="/api/syncs?limit=50&page_token=$tok"
        p=$((p + 1))
    done
    n=$(sort -u "$TMP/ids" | wc -l)
    [ "$p" -eq "$DEEP" ] && [ "$n" -eq "$NSYNCS" ] && [ "$(wc -l <"$TMP/ids")" -eq "$NSYNCS" ] ||
        bench_die "page walk: $p pages, $n distinct syncs, expected $DEEP and $NSYNCS"
}
walk_pages

# The measured server: a fresh process on CPU0 over the seeded store.
ms_stop
ms_serve taskset -c 0
sleep 2
RSS_IDLE=$(bench_status_kb "$MS_PID" VmRSS)
HWM_IDLE=$(bench_status_kb "$MS_PID" VmHWM)

# --- the bytes nginx serves: what modelsync answered for the same requests --------------------

SYNC_ID=$(sed -n "$((NSYNCS / 2))p" "$TMP/ids")
SYNC_PATH=/api/syncs/$SYNC_ID
LIST_PATH="/api/syncs?limit=50"
fetch_same() { # PATH FILE: the body, twice, byte-identical
    api_ok GET "$1" >/dev/null
    mv "$TMP/resp.json" "$2"
    api_ok GET "$1" >/dev/null
    cmp -s "$TMP/resp.json" "$2" || bench_die "GET $1 is not stable between two requests"
}
fetch_same "$SYNC_PATH" "$TMP/single.json"
fetch_same "$LIST_PATH" "$TMP/list.json"

# nginx-ceiling.conf filled in: bodies escaped for single-quoted nginx strings, cut in pieces
# of at most 900 bytes when longer than one configuration token allows.
NG_PORT=$(bench_free_port)
python3 - bench/nginx-ceiling.conf "$TMP" "$NG_PORT" "$SYNC_PATH" "$(id -u)" >"$TMP/nginx.conf" <<'EOF'
import sys

template, tmp, port, sync_path, uid = sys.argv[1:6]

def esc(raw):
    s = raw.decode("latin-1")
    s = s.replace("\\", "\\\\").replace("'", "\\'").replace("$", "${bench_dollar}")
    return s.encode("latin-1")

def directives(path, tag):
    raw = open(path, "rb").read()
    if len(esc(raw)) < 3000:
        return b"            return 200 '" + esc(raw) + b"';"
    pieces = [raw[i:i + 900] for i in range(0, len(raw), 900)]
    out = [b"            set $%s%d '%s';" % (tag.encode(), i, esc(p)) for i, p in enumerate(pieces)]
    joined = b"".join(b"${%s%d}" % (tag.encode(), i) for i in range(len(pieces)))
    return b"\n".join(out + [b'            return 200 "' + joined + b'";'])

conf = open(template, "rb").read()
for key, val in ((b"@USER@", b"user root;" if uid == "0" else b""), (b"@PREFIX@", tmp.encode()),
                 (b"@PORT@", port.encode()), (b"@SYNC_PATH@", sync_path.encode()),
                 (b"@SINGLE@", directives(tmp + "/single.json", "s")),
                 (b"@LIST@", directives(tmp + "/list.json", "l"))):
    conf = conf.replace(key, val)
sys.stdout.buffer.write(conf)
EOF
taskset -c 0 "$NGINX" -p "$TMP" -c "$TMP/nginx.conf" -e "$TMP/nginx-error.log" 2>>"$TMP/nginx.out" &
NG_PID=$!
NB="http://127.0.0.1:$NG_PORT"
i=0
until curl -s --max-time 2 -o "$TMP/ng.json" "$NB$SYNC_PATH" 2>/dev/null; do
    i=$((i + 1))
    if [ $i -gt 100 ] || ! kill -0 "$NG_PID" 2>/dev/null; then
        tail -5 "$TMP/nginx-error.log" "$TMP/nginx.out" >&2
        bench_die "nginx did not start"
    fi
    sleep 0.05
done
cmp -s "$TMP/ng.json" "$TMP/single.json" || bench_die "nginx does not serve the single sync's bytes"
curl -s --max-time 2 -o "$TMP/ng.json" "$NB$LIST_PATH"
cmp -s "$TMP/ng.json" "$TMP/list.json" || bench_die "nginx does not serve the list page's bytes"

# --- measurements -----------------------------------------------------------------------------

W="$TMP/wrk.txt"
ms_wrk() { # URL [wrk options]: against modelsync; its log is emptied after each run
    u=$1
    shift
    bench_wrk "$MS_PID" "$W" "$MB$u" -H "$AUTHH" "$@"
    : >"$TMP/server.log"
}
ng_wrk() { bench_wrk "$NG_PID" "$W" "$NB$1" -H "$AUTHH"; }
nginx_single() { ng_wrk "$SYNC_PATH"; }
modelsync_single() { ms_wrk "$SYNC_PATH"; }
nginx_list() { ng_wrk "$LIST_PATH"; }
modelsync_list() { ms_wrk "$LIST_PATH"; }
page_1() { ms_wrk "$LIST_PATH"; }
page_deep() { ms_wrk "$DEEP_PATH"; }

HOW="medians of $BENCH_PAIRS pairs of ${BENCH_SECS}s, wrk -t1 -c32"
echo "modelsync API benchmark, $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) CPUs ($(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)), $NSYNCS syncs; $HOW"

# pair_line ID LABEL BASE: the ratio lines of the last bench_pairs (B against A = BASE).
pair_line() {
    cr=$(bench_median "$P_CPU_RATIO")
    rr=$(bench_median "$P_RPS_RATIO")
    echo "$1 $2: CPU/req $(bench_fmt "$P_CPU_RATIO" 2 "x $3"), throughput $(bench_fmt "$P_RPS_RATIO" 2 x)"
    echo "    $3 $(bench_median "$P_A_CPU") µs/req $(bench_krps "$P_A_RPS"); modelsync $(bench_median "$P_B_CPU") µs/req $(bench_krps "$P_B_RPS")"
}

bench_log "bench: api: H1 ($BENCH_PAIRS pairs)"
bench_pairs "$BENCH_PAIRS" nginx_single modelsync_single
pair_line H1 "GET /api/syncs/{id}" nginx
echo "    goal CPU/req <= 2.0x: $(bench_verdict "$cr" '<=' 2.0); throughput >= 0.5x: $(bench_verdict "$rr" '>=' 0.5)"

bench_log "bench: api: H2 against nginx ($BENCH_PAIRS pairs)"
bench_pairs "$BENCH_PAIRS" nginx_list modelsync_list
pair_line H2 "GET /api/syncs?limit=50 ($(wc -c <"$TMP/list.json") B)" nginx
echo "    goal throughput >= 0.33x: $(bench_verdict "$rr" '>=' 0.33)"

bench_log "bench: api: H2 page $DEEP against page 1 ($BENCH_PAIRS pairs)"
bench_pairs "$BENCH_PAIRS" page_1 page_deep
echo "H2 page $DEEP vs page 1: CPU/req $(bench_fmt "$P_CPU_RATIO" 3 x), throughput $(bench_fmt "$P_RPS_RATIO" 3 x)"
echo "    page 1 $(bench_median "$P_A_CPU") µs/req $(bench_krps "$P_A_RPS"); page $DEEP $(bench_median "$P_B_CPU") µs/req $(bench_krps "$P_B_RPS")"
cr=$(bench_median "$P_CPU_RATIO")
echo "    goal within 10%: $(awk -v r="$cr" 'BEGIN { print (r >= 0.9 && r <= 1.1) ? "met" : "not met" }')"

# The list query of store_sqlite_sync.c (ms_store_sq_sync_list_sql), without and with cursor.
grep -q 'AND (updated_at, id) < (?5, ?6)' src/store/store_sqlite_sync.c ||
    bench_log "bench: warning: the list query in src/store/store_sqlite_sync.c changed; update api.sh"
COLS="id, organization_id, name, active, mode, target_connection_id, target_object, configuration, model_ids, created_at, updated_at, created_by, updated_by"
plan() {
    sqlite3 -readonly "$D/modelsync.db" ".parameter set ?1 '$ORG_ID'" ".parameter set ?5 9000000000000" \
        ".parameter set ?6 'ffffffff'" ".parameter set ?7 50" \
        "EXPLAIN QUERY PLAN SELECT $COLS FROM syncs WHERE organization_id = ?1$1 ORDER BY updated_at DESC, id DESC LIMIT ?7" |
        grep -v '^QUERY PLAN' | sed 's/^[`|-]*//'
}
P1=$(plan "")
PN=$(plan " AND (updated_at, id) < (?5, ?6)")
echo "H2 EXPLAIN QUERY PLAN: page 1: $P1; later pages: $PN"
if printf '%s\n%s\n' "$P1" "$PN" | grep -q 'SCAN\|TEMP B-TREE' ||
    [ "$(printf '%s\n%s\n' "$P1" "$PN" | grep -c 'SEARCH .* USING .*INDEX')" -ne 2 ]; then
    echo "    goal SEARCH … USING INDEX, no SCAN, no TEMP B-TREE: not met"
else
    echo "    goal SEARCH … USING INDEX, no SCAN, no TEMP B-TREE: met"
fi

# H6: rounds of -c32, -c256, -c1000 on the single GET; socket errors are counted, not fatal.
bench_log "bench: api: H6 ($BENCH_PAIRS rounds of 32/256/1000 connections)"
R256="" R1000="" ERRS=0 C32="" C256="" C1000="" U32="" U256="" U1000=""
i=1
while [ $i -le "$BENCH_PAIRS" ]; do
    ms_wrk "$SYNC_PATH" -c32
    [ "$W_SOCKERR" -eq 0 ] && [ "$W_NON2XX" -eq 0 ] || bench_die "-c32: $W_SOCKERR socket errors, $W_NON2XX non-2xx"
    C32="$C32 $W_RPS" U32="$U32 $W_CPU_US" base=$W_RPS
    ms_wrk "$SYNC_PATH" -c256
    ERRS=$((ERRS + W_SOCKERR + W_NON2XX)) C256="$C256 $W_RPS" U256="$U256 $W_CPU_US"
    R256="$R256 $(bench_div "$W_RPS" "$base")"
    ms_wrk "$SYNC_PATH" -c1000
    ERRS=$((ERRS + W_SOCKERR + W_NON2XX)) C1000="$C1000 $W_RPS" U1000="$U1000 $W_CPU_US"
    R1000="$R1000 $(bench_div "$W_RPS" "$base")"
    bench_log "  round $i: c32 $base, c256 $(echo "$C256" | awk '{ print $NF }'), c1000 $W_RPS req/s (errors so far $ERRS)"
    i=$((i + 1))
done
echo "H6 throughput vs -c32: -c256 $(bench_fmt "$R256" 2 x), -c1000 $(bench_fmt "$R1000" 2 x); socket errors + non-2xx: $ERRS"
echo "    -c32 $(bench_krps "$C32") $(bench_median "$U32") µs/req; -c256 $(bench_krps "$C256") $(bench_median "$U256") µs/req; -c1000 $(bench_krps "$C1000") $(bench_median "$U1000") µs/req"
echo "    goal >= 0.8x and 0 errors: $(bench_verdict "$(bench_median "$R256")" '>=' 0.8) at 256, $(bench_verdict "$(bench_median "$R1000")" '>=' 0.8) at 1000$([ "$ERRS" -eq 0 ] || echo ", errors: not met")"

# accept4 calls during a 3 s run with fresh connections, strace attached to every thread.
strace_accepts() { # CONNECTIONS: sets ACC (calls) and ACC_ERR (failed calls)
    tids=""
    for t in /proc/"$MS_PID"/task/*; do tids="$tids -p ${t##*/}"; done
    # shellcheck disable=SC2086
    strace -f -c -e trace=accept4,close -o "$TMP/strace.txt" $tids 2>/dev/null &
    ST_PID=$!
    sleep 1
    timeout 60 taskset -c 1 wrk -t1 -c"$1" -d3s --timeout 5s -H "$AUTHH" "$MB$SYNC_PATH" >"$W" 2>&1 || true
    bench_stop_pid "$ST_PID" INT
    ST_PID=""
    ACC=$(awk '$NF == "accept4" { print $4 }' "$TMP/strace.txt")
    ACC_ERR=$(awk '$NF == "accept4" { print (NF == 6) ? $5 : 0 }' "$TMP/strace.txt")
    ACC=${ACC:-0} ACC_ERR=${ACC_ERR:-0}
    : >"$TMP/server.log"
}
strace_accepts 256
A256=$ACC E256=$ACC_ERR
strace_accepts 1000
# wrk opens one connection more than -c: it first connects once to check the address.
acc_line() { echo "$1 calls for $2 connections ($(($1 - $3)) accepted, $3 failed)"; }
echo "H6 accept4 in a 3 s run of fresh connections: $(acc_line "$A256" 256 "$E256"); $(acc_line "$ACC" 1000 "$ACC_ERR")"
echo "    goal accept4 calls <= connections (+1 for wrk's address check): $([ "$A256" -le 257 ] && [ "$ACC" -le 1001 ] && echo met || echo 'not met')"
REUSE=$(curl -sv --max-time 5 -o /dev/null -o /dev/null -H "$AUTHH" "$MB$SYNC_PATH" "$MB$SYNC_PATH" 2>&1 |
    grep -c 'Re-using existing connection' || true)
echo "H6 curl -sv url url: $([ "$REUSE" -ge 1 ] && echo 'second request re-used the connection' || echo 'connection NOT re-used')"

mb() { awk -v k="$1" 'BEGIN { printf "%.1f MB", k / 1024 }'; }
RSS_END=$(bench_status_kb "$MS_PID" VmRSS)
HWM_END=$(bench_status_kb "$MS_PID" VmHWM)
echo "H7 VmRSS idle $(mb "$RSS_IDLE") (VmHWM $(mb "$HWM_IDLE")); after the -c1000 runs VmRSS $(mb "$RSS_END"), VmHWM $(mb "$HWM_END")"
echo "    goal idle <= 16 MB: $(bench_verdict "$RSS_IDLE" '<=' 16384); VmHWM <= 64 MB: $(bench_verdict "$HWM_END" '<=' 65536)"
