#!/usr/bin/env bash
# run.sh LABEL BINARY N PARALLEL: install BINARY as plugin kafka 3.13.3+k2infra in a private
# PULUMI_HOME ($BENCH_STATE/pulumi-home), then time `pulumi up` creating N topics and `pulumi
# destroy` with --parallel PARALLEL and PULUMI_SKIP_CHECKPOINTS=true on the broker of broker.sh,
# and count the broker's requests (count.py). Needs the toolchain (make tools) and a virtualenv
# with pulumi and pulumi-kafka ($BENCH_VENV, default <repo>/.venv).
set -euo pipefail
label=$1 bin=$2 n=$3 par=$4
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../../.." && pwd)"
state="${BENCH_STATE:-$repo/.state/kafka-provider-bench}"
export PULUMI_HOME="$state/pulumi-home"
. "$repo/tools/env.sh"
export PULUMI_BACKEND_URL="file://$state/backend" PULUMI_CONFIG_PASSPHRASE=bench PULUMI_SKIP_CHECKPOINTS=true
export PULUMI_SKIP_UPDATE_CHECK=true PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION=true
export BENCH_TOPICS=$n BENCH_BOOTSTRAP="$(grep K2_BOOTSTRAP_SERVERS "$state/platform/platform.env" | cut -d= -f2)"
mkdir -p "$state/backend" "$state/project"
cp "$here/project/__main__.py" "$state/project/"
printf 'name: bench-topics\nruntime:\n  name: python\n  options:\n    virtualenv: %s\n' "${BENCH_VENV:-$repo/.venv}" >"$state/project/Pulumi.yaml"
pulumi plugin install resource kafka 3.13.3+k2infra --file "$bin" --reinstall >/dev/null
cd "$state/project"
pulumi stack select bench --create >/dev/null
kpid=$(cat "$state/platform/kafka/kafka.pid")
cpu() { awk '{print $14+$15}' "/proc/$kpid/stat"; }
for step in up destroy; do
	mark=$(wc -l <"$state/requests.log") k0=$(cpu) t0=$(date +%s.%N)
	/usr/bin/time -f "client_cpu=%U+%Ss" -o "$state/$label-$step.time" \
		pulumi "$step" --yes --skip-preview --parallel "$par" >"$state/$label-$step.out" 2>&1
	t1=$(date +%s.%N) k1=$(cpu)
	s=$(echo "$t1 - $t0" | bc)
	echo "$label $step: n=$n parallel=$par total=${s}s per_topic=$(echo "scale=4; $s / $n" | bc)s" \
		"$(cat "$state/$label-$step.time") broker_cpu=$(((k1 - k0) / 100))s load=$(cut -d' ' -f1 /proc/loadavg)" \
		"$(python3 "$here/count.py" "$state/requests.log" "$mark")"
done
