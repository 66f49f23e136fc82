#!/usr/bin/env bash
# Builds k2infra's Pulumi toolchain from the Go module proxy (no GitHub release
# or get.pulumi.com downloads are reachable from our machines) and installs it
# under $K2_TOOLS_DIR, keyed by version. Safe to re-run: anything already built
# from the same inputs is skipped, so a second run takes seconds.
#
#   tools/install-pulumi.sh               # the CLI, language host and Kafka provider
#   tools/install-pulumi.sh --with-docker # and the Docker provider (localCluster: docker, its tests)
#   source tools/env.sh                # put it on PATH (see that file)
#
# Environment:
#   K2_TOOLS_DIR   install root (default: $HOME/.cache/k2infra/tools)
#   PULUMI_HOME    plugin/credential home (default: $K2_TOOLS_DIR/pulumi-home)
#   K2_PULUMI      system | build | auto (default): a `pulumi` already on PATH whose version fits the
#                  pinned SDK is used instead of building one (the rule: tools/env.sh); the Kafka
#                  provider plugin is built and installed either way
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
# The pinned pulumi-kafka Python SDK asks the engine for provider 3.13.3. The
# proxy refuses upstream's provider module, so tools/kafka-provider is our own;
# it is installed as 3.13.3+k2infra: semver build metadata, ignored when the
# engine matches versions, so it answers the SDK's request yet says what it is.
KAFKA_SDK_VERSION="3.13.3"
KAFKA_PROVIDER_VERSION="$KAFKA_SDK_VERSION+k2infra"

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

# build_provider NAME VERSION SRC_DIR DEPTH GO_BUILD_ARGS...: (DEPTH: of the source search, '' for all) build pulumi-resource-NAME from
# SRC_DIR into the cache unless its sources (tests excluded) are unchanged since the last build, then
# install it as resource plugin NAME VERSION (skipped when the installed binary is the same).
build_provider() {
	local name="$1" version="$2" src="$3" depth="$4"; shift 4
	local out="$K2_TOOLS_DIR/build/$name-provider" plugin="pulumi-resource-$name" inputs want t0
	local binary="$out/$plugin" stamp="$out/.$plugin.stamp"
	local installed="$PULUMI_HOME/plugins/resource-$name-v$version/$plugin"
	local -a depth_args=()
	[[ -z "$depth" ]] || depth_args=(-maxdepth "$depth")
	mapfile -t inputs < <(find "$src" "${depth_args[@]}" -type f \( -name '*.go' ! -name '*_test.go' -o -name go.mod -o -name go.sum \) | LC_ALL=C sort)
	[[ ${#inputs[@]} -gt 2 ]] || die "$plugin: no sources in $src"
	want="$version $(fingerprint "${inputs[@]}")"
	if [[ -x "$binary" && -f "$stamp" && "$(cat "$stamp")" == "$want" ]]; then
		log "$plugin: up to date ($binary)"
	else
		log "$plugin: building $version from $src"
		t0=$SECONDS
		mkdir -p "$out"
		(cd "$src" && go build "$@" -ldflags "-s -w -X main.version=$version" -o "$binary.tmp" .) ||
			die "$plugin: go build in $src failed (see the compiler output above)"
		mv -f "$binary.tmp" "$binary"
		printf '%s\n' "$want" >"$stamp"
		log "$plugin: built in $((SECONDS - t0))s"
	fi
	if [[ -x "$installed" ]] && cmp -s "$binary" "$installed"; then
		log "$plugin: $version already installed in $PULUMI_HOME"
	else
		pulumi plugin install resource "$name" "$version" --file "$binary" --reinstall ||
			die "pulumi plugin install resource $name $version --file $binary failed"
		log "$plugin: installed as resource plugin $name $version"
	fi
}

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

# --- 0. which CLI: the system's when it fits (tools/env.sh says the rule) ------------
# shellcheck source=tools/env.sh
. "$here/env.sh"
if [[ -n "$K2_PULUMI_SYSTEM" ]]; then
	log "pulumi: using $K2_PULUMI_SYSTEM ($("$K2_PULUMI_SYSTEM" version): fits the SDK's $K2_PULUMI_SDK; K2_PULUMI=build builds one instead)"
else
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
fi

# --- 4. the Kafka resource provider (ours) -------------------------------------
# Upstream's github.com/pulumi/pulumi-kafka/provider/v3 and the Terraform
# provider it wraps (github.com/Mongey/terraform-provider-kafka) are refused by
# the Go module proxy, so tools/kafka-provider implements the part of the
# pulumi-kafka 3.13.3 schema k2infra uses (see its README.md). The binary is
# kept out of $bin on purpose: the engine prefers any pulumi-resource-* found
# on PATH over the plugin cache (and warns), so it lives in the build dir and
# reaches the engine only through `pulumi plugin install`.
# Only the package's top directory: its tests' helpers live below it.
build_provider kafka "$KAFKA_PROVIDER_VERSION" "$here/kafka-provider" 1
# A pulumi-resource-kafka on PATH would shadow the installed plugin.
if [[ -e "$bin/pulumi-resource-kafka" ]]; then
	rm -f "$bin/pulumi-resource-kafka"
	log "pulumi-resource-kafka: removed a stale copy from $bin (it would shadow the plugin)"
fi

# --- 5. the Docker resource provider (upstream's recipe, built here) ------------
# Upstream's github.com/pulumi/pulumi-docker/provider/v4 (and /v5) is refused by the
# Go module proxy, every version. The proxy does serve its parts: the Terraform Docker
# provider (github.com/kreuzwerker/terraform-provider-docker), pulumi-terraform-bridge
# and Pulumi's fork of the Terraform plugin SDK. tools/docker-provider wires them
# together as upstream does (see its README.md) and is installed as DOCKER_SDK_VERSION
# +k2infra for the pinned pulumi-docker SDK (version read from requirements.txt).
# A large build (the bridge, the Docker CLI and BuildKit libraries): minutes the first
# time on 2 cores, skipped afterwards while its inputs are unchanged.
if [[ "${1:-}" == "--with-docker" ]]; then
	DOCKER_SDK_VERSION="$(sed -n 's/^pulumi-docker==\([0-9.]*\)$/\1/p' "$here/../requirements.txt")"
	[[ -n "$DOCKER_SDK_VERSION" ]] || die "no pulumi-docker==X pin in requirements.txt"
	DOCKER_PROVIDER_VERSION="$DOCKER_SDK_VERSION+k2infra"
	# no_compose: upstream's docker_compose resource (plugin-framework half, not bridged) and
	# its large dependency tree stay out.
	build_provider docker "$DOCKER_PROVIDER_VERSION" "$here/docker-provider" "" -tags no_compose
else
	log "pulumi-resource-docker: not built (only for localCluster: docker; \`make tools-docker\` or --with-docker)"
fi

# --- summary ----------------------------------------------------------------------
log "done in $((SECONDS - script_start))s; CLI: ${K2_PULUMI_SYSTEM:-$bin (linked from $K2_TOOLS_DIR/bin)}, PULUMI_HOME=$PULUMI_HOME"
pulumi version
pulumi plugin ls
