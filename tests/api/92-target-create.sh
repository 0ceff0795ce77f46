#!/usr/bin/env bash
# 92-target-create: target.create gives the identity's target column a unique index, so the
# runs' keyed writes look records up through it instead of scanning the table. A SQLite table
# created for an updateOrCreate sync with an identity has exactly one index, unique, on the
# identity column alone; two runs (the second after a source row changed and one was added)
# leave one row per identity with the new values. An append sync (which writes a changed record
# as another row) and a sync without an identity create tables without an index. With the test
# PostgreSQL server (MS_TEST_PG_*), a table created there has a unique index on the identity
# column too (pg_indexes), and none for an append sync.
cd "$(dirname "$0")/../.." || exit 1
. tests/api/lib.sh

# body JQ: a sync of the users model into a table to be created, transformed by JQ.
body() {
    jq -nc --arg m "$M" --arg dst "$DST" --arg pg "${PG:-}" \
        '{name: "Users", mode: "updateOrCreate",
          target: {connection_id: $dst, create: {table: "people"}},
          identity: {source: {model_id: $m, field: "id"}, target: "id"},
          fields: [{source: {model_id: $m, field: "email"}, target: "email"},
                   {source: {model_id: $m, field: "name"}, target: "full_name"}],
          schedule: {frequency: "manual"}} | '"$1"
}

# sq_indexes TABLE: "name:unique:origin:columns" per index of a table in dst.db, sorted.
sq_indexes() {
    sqlite3 "$T_DIR/dst.db" "SELECT il.name || ':' || il.\"unique\" || ':' || il.origin || ':' ||
        (SELECT group_concat(name) FROM pragma_index_info(il.name))
        FROM pragma_index_list('$1') AS il ORDER BY il.name"
}

# run_sync SYNC: start an execution and wait (up to 30 s) until it is terminal; sets E_STATUS.
run_sync() {
    req POST "/api/syncs/$1/executions"
    E=$(jqr .data.id)
    E_STATUS=""
    for _ in $(seq 600); do
        req GET "/api/syncs/$1/executions/$E"
        E_STATUS=$(jqr .data.status)
        case "$E_STATUS" in completed | failed | canceled | interrupted) return 0 ;; esac
        sleep 0.05
    done
}

ms_start

sqlite3 "$T_DIR/src.db" "CREATE TABLE users (id INTEGER PRIMARY KEY, email TEXT, name TEXT);
    INSERT INTO users VALUES (1, 'a@example.com', 'Ann'), (2, 'b@example.com', 'Bob'),
    (3, 'c@example.com', 'Cy');"
sqlite3 "$T_DIR/dst.db" "CREATE TABLE existing (x TEXT);"

req POST /api/connections "{\"name\":\"Source\",\"type\":\"sqlite\",\"configuration\":{\"path\":\"$T_DIR/src.db\"}}"
SRC=$(jqr .data.id)
req POST /api/connections "{\"name\":\"Warehouse\",\"type\":\"sqlite\",\"configuration\":{\"path\":\"$T_DIR/dst.db\"}}"
DST=$(jqr .data.id)
req POST /api/models "{\"name\":\"Users\",\"connection_id\":\"$SRC\",\"configuration\":{\"table\":\"users\"},\"identifier\":\"id\"}"
M=$(jqr .data.id)
check '[ -n "$SRC" ] && [ -n "$DST" ] && [ -n "$M" ]' "setup: connections and model"

# --- SQLite: the identity column of a created table is unique
req POST /api/syncs "$(body .)"
expect_status 200 "A4 with target.create and an identity"
expect_jq '.data.target.object == "people"' "the new table comes back in target.object"
S=$(jqr .data.id)
IDX=$(sq_indexes people)
check '[ "$(echo "$IDX" | wc -l)" -eq 1 ] && echo "$IDX" | grep -Eq "^[^:]+:1:u:id$"' \
    "people has one index, unique, on id alone ($IDX)"

run_sync "$S"
check '[ "$E_STATUS" = completed ]' "first run completed ($E_STATUS)"
check '[ "$(sqlite3 "$T_DIR/dst.db" "SELECT count(*), count(DISTINCT id) FROM people")" = "3|3" ]' \
    "first run wrote the three users"
sqlite3 "$T_DIR/src.db" "UPDATE users SET name = 'Bobby' WHERE id = 2;
    INSERT INTO users VALUES (4, 'd@example.com', 'Di');"
run_sync "$S"
check '[ "$E_STATUS" = completed ]' "second run completed ($E_STATUS)"
ROWS=$(sqlite3 "$T_DIR/dst.db" "SELECT group_concat(id || '=' || full_name, ',') FROM (SELECT * FROM people ORDER BY id)")
check '[ "$ROWS" = "1=Ann,2=Bobby,3=Cy,4=Di" ]' "second run updated and inserted by identity, one row each ($ROWS)"

# --- SQLite: append and identity-less syncs create tables without an index
req POST /api/syncs "$(body '.name = "Log" | .mode = "append" | .target.create = {table: "people_log"}')"
expect_status 200 "A4 append with target.create"
check '[ -z "$(sq_indexes people_log)" ] && [ "$(sqlite3 "$T_DIR/dst.db" "SELECT count(*) FROM pragma_table_info('"'"'people_log'"'"')")" = 3 ]' \
    "append: people_log has its columns and no index"
req POST /api/syncs "$(body '.name = "No identity" | .mode = "create" | del(.identity) | .target.create = {table: "people_plain"}')"
expect_status 200 "A4 without an identity, with target.create"
check '[ -z "$(sq_indexes people_plain)" ] && [ "$(sqlite3 "$T_DIR/dst.db" "SELECT count(*) FROM pragma_table_info('"'"'people_plain'"'"')")" = 2 ]' \
    "no identity: people_plain has its columns and no index"

# --- PostgreSQL, when the test server is there
if [ -n "${MS_TEST_PG:-}" ]; then
    PGDB="ms_api_$$_$RANDOM"
    pg() {
        PGPASSWORD=$MS_TEST_PG_PASSWORD psql -X -q -A -t -h "$MS_TEST_PG_HOST" -p "$MS_TEST_PG_PORT" \
            -U "$MS_TEST_PG_USER" -v ON_ERROR_STOP=1 "$@"
    }
    pg -d "$MS_TEST_PG_DB" -c "CREATE DATABASE $PGDB" >/dev/null || { echo "92-target-create: cannot create $PGDB" >&2; exit 1; }
    trap '[ -n "$MS_PID" ] && kill -9 "$MS_PID" 2>/dev/null; pg -d "$MS_TEST_PG_DB" -c "DROP DATABASE IF EXISTS $PGDB WITH (FORCE)" >/dev/null 2>&1' EXIT
    req POST /api/connections "$(jq -nc --arg h "$MS_TEST_PG_HOST" --argjson p "$MS_TEST_PG_PORT" \
        --arg d "$PGDB" --arg u "$MS_TEST_PG_USER" --arg pw "$MS_TEST_PG_PASSWORD" \
        '{name: "PG", type: "postgresql", configuration: {hostname: $h, port: $p, database: $d, username: $u, password: $pw}}')"
    PG=$(jqr .data.id)
    req POST /api/syncs "$(body '.name = "To PG" | .target = {connection_id: $pg, create: {table: "people"}}')"
    expect_status 200 "A4 with target.create on PostgreSQL"
    expect_jq '.data.target.object == "public.people"' "the new PostgreSQL table comes back in target.object"
    PIDX=$(pg -d "$PGDB" -c "SELECT indexdef FROM pg_indexes WHERE schemaname = 'public' AND tablename = 'people'")
    check '[ "$(echo "$PIDX" | wc -l)" -eq 1 ] && echo "$PIDX" | grep -Eq "^CREATE UNIQUE INDEX .* USING btree \(id\)$"' \
        "PostgreSQL people has one index, unique, on id alone ($PIDX)"
    req POST /api/syncs "$(body '.name = "PG log" | .mode = "append" | .target = {connection_id: $pg, create: {table: "people_log"}}')"
    expect_status 200 "A4 append with target.create on PostgreSQL"
    check '[ "$(pg -d "$PGDB" -c "SELECT count(*) FROM pg_indexes WHERE tablename = '"'"'people_log'"'"'")" = 0 ]' \
        "PostgreSQL append: people_log has no index"
else
    echo "92-target-create: PostgreSQL part skipped (MS_TEST_PG is not set)"
fi

ms_finish
