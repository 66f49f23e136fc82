#!/usr/bin/env bash
# Builds k2infra's Pulumi toolchain from the Go module proxy (no GitHub release
# or get.pulumi.com downloads are reachable from our machines) and installs it
# under $K2_TOOLS_DIR, keyed by version. Safe to re-run: anything already built
# from the same inputs is skipped, so a second run takes seconds.
#
#   tools/install-pulumi.sh            # build/refresh everything
#   source tools/env.sh                # put it on PATH (see that file)
#
# Environment:
#   K2_TOOLS_DIR   install root (default: $HOME/.cache/k2infra/tools)
#   PULUMI_HOME    plugin/credential home (default: $K2_TOOLS_DIR/pulumi-home)
#   K2_REQUIRE_KAFKA_PROVIDER=1
#                  treat a Kafka provider that cannot be built as an error
#                  (default: warn loudly and finish the rest)
set -euo pipefail

# --- pinned versions --------------------------------------------------------
# CLI and sdk/v3: the Python SDK is pinned to pulumi==3.272.0, but the proxy
# does not serve github.com/pulumi/pulumi/pkg/v3@v3.272.0 (nor v3.273.0); the
# nearest served CLI is v3.274.1 (patch release of v3.274.0). A CLI a little
# newer than the SDK is a supported combination.
PULUMI_VERSION="v3.274.1"
# Newest github.com/pulumi/pulumi/sdk/v3 on the proxy that still ships the
# legacy pulumi-analyzer-policy-python launcher (removed upstream after it).
POLICY_LAUNCHER_SDK_VERSION="v3.219.0"
# Must equal the pinned pulumi-kafka Python SDK (its pulumi-plugin.json asks
# the engine for exactly this provider version).
KAFKA_VERSION="v3.13.3"
KAFKA_MODULE="github.com/pulumi/pulumi-kafka/provider/v3"

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
mod_dir="$here/pulumi"
K2_TOOLS_DIR="${K2_TOOLS_DIR:-$HOME/.cache/k2infra/tools}"
PULUMI_HOME="${PULUMI_HOME:-$K2_TOOLS_DIR/pulumi-home}"
export K2_TOOLS_DIR PULUMI_HOME
export PULUMI_SKIP_UPDATE_CHECK=true
# VCS stamping needs git metadata of the module cache, which we never have.
export GOFLAGS=-buildvcs=false

prefix="$K2_TOOLS_DIR/pulumi-$PULUMI_VERSION"
bin="$prefix/bin"
script_start=$SECONDS

log() { printf '[install-pulumi] %s\n' "$*"; }
die() {
	printf '[install-pulumi] ERROR: %s\n' "$*" >&2
	exit 1
}

# --- preflight --------------------------------------------------------------
command -v go >/dev/null || die "go is not on PATH (need Go >= the 'go' line of $mod_dir/go.mod)"
command -v python3 >/dev/null || die "python3 is not on PATH"
need_go="$(sed -n 's/^go \([0-9.]*\)$/\1/p' "$mod_dir/go.mod")"
have_go="$(go env GOVERSION)"
have_go="${have_go#go}"
if [[ "$(printf '%s\n%s\n' "$need_go" "$have_go" | sort -V | head -n1)" != "$need_go" ]]; then
	die "Go $have_go is too old: $mod_dir/go.mod needs go $need_go"
fi
mkdir -p "$bin" "$PULUMI_HOME"

# fingerprint FILE... -> short hash of the inputs that determine a build.
fingerprint() { cat "$@" | sha256sum | cut -c1-16; }

# module_dir MODULE[@VERSION] -> directory of that module in GOMODCACHE,
# downloading it through the proxy (checksums verified) when needed. Without
# @VERSION it resolves through tools/pulumi/go.mod; with one it runs from an
# empty scratch dir so no go.mod/go.sum is touched. Errors go to stderr.
module_dir() {
	local json dir="$mod_dir"
	if [[ "$1" == *@* ]]; then
		dir="$(mktemp -d)"
	fi
	json="$(cd "$dir" && go mod download -json "$1" 2>/dev/null)" || true
	[[ "$dir" == "$mod_dir" ]] || rmdir "$dir"
	python3 -c '
import json, sys
try:
    d = json.loads(sys.stdin.read() or "{}")
except ValueError:
    d = {}
if d.get("Dir") and not d.get("Error"):
    print(d["Dir"])
else:
    print("go mod download %s: %s" % (sys.argv[1], d.get("Error", "no output")), file=sys.stderr)
    sys.exit(1)
' "$1" <<<"$json"
}

# go_build NAME PACKAGE LDFLAGS STAMP: builds PACKAGE (resolved through
# tools/pulumi/go.mod) into $bin/NAME unless the stamp says it is current.
go_build() {
	local name="$1" pkg="$2" ldflags="$3" want="$4"
	local stamp="$bin/.$name.stamp"
	if [[ -x "$bin/$name" && -f "$stamp" && "$(cat "$stamp")" == "$want" ]]; then
		log "$name: up to date ($bin/$name)"
		return 0
	fi
	log "$name: building $pkg (first build on a machine downloads modules and compiles for several minutes)"
	local t0=$SECONDS
	(cd "$mod_dir" && go build -ldflags "$ldflags" -o "$bin/$name.tmp" "$pkg") ||
		die "$name: go build of $pkg failed (see the compiler output above)"
	mv -f "$bin/$name.tmp" "$bin/$name"
	printf '%s\n' "$want" >"$stamp"
	log "$name: built in $((SECONDS - t0))s"
}

# --- 1. the CLI ---------------------------------------------------------------
version_pkg="github.com/pulumi/pulumi/sdk/v3/go/common/version"
go_build pulumi github.com/pulumi/pulumi/pkg/v3/cmd/pulumi \
	"-s -w -X $version_pkg.Version=$PULUMI_VERSION" \
	"$PULUMI_VERSION $(fingerprint "$mod_dir/go.mod" "$mod_dir/go.sum")"

# --- 2. the Python language host ------------------------------------------------
# Upstream's module (sdk/python/cmd/pulumi-language-python/v3) is not served by
# the proxy, so tools/pulumi/cmd/pulumi-language-python is our own host built on
# sdk/v3's toolchain package; see the header comment of its main.go.
langhost_version="${PULUMI_VERSION#v}+k2infra"
go_build pulumi-language-python ./cmd/pulumi-language-python \
	"-s -w -X main.version=$langhost_version" \
	"$langhost_version $(fingerprint "$mod_dir/go.mod" "$mod_dir/go.sum" "$mod_dir"/cmd/pulumi-language-python/*.go)"

# --- 3. Python launchers shipped inside the sdk/v3 module -----------------------
sdk_dir="$(module_dir github.com/pulumi/pulumi/sdk/v3)" ||
	die "could not download github.com/pulumi/pulumi/sdk/v3 (the version in $mod_dir/go.mod)"
install_launcher() { # SRC NAME
	[[ -f "$1" ]] || die "upstream file $1 is missing from the module"
	if ! cmp -s "$1" "$bin/$2"; then
		install -m 0755 "$1" "$bin/$2"
		log "$2: installed from ${1#"$(go env GOMODCACHE)/"}"
	else
		log "$2: up to date"
	fi
}
# The runner our language host starts (`python -u pulumi-language-python-exec`).
install_launcher "$sdk_dir/python/cmd/pulumi-language-python-exec" pulumi-language-python-exec
# Dynamic providers: the engine starts plugin "pulumi-python" from PATH.
install_launcher "$sdk_dir/python/dist/pulumi-resource-pulumi-python" pulumi-resource-pulumi-python
# Policy packs: with a language host installed the engine runs packs through
# its RunPlugin call; this launcher is only the engine's fallback path.
if [[ ! -x "$bin/pulumi-analyzer-policy-python" ]]; then
	old_sdk_dir="$(module_dir "github.com/pulumi/pulumi/sdk/v3@$POLICY_LAUNCHER_SDK_VERSION")" ||
		die "could not download github.com/pulumi/pulumi/sdk/v3@$POLICY_LAUNCHER_SDK_VERSION"
	install_launcher "$old_sdk_dir/python/dist/pulumi-analyzer-policy-python" pulumi-analyzer-policy-python
else
	log "pulumi-analyzer-policy-python: up to date"
fi

# Stable entry point for env.sh / Makefiles: $K2_TOOLS_DIR/bin -> this version.
ln -sfn "pulumi-$PULUMI_VERSION/bin" "$K2_TOOLS_DIR/bin"
export PATH="$K2_TOOLS_DIR/bin:$PATH"

# --- 4. the Kafka resource provider ---------------------------------------------
kafka_plugin_dir="$PULUMI_HOME/plugins/resource-kafka-$KAFKA_VERSION"
build_kafka() {
	local src_cache work t0=$SECONDS
	log "pulumi-resource-kafka: fetching $KAFKA_MODULE@$KAFKA_VERSION"
	src_cache="$(module_dir "$KAFKA_MODULE@$KAFKA_VERSION")" || return 2
	# The module cache is read-only and the build writes schema-embed.json, so
	# build from a private copy; it is the main module there, so upstream's own
	# replace lines in provider/go.mod apply.
	work="$K2_TOOLS_DIR/build/pulumi-kafka-$KAFKA_VERSION"
	rm -rf "$work"
	mkdir -p "$(dirname "$work")"
	cp -R "$src_cache" "$work"
	chmod -R u+w "$work"
	(
		cd "$work/cmd/pulumi-resource-kafka"
		# Upstream's generate.go stamps the version into schema.json and writes
		# the schema-embed.json that main.go embeds.
		VERSION="${KAFKA_VERSION#v}" go run -mod=mod generate.go
		go build -mod=mod -o "$bin/pulumi-resource-kafka" \
			-ldflags "-s -w -X $KAFKA_MODULE/pkg/version.Version=${KAFKA_VERSION#v}" .
	) || die "pulumi-resource-kafka: build failed in $work"
	log "pulumi-resource-kafka: built in $((SECONDS - t0))s"
	pulumi plugin install resource kafka "$KAFKA_VERSION" --file "$bin/pulumi-resource-kafka" --reinstall ||
		die "pulumi plugin install resource kafka $KAFKA_VERSION failed"
}
if [[ -x "$kafka_plugin_dir/pulumi-resource-kafka" ]]; then
	log "pulumi-resource-kafka: $KAFKA_VERSION already installed in $PULUMI_HOME"
else
	set +e
	(
		set -e
		build_kafka
	)
	rc=$?
	set -e
	if [[ $rc -eq 2 ]]; then
		msg="pulumi-resource-kafka $KAFKA_VERSION NOT INSTALLED: the Go module proxy refuses $KAFKA_MODULE@$KAFKA_VERSION (error above), and no other allowed registry ships the provider. Programs that create pulumi_kafka resources will fail until it is available."
		if [[ "${K2_REQUIRE_KAFKA_PROVIDER:-0}" == 1 ]]; then
			die "$msg"
		fi
		printf '[install-pulumi] WARNING: %s\n' "$msg" >&2
	elif [[ $rc -ne 0 ]]; then
		exit "$rc"
	fi
fi

# --- summary ----------------------------------------------------------------------
log "done in $((SECONDS - script_start))s; binaries in $bin (linked from $K2_TOOLS_DIR/bin), PULUMI_HOME=$PULUMI_HOME"
pulumi version
pulumi plugin ls
