#!/usr/bin/env bash
# A local PostgreSQL cluster that holds Pulumi state (`K2_STATE=postgres make up`; docs/runbook.md "Team state in PostgreSQL").
#
#   tools/postgres.sh install            Debian's PostgreSQL server, when no initdb is found (pinned major)
#   tools/postgres.sh url                the backend URL (postgres://k2state:PASSWORD@127.0.0.1:PORT/k2state?...);
#                                        the first call chooses the port and the password and records them
#   tools/postgres.sh start              initdb on the first start, then pg_ctl start; waits until it answers
#   tools/postgres.sh stop | status
#
# Options: --state-dir DIR (default <repo>/.state/postgres; K2_PG_STATE_DIR). K2_PG_PORT: the port (default:
# a free one, chosen once and kept in DIR/port). The server listens on 127.0.0.1 and on a unix socket in DIR.
#
# PostgreSQL refuses to run as root: a root caller runs initdb and pg_ctl as K2_PG_USER (default: `postgres`,
# the system user Debian's package creates; else `nobody`) through runuser, and DIR is chowned to it. DIR's
# parents must then be searchable by that user (a 0700 home or pytest tmp dir is not).
set -euo pipefail

# bookworm serves PostgreSQL 15; a machine that has another major keeps it (the state format is Pulumi's JSON).
PG_PACKAGE="postgresql-15"
DB_USER="k2state"
DB_NAME="k2state"

say() { echo "[postgres] $*" >&2; }
die() { say "error: $*"; exit 1; }

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cmd="${1:-}"
[ $# -gt 0 ] && shift
STATE_DIR="${K2_PG_STATE_DIR:-$here/../.state/postgres}"
while [ $# -gt 0 ]; do
    case "$1" in
        --state-dir) [ $# -ge 2 ] || die "--state-dir needs a value"; STATE_DIR="$2"; shift 2 ;;
        --state-dir=*) STATE_DIR="${1#--state-dir=}"; shift ;;
        *) die "unknown option: $1" ;;
    esac
done

pg_bin() {  # the newest installed server's bin dir
    local d
    d="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)"
    [ -n "$d" ] && [ -x "$d/initdb" ] && echo "$d"
}

install_pg() {
    if [ -n "$(pg_bin || true)" ]; then
        say "present: $("$(pg_bin)/postgres" --version)"
        return 0
    fi
    command -v apt-get >/dev/null || die "PostgreSQL is missing and this is not a Debian machine: install a PostgreSQL server"
    local t0=$SECONDS log
    log="$(mktemp -t k2-postgres-apt.XXXXXX.log)"
    say "installing Debian's $PG_PACKAGE (no service is started: the cluster runs in the state dir)"
    # The package creates and starts a system cluster unless told not to: create_main_cluster = false
    # (postgresql-common reads it at install), and no service start (tools/apt-install.sh).
    if [ ! -e /etc/postgresql-common/createcluster.conf ]; then
        mkdir -p /etc/postgresql-common
        echo "create_main_cluster = false" >/etc/postgresql-common/createcluster.conf
    fi
    bash "$here/apt-install.sh" "$log" "$PG_PACKAGE" || { tail -n 20 "$log" >&2; die "apt-get install $PG_PACKAGE failed (log: $log)"; }
    rm -f "$log"
    say "installed in $((SECONDS - t0))s: $("$(pg_bin)/postgres" --version)"
}

run_as() {  # run a server command as the cluster's owner
    if [ "$(id -u)" = 0 ]; then runuser -u "$OWNER" -- "$@"; else "$@"; fi
}

prepare() {  # the state dir, its port and password (idempotent)
    mkdir -p "$STATE_DIR"
    STATE_DIR="$(cd "$STATE_DIR" && pwd)"
    DATA="$STATE_DIR/data"
    if [ ! -s "$STATE_DIR/port" ]; then
        local port="${K2_PG_PORT:-}"
        if [ -z "$port" ]; then
            port="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
        fi
        echo "$port" >"$STATE_DIR/port"
    fi
    PORT="$(cat "$STATE_DIR/port")"
    if [ -n "${K2_PG_PORT:-}" ] && [ "$K2_PG_PORT" != "$PORT" ]; then
        die "$STATE_DIR was set up on port $PORT, K2_PG_PORT says $K2_PG_PORT: stop it and remove $STATE_DIR first"
    fi
    if [ ! -s "$STATE_DIR/password" ]; then
        (umask 077; python3 -c 'import secrets; print(secrets.token_urlsafe(18))' >"$STATE_DIR/password")
    fi
    PASSWORD="$(cat "$STATE_DIR/password")"
    OWNER="$(id -un)"
    if [ "$(id -u)" = 0 ]; then
        OWNER="${K2_PG_USER:-}"
        if [ -z "$OWNER" ]; then
            if id postgres >/dev/null 2>&1; then OWNER=postgres; else OWNER=nobody; fi
        fi
    fi
}

url() { echo "postgres://$DB_USER:$PASSWORD@127.0.0.1:$PORT/$DB_NAME?sslmode=disable"; }

running() { [ -f "$DATA/postmaster.pid" ] && run_as "$(pg_bin)/pg_ctl" -D "$DATA" status >/dev/null 2>&1; }

start() {
    install_pg
    local bin
    bin="$(pg_bin)"
    if running; then
        say "already running on 127.0.0.1:$PORT ($DATA)"
        return 0
    fi
    if [ "$(id -u)" = 0 ]; then
        chown -R "$OWNER" "$STATE_DIR"
        runuser -u "$OWNER" -- test -x "$STATE_DIR" ||
            die "$OWNER cannot reach $STATE_DIR (a parent directory is not searchable): use another --state-dir"
    fi
    if [ ! -f "$DATA/PG_VERSION" ]; then
        local pwfile="$STATE_DIR/.pwfile"
        (umask 077; echo "$PASSWORD" >"$pwfile")
        [ "$(id -u)" = 0 ] && chown "$OWNER" "$pwfile"
        run_as "$bin/initdb" -D "$DATA" -U "$DB_USER" --pwfile="$pwfile" --auth=scram-sha-256 -E UTF8 \
            >"$STATE_DIR/initdb.log" 2>&1 || { rm -f "$pwfile"; tail -n 20 "$STATE_DIR/initdb.log" >&2; die "initdb failed"; }
        rm -f "$pwfile"
    fi
    run_as "$bin/pg_ctl" -D "$DATA" -l "$STATE_DIR/postgres.log" -w -t 120 \
        -o "-c listen_addresses=127.0.0.1 -p $PORT -k $STATE_DIR" start >/dev/null ||
        { tail -n 20 "$STATE_DIR/postgres.log" >&2; die "pg_ctl start failed (log: $STATE_DIR/postgres.log)"; }
    # The state database, once.
    if ! PGPASSWORD="$PASSWORD" "$bin/psql" -h "$STATE_DIR" -p "$PORT" -U "$DB_USER" -d postgres -tAc \
        "SELECT 1 FROM pg_database WHERE datname = '$DB_NAME'" | grep -q 1; then
        PGPASSWORD="$PASSWORD" "$bin/createdb" -h "$STATE_DIR" -p "$PORT" -U "$DB_USER" "$DB_NAME"
    fi
    say "running on 127.0.0.1:$PORT as $OWNER (data: $DATA, log: $STATE_DIR/postgres.log)"
}

stop() {
    if [ -n "$(pg_bin || true)" ] && running; then
        run_as "$(pg_bin)/pg_ctl" -D "$DATA" -m fast -w -t 120 stop >/dev/null
        say "stopped ($DATA)"
    else
        say "not running ($STATE_DIR)"
    fi
}

case "$cmd" in
    install) install_pg ;;
    url) prepare; url ;;
    start) prepare; start ;;
    stop) prepare; stop ;;
    status) prepare; if running; then say "running on 127.0.0.1:$PORT"; else say "not running"; exit 1; fi ;;
    *) die "usage: tools/postgres.sh install|url|start|stop|status [--state-dir DIR]" ;;
esac
