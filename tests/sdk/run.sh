#!/bin/sh
# run.sh: the SDK compatibility tier. Installs the pinned official npm client (polytomic 1.18.1,
# package-lock.json) with `npm ci` when node_modules is missing or the lockfile changed, starts the
# real server (init + serve in a temporary data directory on 127.0.0.1 port 0), builds the SQLite
# fixture, runs every *.test.mjs with `node --test` (TAP), appends "PASSED FAILED" to $MS_RESULTS,
# prints "sdk: N passed, M failed", stops the server (it must exit 0) and exits non-zero on failure.
set -u
cd "$(dirname "$0")" || exit 1
ROOT=$(cd ../.. && pwd)
MS_BIN=${MS_BIN:-$ROOT/build/test/modelsync}
MS_RESULTS=${MS_RESULTS:-/dev/null}
TMP=$(mktemp -d)
PID=""

finish() {
    echo "$1 $2" >>"$MS_RESULTS"
    echo "sdk: $1 passed, $2 failed"
    rm -rf "$TMP"
    [ "$2" -eq 0 ]
    exit $?
}
trap '[ -n "$PID" ] && kill -9 "$PID" 2>/dev/null; rm -rf "$TMP"' EXIT

# The stamp is the lockfile node_modules was installed from (npm ci recreates node_modules).
if [ ! -d node_modules/polytomic ] || ! cmp -s package-lock.json node_modules/.ms-installed-lock; then
    if ! npm ci --no-audit --no-fund >"$TMP/npm.log" 2>&1; then
        echo "sdk: npm ci failed" >&2
        tail -n 20 "$TMP/npm.log" >&2
        finish 0 1
    fi
    cp package-lock.json node_modules/.ms-installed-lock
fi

mkdir -p "$TMP/fixtures"
sqlite3 "$TMP/fixtures/src.db" <"$ROOT/tests/fixtures/sqlite-seed.sql" || finish 0 1
if ! "$MS_BIN" init --data "$TMP/data" --org "SDK Org" --email sdk@example.com --json \
    >"$TMP/init.json" 2>"$TMP/cli.log"; then
    echo "sdk: init failed" >&2
    cat "$TMP/cli.log" >&2
    finish 0 1
fi
"$MS_BIN" serve --data "$TMP/data" --listen 127.0.0.1:0 --workers 2 \
    >"$TMP/server.out" 2>"$TMP/server.log" &
PID=$!
i=0
while [ ! -s "$TMP/data/port" ]; do
    i=$((i + 1))
    if [ $i -gt 200 ] || ! kill -0 "$PID" 2>/dev/null; then
        echo "sdk: server did not start" >&2
        tail -n 20 "$TMP/server.log" >&2
        finish 0 1
    fi
    sleep 0.05
done

MS_BASE="http://127.0.0.1:$(cat "$TMP/data/port")"
MS_API_KEY=$(jq -r .api_key "$TMP/init.json")
MS_ORG_KEY=$(jq -r .org_api_key "$TMP/init.json")
MS_ORG_ID=$(jq -r .organization_id "$TMP/init.json")
MS_USER_ID=$(jq -r .user_id "$TMP/init.json")
MS_FIXTURES="$TMP/fixtures"
export MS_BASE MS_API_KEY MS_ORG_KEY MS_ORG_ID MS_USER_ID MS_FIXTURES

node --test --test-reporter=tap ./*.test.mjs >"$TMP/tap.txt" 2>&1
pass=$(sed -n 's/^# pass \([0-9][0-9]*\)$/\1/p' "$TMP/tap.txt" | tail -n 1)
fail=$(sed -n 's/^# fail \([0-9][0-9]*\)$/\1/p' "$TMP/tap.txt" | tail -n 1)
canc=$(sed -n 's/^# cancelled \([0-9][0-9]*\)$/\1/p' "$TMP/tap.txt" | tail -n 1)
if [ -z "$pass" ] || [ -z "$fail" ]; then
    echo "sdk: no TAP summary from node --test" >&2
    tail -n 40 "$TMP/tap.txt" >&2
    pass=${pass:-0}
    fail=$((${fail:-0} + 1))
fi
fail=$((fail + ${canc:-0}))
if [ "$fail" -gt 0 ]; then
    # The failing tests with their assertion messages.
    grep -E '^ *not ok|error:|expected|actual|operator|got ' "$TMP/tap.txt" | head -n 60 >&2
fi

kill -TERM "$PID" 2>/dev/null
i=0
while kill -0 "$PID" 2>/dev/null && [ $i -lt 200 ]; do
    i=$((i + 1))
    sleep 0.05
done
kill -0 "$PID" 2>/dev/null && kill -9 "$PID"
wait "$PID"
rc=$?
PID=""
if [ $rc -ne 0 ]; then
    echo "sdk: server exited with status $rc" >&2
    tail -n 20 "$TMP/server.log" >&2
    fail=$((fail + 1))
fi
finish "$pass" "$fail"
