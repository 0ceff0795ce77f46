# lib.sh: shared helpers for the API tests. Each NN-topic.sh sources this file, calls ms_start,
# makes requests with req, checks them with expect_* and ends with ms_finish. The server is the
# real binary on 127.0.0.1 with a temporary data directory; it writes its port into that
# directory, so tests never race for ports.
set -u
MS_BIN=${MS_BIN:-$(pwd)/build/test/modelsync}
MS_RESULTS=${MS_RESULTS:-/dev/null}
T_NAME=$(basename "$0" .sh)
T_PASS=0
T_FAIL=0
T_DIR=$(mktemp -d)
RESP="$T_DIR/resp.json"
HDRS="$T_DIR/resp.hdr"
STATUS=0
MS_PID=""

ok() { T_PASS=$((T_PASS + 1)); }
fail() {
    T_FAIL=$((T_FAIL + 1))
    echo "FAIL [$T_NAME] $*" >&2
    echo "  last status $STATUS, body: $(head -c 600 "$RESP" 2>/dev/null)" >&2
}

# ms_init NAME EMAIL: creates an organization in $T_DIR/data; sets API_KEY, ORG_KEY, ORG_ID.
ms_init() {
    "$MS_BIN" init --data "$T_DIR/data" --org "${1:-Test Org}" --email "${2:-test@example.com}" \
        --json >"$T_DIR/init.json" 2>>"$T_DIR/cli.log" || { echo "init failed" >&2; cat "$T_DIR/cli.log" >&2; exit 1; }
    API_KEY=$(jq -r .api_key "$T_DIR/init.json")
    ORG_KEY=$(jq -r .org_api_key "$T_DIR/init.json")
    ORG_ID=$(jq -r .organization_id "$T_DIR/init.json")
    USER_ID=$(jq -r .user_id "$T_DIR/init.json")
}

# ms_serve: starts the server on a free port; sets BASE and MS_PID.
ms_serve() {
    rm -f "$T_DIR/data/port"
    "$MS_BIN" serve --data "$T_DIR/data" --listen 127.0.0.1:0 --workers 2 "$@" \
        >>"$T_DIR/server.out" 2>>"$T_DIR/server.log" &
    MS_PID=$!
    i=0
    while [ ! -s "$T_DIR/data/port" ]; do
        i=$((i + 1))
        if [ $i -gt 200 ] || ! kill -0 "$MS_PID" 2>/dev/null; then
            echo "server did not start" >&2; cat "$T_DIR/server.log" >&2; exit 1
        fi
        sleep 0.05
    done
    BASE="http://127.0.0.1:$(cat "$T_DIR/data/port")"
}

# ms_start: ms_init + ms_serve with the default organization.
ms_start() {
    ms_init "Test Org" "test@example.com"
    ms_serve "$@"
}

# ms_stop: SIGTERM, and the server must exit 0 within 10 s.
ms_stop() {
    [ -n "$MS_PID" ] || return 0
    kill -TERM "$MS_PID" 2>/dev/null
    i=0
    while kill -0 "$MS_PID" 2>/dev/null; do
        i=$((i + 1))
        [ $i -gt 200 ] && { kill -9 "$MS_PID"; break; }
        sleep 0.05
    done
    wait "$MS_PID"
    rc=$?
    MS_PID=""
    if [ $rc -eq 0 ]; then ok; else fail "server exited with status $rc"; tail -20 "$T_DIR/server.log" >&2; fi
}

# req METHOD PATH [JSON_BODY] [curl args...]: Bearer API_KEY unless AUTH is set (AUTH="" for
# none, AUTH="Basic xyz" for another). Sets STATUS; body in $RESP, headers in $HDRS.
req() {
    m=$1; p=$2; shift 2
    body=""
    if [ $# -gt 0 ]; then body=$1; shift; fi
    auth=${AUTH-"Bearer $API_KEY"}
    set -- -s -o "$RESP" -D "$HDRS" -w '%{http_code}' -X "$m" "$@"
    [ -n "$auth" ] && set -- "$@" -H "Authorization: $auth"
    [ -n "$body" ] && set -- "$@" -H 'Content-Type: application/json' --data-binary "$body"
    STATUS=$(curl "$@" "$BASE$p")
}

# expect_status CODE DESCRIPTION
expect_status() {
    if [ "$STATUS" = "$1" ]; then ok; else fail "$2: expected status $1, got $STATUS"; fi
}

# expect_jq FILTER DESCRIPTION: the jq filter over the last body must yield true.
expect_jq() {
    if [ "$(jq -r "$1" "$RESP" 2>/dev/null)" = "true" ]; then ok; else fail "$2: jq '$1' is not true"; fi
}

# expect_header NAME REGEX DESCRIPTION
expect_header() {
    if grep -i "^$1:" "$HDRS" | grep -Eiq "$2"; then ok; else fail "$3: header $1 !~ $2"; fi
}

# expect_error CODE KEY DESCRIPTION: an ApiError with that status and key.
expect_error() {
    expect_status "$1" "$3"
    expect_jq ".status == $1 and .key == \"$2\" and (.message | type == \"string\" and length > 0)" "$3 (ApiError $2)"
}

# check COND DESCRIPTION: a shell condition that must hold.
check() {
    if eval "$1"; then ok; else fail "$2"; fi
}

jqr() { jq -r "$1" "$RESP"; }

ms_finish() {
    ms_stop
    echo "$T_NAME: $T_PASS passed, $T_FAIL failed"
    echo "$T_PASS $T_FAIL" >>"$MS_RESULTS"
    rm -rf "$T_DIR"
    [ "$T_FAIL" -eq 0 ]
}
trap '[ -n "$MS_PID" ] && kill -9 "$MS_PID" 2>/dev/null' EXIT
