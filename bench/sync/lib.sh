# sync/lib.sh: shared setup of the sync benchmarks (bench/sync-pg.sh, bench/sync-mem.sh),
# sourced after bench/lib.sh. It lives in a directory of its own so that bench/run.sh, which
# runs every bench/*.sh, does not take it for a benchmark. It provides:
#   sy_prepare         tools, the release build (or MS_BIN), build/bench/gen, a temporary dir
#                      SY_TMP, a throw-away PostgreSQL (tests/pg.sh), an exit trap cleaning up
#   sy_psql ARGS…      psql on that server (-X -q, ON_ERROR_STOP)
#   sy_table NAME      a table of the firenibble schema, autovacuum off (runs VACUUM by hand)
#   sy_load NAME MODE ROWS   bench/gen MODE ROWS copied into NAME, then VACUUM ANALYZE
#   sy_serve / sy_api_ok / sy_stop_server   modelsync's API on 127.0.0.1:0 over SY_DATA
#   sy_setup_ms        init, serve, the source and target connections and the model on
#                      public.src; sy_sync NAME MODE TABLE creates a sync (f0 → f0 identity)
#   sy_run NAME        one timed `modelsync run NAME --json`
#   sy_writes TABLE    n_tup_ins n_tup_upd n_tup_del of TABLE once every other session ended
# Everything listens on 127.0.0.1 only and is stopped and removed on exit.
# shellcheck shell=sh disable=SC2034 # the R_* and SY_* variables are for the benchmark scripts

SY_COLS="f0 bigint PRIMARY KEY, f1 bigint, f2 bigint, f3 int, f4 float8, f5 float8,
    f6 float8, f7 float8, f8 varchar(32), f9 varchar(32), f10 date, f11 date, f12 date,
    f13 varchar(32), f14 varchar(32), f15 varchar(32)"
SY_GEN=build/bench/gen
SY_MS_PID=""
SY_TMP=""

sy_now() { date +%s.%N; }
sy_since() { awk -v a="$1" -v b="$(sy_now)" 'BEGIN { printf "%.3f", b - a }'; }

sy_cleanup() {
    if [ -n "$SY_MS_PID" ]; then
        kill -TERM "$SY_MS_PID" 2>/dev/null || true
        wait "$SY_MS_PID" 2>/dev/null || true
    fi
    pg_stop
    [ -n "$SY_TMP" ] && rm -rf "$SY_TMP"
}

sy_prepare() {
    bench_need psql postgresql-client
    bench_need jq jq
    bench_need curl curl
    bench_need python3 python3
    bench_install
    if [ -n "${MS_BIN:-}" ]; then
        SY_BIN=$MS_BIN
    else
        make --no-print-directory -s modelsync >&2 || bench_die "build failed"
        SY_BIN=$(pwd)/modelsync
    fi
    mkdir -p build/bench
    ${CC:-cc} -std=c11 -O2 -Wall -Wextra -Werror -o "$SY_GEN" bench/gen.c ||
        bench_die "bench/gen.c does not build"
    . tests/pg.sh
    SY_TMP=$(mktemp -d /tmp/ms-bench-sync.XXXXXX)
    SY_DATA=$SY_TMP/data
    trap sy_cleanup EXIT
    trap 'exit 130' INT TERM
    pg_start || bench_die "PostgreSQL did not start"
    export PGPASSWORD="$MS_TEST_PG_PASSWORD"
}

sy_psql() {
    psql -X -q -v ON_ERROR_STOP=1 -h "$MS_TEST_PG_HOST" -p "$MS_TEST_PG_PORT" \
        -U "$MS_TEST_PG_USER" -d "$MS_TEST_PG_DB" "$@"
}

sy_table() {
    sy_psql -c "CREATE TABLE $1 ($SY_COLS) WITH (autovacuum_enabled = false)"
}

sy_load() {
    "$SY_GEN" "$2" "$3" | sy_psql -c "\\copy $1 from stdin" || bench_die "loading $1 failed"
    sy_psql -c "VACUUM ANALYZE $1"
}

# --- modelsync's API, for the setup only ------------------------------------------------------

sy_serve() {
    rm -f "$SY_DATA/port"
    "$SY_BIN" serve --data "$SY_DATA" --listen 127.0.0.1:0 >>"$SY_TMP/server.out" \
        2>>"$SY_TMP/server.log" &
    SY_MS_PID=$!
    i=0
    while [ ! -s "$SY_DATA/port" ]; do
        i=$((i + 1))
        if [ $i -gt 200 ] || ! kill -0 "$SY_MS_PID" 2>/dev/null; then
            tail -20 "$SY_TMP/server.log" >&2
            bench_die "modelsync did not start"
        fi
        sleep 0.05
    done
    SY_URL="http://127.0.0.1:$(cat "$SY_DATA/port")"
}

sy_stop_server() {
    [ -n "$SY_MS_PID" ] || return 0
    kill -TERM "$SY_MS_PID" 2>/dev/null || true
    wait "$SY_MS_PID" 2>/dev/null || true
    SY_MS_PID=""
}

# sy_api_ok METHOD PATH BODY: the status must be 200; prints .data.id.
sy_api_ok() {
    st=$(curl -s --max-time 60 -o "$SY_TMP/resp.json" -w '%{http_code}' -X "$1" \
        -H "Authorization: Bearer $SY_KEY" -H 'Content-Type: application/json' \
        --data-binary "$3" "$SY_URL$2")
    [ "$st" = 200 ] || bench_die "$1 $2: status $st: $(head -c 600 "$SY_TMP/resp.json")"
    jq -r .data.id "$SY_TMP/resp.json"
}

# sy_setup_ms: the organization, the server, two connections to the PostgreSQL server (source
# and target, as two databases would be) and the model on public.src (which must exist).
sy_setup_ms() {
    "$SY_BIN" init --data "$SY_DATA" --org Bench --email bench@example.com --json \
        >"$SY_TMP/init.json" 2>>"$SY_TMP/server.log" || bench_die "modelsync init failed"
    SY_KEY=$(jq -r .api_key "$SY_TMP/init.json")
    sy_serve
    conf=$(jq -nc --arg h "$MS_TEST_PG_HOST" --argjson p "$MS_TEST_PG_PORT" \
        --arg d "$MS_TEST_PG_DB" --arg u "$MS_TEST_PG_USER" --arg pw "$MS_TEST_PG_PASSWORD" \
        '{hostname: $h, port: $p, database: $d, username: $u, password: $pw}')
    SY_SRC=$(sy_api_ok POST /api/connections "{\"name\":\"Bench source\",\"type\":\"postgresql\",\"configuration\":$conf}")
    SY_DST=$(sy_api_ok POST /api/connections "{\"name\":\"Bench target\",\"type\":\"postgresql\",\"configuration\":$conf}")
    SY_MODEL=$(sy_api_ok POST /api/models "{\"name\":\"Bench src\",\"connection_id\":\"$SY_SRC\",\"configuration\":{\"table\":\"public.src\"},\"identifier\":\"f0\"}")
}

# sy_sync NAME MODE TABLE: a manual sync of the model into public.TABLE, identity f0 → f0 and
# f1…f15 mapped to the columns of the same names.
sy_sync() {
    body=$(jq -nc --arg n "$1" --arg mode "$2" --arg t "public.$3" --arg m "$SY_MODEL" \
        --arg dst "$SY_DST" '{name: $n, mode: $mode,
            target: {connection_id: $dst, object: $t},
            identity: {source: {model_id: $m, field: "f0"}, target: "f0"},
            fields: [range(1; 16) | "f\(.)" | {source: {model_id: $m, field: .}, target: .}],
            schedule: {frequency: "manual"}}')
    sy_api_ok POST /api/syncs "$body" >/dev/null
}

# --- measuring -----------------------------------------------------------------------------

# sy_run NAME [time -v prefix…]: `modelsync run NAME --json`, which must complete. Sets
# R_SECS (wall), R_JSON (its summary file) and R_ROWS_READ, R_WRITTEN, R_INS, R_UPD, R_UPS,
# R_DEL, R_ERR and R_READ_US, R_TRANSFORM_US, R_WRITE_US, R_SNAPSHOT_US, R_TOTAL_US. The
# record logs of the run are removed afterwards (they would fill the disk at 10M rows).
sy_run() {
    name=$1
    shift
    R_JSON=$SY_TMP/run.json
    t=$(sy_now)
    "$@" "$SY_BIN" run "$name" --data "$SY_DATA" --json >"$R_JSON" 2>"$SY_TMP/run.err" ||
        bench_die "modelsync run $name failed: $(head -c 600 "$R_JSON") $(tail -5 "$SY_TMP/run.err")"
    R_SECS=$(sy_since "$t")
    [ "$(jq -r .status "$R_JSON")" = completed ] || bench_die "run $name: $(cat "$R_JSON")"
    # shellcheck disable=SC2046 # twelve numbers
    set -- $(jq -r '[.stats.rows_read, .stats.rows_written, .counts.insert, .counts.update,
        .counts.upserts, .counts.delete, .counts.error, .stats.read_us, .stats.transform_us,
        .stats.write_us, .stats.snapshot_us, .stats.total_us] | map(tostring) | join(" ")' "$R_JSON")
    R_ROWS_READ=$1 R_WRITTEN=$2 R_INS=$3 R_UPD=$4 R_UPS=$5 R_DEL=$6 R_ERR=$7
    R_READ_US=$8 R_TRANSFORM_US=$9 R_WRITE_US=${10} R_SNAPSHOT_US=${11} R_TOTAL_US=${12}
    rm -rf "$SY_DATA/logs"
}

# sy_writes TABLE: "ins upd del" tuple counters of TABLE. A backend reports its counters when
# it exits, and exits after its client has gone: wait until no other client session is left.
sy_writes() {
    i=0
    while [ "$(sy_psql -At -c "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend' AND pid <> pg_backend_pid()")" != 0 ]; do
        i=$((i + 1))
        [ $i -lt 100 ] || bench_die "PostgreSQL sessions did not end"
        sleep 0.05
    done
    sy_psql -At -F' ' -c "SELECT n_tup_ins, n_tup_upd, n_tup_del FROM pg_stat_user_tables WHERE relname = '$1'"
}

# sy_delta "ins upd del" "ins upd del": after − before, as "ins upd del".
sy_delta() {
    echo "$1 $2" | awk '{ printf "%d %d %d\n", $4 - $1, $5 - $2, $6 - $3 }'
}

# sy_same TABLE: the rows of TABLE are exactly those of src (else dies).
sy_same() {
    n=$(sy_psql -At -c "SELECT (SELECT count(*) FROM (TABLE src EXCEPT ALL TABLE $1) a) +
        (SELECT count(*) FROM (TABLE $1 EXCEPT ALL TABLE src) b)")
    [ "$n" = 0 ] || bench_die "$1 differs from src in $n rows"
}
