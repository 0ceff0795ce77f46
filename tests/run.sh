#!/bin/sh
# Runs every test tier and ends with one line "N passed, N failed" over all of them:
# Criterion unit tests, API tests against the real binary, the fuzz targets over their committed
# corpora, and the SDK compatibility tests.
# A PostgreSQL server is started on loopback in a temporary directory for the duration.
set -u
cd "$(dirname "$0")/.."
RESULTS=$(mktemp)
export MS_RESULTS="$RESULTS"
export MS_BIN="$(pwd)/build/test/modelsync"
export ASAN_OPTIONS="detect_leaks=1:abort_on_error=0"
export UBSAN_OPTIONS="print_stacktrace=1"
export LSAN_OPTIONS="suppressions=$(pwd)/tests/lsan.supp:print_suppressions=0"
status=0

. tests/pg.sh
pg_start || { echo "could not start PostgreSQL" >&2; exit 1; }
trap 'pg_stop; rm -f "$RESULTS"' EXIT

echo "== unit tests"
./build/test/unit --jobs 2 >"$RESULTS.unit" 2>&1
urc=$?
tail -n 40 "$RESULTS.unit" | grep -E '\[FAIL\]|CRASH|Synthesis' | tail -n 30
syn=$(grep -o 'Tested: [0-9]* | Passing: [0-9]* | Failing: [0-9]* | Crashing: [0-9]*' "$RESULTS.unit" | tail -n 1)
if [ -n "$syn" ]; then
    p=$(echo "$syn" | sed 's/.*Passing: \([0-9]*\).*/\1/')
    f=$(echo "$syn" | sed 's/.*Failing: \([0-9]*\) | Crashing: \([0-9]*\)/\1 \2/' | awk '{print $1+$2}')
    echo "$p $f" >>"$RESULTS"
    echo "unit: $p passed, $f failed"
else
    cat "$RESULTS.unit"
    echo "0 1" >>"$RESULTS"
fi
[ $urc -eq 0 ] || status=1
rm -f "$RESULTS.unit"

echo "== api tests"
for t in tests/api/[0-9]*.sh; do
    bash "$t" || status=1
done

echo "== fuzz corpus regression"
sh tests/fuzz/regress.sh || status=1

echo "== sdk tests"
sh tests/sdk/run.sh || status=1

awk '{p += $1; f += $2} END {printf "%d passed, %d failed\n", p, f}' "$RESULTS"
exit $status
