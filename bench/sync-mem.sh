#!/bin/sh
# sync-mem.sh: S8 of BENCHMARKS.md, the engine's peak memory. For each size it loads bench/gen
# rows into public.src of a throw-away PostgreSQL (tests/pg.sh), runs a fresh updateOrCreate
# sync once (the first full load into an empty table), then a no-change run of it, both under
# /usr/bin/time -v, and reports "Maximum resident set size" against the goal
# RSS ≤ 32 B/row + 64 MB (hash mode: the engine has no ordered/merge snapshot mode, so the flat
# 64 MB goal of that mode is not measured). It also gives the bytes per snapshot row above a
# 1,000-row run (the fixed cost of the process) and the store's size on disk per row.
#   sizes: 100000 and 1000000 (20000 and 100000 with BENCH_QUICK=1); BENCH_FULL=1 adds 10000000
#   (about 2.5 GB per copy of the table, and tens of minutes); BENCH_MEM_ROWS="n …" sets them.
#   MS_BIN=path: measure that binary instead of building ./modelsync
# Loopback only; PostgreSQL, the server and the temporary directory are removed on exit.
set -eu
cd "$(dirname "$0")/.."
. bench/lib.sh
. bench/sync/lib.sh

if [ "${BENCH_QUICK:-0}" = 1 ]; then sizes="20000 100000"; else sizes="100000 1000000"; fi
[ "${BENCH_FULL:-0}" = 1 ] && sizes="$sizes 10000000"
sizes=${BENCH_MEM_ROWS:-$sizes}
[ -x /usr/bin/time ] || BENCH_MISSING="$BENCH_MISSING time"

sy_prepare
sy_table src
sy_table dst
sy_setup_ms
for n in 1000 $sizes; do sy_sync "bench-mem-$n" updateOrCreate dst; done
sy_stop_server

# mem_run NAME: sy_run under /usr/bin/time -v; sets KB (maximum resident set size, kB).
mem_run() {
    sy_run "$1" /usr/bin/time -v -o "$SY_TMP/time.txt"
    KB=$(awk -F': ' '/Maximum resident set size/ { print $2 }' "$SY_TMP/time.txt")
    [ -n "$KB" ] || bench_die "no maximum resident set size from /usr/bin/time"
}
mb() { awk -v k="$1" 'BEGIN { printf "%.1f MB", k / 1024 }'; }

echo "S8 peak RSS of modelsync run (PostgreSQL -> PostgreSQL, updateOrCreate, hash snapshot index), $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) CPUs"
BASE_KB=""
for n in 1000 $sizes; do
    bench_log "bench: sync-mem: $n rows"
    sy_psql -c "TRUNCATE src, dst"
    sy_load src base "$n"
    store0=$(du -sk "$SY_DATA" | cut -f1)
    mem_run "bench-mem-$n"
    [ "$R_WRITTEN" = "$n" ] || bench_die "first run of $n rows wrote $R_WRITTEN"
    first_kb=$KB first_s=$R_SECS
    store=$(($(du -sk "$SY_DATA" | cut -f1) - store0))
    mem_run "bench-mem-$n"
    [ "$R_WRITTEN" = 0 ] || bench_die "no-change run of $n rows wrote $R_WRITTEN"
    if [ -z "$BASE_KB" ]; then
        BASE_KB=$KB
        echo "fixed cost: 1000 rows, no-change run $(mb "$KB") ($R_SECS s), first load $(mb "$first_kb")"
        continue
    fi
    goal_kb=$(awk -v n="$n" 'BEGIN { printf "%d", (32 * n + 64 * 1048576) / 1024 }')
    echo "$n rows: no-change run $(mb "$KB") ($R_SECS s): $(awk -v k="$KB" -v b="$BASE_KB" -v n="$n" \
        'BEGIN { printf "%.1f B/row overall, %.1f B/row above the 1000-row run", k * 1024 / n, (k - b) * 1024 / n }')"
    echo "    goal <= 32 B/row + 64 MB = $(mb "$goal_kb"): $(bench_verdict "$KB" '<=' "$goal_kb")"
    echo "    first full load $(mb "$first_kb") ($first_s s); data directory grew by $(mb "$store") ($(awk -v k="$store" -v n="$n" 'BEGIN { printf "%.0f", k * 1024 / n }') B/row)"
done
