#!/bin/sh
# Keeps ARCHITECTURE.md §2 true: includes only point down, siblings don't include each other,
# and third-party headers are included only by their wrapper files (STYLE.md §1).
# Prints "file:line: <dir> may not include <header>" and exits 1 on any violation.
set -u
cd "$(dirname "$0")/.."
rank() {
    case "$1" in
    core) echo 0 ;; model) echo 1 ;; store | connectors) echo 2 ;; engine) echo 3 ;;
    sched | workers) echo 4 ;; api) echo 5 ;; http) echo 6 ;; main) echo 7 ;; *) echo 9 ;;
    esac
}
bad=0
for f in $(find src -name '*.c' -o -name '*.h' | sort); do
    dir=$(echo "$f" | cut -d/ -f2)
    case "$dir" in *.c | *.h) dir=main ;; esac
    r=$(rank "$dir")
    grep -n '^#include' "$f" | while IFS= read -r line; do
        ln=${line%%:*}
        hdr=$(echo "$line" | sed 's/.*#include[ ]*[<"]\([^>"]*\)[>"].*/\1/')
        case "$line" in
        *'"'*)
            hdir=$(echo "$hdr" | cut -d/ -f1)
            [ "$hdir" = "$hdr" ] && continue
            case "$hdir" in gen) continue ;; esac
            hr=$(rank "$hdir")
            if [ "$hdir" != "$dir" ] && { [ "$hr" -ge "$r" ]; }; then
                echo "$f:$ln: $dir may not include $hdr"
            fi
            case "$hdr" in
            *_int.h) [ "$hdir" = "$dir" ] || echo "$f:$ln: $dir may not include $hdr" ;;
            esac
            ;;
        *)
            allowed=1
            case "$hdr" in
            microhttpd.h) case "$f" in src/http/*) ;; *) allowed=0 ;; esac ;;
            sqlite3.h) case "$f" in src/store/store_sqlite*.c | src/connectors/sqlite*.c) ;; *) allowed=0 ;; esac ;;
            libpq-fe.h) case "$f" in src/store/store_pg*.c | src/connectors/postgresql*.c) ;; *) allowed=0 ;; esac ;;
            curl/*) case "$f" in src/connectors/webhook*.c) ;; *) allowed=0 ;; esac ;;
            xxhash.h | sodium.h | sodium/*) case "$f" in src/core/crypto.c) ;; *) allowed=0 ;; esac ;;
            jansson.h) case "$dir" in core) allowed=0 ;; http) case "$f" in src/http/reply.c) ;; *) allowed=0 ;; esac ;; esac ;;
            esac
            [ $allowed -eq 1 ] || echo "$f:$ln: $dir may not include <$hdr>"
            ;;
        esac
    done
done >"${TMPDIR:-/tmp}/ms-layers.$$"
if [ -s "${TMPDIR:-/tmp}/ms-layers.$$" ]; then
    cat "${TMPDIR:-/tmp}/ms-layers.$$"; rm -f "${TMPDIR:-/tmp}/ms-layers.$$"; exit 1
fi
rm -f "${TMPDIR:-/tmp}/ms-layers.$$"
echo "check-layers: ok"
