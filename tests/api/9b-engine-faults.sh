#!/usr/bin/env bash
# 9b-engine-faults: the sync engine under faults, end to end over HTTP (issue 4).
# * Per-record errors: NOT NULL and CHECK constraints of a SQLite and a PostgreSQL target refuse
#   three rows; the run completes with them counted as errors and logged with the key and the
#   target's message; the next run retries exactly them; once the source is fixed the next run
#   writes exactly those three, and then nothing.
# * Cancel: A10 during a run to a slow webhook receiver, B3 during a run to a PostgreSQL table
#   whose writes are slowed by a trigger: the run ends canceled within a batch, what was sent is
#   counted and in the target, and the next run sends exactly the rest (no record twice).
# * Crash: kill -9 of the server during a run; after a restart the execution still holds its
#   lease (running, a new start is 409). The lease is 30 s and has no test-only setting, so the
#   test stops the server, moves the execution's lease_until into the past in the store (as if
#   30 s had passed) and starts it again: the reaper, which runs as soon as a worker is idle,
#   marks it interrupted. The next run resumes from the committed snapshot: it sends at most the
#   rows not acknowledged before the crash, and the target (no unique index) ends with every
#   source row exactly once; at most one batch was written twice.
# * A source that disappears fails the run with a message in errors and the console log.
cd "$(dirname "$0")/../.." || exit 1
. tests/api/lib.sh
. tests/api/engine_lib.sh
eng_need_pg
DB="ms_eng9b_$$_$RANDOM"
SRCDB="$T_DIR/src.db"
DSTDB="$T_DIR/dst.db"
NBIG=20000
BIG_SQ="SELECT id, email, n FROM big ORDER BY id"

sqlite3 "$SRCDB" <"$ENG_FIX/people.sql"
sqlite3 "$SRCDB" <"$ENG_FIX/big.sql"
sqlite3 "$SRCDB" "CREATE TABLE doomed (id INTEGER PRIMARY KEY, email TEXT); INSERT INTO doomed VALUES (1, 'x@example.com');"
sqlite3 "$DSTDB" "CREATE TABLE people (id INTEGER PRIMARY KEY, email TEXT NOT NULL, age INTEGER CHECK (age >= 0));
    CREATE TABLE doomed (id INTEGER PRIMARY KEY, email TEXT);"
eng_pg_db "$DB"
eng_pg -d "$DB" >/dev/null <<'EOF'
CREATE TABLE people (id integer PRIMARY KEY, email text NOT NULL, age integer CHECK (age >= 0));
CREATE FUNCTION nap() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN PERFORM pg_sleep(0.2); RETURN NULL; END $$;
CREATE FUNCTION log_write() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN INSERT INTO crash_writes VALUES (NEW.id); RETURN NULL; END $$;
CREATE TABLE slow (id integer PRIMARY KEY, email text, n integer);
CREATE TRIGGER slow_nap AFTER INSERT OR UPDATE ON slow FOR EACH STATEMENT EXECUTE FUNCTION nap();
CREATE TABLE crash (id integer, email text, n integer);
CREATE TABLE crash_writes (id integer);
CREATE TRIGGER crash_nap AFTER INSERT OR UPDATE ON crash FOR EACH STATEMENT EXECUTE FUNCTION nap();
CREATE TRIGGER crash_log AFTER INSERT OR UPDATE ON crash FOR EACH ROW EXECUTE FUNCTION log_write();
EOF
eng_receiver
ms_start

eng_conn SRC "Source" sqlite "{\"path\":\"$SRCDB\"}"
eng_conn SQ "SQLite target" sqlite "{\"path\":\"$DSTDB\"}"
eng_conn PG "PostgreSQL target" postgresql "$(eng_pgconf "$DB")"
eng_conn HOOK "Slow receiver" webhook "{\"url\":\"$RURL/hook\"}"
eng_model MP "People" "$SRC" '{"table":"people"}' id
eng_model MB "Big" "$SRC" '{"table":"big"}' id
eng_model MD "Doomed" "$SRC" '{"table":"doomed"}' id
# sync NAME MODE MODEL CONNECTION OBJECT FIELD...: a sync with identity id → id.
mk_sync() {
    jq -nc --arg n "$1" --arg mode "$2" --arg m "$3" --arg c "$4" --arg o "$5" --argjson f "$(eng_fields "$3" "${@:6}")" \
        '{name: $n, mode: $mode, target: {connection_id: $c, object: $o}, fields: $f,
          identity: {source: {model_id: $m, field: "id"}, target: "id"}, schedule: {frequency: "manual"}}'
}
eng_sync SE_SQ "$(mk_sync "People to SQLite" replace "$MP" "$SQ" people email:email age:age)"
eng_sync SE_PG "$(mk_sync "People to PostgreSQL" updateOrCreate "$MP" "$PG" public.people email:email age:age)"
eng_sync SW "$(mk_sync "Big to slow hook" updateOrCreate "$MB" "$HOOK" records email:email n:n)"
eng_sync SB "$(mk_sync "Big to slow table" updateOrCreate "$MB" "$PG" public.slow email:email n:n)"
eng_sync SK "$(mk_sync "Big to crash table" updateOrCreate "$MB" "$PG" public.crash email:email n:n)"
eng_sync SD "$(mk_sync "Doomed" updateOrCreate "$MD" "$SQ" doomed email:email)"

# ===== per-record errors
PEOPLE_SQ="SELECT id, email, age FROM people ORDER BY id"
eng_run_many "$SE_SQ" "$SE_PG"
eng_use "$SE_SQ"
expect_counts "completed 10 7 0 0 0 3" "sqlite: 3 rows refused, 7 inserted, the run completes"
expect_logs "$SE_SQ" "sqlite errors run 1"
check '[ "$(jq -r "[.key, .error] | join(\" \")" "$T_DIR/log.errors" | sort -n | cut -c1-60 | tr "\n" "/")" = "3 NOT NULL constraint failed: people.email/5 CHECK constraint failed: age >= 0/8 NOT NULL constraint failed: people.email/" ]' \
    "sqlite: the errors log has each refused key with SQLite's message"
check '[ "$(sqlite3 "$DSTDB" "SELECT group_concat(id, \" \") FROM people")" = "1 2 4 6 7 9 10" ]' "sqlite: the other rows are written"
eng_use "$SE_PG"
expect_counts "completed 10 0 0 7 0 3" "postgresql: 3 rows refused, 7 upserted, the run completes"
expect_logs "$SE_PG" "postgresql errors run 1"
check 'jq -e -s "(map(.key) | sort) == [3, 5, 8] and (map(select(.key == 3 or .key == 8) | .error) | all(test(\"null value in column \\\"email\\\"\"))) and (map(select(.key == 5) | .error) | all(test(\"violates check constraint\")))" "$T_DIR/log.errors" >/dev/null' \
    "postgresql: the errors log has each refused key with PostgreSQL's message"
check '[ "$(eng_pgq "$DB" "SELECT string_agg(id::text, '"' '"' ORDER BY id) FROM people")" = "1 2 4 6 7 9 10" ]' "postgresql: the other rows are written"

eng_run_many "$SE_SQ" "$SE_PG"
eng_use "$SE_SQ"
expect_counts "completed 3 0 0 0 0 3" "sqlite run 2 retries exactly the refused rows"
eng_use "$SE_PG"
expect_counts "completed 3 0 0 0 0 3" "postgresql run 2 retries exactly the refused rows"
expect_logs "$SE_PG" "postgresql errors run 2"

sqlite3 "$SRCDB" "UPDATE people SET email = 'p' || id || '@example.com' WHERE email IS NULL; UPDATE people SET age = 25 WHERE id = 5;"
eng_run_many "$SE_SQ" "$SE_PG"
eng_use "$SE_SQ"
expect_counts "completed 3 3 0 0 0 0" "sqlite: after the fix the next run writes exactly those 3"
expect_logs "$SE_SQ" "sqlite errors run 3"
check '[ "$(jq -r .key "$T_DIR/log.records" | sort -n | tr "\n" " ")" = "3 5 8 " ]' "sqlite run 3 sent keys 3, 5, 8"
eng_sq_dump "$SRCDB" "$PEOPLE_SQ" "$T_DIR/people_src"
eng_sq_dump "$DSTDB" "$PEOPLE_SQ" "$T_DIR/people_sq"
expect_same "$T_DIR/people_src" "$T_DIR/people_sq" "sqlite: the target now equals the source"
eng_use "$SE_PG"
expect_counts "completed 3 0 0 3 0 0" "postgresql: after the fix the next run writes exactly those 3"
eng_pg_dump "$DB" "SELECT id, email, age FROM people ORDER BY id" "$T_DIR/people_pg"
expect_same "$T_DIR/people_src" "$T_DIR/people_pg" "postgresql: the target now equals the source"
eng_run_many "$SE_SQ" "$SE_PG"
eng_use "$SE_SQ"
expect_counts "completed 0 0 0 0 0 0" "sqlite run 4 writes nothing"
eng_use "$SE_PG"
expect_counts "completed 0 0 0 0 0 0" "postgresql run 4 writes nothing"

# ===== A10 cancel during a run to a slow webhook receiver
echo '{"delay": 0.5}' >"$RCTL"
R=$(($(eng_recv_n) + 1))
eng_start "$SW"
EW=$E
i=0
while [ "$(eng_recv_n)" -lt "$R" ] && [ $i -lt 200 ]; do i=$((i + 1)); sleep 0.05; done
check '[ "$(eng_recv_n)" -ge "$R" ]' "A10: the first batch reached the slow receiver"
req POST "/api/syncs/$SW/cancel"
expect_status 200 "A10 cancel"
expect_jq ".data.message == \"cancellation requested for execution $EW\"" "A10 names the running execution"
K=$(($(eng_recv_n) - R + 1))
req GET "/api/syncs/$SW/executions/$EW"
expect_jq '.data.status == "canceling"' "A10: canceling while the batch is at the receiver"
if eng_wait "$SW" "$EW" 30; then ok; else fail "the canceled run did not end"; fi
echo '{}' >"$RCTL"
C1=$(jq .counts.total "$EXEC_JSON")
GOT1=$(eng_recv_records "$R" | wc -l)
N1=$(($(eng_recv_n) - R + 1))
expect_exec '.status == "canceled" and .counts.total < 20000 and .counts.error == 0' "A10: the run ends canceled before the end"
check '[ "$C1" = "$GOT1" ] && [ "$C1" = "$(jq .counts.upserts "$EXEC_JSON")" ]' "A10: what the receiver got ($GOT1) is what was counted ($C1)"
check '[ "$N1" -le $((K + 1)) ]' "A10: it stopped within a batch ($K requests when canceled, $N1 in all)"
req GET "/api/syncs/$SW/executions/$EW/consolelog"
expect_jq '[.data.entries[].message | ascii_downcase | select(test("cancel"))] | length >= 1' "A10: the console log says the run was canceled"
R2=$(($(eng_recv_n) + 1))
eng_run "$SW"
expect_counts "completed $((NBIG - C1)) 0 0 $((NBIG - C1)) 0 0" "after A10 the next run sends exactly the rest"
check '[ "$(eng_recv_records "$R" | jq -r .key | sort -u | wc -l)" = $NBIG ] && [ "$(eng_recv_records "$R" | wc -l)" = $NBIG ]' \
    "A10: over both runs the receiver got each of the $NBIG records exactly once"

# ===== B3 cancel during a run to a slow PostgreSQL table
eng_start "$SB"
EB=$E
if eng_wait_current "$SB" ".id == \"$EB\" and .counts.total >= 1000" 30; then ok; else fail "B3: the slow run did not get going"; fi
req POST "/api/syncs/$SB/executions/$EB/cancel"
expect_status 200 "B3 cancel"
expect_jq ".data.message == \"cancellation requested for execution $EB\"" "B3 names the execution"
if eng_wait "$SB" "$EB" 30; then ok; else fail "the B3-canceled run did not end"; fi
C1=$(jq .counts.upserts "$EXEC_JSON")
expect_exec '.status == "canceled" and .counts.total < 20000 and .counts.total == .counts.upserts' "B3: the run ends canceled before the end"
check '[ "$(eng_pgq "$DB" "SELECT count(*) FROM slow")" = "$C1" ]' "B3: the target holds exactly the $C1 acknowledged rows"
eng_run "$SB"
expect_counts "completed $((NBIG - C1)) 0 0 $((NBIG - C1)) 0 0" "after B3 the next run sends exactly the rest"
eng_sq_dump "$SRCDB" "$BIG_SQ" "$T_DIR/big_src"
eng_pg_dump "$DB" "SELECT id, email, n FROM slow ORDER BY id" "$T_DIR/slow_dst"
expect_same "$T_DIR/big_src" "$T_DIR/slow_dst" "B3: the target equals the source after the next run"

# ===== kill -9 during a run, restart, lease, resume
eng_start "$SK"
EK=$E
if eng_wait_current "$SK" ".id == \"$EK\" and .counts.total >= 3000" 30; then ok; else fail "crash: the run did not get going"; fi
CB=$(jq -r '.data.current_execution.counts.total' "$RESP")
{ kill -9 "$MS_PID"; wait "$MS_PID"; } 2>/dev/null
MS_PID=""
sleep 0.5
ROWS_AT_CRASH=$(eng_pgq "$DB" "SELECT count(*) FROM crash")
check '[ "$ROWS_AT_CRASH" -ge "$CB" ] && [ "$ROWS_AT_CRASH" -lt $NBIG ]' "crash: the target holds $ROWS_AT_CRASH rows, at least the $CB counted"
ms_serve
req GET "/api/syncs/$SK/status"
expect_jq ".data.current_execution.id == \"$EK\" and .data.current_execution.status == \"running\"" "after a restart the execution still holds its lease"
req POST "/api/syncs/$SK/executions" '{}'
expect_error 409 execution_in_progress "a start while the dead node's lease holds"
ms_stop
NOW_MS=$(($(date +%s) * 1000))
sqlite3 "$T_DIR/data/modelsync.db" "PRAGMA busy_timeout = 5000; UPDATE executions SET lease_until = $((NOW_MS - 1000)) WHERE id = '$EK'" >/dev/null
check '[ "$(sqlite3 "$T_DIR/data/modelsync.db" "SELECT status FROM executions WHERE id = '"'$EK'"'")" = running ]' "the store still has the execution running"
ms_serve
if eng_wait "$SK" "$EK" 20; then ok; else fail "the reaper did not mark the crashed execution"; fi
expect_exec '.status == "interrupted" and (.errors | length >= 1) and (.completed_at | type == "string")' "crash: the execution is interrupted once its lease expired"
eng_run "$SK"
T2=$(jq .counts.total "$EXEC_JSON")
expect_exec '.status == "completed" and .counts.error == 0 and .counts.total == .counts.upserts' "crash: the next run completes"
check '[ "$T2" -le $((NBIG - CB)) ] && [ "$T2" -ge $((NBIG - ROWS_AT_CRASH)) ]' \
    "crash: the next run resumes (sent $T2; $CB acknowledged before the crash, $ROWS_AT_CRASH rows in the target)"
eng_fetch_log "$SK" "$(jq -r .id "$EXEC_JSON")" records
check '[ "$LOGN" = "$T2" ] && [ "$(jq -s "map(.key) | min" "$T_DIR/log.records")" -gt "$CB" ]' \
    "crash: none of the $CB records acknowledged before the crash was sent again"
check '[ "$(eng_pgq "$DB" "SELECT count(*), count(DISTINCT id) FROM crash")" = "$NBIG|$NBIG" ]' "crash: every source row is in the target exactly once"
eng_pg_dump "$DB" "SELECT id, email, n FROM crash ORDER BY id" "$T_DIR/crash_dst"
expect_same "$T_DIR/big_src" "$T_DIR/crash_dst" "crash: the target equals the source"
TWICE=$(eng_pgq "$DB" "SELECT count(*) FROM (SELECT id FROM crash_writes GROUP BY id HAVING count(*) > 1) w")
check '[ "$TWICE" -le 1000 ]' "crash: at most the batch in flight was written twice ($TWICE rows)"
eng_run "$SK"
expect_counts "completed 0 0 0 0 0 0" "crash: then nothing is left to send"

# ===== a source that is gone fails the run
eng_run "$SD"
expect_counts "completed 1 0 0 1 0 0" "the doomed sync runs once"
sqlite3 "$SRCDB" "DROP TABLE doomed"
eng_run "$SD"
expect_exec '.status == "failed" and (.errors | length >= 1) and (.errors[0] | tostring | test("doomed"))' "a missing source table fails the run, naming it"
req GET "/api/syncs/$SD/executions/$(jq -r .id "$EXEC_JSON")/consolelog"
expect_jq '[.data.entries[] | select(.level == "ERROR")] | length >= 1' "the failure is in the console log"

ms_finish
