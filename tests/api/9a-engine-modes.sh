#!/usr/bin/env bash
# 9a-engine-modes: every sync mode end to end over HTTP (issue 4, ARCHITECTURE §5). One SQLite
# source of six items feeds, for a SQLite target and a PostgreSQL target each, a table per mode
# seeded with rows of its own: create (inserts new records, leaves an existing key alone, never
# updates), update (updates matching rows; no matching row is an error retried every run),
# updateOrCreate, replace with an identity (inserts, updates, deletes what left the model),
# replace without one (rewrites the table: the seeded rows go), append (adds every new or
# changed record as a row) and remove (deletes the model's records; already gone is done).
# Run 1, then the source changes (two updates, one insert, one delete) and run 2 writes what
# each mode calls for; run 3 writes nothing (SQLite: the file's change counter does not move;
# PostgreSQL: xmin/ctid of every row unchanged). File targets (CSV and JSONL, made by
# target.create): append adds new and changed records, replace rewrites the file atomically
# and leaves it alone when nothing changed, snapshot writes a new full timestamped copy every
# run and never touches the target file.
cd "$(dirname "$0")/../.." || exit 1
. tests/api/lib.sh
. tests/api/engine_lib.sh
eng_need_pg
DB="ms_eng9a_$$_$RANDOM"
SRCDB="$T_DIR/src.db"
MODES="create update updateOrCreate replace_id replace_full append remove"
DUMP="SELECT id, name, qty FROM %s ORDER BY id, name, qty"
V1='1|a|10 2|b|20 3|c|30 4|d|40 5|e|50 6|f|60'
V2='1|a|11 2|b|20 3|c|30 4|dd|40 5|e|50 9|i|90'

mode_of() { case $1 in replace_*) echo replace ;; *) echo "$1" ;; esac; }
lc() { echo "$1" | tr '[:upper:]' '[:lower:]'; }
has_identity() { [ "$1" != replace_full ] && [ "$1" != append ]; }
# seed MODE: the rows the mode's target table holds before run 1.
seed() {
    case $1 in
    create) echo "(4,'seed4',400),(7,'seed7',700)" ;;
    update) echo "(4,'seed4',400),(5,'seed5',500),(6,'seed6',600),(7,'seed7',700),(8,'seed8',800)" ;;
    updateOrCreate | append) echo "(7,'seed7',700)" ;;
    replace_full) echo "(7,'seed7',700),(8,'seed8',800)" ;;
    remove) echo "(2,'seed2',200),(4,'seed4',400),(7,'seed7',700),(8,'seed8',800)" ;;
    esac
}
# want MODE RUN: the target's rows after run RUN (1 or 2), space-separated.
want() {
    case $1:$2 in
    create:1) echo "1|a|10 2|b|20 3|c|30 4|seed4|400 5|e|50 6|f|60 7|seed7|700" ;;
    create:2) echo "1|a|10 2|b|20 3|c|30 4|seed4|400 5|e|50 6|f|60 7|seed7|700 9|i|90" ;;
    update:1) echo "4|d|40 5|e|50 6|f|60 7|seed7|700 8|seed8|800" ;;
    update:2) echo "4|dd|40 5|e|50 6|f|60 7|seed7|700 8|seed8|800" ;;
    updateOrCreate:1) echo "$V1 7|seed7|700" ;;
    updateOrCreate:2) echo "1|a|11 2|b|20 3|c|30 4|dd|40 5|e|50 6|f|60 7|seed7|700 9|i|90" ;;
    replace_*:1) echo "$V1" ;;
    replace_*:2) echo "$V2" ;;
    append:1) echo "$V1 7|seed7|700" ;;
    append:2) echo "1|a|10 1|a|11 2|b|20 3|c|30 4|d|40 4|dd|40 5|e|50 6|f|60 7|seed7|700 9|i|90" ;;
    remove:*) echo "7|seed7|700 8|seed8|800" ;;
    esac
}
# counts MODE RUN: "status total insert update upserts delete error" of run RUN (1-3).
counts() {
    case $1:$2 in
    create:1 | replace_*:1 | append:1) echo "completed 6 6 0 0 0 0" ;;
    create:2) echo "completed 1 1 0 0 0 0" ;;
    update:1) echo "completed 6 0 3 0 0 3" ;;
    update:2) echo "completed 5 0 1 0 0 4" ;; # 1, 2, 3 and the new 9 have no row; 4 changed
    update:3) echo "completed 4 0 0 0 0 4" ;; # the rejected ones are retried every run
    updateOrCreate:1) echo "completed 6 0 0 6 0 0" ;;
    updateOrCreate:2) echo "completed 3 0 0 3 0 0" ;;
    replace_id:2) echo "completed 4 1 2 0 1 0" ;;
    replace_full:2) echo "completed 6 6 0 0 0 0" ;;
    append:2) echo "completed 3 3 0 0 0 0" ;;
    remove:1) echo "completed 6 0 0 0 6 0" ;;
    remove:2) echo "completed 3 0 0 0 3 0" ;;
    *:3) echo "completed 0 0 0 0 0 0" ;;
    esac
}
rows() { tr '\n' ' ' <"$1" | sed 's/ $//'; }

sqlite3 "$SRCDB" <"$ENG_FIX/items.sql"
eng_pg_db "$DB"
for mo in $MODES; do
    pk="PRIMARY KEY"
    [ "$mo" = append ] && pk=""
    sqlite3 "$T_DIR/sq_$mo.db" "CREATE TABLE t (id INTEGER $pk, name TEXT, qty INTEGER);
        $(s=$(seed "$mo"); [ -n "$s" ] && echo "INSERT INTO t VALUES $s;")"
    eng_pg -d "$DB" -c "CREATE TABLE t_$(lc "$mo") (id integer $pk, name text, qty integer);
        $(s=$(seed "$mo"); [ -n "$s" ] && echo "INSERT INTO t_$(lc "$mo") VALUES $s;")" >/dev/null
done
mkdir -p "$T_DIR/csv" "$T_DIR/jsonl"
ms_start

eng_conn SRC "Source" sqlite "{\"path\":\"$SRCDB\"}"
eng_model M "Items" "$SRC" '{"table":"items"}' id
eng_conn PG "Warehouse" postgresql "$(eng_pgconf "$DB")"
eng_conn CSV "CSV files" csv "{\"directory\":\"$T_DIR/csv\"}"
eng_conn JL "JSONL files" jsonl "{\"directory\":\"$T_DIR/jsonl\"}"
# body NAME MODE TARGET_JSON WITH_IDENTITY(0/1)
body() {
    jq -nc --arg n "$1" --arg mode "$2" --argjson t "$3" --argjson idn "$4" --arg m "$M" \
        '{name: $n, mode: $mode, target: $t, schedule: {frequency: "manual"},
          fields: ((if $idn == 1 then [] else [{source: {model_id: $m, field: "id"}, target: "id"}] end)
                   + [{source: {model_id: $m, field: "name"}, target: "name"},
                      {source: {model_id: $m, field: "qty"}, target: "qty"}])}
         + (if $idn == 1 then {identity: {source: {model_id: $m, field: "id"}, target: "id"}} else {} end)'
}
declare -A SYNC
ALL=""
for mo in $MODES; do
    idn=0
    has_identity "$mo" && idn=1
    eng_conn C "SQLite $mo" sqlite "{\"path\":\"$T_DIR/sq_$mo.db\"}"
    eng_sync "SYNC[sq_$mo]" "$(body "sqlite $mo" "$(mode_of "$mo")" "{\"connection_id\":\"$C\",\"object\":\"t\"}" $idn)"
    eng_sync "SYNC[pg_$mo]" "$(body "pg $mo" "$(mode_of "$mo")" "{\"connection_id\":\"$PG\",\"object\":\"public.t_$(lc "$mo")\"}" $idn)"
    ALL="$ALL ${SYNC[sq_$mo]} ${SYNC[pg_$mo]}"
done
FMODES="append replace snapshot"
for f in $FMODES; do
    eng_sync "SYNC[csv_$f]" "$(body "csv $f" "$f" "{\"connection_id\":\"$CSV\",\"create\":{\"file\":\"items_$f.csv\"}}" 0)"
    eng_sync "SYNC[jsonl_$f]" "$(body "jsonl $f" "$f" "{\"connection_id\":\"$JL\",\"create\":{\"file\":\"items_$f.jsonl\"}}" 0)"
    ALL="$ALL ${SYNC[csv_$f]} ${SYNC[jsonl_$f]}"
done

# file_rows KIND FILE: a CSV (without its header) or JSONL file as "id|name|qty" lines, in file order.
file_rows() {
    if [ "$1" = csv ]; then tail -n +2 "$2" | tr ',' '|'; else jq -r '[.id, .name, .qty] | map(tostring) | join("|")' "$2"; fi
}
# snaps KIND MODE: the snapshot files of that target, sorted.
snaps() { ls "$T_DIR/$1" | grep -E "^items_$2-[0-9]{8}T[0-9]{6}Z(-[0-9]+)?\.$1\$" | sort; }
# check_files RUN
check_files() {
    local r=$1 k exp n
    for k in csv jsonl; do
        # append
        case $r in 1) exp=$V1 ;; *) exp="$V1 1|a|11 4|dd|40 9|i|90" ;; esac
        eng_use "${SYNC[${k}_append]}"
        case $r in 1) expect_counts "completed 6 6 0 0 0 0" "$k append run 1" ;; 2) expect_counts "completed 3 3 0 0 0 0" "$k append run 2: changed and new records" ;;
        3) expect_counts "completed 0 0 0 0 0 0" "$k append run 3" ;; esac
        file_rows $k "$T_DIR/$k/items_append.$k" >"$T_DIR/rows"
        check '[ "$(rows "$T_DIR/rows")" = "$exp" ]' "$k append run $r: the file holds $exp"
        [ $k = csv ] && check '[ "$(head -n 1 "$T_DIR/csv/items_append.csv")" = "id,name,qty" ]' "csv append run $r: the header"
        # replace
        case $r in 1) exp=$V1 ;; *) exp=$V2 ;; esac
        eng_use "${SYNC[${k}_replace]}"
        case $r in 3) expect_counts "completed 0 0 0 0 0 0" "$k replace run 3 writes nothing" ;; *) expect_counts "completed 6 6 0 0 0 0" "$k replace run $r rewrites the file" ;; esac
        file_rows $k "$T_DIR/$k/items_replace.$k" >"$T_DIR/rows"
        check '[ "$(rows "$T_DIR/rows")" = "$exp" ]' "$k replace run $r: the file holds $exp"
        # snapshot: a new full copy every run, the target file untouched
        eng_use "${SYNC[${k}_snapshot]}"
        expect_counts "completed 6 6 0 0 0 0" "$k snapshot run $r writes a full copy"
        snaps $k snapshot >"$T_DIR/snaps.$k.$r"
        n=$(comm -13 "$T_DIR/snaps.$k.$((r - 1))" "$T_DIR/snaps.$k.$r")
        case $r in 1) exp=$V1 ;; *) exp=$V2 ;; esac
        check '[ "$(wc -l <"$T_DIR/snaps.$k.$r")" = "$r" ] && [ -n "$n" ] && [ "$(file_rows $k "$T_DIR/$k/$n" | tr "\n" " " | sed "s/ \$//")" = "$exp" ]' \
            "$k snapshot run $r: one more file ($n) holding $exp"
        check '[ "$(cat "$T_DIR/$k/items_snapshot.$k")" = "$([ $k = csv ] && echo id,name,qty)" ]' "$k snapshot run $r: the target file itself is unchanged"
    done
    check '[ -z "$(find "$T_DIR/csv" "$T_DIR/jsonl" -name ".*")" ]' "files run $r: no temporary file left"
}
: >"$T_DIR/snaps.csv.0"
: >"$T_DIR/snaps.jsonl.0"

# check_tables RUN
check_tables() {
    local r=$1 mo
    for mo in $MODES; do
        eng_use "${SYNC[sq_$mo]}"
        expect_counts "$(counts "$mo" "$r")" "sqlite $mo run $r"
        eng_sq_dump "$T_DIR/sq_$mo.db" "$(printf "$DUMP" t)" "$T_DIR/rows"
        [ "$r" -lt 3 ] && check '[ "$(rows "$T_DIR/rows")" = "$(want "$mo" "$r")" ]' "sqlite $mo run $r: target rows $(rows "$T_DIR/rows"), expected $(want "$mo" "$r")"
        eng_use "${SYNC[pg_$mo]}"
        expect_counts "$(counts "$mo" "$r")" "postgresql $mo run $r"
        eng_pg_dump "$DB" "$(printf "$DUMP" "t_$(lc "$mo")")" "$T_DIR/rows"
        [ "$r" -lt 3 ] && check '[ "$(rows "$T_DIR/rows")" = "$(want "$mo" "$r")" ]' "postgresql $mo run $r: target rows $(rows "$T_DIR/rows"), expected $(want "$mo" "$r")"
    done
}

# --- run 1
eng_run_many $ALL
check_tables 1
check_files 1
eng_use "${SYNC[sq_update]}"
expect_logs "${SYNC[sq_update]}" "sqlite update run 1"
check 'jq -r .error "$T_DIR/log.errors" | grep -qx "no record with id = 1"' "update: a missing row is the error \"no record with id = 1\""
eng_use "${SYNC[pg_update]}"
expect_logs "${SYNC[pg_update]}" "postgresql update run 1"
check 'jq -r .error "$T_DIR/log.errors" | grep -qx "no record with id = 1"' "postgresql update: the same error"

# --- run 2 after the source changes
sqlite3 "$SRCDB" "UPDATE items SET qty = 11 WHERE id = 1; UPDATE items SET name = 'dd' WHERE id = 4;
    INSERT INTO items VALUES (9, 'i', 90); DELETE FROM items WHERE id = 6;"
sqlite3 "$T_DIR/sq_remove.db" "INSERT INTO t VALUES (9, 'seed9', 900)"
eng_pg -d "$DB" -c "INSERT INTO t_remove VALUES (9, 'seed9', 900)" >/dev/null
eng_run_many $ALL
check_tables 2
check_files 2
eng_use "${SYNC[pg_replace_id]}"
expect_logs "${SYNC[pg_replace_id]}" "postgresql replace run 2"
eng_use "${SYNC[sq_remove]}"
expect_logs "${SYNC[sq_remove]}" "sqlite remove run 2"

# --- run 3: nothing changed
for mo in $MODES; do
    eng_sq_counter "$T_DIR/sq_$mo.db" >"$T_DIR/counter.$mo"
    eng_pg_dump "$DB" "SELECT id, xmin, ctid FROM t_$(lc "$mo") ORDER BY id, ctid" "$T_DIR/xmin.$mo"
done
for k in csv jsonl; do for f in append replace; do
    stat -c '%i %.9Y %s' "$T_DIR/$k/items_$f.$k" >"$T_DIR/stat.$k.$f"
done; done
eng_run_many $ALL
check_tables 3
check_files 3
for mo in $MODES; do
    check '[ "$(eng_sq_counter "$T_DIR/sq_$mo.db")" = "$(cat "$T_DIR/counter.$mo")" ]' "sqlite $mo run 3: no transaction committed to the target"
    eng_pg_dump "$DB" "SELECT id, xmin, ctid FROM t_$(lc "$mo") ORDER BY id, ctid" "$T_DIR/xmin3"
    ALLOW_EMPTY=1 expect_same "$T_DIR/xmin.$mo" "$T_DIR/xmin3" "postgresql $mo run 3: no row written (xmin/ctid)"
done
for k in csv jsonl; do for f in append replace; do
    check '[ "$(stat -c "%i %.9Y %s" "$T_DIR/$k/items_$f.$k")" = "$(cat "$T_DIR/stat.$k.$f")" ]' "$k $f run 3: the file is untouched"
done; done

ms_finish
