#!/usr/bin/env bash
# promtool (and the prometheus binary, for the console templates' test) from Debian's `prometheus`
# package: `promtool check rules` and `promtool test rules` run on the rules `python -m k2infra alerts`
# generates. Idempotent: a machine that has promtool is left as it is.
#
# The package would start a Prometheus service on port 9090 at install; a policy-rc.d that refuses
# every start (Debian's documented switch, honoured by invoke-rc.d and deb-systemd-invoke) keeps it
# from doing so. An existing policy-rc.d is kept and put back.
set -euo pipefail

say() { echo "[monitoring] $*" >&2; }
die() { say "error: $*"; exit 1; }

if command -v promtool >/dev/null && command -v prometheus >/dev/null; then
    say "promtool present: $(promtool --version 2>&1 | head -n 1)"
    exit 0
fi
command -v apt-get >/dev/null || die "promtool is missing and this is not a Debian/Ubuntu machine (no apt-get): install Prometheus's promtool"
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

log="$(mktemp -t k2-monitoring-apt.XXXXXX.log)"
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
printf '#!/bin/sh\n# k2infra tools/monitoring/install.sh: no service starts while the prometheus package installs\nexit 101\n' |
    as_root tee "$policy" >/dev/null
as_root chmod 755 "$policy"

t0=$SECONDS
install() { as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends prometheus >>"$log" 2>&1; }
say "installing Debian's prometheus package (promtool) without starting its service"
if ! install; then
    say "apt-get install failed; retrying after apt-get update"
    as_root env DEBIAN_FRONTEND=noninteractive apt-get update -q >>"$log" 2>&1 ||
        { tail -n 20 "$log" >&2; die "apt-get update failed (log: $log)"; }
    install || { tail -n 20 "$log" >&2; die "apt-get install prometheus failed (log: $log)"; }
fi
command -v promtool >/dev/null || die "the prometheus package is installed but promtool is not on PATH"
# On a machine that runs systemd the unit is enabled for the next boot; nothing runs now.
if command -v systemctl >/dev/null && systemctl is-active --quiet prometheus 2>/dev/null; then
    as_root systemctl stop prometheus
    say "stopped the prometheus service the package started"
fi
rm -f "$log"
say "installed in $((SECONDS - t0))s: $(promtool --version 2>&1 | head -n 1)"
