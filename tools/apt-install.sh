#!/usr/bin/env bash
# apt-get install of Debian packages without starting the services they ship:
#   tools/apt-install.sh LOG PACKAGE...
# A package that ships a service (prometheus, postgresql) would start it at install; a policy-rc.d that
# refuses every start (Debian's documented switch, honoured by invoke-rc.d and deb-systemd-invoke) keeps
# it from doing so. An existing policy-rc.d is kept and put back. apt-get update runs only when the
# install fails without it. The output goes to LOG.
set -euo pipefail
log="$1"
shift
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

policy=/usr/sbin/policy-rc.d
saved=""
if [ -e "$policy" ]; then
    saved="$(mktemp -t k2-policy-rc.XXXXXX)"
    as_root cp -p "$policy" "$saved"
fi
restore() {
    if [ -n "$saved" ]; then as_root cp -p "$saved" "$policy"; rm -f "$saved"; else as_root rm -f "$policy"; fi
}
trap restore EXIT
printf '#!/bin/sh\n# k2infra tools/apt-install.sh: no service starts while packages install\nexit 101\n' |
    as_root tee "$policy" >/dev/null
as_root chmod 755 "$policy"

# A configuration file already there (tools/postgres.sh writes postgresql-common's createcluster.conf
# first) is kept without a question: --force-confold.
install() {
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
        -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold "$@" >>"$log" 2>&1
}
if ! install "$@"; then
    echo "[apt-install] apt-get install failed; retrying after apt-get update" >&2
    as_root env DEBIAN_FRONTEND=noninteractive apt-get update -q >>"$log" 2>&1
    install "$@"
fi
