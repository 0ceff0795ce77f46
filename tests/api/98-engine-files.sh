#!/usr/bin/env bash
# 98-engine-files: the sync engine end to end over HTTP with files (issue 4). CSV → PostgreSQL:
# an updateOrCreate sync loads a CSV file (quoted commas and quotes, non-ASCII text, an empty
# field read as NULL and a quoted "" read as an empty string) into a PostgreSQL table equal to
# the file row by row; after the file is edited (two rows changed, two added, two removed) run
# 2 upserts exactly those four and keeps the removed rows; run 3 writes nothing (xmin/ctid of
# every row unchanged). SQLite → JSONL: an append sync into a file made by target.create writes
# every row as one JSON object per line in mapping order; run 2 appends exactly the changed and
# new records; run 3 leaves the file byte for byte as it was. Record logs (B5) match the counts.
cd "$(dirname "$0")/../.." || exit 1
. tests/api/lib.sh
. tests/api/engine_lib.sh
eng_need_pg
DB="ms_eng98_$$_$RANDOM"
FILES="$T_DIR/files"
OUT="$T_DIR/out"
SRCDB="$T_DIR/src.db"
mkdir -p "$FILES" "$OUT"
cp "$ENG_FIX/people.csv" "$FILES/people.csv"
sqlite3 "$SRCDB" <"$ENG_FIX/customers-sqlite.sql"
eng_pg_db "$DB"
eng_pg -d "$DB" -c "CREATE TABLE people (id integer PRIMARY KEY, email text NOT NULL, name text,
    age integer, city text)" >/dev/null
PEOPLE_PG="SELECT id, email, name, age, city FROM people ORDER BY id"
XMIN_PG="SELECT id, xmin, ctid FROM people ORDER BY id"
# csv_dump FILE OUT: the CSV file's rows as '|'-separated lines ordered by id (sqlite3's CSV
# import: a NULL and an empty string both print as nothing, as psql prints them).
csv_dump() {
    sqlite3 -batch -noheader -separator '|' :memory: -cmd ".import --csv $1 p" \
        "SELECT id, email, name, age, city FROM p ORDER BY CAST(id AS INTEGER)" >"$2"
}
ms_start

# ===== CSV → PostgreSQL
eng_conn CSV "Drop folder" csv "{\"directory\":\"$FILES\"}"
eng_conn PG "Warehouse" postgresql "$(eng_pgconf "$DB")"
eng_model MP "People" "$CSV" '{"file":"people.csv"}' id
eng_sync SP "$(jq -nc --arg m "$MP" --arg dst "$PG" --argjson f "$(eng_fields "$MP" email:email name:name age:age city:city)" \
    '{name: "People to warehouse", mode: "updateOrCreate",
      target: {connection_id: $dst, object: "public.people"},
      identity: {source: {model_id: $m, field: "id"}, target: "id"},
      fields: $f, schedule: {frequency: "manual"}}')"

eng_run "$SP"
expect_counts "completed 60 0 0 60 0 0" "csv run 1 upserts the 60 rows"
expect_logs "$SP" "csv run 1"
csv_dump "$FILES/people.csv" "$T_DIR/csv1"
eng_pg_dump "$DB" "$PEOPLE_PG" "$T_DIR/pg1"
expect_same "$T_DIR/csv1" "$T_DIR/pg1" "csv run 1: the table equals the file row by row"
check '[ "$(eng_pgq "$DB" "SELECT name, name IS NULL, age IS NULL FROM people WHERE id = 5")" = "|f|t" ] && [ "$(eng_pgq "$DB" "SELECT city IS NULL FROM people WHERE id = 6")" = f ]' \
    "csv: a quoted \"\" is an empty string, an empty field is NULL"
check '[ "$(eng_pgq "$DB" "SELECT name FROM people WHERE id IN (2, 3, 4) ORDER BY id" | tr "\n" "/")" = "Turing, Alan/Grace \"Amazing\" Hopper/Kurt Gödel/" ]' \
    "csv: quoted commas and quotes, non-ASCII text"
eng_pg_dump "$DB" "$XMIN_PG" "$T_DIR/xmin1"

sed -i -e 's/^2,\(.*\),Wilmslow$/2,\1,Bletchley/' -e 's/^10,\(.*\),30,\(.*\)$/10,\1,31,\2/' \
    -e '/^2[01],/d' "$FILES/people.csv"
printf '61,new61@example.com,"Neu, Einundsechzig",33,Wien\n62,new62@example.com,,,\n' >>"$FILES/people.csv"
eng_run "$SP"
expect_counts "completed 4 0 0 4 0 0" "csv run 2 upserts exactly the 4 changed rows"
expect_logs "$SP" "csv run 2"
csv_dump "$FILES/people.csv" "$T_DIR/csv2"
{ cat "$T_DIR/csv2"; grep -E '^2[01]\|' "$T_DIR/pg1"; } | sort -t'|' -k1,1n >"$T_DIR/want2"
eng_pg_dump "$DB" "$PEOPLE_PG" "$T_DIR/pg2"
expect_same "$T_DIR/want2" "$T_DIR/pg2" "csv run 2: the table equals the edited file, removed rows 20 and 21 kept"
eng_pg_dump "$DB" "$XMIN_PG" "$T_DIR/xmin2"
D=$(eng_diff_ids "$T_DIR/xmin1" "$T_DIR/xmin2")
check '[ "$D" = "+10 +2 +61 +62" ]' "csv run 2 wrote only those rows (xmin/ctid changes: $D)"
eng_run "$SP"
expect_counts "completed 0 0 0 0 0 0" "csv run 3 writes nothing"
eng_pg_dump "$DB" "$XMIN_PG" "$T_DIR/xmin3"
expect_same "$T_DIR/xmin2" "$T_DIR/xmin3" "csv run 3: no row written (xmin/ctid)"

# ===== SQLite → JSONL (append)
eng_conn SQ "Shop" sqlite "{\"path\":\"$SRCDB\"}"
eng_conn JL "Exports" jsonl "{\"directory\":\"$OUT\"}"
eng_model MC "Customers" "$SQ" '{"table":"customers"}' id
eng_sync SJ "$(jq -nc --arg m "$MC" --arg dst "$JL" --argjson f "$(eng_fields "$MC" id:id email:email name:name score:score country:country)" \
    '{name: "Customers to JSONL", mode: "append", target: {connection_id: $dst, create: {file: "customers.jsonl"}},
      fields: $f, schedule: {frequency: "manual"}}')"
expect_jq '.data.target.object == "customers.jsonl"' "target.create made customers.jsonl"
JL_SQ="SELECT id, email, name, score, country FROM customers ORDER BY id"
# jl_dump FILE: the JSON lines as '|'-separated values (null as nothing), sorted by id.
jl_dump() {
    jq -r '[.id, .email, .name, .score, .country] | map(if . == null then "" else tostring end) | join("|")' "$1" |
        sort -t'|' -k1,1n
}
eng_run "$SJ"
expect_counts "completed 2500 2500 0 0 0 0" "jsonl run 1 appends every row"
expect_logs "$SJ" "jsonl run 1"
eng_sq_dump "$SRCDB" "$JL_SQ" "$T_DIR/jsrc1"
jl_dump "$OUT/customers.jsonl" >"$T_DIR/jdst1"
expect_same "$T_DIR/jsrc1" "$T_DIR/jdst1" "jsonl run 1: one line per row, equal to the source"
check 'head -n 1 "$OUT/customers.jsonl" | jq -e "keys_unsorted == [\"id\",\"email\",\"name\",\"score\",\"country\"] and (.id | type) == \"number\"" >/dev/null' \
    "jsonl: keys in mapping order, numbers as numbers"
check '[ "$(jq -c "select(.id == 4)" "$OUT/customers.jsonl")" = "{\"id\":4,\"email\":\"kurt@example.org\",\"name\":\"Kurt Gödel\",\"score\":null,\"country\":\"AT\"}" ]' \
    "jsonl: compact objects, NULL as null, UTF-8 text"
cp "$OUT/customers.jsonl" "$T_DIR/jl1"

sqlite3 "$SRCDB" "UPDATE customers SET email = 'grace.hopper@example.com' WHERE id = 3;
    UPDATE customers SET score = 0.5 WHERE id = 1999;
    INSERT INTO customers VALUES (2501, 'new1@example.com', 'New One', 30, 1.25, 1, 'FR', '2024-03-01T00:00:00Z');
    DELETE FROM customers WHERE id IN (10, 11);"
eng_run "$SJ"
expect_counts "completed 3 3 0 0 0 0" "jsonl run 2 appends the 2 changed and 1 new records"
expect_logs "$SJ" "jsonl run 2"
check '[ "$(wc -l <"$OUT/customers.jsonl")" -eq 2503 ] && cmp -s "$T_DIR/jl1" <(head -n 2500 "$OUT/customers.jsonl")' \
    "jsonl run 2: the first 2500 lines are untouched, 3 lines added"
sqlite3 -batch -noheader -separator '|' "$SRCDB" "SELECT id, email, name, score, country FROM customers WHERE id IN (3, 1999, 2501) ORDER BY id" >"$T_DIR/jsrc2"
tail -n 3 "$OUT/customers.jsonl" >"$T_DIR/jtail2"
jl_dump "$T_DIR/jtail2" >"$T_DIR/jdst2"
expect_same "$T_DIR/jsrc2" "$T_DIR/jdst2" "jsonl run 2: the appended lines are the changed and new rows"
cp "$OUT/customers.jsonl" "$T_DIR/jl2"
eng_run "$SJ"
expect_counts "completed 0 0 0 0 0 0" "jsonl run 3 writes nothing"
check 'cmp -s "$T_DIR/jl2" "$OUT/customers.jsonl"' "jsonl run 3: the file is unchanged"
check '[ -z "$(ls -A "$OUT" | grep -v "^customers.jsonl$")" ]' "no temporary file left in the directory"

ms_finish
