#!/usr/bin/env bash
# Kafka's MirrorMaker 2 in dedicated mode (org.apache.kafka.connect.mirror.MirrorMaker), resolved
# from Maven Central into the tools cache like the broker (tools/platform.sh), and run in the
# foreground on a properties file that `python -m k2infra mirror-config` wrote (docs/regions.md).
#
# Usage: tools/mirror/mirrormaker.sh install           resolve the jars (idempotent), print their directory
#        tools/mirror/mirrormaker.sh run PROPERTIES    exec MirrorMaker 2 (logs to stderr; stop it with SIGTERM)
#
# Version: K2_MIRROR_VERSION [tools/versions.env K2_DEFAULT_MIRROR_VERSION]. Maven Central serves
# connect-mirror up to 4.3.1 where the brokers run 4.4.0 (org.apache.kafka:connect-mirror:4.4.0 is
# not published there): the nearest release is used; MirrorMaker 2 is a Kafka client, and 4.3 clients
# speak to 4.4 brokers.
# Environment: K2_TOOLS_DIR [~/.cache/k2infra/tools], K2_JAVA (a java >= 17), K2_MVN_ARGS,
# K2_MIRROR_HEAP [256m], and the passwords the properties name (K2_MIRROR_SOURCE_PASSWORD, ...).
set -euo pipefail

say() { echo "[mirrormaker] $*" >&2; }
die() { say "error: $*"; exit 1; }

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=../versions.env
. "$HERE/../versions.env"
VERSION="${K2_MIRROR_VERSION:-$K2_DEFAULT_MIRROR_VERSION}"
TOOLS_DIR="${K2_TOOLS_DIR:-$HOME/.cache/k2infra/tools}"
HOME_DIR="$TOOLS_DIR/connect-mirror-$VERSION"

install() {
    [ -f "$HOME_DIR/.complete" ] && return 0
    command -v mvn >/dev/null || die "mvn not found: Maven 3.8+ is needed to resolve connect-mirror from Maven Central"
    local tmp="$HOME_DIR.tmp.$$" log="$TOOLS_DIR/connect-mirror-$VERSION.mvn.log" t0=$SECONDS
    mkdir -p "$TOOLS_DIR"
    # shellcheck disable=SC2064  # expand now
    trap "rm -rf -- $(printf %q "$tmp")" EXIT
    say "resolving org.apache.kafka:connect-mirror:$VERSION (+ runtime deps) from Maven Central"
    # shellcheck disable=SC2086  # K2_MVN_ARGS is a list of arguments
    if ! mvn -B -q ${K2_MVN_ARGS:-} -f "$HERE/pom.xml" -Dkafka.version="$VERSION" \
        dependency:copy-dependencies -DoutputDirectory="$tmp/libs" >"$log" 2>&1; then
        tail -n 30 "$log" >&2
        die "could not resolve connect-mirror $VERSION (full log: $log)"
    fi
    [ -f "$tmp/libs/connect-mirror-$VERSION.jar" ] || die "connect-mirror-$VERSION.jar missing after resolution"
    rm -rf "$HOME_DIR"; mv "$tmp" "$HOME_DIR"; touch "$HOME_DIR/.complete"
    say "connect-mirror $VERSION resolved into $HOME_DIR/libs ($(find "$HOME_DIR/libs" -name '*.jar' | wc -l) jars, $((SECONDS - t0)) s)"
}

java_bin() {
    local java="${K2_JAVA:-${JAVA_HOME:+$JAVA_HOME/bin/java}}"
    [ -n "$java" ] || java="$(command -v java || true)"
    [ -x "$java" ] || die "no java found (set K2_JAVA to a java >= 17)"
    echo "$java"
}

case "${1:-}" in
    install)
        mkdir -p "$TOOLS_DIR"
        ( flock -w 1800 9 || die "timed out waiting for $TOOLS_DIR/.connect-mirror.lock"; install ) 9>"$TOOLS_DIR/.connect-mirror.lock"
        echo "$HOME_DIR/libs"
        ;;
    run)
        [ -n "${2:-}" ] && [ -f "$2" ] || die "usage: $0 run PROPERTIES (a file written by python -m k2infra mirror-config)"
        [ -f "$HOME_DIR/.complete" ] || die "connect-mirror $VERSION is not installed: run $0 install"
        exec "$(java_bin)" -Xms64m "-Xmx${K2_MIRROR_HEAP:-256m}" -XX:+UseSerialGC -XX:TieredStopAtLevel=1 \
            "-Dlog4j2.configurationFile=$HERE/log4j2.properties" \
            -cp "$HOME_DIR/libs/*" org.apache.kafka.connect.mirror.MirrorMaker "$2"
        ;;
    *) die "usage: $0 install | run PROPERTIES" ;;
esac
