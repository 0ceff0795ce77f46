#!/bin/sh
# Installs the Debian packages modelsync needs to build and test, if any are missing.
# Checks with pkg-config and command -v first; says what it installs.
set -eu
missing=""
need_pc() { pkg-config --exists "$1" 2>/dev/null || missing="$missing $2"; }
need_cmd() { command -v "$1" >/dev/null 2>&1 || missing="$missing $2"; }

command -v pkg-config >/dev/null 2>&1 || missing="$missing pkg-config"
need_cmd cc build-essential
need_cmd make build-essential
need_pc libmicrohttpd libmicrohttpd-dev
need_pc jansson libjansson-dev
need_pc sqlite3 libsqlite3-dev
need_pc libpq libpq-dev
need_pc libcurl libcurl4-openssl-dev
need_pc libsodium libsodium-dev
need_pc libxxhash libxxhash-dev
need_pc criterion libcriterion-dev
need_cmd jq jq
need_cmd curl curl
need_cmd sqlite3 sqlite3
need_cmd node nodejs
need_cmd npm npm
need_cmd python3 python3
need_cmd clang clang
[ -e /usr/lib/llvm-14/lib/clang/14.0.6/lib/linux/libclang_rt.fuzzer-x86_64.a ] || \
    ls /usr/lib/llvm-*/lib/clang/*/lib/linux/libclang_rt.fuzzer-x86_64.a >/dev/null 2>&1 || \
    missing="$missing libclang-rt-14-dev"
[ -x /usr/lib/postgresql/15/bin/initdb ] || command -v initdb >/dev/null 2>&1 || missing="$missing postgresql"
command -v runuser >/dev/null 2>&1 || missing="$missing util-linux"

missing=$(echo "$missing" | tr ' ' '\n' | sort -u | tr '\n' ' ' | sed 's/^ *//;s/ *$//')
[ -z "$missing" ] && exit 0
echo "deps: installing Debian packages: $missing"
SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
# shellcheck disable=SC2086
$SUDO apt-get install -y -qq --no-install-recommends $missing
