#!/usr/bin/env bash
# 99-engine-webhook: the sync engine end to end over HTTP, SQLite → webhook (issue 4), against a
# local receiver that logs every batch. An updateOrCreate sync sends 2500 rows in batches of
# 1000 as upserts keyed by the identity, with the data equal to the source row by row; after
# updates, inserts and deletes run 2 sends exactly the changed and new records (deletes are not
# sent in this mode); run 3 sends no request at all. Records the receiver rejects are errors
# with its message in the errors log, the run still completes, the next run retries exactly
# them, and once the source is fixed they are written and then never sent again. 429 and 503
# answers with Retry-After are retried until accepted (console log says so). remove mode sends
# deletes with the key only; append without identity sends inserts with a null key. Record logs
# (B5) match the counts.
cd "$(dirname "$0")/../.." || exit 1
. tests/api/lib.sh
. tests/api/engine_lib.sh
SRCDB="$T_DIR/src.db"
sqlite3 "$SRCDB" <"$ENG_FIX/customers-sqlite.sql"
eng_receiver
ms_start

# recv_dump FROM: the accepted records of requests FROM… as "key|op|email|name|score|active",
# sorted by key.
recv_dump() {
    eng_recv_records "$1" | jq -r '[.key, .op, .data.email, .data.name, .data.score, .data.active, .data.id]
        | map(if . == null then "" else tostring end) | join("|")' | sort -t'|' -k1,1n
}
SRC_DUMP="SELECT id, 'upsert', email, name, score, active, id FROM customers"

eng_conn SRC "Shop" sqlite "{\"path\":\"$SRCDB\"}"
eng_conn HOOK "Receiver" webhook "{\"url\":\"$RURL/hook\"}"
eng_model M "Customers" "$SRC" '{"table":"customers"}' id
eng_sync S "$(jq -nc --arg m "$M" --arg dst "$HOOK" --argjson f "$(eng_fields "$M" email:email name:name score:score active:active)" \
    '{name: "Customers to hook", mode: "updateOrCreate", target: {connection_id: $dst, object: "records"},
      identity: {source: {model_id: $m, field: "id"}, target: "id"},
      fields: $f, schedule: {frequency: "manual"}}')"

# --- run 1 (the connection's creation tested it with an empty batch: request 1)
R=$(($(eng_recv_n) + 1))
eng_run "$S"
expect_counts "completed 2500 0 0 2500 0 0" "run 1 upserts every row"
expect_logs "$S" "run 1"
check '[ "$(jq -c "select(.n >= $R) | [.records | length]" "$RLOG" | tr -d "\n")" = "[1000][1000][500]" ]' \
    "run 1: three batches of at most 1000 records"
eng_sq_dump "$SRCDB" "$SRC_DUMP ORDER BY id" "$T_DIR/src1"
recv_dump "$R" >"$T_DIR/got1"
expect_same "$T_DIR/src1" "$T_DIR/got1" "run 1: the receiver got every row, key = identity, data equal to the source"
check '[ "$(eng_recv_records "$R" | jq -c "select(.key == 4) | .data")" = "{\"email\":\"kurt@example.org\",\"name\":\"Kurt Gödel\",\"score\":null,\"active\":1,\"id\":4}" ]' \
    "run 1: NULL as null, UTF-8 text, the identity target in data"
check '[ "$(eng_recv_records "$R" | jq -r "select(.key == 1) | .data.score | tostring")" = 91.5 ]' "run 1: reals as JSON numbers"

# --- run 2
sqlite3 "$SRCDB" "UPDATE customers SET email = 'grace.hopper@example.com' WHERE id = 3;
    UPDATE customers SET name = 'Utilisateur Cent' WHERE id = 100;
    UPDATE customers SET score = 12.75, active = 0 WHERE id = 2000;
    INSERT INTO customers VALUES (2501, 'new1@example.com', 'New One', 30, 1.25, 1, 'FR', '2024-03-01T00:00:00Z'),
                                 (2502, 'new2@example.com', NULL, NULL, NULL, 0, NULL, '2024-03-02T00:00:00Z');
    DELETE FROM customers WHERE id IN (10, 11);"
R=$(($(eng_recv_n) + 1))
eng_run "$S"
expect_counts "completed 5 0 0 5 0 0" "run 2 upserts exactly the 5 changed and new rows"
expect_logs "$S" "run 2"
eng_sq_dump "$SRCDB" "$SRC_DUMP WHERE id IN (3, 100, 2000, 2501, 2502) ORDER BY id" "$T_DIR/src2"
recv_dump "$R" >"$T_DIR/got2"
expect_same "$T_DIR/src2" "$T_DIR/got2" "run 2: the receiver got exactly those records (no deletes in updateOrCreate)"
check '[ "$(eng_recv_n)" = "$R" ]' "run 2: one request"

# --- run 3
N=$(eng_recv_n)
eng_run "$S"
expect_counts "completed 0 0 0 0 0 0" "run 3 sends nothing"
check '[ "$(eng_recv_n)" = "$N" ]' "run 3: no request reached the receiver"

# --- per-record rejections, retried next run
echo '{"reject_contains": "refuse"}' >"$RCTL"
sqlite3 "$SRCDB" "UPDATE customers SET email = 'refuse' || id || '@example.com' WHERE id IN (50, 51, 52);
    UPDATE customers SET name = 'Accepted' WHERE id = 53;"
eng_run "$S"
expect_counts "completed 4 0 0 1 0 3" "rejections: 3 errors, 1 accepted, the run completes"
expect_logs "$S" "rejections"
check '[ "$(jq -r .key "$T_DIR/log.errors" | sort -n | tr "\n" " ")" = "50 51 52 " ] && jq -e -s "all(.[]; .error == \"email refused by the receiver\")" "$T_DIR/log.errors" >/dev/null' \
    "rejections: the errors log names the keys with the receiver's message"
eng_run "$S"
expect_counts "completed 3 0 0 0 0 3" "rejected records are retried by the next run (and rejected again)"
sqlite3 "$SRCDB" "UPDATE customers SET email = 'fixed' || id || '@example.com' WHERE id IN (50, 51, 52)"
R=$(($(eng_recv_n) + 1))
eng_run "$S"
expect_counts "completed 3 0 0 3 0 0" "after the fix the next run writes exactly those 3"
check '[ "$(recv_dump "$R" | cut -d"|" -f1,3 | tr "\n" " ")" = "50|fixed50@example.com 51|fixed51@example.com 52|fixed52@example.com " ]' \
    "the fixed records reached the receiver"
eng_run "$S"
expect_counts "completed 0 0 0 0 0 0" "then nothing is left to send"
echo '{}' >"$RCTL"

# --- 429 / 503 with Retry-After
echo '{"statuses": [429, 503], "retry_after": 1}' >"$RCTL"
sqlite3 "$SRCDB" "UPDATE customers SET score = 0.75 WHERE id = 7"
R=$(($(eng_recv_n) + 1))
eng_run "$S"
expect_counts "completed 1 0 0 1 0 0" "429 then 503: retried until accepted"
check '[ "$(jq -r "select(.n >= $R) | .status" "$RLOG" | tr "\n" " ")" = "429 503 200 " ]' "the receiver saw 429, 503, then accepted"
req GET "/api/syncs/$S/executions/$(jq -r .id "$EXEC_JSON")/consolelog"
expect_jq '[.data.entries[].message | ascii_downcase | select(test("retry|retrying|busy"))] | length >= 2' "console log records the retries"
echo '{}' >"$RCTL"

# --- remove and append
eng_model MQ "Inactive" "$SRC" '{"query":"SELECT id, email FROM customers WHERE id <= 30 AND NOT active"}' id
eng_sync SR "$(jq -nc --arg m "$MQ" --arg dst "$HOOK" \
    '{name: "Forget inactive", mode: "remove", target: {connection_id: $dst, object: "records"},
      identity: {source: {model_id: $m, field: "id"}, target: "id"},
      fields: [{source: {model_id: $m, field: "email"}, target: "email"}], schedule: {frequency: "manual"}}')"
R=$(($(eng_recv_n) + 1))
eng_run "$SR"
NQ=$(sqlite3 "$SRCDB" "SELECT count(*) FROM customers WHERE id <= 30 AND NOT active")
expect_counts "completed $NQ 0 0 0 $NQ 0" "remove: one delete per record"
check '[ "$(eng_recv_records "$R" | jq -r "select(.op == \"delete\") | .key" | sort -n | tr "\n" " ")" = "$(sqlite3 "$SRCDB" "SELECT id FROM customers WHERE id <= 30 AND NOT active ORDER BY id" | tr "\n" " ")" ]' \
    "remove: deletes carry the keys of the model's records"
check '[ "$(eng_recv_records "$R" | jq -c "select(has(\"data\") and .data != null)" | wc -l)" -eq 0 ]' "remove: deletes carry no data"
eng_run "$SR"
expect_counts "completed 0 0 0 0 0 0" "remove run 2: already removed records are not sent again"
eng_model MA "Few" "$SRC" '{"query":"SELECT email, name FROM customers WHERE id <= 3"}'
eng_sync SA "$(jq -nc --arg m "$MA" --arg dst "$HOOK" \
    '{name: "Append few", mode: "append", target: {connection_id: $dst, object: "records"},
      fields: [{source: {model_id: $m, field: "email"}, target: "email"}, {source: {model_id: $m, field: "name"}, target: "name"}],
      schedule: {frequency: "manual"}}')"
R=$(($(eng_recv_n) + 1))
eng_run "$SA"
expect_counts "completed 3 3 0 0 0 0" "append: one insert per record"
check '[ "$(eng_recv_records "$R" | jq -r "[.op, (.key | tostring), .data.email] | join(\" \")" | sort | tr "\n" "/")" = "insert null ada@example.com/insert null alan@example.com/insert null grace.hopper@example.com/" ]' \
    "append without identity: inserts with a null key"

ms_finish
