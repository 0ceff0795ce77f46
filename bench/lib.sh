# lib.sh: shared helpers for the benchmarks in bench/ (sourced, POSIX sh). They follow the
# common harness rules of the benchmark goals: the server under test and its baseline run on
# CPU0, the load generator on CPU1; A and B are measured in interleaved pairs; the primary HTTP
# figure is server CPU per request, from utime+stime in /proc/PID/stat. Results are printed as
# the median of the per-pair ratios with their min and max, plus the raw medians.
#
# A benchmark script sources this file, calls bench_need for the tools it uses, and measures
# with bench_wrk / bench_pairs. BENCH_QUICK=1 shortens everything (3 pairs of 3 s).

BENCH_CLK_TCK=$(getconf CLK_TCK)
if [ "${BENCH_QUICK:-0}" = 1 ]; then
    BENCH_PAIRS=${BENCH_PAIRS:-3}
    BENCH_SECS=${BENCH_SECS:-3}
else
    BENCH_PAIRS=${BENCH_PAIRS:-5}
    BENCH_SECS=${BENCH_SECS:-10}
fi
BENCH_MISSING=""

bench_log() { printf '%s\n' "$*" >&2; }
bench_die() {
    printf 'bench: %s\n' "$*" >&2
    exit 1
}

# bench_need CMD PACKAGE: remembers PACKAGE when CMD is not on PATH.
bench_need() {
    command -v "$1" >/dev/null 2>&1 || BENCH_MISSING="$BENCH_MISSING $2"
}

# bench_install: installs the remembered Debian packages (root, or through sudo), saying which.
bench_install() {
    # shellcheck disable=SC2086 # one package a word
    pkgs=$(printf '%s\n' $BENCH_MISSING | sort -u | tr '\n' ' ' | sed 's/ *$//')
    [ -n "$pkgs" ] || return 0
    bench_log "bench: installing Debian packages: $pkgs"
    sudo=""
    [ "$(id -u)" -ne 0 ] && sudo="sudo"
    DEBIAN_FRONTEND=noninteractive $sudo apt-get update -qq || bench_die "apt-get update failed"
    # shellcheck disable=SC2086
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends $pkgs \
        >/dev/null || bench_die "could not install: $pkgs"
    BENCH_MISSING=""
}

# bench_ticks PID: utime+stime of the process (all its threads), in clock ticks. The command
# name in field 2 may hold spaces or parentheses, so fields are counted after the last ')'.
bench_ticks() {
    sed 's/^.*) //' "/proc/$1/stat" | awk '{ print $12 + $13 }'
}

# bench_ticks_tree PID: bench_ticks of PID plus its direct children (nginx master + workers).
bench_ticks_tree() {
    t=$(bench_ticks "$1")
    for c in $(pgrep -P "$1"); do
        t=$((t + $(bench_ticks "$c" 2>/dev/null || echo 0)))
    done
    echo "$t"
}

# bench_status_kb PID FIELD: a /proc/PID/status figure such as VmRSS or VmHWM, in kB.
bench_status_kb() {
    awk -v f="$2:" '$1 == f { print $2 }' "/proc/$1/status"
}

# bench_free_port: a TCP port on 127.0.0.1 that nothing listens on right now.
bench_free_port() {
    python3 -c 'import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])'
}

# bench_wrk PID OUT URL [wrk options...]: runs wrk on CPU1 against URL for BENCH_SECS seconds
# (unless the options say -d) and measures PID's CPU around it. Sets W_REQS, W_RPS, W_CPU_US
# (server CPU µs per request), W_SOCKERR (connect+read+write+timeout) and W_NON2XX; the wrk
# output stays in OUT. Extra options come before the URL, e.g. -c256 or -H 'Authorization: …'.
bench_wrk() {
    pid=$1 out=$2 url=$3
    shift 3
    t0=$(bench_ticks_tree "$pid")
    timeout $((BENCH_SECS + 60)) taskset -c 1 wrk -t1 -c32 -d"${BENCH_SECS}s" --timeout 5s \
        "$@" "$url" >"$out" 2>&1 || bench_die "wrk failed: $(tail -3 "$out")"
    t1=$(bench_ticks_tree "$pid")
    W_REQS=$(awk '/requests in/ { print $1 }' "$out")
    [ -n "$W_REQS" ] && [ "$W_REQS" -gt 0 ] || bench_die "wrk made no requests: $(cat "$out")"
    W_RPS=$(awk '/^Requests\/sec:/ { print $2 }' "$out")
    W_CPU_US=$(awk -v d=$((t1 - t0)) -v hz="$BENCH_CLK_TCK" -v n="$W_REQS" \
        'BEGIN { printf "%.2f", d / hz * 1e6 / n }')
    W_SOCKERR=$(awk '/Socket errors:/ { gsub(",", ""); print $4 + $6 + $8 + $10 }' "$out")
    W_SOCKERR=${W_SOCKERR:-0}
    W_NON2XX=$(awk '/Non-2xx or 3xx responses:/ { print $NF }' "$out")
    W_NON2XX=${W_NON2XX:-0}
}

# bench_stats "v1 v2 …": "median min max" of the numbers (median of an even count: mean of the
# middle two).
bench_stats() {
    # shellcheck disable=SC2086 # one number a word
    printf '%s\n' $1 | sort -g | awk '{ v[NR] = $1 }
        END { m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
              printf "%g %g %g\n", m, v[1], v[NR] }'
}

# bench_fmt "v1 v2 …" DIGITS [UNIT]: "median<UNIT> (min–max)" with DIGITS decimals.
bench_fmt() {
    bench_stats "$1" | awk -v d="$2" -v u="${3:-}" '{ printf "%.*f%s (%.*f–%.*f)", d, $1, u, d, $2, d, $3 }'
}

# bench_median "v1 v2 …"
bench_median() { bench_stats "$1" | awk '{ print $1 }'; }

# bench_div A B: A / B with four decimals.
bench_div() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.4f", (b == 0) ? 0 : a / b }'; }

# bench_verdict VALUE OP GOAL: "met" when VALUE OP GOAL holds (OP is <= or >=), else "not met".
bench_verdict() {
    awk -v v="$1" -v op="$2" -v g="$3" 'BEGIN {
        ok = (op == "<=") ? (v <= g) : (v >= g); print ok ? "met" : "not met" }'
}

# bench_pairs PAIRS FN_A FN_B: runs FN_A, FN_B, FN_A, FN_B … (PAIRS times each). Each function
# runs one measurement with bench_wrk. Afterwards P_A_CPU/P_B_CPU, P_A_RPS/P_B_RPS hold the raw
# figures and P_CPU_RATIO (B/A CPU per request) and P_RPS_RATIO (B/A throughput) the per-pair
# ratios, each a space-separated list. Any socket error or non-2xx answer aborts: the figures
# would describe error handling, not the endpoint.
bench_pairs() {
    n=$1 fa=$2 fb=$3
    P_A_CPU="" P_B_CPU="" P_A_RPS="" P_B_RPS="" P_CPU_RATIO="" P_RPS_RATIO=""
    i=1
    while [ "$i" -le "$n" ]; do
        "$fa"
        bench_pair_check "$fa"
        a_cpu=$W_CPU_US a_rps=$W_RPS
        "$fb"
        bench_pair_check "$fb"
        P_A_CPU="$P_A_CPU $a_cpu" P_A_RPS="$P_A_RPS $a_rps"
        P_B_CPU="$P_B_CPU $W_CPU_US" P_B_RPS="$P_B_RPS $W_RPS"
        P_CPU_RATIO="$P_CPU_RATIO $(bench_div "$W_CPU_US" "$a_cpu")"
        P_RPS_RATIO="$P_RPS_RATIO $(bench_div "$W_RPS" "$a_rps")"
        bench_log "  pair $i/$n: $fa $a_cpu µs/req $a_rps req/s | $fb $W_CPU_US µs/req $W_RPS req/s"
        i=$((i + 1))
    done
}

bench_pair_check() {
    [ "$W_SOCKERR" -eq 0 ] && [ "$W_NON2XX" -eq 0 ] && return 0
    bench_die "$1: $W_SOCKERR socket errors, $W_NON2XX non-2xx answers"
}

# bench_krps "v1 v2 …": the median throughput as "61.2k req/s".
bench_krps() { awk -v v="$(bench_median "$1")" 'BEGIN { printf "%.1fk req/s", v / 1000 }'; }
