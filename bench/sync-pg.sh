#!/bin/sh
# sync-pg.sh: the PostgreSQL → PostgreSQL sync benchmarks S1–S4 of BENCHMARKS.md, each against
# its baseline in interleaved pairs on the same throw-away PostgreSQL (tests/pg.sh), with the
# engine's phase timers (S11) from `modelsync run --json`:
#   S1  first full load of a fresh updateOrCreate sync into an empty table, against
#       psql \copy (SELECT * FROM src) to stdout | psql \copy dst from stdin   (goal ≥ 0.6×)
#   S3  no row changed: the updateOrCreate sync against psql \copy (…) to /dev/null (≤ 1.3×) and
#       against bench/peers/upsert.sql on the same data (≤ 0.35×); zero target writes
#   S2  10% updated, 1% deleted, 1% inserted (bench/gen mutate): a replace sync with identity
#       (inserts, updates and deletes, as the script does) against bench/peers/upsert.sql
#       (≤ 0.5×); rows written = rows changed, from pg_stat_user_tables
#   S4  1% of the source deleted: exactly those deletes; wall ≤ a no-change run of the same
#       sync + 20%
# The source table is swapped between the base, mutated and 1%-deleted variants by renaming
# (instant), so S2 runs alternate v0 → v1 and v1 → v0 (the same amount of change each way).
# Wall times cover the whole processes (psql's or modelsync's start, connections, exit).
#   S7  (up to 100,000 rows, or BENCH_S7=1) valgrind callgrind of one more no-change run: the
#       share of the instructions spent in XXH3 (goal ≤ 5%)
#   BENCH_ROWS=100000 (20000 with BENCH_QUICK=1)   BENCH_PAIRS=5 (3 quick)   BENCH_WARMUP=1
#   MS_BIN=path: measure that binary instead of building ./modelsync
# Loopback only; PostgreSQL, the server and the temporary directory are removed on exit. The
# exit status says whether the measurement ran, not whether a goal was met.
# The per-scenario lists (S1_T, S2_R, …) are built with eval, which shellcheck cannot follow.
# shellcheck disable=SC2154,SC2153
set -eu
cd "$(dirname "$0")/.."
. bench/lib.sh
. bench/sync/lib.sh

if [ "${BENCH_QUICK:-0}" = 1 ]; then ROWS=${BENCH_ROWS:-20000}; else ROWS=${BENCH_ROWS:-100000}; fi
WARM=${BENCH_WARMUP:-1}
RUNS=$((WARM + BENCH_PAIRS))
[ "$ROWS" -ge 100 ] || bench_die "BENCH_ROWS must be at least 100"
# S7 (callgrind, ~50x slower than native) only up to 100,000 rows unless BENCH_S7=1 asks for it.
if [ -z "${BENCH_S7:-}" ]; then
    if [ "$ROWS" -le 100000 ] && command -v valgrind >/dev/null; then S7=1; else S7=0; fi
else
    S7=$BENCH_S7
fi
[ "$S7" = 0 ] || bench_need valgrind valgrind

sy_prepare
# shellcheck disable=SC2046 # three numbers
set -- $("$SY_GEN" counts "$ROWS")
N_UPD=$1 N_DEL=$2 N_INS=$3
N_CHG=$((N_UPD + N_DEL + N_INS))

bench_log "bench: sync-pg: $ROWS rows, loading the source variants"
for t in src src_v1 src_vd dst_copy dst_full dst_upsert dst_script dst_replace; do sy_table "$t"; done
sy_load src base "$ROWS"
sy_load src_v1 mutate "$ROWS"
sy_load src_vd delete "$ROWS"
SP_CUR=v0

# sp_use v0|v1|vd: make that variant the table public.src.
sp_use() {
    [ "$1" = "$SP_CUR" ] && return 0
    sy_psql -c "BEGIN" -c "ALTER TABLE src RENAME TO src_$SP_CUR" \
        -c "ALTER TABLE src_$1 RENAME TO src" -c "COMMIT"
    SP_CUR=$1
}

# sp_settle TABLE…: vacuum the tables and checkpoint, so no run pays for an earlier one.
sp_settle() {
    for t in "$@"; do sy_psql -c "VACUUM ANALYZE $t"; done
    sy_psql -c CHECKPOINT
}

sy_setup_ms
i=0
while [ $i -lt $RUNS ]; do
    sy_sync "bench-s1-$i" updateOrCreate dst_full
    i=$((i + 1))
done
sy_sync bench-upsert updateOrCreate dst_upsert
sy_sync bench-replace replace dst_replace
sy_stop_server

# --- the measured commands; each sets T (seconds) ---------------------------------------------

copy_pipe() { # S1 baseline
    sy_psql -c "TRUNCATE dst_copy"
    sp_settle dst_copy
    t=$(sy_now)
    sy_psql -c "\\copy (SELECT * FROM src) to stdout" | sy_psql -c "\\copy dst_copy from stdin"
    T=$(sy_since "$t")
}
copy_out() { # S3 baseline
    t=$(sy_now)
    sy_psql -c "\\copy (SELECT * FROM src) to /dev/null"
    T=$(sy_since "$t")
}
script() { # S2, S3 baseline: sets W (writes on dst_script)
    w0=$(sy_writes dst_script)
    t=$(sy_now)
    sy_psql -c "\\copy (SELECT * FROM src) to stdout" |
        sy_psql -v dst=dst_script -f bench/peers/upsert.sql
    T=$(sy_since "$t")
    W=$(sy_delta "$w0" "$(sy_writes dst_script)")
}
# engine SYNC TABLE: sets T, W (writes on TABLE) and the R_* figures of sy_run.
engine() {
    w0=$(sy_writes "$2")
    sy_run "$1"
    T=$R_SECS
    W=$(sy_delta "$w0" "$(sy_writes "$2")")
}

# keep PREFIX: appends this run's wall and phase timers (seconds) to PREFIX_T, PREFIX_RD, …
keep() {
    eval "$1_T=\"\${$1_T:-} $T\""
    for p in RD:READ TR:TRANSFORM WR:WRITE SN:SNAPSHOT TT:TOTAL; do
        eval "v=\$R_${p#*:}_US"
        eval "$1_${p%%:*}=\"\${$1_${p%%:*}:-} $(awk -v u="$v" 'BEGIN { printf "%.3f", u / 1e6 }')\""
    done
    eval "$1_SH=\"\${$1_SH:-} $(bench_div "$R_SNAPSHOT_US" "$R_TOTAL_US")\""
}
# ratio LIST A B: appends A / B to the list variable LIST.
ratio() { eval "$1=\"\${$1:-} $(bench_div "$2" "$3")\""; }
# expect WHAT GOT WANTED: records a mismatch of a checked figure (a goal, not an abort).
MISMATCH=""
expect() {
    [ "$2" = "$3" ] && return 0
    MISMATCH="$MISMATCH; $1: $2, expected $3"
    bench_log "  MISMATCH $1: $2, expected $3"
}
phases() { # PREFIX LABEL: the phase line of a scenario
    eval "rd=\$$1_RD tr=\$$1_TR wr=\$$1_WR sn=\$$1_SN tt=\$$1_TT sh=\$$1_SH"
    echo "    engine phases${2:-} (median s): read $(bench_median "$rd"), transform $(bench_median "$tr"), write $(bench_median "$wr"), snapshot $(bench_median "$sn") = $(bench_fmt "$sh" 3) of the engine total $(bench_median "$tt")"
}
is_warm() { [ "$1" -lt "$WARM" ]; }

PGV=$(sy_psql -At -c "SHOW server_version")
echo "sync benchmarks PostgreSQL $PGV -> PostgreSQL, $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) CPUs ($(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)), load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "dataset: bench/gen, $ROWS rows of 16 columns ($(sy_psql -At -c "SELECT pg_size_pretty(pg_table_size('src'))")); mutated copy: $N_UPD updated, $N_DEL deleted, $N_INS inserted; $BENCH_PAIRS pairs after $WARM warm-up"

# --- S1 ------------------------------------------------------------------------------------
bench_log "bench: sync-pg: S1 ($RUNS pairs)"
i=0
while [ $i -lt $RUNS ]; do
    copy_pipe
    b=$T
    sy_psql -c "TRUNCATE dst_full"
    sp_settle dst_full
    engine "bench-s1-$i" dst_full
    expect "S1 run $i rows written (ins upd del)" "$W" "$ROWS 0 0"
    expect "S1 run $i ops sent" "$R_WRITTEN" "$ROWS"
    [ $i -eq "$WARM" ] && sy_same dst_full
    bench_log "  S1 $i: copy pipeline $b s | modelsync $T s (ins $R_INS ups $R_UPS; writes $W)"
    if ! is_warm $i; then
        S1_B="${S1_B:-} $b"
        keep S1
        ratio S1_R "$b" "$T"
    fi
    i=$((i + 1))
done

# --- the initial state of the other syncs ----------------------------------------------------
bench_log "bench: sync-pg: first loads of the updateOrCreate and replace syncs"
sy_run bench-upsert
sy_run bench-replace
sy_psql -c "\\copy (SELECT * FROM src) to stdout" | sy_psql -c "\\copy dst_script from stdin"
sy_same dst_upsert
sy_same dst_replace
sy_same dst_script

# --- S3 ------------------------------------------------------------------------------------
bench_log "bench: sync-pg: S3 ($RUNS rounds of copy-out, modelsync, script)"
i=0
while [ $i -lt $RUNS ]; do
    sp_settle dst_upsert dst_script
    copy_out
    b=$T
    engine bench-upsert dst_upsert
    expect "S3 run $i target writes" "$W" "0 0 0"
    expect "S3 run $i ops sent" "$R_WRITTEN" 0
    e=$T
    is_warm $i || keep S3
    script
    expect "S3 run $i script writes" "$W" "0 0 0"
    bench_log "  S3 $i: copy-out $b s | modelsync $e s | script $T s"
    if ! is_warm $i; then
        S3_B="${S3_B:-} $b" S3_C="${S3_C:-} $T"
        ratio S3_R "$e" "$b"
        ratio S3_RS "$e" "$T"
    fi
    i=$((i + 1))
done

# --- S7 ------------------------------------------------------------------------------------
# callgrind of one more no-change run: Ir of the XXH3 entry points (inclusive) over the total.
S7_LINE=""
if [ "$S7" = 1 ]; then
    bench_log "bench: sync-pg: S7 (callgrind of a no-change run of $ROWS rows)"
    sy_run bench-upsert valgrind --tool=callgrind --callgrind-out-file="$SY_TMP/callgrind.out"
    callgrind_annotate --inclusive=yes --auto=no --threshold=100 "$SY_TMP/callgrind.out" >"$SY_TMP/cg.txt" 2>/dev/null
    S7_LINE=$(awk '{ gsub(",", "", $1) }
        / PROGRAM TOTALS/ { total = $1 }
        /:XXH3_(64|128)bits / { xxh += $1 }
        /engine\/transform.c:ms_eng_row_hash / { rh = $1 }
        END { if (total == 0) exit 1
              printf "%.4f %.0f %.0f %.4f %.0f", xxh / total, total, total / n, rh / total, xxh / n }' \
        n="$ROWS" "$SY_TMP/cg.txt") || bench_die "S7: no totals in the callgrind output"
fi

# --- S2 ------------------------------------------------------------------------------------
bench_log "bench: sync-pg: S2 ($RUNS pairs, alternating v0 -> v1 and v1 -> v0)"
i=0
while [ $i -lt $RUNS ]; do
    if [ $((i % 2)) -eq 0 ]; then
        sp_use v1
        want="$N_INS $N_UPD $N_DEL"
    else
        sp_use v0
        want="$N_DEL $N_UPD $N_INS"
    fi
    sp_settle dst_script dst_replace
    script
    s=$T
    expect "S2 run $i script writes" "$W" "$want"
    engine bench-replace dst_replace
    expect "S2 run $i target writes (ins upd del)" "$W" "$want"
    expect "S2 run $i ops sent" "$R_WRITTEN" "$N_CHG"
    [ $i -eq "$WARM" ] && sy_same dst_replace && sy_same dst_script
    bench_log "  S2 $i ($SP_CUR): script $s s | modelsync $T s (ins $R_INS upd $R_UPD ups $R_UPS del $R_DEL; writes $W)"
    if ! is_warm $i; then
        S2_B="${S2_B:-} $s"
        keep S2
        ratio S2_R "$T" "$s"
    fi
    i=$((i + 1))
done
if [ "$SP_CUR" != v0 ]; then
    sp_use v0
    sy_run bench-replace
fi
sy_same dst_replace

# --- S4 ------------------------------------------------------------------------------------
bench_log "bench: sync-pg: S4 ($RUNS rounds of 1% deleted, then no change)"
i=0
while [ $i -lt $RUNS ]; do
    sp_use vd
    sp_settle dst_replace
    engine bench-replace dst_replace
    expect "S4 run $i target writes (ins upd del)" "$W" "0 0 $N_DEL"
    expect "S4 run $i deletes counted" "$R_DEL" "$N_DEL"
    d=$T dd=$R_DEL
    [ $i -eq "$WARM" ] && sy_same dst_replace
    is_warm $i || keep S4
    sp_settle dst_replace
    engine bench-replace dst_replace
    expect "S4 run $i no-change writes" "$W" "0 0 0"
    bench_log "  S4 $i: 1% deleted $d s (deletes $dd) | no change $T s"
    if ! is_warm $i; then
        keep S4N
        ratio S4_R "$d" "$T"
    fi
    sp_use v0
    sy_run bench-replace
    i=$((i + 1))
done

# --- results -------------------------------------------------------------------------------
say() { printf '%s\n' "$*"; }
fmt_s() { bench_fmt "$1" 2 " s"; }
say "S1 first full load, rows/s modelsync / psql copy pipeline: $(bench_fmt "$S1_R" 2 x)"
say "    goal >= 0.6x: $(bench_verdict "$(bench_median "$S1_R")" '>=' 0.6)"
say "    psql \\copy out | \\copy in: $(fmt_s "$S1_B"); modelsync run: $(fmt_s "$S1_T") ($(awk -v n="$ROWS" -v t="$(bench_median "$S1_T")" 'BEGIN { printf "%.0f", n / t }') rows/s)"
phases S1
say "S2 10% changed, wall modelsync / upsert.sql script: $(bench_fmt "$S2_R" 2 x)"
say "    goal <= 0.5x: $(bench_verdict "$(bench_median "$S2_R")" '<=' 0.5)"
say "    script: $(fmt_s "$S2_B"); modelsync run (replace): $(fmt_s "$S2_T"); rows written per run $N_CHG = rows changed: $(printf '%s' "$MISMATCH" | grep -q 'S2 run [0-9]* target\|S2 run [0-9]* ops' && echo 'not met' || echo met)"
phases S2
say "    S11 snapshot share of the engine's total on this 10%-change run: $(bench_fmt "$S2_SH" 3) (goal <= 0.15: $(bench_verdict "$(bench_median "$S2_SH")" '<=' 0.15))"
say "S3 none changed, wall modelsync / psql \\copy to /dev/null: $(bench_fmt "$S3_R" 2 x)"
say "    goal <= 1.3x: $(bench_verdict "$(bench_median "$S3_R")" '<=' 1.3)"
say "S3 none changed, wall modelsync / upsert.sql script: $(bench_fmt "$S3_RS" 2 x)"
say "    goal <= 0.35x: $(bench_verdict "$(bench_median "$S3_RS")" '<=' 0.35); zero target writes: $(printf '%s' "$MISMATCH" | grep -q 'S3 run [0-9]* target' && echo 'not met' || echo met)"
say "    copy-out: $(fmt_s "$S3_B"); script: $(fmt_s "$S3_C"); modelsync run (updateOrCreate): $(fmt_s "$S3_T")"
phases S3
say "S4 1% deleted, wall / no-change run of the same replace sync: $(bench_fmt "$S4_R" 2 x)"
say "    goal <= 1.2x: $(bench_verdict "$(bench_median "$S4_R")" '<=' 1.2); exactly the $N_DEL deletes: $(printf '%s' "$MISMATCH" | grep -q 'S4 run [0-9]* target\|S4 run [0-9]* deletes' && echo 'not met' || echo met)"
say "    1% deleted: $(fmt_s "$S4_T"); no change: $(fmt_s "$S4N_T")"
phases S4 " (1% deleted)"
phases S4N " (no change)"
if [ -n "$S7_LINE" ]; then
    # shellcheck disable=SC2086 # five numbers
    set -- $S7_LINE
    say "S7 XXH3 share of the instructions of a no-change run (callgrind, inclusive): $(awk -v v="$1" 'BEGIN { printf "%.2f%%", v * 100 }')"
    say "    goal <= 5%: $(bench_verdict "$1" '<=' 0.05); $2 Ir in all, $3 Ir/row; XXH3 $5 Ir/row; canonical row encoding + hash (ms_eng_row_hash) $(awk -v v="$4" 'BEGIN { printf "%.2f%%", v * 100 }')"
fi
[ -z "$MISMATCH" ] || say "mismatches${MISMATCH}"
