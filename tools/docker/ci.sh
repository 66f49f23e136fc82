#!/usr/bin/env bash
# The Docker prerequisites of `k2infra:localCluster: docker` and its end-to-end test, in one call
# for .ci/run and the Makefile (both steps are cached: seconds once done on a machine).
#
#   tools/docker/ci.sh up     engine.sh start (installs docker.io and starts dockerd when no engine
#                             answers), then images.sh base (the registry-free Java and Maven bases)
#   tools/docker/ci.sh down   engine.sh stop: stops dockerd only if `up` started it
#
# Prints `export ...` lines to source for DOCKER_HOST and the bases (also written to
# .state/docker/ci.env). Environment: as engine.sh and images.sh.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
state="${K2_DOCKER_STATE_DIR:-$here/../../.state/docker}"

case "${1:-}" in
    up)
        t0=$SECONDS
        bash "$here/engine.sh" start --state-dir "$state" >&2
        eval "$(bash "$here/engine.sh" env --state-dir "$state")"
        bash "$here/images.sh" base >&2
        { bash "$here/engine.sh" env --state-dir "$state"; bash "$here/images.sh" env; } | tee "$state/ci.env"
        echo "[docker-ci] engine and base images ready in $((SECONDS - t0))s" >&2
        ;;
    down)
        bash "$here/engine.sh" stop --state-dir "$state" >&2
        rm -f "$state/ci.env"
        ;;
    *) sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d' | sed 's/^# \{0,1\}//' >&2; exit 2 ;;
esac
