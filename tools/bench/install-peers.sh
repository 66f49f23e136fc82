#!/usr/bin/env bash
# Installs the peers `make bench` measures k2infra against, from package registries only (these
# machines reach no GitHub release page and no image registry), cached under $K2_TOOLS_DIR:
#
#   - topicctl (segmentio), built from the Go module proxy. `go install ...@VERSION` is refused
#     here: it asks the proxy for the module's version list (to check for deprecation), which the
#     proxy answers 403; so the module is downloaded at its version (checksums verified) and its
#     cmd/topicctl built from the module cache with the module's own go.mod/go.sum.
#   - Jikkou (streamthoughts): no command line is published on Maven Central, only its library
#     (io.streamthoughts:jikkou-core, jikkou-provider-kafka). Its jars are resolved by
#     `mvn dependency:copy-dependencies` from tools/bench/jikkou-pom.xml, and
#     bench/jikkou/JikkouBench.java (a small driver of its engine) is compiled against them.
#     Jikkou 0.34's classes are Java 21 bytecode: a JDK >= 21 is needed (K2_PEERS_JAVA_HOME, else
#     the first of /usr/lib/jvm/* that is >= 21, else the `java` on PATH if it is).
#
# Writes $K2_TOOLS_DIR/peers/peers.env (KEY=VALUE lines read by bench/peers.py). Safe to re-run:
# what is already built from the same inputs is skipped.
set -euo pipefail

TOPICCTL_VERSION="${K2_TOPICCTL_VERSION:-v1.17.0}"
JIKKOU_VERSION="${K2_JIKKOU_VERSION:-0.34.0}"

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
K2_TOOLS_DIR="${K2_TOOLS_DIR:-$HOME/.cache/k2infra/tools}"
out="$K2_TOOLS_DIR/peers"
export GOFLAGS=-buildvcs=false

log() { printf '[install-peers] %s\n' "$*"; }
die() {
	printf '[install-peers] ERROR: %s\n' "$*" >&2
	exit 1
}
fingerprint() { cat "$@" | sha256sum | cut -c1-16; }
mkdir -p "$out"

# --- topicctl -------------------------------------------------------------------------------
topicctl_bin="$out/topicctl-$TOPICCTL_VERSION/topicctl"
if [[ -x "$topicctl_bin" ]]; then
	log "topicctl $TOPICCTL_VERSION: up to date ($topicctl_bin)"
else
	command -v go >/dev/null || die "go is not on PATH"
	log "topicctl $TOPICCTL_VERSION: downloading github.com/segmentio/topicctl@$TOPICCTL_VERSION from the Go module proxy"
	scratch="$(mktemp -d)"
	json="$(cd "$scratch" && go mod download -json "github.com/segmentio/topicctl@$TOPICCTL_VERSION")" ||
		die "go mod download github.com/segmentio/topicctl@$TOPICCTL_VERSION failed: $json"
	rmdir "$scratch"
	src="$(python3 -c 'import json,sys; print(json.load(sys.stdin)["Dir"])' <<<"$json")"
	mkdir -p "$(dirname "$topicctl_bin")"
	t0=$SECONDS
	(cd "$src" && go build -o "$topicctl_bin.tmp" ./cmd/topicctl) || die "go build of topicctl failed"
	mv -f "$topicctl_bin.tmp" "$topicctl_bin"
	log "topicctl $TOPICCTL_VERSION: built in $((SECONDS - t0))s"
fi

# --- a JDK >= 21 for Jikkou ---------------------------------------------------------------
java_major() { "$1/bin/java" -XshowSettings:properties -version 2>&1 | sed -n 's/^ *java.specification.version = \([0-9]*\).*/\1/p'; }
java_home="${K2_PEERS_JAVA_HOME:-}"
if [[ -z "$java_home" ]]; then
	for candidate in /usr/lib/jvm/*; do
		if [[ -x "$candidate/bin/javac" && "$(java_major "$candidate")" -ge 21 ]]; then
			java_home="$candidate"
			break
		fi
	done
fi
if [[ -z "$java_home" ]] && command -v javac >/dev/null; then
	java_home="$(dirname "$(dirname "$(readlink -f "$(command -v javac)")")")"
fi
[[ -n "$java_home" && -x "$java_home/bin/javac" ]] || die "no JDK found (set K2_PEERS_JAVA_HOME)"
major="$(java_major "$java_home")"
[[ "$major" -ge 21 ]] || die "Jikkou $JIKKOU_VERSION needs Java >= 21; $java_home is $major (set K2_PEERS_JAVA_HOME)"

# --- Jikkou's library and our driver --------------------------------------------------------
jikkou_dir="$out/jikkou-$JIKKOU_VERSION"
driver_src="$repo/bench/jikkou/JikkouBench.java"
pom="$here/jikkou-pom.xml"
want="$JIKKOU_VERSION $major $(fingerprint "$pom" "$driver_src")"
if [[ -f "$jikkou_dir/.stamp" && "$(cat "$jikkou_dir/.stamp")" == "$want" ]]; then
	log "jikkou $JIKKOU_VERSION: up to date ($jikkou_dir)"
else
	command -v mvn >/dev/null || die "mvn is not on PATH"
	log "jikkou $JIKKOU_VERSION: resolving io.streamthoughts:jikkou-core and jikkou-provider-kafka from Maven Central"
	rm -rf "$jikkou_dir"
	mkdir -p "$jikkou_dir/lib" "$jikkou_dir/classes"
	JAVA_HOME="$java_home" mvn -q -B -f "$pom" -Djikkou.version="$JIKKOU_VERSION" \
		dependency:copy-dependencies -DoutputDirectory="$jikkou_dir/lib" -DincludeScope=runtime ||
		die "mvn dependency:copy-dependencies of Jikkou $JIKKOU_VERSION failed"
	"$java_home/bin/javac" -d "$jikkou_dir/classes" -cp "$jikkou_dir/lib/*" "$driver_src" ||
		die "javac of $driver_src failed"
	printf '%s\n' "$want" >"$jikkou_dir/.stamp"
	log "jikkou $JIKKOU_VERSION: $(find "$jikkou_dir/lib" -name '*.jar' | wc -l) jars, driver compiled"
fi

cat >"$out/peers.env" <<EOF
TOPICCTL='$topicctl_bin'
TOPICCTL_VERSION='$TOPICCTL_VERSION'
JIKKOU_VERSION='$JIKKOU_VERSION'
JIKKOU_CLASSPATH='$jikkou_dir/classes:$jikkou_dir/lib/*'
JIKKOU_JAVA='$java_home/bin/java'
JIKKOU_JAVA_VERSION='$("$java_home/bin/java" -version 2>&1 | head -n1 | tr -d "'")'

EOF
log "wrote $out/peers.env"
