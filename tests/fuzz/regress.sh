#!/bin/sh
# regress.sh: the fuzz tier of the test suite. Builds the targets (tests/fuzz/build.sh
# --build-only, incremental) and runs each once over every file of its committed corpus,
# tests/fuzz/corpus/<parser>/, without mutating anything: the seeds, and the reproducers of
# fixed crashes kept among them, must all pass under ASan, UBSan and LeakSanitizer. Prints
# "fuzz: N passed, M failed" (one per target), appends "N M" to $MS_RESULTS when set, and
# exits non-zero on any failure. Takes seconds once the objects are built.
set -u
cd "$(dirname "$0")/../.." || exit 1
MS_RESULTS=${MS_RESULTS:-/dev/null}
OUT=build/fuzz

if ! sh tests/fuzz/build.sh --build-only >"$OUT.regress.log" 2>&1; then
    cat "$OUT.regress.log" >&2
    echo "fuzz: build failed"
    echo "0 1" >>"$MS_RESULTS"
    exit 1
fi
rm -f "$OUT.regress.log"

export ASAN_OPTIONS="detect_leaks=1:abort_on_error=0:${ASAN_OPTIONS:-}"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1:${UBSAN_OPTIONS:-}"
pass=0
fail=0
for src in tests/fuzz/fuzz_*.c; do
    t=$(basename "$src" .c)
    t=${t#fuzz_}
    dir=tests/fuzz/corpus/$t
    log=$OUT/regress_$t.log
    if [ -z "$(ls "$dir" 2>/dev/null)" ]; then
        echo "fuzz: $t has no corpus in $dir"
        fail=$((fail + 1))
        continue
    fi
    # Files as arguments: each runs once and nothing is written back to the corpus.
    if "./$OUT/fuzz_$t" -timeout=10 -rss_limit_mb=2048 "$dir"/* >"$log" 2>&1; then
        pass=$((pass + 1))
        rm -f "$log"
    else
        fail=$((fail + 1))
        echo "fuzz: $t FAILED on its corpus; log: $log"
        grep -E 'Running: |ERROR: |runtime error|check failed|SUMMARY' "$log" | tail -n 6 |
            sed 's/^/    /'
    fi
done
echo "fuzz: $pass passed, $fail failed"
echo "$pass $fail" >>"$MS_RESULTS"
[ "$fail" -eq 0 ]
