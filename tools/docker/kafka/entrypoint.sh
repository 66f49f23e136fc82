#!/bin/bash
# Starts one KRaft Kafka node from the environment, in the convention of the apache/kafka image
# (which k2infra/deploy/local_cluster.py writes): every KAFKA_<NAME> variable is a broker property, with
# '_' -> '.', '__' -> '_' and '___' -> '-' (KAFKA_LOG_DIRS -> log.dirs), and CLUSTER_ID formats the
# storage on first start (a data volume already formatted is kept as it is).
# KAFKA_HEAP_OPTS [-Xms128m -Xmx512m] and KAFKA_JVM_OPTS are JVM options, KAFKA_HOME [/opt/kafka]
# the installation: none of them is a property.
set -euo pipefail

home="${KAFKA_HOME:-/opt/kafka}"
conf="$home/config/server.properties"
: "${CLUSTER_ID:?CLUSTER_ID is required (a base64url 16-byte UUID)}"

: >"$conf"
while IFS= read -r name; do
    case "$name" in
        KAFKA_HEAP_OPTS|KAFKA_JVM_OPTS|KAFKA_HOME|KAFKA_VERSION) continue ;;
    esac
    prop="$(printf '%s' "${name#KAFKA_}" | tr 'A-Z' 'a-z' | sed -e 's/___/-/g' -e 's/__/:/g' -e 's/_/./g' -e 's/:/_/g')"
    printf '%s=%s\n' "$prop" "${!name}" >>"$conf"
done < <(compgen -e | grep '^KAFKA_' | sort)
grep -q '^process\.roles=' "$conf" || { echo "entrypoint: no KAFKA_PROCESS_ROLES: not a KRaft configuration" >&2; exit 1; }

# Local dev/test JVM, as tools/platform.sh runs it: C1 only, serial GC.
jvm=(-XX:TieredStopAtLevel=1 -XX:+UseSerialGC -XX:+ExitOnOutOfMemoryError -Djava.awt.headless=true
     "-Dlog4j.configuration=file:$home/log4j.properties" "-Dlog4j2.configurationFile=$home/log4j2.properties")
cp="$home/config:$home/libs/*"

# shellcheck disable=SC2086  # option lists
java -Xmx256m "${jvm[@]}" -cp "$cp" kafka.tools.StorageTool format --ignore-formatted \
    -t "$CLUSTER_ID" -c "$conf"
# shellcheck disable=SC2086  # option lists
exec java ${KAFKA_HEAP_OPTS:--Xms128m -Xmx512m} "${jvm[@]}" ${KAFKA_JVM_OPTS:-} -cp "$cp" kafka.Kafka "$conf"
