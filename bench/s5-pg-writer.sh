#!/bin/sh
# S5 (BENCHMARKS.md): the postgresql connector's writer against raw COPY and a Multiwoven-style
# loader, on the 16-column firenibble rows that bench/pg_writer.c generates (the same values
# for every writer). It starts its own PostgreSQL with tests/pg.sh and measures, per round:
#   copy         psql \copy of the rows into the empty table (the reference)
#   multi        psql running 10,000-row INSERT … VALUES (literals) … ON CONFLICT DO UPDATE
#                statements into the empty table
#   writer       the connector (write_begin/write/write_end, batches of 1000 upsert ops) into
#                the empty table
#   multi-upd    the same loader over a table already holding every key with other values
#   writer-upd   the connector over that table (every row changed: staged upserts)
# Rounds interleave the writers; each round's ratios are rows/s ÷ rows/s of the same round.
# Prints every round and the median/min/max of each ratio. Goals: writer ≥ 0.5× copy and
# ≥ 2× multi. Times are wall clock: psql's include its start and connection, the writer's
# its connection (rows are generated before its clock starts, as a source read would be).
#   S5_ROWS=100000 (20000 with BENCH_QUICK=1)  S5_PAIRS=BENCH_PAIRS or 5 (3 quick)
# Needs the release objects (`make`, which `make bench` runs first) and the PostgreSQL server
# and client binaries.
set -eu
cd "$(dirname "$0")/.."
if [ "${BENCH_QUICK:-0}" = 1 ]; then
    rows=${S5_ROWS:-20000}
    pairs=${S5_PAIRS:-${BENCH_PAIRS:-3}}
else
    rows=${S5_ROWS:-100000}
    pairs=${S5_PAIRS:-${BENCH_PAIRS:-5}}
fi
bin=build/bench/pg_writer

command -v psql >/dev/null || { echo "s5-pg-writer: psql is not installed" >&2; exit 1; }
pkg-config --exists libpq || { echo "s5-pg-writer: built without libpq" >&2; exit 1; }
if [ ! -f build/rel/connectors/postgresql_write.o ]; then
    echo "s5-pg-writer: build/rel objects missing; run make first" >&2
    exit 1
fi
pkgs="libmicrohttpd jansson sqlite3 libcurl libsodium libxxhash libpq"
mkdir -p build/bench
${CC:-cc} -std=c11 -D_POSIX_C_SOURCE=200809L -D_DEFAULT_SOURCE -O2 -g -Isrc \
    $(pkg-config --cflags $pkgs) -o "$bin" bench/pg_writer.c \
    build/rel/connectors/*.o build/rel/core/*.o build/rel/model/*.o \
    $(pkg-config --libs $pkgs) -lpthread -lm

. tests/pg.sh
tmp=$(mktemp -d)
s5_cleanup() {
    pg_stop
    rm -rf "$tmp"
}
trap s5_cleanup EXIT INT TERM
pg_start
export PGPASSWORD="$MS_TEST_PG_PASSWORD"
psql_q() {
    psql -X -q -v ON_ERROR_STOP=1 -h "$MS_TEST_PG_HOST" -p "$MS_TEST_PG_PORT" \
        -U "$MS_TEST_PG_USER" -d "$MS_TEST_PG_DB" "$@"
}

psql_q -c "CREATE TABLE s5_dst (f0 bigint PRIMARY KEY, f1 bigint, f2 bigint, f3 int,
    f4 float8, f5 float8, f6 float8, f7 float8, f8 varchar(32), f9 varchar(32), f10 date,
    f11 date, f12 date, f13 varchar(32), f14 varchar(32), f15 varchar(32))"
"$bin" copy "$rows" 0 >"$tmp/v0.tsv"
"$bin" copy "$rows" 1 >"$tmp/v1.tsv"
"$bin" sql "$rows" 1 10000 s5_dst >"$tmp/v1.sql"

# The table before a run: empty, or holding every key with the variant-0 values.
s5_empty() { psql_q -c "TRUNCATE s5_dst" -c "CHECKPOINT"; }
s5_loaded() {
    psql_q -c "TRUNCATE s5_dst" -c "\\copy s5_dst from '$tmp/v0.tsv'" -c "VACUUM ANALYZE s5_dst" \
        -c "CHECKPOINT"
}
s5_now() { date +%s.%N; }
s5_since() { awk -v a="$1" -v b="$(s5_now)" 'BEGIN { printf "%.3f", b - a }'; }
# Seconds of one run; the table must end up with every row of variant 1.
s5_copy() {
    t=$(s5_now)
    psql_q -c "\\copy s5_dst from '$tmp/v1.tsv'"
    s5_since "$t"
}
s5_multi() {
    t=$(s5_now)
    psql_q -f "$tmp/v1.sql" >/dev/null
    s5_since "$t"
}
s5_writer() { "$bin" write "$rows" 1 upsert public.s5_dst; }
s5_check() {
    n=$(psql_q -At -c "SELECT count(*) FROM s5_dst WHERE f8 IS NOT NULL")
    [ "$n" = "$rows" ] || { echo "s5-pg-writer: $1 left $n rows, not $rows" >&2; exit 1; }
}

echo "S5 postgresql writer: $rows rows of 16 columns, $pairs rounds"
: >"$tmp/ratios"
i=1
while [ "$i" -le "$pairs" ]; do
    s5_empty
    c=$(s5_copy)
    s5_check copy
    s5_empty
    m=$(s5_multi)
    s5_check multi
    s5_empty
    w=$(s5_writer)
    s5_check writer
    s5_loaded
    mu=$(s5_multi)
    s5_loaded
    wu=$(s5_writer)
    s5_check writer-upd
    echo "$c $m $w $mu $wu" | awk -v i="$i" -v n="$rows" '{
        printf "round %d: copy %.2f s, multi %.2f s, writer %.2f s, multi-upd %.2f s, " \
            "writer-upd %.2f s; writer %.0f rows/s = %.2fx copy, %.2fx multi; " \
            "writer-upd %.2fx multi-upd, %.2fx copy\n", i, $1, $2, $3, $4, $5, n / $3,
            $1 / $3, $2 / $3, $4 / $5, $1 / $5
        printf "%.3f %.3f %.3f %.3f\n", $1 / $3, $2 / $3, $4 / $5, $1 / $5 > "/dev/stderr"
    }' 2>>"$tmp/ratios"
    i=$((i + 1))
done

# median/min/max of column $1 of the ratios
s5_stats() {
    cut -d' ' -f"$1" "$tmp/ratios" | sort -n | awk '
        { v[NR] = $1 }
        END {
            m = NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
            printf "median %.3f min %.3f max %.3f", m, v[1], v[NR]
        }'
}
s5_verdict() { echo "$1" | awk -v g="$2" '{ print ($2 >= g ? "met" : "not met") }'; }
r=$(s5_stats 1)
echo "S5 writer / raw COPY rows/s: $r (goal >= 0.5): $(s5_verdict "$r" 0.5)"
r=$(s5_stats 2)
echo "S5 writer / multi-row loader rows/s: $r (goal >= 2): $(s5_verdict "$r" 2)"
echo "S5 every row changed, writer-upd / multi-upd: $(s5_stats 3)"
echo "S5 every row changed, writer-upd / raw COPY into an empty table: $(s5_stats 4)"
