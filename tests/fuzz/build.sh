#!/bin/sh
# build.sh: what `make fuzz` runs. Compiles src/ (all but main.c) with clang and libFuzzer's
# instrumentation plus ASan and UBSan into build/fuzz/obj/ (the Makefile's gcc build dirs are
# left alone), links each tests/fuzz/fuzz_<parser>.c into build/fuzz/fuzz_<parser>, then runs
# every target for FUZZ_SECONDS (default 30) over a scratch copy of corpus/<parser>/ so the
# committed seeds stay small. A crash, leak or sanitizer report leaves its reproducer in
# build/fuzz/crashes/<parser>/ and makes the script exit non-zero.
#
#   sh tests/fuzz/build.sh                 build, then fuzz every target
#   sh tests/fuzz/build.sh --build-only    build only (tests/fuzz/regress.sh uses this)
#   sh tests/fuzz/build.sh router sched    build, then fuzz the named targets only
#
# Objects are rebuilt only when their source or a header they include changed (clang -MMD).
set -u
cd "$(dirname "$0")/../.." || exit 1

FUZZ_SECONDS=${FUZZ_SECONDS:-30}
FUZZ_CC=${FUZZ_CC:-clang}
OUT=build/fuzz
OBJ=$OUT/obj
JOBS=${FUZZ_JOBS:-$(getconf _NPROCESSORS_ONLN 2>/dev/null || echo 2)}

BUILD_ONLY=0
TARGETS=""
for a in "$@"; do
    case "$a" in
    --build-only) BUILD_ONLY=1 ;;
    -*) echo "build.sh: unknown option $a" >&2; exit 2 ;;
    *) TARGETS="$TARGETS $a" ;;
    esac
done

if ! command -v "$FUZZ_CC" >/dev/null 2>&1; then
    echo "fuzz: $FUZZ_CC not found (install clang and libclang-rt-14-dev)" >&2
    exit 1
fi

PKGS="libmicrohttpd jansson sqlite3 libcurl libsodium libxxhash"
PGDEF=-DMS_WITH_PG=0
if pkg-config --exists libpq; then
    PKGS="$PKGS libpq"
    PGDEF=-DMS_WITH_PG=1
fi
PKGCF=$(pkg-config --cflags $PKGS) || exit 1
PKGLIBS="$(pkg-config --libs $PKGS) -lpthread -lm"
WARN="-Wall -Wextra -Wshadow -Wstrict-prototypes -Wmissing-prototypes -Wpointer-arith \
-Wcast-qual -Wformat=2 -Wundef"
SAN="-fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer"
CFLAGS="-std=c11 -D_POSIX_C_SOURCE=200809L -D_DEFAULT_SOURCE -g -O1 $SAN $PGDEF -DMS_TESTING \
-Isrc -I$OUT/gen $PKGCF"

mkdir -p "$OBJ" "$OUT/gen" || exit 1

# Concurrent invocations (two fuzzing sessions, regress.sh during one) build one at a time.
if command -v flock >/dev/null 2>&1; then
    exec 9>"$OUT/.build.lock"
    flock 9
fi

# ---- the project's sources, instrumented but without libFuzzer's main ----

# An object is stale when it is missing or older than any file its .d lists (the .c included).
stale() {
    [ -f "$1" ] && [ -f "$1.d" ] || return 0
    for dep in $(sed -e 's/\\$//' -e 's/^[^:]*://' "$1.d"); do
        case "$dep" in *:) continue ;; esac
        [ "$dep" -nt "$1" ] && return 0
    done
    return 1
}

# The embedded migrations, regenerated only when a migration changed (reproducible output).
GEN=$OUT/gen/migrations_gen.c
MIGS=$(ls src/store/migrations/*.sql | sort)
regen=0
[ -f "$GEN" ] || regen=1
for m in $MIGS scripts/embed-migrations.sh; do
    [ "$m" -nt "$GEN" ] && regen=1
done
if [ $regen -eq 1 ]; then
    sh scripts/embed-migrations.sh $MIGS >"$GEN.tmp" && mv "$GEN.tmp" "$GEN" || exit 1
fi

LIST=$OUT/compile.list
: >"$LIST"
OBJS=""
for src in $(find src -name '*.c' ! -path src/main.c | sort) "$GEN"; do
    case "$src" in
    src/*) o=$OBJ/$(echo "${src#src/}" | sed 's/\.c$/.o/') ;;
    *) o=$OBJ/gen/migrations_gen.o ;;
    esac
    OBJS="$OBJS $o"
    stale "$o" && echo "$src $o" >>"$LIST"
done

if [ -s "$LIST" ]; then
    echo "fuzz: compiling $(wc -l <"$LIST") source files with $FUZZ_CC"
    export FUZZ_CC CFLAGS WARN
    # One clang per line of the list, $JOBS at a time; any failure fails the whole step.
    if ! xargs -P "$JOBS" -L 1 sh -c 'mkdir -p "$(dirname "$1")" &&
            $FUZZ_CC $CFLAGS $WARN -fsanitize=fuzzer-no-link -MMD -MF "$1.d" -c -o "$1" "$0" ||
            { rm -f "$1"; exit 255; }' <"$LIST"; then
        echo "fuzz: compiling src/ failed" >&2
        exit 1
    fi
fi

# An archive: each target pulls in only the objects it reaches.
LIB=$OUT/libmodelsync.a
relink=0
[ -f "$LIB" ] || relink=1
for o in $OBJS; do
    [ "$o" -nt "$LIB" ] && relink=1
done
if [ $relink -eq 1 ]; then
    rm -f "$LIB"
    ar rcs "$LIB" $OBJS || exit 1
fi

# ---- the targets ----

ALL=$(ls tests/fuzz/fuzz_*.c | sed 's|tests/fuzz/fuzz_\(.*\)\.c|\1|')
[ -n "$TARGETS" ] || TARGETS=$ALL
status=0
for t in $TARGETS; do
    src=tests/fuzz/fuzz_$t.c
    bin=$OUT/fuzz_$t
    if [ ! -f "$src" ]; then
        echo "fuzz: no target $t ($src)" >&2
        exit 2
    fi
    if stale "$bin" || [ "$LIB" -nt "$bin" ]; then
        echo "fuzz: linking fuzz_$t"
        $FUZZ_CC $CFLAGS $WARN -Werror -fsanitize=fuzzer -MMD -MF "$bin.d" -o "$bin" "$src" \
            "$LIB" $PKGLIBS || { rm -f "$bin"; status=1; }
    fi
done
[ $status -eq 0 ] || { echo "fuzz: linking failed" >&2; exit 1; }
[ $BUILD_ONLY -eq 1 ] && exit 0

# ---- fuzzing ----

# The lock covers building only: fuzzing sessions may run side by side.
if command -v flock >/dev/null 2>&1; then
    flock -u 9
    exec 9>&-
fi

export ASAN_OPTIONS="detect_leaks=1:abort_on_error=0:${ASAN_OPTIONS:-}"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1:${UBSAN_OPTIONS:-}"
for t in $TARGETS; do
    work=$OUT/corpus/$t
    crashes=$OUT/crashes/$t
    log=$OUT/fuzz_$t.log
    bin=$OUT/fuzz_$t
    mkdir -p "$work" "$crashes"
    # The scratch corpus keeps what earlier runs found; the committed seeds are merged in.
    cp tests/fuzz/corpus/"$t"/* "$work"/ 2>/dev/null
    dict=""
    [ -f tests/fuzz/corpus/"$t".dict ] && dict="-dict=tests/fuzz/corpus/$t.dict"
    echo "fuzz: $t for ${FUZZ_SECONDS}s"
    touch "$OUT/.start_$t" # reproducers newer than this come from this run
    ./$bin -max_total_time="$FUZZ_SECONDS" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
        -artifact_prefix="$crashes/" $dict "$work" >"$log" 2>&1
    rc=$?
    if [ $rc -ne 0 ]; then
        status=1
        echo "fuzz: $t FAILED (exit $rc); reproducer(s):"
        find "$crashes" -type f -newer "$OUT/.start_$t" | sed 's/^/    /'
        grep -E 'ERROR: |runtime error|check failed|^fuzz_[a-z_]*: |SUMMARY' "$log" | head -n 5 |
            sed 's/^/    /'
        echo "    full log: $log"
    else
        # "#N DONE cov: C ft: F corp: U/S ... exec/s: E" → one summary line
        grep -E '^#[0-9]+[[:space:]]+DONE' "$log" | tail -n 1 |
            sed -E "s/^#([0-9]+)[[:space:]]+DONE[[:space:]]+cov: ([0-9]+) ft: ([0-9]+) corp: ([0-9]+)\/[^ ]+ .*exec\/s: ([0-9]+).*/fuzz: $t ok: \1 runs, \5 exec\/s, \2 edges, \3 features, corpus \4/"
    fi
    rm -f "$OUT/.start_$t"
done
[ $status -eq 0 ] && echo "fuzz: no crashes" || echo "fuzz: crashes found" >&2
exit $status
