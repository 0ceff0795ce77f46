#!/usr/bin/env bash
# 91-syncs-pagination: keyset pagination of GET /api/syncs (API.md §2.7, §5.3, D9). 120 syncs,
# many created within the same millisecond so the id tie-break matters, are walked with limit 7
# and with the default (50): every sync exactly once, in (updated_at DESC, id DESC) order, and
# "pagination": {} on the last page; syncs created during a walk do not disturb it. limit 0, -1,
# 51, 1000 and huge integers mean 50, "abc" and "1.5" are 400. Page tokens are URL-safe, survive
# '=' padding and double percent-encoding, bind the filters they were minted under (reuse with
# other filters → 400), and an edited, truncated, foreign or oversized token is 400 naming
# page_token. A filtered walk (active=false) returns exactly the paused syncs.
cd "$(dirname "$0")/../.." || exit 1
. tests/api/lib.sh

ms_init "Other Org" "other@example.com"
B_KEY=$API_KEY
ms_init "Test Org" "test@example.com"
ms_serve

sqlite3 "$T_DIR/src.db" "CREATE TABLE users (id INTEGER PRIMARY KEY, email TEXT);"
sqlite3 "$T_DIR/dst.db" "CREATE TABLE contacts (id INTEGER PRIMARY KEY, email TEXT);"
req POST /api/connections "{\"name\":\"Source\",\"type\":\"sqlite\",\"configuration\":{\"path\":\"$T_DIR/src.db\"}}"
SRC=$(jqr .data.id)
req POST /api/connections "{\"name\":\"Warehouse\",\"type\":\"sqlite\",\"configuration\":{\"path\":\"$T_DIR/dst.db\"}}"
DST=$(jqr .data.id)
req POST /api/models "{\"name\":\"Users\",\"connection_id\":\"$SRC\",\"configuration\":{\"table\":\"users\"}}"
M=$(jqr .data.id)

# sync N MODE ACTIVE: one sync body.
sync() {
    jq -nc --arg m "$M" --arg dst "$DST" --arg n "$1" --arg mode "$2" --argjson active "$3" \
        '{name: ("sync " + $n), mode: $mode, active: $active,
          target: {connection_id: $dst, object: "contacts"},
          fields: [{source: {model_id: $m, field: "email"}, target: "email"}], schedule: {}}'
}

created=0
for i in $(seq 1 120); do
    if [ $((i % 3)) -eq 0 ]; then mode=append; else mode=create; fi
    if [ $((i % 4)) -eq 0 ]; then active=false; else active=true; fi
    req POST /api/syncs "$(sync "$i" "$mode" "$active")"
    [ "$STATUS" = 200 ] && created=$((created + 1))
done
check '[ $created -eq 120 ]' "120 syncs created ($created)"

# walk QUERY: follow next_page_token from GET /api/syncs?QUERY; appends every item as
# "updated_at id active mode" to $T_DIR/walk and page sizes to $T_DIR/pages. CREATE_DURING=1
# creates a sync after the first page.
walk() {
    : >"$T_DIR/walk"
    : >"$T_DIR/pages"
    tok=""
    pages=0
    while :; do
        q="$1"
        [ -n "$tok" ] && q="$q&page_token=$tok"
        req GET "/api/syncs?$q"
        [ "$STATUS" = 200 ] || { fail "walk $1: status $STATUS"; return; }
        jq -r '.data[] | "\(.updated_at) \(.id) \(.active) \(.mode)"' "$RESP" >>"$T_DIR/walk"
        jq -r '.data | length' "$RESP" >>"$T_DIR/pages"
        tok=$(jq -r '.pagination.next_page_token // empty' "$RESP")
        pages=$((pages + 1))
        if [ "${CREATE_DURING:-0}" = 1 ] && [ $pages -eq 1 ]; then
            req POST /api/syncs "$(sync "during" create true)"
        fi
        [ -n "$tok" ] || break
        [ $pages -lt 100 ] || { fail "walk $1: runaway"; return; }
    done
    LAST_PAGE=$(cat "$RESP")
}

# expect_walk N DESC: the walk returned N distinct ids in strictly descending key order.
expect_walk() {
    n=$(wc -l <"$T_DIR/walk")
    u=$(cut -d' ' -f2 "$T_DIR/walk" | sort -u | wc -l)
    check "[ $n -eq $1 ] && [ $u -eq $1 ]" "$2: $1 items, no duplicate (got $n, $u distinct)"
    check '[ "$(cut -d" " -f1,2 "$T_DIR/walk")" = "$(cut -d" " -f1,2 "$T_DIR/walk" | sort -r -u)" ]' "$2: updated_at desc, id desc"
    check '[ "$(echo "$LAST_PAGE" | jq -c .pagination)" = "{}" ]' "$2: last page has pagination {}"
}

walk "limit=7"
expect_walk 120 "limit 7"
check '[ "$(sort -u "$T_DIR/pages" | tr "\n" " ")" = "1 7 " ]' "limit 7: pages of 7 and a last one of 1"
cut -d' ' -f2 "$T_DIR/walk" | sort >"$T_DIR/all7"

walk "limit=50"
expect_walk 120 "limit 50"
check '[ "$(tr "\n" " " <"$T_DIR/pages")" = "50 50 20 " ]' "limit 50: 50, 50, 20"
walk ""
expect_walk 120 "default limit"
check '[ "$(tr "\n" " " <"$T_DIR/pages")" = "50 50 20 " ]' "default limit is 50"
cut -d' ' -f2 "$T_DIR/walk" | sort >"$T_DIR/alldef"
check 'cmp -s "$T_DIR/all7" "$T_DIR/alldef"' "both walks saw the same syncs"

CREATE_DURING=1 walk "limit=7"
CREATE_DURING=0
check '[ "$(cut -d" " -f2 "$T_DIR/walk" | sort -u | wc -l)" -eq "$(wc -l <"$T_DIR/walk")" ]' "walk while creating: no duplicate"
check '[ -z "$(comm -23 "$T_DIR/all7" <(cut -d" " -f2 "$T_DIR/walk" | sort))" ]' "walk while creating: no miss"

walk "active=false&limit=7"
expect_walk 30 "active=false"
check '! grep -q " true " "$T_DIR/walk"' "active=false: only paused syncs"
walk "mode=append&active=true&limit=9"
expect_walk 30 "mode=append&active=true"
check '[ "$(cut -d" " -f3,4 "$T_DIR/walk" | sort -u)" = "true append" ]' "mode=append&active=true: only those"

# --- limit
for l in 0 -1 51 1000 99999999999999999999999; do
    req GET "/api/syncs?limit=$l"
    expect_status 200 "limit=$l"
    expect_jq '(.data | length) == 50 and (.pagination.next_page_token | type == "string")' "limit=$l means 50"
done
req GET "/api/syncs?limit=3"
expect_jq '(.data | length) == 3' "limit=3"
for l in abc 1.5 "" 7x; do
    req GET "/api/syncs?limit=$l"
    expect_error 400 invalid_request "limit='$l'"
    expect_jq '.metadata.field == "limit"' "limit='$l' names limit"
done

# --- tokens
req GET "/api/syncs?active=true&limit=5"
TOK=$(jqr .pagination.next_page_token)
FIRST=$(jq -c '[.data[].id]' "$RESP")
check 'echo "$TOK" | grep -Eq "^[A-Za-z0-9_-]+$"' "token is URL-safe base64 without padding"
req GET "/api/syncs?active=true&limit=5&page_token=$TOK"
expect_status 200 "token accepted"
SECOND=$(jq -c '[.data[].id]' "$RESP")
check '[ "$(jq -n --argjson a "$FIRST" --argjson b "$SECOND" "\$a - \$b | length")" -eq 5 ]' "second page differs from the first"
req GET "/api/syncs?active=true&limit=5&page_token=${TOK}%3D%3D"
expect_status 200 "token with '=' padding"
check '[ "$(jq -c "[.data[].id]" "$RESP")" = "$SECOND" ]' "padded token: same page"
req GET "/api/syncs?active=TRUE&limit=5&page_token=$(echo "$TOK" | sed 's/_/%255F/g; s/-/%252D/g')${TOK:+%253D}"
expect_status 200 "double percent-encoded token (and TRUE is true)"
req GET "/api/syncs?active=true&page_token=$TOK"
expect_status 200 "limit may change between pages"

for q in "active=false" "" "active=true&mode=create" "active=true&target_connection_id=$DST"; do
    req GET "/api/syncs?$q&page_token=$TOK"
    expect_error 400 invalid_request "token reused with other filters ($q)"
    expect_jq '.metadata.field == "page_token"' "other filters ($q): names page_token"
done
# flip one character in the middle of the token
c=${TOK:20:1}
if [ "$c" = A ]; then r=B; else r=A; fi
BAD="${TOK:0:20}$r${TOK:21}"
req GET "/api/syncs?active=true&page_token=$BAD"
expect_error 400 invalid_request "tampered token"
expect_jq '.metadata.field == "page_token"' "tampered token names page_token"
req GET "/api/syncs?active=true&page_token=${TOK:0:40}"
expect_error 400 invalid_request "truncated token"
req GET "/api/syncs?active=true&page_token=abc"
expect_error 400 invalid_request "garbage token"
req GET "/api/syncs?active=true&page_token=$(printf 'A%.0s' $(seq 1 600))"
expect_error 400 invalid_request "oversized token"
expect_jq '.message | contains("longer than")' "oversized token refused before decoding"
req GET "/api/syncs?active=true&page_token=$(echo "$TOK" | tr 'A-Za-z' 'a-zA-Z')"
expect_error 400 invalid_request "case-flipped token"
req GET "/api/syncs?active=true&page_token=%2B%2F%2B%2F"
expect_error 400 invalid_request "non-URL-safe alphabet"
AUTH="Bearer $B_KEY" req GET "/api/syncs?active=true&limit=5&page_token=$TOK"
expect_error 400 invalid_request "another organization's token"
AUTH="Bearer $B_KEY" req GET /api/syncs
expect_jq '.data == [] and .pagination == {}' "org B sees no syncs"

ms_finish
