#!/usr/bin/env bash
# Writes k2infra/model/topic_configs/kafka-<version>.json: the topic-level configs of that Kafka
# release (type, default, the broker property that sets its default, valid values), read
# from the broker's own classes by TopicConfigCatalogue.java. Kafka is resolved into the
# tools cache by tools/platform.sh if needed.
#
# Usage: tools/kafka/topic-configs.sh VERSION...     e.g. tools/kafka/topic-configs.sh 3.9.2 4.4.0
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
TOOLS_DIR="${K2_TOOLS_DIR:-$HOME/.cache/k2infra/tools}"
[ $# -gt 0 ] || { sed -n '2,7p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 2; }
for version in "$@"; do
    K2_KAFKA_VERSION="$version" bash "$HERE/../platform.sh" install kafka --state-dir "${TMPDIR:-/tmp}/k2-topic-configs" >&2
    java="${K2_JAVA:-java}"
    out="$HERE/../../k2infra/model/topic_configs/kafka-$version.json"
    "$java" -cp "$TOOLS_DIR/kafka-$version/libs/*" "$HERE/TopicConfigCatalogue.java" >"$out.tmp"
    grep -q "\"kafka_version\" : \"$version\"" "$out.tmp" || { rm -f "$out.tmp"; echo "the catalogue is not of Kafka $version" >&2; exit 1; }
    mv "$out.tmp" "$out"
    echo "wrote $out ($(grep -c '"type"' "$out") configs)" >&2
done
