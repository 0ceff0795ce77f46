#!/usr/bin/env bash
# 96-engine-sqlite-pg: the sync engine end to end over HTTP, SQLite → PostgreSQL (issue 4). A
# replace sync with an identity copies 2500 rows (three batches) into a PostgreSQL table: the
# first run inserts them all and the table equals the source row by row; after updates,
# inserts and deletes in the source the second run writes exactly those (counts, contents, and
# only those rows got a new xmin); a third run with no change writes nothing and leaves every
# row's xmin/ctid as it was. Record logs fetched through their B5 URLs have as many lines as
# the counts say, and the console log has entries. A second sync on the pair, updateOrCreate
# with filters, filter_logic, an override, a constant field and override_fields, writes exactly
# the rows the filters keep, with the overridden and constant values. `modelsync run --json`
# then runs that sync in the foreground on the server's store (exit status, counts, stats).
cd "$(dirname "$0")/../.." || exit 1
. tests/api/lib.sh
. tests/api/engine_lib.sh
eng_need_pg
DB="ms_eng96_$$_$RANDOM"
SRCDB="$T_DIR/src.db"
CUST_SQ="SELECT id, email, name, age, score, active, country, updated_at FROM customers ORDER BY id"
CUST_PG="SELECT id, email, full_name, age, score, active::int, country, updated_at FROM public.customers ORDER BY id"
XMIN_PG="SELECT id, xmin, ctid FROM public.customers ORDER BY id"

eng_pg_db "$DB"
eng_pg -d "$DB" >/dev/null <<'EOF'
CREATE TABLE public.customers (id bigint PRIMARY KEY, email text NOT NULL, full_name text,
    age integer, score double precision, active boolean, country text, updated_at text);
CREATE TABLE public.vip (id bigint PRIMARY KEY, email text, full_name text, country text,
    tier text, origin text);
EOF
sqlite3 "$SRCDB" <"$ENG_FIX/customers-sqlite.sql"
ms_start

eng_conn SRC "Shop" sqlite "{\"path\":\"$SRCDB\"}"
eng_conn DST "Warehouse" postgresql "$(eng_pgconf "$DB")"
eng_model M "Customers" "$SRC" '{"table":"customers"}' id
FIELDS=$(eng_fields "$M" email:email name:full_name age:age score:score active:active \
    country:country updated_at:updated_at)
eng_sync S "$(jq -nc --arg m "$M" --arg dst "$DST" --argjson f "$FIELDS" \
    '{name: "Customers to warehouse", mode: "replace",
      target: {connection_id: $dst, object: "public.customers"},
      identity: {source: {model_id: $m, field: "id"}, target: "id"},
      fields: $f, schedule: {frequency: "manual"}}')"

# --- run 1: everything is new
eng_run "$S"
expect_counts "completed 2500 2500 0 0 0 0" "run 1 inserts every row"
expect_exec '.type == "manual" and .errors == []' "run 1 is a manual run without errors"
expect_logs "$S" "run 1"
eng_sq_dump "$SRCDB" "$CUST_SQ" "$T_DIR/src1"
eng_pg_dump "$DB" "$CUST_PG" "$T_DIR/dst1"
expect_same "$T_DIR/src1" "$T_DIR/dst1" "run 1: the target equals the source row by row"
cat >"$T_DIR/edge" <<'EOF'
3|grace@example.com|Grace O'Hopper, Rear Admiral|85|97.75|0|US|2024-01-17T11:15:00Z
4|kurt@example.org|Kurt Gödel|71||1|AT|2024-01-18T12:45:00Z
5|barbara@example.com|||79.75|1||2024-01-19T13:05:00Z
EOF
check '[ "$(grep -cFxf "$T_DIR/edge" "$T_DIR/dst1")" = 3 ]' "run 1: quotes, commas, non-ASCII text and NULLs arrive intact"
eng_pg_dump "$DB" "$XMIN_PG" "$T_DIR/xmin1"

# --- run 2: 3 updates, 2 inserts, 2 deletes in the source
sqlite3 "$SRCDB" "UPDATE customers SET email = 'grace.hopper@example.com' WHERE id = 3;
    UPDATE customers SET name = 'Utilisateur Cent', country = NULL WHERE id = 100;
    UPDATE customers SET score = 12.75, active = 0 WHERE id = 2000;
    INSERT INTO customers VALUES (2501, 'new1@example.com', 'New One', 30, 1.25, 1, 'FR', '2024-03-01T00:00:00Z'),
                                 (2502, 'new2@example.com', NULL, NULL, NULL, 0, NULL, '2024-03-02T00:00:00Z');
    DELETE FROM customers WHERE id IN (10, 11);"
eng_run "$S"
expect_counts "completed 7 2 3 0 2 0" "run 2 writes exactly the 7 changes"
expect_logs "$S" "run 2"
check '[ "$(jq -r .key "$T_DIR/log.deletes" | sort -n | tr "\n" " ")" = "10 11 " ]' "run 2: the deletes log names ids 10 and 11"
check '[ "$(jq -r .key "$T_DIR/log.records" | sort -n | tr "\n" " ")" = "3 10 11 100 2000 2501 2502 " ]' "run 2: the records log has exactly the changed keys"
eng_sq_dump "$SRCDB" "$CUST_SQ" "$T_DIR/src2"
eng_pg_dump "$DB" "$CUST_PG" "$T_DIR/dst2"
expect_same "$T_DIR/src2" "$T_DIR/dst2" "run 2: the target equals the changed source"
eng_pg_dump "$DB" "$XMIN_PG" "$T_DIR/xmin2"
D=$(eng_diff_ids "$T_DIR/xmin1" "$T_DIR/xmin2")
check '[ "$D" = "+100 +2000 +2501 +2502 +3 -10 -11" ]' "run 2 touched only the changed rows (xmin/ctid changes: $D)"

# --- run 3: nothing changed
eng_run "$S"
expect_counts "completed 0 0 0 0 0 0" "run 3 writes nothing"
expect_logs "$S" "run 3"
eng_pg_dump "$DB" "$XMIN_PG" "$T_DIR/xmin3"
expect_same "$T_DIR/xmin2" "$T_DIR/xmin3" "run 3: no row of the target was written (xmin/ctid)"
eng_pg_dump "$DB" "$CUST_PG" "$T_DIR/dst3"
expect_same "$T_DIR/src2" "$T_DIR/dst3" "run 3: the target still equals the source"

# --- filters, filter_logic, overrides, constants
eng_sync SV "$(jq -nc --arg m "$M" --arg dst "$DST" \
    '{name: "VIP customers", mode: "updateOrCreate",
      target: {connection_id: $dst, object: "public.vip"},
      identity: {source: {model_id: $m, field: "id"}, target: "id"},
      fields: [{source: {model_id: $m, field: "email"}, target: "email"},
               {source: {model_id: $m, field: "name"}, target: "full_name"},
               {source: {model_id: $m, field: "country"}, target: "country"},
               {override_value: "gold", target: "tier"}],
      override_fields: [{override_value: "modelsync", target: "origin"}],
      filters: [{field: {model_id: $m, field: "active"}, function: "True", label: "A"},
                {field: {model_id: $m, field: "age"}, function: "GreaterThanEqual", value: 70, label: "B"},
                {field_id: "country", function: "StringOneOf", value: ["UK", "FR"], label: "C"},
                {field: {model_id: $m, field: "email"}, function: "StringEndsWith", value: "@example.com", label: "D"}],
      filter_logic: "A and (B or C)",
      overrides: [{field_id: "country", function: "Equality", value: "UK", override: "GB"},
                  {field_id: "name", function: "IsNull", override: "(no name)"}],
      schedule: {frequency: "manual"}}')"
VIP_SQ="SELECT id, email, coalesce(name, '(no name)'), CASE country WHEN 'UK' THEN 'GB' ELSE country END,
        'gold', 'modelsync' FROM customers
        WHERE active AND (age >= 70 OR country IN ('UK', 'FR')) AND email LIKE '%@example.com' ORDER BY id"
VIP_PG="SELECT id, email, full_name, country, tier, origin FROM public.vip ORDER BY id"
eng_run "$SV"
eng_sq_dump "$SRCDB" "$VIP_SQ" "$T_DIR/vip_src"
N=$(wc -l <"$T_DIR/vip_src" | tr -d ' ')
expect_counts "completed $N 0 0 $N 0 0" "filtered run upserts the $N rows the filters keep"
eng_pg_dump "$DB" "$VIP_PG" "$T_DIR/vip_dst"
expect_same "$T_DIR/vip_src" "$T_DIR/vip_dst" "filtered run: the target holds exactly the kept rows, overridden"
check '[ "$(eng_pgq "$DB" "SELECT count(*) FROM public.vip WHERE id IN (3, 4, 6, 2502) OR country = '"'UK'"'")" = 0 ]' \
    "filtered-out rows (inactive, outside example.com) are absent and no UK is left"
check '[ "$(eng_pgq "$DB" "SELECT full_name, country, tier, origin FROM public.vip WHERE id = 5")" = "" ]' \
    "row 5 (no country, age NULL) is filtered out"
check '[ "$(eng_pgq "$DB" "SELECT country, tier, origin FROM public.vip WHERE id = 1")" = "GB|gold|modelsync" ]' \
    "row 1: country overridden UK → GB, constants written"
sqlite3 "$SRCDB" "UPDATE customers SET country = 'UK', name = NULL WHERE id = 2501;
    UPDATE customers SET active = 0 WHERE id = 8;"
eng_run "$SV"
expect_counts "completed 1 0 0 1 0 0" "filtered run 2: only the changed kept row (leaving the filter deletes nothing)"
check '[ "$(eng_pgq "$DB" "SELECT full_name, country FROM public.vip WHERE id = 2501")" = "(no name)|GB" ] && [ "$(eng_pgq "$DB" "SELECT count(*) FROM public.vip WHERE id = 8")" = 1 ]' \
    "filtered run 2: overrides applied to the change; the row that left the filter stays"


# --- modelsync run: the same sync in the foreground, on the store the server is using
sqlite3 "$SRCDB" "UPDATE customers SET name = 'From The CLI' WHERE id = 1;"
"$MS_BIN" run "$SV" --data "$T_DIR/data" --json >"$T_DIR/run.json" 2>"$T_DIR/run.err"
RC=$?
RUN_OK=$(jq -r '.status == "completed" and .counts.upserts == 1 and .counts.total == 1
    and .stats.rows_read > 0 and (.stats | has("read_us") and has("transform_us") and has("write_us")
    and has("snapshot_us") and has("total_us") and has("read_wait_us") and has("write_wait_us"))' "$T_DIR/run.json")
check '[ "$RC" = 0 ] && [ "$RUN_OK" = true ]' "run --json: exit 0, completed, one upsert, stats (rc $RC: $(cat "$T_DIR/run.json"))"
check '[ "$(eng_pgq "$DB" "SELECT full_name FROM public.vip WHERE id = 1")" = "From The CLI" ]' \
    "run --json wrote the changed row to the target"
"$MS_BIN" run "$SV" --data "$T_DIR/data" --json >"$T_DIR/run.json" 2>"$T_DIR/run.err"
check '[ "$(jq -r .counts.total "$T_DIR/run.json")" = 0 ]' "a second run --json writes nothing"
"$MS_BIN" run --data "$T_DIR/data" >/dev/null 2>&1
RC=$?
check '[ "$RC" = 2 ]' "run without a sync is a usage error (exit $RC)"
"$MS_BIN" run no-such-sync --data "$T_DIR/data" >/dev/null 2>"$T_DIR/run.err"
RC=$?
check '[ "$RC" = 1 ] && [ -s "$T_DIR/run.err" ]' "run of an unknown sync exits 1 with a message (exit $RC: $(cat "$T_DIR/run.err"))"

ms_finish
