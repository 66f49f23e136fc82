#!/bin/bash
# Starts Apicurio Registry on 0.0.0.0:8080. Configuration comes from the environment (Quarkus maps
# APICURIO_STORAGE_KIND to apicurio.storage.kind, and so on); REGISTRY_HEAP_OPTS
# [-Xms64m -Xmx512m] and REGISTRY_JVM_OPTS are JVM options.
set -euo pipefail

home=/opt/apicurio
run="$(cat "$home/.run-jar")"
# Local dev/test JVM, as tools/platform.sh runs it: C1 only, serial GC.
# shellcheck disable=SC2086  # option lists
exec java ${REGISTRY_HEAP_OPTS:--Xms64m -Xmx512m} \
    -XX:TieredStopAtLevel=1 -XX:+UseSerialGC -XX:+ExitOnOutOfMemoryError \
    -Djava.io.tmpdir=/tmp -Dvertx.cacheDirBase=/tmp/vertx-cache \
    -Dquarkus.http.host=0.0.0.0 -Dquarkus.http.port=8080 \
    ${REGISTRY_JVM_OPTS:-} -jar "$home/$run"
