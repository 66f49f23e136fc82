#!/usr/bin/env bash
# A Docker engine for k2infra's container path (`k2infra:localCluster: docker`, tools/docker/images.sh).
#
# Usage: tools/docker/engine.sh start|stop|status|env [--state-dir DIR]
#
#   start   use the engine that answers (DOCKER_HOST or the default socket) if there is one;
#           otherwise install Debian's docker.io when dockerd is missing (apt-get, needs root),
#           start dockerd in the background (log and pid in the state dir) and wait until
#           `docker info` answers. Fails with the reason (and the end of dockerd's log) when the
#           engine cannot start: never a silent skip.
#   stop    stop the dockerd this state dir started (pid file + marker on its command line), and
#           nothing else: an engine that was already running is left alone.
#   status  say which engine answers and whether this script started it (exit 0 answers, 3 not).
#   env     print `export DOCKER_HOST=...` for the engine that answers.
#
# Environment (defaults in brackets):
#   K2_DOCKER_STATE_DIR       pid file, log, engine.env [<repo>/.state/docker]
#   K2_DOCKER_DATA_ROOT       dockerd --data-root: images, layer cache, volumes; kept across
#                             start/stop so that image builds stay cached [~/.cache/k2infra/docker]
#   K2_DOCKER_STORAGE_DRIVER  overlay2, vfs, or auto: overlay2 when an overlay mount works on
#                             the data root's file system, else vfs [auto]
#   K2_DOCKER_SOCKET          socket of a dockerd this script starts [/var/run/docker.sock]
#   K2_DOCKER_IPTABLES        dockerd --iptables [true]; false where netfilter is unavailable
#                             (published ports then go through docker-proxy only)
#   K2_DOCKER_START_TIMEOUT   seconds to wait for `docker info` [60]
#   K2_DOCKER_STOP_TIMEOUT    seconds before kill -9 on stop [30]
set -euo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
STATE_DIR="${K2_DOCKER_STATE_DIR:-$REPO_ROOT/.state/docker}"
DATA_ROOT="${K2_DOCKER_DATA_ROOT:-$HOME/.cache/k2infra/docker}"
DRIVER="${K2_DOCKER_STORAGE_DRIVER:-auto}"
SOCKET="${K2_DOCKER_SOCKET:-/var/run/docker.sock}"
IPTABLES="${K2_DOCKER_IPTABLES:-true}"
START_TIMEOUT="${K2_DOCKER_START_TIMEOUT:-60}"
STOP_TIMEOUT="${K2_DOCKER_STOP_TIMEOUT:-30}"

say() { printf '[engine] %s\n' "$*"; }
err() { printf '[engine] ERROR: %s\n' "$*" >&2; }
die() { err "$*"; exit 1; }
usage() { sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d' | sed 's/^# \{0,1\}//'; }

CMD="${1:-}"
[ $# -gt 0 ] && shift
while [ $# -gt 0 ]; do
    case "$1" in
        --state-dir) [ $# -ge 2 ] || die "--state-dir needs a value"; STATE_DIR="$2"; shift 2 ;;
        --state-dir=*) STATE_DIR="${1#--state-dir=}"; shift ;;
        -h|--help) usage; exit 0 ;;
        *) die "unknown argument: $1 (see --help)" ;;
    esac
done
case "$CMD" in
    start|stop|status|env) ;;
    -h|--help|help) usage; exit 0 ;;
    *) usage >&2; exit 2 ;;
esac
mkdir -p "$STATE_DIR"
STATE_DIR="$(cd "$STATE_DIR" && pwd)"
PID_FILE="$STATE_DIR/dockerd.pid"
LOG="$STATE_DIR/dockerd.log"
ENV_FILE="$STATE_DIR/engine.env"
# On dockerd's command line (as its --exec-opt label is harmless) so that a pid file never makes
# this script stop an engine it did not start, even after pid reuse.
MARKER="k2infra.engine.state=$STATE_DIR"

# ------------------------------------------------------------------ helpers
as_root() {  # as_root CMD...: run as root (sudo -n when not root), or fail saying why
    if [ "$(id -u)" = 0 ]; then "$@"
    elif command -v sudo >/dev/null && sudo -n true 2>/dev/null; then sudo -n "$@"
    else die "need root (or password-less sudo) to run: $*"; fi
}

docker_cli() {  # a docker client, or die naming what is missing
    command -v docker >/dev/null || die "no docker CLI on PATH (Debian's docker.io provides one: start installs it)"
    docker "$@"
}

answers() {  # answers [HOST]: true when `docker info` succeeds (against HOST if given)
    if [ -n "${1:-}" ]; then DOCKER_HOST="$1" docker info >/dev/null 2>&1
    else docker info >/dev/null 2>&1; fi
}

our_pid() {  # prints the pid of the dockerd this state dir started, if it runs
    local pid
    [ -f "$PID_FILE" ] || return 1
    pid="$(cat "$PID_FILE" 2>/dev/null)" || return 1
    [ -n "$pid" ] && [ -r "/proc/$pid/cmdline" ] || return 1
    tr '\0' '\n' <"/proc/$pid/cmdline" | grep -qF -- "$MARKER" || return 1
    echo "$pid"
}

show_log() {
    [ -s "$LOG" ] || return 0
    printf '[engine] ---- last lines of %s ----\n' "$LOG" >&2
    tail -n 30 "$LOG" >&2
}

write_env() {  # engine.env: how to reach the engine that answers
    printf 'DOCKER_HOST=%s\n' "$1" >"$ENV_FILE"
}

install_engine() {
    command -v apt-get >/dev/null || die "dockerd is missing and this is not a Debian/Ubuntu machine (no apt-get): install a Docker engine"
    say "dockerd not found: installing Debian's docker.io (apt-get install -y --no-install-recommends docker.io)"
    local t0=$SECONDS
    # Debian's package would start the engine through its init script; policy-rc.d keeps it from
    # doing so where one is set up (containers), and this script starts its own dockerd anyway.
    if ! as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends docker.io \
            >"$STATE_DIR/apt.log" 2>&1; then
        say "apt-get install failed; retrying after apt-get update"
        as_root env DEBIAN_FRONTEND=noninteractive apt-get update -q >>"$STATE_DIR/apt.log" 2>&1 ||
            { tail -n 20 "$STATE_DIR/apt.log" >&2; die "apt-get update failed (log: $STATE_DIR/apt.log)"; }
        as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends docker.io \
            >>"$STATE_DIR/apt.log" 2>&1 ||
            { tail -n 20 "$STATE_DIR/apt.log" >&2; die "apt-get install docker.io failed (log: $STATE_DIR/apt.log)"; }
    fi
    command -v dockerd >/dev/null || die "docker.io installed but dockerd is not on PATH"
    say "docker.io installed in $((SECONDS - t0))s ($(dockerd --version))"
}

choose_driver() {  # prints the storage driver for DATA_ROOT
    case "$DRIVER" in
        overlay2|vfs) echo "$DRIVER"; return ;;
        auto) ;;
        *) die "K2_DOCKER_STORAGE_DRIVER=$DRIVER: use overlay2, vfs or auto" ;;
    esac
    # An overlay mount on the data root's own file system, as overlay2 will do (it fails on
    # overlayfs itself, e.g. inside another container, and where the kernel lacks overlay).
    local probe ok=0
    mkdir -p "$DATA_ROOT"
    probe="$(mktemp -d "$DATA_ROOT/.overlay-probe.XXXXXX")"
    mkdir -p "$probe/lower" "$probe/upper" "$probe/work" "$probe/merged"
    if as_root mount -t overlay overlay -o "lowerdir=$probe/lower,upperdir=$probe/upper,workdir=$probe/work" \
            "$probe/merged" 2>/dev/null; then
        ok=1
        as_root umount "$probe/merged" || true
    fi
    rm -rf "$probe"
    if [ $ok = 1 ]; then echo overlay2; else echo vfs; fi
}

# ------------------------------------------------------------------ commands
cmd_start() {
    local pid host="unix://$SOCKET" driver
    if pid="$(our_pid)" && answers "$host"; then
        write_env "$host"
        say "dockerd already running (pid $pid, started by this state dir) at $host"
        return 0
    fi
    if command -v docker >/dev/null && answers; then
        write_env "${DOCKER_HOST:-unix:///var/run/docker.sock}"
        say "using the engine that already answers at ${DOCKER_HOST:-unix:///var/run/docker.sock} (not started here: stop leaves it alone)"
        rm -f "$PID_FILE"
        return 0
    fi
    command -v dockerd >/dev/null || install_engine
    command -v docker >/dev/null || die "dockerd is installed but no docker CLI is on PATH"
    if [ -S "$SOCKET" ] && ! answers "$host"; then
        # A socket nobody answers on: left by an engine that died. dockerd refuses to start on it.
        say "removing the stale socket $SOCKET (no engine answers on it)"
        as_root rm -f "$SOCKET"
    fi
    driver="$(choose_driver)"
    mkdir -p "$DATA_ROOT"
    : >"$LOG"
    say "starting dockerd (storage driver $driver, data root $DATA_ROOT, socket $SOCKET, iptables $IPTABLES)"
    local t0=$SECONDS runner=()
    command -v setsid >/dev/null && runner=(setsid)
    # Own session, stdin closed, no inherited lock fds: it outlives this script.
    as_root "${runner[@]}" dockerd \
        --host "$host" \
        --data-root "$DATA_ROOT" \
        --exec-root "$STATE_DIR/exec" \
        --pidfile "$PID_FILE" \
        --storage-driver "$driver" \
        --iptables="$IPTABLES" \
        --label "$MARKER" \
        >>"$LOG" 2>&1 </dev/null 8>&- 9>&- &
    local launcher=$!
    local deadline=$((SECONDS + START_TIMEOUT))
    until answers "$host"; do
        if ! kill -0 "$launcher" 2>/dev/null && ! our_pid >/dev/null; then
            show_log
            die "dockerd exited before answering (see $LOG; with iptables errors try K2_DOCKER_IPTABLES=false, with storage errors K2_DOCKER_STORAGE_DRIVER=vfs)"
        fi
        if [ $SECONDS -ge $deadline ]; then
            show_log
            pid="$(our_pid || true)"
            [ -n "$pid" ] && as_root kill -TERM "$pid" 2>/dev/null || true
            die "dockerd did not answer within ${START_TIMEOUT}s (log: $LOG)"
        fi
        sleep 0.5
    done
    pid="$(our_pid)" || die "dockerd answers at $host but its pid file $PID_FILE does not name it"
    echo "$DATA_ROOT" >"$STATE_DIR/data-root"
    write_env "$host"
    say "dockerd $(DOCKER_HOST="$host" docker version --format '{{.Server.Version}}' 2>/dev/null) ready in $((SECONDS - t0))s (pid $pid, storage driver $(DOCKER_HOST="$host" docker info --format '{{.Driver}}'), log $LOG)"
}

cmd_stop() {
    local pid
    if ! pid="$(our_pid)"; then
        if [ -f "$PID_FILE" ]; then say "the dockerd of this state dir is not running (stale pid file removed)"
        else say "no dockerd was started by this state dir: nothing to stop"; fi
        rm -f "$PID_FILE" "$ENV_FILE"
        return 0
    fi
    as_root kill -TERM "$pid"
    for _ in $(seq 1 $((STOP_TIMEOUT * 10))); do
        [ -d "/proc/$pid" ] || break
        sleep 0.1
    done
    if [ -d "/proc/$pid" ]; then
        err "dockerd (pid $pid) did not stop within ${STOP_TIMEOUT}s; kill -9"
        as_root kill -KILL "$pid" 2>/dev/null || true
    fi
    local root; root="$(cat "$STATE_DIR/data-root" 2>/dev/null || echo "$DATA_ROOT")"
    rm -f "$PID_FILE" "$ENV_FILE" "$STATE_DIR/data-root"
    say "dockerd stopped (pid $pid); images, build cache and volumes stay in $root"
}

cmd_status() {
    local pid
    if pid="$(our_pid)" && answers "unix://$SOCKET"; then
        say "running: dockerd pid $pid, started by this state dir, at unix://$SOCKET"
        return 0
    fi
    if command -v docker >/dev/null && answers; then
        say "running: an engine this script did not start, at ${DOCKER_HOST:-unix:///var/run/docker.sock}"
        return 0
    fi
    say "no Docker engine answers"
    return 3
}

cmd_env() {
    if pid="$(our_pid)" && answers "unix://$SOCKET"; then
        echo "export DOCKER_HOST=unix://$SOCKET"
    elif command -v docker >/dev/null && answers; then
        echo "export DOCKER_HOST=${DOCKER_HOST:-unix:///var/run/docker.sock}"
    else
        die "no Docker engine answers (run: tools/docker/engine.sh start)"
    fi
}

case "$CMD" in
    start|stop)
        exec 8>"$STATE_DIR/.engine.lock"
        flock -w 300 8 || die "another engine.sh holds $STATE_DIR/.engine.lock"
        "cmd_$CMD"
        ;;
    status) cmd_status ;;
    env) cmd_env ;;
esac
