#!/bin/sh
# S6 (BENCHMARKS.md): the sqlite connector's write path against a minimal C insert loop.
# The floor binds a prepared INSERT per row in one transaction with WAL and
# synchronous=NORMAL; the connector writes the same 16-column firenibble rows through
# write_begin/write/write_end in engine-sized batches. Each run starts from a fresh WAL file;
# runs are interleaved (floor, connector, floor, …) and each pair's ratio is
# connector rows/s ÷ floor rows/s (wall clock). Prints the pairs and the median/min/max ratio;
# goal ≥ 0.7. The CPU ratio (floor CPU ÷ connector CPU) is printed alongside: on a shared,
# noisy machine it shows whether a wall-clock miss is the code or the neighbours.
#   S6_ROWS=100000 (20000 with BENCH_QUICK=1)  S6_PAIRS=BENCH_PAIRS or 5 (3 quick)
#   S6_MODE=create (insert-if-absent on f0) | append | updateOrCreate (upsert ops)
#   S6_BIN=path     use an already built bench/floor/sqlite_insert instead of building it
# Needs the release objects (`make`, which `make bench` runs first).
set -eu
cd "$(dirname "$0")/.."
if [ "${BENCH_QUICK:-0}" = 1 ]; then
    rows=${S6_ROWS:-20000}
    pairs=${S6_PAIRS:-${BENCH_PAIRS:-3}}
else
    rows=${S6_ROWS:-100000}
    pairs=${S6_PAIRS:-${BENCH_PAIRS:-5}}
fi
mode=${S6_MODE:-create}
bin=${S6_BIN:-build/bench/sqlite_insert}

if [ -z "${S6_BIN:-}" ]; then
    if [ ! -f build/rel/connectors/sqlite.o ]; then
        echo "s6-sqlite: build/rel objects missing; run make first" >&2
        exit 1
    fi
    pkgs="libmicrohttpd jansson sqlite3 libcurl libsodium libxxhash"
    if pkg-config --exists libpq; then pkgs="$pkgs libpq"; fi
    mkdir -p build/bench
    ${CC:-cc} -std=c11 -D_POSIX_C_SOURCE=200809L -D_DEFAULT_SOURCE -O2 -g -Isrc \
        $(pkg-config --cflags $pkgs) -o "$bin" bench/floor/sqlite_insert.c \
        build/rel/connectors/*.o build/rel/core/*.o build/rel/model/*.o \
        $(pkg-config --libs $pkgs) -lpthread -lm
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT INT TERM
db="$tmp/s6.db"

# "rows_per_s cpu_s" of one run on a fresh file: $1 = floor | connector
s6_run() {
    "$bin" setup "$db"
    if [ "$1" = floor ]; then
        "$bin" floor "$db" "$rows"
    else
        "$bin" connector "$db" "$rows" "$mode"
    fi | sed -n 's/.*cpu_s=\([0-9.]*\) rows_per_s=\([0-9]*\).*/\2 \1/p'
}

echo "S6 sqlite target vs C insert loop: $rows rows, mode $mode, $pairs pairs"
i=1
: >"$tmp/ratios"
while [ "$i" -le "$pairs" ]; do
    a=$(s6_run floor)
    b=$(s6_run connector)
    [ -n "$a" ] && [ -n "$b" ] || { echo "s6-sqlite: a run failed" >&2; exit 1; }
    echo "$a $b" | awk -v i="$i" '{
        printf "pair %d: floor %d rows/s (%.2f s CPU), connector %d rows/s (%.2f s CPU), " \
            "ratio %.3f, CPU ratio %.3f\n", i, $1, $2, $3, $4, $3 / $1, $2 / $4
        printf "%.3f %.3f\n", $3 / $1, $2 / $4 > "/dev/stderr"
    }' 2>>"$tmp/ratios"
    i=$((i + 1))
done
# median/min/max of column $1 of the ratios
s6_stats() {
    cut -d' ' -f"$1" "$tmp/ratios" | sort -n | awk '
        { v[NR] = $1 }
        END {
            m = NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
            printf "median %.3f min %.3f max %.3f", m, v[1], v[NR]
        }'
}
wall=$(s6_stats 1)
echo "S6 ratio $wall (goal >= 0.7): $(echo "$wall" | awk '{ print ($2 >= 0.7 ? "met" : "not met") }')"
echo "S6 CPU ratio $(s6_stats 2)"
