#!/bin/sh
# run.sh: `make bench` — runs every benchmark script bench/*.sh in turn (all but this file and
# the sourced lib.sh), each printing its ratios against the baseline it measures in the same run.
# BENCH_ONLY=name runs only bench/name.sh; BENCH_QUICK=1 is passed on (short runs). A missed
# goal is reported, not fatal: the exit status is non-zero only when a benchmark could not run.
set -u
cd "$(dirname "$0")/.." || exit 1
failed=""
for f in bench/*.sh; do
    name=$(basename "$f" .sh)
    case $name in lib | run) continue ;; esac
    [ -n "${BENCH_ONLY:-}" ] && [ "$name" != "$BENCH_ONLY" ] && continue
    echo "== bench/$name.sh"
    sh "$f" || failed="$failed $name"
done
[ -z "$failed" ] || { echo "bench: failed to run:$failed" >&2; exit 1; }
