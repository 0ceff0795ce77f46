# pg.sh: sourced by tests/run.sh (and usable by hand: `. tests/pg.sh; pg_start`). Starts a
# throw-away PostgreSQL 15 server on 127.0.0.1 in a temporary directory, as the postgres user
# when run as root, with password authentication, and exports:
#   MS_TEST_PG       a libpq DSN for the superuser
#   MS_TEST_PG_HOST, MS_TEST_PG_PORT, MS_TEST_PG_USER, MS_TEST_PG_PASSWORD, MS_TEST_PG_DB
# pg_stop stops it and removes the directory.
PG_BIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
PG_DIR=""

pg_run() {
    if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

pg_start() {
    [ -x "$PG_BIN/initdb" ] || { echo "pg.sh: no PostgreSQL server binaries" >&2; return 1; }
    PG_DIR=$(mktemp -d /tmp/ms-pg.XXXXXX)
    chmod 755 "$PG_DIR"
    [ "$(id -u)" -eq 0 ] && chown postgres "$PG_DIR"
    MS_TEST_PG_PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
    MS_TEST_PG_USER=postgres
    MS_TEST_PG_PASSWORD=ms-test-pw
    MS_TEST_PG_HOST=127.0.0.1
    MS_TEST_PG_DB=postgres
    echo "$MS_TEST_PG_PASSWORD" >"$PG_DIR/pw"
    [ "$(id -u)" -eq 0 ] && chown postgres "$PG_DIR/pw"
    pg_run "$PG_BIN/initdb" -D "$PG_DIR/data" -U postgres --auth=scram-sha-256 \
        --pwfile="$PG_DIR/pw" --no-sync >"$PG_DIR/initdb.log" 2>&1 || { cat "$PG_DIR/initdb.log" >&2; return 1; }
    pg_run "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -l "$PG_DIR/server.log" -w -t 30 \
        -o "-p $MS_TEST_PG_PORT -k $PG_DIR -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off" \
        start >/dev/null || { cat "$PG_DIR/server.log" >&2; return 1; }
    MS_TEST_PG="host=127.0.0.1 port=$MS_TEST_PG_PORT user=postgres password=$MS_TEST_PG_PASSWORD dbname=postgres"
    export MS_TEST_PG MS_TEST_PG_HOST MS_TEST_PG_PORT MS_TEST_PG_USER MS_TEST_PG_PASSWORD MS_TEST_PG_DB
}

pg_stop() {
    [ -n "$PG_DIR" ] || return 0
    pg_run "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -m immediate -w stop >/dev/null 2>&1
    rm -rf "$PG_DIR"
    PG_DIR=""
}
