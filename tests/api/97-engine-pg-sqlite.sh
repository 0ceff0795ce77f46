#!/usr/bin/env bash
# 97-engine-pg-sqlite: the sync engine end to end over HTTP, PostgreSQL → SQLite (issue 4). An
# updateOrCreate sync copies a PostgreSQL table of mixed types (integer, text, double,
# numeric, boolean, timestamptz, jsonb, NULLs; 1500 rows, two batches) into a SQLite table:
# run 1 upserts every row and the table equals the source row by row; after updates, inserts
# and deletes in the source, run 2 writes exactly those (counts, contents, and a trigger log in
# the target shows only those rows were written), deleted rows stay (the mode does not delete);
# run 3 with no change writes nothing and commits no transaction to the target file. Record
# logs (B5 URLs) match the counts; the console log has entries. A second sync reads a query
# model into a table made by target.create in create mode: new rows are inserted, changed ones
# are left alone, rows gone from the query stay. A replace sync keyed on a float8 column (values
# kept as PostgreSQL's text) updates and deletes target rows by their exact float keys.
cd "$(dirname "$0")/../.." || exit 1
. tests/api/lib.sh
. tests/api/engine_lib.sh
eng_need_pg
DB="ms_eng97_$$_$RANDOM"
DSTDB="$T_DIR/dst.db"
CUST_PG="SELECT id, email, full_name, age, score, balance, vip::int, signed_up_at, prefs FROM shop.customers ORDER BY id"
CUST_SQ="SELECT id, email, full_name, age, score, balance, vip, signed_up_at, prefs FROM customers ORDER BY id"
WRITES="SELECT group_concat(op || id, ' ') FROM (SELECT op, id FROM writes ORDER BY id, op)"

eng_pg_db "$DB"
eng_pg -d "$DB" -f "$ENG_FIX/customers-pg.sql" >/dev/null || { echo "97: seeding failed" >&2; exit 1; }
sqlite3 "$DSTDB" "CREATE TABLE customers (id INTEGER PRIMARY KEY, email TEXT NOT NULL,
        full_name TEXT, age INTEGER, score REAL, balance TEXT, vip INTEGER, signed_up_at TEXT, prefs TEXT);
    CREATE TABLE writes (op TEXT, id INTEGER);
    CREATE TRIGGER customers_i AFTER INSERT ON customers BEGIN INSERT INTO writes VALUES ('i', new.id); END;
    CREATE TRIGGER customers_u AFTER UPDATE ON customers BEGIN INSERT INTO writes VALUES ('u', new.id); END;
    CREATE TRIGGER customers_d AFTER DELETE ON customers BEGIN INSERT INTO writes VALUES ('d', old.id); END;"
ms_start

eng_conn SRC "App database" postgresql "$(eng_pgconf "$DB")"
eng_conn DST "Local copy" sqlite "{\"path\":\"$DSTDB\"}"
eng_model M "Customers" "$SRC" '{"table":"shop.customers"}' id
FIELDS=$(eng_fields "$M" email:email full_name:full_name age:age score:score balance:balance \
    vip:vip signed_up_at:signed_up_at prefs:prefs)
eng_sync S "$(jq -nc --arg m "$M" --arg dst "$DST" --argjson f "$FIELDS" \
    '{name: "Customers to SQLite", mode: "updateOrCreate",
      target: {connection_id: $dst, object: "customers"},
      identity: {source: {model_id: $m, field: "id"}, target: "id"},
      fields: $f, schedule: {frequency: "manual"}}')"

# --- run 1
eng_run "$S"
expect_counts "completed 1500 0 0 1500 0 0" "run 1 upserts every row"
expect_logs "$S" "run 1"
eng_pg_dump "$DB" "$CUST_PG" "$T_DIR/src1"
eng_sq_dump "$DSTDB" "$CUST_SQ" "$T_DIR/dst1"
expect_same "$T_DIR/src1" "$T_DIR/dst1" "run 1: the target equals the source row by row"
check '[ "$(sqlite3 "$DSTDB" "SELECT typeof(id), typeof(age), typeof(score), typeof(vip), typeof(prefs) FROM customers WHERE id = 1")" = "integer|integer|real|integer|text" ]' \
    "run 1: integers, reals and booleans keep their types"
check '[ "$(sqlite3 "$DSTDB" "SELECT full_name, prefs FROM customers WHERE id = 3")" = "Grace \"Amazing\" Hopper|{\"tags\": [\"navy\", \"cobol\"]}" ]' \
    "run 1: quotes and JSON text intact"
sqlite3 "$DSTDB" "DELETE FROM writes"

# --- run 2: updates, inserts, deletes
eng_pg -d "$DB" >/dev/null <<'EOF'
UPDATE shop.customers SET email = 'alan.turing@example.com' WHERE id = 2;
UPDATE shop.customers SET vip = false, prefs = '{"tags": ["navy"]}' WHERE id = 3;
UPDATE shop.customers SET balance = 99.99, full_name = 'Thousand' WHERE id = 1000;
INSERT INTO shop.customers VALUES
    (1501, 'new1@example.com', 'Nouvelle Cliente', 29, 10.5, 5.00, true, '2024-06-01 00:00:00+00', '{"new": true}'),
    (1502, 'new2@example.com', NULL, NULL, NULL, NULL, false, '2024-06-02 00:00:00+00', NULL);
DELETE FROM shop.customers WHERE id IN (5, 6);
EOF
eng_run "$S"
expect_counts "completed 5 0 0 5 0 0" "run 2 upserts exactly the 5 changed rows"
expect_logs "$S" "run 2"
check '[ "$(jq -r .key "$T_DIR/log.records" | sort -n | tr "\n" " ")" = "2 3 1000 1501 1502 " ]' "run 2: the records log names the changed keys"
eng_pg_dump "$DB" "$CUST_PG" "$T_DIR/src2"
{ cat "$T_DIR/src2"; grep -E '^(5|6)\|' "$T_DIR/dst1"; } | sort -t'|' -k1,1n >"$T_DIR/want2"
eng_sq_dump "$DSTDB" "$CUST_SQ" "$T_DIR/dst2"
expect_same "$T_DIR/want2" "$T_DIR/dst2" "run 2: the target equals the changed source, deleted rows 5 and 6 kept"
W=$(sqlite3 "$DSTDB" "$WRITES")
check '[ "$W" = "u2 u3 u1000 i1501 i1502" ]' "run 2 wrote only the changed rows (trigger log: $W)"
sqlite3 "$DSTDB" "DELETE FROM writes"

# --- run 3: no change
C0=$(eng_sq_counter "$DSTDB")
eng_run "$S"
expect_counts "completed 0 0 0 0 0 0" "run 3 writes nothing"
expect_logs "$S" "run 3"
check '[ "$(eng_sq_counter "$DSTDB")" = "$C0" ] && [ -z "$(sqlite3 "$DSTDB" "$WRITES")" ]' "run 3 committed nothing to the target file"
eng_sq_dump "$DSTDB" "$CUST_SQ" "$T_DIR/dst3"
expect_same "$T_DIR/want2" "$T_DIR/dst3" "run 3: the target is unchanged"

# --- a query model into a created table, create mode
eng_model MQ "VIP query" "$SRC" '{"query":"SELECT id, email, upper(full_name) AS shout FROM shop.customers WHERE vip"}' id
eng_sync SQ "$(jq -nc --arg m "$MQ" --arg dst "$DST" \
    '{name: "VIPs", mode: "create", target: {connection_id: $dst, create: {table: "vip_list"}},
      identity: {source: {model_id: $m, field: "id"}, target: "id"},
      fields: [{source: {model_id: $m, field: "email"}, target: "email"},
               {source: {model_id: $m, field: "shout"}, target: "shout"}],
      schedule: {frequency: "manual"}}')"
expect_jq '.data.target.object == "vip_list"' "target.create made vip_list"
VIP_PG="SELECT id, email, upper(full_name) FROM shop.customers WHERE vip ORDER BY id"
VIP_SQ="SELECT id, email, shout FROM vip_list ORDER BY id"
eng_run "$SQ"
eng_pg_dump "$DB" "$VIP_PG" "$T_DIR/vsrc1"
N=$(wc -l <"$T_DIR/vsrc1" | tr -d ' ')
expect_counts "completed $N $N 0 0 0 0" "query sync run 1 inserts the $N rows of the query"
eng_sq_dump "$DSTDB" "$VIP_SQ" "$T_DIR/vdst1"
expect_same "$T_DIR/vsrc1" "$T_DIR/vdst1" "query sync run 1: the created table equals the query"
eng_pg -d "$DB" -c "UPDATE shop.customers SET full_name = 'Renamed' WHERE id = 10;
    INSERT INTO shop.customers (id, email, full_name, vip, signed_up_at) VALUES (1503, 'vip3@example.com', 'Vip Three', true, now());
    UPDATE shop.customers SET vip = false WHERE id = 15" >/dev/null
eng_run "$SQ"
expect_counts "completed 1 1 0 0 0 0" "query sync run 2 (create mode) inserts only the new row"
{ cat "$T_DIR/vdst1"; echo "1503|vip3@example.com|VIP THREE"; } >"$T_DIR/vwant2"
eng_sq_dump "$DSTDB" "$VIP_SQ" "$T_DIR/vdst2"
expect_same "$T_DIR/vwant2" "$T_DIR/vdst2" "query sync run 2: changed row 10 not updated, row 15 kept, 1503 added"
eng_run "$SQ"
expect_counts "completed 0 0 0 0 0 0" "query sync run 3: a changed row stays skipped in create mode"


# --- a float8 identity (numbers kept as PostgreSQL's text), replace mode: update and delete by it
eng_pg -d "$DB" -c "CREATE TABLE shop.readings (k float8 PRIMARY KEY, v text);
    INSERT INTO shop.readings VALUES (0.1, 'a'), (-2.5, 'b'), (1e+100, 'c'), (3.14159, 'd'), (5e-324, 'e')" >/dev/null
sqlite3 "$DSTDB" "CREATE TABLE readings (k REAL PRIMARY KEY, v TEXT)"
eng_model MF "Readings" "$SRC" '{"table":"shop.readings"}' k
eng_sync SF "$(jq -nc --arg m "$MF" --arg dst "$DST" \
    '{name: "Readings", mode: "replace", target: {connection_id: $dst, object: "readings"},
      identity: {source: {model_id: $m, field: "k"}, target: "k"},
      fields: [{source: {model_id: $m, field: "v"}, target: "v"}], schedule: {frequency: "manual"}}')"
# Each key compared as a value (SQLite and strtod read these literals to the same doubles).
RD_SQ="SELECT count(*) || ':' || (SELECT group_concat(v, '') FROM (SELECT v FROM readings
    WHERE k IN (-2.5, 5e-324, 0.1, 3.14159, 1e100) ORDER BY k)) FROM readings"
eng_run "$SF"
expect_counts "completed 5 5 0 0 0 0" "float key run 1 inserts the 5 rows"
check '[ "$(sqlite3 "$DSTDB" "$RD_SQ")" = "5:beadc" ]' \
    "float key run 1: exact keys and values ($(sqlite3 "$DSTDB" "$RD_SQ"))"
eng_pg -d "$DB" -c "UPDATE shop.readings SET v = 'A' WHERE k = 0.1; DELETE FROM shop.readings WHERE k = 3.14159" >/dev/null
eng_run "$SF"
expect_counts "completed 2 0 1 0 1 0" "float key run 2 updates one row and deletes one, by their float keys"
check '[ "$(sqlite3 "$DSTDB" "$RD_SQ")" = "4:beAc" ]' \
    "float key run 2: the target holds the source ($(sqlite3 "$DSTDB" "$RD_SQ"))"
eng_run "$SF"
expect_counts "completed 0 0 0 0 0 0" "float key run 3 writes nothing"

ms_finish
