#!/usr/bin/env bash
# broker.sh start|stop: the benchmark's plain local broker (tools/platform.sh, free ports), with
# Kafka's request log on (kafka.request.logger=DEBUG) so that count.py can count the requests.
# State in $BENCH_STATE (default <repo>/.state/kafka-provider-bench).
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)"
state="${BENCH_STATE:-$repo/.state/kafka-provider-bench}"
mkdir -p "$state"
case "${1:-}" in
start)
	cat >"$state/log4j.properties" <<EOT
log4j.rootLogger=WARN, file
log4j.appender.file=org.apache.log4j.FileAppender
log4j.appender.file.File=$state/kafka-main.log
log4j.appender.file.layout=org.apache.log4j.PatternLayout
log4j.appender.file.layout.ConversionPattern=[%d] %p %m (%c)%n
log4j.logger.kafka.request.logger=DEBUG, requests
log4j.additivity.kafka.request.logger=false
log4j.appender.requests=org.apache.log4j.FileAppender
log4j.appender.requests.File=$state/requests.log
log4j.appender.requests.layout=org.apache.log4j.PatternLayout
log4j.appender.requests.layout.ConversionPattern=[%d{ISO8601}] %m%n
EOT
	touch "$state/requests.log"
	K2_STATE_DIR="$state/platform" K2_PORTS=free K2_KAFKA_JVM_OPTS="-Dlog4j.configuration=file:$state/log4j.properties" \
		bash "$repo/tools/platform.sh" start kafka ;;
stop) K2_STATE_DIR="$state/platform" bash "$repo/tools/platform.sh" stop kafka ;;
*) echo "usage: $0 start|stop" >&2; exit 2 ;;
esac
