#!/bin/bash
# Readiness probes of k2infra's images, in bash alone (no JVM start per probe, no curl needed):
#
#   k2-healthcheck kafka HOST:PORT   one Kafka Metadata request (v8, as tools/kafka/kafka_probe.py):
#                                    ready when the answer names a broker and an active controller
#   k2-healthcheck http PORT PATH    HTTP GET http://127.0.0.1:PORT/PATH: ready on status 200
#
# Exit 0 ready, 1 not (the reason on stderr). Bounded by K2_HEALTH_TIMEOUT seconds [5].
set -euo pipefail

TIMEOUT="${K2_HEALTH_TIMEOUT:-5}"
fail() { echo "not ready: $*" >&2; exit 1; }

kafka() {
    local host="${1%:*}" port="${1##*:}" client="k2-health"
    { exec 3<>"/dev/tcp/$host/$port"; } 2>/dev/null || fail "no connection to $1"
    # size, api key 3 (Metadata), version 8, correlation id 1, client id; topics null (all),
    # allow_auto_topic_creation, include_cluster/topic_authorized_operations: false.
    printf '\x00\x00\x00\x1a\x00\x03\x00\x08\x00\x00\x00\x01\x00\x09%s\xff\xff\xff\xff\x00\x00\x00' "$client" >&3
    local -a b
    # shellcheck disable=SC2207  # one hex byte per word
    b=($(timeout "$TIMEOUT" head -c 4 <&3 | od -An -v -tu1))
    [ ${#b[@]} -eq 4 ] || fail "no Metadata response from $1"
    local size=$(( (b[0] << 24) | (b[1] << 16) | (b[2] << 8) | b[3] ))
    # shellcheck disable=SC2207
    b=($(timeout "$TIMEOUT" head -c "$size" <&3 | od -An -v -tu1))
    exec 3<&-
    [ ${#b[@]} -eq "$size" ] || fail "truncated Metadata response from $1"
    local i=0
    int16() { echo $(( (b[i] << 8) | b[i + 1] )); }
    int32() { local v=$(( (b[i] << 24) | (b[i + 1] << 16) | (b[i + 2] << 8) | b[i + 3] )); echo $(( v >= 2147483648 ? v - 4294967296 : v )); }
    skip_string() {  # nullable string: int16 length (-1 = null), then the bytes
        local n; n="$(int16)"; i=$((i + 2))
        [ "$n" -ne 65535 ] && i=$((i + n))
        return 0
    }
    [ "$(int32)" -eq 1 ] || fail "unexpected correlation id from $1"
    i=8  # correlation id, throttle time
    local brokers; brokers="$(int32)"; i=$((i + 4))
    local n
    for ((n = 0; n < brokers; n++)); do
        i=$((i + 4)); skip_string; i=$((i + 4)); skip_string  # node id, host, port, rack
    done
    skip_string  # cluster id
    local controller; controller="$(int32)"
    [ "$brokers" -ge 1 ] || fail "$1 reports no broker"
    [ "$controller" -ge 0 ] || fail "$1 reports no active controller"
    echo "ready: $brokers broker(s), controller $controller"
}

http() {
    local port="$1" path="$2" status
    { exec 3<>"/dev/tcp/127.0.0.1/$port"; } 2>/dev/null || fail "no connection to 127.0.0.1:$port"
    printf 'GET %s HTTP/1.0\r\nHost: localhost\r\n\r\n' "$path" >&3
    status="$(timeout "$TIMEOUT" head -n 1 <&3 | tr -d '\r')" || true
    exec 3<&-
    case "$status" in
        "HTTP/"*" 200"*) echo "ready: $status" ;;
        *) fail "GET $path on port $port: ${status:-no answer}" ;;
    esac
}

case "${1:-}" in
    kafka) [ $# -eq 2 ] || fail "usage: k2-healthcheck kafka HOST:PORT"; kafka "$2" ;;
    http) [ $# -eq 3 ] || fail "usage: k2-healthcheck http PORT PATH"; http "$2" "$3" ;;
    *) fail "usage: k2-healthcheck kafka HOST:PORT | http PORT PATH" ;;
esac
