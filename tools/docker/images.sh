#!/usr/bin/env bash
# Images of k2infra's Docker local cluster, for machines without an image registry.
#
# Usage: tools/docker/images.sh base|build|env|versions [--force]
#
#   base      build the local base images the Dockerfiles can run on instead of Docker Hub's:
#               k2infra/jre-base:local    Debian (debootstrap from apt's mirror) + OpenJDK 21 JRE
#               k2infra/maven-base:local  the same + Maven, to resolve the artifacts at build time
#             skipped when both exist (--force rebuilds them). Needs root and the engine
#             (tools/docker/engine.sh start); installs debootstrap with apt-get when missing.
#   build     docker build of the Kafka and Apicurio images, k2infra/kafka:<version> and
#             k2infra/apicurio-registry:<version>, from tools/docker/*/Dockerfile with the
#             versions of tools/versions.env, on the bases of `env` (the stack builds the same
#             images itself through pulumi-docker; this is for use without Pulumi).
#   env       print `export K2_DOCKER_JAVA_BASE=... K2_DOCKER_MAVEN_BASE=...` naming the local
#             bases (what k2infra's local cluster and `build` use instead of the public defaults).
#   versions  print the versions the images are built at.
#
# Environment (defaults in brackets):
#   K2_DOCKER_BASE_SUITE    Debian suite of the local bases [trixie] (bookworm has no Java 21)
#   K2_DOCKER_MIRROR        Debian mirror [the first deb.debian.org-style URI of apt's sources]
#   K2_DOCKER_BASE_WORK     scratch dir of debootstrap [~/.cache/k2infra/docker-base]
#   K2_DOCKER_EXTRA_CA_DIR  *.crt added to the bases' trust stores (system and Java), so that builds
#                           behind a TLS-intercepting proxy reach Maven Central as the host does
#                           [/usr/local/share/ca-certificates, Debian's place for local CAs]
#   K2_DOCKER_JAVA_BASE / K2_DOCKER_MAVEN_BASE   bases for `build`
#                           [eclipse-temurin:21-jre / maven:3.9-eclipse-temurin-21 from Docker Hub]
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
TOOLS="$(cd "$HERE/.." && pwd)"
# shellcheck source=../versions.env
. "$TOOLS/versions.env"
SUITE="${K2_DOCKER_BASE_SUITE:-trixie}"
WORK="${K2_DOCKER_BASE_WORK:-$HOME/.cache/k2infra/docker-base}"
JRE_LOCAL="k2infra/jre-base:local"
MAVEN_LOCAL="k2infra/maven-base:local"
JRE_PACKAGE="openjdk-21-jre-headless"
EXTRA_CA_DIR="${K2_DOCKER_EXTRA_CA_DIR:-/usr/local/share/ca-certificates}"

say() { printf '[images] %s\n' "$*"; }
die() { printf '[images] ERROR: %s\n' "$*" >&2; exit 1; }
usage() { sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d' | sed 's/^# \{0,1\}//'; }

CMD="${1:-}"
[ $# -gt 0 ] && shift
FORCE=0
while [ $# -gt 0 ]; do
    case "$1" in
        --force) FORCE=1; shift ;;
        -h|--help) usage; exit 0 ;;
        *) die "unknown argument: $1 (see --help)" ;;
    esac
done

as_root() {
    if [ "$(id -u)" = 0 ]; then "$@"
    elif command -v sudo >/dev/null && sudo -n true 2>/dev/null; then sudo -n "$@"
    else die "need root (or password-less sudo) to run: $*"; fi
}

need_engine() {
    command -v docker >/dev/null || die "no docker CLI: run tools/docker/engine.sh start"
    docker info >/dev/null 2>&1 || die "no Docker engine answers: run tools/docker/engine.sh start"
}

have_image() { docker image inspect "$1" >/dev/null 2>&1; }

apt_mirror() {  # the Debian mirror apt already uses (deb822 or one-line sources)
    if [ -n "${K2_DOCKER_MIRROR:-}" ]; then echo "$K2_DOCKER_MIRROR"; return; fi
    local uri
    uri="$(cat /etc/apt/sources.list.d/*.sources /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null |
        awk '/^URIs:/ {print $2} /^deb / {for (i = 2; i <= NF; i++) if ($i ~ /^https?:/) {print $i; break}}' |
        grep -E '/debian/?$' | grep -v security | head -n 1)" || true
    echo "${uri:-http://deb.debian.org/debian}"
}

# ------------------------------------------------------------------ base
cmd_base() {
    need_engine
    if [ $FORCE = 0 ] && have_image "$JRE_LOCAL" && have_image "$MAVEN_LOCAL"; then
        say "$JRE_LOCAL and $MAVEN_LOCAL exist: nothing to do (--force rebuilds them)"
        return 0
    fi
    if ! command -v debootstrap >/dev/null; then
        command -v apt-get >/dev/null || die "debootstrap is missing and there is no apt-get to install it"
        say "installing debootstrap (apt-get)"
        as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends debootstrap >/dev/null ||
            { as_root apt-get update -q >/dev/null && as_root env DEBIAN_FRONTEND=noninteractive \
                apt-get install -y -q --no-install-recommends debootstrap >/dev/null; } ||
            die "apt-get install debootstrap failed"
    fi
    local mirror rootfs t0=$SECONDS arch
    mirror="$(apt_mirror)"
    rootfs="$WORK/rootfs-$SUITE"
    arch="$(dpkg --print-architecture 2>/dev/null || echo amd64)"
    mkdir -p "$WORK"
    cleanup_mounts() {
        local m
        for m in "$rootfs/proc" "$rootfs/sys" "$rootfs/dev/pts" "$rootfs/dev"; do
            mountpoint -q "$m" 2>/dev/null && as_root umount -l "$m"
        done
        return 0
    }
    trap cleanup_mounts EXIT
    cleanup_mounts
    as_root rm -rf "$rootfs"
    say "debootstrap $SUITE ($arch, minbase + $JRE_PACKAGE) from $mirror into $rootfs"
    if ! as_root debootstrap --variant=minbase --arch="$arch" --include="$JRE_PACKAGE,ca-certificates" \
            "$SUITE" "$rootfs" "$mirror" >"$WORK/debootstrap.log" 2>&1; then
        tail -n 30 "$WORK/debootstrap.log" >&2
        [ -f "$rootfs/debootstrap/debootstrap.log" ] && tail -n 30 "$rootfs/debootstrap/debootstrap.log" >&2
        die "debootstrap of $SUITE failed (log: $WORK/debootstrap.log)"
    fi
    say "debootstrap done in $((SECONDS - t0))s"
    slim() {  # what an image does not need: package lists and downloaded .debs, docs, logs
        # (files only: dpkg and update-alternatives expect the directories to stay)
        as_root rm -rf "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/cache/apt/*.bin "$rootfs"/var/cache/apt/archives/*.deb \
            "$rootfs"/var/log/*.log "$rootfs"/debootstrap
        as_root find "$rootfs/usr/share/doc" "$rootfs/usr/share/man" ! -type d -delete
    }
    import() {  # import TAG: the rootfs as a one-layer image
        as_root tar --numeric-owner -C "$rootfs" -c . |
            docker import --change 'CMD ["/bin/bash"]' --change "LABEL k2infra.base=$SUITE" - "$1" >/dev/null ||
            die "docker import of $1 failed"
        say "$1: $(docker image inspect --format '{{.Size}}' "$1" | awk '{printf "%.0f MB", $1 / 1e6}')"
    }
    # The host's locally added CAs (a TLS-intercepting proxy's, a company's): the builds resolve
    # from Maven Central inside containers, which must trust what the host trusts.
    as_root mount -t proc proc "$rootfs/proc"
    as_root mount --bind /dev "$rootfs/dev"
    local cas=("$EXTRA_CA_DIR"/*.crt)
    if [ -e "${cas[0]}" ]; then
        as_root cp "${cas[@]}" "$rootfs/usr/local/share/ca-certificates/"
        as_root chroot "$rootfs" update-ca-certificates >"$WORK/ca.log" 2>&1 ||
            { tail -n 20 "$WORK/ca.log" >&2; die "update-ca-certificates in the $SUITE rootfs failed"; }
        say "added ${#cas[@]} CA certificate(s) from $EXTRA_CA_DIR to the trust stores (system and Java)"
    fi
    cleanup_mounts  # before every import: the image must not hold the host's /proc or /dev
    slim
    import "$JRE_LOCAL"
    docker run --rm --network none "$JRE_LOCAL" java -version >/dev/null 2>&1 ||
        die "$JRE_LOCAL: java -version fails in a container"
    # Maven into the same tree (on the host's network: no container needs one).
    as_root mount -t proc proc "$rootfs/proc"
    as_root mount --bind /dev "$rootfs/dev"
    as_root cp /etc/resolv.conf "$rootfs/etc/resolv.conf"
    if ! as_root chroot "$rootfs" /bin/sh -c 'apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends maven' \
            >"$WORK/maven.log" 2>&1; then
        tail -n 30 "$WORK/maven.log" >&2
        die "apt-get install maven in the $SUITE rootfs failed (log: $WORK/maven.log)"
    fi
    cleanup_mounts
    as_root rm -f "$rootfs/etc/resolv.conf"
    slim
    import "$MAVEN_LOCAL"
    docker run --rm --network none "$MAVEN_LOCAL" mvn -v >/dev/null 2>&1 ||
        die "$MAVEN_LOCAL: mvn -v fails in a container"
    as_root rm -rf "$rootfs"
    trap - EXIT
    say "local bases built in $((SECONDS - t0))s"
}

# ------------------------------------------------------------------ build
cmd_build() {
    need_engine
    local java_base="${K2_DOCKER_JAVA_BASE:-eclipse-temurin:21-jre}" maven_base="${K2_DOCKER_MAVEN_BASE:-maven:3.9-eclipse-temurin-21}"
    local t0 name dockerfile arg
    for spec in "kafka:kafka:KAFKA_VERSION=$K2_DEFAULT_KAFKA_VERSION" \
                "registry:apicurio-registry:APICURIO_VERSION=$K2_DEFAULT_APICURIO_VERSION"; do
        IFS=: read -r dockerfile name arg <<<"$spec"
        t0=$SECONDS
        say "building k2infra/$name:${arg#*=} on $java_base (resolved on $maven_base)"
        docker build -q -f "$HERE/$dockerfile/Dockerfile" -t "k2infra/$name:${arg#*=}" \
            --build-arg "$arg" --build-arg "JAVA_BASE=$java_base" --build-arg "MAVEN_IMAGE=$maven_base" \
            "$TOOLS" >/dev/null || die "docker build of k2infra/$name failed"
        say "k2infra/$name:${arg#*=} built in $((SECONDS - t0))s"
    done
}

cmd_env() {
    need_engine
    have_image "$JRE_LOCAL" && have_image "$MAVEN_LOCAL" || die "no local bases: run tools/docker/images.sh base"
    echo "export K2_DOCKER_JAVA_BASE=$JRE_LOCAL"
    echo "export K2_DOCKER_MAVEN_BASE=$MAVEN_LOCAL"
}

case "$CMD" in
    base) cmd_base ;;
    build) cmd_build ;;
    env) cmd_env ;;
    versions) printf 'KAFKA_VERSION=%s\nAPICURIO_VERSION=%s\n' "$K2_DEFAULT_KAFKA_VERSION" "$K2_DEFAULT_APICURIO_VERSION" ;;
    -h|--help|help) usage ;;
    *) usage >&2; exit 2 ;;
esac
